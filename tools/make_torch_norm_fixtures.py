#!/usr/bin/env python3
"""Write tests/fixtures/torch_norm.txt: PyTorch's batch norm, layer norm and RMSNorm, for
vkt_batch_norm, vkt_layer_norm and vkt_rms_norm to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_norm_fixtures.py tests/fixtures/torch_norm.txt

For each configuration (BatchNorm1d on (N, C), BatchNorm1d on (N, C, L), BatchNorm2d on
(N, C, H, W); affine or not; default or other momentum and eps): weight and bias (when affine),
three training batches and an upstream gradient per step, and for each training step the output y,
the gradients of sum(y * g) (dx, and dweight / dbias when affine), the running statistics and
num_batches_tracked after the step; then eval mode on the first batch with the final running
statistics: y and its gradients.

Then for each layer-norm / RMSNorm configuration (2-D and 3-D (B, T, C) inputs; with and without
weight and bias; other eps; C = 1; constant rows, whose variance is 0): x, the upstream gradient
g, weight and bias when given, eps, and y with the gradients of sum(y * g): dx, dweight, dbias.
Layer norm is torch.nn.functional.layer_norm and, as Debian's torch 1.13 has no rms_norm, RMSNorm
is composed by hand, x * rsqrt(mean(x^2) + eps) * weight; both run in float64 on the float32
inputs and the results are cast to float32, because torch's own float32 kernel is off by more
than the test's 1e-4 where rstd is large (C = 1 or constant rows: rstd = 1 / sqrt(eps) ~ 316, and
it forms x * rstd - mean * rstd, whose rounding then shows in y). These draw from the generator after the batch-norm ones, so adding a configuration
here leaves the records above unchanged. Dropout is not here: vkt's Philox stream is not torch's generator,
so tests/test_norm.c checks its statistics instead. Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_fixture_io import write_tensor

STEPS = 3

CONFIGS = [
    # name, module factory, input shape, input offset
    ("bn1d", lambda: nn.BatchNorm1d(4), (6, 4), 0.0),
    ("bn1d_len", lambda: nn.BatchNorm1d(3, momentum=0.3, eps=1e-3, affine=False), (2, 3, 5), 0.0),
    ("bn2d", lambda: nn.BatchNorm2d(3), (4, 3, 5, 5), 2.0),
    ("bn2d_c1", lambda: nn.BatchNorm2d(1, momentum=0.5), (2, 1, 7, 7), 0.0),
]


# name, input shape, rms, weight, bias, eps (None: the op's default), input offset, constant rows
LN_CONFIGS = [
    ("ln_2d", (5, 7), False, True, True, None, 0.0, False),
    ("ln_btc", (2, 3, 65), False, True, True, 1e-3, 0.0, False),
    ("ln_no_affine", (4, 63), False, False, False, None, 0.0, False),
    ("ln_weight_only", (3, 1000), False, True, False, None, 3.0, False),
    ("ln_c1", (6, 1), False, True, True, None, 0.0, False),
    ("ln_const", (4, 8), False, True, True, None, 0.0, True),
    ("rms_2d", (5, 7), True, True, False, None, 0.0, False),
    ("rms_btc", (2, 3, 65), True, True, False, 1e-5, 0.5, False),
    ("rms_no_weight", (4, 63), True, False, False, None, 0.0, False),
    ("rms_const", (3, 8), True, True, False, None, 0.0, True),
]


def rms_norm(x, w, eps):
    y = x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
    return y * w if w is not None else y


def layer_norm_case(f, g, name, shape, rms, has_w, has_b, eps, offset, const):
    c = shape[-1]
    if const:
        # rows of one value each, exact in binary (mean and x - mean are then exact)
        x = (torch.arange(shape[0], dtype=torch.float32) * 0.25 - 0.5).reshape(-1, 1).expand(
            shape).contiguous()
    else:
        x = torch.rand(shape, generator=g) * 2 - 1 + offset
    dy = torch.rand(shape, generator=g) * 2 - 1
    w = torch.rand(c, generator=g) + 0.5 if has_w else None
    b = torch.rand(c, generator=g) - 0.5 if has_b else None
    e = eps if eps is not None else (1e-6 if rms else 1e-5)
    write_tensor(f, name + "/x", x)
    write_tensor(f, name + "/g", dy)
    write_tensor(f, name + "/eps", torch.tensor([eps if eps is not None else 0.0]))
    if w is not None:
        write_tensor(f, name + "/weight", w)
    if b is not None:
        write_tensor(f, name + "/bias", b)
    dt = torch.float64
    xv = x.to(dt).requires_grad_(True)
    wv = w.to(dt).requires_grad_(True) if w is not None else None
    bv = b.to(dt).requires_grad_(True) if b is not None else None
    if rms:
        y = rms_norm(xv, wv, e)
    else:
        y = F.layer_norm(xv, (c,), wv, bv, e)
    (y * dy.to(dt)).sum().backward()
    write_tensor(f, name + "/y", y)
    write_tensor(f, name + "/dx", xv.grad)
    if wv is not None:
        write_tensor(f, name + "/dweight", wv.grad)
    if bv is not None:
        write_tensor(f, name + "/dbias", bv.grad)


def step(f, prefix, m, x, g):
    x = x.clone().requires_grad_(True)
    m.zero_grad()
    y = m(x)
    (y * g).sum().backward()
    write_tensor(f, prefix + "/y", y)
    write_tensor(f, prefix + "/dx", x.grad)
    if m.affine:
        write_tensor(f, prefix + "/dweight", m.weight.grad)
        write_tensor(f, prefix + "/dbias", m.bias.grad)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_norm.txt"
    g = torch.Generator().manual_seed(3)
    with open(out, "w") as f:
        f.write("# PyTorch %s fixtures for tests/test_norm.c; made by "
                "tools/make_torch_norm_fixtures.py\n" % torch.__version__)
        for name, make, shape, offset in CONFIGS:
            m = make()
            if m.affine:
                with torch.no_grad():
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                write_tensor(f, name + "/weight", m.weight)
                write_tensor(f, name + "/bias", m.bias)
            write_tensor(f, name + "/momentum", torch.tensor([m.momentum]))
            write_tensor(f, name + "/eps", torch.tensor([m.eps]))
            xs = [torch.rand(shape, generator=g) * 2 - 1 + offset for _ in range(STEPS)]
            gs = [torch.rand(shape, generator=g) * 2 - 1 for _ in range(STEPS)]
            m.train()
            for s in range(STEPS):
                write_tensor(f, "%s/step%d/x" % (name, s), xs[s])
                write_tensor(f, "%s/step%d/g" % (name, s), gs[s])
                step(f, "%s/step%d" % (name, s), m, xs[s], gs[s])
                write_tensor(f, "%s/step%d/running_mean" % (name, s), m.running_mean)
                write_tensor(f, "%s/step%d/running_var" % (name, s), m.running_var)
                write_tensor(f, "%s/step%d/num_batches_tracked" % (name, s),
                      m.num_batches_tracked.reshape(1))
            m.eval()
            step(f, name + "/eval", m, xs[0], gs[0])
        for cfg in LN_CONFIGS:
            layer_norm_case(f, g, *cfg)


if __name__ == "__main__":
    main()
