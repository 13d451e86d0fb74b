"""Shape ops: reshape/view, expand, squeeze/unsqueeze, transpose/permute, repeat, cat/stack,
split/unbind, flip, roll, and dtype conversion and cloning. Most return views of their input."""

from __future__ import annotations

from typing import Any

import numpy as np

from .pointwise import zeros_like
from .registry import defop, promote

__all__ = [
    "reshape", "reshape_alias", "unsafe_view", "view", "expand", "squeeze", "squeeze_dim",
    "squeeze_dims", "unsqueeze",
    "transpose", "permute", "repeat", "cat", "stack", "split", "split_with_sizes", "unbind",
    "flip", "roll", "clone", "to_dtype", "alias", "contiguous", "copy", "t", "fill", "zero",
]  # fmt: skip


def _view_fwd(x: np.ndarray, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> np.ndarray:
    try:
        return np.reshape(x, shape, copy=False)
    except ValueError:
        if x.size != int(np.prod(shape)):
            raise
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None


def _shape_check(x: Any, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    n = int(np.prod(x_shape))
    if int(np.prod(shape)) != n:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")


reshape = defop(
    "reshape", grad_fn="ViewBackward0", view=True,
    forward=lambda x, shape, x_shape: np.reshape(x, shape),
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: reshape(t, shape, x_shape),),
    shape=lambda x, shape, x_shape: shape, check=_shape_check,
)  # fmt: skip
# Tensor.reshape records what PyTorch does: `reshape` (ViewBackward0) for a contiguous input,
# `reshape_alias` for a view of a strided one, and a clone then `unsafe_view` when no view can
# have the new shape.
reshape_alias = defop(
    "reshape_alias", grad_fn="ReshapeAliasBackward0", view=True,
    forward=_view_fwd,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: reshape(t, shape, x_shape),),
    shape=lambda x, shape, x_shape: shape, check=_shape_check,
)  # fmt: skip
unsafe_view = defop(
    "unsafe_view", grad_fn="UnsafeViewBackward0",
    forward=lambda x, shape, x_shape: np.reshape(x, shape),
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: unsafe_view(t, shape, x_shape),),
    shape=lambda x, shape, x_shape: shape, check=_shape_check,
)  # fmt: skip
view = defop(
    "view", grad_fn="ViewBackward0", view=True,
    forward=_view_fwd,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: reshape(t, shape, x_shape),),
    shape=lambda x, shape, x_shape: shape, check=_shape_check,
)  # fmt: skip


def _expand_check(x: Any, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    xs = tuple(x.shape)
    if len(shape) < len(xs):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(xs)}}}, size={list(shape)}): the number of sizes "
            f"provided ({len(shape)}) must be greater or equal to the number of dimensions in the "
            f"tensor ({len(xs)})"
        )
    for i in range(1, len(xs) + 1):
        if xs[-i] != 1 and xs[-i] != shape[-i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({shape[-i]}) must match the existing size "
                f"({xs[-i]}) at non-singleton dimension {len(shape) - i}.  Target sizes: "
                f"{list(shape)}.  Tensor sizes: {list(xs)}"
            )


def _sum_back(g: Any, x_shape: tuple[int, ...]) -> Any:
    from .reduction import sum_to_size

    return sum_to_size(g, x_shape, g.shape)


expand = defop(
    "expand", grad_fn="ExpandBackward0", view=True,
    forward=lambda x, shape, x_shape: np.broadcast_to(x, shape),
    vjp=(lambda g, x_shape: _sum_back(g, x_shape),),
    jvp=(lambda t, shape, x_shape: expand(t, shape, x_shape),),
    shape=lambda x, shape, x_shape: shape, check=_expand_check,
)  # fmt: skip


squeeze = defop(
    "squeeze", grad_fn="SqueezeBackward0", view=True,
    forward=lambda x, x_shape: np.squeeze(x) if x.ndim else x,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, x_shape: squeeze(t, x_shape),),
)  # fmt: skip
squeeze_dim = defop(
    "squeeze_dim", grad_fn="SqueezeBackward1", view=True,
    forward=lambda x, dim, x_shape: np.squeeze(x, dim) if x.ndim and x.shape[dim] == 1 else x,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, dim, x_shape: squeeze_dim(t, dim, x_shape),),
)  # fmt: skip
squeeze_dims = defop(
    "squeeze_dims", grad_fn="SqueezeBackward2", view=True,
    forward=lambda x, dims, x_shape: np.squeeze(x, tuple(d for d in dims if x.shape[d] == 1))
    if x.ndim else x,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, dims, x_shape: squeeze_dims(t, dims, x_shape),),
)  # fmt: skip
unsqueeze = defop(
    "unsqueeze", grad_fn="UnsqueezeBackward0", view=True,
    forward=lambda x, dim: np.expand_dims(x, dim),
    vjp=(lambda g, dim: squeeze_dim(g, dim, g.shape),),
    jvp=(lambda t, dim: unsqueeze(t, dim),),
)  # fmt: skip


def _swap(x: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.swapaxes(x, a, b) if x.ndim else x.view()  # a 0-d tensor's dim 0 is itself


transpose = defop(
    "transpose", grad_fn="TransposeBackward0", view=True,
    forward=_swap,
    vjp=(lambda g, a, b: transpose(g, a, b),),
    jvp=(lambda t, a, b: transpose(t, a, b),),
)  # fmt: skip
permute = defop(
    "permute", grad_fn="PermuteBackward0", view=True,
    forward=lambda x, dims: np.transpose(x, dims),
    vjp=(lambda g, dims: permute(g, tuple(np.argsort(dims).tolist())),),
    jvp=(lambda t, dims: permute(t, dims),),
)  # fmt: skip
t = defop("t", grad_fn="TBackward0", view=True,
          forward=lambda x: x.T, vjp=(lambda g: t(g),), jvp=(lambda tx: t(tx),))  # fmt: skip
alias = defop("alias", grad_fn="AliasBackward0", view=True,
              forward=lambda x: x.view(), vjp=(lambda g: g,), jvp=(lambda t: t,))  # fmt: skip


def _repeat_vjp(g: Any, reps: tuple[int, ...], x_shape: tuple[int, ...]) -> Any:
    from .reduction import sum_dim

    lead = len(reps) - len(x_shape)
    shape = (1,) * lead + tuple(x_shape)
    # Split every dim into (repeat, size) and sum over the repeat axes.
    split = []
    for r, n in zip(reps, shape):
        split += [r, n]
    gs = reshape(g, tuple(split), g.shape)
    gs = sum_dim(gs, tuple(range(0, 2 * len(reps), 2)), False, tuple(split))
    return reshape(gs, tuple(x_shape), gs.shape)


repeat = defop(
    "repeat", grad_fn="RepeatBackward0",
    forward=lambda x, reps, x_shape: np.tile(x, reps),
    vjp=(_repeat_vjp,),
    jvp=(lambda t, reps, x_shape: repeat(t, reps, x_shape),),
)  # fmt: skip

# --- joining and splitting --------------------------------------------------------------------


def _cat_check(xs: Any, dim: int, sizes: Any) -> None:
    shapes = [tuple(t.shape) for t in xs]
    ref = next((s for s in shapes if s != (0,)), shapes[0])
    for i, s in enumerate(shapes):
        if s == (0,):
            continue
        if len(s) != len(ref):
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {len(ref)} and {len(s)}"
            )
        for d in range(len(s)):
            if d != dim and s[d] != ref[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {dim}. Expected size "
                    f"{ref[d]} but got size {s[d]} for tensor number {i} in the list."
                )


def _cat_fwd(xs: list[np.ndarray], dim: int, sizes: tuple[int | None, ...]) -> np.ndarray:
    # Legacy empty (0,) inputs (size None) are skipped, but the reference input always stays,
    # even when every input is (0,).
    return np.concatenate([a for a, s in zip(xs, sizes) if s is not None], axis=dim)


def _cat_vjp(g: Any, dim: int, sizes: tuple[int | None, ...]) -> Any:
    # A size of None marks a legacy empty (0,) input: it takes no part, and its gradient is (0,).
    parts = split_with_sizes(g, tuple(s or 0 for s in sizes), dim)
    return [reshape(p, (0,), tuple(p.shape)) if s is None else p for p, s in zip(parts, sizes)]


# dtype: PyTorch's promotion over all inputs, legacy empty ones included.
cat = defop("cat", grad_fn="CatBackward0", variadic=True, dtype=promote, forward=_cat_fwd,
            vjp=_cat_vjp,
            jvp=lambda ts, dim, sizes: cat(ts, dim, sizes), check=_cat_check)  # fmt: skip


def _stack_check(xs: Any, dim: int) -> None:
    shapes = [tuple(t.shape) for t in xs]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shapes[0])} at entry "
                f"0 and {list(s)} at entry {i}"
            )


stack = defop("stack", grad_fn="StackBackward0", variadic=True,
              forward=lambda xs, dim: np.stack(xs, axis=dim),
              vjp=lambda g, dim: unbind(g, dim), jvp=lambda ts, dim: stack(ts, dim),
              check=_stack_check)  # fmt: skip


def _split_fwd(x: np.ndarray, sizes: tuple[int, ...], dim: int) -> tuple[np.ndarray, ...]:
    # Plain slices (views): several times faster than np.split on small arrays.
    lead = (slice(None),) * (dim % max(x.ndim, 1))
    out = []
    start = 0
    for n in sizes:
        out.append(x[(*lead, slice(start, start + n))])
        start += n
    return tuple(out)


def _split_vjp(g: Any, sizes: tuple[int, ...], dim: int) -> Any:
    return cat(list(g), dim, tuple(sizes))


split_with_sizes = defop("split_with_sizes", grad_fn="SplitWithSizesBackward0", view=True,
                         n_outputs=-1, forward=_split_fwd, vjp=(_split_vjp,),
                         jvp=(lambda t, sizes, dim: split_with_sizes(t, sizes, dim),))  # fmt: skip
split = defop("split", grad_fn="SplitBackward0", view=True, n_outputs=-1,
              forward=_split_fwd, vjp=(_split_vjp,),
              jvp=(lambda t, sizes, dim: split(t, sizes, dim),))  # fmt: skip


def _unbind_fwd(x: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    return tuple(np.moveaxis(x, dim, 0))


unbind = defop("unbind", grad_fn="UnbindBackward0", view=True, n_outputs=-1,
               forward=_unbind_fwd, vjp=(lambda g, dim: stack(list(g), dim),),
               jvp=(lambda t, dim: unbind(t, dim),))  # fmt: skip

flip = defop("flip", grad_fn="FlipBackward0", forward=lambda x, dims: np.flip(x, dims).copy(),
             vjp=(lambda g, dims: flip(g, dims),),
             jvp=(lambda t, dims: flip(t, dims),))  # fmt: skip
roll = defop(
    "roll", grad_fn="RollBackward0",
    forward=lambda x, shifts, dims: np.roll(x, shifts, dims),
    vjp=(lambda g, shifts, dims: roll(g, tuple(-s for s in shifts) if isinstance(shifts, tuple)
                                      else -shifts, dims),),
    jvp=(lambda t, shifts, dims: roll(t, shifts, dims),),
)  # fmt: skip

# --- copies and conversions -----------------------------------------------------------------------
# The tangent is copied too, so the copy's tangent is never the same tensor as the input's.
clone = defop("clone", grad_fn="CloneBackward0", forward=lambda x: x.copy(),
              vjp=(lambda g: g,), jvp=(lambda t: clone(t),))  # fmt: skip
contiguous = defop("contiguous", grad_fn="CloneBackward0",
                   forward=lambda x: np.ascontiguousarray(x), vjp=(lambda g: g,),
                   jvp=(lambda t: contiguous(t),))  # fmt: skip


def _to_vjp(g: Any, x_dtype: Any) -> Any:
    return to_dtype(g, x_dtype, None)


to_dtype = defop(
    "to_dtype", grad_fn="ToCopyBackward0",
    forward=lambda x, dtype, x_dtype: x.astype(dtype, copy=True),
    vjp=(_to_vjp,),
    jvp=(lambda t, dtype, x_dtype: to_dtype(t, dtype, x_dtype),),
)  # fmt: skip


def _copy_check(x: Any, src: Any) -> None:
    from .pointwise import broadcast_check

    broadcast_check(x, src)


copy = defop(
    "copy", grad_fn="CopyBackwards", broadcasting=True,
    forward=lambda x, src: np.broadcast_to(np.asarray(src), x.shape).astype(x.dtype),
    vjp=(lambda g: zeros_like(g),
         lambda g: g),
    jvp=(lambda t: zeros_like(t),
         lambda t: t),
    check=_copy_check,
)  # fmt: skip
# In-place fill_ and zero_ record these (PyTorch's names); the old values get no gradient.
fill = defop("fill", grad_fn="FillBackward2", forward=lambda x, value: np.full_like(x, value),
             vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
zero = defop("zero", grad_fn="ZeroBackward0", forward=lambda x: np.zeros_like(x),
             vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
