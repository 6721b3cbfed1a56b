#!/usr/bin/env python3
# The PyTorch CPU peer for bench/train_vs_torch.sh. It uses every core (torch's OpenMP default
# here is 1 thread; lavapipe, vkt's device, uses all cores) and prints which BLAS it runs on.
"""Peer baseline: PyTorch (Debian python3-torch) CPU training of the reference MLP on Fashion-MNIST.
Usage: /usr/bin/python3 torch_fmnist_mlp.py [epochs] [batch]
Prints per-epoch train loss, test accuracy, samples/s."""
import ctypes, gzip, os, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count())


def blas():
    """The BLAS torch runs on: the library mapped into this process, and OpenBLAS's kernel and
    threads when it is OpenBLAS (Debian's reference BLAS is ~6x slower for this MLP)."""
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
D = "/usr/share/datasets/fashion-mnist/"
def idx(path, off):
    with gzip.open(D + path) as f: return np.frombuffer(f.read(), np.uint8, offset=off)
Xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
Ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
Xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
Yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
bs = int(sys.argv[2]) if len(sys.argv) > 2 else 128
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
print("threads", torch.get_num_threads())
print("blas", blas())
total = 0.0
for ep in range(epochs):
    perm = torch.randperm(len(Xtr)); t0 = time.time(); s = 0.0; n = 0
    model.train()
    for i in range(0, len(Xtr), bs):
        j = perm[i:i + bs]; logits = model(Xtr[j]); loss = F.cross_entropy(logits, Ytr[j])
        opt.zero_grad(); loss.backward(); opt.step(); s += loss.item() * len(j); n += len(j)
    dt = time.time() - t0; total += dt
    with torch.no_grad(): acc = (model(Xte).argmax(1) == Yte).float().mean().item()
    print(f"epoch {ep} train_loss {s/n:.4f} test_acc {acc:.4f} epoch_s {dt:.2f} samples_per_s {n/dt:.0f}")
print(f"total_train_s {total:.2f}")
