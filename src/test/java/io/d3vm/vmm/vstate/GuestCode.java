package io.d3vm.vmm.vstate;

import java.io.ByteArrayOutputStream;

/** A tiny x86-64 assembler for hand-written test guests: only the instructions the tests need. */
final class GuestCode {
    private final ByteArrayOutputStream b = new ByteArrayOutputStream();

    GuestCode bytes(int... v) {
        for (int x : v) {
            b.write(x);
        }
        return this;
    }

    private GuestCode imm32(int v) {
        return bytes(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    }

    /** mov dx, imm16 */
    GuestCode movDx(int port) {
        return bytes(0x66, 0xba, port & 0xff, (port >>> 8) & 0xff);
    }

    /** mov al, imm8 */
    GuestCode movAl(int v) {
        return bytes(0xb0, v & 0xff);
    }

    /** mov ax, imm16 */
    GuestCode movAx(int v) {
        return bytes(0x66, 0xb8, v & 0xff, (v >>> 8) & 0xff);
    }

    /** mov ecx, imm32 */
    GuestCode movEcx(int v) {
        bytes(0xb9);
        return imm32(v);
    }

    /** out dx, al */
    GuestCode outDxAl() {
        return bytes(0xee);
    }

    /** out dx, ax */
    GuestCode outDxAx() {
        return bytes(0x66, 0xef);
    }

    /** in al, dx */
    GuestCode inAlDx() {
        return bytes(0xec);
    }

    /** mov dword [abs32], imm32 */
    GuestCode storeDword(int address, int value) {
        bytes(0xc7, 0x04, 0x25);
        imm32(address);
        return imm32(value);
    }

    /** mov byte [abs32], al */
    GuestCode storeAl(int address) {
        bytes(0x88, 0x04, 0x25);
        return imm32(address);
    }

    /** mov al, byte [abs32] */
    GuestCode loadAl(int address) {
        bytes(0x8a, 0x04, 0x25);
        return imm32(address);
    }

    /** Prints {@code s} on COM1 (no LSR polling: d3vm's THR is always empty). */
    GuestCode print(String s) {
        movDx(0x3f8);
        for (char c : s.toCharArray()) {
            movAl(c).outDxAl();
        }
        return this;
    }

    /** outw(0x604, 0x2000): the contract's ACPI power-off. */
    GuestCode powerOff() {
        return movDx(0x604).movAx(0x2000).outDxAx();
    }

    /** ecx = n; loop: out 0x80, al; dec ecx; jnz loop. */
    GuestCode portLoop(int n) {
        movEcx(n);
        bytes(0xe6, 0x80);       // out 0x80, al
        bytes(0xff, 0xc9);       // dec ecx
        return bytes(0x75, 0xfa); // jnz -6
    }

    /** jmp $ (spin forever). */
    GuestCode spin() {
        return bytes(0xeb, 0xfe);
    }

    /** ud2: an invalid opcode, to provoke an exception with no IDT. */
    GuestCode ud2() {
        return bytes(0x0f, 0x0b);
    }

    byte[] toArray() {
        return b.toByteArray();
    }
}
