package io.d3vm.cli;

import io.d3vm.api.ApiException;
import io.d3vm.api.ApiServer;
import io.d3vm.memory.ElfCoreWriter;
import io.d3vm.vmm.vstate.Vm;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * {@code run --dump-memory FILE [--dump-after DURATION]}: writes the running guest's memory once,
 * as an ELF core ({@link ElfCoreWriter}), either at a set time while it runs or when it ends. This
 * is how a d3vm guest's own memory reaches {@code d3vm analyze} and the benchmarks.
 *
 * <p>While the guest runs, the dump goes through the control API when there is one, which refuses
 * it during a migration (both pause and resume the guest); without an API nothing else pauses the
 * VM, so the dump pauses it directly.
 */
final class MemoryDump {
    private final Path file;
    private final Vm vm;
    private final ApiServer api;
    private final PrintWriter err;
    private boolean done;

    MemoryDump(Path file, Vm vm, ApiServer api, PrintWriter err) {
        this.file = file;
        this.vm = vm;
        this.api = api;
        this.err = err;
    }

    /** Dumps {@code millis} after now, on a daemon thread, unless the guest has ended by then. */
    void scheduleAfter(long millis) {
        Thread.ofPlatform().daemon().name("memory-dump").start(() -> {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                return;
            }
            whileRunning();
        });
    }

    private synchronized void whileRunning() {
        if (done || vm.outcomeNow() != null) {
            return; // the guest ended first: atEnd writes it
        }
        long start = System.nanoTime();
        try {
            ElfCoreWriter.Result r;
            if (api != null) {
                r = api.dumpGuestMemory(file);
            } else {
                vm.pause();
                try {
                    r = ElfCoreWriter.write(vm.memory(), file);
                } finally {
                    vm.resume();
                }
            }
            done = true;
            report(r, String.format("the guest was paused %.0f ms and runs on", (System.nanoTime() - start) / 1e6));
        } catch (ApiException | IOException e) {
            done = true; // one attempt: a full disk does not get better by retrying at the end
            err.println("d3vm: --dump-memory: could not write " + file + ": " + e.getMessage());
            err.flush();
        }
    }

    /** Called once the guest has ended (its vCPUs are stopped): dumps now if it has not happened. */
    synchronized void atEnd() {
        if (done) {
            return;
        }
        done = true;
        try {
            report(ElfCoreWriter.write(vm.memory(), file), "when the guest ended");
        } catch (IOException e) {
            err.println("d3vm: --dump-memory: could not write " + file + ": " + e.getMessage());
            err.flush();
        }
    }

    private void report(ElfCoreWriter.Result r, String when) {
        err.printf("d3vm: wrote the guest's memory to %s (ELF core of %d MiB, %d pages, %d non-zero ones"
                        + " written, zero pages left as holes); %s; `d3vm analyze %s` classifies it%n", r.path(), r.fileBytes() >> 20, r.pages(),
                r.pagesWritten(), when, r.path());
        err.flush();
    }
}
