package io.d3vm.migration.fault;

import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import io.d3vm.migration.send.ByteSavings;
import io.d3vm.migration.send.MigrationSender;
import io.d3vm.migration.send.SendOptions;
import io.d3vm.migration.synthetic.SyntheticGuest;
import io.d3vm.migration.transport.Listener;
import io.d3vm.migration.transport.TcpTransport;
import io.d3vm.migration.wire.Wire;
import io.d3vm.testing.Awaits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Duplicate references and compression end to end, on running synthetic guests whose random pages
 * share {@code duplicate} per cent of their content (compressible templates): the destination ends
 * with exactly the memory the writer's sequence gives ({@link SyntheticModel}), both digests and
 * the source's audit agree, and the counters say what crossed how.
 */
class SavingsMigrationTest {
    static final String SHARED = "synthetic:mem=32M,zero=30,uniform=10,dirty-rate=3000,wss=8M,duplicate=50,seed=4";
    private final TcpTransport tcp = new TcpTransport();

    private MigrationReport migrate(SyntheticGuest g, SendOptions options, PostcopyTest.Received[] out) throws Exception {
        try (Listener l = tcp.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            var rx = PostcopyTest.receiveOnce(l);
            MigrationReport rep = new MigrationSender(g, options).migrate(tcp, l.localAddress(), 5000);
            out[0] = rx.get(60, TimeUnit.SECONDS);
            return rep;
        }
    }

    /** The destination's memory equals the model after its writer moved on; then it is shut down. */
    private static void assertDestinationExact(PostcopyTest.Received rx) throws Exception {
        assertThat(rx.error()).isNull();
        SyntheticGuest dest = rx.guest();
        Awaits.advances("the destination's writer", dest::writes);
        dest.pause();
        assertThat(SyntheticModel.mismatch(dest)).as("destination memory after references, compression and more writes").isNull();
        dest.shutdown();
    }

    @ParameterizedTest
    @EnumSource(value = ByteSavings.Compress.class, names = {"LZ4", "ZSTD"})
    void shouldSendSharedContentAsReferencesAndCompressTheRest(ByteSavings.Compress codec) throws Exception {
        PostcopyTest.Received[] rx = new PostcopyTest.Received[1];
        SyntheticGuest plain = SyntheticGuest.create(SHARED);
        MigrationReport none = migrate(plain, SendOptions.defaults().withSavings(ByteSavings.none()), rx);
        assertDestinationExact(rx[0]);

        SyntheticGuest g = SyntheticGuest.create(SHARED);
        MigrationReport rep = migrate(g, SendOptions.defaults().withSavings(new ByteSavings(codec, ByteSavings.Duplicates.ON)), rx);
        assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(rep.digestMatch).isTrue();
        assertThat(rep.auditMatch).as("the paused source's whole memory equals what the destination holds").isTrue();
        long refs = rep.pagesByClass[Wire.CLASS_DUPLICATE];
        assertThat(refs).as("shared pages crossed as references").isPositive();
        assertThat(rx[0].stats().pagesByClass[Wire.CLASS_DUPLICATE]).isEqualTo(refs);
        assertThat(rep.savings.duplicatePages()).isEqualTo(refs);
        assertThat(rep.savings.indexBytes()).isPositive();
        assertThat(rep.savings.framesCompressed()).as("batches of template pages shrink").isPositive();
        assertThat(rep.savings.bytesAfter()).isLessThan(rep.savings.bytesBefore());
        assertThat(rx[0].stats().inflatedBytes).as("the destination inflated what was compressed").isPositive();
        assertThat(none.savings).isNull();
        assertThat(rep.ramTransferred).as("references and compression against neither")
                .isLessThan(none.ramTransferred * 3 / 4);
        assertDestinationExact(rx[0]);
    }

    @Test
    void shouldTurnAutoOffTowardsThisHostAndKeepForcedModes() throws Exception {
        PostcopyTest.Received[] rx = new PostcopyTest.Received[1];
        MigrationReport auto = migrate(SyntheticGuest.create(SHARED), SendOptions.defaults(), rx);
        assertThat(auto.status).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(auto.savings.compress()).as("auto over loopback: no link to save bytes on").isEqualTo("none");
        assertThat(auto.savings.duplicates()).isEqualTo("off");
        assertThat(auto.link).as("the kernel's view of the TCP connection").isNotNull();
        assertThat(auto.link.receiverLimitedUs() + auto.link.sendBufferLimitedUs()).isLessThanOrEqualTo(auto.link.busyUs());
        assertThat(auto.link.rttUs()).isPositive();
        assertThat(auto.savings.framesCompressed()).isZero();
        assertThat(auto.pagesByClass[Wire.CLASS_DUPLICATE]).isZero();
        assertDestinationExact(rx[0]);
    }

    @Test
    void shouldMakeReferencesBeforePostcopyOnlyAndEndExact() throws Exception {
        PostcopyTest.Received[] rx = new PostcopyTest.Received[1];
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=32M,zero=20,uniform=10,dirty-rate=50000,wss=24M,duplicate=50,seed=9");
        MigrationReport rep = migrate(g, SendOptions.defaults().withMaxBandwidth(20_000_000).withPostcopy(1)
                .withSavings(new ByteSavings(ByteSavings.Compress.ZSTD, ByteSavings.Duplicates.ON)), rx);
        assertThat(rep.status).isEqualTo(MigrationStatus.COMPLETED);
        assertThat(rep.postcopy).isNotNull();
        assertThat(rep.digestMatch).isTrue();
        assertThat(rep.auditMatch).isTrue();
        assertThat(rep.pagesByClass[Wire.CLASS_DUPLICATE]).as("round 1 made references").isPositive();
        assertDestinationExact(rx[0]);
    }
}
