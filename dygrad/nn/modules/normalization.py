"""Normalization layers: `BatchNorm1d/2d/3d` (running statistics, momentum, eval mode),
`LayerNorm` and `GroupNorm`, with PyTorch's arguments, initialization, buffers and reprs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...creation import empty, ones, zeros
from ...dtypes import int64
from ...tensor import Tensor, tensor
from .. import init
from ..functional import norm as F
from ..parameter import Parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm"]


def _affine(m: Module, shape: Any, affine: bool, bias: bool, device: Any, dtype: Any) -> None:
    # weight (and bias unless bias=False) when affine, else None slots, as PyTorch registers them.
    if affine:
        m.weight = Parameter(empty(shape, device=device, dtype=dtype))
        if bias:
            m.bias = Parameter(empty(shape, device=device, dtype=dtype))
        else:
            m.register_parameter("bias", None)
    else:
        m.register_parameter("weight", None)
        m.register_parameter("bias", None)


def _reset_affine(m: Module) -> None:
    if m.weight is not None:
        init.ones_(m.weight)
    if m.bias is not None:
        init.zeros_(m.bias)


class _BatchNorm(Module):
    # PyTorch's _NormBase + _BatchNorm; version 2 added num_batches_tracked.
    _version = 2
    _dims: tuple[int, ...] = ()
    _expect = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine(self, num_features, affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Zero the running mean and batch count, and set the running variance to one
        (`_BatchNorm.reset_running_stats`).

        >>> import dygrad as torch
        >>> bn = torch.nn.BatchNorm1d(2); _ = bn(torch.randn(4, 2)); bn.reset_running_stats()
        >>> bn.running_var, bn.num_batches_tracked
        (tensor([1., 1.]), tensor(0))
        """
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, weight to ones and bias to zeros
        (`_BatchNorm.reset_parameters`).

        >>> import dygrad as torch
        >>> bn = torch.nn.BatchNorm1d(2); bn.reset_parameters(); bn.weight.tolist()
        [1.0, 1.0]
        """
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002
        if input.dim() not in self._dims:
            raise ValueError(f"expected {self._expect} input (got {input.dim()}D input)")

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(
        self,
        state_dict: Any,
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # State dicts from before version 2 have no num_batches_tracked: PyTorch fills in 0.
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = (
                    self.num_batches_tracked
                    if self.num_batches_tracked is not None
                    else tensor(0, dtype=int64)
                )
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        count = self.training and self.track_running_stats and self.num_batches_tracked is not None
        if count and self.momentum is None:  # a cumulative moving average
            factor = 1.0 / (float(self.num_batches_tracked) + 1)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_stats = not self.training or self.track_running_stats
        out = F.batch_norm(
            input,
            self.running_mean if use_stats else None,
            self.running_var if use_stats else None,
            self.weight,
            self.bias,
            bn_training,
            factor,
            self.eps,
        )
        # Counted once the batch is accepted: a rejected input leaves every buffer unchanged.
        if count:
            self.num_batches_tracked.add_(1)
        return out


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over N (and L) per channel
    (`torch.nn.BatchNorm1d`). Training mode normalizes with the batch statistics and updates
    `running_mean`/`running_var` (unbiased) by `momentum`, or by a cumulative average when
    `momentum=None`; eval mode normalizes with the running statistics.

    >>> import dygrad as torch
    >>> bn = torch.nn.BatchNorm1d(2); bn
    BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> bn(torch.tensor([[1.0, 2.0], [3.0, 2.0]]))
    tensor([[-1.0000,  0.0000],
            [ 1.0000,  0.0000]], grad_fn=<NativeBatchNormBackward0>)
    >>> bn.running_mean, bn.running_var, bn.num_batches_tracked
    (tensor([0.2000, 0.2000]), tensor([1.1000, 0.9000]), tensor(1))
    """

    _dims = (2, 3)
    _expect = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H and W per channel
    (`torch.nn.BatchNorm2d`); running statistics as in `BatchNorm1d`.

    >>> import dygrad as torch
    >>> bn = torch.nn.BatchNorm2d(3); bn
    BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    _dims = (4,)
    _expect = "4D"


class BatchNorm3d(_BatchNorm):
    """Batch normalization of (N, C, D, H, W) inputs per channel (`torch.nn.BatchNorm3d`).

    >>> import dygrad as torch
    >>> torch.nn.BatchNorm3d(2, affine=False)(torch.randn(2, 2, 1, 2, 2)).shape
    torch.Size([2, 2, 1, 2, 2])
    """

    _dims = (5,)
    _expect = "5D"


class LayerNorm(Module):
    """Normalize over the trailing `normalized_shape` dims, then scale by `weight` and shift by
    `bias` elementwise (`torch.nn.LayerNorm`); weight starts at ones, bias at zeros.

    >>> import dygrad as torch
    >>> ln = torch.nn.LayerNorm(4); ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> ln(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).detach()
    tensor([[-1.3416, -0.4472,  0.4472,  1.3416]])
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros (`LayerNorm.reset_parameters`).

        >>> import dygrad as torch
        >>> ln = torch.nn.LayerNorm(2); ln.reset_parameters(); ln.bias.tolist()
        [0.0, 0.0]
        """
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Normalize each of `num_groups` groups of channels per sample, then scale and shift per
    channel (`torch.nn.GroupNorm`); weight starts at ones, bias at zeros.

    >>> import dygrad as torch
    >>> gn = torch.nn.GroupNorm(2, 4); gn
    GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
    >>> gn(torch.tensor([[1.0, 3.0, 5.0, 5.0]])).detach()
    tensor([[-1.0000,  1.0000,  0.0000,  0.0000]])
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine(self, num_channels, affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros (`GroupNorm.reset_parameters`).

        >>> import dygrad as torch
        >>> gn = torch.nn.GroupNorm(1, 2); gn.reset_parameters(); gn.weight.tolist()
        [1.0, 1.0]
        """
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )
