#!/usr/bin/env python3
"""Static SASS instruction counts of one kernel, by source line.

An instruction-bound kernel is made faster by taking instructions out of
its hot path; this says where they are. The object is compiled with
-lineinfo (the library's CUDA objects are), so each SASS instruction
carries the source line it came from, with the lines it was inlined at:
here an instruction counts towards the outermost line in FILE (the
kernel's own statement: `transform_block(...)`, `e2m1_rne_words(...)`),
and --inner names the innermost line instead (the helper's statement).

    tools/sass_lines.py OBJ KERNEL_REGEX [--file quantize_pair.cu]
                        [--lines 396-486] [--inner LINE] [--arch sm_90a]

OBJ: a .o or .cubin (cuobjdump -xelf extracts the cubin of --arch);
KERNEL_REGEX: matched against the mangled names, the first match is taken
(`pair_nvfp4_kernelILi1ELb1E`: bf16 input, with the RHT). Prints, per line
of FILE in --lines (default: all), the instruction count and its most
frequent opcodes, and the total; --inner LINE breaks line LINE down by the
innermost source line. Counts are static: every instruction of the
kernel, cold paths included, once each; the reader picks the hot lines.
Needs cuobjdump and nvdisasm (CUDA toolkit; $CUDA_HOME/bin, PATH, or
$CUOBJDUMP / $NVDISASM).
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile


def tool(name):
    env = os.environ.get(name.upper())
    if env:
        return env
    for d in (os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin"),):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    p = shutil.which(name)
    if not p:
        sys.exit(f"sass_lines: {name} not found (set ${name.upper()} or CUDA_HOME)")
    return p


def cubin_of(obj, arch, tmp):
    if obj.endswith(".cubin"):
        return obj
    subprocess.run([tool("cuobjdump"), "-xelf", "all", os.path.abspath(obj)], cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = [f for f in os.listdir(tmp) if f.endswith(f".{arch}.cubin")]
    if not found:
        sys.exit(f"sass_lines: no {arch} cubin in {obj}")
    return os.path.join(tmp, found[0])


def kernel_text(cubin, pattern):
    """The disassembly (with inlined line info) of the first function matching pattern."""
    out = subprocess.run([tool("nvdisasm"), "-gi", cubin], check=True, capture_output=True, text=True).stdout
    rx = re.compile(pattern)
    body, inside = [], False
    for line in out.splitlines():
        if line.startswith(".text."):
            if inside:
                break
            inside = bool(rx.search(line))
            name = line
        elif inside:
            body.append(line)
    if not body:
        sys.exit(f"sass_lines: no function matches {pattern!r}")
    return name.rstrip(":")[len(".text."):], body


LOC = re.compile(r'\s*//## File "([^"]+)", line (\d+)')
INSTR = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)")


def instructions(body):
    """(opcode, chain of (file, line), innermost first) for each instruction."""
    chain, pending, after_instr = [], [], True
    for line in body:
        m = LOC.match(line)
        if m:
            if after_instr:
                pending, after_instr = [], False
            pending.append((os.path.basename(m.group(1)), int(m.group(2))))
            continue
        m = INSTR.match(line)
        if m:
            after_instr = True
            if pending:
                chain = pending
            yield m.group(2), chain


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("obj")
    ap.add_argument("kernel")
    ap.add_argument("--file", help="source file whose lines to count by (default: the kernel's first line's)")
    ap.add_argument("--lines", help="A-B: only lines A..B of FILE")
    ap.add_argument("--inner", type=int, help="break this line of FILE down by innermost source line")
    ap.add_argument("--arch", default="sm_90a")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        name, body = kernel_text(cubin_of(a.obj, a.arch, tmp), a.kernel)
    ins = list(instructions(body))
    src = a.file or next((ch[-1][0] for _, ch in ins if ch), "?")
    lo, hi = (int(x) for x in a.lines.split("-")) if a.lines else (0, 1 << 30)
    per, ops, inner = collections.Counter(), collections.defaultdict(collections.Counter), collections.Counter()
    for op, ch in ins:
        outer = [c for c in ch if c[0] == src]
        key = outer[-1][1] if outer else -1  # -1: no line of FILE (the prologue of another file's code)
        if key != -1 and not lo <= key <= hi:
            continue
        per[key] += 1
        ops[key][op.split(".")[0]] += 1
        if a.inner is not None and key == a.inner:
            inner[ch[0] if ch else ("?", 0)] += 1
    print(f"{name}: {len(ins)} instructions; by line of {src}" + (f" {lo}-{hi}" if a.lines else ""))
    for key in sorted(per):
        top = ", ".join(f"{o} {c}" for o, c in ops[key].most_common(6))
        print(f"  {'(other)' if key < 0 else key:>7} {per[key]:5d}  {top}")
    print(f"  {'total':>7} {sum(per.values()):5d}")
    if a.inner is not None:
        print(f"line {a.inner} by innermost line:")
        for (f, l), c in sorted(inner.items()):
            print(f"  {f}:{l} {c}")


if __name__ == "__main__":
    main()
