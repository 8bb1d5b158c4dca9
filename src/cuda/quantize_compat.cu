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
// (written by the amax pass, or the caller's) in stream order.
template <int DT, int ELEM, int BC, bool NV>
__global__ void __launch_bounds__(256) compat_kernel(QArgs a, mxb_compat_t c) {
  const int64_t nb = (a.cols + BC - 1) / BC;
  const mxb_fp p = mxb_elem_fp(ELEM);
  constexpr int BITS = mxb_elem_bits(ELEM);
  const float A = NV ? *a.amax : 0.0f;
  for (ItemWalk w(a.rows * nb, nb); w.more(); w.next()) {
    const int64_t r = w.r, j = w.j, c0 = j * BC;
    const int n = (int)min((int64_t)BC, a.cols - c0);
    float v[BC];
    load_n<DT, BC>(a.src, r * a.cols + c0, n, a.vec_in && n == BC, v);
    uint8_t codes[BC] = {};
    const uint8_t s = NV ? mxb_compat_nvfp4_block(c, v, n, A, codes) : mxb_compat_mx_block(c, v, n, &p, codes);
    pack_store<BC, BITS>(a.data + r * a.row_bytes + j * (BC * BITS / 8), codes, (n * BITS + 7) / 8,
                         a.vec_out && n == BC);
    a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = s;
  }
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
        if (NV && cfg->amax_source == MXB_AMAX_COMPUTE)  // torch.max(|x|): NaN if any (mxb_cuda_amax's rule)
          MXB_TRY(mxb_cuda_amax(ctx, (mxb_dtype_t)dtype, a.src, a.rows * a.cols, a.amax, st));
        const unsigned g = grid_for(ctx, a.rows * ((a.cols + BC - 1) / BC), T);
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
