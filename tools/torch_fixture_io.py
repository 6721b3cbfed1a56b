"""The two fixture formats that tools/make_torch_*.py write (needs Debian's python3-torch).

Imported by those scripts as `from torch_fixture_io import ...`: Python puts a script's own folder
on sys.path, so this works whether they are run from the repository root or from tools/.

Text fixtures (read by tests/test_util.c's test_fixtures_load), one record per tensor:

    tensor <name> <ndim> <dim0> [<dim1> ...]
    <values, %.9g, 8 to a line>

safetensors, written with json and struct only (Debian 12 has no python3-safetensors): an 8-byte
little-endian header length, the JSON header (space-padded to 8 bytes), then each tensor's bytes,
little-endian, back to back.
"""
import json
import struct

import torch

DTYPE_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
               torch.bfloat16: "BF16", torch.int64: "I64"}


def write_tensor(f, name, t, scalar_dims=()):
    """One text record of t as float32 to the open file f; a 0-d t gets dims `scalar_dims`."""
    t = torch.as_tensor(t).detach().to(torch.float32).contiguous()
    dims = list(t.shape) or list(scalar_dims)
    f.write("tensor %s %d %s\n" % (name, len(dims), " ".join(str(d) for d in dims)))
    vals = t.flatten().tolist()
    for i in range(0, len(vals), 8):
        f.write(" ".join("%.9g" % v for v in vals[i:i + 8]) + "\n")


def save_safetensors(path, tensors, metadata, keep_dtype=False):
    """tensors (name -> tensor, in file order) to path, with __metadata__ `metadata`. Each tensor is
    written as F32, or with keep_dtype as torch holds it (a dtype of DTYPE_NAMES, its own bytes)."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        if keep_dtype:
            t = t.detach().contiguous()
            data = bytes(t.reshape(-1).view(torch.uint8).tolist())
            dtype = DTYPE_NAMES[t.dtype]
        else:
            t = t.detach().to(torch.float32).contiguous()
            data = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
            dtype = "F32"
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
