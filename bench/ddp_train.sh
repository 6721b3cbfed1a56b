#!/usr/bin/env bash
# bench/ddp_train.sh — `vkt train` on 1 and on 2 ranks of this machine (docs/distributed.md),
# alternating rounds: samples/s per rank and in all, and the all-reduce's bytes and time per
# step. On lavapipe the ranks share the CPU cores, so the figures to read are the all-reduce's
# (bytes, ring and staging time per step), not a speed-up.
#
# usage: bench/ddp_train.sh [BUILD_DIR] [ROUNDS]     (default build-test, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-test}
rounds=${2:-3}
vkt="$PWD/$build/tools/vkt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "vkt train --epochs 1 --limit-batches 100 (batch 128 per rank), $(nproc) cores, rounds alternate"
for r in $(seq "$rounds"); do
    for n in 1 2; do
        out=$(cd "$work" && mpirun -n "$n" "$vkt" train --epochs 1 --limit-batches 100 \
            --log-every 0 2>/dev/null)
        rate=$(sed -n 's/^training: .* = \([0-9]*\) samples\/s.*/\1/p' <<<"$out")
        ddp=$(sed -n 's/^ddp: //p' <<<"$out")
        printf 'round %d, %d rank(s): %6s samples/s per rank, %6s in all%s\n' "$r" "$n" "$rate" \
            "$((rate * n))" "${ddp:+; $ddp}"
    done
done
