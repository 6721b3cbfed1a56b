/*
 * init.c — torch.nn.init's rules on the host: constant, uniform, normal, Xavier and Kaiming
 * initialisation, drawn from the library's splitmix64 generator (vkt__rng).
 * Used by vkt_model_build (src/nn/model.c) for every parameter and buffer.
 * Test: tests/test_params.c (init_statistics).
 */
#include <math.h>

#include "nn/nn_internal.h"

vkt_init vkt_init_zeros(void) { return (vkt_init){.type = VKT_INIT_ZEROS}; }
vkt_init vkt_init_ones(void) { return (vkt_init){.type = VKT_INIT_ONES}; }
vkt_init vkt_init_constant(float v) { return (vkt_init){.type = VKT_INIT_CONSTANT, .a = v}; }
vkt_init vkt_init_uniform(float a, float b)
{
    return (vkt_init){.type = VKT_INIT_UNIFORM, .a = a, .b = b};
}
vkt_init vkt_init_normal(float mean, float std)
{
    return (vkt_init){.type = VKT_INIT_NORMAL, .a = mean, .b = std};
}
vkt_init vkt_init_xavier_uniform(float gain)
{
    return (vkt_init){.type = VKT_INIT_XAVIER_UNIFORM, .gain = gain};
}
vkt_init vkt_init_xavier_normal(float gain)
{
    return (vkt_init){.type = VKT_INIT_XAVIER_NORMAL, .gain = gain};
}
vkt_init vkt_init_kaiming_uniform(float a, vkt_fan_mode mode, vkt_nonlinearity nl)
{
    return (vkt_init){.type = VKT_INIT_KAIMING_UNIFORM, .a = a, .mode = mode, .nonlinearity = nl};
}
vkt_init vkt_init_kaiming_normal(float a, vkt_fan_mode mode, vkt_nonlinearity nl)
{
    return (vkt_init){.type = VKT_INIT_KAIMING_NORMAL, .a = a, .mode = mode, .nonlinearity = nl};
}

float vkt_init_gain(vkt_nonlinearity nl, float param)
{
    switch (nl) {
    case VKT_NONLIN_RELU:
        return sqrtf(2.0f);
    case VKT_NONLIN_LEAKY_RELU:
        return sqrtf(2.0f / (1.0f + param * param));
    case VKT_NONLIN_TANH:
        return 5.0f / 3.0f;
    default:
        return 1.0f;
    }
}

/* Box-Muller; 1 - u keeps the logarithm finite. */
static double normal01(vkt__rng *r)
{
    double u1 = 1.0 - vkt__rng_uniform(r), u2 = vkt__rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

vkt_status vkt__init_check(const vkt_init *in, int ndim, const char *fn, const char *name)
{
    bool fans = in->type >= VKT_INIT_XAVIER_UNIFORM && in->type <= VKT_INIT_KAIMING_NORMAL;
    if ((unsigned)in->type > VKT_INIT_KAIMING_NORMAL ||
        (unsigned)in->nonlinearity > VKT_NONLIN_SIGMOID || (unsigned)in->mode > VKT_FAN_OUT) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\": unknown init %d (nonlinearity %d, "
                                                "mode %d)",
                          fn, name, (int)in->type, (int)in->nonlinearity, (int)in->mode);
    }
    if (fans && ndim < 2) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\": fan in and fan out can not be "
                                                "computed for a tensor of %d dimension%s (xavier "
                                                "and kaiming need 2 or more)",
                          fn, name, ndim, ndim == 1 ? "" : "s");
    }
    if ((in->type == VKT_INIT_UNIFORM && !(in->a <= in->b)) ||
        (in->type == VKT_INIT_NORMAL && !(in->b >= 0.0f))) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\": %s(%g, %g) is not a distribution",
                          fn, name, in->type == VKT_INIT_UNIFORM ? "uniform" : "normal",
                          (double)in->a, (double)in->b);
    }
    return VKT_OK;
}

vkt_status vkt_init_fill(const vkt_init *init, int ndim, const int64_t *shape, uint64_t *seed,
                         float *out)
{
    vkt_init z = {0};
    const vkt_init *in = init ? init : &z;
    if (ndim < 0 || ndim > VKT_MAX_DIMS || (ndim > 0 && !shape) || !seed || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_init_fill: need 0 to %d dimensions, a seed "
                                                "and an output",
                          VKT_MAX_DIMS);
    }
    vkt_status s = vkt__init_check(in, ndim, "vkt_init_fill", "tensor");
    if (s != VKT_OK) {
        return s;
    }
    int64_t n = 1, receptive = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
        receptive *= i >= 2 ? shape[i] : 1;
    }
    bool fans = in->type >= VKT_INIT_XAVIER_UNIFORM && in->type <= VKT_INIT_KAIMING_NORMAL;
    double fan_in = fans ? (double)shape[1] * (double)receptive : 0.0;
    double fan_out = fans ? (double)shape[0] * (double)receptive : 0.0;
    double gain = VKT__DEF(in->gain, 1.0f);
    double fan = in->mode == VKT_FAN_OUT ? fan_out : fan_in;
    double kgain = vkt_init_gain(in->nonlinearity, in->a);
    /* uniform(lo, hi) as mid + (2u - 1)·half: for a symmetric range this is (2u - 1)·bound,
     * exactly what vkt drew before these helpers existed */
    double mid = 0.0, half = 0.0, mean = 0.0, std = 0.0;
    bool uniform = true;
    switch (in->type) {
    case VKT_INIT_ZEROS:
    case VKT_INIT_ONES:
    case VKT_INIT_CONSTANT: {
        float v = in->type == VKT_INIT_ZEROS ? 0.0f : in->type == VKT_INIT_ONES ? 1.0f : in->a;
        for (int64_t i = 0; i < n; i++) {
            out[i] = v;
        }
        return VKT_OK;
    }
    case VKT_INIT_UNIFORM:
        mid = ((double)in->a + in->b) / 2.0;
        half = ((double)in->b - in->a) / 2.0;
        break;
    case VKT_INIT_NORMAL:
        uniform = false;
        mean = in->a;
        std = in->b;
        break;
    case VKT_INIT_XAVIER_UNIFORM:
        half = gain * sqrt(6.0 / (fan_in + fan_out));
        break;
    case VKT_INIT_XAVIER_NORMAL:
        uniform = false;
        std = gain * sqrt(2.0 / (fan_in + fan_out));
        break;
    case VKT_INIT_KAIMING_UNIFORM:
        half = kgain * sqrt(3.0 / fan);
        break;
    case VKT_INIT_KAIMING_NORMAL:
        uniform = false;
        std = kgain / sqrt(fan);
        break;
    default:
        break;
    }
    vkt__rng r = {*seed};
    for (int64_t i = 0; i < n; i++) {
        out[i] = uniform ? (float)(mid + (2.0 * vkt__rng_uniform(&r) - 1.0) * half)
                         : (float)(mean + std * normal01(&r));
    }
    *seed = r.state;
    return VKT_OK;
}
