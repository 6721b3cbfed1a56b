/*
 * early_stopping.c — Lightning's EarlyStopping (callbacks/early_stopping.py; docs/lightning.md
 * "EarlyStopping") as a vkt_callback: checks callback_metrics[monitor] in on_train_epoch_end when
 * validation runs at every epoch end (else in on_validation_end), never outside fit, while sanity
 * checking or under fast_dev_run. Order of the checks: non-finite -> improvement (current -
 * min_delta beats the best; min_delta is stored negated for mode min) -> patience. Arithmetic is in
 * f32, as on Lightning's float32 tensors. Messages are Lightning's, word for word. The decision
 * (vkt__es_evaluate) is tested without a trainer in tests/test_train_io.c.
 */
#include <math.h>
#include <string.h>

#include "train/train_internal.h"

static const char *reason_name(vkt__stop_reason r)
{
    switch (r) {
    case VKT__STOP_STOPPING_THRESHOLD:
        return "STOPPING_THRESHOLD";
    case VKT__STOP_DIVERGENCE_THRESHOLD:
        return "DIVERGENCE_THRESHOLD";
    case VKT__STOP_PATIENCE_EXHAUSTED:
        return "PATIENCE_EXHAUSTED";
    case VKT__STOP_NON_FINITE_METRIC:
        return "NON_FINITE_METRIC";
    default:
        return "NOT_STOPPED";
    }
}

/* str() of a 0-dim float tensor holding a non-finite value: tensor(nan), tensor(-inf) */
static void tensor_str(char *buf, size_t n, float v)
{
    snprintf(buf, n, "tensor(%s)", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
}

static void f3(char *buf, size_t n, float v) { vkt__py_format(buf, n, (double)v, false, ".3f"); }

bool vkt__es_evaluate(vkt__es_state *s, float current)
{
    char a[64], b[64];
    s->message[0] = '\0';
    if (s->check_finite && !isfinite(current)) {
        tensor_str(a, sizeof a, current);
        f3(b, sizeof b, s->best_score);
        snprintf(s->message, sizeof s->message,
                 "Monitored metric %s = %s is not finite. Previous best value was %s. Signaling "
                 "Trainer to stop.",
                 s->monitor, a, b);
        s->reason = VKT__STOP_NON_FINITE_METRIC;
        return true;
    }
    /* (stopping_threshold and divergence_threshold are not in vkt_early_stopping_desc) */
    float shifted = current - s->min_delta;
    bool improved = s->mode_max ? shifted > s->best_score : shifted < s->best_score;
    if (improved) {
        if (isfinite(s->best_score)) {
            char d[64];
            f3(a, sizeof a, fabsf(s->best_score - current));
            vkt__format_py_float32(d, sizeof d, fabsf(s->min_delta));
            f3(b, sizeof b, current);
            snprintf(s->message, sizeof s->message,
                     "Metric %s improved by %s >= min_delta = %s. New best score: %s", s->monitor,
                     a, d, b);
        } else {
            f3(b, sizeof b, current);
            snprintf(s->message, sizeof s->message, "Metric %s improved. New best score: %s",
                     s->monitor, b);
        }
        s->best_score = current;
        s->wait_count = 0;
        return false;
    }
    s->wait_count++;
    if (s->wait_count >= s->patience) {
        f3(b, sizeof b, s->best_score);
        snprintf(s->message, sizeof s->message,
                 "Monitored metric %s did not improve in the last %u records. Best score: %s. "
                 "Signaling Trainer to stop.",
                 s->monitor, s->wait_count, b);
        s->reason = VKT__STOP_PATIENCE_EXHAUSTED;
        return true;
    }
    return false;
}

typedef struct es {
    vkt_callback cb; /* first */
    vkt__es_state st;
    bool strict, verbose;
    bool check_on_train_epoch_end;
    char stop_message[512]; /* stopping_reason_message; "" = None */
    char *state_key;
} es;

static es *self(void *ud) { return ud; }

/* Lightning's `val_check_interval == 1.0 and check_val_every_n_epoch == 1`: validation runs at
 * every epoch end. */
static bool val_at_epoch_end(const vkt_trainer *t)
{
    const vkt_trainer_desc *d = vkt_trainer_query_desc(t);
    return d->val_check_interval.count == 0 &&
           (d->val_check_interval.fraction == 0 || d->val_check_interval.fraction == 1.0) &&
           d->check_val_every_n_epoch == 1;
}

static vkt_status es_setup(vkt_trainer *t, vkt_stage stage, void *ud)
{
    (void)stage;
    self(ud)->check_on_train_epoch_end = val_at_epoch_end(t);
    return VKT_OK;
}

static bool skip_check(vkt_trainer *t)
{
    return vkt_trainer_stage(t) != VKT_STAGE_FIT || vkt_trainer_sanity_checking(t);
}

static vkt_status run_check(es *e, vkt_trainer *t)
{
    if (vkt_trainer_query_desc(t)->fast_dev_run != 0) {
        return VKT_OK;
    }
    float current;
    if (!vkt_trainer_metric(t, VKT_CALLBACK_METRICS, e->st.monitor, &current)) {
        char msg[2048];
        int o = snprintf(msg, sizeof msg,
                         "Early stopping conditioned on metric `%s` which is not available. Pass "
                         "in or modify your `EarlyStopping` callback to use any of the "
                         "following: `",
                         e->st.monitor);
        uint32_t n = vkt_trainer_metrics_count(t, VKT_CALLBACK_METRICS);
        for (uint32_t i = 0; i < n && o > 0 && (size_t)o < sizeof msg; i++) {
            o += snprintf(msg + o, sizeof msg - (size_t)o, "%s%s", i ? "`, `" : "",
                          vkt_trainer_metric_name(t, VKT_CALLBACK_METRICS, i));
        }
        if (o > 0 && (size_t)o < sizeof msg) {
            snprintf(msg + o, sizeof msg - (size_t)o, "`");
        }
        if (e->strict) {
            return vkt__error(VKT_NOT_FOUND, "%s", msg);
        }
        if (e->verbose) {
            vkt__train_warn(t, "%s", msg);
        }
        return VKT_OK;
    }
    bool stop = vkt__es_evaluate(&e->st, current);
    /* DDP: every rank stops when any rank decides to (no rank stops alone) */
    vkt_status s = vkt__trainer_reduce_bool(t, &stop, false);
    if (s != VKT_OK) {
        return s;
    }
    if (stop) {
        vkt_trainer_set_should_stop(t, true);
        e->st.stopped_epoch = vkt_trainer_current_epoch(t);
        snprintf(e->stop_message, sizeof e->stop_message, "%s", e->st.message);
    }
    if (e->st.message[0] && e->verbose) {
        vkt_trainer_print(t, "%s\n", e->st.message);
    }
    return VKT_OK;
}

static vkt_status es_train_epoch_end(vkt_trainer *t, void *ud)
{
    es *e = self(ud);
    if (!e->check_on_train_epoch_end || skip_check(t)) {
        return VKT_OK;
    }
    return run_check(e, t);
}

static vkt_status es_validation_end(vkt_trainer *t, void *ud)
{
    es *e = self(ud);
    if (e->check_on_train_epoch_end || skip_check(t)) {
        return VKT_OK;
    }
    return run_check(e, t);
}

static vkt_status es_state_dict(vkt_trainer *t, vkt_dict *d, void *ud)
{
    (void)t;
    es *e = self(ud);
    vkt_status s = vkt_dict_set_number(d, "wait_count", e->st.wait_count);
    if (s == VKT_OK) {
        s = vkt_dict_set_number(d, "stopped_epoch", (double)e->st.stopped_epoch);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_number(d, "best_score", (double)e->st.best_score);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_number(d, "patience", e->st.patience);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "stopping_reason", reason_name(e->st.reason));
    }
    if (s == VKT_OK && e->stop_message[0]) { /* None is left out */
        s = vkt_dict_set_string(d, "stopping_reason_message", e->stop_message);
    }
    return s;
}

static vkt_status es_load_state_dict(vkt_trainer *t, const vkt_dict *d, void *ud)
{
    (void)t;
    es *e = self(ud);
    double v;
    if (vkt_dict_get_number(d, "wait_count", &v)) {
        e->st.wait_count = (uint32_t)v;
    }
    if (vkt_dict_get_number(d, "stopped_epoch", &v)) {
        e->st.stopped_epoch = (int64_t)v;
    }
    if (vkt_dict_get_number(d, "best_score", &v)) {
        e->st.best_score = (float)v;
    }
    if (vkt_dict_get_number(d, "patience", &v)) {
        e->st.patience = (uint32_t)v;
    }
    const char *r = vkt_dict_get_string(d, "stopping_reason");
    for (int i = 0; r && i <= VKT__STOP_NON_FINITE_METRIC; i++) {
        if (strcmp(r, reason_name((vkt__stop_reason)i)) == 0) {
            e->st.reason = (vkt__stop_reason)i;
        }
    }
    const char *m = vkt_dict_get_string(d, "stopping_reason_message");
    snprintf(e->stop_message, sizeof e->stop_message, "%s", m ? m : "");
    return VKT_OK;
}

vkt_callback *vkt_early_stopping_create(const vkt_early_stopping_desc *desc)
{
    if (!desc || !desc->monitor || !desc->monitor[0]) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_early_stopping_create: monitor is required");
        return NULL;
    }
    if (strlen(desc->monitor) >= sizeof((vkt__es_state *)0)->monitor) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_early_stopping_create: monitor name too long");
        return NULL;
    }
    if (desc->mode != VKT_MODE_DEFAULT && desc->mode != VKT_MODE_MIN &&
        desc->mode != VKT_MODE_MAX) {
        vkt__error(VKT_INVALID_ARGUMENT, "`mode` can be min, max, got %d", (int)desc->mode);
        return NULL;
    }
    if ((unsigned)desc->strict > VKT_FLAG_OFF || (unsigned)desc->check_finite > VKT_FLAG_OFF) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "vkt_early_stopping_create: strict / check_finite must be vkt_flag values");
        return NULL;
    }
    es *e = vkt__calloc(1, sizeof *e);
    char mon[300], key[400];
    vkt__py_repr_str(mon, sizeof mon, desc->monitor);
    bool mode_max = desc->mode == VKT_MODE_MAX;
    snprintf(key, sizeof key, "EarlyStopping{'monitor': %s, 'mode': '%s'}", mon,
             mode_max ? "max" : "min");
    char *state_key = vkt__strdup(key);
    if (!e || !state_key) {
        free(e);
        free(state_key);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_early_stopping_create: out of host memory");
        return NULL;
    }
    snprintf(e->st.monitor, sizeof e->st.monitor, "%s", desc->monitor);
    e->st.mode_max = mode_max;
    e->st.check_finite = desc->check_finite != VKT_FLAG_OFF;
    e->st.min_delta = mode_max ? desc->min_delta : -desc->min_delta;
    e->st.best_score = mode_max ? -INFINITY : INFINITY;
    e->st.patience = VKT__DEF(desc->patience, 3u);
    e->strict = desc->strict != VKT_FLAG_OFF;
    e->verbose = desc->verbose;
    e->state_key = state_key;
    e->cb = (vkt_callback){
        .setup = es_setup,
        .on_train_epoch_end = es_train_epoch_end,
        .on_validation_end = es_validation_end,
        .state_key = state_key,
        .state_dict = es_state_dict,
        .load_state_dict = es_load_state_dict,
        .monitoring = true,
        .name = "EarlyStopping",
        .user_data = e,
    };
    return &e->cb;
}

void vkt_early_stopping_destroy(vkt_callback *cb)
{
    es *e = (es *)cb;
    if (!e) {
        return;
    }
    free(e->state_key);
    free(e);
}

/* The EarlyStopping behind `cb`, or NULL for any other callback: the getters take any. */
static const es *as_es(const vkt_callback *cb)
{
    return cb && cb->state_dict == es_state_dict ? (const es *)cb : NULL;
}

uint32_t vkt_early_stopping_wait_count(const vkt_callback *cb)
{
    const es *e = as_es(cb);
    return e ? e->st.wait_count : 0;
}

int64_t vkt_early_stopping_stopped_epoch(const vkt_callback *cb)
{
    const es *e = as_es(cb);
    return e ? e->st.stopped_epoch : 0;
}

float vkt_early_stopping_best_score(const vkt_callback *cb)
{
    const es *e = as_es(cb);
    return e ? e->st.best_score : NAN;
}
