/*
 * metrics_internal.h — what the trainer's DDP strategy needs of a metric (src/train/ddp.c): its
 * state tensor, to reduce over the ranks before compute (torchmetrics' sync) and restore after.
 */
#ifndef VKT_METRICS_INTERNAL_H
#define VKT_METRICS_INTERNAL_H

#include "vkt/metrics.h"

/* The i32 state words (metrics.c's header: counts for classification; for the regression
 * errors four words: error sum hi, lo as f32 bits, then the count's low and high u32).
 * *regression says which layout. */
vkt_tensor *vkt__metric_state(const vkt_metric *m, bool *regression);

#endif
