"""Arrays of any framework, without copies: numpy, PyTorch, objects exporting DLPack
(__dlpack__) or the CUDA array interface (__cuda_array_interface__).

_view(x) describes an argument as a _View: for host memory a numpy array sharing the
caller's memory; for device memory a pointer, dtype, shape and strides, its CUDA device
and the stream its producer orders work on. _alloc makes a result in the caller's
framework on the caller's device. Frameworks are never imported here unless the caller
passed one of their objects (PyTorch, CuPy), so numpy alone is enough.

bf16 has no numpy dtype: it is np.uint16 (the bit patterns) inside the binding, and
torch.bfloat16 / ml_dtypes.bfloat16 at the edges.
"""
import ctypes as C
import math
import sys

import numpy as np

BF16 = np.dtype(np.uint16)  # bf16 bit patterns, the binding's internal bf16


def _torch():
    return sys.modules.get("torch")


def _is_torch(x):
    t = _torch()
    return t is not None and isinstance(x, t.Tensor)


def _is_cupy(x):
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(x, cp.ndarray)


def _ml_bf16():
    """ml_dtypes.bfloat16 as a numpy dtype, or None. A caller holding such an array or dtype
    has imported ml_dtypes already, so it is never imported here."""
    ml = sys.modules.get("ml_dtypes")
    return None if ml is None else np.dtype(ml.bfloat16)


_TORCH_DTYPES = {}


def _torch_np_dtype(dt):
    """(numpy dtype, is bf16) of a torch dtype (bf16 as uint16 bits); TypeError if unsupported."""
    if not _TORCH_DTYPES:
        t = _torch()
        _TORCH_DTYPES.update({t.float32: (np.dtype(np.float32), False), t.float16: (np.dtype(np.float16), False),
                              t.bfloat16: (BF16, True), t.float64: (np.dtype(np.float64), False),
                              t.uint8: (np.dtype(np.uint8), False), t.int8: (np.dtype(np.int8), False),
                              t.int16: (np.dtype(np.int16), False), t.int32: (np.dtype(np.int32), False),
                              t.int64: (np.dtype(np.int64), False)})
    try:
        return _TORCH_DTYPES[dt]
    except KeyError:
        raise TypeError(f"unsupported dtype {dt}") from None


def _host_ptr(a):
    """The address of a numpy array's data (through ctypes where the buffer allows: several
    times faster than __array_interface__, which a small call would notice)."""
    try:
        return C.addressof(C.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):  # read-only, strided or empty
        return a.__array_interface__["data"][0]


class _View:
    """host: a numpy array over the caller's memory (None on a device). On a device:
    ptr, shape, strides (in elements), dtype (np; bf16 as uint16), device, stream."""

    __slots__ = ("host", "ptr", "shape", "strides", "dtype", "bf16", "device", "stream", "fw", "keep",
                 "readonly")

    def __init__(self, fw, host=None, ptr=0, shape=(), strides=None, dtype=None, bf16=False, device=None,
                 stream=0, keep=None, readonly=False):
        self.fw, self.host, self.bf16, self.keep, self.readonly = fw, host, bf16, keep, readonly
        if host is not None:  # (strides are asked of host.flags where needed)
            self.ptr, self.shape, self.dtype = _host_ptr(host), host.shape, host.dtype
            self.strides, self.device, self.readonly = None, None, not host.flags.writeable
        else:
            self.ptr, self.shape, self.strides, self.dtype = ptr, tuple(shape), strides, np.dtype(dtype)
            self.device, self.stream = device, stream

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def contiguous(self):
        if self.host is not None:
            return self.host.flags.c_contiguous
        if self.strides is None:
            return True
        expect = 1
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != expect:
                return False
            expect *= n
        return True


# DLPack (dlpack.h): DLDevice {int32 type, int32 id}; DLDataType {uint8 code, bits, uint16 lanes}
class _DLDevice(C.Structure):
    _fields_ = [("device_type", C.c_int32), ("device_id", C.c_int32)]


class _DLDataType(C.Structure):
    _fields_ = [("code", C.c_uint8), ("bits", C.c_uint8), ("lanes", C.c_uint16)]


class _DLTensor(C.Structure):
    _fields_ = [("data", C.c_void_p), ("device", _DLDevice), ("ndim", C.c_int32), ("dtype", _DLDataType),
                ("shape", C.POINTER(C.c_int64)), ("strides", C.POINTER(C.c_int64)),
                ("byte_offset", C.c_uint64)]


_DL_CPU, _DL_CUDA = 1, 2
_DL_DTYPES = {(0, 8): np.int8, (0, 16): np.int16, (0, 32): np.int32, (0, 64): np.int64,
              (1, 8): np.uint8, (1, 16): np.uint16, (1, 32): np.uint32,
              (2, 16): np.float16, (2, 32): np.float32, (2, 64): np.float64}
_DL_BF16 = (4, 16)


_LIB, _CUDA = None, False


def set_library(lib, cuda):
    """The loaded libmxblas, and whether it has the CUDA backend (the package calls this)."""
    global _LIB, _CUDA
    _LIB, _CUDA = lib, cuda


def _require_cuda():
    if not _CUDA:
        raise OSError("device arrays need libmxblas built with CUDA; this one is CPU-only "
                      "(pip install . on a machine with nvcc and a GPU, or MXBLAS_CUDA=1)")


def _dlpack_cuda(x):
    """A CUDA DLPack producer, read through its capsule without consuming it: the capsule
    (kept alive by the _View) still owns the tensor and frees it when dropped."""
    _require_cuda()
    stream = 1  # we run on the legacy default stream; the producer orders its work before it
    try:
        cap = x.__dlpack__(stream=stream)
    except TypeError:
        cap = x.__dlpack__()
    get = C.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = C.c_void_p, [C.py_object, C.c_char_p]
    t = _DLTensor.from_address(get(cap, b"dltensor"))  # DLManagedTensor starts with its DLTensor
    code = (t.dtype.code, t.dtype.bits)
    if t.dtype.lanes != 1 or (code not in _DL_DTYPES and code != _DL_BF16):
        raise TypeError(f"unsupported DLPack dtype (code {t.dtype.code}, {t.dtype.bits} bits, "
                        f"{t.dtype.lanes} lanes)")
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    return _View("dlpack", ptr=(t.data or 0) + t.byte_offset, shape=shape, strides=strides,
                 dtype=BF16 if code == _DL_BF16 else _DL_DTYPES[code], bf16=code == _DL_BF16,
                 device=t.device.device_id, stream=0, keep=(x, cap))


def _cai(x):
    """An object with __cuda_array_interface__ (CuPy, Numba, JAX on one GPU)."""
    _require_cuda()
    a = x.__cuda_array_interface__
    dt = np.dtype(a["typestr"])
    strides = a.get("strides")
    if strides is not None:
        if any(s % dt.itemsize for s in strides):
            raise ValueError("strides that are not a multiple of the element size")
        strides = tuple(s // dt.itemsize for s in strides)
    if _is_cupy(x):
        device, stream = x.device.id, sys.modules["cupy"].cuda.get_current_stream().ptr
    else:
        device, stream = _pointer_device(a["data"][0]), a.get("stream") or 0
    return _View("cupy" if _is_cupy(x) else "cai", ptr=a["data"][0], shape=a["shape"], strides=strides,
                 dtype=dt, device=device, stream=stream, keep=x, readonly=bool(a["data"][1]))


def _torch_view(x):
    t = _torch()
    x = x.detach()  # requires_grad tensors are read, never differentiated through
    dt, bf16 = _torch_np_dtype(x.dtype)
    if x.device.type == "cpu":
        h = x.view(t.int16).numpy().view(np.uint16) if bf16 else x.numpy()
        return _View("torch", host=h, bf16=bf16, keep=x)
    if x.device.type != "cuda":
        raise TypeError(f"tensors on {x.device} are not supported (CPU and CUDA are)")
    _require_cuda()
    dev = x.device.index if x.device.index is not None else t.cuda.current_device()
    return _View("torch", ptr=x.data_ptr(), shape=tuple(x.shape), strides=tuple(x.stride()), dtype=dt, bf16=bf16,
                 device=dev, stream=t.cuda.current_stream(dev).cuda_stream, keep=x)


def view(x, name):
    """The _View of argument x (see the module doc); TypeError for an object that is not an array."""
    if isinstance(x, np.ndarray):
        bf = _ml_bf16()
        if bf is not None and x.dtype == bf:
            return _View("numpy", host=x.view(np.uint16), bf16=True)
        return _View("numpy", host=x)
    if _is_torch(x):
        return _torch_view(x)
    if hasattr(x, "__cuda_array_interface__"):
        return _cai(x)
    if hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        kind = x.__dlpack_device__()[0]
        if kind == _DL_CUDA:
            return _dlpack_cuda(x)
        if kind == _DL_CPU:
            try:
                return _View("numpy", host=np.from_dlpack(x))
            except (TypeError, BufferError, RuntimeError) as e:
                raise TypeError(f"{name}: numpy cannot read this DLPack tensor ({e})") from None
        raise TypeError(f"{name}: DLPack device type {kind} is not supported (CPU and CUDA are)")
    return None


# ---------------------------------------------------------------- results
def _framework_for_device(fw):
    """The framework that allocates device results for inputs of framework fw."""
    if fw in ("torch", "cupy"):
        return fw
    if "torch" in sys.modules or _try_import("torch"):
        return "torch"
    if "cupy" in sys.modules or _try_import("cupy"):
        return "cupy"
    raise TypeError("device arrays from this producer need PyTorch or CuPy to hold the results")


def _try_import(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


def alloc(like, shape, dtype, bf16=False, zero=False):
    """A new array of shape and numpy dtype (bf16: uint16 bits) in like's framework and device
    (like: a _View, or None for numpy on the host). Returns (the array, its _View)."""
    fw = "numpy" if like is None else like.fw
    if like is None or like.device is None:
        a = (np.zeros if zero else np.empty)(shape, dtype)
        if fw == "torch":
            t = _torch()
            out = t.from_numpy(a.view(np.int16)).view(t.bfloat16) if bf16 else t.from_numpy(a)
            return out, _View("torch", host=a, bf16=bf16, keep=out)
        if bf16 and _ml_bf16() is not None:
            return a.view(_ml_bf16()), _View("numpy", host=a, bf16=True)
        return a, _View("numpy", host=a, bf16=bf16)
    # Made on the stream the call runs on (the framework's current stream for its own
    # arrays, else the producer's): the zero fill is ordered before the call, and the
    # framework's allocator reuses the memory only after the work on that stream.
    fw = _framework_for_device(fw)
    own = like.fw == fw or not like.stream
    if fw == "torch":
        t = _torch()
        tdt = t.bfloat16 if bf16 else getattr(t, np.dtype(dtype).name)
        dev = f"cuda:{like.device}"
        with t.cuda.stream(None if own else t.cuda.ExternalStream(like.stream, device=dev)):
            out = (t.zeros if zero else t.empty)(shape, dtype=tdt, device=dev)
        v = _torch_view(out)
    else:
        cp = sys.modules["cupy"]
        with cp.cuda.Device(like.device):
            stream = cp.cuda.get_current_stream() if own else cp.cuda.ExternalStream(like.stream)
            with stream:
                out = (cp.zeros if zero else cp.empty)(shape, np.uint16 if bf16 else dtype)
        v = _cai(out)
    v.stream, v.bf16 = like.stream, bf16  # results are ordered on the caller's stream
    return out, v


# ---------------------------------------------------------------- CUDA device and contexts
def _cudart():
    """The CUDA runtime libmxblas is linked against: its functions are looked up through
    the library's handle, whose search covers its dependencies, so a second runtime loaded
    by a framework (another CUDA version) is never the one asked or set."""
    _require_cuda()
    return _LIB


def _pointer_device(ptr):
    """The CUDA device of a device pointer (cudaPointerGetAttributes)."""
    class Attr(C.Structure):  # cudaPointerAttributes, its reserved tail included (it is written)
        _fields_ = [("type", C.c_int), ("device", C.c_int), ("devicePointer", C.c_void_p),
                    ("hostPointer", C.c_void_p), ("reserved", C.c_long * 8)]
    a = Attr()
    if _cudart().cudaPointerGetAttributes(C.byref(a), C.c_void_p(ptr)) != 0:
        raise ValueError("cannot tell the CUDA device of a __cuda_array_interface__ pointer")
    return a.device


class DeviceGuard:
    """Makes device the calling thread's current CUDA device for the duration of a call
    (the library runs a CUDA context's work on the current device), then restores it."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        if self.device is None:
            return
        rt, cur = _cudart(), C.c_int()
        rt.cudaGetDevice(C.byref(cur))
        self.prev = cur.value
        if self.prev != self.device:
            rt.cudaSetDevice(self.device)

    def __exit__(self, *exc):
        if self.device is not None and self.prev != self.device:
            _cudart().cudaSetDevice(self.prev)
