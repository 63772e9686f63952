package io.d3vm.migration.fault;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy on loopback that forwards one migration connection and injects one {@link Fault}
 * into the source-to-destination stream when the given byte offset passes: cut both directions,
 * stall (stop forwarding, keep the sockets open), delay, or corrupt one byte. The fault suite puts
 * it between a sender and a receiver; it knows nothing of the protocol, so faults land anywhere —
 * in a header, in page data, in the saved state, in COMPLETE.
 */
final class FaultProxy implements AutoCloseable {

    /**
     * CUT_BACK cuts when the destination-to-source stream (the ACKs) passes {@code at}: at byte 50
     * that is inside the completion ACK (the setup ACK is bytes 0..31, the completion ACK 32..63).
     * CUT_AFTER_BACK cuts the source-to-destination stream in the middle of the first bytes it
     * carries once the destination-to-source stream has passed {@code at} bytes: with {@code at} 64
     * (both ACKs through) that is inside GO. Both aim at the hand-over (FaultInjectionTest).
     */
    enum Kind { CUT, STALL, DELAY, CORRUPT, CUT_BACK, CUT_AFTER_BACK }

    /**
     * @param at      forward-stream byte offset where the fault strikes (never reached: no fault)
     * @param delayMs for DELAY: how long the forwarding pauses at each of {@code repeats} points
     */
    record Fault(Kind kind, long at, int delayMs, int repeats, int xor) {
        @Override
        public String toString() {
            return kind + "@" + at + (kind == Kind.DELAY ? " " + repeats + "x" + delayMs + "ms" : "");
        }
    }

    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private final Fault fault;
    private final AtomicLong forwarded = new AtomicLong();
    private volatile boolean struck;
    private volatile Socket client;
    private volatile Socket server2;
    private final Thread acceptor;

    FaultProxy(InetSocketAddress upstream, Fault fault) throws IOException {
        this.upstream = upstream;
        this.fault = fault;
        this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        this.acceptor = Thread.ofPlatform().daemon().name("fault-proxy").start(this::serveOne);
    }

    InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
    }

    /** True once the fault's offset was reached (a fault beyond the end of the stream never strikes). */
    boolean struck() {
        return struck;
    }

    long forwarded() {
        return forwarded.get();
    }

    private void serveOne() {
        try {
            Socket c = server.accept();
            client = c;
            Socket s = new Socket();
            server2 = s;
            s.connect(upstream, 5000);
            Thread back = Thread.ofPlatform().daemon().name("fault-proxy-back").start(() -> pump(s, c, false));
            pump(c, s, true);
            back.join();
        } catch (IOException | InterruptedException e) {
            // the test closed the proxy, or a side went away: both ends see the connection end
        } finally {
            closeSockets();
        }
    }

    private void pump(Socket from, Socket to, boolean forward) {
        byte[] buf = new byte[64 << 10];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            long delayStep = fault.kind() == Kind.DELAY ? Math.max(1, fault.at() / Math.max(1, fault.repeats())) : 0;
            int delaysDone = 0;
            while (true) {
                int want = buf.length;
                long pos = forwarded.get();
                if (forward && !struck && strikesForward() && fault.at() >= pos && fault.at() - pos < want) {
                    want = (int) (fault.at() - pos) + 1; // stop right after the fault's byte
                }
                int n = in.read(buf, 0, Math.max(1, want));
                if (n < 0) {
                    to.shutdownOutput();
                    return;
                }
                if (forward && fault.kind() == Kind.CUT_AFTER_BACK && !struck && backward >= fault.at()) {
                    struck = true;
                    out.write(buf, 0, n / 2); // half of what follows the ACKs arrives, then the cut
                    out.flush();
                    closeSockets();
                    return;
                }
                if (forward) {
                    long start = forwarded.get();
                    long end = start + n;
                    if (fault.kind() == Kind.DELAY && delaysDone < fault.repeats() && end > (delaysDone + 1) * delayStep) {
                        struck = true;
                        delaysDone++;
                        TimeUnit.MILLISECONDS.sleep(fault.delayMs());
                    } else if (!struck && strikesForward() && fault.at() >= start && fault.at() < end) {
                        struck = true;
                        int i = (int) (fault.at() - start);
                        switch (fault.kind()) {
                            case CUT -> {
                                out.write(buf, 0, i); // everything before the cut arrives
                                out.flush();
                                closeSockets();
                                return;
                            }
                            case STALL -> {
                                out.write(buf, 0, i);
                                out.flush();
                                // Hold both sockets open and forward nothing more, in either direction.
                                stalled = true;
                                while (!closed) {
                                    TimeUnit.MILLISECONDS.sleep(20);
                                }
                                return;
                            }
                            case CORRUPT -> buf[i] ^= (byte) fault.xor();
                            default -> { }
                        }
                    }
                    forwarded.addAndGet(n);
                } else if (fault.kind() == Kind.CUT_BACK && !struck && backward + n > fault.at()) {
                    struck = true;
                    out.write(buf, 0, (int) (fault.at() - backward));
                    out.flush();
                    closeSockets();
                    return;
                } else if (stalled) {
                    while (!closed) {
                        TimeUnit.MILLISECONDS.sleep(20);
                    }
                    return;
                }
                if (!forward) {
                    backward += n;
                }
                out.write(buf, 0, n);
            }
        } catch (IOException | InterruptedException e) {
            closeSockets(); // one side failed: the other must see it too
        }
    }

    /** CUT, STALL and CORRUPT strike at one offset of the forward stream. */
    private boolean strikesForward() {
        return fault.kind() == Kind.CUT || fault.kind() == Kind.STALL || fault.kind() == Kind.CORRUPT;
    }

    private volatile boolean stalled;
    // Bytes forwarded destination -> source: written by the back pump (before it forwards them), read
    // by the forward pump for CUT_AFTER_BACK.
    private volatile long backward;
    private volatile boolean closed;

    private void closeSockets() {
        for (Socket s : new Socket[] {client, server2}) {
            if (s != null) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // already closed
                }
            }
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        closed = true;
        server.close();
        closeSockets();
        acceptor.join(5000);
    }
}
