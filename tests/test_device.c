/*
 * test_device.c — device choice, capability probe, counters, memory limits and errors,
 * deferred release, adoption of a host application's device, the status table, host buffers
 * (src/gpu/host_buffer.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <volk.h>

#include "tensor/tensor_impl.h"
#include "test_alloc.h"
#include "test_util.h"
#include "vkt/vulkan.h"

static void probe_reports_lavapipe_limits(void **state)
{
    (void)state;
    const vkt_device_info *d = vkt_device_get_info(test_dev);
    assert_true(d->usable);
    assert_true(d->api_version >= ((1u << 22) | (2u << 12)));
    assert_true(d->subgroup_size >= 1);
    assert_true(d->subgroup_min_size <= d->subgroup_size);
    assert_true(d->subgroup_size <= d->subgroup_max_size);
    assert_true(d->max_shared_memory >= 16384);
    assert_true(d->max_workgroup_invocations >= 128);
    assert_true(d->max_storage_buffer_range >= (1u << 27));
    assert_true(d->min_storage_buffer_offset_alignment >= 1);
    assert_true(d->heap_count >= 1);
    assert_true(d->heap_size[0] > 0);
    assert_true(d->driver_name[0] != '\0');
    /* the subgroup size follows LP_NATIVE_VECTOR_WIDTH on lavapipe: width / 32 */
    const char *w = getenv("LP_NATIVE_VECTOR_WIDTH");
    if (w && strstr(d->name, "llvmpipe")) {
        assert_int_equal(d->subgroup_size, (uint32_t)atoi(w) / 32);
    }
}

static void enumerate_marks_one_default(void **state)
{
    (void)state;
    vkt_device_info infos[8];
    uint32_t n = 0;
    assert_int_equal(vkt_enumerate_devices(infos, 8, &n), VKT_OK);
    assert_true(n >= 1);
    int defaults = 0;
    for (uint32_t i = 0; i < n && i < 8; i++) {
        defaults += infos[i].is_default;
        assert_int_equal(infos[i].index, i);
    }
    assert_int_equal(defaults, 1);
}

static void select_by_name_and_index(void **state)
{
    (void)state;
    vkt_device *d = NULL;
    assert_int_equal(vkt_device_create(&(vkt_device_desc){.select = "LLVMPIPE"}, &d), VKT_OK);
    assert_non_null(strstr(vkt_device_get_info(d)->name, "llvmpipe"));
    vkt_device_destroy(d);

    assert_int_equal(vkt_device_create(&(vkt_device_desc){.select = "0"}, &d), VKT_OK);
    vkt_device_destroy(d);

    assert_int_equal(vkt_device_create(&(vkt_device_desc){.select = "no-such-gpu"}, &d),
                     VKT_NO_DEVICE);
    assert_null(d);
    assert_non_null(strstr(vkt_last_error(), "no-such-gpu"));

    assert_int_equal(vkt_device_create(&(vkt_device_desc){.select = "99"}, &d), VKT_NO_DEVICE);
    assert_non_null(strstr(vkt_last_error(), "out of range"));
    vkt_device_destroy(NULL); /* no-op */
}

static void counters_count_one_submit_per_sequence(void **state)
{
    (void)state;
    vkt_device_finish(test_dev);
    vkt_device_reset_stats(test_dev);
    vkt_scope_begin(test_dev);
    float host[1000];
    for (int i = 0; i < 1000; i++) {
        host[i] = (float)i - 500.0f;
    }
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, 1000);
    assert_int_equal(vkt_tensor_upload(x, host, sizeof host), VKT_OK);
    vkt_tensor *y = vkt_relu(vkt_scale(vkt_add(x, x), 0.5f)); /* 3 dispatches */
    assert_non_null(y);
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.submits, 0); /* recorded, not submitted */
    assert_int_equal(st.dispatches, 3);
    assert_int_equal(st.host_waits, 0);
    assert_int_equal(st.bytes_uploaded, sizeof host);
    /* dependent dispatches need a barrier each: add->scale, scale->relu; plus upload->add */
    assert_int_equal(st.barriers, 3);
    float out[1000];
    assert_int_equal(vkt_tensor_download(y, out, sizeof out), VKT_OK);
    for (int i = 0; i < 1000; i++) {
        assert_true(out[i] == (host[i] > 0 ? host[i] : 0.0f));
    }
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.submits, 1);
    assert_true(st.host_waits <= 1); /* blocks only if the device has not finished yet */
    assert_int_equal(st.bytes_downloaded, sizeof out);
    /* independent dispatches need no barrier between them */
    vkt_device_reset_stats(test_dev);
    vkt_tensor *a = vkt_relu(x), *b = vkt_scale(x, 2.0f);
    assert_non_null(a);
    assert_non_null(b);
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.dispatches, 2);
    assert_int_equal(st.barriers, 0);
    vkt_scope_end(test_dev);
}

static void memory_returns_after_scope_and_blocks_are_shared(void **state)
{
    (void)state;
    vkt_device_finish(test_dev);
    vkt_device_stats before, during, after;
    vkt_device_get_stats(test_dev, &before);
    vkt_scope_begin(test_dev);
    for (int i = 0; i < 100; i++) {
        assert_non_null(vkt_tensor_new_1d(test_dev, VKT_F32, 1000 + i));
    }
    vkt_device_get_stats(test_dev, &during);
    /* 100 tensors, no new vkAllocateMemory per tensor */
    assert_true(during.memory_blocks <= before.memory_blocks + 1);
    assert_true(during.memory_in_use >= before.memory_in_use + 100 * 4000);
    assert_true(during.memory_peak >= during.memory_in_use);
    vkt_scope_end(test_dev);
    vkt_device_finish(test_dev);
    vkt_device_get_stats(test_dev, &after);
    assert_int_equal(after.memory_in_use, before.memory_in_use);
}

static void too_large_and_out_of_memory_are_clear_errors(void **state)
{
    (void)state;
    const vkt_device_info *d = vkt_device_get_info(test_dev);
    /* bigger than maxStorageBufferRange: cannot be bound to a shader */
    int64_t n = (int64_t)(d->max_storage_buffer_range / 4) + 1;
    assert_null(vkt_tensor_new_1d(test_dev, VKT_F32, n));
    assert_int_equal(vkt_last_status(), VKT_TOO_LARGE);
    assert_non_null(strstr(vkt_last_error(), "maxStorageBufferRange"));

    /* a device with a 64 MiB budget: the 5th 16 MiB tensor fails, then the device still works */
    vkt_device *small = NULL;
    assert_int_equal(vkt_device_create(&(vkt_device_desc){.validation = true,
                                                          .memory_limit = 64u << 20,
                                                          .block_size = 32u << 20},
                                       &small),
                     VKT_OK);
    vkt_tensor *t[8] = {0};
    int made = 0;
    for (; made < 8; made++) {
        t[made] = vkt_tensor_new_1d(small, VKT_F32, (16 << 20) / 4);
        if (!t[made]) {
            break;
        }
    }
    assert_true(made >= 2 && made < 8);
    assert_int_equal(vkt_last_status(), VKT_OUT_OF_DEVICE_MEMORY);
    assert_non_null(strstr(vkt_last_error(), "out of device memory"));
    for (int i = 0; i < made; i++) {
        vkt_tensor_free(t[i]);
    }
    vkt_tensor *x = vkt_tensor_new_1d(small, VKT_F32, 4);
    assert_non_null(x);
    float v[4] = {1, -2, 3, -4}, r[4];
    assert_int_equal(vkt_tensor_upload(x, v, sizeof v), VKT_OK);
    vkt_tensor *y = vkt_relu(x);
    assert_int_equal(vkt_tensor_download(y, r, sizeof r), VKT_OK);
    assert_true(r[0] == 1 && r[1] == 0 && r[2] == 3 && r[3] == 0);
    vkt_tensor_free(x);
    vkt_tensor_free(y);
    vkt_device_stats st;
    vkt_device_get_stats(small, &st);
    assert_int_equal(st.validation_messages, 0);
    vkt_device_destroy(small);
}

static void bad_tensor_arguments_are_clear_errors(void **state)
{
    (void)state;
    int64_t bad[2] = {3, 0};
    assert_null(vkt_tensor_new(test_dev, VKT_F32, 2, bad));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "dimension 1"));
    int64_t too_many[VKT_MAX_DIMS + 1] = {1, 1, 1, 1, 1, 1, 1};
    assert_null(vkt_tensor_new(test_dev, VKT_F32, VKT_MAX_DIMS + 1, too_many));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "ndim must be 1..6"));
    /* the most dimensions: a 6-D tensor, its shape and its description */
    int64_t six[VKT_MAX_DIMS] = {2, 1, 3, 1, 2, 5};
    vkt_tensor *t6 = vkt_tensor_new(test_dev, VKT_F32, VKT_MAX_DIMS, six);
    assert_non_null(t6);
    assert_int_equal(vkt_tensor_numel(t6), 60);
    assert_int_equal(vkt_tensor_dim(t6, -1), 5);
    char d6[96];
    assert_string_equal(vkt_tensor_describe(t6, d6, sizeof d6), "[2, 1, 3, 1, 2, 5] f32");
    vkt_tensor_free(t6);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 4);
    float buf[12];
    assert_int_equal(vkt_tensor_upload(x, buf, 11 * sizeof(float)), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "[3, 4] f32"));
    assert_int_equal(vkt_tensor_download(x, buf, 13 * sizeof(float)), VKT_SHAPE_MISMATCH);
    /* a view must be aligned to the device's storage-buffer offset alignment */
    vkt_tensor *big = vkt_tensor_new_1d(test_dev, VKT_F32, 1024);
    int64_t four = 4;
    uint32_t align = vkt_device_get_info(test_dev)->min_storage_buffer_offset_alignment;
    if (align > 4) {
        assert_null(vkt_tensor_view(big, 1, 1, &four));
        assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    }
    assert_null(vkt_tensor_view(big, 1022, 1, &four));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    vkt_tensor *v = vkt_tensor_view(big, 64, 1, &four);
    assert_non_null(v);
    vkt_tensor_free(v);
    vkt_tensor_free(big);
    vkt_tensor_free(x);
}

static void views_share_memory(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *base = vkt_tensor_new_1d(test_dev, VKT_F32, 256);
    assert_int_equal(vkt_fill(base, 0.0f), VKT_OK);
    int64_t shape[2] = {2, 64};
    vkt_tensor *v = vkt_tensor_view(base, 128, 2, shape);
    assert_non_null(v);
    assert_int_equal(vkt_fill(v, 7.0f), VKT_OK);
    vkt_tensor_free(base); /* the view keeps the memory alive */
    float out[128];
    assert_int_equal(vkt_tensor_download(v, out, sizeof out), VKT_OK);
    for (int i = 0; i < 128; i++) {
        assert_true(out[i] == 7.0f);
    }
    vkt_scope_end(test_dev);
}

static void large_upload_and_download_cross_staging_chunks(void **state)
{
    (void)state;
    /* 40 MiB through 16 MiB staging buffers: several submits, data intact */
    int64_t n = 10 << 20;
    float *h = malloc((size_t)n * sizeof *h), *back = malloc((size_t)n * sizeof *back);
    assert_non_null(h);
    assert_non_null(back);
    for (int64_t i = 0; i < n; i++) {
        h[i] = (float)(i % 9973) * 0.25f;
    }
    vkt_tensor *t = vkt_tensor_new_1d(test_dev, VKT_F32, n);
    assert_int_equal(vkt_tensor_upload(t, h, (size_t)n * 4), VKT_OK);
    assert_int_equal(vkt_tensor_download(t, back, (size_t)n * 4), VKT_OK);
    assert_memory_equal(h, back, (size_t)n * 4);
    vkt_tensor_free(t);
    free(h);
    free(back);
}

/* A copy into a host buffer is read after its own submission completes, with later work on the
 * same range already queued behind it (syncval checks the barriers); the host's writes reach
 * the device through the copy back. */
static void host_buffer_reads_a_range_while_later_work_is_queued(void **state)
{
    (void)state;
    enum { N = 1000, FIRST = 100, COUNT = 537 };
    float h[N];
    for (int i = 0; i < N; i++) {
        h[i] = (float)i;
    }
    vkt_tensor *t = vkt_tensor_new_1d(test_dev, VKT_F32, N);
    vkt_tensor *u = vkt_tensor_new_1d(test_dev, VKT_F32, N);
    assert_int_equal(vkt_tensor_upload(t, h, sizeof h), VKT_OK);
    assert_int_equal(vkt_fill(u, -1.0f), VKT_OK);
    vkt__host_buffer *hb;
    assert_int_equal(vkt__host_buffer_create(test_dev, 4 * COUNT + 64, &hb), VKT_OK);
    uint64_t ready = 0;
    vkt__binding part = vkt__subrange(vkt__bind(t, VKT__READ), 4 * FIRST, 4 * COUNT);
    assert_int_equal(vkt__copy_to_host(test_dev, part, hb, 64, &ready), VKT_OK);
    assert_true(ready > 0);
    /* the next write of the range waits for the copy on the device, not on the host */
    assert_int_equal(vkt_fill(t, 5.0f), VKT_OK);
    assert_int_equal(vkt_device_flush(test_dev), VKT_OK);
    assert_int_equal(vkt__host_buffer_wait(test_dev, ready), VKT_OK);
    assert_true(vkt__copy_done(test_dev, ready));
    float *d = (float *)((uint8_t *)vkt__host_buffer_data(hb) + 64);
    for (int i = 0; i < COUNT; i++) {
        assert_true(d[i] == (float)(FIRST + i));
        d[i] *= 2.0f;
    }
    vkt__binding dst = vkt__subrange(vkt__bind(u, VKT__WRITE), 4 * FIRST, 4 * COUNT);
    assert_int_equal(vkt__copy_from_host(test_dev, hb, 64, dst), VKT_OK);
    float back[N];
    assert_int_equal(vkt_tensor_download(u, back, sizeof back), VKT_OK);
    for (int i = 0; i < N; i++) {
        float want = i >= FIRST && i < FIRST + COUNT ? 2.0f * (float)i : -1.0f;
        assert_true(back[i] == want);
    }
    vkt__host_buffer_destroy(test_dev, hb);
    vkt_tensor_free(t);
    vkt_tensor_free(u);
}

static void status_table_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(vkt_status_name(VKT_OK), "OK");
    assert_string_equal(vkt_status_name(VKT_SHAPE_MISMATCH), "SHAPE_MISMATCH");
    assert_string_equal(vkt_status_str(VKT_NO_DEVICE), "no usable Vulkan device");
    assert_string_equal(vkt_status_name((vkt_status)-999), "UNKNOWN");
#define CHECK_ONE(name, value, desc)                                                               \
    assert_int_equal(VKT_##name, value);                                                           \
    assert_string_equal(vkt_status_name(VKT_##name), #name);                                       \
    assert_string_equal(vkt_status_str(VKT_##name), desc);
    VKT_STATUS_MAP(CHECK_ONE)
#undef CHECK_ONE
}

/* The host's buffer as a tensor, and a tensor's buffer in the host's hands (no copies through
 * host memory on vkt's side): called with an adopted device. */
/* A host-visible, coherent buffer of the host's, mapped. */
typedef struct host_buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *ptr;
} host_buffer;

static host_buffer host_buffer_new(VkPhysicalDevice pd, VkDevice device,
                                   struct VolkDeviceTable *tbl, VkDeviceSize bytes,
                                   VkBufferUsageFlags usage)
{
    host_buffer hb = {0};
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = bytes, .usage = usage};
    assert_int_equal(tbl->vkCreateBuffer(device, &bci, NULL, &hb.buffer), VK_SUCCESS);
    VkMemoryRequirements req;
    tbl->vkGetBufferMemoryRequirements(device, hb.buffer, &req);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    uint32_t type = UINT32_MAX;
    VkMemoryPropertyFlags want =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++) {
        if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) {
            type = i;
        }
    }
    assert_true(type != UINT32_MAX);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = type};
    assert_int_equal(tbl->vkAllocateMemory(device, &mai, NULL, &hb.memory), VK_SUCCESS);
    assert_int_equal(tbl->vkBindBufferMemory(device, hb.buffer, hb.memory, 0), VK_SUCCESS);
    assert_int_equal(tbl->vkMapMemory(device, hb.memory, 0, VK_WHOLE_SIZE, 0, &hb.ptr), VK_SUCCESS);
    memset(hb.ptr, 0, bytes);
    return hb;
}

static void host_buffer_free(VkDevice device, struct VolkDeviceTable *tbl, host_buffer *hb)
{
    tbl->vkUnmapMemory(device, hb->memory);
    tbl->vkDestroyBuffer(device, hb->buffer, NULL);
    tbl->vkFreeMemory(device, hb->memory, NULL);
}

static void share_buffers(VkPhysicalDevice pd, VkDevice device, struct VolkDeviceTable *tbl,
                          VkQueue q, vkt_device *dev)
{
    enum { N = 1000, OFF = 256, BYTES = 8192 };
    VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    host_buffer hbuf = host_buffer_new(pd, device, tbl, BYTES, usage);
    VkBuffer hb = hbuf.buffer;
    float *host = hbuf.ptr;
    for (int i = 0; i < N; i++) {
        host[OFF / 4 + i] = (float)(i - 500);
    }

    /* the host's range as a tensor: vkt reads it in place */
    vkt_vk_buffer_desc hd = {.buffer = hb, .offset = OFF, .range = BYTES - OFF, .usage = usage};
    int64_t shape[1] = {N};
    vkt_tensor *x = vkt_tensor_wrap_vk_buffer(dev, &hd, VKT_F32, 1, shape);
    assert_non_null(x);
    vkt_tensor *y = vkt_relu(x);
    float out[N];
    assert_int_equal(vkt_tensor_download(y, out, sizeof out), VKT_OK);
    for (int i = 0; i < N; i++) {
        assert_true(out[i] == (i < 500 ? 0.0f : (float)(i - 500)));
    }
    /* and writes it in place: the host sees it after vkt_device_finish */
    float ones[N];
    for (int i = 0; i < N; i++) {
        ones[i] = 1.0f;
    }
    assert_int_equal(vkt_tensor_upload(x, ones, sizeof ones), VKT_OK);
    vkt_device_finish(dev);
    assert_true(host[OFF / 4] == 1.0f && host[OFF / 4 + N - 1] == 1.0f);
    assert_true(host[OFF / 4 + N] == 0.0f); /* nothing past the tensor */

    /* what vkt cannot use is refused with the reason */
    vkt_vk_buffer_desc bad = hd;
    bad.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    assert_null(vkt_tensor_wrap_vk_buffer(dev, &bad, VKT_F32, 1, shape));
    assert_non_null(strstr(vkt_last_error(), "lacks STORAGE_BUFFER"));
    bad = hd;
    bad.offset = 100;
    assert_null(vkt_tensor_wrap_vk_buffer(dev, &bad, VKT_F32, 1, shape));
    assert_non_null(strstr(vkt_last_error(), "not a multiple of 256"));
    bad = hd;
    bad.range = 3999;
    assert_null(vkt_tensor_wrap_vk_buffer(dev, &bad, VKT_F32, 1, shape));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);

    /* a tensor's buffer for the host: it copies y into its own buffer with its own commands */
    vkt_vk_buffer_desc yd;
    assert_int_equal(vkt_tensor_vk_buffer(y, &yd), VKT_OK);
    assert_int_equal(yd.range, N * sizeof(float));
    assert_true((yd.usage & VK_BUFFER_USAGE_TRANSFER_SRC_BIT) != 0);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = 0};
    VkCommandPool pool;
    assert_int_equal(tbl->vkCreateCommandPool(device, &pci, NULL, &pool), VK_SUCCESS);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VkCommandBuffer cmd;
    assert_int_equal(tbl->vkAllocateCommandBuffers(device, &cai, &cmd), VK_SUCCESS);
    VkCommandBufferBeginInfo cbi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    assert_int_equal(tbl->vkBeginCommandBuffer(cmd, &cbi), VK_SUCCESS);
    VkBufferCopy region = {.srcOffset = yd.offset, .dstOffset = 0, .size = yd.range};
    tbl->vkCmdCopyBuffer(cmd, yd.buffer, hb, 1, &region);
    assert_int_equal(tbl->vkEndCommandBuffer(cmd), VK_SUCCESS);
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    vkt_device_finish(dev); /* vkt's writes of y are complete before the host reads them */
    assert_int_equal(tbl->vkQueueSubmit(q, 1, &si, VK_NULL_HANDLE), VK_SUCCESS);
    assert_int_equal(tbl->vkQueueWaitIdle(q), VK_SUCCESS);
    for (int i = 0; i < N; i++) {
        assert_true(host[i] == out[i]);
    }

    vkt_tensor_free(x);
    vkt_tensor_free(y);
    vkt_device_finish(dev); /* the host's buffer outlives every vkt use of it */
    tbl->vkDestroyCommandPool(device, pool, NULL);
    host_buffer_free(device, tbl, &hbuf);
}

/* A host application with its own instance and device hands them to vkt. */
static void adopt_host_device(void **state)
{
    (void)state;
    assert_int_equal(volkInitialize(), VK_SUCCESS);
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app};
    VkInstance inst;
    assert_int_equal(vkCreateInstance(&ici, NULL, &inst), VK_SUCCESS);
    volkLoadInstanceOnly(inst);
    uint32_t n = 1;
    VkPhysicalDevice pd;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, &pd);
    assert_true(r == VK_SUCCESS || r == VK_INCOMPLETE);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = 0,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .timelineSemaphore = 1};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &f12,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VkDevice device;
    assert_int_equal(vkCreateDevice(pd, &dci, NULL, &device), VK_SUCCESS);
    struct VolkDeviceTable tbl;
    volkLoadDeviceTable(&tbl, device);
    VkQueue q;
    tbl.vkGetDeviceQueue(device, 0, 0, &q);

    vkt_vulkan_device_desc desc = {.instance = inst,
                                   .physical_device = pd,
                                   .device = device,
                                   .queue_family = 0,
                                   .queue = q,
                                   .get_instance_proc_addr = vkGetInstanceProcAddr,
                                   .api_version = VK_API_VERSION_1_2,
                                   .enabled_features = &f12};
    vkt_device *dev = NULL;
    /* What vkt cannot run on is refused with the reason, before anything is created. */
    vkt_vulkan_device_desc bad = desc;
    bad.api_version = 0; /* an instance without pApplicationInfo: Vulkan 1.0 */
    assert_int_equal(vkt_device_adopt(&bad, &dev), VKT_UNSUPPORTED);
    assert_null(dev);
    assert_non_null(strstr(vkt_last_error(), "created for Vulkan 1.0"));
    bad.api_version = VK_API_VERSION_1_1;
    assert_int_equal(vkt_device_adopt(&bad, &dev), VKT_UNSUPPORTED);
    assert_non_null(strstr(vkt_last_error(), "created for Vulkan 1.1"));
    bad = desc;
    bad.enabled_features = NULL;
    assert_int_equal(vkt_device_adopt(&bad, &dev), VKT_UNSUPPORTED);
    assert_non_null(strstr(vkt_last_error(), "timelineSemaphore"));
    VkPhysicalDeviceVulkan12Features no_timeline = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    bad.enabled_features = &no_timeline;
    assert_int_equal(vkt_device_adopt(&bad, &dev), VKT_UNSUPPORTED);
    assert_non_null(strstr(vkt_last_error(), "without the timelineSemaphore feature"));
    /* The extension's struct counts as the core one does. */
    VkPhysicalDeviceTimelineSemaphoreFeatures ext = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
        .pNext = &no_timeline,
        .timelineSemaphore = VK_TRUE};
    bad.enabled_features = &ext;
    assert_int_equal(vkt_device_adopt(&bad, &dev), VKT_OK);
    vkt_device_destroy(dev);
    dev = NULL;

    assert_int_equal(vkt_device_adopt(&desc, &dev), VKT_OK);
    assert_ptr_equal(vkt_device_vk_device(dev), device);
    /* what the host's 1.2 instance and feature chain allow, not what lavapipe could */
    assert_int_equal(vkt_device_get_info(dev)->api_version, VK_API_VERSION_1_2);
    assert_false(vkt_device_get_info(dev)->subgroup_size_control);
    share_buffers(pd, device, &tbl, q, dev);
    vkt_tensor *x = vkt_tensor_new_1d(dev, VKT_F32, 3);
    float v[3] = {-1, 2, -3}, o[3];
    assert_int_equal(vkt_tensor_upload(x, v, sizeof v), VKT_OK);
    vkt_tensor *y = vkt_relu(x);
    assert_int_equal(vkt_tensor_download(y, o, sizeof o), VKT_OK);
    assert_true(o[0] == 0 && o[1] == 2 && o[2] == 0);
    vkt_tensor_free(x);
    vkt_tensor_free(y);
    vkt_device_destroy(dev); /* must not destroy the host's device */
    tbl.vkDeviceWaitIdle(device); /* the host's device is still valid (teardown of this test) */
    tbl.vkDestroyDevice(device, NULL);
    vkDestroyInstance(inst, NULL);

    assert_int_equal(vkt_device_adopt(&(vkt_vulkan_device_desc){0}, &dev), VKT_INVALID_ARGUMENT);
}

static VkSemaphore timeline_new(VkDevice device, struct VolkDeviceTable *tbl)
{
    VkSemaphoreTypeCreateInfo tci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                     .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &tci};
    VkSemaphore sem;
    assert_int_equal(tbl->vkCreateSemaphore(device, &sci, NULL, &sem), VK_SUCCESS);
    return sem;
}

/*
 * The host's commands and vkt's on one queue, ordered only by the host's timeline semaphores.
 * First vkt's work waits for a semaphore the host signals only later (wait-before-signal): it
 * must not run before. Then
 * frames: each frame the host fills its buffer (after vkt has read the last frame's values) and
 * copies vkt's previous result out; vkt doubles the buffer's values. Neither side waits on the
 * CPU until the end. (This validation layer's synchronization validation does not check hazards
 * between submissions, so the test checks the order itself: by the values, and by vkt's work
 * not finishing while its wait is unsatisfied.)
 */
static void share_the_queue(void **state)
{
    (void)state;
    enum { N = 1000, FRAMES = 4 };
    vkt_device *dev = test_dev;
    VkDevice device = vkt_device_vk_device(dev);
    VkQueue q = vkt_device_vk_queue(dev);
    struct VolkDeviceTable tbl;
    volkLoadDeviceTable(&tbl, device);
    VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    host_buffer data =
        host_buffer_new(vkt_device_vk_physical_device(dev), device, &tbl, N * sizeof(float), usage);
    host_buffer seen = host_buffer_new(vkt_device_vk_physical_device(dev), device, &tbl,
                                       FRAMES * N * sizeof(float), usage);
    VkSemaphore host_done = timeline_new(device, &tbl), vkt_done = timeline_new(device, &tbl);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .queueFamilyIndex = vkt_device_vk_queue_family(dev)};
    VkCommandPool pool;
    assert_int_equal(tbl.vkCreateCommandPool(device, &pci, NULL, &pool), VK_SUCCESS);
    VkCommandBuffer cmds[FRAMES + 1], cmd;
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = FRAMES + 1};
    assert_int_equal(tbl.vkAllocateCommandBuffers(device, &cai, cmds), VK_SUCCESS);

    vkt_tensor *x = vkt_tensor_wrap_vk_buffer(
        dev, &(vkt_vk_buffer_desc){data.buffer, 0, N * sizeof(float), usage}, VKT_F32, 1,
        (int64_t[]){N});
    assert_non_null(x);
    vkt_tensor *y[FRAMES] = {NULL};
    VkCommandBufferBeginInfo cbi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;

    /* vkt's work waits for host_done = 1, which nothing has signalled yet */
    assert_int_equal(vkt_device_wait_semaphore(dev, host_done, 1), VKT_OK);
    vkt_tensor *held = vkt_add(x, x);
    assert_non_null(held);
    assert_int_equal(vkt_device_signal_semaphore(dev, vkt_done, 1), VKT_OK);
    uint64_t one = 1;
    VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                              .semaphoreCount = 1,
                              .pSemaphores = &vkt_done,
                              .pValues = &one};
    assert_int_equal(tbl.vkWaitSemaphores(device, &wi, 20 * 1000 * 1000), VK_TIMEOUT);
    /* the host signals it (from the CPU: a signal submitted behind vkt's waiting batch on the
     * same queue could not run before it); vkt's work then runs */
    VkSemaphoreSignalInfo sig = {
        .sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, .semaphore = host_done, .value = 1};
    assert_int_equal(tbl.vkSignalSemaphore(device, &sig), VK_SUCCESS);
    assert_int_equal(tbl.vkWaitSemaphores(device, &wi, 5000ull * 1000 * 1000), VK_SUCCESS);
    vkt_tensor_free(held);

    /* frames: values 2..FRAMES+1 on both semaphores */
    vkt_device_finish(dev);
    vkt_device_stats before;
    vkt_device_get_stats(dev, &before);
    for (uint64_t n = 2; n <= FRAMES + 2; n++) {
        /* host frame n: after vkt's frame n-1, copy its result out and refill the data */
        cmd = cmds[n - 2];
        assert_int_equal(tbl.vkBeginCommandBuffer(cmd, &cbi), VK_SUCCESS);
        if (n > 2) {
            vkt_vk_buffer_desc yd;
            assert_int_equal(vkt_tensor_vk_buffer(y[n - 3], &yd), VKT_OK);
            VkBufferCopy region = {yd.offset, (n - 3) * N * sizeof(float), yd.range};
            tbl.vkCmdCopyBuffer(cmd, yd.buffer, seen.buffer, 1, &region);
        }
        float v = (float)n;
        uint32_t word;
        memcpy(&word, &v, sizeof word);
        tbl.vkCmdFillBuffer(cmd, data.buffer, 0, N * sizeof(float), word);
        assert_int_equal(tbl.vkEndCommandBuffer(cmd), VK_SUCCESS);
        uint64_t wait_value = n - 1, signal_value = n;
        VkTimelineSemaphoreSubmitInfo tsi = {.sType =
                                                 VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                             .waitSemaphoreValueCount = 1,
                                             .pWaitSemaphoreValues = &wait_value,
                                             .signalSemaphoreValueCount = 1,
                                             .pSignalSemaphoreValues = &signal_value};
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                           .pNext = &tsi,
                           .waitSemaphoreCount = 1,
                           .pWaitSemaphores = &vkt_done,
                           .pWaitDstStageMask = &stage,
                           .commandBufferCount = 1,
                           .pCommandBuffers = &cmd,
                           .signalSemaphoreCount = 1,
                           .pSignalSemaphores = &host_done};
        assert_int_equal(tbl.vkQueueSubmit(q, 1, &si, VK_NULL_HANDLE), VK_SUCCESS);
        if (n > FRAMES + 1) {
            break;
        }
        /* vkt's frame n: after the host's fill, y = 2x */
        assert_int_equal(vkt_device_wait_semaphore(dev, host_done, n), VKT_OK);
        y[n - 2] = vkt_add(x, x);
        assert_non_null(y[n - 2]);
        assert_int_equal(vkt_device_signal_semaphore(dev, vkt_done, n), VKT_OK);
    }
    vkt_device_stats after;
    vkt_device_get_stats(dev, &after);
    /* vkt never waited to read or finish; a frame wait (every command buffer still in flight)
     * is back-pressure from a busy device and may happen on a loaded machine */
    assert_int_equal(after.host_waits, before.host_waits);
    uint64_t last = FRAMES + 2;
    wi.pSemaphores = &host_done;
    wi.pValues = &last;
    assert_int_equal(tbl.vkWaitSemaphores(device, &wi, 5000ull * 1000 * 1000), VK_SUCCESS);
    const float *out = seen.ptr;
    for (int f = 0; f < FRAMES; f++) {
        for (int i = 0; i < N; i++) {
            assert_true(out[f * N + i] == 2.0f * (float)(f + 2));
        }
    }

    /* a signal with nothing recorded still follows vkt's earlier work; NULLs are refused */
    assert_int_equal(vkt_device_signal_semaphore(dev, vkt_done, FRAMES + 2), VKT_OK);
    assert_int_equal(vkt_device_signal_semaphore(dev, VK_NULL_HANDLE, 1), VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_device_wait_semaphore(dev, VK_NULL_HANDLE, 1), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "semaphore is NULL"));
    for (int i = 0; i < 8; i++) {
        assert_int_equal(vkt_device_wait_semaphore(dev, host_done, 1), VKT_OK);
    }
    assert_int_equal(vkt_device_wait_semaphore(dev, host_done, 1), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "more than 8 waits"));
    assert_int_equal(vkt_device_finish(dev), VKT_OK); /* the 8 waits go with an empty submit */

    for (int f = 0; f < FRAMES; f++) {
        vkt_tensor_free(y[f]);
    }
    vkt_tensor_free(x);
    vkt_device_finish(dev);
    tbl.vkDestroyCommandPool(device, pool, NULL);
    tbl.vkDestroySemaphore(device, host_done, NULL);
    tbl.vkDestroySemaphore(device, vkt_done, NULL);
    host_buffer_free(device, &tbl, &data);
    host_buffer_free(device, &tbl, &seen);
}

typedef struct budget_step_ctx {
    vkt_tensor *a;
    uint32_t calls, fail_at;
} budget_step_ctx;

static vkt_status budget_step(void *user)
{
    budget_step_ctx *c = user;
    if (++c->calls == c->fail_at) {
        return VKT_SHAPE_MISMATCH;
    }
    vkt_tensor *p = vkt_matmul(c->a, c->a, 0);
    if (!p) {
        return vkt_last_status();
    }
    vkt_tensor_free(p);
    return VKT_OK;
}

/* Steps planned from the device time the budget has measured, never from a CPU clock. */
static void budget_plans_from_measured_device_time(void **state)
{
    (void)state;
    vkt_device *dev = test_dev;
    budget_step_ctx c = {.a = vkt_tensor_new_2d(dev, VKT_F32, 128, 128)};
    assert_int_equal(vkt_fill(c.a, 0.5f), VKT_OK);
    vkt_budget *b = NULL;
    assert_int_equal(vkt_budget_create(dev, &(vkt_budget_desc){.ms = 0}, &b), VKT_INVALID_ARGUMENT);
    assert_null(b);
    assert_non_null(strstr(vkt_last_error(), "ms is 0"));
    assert_int_equal(
        vkt_budget_create(dev, &(vkt_budget_desc){.ms = 1, .min_steps = 9, .max_steps = 3}, &b),
        VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "min_steps 9 is more than max_steps 3"));

    assert_int_equal(vkt_budget_create(dev, &(vkt_budget_desc){.ms = 4}, &b), VKT_OK);
    assert_int_equal(vkt_budget_query_desc(b)->min_steps, 1);
    assert_int_equal(vkt_budget_query_desc(b)->max_steps, 10000);
    assert_int_equal(vkt_budget_run(b, NULL, &c, NULL), VKT_INVALID_ARGUMENT);
    /* nothing measured yet: min_steps */
    vkt_budget_report r;
    assert_int_equal(vkt_budget_run(b, budget_step, &c, &r), VKT_OK);
    assert_int_equal(r.run, 1);
    assert_int_equal(r.steps, 1);
    assert_true(r.step_ms == 0 && r.measured_run == 0);
    assert_int_equal(vkt_device_finish(dev), VKT_OK);
    uint64_t made = r.steps;
    /* run 1 read: its time per step is the estimate, and the plan is what fits in 4 ms */
    for (int k = 0; k < 12; k++) {
        c.calls = 0;
        assert_int_equal(vkt_budget_run(b, budget_step, &c, &r), VKT_OK);
        assert_true(r.measured_run >= 1 && r.measured_ms > 0 && r.step_ms > 0);
        uint32_t want = (uint32_t)(4.0 / r.step_ms);
        want = want < 1 ? 1 : want > 10000 ? 10000 : want;
        assert_int_equal(r.steps, want);
        assert_int_equal(c.calls, r.steps);
        assert_true(r.planned_ms <= 4.0 || r.steps == 1);
        made += r.steps;
    }
    /* runs are read once finished, oldest first, none lost */
    assert_int_equal(vkt_device_finish(dev), VKT_OK);
    vkt_budget_report last;
    assert_int_equal(vkt_budget_run(b, budget_step, &c, &last), VKT_OK);
    assert_int_equal(last.measured_run, 13);
    assert_true(last.total_ms > 0);
    assert_int_equal(last.total_steps, made);
    vkt_budget_destroy(b);

    /* min_steps and max_steps bound the plan */
    assert_int_equal(vkt_budget_create(dev, &(vkt_budget_desc){.ms = 1e-9, .min_steps = 2}, &b),
                     VKT_OK);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(vkt_budget_run(b, budget_step, &c, &r), VKT_OK);
        assert_int_equal(r.steps, 2);
        assert_int_equal(vkt_device_finish(dev), VKT_OK);
    }
    vkt_budget_destroy(b);
    assert_int_equal(vkt_budget_create(dev, &(vkt_budget_desc){.ms = 1e6, .max_steps = 3}, &b),
                     VKT_OK);
    assert_int_equal(vkt_budget_run(b, budget_step, &c, &r), VKT_OK);
    assert_int_equal(vkt_device_finish(dev), VKT_OK);
    assert_int_equal(vkt_budget_run(b, budget_step, &c, &r), VKT_OK);
    assert_int_equal(r.steps, 3);
    /* a failing step ends the run with its status; the steps before it count */
    c.calls = 0;
    c.fail_at = 2;
    assert_int_equal(vkt_budget_run(b, budget_step, &c, &r), VKT_SHAPE_MISMATCH);
    assert_int_equal(r.steps, 1);
    vkt_budget_destroy(b);
    vkt_tensor_free(c.a);
}

/* Every host allocation of a budget's creation and first runs, and of a host buffer's round
 * trip, failing in turn: a clear error each time and nothing left behind (LeakSanitizer). */
typedef struct af_ctx {
    budget_step_ctx step;
} af_ctx;

static vkt_status af_budget_and_host_buffer(void *ctx)
{
    af_ctx *c = ctx;
    vkt_budget *b;
    vkt_status s = vkt_budget_create(test_dev, &(vkt_budget_desc){.ms = 5}, &b);
    for (int i = 0; s == VKT_OK && i < 3; i++) {
        s = vkt_budget_run(b, budget_step, &c->step, NULL);
    }
    vkt_budget_destroy(b);
    vkt__host_buffer *hb = NULL;
    uint64_t ready = 0;
    if (s == VKT_OK) {
        s = vkt__host_buffer_create(test_dev, 4096, &hb);
    }
    if (s == VKT_OK) {
        s = vkt__copy_to_host(test_dev, vkt__bind(c->step.a, VKT__READ), hb, 0, &ready);
    }
    s = s == VKT_OK ? vkt__host_buffer_wait(test_dev, ready) : s;
    s = s == VKT_OK ? vkt__copy_from_host(test_dev, hb, 0, vkt__bind(c->step.a, VKT__WRITE)) : s;
    vkt__host_buffer_destroy(test_dev, hb);
    return s == VKT_OK ? vkt_device_finish(test_dev) : s;
}

static void af_check(void *ctx, vkt_status s, long point) { (void)ctx, (void)point, (void)s; }

static void budget_and_host_buffer_survive_allocation_failures(void **state)
{
    (void)state;
    af_ctx c = {.step = {.a = vkt_tensor_new_2d(test_dev, VKT_F32, 32, 32)}};
    assert_int_equal(vkt_fill(c.step.a, 0.5f), VKT_OK);
    long points = vkt_test_each_alloc_failure("budget and host buffer", NULL,
                                              af_budget_and_host_buffer, af_check, &c);
    printf("budget and host buffer: %ld allocation points injected\n", points);
    vkt_tensor_free(c.step.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(probe_reports_lavapipe_limits),
        VKT_TEST(enumerate_marks_one_default),
        VKT_TEST(select_by_name_and_index),
        VKT_TEST(counters_count_one_submit_per_sequence),
        VKT_TEST(memory_returns_after_scope_and_blocks_are_shared),
        VKT_TEST(too_large_and_out_of_memory_are_clear_errors),
        VKT_TEST(bad_tensor_arguments_are_clear_errors),
        VKT_TEST(views_share_memory),
        VKT_TEST(large_upload_and_download_cross_staging_chunks),
        VKT_TEST(host_buffer_reads_a_range_while_later_work_is_queued),
        VKT_TEST(status_table_names_every_code),
        VKT_TEST(adopt_host_device),
        VKT_TEST(share_the_queue),
        VKT_TEST(budget_plans_from_measured_device_time),
        VKT_TEST(budget_and_host_buffer_survive_allocation_failures),
    };
    return VKT_RUN_GROUP(tests);
}
