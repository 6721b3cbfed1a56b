/*
 * data_internal.h — what the trainer and the checks reach inside loaders (src/data/loader.c).
 */
#ifndef VKT_DATA_INTERNAL_H
#define VKT_DATA_INTERNAL_H

#include "vkt/data.h"

/* The current epoch's order, as dataset indices when the loader has no subset (for checks). */
const uint32_t *vkt__loader_order(const vkt_loader *l);
/* overfit_batches turns shuffling off for the run; returns the previous setting. */
bool vkt__loader_set_shuffle(vkt_loader *l, bool shuffle);

#endif
