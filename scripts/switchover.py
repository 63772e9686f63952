#!/usr/bin/env python3
"""One d3vm migration of the KVM test guest at a time, measured at the switch-over only.

A smaller tool than `./d3vm bench` for work on the pause: it starts `d3vm receive` and
`d3vm run --api-socket` with the guest's heartbeat on two FIFOs (heartbeat.py), migrates through
the control API (the same JSON lines the CLI sends, without a third JVM), and prints per run the
guest-observed downtime, d3vm's reported downtime and its phases; then the median and range.

    scripts/switchover.py --workload idle --runs 8
    D3VM_JAVA_OPTS="-Xlog:jit+compilation=debug:file=jit-%p.log:timenanos" scripts/switchover.py --runs 1
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heartbeat import Heartbeats  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPTS = {"idle": "", "dirty": ",wss=128,rate=5000", "verify": ",rate=1000,hot=8"}
READY = {"idle": "d3guest: tick=2 ", "dirty": "d3guest: tick=2 ", "verify": "d3guest: verify pass=1 ok"}


def wait_for(path, needle, proc, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        with open(path, errors="replace") as f:
            if needle in f.read():
                return True
        time.sleep(0.05)
    raise RuntimeError(f"`{needle}` did not appear in {path}")


def api(path):
    c = socket.socket(socket.AF_UNIX)
    end = time.monotonic() + 30
    while True:
        try:
            c.connect(path)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
    f = c.makefile("rw")
    f.readline()  # greeting

    def call(cmd, args=None):
        f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
        f.flush()
        r = json.loads(f.readline())
        if "error" in r:
            raise RuntimeError(f"{cmd}: {r['error']}")
        return r["return"]
    return call


def one(a, d3vm, work):
    hb = Heartbeats({r: os.path.join(work, f"{r}.hb") for r in ("src", "dst")})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    try:
        dst_log, src_log = os.path.join(work, "dst.log"), os.path.join(work, "src.log")
        dst = subprocess.Popen(d3vm + ["receive", "--listen", f"127.0.0.1:{port}", "--once", "--report", os.path.join(work, "dst.json"),
                                       "--debugcon", hb.paths["dst"], "--api-socket", os.path.join(work, "dst.sock")],
                               stdout=open(dst_log, "w"), stderr=subprocess.STDOUT)
        procs.append(dst)
        src = subprocess.Popen(d3vm + ["run", "--guest", f"test:{a.workload},mem={a.mem},hz=1000,heartbeat=1{OPTS[a.workload]}",
                                       "--api-socket", os.path.join(work, "src.sock"), "--debugcon", hb.paths["src"]],
                               stdout=open(src_log, "w"), stderr=subprocess.STDOUT)
        procs.append(src)
        wait_for(src_log, READY[a.workload], src, 300)
        wait_for(dst_log, "listening on", dst, 60)
        call = api(os.path.join(work, "src.sock"))
        call("migrate", {"to": f"127.0.0.1:{port}"})
        while True:
            q = call("query-migrate")
            if q["status"] != "active":
                break
            time.sleep(0.05)
        end = time.monotonic() + 10
        while time.monotonic() < end and hb.count("dst") < 20:
            time.sleep(0.05)
        dst_report = os.path.join(work, "dst.json")
        end = time.monotonic() + 10
        while time.monotonic() < end and not os.path.exists(dst_report):
            time.sleep(0.05)
        if os.path.exists(dst_report):
            with open(dst_report) as f:
                q["dst-phases"] = json.load(f).get("downtime-phases", {})
        return q, hb.observed_downtime_ms()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        hb.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", choices=sorted(OPTS), default="idle")
    ap.add_argument("--mem", default="1G")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--d3vm", default=os.path.join(HERE, "d3vm"), help="the launcher (default: this checkout's)")
    a = ap.parse_args()
    observed = []
    for i in range(1, a.runs + 1):
        with tempfile.TemporaryDirectory(prefix="d3vm-switchover-") as work:
            q, obs = one(a, [a.d3vm], work)
        if q.get("status") != "completed":
            print(f"run {i}: {q.get('status')}: {q.get('error')}")
            continue
        observed.append(obs)
        phases = " ".join(f"{k}={v:.1f}" for k, v in q.get("downtime-phases", {}).items())
        dst_phases = " ".join(f"{k}={v:.1f}" for k, v in q.get("dst-phases", {}).items())
        print(f"run {i}: observed {obs} ms, reported {q.get('downtime')} ms (source: {phases}; destination: {dst_phases})",
              flush=True)
    if observed:
        print(f"observed downtime over {len(observed)} runs: median {statistics.median(observed):.1f} ms, "
              f"{min(observed):.1f}-{max(observed):.1f}")
    return 0 if len(observed) == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
