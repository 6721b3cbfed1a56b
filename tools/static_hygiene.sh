#!/bin/sh
# tools/static_hygiene.sh OUT.a IN.a [ld] [objcopy] [ar] — the installed libvkt.a: every object of
# IN.a linked into one relocatable object whose hidden symbols are made local, so that the archive
# defines no global symbol but the public vkt_* API. Without this a static libvkt.a carries volk's
# vk* function pointers and vkt's vkt__ internals as globals: a host linked with -lvulkan then
# calls volk's (null) pointers in place of the loader's functions, and a host with its own volk
# gets multiple definitions. No linker or archiver option does this on an archive, hence
# `ld -r` + `objcopy --localize-hidden` (the symbols are hidden: gnu_symbol_visibility).
set -eu
out=$1
in=$2
ld=${3:-ld}
objcopy=${4:-objcopy}
ar=${5:-ar}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ld" -r --whole-archive "$in" -o "$tmp/vkt.o"
"$objcopy" --localize-hidden "$tmp/vkt.o"
rm -f "$out"
"$ar" rcs "$out" "$tmp/vkt.o"
