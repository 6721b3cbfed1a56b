/*
 * host_app.c — vkt inside a host Vulkan application (docs/using-vkt.md, "Training between
 * frames").
 *
 * A headless "renderer" with its own instance, device and queue (the Vulkan loader, -lvulkan;
 * vkt's own copy of volk stays hidden in libvkt). Every frame its compute pass (host_app.comp)
 * renders the scene into its image buffer and writes 256 samples of the scene into its sample
 * buffer. Between frames vkt trains an MLP on those samples in place (vkt_tensor_wrap_vk_buffer:
 * no copy), on the same queue, for a budget of device time per frame (vkt_budget_run), ordered
 * by two timeline semaphores and no CPU wait:
 *
 *     host frame n: wait vkt_done >= n-1 (vkt has read frame n-1's samples),
 *                   render, write samples, signal host_done = n
 *     vkt frame n:  wait host_done >= n, train within the budget, signal vkt_done = n
 *
 * The host keeps two frames in flight and reads back each frame's image once it is done.
 *
 * usage: host_app [--frames N] [--budget-ms MS] [--no-train] [--check]
 *   --check   runs the frames without training, then with it, and fails unless every frame's
 *             image is the same bit for bit, the loss has fallen, vkt never waited to read
 *             or finish in the frame loop, and validation (VKT_VALIDATION=1: the Khronos layer with
 *             synchronization validation, on this program's own instance) reported nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkt/vkt.h"
#include "vkt/vulkan.h"

#include "host_app.spv.h"

#define W 96
#define H 64
#define BATCH 256
#define IN_FLIGHT 2
#define MAX_FRAMES 1000
/* floats between frames' losses: a view must start at a multiple of
 * minStorageBufferOffsetAlignment, at most 256 bytes */
#define LOSS_STRIDE 64

#define VK_CHECK(call)                                                                             \
    do {                                                                                           \
        VkResult r_ = (call);                                                                      \
        if (r_ != VK_SUCCESS) {                                                                    \
            fprintf(stderr, "host_app: %s failed: VkResult %d\n", #call, (int)r_);                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define VKT_CHECK(call)                                                                            \
    do {                                                                                           \
        if ((call) != VKT_OK) {                                                                    \
            fprintf(stderr, "host_app: %s failed: %s\n", #call, vkt_last_error());                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct push {
    uint32_t frame, width, height, image_offset, batch, y_offset;
} push;

/* ---- the host application: instance, device, buffers, its compute pass ---------------------- */

typedef struct host {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice gpu;
    VkDevice device;
    uint32_t family;
    VkQueue queue;
    VkPhysicalDeviceVulkan12Features f12;
    VkBuffer image, samples;
    VkDeviceMemory image_mem, samples_mem;
    float *image_ptr;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
    VkDescriptorPool desc_pool;
    VkDescriptorSet set;
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd[IN_FLIGHT];
    VkQueryPool queries; /* two timestamps per frame in flight */
    VkSemaphore host_done, vkt_done;
    float timestamp_period;
} host;

static uint64_t validation_messages;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)types;
    (void)user;
    validation_messages++;
    fprintf(stderr, "host_app: validation %s: %s\n",
            severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
            data->pMessage);
    return VK_FALSE;
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static void host_create_device(host *h)
{
    bool validate = env_flag("VKT_VALIDATION");
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "host_app",
                             .apiVersion = VK_API_VERSION_1_2};
    const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .enabledValidationFeatureCount = 1,
                                        .pEnabledValidationFeatures = enables};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pNext = validate ? &features : NULL,
                                .pApplicationInfo = &app,
                                .enabledLayerCount = validate ? 1 : 0,
                                .ppEnabledLayerNames = layers,
                                .enabledExtensionCount = validate ? 1 : 0,
                                .ppEnabledExtensionNames = exts};
    VK_CHECK(vkCreateInstance(&ici, NULL, &h->instance));
    if (validate) {
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_message};
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                h->instance, "vkCreateDebugUtilsMessengerEXT");
        VK_CHECK(create ? create(h->instance, &mci, NULL, &h->messenger)
                        : VK_ERROR_EXTENSION_NOT_PRESENT);
    }
    uint32_t n = 1;
    VkResult r = vkEnumeratePhysicalDevices(h->instance, &n, &h->gpu);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) {
        fprintf(stderr, "host_app: no Vulkan device\n");
        exit(1);
    }
    VkQueueFamilyProperties fam[16];
    uint32_t nf = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(h->gpu, &nf, fam);
    h->family = UINT32_MAX;
    for (uint32_t i = 0; i < nf && h->family == UINT32_MAX; i++) {
        if ((fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && fam[i].timestampValidBits > 0) {
            h->family = i;
        }
    }
    if (h->family == UINT32_MAX) {
        fprintf(stderr, "host_app: no compute queue with timestamps\n");
        exit(1);
    }
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(h->gpu, &props);
    h->timestamp_period = props.limits.timestampPeriod;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = h->family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    h->f12 = (VkPhysicalDeviceVulkan12Features){
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .timelineSemaphore = 1};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &h->f12,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci};
    VK_CHECK(vkCreateDevice(h->gpu, &dci, NULL, &h->device));
    vkGetDeviceQueue(h->device, h->family, 0, &h->queue);
}

static void host_buffer(host *h, VkDeviceSize size, VkBufferUsageFlags usage,
                        VkMemoryPropertyFlags want, VkBuffer *buf, VkDeviceMemory *mem)
{
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = usage};
    VK_CHECK(vkCreateBuffer(h->device, &bci, NULL, buf));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(h->device, *buf, &req);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(h->gpu, &mp);
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++) {
        if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) {
            type = i;
        }
    }
    if (type == UINT32_MAX) {
        fprintf(stderr, "host_app: no memory type with flags 0x%x\n", (unsigned)want);
        exit(1);
    }
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = type};
    VK_CHECK(vkAllocateMemory(h->device, &mai, NULL, mem));
    VK_CHECK(vkBindBufferMemory(h->device, *buf, *mem, 0));
}

/* Bytes of the sample buffer: BATCH x 2 coordinates, then BATCH targets at a 256-byte boundary
 * (vkt binds tensor ranges at that alignment). */
#define Y_OFFSET_BYTES ((BATCH * 2 * sizeof(float) + 255) / 256 * 256)
#define SAMPLE_BYTES (Y_OFFSET_BYTES + BATCH * sizeof(float))
/* what vkt needs of a buffer it wraps (vkt/vulkan.h) */
#define SAMPLE_USAGE                                                                               \
    (VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |                       \
     VK_BUFFER_USAGE_TRANSFER_DST_BIT)

static void host_create_pass(host *h)
{
    host_buffer(h, IN_FLIGHT * W * H * sizeof(float), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                &h->image, &h->image_mem);
    VK_CHECK(vkMapMemory(h->device, h->image_mem, 0, VK_WHOLE_SIZE, 0, (void **)&h->image_ptr));
    host_buffer(h, SAMPLE_BYTES, SAMPLE_USAGE, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, &h->samples,
                &h->samples_mem);

    VkDescriptorSetLayoutBinding b[2] = {
        {0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL},
        {1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL}};
    VkDescriptorSetLayoutCreateInfo dl = {.sType =
                                              VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = 2,
                                          .pBindings = b};
    VK_CHECK(vkCreateDescriptorSetLayout(h->device, &dl, NULL, &h->set_layout));
    VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push)};
    VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                     .setLayoutCount = 1,
                                     .pSetLayouts = &h->set_layout,
                                     .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pr};
    VK_CHECK(vkCreatePipelineLayout(h->device, &pl, NULL, &h->layout));
    VkShaderModuleCreateInfo smi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = sizeof vkt_spv_host_app,
                                    .pCode = vkt_spv_host_app};
    VkShaderModule module;
    VK_CHECK(vkCreateShaderModule(h->device, &smi, NULL, &module));
    VkComputePipelineCreateInfo cpi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main"},
        .layout = h->layout};
    VK_CHECK(vkCreateComputePipelines(h->device, VK_NULL_HANDLE, 1, &cpi, NULL, &h->pipeline));
    vkDestroyShaderModule(h->device, module, NULL);

    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = 1,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    VK_CHECK(vkCreateDescriptorPool(h->device, &dpi, NULL, &h->desc_pool));
    VkDescriptorSetAllocateInfo dai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                       .descriptorPool = h->desc_pool,
                                       .descriptorSetCount = 1,
                                       .pSetLayouts = &h->set_layout};
    VK_CHECK(vkAllocateDescriptorSets(h->device, &dai, &h->set));
    VkDescriptorBufferInfo bi[2] = {{h->image, 0, VK_WHOLE_SIZE}, {h->samples, 0, VK_WHOLE_SIZE}};
    VkWriteDescriptorSet wr[2];
    for (int i = 0; i < 2; i++) {
        wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                       .dstSet = h->set,
                                       .dstBinding = (uint32_t)i,
                                       .descriptorCount = 1,
                                       .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                       .pBufferInfo = &bi[i]};
    }
    vkUpdateDescriptorSets(h->device, 2, wr, 0, NULL);

    VkCommandPoolCreateInfo cp = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = h->family};
    VK_CHECK(vkCreateCommandPool(h->device, &cp, NULL, &h->cmd_pool));
    VkCommandBufferAllocateInfo ca = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = h->cmd_pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = IN_FLIGHT};
    VK_CHECK(vkAllocateCommandBuffers(h->device, &ca, h->cmd));
    VkQueryPoolCreateInfo qp = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = 2 * IN_FLIGHT};
    VK_CHECK(vkCreateQueryPool(h->device, &qp, NULL, &h->queries));
}

static VkSemaphore host_timeline(host *h)
{
    VkSemaphoreTypeCreateInfo tci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
                                     .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE};
    VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &tci};
    VkSemaphore s;
    VK_CHECK(vkCreateSemaphore(h->device, &sci, NULL, &s));
    return s;
}

static void host_destroy(host *h)
{
    vkDeviceWaitIdle(h->device);
    vkDestroySemaphore(h->device, h->host_done, NULL);
    vkDestroySemaphore(h->device, h->vkt_done, NULL);
    vkDestroyQueryPool(h->device, h->queries, NULL);
    vkDestroyCommandPool(h->device, h->cmd_pool, NULL);
    vkDestroyDescriptorPool(h->device, h->desc_pool, NULL);
    vkDestroyPipeline(h->device, h->pipeline, NULL);
    vkDestroyPipelineLayout(h->device, h->layout, NULL);
    vkDestroyDescriptorSetLayout(h->device, h->set_layout, NULL);
    vkDestroyBuffer(h->device, h->image, NULL);
    vkDestroyBuffer(h->device, h->samples, NULL);
    vkFreeMemory(h->device, h->image_mem, NULL);
    vkFreeMemory(h->device, h->samples_mem, NULL);
    vkDestroyDevice(h->device, NULL);
    if (h->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                h->instance, "vkDestroyDebugUtilsMessengerEXT");
        destroy(h->instance, h->messenger, NULL);
    }
    vkDestroyInstance(h->instance, NULL);
}

/* Records and submits host frame n (from 1): after vkt's frame n-1, signalling host_done = n. */
static void host_submit_frame(host *h, uint32_t n)
{
    uint32_t slot = n % IN_FLIGHT;
    VkCommandBuffer cmd = h->cmd[slot];
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
    vkCmdResetQueryPool(cmd, h->queries, 2 * slot, 2);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, h->queries, 2 * slot);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, h->pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, h->layout, 0, 1, &h->set, 0, NULL);
    push pc = {n, W, H, slot * W * H, BATCH, (uint32_t)(Y_OFFSET_BYTES / sizeof(float))};
    vkCmdPushConstants(cmd, h->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof pc, &pc);
    vkCmdDispatch(cmd, (W * H + 63) / 64, 1, 1);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, h->queries, 2 * slot + 1);
    VK_CHECK(vkEndCommandBuffer(cmd));
    uint64_t wait = n - 1, signal = n;
    /* the pass overwrites the samples vkt's frame n-1 read */
    VkPipelineStageFlags stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    VkTimelineSemaphoreSubmitInfo tsi = {.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO,
                                         .waitSemaphoreValueCount = 1,
                                         .pWaitSemaphoreValues = &wait,
                                         .signalSemaphoreValueCount = 1,
                                         .pSignalSemaphoreValues = &signal};
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .pNext = &tsi,
                       .waitSemaphoreCount = 1,
                       .pWaitSemaphores = &h->vkt_done,
                       .pWaitDstStageMask = &stage,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &cmd,
                       .signalSemaphoreCount = 1,
                       .pSignalSemaphores = &h->host_done};
    VK_CHECK(vkQueueSubmit(h->queue, 1, &si, VK_NULL_HANDLE));
}

typedef struct frame_result {
    uint64_t checksum; /* FNV-1a of the image's bytes */
    double host_ms;    /* the host pass's device time */
    uint32_t steps;    /* vkt's training steps after this frame */
    double train_ms;   /* vkt_budget's measurement of its run (known a few frames later) */
} frame_result;

/* Waits (on the CPU, as a renderer does before reusing a frame's resources) for host frame n
 * and reads its image checksum and device time. */
static void host_finish_frame(host *h, uint32_t n, frame_result *out)
{
    uint64_t value = n;
    VkSemaphoreWaitInfo wi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,
                              .semaphoreCount = 1,
                              .pSemaphores = &h->host_done,
                              .pValues = &value};
    VK_CHECK(vkWaitSemaphores(h->device, &wi, UINT64_MAX));
    uint32_t slot = n % IN_FLIGHT;
    const uint8_t *p = (const uint8_t *)(h->image_ptr + slot * W * H);
    uint64_t sum = 1469598103934665603ull;
    for (size_t i = 0; i < W * H * sizeof(float); i++) {
        sum = (sum ^ p[i]) * 1099511628211ull;
    }
    uint64_t ts[2];
    VK_CHECK(vkGetQueryPoolResults(h->device, h->queries, 2 * slot, 2, sizeof ts, ts, sizeof ts[0],
                                   VK_QUERY_RESULT_64_BIT));
    out->checksum = sum;
    out->host_ms = (double)(ts[1] - ts[0]) * h->timestamp_period * 1e-6;
}

/* ---- vkt's side: a model trained on the host's samples -------------------------------------- */

typedef struct trainer {
    vkt_device *dev;
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_tensor *x, *y;     /* over the host's sample buffer */
    vkt_tensor *losses;    /* one per frame (LOSS_STRIDE apart), on the device until the end */
    vkt_tensor *loss_slot; /* the current frame's element of losses */
} trainer;

static vkt_status train_step(void *user)
{
    trainer *t = user;
    vkt_scope_begin(t->dev);
    vkt_tensor *loss = vkt_mse_loss(vkt_model_forward(t->model, t->x), t->y, NULL);
    vkt_status s = loss ? VKT_OK : vkt_last_status();
    s = s == VKT_OK ? vkt_model_zero_grad(t->model) : s;
    s = s == VKT_OK ? vkt_backward(loss) : s;
    s = s == VKT_OK ? vkt_optimizer_step(t->opt) : s;
    s = s == VKT_OK ? vkt_copy(t->loss_slot, loss) : s;
    vkt_scope_end(t->dev);
    return s;
}

static void trainer_open(trainer *t, host *h, uint32_t frames)
{
    VKT_CHECK(
        vkt_device_adopt(&(vkt_vulkan_device_desc){.instance = h->instance,
                                                   .physical_device = h->gpu,
                                                   .device = h->device,
                                                   .queue_family = h->family,
                                                   .queue = h->queue,
                                                   .get_instance_proc_addr = vkGetInstanceProcAddr,
                                                   .api_version = VK_API_VERSION_1_2,
                                                   .enabled_features = &h->f12},
                         &t->dev));
    uint32_t sizes[] = {2, 64, 64, 1};
    vkt_model_desc md;
    VKT_CHECK(vkt_mlp_desc(sizes, 4, 7, &md));
    VKT_CHECK(vkt_model_create(t->dev, &md, &t->model));
    VKT_CHECK(vkt_optimizer_create(t->model, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 1e-2f},
                                   &t->opt));
    t->x = vkt_tensor_wrap_vk_buffer(
        t->dev, &(vkt_vk_buffer_desc){h->samples, 0, BATCH * 2 * sizeof(float), SAMPLE_USAGE},
        VKT_F32, 2, (int64_t[]){BATCH, 2});
    t->y = vkt_tensor_wrap_vk_buffer(
        t->dev,
        &(vkt_vk_buffer_desc){h->samples, Y_OFFSET_BYTES, BATCH * sizeof(float), SAMPLE_USAGE},
        VKT_F32, 2, (int64_t[]){BATCH, 1});
    t->losses = vkt_tensor_new_1d(t->dev, VKT_F32, (int64_t)frames * LOSS_STRIDE);
    if (!t->x || !t->y || !t->losses) {
        fprintf(stderr, "host_app: %s\n", vkt_last_error());
        exit(1);
    }
    VKT_CHECK(vkt_fill(t->losses, 0.0f));
}

static void trainer_close(trainer *t)
{
    vkt_tensor_free(t->x);
    vkt_tensor_free(t->y);
    vkt_tensor_free(t->losses);
    vkt_optimizer_destroy(t->opt);
    vkt_model_destroy(t->model);
    vkt_device_destroy(t->dev); /* frees what vkt made; the device stays the host's */
}

/* ---- the frame loop ------------------------------------------------------------------------- */

typedef struct run_result {
    frame_result frames[MAX_FRAMES];
    float losses[MAX_FRAMES];
    uint64_t vkt_host_waits;  /* vkt's CPU waits to read or finish during the frame loop */
    uint64_t vkt_frame_waits; /* its waits for a command buffer still in flight (back-pressure) */
    uint64_t steps;
    double train_ms; /* device time of the runs the budget has read */
} run_result;

static void run_frames(uint32_t frames, double budget_ms, bool train, run_result *out)
{
    host h = {0};
    host_create_device(&h);
    host_create_pass(&h);
    h.host_done = host_timeline(&h);
    h.vkt_done = host_timeline(&h);
    trainer t = {0};
    trainer_open(&t, &h, frames);
    vkt_budget *budget = NULL;
    VKT_CHECK(vkt_budget_create(t.dev, &(vkt_budget_desc){.ms = budget_ms}, &budget));
    VKT_CHECK(vkt_device_finish(t.dev)); /* setup done: the loop starts from an idle queue */
    vkt_device_stats before;
    vkt_device_get_stats(t.dev, &before);

    for (uint32_t n = 1; n <= frames; n++) {
        if (n > IN_FLIGHT) {
            host_finish_frame(&h, n - IN_FLIGHT, &out->frames[n - IN_FLIGHT - 1]);
        }
        host_submit_frame(&h, n);
        /* vkt's turn: after host frame n, train within the budget, then let frame n+1 go */
        VKT_CHECK(vkt_device_wait_semaphore(t.dev, h.host_done, n));
        if (train) {
            t.loss_slot =
                vkt_tensor_view(t.losses, (int64_t)(n - 1) * LOSS_STRIDE, 1, (int64_t[]){1});
            if (!t.loss_slot) {
                fprintf(stderr, "host_app: %s\n", vkt_last_error());
                exit(1);
            }
            vkt_budget_report r;
            VKT_CHECK(vkt_budget_run(budget, train_step, &t, &r));
            vkt_tensor_free(t.loss_slot);
            out->frames[n - 1].steps = r.steps;
            if (r.measured_run) {
                out->frames[r.measured_run - 1].train_ms = r.measured_ms;
            }
            out->steps = r.total_steps;
            out->train_ms = r.total_ms;
        }
        VKT_CHECK(vkt_device_signal_semaphore(t.dev, h.vkt_done, n));
    }
    for (uint32_t n = frames > IN_FLIGHT ? frames - IN_FLIGHT + 1 : 1; n <= frames; n++) {
        host_finish_frame(&h, n, &out->frames[n - 1]);
    }
    vkt_device_stats after;
    vkt_device_get_stats(t.dev, &after);
    out->vkt_host_waits = after.host_waits - before.host_waits;
    out->vkt_frame_waits = after.frame_waits - before.frame_waits;
    float *all = malloc((size_t)frames * LOSS_STRIDE * sizeof(float));
    if (!all) {
        fprintf(stderr, "host_app: out of memory\n");
        exit(1);
    }
    VKT_CHECK(vkt_tensor_download(t.losses, all, (size_t)frames * LOSS_STRIDE * sizeof(float)));
    for (uint32_t n = 0; n < frames; n++) {
        out->losses[n] = all[(size_t)n * LOSS_STRIDE];
    }
    free(all);
    vkt_budget_destroy(budget);
    trainer_close(&t);
    host_destroy(&h);
}

int main(int argc, char **argv)
{
    uint32_t frames = 60;
    double budget_ms = 8.0;
    bool train = true, check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc) {
            budget_ms = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--no-train") == 0) {
            train = false;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else {
            fprintf(stderr,
                    "usage: host_app [--frames N] [--budget-ms MS] [--no-train] [--check]\n");
            return 2;
        }
    }
    if (frames < IN_FLIGHT + 1 || frames > MAX_FRAMES) {
        fprintf(stderr, "host_app: --frames must be %d..%d\n", IN_FLIGHT + 1, MAX_FRAMES);
        return 2;
    }
    static run_result ref, run;
    if (check) {
        run_frames(frames, budget_ms, false, &ref);
    }
    run_frames(frames, budget_ms, train, &run);

    printf("%5s  %16s  %8s  %6s  %9s  %9s\n", "frame", "image checksum", "host ms", "steps",
           "train ms", "loss");
    for (uint32_t n = 0; n < frames; n++) {
        const frame_result *f = &run.frames[n];
        char train_ms[16] = "-"; /* a run read together with a later one has no figure */
        if (f->train_ms > 0) {
            snprintf(train_ms, sizeof train_ms, "%.3f", f->train_ms);
        }
        printf("%5u  %016" PRIx64 "  %8.3f  %6u  %9s  %9.5f%s\n", n + 1, f->checksum, f->host_ms,
               f->steps, train_ms, run.losses[n],
               check && f->checksum != ref.frames[n].checksum ? "  DIFFERS" : "");
    }
    /* steady state: from frame 6 on (first-use costs are over) */
    double host_ms = 0, ref_ms = 0, train_ms = 0;
    uint32_t counted = 0, trained = 0;
    for (uint32_t n = 5; n < frames; n++) {
        host_ms += run.frames[n].host_ms;
        ref_ms += ref.frames[n].host_ms;
        counted++;
        if (run.frames[n].train_ms > 0) {
            train_ms += run.frames[n].train_ms;
            trained++;
        }
    }
    if (counted > 0) {
        printf("from frame 6: host pass %.3f ms per frame", host_ms / counted);
        if (check) {
            printf(" (%.3f ms without training)", ref_ms / counted);
        }
        if (trained > 0) {
            printf("; training %.3f ms of device time per frame for a %.1f ms budget",
                   train_ms / trained, budget_ms);
        }
        printf("\n");
    }
    printf("training: %" PRIu64 " steps in %.1f ms of device time (%.1f ms budget per frame); "
           "in the frame loop vkt waited %" PRIu64 " times to read or finish and %" PRIu64
           " times for a command buffer in flight; %" PRIu64 " validation messages\n",
           run.steps, run.train_ms, budget_ms, run.vkt_host_waits, run.vkt_frame_waits,
           validation_messages);
    if (!check) {
        return 0;
    }
    int bad = 0;
    for (uint32_t n = 0; n < frames; n++) {
        if (run.frames[n].checksum != ref.frames[n].checksum) {
            fprintf(stderr,
                    "check failed: frame %u's image differs from the frame without "
                    "training\n",
                    n + 1);
            bad = 1;
        }
    }
    float first = run.losses[0], last = run.losses[frames - 1];
    if (train && !(last < 0.25f * first)) {
        fprintf(stderr, "check failed: the loss went from %g to %g, not below a quarter\n", first,
                last);
        bad = 1;
    }
    if (run.vkt_host_waits != 0) {
        fprintf(stderr, "check failed: vkt waited %" PRIu64 " times to read or finish\n",
                run.vkt_host_waits);
        bad = 1;
    }
    if (validation_messages != 0) {
        fprintf(stderr, "check failed: %" PRIu64 " validation messages\n", validation_messages);
        bad = 1;
    }
    printf("check: %s (frames identical with and without training; loss %.5f -> %.5f)\n",
           bad ? "FAILED" : "ok", first, last);
    return bad;
}
