#!/usr/bin/env python3
"""check_safetensors.py — reads a vkt checkpoint the way the safetensors library does.

Usage: check_safetensors.py TEST_TRAIN_IO_EXE [TORCH_BN_FILE TORCH_BN_IO_FILE]

Runs `TEST_TRAIN_IO_EXE --write-checkpoint FILE` (the sample checkpoint of
tests/test_train_io.c), then loads FILE with the checks of safetensors' Rust loader
(safetensors/src/tensor.rs: read_metadata and Metadata::validate), which is what
safetensors.torch.load_file runs, and compares every value with the sample. Only json, struct and
zlib: Debian 12 has no python3-safetensors. The metadata must be strict JSON (no NaN / Infinity
tokens), and its numbers are read by the rule in src/train/checkpoint_format.c's header.
The torch fixtures of tools/make_torch_bn_safetensors.py, when given, must pass the same loader
checks, with torch's dtypes (I64 num_batches_tracked; F16, BF16, F64 whose *_as_f32 twins are
Python's own decoding of them rounded to f32).
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

MAX_HEADER_SIZE = 100_000_000
# safetensors' Dtype (safetensors/src/tensor.rs) for the dtypes vkt reads: bytes per element and
# the struct format of one element. vkt writes F32 and I64 (integer arrays: num_batches_tracked).
DTYPES = {"F32": (4, "f"), "F64": (8, "d"), "F16": (2, "e"), "BF16": (2, None),
          "I64": (8, "q"), "I32": (4, "i"), "I16": (2, "h"), "I8": (1, "b"), "U8": (1, "B"),
          "BOOL": (1, "?")}
DTYPE_SIZE = {k: v[0] for k, v in DTYPES.items()}


def decode(dtype, nel, raw):
    """The values of a tensor's bytes (BF16: the top half of an f32)."""
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + raw[2 * i:2 * i + 2])[0] for i in range(nel)]
    return list(struct.unpack(f"<{nel}{DTYPES[dtype][1]}", raw))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def no_nan_tokens(token):
    # serde_json (safetensors' parser) rejects NaN / Infinity outside strings
    raise ValueError(f"non-JSON number {token} in the header")


# src/train/checkpoint_format.c: non-finite numbers are these strings; a string so spelled is a
# one-item list
WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def decode_tree(v):
    if isinstance(v, dict):
        return {k: decode_tree(x) for k, x in v.items()}
    if isinstance(v, str):
        return WORDS.get(v, v)
    if isinstance(v, list):
        if len(v) != 1 or v[0] not in WORDS:
            raise ValueError(f"list {v!r} in the tree")
        return v[0]
    return v


def load_safetensors(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        raise ValueError("HeaderTooSmall")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_SIZE:
        raise ValueError("HeaderTooLarge")
    stop = 8 + n
    if stop > len(data):
        raise ValueError("InvalidHeaderLength")
    header = data[8:stop].decode("utf-8")  # InvalidHeader on bad UTF-8
    if not header.startswith("{"):
        raise ValueError("InvalidHeaderStart")
    meta = json.loads(header, parse_constant=no_nan_tokens)
    metadata = meta.pop("__metadata__", None)
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("__metadata__ must be a map of strings")
    # Metadata::new sorts by data_offsets, then validate()
    tensors = sorted(meta.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    start = 0
    for name, info in tensors:
        s, e = info["data_offsets"]
        if s != start or e < s:
            raise ValueError(f"InvalidOffset({name})")
        start = e
        nel = math.prod(info["shape"])
        if info["dtype"] not in DTYPE_SIZE:
            raise ValueError(f"unknown dtype {info['dtype']} ({name})")
        if e - s != nel * DTYPE_SIZE[info["dtype"]]:
            raise ValueError(f"TensorInvalidInfo({name})")
    if start + 8 + n != len(data):
        raise ValueError("MetadataIncompleteBuffer")
    if stop % 8:
        raise ValueError("data section not 8-byte aligned")
    buf = data[stop:]
    out = {}
    for name, info in tensors:
        s, e = info["data_offsets"]
        out[name] = (info["shape"], decode(info["dtype"], math.prod(info["shape"]), buf[s:e]))
    dtypes = {name: info["dtype"] for name, info in tensors}
    if metadata is None or "vkt" not in metadata:
        return metadata, out, dtypes
    crc = json.loads(metadata["vkt_crc32"], parse_constant=no_nan_tokens)
    for key in ("vkt", "vkt_tensors"):
        if zlib.crc32(metadata[key].encode("utf-8")) != crc[key]:
            raise ValueError(f"CRC-32 of {key}")
    for name, info in tensors:
        s, e = info["data_offsets"]
        if zlib.crc32(buf[s:e]) != crc["tensors"][name]:
            raise ValueError(f"CRC-32 of tensor {name}")
    if sorted(crc["tensors"]) != sorted(name for name, _ in tensors):
        raise ValueError("vkt_crc32 does not name every tensor")
    return metadata, out, dtypes


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def check_torch_fixtures(model_path, io_path):
    _, sd, dtypes = load_safetensors(model_path)
    check(dtypes["1.num_batches_tracked"] == "I64" and sd["1.num_batches_tracked"] == ([], [3]),
          "torch's num_batches_tracked: I64 3")
    check(all(dt == "F32" for k, dt in dtypes.items() if k != "1.num_batches_tracked"),
          "torch's weights: F32")
    _, io, dtypes = load_safetensors(io_path)
    for name in ("f16", "bf16", "f64"):
        check(dtypes[name] == name.upper(), f"{name} dtype")
        shape, v = io[name]
        ref_shape, ref = io[name + "_as_f32"]
        check(shape == ref_shape, f"{name} shape")
        check([struct.pack("<f", f32(x)) for x in v] == [struct.pack("<f", x) for x in ref],
              f"{name} as f32")


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sample.ckpt")
        subprocess.run([exe, "--write-checkpoint", path], check=True)
        metadata, tensors, dtypes = load_safetensors(path)

    check(metadata["format"] == "pt", "format metadata")
    w = [f32(f32(f32(i) * f32(0.1)) - f32(0.3)) for i in range(12)]
    check(tensors["state_dict/0.weight"] == ([3, 4], w), "state_dict/0.weight")
    check(tensors["state_dict/0.bias"] == ([3], [-0.5, 0.25, f32(1e-30)]), "state_dict/0.bias")
    # an integer array (vkt_dict_set_ints) is I64, torch's dtype for num_batches_tracked
    check(tensors["state_dict/1.num_batches_tracked"] == ([], [-16777216]), "I64 tensor")
    check(dtypes["state_dict/1.num_batches_tracked"] == "I64", "I64 dtype")
    check(all(dt == "F32" for name, dt in dtypes.items()
              if name != "state_dict/1.num_batches_tracked"), "F32 dtypes")
    check(tensors["a/b"] == ([], [7.0]), "scalar tensor a/b")
    check(tensors["a/b~1"] == ([2], [8.0, 9.0]), "tensor a -> b")
    check(tensors["no_elements"] == ([0, 3], []), "empty tensor")

    # the dict tree: strict JSON, non-finite numbers spelled as strings
    check(metadata["vkt_format"] == "2", "vkt_format")
    raw_tree = json.loads(metadata["vkt"], parse_constant=no_nan_tokens)
    tree = decode_tree(raw_tree)
    paths = json.loads(metadata["vkt_tensors"], parse_constant=no_nan_tokens)
    check(list(tree) == ["epoch", "global_step", "pytorch-lightning_version", "state_dict",
                         "loops", "callbacks", "empty_dict", "a/b", "a", "no_elements",
                         "after_tensors"], "key order")
    check(tree["epoch"] == 0 and tree["global_step"] == 2, "numbers")
    check(tree["pytorch-lightning_version"] == "0.1.0", "version string")
    cb = tree["callbacks"]["ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}"]
    check(cb["best_model_score"] == 0.1234567890123456789, "%.17g round trip")
    check(cb["best_k_models"] == {"/tmp/x/epoch=0-step=2.ckpt": 1.5}, "paths as keys")
    check(cb["kth_value"] == math.inf and cb["neg_inf"] == -math.inf, "infinities")
    check(math.isnan(cb["nan"]), "NaN")
    check(cb["tiny"] == 5e-324, "denormal")
    check(math.copysign(1, cb["neg_zero"]) == -1, "-0")
    raw_cb = raw_tree["callbacks"]["ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min'}"]
    check(raw_cb["kth_value"] == "Infinity" and raw_cb["nan"] == "NaN", "non-finite as strings")
    check(cb["nan_text"] == "NaN" and raw_cb["nan_text"] == ["NaN"], "a string spelled NaN")
    check(cb["Infinity"] == 3, "a key spelled Infinity")
    check(cb["text"] == "quote \" backslash \\ newline \n tab \t ctrl \x01 é ✓", "escapes")
    check(cb["empty"] == "" and tree["empty_dict"] == {}, "empty values")
    check(tree["loops"]["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"] == 2,
          "nesting")
    # every tensor sits at a null placeholder named by its path
    check(sorted(paths) == sorted(tensors), "vkt_tensors names every tensor")
    for name, keys in paths.items():
        node = tree
        for k in keys[:-1]:
            node = node[k]
        check(keys[-1] in node and node[keys[-1]] is None, f"placeholder of {name}")
    check(paths["a/b"] == ["a/b"] and paths["a/b~1"] == ["a", "b"], "colliding names")
    if len(sys.argv) == 4:
        check_torch_fixtures(sys.argv[2], sys.argv[3])
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
