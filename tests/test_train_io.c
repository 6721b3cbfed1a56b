/*
 * test_train_io.c — the trainer's I/O half, without a device: vkt_dict, checkpoint files (round
 * trip, atomic replacement, every kind of corrupt file), Lightning's number formatting (the
 * examples verified against Lightning), metrics.csv against the observed sample, hparams.yaml,
 * progress-bar lines, ModelCheckpoint file names and top-k, EarlyStopping decisions and messages.
 *
 * `test_train_io --write-checkpoint PATH` writes the sample checkpoint of checkpoint_roundtrip
 * and exits: tests/check_safetensors.py reads it back the way the safetensors library does.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "test_alloc.h"
#include "train/train_internal.h"
#include "vkt/vkt.h"

static char tmpdir[256];

static const char *tpath(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len) {
        *len = (size_t)n;
    }
    return b;
}

static void spit(const char *p, const void *data, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

#define ASSERT_ERROR_HAS(status, ...)                                                              \
    do {                                                                                           \
        assert_int_equal(vkt_last_status(), (status));                                             \
        const char *want_[] = {__VA_ARGS__};                                                       \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++) {                           \
            if (!strstr(vkt_last_error(), want_[i_])) {                                            \
                fail_msg("error '%s' lacks '%s'", vkt_last_error(), want_[i_]);                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* ---- vkt_dict ---- */

static void dict_basics(void **state)
{
    (void)state;
    vkt_dict *d = vkt_dict_create();
    assert_non_null(d);
    assert_int_equal(vkt_dict_set_number(d, "epoch", 3), VKT_OK);
    assert_int_equal(vkt_dict_set_string(d, "name", "mlp"), VKT_OK);
    vkt_dict *c = vkt_dict_child(d, "state_dict");
    assert_non_null(c);
    assert_ptr_equal(vkt_dict_child(d, "state_dict"), c); /* returned when present */
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    assert_int_equal(vkt_dict_set_floats(c, "0.weight", w, 2, shape), VKT_OK);
    w[0] = 99; /* copied */
    assert_int_equal(vkt_dict_count(d), 3);
    assert_string_equal(vkt_dict_key(d, 0), "epoch");
    assert_string_equal(vkt_dict_key(d, 2), "state_dict");
    assert_null(vkt_dict_key(d, 3));

    /* replacing keeps the position (Python dict order) and may change the kind */
    assert_int_equal(vkt_dict_set_string(d, "epoch", "three"), VKT_OK);
    assert_string_equal(vkt_dict_key(d, 0), "epoch");
    double v = 0;
    assert_false(vkt_dict_get_number(d, "epoch", &v));
    assert_string_equal(vkt_dict_get_string(d, "epoch"), "three");
    assert_int_equal(vkt_dict_set_number(d, "epoch", 4), VKT_OK);
    assert_true(vkt_dict_get_number(d, "epoch", &v));
    assert_true(v == 4);
    assert_null(vkt_dict_get_string(d, "epoch"));
    assert_null(vkt_dict_get_child(d, "epoch"));
    assert_false(vkt_dict_has(d, "nope"));
    assert_false(vkt_dict_get_number(d, "nope", &v));

    int ndim = 0;
    int64_t got[VKT_MAX_DIMS] = {0};
    const float *f = vkt_dict_get_floats(vkt_dict_get_child(d, "state_dict"), "0.weight", &ndim,
                                         got);
    assert_non_null(f);
    assert_int_equal(ndim, 2);
    assert_int_equal(got[0], 2);
    assert_int_equal(got[1], 3);
    assert_true(f[0] == 1 && f[5] == 6);
    assert_null(vkt_dict_get_floats(d, "name", NULL, NULL));

    /* errors */
    assert_null(vkt_dict_child(d, "name"));
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "'name' holds a string");
    int64_t seven[VKT_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(vkt_dict_set_floats(d, "x", w, VKT_MAX_DIMS + 1, seven), VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "0 to 6 dimensions allowed");
    int64_t six[VKT_MAX_DIMS] = {1, 2, 1, 3, 1, 1}, got6[VKT_MAX_DIMS] = {0};
    assert_int_equal(vkt_dict_set_floats(d, "x6", w, VKT_MAX_DIMS, six), VKT_OK);
    assert_non_null(vkt_dict_get_floats(d, "x6", &ndim, got6));
    assert_int_equal(ndim, VKT_MAX_DIMS);
    assert_memory_equal(got6, six, sizeof six);
    assert_int_equal(vkt_dict_remove(d, "x6"), VKT_OK);
    int64_t neg[1] = {-1};
    assert_int_equal(vkt_dict_set_floats(d, "x", w, 1, neg), VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_dict_set_string(d, "x", NULL), VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_dict_set_number(NULL, "x", 1), VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_dict_remove(d, "nope"), VKT_NOT_FOUND);
    assert_false(vkt_dict_has(d, "x"));

    /* remove keeps the others in order; clone is deep */
    vkt_dict *copy = vkt__dict_clone(d);
    assert_int_equal(vkt_dict_remove(d, "name"), VKT_OK);
    assert_int_equal(vkt_dict_count(d), 2);
    assert_string_equal(vkt_dict_key(d, 1), "state_dict");
    assert_int_equal(vkt_dict_count(copy), 3);
    assert_string_equal(vkt_dict_get_string(copy, "name"), "mlp");
    assert_non_null(vkt_dict_get_floats(vkt_dict_get_child(copy, "state_dict"), "0.weight", NULL,
                                        NULL));
    vkt_dict_destroy(d);
    vkt_dict_destroy(copy);
    assert_int_equal(vkt_dict_count(NULL), 0);
    vkt_dict_destroy(NULL);
}

/* ---- checkpoints ---- */

/* A checkpoint like Lightning's, with every awkward value the format must carry. */
static vkt_dict *sample_checkpoint(void)
{
    vkt_dict *d = vkt_dict_create();
    vkt_dict_set_number(d, "epoch", 0);
    vkt_dict_set_number(d, "global_step", 2);
    vkt_dict_set_string(d, "pytorch-lightning_version", "0.1.0");
    vkt_dict *sd = vkt_dict_child(d, "state_dict");
    float w[12], b[3] = {-0.5f, 0.25f, 1e-30f};
    for (int i = 0; i < 12; i++) {
        w[i] = (float)i * 0.1f - 0.3f;
    }
    vkt_dict_set_floats(sd, "0.weight", w, 2, (int64_t[]){3, 4});
    vkt_dict_set_floats(sd, "0.bias", b, 1, (int64_t[]){3});
    vkt_dict_set_ints(sd, "1.num_batches_tracked", (int64_t[]){-16777216}, 0, NULL); /* I64 */
    vkt_dict *loops = vkt_dict_child(vkt_dict_child(d, "loops"), "fit_loop");
    vkt_dict_set_number(vkt_dict_child(loops, "epoch_loop.state_dict"), "_batches_that_stepped", 2);
    vkt_dict *cb = vkt_dict_child(vkt_dict_child(d, "callbacks"),
                                  "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}");
    vkt_dict_set_number(cb, "best_model_score", 0.1234567890123456789);
    vkt_dict_set_number(vkt_dict_child(cb, "best_k_models"), "/tmp/x/epoch=0-step=2.ckpt", 1.5);
    vkt_dict_set_number(cb, "kth_value", INFINITY);
    vkt_dict_set_number(cb, "neg_inf", -INFINITY);
    vkt_dict_set_number(cb, "nan", NAN);
    vkt_dict_set_number(cb, "tiny", 4.9e-324);
    vkt_dict_set_number(cb, "neg_zero", -0.0);
    vkt_dict_set_string(cb, "text", "quote \" backslash \\ newline \n tab \t ctrl \x01 é ✓");
    vkt_dict_set_string(cb, "empty", "");
    vkt_dict_set_string(cb, "nan_text", "NaN"); /* spelled like a non-finite number */
    vkt_dict_set_number(cb, "Infinity", 3);
    vkt_dict_child(d, "empty_dict");
    /* "a/b" collides with the path a -> b: names get a suffix, paths stay exact */
    float one = 7, two[2] = {8, 9};
    vkt_dict_set_floats(d, "a/b", &one, 0, NULL);
    vkt_dict_set_floats(vkt_dict_child(d, "a"), "b", two, 1, (int64_t[]){2});
    vkt_dict_set_floats(d, "no_elements", NULL, 2, (int64_t[]){0, 3});
    vkt_dict_set_number(d, "after_tensors", 1);
    return d;
}

static void assert_dicts_equal(const vkt_dict *a, const vkt_dict *b)
{
    assert_int_equal(vkt_dict_count(a), vkt_dict_count(b));
    for (uint32_t i = 0; i < vkt_dict_count(a); i++) {
        vkt__dict_entry x = vkt__dict_at(a, i), y = vkt__dict_at(b, i);
        assert_string_equal(x.key, y.key);
        assert_int_equal(x.kind, y.kind);
        switch (x.kind) {
        case VKT__DICT_NUMBER:
            /* bit-exact, NaN and -0 included */
            assert_memory_equal(&x.number, &y.number, sizeof(double));
            break;
        case VKT__DICT_STRING:
            assert_string_equal(x.string, y.string);
            break;
        case VKT__DICT_CHILD:
            assert_dicts_equal(x.child, y.child);
            break;
        case VKT__DICT_FLOATS:
            assert_int_equal(x.ndim, y.ndim);
            assert_int_equal(x.count, y.count);
            assert_int_equal(x.ints, y.ints);
            for (int k = 0; k < x.ndim; k++) {
                assert_int_equal(x.shape[k], y.shape[k]);
            }
            if (x.count) {
                assert_memory_equal(x.floats, y.floats, x.count * sizeof(float));
            }
            break;
        default:
            fail();
        }
    }
}

static void checkpoint_roundtrip(void **state)
{
    (void)state;
    vkt_dict *d = sample_checkpoint();
    const char *p = tpath("sub/dir/epoch=0-step=2.ckpt"); /* parent directories are made */
    assert_int_equal(vkt_checkpoint_save(d, p), VKT_OK);
    vkt_dict *back = NULL;
    assert_int_equal(vkt_checkpoint_load(p, &back), VKT_OK);
    assert_dicts_equal(d, back);

    /* the layout: u64 LE header length, JSON header, data 8-aligned, tensors back to back */
    size_t len;
    unsigned char *raw = (unsigned char *)slurp(p, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) {
        n = n << 8 | raw[i];
    }
    assert_int_equal((8 + n) % 8, 0);
    assert_true(8 + n <= len);
    assert_int_equal(raw[8], '{');
    char *header = strndup((char *)raw + 8, n);
    assert_non_null(strstr(header, "\"state_dict/0.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                                   "\"data_offsets\":[0,48]}"));
    assert_non_null(strstr(header, "\"state_dict/0.bias\":{\"dtype\":\"F32\",\"shape\":[3],"
                                   "\"data_offsets\":[48,60]}"));
    assert_non_null(strstr(header, "\"state_dict/1.num_batches_tracked\":{\"dtype\":\"I64\","
                                   "\"shape\":[],\"data_offsets\":[60,68]}"));
    assert_non_null(strstr(header, "\"a/b\":{\"dtype\":\"F32\",\"shape\":[]"));
    assert_non_null(strstr(header, "\"a/b~1\":{\"dtype\":\"F32\",\"shape\":[2]"));
    assert_non_null(strstr(header, "\"format\":\"pt\""));
    /* the data: 12 + 3 floats, one int64, 1 + 2 + 0 floats */
    assert_int_equal(len - 8 - n, (12 + 3 + 1 + 2) * 4 + 8);
    float first;
    memcpy(&first, raw + 8 + n, 4);
    assert_true(first == -0.3f);
    int64_t nbt;
    memcpy(&nbt, raw + 8 + n + 60, 8);
    assert_int_equal(nbt, -16777216);
    assert_true(vkt_dict_is_ints(vkt_dict_get_child(back, "state_dict"), "1.num_batches_tracked"));
    assert_false(vkt_dict_is_ints(vkt_dict_get_child(back, "state_dict"), "0.bias"));
    free(header);
    free(raw);

    /* saving again over it replaces it; no temporary file is left behind */
    vkt_dict_set_number(back, "epoch", 1);
    assert_int_equal(vkt_checkpoint_save(back, p), VKT_OK);
    vkt_dict *again = NULL;
    assert_int_equal(vkt_checkpoint_load(p, &again), VKT_OK);
    double e = 0;
    assert_true(vkt_dict_get_number(again, "epoch", &e) && e == 1);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);

    /* an invalid UTF-8 key cannot go into the JSON header */
    vkt_dict_set_number(again, "bad\xff", 1);
    assert_int_equal(vkt_checkpoint_save(again, tpath("bad.ckpt")), VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "UTF-8");
    vkt_dict_destroy(again);
    vkt_dict_destroy(back);
    vkt_dict_destroy(d);
}

static void checkpoint_atomic(void **state)
{
    (void)state;
    const char *p = tpath("atomic.ckpt");
    vkt_dict *small = vkt_dict_create();
    vkt_dict_set_number(small, "epoch", 1);
    assert_int_equal(vkt_checkpoint_save(small, p), VKT_OK);
    size_t old_len;
    char *old = slurp(p, &old_len);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());

    /* 1. the temporary file cannot be created */
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(vkt_checkpoint_save(small, p), VKT_IO);
    ASSERT_ERROR_HAS(VKT_IO, "cannot create", tmp);
    assert_int_equal(rmdir(tmp), 0);

    /* 2. the disk "fills up" in the middle of the data: a real short write (RLIMIT_FSIZE) */
    vkt_dict *big = vkt_dict_create();
    static float data[64 * 1024];
    for (size_t i = 0; i < VKT__ARRAY_LEN(data); i++) {
        data[i] = (float)i;
    }
    vkt_dict_set_floats(big, "w", data, 1, (int64_t[]){VKT__ARRAY_LEN(data)});
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = 64 * 1024; /* bytes: a quarter of the data */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    vkt_status s = vkt_checkpoint_save(big, p);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(s, VKT_IO);
    ASSERT_ERROR_HAS(VKT_IO, "cannot write", tmp);
    assert_int_equal(access(tmp, F_OK), -1); /* cleaned up */

    /* 3. the rename fails (a directory is in the way) */
    const char *dirp = tpath("is_a_dir.ckpt");
    assert_int_equal(mkdir(dirp, 0700), 0);
    char dtmp[600];
    snprintf(dtmp, sizeof dtmp, "%s.tmp.%ld", dirp, (long)getpid());
    assert_int_equal(vkt_checkpoint_save(small, dirp), VKT_IO);
    ASSERT_ERROR_HAS(VKT_IO, "cannot rename");
    assert_int_equal(access(dtmp, F_OK), -1);

    /* the old checkpoint is intact, byte for byte, and loads */
    size_t now_len;
    char *now = slurp(p, &now_len);
    assert_int_equal(now_len, old_len);
    assert_memory_equal(now, old, old_len);
    vkt_dict *back = NULL;
    assert_int_equal(vkt_checkpoint_load(p, &back), VKT_OK);
    assert_dicts_equal(small, back);
    vkt_dict_destroy(back);
    free(now);
    free(old);
    vkt_dict_destroy(big);
    vkt_dict_destroy(small);
}

/* A file from a header string and `ndata` bytes of data (0x11 filler). */
static void write_st(const char *p, const char *header, size_t ndata)
{
    size_t hn = strlen(header);
    size_t total = 8 + hn + ndata;
    unsigned char *b = calloc(1, total);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    }
    memcpy(b + 8, header, hn);
    memset(b + 8 + hn, 0x11, ndata);
    spit(p, b, total);
    free(b);
}

static void expect_corrupt(const char *name, const char *what)
{
    vkt_dict *d = (vkt_dict *)0x1;
    const char *p = tpath(name);
    assert_int_equal(vkt_checkpoint_load(p, &d), VKT_CORRUPT_FILE);
    assert_null(d);
    ASSERT_ERROR_HAS(VKT_CORRUPT_FILE, p, what);
}

static void checkpoint_corrupt(void **state)
{
    (void)state;
    vkt_dict *d = (vkt_dict *)0x1;
    assert_int_equal(vkt_checkpoint_load(tpath("missing.ckpt"), &d), VKT_NOT_FOUND);
    assert_null(d);
    ASSERT_ERROR_HAS(VKT_NOT_FOUND, "missing.ckpt", "No such file");

    spit(tpath("short.ckpt"), "\x10\0\0", 3);
    expect_corrupt("short.ckpt", "truncated: 3 bytes");

    unsigned char past[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    spit(tpath("past.ckpt"), past, sizeof past);
    expect_corrupt("past.ckpt", "header length 200 runs past the end of the file (16 bytes)");

    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x40};
    spit(tpath("huge.ckpt"), huge, sizeof huge);
    expect_corrupt("huge.ckpt", "header length");

    write_st(tpath("notjson.ckpt"), "{\"a\": [1, 2,]}   ", 0);
    expect_corrupt("notjson.ckpt", "bad JSON in the header");

    write_st(tpath("nobrace.ckpt"), "[1]     ", 0);
    expect_corrupt("nobrace.ckpt", "does not start with '{'");

    write_st(tpath("range.ckpt"),
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", 8);
    expect_corrupt("range.ckpt", "tensor 'w' has data_offsets [0, 800] out of range");

    write_st(tpath("dtype.ckpt"),
             "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    expect_corrupt("dtype.ckpt", "tensor 'w' has dtype F8_E4M3; vkt reads F32, F64");

    write_st(tpath("size16.ckpt"),
             "{\"w\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12);
    expect_corrupt("size16.ckpt", "tensor 'w' has 12 bytes of data but its shape needs 6 (F16)");

    write_st(tpath("size64.ckpt"),
             "{\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
    expect_corrupt("size64.ckpt", "tensor 'n' has 4 bytes of data but its shape needs 8 (I64)");

    write_st(tpath("size.ckpt"),
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    expect_corrupt("size.ckpt", "tensor 'w' has 8 bytes of data but its shape needs 12");

    write_st(tpath("gap.ckpt"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
             12);
    expect_corrupt("gap.ckpt", "tensor 'b' starts at byte 8 of the data, expected 4");

    write_st(tpath("trailing.ckpt"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6);
    expect_corrupt("trailing.ckpt", "the data section has 6 bytes but the tensors cover 4");

    write_st(tpath("shape.ckpt"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    expect_corrupt("shape.ckpt", "tensor 'a' has a bad shape");

    write_st(tpath("meta.ckpt"), "{\"__metadata__\":{\"vkt\":\"{\\\"x\\\": }\"}}", 0);
    expect_corrupt("meta.ckpt", "bad JSON in __metadata__.vkt");

    write_st(tpath("metanum.ckpt"), "{\"__metadata__\":{\"vkt\":3}}", 0);
    expect_corrupt("metanum.ckpt", "__metadata__ value 'vkt' is not a string");

    write_st(tpath("orphan.ckpt"),
             "{\"__metadata__\":{\"vkt\":\"{}\",\"vkt_tensors\":\"{}\"},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             4);
    expect_corrupt("orphan.ckpt", "tensor 'a' has no place in the metadata tree");

    write_st(tpath("hole.ckpt"), "{\"__metadata__\":{\"vkt\":\"{\\\"w\\\": null}\"}}", 0);
    expect_corrupt("hole.ckpt", "has a tensor at 'w'");

    /* a good file cut short in its data */
    vkt_dict *s = sample_checkpoint();
    assert_int_equal(vkt_checkpoint_save(s, tpath("cut.ckpt")), VKT_OK);
    vkt_dict_destroy(s);
    size_t len;
    char *raw = slurp(tpath("cut.ckpt"), &len);
    spit(tpath("cut.ckpt"), raw, len - 5);
    free(raw);
    expect_corrupt("cut.ckpt", "out of range");
}

static void checkpoint_plain_safetensors(void **state)
{
    (void)state;
    /* what safetensors.torch.save_file writes for {"w": torch.tensor([1., 2.])} */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hn = strlen(h);
    unsigned char b[512] = {0};
    b[0] = (unsigned char)hn;
    memcpy(b + 8, h, hn);
    float v[2] = {1, 2};
    memcpy(b + 8 + hn, v, 8);
    spit(tpath("plain.safetensors"), b, 8 + hn + 8);
    vkt_dict *d = NULL;
    assert_int_equal(vkt_checkpoint_load(tpath("plain.safetensors"), &d), VKT_OK);
    assert_int_equal(vkt_dict_count(d), 1);
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    const float *w = vkt_dict_get_floats(d, "w", &ndim, shape);
    assert_non_null(w);
    assert_int_equal(ndim, 1);
    assert_true(w[0] == 1 && w[1] == 2);
    vkt_dict_destroy(d);
}

/* Replaces the first `from` in the file's header with `to` (same length). */
static void patch_header(const char *p, const char *from, const char *to)
{
    size_t len;
    char *raw = slurp(p, &len);
    char *at = strstr(raw + 8, from);
    assert_non_null(at);
    memcpy(at, to, strlen(to));
    spit(p, raw, len);
    free(raw);
}

/* A plain safetensors file of the given header and data bytes. */
static void write_st_data(const char *p, const char *header, const void *data, size_t ndata)
{
    size_t hn = strlen(header);
    unsigned char *b = calloc(1, 8 + hn + ndata);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    }
    memcpy(b + 8, header, hn);
    memcpy(b + 8 + hn, data, ndata);
    spit(p, b, 8 + hn + ndata);
    free(b);
}

static bool same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0; }

/* What torch users save: every safetensors dtype vkt reads, converted to f32 arrays (floats
 * exactly or rounded to nearest, integers exactly), integer ones tagged and written back as I64. */
static void checkpoint_dtypes(void **state)
{
    (void)state;
    struct {
        double f64[4];
        uint16_t f16[7], bf16[3];
        int64_t i64[4];
        int32_t i32[2];
        int16_t i16[2];
        int8_t i8[2];
        uint8_t u8[2], b[2];
    } __attribute__((packed)) v = {
        {0.1, -1e-50, 3.4028234663852886e38, NAN},
        {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x8000, 0x7E00},
        {0x3F80, 0xC0A0, 0xFF80},
        {0, -16777216, 16777216, 3},
        {-7, 16777216},
        {-32768, 32767},
        {-128, 127},
        {0, 255},
        {0, 1},
    };
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"f64\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,32]},"
                    "\"f16\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[32,46]},"
                    "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[46,52]},"
                    "\"i64\":{\"dtype\":\"I64\",\"shape\":[2,2],\"data_offsets\":[52,84]},"
                    "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[84,92]},"
                    "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[92,96]},"
                    "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[96,98]},"
                    "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[98,100]},"
                    "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[100,102]}}";
    _Static_assert(sizeof v == 102, "packed like the file");
    const char *p = tpath("dtypes.safetensors");
    write_st_data(p, h, &v, sizeof v);
    vkt_dict *d = NULL;
    if (vkt_checkpoint_load(p, &d) != VKT_OK) {
        fail_msg("%s", vkt_last_error());
    }
    const float *f = vkt_dict_get_floats(d, "f64", NULL, NULL);
    assert_true(f[0] == 0.1f && same_bits(f[1], -0.0f) && f[2] == 3.4028234663852886e38f &&
                isnan(f[3]));
    f = vkt_dict_get_floats(d, "f16", NULL, NULL);
    assert_true(f[0] == 1 && f[1] == -2 && f[2] == 0x1p-24f && f[3] == 65504 && f[4] == INFINITY &&
                same_bits(f[5], -0.0f) && isnan(f[6]));
    f = vkt_dict_get_floats(d, "bf16", NULL, NULL);
    assert_true(f[0] == 1 && f[1] == -5 && f[2] == -INFINITY);
    int nd = 0;
    int64_t shape[VKT_MAX_DIMS];
    f = vkt_dict_get_floats(d, "i64", &nd, shape);
    assert_true(nd == 2 && shape[0] == 2 && shape[1] == 2);
    assert_true(f[0] == 0 && f[1] == -16777216 && f[2] == 16777216 && f[3] == 3);
    f = vkt_dict_get_floats(d, "i32", NULL, NULL);
    assert_true(f[0] == -7 && f[1] == 16777216);
    f = vkt_dict_get_floats(d, "i16", NULL, NULL);
    assert_true(f[0] == -32768 && f[1] == 32767);
    f = vkt_dict_get_floats(d, "i8", NULL, NULL);
    assert_true(f[0] == -128 && f[1] == 127);
    f = vkt_dict_get_floats(d, "u8", NULL, NULL);
    assert_true(f[0] == 0 && f[1] == 255);
    f = vkt_dict_get_floats(d, "b", NULL, NULL);
    assert_true(f[0] == 0 && f[1] == 1);
    static const char *const ints[] = {"i64", "i32", "i16", "i8", "u8", "b"};
    static const char *const floats[] = {"f64", "f16", "bf16"};
    for (size_t i = 0; i < VKT__ARRAY_LEN(ints); i++) {
        assert_true(vkt_dict_is_ints(d, ints[i]));
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(floats); i++) {
        assert_false(vkt_dict_is_ints(d, floats[i]));
    }

    /* saved by vkt: F32 and I64, the same values */
    const char *q = tpath("dtypes.ckpt");
    assert_int_equal(vkt_checkpoint_save(d, q), VKT_OK);
    size_t len;
    char *raw = slurp(q, &len);
    assert_non_null(strstr(raw + 8, "\"f16\":{\"dtype\":\"F32\",\"shape\":[7]"));
    assert_non_null(strstr(raw + 8, "\"u8\":{\"dtype\":\"I64\",\"shape\":[2]"));
    assert_non_null(strstr(raw + 8, "\"i64\":{\"dtype\":\"I64\",\"shape\":[2,2]"));
    free(raw);
    vkt_dict *back = NULL;
    assert_int_equal(vkt_checkpoint_load(q, &back), VKT_OK);
    assert_dicts_equal(d, back);
    vkt_dict_destroy(back);
    vkt_dict_destroy(d);

    /* what f32 cannot hold, named */
    int64_t big[2] = {1, 16777217};
    write_st_data(p, "{\"n\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", big, 16);
    expect_corrupt("dtypes.safetensors", "tensor 'n' (I64) element 1 is 16777217, past 2^24");
    int32_t neg = -16777217;
    write_st_data(p, "{\"k\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}", &neg, 4);
    expect_corrupt("dtypes.safetensors", "tensor 'k' (I32) element 0 is -16777217");
    double huge = 1e39;
    write_st_data(p, "{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", &huge, 8);
    expect_corrupt("dtypes.safetensors", "tensor 'x' (F64) element 0 is 1e+39, past f32's range");
    uint8_t two = 2;
    write_st_data(p, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", &two, 1);
    expect_corrupt("dtypes.safetensors", "tensor 'm' (BOOL) element 0 is byte 2");

    /* vkt_dict_set_ints refuses what f32 cannot hold too */
    d = vkt_dict_create();
    assert_int_equal(vkt_dict_set_ints(d, "n", big, 1, (int64_t[]){2}), VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "'n' element 1 is 16777217");
    assert_false(vkt_dict_has(d, "n"));
    assert_int_equal(vkt_dict_set_ints(d, "n", big, 1, (int64_t[]){1}), VKT_OK);
    assert_true(vkt_dict_is_ints(d, "n"));
    assert_int_equal(vkt_dict_set_floats(d, "n", (float[]){1}, 1, (int64_t[]){1}), VKT_OK);
    assert_false(vkt_dict_is_ints(d, "n")); /* replaced */
    vkt_dict_destroy(d);

    /* a vkt checkpoint holds F32 and I64 only: a dtype damaged into another of the same size is
     * refused although its bytes pass their CRC */
    d = sample_checkpoint();
    assert_int_equal(vkt_checkpoint_save(d, q), VKT_OK);
    vkt_dict_destroy(d);
    patch_header(q, "{\"dtype\":\"F32\",\"shape\":[3]", "{\"dtype\":\"I32\",\"shape\":[3]");
    expect_corrupt("dtypes.ckpt", "tensor 'state_dict/0.bias' has dtype I32, which vkt never writes");
}

/* The metadata is strict JSON: the header and the tree it holds parse with jansson, which has no
 * NaN / Infinity tokens; non-finite numbers are strings there and numbers again after a load. */
static void checkpoint_strict_json(void **state)
{
    (void)state;
    vkt_dict *d = sample_checkpoint();
    const char *p = tpath("strict.ckpt");
    assert_int_equal(vkt_checkpoint_save(d, p), VKT_OK);
    size_t len;
    unsigned char *raw = (unsigned char *)slurp(p, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) {
        n = n << 8 | raw[i];
    }
    json_error_t err;
    json_t *h = json_loadb((char *)raw + 8, n, JSON_REJECT_DUPLICATES, &err);
    if (!h) {
        fail_msg("header: %s", err.text);
    }
    const char *tree_s = json_string_value(json_object_get(json_object_get(h, "__metadata__"),
                                                           "vkt"));
    assert_non_null(tree_s);
    json_t *tree = json_loads(tree_s, JSON_REJECT_DUPLICATES, &err);
    if (!tree) {
        fail_msg("__metadata__.vkt: %s", err.text);
    }
    json_t *cb = json_object_get(json_object_get(tree, "callbacks"),
                                 "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}");
    assert_string_equal(json_string_value(json_object_get(cb, "kth_value")), "Infinity");
    assert_string_equal(json_string_value(json_object_get(cb, "neg_inf")), "-Infinity");
    assert_string_equal(json_string_value(json_object_get(cb, "nan")), "NaN");
    json_decref(tree);
    json_decref(h);
    free(raw);

    vkt_dict *back = NULL;
    assert_int_equal(vkt_checkpoint_load(p, &back), VKT_OK);
    const vkt_dict *bcb = vkt_dict_get_child(vkt_dict_get_child(back, "callbacks"),
                                             "ModelCheckpoint{'monitor': 'val_loss', 'mode': "
                                             "'min'}");
    double v = 0;
    assert_true(vkt_dict_get_number(bcb, "kth_value", &v) && v == INFINITY);
    assert_true(vkt_dict_get_number(bcb, "neg_inf", &v) && v == -INFINITY);
    assert_true(vkt_dict_get_number(bcb, "nan", &v) && isnan(v));
    assert_string_equal(vkt_dict_get_string(bcb, "nan_text"), "NaN");
    vkt_dict_destroy(back);
    vkt_dict_destroy(d);
}

/* A file as the writer before vkt_format made it (bare NaN / Infinity, no CRCs) still loads. */
static void checkpoint_legacy_file(void **state)
{
    (void)state;
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"vkt\":\"{\\\"epoch\\\": 3, "
                    "\\\"k\\\": Infinity, \\\"m\\\": -Infinity, \\\"x\\\": NaN, "
                    "\\\"s\\\": \\\"NaN\\\", \\\"NaN\\\": 1.5, \\\"w\\\": null}\","
                    "\"vkt_tensors\":\"{\\\"w\\\": [\\\"w\\\"]}\"},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    size_t hn = strlen(h);
    unsigned char b[512] = {0};
    b[0] = (unsigned char)hn;
    memcpy(b + 8, h, hn);
    float w = 2.5f;
    memcpy(b + 8 + hn, &w, 4);
    spit(tpath("legacy.ckpt"), b, 8 + hn + 4);
    vkt_dict *d = NULL;
    if (vkt_checkpoint_load(tpath("legacy.ckpt"), &d) != VKT_OK) {
        fail_msg("%s", vkt_last_error());
    }
    double v = 0;
    assert_true(vkt_dict_get_number(d, "epoch", &v) && v == 3);
    assert_true(vkt_dict_get_number(d, "k", &v) && v == INFINITY);
    assert_true(vkt_dict_get_number(d, "m", &v) && v == -INFINITY);
    assert_true(vkt_dict_get_number(d, "x", &v) && isnan(v));
    assert_string_equal(vkt_dict_get_string(d, "s"), "NaN");
    assert_true(vkt_dict_get_number(d, "NaN", &v) && v == 1.5);
    const float *f = vkt_dict_get_floats(d, "w", NULL, NULL);
    assert_true(f && f[0] == 2.5f);
    vkt_dict_destroy(d);
}

/* Every tensor and the metadata values carry a CRC-32: damage is refused, naming what. */
static void checkpoint_crc(void **state)
{
    (void)state;
    vkt_dict *d = sample_checkpoint();
    const char *p = tpath("crc.ckpt");
    assert_int_equal(vkt_checkpoint_save(d, p), VKT_OK);
    size_t len;
    char *good = slurp(p, &len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) {
        n = n << 8 | (unsigned char)good[i];
    }

    /* one bit of state_dict/0.bias (data bytes 48..60) */
    good[8 + n + 50] ^= 0x01;
    spit(p, good, len);
    good[8 + n + 50] ^= 0x01;
    expect_corrupt("crc.ckpt", "tensor 'state_dict/0.bias' fails its CRC-32 check");

    /* a value in the tree: global_step 2 -> 3, still valid JSON */
    spit(p, good, len);
    patch_header(p, "\\\"global_step\\\":2", "\\\"global_step\\\":3");
    expect_corrupt("crc.ckpt", "__metadata__.vkt fails its CRC-32 check");

    /* a tensor's path: a -> b becomes a -> c */
    spit(p, good, len);
    patch_header(p, "[\\\"a\\\",\\\"b\\\"]", "[\\\"a\\\",\\\"c\\\"]");
    expect_corrupt("crc.ckpt", "__metadata__.vkt_tensors fails its CRC-32 check");

    /* the CRCs removed: vkt_format says they belong */
    spit(p, good, len);
    patch_header(p, "\"vkt_crc32\"", "\"vkt_crc99\"");
    expect_corrupt("crc.ckpt", "vkt_format but no vkt_crc32");

    /* a format from the future */
    spit(p, good, len);
    patch_header(p, "\"vkt_format\":\"2\"", "\"vkt_format\":\"9\"");
    expect_corrupt("crc.ckpt", "vkt_format is \"9\"");

    /* intact, it loads */
    spit(p, good, len);
    vkt_dict *back = NULL;
    assert_int_equal(vkt_checkpoint_load(p, &back), VKT_OK);
    assert_dicts_equal(d, back);
    vkt_dict_destroy(back);
    free(good);
    vkt_dict_destroy(d);
}

/* A pid of no live process: a child that has exited and been reaped. */
static long dead_pid(void)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(c, NULL, 0), c);
    return (long)c;
}

/* vkt__dict_to_json writes numbers, strings and dicts; an f32 array is refused by name (arrays
 * belong in a checkpoint's tensors), and the text reads back to the same dict. */
static void dict_json_refuses_arrays(void **state)
{
    (void)state;
    vkt_dict *d = vkt_dict_create();
    assert_int_equal(vkt_dict_set_number(d, "epoch", 2), VKT_OK);
    assert_int_equal(vkt_dict_set_string(vkt_dict_child(d, "hp"), "opt", "adam"), VKT_OK);
    char *text = vkt__dict_to_json(d);
    assert_non_null(text);
    vkt_dict *back = NULL;
    assert_int_equal(vkt__dict_from_json(text, strlen(text), false, &back), VKT_OK);
    double e = 0;
    assert_true(vkt_dict_get_number(back, "epoch", &e) && e == 2);
    assert_string_equal(vkt_dict_get_string(vkt_dict_get_child(back, "hp"), "opt"), "adam");
    free(text);
    vkt_dict_destroy(back);
    const float w[2] = {1, 2};
    assert_int_equal(vkt_dict_set_floats(vkt_dict_child(d, "hp"), "w", w, 1, (int64_t[]){2}),
                     VKT_OK);
    assert_null(vkt__dict_to_json(d));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "'w' holds an f32 array"));
    vkt_dict_destroy(d);
}

/* A killed save leaves <name>.tmp.<pid>; the next save of that name removes such files, and only
 * those: not another target's, not a live process's, not a file that is not a checkpoint's
 * beginning. */
static void checkpoint_stale_tmp(void **state)
{
    (void)state;
    const char *dir = tpath("stale");
    assert_int_equal(mkdir(dir, 0700), 0);
    long dead = dead_pid();
    char killed[700], other[700], empty[700], user[700], live[700], target[600], last[600];
    snprintf(target, sizeof target, "%s/epoch=1-step=4.ckpt", dir);
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    snprintf(killed, sizeof killed, "%s.tmp.%ld", target, dead);
    snprintf(other, sizeof other, "%s/epoch=0-step=2.ckpt.tmp.%ld", dir, dead);
    snprintf(empty, sizeof empty, "%s.tmp.%ld", last, dead);
    snprintf(user, sizeof user, "%s/notes.tmp.%ld", dir, dead);
    snprintf(live, sizeof live, "%s.tmp.%ld", target, (long)getppid());
    /* what a save had written when killed: the length, the header's start */
    static const char start[] = "\x40\0\0\0\0\0\0\0{\"__metadata__\":{\"format\":\"pt\",\"vkt_for";
    spit(killed, start, sizeof start - 1);
    spit(other, start, sizeof start - 1);
    spit(empty, "", 0);
    spit(user, "my notes, not a checkpoint", 26);
    spit(live, start, sizeof start - 1); /* a save in progress in another process */

    vkt_dict *d = vkt_dict_create();
    vkt_dict_set_number(d, "epoch", 1);
    assert_int_equal(vkt_checkpoint_save(d, target), VKT_OK);
    assert_int_equal(access(killed, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0); /* another target's: its own next save */
    assert_int_equal(access(empty, F_OK), 0);
    assert_int_equal(access(user, F_OK), 0);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(target, F_OK), 0);
    assert_int_equal(vkt_checkpoint_save(d, last), VKT_OK);
    assert_int_equal(access(empty, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0);
    vkt_dict_destroy(d);
}

/* ---- allocation failures over save and load ---- */

typedef struct alloc_ctx {
    vkt_dict *d;
    const char *path;
    char *before; /* the file at path before the save */
    size_t before_len;
    vkt_dict *loaded;
} alloc_ctx;

static vkt_status alloc_save(void *ctx)
{
    alloc_ctx *c = ctx;
    return vkt_checkpoint_save(c->d, c->path);
}

static void alloc_save_check(void *ctx, vkt_status s, long point)
{
    alloc_ctx *c = ctx;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", c->path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    size_t len;
    char *now = slurp(c->path, &len);
    assert_non_null(now);
    if (s != VKT_OK) {
        /* the previous checkpoint, byte for byte */
        assert_int_equal(len, c->before_len);
        assert_memory_equal(now, c->before, len);
    } else {
        (void)point;
        vkt_dict *back = NULL;
        assert_int_equal(vkt_checkpoint_load(c->path, &back), VKT_OK);
        assert_dicts_equal(c->d, back);
        vkt_dict_destroy(back);
        /* the next run starts from the old file again */
        spit(c->path, c->before, c->before_len);
    }
    free(now);
}

static vkt_status alloc_load(void *ctx)
{
    alloc_ctx *c = ctx;
    return vkt_checkpoint_load(c->path, &c->loaded);
}

static void alloc_load_check(void *ctx, vkt_status s, long point)
{
    alloc_ctx *c = ctx;
    (void)point;
    if (s == VKT_OK) {
        assert_dicts_equal(c->d, c->loaded);
    } else {
        assert_null(c->loaded);
    }
    vkt_dict_destroy(c->loaded);
    c->loaded = NULL;
}

static void checkpoint_alloc_failures(void **state)
{
    (void)state;
    alloc_ctx c = {.d = sample_checkpoint(), .path = tpath("alloc.ckpt")};
    vkt_dict *old = vkt_dict_create();
    vkt_dict_set_number(old, "epoch", 7);
    assert_int_equal(vkt_checkpoint_save(old, c.path), VKT_OK);
    vkt_dict_destroy(old);
    c.before = slurp(c.path, &c.before_len);
    long saves = vkt_test_each_alloc_failure("vkt_checkpoint_save", NULL, alloc_save,
                                             alloc_save_check, &c);
    assert_int_equal(vkt_checkpoint_save(c.d, c.path), VKT_OK);
    long loads = vkt_test_each_alloc_failure("vkt_checkpoint_load", NULL, alloc_load,
                                             alloc_load_check, &c);
    /* a file from before vkt_format takes the other path of the tree */
    checkpoint_legacy_file(NULL);
    vkt_dict_destroy(c.d);
    assert_int_equal(vkt_checkpoint_load(tpath("legacy.ckpt"), &c.d), VKT_OK);
    c.path = tpath("legacy.ckpt");
    long legacy = vkt_test_each_alloc_failure("vkt_checkpoint_load (legacy)", NULL, alloc_load,
                                              alloc_load_check, &c);
    printf("allocation points: save %ld, load %ld, legacy load %ld\n", saves, loads, legacy);
    free(c.before);
    vkt_dict_destroy(c.d);
}

/* ---- number formatting ---- */

static void check_num(double v, bool is_int, const char *want)
{
    char b[64];
    vkt__format_num(b, sizeof b, v, is_int);
    if (strcmp(b, want) != 0) {
        fail_msg("format_num(%.17g) = '%s', want '%s'", v, b, want);
    }
}

static void check_repr(double v, const char *want)
{
    char b[64];
    vkt__format_py_float(b, sizeof b, v);
    if (strcmp(b, want) != 0) {
        fail_msg("repr(%.17g) = '%s', want '%s'", v, b, want);
    }
}

static void check_fmt(double v, bool is_int, const char *spec, const char *want)
{
    char b[128];
    assert_int_equal(vkt__py_format(b, sizeof b, v, is_int, spec), VKT_OK);
    if (strcmp(b, want) != 0) {
        fail_msg("format(%.17g, '%s') = '%s', want '%s'", v, spec, b, want);
    }
}

static void format_numbers(void **state)
{
    (void)state;
    /* verified against Lightning's Tqdm.format_num (docs/lightning.md "Progress bar") */
    check_num(0.96580, false, "0.966");
    check_num(1.79999, false, "1.800");
    check_num(2.0, false, "2.000");
    check_num(0.1, false, "0.100");
    check_num(10.5, false, "10.50");
    check_num(100.0, false, "100.0");
    check_num(0.0874, false, "0.0874");
    check_num(1e-05, false, "1e-5");
    check_num(12345.6, false, "12345.6");
    check_num(-0.5, false, "-.500");
    check_num(0, true, "0");
    /* float32 metrics as the progress bar gets them (the observed frames) */
    check_num((double)0.36650595f, false, "0.367");
    check_num(0.05693098157644272, false, "0.0569");
    check_num(0.08741290867328644, false, "0.0874");
    check_num(12345678, true, "1.23e+7");
    check_num(1234567, true, "1234567");
    check_num(NAN, false, "nan.0");
    check_num(1e20, false, "1e+20");

    /* Python's repr(float): shortest round trip, exponent when decpt <= -4 or > 16 */
    check_repr(0.3665059506893158, "0.3665059506893158"); /* the metrics.csv sample's */
    check_repr(0.9658016562461853, "0.9658016562461853");
    check_repr((double)1.8f, "1.7999999523162842");
    check_repr(0.13262616097927094, "0.13262616097927094");
    check_repr(0.05693098157644272, "0.05693098157644272");
    check_repr(0.08741290867328644, "0.08741290867328644");
    check_repr(1e-05, "1e-05");
    check_repr(0.0001, "0.0001");
    check_repr(1.5e-07, "1.5e-07");
    check_repr(1e16, "1e+16");
    check_repr(1234567890123456.0, "1234567890123456.0");
    check_repr(100.0, "100.0");
    check_repr(2.0, "2.0");
    check_repr(0.1, "0.1");
    check_repr(-0.0, "-0.0");
    check_repr(-2.5e-300, "-2.5e-300");
    check_repr(5e-324, "5e-324");
    check_repr(1.7976931348623157e308, "1.7976931348623157e+308");
    check_repr(INFINITY, "inf");
    check_repr(-INFINITY, "-inf");
    check_repr(NAN, "nan");
    char b[64];
    vkt__format_py_float32(b, sizeof b, 0.1f);
    assert_string_equal(b, "0.1");
    vkt__format_py_float32(b, sizeof b, 1e-5f);
    assert_string_equal(b, "1e-05");

    /* tqdm.format_interval */
    const struct {
        double s;
        const char *want;
    } iv[] = {{0, "00:00"}, {5.9, "00:05"}, {65, "01:05"}, {3723, "1:02:03"},
              {36000, "10:00:00"}, {-3, "00:00"}};
    for (size_t i = 0; i < VKT__ARRAY_LEN(iv); i++) {
        vkt__format_interval(b, sizeof b, iv[i].s);
        assert_string_equal(b, iv[i].want);
    }

    /* format(value, spec), each checked against CPython 3.11 */
    check_fmt(12.0, false, ".3", "12.0");
    check_fmt(123.0, false, ".3", "1.23e+02");
    check_fmt(10.0, false, ".2", "1e+01");
    check_fmt(99.96, false, ".3", "1e+02");
    check_fmt(1.5e-7, false, ".3", "1.5e-07");
    check_fmt(0.0001, false, ".3", "0.0001");
    check_fmt(0, true, ".2f", "0.00");
    check_fmt(5, true, "03d", "005");
    check_fmt(0.123456, false, "", "0.123456");
    check_fmt(1234567.5, false, ",.1f", "1,234,567.5");
    check_fmt(NAN, false, ".2f", "nan");
    check_fmt(-5, true, "+05d", "-0005");
    check_fmt(0.5, false, "%", "50.000000%");
    check_fmt(3.14159, false, "^10.2f", "   3.14   ");
    check_fmt(-3.1, false, "=+8.2f", "-   3.10");
    check_fmt((double)0.123456f, false, "", "0.12345600128173828");
    check_fmt(INFINITY, false, "0.5f", "inf");
    assert_int_equal(vkt__py_format(b, sizeof b, 1.5, false, "d"), VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "Unknown format code 'd' for object of type 'float'");
    assert_int_equal(vkt__py_format(b, sizeof b, 1.5, false, ".x"), VKT_INVALID_ARGUMENT);

    vkt__py_repr_str(b, sizeof b, "val_loss");
    assert_string_equal(b, "'val_loss'");
    vkt__py_repr_str(b, sizeof b, "it's");
    assert_string_equal(b, "\"it's\"");
    vkt__py_repr_str(b, sizeof b, "a'b\"c\n");
    assert_string_equal(b, "'a\\'b\"c\\n'");
}

/* ---- CSVLogger ---- */

typedef struct row {
    const char *names[4];
    double values[4];
    uint32_t n;
    int64_t step, epoch;
} row;

/* The observed metrics.csv (docs/lightning.md "metrics.csv"): log_every_n_steps=1, 2 epochs x 2
 * train batches, val batches 2, 2, 1. */
static const row sample_rows[] = {
    {{"train_loss", "train_both_step", "cb_metric"}, {0.3665059506893158, 1.0, 0.0}, 3, 0, 0},
    {{"train_loss", "train_both_step", "cb_metric"}, {0.9658016562461853, 2.0, 1.0}, 3, 1, 0},
    {{"val_both_step"}, {1.0}, 1, 0, -1},
    {{"val_both_step"}, {2.0}, 1, 1, -1},
    {{"val_both_step"}, {3.0}, 1, 2, -1},
    {{"val_loss", "val_both_epoch", "val_max"},
     {1.7999999523162842, 1.7999999523162842, 3.0},
     3,
     1,
     0},
    {{"train_both_epoch", "train_sum", "ep_metric"}, {1.5, 2.0, 0.0}, 3, 1, 0},
    {{"train_loss", "train_both_step", "cb_metric"}, {0.13262616097927094, 1.0, 0.0}, 3, 2, 1},
    {{"train_loss", "train_both_step", "cb_metric"}, {0.05693098157644272, 2.0, 1.0}, 3, 3, 1},
    {{"val_both_step"}, {1.0}, 1, 3, -1},
    {{"val_both_step"}, {2.0}, 1, 4, -1},
    {{"val_both_step"}, {3.0}, 1, 5, -1},
    {{"val_loss", "val_both_epoch", "val_max"},
     {1.7999999523162842, 1.7999999523162842, 3.0},
     3,
     3,
     1},
    {{"train_both_epoch", "train_sum", "ep_metric"}, {1.5, 2.0, 1.0}, 3, 3, 1},
};

static const char *sample_csv =
    "cb_metric,ep_metric,epoch,step,train_both_epoch,train_both_step,train_loss,train_sum,"
    "val_both_epoch,val_both_step,val_loss,val_max\n"
    "0.0,,0,0,,1.0,0.3665059506893158,,,,,\n"
    "1.0,,0,1,,2.0,0.9658016562461853,,,,,\n"
    ",,,0,,,,,,1.0,,\n"
    ",,,1,,,,,,2.0,,\n"
    ",,,2,,,,,,3.0,,\n"
    ",,0,1,,,,,1.7999999523162842,,1.7999999523162842,3.0\n"
    ",0.0,0,1,1.5,,,2.0,,,,\n"
    "0.0,,1,2,,1.0,0.13262616097927094,,,,,\n"
    "1.0,,1,3,,2.0,0.05693098157644272,,,,,\n"
    ",,,3,,,,,,1.0,,\n"
    ",,,4,,,,,,2.0,,\n"
    ",,,5,,,,,,3.0,,\n"
    ",,1,3,,,,,1.7999999523162842,,1.7999999523162842,3.0\n"
    ",1.0,1,3,1.5,,,2.0,,,,\n";

/* metrics.csv has Python csv's "\r\n" line ends: check that, then compare with "\n" text */
static char *slurp_csv(const char *p)
{
    char *text = slurp(p, NULL);
    assert_non_null(text);
    size_t o = 0;
    for (size_t i = 0; text[i]; i++) {
        if (text[i] == '\n') {
            assert_true(i > 0 && text[i - 1] == '\r');
        }
        if (text[i] != '\r') {
            text[o++] = text[i];
        }
    }
    text[o] = '\0';
    return text;
}

static void log_row(vkt_logger *l, const row *r)
{
    assert_int_equal(l->log_metrics(r->names, r->values, r->n, r->step, r->epoch, l->user_data),
                     VKT_OK);
    assert_int_equal(l->save(l->user_data), VKT_OK);
}

static void csv_logger_sample(void **state)
{
    (void)state;
    /* versions: 1 + the largest version_N directory; files and version_x do not count */
    const char *root = tpath("logs");
    assert_int_equal(vkt__mkdir_p(tpath("logs/lightning_logs/version_3")), VKT_OK);
    assert_int_equal(vkt__mkdir_p(tpath("logs/lightning_logs/version_x")), VKT_OK);
    spit(tpath("logs/lightning_logs/version_9"), "", 0);
    vkt_logger *l = NULL;
    assert_int_equal(vkt_csv_logger_create(root, NULL, &l), VKT_OK);
    assert_string_equal(l->version(l->user_data), "4");
    char want_dir[600];
    snprintf(want_dir, sizeof want_dir, "%s/lightning_logs/version_4", root);
    assert_string_equal(l->log_dir(l->user_data), want_dir);
    vkt_logger *l2 = NULL; /* a second logger gets the next version */
    assert_int_equal(vkt_csv_logger_create(root, NULL, &l2), VKT_OK);
    assert_string_equal(l2->version(l2->user_data), "5");

    char csv[700];
    snprintf(csv, sizeof csv, "%s/metrics.csv", want_dir);
    log_row(l, &sample_rows[0]);
    char *text = slurp_csv(csv);
    assert_string_equal(text, "cb_metric,epoch,step,train_both_step,train_loss\n"
                              "0.0,0,0,1.0,0.3665059506893158\n");
    free(text);
    for (size_t i = 1; i < VKT__ARRAY_LEN(sample_rows); i++) {
        log_row(l, &sample_rows[i]);
    }
    text = slurp_csv(csv);
    assert_string_equal(text, sample_csv);
    free(text);

    /* the defaults' file: only validation epoch rows */
    const char *names[] = {"val_loss"};
    double v0 = 0.13262616097927094, v1 = 0.08741290867328644;
    assert_int_equal(l2->log_metrics(names, &v0, 1, 1, 0, l2->user_data), VKT_OK);
    assert_int_equal(l2->log_metrics(names, &v1, 1, 3, 1, l2->user_data), VKT_OK);
    char csv2[700];
    snprintf(csv2, sizeof csv2, "%s/metrics.csv", l2->log_dir(l2->user_data));
    text = slurp_csv(csv2);
    assert_string_equal(text, "epoch,step,val_loss\n"
                              "0,1,0.13262616097927094\n"
                              "1,3,0.08741290867328644\n");
    free(text);

    /* keys that need CSV quoting */
    const char *odd[] = {"a,b", "q\"x"};
    double ov[2] = {1, 2};
    assert_int_equal(l2->log_metrics(odd, ov, 2, 4, 1, l2->user_data), VKT_OK);
    text = slurp_csv(csv2);
    assert_string_equal(text, "\"a,b\",epoch,\"q\"\"x\",step,val_loss\n"
                              ",0,,1,0.13262616097927094\n"
                              ",1,,3,0.08741290867328644\n"
                              "1.0,1,2.0,4,\n");
    free(text);

    /* hparams.yaml: PyYAML's yaml.dump layout, written when log_hyperparams is called */
    char yaml_path[700];
    snprintf(yaml_path, sizeof yaml_path, "%s/hparams.yaml", want_dir);
    assert_int_equal(access(yaml_path, F_OK), -1);
    vkt_dict *hp = vkt_dict_create();
    vkt_dict_set_number(hp, "lr", 0.1);
    vkt_dict_set_number(hp, "hidden", 32);
    vkt_dict_set_string(hp, "name", "mlp");
    vkt_dict *nested = vkt_dict_child(hp, "nested");
    vkt_dict_set_number(nested, "b", 2);
    vkt_dict_set_number(nested, "a", 1e-05);
    vkt_dict_set_string(hp, "flag_str", "yes");
    vkt_dict_child(hp, "empty");
    vkt_dict_set_string(hp, "path", "./data/x");
    vkt_dict_set_string(hp, "colon", "a: b");
    vkt_dict_set_string(hp, "num_str", "1.5");
    vkt_dict_set_string(hp, "quote", "it's");
    vkt_dict_set_string(hp, "date", "2024-01-01");
    vkt_dict_set_string(hp, "dash", "-x");
    vkt_dict_set_string(hp, "tilde", "~");
    vkt_dict_set_number(hp, "inf", INFINITY);
    vkt_dict_set_number(hp, "big", 1e17);
    float w[4] = {1, 2, 3, 4.5f}, half = 0.5f;
    vkt_dict_set_floats(hp, "w", w, 2, (int64_t[]){2, 2});
    vkt_dict_set_floats(hp, "v", &half, 1, (int64_t[]){1});
    vkt_dict_set_floats(hp, "e", NULL, 1, (int64_t[]){0});
    assert_int_equal(l->log_hyperparams(hp, l->user_data), VKT_OK);
    vkt_dict_destroy(hp);
    text = slurp(yaml_path, NULL);
    /* the same dict through python3 -c 'import yaml; print(yaml.dump(d))' (PyYAML 6.0) */
    assert_string_equal(text, "big: 1.0e+17\n"
                              "colon: 'a: b'\n"
                              "dash: -x\n"
                              "date: '2024-01-01'\n"
                              "e: []\n"
                              "empty: {}\n"
                              "flag_str: 'yes'\n"
                              "hidden: 32\n"
                              "inf: .inf\n"
                              "lr: 0.1\n"
                              "name: mlp\n"
                              "nested:\n"
                              "  a: 1.0e-05\n"
                              "  b: 2\n"
                              "num_str: '1.5'\n"
                              "path: ./data/x\n"
                              "quote: it's\n"
                              "tilde: '~'\n"
                              "v:\n"
                              "- 0.5\n"
                              "w:\n"
                              "- - 1.0\n"
                              "  - 2.0\n"
                              "- - 3.0\n"
                              "  - 4.5\n");
    free(text);
    /* a string that is not UTF-8 is an error, and hparams.yaml stays as it was */
    char *before = slurp(yaml_path, NULL);
    hp = vkt_dict_create();
    vkt_dict_set_string(vkt_dict_child(hp, "nested"), "latin1", "caf\xe9");
    assert_int_equal(l->log_hyperparams(hp, l->user_data), VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "not valid UTF-8");
    vkt_dict_destroy(hp);
    text = slurp(yaml_path, NULL);
    assert_string_equal(text, before);
    free(text);
    free(before);
    l->finalize(l->user_data);
    vkt_csv_logger_destroy(l);
    vkt_csv_logger_destroy(l2);
}

/* ---- CSV logger under allocation failure ---- */

/* An operation on a logger with some history: its files must be as they were after any failure,
 * and the logger must still work (the same call, unarmed, then gives the clean run's files). */
typedef struct csv_alloc {
    int op;  /* CSV_OP_* */
    int run; /* a fresh directory per run */
    vkt_logger *l;
    char *before_csv, *before_yaml; /* the files before op (NULL: absent) */
    char *want_csv, *want_yaml;     /* after the clean run */
    vkt_dict *hp;
} csv_alloc;

enum { CSV_OP_FIRST_ROW, CSV_OP_APPEND, CSV_OP_NEW_KEY, CSV_OP_SAVE, CSV_OP_HPARAMS, CSV_OP_N };

static const row alloc_rows[] = {
    {{"loss", "a,b"}, {0.5, 1.0 / 3}, 2, 0, 0},
    {{"loss", "q\"x"}, {0.25, -2.0}, 2, 1, 0},
    {{"loss"}, {0.125}, 1, 2, 1},                            /* known keys: appended */
    {{"val\nloss", "zeta", "loss"}, {1e-05, 7, 3}, 3, 3, 1}, /* new keys: the file is rewritten */
};

static char *logger_file(csv_alloc *a, const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", a->l->log_dir(a->l->user_data), name);
    return slurp(p, NULL);
}

static void assert_same_file(const char *what, const char *got, const char *want)
{
    if (!got != !want || (got && strcmp(got, want) != 0)) {
        fail_msg("%s:\n got '%s'\nwant '%s'", what, got ? got : "(absent)",
                 want ? want : "(absent)");
    }
}

static vkt_status csv_alloc_run(csv_alloc *a)
{
    vkt_logger *l = a->l;
    const row *r = &alloc_rows[a->op == CSV_OP_FIRST_ROW ? 0 : a->op == CSV_OP_APPEND ? 2 : 3];
    switch (a->op) {
    case CSV_OP_HPARAMS:
        return l->log_hyperparams(a->hp, l->user_data);
    case CSV_OP_SAVE: {
        vkt_status s = l->log_metrics(r->names, r->values, r->n, r->step, r->epoch, l->user_data);
        s = s == VKT_OK ? l->save(l->user_data) : s;
        if (s == VKT_OK) {
            l->finalize(l->user_data);
        }
        return s;
    }
    default:
        return l->log_metrics(r->names, r->values, r->n, r->step, r->epoch, l->user_data);
    }
}

static void csv_alloc_setup(void *ctx)
{
    csv_alloc *a = ctx;
    char dir[64];
    snprintf(dir, sizeof dir, "alloc/%d", a->run++);
    assert_int_equal(vkt_csv_logger_create(tpath(dir), NULL, &a->l), VKT_OK);
    if (a->op != CSV_OP_FIRST_ROW) {
        log_row(a->l, &alloc_rows[0]);
        log_row(a->l, &alloc_rows[1]);
    }
    vkt_dict *hp = vkt_dict_create();
    assert_non_null(hp);
    vkt_dict_set_number(hp, "lr", 0.1);
    vkt_dict_set_string(vkt_dict_child(hp, "model"), "name", "mlp: 2 layers");
    assert_int_equal(a->l->log_hyperparams(hp, a->l->user_data), VKT_OK);
    vkt_dict_destroy(hp);
    a->before_csv = logger_file(a, "metrics.csv");
    a->before_yaml = logger_file(a, "hparams.yaml");
}

static vkt_status csv_alloc_op(void *ctx) { return csv_alloc_run(ctx); }

static void csv_alloc_check(void *ctx, vkt_status s, long point)
{
    csv_alloc *a = ctx;
    char *csv = logger_file(a, "metrics.csv"), *yaml = logger_file(a, "hparams.yaml");
    if (point >= 0) {
        assert_int_not_equal(s, VKT_OK);
        assert_same_file("metrics.csv after a failure", csv, a->before_csv);
        assert_same_file("hparams.yaml after a failure", yaml, a->before_yaml);
        free(csv);
        free(yaml);
        assert_int_equal(csv_alloc_run(a), VKT_OK); /* the logger survived */
        csv = logger_file(a, "metrics.csv");
        yaml = logger_file(a, "hparams.yaml");
    }
    if (!a->want_csv && !a->want_yaml) {
        a->want_csv = csv;
        a->want_yaml = yaml;
    } else {
        assert_same_file("metrics.csv", csv, a->want_csv);
        assert_same_file("hparams.yaml", yaml, a->want_yaml);
        free(csv);
        free(yaml);
    }
    free(a->before_csv);
    free(a->before_yaml);
    a->before_csv = a->before_yaml = NULL;
    vkt_csv_logger_destroy(a->l);
    a->l = NULL;
}

static void csv_logger_alloc_failures(void **state)
{
    (void)state;
    static const char *const names[CSV_OP_N] = {"log_metrics (first row)", "log_metrics (append)",
                                                "log_metrics (new key: rewrite)",
                                                "log_metrics + save + finalize", "log_hyperparams"};
    int run = 0;
    for (int op = 0; op < CSV_OP_N; op++) {
        csv_alloc a = {.op = op, .run = run};
        a.hp = vkt_dict_create();
        vkt_dict_set_number(a.hp, "lr", 0.01);
        vkt_dict_set_string(a.hp, "opt", "yes");
        float w[2] = {1, 2};
        vkt_dict_set_floats(vkt_dict_child(a.hp, "model"), "w", w, 1, (int64_t[]){2});
        long points = vkt_test_each_alloc_failure(names[op], csv_alloc_setup, csv_alloc_op,
                                                  csv_alloc_check, &a);
        printf("CSVLogger %s: %ld allocation points\n", names[op], points);
        run = a.run;
        free(a.want_csv);
        free(a.want_yaml);
        vkt_dict_destroy(a.hp);
    }
}

/* ---- progress bar lines ---- */

static void meter(const char *desc, uint64_t n, int64_t total, double elapsed,
                  const char *postfix, int ncols, const char *want)
{
    char b[4096];
    vkt__format_meter(b, sizeof b, desc, n, total, elapsed, postfix, ncols);
    if (strcmp(b, want) != 0) {
        fail_msg("meter\n got '%s'\nwant '%s'", b, want);
    }
}

static void progress_bar_lines(void **state)
{
    (void)state;
    /* the observed frames of one epoch */
    meter("Epoch 0", 0, 2, 0, "", 0, "Epoch 0:   0%|          | 0/2 [00:00<?, ?it/s]");
    meter("Epoch 0", 1, 2, 1 / 453.49, "", 0,
          "Epoch 0:  50%|█████     | 1/2 [00:00<00:00, 453.49it/s]");
    meter("Epoch 0", 1, 2, 1 / 453.49, "v_num=0, train_loss=0.367", 0,
          "Epoch 0:  50%|█████     | 1/2 [00:00<00:00, 453.49it/s, v_num=0, train_loss=0.367]");
    /* the final line: 10 columns of bar without a terminal, the width of a 120-column one */
    const char *pf = "v_num=0, train_loss=0.0569, val_loss=0.0874";
    meter("Epoch 1", 2, 2, 2 / 337.30, pf, 0,
          "Epoch 1: 100%|██████████| 2/2 [00:00<00:00, 337.30it/s, v_num=0, train_loss=0.0569, "
          "val_loss=0.0874]");
    meter("Epoch 1", 2, 2, 2 / 204.13, pf, 120,
          "Epoch 1: 100%|██████████████████████████████| 2/2 [00:00<00:00, 204.13it/s, v_num=0, "
          "train_loss=0.0569, val_loss=0.0874]");
    /* unknown total, partial blocks, slow rates, hours, n past the total, a narrow terminal */
    meter("Validation", 0, -1, 0, "", 0, "Validation: |          | 0/? [00:00<?, ?it/s]");
    meter("Sanity Checking DataLoader 0", 1, 3, 2, "", 0,
          "Sanity Checking DataLoader 0:  33%|███▎      | 1/3 [00:02<00:04,  0.50it/s]");
    meter("Epoch 3", 7, 8, 3723, "", 0,
          "Epoch 3:  88%|████████▊ | 7/8 [1:02:03<08:51,  0.00it/s]");
    meter("Epoch 0", 5, 4, 1, "", 0, "Epoch 0: |          | 5/? [00:01<00:00,  5.00it/s]");
    meter("Epoch 0", 1, 2, 1, pf, 40, "Epoch 0:  50%|▌| 1/2 [00:01<00:01,  1.00");
    char b[4096];
    vkt__format_meter(b, sizeof b, "Epoch 0", 1, 2, 1, pf, 40);
    assert_int_equal(vkt__display_len(b), 40);

    /* the postfix: {"v_num": version, **progress_bar_metrics} through format_num */
    const char *names[] = {"train_loss", "val_loss"};
    double values[] = {0.05693098157644272, 0.08741290867328644};
    vkt__format_postfix(b, sizeof b, "0", names, values, 2);
    assert_string_equal(b, pf);
    vkt__format_postfix(b, sizeof b, "run-abcdef", names, values, 1);
    assert_string_equal(b, "v_num=cdef, train_loss=0.0569");
    vkt__format_postfix(b, sizeof b, NULL, names, values, 2);
    assert_string_equal(b, "train_loss=0.0569, val_loss=0.0874");
    const char *with_vnum[] = {"loss", "v_num"};
    double vv[] = {2.0, 7.0};
    vkt__format_postfix(b, sizeof b, "3", with_vnum, vv, 2);
    assert_string_equal(b, "v_num=7.000, loss=2.000");

    /* printing through a bar with no bar open: the plain line, tty or not */
    for (int tty = 0; tty < 2; tty++) {
        FILE *f = tmpfile();
        assert_non_null(f);
        vkt_callback *cb = vkt_progress_bar_create(
            &(vkt_progress_bar_desc){.stream = f, .tty = tty ? VKT_FLAG_ON : VKT_FLAG_OFF});
        assert_non_null(cb);
        assert_true(vkt__is_progress_bar(cb));
        assert_string_equal(cb->name, "TQDMProgressBar");
        assert_false(cb->monitoring);
        vkt__progress_bar_print(cb, "Epoch 1, global step 4: 'val_loss' reached 2.00000");
        rewind(f);
        char line[256] = {0};
        assert_non_null(fgets(line, sizeof line, f));
        assert_string_equal(line, "Epoch 1, global step 4: 'val_loss' reached 2.00000\n");
        fclose(f);
        vkt_progress_bar_destroy(cb);
    }
    assert_null(vkt_progress_bar_create(&(vkt_progress_bar_desc){.tty = (vkt_flag)9}));
}

/* ---- ModelCheckpoint ---- */

static bool sample_metrics(void *ctx, const char *name, double *v)
{
    (void)ctx;
    if (strcmp(name, "val_loss") == 0) {
        *v = (double)0.123456f;
        return true;
    }
    if (strcmp(name, "epoch") == 0 && ctx) {
        *v = 7.9; /* self.log("epoch", 7.9): cast to int */
        return true;
    }
    return false;
}

static bool nan_epoch(void *ctx, const char *name, double *v)
{
    (void)ctx;
    *v = NAN; /* self.log("epoch", nan) */
    return strcmp(name, "epoch") == 0;
}

static void check_name(const char *tmpl, int64_t epoch, int64_t step, void *ctx, const char *want)
{
    char b[512];
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, tmpl, true, epoch, step, sample_metrics, ctx),
        VKT_OK);
    assert_string_equal(b, want);
}

static void model_checkpoint_names(void **state)
{
    (void)state;
    check_name(NULL, 0, 2, NULL, "epoch=0-step=2");
    check_name("{epoch}-{val_loss:.2f}", 2, 9, NULL, "epoch=2-val_loss=0.12");
    check_name("{epoch:03d}", 5, 0, NULL, "epoch=005");
    check_name("{missing:d}", 0, 0, NULL, "missing=0");
    check_name("{missing:.2f}", 0, 0, NULL, "missing=0.00");
    check_name("{val_loss}", 0, 0, NULL, "val_loss=0.12345600128173828");
    check_name("sample-mnist-{epoch:02d}-{val_loss:.2f}", 2, 0, NULL,
               "sample-mnist-epoch=02-val_loss=0.12");
    check_name("{step}", 0, 0, NULL, "step=0");
    check_name("{epoch}", 0, 0, (void *)1, "epoch=7");
    char b[512];
    char no_insert[64];
    assert_int_equal(vkt__checkpoint_format_name(no_insert, sizeof no_insert,
                                                 "e{epoch}_{val_loss:.3f}", false, 4, 0,
                                                 sample_metrics, NULL),
                     VKT_OK);
    assert_string_equal(no_insert, "e4_0.123");
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, "{val_loss:d}", true, 0, 0, sample_metrics, NULL),
        VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "Unknown format code 'd'", "{val_loss:d}");
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, "{epoch", true, 0, 0, sample_metrics, NULL),
        VKT_INVALID_ARGUMENT);

    /* a file name, or a clear error: no '/', no silent truncation, no overflow */
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, "sub/{epoch}", true, 0, 0, sample_metrics, NULL),
        VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "contains '/'", "sub/{epoch}");
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, "{val/loss}", true, 0, 0, sample_metrics, NULL),
        VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "auto_insert_metric_name=false");
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, "{val/loss}", false, 0, 0, sample_metrics, NULL),
        VKT_OK);
    assert_string_equal(b, "0");
    char small[8];
    assert_int_equal(vkt__checkpoint_format_name(small, sizeof small, "checkpoint", true, 0, 0,
                                                 sample_metrics, NULL),
                     VKT_TOO_LARGE);
    char spec[128]; /* 62 zeros + "5.2f": cut at 63 bytes it would read as width 5, no type */
    snprintf(spec, sizeof spec, "{val_loss:%062d5.2f}", 0);
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, spec, true, 0, 0, sample_metrics, NULL),
        VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt__checkpoint_format_name(b, sizeof b, "{val_loss:4294967297.2f}", true, 0,
                                                 0, sample_metrics, NULL),
                     VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "Invalid format specifier");
    check_name("{step}", 0, INT64_MAX, NULL, "step=9223372036854775808");
    assert_int_equal(
        vkt__checkpoint_format_name(b, sizeof b, "{epoch}", true, 0, 0, nan_epoch, NULL),
        VKT_INVALID_ARGUMENT);
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "logged 'epoch' (nan) is not an integer");

    /* construction: defaults, state keys, Lightning's configuration errors */
    vkt_callback *cb = vkt_model_checkpoint_create(NULL);
    assert_non_null(cb);
    assert_string_equal(cb->state_key,
                        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, "
                        "'every_n_epochs': 1, 'train_time_interval': None}");
    assert_true(cb->monitoring && cb->checkpoint);
    assert_string_equal(vkt_model_checkpoint_best_path(cb), "");
    assert_string_equal(vkt_model_checkpoint_last_path(cb), "");
    vkt_model_checkpoint_destroy(cb);
    cb = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){
        .monitor = "val_loss", .mode = VKT_MODE_MAX, .every_n_train_steps = 100});
    assert_string_equal(cb->state_key,
                        "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'max', "
                        "'every_n_train_steps': 100, 'every_n_epochs': 0, "
                        "'train_time_interval': None}");
    vkt_model_checkpoint_destroy(cb);
    assert_null(vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.save_top_k = 2}));
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT,
                     "ModelCheckpoint(save_top_k=2, monitor=None) is not a valid configuration.");
    assert_null(vkt_model_checkpoint_create(
        &(vkt_checkpoint_desc){.every_n_epochs = 2, .every_n_train_steps = 3}));
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "should be mutually exclusive");
    assert_null(vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.save_top_k = -2}));
}

static void model_checkpoint_topk(void **state)
{
    (void)state;
    vkt__topk k;
    double stored;
    /* min mode, k = 2: 3.0 (A), 2.0 (B), 2.5 (C) evicts A, 2.6 is not in the top 2 */
    vkt__topk_init(&k, false, 2);
    assert_true(vkt__topk_check(&k, 3.0));
    assert_null(vkt__topk_evict(&k));
    assert_int_equal(vkt__topk_insert(&k, "A", 3.0, &stored), VKT_OK);
    assert_null(k.kth_best_model_path); /* not full yet */
    assert_true(k.kth_value == INFINITY);
    assert_true(vkt__topk_check(&k, 2.0));
    assert_null(vkt__topk_evict(&k));
    assert_int_equal(vkt__topk_insert(&k, "B", 2.0, &stored), VKT_OK);
    assert_string_equal(k.kth_best_model_path, "A");
    assert_true(k.kth_value == 3.0);
    assert_string_equal(k.best_model_path, "B");
    assert_true(vkt__topk_check(&k, 2.5));
    assert_false(vkt__topk_check(&k, 3.0)); /* torch.lt: not better than the k-th */
    assert_false(vkt__topk_check(&k, NAN)); /* NaN is the worst */
    char *del = vkt__topk_evict(&k);
    assert_string_equal(del, "A");
    free(del);
    assert_int_equal(vkt__topk_insert(&k, "C", 2.5, &stored), VKT_OK);
    assert_int_equal(k.count, 2);
    assert_string_equal(k.paths[0], "B");
    assert_string_equal(k.paths[1], "C");
    assert_string_equal(k.kth_best_model_path, "C");
    assert_string_equal(k.best_model_path, "B");
    assert_true(k.best_model_score == 2.0);
    assert_false(vkt__topk_check(&k, 2.6));
    vkt__topk_free(&k);

    /* a NaN while there is room is stored as the worst value (+inf for min) */
    vkt__topk_init(&k, false, 3);
    assert_true(vkt__topk_check(&k, NAN));
    assert_int_equal(vkt__topk_insert(&k, "N", NAN, &stored), VKT_OK);
    assert_true(stored == INFINITY);
    assert_int_equal(vkt__topk_insert(&k, "M", 1.0, &stored), VKT_OK);
    assert_string_equal(k.best_model_path, "M");
    vkt__topk_free(&k);

    /* max mode; ties keep the first in insertion order; save_top_k -1 keeps everything */
    vkt__topk_init(&k, true, -1);
    const char *p[] = {"a", "b", "c", "d"};
    double s[] = {0.5, 0.9, 0.5, NAN};
    for (int i = 0; i < 4; i++) {
        assert_true(vkt__topk_check(&k, s[i]));
        assert_null(vkt__topk_evict(&k));
        assert_int_equal(vkt__topk_insert(&k, p[i], s[i], &stored), VKT_OK);
    }
    assert_int_equal(k.count, 4);
    assert_true(k.scores[3] == -INFINITY);
    assert_string_equal(k.best_model_path, "b");
    assert_string_equal(k.kth_best_model_path, "d");
    vkt__topk_free(&k);
    vkt__topk_init(&k, true, 2);
    vkt__topk_insert(&k, "x", 0.7, &stored);
    vkt__topk_insert(&k, "y", 0.7, &stored);
    assert_string_equal(k.kth_best_model_path, "x");
    assert_string_equal(k.best_model_path, "x");
    assert_false(vkt__topk_check(&k, 0.7));
    assert_true(vkt__topk_check(&k, 0.71));
    vkt__topk_free(&k);
}

/* ---- EarlyStopping ---- */

static void early_stopping_decisions(void **state)
{
    (void)state;
    vkt_callback *cb = vkt_early_stopping_create(&(vkt_early_stopping_desc){.monitor = "val_loss"});
    assert_non_null(cb);
    assert_string_equal(cb->state_key, "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}");
    assert_true(cb->monitoring);
    assert_false(cb->checkpoint);
    vkt_early_stopping_destroy(cb);
    assert_null(vkt_early_stopping_create(&(vkt_early_stopping_desc){0}));
    ASSERT_ERROR_HAS(VKT_INVALID_ARGUMENT, "monitor is required");

    /* Lightning's verified run: patience 3, val_loss 3, 2, 2.5, 2.2, 2.1 stops after epoch 4 */
    vkt__es_state s = {.monitor = "val_loss", .check_finite = true, .min_delta = -0.0f,
                       .best_score = INFINITY, .patience = 3};
    const float seq[] = {3, 2, 2.5f, 2.2f, 2.1f};
    const char *msgs[] = {
        "Metric val_loss improved. New best score: 3.000",
        "Metric val_loss improved by 1.000 >= min_delta = 0.0. New best score: 2.000",
        "",
        "",
        "Monitored metric val_loss did not improve in the last 3 records. Best score: 2.000. "
        "Signaling Trainer to stop.",
    };
    for (int i = 0; i < 5; i++) {
        bool stop = vkt__es_evaluate(&s, seq[i]);
        assert_int_equal(stop, i == 4);
        assert_string_equal(s.message, msgs[i]);
    }
    assert_int_equal(s.reason, VKT__STOP_PATIENCE_EXHAUSTED);
    assert_int_equal(s.wait_count, 3);

    /* min_delta 0.5 (stored -0.5 for min): 2.6 is no improvement on 3, 2.4 is */
    s = (vkt__es_state){.monitor = "val_loss", .check_finite = true, .min_delta = -0.5f,
                        .best_score = INFINITY, .patience = 3};
    assert_false(vkt__es_evaluate(&s, 3.0f));
    assert_false(vkt__es_evaluate(&s, 2.6f));
    assert_int_equal(s.wait_count, 1);
    assert_false(vkt__es_evaluate(&s, 2.4f));
    assert_string_equal(s.message,
                        "Metric val_loss improved by 0.600 >= min_delta = 0.5. New best score: "
                        "2.400");
    assert_int_equal(s.wait_count, 0);
    /* non-finite first, whatever the patience */
    assert_true(vkt__es_evaluate(&s, NAN));
    assert_string_equal(s.message, "Monitored metric val_loss = tensor(nan) is not finite. "
                                   "Previous best value was 2.400. Signaling Trainer to stop.");
    assert_int_equal(s.reason, VKT__STOP_NON_FINITE_METRIC);
    /* check_finite off: NaN is simply no improvement */
    s.check_finite = false;
    assert_false(vkt__es_evaluate(&s, NAN));
    assert_int_equal(s.wait_count, 1);

    /* max mode: improvement means larger by more than min_delta */
    s = (vkt__es_state){.monitor = "acc", .mode_max = true, .check_finite = true,
                        .min_delta = 0.01f, .best_score = -INFINITY, .patience = 1};
    assert_false(vkt__es_evaluate(&s, 0.5f));
    assert_false(vkt__es_evaluate(&s, 0.55f));
    assert_true(vkt__es_evaluate(&s, 0.555f));
    assert_string_equal(s.message, "Monitored metric acc did not improve in the last 1 records. "
                                   "Best score: 0.550. Signaling Trainer to stop.");
    assert_true(vkt__es_evaluate(&s, -INFINITY));
    assert_non_null(strstr(s.message, "acc = tensor(-inf) is not finite"));
}

/* ---- hparams.yaml for tests/check_hparams_yaml.py ---- */

/* Strings PyYAML's resolver or emitter could misread if written carelessly; the checker holds the
 * same list. */
/* clang-format off */
static const char *const awkward_strings[] = {
    "a: b", "#comment", "x #y", "it's", "say \"hi\"", "back\\slash", "line1\nline2", "trailing\n",
    "\n", "tab\there", "cr\rlf", "\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", "  leading",
    "trailing  ", " ", "yes", "no", "No", "null", "Null", "~", "true", "off", "ON", "1e3", "1.5",
    "-1:30", "190:20:30", "0x1F", "0b101", "0o17", "0777", "1_000", "+.5", ".5", ".inf", "-.inf",
    ".nan", "2024-01-01", "2001-12-14 21:59:43.10 -5", "", "-", "- x", "?", "? x", ":", "::",
    "[list]", "{map}", "&anchor", "*alias", "!tag", "|", ">", "%", "@", "`", "<<", "=", ",",
    "a,b", "\x01" "ctrl", "del\x7f", "nel\xc2\x85", "ls\xe2\x80\xa8", "\xef\xbb\xbf" "bom",
    "long words that go past the eighty column limit of the emitter and so get folded onto the "
    "next line by both emitters",
    "---", "...", "--- x",
};
/* clang-format on */

static vkt_dict *awkward_hparams(void)
{
    vkt_dict *hp = vkt_dict_create();
    assert_non_null(hp);
    vkt_dict *strs = vkt_dict_child(hp, "strings");
    vkt_dict *as_keys = vkt_dict_child(hp, "keys");
    for (size_t i = 0; i < VKT__ARRAY_LEN(awkward_strings); i++) {
        char key[16];
        snprintf(key, sizeof key, "s%02zu", i);
        assert_int_equal(vkt_dict_set_string(strs, key, awkward_strings[i]), VKT_OK);
        assert_int_equal(vkt_dict_set_number(as_keys, awkward_strings[i], (double)i), VKT_OK);
    }
    static const double numbers[] = {
        0,    -5,    32,     9007199254740991.0, 1e17,      0.1, 1e-05,
        -2.5, 1e300, 5e-324, INFINITY,           -INFINITY, NAN, 0.3665059506893158};
    vkt_dict *nums = vkt_dict_child(hp, "numbers");
    for (size_t i = 0; i < VKT__ARRAY_LEN(numbers); i++) {
        char key[16];
        snprintf(key, sizeof key, "n%02zu", i);
        assert_int_equal(vkt_dict_set_number(nums, key, numbers[i]), VKT_OK);
    }
    vkt_dict *deep = vkt_dict_child(vkt_dict_child(vkt_dict_child(hp, "deep"), "er"), "est");
    assert_int_equal(vkt_dict_set_string(deep, "yes", "no"), VKT_OK);
    vkt_dict_child(hp, "empty");
    float w[6] = {1, 2, 3, 4.5f, -0.25f, 1e-3f}, half = 0.5f, inf = INFINITY;
    assert_int_equal(vkt_dict_set_floats(hp, "matrix", w, 2, (int64_t[]){2, 3}), VKT_OK);
    assert_int_equal(vkt_dict_set_floats(hp, "vector", &half, 1, (int64_t[]){1}), VKT_OK);
    assert_int_equal(vkt_dict_set_floats(hp, "scalar", &inf, 0, NULL), VKT_OK);
    assert_int_equal(vkt_dict_set_floats(hp, "none", NULL, 1, (int64_t[]){0}), VKT_OK);
    assert_int_equal(vkt_dict_set_floats(hp, "rows0", NULL, 2, (int64_t[]){2, 0}), VKT_OK);
    return hp;
}

/* --write-hparams DIR: a CSV logger under DIR logs awkward_hparams(); prints hparams.yaml's path */
static int write_hparams(const char *dir)
{
    vkt_logger *l = NULL;
    vkt_dict *hp = awkward_hparams();
    vkt_status s = vkt_csv_logger_create(dir, "", &l);
    if (s == VKT_OK) {
        s = l->log_hyperparams(hp, l->user_data);
    }
    if (s == VKT_OK) {
        printf("%s/hparams.yaml\n", l->log_dir(l->user_data));
    } else {
        fprintf(stderr, "%s\n", vkt_last_error());
    }
    vkt_csv_logger_destroy(l);
    vkt_dict_destroy(hp);
    return s == VKT_OK ? 0 : 1;
}

/* ---- main ---- */

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_test_train_io_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-checkpoint") == 0) {
        vkt_dict *d = sample_checkpoint();
        vkt_status s = vkt_checkpoint_save(d, argv[2]);
        vkt_dict_destroy(d);
        if (s != VKT_OK) {
            fprintf(stderr, "%s\n", vkt_last_error());
            return 1;
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--write-hparams") == 0) {
        return write_hparams(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dict_basics),
        cmocka_unit_test(checkpoint_roundtrip),
        cmocka_unit_test(checkpoint_atomic),
        cmocka_unit_test(checkpoint_corrupt),
        cmocka_unit_test(checkpoint_plain_safetensors),
        cmocka_unit_test(checkpoint_dtypes),
        cmocka_unit_test(checkpoint_strict_json),
        cmocka_unit_test(checkpoint_legacy_file),
        cmocka_unit_test(checkpoint_crc),
        cmocka_unit_test(checkpoint_stale_tmp),
        cmocka_unit_test(dict_json_refuses_arrays),
        cmocka_unit_test(checkpoint_alloc_failures),
        cmocka_unit_test(format_numbers),
        cmocka_unit_test(csv_logger_sample),
        cmocka_unit_test(csv_logger_alloc_failures),
        cmocka_unit_test(progress_bar_lines),
        cmocka_unit_test(model_checkpoint_names),
        cmocka_unit_test(model_checkpoint_topk),
        cmocka_unit_test(early_stopping_decisions),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
