"""Tests of mxblas.distributed: shards quantized over torch.distributed (gloo, CPU ranks
in processes of their own) hold the unsharded tensor's bytes, row and column splits over
1, 2 and 4 ranks; and the amax all-reduce propagates NaN with one bit pattern.

Skips without torch or torch.distributed. Run: make test-python (or MXBLAS_LIB=...
PYTHONPATH=python python3 python/test_distributed.py)
"""
import os
import tempfile
import unittest

import numpy as np

import mxblas

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
except ImportError:
    torch = None

ROWS, COLS = 64, 256
# NVFP4 1D, SR, 2D tiles, RHT + SR, an amax a row; MXFP8 (no amax to reduce) by SR; FP8
# per tensor (its amax reduced), RNE and SR
CASES = [("nvfp4", {}), ("nvfp4", {"rounding": "sr", "seed": 11, "offset": 2}),
         ("nvfp4", {"block_2d": True}), ("nvfp4", {"rht": True, "rounding": "sr", "seed": 3}),
         ("nvfp4", {"row_amax": True, "rounding": "sr", "seed": 5}),
         ("mxfp8_e4m3", {"rounding": "sr", "seed": 9}), ("fp8_e4m3", {}), ("fp8_e5m2", {"rounding": "sr", "seed": 1})]


def sample():
    x = np.random.default_rng(4).standard_normal((ROWS, COLS)).astype(np.float32)
    x[3, 17] = np.nan       # a NaN block, left out of the amax
    x[40, 200] = 700.0      # the largest value, in one shard only
    return x


def shard_of(split, rank, ranks):
    """(r0, c0, rows, cols) of rank's shard."""
    if split == "rows":
        h = ROWS // ranks
        return rank * h, 0, h, COLS
    w = COLS // ranks
    return 0, rank * w, ROWS, w


def _rank(rank, ranks, split, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    import mxblas.distributed as mxd
    x = sample()
    r0, c0, h, w = shard_of(split, rank, ranks)
    shard = torch.from_numpy(np.ascontiguousarray(x[r0:r0 + h, c0:c0 + w]))
    for i, (fmt, opts) in enumerate(CASES):
        q = mxd.quantize_sharded(shard, fmt, place=(r0, c0, COLS), **opts)
        np.savez(os.path.join(out, f"{rank}_{i}.npz"), data=q.data.numpy(), scales=q.scales.numpy(),
                 amax=np.zeros(0, np.float32) if q.amax is None else q.amax.numpy())
    nan = torch.tensor([float("nan") if rank == ranks - 1 else 1.0, -0.0], dtype=torch.float32)
    mxd.allreduce_amax(nan)
    np.save(os.path.join(out, f"{rank}_nan.npy"), nan.numpy())
    dist.destroy_process_group()


@unittest.skipIf(torch is None or not dist.is_available(), "needs torch with torch.distributed")
class Sharded(unittest.TestCase):
    def run_ranks(self, split, ranks, port):
        out = tempfile.mkdtemp()
        mp.spawn(_rank, args=(ranks, split, port, out), nprocs=ranks, join=True)
        return out

    def test_shards_hold_the_whole_tensors_bytes(self):
        x = sample()
        port = 29500 + os.getpid() % 1000
        for split in ("rows", "cols"):
            for ranks in (1, 2, 4):
                port += 1
                out = self.run_ranks(split, ranks, port)
                for i, (fmt, opts) in enumerate(CASES):
                    whole = mxblas.quantize(x, fmt, **opts)
                    codes = whole.data.reshape(ROWS, -1)
                    per_tensor = whole.scales.size == 1  # FP8 per tensor: one scale_inv
                    scales = whole.scales.reshape(1 if per_tensor else ROWS, -1)
                    for rank in range(ranks):
                        r0, c0, h, w = shard_of(split, rank, ranks)
                        got = np.load(os.path.join(out, f"{rank}_{i}.npz"))
                        what = f"{fmt} {opts} {split} over {ranks}, rank {rank}"
                        bpe = codes.shape[1] / COLS  # bytes a column
                        spe = scales.shape[1] / COLS
                        np.testing.assert_array_equal(
                            got["data"].reshape(h, -1),
                            codes[r0:r0 + h, int(c0 * bpe):int((c0 + w) * bpe)], what)
                        if per_tensor:
                            self.assertEqual(got["scales"].tobytes(), whole.scales.tobytes(), what)
                        else:
                            np.testing.assert_array_equal(
                                got["scales"].reshape(h, -1),
                                scales[r0:r0 + h, int(c0 * spe):int((c0 + w) * spe)], what)
                        if whole.amax is not None:
                            want = whole.amax[r0:r0 + h] if opts.get("row_amax") else whole.amax
                            self.assertEqual(got["amax"].tobytes(), np.asarray(want).tobytes(), what)
                for rank in range(ranks):  # the last rank's NaN wins, as 0x7FC00000; -0 reduces as +0
                    v = np.load(os.path.join(out, f"{rank}_nan.npy"))
                    self.assertEqual(v.view(np.uint32).tolist(), [0x7FC00000, 0], "NaN-propagating max")


if __name__ == "__main__":
    unittest.main(verbosity=2)
