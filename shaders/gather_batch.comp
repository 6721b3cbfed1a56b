#version 450
// gather_batch.comp — builds a training batch on the device from a data set stored once as
// words (u8 packed four to a word, i32/f32 one each), in the loader's subset order:
//   s       = perm[start + r]                       stored sample of row r
//   x[r, k] = load(images, s * in_features + src(k)) * scale[c] + bias[c],  c = k / inner
//             (u8/f32 samples, f32 x; i32 samples are copied word for word to i32 x, so token
//             ids stay exact beyond 2^24 and no normalisation applies)
//   y[r, t] = labels element s * targets + t        (u8 widened to i32; i32/f32 words copied)
// src(k) = k, or with AUGMENT the (C, h, w) sample padded by `pad` zeros, cropped to
// (crop_h, crop_w) at a per-sample offset and optionally flipped: one Philox4x32-10 block keyed by
// the seed at counter (ids[s], epoch, tag, 0) gives the offsets (words 0, 1, modulo the ranges)
// and the flip (bit 0 of word 2). A padded pixel loads 0 and is then normalised, as torchvision's
// RandomCrop pads before ToTensor and Normalize. One invocation per (r, q < max(features / 4,
// targets)) with QUAD (features % 4 == 0): features 4q..4q+3 of row r, one vec4 store, and for
// unaugmented u8 samples with in_features % 4 == 0 one word holds all four pixels; without QUAD
// one invocation per (r, k < max(features, targets)). On CPU drivers every storage-buffer access
// is a loop over the SIMD lanes, so sharing the row's perm load, the word and the store among four
// features is what makes this fast (docs/performance.md). Target t of row r is done by the
// invocation of q (or k) = t. Dispatch: src/data/loader.c. Reference: vkt__ref_gather_batch
// (src/ref/ref_data.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"

layout(constant_id = 1) const uint X_TYPE = 0;  // 0 u8, 1 i32, 2 f32
layout(constant_id = 2) const uint Y_WORDS = 0; // 0: u8 labels; 1: 32-bit words
layout(constant_id = 3) const uint AUGMENT = 0;
layout(constant_id = 4) const uint QUAD = 0;

layout(set = 0, binding = 0) readonly buffer Images { uint images[]; };
layout(set = 0, binding = 1) readonly buffer Labels { uint labels[]; };
layout(set = 0, binding = 2) readonly buffer Perm { uint perm[]; };
layout(set = 0, binding = 3) readonly buffer Ids { uint ids[]; };
layout(set = 0, binding = 4) readonly buffer Norm { float norm[]; }; // scale[channels], bias[channels]
layout(set = 0, binding = 5) writeonly buffer X { uint x[]; }; // f32 bits, or i32
layout(set = 0, binding = 5) writeonly buffer X4 { uvec4 x4[]; };
layout(set = 0, binding = 6) writeonly buffer Y { uint y[]; };

#include "gather_batch.glsl"

float load(uint i)
{
    if (X_TYPE == 0u) {
        return float((images[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu);
    }
    return uintBitsToFloat(images[i]);
}

// The value of feature k of stored sample s (f32 bits, or the i32 word).
uint feature(uint s, uint k)
{
    uint c = k / pc.inner;
    uint src = k;
    bool inside = true;
    if (AUGMENT != 0u) {
        uvec4 b = philox4x32_10(uvec4(ids[s], pc.epoch, pc.tag, 0u),
                                uvec2(pc.seed_lo, pc.seed_hi));
        uint oy0 = b.x % (pc.h + 2u * pc.pad - pc.crop_h + 1u);
        uint ox0 = b.y % (pc.w + 2u * pc.pad - pc.crop_w + 1u);
        bool flip = pc.hflip != 0u && (b.z & 1u) != 0u;
        uint oy = (k - c * pc.inner) / pc.crop_w;
        uint ox = k % pc.crop_w;
        int iy = int(oy + oy0) - int(pc.pad);
        int ix = int((flip ? pc.crop_w - 1u - ox : ox) + ox0) - int(pc.pad);
        inside = iy >= 0 && iy < int(pc.h) && ix >= 0 && ix < int(pc.w);
        src = inside ? (c * pc.h + uint(iy)) * pc.w + uint(ix) : 0u;
    }
    uint from = s * pc.in_features + src;
    if (X_TYPE == 1u) {
        return inside ? images[from] : 0u;
    }
    float v = inside ? load(from) : 0.0;
    return floatBitsToUint(v * norm[c] + norm[pc.channels + c]);
}

void main()
{
    uint i = vkt_global_index();
    uint width = QUAD != 0u ? pc.features / 4u : pc.features;
    uint per = max(width, pc.targets);
    if (i >= pc.rows * per) {
        return;
    }
    uint r = i / per;
    uint k = i - r * per;
    uint s = perm[pc.start + r];
    if (k < width && QUAD == 0u) {
        x[r * pc.features + k] = feature(s, k);
    } else if (k < width) {
        uint k0 = 4u * k;
        uvec4 v;
        if (X_TYPE == 0u && AUGMENT == 0u && pc.in_features % 4u == 0u) {
            uint word = images[(s * pc.in_features + k0) >> 2];
            if (pc.inner % 4u == 0u) {
                // the quad lies in one channel (k0 % 4 == 0): its scale and bias, once
                uint c = k0 / pc.inner;
                float scale = norm[c], bias = norm[pc.channels + c];
                for (uint e = 0u; e < 4u; e++) {
                    v[e] = floatBitsToUint(float((word >> (8u * e)) & 0xFFu) * scale + bias);
                }
            } else {
                for (uint e = 0u; e < 4u; e++) {
                    uint c = (k0 + e) / pc.inner;
                    float p = float((word >> (8u * e)) & 0xFFu);
                    v[e] = floatBitsToUint(p * norm[c] + norm[pc.channels + c]);
                }
            }
        } else {
            for (uint e = 0u; e < 4u; e++) {
                v[e] = feature(s, k0 + e);
            }
        }
        x4[(r * pc.features + k0) / 4u] = v;
    }
    if (k < pc.targets) {
        uint j = s * pc.targets + k;
        y[r * pc.targets + k] = Y_WORDS != 0u ? labels[j] : (labels[j >> 2] >> ((j & 3u) * 8u)) & 0xFFu;
    }
}
