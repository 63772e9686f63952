#!/usr/bin/env bash
# Unpacks QEMU 10 from Debian bookworm-backports into build/qemu10 (binary + firmware), leaving the
# system's QEMU 7.2 in place, so the benchmarks can compare d3vm with both (QEMU 9.0+ has the
# zero-page-detection migration parameter). Needs apt access to bookworm-backports: adds its
# source if missing. The libraries it links come from the system (the same set QEMU 7.2 needs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$here/build/qemu10"
if [ -x "$root/usr/bin/qemu-system-x86_64" ]; then exit 0; fi
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi

if ! apt-cache policy qemu-system-x86 2>/dev/null | grep -q bookworm-backports; then
  echo "install-qemu10: adding the bookworm-backports apt source" >&2
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  $sudo apt-get update -qq
fi
# The system QEMU's libraries satisfy QEMU 10's dependencies on bookworm; install them if absent.
command -v qemu-system-x86_64 >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-system-x86 >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -t bookworm-backports qemu-system-x86 qemu-system-data qemu-system-common seabios >&2)
mkdir -p "$root.tmp"
for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$root.tmp"; done
version="$("$root.tmp/usr/bin/qemu-system-x86_64" --version | head -1)" \
  || { echo "install-qemu10: the unpacked QEMU does not run (missing libraries?)" >&2; rm -rf "$root.tmp"; exit 1; }
rm -rf "$root" && mv "$root.tmp" "$root"
echo "install-qemu10: $version in $root" >&2
