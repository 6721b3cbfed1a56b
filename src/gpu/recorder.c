/*
 * recorder.c — command recording, barriers, submission, staging.
 *
 * VKT__FRAMES command buffers rotate. Ops record into the current one; a submit signals the next
 * value of one timeline semaphore, and a frame is reused only after its value has been reached.
 * The host blocks only in vkt__wait_value: to read a value or finish (a host wait), or to reuse a
 * command buffer still in flight (a frame wait: back-pressure when the device is the bottleneck).
 *
 * Barriers come from read/write tracking: every buffer range a command reads or writes is kept in
 * dev->pending until the next barrier. A command that writes a range something pending touches,
 * or reads a range something pending wrote, gets one global memory barrier first (the pattern
 * ggml-vulkan uses; on buffers a global barrier costs the same as a buffer barrier on current
 * drivers). The pending list survives submits: a barrier's first scope covers all earlier
 * submissions on the queue, so work split over command buffers stays ordered.
 *
 * While the device profile is on (profile.c), each command is bracketed by the profile's
 * timestamps and the entry points of gpu_internal.h time their own host work; when it is off
 * the only cost is one test of dev->prof.on per command.
 */
#include <string.h>

#include "gpu/device_impl.h"
#include "vkt/vulkan.h"

#define DESC_POOL_SETS 256u

/* ---- timeline -------------------------------------------------------------------------------- */

uint64_t vkt__completed_value(vkt_device *dev)
{
    uint64_t v = 0;
    if (dev->vk.vkGetSemaphoreCounterValue(dev->device, dev->timeline, &v) != VK_SUCCESS) {
        return 0;
    }
    return v;
}

uint64_t vkt__pending_value(vkt_device *dev)
{
    return dev->frames[dev->frame].recording ? dev->submitted + 1 : dev->submitted;
}

vkt_status vkt__wait_value(vkt_device *dev, uint64_t value, bool throttle)
{
    if (value == 0 || vkt__completed_value(dev) >= value) {
        return VKT_OK;
    }
    VkSemaphoreWaitInfo wi = {
        .sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
        .semaphoreCount = 1,
        .pSemaphores = &dev->timeline,
        .pValues = &value,
    };
    if (throttle) {
        dev->stats.frame_waits++;
    } else {
        dev->stats.host_waits++;
    }
    double t0 = dev->prof.on ? vkt__now() : 0.0;
    VkResult r = dev->vk.vkWaitSemaphores(dev->device, &wi, UINT64_MAX);
    if (dev->prof.on) {
        dev->prof.waits++;
        dev->prof.wait_s += vkt__now() - t0;
    }
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "waiting for the device (vkWaitSemaphores)");
    }
    return VKT_OK;
}

/* ---- frames ---------------------------------------------------------------------------------- */

static vkt_status new_desc_pool(vkt_device *dev, vkt__frame *f)
{
    if (!vkt__grow((void **)&f->desc_pools, &f->desc_pool_cap, f->desc_pool_count + 1,
                   sizeof *f->desc_pools)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for descriptor pools");
    }
    /* room for DESC_POOL_SETS dispatches, each with a storage-buffer set and a texel set */
    VkDescriptorPoolSize sizes[2] = {
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, DESC_POOL_SETS * VKT__MAX_BINDINGS},
        {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, DESC_POOL_SETS * VKT__MAX_TEXELS},
    };
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = 2 * DESC_POOL_SETS,
        .poolSizeCount = 2,
        .pPoolSizes = sizes,
    };
    VkResult r = dev->vk.vkCreateDescriptorPool(dev->device, &ci, NULL,
                                                &f->desc_pools[f->desc_pool_count]);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateDescriptorPool");
    }
    f->desc_pool_count++;
    return VKT_OK;
}

vkt_status vkt__frames_init(vkt_device *dev)
{
    VkSemaphoreTypeCreateInfo tci = {
        .sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
        .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
        .initialValue = 0,
    };
    VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &tci};
    VkResult r = dev->vk.vkCreateSemaphore(dev->device, &sci, NULL, &dev->timeline);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateSemaphore (timeline)");
    }
    for (int i = 0; i < VKT__FRAMES; i++) {
        vkt__frame *f = &dev->frames[i];
        VkCommandPoolCreateInfo pci = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
            .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
            .queueFamilyIndex = dev->queue_family,
        };
        r = dev->vk.vkCreateCommandPool(dev->device, &pci, NULL, &f->pool);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkCreateCommandPool");
        }
        VkCommandBufferAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
            .commandPool = f->pool,
            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
            .commandBufferCount = 1,
        };
        r = dev->vk.vkAllocateCommandBuffers(dev->device, &ai, &f->cmd);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkAllocateCommandBuffers");
        }
        vkt_status s = new_desc_pool(dev, f);
        if (s != VKT_OK) {
            return s;
        }
        VkBufferCreateInfo bci = {
            .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
            .size = dev->staging_size,
            .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
            .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
        };
        r = dev->vk.vkCreateBuffer(dev->device, &bci, NULL, &f->staging);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkCreateBuffer (staging)");
        }
        VkMemoryRequirements req;
        dev->vk.vkGetBufferMemoryRequirements(dev->device, f->staging, &req);
        if (!(req.memoryTypeBits & (1u << dev->staging_type))) {
            return vkt__error(VKT_UNSUPPORTED, "staging memory type not usable for buffers");
        }
        VkMemoryAllocateInfo mai = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            .allocationSize = req.size,
            .memoryTypeIndex = dev->staging_type,
        };
        r = dev->vk.vkAllocateMemory(dev->device, &mai, NULL, &f->staging_mem);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkAllocateMemory (staging)");
        }
        r = dev->vk.vkBindBufferMemory(dev->device, f->staging, f->staging_mem, 0);
        if (r == VK_SUCCESS) {
            r = dev->vk.vkMapMemory(dev->device, f->staging_mem, 0, VK_WHOLE_SIZE, 0,
                                    (void **)&f->staging_ptr);
        }
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "mapping staging memory");
        }
    }
    return VKT_OK;
}

/* The frame's texel views (its work has completed). */
static void destroy_views(vkt_device *dev, vkt__frame *f)
{
    for (uint32_t i = 0; i < f->view_count; i++) {
        dev->vk.vkDestroyBufferView(dev->device, f->views[i], NULL);
    }
    f->view_count = 0;
}

void vkt__frames_finish(vkt_device *dev)
{
    for (int i = 0; i < VKT__FRAMES; i++) {
        vkt__frame *f = &dev->frames[i];
        destroy_views(dev, f);
        free(f->views);
        for (uint32_t j = 0; j < f->desc_pool_count; j++) {
            dev->vk.vkDestroyDescriptorPool(dev->device, f->desc_pools[j], NULL);
        }
        free(f->desc_pools);
        if (f->staging) {
            dev->vk.vkDestroyBuffer(dev->device, f->staging, NULL);
        }
        if (f->staging_mem) {
            dev->vk.vkFreeMemory(dev->device, f->staging_mem, NULL);
        }
        if (f->pool) {
            dev->vk.vkDestroyCommandPool(dev->device, f->pool, NULL);
        }
        memset(f, 0, sizeof *f);
    }
    if (dev->timeline) {
        dev->vk.vkDestroySemaphore(dev->device, dev->timeline, NULL);
        dev->timeline = VK_NULL_HANDLE;
    }
}

static vkt_status begin(vkt_device *dev, vkt__frame **out)
{
    vkt__frame *f = &dev->frames[dev->frame];
    if (!f->recording) {
        vkt_status s = vkt__wait_value(dev, f->value, true);
        if (s != VKT_OK) {
            return s;
        }
        vkt__memory_collect(dev);
        s = vkt__prof_frame_start(dev, f);
        if (s != VKT_OK) {
            return s;
        }
        VkResult r = dev->vk.vkResetCommandPool(dev->device, f->pool, 0);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkResetCommandPool");
        }
        for (uint32_t j = 0; j < f->desc_pool_count; j++) {
            dev->vk.vkResetDescriptorPool(dev->device, f->desc_pools[j], 0);
        }
        f->desc_pool_current = 0;
        destroy_views(dev, f);
        f->staging_used = 0;
        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        r = dev->vk.vkBeginCommandBuffer(f->cmd, &bi);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkBeginCommandBuffer");
        }
        f->recording = true;
    }
    *out = f;
    return VKT_OK;
}

/* Submits the recorded work with the host's pending waits; an empty batch when nothing is
 * recorded but there are waits or a host semaphore to signal (a signal's first scope is every
 * command submitted to the queue before it, so it still follows all of vkt's work). */
static vkt_status submit(vkt_device *dev, VkSemaphore host_signal, uint64_t host_value)
{
    vkt__frame *f = &dev->frames[dev->frame];
    if (!f->recording && host_signal == VK_NULL_HANDLE && dev->host_wait_count == 0) {
        return VKT_OK;
    }
    bool with_cmd = f->recording;
    if (with_cmd) {
        f->recording = false;
        VkResult r = dev->vk.vkEndCommandBuffer(f->cmd);
        if (r != VK_SUCCESS) {
            return vkt__vk_error(r, "vkEndCommandBuffer");
        }
    }
    uint64_t value = dev->submitted + 1;
    VkSemaphore signals[2] = {dev->timeline, host_signal};
    uint64_t signal_values[2] = {value, host_value};
    uint32_t n_signals = host_signal == VK_NULL_HANDLE ? 1 : 2;
    /* vkt's commands are compute dispatches, transfers and timestamps */
    VkPipelineStageFlags stages[VKT__HOST_SEMAPHORES];
    for (uint32_t i = 0; i < dev->host_wait_count; i++) {
        stages[i] = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                    VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT;
    }
    VkTimelineSemaphoreSubmitInfo tsi = {
        .sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
        .waitSemaphoreValueCount = dev->host_wait_count,
        .pWaitSemaphoreValues = dev->host_wait_values,
        .signalSemaphoreValueCount = n_signals,
        .pSignalSemaphoreValues = signal_values,
    };
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .pNext = &tsi,
        .waitSemaphoreCount = dev->host_wait_count,
        .pWaitSemaphores = dev->host_waits,
        .pWaitDstStageMask = stages,
        .commandBufferCount = with_cmd ? 1 : 0,
        .pCommandBuffers = &f->cmd,
        .signalSemaphoreCount = n_signals,
        .pSignalSemaphores = signals,
    };
    VkResult r = dev->vk.vkQueueSubmit(dev->queue, 1, &si, VK_NULL_HANDLE);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkQueueSubmit");
    }
    dev->host_wait_count = 0;
    dev->submitted = value;
    dev->stats.submits++;
    if (dev->prof.on) {
        dev->prof.submits++;
    }
    if (with_cmd) {
        f->value = value;
        dev->frame = (dev->frame + 1) % VKT__FRAMES;
    }
    return VKT_OK;
}

vkt_status vkt_device_flush(vkt_device *dev)
{
    if (!dev) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_device_flush: dev is NULL");
    }
    return submit(dev, VK_NULL_HANDLE, 0);
}

vkt_status vkt_device_wait_semaphore(vkt_device *dev, VkSemaphore semaphore, uint64_t value)
{
    if (!dev || semaphore == VK_NULL_HANDLE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_device_wait_semaphore: %s is NULL",
                          dev ? "semaphore" : "dev");
    }
    if (dev->host_wait_count == VKT__HOST_SEMAPHORES) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_device_wait_semaphore: more than %d waits before vkt's next submit",
                          VKT__HOST_SEMAPHORES);
    }
    /* what was recorded before this call does not wait */
    if (dev->frames[dev->frame].recording) {
        vkt_status s = submit(dev, VK_NULL_HANDLE, 0);
        if (s != VKT_OK) {
            return s;
        }
    }
    dev->host_waits[dev->host_wait_count] = semaphore;
    dev->host_wait_values[dev->host_wait_count++] = value;
    return VKT_OK;
}

vkt_status vkt_device_signal_semaphore(vkt_device *dev, VkSemaphore semaphore, uint64_t value)
{
    if (!dev || semaphore == VK_NULL_HANDLE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_device_signal_semaphore: %s is NULL",
                          dev ? "semaphore" : "dev");
    }
    return submit(dev, semaphore, value);
}

vkt_status vkt_device_finish(vkt_device *dev)
{
    vkt_status s = vkt_device_flush(dev);
    if (s != VKT_OK) {
        return s;
    }
    s = vkt__wait_value(dev, dev->submitted, false);
    if (s == VKT_OK) {
        vkt__memory_collect(dev);
    }
    return s;
}

/* ---- hazard tracking ------------------------------------------------------------------------- */

static bool overlaps(const vkt__access *p, VkBuffer buf, VkDeviceSize off, VkDeviceSize size)
{
    return p->buffer == buf && off < p->offset + p->size && p->offset < off + size;
}

static bool hazard(const vkt_device *dev, VkBuffer buf, VkDeviceSize off, VkDeviceSize size,
                   uint32_t access)
{
    for (uint32_t i = 0; i < dev->pending_count; i++) {
        const vkt__access *p = &dev->pending[i];
        if (((access & VKT__WRITE) || (p->access & VKT__WRITE)) && overlaps(p, buf, off, size)) {
            return true;
        }
    }
    return false;
}

static void barrier(vkt_device *dev, vkt__frame *f)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                         VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    dev->vk.vkCmdPipelineBarrier(f->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
    dev->stats.barriers++;
    if (dev->prof.on) {
        dev->prof.barriers++;
    }
    dev->pending_count = 0;
}

static vkt_status track(vkt_device *dev, VkBuffer buf, VkDeviceSize off, VkDeviceSize size,
                        uint32_t access)
{
    if (!vkt__grow((void **)&dev->pending, &dev->pending_cap, dev->pending_count + 1,
                   sizeof *dev->pending)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory tracking accesses");
    }
    dev->pending[dev->pending_count++] = (vkt__access){buf, off, size, access};
    return VKT_OK;
}

/* ---- commands -------------------------------------------------------------------------------- */

void vkt__groups_2d(uint64_t groups, uint32_t out[3])
{
    if (groups == 0) {
        groups = 1;
    }
    if (groups <= VKT__MAX_GROUPS) {
        out[0] = (uint32_t)groups;
        out[1] = 1;
    } else {
        out[0] = VKT__MAX_GROUPS;
        out[1] = (uint32_t)VKT__DIV_UP(groups, (uint64_t)VKT__MAX_GROUPS);
    }
    out[2] = 1;
}

static vkt_status alloc_set(vkt_device *dev, vkt__frame *f, VkDescriptorSetLayout layout,
                            VkDescriptorSet *set)
{
    for (;;) {
        if (f->desc_pool_current >= f->desc_pool_count) {
            vkt_status s = new_desc_pool(dev, f);
            if (s != VKT_OK) {
                return s;
            }
        }
        VkDescriptorSetAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = f->desc_pools[f->desc_pool_current],
            .descriptorSetCount = 1,
            .pSetLayouts = &layout,
        };
        VkResult r = dev->vk.vkAllocateDescriptorSets(dev->device, &ai, set);
        if (r == VK_SUCCESS) {
            return VKT_OK;
        }
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) {
            return vkt__vk_error(r, "vkAllocateDescriptorSets");
        }
        f->desc_pool_current++;
    }
}

/* A binding's offset within its VkBuffer. */
static VkDeviceSize abs_offset(const vkt__binding *b) { return b->alloc->offset + b->offset; }

bool vkt__texel_usable(const vkt_device *dev, const vkt__binding *b)
{
    const vkt__caps *c = &dev->caps;
    return c->texel4 && b->alloc && !b->alloc->no_texel && b->size >= 16 &&
           b->size <= c->texel4_max_bytes && abs_offset(b) % c->texel_align == 0;
}

vkt__binding vkt__texel_or_none(const vkt_device *dev, vkt__binding b)
{
    b.access = VKT__READ;
    return b.size % 16 == 0 && vkt__texel_usable(dev, &b) ? b : (vkt__binding){0};
}

/* A texel view of the whole texels of `b` (a trailing size % 16 bytes is left to the shader's
 * storage-buffer path), destroyed when the frame is next reused (views are cheap to make;
 * caching them would need invalidation whenever a range is freed). */
static vkt_status texel_view(vkt_device *dev, vkt__frame *f, const vkt__binding *b, bool ints,
                             VkBufferView *out)
{
    VKT__ASSERT(vkt__texel_usable(dev, b));
    if (!vkt__grow((void **)&f->views, &f->view_cap, f->view_count + 1, sizeof *f->views)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for texel views");
    }
    VkBufferViewCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
        .buffer = b->alloc->buffer,
        .format = ints ? VK_FORMAT_R32G32B32A32_SINT : VK_FORMAT_R32G32B32A32_SFLOAT,
        .offset = abs_offset(b),
        .range = b->size & ~(uint64_t)15,
    };
    VkResult r = dev->vk.vkCreateBufferView(dev->device, &ci, NULL, out);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateBufferView");
    }
    f->views[f->view_count++] = *out;
    return VKT_OK;
}

/* Allocates, writes and binds set 1 for the dispatch's texel bindings (an unused slot repeats
 * a used float view, or is the dummy view of its kind: every descriptor of a bound set must be
 * valid and of the type the shader declares). */
static vkt_status bind_texels(vkt_device *dev, vkt__frame *f, const vkt__dispatch_desc *d)
{
    VkBufferView views[VKT__MAX_TEXELS] = {VK_NULL_HANDLE};
    VkBufferView any = dev->dummy_view;
    for (int i = 0; i < VKT__MAX_TEXELS; i++) {
        bool ints = d->texel_ints & (1u << i);
        if (d->texels[i].alloc) {
            vkt_status s = texel_view(dev, f, &d->texels[i], ints, &views[i]);
            if (s != VKT_OK) {
                return s;
            }
            any = ints ? any : views[i];
        }
    }
    for (int i = 0; i < VKT__MAX_TEXELS; i++) {
        bool ints = d->texel_ints & (1u << i);
        views[i] = views[i] ? views[i] : ints ? dev->dummy_int_view : any;
    }
    vkt_status s;
    VkDescriptorSet set;
    s = alloc_set(dev, f, dev->texel_layout, &set);
    if (s != VKT_OK) {
        return s;
    }
    VkWriteDescriptorSet writes[VKT__MAX_TEXELS];
    for (int i = 0; i < VKT__MAX_TEXELS; i++) {
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
            .pTexelBufferView = &views[i],
        };
    }
    dev->vk.vkUpdateDescriptorSets(dev->device, VKT__MAX_TEXELS, writes, 0, NULL);
    dev->vk.vkCmdBindDescriptorSets(f->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, dev->pipeline_layout, 1,
                                    1, &set, 0, NULL);
    return VKT_OK;
}

/* The profile's timestamps around a command, while it is on (profile.c). */
static vkt_status timed_begin(vkt_device *dev, vkt__frame *f)
{
    return dev->prof.on ? vkt__prof_before(dev, f) : VKT_OK;
}

static void timed_end(vkt_device *dev, vkt__frame *f, uint32_t kind)
{
    if (dev->prof.on) {
        vkt__prof_after(dev, f, kind);
    }
}

static vkt_status record_dispatch(vkt_device *dev, const vkt__dispatch_desc *d, VkPipeline pipe)
{
    vkt__frame *f = NULL;
    vkt_status s = begin(dev, &f);
    if (s != VKT_OK) {
        return s;
    }
    bool need_barrier = false;
    for (int i = 0; i < VKT__MAX_BINDINGS && !need_barrier; i++) {
        const vkt__binding *b = &d->bindings[i];
        need_barrier = b->alloc && hazard(dev, b->alloc->buffer, abs_offset(b), b->size, b->access);
    }
    for (int i = 0; i < VKT__MAX_TEXELS && !need_barrier; i++) {
        const vkt__binding *b = &d->texels[i];
        need_barrier = b->alloc && hazard(dev, b->alloc->buffer, abs_offset(b), b->size, VKT__READ);
    }
    if (need_barrier) {
        barrier(dev, f);
    }
    VkDescriptorSet set;
    s = alloc_set(dev, f, dev->set_layout, &set);
    if (s != VKT_OK) {
        return s;
    }
    VkDescriptorBufferInfo infos[VKT__MAX_BINDINGS];
    VkWriteDescriptorSet writes[VKT__MAX_BINDINGS];
    for (int i = 0; i < VKT__MAX_BINDINGS; i++) {
        const vkt__binding *b = &d->bindings[i];
        infos[i] = b->alloc ? (VkDescriptorBufferInfo){b->alloc->buffer, abs_offset(b), b->size}
                            : (VkDescriptorBufferInfo){dev->dummy, dev->dummy_alloc->offset, 256};
        writes[i] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = set,
            .dstBinding = (uint32_t)i,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[i],
        };
    }
    dev->vk.vkUpdateDescriptorSets(dev->device, VKT__MAX_BINDINGS, writes, 0, NULL);
    dev->vk.vkCmdBindPipeline(f->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    dev->vk.vkCmdBindDescriptorSets(f->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, dev->pipeline_layout, 0,
                                    1, &set, 0, NULL);
    bool texels = d->texel_set;
    for (int i = 0; i < VKT__MAX_TEXELS; i++) {
        texels = texels || d->texels[i].alloc;
    }
    if (texels) {
        s = bind_texels(dev, f, d);
        if (s != VKT_OK) {
            return s;
        }
    }
    if (d->push_size > 0) {
        dev->vk.vkCmdPushConstants(f->cmd, dev->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                   d->push_size, d->push);
    }
    uint32_t gx = VKT__DEF(d->groups[0], 1u), gy = VKT__DEF(d->groups[1], 1u),
             gz = VKT__DEF(d->groups[2], 1u);
    s = timed_begin(dev, f);
    if (s != VKT_OK) {
        return s;
    }
    dev->vk.vkCmdDispatch(f->cmd, gx, gy, gz);
    timed_end(dev, f, (uint32_t)d->shader);
    dev->stats.dispatches++;
    for (int i = 0; i < VKT__MAX_BINDINGS; i++) {
        const vkt__binding *b = &d->bindings[i];
        if (b->alloc) {
            s = track(dev, b->alloc->buffer, abs_offset(b), b->size, b->access);
            if (s != VKT_OK) {
                return s;
            }
        }
    }
    for (int i = 0; i < VKT__MAX_TEXELS; i++) {
        const vkt__binding *b = &d->texels[i];
        if (b->alloc) {
            s = track(dev, b->alloc->buffer, abs_offset(b), b->size, VKT__READ);
            if (s != VKT_OK) {
                return s;
            }
        }
    }
    return VKT_OK;
}

vkt_status vkt__record_query_reset(vkt_device *dev, VkQueryPool pool, uint32_t first,
                                   uint32_t count)
{
    vkt__frame *f = NULL;
    vkt_status s = begin(dev, &f);
    if (s == VKT_OK) {
        dev->vk.vkCmdResetQueryPool(f->cmd, pool, first, count);
    }
    return s;
}

vkt_status vkt__record_timestamp(vkt_device *dev, VkQueryPool pool, uint32_t query)
{
    vkt__frame *f = NULL;
    vkt_status s = begin(dev, &f);
    if (s == VKT_OK) {
        dev->vk.vkCmdWriteTimestamp(f->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, query);
    }
    return s;
}

static vkt_status fill_buffer(vkt_device *dev, VkBuffer buf, VkDeviceSize offset,
                              VkDeviceSize size, uint32_t word)
{
    VKT__ASSERT(offset % 4 == 0 && size % 4 == 0);
    vkt__frame *f = NULL;
    vkt_status s = begin(dev, &f);
    if (s != VKT_OK) {
        return s;
    }
    if (hazard(dev, buf, offset, size, VKT__WRITE)) {
        barrier(dev, f);
    }
    s = timed_begin(dev, f);
    if (s != VKT_OK) {
        return s;
    }
    dev->vk.vkCmdFillBuffer(f->cmd, buf, offset, size, word);
    timed_end(dev, f, VKT__PROF_FILL);
    dev->stats.transfers++;
    return track(dev, buf, offset, size, VKT__WRITE);
}

static vkt_status copy_buffer(vkt_device *dev, VkBuffer src, VkDeviceSize src_off, VkBuffer dst,
                              VkDeviceSize dst_off, VkDeviceSize size, uint32_t kind)
{
    vkt__frame *f = NULL;
    vkt_status s = begin(dev, &f);
    if (s != VKT_OK) {
        return s;
    }
    if (hazard(dev, src, src_off, size, VKT__READ) || hazard(dev, dst, dst_off, size, VKT__WRITE)) {
        barrier(dev, f);
    }
    VkBufferCopy region = {src_off, dst_off, size};
    s = timed_begin(dev, f);
    if (s != VKT_OK) {
        return s;
    }
    dev->vk.vkCmdCopyBuffer(f->cmd, src, dst, 1, &region);
    timed_end(dev, f, kind);
    dev->stats.transfers++;
    s = track(dev, src, src_off, size, VKT__READ);
    return s == VKT_OK ? track(dev, dst, dst_off, size, VKT__WRITE) : s;
}

/* The current command buffer and the bytes of the next staging chunk for a transfer of `size`
 * more bytes: when its staging area has less than min(size, 64 KiB) left, it is submitted and the
 * transfer continues in the next one. */
static vkt_status staging_chunk(vkt_device *dev, VkDeviceSize size, vkt__frame **f,
                                VkDeviceSize *n)
{
    for (;;) {
        vkt_status s = begin(dev, f);
        if (s != VKT_OK) {
            return s;
        }
        VkDeviceSize avail = dev->staging_size - (*f)->staging_used;
        if (avail >= VKT__MIN(size, (VkDeviceSize)65536)) {
            *n = VKT__MIN(size, avail);
            return VKT_OK;
        }
        s = vkt_device_flush(dev);
        if (s != VKT_OK) {
            return s;
        }
    }
}

static vkt_status upload_buffer(vkt_device *dev, VkBuffer dst, VkDeviceSize dst_off,
                                const void *src, VkDeviceSize size)
{
    const uint8_t *p = src;
    while (size > 0) {
        vkt__frame *f = NULL;
        VkDeviceSize n = 0;
        vkt_status s = staging_chunk(dev, size, &f, &n);
        if (s != VKT_OK) {
            return s;
        }
        memcpy(f->staging_ptr + f->staging_used, p, n);
        if (hazard(dev, dst, dst_off, n, VKT__WRITE)) {
            barrier(dev, f);
        }
        VkBufferCopy region = {f->staging_used, dst_off, n};
        s = timed_begin(dev, f);
        if (s != VKT_OK) {
            return s;
        }
        dev->vk.vkCmdCopyBuffer(f->cmd, f->staging, dst, 1, &region);
        timed_end(dev, f, VKT__PROF_UPLOAD);
        dev->stats.transfers++;
        s = track(dev, dst, dst_off, n, VKT__WRITE);
        if (s != VKT_OK) {
            return s;
        }
        f->staging_used = VKT__ALIGN_UP(f->staging_used + n, 16);
        dev->stats.bytes_uploaded += n;
        p += n;
        dst_off += n;
        size -= n;
    }
    return VKT_OK;
}

/* Makes the transfers recorded so far readable by the host once the submission completes. */
static void host_read_barrier(vkt_device *dev, vkt__frame *f)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    dev->vk.vkCmdPipelineBarrier(f->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                                 0, 1, &mb, 0, NULL, 0, NULL);
    if (dev->prof.on) {
        dev->prof.barriers++;
    }
}

static vkt_status download_buffer(vkt_device *dev, VkBuffer src, VkDeviceSize src_off,
                                  void *dst, VkDeviceSize size)
{
    uint8_t *p = dst;
    dev->stats.readbacks++;
    while (size > 0) {
        vkt__frame *f = NULL;
        VkDeviceSize n = 0;
        vkt_status s = staging_chunk(dev, size, &f, &n);
        if (s != VKT_OK) {
            return s;
        }
        VkDeviceSize at = f->staging_used;
        if (hazard(dev, src, src_off, n, VKT__READ)) {
            barrier(dev, f);
        }
        VkBufferCopy region = {src_off, at, n};
        s = timed_begin(dev, f);
        if (s != VKT_OK) {
            return s;
        }
        dev->vk.vkCmdCopyBuffer(f->cmd, src, f->staging, 1, &region);
        timed_end(dev, f, VKT__PROF_DOWNLOAD);
        dev->stats.transfers++;
        s = track(dev, src, src_off, n, VKT__READ);
        if (s != VKT_OK) {
            return s;
        }
        host_read_barrier(dev, f);
        f->staging_used = VKT__ALIGN_UP(at + n, 16);
        s = vkt_device_flush(dev);
        if (s == VKT_OK) {
            s = vkt__wait_value(dev, f->value, false);
        }
        if (s != VKT_OK) {
            return s;
        }
        memcpy(p, f->staging_ptr + at, n);
        dev->stats.bytes_downloaded += n;
        p += n;
        src_off += n;
        size -= n;
    }
    vkt__memory_collect(dev);
    return VKT_OK;
}

/* ---- the Vulkan-free entry points of gpu_internal.h ------------------------------------------ */

vkt__binding vkt__subrange(vkt__binding b, uint64_t offset, uint64_t size)
{
    VKT__ASSERT(offset <= b.size && size <= b.size - offset);
    b.offset += offset;
    b.size = size;
    return b;
}

/* The host cost of one recording call while profiling: the calling thread's CPU time, not wall
 * time, so that neither blocking waits nor, on a CPU device, the device's own threads sharing the
 * cores count as recording. */
static double mark(const vkt_device *dev) { return dev->prof.on ? vkt__prof_cpu_now() : -1.0; }

static vkt_status done(vkt_device *dev, double t0, vkt_status s)
{
    if (dev->prof.on && t0 >= 0) {
        dev->prof.record_s += vkt__prof_cpu_now() - t0;
    }
    return s;
}

vkt_status vkt__dispatch(vkt_device *dev, const vkt__dispatch_desc *d)
{
    VKT__ASSERT(d->push_size <= VKT__PUSH_MAX);
    VkPipeline pipe;
    vkt_status s = vkt__pipeline_get(dev, d->shader, d->spec, d->spec_count, &pipe);
    if (s != VKT_OK) {
        return s;
    }
    double m = mark(dev);
    return done(dev, m, record_dispatch(dev, d, pipe));
}

vkt_status vkt__fill(vkt_device *dev, vkt__binding dst, uint32_t word)
{
    double m = mark(dev);
    return done(dev, m, fill_buffer(dev, dst.alloc->buffer, abs_offset(&dst), dst.size, word));
}

vkt_status vkt__copy(vkt_device *dev, vkt__binding src, vkt__binding dst)
{
    VKT__ASSERT(src.size <= dst.size);
    double m = mark(dev);
    return done(dev, m,
                copy_buffer(dev, src.alloc->buffer, abs_offset(&src), dst.alloc->buffer,
                            abs_offset(&dst), src.size, VKT__PROF_COPY));
}

vkt_status vkt__upload(vkt_device *dev, vkt__binding dst, const void *src)
{
    double m = mark(dev);
    return done(dev, m, upload_buffer(dev, dst.alloc->buffer, abs_offset(&dst), src, dst.size));
}

vkt_status vkt__download(vkt_device *dev, vkt__binding src, void *dst)
{
    double m = mark(dev);
    return done(dev, m, download_buffer(dev, src.alloc->buffer, abs_offset(&src), dst, src.size));
}

/* ---- host buffers (host_buffer.c) ---------------------------------------------------------- */

vkt_status vkt__record_host_copy(vkt_device *dev, vkt__binding range, VkBuffer host,
                                 VkDeviceSize host_off, bool to_host)
{
    double m = mark(dev);
    VkBuffer buf = range.alloc->buffer;
    VkDeviceSize off = abs_offset(&range), size = range.size;
    uint32_t kind = to_host ? VKT__PROF_DOWNLOAD : VKT__PROF_UPLOAD;
    vkt_status s = to_host ? copy_buffer(dev, buf, off, host, host_off, size, kind)
                           : copy_buffer(dev, host, host_off, buf, off, size, kind);
    if (s == VKT_OK && to_host) {
        host_read_barrier(dev, &dev->frames[dev->frame]);
        dev->stats.readbacks++;
        dev->stats.bytes_downloaded += size;
    } else if (s == VKT_OK) {
        dev->stats.bytes_uploaded += size;
    }
    return done(dev, m, s);
}
