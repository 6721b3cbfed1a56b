#!/usr/bin/env python3
"""The PyTorch CPU peer for bench/train_vs_torch.sh: trains the reference MLP or CNN on
Fashion-MNIST and prints per-epoch train loss, test accuracy and samples/s.

    /usr/bin/python3 bench/torch_fmnist.py mlp|cnn [epochs=5] [batch=128] [threads=all cores]
                                                   [batches per epoch=all]

The models are vkt's `vkt train --model mlp` (784-256-128-10) and `--model cnn`
(Conv(1,32,3,p1)-BN-ReLU-MaxPool2, Conv(32,64,3,p1)-BN-ReLU-MaxPool2, Flatten, Linear(3136,128)-ReLU-
Dropout(0.25), Linear(128,10)), with Adam (lr 1e-3). It uses every core (torch's OpenMP default here
is 1 thread; lavapipe, vkt's device, uses all cores) and prints which BLAS it runs on: Debian's
torch falls back to the reference BLAS, about 6x slower, unless libopenblas0-pthread is installed.
"""
import ctypes
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

D = "/usr/share/datasets/fashion-mnist/"


def blas():
    """The BLAS torch runs on: the library mapped into this process, and OpenBLAS's kernel and
    threads when it is OpenBLAS."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # make sure the BLAS is loaded
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps")
                   if "blas" in l.rsplit("/", 1)[-1] and ".so" in l})
    desc = ", ".join(os.path.realpath(l) for l in libs) or "none found"
    for l in libs:
        try:
            ob = ctypes.CDLL(l)
            ob.openblas_get_corename.restype = ctypes.c_char_p
            return f"{desc} (OpenBLAS, kernel {ob.openblas_get_corename().decode()}, " \
                   f"{ob.openblas_get_num_threads()} threads)"
        except (OSError, AttributeError):
            pass
    return desc + " (not OpenBLAS: the reference BLAS is slow; install libopenblas0-pthread)"


def idx(path, off):
    with gzip.open(D + path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)


def model(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                             nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    if kind not in ("mlp", "cnn"):
        sys.exit("usage: torch_fmnist.py mlp|cnn [epochs] [batch] [threads]")
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    bs = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else os.cpu_count())
    limit = int(sys.argv[5]) if len(sys.argv) > 5 else None
    shape = (-1, 1, 28, 28)
    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(shape).astype(np.float32) / 255)
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(shape).astype(np.float32) / 255)
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    torch.manual_seed(0)
    m = model(kind)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    print("threads", torch.get_num_threads(), "params", sum(p.numel() for p in m.parameters()))
    print("blas", blas())
    total = 0.0
    for ep in range(epochs):
        perm = torch.randperm(len(xtr))
        t0, s, n = time.time(), 0.0, 0
        m.train()
        for i in range(0, len(xtr) if limit is None else min(len(xtr), limit * bs), bs):
            j = perm[i:i + bs]
            loss = F.cross_entropy(m(xtr[j]), ytr[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            s += loss.item() * len(j)
            n += len(j)
        dt = time.time() - t0
        total += dt
        m.eval()
        with torch.no_grad():
            pred = torch.cat([m(xte[k:k + 1000]) for k in range(0, len(xte), 1000)]).argmax(1)
        acc = (pred == yte).float().mean().item()
        print(f"epoch {ep} train_loss {s/n:.4f} test_acc {acc:.4f} epoch_s {dt:.2f} "
              f"samples_per_s {n/dt:.0f}", flush=True)
    print(f"total_train_s {total:.2f}")


if __name__ == "__main__":
    main()
