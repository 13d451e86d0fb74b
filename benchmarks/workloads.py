"""The benchmark workloads, each written once per system: dygrad, torch, and hand-written NumPy.

A workload function takes its parameters and returns a `Result`: timed samples (warm-up excluded)
in the workload's unit, plus the values the parent checks across systems (gradients, losses).
dygrad and torch share one source for each workload (`import dygrad as torch` style), so both run
exactly the same sequence of ops; the NumPy version is the floor: a forward that stores what it
needs and a hand-written backward.

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


@dataclass
class Result:
    """What one (workload, system) child reports back."""

    unit: str
    samples: list[float]
    checks: dict[str, Any] = field(default_factory=dict)


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


def w1_autograd(mod: ModuleType, n_ops: int, warmup: int, samples: int) -> Result:
    """W1 through an autograd library with torch's API (`dygrad` or `torch`)."""
    x = mod.tensor(W1_X0.copy(), requires_grad=True)

    def step() -> None:
        x.grad = None
        _chain(x, n_ops).sum().backward()

    step()
    grad = x.grad.numpy().astype(np.float64).tolist()
    times = _measure(step, warmup, samples, 1e6 / n_ops)
    return Result("us/op", times, {"grad": grad})


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


def w3_autograd(mod: ModuleType, batch: int, hidden: int, warmup: int, samples: int) -> Result:
    """W3 through an autograd library with torch's API: forward, backward, SGD under no_grad."""
    arrays, xa, ya = w3_data(batch, hidden)
    params = [mod.tensor(a, requires_grad=True) for a in arrays]
    x = mod.tensor(xa)
    yi = mod.tensor(ya[:, None])
    lr = W3_LR

    def step() -> Any:
        loss = _mlp_loss(params, x, yi)
        loss.backward()
        with mod.no_grad():  # optimizer.step() of plain SGD
            for p in params:
                p.add_(p.grad, alpha=-lr)
        for p in params:  # optimizer.zero_grad(set_to_none=True)
            p.grad = None
        return loss

    first = step().item()
    times = _measure(step, warmup, samples, 1e3)
    last = _mlp_loss(params, x, yi).item()
    return Result("ms/step", times, {"first_loss": first, "final_loss": last})


def _w3_numpy_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    rows = np.arange(n)
    # forward, keeping the activations the backward needs
    a1 = x @ w1
    a1 += b1
    np.maximum(a1, 0, out=a1)
    a2 = a1 @ w2
    a2 += b2
    np.maximum(a2, 0, out=a2)
    z = a2 @ w3
    z += b3
    z -= z.max(axis=1, keepdims=True)
    ez = np.exp(z)
    se = ez.sum(axis=1, keepdims=True)
    loss = float(np.log(se[:, 0]).mean() - z[rows, y].mean())
    # backward: softmax minus one-hot, over the batch
    dz = ez
    dz /= se
    dz[rows, y] -= 1.0
    dz /= n
    g_w3 = a2.T @ dz
    g_b3 = dz.sum(axis=0)
    d2 = dz @ w3.T
    d2 *= a2 > 0
    g_w2 = a1.T @ d2
    g_b2 = d2.sum(axis=0)
    d1 = d2 @ w2.T
    d1 *= a1 > 0
    g_w1 = x.T @ d1
    g_b1 = d1.sum(axis=0)
    # SGD, in place
    for p, g in zip(params, (g_w1, g_b1, g_w2, g_b2, g_w3, g_b3)):
        g *= lr
        p -= g
    return loss


def w3_numpy(batch: int, hidden: int, warmup: int, samples: int) -> Result:
    """W3 by hand: NumPy forward, the backward written out, SGD in place."""
    params, x, y = w3_data(batch, hidden)
    lr = np.float32(W3_LR)
    first = _w3_numpy_step(params, x, y, lr)
    times = _measure(lambda: _w3_numpy_step(params, x, y, lr), warmup, samples, 1e3)
    last = _w3_numpy_step([p.copy() for p in params], x, y, lr)
    return Result("ms/step", times, {"first_loss": first, "final_loss": last})


def run(workload: str, system: str, cfg: dict[str, Any]) -> Result:
    """Run one workload on one system (importing that system here, in the child)."""
    warmup, samples = int(cfg["warmup"]), int(cfg["samples"])
    if system == "numpy":
        if workload == "W1":
            return w1_numpy(int(cfg["w1_ops"]), warmup, samples)
        return w3_numpy(int(cfg["w3_batch"]), int(cfg["w3_hidden"]), warmup, samples)
    if system == "torch":
        import torch as mod
    else:
        import dygrad as mod
    if workload == "W1":
        return w1_autograd(mod, int(cfg["w1_ops"]), warmup, samples)
    return w3_autograd(mod, int(cfg["w3_batch"]), int(cfg["w3_hidden"]), warmup, samples)
