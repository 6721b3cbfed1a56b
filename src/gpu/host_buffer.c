/*
 * host_buffer.c — persistent mapped host memory that the device copies into and out of
 * asynchronously: the host reads a range once the submission that filled it has completed,
 * while the device goes on with later work. The DDP gradient reducer (src/train/grad_reducer.c)
 * reads each bucket of gradients this way during the backward pass.
 *
 * The memory is the staging type (host-visible and coherent, cached where the device has such a
 * type: reads from uncached write-combined memory are slow), so no flush or invalidate is needed.
 *
 * Commands: vkt__record_host_copy (recorder.c). Test: tests/test_device.c, and tests/test_ddp.c
 * through the trainer.
 */
#include "gpu/device_impl.h"

struct vkt__host_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    uint8_t *data;
    uint64_t size;
};

vkt_status vkt__host_buffer_create(vkt_device *dev, uint64_t size, vkt__host_buffer **out)
{
    *out = NULL;
    if (size == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "a host buffer of 0 bytes");
    }
    vkt__host_buffer *hb = vkt__calloc(1, sizeof *hb);
    if (!hb) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    hb->size = size;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    vkt_status s = VKT_OK;
    VkResult r = dev->vk.vkCreateBuffer(dev->device, &bci, NULL, &hb->buffer);
    if (r != VK_SUCCESS) {
        s = vkt__vk_error(r, "vkCreateBuffer (host buffer)");
        goto fail;
    }
    VkMemoryRequirements req;
    dev->vk.vkGetBufferMemoryRequirements(dev->device, hb->buffer, &req);
    if (!(req.memoryTypeBits & (1u << dev->staging_type))) {
        s = vkt__error(VKT_UNSUPPORTED, "the staging memory type is not usable for a host buffer");
        goto fail;
    }
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = dev->staging_type,
    };
    r = dev->vk.vkAllocateMemory(dev->device, &mai, NULL, &hb->memory);
    if (r != VK_SUCCESS) {
        s = vkt__vk_error(r, "allocating a host buffer");
        vkt__error_context("%llu bytes of host-visible memory", (unsigned long long)size);
        goto fail;
    }
    r = dev->vk.vkBindBufferMemory(dev->device, hb->buffer, hb->memory, 0);
    if (r == VK_SUCCESS) {
        r = dev->vk.vkMapMemory(dev->device, hb->memory, 0, VK_WHOLE_SIZE, 0, (void **)&hb->data);
    }
    if (r != VK_SUCCESS) {
        s = vkt__vk_error(r, "mapping a host buffer");
        goto fail;
    }
    *out = hb;
    return VKT_OK;
fail:
    vkt__host_buffer_destroy(dev, hb);
    return s;
}

void vkt__host_buffer_destroy(vkt_device *dev, vkt__host_buffer *hb)
{
    if (!hb) {
        return;
    }
    /* copies in flight, or recorded and not yet submitted, may still use it */
    if (hb->data) {
        (void)vkt_device_finish(dev);
    }
    if (hb->buffer) {
        dev->vk.vkDestroyBuffer(dev->device, hb->buffer, NULL);
    }
    if (hb->memory) {
        dev->vk.vkFreeMemory(dev->device, hb->memory, NULL);
    }
    free(hb);
}

void *vkt__host_buffer_data(vkt__host_buffer *hb) { return hb->data; }

vkt_status vkt__copy_to_host(vkt_device *dev, vkt__binding src, vkt__host_buffer *hb, uint64_t at,
                             uint64_t *ready)
{
    VKT__ASSERT(at <= hb->size && src.size <= hb->size - at);
    vkt_status s = vkt__record_host_copy(dev, src, hb->buffer, at, true);
    if (s == VKT_OK) {
        *ready = vkt__pending_value(dev);
        s = vkt_device_flush(dev);
    }
    return s;
}

vkt_status vkt__host_buffer_wait(vkt_device *dev, uint64_t ready)
{
    return vkt__wait_value(dev, ready, false);
}

bool vkt__copy_done(vkt_device *dev, uint64_t ready) { return vkt__completed_value(dev) >= ready; }

vkt_status vkt__copy_from_host(vkt_device *dev, vkt__host_buffer *hb, uint64_t at, vkt__binding dst)
{
    VKT__ASSERT(at <= hb->size && dst.size <= hb->size - at);
    return vkt__record_host_copy(dev, dst, hb->buffer, at, false);
}
