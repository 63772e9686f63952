package io.d3vm.migration.transport;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.InetSocketAddress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The one HOST:PORT parser of the CLI and the API: where to connect, and where to listen. */
class HostPortTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
            "localhost | is not HOST:PORT",
            ":7000 | is not HOST:PORT",
            "::1:7000 | write IPv6 addresses in brackets",
            "127.0.0.1:x | is not a number 1..65535",
            "127.0.0.1:0 | port 0 is outside 1..65535",
            "127.0.0.1:65536 | port 65536 is outside 1..65535",
    })
    void shouldRefuseAPeerSayingWhy(String value, String why) {
        assertThatThrownBy(() -> HostPort.peer(value)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(why);
    }

    @Test
    void shouldReadPeersAndListenAddressesAndPrintThemBackAsTyped() {
        InetSocketAddress v6 = HostPort.peer("[::1]:7000");
        assertThat(v6.getHostString()).isEqualTo("::1");
        assertThat(HostPort.format(v6, 7000)).isEqualTo("[::1]:7000");
        assertThat(HostPort.format(HostPort.listen("0.0.0.0:0"), 41234)).isEqualTo("0.0.0.0:41234");
        assertThat(HostPort.listen(":7000").getPort()).isEqualTo(7000);
        assertThat(HostPort.listen(":7000").isUnresolved()).isFalse();           // the wildcard
        assertThatThrownBy(() -> HostPort.listen("127.0.0.1:65536")).hasMessageContaining("outside 0..65535");
        assertThat(HostPort.resolve(HostPort.peer("127.0.0.1:7000")).getAddress().isLoopbackAddress()).isTrue();
        assertThatThrownBy(() -> HostPort.resolve(HostPort.peer("no-such-host.invalid:7000")))
                .hasMessageContaining("unknown host 'no-such-host.invalid'");
    }
}
