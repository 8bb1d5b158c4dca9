#!/usr/bin/env python3
"""Rewrite the help blocks of docs/CLI.md from the tool itself.

    python3 tools/update_cli_docs.py build/mxblas

Each block follows a line "<!-- mxblas help CMD -->" ("all" for `mxblas
help`); the tool tests fail when a block differs from the help text."""
import re
import subprocess
import sys
from pathlib import Path

tool = sys.argv[1] if len(sys.argv) > 1 else "build/mxblas"
doc = Path(__file__).resolve().parent.parent / "docs" / "CLI.md"
text = doc.read_text()


def block(m):
    cmd = m.group(1)
    args = [tool, "help"] + ([] if cmd == "all" else [cmd])
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return f"<!-- mxblas help {cmd} -->\n```\n{out}```\n"


new = re.sub(r"<!-- mxblas help (\S+) -->\n```\n.*?```\n", block, text, flags=re.S)
if new != text:
    doc.write_text(new)
    print(f"updated {doc}")
