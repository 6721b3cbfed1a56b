/*
 * vkt/metrics.h — torchmetrics-style metrics whose state lives on the device.
 *
 *     vkt_metric *f1;
 *     vkt_metric_create(dev, &(vkt_metric_desc){ .type = VKT_METRIC_F1, .num_classes = 10,
 *                                                .average = VKT_AVERAGE_MACRO }, &f1);
 *     for (each validation batch) {
 *         vkt_metric_update(f1, logits, labels);   // dispatches only: no read, no wait, no upload
 *     }
 *     vkt_tensor *v = vkt_metric_compute(f1);      // one-element f32 tensor, made on the device
 *     ...log v (it is read only when someone downloads it)...
 *     vkt_metric_reset(f1);                        // one fill: the next epoch starts from zero
 *     vkt_metric_destroy(f1);
 *
 * Semantics are those of torchmetrics 1.x's task wrappers (Accuracy(task=...), Precision, Recall,
 * F1Score, ConfusionMatrix) and MeanSquaredError / MeanAbsoluteError:
 *
 * Inputs of vkt_metric_update (the counts of every update add up until vkt_metric_reset):
 *   BINARY      preds f32 probabilities or logits, or i32 labels in {0, 1}; target i32 in {0, 1};
 *               both the same shape (any). f32 preds: when any value of the batch given to one
 *               update lies outside [0, 1] (or is NaN) the whole batch is passed through a sigmoid
 *               first, exactly torchmetrics' rule; a sample is positive when its probability is
 *               > threshold.
 *   MULTICLASS  preds f32 (N, C) scores (probabilities or logits) and target i32 (N); or preds i32
 *               labels of the target's shape (any). Scores give the argmax: the first index on
 *               ties, a NaN counts as the largest value (torch.argmax). With top_k > 1 (scores
 *               only) a sample's prediction is its target when the target is among its k highest
 *               scores (ties ranked by lower index), else its argmax: torchmetrics' rule since its
 *               top_k fix (PR #2839), under which top_k = C gives a score of 1.
 *   Samples whose target is outside [0, C) (binary: not 0 or 1) are skipped, as torchmetrics'
 *   ignore_index skips them (e.g. -100 padding); so are samples whose i32 label prediction is
 *   outside [0, C) (binary: not 0 or 1). torchmetrics raises an error for such values; raising
 *   would need a read back, so they are left out instead.
 *   REGRESSION  preds and target f32 of the same shape (any); every element is one observation.
 *
 * Values of vkt_metric_compute, with tp, fp, fn counted per class c over every update:
 *   ACCURACY    binary: (tp + tn) / samples. Multiclass: per class tp / (tp + fn).
 *   PRECISION   tp / (tp + fp)          (binary: of the positive class)
 *   RECALL      tp / (tp + fn)
 *   F1          2 tp / (2 tp + fp + fn)
 *   A zero denominator gives 0 (torchmetrics' zero_division default). Multiclass averages:
 *     MICRO     tp, fp, fn summed over the classes first (for ACCURACY: correct / samples).
 *     MACRO     the unweighted mean of the per-class values over the classes that occur: as in
 *               torchmetrics (_adjust_weights_safe_divide), a class with tp + fp + fn = 0 (absent
 *               from both targets and predictions; with top_k > 1: tp + fn = 0, absent from the
 *               targets) is left out of the mean. A class that is only predicted, or only a
 *               target, is in the mean with its value 0. No class occurring gives 0.
 *     WEIGHTED  the mean weighted by each class's support tp + fn.
 *     NONE      the C per-class values: compute returns a (C) f32 tensor.
 *   CONFUSION_MATRIX  a C x C i32 tensor (binary: 2 x 2), rows = target, columns = prediction,
 *               unnormalised (torchmetrics' normalize=None).
 *   MEAN_SQUARED_ERROR   sum (p - t)^2 / observations; with `root`, its square root (RMSE,
 *               torchmetrics' squared=False). MEAN_ABSOLUTE_ERROR  sum |p - t| / observations.
 *               Before any observation both are NaN (torchmetrics divides 0 by 0).
 *
 * State and cost. Classification state is integer counts (per class tp, predicted, target; or the
 * confusion matrix) updated with integer atomics: exact and independent of order. Regression
 * state is a compensated f32 sum of errors and a 64-bit observation count: each update sums its
 * batch with vkt_sum's fixed-order compensated reduction and adds that into the state in one
 * invocation. Compute runs one workgroup in a fixed order. So the same updates give the same bits
 * on a given device. An update records one dispatch (binary f32 preds: a fill and one more for
 * the sigmoid rule; regression: an error pass, vkt_sum and an accumulate); compute one dispatch
 * (confusion matrix: one copy).
 *
 * Limits: counts are 32-bit: at most 2^31 - 1 classified samples between resets. num_classes is at
 * most VKT_METRIC_MAX_CLASSES.
 */
#ifndef VKT_METRICS_H
#define VKT_METRICS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKT_METRIC_MAX_CLASSES 65535u

typedef enum vkt_metric_type {
    VKT_METRIC_NONE = 0,          /* invalid: a type is required */
    VKT_METRIC_ACCURACY,
    VKT_METRIC_PRECISION,
    VKT_METRIC_RECALL,
    VKT_METRIC_F1,
    VKT_METRIC_CONFUSION_MATRIX,
    VKT_METRIC_MEAN_SQUARED_ERROR,
    VKT_METRIC_MEAN_ABSOLUTE_ERROR,
    _VKT_METRIC_FORCE_U32 = 0x7FFFFFFF
} vkt_metric_type;

typedef enum vkt_metric_task {
    VKT_TASK_DEFAULT = 0,         /* MULTICLASS when num_classes > 0, else BINARY */
    VKT_TASK_BINARY,
    VKT_TASK_MULTICLASS,
    _VKT_TASK_FORCE_U32 = 0x7FFFFFFF
} vkt_metric_task;

typedef enum vkt_metric_average {
    VKT_AVERAGE_DEFAULT = 0,      /* = MICRO, the default of torchmetrics' task wrappers (the
                                     Multiclass* classes default to "macro") */
    VKT_AVERAGE_MICRO,
    VKT_AVERAGE_MACRO,
    VKT_AVERAGE_WEIGHTED,
    VKT_AVERAGE_NONE,             /* per class: compute returns a (C) f32 tensor */
    _VKT_AVERAGE_FORCE_U32 = 0x7FFFFFFF
} vkt_metric_average;

/**
 * What to measure. Zero fields take the defaults below. Fields that do not apply to the type must
 * stay zero (VKT_INVALID_ARGUMENT otherwise), except `average` for a binary task, which
 * torchmetrics' wrappers ignore too.
 */
typedef struct vkt_metric_desc {
    vkt_metric_type type;         /* required */
    vkt_metric_task task;         /* classification only */
    uint32_t num_classes;         /* MULTICLASS: 2 .. VKT_METRIC_MAX_CLASSES; BINARY: 0 or 2 */
    float threshold;              /* BINARY: in [0, 1]; 0 -> 0.5 (use FLT_MIN for "any p > 0") */
    uint32_t top_k;               /* MULTICLASS ACCURACY/PRECISION/RECALL/F1: 0 -> 1, <= C */
    vkt_metric_average average;   /* MULTICLASS ACCURACY/PRECISION/RECALL/F1 */
    bool root;                    /* MEAN_SQUARED_ERROR: the root (RMSE) */
    const char *label;            /* may be NULL; copied (at most 63 characters kept) */
} vkt_metric_desc;

typedef struct vkt_metric vkt_metric;

/** Creates a metric with zero state. On error *out is NULL and vkt_last_error() says why. */
VKT_API vkt_status vkt_metric_create(vkt_device *dev, const vkt_metric_desc *desc,
                                     vkt_metric **out);
/** Frees the metric (its device memory once pending work is done). NULL is a no-op. */
VKT_API void vkt_metric_destroy(vkt_metric *m);

/**
 * Adds one batch into the state: records device work only (no read back, no host wait, nothing
 * uploaded). Errors: a shape or dtype that does not fit the metric (the message names both
 * tensors). A NULL input (e.g. from an op that failed) returns that op's error status unchanged.
 */
VKT_API vkt_status vkt_metric_update(vkt_metric *m, const vkt_tensor *preds,
                                     const vkt_tensor *target);
/**
 * The metric's value over every update since creation or the last reset, as a new device tensor
 * owned by the caller (or by the current scope): one f32 element, (C) f32 for VKT_AVERAGE_NONE,
 * (C, C) i32 for a confusion matrix. Nothing is read back. NULL on error.
 */
VKT_API vkt_tensor *vkt_metric_compute(vkt_metric *m);
/** Zeroes the state (one fill); tensors returned by earlier computes keep their values. */
VKT_API vkt_status vkt_metric_reset(vkt_metric *m);

/** The description with every default filled in (task, num_classes 2 for binary, threshold...). */
VKT_API const vkt_metric_desc *vkt_metric_get_desc(const vkt_metric *m);
/** Updates recorded since creation or the last reset (known on the host; torchmetrics'
 * update_count). */
VKT_API uint64_t vkt_metric_update_count(const vkt_metric *m);
VKT_API vkt_device *vkt_metric_device(const vkt_metric *m);
/** "accuracy", "f1", "mean_squared_error"...; "unknown" outside the enum. */
VKT_API const char *vkt_metric_type_name(vkt_metric_type t);

#ifdef __cplusplus
}
#endif
#endif
