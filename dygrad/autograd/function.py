"""Custom autograd operations: `Function` (static `forward`/`backward` run through `apply`), the
`ctx` object they share (`FunctionCtx`), the node a Function records (`FooBackward`), and the
`once_differentiable` decorator; PyTorch's `torch.autograd.Function` semantics and messages."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import from_numpy_dtype, pt_name
from ..ops.registry import stale_message, untraceable
from ..tensor import Tensor
from .grad_mode import hook_open, state
from .graph import (
    FREED_MSG,
    Node,
    SavedRecord,
    current_saved_hooks,
    hooks_open,
    pack_saved,
    saved_grad_fn,
    unpack_saved,
)

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable"]

_nd = np.ndarray


def _stale_message(t: Tensor, now: int, expected: int, node: Node | None, nr: int) -> str:
    return stale_message(f"[{t.type()} {list(t.shape)}]", node, nr, now, expected)


class FunctionCtx:
    """The `ctx` a custom `Function`'s `forward` and `backward` share
    (`torch.autograd.function.FunctionCtx`): save tensors for backward, mark outputs as
    non-differentiable or inputs as modified in place, and choose how missing gradients arrive.
    Any other attribute set on it (`ctx.dim = 1`) is kept for backward.

    >>> ctx = FunctionCtx()
    >>> ctx.set_materialize_grads(False); ctx.materialize_grads
    False
    """

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Save tensors (inputs, outputs or intermediates, or None) for `backward`, where
        `ctx.saved_tensors` returns them after checking that none was modified in place since.

        >>> import dygrad as torch
        >>> class Square(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * g
        >>> x = torch.tensor([3.], requires_grad=True)
        >>> Square.apply(x).backward(torch.ones(1)); x.grad
        tensor([6.])
        """
        self.to_save = tensors

    def mark_dirty(self, *args: Tensor) -> None:
        """Declare inputs that `forward` modified in place; they must be returned as outputs, and
        they take this Function's node as their `grad_fn`.

        >>> import dygrad as torch
        >>> class Double_(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         x.mul_(2)
        ...         ctx.mark_dirty(x)
        ...         return x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         return 2 * g
        >>> a = torch.ones(2, requires_grad=True).clone()
        >>> Double_.apply(a) is a, a.grad_fn.name()
        (True, 'Double_Backward')
        """
        self.dirty_tensors = args

    def mark_non_differentiable(self, *args: Tensor) -> None:
        """Declare outputs that need no gradient: they do not require grad, and `backward` still
        receives a (zero) gradient for each.

        >>> import dygrad as torch
        >>> class AbsWithSign(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         sign = x.sign()
        ...         ctx.mark_non_differentiable(sign)
        ...         ctx.save_for_backward(sign)
        ...         return x.abs(), sign
        ...     @staticmethod
        ...     def backward(ctx, g, g_sign):
        ...         (sign,) = ctx.saved_tensors
        ...         return g * sign
        >>> y, sign = AbsWithSign.apply(torch.tensor([2., -1.], requires_grad=True))
        >>> y.requires_grad, sign.requires_grad
        (True, False)
        """
        self.non_differentiable = args

    def set_materialize_grads(self, value: bool) -> None:
        """With False, `backward` receives None instead of zeros for outputs that got no
        gradient (default True).

        >>> ctx = FunctionCtx(); ctx.set_materialize_grads(True); ctx.materialize_grads
        True
        """
        self.materialize_grads = value


class BackwardCFunction(Node, FunctionCtx):
    """The node a custom `Function` records, and the `ctx` its `forward` and `backward` receive;
    each `Function` subclass `Foo` gets its own subclass `FooBackward`. Saved outputs are kept as
    arrays, never as the output tensors, so a graph holds no reference cycle.

    >>> import dygrad as torch
    >>> class Twice(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x * 2
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g * 2
    >>> y = Twice.apply(torch.ones(1, requires_grad=True))
    >>> type(y.grad_fn).__name__, isinstance(y.grad_fn, BackwardCFunction)
    ('TwiceBackward', True)
    """

    __slots__ = (
        "_saved",
        "_out_meta",
        "_in_meta",
        "_arg_is_tensor",
        "n_outputs",
        "needs_input_grad",
    )
    _forward_cls: type[Function]
    materialize_grads = True

    def __init__(self) -> None:
        Node.__init__(self)
        self._saved: tuple[Any, ...] | None = None
        self._out_meta: tuple[Any, ...] = ()
        self._in_meta: tuple[Any, ...] = ()
        self._arg_is_tensor: tuple[bool, ...] = ()
        self.n_outputs = 1
        self.needs_input_grad: tuple[bool, ...] = ()

    def __repr__(self) -> str:
        # PyTorch's Python-made nodes show their module: <torch.autograd.function.FooBackward ...>
        cls = type(self)
        return f"<{cls.__module__}.{cls.__qualname__} object at {hex(id(self))}>"

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        """The tensors given to `save_for_backward`, checked against in-place changes; an
        error once backward has freed them (unless `retain_graph=True`).

        >>> import dygrad as torch
        >>> class Exp(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         y = x.exp()
        ...         ctx.save_for_backward(y)
        ...         return y
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         return g * ctx.saved_tensors[0]
        >>> y = Exp.apply(torch.zeros(1, requires_grad=True))
        >>> y.grad_fn.saved_tensors
        (tensor([1.], grad_fn=<ExpBackward>),)
        >>> y.backward(torch.ones(1)); y.grad_fn.saved_tensors  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        RuntimeError: Trying to backward through the graph a second time (or directly access ...
        """
        if self._freed:
            raise RuntimeError(FREED_MSG)
        saved = self._saved
        if saved is None:
            return ()
        res: list[Tensor | None] = []
        for entry in saved:
            if entry is None:
                res.append(None)
            elif type(entry) is SavedRecord:  # stored through saved-tensor hooks
                res.append(_unpack_entry(entry, self))
            elif len(entry) == 2:  # (tensor, version): an input or an intermediate
                t, ver = entry
                now = t._vc[0]
                if now != ver:
                    fn = t.grad_fn
                    raise RuntimeError(_stale_message(t, now, ver, fn, t.output_nr))
                res.append(t)
            else:  # an output: (output_nr, data, version counter, version, differentiable)
                nr, data, vc, ver, dif = entry
                t = Tensor._wrap(data, dif, self if dif else None, nr)
                t._vc = vc
                if vc[0] != ver:
                    raise RuntimeError(_stale_message(t, vc[0], ver, self, nr))
                res.append(t)
        return tuple(res)

    def _release(self) -> None:
        self._saved = None
        self._freed = True

    def _apply(self, grads: Any, create_graph: bool) -> tuple[Any, ...]:
        n = self.n_outputs
        gs = list(grads) if n != 1 else [grads]
        materialize = self.materialize_grads
        for j, g in enumerate(gs):
            if g is None:
                meta = self._out_meta[j]
                if not materialize or meta is None:
                    continue
                g = np.zeros(meta[0], meta[1])
            if not isinstance(g, Tensor):
                g = Tensor._wrap(g, False, None, 0)
            gs[j] = g
        res = _user_backward(self._forward_cls)(self, *gs)
        return self._check_grads(res, create_graph)

    def _check_grads(self, res: Any, create_graph: bool) -> tuple[Any, ...]:
        # One gradient per forward argument comes back; keep those of tensor inputs, fitted to
        # each input's shape and dtype, one per next_functions edge.
        if not isinstance(res, tuple):
            res = (res,)
        is_t = self._arg_is_tensor
        n_args = len(is_t)
        if len(res) != n_args:
            if len(res) > n_args and all(r is None for r in res[n_args:]):
                res = res[:n_args]
            else:
                raise RuntimeError(
                    f"function {self.name()} returned an incorrect number of gradients "
                    f"(expected {n_args}, got {len(res)})"
                )
        out: list[Any] = []
        k = 0
        for i, r in enumerate(res):
            if not is_t[i]:
                if r is not None:
                    raise RuntimeError(
                        f"function {self.name()} returned a gradient different than None at "
                        f"position {i + 1}, but the corresponding forward input was not a Variable"
                    )
                continue
            if r is not None and not isinstance(r, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(r).__name__})")
            nxt = self.next_functions[k][0]
            shape, dt = self._in_meta[k]
            k += 1
            if r is None or nxt is None:
                out.append(None)
                continue
            gshape = r._data.shape
            if gshape != shape:
                if not _expandable(shape, gshape):
                    raise RuntimeError(
                        f"Function {self.name()} returned an invalid gradient at index {k - 1} - "
                        f"got {list(gshape)} but expected shape compatible with {list(shape)}"
                    )
                r = r.sum_to_size(shape)
            if r._data.dtype != dt:
                r = r.to(from_numpy_dtype(dt))
            out.append(r if create_graph else r._data)
        return tuple(out)


def _expandable(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when `shape` broadcasts to `target` (a gradient of shape `target` can be summed)."""
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target)):
        if s != t and s != 1:
            return False
    return True


def _user_backward(cls: type[Function]) -> Callable[..., Any]:
    bw = cls.backward
    vjp = cls.vjp
    if bw is not Function.backward and vjp is not Function.vjp:
        raise RuntimeError(
            "Implementing both 'backward' and 'vjp' for a custom Function is not allowed. You "
            "should only implement one of them."
        )
    return vjp if vjp is not Function.vjp else bw


class FunctionMeta(type):
    """Metaclass of `Function`: gives each subclass `Foo` its node class `FooBackward`.

    >>> class Foo(Function):
    ...     pass
    >>> Foo._backward_cls.__name__, Foo._backward_cls._forward_cls is Foo
    ('FooBackward', True)
    """

    def __init__(cls, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> None:
        cls._backward_cls = type(name + "Backward", (BackwardCFunction,), {
            "__slots__": (), "_forward_cls": cls})  # fmt: skip
        super().__init__(name, bases, attrs)


class Function(metaclass=FunctionMeta):
    """Base class for custom differentiable operations (`torch.autograd.Function`).

    Subclasses define static `forward(ctx, *args, **kwargs)` and `backward(ctx, *grad_outputs)`
    (one gradient per forward argument, None where there is none) and are called through
    `apply`. `forward` runs in no-grad mode; its tensor outputs get a `FooBackward` node as
    `grad_fn` when grad mode is on and an input requires grad. With `create_graph=True`,
    `backward` receives tensors that record a graph, so a backward written with tensor ops can
    be differentiated again.

    >>> import dygrad as torch
    >>> class Exp(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = x.exp()
    ...         ctx.save_for_backward(y)
    ...         return y
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (y,) = ctx.saved_tensors
    ...         return g * y
    >>> x = torch.tensor([0., 1.], requires_grad=True)
    >>> y = Exp.apply(x); y
    tensor([1.0000, 2.7183], grad_fn=<ExpBackward>)
    >>> y.sum().backward(); x.grad
    tensor([1.0000, 2.7183])
    """

    _backward_cls: type[BackwardCFunction]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            f"{self.__class__} should not be instantiated. Methods on autograd functions are all "
            "static, so you should invoke them on the class itself. Instantiating an autograd "
            "function will raise an error in a future version of PyTorch.",
            DeprecationWarning,
            stacklevel=2,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please use "
            "new-style autograd function with static forward method. (Example: "
            "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)"
        )

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """Compute the outputs from the inputs; override it (static)."""
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> Any:
        """Optional: fill `ctx` here and define `forward` without `ctx` (PyTorch 2 style)."""
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        """Gradients of the inputs from those of the outputs; override it (static)."""
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @staticmethod
    def jvp(ctx: Any, *grad_inputs: Any) -> Any:
        """Forward-mode AD rule; dygrad has no forward-mode AD."""
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run `forward` on `args` and record the node that runs `backward`.

        >>> import dygrad as torch
        >>> class MulConst(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x, k):
        ...         ctx.k = k
        ...         return x * k
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         return g * ctx.k, None
        >>> x = torch.ones(2, requires_grad=True)
        >>> MulConst.apply(x, 3.0).sum().backward(); x.grad
        tensor([3., 3.])
        """
        setup = cls.setup_context is not Function.setup_context
        if kwargs or setup:
            args, kwargs = _bind(cls.forward, setup, args, kwargs)
        ctx = cls._backward_cls()
        is_t = tuple(isinstance(a, Tensor) for a in args)
        needs = tuple(f and a._requires_grad for a, f in zip(args, is_t))
        ctx.needs_input_grad = needs
        ctx._arg_is_tensor = is_t
        executable = state.enabled and any(needs)
        if executable and hook_open[0]:
            untraceable(f"{cls.__name__}.apply() (a custom autograd.Function: its backward is "
                        "Python code that a trace cannot replay)")  # fmt: skip

        # The edges to the inputs' history as it is now, before forward runs (as PyTorch): a
        # forward that changes an input in place under enable_grad gives it a newer node, which
        # this node must not send to (nor be run before).
        edges = tuple(a._edge(ctx._seq) if a._requires_grad else (None, 0)
                      for a, f in zip(args, is_t) if f) if executable else ()  # fmt: skip
        prev = state.enabled
        state.enabled = False
        try:
            if setup:
                raw = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, raw)
            else:
                raw = cls.forward(ctx, *args, **kwargs)
        finally:
            state.enabled = prev

        is_tuple = isinstance(raw, tuple)
        outs = raw if is_tuple else (raw,)
        inputs = [a for a, f in zip(args, is_t) if f]
        d = ctx.__dict__
        dirty = d.pop("dirty_tensors", None) or ()
        non_diff = d.pop("non_differentiable", None) or ()
        to_save = d.pop("to_save", None)
        for t in dirty:
            if not any(t is o for o in outs):
                raise RuntimeError(
                    "Some elements marked as dirty during the forward method were not returned "
                    "as output. The inputs that are modified inplace must all be outputs of the "
                    "Function."
                )
        if executable:
            ctx.next_functions = edges
            ctx._in_meta = tuple((t._data.shape, t._data.dtype) for t in inputs)
            ctx.n_outputs = len(outs)
        node = ctx if executable else None
        res = []
        dif_out = []
        for j, o in enumerate(outs):
            if not isinstance(o, Tensor):
                res.append(o)
                dif_out.append(False)
                continue
            res.append(_wrap_output(o, j, node, inputs, dirty, non_diff))
            dif_out.append(res[-1].grad_fn is node and node is not None)
        if executable:
            ctx._out_meta = tuple(
                (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None for o in res
            )
            ctx._saved = _pack(to_save, outs, res, inputs, dirty, dif_out)
        elif to_save:
            _check_savable(to_save)
        return tuple(res) if is_tuple else res[0]


def _bind(
    forward: Callable[..., Any], setup: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    # Keyword arguments that name forward's positional parameters become inputs, as in
    # PyTorch; keyword-only ones stay keywords and are never differentiated.
    sig = inspect.signature(forward)
    if setup:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.args), dict(bound.kwargs)
    bound = sig.bind(None, *args, **kwargs)
    return tuple(bound.args[1:]), dict(bound.kwargs)


def _alias(t: Tensor, req: bool, node: Node | None, nr: int) -> Tensor:
    # A new tensor object over the same memory and version counter (PyTorch's view_as(self)).
    a: Any = Tensor._wrap(t._data, req, node, nr)  # Tensor's private slots are untyped
    a._vc = t._vc
    a._base = t if t._base is None else t._base
    a._view_fn = a._base.grad_fn  # the base's history when the view was taken
    return a


def _wrap_output(
    o: Any,
    j: int,
    node: BackwardCFunction | None,
    inputs: list[Tensor],
    dirty: tuple[Tensor, ...],
    non_diff: tuple[Tensor, ...],
) -> Tensor:
    is_input = any(o is t for t in inputs)
    is_dirty = any(o is t for t in dirty)
    differentiable = (
        node is not None and not any(o is t for t in non_diff) and o._data.dtype.kind == "f"
    )
    if not differentiable:
        if not o._requires_grad:
            return _alias(o, False, None, 0) if is_input and not is_dirty else o
        if is_input:
            return o.detach()
        return o.detach_()
    if is_dirty:
        if o.grad_fn is None and o._requires_grad:
            raise RuntimeError("a leaf Variable that requires grad has been used in an in-place "
                               "operation.")  # fmt: skip
        base = o._base
        if base is not None and (base._requires_grad or o._requires_grad):
            raise RuntimeError(
                f"{type(node).__name__}: in-place modification of a view of a tensor that "
                "requires grad is not supported by dygrad; use out-of-place ops or .clone() the "
                "view first."
            )
        o.grad_fn = node
        o._out_nr = j
        o._requires_grad = True
        return o
    if is_input:
        return _alias(o, True, node, j)
    o.grad_fn = node
    o._out_nr = j
    o._requires_grad = True
    return o


def _check_savable(to_save: tuple[Any, ...]) -> None:
    for i, t in enumerate(to_save):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"save_for_backward can only save variables, but argument {i} is of "
                            f"type {type(t).__name__}")  # fmt: skip


def _pack(
    to_save: tuple[Any, ...] | None,
    outs: tuple[Any, ...],
    res: list[Any],
    inputs: list[Tensor],
    dirty: tuple[Tensor, ...],
    dif_out: list[bool],
) -> tuple[Any, ...] | None:
    # Inputs and intermediates are held with their version; an output (or a dirty input, which
    # now has this node as grad_fn) is held as its array and version counter, never as the
    # tensor, so that node -> output -> node is no cycle.
    if to_save is None:
        return None
    _check_savable(to_save)
    # Saved-tensor hooks open in this thread store each tensor as what pack_hook returns.
    hooks = current_saved_hooks() if hooks_open[0] else None
    packed: list[Any] = []
    for t in to_save:
        if t is None:
            packed.append(None)
            continue
        j = next((j for j, o in enumerate(outs) if o is t), -1)
        is_dirty = any(t is d for d in dirty)
        if j >= 0 and (is_dirty or not any(t is i for i in inputs)):
            r = res[j]
            if hooks is not None:
                # A detached tensor over the output's data, so the node never holds its output.
                a = Tensor._wrap(r._data, False, None, 0)
                a._vc = r._vc
                packed.append(pack_saved(hooks, a, r._vc, None, j, own=True, req=dif_out[j]))
            else:
                packed.append((j, r._data, r._vc, r._vc[0], dif_out[j]))
        elif hooks is not None:
            edge = t._edge() if t._requires_grad else (None, 0)
            packed.append(pack_saved(hooks, t, t._vc, *edge))
        else:
            packed.append((t, t._vc[0]))
    return tuple(packed)


def _unpack_entry(rec: SavedRecord, node: BackwardCFunction) -> Tensor:
    # A tensor saved through hooks: versions checked as without them, then unpack_hook runs.
    box = rec.box
    if box is not None and box[0] != rec.version:
        t = None if rec.own else rec.ref()
        if t is not None:  # the message without hooks, while the saved tensor lives
            raise RuntimeError(_stale_message(t, box[0], rec.version, t.grad_fn, t.output_nr))
        desc = f"[torch.{pt_name(from_numpy_dtype(rec.dtype))}Tensor {list(rec.shape)}]"
        fn = node if rec.own else saved_grad_fn(rec)
        raise RuntimeError(stale_message(desc, fn, rec.nr, box[0], rec.version))
    return unpack_saved(rec, Tensor, True, node)


class Error(Node):
    """The node `once_differentiable` puts on the gradients it returns when a graph is being
    built: differentiating through it raises PyTorch's "differentiate twice" error.

    >>> e = Error("no second derivative", 1)
    >>> e._apply(None, False)
    Traceback (most recent call last):
    ...
    RuntimeError: no second derivative
    """

    __slots__ = ("msg", "n_outputs")

    def __init__(self, msg: str, n_outputs: int) -> None:
        Node.__init__(self)
        self.msg = msg
        self.n_outputs = n_outputs

    def _apply(self, grads: Any, create_graph: bool) -> tuple[Any, ...]:
        raise RuntimeError(self.msg)


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a `backward` that is not itself differentiable (`once_differentiable`): it runs
    in no-grad mode, and if a graph was being built (`create_graph=True`) the gradients it
    returns raise an error when differentiated again.

    >>> import dygrad as torch
    >>> class Cube(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     @once_differentiable
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x ** 2 * g
    >>> x = torch.tensor([2.], requires_grad=True)
    >>> Cube.apply(x).backward(torch.ones(1)); x.grad
    tensor([12.])
    """

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        prev = state.enabled
        state.enabled = False
        try:
            outputs = fn(ctx, *args)
        finally:
            state.enabled = prev
        if not prev:
            return outputs
        if not any(isinstance(a, Tensor) and a._requires_grad for a in args):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        err = Error(
            "trying to differentiate twice a function that was marked with @once_differentiable",
            len(outs),
        )
        res = tuple(
            _alias(o, True, err, j) if isinstance(o, Tensor) and o._data.dtype.kind == "f" else o
            for j, o in enumerate(outs)
        )
        return res[0] if single else res

    return wrapper
