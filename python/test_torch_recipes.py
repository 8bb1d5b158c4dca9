"""Tests of mxblas.torch: the recipe layers' GEMMs are the recipe's (each operand quantized
in its orientation with its options, checked against plain mxblas calls), their results
stay within each format's quantization error of the fp32 layer, stochastic rounding is
reproducible, 2D weight blocks are exactly transposed for dgrad, and swap_linears keeps
the layers it is told to. CPU tensors here; CUDA tensors in the Cuda classes where a GPU,
PyTorch with CUDA and a CUDA build are present. Everything skips without torch.

Run: make test-python (or MXBLAS_LIB=build/libmxblas.so PYTHONPATH=python python3 python/test_torch_recipes.py)
"""
import os
import sys
import unittest

import numpy as np

import mxblas

try:
    import torch
    import mxblas.torch as mxr
except ImportError:  # the package works without PyTorch; these tests need it
    torch = None


def sample(rows, cols, seed, device="cpu", dtype=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g)
    x[:, 3] *= 20.0  # an outlier channel
    return x.to(device=device, dtype=dtype or torch.float32)


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def cuda_ready():
    if torch is None or not torch.cuda.is_available():
        return "no CUDA device for torch"
    if "cuda" not in mxblas.build_info():
        return "mxblas built without CUDA"
    return None


@unittest.skipIf(torch is None, "torch not installed")
class Recipes(unittest.TestCase):
    device = "cpu"
    M, K, N = 48, 160, 40  # K and N not multiples of 32 or 128: block tails everywhere

    def layer(self, recipe, dtype=None):  # None: float32 (torch may be missing at import)
        # initialised on the CPU, then moved: the same weights on every device (CUDA's
        # generator draws other numbers from the same seed)
        dtype = dtype or torch.float32
        torch.manual_seed(7)
        lin = mxr.Linear(self.K, self.N, recipe=recipe, dtype=dtype).to(self.device)
        ref = torch.nn.Linear(self.K, self.N, dtype=torch.float32).to(self.device)
        with torch.no_grad():
            ref.weight.copy_(lin.weight)
            ref.bias.copy_(lin.bias)
        return lin, ref

    def run_both(self, recipe, dtype=None):
        dtype = dtype or torch.float32
        lin, ref = self.layer(recipe, dtype)
        x = sample(self.M, self.K, 1, self.device, dtype)
        g = sample(self.M, self.N, 2, self.device, dtype)
        xa, xb = x.clone().requires_grad_(), x.float().clone().requires_grad_()
        y = lin(xa)
        y.backward(g)
        yr = ref(xb)
        yr.backward(g.float())
        return (y, xa.grad, lin.weight.grad, lin.bias.grad), (yr, xb.grad, ref.weight.grad, ref.bias.grad), (x, g, lin)

    def test_the_gemms_are_the_recipes(self):
        # each GEMM rebuilt from plain mxblas calls (no SR, so the bits are fixed)
        q, gm = mxblas.quantize, mxblas.gemm
        s46 = dict(four_over_six="mse")
        for recipe, fx, fw, opts_x, opts_w, opts_wg in [
                (mxr.Recipe.nvfp4(sr=False), "nvfp4", "nvfp4", {}, dict(block_2d=True), dict(rht=True)),
                (mxr.Recipe.nvfp4(sr=False, four_over_six="mse"), "nvfp4", "nvfp4", s46, dict(block_2d=True),
                 dict(s46, rht=True)),
                (mxr.Recipe.mxfp8(), "mxfp8_e4m3", "mxfp8_e4m3", {}, {}, {}),
                (mxr.Recipe.fp8_blockwise(), "fp8_e4m3_1x128", "fp8_e4m3_128x128", {}, {}, {}),
                (mxr.Recipe.fp8_blockwise(ue8m0=True), "fp8_e4m3_1x128", "fp8_e4m3_128x128", dict(pow2_scale=True),
                 dict(pow2_scale=True), dict(pow2_scale=True))]:
            got, _, (x, g, lin) = self.run_both(recipe)
            w = lin.weight.detach()
            t = lambda a: a.t().contiguous()
            y = gm(q(x, fx, **opts_x), q(w, fw, **opts_w), mode="fast") + lin.bias.detach()
            dx = gm(q(g, fx, **opts_x), q(t(w), fw, **opts_w), mode="fast")
            dw = gm(q(t(g), fx, **opts_wg), q(t(x), fx, **opts_wg), mode="fast")
            for name, a, b in (("y", got[0], y), ("dx", got[1], dx), ("dw", got[2], dw)):
                self.assertTrue(torch.equal(a, b), f"{recipe.name} {name}")
            self.assertTrue(torch.equal(got[3], g.sum(0)), f"{recipe.name} bias grad")

    def test_ue8m0_recipe_holds_the_byte_formats_values(self):
        # Recipe.fp8_blockwise(ue8m0=True): fp32 scales that are the UE8M0 formats' bytes, exactly
        x = sample(self.M, self.K, 1, self.device)
        for fp32_fmt, byte_fmt in (("fp8_e4m3_1x128", "fp8_e4m3_1x128_ue8m0"),
                                   ("fp8_e4m3_128x128", "fp8_e4m3_128x128_ue8m0")):
            a, b = mxblas.quantize(x, fp32_fmt, pow2_scale=True), mxblas.quantize(x, byte_fmt)
            self.assertTrue(torch.equal(a.data, b.data), fp32_fmt)
            self.assertTrue(torch.equal((a.scales.view(torch.int32) >> 23).to(torch.uint8), b.scales), fp32_fmt)
        self.assertEqual(mxr.Recipe.fp8_blockwise(ue8m0=True).name, "fp8_blockwise-ue8m0")

    def test_error_within_the_formats_quantization_error(self):
        # relative Frobenius error against the fp32 layer; NVFP4 (2-bit mantissas) about
        # 0.15-0.18 on these inputs, FP8 about 0.04
        for recipe, limit in [(mxr.Recipe.nvfp4(), 0.25), (mxr.Recipe.nvfp4(rht=False, sr=False, block_2d=False), 0.25),
                              (mxr.Recipe.mxfp8(), 0.06), (mxr.Recipe.fp8_blockwise(), 0.06)]:
            got, ref, _ = self.run_both(recipe)
            for name, a, b in zip(("y", "dx", "dw"), got, ref):
                e = rel(a, b)
                self.assertLess(e, limit, f"{recipe.name} {name}: {e:.3f}")
                self.assertGreater(e, 0.0, f"{recipe.name} {name} is not quantized at all")

    def test_stochastic_rounding_is_reproducible(self):
        a = self.run_both(mxr.Recipe.nvfp4(seed=5))[0]
        b = self.run_both(mxr.Recipe.nvfp4(seed=5))[0]
        c = self.run_both(mxr.Recipe.nvfp4(seed=6))[0]
        for i in (1, 2):  # dx and dw see SR gradients
            self.assertTrue(torch.equal(a[i], b[i]))
            self.assertFalse(torch.equal(a[i], c[i]))
        self.assertTrue(torch.equal(a[0], c[0]), "the forward pass has no SR")

    def test_ablations_change_what_they_say(self):
        full = self.run_both(mxr.Recipe.nvfp4())[0]
        no_rht = self.run_both(mxr.Recipe.nvfp4(rht=False))[0]
        no_2d = self.run_both(mxr.Recipe.nvfp4(block_2d=False))[0]
        self.assertTrue(torch.equal(full[0], no_rht[0]) and torch.equal(full[1], no_rht[1]))
        self.assertFalse(torch.equal(full[2], no_rht[2]), "RHT acts on wgrad only")
        self.assertFalse(torch.equal(full[0], no_2d[0]), "2D blocks change the forward weight")
        self.assertEqual(mxr.Recipe.nvfp4(rht=False, sr=False).name, "nvfp4-no-rht-no-sr")

    def test_2d_weights_are_exactly_transposed(self):
        w = sample(64, 256, 3, self.device)
        for fmt, opts in (("nvfp4", dict(block_2d=True)), ("fp8_e4m3_128x128", {})):
            a = mxblas.dequantize(mxblas.quantize(w, fmt, **opts))
            b = mxblas.dequantize(mxblas.quantize(w.t().contiguous(), fmt, **opts))
            self.assertTrue(torch.equal(a.t(), b), fmt)

    def test_bf16_layer_keeps_its_dtype(self):
        got, ref, _ = self.run_both(mxr.Recipe.mxfp8(), torch.bfloat16)
        self.assertEqual([t.dtype for t in got], [torch.bfloat16] * 4)
        self.assertLess(rel(got[2], ref[2]), 0.06)

    def test_swap_linears_keeps_the_named_layers(self):
        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(self.K, 64), torch.nn.ReLU(),
                                    torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, self.N)))
        model.to(self.device)
        w0 = model[0].weight
        x = sample(self.M, self.K, 4, self.device)
        want_last = model[2][1]
        recipe = mxr.Recipe.mxfp8()
        mxr.swap_linears(model, recipe, keep=("2.1",))
        self.assertIsInstance(model[0], mxr.Linear)
        self.assertIs(model[0].recipe, recipe)
        self.assertIs(model[0].weight, w0, "the parameters are the same tensors")
        self.assertIsNone(model[2][1].recipe)
        self.assertIsNot(model[2][1], want_last)
        h = model[2][0](model[1](model[0](x)))
        self.assertTrue(torch.equal(model[2][1](h), torch.nn.functional.linear(h, want_last.weight, want_last.bias)))
        model(x).sum().backward()
        self.assertIsNotNone(w0.grad)

    def test_bad_recipes_are_refused(self):
        with self.assertRaisesRegex(ValueError, "no operand settings"):
            mxr.Recipe("half", {"fprop_x": {"format": "nvfp4"}})
        roles = {r: {"format": "mxfp8_e4m3"} for r in mxr._ROLES}
        with self.assertRaisesRegex(ValueError, "seeds come from"):
            mxr.Recipe("seeded", dict(roles, wgrad_dy={"format": "nvfp4", "rounding": "sr", "seed": 3}))
        with self.assertRaisesRegex(ValueError, "unknown operand role"):
            mxr.Recipe("extra", dict(roles, bias={"format": "nvfp4"}))


@unittest.skipIf(cuda_ready(), cuda_ready() or "")
class RecipesCuda(Recipes):
    device = "cuda"

    def test_cuda_gives_the_cpu_gemms(self):
        # exact mode: the CUDA layer's bits are the CPU layer's
        for recipe in (mxr.Recipe.nvfp4(mode="exact"), mxr.Recipe.mxfp8(mode="exact")):
            got = self.run_both(recipe)[0]
            self.device = "cpu"
            cpu = self.run_both(type(recipe)(recipe.name, recipe.roles, mode="exact"))[0]
            self.device = "cuda"
            for name, a, b in zip(("y", "dx", "dw"), got, cpu):
                self.assertTrue(torch.equal(a.cpu(), b), f"{recipe.name} {name}")
            # (the bias gradient is torch's own sum over rows, in an order that differs by
            # device; test_the_gemms_are_the_recipes checks it against that sum)


if __name__ == "__main__":
    unittest.main(verbosity=2)
