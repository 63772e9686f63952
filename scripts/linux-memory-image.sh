#!/usr/bin/env bash
# Takes a memory image of a real Linux guest: boots the stock Debian kernel with d3vm's busybox
# initramfs under QEMU's software emulation (TCG; this machine's /dev/kvm cannot run it, see
# HOST-KVM.md), waits for the init marker on the serial line, lets the workload run, then asks
# QEMU over QMP for `dump-guest-memory` (paging=false: an ELF core whose PT_LOAD headers give the
# guest-physical address of every RAM block) and quits.
#
#   scripts/linux-memory-image.sh [OUT]      default OUT: build/images/linux-1g.elf
#
# Knobs (environment): D3VM_IMAGE_MEM (guest RAM, default 1G), D3VM_IMAGE_WORKLOAD (idle|dirty|
# verify|busy, default idle; busy copies files in tmpfs and reads them back, so the page cache holds
# duplicates), D3VM_IMAGE_SETTLE (seconds the workload runs after the marker, default 10),
# D3VM_IMAGE_APPEND (extra kernel parameters, e.g. "d3vm.mib=128").
# Installs qemu-system-x86 with apt-get when it is missing (needs root). Analyze the result with
#   ./d3vm analyze build/images/linux-1g.elf
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mem="${D3VM_IMAGE_MEM:-1G}"
workload="${D3VM_IMAGE_WORKLOAD:-idle}"
settle="${D3VM_IMAGE_SETTLE:-10}"
lower_mem="$(echo "$mem" | tr '[:upper:]' '[:lower:]')"
out="${1:-$root/build/images/linux-$lower_mem.elf}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"   # QMP wants an absolute path

if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "linux-memory-image: installing qemu-system-x86" >&2
  apt-get update -q >&2 && apt-get install -y -q qemu-system-x86 >&2 \
    || { echo "linux-memory-image: cannot install qemu-system-x86 (run as root on Debian)" >&2; exit 2; }
fi
command -v python3 >/dev/null || { echo "linux-memory-image: needs python3 (the QMP client)" >&2; exit 2; }

linux="$root/build/linux"
"$root/scripts/fetch-linux.sh"
"$root/scripts/make-initramfs.sh"
[ -s "$linux/vmlinuz" ] && [ -s "$linux/initramfs.cpio.gz" ] \
  || { echo "linux-memory-image: no kernel/initramfs in $linux" >&2; exit 2; }

work="$(mktemp -d)"
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

qemu-system-x86_64 -accel tcg -m "$mem" -smp 1 -nographic -no-reboot -monitor none \
  -serial "file:$work/serial.log" \
  -qmp "unix:$work/qmp.sock,server=on,wait=off" \
  -kernel "$linux/vmlinuz" -initrd "$linux/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 d3vm.workload=$workload ${D3VM_IMAGE_APPEND:-}" \
  </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!

# TCG boots the kernel to /init in a few seconds; allow for a loaded machine.
for _ in $(seq 1 240); do
  grep -q 'd3vm-linux: init ok' "$work/serial.log" 2>/dev/null && break
  kill -0 "$qemu_pid" 2>/dev/null || { echo "linux-memory-image: QEMU exited:" >&2; cat "$work/qemu.out" "$work/serial.log" >&2; exit 1; }
  sleep 0.5
done
grep -q 'd3vm-linux: init ok' "$work/serial.log" \
  || { echo "linux-memory-image: no init marker after 120 s; serial tail:" >&2; tail -20 "$work/serial.log" >&2; exit 1; }
grep -m1 'd3vm-linux: init ok' "$work/serial.log" >&2
sleep "$settle"

rm -f "$out.tmp"
python3 - "$work/qmp.sock" "$out.tmp" <<'PY'
import json, socket, sys
sock_path, target = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
f = s.makefile("rw")
def reply():
    while True:
        line = f.readline()
        if not line:
            sys.exit("linux-memory-image: QMP closed the connection")
        msg = json.loads(line)
        if "return" in msg:
            return msg["return"]
        if "error" in msg:
            sys.exit("linux-memory-image: QMP error: " + json.dumps(msg["error"]))
        # events (and the greeting) are skipped
def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
    f.flush()
    return reply()
json.loads(f.readline())                   # greeting
cmd("qmp_capabilities")
cmd("stop")                                # a consistent image: no vCPU writes during the dump
cmd("dump-guest-memory", paging=False, protocol="file:" + target)   # synchronous (detach=false)
cmd("quit")
PY
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
mv "$out.tmp" "$out"
echo "linux-memory-image: $out ($(stat -c %s "$out") bytes; $mem guest, workload $workload, $settle s after init)" >&2
