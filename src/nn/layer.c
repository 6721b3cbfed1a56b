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
