/*
 * softmax_xent.c — fused softmax cross-entropy and its backward: vkt_softmax_xent (the mean),
 * and vkt__softmax_xent, which vkt_cross_entropy (src/ops/loss.c) uses when it has no class
 * weights and no label smoothing (ignore_index, and mean / sum / none reductions).
 *
 * Forward, two dispatches:
 *   shaders/softmax_xent.comp       one workgroup per row: max, sum of exp, the row's loss, and
 *                                   the (max, log-sum) pair saved for backward (node->saved)
 *   shaders/softmax_xent_mean.comp  one workgroup: fixed-order sum of the row losses and count of
 *                                   the rows not ignored; the mean or sum (not for reduction none)
 * or, for rows of at most XENT_ROWS_MAX_COLS classes, shaders/softmax_xent_rows.comp: one
 * invocation per row, and for a batch that one workgroup covers in few rows per invocation, one
 * dispatch that also writes the mean (bit-identical to the two passes over the same losses).
 * Backward: shaders/softmax_xent_backward.comp, one invocation per logit, reads gout on the device.
 * Saved: one tensor, the denominator the mean divided by, then at element SAVED_STATS (a valid
 * storage-buffer offset) the B (max, log-sum) pairs. No
 * (B, C) tensor besides the logits and their gradient exists (at B = 2048, C = 50257 the logits
 * are 412 MB and the saved state 16 KB).
 * CPU reference: src/ref/ref_xent.c. Checks: src/check/check_xent.c, src/check/check_grad.c.
 * Tests: tests/test_xent.c, tests/test_loss.c (PyTorch fixture).
 *
 * A label outside [0, C) that is not the ignore_index makes its row's loss NaN (so the mean is
 * NaN) and its gradient row NaN. Limits (each invocation's loops stay below 65535 iterations and
 * indices in a uint): at most min(2^24 - 1, 65535 * WG) rows and as many classes, 2^31 logits.
 */
#include "ops/loss.h"
#include "shaders/softmax_xent_ops.h"

/* Mirrors `PC` in shaders/softmax_xent.comp and shaders/softmax_xent_rows.comp. */
typedef struct vkt__pc_softmax_xent {
    uint32_t rows, cols, flags;
    int32_t ignore_index;
} vkt__pc_softmax_xent;
_Static_assert(sizeof(vkt__pc_softmax_xent) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/softmax_xent_mean.comp. */
typedef struct vkt__pc_softmax_xent_mean {
    uint32_t n, flags;
    int32_t ignore_index;
} vkt__pc_softmax_xent_mean;
_Static_assert(sizeof(vkt__pc_softmax_xent_mean) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/softmax_xent_backward.comp. */
typedef struct vkt__pc_softmax_xent_backward {
    uint32_t rows, cols, accumulate, flags;
    int32_t ignore_index;
} vkt__pc_softmax_xent_backward;
_Static_assert(sizeof(vkt__pc_softmax_xent_backward) <= VKT__PUSH_MAX, "push constants");

#define XENT_BACKWARD_WG 256u
#define XENT_FUSE_ROWS 16 /* most rows per invocation of the one-dispatch short-row forward */
#define SAVED_STATS 64 /* elements: 256 bytes, a multiple of every minStorageBufferOffsetAlignment */

static bool check_inputs(const char *op, const vkt_tensor *logits, const vkt_tensor *labels)
{
    if (!vkt__check_same_device(op, logits, labels) ||
        !vkt__check_dtype(op, "logits", logits, VKT_F32) ||
        !vkt__check_ndim(op, "logits", logits, 2) ||
        !vkt__check_dtype(op, "labels", labels, VKT_I32)) {
        return false;
    }
    char dl[96], db[96];
    if (labels->numel != logits->shape[0]) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: logits is %s so labels must hold %lld i32 values (one per row), but it "
                   "is %s",
                   op, vkt_tensor_describe(logits, dl, sizeof dl), (long long)logits->shape[0],
                   vkt_tensor_describe(labels, db, sizeof db));
        return false;
    }
    /* each invocation loops over rows / WG (the mean) or classes / WG (a row): at most 65535
     * iterations; counts are exact in f32 up to 2^24; flat indices fit a uint up to 2^31 */
    int64_t max_n = VKT__MIN(((int64_t)1 << 24) - 1,
                             (int64_t)65535 * vkt__device_caps(logits->dev)->reduce_wg);
    if (logits->shape[0] > max_n || logits->shape[1] > max_n ||
        logits->numel > ((int64_t)1 << 31)) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: logits is %s; at most %lld rows, %lld classes and 2^31 logits are "
                   "supported (split the batch)",
                   op, vkt_tensor_describe(logits, dl, sizeof dl), (long long)max_n,
                   (long long)max_n);
        return false;
    }
    return true;
}

vkt_tensor *vkt__softmax_xent(const vkt_tensor *logits, const vkt_tensor *labels,
                              const vkt__xent_params *p)
{
    if (!logits || !labels || !check_inputs(p->op, logits, labels)) {
        return NULL;
    }
    vkt_device *dev = logits->dev;
    uint32_t wg = vkt__device_caps(dev)->reduce_wg;
    int64_t b = logits->shape[0];
    int64_t n_saved = SAVED_STATS + 2 * b;
    int64_t one = 1;
    uint32_t flags = (p->has_ignore ? XENT_HAS_IGNORE : 0u) | (p->sum ? XENT_SUM : 0u);
    vkt_tensor *saved = vkt__new_output(dev, VKT_F32, 1, &n_saved);
    vkt_tensor *rows = vkt__new_output(dev, VKT_F32, 1, &b);
    vkt_tensor *out = p->per_row ? NULL : vkt__new_output(dev, VKT_F32, 1, &one);
    vkt_tensor *stats = saved ? vkt_tensor_view(saved, SAVED_STATS, 1, (int64_t[]){2 * b}) : NULL;
    vkt_tensor *den = saved ? vkt_tensor_view(saved, 0, 1, &one) : NULL;
    vkt_status s = stats && den && rows && (out || p->per_row) ? VKT_OK : vkt_last_status();

    int64_t c = logits->shape[1];
    bool short_rows = c <= XENT_ROWS_MAX_COLS;
    /* one workgroup when each invocation has at most XENT_FUSE_ROWS rows: a loop total of
     * XENT_FUSE_ROWS * (2 C + 2) stays far below lavapipe's 65535 */
    bool fused = short_rows && !p->per_row && (b + wg - 1) / wg <= XENT_FUSE_ROWS;
    if (s == VKT_OK && short_rows) {
        vkt__pc_softmax_xent pc = {(uint32_t)b, (uint32_t)c, flags | (fused ? XENT_FUSED_MEAN : 0u),
                                   p->ignore_index};
        /* the shader writes Out and Den statically: without the fused mean they are bound to a
         * real range (rows) rather than left to the shared dummy buffer (docs/shaders.md) */
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_SOFTMAX_XENT_ROWS,
            .spec = {wg},
            .spec_count = 1,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(logits, VKT__READ), vkt__bind(labels, VKT__READ),
                         vkt__bind(stats, VKT__WRITE), vkt__bind(rows, VKT__WRITE),
                         vkt__bind(fused ? out : rows, VKT__WRITE),
                         vkt__bind(fused ? den : rows, VKT__WRITE)},
        };
        if (fused) {
            d.groups[0] = d.groups[1] = d.groups[2] = 1;
        } else {
            vkt__elementwise_groups((uint64_t)b, wg, d.groups); /* one invocation per row */
        }
        s = vkt__dispatch(dev, &d);
    } else if (s == VKT_OK) {
        vkt__pc_softmax_xent pc = {(uint32_t)b, (uint32_t)c, flags, p->ignore_index};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_SOFTMAX_XENT,
            .spec = {wg},
            .spec_count = 1,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(logits, VKT__READ), vkt__bind(labels, VKT__READ),
                         vkt__bind(stats, VKT__WRITE), vkt__bind(rows, VKT__WRITE)},
        };
        vkt__groups_2d((uint64_t)b, d.groups); /* one workgroup per row */
        s = vkt__dispatch(dev, &d);
    }
    if (s == VKT_OK && !p->per_row && !fused) {
        vkt__pc_softmax_xent_mean pc = {(uint32_t)b, flags, p->ignore_index};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_SOFTMAX_XENT_MEAN,
            .spec = {wg},
            .spec_count = 1,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(rows, VKT__READ), vkt__bind(labels, VKT__READ),
                         vkt__bind(out, VKT__WRITE), vkt__bind(den, VKT__WRITE)},
            .groups = {1, 1, 1},
        };
        s = vkt__dispatch(dev, &d);
    }
    vkt_tensor *result = p->per_row ? rows : out;
    if (s == VKT_OK && vkt__any_requires_grad(logits, NULL, NULL)) {
        vkt__node *n = vkt__record(VKT__OP_SOFTMAX_XENT, result, logits, labels, NULL);
        if (n) {
            n->saved = vkt__ref(saved);
            n->iparam[0] = (int)(flags | (p->per_row ? XENT_PER_ROW : 0u));
            n->iparam[1] = p->ignore_index;
        } else {
            s = vkt_last_status();
        }
    }
    vkt_tensor_free(stats);
    vkt_tensor_free(den);
    vkt_tensor_free(saved); /* the node keeps its own reference */
    if (result != rows) {
        vkt_tensor_free(rows);
    }
    if (s != VKT_OK) {
        vkt_tensor_free(result);
        return NULL;
    }
    return result;
}

vkt_tensor *vkt_softmax_xent(const vkt_tensor *logits, const vkt_tensor *labels)
{
    return vkt__softmax_xent(logits, labels, &(vkt__xent_params){.op = "vkt_softmax_xent"});
}

/* dx (+)= g * (softmax(logits) - onehot(labels)) (written by its first writer), from the forward pass's saved stats; g is
 * gout[0] / den (mean), gout[0] (sum) or gout[row] (none). */
vkt_status vkt__softmax_xent_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *logits = n->in[0];
    if (!vkt__wants_grad(logits)) {
        return VKT_OK; /* labels are integers: never differentiated */
    }
    bool accumulate;
    vkt_tensor *dx = vkt__grad_first(logits, &accumulate);
    if (!dx) {
        return vkt_last_status();
    }
    int64_t b = logits->shape[0];
    vkt__binding saved = vkt__bind(n->saved, VKT__READ);
    vkt__binding stats = saved, den = saved;
    stats.offset += SAVED_STATS * sizeof(float);
    stats.size = (uint64_t)(2 * b) * sizeof(float);
    den.size = sizeof(float);
    vkt__pc_softmax_xent_backward pc = {(uint32_t)b, (uint32_t)logits->shape[1], .accumulate = accumulate,
                                        .flags = (uint32_t)n->iparam[0],
                                        .ignore_index = n->iparam[1]};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SOFTMAX_XENT_BACKWARD,
        .spec = {XENT_BACKWARD_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(logits, VKT__READ), vkt__bind(n->in[1], VKT__READ), stats,
                     vkt__bind(gout, VKT__READ), vkt__bind(dx, accumulate ? VKT__RW : VKT__WRITE), den},
    };
    vkt__elementwise_groups((uint64_t)logits->numel, XENT_BACKWARD_WG, d.groups);
    return vkt__dispatch(dx->dev, &d);
}
