"""`nn.Dropout`: zeroes elements at random while the module is training."""

from __future__ import annotations

from ...tensor import Tensor
from ..functional import norm as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability `p` and scale the rest by 1 / (1 - p) in training
    mode; the identity in eval mode (`torch.nn.Dropout`). Draws from dygrad's generator.

    >>> import dygrad as torch
    >>> m = torch.nn.Dropout(0.2); m
    Dropout(p=0.2, inplace=False)
    >>> m.eval()(torch.ones(3))
    tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
