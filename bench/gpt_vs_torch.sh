#!/usr/bin/env bash
# bench/gpt_vs_torch.sh — training throughput of the character GPT in vkt beside PyTorch on the
# CPU, in one run, and vkt's device memory against the model's state.
#
# Same model (`vkt train --model gpt`: nanoGPT's GPT with a tied head, exact GELU), optimizer
# (AdamW, betas (0.9, 0.95), weight decay 0.1 on matmul weights, warmup + cosine, clipping at 1),
# batch, context and corpus (the fortune package's text, the last 10% held out); vkt on the
# default Vulkan device (VKT_DEVICE to choose). The peer is at its best: PyTorch on OpenBLAS
# (libopenblas0-pthread) with torch's and OpenBLAS's threads set to every core
# (bench/torch_gpt.py prints them and the BLAS kernel; bench/blas_matmul.py info, torch's build
# configuration). The rounds alternate (vkt, PyTorch, vkt, PyTorch, ...) so that both see the
# same machine; each side's min and median tokens/s over the rounds are printed, and the ratio
# of the two medians.
# vkt's line "device memory" splits its peak into parameters + gradients + AdamW's two moments
# (16 bytes per parameter), the data set held on the device, and the rest (activations kept for
# the backward, temporaries), given per token per layer.
#
# usage: bench/gpt_vs_torch.sh [layers=4] [heads=4] [width=128] [context=64] [batch=16]
#                              [steps=60] [rounds=3]
#        (installs python3-torch and libopenblas0-pthread if missing)
#        VKT_BUILD=DIR: use the vkt of an existing build instead of building build-release
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
vkt_install_packages $VKT_PACKAGES python3-torch libopenblas0-pthread
build=${VKT_BUILD:-build-release}
[ -n "${VKT_BUILD:-}" ] || vkt_build build-release --buildtype=release -Dtests=false
layers=${1:-4}
heads=${2:-4}
width=${3:-128}
context=${4:-64}
batch=${5:-16}
steps=${6:-60}
rounds=${7:-3}
text=/usr/share/games/fortunes
cores=$(nproc)
export OPENBLAS_NUM_THREADS=$cores
/usr/bin/python3 bench/blas_matmul.py info "$cores"

median() { sort -n | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
minimum() { sort -n | head -1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vkt_all=()
torch_all=()
for r in $(seq 1 "$rounds"); do
    vkt_out=$(cd "$tmp" && "$OLDPWD/$build"/tools/vkt train --model gpt --text "$text" \
        --layers "$layers" --heads "$heads" --width "$width" --context "$context" \
        --batch-size "$batch" --epochs 1 --limit-batches "$steps" --val-batches 0 \
        --log-every 0 --sample 0)
    vkt_all+=("$(echo "$vkt_out" | sed -n 's/^training:.* = \([0-9]*\) tokens\/s.*/\1/p')")
    torch_out=$(/usr/bin/python3 bench/torch_gpt.py "$text" "$layers" "$heads" "$width" \
        "$context" "$batch" "$steps" "$cores")
    torch_all+=("$(echo "$torch_out" | awk '/tokens_per_s/ {print $NF}')")
    echo "round $r: vkt ${vkt_all[-1]} tokens/s, pytorch ${torch_all[-1]} tokens/s"
done
vkt_tps=$(printf '%s\n' "${vkt_all[@]}" | median)
torch_tps=$(printf '%s\n' "${torch_all[@]}" | median)
vkt_min=$(printf '%s\n' "${vkt_all[@]}" | minimum)
torch_min=$(printf '%s\n' "${torch_all[@]}" | minimum)
echo
printf 'device: %s\n' "$(echo "$vkt_out" | awk -F': ' '/^device:/ {print $2}')"
printf 'GPT %s layers, %s heads, width %s, context %s, batch %s, %s steps, %s alternating rounds\n' \
    "$layers" "$heads" "$width" "$context" "$batch" "$steps" "$rounds"
echo "$vkt_out" | sed -n 's/^model: /vkt model: /p'
printf 'vkt      min %8s  median %8s tokens/s\n' "$vkt_min" "$vkt_tps"
printf 'pytorch  min %8s  median %8s tokens/s (CPU, %s torch threads)\n' \
    "$torch_min" "$torch_tps" \
    "$(echo "$torch_out" | awk '/^threads/ {print $2}')"
printf 'pytorch BLAS: %s\n' "$(echo "$torch_out" | sed -n 's/^blas //p')"
[ -n "${OPENBLAS_CORETYPE:-}" ] && printf 'OPENBLAS_CORETYPE=%s (set on this machine)\n' \
    "$OPENBLAS_CORETYPE"
awk -v a="$vkt_tps" -v b="$torch_tps" 'BEGIN {printf "ratio vkt/pytorch (medians): %.2f\n", a / b}'
echo "$vkt_out" | grep '^device memory:'
