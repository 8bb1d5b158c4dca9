"""Python overhead of a tiny call: mxblas.quantize of a [1, 32] array against the bare
C call (mxb_quantize through ctypes, arguments prepared once), best of 5 runs.

Run: MXBLAS_LIB=build/libmxblas.so PYTHONPATH=python python3 python/bench_overhead.py [format]
"""
import ctypes as C
import sys
import time

import numpy as np

import mxblas


def best(f, n=20000, reps=5):
    """Microseconds per call of f(), the best of reps runs of n calls."""
    r = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            f()
        r.append((time.perf_counter() - t) / n * 1e6)
    return min(r)


def main(fmt):
    x = np.random.default_rng(0).standard_normal((1, 32)).astype(np.float32)
    q = mxblas.quantize(x, fmt)
    cfg, _, _ = mxblas._quant_config(False)
    b, ctx = q._bind(), mxblas._context(None)
    ws = C.c_size_t()
    mxblas._call("mxb_quantize_workspace_size", ctx, C.byref(cfg), 0, C.byref(b.desc), C.byref(ws))
    w = np.zeros(max(ws.value, 1), np.uint8)
    args = (ctx, C.byref(cfg), 0, x.ctypes.data_as(C.c_void_p), C.byref(b.desc), w.ctypes.data_as(C.c_void_p),
            C.c_size_t(ws.value), None)
    fn = mxblas.load_library().mxb_quantize
    raw = best(lambda: fn(*args))
    full = best(lambda: mxblas.quantize(x, fmt), n=5000)
    print(f"{fmt} [1, 32] numpy: C call through ctypes {raw:.2f} us, mxblas.quantize {full:.2f} us, "
          f"overhead {full - raw:.2f} us")
    try:
        import torch
    except ImportError:
        return
    xt = torch.from_numpy(x)
    ft = best(lambda: mxblas.quantize(xt, fmt), n=5000)
    print(f"{fmt} [1, 32] torch CPU tensor: mxblas.quantize {ft:.2f} us, overhead {ft - raw:.2f} us")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mxfp8_e4m3")
