"""Tests of the Python binding: same bits as the C tool, errors carry the detail.

Run: make test-python (or MXBLAS_LIB=build/libmxblas.so PYTHONPATH=python python3 python/test_mxblas.py)
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import mxblas

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.environ.get("MXBLAS_TOOL", os.path.join(ROOT, "build", "mxblas"))


def read_safetensors(path):
    """Independent reader: {name: (dtype, shape, bytes)}, metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = (t["dtype"], t["shape"], raw[8 + n + b:8 + n + e])
    return out, meta


def sample(rows=64, cols=128, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    x[:, 5] *= 40.0  # an outlier channel
    return x


class FormatTable(unittest.TestCase):
    def test_names_round_trip(self):
        names = mxblas.formats()  # asked of the library: every id in order, each name resolves to its id
        self.assertEqual(names, mxblas.FORMATS)
        self.assertGreaterEqual(len(names), 21)
        self.assertEqual(names[:3], ["fp32", "bf16", "nvfp4"])
        for i, n in enumerate(names):
            self.assertEqual(mxblas.format_info(n)["format"], i)
        nv = mxblas.format_info("nvfp4")
        self.assertEqual((nv["elem_bits"], nv["block_cols"], nv["scale_type"], nv["element"]), (4, 16, "ue4m3", "e2m1"))
        self.assertEqual(mxblas.format_info("mor_1x128")["element"], "e4m3|bf16")
        self.assertEqual(mxblas.format_info("bf16")["scale_type"], "none")
        self.assertTrue(nv["has_tensor_amax"])
        self.assertEqual(mxblas.format_info("mxfp8_e4m3")["elem_max"], 448.0)

    def test_ue8m0_byte_formats_hold_the_pow2_twin(self):
        # fp8_*_ue8m0: the codes of the fp32-scale format with pow2_scale, each scale_inv as its E8M0 byte
        x = sample(130, 260, 9)
        for byte_fmt, twin in (("fp8_e4m3_1x128_ue8m0", "fp8_e4m3_1x128"), ("fp8_e5m2_128x128_ue8m0", "fp8_e5m2_128x128")):
            self.assertEqual(mxblas.format_info(byte_fmt)["scale_type"], "ue8m0")
            q, t = mxblas.quantize(x, byte_fmt), mxblas.quantize(x, twin, pow2_scale=True)
            self.assertEqual(q.scales.dtype, np.uint8)
            self.assertEqual(q.data.tobytes(), t.data.tobytes())
            self.assertEqual(q.scales.tobytes(), (t.scales.view(np.uint32) >> 23).astype(np.uint8).tobytes())
            np.testing.assert_array_equal(mxblas.dequantize(q), mxblas.dequantize(t))

    def test_unknown_format_raises_with_detail(self):
        with self.assertRaises(mxblas.MxblasError) as cm:
            mxblas.format_info("nvfp5")
        self.assertEqual(cm.exception.status, mxblas.load_library().mxb_status_string(1).decode())
        self.assertIn("nvfp5", cm.exception.detail)


class Capabilities(unittest.TestCase):
    def test_the_cpu_dequantizes_every_format_it_quantizes(self):
        x = np.random.default_rng(3).standard_normal((4, 128)).astype(np.float32)
        for fmt in mxblas.formats():
            try:
                q = mxblas.quantize(x, fmt)
            except mxblas.MxblasError:  # formats mxb_quantize does not produce
                continue
            self.assertTrue(mxblas.dequantize_supported(fmt), fmt)
            mxblas.dequantize(q)

    def test_unknown_format_is_refused(self):
        with self.assertRaises(mxblas.MxblasError):
            mxblas.dequantize_supported("nvfp5")


class Quantize(unittest.TestCase):
    FORMATS = ["nvfp4", "mxfp8_e4m3", "mxfp4", "mx6", "mx9", "fp8_e4m3", "mxint8"]

    # Options exercised per format, as (binding kwargs, tool arguments).
    SR = ({"rounding": "sr", "seed": 7, "offset": 3}, ["--round", "sr", "--seed", "7", "--offset", "3"])
    EXTRA = {"nvfp4": [({"rht": True}, ["--rht"]), ({"block_2d": True}, ["--2d"])],
             "mxfp4": [({"scale_rule": "floor"}, ["--rule", "floor"])],
             "fp8_e4m3": [({"pow2_scale": True}, ["--pow2-scale"])]}

    @staticmethod
    def offers_sr(fmt):
        # The library rounds stochastically where elements have a per-block or per-tensor
        # scale of their own; MX9/MX6/MX4 (shared microexponents) refuse it (UNSUPPORTED).
        return mxblas.format_info(fmt)["scale_type"] not in ("none", "bdr")

    def setUp(self):
        self.x = sample()
        self.dir = tempfile.TemporaryDirectory()
        np.save(os.path.join(self.dir.name, "x.npy"), self.x)

    def tearDown(self):
        self.dir.cleanup()

    def tool_quantize(self, fmt, args):
        """Run `mxblas quantize` on self.x: (completed process, output path)."""
        if not os.access(TOOL, os.X_OK):
            self.skipTest(f"{TOOL} not built")
        d = self.dir.name
        out = os.path.join(d, fmt + ".safetensors")
        r = subprocess.run([TOOL, "quantize", os.path.join(d, "x.npy"), "--format", fmt, "-o", out]
                           + args, capture_output=True, text=True)
        return r, out

    def test_same_bits_as_the_tool(self):
        x = self.x
        for fmt in self.FORMATS:
            cases = [({}, [])] + self.EXTRA.get(fmt, []) + ([self.SR] if self.offers_sr(fmt) else [])
            for opts, args in cases:
                r, out = self.tool_quantize(fmt, args)
                self.assertEqual(r.returncode, 0, r.stderr)
                planes, meta = read_safetensors(out)
                q = mxblas.quantize(x, fmt, **opts)
                self.assertEqual(meta["mxblas.format"], fmt)
                self.assertEqual(int(meta["mxblas.flags"]), q.flags)
                for name in ("data", "scales", "aux", "amax"):
                    mine = getattr(q, name)
                    if mine is None:
                        self.assertNotIn(name, planes, f"{fmt} {name}")
                        continue
                    self.assertEqual(planes[name][2], mine.tobytes(), f"{fmt} {opts} plane {name}")

    def test_sr_refused_alike_where_not_offered(self):
        x = self.x
        for fmt in ("mx9", "mx6", "mx4"):
            self.assertFalse(self.offers_sr(fmt))
            with self.assertRaises(mxblas.MxblasError) as cm:
                mxblas.quantize(x, fmt, **self.SR[0])
            self.assertEqual(cm.exception.status, mxblas.load_library().mxb_status_string(4).decode())
            self.assertEqual(cm.exception.detail, f"stochastic rounding is not offered for {fmt}")
            r, _ = self.tool_quantize(fmt, self.SR[1])
            self.assertEqual(r.returncode, 3)
            self.assertIn(cm.exception.detail, r.stderr)

    def test_mx_2d_tiles_transpose_exactly(self):
        # 32x32 tiles: W^T quantized with block_2d holds W's values, transposed
        w = np.random.default_rng(5).standard_normal((70, 100)).astype(np.float32)
        w[:, 3] *= 40.0
        for fmt in ("mxfp8_e4m3", "mxfp4"):
            q, qt = mxblas.quantize(w, fmt, block_2d=True), mxblas.quantize(np.ascontiguousarray(w.T), fmt, block_2d=True)
            self.assertEqual(q.flags & mxblas.TENSOR_SCALED_2D, mxblas.TENSOR_SCALED_2D)
            np.testing.assert_array_equal(mxblas.dequantize(q).T, mxblas.dequantize(qt))
            self.assertFalse(np.array_equal(mxblas.dequantize(q), mxblas.dequantize(mxblas.quantize(w, fmt))),
                             "2D tiles change the scales of the outlier's neighbours")

    def test_rng_state_gives_the_bits_of_seed_and_offset(self):
        # the state is read when the call runs and its offset advanced by one, as in C
        x = self.x
        state = np.array([1234, 7], dtype=np.uint64)
        for call in range(3):
            q = mxblas.quantize(x, "nvfp4", rounding="sr", rng_state=state)
            ref = mxblas.quantize(x, "nvfp4", rounding="sr", seed=1234, offset=7 + call)
            self.assertEqual(q.data.tobytes(), ref.data.tobytes(), f"call {call}")
        self.assertEqual(state.tolist(), [1234, 10])
        rq, cq = mxblas.quantize_pair(x, "nvfp4", dict(rounding="sr", rng_state=state),
                                      dict(rounding="sr", rng_state=state))
        self.assertEqual(rq.data.tobytes(), mxblas.quantize(x, "nvfp4", rounding="sr", seed=1234, offset=10).data.tobytes())
        self.assertEqual(cq.data.tobytes(),
                         mxblas.quantize(np.ascontiguousarray(x.T), "nvfp4", rounding="sr", seed=1234, offset=11).data.tobytes())
        self.assertEqual(state.tolist(), [1234, 12])
        with self.assertRaises(mxblas.MxblasError):  # no SR: the state would be ignored
            mxblas.quantize(x, "nvfp4", rng_state=state)
        for bad, err in [(np.zeros(3, np.uint64), ValueError), (np.zeros(2, np.float64), TypeError),
                         (np.zeros(2, np.uint64)[::-1], ValueError)]:
            with self.assertRaises(err):
                mxblas.quantize(x, "nvfp4", rounding="sr", rng_state=bad)
        ro = np.zeros(2, np.uint64)
        ro.flags.writeable = False
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "nvfp4", rounding="sr", rng_state=ro)
        self.assertEqual(state.tolist(), [1234, 12], "refused calls leave the state alone")

    def test_fp8_per_tensor_amax_in_and_out(self):
        # delayed scaling: the scale from a supplied amax; amax_out receives the computed one
        x = self.x.copy()
        x[1, 2] = np.inf  # not finite: left out of the amax the scale comes from
        out = np.full(1, -1.0, np.float32)
        q = mxblas.quantize(x, "fp8_e4m3", amax_out=out)
        finite = np.abs(x[np.isfinite(x)])
        self.assertEqual(out[0], finite.max())
        self.assertIsNone(q.amax)
        again = mxblas.quantize(x, "fp8_e4m3", amax=out)  # the same amax supplied: the same bytes
        self.assertEqual(again.data.tobytes(), q.data.tobytes())
        self.assertEqual(again.scales.tobytes(), q.scales.tobytes())
        half = mxblas.quantize(x, "fp8_e4m3", amax=float(out[0]) / 2)  # values beyond it saturate
        self.assertEqual(half.scales[0], np.float32(1) / (np.float32(448) / np.float32(out[0] / 2)))
        d = np.abs(mxblas.dequantize(half))
        self.assertEqual(d[np.isfinite(d)].max(), np.float32(448) * half.scales[0])  # the largest values saturate
        out2 = np.zeros(1, np.float32)  # delayed scaling: the scale from amax=, the current amax recorded
        half2 = mxblas.quantize(x, "fp8_e4m3", amax=float(out[0]) / 2, amax_out=out2)
        self.assertEqual(half2.data.tobytes(), half.data.tobytes())
        self.assertEqual(out2[0], out[0])
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "nvfp4", amax_out=out)  # NVFP4's amax is q.amax
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "fp8_e4m3", amax_out=np.zeros(2, np.float32))

    def test_shards_with_their_place_and_the_global_amax_are_the_whole(self):
        # column shards of an NVFP4 tensor by SR (docs/DISTRIBUTED.md): each with its place
        # and the whole tensor's amax gives the whole tensor's codes and scales
        x = self.x
        rows, cols = x.shape
        whole = mxblas.quantize(x, "nvfp4", rounding="sr", seed=5, offset=3)
        w = cols // 2
        codes, scales = whole.data.reshape(rows, -1), whole.scales.reshape(rows, -1)
        for k in range(2):
            shard = np.ascontiguousarray(x[:, k * w:(k + 1) * w])
            q = mxblas.quantize(shard, "nvfp4", rounding="sr", seed=5, offset=3, amax=float(whole.amax[0]),
                                place=(0, k * w, cols))
            self.assertEqual(q.data.tobytes(), np.ascontiguousarray(codes[:, k * w // 2:(k + 1) * w // 2]).tobytes())
            self.assertEqual(q.scales.tobytes(), np.ascontiguousarray(scales[:, k * w // 16:(k + 1) * w // 16]).tobytes())
            alone = mxblas.quantize(shard, "nvfp4", rounding="sr", seed=5, offset=3, amax=float(whole.amax[0]))
            if k:
                self.assertNotEqual(alone.data.tobytes(), q.data.tobytes(), "without its place a shard draws other bits")
        with self.assertRaises(mxblas.MxblasError):
            mxblas.quantize(x, "nvfp4", place=(0, 16, cols))  # does not fit in cols columns
        with self.assertRaises(TypeError):
            mxblas.quantize(x, "nvfp4", place=(0, 0))

    def test_mxfp8_round_trip_within_half_a_step(self):
        # RNE into E4M3 (3 mantissa bits, subnormal step 2^-9) of x * 2^(127-b): each value
        # is off by at most half a step of its binade, 2^-4 |x|, or half the subnormal step
        # 2^-10 * 2^(b-127); RCEIL keeps every |x| * 2^(127-b) <= 448, so nothing clips.
        x = sample()
        q = mxblas.quantize(x, "mxfp8_e4m3")
        scale = np.repeat(2.0 ** (q.scales.astype(np.float64) - 127).reshape(q.rows, -1), 32, axis=1)
        err = np.abs(x.astype(np.float64) - mxblas.dequantize(q))
        bound = np.maximum(2.0 ** -4 * np.abs(x), 2.0 ** -10 * scale)
        self.assertTrue((err <= bound).all(), (err - bound).max())
        self.assertTrue((np.abs(x) * (1 / scale) <= 448).all())

    def test_round_trip_error_is_small_and_stats_agree(self):
        x = sample()
        # Sanity floors well below the ~31, ~21 and ~43 dB these formats give on
        # Gaussian data (mxblas analyze); the exact checks are the stats' agreement.
        for fmt, min_sqnr in [("mxfp8_e4m3", 25.0), ("nvfp4", 10.0), ("mx9", 35.0)]:
            q = mxblas.quantize(x, fmt)
            y = mxblas.dequantize(q)
            self.assertEqual(y.shape, x.shape)
            err = (x.astype(np.float64) - y) ** 2
            sqnr = 10 * np.log10((x.astype(np.float64) ** 2).sum() / err.sum())
            self.assertGreater(sqnr, min_sqnr, fmt)
            st = mxblas.error_stats(x, q)
            self.assertAlmostEqual(st["sqnr_db"], sqnr, places=6)
            self.assertAlmostEqual(st["max_abs_err"], np.sqrt(err.max()), places=9)
            self.assertEqual(st["count"], x.size)

    def test_bf16_and_fp16_inputs_match_fp32(self):
        x = sample(16, 64)
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)  # truncated: exact bf16 values
        xb = (bits.astype(np.uint32) << 16).view(np.float32)
        a, b = mxblas.quantize(bits, "nvfp4"), mxblas.quantize(xb, "nvfp4")
        self.assertEqual(a.data.tobytes(), b.data.tobytes())
        self.assertEqual(a.scales.tobytes(), b.scales.tobytes())
        h = x.astype(np.float16)
        a, b = mxblas.quantize(h, "mxfp8_e4m3"), mxblas.quantize(h.astype(np.float32), "mxfp8_e4m3")
        self.assertEqual(a.data.tobytes(), b.data.tobytes())

    def test_bad_arguments_raise_with_detail(self):
        with self.assertRaises(TypeError):
            mxblas.quantize(np.zeros((2, 16), np.int32), "nvfp4")
        a = mxblas.quantize(sample(8, 64), "mxfp8_e4m3")
        b = mxblas.quantize(sample(8, 32), "mxfp8_e4m3")
        with self.assertRaises(mxblas.MxblasError) as cm:
            mxblas.gemm(a, b)
        self.assertIn("K", cm.exception.detail.upper())


class HostileInput(unittest.TestCase):
    """Whatever a caller hands the binding is checked before it reaches the library:
    TypeError for a wrong kind of object, ValueError for a wrong value or size."""

    def mxfp8(self, rows=64, cols=1024):
        return mxblas.quantize(np.ones((rows, cols), np.float32), "mxfp8_e4m3")

    def test_replaced_data_plane_is_refused(self):
        q = self.mxfp8()
        q.data = np.zeros(1, np.uint8)
        with self.assertRaisesRegex(ValueError, r"data has 1 bytes? .*needs 65536"):
            mxblas.dequantize(q)

    def test_changed_shape_is_refused(self):
        q = self.mxfp8()
        q.rows = 4096
        with self.assertRaisesRegex(ValueError, r"data has 65536 bytes .*\[4096, 1024\] needs 4194304"):
            mxblas.dequantize(q)

    def test_shrunken_plane_passed_to_gemm_is_refused(self):
        a, b = self.mxfp8(), self.mxfp8()
        b.data = b.data[:1]
        with self.assertRaisesRegex(ValueError, "data has 1024 bytes"):
            mxblas.gemm(a, b)

    def test_plane_of_the_wrong_dtype_is_refused(self):
        q = self.mxfp8()
        q.scales = q.scales.astype(np.float16)
        with self.assertRaisesRegex(TypeError, "scales must be uint8, not float16"):
            mxblas.dequantize(q)

    def test_strided_plane_is_refused(self):
        q = mxblas.quantize(np.ones((1, 16), np.float32), "mxfp8_e4m3")
        q.data = np.zeros(64, np.uint8)[::4]  # 16 bytes, as many as the plane needs
        with self.assertRaisesRegex(ValueError, "data must be C-contiguous"):
            mxblas.dequantize(q)

    def test_every_plane_is_checked(self):
        def planes(fmt):
            q = mxblas.quantize(sample(16, 256), fmt)
            return {k: getattr(q, k) for k in ("data", "scales", "aux", "amax")}

        nv, fp8, mx9, mor = planes("nvfp4"), planes("fp8_e4m3_1x128"), planes("mx9"), planes("mor")
        misaligned = np.zeros(fp8["scales"].nbytes + 1, np.uint8)[1:].view(np.float32)
        # MoR codes are 16-bit words: a uint8 plane one byte off would be read misaligned
        odd_bytes = np.zeros(mor["data"].nbytes + 1, np.uint8)[1:]
        bad = [("nvfp4", dict(nv, amax=None), ValueError, "amax is None but nvfp4"),
               ("nvfp4", dict(nv, amax=nv["amax"].astype(np.float64)), TypeError, "amax must be float32"),
               ("nvfp4", dict(nv, amax=np.zeros(2, np.float32)), ValueError, "amax has 8 bytes"),
               ("nvfp4", dict(nv, aux=np.zeros(16, np.uint8)), ValueError,
                r"nvfp4 \[16, 256\] has no aux plane"),
               ("nvfp4", dict(nv, scales=list(nv["scales"])), TypeError, "scales must be a numpy array"),
               ("fp8_e4m3_1x128", dict(fp8, scales=fp8["scales"].view(np.uint8)), TypeError,
                "scales must be float32, not uint8"),
               ("fp8_e4m3_1x128", dict(fp8, scales=misaligned), ValueError, "scales must be 4-byte aligned"),
               ("mx9", dict(mx9, aux=mx9["aux"][:-1]), ValueError, "aux has 255 bytes .*needs 256"),
               ("mx9", dict(mx9, data=None), ValueError, "data is None"),
               ("mor", dict(mor, data=odd_bytes), ValueError, "data must be 2-byte aligned")]
        for fmt, p, exc, msg in bad:
            with self.subTest(fmt=fmt, msg=msg):
                if all(v is not None for v in p.values()):  # None: the constructor allocates
                    with self.assertRaisesRegex(exc, msg):
                        mxblas.QuantizedTensor(fmt, 16, 256, **p)
                q = mxblas.quantize(sample(16, 256), fmt)  # the same planes set one by one
                for k, v in p.items():
                    setattr(q, k, v)
                with self.assertRaisesRegex(exc, msg):
                    mxblas.dequantize(q)
        for fmt, p in [("nvfp4", nv), ("fp8_e4m3_1x128", fp8), ("mx9", mx9), ("mor", mor)]:
            q = mxblas.QuantizedTensor(fmt, 16, 256, **p)  # built by hand from valid planes
            want = mxblas.dequantize(mxblas.quantize(sample(16, 256), fmt))
            self.assertEqual(mxblas.dequantize(q).tobytes(), want.tobytes(), fmt)

    def test_flags_format_and_shape_are_checked(self):
        q = self.mxfp8()
        for attr, value, exc, msg in [("flags", 1 << 7, ValueError, "flags 0x80 has bits"),
                                      ("flags", 2**40, ValueError, "flags"),
                                      ("format", None, TypeError, "format must be a format name"),
                                      ("cols", 1024.0, TypeError, "cols must be an integer"),
                                      ("rows", 2**70, ValueError, "rows .* does not fit"),
                                      ("rht_mask", 2**40, ValueError, "rht_mask .* 16")]:
            with self.subTest(attr=attr, value=value):
                old = getattr(q, attr)
                setattr(q, attr, value)
                with self.assertRaisesRegex(exc, msg):
                    mxblas.dequantize(q)
                setattr(q, attr, old)

    def test_misaligned_input_is_copied(self):
        # the library loads 16/32-bit values through typed pointers: a view one byte off
        # (valid numpy) is copied to aligned memory first (UBSan flags it otherwise)
        x = sample(16, 64)
        for dt in (np.float32, np.float16, np.uint16):
            a = x.astype(dt)
            off = np.zeros(a.nbytes + 1, np.uint8)[1:].view(dt).reshape(a.shape)
            off[...] = a
            self.assertFalse(off.flags.aligned)
            with self.subTest(dtype=np.dtype(dt).name):
                self.assertEqual(mxblas.quantize(off, "nvfp4").data.tobytes(),
                                 mxblas.quantize(a, "nvfp4").data.tobytes())
                q = mxblas.quantize(a, "mxfp8_e4m3")
                self.assertEqual(mxblas.error_stats(off, q)["mse"], mxblas.error_stats(a, q)["mse"])

    def test_none_input_is_refused(self):
        with self.assertRaisesRegex(TypeError, "x must be an array"):
            mxblas.quantize(None, "nvfp4")

    def test_0d_and_empty_inputs_are_refused(self):
        with self.assertRaisesRegex(ValueError, "0-d"):
            mxblas.quantize(np.float32(1), "nvfp4")
        with self.assertRaisesRegex(ValueError, "empty"):
            mxblas.quantize(np.zeros((4, 0), np.float32), "nvfp4")

    def test_format_none_is_refused(self):
        with self.assertRaisesRegex(TypeError, "format must be a format name"):
            mxblas.quantize(np.ones((2, 32), np.float32), None)

    def test_bad_enums_are_refused(self):
        x = np.ones((2, 32), np.float32)
        q = mxblas.quantize(x, "mxfp8_e4m3")
        calls = {"rounding": lambda: mxblas.quantize(x, "nvfp4", rounding="rn"),
                 "scale_rule": lambda: mxblas.quantize(x, "mxfp8_e4m3", scale_rule=2),
                 "nonfinite": lambda: mxblas.quantize(x, "nvfp4", nonfinite=None),
                 "metric": lambda: mxblas.quantize(x, "mor", metric="l2"),
                 "mode": lambda: mxblas.gemm(q, q, mode="fastest"),
                 "out_dtype": lambda: mxblas.gemm(q, q, out_dtype=np.int32),
                 "activation": lambda: mxblas.gemm(q, q, activation="gelu"),
                 "dtype": lambda: mxblas.dequantize(q, dtype=np.int8)}
        for name, call in calls.items():
            with self.subTest(name=name):
                with self.assertRaisesRegex(ValueError, f"^{name} must be one of"):
                    call()

    def test_options_of_another_format_are_refused(self):
        x = np.ones((2, 32), np.float32)
        with self.assertRaisesRegex(TypeError, "tau and metric apply to MoR formats"):
            mxblas.quantize(x, "nvfp4", tau=0.1)
        with self.assertRaisesRegex(TypeError, "MoR formats take"):
            mxblas.quantize(x, "mor", rounding="sr")

    def test_amax_on_a_format_without_tensor_amax_is_refused(self):
        with self.assertRaisesRegex(ValueError, "amax= applies to formats with a tensor amax"):
            mxblas.quantize(np.ones((2, 32), np.float32), "mxfp8_e4m3", amax=1.0)

    def test_rows_beyond_int64_are_refused(self):
        with self.assertRaisesRegex(ValueError, "rows .* does not fit"):
            mxblas.QuantizedTensor("nvfp4", 2**70, 16)

    def test_integers_that_do_not_fit_are_refused(self):
        x = np.ones((2, 32), np.float32)
        for opts in [{"seed": 2**64}, {"offset": -1}, {"rounding": "sr", "seed": 2**70}]:
            with self.subTest(opts=opts):
                with self.assertRaisesRegex(ValueError, "does not fit"):
                    mxblas.quantize(x, "nvfp4", **opts)

    def test_rht_mask_is_refused_not_truncated(self):
        x = sample(4, 64)
        for mask in (2**40, 1 << 16):
            with self.assertRaisesRegex(ValueError, "rht_mask .* 16"):
                mxblas.quantize(x, "nvfp4", rht=True, rht_mask=mask)
        with self.assertRaisesRegex(ValueError, "rht_mask without rht=True"):
            mxblas.quantize(x, "nvfp4", rht_mask=0x1234)
        # a mask that fits is used as given: the default mask gives the default bits
        self.assertEqual(mxblas.quantize(x, "nvfp4", rht=True, rht_mask=0xD7E8).data.tobytes(),
                         mxblas.quantize(x, "nvfp4", rht=True).data.tobytes())
        self.assertNotEqual(mxblas.quantize(x, "nvfp4", rht=True, rht_mask=0x1234).data.tobytes(),
                            mxblas.quantize(x, "nvfp4", rht=True).data.tobytes())

    def test_float64_beyond_fp32_is_refused(self):
        x = np.ones((2, 32), np.float64)
        x[1, 3] = -1e300
        with self.assertRaisesRegex(ValueError, r"float64 .* 1 value .*\(1, 3\)"):
            mxblas.quantize(x, "nvfp4")
        with self.assertRaisesRegex(ValueError, "amax .* float32"):
            mxblas.quantize(np.ones((2, 32), np.float32), "nvfp4", amax=1e39)
        # what fits is rounded to float32 (RNE) and quantized as float32 would be,
        # non-finite values included
        x[1, 3], x[0, 0] = 3.4028235e38, np.inf
        self.assertEqual(mxblas.quantize(x, "mxfp8_e4m3").data.tobytes(),
                         mxblas.quantize(x.astype(np.float32), "mxfp8_e4m3").data.tobytes())

    def test_gemm_output_array_is_checked(self):
        q = mxblas.quantize(sample(8, 64), "mxfp8_e4m3")
        ro = np.zeros((8, 8), np.float32)
        ro.flags.writeable = False
        with self.assertRaisesRegex(ValueError, "c must be .*writeable"):
            mxblas.gemm(q, q, c=ro)
        with self.assertRaisesRegex(TypeError, "c must be a numpy array"):
            mxblas.gemm(q, q, c=[[0.0] * 8] * 8)
        with self.assertRaisesRegex(ValueError, "alpha .* float32"):
            mxblas.gemm(q, q, alpha=1e300)


def rht_reference(x, mask=0xD7E8, d=16):
    """RHT(x) along cols in binary64 (docs/TRANSFORMS.md): each chunk of d values times
    the signs, then the Sylvester Hadamard matrix, then 1/sqrt(d)."""
    i = np.arange(d)
    h = np.where(np.vectorize(lambda v: bin(v).count("1") % 2)(i[:, None] & i[None, :]), -1.0, 1.0)
    s = np.where((mask >> i) & 1, -1.0, 1.0)
    chunks = x.astype(np.float64).reshape(x.shape[0], -1, d)
    return ((chunks * s) @ h / np.sqrt(d)).reshape(x.shape)


class ErrorStats(unittest.TestCase):
    def test_bf16_input_is_decoded(self):
        x = sample()
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)  # truncated: exact bf16 values
        xb = (bits.astype(np.uint32) << 16).view(np.float32)
        q = mxblas.quantize(bits, "nvfp4")
        st = mxblas.error_stats(bits, q)
        want = mxblas.error_stats(xb, q)
        for k in ("count", "mse", "sqnr_db", "max_abs_err", "cosine", "frac_flushed", "frac_saturated"):
            self.assertEqual(st[k], want[k], k)
        self.assertGreater(st["sqnr_db"], 10.0)  # ~21 dB for NVFP4 on this data
        h = x.astype(np.float16)
        self.assertEqual(mxblas.error_stats(h, q)["count"], x.size)

    def test_rht_tensor_is_compared_in_the_transformed_domain(self):
        x = sample()
        for mask in (0xD7E8, 0x1234):
            q = mxblas.quantize(x, "nvfp4", rht=True, rht_mask=mask)
            self.assertEqual(q.rht_mask, mask)
            xr, y = rht_reference(x, mask), mxblas.dequantize(q).astype(np.float64)
            sqnr = 10 * np.log10((xr ** 2).sum() / ((xr - y) ** 2).sum())
            st = mxblas.error_stats(x, q)
            # the library's reference is RHT(x) rounded to fp32: ~1e-7 relative per value,
            # far below 1e-4 dB at a ~20 dB SQNR
            self.assertAlmostEqual(st["sqnr_db"], sqnr, delta=1e-4)
            self.assertGreater(st["sqnr_db"], 10.0)
        # a tensor built by hand keeps the mask it is given (the library default otherwise)
        planes = {k: getattr(q, k) for k in ("data", "scales", "amax")}
        same = mxblas.QuantizedTensor("nvfp4", q.rows, q.cols, q.flags, rht_mask=0x1234, **planes)
        a, b = mxblas.error_stats(x, same), mxblas.error_stats(x, q)
        self.assertEqual(a["sqnr_db"], b["sqnr_db"])
        self.assertEqual(a["scale_code_hist"].tolist(), b["scale_code_hist"].tolist())
        other = mxblas.QuantizedTensor("nvfp4", q.rows, q.cols, q.flags, **planes)
        self.assertEqual(other.rht_mask, 0xD7E8)
        self.assertNotEqual(mxblas.error_stats(x, other)["sqnr_db"], b["sqnr_db"])

    def test_reference_of_another_shape_is_refused(self):
        q = mxblas.quantize(sample(), "nvfp4")
        with self.assertRaisesRegex(ValueError, r"x has shape \(128, 64\), q is \[64, 128\]"):
            mxblas.error_stats(sample(128, 64), q)


E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], np.float64)


def nvfp4_elements(q):
    """The E2M1 value of every code (low nibble first), float64 [rows, cols]."""
    codes = np.stack([q.data & 15, q.data >> 4], axis=-1).reshape(q.rows, -1)[:, :q.cols]
    return E2M1[codes & 7] * np.where(codes & 8, -1.0, 1.0)


def nvfp4_block_values(q):
    """Decoded NVFP4 values without the tensor scale (element x UE4M3 block scale), float64."""
    return nvfp4_elements(q) * nvfp4_block_scales(q)


def nvfp4_block_scales(q):
    """The decoded UE4M3 block scale of every element, float64 [rows, cols]."""
    e, m = (q.scales >> 3).astype(np.int64), (q.scales & 7).astype(np.float64)
    s = np.where(e == 0, m * 2.0 ** -9, (1 + m / 8) * 2.0 ** (e - 7)).reshape(q.rows, -1)
    return np.repeat(s, 16, axis=1)[:, :q.cols]


def numerics7(a, b, L, t=np.float32(1), alpha=np.float32(1), beta=np.float32(0), c_in=None):
    """NUMERICS 7 exact mode from decoded block values a [M,K], b [N,K] (float64): each
    K-block's sum in binary64 rounded once to fp32, fp32 accumulation in ascending order,
    then (alpha*t)*acc (+ beta*c_in), each a separate fp32 rounding. The block sums of the
    formats used here are exact in binary64, so numpy's summation order does not matter."""
    acc = np.zeros((a.shape[0], b.shape[0]), np.float32)
    for k in range(0, a.shape[1], L):
        acc = acc + (a[:, k:k + L] @ b[:, k:k + L].T).astype(np.float32)
    c = np.float32(alpha * t) * acc
    return c if beta == 0 else c + np.float32(beta) * c_in


class Gemm(unittest.TestCase):
    # K = 200: a short last K-block for both block lengths (32 and 16).
    M, N, K = 24, 40, 200

    def operands(self, fmt):
        a, w = sample(self.M, self.K, 2), sample(self.N, self.K, 3)
        return mxblas.quantize(a, fmt), mxblas.quantize(w, fmt)

    def test_exact_gemm_is_the_numerics7_loop(self):
        for fmt, L in [("mxfp8_e4m3", 32), ("mx9", 16)]:
            qa, qb = self.operands(fmt)
            # no tensor scales: the dequantized values are the block values
            da, db = (mxblas.dequantize(q).astype(np.float64) for q in (qa, qb))
            c = mxblas.gemm(qa, qb)
            self.assertEqual(c.tobytes(), numerics7(da, db, L).tobytes(), fmt)
            c_in = sample(self.M, self.N, 4)
            c2 = mxblas.gemm(qa, qb, alpha=0.75, beta=-2.5, c=c_in.copy())
            want = numerics7(da, db, L, alpha=np.float32(0.75), beta=np.float32(-2.5), c_in=c_in)
            self.assertEqual(c2.tobytes(), want.tobytes(), fmt + " alpha/beta")

    def test_alpha_and_beta_as_arrays_are_read_when_the_gemm_runs(self):
        qa, qb = self.operands("nvfp4")
        c_in = sample(self.M, self.N, 4)
        al, be = np.array([0.75], np.float32), np.array([-2.5], np.float32)
        want = mxblas.gemm(qa, qb, alpha=0.75, beta=-2.5, c=c_in.copy())
        self.assertEqual(mxblas.gemm(qa, qb, alpha=al, beta=be, c=c_in.copy()).tobytes(), want.tobytes())
        plan = mxblas.GemmPlan(qa, qb, alpha=al)
        al[0] = 3.0  # the plan reads the array at each call
        self.assertEqual(plan(qa, qb).tobytes(), mxblas.gemm(qa, qb, alpha=3.0).tobytes())
        plan.close()
        for bad in (np.array([1.0]), np.zeros(2, np.float32), "x", None, True):
            with self.assertRaises((TypeError, ValueError)):
                mxblas.gemm(qa, qb, alpha=bad)

    def test_exact_nvfp4_gemm_with_tensor_scales(self):
        qa, qb = self.operands("nvfp4")
        ts = [np.float32(q.amax[0]) * np.float32(1 / 2688) for q in (qa, qb)]
        want = numerics7(nvfp4_block_values(qa), nvfp4_block_values(qb), 16, t=ts[0] * ts[1])
        self.assertEqual(mxblas.gemm(qa, qb).tobytes(), want.tobytes())
        # the decode above is the library's: dequantize (NUMERICS 4.1) is
        # e2m1 * ((s_b * A) * (1/2688f)) in fp32, left to right
        mult = (nvfp4_block_scales(qa).astype(np.float32) * qa.amax[0]) * np.float32(1 / 2688)
        want = nvfp4_elements(qa).astype(np.float32) * mult
        self.assertEqual(mxblas.dequantize(qa).tobytes(), want.tobytes())

    def test_gemm_epilogue_bias_relu_and_fp16(self):
        # docs/GEMM.md: t = alpha A B^T + beta C, then t + bias (fp32), then the activation,
        # then the one rounding to C's type
        qa, qb = self.operands("mxfp8_e4m3")
        c_in = sample(self.M, self.N, 4)
        bias = sample(1, self.N, 5)[0]
        t = mxblas.gemm(qa, qb, alpha=0.75, beta=-0.5, c=c_in.copy())
        y = mxblas.gemm(qa, qb, alpha=0.75, beta=-0.5, c=c_in.copy(), bias=bias, activation="relu")
        self.assertEqual(y.tobytes(), np.maximum(t + bias, np.float32(0)).tobytes())
        for bt in (np.float16, np.float32):
            g = mxblas.gemm(qa, qb, bias=bias.astype(bt), activation="gelu_erf")
            h = mxblas.gemm(qa, qb, bias=bias.astype(bt), activation="gelu_erf", out_dtype=np.float16)
            self.assertEqual(h.dtype, np.float16)
            self.assertEqual(h.tobytes(), g.astype(np.float16).tobytes(), bt)
        with self.assertRaisesRegex(ValueError, "bias must hold N = 40 values"):
            mxblas.gemm(qa, qb, bias=bias[:5])

    def test_gemm_gated_activation(self):
        # docs/GEMM.md: the first N/2 columns of the pre-activation gate the last N/2;
        # C is [M, N/2] = act(gate) * value in fp32. MXFP8 rows quantize alone, so B's halves
        # quantized apart are the rows of B.
        a, w = sample(self.M, self.K, 2), sample(self.N, self.K, 3)
        qa, qb = mxblas.quantize(a, "mxfp8_e4m3"), mxblas.quantize(w, "mxfp8_e4m3")
        h = self.N // 2
        qg, qv = mxblas.quantize(w[:h], "mxfp8_e4m3"), mxblas.quantize(w[h:], "mxfp8_e4m3")
        bias = sample(1, self.N, 5)[0]
        for gated, act in (("swiglu", "silu"), ("geglu_erf", "gelu_erf"), ("geglu_tanh", "gelu_tanh")):
            y = mxblas.gemm(qa, qb, alpha=0.5, bias=bias, activation=gated)
            self.assertEqual(y.shape, (self.M, h))
            g = mxblas.gemm(qa, qg, alpha=0.5, bias=bias[:h], activation=act)
            v = mxblas.gemm(qa, qv, alpha=0.5, bias=bias[h:])
            self.assertEqual(y.tobytes(), (g * v).astype(np.float32).tobytes(), gated)
        with self.assertRaises(mxblas.MxblasError):
            mxblas.gemm(qa, qb, beta=1.0, c=np.zeros((self.M, h), np.float32), activation="swiglu")
        # a quantized C of the gated product
        got = mxblas.gemm_quantized(qa, qb, "mxfp8_e4m3", bias=bias, activation="swiglu")
        want = mxblas.quantize(mxblas.gemm(qa, qb, bias=bias, activation="swiglu"), "mxfp8_e4m3")
        self.assertEqual((got.rows, got.cols), (self.M, h))
        self.assertEqual(got.data.tobytes(), want.data.tobytes())
        self.assertEqual(got.scales.tobytes(), want.scales.tobytes())
        # the pre-activation output: all N columns of alpha A B^T + bias
        y, p = mxblas.gemm(qa, qb, alpha=0.5, bias=bias, activation="swiglu", pre_activation=True)
        self.assertEqual(p.shape, (self.M, self.N))
        self.assertEqual(p.tobytes(), mxblas.gemm(qa, qb, alpha=0.5, bias=bias).tobytes())
        self.assertEqual(y.tobytes(), mxblas.gemm(qa, qb, alpha=0.5, bias=bias, activation="swiglu").tobytes())

    def test_fast_mode_on_the_cpu_is_exact(self):
        # docs/GEMM.md: on the CPU both modes run the exact reference.
        qa, qb = self.operands("nvfp4")
        self.assertEqual(mxblas.gemm(qa, qb, mode="fast").tobytes(), mxblas.gemm(qa, qb).tobytes())

    def test_plan_gives_the_bits_of_gemm(self):
        c_in = sample(self.M, self.N, 4)
        for fmt, mode in [("mxfp8_e4m3", "exact"), ("nvfp4", "fast"), ("mx6", "exact")]:
            qa, qb = self.operands(fmt)
            plan = mxblas.GemmPlan(qa, qb, mode=mode, alpha=0.5, beta=2.0)
            self.assertEqual(plan.path, "cpu-reference")
            self.assertGreater(plan.workspace_size, 0)
            for a in (qa, mxblas.quantize(sample(self.M, self.K, 7), fmt)):  # any operands of that kind
                want = mxblas.gemm(a, qb, mode=mode, alpha=0.5, beta=2.0, c=c_in.copy())
                self.assertEqual(plan(a, qb, c=c_in.copy()).tobytes(), want.tobytes(), fmt)
            plan.close()
            with self.assertRaises(ValueError):
                plan(qa, qb)

    def test_plan_refuses_other_operands_and_writes_nothing(self):
        qa, qb = self.operands("mxfp8_e4m3")
        plan = mxblas.GemmPlan(qa, qb)
        c = np.full((self.M, self.N), 7, np.float32)
        others = [mxblas.quantize(sample(self.M, self.K + 32, 5), "mxfp8_e4m3"),
                  mxblas.quantize(sample(self.M, self.K, 5), "mxfp8_e5m2")]
        for other in others:
            with self.assertRaises(mxblas.MxblasError) as e:
                plan(other, qb, c=c)
            self.assertIn("plan", e.exception.detail)
            self.assertTrue((c == 7).all())
        with self.assertRaises(mxblas.MxblasError):
            mxblas.GemmPlan(qa, qb, alignment=24)
        with self.assertRaises(mxblas.MxblasError):
            mxblas.GemmPlan(qa, qb, max_workspace=1)  # the CPU path needs more than one byte



def same_planes(test, q, r, what=""):
    test.assertEqual((q.format, q.shape, q.flags, q.rht_mask), (r.format, r.shape, r.flags, r.rht_mask), what)
    for p in ("data", "scales", "aux", "amax"):
        a, b = getattr(q, p), getattr(r, p)
        test.assertEqual(a is None, b is None, f"{what} {p}")
        if a is not None:
            test.assertEqual(np.asarray(a).tobytes(), np.asarray(b).tobytes(), f"{what} {p}")


class FourOverSix(unittest.TestCase):
    def test_blocks_scaled_to_four_where_that_errs_less(self):
        x = sample(64, 160, 31)
        std = mxblas.quantize(x, "nvfp4")
        v6 = mxblas.dequantize(std).astype(np.float64)
        for metric, err in (("mse", lambda d: (d * d).sum(-1)), ("mae", lambda d: np.abs(d).sum(-1))):
            q = mxblas.quantize(x, "nvfp4", four_over_six=metric)
            v = mxblas.dequantize(q).astype(np.float64)
            e6, e = (err((w - x).reshape(64, 10, 16)) for w in (v6, v))
            changed = q.scales.reshape(64, 10) != std.scales.reshape(64, 10)
            self.assertTrue(changed.any() and not changed.all(), metric)
            self.assertTrue((e[changed] < e6[changed]).all(), metric)   # 4 taken only where it errs less
            self.assertTrue((e[~changed] == e6[~changed]).all(), metric)  # elsewhere the standard block
            self.assertEqual(q.amax.tobytes(), std.amax.tobytes())
            frac = mxblas.error_stats(x, q)["frac_scaled_to_4"]
            self.assertTrue(0.0 < frac < 1.0, frac)
        self.assertEqual(mxblas.error_stats(x, std)["frac_scaled_to_4"], 0.0)
        self.assertTrue(math.isnan(mxblas.error_stats(x, mxblas.quantize(x, "mxfp4"))["frac_scaled_to_4"]))

    def test_refusals(self):
        x = sample(16, 32, 32)
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "nvfp4", four_over_six="rmse")
        for fmt, opts in (("mxfp4", {}),):
            with self.assertRaises(mxblas.MxblasError) as e:
                mxblas.quantize(x, fmt, four_over_six="mse", **opts)
            self.assertEqual(e.exception.status, mxblas.load_library().mxb_status_string(4).decode())  # MXB_ERR_UNSUPPORTED


class E4m3Max(unittest.TestCase):
    def test_bound_256_maps_the_amax_to_256(self):
        x = sample(32, 64, 33)
        q = mxblas.quantize(x, "nvfp4", e4m3_max=256)
        self.assertEqual(q.flags, mxblas.TENSOR_E4M3_MAX_256)
        # the block holding the tensor amax has the scale 256 (E4M3 0x78), no block above it
        self.assertEqual(int(q.scales.max()), 0x78)
        std = mxblas.quantize(x, "nvfp4")
        self.assertEqual(int(std.scales.max()), 0x7E)
        v, v6 = mxblas.dequantize(q), mxblas.dequantize(std)
        self.assertLess(np.abs(v - x).max(), 0.2 * np.abs(x).max())
        # the flag is what the decoder reads: cleared, the same bytes decode 1.75x smaller (up to rounding)
        q.flags = 0
        w = mxblas.dequantize(q)
        big = np.abs(v) > 1e-3
        np.testing.assert_allclose(v[big] / w[big], 1.75, rtol=1e-6)
        self.assertEqual(v6.shape, v.shape)

    def test_refusals(self):
        x = sample(16, 32, 34)
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "nvfp4", e4m3_max=300)
        with self.assertRaises(mxblas.MxblasError) as e:
            mxblas.quantize(x, "mxfp8_e4m3", e4m3_max=256)
        self.assertEqual(e.exception.status, mxblas.load_library().mxb_status_string(4).decode())  # MXB_ERR_UNSUPPORTED


class RowAmax(unittest.TestCase):
    def test_each_row_is_a_tensor_of_its_own(self):
        x = sample(8, 64, 37)
        x[3] *= 1e3  # a row far louder than the others
        q = mxblas.quantize(x, "nvfp4", row_amax=True)
        self.assertEqual(q.flags, mxblas.TENSOR_ROW_AMAX)
        np.testing.assert_array_equal(q.amax, np.abs(x).max(axis=1))
        for r in range(8):  # row r quantized alone: the same bytes
            one = mxblas.quantize(np.ascontiguousarray(x[r:r + 1]), "nvfp4")
            np.testing.assert_array_equal(q.data[r], one.data[0])
            self.assertEqual(float(q.amax[r]), float(one.amax[0]))
        v = mxblas.dequantize(q)
        quiet = np.abs(x[0]) > 0.1 * np.abs(x[0]).max()
        self.assertLess(np.abs(v[0] - x[0])[quiet].max() / np.abs(x[0]).max(), 0.2)
        # the supplied amaxes give the same bytes
        s = mxblas.quantize(x, "nvfp4", row_amax=True, amax=list(q.amax))
        same_planes(self, s, q, "supplied")

    def test_refusals(self):
        x = sample(4, 32, 38)
        with self.assertRaises(mxblas.MxblasError):
            mxblas.quantize(x, "mxfp8_e4m3", row_amax=True)
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "nvfp4", row_amax=True, amax=[1.0, 2.0])
        with self.assertRaises(TypeError):
            mxblas.quantize(x, "nvfp4", row_amax=True, amax=1.0)


class Compat(unittest.TestCase):
    """Compatibility profiles (docs/COMPAT.md); the byte-for-byte vectors are the C tests'."""
    def test_profiles_write_their_library_bytes(self):
        x = np.zeros((1, 32), np.float32)
        x[0, 0], x[0, 1], x[0, 2] = -0.0, 1.0, -1.0
        te, std = mxblas.quantize(x, "nvfp4", compat="te"), mxblas.quantize(x, "nvfp4")
        self.assertEqual(int(std.data[0, 0]) & 0xF, 0x8)  # -0.0 keeps its sign in mxblas
        self.assertEqual(int(te.data[0, 0]) & 0xF, 0x0)   # and is code 0 in TE's reference
        self.assertTrue(np.array_equal(te.scales, std.scales))
        z = np.zeros((2, 32), np.float32)
        self.assertEqual(int(mxblas.quantize(z, "mxint8", compat="microxcaling").scales[0]), 1)
        self.assertEqual(int(mxblas.quantize(z, "mxint8").scales[0]), 0)
        # OCP FLOOR is the contract with FLOOR scales
        y = sample(4, 64, 35)
        same_planes(self, mxblas.quantize(y, "mxfp4", compat="ocp"), mxblas.quantize(y, "mxfp4", scale_rule="floor"), "ocp")

    def test_refusals(self):
        x = sample(16, 32, 36)
        with self.assertRaises(ValueError):
            mxblas.quantize(x, "nvfp4", compat="cublas")
        for fmt, opts in [("mx6", {}), ("nvfp4", dict(compat="te", rht=True)), ("mxint8", {})]:
            with self.assertRaises(mxblas.MxblasError) as e:
                mxblas.quantize(x, fmt, **({"compat": "te"} | opts))
            self.assertEqual(e.exception.status, mxblas.load_library().mxb_status_string(4).decode())


class PairTransposeRht(unittest.TestCase):
    def test_quantize_pair_is_two_quantizes(self):
        x = sample(48, 96, 21)  # RHT along either side needs multiples of 16
        for fmt, row, col in [("nvfp4", {}, dict(rht=True, rounding="sr", seed=9)),
                              ("mxfp8_e4m3", dict(rounding="sr", seed=4, offset=2), {}),
                              ("fp8_e4m3_1x128", {}, {}), ("nvfp4", dict(block_2d=True), dict(block_2d=True)),
                              ("nvfp4", dict(four_over_six="mse"), dict(four_over_six="mae", rht=True))]:
            qr, qc = mxblas.quantize_pair(x, fmt, row, col)
            same_planes(self, qr, mxblas.quantize(x, fmt, **row), f"{fmt} rowwise")
            same_planes(self, qc, mxblas.quantize(np.ascontiguousarray(x.T), fmt, **col), f"{fmt} colwise")
        with self.assertRaises(TypeError):
            mxblas.quantize_pair(x, "mor")

    def test_transpose_quantized_is_quantizing_the_transpose(self):
        x = sample(48, 80, 22)
        q = mxblas.quantize(x, "nvfp4", block_2d=True)
        same_planes(self, mxblas.transpose_quantized(q), mxblas.quantize(np.ascontiguousarray(x.T), "nvfp4",
                                                                          block_2d=True))
        with self.assertRaises(mxblas.MxblasError):  # 1x16 blocks have no exact transpose
            mxblas.transpose_quantized(mxblas.quantize(x, "nvfp4"))
        for fmt in ("mxfp8_e4m3", "mxfp6_e2m3", "mxfp4"):  # 32x32 tiles (CPU backend)
            q = mxblas.quantize(x, fmt, block_2d=True)
            same_planes(self, mxblas.transpose_quantized(q), mxblas.quantize(np.ascontiguousarray(x.T), fmt,
                                                                              block_2d=True))

    def test_rht_is_what_quantize_applies_and_inverts(self):
        x = sample(32, 64, 23)
        for mask in (None, 0x1234):
            h = mxblas.rht(x, mask=mask)
            opts = dict(rht=True) if mask is None else dict(rht=True, rht_mask=mask)
            self.assertEqual(mxblas.dequantize(mxblas.quantize(x, "mxfp8_e4m3", **opts)).tobytes(),
                             mxblas.dequantize(mxblas.quantize(h, "mxfp8_e4m3")).tobytes(), mask)
            back = mxblas.rht(h, inverse=True, mask=mask)
            self.assertLess(np.abs(back - x).max(), 1e-5 * np.abs(x).max())
            self.assertFalse(np.array_equal(h, x))
        # along rows: the transform of the transpose, transposed
        self.assertEqual(mxblas.rht(x, axis="rows").tobytes(),
                         np.ascontiguousarray(mxblas.rht(np.ascontiguousarray(x.T)).T).tobytes())
        h = mxblas.rht(x)
        b = np.asarray(mxblas.rht(x, dtype=np.uint16)).view(np.uint16)  # bf16: RNE of the fp32 values
        u = h.view(np.uint32).astype(np.uint64)
        self.assertEqual(b.tobytes(), ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).tobytes())
        with self.assertRaises(mxblas.MxblasError):
            mxblas.rht(x, dtype=np.float16)  # fp32 or bf16 output
        with self.assertRaises(ValueError):
            mxblas.rht(x, axis="diagonal")


class GemmQuantized(unittest.TestCase):
    """gemm_quantized gives the bytes of quantize(gemm(...)) (docs/GEMM.md "Quantized output")."""

    def test_the_bytes_of_quantize_of_gemm(self):
        a, b = mxblas.quantize(sample(16, 128, 31), "nvfp4"), mxblas.quantize(sample(64, 128, 32), "nvfp4")
        bias = sample(1, 64, 33)[0]
        for fmt, opts in (("mxfp8_e4m3", {}), ("nvfp4", {"rounding": "sr", "seed": 7}), ("mxfp4", {}),
                          ("nvfp4", {"four_over_six": "mae", "rht": True}), ("fp8_e4m3_1x128", {})):
            got = mxblas.gemm_quantized(a, b, fmt, alpha=0.5, bias=bias, activation="gelu_tanh", **opts)
            want = mxblas.quantize(mxblas.gemm(a, b, alpha=0.5, bias=bias, activation="gelu_tanh"), fmt, **opts)
            for plane in ("data", "scales", "amax"):
                g, w = getattr(got, plane), getattr(want, plane)
                self.assertEqual(None if g is None else g.tobytes(), None if w is None else w.tobytes(), (fmt, plane))
            self.assertEqual(got.flags, want.flags, fmt)

    def test_refusals(self):
        a = mxblas.quantize(sample(8, 64, 34), "mxfp8_e4m3")
        with self.assertRaisesRegex(TypeError, "MoR"):
            mxblas.gemm_quantized(a, a, "mor")
        with self.assertRaisesRegex(mxblas.MxblasError, "Four Over Six"):
            mxblas.gemm_quantized(a, a, "mxfp8_e4m3", four_over_six="mse")


class GroupedGemm(unittest.TestCase):
    """mxblas.grouped_gemm against gemm() group by group (exact mode: the same bits)."""
    K, N = 96, 24

    def expert_weights(self, experts, fmt):
        w = sample(experts * self.N, self.K, 11)
        return w, mxblas.quantize(w, fmt)

    def per_group(self, x, w, rows, fmt, **kw):
        e, r0, r1 = rows
        return mxblas.gemm(mxblas.quantize(x[r0:r1], fmt), mxblas.quantize(w[e * self.N:(e + 1) * self.N], fmt), **kw)

    def test_contiguous_groups_give_the_bits_of_gemm(self):
        offsets = [0, 5, 5, 17, 24]  # an empty group
        x = sample(30, self.K, 12)  # rows 24 .. 29 belong to no group
        for fmt in ("mxfp8_e4m3", "mx9"):
            w, qb = self.expert_weights(4, fmt)
            qa = mxblas.quantize(x, fmt)
            c_in = sample(30, self.N, 13)
            bias = sample(1, 4 * self.N, 14)[0]
            for idx_dt in (np.int32, np.int64):
                c = mxblas.grouped_gemm(qa, qb, np.array(offsets, idx_dt), alpha=0.5, beta=2.0, c=c_in.copy(),
                                        bias=bias, activation="silu")
                for e in range(4):
                    r0, r1 = offsets[e], offsets[e + 1]
                    if r0 == r1:
                        continue
                    want = self.per_group(x, w, (e, r0, r1), fmt, alpha=0.5, beta=2.0, c=c_in[r0:r1].copy(),
                                          bias=bias[e * self.N:(e + 1) * self.N], activation="silu")
                    self.assertEqual(c[r0:r1].tobytes(), want.tobytes(), (fmt, e, idx_dt))
                self.assertEqual(c[24:].tobytes(), c_in[24:].tobytes(), "rows outside every group are untouched")

    def test_gated_activation_per_group(self):
        # each expert's N columns paired: C is [M, N/2]
        offsets = [0, 7, 7, 19]
        x = sample(20, self.K, 16)
        w, qb = self.expert_weights(3, "mxfp8_e4m3")
        bias = sample(1, 3 * self.N, 17)[0]
        c = mxblas.grouped_gemm(mxblas.quantize(x, "mxfp8_e4m3"), qb, np.array(offsets, np.int32), bias=bias,
                                activation="swiglu", out_dtype=np.float16)
        self.assertEqual(c.shape, (20, self.N // 2))
        for e in (0, 2):
            r0, r1 = offsets[e], offsets[e + 1]
            want = self.per_group(x, w, (e, r0, r1), "mxfp8_e4m3", bias=bias[e * self.N:(e + 1) * self.N],
                                  activation="swiglu", out_dtype=np.float16)
            self.assertEqual(c[r0:r1].tobytes(), want.tobytes(), e)
        # the pre-activations too (both halves of each expert's N columns), zeros outside the groups
        c2, p = mxblas.grouped_gemm(mxblas.quantize(x, "mxfp8_e4m3"), qb, np.array(offsets, np.int32), bias=bias,
                                    activation="swiglu", out_dtype=np.float16, pre_activation=True)
        self.assertEqual(c2.tobytes(), c.tobytes())
        self.assertEqual(p.shape, (20, self.N))
        for e in (0, 2):
            r0, r1 = offsets[e], offsets[e + 1]
            _, want = self.per_group(x, w, (e, r0, r1), "mxfp8_e4m3", bias=bias[e * self.N:(e + 1) * self.N],
                                     activation="swiglu", out_dtype=np.float16, pre_activation=True)
            self.assertEqual(p[r0:r1].tobytes(), want.tobytes(), e)
        self.assertFalse(p[19].any(), "a row in no group")
        with self.assertRaises(ValueError):
            mxblas.grouped_gemm(mxblas.quantize(x, "mxfp8_e4m3"), qb, np.array(offsets, np.int64), layout="k_split",
                                pre_activation=True)

    def test_quantized_c_is_the_grouped_quantize_of_the_grouped_gemm(self):
        # SwiGLU experts whose output is quantized group by group for the down projection
        offsets = np.array([0, 7, 7, 19], np.int32)
        x = sample(20, self.K, 18)
        w, qb = self.expert_weights(3, "mxfp8_e4m3")
        bias = sample(1, 3 * self.N, 19)[0]
        qa = mxblas.quantize(x, "mxfp8_e4m3")
        c = mxblas.grouped_gemm(qa, qb, offsets, bias=bias, activation="swiglu")
        for fmt in ("nvfp4", "mxfp8_e4m3"):
            want = mxblas.grouped_quantize(c, offsets, fmt)
            q = mxblas.grouped_gemm_quantized(qa, qb, offsets, fmt, bias=bias, activation="swiglu")
            self.assertEqual(q.shape, (20, self.N // 2))
            for plane in ("data", "scales"):
                self.assertEqual(getattr(q, plane).tobytes(), getattr(want, plane).tobytes(), (fmt, plane))
            if fmt == "nvfp4":
                self.assertEqual(q.group_amax.tobytes(), want.group_amax.tobytes())
        with self.assertRaises(ValueError):
            mxblas.grouped_gemm_quantized(qa, qb, offsets, "nvfp4", layout="k_split")
        with self.assertRaises(mxblas.MxblasError):  # the grouped quantize defines no SR
            mxblas.grouped_gemm_quantized(qa, qb, offsets, "nvfp4", rounding="sr")

    def test_masked_groups_give_the_bits_of_gemm(self):
        counts, max_m = [3, 0, 6, 2], 6
        x = sample(4 * max_m, self.K, 15)
        w, qb = self.expert_weights(4, "mxfp8_e4m3")
        c = mxblas.grouped_gemm(mxblas.quantize(x, "mxfp8_e4m3"), qb, np.array(counts, np.int32), layout="masked")
        for e, n in enumerate(counts):
            r0 = e * max_m
            if n:
                want = self.per_group(x, w, (e, r0, r0 + n), "mxfp8_e4m3")
                self.assertEqual(c[r0:r0 + n].tobytes(), want.tobytes(), e)
            self.assertFalse(c[r0 + n:r0 + max_m].any(), "rows past a count are not written")

    def test_k_split_gives_the_bits_of_gemm_on_each_slice(self):
        # weight gradients: a = dY^T [M, T], b = X^T [N, T]; aligned offsets (MX blocks of 32)
        # make each group the plain gemm of the quantized slices
        dyt, xt = sample(12, self.K, 21), sample(self.N, self.K, 22)
        offsets = [0, 32, 32, 96]  # an empty group
        for fmt in ("mxfp8_e4m3", "mxfp4"):
            qa, qb = mxblas.quantize(dyt, fmt), mxblas.quantize(xt, fmt)
            c = mxblas.grouped_gemm(qa, qb, np.array(offsets, np.int64), layout="k_split")
            self.assertEqual(c.shape, (3 * 12, self.N))
            for e in range(3):
                k0, k1 = offsets[e], offsets[e + 1]
                if k0 == k1:
                    self.assertFalse(c[e * 12:(e + 1) * 12].any(), "an empty group's result is +0")
                    continue
                want = mxblas.gemm(mxblas.quantize(dyt[:, k0:k1].copy(), fmt), mxblas.quantize(xt[:, k0:k1].copy(), fmt))
                self.assertEqual(c[e * 12:(e + 1) * 12].tobytes(), want.tobytes(), (fmt, e))

    def test_status_names_the_first_bad_group_and_its_rows_stay(self):
        x = sample(20, self.K, 16)
        w, qb = self.expert_weights(3, "mxfp8_e4m3")
        qa = mxblas.quantize(x, "mxfp8_e4m3")
        st = np.full(1, -7, np.int32)
        c = mxblas.grouped_gemm(qa, qb, np.array([0, 8, 4, 20], np.int32), status=st)  # group 1 runs backwards
        self.assertEqual(st[0], 2)
        self.assertEqual(c[0:8].tobytes(), self.per_group(x, w, (0, 0, 8), "mxfp8_e4m3").tobytes())
        self.assertFalse(c[8:].any(), "group 2 overlaps group 0: its rows are not written either")
        ok = mxblas.grouped_gemm(qa, qb, np.array([0, 8, 12, 20], np.int32), status=st)
        self.assertEqual(st[0], 0)
        self.assertEqual(ok[12:20].tobytes(), self.per_group(x, w, (2, 12, 20), "mxfp8_e4m3").tobytes())

    def test_grouped_quantize_gives_each_group_its_own_bytes(self):
        # each group's rows are the bytes of quantizing those rows alone (NVFP4: its own amax);
        # rows outside every group stay zero; the grouped GEMM reads the amaxes per group
        x = sample(20, self.K, 23)
        offsets = [0, 6, 6, 15]  # an empty group; rows 15 .. 19 belong to none
        for fmt in ("nvfp4", "mxfp8_e4m3"):
            q = mxblas.grouped_quantize(x, np.array(offsets, np.int32), fmt)
            for e in range(3):
                r0, r1 = offsets[e], offsets[e + 1]
                if r0 == r1:
                    if fmt == "nvfp4":
                        self.assertEqual(q.group_amax[e], 0.0, "an empty group's amax is 0")
                    continue
                want = mxblas.quantize(x[r0:r1], fmt)
                self.assertEqual(q.data[r0:r1].tobytes(), want.data.tobytes(), (fmt, e))
                per_row = want.scales.size // (r1 - r0)
                self.assertEqual(q.scales[r0 * per_row:r1 * per_row].tobytes(), want.scales.tobytes(), (fmt, e))
                if fmt == "nvfp4":
                    self.assertEqual(q.group_amax[e], want.amax[0], e)
            self.assertFalse(q.data[15:].any(), "rows outside every group are not written")
            if fmt != "nvfp4":
                self.assertIsNone(q.group_amax)
        q = mxblas.grouped_quantize(x, np.array(offsets, np.int64), "nvfp4")
        w = sample(3 * self.N, self.K, 24)
        qw = mxblas.quantize(w, "bf16")
        c = mxblas.grouped_gemm(q, qw, np.array(offsets, np.int64), a_group_amax=q.group_amax)
        for e in (0, 2):
            r0, r1 = offsets[e], offsets[e + 1]
            want = mxblas.gemm(mxblas.quantize(x[r0:r1], "nvfp4"), mxblas.quantize(w[e * self.N:(e + 1) * self.N], "bf16"))
            self.assertEqual(c[r0:r1].tobytes(), want.tobytes(), e)
        # supplied amaxes are read, not computed
        q2 = mxblas.grouped_quantize(x, np.array(offsets, np.int32), "nvfp4", group_amax=q.group_amax * 2)
        self.assertEqual(q2.group_amax.tolist(), (q.group_amax * 2).tolist())
        with self.assertRaisesRegex(TypeError, "group_amax="):
            mxblas.grouped_quantize(x, np.array(offsets, np.int32), "nvfp4", amax=1.0)
        with self.assertRaisesRegex(ValueError, "a_group_amax applies"):
            mxblas.grouped_gemm(mxblas.quantize(x, "mxfp8_e4m3"), mxblas.quantize(w, "mxfp8_e4m3"),
                                np.array(offsets, np.int32), a_group_amax=q.group_amax)

    def test_per_expert_tensor_scales(self):
        # NVFP4 experts quantized one by one (each its own amax), stacked; expert_scales holds the amaxes
        x = sample(14, self.K, 18)
        w = sample(3 * self.N, self.K, 19)
        qe = [mxblas.quantize(w[e * self.N:(e + 1) * self.N], "nvfp4") for e in range(3)]
        qb = mxblas.QuantizedTensor._of_planes("nvfp4", 3 * self.N, self.K, 0,
                                               np.concatenate([q.data for q in qe]),
                                               np.concatenate([q.scales for q in qe]), None, qe[0].amax.copy(),
                                               qe[0].rht_mask)
        amax = np.concatenate([q.amax for q in qe]).astype(np.float32)
        qa = mxblas.quantize(x, "nvfp4")
        offsets = np.array([0, 4, 9, 14], np.int32)
        c = mxblas.grouped_gemm(qa, qb, offsets, expert_scales=amax)
        for e in range(3):
            r0, r1 = offsets[e], offsets[e + 1]
            want = mxblas.gemm(mxblas.quantize(x[r0:r1], "nvfp4", amax=float(qa.amax[0])), qe[e])
            self.assertEqual(c[r0:r1].tobytes(), want.tobytes(), e)
        with self.assertRaisesRegex(ValueError, "one per expert: pass expert_scales"):
            mxblas.grouped_gemm(qa, qb, offsets)
        with self.assertRaisesRegex(ValueError, "expert_scales must be"):
            mxblas.grouped_gemm(qa, qb, offsets, expert_scales=amax[:2])
        # FP8 per tensor: one scale_inv per expert replaces B's plane; MoR's per-tensor plane
        # is no tensor scale (the library's rule), so it takes none
        xb = [mxblas.quantize(w[e * self.N:(e + 1) * self.N], "fp8_e4m3") for e in range(3)]
        fb = mxblas.QuantizedTensor._of_planes("fp8_e4m3", 3 * self.N, self.K, 0,
                                               np.concatenate([q.data for q in xb]), xb[0].scales.copy(), None,
                                               None, xb[0].rht_mask)
        qa8 = mxblas.quantize(x, "fp8_e4m3")
        c8 = mxblas.grouped_gemm(qa8, fb, offsets, expert_scales=np.concatenate([q.scales for q in xb]))
        for e in range(3):
            r0, r1 = offsets[e], offsets[e + 1]
            rows = mxblas.QuantizedTensor._of_planes("fp8_e4m3", r1 - r0, self.K, 0, qa8.data[r0:r1],
                                                     qa8.scales, None, None, qa8.rht_mask)  # A's scale for all
            self.assertEqual(c8[r0:r1].tobytes(), mxblas.gemm(rows, xb[e]).tobytes(), e)
        qm = mxblas.quantize(w, "mor")
        with self.assertRaisesRegex(ValueError, "has no tensor scale"):
            mxblas.grouped_gemm(mxblas.quantize(x, "mor"), qm, offsets, expert_scales=amax)

    def test_bad_arguments_are_refused(self):
        qa = mxblas.quantize(sample(8, self.K, 17), "mxfp8_e4m3")
        _, qb = self.expert_weights(3, "mxfp8_e4m3")
        with self.assertRaisesRegex(ValueError, "int32 or int64"):
            mxblas.grouped_gemm(qa, qb, np.array([0, 4, 8, 8], np.float32))
        with self.assertRaisesRegex(ValueError, "whole number of rows"):
            mxblas.grouped_gemm(qa, qb, np.array([0, 1, 2, 3, 4, 8], np.int32))  # 5 groups, 72 rows of B
        with self.assertRaisesRegex(ValueError, "layout"):
            mxblas.grouped_gemm(qa, qb, np.array([0, 4, 8, 8], np.int32), layout="ragged")
        with self.assertRaisesRegex(ValueError, "status"):
            mxblas.grouped_gemm(qa, qb, np.array([0, 4, 8, 8], np.int32), status=np.zeros(2, np.int64))
        with self.assertRaisesRegex(ValueError, "at least one group"):
            mxblas.grouped_gemm(qa, qb, np.array([0], np.int32))


if __name__ == "__main__":
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("numpy unavailable: skipping the Python binding tests")
        sys.exit(0)
    unittest.main(verbosity=2)
