/*
 * train.c — `vkt train`: an MLP or a CNN (tools/models.c) on an MNIST-layout data set
 * (Fashion-MNIST by default), on the Lightning-style trainer (include/vkt/train.h): progress bar, lightning_logs/version_N/
 * metrics.csv, checkpoints, per-epoch summary, then the test set.
 *
 * Each step (gather, forward, loss, zero_grad, backward, update) is one command buffer and one
 * submit; losses and accuracies are logged as device tensors and reduced on the device, so the
 * host reads values only at logging points (every --log-every steps, epoch ends, progress-bar
 * refreshes on a terminal).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CMD "vkt train"
#define MAX_SIZES VKT_CLI_MAX_LAYERS

typedef struct train_args {
    const char *data, *resume;
    vkt_cli_device_opts dev;
    vkt_cli_model_kind model;
    bool model_set;
    uint32_t layers[MAX_SIZES];
    int n_layers;
    bool layers_set;
    uint32_t epochs, batch_size, log_every, limit_batches;
    float lr, momentum, weight_decay, val_split;
    bool weight_decay_set;
    vkt_optim_type optimizer;
    uint64_t seed;
    bool stream, profile;
    vkt_sched_type schedule;
    const char *strategy;
    float bucket_mb;
} train_args;

static const char *const opt_names[] = {"adam", "sgd", "adam", "adamw"};
static const char *const sched_names[] = {"none", "step", "cosine"};

static int train_usage(FILE *f)
{
    fprintf(
        f,
        "usage: vkt train [options]\n"
        "\n"
        "Trains an MLP or a CNN on an MNIST-layout data set and prints, per epoch, the training "
        "loss,\n"
        "the validation loss and accuracy, then the test accuracy. Logs, hparams.yaml (every\n"
        "option below that defines the run) and checkpoints go to lightning_logs/version_N/.\n"
        "Options take their value as --opt VALUE or --opt=VALUE.\n"
        "\n"
        "  --data DIR          IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n"
        "                      (default %s)\n"
        "  --model NAME        mlp | cnn | gpt (default mlp; with --resume: the checkpoint's). "
        "cnn:\n"
        "                      Conv 32-BN-ReLU-MaxPool, Conv 64-BN-ReLU-MaxPool, Linear 128,\n"
        "                      Dropout 0.25, Linear 10, on (1, 28, 28) images. gpt: a character\n"
        "                      GPT on a text corpus, with options of its own (vkt train --model\n"
        "                      gpt --help)\n"
        "  --layers L,L,...    mlp layer sizes, 2 to %d integers (default 784,256,128,10; with\n"
        "                      --resume: read from the checkpoint)\n"
        "  --epochs N          total epochs, counting those of a resumed run (default 15)\n"
        "  --batch-size N      (default 128)\n"
        "  --lr X              learning rate (default 1e-3)\n"
        "  --optimizer NAME    sgd | adam | adamw (default adam)\n"
        "  --momentum X        SGD momentum (default 0)\n"
        "  --weight-decay X    (default 0; 0.01 for adamw as in torch)\n"
        "  --schedule NAME     learning rate per epoch: cosine (to 0 over the run), step\n"
        "                      (x0.1 every 5 epochs) or none (default cosine)\n"
        "  --seed N            initialisation, shuffling and split (default 0)\n"
        "  --val-split X       fraction of the training set held out, in [0, 0.9] (default 0.1)\n"
        "  --limit-batches N   at most N training batches per epoch (Lightning's\n"
        "                      limit_train_batches; default: all)\n"
        "  --log-every N       log step metrics (metrics.csv) every N steps; 0 = never\n"
        "                      (default 50, as Lightning's log_every_n_steps)\n"
        "  --resume PATH       continue from a checkpoint (weights, optimizer, schedule, epoch)\n"
        "  --stream            stream batches from the host instead of gathering on the device\n"
        "  --profile           after training, print where one average training step's time\n"
        "                      goes: device time per kernel (timestamp queries), dispatches,\n"
        "                      barriers, submits and host recording time per step\n"
        "  --strategy NAME     single | ddp | auto (default auto: ddp when started by mpirun\n"
        "                      with more than one rank). ddp: data parallel over MPI, one device\n"
        "                      per rank, each rank --batch-size samples a step; rank 0 prints,\n"
        "                      logs and checkpoints (docs/distributed.md)\n"
        "  --bucket-mb X       ddp: gradients are all-reduced in buckets of X MiB, each as soon\n"
        "                      as the backward has finished it (default 25, as torch DDP's\n"
        "                      bucket_cap_mb; the first bucket at most 1 MiB); 0: one bucket,\n"
        "                      after the whole backward\n"
        "  --device D          device index or name substring (ddp: default by local rank)\n"
        "  --validation        Khronos validation (slow)\n"
        "  -h, --help          this text\n"
        "\n"
        "Exit status: 0 done, 2 a bad option or value, 1 a data, device or training error.\n"
        "Evaluate a saved checkpoint with vkt test / vkt predict --checkpoint PATH.\n",
        VKT_CLI_DEFAULT_DATA, MAX_SIZES);
    return f == stderr ? 2 : 0;
}

enum {
    O_DATA = 256,
    O_MODEL,
    O_LAYERS,
    O_EPOCHS,
    O_BATCH,
    O_LR,
    O_OPTIMIZER,
    O_MOMENTUM,
    O_WD,
    O_SCHEDULE,
    O_SEED,
    O_VAL_SPLIT,
    O_LOG_EVERY,
    O_LIMIT,
    O_RESUME,
    O_STREAM,
    O_PROFILE,
    O_STRATEGY,
    O_BUCKET_MB,
};

static int parse_opt(int c, const char *v, void *ud)
{
    train_args *a = ud;
    int rc = 0;
    switch (c) {
    case O_DATA: a->data = v; break;
    case O_RESUME: a->resume = v; break;
    case O_STREAM: a->stream = true; break;
    case O_PROFILE: a->profile = true; break;
    case O_STRATEGY:
        a->strategy = v;
        if (strcmp(v, "single") != 0 && strcmp(v, "ddp") != 0 && strcmp(v, "auto") != 0) {
            fprintf(stderr, CMD ": --strategy is single, ddp or auto, not '%s'\n", v);
            rc = 2;
        }
        break;
    case O_BUCKET_MB:
        rc = vkt_cli_float(CMD, "--bucket-mb", v, 0, 1e6, &a->bucket_mb);
        break;
    case O_MODEL:
        rc = vkt_cli_model_parse(CMD, v, &a->model);
        a->model_set = true;
        break;
    case O_LAYERS:
        rc = vkt_cli_u32_list(CMD, "--layers", v, 1, 1u << 20, a->layers, MAX_SIZES,
                              &a->n_layers);
        if (rc == 0 && a->n_layers < 2) {
            fprintf(stderr, CMD ": --layers needs at least two sizes, e.g. 784,10, not "
                                "'%s'\n",
                    v);
            rc = 2;
        }
        a->layers_set = true;
        break;
    case O_EPOCHS: rc = vkt_cli_u32(CMD, "--epochs", v, 1, 1000000, &a->epochs); break;
    case O_BATCH: rc = vkt_cli_u32(CMD, "--batch-size", v, 1, 1u << 20, &a->batch_size);
        break;
    case O_LR: rc = vkt_cli_float(CMD, "--lr", v, 1e-12, 1e3, &a->lr); break;
    case O_MOMENTUM: rc = vkt_cli_float(CMD, "--momentum", v, 0, 1, &a->momentum); break;
    case O_WD:
        rc = vkt_cli_float(CMD, "--weight-decay", v, 0, 1e3, &a->weight_decay);
        a->weight_decay_set = true;
        break;
    /* up to 2^53 so that hparams.yaml, whose numbers are doubles, records the seed exactly */
    case O_SEED: rc = vkt_cli_u64(CMD, "--seed", v, 0, 1ull << 53, &a->seed); break;
    case O_VAL_SPLIT: rc = vkt_cli_float(CMD, "--val-split", v, 0, 0.9, &a->val_split); break;
    case O_LOG_EVERY: rc = vkt_cli_u32(CMD, "--log-every", v, 0, 1000000000, &a->log_every);
        break;
    case O_LIMIT:
        rc = vkt_cli_u32(CMD, "--limit-batches", v, 1, 1000000000, &a->limit_batches);
        break;
    case O_SCHEDULE:
        a->schedule = strcmp(v, "cosine") == 0 ? VKT_SCHED_COSINE
                      : strcmp(v, "step") == 0 ? VKT_SCHED_STEP
                      : strcmp(v, "none") == 0 ? VKT_SCHED_NONE
                                               : (vkt_sched_type)-1;
        if ((int)a->schedule < 0) {
            fprintf(stderr, CMD ": --schedule is cosine, step or none, not '%s'\n", v);
            rc = 2;
        }
        break;
    case O_OPTIMIZER:
        a->optimizer = strcmp(v, "sgd") == 0     ? VKT_OPTIM_SGD
                       : strcmp(v, "adam") == 0  ? VKT_OPTIM_ADAM
                       : strcmp(v, "adamw") == 0 ? VKT_OPTIM_ADAMW
                                                 : VKT_OPTIM_DEFAULT;
        if (a->optimizer == VKT_OPTIM_DEFAULT) {
            fprintf(stderr, CMD ": --optimizer is sgd, adam or adamw, not '%s'\n", v);
            rc = 2;
        }
        break;
    default: break; /* getopt_long returns only the table's values */
    }
    return rc;
}

/* Returns 0 to go on, -1 after --help, 2 on a usage error (already reported). */
static int parse(int argc, char **argv, train_args *a)
{
    *a = (train_args){
        .data = VKT_CLI_DEFAULT_DATA,
        .layers = {784, 256, 128, 10},
        .n_layers = 4,
        .epochs = 15,
        .batch_size = 128,
        .log_every = 50,
        .lr = 1e-3f,
        .val_split = 0.1f,
        .optimizer = VKT_OPTIM_ADAM,
        .schedule = VKT_SCHED_COSINE,
        .strategy = "auto",
        .bucket_mb = 25,
    };
    static const struct option opts[] = {
        {"data", required_argument, NULL, O_DATA},
        {"model", required_argument, NULL, O_MODEL},
        {"layers", required_argument, NULL, O_LAYERS},
        {"epochs", required_argument, NULL, O_EPOCHS},
        {"batch-size", required_argument, NULL, O_BATCH},
        {"lr", required_argument, NULL, O_LR},
        {"optimizer", required_argument, NULL, O_OPTIMIZER},
        {"momentum", required_argument, NULL, O_MOMENTUM},
        {"weight-decay", required_argument, NULL, O_WD},
        {"schedule", required_argument, NULL, O_SCHEDULE},
        {"seed", required_argument, NULL, O_SEED},
        {"val-split", required_argument, NULL, O_VAL_SPLIT},
        {"log-every", required_argument, NULL, O_LOG_EVERY},
        {"limit-batches", required_argument, NULL, O_LIMIT},
        {"resume", required_argument, NULL, O_RESUME},
        {"stream", no_argument, NULL, O_STREAM},
        {"profile", no_argument, NULL, O_PROFILE},
        {"strategy", required_argument, NULL, O_STRATEGY},
        {"bucket-mb", required_argument, NULL, O_BUCKET_MB},
        VKT_CLI_DEVICE_OPTS,
    };
    int rc = vkt_cli_getopt(CMD, CMD, argc, argv, opts, &a->dev, parse_opt, a);
    if (rc == VKT_CLI_HELP) {
        train_usage(stdout);
        return -1;
    }
    if (rc) {
        return rc;
    }
    if (a->model == VKT_CLI_CNN && a->layers_set) {
        fprintf(stderr, CMD ": --layers sets the sizes of --model mlp; the cnn's are fixed\n");
        return 2;
    }
    if (a->optimizer == VKT_OPTIM_ADAMW && !a->weight_decay_set) {
        a->weight_decay = 0.01f;
    }
    return 0;
}

/* The run's settings as hyper-parameters: hparams.yaml and every checkpoint's
 * "hyper_parameters" (Lightning's save_hyperparameters). */
static const char *format_sizes(const uint32_t *sizes, int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < size; i++) {
        len += (size_t)snprintf(buf + len, size - len, "%s%u", i ? "," : "", sizes[i]);
    }
    return buf;
}

static vkt_status make_hparams(const train_args *a, vkt_dict **out)
{
    char layers[MAX_SIZES * 12];
    format_sizes(a->layers, a->n_layers, layers, sizeof layers);
    vkt_dict *d = vkt_dict_create();
    vkt_status s = d ? VKT_OK : vkt_last_status();
    struct {
        const char *key;
        double v;
    } nums[] = {
        {"epochs", a->epochs},
        {"batch_size", a->batch_size},
        {"lr", vkt_cli_float_as_given(a->lr)},
        {"momentum", vkt_cli_float_as_given(a->momentum)},
        {"weight_decay", vkt_cli_float_as_given(a->weight_decay)},
        {"seed", (double)a->seed},
        {"val_split", vkt_cli_float_as_given(a->val_split)},
        {"log_every", a->log_every},    {"stream", a->stream},
    };
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "model", vkt_cli_model_name(a->model));
    }
    if (s == VKT_OK && a->model == VKT_CLI_MLP) {
        s = vkt_dict_set_string(d, "layers", layers);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "optimizer", opt_names[a->optimizer]);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "schedule", sched_names[a->schedule]);
    }
    if (s == VKT_OK) {
        s = vkt_dict_set_string(d, "data", a->data);
    }
    for (size_t i = 0; s == VKT_OK && i < sizeof nums / sizeof nums[0]; i++) {
        s = vkt_dict_set_number(d, nums[i].key, nums[i].v);
    }
    if (s == VKT_OK && a->limit_batches) {
        s = vkt_dict_set_number(d, "limit_batches", a->limit_batches);
    }
    if (s == VKT_OK && a->resume) {
        s = vkt_dict_set_string(d, "resume", a->resume);
    }
    if (s != VKT_OK) {
        vkt_dict_destroy(d);
        d = NULL;
    }
    *out = d;
    return s;
}

/* ---- the module: a classifier, Lightning style ----------------------------------------- */

typedef struct classifier {
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_scheduler *sched;
    vkt_cli_clock clock; /* of the training batches, for samples/s */
    uint64_t train_samples;
} classifier;

static vkt_tensor *accuracy(vkt_tensor *logits, const vkt_batch *b)
{
    return vkt_scale(vkt_cast(vkt_count_equal(vkt_argmax_rows(logits), b->y), VKT_F32),
                     1.0f / (float)b->rows);
}

/* An op returns NULL with the last error set (include/vkt/core.h); returning that status keeps
 * the op's own message (a device limit, a shape) instead of a later complaint about NULL. */
static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    classifier *c = ud;
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(c->model, b->x), b->y);
    if (!loss) {
        return vkt_last_status();
    }
    vkt_status s = vkt_log(
        t, "train_loss", loss,
        &(vkt_log_opts){
            .on_step = VKT_FLAG_ON, .on_epoch = VKT_FLAG_ON, .prog_bar = true, .sync_dist = true});
    c->train_samples += b->rows;
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

vkt_status vkt_cli_eval_step(vkt_trainer *t, const vkt_batch *b, vkt_model *model,
                             const char *loss_name, const char *acc_name)
{
    vkt_tensor *logits = vkt_model_forward(model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_tensor *acc = accuracy(logits, b);
    if (!loss || !acc) {
        return vkt_last_status();
    }
    /* DDP: the epoch values over every rank's shard (a no-op on one process) */
    vkt_log_opts o = {.on_epoch = VKT_FLAG_ON, .prog_bar = true, .sync_dist = true};
    vkt_status s = vkt_log(t, loss_name, loss, &o);
    return s == VKT_OK ? vkt_log(t, acc_name, acc, &o) : s;
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    classifier *c = ud;
    return vkt_cli_eval_step(t, b, c->model, "val_loss", "val_acc");
}

static vkt_status test_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                            vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    classifier *c = ud;
    return vkt_cli_eval_step(t, b, c->model, "test_loss", "test_acc");
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    classifier *c = ud;
    oc->optimizer = c->opt;
    oc->model = c->model;
    oc->scheduler = c->sched; /* stepped once per epoch, after its last batch */
    return VKT_OK;
}

static vkt_status on_train_epoch_start(vkt_trainer *t, void *ud)
{
    classifier *c = ud;
    vkt_cli_clock_start(&c->clock, t);
    return VKT_OK;
}

static vkt_status stop_clock(vkt_trainer *t, void *ud)
{
    classifier *c = ud;
    vkt_cli_clock_stop(&c->clock, t, false);
    return VKT_OK;
}

/* One summary line per epoch (read at epoch end only, through the progress bar's printer). */
static vkt_status print_epoch(vkt_trainer *t, void *ud)
{
    (void)ud;
    float tl = NAN, vl = NAN, va = NAN;
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "train_loss_epoch", &tl);
    bool has_val = vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", &vl);
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_acc", &va);
    char line[256];
    /* 0-based like the progress bar's "Epoch N:" and Lightning's current_epoch; the second number
     * is the last epoch's index, as Lightning's RichProgressBar shows "Epoch 0/14" */
    int n = snprintf(line, sizeof line, "epoch %u/%lld  train_loss %.4f",
                     vkt_trainer_current_epoch(t),
                     (long long)vkt_trainer_query_desc(t)->max_epochs - 1, (double)tl);
    if (has_val) {
        snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.4f  val_acc %.4f", (double)vl,
                 (double)va);
    }
    vkt_trainer_print(t, "%s\n", line);
    return VKT_OK;
}

/* Started by an MPI launcher with more than one rank (Open MPI's or a PMI one: MPICH's hydra,
 * Slurm's srun): Lightning's auto strategy picks DDP there too. */
static bool launched_with_ranks(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) {
            return true;
        }
    }
    return false;
}

int vkt_cli_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) { /* the GPT has options of its own: tools/train_gpt.c */
        if ((strcmp(argv[i], "--model") == 0 && i + 1 < argc && strcmp(argv[i + 1], "gpt") == 0) ||
            strcmp(argv[i], "--model=gpt") == 0) {
            return vkt_cli_train_gpt(argc, argv);
        }
    }
    train_args a;
    int rc = parse(argc, argv, &a);
    if (rc) {
        return rc < 0 ? 0 : rc;
    }
    rc = 1;
    vkt_dict *resume = NULL, *hparams = NULL;
    vkt_dataset *train_ds = NULL, *test_ds = NULL;
    uint32_t *tr_idx = NULL, *val_idx = NULL, n_tr = 0, n_val = 0;
    vkt_device *dev = NULL;
    vkt_loader *train_l = NULL, *val_l = NULL, *test_l = NULL;
    vkt_model *m = NULL;
    vkt_optimizer *opt = NULL;
    vkt_scheduler *sched = NULL;
    vkt_trainer *trainer = NULL;
    vkt_dist *dist = NULL;
    char what[512];

    bool ddp = strcmp(a.strategy, "ddp") == 0 ||
               (strcmp(a.strategy, "auto") == 0 && launched_with_ranks());
    if (ddp) {
        if (vkt_dist_create(NULL, &dist) != VKT_OK) {
            return vkt_cli_fail(CMD, "joining the ranks (--strategy ddp)");
        }
        if (vkt_dist_rank(dist) != 0 && !freopen("/dev/null", "w", stdout)) {
            fprintf(stderr, CMD ": rank %d: cannot silence stdout\n", vkt_dist_rank(dist));
        }
        if (!a.dev.select) {
            a.dev.select = vkt_dist_device_select(dist);
        }
    }

    /* a resumed run continues the checkpoint's model: its kind and sizes come from the
     * checkpoint, and --model and --layers, if given, must agree (the weights would not fit) */
    vkt_cli_model mdl = {.kind = a.model, .n_layers = a.n_layers, .classes = 10};
    memcpy(mdl.layers, a.layers, sizeof a.layers);
    if (a.resume) {
        if (vkt_checkpoint_load(a.resume, &resume) != VKT_OK) {
            rc = vkt_cli_fail(CMD, "--resume");
            goto cleanup;
        }
        const vkt_dict *hp = vkt_dict_get_child(resume, "hyper_parameters");
        const char *kind = hp ? vkt_dict_get_string(hp, "model") : NULL;
        if (kind && strcmp(kind, "gpt") == 0) { /* its options are not these: name the command */
            fprintf(stderr, CMD ": %s holds a GPT; resume it with vkt train --model gpt --resume "
                                "%s\n",
                    a.resume, a.resume);
            goto cleanup;
        }
        if (vkt_cli_model_from_ckpt(CMD, resume, a.resume, &mdl)) {
            goto cleanup;
        }
        if (a.model_set && mdl.kind != a.model) {
            fprintf(stderr, CMD ": --model %s disagrees with the checkpoint %s, which holds a %s; "
                                "leave --model out to use the checkpoint's\n",
                    vkt_cli_model_name(a.model), a.resume, vkt_cli_model_name(mdl.kind));
            goto cleanup;
        }
        if (mdl.kind == VKT_CLI_CNN && a.layers_set) {
            fprintf(stderr, CMD ": --layers sets the sizes of --model mlp, but %s holds a cnn\n",
                    a.resume);
            goto cleanup;
        }
        a.model = mdl.kind;
        const uint32_t *sizes = mdl.layers;
        int n = mdl.n_layers;
        if (mdl.kind == VKT_CLI_MLP && a.layers_set &&
            (n != a.n_layers || memcmp(sizes, a.layers, n * sizeof *sizes))) {
            char have[MAX_SIZES * 12], want[MAX_SIZES * 12];
            fprintf(stderr, CMD ": --layers %s disagrees with the checkpoint %s, whose model is "
                                "%s; leave --layers out to use the checkpoint's\n",
                    format_sizes(a.layers, a.n_layers, want, sizeof want), a.resume,
                    format_sizes(sizes, n, have, sizeof have));
            goto cleanup;
        }
        memcpy(a.layers, sizes, n * sizeof *sizes);
        a.n_layers = n;
    }
    if (make_hparams(&a, &hparams) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "recording the hyper-parameters");
        goto cleanup;
    }

    /* data first: a missing data set is the commonest error, report it before opening a GPU; and
     * every split must fit the model before the first epoch, not show up as a NaN test loss */
    if (vkt_dataset_load_mnist(a.data, "train", &train_ds) != VKT_OK ||
        vkt_dataset_load_mnist(a.data, "t10k", &test_ds) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "loading data");
        goto cleanup;
    }
    snprintf(what, sizeof what, "the training split (train in %s, also the validation split)",
             a.data);
    if (vkt_cli_model_fit_data(CMD, &mdl, train_ds, what)) {
        goto cleanup;
    }
    snprintf(what, sizeof what, "the test split (t10k in %s)", a.data);
    if (vkt_cli_model_fit_data(CMD, &mdl, test_ds, what)) {
        goto cleanup;
    }
    if (vkt_split_indices(vkt_dataset_count(train_ds), a.val_split, a.seed, &tr_idx, &n_tr,
                          &val_idx, &n_val) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "splitting");
        goto cleanup;
    }
    if (n_tr == 0) {
        fprintf(stderr, CMD ": --val-split %g leaves no training samples of %u\n",
                (double)a.val_split, vkt_dataset_count(train_ds));
        goto cleanup;
    }

    dev = vkt_cli_open_device_print(&a.dev);
    if (!dev) {
        goto cleanup;
    }

    if (vkt_loader_create(dev, &(vkt_loader_desc){.dataset = train_ds, .batch_size = a.batch_size,
                                                  .shuffle = true, .seed = a.seed,
                                                  .indices = tr_idx, .count = n_tr,
                                                  .stream = a.stream},
                          &train_l) ||
        (n_val && vkt_loader_create(dev, &(vkt_loader_desc){.dataset = train_ds, .batch_size = 1000,
                                                           .indices = val_idx, .count = n_val,
                                                           .stream = a.stream},
                                    &val_l)) ||
        vkt_loader_create(dev, &(vkt_loader_desc){.dataset = test_ds, .batch_size = 1000,
                                                  .stream = a.stream},
                          &test_l)) {
        rc = vkt_cli_fail(CMD, "creating data loaders");
        goto cleanup;
    }
    printf("data: %s: %u train, %u validation, %u test samples (%s)\n", a.data, n_tr, n_val,
           vkt_dataset_count(test_ds),
           vkt_loader_on_device(train_l) ? "uploaded once, batches gathered on the device"
                                         : "streamed from the host");

    if (vkt_cli_model_create(CMD, dev, &mdl, a.seed, &m)) {
        goto cleanup;
    }
    if (vkt_optimizer_create(m, &(vkt_optim_desc){.type = a.optimizer, .lr = a.lr,
                                                  .momentum = a.momentum,
                                                  .weight_decay = a.weight_decay},
                             &opt)) {
        rc = vkt_cli_fail(CMD, "creating the optimizer");
        goto cleanup;
    }
    if (a.schedule != VKT_SCHED_NONE &&
        vkt_scheduler_create(opt, &(vkt_sched_desc){.type = a.schedule, .t_max = a.epochs,
                                                    .step_size = 5},
                             &sched)) {
        rc = vkt_cli_fail(CMD, "creating the schedule");
        goto cleanup;
    }
    printf("model: %s", vkt_cli_model_describe(&mdl, what, sizeof what));
    printf(", %llu parameters; %s lr %g (%s), weight decay %g, batch %u\n",
           (unsigned long long)vkt_model_num_params(m), opt_names[a.optimizer], (double)a.lr,
           sched_names[a.schedule], (double)a.weight_decay, a.batch_size);
    if (a.resume) {
        printf("resuming from %s\n", a.resume);
    }
    fflush(stdout);

    classifier cls = {.model = m, .opt = opt, .sched = sched, .clock = {.profile = a.profile}};
    vkt_module module = {
        .training_step = training_step,
        .validation_step = validation_step,
        .test_step = test_step,
        .configure_optimizers = configure_optimizers,
        .model = m,
        .on_train_epoch_start = on_train_epoch_start,
        .on_validation_start = stop_clock,
        .on_train_epoch_end = stop_clock,
        .user_data = &cls,
    };
    vkt_callback summary = {.on_train_epoch_end = print_epoch, .name = "EpochSummary"};
    if (vkt_trainer_create(
            dev,
            &(vkt_trainer_desc){.max_epochs = a.epochs,
                                .log_every_n_steps = a.log_every,
                                .limit_train_batches = {.count = a.limit_batches},
                                .disable_step_logging = a.log_every == 0,
                                .seed = a.seed,
                                .hparams = hparams,
                                .ckpt_path = a.resume,
                                .ckpt = resume, /* read once, above */
                                .callbacks = {&summary},
                                .strategy = dist ? VKT_STRATEGY_DDP : VKT_STRATEGY_SINGLE,
                                .dist = dist,
                                .ddp_bucket_bytes =
                                    a.bucket_mb > 0
                                        ? (size_t)fmax(1.0, (double)a.bucket_mb * (1 << 20))
                                        : SIZE_MAX},
            &trainer)) {
        rc = vkt_cli_fail(CMD, "creating the trainer");
        goto cleanup;
    }
    if (vkt_cli_fit(CMD, trainer, &module, train_l, val_l, NULL)) {
        goto cleanup;
    }
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    uint64_t steps = vkt_trainer_global_step(trainer);
    if (vkt_trainer_test(trainer, &module, test_l)) {
        rc = vkt_cli_fail(CMD, "testing");
        goto cleanup;
    }
    float test_acc = NAN, test_loss = NAN;
    vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "test_acc", &test_acc);
    vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "test_loss", &test_loss);
    printf("test_acc %.4f  test_loss %.4f  (%u samples)\n", (double)test_acc, (double)test_loss,
           vkt_dataset_count(test_ds));
    printf("training: %llu samples in %.1f s = %.0f samples/s%s\n",
           (unsigned long long)cls.train_samples, cls.clock.train_time,
           (double)cls.train_samples / cls.clock.train_time, dist ? " (rank 0's)" : "");
    if (dist) {
        vkt_dist_stats ds;
        vkt_dist_get_stats(dist, &ds);
        double n = steps ? (double)steps : 1.0;
        printf("ddp: %d ranks; per step %.0f gradient bytes all-reduced in %.1f buckets, %.0f "
               "bytes sent by this rank, %.2f ms in the ring (%.2f ms of it during the backward), "
               "%.2f ms waiting for gradients (the backward on the device)\n",
               vkt_dist_size(dist), ds.allreduce_bytes / n, ds.buckets / n, ds.sent_bytes / n,
               ds.allreduce_ms / n, ds.overlap_ms / n, ds.wait_ms / n);
    }
    double s = steps ? (double)steps : 1.0; /* a resumed run may have no step left to run */
    printf("per step (whole fit, validation included): %.3f submits, %.3f host waits, %.3f frame "
           "waits, %.1f dispatches, %.1f barriers, %.0f B uploaded, %.1f B read back (%llu steps, "
           "%u epochs)\n",
           st.submits / s, st.host_waits / s, st.frame_waits / s, st.dispatches / s,
           st.barriers / s, st.bytes_uploaded / s, st.bytes_downloaded / s,
           (unsigned long long)steps, a.epochs);
    if (a.profile && vkt_cli_profile_print(CMD, dev, &cls.clock, stdout)) {
        goto cleanup;
    }
    printf("device memory: peak %.1f MiB; logs and checkpoints in %s\n",
           st.memory_peak / 1048576.0, vkt_trainer_log_dir(trainer));
    /* the final weights as a flat state dict: torch's load_state_dict takes it unchanged */
    snprintf(what, sizeof what, "%s/model.safetensors", vkt_trainer_log_dir(trainer));
    if (vkt_trainer_is_global_zero(trainer) && vkt_model_save_safetensors(m, what) != VKT_OK) {
        rc = vkt_cli_fail(CMD, "saving the weights");
        goto cleanup;
    }
    printf("weights: %s (PyTorch: model.load_state_dict(safetensors.torch.load_file(path)))\n",
           what);
    rc = 0;

cleanup:
    vkt_trainer_destroy(trainer);
    vkt_scheduler_destroy(sched);
    vkt_optimizer_destroy(opt);
    vkt_model_destroy(m);
    vkt_loader_destroy(train_l);
    vkt_loader_destroy(val_l);
    vkt_loader_destroy(test_l);
    vkt_device_destroy(dev);
    vkt_dataset_destroy(train_ds);
    vkt_dataset_destroy(test_ds);
    free(tr_idx);
    free(val_idx);
    vkt_dict_destroy(hparams);
    vkt_dict_destroy(resume);
    vkt_dist_destroy(dist);
    return rc;
}
