/*
 * buffer_interop.c — tensors over a host application's VkBuffer, and a tensor's VkBuffer for the
 * host (include/vkt/vulkan.h: ownership and synchronisation rules). Here, not in src/tensor/,
 * because it is Vulkan-facing; it uses the tensor layer's vkt__tensor_on_alloc and fields.
 * Test: tests/test_device.c (share_buffers).
 */
#include <inttypes.h>

#include "gpu/device_impl.h"
#include "tensor/tensor_impl.h"
#include "vkt/vulkan.h"

/* What vkt needs of the host's range, checked before anything is made. */
static vkt_status validate_wrap(const vkt_device *dev, const vkt_vk_buffer_desc *d)
{
    if (!dev || !d || d->buffer == VK_NULL_HANDLE) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_tensor_wrap_vk_buffer: device, desc and desc->buffer are required");
    }
    VkBufferUsageFlags missing = VKT__BUFFER_USAGE_REQUIRED & ~d->usage;
    if (missing) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_tensor_wrap_vk_buffer: the buffer's usage lacks%s%s%s (vkt binds "
                          "it as a storage buffer and copies to and from it)",
                          missing & VK_BUFFER_USAGE_STORAGE_BUFFER_BIT ? " STORAGE_BUFFER" : "",
                          missing & VK_BUFFER_USAGE_TRANSFER_SRC_BIT ? " TRANSFER_SRC" : "",
                          missing & VK_BUFFER_USAGE_TRANSFER_DST_BIT ? " TRANSFER_DST" : "");
    }
    if (d->offset % VKT__ALLOC_ALIGN != 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_tensor_wrap_vk_buffer: offset %" PRIu64 " is not a multiple of %d",
                          (uint64_t)d->offset, VKT__ALLOC_ALIGN);
    }
    return VKT_OK;
}

vkt_tensor *vkt_tensor_wrap_vk_buffer(vkt_device *dev, const vkt_vk_buffer_desc *desc,
                                      vkt_dtype dtype, int ndim, const int64_t *shape)
{
    if (validate_wrap(dev, desc) != VKT_OK) {
        return NULL;
    }
    vkt__alloc *a;
    bool texel = (desc->usage & VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT) != 0;
    if (vkt__alloc_wrap(desc->buffer, desc->offset, 0, texel, &a) != VKT_OK) {
        return NULL;
    }
    vkt_tensor *t = vkt__tensor_on_alloc(dev, dtype, ndim, shape, a);
    vkt__alloc_release(dev, a); /* the tensor holds the allocation now, or nothing does */
    if (!t) {
        vkt__error_context("vkt_tensor_wrap_vk_buffer");
        return NULL;
    }
    uint64_t bytes = (uint64_t)t->numel * vkt__dtype_size(t->dtype);
    if (bytes > desc->range) {
        vkt_tensor_free(t);
        vkt__error(VKT_SHAPE_MISMATCH,
                   "vkt_tensor_wrap_vk_buffer: the tensor needs %" PRIu64 " bytes; the range "
                   "has %" PRIu64,
                   bytes, (uint64_t)desc->range);
        return NULL;
    }
    a->size = bytes;
    return t;
}

vkt_status vkt_tensor_vk_buffer(const vkt_tensor *t, vkt_vk_buffer_desc *out)
{
    if (!t || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_tensor_vk_buffer: tensor and out are "
                                                "required");
    }
    *out = (vkt_vk_buffer_desc){
        .buffer = t->alloc->buffer,
        .offset = t->alloc->offset + t->offset,
        .range = (VkDeviceSize)t->numel * vkt__dtype_size(t->dtype),
        /* vkt's own blocks have every usage; a wrapped buffer what vkt was told it has */
        .usage = t->alloc->no_texel ? VKT__BUFFER_USAGE_REQUIRED : VKT__BUFFER_USAGE,
    };
    return VKT_OK;
}
