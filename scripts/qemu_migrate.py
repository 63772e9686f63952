#!/usr/bin/env python3
"""Live-migrates the d3vm test guest between two QEMU processes over loopback, through QMP.

Called by scripts/qemu-migrate.sh (which builds the guest and installs QEMU first); see its
--help. Boots the source with the guest's workload, starts a destination with -incoming, waits
until the workload is in its steady state, sets the migration parameters, runs `migrate`, polls
`query-migrate` until it completes, writes QEMU's final query-migrate object (plus an
"x-d3vm" object with the run's settings and guest checks) as JSON, then checks that the guest
keeps running on the destination: its tick counter continues past the source's last tick and,
for `verify`, a full pass after the migration finds no mismatch.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from heartbeat import Heartbeats

TICK = re.compile(r"^d3guest: tick=(\d+) ms=(\d+) ")
PASS_OK = re.compile(r"^d3guest: verify pass=(\d+) ok$")
BAD = re.compile(r"MISMATCH|FAILED|panic|d3guest: error")

# "Steady state" marker per workload: migrating before it would measure the guest's fill phase.
READY = {
    "idle": re.compile(r"^d3guest: tick=1 "),
    "dirty": re.compile(r"^d3guest: dirty .* filled "),
    "verify": re.compile(r"^d3guest: verify pass=1 ok$"),
    "image": re.compile(r"^d3guest: image addr="),
}


def die(msg, code=2):
    print(f"qemu-migrate: {msg}", file=sys.stderr)
    sys.exit(code)


class Qmp:
    """A minimal QMP client: one command at a time, asynchronous events skipped."""

    def __init__(self, path, timeout=60.0):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise RuntimeError(f"QMP socket {path} did not open within {timeout:.0f} s")
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"unexpected QMP greeting {greeting}")
        self.version = greeting["QMP"]["version"]["qemu"]
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed (QEMU exited?)")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {name} {args}: {r['error'].get('desc', r['error'])}")
            return r.get("return")

    def close(self):
        self.sock.close()


class Serial:
    """Follows a QEMU serial log file; keeps the d3guest lines."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = ""
        self.lines = []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
                self.pos += len(data)
        except FileNotFoundError:
            return []
        text = self.partial + data.decode("latin-1")
        parts = text.split("\n")
        self.partial = parts.pop()
        new = []
        for p in parts:
            at = p.find("d3guest: ")   # SeaBIOS leaves "Booting from ROM.." before the first line
            if at >= 0:
                new.append(p[at:].rstrip("\r"))
        self.lines.extend(new)
        return new

    def wait_for(self, pattern, timeout, procs=()):
        end = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < end:
            self.poll()
            for line in self.lines[seen:]:
                if pattern.search(line):
                    return line
            seen = len(self.lines)
            for p in procs:
                if p.poll() is not None:
                    return None
            time.sleep(0.05)
        return None

    def last_tick(self):
        for line in reversed(self.lines):
            m = TICK.match(line)
            if m:
                return int(m.group(1))
        return 0


def parse_size(text):
    """Bytes per second from 125M / 1G / 1000000 (binary suffixes, like QEMU's)."""
    m = re.fullmatch(r"(\d+)([KkMmGgTt]?)", text)
    if not m:
        die(f"--max-bandwidth '{text}' is not a number with an optional K/M/G/T suffix")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2).lower()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(prog="qemu-migrate.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"),
                    help="QEMU binary (default qemu-system-x86_64)")
    ap.add_argument("--qemu-datadir", action="append", default=[],
                    help="extra -L directory for firmware (for a QEMU unpacked outside /usr)")
    ap.add_argument("--elf", required=True, help="the test guest (target/guest/d3guest.elf)")
    ap.add_argument("--accel", choices=["kvm", "tcg"], default="kvm")
    ap.add_argument("--bios", choices=["qboot", "seabios"], default="qboot",
                    help="firmware: qboot (default; ~0.5 s to the guest under KVM here) or SeaBIOS "
                    "(QEMU's default; ~8 s under this host's kvm_pvm, which emulates its real mode)")
    ap.add_argument("--mem", type=int, default=512, help="guest RAM in MiB (default 512)")
    ap.add_argument("--image", help="FILE[@0xADDR]: memory image (raw or ELF core) placed with "
                    "-device loader at 0xADDR (default 16 MiB), like d3vm run --image")
    ap.add_argument("--image-cache", help="where ELF cores converted to raw are kept "
                    "(default: <log-dir>/images)")
    ap.add_argument("--downtime-ms", type=int, default=300, help="downtime-limit (default 300)")
    ap.add_argument("--max-bandwidth", default="0",
                    help="bytes/s with K/M/G suffix; 0 = uncapped (default; QEMU's own default is a cap)")
    ap.add_argument("--zero-page-detection", choices=["none", "legacy", "multifd"],
                    help="QEMU 9.0+ only; QEMU 7.2 always detects zero pages (legacy)")
    ap.add_argument("--warmup", type=float, default=2.0,
                    help="seconds to run after the workload's steady-state line before migrating")
    ap.add_argument("--after", type=float, default=3.0,
                    help="seconds the destination must keep running after the migration")
    ap.add_argument("--timeout", type=float, default=300.0, help="limit for the migration itself")
    ap.add_argument("--postcopy-after", type=int, default=0, metavar="N",
                    help="the postcopy-ram capability on both sides, and migrate-start-postcopy once N passes over memory are done"
                         " (d3vm's --postcopy-after N)")
    ap.add_argument("--multifd-compression", choices=["none", "zlib", "zstd"],
                    help="the multifd capability on both sides with this compression (QEMU's byte-saving mode;"
                         " zstd at multifd-zstd-level 1, QEMU's default)")
    ap.add_argument("--multifd-channels", type=int, default=2, help="multifd channels (default 2: this machine's cores)")
    ap.add_argument("--auto-converge", action="store_true",
                    help="the auto-converge capability (throttle 20 %%, +10 %% per round while the guest dirties too fast)")
    ap.add_argument("--src-netns", help="run the source QEMU in this network namespace (ip netns exec)")
    ap.add_argument("--dst-netns", help="run the destination QEMU in this network namespace")
    ap.add_argument("--dst-host", default="127.0.0.1",
                    help="address the destination listens on and the source migrates to (default 127.0.0.1;"
                         " with --dst-netns, the destination's address in that namespace)")
    ap.add_argument("--out", help="write the final query-migrate JSON here")
    ap.add_argument("--log-dir", help="keep serial logs and QEMU stderr here (default: a temp dir)")
    ap.add_argument("cmdline", nargs="+", help="guest command line: <workload> key=value ...")
    a = ap.parse_args()

    workload = a.cmdline[0]
    if workload not in READY:
        die(f"workload '{workload}' is not one of {', '.join(READY)}")
    if not os.path.isfile(a.elf):
        die(f"guest ELF {a.elf} not found")
    if shutil.which(a.qemu) is None:
        die(f"QEMU binary {a.qemu} not found")
    if a.mem < 64:
        die("--mem must be at least 64 MiB (workload memory starts at 16 MiB)")
    bandwidth = parse_size(a.max_bandwidth)

    log_dir = a.log_dir or tempfile.mkdtemp(prefix="qemu-migrate-")
    os.makedirs(log_dir, exist_ok=True)
    port = free_port()
    image_raw = image_addr = None
    if a.image:
        file, sep, addr = a.image.rpartition("@")
        if not sep:
            file, addr = a.image, "0x1000000"
        if not re.fullmatch(r"0x[0-9a-fA-F]+", addr):
            die("--image wants FILE[@0xADDR]")
        if not os.path.isfile(file):
            die(f"image file {file} not found")
        conv = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "memory_image_raw.py"),
                               file, os.path.join(log_dir, "images") if not a.image_cache else a.image_cache],
                              capture_output=True, text=True)
        if conv.returncode != 0:
            die(conv.stderr.strip())
        image_raw, size = conv.stdout.split()
        image_addr = addr
        given = [w for w in a.cmdline if w.startswith("image=")]
        want = f"image={addr}:0x{int(size):x}"
        if given and given[0].lower() != want.lower():
            die(f"{given[0]} does not match the image file ({want})")
        if workload == "image" and not given:
            a.cmdline.append(want)
    elif workload == "image":
        die("the image workload needs --image FILE[@0xADDR]")
    cmdline = " ".join(a.cmdline)

    def qemu_args(role):
        args = [a.qemu, "-M", "pc", "-m", str(a.mem), "-display", "none", "-no-reboot",
                "-nodefaults", "-kernel", a.elf, "-append", cmdline,
                "-serial", f"file:{log_dir}/{role}.serial",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-qmp", f"unix:{log_dir}/{role}.qmp,server=on,wait=off"]
        for d in a.qemu_datadir:
            args += ["-L", d]
        if a.bios == "qboot":
            args += ["-bios", "qboot.rom"]
        if a.accel == "kvm":
            # This host's kvm_pvm: plain "-cpu host" aborts QEMU 7.2 on MSR 0x10a (HOST-KVM.md).
            args += ["-accel", "kvm", "-cpu", "host,-arch-capabilities"]
        else:
            args += ["-accel", "tcg", "-cpu", "qemu64"]
        if image_raw:
            args += ["-device", f"loader,file={image_raw},addr={image_addr},force-raw=on"]
        if heartbeats:
            # The guest's heartbeat=1 bytes on port 0xe9, to a FIFO that heartbeat.py timestamps.
            args += ["-chardev", f"file,id=hb,path={heartbeats.paths[role]}",
                     "-device", "isa-debugcon,iobase=0xe9,chardev=hb"]
        if role == "dst":
            # multifd must be on before the destination listens: then it listens on migrate-incoming.
            args += ["-incoming", "defer" if a.multifd_compression else f"tcp:{a.dst_host}:{port}"]
        netns = a.src_netns if role == "src" else a.dst_netns
        return (["ip", "netns", "exec", netns] if netns else []) + args

    procs = []
    heartbeats = None
    if "heartbeat=1" in a.cmdline[1:]:
        heartbeats = Heartbeats({r: os.path.join(log_dir, f"{r}.hb") for r in ("src", "dst")})

    def start(role):
        for f in (f"{role}.serial", f"{role}.qmp"):
            try:
                os.unlink(os.path.join(log_dir, f))
            except FileNotFoundError:
                pass
        err = open(os.path.join(log_dir, f"{role}.stderr"), "wb")
        p = subprocess.Popen(qemu_args(role), stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        procs.append(p)
        return p

    src_serial = Serial(os.path.join(log_dir, "src.serial"))
    dst_serial = Serial(os.path.join(log_dir, "dst.serial"))
    result = {}
    ok = False
    quit_sent = False
    try:
        t0 = time.monotonic()
        src = start("src")
        dst = start("dst")
        qs = Qmp(os.path.join(log_dir, "src.qmp"))
        qd = Qmp(os.path.join(log_dir, "dst.qmp"))
        version = qs.version
        ver = (version["major"], version["minor"])

        boot = src_serial.wait_for(re.compile(r"^d3guest: boot "), 120, [src])
        boot_s = time.monotonic() - t0
        if boot is None:
            die(f"source guest did not boot (serial: {src_serial.lines[-5:]}, see {log_dir})", 1)
        ready = src_serial.wait_for(READY[workload], 600, [src])
        if ready is None:
            die(f"source guest never reached its steady state (last lines {src_serial.lines[-5:]})", 1)
        time.sleep(a.warmup)

        params = {"downtime-limit": a.downtime_ms,
                  # 0 would mean "no limit" on new QEMU but not on every version; a huge cap is
                  # unambiguous everywhere.
                  "max-bandwidth": bandwidth if bandwidth else 1 << 40}
        if a.zero_page_detection:
            if ver < (9, 0):
                die(f"--zero-page-detection needs QEMU 9.0+, this is {ver[0]}.{ver[1]}")
            params["zero-page-detection"] = a.zero_page_detection
        qs.cmd("migrate-set-parameters", **params)
        for q in (qs, qd):
            q.cmd("migrate-set-capabilities", capabilities=[{"capability": "events", "state": True}])
        if a.multifd_compression:
            for q in (qs, qd):
                q.cmd("migrate-set-capabilities", capabilities=[{"capability": "multifd", "state": True}])
                q.cmd("migrate-set-parameters", **{"multifd-channels": a.multifd_channels,
                                                   "multifd-compression": a.multifd_compression})
            qd.cmd("migrate-incoming", uri=f"tcp:{a.dst_host}:{port}")
        if a.auto_converge:
            qs.cmd("migrate-set-capabilities", capabilities=[{"capability": "auto-converge", "state": True}])
        if a.postcopy_after:
            for q in (qs, qd):
                q.cmd("migrate-set-capabilities", capabilities=[{"capability": "postcopy-ram", "state": True}])
        postcopy_started = False

        src_serial.poll()
        last_src_tick = src_serial.last_tick()
        t_migrate = time.monotonic()
        qs.cmd("migrate", uri=f"tcp:{a.dst_host}:{port}")
        samples = 0
        while True:
            info = qs.cmd("query-migrate")
            samples += 1
            status = info.get("status")
            if status in ("completed", "failed", "cancelled"):
                break
            if (a.postcopy_after and not postcopy_started and status == "active"
                    and info.get("ram", {}).get("dirty-sync-count", 0) > a.postcopy_after):
                qs.cmd("migrate-start-postcopy")  # QEMU switches at its next iteration
                postcopy_started = True
            if time.monotonic() - t_migrate > a.timeout:
                qs.cmd("migrate_cancel")
                die(f"migration still '{status}' after {a.timeout:.0f} s: cancelled", 1)
            time.sleep(0.05)
        wall_ms = (time.monotonic() - t_migrate) * 1000
        # QEMU 7.2 can answer "completed" before it has filled in the totals (total-time 0,
        # downtime 0: 9 of 45 capped runs in one series): ask again until they are there.
        settle = time.monotonic() + 2
        while status == "completed" and not info.get("total-time") and time.monotonic() < settle:
            time.sleep(0.02)
            info = qs.cmd("query-migrate")
        result = dict(info)
        src_serial.poll()
        last_src_tick = max(last_src_tick, src_serial.last_tick())
        if status != "completed":
            die(f"migration {status}: {info.get('error-desc', '')}", 1)

        # The guest must go on at the destination: ticks continue past the source's last one.
        after_deadline = time.monotonic() + max(a.after, 1.0) + 30
        continued = None
        while time.monotonic() < after_deadline and dst.poll() is None:
            dst_serial.poll()
            if dst_serial.last_tick() > last_src_tick:
                continued = dst_serial.last_tick()
                break
            time.sleep(0.05)
        first_dst_tick = continued
        time.sleep(a.after)
        verify_pass = None
        if workload == "verify" and continued is not None:
            # A full pass that started after the migration: the second "pass ok" seen at the
            # destination (the first may have begun on the source).
            passes = 0
            end = time.monotonic() + 600
            while time.monotonic() < end and dst.poll() is None and passes < 2:
                for line in dst_serial.poll():
                    if PASS_OK.match(line):
                        passes += 1
                        verify_pass = line
                    if BAD.search(line):
                        break
                time.sleep(0.05)
            if passes < 2:
                verify_pass = None
        dst_serial.poll()
        bad = [l for l in dst_serial.lines + src_serial.lines if BAD.search(l)]
        ok = continued is not None and not bad and (workload != "verify" or verify_pass is not None)
        result["x-d3vm"] = {
            "qemu": f"{ver[0]}.{ver[1]}.{version['micro']}",
            "qemu-binary": a.qemu,
            "accel": a.accel,
            "bios": a.bios,
            "mem-mib": a.mem,
            "guest-cmdline": cmdline,
            "image": a.image,
            "parameters": params,
            "source-boot-seconds": round(boot_s, 3),
            "migrate-wall-ms": round(wall_ms, 1),
            "query-migrate-polls": samples,
            "source-last-tick": last_src_tick,
            "destination-first-tick": first_dst_tick,
            "destination-last-tick": dst_serial.last_tick(),
            "destination-verify-pass": verify_pass,
            "guest-errors": bad[:10],
            "guest-continued": ok,
            "log-dir": log_dir,
        }
        if heartbeats:
            # QEMU's own downtime ends at the source; this one ends when the guest runs again.
            result["x-d3vm"]["heartbeat"] = heartbeats.summary()
            result["observed-downtime"] = result["x-d3vm"]["heartbeat"]["observed-downtime"]
        quit_sent = True
        for q in (qs, qd):
            try:
                q.cmd("quit")
            except (RuntimeError, OSError):
                pass
    finally:
        for p in procs:
            if not quit_sent:
                p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if heartbeats:
            heartbeats.close()
        if result and a.out:
            with open(a.out, "w") as f:
                json.dump(result, f, indent=2)
                f.write("\n")

    ram = result.get("ram", {})
    x = result["x-d3vm"]
    print(f"qemu-migrate: QEMU {x['qemu']} {a.accel} {a.mem} MiB '{cmdline}': status={result['status']} "
          f"total-time={result.get('total-time')} ms downtime={result.get('downtime')} ms "
          f"observed-downtime={result.get('observed-downtime')} ms "
          f"setup-time={result.get('setup-time')} ms transferred={ram.get('transferred')} B "
          f"duplicate={ram.get('duplicate')} normal={ram.get('normal')} pages "
          f"dirty-sync-count={ram.get('dirty-sync-count')} mbps={ram.get('mbps')}")
    print(f"qemu-migrate: guest ticks source<= {x['source-last-tick']} destination {x['destination-first-tick']}.."
          f"{x['destination-last-tick']}" + (f", after migration: {x['destination-verify-pass']}"
                                              if workload == "verify" else "")
          + ("" if ok else f"; PROBLEM: {x['guest-errors'] or 'guest did not continue'} (logs: {log_dir})"))
    if a.out:
        print(f"qemu-migrate: wrote {a.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
