/*
 * budget.c — vkt_budget: steps per frame from a device-time budget (include/vkt/gpu.h).
 *
 * Each run writes a timestamp before its first step and one after its last (BOTTOM_OF_PIPE:
 * once every earlier command has finished, so the interval holds the run's commands and not the
 * host's work before them) into its slot of a ring of RING query pairs, resetting the pair in
 * the same command buffer. A slot is read only once vkt's timeline has passed the submit that
 * holds its second timestamp: before that, a reset may not have executed yet and the pair would
 * still hold an older run's values. Reading is non-blocking; only a ring full of unread runs
 * (the device RING runs behind) waits, for the oldest.
 *
 * Test: tests/test_device.c (budget_plans_from_measured_device_time); used by
 * examples/host_app.c.
 */
#include "gpu/device_impl.h"

#define RING 8u
#define DEFAULT_MAX_STEPS 10000u

typedef struct slot {
    uint64_t run; /* 0: free */
    uint32_t steps;
    uint64_t value; /* vkt's timeline value once the run's work has finished */
} slot;

struct vkt_budget {
    vkt_device *dev;
    vkt_budget_desc d;
    VkQueryPool pool; /* 2 per slot */
    slot slots[RING];
    uint64_t used_until; /* timeline value after which no command uses the pool */
    uint64_t runs;
    double step_ms; /* estimate; 0 until a run has been read */
    uint64_t measured_run;
    uint32_t measured_steps;
    double measured_ms;
    double total_ms;
    uint64_t total_steps;
};

static void budget_desc_defaults(vkt_budget_desc *d)
{
    d->min_steps = d->min_steps ? d->min_steps : 1;
    d->max_steps = d->max_steps ? d->max_steps : DEFAULT_MAX_STEPS;
}

static vkt_status validate_budget_desc(const vkt_budget_desc *d)
{
    if (!(d->ms > 0) || d->ms > 1e9) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_budget_create: ms is %g; a run's device time must be a positive "
                          "number of milliseconds",
                          d->ms);
    }
    if (d->min_steps > d->max_steps) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_budget_create: min_steps %u is more than max_steps %u", d->min_steps,
                          d->max_steps);
    }
    return VKT_OK;
}

/* Reads slot i (its work has finished) into the estimate and frees it. */
static vkt_status read_slot(vkt_budget *b, uint32_t i)
{
    vkt_device *dev = b->dev;
    uint64_t ts[2];
    VkResult r =
        dev->vk.vkGetQueryPoolResults(dev->device, b->pool, 2 * i, 2, sizeof ts, ts, sizeof ts[0],
                                      VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "reading the budget's timestamps (vkGetQueryPoolResults)");
    }
    slot *sl = &b->slots[i];
    double ms = (double)vkt__ticks_between(dev, ts[0], ts[1]) * dev->prof.period_ns * 1e-6;
    double per_step = ms / sl->steps;
    /* the newest run weighs 1/2; one at less than half the estimate replaces it, so that a
     * first-use cost (lavapipe compiles a shader on its first execution) does not linger */
    b->step_ms = b->step_ms > 0 && per_step >= 0.5 * b->step_ms ? 0.5 * b->step_ms + 0.5 * per_step
                                                                : per_step;
    b->measured_run = sl->run;
    b->measured_steps = sl->steps;
    b->measured_ms = ms;
    b->total_ms += ms;
    b->total_steps += sl->steps;
    *sl = (slot){0};
    return VKT_OK;
}

/* Reads, oldest first, every run whose work has finished. */
static vkt_status harvest(vkt_budget *b)
{
    uint64_t done = vkt__completed_value(b->dev);
    for (;;) {
        uint32_t oldest = RING;
        for (uint32_t i = 0; i < RING; i++) {
            if (b->slots[i].run && (oldest == RING || b->slots[i].run < b->slots[oldest].run)) {
                oldest = i;
            }
        }
        if (oldest == RING || b->slots[oldest].value > done) {
            return VKT_OK;
        }
        vkt_status s = read_slot(b, oldest);
        if (s != VKT_OK) {
            return s;
        }
    }
}

vkt_status vkt_budget_create(vkt_device *dev, const vkt_budget_desc *desc, vkt_budget **out)
{
    if (out) {
        *out = NULL;
    }
    if (!dev || !desc || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_budget_create: %s is NULL",
                          !dev    ? "dev"
                          : !desc ? "desc"
                                  : "out");
    }
    vkt_budget_desc d = *desc;
    budget_desc_defaults(&d);
    vkt_status s = validate_budget_desc(&d);
    if (s != VKT_OK) {
        return s;
    }
    if (!dev->prof.timestamps) {
        return vkt__error(VKT_UNSUPPORTED,
                          "vkt_budget_create: the device's queue has no timestamp queries "
                          "(timestampValidBits 0), so device time cannot be measured");
    }
    vkt_budget *b = vkt__calloc(1, sizeof *b);
    if (!b) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for a budget");
    }
    b->dev = dev;
    b->d = d;
    VkQueryPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = 2 * RING,
    };
    VkResult r = dev->vk.vkCreateQueryPool(dev->device, &ci, NULL, &b->pool);
    if (r != VK_SUCCESS) {
        s = vkt__vk_error(r, "vkCreateQueryPool (budget)");
        goto fail_pool;
    }
    *out = b;
    return VKT_OK;

fail_pool:
    free(b);
    return s;
}

void vkt_budget_destroy(vkt_budget *b)
{
    if (!b) {
        return;
    }
    vkt_device *dev = b->dev;
    /* the pool may be destroyed only once no command recorded on it is pending: finished by the
     * device, or never submitted (a failed flush); finishing submits what is still recorded */
    if (b->used_until > vkt__completed_value(dev)) {
        (void)vkt_device_finish(dev);
    }
    dev->vk.vkDestroyQueryPool(dev->device, b->pool, NULL);
    free(b);
}

const vkt_budget_desc *vkt_budget_query_desc(const vkt_budget *b) { return b ? &b->d : NULL; }

/* The steps a run makes with the current estimate. */
static uint32_t plan(const vkt_budget *b)
{
    double n = b->step_ms > 0 ? b->d.ms / b->step_ms : 0;
    if (n < b->d.min_steps) {
        return b->d.min_steps;
    }
    return n > b->d.max_steps ? b->d.max_steps : (uint32_t)n;
}

vkt_status vkt_budget_run(vkt_budget *b, vkt_budget_step_fn step, void *user,
                          vkt_budget_report *out)
{
    if (!b || !step) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_budget_run: %s is NULL",
                          !b ? "budget" : "step");
    }
    vkt_device *dev = b->dev;
    vkt_status s = harvest(b);
    if (s != VKT_OK) {
        return s;
    }
    uint64_t run = b->runs + 1;
    uint32_t i = (uint32_t)(run % RING);
    if (b->slots[i].run) {
        /* the device is RING runs behind: wait for the oldest (it is slot i) */
        s = vkt__wait_value(dev, b->slots[i].value, true);
        s = s == VKT_OK ? harvest(b) : s;
        if (s != VKT_OK) {
            return s;
        }
    }
    uint32_t steps = plan(b);
    double step_ms = b->step_ms;
    s = vkt__record_query_reset(dev, b->pool, 2 * i, 2);
    s = s == VKT_OK ? vkt__record_timestamp(dev, b->pool, 2 * i) : s;
    uint32_t made = 0;
    while (s == VKT_OK && made < steps) {
        s = step(user);
        made += s == VKT_OK;
    }
    /* the pair is closed even when a step failed, so that the reset queries are written */
    vkt_status ts = vkt__record_timestamp(dev, b->pool, 2 * i + 1);
    /* also a run that fails or makes no step leaves commands on the pool */
    b->used_until = vkt__pending_value(dev);
    s = s == VKT_OK ? ts : s;
    b->runs = run;
    if (ts == VKT_OK && made > 0) {
        b->slots[i] = (slot){.run = run, .steps = made, .value = vkt__pending_value(dev)};
    }
    vkt_status fs = vkt_device_flush(dev);
    s = s == VKT_OK ? fs : s;
    if (out) {
        *out = (vkt_budget_report){
            .run = run,
            .steps = made,
            .step_ms = step_ms,
            .planned_ms = made * step_ms,
            .measured_run = b->measured_run,
            .measured_steps = b->measured_steps,
            .measured_ms = b->measured_ms,
            .total_ms = b->total_ms,
            .total_steps = b->total_steps,
        };
    }
    return s;
}
