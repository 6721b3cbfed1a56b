/*
 * state_dict.c — a model's parameters and buffers to and from a vkt_dict (torch's state_dict:
 * names, shapes, f32 values; i32 buffers as integer arrays, which checkpoints write as I64), and
 * vkt_model_load_safetensors on top of vkt_checkpoint_load (src/train/checkpoint_io.c), so vkt
 * can start from PyTorch weights.
 * Test: tests/test_params.c (round trip, a file written by PyTorch, strict-load errors).
 */
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"
#include "vkt/train.h"

static void describe_shape(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && at < n; i++) {
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (at < n) {
        snprintf(buf + at, n - at, "]");
    }
}

/* Downloads a whole block into a malloc'd array (NULL block: *out stays NULL). */
static vkt_status fetch_block(const vkt_tensor *block, void **out)
{
    *out = NULL;
    if (!block) {
        return VKT_OK;
    }
    *out = vkt__malloc(vkt_tensor_bytes(block));
    if (!*out) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    return vkt_tensor_download(block, *out, vkt_tensor_bytes(block));
}

vkt_status vkt_model_state_dict(const vkt_model *m, vkt_dict *sd)
{
    if (!m || !sd) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_state_dict: model and dict are "
                                                "required");
    }
    vkt_status s = vkt_model_build((vkt_model *)m);
    /* one readback (one host wait) per block, not one per tensor: checkpoints run every epoch */
    void *host[3] = {NULL, NULL, NULL};
    const vkt_tensor *blocks[3] = {m->params, m->buf_f32, m->buf_i32};
    for (int b = 0; b < 3 && s == VKT_OK; b++) {
        s = fetch_block(blocks[b], &host[b]);
    }
    int64_t *wide = NULL;
    for (uint32_t i = 0; s == VKT_OK && i < m->n; i++) {
        const vkt_param *p = m->order[i];
        int b = !p->buffer ? 0 : p->dtype == VKT_F32 ? 1 : 2; /* as blocks[] */
        if (p->dtype == VKT_I32) {
            /* widened to int64, torch's dtype for them */
            int64_t *grown = vkt__realloc(wide, (size_t)(p->numel ? p->numel : 1) * sizeof *wide);
            if (!grown) {
                s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            wide = grown;
            const int32_t *v = (const int32_t *)host[b] + p->offset;
            for (int64_t j = 0; j < p->numel; j++) {
                wide[j] = v[j];
            }
            s = vkt_dict_set_ints(sd, p->name, wide, p->ndim, p->shape);
        } else {
            s = vkt_dict_set_floats(sd, p->name, (const float *)host[b] + p->offset, p->ndim,
                                    p->shape);
        }
    }
    free(wide);
    for (int b = 0; b < 3; b++) {
        free(host[b]);
    }
    return s;
}

/* Whether the dict's shape fits the tensor; a scalar buffer also takes one element as [1]
 * (torch's load_state_dict accepts that too). */
static bool shape_fits(const vkt_param *p, int nd, const int64_t *shape)
{
    if (p->ndim == 0 && nd == 1 && shape[0] == 1) {
        return true;
    }
    if (nd != p->ndim) {
        return false;
    }
    for (int i = 0; i < nd; i++) {
        if (shape[i] != p->shape[i]) {
            return false;
        }
    }
    return true;
}

static vkt_status upload(const vkt_param *p, const float *f)
{
    if (p->dtype == VKT_F32) {
        return vkt_tensor_upload(p->t, f, (size_t)p->numel * sizeof *f);
    }
    int32_t *v = vkt__malloc((size_t)p->numel * sizeof *v);
    if (!v) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (int64_t j = 0; j < p->numel; j++) {
        v[j] = (int32_t)lrintf(f[j]);
    }
    vkt_status s = vkt_tensor_upload(p->t, v, (size_t)p->numel * sizeof *v);
    free(v);
    return s;
}

/* Strict: every check first, then the uploads. `where` starts every message. */
static vkt_status load(vkt_model *m, const vkt_dict *sd, const char *where)
{
    vkt_status s = vkt_model_build(m);
    if (s != VKT_OK) {
        return s;
    }
    for (uint32_t i = 0; i < m->n; i++) {
        const vkt_param *p = m->order[i];
        int nd = 0;
        int64_t shape[VKT_MAX_DIMS];
        char want[96], got[96];
        describe_shape(want, sizeof want, p->ndim, p->shape);
        if (!vkt_dict_get_floats(sd, p->name, &nd, shape)) {
            return vkt__error(VKT_NOT_FOUND, "%s: \"%s\" (%s in the model) is missing", where,
                              p->name, want);
        }
        if (!shape_fits(p, nd, shape)) {
            describe_shape(got, sizeof got, nd, shape);
            return vkt__error(VKT_SHAPE_MISMATCH, "%s: \"%s\" is %s but the model's is %s", where,
                              p->name, got, want);
        }
    }
    for (uint32_t i = 0; i < vkt_dict_count(sd); i++) {
        const char *key = vkt_dict_key(sd, i);
        if (!vkt_model_find(m, key)) {
            return vkt__error(VKT_NOT_FOUND, "%s: \"%s\" is not a tensor of the model (unexpected "
                                             "key; the model has %u tensors, the first \"%s\")",
                              where, key, m->n, m->order[0]->name);
        }
    }
    for (uint32_t i = 0; s == VKT_OK && i < m->n; i++) {
        const vkt_param *p = m->order[i];
        s = upload(p, vkt_dict_get_floats(sd, p->name, NULL, NULL));
    }
    return s;
}

vkt_status vkt_model_load_state_dict(vkt_model *m, const vkt_dict *sd)
{
    if (!m || !sd) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_load_state_dict: model and dict are "
                                                "required");
    }
    return load(m, sd, "vkt_model_load_state_dict");
}

vkt_status vkt_model_save_safetensors(const vkt_model *m, const char *path)
{
    if (!m || !path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_save_safetensors: model and path are "
                                                "required");
    }
    vkt_dict *d = vkt_dict_create();
    vkt_status s = d ? vkt_model_state_dict(m, d) : vkt_last_status();
    if (s == VKT_OK) {
        s = vkt_checkpoint_save(d, path);
    }
    vkt_dict_destroy(d);
    return s;
}

vkt_status vkt_model_load_safetensors(vkt_model *m, const char *path)
{
    if (!m || !path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_load_safetensors: model and path are "
                                                "required");
    }
    vkt_dict *d = NULL;
    vkt_status s = vkt_checkpoint_load(path, &d);
    if (s == VKT_OK) {
        const vkt_dict *sd = vkt_dict_get_child(d, "state_dict");
        s = load(m, sd ? sd : d, path);
    }
    vkt_dict_destroy(d);
    return s;
}
