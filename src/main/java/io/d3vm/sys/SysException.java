package io.d3vm.sys;

/**
 * A failed libc or kernel call: names the call and carries the errno, so every error message says
 * which operation failed and why (e.g. {@code KVM_SET_USER_MEMORY_REGION failed: EINVAL (errno 22)}).
 */
public class SysException extends RuntimeException {
    private final int errno;

    public SysException(String call, int errno) {
        super(call + " failed: " + Errno.describe(errno));
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
