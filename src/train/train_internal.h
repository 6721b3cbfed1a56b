/*
 * train_internal.h — what the trainer (trainer.c, log.c) offers the built-in callbacks, loggers
 * and checkpoint code in src/train/, and what they offer it.
 */
#ifndef VKT_TRAIN_INTERNAL_H
#define VKT_TRAIN_INTERNAL_H

#include "internal.h"
#include "vkt/train.h"

/* ---- trainer.c ---- */

/*
 * Builds the checkpoint dict in Lightning's order (semantics §4.1): epoch, global_step,
 * "pytorch-lightning_version" (vkt's version), state_dict (every model tensor by name, as f32
 * arrays, read back from the device), loops, and unless weights_only: callbacks (each stateful
 * callback's state_dict under its state_key, only when non-empty), optimizer_states,
 * lr_schedulers, hparams; then the callbacks' and the module's on_save_checkpoint hooks, in
 * Lightning's order (all cb.state_dict first, then every cb.on_save_checkpoint, then the module's).
 */
vkt_status vkt__trainer_dump_checkpoint(vkt_trainer *t, bool weights_only, vkt_dict **out);
/* True under fast_dev_run (checkpointing, early stopping and loggers are skipped). */
bool vkt__trainer_fast_dev_run(const vkt_trainer *t);
/* The trainer's resolved desc values the callbacks need. */
const vkt_trainer_desc *vkt__trainer_desc(const vkt_trainer *t);
/* Number of validation batches in the current (sanity or real) validation run. */
uint32_t vkt__trainer_num_eval_batches(const vkt_trainer *t);
/* Whether validation in this fit runs at every epoch end (val_check_interval 1.0 and
 * check_val_every_n_epoch 1) — decides where ModelCheckpoint/EarlyStopping act. */
bool vkt__trainer_val_at_epoch_end(const vkt_trainer *t);
/* True when there is a validation loop with at least one batch. */
bool vkt__trainer_has_val(const vkt_trainer *t);
/* Where run files go: the first logger's log_dir, else default_root_dir. */
const char *vkt__trainer_root_dir(const vkt_trainer *t);
/* Prints a line through the progress bar's stream without breaking a bar (Lightning's print). */
void vkt__trainer_print(vkt_trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- format.c (progress bar and CSV number formatting) ---- */

/* Lightning's Tqdm.format_num: 0.96580 -> "0.966", 2.0 -> "2.000", 1e-05 -> "1e-5", ... */
void vkt__format_num(char *buf, size_t n, double v, bool is_int);
/* Python's repr of a float32 value widened to double: 0.3665059506893158 */
void vkt__format_py_float(char *buf, size_t n, double v);
/* tqdm's MM:SS or H:MM:SS */
void vkt__format_interval(char *buf, size_t n, double seconds);

#endif
