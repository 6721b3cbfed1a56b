#version 450
// matmul_texel.comp — C (+)= op(A)·op(B) for CPU drivers (lavapipe): operands read through vec4
// texel fetches, one operand shared across the subgroup with shuffles.
//
// Why: on a CPU driver each invocation is one SIMD lane, and a storage-buffer load is a scalar
// loop over the lanes, while a texel fetch is one vectorised gather of 16 bytes per lane (about
// 7x the load rate measured on lavapipe; docs/performance.md). What costs is fetches, so each
// fetched value must feed many FMAs: the workgroup is one subgroup of S lanes; lane l owns the
// four columns j0 + 4l .. j0 + 4l + 3 of a TM-row tile (TM vec4 accumulators) and fetches them
// from op(B) itself, while the TM x 4 values of op(A) that every lane needs for four steps of k
// are fetched once across the lanes (ceil(TM / S) fetches) and handed round with
// subgroupShuffle at constant lane indices, which the driver compiles to a register permute.
//
// Layouts (specialization constants; in modes 1 and 2 each vec4 starts on a multiple of 4 floats,
// checked by the host, and K % 4 == 0):
//   A_MODE 1: op(A) k-contiguous (sa_k == 1): the fetch of row i gives k0..k0+3;
//          2: op(A) i-contiguous (sa_i == 1): a fetch gives rows i..i+3 of one k (M % 4 == 0);
//          3: any strides and offset, any K: one fetch per value (its texel, then the component),
//          k >= K read as 0; values in a trailing partial texel come from the storage buffer.
//   B_MODE 1: op(B) k-contiguous (sb_k == 1): one fetch per column gives k0..k0+3;
//          2: op(B) j-contiguous (sb_j == 1): one fetch per k gives the lane's 4 columns
//          (N % 4 == 0);
//          3: as A_MODE 3.
// Mode 3 costs four times the fetches of modes 1 and 2, and still beats the regblock kernel's
// scalar storage-buffer loads on lavapipe (3-10x on products with K = 9 or 10, 10 outputs, odd
// sizes), so every product whose operands can be viewed as texels runs here.
// Edges: rows and columns past M / N re-read the last valid ones (clamped) and are not stored.
// Epilogue (vkt_linear, vkt_linear_relu; vkt_conv2d's bias per output channel, a row here): with
// EPI (matmul_ops.h) the bias of each column (or row) is added and the ReLU applied as the tile
// is stored, the same operations as vkt_add_bias and vkt_relu after the product (bit-identical),
// without their passes over C; never with accumulate.
// Specialization constants: 0 workgroup size (= the subgroup size S), 1 TM (multiple of 4),
// 2 A_MODE, 3 B_MODE, 4 EPI. Bindings: set 1 binding 0 / 1 are texel views of the whole
// texels of A and B (the same ranges as set 0 bindings 0 / 1, read only for a mode-3 value past
// the views' last texel); set 0 binding 2 is C, binding 3 the bias (EPI). Push constants and
// strides: matmul.glsl.
// Dispatch: src/ops/matmul.c. Reference: src/ref/ref_matmul.c. Checks: src/check/check_matmul.c.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"
#include "matmul.glsl"
#include "matmul_ops.h"

layout(constant_id = 1) const uint TM = 8;
layout(constant_id = 2) const uint A_MODE = 1;
layout(constant_id = 3) const uint B_MODE = 2;
layout(constant_id = 4) const uint EPI = 0;

layout(set = 1, binding = 0) uniform samplerBuffer At;
layout(set = 1, binding = 1) uniform samplerBuffer Bt;
layout(set = 0, binding = 2) buffer C4 { vec4 c4[]; };
layout(set = 0, binding = 3) readonly buffer Bias { float bias[]; };

const uint S = gl_WorkGroupSize.x;
const uint AF = (TM + S - 1) / S; // fetches of op(A) per four steps of k

// Element p of A / B in modes 3 (in range): from its texel, or from the storage buffer when p is
// in a trailing partial texel that the view leaves out.
float a_elem(uint p)
{
    uint t = p / 4;
    return t < uint(textureSize(At)) ? texelFetch(At, int(t))[p % 4] : a[p];
}

float b_elem(uint p)
{
    uint t = p / 4;
    return t < uint(textureSize(Bt)) ? texelFetch(Bt, int(t))[p % 4] : b[p];
}

// Lane `lane` holds vec4 f = r * S + lane of the A block (f < TM; lanes past it repeat f % TM):
// A_MODE 1 and 3: row f, k0..k0+3; A_MODE 2: rows 4 (f % (TM / 4)) .. +3 at k = k0 + f / (TM / 4).
vec4 fetch_a(uint a0, uint i0, uint k0, uint r)
{
    uint f = (r * S + gl_LocalInvocationID.x) % TM;
    if (A_MODE == 3) {
        uint i = min(i0 + f, pc.M - 1);
        vec4 v;
        for (uint q = 0; q < 4; q++) {
            uint k = k0 + q;
            v[q] = k < pc.K ? a_elem(a0 + i * pc.sa_i + k * pc.sa_k) : 0.0;
        }
        return v;
    }
    if (A_MODE == 1) {
        uint i = min(i0 + f, pc.M - 1);
        return texelFetch(At, int((a0 + i * pc.sa_i + k0) / 4));
    }
    uint g = f % (TM / 4), q = f / (TM / 4);
    uint i = min(i0 + 4 * g, pc.M - 4);
    return texelFetch(At, int((a0 + (k0 + q) * pc.sa_k + i) / 4));
}

// op(A)[i0 + m, k0 + q] from the fetched block (m, q constant after unrolling).
float a_value(vec4 af[AF], uint m, uint q)
{
    uint f = A_MODE != 2 ? m : m / 4 + (TM / 4) * q;
    uint comp = A_MODE != 2 ? q : m % 4;
    return subgroupShuffle(af[f / S][comp], f % S);
}

// bq[q][c] = op(B)[k0 + q, j + c] for the lane's columns j..j+3.
void fetch_b(uint b0, uint j, uint k0, out vec4 bq[4])
{
    if (B_MODE == 3) {
        for (uint q = 0; q < 4; q++) {
            uint k = k0 + q;
            for (uint c = 0; c < 4; c++) {
                uint p = b0 + k * pc.sb_k + min(j + c, pc.N - 1) * pc.sb_j;
                bq[q][c] = k < pc.K ? b_elem(p) : 0.0;
            }
        }
    } else if (B_MODE == 1) {
        vec4 col[4];
        for (uint c = 0; c < 4; c++) {
            col[c] = texelFetch(Bt, int((b0 + min(j + c, pc.N - 1) * pc.sb_j + k0) / 4));
        }
        for (uint q = 0; q < 4; q++) {
            bq[q] = vec4(col[0][q], col[1][q], col[2][q], col[3][q]);
        }
    } else {
        uint jj = min(j, pc.N - 4);
        for (uint q = 0; q < 4; q++) {
            bq[q] = texelFetch(Bt, int((b0 + (k0 + q) * pc.sb_k + jj) / 4));
        }
    }
}

void main()
{
    uint i0, j0, a0, b0, c0;
    if (!matmul_tile(TM, 4 * S, i0, j0, a0, b0, c0)) {
        return;
    }
    uint j = j0 + 4 * gl_LocalInvocationID.x;
    vec4 acc[TM];
    for (uint m = 0; m < TM; m++) {
        acc[m] = vec4(0.0);
    }
    for (uint k0 = 0; k0 < pc.K; k0 += 4) {
        vec4 af[AF];
        for (uint r = 0; r < AF; r++) {
            af[r] = fetch_a(a0, i0, k0, r);
        }
        vec4 bq[4];
        fetch_b(b0, j, k0, bq);
        for (uint q = 0; q < 4; q++) {
            for (uint m = 0; m < TM; m++) {
                acc[m] = fma(vec4(a_value(af, m, q)), bq[q], acc[m]);
            }
        }
    }
    vec4 bv = vec4(0.0);
    if ((EPI & MATMUL_EPI_BIAS) != 0) {
        for (uint c = 0; c < 4; c++) {
            bv[c] = bias[min(j + c, pc.N - 1)];
        }
    }
    bool quad = pc.N % 4 == 0 && j + 3 < pc.N; // c0 is a multiple of 4 then
    for (uint m = 0; m < TM; m++) {
        uint i = i0 + m;
        if (i >= pc.M) {
            break;
        }
        vec4 v = acc[m];
        if ((EPI & MATMUL_EPI_BIAS) != 0) {
            v = v + bv;
        }
        if ((EPI & MATMUL_EPI_BIAS_ROWS) != 0) {
            v = v + bias[i];
        }
        if ((EPI & MATMUL_EPI_RELU) != 0) {
            v = max(v, 0.0);
        }
        if (quad) {
            uint o = (c0 + i * pc.N + j) / 4;
            c4[o] = pc.accumulate != 0 ? c4[o] + v : v;
        } else {
            for (uint c = 0; c < 4; c++) {
                matmul_store(c0, i, j + c, v[c]);
            }
        }
    }
}
