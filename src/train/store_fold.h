/*
 * store_fold.h — the epoch stores' device fold (src/train/store.c), exposed for
 * src/check/check_store.c.
 */
#ifndef VKT_STORE_FOLD_H
#define VKT_STORE_FOLD_H

#include "tensor/tensor_impl.h"

/* Folds x (rows, cols) into acc (and m2, the running sum of squared deviations for mean_var);
 * `op` is the store kind, `rows_before` the rows folded so far. */
vkt_status vkt__store_fold(vkt_tensor *acc, vkt_tensor *m2, const vkt_tensor *x, int op,
                           int64_t rows_before);

#endif
