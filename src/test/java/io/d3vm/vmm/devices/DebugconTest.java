package io.d3vm.vmm.devices;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class DebugconTest {
    @Test
    void shouldPassEachByteThroughAndAnswerPresenceOnRead() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        IoBus bus = new IoBus();
        bus.register(Debugcon.PORT, 1, new Debugcon(out));
        bus.write(Debugcon.PORT, 1, '.');
        bus.write(Debugcon.PORT, 1, 0x1234); // only the low byte is the port's
        assertThat(out.toByteArray()).containsExactly('.', 0x34);
        assertThat(bus.read(Debugcon.PORT, 1)).isEqualTo(0xe9);
    }

    @Test
    void shouldStopWritingWithoutFailingTheGuestWhenTheReaderIsGone() {
        AtomicInteger attempts = new AtomicInteger();
        OutputStream gone = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                attempts.incrementAndGet();
                throw new IOException("Broken pipe");
            }
        };
        Debugcon d = new Debugcon(gone);
        d.write(0, 1, '.');
        d.write(0, 1, '.');
        assertThat(attempts).hasValue(1);
    }
}
