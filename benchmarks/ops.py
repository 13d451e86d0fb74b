"""One op at a time against PyTorch: forward and backward of common network ops on one shape.

    python benchmarks/ops.py [--shape 128x512] [--ops gelu,softmax] [--repeats N]
                             [--malloc steady|default] [--systems dygrad,torch] [--json FILE]

Each system runs in a child process of its own (pinned to one CPU, one BLAS thread, as run.py's
children), importing only its own library. Per op: `y = op(x)` then `y.backward(g)` with a fixed
cotangent `g` (a scalar loss backpropagates from 1), gradients reset; the best of `--repeats`
timed loops, in microseconds. The table gives dygrad/PyTorch per op; the check column compares
the two systems' input gradients (largest difference relative to PyTorch's largest entry), so a
fast op that computes something else does not go unnoticed. With `--malloc default` the children
keep what the libraries' imports leave of glibc's heap thresholds (what a user's process gets);
`steady` (the default, as in run.py) fixes them for both.

Not a target of issue 6: a map of where dygrad's elementwise and reduction kernels stand, to
find NumPy loops that are slower than they need to be (RESULTS.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import timeit
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
import run  # noqa: E402

# name -> (expression of x (the input, requires grad), t (a second tensor), w and b (weight and
# bias over the last dim), F (torch.nn.functional or dygrad's), torch (the module)).
OPS: dict[str, str] = {
    "exp": "x.exp()",
    "tanh": "torch.tanh(x)",
    "sigmoid": "torch.sigmoid(x)",
    "relu": "F.relu(x)",
    "leaky_relu": "F.leaky_relu(x, 0.1)",
    "elu": "F.elu(x)",
    "gelu": "F.gelu(x)",
    "gelu_tanh": "F.gelu(x, approximate='tanh')",
    "silu": "F.silu(x)",
    "softplus": "F.softplus(x)",
    "hardtanh": "F.hardtanh(x)",
    "abs": "x.abs()",
    "sqrt": "(x * x + 1).sqrt()",
    "mul": "x * t",
    "add_bias": "x + b",
    "softmax": "F.softmax(x, -1)",
    "log_softmax": "F.log_softmax(x, -1)",
    "layer_norm": "F.layer_norm(x, (x.shape[-1],), w, b)",
    "dropout": "F.dropout(x, 0.5)",
    "sum_dim0": "x.sum(0)",
    "mean_dim1": "x.mean(1)",
    "var_dim1": "x.var(1)",
    "max_dim1": "x.max(1)[0]",
    "norm": "x.norm()",
    "mse_loss": "F.mse_loss(x, t)",
    "l1_loss": "F.l1_loss(x, t)",
    "smooth_l1_loss": "F.smooth_l1_loss(x, t)",
    "cross_entropy": "F.cross_entropy(x, labels)",
}
RANDOM = {"dropout"}  # the two libraries draw different masks: no gradient to compare


def child(system: str, shape: tuple[int, ...], names: list[str], repeats: int) -> dict[str, Any]:
    """Time `names` on `system`, imported here; {op: [microseconds, gradient as a list]}."""
    if system == "torch":
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
    else:
        import dygrad as torch
        import dygrad.nn.functional as F
    rng = np.random.default_rng(0)
    xa = rng.standard_normal(shape).astype(np.float32)
    ga = rng.standard_normal(shape).astype(np.float32)
    n = shape[-1]
    x = torch.tensor(xa, requires_grad=True)
    env: dict[str, Any] = {
        "torch": torch,
        "F": F,
        "x": x,
        "t": torch.tensor(rng.standard_normal(shape).astype(np.float32)),
        "w": torch.tensor(rng.standard_normal(n).astype(np.float32), requires_grad=True),
        "b": torch.tensor(rng.standard_normal(n).astype(np.float32), requires_grad=True),
        "labels": torch.tensor(rng.integers(0, n, shape[0])),
    }
    size = int(np.prod(shape))
    out: dict[str, Any] = {}
    for name in names:
        fn = eval("lambda: " + OPS[name], env)  # noqa: S307 - the table above, not input
        shape_y = tuple(fn().shape)
        # The cotangent: the first elements of ga in the output's shape (None: a scalar's 1).
        cot = torch.tensor(ga.reshape(-1)[: int(np.prod(shape_y))].reshape(shape_y).copy())

        def step(fn: Any = fn, cot: Any = cot if shape_y else None) -> Any:
            fn().backward(cot)
            grad = x.grad
            x.grad = None
            env["w"].grad = None
            env["b"].grad = None
            return grad

        grad = step()
        number = max(5, 2_000_000 // max(size, 1) // 20)
        best = min(timeit.repeat(step, number=number, repeat=repeats)) / number * 1e6
        flat = np.asarray(grad.numpy(), np.float64).ravel()
        # At most 4,096 entries, spread over the whole gradient, for the check.
        out[name] = [best, flat[:: max(1, flat.size // 4096)][:4096].tolist()]
    return out


def run_child(system: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", system, "--shape",
           args.shape, "--ops", ",".join(args.ops), "--repeats", str(args.repeats)]  # fmt: skip
    cpu = run.default_cpu()
    env = run.child_env(1, args.malloc == "steady")
    if cpu is not None:
        env["DYGRAD_BENCH_CPU"] = str(cpu)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if p.returncode != 0:
        raise SystemExit(f"{system} did not run: {p.stderr[-2000:]}")
    return dict(json.loads(p.stdout))


def table(results: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    systems = list(results)
    head = ["op", *[f"{s} (us)" for s in systems]]
    both = "dygrad" in results and "torch" in results
    if both:
        head += ["dygrad/torch", "gradient check"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name in names:
        cells = [name, *[f"{results[s][name][0]:.1f}" for s in systems]]
        if both:
            d, t = results["dygrad"][name], results["torch"][name]
            gd, gt = np.asarray(d[1]), np.asarray(t[1])
            scale = max(float(np.max(np.abs(gt))), 1e-30)
            diff = float(np.max(np.abs(gd - gt))) / scale if gd.shape == gt.shape else float("inf")
            check = "n/a (random)" if name in RANDOM else f"{diff:.1e}"
            cells += [f"{d[0] / t[0]:.2f}x", check]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="128x512", help="the input's shape, e.g. 128x512")
    ap.add_argument("--ops", default=",".join(OPS), help="comma-separated subset of: " +
                    ", ".join(OPS))  # fmt: skip
    ap.add_argument("--systems", default="dygrad,torch")
    ap.add_argument("--repeats", type=int, default=5, help="timed loops per op (the best counts)")
    ap.add_argument("--malloc", choices=("steady", "default"), default="steady")
    ap.add_argument("--json", metavar="FILE", help="write the timings and gradients to FILE")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.ops = [o for o in args.ops.split(",") if o]
    unknown = [o for o in args.ops if o not in OPS]
    if unknown:
        ap.error(f"unknown ops: {', '.join(unknown)} (known: {', '.join(OPS)})")
    shape = tuple(int(s) for s in args.shape.lower().split("x"))
    if len(shape) != 2 or min(shape) < 2:
        ap.error("--shape: two sizes of at least 2, e.g. 128x512")
    if args.child:
        cpu = os.environ.get("DYGRAD_BENCH_CPU")
        run.pin_cpu(int(cpu) if cpu else None)
        print(json.dumps(child(args.child, shape, args.ops, args.repeats)))
        return 0
    systems = [s for s in args.systems.split(",") if s]
    if "torch" in systems and importlib.util.find_spec("torch") is None:
        print("PyTorch is not installed: dygrad only", file=sys.stderr)
        systems.remove("torch")
    results = {s: run_child(s, args) for s in systems}
    print(f"Forward + backward on {'x'.join(map(str, shape))} float32, one process per system, "
          f"1 thread, malloc {args.malloc}, best of {args.repeats} loops\n")  # fmt: skip
    print("\n".join(table(results, args.ops)))
    if args.json:
        Path(args.json).write_text(json.dumps({"shape": shape, "malloc": args.malloc,
                                               "results": results}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
