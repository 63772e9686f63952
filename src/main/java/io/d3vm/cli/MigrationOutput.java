package io.d3vm.cli;

import io.d3vm.memory.Sizes;
import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.send.SendProgress;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * What the migration commands print: a live progress line (redrawn in place on a terminal, a plain
 * line every few seconds otherwise), the short human summary, and the JSON report file.
 */
final class MigrationOutput {
    private MigrationOutput() {}

    /** {@code --report -}: the JSON goes to stdout, and the human output to stderr. */
    static boolean toStdout(Path file) {
        return file != null && file.toString().equals("-");
    }

    /**
     * Writes the report as JSON to {@code file}, or to {@code out} for {@code -}; a
     * failure to write is reported but does not change the outcome.
     */
    static void writeReport(Path file, MigrationReport report, PrintWriter out, PrintWriter err) {
        if (file == null) {
            return;
        }
        if (toStdout(file)) {
            out.println(report.toJsonString());
            out.flush();
            return;
        }
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(file, report.toJsonString() + "\n");
        } catch (IOException e) {
            err.println("d3vm: could not write the report to " + file + ": " + CliValues.reason(e));
        }
    }

    static String summary(MigrationReport r) {
        StringBuilder b = new StringBuilder();
        long dispensable = r.dispensablePages();
        if (r.status == MigrationStatus.COMPLETED) {
            if (r.downtimeUs != null) {
                b.append(String.format(Locale.ROOT, "migration completed in %.2f s (setup %.0f ms, downtime %.0f ms of which digest %.0f ms)%n",
                        r.totalTimeUs / 1e6, r.setupTimeUs / 1e3, r.downtimeUs / 1e3, nz(r.digestTimeUs)));
                if (r.downtimeLimitUs != null && r.downtimeUs > r.downtimeLimitUs) {
                    b.append(String.format(Locale.ROOT, "  the pause (%.0f ms) went past --downtime-limit (%.0f ms)%s%n",
                            r.downtimeUs / 1e3, r.downtimeLimitUs / 1e3,
                            r.stopReason == null ? "" : ": pre-copy stopped on " + r.stopReason));
                }
            } else {
                // The destination cannot see when the source paused: the downtime is the source's figure.
                b.append(String.format(Locale.ROOT, "migration completed in %.2f s (setup %.0f ms, digest here %.0f ms;"
                        + " the downtime is in the source's summary)%n", r.totalTimeUs / 1e6, r.setupTimeUs / 1e3, nz(r.digestTimeUs)));
            }
        } else {
            // The error itself is the command's one "d3vm: ..." line on stderr; here only what happened before it.
            String what = switch (r.status) {
                case CANCELLED -> "migration CANCELLED";
                case UNCONFIRMED -> "hand-over UNCONFIRMED";
                default -> "migration FAILED";
            };
            b.append(String.format(Locale.ROOT, "%s after %.2f s%n", what, r.totalTimeUs / 1e6));
            if (r.ramTransferred == 0) {
                return b.toString();     // nothing crossed: no page counts, no guest size that was never known
            }
        }
        String done = r.status == MigrationStatus.COMPLETED ? "" : "before that: ";
        String guest = r.ramTotal == 0 ? "" : String.format(Locale.ROOT, " of a %s guest (%.1f %%)",
                Sizes.format(r.ramTotal), 100.0 * r.ramTransferred / r.ramTotal);
        b.append(String.format(Locale.ROOT, "  %s%s %s%s, %d rounds%s, %.0f Mbit/s%n", done,
                "source".equals(r.role) ? "sent" : "received", Sizes.format(r.ramTransferred), guest, r.rounds.size(),
                r.stopReason == null ? "" : " (stop: " + r.stopReason + ")", r.mbps()));
        b.append(String.format(Locale.ROOT, "  pages: normal %d, zero %d, uniform %d, unpopulated %d (%d dispensable)",
                r.pagesByClass[0], r.pagesByClass[1], r.pagesByClass[2], r.pagesByClass[3], dispensable));
        if (r.detector != null) {
            b.append(String.format(Locale.ROOT, "; detector %s: %.0f ms, %d sampler misses (caught by the full check)", r.detector,
                    r.detectorNanos == null ? 0 : r.detectorNanos / 1e6, r.samplerMisses == null ? 0 : r.samplerMisses));
        }
        b.append('\n');
        if (r.savings != null && (r.savings.duplicatePages() > 0 || r.savings.bytesBefore() > 0)) {
            io.d3vm.migration.report.SavingsRecord sv = r.savings;
            b.append(String.format(Locale.ROOT, "  beyond D3: %d pages as references to content the destination held", sv.duplicatePages()));
            if (sv.bytesBefore() > 0) {
                b.append(String.format(Locale.ROOT, "; %s of page data %s %s", Sizes.format(sv.bytesBefore()),
                        "source".equals(r.role) ? "compressed to" : "inflated from", Sizes.format(sv.bytesAfter())));
                if (sv.codec() != null) {
                    b.append(sv.level() > 0
                            ? String.format(Locale.ROOT, " (%s up to level %d, %.0f ms)", sv.codec(), sv.level(), sv.compressUs() / 1e3)
                            : String.format(Locale.ROOT, " (%s, %.0f ms)", sv.codec(), sv.compressUs() / 1e3));
                }
            }
            b.append('\n');
        }
        if (r.link != null && r.link.busyUs() > 0) {
            io.d3vm.migration.report.LinkRecord l = r.link;
            b.append(String.format(Locale.ROOT, "  link (the kernel's TCP): data in flight %.0f ms, held back by the receiver's window %.0f %%, "
                            + "by the send buffer %.0f %%; TCP's last delivery-rate sample %.0f Mbit/s, RTT %.2f ms%n", l.busyUs() / 1e3,
                    100.0 * l.receiverLimitedUs() / l.busyUs(), 100.0 * l.sendBufferLimitedUs() / l.busyUs(),
                    l.deliveryRateBytesPerSecond() * 8 / 1e6, l.rttUs() / 1e3));
        }
        if (r.autoConverge && r.cpuThrottlePercentage() > 0) {
            b.append(String.format(Locale.ROOT, "  auto-converge: the guest was throttled for %.1f s, up to %d %%%n",
                    r.throttleTimeUs / 1e6, r.cpuThrottlePercentage()));
        }
        if (r.postcopy != null) {
            io.d3vm.migration.report.PostcopyRecord pc = r.postcopy;
            b.append(String.format(Locale.ROOT, "  post-copy: %d pages in %.0f ms after the guest ran at the destination, %d fetched on fault",
                    pc.pages(), pc.timeUs() / 1e3, pc.requests()));
            if (pc.latencyMaxUs() != null) {
                b.append(String.format(Locale.ROOT, " (latency p50 %.1f ms, p99 %.1f ms), %d zero-filled there", pc.latencyP50Us() / 1e3,
                        pc.latencyP99Us() / 1e3, pc.faultsLocal()));
            }
            b.append(System.lineSeparator());
        }
        if (r.digestMatch != null) {
            b.append("  digest match: ").append(r.digestMatch ? "yes" : "NO");
            if (r.digest != null) {
                b.append(String.format(Locale.ROOT, " (0x%016x)", r.digest));
            }
            b.append('\n');
        }
        return b.toString();
    }

    private static double nz(Long micros) {
        return micros == null ? 0 : micros / 1e3;
    }

    /**
     * Prints progress until stopped: redraws one line on a terminal, else a plain line every few
     * seconds (logs and CI stay readable).
     */
    static final class ProgressPrinter implements AutoCloseable {
        private final Thread thread;
        private final boolean terminal;
        private final PrintWriter out;
        private volatile boolean done;

        ProgressPrinter(Supplier<SendProgress> source, PrintWriter out, boolean terminal) {
            this.out = out;
            this.terminal = terminal;
            this.thread = Thread.ofPlatform().daemon().name("progress").start(() -> loop(source));
        }

        private void loop(Supplier<SendProgress> source) {
            long lastBytes = 0;
            long lastTime = System.nanoTime();
            long period = terminal ? 250 : 2000;
            while (!done) {
                try {
                    Thread.sleep(period);
                } catch (InterruptedException e) {
                    return;
                }
                if (done) {
                    return;
                }
                SendProgress p = source.get();
                long now = System.nanoTime();
                double rate = (p.bytesSent() - lastBytes) / ((now - lastTime) / 1e9);
                lastBytes = p.bytesSent();
                lastTime = now;
                String line = String.format(Locale.ROOT, "%-13s round %2d %5.1f %%  %9s/s  sent %9s  remaining %6d pages + %d dirty  %5.1f s",
                        p.phase(), p.round(), p.percent(), Sizes.format((long) rate), Sizes.format(p.bytesSent()),
                        Math.max(0, p.roundPages() - p.roundPagesDone()), p.dirtyPages(), p.elapsedNanos() / 1e9);
                synchronized (out) {
                    if (terminal) {
                        out.print("\r" + line + "\u001b[K");
                    } else {
                        out.println(line);
                    }
                    out.flush();
                }
            }
        }

        @Override
        public void close() {
            done = true;
            thread.interrupt();
            try {
                thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (terminal) {
                synchronized (out) {
                    out.print("\r\u001b[K");
                    out.flush();
                }
            }
        }
    }
}
