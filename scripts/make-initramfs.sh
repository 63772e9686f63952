#!/usr/bin/env bash
# Builds build/linux/initramfs.cpio.gz: a gzip'd newc cpio with busybox-static and the /init of
# scripts/initramfs-init.sh (marker `d3vm-linux: init ok`, workloads idle|dirty|verify|busy chosen with
# d3vm.workload= on the kernel command line, d3vm.seconds=N to power off).
# Runs scripts/fetch-linux.sh first when busybox is missing. Cached: rebuilt only when busybox or
# the init script is newer than the archive. Needs root (device nodes in the archive).
# Output folder: D3VM_LINUX_DIR (default build/linux).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${D3VM_LINUX_DIR:-$here/../build/linux}"
out="$(mkdir -p "$out" && cd "$out" && pwd)"
archive="$out/initramfs.cpio.gz"
init="$here/initramfs-init.sh"

[ -s "$out/busybox" ] || D3VM_LINUX_DIR="$out" "$here/fetch-linux.sh"
if [ -s "$archive" ] && [ "$archive" -nt "$out/busybox" ] && [ "$archive" -nt "$init" ]; then
  echo "make-initramfs: cached $archive" >&2
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "make-initramfs: needs root (mknod for /dev/console)" >&2; exit 2; }

# GNU cpio when there is one, else busybox's own cpio (it can write newc archives).
if command -v cpio >/dev/null; then
  cpio=(cpio --quiet -o -H newc -R 0:0)
else
  cpio=("$out/busybox" cpio -o -H newc)
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,work,root,etc}
cp "$out/busybox" "$stage/bin/busybox"
chmod 755 "$stage/bin/busybox"
# One symlink per applet, where busybox would install it (bin/sh, sbin/poweroff, ...).
"$out/busybox" --list-full | while read -r applet; do
  [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
install -m 755 "$init" "$stage/init"
# The kernel opens /dev/console for init before anything is mounted: the node must be in the archive.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3
chmod 1777 "$stage/tmp"

(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | "${cpio[@]}") | gzip -9 > "$archive.tmp"
mv "$archive.tmp" "$archive"
echo "make-initramfs: $archive ($(stat -c %s "$archive") bytes)" >&2
