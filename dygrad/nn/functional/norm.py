"""nn.functional normalization (batch, layer, group), dropout and embedding lookup, in PyTorch's
`torch.nn.functional` signatures over the ops of `dygrad.ops.nnops`."""

from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops import nnops
from ...ops.nnops import layer_norm
from ...tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "dropout", "embedding"]


def batch_norm(
    input: Tensor,  # noqa: A002
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over all dims but dim 1 (`torch.nn.functional.batch_norm`). In
    training, normalizes with the batch statistics and updates the running ones in place
    (unbiased variance); otherwise uses the running statistics.

    >>> import dygrad as torch
    >>> rm, rv = torch.zeros(1), torch.ones(1)
    >>> torch.nn.functional.batch_norm(torch.tensor([[1.0], [3.0]]), rm, rv, training=True)
    tensor([[-1.0000],
            [ 1.0000]])
    >>> rm, rv
    (tensor([0.2000]), tensor([1.1000]))
    """
    return nnops.batch_norm(input, weight, bias, running_mean, running_var, training,
                            momentum, eps)  # fmt: skip


def group_norm(
    input: Tensor,  # noqa: A002
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each group of channels of each sample, then scale and shift per channel
    (`torch.nn.functional.group_norm`). Unlike `torch.group_norm`, it refuses groups of a single
    value, as PyTorch's does.

    >>> import dygrad as torch
    >>> torch.nn.functional.group_norm(torch.tensor([[1.0, 3.0, 5.0, 5.0]]), 2)
    tensor([[-1.0000,  1.0000,  0.0000,  0.0000]])
    """
    shape = tuple(input.shape)
    if len(shape) >= 2 and num_groups > 0:
        size = [shape[0] * shape[1] // num_groups, num_groups, *shape[2:]]
        per_group = size[0]
        for n in shape[2:]:
            per_group *= n
        if per_group == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {size}"
            )
    return nnops.group_norm(input, num_groups, weight, bias, eps)


def dropout(
    input: Tensor,  # noqa: A002
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
) -> Tensor:
    """Zero elements with probability `p` and scale the rest by 1 / (1 - p) while `training`
    (`torch.nn.functional.dropout`); draws from dygrad's generator (`dygrad.manual_seed`).

    >>> import dygrad as torch
    >>> torch.nn.functional.dropout(torch.ones(3), 0.5, training=False)
    tensor([1., 1., 1.])
    """
    if inplace:
        return nnops.dropout_(input, p, training)
    return nnops.dropout(input, p, training)


def embedding(
    input: Tensor,  # noqa: A002
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of `weight` looked up by the integer tensor `input` (`torch.nn.functional.embedding`).
    The row `padding_idx` gets no gradient; with `max_norm`, looked-up rows whose norm exceeds it
    are first rescaled in place.

    >>> import dygrad as torch
    >>> w = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    >>> torch.nn.functional.embedding(torch.tensor([[1, 0]]), w, padding_idx=0)
    tensor([[[1., 2.],
             [0., 0.]]])
    """
    if padding_idx is not None:
        rows = weight.shape[0]
        if padding_idx >= rows or padding_idx < -rows:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            padding_idx = rows + padding_idx
    else:
        padding_idx = -1
    if max_norm is not None:
        with no_grad():
            nnops.embedding_renorm_(weight, input, max_norm, norm_type)
    return nnops.embedding(weight, input, padding_idx, scale_grad_by_freq, sparse)
