/*
 * fuzz_idx_gz.c — vkt_idx_read on gzip-compressed IDX files whose content is the fuzzer's input:
 * the compressed path (header, dimensions, data, trailing bytes) sees well-formed gzip streams,
 * which fuzz_idx reaches only rarely. A second variant cuts the stream short.
 */
#include <stdlib.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "internal.h"
#include "vkt/data.h"

static void check(const char *path)
{
    vkt_idx idx;
    vkt_clear_error(); /* errors persist: a stale message must not pass the check */
    vkt_status s = vkt_idx_read(path, &idx);
    if (s != VKT_OK && !vkt_last_error()[0]) {
        abort();
    }
    vkt_idx_free(&idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* gzip wrapper: windowBits 15 + 16. */
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        abort();
    }
    size_t cap = deflateBound(&z, size);
    uint8_t *gz = malloc(cap);
    if (!gz) {
        abort();
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        abort();
    }
    size_t n = cap - z.avail_out;
    deflateEnd(&z);

    vkt_fuzz_file f;
    vkt_fuzz_file_open(&f, gz, n);
    check(f.path);
    vkt_fuzz_file_close(&f);
    /* The same stream cut short (a truncated download). */
    if (n > 1) {
        vkt_fuzz_file_open(&f, gz, n - 1 - (size ? data[0] % (n - 1) : 0));
        check(f.path);
        vkt_fuzz_file_close(&f);
    }
    free(gz);
    return 0;
}
