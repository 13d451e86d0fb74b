"""Pooling layers: `MaxPool1d`, `MaxPool2d`, `AvgPool1d`, `AvgPool2d`, `AdaptiveAvgPool1d`,
`AdaptiveAvgPool2d`, with PyTorch's arguments and reprs."""

# ruff: noqa: A002 - PyTorch names the forward's argument `input`
from __future__ import annotations

from typing import Any

from ...tensor import Tensor
from ..functional import conv as F
from .module import Module

__all__ = [
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
]  # fmt: skip


class _Pool(Module):
    def _pool(self, fn: Any, input: Tensor, *args: Any) -> Any:
        try:
            return fn(input, *args)
        except RuntimeError as err:  # argument checks run before anything is computed
            raise RuntimeError(f"{self._get_name()}({self.extra_repr()}) got an input of shape "
                               f"{list(input.shape)}: {err}") from None  # fmt: skip


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")  # fmt: skip


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling layer over (N, C, L) or (C, L) input (`torch.nn.MaxPool1d`).

    >>> import dygrad as torch
    >>> pool = torch.nn.MaxPool1d(2)
    >>> pool
    MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(torch.tensor([[1.0, 5.0, 2.0, 3.0]]))
    tensor([[5., 3.]])
    """

    def forward(self, input: Tensor) -> Any:
        return self._pool(F.max_pool1d, input, self.kernel_size, self.stride, self.padding,
                          self.dilation, self.ceil_mode, self.return_indices)  # fmt: skip


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling layer over (N, C, H, W) or (C, H, W) input (`torch.nn.MaxPool2d`); with
    `return_indices`, it also returns the flat index of each maximum.

    >>> import dygrad as torch
    >>> pool = torch.nn.MaxPool2d(2, return_indices=True)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(torch.arange(16.0).reshape(1, 4, 4))
    (tensor([[[ 5.,  7.],
             [13., 15.]]]), tensor([[[ 5,  7],
             [13, 15]]]))
    """

    def forward(self, input: Tensor) -> Any:
        return self._pool(F.max_pool2d, input, self.kernel_size, self.stride, self.padding,
                          self.dilation, self.ceil_mode, self.return_indices)  # fmt: skip


class AvgPool1d(_Pool):
    """1-D average pooling layer over (N, C, L) or (C, L) input (`torch.nn.AvgPool1d`).

    >>> import dygrad as torch
    >>> pool = torch.nn.AvgPool1d(2)
    >>> pool
    AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))
    >>> pool(torch.tensor([[1.0, 5.0, 2.0, 3.0]]))
    tensor([[3.0000, 2.5000]])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return self._pool(F.avg_pool1d, input, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode, self.count_include_pad)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _single(v: Any) -> tuple[Any, ...]:
    return tuple(v) if isinstance(v, list | tuple) else (v,)


class AvgPool2d(_Pool):
    """2-D average pooling layer over (N, C, H, W) or (C, H, W) input (`torch.nn.AvgPool2d`).

    >>> import dygrad as torch
    >>> pool = torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
    >>> pool
    AvgPool2d(kernel_size=3, stride=2, padding=1)
    >>> pool(torch.ones(1, 5, 5)).shape
    torch.Size([1, 3, 3])
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return self._pool(F.avg_pool2d, input, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode, self.count_include_pad,
                          self.divisor_override)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(_Pool):
    """1-D average pooling to a fixed output length (`torch.nn.AdaptiveAvgPool1d`).

    >>> import dygrad as torch
    >>> torch.nn.AdaptiveAvgPool1d(2)(torch.tensor([[1.0, 3.0, 5.0, 7.0]]))
    tensor([[2., 6.]])
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return self._pool(F.adaptive_avg_pool1d, input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_Pool):
    """2-D average pooling to a fixed output size (`torch.nn.AdaptiveAvgPool2d`); None in
    `output_size` keeps that input size.

    >>> import dygrad as torch
    >>> pool = torch.nn.AdaptiveAvgPool2d((1, None))
    >>> pool
    AdaptiveAvgPool2d(output_size=(1, None))
    >>> pool(torch.ones(2, 3, 5, 7)).shape
    torch.Size([2, 3, 1, 7])
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return self._pool(F.adaptive_avg_pool2d, input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
