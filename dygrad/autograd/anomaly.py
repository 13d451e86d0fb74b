"""Finding where bad gradients come from: PyTorch's anomaly mode (`detect_anomaly`,
`set_detect_anomaly`), and a cheaper `detect_nonfinite` mode that names the first backward node to
turn a finite gradient into inf or nan, with its op and the user's source line."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

from .grad_mode import state, sync_node_extra
from .graph import Node

__all__ = [
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
    "detect_nonfinite", "set_detect_nonfinite", "is_nonfinite_check_enabled",
]  # fmt: skip

P = ParamSpec("P")
R = TypeVar("R")


def _arrays(out: Any) -> list[tuple[int, np.ndarray]]:
    res = []
    for i, o in enumerate(out):
        if o is None:
            continue
        a = o._data if hasattr(o, "_data") else np.asarray(o)
        if a.dtype.kind in "fc":
            res.append((i, a))
    return res


def _origin(node: Node) -> str:
    op = getattr(node, "op", None)
    src = getattr(node, "_src", None)
    where = f" at {src}" if src is not None else ""
    if src is None and op is not None and state.track_source and not op.saves_anything:
        # Such nodes record their line only while a check is on during the forward pass.
        where = " (to see its line, turn this check on before the forward pass)"
    return f"{op.name}(){where}" if op is not None else f"{node.name()}{where}"


def _incoming(g: Any) -> list[np.ndarray]:
    gs = g if isinstance(g, tuple | list) else (g,)
    return [x for _, x in _arrays(gs)]


def _run(node: Node, g: Any, create_graph: bool) -> Any:
    """The engine's hook while a mode is on: run the node's rule, then check what it returned."""
    if state.anomaly:
        try:
            out = node._apply(g, create_graph)
        except Exception:
            tb = node.metadata.get("traceback_") if "_metadata" in node.__dict__ else None
            if tb:
                warnings.warn(
                    f"Error detected in {node.name()}. Traceback of forward call that caused the "
                    "error:\n" + "".join(tb),
                    stacklevel=2,
                )
            raise
    else:
        out = node._apply(g, create_graph)
    if state.anomaly and state.anomaly_nan:
        for i, a in _arrays(out):
            if np.isnan(a).any():
                raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th "
                                   "output.")  # fmt: skip
    if state.nonfinite:
        _check_finite(node, g, out)
    return out


def _check_finite(node: Node, g: Any, out: Any) -> None:
    bad = [(i, a) for i, a in _arrays(out) if not np.isfinite(a).all()]
    if not bad:
        return
    i, a = bad[0]
    kind = "nan" if np.isnan(a).any() else "inf"
    gin = _incoming(g)
    if any(not np.isfinite(x).all() for x in gin):
        return  # not the origin: an earlier check (or the caller's gradient) is to blame
    msg = (
        f"Function '{node.name()}' returned a non-finite gradient ({kind}) in its {i}th output "
        f"although the gradient it received is finite. The op is {_origin(node)}."
    )
    zeros = [x for x in gin if x.shape == a.shape and np.any((x == 0) & ~np.isfinite(a))]
    if zeros:
        msg += (
            " The gradient it received is 0 exactly where its result is not finite, and 0 times "
            "the op's infinite derivative there is nan. This is the where()/mask trap: "
            "discarding an op's result in the forward pass (or a later op with zero derivative "
            "there) does not keep its derivative finite. Apply the op to safe values instead, "
            "e.g. `torch.where(mask, x, 1).sqrt()` rather than `torch.where(mask, x.sqrt(), 0)`."
        )
    else:
        msg += " Its inputs are outside the domain where its derivative is finite."
    raise FloatingPointError(msg)


def _install() -> None:
    state.backward_check = _run if (state.anomaly or state.nonfinite) else None
    sync_node_extra()


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off (`torch.autograd.set_detect_anomaly`): nodes keep the
    traceback of the forward call that made them, an error in backward prints it, and with
    `check_nan` a backward rule returning nan raises. Takes effect at once; as a context
    manager it restores the previous setting.

    >>> import dygrad as torch
    >>> with torch.autograd.set_detect_anomaly(True):
    ...     torch.is_anomaly_enabled()
    True
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev = (state.anomaly, state.anomaly_nan)
        state.anomaly = bool(mode)
        state.anomaly_nan = bool(check_nan)
        _install()

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        state.anomaly, state.anomaly_nan = self._prev
        _install()


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager and decorator enabling anomaly detection (`torch.autograd.detect_anomaly`).

    >>> import dygrad as torch
    >>> x = torch.tensor([0.0], requires_grad=True)
    >>> with torch.autograd.detect_anomaly():
    ...     (x / x).sum().backward()
    Traceback (most recent call last):
    RuntimeError: Function 'DivBackward0' returned nan values in its 1th output.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self._mode: set_detect_anomaly | None = None

    def __enter__(self) -> None:
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.",
            stacklevel=2,
        )
        self._mode = set_detect_anomaly(True, self.check_nan)

    def __exit__(self, *exc: object) -> None:
        assert self._mode is not None
        self._mode.__exit__()

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


def is_anomaly_enabled() -> bool:
    """True while anomaly detection is on in this thread (`torch.is_anomaly_enabled`)."""
    return state.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly detection also checks backward outputs for nan."""
    return state.anomaly and state.anomaly_nan


class set_detect_nonfinite:  # noqa: N801
    """Check every gradient a backward rule returns and raise at the first node that turns a
    finite gradient into inf or nan, naming its op, the user's source line, and the where()/mask
    trap when that is the cause. Cheaper than anomaly mode (no tracebacks are kept; one
    `isfinite` pass per gradient). Takes effect at once; restores the previous setting as a
    context manager.

    >>> import dygrad as torch
    >>> x = torch.tensor([-1.0, 4.0], requires_grad=True)
    >>> y = torch.where(x > 0, x.sqrt(), 0.0).sum()
    >>> with torch.autograd.set_detect_nonfinite(True):  # doctest: +ELLIPSIS
    ...     y.backward()
    Traceback (most recent call last):
    FloatingPointError: Function 'SqrtBackward0' returned a non-finite gradient (nan) ...
    """

    def __init__(self, mode: bool) -> None:
        self._prev = state.nonfinite
        state.nonfinite = bool(mode)
        _install()

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        state.nonfinite = self._prev
        _install()


def detect_nonfinite() -> set_detect_nonfinite:
    """`with detect_nonfinite(): ...`: `set_detect_nonfinite(True)` for a block."""
    return set_detect_nonfinite(True)


def is_nonfinite_check_enabled() -> bool:
    """True while `set_detect_nonfinite` is on."""
    return state.nonfinite
