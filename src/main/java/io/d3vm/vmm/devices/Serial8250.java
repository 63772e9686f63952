package io.d3vm.vmm.devices;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;

/**
 * A 16550A UART (COM1 at 0x3f8, IRQ 4): what the guest writes to THR goes to an output stream
 * (the VMM's stdout, a log, or a test's buffer); bytes given to {@link #enqueueInput} (stdin) are
 * read from RBR. Transmission is instant, so LSR always reports THR and the transmitter empty.
 * Interrupts: received data (IER bit 0) and THR empty (IER bit 1), with the line gated by MCR OUT2
 * as on a PC. Loopback mode (MCR bit 4) echoes THR into RBR, which Linux's probe checks.
 *
 * <p>Thread-safe: vCPU threads and the stdin reader call it concurrently.
 */
public final class Serial8250 implements PioDevice {
    public static final int COM1_BASE = 0x3f8;
    public static final int COM1_IRQ = 4;
    public static final int LENGTH = 8;
    /** Received bytes kept for the guest; stdin beyond this waits (the reader blocks). */
    public static final int RX_CAPACITY = 4096;

    private static final int DATA = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
    private static final int LCR_DLAB = 0x80;
    private static final int MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
    private static final int IER_RDA = 0x01, IER_THRE = 0x02;
    private static final int IIR_NONE = 0x01, IIR_THRE = 0x02, IIR_RDA = 0x04, IIR_FIFO = 0xc0;
    private static final int LSR_DR = 0x01, LSR_THRE = 0x20, LSR_TEMT = 0x40;
    private static final int MSR_DCD = 0x80, MSR_DSR = 0x20, MSR_CTS = 0x10;

    private final OutputStream out;
    private final IrqLine irq;
    private final ArrayDeque<Byte> rx = new ArrayDeque<>();

    private int ier, lcr, mcr, scr, dll = 12 /* 9600 baud, like a BIOS leaves it */, dlm;
    private boolean fifoEnabled;
    private boolean thrEmptyPending;
    private boolean irqLevel;
    private boolean inputFrozen;

    public Serial8250(OutputStream out, IrqLine irq) {
        this.out = out;
        this.irq = irq;
    }

    @Override
    public synchronized int read(int offset, int size) {
        int v = switch (offset) {
            case DATA -> {
                if ((lcr & LCR_DLAB) != 0) {
                    yield dll;
                }
                Byte b = rx.poll();
                notifyAll(); // a blocked enqueueInput may continue
                yield b == null ? 0 : b & 0xff;
            }
            case IER -> (lcr & LCR_DLAB) != 0 ? dlm : ier;
            case IIR_FCR -> {
                int id = interruptId();
                if (id == IIR_THRE) {
                    thrEmptyPending = false; // reading IIR acknowledges THR empty
                }
                yield id | (fifoEnabled ? IIR_FIFO : 0);
            }
            case LCR -> lcr;
            case MCR -> mcr;
            case LSR -> (rx.isEmpty() ? 0 : LSR_DR) | LSR_THRE | LSR_TEMT;
            case MSR -> (mcr & MCR_LOOP) != 0 ? loopbackMsr() : MSR_DCD | MSR_DSR | MSR_CTS;
            case SCR -> scr;
            default -> 0xff;
        };
        updateIrq();
        return v;
    }

    @Override
    public synchronized void write(int offset, int size, int value) {
        int b = value & 0xff;
        switch (offset) {
            case DATA -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dll = b;
                } else if ((mcr & MCR_LOOP) != 0) {
                    if (rx.size() < RX_CAPACITY) {
                        rx.add((byte) b);
                    }
                    thrEmptyPending = true;
                } else {
                    emit(b);
                    thrEmptyPending = true;
                }
            }
            case IER -> {
                if ((lcr & LCR_DLAB) != 0) {
                    dlm = b;
                } else {
                    boolean threNewlyEnabled = (ier & IER_THRE) == 0 && (b & IER_THRE) != 0;
                    ier = b & 0x0f;
                    if (threNewlyEnabled) {
                        thrEmptyPending = true; // the transmitter is empty: a 16550 raises THRE at once
                    }
                }
            }
            case IIR_FCR -> {
                fifoEnabled = (b & 0x01) != 0;
                if ((b & 0x02) != 0) {
                    rx.clear();
                    notifyAll();
                }
            }
            case LCR -> lcr = b;
            case MCR -> mcr = b & 0x1f;
            case SCR -> scr = b;
            default -> { } // LSR and MSR are read-only
        }
        updateIrq();
    }

    /**
     * Hands bytes typed on the console to the guest; blocks while the receive buffer is full, so
     * stdin is read no faster than the guest consumes it.
     */
    public void enqueueInput(byte[] bytes, int length) throws InterruptedException {
        synchronized (this) {
            for (int i = 0; i < length; i++) {
                while (rx.size() >= RX_CAPACITY || inputFrozen) {
                    wait();
                }
                rx.add(bytes[i]);
            }
            updateIrq();
        }
    }

    /**
     * While frozen (the VM is paused for a migration), console input waits in
     * {@link #enqueueInput} instead of changing the state being saved.
     */
    public synchronized void freezeInput(boolean frozen) {
        inputFrozen = frozen;
        notifyAll();
    }

    public synchronized SerialState save() {
        byte[] pending = new byte[rx.size()];
        int i = 0;
        for (Byte b : rx) {
            pending[i++] = b;
        }
        return new SerialState(ier, lcr, mcr, scr, dll, dlm, fifoEnabled, thrEmptyPending, pending);
    }

    public synchronized void restore(SerialState s) {
        if (s.rxBuffer().length > RX_CAPACITY) {
            throw new IllegalArgumentException("serial state holds " + s.rxBuffer().length
                    + " received bytes, more than the " + RX_CAPACITY + " a UART buffer holds");
        }
        ier = s.ier() & 0x0f;
        lcr = s.lcr() & 0xff;
        mcr = s.mcr() & 0x1f;
        scr = s.scr() & 0xff;
        dll = s.dll() & 0xff;
        dlm = s.dlm() & 0xff;
        fifoEnabled = s.fifoEnabled();
        thrEmptyPending = s.thrEmptyPending();
        rx.clear();
        for (byte b : s.rxBuffer()) {
            rx.add(b);
        }
        updateIrq();
    }

    private int interruptId() {
        if ((ier & IER_RDA) != 0 && !rx.isEmpty()) {
            return IIR_RDA;
        }
        if ((ier & IER_THRE) != 0 && thrEmptyPending) {
            return IIR_THRE;
        }
        return IIR_NONE;
    }

    private int loopbackMsr() {
        // Loopback wires OUT2->DCD, OUT1->RI, DTR->DSR, RTS->CTS.
        return ((mcr & 0x08) << 4) | ((mcr & 0x04) << 4) | ((mcr & 0x01) << 5) | ((mcr & 0x02) << 3);
    }

    private void updateIrq() {
        boolean level = interruptId() != IIR_NONE && (mcr & MCR_OUT2) != 0;
        if (level != irqLevel) {
            irqLevel = level;
            irq.set(level);
        }
    }

    private void emit(int b) {
        try {
            out.write(b);
            out.flush(); // a console prompt has no newline: every byte shows at once
        } catch (IOException e) {
            throw new UncheckedIOException("serial console output failed", e);
        }
    }

    /** Pushes buffered console output out (called when the VM stops). */
    public synchronized void flush() {
        try {
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("serial console output failed", e);
        }
    }
}
