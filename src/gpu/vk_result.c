/*
 * vk_result.c — VkResult to text and to vkt_status, in one place.
 */
#include "gpu/device_impl.h"

const char *vkt__vk_result_str(VkResult r)
{
    switch (r) {
#define VKT__ERR_STR(x)                                                                            \
    case VK_##x:                                                                                   \
        return "VK_" #x;
        VKT__ERR_STR(SUCCESS)
        VKT__ERR_STR(NOT_READY)
        VKT__ERR_STR(TIMEOUT)
        VKT__ERR_STR(INCOMPLETE)
        VKT__ERR_STR(ERROR_OUT_OF_HOST_MEMORY)
        VKT__ERR_STR(ERROR_OUT_OF_DEVICE_MEMORY)
        VKT__ERR_STR(ERROR_INITIALIZATION_FAILED)
        VKT__ERR_STR(ERROR_DEVICE_LOST)
        VKT__ERR_STR(ERROR_MEMORY_MAP_FAILED)
        VKT__ERR_STR(ERROR_LAYER_NOT_PRESENT)
        VKT__ERR_STR(ERROR_EXTENSION_NOT_PRESENT)
        VKT__ERR_STR(ERROR_FEATURE_NOT_PRESENT)
        VKT__ERR_STR(ERROR_INCOMPATIBLE_DRIVER)
        VKT__ERR_STR(ERROR_TOO_MANY_OBJECTS)
        VKT__ERR_STR(ERROR_FORMAT_NOT_SUPPORTED)
        VKT__ERR_STR(ERROR_FRAGMENTED_POOL)
        VKT__ERR_STR(ERROR_OUT_OF_POOL_MEMORY)
        VKT__ERR_STR(ERROR_INVALID_EXTERNAL_HANDLE)
        VKT__ERR_STR(ERROR_FRAGMENTATION)
        VKT__ERR_STR(ERROR_INVALID_SHADER_NV)
        VKT__ERR_STR(ERROR_UNKNOWN)
#undef VKT__ERR_STR
    default:
        return "VK_ERROR_(unknown)";
    }
}

vkt_status vkt__status_from_vk(VkResult r)
{
    switch (r) {
    case VK_SUCCESS:
        return VKT_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return VKT_OUT_OF_HOST_MEMORY;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTATION:
    case VK_ERROR_FRAGMENTED_POOL:
        return VKT_OUT_OF_DEVICE_MEMORY;
    case VK_ERROR_DEVICE_LOST:
        return VKT_DEVICE_LOST;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
    case VK_ERROR_INITIALIZATION_FAILED:
        return VKT_NO_DEVICE;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_LAYER_NOT_PRESENT:
        return VKT_UNSUPPORTED;
    default:
        return VKT_VULKAN;
    }
}

vkt_status vkt__vk_error(VkResult r, const char *what)
{
    return vkt__error(vkt__status_from_vk(r), "%s failed: %s", what, vkt__vk_result_str(r));
}
