/*
 * fuzz_dict.h — deep equality of two vkt_dicts for the round-trip checks of fuzz_checkpoint and
 * fuzz_json: same keys in the same order, same kinds, numbers bit for bit (any NaN equals any
 * NaN: the metadata spells them all "NaN"), strings, shapes, f32 bits and the integer tag.
 */
#ifndef VKT_FUZZ_DICT_H
#define VKT_FUZZ_DICT_H

#include <math.h>
#include <string.h>

#include "train/train_internal.h"

static inline bool vkt_fuzz_dicts_equal(const vkt_dict *a, const vkt_dict *b)
{
    if (vkt_dict_count(a) != vkt_dict_count(b)) {
        return false;
    }
    for (uint32_t i = 0; i < vkt_dict_count(a); i++) {
        vkt__dict_entry x = vkt__dict_at(a, i), y = vkt__dict_at(b, i);
        if (strcmp(x.key, y.key) != 0 || x.kind != y.kind) {
            return false;
        }
        switch (x.kind) {
        case VKT__DICT_NUMBER:
            if (!(isnan(x.number) && isnan(y.number)) &&
                memcmp(&x.number, &y.number, sizeof x.number) != 0) {
                return false;
            }
            break;
        case VKT__DICT_STRING:
            if (strcmp(x.string, y.string) != 0) {
                return false;
            }
            break;
        case VKT__DICT_CHILD:
            if (!vkt_fuzz_dicts_equal(x.child, y.child)) {
                return false;
            }
            break;
        case VKT__DICT_FLOATS:
            if (x.ndim != y.ndim || x.count != y.count ||
                memcmp(x.shape, y.shape, sizeof x.shape) != 0 ||
                (x.count && memcmp(x.floats, y.floats, x.count * sizeof(float)) != 0) ||
                x.ints != y.ints) {
                return false;
            }
            break;
        default:
            return false;
        }
    }
    return true;
}

#endif
