#!/usr/bin/env bash
# bench/ddp_train.sh — `vkt train` on 1 and on 2 ranks of this machine (docs/distributed.md),
# alternating rounds: samples/s per rank and in all, and the all-reduce's bytes and time per
# step; on 2 ranks both with the gradients in buckets reduced during the backward (--bucket-mb
# 25, torch's default) and in one bucket after it (--bucket-mb 0). On lavapipe the ranks share
# the CPU cores with the "device", so the figures to read are the all-reduce's (bytes, ring time,
# how much of it ran while the device was still in the backward), not a speed-up.
#
# usage: bench/ddp_train.sh [BUILD_DIR] [ROUNDS] [LAYERS]
#        (default build-test, 3, 784,1024,1024,10: 1.86 M parameters, 7.5 MB of gradients)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-test}
rounds=${2:-3}
layers=${3:-784,1024,1024,10}
vkt="$PWD/$build/tools/vkt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "vkt train --layers $layers --epochs 1 --limit-batches 60 (batch 128 per rank)," \
    "$(nproc) cores, rounds alternate"
for r in $(seq "$rounds"); do
    for run in "1 25" "2 25" "2 0"; do
        read -r n mb <<<"$run"
        out=$(cd "$work" && mpirun -n "$n" "$vkt" train --layers "$layers" --epochs 1 \
            --limit-batches 60 --log-every 0 --bucket-mb "$mb" 2>/dev/null)
        rate=$(sed -n 's/^training: .* = \([0-9]*\) samples\/s.*/\1/p' <<<"$out")
        ddp=$(sed -n 's/^ddp: //p' <<<"$out")
        label="$n rank"
        [ "$n" = 1 ] || label="$n ranks, --bucket-mb $mb"
        printf 'round %d, %-25s %6s samples/s per rank, %6s in all%s\n' "$r" "$label:" "$rate" \
            "$((rate * n))" "${ddp:+; $ddp}"
    done
done
