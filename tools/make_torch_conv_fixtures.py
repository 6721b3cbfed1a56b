#!/usr/bin/env python3
"""Write tests/fixtures/torch_conv.txt: PyTorch's conv2d and pooling, for vkt's to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_conv_fixtures.py tests/fixtures/torch_conv.txt

For each configuration: the parameters (<cfg>/params, as numbers), the input x, the weight and
bias (conv2d), an upstream gradient g, the output y and the gradients of sum(y * g): dx, and
dweight / dbias for conv2d. Parameters per op:
    conv2d               stride h, w, padding h, w, dilation h, w, groups
    max_pool2d           kernel h, w, stride h, w, padding h, w
    avg_pool2d           kernel h, w, stride h, w, padding h, w, count_include_pad
    adaptive_avg_pool2d  output h, w
    upsample_nearest2d   scale h, w
Format, one record per tensor (as tools/make_torch_norm_fixtures.py):

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import sys

import torch
import torch.nn.functional as F

from torch_fixture_io import write_tensor

CONV = [
    # name, x shape, weight shape, bias, stride, padding, dilation, groups
    ("conv_basic", (2, 3, 7, 6), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    ("conv_strided", (3, 4, 9, 8), (6, 2, 3, 2), True, (2, 1), (1, 2), (2, 1), 2),
    ("conv_depthwise", (2, 5, 6, 6), (5, 1, 3, 3), False, (2, 2), (1, 1), (1, 1), 5),
    ("conv_1x1", (1, 3, 4, 5), (1, 3, 1, 1), False, (1, 1), (0, 0), (1, 1), 1),
]

POOL = [
    # name, op, x shape, params
    ("max_3x3", "max_pool2d", (2, 3, 7, 9), (3, 3, 2, 2, 1, 1)),
    ("max_2x2", "max_pool2d", (2, 2, 8, 6), (2, 2, 2, 2, 0, 0)),
    ("avg_3x3", "avg_pool2d", (2, 3, 7, 9), (3, 3, 2, 2, 1, 1, 1)),
    ("avg_3x2_excl", "avg_pool2d", (2, 3, 7, 9), (3, 2, 2, 1, 1, 1, 0)),
    ("adaptive_down", "adaptive_avg_pool2d", (2, 3, 7, 9), (3, 4)),
    ("adaptive_up", "adaptive_avg_pool2d", (1, 2, 3, 3), (5, 4)),
    ("upsample", "upsample_nearest2d", (2, 2, 3, 4), (2, 3)),
]


def pool(op, x, p):
    if op == "max_pool2d":
        return F.max_pool2d(x, p[0:2], p[2:4], p[4:6])
    if op == "avg_pool2d":
        return F.avg_pool2d(x, p[0:2], p[2:4], p[4:6], count_include_pad=bool(p[6]))
    if op == "adaptive_avg_pool2d":
        return F.adaptive_avg_pool2d(x, p)
    return F.interpolate(x, scale_factor=p, mode="nearest")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_conv.txt"
    g = torch.Generator().manual_seed(5)

    def rand(shape):
        return torch.rand(shape, generator=g) * 2 - 1

    with open(out, "w") as f:
        f.write("# PyTorch %s fixtures for tests/test_conv.c; made by "
                "tools/make_torch_conv_fixtures.py\n" % torch.__version__)
        for name, xs, ws, has_bias, stride, padding, dilation, groups in CONV:
            x = rand(xs).requires_grad_(True)
            w = rand(ws).requires_grad_(True)
            b = rand(ws[0]).requires_grad_(True) if has_bias else None
            y = F.conv2d(x, w, b, stride, padding, dilation, groups)
            gy = rand(tuple(y.shape))
            (y * gy).sum().backward()
            write_tensor(f, name + "/params",
                  torch.tensor(list(stride) + list(padding) + list(dilation) + [groups]))
            write_tensor(f, name + "/x", x)
            write_tensor(f, name + "/weight", w)
            if has_bias:
                write_tensor(f, name + "/bias", b)
            write_tensor(f, name + "/g", gy)
            write_tensor(f, name + "/y", y)
            write_tensor(f, name + "/dx", x.grad)
            write_tensor(f, name + "/dweight", w.grad)
            if has_bias:
                write_tensor(f, name + "/dbias", b.grad)
        for name, op, xs, p in POOL:
            x = rand(xs).requires_grad_(True)
            y = pool(op, x, p)
            gy = rand(tuple(y.shape))
            (y * gy).sum().backward()
            write_tensor(f, name + "/params", torch.tensor(p))
            write_tensor(f, name + "/x", x)
            write_tensor(f, name + "/g", gy)
            write_tensor(f, name + "/y", y)
            write_tensor(f, name + "/dx", x.grad)


if __name__ == "__main__":
    main()
