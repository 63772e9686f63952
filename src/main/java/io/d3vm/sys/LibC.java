package io.d3vm.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The few libc calls d3vm needs, bound through the Foreign Function &amp; Memory API.
 *
 * <p>Every call captures {@code errno} and turns a failure into a {@link SysException} naming
 * the call and the errno, so callers never see a raw {@code -1}. Used by {@code memory} (mmap,
 * madvise, mincore) and {@code kvm} (open, ioctl, mmap of {@code kvm_run}).
 */
public final class LibC {
    public static final int O_RDONLY = 0x0;
    public static final int O_RDWR = 0x2;
    public static final int O_CLOEXEC = 0x80000;

    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;

    public static final int MADV_DONTNEED = 4;
    public static final int MADV_HUGEPAGE = 14;

    public static final int EINTR = 4;
    public static final int EAGAIN = 11;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CALL_STATE.varHandle(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle OPEN = bind("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle IOCTL_LONG = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_PTR = bind("ioctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MMAP = bind("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = bind("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle MADVISE = bind("madvise",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle MINCORE = bind("mincore",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle GETPID = LINKER.downcallHandle(
            LIBC.find("getpid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETTID = LINKER.downcallHandle(
            LIBC.find("gettid").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle TGKILL = bind("tgkill",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETPRIORITY = bind("setpriority",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SIGACTION = bind("sigaction",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle MEMCPY = LINKER.downcallHandle(LIBC.find("memcpy").orElseThrow(),
            FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = bind("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle POLL = bind("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle EVENTFD = bind("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SOCKET = bind("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SIGRTMIN = LINKER.downcallHandle(
            LIBC.find("__libc_current_sigrtmin").orElseThrow(), FunctionDescriptor.of(JAVA_INT));

    /**
     * glibc x86-64 {@code struct sigaction}: handler (8), sa_mask (sigset_t, 128), sa_flags (int),
     * 4 bytes padding, sa_restorer (8) = 152 bytes.
     */
    private static final long SIGACTION_SIZE = 152;
    private static final long SA_FLAGS_OFFSET = 8 + 128;

    private static final long MAP_FAILED = -1L;

    private LibC() {}

    private static MethodHandle bind(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] opts = new Linker.Option[extra.length + 1];
        opts[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, opts, 1, extra.length);
        MemorySegment sym = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(sym, fd, opts);
    }

    /** A per-thread errno capture buffer: downcalls on many threads must not share one. */
    private static final ThreadLocal<MemorySegment> STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CALL_STATE));

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    /** Opens a path with {@code flags} (e.g. {@link #O_RDWR} | {@link #O_CLOEXEC}); returns the file descriptor. */
    public static int open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = STATE.get();
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path), flags);
            if (fd < 0) {
                throw new SysException("open(" + path + ")", errno(state));
            }
            return fd;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void close(int fd) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) CLOSE.invokeExact(state, fd);
            if (rc < 0) {
                throw new SysException("close", errno(state));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * ioctl that reports errno instead of throwing: returns {@code rc} when non-negative, else
     * {@code -errno}. For {@code KVM_RUN}, where EINTR/EAGAIN are normal control flow.
     */
    public static int ioctlRaw(int fd, long request, long arg) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) IOCTL_LONG.invokeExact(state, fd, request, arg);
            return rc >= 0 ? rc : -errno(state);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** mmap; the returned segment has the mapping's size (unbounded raw address made safe by size). */
    public static MemorySegment mmap(long length, int prot, int flags, int fd, long offset) {
        try {
            MemorySegment state = STATE.get();
            MemorySegment addr = (MemorySegment) MMAP.invokeExact(state, MemorySegment.NULL, length, prot, flags, fd, offset);
            if (addr.address() == MAP_FAILED) {
                throw new SysException("mmap(" + length + " bytes)", errno(state));
            }
            // SAFETY: mmap succeeded, so [addr, addr+length) is mapped until munmap.
            return addr.reinterpret(length);
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** Anonymous private zero-filled memory, not reserved against swap: pages are backed on first touch. */
    public static MemorySegment mmapAnonymous(long length) {
        return mmap(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }

    /**
     * Maps the first {@code length} bytes of a file read-only and private (a memory image to
     * analyse); the descriptor is closed at once, the mapping lives until {@link #munmap}.
     */
    public static MemorySegment mmapFileReadOnly(String path, long length) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        try {
            return mmap(length, PROT_READ, MAP_PRIVATE, fd, 0);
        } finally {
            close(fd);
        }
    }

    public static void munmap(MemorySegment segment) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) MUNMAP.invokeExact(state, segment, segment.byteSize());
            if (rc < 0) {
                throw new SysException("munmap", errno(state));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static void madvise(MemorySegment segment, int advice) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) MADVISE.invokeExact(state, segment, segment.byteSize(), advice);
            if (rc < 0) {
                throw new SysException("madvise(" + advice + ")", errno(state));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * mincore over a page-aligned segment: {@code vec} receives one byte per 4 KiB page whose low
     * bit says the page is resident. A page never touched (and not swapped) is not resident.
     */
    public static void mincore(MemorySegment segment, MemorySegment vec) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) MINCORE.invokeExact(state, segment, segment.byteSize(), vec);
            if (rc < 0) {
                throw new SysException("mincore", errno(state));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int getpid() {
        try {
            return (int) GETPID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The kernel thread id of the calling thread (for {@link #tgkill}). */
    public static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** {@code PRIO_PROCESS}: with a thread id as {@code who}, Linux sets that one thread's nice value. */
    private static final int PRIO_PROCESS = 0;
    /** The lowest scheduling priority (nice 19): the thread runs only on CPU time nobody else wants. */
    public static final int NICE_LOWEST = 19;

    /**
     * Sets the calling thread's nice value (Linux keeps one per thread). Raising it always works;
     * lowering it again needs privileges, so callers use it on threads made for background work.
     */
    public static void setThreadNice(int nice) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) SETPRIORITY.invokeExact(state, PRIO_PROCESS, gettid(), nice);
            if (rc < 0) {
                throw new SysException("setpriority", errno(state));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** The first real-time signal number the C library leaves to applications (glibc keeps 32, 33). */
    public static int sigrtmin() {
        try {
            return (int) SIGRTMIN.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Sends {@code signal} to one thread. Returns false when the thread no longer exists (ESRCH),
     * which a caller kicking a thread that just ended may ignore.
     */
    public static boolean tgkill(int pid, int tid, int signal) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) TGKILL.invokeExact(state, pid, tid, signal);
            if (rc < 0) {
                int err = errno(state);
                if (err == 3) { // ESRCH
                    return false;
                }
                throw new SysException("tgkill(" + tid + ", " + signal + ")", err);
            }
            return true;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Installs a handler for {@code signal} that does nothing, without {@code SA_RESTART}: its only
     * purpose is to make a blocking system call in the signalled thread (e.g. {@code KVM_RUN})
     * return {@code EINTR}.
     *
     * <p>The handler is libc's {@code abs(int)}: a pure function with the signature of a signal
     * handler ({@code void (*)(int)}; the int result in RAX is ignored), so no Java upcall runs on
     * a signal stack and nothing is touched that is not async-signal-safe.
     */
    public static void installNoopSignalHandler(int signal) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment act = arena.allocate(SIGACTION_SIZE, 8);
            act.fill((byte) 0);
            MemorySegment noop = LIBC.find("abs").orElseThrow(() -> new UnsatisfiedLinkError("libc has no abs"));
            act.set(ADDRESS, 0, noop);
            // sa_mask stays empty; sa_flags 0: no SA_RESTART, no SA_SIGINFO.
            act.set(JAVA_INT, SA_FLAGS_OFFSET, 0);
            MemorySegment state = STATE.get();
            int rc = (int) SIGACTION.invokeExact(state, signal, act, MemorySegment.NULL);
            if (rc < 0) {
                throw new SysException("sigaction(" + signal + ")", errno(state));
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * ioctl with a pointer argument that reports errno instead of throwing: returns {@code rc}
     * when non-negative, else {@code -errno}. The {@code kvm} package turns errors into exceptions
     * that name the ioctl.
     */
    public static int ioctlRaw(int fd, long request, MemorySegment arg) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) IOCTL_PTR.invokeExact(state, fd, request, arg);
            return rc >= 0 ? rc : -errno(state);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /**
     * Copies {@code source} over {@code destination} (equal sizes) in native code. For memory whose
     * pages may be missing under a userfaultfd: a fault then waits in the kernel in native thread
     * state, which JVM safepoints do not wait for, where a Java store would stall every thread.
     */
    public static void copy(MemorySegment destination, MemorySegment source) {
        if (destination.byteSize() != source.byteSize()) {
            throw new IllegalArgumentException("copy of " + source.byteSize() + " bytes into " + destination.byteSize());
        }
        try {
            MemorySegment ignored = (MemorySegment) MEMCPY.invokeExact(destination, source, source.byteSize());
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** read(2): bytes read, or {@code -errno} (EAGAIN on a non-blocking descriptor with nothing to read). */
    public static long readRaw(int fd, MemorySegment buffer) {
        try {
            MemorySegment state = STATE.get();
            long n = (long) READ.invokeExact(state, fd, buffer, buffer.byteSize());
            return n >= 0 ? n : -errno(state);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    /** write(2) of the whole buffer in one call (descriptors such as eventfd take it whole or not at all). */
    public static void write(int fd, MemorySegment buffer) {
        try {
            MemorySegment state = STATE.get();
            long n = (long) WRITE.invokeExact(state, fd, buffer, buffer.byteSize());
            if (n != buffer.byteSize()) {
                throw new SysException("write(" + buffer.byteSize() + " bytes)", n < 0 ? errno(state) : 0);
            }
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static final short POLLIN = 0x1;
    /** Size of {@code struct pollfd}: int fd, short events, short revents. */
    public static final long POLLFD_SIZE = 8;

    /**
     * poll(2) over {@code count} {@code struct pollfd}s laid out in {@code fds}; returns the number
     * ready (0 on timeout; EINTR is reported as 0, the caller loops anyway).
     */
    public static int poll(MemorySegment fds, int count, int timeoutMillis) {
        try {
            MemorySegment state = STATE.get();
            int rc = (int) POLL.invokeExact(state, fds, (long) count, timeoutMillis);
            if (rc < 0) {
                int err = errno(state);
                if (err == EINTR) {
                    return 0;
                }
                throw new SysException("poll", err);
            }
            return rc;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;

    /** eventfd(2): a counter descriptor one thread writes to wake another's {@link #poll}. */
    /** socket(2); returns the descriptor (TcpInfo's netlink socket). */
    public static int socket(int domain, int type, int protocol) {
        try {
            MemorySegment state = STATE.get();
            int fd = (int) SOCKET.invokeExact(state, domain, type, protocol);
            if (fd < 0) {
                throw new SysException("socket(" + domain + ", " + type + ", " + protocol + ")", errno(state));
            }
            return fd;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public static int eventfd(int flags) {
        try {
            MemorySegment state = STATE.get();
            int fd = (int) EVENTFD.invokeExact(state, 0, flags);
            if (fd < 0) {
                throw new SysException("eventfd", errno(state));
            }
            return fd;
        } catch (SysException e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
}
