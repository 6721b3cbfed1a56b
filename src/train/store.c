/*
 * store.c — epoch stores: named step outputs kept on the device for the epoch (vkt_store).
 *
 * CONCAT stores keep a device copy of each batch (a transfer command, no host traffic: a copy
 * rather than a reference so that later writes to the step's tensor cannot change what was
 * stored, as Lightning detaches and clones outputs). The concatenation is made on request, once
 * per epoch. Reduction stores fold each batch into a constant-size accumulator with
 * shaders/store_fold.comp. Every store counts against the trainer's budget and in the device's
 * memory_stores counter.
 */
#include <math.h>
#include <string.h>

#include "shaders/store_fold_ops.h"
#include "tensor/tensor_impl.h"
#include "train/store_fold.h"
#include "train/store_impl.h"
#include "train/trainer_impl.h"

/* Mirrors `PC` in shaders/store_fold.comp. */
typedef struct vkt__pc_store_fold {
    uint32_t rows, cols;
    float n_a;
    uint32_t init;
} vkt__pc_store_fold;
_Static_assert(sizeof(vkt__pc_store_fold) <= VKT__PUSH_MAX, "push constants");

#define FOLD_WG 64u

const char *vkt__store_kind_name(vkt_store_kind k)
{
    static const char *names[] = {"concat", "sum", "mean", "min", "max", "count", "mean_var"};
    return (unsigned)k < VKT__ARRAY_LEN(names) ? names[k] : "?";
}

vkt_status vkt__store_fold(vkt_tensor *acc, vkt_tensor *m2, const vkt_tensor *x, int op,
                           int64_t rows_before)
{
    int64_t rows = x->ndim > 1 ? x->shape[0] : (x->numel == 1 ? 1 : x->shape[0]);
    if (x->numel == 1) {
        rows = 1;
    }
    uint32_t cols = (uint32_t)(x->numel / rows);
    vkt__pc_store_fold pc = {(uint32_t)rows, cols, (float)rows_before, rows_before == 0};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_STORE_FOLD,
        .spec = {FOLD_WG, (uint32_t)op},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(acc, VKT__RW),
                     vkt__bind(m2 ? m2 : acc, VKT__RW)},
    };
    vkt__elementwise_groups(cols, FOLD_WG, d.groups);
    return vkt__dispatch(x->dev, &d);
}

void vkt__store_drop_caches(vkt__store *s)
{
    vkt_tensor_free(s->concat);
    vkt_tensor_free(s->result);
    vkt_tensor_free(s->variance);
    s->concat = s->result = s->variance = NULL;
}

static void store_clear(vkt_trainer *t, vkt__store *s)
{
    vkt__store_drop_caches(s);
    for (uint32_t i = 0; i < s->n_batches; i++) {
        vkt_tensor_free(s->batches[i]);
    }
    s->n_batches = 0;
    vkt_tensor_free(s->acc);
    vkt_tensor_free(s->m2);
    s->acc = s->m2 = NULL;
    s->rows = 0;
    vkt__device_count_stores(t->dev, -(int64_t)s->bytes);
    t->store_bytes -= s->bytes;
    s->bytes = 0;
}

void vkt__stores_reset_stage(vkt_trainer *t, vkt_stage stage)
{
    for (uint32_t i = 0; i < t->n_stores; i++) {
        if (t->stores[i]->stage == stage) {
            store_clear(t, t->stores[i]);
        }
    }
}

void vkt__stores_free(vkt_trainer *t)
{
    for (uint32_t i = 0; i < t->n_stores; i++) {
        store_clear(t, t->stores[i]);
        free(t->stores[i]->batches);
        free(t->stores[i]);
    }
    free(t->stores);
    t->stores = NULL;
    t->n_stores = 0;
}

static vkt__store *find(vkt_trainer *t, vkt_stage stage, const char *name)
{
    for (uint32_t i = 0; i < t->n_stores; i++) {
        if (t->stores[i]->stage == stage && strcmp(t->stores[i]->name, name) == 0) {
            return t->stores[i];
        }
    }
    return NULL;
}

/* The stage whose epoch is running: the training loop is VKT_STAGE_FIT. */
static vkt_stage running_stage(const vkt_trainer *t)
{
    if (t->eval_stage != VKT_STAGE_NONE) {
        return t->eval_stage; /* an eval loop is running (also inside fit) */
    }
    return t->stage == VKT_STAGE_FIT ? VKT_STAGE_FIT : t->stage;
}

static const char *fmt_size(char *buf, size_t n, uint64_t bytes)
{
    if (bytes >= (1u << 20)) {
        snprintf(buf, n, "%.2f MiB", (double)bytes / 1048576.0);
    } else if (bytes >= 1024) {
        snprintf(buf, n, "%.2f KiB", (double)bytes / 1024.0);
    } else {
        snprintf(buf, n, "%llu B", (unsigned long long)bytes);
    }
    return buf;
}

vkt_status vkt__store_charge(vkt_trainer *t, vkt__store *s, uint64_t bytes)
{
    uint64_t budget = t->d.store_budget;
    if (t->store_bytes + bytes > budget) {
        char a[32], b[32], c[32];
        return vkt__error(VKT_OUT_OF_DEVICE_MEMORY,
                          "epoch store \"%s\" (%s, %s) would grow to %s after %lld rows: all "
                          "stores would hold %s, over the %s budget "
                          "(vkt_trainer_desc.store_budget; a reduction kind keeps constant memory)",
                          s->name, vkt_stage_name(s->stage), vkt__store_kind_name(s->kind),
                          fmt_size(a, sizeof a, s->bytes + bytes), (long long)s->rows,
                          fmt_size(b, sizeof b, t->store_bytes + bytes),
                          fmt_size(c, sizeof c, budget));
    }
    s->bytes += bytes;
    t->store_bytes += bytes;
    vkt__device_count_stores(t->dev, (int64_t)bytes);
    return VKT_OK;
}

vkt_status vkt__store_accumulator(vkt_trainer *t, vkt__store *s)
{
    if (s->acc) {
        return VKT_OK;
    }
    bool var = s->kind == VKT_STORE_MEAN_VAR;
    vkt_status st = vkt__store_charge(
        t, s, (var ? 2 : 1) * VKT__ALIGN_UP((uint64_t)s->row_numel * 4, VKT__ALLOC_ALIGN));
    if (st != VKT_OK) {
        return st;
    }
    s->acc = vkt_tensor_keep(vkt_tensor_new_1d(t->dev, VKT_F32, s->row_numel));
    if (var) {
        s->m2 = vkt_tensor_keep(vkt_tensor_new_1d(t->dev, VKT_F32, s->row_numel));
    }
    return !s->acc || (var && !s->m2) ? vkt_last_status() : VKT_OK;
}

vkt_status vkt_store(vkt_trainer *t, const char *name, const vkt_tensor *value, vkt_store_kind kind)
{
    if (!t || !name || !name[0] || strlen(name) >= 64) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_store: a name of 1 to 63 characters is "
                                                "needed");
    }
    if (!value) {
        /* as vkt_log: a NULL from a failed op keeps that op's error (include/vkt/core.h) */
        if (vkt_last_status() != VKT_OK) {
            return vkt__error_context("vkt_store(\"%s\"): value is NULL after an error", name);
        }
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_store(\"%s\"): value is NULL", name);
    }
    if ((unsigned)kind > VKT_STORE_MEAN_VAR) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_store(\"%s\"): unknown kind %d", name,
                          (int)kind);
    }
    if (t->stage == VKT_STAGE_NONE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_store(\"%s\"): no fit, validate, test or "
                                                "predict is running",
                          name);
    }
    if (kind != VKT_STORE_CONCAT && kind != VKT_STORE_COUNT && value->dtype != VKT_F32) {
        return vkt__error(VKT_DTYPE_MISMATCH, "vkt_store(\"%s\"): %s reductions take f32 values",
                          name, vkt__store_kind_name(kind));
    }
    vkt_stage stage = running_stage(t);
    vkt__store *s = find(t, stage, name);
    int64_t rows = value->numel == 1 ? 1 : value->shape[0];
    int64_t row_numel = value->numel / rows;
    if (!s) {
        if (!vkt__grow((void **)&t->stores, &t->stores_cap, t->n_stores + 1, sizeof *t->stores) ||
            !(s = vkt__calloc(1, sizeof *s))) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        snprintf(s->name, sizeof s->name, "%s", name);
        s->stage = stage;
        s->kind = kind;
        t->stores[t->n_stores++] = s;
    }
    if (s->rows == 0 && s->n_batches == 0 && !s->acc) {
        /* first batch of the epoch fixes the row shape */
        s->kind = kind;
        s->dtype = value->dtype;
        s->ndim = value->ndim;
        memcpy(s->shape, value->shape, sizeof s->shape);
        s->row_numel = row_numel;
    }
    if (s->kind != kind) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_store(\"%s\"): the store is %s, not %s", name,
                          vkt__store_kind_name(s->kind), vkt__store_kind_name(kind));
    }
    bool same = value->dtype == s->dtype && row_numel == s->row_numel && value->ndim == s->ndim;
    for (int d = 1; same && d < value->ndim; d++) {
        same = value->shape[d] == s->shape[d];
    }
    if (!same) {
        char a[96];
        return vkt__error(VKT_SHAPE_MISMATCH, "vkt_store(\"%s\"): a batch of %s does not fit the "
                                              "store's rows (set by its first batch)",
                          name, vkt_tensor_describe(value, a, sizeof a));
    }
    vkt__store_drop_caches(s);
    vkt_status st = VKT_OK;
    if (kind == VKT_STORE_CONCAT) {
        uint64_t bytes = VKT__ALIGN_UP(vkt_tensor_bytes(value), VKT__ALLOC_ALIGN);
        st = vkt__store_charge(t, s, bytes);
        if (st != VKT_OK) {
            return st;
        }
        if (!vkt__grow((void **)&s->batches, &s->cap, s->n_batches + 1, sizeof *s->batches)) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        vkt_tensor *copy = vkt_tensor_keep(vkt_tensor_new(t->dev, value->dtype, value->ndim,
                                                          value->shape));
        if (!copy) {
            return vkt_last_status();
        }
        st = vkt_copy(copy, value);
        if (st != VKT_OK) {
            vkt_tensor_free(copy);
            return st;
        }
        s->batches[s->n_batches++] = copy;
    } else if (kind != VKT_STORE_COUNT) {
        st = vkt__store_accumulator(t, s);
        if (st != VKT_OK) {
            return st;
        }
        int op = kind == VKT_STORE_MAX ? FOLD_MAX : kind == VKT_STORE_MIN ? FOLD_MIN
                 : kind == VKT_STORE_MEAN_VAR ? FOLD_MEAN_VAR : FOLD_SUM;
        st = vkt__store_fold(s->acc, s->m2, value, op, s->rows);
    }
    if (st == VKT_OK) {
        s->rows += rows;
    }
    return st;
}

static vkt__store *get(vkt_trainer *t, vkt_stage stage, const char *name, const char *fn)
{
    vkt__store *s = t && name ? find(t, stage, name) : NULL;
    if (!s) {
        vkt__error(VKT_NOT_FOUND, "%s: no epoch store \"%s\" in stage %s", fn, name ? name : "",
                   vkt_stage_name(stage));
    }
    return s;
}

int64_t vkt_store_rows(vkt_trainer *t, vkt_stage stage, const char *name)
{
    vkt__store *s = t && name ? find(t, stage, name) : NULL;
    return s ? s->rows : -1;
}

vkt_tensor *vkt_store_concat(vkt_trainer *t, vkt_stage stage, const char *name)
{
    vkt__store *s = get(t, stage, name, "vkt_store_concat");
    if (!s) {
        return NULL;
    }
    if (s->kind != VKT_STORE_CONCAT) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_store_concat: store \"%s\" is a %s reduction", name,
                   vkt__store_kind_name(s->kind));
        return NULL;
    }
    if (s->concat) {
        return s->concat; /* also the ranks' gathered rows (store_sync.c) */
    }
    if (s->n_batches == 0) {
        vkt__error(VKT_NOT_FOUND, "vkt_store_concat: store \"%s\" has no rows this epoch", name);
        return NULL;
    }
    s->concat = vkt_tensor_keep(vkt_concat((const vkt_tensor *const *)s->batches, s->n_batches));
    return s->concat;
}

vkt_tensor *const *vkt_store_batches(vkt_trainer *t, vkt_stage stage, const char *name, uint32_t *n)
{
    vkt__store *s = get(t, stage, name, "vkt_store_batches");
    *n = s ? s->n_batches : 0;
    return s ? s->batches : NULL;
}

vkt_tensor *vkt_store_result(vkt_trainer *t, vkt_stage stage, const char *name)
{
    vkt__store *s = get(t, stage, name, "vkt_store_result");
    if (!s) {
        return NULL;
    }
    if (s->kind == VKT_STORE_CONCAT) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_store_result: store \"%s\" concatenates; use "
                                         "vkt_store_concat",
                   name);
        return NULL;
    }
    if (s->rows == 0) {
        vkt__error(VKT_NOT_FOUND, "vkt_store_result: store \"%s\" has no rows this epoch", name);
        return NULL;
    }
    if (s->result) {
        return s->result;
    }
    switch (s->kind) {
    case VKT_STORE_COUNT:
        s->result = vkt_tensor_keep(vkt_tensor_new_1d(t->dev, VKT_F32, 1));
        if (s->result && vkt_fill(s->result, (float)s->rows) != VKT_OK) {
            vkt_tensor_free(s->result);
            s->result = NULL;
        }
        break;
    case VKT_STORE_MEAN:
        s->result = vkt_tensor_keep(vkt_scale(s->acc, 1.0f / (float)s->rows));
        break;
    default: /* SUM, MIN, MAX, MEAN_VAR's mean */
        s->result = vkt_tensor_keep(vkt_scale(s->acc, 1.0f));
        break;
    }
    return s->result;
}

vkt_tensor *vkt_store_variance(vkt_trainer *t, vkt_stage stage, const char *name, bool unbiased)
{
    vkt__store *s = get(t, stage, name, "vkt_store_variance");
    if (!s) {
        return NULL;
    }
    if (s->kind != VKT_STORE_MEAN_VAR || s->rows == 0) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_store_variance: store \"%s\" is not a mean_var store "
                                         "with rows",
                   name);
        return NULL;
    }
    if (s->variance && s->var_unbiased == unbiased) {
        return s->variance;
    }
    vkt_tensor_free(s->variance);
    float div = (float)(unbiased ? s->rows - 1 : s->rows);
    s->variance = vkt_tensor_keep(vkt_scale(s->m2, div > 0 ? 1.0f / div : NAN));
    s->var_unbiased = unbiased;
    return s->variance;
}
