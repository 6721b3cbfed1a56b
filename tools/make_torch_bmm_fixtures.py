#!/usr/bin/env python3
"""Write tests/fixtures/torch_bmm.txt: torch.matmul on batches, for vkt_matmul to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_bmm_fixtures.py tests/fixtures/torch_bmm.txt

For each case: the stored operands a and b, the flags (VKT_TRANS_A = 1: vkt uses a with its last
two dimensions swapped, VKT_TRANS_B = 2: the same for b), an upstream gradient g, the product
c = torch.matmul(op(a), op(b)) and the gradients of sum(c * g) with respect to a and b, as stored
(a 2-D operand shared by every batch gets torch's sum over the batches). The cases: equal batch
dimensions (3-D and attention's 4-D q·kᵀ and p·v), a shared b (x (B, T, C) · Wᵀ as nn.Linear,
and a transposed batch against a shared b), a shared a, every flag combination, and a contraction
of 100 over shapes that are not tile multiples. Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import sys

import torch

from torch_fixture_io import write_tensor

TRANS_A, TRANS_B = 1, 2

CASES = [
    # name, a shape (stored), b shape (stored), flags
    ("batched", (3, 5, 7), (3, 7, 4), 0),
    ("batched_tt", (2, 7, 5), (2, 4, 7), TRANS_A | TRANS_B),
    ("batch1_tb", (1, 6, 3), (1, 5, 3), TRANS_B),
    ("linear", (4, 6, 8), (5, 8), TRANS_B),
    ("shared_b_ta", (3, 8, 6), (8, 5), TRANS_A),
    ("shared_a", (6, 8), (3, 8, 5), 0),
    ("shared_a_tt", (8, 6), (3, 5, 8), TRANS_A | TRANS_B),
    ("attn_qk", (2, 3, 9, 4), (2, 3, 9, 4), TRANS_B),
    ("attn_pv", (2, 3, 9, 9), (2, 3, 9, 4), 0),
    ("wide", (2, 5, 100), (2, 100, 7), 0),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_bmm.txt"
    gen = torch.Generator().manual_seed(7)
    with open(out, "w") as f:
        f.write("# PyTorch %s fixtures for tests/test_matmul.c; made by "
                "tools/make_torch_bmm_fixtures.py\n" % torch.__version__)
        for name, sa, sb, flags in CASES:
            a = (torch.rand(sa, generator=gen) * 2 - 1).requires_grad_(True)
            b = (torch.rand(sb, generator=gen) * 2 - 1).requires_grad_(True)
            if name == "attn_pv":  # rows of attention probabilities
                with torch.no_grad():
                    a.copy_(torch.softmax(a * 3, dim=-1))
            op_a = a.transpose(-1, -2) if flags & TRANS_A else a
            op_b = b.transpose(-1, -2) if flags & TRANS_B else b
            c = torch.matmul(op_a, op_b)
            g = torch.rand(c.shape, generator=gen) * 2 - 1
            (c * g).sum().backward()
            write_tensor(f, name + "/a", a)
            write_tensor(f, name + "/b", b)
            write_tensor(f, name + "/flags", torch.tensor([float(flags)]))
            write_tensor(f, name + "/g", g)
            write_tensor(f, name + "/c", c)
            write_tensor(f, name + "/da", a.grad)
            write_tensor(f, name + "/db", b.grad)


if __name__ == "__main__":
    main()
