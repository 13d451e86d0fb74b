"""Reductions over all elements or over `dim` (int or tuple) with `keepdim`: sum, mean, prod,
max/min (values and indices), amax/amin, var/std, logsumexp, norm, argmax/argmin, all/any."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..backend import extreme, mean
from ..backend import sum_to_shape as _sum_to_shape
from .registry import Spec, defop
from .shape import expand, reshape

__all__ = [
    "sum_all", "sum_dim", "mean_all", "mean_dim", "prod_all", "prod_dim", "max_all", "min_all",
    "max_dim", "min_dim", "amax", "amin", "var", "std", "logsumexp", "norm", "argmax", "argmin",
    "all_", "any_", "keep_shape", "sum_to_size", "even_mask", "prod_others",
]  # fmt: skip


def keep_shape(shape: tuple[int, ...], dims: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` with the reduced `dims` kept as size 1."""
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _unreduce(g: Any, dims: tuple[int, ...], keepdim: bool, shape: tuple[int, ...]) -> Any:
    # Bring a reduced gradient back to the input's shape (a view: expand of a reshape).
    if not keepdim:
        g = reshape(g, keep_shape(shape, dims), tuple(g.shape))
    return expand(g, shape, g.shape)


def _reduce(t: Any, dims: tuple[int, ...] | None, keepdim: bool) -> Any:
    # Sum a (weighted) tangent over the dims the forward reduced (None: all of them), keeping
    # them as the forward did. Over a 0-d tensor nothing is reduced.
    shape = tuple(t.shape)
    if not shape:
        return t
    if dims is None and not keepdim:
        return sum_all(t, shape)
    return sum_dim(t, tuple(range(len(shape))) if dims is None else dims, keepdim, shape)


def _count(shape: tuple[int, ...], dims: tuple[int, ...]) -> int:
    n = 1
    for d in dims:
        n *= shape[d]
    return n


def _sum_dtype(x: np.ndarray) -> Any:
    # PyTorch sums bool and integer tensors as int64.
    return np.int64 if x.dtype.kind in "biu" else None


def _reduced_shape(x: tuple[int, ...], dims: Any, keepdim: bool,
                   empty: str | None = None) -> tuple[int, ...]:  # fmt: skip
    """Shape rule of a reduction over `dims` (an int, a tuple, or None: all), as NumPy reduces;
    `empty` names a reduction that has no identity (max): it refuses an empty extent."""
    n = len(x)
    if dims is None:
        axes = set(range(n))
    else:
        axes = set()
        for d in (dims,) if isinstance(dims, int | np.integer) else dims:
            if not -n <= d < n:
                raise ValueError(f"axis {d} is out of bounds for array of dimension {n}")
            axes.add(int(d) % n)
    if empty is not None and any(x[i] == 0 for i in axes):
        raise ValueError(f"zero-size array to reduction operation {empty} which has no identity")
    return tuple(1 if i in axes else m for i, m in enumerate(x) if keepdim or i not in axes)


def _sum_shape(x: Any, dims: Any, keepdim: bool, *rest: Any) -> Spec:
    return Spec(_reduced_shape(x, dims, keepdim), _sum_dtype(x) or x.dtype)


def _sum_all_onnx(ox: Any, x: str, shape: tuple[int, ...]) -> str:
    return ox.op("ReduceSum", ox.cast(x, ox.out_dtype), keepdims=0)  # ints sum as int64


def _reduce_onnx(ox: Any, kind: str, x: str, dims: Any, keepdim: bool) -> str:
    # ONNX reduces every dim when given none; NumPy's axis=() (the forward's) reduces none.
    dims = (dims,) if isinstance(dims, int) else dims
    x = ox.cast(x, ox.out_dtype)  # integers sum as int64
    if dims is not None and len(dims) == 0:
        return x
    return ox.op(kind, x, None if dims is None else ox.ints(dims), keepdims=int(keepdim))


# --- sum / mean ---------------------------------------------------------------------------------
sum_all = defop(
    "sum_all", grad_fn="SumBackward0",
    onnx=_sum_all_onnx,
    forward=lambda x, shape: np.asarray(x.sum(dtype=_sum_dtype(x))),
    vjp=(lambda g, shape: expand(g, shape, g.shape),),
    jvp=(lambda t, shape: sum_all(t, shape),),
    shape=lambda x, shape: Spec((), _sum_dtype(x) or x.dtype),
)  # fmt: skip
sum_dim = defop(
    "sum_dim", grad_fn="SumBackward1", shape=_sum_shape,
    onnx=lambda ox, x, dims, keepdim, shape: _reduce_onnx(ox, "ReduceSum", x, dims, keepdim),
    forward=lambda x, dims, keepdim, shape: x.sum(axis=dims, keepdims=keepdim,
                                                  dtype=_sum_dtype(x)),
    vjp=(lambda g, dims, keepdim, shape: _unreduce(g, dims, keepdim, shape),),
    jvp=(lambda t, dims, keepdim, shape: sum_dim(t, dims, keepdim, shape),),
)  # fmt: skip
mean_all = defop(
    "mean_all", grad_fn="MeanBackward0",
    onnx=lambda ox, x, shape: ox.op("ReduceMean", x, keepdims=0),
    forward=lambda x, shape: mean(x),
    vjp=(lambda g, shape: expand(g / max(int(math.prod(shape)), 1), shape, g.shape),),
    jvp=(lambda t, shape: mean_all(t, shape),),
    shape=lambda x, shape: (),
)  # fmt: skip
mean_dim = defop(
    "mean_dim", grad_fn="MeanBackward1",
    onnx=lambda ox, x, dims, keepdim, shape: _reduce_onnx(ox, "ReduceMean", x, dims, keepdim),
    shape=lambda x, dims, keepdim, shape: _reduced_shape(x, dims, keepdim),
    forward=lambda x, dims, keepdim, shape: mean(x, dims, keepdim),
    vjp=(lambda g, dims, keepdim, shape: _unreduce(g / max(_count(shape, dims), 1), dims,
                                                   keepdim, shape),),
    jvp=(lambda t, dims, keepdim, shape: mean_dim(t, dims, keepdim, shape),),
)  # fmt: skip


sum_to_size = defop(
    "sum_to_size", grad_fn="SumBackward1",
    forward=lambda x, shape, x_shape: _sum_to_shape(x, shape),
    vjp=(lambda g, x_shape: expand(g, x_shape, g.shape),),
    jvp=(lambda t, shape, x_shape: sum_to_size(t, shape, x_shape),),
    shape=lambda x, shape, x_shape: shape,
)  # fmt: skip


# --- prod ---------------------------------------------------------------------------------------
def _prod_others_fwd(x: np.ndarray, dim: int | None) -> np.ndarray:
    # prod of all other elements along dim (or of all), exact even with zeros: exclusive
    # cumulative products from both ends.
    if x.ndim == 0 or x.size == 0:
        return np.ones_like(x)
    a = x.reshape(-1) if dim is None else np.moveaxis(x, dim, -1)
    ones = np.ones(a.shape[:-1] + (1,), a.dtype)
    left = np.cumprod(np.concatenate([ones, a[..., :-1]], -1), -1)
    right = np.flip(np.cumprod(np.concatenate([ones, np.flip(a, -1)[..., :-1]], -1), -1), -1)
    r = left * right
    return r.reshape(x.shape) if dim is None else np.moveaxis(r, -1, dim)


def _prod_others_vjp(g: Any, x: Any, dim: int | None, out: Any) -> Any:
    # d others_i / d x_k = others_i / x_k for k != i: exact where x has no zeros.
    if len(x.shape) == 0:
        return g * 0
    if bool((x == 0).any()):
        return _prod_pairs(g, x, dim)
    s = sum_all(g * out, x.shape) if dim is None else sum_dim(g * out, (dim,), True, x.shape)
    return (s - g * out) / x


def _prod_pairs(g: Any, x: Any, dim: int | None) -> Any:
    # sum_{i != k} g_i * prod_{j not in (i, k)} x_j for every k, without dividing by x. Row k of
    # y is x with x_k replaced by 1, so prod_others of that row at i is the product we need.
    from .pointwise import where
    from .shape import transpose, unsqueeze

    shape = tuple(x.shape)
    last = len(shape) - 1
    if dim is None:
        xm, gm, last = reshape(x, (-1,), shape), reshape(g, (-1,), tuple(g.shape)), 0
    else:
        xm, gm = transpose(x, dim, last), transpose(g, dim, last)
    eye = np.eye(xm.shape[-1], dtype=bool)
    y = where(eye, 1, unsqueeze(xm, last))
    pairs = prod_others(y, last + 1) * unsqueeze(gm, last)
    r = sum_dim(where(eye, 0, pairs), (last + 1,), False, tuple(pairs.shape))
    return reshape(r, shape, tuple(r.shape)) if dim is None else transpose(r, dim, last)


# The Jacobian of prod_others is symmetric (entry (i, k) is the product of all but x_i and x_k),
# so its vjp rule is also its jvp rule.
prod_others = defop("prod_others", grad_fn="ProdBackward", forward=_prod_others_fwd,
                    vjp=(_prod_others_vjp,), jvp=(_prod_others_vjp,))  # fmt: skip
prod_all = defop(
    "prod_all", grad_fn="ProdBackward0",
    forward=lambda x: np.asarray(x.prod(dtype=_sum_dtype(x))),
    vjp=(lambda g, x: g * prod_others(x, None),),
    jvp=(lambda t, x: _reduce(t * prod_others(x, None), None, False),),
    shape=lambda x: Spec((), _sum_dtype(x) or x.dtype),
)  # fmt: skip
prod_dim = defop(
    "prod_dim", grad_fn="ProdBackward1",
    shape=lambda x, dim, keepdim: _sum_shape(x, dim if x else None, keepdim),
    forward=lambda x, dim, keepdim: x.prod(axis=dim if x.ndim else None, keepdims=keepdim,
                                           dtype=_sum_dtype(x)),
    vjp=(lambda g, x, dim, keepdim: _unreduce(g, (dim,), keepdim, x.shape) * prod_others(x, dim),),
    jvp=(lambda t, x, dim, keepdim: _reduce(t * prod_others(x, dim), (dim,), keepdim),),
)  # fmt: skip


# --- max / min ------------------------------------------------------------------------------------
def _even_mask_fwd(x: np.ndarray, m: np.ndarray, dims: Any) -> np.ndarray:
    # 1/count at the positions that attain the extreme value (PyTorch spreads ties evenly).
    hit = (x == m).astype(x.dtype)
    return hit / hit.sum(axis=dims, keepdims=True)


even_mask = defop("even_mask", grad_fn="EvenMask", n_inputs=2, forward=_even_mask_fwd)


def _ext_all_vjp(g: Any, x: Any, out: Any) -> Any:
    return g * even_mask(x, out, None)


def _ext_all_jvp(t: Any, x: Any, out: Any) -> Any:
    return _reduce(t * even_mask(x, out, None), None, False)


max_all = defop("max_all", grad_fn="MaxBackward1", forward=lambda x: np.asarray(x.max()),
                onnx=lambda ox, x: ox.op("ReduceMax", x, keepdims=0),
                vjp=(_ext_all_vjp,), jvp=(_ext_all_jvp,), shape=lambda x: ())  # fmt: skip
min_all = defop("min_all", grad_fn="MinBackward1", forward=lambda x: np.asarray(x.min()),
                onnx=lambda ox, x: ox.op("ReduceMin", x, keepdims=0),
                vjp=(_ext_all_vjp,), jvp=(_ext_all_jvp,), shape=lambda x: ())  # fmt: skip


def _amax_vjp(g: Any, x: Any, dims: tuple[int, ...], keepdim: bool, out: Any) -> Any:
    shape = x.shape
    return _unreduce(g, dims, keepdim, shape) * even_mask(
        x, _unreduce(out, dims, keepdim, shape), dims
    )


def _amax_jvp(t: Any, x: Any, dims: tuple[int, ...], keepdim: bool, out: Any) -> Any:
    # The mean of the tangents over the positions that attain the extreme (ties share evenly).
    w = even_mask(x, _unreduce(out, dims, keepdim, x.shape), dims)
    return _reduce(t * w, dims, keepdim)


amax = defop("amax", grad_fn="AmaxBackward0",
             onnx=lambda ox, x, dims, keepdim: _reduce_onnx(ox, "ReduceMax", x, dims, keepdim),
             shape=lambda x, dims, keepdim: _reduced_shape(x, dims, keepdim, "maximum"),
             forward=lambda x, dims, keepdim: extreme(x, dims, keepdim, np.maximum),
             vjp=(_amax_vjp,), jvp=(_amax_jvp,))  # fmt: skip
amin = defop("amin", grad_fn="AminBackward0",
             onnx=lambda ox, x, dims, keepdim: _reduce_onnx(ox, "ReduceMin", x, dims, keepdim),
             shape=lambda x, dims, keepdim: _reduced_shape(x, dims, keepdim, "minimum"),
             forward=lambda x, dims, keepdim: extreme(x, dims, keepdim, np.minimum),
             vjp=(_amax_vjp,), jvp=(_amax_jvp,))  # fmt: skip


def _ext_dim_fwd(x: np.ndarray, dim: int, keepdim: bool, arg: Any) -> tuple[np.ndarray, ...]:
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    idx = arg(x, axis=dim, keepdims=True)
    vals = np.take_along_axis(x, idx, axis=dim)
    if not keepdim:
        vals, idx = vals.squeeze(dim), idx.squeeze(dim)
    return vals, idx.astype(np.int64, copy=False)


def _ext_dim_vjp(g: Any, x: Any, dim: int, keepdim: bool, out: Any) -> Any:
    from .indexing import scatter_zeros

    g0 = g[0]
    if len(x.shape) == 0:
        return g0
    # The indices are an attribute of the scatter, not a differentiable input: pass the array.
    idx = getattr(out[1], "_data", out[1])
    if not keepdim:
        g0 = reshape(g0, keep_shape(x.shape, (dim,)), tuple(g0.shape))
        idx = idx.reshape(keep_shape(x.shape, (dim,)))
    return scatter_zeros(g0, dim, idx, x.shape)


def _ext_dim_jvp(t: Any, dim: int, keepdim: bool, out: Any) -> tuple[Any, None]:
    from .indexing import gather

    if len(t.shape) == 0:
        return t, None
    # The tangent at the index the forward picked (the indices themselves have none).
    idx = getattr(out[1], "_data", out[1])
    if not keepdim:
        idx = np.expand_dims(idx, dim)
    r = gather(t, dim, idx)
    if not keepdim:
        r = reshape(r, tuple(out[0].shape), tuple(r.shape))
    return r, None


def _ext_dim_shape(x: Any, dim: int, keepdim: bool) -> tuple[Spec, Spec]:
    # (values, int64 indices) over one dim; a 0-d input is its own extreme, at index 0.
    if not x:
        return Spec(x, x.dtype), Spec((), np.int64)
    if not -len(x) <= dim < len(x):
        raise ValueError(f"axis {dim} is out of bounds for array of dimension {len(x)}")
    if x[dim] == 0:
        raise ValueError("attempt to get argmax of an empty sequence")
    s = _reduced_shape(x, dim, keepdim)
    return Spec(s, x.dtype), Spec(s, np.int64)


def _ext_dim_onnx(ox: Any, kind: str, x: str, dim: int, keepdim: bool) -> tuple[str, str]:
    if ox.rank(x) == 0:
        return x, ox.const(0, np.int64)
    vals = ox.op(f"Reduce{kind}", x, ox.ints([dim]), keepdims=int(keepdim))
    return vals, ox.op(f"Arg{kind}", x, axis=dim, keepdims=int(keepdim))  # the first, as NumPy


max_dim = defop("max_dim", grad_fn="MaxBackward0", n_outputs=2, shape=_ext_dim_shape,
                onnx=lambda ox, x, dim, keepdim: _ext_dim_onnx(ox, "Max", x, dim, keepdim),
                differentiable_outputs=(True, False),
                forward=lambda x, dim, keepdim: _ext_dim_fwd(x, dim, keepdim, np.argmax),
                vjp=(_ext_dim_vjp,), jvp=(_ext_dim_jvp,))  # fmt: skip
min_dim = defop("min_dim", grad_fn="MinBackward0", n_outputs=2, shape=_ext_dim_shape,
                onnx=lambda ox, x, dim, keepdim: _ext_dim_onnx(ox, "Min", x, dim, keepdim),
                differentiable_outputs=(True, False),
                forward=lambda x, dim, keepdim: _ext_dim_fwd(x, dim, keepdim, np.argmin),
                vjp=(_ext_dim_vjp,), jvp=(_ext_dim_jvp,))  # fmt: skip
def _arg_shape(x: Any, dim: int | None, keepdim: bool) -> Spec:
    if not x:  # NumPy takes dim 0 of a 0-d array as the array itself
        return Spec((), np.int64)
    s = _reduced_shape(x, dim, keepdim)
    if (0 in x) if dim is None else x[dim] == 0:
        raise ValueError("attempt to get argmax of an empty sequence")
    return Spec(s, np.int64)


def _arg_onnx(ox: Any, kind: str, x: str, dim: int | None, keepdim: bool) -> str:
    if dim is None:  # over the flattened tensor
        flat = ox.op(kind, ox.reshape(x, [-1]), axis=0, keepdims=0)
        return ox.reshape(flat, [1] * ox.rank(x)) if keepdim else flat
    return ox.op(kind, x, axis=dim, keepdims=int(keepdim))


argmax = defop("argmax", grad_fn="ArgmaxBackward", n_inputs=1, shape=_arg_shape,
               onnx=lambda ox, x, dim, keepdim: _arg_onnx(ox, "ArgMax", x, dim, keepdim),
               forward=lambda x, dim, keepdim: np.asarray(
                   np.argmax(x, axis=dim, keepdims=keepdim)).astype(np.int64))  # fmt: skip
argmin = defop("argmin", grad_fn="ArgminBackward", n_inputs=1, shape=_arg_shape,
               onnx=lambda ox, x, dim, keepdim: _arg_onnx(ox, "ArgMin", x, dim, keepdim),
               forward=lambda x, dim, keepdim: np.asarray(
                   np.argmin(x, axis=dim, keepdims=keepdim)).astype(np.int64))  # fmt: skip
all_ = defop(
    "all",
    grad_fn="AllBackward",
    n_inputs=1,
    shape=lambda x, dims, keepdim: Spec(_reduced_shape(x, dims, keepdim), np.bool_),
    forward=lambda x, dims, keepdim: np.asarray(np.all(x, axis=dims, keepdims=keepdim)),
)
any_ = defop(
    "any",
    grad_fn="AnyBackward",
    n_inputs=1,
    shape=lambda x, dims, keepdim: Spec(_reduced_shape(x, dims, keepdim), np.bool_),
    forward=lambda x, dims, keepdim: np.asarray(np.any(x, axis=dims, keepdims=keepdim)),
)


# --- statistics -------------------------------------------------------------------------------
def _var_fwd(x: np.ndarray, dims: Any, correction: float, keepdim: bool) -> np.ndarray:
    n = x.size if dims is None else _count(x.shape, dims)
    # PyTorch divides the sum of squares by max(0, n - correction): inf past the degrees of
    # freedom (nan where every deviation is 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.var(x, axis=dims, ddof=0, keepdims=keepdim) * n / max(n - correction, 0)
    return np.asarray(r).astype(x.dtype, copy=False)


def _centered(x: Any, dims: Any) -> tuple[Any, int]:
    from .reduction import mean_all, mean_dim

    if dims is None:
        return x - mean_all(x, x.shape), int(math.prod(x.shape))
    return x - mean_dim(x, dims, True, x.shape), _count(x.shape, dims)


def _dof_scale(k: float, n: int, correction: float) -> float:
    # k / (n - correction), infinite with no degrees of freedom left (times c = 0 gives NaN, as
    # PyTorch's gradient of the variance of one element is); negative past that, as PyTorch's.
    d = n - correction
    return k / d if d != 0 else float("inf")


def _var_weights(x: Any, c: Any, n: int, dims: Any, correction: float, k: float) -> Any:
    # d var / d x up to the factor k / 2 (k = 2 for var, 1 for std's chain rule): k c / dof.
    # Reducing over everything with no degrees of freedom left, PyTorch takes inf, or nan where
    # x equals the mean, instead of k c / dof's signs; over given dims, k c / dof as it is.
    if (dims is None or len(x.shape) == 0) and n - correction <= 0:
        from .pointwise import where

        return where(c == 0, c + float("nan"), c + float("inf"))
    return c * _dof_scale(k, n, correction)


def _var_vjp(g: Any, x: Any, dims: Any, correction: float, keepdim: bool) -> Any:
    c, n = _centered(x, dims)
    full = tuple(range(len(x.shape))) if dims is None else dims
    gx = _unreduce(g, full, keepdim or dims is None, x.shape)
    return gx * _var_weights(x, c, n, dims, correction, 2)


def _std_vjp(g: Any, x: Any, dims: Any, correction: float, keepdim: bool, out: Any) -> Any:
    from .pointwise import where

    c, n = _centered(x, dims)
    full = tuple(range(len(x.shape))) if dims is None else dims
    k = keepdim or dims is None
    # Where the deviation is 0 its gradient is taken as 0, as PyTorch does (not 0/0).
    zero = out == 0
    gs = where(zero, g * 0, g / where(zero, out + 1, out))
    return _unreduce(gs, full, k, x.shape) * _var_weights(x, c, n, dims, correction, 1)


def _var_jvp(t: Any, x: Any, dims: Any, correction: float, keepdim: bool) -> Any:
    c, n = _centered(x, dims)
    if (dims is None or len(x.shape) == 0) and n - correction <= 0:
        return _reduce(t * _var_weights(x, c, n, dims, correction, 2), dims, keepdim)
    return _reduce(c * t, dims, keepdim) * _dof_scale(2, n, correction)


def _std_jvp(t: Any, x: Any, dims: Any, correction: float, keepdim: bool, out: Any) -> Any:
    from .pointwise import where

    # d std = d var / (2 std), taken as 0 where std is 0 (as the vjp rule does).
    zero = out == 0
    dv = _var_jvp(t, x, dims, correction, keepdim)
    return where(zero, 0.0, dv / where(zero, out + 1, 2 * out))


def _var_onnx(ox: Any, x: str, dims: Any, correction: float, keepdim: bool,
              sd: bool = False) -> str:  # fmt: skip
    shape = ox.shape(x)
    axes = tuple(range(len(shape))) if dims is None else dims
    n = int(math.prod([shape[d] for d in axes]))
    xc = ox.op("Sub", x, ox.op("ReduceMean", x, ox.ints(axes)))
    ss = ox.op("ReduceSum", ox.op("Mul", xc, xc), ox.ints(axes), keepdims=int(keepdim))
    r = ox.op("Div", ss, ox.const(max(n - correction, 0), ox.dtype(x)))
    return ox.op("Sqrt", r) if sd else r


var = defop("var", grad_fn="VarBackward0", forward=_var_fwd, vjp=(_var_vjp,), jvp=(_var_jvp,),
            onnx=_var_onnx,
            shape=lambda x, dims, correction, keepdim: _reduced_shape(x, dims, keepdim))
std = defop("std", grad_fn="StdBackward0",
            onnx=lambda ox, *args: _var_onnx(ox, *args, sd=True),
            shape=lambda x, dims, correction, keepdim: _reduced_shape(x, dims, keepdim),
            forward=lambda x, dims, correction, keepdim: np.sqrt(
                _var_fwd(x, dims, correction, keepdim)),
            vjp=(_std_vjp,), jvp=(_std_jvp,))  # fmt: skip


def _lse_fwd(x: np.ndarray, dims: tuple[int, ...], keepdim: bool) -> np.ndarray:
    m = extreme(x, dims, True, np.maximum) if x.size else np.zeros((1,) * x.ndim, x.dtype)
    m = np.where(np.isfinite(m), m, 0)
    r = np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m
    return (r if keepdim else np.squeeze(r, axis=dims)).astype(x.dtype, copy=False)


def _lse_vjp(g: Any, x: Any, dims: tuple[int, ...], keepdim: bool, out: Any) -> Any:
    from .pointwise import exp

    shape = x.shape
    return _unreduce(g, dims, keepdim, shape) * exp(x - _unreduce(out, dims, keepdim, shape))


def _lse_jvp(t: Any, x: Any, dims: tuple[int, ...], keepdim: bool, out: Any) -> Any:
    from .pointwise import exp

    # sum(t * e) / sum(e) rather than sum(t * e) (sum(e) is 1): over no elements it is 0/0, NaN,
    # as the output's -inf minus itself is to finite differences, and as PyTorch's tangent is.
    e = exp(x - _unreduce(out, dims, keepdim, x.shape))
    return _reduce(t * e, dims, keepdim) / _reduce(e, dims, keepdim)


logsumexp = defop("logsumexp", grad_fn="LogsumexpBackward0", forward=_lse_fwd, vjp=(_lse_vjp,),
                  onnx=lambda ox, *args: _reduce_onnx(ox, "ReduceLogSumExp", *args),
                  shape=lambda x, dims, keepdim: _reduced_shape(x, dims, keepdim),
                  jvp=(_lse_jvp,))  # fmt: skip


def _norm_fwd(x: np.ndarray, p: float, dims: Any, keepdim: bool) -> np.ndarray:
    if p == 2:  # (x * x is |x| * |x| exactly: no abs pass)
        return np.asarray(np.sqrt(np.sum(x * x, axis=dims, keepdims=keepdim))).astype(
            x.dtype, copy=False
        )
    a = np.abs(x)
    if p == float("inf"):
        r = extreme(a, dims, keepdim, np.maximum)
    elif p == float("-inf"):  # the general formula gives 1 here: (count of |x| < 1) ** -0
        r = extreme(a, dims, keepdim, np.minimum)
    elif p == 1:
        r = np.sum(a, axis=dims, keepdims=keepdim)
    elif p == 0:
        r = np.sum(a != 0, axis=dims, keepdims=keepdim)
    else:
        r = np.sum(a**p, axis=dims, keepdims=keepdim) ** (1 / p)
    return np.asarray(r).astype(x.dtype, copy=False)


def _norm_weights(x: Any, p: float, dims: Any, keepdim: bool, out: Any) -> Any:
    # d norm / d x, shaped like x: the gradient for g = 1, and the tangent's weights.
    from .pointwise import abs as abs_
    from .pointwise import mask_like, sign, where

    full = tuple(range(len(x.shape))) if dims is None else dims
    if p == 2 and type(x) is np.ndarray and type(out) is np.ndarray:
        # On arrays: x over the norm, broadcast from the reduced shape, with inf in place of a
        # zero norm (its x are zeros or squares that underflow: x / inf is x * 0, signs too):
        # one pass where the select form below takes eight over x's shape.
        o = out.reshape(keep_shape(x.shape, full))
        return x / np.where(o == 0, np.inf, o)
    ox = _unreduce(out, full, keepdim or dims is None, x.shape)
    if p == 2:
        return where(ox == 0, x * 0, x / where(ox == 0, ox + 1, ox))
    if p == 1:
        return sign(x)
    if p == float("inf") or p == float("-inf"):  # ties at the max (min) share the gradient
        return sign(x) * even_mask(abs_(x), ox, full) * mask_like(ox != 0, x)
    safe = where(ox == 0, ox + 1, ox)
    return sign(x) * abs_(x) ** (p - 1) / safe ** (p - 1) * mask_like(ox != 0, x)


def _norm_vjp(g: Any, x: Any, p: float, dims: Any, keepdim: bool, out: Any) -> Any:
    full = tuple(range(len(x.shape))) if dims is None else dims
    gx = _unreduce(g, full, keepdim or dims is None, x.shape)
    if p == 0:
        return gx * 0
    return gx * _norm_weights(x, p, dims, keepdim, out)


def _norm_jvp(t: Any, x: Any, p: float, dims: Any, keepdim: bool, out: Any) -> Any:
    from .pointwise import zeros_like

    if p == 0:
        return zeros_like(out)
    return _reduce(t * _norm_weights(x, p, dims, keepdim, out), dims, keepdim)


norm = defop("norm", grad_fn="LinalgVectorNormBackward0", forward=_norm_fwd, vjp=(_norm_vjp,),
             shape=lambda x, p, dims, keepdim: _reduced_shape(x, dims, keepdim),
             jvp=(_norm_jvp,))  # fmt: skip
