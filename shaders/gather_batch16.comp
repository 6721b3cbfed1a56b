#version 450
// gather_batch16.comp — gather_batch.comp's batch (same x and y, push constants in
// gather_batch.glsl) for u8 samples without augmentation on CPU drivers, where features,
// in_features and the channel plane (inner) are multiples of 16 and the stored words can be
// viewed as whole texels: one invocation per (r, q < max(features / 16, targets)) fetches the 16
// pixels 16q..16q+15 of its sample as one texel (set 1 binding 0: the words of set 0 binding 0 as
// R32G32B32A32_SINT, bits unchanged) and stores them normalised as four vec4s. Why: on CPU
// drivers a storage-buffer load is a loop over the SIMD lanes and a texel fetch one vectorised
// gather (docs/performance.md); this makes one fetch and one load of the row's sample index per
// 16 features where gather_batch.comp's QUAD form makes one word load and one index load per 4.
// Dispatch: src/data/loader.c. Reference: vkt__ref_gather_batch (src/ref/ref_data.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "gather_batch.glsl"

layout(constant_id = 1) const uint Y_WORDS = 0; // 0: u8 labels; 1: 32-bit words

layout(set = 0, binding = 1) readonly buffer Labels { uint labels[]; };
layout(set = 0, binding = 2) readonly buffer Perm { uint perm[]; };
layout(set = 0, binding = 4) readonly buffer Norm { float norm[]; }; // scale[channels], bias[channels]
layout(set = 0, binding = 5) writeonly buffer X4 { uvec4 x4[]; };
layout(set = 0, binding = 6) writeonly buffer Y { uint y[]; };
layout(set = 1, binding = 0) uniform isamplerBuffer ImagesT;

void main()
{
    uint i = vkt_global_index();
    uint width = pc.features / 16u;
    uint per = max(width, pc.targets);
    if (i >= pc.rows * per) {
        return;
    }
    uint r = i / per;
    uint k = i - r * per;
    uint s = perm[pc.start + r];
    if (k < width) {
        uint k0 = 16u * k;
        uvec4 words = uvec4(texelFetch(ImagesT, int((s * pc.in_features + k0) / 16u)));
        uint c = k0 / pc.inner; // the 16 lie in one channel
        float scale = norm[c], bias = norm[pc.channels + c];
        uint o = (r * pc.features + k0) / 4u;
        for (uint t = 0u; t < 4u; t++) {
            uvec4 v;
            for (uint e = 0u; e < 4u; e++) {
                v[e] = floatBitsToUint(float((words[t] >> (8u * e)) & 0xFFu) * scale + bias);
            }
            x4[o + t] = v;
        }
    }
    if (k < pc.targets) {
        uint j = s * pc.targets + k;
        y[r * pc.targets + k] = Y_WORDS != 0u ? labels[j] : (labels[j >> 2] >> ((j & 3u) * 8u)) & 0xFFu;
    }
}
