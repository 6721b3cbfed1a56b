#version 450
// reduce_sg.comp — the reductions with subgroup arithmetic (subgroupAdd/Max/Min) in subgroups.
// Used when vkt__device_caps(dev)->subgroup_arith. The body is reduce.glsl; dispatch in
// src/ops/reduce.c (reduce_run). Twin without subgroup operations: reduce_smem.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#define REDUCE_SUBGROUP 1
#include "reduce.glsl"
