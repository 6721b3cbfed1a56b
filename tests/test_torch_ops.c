/*
 * test_torch_ops.c — PyTorch agreement for single ops: unary, broadcasting binary and comparison,
 * shape ops, and reductions along a dimension, on awkward shapes, from
 * tests/fixtures/torch_ops.safetensors (argv[1]; made by tools/make_torch_ops_fixture.py, whose
 * header lists the tensors). Each case runs its op in vkt on the fixture's inputs (those with a
 * gradient in the fixture require one), backpropagates sum(y * W) and compares y and every
 * gradient within 1e-4 of max(1, |torch|). The worst error per family is printed. The fixture's
 * cases and OPS_CASES below must be the same set, with the same inputs and differentiable ones,
 * so the generator and the test cannot drift apart silently.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define TOL 1e-4
enum { MAX_IN = 4 };

#define FAMILIES(X) X(UNARY, "unary") X(BINARY, "binary") X(SHAPE, "shape") X(REDUCE, "reduce")
enum {
#define X(id, name) FAM_##id,
    FAMILIES(X)
#undef X
        FAM_COUNT
};
static const char *const fam_names[] = {
#define X(id, name) name,
    FAMILIES(X)
#undef X
};
_Static_assert(sizeof fam_names / sizeof fam_names[0] == FAM_COUNT, "a name per family");

#define G0 1u
#define G01 3u
#define G012 7u
#define G23 12u
#define ARR(T, ...) ((const T[]){__VA_ARGS__})
#define PARTS3 ARR(const vkt_tensor *, in[0], in[1], in[2])

/* X(case, family, inputs, mask of differentiable inputs (0: forward only), expression of in[]) */
#define OPS_CASES(X)                                                                              \
    X(exp, UNARY, 1, G0, vkt_exp(in[0]))                                                          \
    X(ln, UNARY, 1, G0, vkt_ln(in[0]))                                                            \
    X(sqrt, UNARY, 1, G0, vkt_sqrt(in[0]))                                                        \
    X(rsqrt, UNARY, 1, G0, vkt_rsqrt(in[0]))                                                      \
    X(abs, UNARY, 1, G0, vkt_abs(in[0]))                                                          \
    X(neg, UNARY, 1, G0, vkt_neg(in[0]))                                                          \
    X(tanh, UNARY, 1, G0, vkt_tanh(in[0]))                                                        \
    X(sigmoid, UNARY, 1, G0, vkt_sigmoid(in[0]))                                                  \
    X(relu, UNARY, 1, G0, vkt_relu(in[0]))                                                        \
    X(gelu, UNARY, 1, G0, vkt_gelu(in[0]))                                                        \
    X(gelu_tanh, UNARY, 1, G0, vkt_gelu_tanh(in[0]))                                              \
    X(silu, UNARY, 1, G0, vkt_silu(in[0]))                                                        \
    X(leaky_relu, UNARY, 1, G0, vkt_leaky_relu(in[0], 0.1f))                                      \
    X(elu, UNARY, 1, G0, vkt_elu(in[0], 1.0f))                                                    \
    X(clamp, UNARY, 1, G0, vkt_clamp(in[0], -0.5f, 0.7f))                                         \
    X(pow_scalar3, UNARY, 1, G0, vkt_pow_scalar(in[0], 3.0f))                                     \
    X(pow_scalar_half, UNARY, 1, G0, vkt_pow_scalar(in[0], 0.5f))                                 \
    X(softplus, UNARY, 1, G0, vkt_softplus(in[0]))                                                \
    X(log1p, UNARY, 1, G0, vkt_log1p(in[0]))                                                      \
    X(add, BINARY, 2, G01, vkt_add(in[0], in[1]))                                                 \
    X(sub, BINARY, 2, G01, vkt_sub(in[0], in[1]))                                                 \
    X(mul, BINARY, 2, G01, vkt_mul(in[0], in[1]))                                                 \
    X(div, BINARY, 2, G01, vkt_div(in[0], in[1]))                                                 \
    X(maximum, BINARY, 2, G01, vkt_maximum(in[0], in[1]))                                         \
    X(minimum, BINARY, 2, G01, vkt_minimum(in[0], in[1]))                                         \
    X(pow, BINARY, 2, G01, vkt_pow(in[0], in[1]))                                                 \
    X(where, BINARY, 4, G23, vkt_where(vkt_gt(in[0], in[1]), in[2], in[3]))                       \
    X(eq, BINARY, 2, 0, vkt_eq(in[0], in[1]))                                                     \
    X(ne, BINARY, 2, 0, vkt_ne(in[0], in[1]))                                                     \
    X(lt, BINARY, 2, 0, vkt_lt(in[0], in[1]))                                                     \
    X(le, BINARY, 2, 0, vkt_le(in[0], in[1]))                                                     \
    X(gt, BINARY, 2, 0, vkt_gt(in[0], in[1]))                                                     \
    X(ge, BINARY, 2, 0, vkt_ge(in[0], in[1]))                                                     \
    X(reshape, SHAPE, 1, G0, vkt_reshape(in[0], 2, ARR(int64_t, 4, -1)))                          \
    X(flatten, SHAPE, 1, G0, vkt_flatten(in[0], 0, 1))                                            \
    X(permute, SHAPE, 1, G0, vkt_permute(in[0], ARR(int, 2, 0, 1)))                               \
    X(transpose, SHAPE, 1, G0, vkt_transpose(in[0], 0, 2))                                        \
    X(narrow, SHAPE, 1, G0, vkt_narrow(in[0], 1, 2, 4))                                           \
    X(slice_step, SHAPE, 1, G0, vkt_slice(in[0], 0, 3, 60, 4))                                    \
    X(slice_step_last, SHAPE, 1, G0, vkt_slice(in[0], -1, 0, 4, 3))                               \
    X(cat, SHAPE, 3, G012, vkt_cat(PARTS3, 3, 1))                                                 \
    X(stack, SHAPE, 3, G012, vkt_stack(PARTS3, 3, 1))                                             \
    X(pad, SHAPE, 1, G0, vkt_pad(in[0], 4, ARR(int64_t, 1, 2, 0, 1), 0.5f))                       \
    X(pad_crop, SHAPE, 1, G0, vkt_pad(in[0], 4, ARR(int64_t, -1, 2, 1, -1), 0.0f))                \
    X(expand, SHAPE, 1, G0, vkt_expand(in[0], 4, ARR(int64_t, 2, -1, 4, -1)))                     \
    REDUCE_CASES(X, sum, G0)                                                                      \
    REDUCE_CASES(X, mean, G0)                                                                     \
    REDUCE_CASES(X, max, G0)                                                                      \
    REDUCE_CASES(X, min, G0)                                                                      \
    REDUCE_CASES(X, argmax, 0)                                                                    \
    REDUCE_CASES(X, argmin, 0)                                                                    \
    X(var_dim1_keep, REDUCE, 1, G0, vkt_var_dim(in[0], 1, true, 1.0f))                            \
    X(var_dim0, REDUCE, 1, G0, vkt_var_dim(in[0], 0, false, 1.0f))                                \
    X(std_dim1_keep, REDUCE, 1, G0, vkt_std_dim(in[0], 1, true, 1.0f))                            \
    X(std_dim0, REDUCE, 1, G0, vkt_std_dim(in[0], 0, false, 1.0f))

/* the generator's two reduction cases: (2,3,4) along 1 with keepdim, (65,7) along 0 without */
#define REDUCE_CASES(X, op, g)                                                                    \
    X(op##_dim1_keep, REDUCE, 1, g, vkt_##op##_dim(in[0], 1, true))                               \
    X(op##_dim0, REDUCE, 1, g, vkt_##op##_dim(in[0], 0, false))

#define X(name, fam, n, g, ...)                                                                   \
    static vkt_tensor *op_##name(vkt_tensor *const *in)                                           \
    {                                                                                             \
        return __VA_ARGS__;                                                                       \
    }
OPS_CASES(X)
#undef X

typedef struct ops_case {
    const char *name;
    int family;
    int n_in;
    unsigned grads; /* bit i: input i is differentiable */
    vkt_tensor *(*run)(vkt_tensor *const *in);
} ops_case;

static const ops_case cases[] = {
#define X(name, fam, n, g, ...) {#name, FAM_##fam, n, g, op_##name},
    OPS_CASES(X)
#undef X
};
enum { N_CASES = sizeof cases / sizeof cases[0] };
_Static_assert(N_CASES > 0, "cases");

static const char *fixture_path;
static double worst[FAM_COUNT];
static int failures;

static const float *get(const vkt_dict *fx, const char *name, const char *what, int *ndim,
                        int64_t *shape)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", name, what);
    return vkt_dict_get_floats(fx, key, ndim, shape);
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    return n;
}

static void record(const ops_case *c, const char *what, double e)
{
    worst[c->family] = fmax(worst[c->family], e);
    if (!(e <= TOL)) {
        fprintf(stderr, "%s/%s: relative error %.3g > %g\n", c->name, what, e, TOL);
        failures++;
    }
}

/* t as floats (i32 converted), after checking its shape is the fixture's */
static float *fetch(const ops_case *c, const char *what, const vkt_tensor *t, int ndim,
                    const int64_t *shape)
{
    if (!t) {
        fail_msg("%s/%s: %s", c->name, what, vkt_last_error());
    }
    assert_int_equal(vkt_tensor_ndim(t), ndim);
    for (int i = 0; i < ndim; i++) {
        assert_int_equal(vkt_tensor_dim(t, i), shape[i]);
    }
    int64_t n = vkt_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    assert_int_equal(vkt_tensor_download(t, v, (size_t)n * sizeof *v), VKT_OK);
    if (vkt_tensor_dtype(t) == VKT_I32) {
        for (int64_t i = 0; i < n; i++) {
            int32_t k;
            memcpy(&k, &v[i], sizeof k);
            v[i] = (float)k;
        }
    }
    return v;
}

static vkt_tensor *upload(const float *v, int ndim, const int64_t *shape)
{
    return test_upload(VKT_F32, v, ndim, shape);
}

static void run_case(const vkt_dict *fx, const ops_case *c)
{
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    char what[16];
    vkt_scope_begin(test_dev);
    vkt_tensor *in[MAX_IN] = {0};
    for (int i = 0; i < MAX_IN; i++) {
        snprintf(what, sizeof what, "in%d", i);
        const float *v = get(fx, c->name, what, &ndim, shape);
        if (i >= c->n_in) {
            assert_null(v);
            continue;
        }
        if (!v) {
            fail_msg("the fixture has no %s/%s", c->name, what);
        }
        in[i] = upload(v, ndim, shape);
        snprintf(what, sizeof what, "grad%d", i);
        bool has_grad = get(fx, c->name, what, &ndim, shape) != NULL;
        if (has_grad != ((c->grads >> i & 1u) != 0)) {
            fail_msg("%s: input %d is%s differentiable in the fixture", c->name, i,
                     has_grad ? "" : " not");
        }
        vkt_tensor_set_requires_grad(in[i], has_grad);
    }
    vkt_tensor *y = c->run(in);
    const float *want = get(fx, c->name, "y", &ndim, shape);
    if (!want) {
        fail_msg("the fixture has no %s/y", c->name);
    }
    float *got = fetch(c, "y", y, ndim, shape);
    record(c, "y", test_rel_err(got, want, numel(ndim, shape), 1.0));
    free(got);
    if (c->grads) {
        const float *w = get(fx, c->name, "W", &ndim, shape);
        assert_non_null(w);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, upload(w, ndim, shape)))), VKT_OK);
        for (int i = 0; i < c->n_in; i++) {
            if (!(c->grads >> i & 1u)) {
                continue;
            }
            snprintf(what, sizeof what, "grad%d", i);
            want = get(fx, c->name, what, &ndim, shape);
            got = fetch(c, what, vkt_tensor_grad(in[i]), ndim, shape);
            record(c, what, test_rel_err(got, want, numel(ndim, shape), 1.0));
            free(got);
        }
    }
    vkt_scope_end(test_dev);
}

/* every "<case>/..." key of the fixture must belong to a case of the table */
static void check_fixture_cases(const vkt_dict *fx)
{
    const char *prev = "";
    size_t prev_len = 0;
    for (uint32_t k = 0; k < vkt_dict_count(fx); k++) {
        const char *key = vkt_dict_key(fx, k);
        const char *slash = strchr(key, '/');
        size_t len = slash ? (size_t)(slash - key) : strlen(key);
        if (len == prev_len && strncmp(key, prev, len) == 0) {
            continue; /* the case of the previous key: reported once */
        }
        prev = key, prev_len = len;
        bool known = false;
        for (int i = 0; i < N_CASES && !known; i++) {
            known = strlen(cases[i].name) == len && strncmp(cases[i].name, key, len) == 0;
        }
        if (!known) {
            fprintf(stderr, "fixture case %.*s (key %s) is not in the test's table\n", (int)len,
                    key, key);
            failures++;
        }
    }
}

static void ops_agree_with_torch(void **state)
{
    (void)state;
    vkt_dict *fx = NULL;
    assert_int_equal(vkt_checkpoint_load(fixture_path, &fx), VKT_OK);
    check_fixture_cases(fx);
    for (int i = 0; i < N_CASES; i++) {
        run_case(fx, &cases[i]);
    }
    fprintf(stderr, "%d ops, worst relative error against torch (tol %g):", N_CASES, TOL);
    for (int f = 0; f < FAM_COUNT; f++) {
        fprintf(stderr, " %s %.2g%s", fam_names[f], worst[f], f + 1 < FAM_COUNT ? "," : "\n");
    }
    vkt_dict_destroy(fx);
    assert_int_equal(failures, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s tests/fixtures/torch_ops.safetensors\n", argv[0]);
        return 2;
    }
    fixture_path = argv[1];
    const struct CMUnitTest tests[] = {
        VKT_TEST(ops_agree_with_torch),
    };
    return VKT_RUN_GROUP(tests);
}
