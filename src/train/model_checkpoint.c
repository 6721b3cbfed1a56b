/*
 * model_checkpoint.c — Lightning's ModelCheckpoint (callbacks/model_checkpoint.py;
 * docs/lightning.md "ModelCheckpoint") as a vkt_callback:
 *   file names from a template ("{epoch}-{step}" -> epoch=0-step=2.ckpt, "{val_loss:.2f}",
 *   "-v1" when the name exists), last.ckpt with save_last, top-k by `monitor` (NaN is the
 *   worst), every_n_epochs / every_n_train_steps, saving in on_train_epoch_end when validation
 *   runs at every epoch end (else in on_validation_end), never under fast_dev_run, outside fit,
 *   while sanity checking or twice at one global step. A save is vkt_trainer_save_checkpoint
 *   (vkt_checkpoint_save: temporary file + rename, never a partial file).
 * The decisions are internal functions tested without a trainer (tests/test_train_io.c):
 * vkt__checkpoint_format_name and the vkt__topk_* bookkeeping.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/train_internal.h"

#define PATH_BYTES 4096

/* ---- file names ---- */

vkt_status vkt__checkpoint_format_name(char *buf, size_t n, const char *tmpl, bool auto_insert,
                                       int64_t epoch, int64_t step, vkt__metric_lookup lookup,
                                       void *ctx)
{
    if (!tmpl || !tmpl[0]) {
        tmpl = "{epoch}-{step}";
    }
    size_t o = 0;
    char piece[1024];
    if (n == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "ModelCheckpoint: no room for a file name");
    }
    buf[0] = '\0';
    for (const char *p = tmpl; *p;) {
        if (*p != '{') {
            if (o + 1 >= n) {
                return vkt__error(VKT_TOO_LARGE, "ModelCheckpoint: file name from '%s' is too long",
                                  tmpl);
            }
            buf[o++] = *p++;
            buf[o] = '\0';
            continue;
        }
        /* "{name" up to the first ':' or '}', then the format spec up to '}' */
        const char *name = p + 1;
        size_t nl = strcspn(name, ":}");
        if (!name[nl]) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "ModelCheckpoint: filename '%s' has an unclosed '{'", tmpl);
        }
        const char *spec = name[nl] == ':' ? name + nl + 1 : "";
        size_t sl = name[nl] == ':' ? strcspn(spec, "}") : 0;
        if (name[nl] == ':' && !spec[sl]) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "ModelCheckpoint: filename '%s' has an unclosed '{'", tmpl);
        }
        char key[256], fmt[64];
        if (nl >= sizeof key || sl >= sizeof fmt) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "ModelCheckpoint: filename '%s' has a metric name or format spec "
                              "longer than %zu bytes",
                              tmpl, nl >= sizeof key ? sizeof key - 1 : sizeof fmt - 1);
        }
        snprintf(key, sizeof key, "%.*s", (int)nl, name);
        snprintf(fmt, sizeof fmt, "%.*s", (int)sl, spec);
        double v = 0;
        bool found = lookup && lookup(ctx, key, &v);
        bool is_int = !found;
        if (strcmp(key, "epoch") == 0 || strcmp(key, "step") == 0) {
            /* _monitor_candidates: a logged epoch/step cast to int, else the trainer's */
            if (found && !(fabs(v) < 9.2e18)) {
                return vkt__error(VKT_INVALID_ARGUMENT,
                                  "ModelCheckpoint: the logged '%s' (%g) is not an integer "
                                  "for filename '%s'",
                                  key, v, tmpl);
            }
            int64_t iv = found ? (int64_t)v : strcmp(key, "epoch") == 0 ? epoch : step;
            v = (double)iv;
            is_int = true;
        } else if (!found) {
            v = 0; /* missing keys format as torch.tensor(0) */
        }
        char val[400];
        vkt_status s = vkt__py_format(val, sizeof val, v, is_int, fmt);
        if (s != VKT_OK) {
            return vkt__error_context("ModelCheckpoint: formatting '{%s:%s}' of filename '%s'", key,
                                      fmt, tmpl);
        }
        snprintf(piece, sizeof piece, "%s%s%s", auto_insert ? key : "", auto_insert ? "=" : "",
                 val);
        size_t pl = strlen(piece);
        if (o + pl + 1 > n) {
            return vkt__error(VKT_TOO_LARGE, "ModelCheckpoint: file name from '%s' is too long",
                              tmpl);
        }
        memcpy(buf + o, piece, pl + 1);
        o += pl;
        p = name + nl + (name[nl] == ':' ? 1 + sl : 0) + 1;
    }
    /* one file in dirpath: a '/' (from the template or an inserted metric name such as
     * "val/loss") would file the checkpoint in a subdirectory, Lightning's stray folders */
    if (strchr(buf, '/')) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "ModelCheckpoint: file name '%s' from filename '%s' contains '/'%s", buf,
                          tmpl,
                          auto_insert ? " (set auto_insert_metric_name=false for metric "
                                        "names with '/')"
                                      : "");
    }
    return VKT_OK;
}

/* ---- top-k bookkeeping ---- */

void vkt__topk_init(vkt__topk *k, bool mode_max, int32_t save_top_k)
{
    *k = (vkt__topk){.mode_max = mode_max, .save_top_k = save_top_k,
                     .kth_value = mode_max ? -INFINITY : INFINITY};
}

void vkt__topk_free(vkt__topk *k)
{
    for (uint32_t i = 0; i < k->count; i++) {
        free(k->paths[i]);
    }
    free(k->paths);
    free(k->scores);
    free(k->kth_best_model_path);
    free(k->best_model_path);
    k->paths = NULL;
    k->scores = NULL;
    k->kth_best_model_path = NULL;
    k->best_model_path = NULL;
    k->count = k->cap = 0;
}

static int32_t topk_find(const vkt__topk *k, const char *path)
{
    for (uint32_t i = 0; path && i < k->count; i++) {
        if (strcmp(k->paths[i], path) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static bool better(const vkt__topk *k, double a, double b)
{
    return k->mode_max ? a > b : a < b; /* torch.gt / torch.lt: false for NaN */
}

bool vkt__topk_check(const vkt__topk *k, double current)
{
    if (k->save_top_k == -1) {
        return true;
    }
    if (k->count < (uint32_t)k->save_top_k) {
        return true;
    }
    int32_t i = topk_find(k, k->kth_best_model_path);
    return i >= 0 && better(k, current, k->scores[i]);
}

static bool set_str(char **dst, const char *s)
{
    char *c = s ? vkt__strdup(s) : NULL;
    if (s && !c) {
        return false;
    }
    free(*dst);
    *dst = c;
    return true;
}

char *vkt__topk_evict(vkt__topk *k)
{
    uint32_t kk = k->save_top_k == -1 ? k->count + 1 : (uint32_t)k->save_top_k;
    if (k->count != kk || kk == 0) {
        return NULL;
    }
    int32_t i = topk_find(k, k->kth_best_model_path);
    if (i < 0) {
        return NULL;
    }
    char *del = k->paths[i];
    memmove(&k->paths[i], &k->paths[i + 1], (k->count - (uint32_t)i - 1) * sizeof *k->paths);
    memmove(&k->scores[i], &k->scores[i + 1], (k->count - (uint32_t)i - 1) * sizeof *k->scores);
    k->count--;
    return del;
}

vkt_status vkt__topk_insert(vkt__topk *k, const char *path, double current, double *stored)
{
    /* k as Lightning computes it before the eviction: len + 1 for save_top_k == -1 */
    if (isnan(current)) {
        current = k->mode_max ? -INFINITY : INFINITY;
    }
    if (stored) {
        *stored = current;
    }
    int32_t at = topk_find(k, path);
    if (at < 0) {
        uint32_t cap = k->cap;
        if (!vkt__grow((void **)&k->paths, &cap, k->count + 1, sizeof *k->paths) ||
            !vkt__grow((void **)&k->scores, &k->cap, k->count + 1, sizeof *k->scores)) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
        }
        char *p = vkt__strdup(path);
        if (!p) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
        }
        at = (int32_t)k->count++;
        k->paths[at] = p;
    }
    k->scores[at] = current;
    uint32_t kk = k->save_top_k == -1 ? k->count : (uint32_t)k->save_top_k;
    if (k->count == kk) {
        /* kth: max for min mode (min for max), the first such in insertion order */
        uint32_t w = 0;
        for (uint32_t i = 1; i < k->count; i++) {
            if (better(k, k->scores[w], k->scores[i])) {
                w = i;
            }
        }
        if (!set_str(&k->kth_best_model_path, k->paths[w])) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
        }
        k->kth_value = k->scores[w];
    }
    uint32_t b = 0;
    for (uint32_t i = 1; i < k->count; i++) {
        if (better(k, k->scores[i], k->scores[b])) {
            b = i;
        }
    }
    if (!set_str(&k->best_model_path, k->paths[b])) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
    }
    k->best_model_score = k->scores[b];
    k->has_best = true;
    return VKT_OK;
}

/* ---- paths ---- */

/* os.path.realpath(os.path.expanduser(p)) for paths that may not exist yet. */
static void real_path(char *out, size_t n, const char *p)
{
    char abs[PATH_BYTES * 2], norm[PATH_BYTES * 2];
    const char *home = getenv("HOME");
    if (p[0] == '~' && (p[1] == '/' || !p[1]) && home) {
        snprintf(abs, sizeof abs, "%s%s", home, p + 1);
    } else if (p[0] == '/') {
        snprintf(abs, sizeof abs, "%s", p);
    } else {
        char cwd[PATH_BYTES];
        if (!getcwd(cwd, sizeof cwd)) {
            snprintf(cwd, sizeof cwd, ".");
        }
        snprintf(abs, sizeof abs, "%s/%s", cwd, p);
    }
    /* lexical normalisation of "//", "/./" and "/../" */
    size_t o = 0;
    norm[0] = '\0';
    for (const char *s = abs; *s;) {
        while (*s == '/') {
            s++;
        }
        size_t l = strcspn(s, "/");
        if (l == 0) {
            break;
        }
        if (l == 1 && s[0] == '.') {
        } else if (l == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && norm[o - 1] != '/') {
                o--;
            }
            if (o > 0) {
                o--;
            }
            norm[o] = '\0';
        } else if (o + l + 2 < sizeof norm) {
            norm[o++] = '/';
            memcpy(norm + o, s, l);
            o += l;
            norm[o] = '\0';
        }
        s += l;
    }
    if (!o) {
        snprintf(norm, sizeof norm, "/");
        o = 1;
    }
    /* resolve symlinks of the longest existing prefix */
    char head[PATH_BYTES * 2];
    snprintf(head, sizeof head, "%s", norm);
    size_t cut = strlen(head);
    while (true) {
        char resolved[PATH_BYTES];
        char saved = head[cut];
        head[cut] = '\0';
        if (realpath(head[0] ? head : "/", resolved)) {
            snprintf(out, n, "%s%s", strcmp(resolved, "/") == 0 && norm[cut] ? "" : resolved,
                     norm + cut);
            return;
        }
        head[cut] = saved;
        char *slash = strrchr(head, '/');
        if (!slash || slash == head) {
            break;
        }
        cut = (size_t)(slash - head);
        head[cut] = '\0';
    }
    snprintf(out, n, "%s", norm);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- the callback ---- */

typedef struct mc {
    vkt_callback cb; /* first */
    char *dirpath_arg;  /* the desc's dirpath, realpath'd; NULL: resolved in setup */
    char *dirpath;
    char *filename;
    char *monitor;
    bool mode_max;
    int32_t save_top_k;
    bool save_last, weights_only, verbose;
    uint32_t every_n_epochs, every_n_train_steps;
    char *state_key;
    vkt__topk topk;
    bool has_current;
    double current_score;
    char *last_model_path;
    char *last_checkpoint_saved;
    uint64_t last_global_step_saved;
    bool val_has_run;
    bool warned_missing;
    vkt_trainer *t;
} mc;

static mc *self(void *ud) { return ud; }

static bool lookup_metric(void *ctx, const char *name, double *value)
{
    mc *m = ctx;
    float v;
    if (!vkt_trainer_metric(m->t, VKT_CALLBACK_METRICS, name, &v)) {
        return false;
    }
    *value = (double)v;
    return true;
}

/* format_checkpoint_name: dirpath/<name>[-v<ver>].ckpt */
static vkt_status checkpoint_path(mc *m, const char *tmpl, int ver, char *out, size_t n)
{
    char name[PATH_BYTES];
    vkt_status s = vkt__checkpoint_format_name(name, sizeof name, tmpl, true,
                                               vkt_trainer_current_epoch(m->t),
                                               (int64_t)vkt_trainer_global_step(m->t),
                                               lookup_metric, m);
    if (s != VKT_OK) {
        return s;
    }
    char v[24] = "";
    if (ver > 0) {
        snprintf(v, sizeof v, "-v%d", ver);
    }
    int len = snprintf(out, n, "%s%s%s%s.ckpt", m->dirpath ? m->dirpath : "",
                       m->dirpath ? "/" : "", name, v);
    if (len < 0 || (size_t)len >= n) {
        return vkt__error(VKT_TOO_LARGE, "ModelCheckpoint: checkpoint path too long");
    }
    return VKT_OK;
}

/* _get_metric_interpolated_filepath_name: the first free name (-v1, -v2, ...). */
/* DDP: rank 0 looks at the files (it writes them; another rank could see rank 0's file of this
 * very save) and every rank takes its name, as Lightning's file_exists broadcasts. */
static vkt_status free_path(mc *m, const char *tmpl, const char *keep, char *out, size_t n)
{
    vkt_status s = checkpoint_path(m, tmpl, 0, out, n);
    for (int ver = 1; s == VKT_OK && file_exists(out) && !(keep && strcmp(out, keep) == 0);
         ver++) {
        s = checkpoint_path(m, tmpl, ver, out, n);
    }
    return s == VKT_OK ? vkt__trainer_broadcast(m->t, out, n) : s;
}

static bool should_remove(mc *m, const char *previous, const char *current)
{
    if (strcmp(previous, current) == 0) {
        return false;
    }
    char prev[PATH_BYTES * 2], dir[PATH_BYTES * 2];
    real_path(prev, sizeof prev, previous);
    const vkt_trainer_desc *d = vkt_trainer_query_desc(m->t);
    if (d && d->ckpt_path) {
        char resume[PATH_BYTES * 2];
        real_path(resume, sizeof resume, d->ckpt_path);
        if (strcmp(resume, prev) == 0) {
            return false; /* the checkpoint this run resumed from */
        }
    }
    real_path(dir, sizeof dir, m->dirpath);
    size_t l = strlen(dir);
    return strncmp(prev, dir, l) == 0 && prev[l] == '/';
}

/* On rank 0 only, as the files are written (DDP: the others share its directory). */
static void remove_checkpoint(const mc *m, const char *path)
{
    if (!vkt_trainer_is_global_zero(m->t)) {
        return;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        vkt__train_warn(m->t, "ModelCheckpoint: cannot remove '%s': %s", path, strerror(errno));
    }
}

static vkt_status save_checkpoint(mc *m, const char *path)
{
    vkt_status s = vkt_trainer_save_checkpoint(m->t, path, m->weights_only);
    if (s != VKT_OK) {
        return s;
    }
    m->last_global_step_saved = vkt_trainer_global_step(m->t);
    if (!set_str(&m->last_checkpoint_saved, path)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
    }
    return VKT_OK;
}

static void say(mc *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(mc *m, const char *fmt, ...)
{
    char line[PATH_BYTES * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    vkt_trainer_print(m->t, "%s\n", line);
}

/* The metric `monitor` of _monitor_candidates (epoch/step are always candidates). */
static bool monitor_value(mc *m, double *v)
{
    if (lookup_metric(m, m->monitor, v)) {
        if (strcmp(m->monitor, "epoch") == 0 || strcmp(m->monitor, "step") == 0) {
            *v = (double)(int64_t)*v;
        }
        return true;
    }
    if (strcmp(m->monitor, "epoch") == 0) {
        *v = vkt_trainer_current_epoch(m->t);
        return true;
    }
    if (strcmp(m->monitor, "step") == 0) {
        *v = (double)vkt_trainer_global_step(m->t);
        return true;
    }
    return false;
}

/* The epoch and step of the verbose messages (candidates, cast to int). */
static void candidate_epoch_step(mc *m, long long *epoch, long long *step)
{
    double v;
    *epoch = lookup_metric(m, "epoch", &v) ? (long long)v
                                           : (long long)vkt_trainer_current_epoch(m->t);
    *step = lookup_metric(m, "step", &v) ? (long long)v
                                         : (long long)vkt_trainer_global_step(m->t);
}

/* "['a', 'b', 'epoch', 'step']": list(monitor_candidates) */
static void candidates_list(mc *m, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, n, "[");
    uint32_t count = vkt_trainer_metrics_count(m->t, VKT_CALLBACK_METRICS);
    bool has_epoch = false, has_step = false, first = true;
    for (uint32_t i = 0; i <= count + 1 && o < n; i++) {
        const char *name = i < count ? vkt_trainer_metric_name(m->t, VKT_CALLBACK_METRICS, i)
                           : i == count ? (has_epoch ? NULL : "epoch")
                                        : (has_step ? NULL : "step");
        if (!name) {
            continue;
        }
        has_epoch = has_epoch || strcmp(name, "epoch") == 0;
        has_step = has_step || strcmp(name, "step") == 0;
        char r[300];
        vkt__py_repr_str(r, sizeof r, name);
        o += (size_t)snprintf(buf + o, n - o, "%s%s", first ? "" : ", ", r);
        first = false;
    }
    if (o < n) {
        snprintf(buf + o, n - o, "]");
    }
}

static vkt_status save_topk(mc *m)
{
    if (m->save_top_k == 0) {
        return VKT_OK;
    }
    char path[PATH_BYTES];
    if (!m->monitor) {
        /* _save_none_monitor_checkpoint: keep only the newest with save_top_k 1 */
        vkt_status s = free_path(m, m->filename, m->topk.best_model_path, path, sizeof path);
        if (s != VKT_OK) {
            return s;
        }
        char *previous = m->topk.best_model_path;
        m->topk.best_model_path = vkt__strdup(path);
        if (!m->topk.best_model_path) {
            m->topk.best_model_path = previous;
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
        }
        s = save_checkpoint(m, path);
        if (s == VKT_OK && m->save_top_k == 1 && previous && previous[0] &&
            should_remove(m, previous, path)) {
            remove_checkpoint(m, previous);
        }
        free(previous);
        return s;
    }
    double current = 0;
    bool have = monitor_value(m, &current);
    if (!have) {
        char list[2048], mon[300];
        candidates_list(m, list, sizeof list);
        vkt__py_repr_str(mon, sizeof mon, m->monitor);
        if (m->val_has_run) {
            return vkt__error(VKT_NOT_FOUND,
                              "`ModelCheckpoint(monitor=%s)` could not find the monitored key in "
                              "the returned metrics: %s. HINT: Did you call `log(%s, value)` in "
                              "the `LightningModule`?",
                              mon, list, mon);
        }
        if (!m->warned_missing) {
            vkt__train_warn(m->t, "`ModelCheckpoint(monitor=%s)` could not find the monitored key in "
                            "the returned metrics: %s. HINT: Did you call `log(%s, value)` in "
                            "the `LightningModule`?",
                            mon, list, mon);
            m->warned_missing = true;
        }
    }
    /* DDP: saved only when every rank's score would save it (Lightning's check_monitor_top_k
     * reduces the decision), so that the ranks keep the same files and names */
    bool save = have && vkt__topk_check(&m->topk, current);
    vkt_status rs = vkt__trainer_reduce_bool(m->t, &save, true);
    if (rs != VKT_OK) {
        return rs;
    }
    if (!save) {
        if (m->verbose) {
            long long epoch, step;
            char mon[300];
            candidate_epoch_step(m, &epoch, &step);
            vkt__py_repr_str(mon, sizeof mon, m->monitor);
            say(m, "Epoch %lld, global step %lld: %s was not in top %d", epoch, step, mon,
                m->save_top_k);
        }
        return VKT_OK;
    }
    /* _update_best_and_save */
    uint32_t k = m->save_top_k == -1 ? m->topk.count + 1 : (uint32_t)m->save_top_k;
    char *del = vkt__topk_evict(&m->topk);
    vkt_status s = free_path(m, m->filename, del, path, sizeof path);
    double stored = current;
    if (s == VKT_OK) {
        s = vkt__topk_insert(&m->topk, path, current, &stored);
    }
    if (s != VKT_OK) {
        free(del);
        return s;
    }
    m->current_score = stored;
    m->has_current = true;
    if (m->verbose) {
        long long epoch, step;
        char mon[300], pth[PATH_BYTES + 8], cur[64], best[64];
        candidate_epoch_step(m, &epoch, &step);
        vkt__py_repr_str(mon, sizeof mon, m->monitor);
        vkt__py_repr_str(pth, sizeof pth, path);
        vkt__py_format(cur, sizeof cur, (double)(float)stored, false, "0.5f");
        vkt__py_format(best, sizeof best, (double)(float)m->topk.best_model_score, false, "0.5f");
        say(m,
            "Epoch %lld, global step %lld: %s reached %s (best %s), saving model to %s as top "
            "%u",
            epoch, step, mon, cur, best, pth, k);
    }
    s = save_checkpoint(m, path);
    if (s == VKT_OK && del && should_remove(m, del, path)) {
        remove_checkpoint(m, del);
    }
    free(del);
    return s;
}

static vkt_status save_last(mc *m)
{
    if (!m->save_last) {
        return VKT_OK;
    }
    char path[PATH_BYTES];
    vkt_status s = free_path(m, "last", m->last_model_path, path, sizeof path);
    if (s != VKT_OK) {
        return s;
    }
    char *previous = m->last_model_path;
    m->last_model_path = vkt__strdup(path);
    if (!m->last_model_path) {
        m->last_model_path = previous;
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
    }
    s = save_checkpoint(m, path);
    if (s == VKT_OK && previous && previous[0] && should_remove(m, previous, path)) {
        remove_checkpoint(m, previous);
    }
    free(previous);
    return s;
}

static bool skip_saving(mc *m)
{
    return vkt_trainer_query_desc(m->t)->fast_dev_run != 0 || vkt_trainer_stage(m->t) != VKT_STAGE_FIT ||
           vkt_trainer_sanity_checking(m->t) ||
           m->last_global_step_saved == vkt_trainer_global_step(m->t);
}

/* Lightning's `val_check_interval == 1.0 and check_val_every_n_epoch == 1`: validation runs at
 * every epoch end. */
static bool val_at_epoch_end(const vkt_trainer *t)
{
    const vkt_trainer_desc *d = vkt_trainer_query_desc(t);
    return d->val_check_interval.count == 0 &&
           (d->val_check_interval.fraction == 0 || d->val_check_interval.fraction == 1.0) &&
           d->check_val_every_n_epoch == 1;
}

static bool save_on_train_epoch_end(mc *m)
{
    const vkt_trainer_desc *d = vkt_trainer_query_desc(m->t);
    if (d && d->check_val_every_n_epoch != 1) {
        return false;
    }
    if (vkt_trainer_num_val_batches(m->t) == 0) {
        return true;
    }
    return val_at_epoch_end(m->t);
}

static vkt_status save_at_epoch(mc *m)
{
    vkt_status s = VKT_OK;
    if (m->every_n_epochs >= 1 && (vkt_trainer_current_epoch(m->t) + 1) % m->every_n_epochs == 0) {
        s = save_topk(m);
    }
    return s == VKT_OK ? save_last(m) : s;
}

static vkt_status mc_setup(vkt_trainer *t, vkt_stage stage, void *ud)
{
    mc *m = self(ud);
    m->t = t;
    char dir[PATH_BYTES];
    if (m->dirpath_arg) {
        snprintf(dir, sizeof dir, "%s", m->dirpath_arg);
    } else {
        const char *root = vkt_trainer_log_dir(t);
        snprintf(dir, sizeof dir, "%s/checkpoints", root && root[0] ? root : ".");
    }
    if (!set_str(&m->dirpath, dir)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory");
    }
    if (stage == VKT_STAGE_FIT && m->save_top_k != 0) {
        DIR *d = opendir(dir);
        if (d) {
            struct dirent *e;
            bool empty = true;
            while (empty && (e = readdir(d)) != NULL) {
                empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
            }
            closedir(d);
            if (!empty) {
                vkt__train_warn(t, "Checkpoint directory %s exists and is not empty.", dir);
            }
        }
    }
    return VKT_OK;
}

static vkt_status mc_train_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                     const vkt_batch *batch, uint32_t batch_idx, void *ud)
{
    (void)outputs;
    (void)batch;
    (void)batch_idx;
    mc *m = self(ud);
    m->t = t;
    if (skip_saving(m) || m->every_n_train_steps < 1 ||
        vkt_trainer_global_step(t) % m->every_n_train_steps != 0) {
        return VKT_OK;
    }
    vkt_status s = save_topk(m);
    return s == VKT_OK ? save_last(m) : s;
}

static vkt_status mc_train_epoch_end(vkt_trainer *t, void *ud)
{
    mc *m = self(ud);
    m->t = t;
    if (skip_saving(m) || !save_on_train_epoch_end(m)) {
        return VKT_OK;
    }
    return save_at_epoch(m);
}

static vkt_status mc_validation_start(vkt_trainer *t, void *ud)
{
    mc *m = self(ud);
    if (!vkt_trainer_sanity_checking(t)) {
        m->val_has_run = false; /* the loop's reset() */
    }
    return VKT_OK;
}

static vkt_status mc_validation_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                          const vkt_batch *batch, uint32_t batch_idx,
                                          uint32_t dl_idx, void *ud)
{
    (void)outputs;
    (void)batch;
    (void)batch_idx;
    (void)dl_idx;
    mc *m = self(ud);
    if (!vkt_trainer_sanity_checking(t)) {
        m->val_has_run = true;
    }
    return VKT_OK;
}

static vkt_status mc_validation_end(vkt_trainer *t, void *ud)
{
    mc *m = self(ud);
    m->t = t;
    if (skip_saving(m) || save_on_train_epoch_end(m)) {
        return VKT_OK;
    }
    return save_at_epoch(m);
}

static vkt_status mc_state_dict(vkt_trainer *t, vkt_dict *st, void *ud)
{
    (void)t;
    mc *m = self(ud);
    /* Python None values are left out */
    vkt_status s = VKT_OK;
    if (m->monitor) {
        s = vkt_dict_set_string(st, "monitor", m->monitor);
    }
    if (s == VKT_OK && m->monitor && m->topk.has_best) {
        s = vkt_dict_set_number(st, "best_model_score", m->topk.best_model_score);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(st, "best_model_path",
                                m->topk.best_model_path ? m->topk.best_model_path : "");
    }
    if (s == VKT_OK && m->has_current) {
        s = vkt_dict_set_number(st, "current_score", m->current_score);
    }
    if (s == VKT_OK && m->dirpath) {
        s = vkt_dict_set_string(st, "dirpath", m->dirpath);
    }
    vkt_dict *best_k = s == VKT_OK ? vkt_dict_child(st, "best_k_models") : NULL;
    if (s == VKT_OK && !best_k) {
        s = vkt_last_status();
    }
    for (uint32_t i = 0; s == VKT_OK && i < m->topk.count; i++) {
        s = vkt_dict_set_number(best_k, m->topk.paths[i], m->topk.scores[i]);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(st, "kth_best_model_path",
                                m->topk.kth_best_model_path ? m->topk.kth_best_model_path : "");
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_number(st, "kth_value", m->topk.kth_value);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(st, "last_model_path",
                                m->last_model_path ? m->last_model_path : "");
    }
    return s;
}

static vkt_status mc_load_state_dict(vkt_trainer *t, const vkt_dict *st, void *ud)
{
    (void)t;
    mc *m = self(ud);
    const char *dir = vkt_dict_get_string(st, "dirpath");
    bool oom = false;
    if (!dir || !m->dirpath || strcmp(dir, m->dirpath) == 0) {
        double v;
        if (vkt_dict_get_number(st, "best_model_score", &v)) {
            m->topk.best_model_score = v;
            m->topk.has_best = true;
        }
        const char *kth = vkt_dict_get_string(st, "kth_best_model_path");
        if (kth) {
            oom |= !set_str(&m->topk.kth_best_model_path, kth);
        }
        if (vkt_dict_get_number(st, "kth_value", &v)) {
            m->topk.kth_value = v;
        }
        const vkt_dict *best_k = vkt_dict_get_child(st, "best_k_models");
        if (best_k) {
            for (uint32_t i = 0; i < m->topk.count; i++) {
                free(m->topk.paths[i]);
            }
            m->topk.count = 0;
            for (uint32_t i = 0; i < vkt_dict_count(best_k) && !oom; i++) {
                vkt__dict_entry e = vkt__dict_at(best_k, i);
                if (e.kind != VKT__DICT_NUMBER) {
                    continue;
                }
                uint32_t cap = m->topk.cap;
                char *p = vkt__strdup(e.key);
                if (!p || !vkt__grow((void **)&m->topk.paths, &cap, m->topk.count + 1,
                                     sizeof *m->topk.paths) ||
                    !vkt__grow((void **)&m->topk.scores, &m->topk.cap, m->topk.count + 1,
                               sizeof *m->topk.scores)) {
                    free(p);
                    oom = true;
                    break;
                }
                m->topk.paths[m->topk.count] = p;
                m->topk.scores[m->topk.count++] = e.number;
            }
        }
        const char *last = vkt_dict_get_string(st, "last_model_path");
        if (last) {
            oom |= !set_str(&m->last_model_path, last);
        }
    } else {
        vkt__train_warn(t, "The dirpath has changed from '%s' to '%s', therefore "
                        "`best_model_score`, `kth_best_model_path`, `kth_value`, "
                        "`last_model_path` and `best_k_models` won't be reloaded. Only "
                        "`best_model_path` will be reloaded.",
                        dir, m->dirpath);
    }
    const char *best = vkt_dict_get_string(st, "best_model_path");
    if (best) {
        oom |= !set_str(&m->topk.best_model_path, best);
    }
    return oom ? vkt__error(VKT_OUT_OF_HOST_MEMORY, "ModelCheckpoint: out of host memory")
               : VKT_OK;
}

vkt_callback *vkt_model_checkpoint_create(const vkt_checkpoint_desc *desc)
{
    vkt_checkpoint_desc d = desc ? *desc : (vkt_checkpoint_desc){0};
    int32_t top_k = d.save_none ? 0 : VKT__DEF(d.save_top_k, 1);
    if (d.mode != VKT_MODE_DEFAULT && d.mode != VKT_MODE_MIN && d.mode != VKT_MODE_MAX) {
        vkt__error(VKT_INVALID_ARGUMENT, "`mode` can be min, max but got %d", (int)d.mode);
        return NULL;
    }
    if (top_k < -1) {
        vkt__error(VKT_INVALID_ARGUMENT, "Invalid value for save_top_k=%d. Must be >= -1", top_k);
        return NULL;
    }
    uint32_t every_epochs = d.every_n_epochs, every_steps = d.every_n_train_steps;
    if (!every_epochs && !every_steps) {
        every_epochs = 1;
    }
    if (every_epochs >= 1 && every_steps >= 1) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "Combination of parameters every_n_train_steps=%u, every_n_epochs=%u and "
                   "train_time_interval=None should be mutually exclusive.",
                   every_steps, every_epochs);
        return NULL;
    }
    if (!d.monitor && top_k != -1 && top_k != 0 && top_k != 1) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "ModelCheckpoint(save_top_k=%d, monitor=None) is not a valid configuration. "
                   "No quantity for top_k to track.",
                   top_k);
        return NULL;
    }
    mc *m = vkt__calloc(1, sizeof *m);
    if (!m) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_model_checkpoint_create: out of host memory");
        return NULL;
    }
    m->mode_max = d.mode == VKT_MODE_MAX;
    m->save_top_k = top_k;
    m->save_last = d.save_last;
    m->weights_only = d.save_weights_only;
    m->verbose = d.verbose;
    m->every_n_epochs = every_epochs;
    m->every_n_train_steps = every_steps;
    vkt__topk_init(&m->topk, m->mode_max, top_k);
    bool ok = true;
    if (d.dirpath && d.dirpath[0]) {
        char real[PATH_BYTES];
        real_path(real, sizeof real, d.dirpath);
        ok = set_str(&m->dirpath_arg, real) && set_str(&m->dirpath, real);
    }
    ok = ok && set_str(&m->filename, d.filename) && set_str(&m->monitor, d.monitor);
    /* state_key: ModelCheckpoint{'monitor': ..., 'mode': ..., ...} (Python repr of the kwargs) */
    char mon[300] = "None";
    if (d.monitor) {
        vkt__py_repr_str(mon, sizeof mon, d.monitor);
    }
    char key[600];
    snprintf(key, sizeof key,
             "ModelCheckpoint{'monitor': %s, 'mode': '%s', 'every_n_train_steps': %u, "
             "'every_n_epochs': %u, 'train_time_interval': None}",
             mon, m->mode_max ? "max" : "min", every_steps, every_epochs);
    ok = ok && set_str(&m->state_key, key);
    if (!ok) {
        vkt_model_checkpoint_destroy(&m->cb);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_model_checkpoint_create: out of host memory");
        return NULL;
    }
    m->cb = (vkt_callback){
        .setup = mc_setup,
        .on_train_batch_end = mc_train_batch_end,
        .on_train_epoch_end = mc_train_epoch_end,
        .on_validation_start = mc_validation_start,
        .on_validation_batch_end = mc_validation_batch_end,
        .on_validation_end = mc_validation_end,
        .state_key = m->state_key,
        .state_dict = mc_state_dict,
        .load_state_dict = mc_load_state_dict,
        .monitoring = true,
        .checkpoint = true,
        .name = "ModelCheckpoint",
        .user_data = m,
    };
    return &m->cb;
}

void vkt_model_checkpoint_destroy(vkt_callback *cb)
{
    mc *m = (mc *)cb;
    if (!m) {
        return;
    }
    vkt__topk_free(&m->topk);
    free(m->dirpath_arg);
    free(m->dirpath);
    free(m->filename);
    free(m->monitor);
    free(m->state_key);
    free(m->last_model_path);
    free(m->last_checkpoint_saved);
    free(m);
}

/* The ModelCheckpoint behind `cb`, or NULL for any other callback: the getters take any. */
static const mc *as_mc(const vkt_callback *cb)
{
    return cb && cb->state_dict == mc_state_dict ? (const mc *)cb : NULL;
}

const char *vkt_model_checkpoint_best_path(const vkt_callback *cb)
{
    const mc *m = as_mc(cb);
    return m && m->topk.best_model_path ? m->topk.best_model_path : "";
}

const char *vkt_model_checkpoint_last_path(const vkt_callback *cb)
{
    const mc *m = as_mc(cb);
    return m && m->last_model_path ? m->last_model_path : "";
}

bool vkt_model_checkpoint_best_score(const vkt_callback *cb, double *score)
{
    const mc *m = as_mc(cb);
    if (!m || !m->monitor || !m->topk.has_best) {
        return false;
    }
    if (score) {
        *score = m->topk.best_model_score;
    }
    return true;
}

const char *vkt_model_checkpoint_kth_best_path(const vkt_callback *cb)
{
    const mc *m = as_mc(cb);
    return m && m->topk.kth_best_model_path ? m->topk.kth_best_model_path : "";
}

uint32_t vkt_model_checkpoint_best_k_count(const vkt_callback *cb)
{
    const mc *m = as_mc(cb);
    return m ? m->topk.count : 0;
}

const char *vkt_model_checkpoint_best_k(const vkt_callback *cb, uint32_t i, double *score)
{
    const mc *m = as_mc(cb);
    if (!m || i >= m->topk.count) {
        return NULL;
    }
    if (score) {
        *score = m->topk.scores[i];
    }
    return m->topk.paths[i];
}
