/*
 * device_impl.h — the vkt_device struct and the Vulkan side of device memory, shared by the files
 * of src/gpu only: no header above src/gpu has a Vulkan type.
 */
#ifndef VKT_DEVICE_IMPL_H
#define VKT_DEVICE_IMPL_H

#include <volk.h>

#include "gpu/gpu_internal.h"

typedef struct vkt__block vkt__block;

/* Most host semaphores one vkt submit waits for. */
#define VKT__HOST_SEMAPHORES 8

struct vkt__alloc {
    vkt__block *block;     /* NULL: a host application's buffer (vkt_tensor_wrap_vk_buffer) */
    VkBuffer buffer;       /* the block's buffer, or the host's */
    VkDeviceSize offset;   /* within the buffer; a multiple of VKT__ALLOC_ALIGN */
    VkDeviceSize size;     /* bytes requested */
    VkDeviceSize reserved; /* bytes taken from the block (aligned) */
    uint32_t refs;         /* the tensor and its views */
    bool no_texel;         /* the host's buffer lacks UNIFORM_TEXEL_BUFFER usage */
};

/* The usage of vkt's own buffers; a host buffer wrapped as a tensor needs the first three. */
#define VKT__BUFFER_USAGE_REQUIRED                                                                 \
    (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |                       \
     VK_BUFFER_USAGE_TRANSFER_DST_BIT)
#define VKT__BUFFER_USAGE (VKT__BUFFER_USAGE_REQUIRED | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT)

/* An allocation over `size` bytes at `offset` of a host application's buffer, holding one
 * reference; vkt never frees the buffer. texel: the buffer has UNIFORM_TEXEL_BUFFER usage. */
vkt_status vkt__alloc_wrap(VkBuffer buffer, uint64_t offset, uint64_t size, bool texel,
                           vkt__alloc **out);

/* Internal VkResult helpers (vk_result.c). */
const char *vkt__vk_result_str(VkResult r);
vkt_status vkt__status_from_vk(VkResult r);
/* Sets the last error to "<what> failed: VK_ERROR_..." and returns the matching status. */
vkt_status vkt__vk_error(VkResult r, const char *what);

/* One range of a block that is free. */
typedef struct vkt__range {
    VkDeviceSize offset, size;
} vkt__range;

struct vkt__block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    VkDeviceSize size;
    vkt__range *free;      /* sorted by offset, coalesced */
    uint32_t free_count, free_cap;
    VkDeviceSize used;
    bool dedicated;        /* holds one large allocation; freed when empty */
};

/* Work recorded since the last barrier, for hazard detection. */
typedef struct vkt__access {
    VkBuffer buffer;
    VkDeviceSize offset, size;
    uint32_t access;
} vkt__access;

/* A range waiting for the submit with timeline value `value` to finish before reuse. */
typedef struct vkt__retired {
    vkt__alloc *alloc;
    uint64_t value;
} vkt__retired;

/* The timestamp queries of a command buffer's timed commands (profile.c): command n writes
 * queries 2n and 2n+1, VKT__PROF_POOL_QUERIES to a pool. */
#define VKT__PROF_POOL_QUERIES 256u
typedef struct vkt__frame_prof {
    VkQueryPool *pools;
    uint32_t pool_count, pool_cap;
    uint32_t pools_reset;  /* pools reset so far in the current recording */
    uint32_t *kinds;       /* what the n-th timed command was (vkt__prof_kind) */
    uint32_t count, kinds_cap;
} vkt__frame_prof;

/* What a profiled command is: a shader id, or one of the transfers. */
enum {
    VKT__PROF_FILL = VKT__SHADER_COUNT,
    VKT__PROF_COPY,
    VKT__PROF_UPLOAD,
    VKT__PROF_DOWNLOAD,
    VKT__PROF_KINDS
};

typedef struct vkt__profile {
    bool on;
    bool timestamps;       /* the queue family has timestamp queries */
    uint64_t valid_mask;   /* of timestampValidBits */
    double period_ns;
    uint64_t calls[VKT__PROF_KINDS];
    uint64_t device_ticks[VKT__PROF_KINDS];
    uint64_t busy_ticks;
    uint64_t dispatches, barriers, fills, copies, uploads, downloads, submits;
    uint64_t waits, blocks;
    double record_s;       /* thread CPU time in recording calls */
    double wait_s;         /* wall time blocked in vkt__wait_value */
    double compile_s;      /* wall time creating pipelines */
    double wall_s;         /* closed windows */
    double window_t0;      /* the open window's start */
} vkt__profile;

typedef struct vkt__frame {
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkDescriptorPool *desc_pools;
    uint32_t desc_pool_count, desc_pool_cap, desc_pool_current;
    VkBuffer staging;
    VkDeviceMemory staging_mem;
    uint8_t *staging_ptr;
    VkDeviceSize staging_used;
    VkBufferView *views;   /* texel views of this frame's dispatches, destroyed on reuse */
    uint32_t view_count, view_cap;
    uint64_t value;        /* timeline value signalled by this frame's last submit */
    bool recording;
    vkt__frame_prof prof;
} vkt__frame;

typedef struct vkt__pipeline {
    vkt__shader_id shader;
    uint32_t spec[VKT__MAX_SPEC];
    uint32_t spec_count;
    VkPipeline pipeline;
} vkt__pipeline;

struct vkt_device {
    vkt_device_info info;
    vkt__caps caps;
    bool adopted;          /* instance/device belong to the host application */
    bool own_instance;
    VkInstance instance;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    struct VolkDeviceTable vk;
    VkDebugUtilsMessengerEXT messenger;
    /* loaded for this instance: volk's global instance-level pointers belong to whichever
     * instance was loaded last (another device, or a host application we adopted) */
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
    VkPhysicalDeviceMemoryProperties mem_props;
    uint32_t mem_type;          /* device-local type for tensors */
    uint32_t staging_type;      /* host-visible coherent type for staging */
    bool staging_cached;

    VkDeviceSize block_size, staging_size, memory_limit;
    vkt__block **blocks;
    uint32_t block_count, block_cap;
    vkt__retired *retired;
    uint32_t retired_count, retired_cap;

    VkSemaphore timeline;
    uint64_t submitted;         /* last value submitted */
    /* the host's semaphores vkt's next submit waits for (vkt_device_wait_semaphore) */
    VkSemaphore host_waits[VKT__HOST_SEMAPHORES];
    uint64_t host_wait_values[VKT__HOST_SEMAPHORES];
    uint32_t host_wait_count;
    vkt__frame frames[VKT__FRAMES];
    uint32_t frame;             /* index of the current frame */

    vkt__access *pending;       /* accesses since the last barrier */
    uint32_t pending_count, pending_cap;

    VkDescriptorSetLayout set_layout;     /* set 0: storage buffers */
    VkDescriptorSetLayout texel_layout;   /* set 1: VKT__MAX_TEXELS uniform texel buffers */
    VkPipelineLayout pipeline_layout;     /* both sets: set 1 is bound only when used */
    VkShaderModule modules[VKT__SHADER_COUNT];
    vkt__pipeline *pipelines;
    uint32_t pipeline_count, pipeline_cap;
    VkBuffer dummy;             /* bound to unused bindings */
    vkt__alloc *dummy_alloc;
    VkBufferView dummy_view;    /* the dummy as texels, for unused texel slots */
    VkBufferView dummy_int_view; /* the same as integer texels, for unused texel_ints slots */

    vkt_device_stats stats;
    vkt__profile prof;

    struct vkt__tensor_state *tensor_state;
    void (*tensor_state_destroy)(struct vkt__tensor_state *);
};

/* recorder.c */
vkt_status vkt__frames_init(vkt_device *dev);
void vkt__frames_finish(vkt_device *dev);
/* Waits until the timeline reaches `value`. If it blocks, counts a host wait (throttle = false)
 * or a frame wait (throttle = true: waiting for a command buffer to reuse). */
vkt_status vkt__wait_value(vkt_device *dev, uint64_t value, bool throttle);
uint64_t vkt__completed_value(vkt_device *dev);
/* The timeline value that the currently recording work will signal. */
uint64_t vkt__pending_value(vkt_device *dev);
/* Record into the current command buffer (budget.c): a reset of `count` queries of `pool` from
 * `first`, and a timestamp into `query` once every earlier command has finished. */
vkt_status vkt__record_query_reset(vkt_device *dev, VkQueryPool pool, uint32_t first,
                                   uint32_t count);
vkt_status vkt__record_timestamp(vkt_device *dev, VkQueryPool pool, uint32_t query);

/* Records a copy of `range` into a host buffer at host_off (to_host), or back, with the usual
 * hazard tracking (host_buffer.c); to_host adds the transfer-to-host barrier that makes it
 * readable by the host once the submission has completed. A copy from the host reads what the
 * host wrote before the submission that carries it. */
vkt_status vkt__record_host_copy(vkt_device *dev, vkt__binding range, VkBuffer host,
                                 VkDeviceSize host_off, bool to_host);

/* Device ticks from timestamp t0 to t1: with fewer than 64 valid bits the counter may wrap
 * between the two. */
static inline uint64_t vkt__ticks_between(const vkt_device *dev, uint64_t t0, uint64_t t1)
{
    return ((t1 & dev->prof.valid_mask) - (t0 & dev->prof.valid_mask)) & dev->prof.valid_mask;
}

/* profile.c: recorder.c's hooks; the recorder calls them only while dev->prof.on, except
 * vkt__prof_frame_start, which collects what a frame timed while profiling was on. */
void vkt__prof_init(vkt_device *dev);
/* The calling thread's CPU time, seconds. */
double vkt__prof_cpu_now(void);
void vkt__prof_finish(vkt_device *dev);
/* After the frame's previous submit has finished, before it records again: adds its times. */
vkt_status vkt__prof_frame_start(vkt_device *dev, vkt__frame *f);
/* A timestamp before a command (resetting a query pool first if this recording has not). */
vkt_status vkt__prof_before(vkt_device *dev, vkt__frame *f);
/* A timestamp after it, and its call counted under `kind` (a shader id or VKT__PROF_*). */
void vkt__prof_after(vkt_device *dev, vkt__frame *f, uint32_t kind);

/* memory.c */
void vkt__memory_collect(vkt_device *dev);   /* return retired ranges whose work finished */
void vkt__memory_finish(vkt_device *dev);

/* pipeline.c */
vkt_status vkt__pipelines_init(vkt_device *dev);
void vkt__pipelines_finish(vkt_device *dev);
vkt_status vkt__pipeline_get(vkt_device *dev, vkt__shader_id shader, const uint32_t *spec,
                             uint32_t spec_count, VkPipeline *out);


/* Fills `info` from a physical device (device.c; adopt.c probes a host's device too). */
void vkt__probe(VkPhysicalDevice pd, uint32_t index, vkt_device_info *info);
/* What vkt_device_create and vkt_device_adopt share once the VkDevice exists (device.c). */
vkt_status vkt__device_init_common(vkt_device *dev, const vkt_device_desc *desc);

#endif
