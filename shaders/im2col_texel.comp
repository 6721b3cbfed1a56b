#version 450
// im2col_texel.comp — im2col.comp with x read through set 1 binding 0 (a texel view of
// set 0 binding 0); the body is im2col.glsl.
// Dispatch: src/ops/conv.c. Reference: src/ref/ref_conv.c. Checks: src/check/check_conv.c.
// Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#define IM2COL_TEXEL 1
#include "im2col.glsl"
