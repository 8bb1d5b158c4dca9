#!/usr/bin/env bash
# Build-check-benchmark on a GPU host, in one pass. Run from the repository
# root with a build folder made on a machine with nvcc (sm_90a):
#   tools/gpu_check.sh BUILD_DIR OUT_DIR [TEST_FILTER] [BENCH_FILTER]
# Writes tests.log, sanitizer.log, racecheck.log, python.log, dist.log (with
# the NCCL component), bench.json and bench.log under OUT_DIR; with
# PROFILE=1 also ncu reports of the kernels under performance work.
# BUDGET=S (seconds): finish within S seconds of the start. Each command runs
# under `timeout` with the time left, and one that no time is left for is
# skipped (its log says so), so a run cut short still writes every log, and
# the steps above it have run in full.
# ARCHIVE=FILE: OUT_DIR also packed into one compressed tar file at the end
# (for hosts that hand back only a few files).
set -uo pipefail
build=${1:-build}; out=${2:-gpu-out}; tfilter=${3:-*}; bfilter=${4:-.}
mkdir -p "$out"
start=$(date +%s)
# in_budget CMD...: CMD under the time left (BUDGET), or skipped when under 5 s are.
in_budget() {
  [ -z "${BUDGET:-}" ] && { "$@"; return; }
  local left=$((BUDGET - ($(date +%s) - start)))
  if [ "$left" -lt 5 ]; then
    echo "skipped (BUDGET=$BUDGET s spent): $*"
    return 124
  fi
  timeout "$left" "$@"
}
[ -d .devdeps/lib ] && export LD_LIBRARY_PATH=$PWD/.devdeps/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
rc=0
echo "== tests" | tee "$out/tests.log"
in_budget "$build/tests/mxblas_tests" --jobs=4 --filter "$tfilter" 2>&1 | tee -a "$out/tests.log" || rc=1
echo "== compute-sanitizer (memcheck)" | tee "$out/sanitizer.log"
in_budget compute-sanitizer --tool memcheck --target-processes all --error-exitcode 99 \
  "$build/tests/mxblas_tests" --jobs=1 --filter "cuda*/*" >>"$out/sanitizer.log" 2>&1 || rc=1
for f in 'compat/*' 'shard/*' 'fp8_ue8m0/*' 'gemm_pointer_mode/*' 'grouped_gemm_cuda/*'; do
  in_budget compute-sanitizer --tool memcheck --target-processes all --error-exitcode 99 "$build/tests/mxblas_tests" \
    --jobs=1 --filter "$f" \
    >>"$out/sanitizer.log" 2>&1 || rc=1
done
tail -n 5 "$out/sanitizer.log"
echo "== racecheck (the sm_90a kernels and the grouped GEMM)" | tee "$out/racecheck.log"
for f in 'cuda_gemm/fast_sm90_mx_fp8_is_deterministic' 'cuda_gemm/fast_decode_m16_is_deterministic' \
         'cuda_gemm/fast_sm90_fp8_block_256_column_tiles' 'cuda_gemm/fast_sm90_w4_within_bound' 'grouped_gemm_cuda/*'; do
  in_budget compute-sanitizer --tool racecheck --error-exitcode 99 "$build/tests/mxblas_tests" --jobs=1 --filter "$f" \
    >>"$out/racecheck.log" 2>&1 || rc=1
done
grep "RACECHECK SUMMARY" "$out/racecheck.log"
if python3 -c 'import numpy' 2>/dev/null; then
  echo "== Python on the GPU (CUDA tensors where torch has CUDA)" | tee "$out/python.log"
  (cd python && for py in test_*.py; do in_budget env MXBLAS_LIBRARY="$OLDPWD/$build/libmxblas.so" python3 "$py"; done) \
    >>"$out/python.log" 2>&1 || rc=1
  grep -E "^(Ran|OK|FAILED)" "$out/python.log"
fi
# The NCCL component where the host has NCCL (PyTorch's nvidia-nccl package):
# its multi-process test on every GPU (a single rank on one), built here.
if [ -x "$build/tests/mxblas_dist_tests" ]; then
  echo "== NCCL: tests/dist on every GPU" | tee "$out/dist.log"
  in_budget "$build/tests/mxblas_dist_tests" >>"$out/dist.log" 2>&1 || rc=1
  tail -n 3 "$out/dist.log"
fi
# PROFILE=1: ncu, clocks as the GPU sets them, on the kernels the open
# performance work is about (text reports under OUT_DIR).
if [ "${PROFILE:-0}" = 1 ] && command -v ncu >/dev/null 2>&1; then
  echo "== profiles" | tee "$out/profile.log"
  B="$build/bench/mxblas_bench"
  prof() {  # name kernel-regex bench-filter [ncu options...]
    local name=$1 k=$2 f=$3
    shift 3
    in_budget ncu --clock-control none -k "regex:$k" -s 2 -c 1 "$@" "$B" --benchmark_filter="$f" --benchmark_min_time=0.01 \
      >"$out/ncu-$name.txt" 2>&1 || rc=1
    echo "ncu $name: $(grep -m1 -E 'Duration' "$out/ncu-$name.txt")" | tee -a "$out/profile.log"
  }
  prof epilogue-step lt_epilogue 'cuda_epilogue/nvfp4/bias_gelu_tanh/8192x8192x8192' \
    --section SpeedOfLight --section WarpStateStats --section InstructionStats --section Occupancy
  prof mx-m128 sm90_mx 'cuda_gemm/mxb_mxfp8_e4m3_fast/128x8192x8192' --set full
  prof decode-m16 decode 'cuda_gemm/mxb_bf16_x_nvfp4w_fast/16x8192x8192' --set full
  prof nvfp4-sr-rows rows_kernel 'cuda/quantize/nvfp4_sr/bf16/' --set full
  prof exact-int8 int8_kernel 'cuda_gemm/mxb_nvfp4_exact/4096x4096x4096' \
    --section SpeedOfLight --section WarpStateStats --section InstructionStats --section Occupancy
fi
echo "== benchmarks"
in_budget "$build/bench/mxblas_bench" --benchmark_filter="$bfilter" --benchmark_out="$out/bench.json" \
  --benchmark_out_format=json 2>&1 | tee "$out/bench.log" || rc=1
if [ -n "${ARCHIVE:-}" ]; then
  tar czf "$ARCHIVE" -C "$(dirname "$out")" "$(basename "$out")" || rc=1
fi
exit $rc
