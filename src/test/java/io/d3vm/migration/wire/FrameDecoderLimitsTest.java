package io.d3vm.migration.wire;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Edges of the decoder's limits that the fuzzers cannot reach with the default frame limit. */
class FrameDecoderLimitsTest {

    @Test
    void shouldRefuseStateFrameTooLargeForAnArrayWithAProtocolError() throws Exception {
        // A receiver started with the largest allowed frame limit (4 GiB - 1) must still answer a
        // 3 GiB STATE with a protocol error, not a NegativeArraySizeException or an OutOfMemoryError.
        ByteBuffer h = ByteBuffer.allocate(Wire.HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        h.putShort((short) FrameType.STATE.code()).putShort((short) 0).putInt((int) (3L << 30));
        FrameDecoder d = new FrameDecoder(TestStreams.channel(h.array()), 0xFFFF_FFFFL);
        d.next();
        assertThatThrownBy(d::readState).isInstanceOf(ProtocolException.class).hasMessageContaining("larger than a receiver can hold");
    }
}
