"""Matrix products: `mm`, `bmm`, `mv`, `dot`, and broadcasting batched `matmul`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .registry import defop, promote, shape_of
from .shape import transpose

__all__ = ["mm", "bmm", "mv", "dot", "matmul", "outer", "addmm"]


def _mT(a: Any) -> Any:  # noqa: N802 - PyTorch's name
    # Rules run on raw arrays when nothing is recorded: then a NumPy view is all it takes.
    if type(a) is np.ndarray:
        return a.swapaxes(-1, -2)
    return transpose(a, -1, -2)


def _mm_check(x: Any, y: Any) -> None:
    xs, ys = tuple(x.shape), tuple(y.shape)
    if len(xs) != 2:
        raise RuntimeError(f"self must be a matrix, got {len(xs)}-D tensor")
    if len(ys) != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {len(ys)}-D tensor")
    raise RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({xs[0]}x{xs[1]} and {ys[0]}x{ys[1]})"
    )


def _bmm_check(x: Any, y: Any) -> None:
    xs, ys = tuple(x.shape), tuple(y.shape)
    if len(xs) != 3 or len(ys) != 3:
        raise RuntimeError(f"batch1 and batch2 must be 3D tensors, got {len(xs)}-D and "
                           f"{len(ys)}-D")  # fmt: skip
    raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                       f"[{xs[0]}, {xs[2]}] but got: [{ys[0]}, {ys[1]}].")  # fmt: skip


def _matmul_check(x: Any, y: Any) -> None:
    xs, ys = tuple(x.shape), tuple(y.shape)
    if xs[-1] != ys[-2]:
        if len(ys) == 2:
            rows = int(math.prod(xs[:-1]))
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({rows}x{xs[-1]} and {ys[0]}x{ys[1]})"
            )
        batch = int(math.prod(np.broadcast_shapes(xs[:-2], ys[:-2])))
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{batch}, {xs[-1]}] but got: [{batch}, {ys[-2]}]."
        )
    from .pointwise import broadcast_check

    broadcast_check(np.empty(xs[:-2] + (0,)), np.empty(ys[:-2] + (0,)))


def _mm_shape(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
    if len(x) != 2 or len(y) != 2 or x[1] != y[0]:
        raise ValueError("shapes")
    return (x[0], y[1])


def _bmm_shape(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
    if len(x) != 3 or len(y) != 3 or x[0] != y[0] or x[2] != y[1]:
        raise ValueError("shapes")
    return (x[0], x[1], y[2])


def _matmul_shape(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
    # np.matmul's rule: a 1-D operand is a row (x) or a column (y), removed from the result.
    if not x or not y:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    a = (1, *x) if len(x) == 1 else tuple(x)
    b = (*y, 1) if len(y) == 1 else tuple(y)
    if a[-1] != b[-2]:
        raise ValueError("matmul: Input operand 1 has a mismatch in its core dimension 0")
    out = (*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])
    if len(x) == 1:
        out = out[:-2] + out[-1:]
    if len(y) == 1:
        out = out[:-1]
    return out


# Products of 2-D arrays go through ndarray.dot, not `@`: the same BLAS call and the same bits
# (any dtype, contiguous or not, empty or not), without the matmul ufunc's dispatch: 1.40 -> 0.97
# us at (100, 16) @ (16, 16), the same at (128, 784) @ (784, 512).
def _mm_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ValueError("shapes")
    return x.dot(y)


def _bmm_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.ndim != 3 or y.ndim != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[1]:
        raise ValueError("shapes")
    return x @ y


def _mm_gx(g: Any, y: Any) -> Any:
    # On arrays (no graph to record) the product itself; on tensors (double backward) the op.
    if type(g) is np.ndarray and type(y) is np.ndarray:
        return g.dot(y.T)
    return mm(g, _mT(y))


def _mm_gy(g: Any, x: Any) -> Any:
    if type(g) is np.ndarray and type(x) is np.ndarray:
        return x.T.dot(g)
    return mm(_mT(x), g)


mm = defop(
    "mm", grad_fn="MmBackward0", dtype=promote,
    onnx=lambda ox, x, y: ox.op("MatMul", x, y),
    forward=_mm_fwd,
    vjp=(_mm_gx, _mm_gy),
    jvp=(lambda t, y: mm(t, y),
         lambda t, x: mm(x, t)),
    shape=_mm_shape, check=_mm_check,
)  # fmt: skip
bmm = defop(
    "bmm", grad_fn="BmmBackward0", dtype=promote,
    onnx=lambda ox, x, y: ox.op("MatMul", x, y),
    forward=_bmm_fwd,
    vjp=(lambda g, y: bmm(g, _mT(y)),
         lambda g, x: bmm(_mT(x), g)),
    jvp=(lambda t, y: bmm(t, y),
         lambda t, x: bmm(x, t)),
    check=_bmm_check, shape=_bmm_shape,
)  # fmt: skip
matmul = defop(
    "matmul", grad_fn="MatmulBackward0", dtype=promote, broadcasting=True,
    onnx=lambda ox, x, y: ox.op("MatMul", x, y),
    forward=lambda x, y: np.matmul(x, y),
    vjp=(lambda g, y: matmul(g, _mT(y)),
         lambda g, x: matmul(_mT(x), g)),
    jvp=(lambda t, y: matmul(t, y),
         lambda t, x: matmul(x, t)),
    check=_matmul_check, shape=_matmul_shape,
)  # fmt: skip


def _mv_check(x: Any, y: Any) -> None:
    raise RuntimeError(f"size mismatch, got input ({x.shape[0]}), mat ({x.shape[0]}x"
                       f"{x.shape[1]}), vec ({y.shape[0]})")  # fmt: skip


def _outer_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.multiply.outer(x, y)


outer = defop(
    # PyTorch computes outer as a broadcast multiply, and names its node so.
    "outer", grad_fn="MulBackward0", dtype=promote,
    onnx=lambda ox, x, y: ox.op("Mul", ox.op("Unsqueeze", x, ox.ints([1])), y),
    forward=_outer_fwd,
    vjp=(lambda g, y: mv(g, y),
         lambda g, x: mv(_mT(g), x)),
    jvp=(lambda t, y: outer(t, y),
         lambda t, x: outer(x, t)),
    shape=lambda x, y: (*x, *y),
)  # fmt: skip
mv = defop(
    "mv", grad_fn="MvBackward0", dtype=promote,
    onnx=lambda ox, x, y: ox.op("MatMul", x, y),
    forward=lambda x, y: x @ y,
    vjp=(lambda g, y: outer(g, y),
         lambda g, x: mv(_mT(x), g)),
    jvp=(lambda t, y: mv(t, y),
         lambda t, x: mv(x, t)),
    check=_mv_check, shape=_matmul_shape,
)  # fmt: skip


def _dot_check(x: Any, y: Any) -> None:
    raise RuntimeError(
        f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] to have "
        f"the same number of elements, but got {x.shape[0]} and {y.shape[0]} elements "
        "respectively"
    )


def _dot_shape(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
    # np.dot's rule (the forward's): a product over x's last dim and y's second to last.
    if not x or not y:
        return tuple(y or x)
    k = y[-2] if len(y) > 1 else y[0]
    if x[-1] != k:
        raise ValueError("shapes not aligned")
    return (*x[:-1], *y[:-2], *y[-1:]) if len(y) > 1 else tuple(x[:-1])


dot = defop(
    "dot", grad_fn="DotBackward0", dtype=promote,
    onnx=lambda ox, x, y: ox.op("MatMul", x, y),
    forward=lambda x, y: np.asarray(np.dot(x, y)),
    vjp=(lambda g, y: g * y,
         lambda g, x: g * x),
    jvp=(lambda t, y: dot(t, y),
         lambda t, x: dot(x, t)),
    check=_dot_check, shape=_dot_shape,
)  # fmt: skip


def _addmm_fwd(b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ValueError("shapes")
    out = x.dot(y)
    out += b  # in place: one result array, as the fused kernel writes
    return out


def _addmm_check(b: Any, x: Any, y: Any) -> None:
    if len(x.shape) != 2 or len(y.shape) != 2 or x.shape[1] != y.shape[0]:
        _mm_check(x, y)
    from .pointwise import broadcast_check

    broadcast_check(b, np.empty((x.shape[0], y.shape[1])))
    raise RuntimeError(
        f"addmm(): bias of shape {list(b.shape)} cannot be added to a "
        f"{x.shape[0]}x{y.shape[1]} product"
    )


def _addmm_shape(b: Any, x: tuple[int, ...], y: tuple[int, ...]) -> tuple[int, ...]:
    out = _mm_shape(x, y)
    if np.broadcast_shapes(shape_of(b), out) != out:
        raise ValueError("bias does not broadcast to the product")  # added in place
    return out


addmm = defop(
    "addmm", grad_fn="AddmmBackward0", dtype=promote, broadcasting=True, shape=_addmm_shape,
    onnx=lambda ox, b, x, y: ox.op("Gemm", x, y, b),
    forward=_addmm_fwd,
    vjp=(lambda g: g,
         lambda g, y: mm(g, _mT(y)),
         lambda g, x: mm(_mT(x), g)),
    jvp=(lambda t: t,
         lambda t, y: mm(t, y),
         lambda t, x: mm(x, t)),
    check=_addmm_check,
)  # fmt: skip
