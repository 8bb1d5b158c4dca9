"""Low-precision training recipes for PyTorch linear layers: ``mxblas.torch.Linear``.

A linear layer y = x @ w^T runs three GEMMs per training step. In mxblas's convention
(C = A @ B^T, both operands quantized along their rows, i.e. along the shared K) they are

    fprop  y  = x @ w^T      A = x    [M, K]   B = w    [N, K]   (along K)
    dgrad  dx = dy @ w       A = dy   [M, N]   B = w^T  [K, N]   (along N)
    wgrad  dw = dy^T @ x     A = dy^T [N, M]   B = x^T  [K, M]   (along M)

A ``Recipe`` says how each of the six operands is quantized (format and mxblas.quantize
options). The recipes of the literature are built in:

- ``Recipe.nvfp4()``: "Pretraining Large Language Models with NVFP4" (NVIDIA, 2025).
  Activations and gradients in 1x16 blocks, the weight in 16x16 blocks, so that the
  weight quantized along N for dgrad is exactly the transpose of the one used in fprop
  (same block scales, same codes); stochastic rounding on the gradients; a 16-point
  random Hadamard transform on both wgrad operands (along M, the same signs on both,
  so the product is unchanged). ``rht``, ``sr`` and ``block_2d`` switch each part off
  for ablations.
- ``Recipe.mxfp8()``: MXFP8 E4M3 with 1x32 blocks along the GEMM's K for every operand
  (each operand quantized in the orientation its GEMM needs), as Transformer Engine's
  MXFP8 recipe.
- ``Recipe.fp8_blockwise()``: DeepSeek-V3's FP8: activations and gradients E4M3 in
  1x128 blocks, the weight in 128x128 blocks (exactly transposed for dgrad).

Layers given ``recipe=None`` (``swap_linears``'s ``keep``) stay in the input's precision
through ``torch.nn.functional.linear``. Every GEMM goes through the mxblas::quantize and
mxblas::gemm operators (mxblas.torch_ops): CPU tensors run the CPU reference, CUDA
tensors the CUDA backend on the current stream, fast mode by default (the registry's
fastest path). Stochastic rounding draws from (recipe seed, call number): two runs
with the same seed and the same sequence of calls give the same bits.

Needs PyTorch; imported on first use as ``mxblas.torch`` (``import mxblas`` does not).
See docs/PYTHON.md, "Training recipes".
"""
import itertools

import torch

from . import torch_ops as _mxt

__all__ = ["Recipe", "Linear", "swap_linears"]

_ROLES = ("fprop_x", "fprop_w", "dgrad_dy", "dgrad_w", "wgrad_dy", "wgrad_x")


class Recipe:
    """How a Linear quantizes its six GEMM operands.

    Each role (fprop_x, fprop_w, dgrad_dy, dgrad_w, wgrad_dy, wgrad_x) maps to a dict
    {"format": name, **mxblas.quantize options}; rounding="sr" draws a fresh seed from
    (seed, call number) at every call. mode: the GEMMs' mode ("fast" or "exact").
    """

    def __init__(self, name, roles, mode="fast", seed=0):
        missing = set(_ROLES) - set(roles)
        if missing:
            raise ValueError(f"recipe {name!r} has no operand settings for {', '.join(sorted(missing))}")
        for role, spec in roles.items():
            if role not in _ROLES:
                raise ValueError(f"unknown operand role {role!r} (the roles are {', '.join(_ROLES)})")
            if "format" not in spec:
                raise ValueError(f"recipe {name!r}: {role} has no format")
            if "seed" in spec:
                raise ValueError(f"recipe {name!r}: {role} sets a seed; seeds come from the recipe's seed")
        self.name, self.mode, self.seed = name, mode, int(seed)
        self.roles = {r: dict(roles[r]) for r in _ROLES}
        self._calls = itertools.count()

    @classmethod
    def nvfp4(cls, rht=True, sr=True, block_2d=True, four_over_six=None, **kw):
        """NVFP4 training (NVIDIA 2025): 16x16 weights, SR gradients, RHT on wgrad.
        four_over_six="mse"|"mae": Four Over Six block scales on the 1x16 operands (the
        activations and gradients; the weights' 2D tiles keep the scale at 6, and
        block_2d=False gives the weights 1x16 blocks with Four Over Six too)."""
        act = {"format": "nvfp4"}
        if four_over_six is not None:
            act["four_over_six"] = four_over_six
        grad = dict(act, rounding="sr") if sr else dict(act)
        weight = {"format": "nvfp4", "block_2d": True} if block_2d else dict(act)
        name = "nvfp4" + "".join(f"-no-{p}" for p, on in (("rht", rht), ("sr", sr), ("2d", block_2d)) if not on)
        name += f"-4over6-{four_over_six}" if four_over_six is not None else ""
        return cls(name, {"fprop_x": act, "fprop_w": weight, "dgrad_dy": grad, "dgrad_w": weight,
                          "wgrad_dy": dict(grad, rht=True) if rht else grad,
                          "wgrad_x": dict(act, rht=True) if rht else act}, **kw)

    @classmethod
    def mxfp8(cls, **kw):
        """MXFP8 E4M3, 1x32 blocks along every GEMM's K."""
        e4m3 = {"format": "mxfp8_e4m3"}
        return cls("mxfp8", {r: e4m3 for r in _ROLES}, **kw)

    @classmethod
    def fp8_blockwise(cls, ue8m0=False, **kw):
        """DeepSeek-V3 FP8: 1x128 activations and gradients, 128x128 weights. ue8m0: every
        scale_inv a power of two (DeepSeek-V3.1's UE8M0 scales; the values of the
        fp8_*_ue8m0 formats, kept as fp32 scales, which Hopper's fast FP8 paths read)."""
        act, weight = {"format": "fp8_e4m3_1x128"}, {"format": "fp8_e4m3_128x128"}
        if ue8m0:
            act, weight = dict(act, pow2_scale=True), dict(weight, pow2_scale=True)
        return cls("fp8_blockwise" + ("-ue8m0" if ue8m0 else ""),
                   {"fprop_x": act, "fprop_w": weight, "dgrad_dy": act, "dgrad_w": weight,
                    "wgrad_dy": act, "wgrad_x": act}, **kw)

    def _options(self, role):
        """(format, options) of role, with a fresh seed where it rounds stochastically."""
        opts = dict(self.roles[role])
        fmt = opts.pop("format")
        if opts.get("rounding") == "sr":
            # a distinct, reproducible stream per call: (seed, call number) hashed to 63 bits
            n = next(self._calls)
            opts["seed"] = (self.seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + 1) % (1 << 63)
        return fmt, opts

    def quantize(self, role, x):
        """x (2-D, its rows along the GEMM's K) quantized as the recipe says for role."""
        fmt, opts = self._options(role)
        return _mxt.quantize(x.contiguous(), fmt, **opts)

    def quantize_pair(self, row_role, col_role, x):
        """(x quantized for row_role, x^T quantized for col_role): the same bytes as
        quantize(row_role, x) and quantize(col_role, x.t()), in one mxblas::quantize_pair
        call where the two roles share the format and the options the pair takes once
        (no transposed copy of x is made here). Seeds are drawn row role first."""
        (fr, row), (fc, col) = self._options(row_role), self._options(col_role)
        if fr == fc and all(row.get(k) == col.get(k) for k in _mxt._PAIR_SHARED):
            return _mxt.quantize_pair(x.contiguous(), fr, row, col)
        return _mxt.quantize(x.contiguous(), fr, **row), _mxt.quantize(x.t().contiguous(), fc, **col)

    def __repr__(self):
        return f"Recipe({self.name!r}, mode={self.mode!r}, seed={self.seed})"


class _LinearFn(torch.autograd.Function):
    """y = x @ w^T with the recipe's quantized GEMMs forward and backward (x is 2-D).
    Each of x, w and dy is quantized once for both its GEMMs (quantize_pair: the
    row-wise copy and the copy of the transpose); the forward pass keeps the copies of
    x^T and w^T that the backward GEMMs need instead of x and w."""

    @staticmethod
    def forward(ctx, x, w, recipe):
        need_dx, need_dw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        qx, ctx.qxt = recipe.quantize_pair("fprop_x", "wgrad_x", x) if need_dw else (recipe.quantize("fprop_x", x), None)
        qw, ctx.qwt = recipe.quantize_pair("fprop_w", "dgrad_w", w) if need_dx else (recipe.quantize("fprop_w", w), None)
        ctx.recipe, ctx.dtypes = recipe, (x.dtype, w.dtype)
        return _gemm(qx, qw, recipe.mode, x.dtype)

    @staticmethod
    def backward(ctx, dy):
        r, (xdt, wdt) = ctx.recipe, ctx.dtypes
        need_dx, need_dw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if need_dx and need_dw:
            qdy, qdyt = r.quantize_pair("dgrad_dy", "wgrad_dy", dy)
        else:
            qdy = r.quantize("dgrad_dy", dy) if need_dx else None
            qdyt = r.quantize("wgrad_dy", dy.t()) if need_dw else None
        dx = _gemm(qdy, ctx.qwt, r.mode, xdt) if need_dx else None
        dw = _gemm(qdyt, ctx.qxt, r.mode, wdt) if need_dw else None
        return dx, dw, None


def _gemm(a, b, mode, dtype):
    """A @ B^T in dtype: written in it by the GEMM where it is one the GEMM writes (one
    rounding from the accumulator), else converted."""
    if dtype in (torch.float32, torch.bfloat16, torch.float16):
        return _mxt.gemm(a, b, mode=mode, out_dtype=dtype)
    return _mxt.gemm(a, b, mode=mode).to(dtype)


class Linear(torch.nn.Linear):
    """torch.nn.Linear whose GEMMs (forward, dgrad, wgrad) follow a Recipe; recipe=None
    is a plain linear layer. The weight and bias stay in their own dtype (the master
    copy); the bias is added after the GEMM, in the output's dtype."""

    def __init__(self, in_features, out_features, bias=True, recipe=None, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.recipe = recipe

    def forward(self, x):
        if self.recipe is None:
            return super().forward(x)
        lead = x.shape[:-1]
        y = _LinearFn.apply(x.reshape(-1, self.in_features), self.weight, self.recipe)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self):
        return f"{super().extra_repr()}, recipe={self.recipe!r}"


def swap_linears(module, recipe, keep=()):
    """Replace every torch.nn.Linear inside module by an mxblas Linear with recipe (the
    same weight and bias tensors), except those whose qualified name is in keep or
    matches one of its fnmatch patterns (kept with recipe=None, e.g. ("lm_head",
    "layers.0.*")); returns module. The recipe object is shared: one seed sequence."""
    import fnmatch
    for name, child in list(module.named_modules()):
        for cname, c in list(child.named_children()):
            if type(c) is not torch.nn.Linear:
                continue
            full = f"{name}.{cname}" if name else cname
            kept = any(fnmatch.fnmatchcase(full, k) for k in keep)
            # made on the meta device (no memory, no draw from the global RNG), then
            # given c's parameters
            new = Linear(c.in_features, c.out_features, c.bias is not None, None if kept else recipe,
                         device="meta", dtype=c.weight.dtype)
            new.weight, new.bias = c.weight, c.bias
            setattr(child, cname, new)
    return module
