package io.d3vm.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * What the kernel knows of one TCP connection ({@code struct tcp_info}, linux/tcp.h), asked for by
 * the connection's addresses over a {@code NETLINK_SOCK_DIAG} socket — the way {@code ss -ti}
 * asks — so that no file descriptor has to be pried out of a JDK socket (plain or TLS alike).
 *
 * <p>The times say who held the sender back while it had data outstanding ({@code busy}): the
 * receiver's window ({@code rwndLimited}: the receiving process did not read fast enough), the
 * send buffer ({@code sndbufLimited}), or else the network (congestion window, a shaped link).
 * Linux 4.10 and later fill them, counted in jiffies (4 ms at HZ=250): they tell of seconds, not of
 * a millisecond's transfer. An older kernel's shorter struct reads them as 0.
 *
 * <p>{@code bytesAcked} and {@code notSentBytes} (written by the application, not yet handed to
 * the network: waiting for the congestion window, a shaped link's queue or the receiver's window)
 * are exact at every reading: while data waits unsent, what the peer acknowledges per second is the
 * rate the path takes it at ({@code send.LinkMeter}).
 */
public record TcpInfo(long busyMicros, long rwndLimitedMicros, long sndbufLimitedMicros, long deliveryRateBytesPerSecond,
                      long bytesAcked, long notSentBytes, int rttMicros, int minRttMicros, int totalRetransmits, long bytesRetransmitted) {

    // linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h, linux/tcp.h
    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
    private static final int AF_NETLINK = 16;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_SOCK_DIAG = 4;
    private static final int SOCK_DIAG_BY_FAMILY = 20;
    private static final int NLM_F_REQUEST = 1;
    private static final int NLMSG_ERROR = 2;
    private static final int IPPROTO_TCP = 6;
    private static final int INET_DIAG_INFO = 2;
    private static final int TCP_ESTABLISHED = 1;
    private static final int NLMSG_HDR = 16;
    private static final int REQ_SIZE = 56;      // struct inet_diag_req_v2
    private static final int DIAG_MSG_SIZE = 72; // struct inet_diag_msg
    private static final int RESPONSE_ROOM = 8192;

    // offsets in struct tcp_info (linux/tcp.h of Linux 6.1; offsetof printed them, TcpInfoTest reads them off a live connection)
    static final int RTT = 68;
    static final int TOTAL_RETRANS = 100;
    static final int BYTES_ACKED = 120;
    static final int NOTSENT_BYTES = 144;
    static final int MIN_RTT = 148;
    static final int DELIVERY_RATE = 160;
    static final int BUSY_TIME = 168;
    static final int RWND_LIMITED = 176;
    static final int SNDBUF_LIMITED = 184;
    static final int BYTES_RETRANS = 208;

    /**
     * The established TCP connection from {@code local} to {@code remote} in this network namespace,
     * or empty when the kernel does not know it (closed, another namespace) or cannot say (no
     * sock_diag). Costs four syscalls (a netlink socket opened, asked, read, closed); never throws for a missing answer.
     */
    public static Optional<TcpInfo> of(InetSocketAddress local, InetSocketAddress remote) {
        Optional<TcpInfo> v4 = query(AF_INET, local, remote);
        return v4.isPresent() ? v4 : query(AF_INET6, local, remote); // a dual-stack socket may be listed under either
    }

    private static Optional<TcpInfo> query(int family, InetSocketAddress local, InetSocketAddress remote) {
        byte[] src = address(family, local.getAddress());
        byte[] dst = address(family, remote.getAddress());
        if (src == null || dst == null) {
            return Optional.empty();
        }
        int fd;
        try {
            fd = LibC.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        } catch (SysException e) {
            return Optional.empty();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment req = arena.allocate(NLMSG_HDR + REQ_SIZE);
            req.set(JAVA_INT_UNALIGNED, 0, NLMSG_HDR + REQ_SIZE);
            req.set(JAVA_SHORT_UNALIGNED, 4, (short) SOCK_DIAG_BY_FAMILY);
            req.set(JAVA_SHORT_UNALIGNED, 6, (short) NLM_F_REQUEST);
            req.set(JAVA_INT_UNALIGNED, 8, 1); // sequence
            int r = NLMSG_HDR;
            req.set(JAVA_BYTE, r, (byte) family);
            req.set(JAVA_BYTE, r + 1, (byte) IPPROTO_TCP);
            req.set(JAVA_BYTE, r + 2, (byte) (1 << (INET_DIAG_INFO - 1)));
            req.set(JAVA_INT_UNALIGNED, r + 4, 1 << TCP_ESTABLISHED);
            int id = r + 8; // struct inet_diag_sockid: ports and addresses in network order
            req.set(JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), id, (short) local.getPort());
            req.set(JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), id + 2, (short) remote.getPort());
            MemorySegment.copy(src, 0, req, JAVA_BYTE, id + 4, src.length);
            MemorySegment.copy(dst, 0, req, JAVA_BYTE, id + 20, dst.length);
            req.set(JAVA_INT_UNALIGNED, id + 40, -1); // INET_DIAG_NOCOOKIE
            req.set(JAVA_INT_UNALIGNED, id + 44, -1);
            LibC.write(fd, req);
            MemorySegment resp = arena.allocate(RESPONSE_ROOM);
            long n = LibC.readRaw(fd, resp);
            return n < NLMSG_HDR ? Optional.empty() : parse(resp.asSlice(0, n));
        } catch (SysException e) {
            return Optional.empty();
        } finally {
            LibC.close(fd);
        }
    }

    /** The tcp_info attribute of one sock_diag answer, or empty (an error answer: no such socket). */
    static Optional<TcpInfo> parse(MemorySegment msg) {
        long len = Integer.toUnsignedLong(msg.get(JAVA_INT_UNALIGNED, 0));
        int type = Short.toUnsignedInt(msg.get(JAVA_SHORT_UNALIGNED, 4));
        if (type == NLMSG_ERROR || type != SOCK_DIAG_BY_FAMILY || len > msg.byteSize() || len < NLMSG_HDR + DIAG_MSG_SIZE) {
            return Optional.empty();
        }
        long at = NLMSG_HDR + DIAG_MSG_SIZE;
        while (at + 4 <= len) { // struct rtattr: u16 length (header included), u16 type, data, 4-aligned
            int alen = Short.toUnsignedInt(msg.get(JAVA_SHORT_UNALIGNED, at));
            int atype = Short.toUnsignedInt(msg.get(JAVA_SHORT_UNALIGNED, at + 2));
            if (alen < 4 || at + alen > len) {
                return Optional.empty();
            }
            if (atype == INET_DIAG_INFO) {
                return Optional.of(fromStruct(msg.asSlice(at + 4, alen - 4)));
            }
            at += (alen + 3) & ~3;
        }
        return Optional.empty();
    }

    /** The fields of a {@code struct tcp_info} of any length (a field past its end reads 0). */
    static TcpInfo fromStruct(MemorySegment s) {
        return new TcpInfo(u64(s, BUSY_TIME), u64(s, RWND_LIMITED), u64(s, SNDBUF_LIMITED), u64(s, DELIVERY_RATE),
                u64(s, BYTES_ACKED), u32(s, NOTSENT_BYTES), (int) u32(s, RTT), (int) u32(s, MIN_RTT), (int) u32(s, TOTAL_RETRANS), u64(s, BYTES_RETRANS));
    }

    private static long u64(MemorySegment s, int offset) {
        return offset + 8 <= s.byteSize() ? s.get(JAVA_LONG_UNALIGNED, offset) : 0;
    }

    private static long u32(MemorySegment s, int offset) {
        return offset + 4 <= s.byteSize() ? Integer.toUnsignedLong(s.get(JAVA_INT_UNALIGNED, offset)) : 0;
    }

    /** 16 bytes as the sockid holds them: IPv4 in the first 4 (AF_INET) or IPv4-mapped (AF_INET6). */
    private static byte[] address(int family, InetAddress a) {
        byte[] out = new byte[16];
        if (a instanceof Inet4Address v4) {
            byte[] b = v4.getAddress();
            if (family == AF_INET) {
                System.arraycopy(b, 0, out, 0, 4);
            } else {
                out[10] = (byte) 0xff;
                out[11] = (byte) 0xff;
                System.arraycopy(b, 0, out, 12, 4);
            }
            return out;
        }
        if (a instanceof Inet6Address v6 && family == AF_INET6) {
            return v6.getAddress();
        }
        return null;
    }

    /**
     * Of the time the sender had data outstanding between {@code before} and this reading, the
     * share the receiver's window held it back, or NaN when it was never busy.
     */
    public double rwndLimitedShareSince(TcpInfo before) {
        long busy = busyMicros - before.busyMicros;
        return busy <= 0 ? Double.NaN : (double) (rwndLimitedMicros - before.rwndLimitedMicros) / busy;
    }

    /** As {@link #rwndLimitedShareSince}, for the send buffer. */
    public double sndbufLimitedShareSince(TcpInfo before) {
        long busy = busyMicros - before.busyMicros;
        return busy <= 0 ? Double.NaN : (double) (sndbufLimitedMicros - before.sndbufLimitedMicros) / busy;
    }
}
