// common.glsl — conventions shared by every vkt compute shader.
//
// * constant_id 0 is the workgroup size (local_size_x); other constant_ids are listed per shader.
// * Bindings: set 0, inputs first, outputs last; every binding is a storage buffer bound to exactly
//   the tensor's range, so `.length()` is not relied on: sizes come in push constants.
// * Large grids are dispatched as 2-D grids of workgroups (src/gpu: vkt__groups_2d); use
//   vkt_flat_group() / vkt_global_index() and bounds-check.
// * No shader assumes a subgroup size: subgroup variants read gl_SubgroupSize / gl_NumSubgroups.

layout(local_size_x_id = 0) in;

uint vkt_flat_group()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

uint vkt_num_groups()
{
    return gl_NumWorkGroups.x * gl_NumWorkGroups.y;
}

uint vkt_global_index()
{
    return vkt_flat_group() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}
