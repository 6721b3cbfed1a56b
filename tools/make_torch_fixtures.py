#!/usr/bin/env python3
"""Write tests/fixtures/torch_mlp.txt: PyTorch's results for a small MLP, for vkt to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_fixtures.py tests/fixtures/torch_mlp.txt

Contents: the initial weights of nn.Sequential(Linear(12,16), ReLU, Linear(16,10), ReLU,
Linear(10,5)) (torch.manual_seed(0)), four fixed batches of 7 samples, and for each optimizer
configuration the loss of every step (computed before that step's update) and every weight after
every step. Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1>]
    <values, %.9g, whitespace separated>
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = [12, 16, 10, 5]
BATCH = 7
STEPS = 4

CONFIGS = [
    # name, optimizer factory, gradient clip norm (None = no clipping)
    ("sgd", lambda p: torch.optim.SGD(p, lr=0.1), None),
    ("sgd_momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1,
                                               weight_decay=1e-3), None),
    ("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                               weight_decay=1e-3), None),
    ("adam", lambda p: torch.optim.Adam(p, lr=1e-2), None),
    ("adam_l2", lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2), None),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05), None),
    ("adam_clip", lambda p: torch.optim.Adam(p, lr=1e-2), 0.5),
]


def model():
    layers = []
    for i in range(len(SIZES) - 1):
        layers.append(nn.Linear(SIZES[i], SIZES[i + 1]))
        if i + 2 < len(SIZES):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def write(f, name, t):
    t = t.detach().to(torch.float32).contiguous()
    dims = list(t.shape)
    f.write("tensor %s %d %s\n" % (name, len(dims), " ".join(str(d) for d in dims)))
    vals = t.flatten().tolist()
    for i in range(0, len(vals), 8):
        f.write(" ".join("%.9g" % v for v in vals[i:i + 8]) + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_mlp.txt"
    torch.manual_seed(0)
    init = model().state_dict()
    g = torch.Generator().manual_seed(1)
    xs = [torch.rand(BATCH, SIZES[0], generator=g) for _ in range(STEPS)]
    ys = [torch.randint(0, SIZES[-1], (BATCH,), generator=g) for _ in range(STEPS)]
    with open(out, "w") as f:
        f.write("# PyTorch %s fixtures for tests/test_torch_agreement.c; made by "
                "tools/make_torch_fixtures.py\n" % torch.__version__)
        for k, v in init.items():
            write(f, "init/" + k, v)
        for s in range(STEPS):
            write(f, "batch%d/x" % s, xs[s])
            write(f, "batch%d/y" % s, ys[s].to(torch.float32))
        for name, make_opt, clip in CONFIGS:
            m = model()
            m.load_state_dict(init)
            opt = make_opt(m.parameters())
            losses = []
            for s in range(STEPS):
                loss = F.cross_entropy(m(xs[s]), ys[s])
                losses.append(loss.item())
                opt.zero_grad()
                loss.backward()
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
                opt.step()
                for k, v in m.state_dict().items():
                    write(f, "%s/step%d/%s" % (name, s, k), v)
            write(f, "%s/losses" % name, torch.tensor(losses))


if __name__ == "__main__":
    main()
