/*
 * layer.c — helpers every layer file uses (src/nn/layer.h).
 */
#include "nn/layer.h"

vkt_status vkt__layer_param_name(char *buf, size_t n, const char *fn, const char *prefix,
                                 const char *leaf)
{
    int len = prefix[0] ? snprintf(buf, n, "%s.%s", prefix, leaf) : snprintf(buf, n, "%s", leaf);
    if (len < 0 || (size_t)len >= n) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: the name \"%s\" is longer than %zu bytes", fn,
                          prefix, n / 2);
    }
    return VKT_OK;
}

const char *vkt__sample_shape_describe(const vkt__sample_shape *s, char *buf, size_t n)
{
    size_t at = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < s->ndim && at < n; i++) {
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? ", " : "", (long long)s->d[i]);
    }
    if (at < n) {
        snprintf(buf + at, n - at, ")");
    }
    return buf;
}

vkt_status vkt__pool2d_seq_init(const char *kind, int index, const vkt_layer_desc *d,
                                const vkt__sample_shape *in, vkt__sample_shape *out,
                                vkt_pool2d_params *p)
{
    char sh[64];
    if (in->ndim != 3) {
        return vkt__error(in->ndim ? VKT_SHAPE_MISMATCH : VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is %s, which takes samples (C, H, W), but "
                          "%s",
                          index, kind,
                          in->ndim ? vkt__sample_shape_describe(in, sh, sizeof sh)
                                   : "the sample shape is not known; set vkt_model_desc.input");
    }
    *p = (vkt_pool2d_params){.exclude_pad = d->exclude_pad};
    *out = *in;
    for (int i = 0; i < 2; i++) {
        uint32_t k = d->kernel[i], s = d->stride[i] ? d->stride[i] : k, pad = d->padding[i];
        if (k == 0 || pad > k / 2) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: layer %d is %s with kernel "
                                                    "(%u, %u) and padding (%u, %u); kernel sizes "
                                                    "must be > 0 and padding at most half of them",
                              index, kind, d->kernel[0], d->kernel[1], d->padding[0],
                              d->padding[1]);
        }
        out->d[1 + i] = vkt__conv_out_size(in->d[1 + i], k, s, pad, 1);
        if (out->d[1 + i] == 0) {
            return vkt__error(VKT_SHAPE_MISMATCH, "vkt_model_create: layer %d is %s with kernel "
                                                  "(%u, %u), larger than its padded input %s",
                              index, kind, d->kernel[0], d->kernel[1],
                              vkt__sample_shape_describe(in, sh, sizeof sh));
        }
        p->kernel[i] = (int32_t)k;
        p->stride[i] = (int32_t)s;
        p->padding[i] = (int32_t)pad;
    }
    return VKT_OK;
}
