/*
 * adopt.c — vkt_device_adopt: run on a host application's VkDevice (include/vkt/vulkan.h).
 */
#include "gpu/device_impl.h"
#include "vkt/vulkan.h"


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
    volkLoadInstanceOnly(desc->instance);
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
    vkt__probe(dev->physical, 0, &dev->info);
    if (dev->info.api_version < VK_API_VERSION_1_2) {
        vkt__error(VKT_UNSUPPORTED, "vkt_device_adopt: %s supports Vulkan %u.%u; vkt needs 1.2 "
                                    "with timeline semaphores",
                   dev->info.name, VK_API_VERSION_MAJOR(dev->info.api_version),
                   VK_API_VERSION_MINOR(dev->info.api_version));
        free(dev);
        return VKT_UNSUPPORTED;
    }
    volkLoadDeviceTable(&dev->vk, dev->device);
    vkt_status s = vkt__device_init_common(dev, &desc->base);
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
