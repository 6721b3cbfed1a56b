#!/bin/sh
# Only vkt_* symbols may be exported from libvkt.so: volk's vk* pointers and every vkt__ internal
# stay hidden, so libvkt can live in a host application that has its own volk.
set -eu
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}')
bad=$(printf '%s\n' "$syms" | grep -v -E '^vkt_[a-z]' || true)
bad_internal=$(printf '%s\n' "$syms" | grep -E '^vkt__' || true)
if [ -n "$bad" ] || [ -n "$bad_internal" ]; then
    echo "exported symbols that are not public vkt_ API:"
    printf '%s\n' $bad $bad_internal
    exit 1
fi
for want in vkt_device_create vkt_tensor_new vkt_matmul vkt_selftest vkt_device_adopt; do
    printf '%s\n' "$syms" | grep -qx "$want" || { echo "missing export: $want"; exit 1; }
done
count=$(printf '%s\n' "$syms" | wc -l)
echo "ok: $count symbols exported, all vkt_*"
