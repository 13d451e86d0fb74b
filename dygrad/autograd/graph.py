"""Graph nodes: the `Node` base every `grad_fn` derives from, `AccumulateGrad` for leaves, hook
handles, and saved-tensor hooks (`saved_tensors_hooks`), which decide how values saved for
backward are stored. Nodes know nothing of specific ops; an op's node class supplies `_apply`."""

from __future__ import annotations

import itertools
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from .grad_mode import state

__all__ = [
    "Node", "AccumulateGrad", "RemovableHandle", "FREED_MSG", "saved_tensors_hooks",
    "disable_saved_tensors_hooks", "save_on_cpu", "leaf_tensors",
]  # fmt: skip

FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)

_handle_ids = itertools.count()

# Converters between the engine's raw gradient arrays and user-facing tensors, installed by the
# tensor layer (this layer cannot import it): (to_tensor, to_raw).
tensor_converters: list[Callable[[Any], Any]] = []


def _as_tensors(grads: Any) -> tuple[Any, ...]:
    to_tensor = tensor_converters[0]
    return tuple(to_tensor(g) for g in grads)


def _as_raw(new: Any, like: Any) -> tuple[Any, ...]:
    # Back to the engine's form: arrays when the engine ran on arrays (create_graph=False).
    to_raw = tensor_converters[1]
    raw = any(g is not None and type(g).__module__ == "numpy" for g in like)
    return tuple(to_raw(g) if raw else g for g in new)


class RemovableHandle:
    """Returned by `register_hook`; `remove()` unregisters the hook (`torch.utils.hooks`)."""

    __slots__ = ("_store", "id", "__weakref__")

    def __init__(self, store: dict[int, Any]) -> None:
        self._store = store
        self.id = next(_handle_ids)

    def remove(self) -> None:
        store = self._store
        if store is not None:
            store.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


# Every node gets the next number when made (`Node._seq`, PyTorch's sequence_nr). A node is made
# after the nodes of its inputs, so numbers grow from inputs to consumers: backward runs nodes
# newest first. (itertools.count: one C call, atomic under the GIL.)
next_seq = itertools.count(1).__next__


class Node:
    """A recorded operation in the backward graph (PyTorch's `torch.autograd.graph.Node`).

    `next_functions` holds one `(node, output_nr)` edge per input (None for inputs that need no
    gradient). Subclasses implement `_apply(grads, create_graph)` returning one gradient per edge.
    """

    # Rarely-set state lives in the instance __dict__, created only when first assigned, with
    # these class attributes as defaults: creating a node on the hot path sets one slot.
    __slots__ = ("next_functions", "_seq", "__weakref__", "__dict__")
    _seq: float  # the order backward runs nodes in, newest first (a leaf's: see AccumulateGrad)
    # Breaks ties on _seq in backward's queue: leaves' nodes made for one op share their _seq and
    # run in the order they were made (the op's inputs in order), as in PyTorch.
    _made = 0
    _pre_hooks: dict[int, Callable[..., Any]] | None = None
    _post_hooks: dict[int, Callable[..., Any]] | None = None
    # retain_grad's hook: PyTorch runs it after every other tensor hook of the node.
    _retain: Callable[..., Any] | None = None
    # True when every gradient `_apply` returns is a new array that nothing else references
    # (except where it is the incoming gradient itself); lets leaves keep it without a copy.
    _fresh_grads = False
    _freed = False
    # Set on the root nodes of a backward pass that did not retain the graph: an op that builds
    # on such a root (`total += loss` after `loss.backward()`) keeps that graph alive.
    _consumed = False

    # Number of outputs of the forward that made this node; multi-output ops override it.
    n_outputs = 1

    def __init__(self) -> None:
        self.next_functions: tuple[tuple[Node | None, int], ...] = ()
        self._seq = next_seq()

    @property
    def metadata(self) -> dict[str, Any]:
        """A dict for user annotations, as in PyTorch."""
        return self.__dict__.setdefault("_metadata", {})

    def name(self) -> str:
        """The class name PyTorch shows for this node (its op declaration sets it)."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def _apply(self, grads: Any, create_graph: bool) -> Sequence[Any]:
        raise NotImplementedError

    def _release(self) -> None:
        """Drop saved values once backward has passed this node (unless retain_graph)."""
        self._freed = True

    def register_hook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """Run `fn(grad_inputs, grad_outputs)` (tuples of tensors or None) after this node
        computes its gradients; a non-None return replaces grad_inputs (`Node.register_hook`)."""
        if self._post_hooks is None:
            self._post_hooks = {}
        n_out = self.n_outputs

        def run(grads_in: Any, grads_out: Any) -> Any:
            go = (grads_out,) if n_out == 1 else tuple(grads_out)
            res = fn(_as_tensors(grads_in), _as_tensors(go))
            return None if res is None else _as_raw(res, grads_in)

        h = RemovableHandle(self._post_hooks)
        self._post_hooks[h.id] = run
        return h

    def register_prehook(self, fn: Callable[..., Any]) -> RemovableHandle:
        """Run `fn(grad_outputs)` (a tuple of tensors or None) before this node runs; a non-None
        return replaces grad_outputs (`Node.register_prehook`)."""
        n_out = self.n_outputs

        def run(g: Any, _create_graph: bool) -> Any:
            go = (g,) if n_out == 1 else tuple(g)
            res = fn(_as_tensors(go))
            if res is None:
                return None
            raw = _as_raw(res, go)
            return raw[0] if n_out == 1 else list(raw)

        return self._add_pre_hook(run)

    def _add_pre_hook(self, fn: Callable[..., Any]) -> RemovableHandle:
        # Internal pre-hooks receive (grads, create_graph) and return new grads or None; the
        # tensor layer uses them for tensor hooks and retain_grad.
        if self._pre_hooks is None:
            self._pre_hooks = {}
        h = RemovableHandle(self._pre_hooks)
        self._pre_hooks[h.id] = fn
        return h


class AccumulateGrad(Node):
    """The node at a leaf that requires grad: adds the incoming gradient into `leaf.grad`."""

    __slots__ = ("variable", "_made")

    def __init__(self, variable: Any) -> None:
        self.next_functions = ()
        # Backward runs a leaf's node after every node that can send it a gradient: every node
        # that recorded an edge to it. Each such node lowers this number to half a step below
        # its own when it is higher (Tensor._accumulator), so it stays below the oldest user's,
        # whatever order nodes, edges and threads came in; no user yet: above everything.
        self._seq = math.inf
        self._made = next_seq()
        self.variable = variable

    @property
    def _pre_hooks(self) -> dict[int, Callable[..., Any]] | None:
        # A leaf's hooks live on the tensor (this node may be recreated); they run here, before
        # the gradient is accumulated, as in PyTorch.
        return self.variable._hooks

    @_pre_hooks.setter
    def _pre_hooks(self, hooks: dict[int, Callable[..., Any]] | None) -> None:
        # `register_prehook` on this node adds to the same tensor-owned dict.
        self.variable._hooks = hooks

    def _apply(self, grads: Any, create_graph: bool) -> tuple[Any, ...]:
        self.variable._accumulate_grad(grads, create_graph, False)
        return ()


# ---------------------------------------------------------------------------------------------
# Saved-tensor hooks: while a `saved_tensors_hooks` context is open in a thread, every tensor an
# op saves for backward there goes through `pack_hook` when it is saved, and the node keeps only
# what the hook returned; backward calls `unpack_hook` on that each time it needs the value.

Hook = Callable[[Any], Any]


class _HooksState(threading.local):
    # Per-thread defaults: no hooks, not disabled.
    stack: tuple[tuple[Hook, Hook], ...] = ()
    disabled: str | None = None


_hooks = _HooksState()
# The number of hook contexts open in all threads. Recording an op tests this one number and
# reads the thread-local stack only when it is nonzero, so ops pay almost nothing for the
# feature while nobody uses it.
hooks_open = [0]
_open_lock = threading.Lock()


def current_saved_hooks() -> tuple[Hook, Hook] | None:
    """The innermost `(pack_hook, unpack_hook)` pair open in this thread, or None.

    >>> current_saved_hooks() is None
    True
    >>> with saved_tensors_hooks(abs, abs):
    ...     current_saved_hooks() == (abs, abs)
    True
    """
    stack = _hooks.stack
    return stack[-1] if stack else None


class saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Context manager that sets how tensors saved for backward are stored
    (`torch.autograd.graph.saved_tensors_hooks`).

    While it is open (in this thread), each tensor that an op or a custom Function saves for
    backward is passed to `pack_hook(tensor)` at once, and the node keeps only what the hook
    returns, which may be any object. Whenever backward (or `grad_fn._saved_self`, or
    `ctx.saved_tensors`) needs the value, `unpack_hook(packed)` is called and must return a
    tensor of the saved tensor's shape; a different dtype is cast back. Contexts nest: the
    innermost pair is used. Nodes keep their pair, so unpacking works after the context closes.
    `pack_hook` runs with grad mode off. An op's output is passed as a detached tensor sharing
    its data (PyTorch passes the output itself), so no node holds its own output. dygrad keeps
    checking versions under hooks: a saved tensor modified in place before backward raises, as
    without hooks (PyTorch skips that check when hooks are set).

    >>> import dygrad as torch
    >>> store = {}
    >>> def pack(t):
    ...     store[len(store)] = t.clone()
    ...     return len(store) - 1
    >>> def unpack(key):
    ...     return store[key]
    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
    ...     y = (x * x).sum()
    >>> len(store)
    2
    >>> y.backward(); x.grad
    tensor([2., 4.])
    """

    def __init__(self, pack_hook: Hook, unpack_hook: Hook) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook
        self._prev: list[tuple[tuple[Hook, Hook], ...]] = []

    def __enter__(self) -> saved_tensors_hooks:
        msg = _hooks.disabled
        if msg is not None:
            raise RuntimeError(msg)
        self._prev.append(_hooks.stack)
        _hooks.stack = (*_hooks.stack, (self.pack_hook, self.unpack_hook))
        with _open_lock:
            hooks_open[0] += 1
        return self

    def __exit__(self, *exc: object) -> None:
        _hooks.stack = self._prev.pop()
        with _open_lock:
            hooks_open[0] -= 1


class disable_saved_tensors_hooks:  # noqa: N801 - PyTorch's name
    """Context manager under which saved-tensor hooks may not be used: opening a
    `saved_tensors_hooks` raises `RuntimeError(error_message)`, and so does entering this one
    while hooks are open (`torch.autograd.graph.disable_saved_tensors_hooks`). For features that
    cannot work with them.

    >>> import dygrad as torch
    >>> graph = torch.autograd.graph
    >>> with graph.disable_saved_tensors_hooks("not with this feature"):
    ...     with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
    ...         pass
    Traceback (most recent call last):
    ...
    RuntimeError: not with this feature
    """

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message
        self._prev: list[str | None] = []

    def __enter__(self) -> None:
        if _hooks.stack:
            raise RuntimeError(self.error_message)
        self._prev.append(_hooks.disabled)
        _hooks.disabled = self.error_message

    def __exit__(self, *exc: object) -> None:
        _hooks.disabled = self._prev.pop()

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with disable_saved_tensors_hooks(self.error_message):
                return fn(*args, **kwargs)

        return wrapper


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 - PyTorch's name
    """Saved-tensor hooks that keep a CPU copy of each saved tensor and hand it back in backward
    (`torch.autograd.graph.save_on_cpu`). dygrad computes on the CPU only, so this stores a copy
    of each saved tensor (it saves no memory; values later changed in place do not reach the copy,
    though the version check still refuses them); `pin_memory` and `device_type` are accepted
    for compatibility and ignored.

    >>> import dygrad as torch
    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> with torch.autograd.graph.save_on_cpu(pin_memory=False):
    ...     y = x.exp().sum()
    >>> y.backward(); x.grad
    tensor([2.7183, 7.3891])
    """

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        self.pin_memory = pin_memory
        self.device_type = device_type
        super().__init__(_copy, _identity)


def _copy(t: Any) -> Any:
    return t.detach().clone()


def _identity(t: Any) -> Any:
    return t


class SavedRecord:
    """A value saved for backward while hooks were open: what `pack_hook` returned, the
    `unpack_hook` to call on it, and what it takes to check the unpacked value (shape, dtype, the
    saved tensor's version counter and version) and to give it back its place in the graph: the
    edge of the saved tensor (`node`, `nr`), or for an output of the saving node itself (`own`)
    whether it is differentiable (`req`); `raw` for a plain array saved as an operand; `ref`, a
    weak reference to the saved tensor, names it in error messages while it lives."""

    __slots__ = ("packed", "unpack_hook", "shape", "dtype", "box", "version", "node", "nr",
                 "raw", "own", "req", "ref")  # fmt: skip

    packed: Any
    unpack_hook: Hook
    shape: tuple[int, ...]
    dtype: Any
    box: list[int] | None
    version: int
    node: Node | None
    nr: int
    raw: bool
    own: bool
    req: bool
    ref: weakref.ReferenceType[Any]


def pack_saved(
    hooks: tuple[Hook, Hook],
    value: Any,
    box: list[int] | None,
    node: Node | None = None,
    nr: int = 0,
    *,
    raw: bool = False,
    own: bool = False,
    req: bool = False,
) -> SavedRecord:
    """Pack the tensor `value` with `hooks` (grad mode off while `pack_hook` runs)."""
    rec = SavedRecord()
    data = value._data
    rec.shape = data.shape
    rec.dtype = data.dtype
    rec.box = box
    rec.version = box[0] if box is not None else 0
    rec.node = node
    rec.nr = nr
    rec.raw = raw
    rec.own = own
    rec.req = req
    rec.ref = weakref.ref(value)
    rec.unpack_hook = hooks[1]
    prev = state.enabled
    state.enabled = False
    try:
        rec.packed = hooks[0](value)
    finally:
        state.enabled = prev
    return rec


def unpack_saved(
    rec: SavedRecord, tensor_cls: Any, as_tensor: bool, owner: Node | None = None
) -> Any:
    """Call the record's `unpack_hook` and check its result: the saved array, or with `as_tensor`
    a tensor in the saved tensor's place in the graph (its grad_fn or leaf; `owner`, the saving
    node, for its own outputs), as backward needs with `create_graph=True`."""
    value: Any = rec.unpack_hook(rec.packed)
    if not isinstance(value, tensor_cls):
        raise TypeError(
            "Output of saved tensor unpack_hook expected to be a Tensor but got result of type "
            f"{type(value).__name__}"
        )
    data = value._data
    if data.shape != rec.shape:
        raise RuntimeError(
            f"unpack_hook returned a tensor of shape {list(data.shape)}, but the tensor saved for "
            f"backward had shape {list(rec.shape)}"
        )
    if data.dtype != rec.dtype:
        data = data.astype(rec.dtype)
    if not as_tensor:
        return data
    wrap = tensor_cls._wrap
    if rec.own:
        return wrap(data, rec.req, owner if rec.req else None, rec.nr)
    node = rec.node
    if node is None:
        return wrap(data, False, None, 0)
    if type(node) is AccumulateGrad:
        t = wrap(data, True, None, 0)
        t._accum = weakref.ref(node)
        return t
    return wrap(data, True, node, rec.nr)


def saved_grad_fn(rec: SavedRecord) -> Node | None:
    """The saved tensor's `grad_fn` (None for a leaf), for error messages."""
    node = rec.node
    return None if node is None or type(node) is AccumulateGrad else node


def leaf_tensors(nodes: Any, limit: int | None = None) -> list[Any]:
    """The leaf tensors (AccumulateGrad variables) that the graphs below `nodes` reach, each
    once, in the order found; a loop, visiting at most `limit` nodes when given."""
    seen: set[int] = set()
    found: set[int] = set()
    leaves = []
    todo = [n for n in nodes if n is not None]
    budget = limit if limit is not None else -1
    while todo and budget:
        node = todo.pop()
        budget -= 1
        for nxt, _ in node.next_functions:
            if nxt is None or id(nxt) in seen:
                continue
            seen.add(id(nxt))
            var = getattr(nxt, "variable", None)
            if var is None:
                todo.append(nxt)
            elif id(var) not in found:
                found.add(id(var))
                leaves.append(var)
    return leaves
