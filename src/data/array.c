/*
 * array.c — element types and the host arrays the file readers fill (include/vkt/data.h).
 */
#include <string.h>

#include "data/data_internal.h"

const char *vkt_data_type_name(vkt_data_type t)
{
    switch (t) {
    case VKT_DATA_DEFAULT:
    case VKT_DATA_U8: return "u8";
    case VKT_DATA_I32: return "i32";
    case VKT_DATA_F32: return "f32";
    default: return "unknown";
    }
}

size_t vkt_data_type_size(vkt_data_type t)
{
    switch (t) {
    case VKT_DATA_DEFAULT:
    case VKT_DATA_U8: return 1;
    case VKT_DATA_I32:
    case VKT_DATA_F32: return 4;
    default: return 0;
    }
}

void vkt_array_free(vkt_array *a)
{
    if (a) {
        free(a->data);
        memset(a, 0, sizeof *a);
    }
}
