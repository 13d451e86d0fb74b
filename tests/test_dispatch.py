"""Dispatch's unrolled paths (`apply1`, `apply2` in dygrad/ops/registry.py) against its general
path: the same calls, once with each op's `fast` mark and once without, must give the same
results and record the same nodes (edges, saved values and versions, shapes to fit, saved output,
source line), the same gradients, and the same marks where no_grad cuts the graph."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad as dg
from dygrad.ops import registry as R


def _generic_only() -> list[R.Op]:
    ops = [op for op in R.REGISTRY.values() if op.fast]
    for op in ops:
        op.fast = 0
    return ops


def _inputs() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "a": dg.tensor(rng.standard_normal((3, 4)), requires_grad=True),
        "b": dg.tensor(rng.standard_normal((3, 4)), requires_grad=True),
        "row": dg.tensor(rng.standard_normal(4), requires_grad=True),
        "const": dg.tensor(rng.standard_normal((3, 4))),
        "m": dg.tensor(rng.standard_normal((4, 2)), requires_grad=True),
        "f32": dg.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True),
        "ints": dg.tensor(np.arange(12).reshape(3, 4)),
    }


# Calls whose inputs are built fresh each time (a leaf, then an op on it: edges to both kinds).
CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "mul": lambda t: t["a"] * t["b"],
    "mul nonleaf": lambda t: (t["a"] * 2.0) * t["b"].exp(),
    "add broadcast": lambda t: t["a"] + t["row"],
    "add constant operand": lambda t: t["const"] + t["b"],
    "broadcast first operand": lambda t: t["row"] * t["const"],
    "mm weight only": lambda t: t["const"] @ t["m"],
    "sub scalar": lambda t: t["a"] - 3,
    "rsub scalar": lambda t: 1 - t["a"],
    "div both": lambda t: t["a"] / t["row"],
    "mul one needs grad": lambda t: t["const"] * t["b"],
    "mul scalar first": lambda t: 2.5 * t["a"],
    "pow scalar": lambda t: t["a"] ** 2,
    "rpow": lambda t: 2.0 ** t["a"],
    "mm": lambda t: t["a"] @ t["m"],
    "relu": lambda t: t["a"].relu(),
    "exp saves out": lambda t: t["a"].exp(),
    "tanh": lambda t: t["f32"].tanh(),
    "sum all": lambda t: t["a"].sum(),
    "sum dim": lambda t: t["a"].sum(1, keepdim=True),
    "mean dim": lambda t: t["a"].mean(0),
    "transpose view": lambda t: t["a"].t(),
    "view then op": lambda t: t["a"].view(4, 3) * 2,
    "mixed dtypes": lambda t: t["a"] * t["f32"],
    "ints": lambda t: t["ints"] * 2,
    "int with float tensor": lambda t: t["ints"] * t["a"],
    "numpy scalar": lambda t: t["a"] * np.float64(2.0),
    "bool scalar": lambda t: t["a"] * True,
    "comparison": lambda t: t["a"] > t["b"],
    "maximum": lambda t: dg.maximum(t["a"], t["b"]),
    "where": lambda t: dg.where(t["a"] > 0, t["a"], t["b"]),
    "softmax": lambda t: t["a"].softmax(1),
    "clamp": lambda t: t["a"].clamp(-0.5, 0.5),
    "chain": lambda t: ((t["a"] @ t["m"]).relu() * 3 + 1).sum(),
}


def _record(node: Any, names: dict[int, str]) -> Any:
    """A node's recorded state, tensors and nodes by name."""
    if node is None:
        return None

    def name(v: Any) -> Any:
        if isinstance(v, dg.Tensor):
            return names.get(id(v), ("tensor", v.shape, str(v.dtype)))
        if isinstance(v, np.ndarray):
            return ("array", v.shape, str(v.dtype), v.tobytes())
        return v

    edges = tuple(
        (type(n).__name__ if n is not None else None, nr) for n, nr in node.next_functions
    )
    saved = node._saved
    out = node._out
    return {
        "type": type(node).__name__,
        "edges": edges,
        "saved": None if saved is None else tuple(name(v) for v in saved),
        "vers": node._vers,
        "meta": node._meta,
        "out": None if out is None else (out[0].tobytes(), out[2]),
        "src": str(node._src),
    }


def _run(case: Callable[[dict[str, Any]], Any], grad_mode: bool) -> dict[str, Any]:
    t = _inputs()
    names = {id(v): k for k, v in t.items()}
    with dg.set_grad_enabled(grad_mode):
        res = case(t)
    out: dict[str, Any] = {
        "value": res.detach().numpy().tobytes(),
        "dtype": str(res.dtype),
        "shape": tuple(res.shape),
        "requires_grad": res.requires_grad,
        "node": _record(res.grad_fn, names),
        "is_view": res._base is not None,
        "cuts": {k: getattr(v, "_cut", None) for k, v in t.items()},
    }
    if res.requires_grad:
        res.sum().backward() if res.ndim else res.backward()
        out["grads"] = {k: None if v.grad is None else v.grad.numpy().tobytes()
                        for k, v in t.items()}  # fmt: skip
    return out


@pytest.mark.parametrize("grad_mode", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("name", list(CASES))
def test_unrolled_paths_match_the_generic_path(
    name: str, grad_mode: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    fast = _run(case, grad_mode)
    # Tensor's methods call the unrolled entries directly: route them to the general path too.
    tensor_module = importlib.import_module("dygrad.tensor")  # (dygrad.tensor is a function)

    def general(op: R.Op, args: tuple[Any, ...], depth: int = 2) -> Any:
        return R._general(op, args, depth + 1)

    monkeypatch.setattr(tensor_module, "apply1", general)
    monkeypatch.setattr(tensor_module, "apply2", general)
    ops = _generic_only()
    try:
        generic = _run(case, grad_mode)
    finally:
        for op in ops:
            op.fast = op.n_in
    assert fast == generic


def test_unrolled_paths_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cases above would pass vacuously if dispatch never took the unrolled paths: the
    # general path records through _record, the unrolled ones do not.
    general: list[str] = []
    real = R._record

    def spy(op: R.Op, *rest: Any) -> Any:
        general.append(op.name)
        return real(op, *rest)

    monkeypatch.setattr(R, "_record", spy)
    t = _inputs()
    y = (t["a"] * t["b"]).relu().sum()
    assert general == [] and y.grad_fn.name() == "SumBackward0"
    R.apply(R.REGISTRY["mul"], t["a"], t["b"])  # through apply: the same unrolled path
    assert general == []
    t["a"] * t["f32"]  # mixed dtypes: the general path, after the unrolled one declines
    assert general == ["mul"]


def test_unrolled_path_failure_leaves_no_node() -> None:
    a = dg.tensor(np.ones((2, 3)), requires_grad=True)
    b = dg.tensor(np.ones((4, 5)), requires_grad=True)
    with pytest.raises(RuntimeError, match="size of tensor a"):
        a * b
    assert a.grad_fn is None and a._accum is None


def test_gradient_through_an_input_without_rule_is_an_error() -> None:
    # rsub(x, y) = y - x declares no rule for y (Tensor.__rsub__ passes it a number): a tensor
    # that requires grad there is reported by the two-input node when the backward reaches it.
    from dygrad.ops import pointwise as P

    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = dg.tensor([3.0, 4.0], requires_grad=True)
    out = R.apply(P.rsub, x, y)
    assert type(out.grad_fn).__name__ == "RsubBackward1"
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'y'"):
        out.sum().backward()
