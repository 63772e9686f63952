package io.d3vm.migration.send;

import io.d3vm.migration.MigrationException;
import io.d3vm.migration.guest.GuestFactories;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.recv.MigrationReceiver;
import io.d3vm.migration.recv.ReceiverLimits;
import io.d3vm.migration.transport.Connection;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.migration.wire.FrameBuffer;
import io.d3vm.migration.wire.Wire;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Peers that stop talking are given up after the timeout, with a message that says so. */
class StalledPeerTest {
    final TcpTransport tcp = new TcpTransport();

    @Test
    void shouldDropASourceThatStopsSending() throws Exception {
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            CountDownLatch done = new CountDownLatch(1);
            CompletableFuture.runAsync(() -> {
                try (Connection c = tcp.connect(l.localAddress(), 5000)) {
                    FrameBuffer fb = new FrameBuffer(FrameBuffer.MIN_CAPACITY);
                    fb.handshake("synthetic:mem=1M", Wire.FEATURE_DIGEST);
                    fb.writeTo(c.output());
                    done.await(30, TimeUnit.SECONDS); // then say nothing more
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            MigrationReceiver r = new MigrationReceiver(SyntheticGuest.register(new GuestFactories()),
                    ReceiverLimits.defaults().withReadTimeoutMillis(300));
            try (Connection c = l.accept()) {
                assertThatThrownBy(() -> r.receive(c)).isInstanceOf(MigrationException.class)
                        .hasMessageContaining("sent nothing for 300 ms (waiting for LAYOUT)");
            } finally {
                done.countDown();
            }
        }
    }

    @Test
    void shouldResumeTheGuestWhenTheDestinationNeverAnswers() throws Exception {
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=1M,seed=2");
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            CountDownLatch done = new CountDownLatch(1);
            CompletableFuture.runAsync(() -> {
                try (Connection ignored = l.accept()) {
                    done.await(30, TimeUnit.SECONDS); // accepts, reads nothing, answers nothing
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            MigrationSender s = new MigrationSender(g, SendOptions.defaults().withTimeouts(300, 300));
            try {
                assertThatThrownBy(() -> s.migrate(tcp, l.localAddress(), 5000))
                        .hasMessageContaining("stopped responding").hasMessageContaining("phase setup").hasMessageContaining("keeps running here");
            } finally {
                done.countDown();
            }
            assertThat(g.isPaused()).isFalse();
            assertThat(g.isShutdown()).isFalse();
        } finally {
            g.shutdown();
        }
    }
}
