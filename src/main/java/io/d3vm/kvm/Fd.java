package io.d3vm.kvm;

import io.d3vm.sys.LibC;

import java.lang.foreign.MemorySegment;

/** The one place where KVM ioctls are issued: EINTR is retried, other errors name the ioctl. */
final class Fd {
    private Fd() {}

    static int ioctl(int fd, long request, MemorySegment arg, String name) {
        while (true) {
            int rc = LibC.ioctlRaw(fd, request, arg);
            if (rc >= 0) {
                return rc;
            }
            if (-rc != LibC.EINTR) {
                throw new KvmException(name, -rc);
            }
        }
    }

    static int ioctl(int fd, long request, long arg, String name) {
        while (true) {
            int rc = LibC.ioctlRaw(fd, request, arg);
            if (rc >= 0) {
                return rc;
            }
            if (-rc != LibC.EINTR) {
                throw new KvmException(name, -rc);
            }
        }
    }
}
