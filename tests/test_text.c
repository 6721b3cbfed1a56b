/*
 * test_text.c — text corpora (src/data/text.c): reading a file and a directory (order, skipped
 * names), the byte vocabulary and its hex form, encoding, unigram entropy, the split by position,
 * next-token windows through a loader (device gather and host streaming: i32 features and (T)
 * i32 targets), bad input and allocation failures; and host-side sampling (src/nn/sample.c):
 * greedy, temperature and top-k frequencies, determinism, bad arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "wb");
    assert_non_null(f);
    size_t n = strlen(text);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void assert_error_has(const char *what)
{
    if (!strstr(vkt_last_error(), what)) {
        fail_msg("error '%s' does not mention '%s'", vkt_last_error(), what);
    }
}

static void test_vocab(void **state)
{
    (void)state;
    const char *s = "hello, world";
    vkt_vocab v;
    assert_int_equal(vkt_vocab_build((const uint8_t *)s, strlen(s), &v), VKT_OK);
    assert_int_equal(v.size, 9); /* " ,dehlorw" */
    assert_memory_equal(v.bytes, " ,dehlorw", 9);
    assert_int_equal(v.index['h'], 4);
    assert_int_equal(v.index['z'], -1);
    int32_t tok[12];
    uint8_t back[12];
    assert_int_equal(vkt_vocab_encode(&v, (const uint8_t *)s, 12, tok), VKT_OK);
    assert_int_equal(tok[0], 4);
    assert_int_equal(tok[5], 1);
    assert_int_equal(vkt_vocab_decode(&v, tok, 12, back), VKT_OK);
    assert_memory_equal(back, s, 12);
    assert_int_equal(vkt_vocab_encode(&v, (const uint8_t *)"hez", 3, tok), VKT_INVALID_ARGUMENT);
    assert_error_has("byte 0x7a ('z') at position 2 is not in the vocabulary of 9");
    tok[1] = 9;
    assert_int_equal(vkt_vocab_decode(&v, tok, 2, back), VKT_INVALID_ARGUMENT);
    assert_error_has("token 9 at position 1");

    /* hex round trip, every byte value included */
    uint8_t all[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (uint8_t)(255 - i);
    }
    vkt_vocab full, parsed;
    char hex[513];
    assert_int_equal(vkt_vocab_build(all, 256, &full), VKT_OK);
    assert_int_equal(vkt_vocab_format(&full, hex, sizeof hex), VKT_OK);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_int_equal(vkt_vocab_parse(hex, &parsed), VKT_OK);
    assert_memory_equal(&parsed, &full, sizeof full);
    assert_int_equal(vkt_vocab_format(&full, hex, 512), VKT_INVALID_ARGUMENT);
    assert_error_has("need a buffer of 513");
    assert_int_equal(vkt_vocab_format(&v, hex, sizeof hex), VKT_OK);
    assert_string_equal(hex, "202c6465686c6f7277");
    assert_int_equal(vkt_vocab_parse("0a2", &parsed), VKT_INVALID_ARGUMENT);
    assert_error_has("this one has 3");
    assert_int_equal(vkt_vocab_parse("0a2g", &parsed), VKT_INVALID_ARGUMENT);
    assert_error_has("character 3 (0x67) is not a hex digit");
    assert_int_equal(vkt_vocab_parse("0a0a", &parsed), VKT_INVALID_ARGUMENT);
    assert_error_has("byte 1 (0x0a) does not follow 0x0a");
    assert_int_equal(vkt_vocab_parse("", &parsed), VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_vocab_build(NULL, 0, &parsed), VKT_INVALID_ARGUMENT);
}

static void test_load(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/corpus", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file("corpus/b", "bbb\n");
    write_file("corpus/a", "aa\n");
    write_file("corpus/a.dat", "INDEX");
    write_file("corpus/.hidden", "HIDDEN");
    assert_int_equal(symlink("a", path("corpus/a.u8")), 0);
    assert_int_equal(mkdir(path("corpus/sub"), 0700), 0);
    write_file("corpus/sub/c", "SUB");

    vkt_text t;
    assert_int_equal(vkt_text_load(dir, &t), VKT_OK);
    assert_int_equal(t.files, 2);
    assert_int_equal(t.size, 7);
    assert_memory_equal(t.data, "aa\nbbb\n", 7);
    assert_int_equal(t.vocab.size, 3);
    assert_int_equal(t.tokens[0], 1);
    assert_int_equal(t.tokens[2], 0);
    assert_int_equal(t.tokens[3], 2);
    vkt_text_free(&t);

    assert_int_equal(vkt_text_load(path("corpus/b"), &t), VKT_OK);
    assert_int_equal(t.files, 1);
    assert_int_equal(t.size, 4);
    vkt_text_free(&t);

    assert_int_equal(vkt_text_load(path("missing"), &t), VKT_IO);
    assert_error_has("missing: No such file or directory");
    assert_null(t.data);
    assert_int_equal(mkdir(path("empty"), 0700), 0);
    write_file("empty/only.dat", "x");
    assert_int_equal(vkt_text_load(path("empty"), &t), VKT_CORRUPT_FILE);
    assert_error_has("the directory has no text (0 files read");
    write_file("empty.txt", "");
    assert_int_equal(vkt_text_load(path("empty.txt"), &t), VKT_CORRUPT_FILE);
    assert_error_has("empty.txt: the file is empty");
    assert_int_equal(vkt_text_load(NULL, &t), VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_text_from_memory("", 0, &t), VKT_INVALID_ARGUMENT);
}

typedef struct load_ctx {
    const char *dir;
    vkt_text t;
} load_ctx;

static vkt_status load_op(void *ctx)
{
    load_ctx *c = ctx;
    return vkt_text_load(c->dir, &c->t);
}

static void load_check(void *ctx, vkt_status s, long point)
{
    load_ctx *c = ctx;
    if (point < 0) {
        assert_int_equal(s, VKT_OK);
        assert_int_equal(c->t.size, 7);
    } else {
        assert_null(c->t.data);
    }
    vkt_text_free(&c->t);
}

static void test_load_alloc_failures(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/alloc", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file("alloc/x", "aa\n");
    write_file("alloc/y", "bbb\n");
    load_ctx c = {.dir = dir};
    assert_true(vkt_test_each_alloc_failure("vkt_text_load", NULL, load_op, load_check, &c) >= 5);
}

static void test_entropy_split(void **state)
{
    (void)state;
    const int32_t two[] = {0, 0, 1, 1}, one[] = {2, 2, 2}, four[] = {0, 1, 2, 3, 3, 2, 1, 0};
    assert_true(fabs(vkt_text_unigram_entropy(two, 4, 2) - log(2.0)) < 1e-12);
    assert_true(fabs(vkt_text_unigram_entropy(one, 3, 3)) < 1e-12);
    assert_true(fabs(vkt_text_unigram_entropy(four, 8, 4) - log(4.0)) < 1e-12);
    /* p = (3/4, 1/4) */
    const int32_t skew[] = {0, 0, 0, 1};
    double h = -(0.75 * log(0.75) + 0.25 * log(0.25));
    assert_true(fabs(vkt_text_unigram_entropy(skew, 4, 2) - h) < 1e-12);
    assert_true(isnan(vkt_text_unigram_entropy(two, 4, 1)));
    assert_true(isnan(vkt_text_unigram_entropy(two, 0, 2)));

    char text[101];
    for (int i = 0; i < 100; i++) {
        text[i] = (char)('a' + i % 7);
    }
    vkt_text t;
    assert_int_equal(vkt_text_from_memory(text, 100, &t), VKT_OK);
    size_t n_train = 0;
    assert_int_equal(vkt_text_split(&t, 0.1f, &n_train), VKT_OK);
    assert_int_equal(n_train, 90);
    assert_int_equal(vkt_text_split(&t, 0.0f, &n_train), VKT_OK);
    assert_int_equal(n_train, 100);
    assert_int_equal(vkt_text_split(&t, 0.125f, &n_train), VKT_OK);
    assert_int_equal(n_train, 87); /* 12.5 held out rounds to 13 */
    assert_int_equal(vkt_text_split(&t, 1.0f, &n_train), VKT_INVALID_ARGUMENT);
    assert_error_has("val_fraction 1 is not in [0, 1)");
    vkt_text_free(&t);
}

/* Windows of context 4 over tokens 0..20, through a loader both ways. */
static void check_windows_loader(vkt_dataset *ds, bool stream)
{
    vkt_loader *l;
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 3,
                                                                    .stream = stream},
                                       &l),
                     VKT_OK);
    assert_int_equal(vkt_loader_on_device(l), !stream);
    assert_int_equal(vkt_loader_start_epoch(l, 0), VKT_OK);
    vkt_batch b;
    assert_true(vkt_scope_begin(test_dev) == VKT_OK);
    assert_true(vkt_loader_next(l, &b));
    assert_int_equal(vkt_tensor_dtype(b.x), VKT_I32); /* the ids, for the embedding as they are */
    assert_int_equal(vkt_tensor_ndim(b.x), 2);
    assert_int_equal(vkt_tensor_dim(b.x, 1), 4);
    assert_int_equal(vkt_tensor_dtype(b.y), VKT_I32);
    assert_int_equal(vkt_tensor_ndim(b.y), 2);
    assert_int_equal(vkt_tensor_dim(b.y, 1), 4);
    int32_t x[12], y[12];
    assert_int_equal(vkt_tensor_download(b.x, x, sizeof x), VKT_OK);
    assert_int_equal(vkt_tensor_download(b.y, y, sizeof y), VKT_OK);
    for (int j = 0; j < 3; j++) {
        for (int k = 0; k < 4; k++) {
            assert_int_equal(x[j * 4 + k], j * 4 + k);
            assert_int_equal(y[j * 4 + k], j * 4 + k + 1);
        }
    }
    vkt_scope_end(test_dev);
    vkt_loader_destroy(l);
}

static void test_windows(void **state)
{
    (void)state;
    int32_t tok[21];
    for (int i = 0; i < 21; i++) {
        tok[i] = i;
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_text_windows(tok, 21, 4, 0, &ds), VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 5); /* starts 0, 4, 8, 12, 16; 16 + 4 < 21 */
    vkt_sample_layout xl = vkt_dataset_x_layout(ds), yl = vkt_dataset_y_layout(ds);
    assert_int_equal(xl.type, VKT_DATA_I32);
    assert_int_equal(yl.type, VKT_DATA_I32);
    assert_int_equal(yl.ndim, 1);
    assert_int_equal(yl.shape[0], 4);
    assert_int_equal(vkt_dataset_classes(ds), 0);
    const int32_t *x4 = vkt_dataset_sample(ds, 4), *y4 = vkt_dataset_target(ds, 4);
    assert_int_equal(x4[0], 16);
    assert_int_equal(y4[3], 20);
    check_windows_loader(ds, false);
    check_windows_loader(ds, true);
    vkt_dataset_destroy(ds);

    assert_int_equal(vkt_dataset_text_windows(tok, 21, 4, 1, &ds), VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 17);
    assert_int_equal(((const int32_t *)vkt_dataset_target(ds, 16))[3], 20);
    vkt_dataset_destroy(ds);
    assert_int_equal(vkt_dataset_text_windows(tok, 5, 4, 0, &ds), VKT_OK);
    assert_int_equal(vkt_dataset_count(ds), 1);
    vkt_dataset_destroy(ds);

    assert_int_equal(vkt_dataset_text_windows(tok, 4, 4, 0, &ds), VKT_INVALID_ARGUMENT);
    assert_error_has("4 tokens are fewer than context + 1 = 5");
    assert_null(ds);
    assert_int_equal(vkt_dataset_text_windows(tok, 21, 0, 0, &ds), VKT_INVALID_ARGUMENT);
    assert_error_has("context is 0");
}

/* ---- sampling ---- */

static void test_sample_greedy_and_errors(void **state)
{
    (void)state;
    const float l[] = {0.5f, 2.0f, -1.0f, 2.0f};
    uint64_t rng = 7, before = rng;
    int32_t tok = -1;
    assert_int_equal(vkt_sample_logits(l, 4, &(vkt_sample_desc){.greedy = true}, &rng, &tok),
                     VKT_OK);
    assert_int_equal(tok, 1); /* the lower index of the tie */
    assert_true(rng == before);
    assert_int_equal(vkt_sample_logits(l, 4, &(vkt_sample_desc){.top_k = 1}, &rng, &tok), VKT_OK);
    assert_int_equal(tok, 1);
    assert_true(rng == before);
    assert_int_equal(vkt_sample_logits(l, 4, NULL, &rng, &tok), VKT_OK);
    assert_true(rng != before);

    const float nan_l[] = {0.0f, NAN};
    assert_int_equal(vkt_sample_logits(nan_l, 2, NULL, &rng, &tok), VKT_INVALID_ARGUMENT);
    assert_error_has("logit 1 is NaN");
    assert_int_equal(vkt_sample_logits(l, 4, &(vkt_sample_desc){.temperature = -1.0f}, &rng,
                                       &tok),
                     VKT_INVALID_ARGUMENT);
    assert_error_has("temperature -1 must be finite and > 0");
    assert_int_equal(vkt_sample_logits(l, 0, NULL, &rng, &tok), VKT_INVALID_ARGUMENT);
    assert_error_has("n is 0");
    const float inf_l[] = {0.0f, INFINITY, 1.0f};
    assert_int_equal(vkt_sample_logits(inf_l, 3, NULL, &rng, &tok), VKT_OK);
    assert_int_equal(tok, 1);
}

/* Frequencies of `draws` samples against the expected probabilities (within 4 sigma). */
static void check_frequencies(const float *l, uint32_t n, const vkt_sample_desc *d,
                              const double *p)
{
    enum { DRAWS = 20000 };
    uint32_t count[8] = {0};
    uint64_t rng = 12345;
    for (int i = 0; i < DRAWS; i++) {
        int32_t tok;
        assert_int_equal(vkt_sample_logits(l, n, d, &rng, &tok), VKT_OK);
        assert_true(tok >= 0 && (uint32_t)tok < n);
        count[tok]++;
    }
    for (uint32_t i = 0; i < n; i++) {
        double f = count[i] / (double)DRAWS, sigma = sqrt(p[i] * (1 - p[i]) / DRAWS);
        if (fabs(f - p[i]) > 4 * sigma + 1e-12) {
            fail_msg("token %u: frequency %.4f, expected %.4f (T %g, top_k %u)", i, f, p[i],
                     (double)d->temperature, d->top_k);
        }
    }
}

static void test_sample_distribution(void **state)
{
    (void)state;
    const float l[] = {logf(1.0f), logf(2.0f), logf(3.0f), logf(4.0f)};
    check_frequencies(l, 4, &(vkt_sample_desc){0}, (const double[]){0.1, 0.2, 0.3, 0.4});
    /* T = 0.5 squares the weights: 1, 4, 9, 16 */
    check_frequencies(l, 4, &(vkt_sample_desc){.temperature = 0.5f},
                      (const double[]){1 / 30.0, 4 / 30.0, 9 / 30.0, 16 / 30.0});
    /* top 2 of weights 3 and 4 */
    check_frequencies(l, 4, &(vkt_sample_desc){.top_k = 2}, (const double[]){0, 0, 3 / 7.0, 4 / 7.0});
    check_frequencies(l, 4, &(vkt_sample_desc){.top_k = 9}, (const double[]){0.1, 0.2, 0.3, 0.4});

    /* the same seed, the same sequence; another seed, another one */
    int32_t a[64], b[64], c[64];
    uint64_t ra = 99, rb = 99, rc = 100;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(vkt_sample_logits(l, 4, NULL, &ra, &a[i]), VKT_OK);
        assert_int_equal(vkt_sample_logits(l, 4, NULL, &rb, &b[i]), VKT_OK);
        assert_int_equal(vkt_sample_logits(l, 4, NULL, &rc, &c[i]), VKT_OK);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_test_text_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(test_vocab),
        VKT_TEST(test_load),
        VKT_TEST(test_load_alloc_failures),
        VKT_TEST(test_entropy_split),
        VKT_TEST(test_windows),
        VKT_TEST(test_sample_greedy_and_errors),
        VKT_TEST(test_sample_distribution),
    };
    int rc = VKT_RUN_GROUP(tests);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return rc;
}
