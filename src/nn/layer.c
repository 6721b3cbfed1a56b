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
