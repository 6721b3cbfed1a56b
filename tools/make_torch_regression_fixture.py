#!/usr/bin/env python3
"""Write a CSV regression data set and PyTorch's training of an MLP on it, for vkt to match.

Run by hand (needs Debian's python3-torch); both files are committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_regression_fixture.py \\
        tests/fixtures/regression.csv tests/fixtures/torch_regression.safetensors

The data: ROWS rows of FEATURES columns x0..x5 uniform in [-1, 1) and a target column "y" =
sin(2 x0) + x1 x2 - 0.5 x3^2 + 0.3 tanh(3 x4) + 0.2 x5 + noise N(0, 0.05), with a header row.
Cells are written with 9 significant digits; the training reads the file back with float() as
vkt's CSV reader does (strtod, then f32), so both sides start from the same numbers.

Rows 0..TRAIN-1 are the training set, the next VAL rows the validation set, the rest the test set.
The model is Linear(6,16) Tanh Linear(16,1) from torch.manual_seed(0), trained with Adam (lr 1e-2)
for EPOCHS epochs of mini-batches of BATCH rows in file order (no shuffle), on
F.mse_loss(model(x).squeeze(1), y) with y of shape (B): the prediction is (B) too, so nothing
broadcasts.

Tensors (all F32; names are torch.nn.Sequential state_dict keys under a prefix):
    init/<key>     the initial state_dict
    loss           (STEPS) the loss of each step, before its update
    final/<key>    the state_dict after the last step
    val_loss       (1) mean MSE over the validation rows with the final weights
    test_loss      (1) the same over the test rows

The file is written by tools/torch_fixture_io.py (json and struct only: Debian 12 has no
python3-safetensors).
"""
import csv
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_fixture_io import save_safetensors

ROWS = 256
FEATURES = 6
TRAIN, VAL = 192, 32
BATCH = 64
EPOCHS = 20
STEPS = EPOCHS * TRAIN // BATCH


def write_csv(path):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(ROWS, FEATURES, generator=g) * 2 - 1
    noise = torch.randn(ROWS, generator=g) * 0.05
    y = (torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2
         + 0.3 * torch.tanh(3 * x[:, 4]) + 0.2 * x[:, 5] + noise)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["x%d" % i for i in range(FEATURES)] + ["y"])
        for r in range(ROWS):
            w.writerow(["%.9g" % v for v in x[r].tolist()] + ["%.9g" % y[r].item()])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "y"
    # float() then f32, as vkt's reader (strtod, then a cast)
    data = torch.tensor([[float(c) for c in r] for r in rows[1:]], dtype=torch.float64)
    data = data.to(torch.float32)
    return data[:, :FEATURES].contiguous(), data[:, FEATURES].contiguous()


def main():
    csv_path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/regression.csv"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/torch_regression.safetensors"
    write_csv(csv_path)
    x, y = read_csv(csv_path)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh(), nn.Linear(16, 1))
    t = {}
    # state_dict() aliases the live tensors, which Adam updates in place: clone
    for k, v in m.state_dict().items():
        t["init/" + k] = v.clone()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for epoch in range(EPOCHS):
        for b in range(TRAIN // BATCH):
            xb, yb = x[b * BATCH:(b + 1) * BATCH], y[b * BATCH:(b + 1) * BATCH]
            pred = m(xb).squeeze(1)
            assert pred.shape == yb.shape
            loss = F.mse_loss(pred, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert len(losses) == STEPS and all(math.isfinite(v) for v in losses)
    t["loss"] = torch.tensor(losses)
    for k, v in m.state_dict().items():
        t["final/" + k] = v.clone()
    with torch.no_grad():
        t["val_loss"] = F.mse_loss(m(x[TRAIN:TRAIN + VAL]).squeeze(1), y[TRAIN:TRAIN + VAL])[None]
        t["test_loss"] = F.mse_loss(m(x[TRAIN + VAL:]).squeeze(1), y[TRAIN + VAL:])[None]
    save_safetensors(out, t, {"made_by": "tools/make_torch_regression_fixture.py",
                              "torch": torch.__version__})


if __name__ == "__main__":
    main()
