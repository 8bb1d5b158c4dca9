/* GEMM rules shared by the API layer and every backend (core/gemm.h): the
 * supported pairs and the K-block length of NUMERICS 7, from the format table. */
#include "common/gemm_epilogue.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/tensor.h"

#include <stdint.h>
#include <string.h>

/* Scaling families, derived from the format table. Operands of one family
 * combine freely (e.g. MXFP8 x MXFP4, E4M3 x E5M2); plain operands (fp32,
 * bf16) combine with every format; other cross-family pairs are refused. */
typedef enum { FAM_PLAIN, FAM_NVFP4, FAM_MX, FAM_BDR, FAM_FP8_TENSOR, FAM_FP8_BLOCK, FAM_MOR } gemm_family;

static const char *const k_family_names[] = {
  "plain", "NVFP4", "MX (E8M0, 1x32)", "shared-microexponent (MX9/MX6/MX4)",
  "FP8 per-tensor", "FP8 block-scaled (1x128/128x128, fp32 or UE8M0 scales)", "MoR",
};

static gemm_family family_of(const mxb_format_desc *d) {
  switch (d->scale_type) {
    case MXB_SCALE_NONE: return FAM_PLAIN;
    case MXB_SCALE_UE4M3: return FAM_NVFP4;
    case MXB_SCALE_E8M0: return FAM_MX;
    case MXB_SCALE_BDR: return FAM_BDR;
    case MXB_SCALE_FP32:
    case MXB_SCALE_UE8M0: break;
  }
  if (d->elem == MXB_ELEM_MIXED) return FAM_MOR;
  return d->block_cols == 0 ? FAM_FP8_TENSOR : FAM_FP8_BLOCK;
}

/* Block length along K, or 0 when the operand has no blocks along K. */
static int k_block_of(const mxb_format_desc *d) {
  return d->scale_type == MXB_SCALE_NONE ? 0 : d->block_cols;
}

int mxb_gemm_k_block(const mxb_format_desc *a, const mxb_format_desc *b) {
  int la = k_block_of(a), lb = k_block_of(b);
  int l = la > lb ? la : lb;
  return l ? l : 32;
}

mxb_status_t mxb_gemm_check_pair(const mxb_format_desc *a, const mxb_format_desc *b) {
  gemm_family fa = family_of(a), fb = family_of(b);
  if (fa == fb || fa == FAM_PLAIN || fb == FAM_PLAIN) return MXB_SUCCESS;
  return mxb_fail(MXB_ERR_UNSUPPORTED,
                  "the pair A = %s, B = %s is not supported: %s and %s operands do not mix "
                  "(pair formats of one family, or use a bf16/fp32 operand; see docs/GEMM.md)",
                  a->name, b->name, k_family_names[fa], k_family_names[fb]);
}

mxb_status_t mxb_gemm_full_desc(const mxb_gemm_desc_t *in, mxb_gemm_desc_t *out) {
  if (!in) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc is NULL");
  MXB_TRY(mxb_check_struct_size(in->struct_size, MXB_MIN_SIZE_GEMM_DESC, "desc", "use mxb_gemm_desc_init"));
  static const size_t ends[] = {MXB_FIELD_END(mxb_gemm_desc_t, ldc), MXB_FIELD_END(mxb_gemm_desc_t, bias),
                                MXB_FIELD_END(mxb_gemm_desc_t, bias_type), MXB_FIELD_END(mxb_gemm_desc_t, activation),
                                MXB_FIELD_END(mxb_gemm_desc_t, ld_aux), MXB_FIELD_END(mxb_gemm_desc_t, beta_ptr)};
  mxb_gemm_desc_init(out);
  memcpy(out, in, mxb_whole_fields(in->struct_size, ends, sizeof(ends) / sizeof(ends[0])));
  out->struct_size = sizeof(*out);
  return MXB_SUCCESS;
}

mxb_gemm_desc_t mxb_gemm_host_scalars(const mxb_gemm_desc_t *desc) {
  mxb_gemm_desc_t d = *desc;
  if (d.alpha_ptr) d.alpha = *d.alpha_ptr;
  if (d.beta_ptr) d.beta = *d.beta_ptr;
  d.alpha_ptr = d.beta_ptr = NULL;
  return d;
}

int64_t mxb_gemm_c_cols(const mxb_gemm_desc_t *desc, int64_t N) {
  return mxb_gemm_gate_act(desc->activation) ? N / 2 : N;
}

mxb_status_t mxb_gemm_resolve_ldc(const mxb_gemm_desc_t *desc, int64_t N, const char *name, int64_t *ldc) {
  const int gated = mxb_gemm_gate_act(desc->activation) != 0;
  if (gated && N % 2)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "N (%lld) is odd: a gated activation pairs columns n and n + N/2",
                    (long long)N);
  const int64_t cols = mxb_gemm_c_cols(desc, N);
  *ldc = desc->ldc ? desc->ldc : cols;
  if (*ldc < cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "%s (%lld) is smaller than C's %lld columns (%s)", name, (long long)desc->ldc,
                    (long long)cols, gated ? "N/2: a gated activation" : "N");
  return MXB_SUCCESS;
}

mxb_status_t mxb_gemm_check_desc(const mxb_gemm_desc_t *desc) {
  if (desc->mode != MXB_GEMM_EXACT && desc->mode != MXB_GEMM_FAST)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->mode %d is not a valid mxb_gemm_mode_t", (int)desc->mode);
  if (mxb_dtype_bytes(desc->c_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->c_type %d is not a valid mxb_dtype_t", (int)desc->c_type);
  if (mxb_dtype_bytes(desc->bias_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->bias_type %d is not a valid mxb_dtype_t", (int)desc->bias_type);
  if (desc->activation < MXB_ACT_NONE || desc->activation > MXB_ACT_GEGLU_TANH)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->activation %d is not a valid mxb_activation_t",
                    (int)desc->activation);
  if (mxb_gemm_gate_act(desc->activation) && desc->beta != 0.0f)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->beta (%g) must be 0 with a gated activation: C is not read",
                    (double)desc->beta);
  if (mxb_gemm_gate_act(desc->activation) && desc->beta_ptr)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->beta_ptr must be NULL with a gated activation: C is not read");
  if ((uintptr_t)desc->alpha_ptr % 4 || (uintptr_t)desc->beta_ptr % 4)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "desc->%s (%p) is not aligned to 4 bytes",
                    (uintptr_t)desc->alpha_ptr % 4 ? "alpha_ptr" : "beta_ptr",
                    (const void *)((uintptr_t)desc->alpha_ptr % 4 ? desc->alpha_ptr : desc->beta_ptr));
  if ((uintptr_t)desc->aux % (uintptr_t)mxb_dtype_bytes(desc->c_type) != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "desc->aux (%p) is not aligned to C's element size (%d bytes)", desc->aux,
                    mxb_dtype_bytes(desc->c_type));
  if (desc->ld_aux < 0) return mxb_fail(MXB_ERR_BAD_SHAPE, "desc->ld_aux (%lld) is negative", (long long)desc->ld_aux);
  if ((uintptr_t)desc->bias % (uintptr_t)mxb_dtype_bytes(desc->bias_type) != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "desc->bias (%p) is not aligned to its element size (%d bytes)",
                    desc->bias, mxb_dtype_bytes(desc->bias_type));
  return MXB_SUCCESS;
}

mxb_status_t mxb_gemm_check_c(const mxb_gemm_desc_t *desc, const void *C) {
  if (!C) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "C is NULL");
  size_t esize = (size_t)mxb_dtype_bytes(desc->c_type);
  if ((uintptr_t)C % esize != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "C (%p) is not aligned to its element size (%zu bytes)", C, esize);
  return MXB_SUCCESS;
}

/* The largest power of two, at most MXB_GEMM_MAX_ALIGN, that divides p. */
static size_t align_of(const void *p) {
  size_t a = MXB_GEMM_MAX_ALIGN;
  while (a > 1 && (uintptr_t)p % a) a >>= 1;
  return a;
}

int mxb_gemm_has_scales(const mxb_tensor_t *t) { return mxb_format_desc_get(t->format)->scale_type != MXB_SCALE_NONE; }

mxb_gemm_align mxb_gemm_pointer_align(const mxb_tensor_t *A, const mxb_tensor_t *B) {
  mxb_gemm_align al = {align_of(A->data), MXB_GEMM_MAX_ALIGN};
  if (align_of(B->data) < al.data) al.data = align_of(B->data);
  if (mxb_gemm_has_scales(A) && align_of(A->scales) < al.scales) al.scales = align_of(A->scales);
  if (mxb_gemm_has_scales(B) && align_of(B->scales) < al.scales) al.scales = align_of(B->scales);
  return al;
}
