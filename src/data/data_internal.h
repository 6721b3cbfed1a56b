/*
 * data_internal.h — what the files of src/data/ share: reading (possibly gzip-compressed) files
 * whose headers announce sizes (file_read.c), the dataset constructor the readers end in
 * (dataset.c), and the loader's internals used by checks and the trainer (loader.c).
 */
#ifndef VKT_DATA_INTERNAL_H
#define VKT_DATA_INTERNAL_H

#include <zlib.h>

#include "internal.h"
#include "vkt/data.h"

/* Opens `path` for vkt__read_exact / vkt__read_payload (VKT_IO naming it on failure). */
vkt_status vkt__read_open(const char *path, gzFile *out);
/* Reads n bytes of `what` into dst; `done` bytes of it (of `whole` in all) came before. */
vkt_status vkt__read_exact(gzFile f, const char *path, void *dst, size_t n, const char *what,
                           size_t done, size_t whole);
/*
 * Reads the `total` data bytes after a `header`-byte header and checks that nothing follows. The
 * header's size is a claim: a raw file's size is checked against it first, and the buffer grows
 * with the data that arrives, so a short file claiming 16 GiB allocates little.
 */
vkt_status vkt__read_payload(gzFile f, const char *path, size_t header, size_t total,
                             uint8_t **out);

/* Elements of a shape; false when the product exceeds `limit`. */
bool vkt__shape_elems(int ndim, const int64_t *dims, uint64_t limit, uint64_t *out);

/* The names of a dataset's two arrays in errors: file names and what they hold. */
typedef struct vkt__array_names {
    const char *x, *y;           /* e.g. paths */
    const char *x_noun, *y_noun; /* "images", "labels" */
} vkt__array_names;

/*
 * A dataset over n samples from two arrays whose first dimension is n (taken over and emptied,
 * on error too). `flatten_x` makes samples (prod), as the IDX loader does.
 */
vkt_status vkt__dataset_from_arrays(vkt_array *x, vkt_array *y, bool flatten_x,
                                    const vkt__array_names *names, vkt_dataset **out);
/* A dataset taking over x_data and y_data (freed on error too); desc's pointers are ignored. */
vkt_status vkt__dataset_adopt(const vkt_dataset_desc *desc, void *x_data, void *y_data,
                              vkt_dataset **out);

/* The current epoch's order, as positions in the loader's subset (dataset indices without one). */
const uint32_t *vkt__loader_order(const vkt_loader *l);
/* Dataset index of each position in the loader's subset. */
const uint32_t *vkt__loader_subset(const vkt_loader *l);
/* overfit_batches turns shuffling off for the run; returns the previous setting. */
bool vkt__loader_set_shuffle(vkt_loader *l, bool shuffle);
/* Makes the loader yield shard `rank` of `replicas` of every epoch (DistributedSampler). */
vkt_status vkt__loader_set_replicas(vkt_loader *l, uint32_t replicas, uint32_t rank);
void vkt__loader_replicas(const vkt_loader *l, uint32_t *replicas, uint32_t *rank);

/* The counter word that separates augmentation draws from other Philox streams ("AUG!"). */
#define VKT__AUGMENT_TAG 0x41554721u

#endif
