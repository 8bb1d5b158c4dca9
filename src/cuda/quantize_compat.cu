// CUDA quantize under a compatibility profile (docs/COMPAT.md): one thread
// a scale block running the shared block code of common/compat.h, so the
// bytes are the CPU reference's and the other library's. Profiles serve
// validation and reproduction, not speed: the default profile's kernels are
// the tuned ones. Nothing is allocated and nothing synchronises.
#include "common/compat.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"

namespace mxb {
namespace {

// Thread t quantizes block (t / nb, t % nb); NVFP4 reads the tensor amax
// (written by the amax pass, or the caller's; one a row with
// MXB_TENSOR_ROW_AMAX) in stream order. A 16x16 tile (MXB_TENSOR_SCALED_2D)
// is reduced by each of its 16 threads alone: a profile is not a fast path.
template <int DT, int ELEM, int BC, bool NV>
__global__ void __launch_bounds__(256) compat_kernel(QArgs a, mxb_compat_t c) {
  const int64_t nb = (a.cols + BC - 1) / BC;
  const mxb_fp p = mxb_elem_fp(ELEM);
  constexpr int BITS = mxb_elem_bits(ELEM);
  const bool two_d = NV && (a.flags & MXB_TENSOR_SCALED_2D), per_row = NV && (a.flags & MXB_TENSOR_ROW_AMAX);
  for (ItemWalk w(a.rows * nb, nb); w.more(); w.next()) {
    const int64_t r = w.r, j = w.j, c0 = j * BC;
    const int n = (int)min((int64_t)BC, a.cols - c0);
    float v[BC];
    uint32_t tile = 0xFFFFFFFFu;  // the block's own amax
    if (two_d) {
      tile = 0;
      for (int64_t rr = r / BC * BC; rr < min(r / BC * BC + BC, a.rows); rr++) {
        load_n<DT, BC>(a.src, rr * a.cols + c0, n, a.vec_in && n == BC, v);
        tile = max(tile, mxb_abs_max_bits(v, n));
      }
    }
    uint8_t codes[BC] = {};
    const float A = NV ? a.amax[per_row ? r : 0] : 0.0f;
    uint8_t s;
    if (NV && two_d && a.four_six) {  // TE's 2D Four Over Six: the tile's 16 rows' errors decide
      const float k = mxb_nvfp4_k(a.flags);
      const int mse = a.four_six == MXB_FOUR_OVER_SIX_MSE;
      float S_enc, S_dec, e4[BC], e6[BC];
      mxb_te_nvfp4_tensor(A, k, &S_enc, &S_dec);
      for (int i = 0; i < BC; i++) {
        const int64_t rr = r / BC * BC + i;
        e4[i] = e6[i] = 0.0f;  // rows past the tensor: TE's zero padding errs 0
        if (rr >= a.rows) continue;
        load_n<DT, BC>(a.src, rr * a.cols + c0, n, a.vec_in && n == BC, v);
        mxb_te_4over6_candidate(v, n, tile, A, k, S_enc, S_dec, mse, 0, codes, &e4[i]);
        mxb_te_4over6_candidate(v, n, tile, A, k, S_enc, S_dec, mse, 1, codes, &e6[i]);
      }
      float e;
      load_n<DT, BC>(a.src, r * a.cols + c0, n, a.vec_in && n == BC, v);
      s = mxb_te_4over6_candidate(v, n, tile, A, k, S_enc, S_dec, mse,
                                  mxb_te_tile_error(e4) < mxb_te_tile_error(e6) ? 0 : 1, codes, &e);
    } else {
      load_n<DT, BC>(a.src, r * a.cols + c0, n, a.vec_in && n == BC, v);
      s = NV ? mxb_compat_nvfp4_block(c, v, n, A, tile, a.four_six, a.flags, codes)
             : mxb_compat_mx_block(c, v, n, &p, codes);
    }
    pack_store<BC, BITS>(a.data + r * a.row_bytes + j * (BC * BITS / 8), codes, (n * BITS + 7) / 8,
                         a.vec_out && n == BC);
    a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = s;
  }
}

// The amax of each row (TE's row_scaled_nvfp4: torch.max(|x|, dim=1)): each
// block folds its |x| bits into its row's with atomicMax (NaN bits lie above
// Inf, so a NaN wins), then canon_rows writes a NaN as 0x7FC00000.
template <int DT, int BC>
__global__ void __launch_bounds__(256) row_amax_kernel(QArgs a) {
  const int64_t nb = (a.cols + BC - 1) / BC;
  for (ItemWalk w(a.rows * nb, nb); w.more(); w.next()) {
    const int64_t c0 = w.j * BC;
    const int n = (int)min((int64_t)BC, a.cols - c0);
    float v[BC];
    load_n<DT, BC>(a.src, w.r * a.cols + c0, n, a.vec_in && n == BC, v);
    const uint32_t m = mxb_abs_max_bits(v, n);
    if (m) atomicMax(reinterpret_cast<unsigned *>(a.amax) + w.r, m);
  }
}
__global__ void canon_rows(float *amax, int64_t rows) {
  for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x)
    if (amax[r] != amax[r]) amax[r] = __uint_as_float(MXB_F32_QNAN);
}

}  // namespace

mxb_status_t quantize_compat(struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                             int dtype, const QArgs &a, cudaStream_t st, const char **impl) {
  const int T = 256;
  return MXB_DTYPE_SWITCH(dtype, DT, [&] {
    return MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
      constexpr int SCALE = mxb_fmt_scale_type(F), ELEM = mxb_fmt_elem(F), BC = mxb_fmt_block_cols(F);
      if constexpr (SCALE == MXB_SCALE_UE4M3 || SCALE == MXB_SCALE_E8M0) {
        constexpr bool NV = SCALE == MXB_SCALE_UE4M3;
        const unsigned g = grid_for(ctx, a.rows * ((a.cols + BC - 1) / BC), T);
        if (NV && cfg->amax_source == MXB_AMAX_COMPUTE && cfg->nvfp4_row_amax) {  // one a row
          MXB_TRY(cuda_status(cudaMemsetAsync(a.amax, 0, (size_t)a.rows * sizeof(float), st), "cudaMemsetAsync(amax)"));
          row_amax_kernel<DT, BC><<<g, T, 0, st>>>(a);
          canon_rows<<<grid_for(ctx, a.rows, T), T, 0, st>>>(a.amax, a.rows);
          MXB_TRY(launch_status("compat row amax"));
        } else if (NV && cfg->amax_source == MXB_AMAX_COMPUTE) {  // torch.max(|x|): NaN if any (mxb_cuda_amax's rule)
          MXB_TRY(mxb_cuda_amax(ctx, (mxb_dtype_t)dtype, a.src, a.rows * a.cols, a.amax, st));
        }
        compat_kernel<DT, ELEM, BC, NV><<<g, T, 0, st>>>(a, cfg->compat);
        *impl = "cuda-compat-quantize";
        return launch_status(*impl);
      } else {  // the API refuses other formats under a profile
        return mxb_fail(MXB_ERR_INTERNAL, "%s has no compatibility profile on CUDA", d->name);
      }
    });
  });
}

}  // namespace mxb
