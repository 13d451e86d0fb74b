"""NumPy functions applied to tensors: ufuncs and common array functions run as dygrad ops, on the
graph; anything else runs in NumPy only when no argument requires grad, and raises otherwise, so a
NumPy call never cuts the graph silently."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .tensor import Tensor, tensor, where

__all__ = ["array_ufunc", "array_function", "UFUNCS", "FUNCTIONS"]


def _method(name: str) -> Callable[..., Any]:
    return lambda x, *a: getattr(x, name)(*a)


# NumPy ufunc name -> the same computation on tensors (operands already converted).
UFUNCS: dict[str, Callable[..., Any]] = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "true_divide": operator.truediv,
    "floor_divide": operator.floordiv, "remainder": operator.mod, "power": operator.pow,
    "matmul": operator.matmul, "negative": operator.neg, "positive": lambda x: x * 1,
    "equal": operator.eq, "not_equal": operator.ne, "less": operator.lt,
    "less_equal": operator.le, "greater": operator.gt, "greater_equal": operator.ge,
    "maximum": lambda x, y: _t(x).maximum(_t(y)), "minimum": lambda x, y: _t(x).minimum(_t(y)),
    "exp": _method("exp"), "log": _method("log"), "log1p": _method("log1p"),
    "expm1": _method("expm1"), "sqrt": _method("sqrt"), "sin": _method("sin"),
    "cos": _method("cos"), "tan": _method("tan"), "tanh": _method("tanh"),
    "absolute": _method("abs"), "fabs": _method("abs"), "sign": _method("sign"),
    "reciprocal": _method("reciprocal"), "square": lambda x: x * x,
    "isnan": _method("isnan"), "isinf": _method("isinf"), "isfinite": _method("isfinite"),
    "logical_not": _method("logical_not"),
}  # fmt: skip


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else tensor(x)


def _dims(axis: Any) -> dict[str, Any]:
    return {} if axis is None else {"dim": tuple(axis) if isinstance(axis, list) else axis}


def _reduce(name: str) -> Callable[..., Any]:
    def run(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: bool = False, **kw: Any) -> Any:  # fmt: skip
        _no_out(out, name)
        if dtype is not None or kw.get("where") is not None:
            raise TypeError(f"numpy.{name}(): dtype= and where= are not supported for tensors")
        kw.pop("where", None)
        if name in ("var", "std"):
            kw["correction"] = kw.pop("ddof", 0)  # NumPy's default ddof is 0, PyTorch's is 1
        t = _t(a)
        if axis is None and not keepdims:
            return getattr(t, name)(**kw)
        return getattr(t, name)(**_dims(axis), keepdim=keepdims, **kw)

    return run


def _no_out(out: Any, name: str) -> None:
    if out is not None:
        raise TypeError(f"numpy.{name}(): out= is not supported for dygrad tensors")


def _amax(name: str) -> Callable[..., Any]:
    def run(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        _no_out(out, name)
        t = _t(a)
        fn = "amax" if name in ("max", "amax") else "amin"
        if axis is None:
            r = getattr(t, fn[1:])()
            return r.reshape([1] * t.ndim) if keepdims else r
        return getattr(t, fn)(dim=axis, keepdim=keepdims)

    return run


def _cat(arrays: Any, axis: int | None = 0, out: Any = None, **kw: Any) -> Any:
    from .functions import cat

    _no_out(out, "concatenate")
    ts = [_t(a) for a in arrays]
    if axis is None:
        ts = [t.reshape(-1) for t in ts]
        axis = 0
    return cat(ts, axis)


def _stack(arrays: Any, axis: int = 0, out: Any = None, **kw: Any) -> Any:
    from .functions import stack

    _no_out(out, "stack")
    return stack([_t(a) for a in arrays], axis)


def _where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None and y is None:
        raise TypeError("numpy.where(condition) on a tensor: use tensor.nonzero(as_tuple=True)")
    return where(_t(condition), x, y)


def _transpose(a: Any, axes: Any = None) -> Any:
    t = _t(a)
    return t.permute(*(axes if axes is not None else range(t.ndim - 1, -1, -1)))


def _reshape(a: Any, shape: Any = None, order: str = "C", **kw: Any) -> Any:
    if order != "C":
        raise TypeError("numpy.reshape(): only order='C' is supported for tensors")
    return _t(a).reshape(kw.get("newshape", shape))


def _dot(a: Any, b: Any, out: Any = None) -> Any:
    _no_out(out, "dot")
    x, y = _t(a), _t(b)
    return x * y if x.ndim == 0 or y.ndim == 0 else x.matmul(y)


FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: _reduce("sum"), np.mean: _reduce("mean"), np.prod: _reduce("prod"),
    np.var: _reduce("var"), np.std: _reduce("std"),
    np.max: _amax("max"), np.amax: _amax("amax"), np.min: _amax("min"), np.amin: _amax("amin"),
    np.concatenate: _cat, np.stack: _stack, np.where: _where, np.transpose: _transpose,
    np.reshape: _reshape, np.dot: _dot,
    np.squeeze: lambda a, axis=None: _t(a).squeeze() if axis is None else _t(a).squeeze(axis),
    np.expand_dims: lambda a, axis: _t(a).unsqueeze(axis),
    np.swapaxes: lambda a, axis1, axis2: _t(a).transpose(axis1, axis2),
    np.clip: lambda a, a_min=None, a_max=None, **kw: _t(a).clamp(a_min, a_max),
    np.ravel: lambda a, order="C": _t(a).reshape(-1),
    np.flip: lambda a, axis=None: _t(a).flip(tuple(range(_t(a).ndim)) if axis is None else axis),
    np.shape: lambda a: tuple(_t(a).shape),
    np.ndim: lambda a: _t(a).ndim,
    np.size: lambda a, axis=None: _t(a).numel() if axis is None else _t(a).shape[axis],
}  # fmt: skip


def _requires_grad(values: Any) -> bool:
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, Tensor):
            if v._requires_grad:
                return True
        elif isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return False


def _to_numpy(values: Any) -> Any:
    if isinstance(values, Tensor):
        return values._data
    if isinstance(values, list | tuple):
        return type(values)(_to_numpy(v) for v in values)
    if isinstance(values, dict):
        return {k: _to_numpy(v) for k, v in values.items()}
    return values


def _rewrap(r: Any) -> Any:
    # Like PyTorch's __array_wrap__: an array result of a tensor computation comes back a tensor.
    if isinstance(r, np.ndarray):
        return tensor(r)
    if isinstance(r, tuple):
        return tuple(_rewrap(x) for x in r)
    return r


def _refuse(what: str, hint: str) -> TypeError:
    return TypeError(
        f"{what} would leave the graph: a tensor that requires grad cannot be converted to a "
        f"NumPy array. {hint}Call .detach() first to compute outside autograd on purpose."
    )


def array_ufunc(ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """`Tensor.__array_ufunc__`: NumPy ufuncs on tensors become dygrad ops."""
    name = ufunc.__name__
    rule = UFUNCS.get(name)
    if rule is not None and method == "__call__" and not kwargs:
        args = [a.item() if isinstance(a, np.generic) else a for a in inputs]
        args = [tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        return rule(*args)
    if _requires_grad(inputs) or _requires_grad(kwargs.get("out")):
        if rule is not None:
            raise _refuse(
                f"numpy.{name}.{method}(...) with {sorted(kwargs) or 'these'} arguments",
                f"Use the dygrad operation instead of numpy.{name}. ",
            )
        raise _refuse(f"numpy.{name}", "dygrad has no op for this ufunc. ")
    if kwargs.get("out") is not None:
        raise TypeError(f"numpy.{name}(): out= is not supported for dygrad tensors")
    return _rewrap(getattr(ufunc, method)(*_to_numpy(inputs), **kwargs))


def array_function(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`Tensor.__array_function__`: common NumPy functions become dygrad ops; others run in NumPy
    when no argument requires grad and raise when one does."""
    rule = FUNCTIONS.get(func)
    if rule is not None:
        return rule(*args, **kwargs)
    name = getattr(func, "__name__", str(func))
    if _requires_grad(args) or _requires_grad(kwargs):
        raise _refuse(f"numpy.{name}", "dygrad does not dispatch this NumPy function. ")
    return _rewrap(func(*_to_numpy(args), **_to_numpy(kwargs)))
