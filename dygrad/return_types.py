"""Named result tuples of ops that return several tensors (`torch.return_types`)."""

from __future__ import annotations

from typing import Any, NamedTuple


class _ValuesIndices(NamedTuple):
    values: Any
    indices: Any


class max(_ValuesIndices):  # noqa: N801, A001 - PyTorch's name
    __slots__ = ()

    def __repr__(self) -> str:
        return f"torch.return_types.max(\nvalues={self.values!r},\nindices={self.indices!r})"


class min(_ValuesIndices):  # noqa: N801, A001
    __slots__ = ()

    def __repr__(self) -> str:
        return f"torch.return_types.min(\nvalues={self.values!r},\nindices={self.indices!r})"


def max_min(which: str, values: Any, indices: Any) -> Any:
    return (max if which == "max" else min)(values, indices)
