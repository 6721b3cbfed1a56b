/*
 * eval.c — `vkt test` and `vkt predict`: a model saved by `vkt train` evaluated on the test split.
 *
 * The architecture comes from the checkpoint itself (hyper_parameters.model and the shapes of its
 * state_dict: tools/models.c), so the user never re-types --model or --layers and a checkpoint
 * cannot be paired with the wrong model.
 *
 * predict writes CSV, one row per test sample in file order:
 *     index,label,predicted,prob_0,...,prob_<C-1>
 * where prob_k is the softmax of the logits (computed on the host from the downloaded logits).
 * With --output the file is written to a temporary name and renamed at the end, so an existing
 * file is replaced only by a complete one.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"
#include "train/train_internal.h"

int vkt_cli_ckpt_layers(const char *cmd, const vkt_dict *ckpt, const char *path,
                        uint32_t *layers, int max, int *n)
{
    const vkt_dict *sd = vkt_dict_get_child(ckpt, "state_dict");
    int count = 0;
    for (int i = 0; sd; i += 2) {
        char key[32];
        snprintf(key, sizeof key, "%d.weight", i);
        int nd = 0;
        int64_t shape[VKT_MAX_DIMS];
        if (!vkt_dict_get_floats(sd, key, &nd, shape)) {
            break;
        }
        if (nd != 2 || shape[0] < 1 || shape[1] < 1 || shape[0] > UINT32_MAX ||
            shape[1] > UINT32_MAX || (count > 0 && (uint32_t)shape[1] != layers[count - 1])) {
            fprintf(stderr, "%s: %s: \"%s\" does not continue an MLP (2-D, its input size the "
                            "previous layer's output size)\n",
                    cmd, path, key);
            return 1;
        }
        if (count + (count == 0 ? 2 : 1) > max) {
            fprintf(stderr, "%s: %s: more than %d layer sizes\n", cmd, path, max);
            return 1;
        }
        if (count == 0) {
            layers[count++] = (uint32_t)shape[1];
        }
        layers[count++] = (uint32_t)shape[0];
    }
    if (count < 2) {
        fprintf(stderr, "%s: %s: the checkpoint has no MLP weights (state_dict \"0.weight\"); "
                        "is it from vkt train?\n",
                cmd, path);
        return 1;
    }
    *n = count;
    return 0;
}

int vkt_cli_ckpt_weights(const char *cmd, const vkt_dict *ckpt, const char *path, vkt_model *m)
{
    if (vkt__load_state_dict(ckpt, m, path) != VKT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, vkt_last_error());
        return 1;
    }
    return 0;
}

int vkt_cli_check_data(const char *cmd, const vkt_dataset *ds, const char *what,
                       uint32_t features, uint32_t classes)
{
    if (vkt_dataset_features(ds) != features) {
        fprintf(stderr, "%s: %s has %u features per sample, but the model takes %u\n", cmd, what,
                vkt_dataset_features(ds), features);
        return 1;
    }
    for (uint32_t i = 0; i < vkt_dataset_count(ds); i++) {
        uint32_t label = vkt_dataset_label(ds, i);
        if (label >= classes) {
            fprintf(stderr, "%s: %s: sample %u has label %u, but the model has %u outputs "
                            "(classes 0..%u)\n",
                    cmd, what, i, label, classes, classes - 1);
            return 1;
        }
    }
    return 0;
}

/* ---- the two commands ------------------------------------------------------------------------ */

typedef struct eval_args {
    const char *cmd; /* for the messages */
    const char *data, *checkpoint, *output;
    vkt_cli_device_opts dev;
    uint32_t batch_size;
    bool stream;
} eval_args;

static int eval_usage(FILE *f, const char *cmd)
{
    bool predict = strcmp(cmd, "vkt predict") == 0;
    fprintf(f,
            "usage: %s --checkpoint PATH [options]\n"
            "\n"
            "%s"
            "The model (mlp or cnn, and its sizes) is read from the checkpoint.\n"
            "\n"
            "  --checkpoint PATH   a checkpoint written by vkt train (required)\n"
            "  --data DIR          IDX files t10k-{images-idx3,labels-idx1}-ubyte[.gz]\n"
            "                      (default %s)\n"
            "%s"
            "  --batch-size N      (default 1000)\n"
            "  --stream            stream batches from the host instead of gathering them on\n"
            "                      the device\n"
            "  --device D          device index or name substring\n"
            "  --validation        Khronos validation (slow)\n"
            "  -h, --help          this text\n",
            cmd,
            predict ? "Writes the model's prediction for every test sample as CSV, one row per\n"
                      "sample in file order:\n"
                      "    index,label,predicted,prob_0,...,prob_<C-1>\n"
                      "(prob_k: the softmax of the logits; label: the data set's label).\n"
                    : "Evaluates a saved model on the test split and prints test_acc and "
                      "test_loss.\n",
            VKT_CLI_DEFAULT_DATA,
            predict ? "  --output FILE       write the CSV there (replaced only once complete);\n"
                      "                      default standard output\n"
                    : "");
    return f == stderr ? 2 : 0;
}

enum { O_DATA = 256, O_CKPT, O_OUTPUT, O_BATCH, O_STREAM };

static int parse_opt(int c, const char *v, void *ud)
{
    eval_args *a = ud;
    switch (c) {
    case O_DATA: a->data = v; return 0;
    case O_CKPT: a->checkpoint = v; return 0;
    case O_OUTPUT: a->output = v; return 0;
    case O_BATCH: return vkt_cli_u32(a->cmd, "--batch-size", v, 1, 1 << 20, &a->batch_size);
    case O_STREAM: a->stream = true; return 0;
    default: return 0; /* getopt_long returns only the table's values */
    }
}

static int parse_eval(const char *cmd, bool predict, int argc, char **argv, eval_args *a)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, O_OUTPUT}, /* predict only: skipped for test */
        {"data", required_argument, NULL, O_DATA},
        {"checkpoint", required_argument, NULL, O_CKPT},
        {"batch-size", required_argument, NULL, O_BATCH},
        {"stream", no_argument, NULL, O_STREAM},
        VKT_CLI_DEVICE_OPTS,
    };
    *a = (eval_args){.cmd = cmd, .data = VKT_CLI_DEFAULT_DATA, .batch_size = 1000};
    int rc = vkt_cli_getopt(cmd, cmd, argc, argv, predict ? opts : opts + 1, &a->dev, parse_opt,
                            a);
    if (rc == VKT_CLI_HELP) {
        eval_usage(stdout, cmd);
        return -1;
    }
    if (rc) {
        return rc;
    }
    if (!a->checkpoint) {
        fprintf(stderr, "%s: --checkpoint PATH is required (see %s --help)\n", cmd, cmd);
        return 2;
    }
    return 0;
}

typedef struct eval_ctx {
    vkt_model *model;
    const vkt_dataset *ds;
    uint32_t classes, next_index;
    float *logits;      /* one batch of host logits (predict) */
    FILE *out;
} eval_ctx;

static vkt_status test_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                            vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    eval_ctx *e = ud;
    return vkt_cli_eval_step(t, b, e->model, "test_loss", "test_acc");
}

static vkt_status predict_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                               vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    eval_ctx *e = ud;
    vkt_tensor *logits = vkt_model_forward(e->model, b->x);
    if (!logits) {
        return vkt_last_status();
    }
    vkt_status s = vkt_tensor_download(logits, e->logits, vkt_tensor_bytes(logits));
    for (uint32_t r = 0; s == VKT_OK && r < b->rows; r++) {
        const float *z = e->logits + (size_t)r * e->classes;
        uint32_t best = 0;
        double max = z[0], sum = 0;
        for (uint32_t k = 1; k < e->classes; k++) {
            if (z[k] > z[best]) {
                best = k;
            }
            max = fmax(max, z[k]);
        }
        for (uint32_t k = 0; k < e->classes; k++) {
            sum += exp(z[k] - max);
        }
        uint32_t idx = e->next_index++;
        fprintf(e->out, "%u,%u,%u", idx, vkt_dataset_label(e->ds, idx), best);
        for (uint32_t k = 0; k < e->classes; k++) {
            fprintf(e->out, ",%.6g", exp(z[k] - max) / sum);
        }
        fputc('\n', e->out);
    }
    if (s == VKT_OK && ferror(e->out)) {
        s = vkt_trainer_fail(t, VKT_IO, "writing the predictions failed");
    }
    return s;
}

static int run_eval(const char *cmd, bool predict, int argc, char **argv)
{
    eval_args a;
    int rc = parse_eval(cmd, predict, argc, argv, &a);
    if (rc) {
        return rc < 0 ? 0 : rc;
    }
    vkt_dict *ckpt = NULL;
    vkt_dataset *ds = NULL;
    vkt_device *dev = NULL;
    vkt_model *m = NULL;
    vkt_loader *loader = NULL;
    vkt_trainer *trainer = NULL;
    char *tmp_path = NULL;
    eval_ctx e = {.out = stdout};
    vkt_cli_model mdl;
    char what[512];
    rc = 1;

    if (vkt_checkpoint_load(a.checkpoint, &ckpt) != VKT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, vkt_last_error());
        goto cleanup;
    }
    if (vkt_cli_model_from_ckpt(cmd, ckpt, a.checkpoint, &mdl)) {
        goto cleanup;
    }
    if (vkt_dataset_load_mnist(a.data, "t10k", &ds) != VKT_OK) {
        fprintf(stderr, "%s: loading data: %s\n", cmd, vkt_last_error());
        goto cleanup;
    }
    snprintf(what, sizeof what, "the test split (t10k in %s)", a.data);
    e.classes = vkt_cli_model_classes(&mdl);
    e.ds = ds;
    if (vkt_cli_model_fit_data(cmd, &mdl, ds, what)) {
        goto cleanup;
    }
    dev = vkt_cli_open_device(a.dev.select, a.dev.validation);
    if (!dev) {
        goto cleanup;
    }
    if (vkt_cli_model_create(cmd, dev, &mdl, 0, &m)) {
        goto cleanup;
    }
    e.model = m;
    if (vkt_cli_ckpt_weights(cmd, ckpt, a.checkpoint, m)) {
        goto cleanup;
    }
    if (vkt_loader_create(dev, &(vkt_loader_desc){.dataset = ds, .batch_size = a.batch_size,
                                                  .stream = a.stream},
                          &loader) != VKT_OK) {
        fprintf(stderr, "%s: creating the data loader: %s\n", cmd, vkt_last_error());
        goto cleanup;
    }
    if (predict) {
        e.logits = vkt__malloc((size_t)a.batch_size * e.classes * sizeof *e.logits);
        if (!e.logits) {
            fprintf(stderr, "%s: out of host memory\n", cmd);
            goto cleanup;
        }
    }
    if (predict && a.output) {
        size_t len = strlen(a.output) + 8;
        tmp_path = vkt__malloc(len);
        int fd = tmp_path ? (snprintf(tmp_path, len, "%s.XXXXXX", a.output), mkstemp(tmp_path))
                          : -1;
        e.out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!e.out) {
            fprintf(stderr, "%s: cannot write next to %s: %s\n", cmd, a.output,
                    tmp_path ? strerror(errno) : "out of host memory");
            if (fd >= 0) {
                close(fd);
                unlink(tmp_path);
            }
            free(tmp_path);
            tmp_path = NULL;
            goto cleanup;
        }
    }
    /* logger and checkpoints off: evaluating a saved model must not create a new version dir;
     * predict's progress bar is off because the CSV may go to standard output */
    if (vkt_trainer_create(dev, &(vkt_trainer_desc){.logger = VKT_FLAG_OFF,
                                                    .enable_checkpointing = VKT_FLAG_OFF,
                                                    .enable_progress_bar = predict
                                                                               ? VKT_FLAG_OFF
                                                                               : VKT_FLAG_DEFAULT},
                           &trainer) != VKT_OK) {
        fprintf(stderr, "%s: creating the trainer: %s\n", cmd, vkt_last_error());
        goto cleanup;
    }
    vkt_module module = {
        .test_step = test_step, .predict_step = predict_step, .model = m, .user_data = &e};
    if (predict) {
        fprintf(e.out, "index,label,predicted");
        for (uint32_t k = 0; k < e.classes; k++) {
            fprintf(e.out, ",prob_%u", k);
        }
        fputc('\n', e.out);
        if (vkt_trainer_predict(trainer, &module, loader) != VKT_OK) {
            fprintf(stderr, "%s: predicting: %s\n", cmd, vkt_last_error());
            goto cleanup;
        }
        if (fflush(e.out) != 0 || ferror(e.out)) {
            fprintf(stderr, "%s: writing %s: %s\n", cmd, a.output ? a.output : "standard output",
                    strerror(errno));
            goto cleanup;
        }
        if (tmp_path) {
            FILE *f = e.out;
            e.out = NULL;
            if (fclose(f) != 0 || rename(tmp_path, a.output) != 0) {
                fprintf(stderr, "%s: writing %s: %s\n", cmd, a.output, strerror(errno));
                goto cleanup;
            }
            free(tmp_path);
            tmp_path = NULL;
            fprintf(stderr, "%s: %u predictions in %s\n", cmd, e.next_index, a.output);
        }
    } else {
        if (vkt_trainer_test(trainer, &module, loader) != VKT_OK) {
            fprintf(stderr, "%s: testing: %s\n", cmd, vkt_last_error());
            goto cleanup;
        }
        float acc = NAN, loss = NAN;
        vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "test_acc", &acc);
        vkt_trainer_metric(trainer, VKT_CALLBACK_METRICS, "test_loss", &loss);
        printf("test_acc %.4f  test_loss %.4f  (%u samples)\n", (double)acc, (double)loss,
               vkt_dataset_count(ds));
    }
    rc = 0;

cleanup:
    if (e.out && e.out != stdout) {
        fclose(e.out);
    }
    if (tmp_path) {
        /* an error while writing: drop the partial file, leave any existing --output alone */
        unlink(tmp_path);
        free(tmp_path);
    }
    vkt_trainer_destroy(trainer);
    free(e.logits);
    vkt_loader_destroy(loader);
    vkt_model_destroy(m);
    vkt_device_destroy(dev);
    vkt_dataset_destroy(ds);
    vkt_dict_destroy(ckpt);
    return rc;
}

int vkt_cli_test(int argc, char **argv) { return run_eval("vkt test", false, argc, argv); }

int vkt_cli_predict(int argc, char **argv) { return run_eval("vkt predict", true, argc, argv); }
