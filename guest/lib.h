/* Freestanding helpers: serial console, formatting, strings, hashing. */
#ifndef D3GUEST_LIB_H
#define D3GUEST_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define PAGE_SIZE ((uint64_t)4096)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)

void serial_init(void);
void serial_putc(char c);              /* ring 0 only: polls LSR, writes THR */
void console_putc(char c);             /* buffered per line, any ring */
void console_flush(void);
void console_write(const char *s, size_t n); /* kernel.c: serial directly or via system call */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int streq(const char *a, const char *b);
int strneq(const char *a, const char *b, size_t n);

/* splitmix64 finaliser: a well-mixed 64-bit function of its input. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* xorshift64 step: cheap stream for filling pages (state must not be 0). */
static inline uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

#endif
