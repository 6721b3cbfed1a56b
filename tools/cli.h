/*
 * cli.h — shared pieces of the vkt command-line tool (tools/).
 */
#ifndef VKT_CLI_H
#define VKT_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "vkt/vkt.h"

#define VKT_CLI_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

/* ---- the device a command runs on (tools/cli_device.c) ---- */

/* --device D and --validation. */
typedef struct vkt_cli_device_opts {
    const char *select;
    bool validation;
} vkt_cli_device_opts;

/* Opens the device, or prints the library's message and returns NULL. */
vkt_device *vkt_cli_open_device(const char *select, bool validation);
/* vkt_cli_open_device, then its "device: NAME (TYPE)" line on stdout. */
vkt_device *vkt_cli_open_device_print(const vkt_cli_device_opts *d);
/* Removes --device D / --validation from argv; returns the new argc. */
int vkt_cli_device_args(int argc, char **argv, const char **select, bool *validation);

/* `vkt train` (tools/train.c); argv[0] is "train". */
int vkt_cli_train(int argc, char **argv);
/* `vkt train --model gpt` (tools/train_gpt.c); argv[0] is "train". */
int vkt_cli_train_gpt(int argc, char **argv);
/* `vkt generate` (tools/generate.c); argv[0] is "generate". */
int vkt_cli_generate(int argc, char **argv);
/* Writes `prompt` and n sampled characters of g (in eval mode) to `out`: 0, 2 for a prompt byte
 * outside the vocabulary, 1 for another error (reported). */
int vkt_cli_gpt_generate(const char *cmd, vkt_gpt *g, const vkt_vocab *vocab, const char *prompt,
                         uint32_t n, const vkt_sample_desc *sd, uint64_t seed, FILE *out);
/* The GPT's sizes and vocabulary from a checkpoint's hyper_parameters: 0, or 1 after printing
 * what is wrong with `path`. */
int vkt_cli_gpt_from_ckpt(const char *cmd, const vkt_dict *ckpt, const char *path,
                          vkt_gpt_config *cfg, vkt_vocab *vocab);
/* The fit of the training commands (tools/cli_fit.c): vkt_trainer_fit on an idle device with
 * its statistics zeroed, so that they count the fit alone. 0, or 1 after printing
 * "<cmd>: training: <the library's message>"; *seconds (when not NULL): the fit's wall time. */
int vkt_cli_fit(const char *cmd, vkt_trainer *t, vkt_module *m, vkt_loader *train,
                vkt_loader *val, double *seconds);
/* The training time of a fit (tools/cli_fit.c): each epoch from its start (on_train_epoch_start)
 * to its validation or, without one, its end (on_validation_start, on_train_epoch_end), the
 * sanity check left out. With `profile` set (--profile), the device profile is collected over the
 * same windows and `steps` counts the training steps they hold. */
typedef struct vkt_cli_clock {
    double epoch_t0, train_time;
    bool timing;
    bool profile;
    uint64_t steps, epoch_step0;
} vkt_cli_clock;
void vkt_cli_clock_start(vkt_cli_clock *c, vkt_trainer *t);
/* Adds the epoch's time once; `finish`: after the device's queued work, for steps that run
 * ahead of the host. */
void vkt_cli_clock_stop(vkt_cli_clock *c, vkt_trainer *t, bool finish);
/* The profile of c's windows as a table for one average training step (tools/cli_profile.c):
 * kernel, calls/step, ms/step, % of step, then commands, barriers, submits and host time per
 * step. 0, or 1 after printing the library's message. */
int vkt_cli_profile_print(const char *cmd, vkt_device *dev, const vkt_cli_clock *c, FILE *f);
/* `vkt test` and `vkt predict` (tools/eval.c); argv[0] is the command. */
int vkt_cli_test(int argc, char **argv);
int vkt_cli_predict(int argc, char **argv);
/* The classifier's eval step (tools/train.c): logs `loss_name` and `acc_name` for the batch. */
vkt_status vkt_cli_eval_step(vkt_trainer *t, const vkt_batch *b, vkt_model *model,
                             const char *loss_name, const char *acc_name);

/*
 * Strict option values (tools/args.c). Each returns 0, or prints "<cmd>: <opt> takes ..., not
 * '<v>'" and returns 2 (the usage-error exit code): integers are decimal digits only, floats are
 * finite, both in [lo, hi]; lists are comma-separated without empty items.
 */
int vkt_cli_u64(const char *cmd, const char *opt, const char *v, uint64_t lo, uint64_t hi,
                uint64_t *out);
int vkt_cli_u32(const char *cmd, const char *opt, const char *v, uint32_t lo, uint32_t hi,
                uint32_t *out);
int vkt_cli_float(const char *cmd, const char *opt, const char *v, double lo, double hi,
                  float *out);
/* The double a float option reads as: its shortest decimal that converts back to it, so that
 * --lr 0.001 is recorded as 0.001 in hparams, not as the float's 0.0010000000474974513. */
double vkt_cli_float_as_given(float f);
int vkt_cli_u32_list(const char *cmd, const char *opt, const char *v, uint32_t lo, uint32_t hi,
                     uint32_t *out, int max, int *n);
struct option;
/* For getopt_long's '?' and ':' (opterr = 0, optstring starting with ':'): prints "unknown
 * option", "needs a value" or "takes no value" naming the argument; returns 2. */
int vkt_cli_getopt_error(const char *cmd, int c, char **argv, const struct option *longopts);

/* The getopt_long values of the options every command with a device takes; its own start at 256.
 * VKT_CLI_HELP: vkt_cli_getopt saw -h or --help. */
enum { VKT_CLI_O_DEVICE = 0x1000, VKT_CLI_O_VALIDATION, VKT_CLI_HELP = -1 };
/* The last rows of such a command's option table: --device, --validation, --help, the end. */
#define VKT_CLI_DEVICE_OPTS                                                                       \
    {"device", required_argument, NULL, VKT_CLI_O_DEVICE},                                        \
        {"validation", no_argument, NULL, VKT_CLI_O_VALIDATION},                                  \
        {"help", no_argument, NULL, 'h'}, {0}
/* One of the command's own options, its getopt_long value c and its value v (NULL without one):
 * 0, or the exit code after printing why. */
typedef int (*vkt_cli_opt_fn)(int c, const char *v, void *ud);
/* Parses argv (argv[0] the command) with getopt_long and `opts` (ending in VKT_CLI_DEVICE_OPTS):
 * --device and --validation go to *dev, the command's own options to on_opt. Returns 0, or
 * VKT_CLI_HELP at -h / --help (the caller prints its usage), or on_opt's code, or 2 after
 * vkt_cli_getopt_error or "<cmd>: unexpected argument 'X' (see <see> --help)". */
int vkt_cli_getopt(const char *cmd, const char *see, int argc, char **argv,
                   const struct option *opts, vkt_cli_device_opts *dev, vkt_cli_opt_fn on_opt,
                   void *ud);
/* Prints "<cmd>: <what>: <the library's message>"; returns 1, for `rc = vkt_cli_fail(...)`. */
int vkt_cli_fail(const char *cmd, const char *what);

/*
 * Checkpoints (tools/eval.c). The MLP's sizes from a checkpoint's state_dict shapes
 * ("0.weight" (out, in), "2.weight", ...): 0, or 1 after printing what is wrong with `path`.
 */
int vkt_cli_ckpt_layers(const char *cmd, const vkt_dict *ckpt, const char *path,
                        uint32_t *layers, int max, int *n);
/* ---- the models `vkt train --model` names (tools/models.c) ---- */

#define VKT_CLI_MAX_LAYERS 16
/* The CNN's last layer (index 12 of vkt_cnn_desc's list), whose bias gives the class count. */
#define VKT_CLI_CNN_LAST_BIAS "12.bias"

typedef enum vkt_cli_model_kind { VKT_CLI_MLP = 0, VKT_CLI_CNN } vkt_cli_model_kind;

typedef struct vkt_cli_model {
    vkt_cli_model_kind kind;
    uint32_t layers[VKT_CLI_MAX_LAYERS]; /* mlp: sizes, input first */
    int n_layers;
    uint32_t classes;                    /* cnn */
} vkt_cli_model;

/* "mlp" or "cnn". */
const char *vkt_cli_model_name(vkt_cli_model_kind k);
/* --model's value: 0, or 2 after naming the bad value. */
int vkt_cli_model_parse(const char *cmd, const char *v, vkt_cli_model_kind *out);
/* The model a checkpoint holds: 0, or 1 after printing what is wrong with `path`. */
int vkt_cli_model_from_ckpt(const char *cmd, const vkt_dict *ckpt, const char *path,
                            vkt_cli_model *out);
uint32_t vkt_cli_model_classes(const vkt_cli_model *mdl);
/* Checks that every sample of `ds` fits the model and gives the CNN (1, 28, 28) samples: 0, or
 * 1 after naming the mismatch. */
int vkt_cli_model_fit_data(const char *cmd, const vkt_cli_model *mdl, vkt_dataset *ds,
                           const char *what);
/* The model, initialised from `seed`: 0, or 1 after printing the library's message. */
int vkt_cli_model_create(const char *cmd, vkt_device *dev, const vkt_cli_model *mdl,
                         uint64_t seed, vkt_model **out);
/* "MLP 784-256-128-10" or "CNN (...)" into buf; returns buf. */
const char *vkt_cli_model_describe(const vkt_cli_model *mdl, char *buf, size_t size);

/* Uploads the checkpoint's state_dict into `m`: 0, or 1 after printing the library's message. */
int vkt_cli_ckpt_weights(const char *cmd, const vkt_dict *ckpt, const char *path, vkt_model *m);
/* Every sample of `ds` (called `what`, e.g. "the test split (t10k in DIR)") fits a model of
 * `features` inputs and `classes` outputs: 0, or 1 after naming the mismatch or the bad label. */
int vkt_cli_check_data(const char *cmd, const vkt_dataset *ds, const char *what,
                       uint32_t features, uint32_t classes);

static inline double vkt__cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* `vkt bench matmul` (tools/bench_matmul.c) and `vkt bench peak` (tools/bench_peak.c) on an open
 * device; argv[0] is "matmul" / "peak", the device options are gone. */
int vkt_cli_bench_matmul(vkt_device *dev, int argc, char **argv);
int vkt_cli_bench_peak(vkt_device *dev, int argc, char **argv);
/* s as one quoted CSV field ('"' doubled): device names hold commas. */
void vkt_cli_csv_quoted(FILE *f, const char *s);
/* `vkt bench loads` (tools/bench_loads.c); argv[0] is "loads". */
int vkt_cli_bench_loads(vkt_device *dev, int argc, char **argv);

#endif
