/*
 * test_ddp.c — data-parallel training over MPI (src/train/ddp.c, src/dist/), run by the suite as
 * `mpirun -np 2 test_ddp` (both ranks on lavapipe). Not a cmocka test: every rank runs main,
 * and rank 0 reports; the exit status fails the test on any rank.
 *
 * - agreement: 2 ranks with batch 64 each against 1 process with batch 128 on the same data
 *   order (rank r's shard is positions r, r+2, ... of the epoch's order, so each global batch
 *   holds the same 128 samples): the per-step loss (mean over the ranks) and the final weights
 *   within 1e-5 relative, and the two ranks' weights identical bit for bit;
 * - a communicator the application passes (here with the ranks reversed) is the one used;
 * - vkt_trainer_test runs each rank on its shard and gathers the test epoch's store;
 * - epoch stores: every kind, gathered or reduced over the ranks, equal to one process's;
 * - buckets: one per parameter, all-reduced during the backward, give the same weights bit for
 *   bit as one bucket after it, also when a custom backward walks the tape twice;
 * - the sampler: the shards are disjoint, cover the epoch, and pad as torch's DistributedSampler
 *   does (an odd sample count repeats the order's first sample);
 * - rank-zero-only files: the checkpoint exists, written by rank 0 alone;
 * - sync_dist: epoch values reduced over the ranks (mean, max, sum), step values (mean, sum)
 *   as on_train_batch_end reads them, an unsynced one not, and
 *   a metric object's state (the epoch accuracy equals the one-process run's);
 * - EarlyStopping's decision is shared: one rank's stop stops both; ModelCheckpoint's top-k
 *   decision is unanimous;
 * - resume: both ranks load rank 0's checkpoint and end where an uninterrupted run does;
 * - bad arguments (a loader's rank past its replicas, a broadcast root, NULL buffers) are clear
 *   errors that leave the communicator usable; DDP without a model fails fit on every rank;
 * - a mismatch of model size, epoch stores or sync_dist reductions across ranks is an error on
 *   every rank.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "vkt/vkt.h"

#define SAMPLES 512
#define FEATURES 10
#define EPOCHS 2
#define MAX_STEPS 64

static int rank, size;
static int failures;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d: check failed (%s:%d): ", rank, __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define OK_OR_DIE(call)                                                                            \
    do {                                                                                           \
        if ((call) != VKT_OK) {                                                                    \
            fprintf(stderr, "rank %d: %s failed: %s\n", rank, #call, vkt_last_error());            \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct run {
    vkt_metric *acc; /* accuracy over the epoch, logged with sync_dist (NULL: none) */
    bool log_ranks; /* log sync_dist values made of the rank */
    bool log_score; /* log "score": improving on rank 0, flat on rank 1 */
    bool fx_differs;    /* log a sync_dist value with max on rank 0, mean on rank 1 */
    bool no_model;      /* configure_optimizers names no model */
    int epochs;         /* 0: EPOCHS */
    uint32_t fail_at;   /* rank 1's training_step fails at this call (from 1); 0: never */
    size_t bucket_bytes; /* vkt_trainer_desc.ddp_bucket_bytes */
    bool twice;          /* a module backward that runs vkt_backward twice */
    uint32_t step_checks; /* steps whose synced step values were checked */
    bool stores;         /* store the logits (all kinds) and read them at epoch end */
    /* the last epoch's stores at on_train_epoch_end: the concatenation's rows, their count, the
     * sum, mean, min, max, mean_var's mean and variance (2 logits each), this rank's batches */
    float concat[SAMPLES][2];
    int64_t concat_rows;
    float reduced[7][2];
    uint32_t own_batches;
    uint32_t calls;
    float last_acc;     /* the last epoch's train_acc */
    const char *ckpt;   /* resume from this checkpoint */
    vkt_model *model;
    vkt_optimizer *opt;
    float losses[MAX_STEPS];
    uint32_t steps;
} run;

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    run *r = ud;
    if (rank == 1 && ++r->calls == r->fail_at) {
        return vkt_trainer_fail(t, VKT_SHAPE_MISMATCH, "an injected failure in training_step");
    }
    vkt_tensor *logits = vkt_model_forward(r->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_status s = loss ? vkt_outputs_set(out, "loss", loss) : vkt_last_status();
    if (s == VKT_OK && r->acc) {
        s = vkt_metric_update(r->acc, logits, b->y);
        s = s == VKT_OK ? vkt_log_metric(t, "train_acc", r->acc, &(vkt_log_opts){.sync_dist = true})
                        : s;
    }
    static const vkt_store_kind kinds[] = {VKT_STORE_CONCAT,  VKT_STORE_SUM, VKT_STORE_MEAN,
                                           VKT_STORE_MIN,     VKT_STORE_MAX, VKT_STORE_COUNT,
                                           VKT_STORE_MEAN_VAR};
    static const char *const names[] = {"cat", "sum", "mean", "min", "max", "count", "mv"};
    for (int k = 0; s == VKT_OK && r->stores && k < 7; k++) {
        s = vkt_store(t, names[k], logits, kinds[k]);
    }
    if (s == VKT_OK && r->fx_differs) {
        s = vkt_log_value(
            t, "fx", 1.0f,
            &(vkt_log_opts){.on_step = VKT_FLAG_OFF,
                            .on_epoch = VKT_FLAG_ON,
                            .sync_dist = true,
                            .reduce_fx = rank == 0 ? VKT_REDUCE_MAX : VKT_REDUCE_MEAN});
    }
    if (s == VKT_OK && r->log_score) {
        float v = rank == 0 ? 10.0f - (float)vkt_trainer_current_epoch(t) : 5.0f;
        s = vkt_log_value(t, "score", v,
                          &(vkt_log_opts){.on_step = VKT_FLAG_OFF, .on_epoch = VKT_FLAG_ON});
    }
    if (s == VKT_OK && r->log_ranks) {
        float v = (float)(rank + 1);
        vkt_log_opts o = {.on_step = VKT_FLAG_OFF, .on_epoch = VKT_FLAG_ON, .sync_dist = true};
        s = vkt_log_value(t, "rank_mean", v, &o);
        o.reduce_fx = VKT_REDUCE_MAX;
        s = s == VKT_OK ? vkt_log_value(t, "rank_max", v, &o) : s;
        o.reduce_fx = VKT_REDUCE_SUM;
        s = s == VKT_OK ? vkt_log_value(t, "rank_sum", v, &o) : s;
        o = (vkt_log_opts){.on_step = VKT_FLAG_OFF, .on_epoch = VKT_FLAG_ON};
        s = s == VKT_OK ? vkt_log_value(t, "rank_local", v, &o) : s;
        /* step values too: reduced when the step's values are committed */
        o = (vkt_log_opts){.on_step = VKT_FLAG_ON, .on_epoch = VKT_FLAG_OFF, .sync_dist = true};
        s = s == VKT_OK ? vkt_log_value(t, "rank_step", v, &o) : s;
        o.reduce_fx = VKT_REDUCE_SUM;
        s = s == VKT_OK ? vkt_log_value(t, "rank_step_sum", v, &o) : s;
    }
    return s;
}

/* on_train_epoch_end: what the stores hold (the ranks' stores made one under DDP). */
static vkt_status read_stores(vkt_trainer *t, void *ud)
{
    run *r = ud;
    if (!r->stores) {
        return VKT_OK;
    }
    static const char *const names[] = {"sum", "mean", "min", "max", "count", "mv"};
    vkt_tensor *cat = vkt_store_concat(t, VKT_STAGE_FIT, "cat");
    r->concat_rows = vkt_store_rows(t, VKT_STAGE_FIT, "cat");
    vkt_status s = cat && r->concat_rows == SAMPLES
                       ? vkt_tensor_download(cat, r->concat, sizeof r->concat)
                       : vkt__error(VKT_ERROR, "store cat: %lld rows", (long long)r->concat_rows);
    for (int k = 0; s == VKT_OK && k < 6; k++) {
        vkt_tensor *v = vkt_store_result(t, VKT_STAGE_FIT, names[k]);
        s = v ? vkt_tensor_download(v, r->reduced[k], vkt_tensor_numel(v) * sizeof(float))
              : vkt_last_status();
    }
    vkt_tensor *var = vkt_store_variance(t, VKT_STAGE_FIT, "mv", true);
    s = s == VKT_OK && var ? vkt_tensor_download(var, r->reduced[6], sizeof r->reduced[6]) : s;
    (void)vkt_store_batches(t, VKT_STAGE_FIT, "cat", &r->own_batches);
    return s;
}

/* Doubles the gradients: the second walk changes gradients whose buckets the first has read. */
static vkt_status backward_twice(vkt_trainer *t, vkt_tensor *loss, void *ud)
{
    (void)t, (void)ud;
    vkt_status s = vkt_backward(loss);
    return s == VKT_OK ? vkt_backward(loss) : s;
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    run *r = ud;
    oc->optimizer = r->opt;
    oc->model = r->no_model ? NULL : r->model;
    return VKT_OK;
}

static vkt_status record_loss(vkt_trainer *t, const vkt_outputs *out, const vkt_batch *b,
                              uint32_t i, void *ud)
{
    (void)b, (void)i;
    run *r = ud;
    /* callback_metrics holds the previous step's values here, as in Lightning (from step 2) */
    if (r->log_ranks && r->steps > 0) {
        float mean = 0, sum = 0;
        bool found = vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "rank_step", &mean) &&
                     vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "rank_step_sum", &sum);
        EXPECT(found && mean == 1.5f && sum == 3.0f,
               "sync_dist step values: mean %g (1.5), sum %g (3)", (double)mean, (double)sum);
        r->step_checks++;
    }
    if (r->steps >= MAX_STEPS) {
        return VKT_OK;
    }
    return vkt_tensor_download(vkt_outputs_get(out, "loss"), &r->losses[r->steps++], sizeof(float));
}

/* Two blobs of FEATURES bytes around 106 and 150, seeded: the same data on every rank. */
static vkt_dataset *make_data(void)
{
    static uint8_t im[SAMPLES * FEATURES], lb[SAMPLES];
    uint64_t s = 12345;
    for (int i = 0; i < SAMPLES; i++) {
        lb[i] = (uint8_t)(i % 2);
        for (int f = 0; f < FEATURES; f++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 11) / 9007199254740992.0;
            double v = (lb[i] ? 150.0 : 106.0) + (u - 0.5) * 160.0;
            im[i * FEATURES + f] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    vkt_dataset *ds;
    OK_OR_DIE(vkt_dataset_from_memory(im, lb, SAMPLES, FEATURES, &ds));
    return ds;
}

/* Trains `r` for its epochs with batch `batch`, DDP over `dist` (NULL: one process). */
static void train(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist, uint32_t batch,
                  const char *root, run *r, vkt_dist_stats *stats)
{
    uint32_t sizes[3] = {FEATURES, 32, 2};
    vkt_model_desc md;
    /* a different seed on each rank: DDP must start every rank from rank 0's weights */
    OK_OR_DIE(vkt_mlp_desc(sizes, 3, 100 + (uint64_t)vkt_dist_rank(dist), &md));
    if (!dist) {
        md.seed = 100;
    }
    OK_OR_DIE(vkt_model_create(dev, &md, &r->model));
    OK_OR_DIE(vkt_optimizer_create(r->model, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 1e-2f},
                                   &r->opt));
    OK_OR_DIE(vkt_metric_create(dev,
                                &(vkt_metric_desc){.type = VKT_METRIC_ACCURACY,
                                                   .task = VKT_TASK_MULTICLASS,
                                                   .num_classes = 2},
                                &r->acc));
    vkt_loader *loader;
    OK_OR_DIE(vkt_loader_create(dev,
                                &(vkt_loader_desc){.dataset = ds,
                                                   .batch_size = batch,
                                                   .shuffle = true,
                                                   .seed = 7,
                                                   .norm = VKT_NORM_MEAN_STD,
                                                   .mean = 0.5f,
                                                   .std = 0.25f},
                                &loader));
    vkt_module m = {.training_step = training_step,
                    .configure_optimizers = configure_optimizers,
                    .on_train_batch_end = record_loss,
                    .on_train_epoch_end = read_stores,
                    .backward = r->twice ? backward_twice : NULL,
                    .user_data = r};
    vkt_trainer *t;
    OK_OR_DIE(vkt_trainer_create(
        dev,
        &(vkt_trainer_desc){.max_epochs = r->epochs ? r->epochs : EPOCHS,
                            .enable_progress_bar = VKT_FLAG_OFF,
                            .default_root_dir = root,
                            .ckpt_path = r->ckpt,
                            .strategy = dist ? VKT_STRATEGY_DDP : VKT_STRATEGY_SINGLE,
                            .dist = dist,
                            .ddp_bucket_bytes = r->bucket_bytes},
        &t));
    OK_OR_DIE(vkt_trainer_fit(t, &m, loader, NULL));
    r->last_acc = -1;
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "train_acc", &r->last_acc);
    if (dist) {
        EXPECT(vkt_trainer_world_size(t) == size, "world size %d", vkt_trainer_world_size(t));
        vkt_dist_get_stats(dist, stats);
        /* every rank's ModelCheckpoint names rank 0's file */
        char mine[256] = "", zero[256];
        const char *best = vkt_model_checkpoint_best_path(vkt_trainer_checkpoint_callback(t));
        snprintf(mine, sizeof mine, "%s", best ? best : "");
        memcpy(zero, mine, sizeof zero);
        OK_OR_DIE(vkt_dist_broadcast(dist, zero, sizeof zero, 0));
        EXPECT(strcmp(mine, zero) == 0, "best_model_path %s here, %s on rank 0", mine, zero);
    }
    if (dist && r->log_ranks) {
        EXPECT(r->step_checks == r->steps - 1, "%u of %u steps' synced values checked",
               r->step_checks, r->steps);
        /* sync_dist: the last epoch's 4 batches per rank, every rank the same values */
        float mean = 0, max = 0, sum = 0, local = 0;
        vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "rank_mean", &mean);
        vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "rank_max", &max);
        vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "rank_sum", &sum);
        vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "rank_local", &local);
        EXPECT(mean == 1.5f && max == 2.0f && sum == 4 * (1 + 2) && local == (float)(rank + 1),
               "sync_dist: mean %g (1.5), max %g (2), sum %g (12), unsynced %g (%d)", (double)mean,
               (double)max, (double)sum, (double)local, rank + 1);
    }
    vkt_trainer_destroy(t);
    vkt_loader_destroy(loader);
    vkt_metric_destroy(r->acc);
    r->acc = NULL;
}

static float *fetch(vkt_tensor *t)
{
    size_t n = (size_t)vkt_tensor_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h || vkt_tensor_download(t, h, n * sizeof *h) != VKT_OK) {
        fprintf(stderr, "rank %d: cannot read a tensor: %s\n", rank, vkt_last_error());
        exit(1);
    }
    return h;
}

/* The last epoch's stores with DDP (`ddp`, rank 0's view) against one process: the gathered
 * concatenation holds rank 0's rows then rank 1's, and rank r's k-th row is the epoch's position
 * 2k + r (DistributedSampler's shard); the reductions are the whole epoch's. */
static void check_stores(const run *ddp, const run *one)
{
    double worst = 0;
    for (int k = 0; k < SAMPLES / 2; k++) {
        for (int r = 0; r < 2; r++) {
            for (int j = 0; j < 2; j++) {
                double a = ddp->concat[r * SAMPLES / 2 + k][j], b = one->concat[2 * k + r][j];
                worst = fmax(worst, fabs(a - b) / fmax(1.0, fabs(b)));
            }
        }
    }
    double worst_red = 0;
    for (int k = 0; k < 7; k++) {
        for (int j = 0; j < (k == 4 ? 1 : 2); j++) {
            double a = ddp->reduced[k][j], b = one->reduced[k][j];
            worst_red = fmax(worst_red, fabs(a - b) / fmax(1.0, fabs(b)));
        }
    }
    printf("epoch stores with DDP against one process: the gathered logits within %.2e, sum, "
           "mean, min, max, count, mean and variance within %.2e; %u batches of this rank's own\n",
           worst, worst_red, ddp->own_batches);
    EXPECT(ddp->concat_rows == SAMPLES && one->concat_rows == SAMPLES, "%lld and %lld rows",
           (long long)ddp->concat_rows, (long long)one->concat_rows);
    EXPECT(worst < 1e-5 && worst_red < 1e-5, "stores differ: %.2e, %.2e", worst, worst_red);
    EXPECT(ddp->reduced[4][0] == SAMPLES, "count %g", (double)ddp->reduced[4][0]);
    EXPECT(ddp->own_batches == 4 && one->own_batches == 4, "%u and %u batches", ddp->own_batches,
           one->own_batches);
}

/* Trains `r` with DDP and returns its weights (and frees the run's model). */
static float *train_weights(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist, const char *root,
                            run *r, vkt_dist_stats *stats)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/buckets", root);
    vkt_dist_stats before;
    vkt_dist_get_stats(dist, &before);
    train(dev, ds, dist, 64, dir, r, stats);
    stats->buckets -= before.buckets;
    stats->allreduce_ms -= before.allreduce_ms;
    stats->overlap_ms -= before.overlap_ms;
    float *w = fetch(vkt_model_param_block(r->model));
    vkt_optimizer_destroy(r->opt);
    vkt_model_destroy(r->model);
    return w;
}

/* Buckets: one per parameter, each all-reduced during the backward, give the weights of one
 * bucket reduced after it, bit for bit (with 2 ranks each sum has two terms, whatever the chunk
 * boundaries); so does a backward that runs twice, whose second walk changes buckets the first
 * had already read (they are read again). */
static void check_buckets(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist, const char *root,
                          const float *w_ddp, size_t n)
{
    run per = {.bucket_bytes = 1}, twice_per = {.bucket_bytes = 1, .twice = true},
        twice_one = {.bucket_bytes = SIZE_MAX, .twice = true};
    vkt_dist_stats st_per, st_twice, st_one;
    float *w_per = train_weights(dev, ds, dist, root, &per, &st_per);
    float *w_twice = train_weights(dev, ds, dist, root, &twice_per, &st_twice);
    float *w_one = train_weights(dev, ds, dist, root, &twice_one, &st_one);
    EXPECT(memcmp(w_per, w_ddp, n * sizeof *w_per) == 0,
           "one bucket per parameter: other weights than one bucket");
    EXPECT(memcmp(w_twice, w_one, n * sizeof *w_twice) == 0,
           "a double backward in buckets: other weights than in one bucket");
    EXPECT(memcmp(w_twice, w_per, n * sizeof *w_twice) != 0,
           "the double backward changed nothing (the test would not see stale buckets)");
    /* the MLP's 4 parameters, 8 steps */
    EXPECT(st_per.buckets == 4 * 8 && st_one.buckets == 8, "%llu and %llu buckets reduced",
           (unsigned long long)st_per.buckets, (unsigned long long)st_one.buckets);
    if (rank == 0) {
        printf("buckets: 4 per step, %.3f ms in the ring per step, %.3f ms of it while the device "
               "was still in the backward\n",
               st_per.allreduce_ms / 8, st_per.overlap_ms / 8);
    }
    free(w_per);
    free(w_twice);
    free(w_one);
}

static void check_sampler(vkt_device *dev, vkt_dist *dist)
{
    /* 9 samples over 2 ranks: 5 each, the 10th position repeating the order's first */
    static uint8_t im[9], lb[9];
    vkt_dataset *ds;
    OK_OR_DIE(vkt_dataset_from_memory(im, lb, 9, 1, &ds));
    vkt_loader *l;
    OK_OR_DIE(vkt_loader_create(dev,
                                &(vkt_loader_desc){.dataset = ds,
                                                   .batch_size = 2,
                                                   .shuffle = true,
                                                   .seed = 3,
                                                   .num_replicas = 2,
                                                   .rank = (uint32_t)rank},
                                &l));
    OK_OR_DIE(vkt_loader_start_epoch(l, 1));
    EXPECT(vkt_loader_num_batches(l) == 3, "%u batches of a 5-sample shard",
           vkt_loader_num_batches(l));
    float mine[5], all[10];
    const uint32_t *order = vkt__loader_order(l);
    for (int i = 0; i < 5; i++) {
        mine[i] = (float)order[i];
    }
    /* every rank's shard to every rank: the sum is all zeros but rank r's */
    memset(all, 0, sizeof all);
    memcpy(all + 5 * rank, mine, sizeof mine);
    OK_OR_DIE(vkt_dist_allreduce_sum(dist, all, 10));
    int seen[9] = {0};
    for (int i = 0; i < 10; i++) {
        seen[(int)all[i]]++;
    }
    for (int i = 0; i < 9; i++) {
        EXPECT(seen[i] == 1 + (i == (int)all[0]), "sample %d appears %d times", i, seen[i]);
    }
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
}

/* A small DDP fit without logs or checkpoints: hidden units, epochs, one optional callback. */
typedef struct small {
    run r;
    bool checkpointing; /* cb is a ModelCheckpoint */
    vkt_loader *loader;
    vkt_trainer *t;
    vkt_status status;
} small;

static void small_fit(small *f, vkt_device *dev, vkt_dataset *ds, vkt_dist *dist, uint32_t hidden,
                      int epochs, vkt_callback *cb)
{
    uint32_t sizes[3] = {FEATURES, hidden, 2};
    vkt_model_desc md;
    OK_OR_DIE(vkt_mlp_desc(sizes, 3, 1, &md));
    OK_OR_DIE(vkt_model_create(dev, &md, &f->r.model));
    OK_OR_DIE(vkt_optimizer_create(f->r.model, &(vkt_optim_desc){0}, &f->r.opt));
    OK_OR_DIE(
        vkt_loader_create(dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 64}, &f->loader));
    vkt_module m = {.training_step = training_step,
                    .configure_optimizers = configure_optimizers,
                    .user_data = &f->r};
    OK_OR_DIE(vkt_trainer_create(
        dev,
        &(vkt_trainer_desc){.max_epochs = epochs,
                            .enable_progress_bar = VKT_FLAG_OFF,
                            .logger = VKT_FLAG_OFF,
                            .enable_checkpointing = f->checkpointing ? VKT_FLAG_ON : VKT_FLAG_OFF,
                            .callbacks = {cb},
                            .dist = dist},
        &f->t));
    f->status = vkt_trainer_fit(f->t, &m, f->loader, NULL);
}

static void small_close(small *f)
{
    vkt_trainer_destroy(f->t);
    vkt_loader_destroy(f->loader);
    vkt_optimizer_destroy(f->r.opt);
    vkt_model_destroy(f->r.model);
}

typedef struct eval_run {
    uint32_t steps;
    float x[SAMPLES][FEATURES]; /* the test epoch's inputs, gathered */
    int64_t rows;
} eval_run;

static vkt_status store_inputs(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                               vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    ((eval_run *)ud)->steps++;
    return vkt_store(t, "x", b->x, VKT_STORE_CONCAT);
}

static vkt_status read_inputs(vkt_trainer *t, void *ud)
{
    eval_run *e = ud;
    e->rows = vkt_store_rows(t, VKT_STAGE_TEST, "x");
    vkt_tensor *x = vkt_store_concat(t, VKT_STAGE_TEST, "x");
    return x && e->rows == SAMPLES ? vkt_tensor_download(x, e->x, sizeof e->x)
                                   : vkt__error(VKT_ERROR, "%lld rows", (long long)e->rows);
}

/* vkt_trainer_test under DDP runs each rank on its shard (Lightning's DistributedSampler for
 * every stage) and gathers the test epoch's store: rank r's k-th row is sample 2k + r. */
static void check_test_shards(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist)
{
    eval_run *e[2] = {calloc(1, sizeof(eval_run)), calloc(1, sizeof(eval_run))};
    for (int i = 0; i < 2; i++) {
        vkt_loader *l;
        OK_OR_DIE(vkt_loader_create(dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 64}, &l));
        vkt_trainer *t;
        OK_OR_DIE(vkt_trainer_create(
            dev,
            &(vkt_trainer_desc){.enable_progress_bar = VKT_FLAG_OFF,
                                .logger = VKT_FLAG_OFF,
                                .strategy = i ? VKT_STRATEGY_SINGLE : VKT_STRATEGY_DDP,
                                .dist = i ? NULL : dist},
            &t));
        vkt_module m = {
            .test_step = store_inputs, .on_test_epoch_end = read_inputs, .user_data = e[i]};
        OK_OR_DIE(vkt_trainer_test(t, &m, l));
        EXPECT(vkt_loader_num_batches(l) == 8, "the loader is left sharded: %u batches",
               vkt_loader_num_batches(l));
        vkt_trainer_destroy(t);
        vkt_loader_destroy(l);
    }
    EXPECT(e[0]->steps == 4 && e[1]->steps == 8, "%u test steps with DDP, %u on one process",
           e[0]->steps, e[1]->steps);
    bool same = e[0]->rows == SAMPLES;
    for (int k = 0; same && k < SAMPLES / 2; k++) {
        for (int r = 0; r < 2; r++) {
            same = same &&
                   memcmp(e[0]->x[r * SAMPLES / 2 + k], e[1]->x[2 * k + r], sizeof e[0]->x[0]) == 0;
        }
    }
    EXPECT(same, "the gathered test inputs are not rank 0's shard then rank 1's");
    free(e[0]);
    free(e[1]);
}

/* The application's communicator: vkt works on a duplicate of it, here with the ranks in the
 * reverse order of MPI_COMM_WORLD's, and leaves MPI initialised (the first vkt_dist owns it). */
static void check_app_comm(vkt_device *dev, vkt_dataset *ds)
{
    MPI_Comm reversed;
    EXPECT(MPI_Comm_split(MPI_COMM_WORLD, 0, size - 1 - rank, &reversed) == MPI_SUCCESS,
           "MPI_Comm_split");
    vkt_dist *d;
    OK_OR_DIE(vkt_dist_create(&(vkt_dist_desc){.mpi_comm = &reversed}, &d));
    EXPECT(vkt_dist_rank(d) == size - 1 - rank && vkt_dist_size(d) == size,
           "rank %d of %d on the reversed communicator", vkt_dist_rank(d), vkt_dist_size(d));
    float x = (float)(vkt_dist_rank(d) + 1);
    OK_OR_DIE(vkt_dist_allreduce_sum(d, &x, 1));
    EXPECT(x == 3.0f, "the sum over the reversed communicator is %g", (double)x);
    small f = {0};
    small_fit(&f, dev, ds, d, 16, 1, NULL);
    EXPECT(f.status == VKT_OK && vkt_trainer_global_rank(f.t) == size - 1 - rank,
           "fit over the application's communicator: %s", vkt_last_error());
    small_close(&f);
    vkt_dist_destroy(d);
    int up = 0;
    MPI_Initialized(&up);
    EXPECT(up, "destroying the second vkt_dist finalised MPI");
    MPI_Comm_free(&reversed);
}

#define EXPECT_ERROR(call, status, words)                                                          \
    do {                                                                                           \
        vkt_status got_ = (call);                                                                  \
        EXPECT(got_ == (status) && strstr(vkt_last_error(), words) != NULL, "%s gave %s: %s",      \
               #call, vkt_status_name(got_), vkt_last_error());                                    \
    } while (0)

/* Bad arguments: clear errors, and the communicator still usable after them. */
static void check_bad_arguments(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist)
{
    vkt_loader *l = NULL;
    EXPECT_ERROR(
        vkt_loader_create(
            dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 8, .num_replicas = 2, .rank = 2},
            &l),
        VKT_INVALID_ARGUMENT, "rank 2 is not one of 2 replicas");
    EXPECT(l == NULL, "a loader was made for rank 2 of 2");
    float x[3] = {1, 2, 3};
    EXPECT_ERROR(vkt_dist_broadcast(dist, x, sizeof x, 2), VKT_INVALID_ARGUMENT,
                 "root is not a rank");
    EXPECT_ERROR(vkt_dist_allreduce_sum(dist, NULL, 3), VKT_INVALID_ARGUMENT, "buf is NULL");
    EXPECT_ERROR(vkt_dist_create(NULL, NULL), VKT_INVALID_ARGUMENT, "out is NULL");
    OK_OR_DIE(vkt_dist_allreduce_sum(dist, x, 3));
    EXPECT(x[0] == 2 && x[2] == 6, "the sum after the errors: %g, %g", (double)x[0], (double)x[2]);
    /* DDP averages the model's gradient block: without a model it cannot. A fit that fails
     * tells the other ranks and leaves its communicator failed, so this one has its own. The
     * other rank's notice may also reach this one before its own fit starts (while the trainer
     * it creates agrees on the log directory): then the reason is the other rank's. */
    vkt_dist *own;
    OK_OR_DIE(vkt_dist_create(NULL, &own));
    run r = {.no_model = true};
    uint32_t sizes[3] = {FEATURES, 16, 2};
    vkt_model_desc md;
    OK_OR_DIE(vkt_mlp_desc(sizes, 3, 1, &md));
    OK_OR_DIE(vkt_model_create(dev, &md, &r.model));
    OK_OR_DIE(vkt_optimizer_create(r.model, &(vkt_optim_desc){0}, &r.opt));
    OK_OR_DIE(vkt_loader_create(dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 64}, &l));
    vkt_module m = {.training_step = training_step,
                    .configure_optimizers = configure_optimizers,
                    .user_data = &r};
    vkt_trainer *t = NULL;
    vkt_status st = vkt_trainer_create(dev,
                                       &(vkt_trainer_desc){.max_epochs = 1,
                                                           .enable_progress_bar = VKT_FLAG_OFF,
                                                           .logger = VKT_FLAG_OFF,
                                                           .enable_checkpointing = VKT_FLAG_OFF,
                                                           .dist = own},
                                       &t);
    st = st == VKT_OK ? vkt_trainer_fit(t, &m, l, NULL) : st;
    EXPECT((st == VKT_INVALID_ARGUMENT || st == VKT_DISTRIBUTED) &&
               strstr(vkt_last_error(), "configure_optimizers set no model") != NULL,
           "DDP without a model gave %s: %s", vkt_status_name(st), vkt_last_error());
    vkt_trainer_destroy(t);
    vkt_loader_destroy(l);
    vkt_optimizer_destroy(r.opt);
    vkt_model_destroy(r.model);
    EXPECT_ERROR(vkt_dist_barrier(own), VKT_DISTRIBUTED, "failed");
    vkt_dist_destroy(own);
}

static void check_mismatch(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist)
{
    small f = {0};
    small_fit(&f, dev, ds, dist, rank == 0 ? 32u : 33u, 1, NULL);
    EXPECT(f.status == VKT_DISTRIBUTED, "a model size mismatch gave %s",
           vkt_status_name(f.status));
    EXPECT(strstr(vkt_last_error(), "disagree on the model's size") != NULL, "error: %s",
           vkt_last_error());
    if (rank == 1) {
        fprintf(stderr, "rank 1, as expected: %s\n", vkt_last_error());
    }
    small_close(&f);
    /* epoch stores that only rank 1 keeps cannot be made one: an error at the epoch's end */
    small g = {.r = {.stores = rank == 1}};
    small_fit(&g, dev, ds, dist, 32, 1, NULL);
    EXPECT(g.status == VKT_DISTRIBUTED && strstr(vkt_last_error(), "epoch stores") != NULL,
           "stores on one rank gave %s: %s", vkt_status_name(g.status), vkt_last_error());
    small_close(&g);
    /* sync_dist values the ranks reduce differently cannot pair up: an error, not a hang */
    small h = {.r = {.fx_differs = true}};
    small_fit(&h, dev, ds, dist, 32, 1, NULL);
    EXPECT(h.status == VKT_DISTRIBUTED && strstr(vkt_last_error(), "reduce_fx") != NULL,
           "a reduce_fx mismatch gave %s: %s", vkt_status_name(h.status), vkt_last_error());
    small_close(&h);
}

/* EarlyStopping's decision is shared: rank 1's flat score stops both ranks after epoch 1 while
 * rank 0's keeps improving (alone, rank 1 would leave rank 0 waiting in the next all-reduce). */
static void check_shared_stop(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist)
{
    vkt_callback *es = vkt_early_stopping_create(
        &(vkt_early_stopping_desc){.monitor = "score", .patience = 1, .mode = VKT_MODE_MIN});
    small f = {.r = {.log_score = true}};
    small_fit(&f, dev, ds, dist, 16, 6, es);
    EXPECT(f.status == VKT_OK, "fit: %s", vkt_last_error());
    EXPECT(vkt_trainer_current_epoch(f.t) == 2 && vkt_trainer_global_step(f.t) == 8,
           "ended at epoch %u, step %llu; both ranks should stop after epoch 1 (epoch 2, step 8)",
           vkt_trainer_current_epoch(f.t), (unsigned long long)vkt_trainer_global_step(f.t));
    small_close(&f);
    vkt_early_stopping_destroy(es);
}

/* ModelCheckpoint's top-k decision is unanimous (Lightning's check_monitor_top_k): rank 1's
 * flat score keeps both ranks at epoch 0's file while rank 0's improves, and neither waits for
 * the other in a save the other skips. */
static void check_unanimous_topk(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist, const char *root)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/topk", root);
    vkt_callback *mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){
        .dirpath = dir, .monitor = "score", .mode = VKT_MODE_MIN, .save_top_k = 1});
    small f = {.r = {.log_score = true}, .checkpointing = true};
    small_fit(&f, dev, ds, dist, 16, 3, mc);
    EXPECT(f.status == VKT_OK, "fit: %s", vkt_last_error());
    char mine[256], zero[256];
    snprintf(mine, sizeof mine, "%s", vkt_model_checkpoint_best_path(mc));
    memcpy(zero, mine, sizeof zero);
    OK_OR_DIE(vkt_dist_broadcast(dist, zero, sizeof zero, 0));
    EXPECT(strcmp(mine, zero) == 0 && strstr(mine, "epoch=0-step=4.ckpt") != NULL,
           "best_model_path %s here, %s on rank 0 (epoch=0-step=4.ckpt on both)", mine, zero);
    small_close(&f);
    vkt_model_checkpoint_destroy(mc);
}

/* A rank that fails stops every rank, with its reason, instead of leaving them waiting: rank 1's
 * third training_step fails while rank 0 waits for its gradients. MPI is left unfinalised
 * after a failure, so the job ends as the launcher ends it; the test is this rank's output. */
static int check_fault(vkt_device *dev, vkt_dataset *ds, vkt_dist *dist)
{
    small f = {.r = {.fail_at = 3}};
    small_fit(&f, dev, ds, dist, 16, 2, NULL);
    const char *e = vkt_last_error();
    bool ok = rank == 1 ? f.status == VKT_SHAPE_MISMATCH && strstr(e, "injected")
                        : f.status == VKT_DISTRIBUTED && strstr(e, "rank 1 failed") &&
                              strstr(e, "an injected failure in training_step");
    printf("rank %d: fit returned %s: %s\n", rank, vkt_status_name(f.status), e);
    printf("rank %d: fault %s\n", rank, ok ? "ok" : "FAILED");
    fflush(stdout);
    small_close(&f);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    bool fault = argc > 1 && strcmp(argv[1], "--fault") == 0;
    vkt_dist *dist;
    OK_OR_DIE(vkt_dist_create(NULL, &dist));
    rank = vkt_dist_rank(dist);
    size = vkt_dist_size(dist);
    if (size != 2) {
        fprintf(stderr, "test_ddp runs on 2 ranks (mpirun -np 2), not %d\n", size);
        vkt_dist_destroy(dist);
        return 1;
    }
    vkt_device *dev;
    OK_OR_DIE(vkt_device_create(&(vkt_device_desc){.select = vkt_dist_device_select(dist)}, &dev));
    vkt_dataset *ds = make_data();
    if (fault) {
        int rc = check_fault(dev, ds, dist);
        vkt_dataset_destroy(ds);
        vkt_device_destroy(dev);
        vkt_dist_destroy(dist);
        return rc;
    }

    /* a directory shared by the ranks, named by rank 0 */
    char root[64] = "";
    if (rank == 0) {
        snprintf(root, sizeof root, "/tmp/vkt_test_ddp_XXXXXX");
        if (!mkdtemp(root)) {
            root[0] = 0;
        }
    }
    OK_OR_DIE(vkt_dist_broadcast(dist, root, sizeof root, 0));

    run ddp = {.log_ranks = true, .stores = true};
    vkt_dist_stats stats = {0};
    train(dev, ds, dist, 64, root, &ddp, &stats);
    float *w = fetch(vkt_model_param_block(ddp.model));
    size_t n = (size_t)vkt_model_num_params(ddp.model);
    /* both ranks hold the same weights, bit for bit */
    float *w0 = malloc(n * sizeof *w0);
    memcpy(w0, w, n * sizeof *w0);
    OK_OR_DIE(vkt_dist_broadcast(dist, w0, n * sizeof *w0, 0));
    EXPECT(memcmp(w0, w, n * sizeof *w) == 0, "the ranks' weights differ after training");
    /* the loss of each global step: the mean over the ranks */
    float mean_loss[MAX_STEPS];
    memcpy(mean_loss, ddp.losses, sizeof mean_loss);
    OK_OR_DIE(vkt_dist_allreduce_sum(dist, mean_loss, ddp.steps));
    for (uint32_t i = 0; i < ddp.steps; i++) {
        mean_loss[i] /= (float)size;
    }
    check_sampler(dev, dist);
    check_buckets(dev, ds, dist, root, w, n);
    check_unanimous_topk(dev, ds, dist, root);

    /* resume: every rank loads rank 0's checkpoint of epoch 1 and trains a third epoch, which
     * ends where an uninterrupted 3-epoch run does, bit for bit */
    char ckpt[160], root3[96], root_resumed[96];
    snprintf(ckpt, sizeof ckpt, "%s/lightning_logs/version_0/checkpoints/epoch=1-step=8.ckpt",
             root);
    snprintf(root3, sizeof root3, "%s/three", root);
    snprintf(root_resumed, sizeof root_resumed, "%s/resumed", root);
    run three = {.epochs = 3}, resumed = {.epochs = 3, .ckpt = ckpt};
    vkt_dist_stats unused;
    train(dev, ds, dist, 64, root3, &three, &unused);
    train(dev, ds, dist, 64, root_resumed, &resumed, &unused);
    float *w3 = fetch(vkt_model_param_block(three.model));
    float *wr = fetch(vkt_model_param_block(resumed.model));
    EXPECT(three.steps == 12 && resumed.steps == 4, "%u steps straight, %u after resuming",
           three.steps, resumed.steps);
    EXPECT(memcmp(w3, wr, n * sizeof *w3) == 0, "the resumed run's weights differ from the "
                                                "uninterrupted run's");
    free(w3);
    free(wr);
    vkt_optimizer_destroy(three.opt);
    vkt_model_destroy(three.model);
    vkt_optimizer_destroy(resumed.opt);
    vkt_model_destroy(resumed.model);

    if (rank == 0) {
        char ckpt[128];
        snprintf(ckpt, sizeof ckpt, "%s/lightning_logs/version_0/checkpoints", root);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "ls %s | grep -q 'epoch=1-step=8.ckpt'", ckpt);
        EXPECT(system(cmd) == 0, "no checkpoint epoch=1-step=8.ckpt in %s", ckpt);
        snprintf(cmd, sizeof cmd, "test ! -e %s/lightning_logs/version_1", root);
        EXPECT(system(cmd) == 0, "a second log version: a rank other than 0 wrote logs");

        /* the reference: one process, batch 128, the same order */
        char ref_root[128];
        snprintf(ref_root, sizeof ref_root, "%s/single", root);
        run one = {.stores = true};
        train(dev, ds, NULL, 128, ref_root, &one, NULL);
        check_stores(&ddp, &one);
        float *w1 = fetch(vkt_model_param_block(one.model));
        EXPECT(one.steps == ddp.steps, "%u steps on one process, %u with DDP", one.steps,
               ddp.steps);
        double worst_loss = 0, worst_w = 0, wmax = 0;
        for (uint32_t i = 0; i < one.steps && i < ddp.steps; i++) {
            worst_loss = fmax(worst_loss, fabs(mean_loss[i] - one.losses[i]) / fabs(one.losses[i]));
        }
        for (size_t i = 0; i < n; i++) {
            worst_w = fmax(worst_w, fabs(w[i] - w1[i]));
            wmax = fmax(wmax, fabs(w1[i]));
        }
        worst_w /= wmax;
        printf("DDP 2 x 64 vs 1 x 128, %u steps: loss %.6f -> %.6f (one process %.6f -> %.6f); "
               "largest loss difference %.2e relative, weights %.2e relative to the largest "
               "weight\n",
               ddp.steps, mean_loss[0], mean_loss[ddp.steps - 1], one.losses[0],
               one.losses[one.steps - 1], worst_loss, worst_w);
        double calls = stats.allreduces ? (double)stats.allreduces : 1.0;
        printf("all-reduce: %llu calls, %.0f bytes each, %.0f bytes sent per call by this rank "
               "(ring: 2 (N-1)/N = %.2f of the block), %.3f ms per call in the "
               "ring, %.3f ms waiting for the gradients\n",
               (unsigned long long)stats.allreduces, (double)stats.allreduce_bytes / calls,
               (double)stats.sent_bytes / calls, 2.0 * (size - 1) / size,
               stats.allreduce_ms / calls, stats.wait_ms / calls);
        EXPECT(worst_loss < 1e-5, "loss curves differ by %.2e relative", worst_loss);
        /* the sync_dist accuracy metric: its state summed over both ranks' shards */
        printf("train_acc of the last epoch: %.6f with DDP (sync_dist), %.6f on one process\n",
               (double)ddp.last_acc, (double)one.last_acc);
        EXPECT(fabs(ddp.last_acc - one.last_acc) < 0.5 / SAMPLES,
               "train_acc %g with DDP, %g on one process", (double)ddp.last_acc,
               (double)one.last_acc);
        EXPECT(worst_w < 1e-5, "final weights differ by %.2e relative", worst_w);
        EXPECT(mean_loss[ddp.steps - 1] < 0.5f * mean_loss[0], "the loss did not fall");
        free(w1);
        vkt_optimizer_destroy(one.opt);
        vkt_model_destroy(one.model);
        snprintf(cmd, sizeof cmd, "rm -rf %s", root);
        (void)system(cmd);
    }
    OK_OR_DIE(vkt_dist_barrier(dist));
    check_shared_stop(dev, ds, dist);
    check_test_shards(dev, ds, dist);
    check_app_comm(dev, ds);
    check_bad_arguments(dev, ds, dist);
    check_mismatch(dev, ds, dist);

    free(w);
    free(w0);
    vkt_optimizer_destroy(ddp.opt);
    vkt_model_destroy(ddp.model);
    vkt_dataset_destroy(ds);
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    EXPECT(st.validation_messages == 0, "%llu validation messages",
           (unsigned long long)st.validation_messages);
    vkt_device_destroy(dev);
    int all = failures;
    float f = (float)all;
    OK_OR_DIE(vkt_dist_allreduce_sum(dist, &f, 1));
    vkt_dist_destroy(dist);
    if (rank == 0) {
        printf("test_ddp: %s\n", f == 0 ? "ok" : "FAILED");
    }
    return f == 0 ? 0 : 1;
}
