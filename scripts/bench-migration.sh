#!/usr/bin/env bash
# Migration benchmark: none|full|d3 x synthetic/idle/dirty/verify/image x uncapped/--max-bandwidth 1Gbit/
# tc-shaped veth, with QEMU's migration of the same test guest beside it. Options: --help, or
# scripts/bench_migration.py's docstring. Runs under Debian's python3 and installs python3-matplotlib
# for the charts when it is missing (root); without it the charts are skipped with a message.
#
#   scripts/bench-migration.sh                 # full default run (345 migrations, ~45 min on a quiet 2-core machine), build/bench/<timestamp>/
#   scripts/bench-migration.sh --quick         # smoke run on a 64 MiB synthetic guest
#   scripts/bench-migration.sh --reps 3 --workloads idle,dirty --caps uncapped,tc
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)" || { echo "bench-migration: needs python3" >&2; exit 2; }
if ! "$py" -c 'import matplotlib' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bench-migration: installing python3-matplotlib for the charts" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >&2 \
      || echo "bench-migration: python3-matplotlib did not install; charts will be skipped" >&2
  else
    echo "bench-migration: python3-matplotlib missing and not root; charts will be skipped" >&2
  fi
fi
"$here/d3vm" --version >/dev/null   # build the jar first, outside the measurements
exec "$py" "$here/scripts/bench_migration.py" "$@"
