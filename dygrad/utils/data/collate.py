"""Collating samples into a batch (`default_collate`) and converting unbatched samples to tensors
(`default_convert`), with PyTorch's rules (`torch.utils.data._utils.collate`)."""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import dtypes
from ...creation import as_tensor
from ...functions import stack
from ...tensor import Tensor, tensor

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]

# NumPy dtypes that cannot become tensors: strings (S, a, U) and objects (O).
_np_str_obj = re.compile(r"[SaUO]")

_ERR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _collate_tensor(batch: Any, *, collate_fn_map: Any = None) -> Tensor:
    return stack(list(batch), 0)


def _collate_ndarray(batch: Any, *, collate_fn_map: Any = None) -> Any:
    if _np_str_obj.search(batch[0].dtype.str) is not None:
        raise TypeError(_ERR.format(batch[0].dtype))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def _collate_np_scalar(batch: Any, *, collate_fn_map: Any = None) -> Tensor:
    return as_tensor(np.asarray(batch))


def _collate_float(batch: Any, *, collate_fn_map: Any = None) -> Tensor:
    # PyTorch: Python floats batch to float64, whatever the default dtype.
    return tensor(list(batch), dtype=dtypes.float64)


def _collate_int(batch: Any, *, collate_fn_map: Any = None) -> Tensor:
    # int64 for ints, bool for bools (Python's bool is an int), float for a mix with floats.
    return tensor(list(batch))


def _collate_str(batch: Any, *, collate_fn_map: Any = None) -> Any:
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable[..., Any]] = {
    Tensor: _collate_tensor,
    np.ndarray: _collate_ndarray,
    (np.bool_, np.number, np.object_): _collate_np_scalar,
    float: _collate_float,
    int: _collate_int,
    str: _collate_str,
    bytes: _collate_str,
}


def collate(batch: Any, *, collate_fn_map: dict[Any, Callable[..., Any]] | None = None) -> Any:
    """Collate a list of samples by the type of its first element, looking element types up in
    `collate_fn_map` and recursing into mappings and sequences
    (`torch.utils.data._utils.collate.collate`).

    >>> collate([(1, "a"), (2, "b")], collate_fn_map=default_collate_fn_map)
    [tensor([1, 2]), ('a', 'b')]
    """
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type, fn in collate_fn_map.items():
            if isinstance(elem, collate_type):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        out = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(out)
                return clone
            return elem_type(out)
        except TypeError:
            return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        parts = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return parts  # PyTorch returns a list for tuples, for backward compatibility
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, p in enumerate(parts):
                    clone[i] = p
                return clone
            return elem_type(parts)
        except TypeError:
            return parts
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch: Any) -> Any:
    """Merge a list of samples into a batch (`torch.utils.data.default_collate`).

    Tensors are stacked along a new first dimension (their shapes must agree); NumPy arrays and
    NumPy scalars become tensors and are stacked; Python floats become a float64 tensor, ints an
    int64 tensor, bools a bool tensor; strings and bytes stay a list; dicts are collated key by
    key, lists and tuples position by position (tuples come back as lists, as in PyTorch),
    recursively.

    >>> import dygrad as torch
    >>> default_collate([torch.tensor([1., 2.]), torch.tensor([3., 4.])])
    tensor([[1., 2.],
            [3., 4.]])
    >>> default_collate([{"x": 0.5, "y": 1}, {"x": 1.5, "y": 0}])
    {'x': tensor([0.5000, 1.5000], dtype=torch.float64), 'y': tensor([1, 0])}
    >>> default_collate([(torch.zeros(2), "cat"), (torch.ones(2), "dog")])
    [tensor([[0., 0.],
            [1., 1.]]), ('cat', 'dog')]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars inside one sample into tensors, leaving the rest
    (`torch.utils.data.default_convert`); the DataLoader's collate when `batch_size=None`.

    >>> import numpy as np
    >>> default_convert({"a": np.array([1, 2]), "b": (np.float32(1.5), "s")})
    {'a': tensor([1, 2]), 'b': [tensor(1.5000), 's']}
    """
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "bytes_"):
        if isinstance(data, np.ndarray) and _np_str_obj.search(data.dtype.str) is not None:
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        out = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update(out)
                return clone
            return elem_type(out)
        except TypeError:
            return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as in PyTorch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        parts = [default_convert(d) for d in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, p in enumerate(parts):
                    clone[i] = p
                return clone
            return elem_type(parts)
        except TypeError:
            return parts
    return data
