/*
 * test_data.c — IDX reading with every kind of bad file, Fashion-MNIST from the Debian package,
 * loaders (device gather and host streaming), shuffling, drop_last, validation split.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

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
    bad[2] = 0x0D; /* float data */
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

/* Dataset loading under allocation failure: every host allocation point of loading an IDX pair
 * (raw and gzip), splitting it and creating a loader fails in turn with an error and a message. */
typedef struct load_ctx {
    bool gz;
    vkt_dataset *ds;
    vkt_loader *loader;
} load_ctx;

static vkt_status load_op(void *p)
{
    load_ctx *c = p;
    c->ds = NULL;
    c->loader = NULL;
    vkt_status s = vkt_dataset_load_idx(
        &(vkt_idx_dataset_desc){.images = path(c->gz ? "af_images.idx.gz" : "af_images.idx"),
                                .labels = path(c->gz ? "af_labels.idx.gz" : "af_labels.idx")},
        &c->ds);
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
    return vkt_loader_create(test_dev,
                             &(vkt_loader_desc){.dataset = c->ds, .batch_size = 4, .shuffle = true},
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
    for (int gz = 0; gz < 2; gz++) {
        load_ctx c = {.gz = gz};
        long points = vkt_test_each_alloc_failure(gz ? "dataset load (gzip)" : "dataset load",
                                                  NULL, load_op, load_check, &c);
        printf("dataset loading%s: %ld allocation points injected\n", gz ? " (gzip)" : "",
               points);
    }
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
        VKT_TEST(loader_epochs_shuffle_and_drop_last),
        VKT_TEST(device_and_stream_paths_agree),
        VKT_TEST(split_is_a_disjoint_seeded_partition),
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
