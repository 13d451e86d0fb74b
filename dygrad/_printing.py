"""Tensor repr/str formatting that reproduces PyTorch's output character for character.

Owns the global print options (``set_printoptions`` / ``get_printoptions``) and ``format_tensor``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

__all__ = ["format_tensor", "get_printoptions", "set_printoptions"]


@dataclasses.dataclass
class _PrintOptions:
    # Field order matters: get_printoptions() returns them in this order, like PyTorch.
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTS = _PrintOptions()

# (precision, threshold, edgeitems, linewidth) for each named profile.
_PROFILES: dict[str, tuple[int, float, int, int]] = {
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}

_FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})
_NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "bool": np.bool_,
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set print options the way ``torch.set_printoptions`` does.

    A profile is applied first and explicit arguments override it. As in PyTorch, ``sci_mode``
    is always assigned, so omitting it resets it to automatic (``None``), and an unknown
    profile name is silently ignored.
    """
    if profile is not None and profile in _PROFILES:
        (_OPTS.precision, _OPTS.threshold, _OPTS.edgeitems, _OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        _OPTS.precision = precision
    if threshold is not None:
        _OPTS.threshold = threshold
    if edgeitems is not None:
        _OPTS.edgeitems = edgeitems
    if linewidth is not None:
        _OPTS.linewidth = linewidth
    _OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return the current print options as a dict usable as ``set_printoptions(**opts)``."""
    return dataclasses.asdict(_OPTS)


class _Formatter:
    """Decides one element width and notation for a whole tensor, from (a sample of) its values."""

    def __init__(self, values: np.ndarray, floating: bool) -> None:
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)

        if not floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(str(value)))
            return

        # Zeros and non-finite values take no part in choosing the notation or the width;
        # they are simply padded (or overflow) at format time, exactly like PyTorch.
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            # PyTorch returns before even consulting the sci_mode option here.
            return

        absvals = np.abs(vals)
        vmin = float(absvals.min())
        vmax = float(absvals.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))

        if _OPTS.sci_mode is None:
            self.sci_mode = vmax / vmin > 1000.0 or vmax > 1.0e8 or vmin < 1.0e-4
        else:
            self.sci_mode = bool(_OPTS.sci_mode)

        precision = _OPTS.precision
        items = vals.tolist()
        if self.sci_mode:
            widths = (len(f"{v:.{precision}e}") for v in items)
        elif self.int_mode:
            # The +1 reserves room for the trailing "." that marks a float.
            widths = (len(f"{v:.0f}") + 1 for v in items)
        else:
            widths = (len(f"{v:.{precision}f}") for v in items)
        self.max_width = max(self.max_width, max(widths))

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                ret = f"{value:{self.max_width}.{_OPTS.precision}e}"
            elif self.int_mode:
                ret = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    ret += "."
            else:
                ret = f"{value:.{_OPTS.precision}f}"
        else:
            ret = str(value)
        return " " * (self.max_width - len(ret)) + ret


def _summarized_data(arr: np.ndarray) -> np.ndarray:
    """Keep only the elements that a summarized print shows, so they alone size the columns."""
    edge = _OPTS.edgeitems
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        if arr.shape[0] > 2 * edge:
            # With edge == 0, arr[-0:] is the whole array: PyTorch has the same quirk.
            return np.concatenate((arr[:edge], arr[-edge:]))
        return arr
    if not edge:
        return np.empty((0,) * arr.ndim, dtype=arr.dtype)
    if arr.shape[0] > 2 * edge:
        rows = [arr[i] for i in range(edge)]
        rows += [arr[i] for i in range(arr.shape[0] - edge, arr.shape[0])]
    else:
        rows = list(arr)
    return np.stack([_summarized_data(row) for row in rows])


def _vector_str(arr: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    edge = _OPTS.edgeitems
    # Each element also takes a comma and a space.
    element_length = fmt.max_width + 2
    per_line = max(1, math.floor((_OPTS.linewidth - indent) / element_length))

    if summarize and not edge:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * edge:
        data = [fmt.format(v) for v in arr[:edge].tolist()]
        data.append(" ...")
        data += [fmt.format(v) for v in arr[-edge:].tolist()]
    else:
        data = [fmt.format(v) for v in arr.tolist()]

    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str_with_formatter(
    arr: np.ndarray, indent: int, summarize: bool, fmt: _Formatter
) -> str:
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector_str(arr, indent, summarize, fmt)

    edge = _OPTS.edgeitems
    n = arr.shape[0]
    if summarize and n > 2 * edge:
        slices = [
            _tensor_str_with_formatter(arr[i], indent + 1, summarize, fmt) for i in range(edge)
        ]
        slices.append("...")
        slices += [
            _tensor_str_with_formatter(arr[i], indent + 1, summarize, fmt)
            for i in range(n - edge, n)
        ]
    else:
        slices = [_tensor_str_with_formatter(arr[i], indent + 1, summarize, fmt) for i in range(n)]

    # Deeper tensors get one blank line per extra dimension between their blocks.
    separator = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(slices) + "]"


def _tensor_str(arr: np.ndarray, indent: int, floating: bool) -> str:
    if arr.size == 0:
        return "[]"
    summarize = arr.size > _OPTS.threshold
    fmt = _Formatter(_summarized_data(arr) if summarize else arr, floating)
    return _tensor_str_with_formatter(arr, indent, summarize, fmt)


def _add_suffixes(tensor_str: str, suffixes: list[str], indent: int) -> str:
    parts = [tensor_str]
    # PyTorch's estimate of the last line's length: two more than the true length for a one-line
    # string, one more otherwise. Reproduced as-is because it decides where suffixes wrap.
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(
    data: np.ndarray,
    dtype_name: str,
    *,
    requires_grad: bool = False,
    grad_fn_name: str | None = None,
    default_dtype_name: str = "float32",
) -> str:
    """Return what PyTorch prints for repr(t) / str(t) of a CPU tensor holding `data`.

    dtype_name is one of 'float32', 'float64', 'float16', 'int64', 'int32', 'int16', 'int8',
    'uint8', 'bool' (uint16/32/64 are accepted too).
    requires_grad=True means a leaf that requires grad (PyTorch prints requires_grad=True);
    grad_fn_name (e.g. 'AddBackward0') means a non-leaf: PyTorch prints grad_fn=<AddBackward0>.
    """
    if dtype_name not in _NUMPY_DTYPES:
        raise ValueError(f"format_tensor: unsupported dtype {dtype_name!r}")
    floating = dtype_name in _FLOAT_DTYPES
    # Round to the tensor's own dtype first (what the tensor really holds), then widen floats to
    # float64: PyTorch does all its magnitude tests and formatting on Python floats (doubles).
    arr = np.asarray(data).astype(_NUMPY_DTYPES[dtype_name], copy=False)
    if floating:
        arr = arr.astype(np.float64)

    prefix = "tensor("
    indent = len(prefix)
    dtype_suffix = "dtype=torch." + dtype_name
    suffixes: list[str] = []

    if arr.size == 0:
        # NumPy-style: the shape is shown unless it is plain (0,).
        if arr.ndim != 1:
            suffixes.append("size=" + str(tuple(arr.shape)))
        # No elements to hint at the dtype, so anything but the default float is spelled out.
        if dtype_name != default_dtype_name:
            suffixes.append(dtype_suffix)
        body = "[]"
    else:
        if not _OPTS.edgeitems:
            suffixes.append("size=" + str(tuple(arr.shape)))
        if dtype_name not in (default_dtype_name, "int64", "bool"):
            suffixes.append(dtype_suffix)
        body = _tensor_str(arr, indent, floating)

    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")

    return _add_suffixes(prefix + body, suffixes, indent)
