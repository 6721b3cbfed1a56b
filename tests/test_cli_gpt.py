#!/usr/bin/env python3
"""test_cli_gpt.py VKT VKT_LSAN PIN_SO LSAN_SUPP — `vkt train --model gpt` and `vkt generate` end
to end on a tiny corpus the script writes itself (a tiny model, a few steps).

Checks the run's outputs (summary lines, metrics.csv columns, hparams.yaml, the checkpoint's
hyper_parameters with the vocabulary), that generation is reproducible from the seed and decodes
into the corpus's characters, exit codes and messages of bad input (missing or short corpus, bad
sizes, a prompt outside the vocabulary, a checkpoint that is not a GPT), that --resume goes on
bit for bit (weights, AdamW moments and logged losses of a run stopped halfway by --max-steps and
resumed are those of the uninterrupted run, dropout on) and refuses options that contradict the
checkpoint, a corpus outside its vocabulary and corrupt checkpoints, and with the LeakSanitizer
build that a whole run, a resumed run, a generation and an error path free what they allocated
(PIN_SO and LSAN_SUPP as in tests/test_cli.py).
"""
import csv
import glob
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

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
    res = subprocess.run([exe or VKT] + args, cwd=cwd, capture_output=True, timeout=300, env=e)
    res.cwd = cwd
    return res


def text(res):
    res.stdout = res.stdout.decode("utf-8", "replace")
    res.stderr = res.stderr.decode("utf-8", "replace")
    return res


def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(json.loads(f.read(n))["__metadata__"]["vkt"])


def tensors(path):
    """Every tensor of a checkpoint (weights, AdamW's moments) as raw bytes, by name."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__")
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}


def rewrite(src, dst, edit, crc=True):
    """A copy of checkpoint src whose vkt metadata went through edit(dict), its CRC-32 updated
    (a damaged header otherwise)."""
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = json.loads(header["__metadata__"]["vkt"])
    edit(meta)
    header["__metadata__"]["vkt"] = json.dumps(meta)
    if crc:
        crcs = json.loads(header["__metadata__"]["vkt_crc32"])
        crcs["vkt"] = zlib.crc32(header["__metadata__"]["vkt"].encode())
        header["__metadata__"]["vkt_crc32"] = json.dumps(crcs)
    h = json.dumps(header).encode()
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def train_steps(version_dir):
    """(epoch, step, train_loss_step) of every step row of metrics.csv, as written."""
    with open(os.path.join(version_dir, "metrics.csv")) as f:
        return [(r["epoch"], r["step"], r["train_loss_step"]) for r in csv.DictReader(f)
                if r.get("train_loss_step")]


def final_ckpt(res):
    m = re.search(r"^checkpoint: (\S+) ", res.stdout, re.M)
    return os.path.join(res.cwd, m.group(1)) if m else None


def resume_checks(tmp, args, whole_ckpt):
    """--resume: a run stopped halfway and resumed ends bit for bit where the whole one (args,
    already run: whole_ckpt) does."""
    d = os.path.join(tmp, "resume")
    os.makedirs(d)
    args = args + ["--sample", "0"]
    half = text(run(args + ["--max-steps", "3"], d))
    ckpt = final_ckpt(half)
    check(half.returncode == 0 and ckpt and ckpt.endswith("/epoch=0-step=3.ckpt"),
          f"--max-steps 3 stops after the first epoch: {ckpt}", half)
    if not (whole_ckpt and ckpt):
        return
    want = tensors(whole_ckpt)
    want_steps = train_steps(os.path.dirname(os.path.dirname(whole_ckpt)))
    # the checkpoint alone gives the model, the vocabulary, the schedule, the corpus
    res = text(run(["train", "--model", "gpt", "--resume", ckpt, "--sample", "0",
                    "--log-every", "1"], d))
    check(res.returncode == 0 and f"resuming from {ckpt}" in res.stdout and
          re.findall(r"^epoch (\d+)/(\d+) ", res.stdout, re.M) == [("1", "1")],
          "--resume runs the epoch left", res)
    r_ck = final_ckpt(res)
    got = tensors(r_ck) if r_ck else {}
    check(len(want) > 10 and got == want,
          "the resumed run's weights and AdamW moments are the whole run's, bit for bit: "
          f"{sorted(k for k in want if got.get(k) != want[k])}", res)
    check(len(want_steps) == 6 and r_ck and
          train_steps(os.path.dirname(os.path.dirname(r_ck))) == want_steps[3:],
          "the resumed run logs the whole run's losses of steps 3 to 5", res)
    hp = metadata(r_ck)["hyper_parameters"] if r_ck else {}
    check(hp.get("resume") == ckpt and hp.get("layers") == 1 and hp.get("dropout") == 0.1 and
          hp.get("warmup") == 0 and hp.get("vocab") == metadata(ckpt)["hyper_parameters"]["vocab"],
          f"the resumed run records the checkpoint's settings and --resume: {hp}")
    # the options given again, agreeing: the same run (and no leak)
    res = text(run(args + ["--resume", ckpt], d, exe=VKT_LSAN))
    r_ck = final_ckpt(res)
    check(res.returncode == 0 and "LeakSanitizer" not in res.stderr and r_ck and
          tensors(r_ck) == want,
          "--resume with the checkpoint's own options: the same run, no leak", res)
    # without the dropout streams' counters the masks, and so the weights, would differ
    zeroed = os.path.join(d, "zeroed.ckpt")
    rewrite(ckpt, zeroed, lambda m: m["gpt_dropout_offsets"].update(
        {k: 0 for k in m["gpt_dropout_offsets"]}))
    res = text(run(["train", "--model", "gpt", "--resume", zeroed, "--sample", "0"], d))
    r_ck = final_ckpt(res)
    check(res.returncode == 0 and r_ck and tensors(r_ck) != want,
          "restarted dropout streams give other weights (the counters matter)", res)

    # options that contradict the checkpoint, a corpus outside its vocabulary
    for extra, needle in [
        (["--layers", "2"], "--layers 2 disagrees with the checkpoint " + ckpt +
         ", whose layers is 1; leave --layers out"),
        (["--width", "32", "--heads", "4"], "--heads 4 disagrees with the checkpoint"),
        (["--context", "16"], "--context 16 disagrees"),
        (["--lr", "0.01"], "--lr 0.01 disagrees with the checkpoint " + ckpt + ", whose lr is "
         "0.006"),
        (["--dropout", "0"], "--dropout 0 disagrees"),
        (["--batch-size", "8"], "--batch-size 8 disagrees"),
        (["--seed", "1"], "--seed 1 disagrees"),
        (["--no-tie"], "--no-tie disagrees with the checkpoint"),
    ]:
        res = text(run(["train", "--model", "gpt", "--resume", ckpt] + extra, d))
        check(res.returncode == 1 and needle in res.stderr, f"--resume with {extra}", res)
    other = os.path.join(d, "other.txt")
    with open(other, "w") as f:
        f.write("the lazy dog\n" * 20 + "the Zebra\n" * 20)
    res = text(run(["train", "--model", "gpt", "--resume", ckpt, "--text", other], d))
    check(res.returncode == 1 and "--text " + other in res.stderr and
          f"byte 0x5a ('Z') at position {13 * 20 + 4} is not in the vocabulary" in res.stderr and
          ckpt in res.stderr, "a corpus outside the checkpoint's vocabulary names the byte", res)
    res = text(run(["train", "--model", "gpt", "--resume", ckpt, "--max-steps", "4"], d))
    check(res.returncode == 2 and "--max-steps 4 is not a multiple of --limit-batches 3" in
          res.stderr, "--max-steps inside an epoch", res)

    # corrupt or foreign checkpoints
    res = text(run(["train", "--model", "gpt", "--resume", os.path.join(d, "nope.ckpt")], d))
    check(res.returncode == 1 and "--resume" in res.stderr and "nope.ckpt" in res.stderr,
          "a missing checkpoint", res)
    res = text(run(["train", "--model", "gpt", "--resume", FIXTURE], d))
    check(res.returncode == 1 and "not a GPT of vkt train --model gpt" in res.stderr,
          "a checkpoint without the GPT's hyper_parameters", res)
    res = text(run(["train", "--resume", ckpt], d))
    check(res.returncode == 1 and "vkt train --model gpt --resume" in res.stderr,
          "vkt train --resume without --model gpt points to it", res)
    bad = os.path.join(d, "bad.ckpt")
    for edit, needle in [
        (lambda m: m["hyper_parameters"].update(width=32), "the state_dict does not fit the model"),
        (lambda m: m["hyper_parameters"].pop("lr"), "hyper_parameters.lr is missing"),
        (lambda m: m["hyper_parameters"].update(vocab="0a20"), "hyper_parameters.vocab_size"),
        (lambda m: m["hyper_parameters"].update(vocab="zz"), "hyper_parameters.vocab:"),
        (lambda m: m.pop("gpt_dropout_offsets"), "gpt_dropout_offsets.drop is missing"),
        (lambda m: m.update(global_step=-1), "global_step"),
    ]:
        rewrite(ckpt, bad, edit)
        res = text(run(["train", "--model", "gpt", "--resume", bad, "--sample", "0"], d))
        check(res.returncode == 1 and needle in res.stderr and bad in res.stderr,
              f"a corrupt checkpoint: {needle}", res)
    rewrite(ckpt, bad, lambda m: m.update(global_step=4), crc=False)
    res = text(run(["train", "--model", "gpt", "--resume", bad], d))
    check(res.returncode == 1 and "fails its CRC-32 check" in res.stderr and bad in res.stderr,
          "a damaged checkpoint header", res)
    res = text(run(["train", "--model", "gpt", "--resume", ckpt, "--layers", "2"], d,
                   exe=VKT_LSAN))
    check(res.returncode == 1 and "LeakSanitizer" not in res.stderr,
          "no leak when --resume is refused", res)


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

    # 1. a run: summary, logs, hparams, checkpoint with the vocabulary (dropout on: the run
    # --resume must reproduce)
    whole = ["train", "--model", "gpt", "--text", corpus, "--dropout", "0.1"] + TINY
    res = text(run(whole + ["--sample", "12"], tmp))
    whole_ckpt = final_ckpt(res)
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

    resume_checks(tmp, whole, whole_ckpt)

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
