/*
 * train_internal.h — what the trainer's files and the helpers of src/train/ (formatting, dicts,
 * checkpoint files, loggers, the callbacks' decisions) offer each other. The built-in callbacks
 * reach the trainer through the public API only (vkt/train.h), as a user's callback does.
 */
#ifndef VKT_TRAIN_INTERNAL_H
#define VKT_TRAIN_INTERNAL_H

#include "internal.h"
#include "vkt/train.h"

/* ---- trainer_state.c ---- */

/* The checkpoint's state_dict into the model's tensors, by name; an error (naming `path`) when
 * one is missing or has the wrong number of values. Shared by fit's resume and `vkt test`. */
vkt_status vkt__load_state_dict(const vkt_dict *ckpt, vkt_model *m, const char *path);

/* ---- format.c (progress bar and CSV number formatting) ---- */

/* Lightning's Tqdm.format_num: 0.96580 -> "0.966", 2.0 -> "2.000", 1e-05 -> "1e-5", ... */
void vkt__format_num(char *buf, size_t n, double v, bool is_int);
/* Python's repr of a float32 value widened to double: 0.3665059506893158 */
void vkt__format_py_float(char *buf, size_t n, double v);
/* tqdm's MM:SS or H:MM:SS */
void vkt__format_interval(char *buf, size_t n, double seconds);
/* Python's repr of a float32 as its shortest literal (what the user would have typed): 0.1 */
void vkt__format_py_float32(char *buf, size_t n, float v);
/*
 * Python's format(value, spec) for an int (is_int) or a float: "", ".2f", "03d", ">8.3e", "%".
 * VKT_INVALID_ARGUMENT for a spec Python rejects (e.g. "d" for a float).
 */
vkt_status vkt__py_format(char *buf, size_t n, double v, bool is_int, const char *spec);
/* Python's repr of a str: 'val_loss' (double quotes when it holds a ' and no "). */
void vkt__py_repr_str(char *buf, size_t n, const char *s);
/* Replaces the locale's decimal point by '.' in a number printf just wrote. */
void vkt__c_decimal_point(char *s);
/* strtod that reads '.' as the decimal point whatever the locale. */
double vkt__strtod_c(const char *s, char **end);
/* Number of display columns of a UTF-8 string (one per code point: bars use no wide glyphs). */
size_t vkt__display_len(const char *s);
/* A warning on stderr ("vkt: warning: ..."), as Lightning's rank_zero_warn: on rank 0 only
 * (every rank when t is NULL). */
void vkt__train_warn(const vkt_trainer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- dict.c (internal access for the checkpoint writer, loggers and callbacks) ---- */

typedef enum vkt__dict_kind {
    VKT__DICT_NONE = 0, /* past the end */
    VKT__DICT_NUMBER,
    VKT__DICT_STRING,
    VKT__DICT_CHILD,
    VKT__DICT_FLOATS,
} vkt__dict_kind;

/* The i-th entry; kind NONE past the end. Pointers stay valid until the dict changes. */
typedef struct vkt__dict_entry {
    vkt__dict_kind kind;
    const char *key;
    double number;
    const char *string;
    const vkt_dict *child;
    const float *floats;
    bool ints; /* integer values (vkt_dict_set_ints, or an integer tensor of a file) */
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    uint64_t count; /* number of floats */
} vkt__dict_entry;

vkt__dict_entry vkt__dict_at(const vkt_dict *d, uint32_t i);
/* Deep copy; NULL on out of memory (error set). */
vkt_dict *vkt__dict_clone(const vkt_dict *d);
/* Copies every entry of src into dst (replacing entries of the same key, recursively cloned). */
vkt_status vkt__dict_update(vkt_dict *dst, const vkt_dict *src);
/* Like vkt_dict_set_floats but takes ownership of `v` (malloc'd; freed on error too); `ints`
 * tags it as vkt_dict_set_ints does (the values must be integers of magnitude <= 2^24). */
vkt_status vkt__dict_set_floats_owned(vkt_dict *d, const char *key, float *v, int ndim,
                                      const int64_t *shape, bool ints);
/* The largest magnitude up to which f32 holds every integer: 2^24. */
#define VKT__F32_EXACT_INT 16777216

/* ---- checkpoint_io.c ---- */

/* mkdir -p; errors name the directory. */
vkt_status vkt__mkdir_p(const char *path);
/* Writes the file's bytes to `f`; false on a write error (errno set). */
typedef bool (*vkt__file_writer)(FILE *f, void *ctx);
/* Whether the first `n` bytes (at most 64) of a temporary file are one of ours. */
typedef bool (*vkt__file_check)(const unsigned char *head, size_t n);
/*
 * `path` written atomically (checkpoint_io.c's header): parent directories made, stale
 * temporaries of this target removed (those `ours` accepts; NULL: any), <path>.tmp.<pid>
 * written, synced, renamed over path, the directory synced. Messages start with `who`.
 */
vkt_status vkt__write_file_atomic(const char *who, const char *path, vkt__file_writer write,
                                  void *ctx, vkt__file_check ours);
/* The whole file into a vkt__malloc'd buffer (*out; free() it). */
vkt_status vkt__read_file(const char *who, const char *path, unsigned char **out, uint64_t *len);

/* ---- checkpoint_format.c ---- */

/* A checkpoint dict encoded as a safetensors file: its header and the arrays it points at. */
typedef struct vkt__ckpt_image vkt__ckpt_image;
/* Encodes (every allocation of a save happens here); errors name `path`. */
vkt_status vkt__checkpoint_encode(const vkt_dict *ckpt, const char *path, vkt__ckpt_image **out);
/* A vkt__file_writer for an image. */
bool vkt__checkpoint_write(FILE *f, void *image);
void vkt__checkpoint_image_free(vkt__ckpt_image *im);
/* A vkt__file_check: empty, or the start of an encoded checkpoint as far as it goes. */
bool vkt__checkpoint_starts_like(const unsigned char *head, size_t n);
/* A file's bytes, validated, into a new dict; errors name `path`. */
vkt_status vkt__checkpoint_decode(const char *path, const unsigned char *buf, uint64_t size,
                                  vkt_dict **out);
/* The dictionary as strict JSON, numbers spelled as in checkpoint metadata (checkpoint_format.c:
 * non-finite numbers as "NaN" / "Infinity" / "-Infinity"). A dict holding an f32 array is
 * refused (VKT_INVALID_ARGUMENT): arrays live in a checkpoint's tensors, not its JSON. Returns a
 * string to free() or NULL (error set). */
char *vkt__dict_to_json(const vkt_dict *d);
/* The checkpoint metadata tree (checkpoint_format.c's "vkt" string) into a new dict; legacy:
 * spelled as before vkt_format (bare NaN / Infinity). Reads back vkt__dict_to_json's text. Errors: VKT_CORRUPT_FILE, VKT_OUT_OF_HOST_MEMORY. */
vkt_status vkt__dict_from_json(const char *json, size_t n, bool legacy, vkt_dict **out);

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF): what jansson,
 * libyaml's reader and Python accept (format.c). */
bool vkt__utf8_valid(const char *s);

/* ---- csv_logger.c ---- */

/* PyYAML's yaml.dump of a dict (sorted keys, block style): what hparams.yaml holds. malloc'd. */
char *vkt__dict_to_yaml(const vkt_dict *d);

/* ---- progress_bar.c ---- */

/*
 * tqdm's format_meter with Lightning's bar format:
 *   "{desc}: {pct:3.0f}%|{bar}| {n}/{total} [{elapsed}<{remaining}, {rate}it/s{, postfix}]"
 * total < 0: unknown ("| 0/? [00:00<?, ?it/s]"). ncols 0: width unknown (10-column bar, no
 * trimming); otherwise the bar fills ncols and the line is trimmed to ncols.
 */
void vkt__format_meter(char *buf, size_t n, const char *desc, uint64_t count, int64_t total,
                       double elapsed, const char *postfix, int ncols);
/* tqdm's set_postfix over (name, value) pairs, Lightning's get_metrics order: v_num (a logger
 * version; NULL or "" for none) first, then the metrics; values go through vkt__format_num. */
void vkt__format_postfix(char *buf, size_t n, const char *v_num, const char *const *names,
                         const double *values, uint32_t count);
/* True for callbacks made by vkt_progress_bar_create. */
bool vkt__is_progress_bar(const vkt_callback *cb);
/* Lightning's progress-bar print (tqdm.write): clears the bars, prints the line (a trailing
 * newline is optional), redraws them. */
void vkt__progress_bar_print(vkt_callback *cb, const char *line);

/* ---- model_checkpoint.c: the decisions, testable without a trainer ---- */

/* Looks a metric up by name (callback_metrics); false when absent. */
typedef bool (*vkt__metric_lookup)(void *ctx, const char *name, double *value);

/*
 * ModelCheckpoint._format_checkpoint_name: "{epoch}-{val_loss:.2f}" -> "epoch=2-val_loss=0.12"
 * (without directory and extension). epoch/step come from `lookup` when it has them (cast to int)
 * and else from `epoch`/`step`; other missing names format as the int 0.
 */
vkt_status vkt__checkpoint_format_name(char *buf, size_t n, const char *tmpl, bool auto_insert,
                                       int64_t epoch, int64_t step, vkt__metric_lookup lookup,
                                       void *ctx);

/* best_k_models and what ModelCheckpoint derives from it. */
typedef struct vkt__topk {
    bool mode_max;
    int32_t save_top_k;     /* -1: all */
    uint32_t count, cap;
    char **paths;           /* insertion order, like the Python dict */
    double *scores;         /* NaN never stored: replaced by the worst value */
    char *kth_best_model_path;
    double kth_value;
    char *best_model_path;
    double best_model_score;
    bool has_best;
} vkt__topk;

void vkt__topk_init(vkt__topk *k, bool mode_max, int32_t save_top_k);
void vkt__topk_free(vkt__topk *k);
/* check_monitor_top_k: whether `current` (NaN = worst) enters the top k. */
bool vkt__topk_check(const vkt__topk *k, double current);
/*
 * The bookkeeping half of _update_best_and_save, in two steps as Lightning does them:
 * vkt__topk_evict pops the k-th best when the top k is full and returns its path (malloc'd, or
 * NULL), the caller picks the file name, then vkt__topk_insert records it. *stored gets the
 * score as stored (NaN replaced by +inf for min, -inf for max).
 */
char *vkt__topk_evict(vkt__topk *k);
vkt_status vkt__topk_insert(vkt__topk *k, const char *path, double current, double *stored);

/* ---- early_stopping.c ---- */

typedef enum vkt__stop_reason {
    VKT__STOP_NOT_STOPPED = 0,
    VKT__STOP_STOPPING_THRESHOLD = 1,
    VKT__STOP_DIVERGENCE_THRESHOLD = 2,
    VKT__STOP_PATIENCE_EXHAUSTED = 3,
    VKT__STOP_NON_FINITE_METRIC = 4,
} vkt__stop_reason;

typedef struct vkt__es_state {
    char monitor[256];
    bool mode_max, check_finite;
    float min_delta;        /* as Lightning stores it: negated for mode min */
    float best_score;       /* f32 like Lightning's tensor: +inf (min) / -inf (max) at start */
    uint32_t patience, wait_count;
    int64_t stopped_epoch;
    vkt__stop_reason reason;
    char message[512];      /* the last reason ("" for none) */
} vkt__es_state;

/* EarlyStopping._evaluate_stopping_criteria on a metric value; returns should_stop and leaves
 * the reason message (or "") in s->message. */
bool vkt__es_evaluate(vkt__es_state *s, float current);

/* DDP (ddp.c): Lightning's reduce_boolean_decision. all false: *decision becomes true on every
 * rank when it is true on any; all true: only when it is true on every rank. Unchanged on one
 * process. Every rank must call it. */
vkt_status vkt__trainer_reduce_bool(vkt_trainer *t, bool *decision, bool all);
/* DDP: rank 0's `bytes` of buf on every rank (Lightning's strategy.broadcast); nothing on one
 * process. Every rank must call it. */
vkt_status vkt__trainer_broadcast(vkt_trainer *t, void *buf, size_t bytes);
/* DDP: this rank's run failed with `s` and `reason`; every other rank's waiting operation fails
 * with it. Nothing on one process, or for VKT_DISTRIBUTED: an error among the ranks (a
 * disagreement every rank found, or another rank's failure) is known to all already. */
void vkt__ddp_failed(vkt_trainer *t, vkt_status s, const char *reason);

#endif
