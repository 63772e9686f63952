package io.d3vm.migration.fault;

import io.d3vm.testing.Awaits;
import io.d3vm.migration.synthetic.SyntheticGuest;
import org.junit.jupiter.api.Test;


import static org.assertj.core.api.Assertions.assertThat;

/** The fault suite's oracle must agree with an untouched guest and notice a single changed byte. */
class SyntheticModelTest {

    @Test
    void shouldMatchARunningGuestAndCatchOneChangedByte() throws Exception {
        SyntheticGuest g = SyntheticGuest.create("synthetic:mem=4M,zero=40,uniform=10,dirty-rate=5000,threads=1,seed=77");
        try {
            Awaits.until("200 writes", () -> g.writes() >= 200);
            g.pause();
            assertThat(SyntheticModel.mismatch(g)).isNull();
            var page = g.memory().page(123);
            page.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 4095, (byte) (page.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4095) ^ 1));
            assertThat(SyntheticModel.mismatch(g)).startsWith("page 123 differs");
        } finally {
            g.shutdown();
        }
    }
}
