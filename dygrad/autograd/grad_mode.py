"""Grad modes: `no_grad`, `enable_grad`, `set_grad_enabled`, `inference_mode`, thread-local, usable
as context managers and as decorators."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "is_grad_enabled",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
    "set_source_tracking",
    "is_source_tracking_enabled",
]

P = ParamSpec("P")
R = TypeVar("R")


class _State(threading.local):
    # Class attributes are the per-thread defaults: every new thread starts with grad enabled.
    enabled = True
    inference = False
    # Forward-mode AD: the ids of the dual levels open in this thread, outermost first. Ops
    # propagate tangents only at these levels (see dygrad.autograd.forward_ad).
    fw_levels: tuple[int, ...] = ()
    # Record the user's file:line at each graph node and in-place change (for error messages).
    track_source = True
    # Anomaly mode: nodes keep their forward traceback; `backward_check(node, g, create_graph)`,
    # when set, runs each node's backward rule in the engine and checks what it returns.
    anomaly = False
    anomaly_nan = True
    nonfinite = False
    backward_check: Any = None
    # What each new node records beyond the graph, read once per op: bit 1 its call site if its
    # rules read saved values (track_source), bit 4 the call site of every node (track_source
    # with anomaly or non-finite checks), bit 2 its forward traceback (anomaly). Kept in step
    # by sync_node_extra.
    node_extra = 1
    # A tool that watches or replaces op dispatch in this thread (dygrad.jit's tracer and shape
    # checker): `apply` hands each op to it. See dygrad.ops.registry.apply.
    dispatch_hook: Any = None


def sync_node_extra() -> None:
    """Recompute `state.node_extra` after `track_source`, `anomaly` or `nonfinite` changed."""
    track = state.track_source
    every = track and (state.anomaly or state.nonfinite)
    state.node_extra = (1 if track else 0) | (2 if state.anomaly else 0) | (4 if every else 0)


state = _State()
# How many dual levels are open in all threads together: dispatch reads this plain list first
# and looks at its own thread's levels only when it is non-zero.
fw_open = [0]
# How many threads have a dispatch hook installed: dispatch reads this first, as for fw_open.
hook_open = [0]


def is_grad_enabled() -> bool:
    """True when ops record the graph in this thread (`torch.is_grad_enabled`).

    >>> is_grad_enabled()
    True
    """
    return state.enabled


def is_inference_mode_enabled() -> bool:
    """True inside `inference_mode()` in this thread."""
    return state.inference


class _Mode:
    """Base for grad-mode context managers: saves the thread's mode on entry, restores on exit."""

    _target = True

    def __init__(self) -> None:
        self._prev: list[tuple[bool, bool]] = []

    def _set(self) -> None:
        state.enabled = self._target

    def __enter__(self) -> None:
        self._prev.append((state.enabled, state.inference))
        self._set()

    def __exit__(self, *exc: object) -> None:
        state.enabled, state.inference = self._prev.pop()

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.isgeneratorfunction(fn):
            raise TypeError("grad-mode decorators on generator functions are not supported")

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.__class__(*self._args()):
                return fn(*args, **kwargs)

        return wrapper

    def _args(self) -> tuple[Any, ...]:
        return ()

    def clone(self) -> _Mode:
        return self.__class__(*self._args())


class no_grad(_Mode):  # noqa: N801 - PyTorch's name
    """Disable graph recording in this thread (`torch.no_grad`).

    >>> import dygrad
    >>> x = dygrad.ones(2, requires_grad=True)
    >>> with dygrad.no_grad():
    ...     y = x * 2
    >>> y.requires_grad, x.requires_grad
    (False, True)
    """

    _target = False


class enable_grad(_Mode):  # noqa: N801
    """Re-enable graph recording inside a `no_grad` block (`torch.enable_grad`).

    >>> import dygrad
    >>> x = dygrad.ones(1, requires_grad=True)
    >>> with dygrad.no_grad(), dygrad.enable_grad():
    ...     (x * 2).requires_grad
    True
    """

    _target = True


class set_grad_enabled(_Mode):  # noqa: N801
    """Set grad mode on or off (`torch.set_grad_enabled`); takes effect at once, like PyTorch,
    and as a context manager restores the previous mode on exit.

    >>> import dygrad
    >>> with dygrad.set_grad_enabled(False):
    ...     dygrad.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        super().__init__()
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled() expected a bool, got {type(mode).__name__}")
        self._target = mode
        self._prev.append((state.enabled, state.inference))
        state.enabled = mode

    def __enter__(self) -> None:
        # The mode was already set by __init__; only remember what to restore once.
        pass

    def _args(self) -> tuple[Any, ...]:
        return (self._target,)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        # Used as a decorator, construction must not have changed the mode for good.
        state.enabled, state.inference = self._prev[-1]
        return super().__call__(fn)


class inference_mode(_Mode):  # noqa: N801
    """Like `no_grad`, for inference-only code (`torch.inference_mode`).

    >>> import dygrad
    >>> with dygrad.inference_mode():
    ...     dygrad.is_grad_enabled(), dygrad.is_inference_mode_enabled()
    (False, True)
    """

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self._mode = mode

    def _set(self) -> None:
        if self._mode:
            state.enabled = False
            state.inference = True

    def _args(self) -> tuple[Any, ...]:
        return (self._mode,)


class set_source_tracking:  # noqa: N801 - reads like set_grad_enabled
    """Record, at each graph node and each in-place change, the user's `file:line`, so that
    autograd errors can name the lines involved (on by default, in this thread). It costs a few
    percent on tiny ops; turn it off for the last bit of speed. Takes effect at once and, used
    as a context manager, restores the previous setting on exit.

    >>> import dygrad
    >>> with dygrad.autograd.set_source_tracking(False):
    ...     dygrad.autograd.is_source_tracking_enabled()
    False
    >>> dygrad.autograd.is_source_tracking_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_source_tracking() expected a bool, got {type(mode).__name__}")
        self._prev = state.track_source
        state.track_source = mode
        sync_node_extra()

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        state.track_source = self._prev
        sync_node_extra()


def is_source_tracking_enabled() -> bool:
    """True when nodes record the user's source line in this thread."""
    return state.track_source
