/*
 * trainer_desc.c — the trainer's flags: Lightning's defaults for the zeros, validation, what
 * fast_dev_run / overfit_batches imply, and batch limits. Tests: tests/test_trainer_flags.c.
 */
#include "train/trainer_impl.h"

void vkt__trainer_desc_defaults(vkt_device *dev, vkt_trainer_desc *d)
{
    if (d->max_epochs == 0 && d->max_steps == 0) {
        d->max_epochs = 1000;
    } else if (d->max_epochs == 0) {
        d->max_epochs = VKT_UNLIMITED;
    }
    if (d->max_steps == 0) {
        d->max_steps = VKT_UNLIMITED;
    }
    d->check_val_every_n_epoch = VKT__DEF(d->check_val_every_n_epoch, 1);
    d->num_sanity_val_steps = VKT__DEF(d->num_sanity_val_steps, 2);
    d->log_every_n_steps = VKT__DEF(d->log_every_n_steps, 50u);
    d->accumulate_grad_batches = VKT__DEF(d->accumulate_grad_batches, 1u);
    if (d->gradient_clip_algorithm == VKT_CLIP_DEFAULT) {
        d->gradient_clip_algorithm = VKT_CLIP_NORM;
    }
    if (!d->progress_stream) {
        d->progress_stream = stdout;
    }
    d->ddp_bucket_bytes = VKT__DEF(d->ddp_bucket_bytes, (size_t)25 << 20);
    if (d->store_budget == 0) {
        vkt_device_stats st;
        vkt_device_get_stats(dev, &st);
        d->store_budget = st.memory_limit / 4;
    }
}

vkt_status vkt__trainer_desc_validate(const vkt_trainer_desc *d)
{
    if (d->gradient_clip_algorithm != VKT_CLIP_NORM &&
        d->gradient_clip_algorithm != VKT_CLIP_VALUE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "gradient_clip_algorithm %d is not norm or value",
                          (int)d->gradient_clip_algorithm);
    }
    if (d->ckpt && !d->ckpt_path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "ckpt is given without ckpt_path; name the file "
                                                "it was read from");
    }
    const vkt_limit *lims[] = {&d->limit_train_batches, &d->limit_val_batches,
                               &d->limit_test_batches, &d->limit_predict_batches,
                               &d->val_check_interval, &d->overfit_batches};
    for (size_t i = 0; i < VKT__ARRAY_LEN(lims); i++) {
        if (lims[i]->count < 0 || lims[i]->fraction < 0 || lims[i]->fraction > 1.0 ||
            (lims[i]->count > 0 && lims[i]->fraction > 0)) {
            return vkt__error(VKT_INVALID_ARGUMENT, "a batch limit takes a count >= 0 or a "
                                                    "fraction in [0, 1], not both");
        }
    }
    return VKT_OK;
}

void vkt__trainer_desc_apply_modes(vkt_trainer_desc *d)
{
    if (d->fast_dev_run) {
        vkt_limit n = {.count = d->fast_dev_run};
        d->limit_train_batches = d->limit_val_batches = n;
        d->limit_test_batches = d->limit_predict_batches = n;
        d->max_steps = d->fast_dev_run;
        d->max_epochs = 1;
        d->disable_sanity_check = true;
        d->val_check_interval = (vkt_limit){0};
        d->check_val_every_n_epoch = 1;
    }
    if (d->overfit_batches.count > 0 || d->overfit_batches.fraction > 0) {
        d->limit_train_batches = d->limit_val_batches = d->overfit_batches;
    }
}

vkt_status vkt__limit_batches(const vkt_limit *l, uint32_t n, const char *what, uint32_t *out)
{
    if (l->none) {
        *out = 0;
    } else if (l->count > 0) {
        *out = (uint32_t)VKT__MIN((int64_t)n, l->count);
    } else if (l->fraction > 0) {
        *out = (uint32_t)((double)n * l->fraction);
        if (*out == 0 && n > 0) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "you requested to check %g of the %s batches, but %g * %u < 1; "
                              "increase limit_%s_batches",
                              l->fraction, what, l->fraction, n, what);
        }
    } else {
        *out = n;
    }
    return VKT_OK;
}
