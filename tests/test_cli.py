#!/usr/bin/env python3
"""test_cli.py VKT VKT_LSAN PIN_SO LSAN_SUPP — the command-line tool end to end, on tiny IDX
data it writes itself.

Checks exit codes (2 usage, 1 data/runtime), messages (they name the option, value, split or
file), outputs (summary lines, hparams.yaml, checkpoints, predictions CSV) and, with the
LeakSanitizer build, that exit paths free what they allocated: PIN_SO keeps the Vulkan driver
and layer mapped and LSAN_SUPP suppresses their own leaks by name (tests/sanitizer_pin.c).
"""
import csv
import glob
import io
import json
import math
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

VKT, VKT_LSAN, PIN, SUPP = (os.path.abspath(a) for a in sys.argv[1:5])
LSAN_ENV = {
    "LD_PRELOAD": os.environ.get("LD_PRELOAD", PIN),
    "VKT_PIN_LIBS": os.environ.get("VKT_PIN_LIBS", ":".join(
        glob.glob("/usr/lib/*/libvulkan_lvp.so") +
        glob.glob("/usr/lib/*/libVkLayer_khronos_validation.so"))),
    "LSAN_OPTIONS": os.environ.get("LSAN_OPTIONS", f"suppressions={SUPP}:print_suppressions=0"),
}
failures = []


def check(cond, what, res=None):
    if not cond:
        detail = ""
        if res is not None:
            detail = (f"\n  rc {res.returncode}\n  stdout: {res.stdout[-2000:]}\n"
                      f"  stderr: {res.stderr[-2000:]}")
        failures.append(what + detail)
        print("FAIL:", what + detail)


def run(args, cwd, exe=None, timeout=300):
    e = dict(os.environ)
    if exe == VKT_LSAN:
        e.update(LSAN_ENV)
    return subprocess.run([exe or VKT] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=e)


def write_idx(d, split, n, side, classes, seed, label_max=None):
    """An MNIST-layout split: n images of side x side bytes, labels < label_max (or classes)."""
    r = random.Random(seed)
    imgs, labels = bytearray(), bytearray()
    for _ in range(n):
        c = r.randrange(label_max or classes)
        labels.append(c)
        for j in range(side * side):
            hot = j % classes == c % classes
            imgs.append(max(0, min(255, int(r.gauss(120 if hot else 30, 20)))))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{split}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">iiii", 0x803, n, side, side) + imgs)
    with open(os.path.join(d, f"{split}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">ii", 0x801, n) + labels)


def no_leak_at_all(res):
    return "LeakSanitizer" not in res.stderr


def safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def safetensors_metadata(path):
    return json.loads(safetensors_header(path)["__metadata__"]["vkt"])


def main():
    tmp = tempfile.mkdtemp(prefix="vkt_cli_")
    data = os.path.join(tmp, "data")
    write_idx(data, "train", 240, 2, 3, 1)
    write_idx(data, "t10k", 60, 2, 3, 2)
    bad_labels = os.path.join(tmp, "bad_labels")  # the test split has labels up to 4
    write_idx(bad_labels, "train", 240, 2, 3, 1)
    write_idx(bad_labels, "t10k", 60, 2, 3, 2, label_max=5)
    bad_features = os.path.join(tmp, "bad_features")  # 3x3 test images for a 2x2 model
    write_idx(bad_features, "train", 240, 2, 3, 1)
    write_idx(bad_features, "t10k", 60, 3, 3, 2)
    tiny = ["--data", data, "--layers", "4,8,3", "--batch-size", "32"]
    nodata = ["--data", os.path.join(tmp, "no_such_dir")]

    # 1. strict numbers: each is a usage error (2) naming the option and the value, found before
    # the data is even looked at (old code cast nan to 1000 epochs or to batch 0)
    bad_values = [
        (["--epochs", "nan"], "--epochs", "nan"),
        (["--epochs", "inf"], "--epochs", "inf"),
        (["--epochs", "1.5"], "--epochs", "1.5"),
        (["--epochs", "-1"], "--epochs", "-1"),
        (["--epochs", "0"], "--epochs", "0"),
        (["--batch-size", "nan"], "--batch-size", "nan"),
        (["--batch-size", "1e3"], "--batch-size", "1e3"),
        (["--layers", "4,,10"], "--layers", "4,,10"),
        (["--layers", "4,10,"], "--layers", "4,10,"),
        (["--layers", "4,nan,10"], "--layers", "nan"),
        (["--layers", "4,1.5,10"], "--layers", "1.5"),
        (["--lr", "nan"], "--lr", "nan"),
        (["--lr", "inf"], "--lr", "inf"),
        (["--momentum", "nan"], "--momentum", "nan"),
        (["--weight-decay", "-inf"], "--weight-decay", "-inf"),
        (["--val-split", "nan"], "--val-split", "nan"),
        (["--seed", "-1"], "--seed", "-1"),
        (["--seed", "nan"], "--seed", "nan"),
        (["--log-every", "2.5"], "--log-every", "2.5"),
    ]
    for args, opt, value in bad_values:
        res = run(["train"] + nodata + args, tmp)
        check(res.returncode == 2 and opt in res.stderr and f"'{value}'" in res.stderr,
              f"train {' '.join(args)}: exit 2 naming {opt} and '{value}'", res)

    # 2. getopt_long: --opt=value, unknown options, --version, --help per command
    res = run(["train"] + nodata + ["--bogus"], tmp)
    check(res.returncode == 2 and "unknown option" in res.stderr and "--bogus" in res.stderr,
          "train --bogus: exit 2, unknown option", res)
    res = run(["train"] + nodata + ["--stream=1"], tmp)
    check(res.returncode == 2 and "--stream" in res.stderr, "train --stream=1: exit 2", res)
    res = run(["train"] + nodata + ["--epochs"], tmp)
    check(res.returncode == 2 and "--epochs" in res.stderr and "value" in res.stderr,
          "train --epochs (no value): exit 2", res)
    res = run(["train"] + nodata + ["stray"], tmp)
    check(res.returncode == 2 and "stray" in res.stderr, "train stray argument: exit 2", res)
    res = run(["--version"], tmp)
    check(res.returncode == 0 and re.fullmatch(r"vkt \d+\.\d+\.\d+\n", res.stdout),
          "vkt --version prints the version", res)
    res = run(["--bogus"], tmp)
    check(res.returncode == 2 and "unknown option" in res.stderr, "vkt --bogus: exit 2", res)
    for cmd, needle in [("train", "--resume"), ("test", "--checkpoint"),
                        ("predict", "index,label,predicted"), ("devices", "usage"),
                        ("selftest", "usage")]:
        res = run([cmd, "--help"], tmp)
        check(res.returncode == 0 and needle in res.stdout, f"vkt {cmd} --help", res)
    res = run(["test"], tmp)
    check(res.returncode == 2 and "--checkpoint" in res.stderr, "test without --checkpoint", res)

    # --opt=value as well as --opt value (a run of one epoch in lightning_logs/version_0)
    res = run(["train", f"--data={data}", "--layers=4,8,3", "--epochs=1", "--batch-size=32",
               "--profile"], tmp)
    check(res.returncode == 0 and "test_acc" in res.stdout, "train with --opt=value runs", res)
    # --profile: its table covers the fit's training steps, the MLP's matmuls among its kernels
    prof = re.search(r"^profile: (\d+) training steps", res.stdout, re.M)
    fit = re.search(r"\((\d+) steps, \d+ epochs\)", res.stdout)
    check(prof and fit and prof.group(1) == fit.group(1) and int(fit.group(1)) > 0 and
          re.search(r"^  matmul\w* +\d", res.stdout, re.M) and " dispatches, " in res.stdout,
          "train --profile prints the profile of its training steps", res)

    # the main run: 2 epochs, in version_1 (or version_0 when the run above failed)
    res = run(["train", "--data", data, "--layers", "4,8,3", "--epochs", "2", "--batch-size",
               "32", "--seed", "3", "--lr", "0.01"], tmp)
    check(res.returncode == 0 and "test_acc" in res.stdout, "train runs", res)
    train_out = res.stdout
    versions = sorted(os.listdir(os.path.join(tmp, "lightning_logs")))
    logdir = os.path.join(tmp, "lightning_logs", versions[-1])

    # 7. the summary line and the progress bar number epochs alike (0-based, as Lightning)
    summary = [int(x) for x in re.findall(r"^epoch (\d+)/\d+ ", train_out, re.M)]
    bar = [int(x) for x in re.findall(r"^Epoch (\d+): ", train_out, re.M)]
    check(summary == [0, 1] and bar == [0, 1] and "epoch 0/1 " in train_out,
          f"epoch numbers agree: summary {summary}, progress bar {bar}", res)

    # 6. hyper-parameters in hparams.yaml and in the checkpoint
    hp_text = open(os.path.join(logdir, "hparams.yaml")).read() \
        if os.path.exists(os.path.join(logdir, "hparams.yaml")) else ""
    for key, value in [("layers", "4,8,3"), ("epochs", "2"), ("batch_size", "32"), ("seed", "3"),
                       ("optimizer", "adam"), ("schedule", "cosine"), ("lr", "0.01"),
                       ("momentum", "0"), ("weight_decay", "0"), ("val_split", "0.1"),
                       ("log_every", None), ("data", data)]:
        m = re.search(rf"^{key}: (.*)$", hp_text, re.M)
        check(m and (value is None or m.group(1).strip("'\"") == value),
              f"hparams.yaml has {key}" + (f": {value}" if value else ""))
    ckpts = sorted(os.listdir(os.path.join(logdir, "checkpoints"))) \
        if os.path.isdir(os.path.join(logdir, "checkpoints")) else []
    check(len(ckpts) == 1, f"one checkpoint in {logdir}/checkpoints: {ckpts}")
    if ckpts:
        checkpoint_commands(tmp, os.path.join(logdir, "checkpoints", ckpts[0]), train_out, data,
                            bad_labels, bad_features)
    other_checks(tmp, data, bad_labels, bad_features, tiny, nodata)
    cnn_checks(tmp)
    bench_checks(tmp)
    return finish(tmp)


def checkpoint_commands(tmp, ckpt, train_out, data, bad_labels, bad_features):
    try:
        hp = safetensors_metadata(ckpt).get("hyper_parameters", {})
    except (OSError, ValueError, KeyError) as e:
        hp = {"error": str(e)}
    check(hp.get("layers") == "4,8,3" and hp.get("epochs") == 2 and hp.get("seed") == 3,
          f"the checkpoint's hyper_parameters: {hp}")

    # 5. test / predict from the checkpoint alone (no --layers), resume
    test_acc = re.search(r"^test_acc (\S+)  test_loss (\S+)", train_out, re.M)
    res = run(["test", "--checkpoint", ckpt, "--data", data], tmp)
    got = re.search(r"^test_acc (\S+)  test_loss (\S+)", res.stdout, re.M)
    check(res.returncode == 0 and got and test_acc and got.groups() == test_acc.groups(),
          "vkt test --checkpoint gives train's test_acc/test_loss", res)
    out_csv = os.path.join(tmp, "pred.csv")
    res = run(["predict", "--checkpoint", ckpt, "--data", data, "--output", out_csv], tmp)
    rows = open(out_csv).read().splitlines() if os.path.exists(out_csv) else []
    check(res.returncode == 0 and len(rows) == 61 and
          rows[0] == "index,label,predicted,prob_0,prob_1,prob_2",
          f"predict --output writes a header and 60 rows ({len(rows)} lines)", res)
    hits = 0
    for i, row in enumerate(rows[1:]):
        f = row.split(",")
        probs = [float(x) for x in f[3:]]
        check(int(f[0]) == i and len(probs) == 3 and abs(sum(probs) - 1) < 1e-4 and
              int(f[2]) == probs.index(max(probs)), f"prediction row {i}: {row}")
        hits += int(f[1]) == int(f[2])
    if test_acc and rows:
        check(abs(hits / 60 - float(test_acc.group(1))) < 1e-3,
              f"predictions' accuracy {hits / 60} = test_acc {test_acc.group(1)}")
    res = run(["predict", "--checkpoint", ckpt, "--data", data], tmp)
    check(res.returncode == 0 and res.stdout.splitlines() == rows,
          "predict without --output writes the same CSV to stdout", res)
    with open(out_csv, "w") as f:
        f.write("keep me\n")
    res = run(["predict", "--checkpoint", ckpt, "--data", bad_labels, "--output", out_csv], tmp)
    check(res.returncode == 1 and open(out_csv).read() == "keep me\n" and
          not [n for n in os.listdir(tmp) if n.startswith("pred.csv.")],
          "a failed predict leaves an existing --output file alone", res)
    res = run(["test", "--checkpoint", os.path.join(tmp, "missing.ckpt"), "--data", data], tmp)
    check(res.returncode == 1 and "missing.ckpt" in res.stderr, "test with a missing file", res)
    res = run(["train", "--data", data, "--resume", ckpt, "--epochs", "3", "--batch-size", "32"],
              tmp)
    summary = re.findall(r"^epoch (\d+)/(\d+) ", res.stdout, re.M)
    check(res.returncode == 0 and summary == [("2", "2")] and os.path.exists(ckpt),
          f"train --resume runs the one epoch left ({summary}) and keeps the checkpoint", res)
    res = run(["train", "--data", data, "--resume", ckpt, "--layers", "4,9,3"], tmp)
    check(res.returncode == 1 and "--layers" in res.stderr and "4,8,3" in res.stderr,
          "train --resume with other --layers: exit 1 naming both", res)

    res = run(["test", "--checkpoint", ckpt, "--data", bad_features], tmp)
    check(res.returncode == 1 and "9 features" in res.stderr, "vkt test: feature mismatch", res)
    for what, args in [
        ("--resume with other --layers", ["train", "--data", data, "--resume", ckpt,
                                          "--layers", "4,9,3"]),
        ("vkt test on bad data", ["test", "--checkpoint", ckpt, "--data", bad_labels]),
    ]:
        res = run(args, tmp, exe=VKT_LSAN)
        check(res.returncode in (1, 2) and no_leak_at_all(res), f"no leak when {what}", res)
    for what, args in [
        ("vkt test", ["test", "--checkpoint", ckpt, "--data", data]),
        ("vkt predict", ["predict", "--checkpoint", ckpt, "--data", data]),
    ]:
        res = run(args, tmp, exe=VKT_LSAN)
        check(res.returncode == 0 and no_leak_at_all(res), f"no leak in {what}", res)


def cnn_checks(tmp):
    """--model cnn: 28x28 images, 10 classes; a checkpoint records the kind, test reads it."""
    data = os.path.join(tmp, "cnn_data")
    write_idx(data, "train", 48, 28, 10, 5)
    write_idx(data, "t10k", 20, 28, 10, 6)
    res = run(["train", "--data", data, "--model", "cnn", "--epochs", "1", "--batch-size", "16",
               "--val-split", "0.25", "--limit-batches", "2"], tmp)
    check(res.returncode == 0 and "model: CNN" in res.stdout and "421834 parameters" in res.stdout
          and re.search(r"^test_acc \S+", res.stdout, re.M),
          "train --model cnn: the reference CNN (421834 parameters) trains and tests", res)
    check("training: 32 samples" in res.stdout,
          "--limit-batches 2 trains 2 of the 3 batches of 16 (32 samples)", res)
    m = re.search(r"logs and checkpoints in (\S+)", res.stdout)
    ckpts = sorted(glob.glob(os.path.join(tmp, m.group(1), "checkpoints", "*.ckpt"))) if m else []
    check(len(ckpts) == 1, f"one checkpoint from the cnn run ({ckpts})", res)
    if not ckpts:
        return
    flat = safetensors_header(os.path.join(tmp, m.group(1), "model.safetensors"))
    names = [k for k in flat if k != "__metadata__"]
    torch_names = [f"{i}.{p}" for i, ps in [(0, "wb"), (1, "wbmvn"), (4, "wb"), (5, "wbmvn"),
                                             (9, "wb"), (12, "wb")] for p in ps]
    torch_names = [n.replace(".w", ".weight").replace(".b", ".bias").replace(
        ".m", ".running_mean").replace(".v", ".running_var").replace(".n", ".num_batches_tracked")
        for n in torch_names]
    check(names == torch_names and flat["1.num_batches_tracked"]["dtype"] == "I64" and
          flat["0.weight"]["shape"] == [32, 1, 3, 3] and flat["9.weight"]["shape"] == [128, 3136],
          f"model.safetensors holds torch's nn.Sequential state dict, flat: {names}")
    hp = safetensors_metadata(ckpts[0]).get("hyper_parameters", {})
    check(hp.get("model") == "cnn" and "layers" not in hp,
          f"the cnn checkpoint records model: cnn and no layers: {hp}")
    train_acc = re.search(r"^test_acc (\S+)  test_loss (\S+)", res.stdout, re.M)
    res = run(["test", "--checkpoint", ckpts[0], "--data", data], tmp)
    got = re.search(r"^test_acc (\S+)  test_loss (\S+)", res.stdout, re.M)
    check(res.returncode == 0 and got and train_acc and got.groups() == train_acc.groups(),
          "vkt test on a cnn checkpoint gives train's test_acc/test_loss (running stats, eval "
          "mode)", res)
    res = run(["train", "--data", data, "--model", "cnn", "--layers", "784,10"], tmp)
    check(res.returncode == 2 and "--layers" in res.stderr and "cnn" in res.stderr,
          "--layers with --model cnn: usage error", res)
    res = run(["train", "--data", data, "--model", "resnet"], tmp)
    check(res.returncode == 2 and "'resnet'" in res.stderr, "an unknown --model: usage error", res)
    res = run(["train", "--data", data, "--resume", ckpts[0], "--model", "mlp"], tmp)
    check(res.returncode == 1 and "--model mlp" in res.stderr and "cnn" in res.stderr,
          "--resume of a cnn checkpoint with --model mlp: exit 1 naming both", res)
    res = run(["train", "--data", data, "--model", "cnn", "--epochs", "1", "--batch-size", "16"],
              tmp, exe=VKT_LSAN)
    check(res.returncode == 0 and no_leak_at_all(res), "no leak in a cnn run", res)


def other_checks(tmp, data, bad_labels, bad_features, tiny, nodata):
    # 3. every split fits the model before the first epoch
    res = run(["train", "--data", bad_labels, "--layers", "4,8,3", "--epochs", "1"], tmp)
    check(res.returncode == 1 and "test split" in res.stderr and "label 3" in res.stderr and
          "3 outputs" in res.stderr and "Epoch" not in res.stdout and "epoch" not in res.stdout,
          "a test label out of range: exit 1 before training", res)
    res = run(["train", "--data", bad_features, "--layers", "4,8,3", "--epochs", "1"], tmp)
    check(res.returncode == 1 and "test split" in res.stderr and "9 features" in res.stderr and
          "takes 4" in res.stderr and "Epoch" not in res.stdout,
          "test features != the model's: exit 1 before training", res)
    res = run(["train", "--data", data, "--layers", "4,8,2", "--epochs", "1"], tmp)
    check(res.returncode == 1 and "training split" in res.stderr and "2 outputs" in res.stderr,
          "a training label out of range: exit 1", res)

    # 4. the op's own error, not "value is NULL": the hidden activations (batch x 2^20 floats)
    # are over lavapipe's maxStorageBufferRange of 128 MiB
    dev = run(["devices"], tmp).stdout
    m = re.search(r"^\* .*?max tensor ([\d.]+) (KiB|MiB|GiB)", dev, re.M | re.S)
    limit = float(m.group(1)) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)] \
        if m else 0
    if limit and limit < 200 * 4 * (1 << 20):
        res = run(["train", "--data", data, "--layers", "4,1048576,3", "--epochs", "1",
                   "--batch-size", "200"], tmp)
        check(res.returncode == 1 and "maxStorageBufferRange" in res.stderr and
              "value is NULL" not in res.stderr, "a device limit is reported as itself", res)
    else:
        print("skip: the default device binds 800 MiB tensors; no limit to hit")

    # 8. leaks: every exit path frees everything
    for what, args in [
        ("data and --layers disagree", ["train", "--data", data, "--layers", "5,8,3"]),
        ("a test label out of range", ["train", "--data", bad_labels, "--layers", "4,8,3"]),
        ("a usage error", ["train", "--data", data, "--epochs", "nan"]),
        ("a missing data set", ["train"] + nodata),
    ]:
        res = run(args, tmp, exe=VKT_LSAN)
        check(res.returncode in (1, 2) and no_leak_at_all(res), f"no leak when {what}", res)
    for what, args in [
        ("a whole run", ["train"] + tiny + ["--epochs", "1"]),
    ]:
        res = run(args, tmp, exe=VKT_LSAN)
        check(res.returncode == 0 and no_leak_at_all(res), f"no leak in {what}", res)


def bench_checks(tmp):
    """vkt bench peak / matmul: their CSV parses, rates are positive and finite (what they are is
    the benchmark's business), bad values are usage errors naming them."""
    res = run(["bench", "peak", "--repeat", "1", "--csv"], tmp)
    rows = list(csv.DictReader(io.StringIO(res.stdout))) if res.returncode == 0 else []
    peak = float(rows[0]["peak_gflops"]) if len(rows) == 1 else float("nan")
    check(res.returncode == 0 and math.isfinite(peak) and peak > 0,
          f"bench peak --csv: one row, a positive finite rate ({peak})", res)
    res = run(["bench", "matmul", "--sizes", "64,2x8x16x4:AtB", "--repeat", "1", "--csv",
               "--variant", "auto"], tmp)
    rows = list(csv.DictReader(io.StringIO(res.stdout))) if res.returncode == 0 else []
    shapes = [(r["batch"], r["M"], r["N"], r["K"], r["form"], r["chosen"]) for r in rows]
    rates = [float(r["median_gflops"]) for r in rows] + [float(r["best_gflops"]) for r in rows]
    check(shapes == [("1", "64", "64", "64", "AB", "1"), ("2", "8", "16", "4", "AtB", "1")] and
          all(math.isfinite(g) and g > 0 for g in rates),
          f"bench matmul --csv --variant auto: a row per size ({shapes}), rates {rates}", res)
    res = run(["bench", "matmul", "--sizes", "64", "--repeat", "1", "--variant", "all"], tmp)
    check(res.returncode == 0 and "%peak" in res.stdout and "tiled" in res.stdout and
          "regblock" in res.stdout, "bench matmul: every kernel and its % of the peak", res)
    for args, needle in [(["matmul", "--sizes", "8x0x8"], "'8x0x8'"),
                         (["matmul", "--sizes", "8x8x8:AtX"], "'8x8x8:AtX'"),
                         (["matmul", "--variant", "fast"], "'fast'"),
                         (["matmul", "--repeat", "0"], "--repeat"),
                         (["peak", "--bogus"], "--bogus"),
                         (["nope"], "'nope'")]:
        res = run(["bench"] + args, tmp)
        check(res.returncode == 2 and needle in res.stderr,
              f"bench {' '.join(args)}: exit 2 naming {needle}", res)
    res = run(["bench", "matmul", "--sizes", "8,8x0x8"], tmp, exe=VKT_LSAN)
    check(res.returncode == 2 and no_leak_at_all(res), "no leak at a bad bench size", res)


def finish(tmp):
    subprocess.run(["rm", "-rf", tmp])
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
