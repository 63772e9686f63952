package io.d3vm.vmm.devices;

import java.util.Arrays;

/**
 * Saved state of a {@link Serial8250}: its registers and the received bytes the guest has not read
 * yet. Immutable; crosses the wire inside the VM's saved state.
 */
public record SerialState(int ier, int lcr, int mcr, int scr, int dll, int dlm, boolean fifoEnabled,
                          boolean thrEmptyPending, byte[] rxBuffer) {
    public SerialState {
        rxBuffer = rxBuffer.clone();
    }

    @Override
    public byte[] rxBuffer() {
        return rxBuffer.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SerialState s && s.ier == ier && s.lcr == lcr && s.mcr == mcr && s.scr == scr
                && s.dll == dll && s.dlm == dlm && s.fifoEnabled == fifoEnabled
                && s.thrEmptyPending == thrEmptyPending && Arrays.equals(s.rxBuffer, rxBuffer);
    }

    @Override
    public int hashCode() {
        return ((ier * 31 + lcr) * 31 + mcr) * 31 + Arrays.hashCode(rxBuffer);
    }

    @Override
    public String toString() {
        return "SerialState[ier=" + ier + ", lcr=" + lcr + ", mcr=" + mcr + ", scr=" + scr + ", dll=" + dll
                + ", dlm=" + dlm + ", fifo=" + fifoEnabled + ", thrEmptyPending=" + thrEmptyPending
                + ", rx=" + rxBuffer.length + " bytes]";
    }
}
