/*
 * gpt.c — a nanoGPT-style GPT as a layer over a model's parameters (include/vkt/nn.h): token and
 * position embeddings (vkt_embedding), pre-norm blocks of causal self-attention (vkt_attention)
 * and a GELU MLP (vkt_linear_forward, vkt_gelu), a final layer norm and the head. The backward
 * is autograd's; with tied weights the table feeds both the embedding and the head, and autograd
 * adds the two gradients. Test: tests/test_gpt.c against tests/fixtures/torch_gpt.safetensors.
 */
#include <math.h>
#include <string.h>

#include "nn/layer.h"
#include "ops/shape_internal.h"

/* Registers `name`, a (rows, cols) matrix drawn from N(0, std), with `role`. */
static vkt_param *add_matrix(vkt_model *m, const char *name, int64_t rows, int64_t cols,
                             float std, vkt_param_role role)
{
    vkt_init init = vkt_init_normal(0.0f, std);
    vkt_param *p = vkt_model_add_param(m, name, 2, (int64_t[]){rows, cols}, &init);
    if (p) {
        (void)vkt_param_set_role(p, role); /* cannot fail: a parameter, a known role */
    }
    return p;
}

/* torch.nn.Linear(in, out) with nanoGPT's init: weight N(0, std), bias zeros. */
static vkt_status add_linear(vkt_model *m, const char *name, uint32_t in, uint32_t out, float std,
                             bool bias, vkt_linear_layer *l)
{
    char pn[256];
    *l = (vkt_linear_layer){.model = m, .in = in, .out = out};
    vkt_status s = vkt__layer_param_name(pn, sizeof pn, "vkt_gpt_init", name, "weight");
    l->weight = s == VKT_OK ? add_matrix(m, pn, out, in, std, VKT_PARAM_WEIGHT) : NULL;
    if (!l->weight) {
        return vkt_last_status();
    }
    if (bias) {
        s = vkt__layer_param_name(pn, sizeof pn, "vkt_gpt_init", name, "bias");
        l->bias = s == VKT_OK ? vkt_model_add_param(m, pn, 1, (int64_t[]){out}, NULL) : NULL;
        if (!l->bias) {
            return vkt_last_status();
        }
        (void)vkt_param_set_role(l->bias, VKT_PARAM_BIAS);
    }
    return VKT_OK;
}

/* A dropout stream keyed, as vkt_dropout_init does, by the model's seed and the name, and by
 * config.seed. */
static vkt_status add_dropout(vkt_model *m, const vkt_gpt_config *c, const char *name,
                              vkt_dropout_layer *d)
{
    vkt_status s = vkt_dropout_init(m, name, c->dropout, d);
    vkt__rng r = {c->seed};
    d->seed ^= vkt__rng_next(&r);
    return s;
}

static vkt_status check_config(const vkt_gpt_config *c)
{
    const char *fn = "vkt_gpt_init";
    if (c->vocab == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: config.vocab is required", fn);
    }
    if (c->layers > VKT_GPT_MAX_LAYERS) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: config.layers is %u; at most %d", fn,
                          c->layers, VKT_GPT_MAX_LAYERS);
    }
    if (c->width % c->heads) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: config.heads %u does not divide config.width "
                                                "%u",
                          fn, c->heads, c->width);
    }
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: config.dropout %g is not in [0, 1)", fn,
                          (double)c->dropout);
    }
    if ((uint64_t)c->width * 4 > UINT32_MAX / 4 || c->vocab > (1u << 24)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: width %u or vocab %u is too large", fn,
                          c->width, c->vocab);
    }
    return VKT_OK;
}

vkt_status vkt_gpt_init(vkt_model *m, const vkt_gpt_config *cfg, vkt_gpt *g)
{
    if (!m || !cfg || !g) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_gpt_init: model, config and out are "
                                                "required");
    }
    memset(g, 0, sizeof *g);
    vkt_gpt_config c = *cfg;
    c.context = VKT__DEF(c.context, 128);
    c.layers = VKT__DEF(c.layers, 4);
    c.heads = VKT__DEF(c.heads, 4);
    c.width = VKT__DEF(c.width, 128);
    vkt_status s = check_config(&c);
    if (s != VKT_OK) {
        return s;
    }
    g->model = m;
    g->config = c;
    const float std = 0.02f, proj_std = 0.02f / sqrtf(2.0f * (float)c.layers);
    g->wte = add_matrix(m, "transformer.wte.weight", c.vocab, c.width, std, VKT_PARAM_EMBEDDING);
    g->wpe = g->wte ? add_matrix(m, "transformer.wpe.weight", c.context, c.width, std,
                                 VKT_PARAM_EMBEDDING)
                    : NULL;
    if (!g->wpe) {
        return vkt_last_status();
    }
    if ((s = add_dropout(m, &c, "transformer.drop", &g->drop)) != VKT_OK) {
        return s;
    }
    const vkt_layer_norm_desc ln = {.dim = c.width};
    char name[128], sub[160];
    for (uint32_t i = 0; i < c.layers; i++) {
        vkt_gpt_block *b = &g->h[i];
        snprintf(name, sizeof name, "transformer.h.%u", i);
#define SUB(leaf) (snprintf(sub, sizeof sub, "%s.%s", name, leaf), sub)
        if ((s = vkt_layer_norm_init(m, SUB("ln_1"), &ln, &b->ln_1)) != VKT_OK ||
            (s = add_linear(m, SUB("attn.c_attn"), c.width, 3 * c.width, std, true,
                            &b->c_attn)) != VKT_OK ||
            (s = add_linear(m, SUB("attn.c_proj"), c.width, c.width, proj_std, true,
                            &b->attn_proj)) != VKT_OK ||
            (s = vkt_layer_norm_init(m, SUB("ln_2"), &ln, &b->ln_2)) != VKT_OK ||
            (s = add_linear(m, SUB("mlp.c_fc"), c.width, 4 * c.width, std, true, &b->c_fc)) !=
                VKT_OK ||
            (s = add_linear(m, SUB("mlp.c_proj"), 4 * c.width, c.width, proj_std, true,
                            &b->mlp_proj)) != VKT_OK ||
            (s = add_dropout(m, &c, SUB("attn.resid_dropout"), &b->resid_drop)) != VKT_OK ||
            (s = add_dropout(m, &c, SUB("mlp.dropout"), &b->mlp_drop)) != VKT_OK ||
            (s = add_dropout(m, &c, SUB("attn.attn_dropout"), &b->attn_drop)) != VKT_OK) {
            return s;
        }
#undef SUB
    }
    if ((s = vkt_layer_norm_init(m, "transformer.ln_f", &ln, &g->ln_f)) != VKT_OK) {
        return s;
    }
    if (!c.tie_weights) {
        g->lm_head = add_matrix(m, "lm_head.weight", c.vocab, c.width, std, VKT_PARAM_WEIGHT);
        if (!g->lm_head) {
            return vkt_last_status();
        }
    }
    return VKT_OK;
}

/* Dropout where nanoGPT has one; none at p 0 (saves a copy per use). */
static vkt_tensor *dropout(vkt_dropout_layer *d, vkt_tensor *x)
{
    return d->p > 0.0f ? vkt_dropout_forward(d, x) : x;
}

/* Causal self-attention of x (B*T, width) as nanoGPT's CausalSelfAttention. */
static vkt_tensor *attention(vkt_gpt *g, vkt_gpt_block *b, vkt_tensor *x, int64_t B, int64_t T)
{
    const int64_t C = g->config.width, H = g->config.heads, D = C / H;
    /* c_attn's (B, T, 3, H, D) as (3, B, H, T, D): one copy, then q, k, v are views of its
     * thirds (copies only where a third's offset misses the device's alignment) */
    vkt_tensor *qkv = vkt_reshape(vkt_linear_forward(&b->c_attn, x), 5,
                                  (int64_t[]){B, T, 3, H, D});
    vkt_tensor *p = vkt_permute(qkv, (const int[]){2, 0, 3, 1, 4});
    vkt_tensor *qkv3[3];
    for (int i = 0; i < 3; i++) {
        qkv3[i] = vkt__range_view(p, i * B * H * T * D, 4, (int64_t[]){B, H, T, D});
    }
    /* the probabilities' dropout: attn_drop's stream, advanced by the (B, H, T, T) scores */
    bool training = vkt_model_is_training(g->model) && b->attn_drop.p > 0.0f;
    vkt_attention_params ap = {.causal = true,
                               .dropout_p = training ? b->attn_drop.p : 0.0f,
                               .seed = b->attn_drop.seed,
                               .offset = b->attn_drop.offset};
    vkt_tensor *y = vkt_attention(qkv3[0], qkv3[1], qkv3[2], &ap);
    if (y && training) {
        b->attn_drop.offset += (uint64_t)(B * H * T * T);
    }
    y = vkt_reshape(vkt_permute(y, (const int[]){0, 2, 1, 3}), 2, (int64_t[]){B * T, C});
    return dropout(&b->resid_drop, vkt_linear_forward(&b->attn_proj, y));
}

vkt_tensor *vkt_gpt_forward(vkt_gpt *g, const vkt_tensor *idx)
{
    const char *fn = "vkt_gpt_forward";
    if (!g || !g->model) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: g is not an initialised GPT", fn);
        return NULL;
    }
    if (!idx) {
        return NULL; /* as every op: the error of what gave NULL stands */
    }
    const vkt_gpt_config *c = &g->config;
    if (vkt_tensor_dtype(idx) != VKT_I32 || vkt_tensor_ndim(idx) != 2) {
        char d[64];
        vkt__error(VKT_INVALID_ARGUMENT, "%s: idx must be (B, T) i32 token ids, not %s", fn,
                   vkt_tensor_describe(idx, d, sizeof d));
        return NULL;
    }
    const int64_t B = vkt_tensor_dim(idx, 0), T = vkt_tensor_dim(idx, 1), C = c->width;
    if (T > c->context) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: idx has %lld tokens per sequence; the context is %u",
                   fn, (long long)T, c->context);
        return NULL;
    }
    vkt_tensor *wte = vkt_param_tensor(g->wte);
    /* the first T position rows: a view (offset 0), not a copy per step */
    vkt_tensor *pos = vkt__range_view(vkt_param_tensor(g->wpe), 0, 2, (int64_t[]){T, C});
    vkt_tensor *x = vkt_add(vkt_embedding(wte, idx), pos); /* (B, T, C) + (T, C) */
    x = vkt_reshape(dropout(&g->drop, x), 2, (int64_t[]){B * T, C});
    for (uint32_t i = 0; i < c->layers; i++) {
        vkt_gpt_block *b = &g->h[i];
        x = vkt_add(x, attention(g, b, vkt_layer_norm_forward(&b->ln_1, x), B, T));
        vkt_tensor *h = vkt_gelu(vkt_linear_forward(&b->c_fc, vkt_layer_norm_forward(&b->ln_2, x)));
        x = vkt_add(x, dropout(&b->mlp_drop, vkt_linear_forward(&b->mlp_proj, h)));
    }
    x = vkt_layer_norm_forward(&g->ln_f, x);
    vkt_tensor *head = g->lm_head ? vkt_param_tensor(g->lm_head) : wte;
    return vkt_reshape(vkt_matmul(x, head, VKT_TRANS_B), 3, (int64_t[]){B, T, c->vocab});
}
