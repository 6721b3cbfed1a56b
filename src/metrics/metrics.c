/*
 * metrics.c — torchmetrics-style metrics whose state lives on the device (include/vkt/metrics.h):
 * accuracy, precision, recall, F1, confusion matrix, mean squared / absolute error.
 *
 * Shaders: shaders/metric_update.comp (classification update), shaders/metric_prob_check.comp
 * (the binary sigmoid rule), shaders/metric_regression.comp (error pass and accumulate; the batch
 * sum in between is vkt_sum), shaders/metric_compute.comp (the value from the state).
 * CPU reference: src/ref/ref_metrics.c. Checks: src/check/check_metrics.c.
 * Tests: tests/test_metrics.c.
 *
 * State (one i32 tensor, zeroed by one fill on reset):
 *   ACCURACY, PRECISION, RECALL, F1  3C counts: tp[C], predicted[C], target[C] (binary: C = 2,
 *                                    class 1 positive)
 *   CONFUSION_MATRIX                 (C, C) counts, [target][prediction]
 *   MEAN_SQUARED/ABSOLUTE_ERROR      4 words: error sum hi, lo (f32 bits), count low, high (u32)
 * Update records dispatches only and compute makes its output with one dispatch (or one copy):
 * nothing in this file reads a value back or waits for the device.
 */
#include <math.h>
#include <string.h>

#include "shaders/metric_ops.h"
#include "tensor/tensor_impl.h"
#include "metrics/metrics_internal.h"
#include "vkt/metrics.h"

/* Mirrors `PC` in shaders/metric_update.comp. */
typedef struct vkt__pc_metric_update {
    uint32_t n;
    uint32_t classes;
    uint32_t top_k;
    float threshold;
} vkt__pc_metric_update;
_Static_assert(sizeof(vkt__pc_metric_update) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/metric_prob_check.comp and shaders/metric_regression.comp. */
typedef struct vkt__pc_metric_n {
    uint32_t n;
} vkt__pc_metric_n;
_Static_assert(sizeof(vkt__pc_metric_n) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/metric_compute.comp. */
typedef struct vkt__pc_metric_compute {
    uint32_t classes;
    uint32_t top_k;
} vkt__pc_metric_compute;
_Static_assert(sizeof(vkt__pc_metric_compute) <= VKT__PUSH_MAX, "push constants");


#define UPDATE_WG 256u
#define COMPUTE_WG 64u
/* A state of at most this many words is counted per workgroup in shared memory first (8 KiB,
 * within the 16 KiB every Vulkan device offers). Larger ones take global atomics directly. */
#define SMEM_MAX_BINS 2048u

struct vkt_metric {
    vkt_device *dev;
    vkt_metric_desc desc;   /* defaults filled in; label points at `label` */
    char label[64];
    bool classification;    /* every type up to CONFUSION_MATRIX */
    bool binary;
    uint32_t classes;       /* C; 2 for binary */
    vkt_tensor *state;      /* i32 words, see the top of the file */
    vkt_tensor *flag;       /* binary: one word for metric_prob_check.comp; else NULL */
    uint64_t updates;
};

static const char *const type_names[] = {
    "none", "accuracy", "precision", "recall", "f1", "confusion_matrix", "mean_squared_error",
    "mean_absolute_error",
};

const char *vkt_metric_type_name(vkt_metric_type t)
{
    return (uint32_t)t < VKT__ARRAY_LEN(type_names) ? type_names[t] : "unknown";
}

/* ---- creation -------------------------------------------------------------------------------- */

/* Checks `in` and writes it with every default filled in to `d`; sets the error on failure. */
static vkt_status resolve_desc(const vkt_metric_desc *in, vkt_metric_desc *d)
{
    const char *op = "vkt_metric_create";
    *d = *in;
    if (d->type <= VKT_METRIC_NONE || d->type > VKT_METRIC_MEAN_ABSOLUTE_ERROR) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: type %d is not a metric (VKT_METRIC_ACCURACY .. "
                          "VKT_METRIC_MEAN_ABSOLUTE_ERROR)",
                          op, (int)d->type);
    }
    const char *name = vkt_metric_type_name(d->type);
    if (d->type >= VKT_METRIC_MEAN_SQUARED_ERROR) {
        if (d->task != VKT_TASK_DEFAULT || d->num_classes || d->threshold != 0.0f || d->top_k ||
            d->average != VKT_AVERAGE_DEFAULT) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "%s: %s is a regression metric; task, num_classes, threshold, top_k "
                              "and average must be 0",
                              op, name);
        }
        if (d->root && d->type != VKT_METRIC_MEAN_SQUARED_ERROR) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "%s: root applies to mean_squared_error only, not %s", op, name);
        }
        return VKT_OK;
    }
    if (d->root) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: root applies to mean_squared_error only, not %s", op, name);
    }
    if (d->task == VKT_TASK_DEFAULT) {
        d->task = d->num_classes > 0 ? VKT_TASK_MULTICLASS : VKT_TASK_BINARY;
    }
    if (d->task != VKT_TASK_BINARY && d->task != VKT_TASK_MULTICLASS) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: task %d is not VKT_TASK_BINARY or "
                                                "VKT_TASK_MULTICLASS", op, (int)d->task);
    }
    if ((uint32_t)d->average > VKT_AVERAGE_NONE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: average %d is not a vkt_metric_average", op,
                          (int)d->average);
    }
    if (d->task == VKT_TASK_BINARY) {
        if (d->num_classes != 0 && d->num_classes != 2) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "%s: a binary %s has 2 classes, not num_classes = %u", op, name,
                              d->num_classes);
        }
        if (d->top_k > 1) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "%s: top_k = %u needs a multiclass task; %s is binary", op, d->top_k,
                              name);
        }
        if (!(d->threshold >= 0.0f && d->threshold <= 1.0f)) {
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: threshold %g is not in [0, 1]", op,
                              (double)d->threshold);
        }
        d->num_classes = 2;
        d->top_k = 1;
        d->threshold = VKT__DEF(d->threshold, 0.5f);
        return VKT_OK;
    }
    if (d->num_classes < 2 || d->num_classes > VKT_METRIC_MAX_CLASSES) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: a multiclass %s needs num_classes in 2 .. %u, got %u", op, name,
                          VKT_METRIC_MAX_CLASSES, d->num_classes);
    }
    if (d->threshold != 0.0f) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: threshold applies to binary tasks; a multiclass %s takes the argmax",
                          op, name);
    }
    if (d->type == VKT_METRIC_CONFUSION_MATRIX &&
        (d->top_k > 1 || d->average != VKT_AVERAGE_DEFAULT)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: confusion_matrix takes neither top_k nor average", op);
    }
    d->top_k = VKT__DEF(d->top_k, 1u);
    if (d->top_k > d->num_classes) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: top_k = %u exceeds num_classes = %u", op,
                          d->top_k, d->num_classes);
    }
    if (d->type != VKT_METRIC_CONFUSION_MATRIX) {
        d->average = VKT__DEF(d->average, VKT_AVERAGE_MICRO);
    }
    return VKT_OK;
}

vkt_status vkt_metric_create(vkt_device *dev, const vkt_metric_desc *desc, vkt_metric **out)
{
    if (out) {
        *out = NULL;
    }
    if (!dev || !desc || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_metric_create: device, desc and out are "
                                                "required");
    }
    vkt_metric_desc d;
    vkt_status s = resolve_desc(desc, &d);
    if (s != VKT_OK) {
        return s;
    }
    vkt_metric *m = vkt__calloc(1, sizeof *m);
    if (!m) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    m->dev = dev;
    m->desc = d;
    if (d.label) {
        snprintf(m->label, sizeof m->label, "%s", d.label);
        m->desc.label = m->label;
    }
    m->classification = d.type <= VKT_METRIC_CONFUSION_MATRIX;
    m->binary = m->classification && d.task == VKT_TASK_BINARY;
    m->classes = d.num_classes;
    int64_t c = m->classes;
    if (d.type == VKT_METRIC_CONFUSION_MATRIX) {
        m->state = vkt_tensor_new_2d(dev, VKT_I32, c, c);
    } else {
        m->state = vkt_tensor_new_1d(dev, VKT_I32, m->classification ? 3 * c : 4);
    }
    /* the metric owns its tensors even when created inside a scope */
    vkt_tensor_keep(m->state);
    if (m->state && m->binary) {
        m->flag = vkt_tensor_keep(vkt_tensor_new_1d(dev, VKT_I32, 1));
    }
    if (!m->state || (m->binary && !m->flag)) {
        vkt__error_context("vkt_metric_create %s", vkt_metric_type_name(d.type));
        vkt_metric_destroy(m);
        return vkt_last_status();
    }
    s = vkt_metric_reset(m);
    if (s != VKT_OK) {
        vkt_metric_destroy(m);
        return s;
    }
    *out = m;
    return VKT_OK;
}

void vkt_metric_destroy(vkt_metric *m)
{
    if (!m) {
        return;
    }
    vkt_tensor_free(m->state);
    vkt_tensor_free(m->flag);
    free(m);
}

vkt_status vkt_metric_reset(vkt_metric *m)
{
    if (!m) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_metric_reset: metric is NULL");
    }
    m->updates = 0;
    return vkt_fill(m->state, 0.0f); /* 0 words: zero counts, +0.0f sums */
}

const vkt_metric_desc *vkt_metric_get_desc(const vkt_metric *m) { return m ? &m->desc : NULL; }

uint64_t vkt_metric_update_count(const vkt_metric *m) { return m ? m->updates : 0; }

vkt_device *vkt_metric_device(const vkt_metric *m) { return m ? m->dev : NULL; }

/* ---- update ---------------------------------------------------------------------------------- */

static bool same_shape(const vkt_tensor *a, const vkt_tensor *b)
{
    bool same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) {
        same = a->shape[i] == b->shape[i];
    }
    return same;
}

/* "vkt_metric_update: <what the metric takes>, but preds is [..] and target is [..]" */
static vkt_status input_error(vkt_status s, const vkt_metric *m, const vkt_tensor *preds,
                              const vkt_tensor *target, const char *takes)
{
    char dp[96], dt[96];
    return vkt__error(s, "vkt_metric_update: %s %s takes %s, but preds is %s and target is %s",
                      m->classification ? (m->binary ? "binary" : "multiclass") : "regression",
                      vkt_metric_type_name(m->desc.type), takes,
                      vkt_tensor_describe(preds, dp, sizeof dp),
                      vkt_tensor_describe(target, dt, sizeof dt));
}

static vkt_status update_classification(vkt_metric *m, const vkt_tensor *preds,
                                        const vkt_tensor *target)
{
    uint32_t C = m->classes;
    bool scores = preds->dtype == VKT_F32 && !m->binary;
    bool fits = scores ? preds->ndim == 2 && preds->shape[1] == C && target->ndim == 1 &&
                             target->shape[0] == preds->shape[0]
                       : same_shape(preds, target);
    if (target->dtype != VKT_I32 || !fits) {
        char takes[160];
        if (m->binary) {
            snprintf(takes, sizeof takes, "preds (f32 probabilities or logits, or i32 labels) and "
                                          "i32 target of the same shape");
        } else {
            snprintf(takes, sizeof takes,
                     "preds (N, %u) f32 scores and target (N) i32, or i32 label preds shaped like "
                     "target",
                     C);
        }
        return input_error(target->dtype != VKT_I32 ? VKT_DTYPE_MISMATCH : VKT_SHAPE_MISMATCH, m,
                           preds, target, takes);
    }
    if (!m->binary && !scores && m->desc.top_k > 1) {
        return input_error(VKT_DTYPE_MISMATCH, m, preds, target,
                           "f32 scores when top_k > 1 (labels have no ranking)");
    }
    uint32_t pred_kind = m->binary ? (preds->dtype == VKT_F32 ? PRED_BINARY_F32 : PRED_BINARY_I32)
                                   : (scores ? PRED_SCORES : PRED_LABELS);
    uint64_t n = scores ? (uint64_t)preds->shape[0] : (uint64_t)preds->numel;
    vkt_device *dev = m->dev;
    vkt_status s;
    if (pred_kind == PRED_BINARY_F32) {
        /* torchmetrics: sigmoid the batch if any value lies outside [0, 1] */
        vkt__pc_metric_n pc = {(uint32_t)n};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_METRIC_PROB_CHECK,
            .spec = {UPDATE_WG},
            .spec_count = 1,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(preds, VKT__READ), vkt__bind(m->flag, VKT__RW)},
        };
        vkt__elementwise_groups(n, UPDATE_WG, d.groups);
        s = vkt_fill(m->flag, 0.0f);
        s = s == VKT_OK ? vkt__dispatch(dev, &d) : s;
        if (s != VKT_OK) {
            return s;
        }
    }
    bool confmat = m->desc.type == VKT_METRIC_CONFUSION_MATRIX;
    uint64_t words = (uint64_t)m->state->numel;
    vkt__pc_metric_update pc = {
        .n = (uint32_t)n,
        .classes = C,
        .top_k = m->desc.top_k,
        .threshold = m->desc.threshold,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_METRIC_UPDATE,
        .spec = {UPDATE_WG, pred_kind, confmat ? STATE_CONFMAT : STATE_COUNTS,
                 words <= SMEM_MAX_BINS ? (uint32_t)words : 0},
        .spec_count = 4,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(preds, VKT__READ),
                vkt__bind(target, VKT__READ),
                m->flag ? vkt__bind(m->flag, VKT__READ) : (vkt__binding){0},
                vkt__bind(m->state, VKT__RW),
            },
    };
    vkt__elementwise_groups(n, UPDATE_WG, d.groups);
    return vkt__dispatch(dev, &d);
}

static vkt_status update_regression(vkt_metric *m, const vkt_tensor *preds,
                                    const vkt_tensor *target)
{
    if (preds->dtype != VKT_F32 || target->dtype != VKT_F32 || !same_shape(preds, target)) {
        return input_error(preds->dtype != VKT_F32 || target->dtype != VKT_F32
                               ? VKT_DTYPE_MISMATCH
                               : VKT_SHAPE_MISMATCH,
                           m, preds, target, "f32 preds and target of the same shape");
    }
    vkt_device *dev = m->dev;
    uint32_t n = (uint32_t)preds->numel;
    vkt_tensor *err = vkt_tensor_new_1d(dev, VKT_F32, n);
    if (!err) {
        return vkt_last_status();
    }
    vkt__pc_metric_n pc = {n};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_METRIC_REGRESSION,
        .spec = {UPDATE_WG,
                 m->desc.type == VKT_METRIC_MEAN_SQUARED_ERROR ? REG_SQUARED_ERROR
                                                               : REG_ABSOLUTE_ERROR},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(preds, VKT__READ), vkt__bind(target, VKT__READ),
                     vkt__bind(err, VKT__WRITE)},
    };
    vkt__elementwise_groups(n, UPDATE_WG, d.groups);
    vkt_status s = vkt__dispatch(dev, &d);
    /* the batch's sum: vkt_sum's fixed-order compensated reduction */
    vkt_tensor *sum = s == VKT_OK ? vkt_sum(err) : NULL;
    vkt_tensor_free(err); /* released once the work reading it has finished */
    if (!sum) {
        return s != VKT_OK ? s : vkt_last_status();
    }
    d.spec[1] = REG_ACCUMULATE;
    d.bindings[0] = vkt__bind(sum, VKT__READ);
    d.bindings[1] = (vkt__binding){0};
    d.bindings[2] = vkt__bind(m->state, VKT__RW);
    d.groups[0] = d.groups[1] = d.groups[2] = 1;
    s = vkt__dispatch(dev, &d);
    vkt_tensor_free(sum);
    return s;
}

vkt_status vkt_metric_update(vkt_metric *m, const vkt_tensor *preds, const vkt_tensor *target)
{
    if (!m) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_metric_update: metric is NULL");
    }
    if (!preds || !target) {
        /* most likely the output of an op that failed: keep its error */
        vkt_status s = vkt_last_status();
        return s != VKT_OK ? s
                           : vkt__error(VKT_INVALID_ARGUMENT,
                                        "vkt_metric_update: preds or target is NULL");
    }
    if (preds->dev != m->dev || target->dev != m->dev) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_metric_update: preds, target and the metric live on different "
                          "devices");
    }
    vkt_status s = m->classification ? update_classification(m, preds, target)
                                     : update_regression(m, preds, target);
    if (s == VKT_OK) {
        m->updates++;
    }
    return s;
}

/* ---- compute --------------------------------------------------------------------------------- */

vkt_tensor *vkt_metric_compute(vkt_metric *m)
{
    if (!m) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_metric_compute: metric is NULL");
        return NULL;
    }
    const vkt_metric_desc *dsc = &m->desc;
    int64_t C = m->classes;
    if (dsc->type == VKT_METRIC_CONFUSION_MATRIX) {
        int64_t shape[2] = {C, C};
        vkt_tensor *out = vkt__new_output(m->dev, VKT_I32, 2, shape);
        if (out && vkt_copy(out, m->state) != VKT_OK) {
            vkt_tensor_free(out);
            return NULL;
        }
        return out;
    }
    uint32_t metric, average = AVG_MICRO;
    switch (dsc->type) {
    case VKT_METRIC_ACCURACY:
        metric = M_ACCURACY;
        break;
    case VKT_METRIC_PRECISION:
        metric = M_PRECISION;
        break;
    case VKT_METRIC_RECALL:
        metric = M_RECALL;
        break;
    case VKT_METRIC_F1:
        metric = M_F1;
        break;
    case VKT_METRIC_MEAN_SQUARED_ERROR:
        metric = dsc->root ? M_RMSE : M_MSE;
        break;
    default:
        metric = M_MAE;
        break;
    }
    if (m->binary) {
        /* binary accuracy = (tp + tn) / samples = the micro accuracy of the two classes */
        average = metric == M_ACCURACY ? AVG_MICRO : AVG_BINARY;
    } else if (m->classification) {
        average = dsc->average == VKT_AVERAGE_MACRO      ? AVG_MACRO
                  : dsc->average == VKT_AVERAGE_WEIGHTED ? AVG_WEIGHTED
                  : dsc->average == VKT_AVERAGE_NONE     ? AVG_NONE
                                                         : AVG_MICRO;
    }
    int64_t n_out = average == AVG_NONE ? C : 1;
    vkt_tensor *out = vkt__new_output(m->dev, VKT_F32, 1, &n_out);
    if (!out) {
        return NULL;
    }
    vkt__pc_metric_compute pc = {m->classes, dsc->top_k};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_METRIC_COMPUTE,
        .spec = {COMPUTE_WG, metric, average},
        .spec_count = 3,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(m->state, VKT__READ), vkt__bind(out, VKT__WRITE)},
        .groups = {1, 1, 1},
    };
    if (vkt__dispatch(m->dev, &d) != VKT_OK) {
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}

vkt_tensor *vkt__metric_state(const vkt_metric *m, bool *regression)
{
    *regression = !m->classification;
    return m->state;
}
