"""Tests of arrays of other frameworks: DLPack and __cuda_array_interface__ producers,
PyTorch tensors (CPU here; CUDA where a GPU and a CUDA build are present), ml_dtypes bf16.

Every result is compared bit for bit with the same call on numpy arrays, which
test_mxblas.py compares with the C tool. Cases needing torch, ml_dtypes, CuPy or a GPU
skip (and say so) where they are absent.

Run: make test-python (or MXBLAS_LIB=build/libmxblas.so PYTHONPATH=python python3 python/test_arrays.py)
"""
import os
import sys
import unittest

import numpy as np

import mxblas

try:
    import torch
except ImportError:
    torch = None
try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None
try:
    import cupy
except ImportError:
    cupy = None

PLANES = ("data", "scales", "aux", "amax")
FORMATS = ["nvfp4", "mxfp8_e4m3", "mx6", "fp8_e4m3_1x128", "mor_1x128"]


def sample(rows=32, cols=128, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[:, 7] *= 30.0
    return x


def bf16_bits(x):
    """float32 -> bf16 bit patterns, round to nearest even (finite values)."""
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def as_numpy(a):
    if a is None:
        return None
    if torch is not None and isinstance(a, torch.Tensor):
        a = a.detach().cpu()
        return a.view(torch.int16).numpy().view(np.uint16) if a.dtype == torch.bfloat16 else a.numpy()
    if cupy is not None and isinstance(a, cupy.ndarray):
        return a.get()
    return np.asarray(a)


class Case(unittest.TestCase):
    def assertSameTensor(self, q, ref, what=""):
        self.assertEqual((q.format, q.shape, q.flags), (ref.format, ref.shape, ref.flags), what)
        for name in PLANES:
            mine, theirs = as_numpy(getattr(q, name)), as_numpy(getattr(ref, name))
            if theirs is None:
                self.assertIsNone(mine, f"{what} {name}")
            else:
                self.assertEqual(mine.tobytes(), theirs.tobytes(), f"{what} plane {name}")


class HostProducer:
    """A CPU DLPack producer that is neither numpy nor torch (as JAX or a custom array would be)."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, stream=None):
        return self.a.__dlpack__()

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


class DLPackHost(Case):
    def test_cpu_dlpack_producer_gives_the_numpy_bits(self):
        x = sample()
        for fmt in FORMATS:
            q = mxblas.quantize(HostProducer(x), fmt)
            self.assertIsInstance(q.data, np.ndarray)
            self.assertSameTensor(q, mxblas.quantize(x, fmt), fmt)

    def test_dlpack_input_is_read_in_place(self):
        # a bit pattern the producer changes after export is what gets quantized: no copy
        x = sample()
        p = HostProducer(x)
        v = mxblas._A.view(p, "x")
        self.assertEqual(v.ptr, x.ctypes.data)

    def test_device_type_other_than_cpu_or_cuda_is_refused(self):
        class Odd:
            def __dlpack__(self, stream=None):
                raise AssertionError("not to be called")

            def __dlpack_device__(self):
                return (14, 0)  # kDLOneAPI
        with self.assertRaisesRegex(TypeError, "DLPack device type 14"):
            mxblas.quantize(Odd(), "nvfp4")


class DeviceWithoutCuda(Case):
    @unittest.skipIf("cuda=yes" in mxblas.build_info(), "the library is built with CUDA")
    def test_device_array_raises_on_a_cpu_only_library(self):
        x = sample()

        class Cai:  # claims device memory; the pointer must never be read
            __cuda_array_interface__ = {"shape": x.shape, "typestr": "<f4", "data": (x.ctypes.data, False),
                                        "version": 3, "strides": None}
        with self.assertRaisesRegex(OSError, "need libmxblas built with CUDA"):
            mxblas.quantize(Cai(), "nvfp4")


@unittest.skipIf(ml_dtypes is None, "ml_dtypes not installed")
class MlDtypesBf16(Case):
    def test_bfloat16_array_is_bf16(self):
        x = sample()
        bits = bf16_bits(x)
        xb = bits.view(ml_dtypes.bfloat16)
        for fmt in FORMATS:
            self.assertSameTensor(mxblas.quantize(xb, fmt), mxblas.quantize(bits, fmt), fmt)

    def test_dequantize_to_bfloat16(self):
        q = mxblas.quantize(sample(), "nvfp4")
        y = mxblas.dequantize(q, ml_dtypes.bfloat16)
        self.assertEqual(y.dtype, np.dtype(ml_dtypes.bfloat16))
        self.assertEqual(y.tobytes(), mxblas.dequantize(q, np.uint16).tobytes())
        self.assertEqual(mxblas.dequantize(q, np.uint16).dtype, np.uint16)  # unchanged: bits as before


@unittest.skipIf(torch is None, "torch not installed")
class TorchCpu(Case):
    def test_quantize_gives_torch_planes_with_the_numpy_bits(self):
        x = sample()
        for fmt in FORMATS:
            q = mxblas.quantize(torch.from_numpy(x), fmt)
            self.assertIsInstance(q.data, torch.Tensor)
            self.assertEqual(q.data.device.type, "cpu")
            self.assertSameTensor(q, mxblas.quantize(x, fmt), fmt)

    def test_bfloat16_tensor_is_bf16(self):
        x = sample()
        xb = torch.from_numpy(x).to(torch.bfloat16)  # RNE, as bf16_bits
        self.assertEqual(xb.view(torch.int16).numpy().view(np.uint16).tobytes(), bf16_bits(x).tobytes())
        for fmt in FORMATS:
            self.assertSameTensor(mxblas.quantize(xb, fmt), mxblas.quantize(bf16_bits(x), fmt), fmt)

    def test_requires_grad_is_read_through_detach(self):
        x = sample()
        xt = torch.from_numpy(x.copy()).requires_grad_()
        q = mxblas.quantize(xt, "nvfp4")
        self.assertSameTensor(q, mxblas.quantize(x, "nvfp4"))
        st = mxblas.error_stats(xt, q)
        self.assertEqual(st["sqnr_db"], mxblas.error_stats(x, mxblas.quantize(x, "nvfp4"))["sqnr_db"])

    def test_strided_tensor_gives_the_bits_of_its_values(self):
        x = sample(64, 128)
        xt = torch.from_numpy(x)[::2, :]
        self.assertFalse(xt.is_contiguous())
        self.assertSameTensor(mxblas.quantize(xt, "mxfp8_e4m3"),
                              mxblas.quantize(np.ascontiguousarray(x[::2]), "mxfp8_e4m3"))

    def test_results_come_back_as_torch(self):
        x, w = sample(32, 128, 1), sample(48, 128, 2)
        qa, qb = mxblas.quantize(torch.from_numpy(x), "nvfp4"), mxblas.quantize(torch.from_numpy(w), "nvfp4")
        na, nb = mxblas.quantize(x, "nvfp4"), mxblas.quantize(w, "nvfp4")
        for dtype, ref_dtype, tdtype in [(np.float32, np.float32, torch.float32),
                                         (torch.float32, np.float32, torch.float32),
                                         (torch.float16, np.float16, torch.float16),
                                         (torch.bfloat16, np.uint16, torch.bfloat16),
                                         (np.uint16, np.uint16, torch.bfloat16)]:
            y = mxblas.dequantize(qa, dtype)
            self.assertIsInstance(y, torch.Tensor)
            self.assertEqual(y.dtype, tdtype)
            self.assertEqual(as_numpy(y).tobytes(), mxblas.dequantize(na, ref_dtype).tobytes(), str(dtype))
        for out, ref_out, tdtype in [(np.float32, np.float32, torch.float32),
                                     (torch.bfloat16, np.uint16, torch.bfloat16)]:
            c = mxblas.gemm(qa, qb, out_dtype=out)
            self.assertIsInstance(c, torch.Tensor)
            self.assertEqual((tuple(c.shape), c.dtype), ((32, 48), tdtype))
            self.assertEqual(as_numpy(c).tobytes(), mxblas.gemm(na, nb, out_dtype=ref_out).tobytes())

    def test_gemm_writes_a_torch_c_in_place(self):
        x = sample(32, 128, 1)
        qa = mxblas.quantize(torch.from_numpy(x), "mxfp8_e4m3")
        c = torch.ones(32, 32)
        out = mxblas.gemm(qa, qa, beta=1.0, c=c)
        self.assertIs(out, c)
        na = mxblas.quantize(x, "mxfp8_e4m3")
        self.assertEqual(c.numpy().tobytes(), mxblas.gemm(na, na, beta=1.0, c=np.ones((32, 32), np.float32)).tobytes())

    def test_torch_planes_are_checked_like_numpy_planes(self):
        q = mxblas.quantize(torch.from_numpy(sample()), "nvfp4")
        q.scales = q.scales.to(torch.float16)
        with self.assertRaisesRegex(TypeError, "scales must be uint8, not float16"):
            mxblas.dequantize(q)
        q = mxblas.quantize(torch.from_numpy(sample()), "nvfp4")
        q.data = q.data[:, :8]
        with self.assertRaisesRegex(ValueError, "data must be C-contiguous"):
            mxblas.dequantize(q)
        q = mxblas.quantize(torch.from_numpy(sample()), "nvfp4")
        q.data = q.data[:1].clone()
        with self.assertRaisesRegex(ValueError, "data has 64 bytes"):
            mxblas.dequantize(q)

    def test_mixed_numpy_and_torch_planes_run_on_the_host(self):
        x = sample()
        q = mxblas.quantize(torch.from_numpy(x), "nvfp4")
        q.scales = q.scales.numpy()
        self.assertEqual(mxblas.dequantize(q).numpy().tobytes(),
                         mxblas.dequantize(mxblas.quantize(x, "nvfp4")).tobytes())

    def test_unsupported_dtypes_are_refused(self):
        with self.assertRaisesRegex(TypeError, "unsupported dtype"):
            mxblas.quantize(torch.zeros(4, 32, dtype=torch.int32), "nvfp4")
        with self.assertRaisesRegex(TypeError, "unsupported dtype"):
            mxblas.quantize(torch.zeros(4, 32, dtype=torch.complex64), "nvfp4")
        q = mxblas.quantize(torch.from_numpy(sample()), "nvfp4")
        with self.assertRaisesRegex(ValueError, "dtype must be one of"):
            mxblas.dequantize(q, torch.int32)


def cuda_available():
    if torch is None or not torch.cuda.is_available():
        return False
    return "cuda=yes" in mxblas.build_info()


@unittest.skipUnless(cuda_available(), "needs a GPU, torch with CUDA, and libmxblas built with CUDA")
class TorchCuda(Case):
    """Device tensors run on the CUDA backend, in place, on the caller's stream; the same
    bits as the CPU backend (NUMERICS: the backends agree bit for bit)."""

    def test_cuda_tensor_gives_cuda_planes_with_the_cpu_bits(self):
        x = sample()
        for fmt in ["nvfp4", "mxfp8_e4m3", "fp8_e4m3_1x128"]:
            for xt in (torch.from_numpy(x).cuda(), torch.from_numpy(x).cuda().to(torch.bfloat16)):
                q = mxblas.quantize(xt, fmt)
                self.assertEqual(q.data.device, xt.device)
                self.assertEqual(q.device, xt.device.index)
                ref = mxblas.quantize(xt.cpu(), fmt)
                self.assertSameTensor(q, ref, f"{fmt} {xt.dtype}")
                y = mxblas.dequantize(q, torch.bfloat16)
                self.assertEqual((y.device, y.dtype), (xt.device, torch.bfloat16))
                self.assertEqual(as_numpy(y).tobytes(), as_numpy(mxblas.dequantize(ref, torch.bfloat16)).tobytes())

    def test_device_alpha_and_beta_are_read_on_the_stream(self):
        qa = mxblas.quantize(torch.from_numpy(sample(32, 64, 5)).cuda(), "mxfp8_e4m3")
        qb = mxblas.quantize(torch.from_numpy(sample(48, 64, 6)).cuda(), "mxfp8_e4m3")
        c_in = torch.from_numpy(sample(32, 48, 7)).cuda()
        s = torch.tensor([1.5, -0.5], dtype=torch.float32, device="cuda")
        got = mxblas.gemm(qa, qb, mode="fast", alpha=s[0:1], beta=s[1:2], c=c_in.clone())
        want = mxblas.gemm(qa, qb, mode="fast", alpha=1.5, beta=-0.5, c=c_in.clone())
        self.assertEqual(as_numpy(got).tobytes(), as_numpy(want).tobytes())
        with self.assertRaises(ValueError):  # a host array with device operands
            mxblas.gemm(qa, qb, alpha=np.array([1.0], np.float32))

    def test_gemm_on_the_device_matches_the_cpu(self):
        a, b = sample(64, 256, 1), sample(128, 256, 2)
        qa, qb = mxblas.quantize(torch.from_numpy(a).cuda(), "mxfp8_e4m3"), \
            mxblas.quantize(torch.from_numpy(b).cuda(), "mxfp8_e4m3")
        c = mxblas.gemm(qa, qb)
        self.assertEqual(c.device, qa.data.device)
        ref = mxblas.gemm(mxblas.quantize(a, "mxfp8_e4m3"), mxblas.quantize(b, "mxfp8_e4m3"))
        self.assertEqual(c.cpu().numpy().tobytes(), ref.tobytes())

    def test_runs_on_the_current_stream(self):
        x = torch.from_numpy(sample()).cuda()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            q = mxblas.quantize(x, "nvfp4")
            y = mxblas.dequantize(q)
        s.synchronize()
        self.assertEqual(as_numpy(y).tobytes(), mxblas.dequantize(mxblas.quantize(x.cpu(), "nvfp4")).numpy().tobytes())

    def test_every_device_has_its_context(self):
        for d in range(torch.cuda.device_count()):
            x = torch.from_numpy(sample()).to(f"cuda:{d}")
            q = mxblas.quantize(x, "nvfp4")
            self.assertEqual(q.data.device, x.device)
            self.assertIn(d, mxblas._contexts)

    def test_cuda_array_interface_and_dlpack_producers(self):
        x = sample()
        xt = torch.from_numpy(x).cuda()
        ref = mxblas.quantize(x, "nvfp4")

        class Cai:
            __cuda_array_interface__ = xt.__cuda_array_interface__

        class DL:
            def __dlpack__(self, stream=None):
                return xt.__dlpack__(stream=stream)

            def __dlpack_device__(self):
                return xt.__dlpack_device__()
        for producer in (Cai(), DL()):
            q = mxblas.quantize(producer, "nvfp4")
            torch.cuda.synchronize()
            self.assertSameTensor(q, ref, type(producer).__name__)

    def test_dequantize_supported_answers_for_the_device(self):
        """The CUDA backend does not dequantize MoR; the query says so, and the call refuses."""
        self.assertTrue(mxblas.dequantize_supported("nvfp4", 0))
        self.assertFalse(mxblas.dequantize_supported("mor_1x128", 0))
        q = mxblas.quantize(torch.from_numpy(sample()).cuda(), "mor_1x128")
        with self.assertRaisesRegex(mxblas.MxblasError, "not offered on the CUDA backend"):
            mxblas.dequantize(q)

    def test_host_and_device_planes_are_refused_together(self):
        q = mxblas.quantize(torch.from_numpy(sample()).cuda(), "nvfp4")
        q.scales = q.scales.cpu()
        with self.assertRaisesRegex(ValueError, "different devices"):
            mxblas.dequantize(q)

    def test_rng_state_on_the_device(self):
        x = sample()
        state = torch.tensor([99, 3], dtype=torch.int64, device="cuda")
        for call in range(2):
            q = mxblas.quantize(torch.from_numpy(x).cuda(), "nvfp4", rounding="sr", rng_state=state)
            self.assertSameTensor(q, mxblas.quantize(x, "nvfp4", rounding="sr", seed=99, offset=3 + call), f"call {call}")
        self.assertEqual(state.tolist(), [99, 5])
        with self.assertRaisesRegex(ValueError, "different devices"):
            mxblas.quantize(torch.from_numpy(x).cuda(), "nvfp4", rounding="sr", rng_state=state.cpu())

    @unittest.skipIf(cupy is None, "cupy not installed")
    def test_cupy_in_cupy_out(self):
        x = sample()
        q = mxblas.quantize(cupy.asarray(x), "nvfp4")
        self.assertIsInstance(q.data, cupy.ndarray)
        self.assertSameTensor(q, mxblas.quantize(x, "nvfp4"))
        y = mxblas.dequantize(q)
        self.assertIsInstance(y, cupy.ndarray)

    @unittest.skipIf(cupy is None, "cupy not installed")
    def test_cupy_gemm_is_the_host_gemm(self):
        a, b = sample(16, 128, 5), sample(24, 128, 6)
        for fmt in ("mxfp8_e4m3", "nvfp4"):
            c = mxblas.gemm(mxblas.quantize(cupy.asarray(a), fmt), mxblas.quantize(cupy.asarray(b), fmt))
            self.assertIsInstance(c, cupy.ndarray)
            ref = mxblas.gemm(mxblas.quantize(a, fmt), mxblas.quantize(b, fmt))  # exact mode: the same bits
            self.assertEqual(as_numpy(c).tobytes(), ref.tobytes(), fmt)

    def test_jax_gpu_array_runs_on_the_cuda_backend(self):
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave the GPU's memory to the rest
        try:
            import jax
        except ImportError:
            self.skipTest("jax not installed")
        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            self.skipTest("jax has no GPU")
        x = sample()
        q = mxblas.quantize(jax.device_put(x, gpus[0]), "nvfp4")  # read through DLPack / the CUDA interface
        self.assertTrue(q.impl.startswith("cuda"), q.impl)
        self.assertSameTensor(q, mxblas.quantize(x, "nvfp4"))


if __name__ == "__main__":
    for name, mod in (("torch", torch), ("ml_dtypes", ml_dtypes)):
        if mod is None:
            print(f"note: {name} not installed: its cases are skipped")
    sys.exit(not unittest.main(verbosity=2, exit=False).result.wasSuccessful())
