/*
 * adopt.c — vkt_device_adopt: run on a host application's VkDevice (include/vkt/vulkan.h).
 */
#include "gpu/device_impl.h"
#include "vkt/vulkan.h"

/* The features vkt needs or reports, as the host enabled them: a walk of VkDeviceCreateInfo's
 * pNext chain. */
typedef struct {
    bool timeline_semaphore;
    bool subgroup_size_control;
} adopt_features;

static adopt_features enabled_features(const void *chain)
{
    adopt_features f = {0};
    for (const VkBaseInStructure *p = chain; p; p = p->pNext) {
        switch (p->sType) {
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES:
            f.timeline_semaphore |=
                ((const VkPhysicalDeviceVulkan12Features *)p)->timelineSemaphore;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES:
            f.timeline_semaphore |=
                ((const VkPhysicalDeviceTimelineSemaphoreFeatures *)p)->timelineSemaphore;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES:
            f.subgroup_size_control |=
                ((const VkPhysicalDeviceVulkan13Features *)p)->subgroupSizeControl;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES:
            f.subgroup_size_control |=
                ((const VkPhysicalDeviceSubgroupSizeControlFeatures *)p)->subgroupSizeControl;
            break;
        default:
            break;
        }
    }
    return f;
}

/* What vkt cannot run on is refused before anything is created. First the instance's API
 * version: vkt calls 1.1 and 1.2 core functions (vkGetPhysicalDeviceProperties2 to probe,
 * vkWaitSemaphores to wait), which an instance created for 1.0 or 1.1 leaves NULL. */
static vkt_status check_instance(const vkt_vulkan_device_desc *desc)
{
    uint32_t inst = desc->api_version ? desc->api_version : VK_API_VERSION_1_0;
    if (inst < VK_API_VERSION_1_2) {
        return vkt__error(VKT_UNSUPPORTED,
                          "vkt_device_adopt: the instance was created for Vulkan %u.%u%s; vkt "
                          "needs an instance created for 1.2 or later (pass its apiVersion as "
                          "api_version)",
                          VK_API_VERSION_MAJOR(inst), VK_API_VERSION_MINOR(inst),
                          desc->api_version ? "" : " (api_version 0: no pApplicationInfo)");
    }
    return VKT_OK;
}

/* Then the device: Vulkan 1.2 and the timeline semaphores every submission waits on. */
static vkt_status check_device(const vkt_vulkan_device_desc *desc, const vkt_device_info *info,
                               const adopt_features *f)
{
    if (info->api_version < VK_API_VERSION_1_2) {
        return vkt__error(VKT_UNSUPPORTED,
                          "vkt_device_adopt: %s supports Vulkan %u.%u; vkt needs 1.2 with "
                          "timeline semaphores",
                          info->name, VK_API_VERSION_MAJOR(info->api_version),
                          VK_API_VERSION_MINOR(info->api_version));
    }
    if (!f->timeline_semaphore) {
        return vkt__error(VKT_UNSUPPORTED,
                          "vkt_device_adopt: the device was created without the timelineSemaphore "
                          "feature (enabled_features: VkPhysicalDeviceVulkan12Features or "
                          "VkPhysicalDeviceTimelineSemaphoreFeatures in VkDeviceCreateInfo's "
                          "pNext)%s",
                          desc->enabled_features ? "" : "; enabled_features is NULL");
    }
    return VKT_OK;
}

vkt_status vkt_device_adopt(const vkt_vulkan_device_desc *desc, vkt_device **out)
{
    *out = NULL;
    if (!desc || !desc->instance || !desc->physical_device || !desc->device || !desc->queue) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_device_adopt: instance, physical_device, "
                                                "device and queue are all required");
    }
    if (desc->get_instance_proc_addr) {
        volkInitializeCustom(desc->get_instance_proc_addr);
    } else if (volkInitialize() != VK_SUCCESS) {
        return vkt__error(VKT_NO_VULKAN, "vkt_device_adopt: libvulkan.so.1 could not be loaded "
                                         "and no get_instance_proc_addr was given");
    }
    vkt_status s = check_instance(desc);
    if (s != VKT_OK) {
        return s;
    }
    volkLoadInstanceOnly(desc->instance);
    vkt_device_info info;
    vkt__probe(desc->physical_device, 0, &info);
    adopt_features features = enabled_features(desc->enabled_features);
    s = check_device(desc, &info, &features);
    if (s != VKT_OK) {
        return s;
    }
    vkt_device *dev = vkt__calloc(1, sizeof *dev);
    if (!dev) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    dev->adopted = true;
    dev->instance = desc->instance;
    dev->physical = desc->physical_device;
    dev->device = desc->device;
    dev->queue = desc->queue;
    dev->queue_family = desc->queue_family;
    dev->info = info;
    /* what the host's instance and device allow, not what the hardware could */
    dev->info.api_version = VKT__MIN(info.api_version, desc->api_version);
    dev->info.subgroup_size_control = info.subgroup_size_control && features.subgroup_size_control;
    volkLoadDeviceTable(&dev->vk, dev->device);
    s = vkt__device_init_common(dev, &desc->base);
    if (s != VKT_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vkt_last_error());
        vkt_device_destroy(dev);
        return vkt__error(s, "vkt_device_adopt: %s", msg);
    }
    *out = dev;
    return VKT_OK;
}

VkDevice vkt_device_vk_device(const vkt_device *dev) { return dev->device; }
VkPhysicalDevice vkt_device_vk_physical_device(const vkt_device *dev) { return dev->physical; }
VkQueue vkt_device_vk_queue(const vkt_device *dev) { return dev->queue; }
uint32_t vkt_device_vk_queue_family(const vkt_device *dev) { return dev->queue_family; }
