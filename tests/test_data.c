/*
 * test_data.c — IDX (u8, i32, f32), .npy and CSV reading with every kind of bad file,
 * Fashion-MNIST from the Debian package, datasets of any sample and target shape, loaders (device
 * gather and host streaming): batch shapes, per-channel normalisation, augmentation reproducibility,
 * shuffling, drop_last, i32 features kept exactly as i32 batches (and the options refused for
 * them), validation split, allocation failures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_internal.h"
#include "gpu/gpu_internal.h"
#include "internal.h"
#include "test_alloc.h"
#include "test_util.h"

static char tmpdir[256];

static const char *path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_file(const char *name, const void *data, size_t n, bool gz)
{
    if (gz) {
        gzFile f = gzopen(path(name), "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path(name), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        fclose(f);
    }
}

/* An IDX of unsigned bytes: header + dims + data (values i % 251). Returns the byte count. */
static size_t make_idx(uint8_t *buf, int ndim, const uint32_t *dims)
{
    size_t at = 0, total = 1;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = 0x08;
    buf[at++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[at++] = (uint8_t)(dims[i] >> 24);
        buf[at++] = (uint8_t)(dims[i] >> 16);
        buf[at++] = (uint8_t)(dims[i] >> 8);
        buf[at++] = (uint8_t)dims[i];
        total *= dims[i];
    }
    for (size_t i = 0; i < total; i++) {
        buf[at++] = (uint8_t)(i % 251);
    }
    return at;
}

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_test_data_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void idx_reads_raw_and_gzip(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    uint32_t dims[3] = {5, 4, 3};
    size_t n = make_idx(buf, 3, dims);
    write_file("ok.idx", buf, n, false);
    write_file("ok.idx.gz", buf, n, true);
    for (int gz = 0; gz < 2; gz++) {
        vkt_idx idx;
        assert_int_equal(vkt_idx_read(path(gz ? "ok.idx.gz" : "ok.idx"), &idx), VKT_OK);
        assert_int_equal(idx.ndim, 3);
        assert_int_equal(idx.dims[0], 5);
        assert_int_equal(idx.dims[2], 3);
        assert_int_equal(idx.size, 60);
        assert_int_equal(idx.data[59], 59);
        vkt_idx_free(&idx);
    }
}

static void expect_idx_error(const char *name, vkt_status want, const char *phrase)
{
    vkt_idx idx;
    assert_int_equal(vkt_idx_read(path(name), &idx), want);
    assert_null(idx.data);
    const char *msg = vkt_last_error();
    if (!strstr(msg, name) || !strstr(msg, phrase)) {
        fprintf(stderr, "message for %s: %s\n", name, msg);
        fail();
    }
}

/* A header's size is a claim: a tiny file announcing 16 GiB fails as truncated without asking for
 * 16 GiB (raw: checked against the file size; gzip: the buffer grows with the data that arrives).
 */
static void idx_header_claims_are_not_allocated(void **state)
{
    (void)state;
    static uint8_t buf[64];
    uint32_t dims[3] = {65536, 65536, 4}; /* 16 GiB */
    size_t n = make_idx(buf, 3, (uint32_t[3]){1, 1, 1});
    for (int i = 0; i < 3; i++) {
        buf[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        buf[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        buf[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        buf[7 + 4 * i] = (uint8_t)dims[i];
    }
    write_file("claims16g.idx", buf, n + 12, false);
    write_file("claims16g.idx.gz", buf, n + 12, true);
    for (int gz = 0; gz < 2; gz++) {
        vkt__alloc_fail_at(-1, false);
        expect_idx_error(gz ? "claims16g.idx.gz" : "claims16g.idx", VKT_CORRUPT_FILE,
                         "truncated");
        assert_true(vkt__alloc_largest() <= ((size_t)1 << 20));
        assert_non_null(strstr(vkt_last_error(), "17179869184"));
    }
}

static void idx_errors_name_the_file_and_the_problem(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    uint32_t dims[2] = {10, 7};
    size_t n = make_idx(buf, 2, dims);

    expect_idx_error("missing.idx", VKT_IO, "cannot open");

    write_file("truncated.idx", buf, n - 5, false);
    expect_idx_error("truncated.idx", VKT_CORRUPT_FILE, "truncated");
    write_file("truncated.idx.gz", buf, n - 5, true);
    expect_idx_error("truncated.idx.gz", VKT_CORRUPT_FILE, "truncated");
    write_file("header_only.idx", buf, 6, false);
    expect_idx_error("header_only.idx", VKT_CORRUPT_FILE, "truncated");

    /* a gzip stream cut short */
    write_file("full.idx.gz", buf, n, true);
    FILE *f = fopen(path("full.idx.gz"), "rb");
    uint8_t gz[8192];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    write_file("cut.idx.gz", gz, gn / 2, false);
    expect_idx_error("cut.idx.gz", VKT_CORRUPT_FILE, "truncated or corrupt");

    uint8_t bad[sizeof buf];
    memcpy(bad, buf, n);
    bad[0] = 0x12;
    write_file("magic.idx", bad, n, false);
    expect_idx_error("magic.idx", VKT_CORRUPT_FILE, "bad magic");
    memcpy(bad, buf, n);
    bad[2] = 0x0E; /* double data */
    write_file("type.idx", bad, n, false);
    expect_idx_error("type.idx", VKT_CORRUPT_FILE, "not supported");

    memcpy(bad, buf, n);
    bad[n] = 1;
    write_file("trailing.idx", bad, n + 1, false);
    expect_idx_error("trailing.idx", VKT_CORRUPT_FILE, "trailing bytes");

    write_file("empty.idx", buf, 0, false);
    expect_idx_error("empty.idx", VKT_CORRUPT_FILE, "truncated");
}

static void count_mismatch_names_both_files(void **state)
{
    (void)state;
    static uint8_t im[4096], lb[64];
    uint32_t di[2] = {10, 7}, dl[1] = {9};
    write_file("im.idx", im, make_idx(im, 2, di), false);
    write_file("lb.idx", lb, make_idx(lb, 1, dl), false);
    vkt_dataset *ds = (vkt_dataset *)0x1;
    assert_int_equal(vkt_dataset_load_idx(&(vkt_idx_dataset_desc){.images = path("im.idx"),
                                                                  .labels = path("lb.idx")},
                                          &ds),
                     VKT_SHAPE_MISMATCH);
    assert_null(ds);
    assert_non_null(strstr(vkt_last_error(), "10 images"));
    assert_non_null(strstr(vkt_last_error(), "9 labels"));
    assert_non_null(strstr(vkt_last_error(), "lb.idx"));

    assert_int_equal(vkt_dataset_load_mnist("/nonexistent/dir", "train", &ds), VKT_IO);
    assert_non_null(strstr(vkt_last_error(), "dataset-fashion-mnist"));
    assert_int_equal(vkt_dataset_load_mnist(tmpdir, "train", &ds), VKT_IO);
    assert_non_null(strstr(vkt_last_error(), "train-images-idx3-ubyte"));
}

static void fashion_mnist_from_the_debian_package(void **state)
{
    (void)state;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    vkt_dataset *tr, *te;
    assert_int_equal(vkt_dataset_load_mnist(dir, "train", &tr), VKT_OK);
    assert_int_equal(vkt_dataset_load_mnist(dir, "t10k", &te), VKT_OK);
    assert_int_equal(vkt_dataset_count(tr), 60000);
    assert_int_equal(vkt_dataset_count(te), 10000);
    assert_int_equal(vkt_dataset_features(tr), 784);
    assert_int_equal(vkt_dataset_classes(tr), 10);
    /* the classes are balanced: 6000 of each in the training set */
    uint32_t counts[10] = {0};
    for (uint32_t i = 0; i < 60000; i++) {
        counts[vkt_dataset_label(tr, i)]++;
    }
    for (int c = 0; c < 10; c++) {
        assert_int_equal(counts[c], 6000);
    }
    vkt_dataset_destroy(tr);
    vkt_dataset_destroy(te);
}

static void gather_matches_reference(void **state)
{
    (void)state;
    test_run_checks("data");
}

static void loader_epochs_shuffle_and_drop_last(void **state)
{
    (void)state;
    enum { N = 103, F = 5 };
    uint8_t im[N * F], lb[N];
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(i % 10);
        for (int j = 0; j < F; j++) {
            im[i * F + j] = (uint8_t)i; /* first feature identifies the sample */
        }
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    for (int drop = 0; drop < 2; drop++) {
        vkt_loader *l;
        assert_int_equal(vkt_loader_create(test_dev,
                                           &(vkt_loader_desc){.dataset = ds, .batch_size = 10,
                                                              .shuffle = true, .seed = 3,
                                                              .drop_last = drop,
                                                              .norm = VKT_NORM_NONE},
                                           &l),
                         VKT_OK);
        assert_true(vkt_loader_on_device(l));
        assert_int_equal(vkt_loader_num_batches(l), drop ? 10 : 11);
        assert_int_equal(vkt_loader_num_samples(l), drop ? 100 : 103);
        int first[2][10];
        for (uint32_t epoch = 0; epoch < 2; epoch++) {
            uint8_t seen[N] = {0};
            uint32_t batches = 0, rows = 0;
            assert_int_equal(vkt_loader_start_epoch(l, epoch), VKT_OK);
            vkt_batch b;
            vkt_scope_begin(test_dev);
            while (vkt_loader_next(l, &b)) {
                float x[10 * F];
                assert_int_equal(vkt_tensor_download(b.x, x, (size_t)b.rows * F * 4), VKT_OK);
                for (uint32_t r = 0; r < b.rows; r++) {
                    seen[(int)x[r * F]]++;
                    if (batches == 0) {
                        first[epoch][r] = (int)x[r * F];
                    }
                }
                assert_int_equal(b.index, batches);
                batches++;
                rows += b.rows;
            }
            vkt_scope_end(test_dev);
            assert_int_equal(vkt_last_status(), VKT_OK);
            assert_int_equal(batches, vkt_loader_num_batches(l));
            assert_int_equal(rows, vkt_loader_num_samples(l));
            int once = 0;
            for (int i = 0; i < N; i++) {
                assert_true(seen[i] <= 1);
                once += seen[i];
            }
            assert_int_equal(once, (int)rows);
        }
        /* a new order each epoch */
        assert_memory_not_equal(first[0], first[1], sizeof first[0]);
        vkt_loader_destroy(l);
    }
    vkt_dataset_destroy(ds);
}

static void device_and_stream_paths_agree(void **state)
{
    (void)state;
    enum { N = 50, F = 9 };
    uint8_t im[N * F], lb[N];
    for (int i = 0; i < N * F; i++) {
        im[i] = (uint8_t)(i * 37);
    }
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(i % 7);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    vkt_loader *l[2];
    for (int s = 0; s < 2; s++) {
        assert_int_equal(vkt_loader_create(test_dev,
                                           &(vkt_loader_desc){.dataset = ds, .batch_size = 16,
                                                              .shuffle = true, .seed = 11,
                                                              .norm = VKT_NORM_MEAN_STD,
                                                              .mean = 0.5f, .std = 0.25f,
                                                              .stream = s},
                                           &l[s]),
                         VKT_OK);
        assert_int_equal(vkt_loader_on_device(l[s]), !s);
        assert_int_equal(vkt_loader_start_epoch(l[s], 1), VKT_OK);
    }
    vkt_batch a, b;
    vkt_scope_begin(test_dev);
    while (vkt_loader_next(l[0], &a)) {
        assert_true(vkt_loader_next(l[1], &b));
        assert_int_equal(a.rows, b.rows);
        float xa[16 * F], xb[16 * F];
        int32_t ya[16], yb[16];
        assert_int_equal(vkt_tensor_download(a.x, xa, (size_t)a.rows * F * 4), VKT_OK);
        assert_int_equal(vkt_tensor_download(b.x, xb, (size_t)b.rows * F * 4), VKT_OK);
        assert_int_equal(vkt_tensor_download(a.y, ya, (size_t)a.rows * 4), VKT_OK);
        assert_int_equal(vkt_tensor_download(b.y, yb, (size_t)b.rows * 4), VKT_OK);
        assert_memory_equal(xa, xb, (size_t)a.rows * F * 4);
        assert_memory_equal(ya, yb, (size_t)a.rows * 4);
    }
    assert_false(vkt_loader_next(l[1], &b));
    vkt_scope_end(test_dev);
    vkt_loader_destroy(l[0]);
    vkt_loader_destroy(l[1]);
    vkt_dataset_destroy(ds);
}

/* i32 features of shape `shape` (n elements per sample): odd values beyond 2^24, which f32
 * cannot hold, half of them negative; a sample's values identify it. */
static int32_t big_id(int i, int k, int n)
{
    int32_t v = (1 << 24) + 1 + 2 * (i * n + k);
    return k % 2 ? -v : v;
}

/* i32 features give i32 batches, bit for bit, on both paths: shuffled, a partial last batch. */
static void i32_features_arrive_as_i32(void **state)
{
    (void)state;
    enum { N = 23, B = 4, MAXF = 6 };
    static const struct {
        int ndim;
        int64_t shape[2];
    } shapes[] = {{1, {5}}, {2, {2, 3}}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        int ndim = shapes[sh].ndim;
        int n = (int)(shapes[sh].shape[0] * (ndim > 1 ? shapes[sh].shape[1] : 1));
        int32_t x[N * MAXF], y[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % 5;
            for (int k = 0; k < n; k++) {
                x[i * n + k] = big_id(i, k, n);
            }
        }
        vkt_dataset_desc d = {.count = N, .x = {VKT_DATA_I32, ndim, {0}}, .x_data = x,
                              .y = {VKT_DATA_I32, 0, {0}}, .y_data = y};
        memcpy(d.x.shape, shapes[sh].shape, sizeof shapes[sh].shape);
        vkt_dataset *ds;
        assert_int_equal(vkt_dataset_create(&d, &ds), VKT_OK);
        int order[2][N];
        for (int s = 0; s < 2; s++) {
            vkt_loader *l;
            assert_int_equal(vkt_loader_create(test_dev,
                                               &(vkt_loader_desc){.dataset = ds, .batch_size = B,
                                                                  .shuffle = true, .seed = 5,
                                                                  .norm = s ? VKT_NORM_NONE : 0,
                                                                  .stream = s},
                                               &l),
                             VKT_OK);
            assert_int_equal(vkt_loader_on_device(l), !s);
            assert_int_equal(vkt_loader_start_epoch(l, 2), VKT_OK);
            vkt_batch b;
            uint32_t rows = 0, batches = 0;
            vkt_scope_begin(test_dev);
            while (vkt_loader_next(l, &b)) {
                assert_int_equal(vkt_tensor_dtype(b.x), VKT_I32);
                assert_int_equal(vkt_tensor_ndim(b.x), 1 + ndim);
                assert_int_equal(vkt_tensor_dim(b.x, 0), b.rows);
                for (int j = 0; j < ndim; j++) {
                    assert_int_equal(vkt_tensor_dim(b.x, 1 + j), shapes[sh].shape[j]);
                }
                assert_int_equal(b.rows, batches < N / B ? B : N % B);
                int32_t got[B * MAXF], gy[B];
                assert_int_equal(vkt_tensor_download(b.x, got, (size_t)b.rows * n * 4), VKT_OK);
                assert_int_equal(vkt_tensor_download(b.y, gy, (size_t)b.rows * 4), VKT_OK);
                for (uint32_t r = 0; r < b.rows; r++) {
                    int i = (got[r * n] - (1 << 24) - 1) / (2 * n);
                    assert_true(i >= 0 && i < N);
                    assert_int_equal(i, (int)vkt__loader_order(l)[rows + r]);
                    assert_memory_equal(got + r * n, vkt_dataset_sample(ds, (uint32_t)i),
                                        (size_t)n * 4);
                    assert_int_equal(gy[r], y[i]);
                    order[s][rows + r] = i;
                }
                batches++;
                rows += b.rows;
            }
            vkt_scope_end(test_dev);
            assert_int_equal(vkt_last_status(), VKT_OK);
            assert_int_equal(rows, N);
            assert_int_equal(batches, (N + B - 1) / B);
            vkt_loader_destroy(l);
        }
        /* the same shuffled order both ways, every sample once, not the identity */
        assert_memory_equal(order[0], order[1], sizeof order[0]);
        int seen[N] = {0}, moved = 0;
        for (int i = 0; i < N; i++) {
            seen[order[0][i]]++;
            moved += order[0][i] != i;
        }
        for (int i = 0; i < N; i++) {
            assert_int_equal(seen[i], 1);
        }
        assert_true(moved > 0);
        vkt_dataset_destroy(ds);
    }
}

/* Normalisation and augmentation would alter ids: refused for i32 features, naming the option. */
static void i32_features_refuse_normalisation_and_augmentation(void **state)
{
    (void)state;
    int32_t x[2 * 12] = {0}, y[2] = {0, 1};
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_create(&(vkt_dataset_desc){.count = 2,
                                                            .x = {VKT_DATA_I32, 3, {1, 3, 4}},
                                                            .x_data = x,
                                                            .y = {VKT_DATA_I32, 0, {0}},
                                                            .y_data = y},
                                        &ds),
                     VKT_OK);
    float mean[1] = {0.5f}, std[1] = {2.0f};
    static const struct {
        vkt_loader_desc d;
        const char *option;
    } bad[] = {
        {{.norm = VKT_NORM_MEAN_STD, .mean = 0.5f, .std = 2.0f}, "norm VKT_NORM_MEAN_STD"},
        {{.augment = {.crop_h = 2, .crop_w = 2}}, "augment.crop_h/crop_w"},
        {{.augment = {.padding = 1}}, "augment.padding"},
        {{.augment = {.hflip = true}}, "augment.hflip"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0] + 2; k++) {
        vkt_loader_desc d = {0};
        const char *option;
        if (k < sizeof bad / sizeof bad[0]) {
            d = bad[k].d;
            option = bad[k].option;
        } else {
            /* per-channel arrays, each on its own */
            bool m = k == sizeof bad / sizeof bad[0];
            d.channel_mean = m ? mean : NULL;
            d.channel_std = m ? NULL : std;
            d.channels = 1;
            option = m ? "channel_mean" : "channel_std";
        }
        d.dataset = ds;
        vkt_loader *l;
        assert_int_equal(vkt_loader_create(test_dev, &d, &l), VKT_INVALID_ARGUMENT);
        assert_null(l);
        assert_non_null(strstr(vkt_last_error(), option));
        assert_non_null(strstr(vkt_last_error(), "applies to u8 or f32 features only; these are "
                                                 "i32"));
    }
    vkt_dataset_destroy(ds);
}

static void split_is_a_disjoint_seeded_partition(void **state)
{
    (void)state;
    uint32_t *tr, *ho, ntr, nho;
    assert_int_equal(vkt_split_indices(1000, 0.1f, 5, &tr, &ntr, &ho, &nho), VKT_OK);
    assert_int_equal(ntr, 900);
    assert_int_equal(nho, 100);
    uint8_t seen[1000] = {0};
    for (uint32_t i = 0; i < ntr; i++) {
        seen[tr[i]]++;
    }
    for (uint32_t i = 0; i < nho; i++) {
        seen[ho[i]]++;
    }
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(seen[i], 1);
    }
    uint32_t *tr2, *ho2, n2, m2;
    assert_int_equal(vkt_split_indices(1000, 0.1f, 5, &tr2, &n2, &ho2, &m2), VKT_OK);
    assert_memory_equal(ho, ho2, nho * 4);
    free(tr);
    free(ho);
    free(tr2);
    free(ho2);
    assert_int_equal(vkt_split_indices(10, 1.5f, 0, &tr, &ntr, &ho, &nho), VKT_INVALID_ARGUMENT);
}

/* ---- IDX i32 / f32 ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX of 4-byte big-endian words of `type` (0x0C, 0x0D). */
static size_t make_idx32(uint8_t *buf, uint8_t type, int ndim, const uint32_t *dims,
                         const void *words)
{
    size_t at = 0, total = 1;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = type;
    buf[at++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        put_be32(buf + at, dims[i]);
        at += 4;
        total *= dims[i];
    }
    for (size_t i = 0; i < total; i++) {
        uint32_t w;
        memcpy(&w, (const uint8_t *)words + 4 * i, 4);
        put_be32(buf + at, w);
        at += 4;
    }
    return at;
}

static void idx_reads_i32_and_f32(void **state)
{
    (void)state;
    static uint8_t buf[4096];
    float f[12];
    int32_t i[4] = {-7, 0, 3, 2147483647};
    for (int k = 0; k < 12; k++) {
        f[k] = (float)k * -0.75f + 0.125f;
    }
    write_file("f32.idx.gz", buf, make_idx32(buf, 0x0D, 2, (uint32_t[2]){4, 3}, f),
               true);
    write_file("i32.idx", buf, make_idx32(buf, 0x0C, 1, (uint32_t[1]){4}, i), false);
    vkt_idx a;
    assert_int_equal(vkt_idx_read(path("f32.idx.gz"), &a), VKT_OK);
    assert_int_equal(a.type, VKT_DATA_F32);
    assert_int_equal(a.size, 48);
    assert_memory_equal(a.data, f, sizeof f);
    vkt_idx_free(&a);
    assert_int_equal(vkt_idx_read(path("i32.idx"), &a), VKT_OK);
    assert_int_equal(a.type, VKT_DATA_I32);
    assert_memory_equal(a.data, i, sizeof i);
    vkt_idx_free(&a);
    /* truncated inside a word */
    size_t n = make_idx32(buf, 0x0D, 2, (uint32_t[2]){4, 3}, f);
    write_file("f32_cut.idx", buf, n - 2, false);
    expect_idx_error("f32_cut.idx", VKT_CORRUPT_FILE, "truncated");

    /* f32 features with f32 regression targets of shape (N, 2); then i32 class labels */
    float t[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    write_file("t.idx", buf, make_idx32(buf, 0x0D, 2, (uint32_t[2]){4, 2}, t), false);
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_load_idx(&(vkt_idx_dataset_desc){.images = path("f32.idx.gz"),
                                                                  .labels = path("t.idx")},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_features(ds), 3);
    assert_int_equal(vkt_dataset_classes(ds), 0);
    vkt_sample_layout yl = vkt_dataset_y_layout(ds);
    assert_int_equal(yl.type, VKT_DATA_F32);
    assert_int_equal(yl.ndim, 1);
    assert_int_equal(yl.shape[0], 2);
    assert_memory_equal(vkt_dataset_target(ds, 3), t + 6, 8);
    assert_null(vkt_dataset_image(ds, 0));
    vkt_dataset_destroy(ds);
    int32_t neg[4] = {0, 1, -2, 3};
    write_file("neg.idx", buf, make_idx32(buf, 0x0C, 1, (uint32_t[1]){4}, neg), false);
    assert_int_equal(vkt_dataset_load_idx(&(vkt_idx_dataset_desc){.images = path("f32.idx.gz"),
                                                                  .labels = path("neg.idx")},
                                          &ds),
                     VKT_CORRUPT_FILE);
    assert_non_null(strstr(vkt_last_error(), "neg.idx"));
    assert_non_null(strstr(vkt_last_error(), "sample 2"));
}

/* ---- .npy ---- */

/* A .npy file: version major (1, 2, 3), the dict text, then `data`. */
static void write_npy(const char *name, int major, const char *dict, const void *data, size_t n,
                      bool gz)
{
    static uint8_t buf[1 << 16];
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict) + 1;
    hl += (64 - (pre + hl) % 64) % 64; /* pad to 64 as NumPy does */
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) {
        buf[8 + i] = (uint8_t)(hl >> (8 * i));
    }
    memset(buf + pre, ' ', hl);
    memcpy(buf + pre, dict, strlen(dict));
    buf[pre + hl - 1] = '\n';
    memcpy(buf + pre + hl, data, n);
    write_file(name, buf, pre + hl + n, gz);
}

static void expect_npy_error(const char *name, vkt_status want, const char *phrase)
{
    vkt_array a;
    assert_int_equal(vkt_npy_read(path(name), &a), want);
    assert_null(a.data);
    const char *msg = vkt_last_error();
    if (!strstr(msg, name) || !strstr(msg, phrase)) {
        fprintf(stderr, "message for %s: %s\n", name, msg);
        fail();
    }
}

static void npy_reads_every_version_and_dtype(void **state)
{
    (void)state;
    float f[6] = {0.5f, -1, 2, 3e30f, -4, 5};
    double d[6] = {0.5, -1, 2, 3e30, -4, 5};
    int32_t i4[6] = {0, -1, 7, 2147483647, -2147483647 - 1, 9};
    int64_t i8[6] = {0, -1, 7, 2147483647, -2147483647 - 1, 9};
    uint8_t u1[6] = {0, 1, 2, 253, 254, 255};
    struct {
        const char *descr;
        const void *data;
        size_t esize;
        vkt_data_type type;
        const void *want;
    } cases[] = {
        {"<f4", f, 4, VKT_DATA_F32, f},  {"<f8", d, 8, VKT_DATA_F32, f},
        {"<i4", i4, 4, VKT_DATA_I32, i4}, {"<i8", i8, 8, VKT_DATA_I32, i4},
        {"|u1", u1, 1, VKT_DATA_U8, u1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (int major = 1; major <= 3; major++) {
            char dict[128];
            snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                     cases[k].descr);
            write_npy("v.npy", major, dict, cases[k].data, 6 * cases[k].esize, major == 2);
            vkt_array a;
            assert_int_equal(vkt_npy_read(path("v.npy"), &a), VKT_OK);
            assert_int_equal(a.type, cases[k].type);
            assert_int_equal(a.ndim, 2);
            assert_int_equal(a.dims[0], 2);
            assert_int_equal(a.dims[1], 3);
            assert_int_equal(a.size, 6 * vkt_data_type_size(cases[k].type));
            assert_memory_equal(a.data, cases[k].want, a.size);
            vkt_array_free(&a);
        }
    }
    /* a scalar, a 1-D shape without spaces, double quotes */
    write_npy("s.npy", 1, "{\"shape\":(),\"descr\":\"<f4\",\"fortran_order\":False}", f, 4, false);
    vkt_array a;
    assert_int_equal(vkt_npy_read(path("s.npy"), &a), VKT_OK);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.size, 4);
    vkt_array_free(&a);
    write_npy("one.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (6,)}", i4, 24,
              false);
    assert_int_equal(vkt_npy_read(path("one.npy"), &a), VKT_OK);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.dims[0], 6);
    vkt_array_free(&a);
}

static void npy_errors_name_the_file_and_the_problem(void **state)
{
    (void)state;
    float f[8] = {0}; /* room for the trailing byte of long.npy */
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    expect_npy_error("missing.npy", VKT_IO, "cannot open");
    write_npy("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f,
              24, false);
    expect_npy_error("fortran.npy", VKT_CORRUPT_FILE, "fortran_order True");
    write_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", f, 24,
              false);
    expect_npy_error("be.npy", VKT_CORRUPT_FILE, "big-endian");
    write_npy("c8.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }", f, 24,
              false);
    expect_npy_error("c8.npy", VKT_CORRUPT_FILE, "'<c8' is not supported");
    write_npy("key.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
              f, 24, false);
    expect_npy_error("key.npy", VKT_CORRUPT_FILE, "unexpected key 'x'");
    write_npy("nokey.npy", 1, "{'descr': '<f4', 'shape': (2, 3)}", f, 24, false);
    expect_npy_error("nokey.npy", VKT_CORRUPT_FILE, "no 'fortran_order'");
    write_npy("junk.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", f, 24,
              false);
    expect_npy_error("junk.npy", VKT_CORRUPT_FILE, "shape must be a tuple");
    write_npy("dims.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1)}",
              f, 4, false);
    expect_npy_error("dims.npy", VKT_CORRUPT_FILE, "more than");
    write_npy("empty.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}", f, 0,
              false);
    expect_npy_error("empty.npy", VKT_CORRUPT_FILE, "empty array");
    write_npy("short.npy", 1, ok, f, 20, false);
    expect_npy_error("short.npy", VKT_CORRUPT_FILE, "truncated");
    write_npy("short.npy.gz", 3, ok, f, 20, true);
    expect_npy_error("short.npy.gz", VKT_CORRUPT_FILE, "truncated");
    write_npy("long.npy", 2, ok, f, 25, false);
    expect_npy_error("long.npy", VKT_CORRUPT_FILE, "trailing bytes");
    write_npy("ver.npy", 1, ok, f, 24, false);
    FILE *fp = fopen(path("ver.npy"), "r+b");
    fseek(fp, 6, SEEK_SET);
    fputc(4, fp);
    fclose(fp);
    expect_npy_error("ver.npy", VKT_CORRUPT_FILE, "version 4.0");
    write_file("magic.npy", "\x93NUMPZ\x01\x00\x00\x00", 10, false);
    expect_npy_error("magic.npy", VKT_CORRUPT_FILE, "not a .npy file");
    write_file("pre.npy", "\x93NUM", 4, false);
    expect_npy_error("pre.npy", VKT_CORRUPT_FILE, "truncated");
    /* a header claiming more than the file holds, and a claim of 2^40 elements per dimension */
    write_file("hdr.npy", "\x93NUMPY\x01\x00\xff\x00{'descr'", 17, false);
    expect_npy_error("hdr.npy", VKT_CORRUPT_FILE, "truncated");
    vkt__alloc_fail_at(-1, false);
    write_npy("huge.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (65536, 65536)}",
              f, 24, false);
    expect_npy_error("huge.npy", VKT_CORRUPT_FILE, "truncated");
    assert_true(vkt__alloc_largest() <= ((size_t)1 << 20));
    write_npy("over.npy", 1,
              "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}",
              f, 24, false);
    expect_npy_error("over.npy", VKT_CORRUPT_FILE, "not a usable size");
    /* narrowing that does not fit */
    int64_t big[2] = {1, (int64_t)1 << 31};
    write_npy("i8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}", big, 16,
              false);
    expect_npy_error("i8.npy", VKT_CORRUPT_FILE, "element 1 is 2147483648");
    double huge[2] = {1e39, 1};
    write_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", huge, 16,
              false);
    expect_npy_error("f8.npy", VKT_CORRUPT_FILE, "element 0 is 1e+39");
}

static void npy_dataset_keeps_the_sample_shape(void **state)
{
    (void)state;
    enum { N = 10, C = 3, H = 4, W = 5 };
    static float x[N * C * H * W];
    int64_t y[N];
    for (int i = 0; i < N * C * H * W; i++) {
        x[i] = (float)i * 0.5f;
    }
    for (int i = 0; i < N; i++) {
        y[i] = (i * 3) % 7;
    }
    write_npy("x.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 3, 4, 5), }", x,
              sizeof x, false);
    write_npy("y.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (10,), }", y,
              sizeof y, false);
    write_npy("y9.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (9,), }", y, 72,
              false);
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_load_npy(&(vkt_npy_dataset_desc){path("x.npy"), path("y9.npy")},
                                          &ds),
                     VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "9 targets"));
    assert_int_equal(vkt_dataset_load_npy(&(vkt_npy_dataset_desc){path("x.npy"), path("y.npy")},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_classes(ds), 7);
    vkt_sample_layout xl = vkt_dataset_x_layout(ds);
    assert_int_equal(xl.type, VKT_DATA_F32);
    assert_int_equal(xl.ndim, 3);
    assert_int_equal(xl.shape[0], C);
    assert_int_equal(xl.shape[2], W);
    for (int s = 0; s < 2; s++) {
        vkt_loader *l;
        assert_int_equal(vkt_loader_create(test_dev,
                                           &(vkt_loader_desc){.dataset = ds, .batch_size = 4,
                                                              .stream = s},
                                           &l),
                         VKT_OK);
        assert_int_equal(vkt_loader_start_epoch(l, 0), VKT_OK);
        vkt_batch b;
        vkt_scope_begin(test_dev);
        assert_true(vkt_loader_next(l, &b));
        assert_int_equal(vkt_tensor_ndim(b.x), 4);
        assert_int_equal(vkt_tensor_dim(b.x, 0), 4);
        assert_int_equal(vkt_tensor_dim(b.x, 1), C);
        assert_int_equal(vkt_tensor_dim(b.x, 3), W);
        assert_int_equal(vkt_tensor_ndim(b.y), 1);
        static float got[4 * C * H * W];
        int32_t gy[4];
        assert_int_equal(vkt_tensor_download(b.x, got, sizeof got), VKT_OK);
        assert_int_equal(vkt_tensor_download(b.y, gy, sizeof gy), VKT_OK);
        assert_memory_equal(got, x, sizeof got); /* f32 uploaded as is (UNIT divides u8 only) */
        for (int i = 0; i < 4; i++) {
            assert_int_equal(gy[i], y[i]);
        }
        vkt_scope_end(test_dev);
        vkt_loader_destroy(l);
    }
    vkt_dataset_destroy(ds);
}

/* ---- CSV ---- */

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text), false);
}

static void expect_csv_error(const vkt_csv_dataset_desc *d, vkt_status want, const char *phrase)
{
    vkt_dataset *ds = (vkt_dataset *)0x1;
    assert_int_equal(vkt_dataset_load_csv(d, &ds), want);
    assert_null(ds);
    const char *msg = vkt_last_error();
    if (!strstr(msg, d->path) || !strstr(msg, phrase)) {
        fprintf(stderr, "message for %s: %s\n", d->path, msg);
        fail();
    }
}

static void csv_reads_features_and_a_target_column(void **state)
{
    (void)state;
    write_text("iris.csv", "sepal_length,sepal_width,species,petal\n"
                           "5.1, 3.5 ,0,1.4\n"
                           "4.9,3.0,2,-1.5e-1\n"
                           "\"6.2\",2.9,1,4.3\r\n");
    write_text("plain.csv", "1,2,3\n4,5,6\n");
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){.path = path("iris.csv"),
                                                                  .target = "species"},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 3);
    assert_int_equal(vkt_dataset_features(ds), 3);
    assert_int_equal(vkt_dataset_classes(ds), 3);
    const float *x = vkt_dataset_sample(ds, 1);
    assert_true(x[0] == 4.9f && x[1] == 3.0f && x[2] == -0.15f);
    assert_int_equal(*(const int32_t *)vkt_dataset_target(ds, 1), 2);
    assert_int_equal(vkt_dataset_label(ds, 2), 1);
    assert_true(((const float *)vkt_dataset_sample(ds, 2))[0] == 6.2f);
    vkt_dataset_destroy(ds);
    /* by index from the end, as f32 values */
    assert_int_equal(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){.path = path("iris.csv"),
                                                                  .target_index = -1,
                                                                  .target_type = VKT_DATA_F32},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_y_layout(ds).type, VKT_DATA_F32);
    assert_true(*(const float *)vkt_dataset_target(ds, 1) == -0.15f);
    assert_true(((const float *)vkt_dataset_sample(ds, 1))[2] == 2.0f);
    vkt_dataset_destroy(ds);
    /* no header (detected, and declared) */
    for (int h = 0; h < 2; h++) {
        assert_int_equal(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){
                                                  .path = path("plain.csv"),
                                                  .header = h ? VKT_CSV_HEADER_ABSENT
                                                              : VKT_CSV_HEADER_AUTO},
                                              &ds),
                         VKT_OK);
        assert_int_equal(vkt_dataset_count(ds), 2);
        assert_int_equal(vkt_dataset_label(ds, 1), 4);
        assert_true(((const float *)vkt_dataset_sample(ds, 1))[1] == 6.0f);
        vkt_dataset_destroy(ds);
    }
    /* a declared header of numbers is still a header */
    assert_int_equal(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){
                                              .path = path("plain.csv"),
                                              .header = VKT_CSV_HEADER_PRESENT, .target = "2"},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 1);
    assert_int_equal(vkt_dataset_label(ds, 0), 5);
    vkt_dataset_destroy(ds);
    /* a UTF-8 byte-order mark (Excel's "CSV UTF-8") before a header and before a row of numbers */
    write_text("bom_head.csv", "\xEF\xBB\xBF" "y,a\n1.5,2\n");
    assert_int_equal(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){.path = path("bom_head.csv"),
                                                                  .target = "y",
                                                                  .target_type = VKT_DATA_F32},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 1);
    assert_true(*(const float *)vkt_dataset_target(ds, 0) == 1.5f);
    vkt_dataset_destroy(ds);
    write_text("bom_plain.csv", "\xEF\xBB\xBF" "1,2,3\n4,5,6\n");
    assert_int_equal(vkt_dataset_load_csv(&(vkt_csv_dataset_desc){.path = path("bom_plain.csv")},
                                          &ds),
                     VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 2);
    assert_int_equal(vkt_dataset_label(ds, 0), 1);
    assert_true(((const float *)vkt_dataset_sample(ds, 0))[0] == 2.0f);
    vkt_dataset_destroy(ds);
}

static void csv_errors_name_the_row_and_column(void **state)
{
    (void)state;
    write_text("cell.csv", "a,b,label\n1,2,0\n3,x7,1\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("cell.csv"), .target = "label"},
                     VKT_CORRUPT_FILE, "row 3, column 2 ('b'): 'x7' is not a number");
    write_text("empty_cell.csv", "1,2,0\n3,,1\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("empty_cell.csv"), .target_index = 2},
                     VKT_CORRUPT_FILE, "row 2, column 2: '(empty)'");
    write_text("label.csv", "a,label\n1,0\n2,1.5\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("label.csv"), .target = "label"},
                     VKT_CORRUPT_FILE, "row 3, column 2 ('label'): 1.5 is not a class label");
    write_text("neg.csv", "1,-1\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("neg.csv"), .target_index = 1},
                     VKT_CORRUPT_FILE, "not a class label");
    write_text("ragged.csv", "a,b,c\n1,2,3\n4,5\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("ragged.csv")}, VKT_CORRUPT_FILE,
                     "row 3 has 2 cells but the first row has 3");
    write_text("quote.csv", "a,b\n1,\"2\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("quote.csv")}, VKT_CORRUPT_FILE,
                     "row 2");
    write_text("big.csv", "1,1e39\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("big.csv")}, VKT_CORRUPT_FILE,
                     "beyond float32");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("cell.csv"), .target = "species"},
                     VKT_INVALID_ARGUMENT, "no column named 'species' (the header has a, b, label)");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("cell.csv"), .target_index = 3},
                     VKT_INVALID_ARGUMENT, "target_index 3 is outside the 3 columns");
    write_text("nohead.csv", "1,2\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("nohead.csv"), .target = "y"},
                     VKT_INVALID_ARGUMENT, "no header row");
    write_text("onecol.csv", "y\n1\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("onecol.csv")}, VKT_CORRUPT_FILE,
                     "at least one feature");
    write_text("headonly.csv", "a,b\n");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("headonly.csv")}, VKT_CORRUPT_FILE,
                     "no data rows");
    write_text("void.csv", "");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("void.csv")}, VKT_CORRUPT_FILE,
                     "no data rows");
    expect_csv_error(&(vkt_csv_dataset_desc){.path = path("missing.csv")}, VKT_IO, "cannot open");
}

/* ---- shapes, normalisation, augmentation ---- */

/* One batch of `l` (epoch `epoch`, first batch) downloaded into x; returns its rows. */
static uint32_t first_batch(vkt_loader *l, uint32_t epoch, float *x, size_t bytes, int ndim)
{
    assert_int_equal(vkt_loader_start_epoch(l, epoch), VKT_OK);
    vkt_batch b;
    vkt_scope_begin(test_dev);
    assert_true(vkt_loader_next(l, &b));
    assert_int_equal(vkt_tensor_ndim(b.x), ndim);
    assert_int_equal(vkt_tensor_download(b.x, x, bytes), VKT_OK);
    uint32_t rows = b.rows;
    vkt_scope_end(test_dev);
    return rows;
}

/* gather_batch16.comp (16 u8 features per invocation) gathers where the groups of 16 lie in one
 * channel, or the normalisation is the same for every channel, on CPU drivers with texel views;
 * gather_batch.comp otherwise (both checked against the reference by gather_matches_reference):
 * the profile names the kernel of one batch. */
static void gather16_runs_where_it_fits(void **state)
{
    (void)state;
    enum { N = 8 };
    static const struct {
        int ndim;
        int64_t shape[3];
        bool per_channel; /* different mean / std per channel */
        bool by16;
    } cases[] = {
        {1, {32}, false, true},      /* one scale for all 32 "channels" */
        {1, {20}, false, false},     /* not whole groups of 16 */
        {3, {2, 4, 4}, true, true},  /* 16 per channel */
        {3, {4, 2, 4}, true, false}, /* 8 per channel: a group spans two */
        {3, {4, 2, 4}, false, true}, /* ... but one normalisation */
    };
    bool texel = vkt__device_caps(test_dev)->texel4 && vkt__device_caps(test_dev)->cpu_like;
    uint8_t im[N * 32], lb[N] = {0};
    for (int i = 0; i < N * 32; i++) {
        im[i] = (uint8_t)(i * 5);
    }
    float mean[4] = {0.1f, 0.2f, 0.3f, 0.4f}, std[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    float same_mean[4] = {0.5f, 0.5f, 0.5f, 0.5f}, same_std[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        int64_t f = 1;
        for (int d = 0; d < cases[i].ndim; d++) {
            f *= cases[i].shape[d];
        }
        vkt_dataset *ds;
        assert_int_equal(vkt_dataset_from_memory(im, lb, N, (uint32_t)f, &ds), VKT_OK);
        assert_int_equal(vkt_dataset_reshape(ds, cases[i].ndim, cases[i].shape), VKT_OK);
        bool nc = cases[i].ndim == 3;
        vkt_loader_desc d = {.dataset = ds, .batch_size = N, .norm = VKT_NORM_UNIT};
        if (nc) {
            d.norm = VKT_NORM_MEAN_STD;
            d.channel_mean = cases[i].per_channel ? mean : same_mean;
            d.channel_std = cases[i].per_channel ? std : same_std;
            d.channels = (uint32_t)cases[i].shape[0];
        }
        vkt_loader *l;
        assert_int_equal(vkt_loader_create(test_dev, &d, &l), VKT_OK);
        assert_int_equal(vkt_loader_start_epoch(l, 0), VKT_OK);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
        vkt_scope_begin(test_dev);
        vkt_batch b;
        assert_true(vkt_loader_next(l, &b));
        assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
        const char *want = texel && cases[i].by16 ? "gather_batch16" : "gather_batch";
        assert_int_equal(test_profile_calls(want, false), 1);
        assert_int_equal(test_profile_calls("gather_batch", true), 1);
        vkt_scope_end(test_dev);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        vkt_loader_destroy(l);
        vkt_dataset_destroy(ds);
    }
}

static void reshape_and_per_channel_normalisation(void **state)
{
    (void)state;
    enum { N = 6, C = 2, H = 3, W = 4, F = C * H * W };
    uint8_t im[N * F], lb[N] = {0};
    for (int i = 0; i < N * F; i++) {
        im[i] = (uint8_t)(i * 7);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    float x[N * F];
    vkt_loader *l;
    /* flat by default: (B, features), as the MLP and the trainer expect */
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = N},
                                       &l),
                     VKT_OK);
    first_batch(l, 0, x, sizeof x, 2);
    vkt_loader_destroy(l);
    assert_int_equal(vkt_dataset_reshape(ds, 3, (int64_t[]){C, H, 5}), VKT_SHAPE_MISMATCH);
    assert_int_equal(vkt_dataset_reshape(ds, 3, (int64_t[]){C, H, W}), VKT_OK);
    float mean[C] = {0.25f, 0.75f}, std[C] = {0.5f, 2.0f};
    for (int s = 0; s < 2; s++) {
        assert_int_equal(vkt_loader_create(test_dev,
                                           &(vkt_loader_desc){.dataset = ds, .batch_size = N,
                                                              .norm = VKT_NORM_MEAN_STD,
                                                              .channel_mean = mean,
                                                              .channel_std = std, .channels = C,
                                                              .stream = s},
                                           &l),
                         VKT_OK);
        first_batch(l, 0, x, sizeof x, 4);
        for (int i = 0; i < N * F; i++) {
            int c = (i % F) / (H * W);
            double want = ((double)im[i] / 255.0 - mean[c]) / std[c];
            assert_true(fabs(x[i] - want) < 1e-5);
        }
        vkt_loader_destroy(l);
    }
    /* channel arrays must match C; augmentation needs (C, H, W) */
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .norm = VKT_NORM_MEAN_STD,
                                                          .channel_mean = mean,
                                                          .channel_std = std, .channels = 3},
                                       &l),
                     VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "need 2 entries"));
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds,
                                                          .augment = {.crop_h = 8, .crop_w = 4}},
                                       &l),
                     VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "does not fit 3 x 4"));
    assert_int_equal(vkt_dataset_reshape(ds, 1, (int64_t[]){F}), VKT_OK);
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .augment = {.hflip = true}},
                                       &l),
                     VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "(C, H, W)"));
    vkt_dataset_destroy(ds);
}

/* Crops and flips depend on (seed, epoch, sample) only: the same for any batch size, order and
 * path; they change with the epoch and the seed; about half the samples flip; padding shows. */
static void augmentation_is_reproducible(void **state)
{
    (void)state;
    enum { N = 64, C = 1, H = 6, W = 6, F = C * H * W };
    uint8_t im[N * F], lb[N];
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(i % 10);
        for (int j = 0; j < F; j++) {
            im[i * F + j] = (uint8_t)(1 + j); /* nonzero: padding is the only 0 */
        }
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    assert_int_equal(vkt_dataset_reshape(ds, 3, (int64_t[]){C, H, W}), VKT_OK);
    static float a[N * F], b[N * F], e1[N * F], s2[N * F];
    vkt_augment_desc aug = {.crop_h = H, .crop_w = W, .padding = 2, .hflip = true};
    vkt_loader *l;
    struct {
        uint32_t batch;
        bool stream;
        uint64_t seed;
        uint32_t epoch;
        float *out;
    } runs[] = {{N, false, 5, 0, a}, {N, true, 5, 0, b}, {N, false, 5, 1, e1}, {N, false, 6, 0, s2}};
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        assert_int_equal(vkt_loader_create(test_dev,
                                           &(vkt_loader_desc){.dataset = ds,
                                                              .batch_size = runs[r].batch,
                                                              .seed = runs[r].seed,
                                                              .norm = VKT_NORM_NONE,
                                                              .augment = aug,
                                                              .stream = runs[r].stream},
                                           &l),
                         VKT_OK);
        assert_int_equal(first_batch(l, runs[r].epoch, runs[r].out, sizeof a, 4), N);
        vkt_loader_destroy(l);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, e1, sizeof a);
    assert_memory_not_equal(a, s2, sizeof a);
    /* a shuffled subset in batches of 5 gives each sample the same crop as above */
    uint32_t idx[10] = {63, 1, 7, 20, 21, 22, 40, 0, 5, 9};
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .batch_size = 5,
                                                          .seed = 5, .shuffle = true,
                                                          .norm = VKT_NORM_NONE, .augment = aug,
                                                          .indices = idx, .count = 10},
                                       &l),
                     VKT_OK);
    assert_int_equal(vkt_loader_start_epoch(l, 0), VKT_OK);
    vkt_batch bt;
    uint32_t at = 0;
    vkt_scope_begin(test_dev);
    while (vkt_loader_next(l, &bt)) {
        float x[5 * F];
        assert_int_equal(vkt_tensor_download(bt.x, x, (size_t)bt.rows * F * 4), VKT_OK);
        for (uint32_t r = 0; r < bt.rows; r++) {
            uint32_t sample = idx[vkt__loader_order(l)[at + r]];
            assert_memory_equal(x + r * F, a + sample * F, F * 4);
        }
        at += bt.rows;
    }
    vkt_scope_end(test_dev);
    vkt_loader_destroy(l);
    /* flips: a row of an unpadded sample reads right to left; padding: zeros appear */
    int flipped = 0, padded = 0;
    for (int i = 0; i < N; i++) {
        const float *s = a + i * F;
        for (int j = 0; j < F; j++) {
            padded += s[j] == 0.0f;
        }
        for (int y = 0; y < H; y++) {
            for (int x = 0; x + 1 < W; x++) {
                if (s[y * W + x] != 0.0f && s[y * W + x + 1] != 0.0f) {
                    flipped += s[y * W + x + 1] < s[y * W + x];
                    y = H;
                    break;
                }
            }
        }
    }
    assert_true(flipped > N / 4 && flipped < 3 * N / 4);
    assert_true(padded > 0);
    vkt_dataset_destroy(ds);
}

/* Dataset loading under allocation failure: every host allocation point of loading an IDX pair
 * (raw and gzip), a .npy pair and a CSV file, splitting it and creating a loader (with
 * per-channel normalisation and augmentation for the .npy images) fails in turn with an error and
 * a message. */
typedef enum load_kind { LOAD_IDX, LOAD_IDX_GZ, LOAD_NPY, LOAD_CSV, LOAD_KINDS } load_kind;
static const char *const load_names[LOAD_KINDS] = {"dataset load", "dataset load (gzip)",
                                                   "dataset load (.npy)", "dataset load (CSV)"};

typedef struct load_ctx {
    load_kind kind;
    vkt_dataset *ds;
    vkt_loader *loader;
} load_ctx;

static vkt_status load_op(void *p)
{
    load_ctx *c = p;
    c->ds = NULL;
    c->loader = NULL;
    bool gz = c->kind == LOAD_IDX_GZ;
    vkt_status s;
    if (c->kind == LOAD_NPY) {
        s = vkt_dataset_load_npy(&(vkt_npy_dataset_desc){path("af_x.npy"), path("af_y.npy")},
                                 &c->ds);
    } else if (c->kind == LOAD_CSV) {
        s = vkt_dataset_load_csv(&(vkt_csv_dataset_desc){.path = path("af.csv"), .target = "y"},
                                 &c->ds);
    } else {
        s = vkt_dataset_load_idx(
            &(vkt_idx_dataset_desc){.images = path(gz ? "af_images.idx.gz" : "af_images.idx"),
                                    .labels = path(gz ? "af_labels.idx.gz" : "af_labels.idx")},
            &c->ds);
    }
    if (s != VKT_OK) {
        return s;
    }
    uint32_t *tr = NULL, *ho = NULL, ntr, nho;
    s = vkt_split_indices(vkt_dataset_count(c->ds), 0.25f, 7, &tr, &ntr, &ho, &nho);
    free(tr);
    free(ho);
    if (s != VKT_OK) {
        return s;
    }
    float mean[2] = {0.5f, 0.25f}, std[2] = {1.0f, 2.0f};
    bool img = c->kind == LOAD_NPY;
    return vkt_loader_create(test_dev,
                             &(vkt_loader_desc){.dataset = c->ds, .batch_size = 4, .shuffle = true,
                                                .norm = img ? VKT_NORM_MEAN_STD : VKT_NORM_UNIT,
                                                .channel_mean = img ? mean : NULL,
                                                .channel_std = img ? std : NULL,
                                                .channels = img ? 2 : 0,
                                                .augment = {img ? 2 : 0, img ? 2 : 0, img,
                                                            img}},
                             &c->loader);
}

static void load_check(void *p, vkt_status s, long point)
{
    load_ctx *c = p;
    (void)point;
    if (s == VKT_OK) {
        assert_int_equal(vkt_dataset_count(c->ds), 6);
        assert_int_equal(vkt_loader_num_batches(c->loader), 2);
    } else {
        assert_null(c->loader);
    }
    vkt_loader_destroy(c->loader);
    vkt_dataset_destroy(c->ds);
}

static void dataset_loading_survives_every_allocation_failure(void **state)
{
    (void)state;
    static uint8_t im[256], lb[64];
    size_t ni = make_idx(im, 3, (uint32_t[3]){6, 2, 3});
    size_t nl = make_idx(lb, 1, (uint32_t[1]){6});
    for (int i = 0; i < 6; i++) {
        lb[8 + i] = (uint8_t)(i % 3);
    }
    write_file("af_images.idx", im, ni, false);
    write_file("af_labels.idx", lb, nl, false);
    write_file("af_images.idx.gz", im, ni, true);
    write_file("af_labels.idx.gz", lb, nl, true);
    float x[6 * 2 * 3 * 3] = {0};
    double y[6] = {1, 2, 3, 4, 5, 6};
    write_npy("af_x.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 2, 3, 3), }",
              x, sizeof x, false);
    write_npy("af_y.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", y,
              sizeof y, false);
    write_text("af.csv", "a,y,b\n1,0,2\n3,1,4\n5,2,6\n7,0,8\n9,1,10\n11,2,12\n");
    for (int k = 0; k < LOAD_KINDS; k++) {
        load_ctx c = {.kind = (load_kind)k};
        long points = vkt_test_each_alloc_failure(load_names[k], NULL, load_op, load_check, &c);
        printf("%s: %ld allocation points injected\n", load_names[k], points);
    }
}

int main(void)
{
    if (setup_tmp(NULL) != 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(idx_reads_raw_and_gzip),
        VKT_TEST(idx_errors_name_the_file_and_the_problem),
        VKT_TEST(idx_header_claims_are_not_allocated),
        VKT_TEST(count_mismatch_names_both_files),
        VKT_TEST(fashion_mnist_from_the_debian_package),
        VKT_TEST(gather_matches_reference),
        VKT_TEST(gather16_runs_where_it_fits),
        VKT_TEST(loader_epochs_shuffle_and_drop_last),
        VKT_TEST(device_and_stream_paths_agree),
        VKT_TEST(i32_features_arrive_as_i32),
        VKT_TEST(i32_features_refuse_normalisation_and_augmentation),
        VKT_TEST(split_is_a_disjoint_seeded_partition),
        VKT_TEST(idx_reads_i32_and_f32),
        VKT_TEST(npy_reads_every_version_and_dtype),
        VKT_TEST(npy_errors_name_the_file_and_the_problem),
        VKT_TEST(npy_dataset_keeps_the_sample_shape),
        VKT_TEST(csv_reads_features_and_a_target_column),
        VKT_TEST(csv_errors_name_the_row_and_column),
        VKT_TEST(reshape_and_per_channel_normalisation),
        VKT_TEST(augmentation_is_reproducible),
        VKT_TEST(dataset_loading_survives_every_allocation_failure),
    };
    int rc = VKT_RUN_GROUP(tests);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return rc;
}
