#!/usr/bin/env python3
"""test_cli_ddp.py MPIRUN VKT — `mpirun -n 2 vkt train` end to end (docs/distributed.md).

With two ranks the auto strategy is DDP: rank 0 alone prints, logs and checkpoints (one
lightning_logs/version_0, one epoch summary per epoch, the weights once), and the run reports
its all-reduce. One rank under the launcher stays a single-process run; a bad --strategy is a
usage error.
"""
import glob
import os
import subprocess
import sys
import tempfile

MPIRUN, VKT = sys.argv[1], os.path.abspath(sys.argv[2])
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
TRAIN = ["train", "--epochs", "2", "--limit-batches", "10", "--layers", "784,32,10",
         "--log-every", "5"]


def run(ranks, args, cwd):
    p = subprocess.run([MPIRUN, "-n", str(ranks), VKT] + args, cwd=cwd, env=ENV,
                       capture_output=True, text=True, timeout=280)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what, out=""):
    if not cond:
        print("FAIL:", what)
        print(out[-3000:])
        sys.exit(1)


with tempfile.TemporaryDirectory() as d:
    rc, out, err = run(2, TRAIN, d)
    expect(rc == 0, f"2-rank train exited {rc}", out + err)
    expect("ddp: 2 ranks" in out, "no ddp summary line", out)
    summaries = [l for l in out.splitlines() if l.startswith("epoch ")]
    expect(len(summaries) == 2, f"{len(summaries)} epoch summaries (rank 0 alone prints 2)", out)
    expect(out.count("test_acc") == 1, "the test result printed more than once", out)
    versions = sorted(os.listdir(os.path.join(d, "lightning_logs")))
    expect(versions == ["version_0"], f"log versions {versions}: a rank other than 0 wrote", out)
    v0 = os.path.join(d, "lightning_logs", "version_0")
    expect(os.path.exists(os.path.join(v0, "metrics.csv")), "no metrics.csv")
    expect(os.path.exists(os.path.join(v0, "model.safetensors")), "no model.safetensors")
    ckpts = glob.glob(os.path.join(v0, "checkpoints", "*.ckpt"))
    expect(len(ckpts) == 1 and ckpts[0].endswith("epoch=1-step=20.ckpt"),
           f"checkpoints {ckpts}: 2 epochs of 10 steps, one file")
    print("2 ranks:", [l for l in out.splitlines() if l.startswith(("ddp:", "epoch "))])

with tempfile.TemporaryDirectory() as d:
    rc, out, err = run(1, TRAIN, d)
    expect(rc == 0 and "ddp:" not in out, "one rank should train as a single process", out + err)

with tempfile.TemporaryDirectory() as d:
    rc, out, err = run(1, ["train", "--strategy", "fsdp"], d)
    expect(rc == 2 and "--strategy is single, ddp or auto, not 'fsdp'" in err,
           f"a bad --strategy gave {rc}", err)
print("test_cli_ddp: ok")
