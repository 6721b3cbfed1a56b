/*
 * vkt/data.h — IDX files (the MNIST format), datasets and data loaders.
 *
 *     vkt_dataset *train;
 *     if (vkt_dataset_load_idx(&(vkt_idx_dataset_desc){
 *             .images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
 *             .labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"},
 *             &train) != VKT_OK) {
 *         fprintf(stderr, "%s\n", vkt_last_error());   // names the file and what is wrong
 *     }
 *     vkt_loader *loader;
 *     vkt_loader_create(dev, &(vkt_loader_desc){ .dataset = train, .batch_size = 128,
 *                                                .shuffle = true, .seed = 0 }, &loader);
 *     for (uint32_t epoch = 0; epoch < 5; epoch++) {
 *         vkt_loader_start_epoch(loader, epoch);
 *         vkt_batch b;
 *         while (vkt_loader_next(loader, &b)) { ... b.x (B, 784) f32, b.y (B) i32 ... }
 *     }
 *
 * A dataset that fits in device memory is uploaded once, as bytes, and each batch is gathered and
 * normalised on the device from the epoch's index permutation: a step reads nothing from the host.
 * Otherwise batches are normalised on the host and uploaded through the staging ring, recorded
 * into the step's command buffer while earlier steps still run.
 */
#ifndef VKT_DATA_H
#define VKT_DATA_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX files ------------------------------------------------------------------------------- */

/** An IDX file's contents (unsigned-byte data only, as in MNIST). */
typedef struct vkt_idx {
    int ndim;
    int64_t dims[4];
    uint8_t *data;     /* dims[0] * ... * dims[ndim-1] bytes */
    size_t size;
} vkt_idx;

/**
 * Reads an IDX file, raw or gzip-compressed (detected from its first bytes). Errors name the file
 * and the problem: VKT_IO (missing/unreadable), VKT_CORRUPT_FILE (bad magic, unsupported type,
 * truncated, trailing bytes, corrupt gzip stream).
 */
VKT_API vkt_status vkt_idx_read(const char *path, vkt_idx *out);
VKT_API void vkt_idx_free(vkt_idx *idx);

/* ---- datasets -------------------------------------------------------------------------------- */

/** Images and integer class labels held in host memory. */
typedef struct vkt_dataset vkt_dataset;

typedef struct vkt_idx_dataset_desc {
    const char *images;    /* IDX of N x ... unsigned bytes */
    const char *labels;    /* IDX of N unsigned bytes */
} vkt_idx_dataset_desc;

/** Loads images + labels; VKT_SHAPE_MISMATCH when the two files disagree on the count. */
VKT_API vkt_status vkt_dataset_load_idx(const vkt_idx_dataset_desc *desc, vkt_dataset **out);
/**
 * Loads the MNIST-layout split "train" or "t10k" from `dir`, trying `<split>-images-idx3-ubyte`
 * with and without ".gz". A missing directory or file is VKT_IO naming the path and suggesting
 * `apt-get install dataset-fashion-mnist`.
 */
VKT_API vkt_status vkt_dataset_load_mnist(const char *dir, const char *split, vkt_dataset **out);
/** A dataset from memory (copied): n samples of `features` bytes each, labels < classes. */
VKT_API vkt_status vkt_dataset_from_memory(const uint8_t *images, const uint8_t *labels, uint32_t n,
                                           uint32_t features, vkt_dataset **out);
VKT_API void vkt_dataset_destroy(vkt_dataset *ds);
VKT_API uint32_t vkt_dataset_count(const vkt_dataset *ds);
VKT_API uint32_t vkt_dataset_features(const vkt_dataset *ds);
/** 1 + the largest label. */
VKT_API uint32_t vkt_dataset_classes(const vkt_dataset *ds);
/** Sample i's bytes and label. */
VKT_API const uint8_t *vkt_dataset_image(const vkt_dataset *ds, uint32_t i);
VKT_API uint8_t vkt_dataset_label(const vkt_dataset *ds, uint32_t i);

/* ---- loaders --------------------------------------------------------------------------------- */

typedef enum vkt_norm {
    VKT_NORM_DEFAULT = 0,  /* = VKT_NORM_UNIT */
    VKT_NORM_UNIT,         /* x / 255, in [0, 1] */
    VKT_NORM_MEAN_STD,     /* (x / 255 - mean) / std */
    VKT_NORM_NONE,         /* raw byte values as floats */
    _VKT_NORM_FORCE_U32 = 0x7FFFFFFF
} vkt_norm;

typedef struct vkt_loader_desc {
    vkt_dataset *dataset;       /* borrowed; must outlive the loader */
    uint32_t batch_size;        /* 0 -> 32 */
    bool shuffle;               /* reshuffle every epoch from seed + epoch */
    uint64_t seed;
    bool drop_last;             /* drop a last batch smaller than batch_size */
    vkt_norm norm;
    float mean, std;            /* VKT_NORM_MEAN_STD */
    const uint32_t *indices;    /* subset of the dataset (copied); NULL = all samples */
    uint32_t count;             /* entries in indices */
    bool stream;                /* force host streaming even when the data fits on the device */
} vkt_loader_desc;

typedef struct vkt_loader vkt_loader;

typedef struct vkt_batch {
    vkt_tensor *x;     /* (rows, features) f32, owned by the caller / current scope */
    vkt_tensor *y;     /* (rows) i32 */
    uint32_t rows;
    uint32_t index;    /* batch index within the epoch */
} vkt_batch;

VKT_API vkt_status vkt_loader_create(vkt_device *dev, const vkt_loader_desc *desc,
                                     vkt_loader **out);
VKT_API void vkt_loader_destroy(vkt_loader *l);
/** Batches per epoch. */
VKT_API uint32_t vkt_loader_num_batches(const vkt_loader *l);
/** Samples per epoch (after drop_last). */
VKT_API uint32_t vkt_loader_num_samples(const vkt_loader *l);
/** True when batches are gathered on the device (the data set was uploaded once). */
VKT_API bool vkt_loader_on_device(const vkt_loader *l);
/** Starts an epoch: reshuffles (if asked) and rewinds. */
VKT_API vkt_status vkt_loader_start_epoch(vkt_loader *l, uint32_t epoch);
/** The next batch, or false at the end of the epoch or on error (then vkt_last_status() != OK). */
VKT_API bool vkt_loader_next(vkt_loader *l, vkt_batch *b);
/**
 * Splits `n` samples into a training and a held-out part: a seeded permutation, the last
 * round(n * fraction) entries are the held-out part. Fills malloc'd arrays (free with free()).
 */
VKT_API vkt_status vkt_split_indices(uint32_t n, float fraction, uint64_t seed, uint32_t **train,
                                     uint32_t *n_train, uint32_t **held_out, uint32_t *n_held_out);

#ifdef __cplusplus
}
#endif
#endif
