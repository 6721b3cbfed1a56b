#!/usr/bin/env python3
"""Fails when Vulkan leaks above src/gpu/: a Vulkan type, constant or header named in src/ outside
src/gpu/, or in a public header other than include/vkt/vulkan.h (the interop header).

Tensors hold an opaque vkt__alloc and ops describe bound ranges as (allocation, offset, size)
(src/gpu/gpu_internal.h), so that only src/gpu/ changes when the backend does.

usage: check_layers.py ROOT
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_prototypes import strip_comments  # noqa: E402

VULKAN = re.compile(r'\bVk[A-Z]\w*|\bVK_[A-Z0-9_]+\b|\bvk[A-Z]\w*\s*\(|'
                    r'#\s*include\s*[<"](volk\.h|vulkan/)')


def allowed(rel):
    return rel.startswith('src/gpu/') or rel == 'include/vkt/vulkan.h'


def main():
    root = sys.argv[1]
    bad = []
    for top in ('src', 'include'):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith(('.c', '.h')):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                if allowed(rel):
                    continue
                with open(path, encoding='utf-8') as f:
                    text = strip_comments(f.read())
                for m in VULKAN.finditer(text):
                    line = text.count('\n', 0, m.start()) + 1
                    bad.append('%s:%d: %s is Vulkan; keep it in src/gpu/' % (rel, line, m.group(0)))
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
