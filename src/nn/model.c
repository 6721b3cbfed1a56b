/*
 * model.c — a model's registry of named parameters and buffers, its blocks, and accessors.
 *
 * Registration (vkt_model_add_param / _add_buffer, layers' inits) only records names, shapes and
 * initialisers. vkt_model_build (called by the first use that needs device memory if the caller
 * did not) lays every tensor out in state-dict order, each padded to a multiple of 64 elements,
 * in four blocks: parameters, gradients (same layout), f32 buffers, i32 buffers. Every parameter
 * view has its gradient set to the matching view of the gradient block (vkt_tensor_set_grad), so
 * vkt_backward writes straight into the block, zero-grad is one fill and an optimizer step one
 * dispatch over the parameter block.
 *
 * State-dict order is torch's: each tensor gets a sort key with one element per name part: a
 * module part sorts by when that module was first registered (after every tensor of the module
 * itself), the last part by (buffer?, registration index). Sorting by key gives, per module, its
 * parameters, its buffers, then its sub-modules in first-registration order.
 * Test: tests/test_params.c, tests/test_nn.c.
 */
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

#define KEY_MODULE (1ull << 62)

static void param_free(vkt_param *p)
{
    if (p) {
        vkt_tensor_free(p->t);
        vkt_tensor_free(p->g);
        free(p->name);
        free(p->key);
        free(p);
    }
}

static void free_blocks(vkt_model *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        vkt_tensor_free(m->reg[i]->t);
        vkt_tensor_free(m->reg[i]->g);
        m->reg[i]->t = m->reg[i]->g = NULL;
    }
    vkt_tensor_free(m->params);
    vkt_tensor_free(m->grads);
    vkt_tensor_free(m->buf_f32);
    vkt_tensor_free(m->buf_i32);
    m->params = m->grads = m->buf_f32 = m->buf_i32 = NULL;
}

void vkt_model_destroy(vkt_model *m)
{
    if (!m) {
        return;
    }
    free_blocks(m);
    for (uint32_t i = 0; i < m->n; i++) {
        param_free(m->reg[i]);
    }
    free(m->reg);
    free(m->order);
    vkt__seq_destroy(m->seq);
    free(m);
}

vkt_status vkt_model_create(vkt_device *dev, const vkt_model_desc *desc, vkt_model **out)
{
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: out is required");
    }
    *out = NULL;
    if (!dev || !desc) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: device and desc are required");
    }
    vkt_model *m = vkt__calloc(1, sizeof *m);
    if (!m) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    m->dev = dev;
    m->seed = desc->seed;
    m->training = true;
    vkt_status s = VKT_OK;
    if (desc->layers[0].type != VKT_LAYER_NONE) {
        s = vkt__seq_create(m, desc);
        if (s == VKT_OK) {
            s = vkt_model_build(m);
        }
    }
    if (s != VKT_OK) {
        vkt_model_destroy(m);
        return s;
    }
    *out = m;
    return VKT_OK;
}

/* ---- registration ---------------------------------------------------------------------------- */

static int key_cmp(const vkt_param *a, const vkt_param *b)
{
    for (int i = 0; i < a->key_len && i < b->key_len; i++) {
        if (a->key[i] != b->key[i]) {
            return a->key[i] < b->key[i] ? -1 : 1;
        }
    }
    return a->key_len - b->key_len; /* not reached: a name is never a module of another */
}

/* Checks the name (non-empty dotted parts, no whitespace) and that it neither repeats a name nor
 * makes a tensor a module or a module a tensor; fills p->key. */
static vkt_status make_key(vkt_model *m, const char *fn, vkt_param *p)
{
    const char *name = p->name;
    size_t len = strlen(name);
    int parts = 1;
    bool bad = len == 0 || name[0] == '.' || name[len - 1] == '.';
    for (size_t i = 0; i < len && !bad; i++) {
        unsigned char c = (unsigned char)name[i];
        bad = c <= ' ' || c == 0x7F || (c == '.' && name[i + 1] == '.');
        parts += c == '.';
    }
    if (bad) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" is not a valid name (dotted parts, "
                                                "none empty, no spaces: \"layer1.0.weight\")",
                          fn, name);
    }
    for (uint32_t i = 0; i < m->n; i++) {
        const char *e = m->reg[i]->name;
        size_t el = strlen(e);
        if (strcmp(e, name) == 0) {
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" is already registered", fn, name);
        }
        if ((el < len && strncmp(e, name, el) == 0 && name[el] == '.') ||
            (len < el && strncmp(e, name, len) == 0 && e[len] == '.')) {
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" and \"%s\" clash: one would be "
                                                    "both a tensor and a module",
                              fn, name, e);
        }
    }
    p->key = vkt__calloc((size_t)parts, sizeof *p->key);
    if (!p->key) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    p->key_len = parts;
    size_t at = 0;
    for (int k = 0; k + 1 < parts; k++) {
        at += strcspn(name + at, ".");
        /* the module name[0, at): the first registered tensor under it, else this one */
        uint64_t first = m->n;
        for (uint32_t i = 0; i < m->n; i++) {
            const char *e = m->reg[i]->name;
            if (strncmp(e, name, at) == 0 && e[at] == '.') {
                first = i;
                break;
            }
        }
        p->key[k] = KEY_MODULE | first;
        at++;
    }
    p->key[parts - 1] = ((uint64_t)p->buffer << 32) | p->reg;
    return VKT_OK;
}

static vkt_param *add(vkt_model *m, const char *fn, const char *name, bool buffer, vkt_dtype dtype,
                      int ndim, const int64_t *shape, const vkt_init *init)
{
    if (!m || !name) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: model and name are required", fn);
        return NULL;
    }
    if (m->built) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\": the model is already built (by "
                                         "vkt_model_build or a first use); register every "
                                         "parameter and buffer before",
                   fn, name);
        return NULL;
    }
    if (ndim < (buffer ? 0 : 1) || ndim > VKT_MAX_DIMS || (ndim > 0 && !shape)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" has %d dimensions; %d to %d allowed", fn, name,
                   ndim, buffer ? 0 : 1, VKT_MAX_DIMS);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0 || shape[i] > INT32_MAX) {
            vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\": dimension %d is %lld; every dimension "
                                             "must be 1 to 2^31-1",
                       fn, name, i, (long long)shape[i]);
            return NULL;
        }
        numel *= shape[i];
        if (numel > INT32_MAX) {
            vkt__error(VKT_TOO_LARGE, "%s: \"%s\" has more than 2^31-1 elements", fn, name);
            return NULL;
        }
    }
    if (dtype != VKT_F32 && dtype != VKT_I32) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\": dtype %d is neither f32 nor i32", fn, name,
                   (int)dtype);
        return NULL;
    }
    vkt_init zeros = {0};
    if (vkt__init_check(init ? init : &zeros, ndim, fn, name) != VKT_OK) {
        return NULL;
    }
    if (!vkt__grow((void **)&m->reg, &m->cap, m->n + 1, sizeof *m->reg) ||
        !vkt__grow((void **)&m->order, &m->order_cap, m->n + 1, sizeof *m->order)) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    vkt_param *p = vkt__calloc(1, sizeof *p);
    char *copy = vkt__strdup(name);
    if (!p || !copy) {
        free(p);
        free(copy);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    *p = (vkt_param){.model = m, .name = copy, .buffer = buffer, .dtype = dtype, .ndim = ndim,
                     .numel = numel, .init = init ? *init : zeros, .reg = m->n};
    if (ndim > 0) { /* a scalar buffer (ndim 0) may come with shape NULL */
        memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
    }
    if (make_key(m, fn, p) != VKT_OK) {
        param_free(p);
        return NULL;
    }
    uint32_t lo = 0, hi = m->n; /* first position whose key sorts after p's */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (key_cmp(m->order[mid], p) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    memmove(m->order + lo + 1, m->order + lo, (m->n - lo) * sizeof *m->order);
    m->order[lo] = p;
    m->reg[m->n++] = p;
    if (!buffer) {
        m->n_params += (uint64_t)numel;
    }
    return p;
}

vkt_param *vkt_model_add_param(vkt_model *m, const char *name, int ndim, const int64_t *shape,
                               const vkt_init *init)
{
    return add(m, "vkt_model_add_param", name, false, VKT_F32, ndim, shape, init);
}

vkt_param *vkt_model_add_buffer(vkt_model *m, const char *name, vkt_dtype dtype, int ndim,
                                const int64_t *shape, const vkt_init *init)
{
    return add(m, "vkt_model_add_buffer", name, true, VKT__DEF(dtype, VKT_F32), ndim, shape,
               init);
}

/* ---- build ----------------------------------------------------------------------------------- */

/* The block a tensor lives in: 0 parameters, 1 f32 buffers, 2 i32 buffers. */
static int block_of(const vkt_param *p) { return !p->buffer ? 0 : p->dtype == VKT_F32 ? 1 : 2; }

static vkt_tensor *new_block(vkt_device *dev, vkt_dtype dtype, int64_t n)
{
    vkt_tensor *t = n > 0 ? vkt_tensor_new_1d(dev, dtype, n) : NULL;
    return t ? vkt_tensor_keep(t) : NULL;
}

/* Draws every tensor's initial values in registration order into the host copies of the blocks
 * (i32 buffers: the values rounded). */
static vkt_status init_host(vkt_model *m, float *host[2], int32_t *host_i32)
{
    uint64_t seed = m->seed;
    for (uint32_t i = 0; i < m->n; i++) {
        vkt_param *p = m->reg[i];
        int b = block_of(p);
        float *dst = b < 2 ? host[b] + p->offset : vkt__malloc((size_t)p->numel * sizeof *dst);
        if (!dst) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        vkt_status s = vkt_init_fill(&p->init, p->ndim, p->shape, &seed, dst);
        if (b == 2) {
            for (int64_t j = 0; s == VKT_OK && j < p->numel; j++) {
                host_i32[p->offset + j] = (int32_t)lrintf(dst[j]);
            }
            free(dst);
        }
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

static vkt_status make_views(vkt_model *m)
{
    vkt_tensor *blocks[3] = {m->params, m->buf_f32, m->buf_i32};
    for (uint32_t i = 0; i < m->n; i++) {
        vkt_param *p = m->reg[i];
        int64_t one = 1;
        int nd = p->ndim ? p->ndim : 1;
        const int64_t *shape = p->ndim ? p->shape : &one;
        p->t = vkt_tensor_keep(vkt_tensor_view(blocks[block_of(p)], p->offset, nd, shape));
        if (!p->t) {
            return vkt_last_status();
        }
        if (p->buffer) {
            continue;
        }
        p->g = vkt_tensor_keep(vkt_tensor_view(m->grads, p->offset, nd, shape));
        if (!p->g) {
            return vkt_last_status();
        }
        vkt_tensor_set_requires_grad(p->t, true);
        vkt_status s = vkt_tensor_set_grad(p->t, p->g);
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

vkt_status vkt_model_build(vkt_model *m)
{
    if (!m) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_build: model is NULL");
    }
    if (m->built) {
        return VKT_OK;
    }
    if (m->n_params == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_build: the model has no parameters "
                                                "(register some with vkt_model_add_param or a "
                                                "layer's init first)");
    }
    int64_t total[3] = {0, 0, 0};
    for (uint32_t i = 0; i < m->n; i++) {
        vkt_param *p = m->order[i];
        int b = block_of(p);
        p->offset = total[b];
        total[b] += VKT__ALIGN_UP(p->numel, VKT__PARAM_ALIGN);
    }
    vkt_status s = VKT_OK;
    float *host[2] = {NULL, NULL};
    int32_t *host_i32 = NULL;
    m->params = new_block(m->dev, VKT_F32, total[0]);
    m->grads = m->params ? new_block(m->dev, VKT_F32, total[0]) : NULL;
    if (!m->grads || (total[1] && !(m->buf_f32 = new_block(m->dev, VKT_F32, total[1]))) ||
        (total[2] && !(m->buf_i32 = new_block(m->dev, VKT_I32, total[2])))) {
        s = vkt_last_status();
        goto fail_blocks;
    }
    host[0] = vkt__calloc((size_t)total[0], sizeof(float));
    host[1] = vkt__calloc((size_t)VKT__MAX(total[1], 1), sizeof(float));
    host_i32 = vkt__calloc((size_t)VKT__MAX(total[2], 1), sizeof(int32_t));
    if (!host[0] || !host[1] || !host_i32) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail_host;
    }
    s = init_host(m, host, host_i32);
    if (s == VKT_OK) {
        s = vkt_tensor_upload(m->params, host[0], (size_t)total[0] * sizeof(float));
    }
    if (s == VKT_OK && m->buf_f32) {
        s = vkt_tensor_upload(m->buf_f32, host[1], (size_t)total[1] * sizeof(float));
    }
    if (s == VKT_OK && m->buf_i32) {
        s = vkt_tensor_upload(m->buf_i32, host_i32, (size_t)total[2] * sizeof(int32_t));
    }
    if (s == VKT_OK) {
        s = vkt_fill(m->grads, 0.0f);
    }
    if (s == VKT_OK) {
        s = make_views(m);
    }
    if (s != VKT_OK) {
        goto fail_host;
    }
    free(host[0]);
    free(host[1]);
    free(host_i32);
    m->built = true;
    return VKT_OK;

fail_host:
    free(host[0]);
    free(host[1]);
    free(host_i32);
fail_blocks:
    free_blocks(m);
    return s;
}

/* Accessors that hand out device tensors build on first use; the blocks are the model's lazily
 * made state, so a const model may build itself. */
static bool ensure_built(const vkt_model *m) { return vkt_model_build((vkt_model *)m) == VKT_OK; }

/* ---- accessors ------------------------------------------------------------------------------- */

bool vkt_model_is_built(const vkt_model *m) { return m && m->built; }

vkt_param *vkt_model_find(const vkt_model *m, const char *name)
{
    for (uint32_t i = 0; m && name && i < m->n; i++) {
        if (strcmp(m->reg[i]->name, name) == 0) {
            return m->reg[i];
        }
    }
    return NULL;
}

vkt_tensor *vkt_param_tensor(vkt_param *p)
{
    if (!p) {
        return NULL;
    }
    return ensure_built(p->model) ? p->t : NULL;
}
const char *vkt_param_name(const vkt_param *p) { return p ? p->name : NULL; }
bool vkt_param_is_buffer(const vkt_param *p) { return p && p->buffer; }
vkt_model *vkt_param_model(const vkt_param *p) { return p ? p->model : NULL; }

vkt_status vkt_param_set_role(vkt_param *p, vkt_param_role role)
{
    if (!p) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_param_set_role: p is NULL");
    }
    if (p->buffer) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_param_set_role: %s is a buffer; only parameters have roles", p->name);
    }
    if ((unsigned)role >= VKT_PARAM_ROLE_COUNT) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_param_set_role: %s: unknown role %d", p->name,
                          (int)role);
    }
    p->role = role;
    return VKT_OK;
}

vkt_param_role vkt_param_role_of(const vkt_param *p) { return p ? p->role : VKT_PARAM_WEIGHT; }

void vkt_model_train(vkt_model *m, bool training) { m->training = training; }
bool vkt_model_is_training(const vkt_model *m) { return m->training; }
uint64_t vkt_model_seed(const vkt_model *m) { return m ? m->seed : 0; }

vkt_status vkt_model_zero_grad(vkt_model *m)
{
    vkt_status s = vkt_model_build(m);
    return s == VKT_OK ? vkt_fill(m->grads, 0.0f) : s;
}

vkt_device *vkt_model_device(const vkt_model *m) { return m->dev; }
uint32_t vkt_model_num_tensors(const vkt_model *m) { return m->n; }
vkt_param *vkt_model_tensor_param(const vkt_model *m, uint32_t i)
{
    return i < m->n ? m->order[i] : NULL;
}
vkt_tensor *vkt_model_tensor(const vkt_model *m, uint32_t i)
{
    return i < m->n && ensure_built(m) ? m->order[i]->t : NULL;
}
const char *vkt_model_tensor_name(const vkt_model *m, uint32_t i)
{
    return i < m->n ? m->order[i]->name : NULL;
}
int vkt_model_tensor_shape(const vkt_model *m, uint32_t i, int64_t *shape)
{
    if (i >= m->n) {
        return -1;
    }
    const vkt_param *p = m->order[i];
    if (shape) {
        memcpy(shape, p->shape, (size_t)p->ndim * sizeof *shape);
    }
    return p->ndim;
}
uint64_t vkt_model_num_params(const vkt_model *m) { return m->n_params; }
vkt_tensor *vkt_model_param_block(const vkt_model *m)
{
    return ensure_built(m) ? m->params : NULL;
}
vkt_tensor *vkt_model_grad_block(const vkt_model *m) { return ensure_built(m) ? m->grads : NULL; }
uint32_t vkt_model_in_features(const vkt_model *m) { return vkt__seq_in_features(m->seq); }
uint32_t vkt_model_out_features(const vkt_model *m) { return vkt__seq_out_features(m->seq); }
