/*
 * loss.c — the losses of include/vkt/loss.h (torch.nn.functional), composed from the
 * differentiable primitives (src/ops/broadcast.c, elementwise.c, reduce.c) and the NLL_ROWS
 * kernel (src/ops/nll.c), so each gradient comes from the tape; no loss has its own backward.
 *   mse       (x - y)^2                              3 kernels + reduction
 *   l1        |x - y|
 *   smooth_l1 0.5 m^2 / beta + (|d| - m),  m = min(|d|, beta)   (= torch's piecewise form)
 *   huber     0.5 m^2 + delta (|d| - m)                          (= delta * smooth_l1(beta=delta))
 *   bce       x - x y + (1 + (p - 1) y) softplus(-x)             (max(x,0) - xy + log1p(e^-|x|))
 *   nll, cross_entropy  NLL_ROWS on log_probs / log_softmax(logits, 1); mean = sum / sum(w[t]);
 *             cross_entropy without class weights or label smoothing is the fused
 *             SOFTMAX_XENT kernel instead (src/ops/softmax_xent.c): no (B, C) intermediate
 * Reference: src/ref/ref_loss.c. Checks: src/check/check_grad.c (finite differences).
 * Tests: tests/test_loss.c (PyTorch fixture tests/fixtures/torch_loss.txt).
 */
#include <math.h>

#include "ops/broadcast.h"
#include "ops/loss.h"
#include "vkt/loss.h"

/* sokol style: a zeroed desc is torch's defaults */
static vkt_loss_desc desc_defaults(const vkt_loss_desc *in)
{
    vkt_loss_desc d = in ? *in : (vkt_loss_desc){0};
    d.reduction = d.reduction == VKT_REDUCTION_DEFAULT ? VKT_REDUCTION_MEAN : d.reduction;
    d.ignore_index = d.has_ignore_index ? d.ignore_index : -100;
    d.beta = d.beta == 0.0f ? 1.0f : d.beta;
    d.delta = d.delta == 0.0f ? 1.0f : d.delta;
    return d;
}

static bool desc_validate(const char *op, const vkt_loss_desc *d)
{
    if (d->reduction != VKT_REDUCTION_MEAN && d->reduction != VKT_REDUCTION_SUM &&
        d->reduction != VKT_REDUCTION_NONE) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: reduction %d is not mean, sum or none", op,
                   (int)d->reduction);
        return false;
    }
    if (!(d->label_smoothing >= 0.0f && d->label_smoothing <= 1.0f)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: label_smoothing %g must lie in [0, 1]", op,
                   (double)d->label_smoothing);
        return false;
    }
    if (!(d->beta > 0.0f) || !(d->delta > 0.0f)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: beta %g and delta %g must be > 0", op,
                   (double)d->beta, (double)d->delta);
        return false;
    }
    const vkt_tensor *w[2] = {d->weight, d->pos_weight};
    for (int i = 0; i < 2; i++) {
        if (w[i] && !vkt__check_dtype(op, i ? "pos_weight" : "weight", w[i], VKT_F32)) {
            return false;
        }
    }
    return true;
}

/* Returns `result` after dropping the caller's references to intermediates a and b (NULLs
 * ignored): the tape holds its own, so the graph stays intact. */
static vkt_tensor *done(vkt_tensor *result, vkt_tensor *a, vkt_tensor *b)
{
    vkt_tensor_free(a);
    vkt_tensor_free(b);
    return result;
}

/* mean / sum / none of per-element losses; takes `per` */
static vkt_tensor *reduce(vkt_tensor *per, vkt_reduction r)
{
    switch (r) {
    case VKT_REDUCTION_SUM:
        return done(vkt_sum(per), per, NULL);
    case VKT_REDUCTION_NONE:
        return per;
    default:
        return done(vkt_mean(per), per, NULL);
    }
}

/* Shared checks of the regression losses: f32 input and target that broadcast together. */
static bool check_pair(const char *op, const vkt_tensor *x, const vkt_tensor *y,
                       const vkt_loss_desc *d)
{
    int nd;
    int64_t shape[VKT_MAX_DIMS];
    return desc_validate(op, d) && vkt__check_same_device(op, x, y) &&
           vkt__check_dtype(op, "input", x, VKT_F32) &&
           vkt__check_dtype(op, "target", y, VKT_F32) &&
           vkt__broadcast_shape(op, x, y, &nd, shape);
}

vkt_tensor *vkt_mse_loss(const vkt_tensor *input, const vkt_tensor *target,
                         const vkt_loss_desc *desc)
{
    vkt_loss_desc d = desc_defaults(desc);
    if (!input || !target || !check_pair("vkt_mse_loss", input, target, &d)) {
        return NULL;
    }
    vkt_tensor *diff = vkt_sub(input, target);
    return reduce(done(vkt_mul(diff, diff), diff, NULL), d.reduction);
}

vkt_tensor *vkt_l1_loss(const vkt_tensor *input, const vkt_tensor *target,
                        const vkt_loss_desc *desc)
{
    vkt_loss_desc d = desc_defaults(desc);
    if (!input || !target || !check_pair("vkt_l1_loss", input, target, &d)) {
        return NULL;
    }
    vkt_tensor *diff = vkt_sub(input, target);
    return reduce(done(vkt_abs(diff), diff, NULL), d.reduction);
}

/* 0.5 m^2 * quad + lin * (|d| - m), m = min(|d|, knee) */
static vkt_tensor *kneed(const vkt_tensor *input, const vkt_tensor *target, float knee,
                         float quad, float lin)
{
    vkt_tensor *diff = vkt_sub(input, target);
    vkt_tensor *ad = done(vkt_abs(diff), diff, NULL);
    vkt_tensor *m = vkt_clamp(ad, NAN, knee);
    vkt_tensor *m2 = vkt_mul(m, m), *lin_part = vkt_sub(ad, m);
    done(NULL, ad, m);
    vkt_tensor *q = done(vkt_scale(m2, 0.5f * quad), m2, NULL);
    vkt_tensor *l = done(vkt_scale(lin_part, lin), lin_part, NULL);
    return done(vkt_add(q, l), q, l);
}

vkt_tensor *vkt_smooth_l1_loss(const vkt_tensor *input, const vkt_tensor *target,
                               const vkt_loss_desc *desc)
{
    vkt_loss_desc d = desc_defaults(desc);
    if (!input || !target || !check_pair("vkt_smooth_l1_loss", input, target, &d)) {
        return NULL;
    }
    return reduce(kneed(input, target, d.beta, 1.0f / d.beta, 1.0f), d.reduction);
}

vkt_tensor *vkt_huber_loss(const vkt_tensor *input, const vkt_tensor *target,
                           const vkt_loss_desc *desc)
{
    vkt_loss_desc d = desc_defaults(desc);
    if (!input || !target || !check_pair("vkt_huber_loss", input, target, &d)) {
        return NULL;
    }
    return reduce(kneed(input, target, d.delta, 1.0f, d.delta), d.reduction);
}

vkt_tensor *vkt_binary_cross_entropy_with_logits(const vkt_tensor *input,
                                                 const vkt_tensor *target,
                                                 const vkt_loss_desc *desc)
{
    const char *op = "vkt_binary_cross_entropy_with_logits";
    vkt_loss_desc d = desc_defaults(desc);
    if (!input || !target || !check_pair(op, input, target, &d)) {
        return NULL;
    }
    /* x - x y + lw softplus(-x); lw = 1 + (p - 1) y */
    vkt_tensor *neg = vkt_neg(input);
    vkt_tensor *sp = done(vkt_softplus(neg), neg, NULL);
    if (d.pos_weight) {
        vkt_tensor *pm1 = vkt_add_scalar(d.pos_weight, -1.0f);
        vkt_tensor *py = done(vkt_mul(pm1, target), pm1, NULL);
        vkt_tensor *lw = done(vkt_add_scalar(py, 1.0f), py, NULL);
        sp = done(vkt_mul(lw, sp), lw, sp);
    }
    vkt_tensor *xy = vkt_mul(input, target);
    vkt_tensor *lin = done(vkt_sub(input, xy), xy, NULL);
    vkt_tensor *per = done(vkt_add(lin, sp), lin, sp);
    if (d.weight) {
        per = done(vkt_mul(per, d.weight), per, NULL);
    }
    return reduce(per, d.reduction);
}

/* Shared by nll_loss and cross_entropy: lp (B, C), targets (B) i32, weight (C). */
static vkt_tensor *nll(const vkt_tensor *lp, const vkt_tensor *targets, const vkt_loss_desc *d)
{
    if (!lp) {
        return NULL;
    }
    vkt_tensor *wt = NULL;
    vkt_tensor *rows =
        vkt__nll_rows(lp, targets, d->weight, d->ignore_index, d->label_smoothing, &wt);
    if (!rows) {
        return NULL;
    }
    if (d->reduction != VKT_REDUCTION_MEAN) {
        return done(reduce(rows, d->reduction), wt, NULL);
    }
    vkt_tensor *num = vkt_sum(rows), *den = vkt_sum(wt);
    done(NULL, rows, wt);
    return done(vkt_div(num, den), num, den);
}

static bool check_class_inputs(const char *op, const vkt_tensor *x, const vkt_tensor *targets,
                               const vkt_loss_desc *d)
{
    if (!desc_validate(op, d) || !vkt__check_same_device(op, x, targets) ||
        !vkt__check_dtype(op, "input", x, VKT_F32) || !vkt__check_ndim(op, "input", x, 2) ||
        !vkt__check_dtype(op, "targets", targets, VKT_I32)) {
        return false;
    }
    char a[96], b[96];
    if (targets->ndim != 1 || targets->shape[0] != x->shape[0]) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: input is %s so targets must be [%lld] i32, but it is %s",
                   op, vkt_tensor_describe(x, a, sizeof a), (long long)x->shape[0],
                   vkt_tensor_describe(targets, b, sizeof b));
        return false;
    }
    if (d->weight && (d->weight->ndim != 1 || d->weight->shape[0] != x->shape[1])) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: input is %s so weight must be [%lld] f32, but it is %s",
                   op, vkt_tensor_describe(x, a, sizeof a), (long long)x->shape[1],
                   vkt_tensor_describe(d->weight, b, sizeof b));
        return false;
    }
    return true;
}

vkt_tensor *vkt_nll_loss(const vkt_tensor *log_probs, const vkt_tensor *targets,
                         const vkt_loss_desc *desc)
{
    const char *op = "vkt_nll_loss";
    vkt_loss_desc d = desc_defaults(desc);
    d.label_smoothing = 0.0f; /* not an nll_loss option */
    if (!log_probs || !targets || !check_class_inputs(op, log_probs, targets, &d)) {
        return NULL;
    }
    return nll(log_probs, targets, &d);
}

vkt_tensor *vkt_cross_entropy(const vkt_tensor *logits, const vkt_tensor *targets,
                              const vkt_loss_desc *desc)
{
    const char *op = "vkt_cross_entropy";
    vkt_loss_desc d = desc_defaults(desc);
    if (!logits || !targets || !check_class_inputs(op, logits, targets, &d)) {
        return NULL;
    }
    if (!d.weight && d.label_smoothing == 0.0f) {
        /* fused: no (B, C) log-probabilities, nor their gradient (large vocabularies) */
        vkt__xent_params xp = {.op = op, .has_ignore = true, .ignore_index = d.ignore_index,
                               .sum = d.reduction == VKT_REDUCTION_SUM,
                               .per_row = d.reduction == VKT_REDUCTION_NONE};
        return vkt__softmax_xent(logits, targets, &xp);
    }
    vkt_tensor *lp = vkt_log_softmax(logits, 1);
    return done(nll(lp, targets, &d), lp, NULL);
}
