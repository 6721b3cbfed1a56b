/*
 * check.c — the self-test runner and the helpers the check families share.
 */
#include <math.h>
#include <string.h>

#include "check/check.h"

typedef struct family {
    const char *name;
    void (*run)(vkt__check_ctx *c);
} family;

/* One line per family: src/check/check_<name>.c. */
static const family families[] = {
    {"elementwise", vkt__check_elementwise},
    {"matmul", vkt__check_matmul},
    {"softmax_xent", vkt__check_softmax_xent},
    {"optim", vkt__check_optim},
    {"reduce", vkt__check_reduce},
    {"data", vkt__check_data},
    {"clip", vkt__check_clip},
    {"store", vkt__check_store},
    {"metrics", vkt__check_metrics},
    {"shape", vkt__check_shape},
    {"norm", vkt__check_norm},
    {"conv", vkt__check_conv},
    {"embedding", vkt__check_embedding},
    {"attention", vkt__check_attention},
    {"peak", vkt__check_peak},
    {"grad", vkt__check_grad}, /* finite differences; keep last: it uses every family */
};

static const char *family_names[VKT__ARRAY_LEN(families) + 1];

const char *const *vkt_selftest_families(void)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(families); i++) {
        family_names[i] = families[i].name;
    }
    family_names[VKT__ARRAY_LEN(families)] = NULL;
    return family_names;
}

vkt_status vkt_selftest(vkt_device *dev, const char *filter, vkt_check_fn fn, void *user,
                        uint32_t *checks, uint32_t *failures)
{
    vkt__check_ctx c = {
        .dev = dev,
        .filter = (filter && filter[0]) ? filter : NULL,
        .fn = fn,
        .user = user,
        .rng = 0x9E3779B97F4A7C15ull,
    };
    for (size_t i = 0; i < VKT__ARRAY_LEN(families); i++) {
        c.family = families[i].name;
        /* seeded by the family's name, so adding a family does not change another's inputs */
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
        for (const char *p = families[i].name; *p; p++) {
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
        }
        c.rng = 0x9E3779B97F4A7C15ull ^ h;
        families[i].run(&c);
    }
    if (checks) {
        *checks = c.checks;
    }
    if (failures) {
        *failures = c.failures;
    }
    if (c.checks == 0) {
        return vkt__error(VKT_NOT_FOUND, "vkt_selftest: no check matches \"%s\"",
                          filter ? filter : "");
    }
    if (c.failures > 0) {
        return vkt__error(VKT_ERROR, "vkt_selftest: %u of %u checks failed", c.failures, c.checks);
    }
    return VKT_OK;
}

bool vkt__check_wants(const vkt__check_ctx *c, const char *op)
{
    return !c->filter || strcmp(c->filter, c->family) == 0 || strstr(op, c->filter) != NULL;
}

void vkt__check_report(vkt__check_ctx *c, const char *op, const char *shape, double max_err,
                       double tol, double ms, const char *note)
{
    bool pass = max_err <= tol; /* false for NaN */
    c->checks++;
    c->failures += !pass;
    if (c->fn) {
        vkt_check_result r = {c->family, op, shape, max_err, tol, pass, ms, note};
        c->fn(&r, c->user);
    }
}

void vkt__check_report_failure(vkt__check_ctx *c, const char *op, const char *shape)
{
    char note[1024];
    snprintf(note, sizeof note, "%s", vkt_last_error());
    vkt__check_report(c, op, shape, INFINITY, 0.0, 0.0, note);
}

uint64_t vkt__check_next(vkt__check_ctx *c)
{
    vkt__rng r = {c->rng}; /* the library's one generator (internal.h) */
    uint64_t v = vkt__rng_next(&r);
    c->rng = r.state;
    return v;
}

float *vkt__check_rand(vkt__check_ctx *c, int64_t n, float lo, float hi)
{
    float *p = vkt__malloc((size_t)n * sizeof *p);
    if (!p) {
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        vkt__rng r = {c->rng};
        double u = vkt__rng_uniform(&r);
        c->rng = r.state;
        p[i] = (float)(lo + (hi - lo) * u);
    }
    return p;
}

int32_t *vkt__check_rand_int(vkt__check_ctx *c, int64_t n, int32_t hi)
{
    int32_t *p = vkt__malloc((size_t)n * sizeof *p);
    if (!p) {
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        p[i] = (int32_t)(vkt__check_next(c) % (uint64_t)hi);
    }
    return p;
}

vkt_tensor *vkt__check_tensor(vkt_device *dev, vkt_dtype dtype, const void *data, int ndim,
                              const int64_t *shape)
{
    vkt_tensor *t = vkt_tensor_new(dev, dtype, ndim, shape);
    if (t && data && vkt_tensor_upload(t, data, vkt_tensor_bytes(t)) != VKT_OK) {
        vkt_tensor_free(t);
        return NULL;
    }
    return t;
}

void *vkt__check_fetch(const vkt_tensor *t)
{
    if (!t) {
        return NULL;
    }
    void *p = vkt__malloc(vkt_tensor_bytes(t));
    if (p && vkt_tensor_download(t, p, vkt_tensor_bytes(t)) != VKT_OK) {
        free(p);
        return NULL;
    }
    return p;
}

double vkt__max_err(const float *got, const float *want, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (isnan(w) && isnan(g)) {
            continue;
        }
        if (!isfinite(g) && isfinite(w)) {
            return INFINITY;
        }
        if (isinf(w) && g == w) {
            continue;
        }
        double e = fabs(g - w) / fmax(1.0, fabs(w));
        if (!(e <= m)) {
            m = e;
        }
    }
    return m;
}
