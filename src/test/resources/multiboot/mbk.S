/*
 * A small Multiboot v1 kernel that d3vm did not write for itself: it reports on COM1 what the
 * loader gave it (the magic, the info flags, mem_upper, the command line, each module's string and
 * first line, the memory map's RAM), checks its bss is zero, then powers off (ACPI PM1a, then
 * QEMU's isa-debug-exit). Assembled by the tests with GNU as (--32) and linked by ld (-m elf_i386):
 *   FLAGS   Multiboot header flags (bit 0 page-aligned modules, 1 memory info, 16 a.out kludge)
 *   AOUT    1: the header carries the a.out-kludge addresses, and the file is linked as a flat binary
 */
        .code32
        .section .text
        .globl _start
        .align 4
mbh:
        .long 0x1BADB002
        .long FLAGS
        .long -(0x1BADB002 + FLAGS)
.if AOUT
        .long mbh               /* header_addr */
        .long mbh               /* load_addr: the image starts with the header */
        .long _load_end         /* load_end_addr */
        .long _bss_end          /* bss_end_addr */
        .long _start            /* entry_addr */
.endif

_start:
        movl    $stack_top, %esp
        cmpl    $0x2BADB002, %eax
        jne     bad_magic
        movl    %ebx, %ebp
        movl    $s_hello, %esi
        call    puts
        movl    (%ebp), %eax
        andl    $~2, %eax       /* bit 1 (boot_device): QEMU names a BIOS disk; d3vm loads from none */
        call    puthex
        call    newline

        testl   $1, (%ebp)                      /* mem_lower / mem_upper */
        jz      1f
        movl    $s_mem, %esi
        call    puts
        movl    8(%ebp), %eax
        call    puthex
        call    newline
1:
        testl   $4, (%ebp)                      /* command line */
        jz      1f
        movl    $s_cmdline, %esi
        call    puts
        movl    16(%ebp), %esi
        call    puts
        call    newline
1:
        testl   $8, (%ebp)                      /* modules */
        jz      3f
        movl    20(%ebp), %ecx                  /* mods_count */
        movl    24(%ebp), %edi                  /* mods_addr */
2:      testl   %ecx, %ecx
        jz      3f
        movl    $s_module, %esi
        call    puts
        movl    8(%edi), %esi                   /* string */
        call    puts
        movl    $s_holds, %esi
        call    puts
        movl    (%edi), %esi                    /* mod_start: print its first line */
        movl    4(%edi), %ebx                   /* mod_end */
4:      cmpl    %ebx, %esi
        jae     5f
        movb    (%esi), %al
        cmpb    $10, %al
        je      5f
        call    putc
        incl    %esi
        jmp     4b
5:      movl    $s_aligned, %esi
        call    puts
        movl    (%edi), %eax
        andl    $0xfff, %eax
        call    puthex
        call    newline
        addl    $16, %edi
        decl    %ecx
        jmp     2b
3:
        testl   $64, (%ebp)                     /* memory map: RAM above 1 MiB, in KiB */
        jz      1f
        movl    48(%ebp), %esi                  /* mmap_addr */
        movl    44(%ebp), %ecx
        addl    %esi, %ecx                      /* its end */
        xorl    %edx, %edx                      /* KiB of RAM at or above 1 MiB */
6:      cmpl    %ecx, %esi
        jae     7f
        cmpl    $1, 20(%esi)                    /* type 1: RAM */
        jne     8f
        cmpl    $0x100000, 4(%esi)              /* base (low 32 bits) */
        jb      8f
        movl    12(%esi), %eax                  /* length, low 32 bits */
        shrl    $10, %eax
        addl    %eax, %edx
8:      addl    (%esi), %esi
        addl    $4, %esi
        jmp     6b
7:      movl    $s_mmap, %esi
        call    puts
        movl    %edx, %eax
        call    puthex
        call    newline
1:
        movl    $bss_start, %esi                /* the loader zeroed the bss (the stack is not in it) */
        movl    $bss_end_checked, %ecx
9:      cmpl    %ecx, %esi
        jae     10f
        cmpb    $0, (%esi)
        jne     bss_dirty
        incl    %esi
        jmp     9b
10:     movl    $s_bss_ok, %esi
        call    puts
        jmp     poweroff

bss_dirty:
        movl    $s_bss_bad, %esi
        call    puts
        jmp     poweroff
bad_magic:
        movl    $s_magic, %esi
        call    puts
poweroff:
        /* isa-debug-exit first: QEMU exits at once with status 1, inside the out instruction.
         * The ACPI S5 write went first once, and QEMU's main loop handles that request
         * asynchronously: now and then it won the race and QEMU exited 0 (1 run in ~20 failed so).
         * d3vm powers off on either port; a machine without isa-debug-exit on the ACPI one. */
        movw    $0xf4, %dx
        movb    $0, %al
        outb    %al, %dx
        movw    $0x604, %dx
        movw    $0x2000, %ax
        outw    %ax, %dx
11:     hlt
        jmp     11b

/* putc: %al to COM1 once its transmitter is empty */
putc:
        pushl   %edx
        pushl   %eax
        movw    $0x3fd, %dx
12:     inb     %dx, %al
        testb   $0x20, %al
        jz      12b
        popl    %eax
        movw    $0x3f8, %dx
        outb    %al, %dx
        popl    %edx
        ret

/* puts: the NUL-terminated string at %esi */
puts:
        pushl   %eax
        pushl   %esi
13:     movb    (%esi), %al
        testb   %al, %al
        jz      14f
        call    putc
        incl    %esi
        jmp     13b
14:     popl    %esi
        popl    %eax
        ret

newline:
        pushl   %eax
        movb    $10, %al
        call    putc
        popl    %eax
        ret

/* puthex: %eax as 8 hex digits */
puthex:
        pushl   %ecx
        pushl   %ebx
        movl    $8, %ecx
15:     roll    $4, %eax
        movl    %eax, %ebx
        andl    $15, %ebx
        pushl   %eax
        movb    hexdigits(%ebx), %al
        call    putc
        popl    %eax
        decl    %ecx
        jnz     15b
        popl    %ebx
        popl    %ecx
        ret

        .section .data
hexdigits:  .ascii "0123456789abcdef"
s_hello:    .asciz "mbk: flags="
s_mem:      .asciz "mbk: mem_upper="
s_cmdline:  .asciz "mbk: cmdline="
s_module:   .asciz "mbk: module "
s_holds:    .asciz " holds: "
s_aligned:  .asciz " page-offset="
s_mmap:     .asciz "mbk: ram-above-1M-kib="
s_bss_ok:   .asciz "mbk: bss zero, done\n"
s_bss_bad:  .asciz "mbk: bss NOT zero\n"
s_magic:    .asciz "mbk: bad magic\n"
_load_end:

        .section .bss
stack:
        .space  8192
stack_top:
bss_start:
        .space  4096
bss_end_checked:
_bss_end:
