/*
 * optim_internal.h — what checkpoints, checks and tests reach inside optimizers, schedules and
 * gradient clipping (src/optim/optimizer.c, src/optim/clip.c).
 */
#ifndef VKT_OPTIM_INTERNAL_H
#define VKT_OPTIM_INTERNAL_H

#include "vkt/nn.h"

/* Optimizer state block i (0: momentum or Adam's m; 1: Adam's v); NULL when it has none. */
vkt_tensor *vkt__optimizer_state(vkt_optimizer *o, int i);
/* Restores the step count from a checkpoint. */
void vkt__optimizer_set_steps(vkt_optimizer *o, uint32_t steps);
/* Parameter groups as torch's param_groups: 1, or 2 with vkt_optim_desc.no_decay (group 0
 * decays, group 1 does not). Parameters are numbered 0 .. n_trainable - 1 in state-dict order,
 * buffers skipped; group_params writes group g's numbers (idx has room for n_trainable) and
 * returns how many. */
uint32_t vkt__optimizer_num_groups(const vkt_optimizer *o);
uint32_t vkt__optimizer_n_trainable(const vkt_optimizer *o);
uint32_t vkt__optimizer_group_params(const vkt_optimizer *o, uint32_t g, int64_t *idx);
float vkt__optimizer_group_weight_decay(const vkt_optimizer *o, uint32_t g);
/* Sets the schedule's position and the optimizer's lr to match it (as after t steps). */
void vkt__scheduler_set_t(vkt_scheduler *s, uint32_t t);

/* clip_grad_norm_ / clip_grad_value_ over one gradient tensor (the model's block, or a check's). */
vkt_status vkt__clip_grad_norm_tensor(vkt_tensor *g, float max_norm, vkt_tensor **norm_out);
vkt_status vkt__clip_grad_value_tensor(vkt_tensor *g, float clip);

#endif
