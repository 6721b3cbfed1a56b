#!/usr/bin/env python3
"""Write tests/fixtures/torch_cnn.safetensors: PyTorch's training of a small CNN, for vkt to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_cnn_fixture.py tests/fixtures/torch_cnn.safetensors

The model has the structure of `vkt train --model cnn` (and of the PyTorch reference
torch_fmnist_cnn.py), scaled down so the test is quick:

    Conv2d(1,4,3,p=1,bias=False) BatchNorm2d(4) ReLU MaxPool2d(2)
    Conv2d(4,8,3,p=1,bias=False) BatchNorm2d(8) ReLU MaxPool2d(2)
    Flatten Linear(72,16) ReLU Dropout(0.25) Linear(16,10)        on (8, 1, 12, 12) inputs

The convolutions have no bias (vkt_cnn_config.no_conv_bias): a bias right before a training-mode
BatchNorm2d cancels out of the loss, so its gradient is rounding noise, which Adam normalises into
steps of ±lr in directions no two implementations share (and running_mean follows them).

Dropout's mask cannot come from torch's generator on the device, so every step's mask (values 0 or
1/(1-p)) is part of the fixture and the forward multiplies by it where Dropout stands. Trained with
Adam (lr 1e-2) for STEPS steps in training mode (batch statistics, running stats updated).

Tensors (all F32; names are torch.nn.Sequential state_dict keys under a prefix):
    init/<key>           the initial state_dict (num_batches_tracked as F32)
    batch<s>/x, /y, /mask   step s's inputs, labels (as F32) and dropout mask (8, 16)
    loss                 (STEPS) the loss of each step, before its update
    step<s>/<key>        the state_dict after step s
    grad0/<key>          the gradients of step 0
    eval/x, eval/logits  a batch through the trained model in eval mode (running statistics)

The file is written by tools/torch_fixture_io.py (json and struct only: Debian 12 has no
python3-safetensors).
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_fixture_io import save_safetensors

BATCH = 8
STEPS = 4
P = 0.25


def model():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(72, 16), nn.ReLU(), nn.Identity(), nn.Linear(16, 10))


def forward(m, x, mask):
    for i, layer in enumerate(m):
        x = layer(x)
        if i == 11 and mask is not None:  # where nn.Dropout stands in the real model
            x = x * mask
    return x


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_cnn.safetensors"
    torch.manual_seed(0)
    m = model()
    t = {}
    # state_dict() aliases the live tensors, which Adam and batch norm update in place: clone
    for k, v in m.state_dict().items():
        t["init/" + k] = v.clone()
    g = torch.Generator().manual_seed(1)
    xs = [torch.rand(BATCH, 1, 12, 12, generator=g) for _ in range(STEPS)]
    ys = [torch.randint(0, 10, (BATCH,), generator=g) for _ in range(STEPS)]
    masks = [(torch.rand(BATCH, 16, generator=g) >= P).to(torch.float32) / (1 - P)
             for _ in range(STEPS)]
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    m.train()
    for s in range(STEPS):
        t["batch%d/x" % s], t["batch%d/y" % s], t["batch%d/mask" % s] = xs[s], ys[s], masks[s]
        loss = F.cross_entropy(forward(m, xs[s], masks[s]), ys[s])
        opt.zero_grad()
        loss.backward()
        if s == 0:
            for k, p in m.named_parameters():
                t["grad0/" + k] = p.grad.clone()
        opt.step()
        losses.append(loss.item())
        for k, v in m.state_dict().items():
            t["step%d/%s" % (s, k)] = v.clone()
    t["loss"] = torch.tensor(losses)
    m.eval()
    xe = torch.rand(BATCH, 1, 12, 12, generator=g)
    with torch.no_grad():
        t["eval/x"], t["eval/logits"] = xe, forward(m, xe, None)
    save_safetensors(out, t, {"made_by": "tools/make_torch_cnn_fixture.py",
                              "torch": torch.__version__})


if __name__ == "__main__":
    main()
