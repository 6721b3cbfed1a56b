/*
 * regression_csv.c — an MLP regression on a CSV file with MSE, on the trainer, as PyTorch does it.
 *
 * The CSV (a header row, numeric columns x0..x5 and a target column "y") is read with
 * vkt_dataset_load_csv, the target as F32 values; the loader then yields x (B, 6) and y (B) f32.
 * The model is torch's Sequential(Linear(6, 16), Tanh(), Linear(16, 1)) written with the layer
 * API (state-dict names "0.weight" ... "2.bias"); its (B, 1) output is reshaped to (B) before
 * vkt_mse_loss, as torch's code squeezes it, so that (B, 1) against (B) does not broadcast to
 * (B, B). Rows 0..191 train (batches of 64 in file order), 192..223 validate, 224..255 test.
 *
 *     build/examples/regression_csv [--check] [data.csv fixture.safetensors]
 *
 * The defaults are tests/fixtures/regression.csv and tests/fixtures/torch_regression.safetensors
 * (tools/make_torch_regression_fixture.py wrote both). The model starts from PyTorch's initial
 * weights (the fixture's init/ entries). With --check every step's loss, the final weights and
 * the validation and test losses are compared with PyTorch's (within 1e-4 relative); the worst
 * errors are printed and a mismatch exits non-zero.
 */
#include "example_common.h"

enum { FEATURES = 6, HIDDEN = 16, ROWS = 256, TRAIN = 192, VAL = 32, BATCH = 64, EPOCHS = 20,
       STEPS = EPOCHS * TRAIN / BATCH };

#define TOLERANCE 1e-4

typedef struct regressor {
    vkt_model *model;
    vkt_linear_layer fc1, fc2;
    vkt_optimizer *opt;
    float losses[STEPS]; /* every training step's loss, read in on_train_batch_end */
    uint32_t steps;
} regressor;

/* The model's prediction for x (B, 6): (B), the shape of the loader's y. */
static vkt_tensor *predict(regressor *r, const vkt_tensor *x)
{
    vkt_tensor *h = vkt_tanh(vkt_linear_forward(&r->fc1, x));
    return vkt_reshape(vkt_linear_forward(&r->fc2, h), 1, (int64_t[]){-1});
}

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    regressor *r = ud;
    vkt_tensor *loss = vkt_mse_loss(predict(r, b->x), b->y, NULL);
    vkt_status s = vkt_log(t, "train_loss", loss, &(vkt_log_opts){.prog_bar = true});
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status eval_step(vkt_trainer *t, const vkt_batch *b, const char *name, regressor *r)
{
    return vkt_log(t, name, vkt_mse_loss(predict(r, b->x), b->y, NULL),
                   &(vkt_log_opts){.prog_bar = true});
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    return eval_step(t, b, "val_loss", ud);
}

static vkt_status test_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                            vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    return eval_step(t, b, "test_loss", ud);
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    regressor *r = ud;
    oc->optimizer = r->opt;
    oc->model = r->model;
    return VKT_OK;
}

/* A read per step, for the comparison with PyTorch's per-step losses. */
static vkt_status on_train_batch_end(vkt_trainer *t, const vkt_outputs *outputs,
                                     const vkt_batch *b, uint32_t i, void *ud)
{
    (void)b, (void)i;
    regressor *r = ud;
    if (r->steps >= STEPS) {
        return vkt_trainer_fail(t, VKT_ERROR, "more than %d training steps", STEPS);
    }
    vkt_tensor *loss = vkt_outputs_get(outputs, "loss");
    return vkt_tensor_download(loss, &r->losses[r->steps++], sizeof(float));
}

/* |a - b| / max(|b|, floor). Weights use a floor of 1e-2: Adam scales every element's step to
 * about lr, so a weight's absolute error does not shrink with its size, and near zero (where a
 * weight may be crossing it) only the absolute error means anything. */
static double rel_err(double a, double b, double floor)
{
    return fabs(a - b) / fmax(fabs(b), floor);
}

/* The fixture's `prefix` entries under their state-dict names. */
static vkt_dict *pick(const vkt_dict *fx, const char *prefix)
{
    vkt_dict *sd = vkt_dict_create();
    CHECK(sd, "vkt_dict_create");
    size_t n = strlen(prefix);
    for (uint32_t i = 0; i < vkt_dict_count(fx); i++) {
        const char *key = vkt_dict_key(fx, i);
        int ndim;
        int64_t shape[VKT_MAX_DIMS];
        const float *v = vkt_dict_get_floats(fx, key, &ndim, shape);
        if (v && strncmp(key, prefix, n) == 0) {
            VKT_OK_OR_DIE(vkt_dict_set_floats(sd, key + n, v, ndim, shape));
        }
    }
    return sd;
}

static const float *fixture_floats(const vkt_dict *fx, const char *key, int64_t want)
{
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    const float *v = vkt_dict_get_floats(fx, key, &ndim, shape);
    CHECK(v && ndim == 1 && shape[0] == want, "fixture entry %s: %lld floats expected", key,
          (long long)want);
    return v;
}

/* Compares every step's loss, the final weights and the val/test losses with PyTorch's. */
static int check(vkt_trainer *t, regressor *r, const vkt_dict *fx)
{
    int bad = 0;
    CHECK(r->steps == STEPS, "%u training steps, PyTorch took %d", r->steps, STEPS);
    const float *want = fixture_floats(fx, "loss", STEPS);
    double worst = 0;
    uint32_t worst_i = 0;
    for (uint32_t i = 0; i < STEPS; i++) {
        double e = rel_err(r->losses[i], want[i], 0);
        if (!(e <= worst)) {
            worst = e, worst_i = i;
        }
    }
    printf("check: step losses: worst relative error %.3g at step %u (%.7f vs PyTorch %.7f)\n",
           worst, worst_i, (double)r->losses[worst_i], (double)want[worst_i]);
    bad += !(worst <= TOLERANCE);

    vkt_dict *final = pick(fx, "final/"), *got = vkt_dict_create();
    CHECK(got, "vkt_dict_create");
    VKT_OK_OR_DIE(vkt_model_state_dict(r->model, got));
    CHECK(vkt_dict_count(got) == vkt_dict_count(final), "%u tensors, PyTorch has %u",
          vkt_dict_count(got), vkt_dict_count(final));
    for (uint32_t k = 0; k < vkt_dict_count(final); k++) {
        const char *key = vkt_dict_key(final, k);
        int nd_w, nd_g;
        int64_t sh_w[VKT_MAX_DIMS], sh_g[VKT_MAX_DIMS];
        const float *w = vkt_dict_get_floats(final, key, &nd_w, sh_w);
        const float *g = vkt_dict_get_floats(got, key, &nd_g, sh_g);
        CHECK(g && nd_g == nd_w && memcmp(sh_g, sh_w, sizeof(int64_t) * (size_t)nd_w) == 0,
              "%s: missing or of another shape", key);
        int64_t n = 1;
        for (int d = 0; d < nd_w; d++) {
            n *= sh_w[d];
        }
        worst = 0;
        int64_t at = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = rel_err(g[i], w[i], 1e-2);
            if (!(e <= worst)) {
                worst = e, at = i;
            }
        }
        printf("check: final %-9s worst relative error %.3g at [%lld] (%.7f vs PyTorch %.7f)\n",
               key, worst, (long long)at, (double)g[at], (double)w[at]);
        bad += !(worst <= TOLERANCE);
    }
    vkt_dict_destroy(got);
    vkt_dict_destroy(final);

    const char *names[2] = {"val_loss", "test_loss"};
    for (int i = 0; i < 2; i++) {
        float v;
        CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, names[i], &v), "%s not logged",
              names[i]);
        double w = fixture_floats(fx, names[i], 1)[0];
        double e = rel_err(v, w, 0);
        printf("check: %-9s %.7f vs PyTorch %.7f, relative error %.3g\n", names[i], (double)v, w,
               e);
        bad += !(e <= TOLERANCE);
    }
    return bad;
}

int main(int argc, char **argv)
{
    bool want_check = has_flag(argc, argv, "--check");
    const char *paths[2] = {"tests/fixtures/regression.csv",
                            "tests/fixtures/torch_regression.safetensors"};
    for (int i = 1, p = 0; i < argc; i++) {
        if (strcmp(argv[i], "--check") != 0) {
            CHECK(p < 2, "usage: %s [--check] [data.csv fixture.safetensors]", argv[0]);
            paths[p++] = argv[i];
        }
    }

    vkt_device *dev;
    VKT_OK_OR_DIE(vkt_device_create(&(vkt_device_desc){0}, &dev));
    vkt_dataset *data;
    VKT_OK_OR_DIE(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){.path = paths[0], .target = "y",
                                                                .target_type = VKT_DATA_F32},
                                       &data));
    vkt_sample_layout xl = vkt_dataset_x_layout(data), yl = vkt_dataset_y_layout(data);
    CHECK(vkt_dataset_count(data) == ROWS && xl.type == VKT_DATA_F32 && xl.ndim == 1 &&
              xl.shape[0] == FEATURES && yl.type == VKT_DATA_F32 && yl.ndim == 0,
          "%s: %d rows of %d f32 features and an f32 target expected", paths[0], ROWS, FEATURES);

    uint32_t idx[ROWS];
    for (uint32_t i = 0; i < ROWS; i++) {
        idx[i] = i;
    }
    /* f32 features are used as they are (VKT_NORM_UNIT scales only u8); no shuffle: PyTorch's
     * batches are the file's rows in order */
    vkt_loader *train, *val, *test;
    VKT_OK_OR_DIE(vkt_loader_create(dev, &(vkt_loader_desc){.dataset = data, .batch_size = BATCH,
                                                            .indices = idx, .count = TRAIN},
                                    &train));
    VKT_OK_OR_DIE(vkt_loader_create(dev, &(vkt_loader_desc){.dataset = data, .batch_size = BATCH,
                                                            .indices = idx + TRAIN, .count = VAL},
                                    &val));
    VKT_OK_OR_DIE(vkt_loader_create(dev, &(vkt_loader_desc){.dataset = data, .batch_size = BATCH,
                                                            .indices = idx + TRAIN + VAL,
                                                            .count = ROWS - TRAIN - VAL},
                                    &test));

    regressor r = {0};
    VKT_OK_OR_DIE(vkt_model_create(dev, &(vkt_model_desc){.seed = 0}, &r.model));
    VKT_OK_OR_DIE(vkt_linear_init(r.model, "0", FEATURES, HIDDEN, true, &r.fc1));
    VKT_OK_OR_DIE(vkt_linear_init(r.model, "2", HIDDEN, 1, true, &r.fc2));
    vkt_dict *fx;
    VKT_OK_OR_DIE(vkt_checkpoint_load(paths[1], &fx));
    vkt_dict *init = pick(fx, "init/");
    VKT_OK_OR_DIE(vkt_model_load_state_dict(r.model, init));
    vkt_dict_destroy(init);
    VKT_OK_OR_DIE(vkt_optimizer_create(
        r.model, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 1e-2f}, &r.opt));

    vkt_module module = {
        .training_step = training_step,
        .validation_step = validation_step,
        .test_step = test_step,
        .configure_optimizers = configure_optimizers,
        .on_train_batch_end = on_train_batch_end,
        .model = r.model,
        .user_data = &r,
    };
    vkt_trainer *t;
    VKT_OK_OR_DIE(vkt_trainer_create(dev,
                                     &(vkt_trainer_desc){.max_epochs = EPOCHS,
                                                         .default_root_dir =
                                                             example_dir("regression_csv"),
                                                         .enable_checkpointing = VKT_FLAG_OFF},
                                     &t));
    VKT_OK_OR_DIE(vkt_trainer_fit(t, &module, train, val));
    float val_loss = NAN, test_loss = NAN;
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", &val_loss);
    VKT_OK_OR_DIE(vkt_trainer_test(t, &module, test));
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "test_loss", &test_loss);
    printf("%u steps: train_loss %.5f (first %.5f), val_loss %.5f, test_loss %.5f\n", r.steps,
           (double)(r.steps ? r.losses[r.steps - 1] : NAN), (double)r.losses[0],
           (double)val_loss, (double)test_loss);

    int bad = want_check ? check(t, &r, fx) : 0;
    if (want_check) {
        if (bad) {
            printf("check: %d comparisons exceed %g relative\n", bad, TOLERANCE);
        } else {
            printf("check: all within %g relative of PyTorch\n", TOLERANCE);
        }
    }

    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    CHECK(st.validation_messages == 0, "%llu Vulkan validation messages",
          (unsigned long long)st.validation_messages);
    vkt_trainer_destroy(t);
    vkt_dict_destroy(fx);
    vkt_optimizer_destroy(r.opt);
    vkt_model_destroy(r.model);
    vkt_loader_destroy(test);
    vkt_loader_destroy(val);
    vkt_loader_destroy(train);
    vkt_dataset_destroy(data);
    vkt_device_destroy(dev);
    return bad ? 1 : 0;
}
