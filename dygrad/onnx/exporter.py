"""`dygrad.onnx.export`: trace a model (`dygrad.jit`), map each traced op through the `onnx=` rule
of its declaration, and write an ONNX model (opset 18) that onnxruntime runs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import numpy as np

from ..autograd.grad_mode import no_grad
from ..creation import from_numpy
from ..func._pytree import tree_flatten, tree_unflatten
from ..jit.ir import DETACH, DataRef, Graph, Node, Value
from ..jit.tracer import trace_graph
from ..ops.registry import Op
from ..tensor import Tensor
from .builder import (
    Builder,
    Dim,
    ExportError,
    Ref,
    UnsupportedOperatorError,
    _DynamicUse,
    describe,
)

__all__ = ["export", "OPSET"]

OPSET = 18  # onnxruntime runs it; LayerNormalization is there, reductions take axes as inputs
_IR_VERSION = 8  # the IR version that opset 18 came with: older runtimes load the file too

Variant = tuple[str, int]  # (dynamic axis, how much larger it was made)


def export(
    model: Callable[..., Any],
    example_inputs: Any,
    path: Any,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: dict[str, Any] | None = None,
) -> Any:
    """Write `model` (a module or a function of tensors) as an ONNX model to `path`, a file name
    or a binary file object (`torch.onnx.export`); returns the `onnx.ModelProto`.

    The model runs once on `example_inputs` (a tensor, or a tuple of positional arguments) and the
    ops it calls become the ONNX graph, so its Python control flow is fixed by that run: code
    that looks at tensor data (`if x.sum() > 0:`) is refused. A module is exported in eval mode
    (dropout off, batch norm with running statistics), as PyTorch does by default; its
    parameters and buffers become initializers named by their module path (`fc1.weight`).

    `input_names` name the tensor inputs in order (default `input0`, ...), `output_names` the
    tensor outputs (default `output0`, ...). `dynamic_axes` maps an input or output name to the
    axes whose size may change, `{"x": {0: "batch"}}` (or a list of axes): the model is traced
    again with those axes one and two larger, and every size that follows them is computed
    from the inputs' shapes in the graph. Give dynamic axes an example size above 1.

    >>> import os, tempfile
    >>> import dygrad as torch
    >>> import dygrad.onnx
    >>> import onnxruntime as ort
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> _ = torch.onnx.export(net, torch.randn(2, 3), path, input_names=["x"],
    ...                       dynamic_axes={"x": {0: "batch"}})
    >>> x = torch.randn(5, 3)
    >>> sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> (y,) = sess.run(None, {"x": x.numpy()})
    >>> bool(abs(y - net(x).detach().numpy()).max() < 1e-5)
    True
    """
    onnx = _require_onnx()
    dest = _check_path(path)
    args = example_inputs if type(example_inputs) is tuple else (example_inputs,)
    leaves, spec = tree_flatten(args)
    tensors: list[Tensor] = []
    for leaf in leaves:
        if isinstance(leaf, Tensor) and all(leaf is not t for t in tensors):
            tensors.append(leaf)
    in_names = _names(input_names, "input_names", len(tensors), "input")
    given_out = _names(output_names, "output_names", None, "output")
    axes = _check_axes(dynamic_axes)
    in_axes: dict[int, dict[int, str]] = {}
    for name, ax in axes.items():
        if name in in_names:
            i = in_names.index(name)
            in_axes[i] = _normalize_axes(ax, tensors[i].ndim, "input", name)
    with _eval_mode(model), no_grad():
        graph, _ = trace_graph(model, args, {})
        _check_graph(graph)
        sizes, variants = _retrace(model, leaves, spec, tensors, in_names, in_axes, graph)
    out_names = given_out + [f"output{j}" for j in range(len(given_out), len(graph.outputs))]
    if len(given_out) > len(graph.outputs):
        raise ValueError(
            f"dygrad.onnx.export: {len(given_out)} output_names given, but the model returns "
            f"{len(graph.outputs)} tensor(s)"
        )
    out_names = out_names[: len(graph.outputs)]
    out_axes: dict[int, dict[int, str]] = {}
    for name, ax in axes.items():
        if name in in_names:
            continue
        if name not in out_names:
            raise ValueError(
                f"dygrad.onnx.export: dynamic_axes names '{name}', which is neither an input "
                f"name {in_names} nor an output name {out_names}"
            )
        j = out_names.index(name)
        out_axes[j] = _normalize_axes(ax, len(graph.outputs[j].shape), "output", name)
    _check_clashes(in_names, out_names, graph)
    proto = _Export(graph, variants, sizes).build(in_names, in_axes, out_names, out_axes, model)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:  # a mapping emitted something invalid
        raise ExportError(f"dygrad.onnx.export built an invalid ONNX model (a bug in an op's "
                          f"onnx= mapping): {e}") from e  # fmt: skip
    if isinstance(dest, str):
        onnx.save_model(proto, dest)
    else:
        dest.write(proto.SerializeToString())
    return proto


# --- checking the arguments (before anything is traced or written) --------------------------------


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("dygrad.onnx.export needs the onnx package (pip install onnx)") from None
    return onnx


def _check_path(path: Any) -> Any:
    if hasattr(path, "write"):
        return path
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            "dygrad.onnx.export: path must be a file name or a binary file object, got "
            f"{type(path).__name__}"
        )
    p = os.fspath(path)
    if not isinstance(p, str) or not p:
        raise ValueError(f"dygrad.onnx.export: path must be a non-empty file name, got {p!r}")
    if os.path.isdir(p):
        raise IsADirectoryError(f"dygrad.onnx.export: path '{p}' is a directory, not a file name")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        raise FileNotFoundError(
            f"dygrad.onnx.export: cannot write '{p}': the directory '{parent}' does not exist"
        )
    return p


def _names(names: Sequence[str] | None, what: str, count: int | None, stem: str) -> list[str]:
    if names is None:
        return [f"{stem}{k}" for k in range(count or 0)]
    if isinstance(names, str) or not isinstance(names, list | tuple):
        raise TypeError(f"dygrad.onnx.export: {what} must be a list of strings, got "
                        f"{type(names).__name__}")  # fmt: skip
    out = list(names)
    for n in out:
        if not isinstance(n, str) or not n:
            raise TypeError(f"dygrad.onnx.export: {what} must hold non-empty strings, got {n!r}")
    seen: set[str] = set()
    for n in out:
        if n in seen:
            raise ValueError(f"dygrad.onnx.export: {what} names '{n}' twice")
        seen.add(n)
    if count is not None:
        if len(out) > count:
            raise ValueError(f"dygrad.onnx.export: {len(out)} {what} given, but the example "
                             f"inputs hold {count} tensor(s)")  # fmt: skip
        out += [f"{stem}{k}" for k in range(len(out), count)]
    return out


def _check_axes(dynamic_axes: Any) -> dict[str, Any]:
    if dynamic_axes is None:
        return {}
    if not isinstance(dynamic_axes, dict):
        raise TypeError("dygrad.onnx.export: dynamic_axes must be a dict such as "
                        "{'x': {0: 'batch'}}, got " + type(dynamic_axes).__name__)  # fmt: skip
    for name, ax in dynamic_axes.items():
        if not isinstance(name, str):
            raise TypeError(f"dygrad.onnx.export: dynamic_axes keys are input or output names, "
                            f"got {name!r}")  # fmt: skip
        if not isinstance(ax, dict | list | tuple):
            raise TypeError(f"dygrad.onnx.export: dynamic_axes['{name}'] must be a dict "
                            f"{{axis: name}} or a list of axes, got {ax!r}")  # fmt: skip
    return dynamic_axes


def _normalize_axes(ax: Any, ndim: int, kind: str, name: str) -> dict[int, str]:
    who = f"{kind} '{name}'"
    items = ax.items() if isinstance(ax, dict) else ((a, None) for a in ax)
    out: dict[int, str] = {}
    for k, (a, sym) in enumerate(items):
        if type(a) is not int:
            raise TypeError(f"dygrad.onnx.export: dynamic_axes of {who}: axes are ints, got {a!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"dygrad.onnx.export: dynamic_axes of {who}: axis {a} is out of "
                             f"range for its {ndim} dimension(s)")  # fmt: skip
        if sym is None:
            sym = f"{name}_dynamic_axes_{k + 1}"  # PyTorch's name for an unnamed axis
        if not isinstance(sym, str) or not sym:
            raise TypeError(f"dygrad.onnx.export: dynamic_axes of {who}: axis names are "
                            f"non-empty strings, got {sym!r}")  # fmt: skip
        out[a % ndim] = sym
    return out


def _check_clashes(in_names: list[str], out_names: list[str], g: Graph) -> None:
    taken = {v.name: "a parameter or buffer" for v in g.externals if v.name}
    for n in in_names:
        if n in taken:
            raise ValueError(f"dygrad.onnx.export: input name '{n}' is also the name of "
                             f"{taken[n]}; choose another")  # fmt: skip
        taken[n] = "an input"
    for n in out_names:
        if n in taken:
            raise ValueError(f"dygrad.onnx.export: output name '{n}' is also the name of "
                             f"{taken[n]}; choose another")  # fmt: skip
        taken[n] = "an output"


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    # As torch.onnx.export(training=TrainingMode.EVAL): each module's own flag comes back after.
    mods = list(model.modules()) if hasattr(model, "modules") and hasattr(model, "eval") else []
    flags = [m.training for m in mods]
    try:
        if mods:
            model.eval()
        yield
    finally:
        for m, f in zip(mods, flags):
            m.training = f


def _live(g: Graph) -> list[Node]:
    """The nodes the outputs depend on, in order."""
    need = {v.id for v in g.outputs}
    live = []
    for n in reversed(g.nodes):
        if any(v.id in need for v in n.outputs):
            live.append(n)
            need.update(v.id for v in n.tensor_args())
    return live[::-1]


def _check_graph(g: Graph) -> None:
    if g.guards:
        gd = g.guards[0]
        raise ExportError(
            f"dygrad.onnx.export: the model's Python code looked at tensor data "
            f"({gd.describe()}), e.g. `if x.sum() > 0:` or `x.item()`: the ONNX graph would take "
            "the branch of this one run for every input. Express it with tensor ops "
            "(torch.where), or move it out of the exported model."
        )
    for tgt, _ in g.mutations:
        raise ExportError(
            f"dygrad.onnx.export: the model changes the tensor {tgt.ref} in place (a buffer or "
            "an input): an ONNX graph has no state to write it back to. Export it in eval mode, "
            "or use out-of-place ops."
        )
    live = _live(g)
    for n in live:
        if getattr(n.op, "random", False):
            raise ExportError(
                f"dygrad.onnx.export: {describe(n)} draws random numbers (dropout in training "
                "mode, torch.randn, ...): the exported graph would be random. Pass "
                "training=False (modules are exported in eval mode), or draw outside the model."
            )
    missing: dict[str, Node] = {}
    for n in live:
        if n.op is not DETACH and n.op.onnx is None:
            missing.setdefault(n.op.name, n)
    if missing:
        listed = "; ".join(describe(n) for n in missing.values())
        raise UnsupportedOperatorError(
            f"dygrad.onnx.export: no ONNX mapping for {len(missing)} op(s) the model calls: "
            f"{listed}. An op is exported by the onnx= rule of its defop declaration in "
            "dygrad/ops."
        )


# --- dynamic axes: trace again at other sizes, and see which sizes follow -------------------------


def _resized(t: Tensor, axes: dict[int, str], sym: str, n: int) -> Tensor:
    arr = t.detach().numpy()
    for a, s in axes.items():
        if s == sym:
            arr = np.take(arr, np.arange(n) % arr.shape[a], axis=a)  # real rows, repeated
    return from_numpy(np.ascontiguousarray(arr))


def _retrace(model: Any, leaves: list[Any], spec: Any, tensors: list[Tensor], in_names: list[str],
             in_axes: dict[int, dict[int, str]], g: Graph,
             ) -> tuple[dict[str, int], dict[Variant, Graph]]:  # fmt: skip
    sizes: dict[str, int] = {}
    first: dict[str, str] = {}
    for i, axes in in_axes.items():
        for a, s in axes.items():
            n = tensors[i].shape[a]
            here = f"input '{in_names[i]}' axis {a}"
            if s in sizes and sizes[s] != n:
                raise ValueError(
                    f"dygrad.onnx.export: dynamic axis '{s}' is {first[s]} (size {sizes[s]}) and "
                    f"{here} (size {n}): axes sharing a name must have the same size"
                )
            sizes.setdefault(s, n)
            first.setdefault(s, here)
    variants: dict[Variant, Graph] = {}
    for s, n in sizes.items():
        for delta in (1, 2):
            new = {
                id(t): _resized(t, in_axes.get(i, {}), s, n + delta) for i, t in enumerate(tensors)
            }
            args = tree_unflatten([new.get(id(x), x) for x in leaves], spec)
            try:
                alt, _ = trace_graph(model, args, {})
            except Exception as e:
                raise ExportError(
                    f"dygrad.onnx.export: the model fails when dynamic axis '{s}' ({first[s]}) "
                    f"has size {n + delta} instead of {n}: {type(e).__name__}: {e}"
                ) from e
            _same_structure(g, alt, s, n, n + delta)
            variants[s, delta] = alt
    return sizes, variants


def _same_structure(g: Graph, alt: Graph, s: str, n: int, m: int) -> None:
    why = f"when dynamic axis '{s}' has size {m} instead of {n}"
    for a, b in zip(g.nodes, alt.nodes):
        if a.op.name == b.op.name and len(a.outputs) != len(b.outputs):
            raise ExportError(
                f"dygrad.onnx.export: {describe(a)} gives {len(b.outputs)} tensors instead of "
                f"{len(a.outputs)} {why}: the exported graph would keep {len(a.outputs)}; "
                "export with the axis static."
            )
        if a.op.name != b.op.name:
            raise ExportError(
                f"dygrad.onnx.export: the model calls other ops {why}: {describe(a)} became "
                f"{describe(b)}. Its Python code depends on that size; export with the axis "
                "static."
            )
    if len(g.nodes) != len(alt.nodes) or len(g.const_values) != len(alt.const_values):
        k = min(len(g.nodes), len(alt.nodes))
        at = describe(g.nodes[k]) if k < len(g.nodes) else "the end of the model"
        raise ExportError(
            f"dygrad.onnx.export: the model calls other ops {why}, from {at} on: "
            "its Python code depends on that size; export with the axis static."
        )
    if alt.guards or alt.mutations:
        _check_graph(alt)


class _Export:
    """One export: the traced graph, its variants at other sizes, and the builder."""

    def __init__(self, g: Graph, variants: dict[Variant, Graph], sizes: dict[str, int]) -> None:
        self.g = g
        self.variants = variants
        self.sizes = sizes
        self.b = Builder()
        self.env: dict[int, str | None] = {}
        self.producer: dict[int, Node] = {}
        # base value id -> the same value in each variant
        self.alt: dict[int, dict[Variant, Value]] = {}
        if variants:
            self._align()

    # --- lining the variants up with the graph ---------------------------------------------------
    def _align(self) -> None:
        g = self.g
        for tag, alt in self.variants.items():
            pairs: list[tuple[Value, Value]] = list(zip(g.inputs, alt.inputs))
            by_name = {v.name: v for v in alt.externals}
            pairs += [(v, by_name[v.name]) for v in g.externals if v.name in by_name]
            pairs += list(zip(g.const_values, alt.const_values))
            for a, b in pairs:
                self.alt.setdefault(a.id, {})[tag] = b
            for n, m in zip(g.nodes, alt.nodes):
                for a, b in zip(n.tensor_args(), m.tensor_args()):
                    if self.alt.get(a.id, {}).get(tag) is not b:
                        raise ExportError(
                            f"dygrad.onnx.export: {describe(n)} reads other tensors when "
                            f"dynamic axis '{tag[0]}' changes size: export with it static."
                        )
                for a, b in zip(n.outputs, m.outputs):
                    self.alt.setdefault(a.id, {})[tag] = b

    def fit(self, v0: int, alts: dict[Variant, int]) -> int | Dim:
        """v0, or a Dim when the size changed with a dynamic axis."""
        dep = sorted({s for (s, _), v in alts.items() if v != v0})
        if not dep:
            return v0
        expr: tuple[int, tuple[str, ...], int] | None = None
        if len(dep) == 1:
            s = dep[0]
            v1, v2 = alts[s, 1], alts[s, 2]
            if v1 - v0 == v2 - v1:  # affine in that size: k * s + c
                expr = (v1 - v0, (s,), v0 - (v1 - v0) * self.sizes[s])
        else:
            p = int(np.prod([self.sizes[s] for s in dep]))
            c = v0 // p
            if c * p == v0 and all(
                alts[s, d] == c * p // self.sizes[s] * (self.sizes[s] + d)
                for s in dep
                for d in (1, 2)
            ):
                expr = (c, tuple(dep), 0)
        return Dim(v0, expr, dep)

    def dims(self, v: Value) -> tuple[int | Dim, ...]:
        alts = self.alt.get(v.id)
        if not alts:
            return v.shape
        for tag, w in alts.items():
            if len(w.shape) != len(v.shape):
                self._varies(v, tag, "the number of dimensions")
        return tuple(
            self.fit(n, {tag: w.shape[j] for tag, w in alts.items()}) for j, n in enumerate(v.shape)
        )

    def _varies(self, v: Value, tag: Variant, what: str) -> NoReturn:
        node = v.node or self._first_user(v)
        where = describe(node) if node is not None else f"value {v.ref}"
        raise ExportError(
            f"dygrad.onnx.export: {what} of {where} changes with dynamic axis '{tag[0]}' (a "
            "squeeze of an example size of 1? give dynamic axes an example size above 1), so "
            "the ONNX graph cannot follow it; export with the axis static."
        )

    def _first_user(self, v: Value) -> Node | None:
        for n in self.g.nodes:
            if any(a.id == v.id for a in n.tensor_args()):
                return n
        return None

    def merge(self, a: Any, alts: dict[Variant, Any], n: Node, param: str) -> Any:
        """An attribute as traced, with Dims where its ints changed with a dynamic axis."""
        if not alts or isinstance(a, Value | DataRef):
            return a
        if type(a) is int:
            if any(type(x) is not int for x in alts.values()):
                self._attr_varies(n, param, next(iter(alts)))
            return self.fit(a, alts)
        if isinstance(a, list | tuple):
            for tag, x in alts.items():
                if type(x) is not type(a) or len(x) != len(a):
                    self._attr_varies(n, param, tag)
            return type(a)(
                self.merge(e, {t: x[i] for t, x in alts.items()}, n, param) for i, e in enumerate(a)
            )
        if isinstance(a, slice):
            for tag, x in alts.items():
                if not isinstance(x, slice):
                    self._attr_varies(n, param, tag)
            return slice(*(self.merge(getattr(a, k), {t: getattr(x, k) for t, x in alts.items()},
                                      n, param) for k in ("start", "stop", "step")))  # fmt: skip
        for tag, x in alts.items():
            if isinstance(a, np.ndarray):
                same = isinstance(x, np.ndarray) and x.shape == a.shape and np.array_equal(x, a)
            else:
                try:
                    same = bool(x == a) or (x != x and a != a)  # NaN equals itself here
                except Exception:
                    same = False
            if not same:
                self._attr_varies(n, param, tag)
        return a

    def _attr_varies(self, n: Node, param: str, tag: Variant) -> NoReturn:
        raise ExportError(
            f"dygrad.onnx.export: {describe(n)}: its argument '{param}' changes with dynamic axis "
            f"'{tag[0]}' (a Python number computed from that size?): the ONNX graph would keep "
            "the traced value. Compute it with tensor ops, or export with the axis static."
        )

    # --- values --------------------------------------------------------------------------------
    def name(self, v: Value, user: Node | None) -> str:
        """The ONNX name of a value, emitting its initializer the first time."""
        if v.id in self.env:
            got = self.env[v.id]
            if got is None:
                who = describe(user) if user is not None else "the model's result"
                raise ExportError(
                    f"dygrad.onnx.export: {who} uses output {v.index} of "
                    f"{describe(self.producer[v.id])}, which has no ONNX counterpart"
                )
            return got
        b = self.b
        if v.kind == "external":
            t = self.g.external_tensors[v.id]
            nm = b.initializer(v.name or b.fresh("captured"), t.detach().numpy())
        elif v.kind == "const":
            nm = self._const(v, user)
        else:  # pragma: no cover - inputs and node outputs are named before use
            raise ExportError(f"dygrad.onnx.export: internal error: value {v.ref} has no name")
        self.env[v.id] = nm
        return nm

    def _const(self, v: Value, user: Node | None) -> str:
        arr = self.g.consts[v.id]
        dims = self.dims(v)
        b = self.b
        alts = self.alt.get(v.id, {})
        if not any(isinstance(d, Dim) for d in dims):
            for tag, w in alts.items():
                if not np.array_equal(self.variants[tag].consts[w.id], arr):
                    self._const_varies(user, tag)
            return b.const(arr)
        # Shaped by a dynamic axis: a tensor filled with one value (torch.zeros(batch, n)) can
        # follow it, as that value expanded to the computed shape, and so can a 1-D range
        # (torch.arange(t), as in a causal mask).
        flat = arr.reshape(-1)
        others = [self.variants[tag].consts[w.id].reshape(-1) for tag, w in alts.items()]
        b.node = user
        if flat.size and all(np.all(a == flat[0]) for a in [flat, *others]):
            nm: str = b.op("Expand", b.const(flat[0]), b.ints(dims))
        elif arr.ndim == 1 and all(_is_range(a, flat[:1]) for a in [flat, *others]):
            start = b.const(flat[0], arr.dtype)
            limit = b.op("Add", start, b.size(dims[0], arr.dtype))
            nm = b.op("Range", start, limit, b.const(1, arr.dtype))
        else:
            self._const_varies(user, next(iter(alts)))
        b.dtypes[nm] = arr.dtype
        b.dims[nm] = dims
        return nm

    def _const_varies(self, user: Node | None, tag: Variant) -> NoReturn:
        who = describe(user) if user is not None else "returned"
        raise ExportError(
            f"dygrad.onnx.export: a tensor created in the model (used by {who}) "
            f"changes with dynamic axis '{tag[0]}': only tensors filled with one value "
            "(torch.zeros(n), torch.full) and ranges (torch.arange(n)) can follow a dynamic "
            "axis. Export with the axis static, or pass the tensor as an input."
        )

    # --- nodes ---------------------------------------------------------------------------------
    def _alt_nodes(self, k: int) -> dict[Variant, Node]:
        return {tag: alt.nodes[k] for tag, alt in self.variants.items()}

    def prepare(self, n: Node, alt: dict[Variant, Node]) -> list[Any]:
        """The mapping's arguments: names for values (cast as the op's dtype rule casts them,
        numbers at tensor positions as constants), attributes with their Dims."""
        op = n.op
        assert isinstance(op, Op)  # a detach (the one other kind of node) needs no mapping
        b = self.b
        params = op.params

        def attr(i: int) -> Any:
            a = self.merge(n.args[i], {t: m.args[i] for t, m in alt.items()}, n,
                           params[i] if i < len(params) else str(i))  # fmt: skip
            return self._refs(a, n)

        if op.variadic:
            xs = [self.name(v, n) for v in n.args[0]]
            rule = op.dtype_rule
            if rule is not None:
                d = _rule_dtype(rule, [_stand_in(b, x) for x in xs])
                if d is not None:
                    xs = [b.cast(x, d) for x in xs]
            return [xs, *(attr(i) for i in range(1, len(n.args)))]
        args: list[Any] = []
        for i, a in enumerate(n.args[: op.n_in]):
            args.append(self.name(a, n) if isinstance(a, Value) else attr(i))
        d = None
        if op.dtype_rule is not None:
            stand = [_stand_in(b, a) if isinstance(a, str) else a.traced if isinstance(a, Dim)
                     else a for a in args]  # fmt: skip
            d = _rule_dtype(op.dtype_rule, stand)
            if d is not None:
                args = [b.cast(a, d) if isinstance(a, str) else a for a in args]
            else:
                d = next((b.dtype(a) for a in args if isinstance(a, str)), None)
        if d is None:
            d = n.outputs[0].dtype
        for i, a in enumerate(args):
            if isinstance(a, Dim):
                args[i] = b.size(a, d)
            elif isinstance(a, bool | int | float | np.number | np.bool_):
                args[i] = b.const(a, d)
        return args + [attr(i) for i in range(op.n_in, len(n.args))]

    def _refs(self, a: Any, n: Node) -> Any:
        # DataRef (a value's array where the op takes an attribute) -> its name, as a Ref.
        if isinstance(a, DataRef):
            return Ref(self.name(a.value, n))
        if isinstance(a, list | tuple) and any(isinstance(x, DataRef | list | tuple) for x in a):
            return type(a)(self._refs(x, n) for x in a)
        return a

    def build(self, in_names: list[str], in_axes: dict[int, dict[int, str]], out_names: list[str],
              out_axes: dict[int, dict[int, str]], model: Any) -> Any:  # fmt: skip
        import onnx
        from onnx import helper

        g, b = self.g, self.b
        for nm in [*in_names, *out_names, *(v.name for v in g.externals if v.name)]:
            b.reserve(nm)
        inputs = []
        for i, (v, nm) in enumerate(zip(g.inputs, in_names)):
            self.env[v.id] = nm
            b.dtypes[nm] = v.dtype
            b.dims[nm] = self.dims(v)
            axes = in_axes.get(i, {})
            for a, s in axes.items():
                b.syms.setdefault(s, (nm, a))
            shape = [axes.get(a, n) for a, n in enumerate(v.shape)]
            inputs.append(helper.make_tensor_value_info(nm, b.onnx_type(v.dtype), shape))
        index = {n: k for k, n in enumerate(g.nodes)}
        for n in _live(g):
            self._emit(n, self._alt_nodes(index[n]) if self.variants else {})
        outputs = []
        b.node = None
        srcs = [self.name(v, None) for v in g.outputs]
        consumed = {i for node in b.nodes for i in node.input}
        renamed: dict[str, str] = {}
        producers = {o: node for node in b.nodes for o in node.output}
        for j, (v, nm, src) in enumerate(zip(g.outputs, out_names, srcs)):
            node = producers.get(src)
            if node is not None and src not in consumed and src not in renamed:
                node.output[list(node.output).index(src)] = nm  # the producer writes it directly
                renamed[src] = nm
            else:
                src = renamed.get(src, src)
                b.nodes.append(helper.make_node("Identity", [src], [nm], name=f"/{nm}"))
            dims = self.dims(v)
            names = out_axes.get(j, {})
            shape = [
                names.get(a, str(n) if isinstance(n, Dim) and n.expr else f"{nm}_dim{a}")
                if isinstance(n, Dim) or a in names
                else n
                for a, n in enumerate(dims)
            ]
            outputs.append(helper.make_tensor_value_info(nm, b.onnx_type(v.dtype), shape))
        title = getattr(model, "__name__", type(model).__name__)
        graph = helper.make_graph(b.nodes, title, inputs, outputs, b.initializers)
        return helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=_IR_VERSION,
            producer_name="dygrad",
            doc_string=f"exported by dygrad.onnx (onnx {onnx.__version__})",
        )

    def _emit(self, n: Node, alt: dict[Variant, Node]) -> None:
        b = self.b
        b.node = n
        if n.op is DETACH:
            outs: tuple[Any, ...] = (self.name(n.args[0], n),)
        else:
            try:
                args = self.prepare(n, alt)
                res = n.op.onnx(b, *args)  # type: ignore[misc]
            except _DynamicUse as e:
                raise ExportError(
                    f"dygrad.onnx.export: {describe(n)}: its ONNX form needs as a fixed number "
                    f"a size that changes with dynamic axis '{', '.join(e.dim.axes)}' "
                    f"(traced as {e.dim.traced}); export with that axis static."
                ) from None
            outs = (res,) if isinstance(res, str) else tuple(res)
        if len(outs) != len(n.outputs):
            raise ExportError(
                f"dygrad.onnx.export: internal error: the ONNX mapping of "
                f"{n.op.name} gave {len(outs)} outputs for {len(n.outputs)}"
            )
        for v, nm in zip(n.outputs, outs):
            self.env[v.id] = nm
            self.producer[v.id] = n
            if nm is None:
                continue
            if n.inplace:  # an in-place op's result keeps its target's dtype
                nm = self.env[v.id] = b.cast(nm, v.dtype)
            b.dtypes.setdefault(nm, v.dtype)
            b.dims.setdefault(nm, self.dims(v))


def _is_range(a: np.ndarray, start: np.ndarray) -> bool:
    # start, start + 1, ...: what torch.arange(n) makes
    return a.size > 0 and np.array_equal(a, start[0] + np.arange(a.size, dtype=a.dtype))


def _stand_in(b: Builder, x: str) -> np.ndarray:
    # What a dtype rule needs of a tensor: its dtype and number of dimensions.
    return np.zeros((1,) * b.rank(x), b.dtype(x))


def _rule_dtype(rule: Callable[..., Any], vals: list[Any]) -> np.dtype | None:
    try:
        d = rule(vals)
    except (TypeError, ValueError):
        return None
    return None if d is None else np.dtype(d)
