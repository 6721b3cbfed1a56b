/*
 * log.c — vkt_log (Lightning's self.log): defaults per hook, validation of arguments, device-side
 * epoch aggregation, and the three metric dictionaries (callback, logged, progress bar).
 *
 * Every (hook, name) pair is one result. Its step value is the last logged device tensor (a
 * reference is held, nothing is copied or read). Its epoch value is a one-element device
 * accumulator: sum of value * batch_size for mean (the batch sizes are known on the host, so the
 * weighted mean is acc / cumulated_batch_size), sum, or running max/min.
 *
 * The dictionaries hold either host numbers or pending device values. A read point (a logger row,
 * a progress-bar refresh, vkt_trainer_metric) resolves every pending value at once: one copy per
 * value into one small device tensor and one download, i.e. one host wait however many metrics.
 */
#include <math.h>
#include <string.h>

#include "tensor/tensor_impl.h"
#include "train/trainer_impl.h"
#include "vkt/metrics.h"

/* ---- defaults and permissions by hook (fx_validator.py) ------------------------------------ */

typedef struct fx_rule {
    const char *fx;
    bool step, epoch;          /* defaults */
    bool fixed;                /* on_step must be False, on_epoch True */
} fx_rule;

static const fx_rule fx_rules[] = {
    {"training_step", true, false, false},
    {"on_train_batch_start", true, false, false},
    {"on_train_batch_end", true, false, false},
    {"on_before_backward", true, false, false},
    {"backward", true, false, false},
    {"on_after_backward", true, false, false},
    {"on_before_optimizer_step", true, false, false},
    {"optimizer_step", true, false, false},
    {"configure_gradient_clipping", true, false, false},
    {"clip_gradients", true, false, false},
    {"on_before_zero_grad", true, false, false},
    {"optimizer_zero_grad", true, false, false},
    {"validation_step", false, true, false},
    {"test_step", false, true, false},
    {"on_validation_batch_start", false, true, false},
    {"on_validation_batch_end", false, true, false},
    {"on_test_batch_start", false, true, false},
    {"on_test_batch_end", false, true, false},
    {"on_train_start", false, true, true},
    {"on_train_epoch_start", false, true, true},
    {"on_train_epoch_end", false, true, true},
    {"on_validation_start", false, true, true},
    {"on_validation_epoch_start", false, true, true},
    {"on_validation_epoch_end", false, true, true},
    {"on_test_start", false, true, true},
    {"on_test_epoch_start", false, true, true},
    {"on_test_epoch_end", false, true, true},
};

static const fx_rule *find_rule(const char *fx)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(fx_rules); i++) {
        if (fx && strcmp(fx_rules[i].fx, fx) == 0) {
            return &fx_rules[i];
        }
    }
    return NULL;
}

/* ---- metric dictionaries --------------------------------------------------------------------- */

static vkt__mval *dict_slot(vkt__mdict *d, const char *name)
{
    for (uint32_t i = 0; i < d->count; i++) {
        if (strcmp(d->items[i].name, name) == 0) {
            return &d->items[i];
        }
    }
    if (!vkt__grow((void **)&d->items, &d->cap, d->count + 1, sizeof *d->items)) {
        return NULL;
    }
    vkt__mval *v = &d->items[d->count++];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    return v;
}

static void mval_clear(vkt__mval *v)
{
    vkt__unref(v->pending);
    v->pending = NULL;
}

/* Sets a pending device value: host value = (*pending) / divisor (in f32) once read. */
static vkt_status dict_set_pending(vkt__mdict *d, const char *name, vkt_tensor *value,
                                   double scale)
{
    vkt__mval *v = dict_slot(d, name);
    if (!v) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for metric \"%s\"", name);
    }
    mval_clear(v);
    v->pending = vkt__ref(value);
    v->scale = scale;
    v->known = false;
    return VKT_OK;
}

void vkt__mdict_clear(vkt__mdict *d)
{
    for (uint32_t i = 0; i < d->count; i++) {
        mval_clear(&d->items[i]);
    }
    d->count = 0;
}

void vkt__mdict_free(vkt__mdict *d)
{
    vkt__mdict_clear(d);
    free(d->items);
    memset(d, 0, sizeof *d);
}

/* Resolves every pending value of the three dicts plus `extra` with one download. */
static vkt_status resolve(vkt_trainer *t, vkt__mval **extra, uint32_t n_extra)
{
    vkt__mdict *dicts[3] = {&t->callback_metrics, &t->logged_metrics, &t->pbar_metrics};
    uint32_t n = n_extra;
    for (int k = 0; k < 3; k++) {
        for (uint32_t i = 0; i < dicts[k]->count; i++) {
            n += !dicts[k]->items[i].known && dicts[k]->items[i].pending;
        }
    }
    if (n == 0) {
        return VKT_OK;
    }
    vkt_tensor *gather = vkt_tensor_new_1d(t->dev, VKT_F32, n);
    float *host = vkt__malloc(n * sizeof *host);
    vkt__mval **slots = vkt__malloc(n * sizeof *slots);
    /* the tensor's failure has its own message; a host one is reported here */
    vkt_status s = !gather ? vkt_last_status()
                   : (!host || !slots)
                       ? vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory reading metrics")
                       : VKT_OK;
    uint32_t k = 0;
    for (uint32_t i = 0; s == VKT_OK && i < n_extra; i++) {
        slots[k++] = extra[i];
    }
    for (int d = 0; s == VKT_OK && d < 3; d++) {
        for (uint32_t i = 0; i < dicts[d]->count; i++) {
            vkt__mval *v = &dicts[d]->items[i];
            if (!v->known && v->pending) {
                slots[k++] = v;
            }
        }
    }
    /* one gather slot per distinct device value (the dicts often share a tensor) */
    uint32_t *where = s == VKT_OK ? vkt__malloc(n * sizeof *where) : NULL;
    uint32_t distinct = 0;
    if (s == VKT_OK && !where) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; s == VKT_OK && i < n; i++) {
        uint32_t j = 0;
        while (j < i && slots[j]->pending != slots[i]->pending) {
            j++;
        }
        if (j < i) {
            where[i] = where[j];
            continue;
        }
        where[i] = distinct++;
        s = vkt__copy(t->dev, vkt__bind(slots[i]->pending, VKT__READ),
                      vkt__subrange(vkt__bind(gather, VKT__WRITE), 4 * (uint64_t)where[i], 4));
    }
    if (s == VKT_OK) {
        s = vkt__download(t->dev, vkt__subrange(vkt__bind(gather, VKT__READ), 0,
                                                distinct * sizeof *host),
                          host);
        t->metric_reads++;
    }
    for (uint32_t i = 0; s == VKT_OK && i < n; i++) {
        /* in f32 like Lightning's tensor division: 9 / 5 -> 1.7999999523162842 */
        slots[i]->value = (double)(host[where[i]] / (float)slots[i]->scale);
        slots[i]->known = true;
    }
    for (uint32_t i = 0; s == VKT_OK && i < n; i++) {
        vkt__unref(slots[i]->pending);
        slots[i]->pending = NULL;
    }
    free(where);
    vkt_tensor_free(gather);
    free(host);
    free(slots);
    return s;
}

static vkt__mdict *dict_of(vkt_trainer *t, vkt_metrics_kind kind)
{
    switch (kind) {
    case VKT_LOGGED_METRICS:
        return &t->logged_metrics;
    case VKT_PROGRESS_BAR_METRICS:
        return &t->pbar_metrics;
    default:
        return &t->callback_metrics;
    }
}

static vkt_status log_epoch(vkt_trainer *t, vkt__results *rs, int64_t step, bool push);

/* At an epoch end the reads merge the live epoch values (trainer_impl.h, epoch_end_results);
 * once per change of what they are made from, not at every read. */
static vkt_status merge_live(vkt_trainer *t)
{
    if (!t->epoch_end_results ||
        (t->merged_results == t->epoch_end_results && t->merged_gen == t->log_gen)) {
        return VKT_OK;
    }
    vkt_status s = log_epoch(t, t->epoch_end_results, 0, false);
    if (s == VKT_OK) {
        t->merged_results = t->epoch_end_results;
        t->merged_gen = t->log_gen;
    }
    return s;
}

bool vkt_trainer_metric(vkt_trainer *t, vkt_metrics_kind kind, const char *name, float *value)
{
    if (merge_live(t) != VKT_OK) {
        return false;
    }
    vkt__mdict *d = dict_of(t, kind);
    for (uint32_t i = 0; i < d->count; i++) {
        if (strcmp(d->items[i].name, name) == 0) {
            if (!d->items[i].known && resolve(t, NULL, 0) != VKT_OK) {
                return false;
            }
            if (value) {
                *value = (float)d->items[i].value;
            }
            return true;
        }
    }
    return false;
}

uint32_t vkt_trainer_metrics_count(vkt_trainer *t, vkt_metrics_kind kind)
{
    merge_live(t); /* on failure the dictionary as it is */
    return dict_of(t, kind)->count;
}

const char *vkt_trainer_metric_name(vkt_trainer *t, vkt_metrics_kind kind, uint32_t i)
{
    merge_live(t);
    vkt__mdict *d = dict_of(t, kind);
    return i < d->count ? d->items[i].name : NULL;
}

/* ---- results --------------------------------------------------------------------------------- */

static vkt__result *find_result(vkt__results *r, const char *fx, const char *name)
{
    for (uint32_t i = 0; i < r->count; i++) {
        if (strcmp(r->items[i].fx, fx) == 0 && strcmp(r->items[i].name, name) == 0) {
            return &r->items[i];
        }
    }
    return NULL;
}

void vkt__results_reset(vkt__results *r)
{
    for (uint32_t i = 0; i < r->count; i++) {
        vkt__unref(r->items[i].step_value);
        vkt_tensor_free(r->items[i].acc);
        vkt_tensor_free(r->items[i].synced);
    }
    r->count = 0;
}

void vkt__results_free(vkt__results *r)
{
    vkt__results_reset(r);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static const char *reduce_name(vkt_reduce_fx r)
{
    switch (r) {
    case VKT_REDUCE_SUM:
        return "sum";
    case VKT_REDUCE_MAX:
        return "max";
    case VKT_REDUCE_MIN:
        return "min";
    default:
        return "mean";
    }
}

vkt_status vkt_log(vkt_trainer *t, const char *name, const vkt_tensor *value,
                   const vkt_log_opts *opts_in)
{
    vkt_log_opts o = opts_in ? *opts_in : (vkt_log_opts){0};
    const char *fx = t->fx ? t->fx : "(outside a hook)";
    if (!name || !name[0] || strlen(name) >= sizeof((vkt__result *)0)->name - 8) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log: a name of 1 to 80 characters is needed");
    }
    const fx_rule *rule = find_rule(t->fx);
    if (!rule) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\"): you can't log inside `%s` (as "
                                                "in Lightning: logging is allowed in steps, batch "
                                                "and epoch hooks, and the optimization hooks)",
                          name, fx);
    }
    if (!value) {
        /* ops return NULL with the error set and propagate NULL without touching it
         * (include/vkt/core.h): that error is the cause, keep it and add where it surfaced */
        if (vkt_last_status() != VKT_OK) {
            return vkt__error_context("vkt_log(\"%s\") in %s: value is NULL after an error",
                                      name, fx);
        }
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\") in %s: value is NULL", name, fx);
    }
    if (vkt_tensor_numel(value) != 1) {
        char d[96];
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\") in %s: the value must have one "
                                                "element, it is %s",
                          name, fx, vkt_tensor_describe(value, d, sizeof d));
    }
    if (vkt_tensor_dtype(value) != VKT_F32) {
        return vkt__error(VKT_DTYPE_MISMATCH,
                          "vkt_log(\"%s\") in %s: the value must be f32 (log an "
                          "i32 count through vkt_log_value or convert it)",
                          name, fx);
    }
    bool on_step = o.on_step == VKT_FLAG_DEFAULT ? rule->step : o.on_step == VKT_FLAG_ON;
    bool on_epoch = o.on_epoch == VKT_FLAG_DEFAULT ? rule->epoch : o.on_epoch == VKT_FLAG_ON;
    bool logger = o.logger != VKT_FLAG_OFF;
    vkt_reduce_fx reduce = o.reduce_fx == VKT_REDUCE_DEFAULT ? VKT_REDUCE_MEAN : o.reduce_fx;
    if (reduce > VKT_REDUCE_MIN) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\"): unknown reduce_fx %d", name,
                          (int)o.reduce_fx);
    }
    if (!on_step && !on_epoch) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\", on_step=false, on_epoch=false) is "
                                                "not useful",
                          name);
    }
    if (rule->fixed && (on_step || !on_epoch)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\") in %s: on_step must be false and "
                                                "on_epoch true in this hook",
                          name, fx);
    }
    if (t->sanity_checking == false && t->barebones) {
        return VKT_OK;
    }
    vkt__results *rs = t->stage_results;
    vkt__result *r = find_result(rs, fx, name);
    if (r && r->step_id == t->log_step_id &&
        (r->on_step != on_step || r->on_epoch != on_epoch || r->prog_bar != o.prog_bar ||
         r->logger != logger || r->reduce != reduce || r->sync_dist != o.sync_dist)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log(\"%s\") was already called in %s with "
                                                "different options in this step",
                          name, fx);
    }
    if (!r) {
        for (uint32_t i = 0; i < rs->count; i++) {
            if (strcmp(rs->items[i].name, name) == 0 && strcmp(rs->items[i].fx, fx) != 0 &&
                rs->items[i].on_epoch && on_epoch) {
                /* Lightning keys by "fx.name": both live; the later one wins in the dicts. */
                break;
            }
        }
        if (!vkt__grow((void **)&rs->items, &rs->cap, rs->count + 1, sizeof *rs->items)) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        r = &rs->items[rs->count++];
        memset(r, 0, sizeof *r);
        snprintf(r->fx, sizeof r->fx, "%s", fx);
        snprintf(r->name, sizeof r->name, "%s", name);
        r->on_step = on_step;
        r->on_epoch = on_epoch;
        r->prog_bar = o.prog_bar;
        r->logger = logger;
        r->reduce = reduce;
        r->sync_dist = o.sync_dist;
        r->order = t->result_order++;
    }
    vkt__log_changed(t);
    r->step_id = t->log_step_id;
    /* step value: the logged tensor itself */
    vkt__ref((vkt_tensor *)value);
    vkt__unref(r->step_value);
    r->step_value = (vkt_tensor *)value;
    r->has_step = true;
    r->step_synced = false;
    /* epoch accumulation on the device */
    if (on_epoch) {
        double bs = 1.0;
        if (reduce == VKT_REDUCE_MEAN) {
            bs =
                o.batch_size ? (double)o.batch_size : (t->batch_rows ? (double)t->batch_rows : 1.0);
        }
        vkt_status s = VKT_OK;
        if (!r->acc) {
            r->acc = vkt_tensor_new_1d(t->dev, VKT_F32, 1);
            if (!r->acc) {
                return vkt_last_status();
            }
            vkt_tensor_keep(r->acc);
            s = vkt_fill(r->acc, 0.0f);
            if (s == VKT_OK && (reduce == VKT_REDUCE_MAX || reduce == VKT_REDUCE_MIN)) {
                s = vkt_copy(r->acc, value);
                r->count++;
                r->cum_bs += bs;
                return s;
            }
        }
        if (s != VKT_OK) {
            return s;
        }
        switch (reduce) {
        case VKT_REDUCE_MAX:
        case VKT_REDUCE_MIN:
            s = vkt__max_into(r->acc, value, reduce == VKT_REDUCE_MIN);
            break;
        case VKT_REDUCE_SUM:
            s = vkt_accumulate(r->acc, value, 1.0f);
            break;
        default:
            s = vkt_accumulate(r->acc, value, (float)bs);
        }
        r->cum_bs += bs;
        r->count++;
        if (s != VKT_OK) {
            return s;
        }
    }
    (void)reduce_name;
    return VKT_OK;
}

vkt_status vkt_log_metric(vkt_trainer *t, const char *name, vkt_metric *metric,
                          const vkt_log_opts *opts_in)
{
    vkt_log_opts o = opts_in ? *opts_in : (vkt_log_opts){0};
    if (!metric) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log_metric(\"%s\"): metric is NULL",
                          name ? name : "");
    }
    const vkt_metric_desc *md = vkt_metric_get_desc(metric);
    if (md->type == VKT_METRIC_CONFUSION_MATRIX || md->average == VKT_AVERAGE_NONE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log_metric(\"%s\"): a %s gives more than one "
                                                "value; only one-value metrics can be logged",
                          name, vkt_metric_type_name(md->type));
    }
    if (o.on_step == VKT_FLAG_ON) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log_metric(\"%s\"): metric objects are "
                                                "logged per epoch; log a batch value with vkt_log",
                          name);
    }
    if (o.on_epoch == VKT_FLAG_OFF) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log_metric(\"%s\", on_epoch=false) is not "
                                                "useful",
                          name);
    }
    const fx_rule *rule = find_rule(t->fx);
    if (!rule) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log_metric(\"%s\"): you can't log inside `%s`",
                          name, t->fx ? t->fx : "(outside a hook)");
    }
    vkt__results *rs = t->stage_results;
    vkt__result *r = find_result(rs, t->fx, name);
    if (r && r->metric != metric) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_log_metric(\"%s\") in %s: another value is "
                                                "already logged under this name",
                          name, t->fx);
    }
    if (!r) {
        if (!vkt__grow((void **)&rs->items, &rs->cap, rs->count + 1, sizeof *rs->items)) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        r = &rs->items[rs->count++];
        memset(r, 0, sizeof *r);
        snprintf(r->fx, sizeof r->fx, "%s", t->fx);
        snprintf(r->name, sizeof r->name, "%s", name);
        r->on_epoch = true;
        r->prog_bar = o.prog_bar;
        r->logger = o.logger != VKT_FLAG_OFF;
        r->reduce = VKT_REDUCE_SUM; /* divisor 1: the value is the metric's own */
        r->sync_dist = o.sync_dist; /* the metric's state summed over the ranks at compute */
        r->metric = metric;
        r->order = t->result_order++;
    }
    vkt__log_changed(t);
    r->step_id = t->log_step_id;
    r->count++;
    return VKT_OK;
}

void vkt__log_reset_metrics(vkt__results *rs)
{
    for (uint32_t i = 0; i < rs->count; i++) {
        if (rs->items[i].metric) {
            vkt_metric_reset(rs->items[i].metric);
        }
    }
}

vkt_status vkt_log_value(vkt_trainer *t, const char *name, float value, const vkt_log_opts *opts)
{
    vkt_tensor *v = vkt_tensor_new_1d(t->dev, VKT_F32, 1);
    if (!v) {
        return vkt_last_status();
    }
    vkt_status s = vkt_tensor_upload(v, &value, sizeof value);
    if (s == VKT_OK) {
        s = vkt_log(t, name, v, opts);
    }
    vkt_tensor_free(v);
    return s;
}

/* ---- pushing values into the dictionaries and loggers --------------------------------------- */

/* The epoch value's divisor: the cumulated batch size for mean, 1 otherwise (over the ranks
 * once synced). */
static double epoch_scale(const vkt__result *r)
{
    double bs = r->synced ? r->synced_bs : r->cum_bs;
    return r->reduce == VKT_REDUCE_MEAN && bs > 0 ? bs : 1.0;
}

/* The epoch value: this rank's accumulator, or its reduction over the ranks. */
static vkt_tensor *epoch_value(const vkt__result *r) { return r->synced ? r->synced : r->acc; }

typedef struct row {
    const char *names[256];
    vkt__mval *vals[256];
    uint32_t n;
} row;

static vkt_status row_add(row *rw, vkt__mdict *logged, const char *name, vkt_tensor *value,
                          double scale)
{
    vkt_status s = dict_set_pending(logged, name, value, scale);
    if (s == VKT_OK && rw->n < 256) {
        rw->names[rw->n] = name;
        rw->vals[rw->n] = NULL; /* filled from the logged dict after it resolves */
        rw->n++;
    }
    return s;
}

static vkt_status row_push(vkt_trainer *t, row *rw, int64_t step, int64_t epoch)
{
    if (rw->n == 0 || t->n_loggers == 0) {
        return VKT_OK;
    }
    vkt_status s = resolve(t, NULL, 0);
    if (s != VKT_OK) {
        return s;
    }
    double values[256];
    char names_buf[256][96];
    const char *names[256];
    for (uint32_t i = 0; i < rw->n; i++) {
        snprintf(names_buf[i], sizeof names_buf[i], "%s", rw->names[i]);
        names[i] = names_buf[i];
        float v = 0;
        vkt_trainer_metric(t, VKT_LOGGED_METRICS, rw->names[i], &v);
        values[i] = v;
    }
    for (uint32_t l = 0; l < t->n_loggers; l++) {
        vkt_logger *lg = t->loggers[l];
        if (lg->log_metrics) {
            s = lg->log_metrics(names, values, rw->n, step, epoch, lg->user_data);
            if (s == VKT_OK && lg->save) {
                s = lg->save(lg->user_data);
            }
            if (s != VKT_OK) {
                return vkt__error_context("logger %u", l);
            }
        }
    }
    return VKT_OK;
}

/* Forked names: name_step / name_epoch when a metric is logged both ways. */
static void forked(char *buf, size_t n, const vkt__result *r, bool step)
{
    if (r->on_step && r->on_epoch) {
        snprintf(buf, n, "%s_%s", r->name, step ? "step" : "epoch");
    } else {
        snprintf(buf, n, "%s", r->name);
    }
}

vkt_status vkt__log_train_step(vkt_trainer *t, bool push)
{
    vkt__results *rs = &t->train_results;
    row rw = {.n = 0};
    static char names[256][104];
    vkt_status s = vkt__ddp_sync_steps(t, rs);
    if (s != VKT_OK) {
        return s;
    }
    for (uint32_t i = 0; i < rs->count; i++) {
        vkt__result *r = &rs->items[i];
        if (!r->on_step || !r->has_step || r->step_id != t->log_step_id) {
            continue;
        }
        char key[104];
        forked(key, sizeof key, r, true);
        if (dict_set_pending(&t->callback_metrics, key, r->step_value, 1.0) != VKT_OK) {
            return vkt_last_status();
        }
        if (r->on_epoch) {
            if (dict_set_pending(&t->callback_metrics, r->name, r->step_value, 1.0) != VKT_OK) {
                return vkt_last_status();
            }
        }
        if (r->prog_bar) {
            if (dict_set_pending(&t->pbar_metrics, key, r->step_value, 1.0) != VKT_OK) {
                return vkt_last_status();
            }
        }
        if (push && r->logger && rw.n < 256) {
            snprintf(names[rw.n], sizeof names[rw.n], "%s", key);
            if (row_add(&rw, &t->logged_metrics, names[rw.n], r->step_value, 1.0) != VKT_OK) {
                return vkt_last_status();
            }
        }
    }
    /* called before _batches_that_stepped advances: the row's step is its value now */
    return push ? row_push(t, &rw, (int64_t)t->batches_that_stepped, t->current_epoch) : VKT_OK;
}

vkt_status vkt__log_eval_step(vkt_trainer *t)
{
    vkt__results *rs = t->stage_results;
    row rw = {.n = 0};
    static char names[256][104];
    vkt_status s = vkt__ddp_sync_steps(t, rs);
    if (s != VKT_OK) {
        return s;
    }
    for (uint32_t i = 0; i < rs->count; i++) {
        vkt__result *r = &rs->items[i];
        if (!r->on_step || !r->has_step || r->step_id != t->log_step_id) {
            continue;
        }
        char key[104];
        forked(key, sizeof key, r, true);
        if (r->prog_bar) {
            if (dict_set_pending(&t->pbar_metrics, key, r->step_value, 1.0) != VKT_OK) {
                return vkt_last_status();
            }
        }
        if (r->logger && rw.n < 256) {
            snprintf(names[rw.n], sizeof names[rw.n], "%s", key);
            if (row_add(&rw, &t->logged_metrics, names[rw.n], r->step_value, 1.0) != VKT_OK) {
                return vkt_last_status();
            }
        }
    }
    if (t->sanity_checking) {
        return VKT_OK;
    }
    /* eval step rows: a running per-dataloader batch counter as the step, and no epoch */
    return row_push(t, &rw, (int64_t)t->eval_step_counter, -1);
}

/* Epoch values of a stage's results into the dicts (and a logger row at `step`). */
static vkt_status log_epoch(vkt_trainer *t, vkt__results *rs, int64_t step, bool push)
{
    row rw = {.n = 0};
    static char names[256][104];
    vkt_status ss = vkt__ddp_sync_results(t, rs);
    if (ss != VKT_OK) {
        return ss;
    }
    /* Results in logging order; Lightning's dicts keep first-insertion order. */
    for (uint32_t i = 0; i < rs->count; i++) {
        vkt__result *r = &rs->items[i];
        if (r->metric && r->count > 0 && r->computed_at != r->count) {
            /* the metric's epoch value, computed on the device now (once: the live pass before
             * on_train_epoch_end and the final push share it unless it was logged in between) */
            int32_t *saved = NULL;
            vkt_status ms = r->sync_dist ? vkt__ddp_metric_sync(t, r->metric, &saved) : VKT_OK;
            vkt_tensor *v = ms == VKT_OK ? vkt_tensor_keep(vkt_metric_compute(r->metric)) : NULL;
            ms = ms == VKT_OK && !v ? vkt_last_status() : ms;
            vkt_status us = vkt__ddp_metric_unsync(t, r->metric, saved);
            if (ms != VKT_OK || us != VKT_OK) {
                vkt_tensor_free(v);
                return ms != VKT_OK ? ms : us;
            }
            vkt_tensor_free(r->acc);
            r->acc = v;
            r->computed_at = r->count;
        }
        if (!r->on_epoch || !r->acc || r->count == 0) {
            continue;
        }
        char key[104];
        forked(key, sizeof key, r, false);
        double sc = epoch_scale(r);
        if (dict_set_pending(&t->callback_metrics, key, epoch_value(r), sc) != VKT_OK) {
            return vkt_last_status();
        }
        if (r->on_step) {
            if (dict_set_pending(&t->callback_metrics, r->name, epoch_value(r), sc) != VKT_OK) {
                return vkt_last_status();
            }
        }
        if (r->prog_bar) {
            if (dict_set_pending(&t->pbar_metrics, key, epoch_value(r), sc) != VKT_OK) {
                return vkt_last_status();
            }
        }
        if (push && r->logger && rw.n < 256) {
            snprintf(names[rw.n], sizeof names[rw.n], "%s", key);
            if (row_add(&rw, &t->logged_metrics, names[rw.n], epoch_value(r), sc) != VKT_OK) {
                return vkt_last_status();
            }
        }
    }
    return push ? row_push(t, &rw, step, t->current_epoch) : VKT_OK;
}

/* The live pass before the epoch-end hooks is their first merge. */
static vkt_status log_epoch_live(vkt_trainer *t, vkt__results *rs)
{
    vkt_status s = log_epoch(t, rs, 0, false);
    t->merged_results = rs;
    t->merged_gen = t->log_gen;
    return s;
}

vkt_status vkt__log_train_epoch_live(vkt_trainer *t)
{
    return log_epoch_live(t, &t->train_results);
}

vkt_status vkt__log_train_epoch(vkt_trainer *t)
{
    return log_epoch(t, &t->train_results, (int64_t)t->batches_that_stepped - 1,
                     !t->sanity_checking);
}

vkt_status vkt__log_eval_epoch_live(vkt_trainer *t)
{
    return log_epoch_live(t, t->stage_results);
}

vkt_status vkt__log_eval_epoch(vkt_trainer *t)
{
    /* the sanity check's values reach the dictionaries (its later hooks read them, as Lightning's
     * merging properties do) but never a logger; the trainer clears the dictionaries after it */
    return log_epoch(t, t->stage_results, (int64_t)t->batches_that_stepped, !t->sanity_checking);
}

void vkt__log_reset_dicts(vkt_trainer *t)
{
    vkt__log_changed(t);
    vkt__mdict_clear(&t->callback_metrics);
    vkt__mdict_clear(&t->logged_metrics);
    vkt__mdict_clear(&t->pbar_metrics);
}
