#!/bin/sh
# Regenerate the conformance corpus with the CPU reference (a CPU-only build):
#   corpus/regenerate.sh [BUILD_DIR]      default: build-corpus
# The tool tests regenerate it into a temporary folder and fail when the
# result differs from the files here.
set -e
cd "$(dirname "$0")/.."
build=${1:-build-corpus}
make --no-print-directory CUDA=0 BUILD="$build" -j"$(nproc 2>/dev/null || echo 2)" "$build/mxblas" >/dev/null
rm -rf corpus/cases corpus/manifest.json
"$build/mxblas" corpus corpus
