package io.d3vm.vmm.devices;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class Serial8250Test {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final List<Boolean> irq = new ArrayList<>();
    final Serial8250 uart = new Serial8250(out, irq::add);

    @Test
    void shouldSendTransmittedBytesToTheOutputAndReportTheTransmitterEmpty() {
        for (byte b : "ok\n".getBytes(StandardCharsets.US_ASCII)) {
            assertThat(uart.read(5, 1) & 0x20).isEqualTo(0x20);
            uart.write(0, 1, b);
        }
        assertThat(out.toString(StandardCharsets.US_ASCII)).isEqualTo("ok\n");
    }

    @Test
    void shouldDeliverInputThroughRbrWithDataReadyAndRaiseIrq4OnlyWithOut2() throws Exception {
        uart.write(1, 1, 0x01); // IER: received data available
        uart.enqueueInput(new byte[] {'a', 'b'}, 2);
        assertThat(irq).isEmpty(); // OUT2 clear gates the line
        uart.write(4, 1, 0x08); // MCR OUT2
        assertThat(irq).containsExactly(true);
        assertThat(uart.read(2, 1) & 0x0f).isEqualTo(0x04);
        assertThat(uart.read(5, 1) & 1).isEqualTo(1);
        assertThat(uart.read(0, 1)).isEqualTo('a');
        assertThat(uart.read(0, 1)).isEqualTo('b');
        assertThat(uart.read(5, 1) & 1).isZero();
        assertThat(irq).containsExactly(true, false);
    }

    @Test
    void shouldRaiseThrEmptyWhenEnabledAndClearItWhenIirIsRead() {
        uart.write(4, 1, 0x08);
        uart.write(1, 1, 0x02);
        assertThat(irq).containsExactly(true);
        assertThat(uart.read(2, 1) & 0x0f).isEqualTo(0x02);
        assertThat(irq).containsExactly(true, false);
        assertThat(uart.read(2, 1) & 0x0f).isEqualTo(0x01);
    }

    @Test
    void shouldEchoInLoopbackAndUseTheDivisorLatchWhenDlabIsSet() {
        uart.write(4, 1, 0x10 | 0x03);
        uart.write(0, 1, 0x5a);
        assertThat(uart.read(0, 1)).isEqualTo(0x5a);
        assertThat(out.size()).isZero();
        assertThat(uart.read(6, 1) & 0x30).isEqualTo(0x30); // DTR->DSR, RTS->CTS
        uart.write(3, 1, 0x80);
        uart.write(0, 1, 0x01);
        uart.write(1, 1, 0x00);
        assertThat(uart.read(0, 1)).isEqualTo(1);
        uart.write(3, 1, 0x03);
        assertThat(uart.read(3, 1)).isEqualTo(3);
    }

    @Test
    void shouldRestoreRegistersAndUnreadInputFromSavedState() throws Exception {
        uart.write(3, 1, 0x03);
        uart.write(7, 1, 0x42);
        uart.write(1, 1, 0x01);
        uart.enqueueInput(new byte[] {'x', 'y'}, 2);
        SerialState saved = uart.save();
        Serial8250 other = new Serial8250(new ByteArrayOutputStream(), level -> { });
        other.restore(saved);
        assertThat(other.save()).isEqualTo(saved);
        assertThat(other.read(7, 1)).isEqualTo(0x42);
        assertThat(other.read(0, 1)).isEqualTo('x');
    }

    @Test
    void shouldHoldConsoleInputWhileFrozenAndDeliverItAfter() throws Exception {
        uart.freezeInput(true);
        Thread feeder = Thread.ofPlatform().start(() -> {
            try {
                uart.enqueueInput(new byte[] {'z'}, 1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        feeder.join(200);
        assertThat(feeder.isAlive()).isTrue();
        assertThat(uart.save().rxBuffer()).isEmpty();
        uart.freezeInput(false);
        feeder.join(5000);
        assertThat(feeder.isAlive()).isFalse();
        assertThat(uart.read(0, 1)).isEqualTo('z');
    }
}
