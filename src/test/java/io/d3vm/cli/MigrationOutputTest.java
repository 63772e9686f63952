package io.d3vm.cli;

import io.d3vm.migration.report.MigrationReport;
import io.d3vm.migration.report.MigrationStatus;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The human summary: honest about a pause past the limit, and about a failure that sent nothing or something. */
class MigrationOutputTest {

    static MigrationReport source(MigrationStatus status, long transferred) {
        MigrationReport r = new MigrationReport();
        r.role = "source";
        r.status = status;
        r.totalTimeUs = 1_500_000;
        r.setupTimeUs = 20_000;
        r.ramTotal = 1L << 30;
        r.ramTransferred = transferred;
        r.downtimeLimitUs = 300_000L;
        return r;
    }

    @Test
    void shouldSayWhenThePauseWentPastTheLimitAndWhy() {
        MigrationReport r = source(MigrationStatus.COMPLETED, 64L << 20);
        r.downtimeUs = 802_000L;
        r.stopReason = "max-rounds";
        assertThat(MigrationOutput.summary(r))
                .contains("downtime 802 ms")
                .contains("the pause (802 ms) went past --downtime-limit (300 ms): pre-copy stopped on max-rounds");
        r.downtimeUs = 12_000L;
        assertThat(MigrationOutput.summary(r)).doesNotContain("went past");
    }

    @Test
    void shouldSayWhatReferencesAndCompressionSaved() {
        MigrationReport r = source(MigrationStatus.COMPLETED, 64L << 20);
        assertThat(MigrationOutput.summary(r)).doesNotContain("beyond D3");
        r.savings = new io.d3vm.migration.report.SavingsRecord("auto", "zstd", 3, 10, 2, 40L << 20, 12L << 20, 85_000, "auto", 2500,
                8L << 20, 1 << 18, 0, 20_000);
        assertThat(MigrationOutput.summary(r))
                .contains("beyond D3: 2500 pages as references to content the destination held; 40 MiB of page data compressed to 12 MiB (zstd up to level 3, 85 ms)");
    }

    @Test
    void shouldPrintOnlyTheVerdictWhenAFailedMigrationSentNothing() {
        String s = MigrationOutput.summary(source(MigrationStatus.FAILED, 0));
        assertThat(s.lines()).containsExactly("migration FAILED after 1.50 s");
    }

    @Test
    void shouldSayWhatWasSentBeforeAFailureOrACancel() {
        String s = MigrationOutput.summary(source(MigrationStatus.CANCELLED, 8L << 20));
        assertThat(s).startsWith("migration CANCELLED after 1.50 s\n")
                .contains("before that: sent 8 MiB of a 1 GiB guest (0.8 %)");
    }

    @Test
    void shouldNotInventAGuestSizeTheReceiverNeverLearnt() {
        MigrationReport r = source(MigrationStatus.FAILED, 97L << 10);
        r.role = "destination";
        r.ramTotal = 0;
        assertThat(MigrationOutput.summary(r)).contains("before that: received 97 KiB,").doesNotContain("guest (");
    }
}
