"""Tensor creation: `tensor`, `as_tensor`, `from_numpy`, `zeros`, `ones`, `full`, `empty`,
`arange`, `linspace`, `eye`, `rand`, `randn`, `randint`, and the `*_like` variants."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from .autograd.grad_mode import hook_open
from .backend import generator
from .ops.registry import created
from .tensor import Tensor, _shape_arg, _to_array, device, tensor

__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange", "linspace",
    "eye", "rand", "randn", "randint", "zeros_like", "ones_like", "full_like", "empty_like",
    "rand_like", "randn_like", "randint_like",
]  # fmt: skip


def _finish(arr: np.ndarray, requires_grad: bool, dev: Any = None) -> Tensor:
    if dev is not None:
        device(dev)
    t = Tensor._wrap(arr, False, None, 0)
    if requires_grad:
        t.requires_grad_(True)
    if hook_open[0]:  # dygrad.jit is tracing: a tensor made inside the traced code
        created(t)
    return t


def _float(dtype: Any) -> np.dtype:
    return (dtypes.get_default_dtype() if dtype is None else dtypes.to_dtype(dtype)).np


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like `tensor`, but shares memory with a NumPy array or tensor when it can
    (`torch.as_tensor`)."""
    if isinstance(data, Tensor) and (dtype is None or dtypes.to_dtype(dtype) == data.dtype):
        return data
    return _finish(_to_array(data, dtype, copy=False), False, device)


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy array `a` (`torch.from_numpy`).

    >>> import numpy as np, dygrad as torch
    >>> a = np.zeros(2, dtype=np.float32); t = torch.from_numpy(a); a[0] = 5; t
    tensor([5., 0.])
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    dtypes.from_numpy_dtype(a.dtype)
    return _finish(a, False)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (`torch.zeros`).

    >>> import dygrad as torch
    >>> torch.zeros(2, 3).shape
    torch.Size([2, 3])
    """
    return _finish(np.zeros(_shape_arg(size), _float(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (`torch.ones`)."""
    return _finish(np.ones(_shape_arg(size), _float(dtype)), requires_grad, device)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor (`torch.empty`); dygrad fills it with zeros."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:  # fmt: skip
    """A tensor filled with `fill_value`, dtype inferred from it (`torch.full`)."""
    if dtype is None:
        dtype = dtypes.result_type(fill_value)
    if isinstance(fill_value, Tensor) and fill_value.ndim == 0:
        fill_value = fill_value.item()  # through item(): a trace keeps a guard on it
    return _finish(np.full(_shape_arg((size,)), fill_value, dtypes.to_dtype(dtype).np),
                   requires_grad, device)  # fmt: skip


def arange(start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Values from `start` to `end` (exclusive) by `step` (`torch.arange`).

    >>> import dygrad as torch
    >>> torch.arange(3), torch.arange(0, 1, 0.25)
    (tensor([0, 1, 2]), tensor([0.0000, 0.2500, 0.5000, 0.7500]))
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        dtype = dtypes.result_type(start, end, step)
    d = dtypes.to_dtype(dtype)
    n = max(int(np.ceil((float(end) - float(start)) / float(step))), 0)
    arr = (start + np.arange(n, dtype=np.float64) * step).astype(d.np)
    return _finish(arr, requires_grad, device)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:  # fmt: skip
    """`steps` evenly spaced values from `start` to `end` inclusive (`torch.linspace`)."""
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    return _finish(np.linspace(start, end, steps).astype(_float(dtype)), requires_grad, device)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:  # fmt: skip
    """The identity matrix (`torch.eye`)."""
    return _finish(np.eye(n, m, dtype=_float(dtype)), requires_grad, device)


def rand(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
         generator_: Any = None) -> Tensor:  # fmt: skip
    """Uniform samples in [0, 1) (`torch.rand`); reproducible after `manual_seed`."""
    shape, dt = _shape_arg(size), _float(dtype)
    t = _finish(generator().random(shape).astype(dt), requires_grad, device)
    if hook_open[0]:  # a replay of traced code draws new samples
        created(t, lambda: generator().random(shape).astype(dt))
    return t


def randn(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples (`torch.randn`); reproducible after `manual_seed`."""
    shape, dt = _shape_arg(size), _float(dtype)
    t = _finish(generator().standard_normal(shape).astype(dt), requires_grad, device)
    if hook_open[0]:
        created(t, lambda: generator().standard_normal(shape).astype(dt))
    return t


def randint(low: int, high: Any = None, size: Any = None, *, dtype: Any = None,
            device: Any = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Integers uniform in [low, high) (`torch.randint`); `randint(high, size)` also works."""
    if size is None:
        low, high, size = 0, low, high
    elif high is None:
        raise TypeError("randint() missing required argument 'size'")
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    d = dtypes.int64 if dtype is None else dtypes.to_dtype(dtype)
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")  # fmt: skip
    shape = _shape_arg((size,))
    t = _finish(generator().integers(low, high, shape).astype(d.np), requires_grad, device)
    if hook_open[0]:
        created(t, lambda: generator().integers(low, high, shape).astype(d.np))
    return t


def _like(t: Tensor, dtype: Any) -> tuple[tuple[int, ...], Any]:
    if not isinstance(t, Tensor):
        raise TypeError(f"expected a Tensor, got {type(t).__name__}")
    return t._data.shape, t.dtype if dtype is None else dtype


def zeros_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:  # fmt: skip
    s, d = _like(t, dtype)
    return zeros(s, dtype=d, requires_grad=requires_grad, device=device)


def ones_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:  # fmt: skip
    s, d = _like(t, dtype)
    return ones(s, dtype=d, requires_grad=requires_grad, device=device)


def empty_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:  # fmt: skip
    return zeros_like(t, dtype=dtype, requires_grad=requires_grad, device=device)


def full_like(t: Tensor, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:  # fmt: skip
    s, d = _like(t, dtype)
    return full(s, fill_value, dtype=d, requires_grad=requires_grad, device=device)


def rand_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    s, d = _like(t, dtype)
    return rand(s, dtype=d, requires_grad=requires_grad)


def randn_like(t: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    s, d = _like(t, dtype)
    return randn(s, dtype=d, requires_grad=requires_grad)


def randint_like(t: Tensor, low: int, high: Any = None, *, dtype: Any = None) -> Tensor:
    s, d = _like(t, dtype)
    return randint(low, high, s, dtype=d) if high is not None else randint(low, s, dtype=d)
