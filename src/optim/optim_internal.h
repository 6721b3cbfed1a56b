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
/* Sets the schedule's position and the optimizer's lr to match it (as after t steps). */
void vkt__scheduler_set_t(vkt_scheduler *s, uint32_t t);

/* clip_grad_norm_ / clip_grad_value_ over one gradient tensor (the model's block, or a check's). */
vkt_status vkt__clip_grad_norm_tensor(vkt_tensor *g, float max_norm, vkt_tensor **norm_out);
vkt_status vkt__clip_grad_value_tensor(vkt_tensor *g, float clip);

#endif
