"""Graph nodes: the `Node` base every `grad_fn` derives from, `AccumulateGrad` for leaves, and hook
handles. Nodes know nothing of specific ops; an op's node class supplies `_apply`."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

__all__ = ["Node", "AccumulateGrad", "RemovableHandle", "FREED_MSG"]

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


class Node:
    """A recorded operation in the backward graph (PyTorch's `torch.autograd.graph.Node`).

    `next_functions` holds one `(node, output_nr)` edge per input (None for inputs that need no
    gradient). Subclasses implement `_apply(grads, create_graph)` returning one gradient per edge.
    """

    # Rarely-set state lives in the instance __dict__, created only when first assigned, with
    # these class attributes as defaults: creating a node on the hot path sets one slot.
    __slots__ = ("next_functions", "__weakref__", "__dict__")
    _pre_hooks: dict[int, Callable[..., Any]] | None = None
    _post_hooks: dict[int, Callable[..., Any]] | None = None
    # retain_grad's hook: PyTorch runs it after every other tensor hook of the node.
    _retain: Callable[..., Any] | None = None
    # True when every gradient `_apply` returns is a new array that nothing else references
    # (except where it is the incoming gradient itself); lets leaves keep it without a copy.
    _fresh_grads = False
    _freed = False

    # Number of outputs of the forward that made this node; multi-output ops override it.
    n_outputs = 1

    def __init__(self) -> None:
        self.next_functions: tuple[tuple[Node | None, int], ...] = ()

    @property
    def metadata(self) -> dict[str, Any]:
        """A dict for user annotations, as in PyTorch."""
        return self.__dict__.setdefault("_metadata", {})

    def name(self) -> str:
        """The class name PyTorch shows for this node (its op declaration sets it)."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def _apply(self, grads: Any, create_graph: bool) -> tuple[Any, ...]:
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

    __slots__ = ("variable",)

    def __init__(self, variable: Any) -> None:
        Node.__init__(self)
        self.variable = variable

    @property  # type: ignore[override]
    def _pre_hooks(self) -> dict[int, Callable[..., Any]] | None:
        # A leaf's hooks live on the tensor (this node may be recreated); they run here, before
        # the gradient is accumulated, as in PyTorch.
        return self.variable._hooks

    def _apply(self, grads: Any, create_graph: bool) -> tuple[Any, ...]:
        self.variable._accumulate_grad(grads, create_graph, False)
        return ()
