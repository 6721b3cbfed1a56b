#!/usr/bin/env python3
"""Write tests/fixtures/torch_ops.safetensors: PyTorch's values and gradients of single ops.

Run by hand (needs Debian's python3-torch); the fixture is committed and the test suite does not
need PyTorch:

    /usr/bin/python3 tools/make_torch_ops_fixture.py tests/fixtures/torch_ops.safetensors

Each case is one op on awkward shapes ((3,5), (65,7), (2,3,4); broadcast pairs such as
(3,1,5)+(4,5)), compared by tests/test_torch_ops.c, whose table must name exactly the cases
written here. Per case, all F32:
    <case>/in<i>    the inputs, from a fixed seed, kept away from kinks and ties (relu, abs,
                    clamp, maximum, max) where the gradient is undefined
    <case>/W        a fixed weight of the output's shape
    <case>/y        the output (argmax / argmin indices as F32)
    <case>/grad<i>  d sum(y * W) / d in<i>, for each differentiable input only

The op runs in float64 on the float32 inputs, so the fixture is the exact answer rounded once.
The file is written by tools/torch_fixture_io.py (json and struct only: Debian 12 has no
python3-safetensors).
"""
import sys

import torch
import torch.nn.functional as F

from torch_fixture_io import save_safetensors

g = torch.Generator().manual_seed(0)


def rand(*shape, lo=-2.0, hi=2.0):
    return (torch.rand(*shape, generator=g) * (hi - lo) + lo).to(torch.float32)


def away(*shape, points=(0.0,), gap=0.05):
    """uniform in [-2, 2], moved at least `gap` off each of `points` (kinks)"""
    x = rand(*shape)
    for p in points:
        near = (x - p).abs() < gap
        x = torch.where(near, x + 2 * gap * torch.sign(x - p + 1e-9), x)
    return x


def grid(*shape):
    """halves in [-1, 1]: ties for the comparisons"""
    return (torch.randint(-2, 3, shape, generator=g) / 2).to(torch.float32)


# name -> (inputs, which of them are differentiable (None: none, forward only), the op)
CASES = {}


def case(name, inputs, fn, grads="all"):
    if grads == "all":
        grads = list(range(len(inputs)))
    CASES[name] = (inputs, grads or [], fn)


S35, S657, S234 = (3, 5), (65, 7), (2, 3, 4)
pos = lambda *s: rand(*s, lo=0.2, hi=3.0)

# unary
case("exp", [rand(*S35)], torch.exp)
case("ln", [pos(*S657)], torch.log)
case("sqrt", [pos(*S234)], torch.sqrt)
case("rsqrt", [pos(*S35)], torch.rsqrt)
case("abs", [away(*S657)], torch.abs)
case("neg", [rand(*S234)], torch.neg)
case("tanh", [rand(*S35)], torch.tanh)
case("sigmoid", [rand(*S657) * 3], torch.sigmoid)
case("relu", [away(*S234)], F.relu)
case("gelu", [rand(*S35) * 2], lambda x: F.gelu(x, approximate="none"))
case("gelu_tanh", [rand(*S657) * 2], lambda x: F.gelu(x, approximate="tanh"))
case("silu", [rand(*S234) * 2], F.silu)
case("leaky_relu", [away(*S35)], lambda x: F.leaky_relu(x, 0.1))
case("elu", [away(*S657)], lambda x: F.elu(x, 1.0))
case("clamp", [away(*S234, points=(-0.5, 0.7))], lambda x: torch.clamp(x, -0.5, 0.7))
case("pow_scalar3", [rand(*S35)], lambda x: torch.pow(x, 3))
case("pow_scalar_half", [pos(*S657)], lambda x: torch.pow(x, 0.5))
case("softplus", [rand(*S234) * 4], F.softplus)
case("log1p", [pos(*S35)], torch.log1p)

# binary, broadcasting
case("add", [rand(3, 1, 5), rand(4, 5)], torch.add)
case("sub", [rand(65, 7), rand(7)], torch.sub)
case("mul", [rand(65, 1), rand(1, 7)], torch.mul)
case("div", [rand(3, 1, 5), away(4, 5, gap=0.5)], torch.div)
a = rand(3, 1, 5)
case("maximum", [a, rand(4, 5)], torch.maximum)
case("minimum", [rand(65, 7), rand(7)], torch.minimum)
case("pow", [pos(3, 1, 5), rand(4, 5)], torch.pow)
case("where", [rand(3, 1, 5), rand(4, 5), rand(4, 1), rand(3, 4, 5)],
     lambda c, d, x, y: torch.where(c > d, x, y), grads=[2, 3])
for op in ("eq", "ne", "lt", "le", "gt", "ge"):
    case(op, [grid(3, 1, 5), grid(4, 5)], lambda x, y, op=op: getattr(torch, op)(x, y).double(),
         grads=None)

# shape
case("reshape", [rand(*S234)], lambda x: x.reshape(4, -1))
case("flatten", [rand(*S234)], lambda x: torch.flatten(x, 0, 1))
case("permute", [rand(*S234)], lambda x: x.permute(2, 0, 1))
case("transpose", [rand(*S234)], lambda x: x.transpose(0, 2))
case("narrow", [rand(*S657)], lambda x: x.narrow(1, 2, 4))
case("slice_step", [rand(*S657)], lambda x: x[3:60:4])
case("slice_step_last", [rand(*S234)], lambda x: x[..., 0:4:3])
case("cat", [rand(2, 3, 4), rand(2, 1, 4), rand(2, 5, 4)], lambda *p: torch.cat(p, 1))
case("stack", [rand(*S35), rand(*S35), rand(*S35)], lambda *p: torch.stack(p, 1))
case("pad", [rand(*S234)], lambda x: F.pad(x, (1, 2, 0, 1), value=0.5))
case("pad_crop", [rand(*S657)], lambda x: F.pad(x, (-1, 2, 1, -1)))
case("expand", [rand(3, 1, 5)], lambda x: x.expand(2, -1, 4, -1))

# reductions along a dimension: keepdim on (2,3,4) dim 1, none on (65,7) dim 0
REDUCE = {
    "sum": lambda x, d, k: x.sum(d, keepdim=k),
    "mean": lambda x, d, k: x.mean(d, keepdim=k),
    "max": lambda x, d, k: torch.max(x, d, keepdim=k).values,
    "min": lambda x, d, k: torch.min(x, d, keepdim=k).values,
    "argmax": lambda x, d, k: torch.argmax(x, d, keepdim=k).double(),
    "argmin": lambda x, d, k: torch.argmin(x, d, keepdim=k).double(),
    "var": lambda x, d, k: torch.var(x, d, unbiased=True, keepdim=k),
    "std": lambda x, d, k: torch.std(x, d, unbiased=True, keepdim=k),
}
for op, f in REDUCE.items():
    grads = None if op.startswith("arg") else "all"
    case(op + "_dim1_keep", [rand(*S234)], lambda x, f=f: f(x, 1, True), grads=grads)
    case(op + "_dim0", [rand(*S657)], lambda x, f=f: f(x, 0, False), grads=grads)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torch_ops.safetensors"
    t = {}
    for name, (inputs, grads, fn) in CASES.items():
        xs = [x.double().requires_grad_(i in grads) for i, x in enumerate(inputs)]
        y = fn(*xs)
        assert y.dim() > 0, name
        w = rand(*y.shape).double()
        for i, x in enumerate(inputs):
            t["%s/in%d" % (name, i)] = x
        t[name + "/W"], t[name + "/y"] = w, y
        if grads:
            (y * w).sum().backward()
            for i in grads:
                t["%s/grad%d" % (name, i)] = xs[i].grad
    save_safetensors(out, t, {"made_by": "tools/make_torch_ops_fixture.py",
                              "torch": torch.__version__})


if __name__ == "__main__":
    main()
