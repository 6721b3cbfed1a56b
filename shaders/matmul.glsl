// matmul.glsl — what the two matmul kernels share: bindings, push constants, the output store.
//
// C (M, N) (+)= op(A) (M, K) · op(B) (K, N), all f32, row-major. Transposes cost nothing: element
// (i, k) of op(A) is a[i * sa_i + k * sa_k] and element (k, j) of op(B) is b[k * sb_k + j * sb_j],
// so A·B, Aᵀ·B, A·Bᵀ and Aᵀ·Bᵀ differ only in the strides the host pushes. With accumulate != 0
// the product is added to C (gradient accumulation). Included by matmul_tiled.comp and
// matmul_regblock.comp; the C twin of `PC` is vkt__pc_matmul in src/ops/matmul.c.

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) buffer C { float c[]; };

layout(push_constant) uniform PC {
    uint M, N, K;
    uint sa_i, sa_k;  // strides of op(A) along its rows (i) and along k
    uint sb_k, sb_j;  // strides of op(B) along k and along its columns (j)
    uint tiles_n;     // output tiles along N: tile t covers tile rows t / tiles_n, cols t % tiles_n
    uint accumulate;
} pc;

// c[i, j] (+)= v, for in-range (i, j) only.
void matmul_store(uint i, uint j, float v)
{
    if (i < pc.M && j < pc.N) {
        uint o = i * pc.N + j;
        c[o] = pc.accumulate != 0 ? c[o] + v : v;
    }
}
