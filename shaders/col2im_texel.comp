#version 450
// col2im_texel.comp — col2im.comp with dcols read through set 1 binding 0 (a texel view of
// set 0 binding 0); the body is col2im.glsl.
// Dispatch: src/ops/conv.c. Reference: src/ref/ref_conv.c. Checks: src/check/check_conv.c.
// Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#define COL2IM_TEXEL 1
#include "col2im.glsl"
