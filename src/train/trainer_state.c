/*
 * trainer_state.c — the trainer's state in a checkpoint: dump_checkpoint (what ModelCheckpoint
 * and vkt_trainer_save_checkpoint write) and the resume of fit from ckpt_path, every value read
 * back checked first. Key order and load order are Lightning's (docs/lightning.md, "Checkpoint
 * contents"). Tests: tests/test_trainer_flags.c, tests/test_callbacks.c.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "optim/optim_internal.h"
#include "train/trainer_impl.h"

static vkt_status copy_dict(vkt_dict *dst, const vkt_dict *src)
{
    for (uint32_t i = 0; i < vkt_dict_count(src); i++) {
        const char *k = vkt_dict_key(src, i);
        double num;
        const char *str;
        const vkt_dict *child;
        int nd;
        int64_t shape[VKT_MAX_DIMS];
        const float *f;
        vkt_status s = VKT_OK;
        if (vkt_dict_get_number(src, k, &num)) {
            s = vkt_dict_set_number(dst, k, num);
        } else if ((str = vkt_dict_get_string(src, k))) {
            s = vkt_dict_set_string(dst, k, str);
        } else if ((child = vkt_dict_get_child(src, k))) {
            vkt_dict *c = vkt_dict_child(dst, k);
            s = c ? copy_dict(c, child) : vkt_last_status();
        } else if ((f = vkt_dict_get_floats(src, k, &nd, shape))) {
            s = vkt_dict_set_floats(dst, k, f, nd, shape);
        }
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

static vkt_status put_tensor(vkt_dict *d, const char *key, const vkt_tensor *t)
{
    size_t bytes = vkt_tensor_bytes(t);
    float *host = vkt__malloc(bytes ? bytes : 4);
    if (!host) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    vkt_status s = vkt_tensor_download(t, host, bytes);
    if (s == VKT_OK) {
        int64_t shape[VKT_MAX_DIMS];
        for (int i = 0; i < vkt_tensor_ndim(t); i++) {
            shape[i] = vkt_tensor_dim(t, i);
        }
        s = vkt_dict_set_floats(d, key, host, vkt_tensor_ndim(t), shape);
    }
    free(host);
    return s;
}

/* torch's param_groups, as a dict "0", "1", ... of {params: the parameters' numbers (state-dict
 * order, buffers skipped), lr, weight_decay}. */
static vkt_status put_param_groups(vkt_dict *os, const vkt_optimizer *o)
{
    uint32_t n = vkt__optimizer_n_trainable(o);
    int64_t *idx = vkt__malloc((n ? n : 1) * sizeof *idx);
    vkt_dict *pg = idx ? vkt_dict_child(os, "param_groups") : NULL;
    vkt_status s = pg ? VKT_OK : idx ? vkt_last_status()
                                     : vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t g = 0; s == VKT_OK && g < vkt__optimizer_num_groups(o); g++) {
        char key[16];
        snprintf(key, sizeof key, "%u", (unsigned)g);
        vkt_dict *gd = vkt_dict_child(pg, key);
        int64_t count = vkt__optimizer_group_params(o, g, idx);
        s = gd ? vkt_dict_set_ints(gd, "params", idx, 1, &count) : vkt_last_status();
        if (s == VKT_OK) {
            s = vkt_dict_set_number(gd, "lr", vkt_optimizer_lr(o));
        }
        if (s == VKT_OK) {
            s = vkt_dict_set_number(gd, "weight_decay", vkt__optimizer_group_weight_decay(o, g));
        }
    }
    free(idx);
    return s;
}

/*
 * The checkpoint dict in the key order of Lightning's dump_checkpoint: epoch, global_step,
 * "pytorch-lightning_version" (vkt's version), state_dict (every model tensor by name, as f32
 * arrays, read back from the device), loops; unless weights_only: callbacks (each stateful
 * callback's state_dict under its state_key, only when non-empty), optimizer_states,
 * lr_schedulers; then hparams_name / hyper_parameters (with weights_only too). Then the hooks in
 * Lightning's order: every cb.on_save_checkpoint (not for weights_only), then the module's.
 */
static vkt_status dump_checkpoint(vkt_trainer *t, bool weights_only, vkt_dict **out)
{
    *out = NULL;
    vkt_dict *c = vkt_dict_create();
    if (!c) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    vkt_status s = vkt_dict_set_number(c, "epoch", t->current_epoch);
    if (s == VKT_OK) {
        s = vkt_dict_set_number(c, "global_step", (double)t->global_step);
    }
    if (s == VKT_OK) {
        char v[64];
        snprintf(v, sizeof v, "vkt %s", vkt_version());
        s = vkt_dict_set_string(c, "pytorch-lightning_version", v);
    }
    vkt_dict *sd = s == VKT_OK ? vkt_dict_child(c, "state_dict") : NULL;
    if (sd && t->oc.model) {
        s = vkt_model_state_dict(t->oc.model, sd); /* parameters and buffers, torch's order */
    }
    if (s == VKT_OK) {
        vkt_dict *loops = vkt_dict_child(c, "loops");
        vkt_dict *fit = loops ? vkt_dict_child(loops, "fit_loop") : NULL;
        vkt_dict *el = fit ? vkt_dict_child(fit, "epoch_loop.state_dict") : NULL;
        s = el ? vkt_dict_set_number(el, "_batches_that_stepped", (double)t->batches_that_stepped)
               : vkt_last_status();
        if (s == VKT_OK) {
            s = vkt_dict_set_number(fit, "epoch_progress.current.completed", t->current_epoch);
        }
    }
    if (s == VKT_OK && !weights_only) {
        vkt_dict *cbs = vkt_dict_child(c, "callbacks");
        for (uint32_t i = 0; s == VKT_OK && cbs && i < t->n_cbs; i++) {
            vkt_callback *cb = t->cbs[i];
            const char *key = cb->state_key ? cb->state_key : cb->name;
            if (!cb->state_dict || !key) {
                continue;
            }
            vkt_dict *st = vkt_dict_child(cbs, key);
            t->fx = "state_dict";
            s = st ? vkt__hook_check(t, "state_dict", "callback", cb->state_dict(t, st, cb->user_data))
                   : vkt_last_status();
            if (s == VKT_OK && vkt_dict_count(st) == 0) {
                vkt_dict_remove(cbs, key); /* Lightning keeps only truthy states */
            }
        }
        if (s == VKT_OK && t->oc.optimizer) {
            vkt_dict *os = vkt_dict_child(vkt_dict_child(c, "optimizer_states"), "0");
            s = os ? vkt_dict_set_number(os, "step", vkt_optimizer_steps(t->oc.optimizer))
                   : vkt_last_status();
            if (s == VKT_OK) {
                s = vkt_dict_set_number(os, "lr", vkt_optimizer_lr(t->oc.optimizer));
            }
            for (int k = 0; s == VKT_OK && k < 2; k++) {
                vkt_tensor *st = vkt__optimizer_state(t->oc.optimizer, k);
                if (st) {
                    s = put_tensor(os, k ? "exp_avg_sq" : "exp_avg", st);
                }
            }
            if (s == VKT_OK) {
                s = put_param_groups(os, t->oc.optimizer);
            }
        }
        if (s == VKT_OK && t->oc.scheduler) {
            vkt_dict *ls = vkt_dict_child(vkt_dict_child(c, "lr_schedulers"), "0");
            s = ls ? vkt_dict_set_number(ls, "last_epoch", vkt_scheduler_t(t->oc.scheduler))
                   : vkt_last_status();
        }
    }
    /* the hyper-parameters are saved with weights_only too */
    if (s == VKT_OK && t->d.hparams) {
        s = vkt_dict_set_string(c, "hparams_name", "hparams");
        vkt_dict *hp = s == VKT_OK ? vkt_dict_child(c, "hyper_parameters") : NULL;
        s = hp ? copy_dict(hp, t->d.hparams) : (s == VKT_OK ? vkt_last_status() : s);
    }
    /* every cb.on_save_checkpoint (not for weights_only), then the module's */
    const char *fx = "on_save_checkpoint";
    for (uint32_t i = 0; s == VKT_OK && !weights_only && i < t->n_cbs; i++) {
        if (t->cbs[i]->on_save_checkpoint) {
            t->fx = fx;
            s = vkt__hook_check(t, fx, "callback", t->cbs[i]->on_save_checkpoint(t, c, t->cbs[i]->user_data));
        }
    }
    if (s == VKT_OK && t->m && t->m->on_save_checkpoint) {
        t->fx = fx;
        s = vkt__hook_check(t, fx, "module", t->m->on_save_checkpoint(t, c, t->m->user_data));
    }
    if (s != VKT_OK) {
        vkt_dict_destroy(c);
        return s;
    }
    *out = c;
    return VKT_OK;
}


vkt_status vkt_trainer_save_checkpoint(vkt_trainer *t, const char *path, bool weights_only)
{
    if (!t || !path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_save_checkpoint: trainer and path "
                                                "are required");
    }
    if (!vkt_trainer_is_global_zero(t)) {
        return VKT_OK; /* DDP: every rank holds the same state; rank 0 writes it */
    }
    vkt_dict *ckpt = NULL;
    vkt_status s = dump_checkpoint(t, weights_only, &ckpt);
    if (s == VKT_OK) {
        s = vkt_checkpoint_save(ckpt, path);
    }
    vkt_dict_destroy(ckpt);
    return s;
}

/* ---- resume: every value read from the checkpoint is checked ---- */

/* A value of the wrong kind or out of range; `where` is its parent's dotted path ("" at the
 * top). */
static vkt_status bad_value(const vkt_trainer *t, const char *where, const char *key,
                            const char *what)
{
    return vkt__error(VKT_CORRUPT_FILE, "%s: checkpoint value \"%s%s%s\" %s", t->d.ckpt_path,
                      where, where[0] ? "." : "", key, what);
}

/* The dict at `key` of `d`: NULL when absent, an error when `key` holds something else. */
static vkt_status ckpt_child(const vkt_trainer *t, const vkt_dict *d, const char *where,
                             const char *key, const vkt_dict **out)
{
    *out = vkt_dict_get_child(d, key);
    return *out || !vkt_dict_has(d, key) ? VKT_OK : bad_value(t, where, key, "is not a dict");
}

/* An integer from 0 to max at `key` (what Lightning saves there); *present false when absent. */
static vkt_status ckpt_uint(const vkt_trainer *t, const vkt_dict *d, const char *where,
                            const char *key, double max, bool *present, uint64_t *out)
{
    *present = false;
    if (!d || !vkt_dict_has(d, key)) {
        return VKT_OK;
    }
    double v;
    char what[96];
    if (!vkt_dict_get_number(d, key, &v)) {
        return bad_value(t, where, key, "is not a number");
    }
    if (!isfinite(v) || v != floor(v) || v < 0 || v > max) {
        snprintf(what, sizeof what, "is %.17g; it must be an integer from 0 to %.0f", v, max);
        return bad_value(t, where, key, what);
    }
    *present = true;
    *out = (uint64_t)v;
    return VKT_OK;
}

/* The loop and optimizer numbers of a checkpoint, checked. */
typedef struct restored {
    bool has_epoch, has_gs, has_bts, has_step, has_lr, has_last_epoch;
    uint64_t epoch, gs, bts, step, last_epoch;
    double lr;
    const vkt_dict *os, *ls; /* optimizer_states.0, lr_schedulers.0 */
} restored;

/* Checks every value restore_* reads, and those Lightning requires a kind of: the strings,
 * the dicts. Runs before the hooks, and again after them (on_load_checkpoint may edit the
 * checkpoint). */
static vkt_status check_checkpoint(const vkt_trainer *t, const vkt_dict *ckpt, restored *r)
{
    *r = (restored){0};
    static const char *const strings[] = {"pytorch-lightning_version", "hparams_name"};
    for (size_t i = 0; i < VKT__ARRAY_LEN(strings); i++) {
        if (vkt_dict_has(ckpt, strings[i]) && !vkt_dict_get_string(ckpt, strings[i])) {
            return bad_value(t, "", strings[i], "is not a string");
        }
    }
    const vkt_dict *x, *loops, *fit, *el, *oss, *lss, *cbs;
    vkt_status s = ckpt_child(t, ckpt, "", "state_dict", &x);
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "hyper_parameters", &x);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "callbacks", &cbs);
    }
    for (uint32_t i = 0; s == VKT_OK && i < vkt_dict_count(cbs); i++) {
        s = ckpt_child(t, cbs, "callbacks", vkt_dict_key(cbs, i), &x);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "loops", &loops);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, loops, "loops", "fit_loop", &fit);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, fit, "loops.fit_loop", "epoch_loop.state_dict", &el);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "optimizer_states", &oss);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, oss, "optimizer_states", "0", &r->os);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "lr_schedulers", &lss);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, lss, "lr_schedulers", "0", &r->ls);
    }
    /* current_epoch = epoch + 1 is a uint32; steps are counted exactly in a double up to 2^53 */
    const double max_steps = 9007199254740992.0;
    if (s == VKT_OK) {
        s = ckpt_uint(t, ckpt, "", "epoch", (double)UINT32_MAX - 1, &r->has_epoch, &r->epoch);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, ckpt, "", "global_step", max_steps, &r->has_gs, &r->gs);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, el, "loops.fit_loop.epoch_loop.state_dict", "_batches_that_stepped",
                      max_steps, &r->has_bts, &r->bts);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, r->os, "optimizer_states.0", "step", UINT32_MAX, &r->has_step, &r->step);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, r->ls, "lr_schedulers.0", "last_epoch", UINT32_MAX, &r->has_last_epoch,
                      &r->last_epoch);
    }
    if (s == VKT_OK && r->os && vkt_dict_has(r->os, "lr")) {
        r->has_lr = vkt_dict_get_number(r->os, "lr", &r->lr);
        if (!r->has_lr) {
            s = bad_value(t, "optimizer_states.0", "lr", "is not a number");
        } else if (!isfinite(r->lr) || r->lr < 0 || r->lr > FLT_MAX) {
            char what[96];
            snprintf(what, sizeof what, "is %.17g; a learning rate is finite and not negative",
                     r->lr);
            s = bad_value(t, "optimizer_states.0", "lr", what);
        }
    }
    return s;
}

/* The hooks in Lightning's load order. */
vkt_status vkt__restore_hooks(vkt_trainer *t, vkt_dict *ckpt)
{
    restored r;
    vkt_status s = check_checkpoint(t, ckpt, &r);
    if (s != VKT_OK) {
        return s;
    }
    const char *fx = "on_load_checkpoint";
    if (t->m->on_load_checkpoint) {
        t->fx = fx;
        s = vkt__hook_check(t, fx, "module", t->m->on_load_checkpoint(t, ckpt, t->m->user_data));
    }
    for (uint32_t i = 0; s == VKT_OK && i < t->n_cbs; i++) {
        if (t->cbs[i]->on_load_checkpoint) {
            t->fx = fx;
            s = vkt__hook_check(t, fx, "callback",
                      t->cbs[i]->on_load_checkpoint(t, ckpt, t->cbs[i]->user_data));
        }
    }
    const vkt_dict *cbs = vkt_dict_get_child(ckpt, "callbacks");
    for (uint32_t i = 0; s == VKT_OK && cbs && i < vkt_dict_count(cbs); i++) {
        const char *key = vkt_dict_key(cbs, i);
        bool found = false;
        for (uint32_t j = 0; j < t->n_cbs; j++) {
            const char *k = t->cbs[j]->state_key ? t->cbs[j]->state_key : t->cbs[j]->name;
            found |= k && strcmp(k, key) == 0;
        }
        if (!found) {
            vkt_trainer_print(t, "warning: the checkpoint has state for callback \"%s\", which "
                                  "this trainer does not have\n",
                               key);
        }
    }
    for (uint32_t i = 0; s == VKT_OK && i < t->n_cbs; i++) {
        vkt_callback *cb = t->cbs[i];
        const char *key = cb->state_key ? cb->state_key : cb->name;
        const vkt_dict *st = cbs && key ? vkt_dict_get_child(cbs, key) : NULL;
        if (cb->load_state_dict && st && vkt_dict_count(st) > 0) {
            t->fx = "load_state_dict";
            s = vkt__hook_check(t, "load_state_dict", "callback", cb->load_state_dict(t, st, cb->user_data));
        }
    }
    return s;
}

static vkt_status get_floats_into(const vkt_dict *d, const char *key, vkt_tensor *dst,
                                  const char *path)
{
    int nd;
    int64_t shape[VKT_MAX_DIMS];
    const float *f = vkt_dict_get_floats(d, key, &nd, shape);
    int64_t n = 1;
    for (int i = 0; f && i < nd; i++) {
        n *= shape[i];
    }
    if (!f || n != vkt_tensor_numel(dst)) {
        return vkt__error(VKT_CORRUPT_FILE, "%s: \"%s\" is missing or has %lld values where the "
                                            "model has %lld",
                          path, key, f ? (long long)n : 0LL, (long long)vkt_tensor_numel(dst));
    }
    return vkt_tensor_upload(dst, f, (size_t)n * sizeof(float));
}

vkt_status vkt__load_state_dict(const vkt_dict *ckpt, vkt_model *m, const char *path)
{
    const vkt_dict *sd = vkt_dict_get_child(ckpt, "state_dict");
    if (!sd) {
        return vkt__error(VKT_CORRUPT_FILE, "%s: the checkpoint has no state_dict", path);
    }
    vkt_status s = vkt_model_load_state_dict(m, sd);
    if (s == VKT_NOT_FOUND || s == VKT_SHAPE_MISMATCH) { /* a checkpoint of another model */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vkt_last_error());
        s = vkt__error(VKT_CORRUPT_FILE, "%s: the state_dict does not fit the model: %s", path,
                       msg);
    }
    return s;
}

vkt_status vkt__restore_weights(vkt_trainer *t, const vkt_dict *ckpt)
{
    if (!vkt_dict_get_child(ckpt, "state_dict") || !t->oc.model) {
        return vkt__error(VKT_CORRUPT_FILE, "%s: no state_dict, or no model from "
                                            "configure_optimizers to load it into",
                          t->d.ckpt_path);
    }
    return vkt__load_state_dict(ckpt, t->oc.model, t->d.ckpt_path);
}

/* Describes group g of the optimizer or of the checkpoint: "N parameters, weight_decay W". */
static void describe_group(char *buf, size_t size, uint32_t count, double wd)
{
    snprintf(buf, size, "%u parameters, weight_decay %g", (unsigned)count, wd);
}

/* The checkpoint's param_groups (absent in files written before them: nothing to check) must be
 * the optimizer's: as many groups, each with the same parameters and weight decay. */
static vkt_status match_param_groups(const vkt_trainer *t, const vkt_dict *os,
                                     const vkt_optimizer *o)
{
    const vkt_dict *pg;
    vkt_status s = ckpt_child(t, os, "optimizer_states.0", "param_groups", &pg);
    if (s != VKT_OK || !pg) {
        return s;
    }
    uint32_t ng = vkt__optimizer_num_groups(o), n = vkt__optimizer_n_trainable(o);
    int64_t *idx = vkt__malloc((n ? n : 1) * sizeof *idx);
    if (!idx) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    const char *hint = "(vkt_optim_desc.no_decay and the parameter roles must be those of the "
                       "run that saved it)";
    if (vkt_dict_count(pg) != ng) {
        s = vkt__error(VKT_CORRUPT_FILE,
                       "%s: the checkpoint's optimizer has %u param_groups but this optimizer "
                       "has %u %s",
                       t->d.ckpt_path, (unsigned)vkt_dict_count(pg), (unsigned)ng, hint);
    }
    for (uint32_t g = 0; s == VKT_OK && g < ng; g++) {
        char key[16], where[64];
        snprintf(key, sizeof key, "%u", (unsigned)g);
        snprintf(where, sizeof where, "optimizer_states.0.param_groups");
        const vkt_dict *gd;
        s = ckpt_child(t, pg, where, key, &gd);
        if (s == VKT_OK && !gd) {
            s = bad_value(t, where, key, "is missing");
        }
        int nd = 0;
        int64_t shape[VKT_MAX_DIMS] = {0};
        const float *f = s == VKT_OK ? vkt_dict_get_floats(gd, "params", &nd, shape) : NULL;
        double wd = 0;
        snprintf(where, sizeof where, "optimizer_states.0.param_groups.%u", (unsigned)g);
        if (s == VKT_OK && (!f || nd != 1)) {
            s = bad_value(t, where, "params", "is not a list of parameter numbers");
        }
        if (s == VKT_OK && !vkt_dict_get_number(gd, "weight_decay", &wd)) {
            s = bad_value(t, where, "weight_decay", "is missing or not a number");
        }
        if (s != VKT_OK) {
            break;
        }
        uint32_t count = vkt__optimizer_group_params(o, g, idx);
        bool same = shape[0] == (int64_t)count &&
                    (float)wd == vkt__optimizer_group_weight_decay(o, g);
        for (uint32_t i = 0; same && i < count; i++) {
            same = f[i] == (float)idx[i];
        }
        if (!same) {
            char want[96], got[96];
            describe_group(got, sizeof got, (uint32_t)shape[0], wd);
            describe_group(want, sizeof want, count, vkt__optimizer_group_weight_decay(o, g));
            s = vkt__error(VKT_CORRUPT_FILE,
                           "%s: param_groups[%u] of the checkpoint's optimizer (%s) is not this "
                           "optimizer's (%s) %s",
                           t->d.ckpt_path, (unsigned)g, got, want, hint);
        }
    }
    free(idx);
    return s;
}

vkt_status vkt__restore_training_state(vkt_trainer *t, const vkt_dict *ckpt)
{
    const char *path = t->d.ckpt_path;
    restored r;
    vkt_status s = check_checkpoint(t, ckpt, &r);
    if (s == VKT_OK && r.os && t->oc.optimizer) {
        s = match_param_groups(t, r.os, t->oc.optimizer);
    }
    if (s == VKT_OK && r.os && t->oc.optimizer) {
        if (r.has_lr) {
            vkt_optimizer_set_lr(t->oc.optimizer, (float)r.lr);
        }
        vkt__optimizer_set_steps(t->oc.optimizer, r.has_step ? (uint32_t)r.step : 0);
        for (int k = 0; s == VKT_OK && k < 2; k++) {
            vkt_tensor *st = vkt__optimizer_state(t->oc.optimizer, k);
            if (st) {
                s = get_floats_into(r.os, k ? "exp_avg_sq" : "exp_avg", st, path);
            }
        }
    }
    if (s == VKT_OK && r.ls && t->oc.scheduler && r.has_last_epoch) {
        vkt__scheduler_set_t(t->oc.scheduler, (uint32_t)r.last_epoch);
    }
    if (s != VKT_OK) {
        return s;
    }
    /* saved at the end of epoch e: resume with epoch e + 1 */
    t->current_epoch = (uint32_t)r.epoch + 1;
    t->global_step = r.gs;
    t->batches_that_stepped = r.has_bts ? r.bts : r.gs;
    return VKT_OK;
}
