#version 450
// col2im.comp — the input gradient of a convolution from dcols, read from its storage
// buffer; the body is col2im.glsl. Twin: col2im_texel.comp.
// Dispatch: src/ops/conv.c. Reference: src/ref/ref_conv.c. Checks: src/check/check_conv.c.
// Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#include "col2im.glsl"
