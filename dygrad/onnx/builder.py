"""The ONNX graph builder that each op's `onnx=` mapping writes through, and `Dim`, a traced size
that follows a dynamic axis (the batch size) and so becomes a computation in the exported graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import numpy as np

from ..jit.ir import Node

__all__ = ["Builder", "Dim", "Ref", "ExportError", "UnsupportedOperatorError", "describe"]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class ExportError(RuntimeError):
    """A model that cannot be exported to ONNX as asked; the message names the op, the line of
    the user's code that called it and the module it ran in."""


class UnsupportedOperatorError(ExportError):
    """The model calls an op that has no ONNX mapping (no `onnx=` in its `defop` declaration)."""


class _DynamicUse(Exception):  # noqa: N818 - internal signal, turned into an ExportError
    """A mapping used a `Dim` as a plain number."""

    def __init__(self, dim: Dim) -> None:
        super().__init__(str(dim))
        self.dim = dim


def describe(node: Node) -> str:
    """`op() at file:line (module 'path')`: where the user's code called a traced op.

    >>> import dygrad, dygrad.jit
    >>> g = dygrad.jit.trace(lambda x: x.exp(), dygrad.ones(2)).graph
    >>> describe(g.nodes[0])  # doctest: +ELLIPSIS
    'exp() at <doctest ...>:1'
    """
    site = node.site
    text = f"{node.op.name}() at " + (f"{site.file}:{site.line}" if site else "an unknown line")
    return text + (f" (module '{node.scope}')" if node.scope else "")


class Dim:
    """A size (an int of an attribute, or of a value's shape) that changed with a dynamic axis
    when the model was traced again at other sizes: `expr` is `(coef, symbols, offset)`, the
    size being coef * (product of the symbols' sizes) + offset, or None when it is no such
    expression. A mapping passes it on to `Builder.ints` or `Builder.reshape`; using it as a
    number (arithmetic, comparison, `int()`) stops the export with a message naming the op.

    >>> print(Dim(6, (3, ("batch",), 0), ["batch"]), Dim(4, (1, ("time",), -1), ["time"]))
    3*batch time-1
    """

    __slots__ = ("traced", "expr", "axes")

    def __init__(self, traced: int, expr: tuple[int, tuple[str, ...], int] | None,
                 axes: Sequence[str]) -> None:  # fmt: skip
        self.traced = traced  # the size in the first trace
        self.expr = expr
        self.axes = tuple(axes)  # the dynamic axes it depends on

    def __str__(self) -> str:
        if self.expr is None:
            return f"{self.traced} (depends on {', '.join(self.axes)})"
        coef, syms, off = self.expr
        text = "*".join(syms)
        if coef != 1:
            text = f"{coef}*{text}"
        return text + (f"{off:+d}" if off else "")

    def __repr__(self) -> str:
        return f"Dim({self})"

    def _refuse(self, *args: object) -> NoReturn:
        raise _DynamicUse(self)

    __index__ = __int__ = __float__ = __bool__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __floordiv__ = __rfloordiv__ = __mod__ = __neg__ = _refuse
    __hash__ = object.__hash__


class Ref(str):
    """The ONNX name of a tensor passed where an op takes an attribute (an index tensor in a key):
    a mapping tells it from a string attribute (`approximate='tanh'`) by its type."""

    __slots__ = ()


def _static(a: Any) -> None:
    # Raises _DynamicUse when a Dim hides in an attribute bound for an ONNX node.
    if isinstance(a, Dim):
        raise _DynamicUse(a)
    if isinstance(a, list | tuple):
        for x in a:
            _static(x)


class Builder:
    """Collects the ONNX nodes and initializers of one export. An op's mapping (`onnx=` in its
    `defop`) is called as `onnx(ox, *args)`, `ox` being this builder, and returns the ONNX name of
    each output (a tuple for several outputs; None for an output ONNX cannot make).

    >>> ox = Builder()
    >>> y = ox.op("Mul", "x", ox.const(2.0, "float32"))
    >>> y, [n.op_type for n in ox.nodes], len(ox.initializers)
    ('/Mul_2', ['Mul'], 1)
    """

    def __init__(self) -> None:
        import onnx

        self._onnx = onnx
        self.nodes: list[Any] = []  # onnx.NodeProto
        self.initializers: list[Any] = []  # onnx.TensorProto
        self.used: set[str] = set()
        self.dtypes: dict[str, np.dtype] = {}
        self.dims: dict[str, tuple[int | Dim, ...]] = {}
        self.node: Node | None = None  # the traced node being mapped
        self.syms: dict[str, tuple[str, int]] = {}  # dynamic axis -> (input name, axis)
        self._cache: dict[Any, str] = {}
        self._count = 0

    # --- names ----------------------------------------------------------------------------------
    def reserve(self, name: str) -> None:
        self.used.add(name)

    def fresh(self, base: str) -> str:
        """A new value name: `base` (with the module path first) and a number."""
        scope = self.node.scope if self.node is not None else ""
        while True:
            self._count += 1
            name = f"/{scope}/{base}_{self._count}" if scope else f"/{base}_{self._count}"
            if name not in self.used:
                self.used.add(name)
                return name

    # --- emitting -------------------------------------------------------------------------------
    def op(self, op_type: str, *inputs: str | None, outputs: int = 1, **attrs: Any) -> Any:
        """Add an ONNX node (`onnx.helper.make_node`); None inputs are omitted optional inputs.
        Returns the output name, or a tuple of `outputs` names."""
        for a in attrs.values():
            _static(a)
        base = self.fresh(op_type)
        outs = [base] if outputs == 1 else [f"{base}:{j}" for j in range(outputs)]
        self.used.update(outs)
        ins = ["" if i is None else i for i in inputs]
        while ins and ins[-1] == "":
            ins.pop()
        node = self._onnx.helper.make_node(op_type, ins, outs, name=base, **attrs)
        if self.node is not None and self.node.site is not None:
            node.doc_string = f"{self.node.site.file}:{self.node.site.line}"
        self.nodes.append(node)
        return outs[0] if outputs == 1 else tuple(outs)

    def const(self, value: Any, dtype: Any = None) -> str:
        """An initializer holding `value` (an array or a number), as `dtype` if given."""
        _static(value)
        arr = np.asarray(value, dtype)
        key = None
        if arr.size <= 16:  # small constants (scalars, axes) are shared
            key = ("const", arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._cache:
                return self._cache[key]
        name = self.fresh("Constant")
        self.initializers.append(self._onnx.numpy_helper.from_array(arr, name))
        self.dtypes[name] = arr.dtype
        self.dims[name] = arr.shape
        if key is not None:
            self._cache[key] = name
        return name

    def initializer(self, name: str, arr: np.ndarray) -> str:
        """A named initializer (a parameter or buffer)."""
        self.initializers.append(self._onnx.numpy_helper.from_array(np.asarray(arr), name))
        self.dtypes[name] = arr.dtype
        self.dims[name] = arr.shape
        return name

    def ints(self, seq: Iterable[int | Dim]) -> str:
        """A 1-D int64 tensor of sizes: a constant, or computed from the inputs' shapes where an
        entry is a `Dim`."""
        items = list(seq)
        if not any(isinstance(n, Dim) for n in items):
            return self.const(np.array(items, np.int64))
        key = ("ints", *(("dim", n.expr) if isinstance(n, Dim) else n for n in items))
        if key not in self._cache:
            self._cache[key] = self._ints(items)
        return self._cache[key]

    def _ints(self, items: list[int | Dim]) -> str:
        parts: list[str] = []
        run: list[int] = []
        for n in items:
            if isinstance(n, Dim):
                if run:
                    parts.append(self.const(np.array(run, np.int64)))
                    run = []
                parts.append(self._dim(n))
            else:
                run.append(n)
        if run:
            parts.append(self.const(np.array(run, np.int64)))
        return parts[0] if len(parts) == 1 else self.op("Concat", *parts, axis=0)

    def size(self, n: int | Dim, dtype: Any) -> str:
        """A 0-d tensor of `dtype` holding the size `n` (a Dim: computed at run time)."""
        if not isinstance(n, Dim):
            return self.const(n, dtype)
        scalar: str = self.op("Reshape", self._dim(n), self.const(np.zeros(0, np.int64)))
        self.dtypes[scalar] = np.dtype(np.int64)
        return self.cast(scalar, dtype)

    def _dim(self, d: Dim) -> str:
        # A Dim as a 1-element int64 tensor, from the inputs' shapes.
        if d.expr is None:
            self.fail(f"a size ({d}) changes with the dynamic axes in a way that is not a "
                      "multiple of them, so it cannot be computed in the ONNX graph")  # fmt: skip
        key = ("dim", d.expr)
        if key in self._cache:
            return self._cache[key]
        coef, syms, off = d.expr
        t: str | None = None
        for s in syms:
            st = self._sym(s)
            t = st if t is None else self.op("Mul", t, st)
        assert t is not None  # a Dim depends on at least one axis
        if coef != 1:
            t = self.op("Mul", t, self.const(np.array([coef], np.int64)))
        if off:
            t = self.op("Add", t, self.const(np.array([off], np.int64)))
        self._cache[key] = t
        return t

    def _sym(self, s: str) -> str:
        key = ("sym", s)
        if key not in self._cache:
            name, axis = self.syms[s]
            self._cache[key] = self.op("Shape", name, start=axis, end=axis + 1)
        return self._cache[key]

    def reshape(self, x: str, shape: Sequence[int | Dim]) -> str:
        """`Reshape` of x to `shape` (a traced shape: sizes that follow a dynamic axis become
        -1, or a computation from the inputs' shapes)."""
        dyn = [i for i, n in enumerate(shape) if isinstance(n, Dim)]
        free = [i for i in dyn if shape[i].expr is None]  # type: ignore[union-attr]
        if len(free) > 1:
            self.fail(f"reshape to {list(map(str, shape))}: more than one size changes with the "
                      "dynamic axes in a way that the ONNX graph cannot compute")  # fmt: skip
        minus = free[0] if free else dyn[0] if dyn else None
        target = [-1 if i == minus else n for i, n in enumerate(shape)]
        # Without allowzero, ONNX reads a 0 in the shape as "keep that input dim".
        zero = minus is None and any(type(n) is int and n == 0 for n in target)
        if zero:
            return self.op("Reshape", x, self.ints(target), allowzero=1)
        return self.op("Reshape", x, self.ints(target))

    def cast(self, x: str, dtype: Any) -> str:
        """x as `dtype` (a NumPy or dygrad dtype): x itself when it already is."""
        dt = np.dtype(getattr(dtype, "np", dtype))
        if self.dtypes.get(x) == dt:
            return x
        y: str = self.op("Cast", x, to=self.onnx_type(dt))
        self.dtypes[y] = dt
        if x in self.dims:
            self.dims[y] = self.dims[x]
        return y

    def onnx_type(self, dtype: Any) -> int:
        """The ONNX element type (`TensorProto.FLOAT`, ...) of a NumPy dtype."""
        return int(self._onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    # --- reading ----------------------------------------------------------------------------------
    def dtype(self, x: str) -> np.dtype:
        """The NumPy dtype of a traced value (an input of the op being mapped)."""
        return self.dtypes[x]

    def shape(self, x: str) -> tuple[int | Dim, ...]:
        """The shape of a traced value: ints, and `Dim`s where it follows a dynamic axis."""
        return self.dims[x]

    def rank(self, x: str) -> int:
        return len(self.dims[x])

    @property
    def out_dtype(self) -> np.dtype:
        """The dtype of the mapped op's (first) output, as traced."""
        assert self.node is not None
        return self.node.outputs[0].dtype

    def fail(self, msg: str) -> NoReturn:
        """Stop the export: this op, as called, has no ONNX form."""
        where = describe(self.node) if self.node is not None else "the model"
        raise ExportError(f"dygrad.onnx.export: {where}: {msg}")
