"""Linear layers: `Identity`, `Linear`, `Bilinear`, and the shape layers `Flatten` and
`Unflatten`, with PyTorch's arguments, default initialization and reprs."""

from __future__ import annotations

import math
import operator
from typing import Any

from ...creation import empty
from ...tensor import Size, Tensor
from .. import init
from ..functional.misc import bilinear, linear
from ..parameter import Parameter
from .module import Module

__all__ = ["Identity", "Linear", "Bilinear", "Flatten", "Unflatten"]


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored
    (`torch.nn.Identity`).

    >>> import dygrad as torch
    >>> torch.nn.Identity(54, unused="x")(torch.ones(2))
    tensor([1., 1.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - PyTorch's name
        return input


def _check_features(owner: str, **sizes: Any) -> None:
    # Before any parameter is made: the error names the argument, not an internal `empty` call.
    for name, n in sizes.items():
        try:
            n = operator.index(n)  # ints, NumPy ints
        except TypeError:
            raise TypeError(f"{owner}: {name} must be a non-negative integer, got {n!r}") from None
        if n < 0:
            raise ValueError(f"{owner}: {name} must be a non-negative integer, got {n}")


class Linear(Module):
    """y = x @ weight.T + bias (`torch.nn.Linear`). weight has shape (out_features,
    in_features); both are initialized from U(-1/sqrt(in_features), 1/sqrt(in_features)), as
    PyTorch does (kaiming_uniform_ with a=sqrt(5)).

    >>> import dygrad as torch
    >>> fc = torch.nn.Linear(3, 2)
    >>> fc
    Linear(in_features=3, out_features=2, bias=True)
    >>> fc(torch.ones(5, 3)).shape, fc.weight.shape
    (torch.Size([5, 2]), torch.Size([2, 3]))
    """

    in_features: int
    out_features: int
    weight: Parameter

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        _check_features("Linear", in_features=in_features, out_features=out_features)
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty((out_features, in_features), device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with PyTorch's default scheme (`Linear.reset_parameters`).

        >>> import dygrad as torch
        >>> fc = torch.nn.Linear(4, 2); fc.reset_parameters(); bool(fc.bias.abs().max() <= 0.5)
        True
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if not isinstance(input, Tensor):
            raise TypeError(
                f"linear(): argument 'input' (position 1) must be Tensor, not "
                f"{type(input).__name__}"
            )
        if input.ndim == 0:
            raise RuntimeError(
                f"{self._get_name()}({self.extra_repr()}) got a 0-d input: both arguments to "
                "linear need to be at least 1D, but they are 0D and 2D"
            )
        if input.shape[-1] != self.in_features:
            shape = list(input.shape)
            raise RuntimeError(
                f"{self._get_name()}({self.extra_repr()}) expects an input whose last dimension "
                f"is {self.in_features}, got input of shape {shape} (weight of shape "
                f"{list(self.weight.shape)}): mat1 and mat2 shapes cannot be multiplied "
                f"({math.prod(shape[:-1])}x{shape[-1] if shape else 0} and "
                f"{self.in_features}x{self.out_features})"
            )
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")  # fmt: skip


class Bilinear(Module):
    """y = x1^T A x2 + b (`torch.nn.Bilinear`); weight has shape (out_features, in1_features,
    in2_features), initialized from U(-1/sqrt(in1_features), 1/sqrt(in1_features)).

    >>> import dygrad as torch
    >>> m = torch.nn.Bilinear(2, 3, 4)
    >>> m
    Bilinear(in1_features=2, in2_features=3, out_features=4, bias=True)
    >>> m(torch.ones(5, 2), torch.ones(5, 3)).shape
    torch.Size([5, 4])
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        _check_features("Bilinear", in1_features=in1_features, in2_features=in2_features,
                        out_features=out_features)  # fmt: skip
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(
            empty((out_features, in1_features, in2_features), device=device, dtype=dtype)
        )
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with PyTorch's default scheme (`Bilinear.reset_parameters`).

        >>> import dygrad as torch
        >>> m = torch.nn.Bilinear(4, 1, 2); m.reset_parameters(); bool(m.weight.abs().max() <= 0.5)
        True
        """
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")  # fmt: skip


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim into one (`torch.nn.Flatten`).

    >>> import dygrad as torch
    >>> torch.nn.Flatten()(torch.ones(2, 3, 4)).shape
    torch.Size([2, 12])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dimension `dim` into the shape `unflattened_size` (`torch.nn.Unflatten`).

    >>> import dygrad as torch
    >>> m = torch.nn.Unflatten(1, (2, 5))
    >>> m, m(torch.ones(3, 10)).shape
    (Unflatten(dim=1, unflattened_size=(2, 5)), torch.Size([3, 2, 5]))
    """

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        if isinstance(dim, int):
            self._require_tuple_int(unflattened_size)
        else:
            raise TypeError("invalid argument type for dim parameter")
        self.dim = dim
        self.unflattened_size = unflattened_size

    @staticmethod
    def _require_tuple_int(value: Any) -> None:
        if isinstance(value, tuple | list | Size):
            for idx, elem in enumerate(value):
                if not isinstance(elem, int):
                    raise TypeError("unflattened_size must be tuple of ints, but found element "
                                    f"of type {type(elem).__name__} at pos {idx}")  # fmt: skip
            return
        raise TypeError(
            f"unflattened_size must be a tuple of ints, but found type {type(value).__name__}"
        )

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
