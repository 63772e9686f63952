package io.d3vm.vmm.devices;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class IoBusTest {
    @Test
    void shouldRouteToTheDeviceWithItsOffsetAndReadUnclaimedPortsAsOnes() {
        IoBus bus = new IoBus();
        List<String> seen = new ArrayList<>();
        bus.register(0x3f8, 8, new PioDevice() {
            public int read(int offset, int size) {
                return 0x40 + offset;
            }

            public void write(int offset, int size, int value) {
                seen.add(offset + ":" + value);
            }
        });
        bus.write(0x3fb, 1, 3);
        assertThat(seen).containsExactly("3:3");
        assertThat(bus.read(0x3fd, 1)).isEqualTo(0x45);
        assertThat(bus.read(0x3f7, 1)).isEqualTo(0xff);
        assertThat(bus.read(0x400, 2)).isEqualTo(0xffff);
        assertThat(bus.read(0x400, 4)).isEqualTo(0xffffffff);
        bus.write(0x80, 1, 0);
        assertThat(bus.unclaimedAccesses()).isEqualTo(4);
        assertThat(bus.lastUnclaimedPort()).isEqualTo(0x80);
    }

    @Test
    void shouldRejectOverlappingRanges() {
        IoBus bus = new IoBus();
        PioDevice d = new PioDevice() {
            public int read(int offset, int size) {
                return 0;
            }

            public void write(int offset, int size, int value) { }
        };
        bus.register(0x60, 5, d);
        assertThatThrownBy(() -> bus.register(0x64, 1, d)).hasMessageContaining("overlaps");
        assertThatThrownBy(() -> bus.register(0x5f, 2, d)).hasMessageContaining("overlaps");
        bus.register(0x65, 1, d);
    }

    @Test
    void shouldPowerOffOnAcpiSleepAndDebugExitAndResetOnI8042Command() {
        List<String> events = new ArrayList<>();
        PlatformEvents pe = new PlatformEvents() {
            public void powerOff(String source) {
                events.add("off");
            }

            public void reset(String source) {
                events.add("reset");
            }
        };
        IoBus bus = new IoBus();
        bus.register(0x60, 5, new I8042(pe));
        bus.register(0x604, 2, new PowerOffPorts(PowerOffPorts.Kind.ACPI_PM1A, pe));
        bus.register(0xf4, 4, new PowerOffPorts(PowerOffPorts.Kind.DEBUG_EXIT, pe));
        bus.write(0x604, 2, 0x0000);
        bus.write(0x64, 1, 0xd1);
        assertThat(events).isEmpty();
        bus.write(0x604, 2, 0x2000);
        bus.write(0xf4, 1, 0);
        bus.write(0x64, 1, 0xfe);
        assertThat(events).containsExactly("off", "off", "reset");
    }
}
