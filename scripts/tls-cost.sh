#!/usr/bin/env bash
# What TLS 1.3 costs a migration: the same synthetic guest migrated over loopback between two d3vm
# processes, plain TCP and --tls-dir alternating, RUNS times each; prints every run and the medians
# of total-time and ram.mbps. Usage: scripts/tls-cost.sh [RUNS] [GUEST] [DETECTOR]
# (D3VM=/path/to/launcher runs another build, e.g. a copied jar, instead of ./d3vm)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-3}"
guest="${2:-synthetic:mem=1G,zero=0,uniform=0,seed=5}"
detector="${3:-none}"
d3vm="${D3VM:-./d3vm}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$d3vm" certs --out "$work/pki" >/dev/null

one() { # $1 = plain|tls, $2 = run number
  local port tls_recv=() tls_send=()
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if [ "$1" = tls ]; then tls_recv=(--tls-dir "$work/pki/destination"); tls_send=(--tls-dir "$work/pki/source"); fi
  "$d3vm" receive --listen "127.0.0.1:$port" --once "${tls_recv[@]}" > "$work/recv.log" 2>&1 &
  local rpid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/recv.log" 2>/dev/null && break; sleep 0.1; done
  "$d3vm" migrate --to "127.0.0.1:$port" --guest "$guest" --detector "$detector" "${tls_send[@]}" \
    --report "$work/$1-$2.json" > "$work/send.log" 2>&1 || { cat "$work/send.log" "$work/recv.log" >&2; exit 1; }
  wait "$rpid"
  python3 - "$work/$1-$2.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:5s} total-time {r['total-time']:8.1f} ms  mbps {r['ram']['mbps']:9.1f}  transferred {r['ram']['transferred']}  digest-match {r['digest-match']}")
PY
}

for i in $(seq "$runs"); do one plain "$i"; one tls "$i"; done
python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
w, n = sys.argv[1], int(sys.argv[2])
med = {}
for kind in ("plain", "tls"):
    rs = [json.load(open(f"{w}/{kind}-{i}.json")) for i in range(1, n + 1)]
    med[kind] = (statistics.median(r["total-time"] for r in rs), statistics.median(r["ram"]["mbps"] for r in rs))
    print(f"median {kind:5s}: total-time {med[kind][0]:.1f} ms, mbps {med[kind][1]:.1f}")
print(f"TLS / plain: time x{med['tls'][0] / med['plain'][0]:.2f}, throughput x{med['tls'][1] / med['plain'][1]:.2f}")
PY
