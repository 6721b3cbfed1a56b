#!/usr/bin/env python3
"""The BLAS peers of bench/matmul_vs_blas.sh: numpy and PyTorch matmul on the CPU, at the products
of a `vkt bench matmul --csv` file, timed as vkt times them.

    /usr/bin/python3 bench/blas_matmul.py info [threads=all cores]
        which BLAS each side runs: numpy's config, torch.__config__.show(), and for every BLAS
        library mapped into the process, OpenBLAS's kernel and threads when it is OpenBLAS
    /usr/bin/python3 bench/blas_matmul.py time VKT_CSV [repeat=5] [threads=all cores]
        a CSV row per (product, peer) on stdout: the products (batch, M, N, K, form) of VKT_CSV
    /usr/bin/python3 bench/blas_matmul.py report CSV...
        the table of bench/matmul_vs_blas.sh from every round's vkt and peer CSVs

Timing, as tools/bench_matmul.c: one warm-up product, then `repeat` runs of enough products for
>= 100 MFLOP each, the median and the fastest run per product. The operands are stored as vkt
stores them (AtB: A is (K, M); ABt: B is (N, K)) and transposed as views, so that BLAS gets the
transpose flags instead of a copy; C is preallocated (out=). A round's rate is its median run;
the report gives the min and the median over rounds per side, and the ratio of the medians.
"""
import csv
import ctypes
import io
import os
import statistics
import sys
import time

import numpy as np
import torch


def blas_libs():
    """Every BLAS library mapped into this process, with OpenBLAS's kernel and threads."""
    out = []
    libs = sorted({l.split()[-1] for l in open("/proc/self/maps")
                   if "blas" in l.rsplit("/", 1)[-1] and ".so" in l})
    for lib in libs:
        desc = os.path.realpath(lib)
        try:
            ob = ctypes.CDLL(lib)
            ob.openblas_get_corename.restype = ctypes.c_char_p
            ob.openblas_get_config.restype = ctypes.c_char_p
            desc += (f" (OpenBLAS {ob.openblas_get_config().decode()}, kernel "
                     f"{ob.openblas_get_corename().decode()}, {ob.openblas_get_num_threads()} "
                     f"threads)")
        except (OSError, AttributeError):
            desc += " (not OpenBLAS)"
        out.append(desc)
    return out or ["none found"]


def info(threads):
    torch.set_num_threads(threads)
    np.matmul(np.ones((64, 64), np.float32), np.ones((64, 64), np.float32))
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # both BLAS libraries loaded
    print(f"numpy {np.__version__}, torch {torch.__version__}, {torch.get_num_threads()} torch "
          f"threads, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    # numpy links libblas.so.3, which Debian's alternatives point at OpenBLAS when installed
    try:
        blas_opt = np.__config__.get_info("blas_opt_info")
        ncfg = (f"blas_opt_info libraries {blas_opt.get('libraries')} in "
                f"{blas_opt.get('library_dirs')}")
    except AttributeError:  # numpy >= 1.25 (meson): show_config gives the build's BLAS by name
        buf = io.StringIO()
        stdout, sys.stdout = sys.stdout, buf
        try:
            np.show_config()
        finally:
            sys.stdout = stdout
        ncfg = " ".join(buf.getvalue().split())[:300]
    print("numpy config:", ncfg)
    cfg = torch.__config__.show()
    keep = [l.strip(" -") for l in cfg.splitlines() if "CPU capability" in l or "MKL-DNN" in l]
    keep += [f for f in cfg.replace(",", " ").split() if f.startswith(("BLAS_INFO", "LAPACK_INFO"))]
    print("torch config (torch.__config__.show()):", "; ".join(keep))
    for lib in blas_libs():
        print("mapped BLAS:", lib)


def operands(mod, batch, m, n, k, form, rng):
    """op(A), op(B), C for one product in `mod` (numpy or torch), stored as vkt stores them."""
    ta, tb = form in ("AtB", "AtBt"), form in ("ABt", "AtBt")
    lead = (batch,) if batch > 1 else ()
    a = rng.uniform(-1, 1, lead + ((k, m) if ta else (m, k))).astype(np.float32)
    b = rng.uniform(-1, 1, lead + ((n, k) if tb else (k, n))).astype(np.float32)
    c = np.empty(lead + (m, n), np.float32)
    if mod == "torch":
        a, b, c = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        t = (lambda x: x.transpose(-1, -2))
    else:
        t = (lambda x: np.swapaxes(x, -1, -2))
    return (t(a) if ta else a), (t(b) if tb else b), c


def rate(f, flops, repeat):
    calls = int(1e8 / flops) + 1
    f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - t0) / calls)
    times.sort()
    return flops / times[len(times) // 2] * 1e-9, flops / times[0] * 1e-9


def time_peers(vkt_csv, repeat, threads):
    torch.set_num_threads(threads)
    rng = np.random.default_rng(12345)
    w = csv.writer(sys.stdout)
    w.writerow(["peer", "product", "form", "batch", "M", "N", "K", "median_gflops",
                "best_gflops"])
    seen = set()
    for r in csv.DictReader(open(vkt_csv)):
        key = (r["product"], r["form"], int(r["batch"]), int(r["M"]), int(r["N"]), int(r["K"]))
        if key in seen:
            continue
        seen.add(key)
        what, form, batch, m, n, k = key
        flops = 2.0 * batch * m * n * k
        for peer in ("numpy", "torch"):
            a, b, c = operands(peer, batch, m, n, k, form, rng)
            if peer == "numpy":
                f = (lambda: np.matmul(a, b, out=c))
            else:
                f = (lambda: torch.matmul(a, b, out=c))
            with torch.no_grad():
                med, best = rate(f, flops, repeat)
            w.writerow([peer, what, form, batch, m, n, k, f"{med:.3f}", f"{best:.3f}"])
            sys.stdout.flush()


def report(paths):
    """rates[(shape)][side] = [per-round median GFLOP/s]; peaks = per-round measured peaks."""
    rates, order, peaks = {}, [], []
    for p in paths:
        for r in csv.DictReader(open(p)):
            key = (r["product"], r["form"], r["batch"], r["M"], r["N"], r["K"])
            if "peer" in r:
                side = r["peer"]
            elif r["chosen"] == "1":
                side = "vkt"
            else:
                continue
            if key not in rates:
                rates[key] = {}
                order.append(key)
            rates[key].setdefault(side, []).append(float(r["median_gflops"]))
            if side == "vkt" and "peak_gflops" in r:
                if not peaks or peaks[-1][0] != p:
                    peaks.append((p, float(r["peak_gflops"])))
    peak = statistics.median(v for _, v in peaks) if peaks else float("nan")
    rounds = min((len(v) for s in rates.values() for v in s.values()), default=0)
    print(f"GFLOP/s, min / median over {rounds} alternating rounds (each round's rate: its "
          f"median run); ratios of the medians; vkt's % of the measured fp32 peak "
          f"(median {peak:.1f} GFLOP/s; rounds: {', '.join(f'{v:.1f}' for _, v in peaks)})")
    head = (f"{'product':<13} {'form':<4} {'B':>3} {'M':>6} {'N':>5} {'K':>6}  "
            f"{'vkt':>13} {'%peak':>5}  {'numpy':>13} {'torch':>13}  {'/numpy':>6} {'/torch':>6}")
    print(head)
    lo = {"numpy": [], "torch": []}
    for key in order:
        s = rates[key]
        cells, med = [], {}
        for side in ("vkt", "numpy", "torch"):
            v = s.get(side, [])
            med[side] = statistics.median(v) if v else float("nan")
            cells.append(f"{min(v):6.2f}/{med[side]:6.2f}" if v else f"{'-':>13}")
        ratio = {p: med["vkt"] / med[p] if med[p] > 0 else float("nan") for p in lo}
        for p in lo:
            lo[p].append(ratio[p])
        what, form, b, m, n, k = key
        print(f"{what:<13} {form:<4} {b:>3} {m:>6} {n:>5} {k:>6}  {cells[0]} "
              f"{100 * med['vkt'] / peak:4.1f}%  {cells[1]} {cells[2]}  {ratio['numpy']:6.3f} "
              f"{ratio['torch']:6.3f}")
    for p, v in lo.items():
        v = [x for x in v if x == x]
        if v:
            print(f"vkt/{p}: lowest {min(v):.3f}, median {statistics.median(v):.3f} over "
                  f"{len(v)} products")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "info":
        info(int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count())
    elif len(sys.argv) >= 3 and sys.argv[1] == "time":
        time_peers(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5,
                   int(sys.argv[4]) if len(sys.argv) > 4 else os.cpu_count())
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
