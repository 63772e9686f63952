package io.d3vm.migration.send;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.transport.Transport;

import java.net.InetSocketAddress;
import java.util.function.Consumer;

/**
 * What a source does when its post-copy broke after GO ({@code postcopy-paused}): it holds the only
 * copy of the pages not yet delivered, so it does not give up — it reconnects and resumes
 * ({@link MigrationSender#resume}) once a second until the post-copy completes (the destination's
 * {@code receive} waits for exactly that) or the thread is interrupted. The CLI's {@code migrate}
 * and the control API's migration job both use it.
 */
public final class PostcopyRecovery {
    /** How long a broken post-copy waits between attempts to resume it. */
    public static final long RETRY_MILLIS = 1000;

    private PostcopyRecovery() {}

    /**
     * Resumes until done. Returns true once the post-copy completed; false at once when the
     * migration is not {@code postcopy-paused} (any other failure), when the audit after it found a
     * mismatch, or when interrupted. {@code say} gets one line per event worth telling an operator.
     */
    public static boolean resumeUntilDone(MigrationSender sender, Transport transport, InetSocketAddress to, int connectTimeoutMillis,
                                          Consumer<String> say) {
        if (sender.report().status != MigrationStatus.POSTCOPY_PAUSED) {
            return false;
        }
        say.accept(sender.report().error);
        say.accept("resuming it: this side keeps the pages the destination lacks and reconnects every " + RETRY_MILLIS / 1000
                + " s until the post-copy completes (stopping it loses those pages)");
        for (int attempt = 1; sender.report().status == MigrationStatus.POSTCOPY_PAUSED; attempt++) {
            try {
                Thread.sleep(RETRY_MILLIS);
                sender.resume(transport, to, connectTimeoutMillis);
                say.accept("post-copy resumed and completed (attempt " + attempt + ")");
                return true;
            } catch (AuditMismatchException e) {
                return false;
            } catch (MigrationException e) {
                // still postcopy-paused (the loop tries again) or ended otherwise (the loop ends); said now and then
                if (attempt <= 3 || attempt % 30 == 0) {
                    say.accept("resume attempt " + attempt + " failed: " + e.getMessage());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }
}
