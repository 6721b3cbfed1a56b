// pow.glsl — torch.pow for f32 in GLSL, whose pow() is undefined for x < 0 and for x = 0, y <= 0.
// Included by elementwise.comp (pow by a scalar) and broadcast.comp (tensor exponent).
//   y == 0                 -> 1 (also for x = NaN, as torch)
//   integral |y| <= 64     -> binary powering in f32 (a few roundings; exact for small squares),
//                             the reciprocal for y < 0 (x = 0 gives +-inf)
//   otherwise x > 0        -> pow(x, y); x == 0 -> 0 (y > 0) or inf (y < 0); x < 0 -> NaN
float vkt_pow(float x, float y)
{
    if (y == 0.0) {
        return 1.0;
    }
    if (isnan(x) || isnan(y)) {
        return x + y;
    }
    if (y == trunc(y) && abs(y) <= 64.0) {
        uint e = uint(abs(y));
        float base = x, r = 1.0;
        while (e != 0u) {
            if ((e & 1u) != 0u) {
                r *= base;
            }
            base *= base;
            e >>= 1;
        }
        return y < 0.0 ? 1.0 / r : r;
    }
    if (x > 0.0) {
        return isinf(x) ? (y > 0.0 ? x : 0.0) : pow(x, y);
    }
    if (x == 0.0) {
        return y > 0.0 ? 0.0 : uintBitsToFloat(0x7f800000u);
    }
    if (y == trunc(y)) { // |y| > 64, integral: the sign from y's parity
        float r = isinf(x) ? (y > 0.0 ? -x : 0.0) : pow(-x, y);
        return mod(y, 2.0) == 1.0 ? -r : r;
    }
    return uintBitsToFloat(0x7fc00000u); // NaN
}
