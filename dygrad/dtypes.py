"""dygrad's dtypes (`dygrad.float32`, ...), PyTorch's type promotion, and the default dtype."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "dtype",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "bool_",
    "get_default_dtype",
    "set_default_dtype",
    "promote_types",
    "result_type",
    "to_dtype",
    "from_numpy_dtype",
]

# Category order used by PyTorch's promotion: bool < integer < floating.
_BOOL, _INT, _FLOAT = 0, 1, 2


class dtype:  # noqa: N801 - mirrors torch.dtype
    """A tensor element type, like `torch.dtype`. Compare with `is` or `==`."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_cat")

    def __init__(self, name: str, np_dtype: Any, cat: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = cat == _FLOAT
        self.is_signed = name != "uint8" and name != "bool"
        self.itemsize = self.np.itemsize
        self._cat = cat

    def __repr__(self) -> str:
        # Identical to PyTorch's spelling so that `import dygrad as torch` prints the same text.
        return "torch." + self.name

    def __reduce__(self) -> str:
        return self.name if self.name != "bool" else "bool_"

    @property
    def is_complex(self) -> bool:
        return False

    def to_real(self) -> dtype:
        return self


float16 = dtype("float16", np.float16, _FLOAT)
float32 = dtype("float32", np.float32, _FLOAT)
float64 = dtype("float64", np.float64, _FLOAT)
int8 = dtype("int8", np.int8, _INT)
int16 = dtype("int16", np.int16, _INT)
int32 = dtype("int32", np.int32, _INT)
int64 = dtype("int64", np.int64, _INT)
uint8 = dtype("uint8", np.uint8, _INT)
bool_ = dtype("bool", np.bool_, _BOOL)

ALL = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
# PyTorch's aliases.
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16, int=int32, long=int64)

_default = [float32]


def get_default_dtype() -> dtype:
    """The floating dtype used for Python floats and for `zeros()` etc. (`torch.get_default_dtype`).

    >>> get_default_dtype()
    torch.float32
    """
    return _default[0]


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype (`torch.set_default_dtype`); float32 or float64 only.

    >>> set_default_dtype(float64); get_default_dtype()
    torch.float64
    >>> set_default_dtype(float32)
    """
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default[0] = d


def from_numpy_dtype(np_dtype: Any) -> dtype:
    """The dygrad dtype for a NumPy dtype, with a clear error for unsupported ones."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types are: "
            "float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def to_dtype(d: Any) -> dtype:
    """Normalize a dtype given as dygrad dtype, name, NumPy dtype or Python type."""
    if type(d) is dtype:
        return d
    if isinstance(d, str):
        got = _BY_NAME.get(d.removeprefix("torch.").removeprefix("dygrad."))
        if got is None:
            raise TypeError(f"unknown dtype {d!r}")
        return got
    if d is float:
        return _default[0]
    if d is int:
        return int64
    if d is bool:
        return bool_
    return from_numpy_dtype(d)


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's `promote_types`: the smallest dtype both can be cast to safely.

    >>> promote_types(int32, float16)
    torch.float16
    """
    if a is b:
        return a
    if a._cat != b._cat:
        # Across categories PyTorch keeps the higher category's dtype as is (int32 + float16 is
        # float16), unlike NumPy, which widens to float64.
        return a if a._cat > b._cat else b
    return _BY_NP[np.promote_types(a.np, b.np)]


def _scalar_cat(x: Any) -> int:
    if isinstance(x, bool):
        return _BOOL
    if isinstance(x, int):
        return _INT
    return _FLOAT


def result_type(*operands: Any) -> dtype:
    """PyTorch's `result_type` over tensors (anything with `.dtype` and `.ndim`) and scalars.

    Dimensioned tensors outrank zero-dim tensors, which outrank Python scalars, unless the lower
    group is of a higher category (bool < int < float).
    """
    dim_dt = zero_dt = None
    scalar_cat = -1
    for x in operands:
        d = getattr(x, "dtype", None)
        if type(d) is dtype:
            if x.ndim:
                dim_dt = d if dim_dt is None else promote_types(dim_dt, d)
            else:
                zero_dt = d if zero_dt is None else promote_types(zero_dt, d)
        elif isinstance(x, np.ndarray | np.generic):
            d = from_numpy_dtype(x.dtype)
            dim_dt = d if dim_dt is None else promote_types(dim_dt, d)
        else:
            scalar_cat = max(scalar_cat, _scalar_cat(x))
    out = dim_dt
    if zero_dt is not None and (out is None or zero_dt._cat > out._cat):
        out = zero_dt
    if out is None:
        return (bool_, int64, _default[0])[scalar_cat]
    if scalar_cat > out._cat:
        return int64 if scalar_cat == _INT else _default[0]
    return out


_PT_NAMES = {
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "uint8": "Byte",
    "bool": "Bool",
}


def pt_name(d: dtype) -> str:
    """PyTorch's scalar-type name used in error messages ('Float', 'Long', ...)."""
    return _PT_NAMES[d.name]


def can_cast(src: Any, dst: Any) -> bool:
    """PyTorch's `can_cast` for in-place results: no float to integer, no number to bool."""
    s, d = to_dtype(src), to_dtype(dst)
    return s._cat <= d._cat
