#!/bin/sh
# Called by Maven (generate-resources): builds the test guest into <out>/d3guest.elf and copies it
# to <classes>/guest/d3guest.elf (classpath resource /guest/d3guest.elf, inside the shaded jar).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$1"
classes="$2"
for t in make gcc ld objcopy objdump; do
  if ! command -v "$t" >/dev/null 2>&1; then
    echo "d3guest: '$t' is missing; the test guest (guest/) needs gcc, make and binutils:" >&2
    echo "d3guest:   apt-get install -y gcc make binutils" >&2
    exit 1
  fi
done
make -s -C "$here" O="$out"
mkdir -p "$classes/guest"
cp "$out/d3guest.elf" "$classes/guest/d3guest.elf"
