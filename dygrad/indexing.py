"""`Tensor.__getitem__` and `__setitem__`: turn a Python index into the ops PyTorch records
(select, slice, unsqueeze for basic indexing; index for advanced indexing; index_put to assign)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd.grad_mode import hook_open, state
from .ops import indexing as I  # noqa: E741
from .ops import shape as S
from .ops.registry import apply, apply_inplace, note_inplace
from .tensor import Tensor, tensor

__all__ = ["getitem", "setitem"]


def _is_advanced(k: Any) -> bool:
    return isinstance(k, Tensor | np.ndarray | list | bool | np.bool_)


def _raw_key(key: Any) -> tuple[Any, ...]:
    key = key if isinstance(key, tuple) else (key,)
    out = []
    for k in key:
        if isinstance(k, Tensor):
            a = k._data
            if a.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            # A 0-d integer index becomes a Python int through the tensor (a tracer sees it).
            out.append(a if a.dtype.kind == "b" or a.ndim else int(k))
        elif isinstance(k, list):
            a = np.asarray([v.item() if isinstance(v, Tensor) else v for v in k])
            if a.size and a.dtype.kind not in "iub":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(a.astype(np.int64) if a.dtype.kind != "b" else a)
        elif isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
            out.append(int(k))
        elif k is None or k is Ellipsis or isinstance(k, slice | np.ndarray | bool | np.bool_):
            out.append(k)
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(k).__name__})"
            )
    return tuple(out)


def _check_bounds(key: tuple[Any, ...], shape: tuple[int, ...]) -> None:
    dim = 0
    n_ell = sum(k is Ellipsis for k in key)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(
        (k.ndim if isinstance(k, np.ndarray) and k.dtype == np.bool_ else 1)
        for k in key
        if k is not None and k is not Ellipsis and not isinstance(k, bool)
    )
    if consumed > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    for k in key:
        if k is Ellipsis:
            dim += len(shape) - consumed
            continue
        if k is None or isinstance(k, bool):
            continue
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            if k.shape != shape[dim : dim + k.ndim]:
                raise IndexError(f"The shape of the mask {list(k.shape)} at index {dim} does not "
                                 f"match the shape of the indexed tensor "
                                 f"{list(shape[dim:dim + k.ndim])} at index {dim}")  # fmt: skip
            dim += k.ndim
            continue
        n = shape[dim]
        if isinstance(k, int):
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {n}")
        elif isinstance(k, np.ndarray) and k.size:
            if k.max() >= n or k.min() < -n:
                bad = int(k.max()) if k.max() >= n else int(k.min())
                raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size "
                                 f"{n}")  # fmt: skip
        elif isinstance(k, slice) and k.step is not None and k.step <= 0:
            raise ValueError("step must be greater than zero")
        dim += 1


def getitem(t: Tensor, key: Any) -> Tensor:
    """`t[key]` with PyTorch's semantics and grad_fn names."""
    key = _raw_key(key)
    shape = t._data.shape
    _check_bounds(key, shape)
    if any(_is_advanced(k) for k in key):
        return apply(I.index, t, key, shape)
    if key == (Ellipsis,):
        return apply(S.alias, t)
    # Basic indexing: one view op per index element, as PyTorch records it.
    n_ell = len(shape) - sum(1 for k in key if k is not None and k is not Ellipsis)
    out = t
    dim = 0
    for k in key:
        if k is Ellipsis:
            dim += n_ell
        elif k is None:
            out = apply(S.unsqueeze, out, dim)
            dim += 1
        elif isinstance(k, int):
            full = (slice(None),) * dim + (k,)
            out = apply(I.select, out, full, out._data.shape)
        else:
            full = (slice(None),) * dim + (k,)
            out = apply(I.slice_, out, full, out._data.shape)
            dim += 1
    return out


def setitem(t: Tensor, key: Any, value: Any) -> None:
    """`t[key] = value`: in place, recorded as CopySlices (basic key) or IndexPutBackward0
    (advanced key) when a gradient must flow."""
    key = _raw_key(key)
    _check_bounds(key, t._data.shape)
    if state.enabled and t._requires_grad and t.grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")  # fmt: skip
    if len(key) == 1 and key[0] is Ellipsis:  # t[...] is t itself: PyTorch records copy_
        op = S.copy
        key_args: tuple[Any, ...] = ()
    else:
        op = I.index_put if any(isinstance(k, np.ndarray) for k in key) else I.copy_slices
        key_args = (key,)
    # A dual target or value goes through apply_inplace too, or the target's tangent goes stale.
    dual = bool(state.fw_levels) and (t._fw is not None or getattr(value, "_fw", None) is not None)
    # dygrad.jit (hook_open) must see every write: through the op, never straight to the array.
    if isinstance(value, Tensor):
        if dual or hook_open[0] or state.enabled and (value._requires_grad or t._requires_grad):
            apply_inplace(op, t, value, *key_args)
            return
        value = value._data
    elif dual or hook_open[0] or state.enabled and t._requires_grad:
        apply_inplace(op, t, tensor(value, dtype=t.dtype), *key_args)
        return
    try:
        t._data[key] = value
    except ValueError as e:
        I.setitem_check(t, value, key, op is I.index_put)  # PyTorch's message for its key kind
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(np.shape(value))} cannot "
                           f"be broadcast to indexing result of shape "
                           f"{list(t._data[key].shape)}") from e  # fmt: skip
    t._vc[0] += 1
    note_inplace(t._vc, "__setitem__")
