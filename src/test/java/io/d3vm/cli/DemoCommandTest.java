package io.d3vm.cli;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code d3vm demo} without KVM falls back to the synthetic guest (a /dev/kvm path that does not exist). */
class DemoCommandTest {

    @Test
    void shouldSayKvmIsMissingAndMigrateTheSyntheticGuestInstead() {
        MigrateCommandTest.Run r = MigrateCommandTest.run("demo", "--kvm-device", "/nonexistent/kvm", "--mem", "64M", "--timeout", "2m");
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("no usable KVM here").contains("synthetic guest")
                .contains("migration completed").contains("digest match: yes")
                .contains("d3vm demo: OK (synthetic guest)");
    }

    @Test
    @org.junit.jupiter.api.Tag("kvm")
    void shouldEndALiveKvmMigrationWithTheThreeLineVerdictAndTheCommandThatComparesWithQemu() {
        io.d3vm.kvm.KvmTestSupport.kvm(); // skipped, with the reason, where /dev/kvm does not open
        MigrateCommandTest.Run r = MigrateCommandTest.run("demo", "--mem", "128M", "--timeout", "2m");
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("d3vm demo: OK: the guest moved live and kept running and verifying on the destination")
                .containsPattern("(?m)^  sent   [0-9.]+ MiB of a 128 MiB guest: ")
                .containsPattern("(?m)^  time   [0-9.]+ s from connecting")
                .containsPattern("(?m)^  pause  [0-9]+ ms: ")
                .contains("./d3vm bench --reps 3 --workloads verify --caps uncapped --detectors d3 --mem 128M --qemu-systems qemu7");
    }

    @Test
    void shouldRefuseAnUnknownDetectorOrWorkload() {
        assertThat(MigrateCommandTest.run("demo", "--detector", "magic").err()).contains("unknown detector 'magic'");
        assertThat(MigrateCommandTest.run("demo", "--workload", "busy").err()).contains("--workload must be verify, dirty or idle");
    }
}
