"""Normalized exponentials along a dimension: `softmax` and `log_softmax`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import extreme, sum_last
from .pointwise import exp
from .reduction import sum_dim
from .registry import defop, promote_float

__all__ = ["softmax", "log_softmax"]


def _sum_kept(a: np.ndarray, ax: int | None) -> np.ndarray:
    # The sum along ax, kept: over the last axis as one matrix-vector product (sum_last).
    if ax is not None and (ax == -1 or ax == a.ndim - 1):
        return sum_last(a)
    return np.sum(a, axis=ax, keepdims=True)


def _softmax_fwd(x: np.ndarray, dim: int) -> np.ndarray:
    if x.size == 0:
        return x.copy()
    ax = dim if x.ndim else None  # a 0-d tensor's dim 0 is the whole tensor
    e = np.exp(x - extreme(x, ax, True, np.maximum))
    e /= _sum_kept(e, ax)
    return e


def _log_softmax_fwd(x: np.ndarray, dim: int) -> np.ndarray:
    if x.size == 0:
        return x.copy()
    ax = dim if x.ndim else None
    s = x - extreme(x, ax, True, np.maximum)
    s -= np.log(_sum_kept(np.exp(s), ax))
    return s


def _dims(g: Any, dim: int) -> tuple[int, ...]:
    return (dim,) if len(g.shape) else ()


# On arrays (no graph to record) the rules run in place on their own temporaries, with the
# forward's sums; on tensors (double backward) through the ops.
def _softmax_vjp(g: Any, dim: int, out: Any) -> Any:
    if type(g) is np.ndarray and type(out) is np.ndarray and g.ndim:
        t = g * out
        t = np.subtract(g, _sum_kept(t, dim), out=t)
        t *= out
        return t
    return out * (g - sum_dim(g * out, _dims(g, dim), True, g.shape))


def _log_softmax_vjp(g: Any, dim: int, out: Any) -> Any:
    if type(g) is np.ndarray and type(out) is np.ndarray and g.ndim:
        e = np.exp(out)
        e *= _sum_kept(g, dim)
        return np.subtract(g, e, out=e)
    return g - exp(out) * sum_dim(g, _dims(g, dim), True, g.shape)


def _log_softmax_jvp(t: Any, dim: int, out: Any) -> Any:
    return t - sum_dim(exp(out) * t, _dims(t, dim), True, t.shape)


# softmax's Jacobian diag(s) - s s^T is symmetric, so its vjp rule is also its jvp rule.
softmax = defop("softmax", grad_fn="SoftmaxBackward0", dtype=promote_float,
                onnx=lambda ox, x, dim: ox.op("Softmax", x, axis=dim),
                forward=_softmax_fwd, vjp=(_softmax_vjp,), jvp=(_softmax_vjp,),
                shape=lambda x, dim: x)  # fmt: skip
log_softmax = defop("log_softmax", grad_fn="LogSoftmaxBackward0", dtype=promote_float,
                    onnx=lambda ox, x, dim: ox.op("LogSoftmax", x, axis=dim),
                    forward=_log_softmax_fwd, vjp=(_log_softmax_vjp,), jvp=(_log_softmax_jvp,),
                    shape=lambda x, dim: x)  # fmt: skip
