package io.d3vm.migration.send;

import io.d3vm.sys.TcpInfo;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** The link's rate as the kernel counts it: only over intervals through which data waited for the path. */
class LinkMeterTest {
    /** A scripted connection: the test sets what the next reading says and when it is taken. */
    static final class Kernel {
        long nanos;
        long acked;
        long notSent;
        boolean known = true;

        Optional<TcpInfo> read() {
            return known ? Optional.of(new TcpInfo(0, 0, 0, 0, acked, notSent, 0, 0, 0, 0)) : Optional.empty();
        }

        LinkMeter meter() {
            return new LinkMeter(this::read, () -> nanos);
        }

        /** {@code ms} pass while the peer acknowledges {@code bytes}; {@code waiting} bytes are then still unsent. */
        void pass(long ms, long bytes, long waiting) {
            nanos += ms * 1_000_000;
            acked += bytes;
            notSent = waiting;
        }
    }

    @Test
    void shouldMeasureTheRateTheLinkTakesDataAtWhileDataWaitsForIt() {
        Kernel k = new Kernel();
        LinkMeter link = k.meter();
        link.observe();
        k.pass(4, 500_000, 1 << 20);
        link.observe();
        assertThat(link.rate()).as("4 ms: too short to judge").isNaN();
        assertThat(link.kernelMeasured()).isFalse();
        k.pass(8, 1_000_000, 300_000);
        link.observe();
        assertThat(link.kernelMeasured()).isTrue();
        assertThat(link.rate()).as("1.5 MB in 12 ms").isEqualTo(125e6);
    }

    @Test
    void shouldNotCountAnIntervalAtWhoseEndNothingWaited() {
        Kernel k = new Kernel();
        LinkMeter link = k.meter();
        link.observe();
        k.pass(20, 2_500_000, 100_000); // the link busy: 125 MB/s
        link.observe();
        k.pass(50, 1_000_000, 0);        // the queue ran dry: the link idled part of these 50 ms
        link.observe();
        assertThat(link.rate()).as("the idle interval does not make the link look slow").isEqualTo(125e6);
    }

    @Test
    void shouldFollowTheLinkAsItIsNowOverTheLastTenthOfASecond() {
        Kernel k = new Kernel();
        LinkMeter link = k.meter();
        link.observe();
        for (int i = 0; i < 20; i++) {
            k.pass(10, 1_250_000, 1 << 20); // 1 Gbit/s for 200 ms
            link.observe();
        }
        assertThat(link.rate()).isEqualTo(125e6);
        for (int i = 0; i < 10; i++) {
            k.pass(10, 125_000, 1 << 20);   // then 100 Mbit/s
            link.observe();
        }
        assertThat(link.rate()).isEqualTo(12.5e6);
    }

    @Test
    void shouldNotCountAnIntervalAcrossAWriteMadeWithoutReadings() {
        Kernel k = new Kernel();
        LinkMeter link = k.meter();
        link.observe();
        k.pass(50, 100_000, 0);
        link.unobserved();               // a flush's write: the queue was dry before it
        k.pass(10, 1_250_000, 1 << 20);
        link.observe();
        assertThat(link.kernelMeasured()).as("the interval spanning that write is not counted").isFalse();
        k.pass(20, 2_500_000, 1 << 20);
        link.observe();
        assertThat(link.rate()).isEqualTo(125e6);
    }

    @Test
    void shouldFallBackOnRawWritesWhereTheKernelCannotSay() {
        Kernel k = new Kernel();
        k.known = false;
        LinkMeter link = k.meter();
        link.observe();
        k.pass(20, 2_500_000, 1 << 20);
        link.observe();
        assertThat(link.kernelMeasured()).isFalse();
        for (int i = 0; i < LinkMeter.WINDOW; i++) {
            link.wrote(4 << 20, 4_000_000, 0); // past the settling bytes: 1 GB/s
        }
        assertThat(link.rate()).isGreaterThan(1e9);
    }

    @Test
    void shouldForgetAReadingAcrossAGapTheKernelCouldNotSayAnythingAbout() {
        Kernel k = new Kernel();
        LinkMeter link = k.meter();
        link.observe();
        k.known = false;
        k.pass(20, 2_500_000, 1 << 20);
        link.observe();
        k.known = true;
        k.pass(20, 250_000, 1 << 20);
        link.observe();
        assertThat(link.kernelMeasured()).as("the first reading after the gap starts an interval, it ends none").isFalse();
        k.pass(20, 250_000, 1 << 20);
        link.observe();
        assertThat(link.rate()).isEqualTo(12.5e6);
    }
}
