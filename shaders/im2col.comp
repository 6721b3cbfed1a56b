#version 450
// im2col.comp — the column matrix of a convolution, x read from its storage buffer;
// the body (layout, specialization constants) is im2col.glsl. Twin: im2col_texel.comp.
// Dispatch: src/ops/conv.c. Reference: src/ref/ref_conv.c. Checks: src/check/check_conv.c.
// Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#include "im2col.glsl"
