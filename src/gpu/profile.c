/*
 * profile.c — the device profile: per-kernel call counts and device time from timestamp queries,
 * and the recording counters of a profiled window (include/vkt/gpu.h, docs/profiling.md).
 *
 * While profiling is on, recorder.c brackets every dispatch, fill and copy with
 * vkCmdWriteTimestamp at BOTTOM_OF_PIPE: the first is written once all earlier commands have
 * finished, the second once this one has, so overlapping commands are not counted twice and the
 * kernels' times add up to at most the device's busy time. Each command buffer has its own query
 * pools, grown as needed and reset with vkCmdResetQueryPool in the recording that first uses them;
 * their results are read when the command buffer is next reused, or by vkt_device_profile_read.
 * A queue family with timestampValidBits = 0 gets counts only.
 */
#include <string.h>
#include <time.h>

#include "gpu/device_impl.h"

static const char *const transfer_names[] = {"fill", "copy", "upload", "download"};

void vkt__prof_init(vkt_device *dev)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(dev->physical, &n, NULL);
    VkQueueFamilyProperties props[32];
    n = VKT__MIN(n, 32u);
    vkGetPhysicalDeviceQueueFamilyProperties(dev->physical, &n, props);
    uint32_t bits = dev->queue_family < n ? props[dev->queue_family].timestampValidBits : 0;
    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(dev->physical, &base);
    dev->info.timestamp_valid_bits = bits;
    dev->info.timestamp_period = base.limits.timestampPeriod;
    dev->prof.timestamps = bits > 0 && base.limits.timestampPeriod > 0;
    dev->prof.valid_mask = bits >= 64 ? UINT64_MAX : (1ull << bits) - 1;
    dev->prof.period_ns = base.limits.timestampPeriod;
}

double vkt__prof_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void vkt__prof_finish(vkt_device *dev)
{
    for (int i = 0; i < VKT__FRAMES; i++) {
        vkt__frame_prof *p = &dev->frames[i].prof;
        for (uint32_t j = 0; j < p->pool_count; j++) {
            dev->vk.vkDestroyQueryPool(dev->device, p->pools[j], NULL);
        }
        free(p->pools);
        free(p->kinds);
        memset(p, 0, sizeof *p);
    }
}

/* Adds the times of the frame's timed commands (its submit has finished) and forgets them. */
static vkt_status collect(vkt_device *dev, vkt__frame_prof *p)
{
    uint64_t ts[VKT__PROF_POOL_QUERIES];
    uint64_t first = 0, last = 0;
    uint32_t queries = p->count * 2;
    vkt_status s = VKT_OK;
    for (uint32_t pool = 0; pool * VKT__PROF_POOL_QUERIES < queries && s == VKT_OK; pool++) {
        uint32_t n = VKT__MIN(queries - pool * VKT__PROF_POOL_QUERIES, VKT__PROF_POOL_QUERIES);
        VkResult r = dev->vk.vkGetQueryPoolResults(
            dev->device, p->pools[pool], 0, n, sizeof ts, ts, sizeof ts[0],
            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r != VK_SUCCESS) {
            s = vkt__vk_error(r, "reading timestamps (vkGetQueryPoolResults)");
            break;
        }
        for (uint32_t q = 0; q + 1 < n; q += 2) {
            uint32_t cmd = (pool * VKT__PROF_POOL_QUERIES + q) / 2;
            dev->prof.device_ticks[p->kinds[cmd]] += vkt__ticks_between(dev, ts[q], ts[q + 1]);
            if (cmd == 0) {
                first = ts[q];
            }
            last = ts[q + 1];
        }
    }
    if (s == VKT_OK && p->count > 0) {
        dev->prof.busy_ticks += vkt__ticks_between(dev, first, last);
    }
    p->count = 0;
    return s;
}

vkt_status vkt__prof_frame_start(vkt_device *dev, vkt__frame *f)
{
    f->prof.pools_reset = 0;
    return f->prof.count > 0 ? collect(dev, &f->prof) : VKT_OK;
}

vkt_status vkt__prof_before(vkt_device *dev, vkt__frame *f)
{
    vkt__frame_prof *p = &f->prof;
    if (!dev->prof.timestamps) {
        return VKT_OK;
    }
    if (!vkt__grow((void **)&p->kinds, &p->kinds_cap, p->count + 1, sizeof *p->kinds)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory profiling");
    }
    uint32_t query = p->count * 2;
    uint32_t pool = query / VKT__PROF_POOL_QUERIES;
    if (pool >= p->pool_count) {
        if (!vkt__grow((void **)&p->pools, &p->pool_cap, p->pool_count + 1, sizeof *p->pools)) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory profiling");
        }
        VkQueryPoolCreateInfo ci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = VKT__PROF_POOL_QUERIES,
        };
        VkResult r = dev->vk.vkCreateQueryPool(dev->device, &ci, NULL, &p->pools[p->pool_count]);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkCreateQueryPool (profiling)");
        }
        p->pool_count++;
    }
    if (pool >= p->pools_reset) {
        /* queries are ordered among themselves in submission order: no barrier needed */
        dev->vk.vkCmdResetQueryPool(f->cmd, p->pools[pool], 0, VKT__PROF_POOL_QUERIES);
        p->pools_reset = pool + 1;
    }
    dev->vk.vkCmdWriteTimestamp(f->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, p->pools[pool],
                                query % VKT__PROF_POOL_QUERIES);
    return VKT_OK;
}

void vkt__prof_after(vkt_device *dev, vkt__frame *f, uint32_t kind)
{
    vkt__profile *pr = &dev->prof;
    pr->calls[kind]++;
    switch (kind) {
    case VKT__PROF_FILL: pr->fills++; break;
    case VKT__PROF_COPY: pr->copies++; break;
    case VKT__PROF_UPLOAD: pr->uploads++; break;
    case VKT__PROF_DOWNLOAD: pr->downloads++; break;
    default: pr->dispatches++; break;
    }
    if (!pr->timestamps) {
        return;
    }
    vkt__frame_prof *p = &f->prof;
    uint32_t query = p->count * 2 + 1;
    dev->vk.vkCmdWriteTimestamp(f->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
                                p->pools[query / VKT__PROF_POOL_QUERIES],
                                query % VKT__PROF_POOL_QUERIES);
    p->kinds[p->count++] = kind;
}

/* ---- the public API -------------------------------------------------------------------------- */

/* Finishes the device if a timed command may still be in flight, and adds every frame's times. */
static vkt_status collect_all(vkt_device *dev)
{
    bool pending = false;
    for (int i = 0; i < VKT__FRAMES; i++) {
        pending = pending || dev->frames[i].prof.count > 0;
    }
    if (!pending) {
        return VKT_OK;
    }
    vkt_status s = vkt_device_finish(dev);
    for (int i = 0; i < VKT__FRAMES && s == VKT_OK; i++) {
        s = collect(dev, &dev->frames[i].prof);
    }
    return s;
}

vkt_status vkt_device_profile_begin(vkt_device *dev)
{
    if (!dev->prof.on) {
        dev->prof.on = true;
        dev->prof.window_t0 = vkt__now();
    }
    return VKT_OK;
}

vkt_status vkt_device_profile_end(vkt_device *dev)
{
    if (!dev->prof.on) {
        return VKT_OK;
    }
    vkt_status s = vkt_device_finish(dev);
    dev->prof.wall_s += vkt__now() - dev->prof.window_t0;
    dev->prof.on = false;
    return s;
}

vkt_status vkt_device_profile_reset(vkt_device *dev)
{
    vkt_status s = vkt_device_finish(dev);
    for (int i = 0; i < VKT__FRAMES && s == VKT_OK; i++) {
        s = collect(dev, &dev->frames[i].prof);
    }
    vkt__profile keep = dev->prof;
    memset(&dev->prof, 0, sizeof dev->prof);
    dev->prof.on = keep.on;
    dev->prof.timestamps = keep.timestamps;
    dev->prof.valid_mask = keep.valid_mask;
    dev->prof.period_ns = keep.period_ns;
    dev->prof.window_t0 = vkt__now();
    return s;
}

static const char *kind_name(uint32_t kind)
{
    return kind < VKT__SHADER_COUNT ? vkt__shaders[kind].name
                                    : transfer_names[kind - VKT__SHADER_COUNT];
}

static int by_time(const void *a, const void *b)
{
    const vkt_profile_kernel *x = a, *y = b;
    if (x->device_ms != y->device_ms) {
        return x->device_ms < y->device_ms ? 1 : -1;
    }
    if (x->calls != y->calls) {
        return x->calls < y->calls ? 1 : -1;
    }
    return strcmp(x->name, y->name);
}

vkt_status vkt_device_profile_read(vkt_device *dev, vkt_profile *out, vkt_profile_kernel *kernels,
                                   uint32_t max)
{
    vkt_status s = collect_all(dev);
    const vkt__profile *p = &dev->prof;
    double ms_per_tick = p->period_ns * 1e-6;
    *out = (vkt_profile){
        .timestamps = p->timestamps,
        .dispatches = p->dispatches,
        .barriers = p->barriers,
        .fills = p->fills,
        .copies = p->copies,
        .uploads = p->uploads,
        .downloads = p->downloads,
        .submits = p->submits,
        .waits = p->waits,
        .wait_ms = p->wait_s * 1e3,
        .blocks = p->blocks,
        .host_record_us = p->record_s * 1e6,
        .compile_ms = p->compile_s * 1e3,
        .wall_ms = (p->wall_s + (p->on ? vkt__now() - p->window_t0 : 0.0)) * 1e3,
        .device_busy_ms = (double)p->busy_ticks * ms_per_tick,
    };
    vkt_profile_kernel all[VKT__PROF_KINDS];
    uint32_t n = 0;
    for (uint32_t k = 0; k < VKT__PROF_KINDS; k++) {
        if (p->calls[k] > 0) {
            all[n] = (vkt_profile_kernel){kind_name(k), p->calls[k],
                                          (double)p->device_ticks[k] * ms_per_tick};
            out->device_timed_ms += all[n].device_ms;
            n++;
        }
    }
    qsort(all, n, sizeof all[0], by_time);
    out->kernel_count = n;
    if (kernels) {
        memcpy(kernels, all, VKT__MIN(n, max) * sizeof all[0]);
    }
    return s;
}
