"""Tracing: run code once with a dispatch hook installed and record the ops it calls as a Graph.

The tracer sits where dispatch hands each op to a hook (`dygrad.ops.registry.apply`): it runs the
op eagerly, then records a node whose arguments name the values the tensors came from. It also
hears about every other way a tensor is made or read while it traces:
- creation functions (`torch.zeros`, `torch.tensor`: constants; `torch.randn`: a node that draws
  again on each run), `detach`;
- any other new tensor (a method that computes outside the ops): using one is an error that
  names the line, never a silently frozen value;
- a tensor turned into Python (`bool(t)`, `t.item()`, `int(t)`, `t.tolist()`): a guard, so a
  run in which Python would see otherwise is not served by this trace; `t.numpy()`: an error;
- in-place ops: recorded as the out-of-place op, the tensor rebound to the new value; changes to
  inputs and outside tensors (a batch norm's running statistics) are written back after each run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd.grad_mode import hook_open, state, sync_node_extra
from ..func._pytree import tree_flatten
from ..ops.indexing import index as _index_op
from ..ops.registry import Op, Site, apply, apply_inplace, user_line
from ..tensor import Tensor
from .ir import DETACH, DataRef, Graph, Guard, Node, PseudoOp, Value

__all__ = ["TraceError", "Tracer", "trace_graph"]


class TraceError(RuntimeError):
    """Code that cannot be traced faithfully (its result would be frozen into the trace)."""


def _where(site: Site | None) -> str:
    return "an unknown line" if site is None else str(site)  # file:line


class Tracer:
    """The dispatch hook that records a Graph (see the module docstring)."""

    def __init__(self, graph: Graph, names: dict[int, str]) -> None:
        self.g = graph
        self.vals: dict[int, Value] = {}  # id(tensor) -> its current value
        self.keep: list[Any] = []  # every tensor seen, alive while tracing: ids stay unique
        self.data: dict[int, Value] = {}  # id(array) -> the value whose data it is
        self.untraced: dict[int, Site | None] = {}  # tensors made outside the ops
        self.origin: dict[int, Value] = {}  # id(tensor) -> its input/outside value (mutations)
        self.vcs: dict[int, int] = {}  # id(version counter) -> how many traced tensors share it
        self.names = names
        self.scope: list[str] = []
        self.modules: dict[int, Any] = {}  # every module whose forward ran, by id
        self.slots: dict[int, Any] = {}  # id -> (module, path, its parameter/buffer ids)
        self.n_captured = 0
        self.outer_grad = bool(state.enabled)

    # --- values -------------------------------------------------------------------------------
    def bind(self, t: Any, v: Value) -> None:
        self.vals[id(t)] = v
        self.keep.append(t)
        self.data[id(t._data)] = v
        self.vcs[id(t._vc)] = self.vcs.get(id(t._vc), 0) + 1

    def value_of(self, t: Any, user: str) -> Value:
        v = self.vals.get(id(t))
        if v is not None:
            return v
        if id(t) in self.untraced:
            raise TraceError(
                f"{user} at {_where(self.site())} uses a tensor that was computed outside "
                f"dygrad's ops (at {_where(self.untraced[id(t)])}, e.g. by torch.where(cond) "
                "with one argument): a trace would freeze its value. Compute it with traceable "
                "ops, or outside the traced code and pass it in as an input."
            )
        name = self.names.get(id(t))
        if name is None:
            name = f"captured{self.n_captured}"
            self.n_captured += 1
        v = self.g.new_value(t._data.shape, t._data.dtype, "external", name)
        v.requires_grad = t._requires_grad
        self.g.externals.append(v)
        self.g.external_tensors[v.id] = t
        self.origin[id(t)] = v
        self.bind(t, v)
        return v

    def site(self) -> Site | None:
        return user_line(1)

    def _attr(self, a: Any, user: str) -> Any:
        if isinstance(a, Tensor):
            return DataRef(self.value_of(a, user))
        if isinstance(a, np.ndarray):
            v = self.data.get(id(a))
            if v is not None:
                return DataRef(v)
            b = a.base
            while b is not None:
                if id(b) in self.data:
                    raise TraceError(
                        f"{user} at {_where(self.site())} was given an array computed from "
                        "a traced tensor's data outside dygrad's ops: a trace would freeze it."
                    )
                b = b.base if isinstance(b, np.ndarray) else None
            return a
        if isinstance(a, list):
            return [self._attr(x, user) for x in a]
        if isinstance(a, tuple) and type(a) is tuple:
            return tuple(self._attr(x, user) for x in a)
        return a

    # --- the hook protocol (called by dispatch, Tensor and the creation functions) -------------
    def op(self, op: Op, args: tuple[Any, ...]) -> Any:
        state.dispatch_hook = None
        try:
            res = apply(op, *args)
        finally:
            state.dispatch_hook = self
        first = res[0] if isinstance(res, tuple) and res else res
        if isinstance(first, Tensor):
            self.record(op, args, res, inplace=False)
        return res

    def inplace(self, op: Op, target: Any, rest: tuple[Any, ...]) -> Any:
        user = f"{op.name}_()"
        if not isinstance(target, Tensor):
            raise TypeError(f"{user}: expected a Tensor, got {type(target).__name__}")
        if target._requires_grad and target.grad_fn is None and state.enabled:
            state.dispatch_hook = None
            try:  # eager mode's error for a leaf, raised before anything changes
                apply_inplace(op, target, *rest)
            finally:
                state.dispatch_hook = self
        known = id(target) in self.vals
        if target._base is not None or self.vcs.get(id(target._vc), 0) > (1 if known else 0):
            raise TraceError(
                f"{user} at {_where(self.site())} changes a tensor in place that shares memory "
                "with another (a view or its base): a trace cannot follow the change to the "
                "other tensor. Use the out-of-place op (e.g. x = x.add(y)) in traced code."
            )
        old = self.value_of(target, user)
        if old.kind in ("input", "external") and target._requires_grad and state.enabled:
            raise TraceError(
                f"{user} at {_where(self.site())} changes an input that requires grad in place: "
                "a replay could not give that tensor the history eager mode gives it. Work on a "
                "copy (x = x.mul(2)) or pass the input detached."
            )
        state.dispatch_hook = None
        try:
            apply_inplace(op, target, *rest)
        finally:
            state.dispatch_hook = self
        origin = self.origin.get(id(target))
        self.vals.pop(id(target), None)
        self.vcs[id(target._vc)] -= 1
        self.record(op, (target, *rest), target, inplace=True, first=old)
        if origin is not None:
            self.origin[id(target)] = origin
        return target

    def concrete(self, t: Any, kind: str, value: Any) -> Any:
        site = self.site()
        if kind == "numpy":
            raise TraceError(
                f"Tensor.numpy() (or np.asarray of a tensor) at {_where(site)} inside traced "
                "code: the data would leave the graph and a trace would freeze what is computed "
                "from it. Use tensor ops instead, or convert outside the traced code."
            )
        v = self.value_of(t, f"{kind}()")
        self.g.guards.append(Guard(v, kind, value, site))
        return value

    def refuse(self, what: str) -> None:
        raise TraceError(
            f"{what} at {_where(self.site())} cannot be traced. Run this code eagerly, or move "
            "it outside the traced function."
        )

    def made(self, t: Any, src: Any) -> None:
        if src is None:
            self.untraced[id(t)] = self.site()
            self.keep.append(t)
            return
        self.untraced.pop(id(t), None)  # a detach: a node of its own
        v = self.value_of(src, "detach()")
        node = Node(DETACH, [v], self.site(), self._scope())
        self._outputs(node, (t,))

    def created(self, t: Any, regen: Callable[[], Any] | None) -> None:
        if t._requires_grad:
            raise TraceError(
                f"a tensor created with requires_grad=True at {_where(self.site())} inside traced "
                "code: eager mode makes a new leaf on every call, which a replay cannot. Create "
                "it outside (a parameter) and pass it in or capture it."
            )
        self.untraced.pop(id(t), None)
        old = self.vals.pop(id(t), None)
        if old is not None:  # `_finish` reported it first as a constant: replace that
            self.g.const_values.remove(old)
            del self.g.consts[old.id]
        if regen is None:
            v = self.g.add_const(t._data.copy())
            self.bind(t, v)
            return
        node = Node(PseudoOp("random", regen, random=True), [], self.site(), self._scope())
        self._outputs(node, (t,))

    # --- recording ----------------------------------------------------------------------------
    def _scope(self) -> str:
        return self.scope[-1] if self.scope else ""

    def record(self, op: Op, args: Sequence[Any], res: Any, inplace: bool,
               first: Value | None = None) -> None:  # fmt: skip
        user = f"{op.name}()"
        ir: list[Any] = []
        if op.variadic:
            seq = []
            for t in args[0]:
                if isinstance(t, Tensor):
                    seq.append(self.value_of(t, user))
                else:
                    arr = np.asarray(t)
                    seq.append(self.g.add_const(arr))
            ir.append(seq)
            ir.extend(self._attr(a, user) for a in args[1:])
        else:
            for i, a in enumerate(args):
                if i == 0 and first is not None:
                    ir.append(first)
                elif i < op.n_in:
                    if isinstance(a, Tensor):
                        ir.append(self.value_of(a, user))
                    elif isinstance(a, np.ndarray):
                        ir.append(self.g.add_const(a.copy()))
                    elif isinstance(a, np.generic):
                        ir.append(a.item())
                    else:
                        ir.append(a)
                else:
                    ir.append(self._attr(a, user))
        node = Node(op, ir, self.site(), self._scope())
        node.inplace = inplace
        outs = res if isinstance(res, tuple) else (res,)
        self._outputs(node, outs)
        if op is _index_op and _has_mask(args[1]):
            # A boolean mask's result has as many elements as the mask has True: Python sees
            # that number through the shape, so the shape is a guard.
            v = node.outputs[0]
            self.g.guards.append(Guard(v, "shape", v.shape, node.site))

    def _outputs(self, node: Node, outs: Sequence[Any]) -> None:
        # A no_grad block inside the code cuts gradients on replay; one around the whole trace
        # does not (a replay with gradients on must compute them).
        node.grad_enabled = bool(state.enabled) or not self.outer_grad
        for j, o in enumerate(outs):
            v = self.g.new_value(o._data.shape, o._data.dtype, "node")
            v.node = node
            v.index = j
            v.requires_grad = o._requires_grad
            node.outputs.append(v)
            self.bind(o, v)
        self.g.nodes.append(node)


def _has_mask(key: Any) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == np.bool_ for k in items)


def _scope_hooks(module: Any, tracer: Any) -> list[Any]:
    """Keep `tracer.scope` (a list) as the path of the module running now, through hooks around
    every module's forward; modules outside `module`'s tree go by their class name. Every
    module called is also added to `tracer.modules` (a dict by id) where the tracer has one."""
    from ..nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    names = {id(m): n for n, m in module.named_modules()} if hasattr(module, "named_modules") \
        else {}  # fmt: skip
    seen = getattr(tracer, "modules", None)

    slots = getattr(tracer, "slots", None)

    def pre(mod: Any, args: Any) -> None:
        name = names.get(id(mod))
        tracer.scope.append(type(mod).__name__ if name is None else name)
        if seen is not None:
            seen.setdefault(id(mod), mod)
        if slots is not None and id(mod) not in slots:
            slots[id(mod)] = (mod, tracer.scope[-1], _slot_ids(mod))

    def post(mod: Any, args: Any, out: Any) -> None:
        if tracer.scope:
            tracer.scope.pop()

    return [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]


def _slot_ids(mod: Any) -> dict[str, int]:
    return {k: id(t) for d in (mod._parameters, mod._buffers) for k, t in d.items()}


def _check_slots(tracer: Tracer) -> None:
    # `self.count = self.count + 1` in forward rebinds a buffer: a replay would not.
    for mod, where, before in tracer.slots.values():
        after = _slot_ids(mod)
        for k in sorted(set(before) | set(after)):
            if before.get(k) != after.get(k):
                name = where or type(mod).__name__
                raise TraceError(
                    f"module {name!r} ({type(mod).__name__}) rebinds its parameter or buffer "
                    f"{k!r} in forward: a replay would not. Update it in place instead "
                    f"(self.{k}.add_(1), self.{k}.copy_(value))."
                )


def module_names(fn: Any) -> dict[int, str]:
    """id(tensor) -> its name in the module (`fc1.weight`), for the graph's printout."""
    names: dict[int, str] = {}
    if hasattr(fn, "named_parameters"):
        for n, p in fn.named_parameters():
            names.setdefault(id(p), n)
        for n, b in fn.named_buffers():
            names.setdefault(id(b), n)
    return names


def trace_graph(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                ) -> tuple[Graph, Any]:  # fmt: skip
    """Run `fn(*args, **kwargs)` once, recording a Graph; returns it and fn's result."""
    g = Graph()
    leaves, _ = tree_flatten((args, kwargs))
    tracer = Tracer(g, module_names(fn))
    for k, leaf in enumerate(leaves):
        if isinstance(leaf, Tensor):
            if id(leaf) in tracer.vals:  # the same tensor passed twice
                continue
            v = g.new_value(leaf._data.shape, leaf._data.dtype, "input", f"input{k}")
            v.requires_grad = leaf._requires_grad
            g.inputs.append(v)
            tracer.origin[id(leaf)] = v
            tracer.bind(leaf, v)
    handles = _scope_hooks(fn, tracer)
    saved_track = state.track_source
    state.track_source = True  # the graph names each node's source line
    sync_node_extra()
    if state.dispatch_hook is not None:
        raise RuntimeError("dygrad.jit: tracing inside traced or checked code is not supported")
    state.dispatch_hook = tracer
    hook_open[0] += 1
    try:
        out = fn(*args, **kwargs)
    finally:
        state.dispatch_hook = None
        hook_open[0] -= 1
        state.track_source = saved_track
        sync_node_extra()
        for h in handles:
            h.remove()
    _check_slots(tracer)
    outs, spec = tree_flatten(out)
    g.out_spec = spec
    result: list[Any] = []
    for o in outs:
        if isinstance(o, Tensor):
            result.append(tracer.value_of(o, "the traced code's result"))
        else:
            result.append(o)
    g.outputs = [v for v in result if isinstance(v, Value)]
    g.out_leaves = result
    for tid, origin in tracer.origin.items():
        cur = tracer.vals.get(tid)
        if cur is not None and cur is not origin:
            g.mutations.append((origin, cur))
    # Python values among the inputs are frozen into the trace: the caller guards them.
    g.input_leaves = [None if isinstance(leaf, Tensor) else leaf for leaf in leaves]
    g.modules = list(tracer.modules.values())
    return g, out
