#!/usr/bin/env python3
"""Reference vectors for the torchao compatibility profile (tests/data/compat/torchao.vec).

Runs torchao's own pure-PyTorch quantizers on the CPU and records their bytes:

* MX (mxfp8_e4m3, mxfp8_e5m2, mxfp6_e2m3, mxfp6_e3m2, mxfp4):
  ``torchao.prototype.mx_formats.mx_tensor.to_mx(x, elem_dtype, 32, scaling_mode)``
  with ScaleCalculationMode FLOOR (torchao's default, case names without a
  suffix, ``mode=floor``), RCEIL (``_rceil``), CEIL (``_ceil``) and EVEN
  (``_even``).  Codes are the unpacked element bits (FP4 unpacked with torchao's
  ``unpack_uint4``), scales the E8M0 bytes.
* NVFP4: ``NVFP4Tensor.to_nvfp4(x, 16, per_tensor_scale=...)`` (which calls
  ``nvfp4_quantize``), without a tensor scale (``amax=none``, no ``amax`` line)
  and with ``per_tensor_scale = per_tensor_amax_to_scale(A)`` for a caller
  amax ``A`` (``amax=<hex A>``, and an ``amax`` line with the same A): the
  tensor's own ``torch.max(torch.abs(x))`` (what torchao's dynamic activation
  scaling passes) or a calibration value.

Source of torchao (``--src``):
  ``mirror`` (default)  a clone of pytorch/ao ($TORCHAO_GIT); its HEAD
                        (or ``--rev``) is exported with ``git archive`` into a
                        temporary directory and imported from there.
  ``site``              the pip-installed torchao of this interpreter.
  <dir>                 a git directory (exported as for ``mirror``) or a
                        directory holding the ``torchao/`` package sources.
torchao HEAD wants torch >= 2.10 only for names used by its matmul paths
(``torch.nn.functional.ScalingType/SwizzleType/scaled_grouped_mm``); on an older
torch those three names are stubbed before the import (they are never called
here).  Nothing of the quantizers is replaced.

Usage (from the repository root, in a venv with torch, numpy):
  python3 tests/compat/gen_torchao.py \
      [--src mirror|site|DIR] [--rev HEAD] [--out tests/data/compat/torchao.vec] \
      [--modes floor,rceil] (the modes with an mxblas profile; ceil and even also run)
Deterministic: all inputs come from numpy PCG64 generators seeded by the case
name (crc32), torch runs single-threaded on the CPU.  Prints one summary line.
"""

import argparse
import enum
import importlib
import logging
import os
import subprocess
import sys
import tempfile
import zlib

import numpy as np

MIRROR = os.environ.get("TORCHAO_GIT", "ao.git")  # a clone (bare or not) of pytorch/ao
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "data", "compat", "torchao.vec"))


# ----------------------------------------------------------------------------
# importing torchao
# ----------------------------------------------------------------------------
def _export(gitdir, rev, dest):
    commit = subprocess.check_output(["git", "-C", gitdir, "rev-parse", rev], text=True).strip()
    arch = subprocess.run(["git", "-C", gitdir, "archive", commit, "torchao", "version.txt"],
                          check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=arch, check=True)
    with open(os.path.join(dest, "version.txt")) as f:
        version = f.read().strip()
    return commit, version


def _shim_torch():
    """Names torchao HEAD imports from torch >= 2.10 that only its matmul paths use."""
    import torch.nn.functional as F

    if not hasattr(F, "ScalingType"):
        F.ScalingType = enum.Enum("ScalingType", "TensorWise RowWise BlockWise1x16 BlockWise1x32 "
                                  "BlockWise1x128 BlockWise128x128")
    if not hasattr(F, "SwizzleType"):
        F.SwizzleType = enum.Enum("SwizzleType", "NO_SWIZZLE SWIZZLE_32_4_4")
    if not hasattr(F, "scaled_grouped_mm"):
        def scaled_grouped_mm(*a, **k):
            raise NotImplementedError("stub: torch.nn.functional.scaled_grouped_mm")
        F.scaled_grouped_mm = scaled_grouped_mm


def import_torchao(src, rev, tmp):
    """Returns (modules dict, provenance string)."""
    if src == "site":
        from importlib.metadata import version as _v
        desc = "torchao %s (pip)" % _v("torchao")
        _shim_torch()
    else:
        gitdir = MIRROR if src == "mirror" else src
        if os.path.isdir(os.path.join(gitdir, "torchao")) and not os.path.exists(os.path.join(gitdir, "HEAD")):
            root = gitdir
            desc = "torchao sources at %s" % root
        else:
            root = tmp
            commit, version = _export(gitdir, rev, root)
            desc = "torchao %s (git %s)" % (version, commit)
        os.environ.setdefault("TORCHAO_FORCE_SKIP_LOADING_SO_FILES", "1")
        _shim_torch()
        sys.path.insert(0, root)
    logging.getLogger("torchao").setLevel(logging.ERROR)  # "Skipping import of cpp extensions"
    mods = {
        "mx": importlib.import_module("torchao.prototype.mx_formats.mx_tensor"),
        "nv": importlib.import_module("torchao.prototype.mx_formats.nvfp4_tensor"),
        "k": importlib.import_module("torchao.prototype.mx_formats.kernels"),
        "c": importlib.import_module("torchao.prototype.mx_formats.constants"),
        "cfg": importlib.import_module("torchao.prototype.mx_formats.config"),
    }
    where = os.path.dirname(mods["mx"].__file__)
    if src != "site":
        assert where.startswith(root), "imported torchao from %s, not %s" % (where, root)
    return mods, desc


# ----------------------------------------------------------------------------
# fp32 helpers
# ----------------------------------------------------------------------------
def f32(v):
    return np.asarray(v, dtype=np.float64).astype(np.float32)


def from_bits(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def bits_of(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def nextup(v):
    return np.nextafter(np.float32(v), np.float32(np.inf), dtype=np.float32)


def nextdown(v):
    return np.nextafter(np.float32(v), np.float32(-np.inf), dtype=np.float32)


def rng_for(name):
    return np.random.Generator(np.random.PCG64(zlib.crc32(name.encode())))


# ----------------------------------------------------------------------------
# formats
# ----------------------------------------------------------------------------
class Fmt:
    def __init__(self, name, key, maxn, emax, mbits):
        self.name, self.key, self.maxn, self.emax, self.mbits = name, key, maxn, emax, mbits

    def grid(self, mods):
        """All non-negative finite values of the element type, ascending."""
        import torch
        k = mods["k"]
        if self.key == "e4m3":
            v = torch.arange(0, 0x7F, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
        elif self.key == "e5m2":
            v = torch.arange(0, 0x7C, dtype=torch.uint8).view(torch.float8_e5m2).float()
        elif self.key == "e2m3":
            v = k.f6_e2m3_unpacked_to_f32(torch.arange(0, 0x20, dtype=torch.uint8))
        elif self.key == "e3m2":
            v = k.f6_e3m2_unpacked_to_f32(torch.arange(0, 0x20, dtype=torch.uint8))
        else:
            v = k.f4_unpacked_to_f32(torch.arange(0, 8, dtype=torch.uint8))
        return np.sort(v.numpy().astype(np.float32))


MX_FMTS = [
    Fmt("mxfp8_e4m3", "e4m3", 448.0, 8, 3),
    Fmt("mxfp8_e5m2", "e5m2", 57344.0, 15, 2),
    Fmt("mxfp6_e2m3", "e2m3", 7.5, 2, 3),
    Fmt("mxfp6_e3m2", "e3m2", 28.0, 4, 2),
    Fmt("mxfp4", "e2m1", 6.0, 2, 1),
]
NVFP4 = Fmt("nvfp4", "e2m1", 6.0, 2, 1)

FLT_MAX = float(np.finfo(np.float32).max)
NAN, INF = float("nan"), float("inf")


def fill_block(r, amax, n, neg=False, frac=0.95):
    """n values, |v| <= frac*amax (random signs), with amax itself at a random place."""
    v = r.uniform(-frac, frac, n).astype(np.float64) * np.float64(amax)
    if neg:
        v = -np.abs(v)
    v = f32(v)
    i = r.integers(0, n)
    v[i] = -np.float32(amax) if (neg or r.integers(0, 2)) else np.float32(amax)
    return v


def specials_mx(f):
    """Block amaxes around the scale rules' boundaries for format f (fp32 values)."""
    M = np.float32(f.maxn)
    m = f.mbits
    out = []
    two = np.float32(2.0)
    out += [two, nextdown(two), nextup(two)]                 # FLOOR/CEIL: exact power of two
    p = np.float32(2.0 ** (f.emax + 1))
    out += [p, nextdown(p)]                                   # FLOOR: amax/scale reaches 2^(emax+1)
    for k in (0, -5):                                         # RCEIL: amax * (1/max) at a power of two
        a = np.float32(M * np.float32(2.0 ** k))
        out += [a, nextdown(a), nextup(a)]
    out.append(np.float32(f.maxn + 2.0 ** (f.emax - m - 1)))  # rounding midpoint above max (464 ...)
    e = np.float32(2.0 - 2.0 ** -(m + 1))                     # EVEN: mantissa rounds up at m bits
    out += [e, nextdown(e), np.float32(e * np.float32(2.0 ** 7))]
    return np.array(out, dtype=np.float32)


def pad_rows(blocks, blk, cols=64):
    """Concatenates blocks (each blk values) into rows of cols values, padding with +1.0 blocks."""
    x = np.concatenate(blocks).astype(np.float32)
    if len(x) % cols:
        x = np.concatenate([x, np.ones(cols - len(x) % cols, np.float32)])
    return x.reshape(-1, cols)


def cases_for(f, prefix, nvfp4=False):
    """(short name, x[R,C] float32) pairs for format f (NVFP4 when nvfp4)."""
    C = []
    blk = 16 if nvfp4 else 32

    def add(name, x):
        C.append((name, np.asarray(x, dtype=np.float32)))

    def rnd(name, rows, cols, scale):
        r = rng_for(prefix + name)
        add(name, f32(r.standard_normal((rows, cols)) * scale))

    rnd("rand_n1", 1, 64, 1.0)
    rnd("rand_1em3", 1, 32, 1e-3)
    rnd("rand_1e3", 1, 32, 1e3)
    rnd("rand_1e30", 1, 32, 1e30)
    rnd("rand_1em30", 1, 32, 1e-30)
    r = rng_for(prefix + "mix")   # magnitudes 1e-12 .. 1e12 inside each block
    add("rand_mix", f32(r.choice([-1.0, 1.0], (1, 64)) * 10.0 ** r.uniform(-12, 12, (1, 64))))

    # block amax at / around the scale rules' boundaries (one block each)
    r = rng_for(prefix + "edges")
    sp = list(specials_mx(f))
    if nvfp4:  # amax/6 at the E4M3 clamp bounds 448 and 2^-6 and around them
        sp += [np.float32(6 * 448.0), nextup(np.float32(6 * 448.0)), np.float32(6 * 464.0),
               np.float32(6 * 2.0 ** -6), nextdown(np.float32(6 * 2.0 ** -6)), np.float32(6 * 2.0 ** -9)]
    add("amax_edges", pad_rows([fill_block(r, a, blk, neg=bool(i % 2)) for i, a in enumerate(sp)], blk))
    if not nvfp4:  # smaller sets for the CEIL and EVEN runs (their own boundaries)
        two, p = np.float32(2.0), np.float32(2.0 ** (f.emax + 1))
        sp = [two, nextdown(two), nextup(two), p, nextdown(p), np.float32(f.maxn)]
        add("edges_ceil", pad_rows([fill_block(r, a, blk, neg=bool(i % 2)) for i, a in enumerate(sp)], blk))
        e = np.float32(2.0 - 2.0 ** -(f.mbits + 1))
        e7 = np.float32(e * np.float32(2.0 ** 7))
        sp = [e, nextdown(e), e7, nextdown(e7), np.float32(f.maxn), nextup(two)]
        add("edges_even", pad_rows([fill_block(r, a, blk, neg=bool(i % 2)) for i, a in enumerate(sp)], blk))

    # block amax that scales exactly to the format's max, in several binades
    r = rng_for(prefix + "atmax")
    add("atmax", pad_rows([fill_block(r, np.float32(f.maxn * 2.0 ** k), blk) for k in (0, -3, 30, -20)], blk))

    # exact ties between grid points (block amax = max normal -> FLOOR scale 2^0), and +-1 ulp
    g = MODS_GRID["e2m1" if nvfp4 else f.key]
    mids = f32((g[:-1].astype(np.float64) + g[1:].astype(np.float64)) / 2)
    per = (blk - 1) // 2                                  # +mid, -mid pairs after the max
    if len(mids) > 4 * per:                               # FP8: spread over the grid, both ends kept
        mids = mids[np.unique(np.linspace(0, len(mids) - 1, 4 * per).round().astype(int))]
    blocks, near = [], []
    for j in range(0, len(mids), per):
        ch = mids[j: j + per]
        b = [np.float32(f.maxn)] + [v for mm in ch for v in (mm, -mm)]
        blocks.append(np.array(b + [0.0] * (blk - len(b)), np.float32))
        b = [np.float32(f.maxn)] + [v for mm in ch for v in (nextdown(mm), nextup(mm))]
        near.append(np.array(b + [0.0] * (blk - len(b)), np.float32))
    add("ties", pad_rows(blocks, blk))
    add("neartie", pad_rows(near, blk))
    add("ties_scaled", f32(pad_rows(blocks[:2], blk)[:1].astype(np.float64) * 2.0 ** -20))

    # zeros: a +0 block, a -0 block, a block with single +-0
    r = rng_for(prefix + "zeros")
    z = fill_block(r, np.float32(3.0), blk)
    z[[0, 5]] = [0.0, -0.0]
    add("zeros", pad_rows([np.zeros(blk, np.float32), np.full(blk, -0.0, np.float32), z], blk, 32 if not nvfp4 else 64))

    # NaN (quiet, negative, signalling payload) and Inf blocks next to a normal block
    r = rng_for(prefix + "nan")
    x = f32(r.standard_normal((1, 64)))
    x[0, 3] = NAN
    x[0, 9] = from_bits([0xFFC00000])[0]
    x[0, 20] = from_bits([0x7F800001])[0]
    if nvfp4:
        x[0, 17] = NAN
    add("nan", x)
    r = rng_for(prefix + "inf")
    x = f32(r.standard_normal((1, 64)))
    if nvfp4:  # no NaN here: its amax (+Inf) is a valid caller amax
        x[0, 7], x[0, 20], x[0, 40] = INF, -INF, -INF
    else:
        x[0, 7], x[0, 50], x[0, 51], x[0, 52] = INF, -INF, INF, NAN
    add("inf", x)

    # fp32 subnormals: subnormal-only block, subnormals with the smallest normal
    r = rng_for(prefix + "sub")
    x = np.zeros((1, 64), np.float32)
    x[0, :32] = from_bits(r.integers(1, 0x800000, 32)) * f32(r.choice([-1.0, 1.0], 32))
    x[0, 1] = from_bits([0x007FFFFF])[0]
    x[0, 32:] = from_bits(r.integers(1, 0x1000, 32))
    x[0, 33] = from_bits([1])[0]
    x[0, 48] = from_bits([0x00800000])[0]
    add("subnormal", x)

    # near FLT_MAX
    r = rng_for(prefix + "fltmax")
    x = f32(r.uniform(-1, 1, (1, 64)) * 1e38)
    x[0, 0], x[0, 17], x[0, 40], x[0, 41] = FLT_MAX, -2.0 ** 127, from_bits([0x7F7FFFFE])[0], -FLT_MAX
    if nvfp4:
        x[0, 20] = FLT_MAX
    add("fltmax", x)

    # negative-only blocks
    r = rng_for(prefix + "neg")
    add("negonly", -np.abs(f32(r.standard_normal((1, 32)) * 37.0)))
    return C


MODS_GRID = {}
# the cases each non-default MX mode gets (FLOOR gets all)
MODE_CASES = {
    "rceil": ("rand_n1", "amax_edges", "atmax", "ties", "zeros", "nan", "inf", "subnormal", "fltmax"),
    "ceil": ("edges_ceil", "fltmax"),
    "even": ("edges_even", "nan", "fltmax"),
}


# ----------------------------------------------------------------------------
# running torchao
# ----------------------------------------------------------------------------
def run_mx(mods, f, x, mode):
    import torch
    mx, c, k = mods["mx"], mods["c"], mods["k"]
    dt = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2, "e2m3": c.DTYPE_FP6_E2M3,
          "e3m2": c.DTYPE_FP6_E3M2, "e2m1": torch.float4_e2m1fn_x2}[f.key]
    t = torch.from_numpy(x.copy()).contiguous()
    scale, data = mx.to_mx(t, dt, 32, mode)
    s = scale.view(torch.uint8).reshape(x.shape[0], x.shape[1] // 32).numpy()
    if f.key in ("e4m3", "e5m2"):
        d = data.view(torch.uint8).numpy()
    elif f.key == "e2m1":
        d = k.unpack_uint4(data.contiguous().view(torch.uint8)).numpy()
    else:
        d = data.numpy()
    return d.reshape(x.shape).astype(np.uint8), s.astype(np.uint8)


def run_nvfp4(mods, x, amax):
    import torch
    nv, k = mods["nv"], mods["k"]
    t = torch.from_numpy(x.copy()).contiguous()
    pts = None
    if amax is not None:
        pts = nv.per_tensor_amax_to_scale(torch.tensor(np.float32(amax)))
    q = nv.NVFP4Tensor.to_nvfp4(t, 16, per_tensor_scale=pts)
    d = k.unpack_uint4(q.qdata.contiguous().view(torch.uint8)).numpy().reshape(x.shape)
    s = q.scale.view(torch.uint8).reshape(x.shape[0], x.shape[1] // 16).numpy()
    return d.astype(np.uint8), s.astype(np.uint8)


def emit(out, name, fmt, x, codes, scales, extra="", amax_line=None):
    R, C = x.shape
    out.append("case %s profile=torchao format=%s rows=%d cols=%d%s" % (name, fmt, R, C, extra))
    xb = bits_of(x.reshape(-1))
    for i in range(0, len(xb), 16):
        out.append("x " + " ".join("%08x" % v for v in xb[i:i + 16]))
    cb = codes.reshape(-1)
    for i in range(0, len(cb), 32):
        out.append("codes " + " ".join("%02x" % v for v in cb[i:i + 32]))
    sb = scales.reshape(-1)
    for i in range(0, len(sb), 32):
        out.append("scales " + " ".join("%02x" % v for v in sb[i:i + 32]))
    if amax_line is not None:
        out.append("amax %08x" % int(bits_of(np.float32(amax_line))))
    out.append("end")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default="mirror")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--modes", default="floor,rceil")
    a = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gen_torchao_") as tmp:
        mods, desc = import_torchao(a.src, a.rev, tmp)
        SCM = mods["cfg"].ScaleCalculationMode
        assert mods["mx"].QuantizeTensorToMXKwargs().scaling_mode == SCM.FLOOR  # torchao's default
        modes = [m for m in a.modes.split(",") if m]
        for f in MX_FMTS:
            MODS_GRID[f.key] = f.grid(mods)

        out = ["# generated by tests/compat/gen_torchao.py from %s, torch %s, CPU; do not edit"
               % (desc, torch.__version__)]
        n = 0
        for f in MX_FMTS:
            prefix = "mxfp4" if f.key == "e2m1" else f.key
            cs = cases_for(f, prefix)
            if f.key == "e2m1":  # one bigger random case
                r = rng_for("mxfp4_big")
                cs.append(("rand_big", f32(r.standard_normal((8, 64)) * 10.0 ** r.uniform(-3, 3, (8, 1)))))
            for mode in modes:
                for short, x in cs:
                    if (short not in MODE_CASES[mode]) if mode != "floor" else short.startswith("edges_"):
                        continue
                    codes, scales = run_mx(mods, f, x, SCM(mode))
                    nm = "%s_%s" % (prefix, short) + ("" if mode == "floor" else "_" + mode)
                    emit(out, nm, f.name, x, codes, scales, " mode=%s" % mode)
                    n += 1

        # NVFP4: no tensor scale, and per_tensor_amax_to_scale(A) for a caller amax A
        cs = cases_for(NVFP4, "nvfp4", nvfp4=True)
        r = rng_for("nvfp4_big")
        cs.append(("rand_big", f32(r.standard_normal((8, 64)) * 10.0 ** r.uniform(-2, 2, (8, 1)))))
        cs.append(("allzero", np.zeros((1, 32), np.float32)))
        for short, x in cs:
            name = "nvfp4_" + short
            codes, scales = run_nvfp4(mods, x, None)
            emit(out, name + "_none", "nvfp4", x, codes, scales, " amax=none")
            n += 1
            # torchao's dynamic amax, torch.max(torch.abs(x)); over the non-NaN values where that is NaN
            # (a NaN amax makes every block NaN, and mxblas refuses a NaN amax)
            A = torch.max(torch.abs(torch.from_numpy(x.copy()))).numpy().astype(np.float32)
            if np.isnan(A):
                A = np.float32(np.max(np.abs(x[~np.isnan(x)])))
            A = np.float32(A)
            amaxes = [("amax", A)]
            if short in ("rand_n1", "atmax", "rand_big"):   # calibration amaxes other than the tensor's
                amaxes += [("amax2x", np.float32(A * np.float32(2.0))), ("amaxq", np.float32(A * np.float32(0.25)))]
            if short in ("rand_n1", "atmax"):
                amaxes += [("amax1p", nextup(A))]
            for tag, am in amaxes:
                codes, scales = run_nvfp4(mods, x, am)
                emit(out, "%s_%s" % (name, tag), "nvfp4", x, codes, scales, " amax=%08x" % int(bits_of(am)),
                     amax_line=am)
                n += 1
        # odd caller amaxes torchao accepts: 0, +Inf, tiny, on random data
        x = f32(rng_for("nvfp4_oddamax").standard_normal((1, 32)))
        for tag, am in (("amax0", np.float32(0.0)), ("amaxinf", np.float32(INF)), ("amaxtiny", np.float32(1e-30))):
            codes, scales = run_nvfp4(mods, x, am)
            emit(out, "nvfp4_oddamax_" + tag, "nvfp4", x, codes, scales, " amax=%08x" % int(bits_of(am)),
                 amax_line=am)
            n += 1

    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as fh:
        fh.write(text)
    print("gen_torchao: %d cases, %d bytes -> %s (%s)" % (n, len(text), a.out, desc))


if __name__ == "__main__":
    main()
