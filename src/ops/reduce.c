/*
 * reduce.c — sum, mean, max, min, argmax (whole tensor and per row), count_equal, and, beside
 * each differentiable forward, its backward (registered in src/ops/op_table.h).
 *
 * Shaders: shaders/reduce.glsl, compiled as reduce_sg.comp (subgroup arithmetic, used when
 * vkt__device_caps(dev)->subgroup_arith) and reduce_smem.comp (shared-memory tree);
 * shaders/reduce_backward.comp. CPU reference: src/ref/ref_reduce.c. Checks:
 * src/check/check_reduce.c. Tests: tests/test_reduce.c. Design: docs/reductions.md.
 *
 * Every reduction is "rows x cols -> rows" (a whole tensor is one row) and runs as a fixed
 * sequence of levels: level 1 reduces each row with `splits` workgroups into partials, each later
 * level reduces the partials of a row the same way, and the level with splits == 1 writes the
 * result. The levels, the workgroup size and every invocation's strided set of elements depend
 * only on the device's caps and the shape, so a given input always gives the same bits.
 */
#include "ops/reduce_dim.h"
#include "shaders/reduce_ops.h"

/* Mirrors `PC` in shaders/reduce.glsl. */
typedef struct vkt__pc_reduce {
    uint32_t rows;
    uint32_t cols;
    uint32_t splits;
    uint32_t negate;
    float div;
    uint32_t write_value;
} vkt__pc_reduce;
_Static_assert(sizeof(vkt__pc_reduce) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/reduce_backward.comp. */
typedef struct vkt__pc_reduce_backward {
    uint32_t rows;
    uint32_t cols;
    float div;
} vkt__pc_reduce_backward;
_Static_assert(sizeof(vkt__pc_reduce_backward) <= VKT__PUSH_MAX, "push constants");

/* Rows of at most this many elements are reduced by one invocation each (THREAD_ROWS): no
 * workgroup combine, no barriers, and 10^5 short rows take a few hundred workgroups. */
#define RED_THREAD_ROW_MAX 32u
/* Smallest workgroup used for a row. */
#define RED_MIN_WG 32u
/* A row is given the smallest power-of-two workgroup (>= RED_MIN_WG, <= caps->reduce_wg) whose
 * invocations get at most this many elements each. */
#define RED_ROW_ITEMS 4u
/* A row longer than wg * RED_SPLIT_ITEMS is split over several workgroups (multi-level). */
#define RED_SPLIT_ITEMS 16u
/* At most this many workgroups per row on one level: a CPU device runs a handful of workgroups
 * at once, a GPU needs many in flight. Both are <= 256 * RED_SPLIT_ITEMS, so with the default
 * workgroup size the level after a split never splits again (reduce_run handles it if it does). */
#define RED_MAX_SPLITS_GPU 1024u
#define RED_MAX_SPLITS_CPU 64u

#define RB_WG 256u

typedef struct reduce_job {
    uint32_t op;            /* RED_* */
    const vkt_tensor *a;    /* input (rows x cols elements) */
    const vkt_tensor *b;    /* count_equal's second input, else NULL */
    uint32_t rows, cols;
    bool negate;            /* min via max of -x */
    float div;              /* sum: result divided by this (mean) */
    vkt_tensor *out_val;    /* (rows) result values; NULL for argmax without values */
    vkt_tensor *out_idx;    /* (rows) i32 argmax indices (RED_ARGMAX only) */
} reduce_job;

static uint32_t pick_wg(const vkt__caps *caps, uint32_t cols)
{
    uint32_t wg = caps->reduce_wg;
    while (wg / 2 >= RED_MIN_WG && (uint64_t)(wg / 2) * RED_ROW_ITEMS >= cols) {
        wg /= 2;
    }
    return wg;
}

static uint32_t pick_splits(const vkt__caps *caps, uint32_t cols, uint32_t wg)
{
    uint64_t per_group = (uint64_t)wg * RED_SPLIT_ITEMS;
    if (cols <= per_group) {
        return 1;
    }
    uint64_t s = VKT__DIV_UP((uint64_t)cols, per_group);
    uint32_t max = caps->cpu_like ? RED_MAX_SPLITS_CPU : RED_MAX_SPLITS_GPU;
    return s < max ? (uint32_t)s : max;
}

/* Records every level of one reduction. */
static vkt_status reduce_run(const reduce_job *j)
{
    vkt_device *dev = j->a->dev;
    const vkt__caps *caps = vkt__device_caps(dev);
    vkt__shader_id shader = caps->subgroup_arith ? VKT__SHADER_REDUCE_SG : VKT__SHADER_REDUCE_SMEM;
    bool count = j->op == RED_COUNT_F32 || j->op == RED_COUNT_I32;
    bool aux = j->op == RED_SUM || j->op == RED_ARGMAX;
    vkt__binding in0 = vkt__bind(j->a, VKT__READ);
    vkt__binding in1 = j->b ? vkt__bind(j->b, VKT__READ) : (vkt__binding){0};
    vkt_tensor *pv = NULL, *pa = NULL; /* partial values / aux read by the current level */
    uint32_t op = j->op, cols = j->cols;
    vkt_status s = VKT_OK;
    for (uint32_t from_partials = 0;; from_partials = 1) {
        bool thread_rows = cols <= RED_THREAD_ROW_MAX;
        uint32_t wg = thread_rows ? caps->reduce_wg : pick_wg(caps, cols);
        uint32_t splits = thread_rows ? 1 : pick_splits(caps, cols, wg);
        vkt__pc_reduce pc = {
            .rows = j->rows,
            .cols = cols,
            .splits = splits,
            .negate = j->negate,
            .div = j->div,
            .write_value = j->out_val != NULL,
        };
        vkt__dispatch_desc d = {
            .shader = shader,
            .spec = {wg, op, from_partials, thread_rows},
            .spec_count = 4,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {in0, in1},
        };
        vkt__groups_2d(thread_rows ? VKT__DIV_UP(j->rows, wg) : (uint64_t)j->rows * splits,
                       d.groups);
        /* The shader statically writes both outputs, so an unused output slot aliases the used
         * one instead of getting the recorder's shared dummy buffer (which every dispatch may
         * read: a static write there is a hazard for the synchronization validator). */
        if (splits == 1) {
            d.bindings[2] = vkt__bind(j->out_val ? j->out_val : j->out_idx, VKT__WRITE);
            d.bindings[3] = vkt__bind(j->out_idx ? j->out_idx : j->out_val, VKT__WRITE);
            s = vkt__dispatch(dev, &d);
            break;
        }
        int64_t n = (int64_t)j->rows * splits;
        vkt_tensor *nv = vkt_tensor_new(dev, count ? VKT_I32 : VKT_F32, 1, &n);
        vkt_tensor *na = aux ? vkt_tensor_new(dev, op == RED_ARGMAX ? VKT_I32 : VKT_F32, 1, &n)
                             : NULL;
        if (!nv || (aux && !na)) {
            vkt_tensor_free(nv);
            vkt_tensor_free(na);
            s = vkt_last_status();
            break;
        }
        d.bindings[2] = vkt__bind(nv, VKT__WRITE);
        d.bindings[3] = vkt__bind(na ? na : nv, VKT__WRITE);
        s = vkt__dispatch(dev, &d);
        vkt_tensor_free(pv); /* released once the work reading it has finished */
        vkt_tensor_free(pa);
        pv = nv;
        pa = na;
        if (s != VKT_OK) {
            break;
        }
        in0 = vkt__bind(pv, VKT__READ);
        in1 = pa ? vkt__bind(pa, VKT__READ) : (vkt__binding){0};
        cols = splits;
        op = count ? RED_COUNT_I32 : op; /* partial counts are integers whatever the input */
    }
    vkt_tensor_free(pv);
    vkt_tensor_free(pa);
    return s;
}

vkt_status vkt__reduce_rows(const vkt_tensor *x, uint32_t rows, uint32_t cols, bool arg,
                             bool negate, float div, vkt_tensor *out_val, vkt_tensor *out_idx)
{
    reduce_job j = {
        .op = arg ? RED_ARGMAX : RED_SUM,
        .a = x,
        .rows = rows,
        .cols = cols,
        .negate = negate,
        .div = div,
        .out_val = out_val,
        .out_idx = arg ? out_idx : NULL,
    };
    return reduce_run(&j);
}

typedef enum reduce_kind {
    K_SUM,
    K_MEAN,
    K_MAX,
    K_MIN,
    K_ARGMAX,
} reduce_kind;

/* One whole-tensor (per_row false) or per-row reduction of an f32 tensor. */
static vkt_tensor *reduce_forward(const char *name, vkt__op node_op, reduce_kind k,
                                  const vkt_tensor *x, bool per_row)
{
    if (!x) {
        return NULL;
    }
    if (!vkt__check_dtype(name, "x", x, VKT_F32)) {
        return NULL;
    }
    if (per_row && !vkt__check_ndim(name, "x", x, 2)) {
        return NULL;
    }
    uint32_t rows = per_row ? (uint32_t)x->shape[0] : 1;
    uint32_t cols = per_row ? (uint32_t)x->shape[1] : (uint32_t)x->numel;
    int64_t oshape[1] = {rows};
    bool grad = k != K_ARGMAX && vkt__any_requires_grad(x, NULL, NULL);
    vkt_tensor *out = vkt__new_output(x->dev, k == K_ARGMAX ? VKT_I32 : VKT_F32, 1, oshape);
    if (!out) {
        return NULL;
    }
    /* max/min with a gradient also keep the (first) extreme element's index for backward */
    vkt_tensor *idx = NULL;
    if (grad && (k == K_MAX || k == K_MIN)) {
        idx = vkt_tensor_new(x->dev, VKT_I32, 1, oshape);
        if (!idx) {
            vkt_tensor_free(out);
            return NULL;
        }
    }
    reduce_job j = {
        .op = RED_SUM,
        .a = x,
        .rows = rows,
        .cols = cols,
        .negate = k == K_MIN,
        .div = k == K_MEAN ? (float)cols : 1.0f,
        .out_val = out,
    };
    if (k == K_MAX || k == K_MIN) {
        j.op = idx ? RED_ARGMAX : RED_MAX;
        j.out_idx = idx;
    } else if (k == K_ARGMAX) {
        j.op = RED_ARGMAX;
        j.out_val = NULL;
        j.out_idx = out;
    }
    if (reduce_run(&j) != VKT_OK) {
        vkt__error_context("%s", name);
        vkt_tensor_free(idx);
        vkt_tensor_free(out);
        return NULL;
    }
    if (grad) {
        vkt__node *n = vkt__record(node_op, out, x, NULL, NULL);
        if (!n) {
            vkt_tensor_free(idx);
            vkt_tensor_free(out);
            return NULL;
        }
        n->saved = vkt__ref(idx);
    }
    vkt_tensor_free(idx); /* the node holds its own reference */
    return out;
}

/* dx (rows x cols) += broadcast(gout) / div, or dx[r, idx[r]] += gout[r]. */
static vkt_status backward_dispatch(uint32_t mode, const vkt_tensor *gout, const vkt_tensor *idx,
                                    vkt_tensor *dx, uint32_t rows, uint32_t cols, float div)
{
    vkt__pc_reduce_backward pc = {rows, cols, div};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_REDUCE_BACKWARD,
        .spec = {RB_WG, mode},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(gout, VKT__READ),
                idx ? vkt__bind(idx, VKT__READ) : (vkt__binding){0},
                vkt__bind(dx, VKT__RW),
            },
    };
    vkt__elementwise_groups(mode == RB_SCATTER ? rows : (uint64_t)rows * cols, RB_WG, d.groups);
    return vkt__dispatch(dx->dev, &d);
}

/* The backward of every reduction: dx += gout broadcast over each row (divided by cols for
 * mean), or, for max/min, gout scattered to the first extreme element saved by the forward. */
static vkt_status reduce_backward(const vkt__node *n, const vkt_tensor *gout, reduce_kind k,
                                  bool per_row)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    uint32_t rows = per_row ? (uint32_t)x->shape[0] : 1;
    uint32_t cols = per_row ? (uint32_t)x->shape[1] : (uint32_t)x->numel;
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    if (k == K_SUM || k == K_MEAN) {
        return backward_dispatch(RB_BROADCAST, gout, NULL, g, rows, cols,
                                 k == K_MEAN ? (float)cols : 1.0f);
    }
    if (!n->saved) {
        return vkt__error(VKT_ERROR, "reduce backward: max/min node without saved indices");
    }
    return backward_dispatch(RB_SCATTER, gout, n->saved, g, rows, cols, 1.0f);
}

vkt_tensor *vkt_sum(const vkt_tensor *x)
{
    return reduce_forward("vkt_sum", VKT__OP_SUM, K_SUM, x, false);
}

vkt_status vkt__sum_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_SUM, false);
}

vkt_tensor *vkt_mean(const vkt_tensor *x)
{
    return reduce_forward("vkt_mean", VKT__OP_MEAN, K_MEAN, x, false);
}

vkt_status vkt__mean_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_MEAN, false);
}

vkt_tensor *vkt_max(const vkt_tensor *x)
{
    return reduce_forward("vkt_max", VKT__OP_MAX, K_MAX, x, false);
}

vkt_status vkt__max_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_MAX, false);
}

vkt_tensor *vkt_min(const vkt_tensor *x)
{
    return reduce_forward("vkt_min", VKT__OP_MIN, K_MIN, x, false);
}

vkt_status vkt__min_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_MIN, false);
}

vkt_tensor *vkt_argmax(const vkt_tensor *x)
{
    return reduce_forward("vkt_argmax", VKT__OP_NONE, K_ARGMAX, x, false);
}

vkt_tensor *vkt_sum_rows(const vkt_tensor *x)
{
    return reduce_forward("vkt_sum_rows", VKT__OP_SUM_ROWS, K_SUM, x, true);
}

vkt_status vkt__sum_rows_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_SUM, true);
}

vkt_tensor *vkt_mean_rows(const vkt_tensor *x)
{
    return reduce_forward("vkt_mean_rows", VKT__OP_MEAN_ROWS, K_MEAN, x, true);
}

vkt_status vkt__mean_rows_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_MEAN, true);
}

vkt_tensor *vkt_max_rows(const vkt_tensor *x)
{
    return reduce_forward("vkt_max_rows", VKT__OP_MAX_ROWS, K_MAX, x, true);
}

vkt_status vkt__max_rows_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_MAX, true);
}

vkt_tensor *vkt_min_rows(const vkt_tensor *x)
{
    return reduce_forward("vkt_min_rows", VKT__OP_MIN_ROWS, K_MIN, x, true);
}

vkt_status vkt__min_rows_backward(vkt__node *n, const vkt_tensor *gout)
{
    return reduce_backward(n, gout, K_MIN, true);
}

vkt_tensor *vkt_argmax_rows(const vkt_tensor *x)
{
    return reduce_forward("vkt_argmax_rows", VKT__OP_NONE, K_ARGMAX, x, true);
}

vkt_tensor *vkt_count_equal(const vkt_tensor *a, const vkt_tensor *b)
{
    if (!a || !b) {
        return NULL;
    }
    const char *name = "vkt_count_equal";
    /* same shape includes the same dtype; both dtypes (f32, i32) are supported */
    if (!vkt__check_same_device(name, a, b) || !vkt__check_same_shape(name, a, b)) {
        return NULL;
    }
    int64_t one = 1;
    vkt_tensor *out = vkt__new_output(a->dev, VKT_I32, 1, &one);
    if (!out) {
        return NULL;
    }
    reduce_job j = {
        .op = a->dtype == VKT_F32 ? RED_COUNT_F32 : RED_COUNT_I32,
        .a = a,
        .b = b,
        .rows = 1,
        .cols = (uint32_t)a->numel,
        .div = 1.0f,
        .out_val = out,
    };
    if (reduce_run(&j) != VKT_OK) {
        vkt__error_context("%s", name);
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}
