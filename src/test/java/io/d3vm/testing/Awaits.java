package io.d3vm.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * How a test waits: it polls a condition until it holds or a deadline passes, and then fails
 * saying what it waited for. Never a bare sleep followed by an assertion: a sleep is either too
 * short on a loaded machine (a flaky test) or longer than needed everywhere else.
 */
public final class Awaits {
    /** Long enough for anything a test waits on here; reached only when something is wrong. */
    public static final Duration DEFAULT = Duration.ofSeconds(20);
    private static final long POLL_MILLIS = 2;
    /** Between checks that ask another thread or process (an API call): they cost it work. */
    private static final long CHECKED_POLL_MILLIS = 20;

    private Awaits() {}

    /** Polls {@code done} until it returns true; fails naming {@code what} after {@code timeout}. */
    public static void until(String what, Duration timeout, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("waited " + timeout.toMillis() + " ms for " + what);
            }
            Thread.sleep(POLL_MILLIS);
        }
    }

    /** A condition whose check may fail with an exception (a call over a socket). */
    @FunctionalInterface
    public interface Check {
        boolean holds() throws Exception;
    }

    /** As {@link #until}, for a check that may throw (the exception ends the wait). */
    public static void untilChecked(String what, Duration timeout, Check done) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!done.holds()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("waited " + timeout.toMillis() + " ms for " + what);
            }
            Thread.sleep(CHECKED_POLL_MILLIS);
        }
    }

    /** {@link #until} with {@link #DEFAULT}. */
    public static void until(String what, BooleanSupplier done) throws InterruptedException {
        until(what, DEFAULT, done);
    }

    /**
     * Waits until {@code counter} (a guest's writes, ticks, ...) moves past the value it has now:
     * proof that what drives it runs. Returns the new value.
     */
    public static long advances(String what, LongSupplier counter) throws InterruptedException {
        long from = counter.getAsLong();
        until(what + " to advance past " + from, () -> counter.getAsLong() > from);
        return counter.getAsLong();
    }
}
