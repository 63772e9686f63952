package io.d3vm.cli;

import io.d3vm.api.ApiServer;
import io.d3vm.api.ConsoleTap;
import io.d3vm.migration.transport.Listener;
import io.d3vm.vmm.vstate.Vm;
import io.d3vm.vmm.vstate.VmOutcome;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A VM that {@code receive} took over and now runs: serves its control API (if asked) and watches
 * how it ends. If the guest powers off or fails, the receiver's listener is closed so that
 * {@code receive} exits with the guest's exit code; if it migrated on, {@code receive} keeps
 * listening (or, with {@code --once}, exits 0).
 */
final class ReceivedVm {
    private final CompletableFuture<Integer> exitCode = new CompletableFuture<>();
    private volatile boolean replaced;
    private volatile boolean endedOnItsOwn;
    private volatile ApiServer api;

    private ReceivedVm() {}

    static ReceivedVm watch(Vm vm, ConsoleTap tap, Path apiSocket, Listener listener, PrintWriter out, PrintWriter err)
            throws IOException {
        return start(vm, tap, apiSocket, null, listener, err);
    }

    /**
     * A verified VM held paused after an unconfirmed hand-over (the source's GO did not arrive):
     * served on {@code apiSocket} (always: the API is the only way to run or discard it), where
     * {@code cont} runs it here and {@code quit} ends it; until then it stays paused.
     */
    static ReceivedVm hold(Vm vm, ConsoleTap tap, Path apiSocket, String why, Listener listener, PrintWriter err)
            throws IOException {
        return start(vm, tap, apiSocket, why, listener, err);
    }

    private static ReceivedVm start(Vm vm, ConsoleTap tap, Path apiSocket, String held, Listener listener, PrintWriter err)
            throws IOException {
        ReceivedVm w = new ReceivedVm();
        // The API first: whoever sees the guest's console continue can reach it at once.
        ApiServer api = apiSocket == null ? null : VmApi.serve(apiSocket, vm, tap, held, err);
        w.api = api;
        if (tap != null) {
            tap.release();
        }
        Thread.ofPlatform().name("received-vm").daemon().start(() -> w.follow(vm, api, listener, err));
        return w;
    }

    private void follow(Vm vm, ApiServer api, Listener listener, PrintWriter err) {
        try {
            VmOutcome outcome = vm.awaitOutcome();
            boolean neverResumed = api != null && api.holdingPaused();
            String to = VmApi.end(api, outcome);
            if (to != null) {
                err.println("d3vm: the guest migrated live to " + to + " and runs there; it has ended here");
                exitCode.complete(0);
            } else if (replaced) {
                exitCode.complete(0);
            } else {
                // A held guest cannot migrate on or be replaced: it ends here too (quit without cont).
                err.println(neverResumed ? "d3vm: the guest held after the unconfirmed hand-over was ended without being resumed here"
                        : "d3vm: " + outcome.describe());
                endedOnItsOwn = true;
                exitCode.complete(neverResumed ? ExitCode.UNCONFIRMED : outcome.exitCode());
                closeQuietly(listener);
            }
            err.flush();
        } catch (InterruptedException | RuntimeException | Error e) {
            err.println("d3vm: lost track of the received VM: " + e);
            err.flush();
            exitCode.complete(1);
        }
    }

    private static void closeQuietly(Listener listener) {
        try {
            listener.close(); // wakes receive's accept(): the process ends with the guest
        } catch (IOException ignored) {
            // already closed
        }
    }

    /** True while the VM is held paused after an unconfirmed hand-over (no cont yet). */
    boolean held() {
        ApiServer a = api;
        return a != null && a.holdingPaused() && !exitCode.isDone();
    }

    /** The receiver shuts this VM down itself (a new migration arrives, or it exits). */
    void replaced() {
        replaced = true;
    }

    /** True once the guest powered off, reset or failed here (not migrated away, not replaced). */
    boolean endedOnItsOwn() {
        return exitCode.isDone() && endedOnItsOwn;
    }

    /** Waits until the VM ends: the guest's exit code, or 0 when it migrated on. */
    int awaitExitCode() throws InterruptedException {
        try {
            return exitCode.get();
        } catch (ExecutionException e) {
            return 1;
        }
    }

    int exitCode() {
        return exitCode.join();
    }
}
