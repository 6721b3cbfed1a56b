#version 450
// host_app.comp — the host application's own pass in examples/host_app.c (not one of vkt's
// shaders): it "renders" frame `frame` of a scene into its image buffer and writes a batch of
// training samples of the same scene (two coordinates, and the scene's value there) into its
// sample buffer, which vkt trains on between frames.

layout(local_size_x = 64) in;

layout(push_constant) uniform Push {
    uint frame;
    uint width, height;
    uint image_offset;  // floats: the frame's slot of the image buffer
    uint batch;
    uint y_offset;      // floats: where the targets start in the sample buffer
} pc;

layout(std430, set = 0, binding = 0) writeonly buffer Image { float image[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Samples { float samples[]; };

float scene(vec2 p) { return sin(3.0 * p.x) * cos(2.0 * p.y); }

uint hash(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

void main()
{
    uint i = gl_GlobalInvocationID.x;
    if (i < pc.width * pc.height) {
        uint px = i % pc.width, py = i / pc.width;
        vec2 p = vec2(float(px) / float(pc.width - 1), float(py) / float(pc.height - 1)) * 2.0 - 1.0;
        p.x += 0.01 * float(pc.frame);  // the frame scrolls across the scene
        image[pc.image_offset + i] = scene(p);
    }
    if (i < pc.batch) {
        uint h1 = hash(pc.frame * 2654435761u + 2u * i);
        uint h2 = hash(h1 ^ 0x9e3779b9u);
        vec2 p = vec2(float(h1 >> 8), float(h2 >> 8)) / 16777216.0 * 2.0 - 1.0;
        samples[2u * i] = p.x;
        samples[2u * i + 1u] = p.y;
        samples[pc.y_offset + i] = scene(p);
    }
}
