"""mxblas: block-scaled low-precision numerics (NVFP4, OCP MX, MX9/6/4, FP8, MoR).

A single-file ctypes binding over libmxblas.so; numpy arrays in and out, CPU
backend, host memory. The library is found through $MXBLAS_LIB, then next to
this file (and ../build/), then the system's library path.

    import numpy as np, mxblas
    x = np.random.randn(128, 256).astype(np.float32)
    q = mxblas.quantize(x, "nvfp4")
    y = mxblas.dequantize(q)
    print(mxblas.error_stats(x, q)["sqnr_db"])

Arguments are checked before any library call (TypeError for a wrong kind of
object, ValueError for a wrong value or size); failures of the library itself
raise MxblasError(status, detail) with its detail string.
See docs/PYTHON.md.
"""
import ctypes as C
import math
import numbers
import os

import numpy as np

__all__ = ["MxblasError", "QuantizedTensor", "quantize", "dequantize", "gemm", "error_stats",
           "format_info", "formats", "version", "build_info", "load_library"]

# ---------------------------------------------------------------- enums
_RULES = {"rceil": 0, "floor": 1, "ceil": 2, "even": 3}
_ROUNDING = {"rne": 0, "sr": 1}
_NONFINITE = {"nan_block": 0, "nan-block": 0, "saturate": 1}
_MOR_METRICS = {"rel_l2": 0, "max_rel": 1, "mean_rel": 2}
DTYPE_FP32, DTYPE_BF16, DTYPE_FP16 = 0, 1, 2
TENSOR_SCALED_2D, TENSOR_RHT = 0x1, 0x2


# ---------------------------------------------------------------- structs (mirror include/mxblas.h)
class _FormatInfo(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("format", C.c_int), ("name", C.c_char_p),
                ("elem", C.c_int), ("elem_bits", C.c_int), ("block_rows", C.c_int),
                ("block_cols", C.c_int), ("scale_type", C.c_int), ("has_tensor_amax", C.c_int),
                ("elem_max", C.c_double), ("elem_name", C.c_char_p), ("scale_name", C.c_char_p)]


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
    global _lib, _FORMATS
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
    _FORMATS = None
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


# ---------------------------------------------------------------- argument checks
# ctypes converts silently (2**70 into an int64 field becomes 0, 1e300 into a
# float becomes Inf), so every value is checked here before it is converted.
def _int(name, v, lo, hi, what):
    """v as a Python int in [lo, hi), else TypeError/ValueError naming it."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(v).__name__}")
    v = int(v)
    if not lo <= v < hi:
        raise ValueError(f"{name} ({v}) does not fit in {what}")
    return v


def _uint64(name, v):
    return _int(name, v, 0, 2**64, "an unsigned 64-bit integer")


def _int64(name, v):
    return _int(name, v, -2**63, 2**63, "a signed 64-bit integer")


def _f32(name, v):
    """A real number as float32; finite values beyond the float32 range are refused."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(v).__name__}")
    with np.errstate(over="ignore"):
        f = np.float32(v)
    if np.isinf(f) and math.isfinite(v):
        raise ValueError(f"{name} ({v!r}) is beyond the float32 range (|x| <= 3.4028235e38)")
    return f


def _choice(name, table, v):
    """table[v] for a known key, else ValueError listing the choices."""
    try:
        return table[v]
    except (KeyError, TypeError):
        keys = ", ".join(repr(k) for k in table)
        raise ValueError(f"{name} must be one of {keys}, not {v!r}") from None


def _out_dtype(name, v, table):
    """The mxb dtype of numpy dtype v, if table (numpy dtype -> mxb dtype) allows it."""
    try:
        dt = None if v is None else np.dtype(v)  # np.dtype(None) would be float64
    except TypeError:
        dt = None
    if dt not in table:
        raise ValueError(f"{name} must be one of {', '.join(d.name for d in table)}, "
                         f"not {dt.name if dt is not None else repr(v)}")
    return table[dt]


def _format_id(fmt):
    if isinstance(fmt, str):
        if "\0" in fmt:
            raise ValueError(f"format {fmt!r} contains a NUL character")
        f = C.c_int()
        _call("mxb_format_from_name", fmt.encode(), C.byref(f))
        return f.value
    if isinstance(fmt, (bool, np.bool_)) or not isinstance(fmt, (int, np.integer)):
        raise TypeError(f"format must be a format name such as 'nvfp4' (or an mxb_format_t number), "
                        f"not {type(fmt).__name__}")
    return _int("format", fmt, -2**31, 2**31, "a C int")


def format_info(fmt):
    """Description of a format (name or id) as a dict, from the library's table."""
    info = _FormatInfo()
    info.struct_size = C.sizeof(info)
    _call("mxb_format_info", _format_id(fmt), C.byref(info))
    return {"format": info.format, "name": info.name.decode(), "element": info.elem_name.decode(),
            "elem_bits": info.elem_bits, "block_rows": info.block_rows, "block_cols": info.block_cols,
            "scale_type": info.scale_name.decode(), "has_tensor_amax": bool(info.has_tensor_amax),
            "elem_max": info.elem_max}


def formats():
    """Every format name the library knows, in mxb_format_t order (asked of the library)."""
    global _FORMATS
    if _FORMATS is None:
        names, info = [], _FormatInfo()
        info.struct_size = C.sizeof(info)
        while load_library().mxb_format_info(len(names), C.byref(info)) == 0:
            names.append(info.name.decode())
        _FORMATS = names
    return list(_FORMATS)


_FORMATS = None


def _is_mor(fmt):
    return format_info(fmt)["element"] == "e4m3|bf16"


def __getattr__(name):  # mxblas.FORMATS: the library's list, read on first use
    if name == "FORMATS":
        return formats()
    raise AttributeError(f"module 'mxblas' has no attribute {name!r}")


# ---------------------------------------------------------------- tensors
_DTYPES = {np.dtype(np.float32): DTYPE_FP32, np.dtype(np.float16): DTYPE_FP16,
           np.dtype(np.uint16): DTYPE_BF16}


def _plain(x):
    """(contiguous 2-D array, mxb dtype) for fp32/fp16 arrays and bf16 given as uint16 bits;
    float64 is rounded to fp32, and refused where a finite value would become Inf."""
    if x is None:
        raise TypeError("x must be an array of numbers, not None")
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("x is 0-d (a scalar): pass an array with at least one dimension")
    if x.size == 0:
        raise ValueError(f"x is empty (shape {x.shape})")
    x = x.reshape(-1, x.shape[-1])
    if x.dtype == np.float64:
        with np.errstate(over="ignore"):
            x32 = x.astype(np.float32)
        lost = np.isinf(x32) & np.isfinite(x)
        if lost.any():
            at, n = tuple(int(i) for i in np.argwhere(lost)[0]), int(lost.sum())
            raise ValueError(f"float64 input has {n} value{'s' * (n > 1)} beyond the float32 range "
                             f"(|x| <= 3.4028235e38), the first {float(x[at])!r} at {at} of the "
                             "2-D view; scale it or convert it yourself")
        x = x32
    if x.dtype not in _DTYPES:
        raise TypeError(f"unsupported dtype {x.dtype} (float32, float16, uint16 = bf16 bits, float64)")
    # the library loads the values through typed pointers: dense and aligned (copied if not)
    return np.require(x, requirements=["C", "A"]), _DTYPES[x.dtype]


def _as_fp32(x, t):
    """The values of a _plain array as float32 (exact for every dtype _plain returns)."""
    if t == DTYPE_BF16:
        return (x.astype(np.uint32) << 16).view(np.float32)
    return np.ascontiguousarray(x, np.float32)


def _ptr(a):
    return None if a is None else a.ctypes.data_as(C.c_void_p)


def _sizes(fmt, rows, cols):
    sz = _Sizes()
    sz.struct_size = C.sizeof(sz)
    _call("mxb_tensor_sizes", fmt, C.c_int64(rows), C.c_int64(cols), 0, C.byref(sz))
    return sz


def _check_plane(name, a, dtype, nbytes, what, align=1):
    """A plane the library will read nbytes from: None where the tensor (described by what)
    has none, else a C-contiguous numpy array of dtype holding exactly nbytes, aligned for
    dtype and to align bytes."""
    if nbytes == 0:
        if a is not None:
            raise ValueError(f"{what} has no {name} plane: {name} must be None")
        return
    if a is None:
        raise ValueError(f"{name} is None but {what} needs {nbytes} bytes")
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must be {np.dtype(dtype)}, not {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (the library reads it as dense bytes); "
                         "use np.ascontiguousarray")
    align = max(align, a.dtype.alignment)
    if a.ctypes.data % align:
        raise ValueError(f"{name} must be {align}-byte aligned (the library reads it in "
                         f"{align}-byte words); copy it with np.array")
    if a.nbytes != nbytes:
        raise ValueError(f"{name} has {a.nbytes} byte{'s' * (a.nbytes != 1)} but {what} needs {nbytes}")


class QuantizedTensor:
    """A quantized [rows, cols] tensor: the planes as numpy arrays (linear scale layout).

    data   uint8 [rows, row_bytes]  element codes
    scales uint8 block scales, or float32 scale_inv (FP8 / MoR formats)
    aux    uint8 BDR microexponents / MoR decisions, or None
    amax   float32 [1] NVFP4 tensor amax, or None
    flags  MXB_TENSOR_* bits set by quantize
    rht_mask  the RHT signs (bit i set: s_i = -1) the MXB_TENSOR_RHT flag refers to

    Planes not given are allocated as zeros. Every attribute may be replaced; each call
    checks them all against mxb_tensor_sizes (dtype, C-contiguity, exact size) and raises
    TypeError or ValueError before anything reaches the library.
    """

    def __init__(self, fmt, rows, cols, flags=0, *, data=None, scales=None, aux=None, amax=None,
                 rht_mask=None):
        self.format = format_info(fmt)["name"]
        self.rows, self.cols, self.flags = rows, cols, flags
        sz = _sizes(_format_id(self.format), _int64("rows", rows), _int64("cols", cols))
        fp32 = format_info(self.format)["scale_type"] == "fp32"
        if data is None:
            data = np.zeros((rows, sz.row_bytes), np.uint8)
        if scales is None and sz.scale_bytes:
            scales = np.zeros(sz.scale_bytes // 4, np.float32) if fp32 else np.zeros(sz.scale_bytes, np.uint8)
        if aux is None and sz.aux_bytes:
            aux = np.zeros(sz.aux_bytes, np.uint8)
        if amax is None and sz.amax_bytes:
            amax = np.zeros(1, np.float32)
        self.data, self.scales, self.aux, self.amax = data, scales, aux, amax
        self.rht_mask = _rht_struct().sign_mask[0] if rht_mask is None else rht_mask
        self.impl = None
        self._desc()

    @property
    def shape(self):
        return (self.rows, self.cols)

    def _desc(self):
        """The C descriptor, after checking every field and plane (see the class doc)."""
        fmt = _format_id(self.format)
        rows, cols = _int64("rows", self.rows), _int64("cols", self.cols)
        flags = _int("flags", self.flags, 0, 2**32, "an unsigned 32-bit integer")
        if flags & ~(TENSOR_SCALED_2D | TENSOR_RHT):
            raise ValueError(f"flags {flags:#x} has bits other than MXB_TENSOR_SCALED_2D (0x1) "
                             "and MXB_TENSOR_RHT (0x2)")
        _rht_struct(self.rht_mask)  # not passed here, but checked with the rest
        sz = _sizes(fmt, rows, cols)
        info = format_info(fmt)
        what = f"{info['name']} [{rows}, {cols}]"
        scale_dtype = np.float32 if info["scale_type"] == "fp32" else np.uint8
        # codes of 16 or 32 bits (BF16, FP32, MoR) are read as words of that size
        _check_plane("data", self.data, np.uint8, sz.data_bytes, what, max(1, info["elem_bits"] // 8))
        for name, dtype, nbytes in [("scales", scale_dtype, sz.scale_bytes),
                                    ("aux", np.uint8, sz.aux_bytes),
                                    ("amax", np.float32, sz.amax_bytes)]:
            _check_plane(name, getattr(self, name), dtype, nbytes, what)
        t = _Tensor()
        _call("mxb_tensor_init", C.byref(t), fmt, C.c_int64(rows), C.c_int64(cols), 0)
        t.data, t.scales, t.aux = _ptr(self.data), _ptr(self.scales), _ptr(self.aux)
        t.amax = None if self.amax is None else self.amax.ctypes.data_as(C.POINTER(C.c_float))
        t.flags = flags
        return t

    def __repr__(self):
        return f"QuantizedTensor({self.format!r}, shape={self.shape}, flags={self.flags})"


def _check_tensor(name, q):
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"{name} must be a QuantizedTensor (from mxblas.quantize), not {type(q).__name__}")
    return q._desc()


# The binding applies the RHT with d = 16, whose 16 signs are bits 0-15 of the mask.
_RHT_SIZE = 16


def _rht_struct(mask=None):
    """The library's default RHT (d = 16, disabled), with the given sign mask if any."""
    rht = _Rht()
    load_library().mxb_rht_init(C.byref(rht))
    if mask is None:
        return rht
    # bits beyond d would be ignored by the library: refused rather than dropped
    rht.sign_mask[0] = _int("rht_mask", mask, 0, 2**_RHT_SIZE,
                            f"the {_RHT_SIZE} signs of the {_RHT_SIZE}-point transform")
    return rht


def _quant_config(has_amax, rounding="rne", seed=0, offset=0, scale_rule="rceil",
                  nonfinite="nan_block", block_2d=False, pow2_scale=False, rht=False, rht_mask=None,
                  amax=None):
    cfg = _QuantConfig()
    load_library().mxb_quant_config_init(C.byref(cfg))
    cfg.rounding = _choice("rounding", _ROUNDING, rounding)
    cfg.seed, cfg.offset = _uint64("seed", seed), _uint64("offset", offset)
    cfg.scale_rule = _choice("scale_rule", _RULES, scale_rule)
    cfg.nonfinite = _choice("nonfinite", _NONFINITE, nonfinite)
    cfg.block_2d = int(bool(block_2d))
    cfg.fp8_pow2_scale = int(bool(pow2_scale))
    if rht_mask is not None and not rht:
        raise ValueError("rht_mask without rht=True: the mask would be ignored")
    cfg.rht = _rht_struct(rht_mask)
    cfg.rht.enabled = int(bool(rht))
    if amax is not None:
        if not has_amax:
            raise ValueError("amax= applies to formats with a tensor amax (NVFP4) only")
        amax = _f32("amax", amax)
    cfg.amax_source = 0 if amax is None else 1
    return cfg, amax


def quantize(x, format, tau=None, metric=None, **opts):
    """Quantize x (2-D; 1-D and N-D are viewed as [prod(leading), last]).

    opts: rounding='rne'|'sr', seed, offset, scale_rule='rceil'|'floor'|'ceil'|'even',
    nonfinite='nan_block'|'saturate', block_2d, pow2_scale, rht, rht_mask (16 bits), amax
    (NVFP4: use this tensor amax instead of computing it). MoR formats take tau,
    metric='rel_l2'|'max_rel'|'mean_rel' and pow2_scale.
    """
    info = format_info(format)
    x, t = _plain(x)
    q = QuantizedTensor(info["name"], x.shape[0], x.shape[1])
    ws = C.c_size_t()
    if _is_mor(q.format):
        if set(opts) - {"pow2_scale"}:
            raise TypeError(f"MoR formats take tau, metric and pow2_scale, not {', '.join(sorted(opts))}")
        cfg = _MorConfig()
        load_library().mxb_mor_config_init(C.byref(cfg))
        if metric is not None:
            cfg.metric = _choice("metric", _MOR_METRICS, metric)
        if tau is not None:
            if isinstance(tau, (bool, np.bool_)) or not isinstance(tau, numbers.Real):
                raise TypeError(f"tau must be a real number, not {type(tau).__name__}")
            cfg.tau = float(tau)
        cfg.pow2_scale = int(bool(opts.get("pow2_scale")))
        size_fn, run_fn = "mxb_mor_workspace_size", "mxb_mor_quantize"
    else:
        if tau is not None or metric is not None:
            raise TypeError(f"tau and metric apply to MoR formats only, not {q.format}")
        cfg, amax = _quant_config(info["has_tensor_amax"], **opts)
        if amax is not None:
            q.amax[0] = amax
        if cfg.rht.enabled:
            q.rht_mask = cfg.rht.sign_mask[0]
        size_fn, run_fn = "mxb_quantize_workspace_size", "mxb_quantize"
    desc = q._desc()
    with _Context() as ctx:
        _call(size_fn, ctx, C.byref(cfg), t, C.byref(desc), C.byref(ws))
        w = np.zeros(max(ws.value, 1), np.uint8)
        _call(run_fn, ctx, C.byref(cfg), t, _ptr(x), C.byref(desc), _ptr(w), C.c_size_t(ws.value), None)
        q.impl = load_library().mxb_context_last_impl(ctx).decode()
    q.flags = desc.flags
    return q


def dequantize(q, dtype=np.float32):
    """Decode q to float32 (or np.uint16 bf16 bits / float16). RHT is not undone."""
    t = _out_dtype("dtype", dtype, _DTYPES)
    desc = _check_tensor("q", q)
    out = np.empty((q.rows, q.cols), np.dtype(dtype))
    with _Context() as ctx:
        _call("mxb_dequantize", ctx, C.byref(desc), t, _ptr(out), None)
    return out


def gemm(a, b, mode="exact", alpha=1.0, beta=0.0, c=None, out_dtype=np.float32):
    """C = alpha * A @ B^T + beta * C, with A [M, K] and B [N, K] quantized along K.

    To multiply by a [K, N] matrix W, quantize W.T (its rows run along K).
    """
    if not isinstance(a, QuantizedTensor) or not isinstance(b, QuantizedTensor):
        raise TypeError("gemm takes two QuantizedTensor operands (quantize A [M,K] and B [N,K])")
    ta, tb = a._desc(), b._desc()
    desc = _GemmDesc()
    load_library().mxb_gemm_desc_init(C.byref(desc))
    desc.mode = _choice("mode", {"exact": 0, "fast": 1}, mode)
    desc.c_type = _out_dtype("out_dtype", out_dtype, {np.dtype(np.float32): DTYPE_FP32,
                                                      np.dtype(np.uint16): DTYPE_BF16})
    desc.alpha, desc.beta = _f32("alpha", alpha), _f32("beta", beta)
    shape, dt = (a.rows, b.rows), np.dtype(out_dtype)
    if c is None:
        c = np.zeros(shape, dt)
    elif not isinstance(c, np.ndarray):
        raise TypeError(f"c must be a numpy array, not {type(c).__name__}")
    elif (c.shape != shape or c.dtype != dt or not c.flags.c_contiguous or not c.flags.aligned
          or not c.flags.writeable):
        raise ValueError(f"c must be a C-contiguous, aligned, writeable {dt} array of shape {shape}")
    ws = C.c_size_t()
    with _Context() as ctx:
        _call("mxb_gemm_workspace_size", ctx, C.byref(desc), C.byref(ta), C.byref(tb), C.byref(ws))
        w = np.zeros(max(ws.value, 1), np.uint8)
        _call("mxb_gemm", ctx, C.byref(desc), C.byref(ta), C.byref(tb), _ptr(c), _ptr(w),
              C.c_size_t(ws.value), None)
    return c


def error_stats(x, q):
    """NUMERICS 8 statistics of q against x, the tensor q was quantized from (any dtype
    quantize takes). For a tensor quantized with RHT the reference is RHT(x) with the same
    signs: the statistics are taken in the transformed domain, where q's values live."""
    desc = _check_tensor("q", q)
    x, t = _plain(x)
    if x.shape != q.shape:
        raise ValueError(f"x has shape {x.shape}, q is [{q.rows}, {q.cols}]")
    x = _as_fp32(x, t)
    if desc.flags & TENSOR_RHT:
        rht, xr = _rht_struct(q.rht_mask), np.empty_like(x)
        with _Context() as ctx:
            _call("mxb_rht", ctx, C.byref(rht), 0, 0, C.c_int64(q.rows), C.c_int64(q.cols), DTYPE_FP32,
                  _ptr(x), DTYPE_FP32, _ptr(xr), None)
        x = xr
    st = _ErrorStats()
    st.struct_size = C.sizeof(st)
    _call("mxb_error_stats", x.ctypes.data_as(C.POINTER(C.c_float)), C.byref(desc), C.byref(st))
    out = {name: getattr(st, name) for name, _ in _ErrorStats._fields_
           if name not in ("struct_size", "scale_code_hist")}
    out["scale_code_hist"] = np.ctypeslib.as_array(st.scale_code_hist).copy()
    return out
