package io.d3vm.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A userfaultfd: missing pages of a registered anonymous range are reported to this process
 * instead of being zero-filled by the kernel, and the thread that touched one — a vCPU inside
 * {@code KVM_RUN} included — waits until the page is supplied with {@link #copy} or
 * {@link #zeroPage}. Post-copy's destination registers the guest pages it does not hold yet.
 *
 * <p>Opened through {@code /dev/userfaultfd} (root-only on these hosts), without
 * {@code UFFD_USER_MODE_ONLY}: faults taken by the kernel on the guest's behalf (KVM's page
 * lookups, its instruction emulator) must be reported too. One thread waits for faults
 * ({@link #awaitFaults}); any thread may supply pages. {@link #interrupt} wakes the waiter.
 */
public final class Userfaultfd implements AutoCloseable {
    public static final String DEVICE = "/dev/userfaultfd";

    // From <linux/userfaultfd.h> (_IOWR/_IOR/_IO of type 0xAA), checked against the C header.
    private static final long USERFAULTFD_IOC_NEW = 0xaa00L;
    private static final long UFFDIO_API = 0xc018aa3fL;
    private static final long UFFDIO_REGISTER = 0xc020aa00L;
    private static final long UFFDIO_UNREGISTER = 0x8010aa01L;
    private static final long UFFDIO_COPY = 0xc028aa03L;
    private static final long UFFDIO_ZEROPAGE = 0xc020aa04L;
    private static final long UFFD_API = 0xaa;
    private static final long UFFDIO_REGISTER_MODE_MISSING = 1;
    private static final int UFFD_EVENT_PAGEFAULT = 0x12;
    /** {@code struct uffd_msg}: event (u8) ... pagefault.flags at 8, pagefault.address at 16. */
    private static final long MSG_SIZE = 32;
    private static final long MSG_ADDRESS = 16;
    private static final int MAX_MESSAGES = 64;
    private static final int EEXIST = 17;
    private static final int O_NONBLOCK = 0x800;

    private final int fd;
    private final int wakeFd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment messages = arena.allocate(MSG_SIZE * MAX_MESSAGES, 8);
    private final MemorySegment pollFds = arena.allocate(2 * LibC.POLLFD_SIZE, 8);
    private volatile boolean closed;

    private Userfaultfd(int fd, int wakeFd) {
        this.fd = fd;
        this.wakeFd = wakeFd;
        pollFds.set(JAVA_INT, 0, fd);
        pollFds.set(JAVA_SHORT, 4, LibC.POLLIN);
        pollFds.set(JAVA_INT, LibC.POLLFD_SIZE, wakeFd);
        pollFds.set(JAVA_SHORT, LibC.POLLFD_SIZE + 4, LibC.POLLIN);
    }

    /** Opens a userfaultfd and negotiates the API; throws {@link SysException} naming the step that failed. */
    public static Userfaultfd open() {
        int device = LibC.open(DEVICE, LibC.O_RDWR | LibC.O_CLOEXEC);
        int fd;
        try {
            fd = LibC.ioctlRaw(device, USERFAULTFD_IOC_NEW, (long) (LibC.O_CLOEXEC | O_NONBLOCK));
        } finally {
            LibC.close(device);
        }
        if (fd < 0) {
            throw new SysException("ioctl(USERFAULTFD_IOC_NEW)", -fd);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment api = a.allocate(24, 8);
            api.set(JAVA_LONG, 0, UFFD_API);
            check(LibC.ioctlRaw(fd, UFFDIO_API, api), "ioctl(UFFDIO_API)");
        } catch (RuntimeException e) {
            LibC.close(fd);
            throw e;
        }
        return new Userfaultfd(fd, LibC.eventfd(LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK));
    }

    /** Reports the missing pages of {@code range} (page-aligned, anonymous) from now on. */
    public void register(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment reg = a.allocate(32, 8);
            reg.set(JAVA_LONG, 0, range.address());
            reg.set(JAVA_LONG, 8, range.byteSize());
            reg.set(JAVA_LONG, 16, UFFDIO_REGISTER_MODE_MISSING);
            check(LibC.ioctlRaw(fd, UFFDIO_REGISTER, reg), "ioctl(UFFDIO_REGISTER)");
        }
    }

    /** Stops reporting faults in {@code range}: missing pages are zero-filled by the kernel again. */
    public void unregister(MemorySegment range) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(16, 8);
            r.set(JAVA_LONG, 0, range.address());
            r.set(JAVA_LONG, 8, range.byteSize());
            check(LibC.ioctlRaw(fd, UFFDIO_UNREGISTER, r), "ioctl(UFFDIO_UNREGISTER)");
        }
    }

    /**
     * Waits up to {@code timeoutMillis} for page faults and stores the faulting addresses (as the
     * kernel reports them, not page-aligned) in {@code addresses}; returns how many, 0 on timeout
     * or {@link #interrupt}.
     */
    public int awaitFaults(long[] addresses, int timeoutMillis) {
        LibC.poll(pollFds, 2, timeoutMillis);
        if ((pollFds.get(JAVA_SHORT, LibC.POLLFD_SIZE + 6) & LibC.POLLIN) != 0) {
            LibC.readRaw(wakeFd, messages.asSlice(0, 8)); // resets the eventfd's counter
        }
        int count = 0;
        long n = LibC.readRaw(fd, messages.asSlice(0, MSG_SIZE * Math.min(MAX_MESSAGES, addresses.length)));
        if (n < 0) {
            if (-n == LibC.EAGAIN || -n == LibC.EINTR) {
                return 0;
            }
            throw new SysException("read(userfaultfd)", (int) -n);
        }
        for (long off = 0; off + MSG_SIZE <= n; off += MSG_SIZE) {
            if ((messages.get(JAVA_BYTE, off) & 0xff) == UFFD_EVENT_PAGEFAULT) {
                addresses[count++] = messages.get(JAVA_LONG, off + MSG_ADDRESS);
            }
        }
        return count;
    }

    /**
     * Fills the missing page(s) at {@code destination} with {@code source}'s bytes and wakes the
     * threads waiting on them. Returns false when the page is already there (another path supplied
     * it first), which is not an error: every path supplies the same bytes.
     */
    public boolean copy(MemorySegment destination, MemorySegment source) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = a.allocate(40, 8);
            c.set(JAVA_LONG, 0, destination.address());
            c.set(JAVA_LONG, 8, source.address());
            c.set(JAVA_LONG, 16, destination.byteSize());
            return supplied(LibC.ioctlRaw(fd, UFFDIO_COPY, c), "ioctl(UFFDIO_COPY)");
        }
    }

    /** Maps the shared zero page at the missing page(s) of {@code destination}; false if already there. */
    public boolean zeroPage(MemorySegment destination) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment z = a.allocate(32, 8);
            z.set(JAVA_LONG, 0, destination.address());
            z.set(JAVA_LONG, 8, destination.byteSize());
            return supplied(LibC.ioctlRaw(fd, UFFDIO_ZEROPAGE, z), "ioctl(UFFDIO_ZEROPAGE)");
        }
    }

    /** Wakes the thread in {@link #awaitFaults} (it returns 0). */
    public void interrupt() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(JAVA_LONG);
            one.set(JAVA_LONG, 0, 1);
            LibC.write(wakeFd, one);
        }
    }

    private static boolean supplied(int rc, String call) {
        if (rc == -EEXIST) {
            return false;
        }
        check(rc, call);
        return true;
    }

    private static void check(int rc, String call) {
        if (rc < 0) {
            throw new SysException(call, -rc);
        }
    }

    /**
     * Closes the descriptor: the kernel then resolves every fault still waiting (and every later
     * one) by zero-filling, so close only after every registered page is supplied or unregistered.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        LibC.close(fd);
        LibC.close(wakeFd);
        arena.close();
    }
}
