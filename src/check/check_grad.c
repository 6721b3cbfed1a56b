/*
 * check_grad.c — every differentiable op's backward against central finite differences.
 *
 * For an op y = f(x1, x2, ...) the check builds the scalar L = sum(y * W) (W fixed random; for a
 * one-element y, L = 0.7 * y), runs vkt_backward(L) for the analytic gradient, then for up to
 * GRAD_PROBES elements of each input runs the op at x +- h e_i and x +- (h/2) e_i on the device,
 * forms L in double on the host, and compares with the Richardson extrapolation of the two
 * central differences:  err = max_i |grad_i - fd_i| / max(1, |fd_i|).
 * The cases: every op of the op table (src/ops/op_table.h) that is not CUSTOM, on generic_shapes,
 * with inputs made from its kind and flags; then custom_cases[] for the CUSTOM ops (each must have
 * one) and composites. Inputs of ops flagged VKT__OPF_KINK (relu, max, min) are distinct
 * multiples of 0.05 offset by 0.025, so no element lies within h = 0.01 of a kink or a tie
 * within one input (BROADCAST ops also run on broadcast shape pairs; a tie between a and b of
 * maximum / minimum gets half the gradient on each side, which is also what the central
 * difference measures there).
 * With fp32 forward passes, L of magnitude ~10 and h = 0.01 the rounding term is
 * ~6e-8 * 10 / 0.01 = 6e-5 and the truncation term is h^2 f''' (0 for the piecewise-linear ops,
 * ~1e-4 for softmax); measured at most 8e-5: the tolerance is 5e-4.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "vkt/loss.h"
#include "ops/conv.h"
#include "ops/embedding.h"

#define GRAD_PROBES 24
#define GRAD_H 0.01f
#define GRAD_TOL 5e-4

#define MAX_INPUTS 5

typedef struct inputs {
    int n; /* differentiable inputs */
    float *host[MAX_INPUTS];
    int ndim[MAX_INPUTS];
    int64_t shape[MAX_INPUTS][VKT_MAX_DIMS];
    int64_t numel[MAX_INPUTS];
    int32_t *labels; /* softmax_xent / mlp */
    int64_t batch;
    int64_t wn; /* elements of the op's output (when it has more than one) */
} inputs;

typedef struct grad_case grad_case;
struct grad_case {
    const char *name;
    vkt__op op;      /* the op whose backward is checked; VKT__OP_NONE for a composite */
    int64_t r, c, k; /* sizes, as make reads them */
    int flags;       /* matmul flags */
    bool (*make)(vkt__check_ctx *c, const grad_case *k, inputs *in);
    /* the op applied to device tensors t[0..in->n); labels may be NULL */
    vkt_tensor *(*apply)(const grad_case *k, vkt_tensor **t, vkt_tensor *labels);
    const void *arg; /* case-specific: the conv2d / pooling geometry (conv_fd, pool_fd) */
};

/* Distinct values (for ops with kinks): a permutation of multiples of 0.05, offset by 0.025. */
static void distinct_values(vkt__check_ctx *c, float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        p[i] = (float)(i - n / 2) * 0.05f + 0.025f;
    }
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(vkt__check_next(c) % (uint64_t)(i + 1));
        float t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* Appends an input of `ndim` dimensions with values in [-1, 1) and, for the VKT__OPF_* flags,
 * distinct (KINK) and/or in [0.5, 1.5) (POSITIVE: ln, rsqrt, div's denominator, pow; nearer 0
 * their third derivatives swamp the difference quotient). */
static bool add_input_nd(vkt__check_ctx *c, inputs *in, int ndim, const int64_t *shape,
                         unsigned flags)
{
    int i = in->n++;
    in->ndim[i] = ndim;
    in->numel[i] = 1;
    for (int d = 0; d < ndim; d++) {
        in->shape[i][d] = shape[d];
        in->numel[i] *= shape[d];
    }
    in->host[i] = (flags & VKT__OPF_POSITIVE) ? vkt__check_rand(c, in->numel[i], 0.5f, 1.5f)
                                              : vkt__check_rand(c, in->numel[i], -1.0f, 1.0f);
    if (in->host[i] && (flags & VKT__OPF_KINK)) {
        distinct_values(c, in->host[i], in->numel[i]);
        for (int64_t e = 0; (flags & VKT__OPF_POSITIVE) && e < in->numel[i]; e++) {
            in->host[i][e] += (float)in->numel[i] * 0.025f + 0.1f;
        }
    }
    return in->host[i] != NULL;
}

/* Appends an input of rows x cols (or cols when !two_d). */
static bool add_input(vkt__check_ctx *c, inputs *in, int64_t rows, int64_t cols, bool two_d,
                      unsigned flags)
{
    int64_t shape[2] = {two_d ? rows : cols, cols};
    return add_input_nd(c, in, two_d ? 2 : 1, shape, flags);
}

/* ---- generic cases: every non-CUSTOM op of the table, on the shapes below ---- */

/* Broadcast pairs for BROADCAST ops (a grad_case's arg): a middle dim, a scalar against a
 * matrix, a column against a row, and 6-D. */
typedef struct bc_pair {
    int na, nb;
    int64_t a[VKT_MAX_DIMS], b[VKT_MAX_DIMS];
} bc_pair;
static const bc_pair bc_pairs[] = {
    {3, 2, {3, 1, 5}, {4, 5}},
    {1, 2, {1}, {65, 63}},
    {2, 2, {1, 63}, {65, 1}},
    {6, 6, {2, 1, 3, 1, 2, 1}, {1, 2, 1, 3, 1, 4}},
};

static bool make_generic(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    const vkt__op_case *op = &vkt__op_cases[k->op];
    if (k->arg) {
        const bc_pair *p = k->arg;
        return add_input_nd(c, in, p->na, p->a, op->flags) &&
               add_input_nd(c, in, p->nb, p->b, op->flags);
    }
    bool ok = true;
    for (int i = 0; ok && i < vkt__op_case_inputs(op); i++) {
        ok = add_input(c, in, k->r, k->c, true, op->flags);
    }
    return ok;
}

static vkt_tensor *apply_generic(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    return vkt__op_case_apply(&vkt__op_cases[k->op], t);
}

/* Awkward sizes: one element, a long row of 3 x 1000, and 65 x 63 (neither a tile multiple). */
static const int64_t generic_shapes[][2] = {{1, 1}, {3, 1000}, {65, 63}};

/* ---- hand-written cases: CUSTOM ops and composites ---- */

/* batched matmul (a grad_case's arg): batch dimensions, and which operand (if any) is one 2-D
 * matrix shared by every batch */
typedef struct bmm_fd {
    int nbd;
    int64_t bdims[2];
    char shared; /* 'a', 'b' or 0 */
} bmm_fd;

/* One operand: the batch dimensions of `arg` (none when it is shared or absent), then rows x
 * cols. */
static bool add_operand(vkt__check_ctx *c, inputs *in, const bmm_fd *arg, bool shared,
                        int64_t rows, int64_t cols)
{
    int64_t shape[VKT_MAX_DIMS];
    int nd = 0;
    for (int d = 0; arg && !shared && d < arg->nbd; d++) {
        shape[nd++] = arg->bdims[d];
    }
    shape[nd++] = rows;
    shape[nd++] = cols;
    return add_input_nd(c, in, nd, shape, 0);
}

static bool make_matmul(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    /* r x k times k x c, stored transposed where the flags say */
    const bmm_fd *arg = k->arg;
    bool sa = arg && arg->shared == 'a', sb = arg && arg->shared == 'b';
    int64_t m = k->r, n = k->c, kk = k->k;
    bool ok = (k->flags & VKT_TRANS_A) ? add_operand(c, in, arg, sa, kk, m)
                                       : add_operand(c, in, arg, sa, m, kk);
    return ok && ((k->flags & VKT_TRANS_B) ? add_operand(c, in, arg, sb, n, kk)
                                           : add_operand(c, in, arg, sb, kk, n));
}

static vkt_tensor *apply_matmul(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    return vkt_matmul(t[0], t[1], k->flags);
}

static const bmm_fd bmm_3 = {1, {3}, 0};
static const bmm_fd bmm_2x3 = {2, {2, 3}, 0};
static const bmm_fd bmm_3_shared_a = {1, {3}, 'a'};
static const bmm_fd bmm_3_shared_b = {1, {3}, 'b'};
static const bmm_fd bmm_2x2_shared_b = {2, {2, 2}, 'b'};

/* x (batch dims of arg..., r, c), bias (c) */
static bool make_add_bias(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_operand(c, in, k->arg, false, k->r, k->c) && add_input(c, in, 1, k->c, false, 0);
}

static vkt_tensor *apply_add_bias(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k, (void)labels;
    return vkt_add_bias(t[0], t[1]);
}

static bool make_one(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_input(c, in, k->r, k->c, true, 0);
}

/* mul(x, x): one tensor feeding both inputs (gradient fan-in) */
static vkt_tensor *apply_mul_self(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k, (void)labels;
    return vkt_mul(t[0], t[0]);
}

static bool make_softmax_xent(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    in->batch = k->r;
    in->labels = vkt__check_rand_int(c, k->r, (int32_t)k->c);
    return in->labels && add_input(c, in, k->r, k->c, true, 0);
}

static vkt_tensor *apply_softmax_xent(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k;
    return vkt_softmax_xent(t[0], labels);
}

/* x (B, I), w1 (I, H), b1 (H), w2 (H, C), b2 (C); B = r, I = c, C = k, H = 9 */
static bool make_mlp(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    in->batch = k->r;
    in->labels = vkt__check_rand_int(c, k->r, (int32_t)k->k);
    return in->labels && add_input(c, in, k->r, k->c, true, 0) &&
           add_input(c, in, k->c, 9, true, 0) && add_input(c, in, 1, 9, false, 0) &&
           add_input(c, in, 9, k->k, true, 0) && add_input(c, in, 1, k->k, false, 0);
}

/* x -> matmul -> add_bias -> relu -> matmul -> add_bias -> softmax_xent */
static vkt_tensor *apply_mlp(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k;
    vkt_tensor *h = vkt_relu(vkt_add_bias(vkt_matmul(t[0], t[1], 0), t[2]));
    return vkt_softmax_xent(vkt_add_bias(vkt_matmul(h, t[3], 0), t[4]), labels);
}

/* batch norm in training mode, affine, no running statistics: x (N, C), weight, bias (C) */
static bool make_batch_norm(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_input(c, in, k->r, k->c, true, 0) && add_input(c, in, 1, k->c, false, 0) &&
           add_input(c, in, 1, k->c, false, 0);
}

static vkt_tensor *apply_batch_norm(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k, (void)labels;
    vkt_batch_norm_params p = {.training = true};
    return vkt_batch_norm(t[0], t[1], t[2], NULL, NULL, &p);
}

/* batch norm + ReLU (vkt_batch_norm_relu) in training mode, affine: x (r, c) with k 0, else
 * (r, c, 2, k) (k % 4 == 0: the plane kernels), weight, bias (c) */
static bool make_batch_norm_relu(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    int64_t shape[4] = {k->r, k->c, 2, k->k};
    return add_input_nd(c, in, k->k ? 4 : 2, shape, 0) && add_input(c, in, 1, k->c, false, 0) &&
           add_input(c, in, 1, k->c, false, 0);
}

static vkt_tensor *apply_batch_norm_relu(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k, (void)labels;
    vkt_batch_norm_params p = {.training = true};
    return vkt_batch_norm_relu(t[0], t[1], t[2], NULL, NULL, &p);
}

/* vkt_linear / vkt_linear_relu (the op): x (r, c), w (k, c), bias (k) unless flags & 1 */
static bool make_linear(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_input(c, in, k->r, k->c, true, 0) && add_input(c, in, k->k, k->c, true, 0) &&
           ((k->flags & 1) || add_input(c, in, 1, k->k, false, 0));
}

static vkt_tensor *apply_linear(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    const vkt_tensor *bias = (k->flags & 1) ? NULL : t[2];
    return k->op == VKT__OP_LINEAR_RELU ? vkt_linear_relu(t[0], t[1], bias)
                                        : vkt_linear(t[0], t[1], bias);
}

/* layer norm / RMSNorm over the last dimension C: x (r, c), C = c, or, with k->k, (r, c, k)
 * (B, T, C), C = k; then weight (C) unless flags & 1, bias (C) unless flags & 2 (RMS: never).
 * flags & 4: RMSNorm. */
static bool make_layer_norm(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    int64_t shape[3] = {k->r, k->c, k->k}, ch = k->k ? k->k : k->c;
    bool rms = k->flags & 4;
    return add_input_nd(c, in, k->k ? 3 : 2, shape, 0) &&
           ((k->flags & 1) || add_input(c, in, 1, ch, false, 0)) &&
           (rms || (k->flags & 2) || add_input(c, in, 1, ch, false, 0));
}

static vkt_tensor *apply_layer_norm(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    const vkt_tensor *w = (k->flags & 1) ? NULL : t[1];
    const vkt_tensor *b = (k->flags & 2) ? NULL : t[(k->flags & 1) ? 1 : 2];
    if (k->flags & 4) {
        return vkt_rms_norm(t[0], w, 0.0f);
    }
    return vkt_layer_norm(t[0], w, b, 0.0f);
}

/* the same mask on every call (fixed seed and offset), so the op is linear in x */
static vkt_tensor *apply_dropout(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)k, (void)labels;
    return vkt_dropout(t[0], 0.3f, 1234, 0, true);
}

/* where(cond, a, b): cond (r, 1) a fixed mask (not an input), a (r, c), b (c) */
static bool make_where(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_input(c, in, k->r, k->c, true, 0) && add_input(c, in, 1, k->c, false, 0);
}

static vkt_tensor *apply_where(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    float mask[64];
    for (int64_t i = 0; i < k->r; i++) {
        mask[i] = (float)(i % 3 == 1);
    }
    int64_t shape[2] = {k->r, 1};
    return vkt_where(vkt__check_tensor(vkt_tensor_device(t[0]), VKT_F32, mask, 2, shape), t[0],
                     t[1]);
}

/* clamp with both bounds inside the inputs' range [-1, 1) (inputs distinct, away from the
 * bounds by 0.025), and with one bound */
static bool make_kinked(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_input(c, in, k->r, k->c, true, VKT__OPF_KINK);
}

static vkt_tensor *apply_clamp(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    return k->flags ? vkt_clamp(t[0], NAN, 0.3f) : vkt_clamp(t[0], -0.5f, 0.7f);
}

/* conv2d: x (N, C_in, H, W), weight (C_out, C_in / groups, KH, KW), bias (C_out) when has_bias;
 * cols_limit > 0 forces chunks of that many floats (src/ops/conv.h) */
typedef struct conv_fd {
    int64_t x[4], w[4];
    bool has_bias;
    vkt_conv2d_params p;
    int32_t cols_limit;
} conv_fd;

static bool make_conv2d(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    const conv_fd *a = k->arg;
    return add_input_nd(c, in, 4, a->x, 0) && add_input_nd(c, in, 4, a->w, 0) &&
           (!a->has_bias || add_input_nd(c, in, 1, a->w, 0));
}

static vkt_tensor *apply_conv2d(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    const conv_fd *a = k->arg;
    return vkt__conv2d_ex(t[0], t[1], a->has_bias ? t[2] : NULL, &a->p,
                          a->cols_limit ? a->cols_limit : VKT__CONV_COLS_LIMIT);
}

/* groups 2, stride (2, 1), padding (1, 0), dilation (1, 2), 3x2 kernel, bias */
static const conv_fd conv_grouped = {
    .x = {2, 4, 5, 6},
    .w = {6, 2, 3, 2},
    .has_bias = true,
    .p = {.stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}, .groups = 2}};
/* depthwise 3x3, padding 1, no bias */
static const conv_fd conv_depthwise = {
    .x = {1, 3, 5, 5}, .w = {3, 1, 3, 3}, .p = {.padding = {1, 1}, .groups = 3}};
/* one image per chunk (a chunk's matrix is 16 x 18 floats; the limit allows fewer) */
static const conv_fd conv_chunked = {.x = {3, 2, 4, 4},
                                     .w = {3, 2, 3, 3},
                                     .has_bias = true,
                                     .p = {.padding = {1, 1}},
                                     .cols_limit = 1};

/* pooling: x (N, C, H, W); max / avg use p, adaptive uses (oh, ow), upsample (sh, sw) */
typedef struct pool_fd {
    int64_t x[4];
    vkt_pool2d_params p;
    int64_t oh, ow;
} pool_fd;

static bool make_pool(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    const pool_fd *a = k->arg;
    return add_input_nd(c, in, 4, a->x, vkt__op_cases[k->op].flags);
}

static vkt_tensor *apply_pool(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    const pool_fd *a = k->arg;
    switch (k->op) {
    case VKT__OP_MAX_POOL2D:
        return vkt_max_pool2d(t[0], &a->p);
    case VKT__OP_AVG_POOL2D:
        return vkt_avg_pool2d(t[0], &a->p);
    case VKT__OP_ADAPTIVE_AVG_POOL2D:
        return vkt_adaptive_avg_pool2d(t[0], a->oh, a->ow);
    default:
        return vkt_upsample_nearest2d(t[0], (int32_t)a->oh, (int32_t)a->ow);
    }
}

static const pool_fd pool_3x2 = {.x = {2, 3, 5, 7},
                                 .p = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}}};
static const pool_fd pool_3x3_excl = {
    .x = {2, 2, 6, 5},
    .p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .exclude_pad = true}};
static const pool_fd pool_adaptive = {.x = {2, 3, 7, 5}, .oh = 3, .ow = 4};
static const pool_fd pool_upsample = {.x = {2, 2, 3, 4}, .oh = 2, .ow = 3};

/* attention: q (b, h, tq, d), k and v (b, h, tk, d); mask: an additive (tq, tk) pattern with
 * -inf at (i, j) for (i + 2 j) % 5 == 4 past column 0; dropout p with a fixed stream; the
 * implementation (AUTO: the device's, or VKT_ATTENTION's) */
typedef struct attn_fd {
    int64_t b, h, tq, tk, d;
    bool causal, mask;
    float p;
    vkt_attention_impl impl;
} attn_fd;

static bool make_attention(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    const attn_fd *a = k->arg;
    int64_t qs[4] = {a->b, a->h, a->tq, a->d}, ks[4] = {a->b, a->h, a->tk, a->d};
    return add_input_nd(c, in, 4, qs, 0) && add_input_nd(c, in, 4, ks, 0) &&
           add_input_nd(c, in, 4, ks, 0);
}

static vkt_tensor *apply_attention(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    const attn_fd *a = k->arg;
    float m[64];
    for (int64_t i = 0; i < a->tq; i++) {
        for (int64_t j = 0; j < a->tk; j++) {
            m[i * a->tk + j] = j > 0 && (i + 2 * j) % 5 == 4 ? -INFINITY : 0.1f * (float)(i - j);
        }
    }
    int64_t ms[2] = {a->tq, a->tk};
    vkt_attention_params p = {
        .causal = a->causal,
        .mask = a->mask ? vkt__check_tensor(vkt_tensor_device(t[0]), VKT_F32, m, 2, ms) : NULL,
        .dropout_p = a->p,
        .seed = 5,
        .offset = 9,
        .impl = a->impl,
    };
    return vkt_attention(t[0], t[1], t[2], &p);
}

static const attn_fd attn_causal = {1, 2, 7, 7, 5, true, false, 0.0f, VKT_ATTENTION_AUTO};
static const attn_fd attn_mask = {2, 1, 4, 6, 3, false, true, 0.0f, VKT_ATTENTION_AUTO};
static const attn_fd attn_d65 = {1, 1, 3, 5, 65, false, false, 0.0f, VKT_ATTENTION_AUTO};
static const attn_fd attn_dropout = {1, 2, 5, 5, 4, true, true, 0.25f, VKT_ATTENTION_AUTO};
/* both implementations whatever the device would choose */
static const attn_fd attn_causal_f = {1, 2, 7, 7, 5, true, false, 0.0f, VKT_ATTENTION_FUSED};
static const attn_fd attn_mask_f = {2, 1, 4, 6, 3, false, true, 0.0f, VKT_ATTENTION_FUSED};
static const attn_fd attn_dropout_f = {1, 2, 5, 5, 4, true, true, 0.25f, VKT_ATTENTION_FUSED};
static const attn_fd attn_causal_u = {1, 2, 7, 7, 5, true, false, 0.0f, VKT_ATTENTION_UNFUSED};
static const attn_fd attn_mask_u = {2, 1, 4, 6, 3, false, true, 0.0f, VKT_ATTENTION_UNFUSED};
static const attn_fd attn_dropout_u = {1, 2, 5, 5, 4, true, true, 0.25f, VKT_ATTENTION_UNFUSED};

/* cross_entropy / nll_loss: logits (r, c), targets with row 0 ignored (-100, torch's default) */
static bool make_class_loss(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    bool ok = make_softmax_xent(c, k, in);
    if (ok) {
        in->labels[0] = -100;
    }
    return ok;
}

/* class weights 0.5 + 0.1 c; flags: 1 = weighted, 2 = label smoothing 0.2, 4 = nll_loss of
 * log_softmax (else cross_entropy), 8 = sum reduction, 16 = no reduction (cross_entropy without
 * weights or smoothing is the fused SOFTMAX_XENT kernel, with them NLL_ROWS) */
static vkt_tensor *apply_class_loss(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    float w[64];
    for (int64_t i = 0; i < k->c; i++) {
        w[i] = 0.5f + 0.1f * (float)i;
    }
    vkt_loss_desc d = {
        .weight = (k->flags & 1) ? vkt__check_tensor(vkt_tensor_device(t[0]), VKT_F32, w, 1, &k->c)
                                 : NULL,
        .label_smoothing = (k->flags & 2) ? 0.2f : 0.0f,
        .reduction = (k->flags & 8)    ? VKT_REDUCTION_SUM
                     : (k->flags & 16) ? VKT_REDUCTION_NONE
                                       : VKT_REDUCTION_MEAN,
    };
    if (k->flags & 4) {
        return vkt_nll_loss(vkt_log_softmax(t[0], 1), labels, &d);
    }
    return vkt_cross_entropy(t[0], labels, &d);
}

/* the elementwise losses on (r, c) input and target (flags: 0 bce with pos_weight (c) and
 * weight, 1 smooth_l1 beta 0.3, 2 huber delta 0.4, 3 mse, 4 l1), reduction none */
static bool make_pair_loss(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    return add_input(c, in, k->r, k->c, true, k->flags >= 1 ? VKT__OPF_KINK : 0) &&
           add_input(c, in, k->r, k->c, true, 0);
}

static vkt_tensor *apply_pair_loss(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    (void)labels;
    vkt_device *dev = vkt_tensor_device(t[0]);
    float pw[64];
    for (int64_t i = 0; i < k->c; i++) {
        pw[i] = 0.3f + 0.4f * (float)i;
    }
    vkt_loss_desc d = {.reduction = VKT_REDUCTION_NONE, .beta = 0.3f, .delta = 0.4f};
    switch (k->flags) {
    case 0:
        d.pos_weight = vkt__check_tensor(dev, VKT_F32, pw, 1, &k->c);
        d.weight = vkt__check_tensor(dev, VKT_F32, pw + 1, 1, &k->c);
        return vkt_binary_cross_entropy_with_logits(t[0], t[1], &d);
    case 1:
        return vkt_smooth_l1_loss(t[0], t[1], &d);
    case 2:
        return vkt_huber_loss(t[0], t[1], &d);
    case 3:
        return vkt_mse_loss(t[0], t[1], &d);
    default:
        return vkt_l1_loss(t[0], t[1], &d);
    }
}

/* embedding: weight (k, c), r indices in [0, k) with repeats as the labels; flags: the backward's
 * chunk (0: the default; small ones make runs cross chunks) */
static bool make_embedding(vkt__check_ctx *c, const grad_case *k, inputs *in)
{
    in->batch = k->r;
    in->labels = vkt__check_rand_int(c, k->r, (int32_t)k->k);
    return in->labels && add_input(c, in, k->k, k->c, true, 0);
}

static vkt_tensor *apply_embedding(const grad_case *k, vkt_tensor **t, vkt_tensor *labels)
{
    return vkt__embedding_ex(t[0], labels, (uint32_t)k->flags);
}

static const grad_case custom_cases[] = {
    {"cross_entropy", VKT__OP_SOFTMAX_XENT, 17, 10, 0, 0, make_class_loss, apply_class_loss,
     NULL},
    {"cross_entropy_sum", VKT__OP_SOFTMAX_XENT, 9, 7, 0, 8, make_class_loss, apply_class_loss,
     NULL},
    {"cross_entropy_none", VKT__OP_SOFTMAX_XENT, 9, 7, 0, 16, make_class_loss, apply_class_loss,
     NULL},
    {"cross_entropy_w_ls", VKT__OP_NLL_ROWS, 17, 10, 0, 3, make_class_loss, apply_class_loss,
     NULL},
    {"nll_loss_w_sum", VKT__OP_NLL_ROWS, 9, 7, 0, 13, make_class_loss, apply_class_loss, NULL},
    {"bce_with_logits", VKT__OP_NONE, 9, 7, 0, 0, make_pair_loss, apply_pair_loss, NULL},
    {"smooth_l1_loss", VKT__OP_NONE, 9, 7, 0, 1, make_pair_loss, apply_pair_loss, NULL},
    {"huber_loss", VKT__OP_NONE, 9, 7, 0, 2, make_pair_loss, apply_pair_loss, NULL},
    {"mse_loss", VKT__OP_NONE, 9, 7, 0, 3, make_pair_loss, apply_pair_loss, NULL},
    {"l1_loss", VKT__OP_NONE, 9, 7, 0, 4, make_pair_loss, apply_pair_loss, NULL},
    {"where", VKT__OP_WHERE, 5, 7, 0, 0, make_where, apply_where, NULL},
    {"clamp", VKT__OP_CLAMP, 9, 7, 0, 0, make_kinked, apply_clamp, NULL},
    {"clamp_max", VKT__OP_CLAMP, 3, 5, 0, 1, make_kinked, apply_clamp, NULL},
    {"matmul_nn", VKT__OP_MATMUL, 3, 5, 4, 0, make_matmul, apply_matmul, NULL},
    {"matmul_tn", VKT__OP_MATMUL, 7, 3, 65, VKT_TRANS_A, make_matmul, apply_matmul, NULL},
    {"matmul_nt", VKT__OP_MATMUL, 65, 2, 3, VKT_TRANS_B, make_matmul, apply_matmul, NULL},
    {"matmul_tt", VKT__OP_MATMUL, 1, 63, 5, VKT_TRANS_A | VKT_TRANS_B, make_matmul, apply_matmul,
     NULL},
    /* batched; a shared b is Linear on (B, T, C) (nt: folded into one 2-D product, its gradient
     * over the fused batch * rows; tn: per-batch gradients summed), a shared a W·x[bt] */
    {"bmm_nn", VKT__OP_MATMUL, 5, 4, 6, 0, make_matmul, apply_matmul, &bmm_3},
    {"bmm_tt", VKT__OP_MATMUL, 3, 5, 4, VKT_TRANS_A | VKT_TRANS_B, make_matmul, apply_matmul,
     &bmm_2x3},
    {"bmm_shared_b_nt", VKT__OP_MATMUL, 7, 4, 5, VKT_TRANS_B, make_matmul, apply_matmul,
     &bmm_3_shared_b},
    {"bmm_shared_b_tn", VKT__OP_MATMUL, 4, 3, 5, VKT_TRANS_A, make_matmul, apply_matmul,
     &bmm_2x2_shared_b},
    {"bmm_shared_a_nn", VKT__OP_MATMUL, 4, 5, 3, 0, make_matmul, apply_matmul, &bmm_3_shared_a},
    {"bmm_shared_a_tt", VKT__OP_MATMUL, 3, 4, 5, VKT_TRANS_A | VKT_TRANS_B, make_matmul,
     apply_matmul, &bmm_3_shared_a},
    {"add_bias", VKT__OP_ADD_BIAS, 65, 3, 0, 0, make_add_bias, apply_add_bias, NULL},
    {"add_bias_4d", VKT__OP_ADD_BIAS, 3, 5, 0, 0, make_add_bias, apply_add_bias, &bmm_2x3},
    {"mul_self", VKT__OP_MUL, 1, 63, 0, 0, make_one, apply_mul_self, NULL},
    {"softmax_xent", VKT__OP_SOFTMAX_XENT, 65, 10, 0, 0, make_softmax_xent, apply_softmax_xent,
     NULL},
    {"softmax_xent", VKT__OP_SOFTMAX_XENT, 3, 1000, 0, 0, make_softmax_xent, apply_softmax_xent,
     NULL},
    {"batch_norm", VKT__OP_BATCH_NORM, 65, 3, 0, 0, make_batch_norm, apply_batch_norm, NULL},
    {"dropout", VKT__OP_DROPOUT, 65, 63, 0, 0, make_one, apply_dropout, NULL},
    {"layer_norm", VKT__OP_LAYER_NORM, 9, 7, 0, 0, make_layer_norm, apply_layer_norm, NULL},
    {"layer_norm_btc", VKT__OP_LAYER_NORM, 2, 3, 65, 0, make_layer_norm, apply_layer_norm, NULL},
    {"layer_norm_c1", VKT__OP_LAYER_NORM, 5, 1, 0, 0, make_layer_norm, apply_layer_norm, NULL},
    {"layer_norm_no_bias", VKT__OP_LAYER_NORM, 3, 63, 0, 2, make_layer_norm, apply_layer_norm,
     NULL},
    {"layer_norm_no_affine", VKT__OP_LAYER_NORM, 3, 5, 0, 3, make_layer_norm, apply_layer_norm,
     NULL},
    {"rms_norm", VKT__OP_RMS_NORM, 9, 7, 0, 4, make_layer_norm, apply_layer_norm, NULL},
    {"rms_norm_btc", VKT__OP_RMS_NORM, 2, 3, 65, 4, make_layer_norm, apply_layer_norm, NULL},
    {"rms_norm_no_weight", VKT__OP_RMS_NORM, 3, 5, 0, 5, make_layer_norm, apply_layer_norm,
     NULL},
    {"conv2d_grouped", VKT__OP_CONV2D, 0, 0, 0, 0, make_conv2d, apply_conv2d, &conv_grouped},
    {"conv2d_depthwise", VKT__OP_CONV2D, 0, 0, 0, 0, make_conv2d, apply_conv2d, &conv_depthwise},
    {"conv2d_chunked", VKT__OP_CONV2D, 0, 0, 0, 0, make_conv2d, apply_conv2d, &conv_chunked},
    {"max_pool2d", VKT__OP_MAX_POOL2D, 0, 0, 0, 0, make_pool, apply_pool, &pool_3x2},
    {"avg_pool2d", VKT__OP_AVG_POOL2D, 0, 0, 0, 0, make_pool, apply_pool, &pool_3x2},
    {"avg_pool2d_excl", VKT__OP_AVG_POOL2D, 0, 0, 0, 0, make_pool, apply_pool, &pool_3x3_excl},
    {"adaptive_avg_pool2d", VKT__OP_ADAPTIVE_AVG_POOL2D, 0, 0, 0, 0, make_pool, apply_pool,
     &pool_adaptive},
    {"upsample_nearest2d", VKT__OP_UPSAMPLE_NEAREST2D, 0, 0, 0, 0, make_pool, apply_pool,
     &pool_upsample},
    {"embedding", VKT__OP_EMBEDDING, 13, 5, 7, 0, make_embedding, apply_embedding, NULL},
    {"embedding_chunked", VKT__OP_EMBEDDING, 13, 5, 4, 2, make_embedding, apply_embedding, NULL},
    {"mlp", VKT__OP_NONE, 17, 13, 10, 0, make_mlp, apply_mlp, NULL}, /* hidden 9 */
    /* after mlp: the cases share one generator, and inputs drawn before mlp would move its
     * ReLU kinks (with them its finite differences) */
    {"attention_causal", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_causal},
    {"attention_mask", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_mask},
    {"attention_d65", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention, &attn_d65},
    {"attention_dropout", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_dropout},
    {"attention_causal_fused", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_causal_f},
    {"attention_mask_fused", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_mask_f},
    {"attention_dropout_fused", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_dropout_f},
    {"attention_causal_unfused", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_causal_u},
    {"attention_mask_unfused", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_mask_u},
    {"attention_dropout_unfused", VKT__OP_ATTENTION, 0, 0, 0, 0, make_attention, apply_attention,
     &attn_dropout_u},
    {"batch_norm_relu", VKT__OP_BATCH_NORM_RELU, 33, 3, 0, 0, make_batch_norm_relu,
     apply_batch_norm_relu, NULL},
    {"batch_norm_relu_4d", VKT__OP_BATCH_NORM_RELU, 3, 2, 4, 0, make_batch_norm_relu,
     apply_batch_norm_relu, NULL},
    {"batch_norm_relu_4d_odd", VKT__OP_BATCH_NORM_RELU, 3, 2, 3, 0, make_batch_norm_relu,
     apply_batch_norm_relu, NULL},
    /* K = 7: one-value fetches; K = 12, 16: vec4 fetches (the fused kernel on CPU drivers) */
    {"linear", VKT__OP_LINEAR, 5, 7, 3, 0, make_linear, apply_linear, NULL},
    {"linear_relu", VKT__OP_LINEAR_RELU, 9, 12, 6, 0, make_linear, apply_linear, NULL},
    {"linear_relu_no_bias", VKT__OP_LINEAR_RELU, 4, 16, 5, 1, make_linear, apply_linear, NULL},
};

/* L = sum(y * W), or 0.7 * y for a one-element y. */
static vkt_tensor *scalarize(vkt_tensor *y, vkt_tensor *w)
{
    if (!y) {
        return NULL;
    }
    return vkt_tensor_numel(y) == 1 ? vkt_scale(y, 0.7f) : vkt_sum(vkt_mul(y, w));
}

/* W with y's shape (so no reshape sits between y and the loss). */
static vkt_tensor *weights_like(vkt_device *dev, const vkt_tensor *y, const float *wdata)
{
    int64_t shape[VKT_MAX_DIMS];
    for (int d = 0; d < vkt_tensor_ndim(y); d++) {
        shape[d] = vkt_tensor_dim(y, d);
    }
    return vkt__check_tensor(dev, VKT_F32, wdata, vkt_tensor_ndim(y), shape);
}

/* Forward pass only: L at the given host inputs, NAN on error. The op runs on the device; L is
 * formed on the host in double from its output, so the difference quotient carries the op's own
 * rounding only, not that of an fp32 sum over every output element. */
static double loss_at(vkt__check_ctx *c, const grad_case *k, const inputs *in, const float *wdata)
{
    double l = NAN;
    vkt_scope_begin(c->dev);
    vkt_tensor *t[MAX_INPUTS] = {0};
    for (int i = 0; i < in->n; i++) {
        t[i] = vkt__check_tensor(c->dev, VKT_F32, in->host[i], in->ndim[i], in->shape[i]);
    }
    vkt_tensor *labels =
        in->labels ? vkt__check_tensor(c->dev, VKT_I32, in->labels, 1, &in->batch) : NULL;
    float *y = vkt__check_fetch(k->apply(k, t, labels));
    if (y && !wdata) {
        l = 0.7 * (double)y[0];
    } else if (y) {
        l = 0.0;
        for (int64_t e = 0; e < in->wn; e++) {
            l += (double)y[e] * (double)wdata[e];
        }
    }
    free(y);
    vkt_scope_end(c->dev);
    return l;
}

static void run_case(vkt__check_ctx *c, const grad_case *k)
{
    char shape[64];
    if (k->op != VKT__OP_NONE && vkt__op_cases[k->op].kind == VKT__OPK_BROADCAST && k->arg) {
        const bc_pair *p = k->arg;
        size_t m = 0;
        for (int side = 0; side < 2; side++) {
            for (int d = 0; d < (side ? p->nb : p->na); d++) {
                m += (size_t)snprintf(shape + m, sizeof shape - m, "%s%lld", d ? "x" : "",
                                      (long long)(side ? p->b[d] : p->a[d]));
            }
            m += side ? 0 : (size_t)snprintf(shape + m, sizeof shape - m, "+");
        }
    } else if (k->k) {
        snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)k->r, (long long)k->c,
                 (long long)k->k);
    } else {
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)k->r, (long long)k->c);
    }
    inputs in;
    float *wdata = NULL, *grads[MAX_INPUTS] = {0};
    memset(&in, 0, sizeof in);
    if (!k->make(c, k, &in)) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, k->name, shape);
        goto done;
    }
    if (k->arg) { /* the case's sizes are in its geometry: name the first input's shape */
        size_t at = 0;
        for (int d = 0; d < in.ndim[0]; d++) {
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? "x" : "",
                                   (long long)in.shape[0][d]);
        }
    }
    double t0 = vkt__now();

    /* analytic gradients */
    vkt_scope_begin(c->dev);
    vkt_tensor *t[MAX_INPUTS] = {0};
    for (int i = 0; i < in.n; i++) {
        t[i] = vkt__check_tensor(c->dev, VKT_F32, in.host[i], in.ndim[i], in.shape[i]);
        vkt_tensor_set_requires_grad(t[i], true);
    }
    vkt_tensor *labels =
        in.labels ? vkt__check_tensor(c->dev, VKT_I32, in.labels, 1, &in.batch) : NULL;
    vkt_tensor *y = k->apply(k, t, labels);
    int64_t wn = y ? vkt_tensor_numel(y) : 0;
    vkt_tensor *w = NULL;
    if (y && wn > 1) {
        wdata = vkt__check_rand(c, wn, -1.0f, 1.0f);
        w = weights_like(c->dev, y, wdata);
        in.wn = wn;
    }
    vkt_tensor *L = scalarize(y, w);
    bool ok = L && vkt_backward(L) == VKT_OK;
    for (int i = 0; ok && i < in.n; i++) {
        grads[i] = vkt__check_fetch(vkt_tensor_grad(t[i]));
        ok = grads[i] != NULL;
        if (!ok && !vkt_tensor_grad(t[i])) {
            vkt__error(VKT_ERROR, "backward produced no gradient for input %d", i);
        }
    }
    vkt_scope_end(c->dev);
    if (!ok) {
        vkt__check_report_failure(c, k->name, shape);
        goto done;
    }

    /* Central differences on up to GRAD_PROBES elements of each input. Where a kink of the
     * function (a ReLU of a hidden unit, a tie of a max) lies within h of the probe, the
     * difference quotient is not a derivative: such probes are found by comparing the quotients
     * for h and h/2 (they agree to O(h^2) where the function is smooth) and are not scored. At
     * least three quarters of the probes must be scored. */
    double err = 0.0;
    int scored = 0, probed = 0;
    for (int i = 0; i < in.n; i++) {
        int64_t probes = in.numel[i] < GRAD_PROBES ? in.numel[i] : GRAD_PROBES;
        for (int64_t p = 0; p < probes; p++) {
            int64_t e = in.numel[i] <= GRAD_PROBES
                            ? p
                            : (int64_t)(vkt__check_next(c) % (uint64_t)in.numel[i]);
            float x0 = in.host[i][e];
            double fd[2];
            for (int half = 0; half < 2; half++) {
                float h = half ? GRAD_H / 2 : GRAD_H;
                /* divided by the step the f32 inputs actually took: x0 +- h rounds, by up to
                 * 4e-6 relative to h at |x0| ~ 100 (distinct inputs of 4095 elements) */
                float xp = x0 + h, xm = x0 - h;
                in.host[i][e] = xp;
                double lp = loss_at(c, k, &in, wdata);
                in.host[i][e] = xm;
                double lm = loss_at(c, k, &in, wdata);
                fd[half] = (lp - lm) / ((double)xp - (double)xm);
            }
            in.host[i][e] = x0;
            probed++;
            if (fabs(fd[0] - fd[1]) > GRAD_TOL * fmax(1.0, fabs(fd[0]))) {
                continue; /* a kink within h */
            }
            scored++;
            /* Richardson: (4 fd(h/2) - fd(h)) / 3 cancels the h^2 truncation term */
            double rich = (4.0 * fd[1] - fd[0]) / 3.0;
            double d = fabs((double)grads[i][e] - rich) / fmax(1.0, fabs(rich));
            if (!(d <= err)) {
                err = isnan(d) ? INFINITY : d;
            }
        }
    }
    char note[64];
    snprintf(note, sizeof note, "%d of %d probes scored", scored, probed);
    if (4 * scored < 3 * probed) {
        err = INFINITY; /* too many kinks to call it checked */
    }
    vkt__check_report(c, k->name, shape, err, GRAD_TOL, (vkt__now() - t0) * 1e3,
                      scored < probed ? note : NULL);

done:
    for (int i = 0; i < MAX_INPUTS; i++) {
        free(in.host[i]);
        free(grads[i]);
    }
    free(in.labels);
    free(wdata);
}

void vkt__check_grad(vkt__check_ctx *c)
{
    for (int o = VKT__OP_NONE + 1; o < VKT__OP_COUNT; o++) {
        const vkt__op_case *op = &vkt__op_cases[o];
        if (op->kind != VKT__OPK_CUSTOM) {
            for (size_t s = 0; s < VKT__ARRAY_LEN(generic_shapes); s++) {
                grad_case k = {op->name, (vkt__op)o, generic_shapes[s][0], generic_shapes[s][1],
                               0,        0,          make_generic,         apply_generic,
                               NULL};
                if (vkt__check_wants(c, k.name)) {
                    run_case(c, &k);
                }
            }
            for (size_t p = 0; op->kind == VKT__OPK_BROADCAST && p < VKT__ARRAY_LEN(bc_pairs);
                 p++) {
                grad_case k = {op->name, (vkt__op)o,   0, 0, 0, 0, make_generic, apply_generic,
                               &bc_pairs[p]};
                if (vkt__check_wants(c, k.name)) {
                    run_case(c, &k);
                }
            }
            continue;
        }
        /* a CUSTOM op must have a hand-written case: a new op cannot go unchecked */
        bool covered = false;
        for (size_t i = 0; i < VKT__ARRAY_LEN(custom_cases); i++) {
            covered |= custom_cases[i].op == (vkt__op)o;
        }
        covered |= vkt__check_shape_grad_covers((vkt__op)o); /* N-d cases: check_shape.c */
        if (!covered && vkt__check_wants(c, op->name)) {
            vkt__error(VKT_NOT_FOUND,
                       "no gradient check: %s is CUSTOM in src/ops/op_table.h but has no case in "
                       "custom_cases[] (or grad_cases[] of check_shape.c)",
                       op->name);
            vkt__check_report_failure(c, op->name, "-");
        }
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(custom_cases); i++) {
        if (vkt__check_wants(c, custom_cases[i].name)) {
            run_case(c, &custom_cases[i]);
        }
    }
}
