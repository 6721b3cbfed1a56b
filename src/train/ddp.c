/*
 * ddp.c — the trainer's DDP strategy (include/vkt/dist.h, docs/distributed.md): the ranks, the
 * loaders' shards, the start-of-fit agreement and broadcast of rank 0's parameters, the gradient
 * average around each stepping backward (grad_reducer.c: buckets overlapped with the backward),
 * sync_dist values and metric states.
 *
 * Test: tests/test_ddp.c.
 */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "dist/dist_internal.h"
#include "metrics/metrics_internal.h"
#include "tensor/tensor_impl.h"
#include "train/trainer_impl.h"

int vkt_trainer_global_rank(const vkt_trainer *t) { return vkt_dist_rank(t ? t->dist : NULL); }
int vkt_trainer_world_size(const vkt_trainer *t) { return vkt_dist_size(t ? t->dist : NULL); }
bool vkt_trainer_is_global_zero(const vkt_trainer *t) { return vkt_trainer_global_rank(t) == 0; }

vkt_status vkt__ddp_setup(vkt_trainer *t)
{
    vkt_strategy st = t->d.strategy;
    if (st == VKT_STRATEGY_AUTO) {
        st = t->d.dist ? VKT_STRATEGY_DDP : VKT_STRATEGY_SINGLE;
    }
    if (st != VKT_STRATEGY_SINGLE && st != VKT_STRATEGY_DDP) {
        return vkt__error(VKT_INVALID_ARGUMENT, "strategy %d is not a vkt_strategy", (int)st);
    }
    if (st == VKT_STRATEGY_SINGLE && t->d.dist) {
        return vkt__error(VKT_INVALID_ARGUMENT, "strategy is single but a dist is given; use "
                                                "VKT_STRATEGY_DDP (or AUTO) to train on its ranks");
    }
    t->d.strategy = st;
    if (st == VKT_STRATEGY_SINGLE) {
        return VKT_OK;
    }
    t->dist = t->d.dist;
    if (!t->dist) {
        vkt_status s = vkt_dist_create(NULL, &t->dist);
        if (s != VKT_OK) {
            return s;
        }
        t->own_dist = true;
        t->d.dist = t->dist;
    }
    return VKT_OK;
}

void vkt__ddp_teardown(vkt_trainer *t)
{
    if (t->own_dist) {
        vkt_dist_destroy(t->dist);
    }
    t->dist = NULL;
}

vkt_status vkt__ddp_shard(vkt_trainer *t, vkt_loader *l, vkt__shard_saved *saved)
{
    *saved = (vkt__shard_saved){0};
    if (!l) {
        return VKT_OK;
    }
    vkt__loader_replicas(l, &saved->replicas, &saved->rank);
    saved->loader = l;
    return t->dist ? vkt__loader_set_replicas(l, (uint32_t)t->dist->size, (uint32_t)t->dist->rank)
                   : VKT_OK;
}

void vkt__ddp_unshard(vkt_trainer *t, vkt__shard_saved *saved)
{
    if (t->dist && saved->loader) {
        (void)vkt__loader_set_replicas(saved->loader, saved->replicas, saved->rank);
    }
    saved->loader = NULL;
}

vkt_status vkt__ddp_shard_loaders(vkt_trainer *t)
{
    vkt_status s = vkt__ddp_shard(t, t->train_loader, &t->shard_saved[0]);
    return s == VKT_OK ? vkt__ddp_shard(t, t->val_loader, &t->shard_saved[1]) : s;
}

void vkt__ddp_fit_end(vkt_trainer *t)
{
    vkt__ddp_unshard(t, &t->shard_saved[0]);
    vkt__ddp_unshard(t, &t->shard_saved[1]);
    vkt__reducer_destroy(t->reducer);
    t->reducer = NULL;
}

/* Rank 0's parameters on every rank: through the host. */
static vkt_status broadcast_params(vkt_trainer *t, vkt_tensor *block)
{
    size_t bytes = (size_t)vkt_tensor_numel(block) * sizeof(float);
    float *h = vkt__dist_scratch(t->dist, VKT__DIST_STAGING, bytes / sizeof(float));
    if (!h) {
        return vkt_last_status();
    }
    vkt_status s = t->dist->rank == 0 ? vkt_tensor_download(block, h, bytes) : VKT_OK;
    if (s == VKT_OK) {
        s = vkt__dist_bcast(t->dist, h, bytes, 0);
    }
    if (s == VKT_OK && t->dist->rank != 0) {
        s = vkt_tensor_upload(block, h, bytes);
    }
    return s;
}

vkt_status vkt__ddp_fit_start(vkt_trainer *t)
{
    if (!t->dist) {
        return VKT_OK;
    }
    vkt_model *m = t->oc.model;
    if (!m) {
        return vkt__error(VKT_INVALID_ARGUMENT, "DDP: configure_optimizers set no model "
                                                "(vkt_optim_config.model), so its gradients "
                                                "cannot be averaged");
    }
    vkt_status s = vkt__dist_check_same(t->dist, vkt_model_num_params(m), "the model's size");
    if (s == VKT_OK) {
        s = vkt__dist_check_same(t->dist, t->num_training_batches, "the training batches");
    }
    if (s == VKT_OK) {
        s = vkt__dist_check_same(t->dist, t->d.accumulate_grad_batches, "accumulate_grad_batches");
    }
    vkt_tensor *params = vkt_model_param_block(m);
    if (s == VKT_OK && !params) {
        s = vkt_last_status();
    }
    if (s == VKT_OK) {
        s = broadcast_params(t, params);
    }
    if (s == VKT_OK && !t->reducer) {
        s = vkt__reducer_create(t->dist, m, t->d.ddp_bucket_bytes, &t->reducer);
    }
    if (s == VKT_OK) {
        s = vkt__dist_check_same(t->dist, vkt__reducer_buckets(t->reducer),
                                 "the gradient buckets (ddp_bucket_bytes)");
    }
    return s;
}

vkt_status vkt__ddp_before_backward(vkt_trainer *t, bool stepping)
{
    return t->reducer && stepping ? vkt__reducer_arm(t->reducer) : VKT_OK;
}

vkt_status vkt__ddp_after_backward(vkt_trainer *t, bool stepping, vkt_status backward)
{
    if (!t->reducer || !stepping) {
        return backward;
    }
    vkt_status s = vkt__reducer_disarm(t->reducer);
    if (backward != VKT_OK) {
        return backward;
    }
    return s == VKT_OK ? vkt__reducer_run(t->reducer) : s;
}

/* The all-reduce a reduce_fx takes: a mean is a sum first. */
static vkt_reduce_fx reduce_kind(vkt_reduce_fx fx)
{
    return fx == VKT_REDUCE_MAX || fx == VKT_REDUCE_MIN ? fx : VKT_REDUCE_SUM;
}

/* x[i] reduced over the ranks by fx[i] (sum, max or min): one all-reduce per kind present (every
 * rank has the same kinds: gather_values checks). */
static vkt_status allreduce_by_kind(vkt_dist *d, double *x, const vkt_reduce_fx *fx, uint32_t n)
{
    static const vkt_reduce_fx kinds[3] = {VKT_REDUCE_SUM, VKT_REDUCE_MAX, VKT_REDUCE_MIN};
    double *packed = vkt__malloc((n ? n : 1) * sizeof *packed);
    if (!packed) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    vkt_status s = VKT_OK;
    for (int k = 0; k < 3 && s == VKT_OK; k++) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (fx[i] == kinds[k]) {
                packed[m++] = x[i];
            }
        }
        if (m == 0) {
            continue;
        }
        s = vkt__dist_allreduce_f64(d, packed, (int)m, (int)kinds[k]);
        for (uint32_t i = 0, at = 0; s == VKT_OK && i < n; i++) {
            if (fx[i] == kinds[k]) {
                x[i] = packed[at++];
            }
        }
    }
    free(packed);
    return s;
}

/* A result that sync_dist reduces now: an epoch value not synced since it last changed (a
 * metric object's state is reduced at its compute: vkt__ddp_metric_sync), or this step's value. */
static bool needs_sync(const vkt_trainer *t, const vkt__result *r, bool step)
{
    if (!r->sync_dist || r->metric) {
        return false;
    }
    return step ? r->on_step && r->has_step && r->step_id == t->log_step_id && r->step_value &&
                      !r->step_synced
                : r->on_epoch && r->acc && r->count > 0 && r->synced_at != r->count;
}

/* The values to reduce, each rank the same number (or none): epoch values with their batch-size
 * totals, or step values. */
static vkt_status gather_values(vkt_trainer *t, vkt__results *rs, bool step, double **x,
                                vkt_reduce_fx **fx, uint32_t *n)
{
    *x = NULL;
    *fx = NULL;
    *n = 0;
    /* how many, and each one's reduce_fx, in order: the all-reduces pair up only if these
     * agree (and skip a kind no rank has) */
    uint32_t count = 0;
    uint64_t kinds = 0;
    for (uint32_t i = 0; i < rs->count; i++) {
        if (needs_sync(t, &rs->items[i], step)) {
            count++;
            kinds = kinds * 31 + 1 + (uint64_t)reduce_kind(rs->items[i].reduce);
        }
    }
    vkt_status s = vkt__dist_check_same(t->dist, kinds,
                                        step ? "the sync_dist step values to reduce (how many, "
                                               "and their reduce_fx)"
                                             : "the sync_dist values to reduce (how many, and "
                                               "their reduce_fx)");
    if (s != VKT_OK || count == 0) {
        return s;
    }
    *x = vkt__calloc(2 * (size_t)count, sizeof **x);
    *fx = vkt__calloc(2 * (size_t)count, sizeof **fx);
    float *v = vkt__calloc(count, sizeof *v);
    /* the values side by side on the device, then one read-back */
    vkt_tensor *side = v && *x && *fx ? vkt_tensor_new_1d(t->dev, VKT_F32, count) : NULL;
    if (!side) {
        free(v);
        return v && *x && *fx ? vkt_last_status()
                              : vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0, k = 0; i < rs->count && s == VKT_OK; i++) {
        const vkt__result *r = &rs->items[i];
        if (needs_sync(t, r, step)) {
            s = vkt__copy(t->dev, vkt__bind(step ? r->step_value : r->acc, VKT__READ),
                          vkt__subrange(vkt__bind(side, VKT__WRITE), 4 * (uint64_t)k++, 4));
        }
    }
    s = s == VKT_OK ? vkt_tensor_download(side, v, count * sizeof *v) : s;
    vkt_tensor_free(side);
    for (uint32_t i = 0, k = 0; i < rs->count && s == VKT_OK; i++) {
        const vkt__result *r = &rs->items[i];
        if (!needs_sync(t, r, step)) {
            continue;
        }
        /* the mean: of the step values over the ranks (Lightning's sync of a step value), of
         * the epoch's batch-size weighted sums over their batch sizes */
        vkt_reduce_fx kind = reduce_kind(r->reduce);
        (*x)[*n] = v[k++];
        (*fx)[(*n)++] = kind;
        if (!step && kind == VKT_REDUCE_SUM) {
            (*x)[*n] = r->cum_bs;
            (*fx)[(*n)++] = VKT_REDUCE_SUM;
        }
    }
    free(v);
    return s;
}

/* A one-element tensor holding x, made or reused in *slot. */
static vkt_status set_scalar(vkt_trainer *t, vkt_tensor **slot, float x)
{
    if (!*slot) {
        *slot = vkt_tensor_keep(vkt_tensor_new_1d(t->dev, VKT_F32, 1));
    }
    return *slot ? vkt_tensor_upload(*slot, &x, sizeof x) : vkt_last_status();
}

static vkt_status sync_values(vkt_trainer *t, vkt__results *rs, bool step)
{
    if (!t->dist) {
        return VKT_OK;
    }
    double *x;
    vkt_reduce_fx *fx;
    uint32_t n;
    vkt_status s = gather_values(t, rs, step, &x, &fx, &n);
    if (s == VKT_OK && n > 0) {
        s = allreduce_by_kind(t->dist, x, fx, n);
    }
    for (uint32_t i = 0, at = 0; s == VKT_OK && n > 0 && i < rs->count; i++) {
        vkt__result *r = &rs->items[i];
        if (!needs_sync(t, r, step)) {
            continue;
        }
        bool sum = fx[at] == VKT_REDUCE_SUM;
        float v = (float)x[at++];
        if (step) {
            /* a new tensor, whose one reference the result holds: the logged one may be the
             * caller's, and the dicts may hold it */
            vkt_tensor *synced = NULL;
            s = set_scalar(t, &synced, r->reduce == VKT_REDUCE_MEAN ? v / (float)t->dist->size : v);
            if (synced) {
                synced->user_owned = false;
                vkt__unref(r->step_value);
                r->step_value = synced;
                r->step_synced = true;
            }
        } else {
            r->synced_bs = sum ? x[at++] : r->cum_bs;
            s = set_scalar(t, &r->synced, v);
            r->synced_at = r->count;
        }
    }
    free(x);
    free(fx);
    return s;
}

vkt_status vkt__ddp_sync_results(vkt_trainer *t, vkt__results *rs)
{
    return sync_values(t, rs, false);
}

vkt_status vkt__ddp_sync_steps(vkt_trainer *t, vkt__results *rs)
{
    return sync_values(t, rs, true);
}

vkt_status vkt__trainer_reduce_bool(vkt_trainer *t, bool *decision, bool all)
{
    if (!t->dist) {
        return VKT_OK;
    }
    uint64_t v = *decision;
    vkt_status s = vkt__dist_allreduce_u64(t->dist, &v, 1, !all);
    if (s == VKT_OK) {
        *decision = v != 0;
    }
    return s;
}

vkt_status vkt__trainer_broadcast(vkt_trainer *t, void *buf, size_t bytes)
{
    return t->dist ? vkt__dist_bcast(t->dist, buf, bytes, 0) : VKT_OK;
}

void vkt__ddp_failed(vkt_trainer *t, vkt_status s, const char *reason)
{
    if (t->dist && s != VKT_DISTRIBUTED) {
        (void)vkt__dist_fail(t->dist, reason);
    }
}

/* The state as doubles: counts as they are; the regression state as (error sum, count). */
static size_t state_to_f64(const int32_t *w, size_t n, bool regression, double *out)
{
    if (!regression) {
        for (size_t i = 0; i < n; i++) {
            out[i] = (double)(uint32_t)w[i];
        }
        return n;
    }
    float hi, lo;
    memcpy(&hi, &w[0], sizeof hi);
    memcpy(&lo, &w[1], sizeof lo);
    out[0] = (double)hi + (double)lo;
    out[1] = (double)((uint64_t)(uint32_t)w[2] | (uint64_t)(uint32_t)w[3] << 32);
    return 2;
}

static void f64_to_state(const double *v, size_t n, bool regression, int32_t *w)
{
    if (!regression) {
        for (size_t i = 0; i < n; i++) {
            w[i] = (int32_t)(uint32_t)v[i];
        }
        return;
    }
    float hi = (float)v[0], lo = (float)(v[0] - (double)hi);
    memcpy(&w[0], &hi, sizeof hi);
    memcpy(&w[1], &lo, sizeof lo);
    uint64_t c = (uint64_t)v[1];
    w[2] = (int32_t)(uint32_t)c;
    w[3] = (int32_t)(uint32_t)(c >> 32);
}

vkt_status vkt__ddp_metric_sync(vkt_trainer *t, vkt_metric *m, int32_t **saved)
{
    *saved = NULL;
    if (!t->dist) {
        return VKT_OK;
    }
    bool regression;
    vkt_tensor *state = vkt__metric_state(m, &regression);
    size_t n = (size_t)vkt_tensor_numel(state);
    vkt_status s = vkt__dist_check_same(t->dist, n, "a sync_dist metric's state size");
    if (s != VKT_OK) {
        return s;
    }
    int32_t *w = vkt__malloc(2 * n * sizeof *w);
    double *v = vkt__malloc(n * sizeof *v);
    if (!w || !v) {
        free(w);
        free(v);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    s = vkt_tensor_download(state, w, n * sizeof *w);
    if (s == VKT_OK) {
        memcpy(w + n, w, n * sizeof *w); /* the local state, restored after compute */
        size_t k = state_to_f64(w, n, regression, v);
        s = vkt__dist_allreduce_f64(t->dist, v, (int)k, VKT_REDUCE_SUM);
        if (s == VKT_OK) {
            f64_to_state(v, n, regression, w);
            s = vkt_tensor_upload(state, w, n * sizeof *w);
        }
    }
    free(v);
    if (s != VKT_OK) {
        free(w);
        return s;
    }
    *saved = w;
    return VKT_OK;
}

vkt_status vkt__ddp_metric_unsync(vkt_trainer *t, vkt_metric *m, int32_t *saved)
{
    (void)t;
    if (!saved) {
        return VKT_OK;
    }
    bool regression;
    vkt_tensor *state = vkt__metric_state(m, &regression);
    size_t n = (size_t)vkt_tensor_numel(state);
    vkt_status s = vkt_tensor_upload(state, saved + n, n * sizeof *saved);
    free(saved);
    return s;
}
