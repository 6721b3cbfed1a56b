#!/usr/bin/env bash
# bench/train_vs_torch.sh — training throughput of vkt beside PyTorch on the CPU, in one run.
#
# Same model (784-256-128-10 MLP), optimizer (Adam, lr 1e-3), batch size and data (Fashion-MNIST
# training set); vkt on the default Vulkan device (VKT_DEVICE to choose), PyTorch with its default
# CPU threads. Prints both samples/s and the ratio vkt / PyTorch.
#
# usage: bench/train_vs_torch.sh [epochs=2] [batch=128]     (installs python3-torch if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
vkt_install_packages $VKT_PACKAGES python3-torch
vkt_build build-release --buildtype=release -Dtests=false
epochs=${1:-2}
batch=${2:-128}

vkt_out=$(build-release/tools/vkt train --epochs "$epochs" --batch-size "$batch" --val-split 0 \
    --log-every 0)
echo "$vkt_out"
torch_out=$(/usr/bin/python3 bench/torch_fmnist_mlp.py "$epochs" "$batch")
echo "$torch_out"

vkt_sps=$(echo "$vkt_out" | awk '/^training:/ {print $(NF-1)}')
torch_sps=$(echo "$torch_out" | awk '/samples_per_s/ {s += $NF; n++} END {if (n) printf "%.0f", s / n}')
echo
printf 'device: %s\n' "$(echo "$vkt_out" | awk -F': ' '/^device:/ {print $2}')"
printf 'batch %s, %s epochs\n' "$batch" "$epochs"
printf 'vkt      %8s samples/s\n' "$vkt_sps"
printf 'pytorch  %8s samples/s (CPU, %s threads)\n' "$torch_sps" \
    "$(echo "$torch_out" | awk '/^threads/ {print $2}')"
awk -v a="$vkt_sps" -v b="$torch_sps" 'BEGIN {printf "ratio vkt/pytorch: %.2f\n", a / b}'
