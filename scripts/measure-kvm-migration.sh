#!/usr/bin/env bash
# Measures live migration of the KVM test guest between two d3vm processes over loopback, for the
# detectors none, full and d3 and the workloads idle, dirty and verify, in one session, and prints
# a table of total-time, downtime and ram.transferred (the numbers in docs/BENCHMARKS.md, section
# "KVM test guest, loopback"). Each run is `./d3vm demo`, which also checks that the guest kept
# running (and verifying) on the destination; its JSON report is kept under --out.
#
#   scripts/measure-kvm-migration.sh [--mem 2G] [--out build/measure-kvm] [--workloads "idle dirty verify"]
#                                    [--detectors "none full d3"] [--repeat 1] [--jar FILE]
#
# --jar runs a copy of target/d3vm.jar (so a rebuild in the work tree cannot change it mid-run).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mem=2G
out="$here/build/measure-kvm"
workloads="idle dirty verify"
detectors="none full d3"
repeat=1
jar=""
while [ $# -gt 0 ]; do
  case "$1" in
    --mem) mem="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --workloads) workloads="$2"; shift 2 ;;
    --detectors) detectors="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --jar) jar="$2"; shift 2 ;;
    *) echo "usage: $0 [--mem 2G] [--out DIR] [--workloads \"idle dirty verify\"] [--detectors \"none full d3\"] [--repeat N] [--jar FILE]" >&2; exit 2 ;;
  esac
done
command -v python3 >/dev/null || { echo "$0: needs python3 (to read the JSON reports)" >&2; exit 2; }
mkdir -p "$out"
# What each workload does while it migrates (guest/README.md): dirty rewrites 5000 pages/s in a
# 256 MiB working set; verify rewrites 1000 hot pages/s of 8 MiB and re-checks all memory.
opts_for() {
  case "$1" in
    dirty) echo "wss=256,rate=5000" ;;
    verify) echo "rate=1000,hot=8" ;;
    *) echo "" ;;
  esac
}
if [ -n "$jar" ]; then
  [ -f "$jar" ] || { echo "$0: no such jar: $jar" >&2; exit 2; }
  java="${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
  d3vm() { "$java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -XX:+UseParallelGC -jar "$jar" "$@"; }
else
  d3vm() { "$here/d3vm" "$@"; }
  d3vm --version >/dev/null # builds the jar first, outside the measurements
fi
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, $(date -u +%FT%TZ)" >&2
failed=0
for r in $(seq 1 "$repeat"); do
  for w in $workloads; do
    for d in $detectors; do
      name="$w-$d-$r"
      echo "== $name: ./d3vm demo --mem $mem --workload $w --detector $d --guest-options '$(opts_for "$w")'" >&2
      args=(demo --mem "$mem" --workload "$w" --detector "$d" --report "$out/$name.json")
      o="$(opts_for "$w")"
      [ -n "$o" ] && args+=(--guest-options "$o")
      if ! d3vm "${args[@]}" > "$out/$name.log" 2>&1; then
        echo "   FAILED (log: $out/$name.log)" >&2
        tail -5 "$out/$name.log" >&2
        failed=1
      else
        grep -E "^  (sent|total time|downtime) " "$out/$name.log" >&2 || true
      fi
    done
  done
done
python3 - "$out" "$mem" <<'PY'
import json, glob, os, sys
out, mem = sys.argv[1], sys.argv[2]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    w, d, n = os.path.basename(f)[:-5].rsplit("-", 2)
    rows.append((w, d, n, r))
order = {"idle": 0, "dirty": 1, "verify": 2, "none": 0, "full": 1, "d3": 2}
rows.sort(key=lambda x: (order.get(x[0], 9), order.get(x[1], 9), x[2]))
print(f"| workload | detector | run | total-time (s) | downtime (ms) | ram.transferred (MiB) | vs guest | vs none | rounds | normal pages | dispensable pages | digest-match |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
none = {}
for w, d, n, r in rows:
    if d == "none":
        none[(w, n)] = r["ram"]["transferred"]
for w, d, n, r in rows:
    ram = r["ram"]; p = r["d3"]["pages"]
    base = none.get((w, n))
    vs = f'{100.0 * ram["transferred"] / base:.1f} %' if base else "-"
    print(f'| {w} | {d} | {n} | {r["total-time"] / 1000:.2f} | {r.get("downtime", 0):.0f} | {ram["transferred"] / 2**20:.1f} | '
          f'{100.0 * ram["transferred"] / ram["total"]:.1f} % | {vs} | {len(r["rounds"])} | {p["normal"]} | '
          f'{p["zero"] + p["uniform"] + p["unpopulated"]} | {r.get("digest-match")} |')
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $failed
