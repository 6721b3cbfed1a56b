/* tests/install/consumer.c — an outside program built against an installed vkt (by
 * tests/test_install.sh, with pkg-config and with CMake): the headers' version must be the
 * library's, and a sum on the default device must come back right.
 *
 * Built with -DHOST_LOADER it is also a Vulkan host linked with -lvulkan, and with -DHOST_VOLK
 * one with its own volk (volk.c compiled in): it creates and destroys its own instance before
 * vkt opens its device, which a static libvkt leaking volk's globals breaks (the loader's
 * vkCreateInstance replaced by a null pointer, or multiple definitions at link time). */
#include <stdio.h>
#include <string.h>

#include <vkt/vkt.h>

#if defined(HOST_VOLK)
#include <volk.h>
#elif defined(HOST_LOADER)
#include <vulkan/vulkan.h>
#endif

#if defined(HOST_VOLK) || defined(HOST_LOADER)
/* The host's own Vulkan use: an instance of its own, created and destroyed. */
static int host_vulkan(void)
{
#if defined(HOST_VOLK)
    if (volkInitialize() != VK_SUCCESS) {
        fprintf(stderr, "consumer: volkInitialize failed\n");
        return 1;
    }
#endif
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
    VkInstance inst;
    VkResult r = vkCreateInstance(&ci, NULL, &inst);
    if (r != VK_SUCCESS) {
        fprintf(stderr, "consumer: the host's vkCreateInstance gave %d\n", (int)r);
        return 1;
    }
#if defined(HOST_VOLK)
    volkLoadInstanceOnly(inst);
#endif
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(inst, &n, NULL);
    vkDestroyInstance(inst, NULL);
    printf("consumer: the host's own instance sees %u device(s)\n", n);
    return n > 0 ? 0 : 1;
}
#endif

#if !defined(VKT_VERSION_MAJOR) || !defined(VKT_VERSION_MINOR) || !defined(VKT_VERSION_PATCH)
#error "vkt/vkt.h does not define VKT_VERSION_MAJOR / _MINOR / _PATCH"
#endif

int main(void)
{
#if defined(HOST_VOLK) || defined(HOST_LOADER)
    if (host_vulkan() != 0) {
        return 1;
    }
#endif
    if (strcmp(vkt_version(), VKT_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: headers %s, library %s\n", VKT_VERSION_STRING, vkt_version());
        return 1;
    }
    vkt_device *dev;
    if (vkt_device_create(NULL, &dev) != VKT_OK) {
        fprintf(stderr, "consumer: %s\n", vkt_last_error());
        return 1;
    }
    float x[3] = {1.0f, 2.0f, 3.0f}, y[3] = {10.0f, 20.0f, 30.0f}, z[3] = {0};
    vkt_tensor *a = vkt_tensor_new_2d(dev, VKT_F32, 1, 3);
    vkt_tensor *b = vkt_tensor_new_2d(dev, VKT_F32, 1, 3);
    int rc = 1;
    if (a && b && vkt_tensor_upload(a, x, sizeof x) == VKT_OK &&
        vkt_tensor_upload(b, y, sizeof y) == VKT_OK) {
        vkt_tensor *c = vkt_add(a, b);
        if (c && vkt_tensor_download(c, z, sizeof z) == VKT_OK) {
            rc = z[0] == 11.0f && z[1] == 22.0f && z[2] == 33.0f ? 0 : 1;
        }
        vkt_tensor_free(c);
    }
    if (rc != 0) {
        fprintf(stderr, "consumer: 1+10, 2+20, 3+30 gave %g %g %g (%s)\n", z[0], z[1], z[2],
                vkt_last_error());
    } else {
        printf("consumer: vkt %s (so %d), 1+10, 2+20, 3+30 = %g %g %g\n", vkt_version(),
               VKT_SOVERSION, z[0], z[1], z[2]);
    }
    vkt_tensor_free(a);
    vkt_tensor_free(b);
    vkt_device_destroy(dev);
    return rc;
}
