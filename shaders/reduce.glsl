// reduce.glsl — body of the reduction kernels (sum/mean, max/min, argmax, count_equal), compiled
// twice by tiny wrappers that differ only in how a workgroup combines its invocations:
//   reduce_sg.comp    defines REDUCE_SUBGROUP: subgroupAdd/Max/Min within each subgroup, then the
//                     subgroup results combined in subgroup order through shared memory;
//   reduce_smem.comp  a shared-memory tree only (loadable on devices without subgroup arithmetic).
// Dispatch: src/ops/reduce.c. CPU reference: src/ref/ref_reduce.c.
// Checks: src/check/check_reduce.c. Tests: tests/test_reduce.c.
// Algorithm, determinism contract and NaN semantics: docs/reductions.md.
//
// One dispatch is one level of the reduction of `rows` rows of `cols` elements each. Workgroup
// (r, s), s < splits, takes the columns j = s*WG + t + k*splits*WG (t = invocation, k = 0, 1, ..)
// of row r in increasing order, so every invocation accumulates a fixed strided set. With
// splits == 1 the workgroup writes row r's result; otherwise it writes a partial at r*splits + s,
// and the next level (FROM_PARTIALS = 1, cols = previous splits) reduces those the same way.
//
// Short rows (THREAD_ROWS = 1) skip the workgroup combine: invocation r reduces row r alone, in
// column order, and writes its result (always the last level).
//
// Specialization constants: 0 = workgroup size, 1 = OP, 2 = FROM_PARTIALS, 3 = THREAD_ROWS.
// Bindings (all 32-bit words; floats are bit-cast):
//   0 in0   x, a (count_equal) or partial values / counts
//   1 in1   b (count_equal) or partial aux (sum: compensation, argmax: index); else unused
//   2 out0  result value (sum, max, count, and argmax when write_value) or partial values
//   3 out1  argmax index (final level) or partial aux
// An output the level does not write is bound to the other output's range (src/ops/reduce.c).

#include "reduce_ops.h"
layout(constant_id = 1) const uint OP = RED_SUM;
layout(constant_id = 2) const uint FROM_PARTIALS = 0;
layout(constant_id = 3) const uint THREAD_ROWS = 0;

layout(set = 0, binding = 0) readonly buffer In0 { uint in0[]; };
layout(set = 0, binding = 1) readonly buffer In1 { uint in1[]; };
layout(set = 0, binding = 2) writeonly buffer Out0 { uint out0[]; };
layout(set = 0, binding = 3) writeonly buffer Out1 { uint out1[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;        // elements per row at this level
    uint splits;      // workgroups per row; 1 = this level writes the final result
    uint negate;      // max/argmax of -x (min); the final value is negated back
    float div;        // sum: the final value is divided by this (mean: cols; sum: 1)
    uint write_value; // argmax, final level: also write the extreme value to out0
} pc;

const uint NONE = 0xffffffffu; // argmax index of an empty accumulator
#define POS_INF uintBitsToFloat(0x7f800000u)
#define NEG_INF uintBitsToFloat(0xff800000u)
#define QNAN uintBitsToFloat(0x7fc00000u)

// Sized from the workgroup size: one slot per invocation (shared tree) or per subgroup (subgroup
// path; a subgroup has at least one invocation, so WG slots always suffice).
shared uint sh0[gl_WorkGroupSize.x];
shared uint sh1[gl_WorkGroupSize.x];

// The accumulator of every op: sum (v = hi, w = lo), max (v), argmax (v, i), count (i).
struct Acc {
    float v;
    float w;
    uint i;
};

bool is_nan(float x)
{
    return (floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u;
}

bool is_finite(float x)
{
    return (floatBitsToUint(x) & 0x7f800000u) != 0x7f800000u;
}

Acc acc_empty()
{
    Acc a;
    a.v = (OP == RED_MAX || OP == RED_ARGMAX) ? NEG_INF : 0.0;
    a.w = 0.0;
    a.i = OP == RED_ARGMAX ? NONE : 0u;
    return a;
}

// (hi, lo) += (x_hi, x_lo): Neumaier's two-sum keeps the rounding error of hi + x_hi exactly in
// lo. `precise` stops the compiler from reassociating or contracting (which would zero the error).
void sum_add(inout Acc a, float x_hi, float x_lo)
{
    precise float t = a.v + x_hi;
    precise float e = abs(a.v) >= abs(x_hi) ? (a.v - t) + x_hi : (x_hi - t) + a.v;
    precise float lo = a.w + x_lo + e;
    a.v = t;
    a.w = lo;
}

void max_take(inout Acc a, float x)
{
    if (!is_nan(a.v) && (is_nan(x) || x > a.v)) {
        a.v = x;
    }
}

// Whether (xv, xi) beats (av, ai): NaN above everything, then larger value, then lower index.
// A total order, so the result does not depend on the order of combination.
bool arg_better(float xv, uint xi, float av, uint ai)
{
    if (xi == NONE) {
        return false;
    }
    if (ai == NONE) {
        return true;
    }
    bool xn = is_nan(xv), an = is_nan(av);
    if (xn != an) {
        return xn;
    }
    if (!xn && xv != av) {
        return xv > av;
    }
    return xi < ai;
}

void arg_take(inout Acc a, float xv, uint xi)
{
    if (arg_better(xv, xi, a.v, a.i)) {
        a.v = xv;
        a.i = xi;
    }
}

void combine(inout Acc a, Acc b)
{
    if (OP == RED_SUM) {
        sum_add(a, b.v, b.w);
    } else if (OP == RED_MAX) {
        max_take(a, b.v);
    } else if (OP == RED_ARGMAX) {
        arg_take(a, b.v, b.i);
    } else {
        a.i += b.i;
    }
}

// Accumulators travel through shared memory and partial buffers as two words.
bool has_aux()
{
    return OP == RED_SUM || OP == RED_ARGMAX;
}

uvec2 pack_acc(Acc a)
{
    if (OP == RED_COUNT_F32 || OP == RED_COUNT_I32) {
        return uvec2(a.i, 0u);
    }
    return uvec2(floatBitsToUint(a.v), OP == RED_SUM ? floatBitsToUint(a.w) : a.i);
}

Acc unpack_acc(uvec2 u)
{
    Acc a = acc_empty();
    if (OP == RED_COUNT_F32 || OP == RED_COUNT_I32) {
        a.i = u.x;
    } else {
        a.v = uintBitsToFloat(u.x);
        if (OP == RED_SUM) {
            a.w = uintBitsToFloat(u.y);
        } else if (OP == RED_ARGMAX) {
            a.i = u.y;
        }
    }
    return a;
}

// Adds element k (column j of its row) of this level's input to the accumulator.
void take(inout Acc a, uint k, uint j)
{
    if (FROM_PARTIALS != 0) {
        combine(a, unpack_acc(uvec2(in0[k], has_aux() ? in1[k] : 0u)));
        return;
    }
    if (OP == RED_COUNT_F32) {
        a.i += uintBitsToFloat(in0[k]) == uintBitsToFloat(in1[k]) ? 1u : 0u;
    } else if (OP == RED_COUNT_I32) {
        a.i += in0[k] == in1[k] ? 1u : 0u;
    } else {
        float x = uintBitsToFloat(in0[k]);
        if (OP == RED_SUM) {
            sum_add(a, x, 0.0);
        } else {
            x = pc.negate != 0 ? -x : x;
            if (OP == RED_MAX) {
                max_take(a, x);
            } else {
                arg_take(a, x, j);
            }
        }
    }
}

#ifdef REDUCE_SUBGROUP
// The subgroup's combined accumulator, in every invocation. Only arithmetic subgroup operations
// (and gl_SubgroupSize, never assumed) are used.
Acc subgroup_combine(Acc a)
{
    Acc r = a;
    if (OP == RED_SUM) {
        // subgroupAdd's order is the device's, and its roundings would be lost. So the hi parts
        // are first split (Rump, Ogita & Oishi's ExtractScalar) at sigma = 2^e >= 2*size*max|hi|
        // into q = (sigma + hi) - sigma, a multiple of ulp(sigma)/2 with |sum q| <= sigma, whose
        // subgroup sum is exact in any order, and the exact remainder hi - q, which joins lo.
        float m = subgroupMax(is_finite(a.v) ? abs(a.v) : POS_INF);
        int e;
        frexp(m, e); // m < 2^e
        float sigma = ldexp(1.0, e + findMSB(gl_SubgroupSize) + 1);
        if (is_finite(m) && is_finite(sigma)) {
            precise float q = (sigma + a.v) - sigma;
            precise float rest = (a.v - q) + a.w;
            r.v = subgroupAdd(q);
            r.w = subgroupAdd(rest);
        } else { // Inf/NaN (the result is non-finite anyway) or values near FLT_MAX
            r.v = subgroupAdd(a.v);
            r.w = subgroupAdd(a.w);
        }
    } else if (OP == RED_MAX) {
        uint nan = subgroupMax(is_nan(a.v) ? 1u : 0u);
        float mx = subgroupMax(is_nan(a.v) ? NEG_INF : a.v);
        r.v = nan != 0u ? QNAN : mx;
    } else if (OP == RED_ARGMAX) {
        bool valid = a.i != NONE;
        bool isn = valid && is_nan(a.v);
        uint nan = subgroupMax(isn ? 1u : 0u);
        float mx = subgroupMax(valid && !isn ? a.v : NEG_INF);
        uint cand = nan != 0u ? (isn ? a.i : NONE) : (valid && a.v == mx ? a.i : NONE);
        r.i = subgroupMin(cand);
        r.v = nan != 0u ? QNAN : mx;
    } else {
        r.i = subgroupAdd(a.i);
    }
    return r;
}
#endif

// The workgroup's combined accumulator, valid in invocation 0.
Acc workgroup_combine(Acc a)
{
    uint t = gl_LocalInvocationID.x;
#ifdef REDUCE_SUBGROUP
    Acc r = subgroup_combine(a);
    if (subgroupElect()) {
        uvec2 p = pack_acc(r);
        sh0[gl_SubgroupID] = p.x;
        sh1[gl_SubgroupID] = p.y;
    }
    barrier();
    if (t == 0u) {
        r = unpack_acc(uvec2(sh0[0], sh1[0]));
        for (uint s = 1u; s < gl_NumSubgroups; s++) {
            combine(r, unpack_acc(uvec2(sh0[s], sh1[s])));
        }
    }
    return r;
#else
    uvec2 p = pack_acc(a);
    sh0[t] = p.x;
    sh1[t] = p.y;
    barrier();
    uint wg = gl_WorkGroupSize.x;
    // Largest power of two below wg; the tree works for any workgroup size.
    for (uint w = wg > 1u ? 1u << findMSB(wg - 1u) : 0u; w > 0u; w >>= 1) {
        if (t < w && t + w < wg) {
            Acc x = unpack_acc(uvec2(sh0[t], sh1[t]));
            combine(x, unpack_acc(uvec2(sh0[t + w], sh1[t + w])));
            p = pack_acc(x);
            sh0[t] = p.x;
            sh1[t] = p.y;
        }
        barrier();
    }
    return unpack_acc(uvec2(sh0[0], sh1[0]));
#endif
}

// Writes row r's result (final level) from its accumulator.
void write_result(Acc a, uint r)
{
    if (OP == RED_SUM) {
        // A non-finite hi is the answer (its compensation may be NaN from Inf - Inf).
        precise float v = is_finite(a.v) ? a.v + a.w : a.v;
        out0[r] = floatBitsToUint(pc.div != 1.0 ? v / pc.div : v);
    } else if (OP == RED_MAX) {
        out0[r] = floatBitsToUint(pc.negate != 0u ? -a.v : a.v);
    } else if (OP == RED_ARGMAX) {
        out1[r] = a.i;
        if (pc.write_value != 0u) {
            out0[r] = floatBitsToUint(pc.negate != 0u ? -a.v : a.v);
        }
    } else {
        out0[r] = a.i;
    }
}

void main()
{
    Acc a = acc_empty();
    if (THREAD_ROWS != 0u) {
        uint r = vkt_global_index();
        if (r >= pc.rows) {
            return;
        }
        for (uint j = 0u; j < pc.cols; j++) {
            take(a, r * pc.cols + j, j);
        }
        write_result(a, r);
        return;
    }
    uint g = vkt_flat_group();
    if (g >= pc.rows * pc.splits) {
        return; // whole workgroup: the 2-D grid's tail
    }
    uint r = g / pc.splits;
    uint s = g % pc.splits;
    uint wg = gl_WorkGroupSize.x;
    uint base = r * pc.cols;
    for (uint j = s * wg + gl_LocalInvocationID.x; j < pc.cols; j += pc.splits * wg) {
        take(a, base + j, j);
    }
    a = workgroup_combine(a);
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
    if (pc.splits > 1u) {
        uvec2 p = pack_acc(a);
        out0[g] = p.x;
        if (has_aux()) {
            out1[g] = p.y;
        }
    } else {
        write_result(a, r);
    }
}
