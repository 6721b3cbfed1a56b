#!/usr/bin/env python3
"""Write tests/fixtures/torch_gpt.safetensors: PyTorch's forward, backward and AdamW training of a
small nanoGPT-style character model, for vkt_gpt (src/nn/gpt.c, tests/test_gpt.c) to match.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_gpt_fixture.py tests/fixtures/torch_gpt.safetensors

The model is nanoGPT's GPT (model.py) with its state_dict names: transformer.wte / wpe, blocks
transformer.h.<i> of ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj, then
transformer.ln_f and lm_head (bias-free). Exact GELU (nn.GELU(), as nanoGPT), LayerNorm with bias,
causal attention written out (torch 1.13 has no F.scaled_dot_product_attention, and nanoGPT's
fallback path is exactly this), dropout 0 (torch's masks cannot be regenerated on the device).
nanoGPT's initialisation: every Linear and Embedding N(0, 0.02), biases zero, the residual
projections (c_proj) N(0, 0.02 / sqrt(2 n_layer)).

Two copies of the model:
  untied   lm_head.weight is its own parameter: logits, loss and every gradient, then STEPS steps
           of AdamW on the same batch (nanoGPT's configure_optimizers: weight decay 0.1 on the
           2-D weights, none on biases, norms and embeddings; betas (0.9, 0.95), eps 1e-8;
           clip_grad_norm_(1.0) before each step; warmup + cosine lr per step, as
           VKT_SCHED_WARMUP_COSINE with warmup 3, t_max 10, eta_min 3e-4).
  tied     lm_head.weight is transformer.wte.weight (nanoGPT's default): logits, loss and the
           gradients, where wte's gradient is the sum of the embedding's and the head's.

Tensors (all F32; token ids as F32 holding integers):
    x, y                     (B, T) one batch of inputs and next-token targets
    init/<key>               the untied model's initial state_dict
    logits (B, T, V), loss (1), grad/<key>, grad_norm (1: the global norm before clipping)
    lr (STEPS)               the learning rate of each step
    train_loss (STEPS + 1)   the loss before step 0, ..., after the last step
    tied/init/<key>, tied/logits, tied/loss, tied/grad/<key>
The file is written by tools/torch_fixture_io.py (json and struct only: Debian 12 has no
python3-safetensors).
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_fixture_io import save_safetensors

VOCAB, CONTEXT, LAYERS, HEADS, WIDTH, BATCH = 37, 16, 2, 2, 32, 3
STEPS = 10
LR, MIN_LR, WARMUP, DECAY_ITERS = 3e-3, 3e-4, 3, STEPS
WEIGHT_DECAY, BETAS, CLIP = 0.1, (0.9, 0.95), 1.0


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(WIDTH, 3 * WIDTH)
        self.c_proj = nn.Linear(WIDTH, WIDTH)
        self.register_buffer("mask", torch.tril(torch.ones(CONTEXT, CONTEXT)).bool(),
                             persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(WIDTH, dim=2)
        q, k, v = (z.view(b, t, HEADS, c // HEADS).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(WIDTH)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(WIDTH)
        self.mlp = MLP()

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, tied):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, WIDTH), wpe=nn.Embedding(CONTEXT, WIDTH),
            h=nn.ModuleList([Block() for _ in range(LAYERS)]), ln_f=nn.LayerNorm(WIDTH)))
        self.lm_head = nn.Linear(WIDTH, VOCAB, bias=False)
        if tied:
            self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * LAYERS))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx):
        t = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def loss_of(logits, y):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))


def get_lr(it):
    """nanoGPT's train.py get_lr, warming up to the full lr at it = WARMUP - 1 as
    VKT_SCHED_WARMUP_COSINE does (nanoGPT divides by WARMUP + 1)."""
    if it < WARMUP:
        return LR * (it + 1) / WARMUP
    if it > DECAY_ITERS:
        return MIN_LR
    ratio = (it - WARMUP) / (DECAY_ITERS - WARMUP)
    return MIN_LR + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def state(m, prefix, t):
    # state_dict() aliases the live tensors, which AdamW updates in place: clone
    for k, v in m.state_dict().items():
        t[prefix + k] = v.clone()


def grads(m, prefix, t):
    for k, p in m.named_parameters():
        t[prefix + k] = p.grad.clone()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_gpt.safetensors"
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    seq = torch.randint(0, VOCAB, (BATCH, CONTEXT + 1), generator=g)
    x, y = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
    t = {"x": x, "y": y}

    m = GPT(tied=False)
    state(m, "init/", t)
    logits = m(x)
    loss = loss_of(logits, y)
    loss.backward()
    t["logits"], t["loss"] = logits, loss.reshape(1)
    grads(m, "grad/", t)
    m.zero_grad(set_to_none=True)

    # nanoGPT's configure_optimizers: decay the >= 2-D tensors (matmul weights; here also the
    # embeddings would be, but vkt's groups follow llm.c: no decay on embeddings either)
    params = dict(m.named_parameters())
    decay = [p for n, p in params.items() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    no_decay = [p for n, p in params.items() if not (p.dim() >= 2 and "wte" not in n and
                                                     "wpe" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=1e-8)
    lrs, losses = [], []
    for s in range(STEPS):
        lr = get_lr(s)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_of(m(x), y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(m.parameters(), CLIP)
        if s == 0:
            t["grad_norm"] = norm.reshape(1)
        opt.step()
        lrs.append(lr)
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(loss_of(m(x), y).item())
    t["lr"] = torch.tensor(lrs)
    t["train_loss"] = torch.tensor(losses)

    torch.manual_seed(2)
    mt = GPT(tied=True)
    state(mt, "tied/init/", t)
    logits = mt(x)
    loss = loss_of(logits, y)
    loss.backward()
    t["tied/logits"], t["tied/loss"] = logits, loss.reshape(1)
    grads(mt, "tied/grad/", t)
    save_safetensors(out, t, {"made_by": "tools/make_torch_gpt_fixture.py",
                              "torch": torch.__version__})
    print("wrote %s: loss %.6f, tied loss %.6f, losses %s" % (
        out, t["loss"].item(), t["tied/loss"].item(), " ".join("%.4f" % v for v in losses)))


if __name__ == "__main__":
    main()
