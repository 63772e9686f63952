#!/usr/bin/env python3
"""Turns JMH JSON from DetectorBenchmark into a Markdown table: per page mix, each benchmark's
GB/s (bytes classified per second, 1 GB = 1e9 bytes) and its ratio to the plain read of the same
bytes measured in the same file; "±N%" marks a JMH 99.9% error above 20% of the score. Used by scripts/bench-detectors.sh."""
import json
import sys

ORDER = ["zero", "random", "half", "sparse", "zerohead", "uniform", "image"]


def column(bench, params):
    name = bench.rsplit(".", 1)[1]
    return "d3/%s" % params["samples"] if name == "d3" else name


def main(paths):
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        if not results:
            continue
        rows, cols = {}, []
        for r in results:
            p = r["params"]
            ms = r["primaryMetric"]["score"]
            if r["primaryMetric"]["scoreUnit"] != "ms/op":
                sys.exit("bench-table: expected ms/op, got " + r["primaryMetric"]["scoreUnit"])
            gbps = int(p["sizeMiB"]) * 2**20 / (ms * 1e6)
            col = column(r["benchmark"], p)
            if col not in cols:
                cols.append(col)
            rows.setdefault(p["mix"], {})[col] = (gbps, r["primaryMetric"]["scoreError"] / ms)
        group = {"plainRead": 0, "none": 1, "full": 2, "kernelScalar": 4, "kernelVector": 5}
        cols.sort(key=lambda c: (3, int(c.split("/")[1])) if c.startswith("d3/") else (group.get(c, 6), 0))
        print("\n%s: GB/s (ratio to plainRead)\n" % path.rsplit("/", 1)[-1])
        print("| mix | " + " | ".join(cols) + " |")
        print("|---|" + "---|" * len(cols))
        for mix in sorted(rows, key=lambda m: ORDER.index(m) if m in ORDER else 99):
            base = rows[mix].get("plainRead", (None, 0))[0]
            cells = []
            for c in cols:
                if c not in rows[mix]:
                    cells.append("")
                    continue
                gbps, rel_err = rows[mix][c]
                if c == "none":   # reads nothing: GB/s would only measure the loop
                    cells.append("no reads")
                    continue
                cell = "%.1f" % gbps if gbps < 1000 else "%.0f" % gbps
                if base and c != "plainRead":
                    cell += " (%.2f)" % (gbps / base)
                if rel_err > 0.2:
                    cell += " ±%d%%" % round(100 * rel_err)
                cells.append(cell)
            print("| %s | %s |" % (mix, " | ".join(cells)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: bench-table.py JMH.json...")
    main(sys.argv[1:])
