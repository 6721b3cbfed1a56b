#version 450
// gather_batch.comp — builds a training batch on the device from a data set stored as bytes:
//   x[r, f] = byte(images, perm[start + r] * features + f) * scale + bias     (f32)
//   y[r]    = byte(labels, perm[start + r])                                   (i32)
// scale/bias encode the normalisation (x/255, (x/255 - mean)/std, or raw).
// Dispatch: src/data/loader.c. Reference: vkt__ref_gather_batch (src/ref/ref_data.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Images { uint images[]; };
layout(set = 0, binding = 1) readonly buffer Labels { uint labels[]; };
layout(set = 0, binding = 2) readonly buffer Perm { uint perm[]; };
layout(set = 0, binding = 3) writeonly buffer X { float x[]; };
layout(set = 0, binding = 4) writeonly buffer Y { int y[]; };

layout(push_constant) uniform PC {
    uint features;
    uint rows;
    uint start;
    float scale;
    float bias;
} pc;

uint byte_at_images(uint i) { return (images[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu; }
uint byte_at_labels(uint i) { return (labels[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu; }

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.rows * pc.features) {
        return;
    }
    uint r = i / pc.features;
    uint f = i - r * pc.features;
    uint s = perm[pc.start + r];
    x[i] = float(byte_at_images(s * pc.features + f)) * pc.scale + pc.bias;
    if (f == 0) {
        y[r] = int(byte_at_labels(s));
    }
}
