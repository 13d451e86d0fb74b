"""The static graph: values that carry shape and dtype, nodes that apply registered ops.

A `Graph` is what `dygrad.jit.trace` records: SSA values (`%3`), each made once, by a graph input,
an outside tensor the code read (a parameter, a buffer, a captured tensor: read afresh on every
run), a constant, or a node. A node applies one op of the registry (`dygrad.ops.registry`) to its
arguments, positionally as the op's forward takes them: values where the op takes tensors,
attributes (ints, tuples, dims) elsewhere. Nodes keep the user's source line and module path
that produced them; guards keep what Python saw of the data while tracing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..ops.registry import Op, Site

__all__ = ["Value", "Node", "Guard", "Graph", "DataRef", "PseudoOp", "DETACH", "pseudo"]


class Value:
    """One SSA value: made once (by an input, an outside tensor, a constant or a node)."""

    __slots__ = ("id", "shape", "dtype", "kind", "node", "index", "name", "requires_grad")

    def __init__(self, vid: int, shape: tuple[int, ...], dtype: np.dtype, kind: str,
                 name: str | None = None) -> None:  # fmt: skip
        self.id = vid
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.kind = kind  # "input", "external", "const" or "node"
        self.node: Node | None = None
        self.index = 0  # which output of its node
        self.name = name
        self.requires_grad = False

    @property
    def ref(self) -> str:
        if not self.name:
            return f"%{self.id}"
        # A name that starts with a digit (`0.weight` in a Sequential) is quoted, as LLVM does,
        # so that it cannot be read as a numbered value.
        return f'%"{self.name}"' if self.name[0].isdigit() else f"%{self.name}"

    @property
    def type_str(self) -> str:
        return f"{self.dtype.name}[{', '.join(map(str, self.shape))}]"

    def __repr__(self) -> str:
        return f"{self.ref} : {self.type_str}"


class DataRef:
    """A value's raw array passed where an op takes an attribute (an index array in a key)."""

    __slots__ = ("value",)

    def __init__(self, value: Value) -> None:
        self.value = value

    def __repr__(self) -> str:
        return self.value.ref


class PseudoOp:
    """What a node applies when no registered op made the value: a detach, or a random draw
    (`torch.randn` inside the traced code, drawn again on each run)."""

    def __init__(self, name: str, forward: Callable[..., Any], random: bool = False) -> None:
        self.name = name
        self.forward = forward
        self.random = random
        self.n_in = 1 if name == "detach" else 0
        self.n_outputs = 1
        self.variadic = False
        self.differentiable = False
        self.params = ["x"] if name == "detach" else []
        self.vjps: tuple[Any, ...] = (None,) * self.n_in
        self.onnx = None
        self.view = name == "detach"

    def __repr__(self) -> str:
        return f"<dygrad.jit {self.name}>"


DETACH = PseudoOp("detach", lambda x: x)


def pseudo(node: Node) -> str | None:
    """The name of the PseudoOp a node applies ("detach", "random", "fused"), or None for a
    registry op."""
    return node.op.name if isinstance(node.op, PseudoOp) else None


class Node:
    """One op applied to its arguments (values at tensor positions, attributes elsewhere)."""

    __slots__ = ("op", "args", "outputs", "site", "scope", "fused", "inplace", "grad_enabled")

    def __init__(self, op: Op | PseudoOp, args: list[Any], site: Site | None, scope: str) -> None:
        self.op = op
        self.args = args
        self.outputs: list[Value] = []
        self.site = site
        self.scope = scope
        self.fused: list[Node] | None = None  # the nodes a fusion pass merged into this one
        # Recorded from an in-place op (`add_`): its result keeps the target's dtype.
        self.inplace = False
        # Grad mode when it ran: a node recorded under no_grad passes no gradient on replay.
        self.grad_enabled = True

    def tensor_args(self) -> list[Value]:
        """The values this node reads, in order (duplicates kept)."""
        out: list[Value] = []
        for a in self.args:
            _values_in(a, out)
        return out

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def where(self) -> str:
        return _where(self.site)

    def __repr__(self) -> str:
        return f"<jit node {self.name} -> {', '.join(v.ref for v in self.outputs)}>"


def _values_in(a: Any, out: list[Value]) -> None:
    if isinstance(a, Value):
        out.append(a)
    elif isinstance(a, DataRef):
        out.append(a.value)
    elif isinstance(a, list | tuple):
        for x in a:
            _values_in(x, out)
    elif isinstance(a, slice):
        for x in (a.start, a.stop, a.step):
            _values_in(x, out)


def map_args(a: Any, fn: Callable[[Any], Any]) -> Any:
    """`a` with every Value or DataRef in it replaced by `fn(it)` (containers rebuilt)."""
    if isinstance(a, Value | DataRef):
        return fn(a)
    if isinstance(a, list):
        return [map_args(x, fn) for x in a]
    if isinstance(a, tuple):
        return tuple(map_args(x, fn) for x in a)
    if isinstance(a, slice):
        return slice(map_args(a.start, fn), map_args(a.stop, fn), map_args(a.step, fn))
    return a


def _where(site: Site | None) -> str:
    if site is None:
        return "<unknown>"
    import os

    line = site.line
    return f"{os.path.basename(site.file)}:{line}"


class Guard:
    """Something Python saw of the data while tracing (`bool(t)`, `t.item()`, a data-dependent
    shape): a run that would see otherwise must not reuse the trace."""

    __slots__ = ("value", "kind", "expected", "site")

    def __init__(self, value: Value, kind: str, expected: Any, site: Site | None) -> None:
        self.value = value
        self.kind = kind  # "bool", "item", "int", "float", "index", "tolist" or "shape"
        self.expected = expected
        self.site = site

    def observe(self, arr: np.ndarray) -> Any:
        """What Python would see of `arr` now."""
        k = self.kind
        if k == "shape":
            return arr.shape
        if k == "tolist":
            return arr.tolist()
        v = arr.reshape(()).item()
        if k == "bool":
            return bool(v)
        if k in ("int", "index"):
            return int(v)
        if k == "float":
            return float(v)
        return v

    def describe(self) -> str:
        what = {
            "bool": "bool({})",
            "item": "{}.item()",
            "int": "int({})",
            "float": "float({})",
            "index": "an index from {}",
            "tolist": "{}.tolist()",
            "shape": "the data-dependent shape of {}",
        }[self.kind].format(self.value.ref)
        return f"{what} at {_where(self.site)}"


class Graph:
    """A traced computation: inputs, outside tensors, constants, nodes, outputs and guards."""

    def __init__(self) -> None:
        self.inputs: list[Value] = []
        self.externals: list[Value] = []  # read afresh from `external_tensors` on each run
        self.external_tensors: dict[int, Any] = {}  # value id -> the tensor
        self.consts: dict[int, np.ndarray] = {}  # value id -> array
        self.const_values: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: list[Value] = []
        self.out_spec: Any = None
        # In-place changes to inputs and outside tensors (running statistics): written back
        # after each run, as eager mode would have made them. (target value, final value)
        self.mutations: list[tuple[Value, Value]] = []
        self.guards: list[Guard] = []
        # The flattened inputs and result: a Value where a tensor was, the Python value elsewhere
        # (inputs' Python values are frozen into the trace and guarded by its callers).
        self.input_leaves: list[Any] = []
        self.out_leaves: list[Any] = []
        # The modules whose forward ran while tracing: their `training` flags and parameter
        # slots are part of what the trace assumed.
        self.modules: list[Any] = []
        self._next = 0

    # --- building ---------------------------------------------------------------------------
    def new_value(self, shape: tuple[int, ...], dtype: Any, kind: str,
                  name: str | None = None) -> Value:  # fmt: skip
        v = Value(self._next, shape, dtype, kind, name)
        self._next += 1
        return v

    def add_const(self, arr: np.ndarray, name: str | None = None) -> Value:
        v = self.new_value(arr.shape, arr.dtype, "const", name)
        self.consts[v.id] = arr
        self.const_values.append(v)
        return v

    # --- reading ----------------------------------------------------------------------------
    def users(self) -> dict[int, list[Node]]:
        """value id -> the nodes that read it."""
        out: dict[int, list[Node]] = {}
        for n in self.nodes:
            for v in n.tensor_args():
                out.setdefault(v.id, []).append(n)
        return out

    def roots(self) -> list[Value]:
        """What a run must produce: outputs, guarded values and written-back values."""
        return [*self.outputs, *(g.value for g in self.guards), *(m[1] for m in self.mutations)]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def op_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n in self.nodes:
            for m in n.fused or (n,):
                out[m.name] = out.get(m.name, 0) + 1
        return out

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"<dygrad.jit.Graph: {len(self.nodes)} nodes>\n{self.format()}"

    def format(self, sources: bool = True) -> str:
        """The graph as text, one line per node, SSA-style, with the source line that made it."""
        heads = [repr(v) for v in [*self.inputs, *self.externals]]
        lines = ["graph(" + ",\n      ".join(heads) + "):"]
        for v in self.const_values:
            arr = self.consts[v.id]
            body = np.array2string(arr, threshold=6, separator=", ") if arr.size <= 6 else "..."
            lines.append(f"  {v!r} = constant({body})")
        for n in self.nodes:
            lines.extend(_format_node(n, "  ", sources))
        for tgt, val in self.mutations:
            lines.append(f"  {tgt.ref}.copy_({val.ref})  # written back after each run")
        for g in self.guards:
            lines.append(f"  guard {g.describe()} == {g.expected!r}")
        lines.append(f"  return ({', '.join(v.ref for v in self.outputs)})")
        return "\n".join(lines)


def _format_node(n: Node, indent: str, sources: bool) -> list[str]:
    outs = ", ".join(repr(v) for v in n.outputs)
    if n.fused is not None:
        head = f"{indent}{outs} = fused(" + ", ".join(
            v.ref for v in _dedup(n.tensor_args())) + "):"  # fmt: skip
        body: list[str] = []
        for m in n.fused:
            body.extend(_format_node(m, indent + "    ", sources))
        return [head, *body]
    args = []
    params = getattr(n.op, "params", [])
    for i, a in enumerate(n.args):
        text = _fmt_arg(a)
        if i >= n.op.n_in and i < len(params) and not n.op.variadic:
            text = f"{params[i]}={text}"
        args.append(text)
    line = f"{indent}{outs} = {n.name}({', '.join(args)})"
    if sources:
        note = n.where
        if n.scope:
            note += f" ({n.scope})"
        line = f"{line:<60}  # {note}"
    return [line]


def _dedup(vals: Sequence[Value]) -> list[Value]:
    seen: set[int] = set()
    out = []
    for v in vals:
        if v.id not in seen:
            seen.add(v.id)
            out.append(v)
    return out


def _fmt_arg(a: Any) -> str:
    if isinstance(a, Value | DataRef):
        return a.ref if isinstance(a, Value) else a.value.ref
    if isinstance(a, list):
        return "[" + ", ".join(_fmt_arg(x) for x in a) + "]"
    if isinstance(a, tuple):
        inner = ", ".join(_fmt_arg(x) for x in a)
        return f"({inner},)" if len(a) == 1 else f"({inner})"
    if isinstance(a, np.ndarray):
        return f"array({a.dtype.name}{list(a.shape)})"
    if isinstance(a, np.dtype):
        return a.name
    if isinstance(a, slice):
        return f"{'' if a.start is None else a.start}:{'' if a.stop is None else a.stop}" + (
            "" if a.step is None else f":{a.step}")  # fmt: skip
    if a is Ellipsis:
        return "..."
    return repr(a)
