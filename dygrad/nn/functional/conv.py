"""nn.functional: convolutions, max/average pooling, adaptive average pooling and `pad`, with
PyTorch's signatures, over the ops of dygrad.ops.conv."""

# ruff: noqa: A002 - PyTorch names the first argument `input`
from __future__ import annotations

from typing import Any

from ...ops import conv as _C
from ...tensor import Tensor

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "pad",
]  # fmt: skip


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """1-D convolution (`torch.nn.functional.conv1d`); `padding` may be 'valid' or 'same'.

    >>> import dygrad as torch
    >>> F = torch.nn.functional
    >>> F.conv1d(torch.ones(2, 4, 10), torch.ones(6, 2, 3), groups=2, padding="same").shape
    torch.Size([2, 6, 10])
    """
    return _C.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """2-D convolution over (N, C, H, W) or (C, H, W) input (`torch.nn.functional.conv2d`);
    `padding` is an int, a pair, 'valid' or 'same'.

    >>> import dygrad as torch
    >>> x = torch.ones(1, 1, 4, 4)
    >>> torch.nn.functional.conv2d(x, torch.ones(1, 1, 3, 3), padding=1)[0, 0]
    tensor([[4., 6., 6., 4.],
            [6., 9., 9., 6.],
            [6., 9., 9., 6.],
            [4., 6., 6., 4.]])
    """
    return _C.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """3-D convolution (`torch.nn.functional.conv3d`).

    >>> import dygrad as torch
    >>> torch.nn.functional.conv3d(torch.ones(1, 2, 3, 4, 5), torch.ones(1, 2, 1, 2, 3)).shape
    torch.Size([1, 1, 3, 3, 3])
    """
    return _C.conv3d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:  # fmt: skip
    """1-D transposed convolution (`torch.nn.functional.conv_transpose1d`).

    >>> import dygrad as torch
    >>> torch.nn.functional.conv_transpose1d(torch.ones(1, 1, 3), torch.ones(1, 1, 2))
    tensor([[[1., 2., 2., 1.]]])
    """
    return _C.conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups,
                               dilation)  # fmt: skip


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:  # fmt: skip
    """2-D transposed convolution, the gradient of conv2d with respect to its input
    (`torch.nn.functional.conv_transpose2d`); weight (C_in, C_out / groups, kH, kW).

    >>> import dygrad as torch
    >>> x, w = torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    >>> torch.nn.functional.conv_transpose2d(x, w, stride=2)[0, 0]
    tensor([[1., 1., 1., 1.],
            [1., 1., 1., 1.],
            [1., 1., 1., 1.],
            [1., 1., 1., 1.]])
    """
    return _C.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
                               dilation)  # fmt: skip


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:  # fmt: skip
    """3-D transposed convolution (`torch.nn.functional.conv_transpose3d`).

    >>> import dygrad as torch
    >>> x = torch.ones(1, 2, 2, 2, 2)
    >>> torch.nn.functional.conv_transpose3d(x, torch.ones(2, 1, 2, 2, 2), stride=2).shape
    torch.Size([1, 1, 4, 4, 4])
    """
    return _C.conv_transpose3d(input, weight, bias, stride, padding, output_padding, groups,
                               dilation)  # fmt: skip


def max_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # fmt: skip
    """1-D max pooling (`torch.nn.functional.max_pool1d`).

    >>> import dygrad as torch
    >>> torch.nn.functional.max_pool1d(torch.tensor([[[1.0, 4.0, 2.0, 3.0]]]), 2)
    tensor([[[4., 3.]]])
    """
    return _C.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None,
                            padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = True) -> tuple[Tensor, Tensor]:  # fmt: skip
    """1-D max pooling and the position of each maximum
    (`torch.nn.functional.max_pool1d_with_indices`).

    >>> import dygrad as torch
    >>> torch.nn.functional.max_pool1d_with_indices(torch.tensor([[1.0, 4.0, 2.0, 3.0]]), 2)[1]
    tensor([[1, 3]])
    """
    return _C.max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # fmt: skip
    """2-D max pooling over (N, C, H, W) or (C, H, W) input (`torch.nn.functional.max_pool2d`);
    with `return_indices`, also the flat (H * W) index of each maximum.

    >>> import dygrad as torch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> torch.nn.functional.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
    (tensor([[[[ 5.,  7.],
              [13., 15.]]]]), tensor([[[[ 5,  7],
              [13, 15]]]]))
    """
    return _C.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d_with_indices(input: Tensor, kernel_size: Any, stride: Any = None,
                            padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = True) -> tuple[Tensor, Tensor]:  # fmt: skip
    """2-D max pooling and the flat index of each maximum
    (`torch.nn.functional.max_pool2d_with_indices`).

    >>> import dygrad as torch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> torch.nn.functional.max_pool2d_with_indices(x, 2)[1]
    tensor([[[[ 5,  7],
              [13, 15]]]])
    """
    return _C.max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip
    """1-D average pooling (`torch.nn.functional.avg_pool1d`).

    >>> import dygrad as torch
    >>> torch.nn.functional.avg_pool1d(torch.tensor([[[1.0, 3.0, 2.0]]]), 2, padding=1,
    ...                                count_include_pad=False)
    tensor([[[1.0000, 2.5000]]])
    """
    return _C.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:  # fmt: skip
    """2-D average pooling over (N, C, H, W) or (C, H, W) input
    (`torch.nn.functional.avg_pool2d`).

    >>> import dygrad as torch
    >>> x = torch.ones(1, 1, 3, 3)
    >>> torch.nn.functional.avg_pool2d(x, 2, padding=1)
    tensor([[[[0.2500, 0.5000],
              [0.5000, 1.0000]]]])
    """
    return _C.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)  # fmt: skip


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """1-D average pooling to a given length (`torch.nn.functional.adaptive_avg_pool1d`).

    >>> import dygrad as torch
    >>> torch.nn.functional.adaptive_avg_pool1d(torch.arange(6.0).reshape(1, 6), 3)
    tensor([[0.5000, 2.5000, 4.5000]])
    """
    return _C.adaptive_avg_pool1d(input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """2-D average pooling to a given size (`torch.nn.functional.adaptive_avg_pool2d`); None
    in `output_size` keeps that dimension's size.

    >>> import dygrad as torch
    >>> x = torch.ones(2, 8, 7, 7)
    >>> torch.nn.functional.adaptive_avg_pool2d(x, (3, None)).shape
    torch.Size([2, 8, 3, 7])
    """
    return _C.adaptive_avg_pool2d(input, output_size)


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) / 2 dims, last dim first (`torch.nn.functional.pad`): with a
    constant (negative pads crop), or by "reflect", "replicate" or "circular" border values.

    >>> import dygrad as torch
    >>> torch.nn.functional.pad(torch.ones(1, 2), (1, 2), value=-1.0)
    tensor([[-1.,  1.,  1., -1., -1.]])
    >>> torch.nn.functional.pad(torch.tensor([[[1.0, 2.0]]]), (0, 2), mode="replicate")
    tensor([[[1., 2., 2., 2.]]])
    """
    return _C.pad(input, pad, mode, value)
