#!/usr/bin/env python3
"""Write tests/fixtures/torch_attention.txt: scaled-dot-product attention, for vkt_attention.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_attention_fixtures.py tests/fixtures/torch_attention.txt

Debian's torch 1.13 has no F.scaled_dot_product_attention, so the attention is written out as
its documentation defines it, in float64: softmax(q k^T * scale + mask) v, the causal case as the
top-left aligned lower triangle of -inf (is_causal=True). For each configuration: q, k, v, the
upstream weights r, the mask (when there is one), the scale (0: the default 1/sqrt(D)), the causal
flag, the output and the autograd gradients of sum(out * r) in q, k and v. No dropout: vkt's
Philox stream is not torch's generator (tests/test_attention.c rebuilds its mask instead).
Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import math
import sys

import torch

from torch_fixture_io import write_tensor

CONFIGS = [
    # name, (B, H, Tq, Tk, D), causal, mask, scale (0: default)
    ("basic", (2, 3, 5, 7, 8), False, False, 0.0),
    ("causal", (1, 2, 9, 9, 16), True, False, 0.0),
    ("mask", (2, 1, 4, 6, 3), False, True, 0.3),
    ("causal_mask_d65", (1, 1, 9, 9, 65), True, True, 0.0),
    ("long_d32", (1, 1, 40, 40, 32), True, False, 0.0),  # past one 16-query block
    ("d160", (1, 1, 3, 3, 160), True, False, 0.0),       # the unfused path
]


def attention(q, k, v, causal, mask, scale):
    s = q @ k.transpose(-2, -1) * scale
    tq, tk = s.shape[-2], s.shape[-1]
    if causal:
        tri = torch.ones(tq, tk, dtype=torch.bool).tril()
        s = s.masked_fill(~tri, float("-inf"))
    if mask is not None:
        s = s + mask
    return torch.softmax(s, dim=-1) @ v


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_attention.txt"
    g = torch.Generator().manual_seed(11)
    with open(out, "w") as f:
        f.write("# PyTorch %s fixtures for tests/test_attention.c; made by "
                "tools/make_torch_attention_fixtures.py\n" % torch.__version__)
        for name, (b, h, tq, tk, d), causal, has_mask, scale in CONFIGS:
            q = (torch.rand(b, h, tq, d, generator=g) * 2 - 1).to(torch.float32)
            k = (torch.rand(b, h, tk, d, generator=g) * 2 - 1).to(torch.float32)
            v = (torch.rand(b, h, tk, d, generator=g) * 2 - 1).to(torch.float32)
            r = (torch.rand(b, h, tq, d, generator=g) * 2 - 1).to(torch.float32)
            mask = None
            if has_mask:
                mask = (torch.rand(tq, tk, generator=g) * 2 - 1).to(torch.float32)
                drop = torch.rand(tq, tk, generator=g) < 0.2
                drop[:, 0] = False  # never a whole row
                mask = mask.masked_fill(drop, float("-inf"))
            write_tensor(f, name + "/q", q)
            write_tensor(f, name + "/k", k)
            write_tensor(f, name + "/v", v)
            write_tensor(f, name + "/r", r)
            if mask is not None:
                write_tensor(f, name + "/mask", mask)
            write_tensor(f, name + "/scale", torch.tensor([scale]))
            write_tensor(f, name + "/causal", torch.tensor([1.0 if causal else 0.0]))
            q64, k64, v64 = (t.to(torch.float64).requires_grad_(True) for t in (q, k, v))
            y = attention(q64, k64, v64, causal, None if mask is None else mask.to(torch.float64),
                          scale if scale != 0.0 else 1.0 / math.sqrt(d))
            (y * r.to(torch.float64)).sum().backward()
            write_tensor(f, name + "/out", y)
            write_tensor(f, name + "/dq", q64.grad)
            write_tensor(f, name + "/dk", k64.grad)
            write_tensor(f, name + "/dv", v64.grad)


if __name__ == "__main__":
    main()
