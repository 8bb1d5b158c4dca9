"""Train a small byte-level decoder-only transformer with each training recipe of
mxblas.torch and print a table of final training and validation loss, the gap to BF16
and tokens/s.

Same seed, same data order and the same initial weights for every recipe; only the
linear layers' GEMMs change (the embedding, the output head and the first and last
blocks' linears stay in the model's precision, as the NVFP4 paper keeps a few layers in
BF16). The corpus is every file matching --glob under --data (default: the Python
standard library's sources, present wherever Python is), bytes as tokens.

    python3 python/examples/train_recipes.py --device cuda --steps 2000 --out results.json
    python3 python/examples/train_recipes.py --device cpu --steps 3 --dim 64 --layers 2 --seq 64   # smoke test
"""
import argparse
import glob
import json
import math
import os
import time

import torch
import torch.nn.functional as F

import mxblas.torch as mxr

RECIPES = {
    "bf16": lambda seed: None,
    "nvfp4": lambda seed: mxr.Recipe.nvfp4(seed=seed),
    "nvfp4-no-rht": lambda seed: mxr.Recipe.nvfp4(rht=False, seed=seed),
    "nvfp4-no-sr": lambda seed: mxr.Recipe.nvfp4(sr=False, seed=seed),
    "nvfp4-no-2d": lambda seed: mxr.Recipe.nvfp4(block_2d=False, seed=seed),
    "nvfp4-4over6": lambda seed: mxr.Recipe.nvfp4(four_over_six="mse", seed=seed),
    "mxfp8": lambda seed: mxr.Recipe.mxfp8(seed=seed),
    "fp8_blockwise": lambda seed: mxr.Recipe.fp8_blockwise(seed=seed),
    "fp8_blockwise-ue8m0": lambda seed: mxr.Recipe.fp8_blockwise(ue8m0=True, seed=seed),
}


def corpus(root, pattern, limit):
    """The bytes of the files under root matching pattern, in sorted order, up to limit."""
    out, n = [], 0
    for path in sorted(glob.glob(os.path.join(root, "**", pattern), recursive=True)):
        try:
            with open(path, "rb") as f:
                b = f.read()
        except OSError:
            continue
        out.append(b)
        n += len(b)
        if n >= limit:
            break
    data = torch.frombuffer(bytearray(b"".join(out)[:limit]), dtype=torch.uint8).long()
    split = int(len(data) * 0.95)
    return data[:split], data[split:]


class Block(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)
        self.qkv, self.proj = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)
        self.fc1, self.fc2 = torch.nn.Linear(dim, 4 * dim), torch.nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(a)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Model(torch.nn.Module):
    def __init__(self, dim, layers, heads, seq):
        super().__init__()
        self.emb, self.pos = torch.nn.Embedding(256, dim), torch.nn.Parameter(torch.zeros(seq, dim))
        self.blocks = torch.nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.ln, self.head = torch.nn.LayerNorm(dim), torch.nn.Linear(dim, 256, bias=False)

    def forward(self, idx):
        x = self.emb(idx) + self.pos[: idx.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def batches(data, steps, batch, seq, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(len(data) - seq - 1, (batch,), generator=g)
        yield torch.stack([data[j:j + seq] for j in i]), torch.stack([data[j + 1:j + seq + 1] for j in i])


def evaluate(model, data, args, autocast):
    model.eval()
    losses = []
    with torch.no_grad(), autocast():
        for x, y in batches(data, args.eval_batches, args.batch, args.seq, 12345):
            x, y = x.to(args.device), y.to(args.device)
            losses.append(F.cross_entropy(model(x).float().view(-1, 256), y.view(-1)).item())
    model.train()
    return sum(losses) / len(losses)


def run(name, args, train, val):
    torch.manual_seed(args.seed)
    model = Model(args.dim, args.layers, args.heads, args.seq).to(args.device)
    recipe = RECIPES[name](args.seed)
    if recipe is not None:
        keep = ("head", "blocks.0.*", f"blocks.{args.layers - 1}.*") if args.layers > 2 else ("head",)
        mxr.swap_linears(model, recipe, keep=keep)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * min(s / args.steps, 1.0))))

    def autocast():  # the model's own precision: bf16 on the GPU, fp32 on the CPU
        return torch.autocast(device_type=args.device.split(":")[0], dtype=torch.bfloat16,
                              enabled=args.device.startswith("cuda"))

    prof = None
    if args.profile:  # where a step's time goes: the top operators by host and by device time
        acts = [torch.profiler.ProfilerActivity.CPU] + (
            [torch.profiler.ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
        prof = torch.profiler.profile(activities=acts, schedule=torch.profiler.schedule(
            wait=0, warmup=args.profile, active=args.profile, repeat=1))
        prof.start()
    t0, tokens, last = time.perf_counter(), 0, []
    for step, (x, y) in enumerate(batches(train, args.steps, args.batch, args.seq, args.seed)):
        x, y = x.to(args.device), y.to(args.device)
        with autocast():
            loss = F.cross_entropy(model(x).float().view(-1, 256), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        tokens += x.numel()
        last.append(loss.item())
        last = last[-args.average:]
        if args.log and step % args.log == 0:
            print(f"{name} step {step} loss {loss.item():.4f}", flush=True)
        if prof is not None:
            prof.step()
            if step + 1 == 2 * args.profile:
                prof.stop()
                for key in ["self_cpu_time_total"] + (["self_device_time_total"] if len(acts) > 1 else []):
                    print(f"{name}: the top operators by {key}, {args.profile} steps")
                    print(prof.key_averages().table(sort_by=key, row_limit=25), flush=True)
                prof = None
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"recipe": name, "train_loss": sum(last) / len(last), "val_loss": evaluate(model, val, args, autocast),
            "tokens_per_s": tokens / dt, "steps": args.steps,
            "params": sum(p.numel() for p in model.parameters())}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default="bf16,nvfp4,nvfp4-no-rht,nvfp4-no-sr,nvfp4-no-2d,mxfp8")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default=os.path.dirname(os.__file__))
    p.add_argument("--glob", default="*.py")
    p.add_argument("--limit", type=int, default=64 << 20, help="corpus bytes at most")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-batches", type=int, default=50)
    p.add_argument("--average", type=int, default=50, help="training loss: mean of the last N steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", type=int, default=0)
    p.add_argument("--profile", type=int, default=0,
                   help="profile N steps after N warm-up steps and print the top operators")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()
    train, val = corpus(args.data, args.glob, args.limit)
    print(f"corpus: {len(train)} training and {len(val)} validation bytes from {args.data}/**/{args.glob}")
    results = []
    for name in args.recipes.split(","):
        results.append(run(name, args, train, val))
        r = results[-1]
        print(f"{name}: train loss {r['train_loss']:.4f}, val loss {r['val_loss']:.4f}, "
              f"{r['tokens_per_s']:.0f} tokens/s", flush=True)
        if args.out:  # after every recipe, so a run cut short keeps what finished
            with open(args.out, "w") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=1)
    base = next((r for r in results if r["recipe"] == "bf16"), None)
    print(f"\n{results[0]['params'] / 1e6:.1f}M parameters, {args.steps} steps of {args.batch} x {args.seq} tokens, "
          f"{args.device}")
    print("| recipe | train loss | val loss | val gap to BF16 | tokens/s |")
    print("|---|---|---|---|---|")
    for r in results:
        gap = f"{100 * (r['val_loss'] / base['val_loss'] - 1):+.2f}%" if base else "-"
        print(f"| {r['recipe']} | {r['train_loss']:.4f} | {r['val_loss']:.4f} | {gap} | {r['tokens_per_s']:.0f} |")


if __name__ == "__main__":
    main()
