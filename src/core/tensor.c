/* Tensor geometry (plane sizes) and the shared validation of descriptors,
 * option structs, workspaces and plain buffers. */
#include "core/tensor.h"
#include "core/error.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

mxb_status_t mxb_check_struct_size(size_t struct_size, size_t min_size, const char *name, const char *how) {
  if (struct_size < min_size)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->struct_size is %zu, expected at least %zu (%s)", name, struct_size,
                    min_size, how);
  return MXB_SUCCESS;
}

void mxb_struct_out(void *dst, const void *src, size_t src_size) {
  size_t caller;
  memcpy(&caller, dst, sizeof(caller));
  size_t n = caller < src_size ? caller : src_size;
  memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t), n - sizeof(size_t));
}

MXB_API mxb_status_t mxb_tensor_sizes(mxb_format_t format, int64_t rows, int64_t cols,
                                      mxb_scale_layout_t layout, mxb_tensor_sizes_t *sizes) {
  mxb_clear_error();
  if (!sizes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "sizes is NULL");
  MXB_TRY(mxb_check_struct_size(sizes->struct_size, MXB_MIN_SIZE_TENSOR_SIZES, "sizes",
                                "set it to sizeof(mxb_tensor_sizes_t)"));
  mxb_tensor_sizes_t s;
  MXB_TRY(mxb_compute_sizes(format, rows, cols, layout, &s));
  mxb_struct_out(sizes, &s, sizeof(s));
  return MXB_SUCCESS;
}

mxb_status_t mxb_compute_sizes(mxb_format_t format, int64_t rows, int64_t cols, mxb_scale_layout_t layout,
                               mxb_tensor_sizes_t *sizes) {
  const mxb_format_desc *d = mxb_format_desc_get(format);
  if (!d) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "format %d is not a valid mxb_format_t", (int)format);
  if (rows <= 0 || cols <= 0 || rows > MXB_MAX_DIM || cols > MXB_MAX_DIM || rows * cols > MXB_MAX_ELEMS)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "shape [%lld, %lld] is empty or too large (each dimension <= 2^31, elements <= 2^40)",
                    (long long)rows, (long long)cols);
  if (layout != MXB_SCALE_LAYOUT_LINEAR && layout != MXB_SCALE_LAYOUT_SWIZZLED)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "scale layout %d is not a valid mxb_scale_layout_t", (int)layout);
  if (layout == MXB_SCALE_LAYOUT_SWIZZLED && !d->swizzle_ok)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the swizzled scale layout exists for NVFP4 and MX formats only, not %s", d->name);

  mxb_tensor_sizes_t s;
  memset(&s, 0, sizeof(s));
  s.struct_size = sizeof(s);
  s.scale_rows = mxb_scale_rows(d, rows);
  s.scale_cols = mxb_scale_cols(d, cols);
  s.row_bytes = (size_t)((mxb_fmt_row_codes(d->format, cols) * d->elem_bits + 7) / 8);
  s.data_bytes = s.row_bytes * (size_t)rows;
  size_t nscales = (size_t)(s.scale_rows * s.scale_cols);
  if (layout == MXB_SCALE_LAYOUT_SWIZZLED)
    nscales = (size_t)((s.scale_rows + 127) / 128 * 128) * (size_t)((s.scale_cols + 3) / 4 * 4);
  s.scale_bytes = nscales * (size_t)mxb_scale_entry_bytes(d->scale_type);
  /* aux: the BDR microexponents, or MoR's per-partition decisions */
  s.aux_bytes = nscales * (size_t)(mxb_scale_aux_bytes(d->scale_type) || d->elem == MXB_ELEM_MIXED);
  s.amax_bytes = d->has_amax ? 4 : 0;
  *sizes = s;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_tensor_init(mxb_tensor_t *t, mxb_format_t format, int64_t rows,
                                     int64_t cols, mxb_scale_layout_t layout) {
  mxb_clear_error();
  if (!t) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "t is NULL");
  mxb_tensor_sizes_t s;
  MXB_TRY(mxb_compute_sizes(format, rows, cols, layout, &s));
  mxb_tensor_set(t, format, rows, cols, layout);
  return MXB_SUCCESS;
}

void mxb_tensor_set(mxb_tensor_t *t, mxb_format_t format, int64_t rows, int64_t cols, mxb_scale_layout_t layout) {
  memset(t, 0, sizeof(*t));
  t->struct_size = sizeof(*t);
  t->format = format;
  t->rows = rows;
  t->cols = cols;
  t->scale_layout = layout;
}

mxb_status_t mxb_check_tensor_shape(const mxb_tensor_t *t, const char *name, mxb_tensor_sizes_t *sizes,
                                    const mxb_format_desc **desc) {
  if (!t) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s is NULL", name);
  MXB_TRY(mxb_check_struct_size(t->struct_size, MXB_MIN_SIZE_TENSOR, name, "use mxb_tensor_init"));
  const mxb_format_desc *d = mxb_format_desc_get(t->format);
  if (!d) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->format %d is not a valid mxb_format_t", name, (int)t->format);
  mxb_tensor_sizes_t s;
  mxb_status_t st = mxb_compute_sizes(t->format, t->rows, t->cols, t->scale_layout, &s);
  if (st != MXB_SUCCESS) {
    char inner[400];
    strncpy(inner, mxb_last_error_detail(), sizeof(inner) - 1);
    inner[sizeof(inner) - 1] = '\0';
    return mxb_fail(st, "%s: %s", name, inner);
  }
  if (sizes) *sizes = s;
  if (desc) *desc = d;
  return MXB_SUCCESS;
}

mxb_status_t mxb_check_tensor(const mxb_tensor_t *t, const char *name, mxb_tensor_sizes_t *sizes,
                              const mxb_format_desc **desc) {
  const mxb_format_desc *d;
  mxb_tensor_sizes_t s;
  MXB_TRY(mxb_check_tensor_shape(t, name, &s, &d));
  if (!t->data) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->data is NULL", name);
  if (s.scale_bytes && !t->scales)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->scales is NULL but %s needs %zu bytes of scales", name, d->name,
                    s.scale_bytes);
  if (s.aux_bytes && !t->aux)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->aux is NULL but %s needs %zu bytes of aux", name, d->name,
                    s.aux_bytes);
  if (s.amax_bytes && !t->amax)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->amax is NULL but %s carries a tensor amax", name, d->name);
  /* planes hold 2-byte (bf16, MoR) or 4-byte (fp32) codes, fp32 scales, an fp32 amax */
  char what[64];
  snprintf(what, sizeof(what), "%s->data", name);
  MXB_TRY(mxb_check_aligned(t->data, d->elem_bits >= 16 ? (size_t)d->elem_bits / 8 : 1, what));
  snprintf(what, sizeof(what), "%s->scales", name);
  MXB_TRY(mxb_check_aligned(t->scales, d->scale_type == MXB_SCALE_NONE ? 1 : (size_t)mxb_scale_entry_bytes(d->scale_type), what));
  snprintf(what, sizeof(what), "%s->amax", name);
  MXB_TRY(mxb_check_aligned(t->amax, 4, what));
  if (sizes) *sizes = s;
  if (desc) *desc = d;
  return MXB_SUCCESS;
}

mxb_status_t mxb_check_workspace(const void *workspace, size_t workspace_bytes, size_t need, const char *query) {
  if (workspace && (uintptr_t)workspace % MXB_WORKSPACE_ALIGNMENT != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT,
                    "workspace (%p) is not aligned to MXB_WORKSPACE_ALIGNMENT (%d bytes; malloc and cudaMalloc "
                    "pointers are)",
                    workspace, MXB_WORKSPACE_ALIGNMENT);
  if (need && (!workspace || workspace_bytes < need))
    return mxb_fail(MXB_ERR_WORKSPACE_TOO_SMALL, "workspace %s%zu bytes; %s asks for %zu",
                    workspace ? "has " : "is NULL with ", workspace_bytes, query, need);
  return MXB_SUCCESS;
}

mxb_status_t mxb_check_aligned(const void *p, size_t align, const char *name) {
  if ((uintptr_t)p % align != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "%s (%p) is not aligned to its element size (%zu bytes)", name, p, align);
  return MXB_SUCCESS;
}

mxb_status_t mxb_check_plain(const void *p, const char *name, mxb_dtype_t type, int64_t rows,
                             int64_t cols) {
  if (!p) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s is NULL", name);
  if (mxb_dtype_bytes(type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s type %d is not a valid mxb_dtype_t", name, (int)type);
  if (rows <= 0 || cols <= 0 || rows > MXB_MAX_DIM || cols > MXB_MAX_DIM || rows * cols > MXB_MAX_ELEMS)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "%s shape [%lld, %lld] is empty or too large", name, (long long)rows,
                    (long long)cols);
  return mxb_check_aligned(p, (size_t)mxb_dtype_bytes(type), name);
}

mxb_status_t mxb_check_rht(const mxb_rht_t *rht, int64_t len, const char *what) {
  if (rht->size != 16 && rht->size != 32 && rht->size != 64 && rht->size != 128 && rht->size != 256)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "RHT size %d is not one of 16, 32, 64, 128, 256", rht->size);
  if (rht->sign_source != MXB_SIGNS_MASK && rht->sign_source != MXB_SIGNS_SEED)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "RHT sign_source %d is not valid", (int)rht->sign_source);
  if (len % rht->size != 0)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "%s (%lld) is not a multiple of the RHT size (%d)", what, (long long)len,
                    rht->size);
  return MXB_SUCCESS;
}

size_t mxb_whole_fields(size_t struct_size, const size_t *ends, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (struct_size >= ends[i]) k = ends[i];
  return k;
}

mxb_status_t mxb_quant_full_config(const mxb_quant_config_t *in, const char *name, mxb_quant_config_t *out) {
  if (!in) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s is NULL", name);
  MXB_TRY(mxb_check_struct_size(in->struct_size, MXB_MIN_SIZE_QUANT_CONFIG, name, "use mxb_quant_config_init"));
  static const size_t ends[] = {MXB_MIN_SIZE_QUANT_CONFIG, MXB_FIELD_END(mxb_quant_config_t, four_over_six),
                                MXB_FIELD_END(mxb_quant_config_t, rng_state),
                                MXB_FIELD_END(mxb_quant_config_t, nvfp4_e4m3_max),
                                MXB_FIELD_END(mxb_quant_config_t, nvfp4_row_amax),
                                MXB_FIELD_END(mxb_quant_config_t, compat),
                                MXB_FIELD_END(mxb_quant_config_t, global_cols),
                                MXB_FIELD_END(mxb_quant_config_t, amax_out)};
  mxb_quant_config_defaults(out);
  memcpy(out, in, mxb_whole_fields(in->struct_size, ends, sizeof(ends) / sizeof(ends[0])));
  out->struct_size = sizeof(*out);
  return MXB_SUCCESS;
}

mxb_status_t mxb_quant_full_config_or_default(const mxb_quant_config_t *in, mxb_quant_config_t *out) {
  if (in) return mxb_quant_full_config(in, "cfg", out);
  mxb_quant_config_defaults(out);
  out->struct_size = sizeof(*out);
  return MXB_SUCCESS;
}

uint32_t mxb_quant_flags(const mxb_quant_config_t *cfg) {
  return (cfg->block_2d ? MXB_TENSOR_SCALED_2D : 0u) | (cfg->rht.enabled ? MXB_TENSOR_RHT : 0u) |
         (cfg->nvfp4_e4m3_max == 256 ? MXB_TENSOR_E4M3_MAX_256 : 0u) |
         (cfg->nvfp4_row_amax ? MXB_TENSOR_ROW_AMAX : 0u);
}

int64_t mxb_quant_global_cols(const mxb_quant_config_t *cfg, int64_t cols) {
  return cfg->global_cols ? cfg->global_cols : cols;
}

mxb_status_t mxb_check_shard(const mxb_quant_config_t *cfg, int64_t rows, int64_t cols) {
  const int64_t r0 = cfg->global_row0, c0 = cfg->global_col0, gc = mxb_quant_global_cols(cfg, cols);
  if (r0 < 0 || c0 < 0 || cfg->global_cols < 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg's shard origin (global_row0 %lld, global_col0 %lld, global_cols "
                    "%lld) has a negative field", (long long)r0, (long long)c0, (long long)cfg->global_cols);
  if (c0 > gc - cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "dst's %lld columns at global_col0 %lld do not fit in global_cols %lld%s",
                    (long long)cols, (long long)c0, (long long)gc, cfg->global_cols ? "" : " (0: dst->cols)");
  const int64_t lim = (int64_t)1 << 62; /* every global index below it, well inside uint64 */
  if (gc > 0 && (r0 > lim / gc - rows))
    return mxb_fail(MXB_ERR_BAD_SHAPE, "global_row0 %lld + %lld rows of %lld columns put indices beyond 2^62",
                    (long long)r0, (long long)rows, (long long)gc);
  return MXB_SUCCESS;
}

/* The formats each compatibility profile reproduces (docs/COMPAT.md). */
static int compat_has(mxb_compat_t c, mxb_format_t f) {
  const int mx = f == MXB_FORMAT_MXFP8_E4M3 || f == MXB_FORMAT_MXFP8_E5M2 || f == MXB_FORMAT_MXFP6_E2M3 ||
                 f == MXB_FORMAT_MXFP6_E3M2 || f == MXB_FORMAT_MXFP4;
  switch (c) {
    case MXB_COMPAT_TE: return f == MXB_FORMAT_NVFP4 || f == MXB_FORMAT_MXFP8_E4M3 || f == MXB_FORMAT_MXFP8_E5M2;
    case MXB_COMPAT_TORCHAO: return mx || f == MXB_FORMAT_NVFP4;
    case MXB_COMPAT_TORCHAO_RCEIL: return mx;
    case MXB_COMPAT_MICROXCALING:
    case MXB_COMPAT_OCP_FLOOR: return mx || f == MXB_FORMAT_MXINT8;
    default: return 1;
  }
}

static const char *const compat_names[MXB_COMPAT_COUNT] = {"mxblas", "te", "torchao", "microxcaling", "ocp",
                                                           "torchao-rceil"};

const char *mxb_compat_name(mxb_compat_t c) {
  return (int)c >= 0 && (int)c < MXB_COMPAT_COUNT ? compat_names[c] : "?";
}

/* A profile fixes the scale rule and the non-finite handling and takes the
 * defaults of every other option (mxb_compat_t). */
static mxb_status_t check_compat(const mxb_quant_config_t *cfg, const mxb_format_desc *d) {
  if ((int)cfg->compat < 0 || (int)cfg->compat >= MXB_COMPAT_COUNT)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->compat %d is not a profile", (int)cfg->compat);
  if (cfg->compat == MXB_COMPAT_MXBLAS) return MXB_SUCCESS;
  const char *name = compat_names[cfg->compat];
  if (!compat_has(cfg->compat, d->format))
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the %s profile has no %s (docs/COMPAT.md lists its formats)", name, d->name);
  /* TE's NVFP4 reference also has 16x16 tiles, an amax per row (row_scaled_nvfp4)
   * and Four Over Six (1x16 or 16x16) with the bound 448 or 256 */
  const int te_nvfp4 = cfg->compat == MXB_COMPAT_TE && d->format == MXB_FORMAT_NVFP4;
  const char *opt = cfg->rounding != MXB_ROUND_RNE                ? "stochastic rounding"
                    : cfg->rht.enabled                            ? "the RHT"
                    : cfg->block_2d && !te_nvfp4                  ? "2D scaling"
                    : cfg->four_over_six && !te_nvfp4              ? "Four Over Six"
                    : cfg->nvfp4_e4m3_max == 256 && !(te_nvfp4 && cfg->four_over_six)
                        ? "the E4M3 bound 256 (TE's: with Four Over Six)"
                    : cfg->nvfp4_row_amax && !te_nvfp4            ? "an amax per row"
                    : cfg->scale_rule != MXB_SCALE_RULE_RCEIL     ? "a scale rule (the profile has its own)"
                    : cfg->nonfinite != MXB_NONFINITE_NAN_BLOCK   ? "a non-finite policy (the profile has its own)"
                                                                  : NULL;
  if (opt) return mxb_fail(MXB_ERR_UNSUPPORTED, "the %s profile takes no %s: it reproduces that library's defaults", name, opt);
  return MXB_SUCCESS;
}

mxb_status_t mxb_check_quant_config(const mxb_quant_config_t *cfg, const mxb_format_desc *d, int64_t cols) {
  if (!cfg) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg is NULL");
  MXB_TRY(mxb_check_struct_size(cfg->struct_size, sizeof(*cfg), "cfg", "pass it through mxb_quant_full_config"));
  if (cfg->rounding != MXB_ROUND_RNE && cfg->rounding != MXB_ROUND_SR)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->rounding %d is not valid", (int)cfg->rounding);
  if ((int)cfg->scale_rule < 0 || (int)cfg->scale_rule > MXB_SCALE_RULE_EVEN)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->scale_rule %d is not valid", (int)cfg->scale_rule);
  if (cfg->nonfinite != MXB_NONFINITE_NAN_BLOCK && cfg->nonfinite != MXB_NONFINITE_SATURATE)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->nonfinite %d is not valid", (int)cfg->nonfinite);
  if (cfg->amax_source != MXB_AMAX_COMPUTE && cfg->amax_source != MXB_AMAX_FROM_TENSOR)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->amax_source %d is not valid", (int)cfg->amax_source);
  if (cfg->block_2d && d->format != MXB_FORMAT_NVFP4 && d->scale_type != MXB_SCALE_E8M0)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "2D scaling exists for NVFP4 (16x16) and the MX formats (32x32) only, not %s",
                    d->name);
  if ((int)cfg->four_over_six < MXB_FOUR_OVER_SIX_OFF || (int)cfg->four_over_six > MXB_FOUR_OVER_SIX_MAE)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->four_over_six %d is not valid", (int)cfg->four_over_six);
  if (cfg->four_over_six && d->format != MXB_FORMAT_NVFP4)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "Four Over Six block scales exist for NVFP4 only, not %s", d->name);
  if (cfg->nvfp4_e4m3_max != 0 && cfg->nvfp4_e4m3_max != 448 && cfg->nvfp4_e4m3_max != 256)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->nvfp4_e4m3_max %d is not 448 or 256 (0 means 448)",
                    cfg->nvfp4_e4m3_max);
  if (cfg->nvfp4_e4m3_max == 256 && d->format != MXB_FORMAT_NVFP4)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the E4M3 bound 256 is an NVFP4 option, not one for %s", d->name);
  if (cfg->nvfp4_row_amax != 0 && cfg->nvfp4_row_amax != 1)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->nvfp4_row_amax %d is not 0 or 1", cfg->nvfp4_row_amax);
  if (cfg->nvfp4_row_amax && d->format != MXB_FORMAT_NVFP4)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "a tensor amax per row is an NVFP4 option, not one for %s", d->name);
  if (cfg->nvfp4_row_amax && cfg->block_2d)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "a tensor amax per row does not combine with 2D (16x16) tiles, which span rows");
  if (cfg->rng_state && cfg->rounding != MXB_ROUND_SR)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->rng_state is set but cfg->rounding is not stochastic rounding");
  if ((uintptr_t)cfg->rng_state % 8)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->rng_state %p is not 8-byte aligned", (void *)cfg->rng_state);
  if (cfg->amax_out && mxb_fmt_tensor_scale(d->format) != MXB_TSCALE_PLANE)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "cfg->amax_out takes the amax of an FP8 per-tensor format, not of %s%s",
                    d->name, d->has_amax ? " (its amax is dst->amax)" : "");
  if ((uintptr_t)cfg->amax_out % 4)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "cfg->amax_out %p is not 4-byte aligned", (void *)cfg->amax_out);
  if (cfg->amax_source == MXB_AMAX_FROM_TENSOR && !d->has_amax && mxb_fmt_tensor_scale(d->format) != MXB_TSCALE_PLANE)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "a supplied tensor amax applies to NVFP4 and FP8 per-tensor formats only, not %s",
                    d->name);
  if (cfg->rounding == MXB_ROUND_SR &&
      (d->scale_type == MXB_SCALE_NONE || d->scale_type == MXB_SCALE_BDR || d->elem == MXB_ELEM_MIXED))
    return mxb_fail(MXB_ERR_UNSUPPORTED, "stochastic rounding is not offered for %s", d->name);
  if (d->elem == MXB_ELEM_MIXED || d->format == MXB_FORMAT_FP32)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s is not produced by mxb_quantize (%s)", d->name,
                    d->elem == MXB_ELEM_MIXED ? "use mxb_mor_quantize" : "it is a plain GEMM operand");
  if (cfg->rht.enabled) MXB_TRY(mxb_check_rht(&cfg->rht, cols, "cols"));
  return check_compat(cfg, d);
}
