"""Indexing ops: `x[key]` (select, slice, advanced index), `index_put` for `x[key] = v`,
`index_select`, `gather`, `scatter`, `scatter_add`, `masked_fill`. Each forward has a partner op
that is its transpose, so that gradients of gradients exist."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..backend import branchless_where
from .pointwise import broadcast_check, where, zeros_like
from .registry import defop, shape_of

__all__ = [
    "select", "slice_", "index", "index_backward", "index_put", "copy_slices", "index_select",
    "index_select_backward", "gather", "scatter_zeros", "scatter", "scatter_value", "setitem_check",
    "scatter_add", "masked_fill", "zero_at",
]  # fmt: skip


def _index_backward_fwd(g: np.ndarray, key: Any, shape: tuple[int, ...]) -> np.ndarray:
    # Transpose of x[key]: a zero tensor of x's shape with g added at key (repeated indices sum).
    z = np.zeros(shape, g.dtype)
    np.add.at(z, key, g)
    return z


index_backward = defop(
    "index_backward", grad_fn="IndexPutBackward0",
    forward=_index_backward_fwd,
    vjp=(lambda g, key, shape: index(g, key, shape),),
    jvp=(lambda t, key, shape: index_backward(t, key, shape),),
)  # fmt: skip


def _ib(g: Any, key: Any, x_shape: tuple[int, ...]) -> Any:
    return index_backward(g, key, x_shape)


def key_shape(shape: tuple[int, ...], key: Any) -> tuple[int, ...]:
    """The shape of `x[key]` for an x of `shape`, by NumPy's indexing rules, without reading
    the index arrays' values (a boolean mask counts its True elements)."""
    items = list(key) if isinstance(key, tuple) else [key]
    if any(isinstance(k, bool | np.bool_) or isinstance(k, np.ndarray) and k.dtype == np.bool_
           and not k.ndim for k in items):  # fmt: skip
        # A boolean scalar (rare): NumPy's own rule, on a one-element view.
        return tuple(np.broadcast_to(np.zeros((), np.int8), shape)[key].shape)
    # Boolean masks select like the integer arrays of their nonzero() positions.
    flat: list[Any] = []
    for k in items:
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            flat += [(int(np.count_nonzero(k)),)] * k.ndim
        elif isinstance(k, np.ndarray):
            flat.append(tuple(k.shape))
        else:
            flat.append(k)
    arrays = [k for k in flat if isinstance(k, tuple)]
    used = sum(1 for k in flat if k is not None and k is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, but "
                         f"{used} were indexed")  # fmt: skip
    if Ellipsis in flat:
        i = flat.index(Ellipsis)
        flat[i : i + 1] = [slice(None)] * (len(shape) - used)
    flat += [slice(None)] * (len(shape) - sum(1 for k in flat if k is not None))
    # With an array in the key, integers are advanced indices too (0-d arrays).
    adv = [i for i, k in enumerate(flat) if isinstance(k, tuple) or arrays and isinstance(
        k, int | np.integer)]  # fmt: skip
    bshape = tuple(np.broadcast_shapes(*[k if isinstance(k, tuple) else () for k in
                                         (flat[i] for i in adv)])) if adv else ()  # fmt: skip
    out: list[Any] = []
    dim = 0
    for i, k in enumerate(flat):
        if k is None:
            out.append(1)
            continue
        n = shape[dim]
        dim += 1
        if i in adv:
            if not out or out[-1] != "adv":
                out.append("adv")
            if isinstance(k, int | np.integer) and not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for axis {dim - 1} with size {n}")
        elif isinstance(k, slice):
            out.append(len(range(*k.indices(n))))
        elif not -n <= k < n:
            raise IndexError(f"index {k} is out of bounds for axis {dim - 1} with size {n}")
    if out.count("adv") > 1:  # advanced indices apart: their dims go first
        out = ["adv"] + [m for m in out if m != "adv"]
    res: list[int] = []
    for m in out:
        res += list(bshape) if m == "adv" else [m]
    return tuple(res)


def _index_onnx(ox: Any, x: str, key: Any, x_shape: Any = None) -> str:
    # x[key] with ints, slices, None and ...: one Slice, a Gather per int (last dims first, so
    # the dims before keep their numbers), one Unsqueeze. One index tensor (or array) among full
    # slices, x[:, idx], is a Gather along its dim.
    key = key if isinstance(key, tuple) else (key,)
    n = ox.rank(x) - sum(k is not None and k is not Ellipsis for k in key)
    full = [j for k in key for j in ([slice(None)] * n if k is Ellipsis else [k])]
    dims = [k for k in full if k is not None]  # one entry per dim of x
    arrays = [d for d, k in enumerate(dims) if isinstance(k, str | np.ndarray)]
    if arrays:
        d, k = arrays[0], dims[arrays[0]]
        whole = all(isinstance(j, slice) and j.start is None and j.stop is None and j.step is None
                    for j in full if j is not k)  # fmt: skip
        mask = (ox.dtype(k) if isinstance(k, str) else k.dtype).kind == "b"
        if len(arrays) > 1 or not whole or mask:
            ox.fail("ONNX export takes ints, slices, None, ... and one integer index tensor "
                    "among full slices (x[:, idx]) as index keys")  # fmt: skip
        return ox.op("Gather", x, k if isinstance(k, str) else ox.const(k), axis=d)
    starts, ends, axes, steps, ints, new = [], [], [], [], [], []
    dim = out = 0
    for k in full:
        if k is None:
            new.append(out)
            out += 1
        elif isinstance(k, slice):
            if k.start is not None or k.stop is not None or k.step is not None:
                starts.append(0 if k.start is None else k.start)
                ends.append(2**63 - 1 if k.stop is None else k.stop)
                axes.append(dim)
                steps.append(1 if k.step is None else k.step)
            dim, out = dim + 1, out + 1
        else:
            ints.append((dim, k))
            dim += 1
    y = x
    if axes:
        y = ox.op("Slice", y, ox.ints(starts), ox.ints(ends), ox.ints(axes), ox.ints(steps))
    for d, i in reversed(ints):
        y = ox.op("Gather", y, ox.size(i, np.int64), axis=d)  # a 0-d index drops the dim
    return ox.op("Unsqueeze", y, ox.ints(new)) if new else y


# Basic indexing returns views; PyTorch names each step (select, slice, unsqueeze), so do we.
# Indexing is linear: a tangent is indexed like its primal.
select = defop("select", grad_fn="SelectBackward0", view=True,
               onnx=_index_onnx,
               forward=lambda x, key, x_shape: x[key], vjp=(_ib,),
               jvp=(lambda t, key, x_shape: select(t, key, x_shape),),
               shape=lambda x, key, x_shape: key_shape(x, key))  # fmt: skip
slice_ = defop("slice", grad_fn="SliceBackward0", view=True,
               onnx=_index_onnx,
               forward=lambda x, key, x_shape: x[key], vjp=(_ib,),
               jvp=(lambda t, key, x_shape: slice_(t, key, x_shape),),
               shape=lambda x, key, x_shape: key_shape(x, key))  # fmt: skip
index = defop("index", grad_fn="IndexBackward0",
              onnx=_index_onnx,
              forward=lambda x, key, x_shape=None: x[key], vjp=(_ib,),
              jvp=(lambda t, key: index(t, key, tuple(t.shape)),),
              shape=lambda x, key, x_shape=None: key_shape(x, key))  # fmt: skip


def _zero_at_fwd(x: np.ndarray, key: Any) -> np.ndarray:
    r = np.array(x)  # a writable copy; x.copy() of a 0-d gradient can be a NumPy scalar
    r[key] = 0
    return r


zero_at = defop("zero_at", grad_fn="IndexPutBackward0", forward=_zero_at_fwd,
                vjp=(lambda g, key: zero_at(g, key),),
                jvp=(lambda t, key: zero_at(t, key),))  # fmt: skip


def _index_put_fwd(x: np.ndarray, v: Any, key: Any) -> np.ndarray:
    r = np.array(x)  # as in zero_at: a writable copy even of a NumPy scalar
    r[key] = v
    return r


def _index_put_v(g: Any, v: Any, key: Any) -> Any:
    from .reduction import sum_to_size

    gv = index(g, key, tuple(g.shape))
    vs = tuple(getattr(v, "shape", ()))
    if tuple(gv.shape) != vs:
        gv = sum_to_size(gv, vs, gv.shape)
    return gv


def setitem_check(x: Any, v: Any, key: Any, advanced: bool) -> None:
    """Raise PyTorch's error when `v` cannot be assigned to `x[key]`."""
    if not hasattr(v, "shape"):
        return  # a number fits anywhere
    target = np.broadcast_to(np.zeros((), np.int8), tuple(x.shape))[key].shape
    vs = tuple(v.shape)
    if advanced:
        try:
            fits = np.broadcast_shapes(vs, target) == target
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"shape mismatch: value tensor of shape {list(vs)} cannot be "
                               f"broadcast to indexing result of shape {list(target)}")  # fmt: skip
        return
    from .shape import _expand_check

    _expand_check(v, target, vs)


# x[key] = v: PyTorch records IndexPutBackward0 for an advanced key and CopySlices for a basic
# one (a copy into a slice view); the forward and the rules are the same. The output's tangent is
# x's with v's written at key: x contributes its tangent zeroed there, v its tangent put into zeros.
def _index_put_shape(x: tuple[int, ...], v: Any, key: Any) -> tuple[int, ...]:
    target = key_shape(x, key)
    if np.broadcast_shapes(shape_of(v), target) != target:
        raise ValueError("the value does not broadcast to the indexed part")
    return x


index_put = defop(
    "index_put", grad_fn="IndexPutBackward0", dtype=lambda vals: vals[0].dtype,
    shape=_index_put_shape,
    forward=_index_put_fwd,
    vjp=(lambda g, key: zero_at(g, key),
         _index_put_v),
    jvp=(lambda t, key: zero_at(t, key),
         lambda t, x, key: index_put(zeros_like(x), t, key)),
    check=lambda x, v, key: setitem_check(x, v, key, True),
)  # fmt: skip
copy_slices = defop(
    "copy_slices", grad_fn="CopySlices", dtype=lambda vals: vals[0].dtype, shape=_index_put_shape,
    forward=_index_put_fwd,
    vjp=(lambda g, key: zero_at(g, key),
         _index_put_v),
    jvp=(lambda t, key: zero_at(t, key),
         lambda t, x, key: copy_slices(zeros_like(x), t, key)),
    check=lambda x, v, key: setitem_check(x, v, key, False),
)  # fmt: skip


def _lift(a: Any) -> Any:
    # PyTorch's dim ops treat a 0-d tensor (input, index or source) as one element along dim 0.
    return a.reshape(1) if isinstance(a, np.ndarray) and a.ndim == 0 else a


def _isb_fwd(g: np.ndarray, dim: int, idx: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) == 0:
        return _isb_fwd(g.reshape(-1), 0, idx, (1,)).reshape(())
    z = np.zeros(shape, g.dtype)
    key = (slice(None),) * dim + (idx,)
    np.add.at(z, key, g)
    return z


index_select_backward = defop(
    "index_select_backward", grad_fn="IndexAddBackward0", forward=_isb_fwd,
    vjp=(lambda g, dim, idx: index_select(g, dim, idx),),
    jvp=(lambda t, dim, idx, shape: index_select_backward(t, dim, idx, shape),),
)  # fmt: skip


def _index_select_check(x: Any, dim: int, idx: Any) -> None:
    if getattr(idx, "ndim", 1) > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    n = x.shape[dim]
    data = np.asarray(getattr(idx, "_data", idx))
    if data.size and (data.max() >= n or data.min() < 0):
        bad = int(data.max()) if data.max() >= n else int(data.min())
        raise IndexError(f"index out of range in self (index {bad} for dimension {dim} of size "
                         f"{n})")  # fmt: skip


def _index_select_fwd(x: np.ndarray, dim: int, idx: np.ndarray) -> np.ndarray:
    _nonnegative(np.asarray(idx))
    if x.ndim == 0:
        return np.take(x.reshape(1), idx, axis=0).reshape(())
    return np.take(x, idx, axis=dim)


def _index_select_shape(x: tuple[int, ...], dim: int, idx: Any) -> tuple[int, ...]:
    if not x:
        return x
    d = dim % len(x) if -len(x) <= dim < len(x) else None
    if d is None:
        raise IndexError(f"axis {dim} is out of bounds for array of dimension {len(x)}")
    return (*x[:d], *shape_of(idx), *x[d + 1 :])


def _index_select_onnx(ox: Any, x: str, dim: int, idx: Any) -> str:
    return ox.op("Gather", x, idx if isinstance(idx, str) else ox.const(idx), axis=dim)


index_select = defop(
    "index_select", grad_fn="IndexSelectBackward0", shape=_index_select_shape,
    onnx=_index_select_onnx,
    forward=_index_select_fwd,
    vjp=(lambda g, dim, idx, x: index_select_backward(g, dim, idx, x.shape),),
    jvp=(lambda t, dim, idx: index_select(t, dim, idx),),
    check=_index_select_check,
)  # fmt: skip
# The rule needs only x's shape; reading it from the saved input keeps the declaration short.


def _scatter_zeros_fwd(src: np.ndarray, dim: int, idx: np.ndarray, shape: Any) -> np.ndarray:
    if len(shape) == 0:
        return _scatter_zeros_fwd(_lift(src), 0, _lift(idx), (1,)).reshape(())
    z = np.zeros(shape, src.dtype)
    if idx.shape[dim] == 1 and src.shape == idx.shape:
        # One index per line along dim (a gather of one class per row, as the NLL loss takes):
        # no two values meet, and assignment is the scatter-add without np.add.at's pass. The
        # + 0.0 is the add into zeros: a -0.0 lands as +0.0, as PyTorch's scatter_add has it.
        z[_along(dim, idx)] = src + 0.0
    else:
        _scatter_add_into(z, dim, idx, src)
    return z


def open_mesh(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """`np.indices(shape, sparse=True)`: the index grids of gather and scatter along every dim
    but the indexed one; cached (read-only) for small shapes, where building them cost 3 of
    gather's 4.4 us on a (128, 10) input. Large ones are built each time (their length is the
    sum of the dims: a cache of them would hold megabytes per shape)."""
    if sum(shape) <= _MESH_CACHED:
        return _cached_mesh(shape)
    return tuple(np.indices(shape, sparse=True))


_MESH_CACHED = 1 << 12


@functools.lru_cache(maxsize=64)
def _cached_mesh(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    grids = np.indices(shape, sparse=True)
    for g in grids:
        g.flags.writeable = False
    return tuple(grids)


def _along(dim: int, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    # The fancy index of gather and scatter: idx along dim, the open mesh of its shape elsewhere.
    mesh = open_mesh(idx.shape)
    return (*mesh[:dim], idx, *mesh[dim + 1 :])


def _scatter_add_into(z: np.ndarray, dim: int, idx: np.ndarray, src: np.ndarray) -> None:
    # np.add.at with the full open-mesh index: repeated indices accumulate.
    np.add.at(z, _along(dim, idx), src[tuple(slice(0, n) for n in idx.shape)])


scatter_zeros = defop(
    "scatter_zeros", grad_fn="ScatterAddBackward0",
    forward=_scatter_zeros_fwd,
    vjp=(lambda g, dim, idx: gather(g, dim, idx),),
    jvp=(lambda t, dim, idx, shape: scatter_zeros(t, dim, idx, shape),),
)  # fmt: skip


def _gather_check(x: Any, dim: int, idx: Any) -> None:
    idt = getattr(idx, "dtype", None)
    if idt is not None and getattr(idt, "name", str(idt)) != "int64":
        raise RuntimeError("gather(): Expected dtype int64 for index")
    if len(idx.shape) != len(x.shape):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    data = np.asarray(getattr(idx, "_data", idx))
    n = x.shape[dim]
    if data.size and (data.max() >= n or data.min() < 0):
        bad = int(data.max()) if data.max() >= n else int(data.min())
        raise RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {n}")


def _nonnegative(idx: np.ndarray) -> None:
    # PyTorch's gather, scatter and index_select do not count indices from the end, as NumPy's
    # indexing would: a negative one is out of bounds (IndexError: apply then raises the op's
    # check message, which names it).
    if idx.size and idx.min() < 0:
        raise IndexError("negative index")


def _gather_fwd(x: np.ndarray, dim: int, idx: np.ndarray) -> np.ndarray:
    if idx.ndim != x.ndim or idx.dtype.kind not in "iu":
        raise ValueError("bad index")
    if x.ndim == 0:
        return _gather_fwd(x.reshape(1), 0, idx.reshape(1)).reshape(())
    # An index outside [0, n) raises IndexError, which apply turns into _gather_check's message.
    _nonnegative(idx)
    return x[_along(dim, idx)]


def _gather_shape(x: tuple[int, ...], dim: int, idx: Any) -> tuple[int, ...]:
    s = shape_of(idx)
    if len(s) != len(x) or np.dtype(idx.dtype).kind not in "iu":
        raise ValueError("bad index")
    return s


def _gather_onnx(ox: Any, x: str, dim: int, idx: Any) -> str:
    return ox.op("GatherElements", x, idx if isinstance(idx, str) else ox.const(idx), axis=dim)


gather = defop(
    "gather", grad_fn="GatherBackward0", shape=_gather_shape,
    onnx=_gather_onnx,
    forward=_gather_fwd,
    vjp=(lambda g, dim, idx, x: scatter_zeros(g, dim, idx, x.shape),),
    jvp=(lambda t, dim, idx: gather(t, dim, idx),),
    check=_gather_check,
)  # fmt: skip


def _scatter_fwd(x: np.ndarray, dim: int, idx: np.ndarray, src: Any) -> np.ndarray:
    if x.ndim == 0:
        return _scatter_fwd(x.reshape(1), 0, _lift(idx), _lift(src)).reshape(())
    _nonnegative(idx)
    r = x.copy()
    key = _along(dim, idx)
    if isinstance(src, np.ndarray) and src.ndim:
        r[key] = src[tuple(slice(0, n) for n in idx.shape)]
    else:
        r[key] = src
    return r


def _scatter_x(g: Any, dim: int, idx: Any) -> Any:
    return scatter_value(g, dim, idx, 0)


def _src_grad(g: Any, dim: int, idx: Any, src: Any, grad_fn: str) -> Any:
    # PyTorch's src gradient is g gathered at the index: the index's shape. Its engine then
    # sums it down to src's shape when src broadcasts to it (an empty index: zeros) and
    # rejects it otherwise (a src larger than the index); do the same.
    gs = gather(g, dim, idx)
    have, want = tuple(gs.shape), tuple(src.shape)
    if have == want:
        return gs
    try:
        fits = np.broadcast_shapes(want, have) == have
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(
            f"Function {grad_fn} returned an invalid gradient at index 1 - got {list(have)} but "
            f"expected shape compatible with {list(want)}"
        )
    from .reduction import sum_to_size

    return sum_to_size(gs, want, have)


scatter = defop(
    "scatter", grad_fn="ScatterBackward0", n_inputs=4, shape=lambda x, dim, idx, src: x,
    forward=_scatter_fwd,
    vjp=(_scatter_x, None, None,
         lambda g, dim, idx, src: _src_grad(g, dim, idx, src, "ScatterBackward0")),
    jvp=(_scatter_x, None, None, lambda t, x, dim, idx: scatter(zeros_like(x), dim, idx, t)),
    check=lambda x, dim, idx, src: _gather_check(x, dim, idx),
)  # fmt: skip
scatter_value = defop(
    "scatter_value", grad_fn="ScatterBackward1", shape=lambda x, dim, idx, src: x,
    forward=_scatter_fwd,
    vjp=(_scatter_x,),
    jvp=(_scatter_x,),
    check=lambda x, dim, idx, src: _gather_check(x, dim, idx),
)  # fmt: skip


def _scatter_add_fwd(x: np.ndarray, dim: int, idx: np.ndarray, src: np.ndarray) -> np.ndarray:
    if x.ndim == 0:
        return _scatter_add_fwd(x.reshape(1), 0, _lift(idx), _lift(src)).reshape(())
    _nonnegative(idx)
    r = x.copy()
    _scatter_add_into(r, dim, idx, src)
    return r


scatter_add = defop(
    "scatter_add", grad_fn="ScatterAddBackward0", n_inputs=4, shape=lambda x, dim, idx, src: x,
    forward=_scatter_add_fwd,
    vjp=(lambda g: g, None, None,
         lambda g, dim, idx, src: _src_grad(g, dim, idx, src, "ScatterAddBackward0")),
    jvp=(lambda t: t, None, None,
         lambda t, dim, idx, x: scatter_zeros(t, dim, idx, tuple(x.shape))),
    check=lambda x, dim, idx, src: _gather_check(x, dim, idx),
)  # fmt: skip


def _masked_fill_fwd(x: np.ndarray, mask: np.ndarray, value: Any) -> np.ndarray:
    if mask.dtype != np.bool_:
        raise TypeError("masked_fill only supports boolean masks")
    return branchless_where(mask, np.asarray(value, dtype=x.dtype), x)


def _masked_fill_check(x: Any, mask: Any, value: Any) -> None:
    md = getattr(mask, "dtype", None)
    if md is not None and getattr(md, "name", str(md)) != "bool":
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{getattr(md, 'name', md)}")  # fmt: skip
    broadcast_check(x, mask)


def _masked_fill_shape(x: tuple[int, ...], mask: Any, value: Any) -> tuple[int, ...]:
    if getattr(mask, "dtype", None) != np.bool_:
        raise TypeError("masked_fill only supports boolean masks")
    return tuple(np.broadcast_shapes(x, shape_of(mask)))


def _masked_fill_onnx(ox: Any, x: str, mask: str, value: Any) -> str:
    d = ox.dtype(x)
    fill = ox.cast(value, d) if isinstance(value, str) else ox.const(value, d)
    return ox.op("Where", mask, fill, x)


masked_fill = defop(
    "masked_fill", grad_fn="MaskedFillBackward0", broadcasting=True, shape=_masked_fill_shape,
    onnx=_masked_fill_onnx,
    forward=_masked_fill_fwd,
    vjp=(lambda g, mask: where(mask, 0.0, g), None),
    jvp=(lambda t, mask: masked_fill(t, mask, 0), None),
    check=_masked_fill_check,
)  # fmt: skip
