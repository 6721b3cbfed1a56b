#!/usr/bin/env bash
# bench/train_vs_torch.sh — training throughput of vkt beside PyTorch on the CPU, in one run.
#
# Same model (`vkt train --model mlp|cnn`: the 784-256-128-10 MLP or the Conv-BN-ReLU-MaxPool CNN),
# optimizer (Adam, lr 1e-3), batch size and data (Fashion-MNIST training set); vkt on the default
# Vulkan device (VKT_DEVICE to choose). The peer is at its best:
# PyTorch on OpenBLAS (libopenblas0-pthread; without it Debian's torch falls back to the reference
# BLAS, about 6x slower here) with torch's and OpenBLAS's threads set to every core. The rounds
# alternate (vkt, PyTorch, vkt, PyTorch, ...) so that both see the same machine; each side's min
# and median over the rounds are printed, and the ratio of the two medians. The BLAS library, its
# kernel and its threads are printed, and torch's build configuration (bench/blas_matmul.py info).
#
# usage: bench/train_vs_torch.sh [mlp|cnn] [epochs=2] [batch=128] [rounds=3] [batches=all]
#        batches: training batches per epoch on both sides (the CNN's full epoch takes minutes
#        on a small CPU; e.g. `cnn 1 128 3 100`)
#        (installs python3-torch and libopenblas0-pthread if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
vkt_install_packages $VKT_PACKAGES python3-torch libopenblas0-pthread
vkt_build build-release --buildtype=release -Dtests=false
model=mlp
case "${1:-}" in mlp | cnn) model=$1; shift ;; esac
epochs=${1:-2}
batch=${2:-128}
rounds=${3:-3}
batches=${4:-}
cores=$(nproc)
export OPENBLAS_NUM_THREADS=$cores
/usr/bin/python3 bench/blas_matmul.py info "$cores"

median() { sort -n | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
minimum() { sort -n | head -1; }

vkt_all=()
torch_all=()
for r in $(seq 1 "$rounds"); do
    vkt_out=$(build-release/tools/vkt train --model "$model" --epochs "$epochs" --batch-size "$batch" \
        ${batches:+--limit-batches "$batches"} \
        --val-split 0 --log-every 0)
    vkt_all+=("$(echo "$vkt_out" | awk '/^training:/ {print $(NF-1)}')")
    torch_out=$(/usr/bin/python3 bench/torch_fmnist.py "$model" "$epochs" "$batch" "$cores" $batches)
    torch_all+=("$(echo "$torch_out" |
        awk '/samples_per_s/ {s += $NF; n++} END {if (n) printf "%.0f", s / n}')")
    echo "round $r: vkt ${vkt_all[-1]} samples/s, pytorch ${torch_all[-1]} samples/s"
done
vkt_sps=$(printf '%s\n' "${vkt_all[@]}" | median)
torch_sps=$(printf '%s\n' "${torch_all[@]}" | median)
vkt_min=$(printf '%s\n' "${vkt_all[@]}" | minimum)
torch_min=$(printf '%s\n' "${torch_all[@]}" | minimum)
echo
printf 'device: %s\n' "$(echo "$vkt_out" | awk -F': ' '/^device:/ {print $2}')"
printf '%s, batch %s, %s epochs, %s alternating rounds\n' "$model" "$batch" "$epochs" "$rounds"
printf 'vkt      min %8s  median %8s samples/s\n' "$vkt_min" "$vkt_sps"
printf 'pytorch  min %8s  median %8s samples/s (CPU, %s torch threads)\n' \
    "$torch_min" "$torch_sps" \
    "$(echo "$torch_out" | awk '/^threads/ {print $2}')"
printf 'pytorch BLAS: %s\n' "$(echo "$torch_out" | sed -n 's/^blas //p')"
[ -n "${OPENBLAS_CORETYPE:-}" ] && printf 'OPENBLAS_CORETYPE=%s (set on this machine)\n' \
    "$OPENBLAS_CORETYPE"
awk -v a="$vkt_sps" -v b="$torch_sps" 'BEGIN {printf "ratio vkt/pytorch (medians): %.2f\n", a / b}'
