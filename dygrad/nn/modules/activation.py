"""Activation layers (`torch.nn.ReLU`, `GELU`, `Softmax`, ...): stateless modules over
`nn.functional`, with PyTorch's arguments and reprs."""

from __future__ import annotations

from ...tensor import Tensor
from ..functional import activation as F
from .module import Module

__all__ = [
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Tanh", "Sigmoid", "Softplus",
    "Hardtanh", "LogSigmoid", "Softmax", "LogSoftmax", "Softmin",
]  # fmt: skip


def _inplace(inplace: bool, sep: str = "") -> str:
    return f"{sep}inplace=True" if inplace else ""


class ReLU(Module):
    """max(x, 0), elementwise (`torch.nn.ReLU`).

    >>> import dygrad as torch
    >>> m = torch.nn.ReLU(); m, m(torch.tensor([-1.0, 2.0]))
    (ReLU(), tensor([0., 2.]))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class Hardtanh(Module):
    """x clamped to [min_val, max_val] (`torch.nn.Hardtanh`).

    >>> import dygrad as torch
    >>> m = torch.nn.Hardtanh(-0.5, 0.5); m, m(torch.tensor([-1.0, 0.25]))
    (Hardtanh(min_val=-0.5, max_val=0.5), tensor([-0.5000,  0.2500]))
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError()

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace, ', ')}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) (`torch.nn.ReLU6`).

    >>> import dygrad as torch
    >>> m = torch.nn.ReLU6(); m, m(torch.tensor([-1.0, 8.0]))
    (ReLU6(), tensor([0., 6.]))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise (`torch.nn.LeakyReLU`).

    >>> import dygrad as torch
    >>> m = torch.nn.LeakyReLU(); m, m(torch.tensor([-1.0, 2.0]))
    (LeakyReLU(negative_slope=0.01), tensor([-0.0100,  2.0000]))
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace, ', ')}"


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (`torch.nn.ELU`).

    >>> import dygrad as torch
    >>> m = torch.nn.ELU(); m, m(torch.tensor([-1.0, 2.0]))
    (ELU(alpha=1.0), tensor([-0.6321,  2.0000]))
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace, ', ')}"


class SELU(Module):
    """Scaled ELU with the self-normalizing constants (`torch.nn.SELU`).

    >>> import dygrad as torch
    >>> m = torch.nn.SELU(); m, m(torch.tensor([1.0]))
    (SELU(), tensor([1.0507]))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class GELU(Module):
    """x * Phi(x), exact or with `approximate='tanh'` (`torch.nn.GELU`).

    >>> import dygrad as torch
    >>> m = torch.nn.GELU(); m, m(torch.tensor([1.0]))
    (GELU(approximate='none'), tensor([0.8413]))
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (`torch.nn.SiLU`).

    >>> import dygrad as torch
    >>> m = torch.nn.SiLU(); m, m(torch.tensor([1.0]))
    (SiLU(), tensor([0.7311]))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class Tanh(Module):
    """Hyperbolic tangent (`torch.nn.Tanh`).

    >>> import dygrad as torch
    >>> m = torch.nn.Tanh(); m, m(torch.tensor([0.0]))
    (Tanh(), tensor([0.]))
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.tanh()


class Sigmoid(Module):
    """1 / (1 + exp(-x)) (`torch.nn.Sigmoid`).

    >>> import dygrad as torch
    >>> m = torch.nn.Sigmoid(); m, m(torch.tensor([0.0]))
    (Sigmoid(), tensor([0.5000]))
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.sigmoid()


class LogSigmoid(Module):
    """log(sigmoid(x)) without overflow (`torch.nn.LogSigmoid`).

    >>> import dygrad as torch
    >>> m = torch.nn.LogSigmoid(); m, m(torch.tensor([0.0]))
    (LogSigmoid(), tensor([-0.6931]))
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.logsigmoid(input)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear above `threshold` (`torch.nn.Softplus`).

    >>> import dygrad as torch
    >>> m = torch.nn.Softplus(); m, m(torch.tensor([0.0]))
    (Softplus(beta=1.0, threshold=20.0), tensor([0.6931]))
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim` (`torch.nn.Softmax`).

    >>> import dygrad as torch
    >>> m = torch.nn.Softmax(dim=1); m, m(torch.zeros(1, 2))
    (Softmax(dim=1), tensor([[0.5000, 0.5000]]))
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim` (`torch.nn.LogSoftmax`).

    >>> import dygrad as torch
    >>> m = torch.nn.LogSoftmax(dim=0); m, m(torch.zeros(2))
    (LogSoftmax(dim=0), tensor([-0.6931, -0.6931]))
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """softmax(-x) along `dim` (`torch.nn.Softmin`).

    >>> import dygrad as torch
    >>> m = torch.nn.Softmin(dim=0); m, m(torch.zeros(2))
    (Softmin(dim=0), tensor([0.5000, 0.5000]))
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
