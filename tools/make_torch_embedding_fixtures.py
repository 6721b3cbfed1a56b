#!/usr/bin/env python3
"""Write tests/fixtures/torch_embedding.txt: PyTorch's embedding, for vkt_embedding to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_embedding_fixtures.py tests/fixtures/torch_embedding.txt

For each case: the weight (V, D), the indices (any shape, with repeats; written as floats, exact
below 2^24), a fixed R of the output's shape, the output F.embedding(indices, weight) and the
weight's gradient of sum(out * R), computed in float64 from the float32 inputs and rounded. Format, one record per tensor (tests/test_util.h):

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import sys

import torch
import torch.nn.functional as F

from torch_fixture_io import write_tensor

CASES = [
    # name, V, D, indices shape, indices drawn from [0, hi)
    ("small", 10, 4, (3,), 10),
    ("rep2d", 65, 63, (4, 7), 9),
    ("rep3d", 3, 5, (2, 3, 5), 3),
    ("runs", 50, 8, (600,), 4),  # runs of ~150 across the backward's 256-position chunks
    ("wide", 7, 128, (2, 9), 5),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_embedding.txt"
    g = torch.Generator().manual_seed(11)
    with open(out, "w") as f:
        f.write("# PyTorch %s fixtures for tests/test_embedding.c; made by "
                "tools/make_torch_embedding_fixtures.py\n" % torch.__version__)
        for name, v, d, shape, hi in CASES:
            weight = torch.randn(v, d, generator=g)
            indices = torch.randint(0, hi, shape, generator=g)
            indices.view(-1)[-1] = indices.view(-1)[0]  # at least one repeat
            r = torch.rand(shape + (d,), generator=g) * 2 - 1
            # in float64 from the f32 values: the gradient is the exact sum rounded once, so the
            # test measures vkt's rounding alone
            weight = weight.double().requires_grad_(True)
            y = F.embedding(indices, weight)
            (y * r.double()).sum().backward()
            write_tensor(f, name + "/weight", weight)
            write_tensor(f, name + "/indices", indices)
            write_tensor(f, name + "/r", r)
            write_tensor(f, name + "/y", y)
            write_tensor(f, name + "/dweight", weight.grad)


if __name__ == "__main__":
    main()
