#!/usr/bin/env python3
"""Check by hand that PyTorch takes vkt's weights as they are: trains the CNN for a few batches with
`vkt train --model cnn`, loads lightning_logs/version_N/model.safetensors into torch's nn.Sequential
of the same structure with load_state_dict(strict=True), and compares torch's eval-mode softmax on
the test set with `vkt predict`'s probabilities.

    /usr/bin/python3 tools/torch_loads_vkt.py BUILD_DIR [DATA_DIR]

Needs Debian's python3-torch. The file is read with json and struct (Debian 12 has no
python3-safetensors; safetensors.torch.load_file gives the same tensors).
"""
import csv
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_fmnist import model  # noqa: E402

DTYPES = {"F32": (torch.float32, "f", 4), "I64": (torch.int64, "q", 8)}


def load_file(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dt, fmt, size = DTYPES[t["dtype"]]
        a, b = t["data_offsets"]
        vals = struct.unpack("<%d%s" % ((b - a) // size, fmt), data[a:b])
        out[name] = torch.tensor(vals, dtype=dt).reshape(t["shape"])
    return out


def main():
    build = os.path.abspath(sys.argv[1])
    data = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    vkt = os.path.join(build, "tools", "vkt")
    tmp = tempfile.mkdtemp(prefix="vkt_torch_")
    out = subprocess.run([vkt, "train", "--model", "cnn", "--epochs", "1", "--limit-batches", "20",
                          "--data", data, "--log-every", "0"], cwd=tmp, check=True,
                         capture_output=True, text=True).stdout
    path = next(l.split()[1] for l in out.splitlines() if l.startswith("weights: "))
    m = model("cnn")
    m.load_state_dict(load_file(os.path.join(tmp, path)), strict=True)
    m.eval()
    ckpt_dir = os.path.join(tmp, os.path.dirname(path), "checkpoints")
    ckpt = os.path.join(ckpt_dir, sorted(os.listdir(ckpt_dir))[0])
    pred = subprocess.run([vkt, "predict", "--checkpoint", ckpt, "--data", data], cwd=tmp,
                          check=True, capture_output=True, text=True).stdout
    rows = list(csv.reader(io.StringIO(pred)))[1:]
    with gzip.open(os.path.join(data, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read()[16:]
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).float().reshape(-1, 1, 28, 28) / 255
    with torch.no_grad():
        p = torch.cat([torch.softmax(m(x[k:k + 1000]), 1) for k in range(0, len(x), 1000)])
    vp = torch.tensor([[float(v) for v in r[3:]] for r in rows])
    err = (p - vp).abs().max().item()
    agree = (p.argmax(1) == vp.argmax(1)).float().mean().item()
    print(f"torch loaded {path} strictly; max |prob diff| vs vkt predict {err:.2e}, "
          f"same class for {agree * 100:.2f}% of {len(rows)} test images")
    subprocess.run(["rm", "-rf", tmp])
    return 0 if err < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
