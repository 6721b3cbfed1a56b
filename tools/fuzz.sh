#!/usr/bin/env bash
# tools/fuzz.sh — build the libFuzzer targets in fuzz/ (clang, AddressSanitizer + UBSan) and run
# each for a bounded time, starting from its seed corpus in fuzz/corpus/<name>/.
#
# usage: tools/fuzz.sh [-t SECONDS] [-j JOBS] [--merge] [TARGET...]
#   -t SECONDS  time per target (default 20, as the suite runs them); run as long as you like
#   -j JOBS     targets run at once (default: the number of cores)
#   --merge     add the inputs that reached new coverage to fuzz/corpus/<name>/ (libFuzzer -merge)
#   TARGET      names from fuzz/meson.build (default: all)
# Prints per target: executions, coverage (libFuzzer's "cov", edges reached) and features.
# A crash, leak, timeout or sanitizer report fails the run; the input is kept in build-fuzz/artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=20
jobs=$(nproc)
merge=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
    -t) seconds="$2"; shift 2 ;;
    -j) jobs="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "tools/fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
if [ -z "${VKT_FUZZ_NO_INSTALL:-}" ]; then
    source tools/deps.sh
    vkt_install_packages $VKT_PACKAGES
fi
build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" --buildtype=debugoptimized -Dwerror=true -Dtests=false -Dfuzz=true \
        -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null
fi
meson compile -C "$build" >/dev/null || meson compile -C "$build"
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n "/^fuzz_targets = \[/,/^\]/s/^ *'\([a-z0-9_]*\)',*/\1/p" fuzz/meson.build)
fi
mkdir -p "$build/artifacts" "$build/logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

# run_one NAME: fuzz one target into a scratch corpus; prints its summary line.
run_one() {
    local t="$1" work log
    work=$(mktemp -d)
    log="$build/logs/$t.log"
    local rc=0
    "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -artifact_prefix="$build/artifacts/$t-" \
        "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    if [ "$merge" -eq 1 ] && [ "$rc" -eq 0 ]; then
        "$build/fuzz/fuzz_$t" -merge=1 "fuzz/corpus/$t" "$work" >>"$log" 2>&1 || rc=$?
    fi
    rm -rf "$work"
    local execs cov ft
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    if [ "$rc" -ne 0 ]; then
        echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} execs; log $log"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -8 | sed 's/^/    /'
        return 1
    fi
    echo "fuzz $t: ok, ${execs:-0} execs in ${seconds} s, cov ${cov:-0}, ft ${ft:-0}"
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
    [ -x "$build/fuzz/fuzz_$t" ] || { echo "fuzz $t: no such target" >&2; status=2; continue; }
    ( run_one "$t" >"$build/logs/$t.summary" ) &
    pids+=($!)
    names+=("$t")
    if [ ${#pids[@]} -ge "$jobs" ]; then
        wait "${pids[0]}" || status=1
        cat "$build/logs/${names[0]}.summary"
        pids=("${pids[@]:1}")
        names=("${names[@]:1}")
    fi
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$build/logs/${names[$i]}.summary"
done
exit $status
