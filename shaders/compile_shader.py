#!/usr/bin/env python3
"""Compile one GLSL compute shader to SPIR-V, validate it, and write it as a C array.

usage: compile_shader.py GLSLANG SPIRV_VAL INPUT OUTPUT_H DEPFILE

The array is `const uint32_t vkt_spv_<basename>[]`. spirv-val failures fail the build.
"""
import os
import subprocess
import sys
import tempfile


def main():
    glslang, spirv_val, src, out_h, depfile = sys.argv[1:6]
    name = os.path.basename(src).rsplit('.', 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        spv = os.path.join(tmp, name + '.spv')
        dep = os.path.join(tmp, name + '.d')
        cmd = [glslang, '--quiet', '-V', '--target-env', 'vulkan1.2',
               '-I' + os.path.dirname(os.path.abspath(src)),
               '--depfile', dep, '-o', spv, src]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            sys.exit(1)
        r = subprocess.run([spirv_val, '--target-env', 'vulkan1.2', spv],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write('spirv-val rejected %s:\n%s%s' % (src, r.stdout, r.stderr))
            sys.exit(1)
        data = open(spv, 'rb').read()
        deps = open(dep).read() if os.path.exists(dep) else ''
    words = [int.from_bytes(data[i:i + 4], 'little') for i in range(0, len(data), 4)]
    lines = []
    for i in range(0, len(words), 8):
        lines.append('    ' + ', '.join('0x%08x' % w for w in words[i:i + 8]) + ',')
    with open(out_h, 'w') as f:
        f.write('/* generated from %s by compile_shader.py; do not edit */\n' % os.path.basename(src))
        f.write('static const uint32_t vkt_spv_%s[] = {\n%s\n};\n' % (name, '\n'.join(lines)))
    # Make the depfile name our header as the target.
    rest = deps.split(':', 1)[1] if ':' in deps else ' ' + src
    with open(depfile, 'w') as f:
        f.write('%s:%s\n' % (out_h, rest.strip('\n')))


if __name__ == '__main__':
    main()
