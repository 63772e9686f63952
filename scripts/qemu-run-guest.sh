#!/usr/bin/env bash
# Boots the d3vm test guest (guest/, target/guest/d3guest.elf) under QEMU, the way the benchmarks
# compare d3vm with QEMU on the very same guest. Installs Debian's qemu-system-x86 if it is missing.
#
#   scripts/qemu-run-guest.sh [--accel kvm|tcg] [--bios qboot|seabios] [--mem 512] [--image FILE[@0xADDR]]
#                             [--qemu PATH] [--timeout SECONDS] [--] <workload> [key=value ...]
#
# Examples:
#   scripts/qemu-run-guest.sh dirty wss=64 rate=2000 run-seconds=10
#   scripts/qemu-run-guest.sh --accel tcg verify seed=3 run-seconds=5
#   scripts/qemu-run-guest.sh --mem 1536 --image build/images/linux-1g.elf image rate=5000
#
# --image takes a raw image or an ELF core (dump-guest-memory), placed like `d3vm run --image`
# (default at 16 MiB); for the image workload image=0xADDR:0xSIZE is added to the command line.
#
# Firmware: qboot by default (~0.5 s to the guest under KVM here; SeaBIOS ~8 s, --bios seabios).
# The serial console goes to stdout. Exit status: QEMU's (0 when the guest powers off through ACPI;
# 1 when only isa-debug-exit worked; 99 on a guest panic), 124 on timeout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

accel=kvm bios=qboot mem=512 image="" qemu="${QEMU:-qemu-system-x86_64}" timeout_s=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --accel) accel="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --bios) bios="$2"; shift 2 ;;
    --image) image="$2"; shift 2 ;;
    --qemu) qemu="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --qemu-arg) extra+=("$2"); shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "qemu-run-guest: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "qemu-run-guest: give the workload and its options, e.g. 'idle run-seconds=5'" >&2; exit 2; }
case "$bios" in qboot|seabios) ;; *) echo "qemu-run-guest: --bios must be qboot or seabios, not '$bios'" >&2; exit 2 ;; esac
case "$accel" in kvm|tcg) ;; *) echo "qemu-run-guest: --accel must be kvm or tcg, not '$accel'" >&2; exit 2 ;; esac
[[ "$mem" =~ ^[0-9]+$ ]] || { echo "qemu-run-guest: --mem is MiB as a number, not '$mem'" >&2; exit 2; }

ensure_qemu() {
  command -v "$qemu" >/dev/null 2>&1 && return 0
  if [ "$qemu" != qemu-system-x86_64 ]; then
    echo "qemu-run-guest: $qemu not found" >&2; exit 2
  fi
  echo "qemu-run-guest: installing Debian's qemu-system-x86..." >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq qemu-system-x86 >&2 \
    || { echo "qemu-run-guest: could not install qemu-system-x86 (apt-get failed)" >&2; exit 2; }
}

elf="${D3GUEST_ELF:-$here/target/guest/d3guest.elf}"
if [ ! -f "$elf" ] || [ -n "$(find "$here/guest" -newer "$elf" -type f 2>/dev/null | head -1)" ]; then
  sh "$here/guest/build.sh" "$here/target/guest" "$here/target/classes" >&2
fi
ensure_qemu

args=(-M pc -m "$mem" -nographic -no-reboot -kernel "$elf"
      -device isa-debug-exit,iobase=0xf4,iosize=4)
# qboot reaches the guest in ~0.5 s under this host's kvm_pvm; SeaBIOS (QEMU's default) takes ~8 s
# there because kvm_pvm emulates its real-mode code instruction by instruction.
[ "$bios" = qboot ] && args+=(-bios qboot.rom)
if [ "$accel" = kvm ]; then
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "qemu-run-guest: /dev/kvm is not usable here; try --accel tcg" >&2; exit 2; }
  # QEMU 7.2 on this host's kvm_pvm aborts on MSR 0x10a with plain "-cpu host" (HOST-KVM.md).
  args+=(-accel kvm -cpu host,-arch-capabilities)
else
  args+=(-accel tcg -cpu qemu64)
fi
cmdline=("$@")
if [ -n "$image" ]; then
  if [[ "$image" == *@* ]]; then file="${image%@*}" addr="${image##*@}"; else file="$image" addr=0x1000000; fi
  [ -f "$file" ] || { echo "qemu-run-guest: image file '$file' not found" >&2; exit 2; }
  [[ "$addr" =~ ^0x[0-9a-fA-F]+$ ]] || { echo "qemu-run-guest: --image wants FILE[@0xADDR]" >&2; exit 2; }
  read -r raw size < <(python3 "$here/scripts/memory_image_raw.py" "$file" "$here/build/images") \
    || { echo "qemu-run-guest: cannot use image $file" >&2; exit 2; }
  args+=(-device "loader,file=$raw,addr=$addr,force-raw=on")
  if [ "$1" = image ] && ! printf '%s\n' "$@" | grep -q '^image='; then
    cmdline+=("image=$addr:0x$(printf '%x' "$size")")
  fi
fi
args+=(-append "${cmdline[*]}")
if [ "$timeout_s" != 0 ]; then
  exec timeout --foreground "$timeout_s" "$qemu" "${args[@]}" "${extra[@]}"
fi
exec "$qemu" "${args[@]}" "${extra[@]}"
