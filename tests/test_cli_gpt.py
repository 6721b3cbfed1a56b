#!/usr/bin/env python3
"""test_cli_gpt.py VKT VKT_LSAN PIN_SO LSAN_SUPP — `vkt train --model gpt` and `vkt generate` end
to end on a tiny corpus the script writes itself (a tiny model, a few steps).

Checks the run's outputs (summary lines, metrics.csv columns, hparams.yaml, the checkpoint's
hyper_parameters with the vocabulary), that generation is reproducible from the seed and decodes
into the corpus's characters, exit codes and messages of bad input (missing or short corpus, bad
sizes, a prompt outside the vocabulary, a checkpoint that is not a GPT), and with the
LeakSanitizer build that a whole run, a generation and an error path free what they allocated
(PIN_SO and LSAN_SUPP as in tests/test_cli.py).
"""
import csv
import glob
import json
import os
import struct
import subprocess
import sys
import tempfile

VKT, VKT_LSAN, PIN, SUPP = (os.path.abspath(a) for a in sys.argv[1:5])
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                       "torch_gpt.safetensors")
LSAN_ENV = {
    "LD_PRELOAD": os.environ.get("LD_PRELOAD", PIN),
    "VKT_PIN_LIBS": os.environ.get("VKT_PIN_LIBS", ":".join(
        glob.glob("/usr/lib/*/libvulkan_lvp.so") +
        glob.glob("/usr/lib/*/libVkLayer_khronos_validation.so"))),
    "LSAN_OPTIONS": os.environ.get("LSAN_OPTIONS", f"suppressions={SUPP}:print_suppressions=0"),
}
TINY = ["--layers", "1", "--heads", "2", "--width", "16", "--context", "8", "--epochs", "2",
        "--limit-batches", "3", "--val-batches", "2", "--batch-size", "4", "--log-every", "1"]
failures = []


def check(cond, what, res=None):
    if not cond:
        detail = ""
        if res is not None:
            detail = (f"\n  rc {res.returncode}\n  stdout: {res.stdout[-2000:]}\n"
                      f"  stderr: {res.stderr[-2000:]}")
        failures.append(what + detail)
        print("FAIL:", what + detail)


def run(args, cwd, exe=None):
    e = dict(os.environ)
    if exe == VKT_LSAN:
        e.update(LSAN_ENV)
    return subprocess.run([exe or VKT] + args, cwd=cwd, capture_output=True, timeout=300, env=e)


def text(res):
    res.stdout = res.stdout.decode("utf-8", "replace")
    res.stderr = res.stderr.decode("utf-8", "replace")
    return res


def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(json.loads(f.read(n))["__metadata__"]["vkt"])


def main():
    tmp = tempfile.mkdtemp(prefix="vkt_test_cli_gpt_")
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus)
    lines = [f"the {w} fox jumps over the lazy dog number {i}\n"
             for i, w in enumerate(["quick", "slow", "red", "brown"] * 40)]
    with open(os.path.join(corpus, "b.txt"), "w") as f:
        f.write("".join(lines[80:]))
    with open(os.path.join(corpus, "a.txt"), "w") as f:
        f.write("".join(lines[:80]))
    with open(os.path.join(corpus, "a.txt.dat"), "wb") as f:
        f.write(bytes([0, 1, 2, 200]))  # an index file: skipped
    data = ("".join(lines[:80]) + "".join(lines[80:])).encode()
    vocab = sorted(set(data))

    # 1. a run: summary, logs, hparams, checkpoint with the vocabulary
    res = text(run(["train", "--model", "gpt", "--text", corpus, "--sample", "12"] + TINY, tmp))
    check(res.returncode == 0, "a tiny GPT trains", res)
    out = res.stdout
    check(f"{len(data)} characters from 2 files, vocabulary {len(vocab)}" in out,
          "the corpus is both files without the .dat one", res)
    check("unigram entropy" in out and "validation loss" in out and "tokens/s" in out and
          "bytes per token per layer" in out, "the summary names entropy, loss, speed, memory",
          res)
    check(out.count("val_loss") >= 2, "one val_loss line per epoch", res)
    ckpts = glob.glob(os.path.join(tmp, "lightning_logs", "version_0", "checkpoints", "*.ckpt"))
    check(len(ckpts) == 1, "one checkpoint", res)
    metrics = os.path.join(tmp, "lightning_logs", "version_0", "metrics.csv")
    with open(metrics) as f:
        rows = list(csv.DictReader(f))
    check(any(r.get("train_loss_step") for r in rows), "metrics.csv has train_loss per step")
    check(sum(1 for r in rows if r.get("val_loss")) == 2, "metrics.csv has val_loss per epoch")
    with open(os.path.join(tmp, "lightning_logs", "version_0", "hparams.yaml")) as f:
        hp_yaml = f.read()
    hexv = bytes(vocab).hex()
    check("model: gpt" in hp_yaml and f"vocab: {hexv}" in hp_yaml, "hparams.yaml: model, vocab")
    if ckpts:
        hp = metadata(ckpts[0])["hyper_parameters"]
        check(hp["vocab"] == hexv and hp["layers"] == 1 and hp["context"] == 8 and
              hp["width"] == 16 and hp["heads"] == 2, "the checkpoint's hyper_parameters")

        # 2. generation: reproducible, decoded into the corpus's characters
        gen = ["generate", "--checkpoint", ckpts[0], "--prompt", "the ", "--tokens", "24"]
        a = text(run(gen + ["--seed", "5"], tmp))
        b = text(run(gen + ["--seed", "5"], tmp))
        c = text(run(gen + ["--seed", "6"], tmp))
        check(a.returncode == 0 and a.stdout == b.stdout, "the same seed, the same text", a)
        check(a.stdout != c.stdout, "another seed, another text", c)
        check(a.stdout.startswith("the ") and len(a.stdout.encode()) == 4 + 24 + 1 and
              set(a.stdout[:-1].encode()) <= set(vocab), "prompt + 24 characters of the vocab", a)
        g1 = text(run(gen + ["--temperature", "0", "--seed", "1"], tmp))
        g2 = text(run(gen + ["--temperature", "0", "--seed", "2"], tmp))
        check(g1.returncode == 0 and g1.stdout == g2.stdout, "greedy ignores the seed", g1)
        k1 = text(run(gen + ["--top-k", "1"], tmp))
        check(k1.stdout == g1.stdout, "top-k 1 is greedy", k1)
        res = text(run(["generate", "--checkpoint", ckpts[0], "--prompt", "Zé"], tmp))
        check(res.returncode == 2 and "byte 0x5a ('Z') at position 0 is not in the vocabulary"
              in res.stderr, "a prompt outside the vocabulary names the byte", res)
        res = text(run(gen + ["--temperature", "-1"], tmp))
        check(res.returncode == 2 and "--temperature" in res.stderr, "a bad temperature", res)
        res = text(run(["test", "--checkpoint", ckpts[0]], tmp))
        check(res.returncode == 1 and "holds a GPT of vkt train --model gpt; vkt generate" in
              res.stderr, "vkt test points a GPT checkpoint to vkt generate", res)
        res = text(run(gen, tmp, exe=VKT_LSAN))
        check(res.returncode == 0 and "LeakSanitizer" not in res.stderr, "no leak in generate",
              res)

    # 3. bad input
    res = text(run(["train", "--model", "gpt", "--text", os.path.join(tmp, "nope")] + TINY, tmp))
    check(res.returncode == 1 and "nope: No such file or directory" in res.stderr,
          "a missing corpus is named", res)
    short = os.path.join(tmp, "short.txt")
    with open(short, "w") as f:
        f.write("abcdefghij" * 3)
    res = text(run(["train", "--model", "gpt", "--text", short] + TINY[:-2] + ["--context", "40"],
                   tmp))
    check(res.returncode == 1 and "too short for --context 40" in res.stderr,
          "a corpus shorter than the context", res)
    res = text(run(["train", "--model=gpt", "--text", corpus, "--heads", "3", "--width", "16"],
                   tmp))
    check(res.returncode == 2 and "--heads 3 does not divide --width 16" in res.stderr,
          "heads must divide width", res)
    res = text(run(["train", "--model", "gpt", "--layers", "0"], tmp))
    check(res.returncode == 2 and "--layers" in res.stderr, "--layers 0 is a usage error", res)
    res = text(run(["generate"], tmp))
    check(res.returncode == 2 and "--checkpoint PATH is required" in res.stderr,
          "generate needs a checkpoint", res)
    res = text(run(["generate", "--checkpoint", FIXTURE], tmp))
    check(res.returncode == 1 and "not a GPT of vkt train --model gpt" in res.stderr,
          "a checkpoint without the GPT's hyper_parameters", res)
    res = text(run(["train", "--model", "gpt", "--help"], tmp))
    check(res.returncode == 0 and "--context N" in res.stdout, "train --model gpt --help", res)

    # 4. leaks: a whole run and an error path
    res = text(run(["train", "--model", "gpt", "--text", corpus, "--sample", "4"] + TINY, tmp,
                   exe=VKT_LSAN))
    check(res.returncode == 0 and "LeakSanitizer" not in res.stderr, "no leak in a run", res)
    res = text(run(["train", "--model", "gpt", "--text", short, "--context", "40"], tmp,
                   exe=VKT_LSAN))
    check(res.returncode == 1 and "LeakSanitizer" not in res.stderr, "no leak on a short corpus",
          res)

    subprocess.run(["rm", "-rf", tmp])
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
