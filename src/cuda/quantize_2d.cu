// NVFP4 with 16 x 16 block scaling (the recipe's weights) at bandwidth, for
// the common case: RNE, no RHT, no Four Over Six, rows of whole tiles along
// columns (cols a multiple of 16) and 16-byte aligned input. Every other 2D
// case takes the general kernel of quantize.cu.
//
// Why a kernel of its own: the general kernel gives each lane one row of a
// tile, so a warp's loads touch 32 rows at once, and it encodes through the
// shared block code. Here a warp takes a strip of 16 rows by 32 lanes of 16
// bytes (256 columns of 16-bit input, 128 of fp32): every load instruction
// is one 512-byte stretch of a row, a lane keeps its 16 rows in registers
// (16 loads in flight), and a tile is the T = 2 or 4 lanes that hold its
// columns, its amax one or two shuffles. A tile whose values are all finite
// (and whose decode scale is a normal number) is encoded by the specialised
// E2M1 encoder without its NaN test, exactly as the row-wise kernel encodes
// a finite 1 x 16 block (nvfp4_finite_scale): the scale and multiplier come
// from the tile's amax, the codes are per element. Any other tile takes the
// shared block code on each lane's part of each row with the tile's amax
// bits and NaN-block flag, as the general kernel does. Both give the CPU
// reference's bytes.
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"

namespace mxb {
namespace {

// A lane's codes of one row: E elements, 4 bits each.
template <int E>
__device__ __forceinline__ void store_codes(uint8_t *p, uint32_t code) {
  if constexpr (E == 8) __stcs(reinterpret_cast<unsigned int *>(p), code);
  else *reinterpret_cast<uint16_t *>(p) = (uint16_t)code;
}

struct Strips {
  uint32_t per_row, total;  // strips along a tile row, in the tensor
  int word_scales;          // scales as 4-byte words of four tiles (aligned, whole groups of four tiles)
};

template <int DT>
__global__ void __launch_bounds__(256, 2) nvfp4_2d_kernel(QArgs a, Strips g) {
  constexpr int E = in_t<DT>::per16;  // elements of each row a lane holds: 8 (16-bit input) or 4 (fp32)
  constexpr int T = 16 / E;           // lanes a tile
  constexpr int W = 32 * E;           // columns a strip
  constexpr int GL = 4 * T;           // lanes of four tiles (one scale word)
  const mxb_nvfp4_ts ts = mxb_nvfp4_tensor_scales(*a.amax, a.flags);  // four_six 0: not on this path
  const int lane = threadIdx.x & 31;
  const unsigned tile_lanes = ((1u << T) - 1u) << (lane & ~(T - 1));
  const uint32_t nwarps = gridDim.x * blockDim.x / 32;
  const uint4 *src = static_cast<const uint4 *>(a.src);
  for (uint32_t sw = (blockIdx.x * blockDim.x + threadIdx.x) / 32; sw < g.total; sw += nwarps) {
    const uint32_t tr = sw / g.per_row;
    const int64_t r0 = (int64_t)tr * 16, c = (int64_t)(sw - tr * g.per_row) * W + lane * E;
    const int nr = (int)min((int64_t)16, a.rows - r0);
    const bool live = c < a.cols;  // a tile past the row's end: its T lanes idle together
    uint4 q[16];
#pragma unroll
    for (int r = 0; r < 16; r++)
      q[r] = live && r < nr ? __ldcs(src + ((size_t)(r0 + r) * a.cols + c) / E) : make_uint4(0, 0, 0, 0);
    // The tile's amax, NaN where a value is NaN, Inf where one is Inf: fp32
    // by a NaN-keeping max, 16-bit inputs by an integer max of their |x|
    // bits, two at a time (the order of non-negative floats; NaN above Inf).
    float am = 0.0f;
    if constexpr (DT == MXB_DTYPE_FP32) {
#pragma unroll
      for (int r = 0; r < 16; r++) {
        am = fmax_nan(am, fabsf(__uint_as_float(q[r].x)));
        am = fmax_nan(am, fabsf(__uint_as_float(q[r].y)));
        am = fmax_nan(am, fabsf(__uint_as_float(q[r].z)));
        am = fmax_nan(am, fabsf(__uint_as_float(q[r].w)));
      }
    } else {
      uint32_t m = 0;
#pragma unroll
      for (int r = 0; r < 16; r++) {
        m = __vmaxu2(m, q[r].x & 0x7FFF7FFFu);
        m = __vmaxu2(m, q[r].y & 0x7FFF7FFFu);
        m = __vmaxu2(m, q[r].z & 0x7FFF7FFFu);
        m = __vmaxu2(m, q[r].w & 0x7FFF7FFFu);
      }
      am = cvt_in<DT>(max(m & 0xFFFFu, m >> 16));
    }
#pragma unroll
    for (int o = 1; o < T; o <<= 1) am = fmax_nan(am, __shfl_xor_sync(0xFFFFFFFFu, am, o));
    // The tile's scale and multiplier (fast), or the shared block code.
    uint8_t s = 0;
    float enc = 0.0f;
    const bool fast = am < __uint_as_float(MXB_F32_INF) && nvfp4_finite_scale(am, ts, s, enc);
    uint8_t *dst = a.data + (size_t)r0 * a.row_bytes + c / 2;
    if (fast) {
#pragma unroll
      for (int r = 0; r < 16; r++) {
        float v[E];
        unpack16<DT>(q[r], v);
        uint32_t code = 0;  // element k at bits 4k
#pragma unroll
        for (int k = 0; k < E; k++) code |= mxb_e2m1_encode_rne_nonnan(v[k] * enc) << (4 * k);
        if (live && r < nr) store_codes<E>(dst + r * a.row_bytes, code);
      }
    } else {
      // The shared block code on this lane's part of each row, with the
      // tile's amax bits and NaN-block flag, as the general kernel runs it on
      // whole rows (a tile-uniform branch). Rare, so its loops stay rolled
      // and read the rows again: unrolled over the 16 rows it made the
      // kernel's code several times larger than the instruction cache.
      uint32_t ab = 0;
      int bad = 0;
#pragma unroll 1
      for (int r = 0; r < 16; r++) {
        float v[E];
        unpack16<DT>(live && r < nr ? src[((size_t)(r0 + r) * a.cols + c) / E] : make_uint4(0, 0, 0, 0), v);
        ab = max(ab, mxb_block_amax_bits(v, E, policy_mode(a.policy), &bad));
      }
#pragma unroll
      for (int o = 1; o < T; o <<= 1) {
        ab = max(ab, __shfl_xor_sync(tile_lanes, ab, o));
        bad |= __shfl_xor_sync(tile_lanes, bad, o);
      }
      const bool nan_block = bad && a.policy == MXB_NONFINITE_NAN_BLOCK;
#pragma unroll 1
      for (int r = 0; r < 16; r++) {
        float v[E];
        unpack16<DT>(live && r < nr ? src[((size_t)(r0 + r) * a.cols + c) / E] : make_uint4(0, 0, 0, 0), v);
        uint8_t cc[E];
        s = mxb_nvfp4_quantize_block(v, E, ab, nan_block, &ts, nullptr, cc);
        uint32_t code = 0;
#pragma unroll
        for (int k = 0; k < E; k++) code |= (uint32_t)cc[k] << (4 * k);
        if (live && r < nr) store_codes<E>(dst + r * a.row_bytes, code);
      }
    }
    // Scales: the tile's byte in each of its rows. Word scales: the four
    // tiles of a lane group as one word, the strip's (row, group) words
    // spread over the lanes (16 rows x 32 / GL groups: one or two a lane).
    const int64_t j = c / 16;  // this lane's tile column
    if (g.word_scales) {
      uint32_t wd = 0;
#pragma unroll
      for (int i = 0; i < 4; i++) wd |= ((uint32_t)__shfl_sync(0xFFFFFFFFu, (int)s, (lane & ~(GL - 1)) + i * T) & 0xFFu) << (8 * i);
#pragma unroll
      for (int i = 0; i < 32 / GL / 2; i++) {
        const int grp = lane / 16 + 2 * i, r = lane % 16;
        const uint32_t w = __shfl_sync(0xFFFFFFFFu, wd, grp * GL);
        const int64_t jw = (int64_t)(sw - tr * g.per_row) * (W / 16) + grp * 4;
        if (r < nr && jw < a.scale_cols)
          *reinterpret_cast<uint32_t *>(a.scales + mxb_scale_index(r0 + r, jw, a.scale_cols, a.swizzled)) = w;
      }
    } else if (live && lane % T == 0) {
#pragma unroll
      for (int r = 0; r < 16; r++)
        if (r < nr) a.scales[mxb_scale_index(r0 + r, j, a.scale_cols, a.swizzled)] = s;
    }
  }
}

}  // namespace

bool nvfp4_2d_apply(const mxb_quant_config_t *cfg, const QArgs &a) {
  return cfg->block_2d && !a.sr && !a.rht && !a.four_six && a.cols % 16 == 0 &&
         a.rows > 0 && a.vec_in && a.row_bytes == a.cols / 2 && aligned16(a.data) &&
         a.scale_cols == a.cols / 16 && (a.rows + 15) / 16 * ((a.cols + 127) / 128) < ((int64_t)1 << 31);
}

mxb_status_t nvfp4_2d_launch(const struct mxb_context *ctx, int dtype, const QArgs &a, cudaStream_t st) {
  return MXB_DTYPE_SWITCH(dtype, DT, [&]() -> mxb_status_t {
    constexpr int W = 32 * in_t<DT>::per16;
    Strips g;
    g.per_row = (uint32_t)((a.cols + W - 1) / W);
    g.total = (uint32_t)((a.rows + 15) / 16) * g.per_row;
    g.word_scales = a.cols % 64 == 0 && (uintptr_t)a.scales % 4 == 0 && (a.swizzled || a.scale_cols % 4 == 0);
    nvfp4_2d_kernel<DT><<<grid_for(ctx, (int64_t)g.total * 32, 256), 256, 0, st>>>(a, g);
    return launch_status("nvfp4 2d quantize (rows)");
  });
}

}  // namespace mxb
