/*
 * train_gpt.c — `vkt train --model gpt`: a character-level GPT (vkt_gpt, include/vkt/nn.h) on a
 * text corpus (the fortune package's by default), on the Lightning-style trainer: progress bar,
 * train_loss per step and val_loss per epoch in lightning_logs/version_N/metrics.csv, checkpoints
 * whose hyper_parameters hold the model's sizes and the vocabulary (for `vkt generate`), and at
 * the end the unigram entropy beside the validation loss reached, tokens/s, memory and a sample.
 *
 * An "epoch" is --limit-batches training batches (the corpus's windows reshuffled each epoch), so
 * a run is --epochs x --limit-batches steps; validation reads the first --val-batches batches of
 * the held-out windows. AdamW as nanoGPT's (betas 0.9, 0.95; decay on matmul weights only),
 * warmup + cosine lr per step, gradient clipping at 1.0.
 *
 * --resume continues a checkpoint of this command as Lightning's fit(ckpt_path) does: the model's
 * sizes, the vocabulary and the settings that define the run (schedule, batches, seed, split) come
 * from its hyper_parameters, an option that contradicts them is refused, and the trainer restores
 * the weights, AdamW's state, the schedule's position and the epoch / global step; the dropout
 * streams' counters travel in the checkpoint too (on_save_checkpoint), so the resumed run goes on
 * bit for bit. Test: tests/test_cli_gpt.py.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CMD "vkt train"
#define DEFAULT_TEXT "/usr/share/games/fortunes"

/* the options that a checkpoint also records: given with --resume, they must agree with it */
enum {
    SET_TEXT = 1u << 0, SET_LAYERS = 1u << 1, SET_HEADS = 1u << 2, SET_WIDTH = 1u << 3,
    SET_CONTEXT = 1u << 4, SET_DROPOUT = 1u << 5, SET_NO_TIE = 1u << 6, SET_EPOCHS = 1u << 7,
    SET_LIMIT = 1u << 8, SET_VAL_BATCHES = 1u << 9, SET_BATCH = 1u << 10, SET_LR = 1u << 11,
    SET_WARMUP = 1u << 12, SET_WD = 1u << 13, SET_CLIP = 1u << 14, SET_VAL_SPLIT = 1u << 15,
    SET_SEED = 1u << 16,
};

typedef struct gpt_args {
    const char *text, *resume;
    vkt_cli_device_opts dev;
    vkt_gpt_config cfg;
    bool no_tie, stream, profile;
    uint32_t epochs, batch_size, limit_batches, val_batches, log_every, warmup, tokens, max_steps;
    float lr, weight_decay, val_split, clip;
    uint64_t seed;
    uint32_t set; /* SET_* of the options given */
} gpt_args;

static int usage(FILE *f)
{
    fprintf(f,
            "usage: vkt train --model gpt [options]\n"
            "\n"
            "Trains a character-level GPT (nanoGPT's architecture) on a text corpus and prints,\n"
            "per epoch, the training and validation loss; at the end the corpus's unigram entropy\n"
            "beside the validation loss reached, and a sample. Logs, hparams.yaml and checkpoints\n"
            "(with the vocabulary, for vkt generate) go to lightning_logs/version_N/.\n"
            "\n"
            "  --text PATH         a text file, or a directory of them (default %s;\n"
            "                      hidden, .dat and .u8 files are skipped)\n"
            "  --layers N          transformer blocks (default 2)\n"
            "  --heads N           attention heads (default 4)\n"
            "  --width N           embedding width, a multiple of --heads (default 64)\n"
            "  --context N         tokens per sequence (default 32)\n"
            "  --dropout X         nanoGPT's dropouts, in [0, 1) (default 0)\n"
            "  --no-tie            an lm_head of its own instead of the token embedding\n"
            "  --epochs N          (default 6)\n"
            "  --limit-batches N   training batches per epoch (default 100)\n"
            "  --val-batches N     validation batches per epoch (default 25)\n"
            "  --batch-size N      sequences per batch (default 32)\n"
            "  --lr X              peak learning rate (default 6e-3)\n"
            "  --warmup N          steps of linear warmup before the cosine (default: a tenth)\n"
            "  --weight-decay X    AdamW's, on matmul weights only (default 0.1)\n"
            "  --clip X            gradient norm clipping, 0 = none (default 1)\n"
            "  --val-split X       the last fraction of the corpus held out (default 0.1)\n"
            "  --sample N          characters generated at the end (default 200; 0 = none)\n"
            "  --seed N            initialisation, shuffling, dropout, sampling (default 0)\n"
            "  --log-every N       log step metrics every N steps; 0 = never (default 50)\n"
            "  --max-steps N       stop after N steps (Lightning's max_steps), a multiple of\n"
            "                      --limit-batches; the schedule still spans the whole run, so\n"
            "                      --resume from its checkpoint goes on as if never stopped\n"
            "  --resume PATH       continue a checkpoint of vkt train --model gpt: weights,\n"
            "                      AdamW state, schedule position, epoch, step, data order and\n"
            "                      dropout streams. The model's sizes, the vocabulary and every\n"
            "                      option above but --text, --epochs, --val-batches, --sample and\n"
            "                      --log-every come from the checkpoint; given, they must agree\n"
            "                      with it. --text defaults to the checkpoint's and must encode\n"
            "                      with its vocabulary; --epochs counts the epochs done (more\n"
            "                      stretch the cosine over the longer run)\n"
            "  --stream            stream batches from the host\n"
            "  --profile           after training, print one average step's device time per\n"
            "                      kernel, dispatches, barriers and submits (docs/profiling.md)\n"
            "  --device D, --validation, -h, --help\n"
            "\n"
            "Exit status: 0 done, 2 a bad option or value, 1 a corpus, checkpoint, device or\n"
            "training error (an option contradicting the checkpoint included).\n",
            DEFAULT_TEXT);
    return f == stderr ? 2 : 0;
}

enum {
    O_MODEL = 256, O_TEXT, O_LAYERS, O_HEADS, O_WIDTH, O_CONTEXT, O_DROPOUT, O_NO_TIE,
    O_EPOCHS, O_LIMIT, O_VAL_BATCHES, O_BATCH, O_LR, O_WARMUP, O_WD, O_CLIP, O_VAL_SPLIT,
    O_SAMPLE, O_SEED, O_LOG_EVERY, O_MAX_STEPS, O_RESUME, O_STREAM,
    O_PROFILE,
};

static int parse_opt(int c, const char *v, void *ud)
{
    gpt_args *a = ud;
    int rc = 0;
    static const struct {
        int opt;
        uint32_t bit;
    } set_bits[] = {
        {O_TEXT, SET_TEXT}, {O_LAYERS, SET_LAYERS}, {O_HEADS, SET_HEADS}, {O_WIDTH, SET_WIDTH},
        {O_CONTEXT, SET_CONTEXT}, {O_DROPOUT, SET_DROPOUT}, {O_NO_TIE, SET_NO_TIE},
        {O_EPOCHS, SET_EPOCHS}, {O_LIMIT, SET_LIMIT}, {O_VAL_BATCHES, SET_VAL_BATCHES},
        {O_BATCH, SET_BATCH}, {O_LR, SET_LR}, {O_WARMUP, SET_WARMUP}, {O_WD, SET_WD},
        {O_CLIP, SET_CLIP}, {O_VAL_SPLIT, SET_VAL_SPLIT}, {O_SEED, SET_SEED},
    };
    for (size_t i = 0; i < sizeof set_bits / sizeof set_bits[0]; i++) {
        a->set |= set_bits[i].opt == c ? set_bits[i].bit : 0;
    }
    switch (c) {
    case O_MODEL: break; /* "gpt": how vkt_cli_train got here */
    case O_TEXT: a->text = v; break;
    case O_RESUME: a->resume = v; break;
    case O_NO_TIE: a->no_tie = true; break;
    case O_STREAM: a->stream = true; break;
    case O_PROFILE: a->profile = true; break;
    case O_LAYERS:
        rc = vkt_cli_u32(CMD, "--layers", v, 1, VKT_GPT_MAX_LAYERS, &a->cfg.layers);
        break;
    case O_HEADS: rc = vkt_cli_u32(CMD, "--heads", v, 1, 1024, &a->cfg.heads); break;
    case O_WIDTH: rc = vkt_cli_u32(CMD, "--width", v, 1, 65536, &a->cfg.width); break;
    case O_CONTEXT: rc = vkt_cli_u32(CMD, "--context", v, 1, 65536, &a->cfg.context); break;
    case O_DROPOUT: rc = vkt_cli_float(CMD, "--dropout", v, 0, 0.99, &a->cfg.dropout); break;
    case O_EPOCHS: rc = vkt_cli_u32(CMD, "--epochs", v, 1, 1000000, &a->epochs); break;
    case O_LIMIT:
        rc = vkt_cli_u32(CMD, "--limit-batches", v, 1, 1000000000, &a->limit_batches);
        break;
    case O_VAL_BATCHES:
        rc = vkt_cli_u32(CMD, "--val-batches", v, 0, 1000000000, &a->val_batches);
        break;
    case O_BATCH: rc = vkt_cli_u32(CMD, "--batch-size", v, 1, 1u << 20, &a->batch_size); break;
    case O_LR: rc = vkt_cli_float(CMD, "--lr", v, 1e-12, 1e3, &a->lr); break;
    case O_WARMUP: rc = vkt_cli_u32(CMD, "--warmup", v, 0, 1000000000, &a->warmup); break;
    case O_WD: rc = vkt_cli_float(CMD, "--weight-decay", v, 0, 1e3, &a->weight_decay); break;
    case O_CLIP: rc = vkt_cli_float(CMD, "--clip", v, 0, 1e9, &a->clip); break;
    case O_VAL_SPLIT: rc = vkt_cli_float(CMD, "--val-split", v, 0, 0.9, &a->val_split); break;
    case O_SAMPLE: rc = vkt_cli_u32(CMD, "--sample", v, 0, 1000000, &a->tokens); break;
    case O_SEED: rc = vkt_cli_u64(CMD, "--seed", v, 0, 1ull << 53, &a->seed); break;
    case O_LOG_EVERY: rc = vkt_cli_u32(CMD, "--log-every", v, 0, 1000000000, &a->log_every);
        break;
    case O_MAX_STEPS:
        rc = vkt_cli_u32(CMD, "--max-steps", v, 1, UINT32_MAX, &a->max_steps);
        break;
    default: break; /* getopt_long returns only the table's values */
    }
    return rc;
}

static int parse(int argc, char **argv, gpt_args *a)
{
    *a = (gpt_args){
        .text = DEFAULT_TEXT,
        .cfg = {.layers = 2, .heads = 4, .width = 64, .context = 32},
        .epochs = 6,
        .batch_size = 32,
        .limit_batches = 100,
        .val_batches = 25,
        .log_every = 50,
        .tokens = 200,
        .lr = 6e-3f,
        .weight_decay = 0.1f,
        .val_split = 0.1f,
        .clip = 1.0f,
    };
    static const struct option opts[] = {
        {"model", required_argument, NULL, O_MODEL},
        {"text", required_argument, NULL, O_TEXT},
        {"layers", required_argument, NULL, O_LAYERS},
        {"heads", required_argument, NULL, O_HEADS},
        {"width", required_argument, NULL, O_WIDTH},
        {"context", required_argument, NULL, O_CONTEXT},
        {"dropout", required_argument, NULL, O_DROPOUT},
        {"no-tie", no_argument, NULL, O_NO_TIE},
        {"epochs", required_argument, NULL, O_EPOCHS},
        {"limit-batches", required_argument, NULL, O_LIMIT},
        {"val-batches", required_argument, NULL, O_VAL_BATCHES},
        {"batch-size", required_argument, NULL, O_BATCH},
        {"lr", required_argument, NULL, O_LR},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"weight-decay", required_argument, NULL, O_WD},
        {"clip", required_argument, NULL, O_CLIP},
        {"val-split", required_argument, NULL, O_VAL_SPLIT},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"seed", required_argument, NULL, O_SEED},
        {"log-every", required_argument, NULL, O_LOG_EVERY},
        {"max-steps", required_argument, NULL, O_MAX_STEPS},
        {"resume", required_argument, NULL, O_RESUME},
        {"stream", no_argument, NULL, O_STREAM},
        {"profile", no_argument, NULL, O_PROFILE},
        VKT_CLI_DEVICE_OPTS,
    };
    int rc = vkt_cli_getopt(CMD, "vkt train --model gpt", argc, argv, opts, &a->dev, parse_opt,
                            a);
    if (rc == VKT_CLI_HELP) {
        usage(stdout);
        return -1;
    }
    return rc;
}

/* The checks and defaults that depend on several options, after --resume filled those the
 * checkpoint holds: 0, or 2 after printing. */
static int finish_args(gpt_args *a)
{
    if (a->cfg.width % a->cfg.heads) {
        fprintf(stderr, CMD ": --heads %u does not divide --width %u\n", a->cfg.heads,
                a->cfg.width);
        return 2;
    }
    uint64_t steps = (uint64_t)a->epochs * a->limit_batches;
    if (steps > UINT32_MAX) {
        fprintf(stderr, CMD ": --epochs %u x --limit-batches %u is over 2^32 steps\n", a->epochs,
                a->limit_batches);
        return 2;
    }
    if (!(a->set & SET_WARMUP)) {
        a->warmup = (uint32_t)(steps / 10);
    }
    if (a->max_steps && a->max_steps % a->limit_batches) {
        fprintf(stderr, CMD ": --max-steps %u is not a multiple of --limit-batches %u (a run "
                            "stops at an epoch's end, where its checkpoint is written)\n",
                a->max_steps, a->limit_batches);
        return 2;
    }
    if (a->warmup >= steps) {
        fprintf(stderr, CMD ": --warmup %u must be below the %llu steps of the run\n", a->warmup,
                (unsigned long long)steps);
        return 2;
    }
    a->cfg.tie_weights = !a->no_tie;
    a->cfg.seed = a->seed;
    return 0;
}

/*
 * --resume: the model's sizes, the vocabulary and the run's settings from the checkpoint's
 * hyper_parameters (those make_hparams wrote). An option given that disagrees is refused: the
 * weights would not fit, or the run would not be the one resumed. --epochs and --val-batches may
 * differ (a longer run; another validation), --text too (encoded with *vocab later). 0, or 1
 * after printing.
 */
static int args_from_ckpt(gpt_args *a, const vkt_dict *ckpt, vkt_vocab *vocab)
{
    const char *path = a->resume;
    vkt_gpt_config cfg;
    if (vkt_cli_gpt_from_ckpt(CMD, ckpt, path, &cfg, vocab)) {
        return 1;
    }
    const vkt_dict *hp = vkt_dict_get_child(ckpt, "hyper_parameters");
    enum { U32, F32, U64 };
    const struct {
        uint32_t bit;
        const char *opt, *key;
        int type;
        void *p;
        bool may_differ;
    } keys[] = {
        {SET_LAYERS, "--layers", "layers", U32, &a->cfg.layers, false},
        {SET_HEADS, "--heads", "heads", U32, &a->cfg.heads, false},
        {SET_WIDTH, "--width", "width", U32, &a->cfg.width, false},
        {SET_CONTEXT, "--context", "context", U32, &a->cfg.context, false},
        {SET_DROPOUT, "--dropout", "dropout", F32, &a->cfg.dropout, false},
        {SET_LIMIT, "--limit-batches", "limit_batches", U32, &a->limit_batches, false},
        {SET_BATCH, "--batch-size", "batch_size", U32, &a->batch_size, false},
        {SET_LR, "--lr", "lr", F32, &a->lr, false},
        {SET_WARMUP, "--warmup", "warmup", U32, &a->warmup, false},
        {SET_WD, "--weight-decay", "weight_decay", F32, &a->weight_decay, false},
        {SET_CLIP, "--clip", "clip", F32, &a->clip, false},
        {SET_VAL_SPLIT, "--val-split", "val_split", F32, &a->val_split, false},
        {SET_SEED, "--seed", "seed", U64, &a->seed, false},
        {SET_EPOCHS, "--epochs", "epochs", U32, &a->epochs, true},
        {SET_VAL_BATCHES, "--val-batches", "val_batches", U32, &a->val_batches, true},
    };
    double vs;
    if (!vkt_dict_get_number(hp, "vocab_size", &vs) || vs != vocab->size) {
        fprintf(stderr, CMD ": %s: hyper_parameters.vocab_size is not the %u bytes of "
                            "hyper_parameters.vocab\n",
                path, vocab->size);
        return 1;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double v;
        bool ok = vkt_dict_get_number(hp, keys[i].key, &v) && v >= 0 &&
                  (keys[i].type == F32 ? v <= 1e9 : v == floor(v) && v <= 9007199254740992.0);
        if (ok && keys[i].type == U32) {
            ok = v <= UINT32_MAX;
        }
        if (!ok) {
            fprintf(stderr, CMD ": %s: hyper_parameters.%s is missing or out of range\n", path,
                    keys[i].key);
            return 1;
        }
        double given = keys[i].type == U32   ? *(uint32_t *)keys[i].p
                       : keys[i].type == U64 ? (double)*(uint64_t *)keys[i].p
                                             : vkt_cli_float_as_given(*(float *)keys[i].p);
        if (a->set & keys[i].bit) {
            bool same = keys[i].type == F32 ? (float)v == *(float *)keys[i].p : v == given;
            if (!same && !keys[i].may_differ) {
                fprintf(stderr, CMD ": %s %.9g disagrees with the checkpoint %s, whose %s is "
                                    "%.9g; leave %s out to use the checkpoint's\n",
                        keys[i].opt, given, path, keys[i].key, v, keys[i].opt);
                return 1;
            }
            continue;
        }
        if (keys[i].type == U32) {
            *(uint32_t *)keys[i].p = (uint32_t)v;
        } else if (keys[i].type == U64) {
            *(uint64_t *)keys[i].p = (uint64_t)v;
        } else {
            *(float *)keys[i].p = (float)v;
        }
    }
    if (a->no_tie && cfg.tie_weights) {
        fprintf(stderr, CMD ": --no-tie disagrees with the checkpoint %s, whose lm_head is the "
                            "token embedding (tie_weights 1); leave --no-tie out\n",
                path);
        return 1;
    }
    a->no_tie = !cfg.tie_weights;
    a->set |= SET_WARMUP; /* the checkpoint's, not a tenth of a longer run */
    const char *text = vkt_dict_get_string(hp, "text");
    if (!(a->set & SET_TEXT) && text) {
        a->text = text;
    }
    return 0;
}

/* hyper_parameters: the run's settings, the model's sizes and the vocabulary (hex) */
static vkt_status make_hparams(const gpt_args *a, const vkt_vocab *vocab, vkt_dict **out)
{
    char hex[513];
    vkt_dict *d = vkt_dict_create();
    vkt_status s = d ? vkt_vocab_format(vocab, hex, sizeof hex) : vkt_last_status();
    const struct {
        const char *key;
        double v;
    } nums[] = {
        {"vocab_size", vocab->size},
        {"context", a->cfg.context},
        {"layers", a->cfg.layers},
        {"heads", a->cfg.heads},
        {"width", a->cfg.width},
        {"dropout", vkt_cli_float_as_given(a->cfg.dropout)},
        {"tie_weights", a->cfg.tie_weights},
        {"epochs", a->epochs},
        {"limit_batches", a->limit_batches},
        {"val_batches", a->val_batches},
        {"batch_size", a->batch_size},
        {"lr", vkt_cli_float_as_given(a->lr)},
        {"warmup", a->warmup},
        {"weight_decay", vkt_cli_float_as_given(a->weight_decay)},
        {"clip", vkt_cli_float_as_given(a->clip)},
        {"val_split", vkt_cli_float_as_given(a->val_split)},
        {"seed", (double)a->seed},
    };
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "model", "gpt");
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "text", a->text);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "vocab", hex);
    }
    if (s == VKT_OK && a->resume) {
        s = vkt_dict_set_string(d, "resume", a->resume);
    }
    for (size_t i = 0; s == VKT_OK && i < sizeof nums / sizeof nums[0]; i++) {
        s = vkt_dict_set_number(d, nums[i].key, nums[i].v);
    }
    if (s != VKT_OK) {
        vkt_dict_destroy(d);
        d = NULL;
    }
    *out = d;
    return s;
}

/* ---- the module ---------------------------------------------------------------------------- */

typedef struct lm {
    vkt_gpt gpt;
    vkt_optimizer *opt;
    vkt_scheduler *sched;
    /* training time: epoch starts to validation (or epoch end), the first step left out (it
     * compiles every shader) */
    vkt_cli_clock clock;
    uint64_t train_tokens, timed_tokens;
    bool first_step_done;
} lm;

static vkt_tensor *lm_loss(lm *l, const vkt_batch *b)
{
    vkt_tensor *logits = vkt_gpt_forward(&l->gpt, b->x);
    int64_t n = vkt_tensor_numel(b->y);
    return vkt_softmax_xent(vkt_reshape(logits, 2, (int64_t[]){n, l->gpt.config.vocab}),
                            vkt_reshape(b->y, 1, &n));
}

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    lm *l = ud;
    vkt_tensor *loss = lm_loss(l, b);
    if (!loss) {
        return vkt_last_status();
    }
    l->train_tokens += (uint64_t)vkt_tensor_numel(b->y);
    if (l->first_step_done) {
        l->timed_tokens += (uint64_t)vkt_tensor_numel(b->y);
    }
    vkt_status s = vkt_log(t, "train_loss", loss,
                           &(vkt_log_opts){.on_step = VKT_FLAG_ON, .on_epoch = VKT_FLAG_ON,
                                           .prog_bar = true});
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    vkt_tensor *loss = lm_loss(ud, b);
    return loss ? vkt_log(t, "val_loss", loss,
                          &(vkt_log_opts){.on_epoch = VKT_FLAG_ON, .prog_bar = true})
                : vkt_last_status();
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    lm *l = ud;
    oc->optimizer = l->opt;
    oc->model = l->gpt.model;
    oc->scheduler = l->sched;
    oc->interval = VKT_INTERVAL_STEP;
    return VKT_OK;
}

/* The dropout layers by name ("drop", "h.<i>.resid_drop", ...): n written, at most max. */
static uint32_t dropout_layers(vkt_gpt *g, vkt_dropout_layer **out, char (*names)[32],
                               uint32_t max)
{
    uint32_t n = 0;
    if (n < max) {
        out[n] = &g->drop;
        snprintf(names[n++], 32, "drop");
    }
    for (uint32_t i = 0; i < g->config.layers; i++) {
        vkt_dropout_layer *ls[] = {&g->h[i].attn_drop, &g->h[i].resid_drop, &g->h[i].mlp_drop};
        const char *ns[] = {"attn_drop", "resid_drop", "mlp_drop"};
        for (int k = 0; k < 3 && n < max; k++) {
            out[n] = ls[k];
            snprintf(names[n++], 32, "h.%u.%s", i, ns[k]);
        }
    }
    return n;
}

#define MAX_DROPOUTS (1 + 3 * VKT_GPT_MAX_LAYERS)

/* Every dropout stream's counter, so that a resumed run draws the masks the uninterrupted one
 * would: "gpt_dropout_offsets" beside the trainer's state (Lightning's
 * LightningModule.on_save_checkpoint). */
static vkt_status on_save_checkpoint(vkt_trainer *t, vkt_dict *ckpt, void *ud)
{
    (void)t;
    lm *l = ud;
    vkt_dropout_layer *ls[MAX_DROPOUTS];
    char names[MAX_DROPOUTS][32];
    uint32_t n = dropout_layers(&l->gpt, ls, names, MAX_DROPOUTS);
    vkt_dict *d = vkt_dict_child(ckpt, "gpt_dropout_offsets");
    vkt_status s = d ? VKT_OK : vkt_last_status();
    for (uint32_t i = 0; s == VKT_OK && i < n; i++) {
        s = vkt_dict_set_number(d, names[i], (double)ls[i]->offset);
    }
    return s;
}

static vkt_status on_load_checkpoint(vkt_trainer *t, vkt_dict *ckpt, void *ud)
{
    lm *l = ud;
    const vkt_dict *d = vkt_dict_get_child(ckpt, "gpt_dropout_offsets");
    vkt_dropout_layer *ls[MAX_DROPOUTS];
    char names[MAX_DROPOUTS][32];
    uint32_t n = dropout_layers(&l->gpt, ls, names, MAX_DROPOUTS);
    const char *path = vkt_trainer_query_desc(t)->ckpt_path;
    if (!d && l->gpt.config.dropout == 0) {
        return VKT_OK; /* no masks drawn: nothing to continue */
    }
    for (uint32_t i = 0; i < n; i++) {
        double v;
        if (!d || !vkt_dict_get_number(d, names[i], &v) || !(v >= 0 && v == floor(v) &&
                                                             v <= 9007199254740992.0)) {
            return vkt_trainer_fail(t, VKT_CORRUPT_FILE,
                                    "%s: gpt_dropout_offsets.%s is missing or not a count "
                                    "(the dropout masks could not go on)",
                                    path, names[i]);
        }
        ls[i]->offset = (uint64_t)v;
    }
    return VKT_OK;
}

static vkt_status on_train_epoch_start(vkt_trainer *t, void *ud)
{
    lm *l = ud;
    vkt_cli_clock_start(&l->clock, t);
    return VKT_OK;
}

static vkt_status on_train_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                     uint32_t i, void *ud)
{
    (void)o, (void)b, (void)i;
    lm *l = ud;
    if (!l->first_step_done) {
        l->first_step_done = true;
        vkt_device_finish(vkt_trainer_device(t));
        l->clock.epoch_t0 = vkt__cli_now();
    }
    return VKT_OK;
}

static vkt_status stop_clock(vkt_trainer *t, void *ud)
{
    lm *l = ud;
    vkt_cli_clock_stop(&l->clock, t, true); /* steps run ahead of the host */
    return VKT_OK;
}

static vkt_status print_epoch(vkt_trainer *t, void *ud)
{
    (void)ud;
    float tl = NAN, vl = NAN;
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "train_loss_epoch", &tl);
    bool has_val = vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", &vl);
    char line[256];
    int n = snprintf(line, sizeof line, "epoch %u/%lld  step %llu  train_loss %.4f",
                     vkt_trainer_current_epoch(t),
                     (long long)vkt_trainer_query_desc(t)->max_epochs - 1,
                     (unsigned long long)vkt_trainer_global_step(t), (double)tl);
    if (has_val) {
        snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.4f (%.3f bits/char)",
                 (double)vl, (double)vl / log(2.0));
    }
    vkt_trainer_print(t, "%s\n", line);
    return VKT_OK;
}

/*
 * Device bytes one training step (forward, loss, backward) holds beyond the model, measured alone:
 * in a fit up to three steps are in flight, so the fit's peak counts several steps' temporaries.
 */
static vkt_status step_bytes(lm *l, vkt_loader *train, uint64_t *out)
{
    vkt_device *dev = vkt_model_device(l->gpt.model);
    vkt_batch b;
    vkt_status s = vkt_loader_start_epoch(train, 0);
    if (s != VKT_OK || (s = vkt_device_finish(dev)) != VKT_OK) {
        return s;
    }
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    uint64_t base = st.memory_in_use;
    vkt_device_reset_stats(dev);
    vkt_scope_begin(dev);
    vkt_tensor *loss = vkt_loader_next(train, &b) ? lm_loss(l, &b) : NULL;
    s = loss ? vkt_backward(loss) : vkt_last_status();
    vkt_scope_end(dev);
    if (s == VKT_OK) {
        s = vkt_device_finish(dev);
    }
    vkt_device_get_stats(dev, &st);
    *out = st.memory_peak - base;
    return s;
}

int vkt_cli_train_gpt(int argc, char **argv)
{
    gpt_args a;
    int rc = parse(argc, argv, &a);
    if (rc) {
        return rc < 0 ? 0 : rc;
    }
    rc = 1;
    vkt_text text = {0};
    vkt_dict *hparams = NULL, *resume = NULL;
    vkt_vocab ckpt_vocab;
    vkt_dataset *train_ds = NULL, *val_ds = NULL;
    vkt_device *dev = NULL;
    vkt_loader *train_l = NULL, *val_l = NULL;
    vkt_model *m = NULL;
    vkt_trainer *trainer = NULL;
    lm l = {.clock = {.profile = a.profile}};
    size_t n_train = 0;

    if (a.resume) {
        if (vkt_checkpoint_load(a.resume, &resume) != VKT_OK) {
            rc = vkt_cli_fail(CMD, "--resume");
            goto cleanup;
        }
        if (args_from_ckpt(&a, resume, &ckpt_vocab)) {
            goto cleanup;
        }
    }
    if ((rc = finish_args(&a)) != 0) {
        goto cleanup;
    }
    rc = 1;
    /* the corpus first: a missing or short one is reported before a device opens */
    if (vkt_text_load(a.text, &text) != VKT_OK) {
        rc = vkt_cli_fail(CMD, a.resume && !(a.set & SET_TEXT) ? "--text (the checkpoint's; give --text PATH)"
                                                   : "--text");
        if (strcmp(a.text, DEFAULT_TEXT) == 0 && vkt_last_status() == VKT_IO) {
            fprintf(stderr, CMD ": the default corpus comes with Debian's fortunes package: "
                                "apt-get install fortunes (tools/train.sh installs it)\n");
        }
        goto cleanup;
    }
    /* a resumed model reads the checkpoint's tokens: the corpus's own numbering may differ */
    if (a.resume) {
        if (vkt_vocab_encode(&ckpt_vocab, text.data, text.size, text.tokens) != VKT_OK) {
            fprintf(stderr, CMD ": --text %s: %s of the checkpoint %s (%u bytes)\n", a.text,
                    vkt_last_error(), a.resume, ckpt_vocab.size);
            goto cleanup;
        }
        text.vocab = ckpt_vocab;
    }
    if (vkt_text_split(&text, a.val_split, &n_train) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "--val-split");
        goto cleanup;
    }
    size_t n_val = text.size - n_train;
    if (vkt_dataset_text_windows(text.tokens, n_train, a.cfg.context, 0, &train_ds) != VKT_OK) {
        fprintf(stderr, CMD ": %s: the training part (%zu characters) is too short for --context "
                        "%u: %s\n",
                a.text, n_train, a.cfg.context, vkt_last_error());
        goto cleanup;
    }
    if (n_val && a.val_batches &&
        vkt_dataset_text_windows(text.tokens + n_train, n_val, a.cfg.context, 0, &val_ds) !=
            VKT_OK) {
        fprintf(stderr, CMD ": %s: the validation part (%zu characters, --val-split %g) is too "
                        "short for --context %u: %s\n",
                a.text, n_val, (double)a.val_split, a.cfg.context, vkt_last_error());
        goto cleanup;
    }
    a.cfg.vocab = text.vocab.size;
    if (make_hparams(&a, &text.vocab, &hparams) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "recording the hyper-parameters");
        goto cleanup;
    }
    double h_nats = vkt_text_unigram_entropy(text.tokens, text.size, text.vocab.size);

    dev = vkt_cli_open_device_print(&a.dev);
    if (!dev) {
        goto cleanup;
    }
    printf("text: %s: %zu characters from %u file%s, vocabulary %u; unigram entropy %.4f nats "
           "(%.3f bits/char)\n",
           a.text, text.size, text.files, text.files == 1 ? "" : "s", text.vocab.size, h_nats,
           h_nats / log(2.0));
    if (vkt_loader_create(dev, &(vkt_loader_desc){.dataset = train_ds, .batch_size = a.batch_size,
                                                  .shuffle = true, .seed = a.seed,
                                                  .drop_last = true, .stream = a.stream},
                          &train_l) ||
        (val_ds && vkt_loader_create(dev, &(vkt_loader_desc){.dataset = val_ds,
                                                            .batch_size = a.batch_size,
                                                            .drop_last = true,
                                                            .stream = a.stream},
                                     &val_l))) {
        rc = vkt_cli_fail(CMD, "creating data loaders");
        goto cleanup;
    }
    if (vkt_loader_num_batches(train_l) == 0 || (val_l && vkt_loader_num_batches(val_l) == 0)) {
        fprintf(stderr, CMD ": %s: fewer %s windows of %u characters than --batch-size %u\n",
                a.text, vkt_loader_num_batches(train_l) == 0 ? "training" : "validation",
                a.cfg.context, a.batch_size);
        goto cleanup;
    }
    printf("data: %zu training characters (%u windows), %zu validation characters (%u windows)\n",
           n_train, vkt_dataset_count(train_ds), n_val, val_ds ? vkt_dataset_count(val_ds) : 0);

    if (vkt_model_create(dev, &(vkt_model_desc){.seed = a.seed, .label = "gpt"}, &m) ||
        vkt_gpt_init(m, &a.cfg, &l.gpt) || vkt_model_build(m)) {
        rc = vkt_cli_fail(CMD, "creating the model");
        goto cleanup;
    }
    uint32_t steps = a.epochs * a.limit_batches;
    if (vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAMW, .lr = a.lr,
                                                  .beta1 = 0.9f, .beta2 = 0.95f,
                                                  .weight_decay = a.weight_decay,
                                                  .no_decay = VKT_NO_DECAY_BIAS_NORM_EMBEDDING},
                             &l.opt) ||
        vkt_scheduler_create(l.opt, &(vkt_sched_desc){.type = VKT_SCHED_WARMUP_COSINE,
                                                      .warmup = a.warmup, .t_max = steps,
                                                      .eta_min = a.lr / 10},
                             &l.sched)) {
        rc = vkt_cli_fail(CMD, "creating the optimizer");
        goto cleanup;
    }
    uint64_t params = vkt_model_num_params(m);
    printf("model: GPT %u layers, %u heads, width %u, context %u, %s head; %llu parameters; "
           "AdamW lr %g (warmup %u, cosine to %g over %u steps), weight decay %g, batch %u\n",
           a.cfg.layers, a.cfg.heads, a.cfg.width, a.cfg.context,
           a.cfg.tie_weights ? "tied" : "untied", (unsigned long long)params, (double)a.lr,
           a.warmup, (double)a.lr / 10, steps, (double)a.weight_decay, a.batch_size);
    if (a.resume) {
        printf("resuming from %s\n", a.resume);
    }
    fflush(stdout);

    vkt_module module = {
        .training_step = training_step,
        .validation_step = val_l ? validation_step : NULL,
        .configure_optimizers = configure_optimizers,
        .model = m,
        .on_train_epoch_start = on_train_epoch_start,
        .on_train_batch_end = on_train_batch_end,
        .on_validation_start = stop_clock,
        .on_train_epoch_end = stop_clock,
        .on_save_checkpoint = on_save_checkpoint,
        .on_load_checkpoint = on_load_checkpoint,
        .user_data = &l,
    };
    vkt_callback summary = {.on_train_epoch_end = print_epoch, .name = "EpochSummary"};
    if (vkt_trainer_create(dev, &(vkt_trainer_desc){.max_epochs = a.epochs,
                                                    .limit_train_batches = {.count = a.limit_batches},
                                                    .limit_val_batches = {.count = a.val_batches},
                                                    .log_every_n_steps = a.log_every,
                                                    .disable_step_logging = a.log_every == 0,
                                                    .max_steps = a.max_steps,
                                                    .gradient_clip_val = a.clip,
                                                    .seed = a.seed,
                                                    .hparams = hparams,
                                                    .ckpt_path = a.resume,
                                                    .ckpt = resume, /* read once, above */
                                                    .callbacks = {&summary}},
                           &trainer)) {
        rc = vkt_cli_fail(CMD, "creating the trainer");
        goto cleanup;
    }
    double fit_s = 0;
    if (vkt_cli_fit(CMD, trainer, &module, train_l, val_l, &fit_s)) {
        goto cleanup;
    }
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    float vl = NAN;
    bool has_val = vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "val_loss", &vl);
    printf("unigram entropy %.4f nats (%.3f bits/char); ", h_nats, h_nats / log(2.0));
    if (has_val) {
        printf("validation loss %.4f nats (%.3f bits/char) after %llu steps in %.1f s\n",
               (double)vl, (double)vl / log(2.0),
               (unsigned long long)vkt_trainer_global_step(trainer), fit_s);
    } else if (val_l) { /* a resumed run whose --epochs were all done already */
        printf("no epoch left to run after the checkpoint's (--epochs %u)\n", a.epochs);
    } else {
        printf("no validation (--val-batches 0 or --val-split 0)\n");
    }
    printf("training: %llu tokens in %.1f s = %.0f tokens/s (after the first step, which "
           "compiles the shaders)\n",
           (unsigned long long)l.timed_tokens, l.clock.train_time,
           l.timed_tokens ? (double)l.timed_tokens / l.clock.train_time : 0.0);
    if (a.profile && vkt_cli_profile_print(CMD, dev, &l.clock, stdout)) {
        goto cleanup;
    }
    /* parameters, gradients and AdamW's two moments: four f32 per parameter */
    double state_b = 16.0 * (double)params;
    double data_b = vkt_loader_on_device(train_l)
                        ? 8.0 * a.cfg.context *
                              ((double)vkt_dataset_count(train_ds) +
                               (val_ds ? (double)vkt_dataset_count(val_ds) : 0.0))
                        : 0.0;
    uint64_t one_step = 0;
    if (step_bytes(&l, train_l, &one_step) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "measuring one step's memory");
        goto cleanup;
    }
    double tokens = (double)a.batch_size * a.cfg.context;
    printf("device memory: peak %.1f MiB in the fit (up to 3 steps in flight) = parameters + "
           "gradients + AdamW state %.1f MiB + data set %.1f MiB + the rest %.1f MiB; one step "
           "alone %.1f MiB = %.0f bytes per token per layer (%.0f tokens, %u layers)\n",
           st.memory_peak / 1048576.0, state_b / 1048576.0, data_b / 1048576.0,
           ((double)st.memory_peak - state_b - data_b) / 1048576.0, one_step / 1048576.0,
           (double)one_step / (tokens * a.cfg.layers), tokens, a.cfg.layers);
    const char *ckpt = vkt_model_checkpoint_best_path(vkt_trainer_checkpoint_callback(trainer));
    printf("checkpoint: %s (vkt generate --checkpoint %s)\n", ckpt, ckpt);
    if (a.tokens) {
        printf("sample (seed %llu, temperature 0.8, top-k 0):\n",
               (unsigned long long)a.seed);
        fflush(stdout);
        vkt_model_train(m, false);
        if (vkt_cli_gpt_generate(CMD, &l.gpt, &text.vocab, "\n", a.tokens,
                                 &(vkt_sample_desc){.temperature = 0.8f}, a.seed, stdout)) {
            goto cleanup;
        }
    }
    rc = 0;

cleanup:
    vkt_trainer_destroy(trainer);
    vkt_scheduler_destroy(l.sched);
    vkt_optimizer_destroy(l.opt);
    vkt_model_destroy(m);
    vkt_loader_destroy(train_l);
    vkt_loader_destroy(val_l);
    vkt_device_destroy(dev);
    vkt_dataset_destroy(train_ds);
    vkt_dataset_destroy(val_ds);
    vkt_dict_destroy(hparams);
    vkt_dict_destroy(resume);
    vkt_text_free(&text);
    return rc;
}
