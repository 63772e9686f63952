/* State and services shared by the guest's core (kernel.c) and its workloads (workloads.c). */
#ifndef D3GUEST_KERNEL_H
#define D3GUEST_KERNEL_H

#include <stdint.h>

#define WORK_START (16 * MiB)   /* workload memory: from 16 MiB to the end of RAM (contract) */
#define MAX_RANGES 32

struct range {
    uint64_t start, end;        /* [start, end), page-aligned */
};

/* RAM available to workloads: Multiboot RAM regions clipped to [16 MiB, mapped end). */
extern struct range work_ranges[MAX_RANGES];
extern int n_work_ranges;
extern uint64_t work_bytes;
extern uint64_t ram_end;        /* highest RAM address + 1 */

extern volatile uint64_t jiffies; /* PIT interrupts since boot; lives in guest RAM, so it migrates */
extern unsigned hz;

uint64_t uptime_ms(void);
void wait_tick(void);

/* Command-line options: "<workload> key=value ...". */
const char *opt_str(const char *key);
uint64_t opt_u64(const char *key, uint64_t dflt);

/* Heartbeat: returns 1 (after printing "d3guest: tick=<n> ms=<ms> workload=<w>") when a tick line
 * is due; the caller then prints its own " key=value" fields and "\n". Also enforces run-seconds. */
int tick_begin(void);

void poweroff(const char *reason) __attribute__((noreturn));
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

void workload_idle(void) __attribute__((noreturn));
void workload_dirty(void) __attribute__((noreturn));
void workload_verify(void) __attribute__((noreturn));
void workload_image(void) __attribute__((noreturn));

#endif
