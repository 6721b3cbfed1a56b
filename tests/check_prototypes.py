#!/usr/bin/env python3
"""Fails when a .c file declares a function it does not define (a prototype copied out of a header).

-Wmissing-prototypes catches a definition without a declaration, but a declaration pasted into the
.c file that uses it satisfies the compiler and drifts from the real one. Such declarations belong
in the header of the file that defines the function.

usage: check_prototypes.py ROOT
"""
import os
import re
import sys

DIRS = ('src', 'tools', 'tests', 'fuzz', 'bench', 'examples')
# a top-level declaration: starts at column 0 with a type, has a parameter list, ends with ';'
DECL = re.compile(r'^(?!static\b|typedef\b|extern\s+"C"|return\b|#)[A-Za-z_][\w \t\*]*?\b(\w+)\s*\([^;{}]*\)\s*;',
                  re.M)


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    return re.sub(r'//[^\n]*', '', text)


def main():
    root = sys.argv[1]
    bad = []
    for d in DIRS:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for name in sorted(names):
                if not name.endswith('.c'):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding='utf-8') as f:
                    text = strip_comments(f.read())
                for m in DECL.finditer(text):
                    line = text.count('\n', 0, m.start()) + 1
                    bad.append('%s:%d: declares %s(); put it in a header' %
                               (os.path.relpath(path, root), line, m.group(1)))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
