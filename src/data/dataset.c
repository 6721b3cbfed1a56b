/*
 * dataset.c — samples and targets in host memory (include/vkt/data.h): from memory, IDX and .npy
 * files (the CSV reader is src/data/csv_dataset.c). Tests: tests/test_data.c.
 */
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

struct vkt_dataset {
    uint32_t n, classes;
    vkt_sample_layout x, y;
    size_t x_elems, y_elems;
    uint8_t *xd, *yd; /* n * elems elements each */
};

static void layout_defaults(vkt_sample_layout *l)
{
    l->type = VKT__DEF(l->type, VKT_DATA_U8);
}

static vkt_status validate_layout(const vkt_sample_layout *l, const char *fn, const char *name,
                                  int min_dims, size_t *elems)
{
    if (vkt_data_type_size(l->type) == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: %s.type %d is not u8, i32 or f32", fn, name,
                          (int)l->type);
    }
    if (l->ndim < min_dims || l->ndim > VKT_MAX_SAMPLE_DIMS) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: %s.ndim is %d; it must be %d to %d", fn, name,
                          l->ndim, min_dims, VKT_MAX_SAMPLE_DIMS);
    }
    uint64_t n = 0;
    if (!vkt__shape_elems(l->ndim, l->shape, UINT32_MAX, &n) || n == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: %s.shape has a dimension below 1 or over "
                                                "2^32 elements per sample",
                          fn, name);
    }
    *elems = (size_t)n;
    return VKT_OK;
}

vkt_status vkt__dataset_adopt(const vkt_dataset_desc *desc_in, void *x_data, void *y_data,
                              vkt_dataset **out)
{
    *out = NULL;
    vkt_dataset_desc desc = *desc_in;
    layout_defaults(&desc.x);
    layout_defaults(&desc.y);
    const char *fn = "vkt_dataset_create";
    size_t xe = 0, ye = 0;
    vkt_status s = VKT_OK;
    vkt_dataset *ds = NULL;
    if (desc.count == 0) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "%s: count is 0 (an empty dataset)", fn);
        goto fail;
    }
    if ((s = validate_layout(&desc.x, fn, "x", 1, &xe)) != VKT_OK ||
        (s = validate_layout(&desc.y, fn, "y", 0, &ye)) != VKT_OK) {
        goto fail;
    }
    ds = vkt__calloc(1, sizeof *ds);
    if (!ds) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    *ds = (vkt_dataset){.n = desc.count, .x = desc.x, .y = desc.y, .x_elems = xe, .y_elems = ye,
                        .xd = x_data, .yd = y_data};
    if (desc.y.ndim == 0 && desc.y.type != VKT_DATA_F32) { /* class labels */
        for (uint32_t i = 0; i < ds->n; i++) {
            int32_t v = desc.y.type == VKT_DATA_U8 ? ds->yd[i] : ((const int32_t *)ds->yd)[i];
            if (v < 0) {
                s = vkt__error(VKT_INVALID_ARGUMENT, "%s: class label %d of sample %u is negative",
                               fn, (int)v, i);
                goto fail;
            }
            ds->classes = VKT__MAX(ds->classes, (uint32_t)v + 1);
        }
    }
    *out = ds;
    return VKT_OK;

fail:
    if (ds) {
        vkt_dataset_destroy(ds);
    } else {
        free(x_data);
        free(y_data);
    }
    return s;
}

vkt_status vkt_dataset_create(const vkt_dataset_desc *desc, vkt_dataset **out)
{
    *out = NULL;
    if (!desc || !desc->x_data || !desc->y_data) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_create: x_data and y_data are "
                                                "required");
    }
    vkt_dataset_desc d = *desc;
    layout_defaults(&d.x);
    layout_defaults(&d.y);
    size_t xe = 0, ye = 0;
    vkt_status s = validate_layout(&d.x, "vkt_dataset_create", "x", 1, &xe);
    if (s == VKT_OK) {
        s = validate_layout(&d.y, "vkt_dataset_create", "y", 0, &ye);
    }
    if (s != VKT_OK) {
        return s;
    }
    if (d.count && (xe > SIZE_MAX / 4 / d.count || ye > SIZE_MAX / 4 / d.count)) {
        return vkt__error(VKT_TOO_LARGE, "vkt_dataset_create: %u samples of %zu elements do not "
                                         "fit in memory",
                          d.count, VKT__MAX(xe, ye));
    }
    size_t xb = (size_t)d.count * xe * vkt_data_type_size(d.x.type);
    size_t yb = (size_t)d.count * ye * vkt_data_type_size(d.y.type);
    uint8_t *x = vkt__malloc(VKT__MAX(xb, (size_t)1)), *y = vkt__malloc(VKT__MAX(yb, (size_t)1));
    if (!x || !y) {
        free(x);
        free(y);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    memcpy(x, desc->x_data, xb);
    memcpy(y, desc->y_data, yb);
    return vkt__dataset_adopt(&d, x, y, out);
}

/* The sample layout of an array's entries after its first dimension. */
static void sample_layout(const vkt_array *a, bool flatten, vkt_sample_layout *l)
{
    memset(l, 0, sizeof *l);
    l->type = a->type;
    if (flatten) {
        int64_t n = 1;
        for (int i = 1; i < a->ndim; i++) {
            n *= a->dims[i];
        }
        l->ndim = 1;
        l->shape[0] = n;
        return;
    }
    l->ndim = a->ndim - 1;
    memcpy(l->shape, a->dims + 1, (size_t)l->ndim * sizeof *l->shape);
}

vkt_status vkt__dataset_from_arrays(vkt_array *x, vkt_array *y, bool flatten_x,
                                    const vkt__array_names *nm, vkt_dataset **out)
{
    *out = NULL;
    vkt_status s = VKT_OK;
    if (x->ndim < 1 || y->ndim < 1) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: a 0-dimensional array holds no samples",
                       x->ndim < 1 ? nm->x : nm->y);
    } else if (y->ndim > VKT_MAX_DIMS || x->ndim > VKT_MAX_DIMS) {
        s = vkt__error(VKT_TOO_LARGE, "%s: more than %d dimensions",
                       x->ndim > VKT_MAX_DIMS ? nm->x : nm->y, VKT_MAX_DIMS);
    } else if (x->dims[0] != y->dims[0]) {
        s = vkt__error(VKT_SHAPE_MISMATCH, "%s has %lld %s but %s has %lld %s", nm->x,
                       (long long)x->dims[0], nm->x_noun, nm->y, (long long)y->dims[0],
                       nm->y_noun);
    } else if (x->dims[0] > UINT32_MAX || x->size / (size_t)x->dims[0] / 
                                               vkt_data_type_size(x->type) > UINT32_MAX) {
        s = vkt__error(VKT_TOO_LARGE, "%s: too many samples or too large samples", nm->x);
    }
    if (s != VKT_OK) {
        vkt_array_free(x);
        vkt_array_free(y);
        return s;
    }
    vkt_dataset_desc d = {.count = (uint32_t)x->dims[0]};
    sample_layout(x, flatten_x, &d.x);
    if (d.x.ndim == 0) { /* (N): one feature per sample */
        d.x.ndim = 1;
        d.x.shape[0] = 1;
    }
    sample_layout(y, false, &d.y);
    uint8_t *xd = x->data, *yd = y->data;
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    s = vkt__dataset_adopt(&d, xd, yd, out);
    if (s == VKT_INVALID_ARGUMENT) { /* a negative label: the file's fault */
        return vkt__error(VKT_CORRUPT_FILE, "%s: %s", nm->y, vkt_last_error());
    }
    return s;
}

vkt_status vkt_dataset_load_idx(const vkt_idx_dataset_desc *desc, vkt_dataset **out)
{
    *out = NULL;
    if (!desc || !desc->images || !desc->labels) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_load_idx: images and labels paths "
                                                "are required");
    }
    vkt_idx im, lb;
    vkt_status s = vkt_idx_read(desc->images, &im);
    if (s != VKT_OK) {
        return s;
    }
    s = vkt_idx_read(desc->labels, &lb);
    if (s != VKT_OK) {
        vkt_idx_free(&im);
        return s;
    }
    return vkt__dataset_from_arrays(
        &im, &lb, true, &(vkt__array_names){desc->images, desc->labels, "images", "labels"}, out);
}

vkt_status vkt_dataset_load_npy(const vkt_npy_dataset_desc *desc, vkt_dataset **out)
{
    *out = NULL;
    if (!desc || !desc->x || !desc->y) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_load_npy: x and y paths are "
                                                "required");
    }
    vkt_array x, y;
    vkt_status s = vkt_npy_read(desc->x, &x);
    if (s != VKT_OK) {
        return s;
    }
    s = vkt_npy_read(desc->y, &y);
    if (s != VKT_OK) {
        vkt_array_free(&x);
        return s;
    }
    return vkt__dataset_from_arrays(
        &x, &y, false, &(vkt__array_names){desc->x, desc->y, "samples", "targets"}, out);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Finds "<dir>/<split>-<kind>-ubyte" with or without ".gz". */
static bool find(char *buf, size_t n, const char *dir, const char *split, const char *kind)
{
    snprintf(buf, n, "%s/%s-%s-ubyte.gz", dir, split, kind);
    if (exists(buf)) {
        return true;
    }
    snprintf(buf, n, "%s/%s-%s-ubyte", dir, split, kind);
    return exists(buf);
}

vkt_status vkt_dataset_load_mnist(const char *dir, const char *split, vkt_dataset **out)
{
    *out = NULL;
    if (!dir || !split) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_dataset_load_mnist: dir and split are required");
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return vkt__error(VKT_IO, "data directory %s does not exist (for Fashion-MNIST: apt-get "
                                  "install dataset-fashion-mnist, or pass --data DIR)",
                          dir);
    }
    char images[4096], labels[4096];
    if (!find(images, sizeof images, dir, split, "images-idx3")) {
        return vkt__error(VKT_IO, "%s: missing %s-images-idx3-ubyte(.gz) (for Fashion-MNIST: "
                                  "apt-get install dataset-fashion-mnist)",
                          dir, split);
    }
    if (!find(labels, sizeof labels, dir, split, "labels-idx1")) {
        return vkt__error(VKT_IO, "%s: missing %s-labels-idx1-ubyte(.gz)", dir, split);
    }
    return vkt_dataset_load_idx(&(vkt_idx_dataset_desc){.images = images, .labels = labels}, out);
}

vkt_status vkt_dataset_from_memory(const uint8_t *images, const uint8_t *labels, uint32_t n,
                                   uint32_t features, vkt_dataset **out)
{
    *out = NULL;
    if (!images || !labels || n == 0 || features == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_from_memory: empty dataset");
    }
    return vkt_dataset_create(&(vkt_dataset_desc){.count = n,
                                                  .x = {VKT_DATA_U8, 1, {features}},
                                                  .x_data = images,
                                                  .y = {VKT_DATA_U8, 0, {0}},
                                                  .y_data = labels},
                              out);
}

void vkt_dataset_destroy(vkt_dataset *ds)
{
    if (ds) {
        free(ds->xd);
        free(ds->yd);
        free(ds);
    }
}

vkt_status vkt_dataset_reshape(vkt_dataset *ds, int ndim, const int64_t *shape)
{
    if (!ds || !shape) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_reshape: dataset and shape are "
                                                "required");
    }
    vkt_sample_layout l = {.type = ds->x.type, .ndim = ndim};
    if (ndim >= 1 && ndim <= VKT_MAX_SAMPLE_DIMS) {
        memcpy(l.shape, shape, (size_t)ndim * sizeof *shape);
    }
    size_t n = 0;
    vkt_status s = validate_layout(&l, "vkt_dataset_reshape", "shape", 1, &n);
    if (s != VKT_OK) {
        return s;
    }
    if (n != ds->x_elems) {
        return vkt__error(VKT_SHAPE_MISMATCH, "vkt_dataset_reshape: the new shape has %zu elements "
                                              "but samples have %zu",
                          n, ds->x_elems);
    }
    ds->x = l;
    return VKT_OK;
}

uint32_t vkt_dataset_count(const vkt_dataset *ds) { return ds->n; }
uint32_t vkt_dataset_features(const vkt_dataset *ds) { return (uint32_t)ds->x_elems; }
uint32_t vkt_dataset_classes(const vkt_dataset *ds) { return ds->classes; }
vkt_sample_layout vkt_dataset_x_layout(const vkt_dataset *ds) { return ds->x; }
vkt_sample_layout vkt_dataset_y_layout(const vkt_dataset *ds) { return ds->y; }

const void *vkt_dataset_sample(const vkt_dataset *ds, uint32_t i)
{
    return ds->xd + (size_t)i * ds->x_elems * vkt_data_type_size(ds->x.type);
}

const void *vkt_dataset_target(const vkt_dataset *ds, uint32_t i)
{
    return ds->yd + (size_t)i * ds->y_elems * vkt_data_type_size(ds->y.type);
}

const uint8_t *vkt_dataset_image(const vkt_dataset *ds, uint32_t i)
{
    return ds->x.type == VKT_DATA_U8 ? vkt_dataset_sample(ds, i) : NULL;
}

uint8_t vkt_dataset_label(const vkt_dataset *ds, uint32_t i)
{
    if (ds->y.type == VKT_DATA_U8) {
        return ds->yd[(size_t)i * ds->y_elems];
    }
    int32_t v = 0;
    if (ds->y.type == VKT_DATA_I32) {
        memcpy(&v, vkt_dataset_target(ds, i), sizeof v);
    }
    return (uint8_t)VKT__MIN(VKT__MAX(v, 0), 255);
}
