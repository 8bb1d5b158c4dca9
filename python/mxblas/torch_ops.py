"""mxblas as PyTorch operators: torch.compile and CUDA graphs see each call as one opaque op.

Registered in the ``mxblas`` namespace with torch.library.custom_op (nothing passed in
is modified), each op runs the package's own function on its tensors (CPU tensors on
the CPU backend, CUDA tensors on the CUDA backend on the current stream), and each has
a fake implementation that sizes its results with the library's size queries, without
running anything, for tracing:

    torch.ops.mxblas.quantize(x, format, *, rounding, seed, offset, scale_rule, nonfinite,
        block_2d, pow2_scale, rht, rht_mask, amax, tau, metric, four_over_six, e4m3_max,
        row_amax, compat, place) -> (data, scales, aux, amax)
    torch.ops.mxblas.dequantize(data, scales, aux, amax, format, rows, cols, flags, dtype)
    torch.ops.mxblas.gemm(a planes, a_format, a_rows, a_cols, a_flags, b planes, ...,
        mode, alpha, beta, c, out_dtype, alpha_t, beta_t) -> C
    torch.ops.mxblas.grouped_gemm(a planes ..., b planes ..., index, layout, mode, alpha,
        beta, c, out_dtype, alpha_t, beta_t) -> C
    (alpha_t, beta_t: optional one-element float32 tensors read when the GEMM runs, in
    place of alpha and beta)
    torch.ops.mxblas.quantize_pair(x, format, *, row_/col_ rounding, seed, offset, rht,
        rht_mask, block_2d, scale_rule, nonfinite, pow2_scale, amax, row_/col_four_over_six)
        -> 4 + 4 planes
    torch.ops.mxblas.transpose_quantized(planes, format, rows, cols, flags) -> 4 planes
    torch.ops.mxblas.rht(x, inverse, axis, mask, dtype) -> Tensor

A plane the format does not have comes back from quantize as an empty uint8 tensor; the
other ops take None or an empty tensor there. The functions of this module wrap the ops
so that planes travel in a QuantizedTensor:

    import torch, mxblas.torch_ops as mxt
    q = mxt.quantize(torch.randn(128, 256), "nvfp4")      # QuantizedTensor, torch planes
    y = mxt.dequantize(q)                                  # float32 [128, 256]

Importing this module needs PyTorch; ``import mxblas`` does not. See docs/PYTHON.md.
"""
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

import mxblas as _mx

__all__ = ["quantize", "quantize_pair", "transpose_quantized", "rht", "dequantize", "gemm",
           "grouped_gemm"]


def _plane(p):
    """An op's plane argument as the package takes it: None or empty means absent."""
    return None if p is None or p.numel() == 0 else p


def _tensor(fmt, rows, cols, flags, data, scales, aux, amax):
    """A QuantizedTensor over an op's planes; the package's call checks every one of them
    (a plane missing where the format has one is refused, not made up as zeros)."""
    return _mx.QuantizedTensor._of_planes(fmt, rows, cols, flags, data, _plane(scales), _plane(aux),
                                          _plane(amax), _mx._default_rht_mask())


def _empty(like):
    return like.new_empty((0,), dtype=torch.uint8)


def _torch_dtype(npdt, bf16):
    return torch.bfloat16 if bf16 else getattr(torch, npdt.name)


# ---------------------------------------------------------------- quantize
@torch.library.custom_op("mxblas::quantize", mutates_args=())
def _quantize_op(x: Tensor, format: str, rounding: Optional[str] = None, seed: Optional[int] = None,
                 offset: Optional[int] = None, scale_rule: Optional[str] = None,
                 nonfinite: Optional[str] = None, block_2d: Optional[bool] = None,
                 pow2_scale: Optional[bool] = None, rht: Optional[bool] = None,
                 rht_mask: Optional[int] = None, amax: Optional[float] = None,
                 tau: Optional[float] = None, metric: Optional[str] = None,
                 four_over_six: Optional[str] = None, e4m3_max: Optional[int] = None,
                 row_amax: Optional[bool] = None, compat: Optional[str] = None,
                 place: Optional[List[int]] = None
                 ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    if row_amax and amax is not None:
        raise ValueError("the op takes one amax: with row_amax=True the amaxes are computed (use mxblas.quantize "
                         "to supply one a row)")
    opts = dict(rounding=rounding, seed=seed, offset=offset, scale_rule=scale_rule, nonfinite=nonfinite,
                block_2d=block_2d, pow2_scale=pow2_scale, rht=rht, rht_mask=rht_mask, amax=amax,
                four_over_six=four_over_six, e4m3_max=e4m3_max, row_amax=row_amax, compat=compat,
                place=None if place is None else tuple(place))
    # options left out are the package's defaults (a MoR format refuses the others outright)
    q = _mx.quantize(x, format, tau=tau, metric=metric, **{k: v for k, v in opts.items() if v is not None})
    return tuple(_empty(q.data) if p is None else p for p in (q.data, q.scales, q.aux, q.amax))


def _planes_like(like, fmt, rows, cols, row_amax=False):
    """Empty planes of fmt [rows, cols] on like's device, sized by mxb_tensor_sizes (an NVFP4
    amax plane of rows values with row_amax)."""
    info = _mx._info(fmt)
    sz = _mx._sizes(info["format"], rows, cols)
    scale_dt = torch.float32 if _mx._format_scale_dtype(info) == np.float32 else torch.uint8
    data = like.new_empty((rows, sz.row_bytes), dtype=torch.uint8)
    scales = like.new_empty((sz.scale_bytes // scale_dt.itemsize,), dtype=scale_dt) if sz.scale_bytes else _empty(like)
    aux = like.new_empty((sz.aux_bytes,), dtype=torch.uint8) if sz.aux_bytes else _empty(like)
    namax = sz.amax_bytes // 4 * (rows if row_amax else 1)
    amax = like.new_empty((namax,), dtype=torch.float32) if sz.amax_bytes else _empty(like)
    return data, scales, aux, amax


@_quantize_op.register_fake
def _(x, format, *options, **kw_options):  # only row_amax changes the planes' sizes
    # the planes' sizes are not linear in the shape (blocks round up): specialized on it
    rows, cols = _mx._rows_cols(tuple(x.shape))
    row_amax = kw_options.get("row_amax", options[14] if len(options) > 14 else None)
    return _planes_like(x, format, int(rows), int(cols), bool(row_amax))


def _planes_of(q):
    return tuple(_empty(q.data) if p is None else p for p in (q.data, q.scales, q.aux, q.amax))


# ---------------------------------------------------------------- quantize_pair, transpose, rht
@torch.library.custom_op("mxblas::quantize_pair", mutates_args=())
def _quantize_pair_op(x: Tensor, format: str, row_rounding: Optional[str] = None, row_seed: Optional[int] = None,
                      row_offset: Optional[int] = None, row_rht: Optional[bool] = None,
                      col_rounding: Optional[str] = None, col_seed: Optional[int] = None,
                      col_offset: Optional[int] = None, col_rht: Optional[bool] = None,
                      rht_mask: Optional[int] = None, block_2d: Optional[bool] = None,
                      scale_rule: Optional[str] = None, nonfinite: Optional[str] = None,
                      pow2_scale: Optional[bool] = None, amax: Optional[float] = None,
                      row_four_over_six: Optional[str] = None, col_four_over_six: Optional[str] = None
                      ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    shared = dict(block_2d=block_2d, scale_rule=scale_rule, nonfinite=nonfinite, pow2_scale=pow2_scale, amax=amax)

    def opts(rounding, seed, offset, rht, four_over_six):
        o = dict(shared, rounding=rounding, seed=seed, offset=offset, rht=rht, rht_mask=rht_mask if rht else None,
                 four_over_six=four_over_six)
        return {k: v for k, v in o.items() if v is not None}
    qr, qc = _mx.quantize_pair(x, format, opts(row_rounding, row_seed, row_offset, row_rht, row_four_over_six),
                               opts(col_rounding, col_seed, col_offset, col_rht, col_four_over_six))
    return _planes_of(qr) + _planes_of(qc)


@_quantize_pair_op.register_fake
def _(x, format, *options, **kw_options):
    rows, cols = _mx._rows_cols(tuple(x.shape))
    return _planes_like(x, format, int(rows), int(cols)) + _planes_like(x, format, int(cols), int(rows))


@torch.library.custom_op("mxblas::transpose_quantized", mutates_args=())
def _transpose_op(data: Tensor, scales: Optional[Tensor], aux: Optional[Tensor], amax: Optional[Tensor],
                  format: str, rows: int, cols: int, flags: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    return _planes_of(_mx.transpose_quantized(_tensor(format, rows, cols, flags, data, scales, aux, amax)))


@_transpose_op.register_fake
def _(data, scales, aux, amax, format, rows, cols, flags):
    return _planes_like(data, format, cols, rows)


@torch.library.custom_op("mxblas::rht", mutates_args=())
def _rht_op(x: Tensor, inverse: bool = False, axis: str = "cols", mask: Optional[int] = None,
            dtype: torch.dtype = torch.float32) -> Tensor:
    return _mx.rht(x, inverse, axis, mask, dtype)


@_rht_op.register_fake
def _(x, inverse=False, axis="cols", mask=None, dtype=torch.float32):
    _, npdt, bf16 = _mx._result_dtype("dtype", dtype, _mx._DTYPES, "torch")
    rows, cols = _mx._rows_cols(tuple(x.shape))
    return x.new_empty((int(rows), int(cols)), dtype=_torch_dtype(npdt, bf16))


# ---------------------------------------------------------------- dequantize
@torch.library.custom_op("mxblas::dequantize", mutates_args=())
def _dequantize_op(data: Tensor, scales: Optional[Tensor], aux: Optional[Tensor], amax: Optional[Tensor],
                   format: str, rows: int, cols: int, flags: int = 0,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    return _mx.dequantize(_tensor(format, rows, cols, flags, data, scales, aux, amax), dtype)


@_dequantize_op.register_fake
def _(data, scales, aux, amax, format, rows, cols, flags=0, dtype=torch.float32):
    _mx._info(format)
    _, npdt, bf16 = _mx._result_dtype("dtype", dtype, _mx._DTYPES, "torch")
    return data.new_empty((rows, cols), dtype=_torch_dtype(npdt, bf16))


# ---------------------------------------------------------------- gemm
# alpha and beta: a float, or (alpha_t, beta_t) a one-element float32 tensor on the
# operands' device read when the GEMM runs (pointer mode: a captured CUDA graph sees
# the value of each replay), which then replaces the float.
def _scalar(v, t):
    return v if t is None else t


def _scalar_args(alpha, beta):
    """(alpha, beta, alpha_t, beta_t) for the ops: a tensor goes to its *_t argument."""
    at, bt = (x if isinstance(x, Tensor) else None for x in (alpha, beta))
    return (1.0 if at is not None else alpha), (0.0 if bt is not None else beta), at, bt


@torch.library.custom_op("mxblas::gemm", mutates_args=())
def _gemm_op(a_data: Tensor, a_scales: Optional[Tensor], a_aux: Optional[Tensor], a_amax: Optional[Tensor],
             a_format: str, a_rows: int, a_cols: int, a_flags: int,
             b_data: Tensor, b_scales: Optional[Tensor], b_aux: Optional[Tensor], b_amax: Optional[Tensor],
             b_format: str, b_rows: int, b_cols: int, b_flags: int,
             mode: str = "exact", alpha: float = 1.0, beta: float = 0.0, c: Optional[Tensor] = None,
             out_dtype: torch.dtype = torch.float32, alpha_t: Optional[Tensor] = None,
             beta_t: Optional[Tensor] = None) -> Tensor:
    a = _tensor(a_format, a_rows, a_cols, a_flags, a_data, a_scales, a_aux, a_amax)
    b = _tensor(b_format, b_rows, b_cols, b_flags, b_data, b_scales, b_aux, b_amax)
    # the package writes C into c: a copy keeps the caller's c as it was (no mutated args)
    return _mx.gemm(a, b, mode, _scalar(alpha, alpha_t), _scalar(beta, beta_t), None if c is None else c.clone(),
                    out_dtype)


@_gemm_op.register_fake
def _(a_data, a_scales, a_aux, a_amax, a_format, a_rows, a_cols, a_flags,
      b_data, b_scales, b_aux, b_amax, b_format, b_rows, b_cols, b_flags,
      mode="exact", alpha=1.0, beta=0.0, c=None, out_dtype=torch.float32, alpha_t=None, beta_t=None):
    _mx._info(a_format), _mx._info(b_format)
    _, npdt, bf16 = _mx._result_dtype("out_dtype", out_dtype, _mx._GEMM_OUT_DTYPES, "torch")
    if c is not None:
        return torch.empty_like(c)
    return a_data.new_empty((a_rows, b_rows), dtype=_torch_dtype(npdt, bf16))


@torch.library.custom_op("mxblas::grouped_gemm", mutates_args=())
def _grouped_gemm_op(a_data: Tensor, a_scales: Optional[Tensor], a_aux: Optional[Tensor], a_amax: Optional[Tensor],
                     a_format: str, a_rows: int, a_cols: int, a_flags: int,
                     b_data: Tensor, b_scales: Optional[Tensor], b_aux: Optional[Tensor], b_amax: Optional[Tensor],
                     b_format: str, b_rows: int, b_cols: int, b_flags: int, index: Tensor,
                     layout: str = "contiguous", mode: str = "exact", alpha: float = 1.0, beta: float = 0.0,
                     c: Optional[Tensor] = None, out_dtype: torch.dtype = torch.float32,
                     alpha_t: Optional[Tensor] = None, beta_t: Optional[Tensor] = None) -> Tensor:
    a = _tensor(a_format, a_rows, a_cols, a_flags, a_data, a_scales, a_aux, a_amax)
    b = _tensor(b_format, b_rows, b_cols, b_flags, b_data, b_scales, b_aux, b_amax)
    return _mx.grouped_gemm(a, b, index, layout, mode, _scalar(alpha, alpha_t), _scalar(beta, beta_t),
                            None if c is None else c.clone(), out_dtype)


@_grouped_gemm_op.register_fake
def _(a_data, a_scales, a_aux, a_amax, a_format, a_rows, a_cols, a_flags,
      b_data, b_scales, b_aux, b_amax, b_format, b_rows, b_cols, b_flags, index,
      layout="contiguous", mode="exact", alpha=1.0, beta=0.0, c=None, out_dtype=torch.float32, alpha_t=None,
      beta_t=None):
    _mx._info(a_format), _mx._info(b_format)
    _, npdt, bf16 = _mx._result_dtype("out_dtype", out_dtype, _mx._GEMM_OUT_DTYPES, "torch")
    if c is not None:
        return torch.empty_like(c)
    groups = index.shape[0] - (0 if layout == "masked" else 1)
    shape = (groups * a_rows, b_rows) if layout == "k_split" else (a_rows, b_rows // groups)
    return a_data.new_empty(shape, dtype=_torch_dtype(npdt, bf16))


# ---------------------------------------------------------------- QuantizedTensor wrappers
# Library queries whose answers depend only on their arguments: torch.compile calls them
# while tracing and keeps the result, instead of tracing into ctypes.
@torch.compiler.assume_constant_result
def _format_name(fmt):
    return _mx._info(fmt)["name"]


@torch.compiler.assume_constant_result
def _default_rht_mask():
    return _mx._default_rht_mask()


def _check_torch(name, a, optional=False):
    if (a is None and optional) or isinstance(a, Tensor):
        return a
    raise TypeError(f"{name} must be a torch.Tensor, not {type(a).__name__} "
                    "(mxblas.quantize, dequantize and gemm take other arrays)")


def _planes(name, q):
    if not isinstance(q, _mx.QuantizedTensor):
        raise TypeError(f"{name} must be a QuantizedTensor (from mxblas.torch_ops.quantize), "
                        f"not {type(q).__name__}")
    return (_check_torch(f"{name}.data", q.data),) + tuple(
        _check_torch(f"{name}.{p}", getattr(q, p), optional=True) for p in ("scales", "aux", "amax"))


_QUANTIZE_OPTIONS = frozenset(a.name for a in torch.ops.mxblas.quantize.default._schema.arguments[2:])


def quantize(x, format, **opts):
    """mxblas.quantize through the mxblas::quantize op: the same options, a QuantizedTensor
    of torch planes on x's device. x must be a torch.Tensor; seed and offset must fit a
    signed 64-bit integer (the op's int)."""
    _check_torch("x", x)
    unknown = set(opts) - _QUANTIZE_OPTIONS
    if unknown:
        raise TypeError(f"quantize got unknown options {', '.join(sorted(unknown))} "
                        f"(it takes {', '.join(sorted(_QUANTIZE_OPTIONS))})")
    name = _format_name(format)
    data, scales, aux, amax = torch.ops.mxblas.quantize(x, name, **opts)
    rows, cols = data.shape[0], x.shape[-1]
    # as mxb_quantize sets them (MoR formats take neither option and get 0)
    flags = ((_mx.TENSOR_SCALED_2D if opts.get("block_2d") else 0) | (_mx.TENSOR_RHT if opts.get("rht") else 0) |
             (_mx.TENSOR_E4M3_MAX_256 if opts.get("e4m3_max") == 256 else 0) |
             (_mx.TENSOR_ROW_AMAX if opts.get("row_amax") else 0))
    mask = opts.get("rht_mask")
    return _mx.QuantizedTensor._of_planes(name, rows, cols, flags, data, _plane(scales), _plane(aux),
                                          _plane(amax), _default_rht_mask() if mask is None else mask)


def dequantize(q, dtype=torch.float32):
    """mxblas.dequantize through the mxblas::dequantize op (q's planes torch tensors; dtype
    torch.float32, float16 or bfloat16)."""
    return torch.ops.mxblas.dequantize(*_planes("q", q), q.format, q.rows, q.cols, q.flags, dtype)


def gemm(a, b, mode="exact", alpha=1.0, beta=0.0, c=None, out_dtype=torch.float32):
    """mxblas.gemm through the mxblas::gemm op: C = alpha * A @ B^T + beta * c, a new
    tensor (c, if given, is read, not written); out_dtype torch.float32 or bfloat16. alpha
    and beta: floats, or one-element float32 tensors on the operands' device, read when
    the GEMM runs."""
    pa, pb = _planes("a", a), _planes("b", b)
    _check_torch("c", c, optional=True)
    alpha, beta, at, bt = _scalar_args(alpha, beta)
    return torch.ops.mxblas.gemm(*pa, a.format, a.rows, a.cols, a.flags, *pb, b.format, b.rows, b.cols, b.flags,
                                 mode, alpha, beta, c, out_dtype, at, bt)


def grouped_gemm(a, b, index, layout="contiguous", mode="exact", alpha=1.0, beta=0.0, c=None,
                 out_dtype=torch.float32):
    """mxblas.grouped_gemm through the mxblas::grouped_gemm op: a new tensor (c, if given,
    is read, not written; rows outside every group keep c's values, or zeros). alpha and
    beta as in gemm."""
    pa, pb = _planes("a", a), _planes("b", b)
    _check_torch("index", index)
    _check_torch("c", c, optional=True)
    alpha, beta, at, bt = _scalar_args(alpha, beta)
    return torch.ops.mxblas.grouped_gemm(*pa, a.format, a.rows, a.cols, a.flags, *pb, b.format, b.rows, b.cols,
                                         b.flags, index, layout, mode, alpha, beta, c, out_dtype, at, bt)


_PAIR_OPTIONS = frozenset(("rounding", "seed", "offset", "rht", "four_over_six"))
_PAIR_SHARED = frozenset(("rht_mask", "block_2d", "scale_rule", "nonfinite", "pow2_scale", "amax"))


def quantize_pair(x, format, rowwise=None, colwise=None):
    """mxblas.quantize_pair through the mxblas::quantize_pair op: (rowwise, colwise)
    QuantizedTensors of torch planes. Per copy: rounding, seed, offset, rht, four_over_six; the other
    options (rht_mask, block_2d, scale_rule, nonfinite, pow2_scale, amax) must be the same
    in both (the op takes them once)."""
    _check_torch("x", x)
    rowwise, colwise = dict(rowwise or {}), dict(colwise or {})
    for o in (rowwise, colwise):
        unknown = set(o) - _PAIR_OPTIONS - _PAIR_SHARED
        if unknown:
            raise TypeError(f"quantize_pair got unknown options {', '.join(sorted(unknown))}")
    shared = {}
    for k in _PAIR_SHARED:
        if k == "rht_mask":
            vals = {o[k] for o in (rowwise, colwise) if k in o}
        else:
            vals = {o.get(k) for o in (rowwise, colwise)}
        if len(vals) > 1:
            raise ValueError(f"quantize_pair: {k} differs between the copies (the op takes it once)")
        v = vals.pop() if vals else None
        if v is not None:
            shared[k] = v
    per = {f"{side}_{k}": o[k] for side, o in (("row", rowwise), ("col", colwise)) for k in _PAIR_OPTIONS if k in o}
    name = _format_name(format)
    planes = torch.ops.mxblas.quantize_pair(x, name, **per, **shared)
    rows, cols = _mx._rows_cols(tuple(x.shape))
    mask = shared.get("rht_mask")
    out = []
    for i, (r, c, o) in enumerate(((rows, cols, rowwise), (cols, rows, colwise))):
        flags = (_mx.TENSOR_SCALED_2D if shared.get("block_2d") else 0) | (_mx.TENSOR_RHT if o.get("rht") else 0)
        d, s, a, m = planes[4 * i:4 * i + 4]
        out.append(_mx.QuantizedTensor._of_planes(name, int(r), int(c), flags, d, _plane(s), _plane(a), _plane(m),
                                                  _default_rht_mask() if mask is None or not o.get("rht") else mask))
    return tuple(out)


def transpose_quantized(q):
    """mxblas.transpose_quantized through the mxblas::transpose_quantized op."""
    d, s, a, m = torch.ops.mxblas.transpose_quantized(*_planes("q", q), q.format, q.rows, q.cols, q.flags)
    return _mx.QuantizedTensor._of_planes(q.format, q.cols, q.rows, q.flags, d, _plane(s), _plane(a), _plane(m),
                                          q.rht_mask)


def rht(x, inverse=False, axis="cols", mask=None, dtype=torch.float32):
    """mxblas.rht through the mxblas::rht op (dtype torch.float32 or bfloat16)."""
    _check_torch("x", x)
    return torch.ops.mxblas.rht(x, inverse, axis, mask, dtype)
