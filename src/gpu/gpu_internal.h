/*
 * gpu_internal.h — the Vulkan layer as the rest of the library sees it.
 *
 * Ops never touch Vulkan directly, and this header has no Vulkan type: device memory is an opaque
 * vkt__alloc, a bound range is (allocation, byte offset, size). They describe a dispatch (shader, specialization constants,
 * push constants, bound buffer ranges with their access) and hand it to vkt__dispatch, which
 * records it into the current command buffer after whatever barrier the read/write tracking
 * requires. Submission happens on readback, flush, finish, or when a command buffer's staging
 * area is full.
 */
#ifndef VKT_GPU_INTERNAL_H
#define VKT_GPU_INTERNAL_H

#include "internal.h"
#include "vkt/gpu.h"
#include "vkt_shaders.h" /* generated: enum vkt__shader_id, VKT__SHADER_<NAME> */

#define VKT__MAX_BINDINGS 8
/* Read-only vec4 texel bindings of a dispatch (descriptor set 1; see vkt__dispatch_desc). */
#define VKT__MAX_TEXELS 4
#define VKT__MAX_SPEC 12
#define VKT__PUSH_MAX 128
#define VKT__FRAMES 3
/* Every sub-allocation starts at a multiple of this (>= any minStorageBufferOffsetAlignment). */
#define VKT__ALLOC_ALIGN 256

/* ---- memory ---------------------------------------------------------------------------------- */

/* A device-local range shared by a tensor and its views (src/gpu/device_impl.h defines it). Each
 * starts at a multiple of VKT__ALLOC_ALIGN within its block. */
typedef struct vkt__alloc vkt__alloc;

/* Allocates `size` bytes of device-local storage, holding one reference. Errors: TOO_LARGE (over
 * maxStorageBufferRange or the heap), OUT_OF_DEVICE_MEMORY. */
vkt_status vkt__alloc_create(vkt_device *dev, uint64_t size, vkt__alloc **out);
/* Adds a reference (a view sharing the range). */
void vkt__alloc_retain(vkt__alloc *a);
/* Drops a reference; the last one returns the range once the work recorded so far has
 * finished. NULL is ignored. */
void vkt__alloc_release(vkt_device *dev, vkt__alloc *a);

/* ---- recording ------------------------------------------------------------------------------- */

enum { VKT__READ = 1, VKT__WRITE = 2, VKT__RW = 3 };

/* A range of device memory as a command uses it. */
typedef struct vkt__binding {
    const vkt__alloc *alloc; /* NULL: binding unused (a dummy buffer is bound) */
    uint64_t offset;         /* bytes from the allocation's start */
    uint64_t size;           /* bytes */
    uint32_t access;         /* VKT__READ / VKT__WRITE / VKT__RW */
} vkt__binding;

/* The `size` bytes at `offset` within range `b` (asserted to lie inside it). */
vkt__binding vkt__subrange(vkt__binding b, uint64_t offset, uint64_t size);

typedef struct vkt__dispatch_desc {
    vkt__shader_id shader;
    /* Specialization constants by constant_id; spec[0] is always local_size_x. */
    uint32_t spec[VKT__MAX_SPEC];
    uint32_t spec_count;
    const void *push;      /* push-constant block, <= 128 bytes; may be NULL */
    uint32_t push_size;
    vkt__binding bindings[VKT__MAX_BINDINGS]; /* index = binding number */
    /* Set 1: uniform texel buffers (R32G32B32A32_SFLOAT views of the whole texels of these
     * ranges), read-only; only ranges for which vkt__texel_usable() holds may be given. */
    vkt__binding texels[VKT__MAX_TEXELS];
    /* Bit i: slot i is an R32G32B32A32_SINT view instead (an isamplerBuffer in the shader);
     * without a range it gets the integer dummy view. */
    uint32_t texel_ints;
    /* The shader declares set 1: it is bound (slots without a range on a dummy view) even when
     * no texel range is given, as a specialization that reads none still declares them. */
    bool texel_set;
    uint32_t groups[3];    /* workgroup counts; 0 counts as 1 */
} vkt__dispatch_desc;

/* Records a dispatch into the current command buffer (after a barrier if a hazard needs one). */
vkt_status vkt__dispatch(vkt_device *dev, const vkt__dispatch_desc *d);
/* Whether `b` can be bound as a texel binding on `dev`: the device reads through texels
 * (vkt__caps.texel4), and the range holds a texel (16 bytes) at least, starts on the device's
 * texel-view alignment and has no more texels than one view may. The view covers its whole
 * texels; a kernel reads any trailing size % 16 bytes through its storage buffer. */
bool vkt__texel_usable(const vkt_device *dev, const vkt__binding *b);
/* `b` as a read-only texel binding where vkt__texel_usable() holds and the range is whole texels
 * (the view covers all of it), else an empty binding: for ops whose texel kernel reads the whole
 * range through the view and that keep a storage-buffer kernel for the rest. */
vkt__binding vkt__texel_or_none(const vkt_device *dev, vkt__binding b);

/* Records a fill of `dst` with a 32-bit word (offset and size multiples of 4). */
vkt_status vkt__fill(vkt_device *dev, vkt__binding dst, uint32_t word);
/* Records a device-to-device copy of src.size bytes. */
vkt_status vkt__copy(vkt_device *dev, vkt__binding src, vkt__binding dst);
/* Stages dst.size bytes of host data and records their copy into dst (split across submits if
 * larger than staging). */
vkt_status vkt__upload(vkt_device *dev, vkt__binding dst, const void *src);
/* Records a copy of src into staging, submits, waits, and copies src.size bytes to host memory. */
vkt_status vkt__download(vkt_device *dev, vkt__binding src, void *dst);

/* ---- host buffers (host_buffer.c) ----------------------------------------------------------- */

/* Mapped host memory the device copies into and out of without the host waiting at once. */
typedef struct vkt__host_buffer vkt__host_buffer;

vkt_status vkt__host_buffer_create(vkt_device *dev, uint64_t size, vkt__host_buffer **out);
/* Waits for the device's work first (copies may still use it). NULL is ignored. */
void vkt__host_buffer_destroy(vkt_device *dev, vkt__host_buffer *hb);
void *vkt__host_buffer_data(vkt__host_buffer *hb);
/* Records a copy of src into hb at byte `at` and submits it: the host may read those bytes after
 * vkt__host_buffer_wait(dev, *ready), while the device goes on with what follows. */
vkt_status vkt__copy_to_host(vkt_device *dev, vkt__binding src, vkt__host_buffer *hb, uint64_t at,
                             uint64_t *ready);
vkt_status vkt__host_buffer_wait(vkt_device *dev, uint64_t ready);
/* Whether the device has got that far (without waiting). */
bool vkt__copy_done(vkt_device *dev, uint64_t ready);
/* Records a copy of dst.size bytes of hb from `at` (what the host wrote there before this call)
 * into dst. */
vkt_status vkt__copy_from_host(vkt_device *dev, vkt__host_buffer *hb, uint64_t at,
                               vkt__binding dst);

/* Largest workgroup count per dimension that is safe to use on every device (the spec minimum). */
#define VKT__MAX_GROUPS 65535u

/* Splits `groups` workgroups over x and y (x <= VKT__MAX_GROUPS). Shaders recover the flat group
 * index as gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x and must bounds-check. */
void vkt__groups_2d(uint64_t groups, uint32_t out[3]);

/* ---- device ---------------------------------------------------------------------------------- */

/* Internal capability flags, derived from vkt_device_info plus kill-switches and test overrides. */
typedef struct vkt__caps {
    bool subgroup_arith;   /* use subgroup-arithmetic shader variants */
    bool cpu_like;         /* lavapipe/SwiftShader-type device: prefer CPU-friendly kernels */
    uint32_t reduce_wg;    /* workgroup size for reductions */
    /* Kernels may read ranges through R32G32B32A32_SFLOAT uniform texel buffers (all memory is
     * created with that usage, so that set 1 can always be bound): on CPU drivers texel fetches are vectorised gathers, where
     * storage-buffer loads are a scalar loop over the SIMD lanes (docs/performance.md). */
    bool texel4;
    uint64_t texel4_max_bytes; /* largest view */
    uint32_t texel_align;      /* minTexelBufferOffsetAlignment, at least 16 */
} vkt__caps;

const vkt__caps *vkt__device_caps(const vkt_device *dev);
/* Test/diagnostic override: force the shared-memory (false) or subgroup (true) reduction path.
 * Returns false when `on` is requested but the device lacks subgroup arithmetic. */
bool vkt__device_set_subgroup_arith(vkt_device *dev, bool on);
/* The device's tensor-layer state (tape, scopes); owned by src/tensor. */
struct vkt__tensor_state *vkt__device_tensor_state(vkt_device *dev);
void vkt__device_set_tensor_state(vkt_device *dev, struct vkt__tensor_state *st,
                                  void (*destroy)(struct vkt__tensor_state *));

/* The trainer's epoch stores report their device bytes here (memory_stores and its peak). */
void vkt__device_count_stores(vkt_device *dev, int64_t delta);

#endif
