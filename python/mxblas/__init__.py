"""mxblas: block-scaled low-precision numerics (NVFP4, OCP MX, MX9/6/4, FP8, MoR).

A ctypes binding over libmxblas.so. Arrays of numpy, PyTorch, or any object
exporting DLPack or __cuda_array_interface__ are read in place: host memory on
the CPU backend, device memory on the CUDA backend on the caller's stream; the
results come back in the caller's framework. The library is the one bundled in
the package (pip install .), else $MXBLAS_LIBRARY, the repository's build, then
the system's library path.

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
import atexit
import ctypes as C
import math
import numbers
import os
import threading

import numpy as np

from . import _arrays as _A

__all__ = ["MxblasError", "QuantizedTensor", "quantize", "quantize_pair", "transpose_quantized", "rht",
           "dequantize", "gemm", "gemm_quantized", "grouped_gemm", "grouped_gemm_quantized", "grouped_quantize", "GemmPlan", "error_stats", "format_info", "formats", "version",
           "build_info", "load_library", "library_path"]

# ---------------------------------------------------------------- enums
_RULES = {"rceil": 0, "floor": 1, "ceil": 2, "even": 3}
_ROUNDING = {"rne": 0, "sr": 1}
_NONFINITE = {"nan_block": 0, "nan-block": 0, "saturate": 1}
_FOUR_OVER_SIX = {None: 0, "mse": 1, "mae": 2}
# compatibility profiles (docs/COMPAT.md): whose bytes quantize writes
_COMPAT = {None: 0, "mxblas": 0, "te": 1, "torchao": 2, "microxcaling": 3, "ocp": 4, "torchao-rceil": 5}
_MOR_METRICS = {"rel_l2": 0, "max_rel": 1, "mean_rel": 2}
DTYPE_FP32, DTYPE_BF16, DTYPE_FP16 = 0, 1, 2
TENSOR_SCALED_2D, TENSOR_RHT, TENSOR_E4M3_MAX_256, TENSOR_ROW_AMAX = 0x1, 0x2, 0x4, 0x8


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
                ("rht", _Rht), ("four_over_six", C.c_int), ("rng_state", C.c_void_p),
                ("nvfp4_e4m3_max", C.c_int), ("nvfp4_row_amax", C.c_int), ("compat", C.c_int),
                ("global_row0", C.c_int64), ("global_col0", C.c_int64), ("global_cols", C.c_int64),
                ("amax_out", C.c_void_p)]


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
                ("scale_p99", C.c_double), ("scale_code_hist", C.c_uint64 * 256),
                ("frac_scaled_to_4", C.c_double)]


class _GemmDesc(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("mode", C.c_int), ("c_type", C.c_int),
                ("alpha", C.c_float), ("beta", C.c_float), ("ldc", C.c_int64),
                ("bias", C.c_void_p), ("bias_type", C.c_int), ("activation", C.c_int),
                ("aux", C.c_void_p), ("ld_aux", C.c_int64),
                ("alpha_ptr", C.c_void_p), ("beta_ptr", C.c_void_p)]


_ACTIVATIONS = {"none": 0, "relu": 1, "relu2": 2, "gelu_erf": 3, "gelu_tanh": 4, "silu": 5,
                "swiglu": 6, "geglu_erf": 7, "geglu_tanh": 8}
_GATED = ("swiglu", "geglu_erf", "geglu_tanh")


class _GemmPlanPrefs(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("alignment", C.c_size_t), ("max_workspace", C.c_size_t)]


class _GroupedDesc(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("gemm", C.POINTER(_GemmDesc)), ("layout", C.c_int),
                ("groups", C.c_int64), ("index_bits", C.c_int), ("index", C.c_void_p), ("status", C.c_void_p),
                ("a_group_scales", C.c_int)]


_GROUPED_LAYOUTS = {"contiguous": 0, "masked": 1, "k_split": 2}


# ---------------------------------------------------------------- library
class MxblasError(RuntimeError):
    """A library call failed: .status (e.g. 'MXB_ERR_BAD_SHAPE'-like name) and .detail."""

    def __init__(self, status, detail, call=""):
        self.status = status
        self.detail = detail
        super().__init__(f"{call}: {status}: {detail}" if call else f"{status}: {detail}")


_lib = None
_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))  # the repository, when run from a checkout


def _library_candidates(path):
    env = [os.environ.get("MXBLAS_LIBRARY"), os.environ.get("MXBLAS_LIB")]
    repo = [os.path.join(_ROOT, b, "libmxblas.so") for b in ("build", "build-nocuda")]
    return [path, os.path.join(_HERE, "libmxblas.so")] + env + repo + ["libmxblas.so.0", "libmxblas.so"]


def load_library(path=None):
    """Load libmxblas.so: path, else the one bundled in the package, $MXBLAS_LIBRARY (or
    $MXBLAS_LIB), the repository's build/ or build-nocuda/, then the system's library path."""
    global _lib, _FORMATS
    if _lib is not None and path is None:
        return _lib
    errors = []
    for c in _library_candidates(path):
        if not c or (os.sep in c and not os.path.exists(c)):
            continue
        try:
            lib = C.CDLL(c)
            break
        except OSError as e:
            errors.append(str(e))
    else:
        raise OSError("libmxblas.so not found; install the package (pip install .) or set MXBLAS_LIBRARY. "
                      "Tried: " + "; ".join(errors or [c for c in _library_candidates(path) if c]))
    lib.mxb_status_string.restype = C.c_char_p
    lib.mxb_last_error_detail.restype = C.c_char_p
    lib.mxb_version_string.restype = C.c_char_p
    lib.mxb_build_info.restype = C.c_char_p
    lib.mxb_context_last_impl.restype = C.c_char_p
    lib.mxb_context_last_impl.argtypes = [C.c_void_p]
    lib.mxb_gemm_plan_path.restype = C.c_char_p
    lib.mxb_gemm_plan_path.argtypes = [C.c_void_p]
    _release_contexts()
    _lib = lib
    _A.set_library(lib, b"cuda=yes" in lib.mxb_build_info())
    _INFO.clear()
    _SIZES.clear()
    _FORMATS = None
    return lib


def library_path():
    """The file of the loaded library."""
    return load_library()._name


def _call(name, *args):
    lib = load_library()
    s = getattr(lib, name)(*args)
    if s != 0:
        status = lib.mxb_status_string(s).decode()
        raise MxblasError(status, lib.mxb_last_error_detail().decode(), name)


# One context per backend and device, made on first use and kept: the library lets
# threads share a context, and creating one per call would cost more than a small call.
_contexts = {}
_contexts_lock = threading.Lock()


def _context(device):
    """The context for device (None: the CPU backend; an int: that CUDA device)."""
    ctx = _contexts.get(device)
    if ctx is None:
        with _contexts_lock:
            ctx = _contexts.get(device)
            if ctx is None:
                ctx = C.c_void_p()
                with _A.DeviceGuard(device):
                    _call("mxb_context_create", 0 if device is None else 1, device or 0, C.byref(ctx))
                _contexts[device] = ctx
    return ctx


@atexit.register
def _release_contexts():
    with _contexts_lock:
        for ctx in _contexts.values():
            _lib.mxb_context_destroy(ctx)
        _contexts.clear()


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
    return dict(_info(fmt))


def _info(fmt):
    """format_info's dict, shared: asked of the library once per name or id."""
    d = _INFO.get(fmt) if type(fmt) in (str, int) else None
    if d is None:
        info = _FormatInfo()
        info.struct_size = C.sizeof(info)
        _call("mxb_format_info", _format_id(fmt), C.byref(info))
        d = {"format": info.format, "name": info.name.decode(), "element": info.elem_name.decode(),
             "elem_bits": info.elem_bits, "block_rows": info.block_rows, "block_cols": info.block_cols,
             "scale_type": info.scale_name.decode(), "has_tensor_amax": bool(info.has_tensor_amax),
             "elem_max": info.elem_max}
        if type(fmt) in (str, int):
            _INFO[fmt] = d
    return d


_INFO = {}


def _is_mor(info):
    return info["element"] == "e4m3|bf16"


def _tensor_scale(info):
    """The library's tensor-scale rule (mxb_tensor_scale_rule): "amax" (NVFP4), "plane"
    (FP8 with one fp32 scale for the whole tensor; not MoR) or None."""
    if info["has_tensor_amax"]:
        return "amax"
    whole = info["scale_type"] == "fp32" and not info["block_rows"] and not info["block_cols"]
    return "plane" if whole and not _is_mor(info) else None


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


def __getattr__(name):  # mxblas.FORMATS: the library's list, read on first use
    if name == "FORMATS":
        return formats()
    if name in ("torch_ops", "torch"):  # imported on first use: PyTorch is needed only there
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'mxblas' has no attribute {name!r}")


# ---------------------------------------------------------------- arrays
_DTYPES = {np.dtype(np.float32): DTYPE_FP32, np.dtype(np.float16): DTYPE_FP16,
           np.dtype(np.uint16): DTYPE_BF16}
_ARRAY_KINDS = "a numpy array (or a PyTorch tensor, or an object exporting DLPack or __cuda_array_interface__)"


def _view(name, a):
    """The _arrays._View of argument a, or TypeError naming it."""
    v = _A.view(a, name)
    if v is None:
        raise TypeError(f"{name} must be {_ARRAY_KINDS}, not {type(a).__name__}")
    return v


def _rows_cols(shape):
    """(rows, cols) of the 2-D view quantize takes of an x of shape: [prod(leading), last]."""
    if len(shape) == 0:
        raise ValueError("x is 0-d (a scalar): pass an array with at least one dimension")
    if 0 in shape:
        raise ValueError(f"x is empty (shape {tuple(shape)})")
    return math.prod(shape[:-1]), shape[-1]


def _plain(x):
    """(_View of a dense 2-D array, mxb dtype) for fp32/fp16 values and bf16 (torch.bfloat16,
    ml_dtypes.bfloat16 or uint16 bits). Host arrays: float64 is rounded to fp32, and refused
    where a finite value would become Inf; strided or misaligned arrays are copied."""
    if x is None:
        raise TypeError("x must be an array of numbers, not None")
    v = _A.view(x, "x")
    if v is None:
        v = _A.view(np.asarray(x), "x")  # lists, scalars, buffers
    shape = v.shape
    _rows_cols(shape)
    if v.device is not None:
        return _plain_device(v)
    x = v.host.reshape(-1, shape[-1])
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
        raise TypeError(f"unsupported dtype {x.dtype} (float32, float16, bfloat16 or uint16 = bf16 bits, "
                        "float64)")
    # the library loads the values through typed pointers: dense and aligned (copied if not)
    v2 = _A._View(v.fw, host=np.require(x, requirements=["C", "A"]), bf16=v.bf16, keep=v.keep)
    return v2, _DTYPES[x.dtype]


def _plain_device(v):
    """_plain for device memory: read in place, so it must be dense and of a dtype the library takes."""
    if v.dtype not in _DTYPES:
        raise TypeError(f"unsupported dtype {v.dtype} on the device (float32, float16, bfloat16)")
    if not v.contiguous and _A._is_torch(v.keep):
        v = _A._torch_view(v.keep.contiguous())  # a copy, on the caller's stream, as for strided host arrays
    if not v.contiguous:
        raise ValueError("x on the device must be C-contiguous (it is read in place); "
                         "make it contiguous first")
    if v.ptr % v.dtype.itemsize:
        raise ValueError(f"x must be {v.dtype.itemsize}-byte aligned")
    rows = math.prod(v.shape[:-1])
    v.shape, v.strides = (rows, v.shape[-1]), None
    return v, _DTYPES[v.dtype]


def _as_fp32(x, t):
    """The values of a _plain host array as float32 (exact for every dtype _plain returns)."""
    if t == DTYPE_BF16:
        return (x.astype(np.uint32) << 16).view(np.float32)
    return np.ascontiguousarray(x, np.float32)


def _ptr(v):
    return None if v is None else C.c_void_p(v.ptr)


def _result_dtype(name, v, table, fw):
    """(mxb dtype, numpy dtype, as_bf16) of a requested result dtype: a numpy dtype in table
    (uint16 = bf16 bits), ml_dtypes.bfloat16, or torch.float32/float16/bfloat16."""
    t = _A._torch()
    if t is not None and isinstance(v, t.dtype):
        try:
            dt, is_bf16 = _A._torch_np_dtype(v)
        except TypeError:
            dt, is_bf16 = None, False
        if dt in table:
            return table[dt], dt, is_bf16
        raise ValueError(f"{name} must be one of {', '.join(d.name for d in table)} "
                         f"(or torch.bfloat16), not {v}")
    if v is not None and getattr(v, "__name__", getattr(v, "name", "")) == "bfloat16" and \
            np.dtype(np.uint16) in table:  # ml_dtypes.bfloat16
        return table[np.dtype(np.uint16)], np.dtype(np.uint16), True
    mxb = _out_dtype(name, v, table)
    # uint16 asked of a torch tensor is bf16: torch.bfloat16 is how torch holds bf16
    return mxb, np.dtype(v), fw == "torch" and mxb == DTYPE_BF16


def _format_scale_dtype(info):
    return np.float32 if info["scale_type"] == "fp32" else np.uint8


def _sizes(fmt, rows, cols):
    key = (fmt, rows, cols)
    sz = _SIZES.get(key)
    if sz is None:
        sz = _Sizes()
        sz.struct_size = C.sizeof(sz)
        _call("mxb_tensor_sizes", fmt, C.c_int64(rows), C.c_int64(cols), 0, C.byref(sz))
        if len(_SIZES) > 4096:
            _SIZES.clear()
        _SIZES[key] = sz
    return sz


_SIZES = {}


def _check_plane(name, a, dtype, nbytes, what, align=1):
    """The _View of a plane the library will read nbytes from: None where the tensor
    (described by what) has none, else a C-contiguous array of dtype holding exactly
    nbytes, aligned for dtype and to align bytes."""
    if nbytes == 0:
        if a is not None:
            raise ValueError(f"{what} has no {name} plane: {name} must be None")
        return None
    if a is None:
        raise ValueError(f"{name} is None but {what} needs {nbytes} bytes")
    v = _A.view(a, name)
    if v is None:
        raise TypeError(f"{name} must be {_ARRAY_KINDS}, not {type(a).__name__}")
    if v.dtype != dtype or v.bf16:
        raise TypeError(f"{name} must be {np.dtype(dtype)}, not {'bfloat16' if v.bf16 else v.dtype}")
    if not v.contiguous:
        raise ValueError(f"{name} must be C-contiguous (the library reads it as dense bytes); "
                         "use np.ascontiguousarray")
    align = max(align, v.dtype.alignment)
    if v.ptr % align:
        raise ValueError(f"{name} must be {align}-byte aligned (the library reads it in "
                         f"{align}-byte words); copy it with np.array")
    if v.nbytes != nbytes:
        raise ValueError(f"{name} has {v.nbytes} byte{'s' * (v.nbytes != 1)} but {what} needs {nbytes}")
    return v


def _same_device(views):
    """The one device of views (None: host memory), or ValueError where they differ."""
    devices = {v.device for v in views if v is not None}
    if len(devices) > 1:
        where = ", ".join("host" if d is None else f"cuda:{d}" for d in sorted(devices, key=str))
        raise ValueError(f"arguments live on different devices ({where}): pass them all on one")
    return devices.pop() if devices else None


def _stream(views):
    """The stream of the first device argument (its framework's current stream)."""
    for v in views:
        if v is not None and v.device is not None:
            return C.c_void_p(v.stream or None)
    return None


class _Bound:
    """A QuantizedTensor checked for one call: the C descriptor and the planes' views."""

    __slots__ = ("desc", "views", "device")

    def __init__(self, desc, views):
        self.desc, self.views, self.device = desc, views, _same_device(views)


# ---------------------------------------------------------------- tensors
class QuantizedTensor:
    """A quantized [rows, cols] tensor: the planes as arrays (linear scale layout), numpy
    arrays or tensors of the caller's framework on the caller's device (see quantize).

    data   uint8 [rows, row_bytes]  element codes
    scales uint8 block scales, or float32 scale_inv (FP8 / MoR formats)
    aux    uint8 BDR microexponents / MoR decisions, or None
    amax   float32 [1] NVFP4 tensor amax ([rows] with TENSOR_ROW_AMAX: one a row), or None
    flags  MXB_TENSOR_* bits set by quantize
    rht_mask  the RHT signs (bit i set: s_i = -1) the MXB_TENSOR_RHT flag refers to

    Planes not given are allocated as numpy zeros. Every attribute may be replaced; each
    call checks them all against mxb_tensor_sizes (dtype, C-contiguity, exact size, one
    device) and raises TypeError or ValueError before anything reaches the library.
    """

    def __init__(self, fmt, rows, cols, flags=0, *, data=None, scales=None, aux=None, amax=None,
                 rht_mask=None, _like=None, _zero=True):
        info = _info(fmt)
        self.format = info["name"]
        self.rows, self.cols, self.flags = rows, cols, flags
        sz = _sizes(info["format"], _int64("rows", rows), _int64("cols", cols))
        made = {}

        def zeros(shape, dtype):
            a, v = _A.alloc(_like, shape, dtype, zero=_zero)
            made[id(a)] = v
            return a
        if data is None:
            data = zeros((rows, sz.row_bytes), np.uint8)
        scale_dtype = _format_scale_dtype(info)
        if scales is None and sz.scale_bytes:
            scales = zeros(sz.scale_bytes // np.dtype(scale_dtype).itemsize, scale_dtype)
        if aux is None and sz.aux_bytes:
            aux = zeros(sz.aux_bytes, np.uint8)
        if amax is None and sz.amax_bytes:
            amax = zeros(rows if flags & TENSOR_ROW_AMAX else 1, np.float32)
        self.data, self.scales, self.aux, self.amax = data, scales, aux, amax
        self.rht_mask = _default_rht_mask() if rht_mask is None else rht_mask
        self.impl = None
        # planes of the caller's are checked now; those made here come with their views
        self._made = made if _like is not None else None
        if _like is None:
            self._bind()

    @classmethod
    def _of_planes(cls, fmt, rows, cols, flags, data, scales, aux, amax, rht_mask):
        """A QuantizedTensor over the given planes, checked at its first call (as replaced
        attributes are) rather than here, so that torch.compile can trace it (torch_ops)."""
        q = object.__new__(cls)
        q.format, q.rows, q.cols, q.flags, q.rht_mask = fmt, rows, cols, flags, rht_mask
        q.data, q.scales, q.aux, q.amax = data, scales, aux, amax
        q.impl, q._made = None, None
        return q

    @property
    def shape(self):
        return (self.rows, self.cols)

    @property
    def device(self):
        """None for host memory, else the CUDA device of the planes."""
        return self._bind().device

    def _desc(self):
        """The C descriptor, after checking every field and plane (see the class doc)."""
        return self._bind().desc

    def _bind(self):
        """Every field and plane checked (see the class doc): a _Bound."""
        info = _info(self.format)
        fmt = info["format"]
        rows, cols = _int64("rows", self.rows), _int64("cols", self.cols)
        flags = _int("flags", self.flags, 0, 2**32, "an unsigned 32-bit integer")
        if flags & ~(TENSOR_SCALED_2D | TENSOR_RHT | TENSOR_E4M3_MAX_256 | TENSOR_ROW_AMAX):
            raise ValueError(f"flags {flags:#x} has bits other than MXB_TENSOR_SCALED_2D (0x1), "
                             "MXB_TENSOR_RHT (0x2), MXB_TENSOR_E4M3_MAX_256 (0x4) and MXB_TENSOR_ROW_AMAX (0x8)")
        if type(self.rht_mask) is not int or self.rht_mask != _default_rht_mask():
            _rht_struct(self.rht_mask)  # not passed here, but checked with the rest
        sz = _sizes(fmt, rows, cols)
        what = f"{info['name']} [{rows}, {cols}]"
        # codes of 16 or 32 bits (BF16, FP32, MoR) are read as words of that size
        # the first call after quantize: the planes it made come with their views; a
        # plane of the caller's (an amax plane passed to quantize) is checked as always
        made, self._made = self._made or {}, None
        views = []
        for name, dtype, nbytes, align in [
                ("data", np.uint8, sz.data_bytes, max(1, info["elem_bits"] // 8)),
                ("scales", _format_scale_dtype(info), sz.scale_bytes, 1),
                ("aux", np.uint8, sz.aux_bytes, 1),
                ("amax", np.float32, sz.amax_bytes * (rows if flags & TENSOR_ROW_AMAX else 1), 1)]:
            a = getattr(self, name)
            views.append(made[id(a)] if a is not None and id(a) in made
                         else _check_plane(name, a, dtype, nbytes, what, align))
        t = _Tensor()
        _call("mxb_tensor_init", C.byref(t), fmt, C.c_int64(rows), C.c_int64(cols), 0)
        t.data, t.scales, t.aux = (_ptr(v) for v in views[:3])
        t.amax = None if views[3] is None else C.cast(views[3].ptr, C.POINTER(C.c_float))
        t.flags = flags
        return _Bound(t, views)

    def __repr__(self):
        try:
            device = self.device
        except (TypeError, ValueError, OSError, MxblasError):  # fields replaced by something a call would refuse
            device = None
        dev = "" if device is None else f", device='cuda:{device}'"
        return f"QuantizedTensor({self.format!r}, shape={self.shape}, flags={self.flags}{dev})"


def _check_tensor(name, q):
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"{name} must be a QuantizedTensor (from mxblas.quantize), not {type(q).__name__}")
    return q._bind()


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


def _default_rht_mask():
    """mxb_rht_init's sign mask (a plain int: a mask equal to it needs no check)."""
    m = _INFO.get("_rht_mask")
    if m is None:
        m = _INFO["_rht_mask"] = _rht_struct().sign_mask[0]
    return m


def _rng_state_view(state):
    """The _View of an rng_state: two 64-bit integers {seed, offset}, writable (the call
    advances the offset), on the device the call runs on."""
    v = _A.view(state, "rng_state")
    if v is None:
        raise TypeError(f"rng_state must be {_ARRAY_KINDS}, not {type(state).__name__}")
    if v.bf16 or v.dtype not in (np.dtype(np.uint64), np.dtype(np.int64)):
        raise TypeError(f"rng_state must be uint64 or int64, not {'bfloat16' if v.bf16 else v.dtype}")
    if not v.contiguous or v.nbytes != 16 or v.ptr % 8:
        raise ValueError("rng_state must be two contiguous, 8-byte aligned 64-bit values {seed, offset}")
    if getattr(v, "readonly", False):
        raise ValueError("rng_state must be writable: the call advances its offset")
    return v


def _quant_config(has_amax, rounding="rne", seed=0, offset=0, scale_rule="rceil",
                  nonfinite="nan_block", block_2d=False, pow2_scale=False, rht=False, rht_mask=None,
                  amax=None, four_over_six=None, rng_state=None, e4m3_max=None, compat=None,
                  row_amax=False, place=None):
    """(config, amax, state): the quantize config of these options, the amax to supply
    (None: computed) and the view of rng_state (None without one), which the caller
    keeps alive until the call has run (the config holds only its address)."""
    cfg = _QuantConfig()
    load_library().mxb_quant_config_init(C.byref(cfg))
    cfg.rounding = _choice("rounding", _ROUNDING, rounding)
    cfg.seed, cfg.offset = _uint64("seed", seed), _uint64("offset", offset)
    cfg.scale_rule = _choice("scale_rule", _RULES, scale_rule)
    cfg.nonfinite = _choice("nonfinite", _NONFINITE, nonfinite)
    cfg.block_2d = int(bool(block_2d))
    cfg.fp8_pow2_scale = int(bool(pow2_scale))
    cfg.four_over_six = _choice("four_over_six", _FOUR_OVER_SIX, four_over_six)
    if e4m3_max not in (None, 448, 256):
        raise ValueError(f"e4m3_max must be 448 or 256, not {e4m3_max!r}")
    cfg.nvfp4_e4m3_max = 0 if e4m3_max is None else int(e4m3_max)
    cfg.compat = _choice("compat", _COMPAT, compat)
    cfg.nvfp4_row_amax = int(bool(row_amax))
    if place is not None:
        if len(place) != 3 or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)
                                  for v in place):
            raise TypeError("place is (global_row0, global_col0, global_cols): three integers")
        cfg.global_row0, cfg.global_col0, cfg.global_cols = (int(v) for v in place)
    if rht_mask is not None and not rht:
        raise ValueError("rht_mask without rht=True: the mask would be ignored")
    if rht_mask is not None:
        cfg.rht = _rht_struct(rht_mask)
    cfg.rht.enabled = int(bool(rht))
    if amax is not None:
        if not has_amax:
            raise ValueError("amax= applies to formats with a tensor amax (NVFP4; FP8 per tensor in quantize) only")
        if _is_amax_plane(amax):  # the caller's float32 array: the amax plane itself (or FP8's amax)
            cfg.amax_source = 1
            return cfg, amax, _rng_state_of(cfg, rng_state)
        # with row_amax, one value a row (a sequence); else one value
        if row_amax and isinstance(amax, (numbers.Real, np.generic)):
            raise TypeError("amax with row_amax=True is a sequence of one value a row, not a number")
        amax = [_f32("amax", v) for v in amax] if row_amax else _f32("amax", amax)
    cfg.amax_source = 0 if amax is None else 1
    return cfg, amax, _rng_state_of(cfg, rng_state)


def _rng_state_of(cfg, rng_state):
    """The view of rng_state (None without one), its address set in cfg."""
    if rng_state is None:
        return None
    state = _rng_state_view(rng_state)
    cfg.rng_state = state.ptr
    return state


def _is_amax_plane(a):
    """Whether quantize's amax= is an array of float32 (a plane used in place: read where
    it lies when the call runs, no host round trip) rather than numbers to copy in."""
    if isinstance(a, (numbers.Real, np.generic, list, tuple)):
        return False
    try:
        v = _A.view(a, "amax")
    except TypeError:
        return False
    return v is not None and v.dtype == np.float32 and not v.bf16


def quantize(x, format, tau=None, metric=None, **opts):
    """Quantize x (2-D; 1-D and N-D are viewed as [prod(leading), last]).

    x: a numpy array, a PyTorch tensor, or any object exporting DLPack or
    __cuda_array_interface__; host memory runs on the CPU backend, device memory on the
    CUDA backend on the caller's stream, and the planes come back in x's framework on
    x's device. opts: rounding='rne'|'sr', seed, offset,
    scale_rule='rceil'|'floor'|'ceil'|'even', nonfinite='nan_block'|'saturate',
    block_2d, pow2_scale, rht, rht_mask (16 bits), amax (NVFP4: use this tensor amax
    instead of computing it; a float32 array on x's device, 1 value or one a row, is
    used as q's amax plane itself, read when the call runs: no host round trip, e.g. for
    an all-reduced amax; FP8 per tensor: the scale comes from it, delayed scaling, and
    q keeps no amax), amax_out (FP8 per tensor: a float32 array of one value on x's
    device that receives the amax of x's finite values, with amax= too: delayed scaling
    records the current amax), rng_state (with rounding='sr': an array of two 64-bit
    integers {seed, offset} on x's device, read when the call runs instead of seed and
    offset, its offset advanced by one after; CUDA graph replays draw fresh bits), four_over_six=None|'mse'|'mae' (NVFP4: each block, or
    16x16 tile with block_2d on the CPU backend, scaled to 4 or 6, whichever errs less
    by that metric; docs/NUMERICS.md 4.1.1), e4m3_max=448|256 (NVFP4: the block scale
    the tensor amax maps to; 256 sets TENSOR_E4M3_MAX_256 in flags),
    row_amax (NVFP4: one tensor amax a row, row-scaled activations; q.amax then holds
    rows values and amax= takes a sequence of them; flags TENSOR_ROW_AMAX),
    compat=None|'te'|'torchao'|'torchao-rceil'|'microxcaling'|'ocp' (write that library's
    bytes: docs/COMPAT.md lists the options each profile takes),
    place=(global_row0, global_col0, global_cols) (x is that block of a larger tensor, a
    tensor-parallel shard: SR draws at the whole tensor's indices; with the global amax
    supplied the shards hold the whole tensor's bytes; docs/DISTRIBUTED.md). MoR formats take tau,
    metric='rel_l2'|'max_rel'|'mean_rel' and pow2_scale.
    """
    info = _info(format)
    xv, t = _plain(x)
    mor = _is_mor(info)
    if mor:
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
        state = None
        size_fn, run_fn = "mxb_mor_workspace_size", "mxb_mor_quantize"
    else:
        if tau is not None or metric is not None:
            raise TypeError(f"tau and metric apply to MoR formats only, not {info['name']}")
        fp8_tensor = _tensor_scale(info) == "plane"
        amax_out = opts.pop("amax_out", None)
        if amax_out is not None and not fp8_tensor:
            raise ValueError("amax_out takes the amax of an FP8 per-tensor format (NVFP4's is q.amax)")
        cfg, amax, state = _quant_config(info["has_tensor_amax"] or fp8_tensor, **opts)
        if fp8_tensor:  # no amax plane: a supplied amax lies beside the planes
            fp8_amax, amax = amax, None
        size_fn, run_fn = "mxb_quantize_workspace_size", "mxb_quantize"
    if mor:
        q = QuantizedTensor(info["name"], xv.shape[0], xv.shape[1], _like=xv)
    else:
        q = _new_quantized(info, xv.shape[0], xv.shape[1], cfg, amax, xv)
    b = q._bind()
    extra = [state] if state is not None else []
    if not mor and fp8_tensor and fp8_amax is not None:  # dst->amax: the supplied amax, read
        if _is_amax_plane(fp8_amax):
            buf = fp8_amax
        else:
            buf = _A.alloc(xv, (1,), np.float32)[0]
            buf[0] = float(fp8_amax)
        av = _check_plane("amax", buf, np.float32, 4, f"{info['name']}'s amax")
        b.desc.amax = C.cast(av.ptr, C.POINTER(C.c_float))
        extra.append(av)
    if not mor and amax_out is not None:  # cfg.amax_out: the values' amax, written
        ov = _check_plane("amax_out", amax_out, np.float32, 4, f"{info['name']}'s amax")
        cfg.amax_out = ov.ptr
        extra.append(ov)
    # rng_state's and an FP8 amax's device must be the call's
    device = _same_device([xv] + b.views + extra)
    ctx, stream = _context(device), _stream([xv])
    with _A.DeviceGuard(device):
        _quantize_call(size_fn, run_fn, ctx, cfg, t, xv, b.desc, device, stream)
        q.impl = _lib.mxb_context_last_impl(ctx).decode()
    q.flags = b.desc.flags
    return q


def _new_quantized(info, rows, cols, cfg, amax, like):
    """A QuantizedTensor of info's format on like's device, with the amax and RHT mask of
    a quantize config, for a quantization to fill: its planes are left unset (quantize
    writes every byte of them, padding included: docs/FORMATS.md)."""
    row = cfg.nvfp4_row_amax and info["has_tensor_amax"]  # an amax plane of rows values
    plane = amax is not None and _is_amax_plane(amax)  # the caller's: checked at the call
    q = QuantizedTensor(info["name"], rows, cols, TENSOR_ROW_AMAX if row else 0, amax=amax if plane else None,
                        _like=like, _zero=False)
    if plane:
        pass
    elif amax is not None and cfg.nvfp4_row_amax:
        if len(amax) != rows:
            raise ValueError(f"amax with row_amax=True holds one value a row: {rows}, not {len(amax)}")
        for i, v in enumerate(amax):
            q.amax[i] = float(v)
    elif amax is not None:
        q.amax[0] = float(amax)
    if cfg.rht.enabled:
        q.rht_mask = cfg.rht.sign_mask[0]
    return q


def quantize_pair(x, format, rowwise=None, colwise=None):
    """(rowwise, colwise) copies of x [R, C] in one call (mxb_quantize_pair): rowwise is
    quantize(x, format, **rowwise) and colwise is quantize(x.T, format, **colwise), the
    [C, R] transpose quantized along x's columns (what a training step's wgrad needs).
    rowwise and colwise are dicts of quantize options (not MoR formats)."""
    info = _info(format)
    if _is_mor(info):
        raise TypeError("quantize_pair does not take MoR formats (quantize each copy)")
    xv, t = _plain(x)
    rows, cols = xv.shape
    cfgs = [_quant_config(info["has_tensor_amax"], **(o or {})) for o in (rowwise, colwise)]
    qr = _new_quantized(info, rows, cols, cfgs[0][0], cfgs[0][1], xv)
    qc = _new_quantized(info, cols, rows, cfgs[1][0], cfgs[1][1], xv)
    br, bc = qr._bind(), qc._bind()
    states = [c[2] for c in cfgs if c[2] is not None]  # their device must be the call's
    device = _same_device([xv] + br.views + bc.views + states)
    ctx, stream = _context(device), _stream([xv])
    ws = C.c_size_t()
    with _A.DeviceGuard(device):
        _call("mxb_quantize_pair_workspace_size", ctx, C.byref(cfgs[0][0]), C.byref(cfgs[1][0]), t,
              C.byref(br.desc), C.byref(bc.desc), C.byref(ws))
        w = _A.alloc(xv if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
        _call("mxb_quantize_pair", ctx, C.byref(cfgs[0][0]), C.byref(cfgs[1][0]), t, _ptr(xv), C.byref(br.desc),
              C.byref(bc.desc), _ptr(w), C.c_size_t(ws.value), stream)
        impl = _lib.mxb_context_last_impl(ctx).decode()
    qr.flags, qc.flags, qr.impl, qc.impl = br.desc.flags, bc.desc.flags, impl, impl
    return qr, qc


def transpose_quantized(q):
    """The exact transpose of an NVFP4 or MX tensor quantized with block_2d=True
    (mxb_transpose_quantized): [cols, rows], the same bytes as quantizing x.T with
    block_2d=True, on q's device."""
    b = _check_tensor("q", q)
    out = QuantizedTensor(q.format, q.cols, q.rows, q.flags, rht_mask=q.rht_mask, _like=b.views[0])
    bo = out._bind()
    with _A.DeviceGuard(b.device):
        _call("mxb_transpose_quantized", _context(b.device), C.byref(b.desc), C.byref(bo.desc), _stream(b.views))
    out.flags = bo.desc.flags
    return out


_AXES = {"cols": 0, "rows": 1}


def rht(x, inverse=False, axis="cols", mask=None, dtype=np.float32):
    """The random Hadamard transform (mxb_rht, docs/TRANSFORMS.md) of x (2-D): the default
    16-point transform (sign mask mask, 16 bits; None: the library's default) on aligned
    chunks of 16 along axis ("cols": within each row, as quantize(rht=True) applies it;
    "rows": down each column); inverse=True undoes it. dtype: float32 or bf16 (rounded
    to nearest even from the fp32 result).
    Returns a new array in x's framework and on its device."""
    xv, t = _plain(x)
    r = _rht_struct(mask)
    r.enabled = 1
    ot, npdt, as_bf16 = _result_dtype("dtype", dtype, _DTYPES, xv.fw)
    out, ov = _A.alloc(xv, xv.shape, npdt, bf16=as_bf16)
    device = _same_device([xv, ov])
    with _A.DeviceGuard(device):
        _call("mxb_rht", _context(device), C.byref(r), int(bool(inverse)), _choice("axis", _AXES, axis),
              C.c_int64(xv.shape[0]), C.c_int64(xv.shape[1]), t, _ptr(xv), ot, _ptr(ov), _stream([xv]))
    return out


def _quantize_call(size_fn, run_fn, ctx, cfg, t, xv, desc, device, stream):
    ws = C.c_size_t()
    _call(size_fn, ctx, C.byref(cfg), t, C.byref(desc), C.byref(ws))
    w = _A.alloc(xv if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
    _call(run_fn, ctx, C.byref(cfg), t, _ptr(xv), C.byref(desc), _ptr(w), C.c_size_t(ws.value), stream)


def dequantize_supported(format, device=None):
    """Whether dequantize of format runs on device's backend (None: the CPU backend; an
    int: that CUDA device). The CUDA backend does not dequantize every format (MoR)."""
    info = _info(format)
    s = C.c_int()
    with _A.DeviceGuard(device):
        _call("mxb_dequantize_supported", _context(device), info["format"], C.byref(s))
    return bool(s.value)


def dequantize(q, dtype=np.float32):
    """Decode q to float32 (or float16, or bf16: np.uint16 bits, ml_dtypes.bfloat16,
    torch.bfloat16), in the framework and on the device of q's planes. RHT is not undone."""
    b = _check_tensor("q", q)
    like = b.views[0]
    t, npdt, as_bf16 = _result_dtype("dtype", dtype, _DTYPES, like.fw)
    out, ov = _A.alloc(like, (q.rows, q.cols), npdt, bf16=as_bf16)
    ctx = _context(b.device)
    with _A.DeviceGuard(b.device):
        _call("mxb_dequantize", ctx, C.byref(b.desc), t, _ptr(ov), _stream(b.views))
    return out


_GEMM_OUT_DTYPES = {np.dtype(np.float32): DTYPE_FP32, np.dtype(np.float16): DTYPE_FP16,
                    np.dtype(np.uint16): DTYPE_BF16}


def _gemm_scalar(desc, name, v):
    """alpha or beta: a real number, or a one-element float32 array on the operands' device,
    read when the GEMM runs (pointer mode: desc.alpha_ptr / beta_ptr, docs/GEMM.md)."""
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
        return _f32(name, v)
    sv = _A.view(v, name) if not isinstance(v, (bool, np.bool_, type(None))) else None
    if sv is None:
        raise TypeError(f"{name} must be a real number or a one-element float32 array, not {type(v).__name__}")
    if sv.dtype != np.dtype(np.float32) or sv.bf16 or int(np.prod(sv.shape)) != 1:
        raise ValueError(f"{name} as an array (read when the GEMM runs) must hold one float32 value, "
                         f"not {'bfloat16' if sv.bf16 else sv.dtype} of shape {tuple(sv.shape)}")
    setattr(desc, name + "_ptr", sv.ptr)
    desc._scalars.append(sv)
    return 0.0


def _gemm_desc(a, b, mode, alpha, beta, out_dtype, bias=None, activation="none"):
    """(bound a, bound b, descriptor, C's numpy dtype, C as bf16, the bias's view or None)
    of a GEMM's arguments."""
    if not isinstance(a, QuantizedTensor) or not isinstance(b, QuantizedTensor):
        raise TypeError("gemm takes two QuantizedTensor operands (quantize A [M,K] and B [N,K])")
    ba, bb = a._bind(), b._bind()
    desc = _GemmDesc()
    load_library().mxb_gemm_desc_init(C.byref(desc))
    desc.mode = _choice("mode", {"exact": 0, "fast": 1}, mode)
    desc.c_type, dt, as_bf16 = _result_dtype("out_dtype", out_dtype, _GEMM_OUT_DTYPES, ba.views[0].fw)
    desc._scalars = []  # pointer mode: the arrays read when the GEMM runs, kept alive with desc
    desc.alpha = _gemm_scalar(desc, "alpha", alpha)
    desc.beta = _gemm_scalar(desc, "beta", beta)
    desc.activation = _choice("activation", _ACTIVATIONS, activation)
    bv = None
    if bias is not None:
        bv, desc.bias_type = _plain(bias)
        if bv.shape != (1, b.rows):
            raise ValueError(f"bias must hold N = {b.rows} values (one per row of B), not shape {tuple(bv.shape)}")
        desc.bias = bv.ptr
    return ba, bb, desc, dt, as_bf16, bv


def _gemm_out(c, like, shape, dt, as_bf16):
    """(c, its view): a new zero C like A's planes, or the caller's c after checking it."""
    if c is None:
        return _A.alloc(like, shape, dt, bf16=as_bf16, zero=True)
    cv = _A.view(c, "c")
    if cv is None:
        raise TypeError(f"c must be {_ARRAY_KINDS}, not {type(c).__name__}")
    if cv.shape != shape or cv.dtype != dt or not cv.contiguous or cv.ptr % dt.alignment or cv.readonly:
        raise ValueError(f"c must be a C-contiguous, aligned, writeable {dt} array of shape {shape}")
    return c, cv


def gemm(a, b, mode="exact", alpha=1.0, beta=0.0, c=None, out_dtype=np.float32, bias=None, activation="none",
         pre_activation=False):
    """C = act(alpha * A @ B^T + beta * C + bias), with A [M, K] and B [N, K] quantized along K.

    To multiply by a [K, N] matrix W, quantize W.T (its rows run along K). C comes back
    in the framework and on the device of A's planes (c, if given, is written in place).
    bias: N values (float32, float16 or bfloat16) on the same device, added to every row;
    activation: "none", "relu", "relu2" (squared ReLU), "gelu_erf", "gelu_tanh" or "silu";
    or gated, "swiglu", "geglu_erf" or "geglu_tanh": the first N/2
    columns of the pre-activation gate the last N/2, and C is [M, N/2] (beta must be 0)
    (docs/GEMM.md, "Epilogue"). out_dtype: float32, float16 or bfloat16.
    pre_activation=True returns (C, P): P [M, N] the pre-activation
    alpha * A @ B^T + beta * C + bias in out_dtype, for the backward pass.
    """
    ba, bb, desc, dt, as_bf16, bv = _gemm_desc(a, b, mode, alpha, beta, out_dtype, bias, activation)
    like = ba.views[0]
    c, cv = _gemm_out(c, like, (a.rows, b.rows // 2 if activation in _GATED else b.rows), dt, as_bf16)
    p = pv = None
    if pre_activation:
        p, pv = _gemm_out(None, like, (a.rows, b.rows), dt, as_bf16)
        desc.aux = _ptr(pv)
    device = _same_device(ba.views + bb.views + [cv, bv, pv] + desc._scalars)
    ctx, stream = _context(device), _stream(ba.views + bb.views + [cv])
    ws = C.c_size_t()
    with _A.DeviceGuard(device):
        _call("mxb_gemm_workspace_size", ctx, C.byref(desc), C.byref(ba.desc), C.byref(bb.desc), C.byref(ws))
        w = _A.alloc(like if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
        _call("mxb_gemm", ctx, C.byref(desc), C.byref(ba.desc), C.byref(bb.desc), _ptr(cv), _ptr(w),
              C.c_size_t(ws.value), stream)
    return (c, p) if pre_activation else c


def gemm_quantized(a, b, format, mode="exact", alpha=1.0, bias=None, activation="none", **opts):
    """C written quantized (mxb_gemm_quantized, docs/GEMM.md "Quantized output"): the
    QuantizedTensor that quantize(gemm(a, b, mode, alpha, bias=bias, activation=activation),
    format, **opts) gives (the same bytes), without the float32 C in between in the caller's
    memory. opts: quantize's options (rounding, seed, rht, four_over_six, block_2d, amax
    to supply NVFP4's tensor amax, ...)."""
    info = _info(format)
    if _is_mor(info):
        raise TypeError("gemm_quantized does not write MoR formats")
    ba, bb, desc, _, _, bv = _gemm_desc(a, b, mode, alpha, 0.0, np.float32, bias, activation)
    cfg, amax, state = _quant_config(info["has_tensor_amax"], **opts)
    like = ba.views[0]
    q = _new_quantized(info, a.rows, b.rows // 2 if activation in _GATED else b.rows, cfg, amax, like)
    bq = q._bind()
    device = _same_device(ba.views + bb.views + bq.views + [bv] + desc._scalars +
                          ([state] if state is not None else []))
    ctx, stream = _context(device), _stream(ba.views + bb.views)
    ws = C.c_size_t()
    with _A.DeviceGuard(device):
        _call("mxb_gemm_quantized_workspace_size", ctx, C.byref(desc), C.byref(cfg), C.byref(ba.desc),
              C.byref(bb.desc), C.byref(bq.desc), C.byref(ws))
        w = _A.alloc(like if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
        _call("mxb_gemm_quantized", ctx, C.byref(desc), C.byref(cfg), C.byref(ba.desc), C.byref(bb.desc),
              C.byref(bq.desc), _ptr(w), C.c_size_t(ws.value), stream)
        q.impl = _lib.mxb_context_last_impl(ctx).decode()
    q.flags = bq.desc.flags
    return q


class GemmPlan:
    """A GEMM planned once (mxb_gemm_plan_create, docs/GEMM.md "Plans") for operands with
    the formats, shapes and flags of a and b, on their device: .path names the path every
    call takes and .workspace_size its workspace, before any call. Call the plan with such
    operands (plan(a, b, c=None)) as often as needed; the mode, alpha, beta and out_dtype
    are the plan's. alignment: the bytes every plane of A and B will be aligned to;
    max_workspace: the most workspace bytes a call may use (0: no limit)."""

    def __init__(self, a, b, mode="exact", alpha=1.0, beta=0.0, out_dtype=np.float32, alignment=16,
                 max_workspace=0):
        self._plan = None
        ba, bb, self._desc, self._dt, self._bf16, _ = _gemm_desc(a, b, mode, alpha, beta, out_dtype)
        self.device = _same_device(ba.views + bb.views + self._desc._scalars)
        prefs = _GemmPlanPrefs()
        lib = load_library()
        lib.mxb_gemm_plan_prefs_init(C.byref(prefs))
        prefs.alignment = _int("alignment", alignment, 1, 2**63, "a size_t")
        prefs.max_workspace = _int("max_workspace", max_workspace, 0, 2**63, "a size_t")
        plan = C.c_void_p()
        with _A.DeviceGuard(self.device):
            _call("mxb_gemm_plan_create", _context(self.device), C.byref(self._desc), C.byref(ba.desc),
                  C.byref(bb.desc), C.byref(prefs), C.byref(plan))
        self._plan, self._lib = plan, lib
        self.shape = (a.rows, b.rows)
        self.path = lib.mxb_gemm_plan_path(plan).decode()
        ws = C.c_size_t()
        _call("mxb_gemm_plan_workspace_size", plan, C.byref(ws))
        self.workspace_size = ws.value

    def __call__(self, a, b, c=None):
        if self._plan is None:
            raise ValueError("the plan was closed")
        ba, bb = _check_tensor("a", a), _check_tensor("b", b)
        like = ba.views[0]
        c, cv = _gemm_out(c, like, (a.rows, b.rows), self._dt, self._bf16)
        views = ba.views + bb.views + [cv]
        device = _same_device(views)
        if device != self.device:
            raise ValueError(f"the plan was made for {'the host' if self.device is None else f'cuda:{self.device}'}"
                             f", the operands are on {'the host' if device is None else f'cuda:{device}'}")
        n = self.workspace_size
        with _A.DeviceGuard(device):
            w = _A.alloc(like if device is not None else None, (n,), np.uint8)[1] if n else None
            _call("mxb_gemm_plan_execute", self._plan, C.byref(ba.desc), C.byref(bb.desc), _ptr(cv), _ptr(w),
                  C.c_size_t(n), _stream(views))
        return c

    def close(self):
        """Release the plan (also done when it is garbage-collected)."""
        if self._plan is not None:
            self._lib.mxb_gemm_plan_destroy(self._plan)
            self._plan = None

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"GemmPlan(path={self.path!r}, workspace_size={self.workspace_size})"


def _index_view(name, a, what):
    """The view of a 1-D C-contiguous int32/int64 array (or None for None)."""
    if a is None:
        return None
    v = _A.view(a, name)
    if v is None:
        raise TypeError(f"{name} must be {_ARRAY_KINDS}, not {type(a).__name__}")
    if v.dtype not in (np.dtype(np.int32), np.dtype(np.int64)) or len(v.shape) != 1 or not v.contiguous:
        raise ValueError(f"{name} must be a 1-D contiguous int32 or int64 array ({what})")
    return v


def _group_amax_view(name, a, groups):
    """The view of a contiguous float32 array of the groups' tensor amaxes."""
    v = _A.view(a, name)
    if v is None or v.dtype != np.dtype(np.float32) or v.bf16 or v.shape != (groups,) or not v.contiguous:
        raise ValueError(f"{name} must be a contiguous float32 array of the {groups} groups' values")
    return v


def _grouped_desc(layout, groups, iv, status):
    """(descriptor, status view) of a grouped call: the layout, the groups, the index
    view iv and the optional one-element int32 status array."""
    sv = None
    if status is not None:
        sv = _A.view(status, "status")
        if sv is None or sv.dtype != np.dtype(np.int32) or sv.shape not in ((1,), (1, 1)) or sv.readonly:
            raise ValueError("status must be a writeable int32 array of one element")
    desc = _GroupedDesc()
    load_library().mxb_grouped_gemm_desc_init(C.byref(desc))
    desc.layout, desc.groups = layout, groups
    desc.index_bits = 32 if iv.dtype == np.dtype(np.int32) else 64
    desc.index, desc.status = iv.ptr, (sv.ptr if sv is not None else None)
    return desc, sv


def _grouped_output(info, rows, cols, groups, like, group_amax, opts):
    """What a grouped quantization writes: (the QuantizedTensor on like's device, its
    bound planes, the quantize config of opts, the SR state view, the view of the groups'
    amaxes, the amax array): NVFP4's E amaxes are group_amax, supplied, or new zeros for
    the call to compute."""
    cfg, _, state = _quant_config(info["has_tensor_amax"], **opts)
    if group_amax is not None and not info["has_tensor_amax"]:
        raise ValueError(f"group_amax applies to formats with a tensor amax (NVFP4), not {info['name']}")
    q = QuantizedTensor(info["name"], rows, cols, _like=like)
    if cfg.rht.enabled:
        q.rht_mask = cfg.rht.sign_mask[0]
    b = q._bind()
    av = None
    if info["has_tensor_amax"]:
        if group_amax is None:
            group_amax, av = _A.alloc(like, (groups,), np.float32, zero=True)
        else:
            av = _group_amax_view("group_amax", group_amax, groups)
            cfg.amax_source = 1
        b.desc.amax = C.cast(av.ptr, C.POINTER(C.c_float))
    return q, b, cfg, state, av, group_amax


def grouped_quantize(x, index, format, layout="contiguous", status=None, group_amax=None, **opts):
    """The routed rows of x quantized group by group in one call (mxb_grouped_quantize,
    docs/GEMM.md "Grouped quantize"): each group's rows get the bytes quantize() gives them
    alone, so NVFP4 takes an amax per group. index and layout place the groups as for
    grouped_gemm ("contiguous" offsets or "masked" counts); rows outside every group, and
    those of a bad group (reported through status, as grouped_gemm does), stay zero.
    Returns the QuantizedTensor; for NVFP4 its group_amax attribute holds the E amaxes
    (float32, on x's device) that grouped_gemm(..., a_group_amax=q.group_amax) reads.
    group_amax: the E amaxes to use instead of computing them (a previous step's).
    opts: quantize's options; not stochastic rounding, block_2d or MoR formats. On a CUDA
    device: NVFP4 (round to nearest, the 16-point RHT or none) and the MX formats (round to
    nearest) with rows of whole blocks and 16-byte aligned rows, so far."""
    info = _info(format)
    if _is_mor(info):
        raise TypeError("grouped_quantize does not take MoR formats")
    if "amax" in opts:
        raise TypeError("grouped_quantize takes the groups' amaxes as group_amax=, not amax=")
    lay = _choice("layout", _GROUPED_LAYOUTS, layout)
    if lay == _GROUPED_LAYOUTS["k_split"]:
        raise ValueError("grouped_quantize takes the row layouts, contiguous and masked")
    masked = lay == _GROUPED_LAYOUTS["masked"]
    iv = _index_view("index", index, "E counts" if masked else "E + 1 offsets")
    groups = iv.shape[0] if masked else iv.shape[0] - 1
    if groups < 1:
        raise ValueError("index must describe at least one group")
    xv, t = _plain(x)
    q, b, cfg, state, av, group_amax = _grouped_output(info, xv.shape[0], xv.shape[1], groups, xv, group_amax, opts)
    desc, sv = _grouped_desc(lay, groups, iv, status)
    device = _same_device([xv, iv, sv, av] + b.views + ([state] if state is not None else []))
    ctx, stream = _context(device), _stream([xv])
    ws = C.c_size_t()
    with _A.DeviceGuard(device):
        _call("mxb_grouped_quantize_workspace_size", ctx, C.byref(desc), C.byref(cfg), t, C.byref(b.desc),
              C.byref(ws))
        w = _A.alloc(xv if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
        _call("mxb_grouped_quantize", ctx, C.byref(desc), C.byref(cfg), t, _ptr(xv), C.byref(b.desc), _ptr(w),
              C.c_size_t(ws.value), stream)
        q.impl = _lib.mxb_context_last_impl(ctx).decode()
    q.flags = b.desc.flags
    q.group_amax = group_amax if info["has_tensor_amax"] else None
    return q


def grouped_gemm(a, b, index, layout="contiguous", mode="exact", alpha=1.0, beta=0.0, c=None,
                 out_dtype=np.float32, bias=None, activation="none", status=None, expert_scales=None,
                 a_group_amax=None, pre_activation=False):
    """Mixture-of-experts GEMM (mxb_grouped_gemm, docs/GEMM.md "Grouped GEMM"): for every
    row r of group e, C[r] = act(alpha * A[r] @ B_e^T + beta * C[r] + bias_e).

    b holds the E experts stacked, [E * N, K] (expert e is rows e*N .. (e+1)*N - 1).
    index (int32 or int64, on A's device, read there without a sync) places the groups:
    layout "contiguous": E + 1 offsets, group e is A's rows offsets[e] .. offsets[e+1] - 1;
    "masked": E counts, A is [E * max_m, K] and group e is rows e*max_m .. e*max_m + counts[e] - 1.
    C is [M, N]; rows outside every group are left as they were (zeros in a new C).
    "k_split" (weight gradients): E + 1 offsets split K, the tokens; a is
    dY^T [M, T] and b is X^T [N, T] (not stacked), both quantized along T, and C is the E
    results stacked, [E * M, N]: C[e*M:(e+1)*M] = alpha * A[:, k_e] @ B[:, k_e]^T + ...
    over the columns k_e = offsets[e] .. offsets[e+1] - 1 (docs/GEMM.md).
    bias: E * N values (expert e's at e*N). status: an optional int32 array of one element on
    the same device, set to 0, or to 1 + the first group whose offsets or count are out of
    range (its rows are not written). Exact mode gives, group by group, the bits of gemm().
    expert_scales: where b's format has one tensor value (NVFP4's amax, FP8's per-tensor
    scale_inv), the experts' E values (float32, on the device), used instead of b's own;
    required when E > 1.
    a_group_amax: an NVFP4 a's per-group amaxes (grouped_quantize's q.group_amax): group
    e's rows use the e-th (the row layouts).
    pre_activation=True (the row layouts) returns (C, P): P [M, N] the pre-activation
    alpha * A @ B_e^T + beta * C + bias_e of every group's rows in out_dtype (zeros
    elsewhere), for the backward pass.
    """
    g = _grouped_setup(a, b, index, layout, mode, alpha, beta, out_dtype, bias, activation, status, expert_scales,
                       a_group_amax)
    like = g.ba.views[0]
    c, cv = _gemm_out(c, like, (g.groups * a.rows if g.split_k else a.rows, g.n // 2 if activation in _GATED else g.n),
                      g.dt, g.as_bf16)
    p = pv = None
    if pre_activation:
        if g.split_k:
            raise ValueError("pre_activation applies to the row layouts, not k_split")
        p, pv = _gemm_out(None, like, (a.rows, g.n), g.dt, g.as_bf16)
        g.gd.aux = _ptr(pv)
    device = _same_device(g.views + [cv, pv])
    ctx, stream = _context(device), _stream(g.ba.views + g.bb.views + [cv])
    ws = C.c_size_t()
    with _A.DeviceGuard(device):
        _call("mxb_grouped_gemm_workspace_size", ctx, C.byref(g.desc), C.byref(g.ba.desc), C.byref(g.bb.desc),
              C.byref(ws))
        w = _A.alloc(like if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
        _call("mxb_grouped_gemm", ctx, C.byref(g.desc), C.byref(g.ba.desc), C.byref(g.bb.desc), _ptr(cv), _ptr(w),
              C.c_size_t(ws.value), stream)
    return (c, p) if pre_activation else c


class _Grouped:
    """A grouped call's checked arguments: the bound operands, the GEMM and group
    descriptors, C's dtype, N per expert, and the views whose device must be the call's."""


def _grouped_setup(a, b, index, layout, mode, alpha, beta, out_dtype, bias, activation, status, expert_scales,
                   a_group_amax):
    lay = _choice("layout", _GROUPED_LAYOUTS, layout)
    split_k = lay == _GROUPED_LAYOUTS["k_split"]
    iv = _index_view("index", index, "E counts" if lay == _GROUPED_LAYOUTS["masked"] else "E + 1 offsets")
    groups = iv.shape[0] if lay == _GROUPED_LAYOUTS["masked"] else iv.shape[0] - 1
    if groups < 1:
        raise ValueError("index must describe at least one group")
    ba, bb, gd, dt, as_bf16, bv = _gemm_desc(a, b, mode, alpha, beta, out_dtype, bias, activation)
    if not split_k and b.rows % groups:
        raise ValueError(f"b has {b.rows} rows, not a whole number of rows for each of {groups} experts")
    n = b.rows if split_k else b.rows // groups
    info = _info(b.format)
    per_tensor = None if split_k else _tensor_scale(info)  # K split: A's and B's own scales
    ev = None
    if expert_scales is not None and split_k:
        raise ValueError("expert_scales applies to the stacked-expert layouts, not k_split")
    if expert_scales is not None:
        if not per_tensor:
            raise ValueError(f"expert_scales: {info['name']} has no tensor scale (its block scales are per expert)")
        ev = _A.view(expert_scales, "expert_scales")
        if ev is None or ev.dtype != np.dtype(np.float32) or ev.bf16 or ev.shape != (groups,) or not ev.contiguous:
            raise ValueError(f"expert_scales must be a contiguous float32 array of the {groups} experts' values")
        if per_tensor == "amax":
            bb.desc.amax = C.cast(ev.ptr, C.POINTER(C.c_float))
        else:
            bb.desc.scales = ev.ptr
    elif per_tensor and groups > 1:
        raise ValueError(f"b ({info['name']}) has one tensor scale, the grouped GEMM one per expert: "
                         f"pass expert_scales with the {groups} experts' values")
    desc, sv = _grouped_desc(lay, groups, iv, status)
    desc.gemm = C.pointer(gd)
    gv = None
    if a_group_amax is not None:
        if split_k or not _info(a.format)["has_tensor_amax"]:
            raise ValueError("a_group_amax applies to an NVFP4 a in the row layouts")
        gv = _group_amax_view("a_group_amax", a_group_amax, groups)
        ba.desc.amax = C.cast(gv.ptr, C.POINTER(C.c_float))
        desc.a_group_scales = 1
    g = _Grouped()
    g.ba, g.bb, g.gd, g.desc, g.dt, g.as_bf16 = ba, bb, gd, desc, dt, as_bf16
    g.groups, g.n, g.split_k, g.lay, g.iv = groups, n, split_k, lay, iv
    g.views = ba.views + bb.views + [bv, iv, sv, ev, gv] + gd._scalars
    return g


def grouped_gemm_quantized(a, b, index, format, layout="contiguous", mode="exact", alpha=1.0, bias=None,
                           activation="none", status=None, expert_scales=None, a_group_amax=None, group_amax=None,
                           **opts):
    """grouped_gemm with C written quantized group by group (mxb_grouped_gemm_quantized):
    the QuantizedTensor grouped_quantize(grouped_gemm(...), index, format, ...) gives (the
    same bytes), without the float32 C in the caller's memory; for NVFP4 its group_amax
    holds the E amaxes the next grouped_gemm reads as a_group_amax (an MoE layer's
    SwiGLU output quantized for its down projection). The row layouts; beta 0. opts and
    group_amax: as for grouped_quantize."""
    info = _info(format)
    if _is_mor(info):
        raise TypeError("grouped_gemm_quantized does not write MoR formats")
    if "amax" in opts:
        raise TypeError("grouped_gemm_quantized takes the groups' amaxes as group_amax=, not amax=")
    g = _grouped_setup(a, b, index, layout, mode, alpha, 0.0, np.float32, bias, activation, status, expert_scales,
                       a_group_amax)
    if g.split_k:
        raise ValueError("grouped_gemm_quantized takes the row layouts, contiguous and masked")
    cols = g.n // 2 if activation in _GATED else g.n
    like = g.ba.views[0]
    q, qb, cfg, state, av, group_amax = _grouped_output(info, a.rows, cols, g.groups, like, group_amax, opts)
    device = _same_device(g.views + qb.views + [av] + ([state] if state is not None else []))
    ctx, stream = _context(device), _stream(g.ba.views + g.bb.views)
    ws = C.c_size_t()
    with _A.DeviceGuard(device):
        _call("mxb_grouped_gemm_quantized_workspace_size", ctx, C.byref(g.desc), C.byref(cfg), C.byref(g.ba.desc),
              C.byref(g.bb.desc), C.byref(qb.desc), C.byref(ws))
        w = _A.alloc(like if device is not None else None, (ws.value,), np.uint8)[1] if ws.value else None
        _call("mxb_grouped_gemm_quantized", ctx, C.byref(g.desc), C.byref(cfg), C.byref(g.ba.desc),
              C.byref(g.bb.desc), C.byref(qb.desc), _ptr(w), C.c_size_t(ws.value), stream)
        q.impl = _lib.mxb_context_last_impl(ctx).decode()
    q.flags = qb.desc.flags
    q.group_amax = group_amax if info["has_tensor_amax"] else None
    return q


def _to_host(a):
    """A host copy of a device array (PyTorch or CuPy), or a itself."""
    if a is None:
        return None
    v = _A.view(a, "array")
    if v is None or v.device is None:
        return a
    if _A._is_torch(a):
        return a.detach().cpu()
    if _A._is_cupy(a):
        return a.get()
    raise TypeError("error_stats reads device arrays through PyTorch or CuPy only")


def error_stats(x, q):
    """NUMERICS 8 statistics of q against x, the tensor q was quantized from (any dtype
    quantize takes). For a tensor quantized with RHT the reference is RHT(x) with the same
    signs: the statistics are taken in the transformed domain, where q's values live.
    The statistics are computed on the host: device arguments are copied there first."""
    if isinstance(q, QuantizedTensor) and q.device is not None:
        q = QuantizedTensor(q.format, q.rows, q.cols, q.flags, rht_mask=q.rht_mask,
                            **{n: _to_host(getattr(q, n)) for n in ("data", "scales", "aux", "amax")})
        x = _to_host(x)
    desc = _check_tensor("q", q).desc
    xv, t = _plain(_to_host(x))
    if xv.shape != q.shape:
        raise ValueError(f"x has shape {xv.shape}, q is [{q.rows}, {q.cols}]")
    x = _as_fp32(xv.host, t)
    if desc.flags & TENSOR_RHT:
        rht, xr = _rht_struct(q.rht_mask), np.empty_like(x)
        _call("mxb_rht", _context(None), C.byref(rht), 0, 0, C.c_int64(q.rows), C.c_int64(q.cols), DTYPE_FP32,
              x.ctypes.data_as(C.c_void_p), DTYPE_FP32, xr.ctypes.data_as(C.c_void_p), None)
        x = xr
    st = _ErrorStats()
    st.struct_size = C.sizeof(st)
    _call("mxb_error_stats", x.ctypes.data_as(C.POINTER(C.c_float)), C.byref(desc), C.byref(st))
    out = {name: getattr(st, name) for name, _ in _ErrorStats._fields_
           if name not in ("struct_size", "scale_code_hist")}
    out["scale_code_hist"] = np.ctypeslib.as_array(st.scale_code_hist).copy()
    return out
