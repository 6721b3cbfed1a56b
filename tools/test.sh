#!/usr/bin/env bash
# tools/test.sh — build vkt and run the whole test suite.
#
# Every GPU test runs on Mesa lavapipe (or VKT_DEVICE) with Khronos validation and synchronization
# validation on; any validation message fails the test. The GPU suite runs three times, at
# LP_NATIVE_VECTOR_WIDTH=128, 256 and 512 (lavapipe subgroup sizes 4, 8 and 16), to show that no
# shader assumes one subgroup size.
#
# A second build with AddressSanitizer, UBSan and LeakSanitizer runs the unit tests and the GPU
# tests at one width; any report from project code fails (tests/lsan.supp names the only
# suppressed modules: the Vulkan loader, lavapipe, LLVM and the validation layer).
# It also runs each libFuzzer target in fuzz/ for a bounded time (tools/fuzz.sh; VKT_FUZZ_SECONDS,
# default 20).
#
# usage: tools/test.sh                     the whole suite
#        tools/test.sh NAME... [meson test args]   those tests alone (GPU tests at all three widths),
#                                          e.g. tools/test.sh test_matmul
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
vkt_install_packages $VKT_PACKAGES

build=${VKT_TEST_BUILD:-build-test}
vkt_build "$build" --buildtype=debugoptimized -Dtests=true

start=$(date +%s)
passed=0
failed=0
# run LABEL [VAR=value...] -- [meson test args...]
run() {
    local label="$1"
    shift
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    shift
    echo "== $label"
    local log
    log=$(mktemp)
    env "${envs[@]}" meson test -C "${run_build:-$build}" --print-errorlogs --num-processes 2 "$@" \
        "${extra[@]}" >"$log" 2>&1 || true
    grep -E '^ *[0-9]+/[0-9]+ ' "$log" || true
    local ok fail
    ok=$(awk '/^Ok:/ {print $2}' "$log")
    fail=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}' "$log")
    if [ "$fail" -gt 0 ] || [ -z "$ok" ]; then
        cat "$log"
        [ -z "$ok" ] && fail=$((fail + 1))
    fi
    passed=$((passed + ${ok:-0}))
    failed=$((failed + fail))
    rm -f "$log"
}

extra=("$@")
if [ ${#extra[@]} -gt 0 ]; then
    # Named tests: run them alone. A GPU test runs at the three widths, anything else once.
    gpu_names=$(meson test -C "$build" --list --suite gpu 2>/dev/null | sed -n 's|^.* / ||p')
    any_gpu=0
    for a in "${extra[@]}"; do
        grep -qx -- "$a" <<<"$gpu_names" && any_gpu=1
    done
    if [ "$any_gpu" -eq 1 ]; then
        for width in 128 256 512; do
            run "$* at LP_NATIVE_VECTOR_WIDTH=$width" LP_NATIVE_VECTOR_WIDTH=$width --
        done
    else
        run "$*" --
    fi
    echo "tests: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi
# tools/train.sh builds with -O3 (release), which warns about things -O2 does not: build that too.
echo "== release build (as tools/train.sh makes it)"
if rel_log=$(vkt_build build-release --buildtype=release -Dtests=false 2>&1); then
    passed=$((passed + 1))
else
    echo "$rel_log"
    failed=$((failed + 1))
fi
run "unit tests" -- --suite unit
run "install and link as a user, and build without MPI" -- --suite install
for width in 128 256 512; do
    run "GPU tests at LP_NATIVE_VECTOR_WIDTH=$width" LP_NATIVE_VECTOR_WIDTH=$width -- --suite gpu
done
echo "== sanitizer build (address, undefined, leak)"
if asan_log=$(vkt_build build-asan --buildtype=debugoptimized -Dtests=true \
    -Db_sanitize=address,undefined -Db_lundef=false 2>&1); then
    libdir=/usr/lib/$(gcc -dumpmachine)
    # libvkt_sanitizer_pin.so keeps the driver and layer mapped so that their leaks can be named
    # (tests/sanitizer_pin.c); it is not sanitized itself, hence verify_asan_link_order=0.
    san_env=(LD_PRELOAD="$PWD/build-asan/tests/libvkt_sanitizer_pin.so"
        VKT_PIN_LIBS="$libdir/libvulkan_lvp.so:$libdir/libVkLayer_khronos_validation.so"
        ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=0
        LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1)
    run_build=build-asan
    run "sanitizers: unit tests" "${san_env[@]}" -- --suite unit
    run "sanitizers: GPU tests at LP_NATIVE_VECTOR_WIDTH=256" "${san_env[@]}" \
        LP_NATIVE_VECTOR_WIDTH=256 -- --suite gpu
    unset run_build
else
    echo "$asan_log"
    failed=$((failed + 1))
fi
echo "== fuzz targets, ${VKT_FUZZ_SECONDS:-20} s each (tools/fuzz.sh)"
fuzz_log=$(mktemp)
VKT_FUZZ_NO_INSTALL=1 tools/fuzz.sh -t "${VKT_FUZZ_SECONDS:-20}" >"$fuzz_log" 2>&1 || true
cat "$fuzz_log"
fuzz_ok=$(grep -c '^fuzz .*: ok,' "$fuzz_log" || true)
fuzz_bad=$(grep -c '^fuzz .*: FAILED' "$fuzz_log" || true)
if [ "$fuzz_ok" -eq 0 ] && [ "$fuzz_bad" -eq 0 ]; then
    fuzz_bad=1 # the fuzz build itself failed
fi
passed=$((passed + fuzz_ok))
failed=$((failed + fuzz_bad))
rm -f "$fuzz_log"
echo "suite time: $(($(date +%s) - start)) s"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
