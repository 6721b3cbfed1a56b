// softmax_xent_reduce.glsl — the workgroup reduction shared by softmax_xent.comp and
// softmax_xent_mean.comp: a fixed-order shared-memory tree (deterministic, no subgroup operations,
// any workgroup size). Every invocation of the workgroup must call group_reduce.

// One slot per invocation: sized by the workgroup-size specialization constant.
shared float red[gl_WorkGroupSize.x];

// Largest power of two below the workgroup size (the tree's first stride); works for any size.
uint first_stride()
{
    uint p = 1;
    while (p < gl_WorkGroupSize.x) {
        p <<= 1;
    }
    return p >> 1;
}

// Fixed-order tree over the workgroup: the maximum if max_op, else the sum. The result is
// returned to every invocation.
float group_reduce(float v, bool max_op)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = first_stride(); s > 0; s >>= 1) {
        if (t < s && t + s < gl_WorkGroupSize.x) {
            red[t] = max_op ? max(red[t], red[t + s]) : red[t] + red[t + s];
        }
        barrier();
    }
    float r = red[0];
    barrier(); // everyone has read red[0] before the next reduction overwrites it
    return r;
}
