/*
 * test_hooks.c — the order of every module and callback hook against Lightning's.
 *
 * The expected lists (docs/lightning.md "Hook order") are Lightning's test_hooks.py
 * test_trainer_model_hook_system_fit (1 epoch, 2 train batches, 2 val batches, sanity check,
 * recorded when each hook *returns*) and the entry order observed running Lightning 2.2.5 (2
 * epochs, 2 train batches, 1 val batch, recorded when each hook is *entered*), built here line by
 * line. Entries that are torch.nn.Module methods or dataloader hooks with no vkt equivalent are
 * left out of the lists (forward, zero_grad, train(False), configure_callbacks, *_dataloader,
 * clip_gradients); see docs/lightning.md. Everything else is compared entry by entry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#define MAX_REC 2048
static char rec_log[MAX_REC][48];
static int n_rec;
static bool record_on_entry; /* the observed entry order; else test_hooks.py's completion order */

static void rec(const char *s)
{
    if (n_rec < MAX_REC) {
        snprintf(rec_log[n_rec++], sizeof rec_log[0], "%s", s);
    }
}

/* ---- the module ---- */

typedef struct hooked {
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_scheduler *sched;
    int val_outputs_seen;
} hooked;

#define M_HOOK(name)                                                                               \
    static vkt_status m_##name(vkt_trainer *t, void *ud)                                           \
    {                                                                                              \
        (void)t;                                                                                   \
        (void)ud;                                                                                  \
        rec(#name);                                                                                \
        return VKT_OK;                                                                             \
    }
#define C_HOOK(name)                                                                               \
    static vkt_status c_##name(vkt_trainer *t, void *ud)                                           \
    {                                                                                              \
        (void)t;                                                                                   \
        (void)ud;                                                                                  \
        rec("C." #name);                                                                           \
        return VKT_OK;                                                                             \
    }
#define HOOKS_0(X)                                                                                 \
    X(on_fit_start)                                                                                \
    X(on_fit_end) X(on_train_start) X(on_train_end) X(on_validation_start) X(on_validation_end)    \
        X(on_test_start) X(on_test_end) X(on_predict_start) X(on_predict_end)                      \
            X(on_train_epoch_start) X(on_train_epoch_end) X(on_validation_epoch_start)             \
                X(on_validation_epoch_end) X(on_test_epoch_start) X(on_test_epoch_end)             \
                    X(on_predict_epoch_start) X(on_predict_epoch_end) X(on_after_backward)
HOOKS_0(M_HOOK)
HOOKS_0(C_HOOK)
M_HOOK(prepare_data)
M_HOOK(on_validation_model_eval)
M_HOOK(on_validation_model_zero_grad)
C_HOOK(on_sanity_check_start)
C_HOOK(on_sanity_check_end)

static vkt_status m_setup(vkt_trainer *t, vkt_stage s, void *ud)
{
    (void)t, (void)ud;
    rec(s == VKT_STAGE_FIT ? "setup(fit)" : "setup(other)");
    return VKT_OK;
}
static vkt_status m_teardown(vkt_trainer *t, vkt_stage s, void *ud)
{
    (void)t, (void)ud;
    rec(s == VKT_STAGE_FIT ? "teardown(fit)" : "teardown(other)");
    return VKT_OK;
}
static vkt_status c_setup(vkt_trainer *t, vkt_stage s, void *ud)
{
    (void)t, (void)ud;
    rec(s == VKT_STAGE_FIT ? "C.setup(fit)" : "C.setup(other)");
    return VKT_OK;
}
static vkt_status c_teardown(vkt_trainer *t, vkt_stage s, void *ud)
{
    (void)t, (void)ud;
    rec(s == VKT_STAGE_FIT ? "C.teardown(fit)" : "C.teardown(other)");
    return VKT_OK;
}

#define TRANSFER(name)                                                                             \
    static vkt_status m_##name(vkt_trainer *t, vkt_batch *b, uint32_t dl, void *ud)                \
    {                                                                                              \
        (void)t, (void)b, (void)dl, (void)ud;                                                      \
        rec(#name);                                                                                \
        return VKT_OK;                                                                             \
    }
TRANSFER(on_before_batch_transfer)
TRANSFER(transfer_batch_to_device)
TRANSFER(on_after_batch_transfer)

#define BATCH_START(prefix, tag, name)                                                             \
    static vkt_status prefix##_##name(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl, \
                                      void *ud)                                                    \
    {                                                                                              \
        (void)t, (void)b, (void)i, (void)dl, (void)ud;                                             \
        rec(tag #name);                                                                            \
        return VKT_OK;                                                                             \
    }
BATCH_START(m, "", on_train_batch_start)
BATCH_START(c, "C.", on_train_batch_start)
BATCH_START(m, "", on_validation_batch_start)
BATCH_START(c, "C.", on_validation_batch_start)

static vkt_status m_on_train_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                       uint32_t i, void *ud)
{
    (void)t, (void)b, (void)i, (void)ud;
    assert_non_null(vkt_outputs_get(o, "loss"));
    rec("on_train_batch_end");
    return VKT_OK;
}
static vkt_status c_on_train_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                       uint32_t i, void *ud)
{
    (void)t, (void)b, (void)i, (void)ud;
    assert_non_null(vkt_outputs_get(o, "loss"));
    rec("C.on_train_batch_end");
    return VKT_OK;
}
static vkt_status m_on_validation_batch_end(vkt_trainer *t, const vkt_outputs *o,
                                            const vkt_batch *b, uint32_t i, uint32_t dl, void *ud)
{
    (void)t, (void)b, (void)i, (void)dl;
    /* what validation_step returned, as Lightning passes it */
    if (vkt_outputs_get(o, "x")) {
        ((hooked *)ud)->val_outputs_seen++;
    }
    rec("on_validation_batch_end");
    return VKT_OK;
}
static vkt_status c_on_validation_batch_end(vkt_trainer *t, const vkt_outputs *o,
                                            const vkt_batch *b, uint32_t i, uint32_t dl, void *ud)
{
    (void)t, (void)b, (void)i, (void)dl, (void)ud;
    assert_non_null(vkt_outputs_get(o, "x"));
    rec("C.on_validation_batch_end");
    return VKT_OK;
}

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)t, (void)i;
    hooked *h = ud;
    rec("training_step");
    return vkt_outputs_set(out, "loss", vkt_softmax_xent(vkt_model_forward(h->model, b->x), b->y));
}
static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)t, (void)i, (void)dl;
    hooked *h = ud;
    rec("validation_step");
    return vkt_outputs_set(out, "x", vkt_model_forward(h->model, b->x));
}
static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    hooked *h = ud;
    rec("configure_optimizers");
    oc->optimizer = h->opt;
    oc->model = h->model;
    oc->scheduler = h->sched;
    return VKT_OK;
}

static vkt_status m_on_before_backward(vkt_trainer *t, vkt_tensor *l, void *ud)
{
    (void)t, (void)l, (void)ud;
    rec("on_before_backward");
    return VKT_OK;
}
static vkt_status c_on_before_backward(vkt_trainer *t, vkt_tensor *l, void *ud)
{
    (void)t, (void)l, (void)ud;
    rec("C.on_before_backward");
    return VKT_OK;
}
static vkt_status m_backward(vkt_trainer *t, vkt_tensor *l, void *ud)
{
    (void)t, (void)ud;
    vkt_status s = vkt_backward(l);
    rec("backward");
    return s;
}
#define OPT_HOOK(prefix, tag, name)                                                                \
    static vkt_status prefix##_##name(vkt_trainer *t, vkt_optimizer *o, void *ud)                  \
    {                                                                                              \
        (void)t, (void)o, (void)ud;                                                                \
        rec(tag #name);                                                                            \
        return VKT_OK;                                                                             \
    }
OPT_HOOK(m, "", on_before_zero_grad)
OPT_HOOK(c, "C.", on_before_zero_grad)
OPT_HOOK(m, "", on_before_optimizer_step)
OPT_HOOK(c, "C.", on_before_optimizer_step)

static vkt_status m_optimizer_zero_grad(vkt_trainer *t, uint32_t e, uint32_t i, vkt_optimizer *o,
                                        void *ud)
{
    (void)t, (void)e, (void)i, (void)o;
    vkt_status s = vkt_model_zero_grad(((hooked *)ud)->model);
    rec("optimizer_zero_grad");
    return s;
}
static vkt_status m_configure_gradient_clipping(vkt_trainer *t, vkt_optimizer *o, float v,
                                                const char *algo, void *ud)
{
    (void)t, (void)o, (void)v, (void)algo, (void)ud;
    rec("configure_gradient_clipping");
    return VKT_OK;
}
static vkt_status m_optimizer_step(vkt_trainer *t, uint32_t e, uint32_t i, vkt_optimizer *o,
                                   vkt_closure *c, void *ud)
{
    (void)t, (void)e, (void)i, (void)ud;
    if (record_on_entry) {
        rec("optimizer_step");
    }
    vkt_status s = vkt_closure_run(c);
    if (s == VKT_OK) {
        s = vkt_optimizer_step(o);
    }
    if (!record_on_entry) {
        rec("optimizer_step");
    }
    return s;
}
static vkt_status m_lr_scheduler_step(vkt_trainer *t, vkt_scheduler *s, void *ud)
{
    (void)t, (void)ud;
    vkt_scheduler_step(s);
    rec("lr_scheduler_step");
    return VKT_OK;
}
static vkt_status m_on_save_checkpoint(vkt_trainer *t, vkt_dict *c, void *ud)
{
    (void)t, (void)ud;
    assert_true(vkt_dict_has(c, "state_dict"));
    rec("on_save_checkpoint");
    return VKT_OK;
}
static vkt_status c_on_save_checkpoint(vkt_trainer *t, vkt_dict *c, void *ud)
{
    (void)t, (void)ud;
    assert_true(vkt_dict_has(c, "epoch"));
    rec("C.on_save_checkpoint");
    return VKT_OK;
}
static vkt_status c_state_dict(vkt_trainer *t, vkt_dict *st, void *ud)
{
    (void)t, (void)ud;
    rec("C.state_dict");
    return vkt_dict_set_number(st, "calls", 1);
}

static vkt_module hooked_module(hooked *h)
{
    return (vkt_module){
        .training_step = training_step,
        .validation_step = validation_step,
        .configure_optimizers = configure_optimizers,
        .prepare_data = m_prepare_data,
        .setup = m_setup,
        .teardown = m_teardown,
        .on_before_batch_transfer = m_on_before_batch_transfer,
        .transfer_batch_to_device = m_transfer_batch_to_device,
        .on_after_batch_transfer = m_on_after_batch_transfer,
#define SET_M(name) .name = m_##name,
        HOOKS_0(SET_M)
        .on_train_batch_start = m_on_train_batch_start,
        .on_train_batch_end = m_on_train_batch_end,
        .on_validation_batch_start = m_on_validation_batch_start,
        .on_validation_batch_end = m_on_validation_batch_end,
        .on_validation_model_eval = m_on_validation_model_eval,
        .on_validation_model_zero_grad = m_on_validation_model_zero_grad,
        .on_before_backward = m_on_before_backward,
        .backward = m_backward,
        .on_before_zero_grad = m_on_before_zero_grad,
        .optimizer_zero_grad = m_optimizer_zero_grad,
        .on_before_optimizer_step = m_on_before_optimizer_step,
        .configure_gradient_clipping = m_configure_gradient_clipping,
        .optimizer_step = m_optimizer_step,
        .lr_scheduler_step = m_lr_scheduler_step,
        .on_save_checkpoint = m_on_save_checkpoint,
        .user_data = h,
    };
}

static vkt_callback hooked_callback(void)
{
    return (vkt_callback){
        .setup = c_setup,
        .teardown = c_teardown,
#define SET_C(name) .name = c_##name,
        HOOKS_0(SET_C)
        .on_sanity_check_start = c_on_sanity_check_start,
        .on_sanity_check_end = c_on_sanity_check_end,
        .on_train_batch_start = c_on_train_batch_start,
        .on_train_batch_end = c_on_train_batch_end,
        .on_validation_batch_start = c_on_validation_batch_start,
        .on_validation_batch_end = c_on_validation_batch_end,
        .on_before_backward = c_on_before_backward,
        .on_before_zero_grad = c_on_before_zero_grad,
        .on_before_optimizer_step = c_on_before_optimizer_step,
        .on_save_checkpoint = c_on_save_checkpoint,
        .state_dict = c_state_dict,
        .state_key = "HookedCallback",
        .name = "HookedCallback",
    };
}

/* ---- expected lists ---- */

static char want[MAX_REC][48];
static int n_want;

static void add(const char *s)
{
    snprintf(want[n_want++], sizeof want[0], "%s", s);
}

static void adds(const char *const *list)
{
    for (; *list; list++) {
        add(*list);
    }
}

static const char *const transfer[] = {"on_before_batch_transfer", "transfer_batch_to_device",
                                       "on_after_batch_transfer", NULL};

static void val_loop(int batches, bool in_fit)
{
    if (in_fit) {
        add("on_validation_model_zero_grad");
    }
    static const char *const start[] = {"on_validation_model_eval",  "C.on_validation_start",
                                        "on_validation_start",       "C.on_validation_epoch_start",
                                        "on_validation_epoch_start", NULL};
    adds(start);
    for (int i = 0; i < batches; i++) {
        adds(transfer);
        static const char *const b[] = {"C.on_validation_batch_start", "on_validation_batch_start",
                                        "validation_step", "C.on_validation_batch_end",
                                        "on_validation_batch_end", NULL};
        adds(b);
    }
    static const char *const end[] = {"C.on_validation_epoch_end", "on_validation_epoch_end",
                                      "C.on_validation_end", "on_validation_end", NULL};
    adds(end);
}

static void train_batch(bool last, bool entry_order)
{
    adds(transfer);
    add("C.on_train_batch_start");
    add("on_train_batch_start");
    if (entry_order) {
        add("optimizer_step");
    }
    static const char *const closure[] = {
        "training_step",        "C.on_before_zero_grad",  "on_before_zero_grad",
        "optimizer_zero_grad",  "C.on_before_backward",   "on_before_backward",
        "backward",             "C.on_after_backward",    "on_after_backward",
        "C.on_before_optimizer_step", "on_before_optimizer_step",
        "configure_gradient_clipping", NULL};
    adds(closure);
    if (!entry_order) {
        add("optimizer_step");
    }
    if (last) {
        add("lr_scheduler_step"); /* epoch-interval scheduler, last batch */
    }
    add("C.on_train_batch_end");
    add("on_train_batch_end");
}

static void expected(int epochs, int train_batches, int val_batches, int sanity, bool entry_order)
{
    n_want = 0;
    static const char *const setup[] = {"prepare_data", "C.setup(fit)", "setup(fit)",
                                        "configure_optimizers", "C.on_fit_start", "on_fit_start",
                                        "C.on_sanity_check_start", NULL};
    adds(setup);
    val_loop(sanity, false);
    add("C.on_sanity_check_end");
    add("C.on_train_start");
    add("on_train_start");
    for (int e = 0; e < epochs; e++) {
        add("C.on_train_epoch_start");
        add("on_train_epoch_start");
        for (int i = 0; i < train_batches; i++) {
            train_batch(i == train_batches - 1, entry_order);
        }
        val_loop(val_batches, true);
        static const char *const end[] = {"C.on_train_epoch_end", "on_train_epoch_end",
                                          /* ModelCheckpoint (monitoring) saving */
                                          "C.state_dict", "C.on_save_checkpoint",
                                          "on_save_checkpoint", NULL};
        adds(end);
    }
    static const char *const fin[] = {"C.on_train_end", "on_train_end", "C.on_fit_end",
                                      "on_fit_end", "C.teardown(fit)", "teardown(fit)", NULL};
    adds(fin);
}

static void compare(void)
{
    int n = n_rec > n_want ? n_rec : n_want;
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++) {
        if (i >= n_rec || i >= n_want || strcmp(rec_log[i], want[i]) != 0) {
            bad = i;
        }
    }
    if (bad >= 0) {
        fprintf(stderr, "hook %d differs (recorded %d, expected %d):\n", bad, n_rec, n_want);
        for (int i = (bad > 5 ? bad - 5 : 0); i < bad + 5 && i < n; i++) {
            fprintf(stderr, "  %3d  %-32s %-32s%s\n", i, i < n_rec ? rec_log[i] : "-",
                    i < n_want ? want[i] : "-", i == bad ? "  <--" : "");
        }
    }
    assert_int_equal(bad, -1);
}

/* ---- fixtures ---- */

static char tmpdir[128];

static void run_fit(int epochs, int train_batches, int val_batches, bool entry_order, hooked *h)
{
    enum { F = 3 };
    uint8_t im[64 * F], lb[64];
    for (int i = 0; i < 64 * F; i++) {
        im[i] = (uint8_t)(i * 29);
    }
    for (int i = 0; i < 64; i++) {
        lb[i] = (uint8_t)(i % 2);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, 64, F, &ds), VKT_OK);
    vkt_loader *tl, *vl;
    assert_int_equal(
        vkt_loader_create(test_dev,
                          &(vkt_loader_desc){.dataset = ds,
                                             .batch_size = 2,
                                             .count = 2 * train_batches,
                                             .indices = (uint32_t[]){0, 1, 2, 3, 4, 5}},
                          &tl),
        VKT_OK);
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 2,
                                                                    .count = 2 * val_batches,
                                                                    .indices = (uint32_t[]){6, 7, 8,
                                                                                            9, 10,
                                                                                            11}},
                                       &vl),
                     VKT_OK);
    uint32_t sizes[3] = {F, 4, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 3, 0, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &h->model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(h->model, &(vkt_optim_desc){.type = VKT_OPTIM_SGD,
                                                                      .lr = 0.1f},
                                          &h->opt),
                     VKT_OK);
    assert_int_equal(
        vkt_scheduler_create(h->opt, &(vkt_sched_desc){.type = VKT_SCHED_STEP}, &h->sched), VKT_OK);
    vkt_module m = hooked_module(h);
    vkt_callback cb = hooked_callback();
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev,
                                        &(vkt_trainer_desc){.max_epochs = epochs,
                                                            .enable_progress_bar = VKT_FLAG_OFF,
                                                            .default_root_dir = tmpdir,
                                                            .callbacks = {&cb}},
                                        &t),
                     VKT_OK);
    record_on_entry = entry_order;
    n_rec = 0;
    vkt_status s = vkt_trainer_fit(t, &m, tl, vl);
    if (s != VKT_OK) {
        fprintf(stderr, "fit: %s\n", vkt_last_error());
    }
    assert_int_equal(s, VKT_OK);
    assert_int_equal(vkt_trainer_current_epoch(t), epochs);
    assert_int_equal(vkt_trainer_global_step(t), (uint64_t)(epochs * train_batches));
    vkt_trainer_destroy(t);
    vkt_scheduler_destroy(h->sched);
    vkt_optimizer_destroy(h->opt);
    vkt_model_destroy(h->model);
    vkt_loader_destroy(tl);
    vkt_loader_destroy(vl);
    vkt_dataset_destroy(ds);
}

/* test_hooks.py: max_epochs=1, 2 train batches, 2 val batches, sanity check 2, completion order */
static void fit_hook_order_matches_lightning_test_hooks(void **state)
{
    (void)state;
    hooked h = {0};
    run_fit(1, 2, 2, false, &h);
    expected(1, 2, 2, 2, false);
    compare();
    assert_int_equal(h.val_outputs_seen, 4); /* 2 sanity + 2 in-fit batches */
}

/* observed: 2 epochs, 2 train batches, 1 val batch, sanity check min(2, 1) = 1, entry order */
static void fit_hook_entry_order_two_epochs(void **state)
{
    (void)state;
    hooked h = {0};
    run_fit(2, 2, 1, true, &h);
    expected(2, 2, 1, 1, true);
    compare();
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_hooks_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(fit_hook_order_matches_lightning_test_hooks),
        VKT_TEST(fit_hook_entry_order_two_epochs),
    };
    int rc = VKT_RUN_GROUP(tests);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        return 1;
    }
    return rc;
}
