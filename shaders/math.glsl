// math.glsl — functions GLSL lacks or leaves undefined where torch defines them; included by
// elementwise.comp. CPU references: src/ref/ref_elementwise.c (libm in double).

float vkt_inf()
{
    return uintBitsToFloat(0x7f800000u);
}

float vkt_nan()
{
    return uintBitsToFloat(0x7fc00000u);
}

// log(1 + x). Near 0 (1 + x in [1/sqrt 2, sqrt 2]) from 2 atanh(s), s = x / (2 + x), by its
// series to s^13 (|s| < 0.172: truncation below 1e-11 relative), so small x keep full relative
// precision even where a device's log is only accurate to the absolute 2^-21 Vulkan demands
// inside [0.5, 2]; elsewhere log(1 + x), which is then >= 0.34 in magnitude.
float vkt_log1p(float x)
{
    if (x > -0.29289322 && x < 0.41421356) {
        float s = x / (2.0 + x), s2 = s * s;
        float p = 1.0 / 13.0;
        p = p * s2 + 1.0 / 11.0;
        p = p * s2 + 1.0 / 9.0;
        p = p * s2 + 1.0 / 7.0;
        p = p * s2 + 1.0 / 5.0;
        p = p * s2 + 1.0 / 3.0;
        return 2.0 * (s + s * s2 * p);
    }
    if (x == -1.0) {
        return -vkt_inf();
    }
    return x < -1.0 ? vkt_nan() : log(1.0 + x);
}

// exp(x) - 1 without the cancellation near 0: Taylor to x^9 for |x| < 0.5 (truncation
// 0.5^10 / 10! = 2.7e-10 relative), else exp(x) - 1.
float vkt_expm1(float x)
{
    if (abs(x) < 0.5) {
        float p = 1.0 / 362880.0;
        p = p * x + 1.0 / 40320.0;
        p = p * x + 1.0 / 5040.0;
        p = p * x + 1.0 / 720.0;
        p = p * x + 1.0 / 120.0;
        p = p * x + 1.0 / 24.0;
        p = p * x + 1.0 / 6.0;
        p = p * x + 0.5;
        return x + x * x * p;
    }
    return exp(x) - 1.0;
}

// 1 / (1 + exp(-x)), evaluated so that exp never overflows (exp of -|x| only).
float vkt_sigmoid(float x)
{
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    float e = exp(x);
    return e / (1.0 + e);
}

// erf and erfc in f32, from Cephes Math Library 2.2 (S. L. Moshier), single precision erff.c /
// erfcf.c: erf(x) = x T(x^2) for |x| <= 1; erfc(x) = exp(-x^2) / x * P(1/x^2) for 1 < x < 2 and
// R(1/x^2) for x >= 2 (coefficients highest power first, as Cephes' polevlf). Against libm's
// double erf: below 1e-6 relative; erfc, used for Phi's lower tail: about 1e-6 relative,
// measured 2e-6 at erfc(6) (tests/test_elementwise.c, gelu_erf_is_precise).
float vkt_erf_small(float x) // |x| <= 1
{
    float z = x * x;
    float p = 7.853861353153693E-5;
    p = p * z - 8.010193625184903E-4;
    p = p * z + 5.188327685732524E-3;
    p = p * z - 2.685381193529856E-2;
    p = p * z + 1.128358514861418E-1;
    p = p * z - 3.761262582423300E-1;
    p = p * z + 1.128379165726710E+0;
    return x * p;
}

// erfc(x) for x > 1, given e = exp(-x^2) (the caller may have it more precisely than exp(-x * x))
float vkt_erfc_large(float x, float e)
{
    if (x > 10.0) {
        return 0.0; // erfc(10) = 2e-45: below the smallest f32
    }
    float q = 1.0 / x, y = q * q, p;
    if (x < 2.0) {
        p = 2.326819970068386E-2;
        p = p * y - 1.387039388740657E-1;
        p = p * y + 3.687424674597105E-1;
        p = p * y - 5.824733027278666E-1;
        p = p * y + 6.210004621745983E-1;
        p = p * y - 4.944515323274145E-1;
        p = p * y + 3.404879937665872E-1;
        p = p * y - 2.741127028184656E-1;
        p = p * y + 5.638259427386472E-1;
    } else {
        p = -1.047766399936249E+1;
        p = p * y + 1.297719955372516E+1;
        p = p * y - 7.495518717768503E+0;
        p = p * y + 2.921019019210786E+0;
        p = p * y - 1.015265279202700E+0;
        p = p * y + 4.218463358204948E-1;
        p = p * y - 2.820767439740514E-1;
        p = p * y + 5.641895067754075E-1;
    }
    return e * q * p;
}

// exp(-x^2 / 2) without the rounding of x^2, which costs 2^-24 x^2 relative (5e-6 at x = 9): x is
// split into a 12-bit head h, whose square is exact, and a tail t: x^2 = h^2 + t (h + x).
float vkt_exp_neg_half_sq(float x)
{
    float h = uintBitsToFloat(floatBitsToUint(x) & 0xFFFFF000u);
    float t = x - h;
    return exp(-0.5 * h * h) * exp(-0.5 * t * (h + x));
}

float vkt_erf(float x)
{
    float a = abs(x);
    if (a <= 1.0 || isnan(x)) {
        return vkt_erf_small(x);
    }
    float r = 1.0 - vkt_erfc_large(a, exp(-a * a));
    return x < 0.0 ? -r : r;
}

// Phi(x) = P(N(0, 1) <= x) = (1 + erf(x / sqrt 2)) / 2, from erfc where that sum would cancel,
// with exp(-z^2) = exp(-x^2 / 2) from x itself (z = x / sqrt 2 is rounded).
float vkt_normal_cdf(float x)
{
    float z = x * 0.70710678118654752;
    if (z < -1.0) {
        return 0.5 * vkt_erfc_large(-z, vkt_exp_neg_half_sq(x));
    }
    return 0.5 * (1.0 + vkt_erf(z));
}
