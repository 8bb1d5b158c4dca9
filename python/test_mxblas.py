"""Tests of the Python binding: same bits as the C tool, errors carry the detail.

Run: make test-python (or MXBLAS_LIB=build/libmxblas.so PYTHONPATH=python python3 python/test_mxblas.py)
"""
import json
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
        names = mxblas.formats()
        self.assertEqual(names, mxblas.FORMATS)
        nv = mxblas.format_info("nvfp4")
        self.assertEqual((nv["elem_bits"], nv["block_cols"], nv["scale_type"]), (4, 16, "ue4m3"))
        self.assertTrue(nv["has_tensor_amax"])
        self.assertEqual(mxblas.format_info("mxfp8_e4m3")["elem_max"], 448.0)

    def test_unknown_format_raises_with_detail(self):
        with self.assertRaises(mxblas.MxblasError) as cm:
            mxblas.format_info("nvfp5")
        self.assertEqual(cm.exception.status, mxblas.load_library().mxb_status_string(1).decode())
        self.assertIn("nvfp5", cm.exception.detail)


class Quantize(unittest.TestCase):
    FORMATS = ["nvfp4", "mxfp8_e4m3", "mxfp4", "mx6", "mx9", "fp8_e4m3", "mxint8"]

    def test_same_bits_as_the_tool(self):
        if not os.access(TOOL, os.X_OK):
            self.skipTest(f"{TOOL} not built")
        x = sample()
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "x.npy"), x)
            for fmt in self.FORMATS:
                for opts, args in [({}, []), ({"rounding": "sr", "seed": 7, "offset": 3},
                                              ["--round", "sr", "--seed", "7", "--offset", "3"])]:
                    out = os.path.join(d, fmt + ".safetensors")
                    subprocess.run([TOOL, "quantize", os.path.join(d, "x.npy"), "--format", fmt,
                                    "-o", out] + args, check=True, capture_output=True)
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

    def test_round_trip_error_is_small_and_stats_agree(self):
        x = sample()
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


class Gemm(unittest.TestCase):
    def test_exact_gemm_matches_fp64_of_dequantized_operands(self):
        a, w = sample(32, 64, 2), sample(64, 48, 3)
        qa, qw = mxblas.quantize(a, "mxfp8_e4m3"), mxblas.quantize(np.ascontiguousarray(w.T), "mxfp8_e4m3")
        c = mxblas.gemm(qa, qw)
        ref = mxblas.dequantize(qa).astype(np.float64) @ mxblas.dequantize(qw).astype(np.float64).T
        # Exact mode sums each 32-long K-block exactly, rounds once to fp32, then adds two
        # blocks in fp32: at most a few ulps of the largest partial sums.
        bound = 4 * np.finfo(np.float32).eps * np.abs(ref).max()
        self.assertLess(np.abs(c - ref).max(), bound)


if __name__ == "__main__":
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("numpy unavailable: skipping the Python binding tests")
        sys.exit(0)
    unittest.main(verbosity=2)
