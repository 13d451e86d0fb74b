"""Shape ops: reshape/view, expand, squeeze/unsqueeze, transpose/permute, repeat, cat/stack,
split/unbind, flip, roll, and dtype conversion and cloning. Most return views of their input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .pointwise import zeros_like
from .registry import Spec, defop, promote, shape_of

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
        if x.size != int(math.prod(shape)):
            raise
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None


def _reshape_shape(x: tuple[int, ...], shape: tuple[int, ...], x_shape: Any) -> tuple[int, ...]:
    if int(math.prod(shape)) != int(math.prod(x)):
        raise ValueError("cannot reshape")
    return shape


def _shape_check(x: Any, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    n = int(math.prod(x_shape))
    if int(math.prod(shape)) != n:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")


reshape = defop(
    "reshape", grad_fn="ViewBackward0", view=True,
    onnx=lambda ox, x, shape, x_shape: ox.reshape(x, shape),
    forward=lambda x, shape, x_shape: np.reshape(x, shape),
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: reshape(t, shape, x_shape),),
    shape=_reshape_shape, check=_shape_check,
)  # fmt: skip
# Tensor.reshape records what PyTorch does: `reshape` (ViewBackward0) for a contiguous input,
# `reshape_alias` for a view of a strided one, and a clone then `unsafe_view` when no view can
# have the new shape.
reshape_alias = defop(
    "reshape_alias", grad_fn="ReshapeAliasBackward0", view=True,
    onnx=lambda ox, x, shape, x_shape: ox.reshape(x, shape),
    forward=_view_fwd,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: reshape(t, shape, x_shape),),
    shape=_reshape_shape, check=_shape_check,
)  # fmt: skip
unsafe_view = defop(
    "unsafe_view", grad_fn="UnsafeViewBackward0",
    onnx=lambda ox, x, shape, x_shape: ox.reshape(x, shape),
    forward=lambda x, shape, x_shape: np.reshape(x, shape),
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: unsafe_view(t, shape, x_shape),),
    shape=_reshape_shape, check=_shape_check,
)  # fmt: skip
view = defop(
    "view", grad_fn="ViewBackward0", view=True,
    onnx=lambda ox, x, shape, x_shape: ox.reshape(x, shape),
    forward=_view_fwd,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: reshape(t, shape, x_shape),),
    shape=_reshape_shape, check=_shape_check,
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


def _expand_shape(x: tuple[int, ...], shape: tuple[int, ...], x_shape: Any) -> tuple[int, ...]:
    if len(shape) < len(x) or any(a not in (1, b) for a, b in zip(x[::-1], shape[::-1])):
        raise ValueError("cannot expand")
    return shape


def _sum_back(g: Any, x_shape: tuple[int, ...]) -> Any:
    from .reduction import sum_to_size

    return sum_to_size(g, x_shape, g.shape)


def _broadcast(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """np.broadcast_to(x, shape) (a read-only view), built directly from strides when x is
    contiguous: broadcast_to's Python-level setup costs ten times the view itself, and every
    backward of a sum or mean starts with one."""
    lead = len(shape) - x.ndim
    if lead == len(shape):  # a 0-d value (a sum's or mean's gradient): every stride is 0
        strides: Any = (0,) * lead
    elif lead < 0 or not x.flags.c_contiguous:
        return np.broadcast_to(x, shape)
    else:
        strides = [0] * lead
        for k, (n, m) in enumerate(zip(x.shape, shape[lead:], strict=True)):
            if n == m:
                strides.append(x.strides[k])
            elif n == 1 and m >= 0:
                strides.append(0)
            else:
                return np.broadcast_to(x, shape)  # raises NumPy's error for a bad shape
        strides = tuple(strides)
    r = np.ndarray(shape, x.dtype, x, 0, strides)
    r.flags.writeable = False
    return r


expand = defop(
    "expand", grad_fn="ExpandBackward0", view=True,
    onnx=lambda ox, x, shape, x_shape: ox.op("Expand", x, ox.ints(shape)),
    forward=lambda x, shape, x_shape: _broadcast(x, shape),
    vjp=(lambda g, x_shape: _sum_back(g, x_shape),),
    jvp=(lambda t, shape, x_shape: expand(t, shape, x_shape),),
    shape=_expand_shape, check=_expand_check,
)  # fmt: skip


def _axis(d: int, n: int) -> int:
    # A dim in range(-n, n) as a non-negative one (NumPy's axis rule, for shape rules).
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {d})")  # fmt: skip
    return d % n


def _squeeze_shape(x: tuple[int, ...], dims: Any) -> tuple[int, ...]:
    if not x:
        return x
    drop = {_axis(d, len(x)) for d in dims} if dims is not None else set(range(len(x)))
    return tuple(n for i, n in enumerate(x) if not (i in drop and n == 1))


def _squeeze_onnx(ox: Any, x: str, dims: Any) -> str:
    # The dims of size 1 go; a dim that follows a dynamic axis stays (its size need not be 1).
    shape = ox.shape(x)
    ones = [d % len(shape) for d in dims if shape and type(shape[d]) is int and shape[d] == 1]
    axes = sorted(set(ones))
    return ox.op("Squeeze", x, ox.ints(axes)) if axes else x


squeeze = defop(
    "squeeze", grad_fn="SqueezeBackward0", view=True,
    onnx=lambda ox, x, x_shape: _squeeze_onnx(ox, x, range(len(x_shape))),
    shape=lambda x, x_shape: _squeeze_shape(x, None),
    forward=lambda x, x_shape: np.squeeze(x) if x.ndim else x,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, x_shape: squeeze(t, x_shape),),
)  # fmt: skip
squeeze_dim = defop(
    "squeeze_dim", grad_fn="SqueezeBackward1", view=True,
    onnx=lambda ox, x, dim, x_shape: _squeeze_onnx(ox, x, (dim,)),
    shape=lambda x, dim, x_shape: _squeeze_shape(x, (dim,)),
    forward=lambda x, dim, x_shape: np.squeeze(x, dim) if x.ndim and x.shape[dim] == 1 else x,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, dim, x_shape: squeeze_dim(t, dim, x_shape),),
)  # fmt: skip
squeeze_dims = defop(
    "squeeze_dims", grad_fn="SqueezeBackward2", view=True,
    onnx=lambda ox, x, dims, x_shape: _squeeze_onnx(ox, x, dims),
    shape=lambda x, dims, x_shape: _squeeze_shape(x, dims),
    forward=lambda x, dims, x_shape: np.squeeze(x, tuple(d for d in dims if x.shape[d] == 1))
    if x.ndim else x,
    vjp=(lambda g, x_shape: reshape(g, x_shape, g.shape),),
    jvp=(lambda t, dims, x_shape: squeeze_dims(t, dims, x_shape),),
)  # fmt: skip
def _unsqueeze_shape(x: tuple[int, ...], dim: int) -> tuple[int, ...]:
    d = _axis(dim, len(x) + 1)
    return (*x[:d], 1, *x[d:])


unsqueeze = defop(
    "unsqueeze", grad_fn="UnsqueezeBackward0", view=True, shape=_unsqueeze_shape,
    onnx=lambda ox, x, dim: ox.op("Unsqueeze", x, ox.ints([dim])),
    forward=lambda x, dim: np.expand_dims(x, dim),
    vjp=(lambda g, dim: squeeze_dim(g, dim, g.shape),),
    jvp=(lambda t, dim: unsqueeze(t, dim),),
)  # fmt: skip


def _swap(x: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.swapaxes(x, a, b) if x.ndim else x.view()  # a 0-d tensor's dim 0 is itself


def _swap_shape(x: tuple[int, ...], a: int, b: int) -> tuple[int, ...]:
    if not x:
        return x
    s = list(x)
    i, j = _axis(a, len(s)), _axis(b, len(s))
    s[i], s[j] = s[j], s[i]
    return tuple(s)


def _permute_shape(x: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    axes = [_axis(d, len(x)) for d in dims]
    if len(axes) != len(x) or len(set(axes)) != len(axes):
        raise ValueError("axes don't match array")
    return tuple(x[d] for d in axes)


def _transpose_onnx(ox: Any, x: str, a: int, b: int) -> str:
    perm = list(range(ox.rank(x)))
    if not perm:
        return x
    perm[a], perm[b] = perm[b], perm[a]
    return ox.op("Transpose", x, perm=perm)


transpose = defop(
    "transpose", grad_fn="TransposeBackward0", view=True, shape=_swap_shape,
    onnx=_transpose_onnx,
    forward=_swap,
    vjp=(lambda g, a, b: transpose(g, a, b),),
    jvp=(lambda t, a, b: transpose(t, a, b),),
)  # fmt: skip
permute = defop(
    "permute", grad_fn="PermuteBackward0", view=True, shape=_permute_shape,
    onnx=lambda ox, x, dims: ox.op("Transpose", x, perm=[d % len(dims) for d in dims]),
    forward=lambda x, dims: np.transpose(x, dims),
    vjp=(lambda g, dims: permute(g, tuple(np.argsort(dims).tolist())),),
    jvp=(lambda t, dims: permute(t, dims),),
)  # fmt: skip
t = defop("t", grad_fn="TBackward0", view=True, shape=lambda x: x[::-1],
          onnx=lambda ox, x: ox.op("Transpose", x, perm=[1, 0]) if ox.rank(x) == 2 else x,
          forward=lambda x: x.T, vjp=(lambda g: t(g),), jvp=(lambda tx: t(tx),))  # fmt: skip
alias = defop("alias", grad_fn="AliasBackward0", view=True, shape=lambda x: x,
              onnx=lambda ox, x: x,
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


def _repeat_shape(x: tuple[int, ...], reps: tuple[int, ...], x_shape: Any) -> tuple[int, ...]:
    # np.tile's rule: the shorter of the two is padded with leading ones.
    n = max(len(x), len(reps))
    xs, rs = (1,) * (n - len(x)) + tuple(x), (1,) * (n - len(reps)) + tuple(reps)
    if any(r < 0 for r in rs):
        raise ValueError("negative dimensions are not allowed")
    return tuple(a * r for a, r in zip(xs, rs))


def _repeat_onnx(ox: Any, x: str, reps: tuple[int, ...], x_shape: tuple[int, ...]) -> str:
    lead = len(reps) - len(x_shape)  # repeat adds leading dims, Tile does not
    if lead:
        x = ox.op("Unsqueeze", x, ox.ints(range(lead)))
    return ox.op("Tile", x, ox.ints(reps))


repeat = defop(
    "repeat", grad_fn="RepeatBackward0", shape=_repeat_shape,
    onnx=_repeat_onnx,
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


def _cat_shape(xs: list[tuple[int, ...]], dim: int, sizes: Any) -> tuple[int, ...]:
    kept = [x for x, n in zip(xs, sizes) if n is not None]
    if not kept:
        raise ValueError("need at least one array to concatenate")
    ref = kept[0]
    d = _axis(dim, len(ref)) if ref else dim
    for x in kept:
        if len(x) != len(ref) or any(a != b for i, (a, b) in enumerate(zip(x, ref)) if i != d):
            raise ValueError("all the input array dimensions except for the concatenation axis "
                             "must match exactly")  # fmt: skip
    if not ref:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    return (*ref[:d], sum(x[d] for x in kept), *ref[d + 1 :])


def _cat_onnx(ox: Any, xs: list[str], dim: int, sizes: tuple[int | None, ...]) -> str:
    return ox.op("Concat", *[x for x, n in zip(xs, sizes) if n is not None], axis=dim)


# dtype: PyTorch's promotion over all inputs, legacy empty ones included.
cat = defop("cat", grad_fn="CatBackward0", variadic=True, dtype=promote, forward=_cat_fwd,
            onnx=_cat_onnx,
            shape=_cat_shape,
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


def _stack_shape(xs: list[Any], dim: int) -> Spec:
    if not xs:
        raise ValueError("need at least one array to stack")
    if any(tuple(x) != tuple(xs[0]) for x in xs):
        raise ValueError("all input arrays must have the same shape")
    d = _axis(dim, len(xs[0]) + 1)
    # No dtype rule: np.stack promotes as NumPy does.
    return Spec((*xs[0][:d], len(xs), *xs[0][d:]), np.result_type(*[x.dtype for x in xs]))


def _stack_onnx(ox: Any, xs: list[str], dim: int) -> str:
    # Negative dims count from the end of the result in Unsqueeze and Concat alike.
    return ox.op("Concat", *[ox.op("Unsqueeze", x, ox.ints([dim])) for x in xs], axis=dim)


stack = defop("stack", grad_fn="StackBackward0", variadic=True, shape=_stack_shape,
              onnx=_stack_onnx,
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


def _split_shape(x: tuple[int, ...], sizes: tuple[int, ...], dim: int) -> list[tuple[int, ...]]:
    # The forward's slices: a piece past the end is cut short, as a slice is.
    if not x:
        raise IndexError("too many indices for array: array is 0-dimensional")
    d = dim % len(x)
    out, start = [], 0
    for n in sizes:
        m = max(0, min(start + n, x[d]) - min(start, x[d]))
        out.append((*x[:d], m, *x[d + 1 :]))
        start += n
    return out


def _split_onnx(ox: Any, x: str, sizes: tuple[int, ...], dim: int) -> Any:
    return ox.op("Split", x, ox.ints(sizes), axis=dim, outputs=len(sizes))


split_with_sizes = defop("split_with_sizes", grad_fn="SplitWithSizesBackward0", view=True,
                         onnx=_split_onnx,
                         n_outputs=-1, forward=_split_fwd, vjp=(_split_vjp,),
                         shape=_split_shape,
                         jvp=(lambda t, sizes, dim: split_with_sizes(t, sizes, dim),))  # fmt: skip
split = defop("split", grad_fn="SplitBackward0", view=True, n_outputs=-1,
              onnx=_split_onnx,
              forward=_split_fwd, vjp=(_split_vjp,), shape=_split_shape,
              jvp=(lambda t, sizes, dim: split(t, sizes, dim),))  # fmt: skip


def _unbind_fwd(x: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    return tuple(np.moveaxis(x, dim, 0))


def _unbind_shape(x: tuple[int, ...], dim: int) -> list[tuple[int, ...]]:
    d = _axis(dim, len(x))
    return [(*x[:d], *x[d + 1 :])] * x[d]


def _unbind_onnx(ox: Any, x: str, dim: int) -> tuple[str, ...]:
    n = ox.shape(x)[dim]
    parts = ox.op("Split", x, ox.ints([1] * n), axis=dim, outputs=n)
    return tuple(ox.op("Squeeze", p, ox.ints([dim])) for p in ((parts,) if n == 1 else parts))


unbind = defop("unbind", grad_fn="UnbindBackward0", view=True, n_outputs=-1, shape=_unbind_shape,
               onnx=_unbind_onnx,
               forward=_unbind_fwd, vjp=(lambda g, dim: stack(list(g), dim),),
               jvp=(lambda t, dim: unbind(t, dim),))  # fmt: skip


def _flip_onnx(ox: Any, x: str, dims: tuple[int, ...]) -> str:
    back = ox.ints([-1] * len(dims))  # from the last element, by steps of -1, to before the first
    return ox.op("Slice", x, back, ox.ints([-(2**63)] * len(dims)), ox.ints(dims), back)


flip = defop("flip", grad_fn="FlipBackward0", forward=lambda x, dims: np.flip(x, dims).copy(),
             onnx=_flip_onnx,
             shape=lambda x, dims: x,
             vjp=(lambda g, dims: flip(g, dims),),
             jvp=(lambda t, dims: flip(t, dims),))  # fmt: skip
roll = defop(
    "roll", grad_fn="RollBackward0", shape=lambda x, shifts, dims: x,
    forward=lambda x, shifts, dims: np.roll(x, shifts, dims),
    vjp=(lambda g, shifts, dims: roll(g, tuple(-s for s in shifts) if isinstance(shifts, tuple)
                                      else -shifts, dims),),
    jvp=(lambda t, shifts, dims: roll(t, shifts, dims),),
)  # fmt: skip

# --- copies and conversions -----------------------------------------------------------------------
# The tangent is copied too, so the copy's tangent is never the same tensor as the input's.
clone = defop("clone", grad_fn="CloneBackward0", forward=lambda x: x.copy(), shape=lambda x: x,
              onnx=lambda ox, x: x,
              vjp=(lambda g: g,), jvp=(lambda t: clone(t),))  # fmt: skip
contiguous = defop("contiguous", grad_fn="CloneBackward0", shape=lambda x: x,
                   onnx=lambda ox, x: x,
                   forward=lambda x: np.ascontiguousarray(x), vjp=(lambda g: g,),
                   jvp=(lambda t: contiguous(t),))  # fmt: skip


def _to_vjp(g: Any, x_dtype: Any) -> Any:
    return to_dtype(g, x_dtype, None)


to_dtype = defop(
    "to_dtype", grad_fn="ToCopyBackward0", shape=lambda x, dtype, x_dtype: Spec(x, dtype),
    onnx=lambda ox, x, dtype, x_dtype: ox.cast(x, dtype),
    forward=lambda x, dtype, x_dtype: x.astype(dtype, copy=True),
    vjp=(_to_vjp,),
    jvp=(lambda t, dtype, x_dtype: to_dtype(t, dtype, x_dtype),),
)  # fmt: skip


def _copy_check(x: Any, src: Any) -> None:
    from .pointwise import broadcast_check

    broadcast_check(x, src)


def _copy_shape(x: Any, src: Any) -> Spec:
    if np.broadcast_shapes(x, shape_of(src)) != x:
        raise ValueError("src cannot be broadcast to the target's shape")
    return Spec(x, x.dtype)


copy = defop(
    "copy", grad_fn="CopyBackwards", broadcasting=True, shape=_copy_shape,
    onnx=lambda ox, x, src: ox.op("Expand", ox.cast(src, ox.dtype(x)), ox.op("Shape", x)),
    forward=lambda x, src: np.broadcast_to(np.asarray(src), x.shape).astype(x.dtype),
    vjp=(lambda g: zeros_like(g),
         lambda g: g),
    jvp=(lambda t: zeros_like(t),
         lambda t: t),
    check=_copy_check,
)  # fmt: skip


def _fill_onnx(ox: Any, x: str, value: Any) -> str:
    return ox.op("Expand", ox.const(value, ox.dtype(x)), ox.op("Shape", x))


# In-place fill_ and zero_ record these (PyTorch's names); the old values get no gradient.
fill = defop("fill", grad_fn="FillBackward2", forward=lambda x, value: np.full_like(x, value),
             onnx=_fill_onnx,
             shape=lambda x, value: x,
             vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
zero = defop("zero", grad_fn="ZeroBackward0", forward=lambda x: np.zeros_like(x),
             onnx=lambda ox, x: _fill_onnx(ox, x, 0),
             shape=lambda x: x,
             vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
