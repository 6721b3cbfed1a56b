/*
 * check_matmul.c — vkt_matmul and its backward pass against src/ref/ref_matmul.c, for the four
 * transpose combinations and both kernels (shaders/matmul_tiled.comp, matmul_regblock.comp),
 * forced through src/ops/matmul.h whatever the device would pick; 2-D products, batched ones
 * (3-D and 4-D, batches of 1, 3, 6 and 7) and batches sharing a 2-D operand (a or b).
 *
 * Error measure and tolerance. For C[i, j] = sum_k x_k y_k summed in fp32 (any order, with or
 * without fused multiply-adds) the rounding error is at most gamma_K * sum_k |x_k y_k| with
 * gamma_K ~= K u, u = 2^-24 (Higham, Accuracy and Stability, 3.1). The check therefore divides
 * |got - want| by S[i, j] = sum_k |x_k y_k| (plus |initial value| when accumulating) and allows
 * (K + 2) u for the product (K for the sum, ~1 for gamma_K's slack and rounding the double
 * reference to float) and (N + 3) u for dA, (M + 3) u for dB (their sums run over N and M; one
 * more for adding into the existing gradient, one for the reference's second rounding); a
 * shared operand's gradient sums over batch * N (batch * M) terms, in one product over the fused
 * inner dimension or as per-batch products summed after (at most N + batch terms deep), so its
 * bound is (batch * N + 3) u (dB: (batch * M + 3) u). It is
 * a worst-case bound, so correct kernels cannot fail it, while a dropped or misplaced term
 * costs about 1/K of S (>= 1e-3 here, > 15x the largest tolerance), and rounding operands to
 * fp16 costs ~2^-11 / sqrt(K) (caught for the small K cases).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "ops/matmul.h"

typedef struct mm_case {
    int64_t M, N, K;
    bool grid_only;     /* forward pass of the regblock kernel only (see below) */
    int nbd;            /* batch dimensions (0: a 2-D product) */
    int64_t bdims[2];
    char shared;        /* 'a' or 'b': that operand is 2-D, one matrix for every batch */
    bool regblock_only; /* forward and backward, regblock kernel only (see below) */
} mm_case;

/* Tiles are 64x64 or 32x32 (tiled, 16 deep) and 32x8 ... 4x64 (regblock, 4 deep with vec4
 * loads): 1 and 3 are below everything, 63/65 straddle a tile, 1000 and 257x129x1000 leave
 * remainders on every axis (and K % 4 != 0 on 65 and 7); 36x20x23 runs the regblock kernel's vec4
 * loads along i and j (M, N % 4 == 0) and then its scalar k % 4 loop; 128x256x784 is an MLP layer
 * (batch 128, 784 -> 256) and 128x784x256 its input gradient's shape. The 2-D case with 65537
 * output tiles of 4x64 makes the grid 2-D (vkt__groups_2d); it runs the forward pass of the
 * regblock kernel only: the tiled kernel decodes its tile from vkt_flat_group() the same way, but
 * 65537 workgroups of 256 invocations with barriers take ~8 s on lavapipe, and the backward pass
 * is a 4M-long dot product that checks nothing new.
 * Batched: sizes from {1, 3, 63, 65, 100} with batches 1, 3 and 7; a shared b over a contiguous a
 * is folded into one 2-D product (batch * M rows) and its gradient is one product over
 * batch * M (flags 0, TB) or per-batch products summed after (TA, TA|TB); a shared a is never
 * folded, its gradient always summed after. The (2, 3) cases are attention's q·kᵀ (T = 65,
 * D = 63; ABt) and p·v shapes (every flag combination runs on each). The regblock-only cases
 * run inner dimensions past MM_MAX_K (2^17, src/ops/matmul.c), split into accumulating
 * dispatches: K = 300000 in 2-D, and the weight gradient of a shared b over 3 x 50000 rows; the
 * tiled kernel takes the same host-side split, and 300000-long loops of 256 invocations with
 * barriers are slow on lavapipe.
 * The texel kernel (TM x 4S tiles) fetches vec4s where K % 4 == 0 and rows are vec4-aligned:
 * 63x132x36 (odd M: clamped rows), 100x68x64 (every form fits), 4x1x1000 (N = 1: clamped
 * columns, scalar stores; ABt only fits), 1x4x4, 1000x36x8 and the batched 68x65x100 / 12x64x64
 * cases; every other case (odd K, unaligned rows, slices past MM_MAX_K at odd offsets) takes its
 * one-value fetches, and operands under one texel (1x1x1, 65x63x1's b) its regblock fallback. */
#define MM2(m, n, k) {m, n, k, false, 0, {0, 0}, 0, false}
#define MM_BATCH(m, n, k, nbd, b0, b1, shared) {m, n, k, false, nbd, {b0, b1}, shared, false}
static const mm_case cases[] = {
    MM2(1, 1, 1),
    MM2(3, 5, 7),
    MM2(63, 65, 64),
    MM2(64, 64, 64),
    MM2(65, 63, 1),
    MM2(1000, 3, 65),
    MM2(1, 1000, 3),
    MM2(128, 256, 784),
    MM2(128, 784, 256),
    MM2(257, 129, 1000),
    MM2(36, 20, 23),
    MM2(63, 132, 36),
    MM2(100, 68, 64),
    MM2(4, 1, 1000),
    MM2(1, 4, 4),
    MM2(1000, 36, 8),
    {1, 65537 * 64, 1, true, 0, {0, 0}, 0, false},
    MM_BATCH(3, 65, 63, 1, 1, 0, 0),
    MM_BATCH(63, 65, 100, 1, 3, 0, 0),
    MM_BATCH(65, 1, 3, 1, 7, 0, 0),
    MM_BATCH(1, 100, 65, 1, 7, 0, 0),
    MM_BATCH(100, 63, 65, 1, 3, 0, 'b'),
    MM_BATCH(3, 63, 1, 1, 7, 0, 'b'),
    MM_BATCH(65, 100, 3, 1, 3, 0, 'a'),
    MM_BATCH(63, 3, 65, 1, 7, 0, 'a'),
    MM_BATCH(1, 65, 100, 1, 1, 0, 'a'),
    MM_BATCH(65, 65, 63, 2, 2, 3, 0),
    MM_BATCH(65, 63, 65, 2, 2, 3, 0),
    MM_BATCH(68, 64, 100, 1, 3, 0, 0),
    MM_BATCH(12, 64, 64, 2, 2, 3, 'b'),
    MM_BATCH(64, 12, 64, 1, 3, 0, 'a'),
    {1, 1, 300000, false, 0, {0, 0}, 0, true},
    {50000, 1, 1, false, 1, {3, 0}, 'b', true},
};

static const char *const forms[4] = {"AB", "AtB", "ABt", "AtBt"};
static const vkt__matmul_variant variants[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK,
                                               VKT__MATMUL_TEXEL};

/* max_i |got - want| / scale (scale = sum of |products|, plus |init| when accumulating) */
static double scaled_err(const float *got, const float *want, const double *abs_sum,
                         const float *init, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            return INFINITY;
        }
        double scale = abs_sum[i] + (init ? fabs((double)init[i]) : 0.0);
        double e = fabs((double)got[i] - (double)want[i]);
        e = scale > 0.0 ? e / scale : (e == 0.0 ? 0.0 : INFINITY);
        if (e > m) {
            m = e;
        }
    }
    return m;
}

typedef struct mm_data {
    float *a, *b, *g, *ra, *rb;   /* inputs, dL/dC, initial gradients */
    float *c, *da, *db;           /* references (da, db include ra, rb) */
    double *c_abs, *da_abs, *db_abs;
} mm_data;

static void data_free(mm_data *d)
{
    free(d->a), free(d->b), free(d->g), free(d->ra), free(d->rb);
    free(d->c), free(d->da), free(d->db);
    free(d->c_abs), free(d->da_abs), free(d->db_abs);
}

/* The case's product for the reference. */
static vkt__ref_mm ref_geom(const mm_case *k, int flags)
{
    int64_t batch = 1;
    for (int d = 0; d < k->nbd; d++) {
        batch *= k->bdims[d];
    }
    return (vkt__ref_mm){batch, k->M, k->N, k->K, flags, k->shared == 'a', k->shared == 'b'};
}

/* Shape of an operand: the batch dimensions (unless shared), then its stored matrix. */
static int operand_shape(const mm_case *k, bool shared, int64_t rows, int64_t cols, int64_t *sh)
{
    int nd = 0;
    for (int d = 0; !shared && d < k->nbd; d++) {
        sh[nd++] = k->bdims[d];
    }
    sh[nd++] = rows;
    sh[nd++] = cols;
    return nd;
}

/* Runs forward and backward with one variant and reports both. */
static void run_variant(vkt__check_ctx *c, const mm_case *k, int flags, vkt__matmul_variant v,
                        const mm_data *d, const char *shape)
{
    char op_f[64], op_b[64];
    snprintf(op_f, sizeof op_f, "matmul.%s.%s", vkt__matmul_variant_name(v), forms[flags]);
    snprintf(op_b, sizeof op_b, "matmul_backward.%s.%s", vkt__matmul_variant_name(v),
             forms[flags]);
    bool kernel_ok = (!k->grid_only && !k->regblock_only) || v == VKT__MATMUL_REGBLOCK;
    bool want_f = vkt__check_wants(c, op_f) && kernel_ok;
    bool want_b = vkt__check_wants(c, op_b) && kernel_ok && !k->grid_only;
    if (!want_f && !want_b) {
        return;
    }
    bool ta = flags & VKT_TRANS_A, tb = flags & VKT_TRANS_B;
    vkt__ref_mm g = ref_geom(k, flags);
    int64_t sa[VKT_MAX_DIMS], sb[VKT_MAX_DIMS], sc[VKT_MAX_DIMS];
    int nda = operand_shape(k, g.a_shared, ta ? k->K : k->M, ta ? k->M : k->K, sa);
    int ndb = operand_shape(k, g.b_shared, tb ? k->N : k->K, tb ? k->K : k->N, sb);
    int ndc = operand_shape(k, false, k->M, k->N, sc);
    int64_t na = (g.a_shared ? 1 : g.batch) * k->M * k->K;
    int64_t nb = (g.b_shared ? 1 : g.batch) * k->K * k->N, nc = g.batch * k->M * k->N;

    vkt_scope_begin(c->dev);
    double t0 = vkt__now();
    vkt_tensor *ta_t = vkt__check_tensor(c->dev, VKT_F32, d->a, nda, sa);
    vkt_tensor *tb_t = vkt__check_tensor(c->dev, VKT_F32, d->b, ndb, sb);
    vkt_tensor_set_requires_grad(ta_t, want_b);
    vkt_tensor_set_requires_grad(tb_t, want_b);
    vkt_tensor *out = vkt__matmul_ex(ta_t, tb_t, flags, v);
    float *got = vkt__check_fetch(out);
    double ms = (vkt__now() - t0) * 1e3;
    if (want_f) {
        if (!got) {
            vkt__check_report_failure(c, op_f, shape);
        } else {
            vkt__check_report(c, op_f, shape, scaled_err(got, d->c, d->c_abs, NULL, nc),
                              (double)(k->K + 2) * 0x1p-24, ms, NULL);
        }
    }
    free(got);

    if (want_b) {
        /* gradients start from ra / rb: backward must add to them */
        t0 = vkt__now();
        float *gda = NULL, *gdb = NULL;
        vkt_tensor *ga = vkt__check_tensor(c->dev, VKT_F32, d->ra, nda, sa);
        vkt_tensor *gb = vkt__check_tensor(c->dev, VKT_F32, d->rb, ndb, sb);
        vkt_tensor *gout = vkt__check_tensor(c->dev, VKT_F32, d->g, ndc, sc);
        if (out && out->node && ga && gb && gout && vkt_tensor_set_grad(ta_t, ga) == VKT_OK &&
            vkt_tensor_set_grad(tb_t, gb) == VKT_OK &&
            vkt__matmul_backward(out->node, gout) == VKT_OK) {
            gda = vkt__check_fetch(ga);
            gdb = vkt__check_fetch(gb);
        }
        ms = (vkt__now() - t0) * 1e3;
        if (!gda || !gdb) {
            vkt__check_report_failure(c, op_b, shape);
        } else {
            /* dA sums over N terms, dB over M (times the batch for a shared operand); each
             * against its own bound, (terms + 3) u (the reference rounds twice: the gradient,
             * then the sum with the initial value), reported as the worse ratio */
            double terms_a = (double)(k->N * (g.a_shared ? g.batch : 1));
            double terms_b = (double)(k->M * (g.b_shared ? g.batch : 1));
            double ea = scaled_err(gda, d->da, d->da_abs, d->ra, na) / (terms_a + 3);
            double eb = scaled_err(gdb, d->db, d->db_abs, d->rb, nb) / (terms_b + 3);
            char note[64];
            snprintf(note, sizeof note, "dA %.3g, dB %.3g of their bounds", ea * 0x1p24,
                     eb * 0x1p24);
            vkt__check_report(c, op_b, shape, fmax(ea, eb), 0x1p-24, ms, note);
        }
        free(gda);
        free(gdb);
    }
    vkt_scope_end(c->dev);
}

/* Whether the filter selects a form of the product (forward or backward, either kernel). */
static bool case_wanted(const vkt__check_ctx *c, int flags)
{
    for (size_t v = 0; v < VKT__ARRAY_LEN(variants); v++) {
        char op[64];
        const char *kernel = vkt__matmul_variant_name(variants[v]);
        snprintf(op, sizeof op, "matmul.%s.%s", kernel, forms[flags]);
        if (vkt__check_wants(c, op)) {
            return true;
        }
        snprintf(op, sizeof op, "matmul_backward.%s.%s", kernel, forms[flags]);
        if (vkt__check_wants(c, op)) {
            return true;
        }
    }
    return false;
}

/* ---- vkt_linear / vkt_linear_relu -------------------------------------------------------------
 * Against the composition vkt_relu(vkt_add_bias(vkt_matmul(x, w, VKT_TRANS_B), bias)), which the
 * checks above and the elementwise checks hold to the references: forward and every gradient
 * must match it bit for bit (the fused epilogue makes the same fp32 add and max after the same
 * product; the backward the same products and column sums on the same masked gradient). Shapes:
 * 1 and 3, 63 / 65 across tiles, K = 7 and 65 (one-value fetches), 1000 rows, outputs 1, 3, 10,
 * 63 (not whole vec4s of a row) and the MLP's first layer. */

typedef struct lin_case {
    int64_t n, in, out;
} lin_case;

static const lin_case lin_cases[] = {
    {1, 1, 1}, {3, 5, 7}, {63, 65, 10}, {65, 63, 3}, {1000, 12, 63}, {128, 784, 256}, {7, 16, 1},
};

/* y and the gradients of x, w and bias (NULL without) of one device run, L = sum(y * g). */
typedef struct lin_run {
    float *y, *dx, *dw, *db;
} lin_run;

static void lin_run_free(lin_run *r)
{
    free(r->y);
    free(r->dx);
    free(r->dw);
    free(r->db);
}

static bool lin_run_device(vkt__check_ctx *c, const lin_case *k, const float *const h[4], bool bias,
                           bool relu, bool fused, lin_run *r)
{
    memset(r, 0, sizeof *r);
    vkt_scope_begin(c->dev);
    vkt_tensor *x = vkt__check_tensor(c->dev, VKT_F32, h[0], 2, (int64_t[2]){k->n, k->in});
    vkt_tensor *w = vkt__check_tensor(c->dev, VKT_F32, h[1], 2, (int64_t[2]){k->out, k->in});
    vkt_tensor *b = bias ? vkt__check_tensor(c->dev, VKT_F32, h[2], 1, &k->out) : NULL;
    vkt_tensor *g = vkt__check_tensor(c->dev, VKT_F32, h[3], 2, (int64_t[2]){k->n, k->out});
    vkt_tensor_set_requires_grad(x, true);
    vkt_tensor_set_requires_grad(w, true);
    vkt_tensor_set_requires_grad(b, true);
    vkt_tensor *y = NULL;
    if (x && w && g && (!bias || b)) {
        if (fused) {
            y = relu ? vkt_linear_relu(x, w, b) : vkt_linear(x, w, b);
        } else {
            vkt_tensor *p = vkt_matmul(x, w, VKT_TRANS_B);
            y = p && b ? vkt_add_bias(p, b) : p;
            y = y && relu ? vkt_relu(y) : y;
        }
    }
    r->y = vkt__check_fetch(y);
    vkt_tensor *L = y ? vkt_sum(vkt_mul(y, g)) : NULL;
    if (L && vkt_backward(L) == VKT_OK) {
        r->dx = vkt__check_fetch(vkt_tensor_grad(x));
        r->dw = vkt__check_fetch(vkt_tensor_grad(w));
        r->db = bias ? vkt__check_fetch(vkt_tensor_grad(b)) : NULL;
    }
    vkt_scope_end(c->dev);
    return r->y && r->dx && r->dw && (!bias || r->db);
}

/* Largest |a - b| over n values; a NaN on either side and not the other: infinite. */
static double lin_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = isnan(a[i]) && isnan(b[i]) ? 0.0 : fabs((double)a[i] - b[i]);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

static void check_linear(vkt__check_ctx *c)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(lin_cases); i++) {
        const lin_case *k = &lin_cases[i];
        float *h[4] = {vkt__check_rand(c, k->n * k->in, -1.0f, 1.0f),
                       vkt__check_rand(c, k->out * k->in, -1.0f, 1.0f),
                       vkt__check_rand(c, k->out, -1.0f, 1.0f),
                       vkt__check_rand(c, k->n * k->out, -1.0f, 1.0f)};
        for (int form = 0; form < 4; form++) {
            bool relu = form & 1, bias = !(form & 2);
            const char *op = relu ? "linear_relu" : "linear";
            char shape[64];
            snprintf(shape, sizeof shape, "%lldx%lld->%lld%s", (long long)k->n, (long long)k->in,
                     (long long)k->out, bias ? "" : " no bias");
            if (!vkt__check_wants(c, op)) {
                continue;
            }
            lin_run f, u;
            double t0 = vkt__now();
            bool ok = h[0] && h[1] && h[2] && h[3] &&
                      lin_run_device(c, k, (const float *const *)h, bias, relu, true, &f);
            double ms = (vkt__now() - t0) * 1e3;
            ok = ok && lin_run_device(c, k, (const float *const *)h, bias, relu, false, &u);
            if (!ok) {
                vkt__check_report_failure(c, op, shape);
            } else {
                double e = lin_diff(f.y, u.y, k->n * k->out);
                e = fmax(e, lin_diff(f.dx, u.dx, k->n * k->in));
                e = fmax(e, lin_diff(f.dw, u.dw, k->out * k->in));
                e = bias ? fmax(e, lin_diff(f.db, u.db, k->out)) : e;
                vkt__check_report(c, op, shape, e, 0.0, ms, "y, dx, dw, dbias vs the composition");
            }
            lin_run_free(&f);
            lin_run_free(&u);
        }
        for (int j = 0; j < 4; j++) {
            free(h[j]);
        }
    }
}

void vkt__check_matmul(vkt__check_ctx *c)
{
    check_linear(c);
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        const mm_case *k = &cases[i];
        vkt__ref_mm g0 = ref_geom(k, 0);
        int64_t na = (g0.a_shared ? 1 : g0.batch) * k->M * k->K;
        int64_t nb = (g0.b_shared ? 1 : g0.batch) * k->K * k->N, nc = g0.batch * k->M * k->N;
        char shape[64];
        size_t at = 0;
        for (int d = 0; d < k->nbd; d++) {
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? "x" : "[",
                                   (long long)k->bdims[d]);
        }
        snprintf(shape + at, sizeof shape - at, "%s%lldx%lldx%lld%s", k->nbd ? "]" : "",
                 (long long)k->M, (long long)k->N, (long long)k->K,
                 k->shared == 'a' ? " a shared" : k->shared == 'b' ? " b shared" : "");
        for (int flags = 0; flags < 4; flags++) {
            bool bwd = !k->grid_only;
            vkt__ref_mm g = ref_geom(k, flags);
            mm_data d = {
                .a = vkt__check_rand(c, na, -1.0f, 1.0f),
                .b = vkt__check_rand(c, nb, -1.0f, 1.0f),
                .c = vkt__malloc((size_t)nc * sizeof(float)),
                .c_abs = vkt__malloc((size_t)nc * sizeof(double)),
            };
            if (bwd) {
                d.g = vkt__check_rand(c, nc, -1.0f, 1.0f);
                d.ra = vkt__check_rand(c, na, -1.0f, 1.0f);
                d.rb = vkt__check_rand(c, nb, -1.0f, 1.0f);
                d.da = vkt__malloc((size_t)na * sizeof(float));
                d.db = vkt__malloc((size_t)nb * sizeof(float));
                d.da_abs = vkt__malloc((size_t)na * sizeof(double));
                d.db_abs = vkt__malloc((size_t)nb * sizeof(double));
            }
            if (!d.a || !d.b || !d.c || !d.c_abs ||
                (bwd && (!d.g || !d.ra || !d.rb || !d.da || !d.db || !d.da_abs || !d.db_abs))) {
                vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
                vkt__check_report_failure(c, "matmul", shape);
                data_free(&d);
                continue;
            }
            /* the inputs are drawn either way (a filtered run sees the same inputs as a full
             * one); the host references, the costly part, only for a case some variant runs */
            if (!case_wanted(c, flags)) {
                data_free(&d);
                continue;
            }
            vkt__ref_matmul(d.c, d.a, d.b, &g);
            vkt__ref_matmul_abs(d.c_abs, d.a, d.b, &g);
            if (bwd) {
                vkt__ref_matmul_backward(d.da, d.db, d.da_abs, d.db_abs, d.a, d.b, d.g, &g);
                for (int64_t x = 0; x < na; x++) {
                    d.da[x] = (float)((double)d.da[x] + d.ra[x]);
                }
                for (int64_t x = 0; x < nb; x++) {
                    d.db[x] = (float)((double)d.db[x] + d.rb[x]);
                }
            }
            for (size_t v = 0; v < VKT__ARRAY_LEN(variants); v++) {
                run_variant(c, k, flags, variants[v], &d, shape);
            }
            data_free(&d);
        }
    }
}
