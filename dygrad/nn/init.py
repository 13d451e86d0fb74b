"""`nn.init`: in-place parameter initialization (PyTorch's `torch.nn.init`), drawing from
dygrad's random generator (`dygrad.manual_seed`)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..creation import empty
from ..creation import tensor as _tensor
from ..dtypes import float64
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_",
]  # fmt: skip


def _check_generator(generator: Any) -> None:
    if generator is not None:
        raise NotImplementedError(
            "dygrad's nn.init draws from the global generator; seed it with dygrad.manual_seed "
            "instead of passing generator="
        )


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    # Write `values` into `t` in place, without recording (values are cast to t's dtype).
    with no_grad():
        t.copy_(_tensor(values))
    return t


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (`torch.nn.init.calculate_gain`).

    >>> round(calculate_gain("relu"), 4), calculate_gain("tanh"), calculate_gain("conv2d")
    (1.4142, 1.6666666666666667, 1)
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]  # fmt: skip
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: input and output features times the receptive field
    (PyTorch's `torch.nn.init._calculate_fan_in_and_fan_out`).

    >>> import dygrad as torch
    >>> _calculate_fan_in_and_fan_out(torch.empty(8, 3, 5, 5))
    (75, 200)
    """
    if t.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    num_input_fmaps = t.size(1)
    num_output_fmaps = t.size(0)
    receptive_field_size = 1
    for s in t.shape[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def _calculate_correct_fan(t: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill `tensor` in place with draws from U(a, b) (`torch.nn.init.uniform_`).

    >>> import dygrad as torch
    >>> w = uniform_(torch.empty(1000), -2.0, 3.0)
    >>> bool(w.min() >= -2) and bool(w.max() < 3)
    True
    """
    _check_generator(generator)
    with no_grad():
        return tensor.uniform_(a, b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill `tensor` in place with draws from N(mean, std^2) (`torch.nn.init.normal_`).

    >>> import dygrad as torch
    >>> w = normal_(torch.empty(10000), 5.0, 0.1)
    >>> round(w.mean().item())
    5
    """
    _check_generator(generator)
    with no_grad():
        return tensor.normal_(mean, std)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    """Fill `tensor` in place with draws from N(mean, std^2) truncated to [a, b]
    (`torch.nn.init.trunc_normal_`).

    >>> import dygrad as torch
    >>> w = trunc_normal_(torch.empty(1000), std=1.0, a=-0.5, b=0.5)
    >>> bool(w.abs().max() <= 0.5)
    True
    """
    _check_generator(generator)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)  # fmt: skip
    n = tensor.numel()
    out = np.empty(n, dtype=np.float64)
    todo = np.arange(n)
    # Rejection sampling, one vectorized round per pass; what the tails still refuse after many
    # rounds is clamped (PyTorch clamps too).
    for _ in range(64):
        if todo.size == 0:
            break
        draw = empty(todo.size, dtype=float64).normal_(mean, std).numpy()
        ok = (draw >= a) & (draw <= b)
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    if todo.size:
        out[todo] = np.clip(empty(todo.size, dtype=float64).normal_(mean, std).numpy(), a, b)
    return _fill(tensor, out.reshape(tuple(tensor.shape)))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill `tensor` in place with `val` (`torch.nn.init.constant_`).

    >>> import dygrad as torch
    >>> constant_(torch.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill `tensor` in place with ones (`torch.nn.init.ones_`).

    >>> import dygrad as torch
    >>> ones_(torch.empty(2))
    tensor([1., 1.])
    """
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill `tensor` in place with zeros (`torch.nn.init.zeros_`).

    >>> import dygrad as torch
    >>> zeros_(torch.ones(2))
    tensor([0., 0.])
    """
    with no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D `tensor` in place with the identity matrix (`torch.nn.init.eye_`).

    >>> import dygrad as torch
    >>> eye_(torch.empty(2, 3))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta, preserving the identity of
    the inputs (`torch.nn.init.dirac_`).

    >>> import dygrad as torch
    >>> dirac_(torch.empty(1, 1, 3))
    tensor([[[0., 1., 0.]]])
    """
    dimensions = tensor.ndimension()
    if dimensions not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    w = np.zeros(sizes)
    d = np.arange(min_dim)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):  # a loop over groups, not elements
        w[(g * out_chans_per_grp + d, d, *centre)] = 1
    return _fill(tensor, w)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))
    (`torch.nn.init.xavier_uniform_`).

    >>> import dygrad as torch
    >>> bool(xavier_uniform_(torch.empty(30, 20)).abs().max() <= (6 / 50) ** 0.5)
    True
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))
    (`torch.nn.init.xavier_normal_`).

    >>> import dygrad as torch
    >>> xavier_normal_(torch.empty(3, 2)).shape
    torch.Size([3, 2])
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan)
    (`torch.nn.init.kaiming_uniform_`).

    >>> import dygrad as torch
    >>> w = kaiming_uniform_(torch.empty(50, 8), nonlinearity="relu")
    >>> bool(w.abs().max() <= (6 / 8) ** 0.5)
    True
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan) (`torch.nn.init.kaiming_normal_`).

    >>> import dygrad as torch
    >>> kaiming_normal_(torch.empty(4, 3), mode="fan_out").shape
    torch.Size([4, 3])
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    """Fill `tensor` with a (semi-)orthogonal matrix from the QR decomposition of a Gaussian
    matrix, dimensions past the first flattened (`torch.nn.init.orthogonal_`).

    >>> import dygrad as torch
    >>> q = orthogonal_(torch.empty(3, 5))
    >>> bool(((q @ q.T) - torch.eye(3)).abs().max() < 1e-5)
    True
    """
    _check_generator(generator)
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    flat = empty(rows, cols, dtype=float64).normal_(0.0, 1.0).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # makes the decomposition unique (uniform over rotations)
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tuple(tensor.shape)))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """Fill a 2-D `tensor` with N(0, std^2) draws, zeroing a `sparsity` fraction of each column
    (`torch.nn.init.sparse_`).

    >>> import dygrad as torch
    >>> int((sparse_(torch.empty(10, 3), 0.3) == 0).sum())
    9
    """
    _check_generator(generator)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    w = empty(rows, cols, dtype=float64).normal_(0.0, std).numpy().copy()
    # A random permutation of the rows per column, vectorized by sorting random keys.
    keys = empty(rows, cols, dtype=float64).uniform_(0.0, 1.0).numpy()
    zero_rows = np.argsort(keys, axis=0)[:num_zeros]
    w[zero_rows, np.arange(cols)] = 0
    return _fill(tensor, w)
