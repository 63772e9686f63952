#!/usr/bin/env python3
"""Gives a raw file for QEMU's `-device loader,force-raw=on` holding exactly the bytes that
`./d3vm run --guest test:image --image FILE` places in guest memory.

    memory_image_raw.py FILE CACHE_DIR     prints "<raw path> <size in bytes, page-rounded>"

A raw FILE is used as it is. An ELF core (QEMU's dump-guest-memory) is converted the way d3vm's
MemoryImage + TestGuestLoader read it: PT_LOAD blocks sorted by guest-physical address, their
file bytes concatenated (p_filesz each), and the result zero-padded to a multiple of 4 KiB. The
conversion is cached in CACHE_DIR and redone when FILE is newer.
"""
import os
import struct
import sys

PAGE = 4096


def fail(msg):
    print(f"memory_image_raw: {msg}", file=sys.stderr)
    sys.exit(2)


def elf_blocks(f, size):
    """The (paddr, offset, filesz) of every PT_LOAD of a little-endian ELF64 core, validated."""
    f.seek(0)
    ident = f.read(64)
    if len(ident) < 64 or ident[4] != 2 or ident[5] != 1:
        fail("only little-endian ELF64 cores are supported (QEMU's dump-guest-memory writes those)")
    e_type, = struct.unpack_from("<H", ident, 16)
    if e_type != 4:
        fail(f"ELF type {e_type} is not a core file (ET_CORE = 4)")
    phoff, = struct.unpack_from("<Q", ident, 32)
    phentsize, phnum = struct.unpack_from("<HH", ident, 54)
    if phentsize < 56 or phoff + phnum * phentsize > size:
        fail("program headers lie outside the file")
    blocks = []
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        ph = f.read(56)
        p_type, _flags, offset, _vaddr, paddr, filesz, _memsz, _align = struct.unpack("<IIQQQQQQ", ph)
        if p_type != 1 or filesz == 0:
            continue
        if offset + filesz > size:
            fail(f"PT_LOAD at 0x{paddr:x} runs past the end of the file")
        if paddr % PAGE or filesz % PAGE:
            fail(f"PT_LOAD at 0x{paddr:x} (0x{filesz:x} bytes) is not page aligned")
        blocks.append((paddr, offset, filesz))
    if not blocks:
        fail("the ELF core has no PT_LOAD with data")
    return sorted(blocks)


def main():
    if len(sys.argv) != 3:
        fail("usage: memory_image_raw.py FILE CACHE_DIR")
    src, cache = sys.argv[1], sys.argv[2]
    size = os.path.getsize(src)
    with open(src, "rb") as f:
        magic = f.read(4)
        if magic != b"\x7fELF":
            if size == 0:
                fail(f"{src} is empty")
            print(os.path.abspath(src), (size + PAGE - 1) // PAGE * PAGE)
            return
        blocks = elf_blocks(f, size)
        os.makedirs(cache, exist_ok=True)
        out = os.path.join(cache, os.path.basename(src) + ".raw")
        total = sum(b[2] for b in blocks)
        if not (os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src)
                and os.path.getsize(out) == total):
            tmp = out + ".tmp"
            with open(tmp, "wb") as o:
                for _paddr, offset, filesz in blocks:
                    f.seek(offset)
                    left = filesz
                    while left:
                        chunk = f.read(min(left, 8 << 20))
                        if not chunk:
                            fail("short read")
                        o.write(chunk)
                        left -= len(chunk)
            os.replace(tmp, out)
    print(out, total)


if __name__ == "__main__":
    main()
