#!/usr/bin/env python3
"""Write tests/fixtures/torch_loss.txt: torch.nn.functional's losses, for include/vkt/loss.h.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_loss_fixtures.py tests/fixtures/torch_loss.txt

Each case (the list CASES below, mirrored by cases[] in tests/test_loss.c) has its inputs, the
loss, and the gradient of the loss with respect to the float input (for reduction 'none', of
sum(loss * g) with the recorded g). Targets of nll_loss / cross_entropy are integers stored as
floats. Format, one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, whitespace separated>
"""
import sys

import torch
import torch.nn.functional as F

from torch_fixture_io import write_tensor

# name, loss, reduction, options (weight, pos_weight: tensors made below; others as F's kwargs)
CASES = [
    ("mse_mean", "mse", "mean", {}),
    ("mse_sum", "mse", "sum", {}),
    ("mse_none", "mse", "none", {}),
    ("l1_mean", "l1", "mean", {}),
    ("l1_none", "l1", "none", {}),
    ("smooth_l1_mean", "smooth_l1", "mean", {}),
    ("smooth_l1_beta", "smooth_l1", "sum", {"beta": 0.5}),
    ("huber_mean", "huber", "mean", {}),
    ("huber_delta", "huber", "none", {"delta": 0.7}),
    ("bce_mean", "bce", "mean", {}),
    ("bce_pos_weight", "bce", "sum", {"pos_weight": True}),
    ("bce_both", "bce", "none", {"pos_weight": True, "weight": True}),
    ("nll_mean", "nll", "mean", {}),
    ("nll_weight_mean", "nll", "mean", {"weight": True}),
    ("nll_weight_sum", "nll", "sum", {"weight": True}),
    ("nll_ignore2", "nll", "none", {"weight": True, "ignore_index": 2}),
    ("ce_mean", "ce", "mean", {}),
    ("ce_weight_mean", "ce", "mean", {"weight": True}),
    ("ce_smooth", "ce", "mean", {"label_smoothing": 0.1}),
    ("ce_weight_smooth", "ce", "mean", {"weight": True, "label_smoothing": 0.2}),
    ("ce_weight_smooth_sum", "ce", "sum", {"weight": True, "label_smoothing": 0.2}),
    ("ce_smooth_none", "ce", "none", {"weight": True, "label_smoothing": 0.3}),
]

B, C = 8, 5


def main(path):
    torch.manual_seed(0)
    with open(path, "w") as f:
        for name, kind, red, opts in CASES:
            kw = {k: v for k, v in opts.items() if k not in ("weight", "pos_weight")}
            if kind in ("mse", "l1", "smooth_l1", "huber", "bce"):
                x = torch.randn(B, C, dtype=torch.float64) * (8.0 if kind == "bce" else 1.5)
                x[0, 0], x[0, 1] = 40.0, -40.0  # bce: saturated logits
                y = torch.rand(B, C, dtype=torch.float64) if kind == "bce" else torch.randn(B, C, dtype=torch.float64)
                write_tensor(f, name + "/input", x, scalar_dims=[1])
                write_tensor(f, name + "/target", y, scalar_dims=[1])
                if opts.get("weight"):
                    w = torch.rand(C, dtype=torch.float64) + 0.5
                    kw["weight"] = w
                    write_tensor(f, name + "/weight", w, scalar_dims=[1])
                if opts.get("pos_weight"):
                    pw = torch.rand(C, dtype=torch.float64) * 3.0 + 0.2
                    kw["pos_weight"] = pw
                    write_tensor(f, name + "/pos_weight", pw, scalar_dims=[1])
                x = x.clone().requires_grad_(True)
                fn = {"mse": F.mse_loss, "l1": F.l1_loss, "smooth_l1": F.smooth_l1_loss,
                      "huber": F.huber_loss, "bce": F.binary_cross_entropy_with_logits}[kind]
                loss = fn(x, y, reduction=red, **kw)
            else:
                z = torch.randn(B, C, dtype=torch.float64) * 3.0
                z[1] += 30.0  # large logits
                t = torch.randint(0, C, (B,))
                t[3] = opts.get("ignore_index", -100)
                t[5] = 2
                write_tensor(f, name + "/input", z if kind == "ce" else F.log_softmax(z, 1), scalar_dims=[1])
                write_tensor(f, name + "/target", t.to(torch.float64), scalar_dims=[1])
                if opts.get("weight"):
                    w = torch.rand(C, dtype=torch.float64) + 0.5
                    kw["weight"] = w
                    write_tensor(f, name + "/weight", w, scalar_dims=[1])
                x = (z if kind == "ce" else F.log_softmax(z, 1)).clone().requires_grad_(True)
                if kind == "ce":
                    loss = F.cross_entropy(x, t, reduction=red, **kw)
                else:
                    loss = F.nll_loss(x, t, reduction=red, **kw)
            if red == "none":
                g = torch.randn(loss.shape, dtype=torch.float64)
                write_tensor(f, name + "/g", g, scalar_dims=[1])
                (loss * g).sum().backward()
            else:
                loss.backward()
            write_tensor(f, name + "/loss", loss, scalar_dims=[1])
            write_tensor(f, name + "/dinput", x.grad, scalar_dims=[1])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_loss.txt")
