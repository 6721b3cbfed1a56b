/*
 * cli_fit.c — the fit `vkt train` and `vkt train --model gpt` run once their trainer is made, and
 * the clock of its training time.
 */
#include <stdio.h>

#include "cli.h"

int vkt_cli_fit(const char *cmd, vkt_trainer *t, vkt_module *m, vkt_loader *train,
                vkt_loader *val, double *seconds)
{
    vkt_device *dev = vkt_trainer_device(t);
    vkt_device_finish(dev);
    vkt_device_reset_stats(dev);
    double t0 = vkt__cli_now();
    if (vkt_trainer_fit(t, m, train, val) != VKT_OK) {
        return vkt_cli_fail(cmd, "training");
    }
    if (seconds) {
        *seconds = vkt__cli_now() - t0;
    }
    return 0;
}

void vkt_cli_clock_start(vkt_cli_clock *c, vkt_trainer *t)
{
    if (c->profile) {
        c->epoch_step0 = vkt_trainer_global_step(t);
        vkt_device_profile_begin(vkt_trainer_device(t));
    }
    c->epoch_t0 = vkt__cli_now();
    c->timing = true;
}

void vkt_cli_clock_stop(vkt_cli_clock *c, vkt_trainer *t, bool finish)
{
    if (c->timing && !vkt_trainer_sanity_checking(t)) {
        if (finish) {
            vkt_device_finish(vkt_trainer_device(t));
        }
        c->train_time += vkt__cli_now() - c->epoch_t0;
        c->timing = false;
        if (c->profile) {
            /* after the clock: its finish is the profile's, not the training time's */
            vkt_device_profile_end(vkt_trainer_device(t));
            c->steps += vkt_trainer_global_step(t) - c->epoch_step0;
        }
    }
}
