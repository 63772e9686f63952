package io.d3vm.guest;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Boots the test guest under QEMU (KVM when /dev/kvm opens, else TCG) in every workload and checks
 * its serial output against guest/README.md. Skipped, with the reason printed, when QEMU is not
 * installed. Each run is bounded by the guest's own run-seconds= power-off.
 */
@Tag("qemu")
class QemuGuestBootTest {

    static final Duration EXIT_TIMEOUT = Duration.ofSeconds(90);
    static final Pattern TICK = Pattern.compile("^d3guest: tick=(\\d+) ms=(\\d+) workload=(\\S+)(.*)$");

    @TempDir
    static Path dir;
    static Path elf;

    @BeforeAll
    static void setUp() throws IOException {
        Optional<String> why = QemuGuest.unavailableReason();
        if (why.isPresent()) {
            System.out.println("QemuGuestBootTest skipped: " + why.get());
        }
        Assumptions.assumeTrue(why.isEmpty(), () -> why.orElse(""));
        System.out.println("QemuGuestBootTest: QEMU with " + QemuGuest.accelArgs());
        elf = dir.resolve("d3guest.elf");
        Files.write(elf, BuiltGuestBinaryTest.guestElf());
    }

    static List<String> runToExit(int memMiB, String cmdline, List<String> extra) throws Exception {
        try (QemuGuest q = QemuGuest.start(elf, memMiB, cmdline, extra)) {
            int code = q.awaitExit(EXIT_TIMEOUT);
            List<String> lines = q.lines();
            assertThat(code).as("QEMU exit code (0 = ACPI power-off) with output %s", lines).isZero();
            return lines;
        }
    }

    static long field(String line, String key) {
        Matcher m = Pattern.compile("(?:^| )" + Pattern.quote(key) + "=(\\d+)").matcher(line);
        assertThat(m.find()).as("%s= in %s", key, line).isTrue();
        return Long.parseLong(m.group(1));
    }

    static List<String> ticks(List<String> lines) {
        return lines.stream().filter(l -> TICK.matcher(l).matches()).toList();
    }

    @Test
    void shouldPowerOffAtOnceWithExitCodeZero() throws Exception {
        List<String> lines = runToExit(128, "poweroff", List.of());
        assertThat(lines.getFirst()).startsWith("d3guest: boot workload=poweroff mem=128 ");
        assertThat(lines).anyMatch(l -> l.startsWith("d3guest: poweroff reason=poweroff ms="));
    }

    @Test
    void shouldPrintStrictlyIncreasingTicksWhenIdleAndStopAfterRunSeconds() throws Exception {
        List<String> lines = runToExit(128, "idle run-seconds=3", List.of());
        assertThat(lines.getFirst()).startsWith("d3guest: boot workload=idle mem=128 ");
        List<String> ticks = ticks(lines);
        assertThat(ticks).hasSizeGreaterThanOrEqualTo(2);
        for (int i = 0; i < ticks.size(); i++) {
            assertThat(field(ticks.get(i), "tick")).isEqualTo(i + 1);
        }
        assertThat(lines.getLast()).startsWith("d3guest: poweroff reason=run-seconds ");
    }

    @Test
    void shouldDirtyItsWorkingSetAndCountPages() throws Exception {
        List<String> lines = runToExit(256, "dirty wss=32 rate=5000 run-seconds=3", List.of());
        assertThat(lines).anyMatch(l -> l.startsWith("d3guest: dirty wss=32 rate=5000 pages=8192 filled "));
        List<Long> pages = ticks(lines).stream()
                .filter(l -> !l.contains("phase="))
                .map(l -> field(l, "pages")).toList();
        assertThat(pages).isNotEmpty().isSorted();
        assertThat(pages.getLast()).isPositive();
    }

    @Test
    void shouldFillAndVerifyAllMemoryAboveSixteenMiB() throws Exception {
        List<String> lines = runToExit(128, "verify seed=42 hot=4 rate=2000 run-seconds=4", List.of());
        String filled = lines.stream().filter(l -> l.startsWith("d3guest: verify filled ")).findFirst().orElseThrow();
        long pages = field(filled, "pages");
        assertThat(pages).as("128 MiB guest: RAM from 16 MiB up").isBetween(27_000L, 28_672L);
        long classes = field(filled, "zero") + field(filled, "uniform") + field(filled, "sparse")
                + field(filled, "near_uniform") + field(filled, "zero_head") + field(filled, "random");
        assertThat(classes).isEqualTo(pages);
        assertThat(field(filled, "zero")).as("a good share is dispensable-looking").isGreaterThan(pages / 4);
        assertThat(lines).contains("d3guest: verify pass=1 ok");
        assertThat(lines).noneMatch(l -> l.contains("MISMATCH") || l.contains("FAILED"));
    }

    @Test
    void shouldCountThePlacedImageAndKeepDirtyingIt() throws Exception {
        // 1 MiB zero, 1 MiB 0xcc poison, 2 MiB random: the guest's census must see exactly that.
        byte[] img = new byte[4 << 20];
        java.util.Arrays.fill(img, 1 << 20, 2 << 20, (byte) 0xcc);
        byte[] rnd = new byte[2 << 20];
        new Random(7).nextBytes(rnd);
        System.arraycopy(rnd, 0, img, 2 << 20, rnd.length);
        Path file = dir.resolve("image.raw");
        Files.write(file, img);
        List<String> lines = runToExit(128, "image image=0x2000000:0x400000 rate=2000 run-seconds=3",
                List.of("-device", "loader,file=" + file + ",addr=0x2000000,force-raw=on"));
        assertThat(lines).contains(
                "d3guest: image addr=0x2000000 size=0x400000 pages=1024 zero=256 uniform=256 normal=512 rate=2000");
        assertThat(ticks(lines)).isNotEmpty().allSatisfy(l -> assertThat(l).contains("workload=image pages="));
    }

    @Test
    void shouldRejectAnImageOutsideRam() throws Exception {
        List<String> lines = runToExit(128, "image image=0x10000000:0x100000", List.of());
        assertThat(lines).anyMatch(l -> l.startsWith("d3guest: error image: 0x10000000..0x10100000 is not inside"));
    }

    @Test
    void shouldReportMismatchWhenAByteChangesBehindItsBack() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        long addr = 0x2345678L;   // above 16 MiB, outside the hot region (hot=0)
        try (QemuGuest q = QemuGuest.start(elf, 128, "verify seed=9 hot=0 run-seconds=30",
                List.of("-gdb", "tcp:127.0.0.1:" + port))) {
            assertThat(q.awaitLine("d3guest: verify pass=1 ok"::equals, Duration.ofSeconds(60)))
                    .as("first pass in %s", q.lines()).isPresent();
            int before, after;
            try (GdbRemote gdb = new GdbRemote(port)) {   // connecting stops the VM
                before = gdb.readByte(addr);
                gdb.writeByte(addr, before ^ 0x5a);
                after = gdb.readByte(addr);
                gdb.cont();
            }
            assertThat(after).isEqualTo(before ^ 0x5a);
            Optional<String> mismatch = q.awaitLine(l -> l.contains("MISMATCH"), Duration.ofSeconds(30));
            assertThat(mismatch).as("output %s", q.lines()).isPresent();
            long word = addr & ~7L;
            Matcher m = Pattern.compile("^d3guest: verify MISMATCH addr=0x([0-9a-f]+) expected=0x([0-9a-f]{16}) "
                    + "got=0x([0-9a-f]{16})").matcher(mismatch.get());
            assertThat(m.find()).as(mismatch.get()).isTrue();
            assertThat(Long.parseUnsignedLong(m.group(1), 16)).isEqualTo(word);
            long diff = Long.parseUnsignedLong(m.group(2), 16) ^ Long.parseUnsignedLong(m.group(3), 16);
            assertThat(diff).isEqualTo(0x5aL << (8 * (addr - word)));
            assertThat(q.awaitLine(l -> l.matches("d3guest: verify pass=\\d+ FAILED mismatches=1"),
                    Duration.ofSeconds(30))).isPresent();
        }
    }

    /** The few GDB remote-protocol packets the test needs to change guest memory from outside. */
    static final class GdbRemote implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;

        GdbRemote(int port) throws IOException {
            socket = new Socket(InetAddress.getLoopbackAddress(), port);
            socket.setSoTimeout(20_000);
            in = socket.getInputStream();
            out = socket.getOutputStream();
            send("?");
        }

        int readByte(long addr) throws IOException {
            String r = request("m" + Long.toHexString(addr) + ",1");
            assertThat(r).as("gdb m reply").matches("[0-9a-f]{2}");
            return Integer.parseInt(r, 16);
        }

        void writeByte(long addr, int value) throws IOException {
            assertThat(request("M" + Long.toHexString(addr) + ",1:" + HexFormat.of().toHexDigits((byte) value)))
                    .isEqualTo("OK");
        }

        void cont() throws IOException {
            send("c");   // no reply until the guest stops again
        }

        private void send(String payload) throws IOException {
            int sum = 0;
            for (byte b : payload.getBytes(StandardCharsets.US_ASCII)) {
                sum += b & 0xff;
            }
            out.write(("$" + payload + "#" + HexFormat.of().toHexDigits((byte) sum)).getBytes(StandardCharsets.US_ASCII));
            out.flush();
        }

        /** Sends a packet and returns the first reply that is not a stop notification (T.. / S..). */
        private String request(String payload) throws IOException {
            send(payload);
            String r;
            do {
                r = receive();
            } while (r.startsWith("T") || r.startsWith("S"));
            return r;
        }

        private String receive() throws IOException {
            int c;
            while ((c = in.read()) != '$') {   // skip the '+' acknowledgements
                if (c < 0) {
                    throw new IOException("gdbstub closed the connection");
                }
            }
            StringBuilder sb = new StringBuilder();
            while ((c = in.read()) != '#') {
                if (c < 0) {
                    throw new IOException("gdbstub closed the connection");
                }
                sb.append((char) c);
            }
            in.read();
            in.read();
            out.write('+');
            out.flush();
            return sb.toString();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
