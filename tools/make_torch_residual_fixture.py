#!/usr/bin/env python3
"""Write tests/fixtures/torch_residual{,_io}.safetensors: a PyTorch module's state_dict, for
vkt_model_load_safetensors to load with no renaming, and what the module computes.

Run by hand (needs Debian's python3-torch); the fixtures are committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_residual_fixture.py tests/fixtures

    class Residual(nn.Module):          # y = x + fc2(relu(fc1(x)))
        fc1 = nn.Linear(5, 7); fc2 = nn.Linear(7, 5)

torch_residual.safetensors     model.state_dict() exactly (fc1.weight, fc1.bias, fc2.weight,
                               fc2.bias), as safetensors.torch.save_file would write it
torch_residual_io.safetensors  x (3, 5), y = model(x), and grad/<name>: the gradients of
                               loss = (y * y).sum() for every parameter and grad/x

Written by tools/torch_fixture_io.py (json and struct only: Debian 12 has no python3-safetensors).
Test: tests/test_params.c (torch_file_loads).
"""
import os
import sys

import torch
import torch.nn as nn

from torch_fixture_io import save_safetensors


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 7)
        self.fc2 = nn.Linear(7, 5)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(x)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    torch.manual_seed(0)
    model = Residual()
    x = torch.randn(3, 5, requires_grad=True)
    y = model(x)
    (y * y).sum().backward()
    save_safetensors(os.path.join(out, "torch_residual.safetensors"), model.state_dict(),
                     {"format": "pt"})
    io = {"x": x, "y": y, "grad/x": x.grad}
    for name, p in model.named_parameters():
        io["grad/" + name] = p.grad
    save_safetensors(os.path.join(out, "torch_residual_io.safetensors"), io, {"format": "pt"})


if __name__ == "__main__":
    main()
