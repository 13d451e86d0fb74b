"""nn.functional activations (PyTorch's `torch.nn.functional` names): ReLU family, ELU/SELU,
GELU, SiLU, softplus, sigmoid/tanh, and softmax/log_softmax/softmin along a dim."""

from __future__ import annotations

import warnings
from typing import Any

from ...ops.nnops import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    logsigmoid,
    relu6,
    selu,
    silu,
    softplus,
)
from ...tensor import Tensor

__all__ = [
    "relu", "relu_", "relu6", "elu", "elu_", "selu", "leaky_relu", "leaky_relu_", "gelu", "silu",
    "softplus", "hardtanh", "hardtanh_", "logsigmoid", "sigmoid", "tanh", "softmax",
    "log_softmax", "softmin",
]  # fmt: skip


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0) (`torch.nn.functional.relu`); `inplace=True` overwrites `input`.

    >>> import dygrad as torch
    >>> torch.nn.functional.relu(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return input.relu_() if inplace else input.relu()


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    """In-place `relu` (`torch.nn.functional.relu_`).

    >>> import dygrad as torch
    >>> torch.nn.functional.relu_(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return input.relu_()


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """In-place `elu` (`torch.nn.functional.elu_`).

    >>> import dygrad as torch
    >>> torch.nn.functional.elu_(torch.tensor([0.0, 2.0]))
    tensor([0., 2.])
    """
    return elu(input, alpha, True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """In-place `leaky_relu` (`torch.nn.functional.leaky_relu_`).

    >>> import dygrad as torch
    >>> torch.nn.functional.leaky_relu_(torch.tensor([-1.0, 2.0]), 0.5)
    tensor([-0.5000,  2.0000])
    """
    return leaky_relu(input, negative_slope, True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """In-place `hardtanh` (`torch.nn.functional.hardtanh_`).

    >>> import dygrad as torch
    >>> torch.nn.functional.hardtanh_(torch.tensor([-2.0, 0.5]))
    tensor([-1.0000,  0.5000])
    """
    return hardtanh(input, min_val, max_val, True)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x)) (`torch.nn.functional.sigmoid`).

    >>> import dygrad as torch
    >>> torch.nn.functional.sigmoid(torch.tensor([0.0]))
    tensor([0.5000])
    """
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Hyperbolic tangent (`torch.nn.functional.tanh`).

    >>> import dygrad as torch
    >>> torch.nn.functional.tanh(torch.tensor([0.0]))
    tensor([0.])
    """
    return input.tanh()


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    # PyTorch's legacy implicit dim, with its warning.
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably (`torch.nn.functional.softmax`).

    >>> import dygrad as torch
    >>> torch.nn.functional.softmax(torch.tensor([[0.0, 0.6931472]]), dim=1)
    tensor([[0.3333, 0.6667]])
    """
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return input.softmax(dim, dtype=dtype)


def log_softmax(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
) -> Tensor:
    """log(softmax(x)) along `dim`, computed stably (`torch.nn.functional.log_softmax`).

    >>> import dygrad as torch
    >>> torch.nn.functional.log_softmax(torch.tensor([0.0, 0.0]), dim=0)
    tensor([-0.6931, -0.6931])
    """
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


def softmin(
    input: Tensor,  # noqa: A002
    dim: int | None = None,
    _stacklevel: int = 3,
    dtype: Any = None,
) -> Tensor:
    """softmax(-x) along `dim` (`torch.nn.functional.softmin`).

    >>> import dygrad as torch
    >>> torch.nn.functional.softmin(torch.tensor([0.0, 0.6931472]), dim=0)
    tensor([0.6667, 0.3333])
    """
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    return (-input).softmax(dim, dtype=dtype)
