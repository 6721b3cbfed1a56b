/*
 * test_optim_groups.c — optimizer parameter groups (vkt_optim_desc.no_decay) and the warmup +
 * cosine schedule against PyTorch: tests/fixtures/torch_adamw_groups.txt, written by
 * tools/make_torch_adamw_groups_fixture.py (torch.optim.AdamW / SGD with nanoGPT's two groups,
 * and a LambdaLR with nanoGPT's get_lr). The checkpoint round trip of groups and a resume in the
 * middle of warmup are in tests/test_trainer_flags.c.
 */
#include <math.h>
#include <string.h>

#include "test_util.h"

enum { STEPS = 4, NP = 5 };

static const char *fixture_path;

static const test_fixture *get(const char *prefix, const char *what, const char *name)
{
    test_fixtures_load(fixture_path, 20, NULL); /* read once, then cached */
    return test_fixture_get("%s/%s%s%s", prefix, what, name ? "/" : "", name ? name : "");
}

/* The fixture's model: names in state-dict order, shapes, roles (the biases BIAS, the scale
 * NORM: the second group). */
static const char *const names[NP] = {"0.weight", "0.bias", "1.weight", "2.weight", "2.bias"};
static const int64_t shapes[NP][2] = {{5, 3}, {5, 0}, {5, 0}, {2, 5}, {2, 0}};
static const vkt_param_role roles[NP] = {VKT_PARAM_WEIGHT, VKT_PARAM_BIAS, VKT_PARAM_NORM,
                                         VKT_PARAM_WEIGHT, VKT_PARAM_BIAS};

static vkt_model *fixture_model(const char *prefix, vkt_param **p)
{
    vkt_model *m;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 1}, &m), VKT_OK);
    for (int i = 0; i < NP; i++) {
        p[i] = vkt_model_add_param(m, names[i], shapes[i][1] ? 2 : 1, shapes[i], NULL);
        assert_non_null(p[i]);
        assert_int_equal(vkt_param_set_role(p[i], roles[i]), VKT_OK);
    }
    assert_int_equal(vkt_model_build(m), VKT_OK);
    for (int i = 0; i < NP; i++) {
        const test_fixture *f = get(prefix, "init", names[i]);
        vkt_tensor *t = vkt_param_tensor(p[i]);
        assert_int_equal(vkt_tensor_numel(t), f->n);
        assert_int_equal(vkt_tensor_upload(t, f->v, (size_t)f->n * 4), VKT_OK);
    }
    return m;
}

/* max |a - b| / max(|b|, 1e-3) */
static double rel_err(const float *a, const float *b, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), 1e-3);
        e = d > e ? d : e;
    }
    return e;
}

/* Replays torch's gradients for STEPS steps and compares every parameter after each. */
static double replay(const char *prefix, const vkt_optim_desc *od)
{
    vkt_param *p[NP];
    vkt_model *m = fixture_model(prefix, p);
    vkt_optimizer *o;
    assert_int_equal(vkt_optimizer_create(m, od, &o), VKT_OK);
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        char step[32];
        snprintf(step, sizeof step, "step%d/grad", s);
        for (int i = 0; i < NP; i++) {
            const test_fixture *g = get(prefix, step, names[i]);
            vkt_tensor *gt = vkt_tensor_grad(vkt_param_tensor(p[i]));
            assert_non_null(gt);
            assert_int_equal(vkt_tensor_upload(gt, g->v, (size_t)g->n * 4), VKT_OK);
        }
        assert_int_equal(vkt_optimizer_step(o), VKT_OK);
        snprintf(step, sizeof step, "step%d/param", s);
        for (int i = 0; i < NP; i++) {
            const test_fixture *want = get(prefix, step, names[i]);
            float got[16];
            assert_int_equal(vkt_tensor_download(vkt_param_tensor(p[i]), got,
                                                 (size_t)want->n * 4),
                             VKT_OK);
            double e = rel_err(got, want->v, want->n);
            if (!(e <= 1e-5)) {
                fail_msg("%s step %d %s: relative error %.3g", prefix, s, names[i], e);
            }
            worst = e > worst ? e : worst;
        }
    }
    vkt_optimizer_destroy(o);
    vkt_model_destroy(m);
    return worst;
}

static void adamw_groups_match_torch(void **state)
{
    (void)state;
    vkt_optim_desc od = {.type = VKT_OPTIM_ADAMW, .lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.95f,
                         .eps = 1e-8f, .weight_decay = 0.1f,
                         .no_decay = VKT_NO_DECAY_BIAS_NORM_EMBEDDING};
    double e = replay("adamw", &od);
    print_message("AdamW with 2 groups vs torch: worst relative error %.3g\n", e);
    /* without the groups the biases and the scale decay too: torch's numbers are missed */
    od.no_decay = 0;
    vkt_param *p[NP];
    vkt_model *m = fixture_model("adamw", p);
    vkt_optimizer *o;
    assert_int_equal(vkt_optimizer_create(m, &od, &o), VKT_OK);
    const test_fixture *g = get("adamw", "step0/grad", names[1]);
    assert_int_equal(vkt_tensor_upload(vkt_tensor_grad(vkt_param_tensor(p[1])), g->v, 20),
                     VKT_OK);
    assert_int_equal(vkt_optimizer_step(o), VKT_OK);
    float got[5];
    assert_int_equal(vkt_tensor_download(vkt_param_tensor(p[1]), got, sizeof got), VKT_OK);
    assert_true(rel_err(got, get("adamw", "step0/param", names[1])->v, 5) > 1e-4);
    vkt_optimizer_destroy(o);
    vkt_model_destroy(m);
}

/* A step is one dispatch per run of neighbouring parameters sharing a decay setting: 0.weight |
 * 0.bias 1.weight | 2.weight | 2.bias is 4 runs; one dispatch without groups or without weight
 * decay (the groups then differ in nothing). */
static void a_step_dispatches_once_per_run(void **state)
{
    (void)state;
    static const struct {
        uint32_t no_decay;
        float wd;
        uint64_t dispatches;
    } cases[] = {{VKT_NO_DECAY_BIAS_NORM_EMBEDDING, 0.1f, 4},
                 {0, 0.1f, 1},
                 {VKT_NO_DECAY_BIAS_NORM_EMBEDDING, 0.0f, 1},
                 {1u << VKT_PARAM_EMBEDDING, 0.1f, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        vkt_param *p[NP];
        vkt_model *m = fixture_model("adamw", p);
        vkt_optimizer *o;
        assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAMW,
                                                                   .weight_decay = cases[k].wd,
                                                                   .no_decay = cases[k].no_decay},
                                              &o),
                         VKT_OK);
        assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
        vkt_device_reset_stats(test_dev);
        assert_int_equal(vkt_optimizer_step(o), VKT_OK);
        vkt_device_stats st;
        vkt_device_get_stats(test_dev, &st);
        assert_int_equal(st.dispatches, cases[k].dispatches);
        vkt_optimizer_destroy(o);
        vkt_model_destroy(m);
    }
}

static void sgd_groups_match_torch(void **state)
{
    (void)state;
    vkt_optim_desc od = {.type = VKT_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f,
                         .weight_decay = 0.1f, .no_decay = VKT_NO_DECAY_BIAS_NORM_EMBEDDING};
    double e = replay("sgd", &od);
    print_message("SGD with 2 groups vs torch: worst relative error %.3g\n", e);
}

static void no_decay_rejects_unknown_roles(void **state)
{
    (void)state;
    vkt_param *p[NP];
    vkt_model *m = fixture_model("adamw", p);
    vkt_optimizer *o = NULL;
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAMW,
                                                               .no_decay = 1u << 9},
                                          &o),
                     VKT_INVALID_ARGUMENT);
    assert_null(o);
    assert_non_null(strstr(vkt_last_error(), "no_decay 0x200"));
    vkt_model_destroy(m);
}

/* nanoGPT's get_lr(t), in double */
static double nanogpt_lr(uint32_t t, double base, double eta_min, uint32_t warmup, uint32_t t_max)
{
    if (t < warmup) {
        return base * (t + 1) / warmup;
    }
    if (t > t_max) {
        return eta_min;
    }
    double ratio = (double)(t - warmup) / (double)(t_max - warmup);
    return eta_min + 0.5 * (1.0 + cos(M_PI * ratio)) * (base - eta_min);
}

static void warmup_cosine_follows_nanogpt_and_lambdalr(void **state)
{
    (void)state;
    vkt_param *p[NP];
    vkt_model *m = fixture_model("adamw", p);
    vkt_optimizer *o;
    vkt_scheduler *s;
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAMW,
                                                               .lr = 6e-4f},
                                          &o),
                     VKT_OK);
    vkt_sched_desc sd = {.type = VKT_SCHED_WARMUP_COSINE, .warmup = 4, .t_max = 10,
                         .eta_min = 6e-5f};
    assert_int_equal(vkt_scheduler_create(o, &sd, &s), VKT_OK);
    const test_fixture *torch_lr = get("warmup_cosine", "lr", NULL);
    assert_int_equal(torch_lr->n, 15);
    for (uint32_t t = 0; t < 15; t++) {
        /* the lr in effect for optimizer step t: set at create, then after each step */
        double want = nanogpt_lr(t, (double)6e-4f, (double)6e-5f, 4, 10);
        double got = vkt_optimizer_lr(o);
        if (!(fabs(got - want) <= 1e-7 * want) || !(fabs(got - torch_lr->v[t]) <= 1e-6 * want)) {
            fail_msg("t %u: lr %.9g, formula %.9g, torch %.9g", t, got, want, torch_lr->v[t]);
        }
        assert_int_equal(vkt_scheduler_t(s), t);
        vkt_scheduler_step(s);
    }
    assert_true(vkt_optimizer_lr(o) == 6e-5f);
    vkt_scheduler_destroy(s);
    /* no warmup: cosine from the base lr at t = 0 */
    vkt_optimizer_set_lr(o, 1.0f);
    assert_int_equal(vkt_scheduler_create(o, &(vkt_sched_desc){.type = VKT_SCHED_WARMUP_COSINE,
                                                               .t_max = 2},
                                          &s),
                     VKT_OK);
    assert_true(vkt_optimizer_lr(o) == 1.0f);
    vkt_scheduler_step(s);
    assert_float_equal(vkt_optimizer_lr(o), 0.5, 1e-7);
    vkt_scheduler_destroy(s);
    assert_int_equal(vkt_scheduler_create(o, &(vkt_sched_desc){.type = VKT_SCHED_WARMUP_COSINE,
                                                               .warmup = 5, .t_max = 5},
                                          &s),
                     VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "t_max (5) > warmup (5)"));
    vkt_optimizer_destroy(o);
    vkt_model_destroy(m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(adamw_groups_match_torch),
        VKT_TEST(sgd_groups_match_torch),
        VKT_TEST(a_step_dispatches_once_per_run),
        VKT_TEST(no_decay_rejects_unknown_roles),
        VKT_TEST(warmup_cosine_follows_nanogpt_and_lambdalr),
    };
    fixture_path = argc > 1 ? argv[1] : NULL;
    return VKT_RUN_GROUP(tests);
}
