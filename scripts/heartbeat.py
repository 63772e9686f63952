"""Guest-observed downtime: host-side timestamps of the test guest's heartbeat bytes.

The test guest with `heartbeat=1` writes one byte to the ISA debug port 0xe9 on every PIT tick
(`hz=1000`: every millisecond). The source and the destination VMM each send those bytes to a FIFO
(d3vm: `run/receive --debugcon FIFO`; QEMU: `-chardev file,path=FIFO -device isa-debugcon`), and one
thread here stamps every read with CLOCK_MONOTONIC, the clock both VMMs' processes share on this
host. The pause the guest lived through is the gap between the source's last heartbeat and the
destination's first: `observed-downtime`, measured the same way for every VMM, including the
destination's load and resume that a VMM's own `downtime` may leave out.

Used by bench_migration.py (d3vm) and qemu_migrate.py (QEMU).
"""
import os
import select
import threading
import time


class Heartbeats:
    """Reads FIFOs named by role ("src", "dst") and keeps (monotonic ns, bytes) per read."""

    def __init__(self, paths):
        self.paths = dict(paths)
        self.stamps = {role: [] for role in self.paths}
        self.fds = {}
        for role, path in self.paths.items():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            os.mkfifo(path)
            # Non-blocking, so opening does not wait for the VMM; the VMM's open then does not wait either.
            self.fds[role] = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
        self.thread.start()

    def _run(self):
        poller = select.poll()
        by_fd = {}
        for role, fd in self.fds.items():
            poller.register(fd, select.POLLIN)
            by_fd[fd] = role
        while not self.stop_flag and by_fd:
            for fd, ev in poller.poll(100):
                now = time.monotonic_ns()
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if data:
                    self.stamps[by_fd[fd]].append((now, len(data)))
                elif ev & select.POLLHUP:
                    # The writer closed (its VMM ended): stop watching, or poll would spin on HUP.
                    poller.unregister(fd)
                    del by_fd[fd]

    def close(self):
        self.stop_flag = True
        self.thread.join(2)
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass

    def count(self, role):
        return sum(n for _, n in self.stamps[role])

    def observed_downtime_ms(self, src="src", dst="dst"):
        """Milliseconds from the source's last heartbeat to the destination's first, or None."""
        s, d = self.stamps.get(src), self.stamps.get(dst)
        if not s or not d:
            return None
        return round((d[0][0] - s[-1][0]) / 1e6, 3)

    def largest_gap_ms(self, role):
        """The longest silence between two heartbeats of one side (ms), e.g. pre-copy stalls."""
        st = self.stamps.get(role) or []
        gaps = [(b[0] - a[0]) for a, b in zip(st, st[1:])]
        return round(max(gaps) / 1e6, 3) if gaps else None

    def summary(self):
        return {
            "observed-downtime": self.observed_downtime_ms(),
            "heartbeats-source": self.count("src"),
            "heartbeats-destination": self.count("dst"),
            "largest-gap-source": self.largest_gap_ms("src"),
            "largest-gap-destination": self.largest_gap_ms("dst"),
        }
