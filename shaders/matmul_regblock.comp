#version 450
// matmul_regblock.comp — C (+)= op(A)·op(B), the CPU-friendly kernel (lavapipe, SwiftShader).
//
// No shared memory and no barriers: each invocation computes a TM×TN block of C in registers
// straight from global memory, 4 steps of k at a time. On a CPU driver every buffer access that
// differs between invocations becomes a loop over the SIMD lanes, so what costs is the number of
// loads, not the number of FMAs; the kernel therefore loads whole vec4s along each operand's
// unit-stride dimension (A_VEC / B_VEC) and reuses each loaded value TN (A) or TM (B) times.
// Edges: rows and columns past the edge re-read the last valid row / column (clamped offsets)
// and are never stored, so the inner loop has no branches; k % 4 leftovers run a scalar loop.
//
// Specialization constants:
//   0 workgroup size (WX * WY invocations)   1 TM  rows per invocation
//   2 TN  columns per invocation             3 WX  invocations along N (WY = size / WX along M)
//   4 A_VEC  0: scalar loads of op(A); 1: vec4 along k (sa_k == 1, sa_i % 4 == 0);
//            2: vec4 along i (sa_i == 1, M % 4 == 0, sa_k % 4 == 0, TM % 4 == 0)
//   5 B_VEC  0: scalar loads of op(B); 1: vec4 along k (sb_k == 1, sb_j % 4 == 0);
//            2: vec4 along j (sb_j == 1, N % 4 == 0, sb_k % 4 == 0, TN % 4 == 0)
//   and for either vec4 form the batch stride and the offset (sa_b, a_off / sb_b, b_off) are
//   multiples of 4 too, so every vec4 starts on a multiple of 4 floats.
// Bindings, push constants and strides: matmul.glsl.
// Dispatch: src/ops/matmul.c. Reference: src/ref/ref_matmul.c. Checks: src/check/check_matmul.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul.glsl"

layout(constant_id = 1) const uint TM = 4;
layout(constant_id = 2) const uint TN = 8;
layout(constant_id = 3) const uint WX = 2;
layout(constant_id = 4) const uint A_VEC = 0;
layout(constant_id = 5) const uint B_VEC = 0;

// The same buffers as `a` and `b`, seen as vec4s (used only when A_VEC / B_VEC say so).
layout(set = 0, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(set = 0, binding = 1) readonly buffer B4 { vec4 b4[]; };

const uint WY = gl_WorkGroupSize.x / WX;
const uint BM = WY * TM;
const uint BN = WX * TN;

void main()
{
    uint i0, j0, a0, b0, c0;
    if (!matmul_tile(BM, BN, i0, j0, a0, b0, c0)) {
        return;
    }
    uint tid = gl_LocalInvocationID.x;
    uint ib = i0 + (tid / WX) * TM, jb = j0 + (tid % WX) * TN;

    // Element offsets of this invocation's rows of op(A) and columns of op(B), clamped.
    uint ra[TM], cb[TN];
    for (uint m = 0; m < TM; m++) {
        ra[m] = a0 + min(ib + m, pc.M - 1) * pc.sa_i;
    }
    for (uint n = 0; n < TN; n++) {
        cb[n] = b0 + min(jb + n, pc.N - 1) * pc.sb_j;
    }
    // vec4 groups along i / j start at multiples of 4 and M (N) is a multiple of 4 there, so a
    // clamped group is one lying wholly past the edge.
    uint ra4[(TM + 3) / 4], cb4[(TN + 3) / 4];
    for (uint g = 0; g < (TM + 3) / 4; g++) {
        ra4[g] = a0 + min(ib + 4 * g, pc.M - 4);
    }
    for (uint g = 0; g < (TN + 3) / 4; g++) {
        cb4[g] = b0 + min(jb + 4 * g, pc.N - 4);
    }

    float acc[TM * TN];
    for (uint x = 0; x < TM * TN; x++) {
        acc[x] = 0.0;
    }
    uint k4 = (A_VEC != 0 || B_VEC != 0) ? pc.K & ~3u : 0u;
    for (uint k0 = 0; k0 < k4; k0 += 4) {
        float av[TM * 4];  // av[m * 4 + q] = op(A)[ib + m, k0 + q]
        float bv[4 * TN];  // bv[q * TN + n] = op(B)[k0 + q, jb + n]
        if (A_VEC == 1) {
            for (uint m = 0; m < TM; m++) {
                vec4 v = a4[(ra[m] + k0) / 4];
                for (uint q = 0; q < 4; q++) {
                    av[m * 4 + q] = v[q];
                }
            }
        } else if (A_VEC == 2) {
            for (uint q = 0; q < 4; q++) {
                for (uint g = 0; g < TM / 4; g++) {
                    vec4 v = a4[(ra4[g] + (k0 + q) * pc.sa_k) / 4];
                    for (uint r = 0; r < 4; r++) {
                        av[(4 * g + r) * 4 + q] = v[r];
                    }
                }
            }
        } else {
            for (uint m = 0; m < TM; m++) {
                for (uint q = 0; q < 4; q++) {
                    av[m * 4 + q] = a[ra[m] + (k0 + q) * pc.sa_k];
                }
            }
        }
        if (B_VEC == 1) {
            for (uint n = 0; n < TN; n++) {
                vec4 v = b4[(cb[n] + k0) / 4];
                for (uint q = 0; q < 4; q++) {
                    bv[q * TN + n] = v[q];
                }
            }
        } else if (B_VEC == 2) {
            for (uint q = 0; q < 4; q++) {
                for (uint g = 0; g < TN / 4; g++) {
                    vec4 v = b4[((k0 + q) * pc.sb_k + cb4[g]) / 4];
                    for (uint r = 0; r < 4; r++) {
                        bv[q * TN + 4 * g + r] = v[r];
                    }
                }
            }
        } else {
            for (uint q = 0; q < 4; q++) {
                for (uint n = 0; n < TN; n++) {
                    bv[q * TN + n] = b[(k0 + q) * pc.sb_k + cb[n]];
                }
            }
        }
        for (uint q = 0; q < 4; q++) {
            for (uint m = 0; m < TM; m++) {
                for (uint n = 0; n < TN; n++) {
                    acc[m * TN + n] += av[m * 4 + q] * bv[q * TN + n];
                }
            }
        }
    }
    for (uint k = k4; k < pc.K; k++) {
        float av[TM], bv[TN];
        for (uint m = 0; m < TM; m++) {
            av[m] = a[ra[m] + k * pc.sa_k];
        }
        for (uint n = 0; n < TN; n++) {
            bv[n] = b[k * pc.sb_k + cb[n]];
        }
        for (uint m = 0; m < TM; m++) {
            for (uint n = 0; n < TN; n++) {
                acc[m * TN + n] += av[m] * bv[n];
            }
        }
    }
    for (uint m = 0; m < TM; m++) {
        for (uint n = 0; n < TN; n++) {
            matmul_store(c0, ib + m, jb + n, acc[m * TN + n]);
        }
    }
}
