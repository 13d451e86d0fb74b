"""Static graphs and dynamic graphs on the same model: dygrad runs your Python eagerly (dynamic
graph) and can also trace it into a graph that is checked on shapes before any data is touched,
optimized, replayed without being rebuilt, and exported to ONNX (static graph).

Run: python examples/static_graph.py [--steps N] [--out DIR]   (the .onnx file goes to DIR)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

import dygrad as torch
import dygrad.jit as jit
from dygrad import nn


class DigitsCNN(nn.Module):
    """dygrad.demo.cnn() with a forward of its own, so that errors point into this file."""

    def __init__(self, flat: int = 32 * 2 * 2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def clipped(x: torch.Tensor) -> torch.Tensor:
    """Rescale x to norm 1 when it is longer: Python control flow on a tensor's value."""
    n = x.norm()
    if n > 1.0:
        x = x / n
    return (3 * x).tanh()


def redundant(x: torch.Tensor) -> torch.Tensor:
    """Repeated subexpressions, a constant computed at run time and a dead value."""
    scale = torch.ones(4) * 2 + 1
    unused = x.cos() * 5  # noqa: F841 - never used: dead code
    y = (x * scale).exp() + (x * scale).exp()
    return (0.5 * y + (x * scale).sin()).sum()


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 72 - len(title)))


def digits() -> tuple[Any, ...]:
    try:
        from dygrad.demo import load_digits

        return (*load_digits(seed=0), "scikit-learn digits")
    except ImportError:
        torch.manual_seed(0)
        x, y = torch.rand(1797, 1, 8, 8), torch.randint(0, 10, (1797,))
        return x[:1348], y[:1348], x[1348:], y[1348:], "RANDOM data (scikit-learn is missing)"


def train(model: Any, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int) -> float:
    """`steps` Adam steps on fixed-size batches (same order for every model); steps/second."""
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    order = np.random.default_rng(0).permutation(steps * batch) % len(y)
    start = time.perf_counter()
    for k in range(steps):
        idx = torch.tensor(order[k * batch : (k + 1) * batch])
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def accuracy(model: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="dygrad-examples", help="folder for the .onnx file")
    args = parser.parse_args(argv)
    res: dict[str, Any] = {"shape_error": None, "guard_error": None, "onnx_max_diff": None}

    section("1. check shapes before running (symbolic batch B, no data)")
    torch.manual_seed(0)
    model = DigitsCNN()
    report = jit.check(model, jit.spec("B", 1, 8, 8))
    print(report)
    res["output_spec"] = str(report.outputs[0])
    print("output spec:", res["output_spec"])
    try:  # 16 channels too few for the classifier: caught without computing anything
        jit.check(DigitsCNN(flat=16 * 2 * 2), jit.spec("B", 1, 8, 8))
    except jit.ShapeError as e:
        res["shape_error"] = str(e)
        print(f"ShapeError caught before any data was touched:\n{e}")

    section("2. trace: a static graph from one run, guarded on its Python branches")
    long_x, short_x = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.4])
    traced = jit.trace(clipped, long_x)
    print(traced.graph)
    try:
        traced(short_x)  # norm 0.5: the `if` would now go the other way
    except jit.GuardError as e:
        res["guard_error"] = str(e)
        print(f"GuardError: {e}")
    compiled_fn = torch.compile(clipped, explain=True)  # explains each trace on stderr
    for x in (long_x, short_x, long_x * 2):
        print(f"compiled {compiled_fn(x)}  eager {clipped(x)}")
    res["retraces"] = compiled_fn.traces
    res["branch_gap"] = (compiled_fn(short_x) - clipped(short_x)).abs().max().item()
    print(f"{compiled_fn.traces} traces for {compiled_fn.calls} calls; the code it replays now:")
    print(compiled_fn.code())

    section("3. optimize: fold constants, merge duplicates, drop dead code, fuse")
    traced = jit.trace(redundant, torch.randn(4))
    print(traced.graph)
    stats = jit.optimize(traced.graph)
    print(traced.graph)
    print(stats)
    res["nodes_before"], res["nodes_after"] = stats.nodes_before, stats.nodes_after
    x = torch.randn(4)
    res["optimize_gap"] = (traced(x) - redundant(x)).abs().item()
    print(f"nodes: {stats.nodes_before} -> {stats.nodes_after}, same result: "
          f"{res['optimize_gap']:.1e} apart")  # fmt: skip

    section("4. compile: eager (graph rebuilt every step) vs compiled (replayed)")
    x_train, y_train, x_test, y_test, source = digits()
    print(f"data: {source}, {len(y_train)} train / {len(y_test)} test images")
    eager = DigitsCNN()
    twin = DigitsCNN()
    twin.load_state_dict(eager.state_dict())  # the same initial weights
    compiled = torch.compile(twin, explain=True)
    sps_e = train(eager, x_train, y_train, args.steps, args.batch_size)
    sps_c = train(compiled, x_train, y_train, args.steps, args.batch_size)
    res["acc_eager"] = accuracy(eager, x_test, y_test)
    res["acc_compiled"] = accuracy(compiled, x_test, y_test)  # retraces: other batch size
    res["speedup"] = sps_c / sps_e
    print(f"eager:    {sps_e:7.1f} steps/s, test accuracy {res['acc_eager']:.4f}")
    print(f"compiled: {sps_c:7.1f} steps/s, test accuracy {res['acc_compiled']:.4f}")
    print(f"compiled / eager: {res['speedup']:.2f}x ({args.steps} steps of {args.batch_size})")

    section("5. ONNX export with a dynamic batch axis, run by onnxruntime")
    try:
        import onnx  # noqa: F401 - dygrad.onnx imports it only when exporting
        import onnxruntime as ort

        import dygrad.onnx
    except ImportError as e:
        print(f"skipped: {e.name} is not installed (pip install onnx onnxruntime)")
        return res
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "digits_cnn.onnx")
    dygrad.onnx.export(eager, x_test[:2], path, input_names=["images"],
                       output_names=["logits"], dynamic_axes={"images": {0: "batch"}})  # fmt: skip
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    batch = x_test[:50]
    (logits,) = session.run(None, {"images": batch.numpy()})
    with torch.no_grad():
        res["onnx_max_diff"] = float(np.abs(logits - eager(batch).numpy()).max())
    res["onnx_path"] = path
    print(f"wrote {path}; exported at batch 2, ran at batch {len(batch)}: logits {logits.shape}")
    print(f"max |onnxruntime - dygrad| = {res['onnx_max_diff']:.2e}")
    return res


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] # in order with stderr
    main()
