package io.d3vm.sys;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Gives the process its real standard error back after the JVM has booted.
 *
 * <p>The detectors use the Vector API, an incubator module, and the JVM prints
 * {@code WARNING: Using incubator modules: jdk.incubator.vector} on standard error while it boots,
 * before any of our code runs; no JVM option turns that line off. The {@code d3vm} launcher
 * therefore starts the JVM with standard error on a filter that drops exactly that line and keeps
 * the real standard error as another descriptor (system property {@code d3vm.stderr.fd}). The
 * first thing {@code main} does is {@link #restore()}: {@code dup2} that descriptor onto 2, which
 * closes the filter's pipe (the filter then exits). From then on everything — Java, the JVM's own
 * messages, child processes — writes to the terminal directly. Anything the JVM prints before
 * {@code main} (a bad option, a failed start) still goes through the filter, so nothing but that
 * one line is lost. docs/CLI.md, "Output", says the same for users.
 */
public final class BootStderr {
    public static final String PROPERTY = "d3vm.stderr.fd";
    private static final int STDERR = 2;

    private BootStderr() {}

    /** Does nothing unless the launcher handed over a descriptor; never throws. */
    public static void restore() {
        String fd = System.getProperty(PROPERTY);
        if (fd == null) {
            return;
        }
        try {
            int saved = Integer.parseInt(fd);
            Linker linker = Linker.nativeLinker();
            MethodHandle dup2 = linker.downcallHandle(linker.defaultLookup().find("dup2").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
            MethodHandle close = linker.downcallHandle(linker.defaultLookup().find("close").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT));
            if ((int) dup2.invokeExact(saved, STDERR) == STDERR) {
                int ignored = (int) close.invokeExact(saved);
            }
        } catch (Throwable e) {
            // Standard error stays the filter's pipe: every line still arrives, only later.
        }
    }
}
