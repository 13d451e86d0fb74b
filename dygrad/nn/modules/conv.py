"""Convolution layers: `Conv1d`, `Conv2d`, `Conv3d`, `ConvTranspose1d`, `ConvTranspose2d`,
`ConvTranspose3d`, with PyTorch's arguments, default initialization and reprs."""

# ruff: noqa: A002 - PyTorch names the forward's argument `input`
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...creation import empty
from ...tensor import Tensor
from .. import init
from ..functional import conv as F
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_STRINGS = {"same", "valid"}
_PADDING_MODES = {"zeros", "reflect", "replicate", "circular"}


def _choices(options: set[str]) -> str:
    # Sorted, so that the message is the same in every run (a set's order is not).
    return "{" + ", ".join(repr(o) for o in sorted(options)) + "}"


def _ntuple(v: Any, n: int) -> tuple[Any, ...]:
    if isinstance(v, Sequence) and not isinstance(v, str):
        return tuple(v)
    return (v,) * n


class _ConvNd(Module):
    """What every convolution layer shares: arguments, parameters, initialization and repr
    (PyTorch's `_ConvNd`)."""

    _n = 2  # spatial dims

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, transposed: bool, output_padding: Any, groups: int,
                 bias: bool, padding_mode: str, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        n = self._n
        kernel_size, stride = _ntuple(kernel_size, n), _ntuple(stride, n)
        dilation, output_padding = _ntuple(dilation, n), _ntuple(output_padding, n)
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in _PADDING_STRINGS:
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 f"{_choices(_PADDING_STRINGS)}")  # fmt: skip
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _ntuple(padding, n)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_choices(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")  # fmt: skip
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad's argument for the non-zero padding modes: last dim first, (before, after).
        if isinstance(padding, str):
            rev = [0, 0] * n
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(n - 1, -1, -1)):
                    total = d * (k - 1)
                    rev[2 * i], rev[2 * i + 1] = total // 2, total - total // 2
            self._reversed_padding_repeated_twice = rev
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(padding) for _ in (0, 1)]
        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(empty(shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with PyTorch's default scheme: kaiming_uniform_(a=sqrt(5))
        for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _bad_input(self, input: Tensor, err: Exception) -> RuntimeError:
        # The layer, the input's shape and the weight's, then PyTorch's message.
        return RuntimeError(
            f"{self._get_name()}({self.extra_repr()}) got an input of shape {list(input.shape)} "
            f"(weight of shape {list(self.weight.shape)}): {err}"
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn: Any = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False,
                         0, groups, bias, padding_mode, device, dtype)  # fmt: skip

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        fn = type(self)._fn
        if self.padding_mode != "zeros":
            x = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return fn(x, weight, bias, self.stride, 0, self.dilation, self.groups)
        return fn(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        try:
            return self._conv_forward(input, self.weight, self.bias)
        except RuntimeError as err:  # argument checks run before anything is computed
            raise self._bad_input(input, err) from None


class Conv1d(_Conv):
    """1-D convolution layer over (N, C_in, L) or (C_in, L) input (`torch.nn.Conv1d`).

    >>> import dygrad as torch
    >>> conv = torch.nn.Conv1d(4, 6, 3, padding="same", groups=2)
    >>> conv
    Conv1d(4, 6, kernel_size=(3,), stride=(1,), padding=same, groups=2)
    >>> conv(torch.ones(5, 4, 10)).shape
    torch.Size([5, 6, 10])
    """

    _n = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """2-D convolution layer over (N, C_in, H, W) or (C_in, H, W) input (`torch.nn.Conv2d`);
    weight (out_channels, in_channels / groups, kH, kW), initialized as PyTorch does.

    >>> import dygrad as torch
    >>> conv = torch.nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1)
    >>> conv
    Conv2d(1, 3, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
    >>> conv(torch.ones(4, 1, 28, 28)).shape
    torch.Size([4, 3, 14, 14])
    """

    _n = 2
    _fn = staticmethod(F.conv2d)


class Conv3d(_Conv):
    """3-D convolution layer over (N, C_in, D, H, W) or (C_in, D, H, W) input
    (`torch.nn.Conv3d`).

    >>> import dygrad as torch
    >>> torch.nn.Conv3d(2, 4, (1, 3, 3), bias=False)
    Conv3d(2, 4, kernel_size=(1, 3, 3), stride=(1, 1, 1), bias=False)
    """

    _n = 3
    _fn = staticmethod(F.conv3d)


class _ConvTranspose(_ConvNd):
    _fn: Any = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True,
                         output_padding, groups, bias, padding_mode, device, dtype)  # fmt: skip

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        # The output_padding that gives the requested output size (PyTorch's rule).
        if output_size is None:
            return self.output_padding
        n = self._n
        non_spatial = 2 if input.ndim == n + 2 else 1
        size = list(output_size)
        if len(size) == non_spatial + n:
            size = size[non_spatial:]
        if len(size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have "
                             f"{n} or {non_spatial + n} elements (got {len(size)})")  # fmt: skip
        lo = [(input.shape[d + non_spatial] - 1) * self.stride[d] - 2 * self.padding[d]
              + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]  # fmt: skip
        hi = [lo[d] + self.stride[d] - 1 for d in range(n)]
        for d in range(n):
            if not lo[d] <= size[d] <= hi[d]:
                raise ValueError(f"requested an output size of {size}, but valid sizes range "
                                 f"from {lo} to {hi} (for an input of "
                                 f"{input.shape[non_spatial:]})")  # fmt: skip
        return tuple(size[d] - lo[d] for d in range(n))

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        try:
            return type(self)._fn(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)  # fmt: skip
        except RuntimeError as err:  # argument checks run before anything is computed
            raise self._bad_input(input, err) from None


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution layer (`torch.nn.ConvTranspose1d`).

    >>> import dygrad as torch
    >>> up = torch.nn.ConvTranspose1d(2, 1, 4, stride=2, padding=1)
    >>> up(torch.ones(3, 2, 5)).shape
    torch.Size([3, 1, 10])
    """

    _n = 1
    _fn = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution layer, the gradient of Conv2d with respect to its input
    (`torch.nn.ConvTranspose2d`); weight (in_channels, out_channels / groups, kH, kW).

    >>> import dygrad as torch
    >>> up = torch.nn.ConvTranspose2d(3, 1, 3, stride=2, padding=1, output_padding=1)
    >>> up
    ConvTranspose2d(3, 1, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))
    >>> up(torch.ones(4, 3, 14, 14)).shape
    torch.Size([4, 1, 28, 28])
    >>> up(torch.ones(4, 3, 14, 14), output_size=[27, 27]).shape
    torch.Size([4, 1, 27, 27])
    """

    _n = 2
    _fn = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution layer (`torch.nn.ConvTranspose3d`).

    >>> import dygrad as torch
    >>> torch.nn.ConvTranspose3d(2, 2, 2, stride=2)(torch.ones(1, 2, 2, 2, 2)).shape
    torch.Size([1, 2, 4, 4, 4])
    """

    _n = 3
    _fn = staticmethod(F.conv_transpose3d)
