/*
 * test_alloc.c — allocation-failure injection over every point of an operation (test_alloc.h).
 */
#include "test_alloc.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "internal.h"

static void *json_counted_malloc(size_t n) { return vkt__malloc(n); }

long vkt_test_each_alloc_failure(const char *what, vkt_test_alloc_setup setup, vkt_test_alloc_op op,
                                 vkt_test_alloc_check check, void *ctx)
{
    json_set_alloc_funcs(json_counted_malloc, free);
    if (setup) {
        setup(ctx);
    }
    vkt__alloc_fail_at(-1, false);
    vkt_status s = op(ctx);
    long points = vkt__alloc_count();
    if (s != VKT_OK) {
        fprintf(stderr, "%s: the clean run failed: %s\n", what, vkt_last_error());
    }
    assert_int_equal(s, VKT_OK);
    check(ctx, s, -1);
    assert_true(points > 0);
    for (long i = 0; i < points; i++) {
        if (setup) {
            setup(ctx);
        }
        vkt_clear_error();
        vkt__alloc_fail_at(i, false);
        s = op(ctx);
        bool hit = vkt__alloc_failed();
        vkt__alloc_fail_at(-1, false);
        if (!hit) {
            /* The run took another path before reaching point i (e.g. a cache): fine if clean. */
            assert_int_equal(s, VKT_OK);
        } else if (s == VKT_OK || !vkt_last_error()[0]) {
            fprintf(stderr, "%s: allocation %ld of %ld failed but the result was %s (\"%s\")\n",
                    what, i, points, vkt_status_name(s), vkt_last_error());
            fail();
        }
        check(ctx, s, hit ? i : -1);
    }
    json_set_alloc_funcs(malloc, free);
    return points;
}
