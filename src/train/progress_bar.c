/*
 * progress_bar.c — Lightning's TQDMProgressBar (callbacks/progress/tqdm_progress.py;
 * docs/lightning.md "Progress bar") as a vkt_callback:
 *   Epoch 1: 100%|██████████| 2/2 [00:00<00:00, 337.30it/s, v_num=0, train_loss=0.0569]
 * On a terminal the bars are redrawn in place with '\r' as tqdm does: the main bar (reused every
 * epoch, left on screen), the validation bar under it and the sanity-check bar (both erased when
 * done), and the test / predict bars. When the stream is not a terminal it prints one plain line
 * per epoch instead (at on_train_epoch_end, after validation, in the same format) and one line
 * per validate / test / predict run.
 *
 * Reading metrics may read the device, so the postfix (v_num and the progress-bar metrics) is
 * refreshed at most every 0.25 s of wall time during an epoch, plus at validation and epoch end;
 * frames are drawn at most every 0.05 s (and always at the last batch). Without a terminal no
 * metric is read before epoch end.
 * The line formatting (vkt__format_meter, vkt__format_postfix) is tested in
 * tests/test_train_io.c.
 */
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "train/train_internal.h"

#define POSTFIX_INTERVAL 0.25 /* seconds between metric reads for the postfix */
#define DRAW_INTERVAL 0.05    /* seconds between frames (tqdm's miniters/mininterval spirit) */
#define LINE_MAX_BYTES 8192

/* ---- line formatting (tqdm.format_meter) ---- */

static const char *const BAR_UTF[9] = {
    " ",            "\xe2\x96\x8f", "\xe2\x96\x8e", "\xe2\x96\x8d", "\xe2\x96\x8c",
    "\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89", "\xe2\x96\x88",
};

typedef struct out {
    char *p;
    size_t n, len;
} out;

static void put(out *o, const char *s)
{
    size_t l = strlen(s);
    if (o->len + l + 1 > o->n) {
        l = o->n > o->len + 1 ? o->n - o->len - 1 : 0;
    }
    memcpy(o->p + o->len, s, l);
    o->len += l;
    o->p[o->len] = '\0';
}

/* Trims a UTF-8 string to `cols` code points (tqdm's disp_trim). */
static void trim_display(char *s, size_t cols)
{
    size_t count = 0;
    for (char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (count == cols) {
                *p = '\0';
                return;
            }
            count++;
        }
    }
}

void vkt__format_meter(char *buf, size_t n, const char *desc, uint64_t count, int64_t total,
                       double elapsed, const char *postfix, int ncols)
{
    if (!n) {
        return;
    }
    if (total >= 0 && (double)count >= (double)total + 0.5) {
        total = -1; /* "if total and n >= (total + 0.5): total = None" */
    }
    char elapsed_s[32], remaining_s[32], rate_s[32], counts[64];
    vkt__format_interval(elapsed_s, sizeof elapsed_s, elapsed);
    double rate = elapsed > 0 ? (double)count / elapsed : 0;
    if (rate > 0) {
        snprintf(rate_s, sizeof rate_s, "%5.2fit/s", rate);
        vkt__c_decimal_point(rate_s);
        double remaining = total > 0 ? ((double)total - (double)count) / rate : 0;
        vkt__format_interval(remaining_s, sizeof remaining_s, remaining);
    } else {
        snprintf(rate_s, sizeof rate_s, "?it/s");
        snprintf(remaining_s, sizeof remaining_s, "?");
    }
    if (total >= 0) {
        snprintf(counts, sizeof counts, "%llu/%lld", (unsigned long long)count,
                 (long long)total);
    } else {
        snprintf(counts, sizeof counts, "%llu/?", (unsigned long long)count);
    }

    /* l_bar */
    char l_bar[512];
    size_t dl = desc ? strlen(desc) : 0;
    if (!dl) {
        l_bar[0] = '\0';
    } else if (dl >= 2 && desc[dl - 2] == ':' && desc[dl - 1] == ' ') {
        snprintf(l_bar, sizeof l_bar, "%s", desc);
    } else {
        snprintf(l_bar, sizeof l_bar, "%s: ", desc);
    }
    size_t lb = strlen(l_bar);
    double frac = 0;
    if (total > 0) {
        frac = (double)count / (double)total;
        char pct[16];
        snprintf(pct, sizeof pct, "%3.0f%%|", frac * 100);
        snprintf(l_bar + lb, sizeof l_bar - lb, "%s", pct);
    } else {
        snprintf(l_bar + lb, sizeof l_bar - lb, "|");
    }

    /* r_bar: "| n/total [elapsed<remaining, rate, postfix]" */
    char *r_bar = vkt__malloc(LINE_MAX_BYTES);
    if (!r_bar) {
        buf[0] = '\0';
        return;
    }
    snprintf(r_bar, LINE_MAX_BYTES, "| %s [%s<%s, %s%s%s]", counts, elapsed_s, remaining_s,
             rate_s, postfix && postfix[0] ? ", " : "", postfix ? postfix : "");

    size_t nobar = vkt__display_len(l_bar) + vkt__display_len(r_bar);
    int width = ncols > 0 ? ((size_t)ncols > nobar + 1 ? (int)((size_t)ncols - nobar) : 1) : 10;
    out o = {buf, n, 0};
    buf[0] = '\0';
    put(&o, l_bar);
    if (total > 0) {
        /* tqdm's Bar with the UTF charset: full blocks, one partial block, spaces */
        long long cells = (long long)(frac * width * 8);
        long long full = cells / 8, part = cells % 8;
        for (long long i = 0; i < full && i < width; i++) {
            put(&o, BAR_UTF[8]);
        }
        if (full < width) {
            put(&o, BAR_UTF[part]);
            for (long long i = full + 1; i < width; i++) {
                put(&o, " ");
            }
        }
    } else {
        for (int i = 0; i < width; i++) {
            put(&o, " ");
        }
    }
    put(&o, r_bar);
    free(r_bar);
    if (ncols > 0) {
        trim_display(buf, (size_t)ncols);
    }
}

/* ---- postfix (tqdm.set_postfix of Lightning's get_metrics) ---- */

static void format_v_num(char *buf, size_t n, const char *v)
{
    size_t len = strlen(v);
    if (len > 0 && len <= 18 && strspn(v, "0123456789") == len) {
        vkt__format_num(buf, n, (double)atoll(v), true); /* an int version */
    } else {
        snprintf(buf, n, "%s", len > 4 ? v + len - 4 : v); /* str: its last 4 characters */
    }
}

void vkt__format_postfix(char *buf, size_t n, const char *v_num, const char *const *names,
                         const double *values, uint32_t count)
{
    out o = {buf, n, 0};
    if (!n) {
        return;
    }
    buf[0] = '\0';
    char val[64];
    bool first = true;
    /* {"v_num": version, **progress_bar_metrics}: a metric named v_num keeps v_num's place */
    int32_t vnum_metric = -1;
    for (uint32_t i = 0; i < count; i++) {
        if (names[i] && strcmp(names[i], "v_num") == 0) {
            vnum_metric = (int32_t)i;
        }
    }
    if (v_num && v_num[0]) {
        if (vnum_metric >= 0) {
            vkt__format_num(val, sizeof val, values[vnum_metric], false);
        } else {
            format_v_num(val, sizeof val, v_num);
        }
        put(&o, "v_num=");
        put(&o, val);
        first = false;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (!names[i] || ((int32_t)i == vnum_metric && v_num && v_num[0])) {
            continue;
        }
        vkt__format_num(val, sizeof val, values[i], false);
        if (!first) {
            put(&o, ", ");
        }
        put(&o, names[i]);
        put(&o, "=");
        put(&o, val);
        first = false;
    }
}

/* ---- the callback ---- */

typedef struct bar {
    bool open;      /* created and not closed */
    bool shown;     /* something of it is on the terminal */
    char desc[96];
    uint64_t n;
    int64_t total;  /* < 0: unknown */
    double start;
    double last_draw;
    int pos;        /* terminal line below the cursor's line */
    bool leave;
    size_t last_len;
} bar;

typedef struct pbar {
    vkt_callback cb; /* first: vkt_callback * <-> pbar * */
    uint32_t refresh_rate;
    FILE *desc_stream;
    vkt_flag tty_flag;
    FILE *fp;
    bool tty;
    vkt_trainer *t;
    bar main, val, test, predict;
    int64_t eval_dl; /* Lightning's _current_eval_dataloader_idx; -1: none */
    char *postfix;
    double last_postfix;
} pbar;

static int term_cols(pbar *p)
{
    struct winsize ws;
    if (ioctl(fileno(p->fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    const char *c = getenv("COLUMNS");
    return c && atoi(c) > 1 ? atoi(c) - 1 : 0;
}

/* tqdm's status printer: '\r' + line, padded with spaces over the previous longer line. */
static void print_status(pbar *p, bar *b, const char *s)
{
    size_t len = vkt__display_len(s);
    for (int i = 0; i < b->pos; i++) {
        fputc('\n', p->fp);
    }
    fputc('\r', p->fp);
    fputs(s, p->fp);
    for (size_t i = len; i < b->last_len; i++) {
        fputc(' ', p->fp);
    }
    for (int i = 0; i < b->pos; i++) {
        fputs("\x1b[A", p->fp);
    }
    b->last_len = len;
    b->shown = true;
}

static void line_of(pbar *p, bar *b, char *line, size_t n, int ncols, bool with_postfix)
{
    vkt__format_meter(line, n, b->desc, b->n, b->total, vkt__now() - b->start,
                      with_postfix ? p->postfix : "", ncols);
}

static void draw(pbar *p, bar *b, bool force)
{
    if (!p->tty || !b->open) {
        return;
    }
    double now = vkt__now();
    if (!force && now - b->last_draw < DRAW_INTERVAL) {
        return;
    }
    b->last_draw = now;
    char line[LINE_MAX_BYTES];
    line_of(p, b, line, sizeof line, term_cols(p), b == &p->main);
    print_status(p, b, line);
    fflush(p->fp);
}

static void bar_open(bar *b, const char *desc, int pos, bool leave)
{
    *b = (bar){.open = true, .total = -1, .pos = pos, .leave = leave, .start = vkt__now(),
               .last_draw = -1e30};
    snprintf(b->desc, sizeof b->desc, "%s", desc);
}

static void bar_reset(bar *b, int64_t total, const char *desc)
{
    b->n = 0;
    b->total = total;
    b->start = vkt__now();
    b->last_draw = -1e30;
    snprintf(b->desc, sizeof b->desc, "%s", desc);
}

/* tqdm.close: a leave bar shows its last frame and ends its line; others are erased. */
static void bar_close(pbar *p, bar *b)
{
    if (!b->open) {
        return;
    }
    if (p->tty) {
        if (b->leave) {
            char line[LINE_MAX_BYTES];
            line_of(p, b, line, sizeof line, term_cols(p), b == &p->main);
            print_status(p, b, line);
            fputc('\n', p->fp);
        } else if (b->shown) {
            print_status(p, b, "");
            if (!b->pos) {
                fputc('\r', p->fp);
            }
        }
        fflush(p->fp);
    } else if (b->leave && b != &p->main) {
        /* validate / test / predict without a terminal: their one line */
        char line[LINE_MAX_BYTES];
        line_of(p, b, line, sizeof line, 0, false);
        fprintf(p->fp, "%s\n", line);
        fflush(p->fp);
    }
    b->open = false;
}

static const char *loggers_version(pbar *p, char *buf, size_t n)
{
    if (vkt_trainer_query_desc(p->t)->fast_dev_run != 0) {
        return NULL; /* DummyLogger: version "" */
    }
    const vkt_trainer_desc *d = vkt_trainer_query_desc(p->t);
    uint32_t count = 0;
    for (uint32_t i = 0; d && i < VKT_MAX_LOGGERS; i++) {
        count += d->loggers[i] != NULL;
    }
    if (count < 2) {
        vkt_logger *l = vkt_trainer_logger(p->t);
        const char *v = l && l->version ? l->version(l->user_data) : NULL;
        snprintf(buf, n, "%s", v ? v : "");
        return buf;
    }
    /* several loggers: their distinct versions joined with "_" (a str: last 4 shown) */
    out o = {buf, n, 0};
    buf[0] = '\0';
    for (uint32_t i = 0; i < VKT_MAX_LOGGERS; i++) {
        vkt_logger *l = d->loggers[i];
        const char *v = l && l->version ? l->version(l->user_data) : NULL;
        v = v ? v : "None";
        bool dup = false;
        for (uint32_t j = 0; j < i && !dup; j++) {
            vkt_logger *m = d->loggers[j];
            const char *w = m && m->version ? m->version(m->user_data) : NULL;
            dup = m && strcmp(w ? w : "None", v) == 0;
        }
        if (!l || dup) {
            continue;
        }
        if (o.len) {
            put(&o, "_");
        }
        put(&o, v);
    }
    if (strspn(buf, "0123456789") == strlen(buf) && strlen(buf) > 4) {
        memmove(buf, buf + strlen(buf) - 4, 5); /* keep it a str: digits would read as an int */
    }
    return buf;
}

/* get_metrics -> set_postfix. Reads the metrics (maybe the device). */
static void refresh_postfix(pbar *p)
{
    p->last_postfix = vkt__now();
    uint32_t n = vkt_trainer_metrics_count(p->t, VKT_PROGRESS_BAR_METRICS);
    const char **names = vkt__calloc(n ? n : 1, sizeof *names);
    double *values = vkt__calloc(n ? n : 1, sizeof *values);
    if (!names || !values) {
        free(names);
        free(values);
        return;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *name = vkt_trainer_metric_name(p->t, VKT_PROGRESS_BAR_METRICS, i);
        float v;
        if (name && vkt_trainer_metric(p->t, VKT_PROGRESS_BAR_METRICS, name, &v)) {
            names[k] = name;
            values[k++] = (double)v;
        }
    }
    char version[128];
    const char *v_num = loggers_version(p, version, sizeof version);
    vkt__format_postfix(p->postfix, LINE_MAX_BYTES, v_num, names, values, k);
    free(names);
    free(values);
}

static pbar *self(void *ud) { return ud; }

static vkt_status pb_setup(vkt_trainer *t, vkt_stage stage, void *ud)
{
    (void)stage;
    pbar *p = self(ud);
    p->t = t;
    p->fp = p->desc_stream;
    if (!p->fp) {
        const vkt_trainer_desc *d = vkt_trainer_query_desc(t);
        p->fp = d && d->progress_stream ? d->progress_stream : stdout;
    }
    p->tty = p->tty_flag == VKT_FLAG_ON ||
             (p->tty_flag == VKT_FLAG_DEFAULT && isatty(fileno(p->fp)));
    p->eval_dl = -1;
    p->postfix[0] = '\0';
    return VKT_OK;
}

static bool should_update(const pbar *p, uint64_t current, int64_t total)
{
    return current % p->refresh_rate == 0 || (total >= 0 && current == (uint64_t)total);
}

static vkt_status pb_sanity_start(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_open(&p->val, "Sanity Checking", 0, false);
    p->eval_dl = -1;
    return VKT_OK;
}

static vkt_status pb_sanity_end(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_close(p, &p->val);
    return VKT_OK;
}

static vkt_status pb_train_start(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_open(&p->main, "Training", 0, true);
    p->postfix[0] = '\0';
    p->last_postfix = -1e30;
    return VKT_OK;
}

static vkt_status pb_train_epoch_start(vkt_trainer *t, void *ud)
{
    pbar *p = self(ud);
    if (!p->main.open) {
        pb_train_start(t, ud);
    }
    const vkt_trainer_desc *d = vkt_trainer_query_desc(t);
    int64_t total = vkt_trainer_num_training_batches(t);
    if (d && d->max_epochs == -1 && d->max_steps > 0) {
        int64_t left = d->max_steps - (int64_t)vkt_trainer_global_step(t);
        total = left < total ? left : total;
    }
    char desc[64];
    snprintf(desc, sizeof desc, "Epoch %u", vkt_trainer_current_epoch(t));
    bar_reset(&p->main, total, desc);
    draw(p, &p->main, true);
    return VKT_OK;
}

static vkt_status pb_train_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                     const vkt_batch *batch, uint32_t batch_idx, void *ud)
{
    (void)t;
    (void)outputs;
    (void)batch;
    pbar *p = self(ud);
    uint64_t n = (uint64_t)batch_idx + 1;
    if (!p->main.open || !should_update(p, n, p->main.total)) {
        return VKT_OK;
    }
    p->main.n = n;
    if (p->tty) {
        if (vkt__now() - p->last_postfix >= POSTFIX_INTERVAL) {
            refresh_postfix(p);
        }
        draw(p, &p->main, p->main.total >= 0 && n == (uint64_t)p->main.total);
    }
    return VKT_OK;
}

static vkt_status pb_train_epoch_end(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    if (!p->main.open) {
        return VKT_OK;
    }
    refresh_postfix(p);
    if (p->tty) {
        draw(p, &p->main, true);
    } else {
        char line[LINE_MAX_BYTES];
        line_of(p, &p->main, line, sizeof line, 0, true);
        fprintf(p->fp, "%s\n", line);
        fflush(p->fp);
    }
    return VKT_OK;
}

static vkt_status pb_train_end(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_close(p, &p->main);
    return VKT_OK;
}

static vkt_status pb_validation_start(vkt_trainer *t, void *ud)
{
    pbar *p = self(ud);
    if (!vkt_trainer_sanity_checking(t)) {
        bool fit = vkt_trainer_stage(t) == VKT_STAGE_FIT; /* has_main_bar */
        bar_open(&p->val, "Validation", fit ? 1 : 0, !fit);
    }
    return VKT_OK;
}

/* on_*_batch_start: a new dataloader resets the bar (has_dataloader_changed). */
static void eval_batch_start(pbar *p, bar *b, const char *what, uint32_t dl_idx)
{
    if (!b->open || p->eval_dl == (int64_t)dl_idx) {
        return;
    }
    p->eval_dl = dl_idx;
    char desc[96];
    snprintf(desc, sizeof desc, "%s DataLoader %u", what, dl_idx);
    bar_reset(b, vkt_trainer_num_eval_batches(p->t), desc);
    draw(p, b, true);
}

static void eval_batch_end(pbar *p, bar *b, uint32_t batch_idx)
{
    uint64_t n = (uint64_t)batch_idx + 1;
    if (b->open && should_update(p, n, b->total)) {
        b->n = n;
        draw(p, b, b->total >= 0 && n == (uint64_t)b->total);
    }
}

static vkt_status pb_validation_batch_start(vkt_trainer *t, const vkt_batch *batch,
                                            uint32_t batch_idx, uint32_t dl_idx, void *ud)
{
    (void)batch;
    (void)batch_idx;
    pbar *p = self(ud);
    eval_batch_start(p, &p->val,
                     vkt_trainer_sanity_checking(t) ? "Sanity Checking" : "Validation", dl_idx);
    return VKT_OK;
}

static vkt_status pb_validation_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                          const vkt_batch *batch, uint32_t batch_idx,
                                          uint32_t dl_idx, void *ud)
{
    (void)t;
    (void)outputs;
    (void)batch;
    (void)dl_idx;
    pbar *p = self(ud);
    eval_batch_end(p, &p->val, batch_idx);
    return VKT_OK;
}

static vkt_status pb_validation_end(vkt_trainer *t, void *ud)
{
    pbar *p = self(ud);
    if (p->main.open && vkt_trainer_stage(t) == VKT_STAGE_FIT && !vkt_trainer_sanity_checking(t) &&
        p->tty) {
        refresh_postfix(p); /* without a terminal the epoch line reads them at epoch end */
        draw(p, &p->main, true);
    }
    bar_close(p, &p->val);
    p->eval_dl = -1;
    return VKT_OK;
}

static vkt_status pb_test_start(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_open(&p->test, "Testing", 0, true);
    return VKT_OK;
}

static vkt_status pb_test_batch_start(vkt_trainer *t, const vkt_batch *batch, uint32_t batch_idx,
                                      uint32_t dl_idx, void *ud)
{
    (void)t;
    (void)batch;
    (void)batch_idx;
    pbar *p = self(ud);
    eval_batch_start(p, &p->test, "Testing", dl_idx);
    return VKT_OK;
}

static vkt_status pb_test_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                    const vkt_batch *batch, uint32_t batch_idx, uint32_t dl_idx,
                                    void *ud)
{
    (void)t;
    (void)outputs;
    (void)batch;
    (void)dl_idx;
    pbar *p = self(ud);
    eval_batch_end(p, &p->test, batch_idx);
    return VKT_OK;
}

static vkt_status pb_test_end(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_close(p, &p->test);
    p->eval_dl = -1;
    return VKT_OK;
}

static vkt_status pb_predict_start(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_open(&p->predict, "Predicting", 0, true);
    return VKT_OK;
}

static vkt_status pb_predict_batch_start(vkt_trainer *t, const vkt_batch *batch,
                                         uint32_t batch_idx, uint32_t dl_idx, void *ud)
{
    (void)t;
    (void)batch;
    (void)batch_idx;
    pbar *p = self(ud);
    eval_batch_start(p, &p->predict, "Predicting", dl_idx);
    return VKT_OK;
}

static vkt_status pb_predict_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                       const vkt_batch *batch, uint32_t batch_idx,
                                       uint32_t dl_idx, void *ud)
{
    (void)t;
    (void)outputs;
    (void)batch;
    (void)dl_idx;
    pbar *p = self(ud);
    eval_batch_end(p, &p->predict, batch_idx);
    return VKT_OK;
}

static vkt_status pb_predict_end(vkt_trainer *t, void *ud)
{
    (void)t;
    pbar *p = self(ud);
    bar_close(p, &p->predict);
    p->eval_dl = -1;
    return VKT_OK;
}

/* A failed run: end the terminal line the bars are on so the error prints below them. */
static void pb_exception(vkt_trainer *t, vkt_status status, void *ud)
{
    (void)t;
    (void)status;
    pbar *p = self(ud);
    bar *bars[] = {&p->main, &p->val, &p->test, &p->predict};
    bool shown = false;
    for (size_t i = 0; i < VKT__ARRAY_LEN(bars); i++) {
        shown = shown || (bars[i]->open && bars[i]->shown);
        bars[i]->open = false;
    }
    if (p->tty && shown && p->fp) {
        fputc('\n', p->fp);
        fflush(p->fp);
    }
}

bool vkt__is_progress_bar(const vkt_callback *cb)
{
    return cb && cb->on_train_epoch_end == pb_train_epoch_end;
}

void vkt__progress_bar_print(vkt_callback *cb, const char *line)
{
    pbar *p = (pbar *)cb;
    FILE *fp = p && p->fp ? p->fp : stdout;
    size_t len = strlen(line);
    const char *end = len && line[len - 1] == '\n' ? "" : "\n"; /* one newline either way */
    if (!p || !p->tty) {
        fprintf(fp, "%s%s", line, end);
        fflush(fp);
        return;
    }
    /* tqdm.write: clear every open bar, print, redraw them */
    bar *bars[] = {&p->main, &p->val, &p->test, &p->predict};
    for (size_t i = 0; i < VKT__ARRAY_LEN(bars); i++) {
        if (bars[i]->open && bars[i]->shown) {
            print_status(p, bars[i], "");
            fputc('\r', fp);
        }
    }
    fprintf(fp, "%s%s", line, end);
    for (size_t i = 0; i < VKT__ARRAY_LEN(bars); i++) {
        if (bars[i]->open && bars[i]->shown) {
            draw(p, bars[i], true);
        }
    }
    fflush(fp);
}

vkt_callback *vkt_progress_bar_create(const vkt_progress_bar_desc *desc)
{
    vkt_progress_bar_desc d = desc ? *desc : (vkt_progress_bar_desc){0};
    if (d.tty != VKT_FLAG_DEFAULT && d.tty != VKT_FLAG_ON && d.tty != VKT_FLAG_OFF) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_progress_bar_create: tty is %d; use a vkt_flag",
                   (int)d.tty);
        return NULL;
    }
    pbar *p = vkt__calloc(1, sizeof *p);
    char *postfix = vkt__malloc(LINE_MAX_BYTES);
    if (!p || !postfix) {
        free(p);
        free(postfix);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_progress_bar_create: out of host memory");
        return NULL;
    }
    postfix[0] = '\0';
    p->postfix = postfix;
    p->refresh_rate = VKT__DEF(d.refresh_rate, 1u);
    p->desc_stream = d.stream;
    p->tty_flag = d.tty;
    p->eval_dl = -1;
    /* resolved again in setup when the stream is the trainer's */
    p->fp = d.stream;
    p->tty = d.tty == VKT_FLAG_ON ||
             (d.tty == VKT_FLAG_DEFAULT && d.stream && isatty(fileno(d.stream)));
    p->cb = (vkt_callback){
        .setup = pb_setup,
        .on_sanity_check_start = pb_sanity_start,
        .on_sanity_check_end = pb_sanity_end,
        .on_train_start = pb_train_start,
        .on_train_end = pb_train_end,
        .on_train_epoch_start = pb_train_epoch_start,
        .on_train_epoch_end = pb_train_epoch_end,
        .on_train_batch_end = pb_train_batch_end,
        .on_validation_start = pb_validation_start,
        .on_validation_end = pb_validation_end,
        .on_validation_batch_start = pb_validation_batch_start,
        .on_validation_batch_end = pb_validation_batch_end,
        .on_test_start = pb_test_start,
        .on_test_end = pb_test_end,
        .on_test_batch_start = pb_test_batch_start,
        .on_test_batch_end = pb_test_batch_end,
        .on_predict_start = pb_predict_start,
        .on_predict_end = pb_predict_end,
        .on_predict_batch_start = pb_predict_batch_start,
        .on_predict_batch_end = pb_predict_batch_end,
        .on_exception = pb_exception,
        .name = "TQDMProgressBar",
        .user_data = p,
    };
    return &p->cb;
}

void vkt_progress_bar_destroy(vkt_callback *cb)
{
    pbar *p = (pbar *)cb;
    if (!p) {
        return;
    }
    free(p->postfix);
    free(p);
}
