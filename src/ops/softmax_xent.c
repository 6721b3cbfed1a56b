/*
 * softmax_xent.c — vkt_softmax_xent (mean softmax cross-entropy) and its backward.
 *
 * Forward, two dispatches:
 *   shaders/softmax_xent.comp       one workgroup per row: max, sum of exp, the row's loss, and
 *                                   the (max, log-sum) pair saved for backward (node->saved)
 *   shaders/softmax_xent_mean.comp  one workgroup: fixed-order mean of the row losses
 * Backward: shaders/softmax_xent_backward.comp, one invocation per logit, reads gout on the device.
 * CPU reference: src/ref/ref_xent.c. Checks: src/check/check_xent.c. Tests: tests/test_xent.c.
 *
 * A label outside [0, C) makes its row's loss NaN (so the mean is NaN) and its gradient row NaN.
 */
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/softmax_xent.comp. */
typedef struct vkt__pc_softmax_xent {
    uint32_t rows, cols;
} vkt__pc_softmax_xent;
_Static_assert(sizeof(vkt__pc_softmax_xent) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/softmax_xent_mean.comp. */
typedef struct vkt__pc_softmax_xent_mean {
    uint32_t n;
} vkt__pc_softmax_xent_mean;
_Static_assert(sizeof(vkt__pc_softmax_xent_mean) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/softmax_xent_backward.comp. */
typedef struct vkt__pc_softmax_xent_backward {
    uint32_t rows, cols, accumulate;
} vkt__pc_softmax_xent_backward;
_Static_assert(sizeof(vkt__pc_softmax_xent_backward) <= VKT__PUSH_MAX, "push constants");

#define XENT_BACKWARD_WG 256u

static bool check_inputs(const vkt_tensor *logits, const vkt_tensor *labels)
{
    const char *op = "vkt_softmax_xent";
    if (!vkt__check_same_device(op, logits, labels) ||
        !vkt__check_dtype(op, "logits", logits, VKT_F32) ||
        !vkt__check_ndim(op, "logits", logits, 2) ||
        !vkt__check_dtype(op, "labels", labels, VKT_I32)) {
        return false;
    }
    if (labels->numel != logits->shape[0]) {
        char dl[96], db[96];
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: logits is %s so labels must hold %lld i32 values (one per row), but it "
                   "is %s",
                   op, vkt_tensor_describe(logits, dl, sizeof dl), (long long)logits->shape[0],
                   vkt_tensor_describe(labels, db, sizeof db));
        return false;
    }
    return true;
}

vkt_tensor *vkt_softmax_xent(const vkt_tensor *logits, const vkt_tensor *labels)
{
    if (!logits || !labels || !check_inputs(logits, labels)) {
        return NULL;
    }
    vkt_device *dev = logits->dev;
    uint32_t wg = vkt__device_caps(dev)->reduce_wg;
    int64_t b = logits->shape[0];
    int64_t stats_shape[2] = {b, 2};
    int64_t one = 1;
    vkt_tensor *stats = vkt__new_output(dev, VKT_F32, 2, stats_shape);
    vkt_tensor *rows = vkt__new_output(dev, VKT_F32, 1, &b);
    vkt_tensor *out = vkt__new_output(dev, VKT_F32, 1, &one);
    vkt_status s = stats && rows && out ? VKT_OK : vkt_last_status();

    if (s == VKT_OK) {
        vkt__pc_softmax_xent pc = {(uint32_t)b, (uint32_t)logits->shape[1]};
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
    if (s == VKT_OK) {
        vkt__pc_softmax_xent_mean pc = {(uint32_t)b};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_SOFTMAX_XENT_MEAN,
            .spec = {wg},
            .spec_count = 1,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(rows, VKT__READ), vkt__bind(out, VKT__WRITE)},
            .groups = {1, 1, 1},
        };
        s = vkt__dispatch(dev, &d);
    }
    if (s == VKT_OK && vkt__any_requires_grad(logits, NULL, NULL)) {
        vkt__node *n = vkt__record(VKT__OP_SOFTMAX_XENT, out, logits, labels, NULL);
        if (n) {
            n->saved = vkt__ref(stats);
        } else {
            s = vkt_last_status();
        }
    }
    vkt_tensor_free(stats); /* the node keeps its own reference */
    vkt_tensor_free(rows);
    if (s != VKT_OK) {
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}

/* dx += gout[0] / B * (softmax(logits) - onehot(labels)), from the forward pass's saved stats. */
vkt_status vkt__softmax_xent_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *logits = n->in[0];
    if (!vkt__wants_grad(logits)) {
        return VKT_OK; /* labels are integers: never differentiated */
    }
    vkt_tensor *dx = vkt__grad_of(logits);
    if (!dx) {
        return vkt_last_status();
    }
    vkt__pc_softmax_xent_backward pc = {(uint32_t)logits->shape[0], (uint32_t)logits->shape[1],
                                        .accumulate = 1};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SOFTMAX_XENT_BACKWARD,
        .spec = {XENT_BACKWARD_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(logits, VKT__READ), vkt__bind(n->in[1], VKT__READ),
                     vkt__bind(n->saved, VKT__READ), vkt__bind(gout, VKT__READ),
                     vkt__bind(dx, VKT__RW)},
    };
    vkt__elementwise_groups((uint64_t)logits->numel, XENT_BACKWARD_WG, d.groups);
    return vkt__dispatch(dx->dev, &d);
}
