#!/bin/sh
# Fails if the guest's code contains an instruction kvm_pvm's emulator is known to reject or that
# needs FPU/SSE state: x87, SSE/AVX registers, xsave/xrstor/fxsave, popcnt, cmpxchg16b, int3,
# clac/stac, fwait, a 32-bit iret. 64-bit text is disassembled as x86-64, the Multiboot
# trampoline (.text32) as i386.
set -eu
elf="$1"
objdump="${OBJDUMP:-objdump}"
dis=$("$objdump" -d --no-show-raw-insn -j .text "$elf")
if "$objdump" -h "$elf" | grep -q ' \.text32 '; then
  dis="$dis
$("$objdump" -d --no-show-raw-insn -m i386 -j .text32 "$elf")"
fi
bad=$(printf '%s\n' "$dis" | awk -F'\t' 'NF >= 2 && $1 ~ /^ *[0-9a-f]+:$/ {
    split($2, f, " "); m = f[1];
    if (m ~ /^(rep|repz|repnz|lock|data16|addr32|cs|ds|es|ss|fs|gs)$/) m = f[2];
    if (m ~ /^f/ || m ~ /^(popcnt|cmpxchg16b|int3|clac|stac|wait|emms|iret|iretl|iretw|ud2|endbr64|endbr32)$/ ||
        m ~ /^(xsave|xrstor|fxsave|fxrstor|ldmxcsr|stmxcsr)/ || $2 ~ /%[xyz]mm|%mm|%st/) print }')
if [ -n "$bad" ]; then
  echo "d3guest: forbidden instructions in $elf (kvm_pvm's emulator rejects them; see HOST-KVM.md):" >&2
  printf '%s\n' "$bad" >&2
  exit 1
fi
count=$(printf '%s\n' "$dis" | grep -c '^ *[0-9a-f]*:' || true)
if [ "$count" -lt 100 ]; then
  echo "d3guest: disassembly of $elf looks empty ($count instructions): objdump problem?" >&2
  exit 1
fi
