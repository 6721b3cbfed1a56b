/*
 * vkt/core.h — status codes, error messages, export macro, version (vkt/version.h).
 *
 * Every vkt function that can fail returns a vkt_status (0 = OK, negative = error) or, for ops that
 * build tensors, a pointer that is NULL on error. In both cases the thread's last error holds a
 * sentence naming what went wrong:
 *
 *     vkt_device *dev;
 *     if (vkt_device_create(&(vkt_device_desc){0}, &dev) != VKT_OK) {
 *         fprintf(stderr, "vkt: %s\n", vkt_last_error());
 *     }
 *
 * Ops propagate NULL: an op given a NULL input returns NULL without touching the error, so a whole
 * forward pass can be checked once at the end.
 */
#ifndef VKT_CORE_H
#define VKT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vkt/version.h" /* generated: VKT_VERSION_MAJOR, _MINOR, _PATCH */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VKT_API __declspec(dllexport)
#else
#define VKT_API __attribute__((visibility("default")))
#endif

/* X(name, value, description). Values are stable: they are part of the ABI. */
#define VKT_STATUS_MAP(X)                                                                          \
    X(OK, 0, "ok")                                                                                 \
    X(ERROR, -1, "unspecified error")                                                              \
    X(OUT_OF_HOST_MEMORY, -2, "out of host memory")                                                \
    X(OUT_OF_DEVICE_MEMORY, -3, "out of device memory")                                            \
    X(NO_VULKAN, -4, "no Vulkan loader found")                                                     \
    X(NO_DEVICE, -5, "no usable Vulkan device")                                                    \
    X(DEVICE_LOST, -6, "Vulkan device lost")                                                       \
    X(INVALID_ARGUMENT, -7, "invalid argument")                                                    \
    X(SHAPE_MISMATCH, -8, "tensor shapes do not match")                                            \
    X(DTYPE_MISMATCH, -9, "tensor dtypes do not match")                                            \
    X(TOO_LARGE, -10, "exceeds a device limit")                                                    \
    X(IO, -11, "input/output error")                                                               \
    X(CORRUPT_FILE, -12, "file is corrupt or truncated")                                           \
    X(VULKAN, -13, "Vulkan call failed")                                                           \
    X(UNSUPPORTED, -14, "not supported by this device or build")                                   \
    X(BUSY, -15, "resource is busy")                                                               \
    X(NOT_FOUND, -16, "not found")                                                                 \
    X(DISTRIBUTED, -17, "ranks failed to communicate or disagree")

typedef enum vkt_status {
#define VKT__STATUS_ENUM(name, value, desc) VKT_##name = value,
    VKT_STATUS_MAP(VKT__STATUS_ENUM)
#undef VKT__STATUS_ENUM
    _VKT_STATUS_FORCE_I32 = 0x7FFFFFFF
} vkt_status;

/** "SHAPE_MISMATCH" for VKT_SHAPE_MISMATCH; "UNKNOWN" for values outside the table. */
VKT_API const char *vkt_status_name(vkt_status s);
/** A short description of the status ("tensor shapes do not match"). */
VKT_API const char *vkt_status_str(vkt_status s);
/** The last error of this thread, as a full sentence; "" when there was none. */
VKT_API const char *vkt_last_error(void);
/** The status that went with vkt_last_error(). */
VKT_API vkt_status vkt_last_status(void);
/** Forgets the last error of this thread. */
VKT_API void vkt_clear_error(void);

/** The library's version as "MAJOR.MINOR.PATCH" (VKT_VERSION_STRING of the headers it was
 * built with; compare with the headers' to catch a mismatched install). */
VKT_API const char *vkt_version(void);

#ifdef __cplusplus
}
#endif
#endif
