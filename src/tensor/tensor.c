/*
 * tensor.c — tensor creation, views, upload/download, fill/copy, scopes and reference counts.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "tensor/tensor_impl.h"

/* Per-device tensor-layer state: the tape and the scope stack (see graph.c for the tape). */
typedef struct vkt__tensor_state {
    vkt__node **tape;
    uint32_t tape_count, tape_cap;
    vkt_tensor **scoped;        /* tensors made inside scopes (each holds a reference) */
    uint32_t scoped_count, scoped_cap;
    uint32_t *scope_marks;      /* per open scope: scoped_count, tape_count at begin */
    uint32_t *tape_marks;
    uint32_t depth, marks_cap, tape_marks_cap;
    /* scopes that could not be opened, and those begun inside one: their ends close nothing, so
     * begin / end stay paired and an enclosing scope is never closed early */
    uint32_t failed_depth;
    vkt__grad_ready_fn grad_ready; /* vkt__set_grad_ready */
    void *grad_ready_ctx;
} vkt__tensor_state;


static void state_destroy(vkt__tensor_state *st)
{
    free(st->tape);
    free(st->scoped);
    free(st->scope_marks);
    free(st->tape_marks);
    free(st);
}

static void state_teardown(struct vkt__tensor_state *st_) { state_destroy(st_); }

static vkt__tensor_state *tensor_state_get(vkt_device *dev)
{
    vkt__tensor_state *st = vkt__device_tensor_state(dev);
    if (!st) {
        st = vkt__calloc(1, sizeof *st);
        if (st) {
            vkt__device_set_tensor_state(dev, st, state_teardown);
        }
    }
    return st;
}

vkt__node ***vkt__tape(vkt_device *dev, uint32_t **count, uint32_t **cap)
{
    vkt__tensor_state *st = tensor_state_get(dev);
    if (!st) {
        return NULL;
    }
    *count = &st->tape_count;
    *cap = &st->tape_cap;
    return &st->tape;
}

vkt_status vkt__set_grad_ready(vkt_device *dev, vkt__grad_ready_fn fn, void *ctx)
{
    vkt__tensor_state *st = fn ? tensor_state_get(dev) : vkt__device_tensor_state(dev);
    if (!st && !fn) {
        return VKT_OK;
    }
    if (!st) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    st->grad_ready = fn;
    st->grad_ready_ctx = fn ? ctx : NULL;
    return VKT_OK;
}

vkt__grad_ready_fn vkt__grad_ready(vkt_device *dev, void **ctx)
{
    vkt__tensor_state *st = vkt__device_tensor_state(dev);
    *ctx = st ? st->grad_ready_ctx : NULL;
    return st ? st->grad_ready : NULL;
}

size_t vkt__dtype_size(vkt_dtype t)
{
    (void)t;
    return 4; /* f32 and i32 */
}

const char *vkt__dtype_name(vkt_dtype t)
{
    return t == VKT_I32 ? "i32" : "f32";
}

const char *vkt_tensor_describe(const vkt_tensor *t, char *buf, size_t size)
{
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && at < size; i++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%" PRId64, i ? ", " : "", t->shape[i]);
    }
    if (at < size) {
        snprintf(buf + at, size - at, "] %s", vkt__dtype_name(t->dtype));
    }
    return buf;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

vkt_tensor *vkt__ref(vkt_tensor *t)
{
    if (t) {
        t->refs++;
    }
    return t;
}

void vkt__unref(vkt_tensor *t)
{
    if (!t) {
        return;
    }
    VKT__ASSERT(t->refs > 0);
    if (--t->refs > 0) {
        return;
    }
    if (t->grad) {
        vkt__unref(t->grad);
    }
    vkt__alloc_release(t->dev, t->alloc);
    free(t);
}

void vkt_tensor_free(vkt_tensor *t)
{
    if (!t || !t->user_owned) {
        return;
    }
    t->user_owned = false;
    vkt__unref(t);
}

static vkt_tensor *make(vkt_device *dev, vkt_dtype dtype, int ndim, const int64_t *shape,
                        vkt__alloc *share, uint64_t offset)
{
    if (!dev) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_new: device is NULL");
        return NULL;
    }
    dtype = dtype == VKT_DTYPE_DEFAULT ? VKT_F32 : dtype;
    if (dtype != VKT_F32 && dtype != VKT_I32) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_new: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (ndim < 1 || ndim > VKT_MAX_DIMS || !shape) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_new: ndim must be 1..%d, got %d", VKT_MAX_DIMS,
                   ndim);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "vkt_tensor_new: dimension %d is %" PRId64 "; dimensions must be >= 1", i,
                       shape[i]);
            return NULL;
        }
        if (numel > INT64_MAX / 4 / shape[i]) {
            vkt__error(VKT_TOO_LARGE, "vkt_tensor_new: shape overflows");
            return NULL;
        }
        numel *= shape[i];
    }
    if (numel > (int64_t)UINT32_MAX) {
        vkt__error(VKT_TOO_LARGE, "vkt_tensor_new: %" PRId64 " elements; at most 2^32-1 are "
                                  "supported",
                   numel);
        return NULL;
    }
    vkt_tensor *t = vkt__calloc(1, sizeof *t);
    if (!t) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    t->dev = dev;
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    t->refs = 1;
    t->user_owned = true;
    if (share) {
        vkt__alloc_retain(share);
        t->alloc = share;
        t->offset = offset;
    } else {
        vkt_status s =
            vkt__alloc_create(dev, (uint64_t)numel * vkt__dtype_size(dtype), &t->alloc);
        if (s != VKT_OK) {
            char desc[96];
            vkt_tensor tmp = {.ndim = ndim, .dtype = dtype};
            memcpy(tmp.shape, shape, (size_t)ndim * sizeof *shape);
            free(t);
            vkt__error_context("vkt_tensor_new %s", vkt_tensor_describe(&tmp, desc, sizeof desc));
            return NULL;
        }
    }
    /* register in the current scope */
    vkt__tensor_state *st = vkt__device_tensor_state(dev);
    if (st && st->depth > 0) {
        if (!vkt__grow((void **)&st->scoped, &st->scoped_cap, st->scoped_count + 1,
                       sizeof *st->scoped)) {
            vkt__unref(t);
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            return NULL;
        }
        st->scoped[st->scoped_count++] = vkt__ref(t);
    }
    return t;
}

vkt_tensor *vkt__tensor_on_alloc(vkt_device *dev, vkt_dtype dtype, int ndim, const int64_t *shape,
                                 vkt__alloc *alloc)
{
    return make(dev, dtype, ndim, shape, alloc, 0);
}

vkt_tensor *vkt_tensor_new(vkt_device *dev, vkt_dtype dtype, int ndim, const int64_t *shape)
{
    return make(dev, dtype, ndim, shape, NULL, 0);
}

vkt_tensor *vkt_tensor_new_1d(vkt_device *dev, vkt_dtype dtype, int64_t n)
{
    return vkt_tensor_new(dev, dtype, 1, &n);
}

vkt_tensor *vkt_tensor_new_2d(vkt_device *dev, vkt_dtype dtype, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return vkt_tensor_new(dev, dtype, 2, shape);
}

vkt_tensor *vkt__new_output(vkt_device *dev, vkt_dtype dtype, int ndim, const int64_t *shape)
{
    return make(dev, dtype, ndim, shape, NULL, 0);
}

vkt_tensor *vkt_tensor_view(vkt_tensor *base, int64_t offset, int ndim, const int64_t *shape)
{
    if (!base) {
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim && i < VKT_MAX_DIMS; i++) {
        numel *= shape[i] > 0 ? shape[i] : 0;
    }
    if (offset < 0 || offset + numel > base->numel) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "vkt_tensor_view: elements [%" PRId64 ", %" PRId64 ") lie outside the base "
                   "tensor's %" PRId64 " elements",
                   offset, offset + numel, base->numel);
        return NULL;
    }
    uint64_t bytes = base->offset + (uint64_t)offset * vkt__dtype_size(base->dtype);
    /* allocations start at multiples of VKT__ALLOC_ALIGN, a multiple of every device's
     * minStorageBufferOffsetAlignment (at most 256 by the spec) */
    uint32_t align = vkt_device_get_info(base->dev)->min_storage_buffer_offset_alignment;
    if (align > 1 && bytes % align != 0) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "vkt_tensor_view: element offset %" PRId64 " is not a multiple of %u bytes "
                   "(minStorageBufferOffsetAlignment of %s); pad views to 64 elements",
                   offset, align, vkt_device_get_info(base->dev)->name);
        return NULL;
    }
    return make(base->dev, base->dtype, ndim, shape, base->alloc, bytes);
}

vkt__binding vkt__bind(const vkt_tensor *t, uint32_t access)
{
    return (vkt__binding){
        .alloc = t->alloc,
        .offset = t->offset,
        .size = (uint64_t)t->numel * vkt__dtype_size(t->dtype),
        .access = access,
    };
}

/* ---- data ------------------------------------------------------------------------------------ */

vkt_status vkt_tensor_upload(vkt_tensor *t, const void *src, size_t bytes)
{
    if (!t || !src) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_upload: tensor or source is NULL");
    }
    if (bytes != vkt_tensor_bytes(t)) {
        char d[96];
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt_tensor_upload: %zu bytes given for a %s tensor of %zu bytes", bytes,
                          vkt_tensor_describe(t, d, sizeof d), vkt_tensor_bytes(t));
    }
    return vkt__upload(t->dev, vkt__bind(t, VKT__WRITE), src);
}

vkt_status vkt_tensor_download(const vkt_tensor *t, void *dst, size_t bytes)
{
    if (!t || !dst) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_download: tensor or destination is "
                                                "NULL");
    }
    if (bytes != vkt_tensor_bytes(t)) {
        char d[96];
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt_tensor_download: %zu bytes given for a %s tensor of %zu bytes",
                          bytes, vkt_tensor_describe(t, d, sizeof d), vkt_tensor_bytes(t));
    }
    return vkt__download(t->dev, vkt__bind(t, VKT__READ), dst);
}

vkt_status vkt_fill(vkt_tensor *t, float value)
{
    if (!t) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_fill: tensor is NULL");
    }
    uint32_t word;
    if (t->dtype == VKT_I32) {
        int32_t i = (int32_t)value;
        memcpy(&word, &i, 4);
    } else {
        memcpy(&word, &value, 4);
    }
    return vkt__fill(t->dev, vkt__bind(t, VKT__WRITE), word);
}

vkt_status vkt_copy(vkt_tensor *dst, const vkt_tensor *src)
{
    if (!dst || !src) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_copy: tensor is NULL");
    }
    if (!vkt__check_same_device("vkt_copy", dst, src)) {
        return vkt_last_status();
    }
    if (dst->dtype != src->dtype || dst->numel != src->numel) {
        char a[96], b[96];
        return vkt__error(VKT_SHAPE_MISMATCH, "vkt_copy: dst is %s but src is %s",
                          vkt_tensor_describe(dst, a, sizeof a),
                          vkt_tensor_describe(src, b, sizeof b));
    }
    return vkt__copy(dst->dev, vkt__bind(src, VKT__READ), vkt__bind(dst, VKT__WRITE));
}

/* ---- accessors ------------------------------------------------------------------------------- */

vkt_device *vkt_tensor_device(const vkt_tensor *t) { return t ? t->dev : NULL; }
vkt_dtype vkt_tensor_dtype(const vkt_tensor *t) { return t ? t->dtype : VKT_DTYPE_DEFAULT; }
int vkt_tensor_ndim(const vkt_tensor *t) { return t ? t->ndim : 0; }
int64_t vkt_tensor_numel(const vkt_tensor *t) { return t ? t->numel : 0; }

size_t vkt_tensor_bytes(const vkt_tensor *t)
{
    return t ? (size_t)t->numel * vkt__dtype_size(t->dtype) : 0;
}

int64_t vkt_tensor_dim(const vkt_tensor *t, int i)
{
    if (!t) {
        return 0;
    }
    if (i < 0) {
        i += t->ndim;
    }
    return (i >= 0 && i < t->ndim) ? t->shape[i] : 0;
}

/* ---- checks ---------------------------------------------------------------------------------- */

bool vkt__check_dtype(const char *op, const char *what, const vkt_tensor *t, vkt_dtype want)
{
    if (t->dtype == want) {
        return true;
    }
    char d[96];
    vkt__error(VKT_DTYPE_MISMATCH, "%s: %s is %s but must be %s", op, what,
               vkt_tensor_describe(t, d, sizeof d), vkt__dtype_name(want));
    return false;
}

bool vkt__check_ndim(const char *op, const char *what, const vkt_tensor *t, int ndim)
{
    if (t->ndim == ndim) {
        return true;
    }
    char d[96];
    vkt__error(VKT_SHAPE_MISMATCH, "%s: %s is %s but must have %d dimension%s", op, what,
               vkt_tensor_describe(t, d, sizeof d), ndim, ndim == 1 ? "" : "s");
    return false;
}

bool vkt__check_same_shape(const char *op, const vkt_tensor *a, const vkt_tensor *b)
{
    bool same = a->ndim == b->ndim && a->dtype == b->dtype;
    for (int i = 0; same && i < a->ndim; i++) {
        same = a->shape[i] == b->shape[i];
    }
    if (!same) {
        char da[96], db[96];
        vkt__error(a->dtype != b->dtype ? VKT_DTYPE_MISMATCH : VKT_SHAPE_MISMATCH,
                   "%s: a is %s but b is %s; they must match", op,
                   vkt_tensor_describe(a, da, sizeof da), vkt_tensor_describe(b, db, sizeof db));
    }
    return same;
}

bool vkt__check_same_device(const char *op, const vkt_tensor *a, const vkt_tensor *b)
{
    if (a->dev == b->dev) {
        return true;
    }
    vkt__error(VKT_INVALID_ARGUMENT, "%s: tensors live on different devices", op);
    return false;
}

void vkt__elementwise_groups(uint64_t n, uint32_t wg, uint32_t groups[3])
{
    vkt__groups_2d(VKT__DIV_UP(n, (uint64_t)wg), groups);
}

/* ---- scopes ---------------------------------------------------------------------------------- */

vkt_status vkt_scope_begin(vkt_device *dev)
{
    vkt__tensor_state *st = tensor_state_get(dev);
    if (!st) {
        /* no state: no scope is open either, so the matching end finds nothing to close */
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_scope_begin: out of host memory");
    }
    if (st->failed_depth > 0) {
        st->failed_depth++;
        return vkt__error(VKT_OUT_OF_HOST_MEMORY,
                          "vkt_scope_begin: inside a scope that could not be opened");
    }
    if (!vkt__grow((void **)&st->scope_marks, &st->marks_cap, st->depth + 1,
                   sizeof *st->scope_marks) ||
        !vkt__grow((void **)&st->tape_marks, &st->tape_marks_cap, st->depth + 1,
                   sizeof *st->tape_marks)) {
        st->failed_depth = 1;
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_scope_begin: out of host memory");
    }
    st->scope_marks[st->depth] = st->scoped_count;
    st->tape_marks[st->depth] = st->tape_count;
    st->depth++;
    return VKT_OK;
}

void vkt_scope_end(vkt_device *dev)
{
    vkt__tensor_state *st = vkt__device_tensor_state(dev);
    if (st && st->failed_depth > 0) {
        st->failed_depth--;
        return;
    }
    if (!st || st->depth == 0) {
        return;
    }
    st->depth--;
    vkt__tape_truncate(dev, st->tape_marks[st->depth]);
    uint32_t from = st->scope_marks[st->depth];
    for (uint32_t i = st->scoped_count; i-- > from;) {
        vkt_tensor *t = st->scoped[i];
        if (t) {
            vkt_tensor_free(t);
            vkt__unref(t);
        }
    }
    st->scoped_count = from;
}

vkt_tensor *vkt_tensor_keep(vkt_tensor *t)
{
    if (!t) {
        return NULL;
    }
    vkt__tensor_state *st = vkt__device_tensor_state(t->dev);
    if (!st) {
        return t;
    }
    for (uint32_t i = st->scoped_count; i-- > 0;) {
        if (st->scoped[i] == t) {
            st->scoped[i] = NULL;
            vkt__unref(t);
            break;
        }
    }
    return t;
}
