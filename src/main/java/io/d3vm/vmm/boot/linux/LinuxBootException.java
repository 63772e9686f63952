package io.d3vm.vmm.boot.linux;

/**
 * A kernel, initramfs, command line or memory size that the Linux boot protocol cannot boot. The
 * message says what failed and what to do; the CLI prints it as is.
 */
public final class LinuxBootException extends RuntimeException {
    public LinuxBootException(String message) {
        super(message);
    }

    public LinuxBootException(String message, Throwable cause) {
        super(message, cause);
    }
}
