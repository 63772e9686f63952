#!/usr/bin/env bash
# Detector benchmarks (JMH, `mvn -Pbench`): the none/full/d3 detectors and a plain read (sum of
# every word: the physical limit) over 1 GiB of memory per page mix, d3 with 1/4/8/16 samples,
# plus the full check's three kernels (long-at-a-time, MemorySegment.mismatch, Vector API).
# Prints GB/s and the ratio to the plain read per mix; JMH's JSON goes to build/bench/.
#
#   scripts/bench-detectors.sh            short run: 1 fork, 3 warm-up + 5 measured iterations of 1 s
#   D3VM_BENCH_FORKS=3 D3VM_BENCH_ITER=10 D3VM_BENCH_TIME=2s scripts/bench-detectors.sh   longer
#
# Knobs: D3VM_BENCH_FORKS (1), D3VM_BENCH_WARMUP (3), D3VM_BENCH_ITER (5), D3VM_BENCH_TIME (1s),
# D3VM_BENCH_MIXES (zero,random,half,sparse,zerohead,uniform,image), D3VM_BENCH_SAMPLES (1,4,8,16),
# D3VM_BENCH_MIB (1024), D3VM_BENCH_IMAGE (build/images/linux-1g.elf, from
# scripts/linux-memory-image.sh; the image mix is skipped, saying why, when it is missing),
# D3VM_BENCH_KERNELS (1; 0 skips the kernel comparison), D3VM_BENCH_CPUTIME (1; 0 skips the
# CPU-time table: CpuTimeHarness, best of D3VM_BENCH_CPUTIME_PASSES=8 passes, also timing d3 with
# 0/2 samples and the rejected d3 shapes), D3VM_BENCH_OUT (build/bench).
# Extra arguments go to JMH. Numbers are wall-clock: on a shared machine, compare ratios.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export JAVA_HOME="${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
command -v python3 >/dev/null || { echo "bench-detectors: needs python3 for the table" >&2; exit 2; }

forks="${D3VM_BENCH_FORKS:-1}"
warmup="${D3VM_BENCH_WARMUP:-3}"
iters="${D3VM_BENCH_ITER:-5}"
time="${D3VM_BENCH_TIME:-1s}"
mixes="${D3VM_BENCH_MIXES:-zero,random,half,sparse,zerohead,uniform,image}"
samples="${D3VM_BENCH_SAMPLES:-1,4,8,16}"
mib="${D3VM_BENCH_MIB:-1024}"
image="${D3VM_BENCH_IMAGE:-$root/build/images/linux-1g.elf}"
out="${D3VM_BENCH_OUT:-$root/build/bench}"
mkdir -p "$out"

if [[ ",$mixes," == *",image,"* ]] && [ ! -f "$image" ]; then
  echo "bench-detectors: skipping mix 'image': no memory image at $image (make one with scripts/linux-memory-image.sh or set D3VM_BENCH_IMAGE)" >&2
  mixes="$(echo ",$mixes," | sed 's/,image,/,/; s/^,//; s/,$//')"
fi
[ -n "$mixes" ] || { echo "bench-detectors: no mix left to run" >&2; exit 2; }

echo "bench-detectors: building target/benchmarks.jar (mvn -Pbench)" >&2
mvn -B -q -ntp -Pbench -DskipTests package >&2

jmh=(java -jar target/benchmarks.jar -f "$forks" -wi "$warmup" -i "$iters" -w "$time" -r "$time"
     -p sizeMiB="$mib" -p image="$image" -rf json)
echo "bench-detectors: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); mixes $mixes; d3 samples $samples" >&2
"${jmh[@]}" -p mix="$mixes" -p samples="$samples" -rff "$out/detectors.json" \
  'DetectorBenchmark\.(plainRead|none|full|d3)$' "$@" >&2
files=("$out/detectors.json")
if [ "${D3VM_BENCH_KERNELS:-1}" != 0 ]; then
  kmixes="$(echo ",$mixes," | grep -o ',zero,\|,uniform,\|,image,' | tr -d '\n' | sed 's/,,/,/g; s/^,//; s/,$//')"
  if [ -n "$kmixes" ]; then
    "${jmh[@]}" -p mix="$kmixes" -p samples=8 -rff "$out/kernels.json" \
      'DetectorBenchmark\.(plainRead|kernelScalar|kernelVector|kernelMismatch)$' "$@" >&2
    files+=("$out/kernels.json")
  fi
fi
python3 "$root/scripts/bench-table.py" "${files[@]}" | tee "$out/detectors.md"
if [ "${D3VM_BENCH_CPUTIME:-1}" != 0 ]; then
  # The same work timed by thread CPU time, best of N passes: readable ratios on a loaded machine.
  echo | tee -a "$out/detectors.md"
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC \
    -Dd3vm.bench.image="$image" -Dd3vm.bench.mib="$mib" -cp target/benchmarks.jar \
    io.d3vm.migration.detect.CpuTimeHarness "${D3VM_BENCH_CPUTIME_PASSES:-8}" ${mixes//,/ } 2>/dev/null \
    | tee -a "$out/detectors.md"
fi
echo "bench-detectors: table in $out/detectors.md, JMH JSON in ${files[*]}" >&2
