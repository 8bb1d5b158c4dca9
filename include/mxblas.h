/*
 * mxblas: block-scaled low-precision numerics (NVFP4, OCP MX, MX9/MX6/MX4,
 * FP8 with fp32 scales, BF16) with a CPU reference and a CUDA fast path.
 *
 * Pure C99 public API. Every function returns mxb_status_t; on failure
 * mxb_last_error_detail() says exactly what was wrong, and nothing the caller
 * passed has been modified. The library never aborts and never prints.
 *
 * Conventions:
 *   - Logical tensors are dense row-major matrices [rows, cols]; blocks run
 *     along cols (K for GEMM operands).
 *   - Pointers in tensors and buffers live in the memory of the context's
 *     backend: host memory for MXB_BACKEND_CPU, device memory for
 *     MXB_BACKEND_CUDA. Scalars passed by value (alpha, beta, configs) are
 *     host values. Each buffer and plane is aligned to the size of its
 *     elements (2 bytes for bf16/fp16 values and MoR codes, 4 for fp32
 *     values, scales and amax), else MXB_ERR_BAD_ALIGNMENT.
 *   - The last argument of every operation is the stream (a cudaStream_t
 *     cast to void*; ignored by the CPU backend; NULL = default stream).
 *     CUDA operations are stream-ordered, allocate nothing and never
 *     synchronise; scratch memory comes from a caller-owned workspace whose
 *     size is given by the matching *_workspace_size query.
 *   - Every workspace pointer is aligned to MXB_WORKSPACE_ALIGNMENT (16)
 *     bytes, on every backend; malloc, aligned_alloc and cudaMalloc pointers
 *     are. A misaligned workspace is refused with MXB_ERR_BAD_ALIGNMENT.
 *     NULL is accepted where the query answered 0 bytes.
 *   - Threads: every function may be called from any thread, and one
 *     context may be shared by threads calling concurrently (it does not
 *     change between mxb_context_create and mxb_context_destroy; destroy it
 *     once no call on it is running). Concurrent calls may share inputs
 *     (tensors, configs, descriptors passed as const) but not anything one
 *     of them writes: output buffers and planes, workspaces, and a
 *     descriptor passed as an output (mxb_quantize sets dst->flags).
 *     mxb_last_error_detail and mxb_context_last_impl answer for the calling
 *     thread. On CUDA, a calling thread's current device (cudaSetDevice)
 *     is the context's device, and the stream passed orders the work.
 *   - Option structs start with struct_size; fill them with the matching
 *     *_init() function so that fields added later get their defaults.
 *   - Output structs (mxb_format_info_t, mxb_tensor_sizes_t,
 *     mxb_error_stats_t) start with struct_size too: set it to the sizeof of
 *     the struct before the call. The library writes only the bytes that
 *     struct_size covers (a caller built against an older header gets the
 *     fields it knows) and never changes struct_size; a struct_size smaller
 *     than the struct's first release is refused with
 *     MXB_ERR_INVALID_ARGUMENT and nothing written.
 */
#ifndef MXBLAS_H
#define MXBLAS_H

#include <stddef.h>
#include <stdint.h>

#if defined(MXB_BUILDING_LIBRARY) && defined(__GNUC__)
#define MXB_API __attribute__((visibility("default")))
#else
#define MXB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */
#define MXB_VERSION_MAJOR 0
#define MXB_VERSION_MINOR 2
#define MXB_VERSION_PATCH 0
#define MXB_VERSION_NUMBER \
  (MXB_VERSION_MAJOR * 10000 + MXB_VERSION_MINOR * 100 + MXB_VERSION_PATCH)

MXB_API const char *mxb_version_string(void);   /* "0.1.0" */
MXB_API unsigned mxb_version_number(void);      /* MXB_VERSION_NUMBER */
/* One line: CUDA built in or not, toolkit version, architectures. */
MXB_API const char *mxb_build_info(void);

/* ------------------------------------------------------------------------ */
/* Status                                                                   */
/* ------------------------------------------------------------------------ */
typedef enum mxb_status_t {
  MXB_SUCCESS = 0,
  MXB_ERR_INVALID_ARGUMENT = 1,   /* null pointer, bad enum, bad option */
  MXB_ERR_BAD_SHAPE = 2,          /* sizes wrong, mismatched or overflowing */
  MXB_ERR_BAD_ALIGNMENT = 3,      /* pointer or leading dimension misaligned */
  MXB_ERR_UNSUPPORTED = 4,        /* format/option/pair combination not supported */
  MXB_ERR_ARCH_UNSUPPORTED = 5,   /* the GPU's architecture lacks a needed feature */
  MXB_ERR_NOT_BUILT_WITH_CUDA = 6,
  MXB_ERR_NO_DEVICE = 7,          /* no CUDA device, or the device index is out of range */
  MXB_ERR_WORKSPACE_TOO_SMALL = 8,
  MXB_ERR_CUDA = 9,               /* a CUDA runtime/library call failed */
  MXB_ERR_ALLOC = 10,             /* host allocation failed (context or plan creation only) */
  MXB_ERR_INTERNAL = 11
} mxb_status_t;

/* The alignment, in bytes, of every workspace pointer (see Conventions). */
#define MXB_WORKSPACE_ALIGNMENT 16

MXB_API const char *mxb_status_string(mxb_status_t s);
/* Thread-local detail of the last failure on this thread ("" if none). */
MXB_API const char *mxb_last_error_detail(void);

/* ------------------------------------------------------------------------ */
/* Plain (unquantized) element types for inputs and outputs                 */
/* ------------------------------------------------------------------------ */
typedef enum mxb_dtype_t {
  MXB_DTYPE_FP32 = 0,
  MXB_DTYPE_BF16 = 1,   /* stored as uint16_t bit patterns */
  MXB_DTYPE_FP16 = 2    /* IEEE binary16, stored as uint16_t bit patterns */
} mxb_dtype_t;

MXB_API size_t mxb_dtype_size(mxb_dtype_t t); /* 4, 2, 2; 0 if unknown */

/* ------------------------------------------------------------------------ */
/* Formats: one table in the library describes each (mxb_format_info)       */
/* ------------------------------------------------------------------------ */
typedef enum mxb_format_t {
  MXB_FORMAT_FP32 = 0,            /* plain fp32 (GEMM operand only) */
  MXB_FORMAT_BF16 = 1,            /* plain bf16, RNE from fp32 */
  MXB_FORMAT_NVFP4 = 2,           /* E2M1, 1x16 blocks, UE4M3 scales, fp32 tensor amax */
  MXB_FORMAT_MXFP8_E4M3 = 3,      /* 1x32 blocks, E8M0 scales */
  MXB_FORMAT_MXFP8_E5M2 = 4,
  MXB_FORMAT_MXFP6_E3M2 = 5,
  MXB_FORMAT_MXFP6_E2M3 = 6,
  MXB_FORMAT_MXFP4 = 7,           /* E2M1 */
  MXB_FORMAT_MXINT8 = 8,
  MXB_FORMAT_MX9 = 9,             /* shared microexponents, 16-element blocks */
  MXB_FORMAT_MX6 = 10,
  MXB_FORMAT_MX4 = 11,
  MXB_FORMAT_FP8_E4M3_TENSOR = 12, /* FP8, one fp32 scale_inv per tensor */
  MXB_FORMAT_FP8_E5M2_TENSOR = 13,
  MXB_FORMAT_FP8_E4M3_1x128 = 14,  /* one fp32 scale_inv per 1x128 block */
  MXB_FORMAT_FP8_E5M2_1x128 = 15,
  MXB_FORMAT_FP8_E4M3_128x128 = 16,/* one fp32 scale_inv per 128x128 block */
  MXB_FORMAT_FP8_E5M2_128x128 = 17,
  MXB_FORMAT_MOR_TENSOR = 18,      /* MoR: FP8 E4M3 or BF16 per partition */
  MXB_FORMAT_MOR_128x128 = 19,
  MXB_FORMAT_MOR_1x128 = 20,
  /* Added in 0.2: FP8 blocks whose scale_inv is a power of two stored as
   * one UE8M0 byte (2^(b - 127)), DeepGEMM's UE8M0 recipe: the codes and
   * scale values of the fp32-scale format above quantized with
   * fp8_pow2_scale, one byte per block instead of four. */
  MXB_FORMAT_FP8_E4M3_1x128_UE8M0 = 21,
  MXB_FORMAT_FP8_E5M2_1x128_UE8M0 = 22,
  MXB_FORMAT_FP8_E4M3_128x128_UE8M0 = 23,
  MXB_FORMAT_FP8_E5M2_128x128_UE8M0 = 24,
  MXB_FORMAT_COUNT = 25
} mxb_format_t;

/* Element encodings (what one code means before scaling). */
typedef enum mxb_elem_t {
  MXB_ELEM_E2M1 = 0,
  MXB_ELEM_E2M3 = 1,
  MXB_ELEM_E3M2 = 2,
  MXB_ELEM_E4M3 = 3,
  MXB_ELEM_E5M2 = 4,
  MXB_ELEM_INT8 = 5,   /* MXINT8: q * 2^-6 */
  MXB_ELEM_SM8 = 6,    /* MX9 sign-magnitude, 7 magnitude bits */
  MXB_ELEM_SM5 = 7,    /* MX6, 4 magnitude bits */
  MXB_ELEM_SM3 = 8,    /* MX4, 2 magnitude bits */
  MXB_ELEM_BF16 = 9,
  MXB_ELEM_FP32 = 10,
  MXB_ELEM_MIXED = 11, /* MoR: E4M3 or BF16, per partition */
  MXB_ELEM_COUNT = 12
} mxb_elem_t;

typedef enum mxb_scale_type_t {
  MXB_SCALE_NONE = 0,
  MXB_SCALE_UE4M3 = 1, /* NVFP4 block scale byte */
  MXB_SCALE_E8M0 = 2,  /* MX block scale byte */
  MXB_SCALE_BDR = 3,   /* MX9/6/4: 8-bit shared exponent + 1-bit microexponents */
  MXB_SCALE_FP32 = 4,  /* FP8/MoR: fp32 scale_inv per block (dequant multiplier) */
  MXB_SCALE_UE8M0 = 5  /* FP8 blocks: a power-of-two scale_inv as one E8M0 byte (added in 0.2) */
} mxb_scale_type_t;

typedef struct mxb_format_info_t {
  size_t struct_size;
  mxb_format_t format;
  const char *name;       /* "nvfp4", "mxfp8_e4m3", "mx6", "fp8_e4m3_1x128", ... */
  mxb_elem_t elem;
  int elem_bits;          /* bits per stored element code (4, 6, 8, 16, 32; BDR 1+m) */
  int block_rows;         /* scale block shape; 0 means "the whole dimension" */
  int block_cols;
  mxb_scale_type_t scale_type;
  int has_tensor_amax;    /* NVFP4: an fp32 tensor amax travels with the tensor */
  double elem_max;        /* largest finite element value (before scaling) */
  /* Added in 0.2; written when struct_size covers them. */
  const char *elem_name;  /* "e2m1", "e4m3", "int8", "sm8", "bf16", "e4m3|bf16" (MoR), ... */
  const char *scale_name; /* "none", "ue4m3", "e8m0", "bdr", "fp32", "ue8m0" */
} mxb_format_info_t;

/* info->struct_size = sizeof(mxb_format_info_t) before the call. */
MXB_API mxb_status_t mxb_format_info(mxb_format_t format, mxb_format_info_t *info);
/* Look a format up by its name (as in mxb_format_info_t.name). */
MXB_API mxb_status_t mxb_format_from_name(const char *name, mxb_format_t *format);

/* ------------------------------------------------------------------------ */
/* Quantized tensor descriptor                                              */
/* ------------------------------------------------------------------------ */
typedef enum mxb_scale_layout_t {
  MXB_SCALE_LAYOUT_LINEAR = 0,   /* row-major [rows/block_rows, cols/block_cols] */
  MXB_SCALE_LAYOUT_SWIZZLED = 1  /* 128x4 tiles as cuBLASLt/TE consume (NVFP4, MX) */
} mxb_scale_layout_t;

/* Flags describing how a tensor was quantized (set by quantize). */
#define MXB_TENSOR_SCALED_2D 0x1u  /* NVFP4 16x16 tile scales (transposable) */
#define MXB_TENSOR_RHT 0x2u        /* values are RHT(x) along cols */
/* NVFP4 quantized with nvfp4_e4m3_max = 256 (added in 0.2): the tensor
 * amax maps to the block scale 256, not 448, so decoders and the GEMM take
 * the tensor scale as amax / (6 * 256) (NUMERICS 4.1). A caller assembling
 * such a tensor by hand sets this flag. */
#define MXB_TENSOR_E4M3_MAX_256 0x4u
/* NVFP4 with one tensor amax per row (added in 0.2; nvfp4_row_amax): amax
 * points to rows values, row r's at amax[r], and every reader takes row r's
 * tensor scale from it. mxb_tensor_sizes' amax_bytes counts one value. */
#define MXB_TENSOR_ROW_AMAX 0x8u

/*
 * Storage of a quantized tensor (all planes dense, see docs/FORMATS.md):
 *   data   element codes, row by row; each row starts on a byte boundary and
 *          holds mxb_tensor_sizes().row_bytes bytes (FP4: 2 per byte, low
 *          nibble first; FP6: 4 codes in 3 bytes, little-endian bit stream;
 *          BDR: per block a (1+m)-bit sign-magnitude bit stream; MoR: 2 bytes
 *          per element, see mxb_mor_quantize).
 *   scales block scales: UE4M3 / E8M0 bytes, BDR shared-exponent bytes, or
 *          fp32 scale_inv values (FP8 formats, per-tensor FP8 holds one).
 *   aux    BDR: one byte of microexponent bits per block (bit j = pair j);
 *          MoR: one byte per partition, 1 = FP8, 0 = BF16. NULL otherwise.
 *   amax   NVFP4: pointer to the fp32 tensor amax A. NULL otherwise.
 */
typedef struct mxb_tensor_t {
  size_t struct_size;
  mxb_format_t format;
  int64_t rows;
  int64_t cols;
  void *data;
  void *scales;
  void *aux;
  float *amax;
  mxb_scale_layout_t scale_layout;
  uint32_t flags;
} mxb_tensor_t;

typedef struct mxb_tensor_sizes_t {
  size_t struct_size;
  size_t data_bytes;
  size_t scale_bytes;
  size_t aux_bytes;
  size_t amax_bytes;    /* 4 for NVFP4, else 0 */
  size_t row_bytes;     /* bytes of one row of data */
  int64_t scale_rows;   /* logical scale grid (before any swizzle padding) */
  int64_t scale_cols;
} mxb_tensor_sizes_t;

/* Bytes each plane needs. Swizzled scales are padded to [roundup(rows,128),
 * roundup(scale_cols,4)]. sizes->struct_size = sizeof(mxb_tensor_sizes_t)
 * before the call. */
MXB_API mxb_status_t mxb_tensor_sizes(mxb_format_t format, int64_t rows, int64_t cols,
                                      mxb_scale_layout_t layout, mxb_tensor_sizes_t *sizes);
/* Fill a descriptor with format and shape; pointers NULL, flags 0. */
MXB_API mxb_status_t mxb_tensor_init(mxb_tensor_t *t, mxb_format_t format, int64_t rows,
                                     int64_t cols, mxb_scale_layout_t layout);

/* ------------------------------------------------------------------------ */
/* Quantization options                                                     */
/* ------------------------------------------------------------------------ */
typedef enum mxb_rounding_t {
  MXB_ROUND_RNE = 0,   /* round to nearest even, saturating (NUMERICS 2.1) */
  MXB_ROUND_SR = 1     /* stochastic rounding, Philox bits (NUMERICS 2.2, 3) */
} mxb_rounding_t;

typedef enum mxb_scale_rule_t {
  MXB_SCALE_RULE_RCEIL = 0,  /* default: hardware / TE / cuBLAS */
  MXB_SCALE_RULE_FLOOR = 1,  /* OCP MX v1.0 */
  MXB_SCALE_RULE_CEIL = 2,
  MXB_SCALE_RULE_EVEN = 3
} mxb_scale_rule_t;

typedef enum mxb_nonfinite_t {
  MXB_NONFINITE_NAN_BLOCK = 0,  /* default: NaN/Inf makes the whole block NaN */
  MXB_NONFINITE_SATURATE = 1    /* TE-compatible: Inf saturates, NaN -> max/NaN code */
} mxb_nonfinite_t;

typedef enum mxb_amax_source_t {
  MXB_AMAX_COMPUTE = 0,     /* NVFP4: compute the tensor amax and store it in dst->amax (FP8 per
                               tensor: its computed amax goes to cfg->amax_out when set) */
  MXB_AMAX_FROM_TENSOR = 1  /* read the caller's amax from *dst->amax: NVFP4 (sharded tensors), FP8 per
                               tensor (delayed scaling: dst->amax points at it though the format
                               keeps no amax plane; the scale comes from it, larger values saturate) */
} mxb_amax_source_t;

typedef enum mxb_sign_source_t {
  MXB_SIGNS_MASK = 0,   /* sign bit i of sign_mask set <=> s_i = -1 */
  MXB_SIGNS_SEED = 1    /* signs drawn from Philox(sign_seed), see docs/TRANSFORMS.md */
} mxb_sign_source_t;

/* Random Hadamard transform H = diag(s) * H_d / sqrt(d) on aligned chunks of d. */
typedef struct mxb_rht_t {
  int enabled;                 /* as a quantize option: 0 = off */
  int size;                    /* d: 16 (default), 32, 64, 128, 256 */
  mxb_sign_source_t sign_source;
  uint32_t sign_mask[8];       /* 256 bits, bit i = word[i/32] bit i%32; default 0xD7E8 */
  uint64_t sign_seed;
  int bf16_output;             /* round the transformed values to bf16 (TE-compatible) */
} mxb_rht_t;

MXB_API void mxb_rht_init(mxb_rht_t *rht); /* d=16, mask 0xD7E8, fp32 output, disabled */

/* NVFP4 "Four Over Six" block scales (docs/NUMERICS.md 4.1.1): each 1x16
 * block (or 16x16 tile) takes the scale that maps its amax to 6 (the
 * standard) or to 4, whichever reconstructs it with the smaller error by
 * this metric. */
typedef enum mxb_four_over_six_t {
  MXB_FOUR_OVER_SIX_OFF = 0,
  MXB_FOUR_OVER_SIX_MSE = 1, /* the sum of squared errors */
  MXB_FOUR_OVER_SIX_MAE = 2  /* the sum of absolute errors */
} mxb_four_over_six_t;

/* Compatibility profiles (added in 0.2; docs/COMPAT.md): whose bytes
 * mxb_quantize writes. The default follows docs/NUMERICS.md; each other
 * profile reproduces that library's quantizer byte for byte (codes, scales
 * and tensor amax), quirks included, for the formats it has, on the CPU and
 * the GPU alike. A profile fixes the scale rule and the handling of NaN,
 * Inf and -0, so it takes the defaults of every other option (RNE, no RHT,
 * no 2D, no Four Over Six, 448, one amax), else MXB_ERR_UNSUPPORTED; the TE
 * profile's NVFP4 also takes block_2d, nvfp4_row_amax and four_over_six
 * with nvfp4_e4m3_max, as TE's reference does. */
typedef enum mxb_compat_t {
  MXB_COMPAT_MXBLAS = 0,       /* this library's contract */
  MXB_COMPAT_TE = 1,           /* Transformer Engine's reference quantizers: NVFP4, MXFP8 */
  MXB_COMPAT_TORCHAO = 2,      /* torchao's to_mx / NVFP4 (scale mode FLOOR, its default) */
  MXB_COMPAT_MICROXCALING = 3, /* microxcaling's MX (round "nearest", scale_bits 8) */
  MXB_COMPAT_OCP_FLOOR = 4,    /* OCP MX v1.0: FLOOR scales, RNE elements, saturating */
  MXB_COMPAT_TORCHAO_RCEIL = 5 /* torchao's to_mx with ScaleCalculationMode.RCEIL */
} mxb_compat_t;
#define MXB_COMPAT_COUNT 6

typedef struct mxb_quant_config_t {
  size_t struct_size;
  mxb_rounding_t rounding;
  uint64_t seed;               /* SR: Philox key */
  uint64_t offset;             /* SR: Philox counter high half (stream/call counter) */
  mxb_scale_rule_t scale_rule; /* MX formats */
  mxb_nonfinite_t nonfinite;
  mxb_amax_source_t amax_source; /* NVFP4 */
  int block_2d;                /* tile scales (weights): NVFP4 16x16; MX 32x32 */
  int fp8_pow2_scale;          /* FP8 fp32 scales: round scale down to a power of two */
  mxb_rht_t rht;               /* transform along cols before quantizing */
  mxb_four_over_six_t four_over_six; /* NVFP4: 4/6 block scales (default off) */
  /* SR state in the backend's memory (since 0.2; default NULL: seed and
   * offset above). When set, the call reads {seed, offset} = rng_state[0..1]
   * when it runs (on the GPU: in stream order, so a captured CUDA graph reads
   * them at each replay) instead of the two fields above, and adds 1 to
   * rng_state[1] once it has drawn its bits. Same bits as seed/offset set to
   * those values. 8-byte aligned; SR only; quantize_pair quantizes the
   * row-wise copy first, so two configs sharing one state give the rowwise
   * copy offset o and the colwise copy o + 1. */
  uint64_t *rng_state;
  /* NVFP4 (added in 0.2; a config whose struct_size ends before it gets 0):
   * the block scale the tensor amax maps to, 448 (0 means 448: the default)
   * or 256 (Transformer Engine's Four Over Six variant: a block scaled to 4
   * then never saturates its E4M3 scale). 256 sets MXB_TENSOR_E4M3_MAX_256
   * in dst->flags (docs/NUMERICS.md 4.1). */
  int nvfp4_e4m3_max;
  /* NVFP4 (added in 0.2): 1 = one tensor amax per row (row-scaled
   * activations, as Transformer Engine's row_scaled_nvfp4): dst->amax points
   * to dst->rows values, and each row is quantized as a tensor of its own
   * with its amax (computed, or read with MXB_AMAX_FROM_TENSOR); SR bits
   * still follow the element's place in the whole tensor. Sets
   * MXB_TENSOR_ROW_AMAX. Not with 2D tiles, nor in the grouped quantize;
   * docs/NUMERICS.md 4.1. 0 (default): one amax for the tensor. */
  int nvfp4_row_amax;
  /* Whose bytes to write (added in 0.2): see mxb_compat_t above. */
  mxb_compat_t compat;
  /* Where dst sits in a larger tensor (added in 0.2; a config whose
   * struct_size ends before them gets 0): dst is the [rows, cols] block at
   * row global_row0 and column global_col0 of a tensor with global_cols
   * columns (0 means dst->cols: dst holds whole rows, and global_col0 must
   * be 0), as a tensor- or sequence-parallel shard is. Stochastic rounding
   * draws element (r, c)'s random byte at its index in that tensor,
   * (global_row0 + r) * global_cols + global_col0 + c, so shards quantized
   * with the global amax (MXB_AMAX_FROM_TENSOR) hold the unsharded tensor's
   * bytes (docs/DISTRIBUTED.md). Only SR reads them; the grouped quantize
   * takes none. All 0 (default): dst is the whole tensor. */
  int64_t global_row0;
  int64_t global_col0;
  int64_t global_cols;
  /* FP8 per tensor (added in 0.2; a config whose struct_size ends before it
   * gets NULL): where the call writes the amax of the values it quantizes
   * (the finite ones: the amax a computed scale comes from), one float in
   * the backend's memory, 4-byte aligned, written in stream order. Written
   * whether the scale comes from it or from a supplied amax: delayed scaling
   * records the current amax in its history while quantizing with an
   * earlier one, and a tensor-parallel shard's amax is reduced over the
   * ranks (docs/DISTRIBUTED.md). NULL (default): not written. Other formats
   * refuse it (NVFP4's amax is dst->amax). */
  float *amax_out;
} mxb_quant_config_t;

MXB_API void mxb_quant_config_init(mxb_quant_config_t *cfg);

/* ------------------------------------------------------------------------ */
/* Context: selects the backend                                             */
/* ------------------------------------------------------------------------ */
typedef enum mxb_backend_t {
  MXB_BACKEND_CPU = 0,
  MXB_BACKEND_CUDA = 1
} mxb_backend_t;

typedef struct mxb_context mxb_context_t;

/* device: CUDA device ordinal (ignored for CPU). Creating a CUDA context
 * queries the device once; it allocates no device memory. */
MXB_API mxb_status_t mxb_context_create(mxb_backend_t backend, int device, mxb_context_t **ctx);
MXB_API mxb_status_t mxb_context_destroy(mxb_context_t *ctx);
MXB_API mxb_status_t mxb_context_backend(const mxb_context_t *ctx, mxb_backend_t *backend);
/* Which implementation served the calling thread's last successful call,
 * when that call was on ctx: "cpu-reference", "cuda-...". "none" when the
 * thread's last successful call was on another context, or when it made
 * none; other threads' calls never show. Never NULL. */
MXB_API const char *mxb_context_last_impl(const mxb_context_t *ctx);
/* Number of usable CUDA devices (0 without CUDA or without a device). */
MXB_API mxb_status_t mxb_cuda_device_count(int *count);

/* ------------------------------------------------------------------------ */
/* Quantize / dequantize / amax                                             */
/* ------------------------------------------------------------------------ */
/* Quantize src [dst->rows, dst->cols] (dense row-major, src_type) into dst,
 * whose format, shape, layout and plane pointers the caller has set.
 * Sets dst->flags. The workspace (the query's bytes, MXB_WORKSPACE_ALIGNMENT
 * aligned) may be NULL when the query says 0. */
MXB_API mxb_status_t mxb_quantize_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                 mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                                 size_t *bytes);
MXB_API mxb_status_t mxb_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                  mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                  void *workspace, size_t workspace_bytes, void *stream);

/* Row-wise and column-wise quantized copies of one tensor in one call (a
 * training step's need): rowwise is [rows, cols] quantized along cols,
 * colwise is [cols, rows] quantized from the transpose. Each copy has its
 * own config (independent SR offsets; RHT typically on colwise only). The
 * workspace holds the query's bytes and is MXB_WORKSPACE_ALIGNMENT aligned. */
MXB_API mxb_status_t mxb_quantize_pair_workspace_size(mxb_context_t *ctx,
                                                      const mxb_quant_config_t *row_cfg,
                                                      const mxb_quant_config_t *col_cfg,
                                                      mxb_dtype_t src_type,
                                                      const mxb_tensor_t *rowwise,
                                                      const mxb_tensor_t *colwise, size_t *bytes);
MXB_API mxb_status_t mxb_quantize_pair(mxb_context_t *ctx, const mxb_quant_config_t *row_cfg,
                                       const mxb_quant_config_t *col_cfg, mxb_dtype_t src_type,
                                       const void *src, mxb_tensor_t *rowwise,
                                       mxb_tensor_t *colwise, void *workspace,
                                       size_t workspace_bytes, void *stream);

/* Decode src into dst [rows, cols] of dst_type (tensor scales applied;
 * RHT is not undone: see mxb_rht with inverse=1). */
MXB_API mxb_status_t mxb_dequantize(mxb_context_t *ctx, const mxb_tensor_t *src,
                                    mxb_dtype_t dst_type, void *dst, void *stream);

/* Capability queries (added in 0.2): *supported = 1 when ctx's backend
 * offers the operation for format (with cfg's options; cfg NULL: the
 * defaults of mxb_quant_config_init), else 0. Shapes aside, a supported
 * call fails only for its arguments, never with MXB_ERR_UNSUPPORTED. An
 * invalid ctx, cfg or format is MXB_ERR_INVALID_ARGUMENT. */
MXB_API mxb_status_t mxb_quantize_supported(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                            mxb_format_t format, int *supported);
MXB_API mxb_status_t mxb_dequantize_supported(mxb_context_t *ctx, mxb_format_t format, int *supported);

/* max |x| over n values, NaN if any is NaN (written to *amax in backend memory). */
MXB_API mxb_status_t mxb_amax(mxb_context_t *ctx, mxb_dtype_t type, const void *x, int64_t n,
                              float *amax, void *stream);

/* Tensor parallelism (added in 0.2; docs/DISTRIBUTED.md). A shard quantized
 * with its place (cfg->global_*) and the whole tensor's amax holds the
 * unsharded tensor's bytes. The amaxes of the ranks combine by the
 * library's rule: make each canonical (-0 as +0, every NaN and negative
 * value as 0x7FC00000), then take the maximum of the bit patterns as
 * unsigned (or signed) 32-bit integers, which any communicator's MAX does
 * (MPI_UINT32_T with MPI_MAX, NCCL's ncclUint32 with ncclMax):
 * NaN-propagating, one NaN pattern whichever rank held it. */
/* Make count amaxes (backend memory, in place, in stream order) canonical. */
MXB_API mxb_status_t mxb_amax_canonicalize(mxb_context_t *ctx, float *amax, int64_t count, void *stream);
/* The cross-rank reduction a caller provides: replace the count canonical
 * amaxes at amax (backend memory) with their maximum over the ranks, on
 * stream (a collective: every rank calls it). */
typedef mxb_status_t (*mxb_amax_reduce_fn)(void *arg, float *amax, int64_t count, void *stream);
/* Quantize this rank's shard dst with the whole tensor's amax, the
 * reduction done by reduce(arg, ...): NVFP4 (1D, 2D, RHT, Four Over Six;
 * an amax per row reduced for a column shard) and FP8 per tensor with the
 * amax computed take the shard's amax exactly as mxb_quantize computes it
 * (a quantize pass of its own, whose codes the second pass overwrites) into
 * dst->amax (FP8 per tensor: dst->amax must point to one float for it),
 * canonical, reduced, then quantize with it supplied; other formats, and a
 * caller's amax (MXB_AMAX_FROM_TENSOR), are mxb_quantize itself, reduce not
 * called. The NCCL component's mxb_quantize_sharded is this with NCCL's
 * all-reduce (include/mxblas_nccl.h). Both backends. */
MXB_API mxb_status_t mxb_quantize_shard_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                       mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                                       size_t *bytes);
MXB_API mxb_status_t mxb_quantize_shard(mxb_context_t *ctx, mxb_amax_reduce_fn reduce, void *arg,
                                        const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                                        mxb_tensor_t *dst, void *workspace, size_t workspace_bytes, void *stream);

/* Exact transpose of an NVFP4 or MX tensor quantized with block_2d (flags
 * has MXB_TENSOR_SCALED_2D): out [cols, rows], in in's format, gets the
 * transposed codes and scales; byte-identical to quantizing the transposed
 * input with 2D scaling (RNE). */
MXB_API mxb_status_t mxb_transpose_quantized(mxb_context_t *ctx, const mxb_tensor_t *in,
                                             mxb_tensor_t *out, void *stream);

/* ------------------------------------------------------------------------ */
/* Random Hadamard transform (standalone)                                   */
/* ------------------------------------------------------------------------ */
typedef enum mxb_axis_t {
  MXB_AXIS_COLS = 0,  /* transform each row's aligned chunks of d along cols */
  MXB_AXIS_ROWS = 1   /* transform along rows (each column) */
} mxb_axis_t;

MXB_API mxb_status_t mxb_rht(mxb_context_t *ctx, const mxb_rht_t *rht, int inverse,
                             mxb_axis_t axis, int64_t rows, int64_t cols, mxb_dtype_t in_type,
                             const void *in, mxb_dtype_t out_type, void *out, void *stream);

/* ------------------------------------------------------------------------ */
/* MoR: per-partition FP8 E4M3 or BF16 (NUMERICS 6)                          */
/* ------------------------------------------------------------------------ */
typedef enum mxb_mor_metric_t {
  MXB_MOR_METRIC_REL_L2 = 0,    /* ||Q-P||2 / ||P||2 (default) */
  MXB_MOR_METRIC_MAX_REL = 1,   /* max |Q-P| / |P| over non-zero P */
  MXB_MOR_METRIC_MEAN_REL = 2   /* mean |Q-P| / |P| over non-zero P */
} mxb_mor_metric_t;

typedef struct mxb_mor_config_t {
  size_t struct_size;
  mxb_mor_metric_t metric;
  double tau;              /* err <= tau -> FP8 */
  int pow2_scale;          /* FP8 scale rounded down to a power of two */
} mxb_mor_config_t;

MXB_API void mxb_mor_config_init(mxb_mor_config_t *cfg);

/* dst->format is one of MXB_FORMAT_MOR_*. Writes data (2 bytes per element:
 * FP8 partitions hold the E4M3 code in the low byte and 0 in the high byte,
 * BF16 partitions hold the bf16 bits), scales (fp32 scale_inv per partition,
 * 1.0 for BF16 partitions) and aux (decision per partition, 1 = FP8). The
 * workspace holds the query's bytes and is MXB_WORKSPACE_ALIGNMENT aligned. */
MXB_API mxb_status_t mxb_mor_workspace_size(mxb_context_t *ctx, const mxb_mor_config_t *cfg,
                                            mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                            size_t *bytes);
MXB_API mxb_status_t mxb_mor_quantize(mxb_context_t *ctx, const mxb_mor_config_t *cfg,
                                      mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                      void *workspace, size_t workspace_bytes, void *stream);
/* Fraction of elements in FP8 partitions, from a MoR tensor in host memory. */
MXB_API mxb_status_t mxb_mor_fp8_fraction(const mxb_tensor_t *mor_host, double *fraction);

/* ------------------------------------------------------------------------ */
/* Error statistics (NUMERICS 8), binary64, host memory                      */
/* ------------------------------------------------------------------------ */
typedef struct mxb_error_stats_t {
  size_t struct_size;
  int64_t count;
  double mse, rmse, nmse, sqnr_db;
  double max_abs_err, max_rel_err;   /* max_rel over |x| > 1e-30 */
  double cosine;
  double frac_flushed;               /* non-zero inputs that decode to 0 */
  double frac_saturated;             /* inputs whose decoded magnitude hit the block's max */
  int64_t nonfinite;                 /* non-finite decoded values or inputs */
  /* per-block scale statistics (decoded scale multipliers) */
  int64_t blocks;
  double scale_min, scale_max, scale_p01, scale_p50, scale_p99;
  uint64_t scale_code_hist[256];     /* UE4M3 / E8M0 / BDR exponent byte histogram */
  /* NVFP4: of the blocks (tiles with 2D scales) of finite input whose scales
   * at 6 and at 4 differ, the fraction stored at 4 (Four Over Six; 0 without
   * it); NaN for other formats */
  double frac_scaled_to_4;
} mxb_error_stats_t;

/* Statistics of q (a quantized tensor in host memory) against x, the fp32
 * input it was quantized from (before any RHT: with MXB_TENSOR_RHT the
 * statistics are taken in the transformed domain unless the caller passes
 * RHT(x)). stats->struct_size = sizeof(mxb_error_stats_t) before the call. */
MXB_API mxb_status_t mxb_error_stats(const float *x, const mxb_tensor_t *q,
                                     mxb_error_stats_t *stats);

/* ------------------------------------------------------------------------ */
/* GEMM: C = act(alpha * A * B + beta * C + bias) (NUMERICS 7)             */
/* ------------------------------------------------------------------------ */
typedef enum mxb_gemm_mode_t {
  MXB_GEMM_EXACT = 0, /* reference semantics, bit-identical on every backend */
  MXB_GEMM_FAST = 1   /* fastest path within the bound documented in docs/GEMM.md */
} mxb_gemm_mode_t;

/* Activation of the GEMM epilogue, applied after the bias (docs/GEMM.md). */
typedef enum mxb_activation_t {
  MXB_ACT_NONE = 0,
  MXB_ACT_RELU = 1,       /* max(x, 0) */
  MXB_ACT_RELU2 = 2,      /* squared ReLU: max(x, 0)^2 */
  MXB_ACT_GELU_ERF = 3,   /* x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2 */
  MXB_ACT_GELU_TANH = 4,  /* x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 */
  MXB_ACT_SILU = 5,       /* x / (1 + exp(-x)) */
  /* Gated (added in 0.2; the grouped GEMM: the M layouts). N is even: columns
   * [0, N/2) of the pre-activation p = alpha * A * B^T + bias are the gate
   * g, columns [N/2, N) the value v, and C is [M, N/2] (ldc >= N/2; 0 means
   * N/2) with C[m, j] = act(g[m, j]) * v[m, j], rounded to c_type last.
   * C is not read: beta must be 0. */
  MXB_ACT_SWIGLU = 6,     /* silu(g) * v */
  MXB_ACT_GEGLU_ERF = 7,  /* gelu_erf(g) * v */
  MXB_ACT_GEGLU_TANH = 8  /* gelu_tanh(g) * v */
} mxb_activation_t;

typedef struct mxb_gemm_desc_t {
  size_t struct_size;
  mxb_gemm_mode_t mode;
  mxb_dtype_t c_type;  /* MXB_DTYPE_FP32, MXB_DTYPE_BF16 or MXB_DTYPE_FP16 (0.2) */
  float alpha;
  float beta;          /* 0: C is not read (NaN in C ignored) */
  int64_t ldc;         /* elements between rows of C; 0 means N */
  /* Added in 0.2 (a desc whose struct_size ends before them gets the
   * defaults: no bias, no activation). Per element of C:
   * C = act(alpha * A * B^T + beta * C + bias[n]), rounded to c_type last. */
  const void *bias;    /* [N] in the backend's memory, aligned to its element; NULL: none */
  mxb_dtype_t bias_type;         /* fp32 (default), bf16 or fp16 */
  mxb_activation_t activation;   /* MXB_ACT_NONE (default) */
  /* Added in 0.2 (the grouped GEMM: the M layouts, rows where C has them;
   * not with a quantized C so far; a
   * desc whose struct_size ends before them gets NULL and 0). The pre-activation for the backward pass:
   * p = alpha * A * B^T + beta * C + bias, [M, N] in c_type (all N columns
   * with a gated activation), ld_aux elements between rows (0 means N), in
   * the backend's memory; NULL: not written. */
  void *aux;
  int64_t ld_aux;
  /* Added in 0.2 (a desc whose struct_size ends before them gets NULL):
   * device-resident scalars, cuBLASLt's pointer mode. Where set, alpha (or
   * beta) is the fp32 value at *alpha_ptr (*beta_ptr) in the backend's
   * memory, read when the GEMM runs, in stream order, so a captured CUDA
   * graph replays with the value current at each replay; the by-value field
   * is then ignored. Either, both or neither may be set. C is not read where
   * the beta read is 0, as for a beta of 0 by value. beta_ptr must be NULL
   * where beta must be 0 (a gated activation, a quantized C). A plan keeps
   * the pointers and reads them at every execution. */
  const float *alpha_ptr;
  const float *beta_ptr;
} mxb_gemm_desc_t;

/* exact, fp32, alpha 1, beta 0, no bias, no activation */
MXB_API void mxb_gemm_desc_init(mxb_gemm_desc_t *desc);

/* A is [M, K], B is stored [N, K] (both quantized along K); C is [M, N]
 * row-major with leading dimension ldc. The workspace holds the query's
 * bytes and is MXB_WORKSPACE_ALIGNMENT aligned (NULL when the query says 0). */
MXB_API mxb_status_t mxb_gemm_workspace_size(mxb_context_t *ctx, const mxb_gemm_desc_t *desc,
                                             const mxb_tensor_t *A, const mxb_tensor_t *B,
                                             size_t *bytes);
MXB_API mxb_status_t mxb_gemm(mxb_context_t *ctx, const mxb_gemm_desc_t *desc,
                              const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                              void *workspace, size_t workspace_bytes, void *stream);

/* Plans (added in 0.2): the GEMM described once, its path chosen once.
 * mxb_gemm chooses a path on every call, from the formats, shapes, layouts,
 * mode, device and the alignment its pointers happen to have. A plan makes
 * that choice at creation, from tensor descriptors whose pointers may be
 * NULL and from the alignment the caller declares, so the path's name and
 * workspace are known before any data exists, and every execution takes
 * that path. A plan is immutable: one plan may be executed from several
 * threads at once (with their own C and workspace). Destroy it before its
 * context. */
typedef struct mxb_gemm_plan mxb_gemm_plan_t;

typedef struct mxb_gemm_plan_prefs_t {
  size_t struct_size;
  /* Bytes every data and scales pointer of A and B will be aligned to at
   * execution (a power of two; default MXB_WORKSPACE_ALIGNMENT, which
   * malloc and cudaMalloc pointers meet). Paths that need more are not
   * chosen; execution refuses pointers that break the promise. */
  size_t alignment;
  /* Most workspace bytes the caller will provide (0, the default: no
   * limit). Where the preferred path needs more, the next path that applies
   * and fits is chosen (on CUDA the exact generic path needs none; on the
   * CPU fewer threads need less); MXB_ERR_WORKSPACE_TOO_SMALL if none fits. */
  size_t max_workspace;
} mxb_gemm_plan_prefs_t;

MXB_API void mxb_gemm_plan_prefs_init(mxb_gemm_plan_prefs_t *prefs); /* alignment 16, no workspace limit */

/* Plan C = alpha * A * B + beta * C on ctx with desc's mode, c_type, alpha,
 * beta and ldc, for A and B of these formats, shapes, layouts and Hadamard
 * flags (their pointers are not read and may be NULL). prefs NULL: the
 * defaults of mxb_gemm_plan_prefs_init. *plan is set on success only. */
MXB_API mxb_status_t mxb_gemm_plan_create(mxb_context_t *ctx, const mxb_gemm_desc_t *desc,
                                          const mxb_tensor_t *A, const mxb_tensor_t *B,
                                          const mxb_gemm_plan_prefs_t *prefs, mxb_gemm_plan_t **plan);
/* The name of the path the plan takes, as mxb_context_last_impl names it
 * after an execution ("cpu-reference", "cuda-..."); "none" for NULL. Never
 * NULL. */
MXB_API const char *mxb_gemm_plan_path(const mxb_gemm_plan_t *plan);
/* Workspace bytes every execution of the plan needs (0: none). */
MXB_API mxb_status_t mxb_gemm_plan_workspace_size(const mxb_gemm_plan_t *plan, size_t *bytes);
/* Run the plan on A and B, whose formats, shapes, layouts and Hadamard flags
 * equal the plan's (else MXB_ERR_BAD_SHAPE for shapes, MXB_ERR_INVALID_ARGUMENT
 * otherwise) and whose data and scales pointers meet the declared alignment
 * (else MXB_ERR_BAD_ALIGNMENT); the workspace as for mxb_gemm, with the
 * plan's size. Nothing is written on failure. Same bits as mxb_gemm on the
 * same path. */
MXB_API mxb_status_t mxb_gemm_plan_execute(const mxb_gemm_plan_t *plan, const mxb_tensor_t *A,
                                           const mxb_tensor_t *B, void *C, void *workspace,
                                           size_t workspace_bytes, void *stream);
MXB_API mxb_status_t mxb_gemm_plan_destroy(mxb_gemm_plan_t *plan); /* NULL: nothing to do */

/* GEMM with a quantized C (added in 0.2; both backends): C [M, N] is
 * quantized along N with cfg from the fp32 values mxb_gemm writes with this descriptor and c_type MXB_DTYPE_FP32
 * (alpha * A * B^T, then bias and activation), exactly as mxb_quantize(cfg)
 * quantizes them: the bytes equal those of the two calls. desc->beta must be
 * 0 (C is not read), desc->ldc 0 or N, desc->c_type is not used; cfg NULL
 * means mxb_quant_config_init's defaults. NVFP4's tensor amax is computed
 * from C, or read from C->amax with MXB_AMAX_FROM_TENSOR (a previous step's,
 * so that C need not be seen twice). The workspace holds the fp32 C. */
MXB_API mxb_status_t mxb_gemm_quantized_workspace_size(mxb_context_t *ctx, const mxb_gemm_desc_t *desc,
                                                       const mxb_quant_config_t *cfg, const mxb_tensor_t *A,
                                                       const mxb_tensor_t *B, const mxb_tensor_t *C, size_t *bytes);
MXB_API mxb_status_t mxb_gemm_quantized(mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const mxb_quant_config_t *cfg,
                                        const mxb_tensor_t *A, const mxb_tensor_t *B, mxb_tensor_t *C,
                                        void *workspace, size_t workspace_bytes, void *stream);

/* Whether (A format, B format) is a supported pair for the given mode. */
MXB_API mxb_status_t mxb_gemm_pair_supported(mxb_format_t a, mxb_format_t b,
                                             mxb_gemm_mode_t mode, int *supported);

/* ------------------------------------------------------------------------ */
/* Grouped GEMM for Mixture-of-Experts (docs/GEMM.md "Grouped GEMM")         */
/* ------------------------------------------------------------------------ */
typedef enum mxb_grouped_layout_t {
  /* A is [M, K] with the rows of group e at [offsets[e], offsets[e + 1]);
   * index holds E + 1 offsets. Rows outside every group are not written. */
  MXB_GROUPED_M_CONTIGUOUS = 0,
  /* A is [E * max_m, K]: group e owns rows [e * max_m, e * max_m + counts[e]);
   * index holds E counts. Rows at or beyond a count are not read into any
   * result and not written. */
  MXB_GROUPED_M_MASKED = 1,
  /* Added in 0.2 (CUDA: an exact kernel in both modes). The groups split K (the tokens of
   * a weight gradient, dW_e = dY_e^T X_e: A is dY^T [M, T] and B is X^T
   * [N, T], both quantized along T): group e owns the columns
   * [offsets[e], offsets[e + 1]) of A and B; index holds E + 1 offsets. B is
   * not stacked (B.rows is N) and C stacks the E results [E * M, N], group
   * e's at rows e * M (ldc apart throughout). An offset inside a scale block
   * is allowed: that block's elements outside the group are left out of the
   * sum. Tensor scales are A's and B's own; a bias holds E x N values. */
  MXB_GROUPED_K_CONTIGUOUS = 2
} mxb_grouped_layout_t;

#define MXB_MAX_GROUPS 65536

typedef struct mxb_grouped_gemm_desc_t {
  size_t struct_size;
  const mxb_gemm_desc_t *gemm; /* mode, c_type, alpha, beta, ldc: as for mxb_gemm
                                  (NULL: mxb_gemm_desc_init's defaults) */
  mxb_grouped_layout_t layout;
  int64_t groups;              /* E, 1 .. MXB_MAX_GROUPS */
  int index_bits;              /* 32 or 64: the integer type of index */
  const void *index;           /* offsets or counts (see the layout), in the backend's
                                  memory: device memory on CUDA, read there (no sync) */
  int32_t *status;             /* optional, same memory: set to 0, or to 1 + the first
                                  group whose offsets or count are out of range (that
                                  group's rows are not written; the others are) */
  /* Added in 0.2 (a desc whose struct_size ends before it gets 0). Non-zero:
   * A's tensor scale is per group, as mxb_grouped_quantize writes it: NVFP4's
   * A.amax points to E values, group e's rows use the e-th. M layouts, A in
   * NVFP4; both backends. */
  int a_group_scales;
} mxb_grouped_gemm_desc_t;

MXB_API void mxb_grouped_gemm_desc_init(mxb_grouped_gemm_desc_t *desc); /* contiguous, int32, 1 group, default GEMM */

/* C[r, :] = alpha * A[r, :] * B_e^T + beta * C[r, :] for every row r of group e,
 * where B is the experts stacked [E * N, K] (expert e is rows [e * N, (e + 1) * N))
 * and C has A's rows and ldc (0: N). A bias in the GEMM descriptor holds
 * E x N values (expert e's at bias + e * N). Tensor scales are per expert: NVFP4's
 * B.amax points to E amax values, an FP8 per-tensor B's scale plane to E
 * scales; A's are for all of A. A gated activation (M layouts, CPU backend
 * so far) pairs each expert's N columns: C is [M, N/2]. Exact mode gives,
 * group by group, the bits of mxb_gemm on that group's rows; fast mode the
 * dense fast-mode bound. */
MXB_API mxb_status_t mxb_grouped_gemm_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                     const mxb_tensor_t *A, const mxb_tensor_t *B,
                                                     size_t *bytes);
MXB_API mxb_status_t mxb_grouped_gemm(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                      const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                                      void *workspace, size_t workspace_bytes, void *stream);

/* Grouped quantize (added in 0.2; CUDA: NVFP4 RNE with or without the d = 16
 * RHT and MX RNE, rows of whole blocks, 16-byte aligned; docs/SUPPORT.md): the groups of
 * rows that `groups` describes (an M layout: E + 1 offsets or E counts, as
 * for mxb_grouped_gemm; its gemm and a_group_scales fields are not used),
 * each quantized into the same rows of dst [rows, K] exactly as
 * mxb_quantize(cfg) quantizes those rows alone. So NVFP4 takes each group's
 * own tensor amax: dst->amax points to E values (computed, 0 for an empty
 * group; or read, with MXB_AMAX_FROM_TENSOR), for mxb_grouped_gemm with
 * a_group_scales. Formats with block scales only give, on the grouped rows,
 * the bytes of quantizing the whole tensor. Rows outside every group, and the
 * rows of bad groups (reported through groups->status), are not written.
 * Linear scale layout and 1-D blocks only; refused: FP8 per tensor, 2D and
 * 128x128 blocks, MoR, stochastic rounding (its bits follow the element's
 * place in the tensor; not defined per group yet). */
MXB_API mxb_status_t mxb_grouped_quantize_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups,
                                                         const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                                         const mxb_tensor_t *dst, size_t *bytes);
MXB_API mxb_status_t mxb_grouped_quantize(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups,
                                          const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                                          mxb_tensor_t *dst, void *workspace, size_t workspace_bytes, void *stream);

/* Grouped GEMM with a quantized C (added in 0.2; both backends, the M
 * layouts): C [M, N] (N/2 with a gated activation) quantized with cfg, group
 * by group, from the fp32 values mxb_grouped_gemm writes with this
 * descriptor, exactly as mxb_grouped_quantize(desc, cfg) quantizes them: the
 * bytes of the two calls, and so the A of the next grouped GEMM (an MoE
 * layer's up and gate projection with SwiGLU, quantized for its down
 * projection: NVFP4 takes an amax per group, C->amax holding E values, for
 * that GEMM's a_group_scales). desc->gemm's beta must be 0 (C is not read)
 * and its ldc 0 or C's columns; c_type is not used; aux is refused. Rows no
 * group owns are not written. The workspace holds the fp32 C. */
MXB_API mxb_status_t mxb_grouped_gemm_quantized_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                               const mxb_quant_config_t *cfg, const mxb_tensor_t *A,
                                                               const mxb_tensor_t *B, const mxb_tensor_t *C,
                                                               size_t *bytes);
MXB_API mxb_status_t mxb_grouped_gemm_quantized(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                const mxb_quant_config_t *cfg, const mxb_tensor_t *A,
                                                const mxb_tensor_t *B, mxb_tensor_t *C, void *workspace,
                                                size_t workspace_bytes, void *stream);

#ifdef __cplusplus
}
#endif
#endif /* MXBLAS_H */
