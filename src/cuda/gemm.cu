// CUDA GEMM dispatch: a registry of paths. Each row says when it applies
// (formats, shape, layouts, mode, the alignment known of the pointers and
// the device; never data or pointer values), the workspace it needs and how
// it runs; the first row that applies (and fits a workspace limit) serves
// the call, and the exact generic path, which needs no workspace, closes the
// table. Adding a path is one file and one row.
#include "core/gemm.h"
#include "core/tensor.h"
#include "cuda/gemm.h"
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

operand make_operand(const mxb_tensor_t *t) {
  operand o;
  memset(&o, 0, sizeof(o));
  const mxb_format_desc *d = mxb_format_desc_get(t->format);
  mxb_tensor_sizes_t s;
  mxb_compute_sizes(t->format, t->rows, t->cols, t->scale_layout, &s);
  static_cast<tensor_view &>(o) = make_view(t, s);
  o.elem = d->elem;
  o.elem_bits = d->elem_bits;
  o.block_rows = d->block_rows;
  o.block_cols = d->block_cols;
  o.scale_type = d->scale_type;
  o.bdr_m = d->bdr_m;
  o.format = t->format;
  o.fp = d->elem == MXB_ELEM_MIXED ? mxb_fp_e4m3() : mxb_fp_from_desc(mxb_elem_desc_get(d->elem));
  return o;
}

static bool is_fp8_tensor(int f) { return f == MXB_FORMAT_FP8_E4M3_TENSOR || f == MXB_FORMAT_FP8_E5M2_TENSOR; }
// The block-scaled FP8 pairs cuBLASLt runs on Hopper: E4M3 only, not both 128x128.
static bool lt_fp8_blocks(int fa, int fb) {
  const bool a1 = fa == MXB_FORMAT_FP8_E4M3_1x128, a2 = fa == MXB_FORMAT_FP8_E4M3_128x128;
  const bool b1 = fb == MXB_FORMAT_FP8_E4M3_1x128, b2 = fb == MXB_FORMAT_FP8_E4M3_128x128;
  return (a1 || a2) && (b1 || b2) && !(a2 && b2);
}
static bool is_fp4(int f) { return f == MXB_FORMAT_NVFP4 || f == MXB_FORMAT_MXFP4; }
// Formats the dequantize path takes: BF16 holds their decoded values exactly
// (within scale limits the dequantization checks; FP8 with UE8M0 scales
// too), except FP8 with fp32 block scales, whose values it rounds (within
// the FP8 bound).
static bool bf16_dequant(int f) {
  const mxb_format_desc *d = mxb_format_desc_get((mxb_format_t)f);
  return f == MXB_FORMAT_BF16 || bf16_holds_decoded(f) || (mxb_fp8_scale_type(d->scale_type) && d->elem != MXB_ELEM_MIXED);
}

static problem make_problem(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                            int64_t ldc, mxb_gemm_align align) {
  problem p;
  p.a = make_operand(A);
  p.b = make_operand(B);
  p.M = A->rows;
  p.N = B->rows;
  p.K = A->cols;
  p.L = mxb_gemm_k_block(mxb_format_desc_get(A->format), mxb_format_desc_get(B->format));
  p.out.c = C;
  p.out.c_in = C;
  p.out.ldc = ldc;
  p.out.dtype = desc->c_type;
  p.out.alpha = desc->alpha;
  p.out.beta = desc->beta;
  p.out.alpha_dev = desc->alpha_ptr;
  p.out.beta_dev = desc->beta_ptr;
  p.align = align;
  p.out.bias = desc->bias;
  p.out.bias_type = desc->bias_type;
  p.out.act = desc->activation;
  p.out.aux = desc->aux;
  p.out.ld_aux = desc->ld_aux;
  return p;
}

// One validated call as the paths see it.
struct call {
  mxb_context *ctx;
  const mxb_gemm_desc_t *desc;
  const mxb_tensor_t *A, *B;
  problem p;
  void *ws;
  size_t ws_bytes;
  cudaStream_t st;
};

struct path {
  const char *name;
  // Whether the path can serve the call (formats, shape limits, c.p.align,
  // device) ...
  bool (*applies)(const mxb_context *ctx, const call &c);
  // ... and whether it is the one to take by shape, as measured (NULL:
  // always); a path named by MXB_CUDA_GEMM_PATH (ctx->gemm_path) is taken
  // wherever it applies, ahead of the rows before it.
  bool (*prefers)(const mxb_context *ctx, const call &c);
  size_t (*workspace)(const mxb_context *ctx, const problem &p);
  // Runs the call; may hand it to a fallback path, named in *ran.
  mxb_status_t (*run)(const call &c, const char **ran);
  // Whether the path writes plain C only (alpha, beta, fp32 or bf16), so
  // bias, activation and fp16 C run as a second step (run_lt_epilogue).
  bool plain_c;
  // Whether cuBLASLt writes C, so a bias alone may first be handed to its
  // epilogue (lt_bias_first), the step taken only where it refuses that.
  bool lt_bias;
};

static bool fast(const call &c) { return c.desc->mode != MXB_GEMM_EXACT; }
// One tensor scale for each operand: the assumption of the fast paths other
// than the decode kernel. Fast calls with an NVFP4 operand with an amax per
// row that it does not take close on the exact paths.
static bool one_scale(const call &c) { return !row_scaled(c.p.a) && !row_scaled(c.p.b); }
static bool fast_path(const call &c) { return fast(c) && one_scale(c); }
static int fa(const call &c) { return c.A->format; }
static int fb(const call &c) { return c.B->format; }

static size_t no_workspace(const mxb_context *, const problem &) { return 0; }
static size_t ws_int8(const mxb_context *, const problem &p) { return int8_workspace(p); }
static size_t ws_dequant(const mxb_context *, const problem &p) { return dequant_workspace(p); }
static size_t ws_sm90_mx(const mxb_context *ctx, const problem &p) { return sm90_mx_fp8_workspace(ctx, p); }
static size_t ws_lt(const mxb_context *, const problem &p) { return lt_native_workspace(p); }
static size_t ws_sm90_w4(const mxb_context *ctx, const problem &p) { return sm90_w4_workspace(ctx, p); }
static size_t ws_sm90_w4_exact(const mxb_context *ctx, const problem &p) { return sm90_w4_exact_workspace(ctx, p); }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }
// cuBLASLt paths with block-scaled operands fall back to the dequantize path
// where cuBLASLt has no algorithm, so they reserve its workspace too.
static size_t ws_lt_or_dequant(const mxb_context *, const problem &p) {
  return max_sz(lt_native_workspace(p), p.a.block_cols ? dequant_workspace(p) : 0);
}
static size_t ws_blockscaled(const mxb_context *, const problem &p) {
  return max_sz(blockscaled_workspace(p), dequant_workspace(p));
}

static mxb_status_t run_generic_path(const call &c, const char **) { return run_generic(c.ctx, c.p, nullptr, c.st); }
static mxb_status_t run_int8_path(const call &c, const char **) { return run_int8(c.ctx, c.p, c.ws, c.st); }
static mxb_status_t run_dequant_path(const call &c, const char **) {
  return run_dequant(c.ctx, c.p, c.ws, c.ws_bytes, c.st);
}
static mxb_status_t run_decode_path(const call &c, const char **) { return run_decode(c.ctx, c.p, c.ws, c.st); }
static mxb_status_t run_sm90_mx_path(const call &c, const char **) { return run_sm90_mx_fp8(c.ctx, c.p, c.ws, c.st); }
static mxb_status_t run_sm90_w4_path(const call &c, const char **) { return run_sm90_w4(c.ctx, c.p, c.ws, c.st); }
static mxb_status_t run_sm90_w4_exact_path(const call &c, const char **) {
  return run_sm90_w4_exact(c.ctx, c.p, c.ws, c.st);
}
// Where cuBLASLt has no algorithm for the shape or pair: block-scaled
// operands take the dequantize path, the others the exact path.
// A refusal with a bias in cuBLASLt's epilogue goes back to mxb_cuda_gemm,
// which runs the call again with the bias as a step.
static mxb_status_t lt_fallback(const call &c, mxb_status_t s, const char **ran) {
  if (s != MXB_ERR_UNSUPPORTED || has_epilogue(c.p.out)) return s;
  mxb_clear_error();
  if (c.p.a.block_cols) {
    *ran = "cuda-fast-dequant-cublaslt-bf16";
    return run_dequant(c.ctx, c.p, c.ws, c.ws_bytes, c.st);
  }
  *ran = "cuda-exact-generic";
  return run_generic(c.ctx, c.p, nullptr, c.st);
}
static mxb_status_t run_lt_path(const call &c, const char **ran) {
  return lt_fallback(c, run_lt_native(c.ctx, c.p, c.A, c.B, c.ws, c.ws_bytes, c.st), ran);
}
static mxb_status_t run_blockscaled_path(const call &c, const char **ran) {
  return lt_fallback(c, run_blockscaled(c.ctx, c.p, c.A, c.B, c.ws, c.st), ran);
}

static bool k_empty(const mxb_context *, const call &c) { return c.p.K == 0; }
static bool exact_fp4(const mxb_context *, const call &c) { return !fast(c) && fa(c) == fb(c) && is_fp4(fa(c)); }
static bool exact_any(const mxb_context *, const call &c) { return !fast(c); }
static bool exact_sm90_fp4(const mxb_context *ctx, const call &c) {
  return !fast(c) && one_scale(c) && sm90_w4_exact_applies(ctx, c.p);
}
// Fast calls with an amax per row that no fast path took.
static bool rows_fp4(const mxb_context *, const call &c) { return !one_scale(c) && fa(c) == fb(c) && is_fp4(fa(c)); }
static bool lt_nvfp4_sm100(const mxb_context *ctx, const call &c) {
  return fast_path(c) && blockscaled_ok(ctx, c.p) && fa(c) == MXB_FORMAT_NVFP4;
}
static bool lt_mxfp8_sm100(const mxb_context *ctx, const call &c) {
  return fast_path(c) && blockscaled_ok(ctx, c.p) && fa(c) != MXB_FORMAT_NVFP4;
}
static bool sm90_mx(const mxb_context *ctx, const call &c) { return fast_path(c) && sm90_mx_fp8_applies(ctx, c.p); }
static bool sm90_mx_shape(const mxb_context *ctx, const call &c) { return sm90_mx_fp8_preferred(ctx, c.p); }
static bool sm90_w4(const mxb_context *ctx, const call &c) { return fast_path(c) && sm90_w4_applies(ctx, c.p); }
static bool sm90_w4_shape(const mxb_context *ctx, const call &c) { return sm90_w4_preferred(ctx, c.p); }
static bool lt_bf16(const mxb_context *, const call &c) {
  return fast_path(c) && fa(c) == MXB_FORMAT_BF16 && fb(c) == MXB_FORMAT_BF16;
}
static bool lt_fp8(const mxb_context *ctx, const call &c) {
  const bool tensor = is_fp8_tensor(fa(c)) && is_fp8_tensor(fb(c)) &&
                      !(fa(c) == MXB_FORMAT_FP8_E5M2_TENSOR && fb(c) == MXB_FORMAT_FP8_E5M2_TENSOR) &&
                      ctx->cc_major >= 9;
  const bool blocks = lt_fp8_blocks(fa(c), fb(c)) && ctx->cc_major == 9;
  return fast_path(c) && c.p.K % 16 == 0 && (tensor || blocks);
}
// Decode kernel: 16-byte loads of B rows (and of a BF16 A), 2-byte loads of
// NVFP4 scales; a block-scaled A is decoded element by element when staged.
static bool decode_m16(const mxb_context *, const call &c) {
  const bool a_ok = fa(c) == MXB_FORMAT_BF16 ? c.p.a.row_bytes % 16 == 0 : bf16_dequant(fa(c));
  return fast(c) && c.p.M <= 16 && a_ok && is_fp4(fb(c)) && c.p.K % 64 == 0 &&
         c.p.align.data >= 16 && (fb(c) == MXB_FORMAT_MXFP4 || c.p.align.scales >= 2) &&
         c.B->scale_layout == MXB_SCALE_LAYOUT_LINEAR;
}
static bool dequant(const mxb_context *, const call &c) {
  return fast_path(c) && bf16_dequant(fa(c)) && bf16_dequant(fb(c));
}
static bool always(const mxb_context *, const call &) { return true; }

// Order matters: the first row that applies serves the call.
static const path k_paths[] = {
    {"cuda-exact-generic", k_empty, nullptr, no_workspace, run_generic_path, false, false},  // K = 0: C = beta C
    // NVFP4 x NVFP4, MXFP4 x MXFP4 with K in whole 128-column stages on
    // compute capability 9.0: BF16 wgmma on the codes, a promotion a K-block
    // (measured faster than the integer mma.sync path, docs/PERFORMANCE.md).
    {"cuda-exact-sm90-fp4-wgmma", exact_sm90_fp4, nullptr, ws_sm90_w4_exact, run_sm90_w4_exact_path, false, false},
    {"cuda-exact-int8-mma", exact_fp4, nullptr, ws_int8, run_int8_path, false, false},
    {"cuda-exact-generic", exact_any, nullptr, no_workspace, run_generic_path, false, false},
    // cuBLASLt writes these rows' C; the sm_90a MX kernel's store has no
    // bias or activation (see store_plain).
    {"cuda-fast-cublaslt-nvfp4-sm100", lt_nvfp4_sm100, nullptr, ws_blockscaled, run_blockscaled_path, true, true},
    {"cuda-fast-cublaslt-mxfp8-sm100", lt_mxfp8_sm100, nullptr, ws_blockscaled, run_blockscaled_path, true, true},
    // M <= 16 with 4-bit weights: the weights streamed once (measured faster
    // than the sm_90a kernels there, docs/PERFORMANCE.md).
    {"cuda-fast-decode-m16", decode_m16, nullptr, decode_workspace, run_decode_path, false, false},
    // 4-bit weights before the MX kernel: W4A8 (MXFP8 A, MXFP4 B) is faster
    // with A decoded to BF16 and B in the 4-bit kernel's mainloop than with
    // B widened to E4M3 (measured on an H200, docs/PERFORMANCE.md). It
    // finishes C itself (bias, activation, fp16 C: in its K-split reduce
    // kernel, else a step); aux and gated activations take the registry's.
    {"cuda-fast-sm90-w4-bf16-wgmma", sm90_w4, sm90_w4_shape, ws_sm90_w4, run_sm90_w4_path, false, false},
    {"cuda-fast-sm90-mx-fp8-wgmma", sm90_mx, sm90_mx_shape, ws_sm90_mx, run_sm90_mx_path, true, false},
    {"cuda-fast-cublaslt-bf16", lt_bf16, nullptr, ws_lt, run_lt_path, true, true},
    {"cuda-fast-cublaslt-fp8", lt_fp8, nullptr, ws_lt_or_dequant, run_lt_path, true, true},
    {"cuda-fast-dequant-cublaslt-bf16", dequant, nullptr, ws_dequant, run_dequant_path, true, true},
    {"cuda-exact-int8-mma", rows_fp4, nullptr, ws_int8, run_int8_path, false, false},
    {"cuda-exact-generic", always, nullptr, no_workspace, run_generic_path, false, false},
};

static constexpr int k_npaths = (int)(sizeof(k_paths) / sizeof(k_paths[0]));
static bool split_epilogue(const path &r, const problem &p) {
  return has_epilogue(p.out) && (r.plain_c || epilogue_step_only(p.out));
}
// Whether row r first hands p's bias to cuBLASLt's epilogue (lt_bias_only).
static bool lt_bias_first(const path &r, const out_view &o) { return r.lt_bias && lt_bias_only(o); }
// Workspace of row r for p: with the epilogue split off, the intermediate
// first, then what the row needs for the problem it runs.
// A row that first tries its bias in cuBLASLt's epilogue also holds what
// the call needs run that way (the dequantize path's copy of C with beta).
static size_t need_of(const mxb_context *ctx, const path &r, const problem &p) {
  if (!split_epilogue(r, p)) return r.workspace(ctx, p);
  size_t w = r.workspace(ctx, lt_epilogue_problem(p, nullptr));
  if (lt_bias_first(r, p.out)) w = max_sz(w, r.workspace(ctx, p));
  return lt_epilogue_bytes(p) + w;
}


static call make_call(mxb_context *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B,
                      void *C, int64_t ldc, mxb_gemm_align align) {
  call c;
  c.ctx = ctx;
  c.desc = desc;
  c.A = A;
  c.B = B;
  c.p = make_problem(desc, A, B, C, ldc, align);
  c.ws = nullptr;
  c.ws_bytes = 0;
  c.st = nullptr;
  return c;
}

static mxb_status_t check_arch(const mxb_context *ctx) {
  // Kernels are built for sm_90a and as compute_80 PTX (mma.sync, ldmatrix, cp.async).
  if (ctx->cc_major < 8)
    return mxb_fail(MXB_ERR_ARCH_UNSUPPORTED,
                    "the CUDA GEMM needs compute capability 8.0 or newer (device %d has %d.%d)", ctx->device,
                    ctx->cc_major, ctx->cc_minor);
  return MXB_SUCCESS;
}

}  // namespace gemm
}  // namespace mxb

using namespace mxb;
using namespace mxb::gemm;

// The paths lay their scratch out on 256-byte boundaries (cuBLASLt requires
// a 256-byte aligned workspace) while callers only promise
// MXB_WORKSPACE_ALIGNMENT: the query adds the slack to reach the first
// 256-byte boundary, where the call starts.
constexpr size_t WS_ALIGN = 256;
static size_t with_slack(size_t need) { return need ? need + WS_ALIGN - MXB_WORKSPACE_ALIGNMENT : 0; }

// The row named by MXB_CUDA_GEMM_PATH where it applies, else the first row
// that applies and is preferred; either with a workspace that fits max_ws
// (0: no limit). The closing row needs none.
static int choose(const mxb_context *ctx, const call &c, size_t max_ws) {
  // A path named by MXB_CUDA_GEMM_PATH serves every call it can (K = 0
  // stays with the first row: C = beta C).
  for (int i = 0; i < k_npaths && ctx->gemm_path[0] && c.p.K > 0; i++) {
    const path &r = k_paths[i];
    if (strcmp(r.name, ctx->gemm_path) == 0 && r.applies(ctx, c) &&
        !(max_ws && with_slack(need_of(ctx, r, c.p)) > max_ws))
      return i;
  }
  for (int i = 0; i < k_npaths; i++) {
    const path &r = k_paths[i];
    if (!r.applies(ctx, c) || (r.prefers && !r.prefers(ctx, c))) continue;
    if (max_ws && with_slack(need_of(ctx, r, c.p)) > max_ws) continue;
    return i;
  }
  return k_npaths - 1;
}

// FP8 blocks with UE8M0 scale bytes hold the values of their fp32-scale
// twins (NUMERICS 4.4). A fast call whose twin pair the registry gives to an
// FP8 path (cuBLASLt's block scaling, the sm_90a kernel) runs that path on
// the twins, the bytes widened to fp32 scale_inv planes at the workspace's
// start by one small kernel: the twins' products, path and bits. Every
// other call reads the bytes where they are (the dequantize and exact
// paths decode them).
// The twin: the format of the table with the same element and block shape
// and fp32 scales.
static int fp32_twin(int f) {
  const mxb_format_desc *d = mxb_format_desc_get((mxb_format_t)f);
  if (!d || d->scale_type != MXB_SCALE_UE8M0) return f;
  for (int t = 0; t < MXB_FORMAT_COUNT; t++) {
    const mxb_format_desc *e = mxb_format_desc_get((mxb_format_t)t);
    if (e->scale_type == MXB_SCALE_FP32 && e->elem == d->elem && e->block_rows == d->block_rows &&
        e->block_cols == d->block_cols)
      return t;
  }
  return f;  // not reached: every UE8M0 format has its twin in the table
}
namespace mxb {
namespace gemm {
ue8m0_twins ue8m0_twins_of(const mxb_tensor_t *A, const mxb_tensor_t *B) {
  ue8m0_twins t;
  t.A = *A;
  t.B = *B;
  auto one = [](mxb_tensor_t &x, int64_t &n, size_t &bytes) {
    n = 0;
    bytes = 0;
    const int f = fp32_twin(x.format);
    if (f == x.format) return;
    mxb_tensor_sizes_t s;
    mxb_compute_sizes(x.format, x.rows, x.cols, x.scale_layout, &s);
    n = (int64_t)s.scale_bytes;  // one byte a block
    bytes = align256((size_t)n * 4);
    x.format = (mxb_format_t)f;
  };
  one(t.A, t.na, t.a_bytes);
  one(t.B, t.nb, t.b_bytes);
  return t;
}

__global__ void widen_ue8m0_kernel(const uint8_t *in, float *out, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = mxb_e8m0_decode(in[i]);  // 0xFF: NaN, as the byte decodes
}
static mxb_status_t widen_plane(const mxb_context *ctx, const void *in, float *out, int64_t n, cudaStream_t st) {
  if (n == 0) return MXB_SUCCESS;
  widen_ue8m0_kernel<<<grid_for(ctx, n, 256), 256, 0, st>>>(static_cast<const uint8_t *>(in), out, n);
  return launch_status("UE8M0 scale widening kernel");
}
mxb_status_t ue8m0_twins::widen(const mxb_context *ctx, char *base, cudaStream_t st) {
  float *fa = reinterpret_cast<float *>(base), *fb = reinterpret_cast<float *>(base + a_bytes);
  MXB_TRY(widen_plane(ctx, A.scales, fa, na, st));
  MXB_TRY(widen_plane(ctx, B.scales, fb, nb, st));
  if (na) A.scales = fa;
  if (nb) B.scales = fb;
  return MXB_SUCCESS;
}
}  // namespace gemm
}  // namespace mxb
static bool widens(const path &r) { return r.applies == lt_fp8 || r.applies == sm90_mx; }

extern "C" mxb_status_t mxb_cuda_gemm_choose(struct mxb_context *ctx, const mxb_gemm_desc_t *desc,
                                             const mxb_tensor_t *A, const mxb_tensor_t *B, mxb_gemm_align align,
                                             size_t max_workspace, mxb_gemm_choice *out) {
  MXB_TRY(check_arch(ctx));
  const int64_t ldc = desc->ldc ? desc->ldc : B->rows;
  const call c = make_call(ctx, desc, A, B, nullptr, ldc, align);
  int i = choose(ctx, c, max_workspace);
  size_t need = need_of(ctx, k_paths[i], c.p);
  out->widen = 0;
  const ue8m0_twins t = ue8m0_twins_of(A, B);
  if (fast(c) && t.any()) {
    mxb_gemm_align wa = align;
    wa.scales = 256;  // the widened planes
    const call ct = make_call(ctx, desc, &t.A, &t.B, nullptr, ldc, wa);
    const int j = choose(ctx, ct, 0);
    const size_t wneed = t.bytes() + need_of(ctx, k_paths[j], ct.p);
    if (widens(k_paths[j]) && !(max_workspace && with_slack(wneed) > max_workspace)) {
      i = j;
      need = wneed;
      out->widen = 1;
    }
  }
  out->path = i;
  out->name = k_paths[i].name;
  out->threads = 0;
  out->workspace = (c.p.M == 0 || c.p.N == 0) ? 0 : with_slack(need);
  return MXB_SUCCESS;
}

extern "C" mxb_status_t mxb_cuda_gemm(struct mxb_context *ctx, const mxb_gemm_choice *choice,
                                      const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B,
                                      void *C, int64_t ldc, void *workspace, size_t workspace_bytes, void *stream) {
  const path &r = k_paths[choice->path];
  if (A->rows == 0 || B->rows == 0) {
    mxb_set_last_impl(ctx, r.name);
    return MXB_SUCCESS;
  }
  // UE8M0 scale bytes widened into the workspace's first 256-byte-aligned
  // bytes; the path runs the twins on the rest.
  ue8m0_twins t;
  if (choice->widen) {
    t = ue8m0_twins_of(A, B);
    const size_t skip = (WS_ALIGN - (uintptr_t)workspace % WS_ALIGN) % WS_ALIGN;
    char *base = static_cast<char *>(workspace) + skip;
    MXB_TRY(t.widen(ctx, base, as_stream(stream)));
    A = &t.A;
    B = &t.B;
    workspace = base + t.bytes();
    workspace_bytes -= skip + t.bytes();
  }
  // The pointers meet the alignment the choice assumed (checked by the caller).
  call c = make_call(ctx, desc, A, B, C, ldc, mxb_gemm_align{1, 1});
  // With the epilogue as a second step, the path runs a problem of its own
  // (lt_epilogue_problem) after the intermediate at the workspace's start.
  const problem user = c.p;
  const bool split = split_epilogue(r, user);
  const size_t inter = split ? lt_epilogue_bytes(user) : 0;
  if (split) c.p = lt_epilogue_problem(user, nullptr);
  // The caller's workspace passed mxb_check_workspace against with_slack(need_of).
  if (need_of(ctx, r, user) > 0) {
    const size_t skip = (WS_ALIGN - (uintptr_t)workspace % WS_ALIGN) % WS_ALIGN;
    char *base = static_cast<char *>(workspace) + skip;
    if (inter) c.p = lt_epilogue_problem(user, base);
    c.ws = base + inter;
    c.ws_bytes = workspace_bytes - skip - inter;
  }
  c.st = as_stream(stream);
  const char *ran = r.name;
  if (split && lt_bias_first(r, user.out)) {
    // The bias in cuBLASLt's epilogue; where cuBLASLt has no algorithm with
    // it (nothing written to C yet), the run below with the step.
    call f = c;
    f.p = user;
    const mxb_status_t s = r.run(f, &ran);
    if (s == MXB_SUCCESS) mxb_set_last_impl(ctx, ran);
    if (s != MXB_ERR_UNSUPPORTED) return s;
    mxb_clear_error();
    ran = r.name;
  }
  mxb_status_t s = r.run(c, &ran);
  if (s == MXB_SUCCESS && split) s = run_lt_epilogue(ctx, user, c.p, c.st);
  if (s == MXB_SUCCESS) mxb_set_last_impl(ctx, ran);
  return s;
}
