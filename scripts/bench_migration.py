#!/usr/bin/env python3
"""Migration benchmark for d3vm: the same migration with --detector none|full|d3, N repetitions, on the
synthetic guest and on the KVM test guest (idle, dirty, verify, image), uncapped and capped at 1 Gbit/s
(through --max-bandwidth, and through a tc-shaped veth link between two network namespaces), with
QEMU's migration of the very same test guest (scripts/qemu-migrate.sh) in the same table.

Called by scripts/bench-migration.sh (which picks Debian's python3 for matplotlib) and by
BenchMigrationScriptTest (a --quick run on a tiny synthetic guest). Writes into --out:
  runs.json      every raw run (the d3vm source report or QEMU's query-migrate object) + medians
  results.md     the Markdown table of medians and ratios to d3vm's `none`
  bytes-<cap>.png, rounds-<workload>-<cap>.png   charts (when matplotlib imports)
and prints the table. Exit 0 when every run completed, 1 when some failed (they are in runs.json
with their error), 2 for bad arguments.
"""
import argparse
import datetime
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from heartbeat import Heartbeats

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE_GBIT = 125_000_000  # bytes/s

# What each workload runs. The dirty/verify/image rates are what a busy small guest does; the sizes
# keep one migration at 0.5-6 s on a quiet 2-core machine (a full default run: ~45 minutes).
# Every KVM test guest ticks at 1 kHz with a heartbeat byte per tick on port 0xe9, timestamped on
# the host for both VMMs alike (heartbeat.py): that gives the guest-observed downtime.
HEARTBEAT = "hz=1000,heartbeat=1"
WORKLOADS = {
    "synthetic": {"kind": "synthetic", "spec": "synthetic:mem={mem},zero=70,uniform=10,dirty-rate=5000"},
    "idle": {"kind": "test", "workload": "idle", "opts": HEARTBEAT, "ready": "d3guest: tick="},
    "dirty": {"kind": "test", "workload": "dirty", "opts": "wss=128,rate=5000," + HEARTBEAT, "ready": "d3guest: dirty wss="},
    "verify": {"kind": "test", "workload": "verify", "opts": "rate=1000,hot=8," + HEARTBEAT, "ready": "d3guest: verify filled"},
    "image": {"kind": "test", "workload": "image", "opts": "rate=1000," + HEARTBEAT, "ready": "d3guest: image addr="},
    # The test guest seeded with one of the Debian guests' memory images (scripts/linux-memory-image.sh,
    # D3VM_IMAGE_WORKLOAD=idle|dirty|busy): made when missing.
    "image-idle": {"kind": "test", "workload": "image", "opts": "rate=1000," + HEARTBEAT, "ready": "d3guest: image addr=",
                   "image-file": "linux-1g.elf"},
    "image-dirty": {"kind": "test", "workload": "image", "opts": "rate=1000," + HEARTBEAT, "ready": "d3guest: image addr=",
                    "image-file": "linux-1g-dirty.elf"},
    "image-busy": {"kind": "test", "workload": "image", "opts": "rate=1000," + HEARTBEAT, "ready": "d3guest: image addr=",
                   "image-file": "linux-1g-busy.elf"},
    # Rewrites a 256 MiB working set as fast as the vCPU can (hundreds of MiB/s): pre-copy cannot
    # converge without slowing the guest. Run with and without auto-converge on both VMMs.
    "converge": {"kind": "test", "workload": "dirty", "opts": "wss=256,rate=0," + HEARTBEAT, "ready": "d3guest: dirty wss=",
                 "converge": True},
}
# The image-* workloads make their images when missing (minutes each): asked for by name only.
DEFAULT_WORKLOADS = [w for w in WORKLOADS if not WORKLOADS[w].get("image-file")]
# How long a migration that is expected never to converge is given before it counts as failed.
NO_CONVERGE_TIMEOUT = 60
CAPS = {
    "uncapped": "no bandwidth cap",
    "max-bandwidth": "--max-bandwidth 1Gbit (QEMU: max-bandwidth 125000000)",
    "max-bandwidth-100M": "--max-bandwidth 100M (QEMU: max-bandwidth 104857600): where a busy guest cannot converge",
    "tc": "1 Gbit/s tbf on a veth link between two network namespaces",
    "tc-100M": "100 Mbit/s tbf on the same veth link",
}
TC_RATES = {"tc": "1gbit", "tc-100M": "100mbit"}
DETECTORS = ["none", "full", "d3"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_mib(text):
    t = text.strip().upper().rstrip("B")
    mult = {"K": 1 / 1024, "M": 1, "G": 1024}.get(t[-1:], None)
    if mult is None:
        return int(t)
    return int(float(t[:-1]) * mult)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Netns:
    """Two network namespaces joined by a veth pair shaped to 1 Gbit/s with tbf in both directions."""

    SRC, DST = "d3bench-src", "d3bench-dst"
    SRC_IP, DST_IP = "10.213.77.1", "10.213.77.2"

    def __init__(self):
        self.up = False

    @staticmethod
    def unavailable():
        if os.geteuid() != 0:
            return "not root (ip netns needs CAP_SYS_ADMIN)"
        for tool in ("ip", "tc"):
            if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
                return f"`{tool}` not installed (apt-get install iproute2)"
        return None

    def _ip(self, *args, check=True):
        r = subprocess.run(list(args), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"`{' '.join(args)}` failed: {r.stderr.strip()}")
        return r

    def create(self):
        self.destroy()
        self.up = True
        s, d = self.SRC, self.DST
        for cmd in (
                ["ip", "netns", "add", s], ["ip", "netns", "add", d],
                ["ip", "link", "add", "d3b-s", "netns", s, "type", "veth", "peer", "name", "d3b-d", "netns", d],
                ["ip", "-n", s, "addr", "add", f"{self.SRC_IP}/24", "dev", "d3b-s"],
                ["ip", "-n", d, "addr", "add", f"{self.DST_IP}/24", "dev", "d3b-d"],
                ["ip", "-n", s, "link", "set", "lo", "up"], ["ip", "-n", d, "link", "set", "lo", "up"],
                ["ip", "-n", s, "link", "set", "d3b-s", "up"], ["ip", "-n", d, "link", "set", "d3b-d", "up"],
                # burst must hold at least rate/HZ (500 KB at 250 Hz) plus a 64 KiB GSO packet
                ["ip", "netns", "exec", s, "tc", "qdisc", "add", "dev", "d3b-s", "root", "tbf", "rate", "1gbit",
                 "burst", "1mb", "latency", "20ms"],
                ["ip", "netns", "exec", d, "tc", "qdisc", "add", "dev", "d3b-d", "root", "tbf", "rate", "1gbit",
                 "burst", "1mb", "latency", "20ms"]):
            self._ip(*cmd)
        log(f"netns: {s} ({self.SRC_IP}) <-veth, tbf 1gbit-> {d} ({self.DST_IP})")

    def destroy(self):
        for ns in (self.SRC, self.DST):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.up = False

    def shape(self, rate):
        """Both directions of the veth link to {rate} (tbf)."""
        for ns, dev in ((self.SRC, "d3b-s"), (self.DST, "d3b-d")):
            self._ip("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
                     "burst", "1mb", "latency", "20ms")
        log(f"netns: tbf {rate}")

    def qdisc(self):
        return self._ip("ip", "netns", "exec", self.SRC, "tc", "-s", "qdisc", "show", "dev", "d3b-s", check=False).stdout


class Proc:
    """A child process whose output goes to a file we can grep while it runs."""

    def __init__(self, argv, logfile):
        self.logfile = logfile
        self.f = open(logfile, "w")
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)

    def text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def finish(self, timeout, what):
        """Waits for the process to exit; a RuntimeError naming `what` and its last lines if it does not."""
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what} did not finish within {timeout} s: " + self.tail())

    def wait_for(self, needle, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if needle in self.text():
                return True
            if self.p.poll() is not None:
                return needle in self.text()
            time.sleep(0.1)
        return False

    def stop(self, grace=10):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.f.close()
        return self.p.returncode

    def tail(self, n=6):
        return "\n".join(self.text().strip().splitlines()[-n:])


def guest_spec(name, a):
    w = WORKLOADS[name]
    if w["kind"] == "synthetic":
        return w["spec"].format(mem=a.synthetic_mem)
    mem = a.mem
    if name in a.images:
        mem = f"{a.image_mem_mib[name]}M"
    spec = f"test:{w['workload']},mem={mem}"
    if w["opts"]:
        spec += "," + w["opts"]
    return spec


# How a non-converging guest is finished, as a system-name suffix: the same option on both VMMs.
MODE_OPTIONS = {"ac": ["--auto-converge"], "pc": ["--postcopy-after", "1"]}
# Byte savings beyond D3, as a system-name suffix (d3 detector, bench --savings). The plain d3vm
# systems send every indispensable page in full and raw: D3 alone, and the baselines alone.
PLAIN_OPTIONS = ["--compress", "none", "--duplicates", "off"]
SAVINGS_OPTIONS = {"dup": ["--duplicates", "on", "--compress", "none"],   # references only
                   "dupz": ["--duplicates", "auto", "--compress", "auto"],  # the shipped defaults
                   "zstd": ["--duplicates", "on", "--compress", "zstd"]}  # both forced on


def d3vm_run(name, detector, cap, a, rundir, netns, mode=None):
    """One d3vm migration; returns the source's report (dict) with x-bench fields, or a failure dict."""
    d3vm = shlex.split(a.d3vm)
    w = WORKLOADS[name]
    spec = guest_spec(name, a)
    port = free_port()
    src_ns, dst_ns = [], []
    host = "127.0.0.1"
    if cap in TC_RATES:
        src_ns, dst_ns = ["ip", "netns", "exec", Netns.SRC], ["ip", "netns", "exec", Netns.DST]
        host = Netns.DST_IP
    src_report = os.path.join(rundir, "source.json")
    dst_report = os.path.join(rundir, "destination.json")
    mig_opts = ["--detector", detector, "--report", src_report]
    mig_opts += MODE_OPTIONS.get(mode, [])
    mig_opts += SAVINGS_OPTIONS.get(mode, PLAIN_OPTIONS)
    if cap == "max-bandwidth":
        mig_opts += ["--max-bandwidth", "1Gbit"]
    if cap == "max-bandwidth-100M":
        mig_opts += ["--max-bandwidth", "100M"]
    procs = []
    result = {"status": "failed"}
    load0 = os.getloadavg()[0]
    hb = None
    warm_wait = None
    try:
        recv = ["receive", "--listen", f"{host}:{port}", "--once", "--report", dst_report]
        if w["kind"] == "test":
            recv += ["--api-socket", os.path.join(rundir, "destination.sock")]
            hb = Heartbeats({r: os.path.join(rundir, f"{r}.hb") for r in ("src", "dst")})
            recv += ["--debugcon", hb.paths["dst"]]
        dst = Proc(dst_ns + d3vm + recv, os.path.join(rundir, "destination.log"))
        procs.append(dst)
        if not dst.wait_for("listening on", 60):
            raise RuntimeError("the receiver did not start listening: " + dst.tail())
        if w["kind"] == "synthetic":
            src = Proc(src_ns + d3vm + ["migrate", "--to", f"{host}:{port}", "--guest", spec] + mig_opts,
                       os.path.join(rundir, "source.log"))
            procs.append(src)
            src.finish(a.run_timeout, "the source")
        else:
            sock = os.path.join(rundir, "source.sock")
            run = ["run", "--guest", spec, "--api-socket", sock, "--debugcon", hb.paths["src"]]
            if name in a.images:
                run += ["--image", a.images[name]]
            vm = Proc(src_ns + d3vm + run, os.path.join(rundir, "source-vm.log"))
            procs.append(vm)
            if not vm.wait_for(w["ready"], a.run_timeout):
                raise RuntimeError(f"the guest did not reach `{w['ready']}`: " + vm.tail())
            # One more tick so the workload is in its steady state when the migration starts.
            n0 = vm.text().count("d3guest: tick=")
            end = time.time() + 15
            while time.time() < end and vm.text().count("d3guest: tick=") <= n0 and vm.p.poll() is None:
                time.sleep(0.1)
            if not os.path.exists(sock):
                time.sleep(1)
            warm_wait = await_warm(sock, vm)
            mig = Proc(d3vm + ["migrate", "--api-socket", sock, "--to", f"{host}:{port}"] + mig_opts,
                       os.path.join(rundir, "source.log"))
            procs.append(mig)
            mig.finish(a.run_timeout, "the migration")
            try:
                vm.p.wait(20)
            except subprocess.TimeoutExpired:
                pass
        # The destination's report is written at the end of the migration; give it a moment.
        end = time.time() + 20
        while time.time() < end and not os.path.exists(dst_report) and dst.p.poll() is None:
            time.sleep(0.2)
        if not os.path.exists(src_report):
            raise RuntimeError("no source report: " + procs[-1].tail())
        with open(src_report) as f:
            result = json.load(f)
        if hb:
            # The guest's first heartbeats at the destination end its observed pause.
            end = time.time() + 10
            while time.time() < end and hb.count("dst") < 20 and dst.p.poll() is None:
                time.sleep(0.05)
            result["x-heartbeat"] = hb.summary()
            result["observed-downtime"] = result["x-heartbeat"]["observed-downtime"]
        # The destination may still be writing its report: retry briefly, and never fail the run for it.
        for _ in range(20):
            try:
                with open(dst_report) as f:
                    dr = json.load(f)
                result["x-bench-destination"] = {k: dr.get(k) for k in ("status", "total-time", "digest-time", "digest-match", "downtime-phases")}
                break
            except (OSError, ValueError):
                time.sleep(0.25)
    except Exception as e:  # a failed run is recorded, the series goes on
        result = {"status": "failed", "error": str(e)}
    finally:
        for p in reversed(procs):
            p.stop()
        if hb:
            hb.close()
    result["x-bench"] = {"workload": name, "system": f"d3vm-{detector}" + (f"-{mode}" if mode else ""), "cap": cap, "guest": spec,
                         "load-before": round(load0, 2), "load-after": round(os.getloadavg()[0], 2), "dir": rundir}
    if warm_wait is not None:
        result["x-bench"]["warm-up-wait-s"] = round(warm_wait, 3)
    return result


def await_warm(sock, vm, timeout=30.0):
    """Polls the source's query-status until its warm-up is done (`warming-up` false): a migration
    asked for during `run`'s warm-up waits for it, and that wait is process start-up, not migration
    (a guest is migrated long after its VMM started). Returns the seconds waited."""
    start = time.time()
    while time.time() - start < timeout and vm.p.poll() is None:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(sock)
                f = s.makefile("rw")
                f.readline()  # the greeting
                f.write('{"execute": "query-status"}\n')
                f.flush()
                if json.loads(f.readline()).get("return", {}).get("warming-up") is False:
                    return time.time() - start
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    if vm.p.poll() is not None:
        raise RuntimeError("the source VM exited before its warm-up ended: " + vm.tail())
    raise RuntimeError(f"the source's warm-up did not end within {timeout:.0f} s")


def qemu_base(name):
    """A QEMU system's name without its migration mode: qemu10-legacy-pc -> qemu10-legacy."""
    head, _, tail = name.rpartition("-")
    return head if head and tail in MODE_OPTIONS else name


def qemu_systems(a):
    """QEMU variants: Debian's QEMU 7.2, and QEMU 10 (zero-page-detection legacy and none; multifd+zstd).
    QEMU 10 named in --qemu-systems or --systems is installed when missing (scripts/install-qemu10.sh);
    a variant asked for that cannot run is said, never silently left out of the table."""
    systems = []
    wanted = a.qemu_systems.split(",") if a.qemu_systems else None
    named = set(wanted or []) | set(a.systems.split(",") if a.systems else [])
    q10 = os.path.join(HERE, "build/qemu10/usr/bin/qemu-system-x86_64")
    if a.qemu and not os.path.exists(q10) and any(n.startswith("qemu10") for n in named):
        log("QEMU 10 asked for and not in build/qemu10: installing it (scripts/install-qemu10.sh)")
        subprocess.run([os.path.join(HERE, "scripts/install-qemu10.sh")])
    if a.qemu and subprocess.run(["sh", "-c", "command -v qemu-system-x86_64"], capture_output=True).returncode == 0:
        systems.append(("qemu7", []))
    if a.qemu and os.path.exists(q10):
        systems.append(("qemu10-legacy", ["--qemu10", "--zero-page-detection", "legacy"]))
        systems.append(("qemu10-none", ["--qemu10", "--zero-page-detection", "none"]))
        # QEMU's byte-saving mode: multifd (2 channels) with zstd, zero pages found in the multifd threads.
        systems.append(("qemu10-zstd", ["--qemu10", "--multifd-compression", "zstd"]))
    if wanted:
        systems = [x for x in systems if x[0] in wanted]
    have = {x[0] for x in systems}
    for base in sorted({qemu_base(n) for n in named if n.startswith("qemu")}):
        if a.qemu and base not in have and (wanted is None or base in wanted):
            log(f"skipped: {base} asked for but not installed"
                + (" (scripts/install-qemu10.sh could not install it)" if base.startswith("qemu10")
                   else " (scripts/qemu-migrate.sh installs qemu-system-x86)"))
    return systems


def qemu_run(name, system, extra, cap, a, rundir):
    w = WORKLOADS[name]
    mem_mib = a.image_mem_mib[name] if name in a.images else parse_mib(a.mem)
    out = os.path.join(rundir, "qemu.json")
    argv = [os.path.join(HERE, "scripts/qemu-migrate.sh")] + extra + ["--mem", str(mem_mib), "--out", out,
                                                                      "--log-dir", rundir, "--after", "2"]
    if cap == "max-bandwidth":
        argv += ["--max-bandwidth", str(ONE_GBIT)]
    if cap == "max-bandwidth-100M":
        argv += ["--max-bandwidth", str(100 << 20)]
    if cap in TC_RATES:
        argv += ["--src-netns", Netns.SRC, "--dst-netns", Netns.DST, "--dst-host", Netns.DST_IP]
    if name in a.images:
        argv += ["--image", a.images[name]]
    if w.get("converge") and not set(extra) & {"--auto-converge", "--postcopy-after"}:
        argv += ["--timeout", str(NO_CONVERGE_TIMEOUT)]
    argv += ["--", w["workload"]] + [o for o in w["opts"].split(",") if o]
    load0 = os.getloadavg()[0]
    p = Proc(argv, os.path.join(rundir, "qemu-migrate.log"))
    try:
        p.p.wait(a.run_timeout + 60)
    except subprocess.TimeoutExpired:
        pass
    rc = p.stop()
    result = {"status": "failed", "error": f"qemu-migrate.sh exited {rc}: " + p.tail(4)}
    if os.path.exists(out):
        with open(out) as f:
            result = json.load(f)
        if rc != 0:
            result["status"] = "failed"
            result["error"] = f"qemu-migrate.sh exited {rc} (guest check failed): " + p.tail(3)
    result["x-bench"] = {"workload": name, "system": system, "cap": cap, "guest": " ".join(argv[1:]),
                         "load-before": round(load0, 2), "load-after": round(os.getloadavg()[0], 2), "dir": rundir}
    return result


def metric(r, key):
    if key == "ram.transferred":
        return r.get("ram", {}).get("transferred")
    return r.get(key)


def complete(r):
    """A run counts only with a whole report: completed, a positive total-time and bytes sent
    (a QEMU run once reported total-time 0.00 and must not enter the medians)."""
    if r.get("status") != "completed":
        return False
    t, b = metric(r, "total-time"), metric(r, "ram.transferred")
    return isinstance(t, (int, float)) and t > 0 and isinstance(b, (int, float)) and b > 0


def summarize(runs):
    """Medians per (workload, cap, system) over completed runs, and ratios to d3vm-none."""
    groups = {}
    for r in runs:
        x = r["x-bench"]
        groups.setdefault((x["workload"], x["cap"], x["system"]), []).append(r)
    med = {}
    for (w, c, s), rs in groups.items():
        ok = [r for r in rs if complete(r)]
        m = {"workload": w, "cap": c, "system": s, "runs": len(rs), "completed": len(ok)}
        for key in ("total-time", "downtime", "observed-downtime", "ram.transferred", "digest-time"):
            vals = [metric(r, key) for r in ok if metric(r, key) is not None]
            m[key] = statistics.median(vals) if vals else None
            m[key + "-min"] = min(vals) if vals else None
            m[key + "-max"] = max(vals) if vals else None
        m["digest-match"] = all(r.get("digest-match", True) is not False for r in ok) if ok else None
        med[(w, c, s)] = m
    for (w, c, s), m in med.items():
        base = med.get((w, c, "d3vm-none"))
        for key, rk in (("total-time", "time-vs-none"), ("ram.transferred", "bytes-vs-none")):
            if base and base.get(key) and m.get(key) is not None:
                m[rk] = m[key] / base[key]
            else:
                m[rk] = None
    return med


def order_key(m):
    wl = list(WORKLOADS)
    cl = list(CAPS)
    sl = ["d3vm-none", "d3vm-full", "d3vm-d3", "d3vm-d3-dup", "d3vm-d3-dupz", "d3vm-d3-zstd", "d3vm-none-ac", "d3vm-full-ac", "d3vm-d3-ac", "d3vm-none-pc", "d3vm-full-pc",
          "d3vm-d3-pc", "qemu7", "qemu7-ac", "qemu7-pc",
          "qemu10-zstd", "qemu10-legacy", "qemu10-legacy-ac", "qemu10-legacy-pc", "qemu10-none", "qemu10-none-ac", "qemu10-none-pc"]
    return (wl.index(m["workload"]), cl.index(m["cap"]), sl.index(m["system"]) if m["system"] in sl else 99)


def _f(v, fmt):
    return "-" if v is None else fmt.format(v)


def table(med):
    rows = ["| workload | cap | system | runs ok | total-time (s) | (min–max) | time vs none | observed downtime (ms) | (min–max) | reported downtime (ms) | (min–max) | of which digest (ms) | transferred (MiB) | bytes vs none |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in sorted(med.values(), key=order_key):
        f = _f
        t_range = "-" if m.get("total-time-min") is None else f"{m['total-time-min'] / 1000:.2f}–{m['total-time-max'] / 1000:.2f}"
        d_range = "-" if m.get("downtime-min") is None else f"{m['downtime-min']:.0f}–{m['downtime-max']:.0f}"
        o_range = "-" if m.get("observed-downtime-min") is None else f"{m['observed-downtime-min']:.1f}–{m['observed-downtime-max']:.1f}"
        rows.append(f"| {m['workload']} | {m['cap']} | {m['system']} | {m['completed']}/{m['runs']} | "
                    f"{f(m['total-time'] and m['total-time'] / 1000, '{:.2f}')} | {t_range} | {f(m['time-vs-none'] and 100 * m['time-vs-none'], '{:.1f} %')} | "
                    f"{f(m.get('observed-downtime'), '{:.1f}')} | {o_range} | {f(m['downtime'], '{:.0f}')} | {d_range} | {f(m['digest-time'], '{:.0f}')} | {f(m['ram.transferred'] and m['ram.transferred'] / 2**20, '{:.1f}')} | "
                    f"{f(m['bytes-vs-none'] and 100 * m['bytes-vs-none'], '{:.1f} %')} |")
    return "\n".join(rows)


def savings(med, qemu="qemu7"):
    """What d3 saves against none (and costs against full), and d3vm-d3 against QEMU, per workload and cap (medians)."""
    rows = [f"| workload | cap | d3: bytes saved vs none | d3: time saved vs none | d3 time / full time | total-time d3vm-d3 vs {qemu} | observed downtime d3vm-d3 vs {qemu} | reported downtime d3vm-d3 vs {qemu} |",
            "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(m["workload"], m["cap"]) for m in med.values()}, key=lambda k: (list(WORKLOADS).index(k[0]), list(CAPS).index(k[1])))
    for w, c in keys:
        d3, none, full, q = (med.get((w, c, s)) for s in ("d3vm-d3", "d3vm-none", "d3vm-full", qemu))
        if not d3 or d3.get("total-time") is None:
            continue
        has_none = none is not None and none.get("total-time") is not None
        bytes_saved = 100 * (1 - d3["ram.transferred"] / none["ram.transferred"]) if has_none and none.get("ram.transferred") else None
        time_saved = 100 * (1 - d3["total-time"] / none["total-time"]) if has_none else None
        vs_full = d3["total-time"] / full["total-time"] if full and full.get("total-time") else None
        vq_t = f"{d3['total-time'] / 1000:.2f} s vs {q['total-time'] / 1000:.2f} s" if q and q.get("total-time") is not None else "-"
        vq_d = f"{d3['downtime']:.0f} ms vs {q['downtime']:.0f} ms" if q and q.get("downtime") is not None and d3.get("downtime") is not None else "-"
        vq_o = (f"{d3['observed-downtime']:.1f} ms vs {q['observed-downtime']:.1f} ms"
                if q and q.get("observed-downtime") is not None and d3.get("observed-downtime") is not None else "-")
        rows.append(f"| {w} | {c} | {_f(bytes_saved, '{:.1f} %')} | {_f(time_saved, '{:.1f} %')} | {_f(vs_full, '{:.2f}')} | {vq_t} | {vq_o} | {vq_d} |")
    return "\n".join(rows)


SOURCE_PHASES = ["pause", "final-sync", "final-pass", "state-save", "flush", "complete-to-ack", "go"]
DEST_PHASES = ["last-page-to-state", "digest", "state-restore", "ack", "go-to-running"]


def phases(runs):
    """Where d3vm's pause goes: median of each downtime phase (ms) per workload, cap and detector."""
    rows = ["| workload | cap | system | " + " | ".join(SOURCE_PHASES) + " | dest " + " | dest ".join(DEST_PHASES)
            + " | reported downtime | observed downtime |",
            "|---|---|---|" + "---|" * (len(SOURCE_PHASES) + len(DEST_PHASES) + 2)]
    groups = {}
    for r in runs:
        x = r["x-bench"]
        if x["system"].startswith("d3vm-") and complete(r) and r.get("downtime-phases"):
            groups.setdefault((x["workload"], x["cap"], x["system"]), []).append(r)

    def med(vals):
        vals = [v for v in vals if isinstance(v, (int, float))]
        return f"{statistics.median(vals):.1f}" if vals else "-"
    for (w, c, sy), rs in sorted(groups.items(), key=lambda kv: order_key({"workload": kv[0][0], "cap": kv[0][1], "system": kv[0][2]})):
        src = [med([r["downtime-phases"].get(p) for r in rs]) for p in SOURCE_PHASES]
        dst = [med([((r.get("x-bench-destination") or {}).get("downtime-phases") or {}).get(p) for r in rs]) for p in DEST_PHASES]
        rows.append(f"| {w} | {c} | {sy} | " + " | ".join(src + dst) + f" | {med([r.get('downtime') for r in rs])} | "
                    f"{med([r.get('observed-downtime') for r in rs])} |")
    return "\n".join(rows)


def charts(runs, med, out):
    """Bytes per system per workload (one chart per cap) and per-round pages/duration of the median run."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        log(f"charts skipped: matplotlib does not import ({e}); scripts/bench-migration.sh installs python3-matplotlib")
        return []
    written = []
    caps = sorted({m["cap"] for m in med.values()}, key=list(CAPS).index)
    workloads = sorted({m["workload"] for m in med.values()}, key=list(WORKLOADS).index)
    systems = sorted({m["system"] for m in med.values()}, key=lambda s: order_key({"workload": workloads[0], "cap": caps[0], "system": s}))
    colors = {"d3vm-none": "#999999", "d3vm-full": "#4c72b0", "d3vm-d3": "#dd8452", "d3vm-d3-dup": "#da8bc3", "d3vm-d3-dupz": "#937860", "d3vm-d3-zstd": "#8c8c3c", "qemu7": "#55a868",
              "qemu10-legacy": "#8172b3", "qemu10-none": "#c44e52", "qemu10-zstd": "#64b5cd"}
    for cap in caps:
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(workloads) + 2), 4))
        width = 0.8 / max(1, len(systems))
        for i, s in enumerate(systems):
            xs, ys = [], []
            for j, w in enumerate(workloads):
                m = med.get((w, cap, s))
                if m and m.get("ram.transferred") is not None:
                    xs.append(j + i * width)
                    ys.append(m["ram.transferred"] / 2**20)
            if xs:
                ax.bar(xs, ys, width, label=s, color=colors.get(s))
        ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(workloads))])
        ax.set_xticklabels(workloads)
        ax.set_ylabel("transferred (MiB, median)")
        ax.set_title(f"bytes on the wire per system, {cap} ({CAPS[cap]})", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = os.path.join(out, f"bytes-{cap}.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        written.append(p)
    for w in workloads:
        for cap in caps:
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
            any_rounds = False
            for d in DETECTORS:
                rs = [r for r in runs if r["x-bench"]["workload"] == w and r["x-bench"]["cap"] == cap
                      and r["x-bench"]["system"] == f"d3vm-{d}" and r.get("status") == "completed" and r.get("rounds")]
                if not rs:
                    continue
                rs.sort(key=lambda r: r["total-time"])
                r = rs[len(rs) // 2]  # the median run by total time
                rounds = r["rounds"]
                a1.plot([x["round"] for x in rounds], [x["pages"] for x in rounds], "o-", label=f"d3vm-{d}", color=colors[f"d3vm-{d}"])
                a2.plot([x["round"] for x in rounds], [x["duration-ms"] for x in rounds], "o-", label=f"d3vm-{d}", color=colors[f"d3vm-{d}"])
                any_rounds = True
            if not any_rounds:
                plt.close(fig)
                continue
            a1.set_yscale("log")
            for ax in (a1, a2):
                ax.xaxis.get_major_locator().set_params(integer=True)
            a1.set_xlabel("round (last = stop-and-copy)")
            a1.set_ylabel("pages sent (dirty set)")
            a2.set_xlabel("round")
            a2.set_ylabel("duration (ms)")
            a1.legend(fontsize=8)
            fig.suptitle(f"{w}, {cap}: per-round dirty pages and duration (median run)", fontsize=9)
            fig.tight_layout()
            p = os.path.join(out, f"rounds-{w}-{cap}.png")
            fig.savefig(p, dpi=110)
            plt.close(fig)
            written.append(p)
    return written


class UsageFormatter(argparse.HelpFormatter):
    """`Usage: d3vm bench ...`, as every other d3vm command's help begins."""

    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="Usage: " if prefix is None else prefix)


def main():
    ap = argparse.ArgumentParser(prog="d3vm bench", description=__doc__.split("\n\n")[0], formatter_class=UsageFormatter)
    ap.add_argument("--out", help="output directory (default build/bench/<UTC timestamp>)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per configuration (default 5)")
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    help="comma-separated: " + ",".join(WORKLOADS) + " (default: " + ",".join(DEFAULT_WORKLOADS) + ")")
    ap.add_argument("--caps", default=",".join(CAPS), help="comma-separated: " + ",".join(CAPS))
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--mem", default="512M", help="test guest RAM (default 512M)")
    ap.add_argument("--synthetic-mem", default="1G", help="synthetic guest RAM (default 1G)")
    ap.add_argument("--image", help="memory image for `image` (default: the smallest build/images/linux-*.elf)")
    ap.add_argument("--no-qemu", dest="qemu", action="store_false", help="leave out the QEMU column")
    ap.add_argument("--savings", action="store_true",
                    help="add d3vm-d3-dup (duplicate references), d3vm-d3-dupz (references and compression, auto: the"
                         " defaults) and d3vm-d3-zstd (references on, zstd on)")
    ap.add_argument("--systems", help="comma-separated: run only these systems (names as in the table, e.g. "
                    "d3vm-d3,d3vm-d3-dupz,qemu10-zstd); the other options still decide which exist")
    ap.add_argument("--qemu-systems", help="comma-separated subset of qemu7,qemu10-legacy,qemu10-none,qemu10-zstd (default: all installed)")
    ap.add_argument("--from-json", nargs="+", metavar="RUNS_JSON",
                    help="run nothing: summarize the runs in these runs.json / runs.partial.json files (merged) into --out")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep, synthetic 64M guest, uncapped + max-bandwidth, no QEMU")
    ap.add_argument("--d3vm", default=os.path.join(HERE, "d3vm"), help="how to start d3vm (a command line)")
    ap.add_argument("--run-timeout", type=int, default=180, help="seconds one migration may take")
    a = ap.parse_args()
    if a.quick:
        a.reps = 1
        a.synthetic_mem = "64M"
        a.qemu = False
        if "--workloads" not in sys.argv:
            a.workloads = "synthetic"
        if "--caps" not in sys.argv:
            a.caps = "uncapped,max-bandwidth"
    workloads = [w for w in a.workloads.split(",") if w]
    caps = [c for c in a.caps.split(",") if c]
    detectors = [d for d in a.detectors.split(",") if d]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}; choose from {', '.join(WORKLOADS)}")
    for c in caps:
        if c not in CAPS:
            ap.error(f"unknown cap {c}; choose from {', '.join(CAPS)}")
    for d in detectors:
        if d not in DETECTORS:
            ap.error(f"unknown detector {d}; choose from {', '.join(DETECTORS)}")
    if a.reps < 1:
        ap.error("--reps must be at least 1")
    if a.systems:
        base = [f"d3vm-{d}" for d in DETECTORS] + [f"d3vm-d3-{v}" for v in SAVINGS_OPTIONS] \
            + ["qemu7", "qemu10-legacy", "qemu10-none", "qemu10-zstd"]
        known = base + [f"{b}-{m}" for b in base if b.count("-") < 2 or b.startswith("qemu") for m in MODE_OPTIONS]
        for s in a.systems.split(","):
            if s not in known:
                ap.error(f"unknown system {s}; choose from {', '.join(known)}")
    if a.from_json:
        return resummarize(a)
    skipped = []
    a.images = {}
    a.image_mem_mib = {}
    if "image" in workloads:
        if not a.image:
            imgs = sorted((os.path.getsize(p), p) for p in
                          (os.path.join(HERE, "build/images", f) for f in os.listdir(os.path.join(HERE, "build/images")))
                          if p.endswith(".elf")) if os.path.isdir(os.path.join(HERE, "build/images")) else []
            a.image = imgs[0][1] if imgs else None
        if not a.image or not os.path.isfile(a.image):
            skipped.append("image: no Linux memory image in build/images (make one with scripts/linux-memory-image.sh)")
            workloads.remove("image")
        else:
            a.images["image"] = a.image
    for w in [w for w in workloads if WORKLOADS[w].get("image-file")]:
        path = os.path.join(HERE, "build/images", WORKLOADS[w]["image-file"])
        if not os.path.isfile(path):
            kind = w.split("-", 1)[1]
            log(f"{w}: making {path} (scripts/linux-memory-image.sh, workload {kind}; a few minutes)")
            env = dict(os.environ, D3VM_IMAGE_WORKLOAD=kind, D3VM_IMAGE_SETTLE="20")
            if subprocess.run([os.path.join(HERE, "scripts/linux-memory-image.sh"), path], env=env).returncode != 0:
                skipped.append(f"{w}: scripts/linux-memory-image.sh could not make {path}")
                workloads.remove(w)
                continue
        a.images[w] = path
    for w, path in a.images.items():
        # The image goes at 16 MiB; leave 64 MiB above it for the guest's own changes.
        a.image_mem_mib[w] = 16 + (os.path.getsize(path) + (1 << 20) - 1) // (1 << 20) + 64
    kvm_workloads = [w for w in workloads if WORKLOADS[w]["kind"] == "test"]
    if kvm_workloads:
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR))
        except OSError as e:
            skipped.append(f"{','.join(kvm_workloads)}: /dev/kvm does not open ({e.strerror})")
            workloads = [w for w in workloads if w not in kvm_workloads]
    netns = None
    if set(caps) & set(TC_RATES):
        why = Netns.unavailable()
        if why:
            skipped.append(f"tc caps: {why}")
            caps = [c for c in caps if c not in TC_RATES]
        else:
            netns = Netns()
    out = a.out or os.path.join(HERE, "build/bench", datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    os.makedirs(out, exist_ok=True)
    for s in skipped:
        log("skipped: " + s)
    qsys = qemu_systems(a)
    if a.qemu and not qsys:
        skipped.append("QEMU column: qemu-system-x86_64 not installed (scripts/qemu-migrate.sh installs it)")
    started = datetime.datetime.now(datetime.timezone.utc)
    runs = []
    loads = []
    try:
        if netns:
            netns.create()
        n = 0
        for w in workloads:
            for cap in caps:
                if cap in TC_RATES:
                    netns.shape(TC_RATES[cap])
                systems = [(f"d3vm-{d}", None) for d in detectors]
                if a.savings and "d3" in detectors:
                    systems += [(f"d3vm-d3-{v}", None) for v in SAVINGS_OPTIONS]
                if WORKLOADS[w].get("converge"):
                    systems += [(f"d3vm-{d}-{m}", None) for m in MODE_OPTIONS for d in detectors]
                if WORKLOADS[w]["kind"] == "test":
                    systems += qsys
                if WORKLOADS[w].get("converge"):
                    systems += [(f"{q}-{m}", x + o) for m, o in MODE_OPTIONS.items() for q, x in qsys]
                if a.systems:
                    systems = [x for x in systems if x[0] in a.systems.split(",")]
                for rep in range(1, a.reps + 1):
                    for system, extra in systems:
                        n += 1
                        rundir = os.path.join(out, "runs", f"{w}-{cap}-{system}-{rep}")
                        os.makedirs(rundir, exist_ok=True)
                        t0 = time.time()
                        if extra is None:
                            suffix = system.rsplit("-", 1)[1]
                            mode = suffix if suffix in MODE_OPTIONS or suffix in SAVINGS_OPTIONS else None
                            detector = system[len("d3vm-"):len(system) - (len(mode) + 1 if mode else 0)]
                            r = d3vm_run(w, detector, cap, a, rundir, netns, mode)
                        else:
                            r = qemu_run(w, system, extra, cap, a, rundir)
                        r["x-bench"]["rep"] = rep
                        r["x-bench"]["wall-s"] = round(time.time() - t0, 2)
                        loads.append(r["x-bench"]["load-before"])
                        loads.append(r["x-bench"]["load-after"])
                        runs.append(r)
                        if complete(r):
                            log(f"[{n}] {w} {cap} {system} #{rep}: {r['total-time'] / 1000:.2f} s, observed downtime "
                                f"{r.get('observed-downtime')} ms (reported {r.get('downtime')} ms), "
                                f"{r['ram']['transferred'] / 2**20:.1f} MiB (load {r['x-bench']['load-before']})")
                        elif r.get("status") == "completed":
                            log(f"[{n}] {w} {cap} {system} #{rep}: FAILED (incomplete report: total-time "
                                f"{r.get('total-time')}, transferred {metric(r, 'ram.transferred')}): left out of the medians")
                        else:
                            log(f"[{n}] {w} {cap} {system} #{rep}: FAILED {r.get('error', '')[:300]}")
                        # keep partial results on disk as the series goes on
                        with open(os.path.join(out, "runs.partial.json"), "w") as f:
                            json.dump(runs, f)
    finally:
        if netns:
            netns.destroy()
    med = summarize(runs)
    md = table(med)
    load = {"min": min(loads), "max": max(loads), "mean": round(statistics.mean(loads), 2)} if loads else None
    meta = {"started": started.isoformat(timespec="seconds"), "ended": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(shlex.quote(x) for x in sys.argv), "reps": a.reps, "mem": a.mem, "synthetic-mem": a.synthetic_mem,
            "image": a.image, "images": a.images, "image-mem-mib": a.image_mem_mib, "caps": {c: CAPS[c] for c in caps}, "skipped": skipped,
            "guests": {w: guest_spec(w, a) for w in workloads}, "load-average-1min": load, "cpus": os.cpu_count()}
    pngs = charts(runs, med, out)
    meta["charts"] = [os.path.basename(p) for p in pngs]
    with open(os.path.join(out, "runs.json"), "w") as f:
        json.dump({"meta": meta, "medians": sorted(med.values(), key=order_key), "runs": runs}, f, indent=1)
    if os.path.exists(os.path.join(out, "runs.partial.json")):
        os.remove(os.path.join(out, "runs.partial.json"))
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"Series {meta['started']} to {meta['ended']}, {a.reps} repetition(s), medians of completed runs; "
                f"1-min load average {load}.\n\n{md}\n\n{savings(med)}\n\n{phases(runs)}\n")
        for s in skipped:
            f.write(f"\nSkipped: {s}\n")
    print(md)
    for s in skipped:
        print("skipped: " + s)
    print(f"load average (1 min) during the series: {load}")
    print(f"wrote {out}/runs.json, {out}/results.md" + (", " + ", ".join(os.path.basename(p) for p in pngs) if pngs else ""))
    return 0 if all(complete(r) for r in runs) else 1


def resummarize(a):
    runs, metas = [], []
    for path in a.from_json:
        with open(path) as f:
            d = json.load(f)
        if isinstance(d, list):  # runs.partial.json
            runs += d
        elif isinstance(d, dict) and isinstance(d.get("runs"), list):
            runs += d["runs"]
            metas.append(d.get("meta"))
        else:
            print(f"{path}: not a runs.json (an object with `runs`) nor a runs.partial.json (a list)", file=sys.stderr)
            return 2
    for r in runs:
        x = r.get("x-bench") if isinstance(r, dict) else None
        if not isinstance(x, dict) or x.get("workload") not in WORKLOADS or x.get("cap") not in CAPS or not isinstance(x.get("system"), str):
            print(f"a run without a valid x-bench block (workload/cap/system): {str(r)[:200]}", file=sys.stderr)
            return 2
    if not runs:
        print("no runs in " + " ".join(a.from_json), file=sys.stderr)
        return 2
    out = a.out or os.path.join(HERE, "build/bench/summary")
    os.makedirs(out, exist_ok=True)
    med = summarize(runs)
    md = table(med)
    loads = [r["x-bench"][k] for r in runs for k in ("load-before", "load-after") if k in r["x-bench"]]
    load = {"min": min(loads), "max": max(loads), "mean": round(statistics.mean(loads), 2)} if loads else None
    pngs = charts(runs, med, out)
    meta = {"from": a.from_json, "series": metas, "load-average-1min": load, "charts": [os.path.basename(p) for p in pngs]}
    with open(os.path.join(out, "runs.json"), "w") as f:
        json.dump({"meta": meta, "medians": sorted(med.values(), key=order_key), "runs": runs}, f, indent=1)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"Medians of completed runs from {', '.join(a.from_json)}; 1-min load average {load}.\n\n{md}\n\n{savings(med)}\n\n{phases(runs)}\n")
    print(md)
    print(f"load average (1 min) during the runs: {load}")
    print(f"wrote {out}/runs.json, {out}/results.md" + (", " + ", ".join(os.path.basename(p) for p in pngs) if pngs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
