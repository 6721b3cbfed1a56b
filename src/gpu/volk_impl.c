/* volk_impl.c — Debian's volk, compiled into libvkt exactly once. Its global vk* pointers stay
 * hidden (the library is built with hidden visibility); device calls go through VolkDeviceTable. */
#define VOLK_IMPLEMENTATION
#include <volk.h>
