#!/usr/bin/env python3
"""check_hparams_yaml.py — reads a vkt hparams.yaml the way Lightning does (yaml.safe_load).

Usage: check_hparams_yaml.py TEST_TRAIN_IO_EXE

Runs `TEST_TRAIN_IO_EXE --write-hparams DIR` (awkward_hparams() of tests/test_train_io.c: strings
that PyYAML's resolver would misread when written plain, numbers incl. inf/nan, nested dicts and
float lists), loads the file with PyYAML's safe_load and compares every value and its type.
"""
import math
import struct
import subprocess
import sys
import tempfile

import yaml

# the same list as awkward_strings in tests/test_train_io.c
AWKWARD = [
    "a: b", "#comment", "x #y", "it's", 'say "hi"', "back\\slash", "line1\nline2", "trailing\n",
    "\n", "tab\there", "cr\rlf", "é ✓ 😀", "  leading",
    "trailing  ", " ", "yes", "no", "No", "null", "Null", "~", "true", "off", "ON", "1e3", "1.5",
    "-1:30", "190:20:30", "0x1F", "0b101", "0o17", "0777", "1_000", "+.5", ".5", ".inf", "-.inf",
    ".nan", "2024-01-01", "2001-12-14 21:59:43.10 -5", "", "-", "- x", "?", "? x", ":", "::",
    "[list]", "{map}", "&anchor", "*alias", "!tag", "|", ">", "%", "@", "`", "<<", "=", ",",
    "a,b", "\x01ctrl", "del\x7f", "nel\x85", "ls\u2028", "\ufeffbom",
    "long words that go past the eighty column limit of the emitter and so get folded onto the "
    "next line by both emitters",
    "---", "...", "--- x",
]
NUMBERS = [0, -5, 32, 9007199254740991, 1e17, 0.1, 1e-05, -2.5, 1e300, 5e-324, math.inf,
           -math.inf, math.nan, 0.3665059506893158]

failures = []


def same(got, want):
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    return type(got) is type(want) and got == want


def check(what, got, want):
    if not same(got, want):
        failures.append(f"{what}: got {got!r} ({type(got).__name__}), want {want!r}")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([exe, "--write-hparams", d], check=True, capture_output=True,
                             text=True)
        text = open(out.stdout.strip(), "rb").read()
    try:
        text.decode("ascii")  # yaml.dump's default (allow_unicode=False) escapes the rest
    except UnicodeDecodeError:
        failures.append("hparams.yaml is not pure ASCII")
    hp = yaml.safe_load(text)
    check("top-level keys", sorted(hp), sorted(["strings", "keys", "numbers", "deep", "empty",
                                                "matrix", "vector", "scalar", "none", "rows0"]))
    for i, s in enumerate(AWKWARD):
        check(f"strings.s{i:02d}", hp["strings"].get(f"s{i:02d}"), s)
    check("keys", sorted(hp["keys"], key=repr), sorted(AWKWARD, key=repr))
    for i, s in enumerate(AWKWARD):
        check(f"keys[{s!r}]", hp["keys"].get(s), i)
    for i, v in enumerate(NUMBERS):
        check(f"numbers.n{i:02d}", hp["numbers"].get(f"n{i:02d}"), v)
    check("deep", hp["deep"], {"er": {"est": {"yes": "no"}}})
    check("empty", hp["empty"], {})
    check("matrix", hp["matrix"], [[1.0, 2.0, 3.0], [4.5, -0.25, f32(1e-3)]])
    check("vector", hp["vector"], [0.5])
    check("scalar", hp["scalar"], math.inf)
    check("none", hp["none"], [])
    check("rows0", hp["rows0"], [[], []])
    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
