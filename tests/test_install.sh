#!/bin/sh
# tests/test_install.sh BUILD_DIR — `meson install` of BUILD_DIR into a staging root, then outside
# programs (tests/install/consumer.c) built against the staged tree as a user would: with
# pkg-config, shared and static; with CMake's find_package(vkt), shared and static; and two
# Vulkan hosts linked statically with libvkt.a, one with -lvulkan and one with its own volk; the
# public headers as C++11..20 (tests/install/consumer.cpp); vkt configured as a subproject.
# Every program runs (on the default device) and checks the headers' version against the
# library's. The installed libvkt.a must define no global symbol but vkt_*.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/install" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
pc=$(find "$root" -name vkt.pc)
[ -n "$pc" ] || { echo "no vkt.pc installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
for f in libvkt.a libvkt.so; do
    [ -e "$libdir/$f" ] || { echo "not installed: $f"; exit 1; }
done
soname=$(objdump -p "$libdir/libvkt.so" | awk '$1 == "SONAME" {print $2}')
case $soname in
libvkt.so.[0-9]*) echo "SONAME $soname" ;;
*) echo "SONAME is '$soname', not libvkt.so.N"; exit 1 ;;
esac
leaks=$(nm -g --defined-only "$libdir/libvkt.a" | awk 'NF == 3 && $3 !~ /^vkt_[a-z]/ {print $3}')
if [ -n "$leaks" ]; then
    echo "libvkt.a defines non-API globals: $(echo "$leaks" | head -5 | tr '\n' ' ')..."
    exit 1
fi
echo "libvkt.a: $(nm -g --defined-only "$libdir/libvkt.a" | awk 'NF == 3' | wc -l) global symbols, all vkt_*"

export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
cc=${CC:-cc}
static_libs=$(pkg-config --static --libs vkt | sed "s|-lvkt|$libdir/libvkt.a|")
run() { # NAME: runs $tmp/NAME, which must succeed
    echo "== $1"
    LD_LIBRARY_PATH="$libdir" "$tmp/$1"
}
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Wextra -Werror "$src/consumer.c" $(pkg-config --cflags --libs vkt) -o "$tmp/pc_shared"
objdump -p "$tmp/pc_shared" | grep -q "NEEDED *$soname" || { echo "pc_shared does not need $soname"; exit 1; }
run pc_shared
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Wextra -Werror "$src/consumer.c" $(pkg-config --cflags vkt) $static_libs -o "$tmp/pc_static"
run pc_static
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Wextra -Werror -DHOST_LOADER "$src/consumer.c" $(pkg-config --cflags vkt) \
    $static_libs -lvulkan -o "$tmp/host_loader"
run host_loader
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Wextra -DHOST_VOLK -DVK_NO_PROTOTYPES "$src/consumer.c" /usr/include/volk.c \
    $(pkg-config --cflags vkt) $static_libs -o "$tmp/host_volk"
run host_volk

# C++: every public header as C++11..20, pedantic, and the API used from C++.
cxx=${CXX:-c++}
for std in 11 14 17 20; do
    # shellcheck disable=SC2046
    $cxx -std=c++$std -Wall -Wextra -pedantic -Werror "$src/consumer.cpp" \
        $(pkg-config --cflags --libs vkt) -o "$tmp/cxx$std"
    run cxx$std
done

prefix=$(sed -n 's/^prefix=//p' "$pc")
cmake -S "$src" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$root$prefix" -DCMAKE_BUILD_TYPE=Release \
    >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
cp "$tmp/cmake/consumer_shared" "$tmp/cmake/consumer_static" "$tmp/"
run consumer_shared
run consumer_static
# As a subproject: configured only (building it is the main build again). No test or example
# target of vkt's, and the consumer's werror and warning level untouched.
mkdir -p "$tmp/sub/subprojects"
cp "$src/subproject/meson.build" "$src/consumer.c" "$tmp/sub/"
ln -s "$(cd "$src/../.." && pwd)" "$tmp/sub/subprojects/vkt"
meson setup "$tmp/sub/build" "$tmp/sub" >"$tmp/sub.log" 2>&1 || { cat "$tmp/sub.log"; exit 1; }
python3 - "$tmp/sub/build" <<'PY'
import json, subprocess, sys
intro = lambda what: json.loads(subprocess.check_output(["meson", "introspect", what, sys.argv[1]]))
names = sorted(t["name"] for t in intro("--targets"))
tests = [n for n in names if n.startswith("test_") or n in ("regression_csv", "epoch_metrics")]
opts = {(o.get("subproject") or "", o["name"]): o["value"] for o in intro("--buildoptions")}
bad = []
if tests:
    bad.append(f"vkt's tests/examples are built as a subproject: {tests[:5]}")
if opts[("", "werror")] is not False or opts[("", "warning_level")] != "1":
    bad.append(f"consumer's werror / warning_level changed: {opts[('', 'werror')]}, {opts[('', 'warning_level')]}")
if opts.get(("vkt", "werror"), False) is not False:  # absent: vkt follows the consumer's
    bad.append(f"vkt forces werror on itself as a subproject: {opts.get(('vkt', 'werror'))}")
if bad:
    sys.exit("\n".join(bad))
print(f"subproject: {len(names)} targets, no tests or examples; consumer werror=false, warning_level=1")
PY
echo "ok: installed tree builds and runs with pkg-config and CMake, shared and static"
