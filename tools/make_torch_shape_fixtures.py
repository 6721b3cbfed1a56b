#!/usr/bin/env python3
"""Write tests/fixtures/torch_shape.txt: PyTorch's softmax, log_softmax, var and std along
several dimensions, with their gradients, for tests/test_shape.c to match (1e-4 relative).

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_shape_fixtures.py tests/fixtures/torch_shape.txt

For every case: x (torch.manual_seed(0), normal, scaled by 3 so softmax is far from uniform), the
op's output y, fixed weights w and dx = d(sum(y * w))/dx. var is reduced without keepdim, std with
keepdim (as tests/test_shape.c calls them). Format, one record per case:

    case <op> <dim> <correction> <ndim> <dim0> ... <dim{ndim-1}>
    <x values> y <numel of y> <y values> <w values> <dx values>     (%.9g, whitespace separated)
"""
import sys

import torch

CASES = [
    # op, shape, dim, correction
    ("softmax", (4, 7), 1, 0),
    ("softmax", (4, 7), 0, 0),
    ("softmax", (3, 5, 65), -1, 0),
    ("softmax", (3, 5, 6), 1, 0),
    ("softmax", (2, 3, 4, 5), 0, 0),
    ("log_softmax", (4, 7), 1, 0),
    ("log_softmax", (3, 65, 3), 1, 0),
    ("log_softmax", (2, 3, 4, 5), 2, 0),
    ("log_softmax", (1000,), 0, 0),
    ("var", (4, 7), 1, 1),
    ("var", (63, 5), 0, 1),
    ("var", (3, 4, 5), 2, 0),
    ("var", (2, 3, 4, 5), 1, 2),
    ("std", (4, 7), 1, 1),
    ("std", (3, 65, 3), 1, 1),
    ("std", (2, 3, 4, 5), 3, 0),
]


def fmt(t):
    return " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist())


def main():
    torch.manual_seed(0)
    out = []
    for op, shape, dim, corr in CASES:
        x = (torch.randn(*shape, dtype=torch.float64) * 3).float().requires_grad_(True)
        if op == "softmax":
            y = torch.softmax(x, dim)
        elif op == "log_softmax":
            y = torch.log_softmax(x, dim)
        elif op == "var":
            y = torch.var(x, dim, correction=corr)
        else:
            y = torch.std(x, dim, correction=corr, keepdim=True)
        w = torch.rand(y.shape) * 2 - 1
        (y * w).sum().backward()
        out.append("case %s %d %g %d %s" % (op, dim, corr, len(shape),
                                            " ".join(str(s) for s in shape)))
        out.append(fmt(x))
        out.append("y %d" % y.numel())
        out.append(fmt(y))
        out.append(fmt(w))
        out.append(fmt(x.grad))
    with open(sys.argv[1], "w") as f:
        f.write("# made by tools/make_torch_shape_fixtures.py with torch %s\n" % torch.__version__)
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
