// batch_norm_affine.glsl — batch norm's output ((x - mean) * invstd) * w + shift, for the apply
// kernels and, for the ReLU mask of vkt_batch_norm_relu, for the backward kernels (included, not
// compiled on its own). `precise` forbids contraction and reassociation, so the backward's
// recomputation has the forward's bits and its mask is exactly the forward's y > 0.

float bn_affine(float x, float mean, float invstd, float w, float shift)
{
    precise float v = (x - mean) * invstd * w + shift;
    return v;
}

vec4 bn_affine4(vec4 x, float mean, float invstd, float w, float shift)
{
    precise vec4 v = (x - mean) * invstd * w + shift;
    return v;
}

// dy where the ReLU after batch norm passed its input (y = bn(x) > 0), else 0: relu's backward.
vec4 bn_relu_mask4(vec4 dy, vec4 y) { return mix(vec4(0.0), dy, greaterThan(y, vec4(0.0))); }

float bn_relu_mask(float dy, float y) { return y > 0.0 ? dy : 0.0; }
