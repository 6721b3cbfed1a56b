// pool2d.glsl — the push-constant block and window arithmetic shared by pool2d.comp and
// pool2d_backward.comp; the C twin of the block is vkt__pc_pool in src/ops/pool.c. Windows follow
// torch (aten/src/ATen/native/cpu kernels' formulas, restated here):
//   max / avg:  start = o * s - p, end = min(start + k, in + p); the divisor with padding counted
//               is (end - start) per axis before clipping to [0, in); clipped otherwise
//   adaptive:   start = floor(o * in / out), end = ceil((o + 1) * in / out)
//   upsample:   y[o] = x[o / s]

layout(push_constant) uniform PC {
    uint planes; // N * C
    uint h;      // input plane
    uint w;
    uint oh;     // output plane
    uint ow;
    uint kh;     // kernel (max, avg); scale factors are sh, sw (upsample)
    uint kw;
    uint sh;
    uint sw;
    uint ph;
    uint pw;
    uint exclude_pad; // avg: divide by the window's size inside the input only
    uint accumulate;  // backward: dx += the gradient
} pc;

// Window [lo, hi) of output index o on one axis, clipped to [0, n); `full` is its size with the
// padding counted (max, avg).
void pool_window(uint o, uint k, uint s, uint p, uint n, out int lo, out int hi, out int full)
{
    int start = int(o * s) - int(p);
    int end = min(start + int(k), int(n + p));
    full = end - start;
    lo = max(start, 0);
    hi = min(end, int(n));
}

void adaptive_window(uint o, uint n, uint on, out int lo, out int hi)
{
    lo = int((o * n) / on);
    hi = int(((o + 1u) * n + on - 1u) / on);
}

// Average pooling's divisor of output (oy, ox).
float avg_divisor(uint oy, uint ox)
{
    int y0, y1, fy, x0, x1, fx;
    pool_window(oy, pc.kh, pc.sh, pc.ph, pc.h, y0, y1, fy);
    pool_window(ox, pc.kw, pc.sw, pc.pw, pc.w, x0, x1, fx);
    return pc.exclude_pad != 0u ? float((y1 - y0) * (x1 - x0)) : float(fy * fx);
}
