"""`dygrad.jit.check`: run a function or module on tensors that have a shape and a dtype but no
data, through each op's shape/dtype rule, and report the first mismatch with the module path, the
op, the shapes and the user's source line. Sizes may be symbolic (`spec("B", 784)`)."""

from __future__ import annotations

import linecache
import os
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from types import FrameType
from typing import Any, cast

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import dtypes
from ..autograd.grad_mode import hook_open, state, sync_node_extra
from ..autograd.graph import Node
from ..backend import _rng
from ..func._pytree import tree_flatten, tree_unflatten
from ..ops.registry import (
    Op,
    Site,
    Spec,
    _cast_error,
    apply,
    apply_inplace,
    infer,
    user_line,
)
from ..tensor import Tensor, tensor
from .tracer import _scope_hooks

__all__ = ["check", "spec", "Dim", "TensorSpec", "CheckResult", "CheckedOp", "ShapeError",
           "CheckError"]  # fmt: skip

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# Stand-in sizes for symbolic dims: symbol i runs at _PRIMES[i] and _PRIMES[4 + i] (every
# combination, to fit each size as a polynomial of the symbols), then at _PRIMES[8 + i] to verify
# the fit. Unusual primes, so that a symbol never matches a model's own sizes by chance.
_PRIMES = (1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049, 1051, 1061, 1063, 1069)
_MAX_SYMBOLS = 4
# The autograd engine's files: an exception from there means differentiating inside the code.
_ENGINE = tuple(os.path.join(_PKG, p) for p in ("backward.py", "autograd" + os.sep + "api.py",
                                                "autograd" + os.sep + "engine.py"))  # fmt: skip
# Ops whose inputs are all known (parameters, constants) run for real up to this many output
# elements, so Python may still read their values (`.item()` of a constant).
_REAL_LIMIT = 1 << 16


class CheckError(RuntimeError):
    """Code that `check` cannot follow on shapes alone (Python reading a computed value,
    control flow that depends on a symbolic size)."""


class ShapeError(RuntimeError):
    """A shape or dtype mismatch found by `check`, before any data was computed.

    `file`, `line`: the user's source line; `scope`: the module path (`encoder.fc2`, "" outside
    any submodule); `module`: that module's class name; `op`: the op or function that refused
    its arguments; `inputs`: its tensor arguments by name, as `TensorSpec`s; `reason`: eager
    mode's message, sizes written with the symbols."""

    def __init__(self, message: str, *, file: str | None, line: int | None, scope: str,
                 module: str | None, op: str, inputs: dict[str, TensorSpec],
                 reason: str) -> None:  # fmt: skip
        super().__init__(message)
        self.file, self.line, self.scope, self.module = file, line, scope, module
        self.op, self.inputs, self.reason = op, inputs, reason


# --- symbolic sizes -----------------------------------------------------------------------------
Terms = dict[tuple[str, ...], int]


class Dim:
    """A symbolic size: a name (`Dim("B")`, or the string "B" in a spec) or a polynomial of names
    with integer coefficients as `check` reports sizes that follow them (`2*B`, `B+1`, `B*T`).
    A size that is no such polynomial of the symbols (`B // 2`) prints as `?`.

    >>> B = Dim("B")
    >>> 2 * B + 1, B * Dim("T"), (B + 1).value(B=7), B == "B"
    (2*B+1, B*T, 8, True)
    """

    __slots__ = ("_terms",)
    _terms: Terms | None  # monomial (sorted names) -> coefficient; () is the constant; None: ?

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Dim(): a symbolic size is named by an identifier, got {name!r}")
        self._terms = {(name,): 1}

    @classmethod
    def _of(cls, terms: Terms | None) -> Dim | int:
        if terms is not None:
            terms = {k: v for k, v in terms.items() if v}
            if set(terms) <= {()}:
                return int(terms.get((), 0))
        d = object.__new__(cls)
        d._terms = terms
        return d

    @property
    def known(self) -> bool:
        """False for a size `check` could not write as a polynomial of the symbols."""
        return self._terms is not None

    @property
    def names(self) -> frozenset[str]:
        """The symbols this size depends on."""
        return frozenset(n for m in self._terms or () for n in m)

    def value(self, **sizes: int) -> int:
        """The size for the given values of its symbols."""
        if self._terms is None:
            raise ValueError("this size is not a polynomial of the symbols")
        missing = self.names - set(sizes)
        if missing:
            raise TypeError(f"value() needs a size for {', '.join(sorted(missing))}")
        total = 0
        for mono, c in self._terms.items():
            for n in mono:
                c *= int(sizes[n])
            total += c
        return int(total)

    def _combine(self, other: Any, mul: bool) -> Dim | int:
        a = self._terms
        b = _terms_of(other)
        if a is None or b is None:
            return Dim._of(None)
        out: Terms = {}
        if mul:
            for ma, ca in a.items():
                for mb, cb in b.items():
                    m = tuple(sorted(ma + mb))
                    out[m] = out.get(m, 0) + ca * cb
        else:
            for m, c in (*a.items(), *b.items()):
                out[m] = out.get(m, 0) + c
        return Dim._of(out)

    def __add__(self, other: Any) -> Dim | int:
        return self._combine(other, False)

    __radd__ = __add__

    def __mul__(self, other: Any) -> Dim | int:
        return self._combine(other, True)

    __rmul__ = __mul__

    def __neg__(self) -> Dim | int:
        return self._combine(-1, True)

    def __sub__(self, other: Any) -> Dim | int:
        return self._combine(-1 * other, False)

    def __rsub__(self, other: Any) -> Dim | int:
        return cast("Dim | int", (-self) + other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other.isidentifier() and self._terms == {(other,): 1}
        return isinstance(other, Dim) and self._terms is not None and self._terms == other._terms

    def __hash__(self) -> int:
        return hash(frozenset((self._terms or {}).items()))

    def __repr__(self) -> str:
        if self._terms is None:
            return "?"
        parts: list[str] = []
        for mono in sorted(self._terms, key=lambda m: (-len(m), m)):
            c = self._terms[mono]
            body = "*".join(mono)
            if not mono:
                text = str(abs(c))
            elif abs(c) == 1:
                text = body
            else:
                text = f"{abs(c)}*{body}"
            parts.append(("-" if c < 0 else "+" if parts else "") + text)
        return "".join(parts)

    __str__ = __repr__


def _terms_of(x: Any) -> Terms | None:
    if isinstance(x, Dim):
        return x._terms
    if isinstance(x, str):
        return Dim(x)._terms
    if isinstance(x, int | np.integer):
        return {(): int(x)}
    raise TypeError(f"a size is an int, a str or a Dim, got {type(x).__name__}")


Size = int | Dim


class TensorSpec:
    """A tensor known by its shape (ints and symbolic `Dim`s) and dtype: what `check` takes for
    an input (make one with `spec`) and reports for each value."""

    __slots__ = ("shape", "dtype", "requires_grad")

    def __init__(self, shape: Sequence[Any], dtype: Any = None,
                 requires_grad: bool = False) -> None:  # fmt: skip
        dims: list[Size] = []
        for n in shape:
            if isinstance(n, str):
                n = Dim(n)
            elif isinstance(n, int | np.integer) and not isinstance(n, bool):
                if n < 0:
                    raise ValueError(f"spec(): negative size {n} in {list(shape)}")
                n = int(n)
            elif not isinstance(n, Dim):
                raise TypeError(f"spec(): a size is an int, a str or a Dim, got {n!r}")
            dims.append(n)
        self.shape: tuple[Size, ...] = tuple(dims)
        self.dtype: dtypes.dtype = (
            dtypes.get_default_dtype() if dtype is None else dtypes.to_dtype(dtype)
        )
        self.requires_grad = bool(requires_grad)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def symbols(self) -> frozenset[str]:
        """The names of the symbolic sizes in the shape."""
        out: frozenset[str] = frozenset()
        for n in self.shape:
            if isinstance(n, Dim):
                out |= n.names
        return out

    def sizes(self, **symbols: int) -> tuple[int, ...]:
        """The shape with the symbols given values."""
        return tuple(n.value(**symbols) if isinstance(n, Dim) else n for n in self.shape)

    def numel(self, **symbols: int) -> int:
        """The number of elements, for the given sizes of the symbols."""
        n = 1
        for d in self.sizes(**symbols):
            n *= d
        return n

    def nbytes(self, **symbols: int) -> int:
        """The bytes a tensor of this spec holds, for the given sizes of the symbols."""
        return self.numel(**symbols) * int(self.dtype.itemsize)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorSpec) and self.shape == other.shape
                and self.dtype == other.dtype)  # fmt: skip

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype.name))

    def __repr__(self) -> str:
        return f"{self.dtype.name}[{', '.join(map(str, self.shape))}]"


def spec(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> TensorSpec:
    """An input for `check`: a shape (sizes as ints, or names for symbolic sizes) and a dtype
    (default: the default float dtype), like `torch.empty`'s arguments.

    >>> from dygrad.jit.check import spec
    >>> spec("B", 784), spec((2, 3), dtype="int64")
    (float32[B, 784], int64[2, 3])
    """
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return TensorSpec(shape, dtype, requires_grad)


# --- the report ---------------------------------------------------------------------------------
class CheckedOp:
    """One op as `check` ran it: `op` (its registry name), `inputs` and `outputs` (TensorSpecs
    of its tensor arguments and results), `site` (the user's source line) and `scope` (the
    module path); `inplace` for `add_` and the like."""

    __slots__ = ("op", "inputs", "outputs", "site", "scope", "inplace", "view")

    def __init__(self, op: str, inputs: list[TensorSpec], outputs: list[TensorSpec],
                 site: Site | None, scope: str, inplace: bool, view: bool) -> None:  # fmt: skip
        self.op, self.inputs, self.outputs = op, inputs, outputs
        self.site, self.scope, self.inplace, self.view = site, scope, inplace, view

    @property
    def where(self) -> str:
        return "?" if self.site is None else f"{os.path.basename(self.site.file)}:{self.site.line}"

    def __repr__(self) -> str:
        name = self.op + ("_" if self.inplace else "")
        outs = ", ".join(map(repr, self.outputs))
        return f"{name}({', '.join(map(repr, self.inputs))}) -> {outs}"


class CheckResult:
    """What `check` found: `outputs` (a TensorSpec per tensor in the result, in order), `output`
    (the result's structure with TensorSpecs in place of tensors), `ops` (every op, a
    `CheckedOp`), `symbols` (the symbolic sizes' names). `str()` gives the per-op report."""

    def __init__(self, name: str, ops: list[CheckedOp], output: Any, outputs: list[TensorSpec],
                 symbols: tuple[str, ...]) -> None:  # fmt: skip
        self.name, self.ops, self.output, self.outputs = name, ops, output, outputs
        self.symbols = symbols

    def activation_bytes(self, **sizes: int) -> int:
        """The bytes eager mode would hold if every op result stayed alive (views, which share
        their base's memory, excluded), for the given sizes of the symbols: the forward's
        memory with autograd keeping everything, an upper bound without."""
        return sum(o.nbytes(**sizes) for op in self.ops if not op.view and not op.inplace
                   for o in op.outputs)  # fmt: skip

    def format(self) -> str:
        """One line per op (with its source line and module path), then the outputs."""
        sym = f"; symbolic: {', '.join(self.symbols)}" if self.symbols else ""
        lines = [f"check({self.name}): {len(self.ops)} ops{sym}"]
        for op in self.ops:
            note = op.where + (f" ({op.scope})" if op.scope else "")
            lines.append(f"  {op!r:<66}  # {note}")
        lines.append(f"  -> {', '.join(map(repr, self.outputs)) or 'no tensors'}")
        return "\n".join(lines)

    __str__ = format

    def __repr__(self) -> str:
        return f"<CheckResult {self.name}: {len(self.ops)} ops -> {self.outputs}>"


# --- running on shapes --------------------------------------------------------------------------
class _ShapeOnlyNode(Node):
    """The grad_fn of a tensor made by `check`: named as eager mode's, with nothing to run."""

    __slots__ = ()

    def _apply(self, grads: Any, create_graph: bool) -> Any:
        raise CheckError(
            "backward() inside checked code: dygrad.jit.check runs the forward on shapes only. "
            "Check the forward, and call backward outside the checked function."
        )


_NODES: dict[str, type[_ShapeOnlyNode]] = {}


def _node(op: Op, n: int) -> Node:
    cls = _NODES.get(op.grad_fn)
    if cls is None:
        cls = _NODES[op.grad_fn] = type(op.grad_fn, (_ShapeOnlyNode,), {"__slots__": ()})
    node = cls()
    if n != 1:
        node.n_outputs = n
    return node


def _stand_in(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    # Every element is the one element of a fresh 0-d array (writable, so that code writing
    # through `t._data[key] = v` runs: the write lands on that element).
    return as_strided(np.ones((), dtype), shape, (0,) * len(shape))


def _spec_of(a: Any) -> Spec:
    d = a._data if isinstance(a, Tensor) else a
    return Spec(d.shape, d.dtype)


def _where(site: Site | None) -> str:
    return "an unknown line" if site is None else f"{os.path.basename(site.file)}:{site.line}"


_KINDS = {"bool": "bool() of", "item": ".item() of", "int": "int() of", "float": "float() of",
          "index": "an index taken from", "tolist": ".tolist() of",
          "numpy": ".numpy() of"}  # fmt: skip


class _Failure:
    """Where and why a run stopped: the op or function that refused its arguments."""

    def __init__(self, exc: BaseException, op: str, inputs: list[tuple[str, Spec]],
                 site: Site | None, scope: str, index: int) -> None:  # fmt: skip
        self.exc, self.op, self.inputs, self.scope, self.index = exc, op, inputs, scope, index
        self.file = None if site is None else site.file
        self.line = None if site is None else site.line


class _Run:
    """The dispatch hook of one run (the protocol of `dygrad.jit.tracer.Tracer`): each op gets
    its result's shapes and dtypes from `infer` and returns tensors that have no data."""

    def __init__(self, scope: list[str]) -> None:
        self.meta: dict[int, Tensor] = {}  # id -> tensor whose values are unknown (kept alive)
        self.meta_arrays: dict[int, Tensor] = {}  # id(its array) -> that tensor
        self.made_here: set[int] = set()  # tensors created inside the checked code
        self.ours: set[int] = set()  # tensors without data made by this run (free to change)
        self.keep: list[Any] = []
        self.events: list[tuple[Op, list[Spec], list[Spec], Site | None, str, bool]] = []
        self.scope = scope
        self.failure: _Failure | None = None

    # --- tensors without data -------------------------------------------------------------------
    def mark(self, t: Tensor) -> None:
        self.meta[id(t)] = t
        self.meta_arrays[id(t._data)] = t

    def is_meta(self, a: Any) -> bool:
        return isinstance(a, Tensor) and id(a) in self.meta

    def new(self, s: Spec, req: bool, node: Node | None, nr: int) -> Tensor:
        prev, state.dispatch_hook = state.dispatch_hook, None  # not a tensor the code made
        try:
            t = Tensor._wrap(_stand_in(s.shape, s.dtype), req, node, nr)
        finally:
            state.dispatch_hook = prev
        self.mark(t)
        self.ours.add(id(t))
        return t

    def input(self, x: TensorSpec | Tensor, sizes: Mapping[str, int]) -> Tensor:
        if isinstance(x, Tensor):
            s, req = _spec_of(x), x._requires_grad
        else:
            s, req = Spec(x.sizes(**sizes), x.dtype.np), x.requires_grad
        return self.new(s, req, None, 0)

    # --- the hook protocol --------------------------------------------------------------------
    def _specs(self, op: Op, args: tuple[Any, ...]) -> tuple[list[Any], list[Spec]]:
        ins: list[Spec] = []
        if op.variadic:
            seq = []
            for t in args[0]:
                if not isinstance(t, Tensor | np.ndarray):
                    prev, state.dispatch_hook = state.dispatch_hook, None
                    try:
                        t = tensor(t)  # as dispatch converts a number in the list
                    finally:
                        state.dispatch_hook = prev
                seq.append(_spec_of(t))
            ins = list(seq)
            return [seq, *args[1:]], ins
        out: list[Any] = []
        for i, a in enumerate(args):
            if i < op.n_in and isinstance(a, Tensor | np.ndarray):
                a = _spec_of(a)
                ins.append(a)
            out.append(a)
        return out, ins

    def _data_dependent(self, a: Any, op: Op, site: Site | None) -> bool:
        # An attribute array (an index) read from a tensor without data.
        if isinstance(a, list | tuple):
            return any([self._data_dependent(x, op, site) for x in a])
        if isinstance(a, np.ndarray) and id(a) in self.meta_arrays:
            if a.dtype == np.bool_:
                raise CheckError(
                    f"{_where(site)}: {op.name}() with a boolean mask computed from the checked "
                    "inputs: the result's shape depends on their values, which dygrad.jit.check "
                    "does not have."
                )
            return True
        return False

    def op(self, op: Op, args: tuple[Any, ...]) -> Any:
        site = user_line(1)
        scope = self.scope[-1] if self.scope else ""
        tensors = list(args[0]) if op.variadic else list(args[: op.n_in])
        if not any(isinstance(t, Tensor) for t in tensors):
            return self.run_real(op, args)
        unknown = any([self.is_meta(t) for t in tensors])
        n_in = 1 if op.variadic else op.n_in
        if any([self._data_dependent(a, op, site) for a in args[n_in:]]):
            unknown = True
        sargs, ins = self._specs(op, args)
        try:
            res = infer(op, *sargs)
        except (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError) as err:
            self.failure = _Failure(err, op.name, _named(op, args, ins), site, scope,
                                    len(self.events))  # fmt: skip
            raise
        outs = list(res) if isinstance(res, tuple) else [res]
        self.events.append((op, ins, outs, site, scope, False))
        if (
            not unknown
            and not op.random
            and (op.view or sum(int(np.prod(s.shape)) for s in outs) <= _REAL_LIMIT)
        ):
            return self.run_real(op, args)  # small and known: Python may read its values
        ts = [t for t in tensors if isinstance(t, Tensor)]
        req_any = state.enabled and op.differentiable and any(t._requires_grad for t in ts)
        node = _node(op, len(outs)) if req_any else None
        made = []
        for j, s in enumerate(outs):
            dif = op.differentiable_outputs[j] if op.differentiable_outputs else True
            req = req_any and dif and (op.n_outputs != 1 or s.dtype.kind == "f")
            t = self.new(s, req, node if req else None, j)
            src = tensors[0]
            if op.view and isinstance(src, Tensor):  # as dispatch shares a view's base
                t._base = src if src._base is None else src._base
                t._vc = src._vc
            made.append(t)
        return made[0] if op.n_outputs == 1 else tuple(made)

    def run_real(self, op: Op, args: tuple[Any, ...]) -> Any:
        prev, state.dispatch_hook = state.dispatch_hook, None
        try:
            return apply(op, *args)
        finally:
            state.dispatch_hook = prev

    def inplace(self, op: Op, target: Any, rest: tuple[Any, ...]) -> Any:
        site = user_line(1)
        scope = self.scope[-1] if self.scope else ""
        if not isinstance(target, Tensor):
            raise TypeError(f"{op.name}_(): expected a Tensor, got {type(target).__name__}")
        args = (target, *rest)
        sargs, ins = self._specs(op, args)
        try:
            # Eager mode's checks, in its order: recording, then the result's dtype and shape.
            record = state.enabled and (
                target._requires_grad or any(isinstance(a, Tensor) and a._requires_grad
                                             for a in rest))  # fmt: skip
            if record and target.grad_fn is None and target._requires_grad:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
            res = infer(op, *sargs)
            td = target._data
            if res.dtype != td.dtype and not dtypes.can_cast(res.dtype, td.dtype):
                _cast_error(res.dtype, td.dtype)
            if res.shape != td.shape:
                raise RuntimeError(f"output with shape {list(td.shape)} doesn't match the "
                                   f"broadcast shape {list(res.shape)}")  # fmt: skip
        except (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError) as err:
            self.failure = _Failure(err, op.name + "_", _named(op, args, ins), site, scope,
                                    len(self.events))  # fmt: skip
            raise
        self.events.append((op, ins, [Spec(td.shape, td.dtype)], site, scope, True))
        unknown = op.random or any([self.is_meta(a) for a in args])
        if not unknown and id(target) in self.made_here and td.size <= _REAL_LIMIT:
            prev, state.dispatch_hook = state.dispatch_hook, None
            try:  # a small tensor the code made itself, from known values: write it
                return apply_inplace(op, target, *rest)
            finally:
                state.dispatch_hook = prev
        # Nothing is written, and the user's parameters and buffers stay as they are (version
        # included); from here on the target's values are unknown.
        if id(target) in self.ours:
            target._vc[0] += 1
            if record:
                target._requires_grad = True
                target.grad_fn = _node(op, 1)
                target._out_nr = 0
        self.mark(target)
        return target

    def concrete(self, t: Any, kind: str, value: Any) -> Any:
        if self.is_meta(t):
            what = _KINDS.get(kind, f"{kind} of")
            raise CheckError(
                f"{_where(user_line(1))}: {what} a tensor computed from the checked inputs: "
                "data-dependent control flow cannot be checked on shapes alone (dygrad.jit.check "
                "has the inputs' shapes and dtypes, not their values). Move it out of the checked "
                "code, or pass the value in as a Python number."
            )
        return value

    def made(self, t: Any, src: Any) -> None:
        # A detached tensor has its source's values; one computed outside the ops
        # (torch.where(cond)) may have been computed from a tensor without data: unknown.
        if src is None or self.is_meta(src):
            self.mark(t)
        self.keep.append(t)

    def created(self, t: Any, regen: Callable[[], Any] | None) -> None:
        # Made by a creation function inside the checked code: real values.
        self.meta.pop(id(t), None)
        self.meta_arrays.pop(id(t._data), None)
        self.made_here.add(id(t))
        self.keep.append(t)

    def refuse(self, what: str) -> None:
        pass  # hooks and custom Functions change nothing about shapes

    # --- after a failure ------------------------------------------------------------------------
    def failure_of(self, exc: BaseException) -> _Failure | None:
        """Why the run stopped, or None for an exception that is not eager mode refusing shapes
        or dtypes (the user's own, or an internal error): that one propagates as it is."""
        if self.failure is not None and self.failure.exc is exc:
            return self.failure
        if not isinstance(exc, RuntimeError | ValueError | IndexError | TypeError |
                          NotImplementedError):  # fmt: skip
            return None
        frames = [f for f, _ in traceback.walk_tb(exc.__traceback__)]
        if not frames or not frames[-1].f_code.co_filename.startswith(_PKG):
            return None  # raised by the user's code
        for f in frames:
            if f.f_code.co_filename.startswith(_ENGINE):
                raise CheckError(
                    "backward() or autograd.grad() inside checked code: dygrad.jit.check runs "
                    "the forward on shapes only and computes no gradients. Check the forward "
                    "alone."
                ) from exc
        user = [(f, ln) for f, ln in traceback.walk_tb(exc.__traceback__)
                if not f.f_code.co_filename.startswith(_PKG)]  # fmt: skip
        func = _raiser(frames)
        inputs: list[tuple[str, Spec]] = []
        if func is not None:
            code = func.f_code
            n = code.co_argcount + code.co_kwonlyargcount
            for name in code.co_varnames[:n]:
                v = func.f_locals.get(name)
                if isinstance(v, Tensor):
                    inputs.append((name, _spec_of(v)))
        name = "?" if func is None else getattr(func.f_code, "co_qualname", func.f_code.co_name)
        fail = _Failure(exc, name, inputs, None, self.scope[-1] if self.scope else "",
                        len(self.events))  # fmt: skip
        if user:
            fail.file, fail.line = user[-1][0].f_code.co_filename, user[-1][1]
        return fail


def _named(op: Op, args: tuple[Any, ...], ins: list[Spec]) -> list[tuple[str, Spec]]:
    # An op's tensor arguments by parameter name (`xs[0]`, `xs[1]` for a list of them).
    if op.variadic:
        return [(f"{op.params[0]}[{i}]", s) for i, s in enumerate(ins)]
    names = [op.params[i] for i, a in enumerate(args[: op.n_in])
             if isinstance(a, Tensor | np.ndarray)]  # fmt: skip
    return list(zip(names, ins))


def _raiser(frames: list[FrameType]) -> FrameType | None:
    # The innermost public function of dygrad on the stack (F.linear, conv2d, Tensor.view):
    # the one the user's line called, in its terms.
    for f in reversed(frames):
        code = f.f_code
        if code.co_filename.startswith(_PKG) and not code.co_name.startswith("_"):
            return f
    return None


# --- fitting sizes across runs --------------------------------------------------------------------
class _Plan:
    """The runs: every combination of two stand-in sizes per symbol, then one to verify."""

    def __init__(self, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        n = len(symbols)
        self.base = [_PRIMES[i] for i in range(n)]
        self.alt = [_PRIMES[4 + i] for i in range(n)]
        self.sizes = [
            {s: (self.alt[i] if k >> i & 1 else self.base[i]) for i, s in enumerate(symbols)}
            for k in range(1 << n)
        ]
        if n:
            self.sizes.append({s: _PRIMES[8 + i] for i, s in enumerate(symbols)})

    def fit(self, values: Sequence[int]) -> Size:
        """The size as a polynomial of the symbols (one value per run), or an int."""
        if all(v == values[0] for v in values):
            return int(values[0])
        n = len(self.symbols)
        # Multilinear interpolation on the grid of runs, one symbol at a time: afterwards c[k] is
        # the coefficient of the product of the symbols whose bits are set in k.
        c = [Fraction(v) for v in values[: 1 << n]]
        for i in range(n):
            bit, step = 1 << i, self.alt[i] - self.base[i]
            for k in range(1 << n):
                if not k & bit:
                    slope = (c[k | bit] - c[k]) / step
                    c[k], c[k | bit] = c[k] - slope * self.base[i], slope
        if any(x.denominator != 1 for x in c):
            return Dim._of(None)
        terms = {tuple(s for i, s in enumerate(self.symbols) if k >> i & 1): int(x)
                 for k, x in enumerate(c)}  # fmt: skip
        d = Dim._of(terms)
        check = d.value(**self.sizes[-1]) if isinstance(d, Dim) else d
        return d if check == values[-1] else Dim._of(None)

    def spec(self, specs: Sequence[Spec]) -> TensorSpec:
        first = specs[0]
        dims = [self.fit([s.shape[i] for s in specs]) for i in range(len(first.shape))]
        return TensorSpec(dims, first.dtype)

    def text(self, texts: Sequence[str]) -> str:
        """A message from every run, its numbers fitted: `(1009x100 and 50x10)` -> `(Bx100 and
        50x10)`."""
        parts = [re.split(r"(\d+)", t) for t in texts]
        if any(len(p) != len(parts[0]) or p[::2] != parts[0][::2] for p in parts):
            return texts[0]
        out = list(parts[0])
        for i in range(1, len(out), 2):
            d = self.fit([int(p[i]) for p in parts])
            if isinstance(d, int) or d.known:
                out[i] = str(d)
        return "".join(out)


# --- the entry point ----------------------------------------------------------------------------
def check(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> CheckResult:
    """Check `fn(*args, **kwargs)` (a function or module) on shapes and dtypes alone.

    Arguments made with `spec(...)` (or tensors: their shape and dtype only) become tensors that
    have no data; everything else is passed as it is. Each op computes its result's shape and
    dtype from its shape/dtype rule, so a model whose activations would fill gigabytes checks in
    milliseconds and kilobytes. The first mismatch raises `ShapeError` naming the module path,
    the op, its input shapes and the user's source line; Python reading a computed value (`if
    x.sum() > 0:`, `.item()`) raises `CheckError`. Symbolic sizes (`spec("B", 784)`) are
    checked by running at several stand-in sizes and report as `B`, `2*B`, `B+1`.

    Nothing is written: in-place ops check their shapes (a batch norm's running statistics and
    other buffers stay as they were); the random generator is restored afterwards. With
    symbolic sizes the code runs several times (2^k + 1 for k symbols), so Python side effects
    in it repeat. A size that is not a polynomial of the symbols (`B // 2`) reports as `?`.

    Limits: values are not checked (an index out of range, a view of a non-contiguous tensor
    that eager mode refuses); creation functions inside the code (`torch.zeros(n, ...)`,
    `zeros_like(x)`) allocate their real arrays, and `torch.where(cond)` (computed outside the
    ops) computes on the stand-in data, at full size, giving unknown values and a wrong shape.

    >>> import dygrad as torch
    >>> from dygrad.jit.check import check, spec
    >>> net = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.ReLU(),
    ...                           torch.nn.Linear(100, 10))
    >>> check(net, spec("B", 784)).outputs
    [float32[B, 10]]
    >>> try:
    ...     check(lambda x, w: x @ w, spec("B", 100), spec(50, 10))
    ... except ShapeError as e:
    ...     print(e.op, e.inputs)
    ...     print(e.reason)
    mm {'x': float32[B, 100], 'y': float32[50, 10]}
    mat1 and mat2 shapes cannot be multiplied (Bx100 and 50x10)
    """
    if state.dispatch_hook is not None:
        raise RuntimeError("dygrad.jit.check: checking inside traced or checked code is not "
                           "supported")  # fmt: skip
    leaves, tree = tree_flatten((args, kwargs))
    symbols: list[str] = []
    for x in leaves:
        if isinstance(x, TensorSpec):
            for n in x.shape:
                if isinstance(n, Dim):
                    if not n.known:
                        raise ValueError("check(): an input's size cannot be '?'")
                    symbols += sorted(n.names - set(symbols))
    if len(symbols) > _MAX_SYMBOLS:
        raise ValueError(f"check(): at most {_MAX_SYMBOLS} symbolic sizes, got {symbols}")
    plan = _Plan(tuple(symbols))
    modules = dict(fn.named_modules()) if hasattr(fn, "named_modules") else {}
    scope: list[str] = []
    handles = _scope_hooks(fn, cast(Any, _Scopes(scope))) if modules else []
    rng = _rng[0].bit_generator.state
    saved_track = state.track_source
    state.track_source = True  # each op's source line
    sync_node_extra()
    caller = user_line(1)  # where an error inside dygrad's own modules is reported
    runs: list[_Run] = []
    outs: list[Any] = []
    try:
        for sizes in plan.sizes:
            scope.clear()
            run = _Run(scope)
            runs.append(run)
            out = _execute(fn, run, leaves, tree, sizes)
            outs.append(out)
            if isinstance(out, BaseException):
                run.failure = run.failure_of(out)
                if run.failure is None:  # the user's own exception, or an internal error
                    add_note = getattr(out, "add_note", None)  # Python 3.11+
                    if sizes and add_note is not None:
                        note = f"{_sizes(sizes)} standing in for the symbolic sizes"
                        add_note(f"(raised while dygrad.jit.check ran the code with {note})")
                    raise out
    finally:
        for h in handles:
            h.remove()
        state.track_source = saved_track
        sync_node_extra()
        _rng[0].bit_generator.state = rng
    failed = [k for k, o in enumerate(outs) if isinstance(o, BaseException)]
    if failed:
        raise _shape_error(plan, runs, outs, failed, modules, caller) from outs[failed[0]]
    _same_path(plan, runs, outs)
    ops = []
    for i, (op, ins, res, site, sc, inplace) in enumerate(runs[0].events):
        per = [r.events[i] for r in runs]
        fit_in = [plan.spec([e[1][j] for e in per]) for j in range(len(ins))]
        fit_out = [plan.spec([e[2][j] for e in per]) for j in range(len(res))]
        ops.append(CheckedOp(op.name, fit_in, fit_out, site, sc, inplace, op.view))
    out_leaves, out_tree = tree_flatten(outs[0])
    per_run = [tree_flatten(o)[0] for o in outs]
    result: list[Any] = []
    for j, leaf in enumerate(out_leaves):
        if isinstance(leaf, Tensor):
            result.append(plan.spec([_spec_of(r[j]) for r in per_run]))
        else:  # a size read from a shape follows the symbols; other values must not vary
            result.append(_fit_value(plan, [r[j] for r in per_run]))
    name = type(fn).__name__ if modules else getattr(fn, "__name__", type(fn).__name__)
    return CheckResult(name, ops, tree_unflatten(result, out_tree),
                       [s for s in result if isinstance(s, TensorSpec)], plan.symbols)  # fmt: skip


def _fit_value(plan: _Plan, values: list[Any]) -> Any:
    v = values[0]
    if isinstance(v, int) and not isinstance(v, bool):
        return plan.fit(values)
    if isinstance(v, tuple) and all(isinstance(n, int) for n in v):  # a torch.Size
        return tuple(plan.fit([x[i] for x in values]) for i in range(len(v)))
    return v if all(x == v for x in values[1:]) else Dim._of(None)


class _Scopes:
    """The module path stack that `_scope_hooks` pushes to, shared by the runs."""

    def __init__(self, scope: list[str]) -> None:
        self.scope = scope


def _execute(fn: Callable[..., Any], run: _Run, leaves: list[Any], tree: Any,
             sizes: Mapping[str, int]) -> Any:  # fmt: skip
    """One run at the given symbol sizes: fn's result, or the exception that stopped it."""
    ins = [run.input(x, sizes) if isinstance(x, TensorSpec | Tensor) else x for x in leaves]
    args, kwargs = tree_unflatten(ins, tree)
    state.dispatch_hook = run
    hook_open[0] += 1
    try:
        return fn(*args, **kwargs)
    except CheckError:
        raise
    except Exception as e:  # noqa: BLE001 - every run's failure is compared below
        return e
    finally:
        state.dispatch_hook = None
        hook_open[0] -= 1


def _same_path(plan: _Plan, runs: list[_Run], outs: list[Any]) -> None:
    # Every run must call the same ops from the same lines and return the same structure:
    # otherwise Python chose its path by a symbolic size, and no one result holds for every size.
    kinds = [[isinstance(x, Tensor) for x in tree_flatten(o)[0]] for o in outs]
    for k, kind in enumerate(kinds):
        if kind != kinds[0] or tree_flatten(outs[k])[1] != tree_flatten(outs[0])[1]:
            raise CheckError(
                f"the result's structure differs for other values of {', '.join(plan.symbols)} "
                f"({_sizes(plan.sizes[0])} and {_sizes(plan.sizes[k])}): check with concrete "
                "sizes."
            )
    first = runs[0].events
    for k, r in enumerate(runs[1:], 1):
        for i in range(max(len(first), len(r.events))):
            a = first[i] if i < len(first) else None
            b = r.events[i] if i < len(r.events) else None
            if a is None or b is None or a[0] is not b[0] or a[3] is not b[3]:
                at = a if a is not None else b
                assert at is not None
                raise CheckError(
                    f"{_where(at[3])}: the code runs other ops for other values of "
                    f"{', '.join(plan.symbols)} ({_sizes(plan.sizes[0])}: "
                    f"{'nothing' if a is None else a[0].name + '()'}; {_sizes(plan.sizes[k])}: "
                    f"{'nothing' if b is None else b[0].name + '()'}), so no one result holds for "
                    "every size: check with concrete sizes."
                )


def _sizes(s: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items())


def _shape_error(plan: _Plan, runs: list[_Run], outs: list[Any], failed: list[int],
                 modules: Mapping[str, Any], caller: Site | None) -> Exception:  # fmt: skip
    fails = [runs[k].failure for k in failed]
    f0 = fails[0]
    assert f0 is not None
    same = len(failed) == len(runs) and all(
        f is not None
        and (f.index, f.op, f.line, type(f.exc), [n for n, _ in f.inputs])
        == (f0.index, f0.op, f0.line, type(f0.exc), [n for n, _ in f0.inputs])
        for f in fails
    )
    if same:
        inputs = {n: plan.spec([f.inputs[j][1] for f in fails if f is not None])
                  for j, (n, _) in enumerate(f0.inputs)}  # fmt: skip
        reason = plan.text([str(f.exc) for f in fails if f is not None])
        extra = ""
    else:  # the code works for some sizes only
        inputs = {n: TensorSpec(s.shape, s.dtype) for n, s in f0.inputs}
        reason = str(f0.exc)
        ok = [k for k in range(len(runs)) if k not in failed]
        extra = (f" (with {_sizes(plan.sizes[failed[0]])}; it runs with "
                 f"{_sizes(plan.sizes[ok[0]]) if ok else 'other sizes'}: the code does not "
                 "hold for every value of the symbolic sizes)")  # fmt: skip
    if f0.file is None and caller is not None:  # a module of dygrad's own, called by check()
        f0.file, f0.line = caller.file, caller.line
    # An op's own name starts its message already ("mm(): ..."): say it once.
    reason = re.sub(rf"^{re.escape(f0.op)}\(\): ", "", reason)
    mod = modules.get(f0.scope) if f0.scope else None
    where = "an unknown line" if f0.file is None else f"{os.path.basename(f0.file)}:{f0.line}"
    head = where
    if f0.scope:
        head += f", module '{f0.scope}' ({type(mod).__name__})"
    args = ", ".join(f"{n}={s!r}" for n, s in inputs.items())
    msg = f"{head}: {f0.op}({args}): {reason}{extra}"
    src = linecache.getline(f0.file, f0.line).strip() if f0.file and f0.line else ""
    if src:
        msg += f"\n    {src}"
    return ShapeError(msg, file=f0.file, line=f0.line, scope=f0.scope,
                      module=None if mod is None else type(mod).__name__, op=f0.op,
                      inputs=inputs, reason=reason + extra)  # fmt: skip
