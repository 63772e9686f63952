#!/bin/sh
# Checks the final image against guest/README.md "Boot contract": ELF32 i386, Multiboot v1 header (magic +
# checksum) 4-byte aligned and the D3VM header 8-byte aligned within the first 8 KiB of the file.
set -eu
f="$1"
header_check() {
  # od prints the first 8 KiB as unsigned little-endian 32-bit words (decimal) with byte offsets.
  # 464367618 = 0x1BADB002 (Multiboot), 1297494852 = 0x4D563344 ("D3VM").
  od -A d -t u4 -v -N 8192 "$f" | awk '
    { off = $1; for (i = 2; i <= NF; i++) { w[off + (i - 2) * 4] = $i + 0 } }
    END {
      mb = -1; d3 = -1;
      for (o = 0; o < 8192; o += 4) {
        if (mb < 0 && w[o] == 464367618) mb = o;
        if (d3 < 0 && o % 8 == 0 && w[o] == 1297494852 && w[o + 4] == 1) d3 = o;
      }
      if (mb < 0) { print "no Multiboot header in the first 8 KiB"; exit 1 }
      if (d3 < 0) { print "no D3VM header (8-byte aligned, version 1) in the first 8 KiB"; exit 1 }
      sum = (w[mb] + w[mb + 4] + w[mb + 8]) % 4294967296;
      if (sum != 0) { print "Multiboot checksum is wrong"; exit 1 }
    }'
}
head -c 20 "$f" | od -A n -t x1 | tr -d ' \n' | grep -q '^7f454c46010101' || { echo "d3guest: $f is not a little-endian ELF32" >&2; exit 1; }
[ "$(od -A n -t u2 -j 18 -N 2 "$f" | tr -d ' ')" = 3 ] || { echo "d3guest: $f is not EM_386" >&2; exit 1; }
msg=$(header_check) || { echo "d3guest: $f: $msg" >&2; exit 1; }
