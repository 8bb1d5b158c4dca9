"""mxblas: block-scaled low-precision numerics (NVFP4, OCP MX, MX9/6/4, FP8, MoR).

A single-file ctypes binding over libmxblas.so; numpy arrays in and out, CPU
backend, host memory. The library is found through $MXBLAS_LIB, then next to
this file (and ../build/), then the system's library path.

    import numpy as np, mxblas
    x = np.random.randn(128, 256).astype(np.float32)
    q = mxblas.quantize(x, "nvfp4")
    y = mxblas.dequantize(q)
    print(mxblas.error_stats(x, q)["sqnr_db"])

Failures raise MxblasError(status, detail) with the library's detail string.
See docs/PYTHON.md.
"""
import ctypes as C
import os

import numpy as np

__all__ = ["MxblasError", "QuantizedTensor", "quantize", "dequantize", "gemm", "error_stats",
           "format_info", "formats", "version", "build_info", "load_library"]

# ---------------------------------------------------------------- enums
FORMATS = ["fp32", "bf16", "nvfp4", "mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
           "mxfp4", "mxint8", "mx9", "mx6", "mx4", "fp8_e4m3", "fp8_e5m2", "fp8_e4m3_1x128",
           "fp8_e5m2_1x128", "fp8_e4m3_128x128", "fp8_e5m2_128x128", "mor", "mor_128x128",
           "mor_1x128"]
_MOR = {"mor", "mor_128x128", "mor_1x128"}
_RULES = {"rceil": 0, "floor": 1, "ceil": 2, "even": 3}
_ROUNDING = {"rne": 0, "sr": 1}
_NONFINITE = {"nan_block": 0, "nan-block": 0, "saturate": 1}
_MOR_METRICS = {"rel_l2": 0, "max_rel": 1, "mean_rel": 2}
_SCALE_TYPES = ["none", "ue4m3", "e8m0", "bdr", "fp32"]
DTYPE_FP32, DTYPE_BF16, DTYPE_FP16 = 0, 1, 2
TENSOR_SCALED_2D, TENSOR_RHT = 0x1, 0x2


# ---------------------------------------------------------------- structs (mirror include/mxblas.h)
class _FormatInfo(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("format", C.c_int), ("name", C.c_char_p),
                ("elem", C.c_int), ("elem_bits", C.c_int), ("block_rows", C.c_int),
                ("block_cols", C.c_int), ("scale_type", C.c_int), ("has_tensor_amax", C.c_int),
                ("elem_max", C.c_double)]


class _Tensor(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("format", C.c_int), ("rows", C.c_int64),
                ("cols", C.c_int64), ("data", C.c_void_p), ("scales", C.c_void_p),
                ("aux", C.c_void_p), ("amax", C.POINTER(C.c_float)), ("scale_layout", C.c_int),
                ("flags", C.c_uint32)]


class _Sizes(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("data_bytes", C.c_size_t),
                ("scale_bytes", C.c_size_t), ("aux_bytes", C.c_size_t),
                ("amax_bytes", C.c_size_t), ("row_bytes", C.c_size_t),
                ("scale_rows", C.c_int64), ("scale_cols", C.c_int64)]


class _Rht(C.Structure):
    _fields_ = [("enabled", C.c_int), ("size", C.c_int), ("sign_source", C.c_int),
                ("sign_mask", C.c_uint32 * 8), ("sign_seed", C.c_uint64), ("bf16_output", C.c_int)]


class _QuantConfig(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("rounding", C.c_int), ("seed", C.c_uint64),
                ("offset", C.c_uint64), ("scale_rule", C.c_int), ("nonfinite", C.c_int),
                ("amax_source", C.c_int), ("block_2d", C.c_int), ("fp8_pow2_scale", C.c_int),
                ("rht", _Rht)]


class _MorConfig(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("metric", C.c_int), ("tau", C.c_double),
                ("pow2_scale", C.c_int)]


class _ErrorStats(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("count", C.c_int64), ("mse", C.c_double),
                ("rmse", C.c_double), ("nmse", C.c_double), ("sqnr_db", C.c_double),
                ("max_abs_err", C.c_double), ("max_rel_err", C.c_double), ("cosine", C.c_double),
                ("frac_flushed", C.c_double), ("frac_saturated", C.c_double),
                ("nonfinite", C.c_int64), ("blocks", C.c_int64), ("scale_min", C.c_double),
                ("scale_max", C.c_double), ("scale_p01", C.c_double), ("scale_p50", C.c_double),
                ("scale_p99", C.c_double), ("scale_code_hist", C.c_uint64 * 256)]


class _GemmDesc(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("mode", C.c_int), ("c_type", C.c_int),
                ("alpha", C.c_float), ("beta", C.c_float), ("ldc", C.c_int64)]


# ---------------------------------------------------------------- library
class MxblasError(RuntimeError):
    """A library call failed: .status (e.g. 'MXB_ERR_BAD_SHAPE'-like name) and .detail."""

    def __init__(self, status, detail, call=""):
        self.status = status
        self.detail = detail
        super().__init__(f"{call}: {status}: {detail}" if call else f"{status}: {detail}")


_lib = None


def load_library(path=None):
    """Load libmxblas.so (path, $MXBLAS_LIB, next to this file, ../build, system)."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [path, os.environ.get("MXBLAS_LIB"), os.path.join(here, "libmxblas.so"),
                  os.path.join(here, "..", "build", "libmxblas.so"), "libmxblas.so.0", "libmxblas.so"]
    errors = []
    for c in candidates:
        if not c:
            continue
        try:
            lib = C.CDLL(c)
            break
        except OSError as e:
            errors.append(str(e))
    else:
        raise OSError("libmxblas.so not found; set MXBLAS_LIB. Tried: " + "; ".join(errors))
    lib.mxb_status_string.restype = C.c_char_p
    lib.mxb_last_error_detail.restype = C.c_char_p
    lib.mxb_version_string.restype = C.c_char_p
    lib.mxb_build_info.restype = C.c_char_p
    lib.mxb_context_last_impl.restype = C.c_char_p
    lib.mxb_context_last_impl.argtypes = [C.c_void_p]
    _lib = lib
    return lib


def _call(name, *args):
    lib = load_library()
    s = getattr(lib, name)(*args)
    if s != 0:
        status = lib.mxb_status_string(s).decode()
        raise MxblasError(status, lib.mxb_last_error_detail().decode(), name)


class _Context:
    """A CPU context for the duration of a call."""

    def __enter__(self):
        self.ptr = C.c_void_p()
        _call("mxb_context_create", 0, 0, C.byref(self.ptr))
        return self.ptr

    def __exit__(self, *exc):
        load_library().mxb_context_destroy(self.ptr)


def version():
    return load_library().mxb_version_string().decode()


def build_info():
    return load_library().mxb_build_info().decode()


def _format_id(fmt):
    if isinstance(fmt, int):
        return fmt
    f = C.c_int()
    _call("mxb_format_from_name", fmt.encode(), C.byref(f))
    return f.value


def format_info(fmt):
    """Description of a format (name or id) as a dict, from the library's table."""
    info = _FormatInfo()
    info.struct_size = C.sizeof(info)
    _call("mxb_format_info", _format_id(fmt), C.byref(info))
    return {"format": info.format, "name": info.name.decode(), "elem_bits": info.elem_bits,
            "block_rows": info.block_rows, "block_cols": info.block_cols,
            "scale_type": _SCALE_TYPES[info.scale_type] if 0 <= info.scale_type < 5 else "?",
            "has_tensor_amax": bool(info.has_tensor_amax), "elem_max": info.elem_max}


def formats():
    return [format_info(i)["name"] for i in range(len(FORMATS))]


# ---------------------------------------------------------------- tensors
def _plain(x):
    """(contiguous array, mxb dtype) for fp32/fp16 arrays and bf16 given as uint16 bits."""
    x = np.asarray(x)
    if x.ndim != 2:
        if x.ndim == 1:
            x = x.reshape(1, -1)
        else:
            x = x.reshape(-1, x.shape[-1])
    if x.dtype == np.float32:
        t = DTYPE_FP32
    elif x.dtype == np.float16:
        t = DTYPE_FP16
    elif x.dtype == np.uint16:
        t = DTYPE_BF16
    elif x.dtype == np.float64:
        x, t = x.astype(np.float32), DTYPE_FP32
    else:
        raise TypeError(f"unsupported dtype {x.dtype} (float32, float16, uint16 = bf16 bits, float64)")
    return np.ascontiguousarray(x), t


def _ptr(a):
    return None if a is None else a.ctypes.data_as(C.c_void_p)


class QuantizedTensor:
    """A quantized [rows, cols] tensor: the planes as numpy arrays (linear scale layout).

    data   uint8 [rows, row_bytes]  element codes
    scales uint8 block scales, or float32 scale_inv (FP8 / MoR formats)
    aux    uint8 BDR microexponents / MoR decisions, or None
    amax   float32 [1] NVFP4 tensor amax, or None
    flags  MXB_TENSOR_* bits set by quantize
    """

    def __init__(self, fmt, rows, cols, flags=0):
        self.format = format_info(fmt)["name"]
        self.rows, self.cols, self.flags = int(rows), int(cols), int(flags)
        sz = _Sizes()
        sz.struct_size = C.sizeof(sz)
        _call("mxb_tensor_sizes", _format_id(self.format), C.c_int64(self.rows),
              C.c_int64(self.cols), 0, C.byref(sz))
        self.data = np.zeros((self.rows, sz.row_bytes), np.uint8)
        fp32 = format_info(self.format)["scale_type"] == "fp32"
        self.scales = (np.zeros(sz.scale_bytes // 4, np.float32) if fp32
                       else np.zeros(sz.scale_bytes, np.uint8)) if sz.scale_bytes else None
        self.aux = np.zeros(sz.aux_bytes, np.uint8) if sz.aux_bytes else None
        self.amax = np.zeros(1, np.float32) if sz.amax_bytes else None

    @property
    def shape(self):
        return (self.rows, self.cols)

    def _desc(self):
        t = _Tensor()
        _call("mxb_tensor_init", C.byref(t), _format_id(self.format), C.c_int64(self.rows),
              C.c_int64(self.cols), 0)
        t.data, t.scales, t.aux = _ptr(self.data), _ptr(self.scales), _ptr(self.aux)
        t.amax = None if self.amax is None else self.amax.ctypes.data_as(C.POINTER(C.c_float))
        t.flags = self.flags
        return t

    def __repr__(self):
        return f"QuantizedTensor({self.format!r}, shape={self.shape}, flags={self.flags})"


def _quant_config(rounding="rne", seed=0, offset=0, scale_rule="rceil", nonfinite="nan_block",
                  block_2d=False, pow2_scale=False, rht=False, rht_mask=None, amax=None):
    cfg = _QuantConfig()
    lib = load_library()
    lib.mxb_quant_config_init(C.byref(cfg))
    lib.mxb_rht_init(C.byref(cfg.rht))
    cfg.rounding = _ROUNDING[rounding]
    cfg.seed, cfg.offset = seed, offset
    cfg.scale_rule = _RULES[scale_rule]
    cfg.nonfinite = _NONFINITE[nonfinite]
    cfg.block_2d = int(bool(block_2d))
    cfg.fp8_pow2_scale = int(bool(pow2_scale))
    cfg.rht.enabled = int(bool(rht))
    if rht_mask is not None:
        cfg.rht.sign_mask[0] = rht_mask
    cfg.amax_source = 0 if amax is None else 1
    return cfg


def quantize(x, format, tau=None, metric="rel_l2", **opts):
    """Quantize x (2-D; 1-D and N-D are viewed as [prod(leading), last]).

    opts: rounding='rne'|'sr', seed, offset, scale_rule='rceil'|'floor'|'ceil'|'even',
    nonfinite='nan_block'|'saturate', block_2d, pow2_scale, rht, rht_mask, amax (NVFP4:
    use this tensor amax instead of computing it). MoR formats take tau and metric.
    """
    x, t = _plain(x)
    q = QuantizedTensor(format, x.shape[0], x.shape[1])
    desc = q._desc()
    ws = C.c_size_t()
    with _Context() as ctx:
        if q.format in _MOR:
            cfg = _MorConfig()
            load_library().mxb_mor_config_init(C.byref(cfg))
            cfg.metric = _MOR_METRICS[metric]
            if tau is not None:
                cfg.tau = tau
            if opts.get("pow2_scale"):
                cfg.pow2_scale = 1
            _call("mxb_mor_workspace_size", ctx, C.byref(cfg), t, C.byref(desc), C.byref(ws))
            w = np.zeros(max(ws.value, 1), np.uint8)
            _call("mxb_mor_quantize", ctx, C.byref(cfg), t, _ptr(x), C.byref(desc), _ptr(w),
                  C.c_size_t(ws.value), None)
        else:
            cfg = _quant_config(**opts)
            if opts.get("amax") is not None:
                q.amax[0] = opts["amax"]
            _call("mxb_quantize_workspace_size", ctx, C.byref(cfg), t, C.byref(desc), C.byref(ws))
            w = np.zeros(max(ws.value, 1), np.uint8)
            _call("mxb_quantize", ctx, C.byref(cfg), t, _ptr(x), C.byref(desc), _ptr(w),
                  C.c_size_t(ws.value), None)
        q.impl = load_library().mxb_context_last_impl(ctx).decode()
    q.flags = desc.flags
    return q


def dequantize(q, dtype=np.float32):
    """Decode q to float32 (or np.uint16 bf16 bits / float16). RHT is not undone."""
    t = {np.dtype(np.float32): DTYPE_FP32, np.dtype(np.uint16): DTYPE_BF16,
         np.dtype(np.float16): DTYPE_FP16}[np.dtype(dtype)]
    out = np.empty((q.rows, q.cols), dtype)
    desc = q._desc()
    with _Context() as ctx:
        _call("mxb_dequantize", ctx, C.byref(desc), t, _ptr(out), None)
    return out


def gemm(a, b, mode="exact", alpha=1.0, beta=0.0, c=None, out_dtype=np.float32):
    """C = alpha * A @ B^T + beta * C, with A [M, K] and B [N, K] quantized along K.

    To multiply by a [K, N] matrix W, quantize W.T (its rows run along K).
    """
    if not isinstance(a, QuantizedTensor) or not isinstance(b, QuantizedTensor):
        raise TypeError("gemm takes two QuantizedTensor operands (quantize A [M,K] and B [N,K])")
    desc = _GemmDesc()
    load_library().mxb_gemm_desc_init(C.byref(desc))
    desc.mode = {"exact": 0, "fast": 1}[mode]
    desc.c_type = {np.dtype(np.float32): DTYPE_FP32, np.dtype(np.uint16): DTYPE_BF16}[np.dtype(out_dtype)]
    desc.alpha, desc.beta = alpha, beta
    if c is None:
        c = np.zeros((a.rows, b.rows), out_dtype)
    elif c.shape != (a.rows, b.rows) or c.dtype != np.dtype(out_dtype) or not c.flags.c_contiguous:
        raise ValueError(f"c must be a C-contiguous {np.dtype(out_dtype)} array of shape {(a.rows, b.rows)}")
    ta, tb = a._desc(), b._desc()
    ws = C.c_size_t()
    with _Context() as ctx:
        _call("mxb_gemm_workspace_size", ctx, C.byref(desc), C.byref(ta), C.byref(tb), C.byref(ws))
        w = np.zeros(max(ws.value, 1), np.uint8)
        _call("mxb_gemm", ctx, C.byref(desc), C.byref(ta), C.byref(tb), _ptr(c), _ptr(w),
              C.c_size_t(ws.value), None)
    return c


def error_stats(x, q):
    """NUMERICS 8 statistics of q against x (float32, the tensor q was quantized from)."""
    x = np.ascontiguousarray(np.asarray(x, np.float32).reshape(q.rows, q.cols))
    st = _ErrorStats()
    st.struct_size = C.sizeof(st)
    desc = q._desc()
    _call("mxb_error_stats", x.ctypes.data_as(C.POINTER(C.c_float)), C.byref(desc), C.byref(st))
    out = {name: getattr(st, name) for name, _ in _ErrorStats._fields_
           if name not in ("struct_size", "scale_code_hist")}
    out["scale_code_hist"] = np.ctypeslib.as_array(st.scale_code_hist).copy()
    return out
