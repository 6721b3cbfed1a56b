/*
 * test_no_device.c — run by meson with VK_ICD_FILENAMES pointing to a file that does not exist:
 * the loader finds no driver, and every entry point must say so without crashing.
 */
#include <string.h>

#include "test_util.h"

static void create_reports_no_device(void **state)
{
    (void)state;
    vkt_device *dev = (vkt_device *)0x1;
    vkt_status s = vkt_device_create(&(vkt_device_desc){0}, &dev);
    assert_int_equal(s, VKT_NO_DEVICE);
    assert_null(dev);
    assert_non_null(strstr(vkt_last_error(), "driver"));
    s = vkt_device_create(&(vkt_device_desc){.validation = true}, &dev);
    assert_true(s == VKT_NO_DEVICE);
    assert_null(dev);
}

static void enumerate_reports_no_device(void **state)
{
    (void)state;
    vkt_device_info info;
    uint32_t n = 5;
    assert_int_equal(vkt_enumerate_devices(&info, 1, &n), VKT_NO_DEVICE);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_reports_no_device),
        cmocka_unit_test(enumerate_reports_no_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
