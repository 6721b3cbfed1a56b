#version 450
// reduce_smem.comp — the reductions with a shared-memory tree per workgroup. It declares no
// subgroup capability, so it loads on any device. The body is reduce.glsl; dispatch in
// src/ops/reduce.c (reduce_run). Twin with subgroup arithmetic: reduce_sg.comp.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"
