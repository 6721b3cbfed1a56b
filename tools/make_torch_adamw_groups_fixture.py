#!/usr/bin/env python3
"""Write tests/fixtures/torch_adamw_groups.txt: torch.optim.AdamW with nanoGPT's two parameter
groups, for vkt's optimizer with vkt_optim_desc.no_decay to match (tests/test_optim_groups.c),
and the lr of a LambdaLR with nanoGPT's warmup + cosine get_lr for VKT_SCHED_WARMUP_COSINE.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_adamw_groups_fixture.py tests/fixtures/torch_adamw_groups.txt

The model: Linear(3, 5) -> a learned per-feature scale (a 1-D norm-like weight) -> tanh ->
Linear(5, 2), MSE loss on a fixed batch. Groups: the two matrices decay (weight_decay 0.1); the
biases and the scale do not (0.0). For each of STEPS steps: the gradients torch computed (vkt
replays them, so the test isolates the optimizer) and every parameter after the step. Both
optimizers (SGD with momentum and weight decay, and AdamW) take the same model and gradients.
Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import math
import sys

import torch
import torch.nn as nn

from torch_fixture_io import write_tensor

STEPS = 4
NAMES = ["0.weight", "0.bias", "1.weight", "2.weight", "2.bias"]  # state-dict order
DECAY = {"0.weight", "2.weight"}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l0 = nn.Linear(3, 5)
        self.scale = nn.Parameter(torch.ones(5))
        self.l2 = nn.Linear(5, 2)

    def named(self):
        return dict(zip(NAMES, [self.l0.weight, self.l0.bias, self.scale, self.l2.weight,
                                self.l2.bias]))

    def forward(self, x):
        return self.l2(torch.tanh(self.l0(x) * self.scale))


def run(f, prefix, make_opt, g):
    torch.manual_seed(11)
    net = Net()
    with torch.no_grad():
        net.scale.copy_(1.0 + 0.3 * torch.randn(5, generator=g))
    params = net.named()
    x = torch.randn(7, 3, generator=g)
    y = torch.randn(7, 2, generator=g)
    for n in NAMES:
        write_tensor(f, "%s/init/%s" % (prefix, n), params[n])
    groups = [{"params": [params[n] for n in NAMES if n in DECAY], "weight_decay": 0.1},
              {"params": [params[n] for n in NAMES if n not in DECAY], "weight_decay": 0.0}]
    opt = make_opt(groups)
    for s in range(STEPS):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        for n in NAMES:
            write_tensor(f, "%s/step%d/grad/%s" % (prefix, s, n), params[n].grad)
        opt.step()
        for n in NAMES:
            write_tensor(f, "%s/step%d/param/%s" % (prefix, s, n), params[n])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_adamw_groups.txt"
    g = torch.Generator().manual_seed(5)
    with open(out, "w") as f:
        run(f, "adamw", lambda gr: torch.optim.AdamW(gr, lr=0.05, betas=(0.9, 0.95), eps=1e-8), g)
        run(f, "sgd", lambda gr: torch.optim.SGD(gr, lr=0.1, momentum=0.9), g)
        # LambdaLR with nanoGPT's get_lr as the factor: lr after t scheduler steps, t = 0 .. 14
        base, eta_min, warmup, t_max = 6e-4, 6e-5, 4, 10

        def factor(t):
            if t < warmup:
                return (t + 1) / warmup
            if t > t_max:
                return eta_min / base
            ratio = (t - warmup) / (t_max - warmup)
            return (eta_min + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (base - eta_min)) / base

        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=base)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        lrs = []
        for _ in range(15):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        write_tensor(f, "warmup_cosine/lr", torch.tensor(lrs, dtype=torch.float64))


if __name__ == "__main__":
    main()
