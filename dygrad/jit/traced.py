"""`dygrad.jit.trace`: record one run of a function or module as a Graph, and run it again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..func._pytree import tree_flatten, tree_unflatten
from ..tensor import Tensor
from .interp import GuardFailure, run_graph
from .ir import Graph, Value
from .tracer import trace_graph

__all__ = ["trace", "TracedFunction", "GuardError", "signature", "flat_signature"]


class GuardError(RuntimeError):
    """A traced function called where its trace does not hold (other shapes, dtypes, or data
    that Python would see otherwise); `dygrad.compile` retraces instead of raising."""


def signature(leaves: list[Any], spec: Any, grad: bool = True) -> tuple[Any, ...]:
    """What a trace is specialized on, for flattened call arguments: each tensor's shape, dtype
    and (with `grad`: the compiled replay depends on it) requires_grad; every other value; and,
    last, how the arguments nest (`spec`, tree_flatten's: `f([a], b)` is not `f(a, [b])`)."""
    out: list[tuple[Any, ...]] = []
    first: dict[int, int] = {}
    for k, x in enumerate(leaves):
        if isinstance(x, Tensor):
            # Which arguments are one tensor is part of it: the graph has one input for them.
            same = first.setdefault(id(x), k)
            out.append(("T", x._data.shape, x._data.dtype, x._requires_grad and grad, same))
        else:
            out.append(("V", type(x), x))
    out.append(("S", spec))
    return tuple(out)


# Specs of flat_signature's call shapes, by the shape of each argument (a leaf, or a list or
# tuple's type and length): one object each, so that comparing signatures compares it by
# identity.
_flat_specs: dict[tuple[Any, ...], Any] = {}


def flat_signature(args: tuple[Any, ...]) -> tuple[list[Any] | None, tuple[Any, ...] | None]:
    """The flattened leaves of a compiled call's positional arguments and their `signature`, in
    one pass, for the common call shapes (tensors, numbers, strings, flat lists or tuples of
    tensors); (None, None) for anything else (the caller then flattens the general way)."""
    leaves: list[Any] = []
    sig: list[tuple[Any, ...]] = []
    first: dict[int, int] = {}
    shape: list[Any] = []
    for a in args:
        ta = type(a)
        if ta is list or ta is tuple:
            items = a
            shape.append((ta, len(a)))
        elif isinstance(a, Tensor):
            items = (a,)
            shape.append(None)
        elif isinstance(a, int | float | str) and not isinstance(a, tuple):
            sig.append(("V", ta, a))
            leaves.append(a)
            shape.append(None)
            continue
        else:
            return None, None
        for b in items:  # (signature's tensor entry, in this loop)
            if not isinstance(b, Tensor):
                return None, None
            d = b._data
            same = first.setdefault(id(b), len(leaves))
            sig.append(("T", d.shape, d.dtype, b._requires_grad, same))
            leaves.append(b)
    key = tuple(shape)
    spec = _flat_specs.get(key)
    if spec is None:
        spec = _flat_specs[key] = tree_flatten((args, {}))[1]
    sig.append(("S", spec))
    return leaves, tuple(sig)


def describe_mismatch(old: tuple[Any, ...], new: tuple[Any, ...]) -> str:
    """The first difference between two signatures, in words."""
    if len(old) != len(new):  # (each ends with how the arguments nest)
        return f"{len(new) - 1} arguments where the trace had {len(old) - 1}"
    for k, (a, b) in enumerate(zip(old, new, strict=True)):
        if a == b:
            continue
        if a[0] == "S":
            return f"the arguments nest as {_nesting(b[1])}, traced as {_nesting(a[1])}"
        if a[0] == "T" and b[0] == "T":
            if a[1] != b[1]:
                return f"argument {k} has shape {list(b[1])}, traced with {list(a[1])}"
            if a[2] != b[2]:
                return f"argument {k} has dtype {b[2]}, traced with {a[2]}"
            if a[3] != b[3]:
                return f"argument {k} has requires_grad={b[3]}, traced with {a[3]}"
            return f"argument {k} is {_who(k, b[4])}, traced with {_who(k, a[4])}"
        if a[0] != b[0]:
            return f"argument {k} is a {'tensor' if b[0] == 'T' else type(new[k][2]).__name__}" \
                   f", traced with a {'tensor' if a[0] == 'T' else a[1].__name__}"  # fmt: skip
        return f"argument {k} is {b[2]!r}, traced with {a[2]!r}"
    return "nothing"


def _nesting(spec: Any) -> str:
    """A call's argument structure in Python's brackets, leaves as `*`: `([*, *], *)`."""

    def show(t: Any) -> str:
        if t.is_leaf():
            return "*"
        parts = [show(c) for c in t.children]
        if t.kind is list:
            return "[" + ", ".join(parts) + "]"
        if t.kind is dict:
            return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(t.context, parts)) + "}"
        if t.kind is tuple:
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
        return repr(t)  # a namedtuple, None: as the spec prints it

    args, kwargs = spec.children  # tree_flatten((args, kwargs))
    inner = [show(c) for c in args.children]
    inner += [f"{k}={show(c)}" for k, c in zip(kwargs.context, kwargs.children)]
    return "(" + ", ".join(inner) + ")"


def _who(k: int, first: int) -> str:
    return "a tensor of its own" if first == k else f"the same tensor as argument {first}"


class TracedFunction:
    """A function or module as one recorded run: `graph` is the IR; calling it replays the graph
    (with autograd) on new inputs of the traced shapes and dtypes, checking every guard."""

    def __init__(self, fn: Callable[..., Any], graph: Graph, sig: tuple[Any, ...]) -> None:
        self.fn = fn
        self.graph = graph
        self.signature = sig
        self._inputs_spec: Any = None

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"<dygrad.jit.TracedFunction {name}: {len(self.graph)} nodes>"

    @property
    def code(self) -> str:
        return self.graph.format()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves, spec = tree_flatten((args, kwargs))
        sig = signature(leaves, spec, grad=False)  # replayed eagerly: autograd works as usual
        if sig != self.signature:
            raise GuardError(
                f"this trace does not apply: {describe_mismatch(self.signature, sig)}. Trace "
                "again for these inputs, or use dygrad.compile, which retraces by itself."
            )
        inputs = [leaves[k] for k in input_positions(sig)]
        try:
            outs = run_graph(self.graph, inputs)
        except GuardFailure as e:
            raise GuardError(
                f"this trace does not apply: {e}, so the traced code would now take another "
                "path. Trace again for these inputs, or use dygrad.compile, which retraces."
            ) from None
        return unflatten_outputs(self.graph, outs)


def input_positions(sig: tuple[Any, ...]) -> list[int]:
    """Where the graph's inputs are among the flattened arguments of a call with signature
    `sig`: each distinct tensor, at its first position."""
    return [k for k, x in enumerate(sig) if x[0] == "T" and x[4] == k]


def unflatten_outputs(g: Graph, outs: list[Any]) -> Any:
    it = iter(outs)
    leaves = [next(it) if isinstance(v, Value) else v for v in g.out_leaves]
    return tree_unflatten(leaves, g.out_spec)


def trace(fn: Callable[..., Any], *example_inputs: Any, **example_kwargs: Any) -> TracedFunction:
    """Run `fn` (a function or a module) once on the example inputs and record the ops it calls
    (`torch.jit.trace`). `example_inputs` are the positional arguments; a single tuple is taken
    as the argument tuple, as PyTorch does.

    Control flow is never silently frozen: wherever the code turned a tensor into Python
    (`if t > 0:`, `t.item()`, `int(t)`), the trace keeps a guard, and calling the traced function
    where a guard would fail raises `GuardError` (dygrad.compile retraces instead).

    >>> import dygrad as torch
    >>> t = torch.jit.trace(lambda x: (x * 2).sum(), torch.ones(3))
    >>> [n.name for n in t.graph.nodes]
    ['mul', 'sum_all']
    >>> t(torch.arange(3.0))
    tensor(6.)
    """
    if not callable(fn):
        raise TypeError(f"dygrad.jit.trace() expects a function or module, got {type(fn).__name__}")
    if len(example_inputs) == 1 and type(example_inputs[0]) is tuple:
        example_inputs = example_inputs[0]
    leaves, spec = tree_flatten((example_inputs, example_kwargs))
    sig = signature(leaves, spec, grad=False)
    graph, _ = trace_graph(fn, tuple(example_inputs), dict(example_kwargs))
    return TracedFunction(fn, graph, sig)
