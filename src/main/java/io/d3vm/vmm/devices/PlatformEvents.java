package io.d3vm.vmm.devices;

/** What a device asks of the machine: power off or reset. The VM ends its run on either. */
public interface PlatformEvents {
    void powerOff(String source);

    void reset(String source);
}
