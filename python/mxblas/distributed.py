"""Tensor-parallel quantization over torch.distributed (docs/DISTRIBUTED.md).

Every rank quantizes its shard of a larger tensor with the amax of the whole tensor and
its place in it, so the shards hold the unsharded tensor's bytes whatever the number of
ranks and the split. The C library's NCCL component does this over an ``ncclComm_t``;
PyTorch's process groups do not hand theirs out, so this module does the same three
steps with ``torch.distributed``:

1. the shard's amax, exactly as quantize computes it (a round-to-nearest quantize of the
   shard: of RHT(x) with the RHT, NaN blocks left out);
2. the all-reduce: each amax made canonical (-0 as +0; every NaN and negative value as
   0x7FC00000) and the bit patterns reduced as int32 with MAX, which is the
   NaN-propagating max of the amaxes, one NaN pattern whichever rank held it;
3. the shard quantized with that amax (read on the device, no host round trip) and its
   place.

    import torch.distributed as dist, mxblas.distributed as mxd
    # this rank holds columns [c0, c0 + w) of a [rows, cols] activation
    q = mxd.quantize_sharded(x_shard, "nvfp4", place=(0, c0, cols), group=tp_group,
                             rounding="sr", seed=step_seed)

NVFP4 (1D or 2D tiles, RHT, SR, Four Over Six, an amax per row) and FP8 per tensor
reduce their amax; other formats (MX, FP8 blocks) need nothing reduced and are quantized
with their place only.
"""
import numbers

import torch
import torch.distributed as dist

import mxblas as _mx

__all__ = ["quantize_sharded", "allreduce_amax"]

_SIGN = -(2**31)          # 0x80000000 as int32: -0.0
_INF = 0x7F800000
_CANONICAL_NAN = 0x7FC00000


def allreduce_amax(amax, group=None):
    """All-reduce float32 amaxes (a tensor, in place) to their NaN-propagating maximum over
    group by the library's rule (module doc). Returns amax."""
    if amax.dtype != torch.float32 or not amax.is_contiguous():
        raise TypeError("amax must be a contiguous float32 tensor")
    bits = amax.view(torch.int32)
    canon = torch.where(bits == _SIGN, torch.zeros_like(bits),
                        torch.where((bits < 0) | (bits > _INF), torch.full_like(bits, _CANONICAL_NAN), bits))
    bits.copy_(canon)
    dist.all_reduce(bits, op=dist.ReduceOp.MAX, group=group)
    return amax


def quantize_sharded(x, format, place, group=None, **opts):
    """x quantized as its block of a larger tensor: place = (global_row0, global_col0,
    global_cols), the block's first element and the whole tensor's columns (0: x holds
    whole rows). opts: as mxblas.quantize; with amax= given (already global) nothing is
    reduced. Every rank must call it (the all-reduce is collective) with the same seed and
    offset. Returns a QuantizedTensor in x's framework and device."""
    if len(place) != 3 or not all(isinstance(v, numbers.Integral) for v in place):
        raise TypeError("place is (global_row0, global_col0, global_cols): three integers")
    scale = _mx._tensor_scale(_mx._info(format))  # "amax" (NVFP4), "plane" (FP8 per tensor) or None
    rows, cols = _mx._rows_cols(tuple(x.shape))
    whole_rows = place[2] in (0, cols)
    if (scale is None or opts.get("amax") is not None
            or (opts.get("row_amax") and whole_rows)):  # nothing to reduce: the rows are this rank's
        return _mx.quantize(x, format, place=place, **opts)
    # the shard's amax as quantize computes it: round to nearest, the SR state untouched
    first = {k: v for k, v in opts.items() if k not in ("rounding", "rng_state")}
    if scale == "plane":  # FP8 per tensor keeps no amax plane: it is written beside
        amax = torch.empty(1, dtype=torch.float32, device=x.device)
        _mx.quantize(x, format, place=place, amax_out=amax, **first)
    else:
        amax = _mx.quantize(x, format, place=place, **first).amax
    allreduce_amax(amax, group)
    return _mx.quantize(x, format, place=place, amax=amax, **opts)
