"""Argument checks shared by the viz functions, so that a wrong argument fails up front with a
message naming it, before any graph is walked or any file written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..tensor import Tensor


def named_tensors(arg: str, value: Any, hint: str = "") -> dict[str, Tensor]:
    """`value` (a dict, or pairs such as `model.named_parameters()`) as a dict name -> Tensor."""
    if value is None:
        return {}
    err = TypeError(f"{arg} must be a dict of name -> Tensor{hint}, got {type(value).__name__}")
    if isinstance(value, Tensor | str | bytes):
        raise err
    try:
        items = dict(value) if not isinstance(value, Mapping) else dict(value.items())
    except (TypeError, ValueError):
        raise err from None
    for k, v in items.items():
        if not isinstance(k, str):
            raise err
        if not isinstance(v, Tensor):
            raise TypeError(f"{arg}[{k!r}] must be a Tensor, got {type(v).__name__}")
    return items


def check_file(file: Any) -> None:
    """A `file=` argument is None or has a `write` method."""
    if file is not None and not callable(getattr(file, "write", None)):
        raise TypeError(
            f"file must be a writable text stream (with a write method), got {type(file).__name__}"
        )


def check_depth(arg: str, value: Any) -> None:
    """A depth argument is None or a non-negative int."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise (ValueError if isinstance(value, int) else TypeError)(
            f"{arg} must be a non-negative integer or None, got {value!r}"
        )
