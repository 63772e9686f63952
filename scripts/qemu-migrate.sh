#!/usr/bin/env bash
# Live-migrates the d3vm test guest from one QEMU to another over loopback through QMP and writes
# QEMU's query-migrate figures as JSON: the QEMU side of the d3vm-vs-QEMU comparison (same guest
# binary, memory, workload and image as `./d3vm run --guest test:...`).
#
#   scripts/qemu-migrate.sh [--qemu10] [options] -- <workload> [key=value ...]
#
#   --qemu10                 use QEMU 10 from Debian bookworm-backports, unpacked under
#                            build/qemu10 (scripts/install-qemu10.sh; the system QEMU 7.2 stays)
#   --mem MiB                guest RAM (default 512)
#   --image FILE[@0xADDR]    memory image (raw, or ELF core as dump-guest-memory writes it) for the
#                            `image` workload, placed like `d3vm run --image` (default 16 MiB;
#                            image=0xADDR:0xSIZE is added to the guest command line)
#   --downtime-ms N          migrate parameter downtime-limit (default 300)
#   --max-bandwidth B        bytes/s, K/M/G suffixes (125M = 1 Gbit/s); default uncapped
#   --zero-page-detection M  none|legacy|multifd (QEMU 9.0+ only)
#   --warmup S / --after S   seconds before migrating / the destination must keep running
#   --out FILE.json          QEMU's final query-migrate object (+ "x-d3vm": settings, checks)
#   --log-dir DIR            serial logs and QEMU stderr (default: a temp dir)
#   --accel kvm|tcg          default kvm
#   --bios qboot|seabios     firmware (default qboot: SeaBIOS takes ~8 s to boot under kvm_pvm)
#
# Example:
#   scripts/qemu-migrate.sh --mem 1024 --out build/qemu-dirty.json -- dirty wss=256 rate=20000
# Exit status 0 when the migration completed and the guest kept running correctly on the
# destination (ticks continue; for verify a full pass after the migration is ok).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

args=()
qemu10=0
for a in "$@"; do
  if [ "$a" = --qemu10 ]; then qemu10=1; else args+=("$a"); fi
done
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then sed -n '2,25p' "$0"; exit 0; fi

elf="${D3GUEST_ELF:-$here/target/guest/d3guest.elf}"
if [ ! -f "$elf" ] || [ -n "$(find "$here/guest" -newer "$elf" -type f 2>/dev/null | head -1)" ]; then
  sh "$here/guest/build.sh" "$here/target/guest" "$here/target/classes" >&2
fi
command -v python3 >/dev/null || { echo "qemu-migrate: needs python3 (apt-get install -y python3)" >&2; exit 2; }

if [ "$qemu10" = 1 ]; then
  "$here/scripts/install-qemu10.sh" >&2
  root="$here/build/qemu10"
  exec python3 "$here/scripts/qemu_migrate.py" --elf "$elf" --image-cache "$here/build/images" \
    --qemu "$root/usr/bin/qemu-system-x86_64" \
    --qemu-datadir "$root/usr/share/qemu" --qemu-datadir "$root/usr/share/seabios" \
    --qemu-datadir /usr/share/qemu "${args[@]}"
fi
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "qemu-migrate: installing Debian's qemu-system-x86..." >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-system-x86 >&2 \
    || { echo "qemu-migrate: could not install qemu-system-x86 (apt-get failed)" >&2; exit 2; }
fi
exec python3 "$here/scripts/qemu_migrate.py" --elf "$elf" --image-cache "$here/build/images" "${args[@]}"
