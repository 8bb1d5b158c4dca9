#!/usr/bin/env bash
# One-way layers (docs/DESIGN.md): no file under src/cpu or src/cuda defines
# or calls a public entry point (an MXB_API function of include/mxblas.h);
# backends take validated descriptors from src/core and call only internal
# functions; includes point down (src/common includes no src/core, src/cpu or
# src/cuda header; the ground floor of src/core no backend header; backends
# not the API layer's core/quantize.h). Prints each offending line and fails
# if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
names=$(python3 - <<'PY'
import re
h = open("include/mxblas.h").read()
print("|".join(sorted(set(re.findall(r"MXB_API[^;{(]*?\b(mxb_\w+)\s*\(", h)))))
PY
)
[ -n "$names" ] || { echo "check_layers: no MXB_API names found in include/mxblas.h" >&2; exit 1; }
bad=$(grep -nE "(^|[^A-Za-z0-9_])($names)[[:space:]]*\(|MXB_API" src/cpu src/cuda -r \
      --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' || true)
if [ -n "$bad" ]; then
  echo "check_layers: backend files call or define public entry points:" >&2
  echo "$bad" >&2
  exit 1
fi
up=$( { grep -nE '#include "(core|cpu|cuda)/' src/common -r || true
        grep -nE '#include "(cpu|cuda)/' src/core/formats.* src/core/tensor.* src/core/mor_layout.* \
          src/core/gemm_rules.c src/core/gemm.h src/core/error.* src/core/context.h || true
        grep -nE '#include "core/quantize.h"' src/cpu src/cuda -r || true; } )
if [ -n "$up" ]; then
  echo "check_layers: includes that point up a layer:" >&2
  echo "$up" >&2
  exit 1
fi
echo "check_layers: ok ($(echo "$names" | tr '|' '\n' | wc -l) public entry points, none used under src/cpu or src/cuda)"
