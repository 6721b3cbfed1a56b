/*
 * device.c — loading Vulkan, enumerating and probing devices, choosing one, opening it.
 *
 * The capability probe reads every property the kernels choose by (subgroup size range and
 * operations, shared memory, workgroup and buffer limits, fp16, UMA, driver) once, into
 * vkt_device_info. Device-level calls go through dev->vk (a VolkDeviceTable), never through
 * volk's global pointers, so two devices, or a host application with its own volk, coexist.
 */
#include <ctype.h>
#include <string.h>

#include "gpu/device_impl.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char *vkt_device_type_name(vkt_device_type t)
{
    switch (t) {
    case VKT_DEVICE_TYPE_INTEGRATED_GPU:
        return "integrated";
    case VKT_DEVICE_TYPE_DISCRETE_GPU:
        return "discrete";
    case VKT_DEVICE_TYPE_VIRTUAL_GPU:
        return "virtual";
    case VKT_DEVICE_TYPE_CPU:
        return "cpu";
    default:
        return "other";
    }
}

/* ---- loader and instance --------------------------------------------------------------------- */

static vkt_status load_vulkan(void)
{
    static int loaded; /* 0 unknown, 1 ok, -1 failed */
    if (loaded == 0) {
        loaded = volkInitialize() == VK_SUCCESS ? 1 : -1;
    }
    if (loaded < 0) {
        return vkt__error(VKT_NO_VULKAN, "no Vulkan loader: libvulkan.so.1 could not be loaded "
                                         "(install libvulkan1 and a driver, e.g. "
                                         "mesa-vulkan-drivers)");
    }
    return VKT_OK;
}

static bool layer_present(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) {
        return false;
    }
    VkLayerProperties *props = vkt__calloc(n, sizeof *props);
    if (!props) {
        return false;
    }
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS) {
        for (uint32_t i = 0; i < n && !found; i++) {
            found = strcmp(props[i].layerName, name) == 0;
        }
    }
    free(props);
    return found;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    vkt_device *dev = user;
    if (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        if (dev) {
            dev->stats.validation_messages++;
        }
        fprintf(stderr, "vkt: validation %s: %s\n",
                (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning",
                data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

static vkt_status create_instance(bool validation, vkt_device *dev, VkInstance *out)
{
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) {
        vkEnumerateInstanceVersion(&loader_version);
    }
    if (loader_version < VK_API_VERSION_1_2) {
        return vkt__error(VKT_NO_DEVICE, "the Vulkan loader supports only %u.%u; vkt needs 1.2",
                          VK_API_VERSION_MAJOR(loader_version),
                          VK_API_VERSION_MINOR(loader_version));
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkt",
        .pEngineName = "vkt",
        .apiVersion =
            loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2,
    };
    const char *layers[1] = {VALIDATION_LAYER};
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT,
    };
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .enabledValidationFeatureCount = VKT__ARRAY_LEN(enables),
        .pEnabledValidationFeatures = enables,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
    };
    if (validation) {
        if (!layer_present(VALIDATION_LAYER)) {
            return vkt__error(VKT_UNSUPPORTED, "validation was requested but %s is not installed "
                                               "(apt-get install vulkan-validationlayers)",
                              VALIDATION_LAYER);
        }
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = layers;
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = exts;
        ci.pNext = &features;
    }
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        return vkt__error(VKT_NO_DEVICE, "no Vulkan driver found (vkCreateInstance: %s); install "
                                         "a driver such as mesa-vulkan-drivers or check "
                                         "VK_ICD_FILENAMES",
                          vkt__vk_result_str(r));
    }
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateInstance");
    }
    volkLoadInstanceOnly(*out);
    if (validation && dev) {
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_validation_message,
            .pUserData = dev,
        };
        dev->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            *out, "vkDestroyDebugUtilsMessengerEXT");
        r = vkCreateDebugUtilsMessengerEXT(*out, &mci, NULL, &dev->messenger);
        if (r != VK_SUCCESS) {
            vkDestroyInstance(*out, NULL);
            *out = VK_NULL_HANDLE;
            return vkt__vk_error(r, "vkCreateDebugUtilsMessengerEXT");
        }
    }
    return VKT_OK;
}

/* ---- probe ----------------------------------------------------------------------------------- */

/* The queue family vkt_device_create opens, and (when bits is not NULL) its
 * timestampValidBits. */
static int find_compute_family_bits(VkPhysicalDevice pd, uint32_t *bits)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties props[32];
    n = VKT__MIN(n, 32u);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, props);
    int any = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(props[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || props[i].queueCount == 0) {
            continue;
        }
        if (!(props[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
            any = (int)i; /* a compute-only family: what ggml and RADV prefer */
            break;
        }
        if (any < 0) {
            any = (int)i;
        }
    }
    if (bits) {
        *bits = any >= 0 ? props[any].timestampValidBits : 0;
    }
    return any;
}

static int find_compute_family(VkPhysicalDevice pd) { return find_compute_family_bits(pd, NULL); }

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
}

void vkt__probe(VkPhysicalDevice pd, uint32_t index, vkt_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;

    VkPhysicalDeviceProperties base;
    vkGetPhysicalDeviceProperties(pd, &base);
    info->api_version = base.apiVersion;
    bool v13 = base.apiVersion >= VK_API_VERSION_1_3;
    bool v12 = base.apiVersion >= VK_API_VERSION_1_2;

    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES,
    };
    VkPhysicalDeviceMaintenance4Properties m4 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES,
    };
    VkPhysicalDeviceVulkan12Properties p12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES,
    };
    VkPhysicalDeviceVulkan11Properties p11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES,
    };
    VkPhysicalDeviceProperties2 props = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &p11,
    };
    if (v12) {
        p11.pNext = &p12;
    }
    if (v13) {
        p12.pNext = &sgc;
        sgc.pNext = &m4;
    }
    vkGetPhysicalDeviceProperties2(pd, &props);

    VkPhysicalDeviceVulkan13Features f13 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = v13 ? &f13 : NULL,
    };
    VkPhysicalDeviceFeatures2 feats = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = v12 ? &f12 : NULL,
    };
    vkGetPhysicalDeviceFeatures2(pd, &feats);

    const VkPhysicalDeviceLimits *lim = &base.limits;
    copy_str(info->name, sizeof info->name, base.deviceName);
    switch (base.deviceType) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        info->type = VKT_DEVICE_TYPE_INTEGRATED_GPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        info->type = VKT_DEVICE_TYPE_DISCRETE_GPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        info->type = VKT_DEVICE_TYPE_VIRTUAL_GPU;
        break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        info->type = VKT_DEVICE_TYPE_CPU;
        break;
    default:
        info->type = VKT_DEVICE_TYPE_OTHER;
    }
    info->vendor_id = base.vendorID;
    info->device_id = base.deviceID;
    if (v12) {
        info->driver_id = (uint32_t)p12.driverID;
        copy_str(info->driver_name, sizeof info->driver_name, p12.driverName);
        copy_str(info->driver_info, sizeof info->driver_info, p12.driverInfo);
    }
    info->subgroup_size = p11.subgroupSize;
    info->subgroup_min_size = p11.subgroupSize;
    info->subgroup_max_size = p11.subgroupSize;
    if (v13 && f13.subgroupSizeControl &&
        (sgc.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT)) {
        info->subgroup_size_control = true;
        info->subgroup_min_size = sgc.minSubgroupSize;
        info->subgroup_max_size = sgc.maxSubgroupSize;
    }
    bool compute_sg = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    info->subgroup_arithmetic =
        compute_sg && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->subgroup_shuffle =
        compute_sg && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    info->max_shared_memory = lim->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        info->max_workgroup_size[i] = lim->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    }
    info->max_storage_buffer_range = lim->maxStorageBufferRange;
    info->max_texel_buffer_elements = lim->maxTexelBufferElements;
    info->min_texel_buffer_offset_alignment = (uint32_t)lim->minTexelBufferOffsetAlignment;
    info->max_allocation_size = p11.maxMemoryAllocationSize;
    info->max_allocation_count = lim->maxMemoryAllocationCount;
    info->max_buffer_size = v13 ? m4.maxBufferSize : p11.maxMemoryAllocationSize;
    info->min_storage_buffer_offset_alignment = (uint32_t)lim->minStorageBufferOffsetAlignment;
    info->max_push_constants_size = lim->maxPushConstantsSize;
    info->fp16 = v12 && f12.shaderFloat16;
    info->timeline_semaphore = v12 && f12.timelineSemaphore;
    find_compute_family_bits(pd, &info->timestamp_valid_bits);
    info->timestamp_period = lim->timestampPeriod;

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    info->heap_count = VKT__MIN(mp.memoryHeapCount, (uint32_t)VKT_MAX_HEAPS);
    for (uint32_t i = 0; i < info->heap_count; i++) {
        info->heap_size[i] = mp.memoryHeaps[i].size;
        info->heap_device_local[i] = (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT);
    }
    bool uma = true;
    bool any_local = false;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
            any_local = true;
            if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) {
                uma = false;
            }
        }
    }
    info->uma = any_local && uma;
    info->usable = v12 && info->timeline_semaphore && find_compute_family(pd) >= 0 &&
                   info->max_push_constants_size >= VKT__PUSH_MAX;
    if (vkt__env_flag("VKT_DISABLE_SUBGROUP_ARITH")) {
        info->subgroup_arithmetic = false;
    }
}

static int type_rank(vkt_device_type t)
{
    switch (t) {
    case VKT_DEVICE_TYPE_DISCRETE_GPU:
        return 4;
    case VKT_DEVICE_TYPE_INTEGRATED_GPU:
        return 3;
    case VKT_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case VKT_DEVICE_TYPE_CPU:
        return 1;
    default:
        return 0;
    }
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) {
            i++;
        }
        if (i == n) {
            return true;
        }
    }
    return n == 0;
}

/* Chooses among `n` probed devices; returns the index or -1 with the error set. */
static int choose(const vkt_device_info *infos, uint32_t n, const char *select)
{
    if (select && select[0]) {
        char *end;
        long idx = strtol(select, &end, 10);
        if (*end == '\0') {
            if (idx < 0 || (uint32_t)idx >= n) {
                vkt__error(VKT_NO_DEVICE, "device index %ld is out of range: there are %u "
                                          "Vulkan devices (see `vkt devices`)",
                           idx, n);
                return -1;
            }
            if (!infos[idx].usable) {
                vkt__error(VKT_NO_DEVICE, "device %ld (%s) is not usable: vkt needs Vulkan 1.2, "
                                          "timeline semaphores and a compute queue",
                           idx, infos[idx].name);
                return -1;
            }
            return (int)idx;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (infos[i].usable && contains_nocase(infos[i].name, select)) {
                return (int)i;
            }
        }
        vkt__error(VKT_NO_DEVICE, "no usable Vulkan device matches \"%s\" (see `vkt devices`)",
                   select);
        return -1;
    }
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (infos[i].usable &&
            (best < 0 || type_rank(infos[i].type) > type_rank(infos[best].type))) {
            best = (int)i;
        }
    }
    if (best < 0) {
        vkt__error(VKT_NO_DEVICE, "none of the %u Vulkan devices is usable: vkt needs Vulkan 1.2, "
                                  "timeline semaphores and a compute queue",
                   n);
    }
    return best;
}

/* Enumerates and probes into a malloc'd array. */
static vkt_status enumerate(VkInstance inst, VkPhysicalDevice **pds, vkt_device_info **infos,
                            uint32_t *count)
{
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkEnumeratePhysicalDevices");
    }
    if (n == 0) {
        return vkt__error(VKT_NO_DEVICE, "no Vulkan device found: the loader reports none (install "
                                         "a driver such as mesa-vulkan-drivers, or check "
                                         "VK_ICD_FILENAMES)");
    }
    *pds = vkt__calloc(n, sizeof **pds);
    *infos = vkt__calloc(n, sizeof **infos);
    if (!*pds || !*infos) {
        free(*pds);
        free(*infos);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory enumerating devices");
    }
    r = vkEnumeratePhysicalDevices(inst, &n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*pds);
        free(*infos);
        return vkt__vk_error(r, "vkEnumeratePhysicalDevices");
    }
    for (uint32_t i = 0; i < n; i++) {
        vkt__probe((*pds)[i], i, &(*infos)[i]);
    }
    *count = n;
    return VKT_OK;
}

vkt_status vkt_enumerate_devices(vkt_device_info *out, uint32_t max, uint32_t *count)
{
    *count = 0;
    vkt_status s = load_vulkan();
    if (s != VKT_OK) {
        return s;
    }
    VkInstance inst;
    s = create_instance(false, NULL, &inst);
    if (s != VKT_OK) {
        return s;
    }
    VkPhysicalDevice *pds = NULL;
    vkt_device_info *infos = NULL;
    uint32_t n = 0;
    s = enumerate(inst, &pds, &infos, &n);
    if (s == VKT_OK) {
        int def = choose(infos, n, getenv("VKT_DEVICE"));
        if (def >= 0) {
            infos[def].is_default = true;
        }
        vkt_clear_error();
        for (uint32_t i = 0; i < n && i < max; i++) {
            out[i] = infos[i];
        }
        *count = n;
        free(pds);
        free(infos);
    }
    vkDestroyInstance(inst, NULL);
    return s;
}

/* ---- opening --------------------------------------------------------------------------------- */

static vkt_status choose_memory_types(vkt_device *dev)
{
    vkGetPhysicalDeviceMemoryProperties(dev->physical, &dev->mem_props);
    const VkPhysicalDeviceMemoryProperties *mp = &dev->mem_props;
    dev->mem_type = UINT32_MAX;
    dev->staging_type = UINT32_MAX;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        if ((mp->memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
            dev->mem_type == UINT32_MAX) {
            dev->mem_type = i;
        }
    }
    /* staging: host-visible + coherent, cached if there is such a type (faster readback) */
    for (int pass = 0; pass < 2 && dev->staging_type == UINT32_MAX; pass++) {
        for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
            VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
            VkMemoryPropertyFlags want =
                VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                (pass == 0 ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT : 0);
            if ((f & want) == want) {
                dev->staging_type = i;
                dev->staging_cached = pass == 0;
                break;
            }
        }
    }
    if (dev->mem_type == UINT32_MAX) {
        for (uint32_t i = 0; i < mp->memoryTypeCount && dev->mem_type == UINT32_MAX; i++) {
            dev->mem_type = i; /* no device-local type at all: take the first */
        }
    }
    if (dev->staging_type == UINT32_MAX) {
        return vkt__error(VKT_UNSUPPORTED, "device %s has no host-visible coherent memory type",
                          dev->info.name);
    }
    return VKT_OK;
}

static void derive_caps(vkt_device *dev)
{
    dev->caps.subgroup_arith = dev->info.subgroup_arithmetic;
    dev->caps.cpu_like = dev->info.type == VKT_DEVICE_TYPE_CPU;
    dev->caps.reduce_wg = VKT__MIN(256u, dev->info.max_workgroup_invocations);
    /* R32G32B32A32_SFLOAT (and _SINT) uniform texel buffers are mandatory in Vulkan; a range too
     * large for one view, or not aligned for one, is read through storage buffers instead. */
    dev->caps.texel4_max_bytes = (uint64_t)dev->info.max_texel_buffer_elements * 16u;
    dev->caps.texel_align = VKT__MAX(16u, dev->info.min_texel_buffer_offset_alignment);
    dev->caps.texel4 = !vkt__env_flag("VKT_DISABLE_TEXEL");
}

static vkt_status create_logical_device(vkt_device *dev)
{
    int family = find_compute_family(dev->physical);
    dev->queue_family = (uint32_t)family;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = dev->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkPhysicalDeviceVulkan13Features f13 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
        .subgroupSizeControl = dev->info.subgroup_size_control,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .timelineSemaphore = VK_TRUE,
        .pNext = dev->info.api_version >= VK_API_VERSION_1_3 ? &f13 : NULL,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f12,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    VkResult r = vkCreateDevice(dev->physical, &dci, NULL, &dev->device);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateDevice");
    }
    volkLoadDeviceTable(&dev->vk, dev->device);
    dev->vk.vkGetDeviceQueue(dev->device, dev->queue_family, 0, &dev->queue);
    return VKT_OK;
}

/* Everything after the VkDevice exists: memory, frames, pipelines. Shared with adoption. */
vkt_status vkt__device_init_common(vkt_device *dev, const vkt_device_desc *desc)
{
    vkt_status s = choose_memory_types(dev);
    if (s != VKT_OK) {
        return s;
    }
    VkDeviceSize block = VKT__DEF(desc->block_size, (VkDeviceSize)256 << 20);
    dev->block_size = VKT__MIN(block, (VkDeviceSize)dev->info.max_allocation_size);
    dev->staging_size = VKT__ALIGN_UP(VKT__DEF(desc->staging_size, (VkDeviceSize)16 << 20), 256);
    uint32_t heap = dev->mem_props.memoryTypes[dev->mem_type].heapIndex;
    dev->memory_limit = VKT__DEF(desc->memory_limit, dev->mem_props.memoryHeaps[heap].size);
    dev->stats.memory_limit = dev->memory_limit;
    dev->block_size = VKT__MIN(dev->block_size, dev->memory_limit);
    derive_caps(dev);
    s = vkt__frames_init(dev);
    if (s != VKT_OK) {
        return s;
    }
    vkt__prof_init(dev);
    s = vkt__pipelines_init(dev);
    if (s != VKT_OK) {
        return s;
    }
    /* A small buffer bound to bindings a dispatch leaves unused. */
    s = vkt__alloc_create(dev, 256, &dev->dummy_alloc);
    if (s != VKT_OK) {
        return s;
    }
    dev->dummy = dev->dummy_alloc->buffer;
    VkBufferViewCreateInfo vci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
        .buffer = dev->dummy,
        .format = VK_FORMAT_R32G32B32A32_SFLOAT,
        .offset = dev->dummy_alloc->offset,
        .range = 256,
    };
    VkResult r = dev->vk.vkCreateBufferView(dev->device, &vci, NULL, &dev->dummy_view);
    if (r == VK_SUCCESS) {
        vci.format = VK_FORMAT_R32G32B32A32_SINT;
        r = dev->vk.vkCreateBufferView(dev->device, &vci, NULL, &dev->dummy_int_view);
    }
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateBufferView (dummy)");
    }
    return VKT_OK;
}

vkt_status vkt_device_create(const vkt_device_desc *desc_in, vkt_device **out)
{
    vkt_device_desc desc = desc_in ? *desc_in : (vkt_device_desc){0};
    *out = NULL;
    vkt_status s = load_vulkan();
    if (s != VKT_OK) {
        return s;
    }
    vkt_device *dev = vkt__calloc(1, sizeof *dev);
    if (!dev) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory creating a device");
    }
    bool validation = desc.validation || vkt__env_flag("VKT_VALIDATION");
    s = create_instance(validation, dev, &dev->instance);
    if (s != VKT_OK) {
        free(dev);
        return s;
    }
    dev->own_instance = true;

    VkPhysicalDevice *pds = NULL;
    vkt_device_info *infos = NULL;
    uint32_t n = 0;
    s = enumerate(dev->instance, &pds, &infos, &n);
    if (s != VKT_OK) {
        goto fail;
    }
    const char *select = desc.select ? desc.select : getenv("VKT_DEVICE");
    int idx = choose(infos, n, select);
    if (idx < 0) {
        s = vkt_last_status();
        free(pds);
        free(infos);
        goto fail;
    }
    dev->physical = pds[idx];
    dev->info = infos[idx];
    dev->info.is_default = !(select && select[0]);
    free(pds);
    free(infos);

    s = create_logical_device(dev);
    if (s != VKT_OK) {
        goto fail;
    }
    s = vkt__device_init_common(dev, &desc);
    if (s != VKT_OK) {
        goto fail;
    }
    *out = dev;
    return VKT_OK;

fail:
    vkt__error_context("opening a Vulkan device");
    {
        /* destroy without clobbering the error */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vkt_last_error());
        vkt_device_destroy(dev);
        vkt__error(s, "%s", msg);
    }
    return s;
}

void vkt_device_destroy(vkt_device *dev)
{
    if (!dev) {
        return;
    }
    if (dev->device) {
        /* teardown: finish outstanding work before freeing anything it uses */
        vkt_device_finish(dev);
        if (dev->tensor_state && dev->tensor_state_destroy) {
            dev->tensor_state_destroy(dev->tensor_state);
        }
        if (dev->dummy_view) {
            dev->vk.vkDestroyBufferView(dev->device, dev->dummy_view, NULL);
        }
        if (dev->dummy_int_view) {
            dev->vk.vkDestroyBufferView(dev->device, dev->dummy_int_view, NULL);
        }
        if (dev->dummy_alloc) {
            vkt__alloc_release(dev, dev->dummy_alloc);
        }
        if (!dev->adopted) {
            dev->vk.vkDeviceWaitIdle(dev->device); /* teardown only; finish() already waited */
        }
        vkt__pipelines_finish(dev);
        vkt__prof_finish(dev);
        vkt__frames_finish(dev);
        vkt__memory_finish(dev);
        if (!dev->adopted) {
            dev->vk.vkDestroyDevice(dev->device, NULL);
        }
    }
    if (dev->messenger && dev->destroy_messenger) {
        dev->destroy_messenger(dev->instance, dev->messenger, NULL);
    }
    if (dev->instance && dev->own_instance) {
        vkDestroyInstance(dev->instance, NULL);
    }
    free(dev->pending);
    free(dev);
}

const vkt_device_info *vkt_device_get_info(const vkt_device *dev) { return &dev->info; }
const vkt__caps *vkt__device_caps(const vkt_device *dev) { return &dev->caps; }

bool vkt__device_set_subgroup_arith(vkt_device *dev, bool on)
{
    if (on && !dev->info.subgroup_arithmetic) {
        return false;
    }
    dev->caps.subgroup_arith = on;
    return true;
}

struct vkt__tensor_state *vkt__device_tensor_state(vkt_device *dev) { return dev->tensor_state; }

void vkt__device_set_tensor_state(vkt_device *dev, struct vkt__tensor_state *st,
                                  void (*destroy)(struct vkt__tensor_state *))
{
    dev->tensor_state = st;
    dev->tensor_state_destroy = destroy;
}

void vkt_device_get_stats(const vkt_device *dev, vkt_device_stats *out) { *out = dev->stats; }

void vkt__device_count_stores(vkt_device *dev, int64_t delta)
{
    dev->stats.memory_stores = (uint64_t)((int64_t)dev->stats.memory_stores + delta);
    if (dev->stats.memory_stores > dev->stats.memory_stores_peak) {
        dev->stats.memory_stores_peak = dev->stats.memory_stores;
    }
}

void vkt_device_reset_stats(vkt_device *dev)
{
    vkt_device_stats keep = dev->stats;
    memset(&dev->stats, 0, sizeof dev->stats);
    dev->stats.memory_in_use = keep.memory_in_use;
    dev->stats.memory_peak = keep.memory_in_use;
    dev->stats.memory_reserved = keep.memory_reserved;
    dev->stats.memory_blocks = keep.memory_blocks;
    dev->stats.validation_messages = keep.validation_messages;
    dev->stats.memory_limit = keep.memory_limit;
    dev->stats.memory_stores = keep.memory_stores;
    dev->stats.memory_stores_peak = keep.memory_stores;
}
