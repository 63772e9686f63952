/*
 * d3guest workloads: idle, dirty, verify, image (README.md documents options and output lines).
 * Page contents imitate what real Linux guests hold (docs/BENCHMARKS.md, "Real guest memory") (zero, poison/uniform, text,
 * random and struct-array pages), so the migration detector has realistic work.
 */
#include "lib.h"
#include "arch.h"
#include "kernel.h"

#define WORDS (PAGE_SIZE / 8)
#define MAX_HOT_PAGES (1u << 18)        /* verify hot= up to 1 GiB */
#define MISMATCH_LINES_PER_PASS 8

/* Address of the idx-th page of workload memory (ranges in order). */
static uint64_t *page_at(uint64_t idx)
{
    uint64_t off = idx * PAGE_SIZE;
    for (int r = 0; r < n_work_ranges; r++) {
        uint64_t len = work_ranges[r].end - work_ranges[r].start;
        if (off < len)
            return (uint64_t *)(work_ranges[r].start + off);
        off -= len;
    }
    fatal("page index %lu beyond workload memory", idx);
}

static const uint64_t poison[4] = {0xccccccccccccccccULL, 0xffffffffffffffffULL,
                                   0x6b6b6b6b6b6b6b6bULL, 0x5a5a5a5a5a5a5a5aULL};

static const char *const words[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be",
    "kernel", "page", "memory", "migration", "return", "struct", "static", "int", "void", "if",
    "else", "while", "for", "include", "define", "error", "warning", "info", "debug", "user",
    "root", "home", "usr", "lib", "bin", "etc", "var", "log", "systemd", "network", "device",
    "virtual", "machine", "dispensable", "data", "0x7f", "NULL", "true", "false", "config",
    "=", "{", "}", "(", ")", ";", "#", "//", "-", "2026"};
#define NWORDS (sizeof words / sizeof words[0])

/* ASCII text lines; a third of the pages end early with a zero tail, like a file's last page. */
static void fill_text(uint64_t *pg, uint64_t h)
{
    char *b = (char *)pg;
    uint64_t s = h | 1;
    size_t limit = (h % 3 == 0) ? (size_t)(64 + (h >> 8) % (PAGE_SIZE - 64)) : PAGE_SIZE;
    size_t n = 0, col = 0;
    while (n < limit) {
        const char *w = words[xorshift64(&s) % NWORDS];
        while (*w && n < limit) {
            b[n++] = *w++;
            col++;
        }
        if (n < limit) {
            b[n++] = (col > 60) ? '\n' : ' ';
            if (col > 60)
                col = 0;
        }
    }
    for (; n < PAGE_SIZE; n++)
        b[n] = 0;
}

/* An array of 64-byte records shaped like the kernel's struct page: flags, refcount, pointers,
 * zero fields — what made power-of-two probe spacing alias (docs/DESIGN.md, decision 4). */
static void fill_struct(uint64_t *pg, uint64_t h)
{
    uint64_t s = h | 1;
    for (uint64_t i = 0; i < WORDS; i += 8) {
        uint64_t r = xorshift64(&s);
        pg[i + 0] = 0x17ffffc0000000ULL | (r & 0x3ff);          /* flags */
        pg[i + 1] = 0xffff888000000000ULL | ((r >> 10) & 0xfffffc0); /* list pointer */
        pg[i + 2] = pg[i + 1] + 8;
        pg[i + 3] = (r >> 40) & 1 ? 0xffff888000000000ULL | ((r >> 20) & 0xffff000) : 0;
        pg[i + 4] = (r >> 44) & 0xffff;                          /* index */
        pg[i + 5] = 0;
        pg[i + 6] = 1 + ((r >> 60) & 3);                         /* refcount/mapcount */
        pg[i + 7] = 0;
    }
}

static void fill_random(uint64_t *pg, uint64_t h)
{
    uint64_t s = h | 1;
    for (uint64_t i = 0; i < WORDS; i++)
        pg[i] = xorshift64(&s);
}

static void fill_words(uint64_t *pg, uint64_t v)
{
    for (uint64_t i = 0; i < WORDS; i++)
        pg[i] = v;
}

/* The dirty workload's mix: 25 % zero, 10 % uniform, 30 % text, 20 % random, 15 % struct array. */
static void fill_realistic(uint64_t *pg, uint64_t h)
{
    unsigned c = (unsigned)(h % 100);
    uint64_t h2 = mix64(h);
    if (c < 25)
        fill_words(pg, 0);
    else if (c < 35)
        fill_words(pg, poison[h2 & 3]);
    else if (c < 65)
        fill_text(pg, h2);
    else if (c < 85)
        fill_random(pg, h2);
    else
        fill_struct(pg, h2);
}

/* Paces work at `rate` units per second on the PIT clock. rate 0 = as fast as possible. */
struct pacer {
    uint64_t rate, start_j, credited, done;
};

static void pacer_init(struct pacer *p, uint64_t rate)
{
    p->rate = rate;
    p->start_j = jiffies;
    p->credited = 0;
    p->done = 0;
}

/* How many units may run now (0: wait for the next tick). At most one second of backlog is kept,
 * so a stall (e.g. migration downtime) is not followed by a burst. */
static uint64_t pacer_allow(struct pacer *p, uint64_t max)
{
    if (p->rate == 0)
        return max;
    uint64_t due = (jiffies - p->start_j) * p->rate / hz;
    if (due > p->credited + p->rate)
        p->credited = due - p->rate;
    uint64_t n = due > p->credited ? due - p->credited : 0;
    return n < max ? n : max;
}

static void pacer_did(struct pacer *p, uint64_t n)
{
    p->credited += n;
    p->done += n;
}

/* ============================================================================================== */

void workload_idle(void)
{
    for (;;) {
        if (tick_begin())
            kprintf("\n");
        wait_tick();
    }
}

/* ============================================================================================== */

void workload_dirty(void)
{
    uint64_t wss_mib = opt_u64("wss", 64);
    uint64_t rate = opt_u64("rate", 1000);
    uint64_t seed = opt_u64("seed", 1);
    uint64_t pages = wss_mib * MiB / PAGE_SIZE;
    if (pages == 0)
        fatal("dirty: wss=%lu MiB is empty", wss_mib);
    if (pages * PAGE_SIZE > work_bytes) {
        kprintf("d3guest: warning dirty wss=%lu MiB exceeds workload memory, using %lu MiB\n",
                wss_mib, work_bytes / MiB);
        pages = work_bytes / PAGE_SIZE;
    }
    for (uint64_t i = 0; i < pages; i++) {
        fill_realistic(page_at(i), mix64(seed ^ (i << 20)));
        if ((i & 255) == 0 && tick_begin())
            kprintf(" phase=fill pages=%lu\n", i);
    }
    kprintf("d3guest: dirty wss=%lu rate=%lu pages=%lu filled ms=%lu\n", pages * PAGE_SIZE / MiB,
            rate, pages, uptime_ms());

    struct pacer pc;
    pacer_init(&pc, rate);
    uint64_t last_done = 0, last_ms = uptime_ms(), n = 0;
    for (;;) {
        uint64_t now = uptime_ms();
        if (tick_begin()) {
            uint64_t dt = now > last_ms ? now - last_ms : 1;
            kprintf(" pages=%lu rate=%lu\n", pc.done, (pc.done - last_done) * 1000 / dt);
            last_done = pc.done;
            last_ms = now;
        }
        uint64_t k = pacer_allow(&pc, 64);
        if (k == 0) {
            wait_tick();
            continue;
        }
        for (uint64_t j = 0; j < k; j++, n++) {
            uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ULL + n + 1);
            fill_realistic(page_at(h % pages), mix64(h));
        }
        pacer_did(&pc, k);
    }
}

/* ============================================================================================== */
/*
 * verify: page p (index into workload memory) with generation g holds pattern(seed, p, g).
 * Classes (by hash of seed, p, g): 35 % zero, 15 % uniform, 8 % sparse (one non-zero word),
 * 4 % near-uniform (uniform but one word), 5 % zero-head (first half zero), 33 % random.
 * The sparse/near-uniform/zero-head pages are the ones a sampling detector could mistake for
 * dispensable; if it does, the destination's copy differs and this workload reports MISMATCH.
 * The first hot= MiB are rewritten at rate= pages/s with gen+1; generations live in guest RAM.
 */
static uint32_t gens[MAX_HOT_PAGES];
static uint64_t v_seed;

struct pattern {
    unsigned cls;
    uint64_t value, special_idx, special_val, stream;
};

static struct pattern pattern_of(uint64_t p, uint64_t g)
{
    uint64_t h = mix64(v_seed * 0x9e3779b97f4a7c15ULL ^ mix64(p * 0xd1b54a32d192ed03ULL + g));
    struct pattern pt;
    unsigned c = (unsigned)(h % 100);
    uint64_t h2 = mix64(h);
    pt.value = h2 | 1;
    pt.special_idx = (h2 >> 17) % WORDS;
    pt.special_val = pt.value ^ (h2 >> 7 | 0x100);
    pt.stream = mix64(h2) | 1;
    pt.cls = c < 35 ? 0 : c < 50 ? 1 : c < 58 ? 2 : c < 62 ? 3 : c < 67 ? 4 : 5;
    return pt;
}

/* Word i of a page with pattern pt; `s` is the page's xorshift state, advanced for random words. */
static inline uint64_t pattern_word(const struct pattern *pt, uint64_t i, uint64_t *s)
{
    switch (pt->cls) {
    case 0:
        return 0;
    case 1:
        return pt->value;
    case 2:
        return i == pt->special_idx ? pt->value : 0;
    case 3:
        return i == pt->special_idx ? pt->special_val : pt->value;
    case 4:
        if (i < WORDS / 2)
            return 0;
        return xorshift64(s);
    default:
        return xorshift64(s);
    }
}

static void verify_write(uint64_t p, uint64_t g)
{
    struct pattern pt = pattern_of(p, g);
    uint64_t *pg = page_at(p), s = pt.stream;
    for (uint64_t i = 0; i < WORDS; i++)
        pg[i] = pattern_word(&pt, i, &s);
}

static uint64_t mismatches_total, mismatches_pass, mismatch_lines;

static void verify_check(uint64_t p, uint64_t g)
{
    struct pattern pt = pattern_of(p, g);
    const volatile uint64_t *pg = page_at(p);
    uint64_t s = pt.stream;
    for (uint64_t i = 0; i < WORDS; i++) {
        uint64_t want = pattern_word(&pt, i, &s), got = pg[i];
        if (got != want) {
            mismatches_total++;
            mismatches_pass++;
            if (mismatch_lines++ < MISMATCH_LINES_PER_PASS)
                kprintf("d3guest: verify MISMATCH addr=0x%lx expected=0x%016lx got=0x%016lx "
                        "page=%lu gen=%lu\n",
                        (uint64_t)&pg[i], want, got, p, g);
        }
    }
}

void workload_verify(void)
{
    v_seed = opt_u64("seed", 1);
    uint64_t hot_mib = opt_u64("hot", 8);
    uint64_t rate = opt_u64("rate", 1000);
    uint64_t pages = work_bytes / PAGE_SIZE;
    if (pages == 0)
        fatal("verify: no RAM above 16 MiB (give the guest more memory)");
    uint64_t hot = hot_mib * MiB / PAGE_SIZE;
    if (hot > MAX_HOT_PAGES || hot > pages)
        fatal("verify: hot=%lu MiB exceeds min(1024 MiB, workload memory %lu MiB)", hot_mib,
              work_bytes / MiB);
    if (hot == 0)
        rate = 0;

    uint64_t counts[6] = {0};
    for (uint64_t p = 0; p < pages; p++) {
        verify_write(p, 0);
        counts[pattern_of(p, 0).cls]++;
        if ((p & 255) == 0 && tick_begin())
            kprintf(" phase=fill pages=%lu\n", p);
    }
    kprintf("d3guest: verify filled seed=%lu pages=%lu zero=%lu uniform=%lu sparse=%lu "
            "near_uniform=%lu zero_head=%lu random=%lu hot=%lu rate=%lu ms=%lu\n",
            v_seed, pages, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], hot,
            rate, uptime_ms());

    struct pacer pc;
    pacer_init(&pc, rate);
    uint64_t pass = 0, n = 0;
    for (;;) {
        mismatches_pass = 0;
        mismatch_lines = 0;
        for (uint64_t p = 0; p < pages; p++) {
            verify_check(p, p < hot ? gens[p] : 0);
            if ((p & 63) != 0)
                continue;
            if (tick_begin())
                kprintf(" pass=%lu page=%lu rewrites=%lu mismatches=%lu\n", pass, p, pc.done,
                        mismatches_total);
            if (hot) {
                uint64_t k = pacer_allow(&pc, 64);
                for (uint64_t j = 0; j < k; j++, n++) {
                    uint64_t q = mix64(v_seed ^ (n << 1)) % hot;
                    /* Content first, then the generation: a single vCPU never checks in between,
                     * and a migration copies both (or neither) consistently. */
                    verify_write(q, gens[q] + 1);
                    gens[q] = gens[q] + 1;
                }
                pacer_did(&pc, k);
            }
        }
        pass++;
        if (mismatches_pass == 0)
            kprintf("d3guest: verify pass=%lu ok\n", pass);
        else
            kprintf("d3guest: verify pass=%lu FAILED mismatches=%lu\n", pass, mismatches_pass);
    }
}

/* ============================================================================================== */
/*
 * image: a raw memory image placed at image=0x<addr>:0x<size> by the VMM (d3vm before boot, QEMU
 * with -device loader). Keeps changing it the way a running OS changes its RAM: small edits of
 * existing pages, copies of other pages, frees (zero), poison, and fresh content.
 */
static int page_is_uniform(const uint64_t *pg)
{
    for (uint64_t i = 1; i < WORDS; i++)
        if (pg[i] != pg[0])
            return 0;
    return 1;
}

void workload_image(void)
{
    const char *spec = opt_str("image");
    if (!spec)
        fatal("image: needs image=0x<addr>:0x<size>");
    static char a[64];
    size_t i = 0;
    for (; spec[i] && spec[i] != ':' && i < sizeof a - 1; i++)
        a[i] = spec[i];
    a[i] = 0;
    if (spec[i] != ':')
        fatal("image: '%s' is not 0x<addr>:0x<size>", spec);
    /* Parse both halves with the option parser's rules (decimal or 0x hex). */
    uint64_t addr = 0, size = 0;
    {
        const char *parts[2] = {a, spec + i + 1};
        uint64_t *outs[2] = {&addr, &size};
        for (int k = 0; k < 2; k++) {
            const char *v = parts[k];
            int base = 10;
            if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
                base = 16;
                v += 2;
            }
            if (!*v)
                fatal("image: empty number in '%s'", spec);
            for (; *v; v++) {
                int d = (*v >= '0' && *v <= '9') ? *v - '0'
                        : (base == 16 && *v >= 'a' && *v <= 'f') ? *v - 'a' + 10
                        : (base == 16 && *v >= 'A' && *v <= 'F') ? *v - 'A' + 10
                                                                   : -1;
                if (d < 0)
                    fatal("image: '%s' is not 0x<addr>:0x<size>", spec);
                *outs[k] = *outs[k] * (uint64_t)base + (uint64_t)d;
            }
        }
    }
    if ((addr | size) & (PAGE_SIZE - 1) || size == 0)
        fatal("image: addr 0x%lx and size 0x%lx must be non-zero multiples of 4 KiB", addr, size);
    int inside = 0;
    for (int r = 0; r < n_work_ranges; r++)
        if (addr >= work_ranges[r].start && addr + size <= work_ranges[r].end && addr + size > addr)
            inside = 1;
    if (!inside)
        fatal("image: 0x%lx..0x%lx is not inside one RAM range above 16 MiB (give the guest more "
              "memory or place the image higher)",
              addr, addr + size);

    uint64_t pages = size / PAGE_SIZE, zero = 0, uniform = 0;
    for (uint64_t p = 0; p < pages; p++) {
        const uint64_t *pg = (const uint64_t *)(addr + p * PAGE_SIZE);
        if (page_is_uniform(pg)) {
            if (pg[0] == 0)
                zero++;
            else
                uniform++;
        }
        if ((p & 1023) == 0 && tick_begin())
            kprintf(" phase=census pages=%lu\n", p);
    }
    uint64_t rate = opt_u64("rate", 1000);
    uint64_t seed = opt_u64("seed", 1);
    kprintf("d3guest: image addr=0x%lx size=0x%lx pages=%lu zero=%lu uniform=%lu normal=%lu "
            "rate=%lu\n",
            addr, size, pages, zero, uniform, pages - zero - uniform, rate);

    struct pacer pc;
    pacer_init(&pc, rate);
    uint64_t n = 0;
    for (;;) {
        if (tick_begin())
            kprintf(" pages=%lu\n", pc.done);
        uint64_t k = pacer_allow(&pc, 64);
        if (k == 0) {
            wait_tick();
            continue;
        }
        for (uint64_t j = 0; j < k; j++, n++) {
            uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ULL + n + 1), h2 = mix64(h);
            uint64_t *pg = (uint64_t *)(addr + (h % pages) * PAGE_SIZE);
            unsigned c = (unsigned)(h2 % 100);
            if (c < 30) {                               /* edit a few words of the page */
                uint64_t s = h2 | 1, edits = 1 + (h2 >> 8) % 8;
                for (uint64_t e = 0; e < edits; e++) {
                    uint64_t r = xorshift64(&s);
                    pg[r % WORDS] = (r >> 32) & 1 ? 0xffff888000000000ULL | (r >> 36 << 6)
                                                  : r >> 48;
                }
            } else if (c < 50) {                        /* copy another page: duplicate content */
                const uint64_t *src = (const uint64_t *)(addr + ((h2 >> 16) % pages) * PAGE_SIZE);
                if (src != pg)
                    for (uint64_t w = 0; w < WORDS; w++)
                        pg[w] = src[w];
            } else if (c < 65) {                        /* freed and cleared */
                fill_words(pg, 0);
            } else if (c < 70) {                        /* freed with poison */
                fill_words(pg, poison[(h2 >> 8) & 3]);
            } else {
                fill_realistic(pg, h2);
            }
        }
        pacer_did(&pc, k);
    }
}
