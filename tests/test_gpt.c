/*
 * test_gpt.c — vkt_gpt (src/nn/gpt.c) against PyTorch: a nanoGPT-style GPT (vocab 37, context 16,
 * 2 layers, 2 heads, width 32, batch 3) from tests/fixtures/torch_gpt.safetensors (argv[1]; made
 * by tools/make_torch_gpt_fixture.py, whose header lists the tensors). From torch's initial
 * weights, vkt must reproduce the logits, the loss, every parameter's gradient and the global
 * gradient norm, then the losses of 10 AdamW steps (nanoGPT's groups through
 * VKT_NO_DECAY_BIAS_NORM_EMBEDDING, clip_grad_norm 1.0, VKT_SCHED_WARMUP_COSINE stepped per
 * step, whose lr must equal the fixture's), all within 1e-4 relative (to the largest magnitude
 * of each tensor); the worst error per tensor is printed. The tied copy (lm_head = wte) checks
 * that wte's gradient sums both uses. Dropout acts in training mode only; bad input is refused
 * with messages naming it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define TOL 1e-4
enum { B = 3, T = 16, V = 37, STEPS = 10 };
static const vkt_gpt_config fixture_config = {
    .vocab = V, .context = T, .layers = 2, .heads = 2, .width = 32};

static const char *fixture_path;
static vkt_dict *fx;
static int failures;

/* max |a - b| / max |b|: relative to the tensor's scale, so no element hides behind a floor */
static double rel_err(const float *a, const float *b, int64_t n)
{
    double e = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return e / fmax(scale, 1e-30);
}

static void record(const char *what, double e)
{
    fprintf(stderr, "  %-48s %.2e\n", what, e);
    if (!(e <= TOL)) {
        fprintf(stderr, "  ^ over the tolerance %g\n", TOL);
        failures++;
    }
}

/* The fixture's (B, T) tokens `key` as an i32 tensor. */
static vkt_tensor *tokens(const char *key)
{
    const float *f = test_dict_floats(fx, key, B * T);
    int32_t v[B * T];
    for (int i = 0; i < B * T; i++) {
        v[i] = (int32_t)f[i];
    }
    vkt_tensor *t = vkt_tensor_new_2d(test_dev, VKT_I32, B, T);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, v, sizeof v), VKT_OK);
    return t;
}

/* The "<prefix>..." entries without the prefix (and without `skip`): a state dict to load. */
static vkt_dict *pick(const char *prefix, const char *skip)
{
    vkt_dict *sd = vkt_dict_create();
    assert_non_null(sd);
    size_t n = strlen(prefix);
    for (uint32_t i = 0; i < vkt_dict_count(fx); i++) {
        const char *key = vkt_dict_key(fx, i);
        int ndim;
        int64_t shape[VKT_MAX_DIMS];
        const float *v = vkt_dict_get_floats(fx, key, &ndim, shape);
        if (v && strncmp(key, prefix, n) == 0 && !strchr(key + n, '/') &&
            !(skip && strcmp(key + n, skip) == 0)) {
            assert_int_equal(vkt_dict_set_floats(sd, key + n, v, ndim, shape), VKT_OK);
        }
    }
    return sd;
}

static void make_gpt(const vkt_gpt_config *cfg, const char *init_prefix, vkt_gpt *g)
{
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 0}, &m), VKT_OK);
    assert_int_equal(vkt_gpt_init(m, cfg, g), VKT_OK);
    vkt_dict *sd = pick(init_prefix, cfg->tie_weights ? "lm_head.weight" : NULL);
    /* names, order and shapes: torch's state_dict (the load is strict) */
    assert_int_equal(vkt_model_num_tensors(m), vkt_dict_count(sd));
    for (uint32_t i = 0; i < vkt_dict_count(sd); i++) {
        assert_string_equal(vkt_model_tensor_name(m, i), vkt_dict_key(sd, i));
    }
    assert_int_equal(vkt_model_load_state_dict(m, sd), VKT_OK);
    vkt_dict_destroy(sd);
}

static vkt_tensor *loss_of(vkt_tensor *logits, vkt_tensor *y)
{
    return vkt_softmax_xent(vkt_reshape(logits, 2, (int64_t[]){B * T, V}),
                            vkt_reshape(y, 1, (int64_t[]){B * T}));
}

/* logits, loss and every gradient of one forward/backward against "<prefix>logits", ... */
static void check_forward_backward(vkt_gpt *g, const char *prefix)
{
    char key[160];
    vkt_scope_begin(test_dev);
    vkt_tensor *logits = vkt_gpt_forward(g, tokens("x"));
    vkt_tensor *loss = loss_of(logits, tokens("y"));
    assert_non_null(loss);
    assert_int_equal(vkt_model_zero_grad(g->model), VKT_OK);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    float *got = test_fetch(logits);
    snprintf(key, sizeof key, "%slogits", prefix);
    record(key, rel_err(got, test_dict_floats(fx, key, B * T * V), B * T * V));
    free(got);
    got = test_fetch(loss);
    snprintf(key, sizeof key, "%sloss", prefix);
    record(key, rel_err(got, test_dict_floats(fx, key, 1), 1));
    free(got);
    for (uint32_t i = 0; i < vkt_model_num_tensors(g->model); i++) {
        vkt_tensor *t = vkt_model_tensor(g->model, i);
        snprintf(key, sizeof key, "%sgrad/%s", prefix, vkt_model_tensor_name(g->model, i));
        got = test_fetch(vkt_tensor_grad(t));
        record(key,
               rel_err(got, test_dict_floats(fx, key, vkt_tensor_numel(t)), vkt_tensor_numel(t)));
        free(got);
    }
    vkt_scope_end(test_dev);
}

static void gpt_matches_torch(void **state)
{
    (void)state;
    vkt_gpt g;
    make_gpt(&fixture_config, "init/", &g);
    fprintf(stderr, "relative error against torch (tol %g), untied:\n", TOL);
    check_forward_backward(&g, "");

    /* the gradient norm torch clipped with */
    vkt_scope_begin(test_dev);
    vkt_tensor *norm = NULL;
    assert_int_equal(vkt_clip_grad_norm(g.model, 1.0f, &norm), VKT_OK);
    float *got = test_fetch(norm);
    record("grad_norm", rel_err(got, test_dict_floats(fx, "grad_norm", 1), 1));
    free(got);
    vkt_tensor_free(norm); /* the caller's, not the scope's */
    vkt_scope_end(test_dev);

    /* 10 AdamW steps on the same batch, from the initial weights again */
    vkt_model_destroy(g.model);
    make_gpt(&fixture_config, "init/", &g);
    vkt_optimizer *opt = NULL;
    vkt_scheduler *sched = NULL;
    assert_int_equal(vkt_optimizer_create(g.model,
                                          &(vkt_optim_desc){.type = VKT_OPTIM_ADAMW,
                                                            .lr = 3e-3f,
                                                            .beta1 = 0.9f,
                                                            .beta2 = 0.95f,
                                                            .eps = 1e-8f,
                                                            .weight_decay = 0.1f,
                                                            .no_decay =
                                                                VKT_NO_DECAY_BIAS_NORM_EMBEDDING},
                                          &opt),
                     VKT_OK);
    assert_int_equal(vkt_scheduler_create(opt,
                                          &(vkt_sched_desc){.type = VKT_SCHED_WARMUP_COSINE,
                                                            .warmup = 3,
                                                            .t_max = STEPS,
                                                            .eta_min = 3e-4f},
                                          &sched),
                     VKT_OK);
    const float *want_lr = test_dict_floats(fx, "lr", STEPS),
                *want_loss = test_dict_floats(fx, "train_loss", STEPS + 1);
    float losses[STEPS + 1];
    vkt_tensor *x = vkt_tensor_keep(tokens("x")), *y = vkt_tensor_keep(tokens("y"));
    for (int s = 0; s <= STEPS; s++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *loss = loss_of(vkt_gpt_forward(&g, x), y);
        assert_non_null(loss);
        if (s < STEPS) {
            float lr = vkt_optimizer_lr(opt);
            if (fabsf(lr - want_lr[s]) > 1e-6f * want_lr[s]) {
                fail_msg("step %d: lr %.9g, torch's %.9g", s, (double)lr, (double)want_lr[s]);
            }
            assert_int_equal(vkt_model_zero_grad(g.model), VKT_OK);
            assert_int_equal(vkt_backward(loss), VKT_OK);
            assert_int_equal(vkt_clip_grad_norm(g.model, 1.0f, NULL), VKT_OK);
            assert_int_equal(vkt_optimizer_step(opt), VKT_OK);
            vkt_scheduler_step(sched);
        }
        assert_int_equal(vkt_tensor_download(loss, &losses[s], sizeof losses[s]), VKT_OK);
        vkt_scope_end(test_dev);
    }
    fprintf(stderr, "  losses:");
    for (int s = 0; s <= STEPS; s++) {
        fprintf(stderr, " %.5f", (double)losses[s]);
    }
    fprintf(stderr, "\n");
    double worst = 0;
    for (int s = 0; s <= STEPS; s++) {
        worst = fmax(worst, fabs((double)losses[s] - want_loss[s]) / want_loss[s]);
    }
    record("train_loss (11 values, worst)", worst);
    vkt_tensor_free(x);
    vkt_tensor_free(y);
    vkt_scheduler_destroy(sched);
    vkt_optimizer_destroy(opt);
    vkt_model_destroy(g.model);
    assert_int_equal(failures, 0);
}

static void gpt_tied_matches_torch(void **state)
{
    (void)state;
    vkt_gpt_config cfg = fixture_config;
    cfg.tie_weights = true;
    vkt_gpt g;
    make_gpt(&cfg, "tied/init/", &g);
    assert_null(g.lm_head);
    assert_null(vkt_model_find(g.model, "lm_head.weight"));
    fprintf(stderr, "relative error against torch (tol %g), tied:\n", TOL);
    check_forward_backward(&g, "tied/");
    vkt_model_destroy(g.model);
    assert_int_equal(failures, 0);
}

/* Dropout in training mode only: eval logits are torch's (no dropout), training ones differ
 * between two forwards (the streams advance). */
static void gpt_dropout_modes(void **state)
{
    (void)state;
    vkt_gpt_config cfg = fixture_config;
    cfg.dropout = 0.2f;
    vkt_gpt g;
    make_gpt(&cfg, "init/", &g);
    vkt_scope_begin(test_dev);
    vkt_tensor *x = tokens("x");
    float *a = test_fetch(vkt_gpt_forward(&g, x)), *b = test_fetch(vkt_gpt_forward(&g, x));
    assert_true(rel_err(a, b, B * T * V) > 1e-3);
    assert_true(rel_err(a, test_dict_floats(fx, "logits", B * T * V), B * T * V) > 1e-3);
    vkt_model_train(g.model, false);
    float *e = test_fetch(vkt_gpt_forward(&g, x));
    assert_true(rel_err(e, test_dict_floats(fx, "logits", B * T * V), B * T * V) <= TOL);
    vkt_scope_end(test_dev);
    free(a);
    free(b);
    free(e);
    vkt_model_destroy(g.model);
}

static void assert_error_has(const char *what)
{
    if (!strstr(vkt_last_error(), what)) {
        fail_msg("error '%s' does not mention '%s'", vkt_last_error(), what);
    }
}

static void gpt_bad_input(void **state)
{
    (void)state;
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 0}, &m), VKT_OK);
    vkt_gpt g;
    vkt_gpt_config cfg = fixture_config;
    cfg.heads = 3;
    assert_int_equal(vkt_gpt_init(m, &cfg, &g), VKT_INVALID_ARGUMENT);
    assert_error_has("config.heads 3 does not divide config.width 32");
    cfg = fixture_config;
    cfg.vocab = 0;
    assert_int_equal(vkt_gpt_init(m, &cfg, &g), VKT_INVALID_ARGUMENT);
    assert_error_has("config.vocab is required");
    cfg = fixture_config;
    cfg.dropout = 1.0f;
    assert_int_equal(vkt_gpt_init(m, &cfg, &g), VKT_INVALID_ARGUMENT);
    assert_error_has("config.dropout 1 is not in [0, 1)");
    cfg = fixture_config;
    cfg.layers = VKT_GPT_MAX_LAYERS + 1;
    assert_int_equal(vkt_gpt_init(m, &cfg, &g), VKT_INVALID_ARGUMENT);
    assert_error_has("config.layers is 33");
    assert_int_equal(vkt_gpt_init(m, &fixture_config, &g), VKT_OK);
    /* the defaults */
    assert_int_equal(g.config.context, T);
    vkt_scope_begin(test_dev);
    vkt_tensor *f = vkt_tensor_new_2d(test_dev, VKT_F32, 2, 4);
    assert_null(vkt_gpt_forward(&g, f));
    assert_error_has("idx must be (B, T) i32 token ids");
    vkt_tensor *longer = vkt_tensor_new_2d(test_dev, VKT_I32, 1, T + 1);
    assert_int_equal(vkt_fill(longer, 0.0f), VKT_OK);
    assert_null(vkt_gpt_forward(&g, longer));
    assert_error_has("idx has 17 tokens per sequence; the context is 16");
    /* shorter sequences than the context are fine */
    vkt_tensor *shorter = vkt_tensor_new_2d(test_dev, VKT_I32, 2, 5);
    assert_int_equal(vkt_fill(shorter, 1.0f), VKT_OK);
    vkt_tensor *lg = vkt_gpt_forward(&g, shorter);
    assert_non_null(lg);
    assert_int_equal(vkt_tensor_dim(lg, 1), 5);
    assert_int_equal(vkt_tensor_dim(lg, 2), V);
    vkt_scope_end(test_dev);
    vkt_model_destroy(m);

    vkt_model_create(test_dev, &(vkt_model_desc){.seed = 0}, &m);
    assert_int_equal(vkt_gpt_init(m, &(vkt_gpt_config){.vocab = 5}, &g), VKT_OK);
    assert_int_equal(g.config.context, 128);
    assert_int_equal(g.config.layers, 4);
    assert_int_equal(g.config.heads, 4);
    assert_int_equal(g.config.width, 128);
    /* nanoGPT's init: N(0, 0.02) weights, N(0, 0.02 / sqrt(8)) c_proj, zero biases */
    vkt_scope_begin(test_dev);
    float *w = test_fetch(vkt_param_tensor(vkt_model_find(m, "transformer.h.0.mlp.c_fc.weight")));
    float *p = test_fetch(vkt_param_tensor(vkt_model_find(m, "transformer.h.3.mlp.c_proj.weight")));
    float *bias =
        test_fetch(vkt_param_tensor(vkt_model_find(m, "transformer.h.0.attn.c_attn.bias")));
    double sw = 0, sp = 0;
    for (int i = 0; i < 512 * 128; i++) {
        sw += (double)w[i] * w[i];
        sp += (double)p[i] * p[i];
    }
    assert_true(fabs(sqrt(sw / (512 * 128)) - 0.02) < 0.0005);
    assert_true(fabs(sqrt(sp / (512 * 128)) - 0.02 / sqrt(8.0)) < 0.0002);
    for (int i = 0; i < 384; i++) {
        assert_true(bias[i] == 0.0f);
    }
    vkt_scope_end(test_dev);
    free(w);
    free(p);
    free(bias);
    assert_int_equal(vkt_param_role_of(vkt_model_find(m, "transformer.wte.weight")),
                     VKT_PARAM_EMBEDDING);
    assert_int_equal(vkt_param_role_of(vkt_model_find(m, "transformer.ln_f.weight")),
                     VKT_PARAM_NORM);
    assert_int_equal(vkt_param_role_of(vkt_model_find(m, "transformer.h.1.mlp.c_fc.bias")),
                     VKT_PARAM_BIAS);
    assert_int_equal(vkt_param_role_of(vkt_model_find(m, "lm_head.weight")), VKT_PARAM_WEIGHT);
    vkt_model_destroy(m);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s tests/fixtures/torch_gpt.safetensors\n", argv[0]);
        return 2;
    }
    fixture_path = argv[1];
    if (vkt_checkpoint_load(fixture_path, &fx) != VKT_OK) {
        fprintf(stderr, "%s\n", vkt_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(gpt_matches_torch),
        VKT_TEST(gpt_tied_matches_torch),
        VKT_TEST(gpt_dropout_modes),
        VKT_TEST(gpt_bad_input),
    };
    int rc = VKT_RUN_GROUP(tests);
    vkt_dict_destroy(fx);
    return rc;
}
