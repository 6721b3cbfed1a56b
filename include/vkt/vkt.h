/*
 * vkt.h — train neural networks on any Vulkan device.
 *
 *     #include <vkt/vkt.h>
 *
 *     vkt_device *dev;
 *     if (vkt_device_create(&(vkt_device_desc){0}, &dev) != VKT_OK) {
 *         fprintf(stderr, "vkt: %s\n", vkt_last_error());
 *         return 1;
 *     }
 *     vkt_tensor *a = vkt_tensor_new_2d(dev, VKT_F32, 64, 32);
 *     ...
 *     vkt_device_destroy(dev);
 *
 * The desc may be NULL (all defaults); in C++, where compound literals do not exist, write
 * `vkt_device_desc desc{};` for the zero-initialised form (docs/using-vkt.md: installing, linking
 * with pkg-config or CMake, as a subproject, from C++).
 *
 * Headers: core.h (status, errors, version), gpu.h (devices, counters), tensor.h (tensors, ops,
 * autograd), selftest.h (device checks). vulkan.h (interop with a host application's Vulkan device)
 * is the only header that includes Vulkan types and is not included here.
 */
#ifndef VKT_VKT_H
#define VKT_VKT_H

#include "core.h"
#include "data.h"
#include "dist.h"
#include "gpu.h"
#include "loss.h"
#include "metrics.h"
#include "nn.h"
#include "selftest.h"
#include "tensor.h"
#include "train.h"

#endif
