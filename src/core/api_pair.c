/* mxb_quantize_pair: the row-wise copy of x and the column-wise copy (the
 * quantization of x^T), each with its own config. The workspace holds x^T
 * followed by the scratch of the larger of the two quantizations. */
#include "core/context.h"
#include "core/error.h"
#include "core/quantize.h"
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cpu/transforms.h"

#define PAIR_ALIGN 256

static size_t round_up(size_t n) { return (n + PAIR_ALIGN - 1) / PAIR_ALIGN * PAIR_ALIGN; }

/* One side of the pair, validated once: its format and sizes. */
typedef struct side {
  const mxb_format_desc *d;
  mxb_tensor_sizes_t sz;
} side;

/* Everything both quantizations need, checked before anything is written. */
static mxb_status_t check_pair(mxb_context_t *ctx, const mxb_quant_config_t *row_cfg,
                               const mxb_quant_config_t *col_cfg, mxb_dtype_t src_type,
                               const mxb_tensor_t *rowwise, const mxb_tensor_t *colwise, side *row, side *col,
                               size_t *transposed_bytes, size_t *scratch_bytes) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  MXB_TRY(mxb_check_tensor(rowwise, "rowwise", NULL, NULL));
  MXB_TRY(mxb_check_tensor(colwise, "colwise", NULL, NULL));
  if (colwise->rows != rowwise->cols || colwise->cols != rowwise->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "colwise is [%lld, %lld], expected [%lld, %lld] (the transpose of rowwise)",
                    (long long)colwise->rows, (long long)colwise->cols, (long long)rowwise->cols,
                    (long long)rowwise->rows);
  if (rowwise->data == colwise->data)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "rowwise and colwise share their data plane");
  if (mxb_dtype_bytes(src_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "src type %d is not a valid mxb_dtype_t", (int)src_type);
  if (row_cfg->compat || col_cfg->compat)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "compatibility profiles are mxb_quantize's: quantize the two copies with it");
  MXB_TRY(mxb_check_quantize(ctx, row_cfg, src_type, rowwise, &row->sz, &row->d));
  MXB_TRY(mxb_check_quantize(ctx, col_cfg, src_type, colwise, &col->sz, &col->d));
  size_t row_ws = mxb_quantize_workspace(ctx, row_cfg, row->d, rowwise, &row->sz);
  size_t col_ws = mxb_quantize_workspace(ctx, col_cfg, col->d, colwise, &col->sz);
  *transposed_bytes = round_up((size_t)(rowwise->rows * rowwise->cols) * (size_t)mxb_dtype_bytes(src_type));
  *scratch_bytes = row_ws > col_ws ? row_ws : col_ws;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_quantize_pair_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *row_cfg,
                                                      const mxb_quant_config_t *col_cfg, mxb_dtype_t src_type,
                                                      const mxb_tensor_t *rowwise, const mxb_tensor_t *colwise,
                                                      size_t *bytes) {
  mxb_clear_error();
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes is NULL");
  size_t t = 0, q = 0;
  side row, col;
  mxb_quant_config_t rc, cc;
  MXB_TRY(mxb_quant_full_config(row_cfg, "row_cfg", &rc));
  MXB_TRY(mxb_quant_full_config(col_cfg, "col_cfg", &cc));
  MXB_TRY(check_pair(ctx, &rc, &cc, src_type, rowwise, colwise, &row, &col, &t, &q));
  *bytes = t + q;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_quantize_pair(mxb_context_t *ctx, const mxb_quant_config_t *row_cfg,
                                       const mxb_quant_config_t *col_cfg, mxb_dtype_t src_type,
                                       const void *src, mxb_tensor_t *rowwise, mxb_tensor_t *colwise,
                                       void *workspace, size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  size_t t = 0, q = 0;
  side row, col;
  mxb_quant_config_t rc, cc;
  MXB_TRY(mxb_quant_full_config(row_cfg, "row_cfg", &rc));
  MXB_TRY(mxb_quant_full_config(col_cfg, "col_cfg", &cc));
  row_cfg = &rc;
  col_cfg = &cc;
  MXB_TRY(check_pair(ctx, row_cfg, col_cfg, src_type, rowwise, colwise, &row, &col, &t, &q));
  MXB_TRY(mxb_check_plain(src, "src", src_type, rowwise->rows, rowwise->cols));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, t + q, "mxb_quantize_pair_workspace_size"));
  char *xt = (char *)workspace;
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    mxb_status_t st = MXB_SUCCESS;
    const char *impl = NULL;
    if (mxb_cuda_quantize_pair(ctx, row_cfg, col_cfg, row.d, &row.sz, col.d, &col.sz, src_type, src, rowwise, colwise,
                               stream, &st, &impl)) {
      MXB_TRY(st);
      mxb_quantize_set_flags(rowwise, row_cfg);
      mxb_quantize_set_flags(colwise, col_cfg);
      mxb_set_last_impl(ctx, impl);
      return MXB_SUCCESS;
    }
    MXB_TRY(mxb_cuda_transpose_plain(ctx, src_type, rowwise->rows, rowwise->cols, src, xt, stream));
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  } else {
    mxb_cpu_transpose_plain(src_type, rowwise->rows, rowwise->cols, src, xt);
  }
  /* check_pair validated both quantizations; x^T is valid like src. The
   * row-wise copy first: two configs sharing one rng_state give it offset o
   * and the column-wise copy o + 1 (mxblas.h). */
  MXB_TRY(mxb_quantize_checked(ctx, row_cfg, row.d, &row.sz, src_type, src, rowwise, q ? xt + t : NULL, stream));
  MXB_TRY(mxb_quantize_checked(ctx, col_cfg, col.d, &col.sz, src_type, xt, colwise, q ? xt + t : NULL, stream));
  mxb_set_last_impl(ctx, ctx->backend == MXB_BACKEND_CUDA ? "cuda-pair" : "cpu-reference");
  return MXB_SUCCESS;
}
