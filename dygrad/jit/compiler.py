"""`dygrad.compile(fn_or_module)`: trace on the first call, replay generated code afterwards,
retrace whenever a guard says the trace no longer holds."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

from ..autograd.grad_mode import state
from ..func._pytree import tree_flatten
from ..tensor import Tensor
from .compiled import Program, build_program, run_program
from .interp import GuardFailure
from .ir import Graph
from .traced import describe_mismatch, flat_signature, input_positions, signature, unflatten_outputs
from .tracer import trace_graph

__all__ = ["compile", "CompiledFunction"]


_MISSING = object()


def _show(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"a tensor of shape {list(v.shape)} at {id(v):#x}"
    return "missing" if v is _MISSING else repr(v)


class _Entry:
    """One trace: the graph, its generated programs, and what it was specialized on."""

    def __init__(self, sig: tuple[Any, ...], graph: Graph, state_checks: list[Any]) -> None:
        self.sig = sig
        self.graph = graph
        self.state_checks = state_checks  # (dict, key, tensor) and (module, training) pairs
        self.programs: dict[bool, Program] = {}
        # Positions of the distinct tensors among the flattened arguments (the graph's inputs).
        self.input_pos = input_positions(sig)
        self.any_grad = any(x[0] == "T" and x[3] for x in sig) or any(
            v.requires_grad for v in graph.externals
        )
        # The result is one tensor computed by the graph: no tree to rebuild.
        self.single = (
            len(graph.out_leaves) == 1 and graph.out_spec.is_leaf() and bool(graph.outputs)
        )

    def state_mismatch(self) -> str | None:
        for chk in self.state_checks:
            kind = chk[0]
            if kind == "slot":
                _, d, key, t, where = chk
                if d.get(key) is not t:
                    return f"{where} was replaced"
            elif kind == "value":
                _, d, key, v, where = chk
                now = d.get(key, _MISSING)
                if not _same(now, v):
                    return f"{where} changed ({_show(v)} when traced, now {_show(now)})"
            elif kind == "cell":
                _, cell, key, v, where = chk
                try:
                    now = cell.cell_contents
                except ValueError:
                    now = _MISSING
                if not _same(now, v):
                    return f"{where} changed ({_show(v)} when traced, now {_show(now)})"
            else:
                _, m, training, where = chk
                if m.training != training:
                    return f"{where}.training is {m.training}, traced with {training}"
        ext = self.graph.external_tensors
        for v in self.graph.externals:
            t = ext[v.id]
            if t._requires_grad != v.requires_grad:
                return f"{v.ref}.requires_grad is {t._requires_grad}, traced with {v.requires_grad}"
            if t._data.shape != v.shape or t._data.dtype != v.dtype:
                return f"{v.ref} is now {t._data.dtype}{list(t._data.shape)}"
        return None


def _state_checks(fn: Any, g: Graph) -> list[Any]:
    """What a trace assumed about modules, beyond its inputs: each module's `training` flag
    (dropout, batch norm) and which tensor sits in each parameter or buffer slot it read. Covers
    the modules whose forward ran while tracing, whether `fn` is the module or a closure over
    one, and the whole tree of `fn` when it is a module."""
    names: dict[int, str] = {}
    mods: dict[int, Any] = {}
    if hasattr(fn, "named_modules"):
        for name, m in fn.named_modules():
            names.setdefault(id(m), name or type(fn).__name__)
            mods.setdefault(id(m), m)
    for m in g.modules:
        mods.setdefault(id(m), m)
        names.setdefault(id(m), type(m).__name__)
    checks: list[Any] = []
    for key, m in mods.items():
        where = names[key]
        checks.append(("training", m, m.training, where))
        for d in (m._parameters, m._buffers):
            for k, t in d.items():
                if t is not None:
                    checks.append(("slot", d, k, t, f"{where}.{k}"))
        # Plain attributes the forward may read as Python values (a scale, a flag, a tensor).
        for k, v in vars(m).items():
            if not k.startswith("_") and k != "training" and _watchable(v):
                checks.append(("value", vars(m), k, v, f"{where}.{k}"))
    # What a function reads from its closure and globals as Python values.
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is not None:
        f = getattr(fn, "__func__", fn)
        for name, cell in zip(code.co_freevars, f.__closure__ or (), strict=False):
            try:
                v = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if _watchable(v):
                checks.append(("cell", cell, name, v, name))
        glb = f.__globals__
        for name in code.co_names:
            if name in glb and _watchable(glb[name]):
                checks.append(("value", glb, name, glb[name], name))
    return checks


def _watchable(v: Any) -> bool:
    # Values whose change a replay would miss and a check can see cheaply: numbers, strings,
    # None and tuples of them (by value), tensors (by identity).
    if v is None or isinstance(v, bool | int | float | str | Tensor):
        return True
    return (
        type(v) is tuple
        and len(v) <= 8
        and all(x is None or isinstance(x, bool | int | float | str) for x in v)
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a is b
    return type(a) is type(b) and (a == b or a != a and b != b)


class CompiledFunction:
    """What `dygrad.compile` returns for a function: call it like the function."""

    def __init__(self, fn: Callable[..., Any], explain: bool, optimize: bool,
                 max_traces: int) -> None:  # fmt: skip
        self.fn = fn
        self.explain = explain
        self.optimize = optimize
        self.max_traces = max_traces
        self.entries: list[_Entry] = []
        self.explanations: list[str] = []  # one line per trace, with its reason
        self.calls = 0
        self.traces = 0
        self.fallback = False

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"<dygrad.compile {name}: {self.traces} trace(s), {self.calls} call(s)>"

    @property
    def graph(self) -> Graph | None:
        """The most recent trace's graph."""
        return self.entries[-1].graph if self.entries else None

    def code(self) -> str:
        """The generated Python of the most recent trace (forward and backward)."""
        if not self.entries:
            return ""
        e = self.entries[-1]
        return "\n".join(p.source for p in e.programs.values())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.fallback:
            return self.fn(*args, **kwargs)
        leaves, sig = flat_signature(args) if not kwargs else (None, None)
        if leaves is None or sig is None:
            leaves, spec = tree_flatten((args, kwargs))
            sig = signature(leaves, spec)
        reason = "first call" if not self.entries else None
        for e in reversed(self.entries):
            if e.sig != sig:
                continue
            why = e.state_mismatch()
            if why is not None:
                reason = reason or why
                continue
            # The leaves' requires_grad flags are in the signature and the outside tensors' are
            # checked above: whether anything needs a gradient is fixed per entry.
            inputs = [leaves[k] for k in e.input_pos]
            with_grad = e.any_grad and bool(state.enabled)
            p = e.programs.get(with_grad)
            if p is None:
                p = e.programs[with_grad] = build_program(e.graph, with_grad)
            try:
                outs = run_program(p, e.graph, inputs, with_grad)
            except GuardFailure as err:
                gd = err.guard
                reason = reason or (
                    f"{gd.describe()} was {gd.expected!r} when traced and is not now"
                )
                continue
            if e.single:
                return outs[0]
            return unflatten_outputs(e.graph, outs)
        if reason is None:
            near = self.entries[-1].sig
            reason = describe_mismatch(near, sig)
        return self._retrace(args, kwargs, sig, reason)

    def _retrace(self, args: tuple[Any, ...], kwargs: dict[str, Any], sig: tuple[Any, ...],
                 reason: str) -> Any:  # fmt: skip
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        if self.traces >= self.max_traces:
            self.fallback = True
            warnings.warn(
                f"dygrad.compile({name}): traced {self.traces} times (last reason: {reason}); "
                "running it eagerly from now on. Guards that change on every call (a `.item()` "
                "used in Python, a shape that varies) defeat compilation.",
                UserWarning,
                stacklevel=3,
            )
            return self.fn(*args, **kwargs)
        self.traces += 1
        where = _caller()
        line = f"dygrad.compile({name}): trace #{self.traces} ({reason}), called at {where}"
        self.explanations.append(line)
        if self.explain:
            print(line, file=sys.stderr)
        graph, out = trace_graph(self.fn, args, kwargs)
        if self.optimize:
            from . import passes

            passes.optimize(graph)
        self.entries.append(_Entry(sig, graph, _state_checks(self.fn, graph)))
        return out


def _caller() -> str:
    f = sys._getframe(1)
    import os

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while f is not None and f.f_code.co_filename.startswith(pkg):
        f = f.f_back  # type: ignore[assignment]
    if f is None:
        return "<unknown>"
    return f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}"


class CompiledModule:
    """What `dygrad.compile` returns for a module: calls go through the compiled function;
    every other attribute (parameters(), train(), state_dict(), ...) is the module's."""

    def __init__(self, module: Any, compiled: CompiledFunction) -> None:
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._orig_mod, name, value)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"

    @property
    def explanations(self) -> list[str]:
        return self._compiled.explanations


def compile(  # noqa: A001 - PyTorch's name
    fn: Any = None, *, explain: bool = False, optimize: bool = True, max_traces: int = 8,
    **options: Any,
) -> Any:  # fmt: skip
    """Compile a function or module (`torch.compile`): the first call traces it (see
    `dygrad.jit.trace`); later calls with the same input shapes, dtypes and Python values replay
    generated code on raw arrays, with no Tensor or graph node per op, and `.backward()` on the
    result fills `.grad` as eager mode does. A call where the trace would not hold (other
    shapes, a branch that `if t > 0:` would now take otherwise, a module switched to eval)
    traces again; `explain=True` prints each trace's reason and call site.

    >>> import dygrad as torch
    >>> f = torch.compile(lambda x: (x * 2).tanh().sum())
    >>> x = torch.ones(3, requires_grad=True)
    >>> f(x).backward(); f(x).backward(); x.grad  # traced, then replayed: gradients add up
    tensor([0.2826, 0.2826, 0.2826])
    """
    unknown = set(options) - {"mode", "fullgraph", "dynamic", "backend", "options", "disable"}
    if unknown:
        raise TypeError(f"compile() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    if fn is None:
        return lambda f: compile(f, explain=explain, optimize=optimize, max_traces=max_traces,
                                 **options)  # fmt: skip
    if not callable(fn):
        raise TypeError(f"dygrad.compile() expects a function or module, got {type(fn).__name__}")
    if options.get("disable"):
        return fn
    cf = CompiledFunction(fn, explain, optimize, max_traces)
    if hasattr(fn, "named_modules"):
        return CompiledModule(fn, cf)
    return cf
