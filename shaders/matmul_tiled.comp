#version 450
// matmul_tiled.comp — C (+)= op(A)·op(B), the GPU-style kernel: each workgroup computes a BM×BN
// tile of C, staging BK-deep slices of A and B in shared memory; each invocation accumulates a
// TM×TN block in registers (fp32). Shapes that are not multiples of the tile are handled by
// zero-filling the shared tiles and guarding the stores.
// Specialization constants: 0 workgroup size (= (BM / TM) * (BN / TN)), 1 BM, 2 BN, 3 BK,
// 4 TM, 5 TN. Bindings, push constants and strides: matmul.glsl.
// Dispatch: src/ops/matmul.c. Reference: src/ref/ref_matmul.c. Checks: src/check/check_matmul.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "matmul.glsl"

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

// As[kk * LDA + ii] = op(A)[i0 + ii, k0 + kk]; Bs[kk * LDB + jj] = op(B)[k0 + kk, j0 + jj].
// Rows are padded by one word so that filling along k (the unit-stride dimension of A, or of
// Bᵀ) does not hit one shared-memory bank BK times.
const uint LDA = BM + 1;
const uint LDB = BN + 1;
shared float As[BK * LDA];
shared float Bs[BK * LDB];

void main()
{
    uint i0, j0, a0, b0, c0;
    // Uniform per workgroup, and before any barrier: the whole workgroup leaves together.
    if (!matmul_tile(BM, BN, i0, j0, a0, b0, c0)) {
        return;
    }
    const uint WG = gl_WorkGroupSize.x;
    uint tid = gl_LocalInvocationID.x;
    // Invocation (tx, ty) owns rows ty + m * (BM / TM) and columns tx + n * (BN / TN) of the
    // tile: neighbouring invocations read neighbouring shared words.
    uint tx = tid % (BN / TN), ty = tid / (BN / TN);
    float acc[TM * TN];
    for (uint x = 0; x < TM * TN; x++) {
        acc[x] = 0.0;
    }
    // Global reads walk the operand's unit-stride dimension across neighbouring invocations.
    bool a_k_fast = pc.sa_k == 1, b_k_fast = pc.sb_k == 1;
    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        for (uint x = tid; x < BK * BM; x += WG) {
            uint kk = a_k_fast ? x % BK : x / BM;
            uint ii = a_k_fast ? x / BK : x % BM;
            uint gi = i0 + ii, gk = k0 + kk;
            As[kk * LDA + ii] =
                (gi < pc.M && gk < pc.K) ? a[a0 + gi * pc.sa_i + gk * pc.sa_k] : 0.0;
        }
        for (uint x = tid; x < BK * BN; x += WG) {
            uint kk = b_k_fast ? x % BK : x / BN;
            uint jj = b_k_fast ? x / BK : x % BN;
            uint gj = j0 + jj, gk = k0 + kk;
            Bs[kk * LDB + jj] =
                (gj < pc.N && gk < pc.K) ? b[b0 + gk * pc.sb_k + gj * pc.sb_j] : 0.0;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            float av[TM], bv[TN];
            for (uint m = 0; m < TM; m++) {
                av[m] = As[kk * LDA + ty + m * (BM / TM)];
            }
            for (uint n = 0; n < TN; n++) {
                bv[n] = Bs[kk * LDB + tx + n * (BN / TN)];
            }
            for (uint m = 0; m < TM; m++) {
                for (uint n = 0; n < TN; n++) {
                    acc[m * TN + n] += av[m] * bv[n];
                }
            }
        }
        barrier();
    }
    for (uint m = 0; m < TM; m++) {
        for (uint n = 0; n < TN; n++) {
            matmul_store(c0, i0 + ty + m * (BM / TM), j0 + tx + n * (BN / TN), acc[m * TN + n]);
        }
    }
}
