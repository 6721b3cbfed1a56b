/*
 * vkt/data.h — IDX, NumPy .npy and CSV files, datasets and data loaders.
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
 * A dataset that fits in device memory is uploaded once (u8 packed four to a word, i32/f32 as
 * words), and each batch is gathered, normalised and augmented on the device from the epoch's
 * index permutation: a step reads nothing from the host. u8 and f32 features give f32 batches;
 * i32 features (token ids) give i32 batches, copied exactly, as torch's DataLoader keeps an
 * integer dtype.
 * Otherwise batches are normalised on the host and uploaded through the staging ring, recorded
 * into the step's command buffer while earlier steps still run.
 */
#ifndef VKT_DATA_H
#define VKT_DATA_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- element types and host arrays ---------------------------------------------------------- */

/** Most dimensions of one sample (or one target): a batch adds the leading dimension. */
#define VKT_MAX_SAMPLE_DIMS (VKT_MAX_DIMS - 1)

/** Element types of files and datasets (tensors are f32 or i32; u8 exists only on the host and in
 *  the loader's packed device copy). */
typedef enum vkt_data_type {
    VKT_DATA_DEFAULT = 0, /* u8 where a type is asked for; "as the file says" in readers */
    VKT_DATA_U8,
    VKT_DATA_I32,
    VKT_DATA_F32,
    _VKT_DATA_FORCE_U32 = 0x7FFFFFFF
} vkt_data_type;

/** "u8", "i32", "f32". */
VKT_API const char *vkt_data_type_name(vkt_data_type t);
/** Bytes per element (1 or 4); 0 for an unknown type. */
VKT_API size_t vkt_data_type_size(vkt_data_type t);

/** An array read from a file: C order, elements in host byte order. */
typedef struct vkt_array {
    vkt_data_type type;
    int ndim;                    /* 0 (a scalar) to VKT_MAX_DIMS */
    int64_t dims[VKT_MAX_DIMS];
    uint8_t *data;               /* dims[0] * ... * dims[ndim-1] elements */
    size_t size;                 /* bytes */
} vkt_array;
VKT_API void vkt_array_free(vkt_array *a);

/* ---- IDX files ------------------------------------------------------------------------------- */

/** An IDX file's contents. */
typedef vkt_array vkt_idx;

/**
 * Reads an IDX file, raw or gzip-compressed (detected from its first bytes): types 0x08 (u8),
 * 0x0C (i32, big-endian) and 0x0D (f32, big-endian), 1 to VKT_MAX_DIMS dimensions. Errors name
 * the file and the problem: VKT_IO (missing/unreadable), VKT_CORRUPT_FILE (bad magic, unsupported
 * type, truncated, trailing bytes, corrupt gzip stream).
 */
VKT_API vkt_status vkt_idx_read(const char *path, vkt_idx *out);
VKT_API void vkt_idx_free(vkt_idx *idx);

/* ---- NumPy .npy files ------------------------------------------------------------------------ */

/**
 * Reads a .npy file (format versions 1.0, 2.0 and 3.0; raw or gzip-compressed), C order only.
 * dtypes: '|u1' (u8), '<i4' (i32), '<f4' (f32), and '<i8' / '<f8', converted to i32 / f32 — a
 * value that does not fit (an integer beyond int32, a finite double beyond FLT_MAX) is
 * VKT_CORRUPT_FILE naming its index. fortran_order True, big-endian or other dtypes, more than
 * VKT_MAX_DIMS dimensions, empty arrays, truncated data and trailing bytes are VKT_CORRUPT_FILE
 * naming the file and the problem.
 */
VKT_API vkt_status vkt_npy_read(const char *path, vkt_array *out);

/* ---- datasets -------------------------------------------------------------------------------- */

/**
 * Samples and targets held in host memory.
 *
 * Every sample has the same shape (up to VKT_MAX_SAMPLE_DIMS dimensions; (784) for MNIST, or
 * (C, H, W) after vkt_dataset_reshape) and element type (u8, i32 or f32). Targets are either
 * class labels — u8 or i32 scalars, >= 0; vkt_dataset_classes is 1 + the largest — or values of
 * any per-sample shape: f32 for regression, i32 for integer targets such as masks.
 */
typedef struct vkt_dataset vkt_dataset;

/** The element type and per-sample shape of a dataset's features or targets. */
typedef struct vkt_sample_layout {
    vkt_data_type type;     /* DEFAULT = u8 */
    int ndim;               /* 0: one scalar per sample (class labels) */
    int64_t shape[VKT_MAX_SAMPLE_DIMS];
} vkt_sample_layout;

typedef struct vkt_dataset_desc {
    uint32_t count;           /* samples */
    vkt_sample_layout x;      /* ndim >= 1 */
    const void *x_data;       /* count * prod(x.shape) elements, C order (copied) */
    vkt_sample_layout y;
    const void *y_data;       /* count * prod(y.shape) elements (copied) */
} vkt_dataset_desc;

/**
 * A dataset from memory (copied). VKT_INVALID_ARGUMENT naming the field for a bad layout, and for
 * a negative class label (naming the sample).
 */
VKT_API vkt_status vkt_dataset_create(const vkt_dataset_desc *desc, vkt_dataset **out);

typedef struct vkt_idx_dataset_desc {
    const char *images;    /* IDX of N x ... (u8, i32 or f32); samples are flattened: (prod) */
    const char *labels;    /* IDX of N (u8/i32 class labels; f32 values) or N x ... targets */
} vkt_idx_dataset_desc;

/** Loads images + labels; VKT_SHAPE_MISMATCH when the two files disagree on the count. */
VKT_API vkt_status vkt_dataset_load_idx(const vkt_idx_dataset_desc *desc, vkt_dataset **out);
/**
 * Loads the MNIST-layout split "train" or "t10k" from `dir`, trying `<split>-images-idx3-ubyte`
 * with and without ".gz". A missing directory or file is VKT_IO naming the path and suggesting
 * `apt-get install dataset-fashion-mnist`. Samples are (784); vkt_dataset_reshape makes them
 * (1, 28, 28) for convolutions.
 */
VKT_API vkt_status vkt_dataset_load_mnist(const char *dir, const char *split, vkt_dataset **out);

typedef struct vkt_npy_dataset_desc {
    const char *x;   /* .npy of N x ...: samples keep their shape, e.g. (N, 3, 32, 32) */
    const char *y;   /* .npy of N (integers: class labels; floats: values) or N x ... targets */
} vkt_npy_dataset_desc;

/** Loads features + targets from .npy files (np.save(x), np.save(y)), as vkt_npy_read reads them. */
VKT_API vkt_status vkt_dataset_load_npy(const vkt_npy_dataset_desc *desc, vkt_dataset **out);

typedef enum vkt_csv_header {
    VKT_CSV_HEADER_AUTO = 0,  /* a first row with any cell that is not a number is the header */
    VKT_CSV_HEADER_PRESENT,
    VKT_CSV_HEADER_ABSENT,
    _VKT_CSV_HEADER_FORCE_U32 = 0x7FFFFFFF
} vkt_csv_header;

typedef struct vkt_csv_dataset_desc {
    const char *path;          /* comma-separated numbers, one sample per row (RFC 4180 quoting;
                                * a leading UTF-8 byte-order mark is skipped) */
    vkt_csv_header header;
    const char *target;        /* the target column's name (needs a header); NULL: target_index */
    int target_index;          /* 0-based column; negative counts from the end (-1: the last) */
    vkt_data_type target_type; /* DEFAULT/I32: integer class labels >= 0; F32: values */
} vkt_csv_dataset_desc;

/**
 * Loads a CSV of numbers: the target column becomes the target, the other columns, in order, the
 * f32 features (shape (columns - 1)). Errors are VKT_IO (cannot open) or VKT_CORRUPT_FILE naming
 * the file and, for a bad cell, its row (1-based, counting the header) and column (name, or
 * 1-based number): not a number, not an integer class label, a row with a different number of
 * cells. An unknown target name or index is VKT_INVALID_ARGUMENT listing what the file has.
 */
VKT_API vkt_status vkt_dataset_load_csv(const vkt_csv_dataset_desc *desc, vkt_dataset **out);

/**
 * A dataset from memory (copied): n samples of `features` u8 each, u8 class labels. The same as
 * vkt_dataset_create with x (features) u8 and y a u8 scalar.
 */
VKT_API vkt_status vkt_dataset_from_memory(const uint8_t *images, const uint8_t *labels, uint32_t n,
                                           uint32_t features, vkt_dataset **out);
VKT_API void vkt_dataset_destroy(vkt_dataset *ds);
/**
 * Gives the samples a new shape with the same number of elements, e.g. MNIST's (784) as
 * (1, 28, 28): loaders made afterwards yield x as (B, 1, 28, 28). VKT_SHAPE_MISMATCH otherwise.
 */
VKT_API vkt_status vkt_dataset_reshape(vkt_dataset *ds, int ndim, const int64_t *shape);
VKT_API uint32_t vkt_dataset_count(const vkt_dataset *ds);
/** Elements per sample (the product of the sample shape). */
VKT_API uint32_t vkt_dataset_features(const vkt_dataset *ds);
/** 1 + the largest label for class labels; 0 for other targets. */
VKT_API uint32_t vkt_dataset_classes(const vkt_dataset *ds);
/** The features' and targets' types and per-sample shapes. */
VKT_API vkt_sample_layout vkt_dataset_x_layout(const vkt_dataset *ds);
VKT_API vkt_sample_layout vkt_dataset_y_layout(const vkt_dataset *ds);
/** Sample i's elements (of vkt_dataset_x_layout's type) and targets (of y's type). */
VKT_API const void *vkt_dataset_sample(const vkt_dataset *ds, uint32_t i);
VKT_API const void *vkt_dataset_target(const vkt_dataset *ds, uint32_t i);
/** Sample i's bytes for u8 samples (NULL for other types). */
VKT_API const uint8_t *vkt_dataset_image(const vkt_dataset *ds, uint32_t i);
/** Sample i's class label, for class labels below 256 (see vkt_dataset_target otherwise). */
VKT_API uint8_t vkt_dataset_label(const vkt_dataset *ds, uint32_t i);

/* ---- text corpora (character-level language models) ------------------------------------------ */

/**
 * A byte-level vocabulary: token i is byte bytes[i]; bytes are distinct and sorted, so the same
 * corpus always gives the same numbering. index[b] is byte b's token, -1 if it is not in it.
 */
typedef struct vkt_vocab {
    uint32_t size;        /* 1 to 256 */
    uint8_t bytes[256];
    int16_t index[256];
} vkt_vocab;

/** The sorted distinct bytes of `data` (n >= 1). */
VKT_API vkt_status vkt_vocab_build(const uint8_t *data, size_t n, vkt_vocab *out);
/**
 * The vocabulary as lowercase hex, two digits per byte in order ("0a2021..."): how checkpoints
 * keep it (any byte, NUL included, survives JSON and YAML). `buf` takes 2 * size + 1 chars.
 */
VKT_API vkt_status vkt_vocab_format(const vkt_vocab *v, char *buf, size_t buf_size);
/** Reads vkt_vocab_format's string back; VKT_INVALID_ARGUMENT naming the position for an odd
 * length, a non-hex digit, or bytes that are not strictly increasing. */
VKT_API vkt_status vkt_vocab_parse(const char *hex, vkt_vocab *out);
/** Tokens of n bytes; VKT_INVALID_ARGUMENT naming the first byte (value and position) that is
 * not in the vocabulary. */
VKT_API vkt_status vkt_vocab_encode(const vkt_vocab *v, const uint8_t *s, size_t n, int32_t *out);
/** Bytes of n tokens; VKT_INVALID_ARGUMENT naming a token outside [0, size). */
VKT_API vkt_status vkt_vocab_decode(const vkt_vocab *v, const int32_t *tokens, size_t n,
                                    uint8_t *out);

/** A corpus read whole, its vocabulary and its tokens. */
typedef struct vkt_text {
    uint8_t *data;        /* the bytes, files concatenated */
    size_t size;
    uint32_t files;       /* files read (1 for a file or memory) */
    vkt_vocab vocab;      /* of the whole corpus */
    int32_t *tokens;      /* size tokens */
} vkt_text;

/**
 * Reads a text file, or every regular file of a directory (not recursive) in strcmp order of
 * their names, skipping hidden files and the names ending ".dat" or ".u8" (the fortune package's
 * index files and duplicate links). VKT_IO naming the path for a missing or unreadable one,
 * VKT_CORRUPT_FILE for an empty corpus (a directory without text names itself).
 */
VKT_API vkt_status vkt_text_load(const char *path, vkt_text *out);
/** A corpus from memory (copied); size >= 1. */
VKT_API vkt_status vkt_text_from_memory(const void *data, size_t size, vkt_text *out);
VKT_API void vkt_text_free(vkt_text *t);
/**
 * The entropy in nats of the unigram (byte-frequency) distribution of n tokens below
 * vocab_size: the loss of a model that ignores context, which a character model must beat. Bits
 * per character are nats / ln 2. NaN for bad arguments (n 0, a token out of range).
 */
VKT_API double vkt_text_unigram_entropy(const int32_t *tokens, size_t n, uint32_t vocab_size);
/**
 * Splits by position: the last round(size * val_fraction) tokens are held out. *n_train gets the
 * length of the first part (the second starts there). val_fraction in [0, 1).
 */
VKT_API vkt_status vkt_text_split(const vkt_text *t, float val_fraction, size_t *n_train);
/**
 * A dataset of next-token windows over n tokens: sample j starts at i = j * stride, with
 * features x = tokens[i, i + context) and targets y = tokens[i + 1, i + context + 1), both i32 of
 * shape (context). stride 0 means context (windows that do not overlap). Batches from a loader
 * are x (B, context) i32 (the ids, for vkt_embedding as they are) and y (B, context) i32.
 * VKT_INVALID_ARGUMENT when n < context + 1 (naming both).
 */
VKT_API vkt_status vkt_dataset_text_windows(const int32_t *tokens, size_t n, uint32_t context,
                                            uint32_t stride, vkt_dataset **out);

/* ---- loaders --------------------------------------------------------------------------------- */

typedef enum vkt_norm {
    VKT_NORM_DEFAULT = 0,  /* = VKT_NORM_UNIT */
    VKT_NORM_UNIT,         /* ToTensor: u8 x / 255, in [0, 1]; f32 x as is; i32 x as is (i32) */
    VKT_NORM_MEAN_STD,     /* ToTensor then Normalize: (unit(x) - mean[c]) / std[c]; u8/f32 only */
    VKT_NORM_NONE,         /* raw values: u8/f32 as floats, i32 as is (i32) */
    _VKT_NORM_FORCE_U32 = 0x7FFFFFFF
} vkt_norm;

/**
 * Device-side augmentation of (C, H, W) samples, as torchvision's
 * Compose([RandomCrop((crop_h, crop_w), padding), RandomHorizontalFlip(0.5)]) before ToTensor and
 * Normalize: the image is padded with zeros (raw zeros, so a padded pixel normalises to
 * -mean/std), cropped at a random offset and flipped with probability 1/2. The draws of a sample
 * are one Philox4x32-10 block (shaders/philox.glsl) keyed by the loader's seed at counter
 * (dataset index, epoch, 0x41554721, 0): the same (seed, epoch, sample) gives the same crop and
 * flip on the device, on the host-streaming path and in vkt__ref_gather_batch, whatever the batch
 * size, order or subset. u8 and f32 features only.
 */
typedef struct vkt_augment_desc {
    uint32_t crop_h, crop_w;   /* output size; 0 = no crop (then padding must be 0) */
    uint32_t padding;          /* zeros added on every side before cropping */
    bool hflip;
} vkt_augment_desc;

typedef struct vkt_loader_desc {
    vkt_dataset *dataset;       /* borrowed; must outlive the loader */
    uint32_t batch_size;        /* 0 -> 32 */
    bool shuffle;               /* reshuffle every epoch from seed + epoch */
    uint64_t seed;              /* shuffling and augmentation */
    bool drop_last;             /* drop a last batch smaller than batch_size */
    vkt_norm norm;
    float mean, std;            /* VKT_NORM_MEAN_STD for every channel */
    /* VKT_NORM_MEAN_STD per channel (copied; overrides mean/std): `channels` entries each, equal
     * to the sample shape's first dimension — C of (C, H, W); for (F) samples, per feature. */
    const float *channel_mean, *channel_std;
    uint32_t channels;
    vkt_augment_desc augment;   /* (C, H, W) u8/f32 samples only */
    const uint32_t *indices;    /* subset of the dataset (copied); NULL = all samples */
    uint32_t count;             /* entries in indices */
    bool stream;                /* force host streaming even when the data fits on the device */
    /* torch's DistributedSampler (set by the trainer's DDP strategy): each epoch's order, padded
     * to a multiple of num_replicas by repeating it from the start, and of that every
     * num_replicas-th sample from `rank`; then batched as usual (drop_last applies to the
     * shard). Every rank must use the same seed. 0: one replica. */
    uint32_t num_replicas, rank;
} vkt_loader_desc;

typedef struct vkt_loader vkt_loader;

typedef struct vkt_batch {
    vkt_tensor *x;     /* (rows, sample shape...) — (rows, features) for flat samples, (rows,
                        * C, crop_h, crop_w) with a crop — owned by the caller / current scope:
                        * f32 for u8/f32 features, i32 (the values exactly) for i32 features */
    vkt_tensor *y;     /* (rows, target shape...): i32 for u8/i32 targets, f32 for f32 targets;
                        * (rows) i32 for class labels */
    uint32_t rows;
    uint32_t index;    /* batch index within the epoch */
} vkt_batch;

/**
 * A loader over desc->dataset. VKT_INVALID_ARGUMENT naming the field for no samples, a bad index,
 * a crop that does not fit, channel arrays of the wrong length, and, for i32 features, any of
 * VKT_NORM_MEAN_STD, channel_mean, channel_std or augment (they would alter the ids).
 */
VKT_API vkt_status vkt_loader_create(vkt_device *dev, const vkt_loader_desc *desc,
                                     vkt_loader **out);
VKT_API void vkt_loader_destroy(vkt_loader *l);
/** Batches per epoch. */
VKT_API uint32_t vkt_loader_num_batches(const vkt_loader *l);
/** Samples per epoch (after drop_last). */
VKT_API uint32_t vkt_loader_num_samples(const vkt_loader *l);
/** True when batches are gathered on the device (the data set was uploaded once). */
VKT_API bool vkt_loader_on_device(const vkt_loader *l);
/** Starts an epoch: reshuffles (if asked), rewinds, and keys the epoch's augmentation. */
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
