"""The benchmark workloads, each written once per system: dygrad, torch, and hand-written NumPy.

A workload function takes its parameters and returns a `Result`: timed samples (warm-up excluded)
in the workload's unit, plus the values the parent checks across systems (gradients, losses).
dygrad and torch share one source for each workload (`import dygrad as torch` style), so both run
exactly the same sequence of ops; the NumPy version is the floor: a forward that stores what it
needs and a hand-written backward. The system `dygrad-compiled` runs the dygrad source with the
step's forward + loss wrapped in `dygrad.compile` (`_Compiled`); the optimizer step stays eager.

This module is imported only inside a benchmark child process, after the thread limits are set.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# W1: the constants keep the chain's gradient well away from zero and from float32 underflow
# (x -> tanh(1.001 * (x + 0.001)) is close to the neutral map x -> tanh(x)), so the systems'
# gradients can be compared meaningfully after a thousand ops.
W1_ADD = 0.001
W1_MUL = 1.001
W1_X0 = np.array([-0.6, -0.2, 0.2, 0.6], dtype=np.float32)

# W3: MLP IN-H-H-OUT with ReLU, cross-entropy, plain SGD.
W3_IN = 784
W3_OUT = 10
W3_LR = 0.01
W3_SEED = 0

# The system that runs the dygrad source with the step's forward + loss under `dygrad.compile`.
COMPILED = "dygrad-compiled"


@dataclass
class Result:
    """What one (workload, system) child reports back."""

    unit: str
    samples: list[float]
    checks: dict[str, Any] = field(default_factory=dict)
    # Further rows of the same workload, measured in the same child: name -> (unit, samples).
    metrics: dict[str, tuple[str, list[float]]] = field(default_factory=dict)


class _Compiled:
    """A workload's forward + loss function under `dygrad.compile`, traced before anything is
    measured or checked: the tracing call's result is dropped (no backward, no update), so the
    first step whose loss and gradients go to the cross-checks already runs the generated code.

    Uses the default `dygrad.compile(fn)` (graph passes on); while `dygrad.jit.passes` cannot be
    imported it falls back to `optimize=False`, and `report()` says which ran.
    """

    def __init__(self, mod: ModuleType, fn: Callable[..., Any], *example: Any) -> None:
        self.optimize = True
        try:
            self.fn = mod.compile(fn)
            self.fn(*example)
        except ImportError as e:
            if "passes" not in str(e):
                raise
            self.optimize = False
            self.fn = mod.compile(fn, optimize=False)
            self.fn(*example)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def report(self) -> dict[str, Any]:
        """How the compiled function ran; raises if it traced more than once or gave up
        compiling (the timings would then measure tracing or eager mode, not generated code)."""
        cf = self.fn
        if cf.traces != 1 or cf.fallback:
            raise RuntimeError(
                f"dygrad.compile traced {cf.traces} times (fallback to eager: {cf.fallback}) in "
                "a benchmark whose inputs never change: " + "; ".join(cf.explanations)
            )
        return {"compile_optimize": self.optimize, "compile_traces": cf.traces,
                "compile_calls": cf.calls}  # fmt: skip


def _relu_(a: np.ndarray) -> np.ndarray:
    """ReLU in place, as fast as NumPy does it: maximum against an array of zeros (NumPy's
    vectorized loop; with the scalar 0 it takes a slow one: 128x512 float32 20.6 -> 4.9 us)."""
    return np.maximum(a, np.zeros(a.shape, a.dtype), out=a)


def _colsum(g: np.ndarray) -> np.ndarray:
    """A bias's gradient, the column sums of a 2-D array, as fast as NumPy does them: a product
    with ones (one BLAS call; `g.sum(axis=0)` takes 2.2 us at (100, 16), this 0.3)."""
    return np.ones(g.shape[0], g.dtype).dot(g)


def _measure(step: Callable[[], Any], warmup: int, samples: int, scale: float) -> list[float]:
    """Run `step` `warmup` times untimed, then `samples` times timed; each time times `scale`."""
    for _ in range(warmup):
        step()
    gc.collect()
    out = []
    clock = time.perf_counter
    for _ in range(samples):
        t0 = clock()
        step()
        out.append((clock() - t0) * scale)
    return out


# ----------------------------------------------------------------------------------------------
# W1: per-op overhead
# ----------------------------------------------------------------------------------------------


def _chain(x: Any, n_ops: int) -> Any:
    """n_ops ops cycling add-constant, mul-constant, tanh; shared by dygrad and torch."""
    add, mul = W1_ADD, W1_MUL
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            x = x + add
        elif k == 1:
            x = x * mul
        else:
            x = x.tanh()
    return x


def w1_autograd(
    mod: ModuleType, n_ops: int, warmup: int, samples: int, compiled: bool = False
) -> Result:
    """W1 through an autograd library with torch's API (`dygrad` or `torch`); `compiled`: the
    chain and its sum through `dygrad.compile`."""
    x = mod.tensor(W1_X0.copy(), requires_grad=True)

    def chain_sum(x: Any) -> Any:
        return _chain(x, n_ops).sum()

    fn: Callable[[Any], Any] = _Compiled(mod, chain_sum, x) if compiled else chain_sum

    def step() -> None:
        x.grad = None
        fn(x).backward()

    step()
    grad = x.grad.numpy().astype(np.float64).tolist()
    times = _measure(step, warmup, samples, 1e6 / n_ops)
    checks: dict[str, Any] = {"grad": grad}
    if isinstance(fn, _Compiled):
        checks.update(fn.report())
    return Result("us/op", times, checks)


def _w1_numpy_step(x0: np.ndarray, n_ops: int) -> np.ndarray:
    add, mul = W1_ADD, W1_MUL
    x = x0
    saved: list[np.ndarray] = []
    for i in range(n_ops):
        k = i % 3
        if k == 0:
            x = x + add
        elif k == 1:
            x = x * mul
        else:
            x = np.tanh(x)
            saved.append(x)
    x.sum()  # the loss value itself is unused, as in the autograd versions
    g = np.ones_like(x)
    for i in range(n_ops - 1, -1, -1):
        k = i % 3
        if k == 1:
            g = g * mul
        elif k == 2:
            y = saved.pop()
            g = g * (1.0 - y * y)
    return g


def w1_numpy(n_ops: int, warmup: int, samples: int) -> Result:
    """W1 by hand: a forward that keeps the tanh outputs, a backward loop over the chain."""
    x0 = W1_X0.copy()
    grad = _w1_numpy_step(x0, n_ops).astype(np.float64).tolist()
    times = _measure(lambda: _w1_numpy_step(x0, n_ops), warmup, samples, 1e6 / n_ops)
    return Result("us/op", times, {"grad": grad})


# ----------------------------------------------------------------------------------------------
# W3: MLP training step
# ----------------------------------------------------------------------------------------------


def w3_data(batch: int, hidden: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Seeded float32 weights (PyTorch Linear's uniform init, stored (in, out)), inputs, labels."""
    rng = np.random.default_rng(W3_SEED)
    sizes = [W3_IN, hidden, hidden, W3_OUT]
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    x = rng.standard_normal((batch, W3_IN), dtype=np.float32)
    y = rng.integers(0, W3_OUT, batch).astype(np.int64)
    return params, x, y


def _mlp_loss(params: list[Any], x: Any, yi: Any) -> Any:
    """Forward and cross-entropy (log_softmax + NLL via gather); shared by dygrad and torch."""
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    logits = h @ w3 + b3
    return -logits.log_softmax(1).gather(1, yi).mean()


def w3_autograd(
    mod: ModuleType, batch: int, hidden: int, warmup: int, samples: int, compiled: bool = False
) -> Result:
    """W3 through an autograd library with torch's API: forward, backward, SGD under no_grad;
    `compiled`: the forward and loss through `dygrad.compile`, the SGD update eager."""
    arrays, xa, ya = w3_data(batch, hidden)
    params = [mod.tensor(a, requires_grad=True) for a in arrays]
    x = mod.tensor(xa)
    yi = mod.tensor(ya[:, None])
    lr = W3_LR
    loss_fn: Callable[..., Any] = (
        _Compiled(mod, _mlp_loss, params, x, yi) if compiled else _mlp_loss
    )

    def step() -> Any:
        loss = loss_fn(params, x, yi)
        loss.backward()
        with mod.no_grad():  # optimizer.step() of plain SGD
            for p in params:
                p.add_(p.grad, alpha=-lr)
        for p in params:  # optimizer.zero_grad(set_to_none=True)
            p.grad = None
        return loss

    first = step().item()
    times = _measure(step, warmup, samples, 1e3)
    last = loss_fn(params, x, yi).item()
    checks: dict[str, Any] = {"first_loss": first, "final_loss": last}
    if isinstance(loss_fn, _Compiled):
        checks.update(loss_fn.report())
    return Result("ms/step", times, checks)


def _w3_numpy_forward(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, tuple[np.ndarray, ...]]:
    """The hand-written forward and loss: the loss and what the backward needs."""
    w1, b1, w2, b2, w3, b3 = params
    rows = np.arange(x.shape[0])
    # forward, keeping the activations the backward needs
    a1 = x.dot(w1)  # ndarray.dot: matmul's bits without its ufunc dispatch
    a1 += b1
    _relu_(a1)
    a2 = a1.dot(w2)
    a2 += b2
    _relu_(a2)
    z = a2.dot(w3)
    z += b3
    z -= z.max(axis=1, keepdims=True)
    ez = np.exp(z)
    se = ez.sum(axis=1, keepdims=True)
    loss = float(np.log(se[:, 0]).mean() - z[rows, y].mean())
    return loss, (a1, a2, ez, se, rows)


def _w3_numpy_backward(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray, saved: tuple[np.ndarray, ...]
) -> list[np.ndarray]:
    """The hand-written backward of `_w3_numpy_forward`: the six parameter gradients."""
    _, _, w2, _, w3, _ = params
    a1, a2, ez, se, rows = saved
    # softmax minus one-hot, over the batch
    dz = ez
    dz /= se
    dz[rows, y] -= 1.0
    dz /= x.shape[0]
    g_w3 = a2.T.dot(dz)
    g_b3 = _colsum(dz)
    d2 = dz.dot(w3.T)
    d2 *= a2 > 0
    g_w2 = a1.T.dot(d2)
    g_b2 = _colsum(d2)
    d1 = d2.dot(w2.T)
    d1 *= a1 > 0
    g_w1 = x.T.dot(d1)
    g_b1 = _colsum(d1)
    return [g_w1, g_b1, g_w2, g_b2, g_w3, g_b3]


def _w3_numpy_update(params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
    """SGD, in place."""
    for p, g in zip(params, grads):
        g *= lr
        p -= g


def _w3_numpy_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    loss, saved = _w3_numpy_forward(params, x, y)
    _w3_numpy_update(params, _w3_numpy_backward(params, x, y, saved), lr)
    return loss


def w3_numpy(batch: int, hidden: int, warmup: int, samples: int) -> Result:
    """W3 by hand: NumPy forward, the backward written out, SGD in place."""
    params, x, y = w3_data(batch, hidden)
    lr = np.float32(W3_LR)
    first = _w3_numpy_step(params, x, y, lr)
    times = _measure(lambda: _w3_numpy_step(params, x, y, lr), warmup, samples, 1e3)
    last = _w3_numpy_step([p.copy() for p in params], x, y, lr)
    return Result("ms/step", times, {"first_loss": first, "final_loss": last})


# ----------------------------------------------------------------------------------------------
# W4: CNN training steps through the module API (nn, optim)
# ----------------------------------------------------------------------------------------------

# (state_dict key, shape) of each W4 network, in the modules' registration order.
W4_PARAMS: dict[str, list[tuple[str, tuple[int, ...]]]] = {
    "seed": [
        ("conv1.weight", (3, 1, 3, 3)),
        ("conv1.bias", (3,)),
        ("conv2.weight", (12, 3, 3, 3)),
        ("conv2.bias", (12,)),
    ],
    "lenet": [
        ("0.weight", (16, 1, 5, 5)),
        ("0.bias", (16,)),
        ("3.weight", (32, 16, 5, 5)),
        ("3.bias", (32,)),
        ("7.weight", (10, 512)),
        ("7.bias", (10,)),
    ],
}
W4_VARIANTS = {"W4-seed": "seed", "W4-lenet": "lenet"}
W4_CLASSES = 10
W4_LR = 0.01
W4_SEED = 0


def w4_data(
    variant: str, batch: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
    """Seeded float32 weights (PyTorch's default Conv2d/Linear init bounds), inputs, labels."""
    rng = np.random.default_rng(W4_SEED)
    params: dict[str, np.ndarray] = {}
    bound = 1.0
    for name, shape in W4_PARAMS[variant]:
        if name.endswith("weight"):  # the bias uses its layer's weight fan-in
            bound = 1.0 / np.sqrt(np.prod(shape[1:]))
        params[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, W4_CLASSES, batch).astype(np.int64) if variant == "lenet" else None
    return params, x, y


def w4_grad_summary(variant: str, grads: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Each first-step gradient's L2 norm and its projection on a fixed random unit-ish vector.

    The projections differ between systems by at most the norm of the gradients' difference, and a
    wrong gradient (sign, transposed or flipped kernel) moves them by about the gradient's norm, so
    two scalars per parameter check the whole gradient without shipping it between processes.
    """
    rng = np.random.default_rng(W4_SEED + 1)
    norms, probes = [], []
    for name, _ in W4_PARAMS[variant]:
        g = grads[name].astype(np.float64).ravel()
        r = rng.standard_normal(g.size) / np.sqrt(g.size)
        norms.append(float(np.linalg.norm(g)))
        probes.append(float(g @ r))
    return {"grad_norms": norms, "grad_probes": probes}


def _w4_model(mod: ModuleType, variant: str) -> Any:
    """The W4 network, written once for dygrad and torch (`mod.nn` is `dygrad.nn` or `torch.nn`)."""
    nn = mod.nn
    if variant == "seed":  # the seed text's example, built the same way
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
        model.add_module("conv2", nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
        return model
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(512, W4_CLASSES),
    )


def w4_autograd(
    mod: ModuleType, variant: str, batch: int, warmup: int, samples: int, compiled: bool = False
) -> Result:
    """W4 through the module API: forward, loss, backward, `optimizer.step()`, `zero_grad()`;
    `compiled`: the forward and loss (`loss_fn(model(x), y)`, the parameters read live as the
    compiled graph's externals) through `dygrad.compile`, the optimizer eager."""
    arrays, xa, ya = w4_data(variant, batch)
    model = _w4_model(mod, variant)
    model.load_state_dict({k: mod.tensor(a) for k, a in arrays.items()})
    x = mod.tensor(xa)
    if variant == "seed":
        y = None

        def loss_fn(out: Any, _: Any) -> Any:
            return out.mean()
    else:
        y = mod.tensor(ya)
        loss_fn = mod.nn.CrossEntropyLoss()
    opt = mod.optim.SGD(model.parameters(), lr=W4_LR)

    def forward_loss(x: Any, y: Any) -> Any:
        return loss_fn(model(x), y)

    fwd: Callable[..., Any] = _Compiled(mod, forward_loss, x, y) if compiled else forward_loss

    def step() -> Any:
        loss = fwd(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    # The first step by hand, to read the gradients before the update.
    loss = fwd(x, y)
    loss.backward()
    first = loss.item()
    grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    checks: dict[str, Any] = {"first_loss": first, **w4_grad_summary(variant, grads)}
    opt.step()
    opt.zero_grad()
    times = _measure(step, warmup, samples, 1e3)
    if isinstance(fwd, _Compiled):
        checks.update(fwd.report())
    with mod.no_grad():
        checks["final_loss"] = loss_fn(model(x), y).item()
    return Result("ms/step", times, checks)


class _Workspace:
    """Buffers kept from one step to the next, by name: the large temporaries of a hand-written
    step (patches, activations, masks) are written in place instead of being allocated afresh, so
    the floor does not depend on how the C allocator returns memory to the system."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def __call__(self, key: str, shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
        a = self._bufs.get(key)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._bufs[key] = np.empty(shape, dtype)
        return a


def _im2col(
    ws: _Workspace, key: str, xh: np.ndarray, k: int, stride: int, pad: int
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """NHWC input -> (N*Ho*Wo, k*k*C) patches, the columns ordered (kh, kw, C).

    The one copy runs along the longest contiguous stretch: the channels when there are several,
    else (one input channel) the image rows, the patches then being the transpose of a
    taps-outermost (k*k, N*Ho*Wo) array, which the matrix products take without a copy.
    """
    if pad:
        n, h, w, c = xh.shape
        xp = ws(key + ".pad", (n, h + 2 * pad, w + 2 * pad, c))
        xp.fill(0)
        xp[:, pad : pad + h, pad : pad + w] = xh
        xh = xp
    win = sliding_window_view(xh, (k, k), axis=(1, 2))[:, ::stride, ::stride]
    n, ho, wo, c = win.shape[:4]
    if c == 1:
        cols = ws(key, (k, k, 1, n, ho, wo))
        np.copyto(cols, win.transpose(4, 5, 3, 0, 1, 2))
        return cols.reshape(k * k, n * ho * wo).T, (n, ho, wo)
    cols = ws(key, (n, ho, wo, k, k, c))
    np.copyto(cols, win.transpose(0, 1, 2, 4, 5, 3))
    return cols.reshape(n * ho * wo, -1), (n, ho, wo)


def _conv_fwd(
    ws: _Workspace, key: str, xh: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """Convolution of an NHWC input by a PyTorch-layout (O, C, k, k) weight: one matmul of the
    patches. Returns the NHWC output and the patches (the weight gradient's other factor)."""
    cols, (n, ho, wo) = _im2col(ws, key + ".cols", xh, w.shape[-1], stride, pad)
    o = w.shape[0]
    out = np.matmul(cols, w.transpose(0, 2, 3, 1).reshape(o, -1).T, out=ws(key, (n * ho * wo, o)))
    out += b
    return out.reshape(n, ho, wo, o), cols


def _conv_grad_weight(dy: np.ndarray, cols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Weight gradient (O, C, k, k) from the output gradient (M, O) and the (M, k*k*C) patches."""
    o, c, k, _ = shape
    return (dy.T @ cols).reshape(o, k, k, c).transpose(0, 3, 1, 2)


def _conv_grad_input(
    ws: _Workspace, key: str, dy: np.ndarray, w: np.ndarray, stride: int, pad: int, hw: int
) -> np.ndarray:
    """Gradient of the convolution's NHWC input (col2im): each kernel tap's (N*Ho*Wo, C) block of
    the patches' gradient from one batched matmul, added into the padded image by one strided add
    per tap, then cropped."""
    n, ho, wo, o = dy.shape
    c, k = w.shape[1], w.shape[-1]
    wt = w.transpose(2, 3, 0, 1).reshape(k * k, o, c)
    taps = np.matmul(dy.reshape(1, -1, o), wt, out=ws(key + ".taps", (k * k, n * ho * wo, c)))
    size = hw + 2 * pad
    out = ws(key, (n, size, size, c))
    out.fill(0)
    span_h, span_w = (ho - 1) * stride + 1, (wo - 1) * stride + 1
    for t in range(k * k):
        i, j = divmod(t, k)
        out[:, i : i + span_h : stride, j : j + span_w : stride] += taps[t].reshape(n, ho, wo, c)
    return out[:, pad : pad + hw, pad : pad + hw] if pad else out


def _pool2_fwd(ws: _Workspace, key: str, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pooling, stride 2, of an NHWC array: the output and each window's argmax (0-3,
    row-major in the window, the first on ties), from pairwise maxima of strided views."""
    n, h, w, c = a.shape
    h2, w2 = h // 2, w // 2
    v = a.reshape(n, h2, 2, w2, 2, c)
    left, right = v[:, :, :, :, 0], v[:, :, :, :, 1]
    row_max = np.maximum(left, right, out=ws(key + ".rowmax", (n, h2, 2, w2, c)))
    col = np.greater(right, left, out=ws(key + ".col", (n, h2, 2, w2, c), np.bool_))
    top, bottom = row_max[:, :, 0], row_max[:, :, 1]
    out = np.maximum(top, bottom, out=ws(key, (n, h2, w2, c)))
    row = np.greater(bottom, top, out=ws(key + ".row", (n, h2, w2, c), np.bool_))
    idx = ws(key + ".idx", (n, h2, w2, c), np.int8)
    np.copyto(idx, col[:, :, 0])
    np.copyto(idx, col[:, :, 1], where=row)
    idx += row
    idx += row
    return out, idx


def _pool2_bwd(ws: _Workspace, key: str, d: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Route a 2x2 max pool's output gradient to the argmax of each window."""
    n, h2, w2, c = d.shape
    g = ws(key, (n, h2, 2, w2, 2, c))
    hit = ws(key + ".hit", idx.shape, np.bool_)
    for r in range(2):
        for q in range(2):
            np.multiply(d, np.equal(idx, 2 * r + q, out=hit), out=g[:, :, r, :, q])
    return g.reshape(n, 2 * h2, 2 * w2, c)


def _sgd(p: dict[str, np.ndarray], g: dict[str, np.ndarray], lr: np.float32) -> None:
    """optimizer.step() of plain SGD, in place (the gradients are scaled in place too)."""
    for k, v in g.items():
        v *= lr
        p[k] -= v


def _w4_seed_numpy_step(
    ws: _Workspace,
    p: dict[str, np.ndarray],
    x: np.ndarray,
    lr: np.float32,
    grads: dict[str, np.ndarray] | None,
) -> float:
    w1, b1, w2, b2 = p["conv1.weight"], p["conv1.bias"], p["conv2.weight"], p["conv2.bias"]
    a1, c1 = _conv_fwd(ws, "conv1", x.transpose(0, 2, 3, 1), w1, b1, 2, 1)
    y, c2 = _conv_fwd(ws, "conv2", a1, w2, b2, 2, 1)
    loss = float(y.mean())
    # backward of the mean: a constant gradient
    dy = np.full((c2.shape[0], w2.shape[0]), 1.0 / y.size, np.float32)
    g = {"conv2.weight": _conv_grad_weight(dy, c2, w2.shape), "conv2.bias": dy.sum(axis=0)}
    da1 = _conv_grad_input(ws, "dconv2", dy.reshape(y.shape), w2, 2, 1, a1.shape[1])
    da1 = da1.reshape(-1, w1.shape[0])
    g["conv1.weight"] = _conv_grad_weight(da1, c1, w1.shape)
    g["conv1.bias"] = da1.sum(axis=0)
    if grads is not None:
        grads.update((k, v.copy()) for k, v in g.items())
    _sgd(p, g, lr)
    return loss


def _w4_lenet_numpy_step(
    ws: _Workspace,
    p: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    lr: np.float32,
    grads: dict[str, np.ndarray] | None,
) -> float:
    w1, b1, w2, b2 = p["0.weight"], p["0.bias"], p["3.weight"], p["3.bias"]
    w3, b3 = p["7.weight"], p["7.bias"]
    n = x.shape[0]
    rows = np.arange(n)
    # forward, channels last, keeping the patches, pooled activations and argmaxes. (ReLU and
    # max pooling commute, values and gradients alike: pooling first, the ReLU and its mask
    # touch a quarter of the pixels.)
    a1, c1 = _conv_fwd(ws, "conv1", x.transpose(0, 2, 3, 1), w1, b1, 1, 0)
    p1, i1 = _pool2_fwd(ws, "pool1", a1)
    _relu_(p1)
    a2, c2 = _conv_fwd(ws, "conv2", p1, w2, b2, 1, 0)
    p2, i2 = _pool2_fwd(ws, "pool2", a2)
    _relu_(p2)
    f = p2.transpose(0, 3, 1, 2).reshape(n, -1)  # flatten in PyTorch's (C, H, W) order
    z = f @ w3.T
    z += b3
    z -= z.max(axis=1, keepdims=True)
    ez = np.exp(z)
    se = ez.sum(axis=1, keepdims=True)
    loss = float(np.log(se[:, 0]).mean() - z[rows, y].mean())
    # backward: softmax minus one-hot, then back through each layer
    dz = ez
    dz /= se
    dz[rows, y] -= 1.0
    dz /= n
    g = {"7.weight": dz.T @ f, "7.bias": dz.sum(axis=0)}
    dp2 = (dz @ w3).reshape(p2.shape[0], p2.shape[3], p2.shape[1], p2.shape[2])
    dp2 = dp2.transpose(0, 2, 3, 1) * (p2 > 0)
    da2 = _pool2_bwd(ws, "dpool2", dp2, i2).reshape(-1, w2.shape[0])
    g["3.weight"] = _conv_grad_weight(da2, c2, w2.shape)
    g["3.bias"] = da2.sum(axis=0)
    dp1 = _conv_grad_input(ws, "dconv2", da2.reshape(a2.shape), w2, 1, 0, p1.shape[1])
    dp1 *= p1 > 0
    da1 = _pool2_bwd(ws, "dpool1", dp1, i1).reshape(-1, w1.shape[0])
    g["0.weight"] = _conv_grad_weight(da1, c1, w1.shape)
    g["0.bias"] = da1.sum(axis=0)
    if grads is not None:
        grads.update((k, v.copy()) for k, v in g.items())
    _sgd(p, g, lr)
    return loss


def w4_numpy(variant: str, batch: int, warmup: int, samples: int) -> Result:
    """W4 by hand: im2col convolutions (channels last), argmax max-pooling, softmax
    cross-entropy, the backward written out, SGD in place; large buffers reused across steps."""
    params, x, y = w4_data(variant, batch)
    lr = np.float32(W4_LR)
    ws = _Workspace()

    def step(p: dict[str, np.ndarray], grads: dict[str, np.ndarray] | None = None) -> float:
        if variant == "seed":
            return _w4_seed_numpy_step(ws, p, x, lr, grads)
        assert y is not None
        return _w4_lenet_numpy_step(ws, p, x, y, lr, grads)

    grads: dict[str, np.ndarray] = {}
    first = step(params, grads)
    checks: dict[str, Any] = {"first_loss": first, **w4_grad_summary(variant, grads)}
    times = _measure(lambda: step(params), warmup, samples, 1e3)
    checks["final_loss"] = step({k: v.copy() for k, v in params.items()})
    return Result("ms/step", times, checks)


def run(workload: str, system: str, cfg: dict[str, Any]) -> Result:
    """Run one workload on one system (importing that system here, in the child)."""
    warmup, samples = int(cfg["warmup"]), int(cfg["samples"])
    compiled = system == COMPILED
    if workload == "W2":
        n = int(cfg["w2_points"])
        if system == "numpy":
            return w2_numpy(n, warmup, samples)
        return w2_autograd(_import_system(system), n, warmup, samples, compiled)
    if workload in W5_VARIANTS:
        # Few samples: a million-node sample takes seconds.
        nodes = int(cfg["w5_nodes"][list(W5_VARIANTS).index(workload)])
        n_samples = min(samples, 5 if workload == "W5-100k" else 3)
        w5_warmup = min(warmup, 1)
        return w5_autograd(_import_system(system), nodes, w5_warmup, n_samples)
    if workload == "W6":
        dims = int(cfg["w6_layers"]), int(cfg["w6_width"]), int(cfg["w6_batch"])
        n_samples, w6_warmup = min(samples, 10), min(warmup, 2)
        if system == "numpy":
            return w6_numpy(*dims, w6_warmup, n_samples)
        return w6_autograd(_import_system(system), *dims, w6_warmup, n_samples)
    if workload == "W6-ckpt":
        dims = int(cfg["w6_layers"]), int(cfg["w6_width"]), int(cfg["w6_batch"])
        segments = int(cfg["w6_segments"])
        n_samples, w6_warmup = min(samples, 10), min(warmup, 2)
        return w6_ckpt_autograd(_import_system(system), *dims, segments, w6_warmup, n_samples)
    if workload == "W7":
        return w7(system, int(cfg["w7_n"]), min(warmup, 3), min(samples, 20))
    if workload in W4_VARIANTS:
        variant = W4_VARIANTS[workload]
        batch = int(cfg["w4_seed_batch"] if variant == "seed" else cfg["w4_batch"])
        if system == "numpy":
            return w4_numpy(variant, batch, warmup, samples)
        mod = _import_system(system)
        return w4_autograd(mod, variant, batch, warmup, samples, compiled)
    if system == "numpy":
        if workload == "W1":
            return w1_numpy(int(cfg["w1_ops"]), warmup, samples)
        return w3_numpy(int(cfg["w3_batch"]), int(cfg["w3_hidden"]), warmup, samples)
    mod = _import_system(system)
    if workload == "W1":
        return w1_autograd(mod, int(cfg["w1_ops"]), warmup, samples, compiled)
    dims = int(cfg["w3_batch"]), int(cfg["w3_hidden"])
    return w3_autograd(mod, *dims, warmup, samples, compiled)


def _import_system(system: str) -> ModuleType:
    """`torch`, or `dygrad` (also for `dygrad-compiled`) with its `nn` and `optim` loaded."""
    if system == "torch":
        import torch

        return torch
    import dygrad
    import dygrad.nn
    import dygrad.optim

    return dygrad


# ----------------------------------------------------------------------------------------------
# Memory, read from the kernel: the same method for every system (torch's CPU allocator is
# invisible to tracemalloc, and its allocator statistics exist only for CUDA).
# ----------------------------------------------------------------------------------------------


def _malloc_trim() -> None:
    """Collect garbage and hand glibc's free heap pages back to the system (`malloc_trim(0)`), so
    the resident set counts live memory only; a no-op where there is no glibc."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _status_kib(key: str) -> int:
    """A line of /proc/self/status, e.g. 'VmRSS' or 'VmHWM', in KiB (0 where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class _MemProbe:
    """Peak resident memory of a block over the RSS at its start, in MiB: glibc's heap trimmed,
    the kernel's high-water mark VmHWM reset, read after the block. Where VmHWM cannot be reset,
    `resource.getrusage`'s ru_maxrss delta (a lifetime peak: only a new peak shows)."""

    def __enter__(self) -> _MemProbe:
        _malloc_trim()
        self.method = "VmHWM" if _reset_peak() else "ru_maxrss"
        self.base = _status_kib("VmRSS")
        self.max0 = self._maxrss()
        return self

    @staticmethod
    def _maxrss() -> int:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def __exit__(self, *exc: object) -> None:
        if self.method == "VmHWM":
            self.peak_mib = max(_status_kib("VmHWM") - self.base, 0) / 1024
        else:
            self.peak_mib = max(self._maxrss() - self.max0, 0) / 1024

    def held_mib(self) -> float:
        """RSS now over the RSS at the block's start, after collecting and trimming, in MiB."""
        _malloc_trim()
        return max(_status_kib("VmRSS") - self.base, 0) / 1024


# ----------------------------------------------------------------------------------------------
# W2: micrograd's demo network
# ----------------------------------------------------------------------------------------------

W2_SIZES = (2, 16, 16, 1)
W2_SEED = 0


def w2_data(n: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Seeded float32 weights (uniform(-1, 1), as micrograd's Neuron; stored (in, out)), two
    interleaved half-moons like sklearn's `make_moons(n, noise=0.1)`, labels -1/+1 as (n, 1)."""
    rng = np.random.default_rng(W2_SEED)
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(W2_SIZES[:-1], W2_SIZES[1:]):
        params.append(rng.uniform(-1, 1, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-1, 1, (fan_out,)).astype(np.float32))
    n_out = n // 2
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n - n_out)
    x = np.concatenate(
        [
            np.stack([np.cos(t_out), np.sin(t_out)], 1),
            np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1),
        ]
    )
    x += rng.normal(0, 0.1, x.shape)
    y = np.concatenate([-np.ones(n_out), np.ones(n - n_out)])[:, None]
    return params, x.astype(np.float32), y.astype(np.float32)


def _w2_loss(params: list[Any], x: Any, y: Any) -> Any:
    """micrograd's MLP(2, [16, 16, 1]): ReLU hidden layers, linear output; summed hinge loss."""
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    score = h @ w3 + b3
    return (1 - y * score).relu().sum()


def w2_autograd(
    mod: ModuleType, n: int, warmup: int, samples: int, compiled: bool = False
) -> Result:
    """W2 through an autograd library with torch's API: forward, backward, grads reset;
    `compiled`: the forward and loss through `dygrad.compile`."""
    arrays, xa, ya = w2_data(n)
    params = [mod.tensor(a, requires_grad=True) for a in arrays]
    x, y = mod.tensor(xa), mod.tensor(ya)
    loss_fn: Callable[..., Any] = _Compiled(mod, _w2_loss, params, x, y) if compiled else _w2_loss

    def step() -> Any:
        loss = loss_fn(params, x, y)
        loss.backward()
        for p in params:
            p.grad = None
        return loss

    loss = loss_fn(params, x, y)
    loss.backward()
    checks = {"first_loss": loss.item(), "grad_norm": _norm([p.grad.numpy() for p in params])}
    for p in params:
        p.grad = None
    times = _measure(step, warmup, samples, 1e6)
    if isinstance(loss_fn, _Compiled):
        checks.update(loss_fn.report())
    return Result("us/step", times, checks)


def _norm(arrays: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(float((a.astype(np.float64) ** 2).sum()) for a in arrays)))


def _w2_numpy_forward(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, tuple[np.ndarray, ...]]:
    """The hand-written forward: the loss and the activations the backward needs."""
    w1, b1, w2, b2, w3, b3 = params
    a1 = x.dot(w1)
    a1 += b1
    _relu_(a1)
    a2 = a1.dot(w2)
    a2 += b2
    _relu_(a2)
    score = a2.dot(w3)
    score += b3
    margin = 1 - y * score
    loss = float(np.maximum(margin, 0).sum())
    return loss, (a1, a2, margin)


def _w2_numpy_backward(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray, saved: tuple[np.ndarray, ...]
) -> list[np.ndarray]:
    """The hand-written backward of `_w2_numpy_forward`: the six parameter gradients."""
    _, _, w2, _, w3, _ = params
    a1, a2, margin = saved
    ds = -y * (margin > 0)
    g_w3 = a2.T.dot(ds)
    g_b3 = _colsum(ds)
    d2 = ds.dot(w3.T)
    d2 *= a2 > 0
    g_w2 = a1.T.dot(d2)
    g_b2 = _colsum(d2)
    d1 = d2.dot(w2.T)
    d1 *= a1 > 0
    g_w1 = x.T.dot(d1)
    g_b1 = _colsum(d1)
    return [g_w1, g_b1, g_w2, g_b2, g_w3, g_b3]


def _w2_numpy_step(
    params: list[np.ndarray], x: np.ndarray, y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    loss, saved = _w2_numpy_forward(params, x, y)
    return loss, _w2_numpy_backward(params, x, y, saved)


def w2_numpy(n: int, warmup: int, samples: int) -> Result:
    """W2 by hand: the forward keeping its activations, the backward written out."""
    params, x, y = w2_data(n)
    loss, grads = _w2_numpy_step(params, x, y)
    times = _measure(lambda: _w2_numpy_step(params, x, y), warmup, samples, 1e6)
    return Result("us/step", times, {"first_loss": loss, "grad_norm": _norm(grads)})


# ----------------------------------------------------------------------------------------------
# W5: a long chain of scalar adds
# ----------------------------------------------------------------------------------------------

W5_VARIANTS = {"W5-100k": 100_000, "W5-1M": 1_000_000}


def w5_autograd(mod: ModuleType, nodes: int, warmup: int, samples: int) -> Result:
    """`x = x + 1.0` `nodes` times on a 0-d float32 tensor that requires grad, then backward.

    Per sample: build and backward times, and the peak resident memory over both (`_MemProbe`).
    The main row is (build + backward) / nodes in microseconds per node.
    """
    x0 = mod.tensor(0.0, requires_grad=True)

    def once() -> tuple[float, float, float]:
        x0.grad = None
        with _MemProbe() as mem:
            clock = time.perf_counter
            t0 = clock()
            x = x0
            for _ in range(nodes):
                x = x + 1.0
            t1 = clock()
            x.backward()
            t2 = clock()
            value = x.item()
            del x
        if nodes <= 2**24:  # float32 counts exactly up to 2**24
            assert value == float(nodes), (value, nodes)
        return t1 - t0, t2 - t1, mem.peak_mib

    for _ in range(warmup):
        once()
    build, back, peak = [], [], []
    for _ in range(samples):
        b, k, m = once()
        build.append(b * 1e3)
        back.append(k * 1e3)
        peak.append(m)
    per_node = [(b + k) * 1e3 / nodes for b, k in zip(build, back)]
    checks = {"grad": float(x0.grad.item()), "memory_method": mem_method()}
    metrics = {
        "build": ("ms", build),
        "backward": ("ms", back),
        "peak memory": ("MiB", peak),
    }
    return Result("us/node", per_node, checks, metrics)


def mem_method() -> str:
    """How `_MemProbe` measures here."""
    return "VmHWM (clear_refs) - VmRSS" if _reset_peak() else "ru_maxrss delta"


# ----------------------------------------------------------------------------------------------
# W6: a deep, wide MLP: memory
# ----------------------------------------------------------------------------------------------

W6_SEED = 0


def w6_data(layers: int, width: int, batch: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Seeded float32 weights (Linear's uniform init, stored (in, out)) and inputs."""
    rng = np.random.default_rng(W6_SEED)
    bound = 1.0 / np.sqrt(width)
    params: list[np.ndarray] = []
    for _ in range(layers):
        params.append(rng.uniform(-bound, bound, (width, width)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, (width,)).astype(np.float32))
    return params, rng.standard_normal((batch, width), dtype=np.float32)


def _w6_loss(params: list[Any], x: Any) -> Any:
    h = x
    for i in range(0, len(params), 2):
        h = (h @ params[i] + params[i + 1]).relu()
    return h.mean()


def _w6_run(
    step: Callable[[], float], grads: Callable[..., list[np.ndarray]], warmup: int, samples: int
) -> Result:
    """Time `step` (forward + backward); then measure its peak and held memory in one more step
    with the gradients reset first. Held = resident after the step, collected and trimmed, over
    the resident before it: the gradients (and anything else the step left alive)."""
    first = step()
    g = grads()
    checks: dict[str, Any] = {"first_loss": first, "grad_norm": _norm(g)}
    times = _measure(step, warmup, samples, 1e3)
    peak, held = [], []
    for _ in range(max(1, min(samples, 3))):
        grads(reset=True)
        with _MemProbe() as mem:
            step()
        peak.append(mem.peak_mib)
        held.append(mem.held_mib())
    checks["grad_mib"] = sum(a.nbytes for a in g) / 2**20
    checks["memory_method"] = mem_method()
    return Result("ms/step", times, checks, {"peak memory": ("MiB", peak), "held": ("MiB", held)})


def w6_autograd(
    mod: ModuleType, layers: int, width: int, batch: int, warmup: int, samples: int
) -> Result:
    """W6 through an autograd library: forward, `mean().backward()`; gradients stay on the params
    (as after `loss.backward()` before `optimizer.step()`)."""
    arrays, xa = w6_data(layers, width, batch)
    params = [mod.tensor(a, requires_grad=True) for a in arrays]
    x = mod.tensor(xa)
    del arrays, xa

    def step() -> float:
        for p in params:
            p.grad = None
        loss = _w6_loss(params, x)
        loss.backward()
        return loss.item()

    def grads(reset: bool = False) -> list[np.ndarray]:
        if reset:
            for p in params:
                p.grad = None
            return []
        return [p.grad.numpy() for p in params]

    return _w6_run(step, grads, warmup, samples)


def w6_numpy(layers: int, width: int, batch: int, warmup: int, samples: int) -> Result:
    """W6 by hand: forward keeping each layer's output, backward written out; the gradients kept
    (new arrays each step, as an engine's `.grad`)."""
    params, x = w6_data(layers, width, batch)
    held: list[np.ndarray] = []

    def step() -> float:
        held.clear()
        acts = [x]
        for i in range(0, len(params), 2):
            a = acts[-1] @ params[i]
            a += params[i + 1]
            _relu_(a)
            acts.append(a)
        out = acts[-1]
        loss = float(out.mean())
        d = np.full(out.shape, 1.0 / out.size, np.float32)
        gs: list[np.ndarray] = []
        for i in range(len(params) - 2, -1, -2):
            a = acts.pop()
            d *= a > 0
            gs += [d.sum(axis=0), acts[-1].T @ d]
            if i:
                d = d @ params[i].T
        held.extend(reversed(gs))
        return loss

    def grads(reset: bool = False) -> list[np.ndarray]:
        if reset:
            held.clear()
            return []
        return list(held)

    return _w6_run(step, grads, warmup, samples)


# ----------------------------------------------------------------------------------------------
# W6-ckpt: W6's MLP with activation checkpointing, against itself without
# ----------------------------------------------------------------------------------------------


def _w6_layer(w: Any, b: Any) -> Callable[[Any], Any]:
    return lambda h: (h @ w + b).relu()


def w6_ckpt_autograd(
    mod: ModuleType, layers: int, width: int, batch: int, segments: int, warmup: int, samples: int
) -> Result:
    """W6's MLP and data, one function per Linear+ReLU layer, run through
    `utils.checkpoint.checkpoint_sequential(fns, segments, x, use_reentrant=False)` and plainly,
    in the same child. For each: time per step (forward + `mean().backward()`), and in separate
    steps, gradients reset first, the peak memory over forward + backward and the memory held
    after the forward (the graph's saved values: what checkpointing saves; collected and trimmed,
    over the resident set before the step). The checks are the checkpointed step's first loss and
    gradient norm; the plain step must give the same ones (relative 1e-5), or the child fails."""
    import importlib

    cp = importlib.import_module(f"{mod.__name__}.utils.checkpoint")
    arrays, xa = w6_data(layers, width, batch)
    params = [mod.tensor(a, requires_grad=True) for a in arrays]
    x = mod.tensor(xa)
    del arrays, xa
    fns = [_w6_layer(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    segs = min(segments, len(fns))  # checkpoint_sequential needs at least one layer a segment

    def make_forward(ckpt: bool) -> Callable[[], Any]:
        def forward() -> Any:
            for p in params:
                p.grad = None
            if ckpt:
                h = cp.checkpoint_sequential(fns, segs, x, use_reentrant=False)
            else:
                h = x
                for f in fns:
                    h = f(h)
            return h.mean()

        return forward

    metrics: dict[str, tuple[str, list[float]]] = {}
    results: dict[str, tuple[float, float]] = {}
    times: dict[str, list[float]] = {}
    for name, ckpt in (("checkpoint_sequential", True), ("no checkpoint", False)):
        forward = make_forward(ckpt)

        def step(forward: Callable[[], Any] = forward) -> float:
            loss = forward()
            loss.backward()
            return float(loss.item())

        first = step()
        results[name] = (first, _norm([p.grad.numpy() for p in params]))
        times[name] = _measure(step, warmup, samples, 1e3)
        peak, held = [], []
        for _ in range(max(1, min(samples, 3))):
            for p in params:
                p.grad = None
            with _MemProbe() as mem:
                loss = forward()
                held.append(mem.held_mib())
                loss.backward()
            del loss
            peak.append(mem.peak_mib)
        metrics[f"peak memory, {name}"] = ("MiB", peak)
        metrics[f"held after forward, {name}"] = ("MiB", held)
    (loss_c, norm_c), (loss_p, norm_p) = results["checkpoint_sequential"], results["no checkpoint"]
    for what, a, b in (("first loss", loss_c, loss_p), ("grad norm", norm_c, norm_p)):
        if not abs(a - b) <= 1e-5 * abs(b):
            raise RuntimeError(f"W6-ckpt: {what} {a} with checkpointing, {b} without")
    checks = {"first_loss": loss_c, "grad_norm": norm_c, "segments": segs}
    checks["memory_method"] = mem_method()
    order = ["peak memory", "held after forward"]
    return Result(
        "ms/step",
        times["checkpoint_sequential"],
        checks,
        {
            "time per step, no checkpoint": ("ms/step", times["no checkpoint"]),
            **{
                f"{m}, {name}": metrics[f"{m}, {name}"]
                for m in order
                for name in ("checkpoint_sequential", "no checkpoint")
            },
        },
    )


# ----------------------------------------------------------------------------------------------
# W7: BLAS matmul throughput
# ----------------------------------------------------------------------------------------------


def w7(system: str, n: int, warmup: int, samples: int) -> Result:
    """GFLOP/s of an (n, n) @ (n, n) product (2 n^3 flops), float32 (the main row) and float64,
    through `numpy.matmul` or the system's `@` on tensors that do not require grad."""
    rng = np.random.default_rng(0)
    mod = None if system == "numpy" else _import_system(system)
    rates: dict[str, list[float]] = {}
    checks: dict[str, Any] = {}
    for dt in (np.float32, np.float64):
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        if mod is None:
            ta, tb = a, b
        else:
            ta, tb = mod.tensor(a), mod.tensor(b)
        c = ta @ tb
        c = c if mod is None else c.numpy()
        checks[f"{np.dtype(dt).name}_norm"] = float(np.linalg.norm(c[:4].astype(np.float64)))
        secs = _measure(lambda: ta @ tb, warmup, samples, 1.0)
        rates[np.dtype(dt).name] = [2.0 * n**3 / s / 1e9 for s in secs]
    return Result("GFLOP/s", rates["float32"], checks, {"float64": ("GFLOP/s", rates["float64"])})
