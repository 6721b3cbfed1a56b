/*
 * core.c — the status table, the thread's last error, small shared helpers.
 */
#include <string.h>
#include <time.h>

#include "internal.h"

static _Thread_local char last_error[1024];
static _Thread_local vkt_status last_status;

const char *vkt_status_name(vkt_status s)
{
    switch (s) {
#define VKT__NAME_CASE(name, value, desc)                                                          \
    case VKT_##name:                                                                               \
        return #name;
        VKT_STATUS_MAP(VKT__NAME_CASE)
#undef VKT__NAME_CASE
    default:
        return "UNKNOWN";
    }
}

const char *vkt_status_str(vkt_status s)
{
    switch (s) {
#define VKT__STR_CASE(name, value, desc)                                                           \
    case VKT_##name:                                                                               \
        return desc;
        VKT_STATUS_MAP(VKT__STR_CASE)
#undef VKT__STR_CASE
    default:
        return "unknown status";
    }
}

const char *vkt_last_error(void) { return last_error; }
vkt_status vkt_last_status(void) { return last_status; }

void vkt_clear_error(void)
{
    last_error[0] = '\0';
    last_status = VKT_OK;
}

const char *vkt_version(void) { return VKT_VERSION_STRING; }

vkt_status vkt__error(vkt_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_status = s;
    return s;
}

vkt_status vkt__error_context(const char *fmt, ...)
{
    char prefix[512], old[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) {
        n = sizeof last_error - 3;
    }
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t m = strlen(old);
    if (m > sizeof last_error - n - 3) {
        m = sizeof last_error - n - 3;
    }
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return last_status;
}

bool vkt__env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

double vkt__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Injection state: one process-wide counter (vkt is single-threaded on the host). */
static long alloc_fail_at = -1;
static long alloc_seen;
static bool alloc_sticky, alloc_hit;
static size_t alloc_largest;

void vkt__alloc_fail_at(long n, bool sticky)
{
    alloc_fail_at = n;
    alloc_sticky = sticky;
    alloc_seen = 0;
    alloc_hit = false;
    alloc_largest = 0;
}

long vkt__alloc_count(void) { return alloc_seen; }
bool vkt__alloc_failed(void) { return alloc_hit; }
size_t vkt__alloc_largest(void) { return alloc_largest; }

/* True when this allocation is the one to fail. */
static bool alloc_inject(size_t n)
{
    alloc_largest = VKT__MAX(alloc_largest, n);
    long i = alloc_seen++;
    if (alloc_fail_at >= 0 && (i == alloc_fail_at || (alloc_sticky && i > alloc_fail_at))) {
        alloc_hit = true;
        return true;
    }
    return false;
}

void *vkt__malloc(size_t n) { return alloc_inject(n) ? NULL : malloc(n ? n : 1); }
void *vkt__calloc(size_t count, size_t size)
{
    return alloc_inject(count * size) ? NULL : calloc(count ? count : 1, size ? size : 1);
}
void *vkt__realloc(void *p, size_t n) { return alloc_inject(n) ? NULL : realloc(p, n ? n : 1); }
char *vkt__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = vkt__malloc(n);
    if (p) {
        memcpy(p, s, n);
    }
    return p;
}

bool vkt__grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) {
        return true;
    }
    uint32_t n = VKT__MAX(need, *cap ? *cap * 2 : 8);
    void *p = vkt__realloc(*ptr, (size_t)n * elem);
    if (!p) {
        return false;
    }
    *ptr = p;
    *cap = n;
    return true;
}

void vkt__sb_putn(vkt__sbuf *b, const char *s, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = vkt__realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void vkt__sb_puts(vkt__sbuf *b, const char *s) { vkt__sb_putn(b, s, strlen(s)); }

void vkt__sb_putc(vkt__sbuf *b, char c) { vkt__sb_putn(b, &c, 1); }
