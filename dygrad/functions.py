"""The `torch.xxx(input, ...)` function forms of tensor methods, and the functions that take
several tensors (`cat`, `stack`, ...)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .ops import linalg as L
from .ops import shape as S
from .ops.registry import apply
from .tensor import Tensor, _dim, tensor

__all__ = ["addmm", "cat", "concat", "concatenate", "stack", "split", "chunk", "unbind",
           "method_function", "METHOD_FUNCTIONS", "is_tensor", "numel",
           "broadcast_tensors"]  # fmt: skip


def _tensors(tensors: Sequence[Any], fn: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence):
        raise TypeError(f"{fn}(): argument 'tensors' must be a tuple or list of Tensors, not "
                        f"{type(tensors).__name__}")  # fmt: skip
    if not tensors:
        raise RuntimeError(f"{fn}(): expected a non-empty list of Tensors")
    return [t if isinstance(t, Tensor) else tensor(t) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along an existing dimension (`torch.cat`).

    >>> import dygrad as torch
    >>> torch.cat([torch.zeros(1, 2), torch.ones(2, 2)]).shape
    torch.Size([3, 2])
    """
    ts = _tensors(tensors, "cat")
    ref = next((t for t in ts if t.shape != (0,)), ts[0])
    d = _dim(dim, ref.ndim)
    # None marks a legacy empty (0,) tensor, which cat skips; its gradient keeps shape (0,).
    sizes = tuple(t._data.shape[d] if t._data.shape != (0,) or ref is t else None for t in ts)
    return apply(S.cat, ts, d, sizes)


concat = concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join along a new dimension (`torch.stack`)."""
    ts = _tensors(tensors, "stack")
    return apply(S.stack, ts, _dim(dim, ts[0].ndim + 1))


def split(t: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    return t.split(split_size_or_sections, dim)


def chunk(t: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    return t.chunk(chunks, dim)


def unbind(t: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    return t.unbind(dim)


def addmm(input: Any, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:  # noqa: A002
    """input + mat1 @ mat2 in one op, recorded as AddmmBackward0 (`torch.addmm`).

    >>> import dygrad as torch
    >>> torch.addmm(torch.ones(2), torch.ones(3, 4), torch.ones(4, 2))
    tensor([[5., 5.],
            [5., 5.],
            [5., 5.]])
    """
    if beta != 1:
        input = input * beta  # noqa: A001
    if alpha != 1:
        mat1 = mat1 * alpha
    return apply(L.addmm, input, mat1, mat2)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    import numpy as np

    shape = np.broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t.expand(shape) for t in tensors)


def method_function(name: str) -> Callable[..., Any]:
    """`torch.name(input, *args)` calling `Tensor.name`; Python numbers become tensors."""
    method = getattr(Tensor, name)

    def fn(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        x = input if isinstance(input, Tensor) else tensor(input)
        return method(x, *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"`torch.{name}(input, ...)`: the function form of `Tensor.{name}`."
    return fn


METHOD_FUNCTIONS = (
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "neg",
    "negative", "pow", "square", "remainder", "fmod", "floor_divide", "mm", "bmm", "mv", "dot",
    "outer", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan",
    "tanh", "sigmoid", "relu", "abs", "absolute", "sign", "clamp", "clip", "clamp_min",
    "clamp_max", "softmax", "log_softmax", "isnan", "isinf", "isfinite", "logical_not", "floor",
    "ceil", "round", "trunc", "fix", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "allclose", "equal", "sum", "mean", "prod", "max", "min", "amax", "amin",
    "argmax", "argmin", "all", "any", "var", "std", "logsumexp", "norm", "reshape", "flatten",
    "unflatten", "squeeze", "unsqueeze", "transpose", "swapaxes", "t", "permute", "flip", "roll",
    "index_select", "gather", "scatter", "scatter_add", "masked_fill", "clone", "detach", "eq",
    "ne", "lt", "le", "gt", "ge", "numel", "sum_to_size",
)  # fmt: skip
