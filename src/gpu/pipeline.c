/*
 * pipeline.c — two descriptor-set layouts (set 0: VKT__MAX_BINDINGS storage buffers; set 1:
 * VKT__MAX_TEXELS uniform texel buffers, bound only by the dispatches that read through them) and
 * one pipeline layout (both sets, 128 bytes of push constants) shared by every kernel; shader modules and pipelines are
 * created on first use and cached by (shader, specialization constants). Nothing is compiled at
 * device creation, so start-up stays fast however many kernels the library has.
 */
#include <string.h>

#include "gpu/device_impl.h"

vkt_status vkt__pipelines_init(vkt_device *dev)
{
    VkDescriptorSetLayoutBinding b[VKT__MAX_BINDINGS];
    for (uint32_t i = 0; i < VKT__MAX_BINDINGS; i++) {
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    }
    VkDescriptorSetLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = VKT__MAX_BINDINGS,
        .pBindings = b,
    };
    VkResult r = dev->vk.vkCreateDescriptorSetLayout(dev->device, &lci, NULL, &dev->set_layout);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateDescriptorSetLayout");
    }
    VkDescriptorSetLayoutBinding tb[VKT__MAX_TEXELS];
    for (uint32_t i = 0; i < VKT__MAX_TEXELS; i++) {
        tb[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    }
    lci.bindingCount = VKT__MAX_TEXELS;
    lci.pBindings = tb;
    r = dev->vk.vkCreateDescriptorSetLayout(dev->device, &lci, NULL, &dev->texel_layout);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreateDescriptorSetLayout (texels)");
    }
    VkDescriptorSetLayout sets[2] = {dev->set_layout, dev->texel_layout};
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VKT__PUSH_MAX};
    VkPipelineLayoutCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 2,
        .pSetLayouts = sets,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pcr,
    };
    r = dev->vk.vkCreatePipelineLayout(dev->device, &pci, NULL, &dev->pipeline_layout);
    if (r != VK_SUCCESS) {
        return vkt__vk_error(r, "vkCreatePipelineLayout");
    }
    return VKT_OK;
}

void vkt__pipelines_finish(vkt_device *dev)
{
    for (uint32_t i = 0; i < dev->pipeline_count; i++) {
        dev->vk.vkDestroyPipeline(dev->device, dev->pipelines[i].pipeline, NULL);
    }
    free(dev->pipelines);
    dev->pipelines = NULL;
    dev->pipeline_count = 0;
    for (int i = 0; i < VKT__SHADER_COUNT; i++) {
        if (dev->modules[i]) {
            dev->vk.vkDestroyShaderModule(dev->device, dev->modules[i], NULL);
            dev->modules[i] = VK_NULL_HANDLE;
        }
    }
    if (dev->pipeline_layout) {
        dev->vk.vkDestroyPipelineLayout(dev->device, dev->pipeline_layout, NULL);
    }
    if (dev->set_layout) {
        dev->vk.vkDestroyDescriptorSetLayout(dev->device, dev->set_layout, NULL);
    }
    if (dev->texel_layout) {
        dev->vk.vkDestroyDescriptorSetLayout(dev->device, dev->texel_layout, NULL);
    }
}

vkt_status vkt__pipeline_get(vkt_device *dev, vkt__shader_id shader, const uint32_t *spec,
                             uint32_t spec_count, VkPipeline *out)
{
    VKT__ASSERT(shader < VKT__SHADER_COUNT && spec_count <= VKT__MAX_SPEC);
    for (uint32_t i = 0; i < dev->pipeline_count; i++) {
        vkt__pipeline *p = &dev->pipelines[i];
        if (p->shader == shader && p->spec_count == spec_count &&
            memcmp(p->spec, spec, spec_count * sizeof *spec) == 0) {
            *out = p->pipeline;
            return VKT_OK;
        }
    }
    const vkt__shader *sh = &vkt__shaders[shader];
    double t0 = dev->prof.on ? vkt__now() : 0.0;
    if (!dev->modules[shader]) {
        VkShaderModuleCreateInfo mci = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = sh->size,
            .pCode = sh->code,
        };
        VkResult r = dev->vk.vkCreateShaderModule(dev->device, &mci, NULL, &dev->modules[shader]);
        if (r != VK_SUCCESS) {
            vkt__vk_error(r, "vkCreateShaderModule");
            return vkt__error_context("shader %s", sh->name);
        }
    }
    if (spec_count > 0 && spec[0] > dev->info.max_workgroup_invocations) {
        return vkt__error(VKT_UNSUPPORTED, "shader %s: workgroup size %u exceeds the device's %u",
                          sh->name, spec[0], dev->info.max_workgroup_invocations);
    }
    VkSpecializationMapEntry entries[VKT__MAX_SPEC];
    for (uint32_t i = 0; i < spec_count; i++) {
        entries[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    }
    VkSpecializationInfo si = {
        .mapEntryCount = spec_count,
        .pMapEntries = entries,
        .dataSize = spec_count * 4,
        .pData = spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage =
            {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = dev->modules[shader],
                .pName = "main",
                .pSpecializationInfo = spec_count ? &si : NULL,
            },
        .layout = dev->pipeline_layout,
    };
    if (!vkt__grow((void **)&dev->pipelines, &dev->pipeline_cap, dev->pipeline_count + 1,
                   sizeof *dev->pipelines)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for pipelines");
    }
    vkt__pipeline *p = &dev->pipelines[dev->pipeline_count];
    memset(p, 0, sizeof *p);
    VkResult r =
        dev->vk.vkCreateComputePipelines(dev->device, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipeline);
    if (r != VK_SUCCESS) {
        vkt__vk_error(r, "vkCreateComputePipelines");
        return vkt__error_context("shader %s", sh->name);
    }
    p->shader = shader;
    p->spec_count = spec_count;
    memcpy(p->spec, spec, spec_count * sizeof *spec);
    dev->pipeline_count++;
    dev->stats.pipelines_created++;
    if (dev->prof.on) {
        dev->prof.compile_s += vkt__now() - t0;
    }
    *out = p->pipeline;
    return VKT_OK;
}
