/*
 * test_alloc.h — allocation-failure injection for the cmocka tests (SQLite's malloc test): run an
 * operation once to count its host allocation points, then once per point with that allocation
 * failing. Each failing run must return an error with a message; `check` then asserts that
 * nothing was damaged (the file on disk, earlier rows). Leaks are caught by the suite's
 * LeakSanitizer build.
 *
 * jansson's allocations are routed through the counter too (json_set_alloc_funcs), so a failure
 * inside json_dumps or json_loads is injected like one of vkt's own.
 */
#ifndef VKT_TEST_ALLOC_H
#define VKT_TEST_ALLOC_H

#include "vkt/core.h"

/* Sets up the state `op` works on (may be NULL); runs before each run of `op`, unarmed. */
typedef void (*vkt_test_alloc_setup)(void *ctx);
/* The operation under test: returns its status. */
typedef vkt_status (*vkt_test_alloc_op)(void *ctx);
/* After a run in which allocation `point` failed (point < 0: the clean run), with op's status;
 * asserts the state is intact and frees what op made. */
typedef void (*vkt_test_alloc_check)(void *ctx, vkt_status s, long point);

/* Returns the number of allocation points (> 0 is asserted). Every failing run must return a
 * status other than VKT_OK with a non-empty vkt_last_error(), and the injected failure must have
 * happened (an op that swallows it and returns OK fails the test). */
long vkt_test_each_alloc_failure(const char *what, vkt_test_alloc_setup setup, vkt_test_alloc_op op,
                                 vkt_test_alloc_check check, void *ctx);

#endif
