"""Forward-mode AD (`torch.autograd.forward_ad`): dual levels, and dual tensors that carry a
tangent through every op by its declared jvp rule. Levels nest, each with its own tangents."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from ..ops.registry import stale_view_tangent
from ..ops.shape import alias
from ..tensor import Tensor
from .grad_mode import fw_open, state

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
           "UnpackedDualTensor"]  # fmt: skip

# Level ids are never reused, so a tangent left on a tensor from a closed level is never read.
_ids = itertools.count()


class UnpackedDualTensor(NamedTuple):
    """The primal and tangent of a dual tensor (`torch.autograd.forward_ad.UnpackedDualTensor`)."""

    primal: Tensor
    tangent: Tensor | None


def enter_dual_level() -> int:
    """Open a new (nested) dual level and return its index (`forward_ad.enter_dual_level`)."""
    state.fw_levels = (*state.fw_levels, next(_ids))
    fw_open[0] += 1
    return len(state.fw_levels) - 1


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the innermost dual level (`forward_ad.exit_dual_level`); its tangents are gone."""
    levels = state.fw_levels
    if not levels:
        raise RuntimeError("exit_dual_level(): no dual level is open")
    if level is not None and level != len(levels) - 1:
        raise RuntimeError(
            f"exit_dual_level(): trying to exit level {level}, but the innermost open level is "
            f"{len(levels) - 1}; levels close innermost first"
        )
    state.fw_levels = levels[:-1]
    fw_open[0] -= 1


@contextmanager
def dual_level() -> Iterator[int]:
    """A context in which dual tensors carry tangents (`torch.autograd.forward_ad.dual_level`).

    >>> import dygrad as torch
    >>> import dygrad.autograd.forward_ad as fwAD
    >>> x = torch.tensor([1., 2.])
    >>> with fwAD.dual_level():
    ...     y = fwAD.make_dual(x, torch.tensor([1., 0.])) ** 2
    ...     fwAD.unpack_dual(y).tangent
    tensor([2., 0.])
    """
    level = enter_dual_level()
    try:
        yield level
    finally:
        exit_dual_level(level=level)


def _level_id(level: int | None, what: str) -> int:
    levels = state.fw_levels
    if not levels:
        raise RuntimeError(
            f"Trying to {what} for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    if level is None:
        return levels[-1]
    if not 0 <= level < len(levels):
        raise RuntimeError(f"{what}: level {level} is not open (open levels: 0..{len(levels) - 1})")
    return levels[level]


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of `tensor` whose tangent at `level` (default: the innermost) is `tangent`
    (`torch.autograd.forward_ad.make_dual`)."""
    lvl = _level_id(level, "create a dual Tensor")
    for name, t in (("primal", tensor), ("tangent", tangent)):
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dual(): {name} must be a Tensor, got {type(t).__name__}")
        if t._data.dtype.kind not in "fc":
            raise ValueError(
                f"make_dual(): expected {name} to be floating point or complex, but got: {t.dtype}"
            )
    if tensor._data.shape != tangent._data.shape:
        raise RuntimeError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    if tangent._data.dtype != tensor._data.dtype:
        raise RuntimeError(
            f"make_dual(): the tangent's dtype ({tangent.dtype}) must match the primal's "
            f"({tensor.dtype})"
        )
    out = _without(tensor, lvl)
    out._fw = {**(out._fw or {}), lvl: tangent}
    out._dual_root = True
    return out


def _without(t: Tensor, lvl: int) -> Tensor:
    # An alias of t (a view, differentiable in reverse mode) carrying t's tangents at every open
    # level except `lvl`.
    levels = state.fw_levels
    state.fw_levels = tuple(x for x in levels if x != lvl)
    try:
        return alias(t)
    finally:
        state.fw_levels = levels


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """The primal (a view without the tangent) and the tangent at `level` of a dual tensor; the
    tangent is None if it has none (`torch.autograd.forward_ad.unpack_dual`)."""
    if not state.fw_levels:
        return UnpackedDualTensor(tensor, None)
    lvl = _level_id(level, "unpack a dual Tensor")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual(): expected a Tensor, got {type(tensor).__name__}")
    fw = tensor._fw
    tangent = fw.get(lvl) if fw is not None else None
    if tangent is not None and tensor._fw_view and stale_view_tangent(tensor):
        raise RuntimeError(
            "unpack_dual(): this view was taken before an in-place operation changed its base, so "
            "its tangent is stale (dygrad does not rebase views); take the view again."
        )
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    return UnpackedDualTensor(_without(tensor, lvl), tangent)
