// cuBLASLt plumbing: the handle lives in the context (created once), and
// plans (descriptors + the heuristic's algorithm) are cached per shape so the
// hot path does no heuristic search and no allocation.
#include <cublasLt.h>
#include <string.h>

#include <mutex>
#include <new>

#include "cuda/gemm.h"
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

mxb_status_t int8_init();

struct lt_key {
  int64_t M, N, K, lda, ldb, ldc;
  int ta, tb, tc, sma, smb, ptr_mode, align_a, align_b, align_c;
  int epilogue;  // cublasLtEpilogue_t (a bias: of C's type, tc)
  size_t ws;
};

struct lt_plan {
  lt_key key;
  bool used;
  bool refused;  // cuBLASLt had no algorithm for this key: answer at once next time
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
};

constexpr int PLAN_CACHE = 16;
// Threads may share a context: the plan cache, and the scale pointers each
// call sets on a cached plan's descriptor, are used under the lock until
// cublasLtMatmul has taken them (it enqueues and returns).
struct lt_state {
  cublasLtHandle_t h;
  std::mutex lock;
  lt_plan plans[PLAN_CACHE];
  int next;
};

static void plan_destroy(lt_plan &p) {
  if (!p.used) return;
  cublasLtMatrixLayoutDestroy(p.la);
  cublasLtMatrixLayoutDestroy(p.lb);
  cublasLtMatrixLayoutDestroy(p.lc);
  cublasLtMatmulDescDestroy(p.op);
  p.used = false;
}

static mxb_status_t lt_status(cublasStatus_t s, const char *what) {
  if (s == CUBLAS_STATUS_SUCCESS) return MXB_SUCCESS;
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_INVALID_VALUE)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s: %s", what, cublasLtGetStatusString(s));
  return mxb_fail(MXB_ERR_CUDA, "%s: %s", what, cublasLtGetStatusString(s));
}

static int ptr_align(const void *p) {
  uintptr_t a = (uintptr_t)p;
  int al = 256;
  while (al > 1 && (a % (uintptr_t)al)) al >>= 1;
  return al;
}

size_t lt_workspace_bytes() { return (size_t)32 << 20; }

// D^T[N, M] = op(B)[N, K] * A^T: cuBLAS's "A" is our B (transposed), its "B"
// is our A; both are K-contiguous rows, so the column-major view is TN.
static mxb_status_t plan_make(lt_state *s, const lt_key &k, const lt_operand &a, const lt_operand &b,
                              const void *bias, lt_plan &p) {
  memset(&p, 0, sizeof(p));
  p.key = k;
  MXB_TRY(lt_status(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate"));
  p.used = true;
  cublasOperation_t tA = CUBLAS_OP_T, tB = CUBLAS_OP_N;
  int32_t pm = k.ptr_mode;
  cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &tA, sizeof(tA));
  cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tB, sizeof(tB));
  cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof(pm));
  if (k.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    cublasLtEpilogue_t e = (cublasLtEpilogue_t)k.epilogue;
    int32_t bt = k.tc;
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof(e));
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt));
  }
  if (b.scale_mode >= 0) {
    int32_t m = b.scale_mode;
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &m, sizeof(m));
  }
  if (a.scale_mode >= 0) {
    int32_t m = a.scale_mode;
    cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &m, sizeof(m));
  }
  mxb_status_t st = lt_status(cublasLtMatrixLayoutCreate(&p.la, (cudaDataType_t)k.tb, k.K, k.N, k.ldb), "layout");
  if (st == MXB_SUCCESS)
    st = lt_status(cublasLtMatrixLayoutCreate(&p.lb, (cudaDataType_t)k.ta, k.K, k.M, k.lda), "layout");
  if (st == MXB_SUCCESS)
    st = lt_status(cublasLtMatrixLayoutCreate(&p.lc, (cudaDataType_t)k.tc, k.N, k.M, k.ldc), "layout");
  if (st != MXB_SUCCESS) return st;
  cublasLtMatmulPreference_t pref;
  MXB_TRY(lt_status(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate"));
  uint64_t ws = k.ws;
  uint32_t al_a = (uint32_t)k.align_b, al_b = (uint32_t)k.align_a, al_c = (uint32_t)k.align_c;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof(al_c));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof(al_c));
  // Block-scale modes are only matched with their scale pointers present.
  if (b.scale) cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &b.scale, sizeof(b.scale));
  if (a.scale) cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a.scale, sizeof(a.scale));
  if (bias) cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(s->h, p.op, p.la, p.lb, p.lc, p.lc, pref, 1, &res, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (hs != CUBLAS_STATUS_SUCCESS || found == 0)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "cuBLASLt has no algorithm for this GEMM (%s)",
                    hs == CUBLAS_STATUS_SUCCESS ? "no result" : cublasLtGetStatusString(hs));
  p.algo = res.algo;
  return MXB_SUCCESS;
}

static mxb_status_t lt_matmul_mode(mxb_context *ctx, const problem &pr, const lt_operand &a, const lt_operand &b,
                                   const float *alpha_vec, int scalar_dev, void *ws, size_t ws_bytes, cudaStream_t st,
                                   bool run);

// The 1D block-scaled modes (NVFP4, MX) are run with alpha and beta as device
// scalars, the pointer mode known to work with them, without first asking
// for a per-row alpha vector.
static bool block_scaled(const lt_operand &o) {
  return o.scale_mode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3 ||
         o.scale_mode == CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0;
}

// run false: only the plan (made and cached, or a cached refusal).
static mxb_status_t lt_call(mxb_context *ctx, const problem &pr, const lt_operand &a, const lt_operand &b,
                            const float *alpha_dev, void *ws, size_t ws_bytes, cudaStream_t st, bool run) {
  if (dev_scalars(pr.out) && !alpha_dev) return mxb_fail(MXB_ERR_INTERNAL, "pointer mode without device scalars");
  const bool vec = alpha_dev && !dev_scalars(pr.out) && !block_scaled(a) && !block_scaled(b);
  mxb_status_t s = lt_matmul_mode(ctx, pr, a, b, alpha_dev, alpha_dev && !vec, ws, ws_bytes, st, run);
  if (s == MXB_ERR_UNSUPPORTED && vec) {
    mxb_clear_error();
    s = lt_matmul_mode(ctx, pr, a, b, alpha_dev, 1, ws, ws_bytes, st, run);
  }
  return s;
}
mxb_status_t lt_matmul(mxb_context *ctx, const problem &pr, const lt_operand &a, const lt_operand &b,
                       const float *alpha_dev, void *ws, size_t ws_bytes, cudaStream_t st) {
  return lt_call(ctx, pr, a, b, alpha_dev, ws, ws_bytes, st, true);
}
mxb_status_t lt_matmul_ready(mxb_context *ctx, const problem &pr, const lt_operand &a, const lt_operand &b,
                             const float *alpha_dev, size_t ws_bytes) {
  return lt_call(ctx, pr, a, b, alpha_dev, nullptr, ws_bytes, nullptr, false);
}

static mxb_status_t lt_matmul_mode(mxb_context *ctx, const problem &pr, const lt_operand &a, const lt_operand &b,
                                   const float *alpha_vec, int scalar_dev, void *ws, size_t ws_bytes, cudaStream_t st,
                                   bool run) {
  lt_state *s = static_cast<lt_state *>(ctx->cuda_state);
  if (!s) return mxb_fail(MXB_ERR_INTERNAL, "the CUDA context has no cuBLASLt handle");
  if (has_epilogue(pr.out) && !lt_bias_only(pr.out))
    return mxb_fail(MXB_ERR_INTERNAL, "cuBLASLt was handed an epilogue it does not apply");
  lt_key k;
  memset(&k, 0, sizeof(k));
  k.M = pr.M; k.N = pr.N; k.K = pr.K; k.lda = a.ld; k.ldb = b.ld; k.ldc = pr.out.ldc;
  k.ta = a.dtype; k.tb = b.dtype; k.tc = pr.out.dtype == MXB_DTYPE_BF16 ? CUDA_R_16BF : CUDA_R_32F;  // fp16 C: gemm_epilogue.cu
  k.sma = a.scale_mode; k.smb = b.scale_mode;
  k.ptr_mode = !alpha_vec   ? CUBLASLT_POINTER_MODE_HOST
               : scalar_dev ? CUBLASLT_POINTER_MODE_DEVICE
                            : CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST;
  k.align_a = ptr_align(a.ptr); k.align_b = ptr_align(b.ptr); k.align_c = ptr_align(pr.out.c);
  k.epilogue = pr.out.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  k.ws = ws_bytes;
  std::lock_guard<std::mutex> guard(s->lock);
  lt_plan *p = nullptr;
  for (int i = 0; i < PLAN_CACHE; i++)
    if ((s->plans[i].used || s->plans[i].refused) && memcmp(&s->plans[i].key, &k, sizeof(k)) == 0) p = &s->plans[i];
  if (p && p->refused) return mxb_fail(MXB_ERR_UNSUPPORTED, "cuBLASLt has no algorithm for this GEMM");
  if (!p) {
    p = &s->plans[s->next];
    s->next = (s->next + 1) % PLAN_CACHE;
    plan_destroy(*p);
    mxb_status_t e = plan_make(s, k, a, b, pr.out.bias, *p);
    if (e != MXB_SUCCESS) {
      plan_destroy(*p);
      // Remember a refusal (not a failure) so the fallback costs no heuristic query next time.
      p->key = k;
      p->refused = e == MXB_ERR_UNSUPPORTED;
      return e;
    }
  }
  if (!run) return MXB_SUCCESS;
  // Scale pointers are per call (the plan is per shape).
  if (b.scale) cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &b.scale, sizeof(b.scale));
  if (a.scale) cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &a.scale, sizeof(a.scale));
  if (pr.out.bias)
    cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &pr.out.bias, sizeof(pr.out.bias));
  const float beta_h = pr.out.beta;
  const void *alpha = alpha_vec ? (const void *)alpha_vec : (const void *)&pr.out.alpha;
  const void *beta = scalar_dev ? (const void *)(alpha_vec + pr.N) : (const void *)&beta_h;
  return lt_status(cublasLtMatmul(s->h, p->op, alpha, b.ptr, p->la, a.ptr, p->lb, beta, pr.out.c, p->lc,
                                  pr.out.c, p->lc, &p->algo, ws, ws_bytes, st),
                   "cublasLtMatmul");
}

static int lt_dtype(const operand &o) {
  if (o.elem == MXB_ELEM_E4M3) return CUDA_R_8F_E4M3;
  if (o.elem == MXB_ELEM_E5M2) return CUDA_R_8F_E5M2;
  return CUDA_R_16BF;
}

// FP8 block scales as cuBLASLt reads them on Hopper: 1x128 scales
// outer-dimension-major ([K/128][rows]), 128x128 scales K-block-major within
// each 128-row band with the K-block count padded to a multiple of 4.
__host__ __device__ static bool blocked(const operand &o) {
  return o.scale_type == MXB_SCALE_FP32 && o.block_cols == 128;
}
static int64_t kblocks(const problem &p) { return (p.K + 127) / 128; }
// Entries of o's scales in cuBLASLt's layout (0: not block-scaled).
__host__ __device__ static int64_t lt_scale_count(const operand &o, int64_t kb) {
  if (!blocked(o)) return 0;
  return o.block_rows == 1 ? o.rows * kb : (o.rows + 127) / 128 * ((kb + 3) / 4 * 4);
}
static size_t lt_scale_bytes(const problem &p, const operand &o) {
  return align256((size_t)lt_scale_count(o, kblocks(p)) * 4);
}

size_t lt_native_workspace(const problem &p) {
  return lt_workspace_bytes() + lt_scale_bytes(p, p.a) + lt_scale_bytes(p, p.b) +
         (dev_scalars(p.out) ? align256((size_t)(p.N + 1) * 4) : 0);
}

// alpha (with the tensor scales: the paths that fold them in) for every
// column, then beta; pointer mode's values read here, on the stream.
__global__ void lt_scalars_kernel(operand a, operand b, out_view o, bool tensor_scales, int64_t n, float *out) {
  load_scalars(o);
  const float v = tensor_scales ? mxb_gemm_alpha_t(o.alpha, tensor_scale(a), tensor_scale(b)) : o.alpha;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i <= n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = i < n ? v : o.beta;
}

mxb_status_t lt_scalars(const mxb_context *ctx, const problem &p, bool tensor_scales, float *out, cudaStream_t st) {
  lt_scalars_kernel<<<grid_for(ctx, p.N + 1, 256), 256, 0, st>>>(p.a, p.b, p.out, tensor_scales, p.N, out);
  return launch_status("gemm alpha kernel");
}

// Entry i of o's scales in cuBLASLt's layout, from ours (row-major [rows][kb]).
__device__ __forceinline__ void lt_scale_put(const operand &o, int64_t kb, int64_t i, float *out) {
  const float *s = reinterpret_cast<const float *>(o.scales);
  const bool vec = o.block_rows == 1;
  const int64_t rows = vec ? o.rows : (o.rows + 127) / 128, kb4 = (kb + 3) / 4 * 4, cols = vec ? kb : kb4;
  const int64_t r = i / cols, j = i % cols;
  if (vec) out[j * rows + r] = s[r * kb + j];
  else out[r * kb4 + j] = j < kb ? s[r * kb + j] : 1.0f;
}
// Both operands' scales in one launch (a latency-bound copy of a few KB at
// the shapes where it shows: two launches were 6.8 of 48 us at M = 128, N =
// K = 8192 on an H100, docs/PERFORMANCE.md).
__global__ void lt_scales_kernel(operand a, operand b, int64_t kb, float *out_a, float *out_b) {
  const int64_t na = lt_scale_count(a, kb), n = na + lt_scale_count(b, kb);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    if (i < na) lt_scale_put(a, kb, i, out_a);
    else lt_scale_put(b, kb, i - na, out_b);
  }
}

static void lt_scale_mode(const operand &o, float *out, lt_operand &lo) {
  if (!blocked(o)) return;
  lo.scale_mode = o.block_rows == 1 ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F : CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  lo.scale = out;
}

// Operands cuBLASLt takes as they are: BF16; FP8 with per-tensor scale_inv
// pointers (cuBLASLt multiplies them into alpha on the device); FP8 E4M3
// with 1x128 / 128x128 block scales (rearranged into the workspace).
mxb_status_t run_lt_native(mxb_context *ctx, const problem &p, const mxb_tensor_t *A, const mxb_tensor_t *B,
                           void *ws, size_t ws_bytes, cudaStream_t st) {
  (void)ws_bytes;
  const bool fp8t = p.a.scale_type == MXB_SCALE_FP32 && !blocked(p.a);
  lt_operand a = {A->data, lt_dtype(p.a), p.K, -1, fp8t ? A->scales : nullptr};
  lt_operand b = {B->data, lt_dtype(p.b), p.K, -1, fp8t ? B->scales : nullptr};
  char *w = static_cast<char *>(ws);
  float *sa = reinterpret_cast<float *>(w + lt_workspace_bytes());
  float *sb = reinterpret_cast<float *>(w + lt_workspace_bytes() + lt_scale_bytes(p, p.a));
  lt_scale_mode(p.a, sa, a);
  lt_scale_mode(p.b, sb, b);
  float *scalars = dev_scalars(p.out)  // pointer mode: FP8's scale_inv pointers stay cuBLASLt's to apply
                       ? reinterpret_cast<float *>(w + lt_workspace_bytes() + lt_scale_bytes(p, p.a) +
                                                   lt_scale_bytes(p, p.b))
                       : nullptr;
  MXB_TRY(lt_matmul_ready(ctx, p, a, b, scalars, lt_workspace_bytes()));  // before any kernel runs
  const int64_t n = lt_scale_count(p.a, kblocks(p)) + lt_scale_count(p.b, kblocks(p));
  if (n) {
    lt_scales_kernel<<<grid_for(ctx, n, 256), 256, 0, st>>>(p.a, p.b, kblocks(p), sa, sb);
    MXB_TRY(launch_status("gemm scale layout kernel"));
  }
  if (scalars) MXB_TRY(lt_scalars(ctx, p, false, scalars, st));
  return lt_matmul(ctx, p, a, b, scalars, ws, lt_workspace_bytes(), st);
}

}  // namespace gemm
}  // namespace mxb

using namespace mxb::gemm;

extern "C" mxb_status_t mxb_cuda_gemm_state_init(struct mxb_context *ctx) {
  lt_state *s = new (std::nothrow) lt_state();
  if (!s) return mxb_fail(MXB_ERR_ALLOC, "could not allocate the cuBLASLt state");
  cublasStatus_t e = cublasLtCreate(&s->h);
  if (e != CUBLAS_STATUS_SUCCESS) {
    delete s;
    return mxb_fail(MXB_ERR_CUDA, "cublasLtCreate: %s", cublasLtGetStatusString(e));
  }
  ctx->cuda_state = s;
  // Kernel attributes are set once here, never inside a (captured) call.
  return int8_init();
}

extern "C" void mxb_cuda_gemm_state_fini(struct mxb_context *ctx) {
  lt_state *s = static_cast<lt_state *>(ctx->cuda_state);
  if (!s) return;
  for (int i = 0; i < PLAN_CACHE; i++) plan_destroy(s->plans[i]);
  cublasLtDestroy(s->h);
  delete s;
  ctx->cuda_state = nullptr;
}
