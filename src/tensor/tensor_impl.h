/*
 * tensor_impl.h — tensors, tape nodes and the helpers every op uses.
 *
 * An op file (src/ops/<family>.c) does four things for each op, always with these helpers:
 *   1. validates its inputs        (vkt__check_*: set a clear error and return NULL)
 *   2. makes its output            (vkt__new_output)
 *   3. records its dispatch        (vkt__bind + vkt__dispatch)
 *   4. records a tape node         (vkt__record) if any input requires a gradient
 * and implements its backward beside it, registered in the op table (src/ops/op_table.h), through
 * which vkt_backward (src/tensor/graph.c) calls it. Backward functions accumulate into input
 * gradients got with vkt__grad_of, or, where one dispatch writes every element of the gradient,
 * take it with vkt__grad_first and write instead of accumulating when they are its first writer
 * (no zero-fill).
 */
#ifndef VKT_TENSOR_IMPL_H
#define VKT_TENSOR_IMPL_H

#include "gpu/gpu_internal.h"
#include "ops/op_table.h"
#include "vkt/tensor.h"

struct vkt__node;

struct vkt_tensor {
    vkt_device *dev;
    vkt_dtype dtype;            /* VKT_F32 or VKT_I32, never DEFAULT */
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    int64_t numel;
    vkt__alloc *alloc;          /* shared with views */
    uint64_t offset;            /* bytes from the allocation's start */
    uint32_t refs;              /* caller + scope + tape nodes */
    bool user_owned;            /* the caller has not freed it yet */
    bool requires_grad;
    vkt_tensor *grad;           /* may be NULL; holds a reference */
    bool grad_unwritten;        /* grad's memory holds no value: it is zero until first written */
    struct vkt__node *node;     /* the op that produced it; may be NULL */
    uint32_t last_reader;       /* a leaf's first node on the tape, while vkt_backward walks */
};

typedef struct vkt__node {
    vkt__op op;
    vkt_tensor *out;
    vkt_tensor *in[3];          /* may be NULL */
    vkt_tensor *saved; /* op-specific saved tensor (e.g. softmax probabilities); may be NULL */
    vkt_tensor *saved2; /* a second one (attention's mask); may be NULL */
    int iparam[8];              /* op-specific, e.g. matmul flags, conv geometry */
    float fparam[4];            /* op-specific, e.g. scale factor */
    int64_t lparam[2 * VKT_MAX_DIMS]; /* op-specific shape parameters (permutation, pads) */
} vkt__node;

/* ---- tensors --------------------------------------------------------------------------------- */

size_t vkt__dtype_size(vkt_dtype t);
const char *vkt__dtype_name(vkt_dtype t);
/* A new output tensor for an op: registered in the current scope, owned by the caller. */
vkt_tensor *vkt__new_output(vkt_device *dev, vkt_dtype dtype, int ndim, const int64_t *shape);
/* A tensor over an existing allocation (it takes its own reference), at its start. */
vkt_tensor *vkt__tensor_on_alloc(vkt_device *dev, vkt_dtype dtype, int ndim, const int64_t *shape,
                                 vkt__alloc *alloc);
/* The binding of the whole tensor with the given access (VKT__READ/WRITE/RW). */
vkt__binding vkt__bind(const vkt_tensor *t, uint32_t access);
vkt_tensor *vkt__ref(vkt_tensor *t);
void vkt__unref(vkt_tensor *t);

/* ---- checks: each sets the last error ("vkt_matmul: a is [3, 4] f32 but ...") and returns false
 */

bool vkt__check_dtype(const char *op, const char *what, const vkt_tensor *t, vkt_dtype want);
bool vkt__check_ndim(const char *op, const char *what, const vkt_tensor *t, int ndim);
bool vkt__check_same_shape(const char *op, const vkt_tensor *a, const vkt_tensor *b);
bool vkt__check_same_device(const char *op, const vkt_tensor *a, const vkt_tensor *b);

/* ---- autograd -------------------------------------------------------------------------------- */

/* True when any of the given inputs (NULLs ignored) requires a gradient. */
bool vkt__any_requires_grad(const vkt_tensor *a, const vkt_tensor *b, const vkt_tensor *c);
/* Appends a node for `out` (and marks out->requires_grad); returns NULL with the error set on
 * out of memory. Takes references on out and the inputs. */
vkt__node *vkt__record(vkt__op op, vkt_tensor *out, const vkt_tensor *in0, const vkt_tensor *in1,
                       const vkt_tensor *in2);
/* The gradient of `t`, created zero-filled on first use (or zero-filled if it is unwritten), for
 * a backward that accumulates into it. NULL with the error set on failure. */
vkt_tensor *vkt__grad_of(vkt_tensor *t);
/* The gradient of `t` for a backward that writes every one of its elements: *accumulate is false
 * when that backward is its first writer (the gradient is new or unwritten, and is not filled),
 * true when it must add to what is there. The caller writes, or fails with the error set.
 * NULL with the error set on failure. */
vkt_tensor *vkt__grad_first(vkt_tensor *t, bool *accumulate);
/* The device's tape (tensor.c): its node array, count and capacity; NULL on out of memory. */
vkt__node ***vkt__tape(vkt_device *dev, uint32_t **count, uint32_t **cap);
/* Drops tape nodes from the end until `count` remain (graph.c). */
void vkt__tape_truncate(vkt_device *dev, uint32_t count);
/* An observer of vkt_backward: called once per leaf (a tensor that requires a gradient and no
 * op produced) when its gradient is final in this backward, i.e. the walk has passed every node
 * that reads it; an error stops the backward. The DDP strategy starts reading a bucket of
 * gradients back with it while the device computes the rest (src/train/grad_reducer.c). One per
 * device; fn NULL removes it. */
typedef vkt_status (*vkt__grad_ready_fn)(void *ctx, vkt_tensor *leaf);
vkt_status vkt__set_grad_ready(vkt_device *dev, vkt__grad_ready_fn fn, void *ctx);
vkt__grad_ready_fn vkt__grad_ready(vkt_device *dev, void **ctx);
/* Whether backward should produce a gradient for this input. */
static inline bool vkt__wants_grad(const vkt_tensor *t) { return t && t->requires_grad; }

/* out[j] (+)= sum_i x[i, j] for a 2-D x (R, C) and out (C); fixed order, deterministic.
 * Used by add_bias backward. src/ops/sum_cols.c, shaders/sum_cols.comp. */
vkt_status vkt__sum_cols(const vkt_tensor *x, vkt_tensor *out, bool accumulate);

/* out = gout where y > 0, else 0, elementwise: the ReLU's backward from its output y (the same
 * mask as from its input). src/ops/elementwise.c. */
vkt_status vkt__relu_mask(const vkt_tensor *gout, const vkt_tensor *y, vkt_tensor *out);

/* dst = max(dst, src) (or min), elementwise, in place; NaN propagates. src/ops/elementwise.c. */
vkt_status vkt__max_into(vkt_tensor *dst, const vkt_tensor *src, bool is_min);

/* Dispatch helper for "one thread per element" kernels of `n` elements with workgroup size wg. */
void vkt__elementwise_groups(uint64_t n, uint32_t wg, uint32_t groups[3]);

#endif
