"""Flatten parameters into one vector and back (`torch.nn.utils.convert_parameters`)."""

from __future__ import annotations

from collections.abc import Iterable

from ...functions import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector, differentiably
    (`torch.nn.utils.parameters_to_vector`).

    >>> import dygrad as torch
    >>> torch.nn.utils.parameters_to_vector(torch.nn.Linear(3, 2).parameters()).shape
    torch.Size([8])
    """
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Set each parameter's data to the next slice of `vec`, as views of it
    (`torch.nn.utils.vector_to_parameters`).

    >>> import dygrad as torch
    >>> m = torch.nn.Linear(2, 1)
    >>> torch.nn.utils.vector_to_parameters(torch.arange(3.0), m.parameters()); m.bias
    Parameter containing:
    tensor([2.], requires_grad=True)
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    # Checked first: a short vector would otherwise fail part-way, with some parameters changed.
    if vec.numel() != total:
        raise ValueError(
            f"vector_to_parameters: vec has {vec.numel()} elements but the parameters have "
            f"{total} in all"
        )
    pointer = 0
    for param in params:
        n = param.numel()
        param.data = vec[pointer : pointer + n].view_as(param).data
        pointer += n
