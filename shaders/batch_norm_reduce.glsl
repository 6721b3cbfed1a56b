// batch_norm_reduce.glsl — the per-channel sums of batch_norm_stats.comp and
// batch_norm_backward_reduce.comp (included, not compiled on its own).
//
// Channel c of x (N, C, S) — S the product of the dimensions after C — is the M = N * S elements
// k = n * S + s at ((n * C + c) * S + s). One workgroup reduces one channel: invocation t takes
// k = t, t + WG, t + 2 WG, ... in order into a compensated (hi, lo) pair (Neumaier's two-sum keeps
// each addition's rounding error in lo), and the pairs meet in a fixed shared-memory tree. The
// order depends only on M and the workgroup size, never on the subgroup size, so the result is
// bitwise reproducible, and a channel of any length is one dispatch (10^5 elements per channel
// are ~400 per invocation, each adding to its own pair). Up to two sums travel together (vec4 =
// two pairs): backward reduces sum(dy) and sum(dy * xhat) in one sweep.

shared vec4 bn_sh[gl_WorkGroupSize.x];

// (hi, lo) += x; `precise` stops reassociation and contraction, which would lose the error term.
void bn_add(inout vec2 a, float x_hi, float x_lo)
{
    precise float t = a.x + x_hi;
    precise float e = abs(a.x) >= abs(x_hi) ? (a.x - t) + x_hi : (x_hi - t) + a.x;
    precise float lo = a.y + x_lo + e;
    a = vec2(t, lo);
}

// Flat index of element k of channel c.
uint bn_index(uint k, uint c, uint channels, uint spatial)
{
    uint n = k / spatial;
    return (n * channels + c) * spatial + (k - n * spatial);
}

// Walks a channel's elements (or vec4s) k = k0, k0 + step, ... of a (N, C, len) layout as
// (n, s), k = n * len + s, dividing once at the start instead of at every step (an integer
// division is a loop over the lanes on CPU drivers).
struct BnCursor {
    uint n, s, dn, ds, len;
};

BnCursor bn_cursor(uint k0, uint step, uint len)
{
    uint n = k0 / len, dn = step / len;
    return BnCursor(n, k0 - n * len, dn, step - dn * len, len);
}

// Flat index of the cursor's element in channel c.
uint bn_at(BnCursor k, uint c, uint channels) { return (k.n * channels + c) * k.len + k.s; }

void bn_step(inout BnCursor k)
{
    k.n += k.dn;
    k.s += k.ds;
    if (k.s >= k.len) {
        k.s -= k.len;
        k.n++;
    }
}

// The workgroup's two compensated sums (xy, zw), in every invocation. Called in uniform control
// flow; bn_sh is free again when it returns.
vec4 bn_workgroup_sum(vec4 a)
{
    uint t = gl_LocalInvocationID.x;
    uint wg = gl_WorkGroupSize.x;
    bn_sh[t] = a;
    barrier();
    // Largest power of two below wg: the tree works for any workgroup size.
    for (uint w = wg > 1u ? 1u << findMSB(wg - 1u) : 0u; w > 0u; w >>= 1) {
        if (t < w && t + w < wg) {
            vec4 x = bn_sh[t], y = bn_sh[t + w];
            vec2 s0 = x.xy, s1 = x.zw;
            bn_add(s0, y.x, y.y);
            bn_add(s1, y.z, y.w);
            bn_sh[t] = vec4(s0, s1);
        }
        barrier();
    }
    vec4 r = bn_sh[0];
    barrier();
    return r;
}

// A pair's value.
float bn_value(vec2 s)
{
    precise float v = s.x + s.y;
    return v;
}
