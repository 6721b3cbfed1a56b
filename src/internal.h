/*
 * internal.h — what every vkt source file shares: error reporting, defaults, small helpers.
 * Nothing here is exported.
 */
#ifndef VKT_INTERNAL_H
#define VKT_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vkt/core.h"

#define VKT__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VKT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define VKT__MAX(a, b) ((a) > (b) ? (a) : (b))
#define VKT__DIV_UP(a, b) (((a) + (b)-1) / (b))
#define VKT__ALIGN_UP(a, b) (VKT__DIV_UP(a, b) * (b))
/* sokol's _sg_def: a zero member means "use the default". */
#define VKT__DEF(v, d) ((v) == 0 ? (d) : (v))

/* Contract checks that stay on in release builds (host-side, cheap). */
#define VKT__ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "vkt: assertion failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Records the thread's last error and returns `s`, so callers can `return vkt__error(...)`. */
vkt_status vkt__error(vkt_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like vkt__error but prefixes the existing message: "while X: <old message>". */
vkt_status vkt__error_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Host allocations. Every host allocation in the library goes through these (never malloc and
 * friends directly), so the suite can fail the n-th one and prove each failure path: the result
 * is an error with a message, no crash, no leak, no damaged file. Release them with free().
 */
void *vkt__malloc(size_t n);
void *vkt__calloc(size_t count, size_t size);
void *vkt__realloc(void *p, size_t n);
char *vkt__strdup(const char *s);

/*
 * Allocation-failure injection (tests only). After vkt__alloc_fail_at(n), allocations are counted
 * from 0 and the one numbered n fails, as does every later one when `sticky`; n < 0 disarms.
 * vkt__alloc_count() is the number counted since the last vkt__alloc_fail_at() call, so a test
 * first runs the operation with n = -1 to learn how many points it has, then fails each in turn.
 * vkt__alloc_failed() says whether an injected failure happened since arming, and
 * vkt__alloc_largest() is the largest single request since then (a reader that trusts a header's
 * size shows up here).
 */
void vkt__alloc_fail_at(long n, bool sticky);
long vkt__alloc_count(void);
bool vkt__alloc_failed(void);
size_t vkt__alloc_largest(void);

/* True when the environment variable is set to something other than "" or "0". */
bool vkt__env_flag(const char *name);

/* Grows a dynamic array to hold `need` elements; false on out of memory. */
bool vkt__grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem);

/* splitmix64: the one seeded generator behind shuffles, initialisation and checks. */
typedef struct vkt__rng {
    uint64_t state;
} vkt__rng;

static inline uint64_t vkt__rng_next(vkt__rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double vkt__rng_uniform(vkt__rng *r)
{
    return (double)(vkt__rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32 for n < 2^32). */
static inline uint32_t vkt__rng_below(vkt__rng *r, uint32_t n)
{
    return (uint32_t)(((vkt__rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* A growing NUL-terminated string; `oom` is set (and later writes are dropped) when realloc fails.
 */
typedef struct vkt__sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} vkt__sbuf;

void vkt__sb_putn(vkt__sbuf *b, const char *s, size_t n);
void vkt__sb_puts(vkt__sbuf *b, const char *s);
void vkt__sb_putc(vkt__sbuf *b, char c);

/* Monotonic clock in seconds. */
double vkt__now(void);

#endif
