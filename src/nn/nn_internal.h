/*
 * nn_internal.h — the model's registry of parameters and buffers, shared by the files of src/nn/
 * (model.c: registry, build, accessors; sequential.c: layer lists; state_dict.c: load/save).
 * Layers never need it: they use the public API (include/vkt/nn.h) and src/nn/layer.h.
 */
#ifndef VKT_NN_INTERNAL_H
#define VKT_NN_INTERNAL_H

#include "internal.h"
#include "vkt/nn.h"

#define VKT__PARAM_ALIGN 64 /* elements: 256 bytes, a valid storage-buffer offset everywhere */

struct vkt_param {
    vkt_model *model;
    char *name;
    bool buffer;                   /* not trainable */
    vkt_param_role role;           /* for optimizer groups (weight decay) */
    vkt_dtype dtype;               /* f32, or i32 for a buffer */
    int ndim;                      /* state-dict shape; 0 for a scalar buffer */
    int64_t shape[VKT_MAX_DIMS];
    int64_t numel;
    vkt_init init;
    uint32_t reg;                  /* registration index */
    uint64_t *key;                 /* state-dict sort key (model.c), one element per name part */
    int key_len;
    int64_t offset;                /* elements into its block, set by the build */
    vkt_tensor *t, *g;             /* views into the blocks (g: params only) once built */
};

typedef struct vkt__seq vkt__seq;

struct vkt_model {
    vkt_device *dev;
    uint64_t seed;
    bool built, training;
    vkt_param **reg;               /* registration order */
    vkt_param **order;             /* state-dict order */
    uint32_t n, cap, order_cap;
    uint64_t n_params;
    vkt_tensor *params, *grads;    /* the blocks */
    vkt_tensor *buf_f32, *buf_i32; /* may be NULL */
    vkt__seq *seq;                 /* the layer list of a sequential model; may be NULL */
};

/* init.c: VKT_INVALID_ARGUMENT naming fn and the tensor if `init` cannot fill ndim dimensions. */
vkt_status vkt__init_check(const vkt_init *init, int ndim, const char *fn, const char *name);

/* sequential.c: builds the layer list of desc into m (before the model is built). */
vkt_status vkt__seq_create(vkt_model *m, const vkt_model_desc *desc);
void vkt__seq_destroy(vkt__seq *s);
uint32_t vkt__seq_in_features(const vkt__seq *s);
uint32_t vkt__seq_out_features(const vkt__seq *s);

#endif
