#!/usr/bin/env python3
"""The PyTorch CPU peer for bench/gpt_vs_torch.sh: trains the character GPT of `vkt train --model
gpt` on the same corpus and prints the training loss, the validation loss and tokens/s.

    /usr/bin/python3 bench/torch_gpt.py [text=/usr/share/games/fortunes] [layers=4] [heads=4]
        [width=128] [context=64] [batch=16] [steps=100] [threads=all cores] [lr=2e-3]

The corpus is read as vkt_text_load reads it (a file, or a directory's regular files in sorted
order without hidden, .dat and .u8 names), the vocabulary is its sorted distinct bytes, the last
10% is held out, and training windows are the non-overlapping context-long windows of the rest in
a seeded shuffle, as vkt_dataset_text_windows and the loader make them. The model is nanoGPT's GPT
(tools/make_torch_gpt_fixture.py: pre-norm blocks, exact GELU, causal attention written out as
torch 1.13 has no scaled_dot_product_attention, tied lm_head), trained with AdamW (the peak lr
reached by a linear warmup over the first tenth of the steps, then cosine to a tenth of it, as
`vkt train --model gpt`; betas (0.9, 0.95), weight decay 0.1 on the matmul weights only) and clip_grad_norm_(1.0). It uses every core and prints the BLAS it
runs on, as bench/torch_fmnist.py does. Tokens/s counts the training steps after the first
(warm-up) one.
"""
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fmnist import blas  # noqa: E402  (the same BLAS report)


def read_corpus(path):
    if not os.path.isdir(path):
        return open(path, "rb").read()
    names = sorted(n for n in os.listdir(path)
                   if not n.startswith(".") and not n.endswith((".dat", ".u8"))
                   and os.path.isfile(os.path.join(path, n)))
    return b"".join(open(os.path.join(path, n), "rb").read() for n in names)


class Attention(nn.Module):
    def __init__(self, width, heads, context):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(width, 3 * width)
        self.c_proj = nn.Linear(width, width)
        self.register_buffer("mask", torch.tril(torch.ones(context, context)).bool(),
                             persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, width, heads, context):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, context)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, heads, width):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.h = nn.ModuleList([Block(width, heads, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for n, p in self.named_parameters():
            if n.endswith("c_proj.weight") or n.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers))

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for b in self.h:
            x = b(x)
        return self.lm_head(self.ln_f(x))


def main():
    a = sys.argv[1:]
    text = a[0] if len(a) > 0 else "/usr/share/games/fortunes"
    layers, heads, width, context, batch, steps = (int(v) for v in (a[1:7] + [4, 4, 128, 64, 16,
                                                                               100][len(a[1:7]):]))
    torch.set_num_threads(int(a[7]) if len(a) > 7 else os.cpu_count())
    peak = float(a[8]) if len(a) > 8 else 2e-3
    data = read_corpus(text)
    vocab = sorted(set(data))
    index = {b: i for i, b in enumerate(vocab)}
    tokens = torch.tensor([index[b] for b in data], dtype=torch.long)
    n_train = len(tokens) - int(len(tokens) * 0.1 + 0.5)
    train, val = tokens[:n_train], tokens[n_train:]

    def windows(t):
        n = (len(t) - context - 1) // context + 1
        starts = torch.arange(n) * context
        offs = torch.arange(context)
        return t[starts[:, None] + offs], t[starts[:, None] + offs + 1]

    xtr, ytr = windows(train)
    xva, yva = windows(val)
    torch.manual_seed(0)
    m = GPT(len(vocab), context, layers, heads, width)
    decay = [p for n, p in m.named_parameters() if p.dim() >= 2 and "wte" not in n and
             "wpe" not in n]
    other = [p for n, p in m.named_parameters() if not (p.dim() >= 2 and "wte" not in n and
                                                        "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}], lr=peak, betas=(0.9, 0.95))
    warmup = max(1, steps // 10)  # vkt: steps / 10, at least 1 here (0 would divide by 0)

    def lr_at(s):  # VKT_SCHED_WARMUP_COSINE
        if s < warmup:
            return peak * (s + 1) / warmup
        return peak / 10 + 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup))) * \
            (peak - peak / 10)

    print("threads", torch.get_num_threads(), "params", sum(p.numel() for p in m.parameters()),
          "vocab", len(vocab), "train_tokens", n_train)
    print("blas", blas())
    perm, at, t0, tok = torch.randperm(len(xtr)), 0, None, 0
    m.train()
    for s in range(steps):
        if at + batch > len(perm):
            perm, at = torch.randperm(len(xtr)), 0
        j = perm[at:at + batch]
        at += batch
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        logits = m(xtr[j])
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), ytr[j].view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if s == 0:
            t0 = time.time()  # the first step allocates: timed from the second on
        else:
            tok += batch * context
        if s % 50 == 0 or s == steps - 1:
            print(f"step {s} train_loss {loss.item():.4f}", flush=True)
    dt = time.time() - t0
    m.eval()
    with torch.no_grad():
        vl = sum(F.cross_entropy(m(xva[k:k + 64]).view(-1, len(vocab)), yva[k:k + 64].view(-1),
                                 reduction="sum").item() for k in range(0, len(xva), 64))
    print(f"val_loss {vl / yva.numel():.4f}")
    print(f"train_s {dt:.2f} tokens_per_s {tok / dt:.0f}")


if __name__ == "__main__":
    main()
