// tests/install/consumer.cpp — every public header compiled as C++ (tests/test_install.sh builds
// this as C++11, 14, 17 and 20 with -Wall -Wextra -pedantic -Werror) and the API used from C++:
// a desc struct zero-initialised the C++ way (T{}), the default device opened with a null desc.
#include <vkt/core.h>
#include <vkt/data.h>
#include <vkt/dist.h>
#include <vkt/gpu.h>
#include <vkt/loss.h>
#include <vkt/metrics.h>
#include <vkt/nn.h>
#include <vkt/selftest.h>
#include <vkt/tensor.h>
#include <vkt/train.h>
#include <vkt/version.h>
#include <vkt/vkt.h>
#include <vkt/vulkan.h>

#include <cstdio>
#include <cstring>

int main()
{
    if (std::strcmp(vkt_version(), VKT_VERSION_STRING) != 0) {
        std::fprintf(stderr, "consumer.cpp: headers %s, library %s\n", VKT_VERSION_STRING,
                     vkt_version());
        return 1;
    }
    vkt_device_desc desc{};
    desc.label = "c++";
    vkt_device *dev = nullptr;
    if (vkt_device_create(&desc, &dev) != VKT_OK) {
        std::fprintf(stderr, "consumer.cpp: %s\n", vkt_last_error());
        return 1;
    }
    vkt_device_destroy(dev);
    if (vkt_device_create(nullptr, &dev) != VKT_OK) {
        std::fprintf(stderr, "consumer.cpp: %s\n", vkt_last_error());
        return 1;
    }
    vkt_tensor *t = vkt_tensor_new_2d(dev, VKT_F32, 2, 3);
    const float x[6] = {1, 2, 3, 4, 5, 6};
    float y[6] = {};
    int rc = t && vkt_tensor_upload(t, x, sizeof x) == VKT_OK &&
                     vkt_tensor_download(t, y, sizeof y) == VKT_OK && y[5] == 6.0f
                 ? 0
                 : 1;
    vkt_tensor_free(t);
    vkt_device_destroy(dev);
    std::printf("consumer.cpp (C++ %ld): vkt %s, %s\n", static_cast<long>(__cplusplus),
                vkt_version(), rc == 0 ? "round trip ok" : "round trip FAILED");
    return rc;
}
