// matmul.glsl — what the two matmul kernels share: bindings, push constants, the tile decoding,
// the output store.
//
// For each batch index bt < batch: C[bt] (M, N) (+)= op(A[bt]) (M, K) · op(B[bt]) (K, N), all
// f32. Transposes cost nothing: element (i, k) of op(A[bt]) is
// a[a_off + bt * sa_b + i * sa_i + k * sa_k] and element (k, j) of op(B[bt]) is
// b[b_off + bt * sb_b + k * sb_k + j * sb_j], so A·B, Aᵀ·B, A·Bᵀ and Aᵀ·Bᵀ differ only in the
// strides the host pushes, and a batch stride of 0 shares one matrix among all batches
// (torch.matmul's broadcast of a 2-D operand). C is contiguous: C[bt] starts at bt * M * N. A
// plain 2-D product is batch 1. a_off / b_off start a slice of the operands (the host splits long
// inner dimensions into several accumulating dispatches). With accumulate != 0 the product is
// added to C (gradient accumulation). Included by matmul_tiled.comp and matmul_regblock.comp;
// the C twin of `PC` is vkt__pc_matmul in src/ops/matmul.c.

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) buffer C { float c[]; };

layout(push_constant) uniform PC {
    uint M, N, K;
    uint sa_i, sa_k;  // strides of op(A) along its rows (i) and along k
    uint sb_k, sb_j;  // strides of op(B) along k and along its columns (j)
    uint tiles_n;     // output tiles along N: tile t covers tile rows t / tiles_n, cols t % tiles_n
    uint accumulate;
    uint tiles_mn;    // tiles per batch: workgroup g is tile g % tiles_mn of batch g / tiles_mn
    uint batch;
    uint sa_b, sb_b;  // batch strides of A and B (0: one matrix shared by every batch)
    uint a_off, b_off;
} pc;

// This workgroup's batch, its tile's first row and column, and the offsets of its batch in A, B
// and C. False for the workgroups of a 2-D grid past the last tile (uniform per workgroup).
bool matmul_tile(uint bm, uint bn, out uint i0, out uint j0, out uint a0, out uint b0,
                 out uint c0)
{
    uint g = vkt_flat_group();
    uint bt = g / pc.tiles_mn, t = g % pc.tiles_mn;
    i0 = (t / pc.tiles_n) * bm;
    j0 = (t % pc.tiles_n) * bn;
    a0 = pc.a_off + bt * pc.sa_b;
    b0 = pc.b_off + bt * pc.sb_b;
    c0 = bt * pc.M * pc.N;
    return bt < pc.batch;
}

// c[c0 + (i, j)] (+)= v, for in-range (i, j) only.
void matmul_store(uint c0, uint i, uint j, float v)
{
    if (i < pc.M && j < pc.N) {
        uint o = c0 + i * pc.N + j;
        c[o] = pc.accumulate != 0 ? c[o] + v : v;
    }
}
