/*
 * graph.c — the tape and reverse-mode autograd.
 *
 * Ops append a node when an input requires a gradient; the tape is therefore already in
 * topological order, and vkt_backward walks it backwards once, calling each node's backward
 * through the op table (vkt__op_backward, src/ops/op_table.h); it names no op.
 * Gradients accumulate (like PyTorch): call vkt_zero_grad, or fill the gradient block, between
 * steps.
 * First touch: an intermediate's gradient is not zero-filled. It is allocated (or, on a later
 * backward, marked) unwritten (grad_unwritten), and the first backward that writes all of it
 * (vkt__grad_first) overwrites it; later contributions accumulate. A backward that adds into a
 * part of it (vkt__grad_of) fills it with zeros first, and so does every reader outside the
 * backward pass (vkt_tensor_grad). A node whose output gradient is still unwritten when the walk
 * reaches it received nothing: it is skipped (it would add zeros). Leaves' gradients (parameters,
 * the model's gradient block) are never marked unwritten: accumulation across backward passes
 * and steps is unchanged.
 * An observer (vkt__set_grad_ready) hears of each leaf once the walk has passed its first node on
 * the tape, the last to add to its gradient: DDP starts reducing finished gradients there.
 */
#include <string.h>

#include "tensor/tensor_impl.h"


static void node_free(vkt__node *n)
{
    vkt__unref(n->out);
    for (int i = 0; i < 3; i++) {
        vkt__unref(n->in[i]);
    }
    vkt__unref(n->saved);
    vkt__unref(n->saved2);
    free(n);
}

void vkt__tape_truncate(vkt_device *dev, uint32_t keep)
{
    uint32_t *count, *cap;
    vkt__node ***tape = vkt__tape(dev, &count, &cap);
    if (!tape) {
        return;
    }
    while (*count > keep) {
        vkt__node *n = (*tape)[--*count];
        if (n->out && n->out->node == n) {
            n->out->node = NULL;
        }
        node_free(n);
    }
}

void vkt_graph_clear(vkt_device *dev) { vkt__tape_truncate(dev, 0); }

size_t vkt_graph_size(const vkt_device *dev)
{
    uint32_t *count, *cap;
    vkt__node ***tape = vkt__tape((vkt_device *)dev, &count, &cap);
    return tape ? *count : 0;
}

bool vkt__any_requires_grad(const vkt_tensor *a, const vkt_tensor *b, const vkt_tensor *c)
{
    return (a && a->requires_grad) || (b && b->requires_grad) || (c && c->requires_grad);
}

vkt__node *vkt__record(vkt__op op, vkt_tensor *out, const vkt_tensor *in0, const vkt_tensor *in1,
                       const vkt_tensor *in2)
{
    uint32_t *count, *cap;
    vkt__node ***tape = vkt__tape(out->dev, &count, &cap);
    vkt__node *n = vkt__calloc(1, sizeof *n);
    if (!tape || !n || !vkt__grow((void **)tape, cap, *count + 1, sizeof **tape)) {
        free(n);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory recording the graph");
        return NULL;
    }
    n->op = op;
    n->out = vkt__ref(out);
    n->in[0] = vkt__ref((vkt_tensor *)in0);
    n->in[1] = vkt__ref((vkt_tensor *)in1);
    n->in[2] = vkt__ref((vkt_tensor *)in2);
    out->node = n;
    out->requires_grad = true;
    (*tape)[(*count)++] = n;
    return n;
}

/* t's gradient, allocated unwritten if it has none. */
static vkt_tensor *grad_alloc(vkt_tensor *t)
{
    if (t->grad) {
        return t->grad;
    }
    /* the gradient must not land in a scope: it lives as long as its tensor */
    vkt_tensor *g = vkt_tensor_new(t->dev, VKT_F32, t->ndim, t->shape);
    if (!g) {
        return NULL;
    }
    vkt_tensor_keep(g);
    g->user_owned = false; /* owned through t->grad's reference only */
    t->grad = g;
    t->grad_unwritten = true;
    return g;
}

vkt_tensor *vkt__grad_of(vkt_tensor *t)
{
    vkt_tensor *g = grad_alloc(t);
    if (g && t->grad_unwritten) {
        if (vkt_fill(g, 0.0f) != VKT_OK) {
            return NULL;
        }
        t->grad_unwritten = false;
    }
    return g;
}

vkt_tensor *vkt__grad_first(vkt_tensor *t, bool *accumulate)
{
    vkt_tensor *g = grad_alloc(t);
    if (g) {
        *accumulate = !t->grad_unwritten;
        t->grad_unwritten = false;
    }
    return g;
}

void vkt_tensor_set_requires_grad(vkt_tensor *t, bool on)
{
    if (t) {
        t->requires_grad = on;
    }
}

bool vkt_tensor_requires_grad(const vkt_tensor *t) { return t && t->requires_grad; }
vkt_tensor *vkt_tensor_grad(const vkt_tensor *t)
{
    if (!t || !t->grad) {
        return NULL;
    }
    /* an unwritten gradient is zero: give it its zeros before anyone reads it */
    return vkt__grad_of((vkt_tensor *)t);
}

vkt_status vkt_tensor_set_grad(vkt_tensor *t, vkt_tensor *grad)
{
    if (!t || !grad) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_set_grad: tensor is NULL");
    }
    if (grad->dtype != VKT_F32 || grad->numel != t->numel) {
        char a[96], b[96];
        return vkt__error(VKT_SHAPE_MISMATCH, "vkt_tensor_set_grad: gradient %s does not fit %s",
                          vkt_tensor_describe(grad, a, sizeof a),
                          vkt_tensor_describe(t, b, sizeof b));
    }
    vkt__ref(grad);
    vkt__unref(t->grad);
    t->grad = grad;
    t->grad_unwritten = false;
    return VKT_OK;
}

vkt_status vkt_zero_grad(vkt_tensor *t)
{
    if (!t || !t->grad) {
        return VKT_OK;
    }
    vkt_status s = vkt_fill(t->grad, 0.0f);
    if (s == VKT_OK) {
        t->grad_unwritten = false;
    }
    return s;
}

static bool is_leaf(const vkt_tensor *t) { return t && t->requires_grad && !t->node; }

/* Each leaf's last node in the backward walk: its first on the tape. */
static void mark_last_readers(vkt__node **tape, uint32_t end)
{
    for (uint32_t i = end + 1; i-- > 0;) {
        for (int k = 0; k < 3; k++) {
            vkt_tensor *in = tape[i]->in[k];
            if (is_leaf(in)) {
                in->last_reader = i;
            }
        }
    }
}

/* After node i's backward: the leaves it was the last to read (each once, though a node may
 * read one twice) are final. */
static vkt_status leaves_ready(vkt__node *n, uint32_t i, vkt__grad_ready_fn ready, void *ctx)
{
    for (int k = 0; k < 3; k++) {
        vkt_tensor *in = n->in[k];
        bool seen = (k > 0 && n->in[0] == in) || (k > 1 && n->in[1] == in);
        if (is_leaf(in) && in->last_reader == i && !seen) {
            vkt_status s = ready(ctx, in);
            if (s != VKT_OK) {
                return s;
            }
        }
    }
    return VKT_OK;
}

static vkt_status node_backward(vkt__node *n)
{
    const vkt_tensor *gout = n->out->grad;
    if (!gout || n->out->grad_unwritten) {
        return VKT_OK; /* nothing downstream of this node reaches the loss: its gradient is 0 */
    }
    if (n->op <= VKT__OP_NONE || n->op >= VKT__OP_COUNT || !vkt__op_backward[n->op]) {
        return vkt__error(VKT_ERROR, "vkt_backward: node with op %d has no backward", (int)n->op);
    }
    vkt_status s = vkt__op_backward[n->op](n, gout);
    if (s != VKT_OK) {
        vkt__error_context("%s backward", vkt__op_name[n->op]);
    }
    return s;
}

vkt_status vkt_backward(vkt_tensor *loss)
{
    if (!loss) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_backward: loss is NULL");
    }
    if (loss->dtype != VKT_F32 || loss->numel != 1) {
        char d[96];
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt_backward: loss is %s but must be one f32 element",
                          vkt_tensor_describe(loss, d, sizeof d));
    }
    if (!loss->node) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_backward: loss does not depend on any tensor "
                                                "that requires a gradient");
    }
    uint32_t *count, *cap;
    vkt__node ***tape = vkt__tape(loss->dev, &count, &cap);
    uint32_t end = 0;
    while (end < *count && (*tape)[end] != loss->node) {
        end++;
    }
    if (end == *count) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_backward: loss's graph was cleared");
    }
    /* d(loss)/d(loss) = 1: the loss's gradient is set to it, whatever it held */
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(loss, &accumulate);
    if (!g) {
        return vkt_last_status();
    }
    vkt_status s = vkt_fill(g, 1.0f);
    /* Gradients of intermediates are scratch: they start from zero (unwritten) on every
     * backward. out != loss, not n != loss->node: vkt_cat records one node per part, all with
     * one out. */
    for (uint32_t i = end + 1; i-- > 0;) {
        vkt__node *n = (*tape)[i];
        if (n->out != loss && n->out->grad) {
            n->out->grad_unwritten = true;
        }
    }
    void *ctx;
    vkt__grad_ready_fn ready = vkt__grad_ready(loss->dev, &ctx);
    if (ready) {
        mark_last_readers(*tape, end);
    }
    for (uint32_t i = end + 1; i-- > 0 && s == VKT_OK;) {
        vkt__node *n = (*tape)[i];
        s = node_backward(n);
        if (s == VKT_OK && ready) {
            s = leaves_ready(n, i, ready, ctx);
        }
    }
    if (s != VKT_OK) {
        vkt__error_context("vkt_backward");
    }
    return s;
}
