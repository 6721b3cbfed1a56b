// conv_geom.glsl — the push-constant block shared by the convolution kernels (im2col.comp,
// col2im.comp, conv_epilogue.comp, conv_bias_grad.comp); its C twin is vkt__pc_conv in
// src/ops/conv.c. One dispatch covers one chunk of images [n0, n0 + batch) and one group:
// input channels [c0, c0 + c_group) and output channels [co0, co0 + co_group).
// The matrix of a chunk has M = batch * oh * ow rows (one per output pixel, image-major) and
// K = c_group * kh * kw columns (channel-major, then kernel row, then kernel column): the
// layout of one group's rows of the weight (C_out, C_in / groups, KH, KW). Rows of the column
// matrices are k_stride >= K floats apart; where the weight is bound padded (conv.c), so is it.

layout(push_constant) uniform PC {
    uint batch;    // images in this chunk
    uint n0;       // first image of the chunk
    uint c_in;     // x (N, c_in, h, w)
    uint h;
    uint w;
    uint c_group;  // input channels of the group
    uint c0;       // first input channel of the group
    uint oh;       // output (N, c_out, oh, ow)
    uint ow;
    uint kh;
    uint kw;
    uint sh;       // stride
    uint sw;
    uint ph;       // padding
    uint pw;
    uint dh;       // dilation
    uint dw;
    uint c_out;
    uint co_group; // output channels of the group
    uint co0;      // first output channel of the group
    uint has_bias;
    uint accumulate;
    uint k_stride; // floats between rows of cols / dcols: K, or K padded to a multiple of 4
} pc;
