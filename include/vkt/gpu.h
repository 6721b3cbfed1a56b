/*
 * vkt/gpu.h — devices, capabilities and counters.
 *
 * A vkt_device owns (or, through vkt/vulkan.h, adopts) one Vulkan device and queue. Work is
 * recorded into a command buffer as ops are called and submitted once, when a value is read
 * back (vkt_tensor_download), when vkt_device_flush/vkt_device_finish is called, or when the
 * staging area of the current command buffer is full.
 *
 *     vkt_device *dev = NULL;
 *     vkt_status s = vkt_device_create(&(vkt_device_desc){ .select = "llvmpipe" }, &dev);
 *     if (s != VKT_OK) { fprintf(stderr, "%s\n", vkt_last_error()); return 1; }
 *     printf("%s, subgroup %u\n", vkt_device_get_info(dev)->name,
 *            vkt_device_get_info(dev)->subgroup_size);
 *     vkt_device_destroy(dev);
 *
 * Environment:
 *   VKT_DEVICE=<index|name substring>   choose the device (desc.select wins over it)
 *   VKT_VALIDATION=1                    enable Khronos validation + synchronization validation
 *   VKT_DISABLE_SUBGROUP_ARITH=1        use shared-memory reductions even where subgroups exist
 *   VKT_DISABLE_TEXEL=1                 read no operand through texel buffers (CPU drivers'
 *                                       fast path for matmul; docs/performance.md)
 */
#ifndef VKT_GPU_H
#define VKT_GPU_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkt_device vkt_device;

typedef enum vkt_device_type {
    VKT_DEVICE_TYPE_OTHER = 0,
    VKT_DEVICE_TYPE_INTEGRATED_GPU,
    VKT_DEVICE_TYPE_DISCRETE_GPU,
    VKT_DEVICE_TYPE_VIRTUAL_GPU,
    VKT_DEVICE_TYPE_CPU,
    _VKT_DEVICE_TYPE_FORCE_U32 = 0x7FFFFFFF
} vkt_device_type;

#define VKT_MAX_HEAPS 16

/** What the capability probe found, filled once when the device is opened or enumerated. */
typedef struct vkt_device_info {
    uint32_t index;                /* position in the loader's enumeration */
    char name[256];
    vkt_device_type type;
    uint32_t vendor_id, device_id;
    uint32_t driver_id;            /* VkDriverId */
    char driver_name[256];
    char driver_info[256];
    uint32_t api_version;          /* packed as VK_MAKE_API_VERSION */
    uint32_t subgroup_size;        /* default subgroup size */
    uint32_t subgroup_min_size;    /* from subgroup size control; = subgroup_size without it */
    uint32_t subgroup_max_size;
    bool subgroup_arithmetic;      /* compute-stage subgroup arithmetic (after kill-switches) */
    bool subgroup_shuffle;
    bool subgroup_size_control;
    uint32_t max_shared_memory;    /* maxComputeSharedMemorySize, bytes */
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint64_t max_storage_buffer_range; /* the largest tensor one dispatch can bind, bytes */
    uint32_t max_texel_buffer_elements; /* texels of one buffer view */
    uint32_t min_texel_buffer_offset_alignment;
    uint64_t max_buffer_size;
    uint64_t max_allocation_size;
    uint32_t max_allocation_count;
    uint32_t min_storage_buffer_offset_alignment;
    uint32_t max_push_constants_size;
    bool fp16;                     /* shaderFloat16 */
    bool timeline_semaphore;
    bool uma;                      /* every device-local heap is host-visible */
    uint32_t heap_count;
    uint64_t heap_size[VKT_MAX_HEAPS];
    bool heap_device_local[VKT_MAX_HEAPS];
    bool is_default;               /* the device vkt_device_create picks with an empty desc */
    uint32_t timestamp_valid_bits; /* of the compute queue family; 0: no timestamp queries */
    float timestamp_period;        /* nanoseconds per timestamp tick */
    bool usable;                   /* Vulkan 1.2+, a compute queue and timeline semaphores */
} vkt_device_info;

/**
 * Lists the Vulkan devices. Fills up to `max` entries of `infos` (may be NULL with max 0) and sets
 * *count to the number of devices. Returns VKT_NO_VULKAN without a loader and VKT_NO_DEVICE when
 * the loader reports no device.
 */
VKT_API vkt_status vkt_enumerate_devices(vkt_device_info *infos, uint32_t max, uint32_t *count);

/**
 * How to open a device. All zero means: the device chosen by VKT_DEVICE, else by type preference
 * (discrete > integrated > virtual > CPU), no validation, 256 MiB memory blocks, 16 MiB staging
 * per command buffer, and the whole device-local heap as the memory limit.
 */
typedef struct vkt_device_desc {
    const char *select;      /* index ("1") or case-insensitive name substring; may be NULL */
    bool validation;         /* also turned on by VKT_VALIDATION=1 */
    uint64_t block_size;     /* device memory block size for the sub-allocator, bytes */
    uint64_t staging_size;   /* host-visible staging bytes per in-flight command buffer */
    uint64_t memory_limit; /* most device bytes vkt may allocate; 0 = the device-local heap size */
    const char *label;       /* may be NULL */
} vkt_device_desc;

/** Opens a device; desc NULL means all defaults. On error *out is NULL and vkt_last_error() says
 * why. */
VKT_API vkt_status vkt_device_create(const vkt_device_desc *desc, vkt_device **out);
/** Waits for the device to finish and frees everything vkt created. NULL is a no-op. */
VKT_API void vkt_device_destroy(vkt_device *dev);
VKT_API const vkt_device_info *vkt_device_get_info(const vkt_device *dev);

/** Submits recorded work without waiting for it. */
VKT_API vkt_status vkt_device_flush(vkt_device *dev);
/** Submits recorded work and waits until the device has finished all of it. */
VKT_API vkt_status vkt_device_finish(vkt_device *dev);

/** Counters since creation or the last vkt_device_reset_stats. */
typedef struct vkt_device_stats {
    uint64_t submits;            /* vkQueueSubmit calls */
    uint64_t host_waits;         /* times the host blocked to read a value or finish */
    uint64_t frame_waits;        /* times recording blocked because every command buffer was
                                    still in flight (back-pressure: the device is the bottleneck) */
    uint64_t dispatches;         /* compute dispatches recorded */
    uint64_t barriers;           /* pipeline barriers recorded */
    uint64_t transfers;          /* copy/fill commands recorded */
    uint64_t bytes_uploaded;     /* host -> device */
    uint64_t bytes_downloaded;   /* device -> host */
    uint64_t readbacks;          /* device -> host reads (each may or may not block) */
    uint64_t pipelines_created;
    uint64_t memory_in_use;      /* device bytes held by live tensors */
    uint64_t memory_peak;        /* high-water mark of memory_in_use */
    uint64_t memory_reserved;    /* device bytes in allocated blocks */
    uint64_t memory_blocks;      /* vkAllocateMemory blocks held */
    uint64_t memory_limit;       /* the budget memory_reserved may not exceed */
    uint64_t memory_stores;      /* device bytes held by trainer epoch stores */
    uint64_t memory_stores_peak; /* high-water mark of memory_stores */
    uint64_t validation_messages; /* validation errors + warnings seen (validation on only) */
} vkt_device_stats;

VKT_API void vkt_device_get_stats(const vkt_device *dev, vkt_device_stats *out);
/** Zeroes the counters; the memory peak restarts from the memory in use. */
VKT_API void vkt_device_reset_stats(vkt_device *dev);

VKT_API const char *vkt_device_type_name(vkt_device_type t);

/*
 * Profiling (docs/profiling.md). Between vkt_device_profile_begin and _end every recorded
 * dispatch, fill and copy is counted and, where the queue has timestamp queries, timed on the
 * device (a timestamp before and after each command); the times are read back once the command
 * buffer has finished. Off by default; when off, recording does nothing extra.
 */
typedef struct vkt_profile_kernel {
    const char *name;   /* the shader's name, or "fill", "copy", "upload", "download" */
    uint64_t calls;
    double device_ms;   /* summed over the calls; 0 without timestamps */
} vkt_profile_kernel;

typedef struct vkt_profile {
    bool timestamps;            /* device times were measured (timestamp_valid_bits > 0) */
    uint64_t dispatches;
    uint64_t barriers;          /* every vkCmdPipelineBarrier, readback barriers included */
    uint64_t fills, copies;     /* device-side fills and copies */
    uint64_t uploads, downloads; /* staging copies (one per staging chunk) */
    uint64_t submits;
    uint64_t waits;             /* times the host blocked on the device (reads, finish, reusing
                                   a command buffer still in flight, memory reuse) */
    double wait_ms;             /* wall time of those waits */
    uint64_t blocks;            /* device memory blocks allocated (vkAllocateMemory) */
    double host_record_us;      /* CPU time of the recording thread in vkt's recording calls
                                   (dispatch, fill, copy, upload, download), pipeline lookup
                                   and creation excluded */
    double compile_ms;          /* host time creating pipelines (a kernel variant's first use) */
    double wall_ms;             /* host time between begin and end, summed over the windows
                                   (compile_ms included) */
    double device_busy_ms;      /* per command buffer, first to last timestamp, summed */
    double device_timed_ms;     /* the kernels' device_ms summed */
    uint32_t kernel_count;      /* kernels with at least one call */
} vkt_profile;

/** Starts (or resumes) collecting; the totals accumulate until vkt_device_profile_reset. */
VKT_API vkt_status vkt_device_profile_begin(vkt_device *dev);
/** Stops collecting: waits for the device (vkt_device_finish), so that the window's work is
 * timed and its wall time includes it. */
VKT_API vkt_status vkt_device_profile_end(vkt_device *dev);
/** Waits for the device and zeroes the totals; collection stays on or off as it was. */
VKT_API vkt_status vkt_device_profile_reset(vkt_device *dev);
/**
 * The totals into *out, and up to `max` kernels into `kernels` (may be NULL with max 0), the
 * most device time first (then the most calls). Waits for the device first if timed commands
 * are still in flight.
 */
VKT_API vkt_status vkt_device_profile_read(vkt_device *dev, vkt_profile *out,
                                           vkt_profile_kernel *kernels, uint32_t max);

/*
 * A per-frame budget of device time, for training inside a host application's frame loop
 * (vkt/vulkan.h shares the queue; docs/using-vkt.md, "Training between frames").
 * vkt_budget_run calls `step` (a training step, or any work recorded on the device) as many
 * times as its estimate of one step's device time fits in desc.ms, and never waits for the
 * device to do so. The estimate comes from timestamp queries written before the first and after
 * the last step of each run: a run's device time is read once its work has finished (usually
 * by the next run or the one after), and the estimate is the running mean of device time per
 * step, the newest run weighted 1/2 (a run at under half the estimate replaces it: first-use
 * costs, such as a driver compiling a shader on its first execution, do not linger). Until the
 * first run has been read, a run makes min_steps.
 * Needs timestamp queries on the device's queue (vkt_device_info.timestamp_valid_bits > 0).
 */
typedef struct vkt_budget vkt_budget;

typedef struct vkt_budget_desc {
    double ms;          /* device time per run, milliseconds; required, > 0 */
    uint32_t min_steps; /* steps every run makes, however long they take; 0 = 1 */
    uint32_t max_steps; /* most steps in one run; 0 = 10000 */
} vkt_budget_desc;

typedef struct vkt_budget_report {
    uint64_t run;            /* this run's number, from 1 */
    uint32_t steps;          /* steps this run made */
    double step_ms;          /* the estimate of one step's device time it planned with; 0: none */
    double planned_ms;       /* steps x step_ms */
    uint64_t measured_run;   /* the newest run whose device time has been read; 0: none yet */
    uint32_t measured_steps; /* its steps */
    double measured_ms;      /* its device time: first step's first command to last step's end */
    double total_ms;         /* device time of every run read so far */
    uint64_t total_steps;    /* their steps */
} vkt_budget_report;

typedef vkt_status (*vkt_budget_step_fn)(void *user);

/** A budget on dev; desc.ms is required. On error *out is NULL and vkt_last_error() says why. */
VKT_API vkt_status vkt_budget_create(vkt_device *dev, const vkt_budget_desc *desc,
                                     vkt_budget **out);
/** Frees the budget (waiting for its queries' work if still in flight). NULL is a no-op. */
VKT_API void vkt_budget_destroy(vkt_budget *b);
/** Runs `step(user)` as planned and submits the work; stops at the first step that does not
 * return VKT_OK and returns its status. *out (may be NULL) gets the run's report. */
VKT_API vkt_status vkt_budget_run(vkt_budget *b, vkt_budget_step_fn step, void *user,
                                  vkt_budget_report *out);
/** The descriptor with defaults filled in. */
VKT_API const vkt_budget_desc *vkt_budget_query_desc(const vkt_budget *b);

#ifdef __cplusplus
}
#endif
#endif
