// gather_batch.glsl — the push-constant block of gather_batch.comp and gather_batch16.comp; its C
// twin is vkt__pc_gather in src/data/loader.c.
layout(push_constant) uniform PC {
    uint features;
    uint rows;
    uint start;
    uint in_features;
    uint inner;
    uint channels;
    uint targets;
    uint h;
    uint w;
    uint crop_h;
    uint crop_w;
    uint pad;
    uint hflip;
    uint seed_lo;
    uint seed_hi;
    uint epoch;
    uint tag;
} pc;
