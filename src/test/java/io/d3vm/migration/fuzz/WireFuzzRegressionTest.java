package io.d3vm.migration.fuzz;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CI form of the fuzz tests: the same targets as {@link WireFuzzTest}, fed seeded
 * structure-aware mutations of valid streams ({@link StreamMutator}) and seeded random garbage,
 * a few thousand executions in a few seconds. The coverage-guided long run is Jazzer's
 * ({@code docs/RELIABILITY.md}). A failure names its seed; rerun that seed alone to reproduce.
 */
class WireFuzzRegressionTest {
    static final int CASES = 40;
    static final int INPUTS_PER_CASE = 60;
    static final Map<FuzzTargets.Outcome, Integer> DECODER = new EnumMap<>(FuzzTargets.Outcome.class);
    static final Map<FuzzTargets.Outcome, Integer> RECEIVER = new EnumMap<>(FuzzTargets.Outcome.class);
    static final List<byte[]> SEEDS = Seeds.all();

    static IntStream seeds() {
        return IntStream.range(0, CASES);
    }

    @Test
    void shouldAcceptTheUnmutatedSeedsAsTheyAre() {
        assertThat(FuzzTargets.receive(Seeds.completeMigration(1))).isEqualTo(FuzzTargets.Outcome.COMPLETED);
        assertThat(FuzzTargets.receive(Seeds.abortedMigration(3))).isEqualTo(FuzzTargets.Outcome.REFUSED);
        assertThat(FuzzTargets.decode(Seeds.completeMigration(2))).isEqualTo(FuzzTargets.Outcome.PROTOCOL_ERROR); // ends: "no further frame"
        // POSTCOPY without FEATURE_POSTCOPY in the handshake: refused as a protocol error (it was a NullPointerException)
        assertThat(FuzzTargets.receive(Seeds.unofferedPostcopy(4))).isEqualTo(FuzzTargets.Outcome.PROTOCOL_ERROR);
        assertThat(FuzzTargets.decode(Seeds.unofferedPostcopy(4))).isEqualTo(FuzzTargets.Outcome.PROTOCOL_ERROR); // ends: "no further frame"
        // References and both codecs: the receiver rebuilds it and the digests agree
        assertThat(FuzzTargets.receive(Seeds.savingsMigration(5))).isEqualTo(FuzzTargets.Outcome.COMPLETED);
        assertThat(FuzzTargets.decode(Seeds.savingsMigration(5))).isEqualTo(FuzzTargets.Outcome.PROTOCOL_ERROR); // ends: "no further frame"
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void shouldLetOnlyProtocolErrorsEscapeAndNeverWriteOutsideGuestMemory(int seed) {
        StreamMutator m = new StreamMutator(seed);
        Random r = new Random(~seed);
        for (int i = 0; i < INPUTS_PER_CASE; i++) {
            byte[] input;
            if (i % 10 == 9) {
                input = new byte[r.nextInt(256)];
                r.nextBytes(input);
            } else {
                input = m.mutate(SEEDS.get(r.nextInt(SEEDS.size())), SEEDS);
            }
            count(DECODER, FuzzTargets.decode(input));
            count(RECEIVER, FuzzTargets.receive(input));
        }
    }

    private static synchronized void count(Map<FuzzTargets.Outcome, Integer> m, FuzzTargets.Outcome o) {
        m.merge(o, 1, Integer::sum);
    }

    @AfterAll
    static void report() {
        System.out.println("fuzz regression: " + CASES * INPUTS_PER_CASE + " inputs; decoder " + DECODER + "; receiver " + RECEIVER);
    }
}
