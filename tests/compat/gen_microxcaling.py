#!/usr/bin/env python3
"""Reference vectors for the `microxcaling` compatibility profile.

Runs Microsoft microxcaling's own MX quantizer (mx/mx_ops.py `quantize_mx_op` ->
`_quantize_mx`, pure-PyTorch path on CPU, custom_cuda=False) with the library's
default MxSpecs plus block_size=32 (scale_bits 0 -> 8, shared_exp_method "max",
round "nearest", mx_flush_fp32_subnorms False), axes=[-1], and writes
tests/data/compat/microxcaling.vec (format: see the compat README / brief).

microxcaling returns quantize-dequantized fp32 values, not codes and scales.
The generator therefore wraps two of the library's own functions *in the
namespace _quantize_mx calls them from* while it runs:
  * `_shared_exponents` (records floor(log2(block amax)) exactly as the library
    computed it); the E8M0 byte is then that value minus emax, set to NaN above
    127 and raised to -127 below -127 -- the three lines that follow the call in
    `_quantize_mx` -- plus 127 (NaN -> 0xFF);
  * `_quantize_elemwise_core` (records the element values on the element grid,
    i.e. the tensor just before the library multiplies by 2**shared_exp).
Element values are mapped to codes with an exact table (ml_dtypes decodes every
code of each element type; MXINT8 code = two's complement of value*64) and the
script asserts, per element, that decode(code) * 2^(byte-127) computed in fp32
by torch is bit-identical to microxcaling's output (MXINT8: equal as a value;
-0.0 has no INT8 code).  Blocks with scale 0xFF come out all-NaN from
microxcaling and are written with element codes 00.

It also asserts that an exact, torch-free model of the algorithm (`model_block`,
the one described in the profile report) gives the same bytes for every case,
and that torch.log2 on this machine rounds as the model says at every power of
two (vectorised and scalar kernels).

Usage (from anywhere; deterministic, fixed seeds, about 5 s on 2 cores):
    python3 tests/compat/gen_microxcaling.py \
        [--repo GITDIR]   # a clone (default $MICROXCALING_GIT), exported to a temp dir
        [--src DIR]                                        # or an extracted checkout (has mx/)
        [--out tests/data/compat/microxcaling.vec]
Needs torch (CPU), numpy, ml_dtypes, mpmath (a torch dependency).
The package `mx` is loaded without running mx/__init__.py (which imports the
nn wrappers and needs `packaging`); only mx/mx_ops.py, mx/elemwise_ops.py,
mx/formats.py and mx/specs.py are executed.
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import types
import warnings
from fractions import Fraction

import numpy as np
import torch
import ml_dtypes
import mpmath

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "data", "compat", "microxcaling.vec"))
DEFAULT_REPO = os.environ.get("MICROXCALING_GIT", "microxcaling.git")  # a clone (bare or not) of microsoft/microxcaling
PROFILE = "microxcaling"
BLOCK = 32

# mxblas format -> (microxcaling ElemFormat name, ml_dtypes type or None for int8, code bits)
FORMATS = [
    ("mxfp8_e4m3", "fp8_e4m3", ml_dtypes.float8_e4m3fn, 8),
    ("mxfp8_e5m2", "fp8_e5m2", ml_dtypes.float8_e5m2, 8),
    ("mxfp6_e2m3", "fp6_e2m3", ml_dtypes.float6_e2m3fn, 6),
    ("mxfp6_e3m2", "fp6_e3m2", ml_dtypes.float6_e3m2fn, 6),
    ("mxfp4", "fp4_e2m1", ml_dtypes.float4_e2m1fn, 4),
    ("mxint8", "int8", None, 8),
]

F32 = np.float32


def f32(bits):
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def bits_of(v):
    return int(np.array([v], dtype=np.float32).view(np.uint32)[0])


# ----------------------------------------------------------------------------
# loading the library
# ----------------------------------------------------------------------------
def load_library(args):
    tmp = None
    if args.src:
        src = args.src
        try:
            version = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                                     text=True, check=True).stdout.strip()
        except Exception:
            version = "source tree " + os.path.abspath(src)
    else:
        version = subprocess.run(["git", "-C", args.repo, "rev-parse", "HEAD"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        tmp = tempfile.TemporaryDirectory(prefix="mxsrc_")
        arch = subprocess.run(["git", "-C", args.repo, "archive", "HEAD", "mx"], capture_output=True,
                              check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=arch, check=True)
        src = tmp.name
    pkg = types.ModuleType("mx")
    pkg.__path__ = [os.path.join(src, "mx")]
    sys.modules["mx"] = pkg
    import mx.mx_ops as mx_ops
    import mx.formats as mx_formats
    import mx.specs as mx_specs
    return mx_ops, mx_formats, mx_specs, version, tmp


# ----------------------------------------------------------------------------
# exact element tables
# ----------------------------------------------------------------------------
class ElemTable:
    def __init__(self, mxb_name, lib_name, dtype, nbits, mx_formats):
        self.name, self.lib_name, self.nbits = mxb_name, lib_name, nbits
        ebits, mbits, emax, max_norm, _ = mx_formats._get_format_params(lib_name)
        self.ebits, self.mbits, self.emax, self.max_norm = ebits, mbits, emax, max_norm
        self.enc = {}   # (float value, signbit) -> code
        self.dec = np.zeros(256, dtype=np.float32)
        if dtype is None:  # MXINT8
            for c in range(256):
                q = c - 256 if c >= 128 else c
                self.dec[c] = F32(q / 64.0)
                if q != -128:
                    self.enc[(q / 64.0, q < 0)] = c
            self.enc[(0.0, True)] = 0      # -0.0 -> 0x00 (no INT8 negative zero)
        else:
            for c in range(1 << nbits):
                v = float(np.array([c], dtype=np.uint8).view(dtype)[0])
                self.dec[c] = F32(v)
                if not math.isnan(v):
                    self.enc[(v, bool(np.signbit(v)))] = c
        assert max(abs(k[0]) for k in self.enc if not math.isinf(k[0])) == max_norm

    def encode(self, y):
        key = (float(y), bool(np.signbit(y)))
        assert key in self.enc, (self.name, float(y))
        return self.enc[key]


# ----------------------------------------------------------------------------
# running microxcaling, instrumented
# ----------------------------------------------------------------------------
def run_library(mx_ops, mx_specs, tab, x):
    rec = {}
    orig_se, orig_core = mx_ops._shared_exponents, mx_ops._quantize_elemwise_core

    def se(*a, **k):
        r = orig_se(*a, **k)
        rec["se"] = r.clone()
        return r

    def core(*a, **k):
        r = orig_core(*a, **k)
        rec["y"] = r.clone()
        return r

    mx_ops._shared_exponents, mx_ops._quantize_elemwise_core = se, core
    try:
        specs = mx_specs.MxSpecs(block_size=BLOCK)
        out = mx_ops.quantize_mx_op(torch.from_numpy(x.copy()), specs, elem_format=tab.lib_name, axes=[-1])
    finally:
        mx_ops._shared_exponents, mx_ops._quantize_elemwise_core = orig_se, orig_core
    R, C = x.shape
    nb = -(-C // BLOCK)
    out = out.numpy()
    assert out.shape == (R, C) and out.dtype == np.float32
    # the three lines after the _shared_exponents call in _quantize_mx (scale_bits = 8)
    e = rec["se"] - tab.emax
    e[e > 127] = float("NaN")
    e[e < -127] = -127
    e = e.reshape(R, nb).numpy()
    y = rec["y"].reshape(R, nb * BLOCK)[:, :C].numpy()
    scales = np.where(np.isnan(e), 255, np.nan_to_num(e) + 127).astype(np.int64)
    codes = np.zeros((R, C), dtype=np.int64)
    for r in range(R):
        for c in range(C):
            b = scales[r, c // BLOCK]
            if b == 255:
                assert math.isnan(out[r, c])
                continue
            codes[r, c] = tab.encode(y[r, c])
            # round trip in fp32, by torch, as microxcaling does its last step
            d = torch.tensor([tab.dec[codes[r, c]]]) * (2 ** torch.tensor([float(b - 127)]))
            d = d.numpy()[0]
            if tab.ebits == 0:
                assert d == out[r, c] and not math.isnan(out[r, c]), (tab.name, r, c, d, out[r, c])
            else:
                assert bits_of(d) == bits_of(out[r, c]), (tab.name, r, c, d, out[r, c])
    return codes, scales, out


# ----------------------------------------------------------------------------
# exact torch-free model of the algorithm (the profile's definition), used as a cross-check
# ----------------------------------------------------------------------------
mpmath.mp.prec = 120


def n_roundup(k):
    """Number of fp32 values immediately below 2^k whose fp32-rounded log2 is k (so floor(log2) = k).
    k = -126 counts subnormal ulps (2^-149); other k count ulps of [2^(k-1), 2^k)."""
    if k == 0:
        return 0
    a = abs(k)
    if k > 0:
        gap = mpmath.mpf(2) ** (math.floor(math.log2(a - 0.5)) - 23)   # fp32 spacing just below k
    else:
        gap = mpmath.mpf(2) ** (math.floor(math.log2(a)) - 23)         # spacing just beyond -|k|
    ulps_per_unit = 2 ** 23 if k == -126 else 2 ** 24
    return int(mpmath.floor(ulps_per_unit * (1 - mpmath.power(2, -gap / 2))))


N_TABLE = {k: n_roundup(k) for k in range(-126, 129)}


def floor_log2_f32(a):
    """floor(fl32(log2(a))) for finite a > 0 (fp32 log2 correctly rounded, as torch's CPU kernels give).
    Exact rule: t = true exponent of a; n = ulps of a below 2^(t+1); result t+1 if 0 < n <= N(t+1), else t.
    (Subnormal a: only the step to -126 is modelled; everything lower is clamped to -127 anyway.)"""
    b = bits_of(a)
    E, M = b >> 23, b & 0x7FFFFF
    if E == 0:
        t = (M.bit_length() - 1) - 149
        return -126 if (0x800000 - M) <= N_TABLE[-126] else t
    t = E - 127
    return t + 1 if M != 0 and (0x800000 - M) <= N_TABLE[t + 1] else t


def model_block(xs, tab):
    """xs: fp32 numpy block (len 32, zero padded). Returns (scale byte, codes list)."""
    if any(not math.isfinite(float(v)) for v in xs):
        return 255, [0] * len(xs)
    amax = max(abs(float(v)) for v in xs)
    L = -126 if amax == 0 else floor_log2_f32(F32(amax))   # amax==0: log2(2^-126)
    e = L - tab.emax
    if e > 127:
        return 255, [0] * len(xs)
    e = max(e, -127)
    codes = []
    emin = 2 - 2 ** (tab.ebits - 1) if tab.ebits else None
    m = tab.mbits - 2
    for v in xs:
        vf = np.float32(v) / np.float32(2.0 ** e)     # fp32 division by 2^e (RNE if it underflows)
        neg = bool(vf < 0)      # torch.sign(-0.0) == 0: -0.0 (also from underflow) -> +0
        a = Fraction(abs(float(vf)))
        if tab.ebits:
            pe = max(math.frexp(float(a))[1] - 1 if a > 0 else 0, emin)   # exact exponent, clipped at emin
            y = a / Fraction(2) ** pe * 2 ** m
        else:
            pe, y = 0, a * 2 ** m
        r = 1 if y == Fraction(1, 2) - Fraction(1, 2 ** 25) else math.floor(y + Fraction(1, 2))
        val = Fraction(r) / 2 ** m * Fraction(2) ** pe
        val = min(val, Fraction(tab.max_norm))
        fv = -float(val) if neg else float(val)
        codes.append(tab.encode(F32(fv)))
    return e + 127, codes


def model_check(x, tab, codes, scales):
    R, C = x.shape
    nb = -(-C // BLOCK)
    xp = np.zeros((R, nb * BLOCK), dtype=np.float32)
    xp[:, :C] = x
    for r in range(R):
        for j in range(nb):
            b, cs = model_block(xp[r, j * BLOCK:(j + 1) * BLOCK], tab)
            assert b == scales[r, j], (tab.name, r, j, b, scales[r, j])
            got = list(codes[r, j * BLOCK:min(C, (j + 1) * BLOCK)])
            assert cs[:len(got)] == got, (tab.name, r, j, cs, got)


def log2_selfcheck():
    """torch.log2 floors (vectorised kernel: one big tensor; scalar tail: 1-element tensors) vs the model's
    rule at 0, 1, N(k), N(k)+1, N(k)+2 ulps below every 2^k, k = -126..128, and at 2^k itself."""
    xs = []
    for k in range(-126, 129):
        for n in sorted({0, 1, N_TABLE[k], N_TABLE[k] + 1, N_TABLE[k] + 2}):
            if n == 0 and k == 128:
                continue
            xs.append(f32(((k + 127) << 23) - n))
    arr = np.array(xs, dtype=np.float32)
    vec = torch.floor(torch.log2(torch.from_numpy(arr.copy()))).numpy()
    sca = np.array([torch.floor(torch.log2(torch.tensor([v]))).item() for v in arr])
    want = np.array([floor_log2_f32(v) for v in arr])
    assert (vec == want).all() and (sca == want).all(), (arr[(vec != want) | (sca != want)])
    return len(arr)


# ----------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------
def grid_values(tab):
    """positive finite element values, ascending"""
    return sorted({k[0] for k in tab.enc if k[0] >= 0 and not k[1] and math.isfinite(k[0])})


def prev_f(v, n=1):
    return f32(bits_of(v) - n)


def next_f(v, n=1):
    return f32(bits_of(v) + n)


def fill_row(rng, amax, n=32, frac_hi=1.0):
    """a row of n values |x| <= amax (amax at a random position, random sign)."""
    row = (rng.uniform(-1, 1, n) * float(amax) * frac_hi).astype(np.float32)
    row[rng.integers(n)] = F32(amax) * (1 if rng.random() < 0.5 else -1)
    return row


def make_cases(tab, rng):
    cases = []
    emax, mx = tab.emax, tab.max_norm
    fmt = tab.name
    add = lambda name, x: cases.append((name, np.asarray(x, dtype=np.float32)))

    # random data at several magnitudes
    big_r, big_c = (16, 128) if fmt in ("mxfp8_e4m3", "mxfp4") else (4, 64)
    add("rand_n01_big", rng.standard_normal((big_r, big_c)))
    add("rand_n01", rng.standard_normal((2, 64)))
    for tag, s in (("1em3", 1e-3), ("1e3", 1e3), ("1e30", 1e30), ("1em30", 1e-30)):
        add("rand_" + tag, rng.standard_normal((2, 64)) * s)
    add("rand_mix_mag", rng.standard_normal((2, 64)) * 10.0 ** rng.uniform(-12, 12, (2, 64)))
    add("rand_mix_mag_wide", rng.standard_normal((1, 64)) * 10.0 ** rng.uniform(-40, 38, (1, 64)))

    # block amax at / around powers of two
    rows = []
    for a in (F32(2.0), prev_f(F32(2.0)), next_f(F32(2.0)), prev_f(F32(4.0))):
        rows.append(fill_row(rng, a))
    add("amax_pow2_2_4", rows)
    rows = [fill_row(rng, prev_f(F32(v))) for v in (8.0, 16.0, 0.25, 512.0)]
    add("amax_below_pow2_roundup", rows)            # floor(log2) comes out one too high
    rows = []
    for k in (20, -20):
        n = N_TABLE[k]
        rows += [fill_row(rng, f32(((k + 127) << 23) - n)), fill_row(rng, f32(((k + 127) << 23) - n - 1))]
    add("amax_log2_boundary_pm20", rows)
    rows = [fill_row(rng, f32(0x7F000000)), fill_row(rng, prev_f(f32(0x7F000000))),
            fill_row(rng, prev_f(f32(0x7F000000), 44)), fill_row(rng, prev_f(f32(0x7F000000), 45))]
    add("amax_2p127", rows)
    rows = [fill_row(rng, f32(0x7F7FFFFF)), fill_row(rng, f32(0x7F800000 - 44)),
            fill_row(rng, f32(0x7F800000 - 45)), -np.abs(fill_row(rng, f32(0x7F7FFFFF)))]
    add("amax_flt_max", rows)
    rows = [fill_row(rng, prev_f(F32(2.0 ** -100))), fill_row(rng, prev_f(F32(2.0 ** -125))),
            fill_row(rng, f32(0x00800000 - 22)), fill_row(rng, f32(0x00800000 - 23))]
    add("amax_tiny", rows)

    # format-specific: amax near 2^emax and exactly the format maximum
    rows = [fill_row(rng, F32(2.0 ** emax)), fill_row(rng, prev_f(F32(2.0 ** emax))),
            fill_row(rng, prev_f(F32(2.0 ** (emax + 1)))), fill_row(rng, next_f(F32(2.0 ** (emax + 1))))]
    add("amax_near_2pemax", rows)
    g = grid_values(tab)
    rows = []
    for s in (0, -7, 20):
        row = np.array([g[i % len(g)] for i in rng.integers(0, len(g), 32)], dtype=np.float64)
        row *= np.where(rng.random(32) < 0.5, -1, 1)
        row[5] = mx
        rows.append((row * 2.0 ** s).astype(np.float32))
    hi = np.array(rows[0])           # saturation: elements above max_norm within the top binade
    top = 2.0 ** (emax + 1)
    hi[:8] = np.linspace(mx, top, 10)[1:9].astype(np.float32)
    hi[8] = F32(mx + (top - mx) / 2) if tab.ebits == 0 else hi[8]
    hi[9] = -hi[0]
    rows.append(hi)
    add("amax_is_format_max", rows)

    # ties between element grid points (scale 2^0: a block with amax = max_norm)
    mids = [(a + b) / 2 for a, b in zip(g[:-1], g[1:])]
    if tab.ebits == 0:
        mids = [(q + 0.5) / 64 for q in range(0, 127)]
    idx = np.unique(np.linspace(0, len(mids) - 1, min(len(mids), 62)).round().astype(int))
    sel = [mids[i] for i in idx]
    rows = []
    for i in range(0, len(sel), 31):
        chunk = sel[i:i + 31]
        row = [mx] + chunk + [-v for v in chunk][:31 - len(chunk)]
        rows.append(row + [0.0] * (32 - len(row)))
    vals = [v for row in rows for v in row]
    add("ties_scale1", np.array(vals, dtype=np.float32).reshape(-1, 32))
    # same ties at another scale (2^-40) with negatives first
    t2 = (np.array(vals, dtype=np.float64) * -(2.0 ** -40)).astype(np.float32).reshape(-1, 32)
    add("ties_scale_2m40", t2)

    # floor(|y|+0.5) in fp32: y = 0.5-2^-25 rounds up to 1 (half of the smallest nonzero, minus 1 ulp)
    minsub = g[1]
    row = np.zeros(32, dtype=np.float32)
    row[0] = mx
    row[1] = prev_f(F32(minsub / 2))          # -> min subnormal (RNE would give 0)
    row[2] = -prev_f(F32(minsub / 2))
    row[3] = prev_f(F32(minsub / 2), 2)       # -> 0
    row[4] = F32(minsub / 2)                  # tie -> away
    row[5] = -F32(minsub / 2)
    row[6] = next_f(F32(minsub / 2))
    row2 = (row.astype(np.float64) * 2.0 ** 50).astype(np.float32)
    row2[1] = prev_f(F32(minsub / 2 * 2.0 ** 50))
    row2[2] = -row2[1]
    row2[3] = prev_f(F32(minsub / 2 * 2.0 ** 50), 2)
    add("round_half_minus_ulp", [row, row2])

    # zeros
    add("zeros_pos_neg", [np.zeros(32, np.float32), np.full(32, -0.0, np.float32)])
    z = np.zeros(32, dtype=np.float32)
    z[0] = 1.0
    z[1::4] = -0.0
    z[2] = F32(-minsub / 8)      # negative, rounds to zero -> -0
    z[3] = F32(minsub / 8)
    z[6] = F32(-1e-30)
    add("zeros_single", [z])

    # non-finite
    nanrow = fill_row(rng, F32(3.0))
    nanrow[7] = f32(0x7FC00000)
    nanrow2 = fill_row(rng, F32(3.0))
    nanrow2[31] = f32(0xFFC00001)
    add("nan_block", [nanrow, nanrow2, fill_row(rng, F32(3.0))])
    infrow = fill_row(rng, F32(1.0))
    infrow[0] = np.inf
    ninfrow = fill_row(rng, F32(1.0))
    ninfrow[13] = -np.inf
    add("inf_block", [infrow, ninfrow, fill_row(rng, F32(1.0))])
    both = fill_row(rng, F32(1.0), 64)
    both[3] = np.inf
    both[40] = f32(0x7FC00000)
    add("inf_nan_two_blocks", [both])

    # subnormal fp32 inputs
    sub = rng.integers(1, 0x800000, 32).astype(np.uint32) | np.where(rng.random(32) < .5, 0x80000000, 0).astype(np.uint32)
    sub = sub.view(np.float32)
    sub2 = sub.copy()
    sub2[0] = 1.0
    sub3 = sub.copy()
    sub3[0] = F32(2.0 ** -100)
    add("subnormal_inputs", [sub, sub2, sub3])

    # negative-only blocks
    add("negative_only", -np.abs(rng.standard_normal((2, 32)) * np.array([[1.0], [1e-20]])))

    # sign of zero after underflow of x / 2^e (fp32 division gives -0.0 -> torch.sign -> +0)
    u = np.zeros(32, dtype=np.float32)
    u[0] = F32(2.0 ** 100)
    u[1] = F32(-2.0 ** -100)
    u[2] = F32(-2.0 ** -30)
    u[3] = f32(0x80000001)
    u[4] = F32(-1.0)
    add("neg_underflow_sign", [u])

    # tails (cols not a multiple of 32: microxcaling zero-pads the last block)
    add("tail_cols40", rng.standard_normal((2, 40)))
    add("tail_cols16", rng.standard_normal((1, 16)) * 1e-3)
    tl = fill_row(rng, F32(5.0), 72)
    tl[70] = f32(0x7FC00000)
    add("tail_cols72_nan_in_tail", [tl])
    return cases


# ----------------------------------------------------------------------------
def hexlines(prefix, items, per):
    out = []
    for i in range(0, len(items), per):
        out.append(prefix + " " + " ".join(items[i:i + per]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=DEFAULT_REPO)
    ap.add_argument("--src", default=None)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    mx_ops, mx_formats, mx_specs, version, tmp = load_library(args)

    nlog = log2_selfcheck()
    lines = ["# generated by tests/compat/gen_microxcaling.py from microxcaling %s; do not edit" % version]
    ncases = 0
    counts = {}
    for fi, (mxb, lib, dt, nbits) in enumerate(FORMATS):
        tab = ElemTable(mxb, lib, dt, nbits, mx_formats)
        rng = np.random.default_rng(1000 + fi)
        for name, x in make_cases(tab, rng):
            x = np.ascontiguousarray(x, dtype=np.float32)
            if x.ndim == 1:
                x = x.reshape(1, -1)
            R, C = x.shape
            codes, scales, _ = run_library(mx_ops, mx_specs, tab, x)
            model_check(x, tab, codes, scales)
            lines.append("case %s profile=%s format=%s rows=%d cols=%d" % (name, PROFILE, mxb, R, C))
            lines += hexlines("x", ["%08x" % b for b in x.reshape(-1).view(np.uint32)], 16)
            lines += hexlines("codes", ["%02x" % c for c in codes.reshape(-1)], 32)
            lines += hexlines("scales", ["%02x" % s for s in scales.reshape(-1)], 32)
            lines.append("end")
            ncases += 1
            counts[mxb] = counts.get(mxb, 0) + 1
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    if tmp is not None:
        tmp.cleanup()
    print("microxcaling %s: %d cases (%s) -> %s (%d bytes); log2 boundary self-check %d points ok"
          % (version[:12], ncases, ", ".join("%s %d" % kv for kv in counts.items()), args.out,
             os.path.getsize(args.out), nlog))


if __name__ == "__main__":
    main()
