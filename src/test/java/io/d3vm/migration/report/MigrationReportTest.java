package io.d3vm.migration.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

class MigrationReportTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Seeded random reports: what toJson writes, fromJson reads back to an equal JSON (derived mbps included). */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
    void shouldReadBackExactlyWhatItWrote(long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        MigrationReport r = new MigrationReport();
        r.status = MigrationStatus.values()[rnd.nextInt(MigrationStatus.values().length)];
        r.role = "source";
        r.guest = "synthetic:mem=1G";
        r.peer = "127.0.0.1:7000";
        r.transport = "tcp";
        r.totalTimeUs = rnd.nextLong(1, 10_000_000_000L);
        r.setupTimeUs = rnd.nextLong(0, 1_000_000);
        r.downtimeUs = rnd.nextLong(0, 10_000_000);
        r.downtimeLimitUs = 300_000L;
        r.ackWaitUs = rnd.nextLong(0, 1_000_000);
        r.verify = "incremental";
        r.digestMatch = true;
        r.auditMatch = rnd.nextBoolean();
        r.digest = rnd.nextLong();
        r.phase(PauseStep.FINAL_SYNC, rnd.nextLong(0, 100_000));
        r.phase(PauseStep.GO, rnd.nextLong(0, 100_000));
        r.ramTotal = 1L << 30;
        r.ramTransferred = rnd.nextLong(0, 1L << 34);
        r.ramNormal = rnd.nextLong(0, 1 << 20);
        for (int i = 0; i < 4; i++) {
            r.pagesByClass[i] = rnd.nextLong(0, 1 << 20);
        }
        r.autoConverge = true;
        r.throttleTimeUs = rnd.nextLong(0, 10_000_000);
        r.rounds.add(new RoundRecord(1, 262144, 100, 4_000_000, rnd.nextLong(0, 10_000_000), rnd.nextInt(0, 100)));
        if (rnd.nextBoolean()) {
            // delivery rate: whole kbit/s (the JSON's Mbit/s keeps 3 decimals), as bytes per second
            r.link = new LinkRecord(rnd.nextLong(0, 10_000_000), rnd.nextLong(0, 1_000_000), rnd.nextLong(0, 1_000_000),
                    rnd.nextLong(0, 10_000_000) * 1000 / 8, rnd.nextLong(0, 100_000), rnd.nextLong(0, 1_000), rnd.nextLong(0, 1 << 20));
        }

        String written = r.toJsonString();
        MigrationReport back = MigrationReport.fromJson(JSON.readTree(written));

        assertThat(back.toJsonString()).isEqualTo(written);
        assertThat(back.mbps()).isEqualTo(r.mbps());
        assertThat(back.totalTimeUs).isEqualTo(r.totalTimeUs);
        assertThat(back.downtimePhasesUs).isEqualTo(r.downtimePhasesUs);
        assertThat(back.link).isEqualTo(r.link);
    }
}
