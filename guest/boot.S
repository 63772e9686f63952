/*
 * d3guest entry points.
 *
 *  - _start32: Multiboot v1 entry (QEMU -kernel). 32-bit protected mode, paging off, EAX=0x2BADB002,
 *    EBX=Multiboot info. Loads our GDT, identity-maps the first 4 GiB with 2 MiB pages in the final
 *    page tables, enables long mode and joins entry64.
 *  - entry64: d3vm entry (guest/README.md "Boot contract"). 64-bit mode, CS=0x10, RSP=0, RDI=Multiboot info,
 *    EAX=0x2BADB002, interrupts off.
 *
 * Our GDT uses the same selectors as d3vm's (code64 0x10, data 0x18), so a d3vm entry needs no far
 * return to reload CS; the 32-bit path far-jumps to 0x10. Nothing here uses a 32-bit iret (kvm_pvm's
 * emulator rejects it, docs/HOST-KVM.md).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003             /* bit 0: page-align modules, bit 1: give memory info/map */
#define D3VM_MAGIC 0x4D563344           /* "D3VM" little-endian */
#define SEL_CODE32 0x08
#define SEL_CODE64 0x10
#define SEL_DATA 0x18

    .section .head, "a"
    .align 8
    .globl mb_header
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long 0
    .globl d3vm_header
d3vm_header:
    .long D3VM_MAGIC
    .long 1                             /* version */
    .quad entry64
    .quad 0                             /* reserved */

/* ------------------------------------------------------------------ 32-bit Multiboot path */
    .section .text32, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    mov %eax, %edi                      /* Multiboot magic, kept for kmain */
    mov %ebx, %esi                      /* Multiboot info address */
    lgdt gdt_desc
    ljmp $SEL_CODE32, $1f
1:  mov $SEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %esp

    /* pml4[0] -> pdpt; pdpt[0..3] -> pd[0..3]; pd entries: 2 MiB identity pages for 0..4 GiB.
     * The C side extends the same tables to all RAM (kernel.c, paging_init). */
    mov $pml4, %ebx
    movl $(pdpt + 3), (%ebx)
    movl $0, 4(%ebx)
    mov $pdpt, %ebx
    mov $pd, %eax
    or $3, %eax
    xor %ecx, %ecx
2:  mov %eax, (%ebx,%ecx,8)
    movl $0, 4(%ebx,%ecx,8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jne 2b
    mov $pd, %ebx
    xor %ecx, %ecx
3:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax                      /* present, writable, 2 MiB */
    mov %eax, (%ebx,%ecx,8)
    movl $0, 4(%ebx,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 3b

    mov %cr4, %eax
    or $0x20, %eax                      /* PAE */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx               /* EFER */
    rdmsr
    or $0x100, %eax                     /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax                /* PG | PE */
    mov %eax, %cr0
    movl $1, boot_path_multiboot32
    ljmp $SEL_CODE64, $from32

/* ------------------------------------------------------------------ 64-bit entry (d3vm) */
    .text
    .code64
from32:
    mov %edi, %eax                      /* magic */
    mov %esi, %edi                      /* info (zero-extended) */
    /* fall through */
    .globl entry64
entry64:
    cli
    cld
    mov $boot_stack_top, %rsp
    mov %rdi, %r12
    mov %eax, %r13d
    lgdt gdt_desc
    mov $SEL_DATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov %r12, %rdi
    mov %r13d, %esi
    xor %ebp, %ebp
    call kmain
4:  cli
    hlt
    jmp 4b

/* ------------------------------------------------------------------ interrupt stubs */
/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30. The others push a 0. */
    .macro ISR n
    .align 16
isr\n:
    .if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
    .else
    pushq $0
    .endif
    pushq $\n
    jmp isr_common
    .endm

    .altmacro
    .set i, 0
    .rept 48
    ISR %i
    .set i, i + 1
    .endr

    ISR 129                             /* int $0x81: system call from the user-mode workload */
    ISR 255                             /* LAPIC spurious vector */

    .align 16
isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi                      /* struct isr_frame * (16-byte aligned: 22 quadwords) */
    call isr_dispatch
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp                       /* vector and error code */
    iretq

/* enter_user(rip, rsp): leaves ring 0 for good. kvm_pvm emulates every instruction a guest runs
 * in kernel mode but runs user mode natively, so the workloads run in ring 3 (IOPL 3 lets them do
 * port I/O; interrupts and system calls come back to ring 0 through the IDT and the TSS). */
    .globl enter_user
enter_user:
    pushq $0x23                         /* SS: user data | RPL 3 */
    pushq %rsi                          /* RSP */
    pushq $0x3202                       /* RFLAGS: IF, IOPL 3, reserved bit 1 */
    pushq $0x2b                         /* CS: user code | RPL 3 */
    pushq %rdi                          /* RIP */
    iretq

/* ------------------------------------------------------------------ data */
    .section .rodata
    .align 8
    .globl isr_table
isr_table:
    .set i, 0
    .rept 48
    .macro ISRADDR n
    .quad isr\n
    .endm
    ISRADDR %i
    .purgem ISRADDR
    .set i, i + 1
    .endr
    .globl isr_syscall
isr_syscall:
    .quad isr129
    .globl isr_spurious
isr_spurious:
    .quad isr255

    .data
    .align 16
gdt:
    .quad 0
    .quad 0x00CF9B000000FFFF            /* 0x08: flat 32-bit code (Multiboot trampoline) */
    .quad 0x00AF9B000000FFFF            /* 0x10: 64-bit code, same selector as d3vm's */
    .quad 0x00CF93000000FFFF            /* 0x18: flat data */
    .quad 0x00CFF3000000FFFF            /* 0x20: user data (DPL 3) */
    .quad 0x00AFFB000000FFFF            /* 0x28: user 64-bit code (DPL 3) */
    .globl gdt_tss
gdt_tss:
    .quad 0, 0                          /* 0x30: 64-bit TSS, filled in by kernel.c (tss_init) */
gdt_end:
    .align 8
    .globl gdt_desc
gdt_desc:
    .word gdt_end - gdt - 1
    .quad gdt

    .globl boot_path_multiboot32
    .align 4
boot_path_multiboot32:
    .long 0

    .bss
    .align 4096
    .globl boot_stack
boot_stack:
    .skip 65536
    .globl boot_stack_top
boot_stack_top:
    .align 4096
user_stack:
    .skip 65536
    .globl user_stack_top
user_stack_top:
    .section .note.GNU-stack, "", @progbits
