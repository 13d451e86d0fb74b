"""The user-facing `Tensor`: attributes, operators and methods that forward to ops, autograd entry
points (`backward`, hooks, `retain_grad`), printing, and NumPy interop."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import backend, dtypes
from ._printing import format_tensor
from .autograd import graph as graph_module
from .autograd.grad_mode import fw_open, hook_open, state
from .autograd.graph import AccumulateGrad, Node, RemovableHandle
from .dtypes import dtype as _dtype_cls
from .ops import activation as A
from .ops import indexing as I  # noqa: E741
from .ops import linalg as L
from .ops import pointwise as P
from .ops import reduction as R
from .ops import shape as S
from .ops.registry import (
    apply,
    apply1,
    apply2,
    apply_inplace,
    check_retention,
    note_cut,
    note_inplace,
    set_tensor_class,
    user_line,
)
from .ops.registry import concrete as _concrete
from .ops.registry import created as _created
from .ops.registry import made as _made
from .ops.registry import untraceable as _untraceable

__all__ = ["Tensor", "Size", "device"]


class _Late:
    """Functions of modules that import this one (backward, indexing), looked up on first use
    and kept: an import statement in a method costs half a microsecond on every call."""

    def __getattr__(self, name: str) -> Any:
        if name == "backward":
            from .backward import backward as fn
        elif name == "getitem":
            from .indexing import getitem as fn
        elif name == "setitem":
            from .indexing import setitem as fn
        else:
            raise AttributeError(name)
        setattr(self, name, fn)
        return fn


_late = _Late()

_nd = np.ndarray
_new = object.__new__
_Number = (int, float, bool, np.number, np.bool_)


class Size(tuple):
    """A tensor's shape (`torch.Size`): a tuple that prints as PyTorch's does.

    >>> Size([2, 3])
    torch.Size([2, 3])
    """

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


class device:  # noqa: N801 - PyTorch's name
    """The device a tensor lives on; dygrad computes on the CPU only."""

    __slots__ = ("type", "index")

    def __init__(self, type: str = "cpu", index: int | None = None) -> None:  # noqa: A002
        name = type.type if isinstance(type, device) else str(type)
        if name.split(":")[0] != "cpu":
            raise RuntimeError(f"dygrad runs on the CPU only; device {name!r} is not available")
        self.type = "cpu"
        self.index = index

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"

    def __eq__(self, other: object) -> bool:
        return str(other) == "cpu" or isinstance(other, device)

    def __hash__(self) -> int:
        return hash("cpu")


_CPU = device("cpu")


def _dim(d: int, ndim: int) -> int:
    """Normalize a possibly negative dim, with PyTorch's error when out of range."""
    n = max(ndim, 1)
    if not isinstance(d, int | np.integer) or isinstance(d, bool):
        raise TypeError(f"dim must be an int, got {type(d).__name__}")
    if d < -n or d >= n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
        )
    return int(d) % n if ndim else 0


def _dims(dim: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(dim, int | np.integer):
        return (_dim(dim, ndim),) if ndim else ()
    out = tuple(_dim(d, ndim) for d in dim)
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {out} appears multiple times in the list of dims")
    # A 0-d tensor accepts dim 0 (or -1) as PyTorch does; over it nothing is reduced or moved.
    return out if ndim else ()


def _shape_arg(args: tuple[Any, ...]) -> tuple[int, ...]:
    # size(...) arguments may be given as ints or one sequence: reshape(2, 3) or reshape((2, 3)).
    if len(args) == 1 and isinstance(args[0], Sequence | np.ndarray):
        args = tuple(args[0])
    for a in args:
        if not isinstance(a, int | np.integer) or isinstance(a, bool):
            raise TypeError(f"size must be a sequence of ints, got element {a!r}")
    return tuple(int(a) for a in args)


class Tensor:
    """A multi-dimensional array that records the operations that made it (`torch.Tensor`).

    >>> import dygrad as torch
    >>> x = torch.ones(2, 2, requires_grad=True)
    >>> (x * 3).sum()
    tensor(12., grad_fn=<SumBackward0>)
    """

    __slots__ = (
        "_data",
        "_requires_grad",
        "grad_fn",
        "_out_nr",
        "_vc",
        "_base",
        "__weakref__",
        "__dict__",
    )
    _data: np.ndarray
    _requires_grad: bool
    grad_fn: Node | None
    _out_nr: int
    _vc: list[int]  # the version counter, shared by a tensor and its views
    _base: Tensor | None
    # Set on few tensors (leaves, tensors with hooks): class defaults, kept in the instance
    # __dict__ once set, so that making an op's result sets five attributes rather than nine.
    _grad: Tensor | None = None
    _accum: weakref.ReferenceType[AccumulateGrad] | None = None
    _hooks: dict[int, Callable[..., Any]] | None = None
    _retains_grad = False
    # Forward-mode tangents by dual-level id; an instance attribute only on dual tensors, so the
    # hot path (`_wrap`) never pays for it.
    _fw: dict[int, Tensor] | None = None
    # Where a leaf's graph was last cut (no_grad, a non-differentiable op, detach), for
    # dygrad.autograd.why_no_grad; set in the instance __dict__ only when it happens.
    _cut: tuple[str, str, Any] | None = None
    # True for a view made of a dual tensor: in-place ops on it are refused (its base's tangent
    # would not follow).
    _fw_view = False
    _dual_root = False  # made by make_dual: in-place ops on it are fine though it is a view
    _view_fn: Node | None = None  # a view's base's grad_fn when the view was taken
    # NumPy must hand tensors to us (`array * tensor`, `np.exp(tensor)`) rather than treat them
    # as scalars or sequences.
    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # NumPy ufuncs on tensors run as dygrad ops, so they stay on the graph.
        from ._numpy_dispatch import array_ufunc

        return array_ufunc(ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        from ._numpy_dispatch import array_function

        return array_function(func, args, kwargs)

    def __init__(self, *data: Any, requires_grad: bool = False) -> None:
        # PyTorch's legacy constructor: Tensor(2, 3) is an uninitialized 2x3 tensor (zeros
        # here) and Tensor([1, 2]) copies the data as the default float dtype.
        default = dtypes.get_default_dtype().np
        if not data:
            arr = np.zeros((0,), default)
        elif all(isinstance(d, int | np.integer) and not isinstance(d, bool) for d in data):
            arr = np.zeros(tuple(int(d) for d in data), default)
        elif len(data) == 1:
            arr = _to_array(data[0], None, copy=True)
            if arr.dtype.kind != "f" or not isinstance(data[0], Tensor | np.ndarray):
                arr = arr.astype(default)
        else:
            raise TypeError("Tensor(): expected sizes as ints or a single data argument")
        self._data = arr
        self._requires_grad = False
        self.grad_fn = None
        self._out_nr = 0
        self._vc = [0]
        self._base = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, arr: Any, req: bool, node: Node | None, nr: int) -> Tensor:
        # The hot path: every op result is built here, without __init__'s argument handling.
        if type(arr) is not _nd:
            arr = np.asarray(arr)
        t = object.__new__(cls)
        t._data = arr
        t._requires_grad = req
        t.grad_fn = node
        t._out_nr = nr
        t._vc = [0]
        t._base = None
        if hook_open[0]:  # dygrad.jit is tracing: it tells op results from other new tensors
            _made(t)
        return t

    @staticmethod
    def _from_value(v: Any) -> Tensor:
        return tensor(v)

    # --- basic attributes -----------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """The same values, detached from the graph (`Tensor.data`)."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError("data must be set to a Tensor")
        self._data = value._data

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the size of one dimension (`Tensor.size`)."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self) -> _dtype_cls:
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> device:
        return _CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def element_size(self) -> int:
        return self._data.itemsize

    def stride(self, dim: int | None = None) -> Any:
        if self._data.size == 0:
            # NumPy may give an empty array any strides (often 0); PyTorch reports contiguous ones.
            st_: list[int] = []
            n = 1
            for s in reversed(self._data.shape):
                st_.insert(0, n)
                n *= max(s, 1)
            st = tuple(st_)
        else:
            st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_dim(dim, self.ndim)]

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def _type_name(self) -> str:
        return f"torch.{dtypes.pt_name(self.dtype)}Tensor"

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return self._type_name()
        return self.to(dtype)

    @property
    def _version(self) -> int:
        return self._vc[0]

    @property
    def T(self) -> Tensor:  # noqa: N802
        n = self.ndim
        if n == 2 or n < 2:
            return self.permute(*reversed(range(n))) if n == 2 else self
        return self.permute(*reversed(range(n)))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        if self.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self.ndim}-D tensor.")  # fmt: skip
        return self.transpose(-2, -1)

    # --- autograd attributes ------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether autograd records ops on this leaf (`Tensor.requires_grad_`)."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def output_nr(self) -> int:
        return self._out_nr

    @property
    def grad(self) -> Tensor | None:
        if hook_open[0] and self._grad is not None:
            # A trace would keep this one tensor; the next backward makes another.
            _untraceable(".grad read inside traced code (an optimizer step)")
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")  # fmt: skip
            if value.shape != self.shape:
                raise RuntimeError("assigned grad has data of a different size")
            if value.dtype != self.dtype:
                raise RuntimeError("assigned grad has data of a different type")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def _accumulator(self, user: float = math.inf) -> AccumulateGrad:
        # The leaf holds its AccumulateGrad weakly and the node holds the leaf: no cycle.
        # `user`: the sequence number of a node recording an edge to it (none: inf); the leaf's
        # node is kept numbered below every such node, so backward runs it after them.
        ref = self._accum
        acc = ref() if ref is not None else None
        if acc is None:
            acc = AccumulateGrad(self)
            self._accum = weakref.ref(acc)
        if user - 0.5 < acc._seq:
            acc._seq = user - 0.5
        return acc

    def _edge(self, user: float = math.inf) -> tuple[Node, int]:
        # `user`: the sequence number of the node recording this edge (none: a root, a capture).
        if self.grad_fn is not None:
            return (self.grad_fn, self._out_nr)
        return (self._accumulator(user), 0)

    def _accumulate_grad(self, g: Any, create_graph: bool, owned: bool = False) -> None:
        if create_graph:
            if self._grad is None:
                # A copy, recorded (CopyBackwards) when g has a graph, as PyTorch makes: .grad
                # is never the incoming tensor itself (the user's gradient, passed through).
                self._grad = Tensor._wrap(np.empty_like(g._data), False, None, 0).copy_(g)
            else:
                self._grad = self._grad + g
            return
        cur = self._grad
        if cur is None:
            # Copy unless the engine says nothing else can see the array (shared with another
            # leaf, a view, or the caller's own gradient would otherwise alias .grad).
            if not (owned and type(g) is _nd and g.dtype == self._data.dtype
                    and g.flags.writeable):  # fmt: skip
                g = np.array(g, dtype=self._data.dtype)
            t = _new(Tensor)  # (Tensor._wrap written out: a call less per leaf and backward)
            t._data = g
            t._requires_grad = False
            t.grad_fn = None
            t._out_nr = 0
            t._vc = [0]
            t._base = None
            if hook_open[0]:
                _made(t)
            self._grad = t
        elif cur._requires_grad:
            self._grad = Tensor._wrap(cur._data + g, False, None, 0)
        else:
            np.add(cur._data, g, out=cur._data, casting="unsafe")
            cur._vc[0] += 1

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward (`Tensor.retain_grad`)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        if hook_open[0]:
            _untraceable("retain_grad() (a compiled replay keeps no per-op gradients)")
        self._retains_grad = True
        ref = weakref.ref(self)
        nr = self._out_nr

        def keep(gs: Any, create_graph: bool) -> None:
            t = ref()
            if t is None:
                return
            g = gs if t.grad_fn.n_outputs == 1 else gs[nr]
            if g is None:
                return
            g = g if isinstance(g, Tensor) else Tensor._wrap(np.array(g), False, None, 0)
            t._grad = g if t._grad is None else t._grad + g

        self.grad_fn._retain = keep

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call `hook(grad)` when the gradient for this tensor is computed; a returned tensor
        replaces the gradient (`Tensor.register_hook`).

        >>> import dygrad as torch
        >>> x = torch.ones(2, requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 10)
        >>> (x * 2).sum().backward(); x.grad
        tensor([20., 20.])
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if hook_open[0] and self.grad_fn is not None:
            _untraceable("register_hook() on an intermediate tensor (a compiled replay has no "
                         "per-op gradients to hook)")  # fmt: skip
        nr = self._out_nr

        def run(gs: Any, create_graph: bool) -> Any:
            multi = not isinstance(gs, _nd | Tensor)
            g = gs[nr] if multi else gs
            if g is None:
                return None
            raw = not isinstance(g, Tensor)
            res = hook(Tensor._wrap(g, False, None, 0) if raw else g)
            if res is None:
                return None
            name = getattr(hook, "__name__", type(hook).__name__)
            if not isinstance(res, Tensor):
                raise TypeError(f"expected Tensor or None, but hook '{name}' returned "
                                f"{type(res).__name__}")  # fmt: skip
            if res.shape != g.shape:
                raise RuntimeError(f"hook '{name}' has changed the size of value: it returned "
                                   f"shape {list(res.shape)} for a gradient of shape "
                                   f"{list(g.shape)}")  # fmt: skip
            new = res._data if raw else res
            if multi:
                gs = list(gs)
                gs[nr] = new
                return gs
            return new

        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = {}
            h = RemovableHandle(self._hooks)
            self._hooks[h.id] = run
            self._accumulator()
            return h
        return self.grad_fn._add_pre_hook(run)

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf), times `gradient`, into every leaf's `.grad`
        (`Tensor.backward`). A non-scalar tensor needs `gradient` (the vector of the
        vector-Jacobian product).

        >>> import dygrad as torch
        >>> x = torch.tensor([1., 2.], requires_grad=True)
        >>> (x * x).backward(torch.tensor([1., 1.])); x.grad
        tensor([2., 4.])
        """
        _late.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph (`Tensor.detach`)."""
        if self._requires_grad:
            note_cut((self,), "detach", "detach", user_line())
        t = Tensor._wrap(self._data, False, None, 0)
        t._vc = self._vc
        t._base = self if self._base is None else self._base
        if hook_open[0]:
            _made(t, self)
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place (`Tensor.detach_`)."""
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def _snapshot(self, copy: bool) -> Tensor:
        # The pre-mutation identity of this tensor as an op input, for in-place ops.
        t = Tensor._wrap(self._data.copy() if copy else self._data, self._requires_grad,
                         self.grad_fn, self._out_nr)  # fmt: skip
        if self.grad_fn is None and self._requires_grad:
            t._accum = weakref.ref(self._accumulator())
        if not copy:
            t._vc = self._vc
        if self._fw is not None:  # the old value's tangents, for forward-over-reverse
            t._fw = dict(self._fw)
        return t

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The data as a NumPy array sharing memory (`Tensor.numpy`)."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")  # fmt: skip
        if hook_open[0]:  # dygrad.jit is tracing this thread: it refuses
            _concrete(self, "numpy", None)
        return self._data if not force else self._data.copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self) -> Any:
        return self._item("item")

    def _item(self, kind: str) -> Any:
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to "
                               "Scalar")  # fmt: skip
        v = self._data.reshape(()).item()
        # dygrad.jit records what Python saw, so a replay that would see otherwise retraces.
        return v if not hook_open[0] else _concrete(self, kind, v)

    def tolist(self) -> Any:
        v = self._data.tolist()
        return v if not hook_open[0] else _concrete(self, "tolist", v)

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self._data.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous"
                               if self._data.size else
                               "Boolean value of Tensor with no values is ambiguous")  # fmt: skip
        v = bool(self._data.reshape(()))
        return v if not hook_open[0] else bool(_concrete(self, "bool", v))

    def __float__(self) -> float:
        return float(self._item("float"))

    def __int__(self) -> int:
        return int(self._item("int"))

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")  # fmt: skip
        return int(self._item("index"))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        fn = self.grad_fn
        return format_tensor(
            self._data,
            self._data.dtype.name,
            requires_grad=self._requires_grad and fn is None,
            grad_fn_name=type(fn).__name__ if fn is not None else None,
            default_dtype_name=dtypes.get_default_dtype().name,
        )

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return repr(self).__format__(spec)

    def __reduce_ex__(self, proto: Any) -> Any:
        return (_rebuild, (self._data.copy(), self._requires_grad and self.grad_fn is None))

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment.")  # fmt: skip
        t = Tensor._wrap(self._data.copy(), self._requires_grad, None, 0)
        if self._grad is not None:
            t._grad = Tensor._wrap(self._grad._data.copy(), False, None, 0)
        memo[id(self)] = t
        return t

    # --- dtype conversion and copies ------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert dtype (`Tensor.to(dtype)`); devices other than 'cpu' are refused."""
        target = kwargs.get("dtype")
        copy = kwargs.get("copy", False)
        for a in (*args, kwargs.get("device")):
            if a is None:
                continue
            if isinstance(a, Tensor):
                target = a.dtype
            elif isinstance(a, str | device):
                device(a)
            else:
                target = a
        if target is None:
            return self.clone() if copy else self
        target = dtypes.to_dtype(target)
        if target.np == self._data.dtype and not copy:
            return self
        # Integer and bool results cannot carry gradients: the conversion is not recorded.
        src = self if target.is_floating_point else self.detach()
        return apply1(S.to_dtype, (src, target.np, self._data.dtype))

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def clone(self, *, memory_format: Any = None) -> Tensor:
        return apply1(S.clone, (self,))

    def contiguous(self, memory_format: Any = None) -> Tensor:
        if self._data.flags.c_contiguous:
            return self
        return apply1(S.contiguous, (self,))

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        from .creation import zeros

        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        from .creation import ones

        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None) -> Tensor:
        from .creation import full

        return full(size, fill_value, dtype=dtype or self.dtype)

    def new_empty(self, *size: Any, dtype: Any = None) -> Tensor:
        return self.new_zeros(*size, dtype=dtype)

    # --- arithmetic operators -----------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        check_retention(P.add, self, other)
        return apply2(P.add, (self, other))

    def __radd__(self, other: Any) -> Tensor:
        check_retention(P.add, self, other)
        return apply2(P.add, (self, other))

    def __sub__(self, other: Any) -> Tensor:
        if self._data.dtype.kind == "b" or _is_bool(other):
            _sub_bool_error(self, other)
        return apply2(P.sub, (self, other))

    def __rsub__(self, other: Any) -> Tensor:
        if self._data.dtype.kind == "b" or _is_bool(other):
            _sub_bool_error(self, other)
        return apply2(P.rsub, (self, other))

    def __mul__(self, other: Any) -> Tensor:
        return apply2(P.mul, (self, other))

    def __rmul__(self, other: Any) -> Tensor:
        return apply2(P.mul, (self, other))

    def __truediv__(self, other: Any) -> Tensor:
        return apply2(P.div, (self, other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply2(P.mul, (apply1(P.reciprocal, (self,)), other))

    def __floordiv__(self, other: Any) -> Tensor:
        return apply2(P.floor_divide, (self, other))

    def __rfloordiv__(self, other: Any) -> Tensor:
        return apply2(P.floor_divide, (tensor(other, dtype=self.dtype), self))

    def __mod__(self, other: Any) -> Tensor:
        return self.remainder(other)

    def __rmod__(self, other: Any) -> Tensor:
        return tensor(other, dtype=self.dtype).remainder(self)

    def __pow__(self, other: Any) -> Tensor:
        return self.pow(other)

    def __rpow__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other.pow(self)
        return apply2(P.rpow, (self, other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return tensor(other).matmul(self)

    def __neg__(self) -> Tensor:
        return apply1(P.neg, (self,))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return apply1(P.abs, (self,))

    def __invert__(self) -> Tensor:
        if self._data.dtype == np.bool_:
            return apply1(P.logical_not, (self,))
        if self._data.dtype.kind not in "iu":
            raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                            "tensors")  # fmt: skip
        return apply1(P.bitwise_not, (self,))

    def __and__(self, other: Any) -> Tensor:
        return apply2(P.bitwise_and, (self, other))

    def __or__(self, other: Any) -> Tensor:
        return apply2(P.bitwise_or, (self, other))

    def __xor__(self, other: Any) -> Tensor:
        return apply2(P.bitwise_xor, (self, other))

    def bitwise_not(self) -> Tensor:
        return apply1(P.bitwise_not, (self,))

    __rand__ = bitwise_and = __and__
    __ror__ = bitwise_or = __or__
    __rxor__ = bitwise_xor = __xor__

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply2(P.eq, (self, other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply2(P.ne, (self, other))

    def __lt__(self, other: Any) -> Tensor:
        return apply2(P.lt, (self, other))

    def __le__(self, other: Any) -> Tensor:
        return apply2(P.le, (self, other))

    def __gt__(self, other: Any) -> Tensor:
        return apply2(P.gt, (self, other))

    def __ge__(self, other: Any) -> Tensor:
        return apply2(P.ge, (self, other))

    eq = __eq__
    ne = __ne__
    lt = __lt__
    le = __le__
    gt = __gt__
    ge = __ge__

    # in-place operators
    def __iadd__(self, other: Any) -> Tensor:
        check_retention(P.add, self, other)
        return apply_inplace(P.add, self, other)

    def __isub__(self, other: Any) -> Tensor:
        if self._data.dtype.kind == "b" or _is_bool(other):
            _sub_bool_error(self, other)
        return apply_inplace(P.sub, self, other)

    def __imul__(self, other: Any) -> Tensor:
        return apply_inplace(P.mul, self, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return apply_inplace(P.div, self, other)

    # --- named arithmetic -----------------------------------------------------------------------
    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        check_retention(P.add, self, other)
        return apply2(P.add, (self, _times_alpha(self, other, alpha)))

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        if self._data.dtype.kind == "b" or _is_bool(other):
            _sub_bool_error(self, other)
        return apply2(P.sub, (self, _times_alpha(self, other, alpha)))

    def mul(self, other: Any) -> Tensor:
        return apply2(P.mul, (self, other))

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return apply2(P.div, (self, other))
        if rounding_mode == "floor":
            return apply2(P.floor_divide, (self, other))
        if rounding_mode == "trunc":
            return apply2(P.div_trunc, (self, other))
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                         f"found '{rounding_mode}'")  # fmt: skip

    subtract = sub
    multiply = mul
    divide = div
    true_divide = div

    def neg(self) -> Tensor:
        return apply1(P.neg, (self,))

    negative = neg

    def pow(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor):
            return apply2(P.pow_tensor, (self, exponent))
        if not isinstance(exponent, _Number):
            raise TypeError(f"pow(): exponent must be a Tensor or a number, got "
                            f"{type(exponent).__name__}")  # fmt: skip
        return apply2(P.pow, (self, exponent))

    def square(self) -> Tensor:
        return apply2(P.pow, (self, 2))

    def remainder(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return apply2(P.remainder, (self, other))
        return apply2(P.remainder_scalar, (self, other))

    def fmod(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return apply2(P.fmod, (self, other))
        return apply2(P.fmod_scalar, (self, other))

    def floor_divide(self, other: Any) -> Tensor:
        return apply2(P.floor_divide, (self, other))

    def matmul(self, other: Any) -> Tensor:
        return matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        return apply2(L.mm, (self, other))

    def bmm(self, other: Tensor) -> Tensor:
        return apply2(L.bmm, (self, other))

    def mv(self, other: Tensor) -> Tensor:
        return apply2(L.mv, (self, other))

    def dot(self, other: Tensor) -> Tensor:
        return apply2(L.dot, (self, other))

    def outer(self, other: Tensor) -> Tensor:
        return apply2(L.outer, (self, other))

    # --- unary math -----------------------------------------------------------------------------
    def exp(self) -> Tensor:
        return apply1(P.exp, (self,))

    def log(self) -> Tensor:
        return apply1(P.log, (self,))

    def log1p(self) -> Tensor:
        return apply1(P.log1p, (self,))

    def expm1(self) -> Tensor:
        return apply1(P.expm1, (self,))

    def sqrt(self) -> Tensor:
        return apply1(P.sqrt, (self,))

    def rsqrt(self) -> Tensor:
        return apply1(P.rsqrt, (self,))

    def reciprocal(self) -> Tensor:
        return apply1(P.reciprocal, (self,))

    def sin(self) -> Tensor:
        return apply1(P.sin, (self,))

    def cos(self) -> Tensor:
        return apply1(P.cos, (self,))

    def tan(self) -> Tensor:
        return apply1(P.tan, (self,))

    def tanh(self) -> Tensor:
        return apply1(P.tanh, (self,))

    def sigmoid(self) -> Tensor:
        return apply1(P.sigmoid, (self,))

    def relu(self) -> Tensor:
        return apply1(P.relu, (self,))

    def abs(self) -> Tensor:
        return apply1(P.abs, (self,))

    absolute = abs

    def sign(self) -> Tensor:
        return apply1(P.sign, (self,))

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return apply1(P.clamp, (self, _raw_scalar(min), _raw_scalar(max)))

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    def maximum(self, other: Tensor) -> Tensor:
        return apply2(P.maximum, (self, other))

    def minimum(self, other: Tensor) -> Tensor:
        return apply2(P.minimum, (self, other))

    def where(self, condition: Tensor, other: Any) -> Tensor:
        return where(condition, self, other)

    def softmax(self, dim: int, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        return apply1(A.softmax, (x, _dim(dim, self.ndim)))

    def log_softmax(self, dim: int, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        return apply1(A.log_softmax, (x, _dim(dim, self.ndim)))

    def isnan(self) -> Tensor:
        return apply1(P.isnan, (self,))

    def isinf(self) -> Tensor:
        return apply1(P.isinf, (self,))

    def isfinite(self) -> Tensor:
        return apply1(P.isfinite, (self,))

    def logical_not(self) -> Tensor:
        return apply1(P.logical_not, (self,))

    def floor(self) -> Tensor:
        return apply1(P.floor, (self,))

    def ceil(self) -> Tensor:
        return apply1(P.ceil, (self,))

    def round(self) -> Tensor:
        return apply1(P.round, (self,))

    def trunc(self) -> Tensor:
        return apply1(P.trunc, (self,))

    fix = trunc

    def allclose(self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:  # fmt: skip
        v = bool(np.allclose(self._data, _raw(other), rtol, atol, equal_nan))
        if hook_open[0]:  # the same answer through ops, so that a trace guards on it
            ok = isinstance(other, Tensor) and not equal_nan
            close = ((self - other).abs() <= (other.abs() * rtol + atol)).all() if ok else None
            return _concrete_pair(close, v)
        return v

    def equal(self, other: Tensor) -> bool:
        v = self.shape == other.shape and bool(np.array_equal(self._data, other._data))
        if hook_open[0]:
            same = apply2(P.eq, (self, other)).all() if self.shape == other.shape else None
            return _concrete_pair(same, v)
        return v

    # --- reductions -----------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        if dim is None:
            return apply1(R.sum_all, (x, x._data.shape))
        return apply1(R.sum_dim, (x, _dims(dim, x.ndim), keepdim, x._data.shape))

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        if x._data.dtype.kind != "f":
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {dtypes.pt_name(x.dtype)}"
            )
        if dim is None:
            return apply1(R.mean_all, (x, x._data.shape))
        return apply1(R.mean_dim, (x, _dims(dim, x.ndim), keepdim, x._data.shape))

    def sum_to_size(self, *size: Any) -> Tensor:
        shape = _shape_arg(size)
        lead = self.ndim - len(shape)
        if lead > 0:  # as PyTorch: sum keeping dims, then a view drops the leading ones
            kept = apply1(R.sum_to_size, (self, (1,) * lead + shape, self._data.shape))
            return kept.view(shape)
        return apply1(R.sum_to_size, (self, shape, self._data.shape))

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.to(dtype)
        if dim is None:
            return apply1(R.prod_all, (x,))
        return apply1(R.prod_dim, (x, _dim(dim, x.ndim), keepdim))

    def _extreme(self, which: str, dim: Any, keepdim: bool) -> Any:
        if dim is None:
            if self._data.size == 0:
                raise RuntimeError(f"{which}(): Expected reduction dim to be specified for "
                                   "input.numel() == 0. Specify the reduction dim with the 'dim' "
                                   "argument.")  # fmt: skip
            return apply(R.max_all if which == "max" else R.min_all, self)
        if isinstance(dim, Tensor):
            return (maximum if which == "max" else minimum)(self, dim)
        d = _dim(dim, self.ndim)
        if self._data.ndim and self._data.shape[d] == 0:
            raise IndexError(f"{which}(): Expected reduction dim {d} to have non-zero size.")
        vals, idx = apply(R.max_dim if which == "max" else R.min_dim, self, d, keepdim)
        from .return_types import max_min

        return max_min(which, vals, idx)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("max", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("min", dim, keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        dims = tuple(range(self.ndim)) if dim == () or dim is None else _dims(dim, self.ndim)
        return apply1(R.amax, (self, dims, keepdim))

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        dims = tuple(range(self.ndim)) if dim == () or dim is None else _dims(dim, self.ndim)
        return apply1(R.amin, (self, dims, keepdim))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        if self._data.dtype.kind == "b":
            raise RuntimeError("argmax(): does not support bool input")
        d = None if dim is None else _dim(dim, self.ndim)
        return apply1(R.argmax, (self, d, keepdim if d is not None else False))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        if self._data.dtype.kind == "b":
            raise RuntimeError("argmin(): does not support bool input")
        d = None if dim is None else _dim(dim, self.ndim)
        return apply1(R.argmin, (self, d, keepdim if d is not None else False))

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply1(R.all_, (self, None if dim is None else _dims(dim, self.ndim), keepdim))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return apply1(R.any_, (self, None if dim is None else _dims(dim, self.ndim), keepdim))

    def _stat(self, op: Any, dim: Any, unbiased: Any, keepdim: bool, correction: Any) -> Tensor:
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        if isinstance(unbiased, int | tuple | list) and not isinstance(unbiased, bool):
            dim, unbiased = unbiased, None  # var(dim) positional form
        dims = None if dim is None else _dims(dim, self.ndim)
        return apply(op, self, dims, correction, keepdim)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:  # fmt: skip
        return self._stat(R.var, dim, unbiased, keepdim, correction)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,
            correction: Any = None) -> Tensor:  # fmt: skip
        return self._stat(R.std, dim, unbiased, keepdim, correction)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return apply1(R.logsumexp, (self, _dims(dim, self.ndim), keepdim))

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Tensor:  # fmt: skip
        if p == "fro" and isinstance(dim, tuple | list) and len(dim) > 2:
            # PyTorch takes 'fro' over more than one dim as a matrix norm: two dims at most.
            got = " ".join(str(d) for d in dim)
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {got}")
        if p in ("fro", None):
            p = 2
        if p == "nuc" or isinstance(p, str):
            raise RuntimeError(f"norm(): p={p!r} is not supported by dygrad")
        x = self if dtype is None else self.to(dtype)
        return apply1(R.norm, (x, float(p), None if dim is None else _dims(dim, x.ndim), keepdim))

    # --- shape ops ------------------------------------------------------------------------------
    def _infer(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        n = self._data.size
        if shape.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        if -1 in shape:
            rest = 1
            for s in shape:
                if s != -1:
                    rest *= s
            if rest == 0 or n % rest:
                raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
            shape = tuple(n // rest if s == -1 else s for s in shape)
        if any(s < 0 for s in shape):
            raise RuntimeError(f"invalid shape dimension {min(shape)}")
        return shape

    def reshape(self, *shape: Any) -> Tensor:
        s = self._infer(_shape_arg(shape))
        own = self._data.shape
        if self._data.flags.c_contiguous:
            return apply1(S.reshape, (self, s, own))
        # Recorded as PyTorch does: a strided view when one has the shape, else a copy.
        try:
            np.reshape(self._data, s, copy=False)
        except ValueError:
            return apply1(S.unsafe_view, (apply1(S.clone, (self,)), s, own))
        return apply1(S.reshape_alias, (self, s, own))

    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], _dtype_cls):
            raise RuntimeError("view(dtype) is not supported by dygrad")
        s = self._infer(_shape_arg(shape))
        return apply1(S.view, (self, s, self._data.shape))

    def view_as(self, other: Tensor) -> Tensor:
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        a, b = _dim(start_dim, self.ndim), _dim(end_dim, self.ndim)
        if a > b:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        if a == b:
            return self
        s = self._data.shape
        # The flattened size spelled out: -1 cannot be inferred when a kept dim is 0.
        return self.reshape(*s[:a], int(math.prod(s[a : b + 1])), *s[b + 1 :])

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        d = _dim(dim, self.ndim)
        s = self._data.shape
        sizes = tuple(sizes)
        if not sizes:
            raise RuntimeError("unflatten: sizes must be non-empty")
        if -1 not in sizes and int(math.prod(sizes)) != s[d]:
            raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the"
                               f" size of dim {dim} ({s[d]}) in the input tensor")  # fmt: skip
        return self.view(*s[:d], *sizes, *s[d + 1 :])

    def squeeze(self, dim: Any = None) -> Tensor:
        if dim is None:
            return apply1(S.squeeze, (self, self._data.shape))
        if isinstance(dim, tuple | list):
            return apply1(S.squeeze_dims, (self, _dims(dim, self.ndim), self._data.shape))
        return apply1(S.squeeze_dim, (self, _dim(dim, self.ndim), self._data.shape))

    def unsqueeze(self, dim: int) -> Tensor:
        return apply1(S.unsqueeze, (self, _dim(dim, self.ndim + 1)))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        n = self.ndim
        return apply1(S.transpose, (self, _dim(dim0, n), _dim(dim1, n)))

    swapaxes = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")  # fmt: skip
        return apply1(S.t, (self,))

    def permute(self, *dims: Any) -> Tensor:
        d = _shape_arg(dims) if dims and not isinstance(dims[0], int) else dims
        n = self.ndim
        if len(d) != n:
            raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input "
                               f"does not match the length of the desired ordering of dimensions "
                               f"i.e. input.dim() = {n} is not equal to len(dims) = {len(d)}"
                               )  # fmt: skip
        return apply1(S.permute, (self, _dims(d, n)))

    def expand(self, *sizes: Any) -> Tensor:
        shape = _shape_arg(sizes)
        lead = len(shape) - self.ndim
        own = self._data.shape
        full = tuple(own[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
        return apply1(S.expand, (self, full, own))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def repeat(self, *sizes: Any) -> Tensor:
        reps = _shape_arg(sizes)
        if len(reps) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than "
                               "number of dimensions of tensor")  # fmt: skip
        return apply1(S.repeat, (self, reps, self._data.shape))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        d = _dim(dim, self.ndim)
        n = self._data.shape[d]
        if isinstance(split_size, int | np.integer):
            if split_size <= 0 and n:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {n}")  # fmt: skip
            sizes = [split_size] * (n // split_size) if split_size else [0]
            if split_size and n % split_size:
                sizes.append(n % split_size)
            return apply(S.split, self, tuple(sizes) or (0,), d)
        sizes = tuple(int(s) for s in split_size)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got split_sizes="
                               f"{list(sizes)}")  # fmt: skip
        return apply(S.split_with_sizes, self, sizes, d)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
        n = self._data.shape[_dim(dim, self.ndim)]
        if n == 0:  # PyTorch: `chunks` empty pieces
            return self.split([0] * chunks, dim)
        return self.split(-(-n // chunks), dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return apply(S.unbind, self, _dim(dim, self.ndim))

    def flip(self, *dims: Any) -> Tensor:
        return apply1(S.flip, (self, _dims(_shape_arg(dims), self.ndim)))

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        if dims is None:
            return apply1(S.roll, (self, shifts, None))  # rolls the flattened data, keeps the shape
        if isinstance(shifts, int):
            return apply1(S.roll, (self, shifts, _dim(dims, self.ndim)))
        return apply1(S.roll, (self, tuple(shifts), _dims(dims, self.ndim)))

    # --- indexing -------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        return _late.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _late.setitem(self, key, value)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return apply1(I.index_select, (self, _dim(dim, self.ndim), _index_array(index)))

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return apply1(I.gather, (self, _dim(dim, self.ndim), _index_array(index)))

    def scatter(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None) -> Tensor:
        src = value if src is None else src
        d = _dim(dim, self.ndim)
        if isinstance(src, Tensor):
            return apply(I.scatter, self, d, _index_array(index), src)
        return apply1(I.scatter_value, (self, d, _index_array(index), src))

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return apply(I.scatter_add, self, _dim(dim, self.ndim), _index_array(index), src)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        return apply2(I.masked_fill, (self, mask, _raw_scalar(value)))

    # --- in-place methods ---------------------------------------------------------------------
    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        check_retention(P.add, self, other)
        if _unrecorded_scaling(self, other, alpha):  # the optimizers' update
            if backend.axpy(alpha, other._data, self._data):
                # Fused; around it, what apply_inplace would do: the version, the note.
                self._vc[0] += 1
                note_inplace(self._vc, "add_", 1)
                return self
            return apply_inplace(P.add, self, other._data * alpha)
        return apply_inplace(P.add, self, _times_alpha(self, other, alpha))

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        if self._data.dtype.kind == "b" or _is_bool(other):
            _sub_bool_error(self, other)
        return apply_inplace(P.sub, self, _times_alpha(self, other, alpha))

    def mul_(self, other: Any) -> Tensor:
        return apply_inplace(P.mul, self, other)

    def div_(self, other: Any) -> Tensor:
        return apply_inplace(P.div, self, other)

    def pow_(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor):
            return apply_inplace(P.pow_tensor, self, exponent)
        return apply_inplace(P.pow, self, exponent)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return apply_inplace(P.clamp, self, _raw_scalar(min), _raw_scalar(max))

    clip_ = clamp_

    def neg_(self) -> Tensor:
        return apply_inplace(P.neg, self)

    def exp_(self) -> Tensor:
        return apply_inplace(P.exp, self)

    def sqrt_(self) -> Tensor:
        return apply_inplace(P.sqrt, self)

    def tanh_(self) -> Tensor:
        return apply_inplace(P.tanh, self)

    def sigmoid_(self) -> Tensor:
        return apply_inplace(P.sigmoid, self)

    def relu_(self) -> Tensor:
        return apply_inplace(P.relu, self)

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return apply_inplace(I.masked_fill, self, mask, _raw_scalar(value))

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy `src` (broadcast, cast) into this tensor (`Tensor.copy_`)."""
        return apply_inplace(S.copy, self, src if isinstance(src, Tensor) else tensor(src))

    def zero_(self) -> Tensor:
        if state.enabled and self._requires_grad:
            return apply_inplace(S.zero, self)
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        v = _raw_scalar(value)
        if isinstance(v, _nd) and v.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {v.ndim} dimensions.")  # fmt: skip
        if (state.enabled and self._requires_grad or state.fw_levels and self._fw is not None
                or hook_open[0]):  # fmt: skip
            # records the node, zeroes the tangent, or lets dygrad.jit see the write
            return apply_inplace(S.fill, self, v)
        self._data[...] = v
        self._vc[0] += 1
        note_inplace(self._vc, "fill_")
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        from .backend import generator

        return self._fill_random(generator().uniform(a, b, self._data.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        from .backend import generator

        return self._fill_random(generator().normal(mean, std, self._data.shape))

    def _fill_random(self, values: np.ndarray) -> Tensor:
        if hook_open[0]:
            _untraceable("uniform_()/normal_() (an in-place random fill)")
        if state.enabled and self._requires_grad and self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")  # fmt: skip
        self._data[...] = values
        self._vc[0] += 1
        self._fw = None  # random values carry no tangent (PyTorch's is zero)
        note_inplace(self._vc, "random fill")
        return self

    def __setstate__(self, state_: Any) -> None:  # pragma: no cover - pickling goes via _rebuild
        raise TypeError("use dygrad's serialization")


def _rebuild(data: np.ndarray, requires_grad: bool) -> Tensor:
    return tensor(data, requires_grad=requires_grad)


def _raw(v: Any) -> Any:
    return v._data if isinstance(v, Tensor) else v


def _is_bool(v: Any) -> bool:
    return type(v) is bool or isinstance(v, np.bool_) or (
        isinstance(v, Tensor) and v._data.dtype.kind == "b")  # fmt: skip


def _sub_bool_error(x: Any, y: Any) -> None:
    # PyTorch refuses bools in subtraction (tensors and Python bools alike), with two messages.
    if _is_bool(x) and _is_bool(y):
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` "
            "or `logical_xor()` operator instead."
        )
    if _is_bool(x) or _is_bool(y):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )


def _unrecorded_scaling(x: Tensor, y: Any, alpha: Any) -> bool:
    # The optimizers' case of `x.add_(y, alpha=...)` (under no_grad, or on tensors that need no
    # grad): a float alpha, a tensor of x's floating dtype, no tracing and no dual tensors.
    return (
        type(alpha) is float
        and type(y) is Tensor
        and y._data.dtype is x._data.dtype
        and y._data.dtype.kind == "f"
        and not (hook_open[0] or fw_open[0])
        and not (state.enabled and (x._requires_grad or y._requires_grad))
    )


def _times_alpha(x: Tensor, y: Any, alpha: Any) -> Any:
    # alpha * y for add/sub(..., alpha=): alpha takes no part in type promotion, so y is scaled
    # in the dtype of the result, and PyTorch checks alpha against that dtype.
    if isinstance(alpha, Tensor):
        alpha = alpha.item()
    if alpha == 1 and type(alpha) is int:
        return y
    if _unrecorded_scaling(x, y, alpha):
        # Nothing is recorded: the scaled operand can stay a plain array instead of going
        # through a dispatched mul.
        return y._data * alpha
    rd = dtypes.result_type(x, y)
    kind = rd.np.kind
    if isinstance(alpha, bool | np.bool_) and kind != "b":
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if kind in "biu" and isinstance(alpha, float | np.floating):
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )
    if not isinstance(y, Tensor):
        return bool(y * alpha) if kind == "b" else y * alpha
    if y.dtype != rd:
        y = y.to(rd)
    if kind == "b":  # y AND alpha; add then ORs it in, as PyTorch's bool arithmetic does
        return y if alpha else y & False
    return y * alpha


def _foreach_add_(self: Sequence[Tensor], other: Any, *, alpha: Any = 1) -> None:
    """`t.add_(o, alpha=alpha)` for each tensor `t` of `self` and `o` of `other` (a list of
    tensors, or one number for all) (`torch._foreach_add_`; the optimizers' update).

    Under no_grad, same-dtype floating tensors of one shape take one pass per pair (BLAS's axpy
    where `backend.axpy` takes them, else NumPy), without dispatch (versions bumped, the user's
    line noted once for all); other pairs go through `add_`, with its checks and errors.

    >>> import dygrad as torch
    >>> ps = [torch.ones(2), torch.zeros(3)]
    >>> torch._foreach_add_(ps, [torch.ones(2), torch.ones(3)], alpha=-0.5)
    >>> ps
    [tensor([0.5000, 0.5000]), tensor([-0.5000, -0.5000, -0.5000])]
    """
    tensors = list(self)
    others = list(other) if isinstance(other, list | tuple) else [other] * len(tensors)
    if len(others) != len(tensors):
        raise RuntimeError(
            f"Tensor lists must have the same number of tensors, got {len(tensors)} and "
            f"{len(others)}"
        )
    fast = (type(alpha) is float or type(alpha) is int) and not (hook_open[0] or fw_open[0])
    recording = state.enabled
    site = None
    for t, o in zip(tensors, others):
        if not (
            fast
            and isinstance(t, Tensor)  # parameters too
            and isinstance(o, Tensor)
            and t._data.dtype is o._data.dtype
            and t._data.dtype.kind == "f"
            and t._data.shape == o._data.shape
            and t._data.flags.writeable  # add_ reports an expanded target in PyTorch's words
            and not (recording and (t._requires_grad or o._requires_grad))
        ):
            t.add_(o, alpha=alpha)
            continue
        td = t._data
        if alpha == 1:
            np.add(td, o._data, out=td)
        elif not backend.axpy(alpha, o._data, td):  # fused where BLAS takes it
            np.add(td, o._data * alpha, out=td)
        t._vc[0] += 1
        if state.track_source:
            if site is None:
                site = user_line()
            note_inplace(t._vc, "add_", site=site)


def _raw_scalar(v: Any) -> Any:
    # Tensors passed where PyTorch accepts a Scalar (clamp bounds, fill values) become numbers
    # (through item(): a trace keeps a guard on the value).
    if isinstance(v, Tensor):
        return v.item() if v._data.size == 1 and v._data.ndim == 0 else v._data
    return v


def _concrete_pair(t: Tensor | None, v: bool) -> bool:
    # allclose()/equal() seen by Python while tracing: guarded through `t`, the same answer
    # computed with ops; refused where that cannot be had.
    if t is None or bool(t._data) != v:
        _untraceable("allclose()/equal() on these tensors")
    else:
        _concrete(t, "bool", v)
    return v


def _index_array(index: Any) -> np.ndarray:
    a = index._data if isinstance(index, Tensor) else np.asarray(index)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f"index must be an integer tensor (int64), got dtype "
                           f"{a.dtype}")  # fmt: skip
    return a


set_tensor_class(Tensor)


def _grad_to_tensor(g: Any) -> Any:
    return Tensor._wrap(g, False, None, 0) if g is not None and not isinstance(g, Tensor) else g


def _grad_to_raw(g: Any) -> Any:
    return g._data if isinstance(g, Tensor) else g


graph_module.tensor_converters[:] = [_grad_to_tensor, _grad_to_raw]


# --- functions that need the Tensor class (the creation functions live in dygrad.creation) ------
def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:  # fmt: skip
    """Copy `data` (nested lists, scalars, arrays, tensors) into a new tensor (`torch.tensor`).

    >>> import dygrad as torch
    >>> torch.tensor([[1, 2], [3, 4]]).dtype, torch.tensor([1.5]).dtype
    (torch.int64, torch.float32)
    """
    if device is not None:
        globals()["device"](device)
    arr = _to_array(data, dtype, copy=True)
    t = Tensor._wrap(arr, False, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    if hook_open[0]:
        if not isinstance(data, Tensor):
            _created(t)  # a constant of the traced code
        elif arr.dtype == data._data.dtype and not requires_grad:
            _made(t, data)  # a copy of a traced value: recorded like detach()
        else:
            _untraceable("torch.tensor(t) of a tensor with another dtype or requires_grad "
                         "(use t.detach().to(dtype))")  # fmt: skip
    return t


def _to_array(data: Any, dtype: Any, copy: bool) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, _nd):
        arr = data
    else:
        if isinstance(data, list | tuple) and any(isinstance(v, Tensor) for v in data):
            data = [v._data if isinstance(v, Tensor) else v for v in data]
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"tensor(): could not build a tensor from data: {e}") from None
        if arr.dtype.kind == "f" and not isinstance(data, np.floating | np.ndarray):
            # Python floats take the default dtype, unless one is asked for: then they are
            # rounded once, to it, as PyTorch does (float64 0.3 stays 0.3; through the default
            # float32 it was 0.30000001...), except to float16: PyTorch goes through float32.
            if dtype is None:
                arr = arr.astype(dtypes.get_default_dtype().np)
            elif dtypes.to_dtype(dtype).np == np.float16:
                arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu" and not isinstance(data, np.integer):
            arr = arr.astype(np.int64)
        elif arr.dtype.kind == "O" or arr.dtype.kind in "USV":
            raise TypeError(f"tensor(): could not infer a dtype for data of type "
                            f"{type(data).__name__}")  # fmt: skip
        if arr.ndim == 1 and arr.size == 0 and dtype is None:
            arr = arr.astype(dtypes.get_default_dtype().np)
        copy = False
    if dtype is not None:
        target = dtypes.to_dtype(dtype).np
        if arr.dtype != target:
            return arr.astype(target)
    else:
        dtypes.from_numpy_dtype(arr.dtype)
    return arr.copy() if copy else arr


def matmul(x: Tensor, y: Tensor) -> Tensor:
    """Matrix product with NumPy/PyTorch broadcasting rules (`torch.matmul`)."""
    if not isinstance(y, Tensor):
        y = tensor(y)
    a, b = x._data.ndim, y._data.ndim
    if a == 2 and b == 2:  # the common case first
        return apply2(L.mm, (x, y))
    if a == 0 or b == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a}D "
                           f"and {b}D")  # fmt: skip
    if a == 1 and b == 1:
        return apply2(L.dot, (x, y))
    if a == 2 and b == 1:
        return apply2(L.mv, (x, y))
    if a == 1 and b == 2:
        return apply2(L.mm, (x.unsqueeze(0), y)).squeeze(0)
    if b == 1:
        return apply2(L.matmul, (x, y.unsqueeze(1))).squeeze(-1)
    if a == 1:
        return apply2(L.matmul, (x.unsqueeze(0), y)).squeeze(-2)
    if a == 3 and b == 3 and x.shape[0] == y.shape[0]:
        return apply2(L.bmm, (x, y))
    return apply2(L.matmul, (x, y))


# `x @ y` is the function itself, no method in between (and the op's source-line lookup finds
# the user's frame on its first probe).
Tensor.__matmul__ = matmul  # type: ignore[method-assign]


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """Elementwise choice between `input` and `other` (`torch.where`)."""
    if input is None and other is None:
        return tuple(Tensor._wrap(i.astype(np.int64), False, None, 0)
                     for i in np.nonzero(_raw(condition)))  # fmt: skip
    return apply(P.where, condition, input, other)


def maximum(x: Tensor, y: Tensor) -> Tensor:
    return apply2(P.maximum, (x, y))


def minimum(x: Tensor, y: Tensor) -> Tensor:
    return apply2(P.minimum, (x, y))
