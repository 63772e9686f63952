package io.d3vm.vmm.boot.testguest;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TestGuestSpecTest {
    @Test
    void shouldPassEveryKeyButMemToTheGuestInOrder() {
        TestGuestSpec s = TestGuestSpec.parse("test:dirty,wss=64,mem=1G,rate=2000");
        assertThat(s.workload()).isEqualTo("dirty");
        assertThat(s.memBytes()).isEqualTo(1L << 30);
        assertThat(s.commandLine()).isEqualTo("dirty wss=64 rate=2000");
        assertThat(s.describe()).isEqualTo("test:dirty,mem=1G,wss=64,rate=2000");
        assertThat(TestGuestSpec.parse(s.describe())).isEqualTo(s);
    }

    @Test
    void shouldCarryTheVcpuCountForADestinationAndRejectABadOne() {
        assertThat(TestGuestSpec.parse("test:idle").vcpus(64)).isEqualTo(1);
        TestGuestSpec two = TestGuestSpec.parse("test:idle,mem=64M").withParam(TestGuestSpec.VCPUS_KEY, "2");
        assertThat(TestGuestSpec.parse(two.describe()).vcpus(64)).isEqualTo(2);
        for (String bad : new String[] {"0", "65", "two", ""}) {
            assertThatThrownBy(() -> TestGuestSpec.parse("test:idle").withParam("vcpus", bad).vcpus(64))
                    .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a vCPU count 1..64");
        }
    }

    @Test
    void shouldDefaultTo256MiB() {
        assertThat(TestGuestSpec.parse("test:idle").memBytes()).isEqualTo(256L << 20);
    }

    @ParameterizedTest
    @CsvSource({"256M, 268435456", "1G, 1073741824", "512k, 524288", "64, 67108864", "2GiB, 2147483648",
            "4096B, 4096", "1T, 1099511627776"})
    void shouldParseSizesWithBinarySuffixesAndBareMiB(String text, long bytes) {
        assertThat(TestGuestSpec.parseSize(text)).isEqualTo(bytes);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "test:idle,mem=16M | too little",
            "test:bogus | unknown test-guest workload",
            "linux:foo | is not a test guest",
            "test:idle,wss | is not key=value",
            "test:idle,Bad=1 | bad test-guest key",
            "test:idle,a=1,a=2 | appears twice",
            "test:idle,mem=12X | is not a size (examples: 4096",
            "test:idle,mem=-5M | is not a size",
            "test:idle,mem=1000001K | multiple of 4 KiB",
    })
    void shouldRejectBadSpecsSayingWhy(String text, String expected) {
        assertThatThrownBy(() -> TestGuestSpec.parse(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(expected);
    }

    @ParameterizedTest
    @ValueSource(ints = {4000, 5000})
    void shouldRejectACommandLineLongerThanTheContractAllows(int length) {
        String spec = "test:idle,x=" + "a".repeat(length);
        if (length + 7 > TestGuestSpec.MAX_CMDLINE) {
            assertThatThrownBy(() -> TestGuestSpec.parse(spec)).hasMessageContaining("exceeds");
        } else {
            assertThat(TestGuestSpec.parse(spec).commandLine()).hasSize(length + 7);
        }
    }
}
