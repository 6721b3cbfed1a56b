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

/* True when the environment variable is set to something other than "" or "0". */
bool vkt__env_flag(const char *name);

/* Grows a dynamic array to hold `need` elements; false on out of memory. */
bool vkt__grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem);

/* Monotonic clock in seconds. */
double vkt__now(void);

#endif
