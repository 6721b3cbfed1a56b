/*
 * sanitizer_pin.c — preloaded (LD_PRELOAD) into the suite's sanitizer run so that LeakSanitizer can
 * name the module of every leak.
 *
 * The Vulkan loader dlclose()s the driver (lavapipe) and the validation layer when the instance is
 * destroyed; their own leaks are then reported from "<unknown module>" frames, which no
 * suppression can match. Opening each library named in VKT_PIN_LIBS (colon-separated) with
 * RTLD_NODELETE keeps it mapped until exit, so tests/lsan.supp can suppress it by name.
 * RTLD_LOCAL: preloading the libraries themselves would interpose their symbols (the layer's
 * vkGetInstanceProcAddr over the loader's) and crash.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void vkt_sanitizer_pin(void)
{
    const char *libs = getenv("VKT_PIN_LIBS");
    if (!libs) {
        return;
    }
    char buf[4096];
    size_t n = strlen(libs);
    if (n >= sizeof buf) {
        return;
    }
    memcpy(buf, libs, n + 1);
    char *save = NULL;
    for (char *s = strtok_r(buf, ":", &save); s; s = strtok_r(NULL, ":", &save)) {
        dlopen(s, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    }
}
