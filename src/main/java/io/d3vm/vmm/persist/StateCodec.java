package io.d3vm.vmm.persist;

import io.d3vm.kvm.Blob;
import io.d3vm.kvm.ClockData;
import io.d3vm.kvm.CpuidEntry;
import io.d3vm.kvm.DTable;
import io.d3vm.kvm.DebugRegs;
import io.d3vm.kvm.Fpu;
import io.d3vm.kvm.IrqchipState;
import io.d3vm.kvm.LapicState;
import io.d3vm.kvm.MsrEntry;
import io.d3vm.kvm.PitChannel;
import io.d3vm.kvm.PitState2;
import io.d3vm.kvm.Regs;
import io.d3vm.kvm.Segment;
import io.d3vm.kvm.Sregs;
import io.d3vm.kvm.VcpuEvents;
import io.d3vm.kvm.Xcr;
import io.d3vm.kvm.Xcrs;
import io.d3vm.kvm.Xsave;
import io.d3vm.vmm.devices.Serial8250;
import io.d3vm.vmm.devices.SerialState;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The byte form of a {@link MachineState} (the opaque {@code byte[]} of
 * {@code Migratable.saveState}). Big-endian {@code DataOutput} fields in a fixed order:
 * <pre>
 *   u32 magic "D3VS"   u32 version (1)
 *   VM: 3 x irqchip (u8 chip id, u16 length, bytes), PIT (3 x 13 channel fields, u32 flags),
 *       clock (i64 clock, u32 flags, i64 realtime, i64 host_tsc)
 *   u16 vCPU count, then per vCPU: u16 id, u32 mp_state, 18 x i64 regs, sregs (8 segments,
 *       2 dtables, cr0 cr2 cr3 cr4 cr8 efer apic_base, 4 x i64 interrupt bitmap),
 *       u8 fp kind (1 xsave, 2 fpu) + u32 length + bytes, u8 has-xcrs [+ u32 flags, u8 n,
 *       n x (u32, i64)], debugregs (7 x i64), lapic (u16 length + bytes), u16 MSR count +
 *       (u32 index, i64 value) each, vcpu_events (u16 length + bytes), u16 CPUID count + 7 x u32
 *       each, u32 tsc_khz
 *   serial: 6 x u8 registers, 2 x bool, u16 length + received bytes
 *   u32 magic "END."
 * </pre>
 * Every count and length is checked against its limit before anything is allocated, and the
 * input must end exactly at the end marker.
 */
public final class StateCodec {
    public static final int MAGIC = 0x44335653; // "D3VS"
    public static final int END = 0x454e442e;   // "END."
    public static final int VERSION = 1;
    private static final int MAX_XSAVE = 1 << 20;
    private static final int MAX_MSRS = 4096;
    private static final int MAX_CPUID = 1024;
    private static final int FP_XSAVE = 1, FP_FPU = 2;

    private StateCodec() {}

    public static byte[] encode(MachineState s) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(16384);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            writeVm(out, s.vm());
            out.writeShort(s.vcpus().size());
            for (VcpuState v : s.vcpus()) {
                writeVcpu(out, v);
            }
            writeSerial(out, s.serial());
            out.writeInt(END);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** @throws IllegalArgumentException naming what is wrong when the bytes are not a valid state */
    public static MachineState decode(byte[] data) {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
        try {
            int magic = in.readInt();
            if (magic != MAGIC) {
                throw new IllegalArgumentException(String.format("saved VM state has magic 0x%08x, not \"D3VS\"", magic));
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new IllegalArgumentException("saved VM state is version " + version + "; this d3vm reads version " + VERSION);
            }
            VmState vm = readVm(in);
            int n = in.readUnsignedShort();
            if (n < 1 || n > MachineState.MAX_VCPUS) {
                throw new IllegalArgumentException("saved VM state has " + n + " vCPUs (1.." + MachineState.MAX_VCPUS + ")");
            }
            List<VcpuState> vcpus = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                vcpus.add(readVcpu(in));
            }
            SerialState serial = readSerial(in);
            if (in.readInt() != END) {
                throw new IllegalArgumentException("saved VM state lacks its end marker: corrupt or from another version");
            }
            if (in.available() != 0) {
                throw new IllegalArgumentException("saved VM state has " + in.available() + " bytes after its end marker");
            }
            return new MachineState(vm, vcpus, serial);
        } catch (EOFException e) {
            throw new IllegalArgumentException("saved VM state is truncated (" + data.length + " bytes)");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // --- VM ---

    static void writeVm(DataOutputStream out, VmState vm) throws IOException {
        for (IrqchipState c : List.of(vm.picMaster(), vm.picSlave(), vm.ioapic())) {
            out.writeByte(c.chipId());
            writeBlob16(out, c.data());
        }
        for (PitChannel c : vm.pit().channels()) {
            out.writeInt(c.count());
            out.writeShort(c.latchedCount());
            int[] b = {c.countLatched(), c.statusLatched(), c.status(), c.readState(), c.writeState(), c.writeLatch(),
                    c.rwMode(), c.mode(), c.bcd(), c.gate()};
            for (int x : b) {
                out.writeByte(x);
            }
            out.writeLong(c.countLoadTime());
        }
        out.writeInt(vm.pit().flags());
        ClockData k = vm.clock();
        out.writeLong(k.clock());
        out.writeInt(k.flags());
        out.writeLong(k.realtime());
        out.writeLong(k.hostTsc());
    }

    static VmState readVm(DataInputStream in) throws IOException {
        IrqchipState[] chips = new IrqchipState[3];
        for (int i = 0; i < 3; i++) {
            int id = in.readUnsignedByte();
            chips[i] = new IrqchipState(id, readBlob16(in, "irqchip"));
        }
        List<PitChannel> ch = new ArrayList<>(3);
        for (int i = 0; i < 3; i++) {
            int count = in.readInt();
            int latched = in.readUnsignedShort();
            int[] b = new int[10];
            for (int j = 0; j < b.length; j++) {
                b[j] = in.readUnsignedByte();
            }
            ch.add(new PitChannel(count, latched, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], in.readLong()));
        }
        PitState2 pit = new PitState2(ch, in.readInt());
        ClockData clock = new ClockData(in.readLong(), in.readInt(), in.readLong(), in.readLong());
        return new VmState(chips[0], chips[1], chips[2], pit, clock);
    }

    // --- vCPU ---

    static void writeVcpu(DataOutputStream out, VcpuState v) throws IOException {
        out.writeShort(v.id());
        out.writeInt(v.mpState());
        for (long r : v.regs().toArray()) {
            out.writeLong(r);
        }
        writeSregs(out, v.sregs());
        if (v.xsave() != null) {
            out.writeByte(FP_XSAVE);
            writeBlob32(out, v.xsave().region());
        } else {
            out.writeByte(FP_FPU);
            writeBlob32(out, v.fpu().raw());
        }
        out.writeBoolean(v.xcrs() != null);
        if (v.xcrs() != null) {
            out.writeInt(v.xcrs().flags());
            out.writeByte(v.xcrs().xcrs().size());
            for (Xcr x : v.xcrs().xcrs()) {
                out.writeInt(x.xcr());
                out.writeLong(x.value());
            }
        }
        DebugRegs d = v.debugRegs();
        for (long x : new long[] {d.dr0(), d.dr1(), d.dr2(), d.dr3(), d.dr6(), d.dr7(), d.flags()}) {
            out.writeLong(x);
        }
        writeBlob16(out, v.lapic().regs());
        out.writeShort(v.msrs().size());
        for (MsrEntry m : v.msrs()) {
            out.writeInt(m.index());
            out.writeLong(m.data());
        }
        writeBlob16(out, v.events().raw());
        out.writeShort(v.cpuid().size());
        for (CpuidEntry e : v.cpuid()) {
            for (int x : new int[] {e.function(), e.index(), e.flags(), e.eax(), e.ebx(), e.ecx(), e.edx()}) {
                out.writeInt(x);
            }
        }
        out.writeInt(v.tscKhz());
    }

    static VcpuState readVcpu(DataInputStream in) throws IOException {
        int id = in.readUnsignedShort();
        int mp = in.readInt();
        long[] r = new long[18];
        for (int i = 0; i < r.length; i++) {
            r[i] = in.readLong();
        }
        Sregs sregs = readSregs(in);
        int fpKind = in.readUnsignedByte();
        Xsave xsave = null;
        Fpu fpu = null;
        switch (fpKind) {
            case FP_XSAVE -> xsave = new Xsave(readBlob32(in, MAX_XSAVE, "xsave"));
            case FP_FPU -> fpu = new Fpu(readBlob32(in, MAX_XSAVE, "fpu"));
            default -> throw new IllegalArgumentException("vCPU " + id + " has unknown FPU state kind " + fpKind);
        }
        Xcrs xcrs = null;
        if (in.readBoolean()) {
            int flags = in.readInt();
            int n = in.readUnsignedByte();
            if (n > Xcrs.MAX) {
                throw new IllegalArgumentException("vCPU " + id + " has " + n + " XCRs (at most " + Xcrs.MAX + ")");
            }
            List<Xcr> list = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                list.add(new Xcr(in.readInt(), in.readLong()));
            }
            xcrs = new Xcrs(list, flags);
        }
        DebugRegs dr = new DebugRegs(in.readLong(), in.readLong(), in.readLong(), in.readLong(), in.readLong(),
                in.readLong(), in.readLong());
        LapicState lapic = new LapicState(readBlob16(in, "lapic"));
        int nMsrs = in.readUnsignedShort();
        if (nMsrs > MAX_MSRS) {
            throw new IllegalArgumentException("vCPU " + id + " has " + nMsrs + " MSRs (at most " + MAX_MSRS + ")");
        }
        List<MsrEntry> msrs = new ArrayList<>(nMsrs);
        for (int i = 0; i < nMsrs; i++) {
            msrs.add(new MsrEntry(in.readInt(), in.readLong()));
        }
        VcpuEvents events = new VcpuEvents(readBlob16(in, "vcpu_events"));
        int nCpuid = in.readUnsignedShort();
        if (nCpuid > MAX_CPUID) {
            throw new IllegalArgumentException("vCPU " + id + " has " + nCpuid + " CPUID entries (at most " + MAX_CPUID + ")");
        }
        List<CpuidEntry> cpuid = new ArrayList<>(nCpuid);
        for (int i = 0; i < nCpuid; i++) {
            cpuid.add(new CpuidEntry(in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt()));
        }
        int tscKhz = in.readInt();
        return new VcpuState(id, mp, Regs.fromArray(r), sregs, xsave, fpu, xcrs, dr, lapic, msrs, events, cpuid, tscKhz);
    }

    static void writeSregs(DataOutputStream out, Sregs s) throws IOException {
        for (Segment g : List.of(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt())) {
            out.writeLong(g.base());
            out.writeInt(g.limit());
            out.writeShort(g.selector());
            for (int x : new int[] {g.type(), g.present(), g.dpl(), g.db(), g.s(), g.l(), g.g(), g.avl(), g.unusable()}) {
                out.writeByte(x);
            }
        }
        for (DTable t : List.of(s.gdt(), s.idt())) {
            out.writeLong(t.base());
            out.writeShort(t.limit());
        }
        for (long x : new long[] {s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase()}) {
            out.writeLong(x);
        }
        for (long x : s.interruptBitmap()) {
            out.writeLong(x);
        }
    }

    static Sregs readSregs(DataInputStream in) throws IOException {
        Segment[] seg = new Segment[8];
        for (int i = 0; i < 8; i++) {
            long base = in.readLong();
            int limit = in.readInt();
            int sel = in.readUnsignedShort();
            int[] b = new int[9];
            for (int j = 0; j < 9; j++) {
                b[j] = in.readUnsignedByte();
            }
            seg[i] = new Segment(base, limit, sel, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]);
        }
        DTable gdt = new DTable(in.readLong(), in.readUnsignedShort());
        DTable idt = new DTable(in.readLong(), in.readUnsignedShort());
        long[] c = new long[7];
        for (int i = 0; i < 7; i++) {
            c[i] = in.readLong();
        }
        long[] bitmap = {in.readLong(), in.readLong(), in.readLong(), in.readLong()};
        return new Sregs(seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7], gdt, idt,
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], bitmap);
    }

    // --- devices ---

    static void writeSerial(DataOutputStream out, SerialState s) throws IOException {
        for (int x : new int[] {s.ier(), s.lcr(), s.mcr(), s.scr(), s.dll(), s.dlm()}) {
            out.writeByte(x);
        }
        out.writeBoolean(s.fifoEnabled());
        out.writeBoolean(s.thrEmptyPending());
        byte[] rx = s.rxBuffer();
        out.writeShort(rx.length);
        out.write(rx);
    }

    static SerialState readSerial(DataInputStream in) throws IOException {
        int[] r = new int[6];
        for (int i = 0; i < 6; i++) {
            r[i] = in.readUnsignedByte();
        }
        boolean fifo = in.readBoolean();
        boolean thre = in.readBoolean();
        int n = in.readUnsignedShort();
        if (n > Serial8250.RX_CAPACITY) {
            throw new IllegalArgumentException("serial state holds " + n + " received bytes (at most " + Serial8250.RX_CAPACITY + ")");
        }
        byte[] rx = new byte[n];
        in.readFully(rx);
        return new SerialState(r[0], r[1], r[2], r[3], r[4], r[5], fifo, thre, rx);
    }

    private static void writeBlob16(DataOutputStream out, Blob b) throws IOException {
        out.writeShort(b.length());
        out.write(b.toArray());
    }

    private static Blob readBlob16(DataInputStream in, String what) throws IOException {
        int n = in.readUnsignedShort();
        if (n > in.available()) {
            throw new IllegalArgumentException("saved VM state is truncated inside " + what);
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return new Blob(b);
    }

    private static void writeBlob32(DataOutputStream out, Blob b) throws IOException {
        out.writeInt(b.length());
        out.write(b.toArray());
    }

    private static Blob readBlob32(DataInputStream in, int max, String what) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > max) {
            throw new IllegalArgumentException(what + " state of " + n + " bytes (at most " + max + ")");
        }
        if (n > in.available()) {
            throw new IllegalArgumentException("saved VM state is truncated inside " + what);
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return new Blob(b);
    }
}
