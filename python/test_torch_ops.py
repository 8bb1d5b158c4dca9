"""Tests of mxblas.torch_ops: the mxblas::quantize, dequantize and gemm custom ops and
their QuantizedTensor wrappers.

Every result is compared bit for bit with the package's plain call on the same tensors
(which test_mxblas.py compares with the C tool); torch.library.opcheck checks each op's
schema, fake implementation and tracing; a quantize -> gemm function compiled with
torch.compile(fullgraph=True) gives the bits of eager. CUDA cases run where a GPU, torch
with CUDA and a CUDA build of the library are present, and skip (saying so) elsewhere;
everything skips without torch.

Run: make test-python (or MXBLAS_LIB=build/libmxblas.so PYTHONPATH=python python3 python/test_torch_ops.py)
"""
import os
import subprocess
import sys
import unittest

import numpy as np

import mxblas

try:
    import torch
except ImportError:
    torch = None
if torch is not None:  # outside the try: a torch_ops that fails to import fails the tests
    import mxblas.torch_ops as mxt

PLANES = ("data", "scales", "aux", "amax")
# one of each kind of plane set: tensor amax, E8M0 scales, BDR aux, fp32 scale_inv,
# MoR decisions, and a format without scales
FORMATS = ["nvfp4", "mxfp8_e4m3", "mxfp4", "mx6", "fp8_e4m3_1x128", "fp8_e4m3", "mor_1x128", "bf16"]
# (options, formats that take them)
OPTIONS = [({"rounding": "sr", "seed": 7, "offset": 3}, ["nvfp4", "mxfp8_e4m3", "fp8_e4m3"]),
           ({"block_2d": True}, ["nvfp4"]),
           ({"rht": True, "rht_mask": 0x1234}, ["nvfp4"]),
           ({"rht": True}, ["mxfp4"]),
           ({"amax": 3.5, "scale_rule": "floor", "nonfinite": "saturate"}, ["nvfp4"]),
           ({"pow2_scale": True}, ["fp8_e4m3_1x128"]),
           ({"tau": 0.01, "metric": "max_rel"}, ["mor_1x128"]),
           ({"e4m3_max": 256, "four_over_six": "mse"}, ["nvfp4"]),
           ({"row_amax": True}, ["nvfp4"]),
           ({"compat": "te"}, ["nvfp4", "mxfp8_e4m3"]),
           ({"compat": "microxcaling"}, ["mxint8"]),
           ({"rounding": "sr", "seed": 5, "place": [32, 128, 512]}, ["nvfp4", "mxfp8_e4m3"])]


def sample(rows=32, cols=128, seed=3, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g)
    x[:, 7] *= 30.0
    return x.to(device)


def bits(a):
    """A tensor's bytes as a CPU tensor, for bit-for-bit comparison (NaN included)."""
    a = a.detach().cpu().contiguous()
    return a.view(torch.uint8) if a.numel() else a


def plane_args(q):
    return (q.data, q.scales, q.aux, q.amax, q.format, q.rows, q.cols, q.flags)


@unittest.skipIf(torch is None, "torch not installed")
class Case(unittest.TestCase):
    device = "cpu"

    def assertSameTensor(self, q, ref, what=""):
        self.assertIsInstance(q, mxblas.QuantizedTensor)
        self.assertEqual((q.format, q.shape, q.flags, q.rht_mask), (ref.format, ref.shape, ref.flags, ref.rht_mask),
                         what)
        for p in PLANES:
            a, b = getattr(q, p), getattr(ref, p)
            self.assertEqual(a is None, b is None, f"{what} {p}")
            if a is not None:
                self.assertIsInstance(a, torch.Tensor)
                self.assertEqual((a.dtype, a.shape, a.device), (b.dtype, b.shape, b.device), f"{what} {p}")
                self.assertTrue(torch.equal(bits(a), bits(b)), f"{what} {p}")

    def assertSameBits(self, a, b, what=""):
        self.assertEqual((a.dtype, a.shape, a.device), (b.dtype, b.shape, b.device), what)
        self.assertTrue(torch.equal(bits(a), bits(b)), what)


def dequantizable(fmt, device):
    """Whether the backend of device (a torch device string) dequantizes fmt."""
    d = torch.device(device)
    return mxblas.dequantize_supported(fmt, None if d.type == "cpu" else (d.index or 0))


class Ops(Case):
    """Each op (through its wrapper) gives the plain call's bits, on CPU tensors here and
    CUDA tensors in OpsCuda."""

    def cases(self):
        for fmt in FORMATS:
            yield fmt, {}
        for opts, fmts in OPTIONS:
            for fmt in fmts:
                yield fmt, opts

    def test_quantize_matches_the_plain_call(self):
        x = sample(device=self.device)
        for fmt, opts in self.cases():
            self.assertSameTensor(mxt.quantize(x, fmt, **opts), mxblas.quantize(x, fmt, **opts), f"{fmt} {opts}")
        fid = mxblas.format_info("nvfp4")["format"]  # a format given by its mxb_format_t number
        self.assertSameTensor(mxt.quantize(x, fid), mxblas.quantize(x, "nvfp4"), "by number")

    def test_quantize_views_nd_and_bf16_input_as_the_plain_call(self):
        x = sample(device=self.device).reshape(4, 8, 128)
        self.assertSameTensor(mxt.quantize(x, "nvfp4"), mxblas.quantize(x, "nvfp4"), "3-D")
        xb = x.to(torch.bfloat16)
        self.assertSameTensor(mxt.quantize(xb, "mxfp8_e4m3"), mxblas.quantize(xb, "mxfp8_e4m3"), "bf16")
        xs = sample(device=self.device)[:, ::2]  # strided: copied, as by the plain call
        self.assertSameTensor(mxt.quantize(xs, "mx9"), mxblas.quantize(xs, "mx9"), "strided")

    def test_dequantize_matches_the_plain_call(self):
        x = sample(device=self.device)
        for fmt, opts in self.cases():
            if not dequantizable(fmt, self.device):  # MoR on CUDA: the backend refuses it
                continue
            ref = mxblas.quantize(x, fmt, **opts)
            for dt in (torch.float32, torch.float16, torch.bfloat16):
                self.assertSameBits(mxt.dequantize(ref, dt), mxblas.dequantize(ref, dt), f"{fmt} {opts} {dt}")

    def test_gemm_matches_the_plain_call(self):
        x, w = sample(16, 256, 1, self.device), sample(24, 256, 2, self.device)
        for fmt in ("nvfp4", "mxfp8_e4m3", "mx9", "fp8_e4m3_1x128", "bf16"):
            a, b = mxblas.quantize(x, fmt), mxblas.quantize(w, fmt)
            for mode in ("exact", "fast"):
                self.assertSameBits(mxt.gemm(a, b, mode), mxblas.gemm(a, b, mode), f"{fmt} {mode}")
            self.assertSameBits(mxt.gemm(a, b, out_dtype=torch.bfloat16),
                                mxblas.gemm(a, b, out_dtype=torch.bfloat16), f"{fmt} bf16")
        # alpha, beta and c: c is read, not written (the op mutates nothing)
        a, b = mxblas.quantize(x, "nvfp4"), mxblas.quantize(w, "nvfp4")
        c = sample(16, 24, 5, self.device)
        c0 = c.clone()
        got = mxt.gemm(a, b, alpha=0.5, beta=-2.0, c=c)
        self.assertTrue(torch.equal(c, c0), "c was modified")
        self.assertSameBits(got, mxblas.gemm(a, b, alpha=0.5, beta=-2.0, c=c0.clone()), "alpha, beta, c")
        # alpha and beta as one-element float32 tensors on the operands' device, read when the op runs
        at = torch.tensor([0.5], dtype=torch.float32, device=self.device)
        bt = torch.tensor([-2.0], dtype=torch.float32, device=self.device)
        self.assertSameBits(mxt.gemm(a, b, alpha=at, beta=bt, c=c), mxblas.gemm(a, b, alpha=0.5, beta=-2.0, c=c0.clone()),
                            "tensor alpha, beta")
        self.assertSameBits(mxt.gemm(a, b, alpha=at), mxblas.gemm(a, b, alpha=0.5), "tensor alpha")
        at.fill_(3.0)  # the value at the call counts, not the one the tensor held when made
        self.assertSameBits(mxt.gemm(a, b, alpha=at), mxblas.gemm(a, b, alpha=3.0), "tensor alpha, rewritten")

    def test_wrapped_tensors_work_with_the_plain_api_and_back(self):
        x, w = sample(16, 256, 1, self.device), sample(24, 256, 2, self.device)
        qa, qb = mxt.quantize(x, "mxfp8_e4m3"), mxt.quantize(w, "mxfp8_e4m3")
        self.assertSameBits(mxblas.gemm(qa, qb), mxt.gemm(qa, qb))
        self.assertSameBits(mxblas.dequantize(qa), mxt.dequantize(qa))
        self.assertEqual(repr(qa), repr(mxblas.quantize(x, "mxfp8_e4m3")))

    def test_the_ops_directly(self):
        x = sample(device=self.device)
        ref = mxblas.quantize(x, "mx6", rounding="rne")
        data, scales, aux, amax = torch.ops.mxblas.quantize(x, "mx6", rounding="rne")
        self.assertSameBits(data, ref.data)
        self.assertSameBits(scales, ref.scales)
        self.assertSameBits(aux, ref.aux)
        self.assertEqual(amax.numel(), 0)  # mx6 has no tensor amax: an empty plane
        self.assertSameBits(torch.ops.mxblas.dequantize(data, scales, aux, None, "mx6", 32, 128, 0),
                            mxblas.dequantize(ref))
        self.assertSameBits(torch.ops.mxblas.dequantize(data, scales, aux, amax, "mx6", 32, 128, 0),
                            mxblas.dequantize(ref))
        self.assertSameBits(torch.ops.mxblas.gemm(*plane_args(ref), *plane_args(ref)), mxblas.gemm(ref, ref))


    def test_grouped_gemm_matches_the_plain_call(self):
        x, w = sample(20, 256, 1, self.device), sample(3 * 8, 256, 2, self.device)
        offsets = torch.tensor([0, 6, 6, 17], dtype=torch.int32, device=self.device)
        for fmt in ("mxfp8_e4m3", "mx9"):  # block scales only (per-tensor ones need expert_scales)
            a, b = mxblas.quantize(x, fmt), mxblas.quantize(w, fmt)
            for mode in ("exact", "fast"):
                self.assertSameBits(mxt.grouped_gemm(a, b, offsets, mode=mode),
                                    mxblas.grouped_gemm(a, b, offsets, mode=mode), f"{fmt} {mode}")
        counts = torch.tensor([4, 0, 5], dtype=torch.int64, device=self.device)
        a, b = mxblas.quantize(sample(3 * 6, 256, 3, self.device), "mxfp8_e4m3"), mxblas.quantize(w, "mxfp8_e4m3")
        c = sample(18, 8, 5, self.device)
        c0 = c.clone()
        got = mxt.grouped_gemm(a, b, counts, layout="masked", alpha=0.5, beta=-2.0, c=c)
        self.assertTrue(torch.equal(c, c0), "c was modified")
        self.assertSameBits(got, mxblas.grouped_gemm(a, b, counts, layout="masked", alpha=0.5, beta=-2.0,
                                                     c=c0.clone()), "masked, alpha, beta, c")
        at = torch.tensor([0.5], dtype=torch.float32, device=self.device)
        bt = torch.tensor([-2.0], dtype=torch.float32, device=self.device)
        self.assertSameBits(mxt.grouped_gemm(a, b, counts, layout="masked", alpha=at, beta=bt, c=c), got,
                            "masked, tensor alpha and beta")
        koff = torch.tensor([0, 64, 64, 256], dtype=torch.int64, device=self.device)
        a, b = mxblas.quantize(sample(12, 256, 6, self.device), "mxfp8_e4m3"), mxblas.quantize(w, "mxfp8_e4m3")
        got = mxt.grouped_gemm(a, b, koff, layout="k_split")
        self.assertEqual(tuple(got.shape), (3 * 12, 3 * 8))
        self.assertSameBits(got, mxblas.grouped_gemm(a, b, koff, layout="k_split"), "k_split")


    def test_pair_transpose_and_rht_match_the_plain_calls(self):
        x = sample(48, 96, 6, self.device)
        for fmt, row, col in [("nvfp4", {}, dict(rht=True, rounding="sr", seed=9)),
                              ("mxfp8_e4m3", dict(rounding="sr", seed=4, offset=2), {}),
                              ("nvfp4", dict(block_2d=True), dict(block_2d=True, rht=True, rht_mask=0x0F0F))]:
            got, want = mxt.quantize_pair(x, fmt, row, col), mxblas.quantize_pair(x, fmt, row, col)
            self.assertSameTensor(got[0], want[0], f"{fmt} rowwise")
            self.assertSameTensor(got[1], want[1], f"{fmt} colwise")
        with self.assertRaisesRegex(ValueError, "differs between the copies"):
            mxt.quantize_pair(x, "nvfp4", dict(block_2d=True), {})
        q = mxt.quantize(x, "nvfp4", block_2d=True)
        self.assertSameTensor(mxt.transpose_quantized(q), mxblas.transpose_quantized(q), "transpose")
        for kw in ({}, dict(inverse=True, axis="rows", mask=0x1234), dict(dtype=torch.bfloat16)):
            self.assertSameBits(mxt.rht(x, **kw), mxblas.rht(x, **kw), f"rht {kw}")


class OpCheck(Case):
    """torch.library.opcheck: schema, fake implementation against the real one (shapes,
    dtypes, strides), autograd registration and AOT dispatch with dynamic shapes."""

    def check(self, op, args, kwargs=None):
        r = torch.library.opcheck(op, args, kwargs)
        self.assertTrue(all(v == "SUCCESS" for v in r.values()), r)

    def test_quantize(self):
        x = sample(device=self.device)
        for fmt, opts in [(f, {}) for f in FORMATS] + [(fmts[0], opts) for opts, fmts in OPTIONS]:
            with self.subTest(fmt=fmt, opts=opts):
                self.check(torch.ops.mxblas.quantize.default, (x, fmt), opts)
        self.check(torch.ops.mxblas.quantize.default, (x.reshape(2, 16, 128).to(torch.bfloat16), "nvfp4"))

    def test_meta_tensors_get_the_real_shapes(self):
        """The fake implementations (which also serve meta tensors) size every plane and
        result as the real call does, for every format the library quantizes to."""
        for shape in ((32, 128), (3, 100), (70,), (2, 5, 33)):
            x = torch.randn(shape).to(self.device)
            for fmt in mxblas.formats():
                try:
                    real = mxt.quantize(x, fmt)
                except mxblas.MxblasError:  # formats mxb_quantize does not produce
                    continue
                meta = mxt.quantize(x.to("meta"), fmt)
                for p in PLANES:
                    a, b = getattr(meta, p), getattr(real, p)
                    self.assertEqual(None if a is None else (a.shape, a.dtype), None if b is None else (b.shape, b.dtype),
                                     f"{fmt} {shape} {p}")
                if not dequantizable(fmt, self.device):
                    continue
                got, want = mxt.dequantize(meta, torch.bfloat16), mxt.dequantize(real, torch.bfloat16)
                self.assertEqual((got.shape, got.dtype), (want.shape, want.dtype), f"{fmt} {shape}")
        # an amax a row makes NVFP4's amax plane one value a row, in the fake too
        x = torch.randn(6, 64).to(self.device)
        real, meta = mxt.quantize(x, "nvfp4", row_amax=True), mxt.quantize(x.to("meta"), "nvfp4", row_amax=True)
        self.assertEqual((meta.amax.shape, real.amax.shape, real.flags), ((6,), (6,), mxblas.TENSOR_ROW_AMAX))
        with self.assertRaisesRegex(mxblas.MxblasError, "unknown format name"):
            torch.ops.mxblas.quantize(torch.empty(4, 32, device="meta"), "nvfp5")

    def test_dequantize(self):
        x = sample(device=self.device)
        for fmt in filter(lambda f: dequantizable(f, self.device), FORMATS):
            q = mxblas.quantize(x, fmt)
            for dt in (torch.float32, torch.bfloat16):
                with self.subTest(fmt=fmt, dtype=dt):
                    self.check(torch.ops.mxblas.dequantize.default, plane_args(q) + (dt,))

    def test_gemm(self):
        x, w = sample(16, 256, 1, self.device), sample(24, 256, 2, self.device)
        for fmt in ("nvfp4", "mx9", "fp8_e4m3_1x128"):
            a, b = mxblas.quantize(x, fmt), mxblas.quantize(w, fmt)
            with self.subTest(fmt=fmt):
                self.check(torch.ops.mxblas.gemm.default, plane_args(a) + plane_args(b))
                self.check(torch.ops.mxblas.gemm.default, plane_args(a) + plane_args(b),
                           dict(mode="fast", alpha=2.0, beta=1.0, c=sample(16, 24, 4, self.device)))
                self.check(torch.ops.mxblas.gemm.default, plane_args(a) + plane_args(b),
                           dict(out_dtype=torch.bfloat16))
                one = torch.ones(1, dtype=torch.float32, device=self.device)
                self.check(torch.ops.mxblas.gemm.default, plane_args(a) + plane_args(b),
                           dict(mode="fast", alpha_t=2 * one, beta_t=one, c=sample(16, 24, 4, self.device)))


    def test_grouped_gemm(self):
        x, w = sample(20, 256, 1, self.device), sample(3 * 8, 256, 2, self.device)
        offsets = torch.tensor([0, 6, 6, 17], dtype=torch.int32, device=self.device)
        a, b = mxblas.quantize(x, "mxfp8_e4m3"), mxblas.quantize(w, "mxfp8_e4m3")
        self.check(torch.ops.mxblas.grouped_gemm.default, plane_args(a) + plane_args(b) + (offsets,))
        self.check(torch.ops.mxblas.grouped_gemm.default, plane_args(a) + plane_args(b) + (offsets,),
                   dict(mode="fast", alpha=2.0, beta=1.0, c=sample(20, 8, 4, self.device)))
        self.check(torch.ops.mxblas.grouped_gemm.default, plane_args(a) + plane_args(b) + (offsets,),
                   dict(layout="contiguous", out_dtype=torch.bfloat16))
        if str(self.device) == "cpu":  # the K split: C stacks the groups' [M, N] results
            self.check(torch.ops.mxblas.grouped_gemm.default, plane_args(a) + plane_args(b) +
                       (torch.tensor([0, 128, 256], dtype=torch.int64),), dict(layout="k_split"))


    def test_pair_transpose_and_rht(self):
        x = sample(48, 96, 6, self.device)
        self.check(torch.ops.mxblas.quantize_pair.default, (x, "nvfp4"), dict(col_rht=True, col_rounding="sr",
                                                                             col_seed=5))
        self.check(torch.ops.mxblas.quantize_pair.default, (x, "mxfp8_e4m3"), dict(block_2d=False))
        q = mxblas.quantize(x, "nvfp4", block_2d=True)
        self.check(torch.ops.mxblas.transpose_quantized.default, plane_args(q))
        self.check(torch.ops.mxblas.rht.default, (x,), dict(inverse=True, dtype=torch.bfloat16))


def qgemm(x, w, fmt="nvfp4"):
    """The function compiled below: quantize both operands, multiply, dequantize one."""
    qa, qb = mxt.quantize(x, fmt), mxt.quantize(w, fmt, rounding="sr", seed=11)
    return mxt.gemm(qa, qb, alpha=0.25), mxt.dequantize(qa, torch.bfloat16)


def compile_unavailable():
    """Why torch.compile cannot run here, or None."""
    if torch is None:
        return "torch not installed"
    try:
        torch.compile(lambda t: t + 1, fullgraph=True)(torch.ones(2))
    except Exception as e:  # no compiler, unsupported Python, ...
        return f"torch.compile does not run here: {type(e).__name__}: {e}"
    return None


class Compile(Case):
    def test_fullgraph_compile_gives_the_eager_bits(self):
        why = compile_unavailable()
        if why:
            self.skipTest(why)
        torch._dynamo.reset()
        f = torch.compile(qgemm, fullgraph=True)
        for shape_x, shape_w, fmt in [((16, 256), (24, 256), "nvfp4"), ((8, 96), (40, 96), "mxfp8_e4m3"),
                                      ((16, 256), (24, 256), "mxfp4")]:
            x, w = sample(*shape_x, 1, self.device), sample(*shape_w, 2, self.device)
            got, want = f(x, w, fmt), qgemm(x, w, fmt)
            for g, e in zip(got, want):
                self.assertSameBits(g, e, f"{fmt} {shape_x}")
            # and the bits of the plain API
            pa = mxblas.quantize(x, fmt)
            pc = mxblas.gemm(pa, mxblas.quantize(w, fmt, rounding="sr", seed=11), alpha=0.25)
            self.assertSameBits(got[0], pc, f"{fmt} plain")

    def test_the_graph_holds_the_ops(self):
        why = compile_unavailable()
        if why:
            self.skipTest(why)
        graphs = []

        def backend(gm, inputs):
            graphs.append(gm)
            return gm
        torch._dynamo.reset()
        x, w = sample(16, 256, 1, self.device), sample(24, 256, 2, self.device)
        torch.compile(qgemm, backend=backend, fullgraph=True)(x, w)
        targets = [str(n.target) for n in graphs[0].graph.nodes if n.op == "call_function"]
        self.assertEqual(sorted(t for t in targets if "mxblas" in t),
                         ["mxblas.dequantize", "mxblas.gemm", "mxblas.quantize", "mxblas.quantize"])


class BadInput(Case):
    """Refusals of the plain API come through the ops unchanged; nothing passed is modified."""

    def test_quantize(self):
        x = sample(device=self.device)
        with self.assertRaisesRegex(TypeError, "x must be a torch.Tensor"):
            mxt.quantize(x.cpu().numpy(), "nvfp4")
        with self.assertRaises(mxblas.MxblasError):
            mxt.quantize(x, "nvfp5")
        with self.assertRaisesRegex(ValueError, "0-d"):
            mxt.quantize(torch.tensor(1.0, device=self.device), "nvfp4")
        with self.assertRaisesRegex(ValueError, "empty"):
            mxt.quantize(x[:0], "nvfp4")
        with self.assertRaisesRegex(ValueError, "rounding must be one of"):
            mxt.quantize(x, "nvfp4", rounding="rn")
        with self.assertRaisesRegex(ValueError, "amax= applies to formats with a tensor amax"):
            mxt.quantize(x, "mxfp8_e4m3", amax=1.0)
        with self.assertRaisesRegex(ValueError, "rht_mask"):
            mxt.quantize(x, "nvfp4", rht=True, rht_mask=2**40)
        with self.assertRaisesRegex(TypeError, "MoR formats take"):
            mxt.quantize(x, "mor", rounding="rne")
        with self.assertRaisesRegex(TypeError, "unsupported dtype"):
            mxt.quantize(x.to(torch.int32), "nvfp4")
        with self.assertRaises(TypeError):
            mxt.quantize(x, "nvfp4", no_such_option=1)
        with self.assertRaisesRegex(ValueError, "seed \\(-1\\) does not fit"):
            mxt.quantize(x, "nvfp4", rounding="sr", seed=-1)

    def test_planes(self):
        q = mxt.quantize(sample(device=self.device), "nvfp4")
        q.data = q.data[:, :-1].contiguous()
        with self.assertRaisesRegex(ValueError, "data has .* bytes but nvfp4 \\[32, 128\\] needs"):
            mxt.dequantize(q)
        q = mxt.quantize(sample(device=self.device), "nvfp4")
        q.scales = None  # a plane missing is refused, not made up as zeros
        with self.assertRaisesRegex(ValueError, "scales is None but"):
            mxt.dequantize(q)
        q = mxt.quantize(sample(device=self.device), "nvfp4")
        q.rows = 64
        with self.assertRaisesRegex(ValueError, "needs"):
            mxt.gemm(q, q)
        q = mxt.quantize(sample(device=self.device), "nvfp4")
        q.scales = q.scales.cpu().numpy()
        with self.assertRaisesRegex(TypeError, "q.scales must be a torch.Tensor"):
            mxt.dequantize(q)
        with self.assertRaisesRegex(TypeError, "QuantizedTensor"):
            mxt.dequantize(sample(device=self.device))
        data, scales, aux, amax = torch.ops.mxblas.quantize(sample(device=self.device), "nvfp4")
        with self.assertRaisesRegex(ValueError, "amax is None but"):
            torch.ops.mxblas.dequantize(data, scales, aux, aux, "nvfp4", 32, 128, 0)

    def test_gemm(self):
        a = mxt.quantize(sample(8, 64, device=self.device), "mxfp8_e4m3")
        b = mxt.quantize(sample(8, 32, device=self.device), "mxfp8_e4m3")
        with self.assertRaisesRegex(mxblas.MxblasError, "A.cols \\(64\\) != B.cols \\(32\\)"):
            mxt.gemm(a, b)
        with self.assertRaisesRegex(ValueError, "mode must be one of"):
            mxt.gemm(a, a, mode="fastest")
        with self.assertRaisesRegex(ValueError, "out_dtype must be one of"):
            mxt.gemm(a, a, out_dtype=torch.float64)
        with self.assertRaisesRegex(ValueError, "c must be"):
            mxt.gemm(a, a, beta=1.0, c=torch.zeros(4, 4, device=self.device))
        with self.assertRaisesRegex(ValueError, "dtype must be one of"):
            mxt.dequantize(a, torch.int32)


def cuda_available():
    return torch is not None and torch.cuda.is_available() and "cuda=yes" in mxblas.build_info()


CUDA_SKIP = "needs a GPU, torch with CUDA, and libmxblas built with CUDA"


@unittest.skipUnless(cuda_available(), CUDA_SKIP)
class OpsCuda(Ops):
    device = "cuda"

    def test_cuda_gives_the_cpu_bits(self):
        x, w = sample(16, 256, 1), sample(24, 256, 2)
        for fmt in ("nvfp4", "mxfp8_e4m3", "mx9"):
            qc, qg = mxt.quantize(x, fmt), mxt.quantize(x.cuda(), fmt)
            self.assertEqual(qg.data.device.type, "cuda")
            for p in PLANES:
                if getattr(qc, p) is not None:
                    self.assertTrue(torch.equal(bits(getattr(qc, p)), bits(getattr(qg, p))), f"{fmt} {p}")
            bc, bg = mxt.quantize(w, fmt), mxt.quantize(w.cuda(), fmt)
            self.assertTrue(torch.equal(bits(mxt.gemm(qc, bc)), bits(mxt.gemm(qg, bg))), fmt)

    def test_runs_on_the_current_stream(self):
        x, w = sample(64, 512, 1, "cuda"), sample(48, 512, 2, "cuda")
        want = qgemm(x, w)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            got = qgemm(x, w)
        torch.cuda.current_stream().wait_stream(s)
        for g, e in zip(got, want):
            self.assertSameBits(g, e)

    def test_cuda_graph_replay(self):
        x, w = sample(64, 512, 1, "cuda"), sample(48, 512, 2, "cuda")
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):  # warm-up outside the capture (contexts are made on first use)
            qgemm(x, w)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = qgemm(x, w)
        x.copy_(sample(64, 512, 7, "cuda"))
        g.replay()
        torch.cuda.synchronize()
        for got, want in zip(out, qgemm(x, w)):
            self.assertSameBits(got, want)


@unittest.skipUnless(cuda_available(), CUDA_SKIP)
class OpCheckCuda(OpCheck):
    device = "cuda"


@unittest.skipUnless(cuda_available(), CUDA_SKIP)
class CompileCuda(Compile):
    device = "cuda"

    def test_reduce_overhead_gives_the_eager_bits(self):
        """mode="reduce-overhead" records the compiled function as a CUDA graph."""
        torch._dynamo.reset()
        f = torch.compile(qgemm, mode="reduce-overhead", fullgraph=True)
        x, w = sample(64, 512, 1, "cuda"), sample(48, 512, 2, "cuda")
        for _ in range(3):  # warm-up, recording, replay
            got = [t.clone() for t in f(x, w)]
        for g, e in zip(got, qgemm(x, w)):
            self.assertSameBits(g, e)


@unittest.skipUnless(cuda_available(), CUDA_SKIP)
class BadInputCuda(BadInput):
    device = "cuda"


class WithoutTorch(unittest.TestCase):
    def test_import_mxblas_needs_no_torch(self):
        """With torch unimportable, mxblas imports and works; mxblas.torch_ops says what it needs."""
        code = ("import sys; sys.modules['torch'] = None\n"
                "import numpy as np, mxblas\n"
                "q = mxblas.quantize(np.ones((4, 32), np.float32), 'mxfp8_e4m3')\n"
                "assert mxblas.dequantize(q).sum() == 128\n"
                "try:\n    import mxblas.torch_ops\nexcept ImportError as e:\n    print('ImportError', e)\n")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ImportError", r.stdout)


if __name__ == "__main__":
    if torch is None:
        print("note: torch not installed: its cases are skipped")
    elif not cuda_available():
        print(f"note: CUDA cases skipped ({CUDA_SKIP})")
    sys.exit(not unittest.main(verbosity=2, exit=False).result.wasSuccessful())
