"""`python -m dygrad`: a guided demo of the autograd engine, and the benchmark runner.

    python -m dygrad demo     the seed walkthrough, detach, no_grad, a vector-Jacobian product
    python -m dygrad bench    dygrad against PyTorch and NumPy (see benchmarks/README.md)

The demo is a REPL transcript: each source line is echoed after `>>> ` and really run by dygrad,
and expression results are shown as their reprs, so every value printed is computed, not typed in.
Lines starting with `# ` explain the step that follows them.

The benchmark runner lives in `benchmarks/run.py` of a source checkout and is loaded from there by
path: it is not part of the installed package, and PyTorch stays optional.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path
from typing import Any

USAGE = """\
usage: python -m dygrad <command> [options]

commands:
  demo     walk through dygrad's autograd: the seed example, detach, no_grad,
           a vector-Jacobian product checked against NumPy, the seed's convolutions,
           the text's graph pictures, explain() and a step-through page of the backward
           pass, then train a CNN on scikit-learn's digits (all written to --out DIR,
           default ./dygrad-demo; --epochs N; --no-train to skip the training)
  bench    benchmark dygrad against PyTorch and hand-written NumPy
           (python -m dygrad bench --help for its options)
"""

# A step of the demo: the one-line explanation, then the source it explains (one statement,
# possibly a compound one over several lines).
Step = tuple[str, str]

INTRO: list[Step] = [
    ("dygrad mirrors PyTorch's API, so it is imported under torch's name.",
     "import dygrad as torch"),
]  # fmt: skip

SEED: list[Step] = [
    ("A leaf tensor that requires grad: operations on it are recorded.",
     "x = torch.zeros(1, requires_grad=True)"),
    ("y is computed from x, so it carries a grad_fn: the node that runs its backward.",
     "y = x + 1"),
    ("Its repr names that node, as PyTorch does.",
     "y"),
    ("A fresh 2x2 leaf of ones.",
     "x = torch.ones(2, 2, requires_grad=True)"),
    ("Each op adds a node to the graph; y = x + 2 holds 3 everywhere.",
     "y = x + 2"),
    ("z = 3 y^2 = 27 elementwise, recorded as two multiplications.",
     "z = y * y * 3"),
    ("o reduces z to a scalar by averaging its four entries.",
     "o = z.mean()"),
    ("o = 27, and remembers that it came from a mean.",
     "print(o)"),
    ("backward() walks the graph from o back to x, accumulating do/dx into x.grad.",
     "o.backward()"),
    ("do/dx = (1/4) * 6 * y = 1.5 * (x + 2) = 4.5 in every entry.",
     "print(x.grad)"),
]  # fmt: skip

DETACH: list[Step] = [
    ("detach() returns a tensor on the same data, cut out of the graph.",
     "d = x.detach()"),
    ("It does not require grad, so nothing done with it is recorded.",
     "d.requires_grad"),
    ("Writing through d writes x's data too: they share memory.",
     "d[0, 0] = 5."),
    ("x sees the change and is still a leaf that requires grad.",
     "x"),
]  # fmt: skip

NO_GRAD: list[Step] = [
    ("Inside no_grad, ops record nothing: no node is made and nothing is saved.",
     "with torch.no_grad():\n    w = x * 2"),
    ("So the result does not require grad ...",
     "w.requires_grad"),
    ("... while the input still does: no_grad changes what is recorded, not the tensors.",
     "x.requires_grad"),
]  # fmt: skip

VJP: list[Step] = [
    ("A vector-valued function y = f(x): take x in R^3 ...",
     "x = torch.tensor([1., 2., 3.], requires_grad=True)"),
    ("... and a fixed matrix W (a constant: it does not require grad).",
     "W = torch.tensor([[1., 2., 0.], [0., -1., 3.], [2., 0., 1.]])"),
    ("y = W @ x**2 has the dense Jacobian J[i, j] = dy_i/dx_j = 2 W[i, j] x[j].",
     "y = W @ x ** 2"),
    ("y is a vector, so it has three outputs to differentiate.",
     "y"),
    ("Row i of J is the gradient of y[i]: autograd.grad builds J one row at a time.",
     "J = torch.stack([torch.autograd.grad(y[i], x, retain_graph=True)[0] for i in range(3)])"),
    ("The Jacobian, computed by dygrad (compare 2 W[i, j] x[j]).",
     "J"),
    ("A vector with one weight per output of y.",
     "v = torch.tensor([1., 0.5, -2.])"),
    ("For a non-scalar y, backward(v) computes the vector-Jacobian product J^T v ...",
     "y.backward(v)"),
    ("... and accumulates it into x.grad, without ever forming J.",
     "x.grad"),
    ("NumPy computes J^T v from the J printed above, independently of the backward pass.",
     "import numpy as np"),
    ("J^T v by NumPy:",
     "J.numpy().T @ v.numpy()"),
    ("The two agree.",
     "np.allclose(x.grad.numpy(), J.numpy().T @ v.numpy())"),
]  # fmt: skip

CONV: list[Step] = [
    ("The seed's two convolutions, in a Sequential with named submodules.",
     "import dygrad.nn as nn"),
    ("An empty Sequential to add named layers to.",
     "model = nn.Sequential()"),
    ("conv1: 1 -> 3 channels, 3x3 kernels, stride 2: 28x28 becomes 14x14.",
     "model.add_module('conv1', nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))"),
    ("conv2: 3 -> 12 channels: 14x14 becomes 7x7.",
     "model.add_module('conv2', nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))"),
    ("The model prints as PyTorch prints it.",
     "model"),
    ("A batch of four random 1x28x28 images.",
     "x = torch.randn(4, 1, 28, 28)"),
    ("The forward pass records the graph: two ConvolutionBackward0 nodes.",
     "y = model(x)"),
    ("Reduce to a scalar to backpropagate from.",
     "y = y.mean()"),
    ("The leaves that require grad are the four parameters, by name.",
     "list(dict(model.named_parameters()))"),
    ("Backpropagate: every parameter receives a gradient of its own shape.",
     "y.backward()"),
    ("Their gradients' shapes:",
     "[tuple(p.grad.shape) for p in model.parameters()]"),
    ("Now freeze conv2, as the seed does, and run again from fresh gradients.",
     "for param in model.conv2.parameters():\n    param.requires_grad = False"),
    ("Clear the gradients of the first pass.",
     "model.zero_grad()"),
    ("conv2 still computes, but its parameters are no longer leaves of the graph ...",
     "model(x).mean().backward()"),
    ("... so only conv1's parameters get gradients; conv2's stay None.",
     "{name: p.grad is not None for name, p in model.named_parameters()}"),
]  # fmt: skip

SECTIONS: list[tuple[str, list[Step]]] = [
    ("", INTRO),
    ("The seed walkthrough: build a graph by running code, then backpropagate.", SEED),
    ("detach(): the same data, outside the graph.", DETACH),
    ("no_grad: turn recording off.", NO_GRAD),
    ("The vector-Jacobian product: what backward(v) computes for a vector output.", VJP),
    ("The seed's convolution example: parameters as leaves, and freezing a layer.", CONV),
]


def _run_step(code: str, ns: dict[str, Any], echo: bool) -> None:
    """Run one statement as the interactive interpreter would (expression results are
    displayed with their repr), echoing its source as `>>> ` and `... ` lines."""
    if echo:
        lines = code.split("\n")
        print(">>> " + lines[0])
        for line in lines[1:]:
            print("... " + line)
        if len(lines) > 1:
            print("...")
    exec(compile(code + "\n", "<demo>", "single"), ns)


def run_demo(echo: bool = True, until: str | None = None) -> dict[str, Any]:
    """Print the demo transcript (or run it silently) and return its namespace; `until` stops
    after the section whose title starts with it."""
    ns: dict[str, Any] = {"__name__": "__demo__"}
    first = True
    for title, steps in SECTIONS:
        if title:
            if echo:
                print("" if first else "\n", end="")
                print(f"# == {title}")
            first = False
        for comment, code in steps:
            if echo:
                print(f"# {comment}")
            _run_step(code, ns, echo)
        if until is not None and title.startswith(until):
            break
    return ns


def vjp_values() -> dict[str, Any]:
    """Run the demo silently and return the VJP section's values as NumPy arrays:
    `J`, `v`, `x_grad` (from y.backward(v)) and `jtv` (J^T v by NumPy)."""
    with contextlib.redirect_stdout(io.StringIO()):
        ns = run_demo(echo=False, until="The vector-Jacobian product")
    j = ns["J"].numpy()
    v = ns["v"].numpy()
    return {"J": j, "v": v, "x_grad": ns["x"].grad.numpy(), "jtv": j.T @ v}


def _print_commented(text: str) -> None:
    # Tool output inside the transcript: every line is a comment, like the explanations.
    for line in text.rstrip("\n").split("\n"):
        print(f"#   {line}")


def picture_demo(out: str) -> list[str]:
    """Draw the text's three graphs (y = x + 1; the two-conv model; the same with conv2 frozen)
    as SVG and PNG, print explain() for the 4.5 example and write its step-through page."""
    import os
    import shutil

    import dygrad as torch
    from dygrad import nn, viz

    os.makedirs(out, exist_ok=True)
    print("\n# == Seeing the graph: the text's pictures, the chain rule, a step-through page.")
    torch.manual_seed(0)
    x = torch.zeros(1, requires_grad=True)
    graphs = {"graph_1": (x + 1, None)}
    for name, frozen in (("graph_2", False), ("graph_3", True)):
        model = nn.Sequential()
        model.add_module("conv1", nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
        model.add_module("conv2", nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
        if frozen:
            for param in model.conv2.parameters():
                param.requires_grad = False
        y = model(torch.randn(4, 1, 28, 28)).mean()
        graphs[name] = (y, dict(model.named_parameters()))
    written = []
    import importlib.util

    if shutil.which("dot") is None or importlib.util.find_spec("graphviz") is None:
        print("# graphviz (pip install graphviz, and its `dot`: apt-get install graphviz) is not "
              "installed: the pictures are printed as text instead.")  # fmt: skip
        for name, (y, params) in graphs.items():
            print(f"# {name}:")
            buf = io.StringIO()
            viz.print_graph(y, params=params, file=buf)
            _print_commented(buf.getvalue())
    else:
        for name, (y, params) in graphs.items():
            dot = viz.make_dot(y, params=params)
            for fmt in ("svg", "png"):
                path = os.path.join(out, f"{name}.{fmt}")
                with open(path, "wb") as f:
                    f.write(dot.pipe(format=fmt))
                written.append(path)
        print(f"# wrote {', '.join(written)}")
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    o = z.mean()
    print("# The chain rule from x to o, from the recorded graph and the ops' backward rules:")
    buf = io.StringIO()
    viz.explain(o, x, names={"x": x, "y": y, "z": z, "o": o}, file=buf)
    _print_commented(buf.getvalue())
    page = os.path.join(out, "backward_steps.html")
    viz.trace_backward(o, html=page, names={"x": x, "y": y, "z": z, "o": o})
    written.append(page)
    print(f"# wrote {page}: open it in a browser to step through the backward pass")
    return written


def train_demo(out: str, epochs: int) -> float:
    """Train the small CNN on the digits with a progress bar; write the curves and weights."""
    import os

    import dygrad
    from dygrad.demo import cnn, plot_history, train

    print("\n# == Training a small CNN on scikit-learn's digits (8x8 images, held-out test set).")
    model = cnn()
    print(model)
    history = train(model, epochs=epochs, lr=5e-3)
    acc = history["test_acc"][-1]
    os.makedirs(out, exist_ok=True)
    plot = os.path.join(out, "digits_cnn.png")
    weights = os.path.join(out, "digits_cnn.safetensors")
    plot_history(history, plot, "CNN on scikit-learn digits (dygrad)")
    dygrad.save(model.state_dict(), weights)
    print(f"# test accuracy: {100 * acc:.2f}%")
    print(f"# wrote the training curves to {plot} and the weights to {weights}")
    return acc


def _load_bench_runner() -> Any:
    """Load `benchmarks/run.py` of the source checkout this package sits in, by path."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("dygrad_benchmarks_run", path)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    """Dispatch `demo` and `bench`; print usage and return 2 for anything else."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(USAGE, end="", file=sys.stderr)
        return 2
    cmd, rest = args[0], args[1:]
    if cmd in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if cmd == "demo":
        import argparse

        parser = argparse.ArgumentParser(prog="python -m dygrad demo")
        parser.add_argument("--out", default="dygrad-demo", help="folder for the plot and weights")
        parser.add_argument("--epochs", type=int, default=15)
        parser.add_argument("--no-train", action="store_true", help="skip the digits training")
        try:
            opts = parser.parse_args(rest)
        except SystemExit as e:
            if e.code:
                print(USAGE, end="", file=sys.stderr)
            return int(e.code or 0)
        run_demo()
        picture_demo(opts.out)
        if not opts.no_train:
            try:
                train_demo(opts.out, opts.epochs)
            except ImportError as e:
                print(
                    f"\n# The training part of the demo needs the examples extra: {e}",
                    file=sys.stderr,
                )
                print("#   python -m pip install -e '.[examples]'", file=sys.stderr)
                return 1
        return 0
    if cmd == "bench":
        runner = _load_bench_runner()
        if runner is None:
            print("python -m dygrad bench needs a source checkout of dygrad: benchmarks/run.py "
                  "was not found beside the dygrad package.", file=sys.stderr)  # fmt: skip
            return 2
        return int(runner.main(rest))
    print(f"python -m dygrad: unknown command {cmd!r}\n", file=sys.stderr)
    print(USAGE, end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
