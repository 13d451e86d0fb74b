"""Where the time of a step goes: the measurements behind RESULTS.md's account of the targets that
dygrad misses.

    python benchmarks/breakdown.py [--torch] [--repeats N] [--steps N]

Two parts, each in this one process (pinned to one CPU, one BLAS thread, set before NumPy loads):

* W2 eager (micrograd's MLP on 100 points): one step split into its forward, the backward rules
  (timed in place, through the engine's per-node check hook), the engine's own work (its queue
  of pending nodes, buffers, leaf accumulation) and the rest (gradient reset, graph freed), next
  to the hand-written NumPy floor's forward and backward: how much of each part is NumPy's and
  how much is dygrad's Python.
* W3 (the 784-512-512-10 MLP with SGD): dygrad eager, dygrad compiled and the hand-written floor
  taking turns in this one process, rounds of `--steps`/100 steps (at least 5) each, `--repeats`
  rounds (at least 3): ratios that the machine's drift between processes does not move, and the
  step's forward, backward and update of eager against the floor's.
* W4 LeNet: the convolution kernels dygrad's ops run in a training step (the same NumPy calls,
  without dispatch or graph), timed one by one, against the whole step of dygrad and of the floor
  (those two each in a child process, as the benchmark runs them).

* One op at a time: the forward of each kind of op W2's step runs, on W2's shapes, through
  NumPy, through dygrad without recording (no input requires grad) and recording (inputs that
  do): what dispatch and recording cost per op (the fastest of `--repeats` (at least 3) runs of
  20,000 calls each).

With `--torch`, PyTorch's W2 and LeNet steps are measured in child processes by `run.py` (one
process per system, as the benchmark suite does) and each part is set against the issue's target
of 1.2x PyTorch; PyTorch's per-op costs come from a child process too. The step parts are
medians over `--repeats` timed runs of `--steps` steps each. This process keeps glibc's heap
between steps as run.py's children do (`--malloc steady`), through `mallopt`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
import run  # noqa: E402
import workloads as W  # noqa: E402

_clock = time.perf_counter


def _median_us(fn: Callable[[], Any], steps: int, repeats: int) -> float:
    """Median over `repeats` runs of the mean time of `steps` calls, in microseconds."""
    for _ in range(max(3, steps // 10)):
        fn()
    runs = []
    for _ in range(repeats):
        t = _clock()
        for _ in range(steps):
            fn()
        runs.append((_clock() - t) / steps * 1e6)
    return statistics.median(runs)


def _graph_size(root: Any) -> tuple[int, int]:
    """(op nodes, leaf accumulators) reachable from `root`'s grad_fn."""
    seen: set[int] = set()
    stack = [root.grad_fn]
    ops = leaves = 0
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node).__name__ == "AccumulateGrad":
            leaves += 1
        else:
            ops += 1
        stack.extend(nxt for nxt, _ in node.next_functions)
    return ops, leaves


def w2_parts(steps: int, repeats: int) -> dict[str, Any]:
    """W2's eager step in parts (microseconds per step) and the floor's forward and backward."""
    import dygrad
    from dygrad.autograd.grad_mode import state

    arrays, xa, ya = W.w2_data(100)
    params = [dygrad.tensor(a, requires_grad=True) for a in arrays]
    x, y = dygrad.tensor(xa), dygrad.tensor(ya)
    acc = [0.0, 0.0, 0.0, 0.0]  # forward, backward, reset + free, rules

    def phased() -> None:
        t0 = _clock()
        loss = W._w2_loss(params, x, y)
        t1 = _clock()
        loss.backward()
        t2 = _clock()
        for p in params:
            p.grad = None
        del loss
        t3 = _clock()
        acc[0] += t1 - t0
        acc[1] += t2 - t1
        acc[2] += t3 - t2

    def rule(node: Any, g: Any, create_graph: bool) -> Any:
        t = _clock()
        out = node._apply(g, create_graph)
        acc[3] += _clock() - t
        return out

    def runs(fn: Callable[[], None], slot: int | None = None) -> list[float]:
        # Per run: the mean of each phase over `steps` steps (slot: only that one).
        out = []
        for _ in range(repeats):
            acc[:] = [0.0] * 4
            for _ in range(steps):
                fn()
            out.append([v / steps * 1e6 for v in acc])
        return out

    for _ in range(steps // 10 + 3):
        phased()
    plain = runs(phased)
    state.backward_check = rule
    try:
        checked = runs(phased)
    finally:
        state.backward_check = None
    ops, leaves = _graph_size(W._w2_loss(params, x, y))
    fwd, bwd, rest = (statistics.median(r[i] for r in plain) for i in range(3))
    rules = statistics.median(r[3] for r in checked)
    parr, xn, yn = W.w2_data(100)
    saved = W._w2_numpy_forward(parr, xn, yn)[1]
    return {
        "ops": ops,
        "leaves": leaves,
        "forward": fwd,
        "backward": bwd,
        "rules": rules,
        "engine": bwd - rules,
        "rest": rest,
        "total": fwd + bwd + rest,
        "np_forward": _median_us(lambda: W._w2_numpy_forward(parr, xn, yn), steps, repeats),
        "np_backward": _median_us(
            lambda: W._w2_numpy_backward(parr, xn, yn, saved), steps, repeats
        ),
    }


def w3_parts(steps: int, rounds: int) -> dict[str, Any]:
    """W3 in this one process: dygrad eager, dygrad compiled and the NumPy floor taking turns
    (`rounds` rounds of `steps` steps each), so that the machine's drift over minutes, which
    moves run.py's separate processes' medians by several percent, reaches all three alike.
    Whole steps (ms, median of all samples) and, for eager and the floor, the step's parts."""
    import dygrad

    arrays, xa, ya = W.w3_data(128, 512)
    lr = W.W3_LR
    x, yi = dygrad.tensor(xa), dygrad.tensor(ya[:, None])
    floor_params = [a.copy() for a in arrays]

    def dygrad_step(params: list[Any], fn: Callable[..., Any]) -> list[float]:
        t0 = _clock()
        loss = fn(params, x, yi)
        t1 = _clock()
        loss.backward()
        t2 = _clock()
        with dygrad.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-lr)
        for p in params:
            p.grad = None
        del loss
        t3 = _clock()
        return [t1 - t0, t2 - t1, t3 - t2]

    def floor_step() -> list[float]:
        t0 = _clock()
        _, saved = W._w3_numpy_forward(floor_params, xa, ya)
        t1 = _clock()
        grads = W._w3_numpy_backward(floor_params, xa, ya, saved)
        t2 = _clock()
        W._w3_numpy_update(floor_params, grads, np.float32(lr))
        del saved, grads
        t3 = _clock()
        return [t1 - t0, t2 - t1, t3 - t2]

    eager = [dygrad.tensor(a, requires_grad=True) for a in arrays]
    comp = [dygrad.tensor(a, requires_grad=True) for a in arrays]
    compiled = W._Compiled(dygrad, W._mlp_loss, comp, x, yi)  # traced here, on the example
    systems: dict[str, Callable[[], list[float]]] = {
        "eager": lambda: dygrad_step(eager, W._mlp_loss),
        "compiled": lambda: dygrad_step(comp, compiled),
        "floor": floor_step,
    }
    samples: dict[str, list[list[float]]] = {k: [] for k in systems}
    for fn in systems.values():
        for _ in range(3):
            fn()
    for _ in range(rounds):
        for name, fn in systems.items():
            samples[name] += [fn() for _ in range(steps)]
    compiled.report()  # raises if it traced again or fell back to eager (no longer compiled)
    out: dict[str, Any] = {"rounds": rounds, "steps": steps}
    for name, rows in samples.items():
        out[name] = statistics.median(sum(r) for r in rows) * 1e3
        out[name + " parts"] = [statistics.median(r[i] for r in rows) * 1e3 for i in range(3)]
    return out


def lenet_parts(steps: int, repeats: int) -> dict[str, float]:
    """The NumPy convolution kernels of a LeNet step (microseconds each), and whole steps."""
    from dygrad.ops import conv as C

    arrays, xa, ya = W.w4_data("lenet", 64)
    rng = np.random.default_rng(0)
    w1, b1, w2, b2 = (arrays[k] for k in ("0.weight", "0.bias", "3.weight", "3.bias"))
    one, zero = (1, 1), (0, 0)
    h = rng.standard_normal((64, 16, 12, 12)).astype(np.float32)  # conv2's input (pooled)
    g1 = rng.standard_normal((64, 16, 24, 24)).astype(np.float32)  # conv1's output gradient
    g2 = rng.standard_normal((64, 32, 8, 8)).astype(np.float32)  # conv2's output gradient
    k = (5, 5)
    conv = C._conv_cols_fwd  # the op's forward: the result and the columns it may keep
    kernels = {
        "conv1 forward": lambda: conv(xa, w1, b1, one, zero, one, False, zero, 1),
        "conv2 forward": lambda: conv(h, w2, b2, one, zero, one, False, zero, 1),
        "conv1 weight gradient": lambda: C._conv_weight_fwd(xa, g1, k, one, zero, one, 1),
        "conv2 weight gradient": lambda: C._conv_weight_fwd(h, g2, k, one, zero, one, 1),
        "conv2 input gradient": lambda: conv(g2, w2, None, one, zero, one, True, zero, 1),
        "of which im2col, conv1 (x2: forward, weight gradient)": lambda: C._im2col(
            xa, k, one, zero, one, 1
        ),
        "of which im2col, conv2 (x2)": lambda: C._im2col(h, k, one, zero, one, 1),
    }
    n = max(3, steps // 100)
    # The whole steps each in a process of its own, as the benchmark runs them: in this one,
    # after the kernels' loops (or W2's thousands of steps), glibc's heap thresholds can leave a
    # LeNet step unmapping and refetching its arrays every time (2,700 page faults, 15 ms
    # instead of 9.6).
    out = {
        "dygrad step": _child_median("W4-lenet", "dygrad", repeats) * 1e3,
        "NumPy floor step": _child_median("W4-lenet", "numpy", repeats) * 1e3,
    }
    out.update((name, _median_us(fn, n, repeats)) for name, fn in kernels.items())
    return out


# The ops of W2's step, on its shapes: (label, statement); names a, b (100, 16), w (16, 16),
# bias (16,), col (100, 1) from `_op_operands`.
OPS = (
    ("mm: (100, 16) @ (16, 16)", "a @ w"),
    ("add: (100, 16) + (16,) bias", "a + bias"),
    ("relu: (100, 16)", "a.relu()"),
    ("mul: (100, 16) * (100, 16)", "a * b"),
    ("rsub: 1 - (100, 1)", "1 - col"),
    ("sum: (100, 1) to a scalar", "col.sum()"),
)


def _op_operands(mod: Any, grad: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    shapes = {"a": (100, 16), "b": (100, 16), "w": (16, 16), "bias": (16,), "col": (100, 1)}
    arrays = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    if mod is None:
        return arrays
    return {k: mod.tensor(v, requires_grad=grad) for k, v in arrays.items()}


def op_costs(system: str, repeats: int) -> dict[str, list[float]]:
    """Per op of `OPS`: [forward without recording, forward recording] in microseconds, on
    `system` ("dygrad" or "torch", imported here); "numpy": [the raw op, the raw op]."""
    import timeit

    if system == "numpy":
        mod = None
    elif system == "torch":
        import torch as mod

        mod.set_num_threads(1)
    else:
        import dygrad as mod
    out: dict[str, list[float]] = {}
    for label, stmt in OPS:
        if mod is None:  # the fastest NumPy spelling of each (as the floors write them)
            stmt = stmt.replace("a.relu()", "np.maximum(a, np.zeros(a.shape, a.dtype))")
            stmt = stmt.replace("a @ w", "a.dot(w)")
        row = []
        for grad in (False, True):
            env = {"np": np, **_op_operands(mod, grad)}
            n = 20000
            best = min(timeit.repeat(stmt, globals=env, number=n, repeat=max(3, repeats)))
            row.append(best / n * 1e6)
        out[label] = row
    return out


def torch_op_costs(repeats: int) -> dict[str, list[float]]:
    """`op_costs("torch")` from a child process of its own (one process per system)."""
    import json
    import subprocess

    cmd = [sys.executable, str(Path(__file__).resolve()), "--op-costs-child", "--repeats",
           str(repeats)]  # fmt: skip
    env = run.child_env(1, True)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"PyTorch's per-op costs did not run: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def _child_median(workload: str, system: str, repeats: int) -> float:
    """The median step of `workload` on `system` (run.py's unit), from its own child process."""
    cfg = {
        "threads": 1, "warmup": 10, "samples": max(20, repeats * 4), "w2_points": 100,
        "w4_batch": 64, "w4_seed_batch": 4, "cpu": run.default_cpu(),
    }  # fmt: skip
    o = run.run_child(workload, system, cfg, 600.0)
    if o.status != "ok":
        raise SystemExit(f"{workload} on {system} did not run: {o.error}")
    return o.stats()[0]


def torch_medians(repeats: int) -> dict[str, float]:
    """PyTorch's W2 (us) and LeNet (ms) step medians, each from its own child process."""
    return {wl: _child_median(wl, "torch", repeats) for wl in ("W2", "W4-lenet")}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def report(
    w2: dict[str, Any],
    w3: dict[str, Any],
    lenet: dict[str, float],
    torch: dict[str, float] | None,
    per_op: dict[str, dict[str, list[float]]] | None = None,
) -> str:
    lines = [
        "## W2 eager: one step in parts",
        "",
        _row(["part", "dygrad (us/step)", "NumPy floor (us/step)", "dygrad's Python (us)"]),
        _row(["---"] * 4),
    ]
    ops, leaves = w2["ops"], w2["leaves"]
    py_fwd = w2["forward"] - w2["np_forward"]
    py_rules = w2["rules"] - w2["np_backward"]
    lines += [
        _row([f"forward: {ops} ops", f"{w2['forward']:.1f}", f"{w2['np_forward']:.1f}",
              f"{py_fwd:.1f} ({py_fwd / ops:.2f} per op)"]),
        _row([f"backward rules: {ops} nodes", f"{w2['rules']:.1f}", f"{w2['np_backward']:.1f}",
              f"{py_rules:.1f} ({py_rules / ops:.2f} per node)"]),
        _row([f"engine: {ops + leaves} nodes scheduled, {leaves} leaves accumulated",
              f"{w2['engine']:.1f}", "-",
              f"{w2['engine']:.1f} ({w2['engine'] / (ops + leaves):.2f} per node)"]),
        _row(["gradients reset, graph freed", f"{w2['rest']:.1f}", "-", f"{w2['rest']:.1f}"]),
        _row(["step", f"{w2['total']:.1f}", f"{w2['np_forward'] + w2['np_backward']:.1f}",
              f"{w2['total'] - w2['np_forward'] - w2['np_backward']:.1f}"]),
    ]  # fmt: skip
    if torch is not None:
        target = 1.2 * torch["W2"]
        python = w2["total"] - w2["np_forward"] - w2["np_backward"]
        budget = target - w2["np_forward"] - w2["np_backward"]
        lines += [
            "",
            f"PyTorch's step: {torch['W2']:.1f} us (its own process); the target 1.2x is "
            f"{target:.1f} us. With NumPy's {w2['np_forward'] + w2['np_backward']:.1f} us "
            f"unchanged, dygrad's Python would have to fall from {python:.1f} to {budget:.1f} us "
            f"per step ({python / budget:.2f}x less): {budget / ops:.2f} us per op for its "
            "forward, backward rule and engine visit together.",
        ]
    lines += _w3_table(w3)
    lines += [
        "",
        "## W4 LeNet: the convolution kernels of one step (NumPy, no dispatch)",
        "",
        _row(["kernel", "us"]),
        _row(["---"] * 2),
    ]
    main = ("conv1 forward", "conv2 forward", "conv1 weight gradient", "conv2 weight gradient",
            "conv2 input gradient")  # fmt: skip
    for name, us in lenet.items():
        lines.append(_row([name, f"{us:.0f}"]))
    kernels = sum(lenet[m] for m in main)
    lines += [_row(["the five kernels together", f"{kernels:.0f}"]), ""]
    if torch is not None:
        target = 1.2 * torch["W4-lenet"] * 1e3
        lines.append(
            f"PyTorch's step: {torch['W4-lenet'] * 1e3:.0f} us; the target 1.2x is {target:.0f} "
            f"us. The five convolution kernels alone take {kernels / target:.0%} of it; the "
            f"hand-written NumPy step takes {lenet['NumPy floor step'] / target:.0%}, "
            f"dygrad's {lenet['dygrad step'] / target:.0%}."
        )
    if per_op:
        lines += _op_table(per_op)
    return "\n".join(lines)


def _w3_table(w3: dict[str, Any]) -> list[str]:
    eager, floor = w3["eager parts"], w3["floor parts"]
    names = ("forward and loss", "backward", "SGD update, gradients reset, graph freed")
    lines = [
        "",
        "## W3 in one process: dygrad eager, compiled and the NumPy floor taking turns",
        "",
        _row(["part", "dygrad eager (ms)", "NumPy floor (ms)", "difference (us)"]),
        _row(["---"] * 4),
    ]
    for name, e, f in zip(names, eager, floor):
        lines.append(_row([name, f"{e:.3f}", f"{f:.3f}", f"{(e - f) * 1e3:+.0f}"]))
    lines += [
        _row(["step (median of whole steps)", f"{w3['eager']:.3f}", f"{w3['floor']:.3f}",
              f"{(w3['eager'] - w3['floor']) * 1e3:+.0f}"]),
        "",
        f"{w3['rounds']} rounds of {w3['steps']} steps a system: eager "
        f"{w3['eager'] / w3['floor']:.3f}x the floor, compiled {w3['compiled']:.3f} ms, "
        f"{w3['compiled'] / w3['floor']:.3f}x the floor (the target: 1.05x).",
    ]  # fmt: skip
    return lines


def _op_table(ops: dict[str, dict[str, list[float]]]) -> list[str]:
    systems = [s for s in ("dygrad", "torch") if s in ops]
    head = ["op (forward)", "NumPy"]
    for s in systems:
        head += [f"{s}, no grad", f"{s}, recording"]
    lines = [
        "",
        "## One op at a time: forward on W2's shapes (us per op)",
        "",
        _row(head),
        _row(["---"] * len(head)),
    ]
    totals = [0.0] * (len(head) - 1)
    for label, _ in OPS:
        cells = [ops["numpy"][label][0]]
        for s in systems:
            cells += ops[s][label]
        totals = [t + c for t, c in zip(totals, cells)]
        lines.append(_row([label, *(f"{c:.2f}" for c in cells)]))
    lines.append(_row(["all six", *(f"{t:.2f}" for t in totals)]))
    if "torch" in ops:
        over = [(totals[2] - totals[0]), (totals[4] - totals[0])]
        lines += [
            "",
            f"Over NumPy, dispatching and recording the six ops costs dygrad {over[0]:.2f} us and "
            f"PyTorch {over[1]:.2f} us ({over[0] / max(over[1], 1e-9):.2f}x).",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--torch", action="store_true", help="measure PyTorch's steps (child runs)")
    p.add_argument("--steps", type=int, default=2000, help="W2 steps per timed run")
    p.add_argument("--repeats", type=int, default=7, help="timed runs (the median is shown)")
    p.add_argument("--op-costs-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        p.error("--steps and --repeats must be at least 1")
    run.pin_cpu(run.default_cpu())
    if args.op_costs_child:  # PyTorch's per-op costs, for the parent to read
        import json

        print(json.dumps(op_costs("torch", args.repeats)))
        return 0
    run.steady_malloc_here()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    w2 = w2_parts(args.steps, args.repeats)
    w3 = w3_parts(max(5, args.steps // 100), max(3, args.repeats))
    lenet = lenet_parts(args.steps, args.repeats)
    torch = torch_medians(args.repeats) if args.torch else None
    per_op = {"numpy": op_costs("numpy", args.repeats), "dygrad": op_costs("dygrad", args.repeats)}
    if args.torch:
        per_op["torch"] = torch_op_costs(args.repeats)
    print(report(w2, w3, lenet, torch, per_op))
    return 0


if __name__ == "__main__":
    sys.exit(main())
