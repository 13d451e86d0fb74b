"""The op registry: `defop` declares an op once (forward, backward rules, grad_fn name, dtype and
shape rule) and `apply` is the one dispatch function, the only place that wraps results in tensors
and creates graph nodes (its common cases, one or two tensor inputs and one output, unrolled in
`apply1`/`apply2`, which Tensor's methods call directly). Called with no tensor among its
arguments, an op runs
on raw arrays: that is how backward rules run without building graph when `create_graph=False`."""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable, Sequence
from sys import _getframe
from types import FrameType
from typing import Any, NoReturn

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import fw_open, hook_open, state
from ..autograd.graph import (
    FREED_MSG,
    Node,
    SavedRecord,
    current_saved_hooks,
    hooks_open,
    leaf_tensors,
    next_seq,
    pack_saved,
    saved_grad_fn,
    unpack_saved,
)
from ..backend import sum_to_shape

__all__ = [
    "Op", "OpNode", "defop", "apply", "apply1", "apply2", "apply_inplace", "REGISTRY",
    "set_tensor_class",
]

REGISTRY: dict[str, Op] = {}

# The Tensor class, installed by dygrad.tensor at import time: the one seam between ops and
# tensors (ops return tensors, tensor methods call ops).
_T: Any = None
_new = object.__new__
_ndarray = np.ndarray


def set_tensor_class(cls: type) -> None:
    global _T
    _T = cls


# ---------------------------------------------------------------------------------------------
# dtype rules: given the unwrapped input values, return the NumPy dtype the inputs are cast to
# before the forward runs (None: leave them as they are).


_SCALARS = (int, float, bool, np.number, np.bool_)


def _common(vals: Sequence[Any]) -> np.dtype | None:
    first = None
    uniform = True
    for v in vals:
        if type(v) is _ndarray:
            if first is None:
                first = v.dtype
            elif v.dtype != first:
                uniform = False
        elif type(v) is float:
            if first is not None and first.kind != "f":
                uniform = False
        elif not isinstance(v, _SCALARS):
            raise TypeError(f"expected a tensor or a number as operand, got {type(v).__name__}")
    if uniform and first is not None:
        if first.kind == "f":
            return None
        # Integer or bool arrays with a Python float need PyTorch's default float, not float64;
        # bool arrays with a Python int promote to int64 (the shape checker reads this rule).
        if not any(type(v) is float for v in vals) and not (
            first.kind == "b" and any(type(v) is int for v in vals)
        ):
            return None
    return dtypes.result_type(*[_Meta(v) if type(v) is _ndarray else v for v in vals]).np


class _Meta:
    # Views an array as PyTorch sees it for promotion: 0-d arrays rank below dimensioned ones.
    __slots__ = ("dtype", "ndim")

    def __init__(self, a: np.ndarray) -> None:
        self.dtype = dtypes.from_numpy_dtype(a.dtype)
        self.ndim = a.ndim


def promote(vals: Sequence[Any]) -> np.dtype | None:
    """Inputs are cast to their PyTorch result type."""
    return _common(vals)


def promote_float(vals: Sequence[Any]) -> np.dtype | None:
    """Like `promote`, and integer results become the default float (true division, exp, ...)."""
    d = _common(vals)
    if d is None:
        for v in vals:
            if type(v) is _ndarray:
                if v.dtype.kind == "f":
                    return None
                break
        return dtypes.get_default_dtype().np
    return d if d.kind == "f" else dtypes.get_default_dtype().np


# ---------------------------------------------------------------------------------------------


class OpNode(Node):
    """The node an op records: its saved inputs and attributes, and the op's rules to run."""

    __slots__ = ("_saved", "_vers", "_out", "_meta", "_src")
    op: Op
    # Saved operands and attributes by forward parameter (a `_HookedSaved` once saved-tensor
    # hooks stored them); None once freed.
    _saved: tuple[Any, ...] | None
    _vers: tuple[int, ...]  # the saved tensors' versions when they were saved
    # (output array(s), its version counter, that version[, its forward-mode tangents]).
    _out: tuple[Any, ...] | None
    _meta: list[tuple[tuple[int, ...], np.dtype] | None] | None  # input (shape, dtype) to fit
    _src: Site | None
    _meta_out: tuple[tuple[tuple[int, ...], np.dtype], ...]  # a multi-output node's (slot there)
    _fresh_grads = True
    # Created on the hot path and filled in by _record: skip Node.__init__.
    __init__ = object.__init__

    def _unpack(self, create_graph: bool) -> list[Any]:
        # The values the rules name, by forward parameter position + 1; slot 0 is `out`.
        op = self.op
        saved = self._saved
        if saved is None:
            raise RuntimeError(FREED_MSG)
        if type(saved) is _HookedSaved:  # stored through saved-tensor hooks
            return _unpack_hooked(self, saved, create_graph)
        env: list[Any] = [None, *saved]
        if op.saves_inputs:
            vers = self._vers
            k = 0
            for i in op.kept:
                v = saved[i]
                if isinstance(v, _T):
                    if v._vc[0] != vers[k]:
                        raise RuntimeError(_stale_message(v, op, vers[k], node=self))
                    k += 1
                    if not create_graph:
                        env[i + 1] = v._data
                elif type(v) is list and not create_graph:  # a variadic op's tensors
                    env[i + 1] = [t._data for t in v]
        if op.saves_out:
            saved_out = self._out
            assert saved_out is not None  # freed (or moved to hooks) with _saved, checked above
            out, box, ver = saved_out[0], saved_out[1], saved_out[2]
            if box[0] != ver:
                raise RuntimeError(_stale_message(None, op, ver, box[0], node=self, vc=box))
            if create_graph:
                if op.n_outputs == 1:
                    out = _T._wrap(out, True, self, 0)
                else:
                    dif = op.differentiable_outputs or (True,) * len(out)
                    out = tuple(
                        _T._wrap(o, dif[j], self if dif[j] else None, j) for j, o in enumerate(out)
                    )
                if len(saved_out) > 3:  # the output's forward-mode tangents (forward-over-reverse)
                    fws = saved_out[3]
                    for o, fw in zip(out, fws) if op.n_outputs != 1 else ((out, fws),):
                        o._fw = fw
            env[0] = out
        return env

    def _apply(self, g: Any, create_graph: bool) -> Sequence[Any]:
        op = self.op
        env: Sequence[Any] = self._unpack(create_graph) if op.saves_anything or op.has_attrs else ()
        if op.n_outputs != 1:
            # A split into one piece has one output: the engine then hands over a bare gradient.
            g = self._materialize([g] if self.n_outputs == 1 else g, create_graph)
        if op.variadic:
            rule = op.vjp_all
            assert rule is not None  # a variadic op records a node only when it has its rule
            return tuple(rule(g, *[env[j] for j in op.vjp_args[0]]))
        grads = [
            None if nxt is None else _vjp(op, i, g, env)
            for i, (nxt, _) in enumerate(self.next_functions)
        ]
        meta = self._meta
        if meta is not None:
            for i, m in enumerate(meta):
                if m is not None and grads[i] is not None:
                    grads[i] = _fit(grads[i], m, op, i)
        return grads

    def _materialize(self, gs: list[Any], create_graph: bool) -> tuple[Any, ...]:
        # Outputs that received no gradient contribute zeros to a multi-output rule.
        res = []
        for j, gj in enumerate(gs):
            if gj is None:
                shape, dt = self._meta_out[j]
                z = np.zeros(shape, dt)
                gj = _T._wrap(z, False, None, 0) if create_graph else z
            res.append(gj)
        return tuple(res)

    def _release(self) -> None:
        # Attributes (dims, shapes) stay: like PyTorch, only saved tensors are freed.
        if self.op.saves_tensors:
            self._saved = None
            self._out = None

    @property
    def _saved_tensors_count(self) -> int:
        return 0 if self._saved is None else sum(isinstance(v, _T) for v in self._saved)

    def _read_saved(self, i: int) -> Any:
        # `_saved_<name>`: forward parameter i's saved value (-1: the output), as PyTorch's
        # `_saved_self`, `_saved_result`, ... Each op's node class has one property per name
        # (`_saved_attrs`): a `__getattr__` here would slow every attribute read on every node.
        saved = self._saved
        if saved is None:
            raise RuntimeError(FREED_MSG)
        if type(saved) is _HookedSaved:
            return _hooked_attr(self, saved, i)
        if i < 0:
            assert self._out is not None  # freed (or moved to hooks) with _saved
            return self._out[0]
        return saved[i]


def _saved_attrs(op: Op) -> dict[str, property]:
    """The `_saved_<name>` properties of `op`'s node class: one per forward parameter, and
    `_saved_result` when its rules keep the output."""
    names = [(f"_saved_{p}", i) for i, p in enumerate(op.params)]
    if op.saves_out:
        names.append(("_saved_result", -1))
    return {nm: _saved_property(i) for nm, i in names}


def _saved_property(i: int) -> property:
    def get(self: OpNode) -> Any:
        return self._read_saved(i)

    return property(get)


def _vjp(op: Op, i: int, g: Any, env: Sequence[Any]) -> Any:
    # Input i's rule on the incoming gradient and the values it names.
    rule = op.vjps[i]
    if rule is None:  # a tensor requiring grad was passed where the op has no rule
        raise RuntimeError(
            f"The function '{op.name}' is not differentiable with respect to argument "
            f"'{op.params[i]}'. This input cannot have requires_grad True."
        )
    idx = op.vjp_args[i]
    # The common arities spelled out: a comprehension per call costs more than most rules' own
    # NumPy work on small arrays.
    k = len(idx)
    if k == 1:
        return rule(g, env[idx[0]])
    if k == 2:
        return rule(g, env[idx[0]], env[idx[1]])
    return rule(g, *[env[j] for j in idx]) if k else rule(g)


class _Node1(OpNode):
    """The node of an op with one tensor input and one output (`Op.fast` 1): `_apply` without
    the loops over inputs. Its input needs a gradient (or nothing would have been recorded)."""

    __slots__ = ()

    def _apply(self, g: Any, create_graph: bool) -> Sequence[Any]:
        op = self.op
        gi = _vjp(op, 0, g, self._unpack(create_graph) if op.vjp_args[0] else _EMPTY)
        meta = self._meta
        if meta is not None and (m := meta[0]) is not None:
            gi = _fit(gi, m, op, 0)
        return [gi]


class _Node2(OpNode):
    """The node of an op with two tensor inputs and one output (`Op.fast` 2)."""

    __slots__ = ()

    def _apply(self, g: Any, create_graph: bool) -> Sequence[Any]:
        op = self.op
        env = self._unpack(create_graph) if op.saves_anything or op.has_attrs else _EMPTY
        (n0, _), (n1, _) = self.next_functions
        # The rules of no or one named value called here, the others through _vjp (a call
        # less per rule: 1.0% of W2's instructions).
        g0 = g1 = None
        if n0 is not None:
            rule, idx = op.vjps[0], op.vjp_args[0]
            if rule is not None and len(idx) < 2:
                g0 = rule(g, env[idx[0]]) if idx else rule(g)
            else:
                g0 = _vjp(op, 0, g, env)
        if n1 is not None:
            rule, idx = op.vjps[1], op.vjp_args[1]
            if rule is not None and len(idx) < 2:
                g1 = rule(g, env[idx[0]]) if idx else rule(g)
            else:
                g1 = _vjp(op, 1, g, env)
        meta = self._meta
        if meta is not None:
            m = meta[0]
            if m is not None and g0 is not None:
                g0 = _fit(g0, m, op, 0)
            m = meta[1]
            if m is not None and g1 is not None:
                g1 = _fit(g1, m, op, 1)
        return [g0, g1]


class _MultiOutNode(OpNode):
    __slots__ = ("_meta_out", "n_outputs")
    _meta_out: tuple[tuple[tuple[int, ...], np.dtype], ...]  # outputs' (shape, dtype)
    n_outputs: int


# ---------------------------------------------------------------------------------------------
# Saved values stored through saved-tensor hooks (`dygrad.autograd.graph.saved_tensors_hooks`)


class _HookedSaved(tuple[Any, ...]):
    """A node's `_saved` when hooks stored it: a `SavedRecord` (a list of them for a variadic
    op) where a tensor or array operand was, None where no rule that will run needs the value,
    attributes as they were; the output's records, version counter and version beside them."""

    out: tuple[SavedRecord, ...] | None = None
    out_box: list[int] | None = None
    out_ver = 0


def _pack_node(op: Op, node: OpNode) -> None:
    # Hooks are open in some thread; in this one, store what the node saved through them. Like
    # PyTorch, only values named by the rules of inputs that need a gradient are kept.
    hooks = current_saved_hooks()
    if hooks is None or not op.saves_tensors:
        return
    edges = node.next_functions
    needed: set[int] = set()
    for i, (nxt, _) in enumerate(edges):
        if nxt is not None:
            needed.update(op.vjp_args[0 if op.variadic else i])
    T = _T
    assert node._saved is not None  # recorded just now
    saved = list(node._saved)
    for i in op.kept:
        v = saved[i]
        if i + 1 not in needed:
            saved[i] = None
        elif isinstance(v, T):
            saved[i] = pack_saved(hooks, v, v._vc, *edges[i])
        elif type(v) is list:  # a variadic op's tensors, one edge each
            saved[i] = [pack_saved(hooks, t, t._vc, *edges[j]) for j, t in enumerate(v)]
        elif type(v) is _ndarray:  # an array operand (dropout's mask): a tensor to the hooks
            saved[i] = pack_saved(hooks, T._wrap(v, False, None, 0), None, raw=True)
    hs = _HookedSaved(saved)
    if op.saves_out and 0 in needed:
        assert node._out is not None  # recorded just now
        out, box, ver = node._out[0], node._out[1], node._out[2]
        outs = (out,) if op.n_outputs == 1 else out
        dif = op.differentiable_outputs or (True,) * len(outs)
        recs = []
        for j, o in enumerate(outs):
            # A detached tensor over the output's data: the node must not hold its own output.
            t = T._wrap(o, False, None, 0)
            t._vc = box
            recs.append(pack_saved(hooks, t, None, None, j, own=True, req=dif[j]))
        hs.out, hs.out_box, hs.out_ver = tuple(recs), box, ver
    node._saved = hs
    node._out = None


def _load(rec: SavedRecord, node: OpNode, create_graph: bool) -> Any:
    box = rec.box
    if box is not None and box[0] != rec.version:
        # The same message as without hooks: from the saved tensor, or a stand-in once it died.
        t = rec.ref()
        if t is None:
            t = _T._wrap(np.broadcast_to(np.zeros((), rec.dtype), rec.shape), False,
                         saved_grad_fn(rec), rec.nr)  # fmt: skip
            t._vc = box
        raise RuntimeError(_stale_message(t, node.op, rec.version, node=node))
    return unpack_saved(rec, _T, create_graph and not rec.raw)


def _unpack_hooked(node: OpNode, hs: _HookedSaved, create_graph: bool) -> list[Any]:
    """`OpNode._unpack` for values stored through hooks: every unpack_hook runs again."""
    op = node.op
    env: list[Any] = [None, *hs]
    for i in op.kept:
        v = hs[i]
        if type(v) is SavedRecord:
            env[i + 1] = _load(v, node, create_graph)
        elif type(v) is list:
            env[i + 1] = [_load(r, node, create_graph) for r in v]
    if hs.out is not None:
        box = hs.out_box
        if box is not None and box[0] != hs.out_ver:
            raise RuntimeError(_stale_message(None, op, hs.out_ver, box[0], node=node, vc=box))
        outs = [unpack_saved(r, _T, create_graph, node) for r in hs.out]
        env[0] = outs[0] if op.n_outputs == 1 else tuple(outs)
    return env


def _hooked_attr(node: OpNode, hs: _HookedSaved, i: int) -> Any:
    # `_saved_<name>` of a node stored through hooks: unpacked again, as in PyTorch.
    if i < 0:
        if hs.out is None:
            return None
        outs = [unpack_saved(r, _T, False) for r in hs.out]
        return outs[0] if node.op.n_outputs == 1 else tuple(outs)
    v = hs[i]
    if type(v) is SavedRecord:
        return unpack_saved(v, _T, not v.raw)
    if type(v) is list:
        return [unpack_saved(r, _T, True) for r in v]
    return v


def _fit(gi: Any, m: tuple[tuple[int, ...], np.dtype], op: Op, i: int) -> Any:
    """Reduce a broadcast gradient to its input's shape and cast it to the input's dtype."""
    shape, dt = m
    raw = not isinstance(gi, _T)
    if raw and type(gi) is not _ndarray:
        gi = np.asarray(gi)
    gshape = gi.shape
    if gshape != shape:
        if not op.broadcasting:
            raise RuntimeError(
                f"Function {op.grad_fn} returned an invalid gradient at index {i} - got "
                f"{list(gshape)} but expected shape compatible with {list(shape)}"
            )
        gi = sum_to_shape(gi, shape) if raw else gi.sum_to_size(shape)
    gdt = gi.dtype if raw else gi._data.dtype
    if gdt != dt:
        gi = gi.astype(dt) if raw else gi.to(dtypes.from_numpy_dtype(dt))
    return gi


_STALE_HINT = (
    "Hint: enable anomaly detection to find the operation that failed to compute its gradient, "
    "with torch.autograd.set_detect_anomaly(True, check_nan=False)."
)


def stale_message(desc: str, node: Node | None, nr: int, now: int, expected: int) -> str:
    """PyTorch's error for a saved tensor modified in place before backward used it; `desc` is
    the tensor's type and shape, e.g. `[torch.FloatTensor [2, 3]]`."""
    where = ""
    if node is not None:
        # PyTorch names the producing op without its "Backward0" suffix here.
        where = f", which is output {nr} of {re.sub(r'Backward[0-9]*$', '', node.name())},"
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {desc}{where} is at version {now}; expected version {expected} instead. "
        + _STALE_HINT
    )


def _stale_message(
    t: Any,
    op: Op,
    expected: int,
    now: int | None = None,
    node: OpNode | None = None,
    vc: list[Any] | None = None,
) -> str:
    if t is None:
        msg = stale_message("[the output of " + op.name + "]", None, 0, now or 0, expected)
    else:
        desc = f"[{t._type_name()} {list(t.shape)}]"
        msg = stale_message(desc, t.grad_fn, t._out_nr, t._vc[0], expected)
        vc = t._vc
    return msg + culprits(op, node, vc)


def culprits(op: Any, node: Any, vc: list[Any] | None) -> str:
    """The user's lines behind a stale saved value: where it was saved, where it was changed."""
    parts = []
    src = getattr(node, "_src", None)
    if src is not None:
        parts.append(f"It was saved for backward by {op.name} ({op.grad_fn}) at {_where(src)}")
    if vc is not None and len(vc) > 1 and vc[1][1] is not None:
        name, src = vc[1]
        parts.append(f"modified in place by {name} at {_where(src)}")
    if not parts:
        return ""
    return "\n" + ", then ".join(parts) + "."


def _where(src: Site) -> str:
    return str(src)


# The user's file:line for each node (and each in-place change), found by walking out of the
# dygrad package; whether a code object is dygrad's own is cached, so the walk costs a few
# dictionary lookups per op. `dygrad.autograd.set_source_tracking(False)` turns it off.
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_inside: dict[int, bool] = {}
_sites: dict[int, Site] = {}


class Site:
    """A place in the user's code: `file`, `line`, printed as `file:line`."""

    __slots__ = ("code", "lasti", "_line")

    def __init__(self, code: Any, lasti: int) -> None:
        self.code = code
        self.lasti = lasti
        self._line: int | None = None

    @property
    def file(self) -> str:
        return str(self.code.co_filename)

    @property
    def line(self) -> int:
        if self._line is None:
            self._line = next(
                (ln for a, b, ln in self.code.co_lines() if a <= self.lasti < b and ln), 0
            )
        return self._line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def __repr__(self) -> str:
        return f"Site({self})"


def user_line(depth: int = 1) -> Site | None:
    """The call site (file, line) of the innermost caller outside dygrad, or None when tracking
    is off.

    `depth` is how many frames above the caller the user's frame can be at the nearest (the
    callers inside dygrad that are always there). From there the walk follows `f_back`: one
    attribute read a frame, where probing with `sys._getframe(k)` for each k costs a call and
    a walk from the top each time (a module's convolution, nine frames deep: 1.49 -> 1.09 us)."""
    if not state.track_source:
        return None
    inside = _inside
    try:
        f: Any = sys._getframe(depth)
    except ValueError:
        return None
    while f is not None:
        code = f.f_code
        # Keyed by id: hashing a code object hashes its bytecode, every time.
        flag = inside.get(id(code))
        if flag is None:
            flag = inside[id(code)] = code.co_filename.startswith(_PKG)
        if not flag:
            # One shared Site per call site (a new object per node would feed the cyclic GC);
            # its line number is worked out only when a message needs it (f_lineno is slow).
            lasti = f.f_lasti
            key = (id(code) << 24) | lasti
            site = _sites.get(key)
            if site is None:
                site = _sites[key] = Site(code, lasti)
            return site
        f = f.f_back
    return None


def quick_site(depth: int) -> Site | None:
    """The call site `depth` frames above the caller if that frame is the user's, else None:
    one frame lookup, never a walk."""
    if not state.track_source:
        return None
    f = _getframe(depth + 1)
    code = f.f_code
    inside = _inside.get(id(code))
    if inside is None:
        inside = _inside[id(code)] = code.co_filename.startswith(_PKG)
    if inside:
        return None
    key = (id(code) << 24) | f.f_lasti
    site = _sites.get(key)
    if site is None:
        site = _sites[key] = Site(code, f.f_lasti)
    return site


def forward_traceback() -> list[str]:
    """The user's part of the current stack, formatted: anomaly mode keeps it on each node."""
    import traceback

    frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith(_PKG)]
    return traceback.format_list(frames)


def note_cut(tensors: Sequence[Any], what: str, kind: str, site: Site | None) -> None:
    """Mark the leaves behind `tensors` (those requiring grad) with where the graph was cut:
    `kind` is "no_grad", "nondiff" or "detach"; `what` the op; `site` the user's line if known.
    Walks at most a few thousand nodes, and only when a cut tensor has a history."""
    T = _T
    mark = (kind, what, site)
    nodes = []
    for a in tensors:
        if isinstance(a, T) and a._requires_grad:
            if a.grad_fn is None:
                a._cut = mark
            else:
                nodes.append(a.grad_fn)
    if nodes:
        for leaf in leaf_tensors(nodes, limit=5000):
            leaf._cut = mark


def note_inplace(vc: list[Any], name: str, depth: int = 1, site: Site | None = None) -> None:
    """Remember which in-place op last changed a version counter's tensor, and where: `site`,
    or the user's line found from `depth` (as for user_line, counted from this function's
    caller)."""
    if state.track_source:
        entry = (name, site if site is not None else user_line(depth + 1))
        if len(vc) == 1:
            vc.append(entry)
        else:
            vc[1] = entry


class Op:
    """One differentiable operation, as declared by `defop`."""

    # Slots: dispatch reads several of these on every call.
    __slots__ = (
        "name",
        "grad_fn",
        "forward",
        "vjps",
        "vjp_all",
        "vjp_args",
        "jvps",
        "jvp_args",
        "params",
        "n_in",
        "keep",
        "keep_for",
        "saves_out",
        "saves_inputs",
        "kept",
        "saves_anything",
        "saves_tensors",
        "has_attrs",
        "no_inputs",
        "differentiable",
        "broadcasting",
        "dtype_rule",
        "std_promote",
        "shape",
        "n_outputs",
        "differentiable_outputs",
        "variadic",
        "check",
        "view",
        "inplace",
        "node_cls",
        "doc",
        "random",
        "onnx",
        "aux",
        "aux_users",
        "inplace_name",
        "fast",
    )
    name: str
    grad_fn: str  # the name of its node class, as PyTorch shows it
    forward: Callable[..., Any]
    vjps: tuple[Callable[..., Any] | None, ...]  # one rule per tensor input; None: no gradient
    vjp_all: Callable[..., Any] | None  # a variadic op's one rule
    vjp_args: tuple[tuple[int, ...], ...]  # what each rule names, as positions in [out, *params]
    jvps: tuple[Callable[..., Any] | None, ...]
    jvp_args: tuple[tuple[int, ...], ...]
    params: list[str]  # the forward's parameter names
    n_in: int  # the number of tensor inputs (leading parameters)
    keep: tuple[bool, ...]  # per parameter: saved for backward (by some rule)
    # keep_for[mask]: what the rules of the inputs in `mask` (bit i: input i needs a gradient)
    # name, attributes always; as PyTorch, an operand only another input's rule needs is not
    # kept when that input needs no gradient. Empty for ops of many inputs (then `keep`).
    keep_for: tuple[tuple[bool, ...], ...]
    saves_out: bool
    saves_inputs: bool
    kept: tuple[int, ...]  # the tensor inputs that are saved
    saves_anything: bool
    saves_tensors: bool
    has_attrs: bool
    no_inputs: tuple[None, ...]
    differentiable: bool
    broadcasting: bool
    dtype_rule: Callable[[Sequence[Any]], np.dtype | None] | None
    std_promote: bool
    shape: Callable[..., Any] | None
    n_outputs: int  # -1: depends on the arguments
    differentiable_outputs: tuple[bool, ...] | None
    variadic: bool
    check: Callable[..., None] | None
    view: bool
    inplace: Callable[..., Any] | None
    node_cls: type[OpNode]
    doc: str
    random: bool  # draws from the random generator: never merged, folded or skipped by dygrad.jit
    # How dygrad.onnx exports it: `onnx(ox, *args)` gets the builder `ox` (dygrad/onnx/builder.py)
    # and the traced arguments as the forward takes them, tensors as ONNX value names; it emits
    # nodes with `ox.op(...)` and returns the output name(s) (see defop). None: not exportable.
    onnx: Callable[..., Any] | None
    # The forward returns (result, extra): `extra` is kept in the node, after the saved
    # parameters, for the rules of `aux_users` (the inputs whose rules name `aux`).
    aux: bool
    aux_users: tuple[int, ...]
    inplace_name: str  # the in-place method's name, as the in-place notes record it
    # 1 or 2: its number of tensor inputs, when dispatch may take the unrolled path for it
    # (`apply1`, `apply2`: one output, not variadic, no aux); 0 otherwise.
    fast: int

    def __init__(self, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return f"<dygrad op {self.name} ({self.grad_fn})>"

    def __call__(self, *args: Any) -> Any:
        # Backward rules call ops on raw arrays when nothing is recorded: skip dispatch then.
        if not self.variadic:
            T = _T
            for i in range(self.n_in):
                if isinstance(args[i], T):
                    return apply(self, *args)
            return self.forward(*args)[0] if self.aux else self.forward(*args)
        return apply(self, *args)


def _names(fn: Callable[..., Any]) -> list[str]:
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]


def defop(
    name: str,
    *,
    grad_fn: str,
    forward: Callable[..., Any],
    vjp: Sequence[Callable[..., Any] | None] | Callable[..., Any] | None = None,
    jvp: Sequence[Callable[..., Any] | None] | Callable[..., Any] | None = None,
    n_inputs: int | None = None,
    broadcasting: bool = False,
    dtype: Callable[[Sequence[Any]], np.dtype | None] | None = None,
    shape: Callable[..., Any] | None = None,
    n_outputs: int = 1,
    differentiable_outputs: tuple[bool, ...] | None = None,
    variadic: bool = False,
    check: Callable[..., None] | None = None,
    view: bool = False,
    inplace: Callable[..., Any] | None = None,
    doc: str = "",
    random: bool = False,
    onnx: Callable[..., Any] | None = None,
    aux: bool = False,
) -> Op:
    """Declare an op. `vjp` holds one rule per tensor input (None: not differentiable); each rule's
    parameters are named after the forward's, plus `g` (incoming gradient) and `out` (forward
    result). Only what some rule names is saved for backward. A `variadic` op takes a list of
    tensors as its first argument and one rule returning a gradient per list element. `check`
    raises a clear error for bad arguments; it runs when the forward fails, before anything is
    recorded. `shape(*input_shapes_and_attrs)` gives the output shape for the static checker.
    `inplace(x, ...)` optionally writes the result into x's array without temporaries (used by
    `add_` etc. when nothing is recorded, as in optimizer steps).

    `jvp` holds the forward-mode rules, one per tensor input like `vjp`: each takes that input's
    tangent `t` first, then parameters named after the forward's (and `out`), and returns its
    contribution to the output's tangent (a tuple, one per output, for multi-output ops). The
    contributions are summed, broadcast to the output's shape and cast to its dtype in one place.
    A variadic op has one rule taking the list of tangents.

    `onnx(ox, *args)` exports the op (`dygrad.onnx.export`): `args` are a traced call's arguments
    as the forward takes them, tensors given as ONNX value names (strs; a list for a variadic op)
    already cast as the `dtype` rule casts them, numbers at tensor positions as constants of that
    dtype, attributes as traced (a size that follows a dynamic axis as a `dygrad.onnx.Dim`). It
    emits nodes through the builder `ox` (`ox.op("Add", x, y)`, `ox.const`, `ox.ints`,
    `ox.reshape`, `ox.cast`, `ox.shape`) and returns the output's name, or a tuple of names for
    several outputs (None for an output ONNX cannot make). Without it the op is not exportable.

    `aux=True`: the forward returns `(result, extra)`, where `extra` is work its backward can
    reuse (a convolution's im2col columns). Rules that name `aux` get it when the node kept it:
    only while the op is recorded, an input whose rule names it needs a gradient, and no
    saved-tensor hooks decide what is stored; otherwise (and in double backward, where the rules
    run on tensors) they get None and must compute without it. Everything else sees the result
    alone. One output, not variadic."""
    params = _names(forward)
    if variadic:
        n_in = 1
        vjps: tuple[Any, ...] = (vjp,) if vjp is not None else (None,)
    else:
        if vjp is None:
            vjps = ()
        elif callable(vjp):
            vjps = (vjp,)
        else:
            vjps = tuple(vjp)
        n_in = n_inputs if n_inputs is not None else max(len(vjps), 1)
        vjps = vjps + (None,) * (n_in - len(vjps))
    if aux and (variadic or n_outputs != 1):
        raise TypeError(f"op {name!r}: aux needs a single-output, non-variadic op")
    env_names = ["out", *params, *(["aux"] if aux else [])]
    vjp_args: list[tuple[int, ...]] = []
    needed: set[str] = set()
    for rule in vjps:
        if rule is None:
            vjp_args.append(())
            continue
        names = _names(rule)[1:]  # the first parameter is g
        for nm in names:
            if nm not in env_names:
                raise TypeError(f"rule of op {name!r} names {nm!r}, not a parameter of forward")
        needed.update(names)
        vjp_args.append(tuple(env_names.index(nm) for nm in names))
    jvps = _as_rules(jvp, 1 if variadic else n_in)
    jvp_args = tuple(_rule_args(name, r, env_names) for r in jvps)
    keep = tuple(i < n_in and params[i] in needed or i >= n_in for i in range(len(params)))
    aux_at = len(params) + 1  # its position in the rules' environment
    aux_users = tuple(i for i, a in enumerate(vjp_args) if aux and aux_at in a)
    # n_outputs == -1: the number of outputs depends on the arguments (split, unbind).
    op = Op(
        name=name,
        grad_fn=grad_fn,
        forward=forward,
        vjps=vjps,
        vjp_all=vjps[0] if variadic else None,
        vjp_args=tuple(vjp_args),
        jvps=jvps,
        jvp_args=jvp_args,
        params=params,
        n_in=n_in,
        keep=keep,
        keep_for=tuple(
            tuple(
                i >= n_in
                or any(mask >> j & 1 and i + 1 in vjp_args[j] for j in range(len(vjp_args)))
                for i in range(len(params))
            )
            for mask in range(1 << n_in)
        )
        if not variadic and n_in <= 4
        else (),
        saves_out="out" in needed,
        saves_inputs=any(keep[:n_in]),
        kept=tuple(i for i in range(n_in) if keep[i]),
        saves_anything=bool(needed),
        saves_tensors=any(keep[:n_in]) or "out" in needed or "aux" in needed,
        has_attrs=len(params) > n_in,
        no_inputs=(None,) * n_in,
        differentiable=any(r is not None for r in vjps),
        broadcasting=broadcasting,
        dtype_rule=dtype,
        # Same-dtype floating inputs (with Python numbers) need no promotion, and rules marked
        # `float_noop` do nothing for them: dispatch skips these rules then.
        std_promote=dtype is promote
        or dtype is promote_float
        or getattr(dtype, "float_noop", False),
        shape=shape,
        n_outputs=n_outputs,
        differentiable_outputs=differentiable_outputs,
        variadic=variadic,
        check=check,
        view=view,
        inplace=inplace,
        doc=doc,
        random=random,
        onnx=onnx,
        aux=aux,
        aux_users=aux_users,
        # (the in-place variants' own ops, elu_ or leaky_relu_, are named so already)
        inplace_name=name if name.endswith("_") else name + "_",
        fast=n_in if n_in <= 2 and n_outputs == 1 and not variadic and not aux else 0,
    )
    base = (OpNode, _Node1, _Node2)[op.fast] if n_outputs == 1 else _MultiOutNode
    op.node_cls = type(grad_fn, (base,), {"__slots__": (), "op": op, **_saved_attrs(op)})
    REGISTRY[name] = op
    return op


def _as_rules(rules: Any, n: int) -> tuple[Any, ...]:
    if rules is None:
        got: tuple[Any, ...] = ()
    elif callable(rules):
        got = (rules,)
    else:
        got = tuple(rules)
    if len(got) > n:
        raise TypeError(f"{len(got)} rules given for {n} inputs")
    return got + (None,) * (n - len(got))


def _rule_args(name: str, rule: Any, env_names: list[str]) -> tuple[int, ...]:
    # Positions in [out, *forward params] of the values a rule names after its first parameter.
    if rule is None:
        return ()
    names = _names(rule)[1:]
    for nm in names:
        if nm not in env_names:
            raise TypeError(f"rule of op {name!r} names {nm!r}, not a parameter of forward")
    return tuple(env_names.index(nm) for nm in names)


# ---------------------------------------------------------------------------------------------
# Forward-mode AD: tangents ride on tensors (`Tensor._fw`, by dual-level id) and each op's jvp
# rules compute its output's tangent right after the forward.


def _has_tangent(ins: Sequence[Any], levels: tuple[int, ...]) -> bool:
    T = _T
    for a in ins:
        if isinstance(a, T):
            fw = a._fw
            if fw is not None and any(lvl in fw for lvl in levels):
                return True
    return False


def _push_tangents(op: Op, args: Sequence[Any], res: Any, levels: tuple[int, ...]) -> None:
    """Give `res` (a tensor, or a tuple for multi-output ops) its tangent at each open level.

    The rules for level L run with only the levels outside L open, so the tangent they compute
    carries outer tangents (nested forward mode) but never one of its own level."""
    T = _T
    ins = args[0] if op.variadic else args[: op.n_in]
    outs = (res,) if op.n_outputs == 1 else tuple(res)
    for li, lvl in enumerate(levels):
        ts = [a._fw.get(lvl) if isinstance(a, T) and a._fw is not None else None for a in ins]
        if all(t is None for t in ts) or not op.differentiable:
            continue
        for a, t in zip(ins, ts):
            if t is not None and a._fw_view and stale_view_tangent(a):
                raise RuntimeError(_STALE_VIEW.format(op=op.name).replace("history", "tangent"))
        for i, t in enumerate(ts):
            k = 0 if op.variadic else i  # a variadic op has one rule for all its inputs
            if t is not None and op.jvps[k] is None and op.vjps[k] is not None:
                raise NotImplementedError(
                    f"Trying to use forward AD with {op.name} ({op.grad_fn}) that does not "
                    "support it because it has not been implemented yet."
                )
        state.fw_levels = levels[:li]
        try:
            tan = _jvp(op, args, ts, res)
        finally:
            state.fw_levels = levels
        tans = (tan,) if op.n_outputs == 1 else tuple(tan)
        for o, t in zip(outs, tans):
            if t is None or o._data.dtype.kind != "f":
                continue
            t = _fit_tangent(t, o)
            if op.view:
                # Remember whose tangents this view's came from, to notice when an in-place op
                # replaces them (stale_view_tangent).
                o._fw_view = True
                o._fw_src = ins[0]
                o._fw_src_dict = ins[0]._fw
            if o._fw is None:
                o._fw = {lvl: t}
            else:
                o._fw[lvl] = t
    node = outs[0].grad_fn
    if op.saves_out and isinstance(node, OpNode) and node._out is not None:
        # Rules that name `out` see its tangents when they run in create_graph mode.
        fws = outs[0]._fw if op.n_outputs == 1 else tuple(o._fw for o in outs)
        node._out = (*node._out[:3], fws)


def stale_view_tangent(t: Any) -> bool:
    """True when a view's tangent came from a tensor whose tangent an in-place op has since
    replaced (directly, or through a chain of views)."""
    while t._fw_view:
        src = t._fw_src
        if src._fw is not t._fw_src_dict:
            return True
        t = src
    return False


def _jvp(op: Op, args: Sequence[Any], ts: list[Any], res: Any) -> Any:
    env = [res, *args]
    if op.variadic:
        T = _T
        full = [
            t if t is not None else T._wrap(np.zeros_like(a._data), False, None, 0)
            for a, t in zip(args[0], ts)
        ]
        rule = op.jvps[0]
        assert rule is not None  # _push_tangents raises for a differentiable op without one
        return rule(full, *[env[j] for j in op.jvp_args[0]])
    total: Any = None
    for i, t in enumerate(ts):
        rule = op.jvps[i]
        if t is None or rule is None:
            continue
        r = rule(t, *[env[j] for j in op.jvp_args[i]])
        if total is None:
            total = r
        elif op.n_outputs == 1:
            total = total + r
        else:
            total = tuple(b if a is None else a if b is None else a + b for a, b in zip(total, r))
    return total


def _fit_tangent(t: Any, o: Any) -> Any:
    # One place for broadcasting and casting: a rule may return its input's shape and dtype.
    T = _T
    if not isinstance(t, T):
        t = T._wrap(np.asarray(t), False, None, 0)
    if t._data.shape != o._data.shape:
        t = t.expand(*o._data.shape)
    if t._data.dtype != o._data.dtype:
        t = t.to(o.dtype)
    return t


# ---------------------------------------------------------------------------------------------
# Dispatch


_NO_EDGE = (None, 0)
_EMPTY: tuple[Any, ...] = ()


def _edge(t: Any, node: Node) -> tuple[Node | None, int]:
    # The edge `node` records for input `t` (none when it needs no gradient).
    return t._edge(node._seq) if t._requires_grad else _NO_EDGE


def _fail(op: Op, args: Sequence[Any], err: Exception) -> NoReturn:
    if op.check is not None:
        op.check(*args)  # raises a message in the user's terms
    raise type(err)(f"{op.name}(): {err}") from err


def apply(op: Op, *args: Any) -> Any:
    """Run `op` on `args` (tensors, scalars, attributes, positionally as its forward takes them).

    With no tensor among the inputs the forward runs on raw arrays and returns arrays; otherwise
    the inputs are unwrapped, cast by the op's dtype rule, and the result is wrapped in a tensor
    whose `grad_fn` records the op when grad mode is on and an input requires grad.
    """
    fast = op.fast
    if fast == 2:
        return apply2(op, args, 3)
    if fast == 1:
        return apply1(op, args, 3)
    return _general(op, args, 3)


def _general(op: Op, args: tuple[Any, ...], depth: int) -> Any:
    # `apply` for every case. `depth`: how many frames above this one the user's frame is when
    # a Tensor method called the dispatch (3: <- apply, apply1 or apply2 <- method <- user).
    if hook_open[0]:  # a tool (dygrad.jit) watches this thread's dispatch
        h = state.dispatch_hook
        if h is not None:
            return h.op(op, args)
    T = _T
    n = op.n_in
    if op.variadic:
        seq = args[0]
        if not isinstance(seq, list | tuple):
            raise TypeError(
                f"{op.name}(): expected a sequence of tensors, got {type(seq).__name__}"
            )
        if not seq or not all(isinstance(t, T) for t in seq):
            if not any(isinstance(t, T) for t in seq):
                return op.forward(*args)
        tensors = [t if isinstance(t, T) else T._from_value(t) for t in seq]
        req = any(t._requires_grad for t in tensors)
        arrs = [t._data for t in tensors]
        if op.dtype_rule is not None:
            d = op.dtype_rule(arrs)
            if d is not None:
                arrs = [a if a.dtype == d else a.astype(d) for a in arrs]
        vals: list[Any] = [arrs, *args[1:]]
        args = (tensors, *args[1:])
    else:
        vals = list(args)
        has_t = req = other = False
        dt: np.dtype | None = None
        for i in range(n):
            a = args[i]
            if isinstance(a, T):
                has_t = True
                v = a._data
                vals[i] = v
                if dt is None:
                    dt = v.dtype
                elif v.dtype is not dt:
                    other = True
                if a._requires_grad:
                    req = True
            elif isinstance(a, np.generic):
                # NumPy scalars count as Python scalars in PyTorch's promotion.
                vals[i] = a.item()
                other = True
            elif type(a) is not float and type(a) is not int:
                other = True
        if not has_t:
            return op.forward(*args)[0] if op.aux else op.forward(*args)
        rule = op.dtype_rule
        # Same-dtype floating tensors with Python numbers need no promotion: skip the rule.
        if rule is not None and (other or dt is None or dt.kind != "f" or not op.std_promote):
            try:
                d = rule(vals[:n])
            except TypeError as err:
                raise TypeError(f"{op.name}(): {err}") from None
            if d is not None:
                for i in range(n):
                    v = vals[i]
                    if type(v) is _ndarray and v.dtype != d:
                        vals[i] = v.astype(d)
    try:
        out = op.forward(*vals)
    except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as err:
        _fail(op, args, err)
    record = req and state.enabled and op.differentiable
    if op.aux:
        out, aux = out
    if req and not record:
        # A value that needs grad enters an op that records nothing: remember where, so that
        # dygrad.autograd.why_no_grad can explain the missing gradient later.
        # Runs for every op of a no_grad forward that touches parameters: no frame walk here,
        # only the caller's frame when it is the user's (a direct tensor call).
        note_cut(args[0] if op.variadic else args[:n], op.name,
                 "nondiff" if state.enabled else "no_grad", quick_site(depth))  # fmt: skip
    if op.n_outputs == 1:
        if type(out) is not _ndarray:
            out = np.asarray(out)
        if not record or out.dtype.kind != "f":
            res = T._wrap(out, False, None, 0)
        else:
            node, res = _new_node(op, out, depth + 1)
            _record(op, node, args, vals, out, res)
            if op.aux and aux is not None:
                _keep_aux(op, node, aux)
        if op.view:
            _share(args[0], res)
        if fw_open[0]:  # some thread has a dual level open: look at this thread's
            _tangents(op, args, res)
        return res
    if not record:
        res = tuple(T._wrap(o, False, None, 0) for o in out)
    else:
        node, _ = _new_node(op, None, depth + 1)
        node.n_outputs = len(out)
        dif = op.differentiable_outputs or (True,) * len(out)
        res = tuple(T._wrap(o, dif[j], node if dif[j] else None, j) for j, o in enumerate(out))
        node._meta_out = tuple((o.shape, o.dtype) for o in out)
        _record(op, node, args, vals, out, res)
    if op.view:
        for r in res:
            _share(args[0], r)
    if fw_open[0]:
        _tangents(op, args, res)
    return res


def _tangents(op: Op, args: Sequence[Any], res: Any) -> None:
    # Dual levels are open in some thread: in this one, give `res` the tangents the op's rules
    # make of its inputs' tangents, if any input has one.
    levels = state.fw_levels
    if levels and _has_tangent(args[0] if op.variadic else args[: op.n_in], levels):
        _push_tangents(op, args, res, levels)


def _share(src: Any, res: Any) -> None:
    # A view shares its base's memory and version counter, so in-place changes through either
    # are seen by nodes that saved the other.
    if np.may_share_memory(res._data, src._data):
        base = src if src._base is None else src._base
        res._base = base
        res._vc = src._vc
        # The base's history when the view was taken: if an in-place op gives the base a new
        # grad_fn, this view's own history is stale (dygrad does not rebase views). Stored only
        # when there is one (the class default is None), so most views get no instance dict.
        fn = base.grad_fn
        if fn is not None:
            res._view_fn = fn


def _record(op: Op, node: OpNode, args: Any, vals: Any, out: Any, res: Any) -> None:
    # (the node comes from _new_node: numbered before its edges, which number leaves' nodes)
    n = op.n_in
    if op.variadic:
        tensors = args[0]
        node.next_functions = tuple(_edge(t, node) for t in tensors)
        if op.keep[0]:
            node._saved = (list(tensors), *args[1:])
            node._vers = tuple(t._vc[0] for t in tensors)
        else:
            node._saved = (None, *args[1:])
            node._vers = ()
        oshape, odt = out.shape, out.dtype
        meta = [
            None if (a.shape == oshape and a.dtype == odt) else (a.shape, a.dtype) for a in vals[0]
        ]
        node._meta = meta if any(m is not None for m in meta) else None
    else:
        T = _T
        edges = []
        meta = None
        mask = 0
        single = op.n_outputs == 1
        if single:
            oshape = out.shape
            odt = out.dtype
        for i in range(n):
            a = args[i]
            if isinstance(a, T) and a._requires_grad:
                mask |= 1 << i
                edges.append(_in_edge(op, a, node))
                if single:
                    v = vals[i]
                    if v.shape != oshape or a._data.dtype is not odt:
                        if meta is None:
                            meta = [None] * n
                        meta[i] = (v.shape, a._data.dtype)
            else:
                edges.append(_NO_EDGE)
        node.next_functions = tuple(edges)
        node._meta = meta
        if op.saves_inputs:
            keep = op.keep_for[mask] if op.keep_for else op.keep
            # A loop rather than comprehensions (each is a call of its own): attributes past
            # the tensor inputs are always kept.
            kept = list(args)
            vers = []
            for i in range(n):
                if not keep[i]:
                    kept[i] = None
                else:
                    a = kept[i]
                    if isinstance(a, T):
                        vers.append(a._vc[0])
            node._saved = tuple(kept)
            node._vers = tuple(vers)
        else:
            node._saved = op.no_inputs + args[n:] if op.has_attrs else _EMPTY
            node._vers = _EMPTY
        if op.aux:  # its slot after the parameters: None until _keep_aux fills it
            node._saved = (*node._saved, None)
    if op.saves_out:
        r = res if op.n_outputs == 1 else res[0]
        node._out = (out, r._vc, r._vc[0])
    else:
        node._out = None
    if hooks_open[0]:
        _pack_node(op, node)


def _new_node(op: Op, out: np.ndarray | None, depth: int) -> tuple[OpNode, Any]:
    # A node for `op` with what every op node gets beyond its edges and saved values, and, for
    # a single `out`, its result tensor (Tensor._wrap, written out): the node's sequence number
    # (backward's order), the user's line and, in anomaly mode, the forward's traceback.
    # The line is for messages about the node: a saved value changed in place, or (anomaly and
    # non-finite checks, which ask for it on every node) a gradient that turned non-finite; a
    # node whose rules read nothing but the incoming gradient (add, neg, ...) has no saved
    # value, and passes a finite gradient on finite: it records none (0.9% of W2's step).
    # `depth`: the frame above this one that is the user's when an op's method was called from
    # the user's code (from apply2: <- Tensor method <- user, 3), looked up there first,
    # without a walk. One call on the hot path: node, wrap and stamp as three calls cost W2
    # 2.5% more.
    node = op.node_cls()
    res = None
    if out is not None:
        res = _new(_T)
        res._data = out
        res._requires_grad = True
        res.grad_fn = node
        res._out_nr = 0
        vc = res._vc = [0]
        res._base = None
        if hook_open[0]:  # dygrad.jit is tracing: it tells op results from other new tensors
            made(res)
        node._out = (out, vc, 0) if op.saves_out else None
    node._seq = next_seq()
    extra = state.node_extra
    if extra & 1 and (op.saves_anything or extra & 4):
        # (_sites holds user frames only: a frame inside dygrad, or a new site, takes the walk)
        f = _getframe(depth)
        site = _sites.get((id(f.f_code) << 24) | f.f_lasti)
        node._src = site if site is not None else user_line(depth + 1)
    else:
        node._src = None
    if extra & 2:
        node.metadata["traceback_"] = forward_traceback()
    return node, res


def _in_edge(op: Op, a: Any, node: OpNode) -> tuple[Node | None, int]:
    # The edge `node` records for input `a` (a tensor that requires grad).
    fn = a.grad_fn
    if fn is not None:
        if a._base is not None and a._base.grad_fn is not a._view_fn:
            raise RuntimeError(_STALE_VIEW.format(op=op.name))
        return (fn, a._out_nr)
    ref = a._accum
    acc = ref() if ref is not None else None
    if acc is None or acc._seq > node._seq:  # made now, or numbered above this user
        acc = a._accumulator(node._seq)
    return (acc, 0)


# `apply` for the common cases, unrolled: one or two tensor inputs (or a tensor and a Python
# number), one output, the tensors of one floating dtype (or an op without a dtype rule). They
# do what the general path does, in its order, without its loops and lists over the inputs; any
# other case is decided before the forward runs and goes to the general path. Tensor's methods
# call them directly, the arguments in one tuple: `apply`'s own call (its *args, the call to
# reach these) cost W2 2.3% of its instructions.


def apply1(op: Op, args: tuple[Any, ...], depth: int = 2) -> Any:
    """`apply(op, *args)` for an op of one tensor input (`Op.fast` 1). `depth`: where the user's
    frame is above this one when a Tensor method called it (2), for the node's source line."""
    a = args[0]
    if hook_open[0] or not isinstance(a, _T):
        return _general(op, args, depth + 1)
    v = a._data
    if op.dtype_rule is not None and (not op.std_promote or v.dtype.kind != "f"):
        return _general(op, args, depth + 1)
    try:
        out = op.forward(v) if len(args) == 1 else op.forward(v, *args[1:])
    except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as err:
        _fail(op, args, err)
    req = a._requires_grad
    record = req and state.enabled and op.differentiable
    if type(out) is not _ndarray:
        out = np.asarray(out)
    if not record or out.dtype.kind != "f":
        return _unrecorded(op, args, out, req and not record, depth)
    node, res = _new_node(op, out, depth + 1)
    node.next_functions = (_in_edge(op, a, node),)
    node._meta = None if v.shape == out.shape and v.dtype is out.dtype else [(v.shape, v.dtype)]
    if op.saves_inputs:
        node._saved = args
        node._vers = (a._vc[0],)
    else:
        node._saved = op.no_inputs + args[1:] if op.has_attrs else _EMPTY
        node._vers = _EMPTY
    if hooks_open[0] or op.view or fw_open[0]:
        _finish(op, node, args, res)
    return res


def apply2(op: Op, args: tuple[Any, ...], depth: int = 2) -> Any:
    """`apply(op, *args)` for an op of two tensor inputs (`Op.fast` 2); `depth` as apply1's."""
    a = args[0]
    b = args[1]
    ta = isinstance(a, _T)
    tb = isinstance(b, _T)
    if hook_open[0]:
        return _general(op, args, depth + 1)
    if ta and tb:
        va = a._data
        vb = b._data
        dt = va.dtype
        if vb.dtype is not dt:
            return _general(op, args, depth + 1)
    elif ta and (type(b) is float or type(b) is int):
        va = a._data
        vb = b
        dt = va.dtype
    elif tb and (type(a) is float or type(a) is int):
        va = a
        vb = b._data
        dt = vb.dtype
    else:
        return _general(op, args, depth + 1)
    if op.dtype_rule is not None and (not op.std_promote or dt.kind != "f"):
        return _general(op, args, depth + 1)
    try:
        out = op.forward(va, vb) if len(args) == 2 else op.forward(va, vb, *args[2:])
    except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as err:
        _fail(op, args, err)
    ra = ta and a._requires_grad
    rb = tb and b._requires_grad
    req = ra or rb
    record = req and state.enabled and op.differentiable
    if type(out) is not _ndarray:
        out = np.asarray(out)
    if not record or out.dtype.kind != "f":
        return _unrecorded(op, args, out, req and not record, depth)
    node, res = _new_node(op, out, depth + 1)
    oshape = out.shape
    odt = out.dtype
    meta = None
    if ra:
        ea = _in_edge(op, a, node)
        if va.shape != oshape or dt is not odt:
            meta = [(va.shape, dt), None]
    else:
        ea = _NO_EDGE
    if rb:
        eb = _in_edge(op, b, node)
        if vb.shape != oshape or dt is not odt:
            if meta is None:
                meta = [None, (vb.shape, dt)]
            else:
                meta[1] = (vb.shape, dt)
    else:
        eb = _NO_EDGE
    node.next_functions = (ea, eb)
    node._meta = meta
    if op.saves_inputs:
        keep = op.keep_for[ra | rb << 1]
        ka = keep[0]
        kb = keep[1]
        node._saved = args if ka and kb else (a if ka else None, b if kb else None, *args[2:])
        if ta and ka:
            node._vers = (a._vc[0], b._vc[0]) if tb and kb else (a._vc[0],)
        else:
            node._vers = (b._vc[0],) if tb and kb else _EMPTY
    else:
        node._saved = op.no_inputs + args[2:] if op.has_attrs else _EMPTY
        node._vers = _EMPTY
    if hooks_open[0] or op.view or fw_open[0]:
        _finish(op, node, args, res)
    return res


def _unrecorded(op: Op, args: tuple[Any, ...], out: np.ndarray, cut: bool, depth: int) -> Any:
    # The tail of apply1/apply2 when nothing is recorded: as the general path's.
    if cut:
        note_cut(args[: op.n_in], op.name, "nondiff" if state.enabled else "no_grad",
                 quick_site(depth + 1))  # fmt: skip
    res = _T._wrap(out, False, None, 0)
    if op.view:
        _share(args[0], res)
    if fw_open[0]:
        _tangents(op, args, res)
    return res


def _finish(op: Op, node: OpNode, args: tuple[Any, ...], res: Any) -> None:
    # The tail of apply1/apply2 when a node was recorded, for the few that need one (a view,
    # saved-tensor hooks, forward-mode AD): as `_record`'s and the general path's.
    if hooks_open[0]:
        _pack_node(op, node)
    if op.view:
        _share(args[0], res)
    if fw_open[0]:
        _tangents(op, args, res)


def _keep_aux(op: Op, node: OpNode, aux: Any) -> None:
    # Into its slot after the saved parameters, where the rules' environment has `aux`: only if
    # a rule that names it will run, and not when saved-tensor hooks decide what is stored.
    saved = node._saved
    if type(saved) is not tuple:
        return  # stored through hooks
    edges = node.next_functions
    for i in op.aux_users:
        if edges[i][0] is not None:
            node._saved = (*saved[:-1], aux)
            return


_STALE_VIEW = (
    "{op}(): this tensor is a view taken before an in-place operation changed its base; its "
    "recorded history is stale (dygrad does not rebase the history of existing views, as "
    "PyTorch does). Take the view again after the in-place operation."
)
_retention_warned = False


def check_retention(op: Op, x: Any, y: Any) -> None:
    """Warn (once) when an accumulation (`total += loss`, `total = total + loss`) builds on a
    graph that a backward() call has already consumed. Checked by the add methods only, so that
    other ops pay nothing for it."""
    fn = x.grad_fn  # x is the tensor whose method runs
    if fn is not None and fn._consumed:
        _warn_retention(op)
    elif isinstance(y, _T):
        fn = y.grad_fn
        if fn is not None and fn._consumed:
            _warn_retention(op)


def _warn_retention(op: Op) -> None:
    # Once per process: the pattern is usually in a training loop and would repeat every step.
    global _retention_warned
    if _retention_warned or not state.enabled:  # under no_grad nothing is kept
        return
    _retention_warned = True
    import warnings

    warnings.warn(
        f"{op.name}() was given a tensor whose graph a backward() call has already used "
        "(for example `total += loss` after `loss.backward()`): the result keeps that graph, "
        "and accumulating it across iterations keeps every iteration's graph alive. Accumulate "
        "`loss.item()` or `loss.detach()` instead.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    # The first frame outside the dygrad package: the warning points at the user's line.
    import os
    import sys

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    f: FrameType | None = sys._getframe(1)
    level = 1
    while f is not None and f.f_code.co_filename.startswith(pkg):
        f, level = f.f_back, level + 1
    return level


def _cast_error(src: Any, dst: Any) -> None:
    raise RuntimeError(
        f"result type {dtypes.pt_name(dtypes.from_numpy_dtype(src))} can't be cast to "
        f"the desired output type {dtypes.pt_name(dtypes.from_numpy_dtype(dst))}"
    )


def apply_inplace(op: Op, target: Any, *rest: Any) -> Any:
    """Run `op(target, *rest)` and write the result into `target` (`add_`, `mul_`, ...).

    Every check (leaf, view, result dtype and shape) runs before anything is recorded or
    written. The target's version counter is bumped, so a node that saved it refuses to use the
    stale value; if the result needs grad, `target` takes the new node as its `grad_fn`. A dual
    target's tangent is replaced by the op's tangent, computed from the old value.
    """
    if hook_open[0]:
        h = state.dispatch_hook
        if h is not None:
            return h.inplace(op, target, rest)
    levels = state.fw_levels if fw_open[0] else ()
    if not levels or not _has_tangent((target, *rest[: op.n_in - 1]), levels):
        return _apply_inplace(op, target, *rest)
    if target._fw_view or (target._base is not None and not target._dual_root):
        # The base (and its other views) would keep their old tangents: refuse, never be wrong.
        raise RuntimeError(
            f"{op.name}_(): in-place modification of a view of a dual tensor is not supported "
            "by dygrad's forward-mode AD; use out-of-place ops or .clone() the view first."
        )
    old = target._snapshot(copy=True)
    old._fw = target._fw
    _apply_inplace(op, target, *rest)
    target._fw = None
    # `z.mul_(z)`: the tangent rules must see z's old value wherever z is an operand.
    _push_tangents(op, (old, *[old if a is target else a for a in rest]), target, levels)
    return target


_OVERLAP = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)


def _apply_inplace(op: Op, target: Any, *rest: Any) -> Any:
    T = _T
    td = target._data
    if not td.flags.writeable:
        # Refused before anything is recorded or written: an expanded tensor (a broadcast view,
        # whose elements share memory, as PyTorch refuses it) or memory NumPy marks read-only.
        if any(st == 0 and n > 1 for st, n in zip(td.strides, td.shape)):
            raise RuntimeError(_OVERLAP)
        raise RuntimeError(
            f"{op.name}_(): the tensor's memory is read-only (a NumPy array that is not "
            "writeable); clone() it before modifying it in place."
        )
    record = state.enabled and (
        target._requires_grad or any(isinstance(a, T) and a._requires_grad for a in rest)
    )
    if record:
        if target.grad_fn is None and target._requires_grad:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        if target._base is not None:
            # Its base's history would not see the change (PyTorch records CopySlices).
            raise RuntimeError(
                f"{op.name}_(): in-place modification of a view while recording the graph is not "
                "supported by dygrad (its base's history would not see the change); assign "
                "through the base instead (base[index] = value), use out-of-place ops, or "
                ".clone() the view first."
            )
        # If a rule needs the target's old value, keep a copy: the target's memory is overwritten.
        args = (target._snapshot(copy=op.keep[0]), *rest)
    elif op.inplace is not None:
        return _write_inplace(op, target, td, rest)
    else:
        args = (target, *rest)
    vals = [a._data if isinstance(a, T) else a for a in args]
    d = op.dtype_rule(vals[: op.n_in]) if op.dtype_rule is not None else None
    if d is not None:
        vals = [v.astype(d) if type(v) is _ndarray and v.dtype != d else v for v in vals]
    try:
        out = op.forward(*vals)
        out = np.asarray(out[0] if op.aux else out)
    except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as err:
        _fail(op, args, err)
    if out.dtype != td.dtype and not dtypes.can_cast(out.dtype, td.dtype):
        _cast_error(out.dtype, td.dtype)
    if out.shape != td.shape:
        raise RuntimeError(
            f"output with shape {list(td.shape)} doesn't match the broadcast shape "
            f"{list(out.shape)}"
        )
    if record:
        node, res = _new_node(op, out, 4)
        _record(op, node, args, vals, out, res)
    np.copyto(td, out, casting="unsafe")
    target._vc[0] += 1
    if state.track_source:
        note_inplace(target._vc, op.inplace_name, 3)
    if record:
        target.grad_fn = node
        target._out_nr = 0
        target._requires_grad = True
        if op.saves_out:
            saved: Any = node._saved
            if type(saved) is not tuple:  # stored through saved-tensor hooks
                saved.out_box, saved.out_ver = target._vc, target._vc[0]
            else:
                node._out = (td, target._vc, target._vc[0])
    return target


def _write_inplace(op: Op, target: Any, td: np.ndarray, rest: tuple[Any, ...]) -> Any:
    """`_apply_inplace` when nothing is recorded and the op has an in-place kernel (optimizer
    steps): checked, then written into the target's memory with no temporaries."""
    T = _T
    write = op.inplace
    assert write is not None  # the caller's condition
    vals = [td]
    for a in rest:
        vals.append(a._data if isinstance(a, T) else a)
    # Same-dtype floating operands and Python numbers need no promotion check.
    tdt = td.dtype
    simple = tdt.kind == "f"
    if simple:
        for i in range(1, op.n_in):
            v = vals[i]
            if (
                not (type(v) is _ndarray and v.dtype is tdt)
                and type(v) is not float
                and (type(v) is not int)
            ):
                simple = False
                break
    if not simple:
        ins = vals[: op.n_in]
        d = op.dtype_rule(ins) if op.dtype_rule is not None else None
        rd = (
            dtypes.from_numpy_dtype(d)
            if d is not None
            else dtypes.result_type(*[_Meta(v) if type(v) is _ndarray else v for v in ins])
        )
        if rd.np != tdt and not dtypes.can_cast(rd, tdt):
            _cast_error(rd.np, tdt)
    try:
        write(*vals)
    except ValueError:
        shape = np.broadcast_shapes(*[np.shape(v) for v in vals[: op.n_in]])
        raise RuntimeError(
            f"output with shape {list(td.shape)} doesn't match the broadcast shape {list(shape)}"
        ) from None
    target._vc[0] += 1
    if state.track_source:
        note_inplace(target._vc, op.inplace_name, 4)  # from apply_inplace's caller on
    return target


def concrete(t: Any, kind: str, value: Any) -> Any:
    """Called by Tensor when a value becomes Python data (`item`, `bool`, `tolist`, `numpy`)
    while a dispatch hook is installed: a tracer records a guard on it, or refuses."""
    h = state.dispatch_hook
    return value if h is None else h.concrete(t, kind, value)


def untraceable(what: str) -> None:
    """Called where code does something a trace cannot replay (a custom autograd.Function's
    backward, a tensor hook) while a dispatch hook is installed: a tracer refuses it."""
    h = state.dispatch_hook
    if h is not None:
        h.refuse(what)


def made(t: Any, src: Any = None) -> None:
    """Called by Tensor._wrap while a dispatch hook is installed (every new tensor), and by
    detach with `src`, the tensor it detaches: a tracer tells op results from the rest."""
    h = state.dispatch_hook
    if h is not None:
        h.made(t, src)


def created(t: Any, regen: Any = None) -> None:
    """Called by the creation functions while a dispatch hook is installed: `t` was made inside
    the hooked code; `regen` (a function of no arguments returning a new array) for random
    ones, so that a replay draws fresh samples."""
    h = state.dispatch_hook
    if h is not None:
        h.created(t, regen)


# ---------------------------------------------------------------------------------------------
# Shape and dtype inference without data (the static checker's view of an op)


class Spec:
    """A tensor known only by shape and dtype (NumPy dtype), as the static checker sees it."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"Spec({self.shape}, {self.dtype})"


class Shape(tuple[int, ...]):
    """A tensor argument as a shape rule sees it: its shape, a tuple, with its NumPy `dtype`.

    Shape rules take these where the forward takes tensors (numbers and None stay as they are)
    and the forward's other arguments as they are. A rule returns the output's shape (a tuple of
    them for a multi-output op), raising ValueError, IndexError or TypeError where the forward
    would fail; it returns a `Spec` instead of a shape when the output's dtype is not the one the
    op's dtype rule casts the inputs to (or, without a dtype rule, the first input's)."""

    dtype: np.dtype

    def __new__(cls, shape: Sequence[int], dtype: Any) -> Shape:
        s = super().__new__(cls, shape)
        s.dtype = np.dtype(dtype)
        return s


def shape_of(a: Any) -> tuple[int, ...]:
    """The shape of a shape rule's argument: a `Shape`, an array, or a number (shape ())."""
    return a if isinstance(a, tuple) else tuple(np.shape(a))


def stand_in(a: Any) -> Any:
    """What the forward would see of a shape rule's argument, for dtype rules such as `promote`:
    a read-only one-element broadcast array for a `Shape`, anything else as it is."""
    if isinstance(a, Shape):
        return np.broadcast_to(np.ones((), a.dtype), a)
    return a


def _dummy(spec: Spec) -> np.ndarray:
    # A read-only array of the right shape and dtype backed by a single element, so that
    # evaluating an op on it allocates no input memory.
    return np.broadcast_to(np.ones((), spec.dtype), spec.shape)


def _rule_arg(a: Any) -> Any:
    if isinstance(a, Spec):
        return Shape(a.shape, a.dtype)
    return a.item() if isinstance(a, np.generic) else a


def _infer_fail(op: Op, args: Sequence[Any], err: Exception) -> NoReturn:
    # As dispatch does: the op's check raises the message in the user's terms. A check written
    # for tensors that cannot read a Spec falls back to the rule's own message.
    try:
        _fail(op, args, err)
    except AttributeError:
        raise type(err)(f"{op.name}(): {err}") from err


def infer(op: Op, *args: Any) -> Any:
    """Output Spec(s) of `op` applied to `args`, where tensors are given as `Spec`s.

    Uses the op's declared shape rule when it has one (the dtype from its dtype rule, unless
    the rule returns a Spec; see `Shape`), otherwise evaluates the forward on stand-in arrays of
    the right shapes and dtypes (free for views, a full-size output for the rest). Bad shapes
    raise the same error as in eager mode. A multi-output op gives a tuple of Specs.

    >>> from dygrad.ops.registry import REGISTRY, Spec, infer
    >>> infer(REGISTRY["mm"], Spec((4, 3), "float32"), Spec((3, 2), "float64"))
    Spec((4, 2), float64)
    """
    if op.variadic:
        specs: Sequence[Any] = args[0]
        for s in specs:
            if not isinstance(s, Spec):
                raise TypeError(f"{op.name}(): expected Specs in the list, got {type(s).__name__}")
    else:
        # NumPy scalars count as Python numbers, as in dispatch.
        args = tuple(a.item() if i < op.n_in and isinstance(a, np.generic) else a
                     for i, a in enumerate(args))  # fmt: skip
        specs = args[: op.n_in]
    d = None
    dts = {s.dtype for s in specs if isinstance(s, Spec)}
    # As dispatch: same-dtype floating tensors with Python numbers need no promotion.
    simple = op.std_promote and len(dts) == 1 and next(iter(dts)).kind == "f" and all(
        isinstance(s, Spec) or type(s) is float or type(s) is int for s in specs)  # fmt: skip
    vals: list[Any] = []
    if op.shape is None or (op.dtype_rule is not None and not simple):
        vals = [_dummy(s) if isinstance(s, Spec) else s for s in specs]
    if op.dtype_rule is not None and not simple:
        try:
            d = op.dtype_rule(vals)
        except TypeError as err:
            raise TypeError(f"{op.name}(): {err}") from None
        if d is not None:  # the inputs as dispatch casts them (stand-ins stay one element)
            vals = [_dummy(Spec(s.shape, d)) if isinstance(s, Spec) else
                    v.astype(d) if isinstance(v, np.ndarray) else v
                    for s, v in zip(specs, vals)]  # fmt: skip
    if op.shape is not None:
        if op.variadic:
            rargs: list[Any] = [[_rule_arg(s) for s in specs], *args[1:]]
        else:
            rargs = [_rule_arg(a) if i < op.n_in else a for i, a in enumerate(args)]
        try:
            out = op.shape(*rargs)
        except (ValueError, IndexError, TypeError) as err:
            _infer_fail(op, args, err)
        if d is None:
            d = next((s.dtype for s in specs if isinstance(s, Spec)), np.dtype(np.float32))
        if op.n_outputs == 1:
            return out if isinstance(out, Spec) else Spec(tuple(out), d)
        return tuple(o if isinstance(o, Spec) else Spec(tuple(o), d) for o in out)
    fargs = [vals, *args[1:]] if op.variadic else [*vals, *args[op.n_in :]]
    try:
        out = op.forward(*fargs)
        if op.aux:
            out = out[0]
    except (ValueError, IndexError, TypeError, np.exceptions.AxisError) as err:
        _infer_fail(op, args, err)
    if op.n_outputs == 1:
        out = np.asarray(out)
        return Spec(out.shape, out.dtype)
    return tuple(Spec(np.shape(o), np.asarray(o).dtype) for o in out)
