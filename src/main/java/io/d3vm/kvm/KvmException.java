package io.d3vm.kvm;

import io.d3vm.sys.SysException;

/**
 * A KVM ioctl failed: the message names the ioctl and the errno
 * (e.g. {@code KVM_SET_USER_MEMORY_REGION failed: EINVAL (errno 22)}), plus what was being done
 * when that helps the reader.
 */
public final class KvmException extends SysException {
    private final String ioctl;

    public KvmException(String ioctl, int errno) {
        super(ioctl, errno);
        this.ioctl = ioctl;
    }

    /** The name of the failed ioctl, as in {@code linux/kvm.h}. */
    public String ioctl() {
        return ioctl;
    }
}
