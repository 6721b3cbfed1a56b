/*
 * memory.c — device memory: large blocks, each one VkDeviceMemory + one VkBuffer, sub-allocated
 * first-fit with coalescing free lists. Tensors are (buffer, offset, size) ranges inside a block,
 * so there is no vkAllocateMemory per tensor. A request larger than half a block gets a dedicated
 * block, freed when its range is released.
 *
 * Release is deferred: a range goes on the retired list with the timeline value of the work
 * recorded so far and returns to its free list once the device has passed that value.
 */
#include <string.h>

#include "gpu/device_impl.h"

static void free_block(vkt_device *dev, vkt__block *b)
{
    dev->vk.vkDestroyBuffer(dev->device, b->buffer, NULL);
    dev->vk.vkFreeMemory(dev->device, b->memory, NULL);
    dev->stats.memory_reserved -= b->size;
    dev->stats.memory_blocks--;
    free(b->free);
    free(b);
}

static vkt_status new_block(vkt_device *dev, VkDeviceSize size, bool dedicated, vkt__block **out)
{
    if (dev->stats.memory_reserved + size > dev->memory_limit) {
        return vkt__error(VKT_OUT_OF_DEVICE_MEMORY,
                          "out of device memory: %.1f MiB more would exceed the %.1f MiB limit "
                          "(%.1f MiB in use by tensors, %.1f MiB reserved)",
                          (double)size / 1048576.0, (double)dev->memory_limit / 1048576.0,
                          (double)dev->stats.memory_in_use / 1048576.0,
                          (double)dev->stats.memory_reserved / 1048576.0);
    }
    vkt__block *b = vkt__calloc(1, sizeof *b);
    if (!b || !vkt__grow((void **)&dev->blocks, &dev->block_cap, dev->block_count + 1,
                         sizeof *dev->blocks)) {
        free(b);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for a memory block");
    }
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VKT__BUFFER_USAGE,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = dev->vk.vkCreateBuffer(dev->device, &bci, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        free(b);
        return vkt__vk_error(r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    dev->vk.vkGetBufferMemoryRequirements(dev->device, b->buffer, &req);
    uint32_t type = dev->mem_type;
    if (!(req.memoryTypeBits & (1u << type))) {
        for (type = 0; type < dev->mem_props.memoryTypeCount; type++) {
            if (req.memoryTypeBits & (1u << type)) {
                break;
            }
        }
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    r = dev->vk.vkAllocateMemory(dev->device, &mai, NULL, &b->memory);
    if (dev->prof.on) {
        dev->prof.blocks++;
    }
    if (r == VK_SUCCESS) {
        r = dev->vk.vkBindBufferMemory(dev->device, b->buffer, b->memory, 0);
        if (r != VK_SUCCESS) {
            dev->vk.vkFreeMemory(dev->device, b->memory, NULL);
        }
    }
    if (r != VK_SUCCESS) {
        dev->vk.vkDestroyBuffer(dev->device, b->buffer, NULL);
        free(b);
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
            return vkt__error(VKT_OUT_OF_DEVICE_MEMORY,
                              "out of device memory: could not allocate a %.1f MiB block "
                              "(%.1f MiB already in use by tensors)",
                              (double)size / 1048576.0,
                              (double)dev->stats.memory_in_use / 1048576.0);
        }
        return vkt__vk_error(r, "vkAllocateMemory");
    }
    b->size = size;
    b->dedicated = dedicated;
    b->free = vkt__malloc(sizeof *b->free);
    if (!b->free) {
        b->free_count = 0;
        free_block(dev, b);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for a memory block");
    }
    b->free[0] = (vkt__range){0, size};
    b->free_count = 1;
    b->free_cap = 1;
    dev->blocks[dev->block_count++] = b;
    dev->stats.memory_reserved += size;
    dev->stats.memory_blocks++;
    *out = b;
    return VKT_OK;
}

static bool take(vkt__block *b, VkDeviceSize size, VkDeviceSize *offset)
{
    for (uint32_t i = 0; i < b->free_count; i++) {
        vkt__range *f = &b->free[i];
        if (f->size >= size) {
            *offset = f->offset;
            f->offset += size;
            f->size -= size;
            if (f->size == 0) {
                memmove(f, f + 1, (b->free_count - i - 1) * sizeof *f);
                b->free_count--;
            }
            b->used += size;
            return true;
        }
    }
    return false;
}

static void give_back(vkt__block *b, VkDeviceSize offset, VkDeviceSize size)
{
    uint32_t i = 0;
    while (i < b->free_count && b->free[i].offset < offset) {
        i++;
    }
    b->used -= size;
    bool merge_prev = i > 0 && b->free[i - 1].offset + b->free[i - 1].size == offset;
    bool merge_next = i < b->free_count && offset + size == b->free[i].offset;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->free_count - i - 1) * sizeof *b->free);
        b->free_count--;
    } else if (merge_prev) {
        b->free[i - 1].size += size;
    } else if (merge_next) {
        b->free[i].offset = offset;
        b->free[i].size += size;
    } else {
        if (!vkt__grow((void **)&b->free, &b->free_cap, b->free_count + 1, sizeof *b->free)) {
            return; /* out of host memory: leak the range rather than crash */
        }
        memmove(&b->free[i + 1], &b->free[i], (b->free_count - i) * sizeof *b->free);
        b->free[i] = (vkt__range){offset, size};
        b->free_count++;
    }
}

/* The first shared block with room for `need` bytes, or NULL. */
static vkt__block *take_shared(vkt_device *dev, VkDeviceSize need, VkDeviceSize *off)
{
    for (uint32_t i = 0; i < dev->block_count; i++) {
        if (!dev->blocks[i]->dedicated && take(dev->blocks[i], need, off)) {
            return dev->blocks[i];
        }
    }
    return NULL;
}

/* take_shared after waiting for the device to return the retired ranges (NULL without any). */
static vkt__block *take_after_wait(vkt_device *dev, VkDeviceSize need, VkDeviceSize *off)
{
    if (dev->retired_count == 0) {
        return NULL;
    }
    vkt_device_finish(dev);
    vkt__memory_collect(dev);
    return take_shared(dev, need, off);
}

vkt_status vkt__alloc_create(vkt_device *dev, uint64_t size, vkt__alloc **out)
{
    *out = NULL;
    const vkt_device_info *info = &dev->info;
    if (size == 0) {
        size = 4;
    }
    if (size > info->max_storage_buffer_range) {
        return vkt__error(VKT_TOO_LARGE,
                          "a tensor of %.1f MiB is larger than this device can bind to a shader "
                          "(maxStorageBufferRange = %.1f MiB on %s)",
                          (double)size / 1048576.0,
                          (double)info->max_storage_buffer_range / 1048576.0, info->name);
    }
    uint32_t heap = dev->mem_props.memoryTypes[dev->mem_type].heapIndex;
    VkDeviceSize heap_size = dev->mem_props.memoryHeaps[heap].size;
    if (size > heap_size) {
        return vkt__error(VKT_TOO_LARGE, "a tensor of %.1f MiB is larger than the device heap "
                                         "(%.1f MiB) of %s",
                          (double)size / 1048576.0, (double)heap_size / 1048576.0, info->name);
    }
    vkt__alloc *a = vkt__calloc(1, sizeof *a);
    if (!a) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    VkDeviceSize need = VKT__ALIGN_UP(size, VKT__ALLOC_ALIGN);
    vkt__memory_collect(dev);
    vkt__block *blk = NULL;
    VkDeviceSize off = 0;
    if (need > dev->block_size / 2) {
        vkt_status s = new_block(dev, need, true, &blk);
        if (s != VKT_OK) {
            free(a);
            return s;
        }
        take(blk, need, &off);
    } else {
        blk = take_shared(dev, need, &off);
        /* Retired ranges return once the device has passed them; waiting for that mid-step
         * stalls the host and leaves the device idle while the rest of the step is recorded.
         * So while the blocks stay within half the memory limit a new block comes first, and
         * beyond that (or when one cannot be had) the wait. */
        bool grow = dev->stats.memory_reserved + dev->block_size <= dev->memory_limit / 2;
        if (!blk && !grow) {
            blk = take_after_wait(dev, need, &off);
        }
        if (!blk) {
            vkt_status s = new_block(dev, dev->block_size, false, &blk);
            if (s == VKT_OUT_OF_DEVICE_MEMORY && grow && (blk = take_after_wait(dev, need, &off))) {
                s = VKT_OK;
            } else if (s == VKT_OUT_OF_DEVICE_MEMORY) {
                /* a whole block does not fit any more; the request alone may */
                s = new_block(dev, need, true, &blk);
                if (s == VKT_OK) {
                    take(blk, need, &off);
                }
            } else if (s == VKT_OK) {
                take(blk, need, &off);
            }
            if (s != VKT_OK) {
                free(a);
                return s;
            }
        }
    }
    a->block = blk;
    a->buffer = blk->buffer;
    a->offset = off;
    a->size = size;
    a->reserved = need;
    a->refs = 1;
    dev->stats.memory_in_use += need;
    if (dev->stats.memory_in_use > dev->stats.memory_peak) {
        dev->stats.memory_peak = dev->stats.memory_in_use;
    }
    *out = a;
    return VKT_OK;
}

static void return_range(vkt_device *dev, vkt__alloc *a)
{
    vkt__block *b = a->block;
    if (!b) { /* the host's buffer: nothing of vkt's to give back */
        free(a);
        return;
    }
    give_back(b, a->offset, a->reserved);
    dev->stats.memory_in_use -= a->reserved;
    if (b->dedicated && b->used == 0) {
        for (uint32_t i = 0; i < dev->block_count; i++) {
            if (dev->blocks[i] == b) {
                dev->blocks[i] = dev->blocks[--dev->block_count];
                break;
            }
        }
        free_block(dev, b);
    }
    free(a);
}

void vkt__alloc_retain(vkt__alloc *a) { a->refs++; }

vkt_status vkt__alloc_wrap(VkBuffer buffer, uint64_t offset, uint64_t size, bool texel,
                           vkt__alloc **out)
{
    *out = NULL;
    vkt__alloc *a = vkt__calloc(1, sizeof *a);
    if (!a) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory wrapping a VkBuffer");
    }
    *a = (vkt__alloc){
        .buffer = buffer, .offset = offset, .size = size, .refs = 1, .no_texel = !texel};
    *out = a;
    return VKT_OK;
}

void vkt__alloc_release(vkt_device *dev, vkt__alloc *a)
{
    if (!a) {
        return;
    }
    VKT__ASSERT(a->refs > 0);
    if (--a->refs > 0) {
        return;
    }
    if (!vkt__grow((void **)&dev->retired, &dev->retired_cap, dev->retired_count + 1,
                   sizeof *dev->retired)) {
        /* Cannot defer: wait for the device so the range is safe to reuse now. */
        vkt_device_finish(dev);
        return_range(dev, a);
        return;
    }
    dev->retired[dev->retired_count++] = (vkt__retired){a, vkt__pending_value(dev)};
}

void vkt__memory_collect(vkt_device *dev)
{
    if (dev->retired_count == 0) {
        return;
    }
    uint64_t done = vkt__completed_value(dev);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < dev->retired_count; i++) {
        if (dev->retired[i].value <= done) {
            return_range(dev, dev->retired[i].alloc);
        } else {
            dev->retired[keep++] = dev->retired[i];
        }
    }
    dev->retired_count = keep;
}

void vkt__memory_finish(vkt_device *dev)
{
    for (uint32_t i = 0; i < dev->retired_count; i++) {
        return_range(dev, dev->retired[i].alloc);
    }
    dev->retired_count = 0;
    for (uint32_t i = 0; i < dev->block_count; i++) {
        free_block(dev, dev->blocks[i]);
    }
    dev->block_count = 0;
    free(dev->blocks);
    free(dev->retired);
    dev->blocks = NULL;
    dev->retired = NULL;
}
