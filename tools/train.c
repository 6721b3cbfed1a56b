/*
 * train.c — `vkt train`: an MLP on an MNIST-layout data set (Fashion-MNIST by default), on the
 * Lightning-style trainer (include/vkt/train.h): progress bar, lightning_logs/version_N/
 * metrics.csv, checkpoints, per-epoch summary, then the test set.
 *
 * Each step (gather, forward, loss, zero_grad, backward, update) is one command buffer and one
 * submit; losses and accuracies are logged as device tensors and reduced on the device, so the
 * host reads values only at logging points (every --log-every steps, epoch ends, progress-bar
 * refreshes on a terminal).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct train_args {
    const char *data;
    uint32_t layers[16];
    int n_layers;
    uint32_t epochs, batch_size, log_every;
    float lr, momentum, weight_decay, val_split;
    bool weight_decay_set;
    vkt_optim_type optimizer;
    uint64_t seed;
    bool stream;
    vkt_sched_type schedule;
} train_args;

static int train_usage(FILE *f)
{
    fprintf(
        f,
        "usage: vkt train [options]\n"
        "\n"
        "Trains an MLP on an MNIST-layout data set and prints, per epoch, the training loss,\n"
        "the validation loss and accuracy, then the test accuracy.\n"
        "\n"
        "  --data DIR          IDX files train-/t10k-{images-idx3,labels-idx1}-ubyte[.gz]\n"
        "                      (default %s)\n"
        "  --layers L,L,...    layer sizes (default 784,256,128,10)\n"
        "  --epochs N          (default 15)\n"
        "  --batch-size N      (default 128)\n"
        "  --lr X              learning rate (default 1e-3)\n"
        "  --optimizer NAME    sgd | adam | adamw (default adam)\n"
        "  --momentum X        SGD momentum (default 0)\n"
        "  --weight-decay X    (default 0; 0.01 for adamw as in torch)\n"
        "  --schedule NAME     learning rate per epoch: cosine (to 0 over the run), step\n"
        "                      (x0.1 every 5 epochs) or none (default cosine)\n"
        "  --seed N            initialisation, shuffling and split (default 0)\n"
        "  --val-split X       fraction of the training set held out (default 0.1)\n"
        "  --log-every N       log step metrics (metrics.csv) every N steps; 0 = never\n"
        "                      (default 50, as Lightning's log_every_n_steps)\n"
        "  --stream            stream batches from the host instead of gathering on the device\n"
        "  --device D          device index or name substring\n"
        "  --validation        Khronos validation (slow)\n",
        DEFAULT_DATA);
    return f == stderr ? 2 : 0;
}

static void die(const char *what)
{
    fprintf(stderr, "vkt train: %s: %s\n", what, vkt_last_error());
    exit(1);
}

static double parse_num(const char *flag, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "vkt train: %s takes a number in [%g, %g], not '%s'\n", flag, lo, hi, v);
        exit(2);
    }
    return x;
}

static void parse(int argc, char **argv, train_args *a)
{
    *a = (train_args){
        .data = DEFAULT_DATA,
        .layers = {784, 256, 128, 10},
        .n_layers = 4,
        .epochs = 15,
        .batch_size = 128,
        .log_every = 50,
        .lr = 1e-3f,
        .val_split = 0.1f,
        .optimizer = VKT_OPTIM_ADAM,
        .schedule = VKT_SCHED_COSINE,
    };
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--stream") == 0) {
            a->stream = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vkt train: %s needs a value (see --help)\n", f);
            exit(2);
        }
        const char *v = argv[++i];
        if (strcmp(f, "--data") == 0) {
            a->data = v;
        } else if (strcmp(f, "--layers") == 0) {
            a->n_layers = 0;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (a->n_layers == 16) {
                    fprintf(stderr, "vkt train: at most 16 layer sizes\n");
                    exit(2);
                }
                a->layers[a->n_layers++] = (uint32_t)parse_num("--layers", tok, 1, 1 << 20);
            }
            if (a->n_layers < 2) {
                fprintf(stderr, "vkt train: --layers needs at least two sizes, e.g. 784,10\n");
                exit(2);
            }
        } else if (strcmp(f, "--epochs") == 0) {
            a->epochs = (uint32_t)parse_num(f, v, 1, 1e6);
        } else if (strcmp(f, "--batch-size") == 0) {
            a->batch_size = (uint32_t)parse_num(f, v, 1, 1 << 20);
        } else if (strcmp(f, "--lr") == 0) {
            a->lr = (float)parse_num(f, v, 1e-12, 1e3);
        } else if (strcmp(f, "--momentum") == 0) {
            a->momentum = (float)parse_num(f, v, 0, 1);
        } else if (strcmp(f, "--weight-decay") == 0) {
            a->weight_decay = (float)parse_num(f, v, 0, 1e3);
            a->weight_decay_set = true;
        } else if (strcmp(f, "--seed") == 0) {
            a->seed = (uint64_t)parse_num(f, v, 0, 1e18);
        } else if (strcmp(f, "--val-split") == 0) {
            a->val_split = (float)parse_num(f, v, 0, 0.9);
        } else if (strcmp(f, "--log-every") == 0) {
            a->log_every = (uint32_t)parse_num(f, v, 0, 1e9);
        } else if (strcmp(f, "--schedule") == 0) {
            a->schedule = strcmp(v, "cosine") == 0 ? VKT_SCHED_COSINE
                          : strcmp(v, "step") == 0 ? VKT_SCHED_STEP
                          : strcmp(v, "none") == 0 ? VKT_SCHED_NONE
                                                   : (vkt_sched_type)-1;
            if ((int)a->schedule < 0) {
                fprintf(stderr, "vkt train: --schedule is cosine, step or none, not '%s'\n", v);
                exit(2);
            }
        } else if (strcmp(f, "--optimizer") == 0) {
            a->optimizer = strcmp(v, "sgd") == 0     ? VKT_OPTIM_SGD
                           : strcmp(v, "adam") == 0  ? VKT_OPTIM_ADAM
                           : strcmp(v, "adamw") == 0 ? VKT_OPTIM_ADAMW
                                                     : VKT_OPTIM_DEFAULT;
            if (a->optimizer == VKT_OPTIM_DEFAULT) {
                fprintf(stderr, "vkt train: --optimizer is sgd, adam or adamw, not '%s'\n", v);
                exit(2);
            }
        } else {
            fprintf(stderr, "vkt train: unknown option %s (see --help)\n", f);
            exit(2);
        }
    }
    if (a->optimizer == VKT_OPTIM_ADAMW && !a->weight_decay_set) {
        a->weight_decay = 0.01f;
    }
}

/* ---- the module: an MLP classifier, Lightning style ----------------------------------------- */

typedef struct classifier {
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_scheduler *sched;
    /* timing of the training batches (for samples/s), per epoch */
    double epoch_t0, train_time;
    uint64_t train_samples;
    bool timing;
} classifier;

static vkt_tensor *accuracy(vkt_tensor *logits, const vkt_batch *b)
{
    return vkt_scale(vkt_cast(vkt_count_equal(vkt_argmax_rows(logits), b->y), VKT_F32),
                     1.0f / (float)b->rows);
}

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    classifier *c = ud;
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(c->model, b->x), b->y);
    vkt_status s = vkt_log(t, "train_loss", loss,
                           &(vkt_log_opts){.on_step = VKT_FLAG_ON, .on_epoch = VKT_FLAG_ON,
                                           .prog_bar = true});
    c->train_samples += b->rows;
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status eval_step(vkt_trainer *t, const vkt_batch *b, classifier *c,
                            const char *loss_name, const char *acc_name)
{
    vkt_tensor *logits = vkt_model_forward(c->model, b->x);
    vkt_log_opts o = {.on_epoch = VKT_FLAG_ON, .prog_bar = true};
    vkt_status s = vkt_log(t, loss_name, vkt_softmax_xent(logits, b->y), &o);
    return s == VKT_OK ? vkt_log(t, acc_name, accuracy(logits, b), &o) : s;
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    return eval_step(t, b, ud, "val_loss", "val_acc");
}

static vkt_status test_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                            vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    return eval_step(t, b, ud, "test_loss", "test_acc");
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
    (void)t;
    classifier *c = ud;
    c->epoch_t0 = vkt__cli_now();
    c->timing = true;
    return VKT_OK;
}

/* training time = from the epoch's start to its validation (or its end without validation) */
static vkt_status stop_clock(vkt_trainer *t, void *ud)
{
    classifier *c = ud;
    if (c->timing && !vkt_trainer_sanity_checking(t)) {
        c->train_time += vkt__cli_now() - c->epoch_t0;
        c->timing = false;
    }
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
    int n = snprintf(line, sizeof line, "epoch %u/%lld  train_loss %.4f",
                     vkt_trainer_current_epoch(t) + 1,
                     (long long)vkt_trainer_query_desc(t)->max_epochs, (double)tl);
    if (has_val) {
        snprintf(line + n, sizeof line - (size_t)n, "  val_loss %.4f  val_acc %.4f", (double)vl,
                 (double)va);
    }
    vkt_trainer_print(t, "%s\n", line);
    return VKT_OK;
}

int vkt_cli_train(int argc, char **argv)
{
    const char *select = NULL;
    bool validation = false;
    argc = vkt_cli_device_args(argc, argv, &select, &validation);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return train_usage(stdout);
        }
    }
    train_args a;
    parse(argc, argv, &a);

    /* data first: a missing data set is the commonest error, report it before opening a GPU */
    vkt_dataset *train_ds, *test_ds;
    if (vkt_dataset_load_mnist(a.data, "train", &train_ds) != VKT_OK ||
        vkt_dataset_load_mnist(a.data, "t10k", &test_ds) != VKT_OK) {
        die("loading data");
    }
    if (vkt_dataset_features(train_ds) != a.layers[0] ||
        vkt_dataset_classes(train_ds) > a.layers[a.n_layers - 1]) {
        fprintf(stderr, "vkt train: the data has %u features and %u classes but --layers starts "
                        "with %u and ends with %u\n",
                vkt_dataset_features(train_ds), vkt_dataset_classes(train_ds), a.layers[0],
                a.layers[a.n_layers - 1]);
        return 2;
    }
    uint32_t *tr_idx, *val_idx, n_tr, n_val;
    if (vkt_split_indices(vkt_dataset_count(train_ds), a.val_split, a.seed, &tr_idx, &n_tr,
                          &val_idx, &n_val) != VKT_OK) {
        die("splitting");
    }

    vkt_device *dev = vkt_cli_open_device(select, validation);
    const vkt_device_info *info = vkt_device_get_info(dev);
    printf("device: %s (%s)\n", info->name, vkt_device_type_name(info->type));

    vkt_loader *train_l, *val_l = NULL, *test_l;
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
        die("creating data loaders");
    }
    printf("data: %s: %u train, %u validation, %u test samples (%s)\n", a.data, n_tr, n_val,
           vkt_dataset_count(test_ds),
           vkt_loader_on_device(train_l) ? "uploaded once, batches gathered on the device"
                                         : "streamed from the host");

    vkt_model_desc md;
    vkt_model *m;
    vkt_optimizer *opt;
    if (vkt_mlp_desc(a.layers, a.n_layers, a.seed, &md) || vkt_model_create(dev, &md, &m) ||
        vkt_optimizer_create(m, &(vkt_optim_desc){.type = a.optimizer, .lr = a.lr,
                                                  .momentum = a.momentum,
                                                  .weight_decay = a.weight_decay},
                             &opt)) {
        die("creating the model");
    }
    vkt_scheduler *sched = NULL;
    if (a.schedule != VKT_SCHED_NONE &&
        vkt_scheduler_create(opt, &(vkt_sched_desc){.type = a.schedule, .t_max = a.epochs,
                                                    .step_size = 5},
                             &sched)) {
        die("creating the schedule");
    }
    printf("model: MLP");
    for (int i = 0; i < a.n_layers; i++) {
        printf("%c%u", i ? '-' : ' ', a.layers[i]);
    }
    static const char *opt_names[] = {"adam", "sgd", "adam", "adamw"};
    static const char *sched_names[] = {"constant", "step", "cosine"};
    printf(", %llu parameters; %s lr %g (%s), weight decay %g, batch %u\n",
           (unsigned long long)vkt_model_num_params(m), opt_names[a.optimizer], (double)a.lr,
           sched_names[a.schedule], (double)a.weight_decay, a.batch_size);
    fflush(stdout);

    classifier cls = {.model = m, .opt = opt, .sched = sched};
    vkt_module module = {
        .training_step = training_step,
        .validation_step = validation_step,
        .test_step = test_step,
        .configure_optimizers = configure_optimizers,
        .on_train_epoch_start = on_train_epoch_start,
        .on_validation_start = stop_clock,
        .on_train_epoch_end = stop_clock,
        .user_data = &cls,
    };
    vkt_callback summary = {.on_train_epoch_end = print_epoch, .name = "EpochSummary"};
    vkt_trainer *trainer;
    if (vkt_trainer_create(dev, &(vkt_trainer_desc){.max_epochs = a.epochs,
                                                    .log_every_n_steps = a.log_every,
                                                    .disable_step_logging = a.log_every == 0,
                                                    .seed = a.seed,
                                                    .callbacks = {&summary}},
                           &trainer)) {
        die("creating the trainer");
    }
    vkt_device_finish(dev);
    vkt_device_reset_stats(dev);
    if (vkt_trainer_fit(trainer, &module, train_l, val_l)) {
        die("training");
    }
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    uint64_t steps = vkt_trainer_global_step(trainer);
    if (vkt_trainer_test(trainer, &module, test_l)) {
        die("testing");
    }
    float test_acc = NAN, test_loss = NAN;
    vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "test_acc", &test_acc);
    vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "test_loss", &test_loss);
    printf("test_acc %.4f  test_loss %.4f  (%u samples)\n", (double)test_acc, (double)test_loss,
           vkt_dataset_count(test_ds));
    printf("training: %llu samples in %.1f s = %.0f samples/s\n",
           (unsigned long long)cls.train_samples, cls.train_time,
           (double)cls.train_samples / cls.train_time);
    double s = (double)steps;
    printf("per step (whole fit, validation included): %.3f submits, %.3f host waits, %.3f frame "
           "waits, %.1f dispatches, %.1f barriers, %.0f B uploaded, %.1f B read back (%llu steps, "
           "%u epochs)\n",
           st.submits / s, st.host_waits / s, st.frame_waits / s, st.dispatches / s,
           st.barriers / s, st.bytes_uploaded / s, st.bytes_downloaded / s,
           (unsigned long long)steps, a.epochs);
    printf("device memory: peak %.1f MiB; logs and checkpoints in %s\n",
           st.memory_peak / 1048576.0, vkt_trainer_log_dir(trainer));
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
    return 0;
}
