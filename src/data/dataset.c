/*
 * dataset.c — image/label datasets in host memory, loaded from IDX files.
 */
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "vkt/data.h"

struct vkt_dataset {
    uint32_t n, features, classes;
    uint8_t *images; /* n * features */
    uint8_t *labels; /* n */
};

static vkt_status make(uint8_t *images, uint8_t *labels, uint32_t n, uint32_t features,
                       vkt_dataset **out)
{
    vkt_dataset *ds = vkt__calloc(1, sizeof *ds);
    if (!ds) {
        free(images);
        free(labels);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    ds->n = n;
    ds->features = features;
    ds->images = images;
    ds->labels = labels;
    for (uint32_t i = 0; i < n; i++) {
        if ((uint32_t)labels[i] + 1 > ds->classes) {
            ds->classes = (uint32_t)labels[i] + 1;
        }
    }
    *out = ds;
    return VKT_OK;
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
    if (lb.ndim != 1) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: labels must be a 1-D IDX file, this one has %d "
                                         "dimensions",
                       desc->labels, lb.ndim);
    } else if (im.dims[0] != lb.dims[0]) {
        s = vkt__error(VKT_SHAPE_MISMATCH, "%s has %lld images but %s has %lld labels",
                       desc->images, (long long)im.dims[0], desc->labels, (long long)lb.dims[0]);
    } else if (im.dims[0] > UINT32_MAX || im.size / (size_t)im.dims[0] > UINT32_MAX) {
        s = vkt__error(VKT_TOO_LARGE, "%s: too many samples", desc->images);
    }
    if (s != VKT_OK) {
        vkt_idx_free(&im);
        vkt_idx_free(&lb);
        return s;
    }
    uint32_t n = (uint32_t)im.dims[0];
    return make(im.data, lb.data, n, (uint32_t)(im.size / n), out);
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
    uint8_t *im = vkt__malloc((size_t)n * features), *lb = vkt__malloc(n);
    if (!im || !lb) {
        free(im);
        free(lb);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    memcpy(im, images, (size_t)n * features);
    memcpy(lb, labels, n);
    return make(im, lb, n, features, out);
}

void vkt_dataset_destroy(vkt_dataset *ds)
{
    if (ds) {
        free(ds->images);
        free(ds->labels);
        free(ds);
    }
}

uint32_t vkt_dataset_count(const vkt_dataset *ds) { return ds->n; }
uint32_t vkt_dataset_features(const vkt_dataset *ds) { return ds->features; }
uint32_t vkt_dataset_classes(const vkt_dataset *ds) { return ds->classes; }
const uint8_t *vkt_dataset_image(const vkt_dataset *ds, uint32_t i)
{
    return ds->images + (size_t)i * ds->features;
}
uint8_t vkt_dataset_label(const vkt_dataset *ds, uint32_t i) { return ds->labels[i]; }
