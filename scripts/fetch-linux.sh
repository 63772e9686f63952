#!/usr/bin/env bash
# Fetches the guest kernel and busybox from Debian's own packages (no other downloads), so the
# Linux boot path runs a stock Debian kernel:
#   build/linux/vmlinuz   the bzImage of the current bookworm linux-image-*-amd64
#   build/linux/vmlinux   the same kernel decompressed from the bzImage's payload (an ELF): d3vm can
#                         enter it directly and skip the bzImage's decompressor (docs/LINUX-BOOT.md)
#   build/linux/config    that kernel's config (what is built in: 8250 console, initrd, PVH...)
#   build/linux/busybox   busybox-static, for the initramfs (scripts/make-initramfs.sh)
#   build/linux/VERSION   the package versions used
# Cached: does nothing when the outputs exist (delete build/linux to refetch).
# Needs root on Debian 12 (apt-get). Override the kernel package with D3VM_LINUX_PACKAGE=NAME and
# the output folder with D3VM_LINUX_DIR=DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${D3VM_LINUX_DIR:-$root/build/linux}"

# The bzImage's payload (boot.rst: payload_offset/payload_length, from the protected-mode part) is
# the compressed ELF vmlinux followed by its 4-byte uncompressed size.
extract_vmlinux() {
  local img="$1" dst="$2" sects po pl off magic
  sects=$(od -An -t u1 -j $((0x1f1)) -N 1 "$img" | tr -d ' ')
  if [ "$sects" -eq 0 ]; then sects=4; fi
  read -r po pl < <(od -An -t u4 -j $((0x248)) -N 8 "$img")
  off=$(( (sects + 1) * 512 + po ))
  magic=$(od -An -t x1 -j "$off" -N 4 "$img" | tr -d ' ')
  payload() { dd if="$img" bs=64K skip="$off" count=$((pl - 4)) iflag=skip_bytes,count_bytes status=none; }
  case "$magic" in
    fd377a58) payload | xz -dc > "$dst.tmp" ;;
    1f8b*)    payload | gzip -dc > "$dst.tmp" ;;
    28b52ffd) payload | zstd -dc > "$dst.tmp" ;;
    *) echo "fetch-linux: unknown compression (magic $magic) in $img; no vmlinux" >&2; return 1 ;;
  esac
  [ "$(od -An -t x1 -N 4 "$dst.tmp" | tr -d ' ')" = 7f454c46 ] \
    || { echo "fetch-linux: the payload of $img is not an ELF" >&2; rm -f "$dst.tmp"; return 1; }
  mv "$dst.tmp" "$dst"
}

if [ -s "$out/vmlinuz" ] && [ -s "$out/busybox" ] && [ -s "$out/VERSION" ] && [ ! -s "$out/vmlinux" ]; then
  extract_vmlinux "$out/vmlinuz" "$out/vmlinux"
fi
if [ -s "$out/vmlinuz" ] && [ -s "$out/vmlinux" ] && [ -s "$out/busybox" ] && [ -s "$out/VERSION" ]; then
  echo "fetch-linux: cached in $out ($(head -1 "$out/VERSION"))" >&2
  exit 0
fi
for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "fetch-linux: needs $tool (a Debian machine)" >&2; exit 2; }
done

# The metapackage linux-image-amd64 depends on exactly one versioned kernel package: the current one.
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1
}
pkg="${D3VM_LINUX_PACKAGE:-$(kernel_pkg)}"
if [ -z "$pkg" ] || ! apt-cache show busybox-static >/dev/null 2>&1; then
  echo "fetch-linux: package lists are empty or old, running apt-get update" >&2
  apt-get update -q >&2 || { echo "fetch-linux: apt-get update failed (run as root?)" >&2; exit 2; }
  pkg="${D3VM_LINUX_PACKAGE:-$(kernel_pkg)}"
fi
[ -n "$pkg" ] || { echo "fetch-linux: cannot find the kernel package behind linux-image-amd64" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetch-linux: downloading $pkg and busybox-static" >&2
# apt-get download writes into the current directory; as root it need not drop to user _apt.
(cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg" busybox-static >&2)

mkdir -p "$work/x"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/x"
done
vmlinuz="$(ls "$work"/x/boot/vmlinuz-* 2>/dev/null | head -1)"
[ -n "$vmlinuz" ] || { echo "fetch-linux: $pkg has no /boot/vmlinuz-*" >&2; exit 2; }
[ -x "$work/x/bin/busybox" ] || { echo "fetch-linux: busybox-static has no /bin/busybox" >&2; exit 2; }

mkdir -p "$out"
cp "$vmlinuz" "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
cp "$work"/x/boot/config-* "$out/config" 2>/dev/null || true
cp "$work/x/bin/busybox" "$out/busybox.tmp" && mv "$out/busybox.tmp" "$out/busybox"
extract_vmlinux "$out/vmlinuz" "$out/vmlinux"
{
  for deb in "$work"/linux-image*.deb "$work"/busybox*.deb; do
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"
  done
} > "$out/VERSION"
echo "fetch-linux: $out/vmlinuz ($(stat -c %s "$out/vmlinuz") bytes), $out/vmlinux, $out/busybox; $(paste -sd', ' "$out/VERSION")" >&2
