/*
 * test_shape.c — the shape family: shape ops (src/ops/shape.c, src/ops/copy.c), reductions along
 * dimensions (src/ops/reduce_dim.c), softmax / log_softmax (src/ops/softmax.c).
 *   - the device-vs-reference and finite-difference checks of src/check/check_shape.c;
 *   - views share memory; i32 tensors copy bit-exactly; vkt__sum_to_shape accumulates;
 *   - reductions along a dimension are bitwise deterministic on both of their paths;
 *   - error messages name the function, the argument and the shapes;
 *   - agreement with PyTorch: tests/fixtures/torch_shape.txt (argv[1]), made by
 *     tools/make_torch_shape_fixtures.py (no PyTorch needed at test time), within 1e-4 relative.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "ops/broadcast.h"
#include "ops/reduce_dim.h"
#include "ops/shape_internal.h"
#include "test_util.h"

static void shape_matches_reference(void **state)
{
    (void)state;
    test_run_checks("shape");
}

static void reshape_is_a_view(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    float x[24];
    for (int i = 0; i < 24; i++) {
        x[i] = (float)i;
    }
    int64_t s[3] = {2, 3, 4};
    vkt_tensor *t = test_upload(VKT_F32, x, 3, s);
    int64_t rs[2] = {-1, 6};
    vkt_tensor *r = vkt_reshape(t, 2, rs);
    assert_non_null(r);
    assert_int_equal(vkt_tensor_ndim(r), 2);
    assert_int_equal(vkt_tensor_dim(r, 0), 4);
    vkt_tensor *f = vkt_flatten(t, 0, -1);
    assert_int_equal(vkt_tensor_ndim(f), 1);
    assert_int_equal(vkt_tensor_dim(f, 0), 24);
    /* writing the base shows through both views */
    assert_int_equal(vkt_fill(t, 3.0f), VKT_OK);
    float *a = test_fetch(r), *b = test_fetch(f);
    for (int i = 0; i < 24; i++) {
        assert_true(a[i] == 3.0f && b[i] == 3.0f);
    }
    free(a);
    free(b);
    vkt_scope_end(test_dev);
}

/* vkt__range_view shares the base's memory at an aligned offset and copies the range otherwise;
 * the values are the range's either way. */
static void range_view_shares_when_aligned(void **state)
{
    (void)state;
    uint32_t align = vkt_device_get_info(test_dev)->min_storage_buffer_offset_alignment;
    const int64_t offsets[2] = {64, 3}; /* 256 bytes: aligned everywhere; 12 bytes */
    for (int c = 0; c < 2; c++) {
        vkt_scope_begin(test_dev);
        float x[256];
        for (int i = 0; i < 256; i++) {
            x[i] = (float)i;
        }
        int64_t s[2] = {4, 64}, vs[3] = {2, 4, 8};
        vkt_tensor *t = test_upload(VKT_F32, x, 2, s);
        vkt_tensor *v = vkt__range_view(t, offsets[c], 3, vs);
        assert_non_null(v);
        assert_int_equal(vkt_tensor_ndim(v), 3);
        assert_int_equal(vkt_tensor_dim(v, 2), 8);
        float *a = test_fetch(v);
        for (int i = 0; i < 64; i++) {
            assert_true(a[i] == (float)(offsets[c] + i));
        }
        free(a);
        bool shared = align <= 1 || (uint64_t)offsets[c] * sizeof(float) % align == 0;
        assert_true(c == 1 || shared);
        assert_int_equal(vkt_fill(t, -1.0f), VKT_OK);
        a = test_fetch(v);
        for (int i = 0; i < 64; i++) {
            assert_true(a[i] == (shared ? -1.0f : (float)(offsets[c] + i)));
        }
        free(a);
        vkt_scope_end(test_dev);
    }
}

static void i32_copies_are_exact(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int32_t x[6] = {INT32_MIN, -1, 0, 7, 0x7f800001, INT32_MAX}; /* one is a NaN's bits */
    int64_t s[2] = {2, 3};
    vkt_tensor *t = test_upload(VKT_I32, x, 2, s);
    vkt_tensor *tr = vkt_transpose(t, 0, 1);
    const vkt_tensor *parts[2] = {t, t};
    vkt_tensor *c = vkt_cat(parts, 2, 1);
    assert_int_equal(vkt_tensor_dtype(tr), VKT_I32);
    int32_t *a = test_fetch(tr), *b = test_fetch(c);
    int32_t want_t[6] = {x[0], x[3], x[1], x[4], x[2], x[5]};
    int32_t want_c[12] = {x[0], x[1], x[2], x[0], x[1], x[2], x[3], x[4], x[5], x[3], x[4], x[5]};
    assert_memory_equal(a, want_t, sizeof want_t);
    assert_memory_equal(b, want_c, sizeof want_c);
    free(a);
    free(b);
    vkt_scope_end(test_dev);
}

static void sum_to_shape_accumulates(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    /* g (2, 3, 4) summed to (3, 1): over dimension 0 and the last */
    float g[24], init[3] = {10.0f, 20.0f, 30.0f};
    for (int i = 0; i < 24; i++) {
        g[i] = (float)(i % 7) - 2.0f;
    }
    int64_t gs[3] = {2, 3, 4}, os[2] = {3, 1};
    vkt_tensor *gt = test_upload(VKT_F32, g, 3, gs);
    vkt_tensor *out = test_upload(VKT_F32, init, 2, os);
    assert_int_equal(vkt__sum_to_shape(gt, 2, os, out, true), VKT_OK);
    float *got = test_fetch(out);
    for (int j = 0; j < 3; j++) {
        float want = init[j];
        for (int a = 0; a < 2; a++) {
            for (int k = 0; k < 4; k++) {
                want += g[a * 12 + j * 4 + k];
            }
        }
        assert_true(got[j] == want);
    }
    free(got);
    /* a shape g does not broadcast from */
    int64_t bad[1] = {2};
    assert_int_not_equal(vkt__sum_to_shape(gt, 1, bad, out, false), VKT_OK);
    assert_non_null(strstr(vkt_last_error(), "[2, 3, 4] f32"));
    vkt_scope_end(test_dev);
}

/* Three runs of each reduction give the same bits (the strided kernel, permute + rows, rows). */
static void dim_reductions_are_deterministic(void **state)
{
    (void)state;
    static const struct {
        int64_t shape[2];
        int dim;
    } cases[] = {{{1000, 300}, 0}, {{100000, 3}, 0}, {{3, 100000}, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].shape[0] * cases[c].shape[1];
        float *x = malloc((size_t)n * sizeof *x);
        assert_non_null(x);
        uint64_t z = 12345;
        for (int64_t i = 0; i < n; i++) {
            z = z * 6364136223846793005ull + 1442695040888963407ull;
            x[i] = (float)((double)(z >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
        }
        vkt_scope_begin(test_dev);
        vkt_tensor *t = test_upload(VKT_F32, x, 2, cases[c].shape);
        void *first[3] = {0};
        for (int run = 0; run < 3; run++) {
            vkt_tensor *ys[3] = {vkt_sum_dim(t, cases[c].dim, false),
                                 vkt_var_dim(t, cases[c].dim, false, 1.0f),
                                 vkt_softmax(t, cases[c].dim)};
            for (int k = 0; k < 3; k++) {
                void *v = test_fetch(ys[k]);
                if (run == 0) {
                    first[k] = v;
                } else {
                    assert_memory_equal(v, first[k], vkt_tensor_bytes(ys[k]));
                    free(v);
                }
            }
        }
        for (int k = 0; k < 3; k++) {
            free(first[k]);
        }
        vkt_scope_end(test_dev);
        free(x);
    }
}

static void expect_error(vkt_tensor *t, const char *a, const char *b)
{
    assert_null(t);
    const char *e = vkt_last_error();
    if (!strstr(e, a) || (b && !strstr(e, b))) {
        fprintf(stderr, "error \"%s\" lacks \"%s\" / \"%s\"\n", e, a, b ? b : "");
        fail();
    }
}

static void bad_arguments_are_named(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t s[3] = {3, 4, 5}, s2[3] = {3, 2, 5}, s3[2] = {3, 4};
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 3, s);
    vkt_tensor *y = vkt_tensor_new(test_dev, VKT_F32, 3, s2);
    vkt_tensor *z = vkt_tensor_new(test_dev, VKT_F32, 2, s3);
    vkt_tensor *xi = vkt_tensor_new(test_dev, VKT_I32, 3, s);
    assert_int_equal(vkt_fill(x, 0.0f), VKT_OK);
    expect_error(vkt_sum_dim(x, 3, false), "vkt_sum_dim: dim 3 is out of range", "[3, 4, 5] f32");
    expect_error(vkt_softmax(x, -4), "vkt_softmax: dim -4", "[3, 4, 5] f32");
    expect_error(vkt_mean_dim(xi, 0, false), "vkt_mean_dim", "i32");
    int64_t r[2] = {7, -1};
    expect_error(vkt_reshape(x, 2, r), "vkt_reshape: shape [7, -1] is invalid", "[3, 4, 5] f32");
    int64_t r2[2] = {-1, -1};
    expect_error(vkt_reshape(x, 2, r2), "vkt_reshape", "dimension 1 is -1");
    const vkt_tensor *ok_parts[2] = {x, y}, *bad_parts[2] = {x, z};
    assert_non_null(vkt_cat(ok_parts, 2, 1));
    expect_error(vkt_cat(ok_parts, 2, 0), "vkt_cat: part 1 is [3, 2, 5] f32 but part 0 is [3, 4, 5] f32",
                 "except in dimension 0");
    expect_error(vkt_cat(bad_parts, 2, 1), "vkt_cat: part 1 is [3, 4] f32", NULL);
    expect_error(vkt_stack(ok_parts, 2, 0), "vkt_stack: part 1 is [3, 2, 5] f32", "same");
    expect_error(vkt_stack(ok_parts, 2, 4), "vkt_stack: dim 4 is out of range", NULL);
    expect_error(vkt_concat(bad_parts, 2), "vkt_concat: part 1 is [3, 4] f32", NULL);
    int perm[3] = {0, 2, 0};
    expect_error(vkt_permute(x, perm), "vkt_permute: dims repeats dimension 0", "[3, 4, 5] f32");
    expect_error(vkt_narrow(x, 1, 2, 3), "vkt_narrow: start 2, length 3", "size 4");
    expect_error(vkt_slice(x, 2, 4, 2, 1), "vkt_slice: 4:2:1 of dimension 2", "empty");
    expect_error(vkt_slice(x, 2, 0, 2, 0), "vkt_slice: step is 0", NULL);
    int64_t p[3] = {1, 1, 1}, pn[2] = {-3, -2};
    expect_error(vkt_pad(x, 3, p, 0.0f), "vkt_pad: 3 pads", "[3, 4, 5] f32");
    expect_error(vkt_pad(x, 2, pn, 0.0f), "vkt_pad: pads (-3, -2)", "dimension 2");
    int64_t e[3] = {3, 4, 6};
    expect_error(vkt_expand(x, 3, e), "vkt_expand: x [3, 4, 5] f32 cannot expand to [3, 4, 6]",
                 "dimension 2");
    expect_error(vkt_sum_dims(x, 0x8, false), "vkt_sum_dims: mask 0x8", NULL);
    expect_error(vkt_flatten(x, 2, 1), "vkt_flatten: start_dim 2 comes after end_dim 1", NULL);
    /* a NULL input gives NULL and leaves the error alone */
    vkt__error(VKT_ERROR, "marker");
    assert_null(vkt_softmax(NULL, 0));
    assert_null(vkt_transpose(NULL, 0, 1));
    assert_string_equal(vkt_last_error(), "marker");
    vkt_scope_end(test_dev);
}

/* A cat along dim 0 of parts not needing gradients records nothing; arg* never record. */
static void only_differentiable_work_is_recorded(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t s[2] = {3, 4};
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 2, s);
    vkt_tensor *w = vkt_tensor_new(test_dev, VKT_F32, 2, s);
    assert_int_equal(vkt_fill(x, 1.0f), VKT_OK);
    assert_int_equal(vkt_fill(w, 1.0f), VKT_OK);
    vkt_tensor_set_requires_grad(w, true);
    size_t before = vkt_graph_size(test_dev);
    assert_non_null(vkt_argmax_dim(w, 1, false));
    assert_non_null(vkt_softmax(x, 0));
    assert_int_equal(vkt_graph_size(test_dev), before);
    const vkt_tensor *parts[3] = {x, w, w};
    vkt_tensor *c = vkt_cat(parts, 3, 0);
    assert_int_equal(vkt_graph_size(test_dev), before + 2); /* one node per part with a grad */
    assert_int_equal(vkt_backward(vkt_sum(c)), VKT_OK);
    float *g = test_fetch(vkt_tensor_grad(w));
    for (int i = 0; i < 12; i++) {
        assert_true(g[i] == 2.0f); /* w appears twice */
    }
    free(g);
    assert_null(vkt_tensor_grad(x));
    vkt_scope_end(test_dev);
}

/* ---- PyTorch agreement ----------------------------------------------------------------------- */

typedef struct fix {
    char op[32];
    int ndim, dim;
    int64_t shape[VKT_MAX_DIMS];
    float correction;
    int64_t n;
    float *x, *y, *dx; /* input, torch's output, torch's gradient of sum(y * w) ... */
    float *w;          /* ... for these weights */
} fix;

static const char *fixture_path; /* argv[1]: tests/fixtures/torch_shape.txt */

static float *read_floats(FILE *f, int64_t n)
{
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(fscanf(f, "%f", &v[i]), 1);
    }
    return v;
}

static void agrees_with_pytorch(void **state)
{
    (void)state;
    assert_non_null(fixture_path);
    FILE *f = fopen(fixture_path, "r");
    assert_non_null(f);
    char line[256];
    int cases = 0;
    double worst_y = 0.0, worst_dx = 0.0;
    while (fgets(line, sizeof line, f)) {
        fix k = {0};
        long long sh[VKT_MAX_DIMS] = {0};
        if (sscanf(line, "case %31s %d %f %d %lld %lld %lld %lld %lld %lld", k.op, &k.dim,
                   &k.correction, &k.ndim, &sh[0], &sh[1], &sh[2], &sh[3], &sh[4], &sh[5]) < 5) {
            continue;
        }
        k.n = 1;
        for (int d = 0; d < k.ndim; d++) {
            k.shape[d] = sh[d];
            k.n *= sh[d];
        }
        long long yn;
        k.x = read_floats(f, k.n);
        assert_int_equal(fscanf(f, " y %lld", &yn), 1);
        k.y = read_floats(f, yn);
        k.w = read_floats(f, yn);
        k.dx = read_floats(f, k.n);
        vkt_scope_begin(test_dev);
        vkt_tensor *x = test_upload(VKT_F32, k.x, k.ndim, k.shape);
        vkt_tensor_set_requires_grad(x, true);
        vkt_tensor *y = NULL;
        if (strcmp(k.op, "softmax") == 0) {
            y = vkt_softmax(x, k.dim);
        } else if (strcmp(k.op, "log_softmax") == 0) {
            y = vkt_log_softmax(x, k.dim);
        } else if (strcmp(k.op, "var") == 0) {
            y = vkt_var_dim(x, k.dim, false, k.correction);
        } else if (strcmp(k.op, "std") == 0) {
            y = vkt_std_dim(x, k.dim, true, k.correction);
        } else {
            fprintf(stderr, "unknown fixture op %s\n", k.op);
            fail();
        }
        assert_non_null(y);
        assert_int_equal(vkt_tensor_numel(y), yn);
        int64_t ys[VKT_MAX_DIMS];
        for (int d = 0; d < vkt_tensor_ndim(y); d++) {
            ys[d] = vkt_tensor_dim(y, d);
        }
        vkt_tensor *w = test_upload(VKT_F32, k.w, vkt_tensor_ndim(y), ys);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, w))), VKT_OK);
        float *gy = test_fetch(y), *gdx = test_fetch(vkt_tensor_grad(x));
        double ey = test_rel_err(gy, k.y, yn, 1e-3), edx = test_rel_err(gdx, k.dx, k.n, 1e-3);
        worst_y = ey > worst_y ? ey : worst_y;
        worst_dx = edx > worst_dx ? edx : worst_dx;
        if (!(ey <= 1e-4 && edx <= 1e-4)) {
            fprintf(stderr, "%s dim %d: y off by %.3g, dx by %.3g (relative)\n", k.op, k.dim, ey,
                    edx);
            fail();
        }
        free(gy);
        free(gdx);
        vkt_scope_end(test_dev);
        free(k.x);
        free(k.y);
        free(k.w);
        free(k.dx);
        cases++;
    }
    fclose(f);
    printf("worst relative error against torch over %d cases (tol 1e-4): values %.3g, gradients "
           "%.3g\n",
           cases, worst_y, worst_dx);
    assert_true(cases >= 12);
}

int main(int argc, char **argv)
{
    fixture_path = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        VKT_TEST(shape_matches_reference),
        VKT_TEST(reshape_is_a_view),
        VKT_TEST(range_view_shares_when_aligned),
        VKT_TEST(i32_copies_are_exact),
        VKT_TEST(sum_to_shape_accumulates),
        VKT_TEST(dim_reductions_are_deterministic),
        VKT_TEST(bad_arguments_are_named),
        VKT_TEST(only_differentiable_work_is_recorded),
        VKT_TEST(agrees_with_pytorch),
    };
    return VKT_RUN_GROUP(tests);
}
