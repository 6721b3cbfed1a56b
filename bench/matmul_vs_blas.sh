#!/usr/bin/env bash
# bench/matmul_vs_blas.sh — vkt's matmul beside numpy's and PyTorch's (OpenBLAS) on the CPU, at
# the same products, in one run.
#
# The products are `vkt bench matmul`'s list (tools/bench_matmul.c: squares 256..2048, the MLP's
# and the CNN's training products with their transposes, a batched product) or SIZES; vkt runs
# the kernel vkt_matmul picks on the default Vulkan device (VKT_DEVICE to choose). The peers are
# at their best: numpy and PyTorch on OpenBLAS (libopenblas0-pthread) with OpenBLAS's and torch's
# threads set to every core, the operands stored as vkt stores them and transposed as views (BLAS
# gets the transpose flags), C preallocated; bench/blas_matmul.py prints which BLAS each runs.
# Both sides time alike (a warm-up, then REPEAT runs of >= 100 MFLOP each; a round's rate is its
# median run). The rounds alternate (vkt, peers, vkt, peers, ...) so that both see the same
# machine; the table gives min / median GFLOP/s over the rounds per side, vkt's median as a % of
# the device's measured fp32 peak (`vkt bench peak`, measured in each vkt round), and the ratio of
# the medians per product. On x86-64 the cores' own AVX2 FMA peak (bench/host_fma_peak.c) is
# printed before and after the rounds: against it, `vkt bench peak` on lavapipe says how much of
# the cores the driver's code generation leaves to any kernel (docs/performance.md).
#
# usage: bench/matmul_vs_blas.sh [rounds=3] [repeat=5] [sizes=vkt's default list]
#        (installs python3-torch, python3-numpy and libopenblas0-pthread if missing)
#        VKT_BUILD=DIR: use the vkt of an existing build instead of building build-release
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
vkt_install_packages $VKT_PACKAGES python3-torch python3-numpy libopenblas0-pthread
build=${VKT_BUILD:-build-release}
[ -n "${VKT_BUILD:-}" ] || vkt_build build-release --buildtype=release -Dtests=false
rounds=${1:-3}
repeat=${2:-5}
sizes=${3:-}
cores=$(nproc)
export OPENBLAS_NUM_THREADS=$cores

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/blas_matmul.py info "$cores"
[ -n "${OPENBLAS_CORETYPE:-}" ] && printf 'OPENBLAS_CORETYPE=%s (set on this machine)\n' \
    "$OPENBLAS_CORETYPE"
host_peak() { [ -x "$build"/bench/host_fma_peak ] && "$build"/bench/host_fma_peak "$cores" 3 || :; }
host_peak
for r in $(seq 1 "$rounds"); do
    "$build"/tools/vkt bench matmul --variant auto --csv --repeat "$repeat" \
        ${sizes:+--sizes "$sizes"} >"$tmp/vkt.$r.csv"
    # the peers time the products of the first vkt round, so both sides run the same list
    /usr/bin/python3 bench/blas_matmul.py time "$tmp/vkt.1.csv" "$repeat" "$cores" \
        >"$tmp/peer.$r.csv"
    echo "round $r of $rounds done"
done
host_peak
echo
printf 'device: %s\n' "$(sed -n '2s/^"\([^"]*\)".*/\1/p' "$tmp/vkt.1.csv")"
/usr/bin/python3 bench/blas_matmul.py report "$tmp"/vkt.*.csv "$tmp"/peer.*.csv
