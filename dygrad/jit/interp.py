"""Running a Graph eagerly: each node through the op registry's dispatch, so the results are
ordinary tensors with ordinary autograd graphs (what `TracedFunction.__call__` does; the
compiled replay in `dygrad.jit.compiled` skips tensors and graph nodes altogether)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..ops.registry import apply
from ..ops.shape import to_dtype
from ..tensor import Tensor
from .ir import DataRef, Graph, Guard, Node, Value, map_args, pseudo

__all__ = ["GuardFailure", "run_graph", "node_guards", "write_back"]


class GuardFailure(Exception):  # noqa: N818 - internal signal, not an error for users
    """A run in which Python would see the data otherwise than the trace did."""

    def __init__(self, guard: Guard, got: Any) -> None:
        super().__init__(f"{guard.describe()} was {guard.expected!r} when traced, now {got!r}")
        self.guard = guard
        self.got = got


def node_guards(g: Graph) -> dict[int, list[Guard]]:
    """value id -> the guards to check as soon as that value exists."""
    out: dict[int, list[Guard]] = {}
    for gd in g.guards:
        out.setdefault(gd.value.id, []).append(gd)
    return out


def check_guards(guards: list[Guard], arr: np.ndarray) -> None:
    for gd in guards:
        got = gd.observe(arr)
        if got != gd.expected:
            raise GuardFailure(gd, got)


def run_node(n: Node, env: dict[int, Any]) -> tuple[Any, ...]:
    """Apply one node to the tensors in `env`; returns its output tensors."""
    if n.fused is not None:
        for m in n.fused:
            for v, r in zip(m.outputs, run_node(m, env), strict=True):
                env[v.id] = r
        return tuple(env[v.id] for v in n.outputs)

    def get(a: Value | DataRef) -> Any:
        return env[a.id] if isinstance(a, Value) else env[a.value.id]._data

    args = map_args(n.args, get)
    op = n.op
    kind = pseudo(n)
    if kind == "detach":
        return (args[0].detach(),)
    if kind == "random":
        return (Tensor._wrap(op.forward(), False, None, 0),)
    if n.grad_enabled or not is_grad_enabled():
        res = apply(op, *args)  # type: ignore[arg-type]
    else:
        with no_grad():  # it ran under no_grad while tracing
            res = apply(op, *args)  # type: ignore[arg-type]
    outs = res if isinstance(res, tuple) else (res,)
    if n.inplace and outs[0]._data.dtype != n.outputs[0].dtype:
        src = outs[0]
        outs = (apply(to_dtype, src, n.outputs[0].dtype, src._data.dtype),)
    return outs


def run_graph(g: Graph, inputs: list[Any]) -> list[Any]:
    """The graph's outputs (tensors), computed eagerly from `inputs` (one tensor per graph
    input); raises GuardFailure, before any write-back, where a guard does not hold."""
    env: dict[int, Any] = {}
    guards = node_guards(g)
    for v, t in zip(g.inputs, inputs, strict=True):
        env[v.id] = t
    for v in g.externals:
        env[v.id] = g.external_tensors[v.id]
    for v in g.const_values:
        env[v.id] = Tensor._wrap(g.consts[v.id], False, None, 0)
    for vid, gs in guards.items():
        if vid in env:
            check_guards(gs, env[vid]._data)
    for n in g.nodes:
        outs = run_node(n, env)
        for v, r in zip(n.outputs, outs, strict=True):
            env[v.id] = r
            vg = guards.get(v.id)
            if vg is not None:
                check_guards(vg, r._data)
        if n.fused is not None:
            for m in n.fused:
                for v in m.outputs:
                    vg = guards.get(v.id)
                    if vg is not None and v.id in env:
                        check_guards(vg, env[v.id]._data)
    write_back(g, env, lambda v: env[v.id]._data)
    # A returned constant is copied: each run's result is its own; the final value of a tensor
    # changed in place is that tensor, as in eager mode.
    final = {val.id: env[tgt.id] for tgt, val in g.mutations}
    res: dict[int, Any] = {}
    for v in g.outputs:
        if v.id not in res:
            if v.kind == "const":
                res[v.id] = Tensor._wrap(env[v.id]._data.copy(), False, None, 0)
            else:
                res[v.id] = final.get(v.id, env[v.id])
    return [res[v.id] for v in g.outputs]


def write_back(g: Graph, env: dict[int, Any], array_of: Any) -> None:
    """Copy the final values of tensors changed in place into them (running statistics)."""
    for tgt, val in g.mutations:
        t = env[tgt.id]
        with no_grad():
            np.copyto(t._data, array_of(val), casting="unsafe")
            t._vc[0] += 1
