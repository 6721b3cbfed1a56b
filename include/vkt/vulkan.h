/*
 * vkt/vulkan.h — interop with a host application's own Vulkan objects.
 *
 * The only public header that includes Vulkan types. A renderer or engine that already has a
 * VkInstance/VkDevice hands them to vkt, which then creates nothing global: it loads its own
 * function pointers (its private copy of volk, hidden inside libvkt) from the handles given, and
 * on vkt_device_destroy frees only what it created (buffers, memory, pipelines, command pools),
 * never the instance, device or queue.
 *
 *     vkt_device *dev;
 *     vkt_status s = vkt_device_adopt(&(vkt_vulkan_device_desc){
 *         .instance = inst, .physical_device = gpu, .device = device,
 *         .queue_family = family, .queue = queue,
 *         .get_instance_proc_addr = vkGetInstanceProcAddr,   // the app's loader
 *         .api_version = app_info.apiVersion,               // what the instance was made for
 *         .enabled_features = device_create_info.pNext,     // what the device was made with
 *     }, &dev);
 *
 * Requirements on the adopted device: an instance created for Vulkan 1.2 or later (api_version),
 * the timelineSemaphore feature enabled (enabled_features: the device's pNext chain) and a queue
 * whose family supports compute. vkt_device_adopt checks them and refuses, with an error naming
 * what is missing, a device it cannot run on. vkt submits to the queue only inside vkt calls; the
 * host must not use the same VkQueue from another thread at the same time (Vulkan's external
 * synchronisation rule for queues).
 */
#ifndef VKT_VULKAN_H
#define VKT_VULKAN_H

#include <vulkan/vulkan.h>

#include "gpu.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkt_vulkan_device_desc {
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    uint32_t queue_family;
    VkQueue queue;
    /* The application's loader entry point; NULL: vkt loads libvulkan.so.1 itself. */
    PFN_vkGetInstanceProcAddr get_instance_proc_addr;
    /* block_size, staging_size, memory_limit as in vkt_device_create (select/validation ignored).
     */
    vkt_device_desc base;
    /* The apiVersion the host's instance was created with (VkApplicationInfo.apiVersion). 0 means
     * what an instance without pApplicationInfo gets: Vulkan 1.0, which vkt refuses. vkt uses
     * the lower of this and the physical device's version. */
    uint32_t api_version;
    /* The pNext chain the host gave VkDeviceCreateInfo, i.e. the features it enabled: vkt finds
     * timelineSemaphore in VkPhysicalDeviceVulkan12Features or
     * VkPhysicalDeviceTimelineSemaphoreFeatures (required), and subgroupSizeControl in
     * VkPhysicalDeviceVulkan13Features or VkPhysicalDeviceSubgroupSizeControlFeatures (reported
     * in vkt_device_info). NULL: nothing enabled, which vkt refuses. */
    const void *enabled_features;
} vkt_vulkan_device_desc;

/** Wraps the host's device. On error *out is NULL and vkt_last_error() says why. */
VKT_API vkt_status vkt_device_adopt(const vkt_vulkan_device_desc *desc, vkt_device **out);

/*
 * Sharing buffers with the host, without copies.
 *
 * vkt_tensor_wrap_vk_buffer makes a tensor over a range of the host's VkBuffer (on the adopted
 * device or one vkt_device_vk_device returns): vkt reads and writes it in place and never frees
 * it. vkt_tensor_vk_buffer gives the host the buffer, offset and size of a tensor's elements
 * (row-major, dtype-sized), for its own shaders; the buffer stays vkt's.
 *
 * Ownership: a wrapped buffer stays the host's; it must outlive the tensor and every vkt call
 * recorded with it, so destroy it only after vkt_tensor_free and vkt_device_finish. A tensor's
 * buffer is vkt's: valid while the tensor lives, and the host must not destroy or rebind it.
 *
 * Synchronisation: vkt and the host share the queue in submission order, not in time. Before a
 * vkt call reads a buffer the host wrote, the host's writes must be complete (its submission
 * waited for, or vkt_device_finish after it); after vkt writes a tensor, call vkt_device_finish
 * (or vkt_tensor_download, which waits) before the host reads or overwrites that range. vkt
 * records its own barriers between its dispatches only.
 */
typedef struct vkt_vk_buffer_desc {
    VkBuffer buffer;
    VkDeviceSize offset;      /* bytes; a multiple of 256 (vkt binds ranges at that alignment) */
    VkDeviceSize range;       /* bytes from offset the tensor may use (at least its size) */
    VkBufferUsageFlags usage; /* as the buffer was created: STORAGE_BUFFER, TRANSFER_SRC and
                                 TRANSFER_DST are required; with UNIFORM_TEXEL_BUFFER too, vkt's
                                 texel kernels may read it (the fast path on CPU drivers) */
} vkt_vk_buffer_desc;

/** A tensor of `shape` over the host's buffer range. NULL on error (the reason in
 * vkt_last_error()): a missing usage bit, a misaligned offset, a range smaller than the tensor. */
VKT_API vkt_tensor *vkt_tensor_wrap_vk_buffer(vkt_device *dev, const vkt_vk_buffer_desc *desc,
                                              vkt_dtype dtype, int ndim, const int64_t *shape);
/** The buffer, offset and byte size (range) of t's elements, and the buffer's usage. */
VKT_API vkt_status vkt_tensor_vk_buffer(const vkt_tensor *t, vkt_vk_buffer_desc *out);

/*
 * Sharing the queue: vkt's work and the host's, ordered on the device by the host's semaphores,
 * with no host wait. vkt submits to the adopted queue (or its own: vkt_device_vk_queue), so a
 * host that renders between training steps orders them like any two passes of its own:
 *
 *     host frame n:  wait vkt_done >= n-1, write the data buffer, render, signal host_done = n
 *     vkt:           vkt_device_wait_semaphore(dev, host_done, n);
 *                    ...training steps that read the data buffer (vkt_budget_run: gpu.h)...
 *                    vkt_device_signal_semaphore(dev, vkt_done, n);
 *
 * vkt_device_wait_semaphore submits what vkt has recorded so far (that work does not wait) and
 * makes vkt's next submission wait, at its compute and transfer stages, until `semaphore`
 * reaches `value` (a timeline semaphore) or is signalled (a binary one: value is ignored, and
 * the host must have submitted the signal first). The wait is a memory dependency: what the
 * host's work signalling it wrote is visible to vkt's. At most 8 waits may be pending.
 *
 * vkt_device_signal_semaphore submits what vkt has recorded, signalling `semaphore` (to `value`
 * when it is a timeline semaphore) once all of vkt's work submitted so far has finished: the host
 * waits for it on the device at the stages its own work needs, and then sees what vkt wrote.
 *
 * Either may submit; neither blocks. vkt may still block in calls that return data
 * (vkt_tensor_download, loss values) or finish (vkt_device_finish): those wait for vkt's
 * submissions, so each host semaphore vkt waits for must be signalled by work the host has
 * submitted (or will submit from another thread) by then. The semaphores belong to the host.
 */
VKT_API vkt_status vkt_device_wait_semaphore(vkt_device *dev, VkSemaphore semaphore,
                                             uint64_t value);
VKT_API vkt_status vkt_device_signal_semaphore(vkt_device *dev, VkSemaphore semaphore,
                                               uint64_t value);

VKT_API VkDevice vkt_device_vk_device(const vkt_device *dev);
VKT_API VkPhysicalDevice vkt_device_vk_physical_device(const vkt_device *dev);
VKT_API VkQueue vkt_device_vk_queue(const vkt_device *dev);
/** The queue family of vkt_device_vk_queue, for the host's command pools on it. */
VKT_API uint32_t vkt_device_vk_queue_family(const vkt_device *dev);

#ifdef __cplusplus
}
#endif
#endif
