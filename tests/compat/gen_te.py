#!/usr/bin/env python3
"""Generate tests/data/compat/te.vec from Transformer Engine's own reference code.

Usage:
    python3 tests/compat/gen_te.py [--te-git DIR | --te-src DIR] [-o OUT]

Defaults: --te-git $TE_GIT (a clone of NVIDIA/TransformerEngine, bare or not; the
files needed are exported from its HEAD into a temp dir with `git archive`), output
tests/data/compat/te.vec next to this script. --te-src takes a checked-out TE tree instead.
Needs: python with torch (CPU) and numpy; g++; CUDA's include dir for cuda_fp8.h
(--cuda-include, default /usr/local/cuda/include). No GPU, no TE build.

What is executed (nothing here re-implements TE's arithmetic):
  NVFP4  transformer_engine/pytorch/custom_recipes/reference_nvfp4.py (NVFP4QuantizerRef,
         1x16 row-wise, RNE, no RHT/SR/2D/4over6). The module and its helper
         reference_utils.py are exec'd from TE's source with the TE-internal imports that need
         the compiled extension (quantized_tensor, custom_recipes.gemm) stubbed by tiny
         stand-ins; they are only base classes / type annotations there.
           amax=computed : NVFP4QuantizerRef(...).quantize(x)   (TE computes torch.max(|x|))
           amax=<hex>    : NVFP4QuantizerRef._quantize_blockwise_reference(x, amax, 16, 1, ...)
                           (the same function quantize() calls, given the caller's amax)
  MXFP8  tests/cpp/test_common.h (float_to_e8m0, exp2f_rcp, Quantized_Limits, Numeric_Traits)
         and tests/cpp/operator/test_cast_mxfp8.cu (compute_ref) are cut out verbatim into
         te_extracted.inc and compiled with g++ together with tests/compat/te_mxfp8_ref.cpp,
         which only feeds data in and bytes out (rowwise 1x32, CAST_ONLY, fp32 input).
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_GIT = os.environ.get("TE_GIT", "TransformerEngine.git")  # a clone (bare or not) of NVIDIA/TransformerEngine
NEEDED = [
    "transformer_engine/pytorch/custom_recipes/reference_nvfp4.py",
    "transformer_engine/pytorch/custom_recipes/reference_utils.py",
    "tests/cpp/test_common.h",
    "tests/cpp/operator/test_cast_mxfp8.cu",
]

F32 = np.float32
FLT_MAX = float(np.finfo(np.float32).max)


# ----------------------------------------------------------------------------- sources
def get_sources(args, tmp):
    if args.te_src:
        src = args.te_src
        try:
            ver = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        except Exception:  # not a git checkout
            ver = "source tree " + os.path.abspath(src)
        return src, ver
    ver = subprocess.run(["git", "-C", args.te_git, "rev-parse", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    src = os.path.join(tmp, "te")
    os.makedirs(src)
    arch = subprocess.run(["git", "-C", args.te_git, "archive", "HEAD"] + NEEDED,
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", src], input=arch, check=True)
    return src, "git " + ver


def load_nvfp4_reference(src):
    """exec TE's reference_utils.py and reference_nvfp4.py with extension-only imports stubbed."""
    def mod(name):
        m = types.ModuleType(name)
        sys.modules[name] = m
        return m

    for n in ["transformer_engine", "transformer_engine.pytorch",
              "transformer_engine.pytorch.custom_recipes"]:
        mod(n).__path__ = []
    qt = mod("transformer_engine.pytorch.quantized_tensor")

    class QuantizedTensorStorage:  # stand-in base class (TE's lives in the compiled package)
        pass

    class Quantizer:  # stand-in: the two attributes TE's Quantizer.__init__ sets
        def __init__(self, *, rowwise, columnwise):
            self.rowwise_usage = rowwise
            self.columnwise_usage = columnwise

    qt.QuantizedTensorStorage = QuantizedTensorStorage
    qt.Quantizer = Quantizer
    gemm = mod("transformer_engine.pytorch.custom_recipes.gemm")  # annotations/defaults only
    gemm.GEMMType = types.SimpleNamespace(FPROP="fprop", DGRAD="dgrad", WGRAD="wgrad")
    gemm.MMParams = object
    pkg = sys.modules["transformer_engine.pytorch.custom_recipes"]
    pkg.gemm = gemm
    loaded = {}
    for short in ["reference_utils", "reference_nvfp4"]:
        name = "transformer_engine.pytorch.custom_recipes." + short
        path = os.path.join(src, "transformer_engine/pytorch/custom_recipes", short + ".py")
        m = mod(name)
        m.__file__ = path
        with open(path) as f:
            code = compile(f.read(), path, "exec")
        exec(code, m.__dict__)
        setattr(pkg, short, m)
        loaded[short] = m
    return loaded["reference_nvfp4"], loaded["reference_utils"]


def cut_block(text, start_regex):
    """Verbatim text from the match of start_regex to its balanced closing brace (+ ';')."""
    m = re.search(start_regex, text, re.M)
    if not m:
        raise RuntimeError("TE source changed: cannot find " + start_regex)
    i = text.index("{", m.end() - 1 if text[m.end() - 1] == "{" else m.end())
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                end = j + 1
                if text[end:end + 1] == ";":
                    end += 1
                return text[m.start():end] + "\n"
    raise RuntimeError("unbalanced braces after " + start_regex)


def build_mxfp8_reference(src, tmp, cuda_include):
    with open(os.path.join(src, "tests/cpp/test_common.h")) as f:
        common = f.read()
    with open(os.path.join(src, "tests/cpp/operator/test_cast_mxfp8.cu")) as f:
        cast = f.read()
    parts = []
    for pat in [r"^constexpr uint32_t FP32_EXPONENT_BIAS = .*$",
                r"^constexpr uint32_t FP32_MANTISSA_BITS = .*$"]:
        parts.append(re.search(pat, common, re.M).group(0) + "\n")
    parts.append(cut_block(common, r"^template <typename T>\s*struct Numeric_Traits \{"))
    parts.append(cut_block(common, r"^template <>\s*struct Numeric_Traits<fp8e4m3> \{"))
    parts.append(cut_block(common, r"^template <>\s*struct Numeric_Traits<fp8e5m2> \{"))
    parts.append(cut_block(common, r"^template <typename T>\s*struct Quantized_Limits \{"))
    parts.append(cut_block(common, r"^inline fp8e8m0 float_to_e8m0\(float val\) \{"))
    parts.append(cut_block(common, r"^inline float exp2f_rcp\(fp8e8m0 biased_exp\) \{"))
    parts.append(re.search(r"^inline float identity\(const float x\).*$", common, re.M).group(0)
                 + "\n")
    parts.append(cut_block(cast, r"^enum ProcessingMethod \{"))
    parts.append(cut_block(cast, r"^template <typename InputType, typename OutputType>\s*"
                                 r"void compute_ref\("))
    inc = os.path.join(tmp, "te_extracted.inc")
    with open(inc, "w") as f:
        f.write("// cut verbatim from Transformer Engine by gen_te.py\n" + "\n".join(parts))
    exe = os.path.join(tmp, "te_mxfp8_ref")
    cmd = ["g++", "-std=c++17", "-O2", "-ffp-contract=off", "-w", "-I", tmp, "-I", cuda_include,
           os.path.join(HERE, "te_mxfp8_ref.cpp"), "-o", exe]
    subprocess.run(cmd, check=True)
    return exe


# ----------------------------------------------------------------------------- helpers
def f32(v):
    return np.asarray(v, dtype=np.float64).astype(np.float32)


def bits2f(b):
    return np.asarray(b, dtype=np.uint32).view(np.float32)


def nextup(x):
    return np.nextafter(F32(x), F32(np.inf), dtype=np.float32)


def nextdown(x):
    return np.nextafter(F32(x), F32(-np.inf), dtype=np.float32)


NAN = bits2f(0x7FC00000)
NNAN = bits2f(0xFFC00000)
INF = F32(np.inf)


def rnd(seed, shape, scale=1.0):
    g = np.random.default_rng(seed)
    return (g.standard_normal(shape) * scale).astype(np.float32)


def mixed(seed, rows, cols):
    g = np.random.default_rng(seed)
    mag = 10.0 ** g.integers(-8, 9, size=(rows, cols))
    return (g.standard_normal((rows, cols)) * mag).astype(np.float32)


def row(*vals, n):
    """fp32 row of length n: vals then zeros."""
    out = np.zeros(n, dtype=np.float32)
    v = np.concatenate([np.atleast_1d(np.asarray(a, dtype=np.float32)) for a in vals])
    out[:len(v)] = v
    return out


# ----------------------------------------------------------------------------- NVFP4
class Nvfp4Runner:
    def __init__(self, ref, utils):
        self.ref = ref
        self.utils = utils

    def quantizer(self, tile=(1, 16), row_scaled=False, fos=None, e4m3_max=448):
        return self.ref.NVFP4QuantizerRef(
            dtype=self.utils.Fp4Formats.E2M1, rowwise=True, columnwise=False,
            pow_2_scales=False, eps=0.0, quant_tile_shape=tile, with_rht=False,
            row_scaled_nvfp4=row_scaled, nvfp4_use_4over6=fos is not None,
            nvfp4_e4m3_max=e4m3_max, nvfp4_4over6_err_mode=fos or "MAE")

    def __call__(self, x, amax=None, tile=(1, 16), row_scaled=False, fos=None, e4m3_max=448):
        """(codes, scales, amax bits: one, or one a row with row_scaled) of TE's quantize;
        fos: None, or Four Over Six with that error mode ("MAE", "MSE")."""
        q = self.quantizer(tile, row_scaled, fos, e4m3_max)
        t = torch.from_numpy(x.copy())
        if amax is None:
            r = q.quantize(t)
            data, scale, a = r.data, r.scale, r.global_amax_row
        else:
            m, n = t.shape
            tp = q._pad_tensor(t, row_divisor=1, col_divisor=16)
            data, scale = q._quantize_blockwise_reference(
                tp, torch.tensor([amax], dtype=torch.float32), 16, 1,
                pow_2_scales=False, eps=0.0)
            data = q._rm_pad_tensor(data, (m, n // 2))
            a = torch.tensor([amax], dtype=torch.float32)
        d = data.view(torch.uint8).numpy()
        codes = np.empty((d.shape[0], d.shape[1] * 2), dtype=np.uint8)
        codes[:, 0::2] = d & 0x0F
        codes[:, 1::2] = d >> 4
        s8 = scale.contiguous().view(torch.uint8).numpy()
        scales = s8.reshape(s8.shape[0], -1)[:x.shape[0], :(x.shape[1] + 15) // 16]  # 2D: rows padded to 16
        bits = [int(b) for b in a.reshape(-1).numpy().view(np.uint32)]
        return codes[:x.shape[0], :x.shape[1]], scales, bits if row_scaled else bits[0]


def nvfp4_cases():
    C = []

    def add(name, x, amax=None):
        C.append((name, np.atleast_2d(np.asarray(x, dtype=np.float32)), amax))

    # random data at several magnitudes
    add("rand_n1", rnd(1, (4, 64)))
    add("rand_1em3", rnd(2, (4, 64), 1e-3))
    add("rand_1e3", rnd(3, (4, 64), 1e3))
    add("rand_1e30", rnd(4, (4, 64), 1e30))
    add("rand_1em30", rnd(5, (4, 64), 1e-30))
    add("rand_1em35", rnd(6, (2, 64), 1e-35))
    add("rand_1em37", rnd(7, (2, 64), 1e-37))
    add("rand_mixmag", mixed(8, 4, 64))
    add("rand_big", rnd(9, (16, 128)))
    # tensor amax 2688 -> S_enc = 1, S_dec = 1; block 0 amax 6 -> scale 1.0, enc = 1:
    # every E2M1 tie and near-tie point, both signs
    ties = [6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5,
            -5.0, -6.0]
    near = [6.0] + [float(v) for t in (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)
                    for v in (nextdown(t), nextup(t))][:14] + [5.5]
    add("e2m1_ties", np.concatenate([f32(ties), f32(near), row(2688.0, n=16)])[None, :])
    # -0.0 and zeros; negative value rounding to zero keeps sign (code 8); exact -0 -> code 0
    add("zero_signs", np.concatenate([
        f32([6.0, -0.0, 0.0, -0.1, 0.1, -0.25, 0.25, -1e-30, -0.0, 1.0, -1.0, 0.0, -0.0, -3.0,
             -0.0, 2.0]),
        f32([-0.0] * 16), f32([0.0] * 16), row(2688.0, n=16)])[None, :])
    add("all_zero", np.zeros((2, 32), dtype=np.float32))
    add("all_negzero", np.full((2, 32), -0.0, dtype=np.float32))
    # negative subnormal times a small enc underflows to -0.0 (code 0), vs -2^-149 * big enc
    add("negzero_underflow", np.concatenate([
        row(1e10, -1e-45, 1e-45, -3e-38, -1e-30, -1.0, n=16),
        row(-1e-45, 1e-45, -3e-45, n=16)])[None, :])
    # block amax at / one ulp around powers of two and format limits (scale-side edges);
    # "at": the tensor amax is e itself; "up": a block one ulp above e sets the tensor amax
    for e in [2.0, 4.0, 6.0, 448.0, 1.0, 0.5, 8.0, 2688.0, 3.0, 12.0, 1e-3, 123.456, 5e20]:
        lbl = ("%g" % e).replace(".", "p").replace("-", "m").replace("+", "")
        e = F32(e)
        add("amax_at_" + lbl, np.concatenate([row(e, -e * F32(0.5), e * F32(0.25), 1.0, n=16),
                                              row(nextdown(e), -0.3, n=16),
                                              row(-e, e * F32(0.75), n=16)])[None, :])
        add("amax_up_" + lbl, np.concatenate([row(nextdown(e), 1.0, -0.5, n=16),
                                              row(e, 0.3, n=16),
                                              row(nextup(e), -1.7, n=16)])[None, :])
    # UE4M3 scale ties/near-ties: S_enc = 1 (A = 2688), m = 1/6f; a_b chosen so that a_b*m is a
    # (near-)tie of the E4M3 grid: 1.0625, 17, 1.5*2^-9 (subnormal), 2^-10 (underflow tie), 464
    m = F32(1.0) * (F32(1.0) / F32(6.0))

    def ab_for(target):
        a = F32(target) / m
        for _ in range(64):
            p = F32(a * m)
            if p == F32(target):
                return a
            a = nextup(a) if p < F32(target) else nextdown(a)
        return F32(target) / m

    sc = []
    for t in [1.0625, 17.0, 1.5 * 2 ** -9, 2.0 ** -10, 2.0 ** -6, 240.0, 0.6875, 448.0]:
        a = ab_for(t)
        sc += [row(a, a * F32(0.5), -a * F32(0.3), n=16), row(nextup(a), -nextup(a), n=16),
               row(nextdown(a), n=16)]
    add("ue4m3_scale_ties", np.concatenate(sc + [row(2688.0, n=16)])[None, :])
    # supplied A = 2688 (S_enc = 1) with block amaxes whose a_b * m is 464 (the E4M3 tie above
    # 448) or more: TE clamps to 448 before the cast
    a464 = ab_for(464.0)
    add("sup_amax_scale_clamp", np.concatenate([
        row(a464, -1.0, n=16), row(nextdown(a464), 2.0, n=16), row(nextup(a464), n=16),
        row(F32(1e6), -3.0, n=16)])[None, :], 2688.0)
    # block whose scale underflows to 0 while non-zero (enc = FLT_MAX, codes +-6)
    add("scale_underflow", np.concatenate([row(1e-4, -2e-4, 3e-5, n=16),
                                           row(1e4, -2.0, n=16)])[None, :])
    # NaN / Inf
    add("nan_one", np.concatenate([row(1.0, NAN, -2.0, n=16), rnd(10, 16)])[None, :])
    add("nan_neg", np.concatenate([row(NNAN, 3.0, n=16), rnd(11, 16)])[None, :])
    add("inf_pos", np.concatenate([row(1.0, INF, -2.0, n=16), rnd(12, 16)])[None, :])
    add("inf_neg", np.concatenate([row(-INF, 0.5, n=16), rnd(13, 16) * F32(1e3)])[None, :])
    # fp32 subnormal inputs: alone (A subnormal: 2688/A overflows) and mixed in a block
    add("subnormal_only", bits2f(np.arange(1, 65, dtype=np.uint32) * 0x1234 % 0x7FFFFF
                                 | np.where(np.arange(64) % 3 == 0, 0x80000000, 0)
                                 .astype(np.uint32)).reshape(2, 32))
    add("subnormal_mixed", np.concatenate([
        row(bits2f(0x00000001), bits2f(0x80400000), bits2f(0x007FFFFF), 1.0, n=16),
        row(bits2f(0x00100000), -bits2f(0x00000003), n=16)])[None, :])
    # near FLT_MAX
    add("near_fltmax", np.stack([
        row(FLT_MAX, -FLT_MAX, nextdown(FLT_MAX), 3e38, 1e38, -1.0, n=32),
        row(3.3e38, -2e37, 1.0, n=16).tolist() + row(-FLT_MAX * F32(0.5), n=16).tolist()]))
    add("negative_only", -np.abs(rnd(14, (2, 32))) * F32(7.0))
    # short last block (cols % 16 != 0): the reference pads with zeros
    add("tail_24", rnd(15, (2, 24)))
    # ---- amax supplied by the caller
    x = rnd(16, (2, 32))
    tru = float(np.max(np.abs(x)))
    add("sup_amax_exact", x, tru)
    add("sup_amax_double", x, float(F32(tru) * F32(2.0)))
    add("sup_amax_half", x, float(F32(tru) * F32(0.5)))          # saturation
    add("sup_amax_tiny", x, 1e-3)                                 # heavy saturation
    add("sup_amax_zero", x, 0.0)
    add("sup_amax_inf", x, float("inf"))
    add("sup_amax_2688", np.concatenate([f32(ties), f32(near)])[None, :], 2688.0)
    add("sup_amax_nan_in_data", np.concatenate([row(1.0, NAN, -2.0, n=16), rnd(17, 16)])[None, :],
        4.0)
    add("sup_amax_inf_in_data", np.concatenate([row(1.0, INF, -2.0, n=16), rnd(18, 16)])[None, :],
        4.0)
    add("sup_amax_subnormal", rnd(19, (1, 32), 1e-39), 1e-39)
    add("sup_amax_fltmax", rnd(20, (1, 32), 1e37), FLT_MAX)
    return C


def nvfp4_option_cases():
    """(name, x, tile, row_scaled): TE's 16x16 tiles (weights) and its amax per row
    (row_scaled_nvfp4), each with its computed amax(es)."""
    C = []
    t2, rs = (16, 16), (1, 16)

    def stack(*rows_):
        return np.stack([np.asarray(r_, dtype=np.float32) for r_ in rows_])
    # 2D: random at several magnitudes, partial tiles (rows and cols not multiples of 16)
    C.append(("2d_rand_n1", rnd(30, (32, 64)), t2, False))
    C.append(("2d_rand_1e3", rnd(31, (16, 48), 1e3), t2, False))
    C.append(("2d_rand_1em30", rnd(32, (16, 32), 1e-30), t2, False))
    C.append(("2d_mixmag", mixed(33, 32, 32), t2, False))
    C.append(("2d_partial_20x40", rnd(34, (20, 40)), t2, False))
    # 2D with specials: -0.0 (code 0), a NaN tile (NaN poisons the tensor amax), an Inf tile
    z = rnd(35, (16, 32))
    z[0, 0], z[3, 17], z[15, 31] = -0.0, -0.0, -1e-30
    C.append(("2d_zero_signs", z, t2, False))
    n = rnd(36, (32, 32))
    n[5, 3] = NAN
    C.append(("2d_nan", n, t2, False))
    i = rnd(37, (16, 64))
    i[9, 40] = INF
    C.append(("2d_inf", i, t2, False))
    big = rnd(38, (16, 32), 3e37)
    big[2, 5], big[7, 20] = FLT_MAX, -FLT_MAX
    C.append(("2d_near_fltmax", big, t2, False))
    # an amax per row: rows of very different magnitudes, zero rows, specials in one row each
    mags = np.float32([[1e-3], [1.0], [1e3], [1e-30], [7.0], [1e30], [0.5], [2688.0]])
    C.append(("row_rand", rnd(40, (8, 64)) * mags, rs, True))
    C.append(("row_zeros", stack(row(0.0, n=32), row(-0.0, n=32), row(1.0, -0.0, n=32),
                                 row(-1e-45, n=32)), rs, True))
    C.append(("row_specials", stack(row(1.0, NAN, -2.0, n=32), row(INF, 3.0, n=32), row(-INF, n=32),
                                    row(FLT_MAX, -1.0, n=32), row(1e-39, -3e-39, n=32)), rs, True))
    C.append(("row_tail_3x24", rnd(41, (3, 24)), rs, True))
    C.append(("row_big", rnd(42, (16, 128)) * np.float32(np.logspace(-20, 20, 16))[:, None], rs, True))
    return C


def nvfp4_fos_inputs():
    """(name, x, row_scaled) for TE's Four Over Six: random blocks (where 4 and 6 compete),
    blocks built so that the 4 candidate wins (values near 4/6 of the amax), specials."""
    C = [("rand", rnd(50, (8, 64)), False), ("rand_1e3", rnd(51, (4, 64), 1e3), False),
         ("rand_1em30", rnd(52, (2, 64), 1e-30), False), ("mixmag", mixed(53, 4, 64), False)]
    f = np.tile(np.float32([6.0, 4.0, 4.0, 4.0, 2.0, -4.0, 1.0, 0.0, -0.0, 3.0, -3.0, 4.0, 4.0, 0.5, 5.0, -6.0]), 4)
    C.append(("near_four", (f * np.float32([1.0, 0.75, 1e-3, 100.0])[:, None].repeat(16, 1).reshape(-1))[None, :],
              False))
    sp = rnd(54, (2, 64))
    sp[0, 3], sp[1, 17], sp[1, 40] = NAN, INF, -0.0
    C.append(("specials", sp, False))
    C.append(("rows", rnd(55, (6, 48)) * np.float32([[1e-3], [1.0], [1e3], [0.0], [1e30], [7.0]]), True))
    return C


def nvfp4_fos_2d_inputs():
    """(name, x) for TE's Four Over Six on 16x16 tiles: random tiles, partial tiles, a NaN tile."""
    C = [("rand", rnd(60, (32, 64))), ("rand_1e3", rnd(61, (16, 48), 1e3)), ("partial_20x40", rnd(62, (20, 40))),
         ("mixmag", mixed(63, 32, 32))]
    n = rnd(64, (16, 32))
    n[3, 20] = NAN
    C.append(("nan", n))
    return C


# ----------------------------------------------------------------------------- MXFP8
def mxfp8_run(exe, fmt, x):
    r, c = x.shape
    inp = struct.pack("<iii", 0 if fmt == "mxfp8_e4m3" else 1, r, c) + \
        np.ascontiguousarray(x, dtype=np.float32).tobytes()
    out = subprocess.run([exe], input=inp, capture_output=True, check=True).stdout
    sc = (c + 31) // 32
    assert len(out) == r * c + r * sc
    codes = np.frombuffer(out[:r * c], dtype=np.uint8).reshape(r, c)
    scales = np.frombuffer(out[r * c:], dtype=np.uint8).reshape(r, sc)
    return codes, scales


def mxfp8_cases(fmt):
    C = []
    mx = 448.0 if fmt == "mxfp8_e4m3" else 57344.0

    def add(name, x):
        C.append((name, np.atleast_2d(np.asarray(x, dtype=np.float32))))

    add("rand_n1", rnd(101, (2, 64)))
    add("rand_1em3", rnd(102, (2, 64), 1e-3))
    add("rand_1e3", rnd(103, (2, 64), 1e3))
    add("rand_1e30", rnd(104, (2, 64), 1e30))
    add("rand_1em30", rnd(105, (2, 64), 1e-30))
    add("rand_mixmag", mixed(106, 4, 64))
    add("rand_big", rnd(107, (16, 128)))
    # block amax at / around max * 2^k (amax * fl(1/max) then round the exponent up)
    rows_ = []
    for k in [0, 1, -1, 5, -20, 60, -100]:
        e = F32(mx * 2.0 ** k)
        for a in (nextdown(e), e, nextup(e)):
            rows_.append(row(a, -a * F32(0.75), a * F32(0.01), n=32))
    for p in [1.0, 2.0, 4.0, 0.5]:  # plain powers of two as amax, and one ulp below/above
        for a in (nextdown(p), F32(p), nextup(p)):
            rows_.append(row(a, -a, F32(1.0) / F32(3.0), n=32))
    if fmt == "mxfp8_e4m3":
        for a in [464.0, 480.0, 449.0, 896.0, 928.0]:
            rows_.append(row(a, -a, 1.0, n=32))
    else:
        for a in [61440.0, 65536.0, 57345.0, 114688.0]:
            rows_.append(row(a, -a, 1.0, n=32))
    add("amax_pow2_edges", np.stack(rows_))
    # element ties with block scale 2^0 (amax = max exactly -> fl(max * fl(1/max)) checked by TE)
    if fmt == "mxfp8_e4m3":
        t = [448.0, 1.0625, 17.0, 2.0 ** -10, 3 * 2.0 ** -10, 2.0 ** -7 + 2.0 ** -10, 464.0 - 1,
             0.9375 * 2 ** -6 + 2 ** -10, 1.1875, 240.0 + 8, 300.0, -1.0625, -17.0, -2.0 ** -10,
             -3 * 2.0 ** -10, 2.0 ** -11]
    else:
        t = [57344.0, 1.125, 2.0 ** -17, 3 * 2.0 ** -17, 1.375, 40960.0 + 4096, 2.0 ** -15 * 1.125,
             -1.125, -2.0 ** -17, -3 * 2.0 ** -17, 0.75 * 2 ** -14 + 2 ** -17, 2.0 ** -18, 5.0, 7.0,
             -1.375, 3.0]
    tt = f32(t)
    near = np.concatenate([[F32(mx)], [nextup(v) for v in tt[1:]]]).astype(np.float32)
    neard = np.concatenate([[F32(mx)], [nextdown(v) for v in tt[1:]]]).astype(np.float32)
    add("elem_ties", np.stack([row(tt, n=32), row(near, n=32), row(neard, n=32)]))
    # zeros
    add("zero_signs", np.stack([row(1.0, -0.0, 0.0, -1e-30, 1e-30, -0.0, n=32),
                                np.full(32, -0.0, np.float32), np.zeros(32, np.float32)]))
    add("all_zero", np.zeros((1, 64), np.float32))
    # NaN / Inf (NaN alone, NaN with values, -NaN, all NaN; +-Inf)
    add("nan_inf", np.stack([row(1.0, NAN, -2.0, n=32), row(NNAN, 3.0, -0.5, n=32),
                             np.full(32, NAN, np.float32), row(1.0, INF, -2.0, 1e30, n=32),
                             row(-INF, 0.5, 1e38, n=32), row(INF, -INF, NAN, n=32)]))
    # fp32 subnormals: block of subnormals; amax around max * 2^-127 (scale byte 0 vs 1)
    s = bits2f(np.arange(1, 33, dtype=np.uint32) * 0x3F1F % 0x7FFFFF)
    e = F32(mx) * F32(2.0 ** -127)
    add("subnormal", np.stack([s, -s, row(bits2f(0x007FFFFF), bits2f(1), n=32),
                               row(e, bits2f(1), n=32), row(nextup(e), n=32),
                               row(nextdown(e), n=32), row(e * F32(1.01), n=32),
                               row(e * F32(1.5), n=32), row(e * F32(2), n=32),
                               row(nextup(e * F32(2)), n=32)]))
    # near FLT_MAX
    add("near_fltmax", np.stack([row(FLT_MAX, -FLT_MAX, 1.0, n=32),
                                 row(nextdown(FLT_MAX), 3e38, -2e38, n=32),
                                 row(F32(2.0 ** 127), 1e37, n=32),
                                 row(F32(1.5 * 2.0 ** 127), -1.0, n=32)]))
    add("negative_only", -np.abs(rnd(108, (2, 64))) * F32(3.0))
    # amax scaling exactly to the format max with every element on the grid
    add("amax_to_max", np.stack([row(F32(mx) * F32(2.0 ** k), F32(mx) * F32(2.0 ** (k - 1)),
                                     -F32(mx) * F32(2.0 ** k), n=32) for k in (0, 3, -3, 50)]))
    add("tail_40", rnd(109, (2, 40)))
    return C


# ----------------------------------------------------------------------------- output
def hexs(vals, fmt, per):
    vals = list(vals)
    return [" ".join(fmt % v for v in vals[i:i + per]) for i in range(0, len(vals), per)]


def emit(lines, name, fmt, x, codes, scales, amax_attr=None, amax_bits=None, extra=""):
    r, c = x.shape
    head = "case %s profile=te format=%s rows=%d cols=%d" % (name, fmt, r, c)
    if amax_attr is not None:
        head += " amax=" + amax_attr
    head += extra
    lines.append(head)
    xb = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).reshape(-1)
    lines += ["x " + s for s in hexs(xb, "%08x", 16)]
    lines += ["codes " + s for s in hexs(codes.reshape(-1), "%02x", 32)]
    lines += ["scales " + s for s in hexs(scales.reshape(-1), "%02x", 32)]
    if isinstance(amax_bits, list):  # one a row
        lines += ["amax " + s for s in hexs(amax_bits, "%08x", 16)]
    elif amax_bits is not None:
        lines.append("amax %08x" % amax_bits)
    lines.append("end")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--te-git", default=DEFAULT_GIT)
    ap.add_argument("--te-src", default=None)
    ap.add_argument("--cuda-include", default="/usr/local/cuda/include")
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "tests/data/compat/te.vec"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(False)
    with tempfile.TemporaryDirectory(prefix="gen_te_") as tmp:
        src, ver = get_sources(args, tmp)
        ref, utils = load_nvfp4_reference(src)
        exe = build_mxfp8_reference(src, tmp, args.cuda_include)
        lines = ["# generated by tests/compat/gen_te.py from te %s; do not edit" % ver]
        counts = {}
        nv = Nvfp4Runner(ref, utils)
        for name, x, amax in nvfp4_cases():
            codes, scales, ab = nv(x, amax)
            attr = "computed" if amax is None else "%08x" % int(f32(amax).view(np.uint32))
            emit(lines, "nvfp4_" + name, "nvfp4", x, codes, scales, attr, ab)
            counts["nvfp4"] = counts.get("nvfp4", 0) + 1
        for name, x, tile, row_scaled in nvfp4_option_cases():
            codes, scales, ab = nv(x, None, tile, row_scaled)
            extra = " block_2d=1" if tile == (16, 16) else " row_amax=1"
            emit(lines, "nvfp4_" + name, "nvfp4", x, codes, scales, "computed", ab, extra)
            counts["nvfp4" + extra] = counts.get("nvfp4" + extra, 0) + 1
        # Four Over Six (1x16 blocks): both error modes, both E4M3 bounds, one amax or one a row
        for name, x, row_scaled in nvfp4_fos_inputs():
            for fos in ("MAE", "MSE"):
                for bound in (448, 256):
                    codes, scales, ab = nv(x, None, (1, 16), row_scaled, fos, bound)
                    extra = " four_over_six=%s e4m3_max=%d%s" % (fos.lower(), bound, " row_amax=1" if row_scaled else "")
                    emit(lines, "nvfp4_4over6_%s_%s_%d" % (name, fos.lower(), bound), "nvfp4", x, codes, scales,
                         "computed", ab, extra)
                    counts["nvfp4 four_over_six"] = counts.get("nvfp4 four_over_six", 0) + 1
        # Four Over Six on 16x16 tiles: the tile's rows' errors summed in TE's tree decide
        for name, x in nvfp4_fos_2d_inputs():
            for fos, bound in (("MAE", 448), ("MSE", 256), ("MAE", 256)):
                codes, scales, ab = nv(x, None, (16, 16), False, fos, bound)
                extra = " block_2d=1 four_over_six=%s e4m3_max=%d" % (fos.lower(), bound)
                emit(lines, "nvfp4_2d_4over6_%s_%s_%d" % (name, fos.lower(), bound), "nvfp4", x, codes, scales,
                     "computed", ab, extra)
                counts["nvfp4 2d four_over_six"] = counts.get("nvfp4 2d four_over_six", 0) + 1
        for fmt in ["mxfp8_e4m3", "mxfp8_e5m2"]:
            for name, x in mxfp8_cases(fmt):
                codes, scales = mxfp8_run(exe, fmt, x)
                emit(lines, fmt.replace("mxfp8_", "") + "_" + name, fmt, x, codes, scales)
                counts[fmt] = counts.get(fmt, 0) + 1
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    text = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print("wrote %s (%d bytes) from te %s: %s" % (
        args.out, len(text), ver, ", ".join("%s %d cases" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
