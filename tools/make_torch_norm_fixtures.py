#!/usr/bin/env python3
"""Write tests/fixtures/torch_norm.txt: PyTorch's batch norm, for vkt_batch_norm to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_norm_fixtures.py tests/fixtures/torch_norm.txt

For each configuration (BatchNorm1d on (N, C), BatchNorm1d on (N, C, L), BatchNorm2d on
(N, C, H, W); affine or not; default or other momentum and eps): weight and bias (when affine),
three training batches and an upstream gradient per step, and for each training step the output y,
the gradients of sum(y * g) (dx, and dweight / dbias when affine), the running statistics and
num_batches_tracked after the step; then eval mode on the first batch with the final running
statistics: y and its gradients. Dropout is not here: vkt's Philox stream is not torch's generator,
so tests/test_norm.c checks its statistics instead. Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import sys

import torch
import torch.nn as nn

STEPS = 3

CONFIGS = [
    # name, module factory, input shape, input offset
    ("bn1d", lambda: nn.BatchNorm1d(4), (6, 4), 0.0),
    ("bn1d_len", lambda: nn.BatchNorm1d(3, momentum=0.3, eps=1e-3, affine=False), (2, 3, 5), 0.0),
    ("bn2d", lambda: nn.BatchNorm2d(3), (4, 3, 5, 5), 2.0),
    ("bn2d_c1", lambda: nn.BatchNorm2d(1, momentum=0.5), (2, 1, 7, 7), 0.0),
]


def write(f, name, t):
    t = t.detach().to(torch.float32).contiguous()
    dims = list(t.shape)
    f.write("tensor %s %d %s\n" % (name, len(dims), " ".join(str(d) for d in dims)))
    vals = t.flatten().tolist()
    for i in range(0, len(vals), 8):
        f.write(" ".join("%.9g" % v for v in vals[i:i + 8]) + "\n")


def step(f, prefix, m, x, g):
    x = x.clone().requires_grad_(True)
    m.zero_grad()
    y = m(x)
    (y * g).sum().backward()
    write(f, prefix + "/y", y)
    write(f, prefix + "/dx", x.grad)
    if m.affine:
        write(f, prefix + "/dweight", m.weight.grad)
        write(f, prefix + "/dbias", m.bias.grad)


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
                write(f, name + "/weight", m.weight)
                write(f, name + "/bias", m.bias)
            write(f, name + "/momentum", torch.tensor([m.momentum]))
            write(f, name + "/eps", torch.tensor([m.eps]))
            xs = [torch.rand(shape, generator=g) * 2 - 1 + offset for _ in range(STEPS)]
            gs = [torch.rand(shape, generator=g) * 2 - 1 for _ in range(STEPS)]
            m.train()
            for s in range(STEPS):
                write(f, "%s/step%d/x" % (name, s), xs[s])
                write(f, "%s/step%d/g" % (name, s), gs[s])
                step(f, "%s/step%d" % (name, s), m, xs[s], gs[s])
                write(f, "%s/step%d/running_mean" % (name, s), m.running_mean)
                write(f, "%s/step%d/running_var" % (name, s), m.running_var)
                write(f, "%s/step%d/num_batches_tracked" % (name, s),
                      m.num_batches_tracked.reshape(1))
            m.eval()
            step(f, name + "/eval", m, xs[0], gs[0])


if __name__ == "__main__":
    main()
