#!/usr/bin/env python3
"""test_ddp_fault.py MPIRUN TEST_DDP — a rank that fails stops every rank (docs/distributed.md).

Runs `mpirun -n 2 test_ddp --fault`: rank 1's training_step fails while rank 0 waits for its
gradients. Each rank reports whether its fit returned what it should (rank 1 its own error,
rank 0 VKT_DISTRIBUTED naming rank 1 and the reason); both must, well within the time limit (no
hang). The launcher's own exit status is not the test: after a failure the ranks leave MPI
unfinalised and mpirun reports the job as failed, as it should.
"""
import os
import subprocess
import sys
import time

MPIRUN, TEST = sys.argv[1], sys.argv[2]
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
t0 = time.time()
try:
    p = subprocess.run([MPIRUN, "-n", "2", TEST, "--fault"], env=env, capture_output=True,
                       text=True, timeout=120)
except subprocess.TimeoutExpired:
    print("FAIL: the ranks hung after rank 1 failed")
    sys.exit(1)
out = p.stdout
lines = [l for l in out.splitlines() if l.startswith("rank ")]
print("\n".join(lines))
print(f"ended in {time.time() - t0:.1f} s, mpirun exit status {p.returncode}")
if "rank 0: fault ok" not in out or "rank 1: fault ok" not in out:
    print("FAIL: a rank did not stop with the expected error")
    print(out[-2000:], p.stderr[-2000:])
    sys.exit(1)
print("test_ddp_fault: ok")
