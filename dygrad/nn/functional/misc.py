"""nn.functional: `linear` and `bilinear`, built from matrix products and broadcasting."""

from __future__ import annotations

from ...dtypes import pt_name
from ...functions import addmm
from ...tensor import Tensor, matmul

__all__ = ["linear", "bilinear"]


def _same_dtype(x: Tensor, w: Tensor) -> None:
    if x.dtype != w.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {pt_name(x.dtype)} "
                           f"and {pt_name(w.dtype)}")  # fmt: skip


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """y = input @ weight.T + bias, over any leading dimensions (`torch.nn.functional.linear`).

    >>> import dygrad as torch
    >>> x, w = torch.ones(2, 3, requires_grad=True), torch.ones(4, 3)
    >>> y = torch.nn.functional.linear(x, w, torch.zeros(4)); y.shape, y.grad_fn.name()
    (torch.Size([2, 4]), 'AddmmBackward0')
    """
    if weight.ndim not in (1, 2):
        raise RuntimeError(f"linear(): weight must be 1-D or 2-D, got {weight.ndim}-D")
    if input.ndim == 0:
        raise RuntimeError("linear(): input must be at least 1-D, got a 0-D tensor")
    _same_dtype(input, weight)
    if bias is not None and bias.dtype != weight.dtype:
        raise RuntimeError(f"self and mat2 must have the same dtype, but got {pt_name(bias.dtype)} "
                           f"and {pt_name(weight.dtype)}")  # fmt: skip
    k = weight.shape[-1]
    if input.shape[-1] != k:
        rows = input.numel() // max(input.shape[-1], 1) if input.ndim > 1 else 1
        out_f = weight.shape[0] if weight.ndim == 2 else 1
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} "
                           f"and {k}x{out_f})")  # fmt: skip
    wt = weight.t()
    if bias is None or weight.ndim == 1:
        out = matmul(input, wt)
        return out if bias is None else out + bias
    # As PyTorch records it: one fused AddmmBackward0 over 2-D rows (viewed back for N-D input).
    if input.ndim == 2:
        return addmm(bias, input, wt)
    if input.ndim == 1:
        return addmm(bias, input.unsqueeze(0), wt).view(weight.shape[0])
    rows = input.reshape(-1, k)
    return addmm(bias, rows, wt).view(*input.shape[:-1], weight.shape[0])


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]
    (`torch.nn.functional.bilinear`).

    >>> import dygrad as torch
    >>> torch.nn.functional.bilinear(torch.ones(5, 2), torch.ones(5, 3), torch.ones(4, 2, 3)).shape
    torch.Size([5, 4])
    """
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and "
                           f"{input2.ndim}")  # fmt: skip
    for i in range(input1.ndim - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got "
                               f"{input1.shape[i]} and {input2.shape[i]}")  # fmt: skip
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-D, got {weight.ndim}-D")
    o, n1, n2 = weight.shape
    if input1.shape[-1] != n1:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got "
                           f"{input1.shape[-1]} but expected {n1}")  # fmt: skip
    if input2.shape[-1] != n2:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got "
                           f"{input2.shape[-1]} but expected {n2}")  # fmt: skip
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != o):
        got = bias.shape[-1] if bias.ndim else 0
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {got} but "
                           f"expected {o}")  # fmt: skip
    _same_dtype(input1, weight)
    _same_dtype(input2, weight)
    # u[..., o, j] = sum_i x1[..., i] w[o, i, j]: one matrix product against w laid out (i, o*j).
    w2 = weight.permute(1, 0, 2).reshape(n1, o * n2)
    u = matmul(input1, w2).reshape(*input1.shape[:-1], o, n2)
    out = (u * input2.unsqueeze(-2)).sum(-1)
    if bias is not None:
        out = out + bias
    return out
