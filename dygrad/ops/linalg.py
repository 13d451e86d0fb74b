"""Matrix products: `mm`, `bmm`, `mv`, `dot`, and broadcasting batched `matmul`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import defop, promote
from .shape import transpose

__all__ = ["mm", "bmm", "mv", "dot", "matmul", "outer", "addmm"]


def _mT(a: Any) -> Any:  # noqa: N802 - PyTorch's name
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
            rows = int(np.prod(xs[:-1]))
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({rows}x{xs[-1]} and {ys[0]}x{ys[1]})"
            )
        batch = int(np.prod(np.broadcast_shapes(xs[:-2], ys[:-2])))
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{batch}, {xs[-1]}] but got: [{batch}, {ys[-2]}]."
        )
    from .pointwise import broadcast_check

    broadcast_check(np.empty(xs[:-2] + (0,)), np.empty(ys[:-2] + (0,)))


def _mm_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ValueError("shapes")
    return x @ y


def _bmm_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.ndim != 3 or y.ndim != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[1]:
        raise ValueError("shapes")
    return x @ y


mm = defop(
    "mm", grad_fn="MmBackward0", dtype=promote,
    forward=_mm_fwd,
    vjp=(lambda g, y: mm(g, _mT(y)),
         lambda g, x: mm(_mT(x), g)),
    jvp=(lambda t, y: mm(t, y),
         lambda t, x: mm(x, t)),
    shape=lambda x, y: (x[0], y[1]), check=_mm_check,
)  # fmt: skip
bmm = defop(
    "bmm", grad_fn="BmmBackward0", dtype=promote,
    forward=_bmm_fwd,
    vjp=(lambda g, y: bmm(g, _mT(y)),
         lambda g, x: bmm(_mT(x), g)),
    jvp=(lambda t, y: bmm(t, y),
         lambda t, x: bmm(x, t)),
    check=_bmm_check,
)  # fmt: skip
matmul = defop(
    "matmul", grad_fn="MatmulBackward0", dtype=promote, broadcasting=True,
    forward=lambda x, y: np.matmul(x, y),
    vjp=(lambda g, y: matmul(g, _mT(y)),
         lambda g, x: matmul(_mT(x), g)),
    jvp=(lambda t, y: matmul(t, y),
         lambda t, x: matmul(x, t)),
    check=_matmul_check,
)  # fmt: skip


def _mv_check(x: Any, y: Any) -> None:
    raise RuntimeError(f"size mismatch, got input ({x.shape[0]}), mat ({x.shape[0]}x"
                       f"{x.shape[1]}), vec ({y.shape[0]})")  # fmt: skip


def _outer_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.multiply.outer(x, y)


outer = defop(
    # PyTorch computes outer as a broadcast multiply, and names its node so.
    "outer", grad_fn="MulBackward0", dtype=promote,
    forward=_outer_fwd,
    vjp=(lambda g, y: mv(g, y),
         lambda g, x: mv(_mT(g), x)),
    jvp=(lambda t, y: outer(t, y),
         lambda t, x: outer(x, t)),
)  # fmt: skip
mv = defop(
    "mv", grad_fn="MvBackward0", dtype=promote,
    forward=lambda x, y: x @ y,
    vjp=(lambda g, y: outer(g, y),
         lambda g, x: mv(_mT(x), g)),
    jvp=(lambda t, y: mv(t, y),
         lambda t, x: mv(x, t)),
    check=_mv_check,
)  # fmt: skip


def _dot_check(x: Any, y: Any) -> None:
    raise RuntimeError(
        f"inconsistent tensor size, expected tensor [{x.shape[0]}] and src [{y.shape[0]}] to have "
        f"the same number of elements, but got {x.shape[0]} and {y.shape[0]} elements "
        "respectively"
    )


dot = defop(
    "dot", grad_fn="DotBackward0", dtype=promote,
    forward=lambda x, y: np.asarray(np.dot(x, y)),
    vjp=(lambda g, y: g * y,
         lambda g, x: g * x),
    jvp=(lambda t, y: dot(t, y),
         lambda t, x: dot(x, t)),
    check=_dot_check, shape=lambda x, y: (),
)  # fmt: skip


def _addmm_fwd(b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ValueError("shapes")
    out = x @ y
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


addmm = defop(
    "addmm", grad_fn="AddmmBackward0", dtype=promote, broadcasting=True,
    forward=_addmm_fwd,
    vjp=(lambda g: g,
         lambda g, y: mm(g, _mT(y)),
         lambda g, x: mm(_mT(x), g)),
    jvp=(lambda t: t,
         lambda t, y: mm(t, y),
         lambda t, x: mm(x, t)),
    check=_addmm_check,
)  # fmt: skip
