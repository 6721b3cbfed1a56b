#!/usr/bin/env python3
"""Write tests/fixtures/torch_bn{,_io}.safetensors: a PyTorch CNN's state_dict with torch's own
dtypes, for vkt to fine-tune from, and dtype conversions torch makes, for vkt's reader to match.

Run by hand (needs Debian's python3-torch); the fixtures are committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_bn_safetensors.py tests/fixtures

    nn.Sequential(Conv2d(2, 3, 3, padding=1), BatchNorm2d(3), ReLU(), Flatten(), Linear(48, 5))
    on (2, 2, 4, 4) inputs

torch_bn.safetensors     model.state_dict() exactly as safetensors.torch.save_file writes it:
                         F32 weights and running statistics, I64 1.num_batches_tracked (3: the
                         model ran three training-mode batches, so the statistics are not their
                         initial values; batch norm's affine parameters are drawn too)
torch_bn_io.safetensors  x (F32), logits: the model's eval-mode output on x (F32), and
                         f16 / f64 / bf16 tensors with what torch's .float() makes of them
                         (<name>_as_f32, F32): awkward values included (subnormals, -0, the
                         largest finite values, inf, values f32 must round)

Written by tools/torch_fixture_io.py (json and struct only: Debian 12 has no python3-safetensors),
each tensor's bytes as torch holds them (little-endian).
Test: tests/test_params.c (torch_bn_file_loads).
"""
import os
import sys

import torch
import torch.nn as nn

from torch_fixture_io import save_safetensors


def model():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(48, 5))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    assert sys.byteorder == "little"
    torch.manual_seed(0)
    m = model()
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.5, 0.5)
        m.train()
        for _ in range(3):
            m(torch.randn(4, 2, 4, 4) * 2 + 0.5)
    sd = m.state_dict()
    assert sd["1.num_batches_tracked"].dtype == torch.int64 and sd["1.num_batches_tracked"] == 3
    save_safetensors(os.path.join(out, "torch_bn.safetensors"), sd, {"format": "pt"},
                     keep_dtype=True)

    m.eval()
    x = torch.randn(2, 2, 4, 4)
    with torch.no_grad():
        logits = m(x)
    io = {"x": x, "logits": logits}
    extremes = [0.0, -0.0, 1.0 / 3, -2.5, 1e-3, float("inf"), float("-inf")]
    f16 = torch.tensor(extremes + [65504.0, 6e-8, -6.1e-5, 1e-7], dtype=torch.float16)
    f64 = torch.tensor(extremes + [3.4028234e38, -1e-40, 1e-46, 0.1, 1 + 2 ** -30, 123456789.123],
                       dtype=torch.float64)
    bf16 = torch.tensor(extremes + [3.0e38, 1e-40, -7.5], dtype=torch.bfloat16)
    f64 = torch.cat([f64, torch.randn(14, dtype=torch.float64)]).reshape(3, 9)
    for name, t in (("f16", f16), ("f64", f64), ("bf16", bf16)):
        io[name] = t
        io[name + "_as_f32"] = t.float()
    save_safetensors(os.path.join(out, "torch_bn_io.safetensors"), io, {"format": "pt"},
                     keep_dtype=True)


if __name__ == "__main__":
    main()
