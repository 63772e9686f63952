/*
 * d3guest core: Multiboot info, page tables, IDT, PIC + PIT timekeeping, command line, power-off.
 * Both boot paths (Multiboot 32-bit via boot.S, d3vm 64-bit) arrive in kmain in long mode.
 */
#include "lib.h"
#include "arch.h"
#include "kernel.h"

#define MB_BOOT_MAGIC 0x2BADB002u
#define MAX_PDS 64                      /* identity map up to 64 GiB with 2 MiB pages */
#define CMDLINE_MAX 4096

/* Page tables: boot.S fills the first 4 GiB on the Multiboot path; paging_init covers all RAM. */
uint64_t pml4[512] __attribute__((aligned(4096)));
uint64_t pdpt[512] __attribute__((aligned(4096)));
uint64_t pd[MAX_PDS][512] __attribute__((aligned(4096)));

struct idt_gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));
extern const uint64_t isr_table[48];
extern const uint64_t isr_syscall, isr_spurious;
extern uint64_t gdt_tss[2];
extern char boot_stack_top[], user_stack_top[];
void enter_user(void (*rip)(void), void *rsp) __attribute__((noreturn));

#define SYS_WAIT_TICK 0                 /* rdi = jiffies the caller saw: sleep until it changes */
#define SYS_HALT 1                      /* stop for good (after power-off failed) */
#define SYS_WRITE 2                     /* rdi = buffer, rsi = length: to COM1 */
#define SYS_OUTW 3                      /* rdi = port, rsi = value (power-off registers) */
#define SYS_OUTB 4
/* The workload's system call is "int $0x81". kvm_pvm runs user mode natively but answers every
 * "int n" there with #UD; the #UD handler recognises the instruction (cd 81) and runs the same
 * system call, so the guest works both with and without kvm_pvm. */
#define SYSCALL_VECTOR 0x81

struct tss {
    uint32_t reserved0;
    uint64_t rsp0, rsp1, rsp2;
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));

static struct tss tss __attribute__((aligned(16)));
extern uint32_t boot_path_multiboot32;
extern char __image_start[], __image_end[];

struct isr_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

struct range work_ranges[MAX_RANGES];
int n_work_ranges;
uint64_t work_bytes;
uint64_t ram_end;
volatile uint64_t jiffies;
unsigned hz = 100;
/* heartbeat=1: one byte to the ISA debug port 0xe9 on every PIT tick (QEMU's isa-debugcon, d3vm's
 * --debugcon). A host reader timestamps them; the largest gap across a migration's switch-over is
 * the pause the guest lived through, measured the same way under either VMM. */
#define DEBUGCON_PORT 0xe9
static int heartbeat;

static struct range ram[MAX_RANGES];
static int n_ram;
static char cmdline[CMDLINE_MAX];
static const char *workload = "";
static uint64_t run_seconds;
static uint64_t tick_ms = 1000;
static uint64_t next_tick_ms;
static uint64_t tick_count;
static int in_user;                     /* set once the workload runs in ring 3 */

static inline uint64_t syscall2(uint64_t nr, uint64_t a, uint64_t b)
{
    uint64_t ret;
    __asm__ volatile("int $0x81" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "memory");
    return ret;
}
#define syscall1(nr, a) syscall2(nr, a, 0)

void console_write(const char *s, size_t n)
{
    if (in_user) {
        syscall2(SYS_WRITE, (uint64_t)s, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        serial_putc(s[i]);
}

static void port_outw(uint16_t port, uint16_t v)
{
    if (in_user)
        syscall2(SYS_OUTW, port, v);
    else
        outw(port, v);
}

static void port_outb(uint16_t port, uint8_t v)
{
    if (in_user)
        syscall2(SYS_OUTB, port, v);
    else
        outb(port, v);
}

static void halt_forever(void) __attribute__((noreturn));
static void halt_forever(void)
{
    if (in_user)
        syscall1(SYS_HALT, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* ---------------------------------------------------------------------------------------------- */

void poweroff(const char *reason)
{
    kprintf("d3guest: poweroff reason=%s ms=%lu\n", reason, uptime_ms());
    port_outw(0x604, 0x2000);           /* ACPI PM1a_CNT: SLP_TYP 0 + SLP_EN (d3vm; QEMU pc/q35) */
    /* QEMU handles that shutdown request asynchronously while the vCPU keeps running: give it
     * ~0.5 s before the fallback, whose exit status (1) would otherwise win the race. */
    if (in_user) {
        uint64_t end = jiffies + hz / 2;
        while (jiffies < end)
            wait_tick();
    }
    port_outb(0xf4, 0);                 /* isa-debug-exit (QEMU exit status 1; d3vm: power-off) */
    halt_forever();
}

void fatal(const char *fmt, ...)
{
    /* kprintf has no va_list variant; errors are short, so format the common shapes here. */
    va_list ap;
    va_start(ap, fmt);
    kprintf("d3guest: error ");
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            console_putc(*p);
            continue;
        }
        p++;
        int longs = 0;
        while (*p == 'l') {
            longs++;
            p++;
        }
        if (*p == 's')
            kprintf("%s", va_arg(ap, const char *));
        else if (*p == 'x')
            kprintf("%lx", longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned));
        else if (*p == 'u' || *p == 'd')
            kprintf("%lu", longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned));
    }
    va_end(ap);
    console_putc('\n');
    poweroff("error");
}

/* ---------------------------------------------------------------------------------------------- */

uint64_t uptime_ms(void) { return jiffies * 1000 / hz; }

/* Sleeps until the next PIT tick. hlt is privileged, so the ring-3 workload asks the kernel. */
void wait_tick(void)
{
    uint64_t j = jiffies;
    while (jiffies == j)
        syscall1(SYS_WAIT_TICK, j);
}

int tick_begin(void)
{
    uint64_t now = uptime_ms();
    if (run_seconds && now >= run_seconds * 1000)
        poweroff("run-seconds");
    if (now < next_tick_ms)
        return 0;
    /* After a stall (e.g. migration downtime) resume the cadence instead of printing a burst. */
    next_tick_ms = next_tick_ms + tick_ms > now ? next_tick_ms + tick_ms : now + tick_ms;
    kprintf("d3guest: tick=%lu ms=%lu workload=%s", ++tick_count, now, workload);
    return 1;
}

static void syscall_dispatch(struct isr_frame *f);

void isr_dispatch(struct isr_frame *f)
{
    if (f->vector == 6 && (f->cs & 3) == 3) {
        const uint8_t *ip = (const uint8_t *)f->rip;  /* identity-mapped guest code */
        if (ip[0] == 0xcd && ip[1] == SYSCALL_VECTOR) {
            f->rip += 2;
            syscall_dispatch(f);
            return;
        }
    }

    if (f->vector == 0x20) {
        jiffies = jiffies + 1;
        if (heartbeat)
            outb(DEBUGCON_PORT, '.');
        outb(0x20, 0x20);
        return;
    }
    if (f->vector >= 0x20 && f->vector < 0x30) {
        /* Unmasked only IRQ0; anything else is spurious (IRQ7/15) or stray: acknowledge and go on. */
        if (f->vector >= 0x28)
            outb(0xa0, 0x20);
        if (f->vector != 0x27)
            outb(0x20, 0x20);
        return;
    }
    if (f->vector == SYSCALL_VECTOR) {
        syscall_dispatch(f);
        return;
    }
    if (f->vector == 0xff)
        return;                         /* LAPIC spurious interrupt: no EOI */
    in_user = 0;                        /* we are in ring 0: print directly */
    console_flush();
    kprintf("d3guest: panic exception vector=%lu error=0x%lx rip=0x%lx cs=0x%lx cr2=0x%lx "
            "rsp=0x%lx\n",
            f->vector, f->error, f->rip, f->cs, read_cr2(), f->rsp);
    outb(0xf4, 0x31);                   /* QEMU isa-debug-exit: exit status 99 */
    outw(0x604, 0x2000);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void syscall_dispatch(struct isr_frame *f)
{
    if (f->rax == SYS_WAIT_TICK) {
        /* Entered through an interrupt gate (IF=0): the check and the sleep are atomic. */
        if (jiffies == f->rdi)
            sti_hlt();
        cli();
        f->rax = 0;
        return;
    }
    if (f->rax == SYS_WRITE) {
        /* The buffer is the ring-3 line buffer in the guest image; bound it anyway. */
        const char *b = (const char *)f->rdi;
        for (uint64_t i = 0; i < f->rsi && i < 4096; i++)
            serial_putc(b[i]);
        f->rax = 0;
        return;
    }
    if (f->rax == SYS_OUTW || f->rax == SYS_OUTB) {
        /* Only the power-off ports: the workload has no business with other devices. */
        if (f->rdi == 0x604 && f->rax == SYS_OUTW)
            outw(0x604, (uint16_t)f->rsi);
        else if (f->rdi == 0xf4 && f->rax == SYS_OUTB)
            outb(0xf4, (uint8_t)f->rsi);
        f->rax = 0;
        return;
    }
    if (f->rax == SYS_HALT) {
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    f->rax = ~0ULL;
}

static void idt_init(void)
{
    for (int v = 0; v < 256; v++) {
        /* Only vectors 0..47 (exceptions, PIC at 0x20..0x2f) and 0x81 can fire; the rest point at
         * the IRQ15 stub, which acknowledges and returns. 0x81 is the system call, 0xff the
         * LAPIC's spurious vector. */
        uint64_t h = v == SYSCALL_VECTOR ? isr_syscall : v == 0xff ? isr_spurious : isr_table[v < 48 ? v : 47];
        idt[v].off0 = (uint16_t)h;
        idt[v].sel = 0x10;
        idt[v].ist = 0;
        /* Present 64-bit interrupt gates; DPL 3 only for the system call, so that user mode can
         * "int $0x81" but not fake an exception or an IRQ. */
        idt[v].type = v == SYSCALL_VECTOR ? 0xEE : 0x8E;
        idt[v].off1 = (uint16_t)(h >> 16);
        idt[v].off2 = (uint32_t)(h >> 32);
        idt[v].zero = 0;
    }
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) desc = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(desc));
}

static void tss_init(void)
{
    tss.rsp0 = (uint64_t)boot_stack_top;  /* kmain's stack is free once the workload is in ring 3 */
    tss.iomap_base = sizeof tss;          /* no I/O bitmap: IOPL 3 alone grants port access */
    uint64_t base = (uint64_t)&tss, limit = sizeof tss - 1;
    gdt_tss[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
                 ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
    gdt_tss[1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(0x30));
}

/* Local APIC in virtual-wire mode (enabled, LINT0 = ExtINT, LINT1 = NMI), as a BIOS leaves it, so
 * the 8259's interrupts reach the CPU whatever the firmware did: SeaBIOS sets this up, qboot
 * leaves LINT0 masked, and d3vm's in-kernel LAPIC starts in KVM's reset state. Skipped when the
 * CPU reports no APIC or the APIC is disabled in IA32_APIC_BASE (then the PIC is wired directly). */
static void lapic_virtual_wire(void)
{
    uint32_t eax = 1, ebx, ecx = 0, edx;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
    if (!(edx & (1u << 9)))
        return;
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1b));
    uint64_t base = ((uint64_t)hi << 32 | lo);
    if (!(base & (1u << 11)))
        return;
    volatile uint32_t *apic = (volatile uint32_t *)(base & ~0xfffULL);
    if ((uint64_t)apic >= 4 * GiB)
        return;                         /* outside the identity map */
    uint32_t lint0 = apic[0x350 / 4];
    if ((lint0 & 0x10700) == 0x700)
        return;                         /* LINT0 already unmasked ExtINT (SeaBIOS, KVM's reset) */
    apic[0x80 / 4] = 0;                 /* TPR: accept every priority */
    apic[0xf0 / 4] = 0x100 | 0xff;      /* SVR: software enable, spurious vector 0xff */
    apic[0x350 / 4] = 0x700;            /* LVT LINT0: ExtINT, unmasked */
    apic[0x360 / 4] = 0x400;            /* LVT LINT1: NMI */
}

static void pic_pit_init(void)
{
    /* 8259 pair: ICW1..ICW4, vectors 0x20 (master) and 0x28 (slave), cascade on IRQ2. */
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, 0x20);
    outb(0xa1, 0x28);
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xfe);                   /* only IRQ0 (PIT) */
    outb(0xa1, 0xff);
    /* PIT channel 0, lobyte/hibyte, mode 2 (rate generator). */
    uint32_t div = 1193182 / hz;
    outb(0x43, 0x34);
    outb(0x40, (uint8_t)div);
    outb(0x40, (uint8_t)(div >> 8));
}

/* ---------------------------------------------------------------------------------------------- */

static void add_ram(uint64_t base, uint64_t len)
{
    if (len == 0 || n_ram == MAX_RANGES)
        return;
    ram[n_ram].start = base;
    ram[n_ram].end = base + len;
    n_ram++;
    if (base + len > ram_end)
        ram_end = base + len;
}

static void multiboot_read(uint64_t info, uint32_t magic)
{
    if (magic != MB_BOOT_MAGIC)
        fatal("boot magic 0x%x is not Multiboot's 0x2badb002: start the guest through Multiboot "
              "(qemu -kernel) or d3vm's entry64", magic);
    if (info == 0 || info >= 4 * GiB)
        fatal("Multiboot info address 0x%lx is not below 4 GiB", info);
    const uint8_t *mbi = (const uint8_t *)info;
    uint32_t flags = *(const uint32_t *)(mbi + 0);
    if (flags & (1u << 2)) {
        const char *src = (const char *)(uint64_t) * (const uint32_t *)(mbi + 16);
        size_t i = 0;
        for (; i < CMDLINE_MAX - 1 && src[i]; i++)
            cmdline[i] = src[i];
        cmdline[i] = 0;
    }
    if (flags & (1u << 6)) {
        uint32_t len = *(const uint32_t *)(mbi + 44);
        uint64_t addr = *(const uint32_t *)(mbi + 48);
        for (uint64_t p = addr; p + 24 <= addr + len;) {
            uint32_t size = *(const uint32_t *)p;
            uint64_t base = *(const uint64_t *)(p + 4);
            uint64_t length = *(const uint64_t *)(p + 12);
            uint32_t type = *(const uint32_t *)(p + 20);
            if (type == 1)
                add_ram(base, length);
            if (size < 20)
                break;
            p += size + 4;
        }
    }
    if (n_ram == 0 && (flags & 1u)) {
        add_ram(0, (uint64_t) * (const uint32_t *)(mbi + 4) * 1024);
        add_ram(1 * MiB, (uint64_t) * (const uint32_t *)(mbi + 8) * 1024);
    }
    if (n_ram == 0)
        fatal("Multiboot info (flags 0x%x) has neither a memory map nor mem_upper", flags);
}

static void paging_init(void)
{
    uint64_t limit = (uint64_t)MAX_PDS * GiB;
    if (ram_end > limit) {
        kprintf("d3guest: warning RAM above %lu GiB is not mapped and not used\n", limit / GiB);
        ram_end = limit;
    }
    uint64_t pds = (ram_end + GiB - 1) / GiB;
    if (pds < 4)
        pds = 4;                        /* keep the first 4 GiB mapped like the boot tables */
    for (uint64_t d = 0; d < pds; d++) {
        for (uint64_t i = 0; i < 512; i++)
            pd[d][i] = (d * GiB + i * 2 * MiB) | 0x87;  /* present, writable, user, 2 MiB */
        pdpt[d] = (uint64_t)pd[d] | 7;
    }
    pml4[0] = (uint64_t)pdpt | 7;
    write_cr3((uint64_t)pml4);
}

static void work_ranges_init(void)
{
    for (int i = 0; i < n_ram; i++) {
        uint64_t s = ram[i].start < WORK_START ? WORK_START : ram[i].start;
        uint64_t e = ram[i].end > ram_end ? ram_end : ram[i].end;
        s = (s + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        e &= ~(PAGE_SIZE - 1);
        if (s < e && n_work_ranges < MAX_RANGES) {
            work_ranges[n_work_ranges].start = s;
            work_ranges[n_work_ranges].end = e;
            n_work_ranges++;
            work_bytes += e - s;
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */

/* QEMU's Multiboot loader (like GRUB) starts the command line with the kernel's file name; d3vm
 * does not. A first token containing '/' is taken as that name and skipped. Returns the start of
 * "<workload> key=value ...". */
static const char *skip_kernel_path(const char *p)
{
    while (*p == ' ')
        p++;
    const char *q = p;
    int path = 0;
    for (; *q && *q != ' '; q++)
        path |= *q == '/';
    if (!path)
        return p;
    while (*q == ' ')
        q++;
    return q;
}

/* Finds "key=" among the tokens after the workload name; returns the value (up to the next space,
 * copied to a static buffer) or NULL. */
const char *opt_str(const char *key)
{
    static char val[256];
    size_t kl = strlen(key);
    const char *p = skip_kernel_path(cmdline);
    while (*p && *p != ' ')             /* skip the workload name */
        p++;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > kl && strneq(tok, key, kl) && tok[kl] == '=') {
            size_t n = (size_t)(p - tok) - kl - 1;
            if (n >= sizeof val)
                n = sizeof val - 1;
            memcpy(val, tok + kl + 1, n);
            val[n] = 0;
            return val;
        }
    }
    return 0;
}

uint64_t opt_u64(const char *key, uint64_t dflt)
{
    const char *v = opt_str(key);
    if (!v)
        return dflt;
    uint64_t x = 0;
    int base = 10, digits = 0;
    if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
        base = 16;
        v += 2;
    }
    for (; *v; v++, digits++) {
        int d;
        if (*v >= '0' && *v <= '9')
            d = *v - '0';
        else if (base == 16 && *v >= 'a' && *v <= 'f')
            d = *v - 'a' + 10;
        else if (base == 16 && *v >= 'A' && *v <= 'F')
            d = *v - 'A' + 10;
        else
            fatal("option %s: '%s' is not a number", key, opt_str(key));
        if (x > (~0ULL - (uint64_t)d) / (uint64_t)base)
            fatal("option %s: value too large", key);
        x = x * (uint64_t)base + (uint64_t)d;
    }
    if (!digits)
        fatal("option %s: empty value", key);
    return x;
}

static void warn_unknown_options(void)
{
    static const char *const known[] = {"wss", "rate", "seed", "hot", "image", "run-seconds", "hz",
                                        "tick-ms", "heartbeat", 0};
    const char *p = skip_kernel_path(cmdline);
    while (*p && *p != ' ')
        p++;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ' && *p != '=')
            p++;
        size_t n = (size_t)(p - tok);
        int ok = n == 0;
        for (int i = 0; !ok && known[i]; i++)
            ok = strlen(known[i]) == n && strneq(tok, known[i], n);
        if (!ok) {
            kprintf("d3guest: warning unknown option '");
            for (size_t i = 0; i < n; i++)
                console_putc(tok[i]);
            kprintf("' ignored\n");
        }
        while (*p && *p != ' ')
            p++;
    }
}

/* ---------------------------------------------------------------------------------------------- */

static void user_main(void) __attribute__((noreturn));

void kmain(uint64_t info, uint32_t magic)
{
    serial_init();
    multiboot_read(info, magic);        /* copies cmdline and memory map before anything else */
    paging_init();
    work_ranges_init();
    idt_init();

    static char wl[32];
    size_t i = 0;
    const char *p = skip_kernel_path(cmdline);
    for (; p[i] && p[i] != ' ' && i < sizeof wl - 1; i++)
        wl[i] = p[i];
    wl[i] = 0;
    workload = wl[0] ? wl : "idle";

    hz = (unsigned)opt_u64("hz", 100);
    if (hz < 19 || hz > 10000)          /* the PIT divisor must fit 16 bits */
        fatal("option hz=%u out of range 19..10000", hz);
    tick_ms = opt_u64("tick-ms", 1000);
    if (tick_ms == 0)
        fatal("option tick-ms must be > 0");
    run_seconds = opt_u64("run-seconds", 0);
    heartbeat = opt_u64("heartbeat", 0) != 0;
    next_tick_ms = tick_ms;

    uint64_t total = 0;
    for (int r = 0; r < n_ram; r++)
        total += ram[r].end - ram[r].start;
    kprintf("d3guest: boot workload=%s mem=%lu ram_end=0x%lx work=%lu loader=%s kernel=0x%lx-0x%lx "
            "cmdline=\"%s\"\n",
            workload, (total + MiB - 1) / MiB, ram_end, work_bytes / MiB,
            boot_path_multiboot32 ? "multiboot" : "d3vm", (uint64_t)__image_start,
            (uint64_t)__image_end, cmdline);
    warn_unknown_options();

    tss_init();
    lapic_virtual_wire();
    pic_pit_init();
    in_user = 1;
    enter_user(user_main, user_stack_top);
}

/* Ring 3 from here on (see enter_user in boot.S). */
static void user_main(void)
{
    if (streq(workload, "idle"))
        workload_idle();
    if (streq(workload, "dirty"))
        workload_dirty();
    if (streq(workload, "verify"))
        workload_verify();
    if (streq(workload, "image"))
        workload_image();
    if (streq(workload, "poweroff"))
        poweroff("poweroff");
    fatal("unknown workload '%s' (idle | dirty | verify | image | poweroff)", workload);
}
