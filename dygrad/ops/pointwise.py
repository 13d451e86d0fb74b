"""Elementwise ops: arithmetic with broadcasting and PyTorch's type promotion, unary math,
activations, comparisons, `where`, `clamp`, `maximum`/`minimum`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes
from ..backend import branchless_where
from .registry import Spec, defop, promote, promote_float, shape_of, stand_in

__all__ = [
    "add", "sub", "rsub", "mul", "div", "neg", "pow", "pow_tensor", "rpow", "remainder",
    "floor_divide", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "sin", "cos",
    "tan", "tanh", "sigmoid", "relu", "abs", "sign", "clamp", "maximum", "minimum", "where",
    "remainder_scalar",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "isnan", "isinf", "isfinite",
    "floor", "ceil", "round", "trunc", "fmod", "fmod_scalar", "div_trunc", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_not",
    "broadcast_check", "mask_like", "tie_mask", "zeros_like", "check_int_division",
]  # fmt: skip


def broadcast_check(*args: Any) -> None:
    """Raise PyTorch's message when tensor arguments cannot be broadcast together."""
    shapes = [tuple(a.shape) for a in args if hasattr(a, "shape")]
    out: list[int] = []
    for s in shapes:
        for k in range(1, len(s) + 1):
            n = s[-k]
            if k > len(out):
                out.insert(0, n)
            elif out[-k] == 1:
                out[-k] = n
            elif n != 1 and n != out[-k]:
                a_, b_ = (out[-k], n)
                raise RuntimeError(
                    f"The size of tensor a ({a_}) must match the size of tensor b ({b_}) at "
                    f"non-singleton dimension {len(out) - k if len(out) >= len(s) else len(s) - k}"
                )


def _bcast_shape(*shapes: Any) -> tuple[int, ...]:
    # A number where the op takes a tensor has shape ().
    return tuple(np.broadcast_shapes(*[shape_of(s) for s in shapes]))


def _bool_shape(*shapes: Any) -> Spec:
    # Comparisons and predicates: the broadcast shape, bool.
    return Spec(_bcast_shape(*shapes), np.bool_)


def _same_shape(x: tuple[int, ...], *rest: Any) -> tuple[int, ...]:
    return x


# --- non-differentiable helpers that backward rules use (they run on arrays or tensors) -------
mask_like = defop(
    "mask_like",
    grad_fn="MaskLikeBackward",
    forward=lambda cond, like: np.asarray(cond, dtype=like.dtype),
    n_inputs=2,
    doc="A 0/1 array of `like`'s dtype from a boolean condition.",
)


zeros_like = defop(
    "zeros_like",
    grad_fn="ZerosLikeBackward",
    forward=lambda x: np.zeros_like(x),
    n_inputs=1,
    doc="Zeros shaped like a gradient: the gradient of ops whose derivative is zero. Unlike "
    "`g * 0` it stays 0 where g is inf or nan, as PyTorch's does.",
)


def _tie_mask_fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # 1 where x wins, 1/2 on ties (PyTorch splits the gradient of maximum/minimum at ties).
    # np.array, not astype: 0-d inputs arrive as NumPy scalars, which take no item assignment.
    m = np.array(x > y, dtype=np.result_type(x, y))
    m[np.broadcast_to(x == y, m.shape)] = 0.5
    return m


tie_mask = defop("tie_mask", grad_fn="TieMask", forward=_tie_mask_fwd, n_inputs=2)

# --- arithmetic -------------------------------------------------------------------------------
add = defop(
    "add", grad_fn="AddBackward0", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Add", x, y),
    forward=lambda x, y: x + y,
    inplace=lambda x, y: np.add(x, y, out=x),
    vjp=(lambda g: g,
         lambda g: g),
    jvp=(lambda t: t,
         lambda t: t),
    check=broadcast_check,
)  # fmt: skip
sub = defop(
    "sub", grad_fn="SubBackward0", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Sub", x, y),
    forward=lambda x, y: x - y,
    inplace=lambda x, y: np.subtract(x, y, out=x),
    vjp=(lambda g: g,
         lambda g: -g),
    jvp=(lambda t: t,
         lambda t: -t),
    check=broadcast_check,
)  # fmt: skip
rsub = defop(
    "rsub", grad_fn="RsubBackward1", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Sub", y, x),
    forward=lambda x, y: y - x,
    vjp=(lambda g: -g, None),
    jvp=(lambda t: -t, None),
)  # fmt: skip
mul = defop(
    "mul", grad_fn="MulBackward0", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Mul", x, y),
    forward=lambda x, y: x * y,
    inplace=lambda x, y: np.multiply(x, y, out=x),
    vjp=(lambda g, y: g * y,
         lambda g, x: g * x),
    jvp=(lambda t, y: t * y,
         lambda t, x: x * t),
    check=broadcast_check,
)  # fmt: skip
div = defop(
    "div", grad_fn="DivBackward0", broadcasting=True, dtype=promote_float, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Div", x, y),
    forward=lambda x, y: x / y,
    inplace=lambda x, y: np.true_divide(x, y, out=x),
    vjp=(lambda g, y: g / y,
         lambda g, x, y: -g * x / (y * y)),
    jvp=(lambda t, y: t / y,
         lambda t, x, y: -t * x / (y * y)),
    check=broadcast_check,
)  # fmt: skip
neg = defop("neg", grad_fn="NegBackward0", forward=lambda x: -x, vjp=(lambda g: -g,),
            onnx=lambda ox, x: ox.op("Neg", x),
            jvp=(lambda t: -t,), shape=_same_shape)  # fmt: skip


def _pow_fwd(x: Any, y: Any) -> Any:
    # PyTorch's kernel for a float32/float64 tensor to a scalar power computes these exponents
    # as products, square and reciprocal roots; so does this, bit for bit with PyTorch, where
    # NumPy's power takes a slow loop (128x512 float32: x**3 3030 -> 9 us, x**2.5 stays 489).
    # Half precision goes through pow in PyTorch too.
    fast = type(x) is np.ndarray and x.dtype.kind == "f" and x.itemsize >= 4
    if fast and type(y) in (int, float):
        if y == 2:
            return x * x
        if y == 3:
            return x * x * x
        if y == -1:
            return 1 / x
        if y == -2:
            return 1 / (x * x)
        if y == 0.5:
            return np.sqrt(x)
        if y == -0.5:
            return 1 / np.sqrt(x)
    return x**y


def _pow_x(g: Any, x: Any, y: Any) -> Any:
    if isinstance(y, int | float) and y == 0:
        return g * 0
    return g * y * _pow_fwd(x, y - 1)  # (on tensors, in double backward: x ** (y - 1))


pow = defop(  # noqa: A001 - PyTorch's name
    "pow", grad_fn="PowBackward0", dtype=promote, shape=_same_shape,
    onnx=lambda ox, x, y: ox.op("Pow", x, y),
    forward=_pow_fwd,
    vjp=(_pow_x, None),
    jvp=(_pow_x, None),
)  # fmt: skip


def _pow_base(g: Any, x: Any, y: Any) -> Any:
    # d/dx x**y = y * x**(y-1), taken as 0 where y == 0 (as PyTorch does, avoiding 0 * inf). The
    # masked branch uses a safe exponent, so its own derivatives hold no 0 * inf either.
    zero = y == 0
    return where(zero, 0.0, g * y * x ** (where(zero, y + 1, y) - 1))


def _pow_exp(g: Any, x: Any, out: Any) -> Any:
    # d/dy x**y = x**y * log(x); PyTorch defines it as 0 where x == 0. The masked branch takes
    # the log of 1 there, so gradients flowing through it stay finite.
    zero = x == 0
    return where(zero, 0.0, g * out * log(where(zero, x + 1, x)))


pow_tensor = defop(
    "pow_tensor", grad_fn="PowBackward1", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Pow", x, y),
    forward=lambda x, y: x**y,
    vjp=(_pow_base, _pow_exp),
    jvp=(_pow_base, _pow_exp),  # elementwise: the same products with the tangent for g
    check=broadcast_check,
)  # fmt: skip


def _rpow_fwd(x: np.ndarray, y: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind in "biu" and isinstance(y, int | np.integer):
        # An integer base to integer powers stays integer, as in PyTorch; a negative power
        # truncates toward zero (NumPy refuses it): 1 for base 1, +-1 for base -1, else 0.
        d = x.dtype if x.dtype.kind != "b" else np.dtype(np.int64)
        e = x.astype(d)
        neg = e < 0
        r = np.power(np.asarray(y, d), np.where(neg, 0, e))
        if neg.any():
            tiny = 1 - 2 * (e % 2) if y == -1 else np.asarray(int(y == 1))
            r = np.where(neg, tiny, r).astype(d)
        return r
    d = promote_float([x, y])
    return np.power(y, x if d is None else x.astype(d))


def _rpow_shape(x: Any, y: Any) -> Spec:
    if x.dtype.kind in "biu" and isinstance(y, int | np.integer):
        return Spec(x, x.dtype if x.dtype.kind != "b" else np.int64)
    return Spec(x, promote_float([stand_in(x), y]) or x.dtype)


# The dtype comes from both x and the base y, so the forward promotes (a dtype rule sees only x).
rpow = defop(
    "rpow", grad_fn="PowBackward2", shape=_rpow_shape,
    onnx=lambda ox, x, y: ox.op("Pow", y, x),
    forward=_rpow_fwd,
    vjp=(lambda g, y, out: g * out * float(np.log(y)), None),
    jvp=(lambda t, y, out: t * out * float(np.log(y)), None),
)  # fmt: skip


def check_int_division(x: Any, y: Any, kernel: str) -> None:
    """Raise as PyTorch does for integer division by zero (NumPy gives 0) and for bool operands
    (which PyTorch's `kernel` does not implement)."""
    kx, ky = np.asarray(x).dtype.kind, np.asarray(y).dtype.kind
    if kx == "b" and ky == "b":
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
    if kx in "biu" and ky in "biu" and not np.all(y):
        raise RuntimeError("ZeroDivisionError")


def _remainder_fwd(x: Any, y: Any) -> Any:
    check_int_division(x, y, "remainder_cpu")
    return np.remainder(x, y)


def _floor_div(x: Any, y: Any) -> Any:
    # Raw arrays from a backward rule skip the dtype rule: promote as PyTorch does, so that
    # remainder's rule floors x / y in the dtype its forward used (a 0-d float64 x with a float32
    # y divides in float32).
    d = promote([x, y])
    if d is not None:
        x, y = np.asarray(x, d), np.asarray(y, d)
    check_int_division(x, y, "div_floor_cpu")
    return np.floor_divide(x, y)


def _remainder_onnx(ox: Any, x: str, y: str) -> str:
    # Python's remainder takes the divisor's sign: ONNX's Mod does so for integers only.
    if ox.out_dtype.kind in "iu":
        return ox.op("Mod", x, y)
    return ox.op("Sub", x, ox.op("Mul", ox.op("Floor", ox.op("Div", x, y)), y))


remainder = defop(
    "remainder", grad_fn="RemainderBackward1", broadcasting=True, dtype=promote,
    onnx=_remainder_onnx,
    shape=_bcast_shape,
    forward=_remainder_fwd,
    vjp=(lambda g: g,
         lambda g, x, y: -g * floor_divide(x, y)),
    jvp=(lambda t: t,
         lambda t, x, y: -t * floor_divide(x, y)),
    check=broadcast_check,
)  # fmt: skip
# With a number as divisor PyTorch records RemainderBackward0; same forward, one rule.
remainder_scalar = defop(
    "remainder_scalar", grad_fn="RemainderBackward0", dtype=promote, shape=_same_shape,
    onnx=_remainder_onnx,
    forward=_remainder_fwd,
    vjp=(lambda g: g, None),
    jvp=(lambda t: t, None),
)  # fmt: skip
floor_divide = defop(
    "floor_divide", grad_fn="NotImplemented", n_inputs=2, dtype=promote, shape=_bcast_shape,
    forward=_floor_div, check=broadcast_check,
)  # fmt: skip


def _fmod_fwd(x: Any, y: Any) -> Any:
    check_int_division(x, y, "fmod_cpu")
    return np.fmod(x, y)


def _trunc_div(x: Any, y: Any) -> Any:
    # trunc(x / y) in the dtype the forward divided in: raw arrays from a backward rule skip the
    # dtype rule (a 0-d float64 x with a float32 y divides in float32), tensors promote.
    if type(x) is np.ndarray and type(y) is np.ndarray:
        d = promote([x, y])
        if d is not None:
            x, y = x.astype(d), y.astype(d)
    return trunc(x / y)


def _fmod_onnx(ox: Any, x: str, y: str) -> str:
    return ox.op("Mod", x, y, fmod=1)  # C's fmod: the dividend's sign, for floats and integers


fmod = defop(
    "fmod", grad_fn="FmodBackward1", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=_fmod_onnx,
    forward=_fmod_fwd,
    vjp=(lambda g: g,
         lambda g, x, y: -g * _trunc_div(x, y)),
    jvp=(lambda t: t,
         lambda t, x, y: -t * _trunc_div(x, y)),
    check=broadcast_check,
)  # fmt: skip
# With a number as divisor PyTorch records FmodBackward0; same forward, one rule.
fmod_scalar = defop(
    "fmod_scalar", grad_fn="FmodBackward0", dtype=promote, shape=_same_shape,
    onnx=_fmod_onnx,
    forward=_fmod_fwd,
    vjp=(lambda g: g, None),
    jvp=(lambda t: t, None),
)  # fmt: skip


def _div_trunc_fwd(x: Any, y: Any) -> Any:
    check_int_division(x, y, "div_trunc_cpu")
    if np.result_type(x, y).kind in "biu":
        # Exact in integers (a float quotient loses digits past 2**53): floor, then one up where
        # the quotient is negative and inexact.
        q = np.floor_divide(x, y)
        return np.where((q < 0) & (np.remainder(x, y) != 0), q + 1, q)
    return np.trunc(x / y)


def _div_trunc_onnx(ox: Any, x: str, y: str) -> str:
    q = ox.op("Div", x, y)  # integer Div truncates toward zero
    return _trunc_onnx(ox, q)


# div(x, y, rounding_mode="trunc"): PyTorch records DivBackward2, whose gradients are zero.
div_trunc = defop(
    "div_trunc", grad_fn="DivBackward2", broadcasting=True, dtype=promote,
    shape=_bcast_shape, onnx=_div_trunc_onnx,
    forward=_div_trunc_fwd,
    vjp=(lambda g: zeros_like(g),
         lambda g: zeros_like(g)),
    jvp=(lambda t: zeros_like(t),
         lambda t: zeros_like(t)),
    check=broadcast_check,
)  # fmt: skip

# --- unary math --------------------------------------------------------------------------------
exp = defop("exp", grad_fn="ExpBackward0", dtype=promote_float, shape=_same_shape,
            onnx=lambda ox, x: ox.op("Exp", x),
            forward=lambda x: np.exp(x), vjp=(lambda g, out: g * out,),
            jvp=(lambda t, out: t * out,))  # fmt: skip
log = defop("log", grad_fn="LogBackward0", dtype=promote_float, shape=_same_shape,
            onnx=lambda ox, x: ox.op("Log", x),
            forward=lambda x: np.log(x), vjp=(lambda g, x: g / x,),
            jvp=(lambda t, x: t / x,))  # fmt: skip
log1p = defop("log1p", grad_fn="Log1PBackward0", dtype=promote_float, shape=_same_shape,
              onnx=lambda ox, x: ox.op("Log", ox.op("Add", x, ox.const(1, ox.dtype(x)))),
              forward=lambda x: np.log1p(x), vjp=(lambda g, x: g / (x + 1),),
              jvp=(lambda t, x: t / (x + 1),))  # fmt: skip
expm1 = defop("expm1", grad_fn="Expm1Backward0", dtype=promote_float, shape=_same_shape,
              onnx=lambda ox, x: ox.op("Sub", ox.op("Exp", x), ox.const(1, ox.dtype(x))),
              forward=lambda x: np.expm1(x), vjp=(lambda g, out: g * (out + 1),),
              jvp=(lambda t, out: t * (out + 1),))  # fmt: skip
sqrt = defop("sqrt", grad_fn="SqrtBackward0", dtype=promote_float, shape=_same_shape,
             onnx=lambda ox, x: ox.op("Sqrt", x),
             forward=lambda x: np.sqrt(x), vjp=(lambda g, out: g / (2 * out),),
             jvp=(lambda t, out: t / (2 * out),))  # fmt: skip
rsqrt = defop("rsqrt", grad_fn="RsqrtBackward0", dtype=promote_float, shape=_same_shape,
              onnx=lambda ox, x: ox.op("Reciprocal", ox.op("Sqrt", x)),
              forward=lambda x: 1 / np.sqrt(x),
              vjp=(lambda g, out: -0.5 * g * out * out * out,),
              jvp=(lambda t, out: -0.5 * t * out * out * out,))  # fmt: skip
reciprocal = defop("reciprocal", grad_fn="ReciprocalBackward0", dtype=promote_float,
                   onnx=lambda ox, x: ox.op("Reciprocal", x),
                   shape=_same_shape, forward=lambda x: 1 / x,
                   vjp=(lambda g, out: -g * out * out,),
                   jvp=(lambda t, out: -t * out * out,))  # fmt: skip
sin = defop("sin", grad_fn="SinBackward0", dtype=promote_float, shape=_same_shape,
            onnx=lambda ox, x: ox.op("Sin", x),
            forward=lambda x: np.sin(x), vjp=(lambda g, x: g * cos(x),),
            jvp=(lambda t, x: t * cos(x),))  # fmt: skip
cos = defop("cos", grad_fn="CosBackward0", dtype=promote_float, shape=_same_shape,
            onnx=lambda ox, x: ox.op("Cos", x),
            forward=lambda x: np.cos(x), vjp=(lambda g, x: -g * sin(x),),
            jvp=(lambda t, x: -t * sin(x),))  # fmt: skip
tan = defop("tan", grad_fn="TanBackward0", dtype=promote_float, shape=_same_shape,
            onnx=lambda ox, x: ox.op("Tan", x),
            forward=lambda x: np.tan(x), vjp=(lambda g, out: g * (out * out + 1),),
            jvp=(lambda t, out: t * (out * out + 1),))  # fmt: skip
tanh = defop("tanh", grad_fn="TanhBackward0", dtype=promote_float, shape=_same_shape,
             onnx=lambda ox, x: ox.op("Tanh", x),
             forward=lambda x: np.tanh(x), vjp=(lambda g, out: g * (1 - out * out),),
             jvp=(lambda t, out: t * (1 - out * out),))  # fmt: skip


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # sigmoid(x) = (1 + tanh(x / 2)) / 2: stable for any |x| and one transcendental call.
    y = np.multiply(x, 0.5)
    if type(y) is not np.ndarray:  # a NumPy scalar from a 0-d array
        return np.tanh(y) * 0.5 + 0.5
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


def _sigmoid_d(g: Any, out: Any) -> Any:
    # PyTorch's sigmoid_backward, g * (1 - out) * out in that order (bit for bit its numbers
    # given the same output); on arrays in place on one temporary.
    if type(g) is np.ndarray and type(out) is np.ndarray and out.ndim:
        r = np.subtract(1, out)
        np.multiply(g, r, out=r)
        r *= out
        return r
    return g * (1 - out) * out


sigmoid = defop("sigmoid", grad_fn="SigmoidBackward0", dtype=promote_float, shape=_same_shape,
                onnx=lambda ox, x: ox.op("Sigmoid", x),
                forward=_sigmoid, vjp=(_sigmoid_d,), jvp=(_sigmoid_d,))  # fmt: skip


def _no_bool(kernel: str, error: type[Exception] = NotImplementedError,
             message: str | None = None) -> Any:  # fmt: skip
    # A dtype rule that keeps the input's dtype and refuses bool, as PyTorch's kernel does
    # (`error`/`message` where PyTorch's words are not the kernel's).
    text = message or f"\"{kernel}\" not implemented for 'Bool'"

    def rule(vals: Any) -> None:
        if getattr(vals[0], "dtype", None) == np.bool_:
            raise error(text)

    rule.float_noop = True  # type: ignore[attr-defined]  # dispatch may skip it for floats
    return rule


def _relu(x: np.ndarray) -> np.ndarray:
    # Against an array of zeros rather than the scalar 0: NumPy (2.4) runs maximum of two
    # contiguous arrays in its vectorized loop and of an array and a scalar in a slow one
    # (float32: 128x512 20.6 -> 4.6 us, 256x1024 80.9 -> 27.8 us; no slower on small arrays).
    z = np.zeros(x.shape, x.dtype)
    return np.maximum(x, z, out=z)


relu = defop("relu", grad_fn="ReluBackward0", shape=_same_shape,
             # (np.maximum of bools would be their logical or)
             dtype=_no_bool("relu", RuntimeError, "Boolean inputs not supported for relu"),
             onnx=lambda ox, x: ox.op("Relu", x),
             forward=_relu,
             # PyTorch's threshold_backward(g, out, 0): zero where out <= 0, g elsewhere (so a
             # NaN output passes its gradient on); out is never negative, so that is out != 0.
             # g * bool multiplies in one pass on arrays; on tensors the mask is promoted.
             vjp=(lambda g, out: g * (out != 0),),
             jvp=(lambda t, out: t * (out != 0),))  # fmt: skip
abs = defop("abs", grad_fn="AbsBackward0", shape=_same_shape,  # noqa: A001
            onnx=lambda ox, x: ox.op("Abs", x),
            forward=lambda x: np.abs(x), vjp=(lambda g, x: g * sign(x),),
            jvp=(lambda t, x: t * sign(x),))  # fmt: skip


def _sign_fwd(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "fiu":
        # (x > 0) - (x < 0) in x's dtype: NaN and -0.0 give +0.0, as PyTorch's sign does, and
        # the three passes are vectorized where np.sign's loop is not (float32 128x512: np.sign
        # with the NaN fix-up 59 us, this 19).
        return np.asarray(np.subtract(x > 0, x < 0, dtype=x.dtype))
    if x.dtype.kind == "b":
        return x.copy()  # a bool's sign is itself, as in PyTorch
    return np.asarray(np.sign(x)).astype(x.dtype, copy=False)


sign = defop("sign", grad_fn="SignBackward0", shape=_same_shape, forward=_sign_fwd,
             onnx=lambda ox, x: ox.op("Sign", x),
             vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip


def _rounding(fn: Any) -> Any:
    # Integers are already whole: a copy of the same dtype, as in PyTorch (NumPy gives floats).
    return lambda x: fn(x) if x.dtype.kind == "f" else x.copy()


def _rounding_onnx(kind: str) -> Any:
    return lambda ox, x: ox.op(kind, x) if ox.out_dtype.kind == "f" else ox.op("Identity", x)


def _trunc_onnx(ox: Any, x: str) -> str:
    # ONNX has no Trunc: ceil below zero, floor above (Ceil keeps -0.0 for -1 < x < 0).
    if ox.out_dtype.kind != "f":
        return ox.op("Identity", x)
    neg = ox.op("Less", x, ox.const(0, ox.out_dtype))
    return ox.op("Where", neg, ox.op("Ceil", x), ox.op("Floor", x))


# The rounding ops: zero gradients (PyTorch's FloorBackward0 etc.), like sign.
floor = defop("floor", grad_fn="FloorBackward0", shape=_same_shape, dtype=_no_bool("floor_vml_cpu"),
              forward=_rounding(np.floor), onnx=_rounding_onnx("Floor"),
              vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
ceil = defop("ceil", grad_fn="CeilBackward0", shape=_same_shape, dtype=_no_bool("ceil_vml_cpu"),
             forward=_rounding(np.ceil), onnx=_rounding_onnx("Ceil"),
             vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
# np.round and ONNX's Round both round half to even, as torch.round does.
round = defop("round", grad_fn="RoundBackward0", shape=_same_shape,  # noqa: A001
              dtype=_no_bool("round_vml_cpu"), forward=_rounding(np.round),
              onnx=_rounding_onnx("Round"),
              vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip
trunc = defop("trunc", grad_fn="TruncBackward0", shape=_same_shape, dtype=_no_bool("trunc_vml_cpu"),
              forward=_rounding(np.trunc), onnx=_trunc_onnx,
              vjp=(lambda g: zeros_like(g),), jvp=(lambda t: zeros_like(t),))  # fmt: skip


def _clamp_fwd(x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    if lo is None and hi is None:
        raise ValueError("clamp(): at least one of 'min' or 'max' must not be None")
    # The bounds take part in type promotion as numbers do (int tensor, float bound: float).
    bounds = [b for b in (lo, hi) if b is not None]
    d = promote([np.asarray(x)] + bounds)
    if d is None and x.dtype == np.bool_ and any(type(b) is not bool for b in bounds):
        d = np.dtype(np.int64)  # a bool tensor with integer bounds: int64, as for bool + 1
    if d is not None:
        x = np.asarray(x, d)
    if x.dtype.kind == "f":
        # An infinite bound rather than None: NumPy (2.4) runs clip with both bounds in its
        # vectorized loop and with one in a slow one (128x512 float32: 21.8 -> 6.8 us).
        lo = -np.inf if lo is None else lo
        hi = np.inf if hi is None else hi
    return np.clip(x, lo, hi).astype(x.dtype, copy=False)


def _clamp_vjp(g: Any, x: Any, lo: Any, hi: Any) -> Any:
    if lo is not None and hi is not None:
        keep = (x >= lo) & (x <= hi)
    elif lo is not None:
        keep = x >= lo
    else:
        keep = x <= hi
    return where(keep, g, 0.0)


def _clamp_check(x: Any, lo: Any, hi: Any) -> None:
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")


def _clamp_shape(x: Any, lo: Any, hi: Any) -> Spec:
    # The dtype depends on the bounds too, as in the forward.
    if lo is None and hi is None:
        raise ValueError("clamp(): at least one of 'min' or 'max' must not be None")
    bounds = [b for b in (lo, hi) if b is not None]
    d = promote([stand_in(x)] + bounds)
    if d is None and x.dtype == np.bool_ and any(type(b) is not bool for b in bounds):
        d = np.dtype(np.int64)
    return Spec(x, x.dtype if d is None else d)


def _clamp_onnx(ox: Any, x: str, lo: Any, hi: Any) -> str:
    # min(max(x, lo), hi) as the forward computes it, in the result's dtype (bounds may be tensors).
    d = ox.out_dtype
    y = ox.cast(x, d)
    for kind, v in (("Max", lo), ("Min", hi)):
        if v is not None:
            y = ox.op(kind, y, ox.cast(v, d) if isinstance(v, str) else ox.const(v, d))
    return y


clamp = defop("clamp", grad_fn="ClampBackward1", forward=_clamp_fwd, shape=_clamp_shape,
              onnx=_clamp_onnx,
              vjp=(_clamp_vjp,), jvp=(_clamp_vjp,), check=_clamp_check)  # fmt: skip
maximum = defop(
    "maximum", grad_fn="MaximumBackward0", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Max", x, y),
    forward=lambda x, y: np.maximum(x, y),
    vjp=(lambda g, x, y: g * tie_mask(x, y),
         lambda g, x, y: g * tie_mask(y, x)),
    jvp=(lambda t, x, y: t * tie_mask(x, y),
         lambda t, x, y: t * tie_mask(y, x)),
    check=broadcast_check,
)  # fmt: skip
minimum = defop(
    "minimum", grad_fn="MinimumBackward0", broadcasting=True, dtype=promote, shape=_bcast_shape,
    onnx=lambda ox, x, y: ox.op("Min", x, y),
    forward=lambda x, y: np.minimum(x, y),
    vjp=(lambda g, x, y: g * tie_mask(y, x),
         lambda g, x, y: g * tie_mask(x, y)),
    jvp=(lambda t, x, y: t * tie_mask(y, x),
         lambda t, x, y: t * tie_mask(x, y)),
    check=broadcast_check,
)  # fmt: skip


def _where_fwd(condition: np.ndarray, x: Any, y: Any) -> np.ndarray:
    if np.asarray(condition).dtype != np.bool_:
        raise TypeError(f"where expected condition to be a boolean tensor, but got a tensor "
                        f"with dtype {np.asarray(condition).dtype}")  # fmt: skip
    # Only x and y take part in type promotion (a dtype rule would cast the condition too).
    d = promote([x, y])
    if d is not None:
        x = x.astype(d) if type(x) is np.ndarray else np.asarray(x, d)
        y = y.astype(d) if type(y) is np.ndarray else np.asarray(y, d)
    return branchless_where(condition, x, y)


def _where_check(condition: Any, x: Any, y: Any) -> None:
    cd = getattr(condition, "dtype", None)
    if cd is not None and getattr(cd, "name", None) != "bool":
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {getattr(cd, 'name', cd)}")  # fmt: skip
    broadcast_check(condition, x, y)


def _where_shape(condition: Any, x: Any, y: Any) -> Spec:
    cd = getattr(condition, "dtype", None)
    if cd is not None and cd != np.bool_:
        raise TypeError(f"where expected condition to be a boolean tensor, but got a tensor "
                        f"with dtype {cd}")  # fmt: skip
    # Only x and y take part in type promotion, as in the forward.
    d = promote([stand_in(x), stand_in(y)])
    if d is None:
        d = next(v.dtype for v in (x, y) if hasattr(v, "dtype"))
    return Spec(_bcast_shape(condition, x, y), d)


def _where_onnx(ox: Any, condition: str, x: str, y: str) -> str:
    d = ox.out_dtype  # the forward promotes x and y only
    return ox.op("Where", condition, ox.cast(x, d), ox.cast(y, d))


where = defop(
    # No dtype rule: the forward promotes x and y only (a dtype rule would cast the condition).
    "where", grad_fn="WhereBackward0", broadcasting=True, shape=_where_shape,
    onnx=_where_onnx,
    forward=_where_fwd,
    vjp=(None,
         lambda g, condition: where(condition, g, 0.0),
         lambda g, condition: where(condition, 0.0, g)),
    jvp=(None,
         lambda t, condition: where(condition, t, 0.0),
         lambda t, condition: where(condition, 0.0, t)),
    check=_where_check,
)  # fmt: skip

# --- comparisons and predicates (never differentiable) -----------------------------------------
eq = defop("eq", grad_fn="EqBackward0", n_inputs=2, dtype=promote,
           onnx=lambda ox, x, y: ox.op("Equal", x, y),
           forward=lambda x, y: np.equal(x, y), check=broadcast_check,
           shape=_bool_shape)  # fmt: skip
ne = defop("ne", grad_fn="NeBackward0", n_inputs=2, dtype=promote,
           onnx=lambda ox, x, y: ox.op("Not", ox.op("Equal", x, y)),
           forward=lambda x, y: np.not_equal(x, y), check=broadcast_check,
           shape=_bool_shape)  # fmt: skip
lt = defop("lt", grad_fn="LtBackward0", n_inputs=2, dtype=promote,
           onnx=lambda ox, x, y: ox.op("Less", x, y),
           forward=lambda x, y: np.less(x, y), check=broadcast_check,
           shape=_bool_shape)  # fmt: skip
le = defop("le", grad_fn="LeBackward0", n_inputs=2, dtype=promote,
           onnx=lambda ox, x, y: ox.op("LessOrEqual", x, y),
           forward=lambda x, y: np.less_equal(x, y), check=broadcast_check,
           shape=_bool_shape)  # fmt: skip
gt = defop("gt", grad_fn="GtBackward0", n_inputs=2, dtype=promote,
           onnx=lambda ox, x, y: ox.op("Greater", x, y),
           forward=lambda x, y: np.greater(x, y), check=broadcast_check,
           shape=_bool_shape)  # fmt: skip
ge = defop("ge", grad_fn="GeBackward0", n_inputs=2, dtype=promote,
           onnx=lambda ox, x, y: ox.op("GreaterOrEqual", x, y),
           forward=lambda x, y: np.greater_equal(x, y), check=broadcast_check,
           shape=_bool_shape)  # fmt: skip
logical_not = defop(
    "logical_not", grad_fn="LogicalNot", n_inputs=1, forward=lambda x: np.logical_not(x),
    onnx=lambda ox, x: ox.op("Not", ox.cast(x, bool)),
    shape=_bool_shape,
)


# --- bitwise ops (bool and integer tensors only, never differentiable) --------------------------
def _bitwise_dtype(kernel: str) -> Any:
    def rule(vals: Any) -> np.dtype | None:
        d = promote(vals)
        got = d if d is not None else next(v.dtype for v in vals if hasattr(v, "dtype"))
        if got.kind not in "biu":
            name = dtypes.pt_name(dtypes.from_numpy_dtype(got))
            raise NotImplementedError(f"\"{kernel}\" not implemented for '{name}'")
        return d

    return rule


def _bitwise_onnx(logical: str, bitwise: str) -> Any:
    # ONNX's Bitwise* ops take integers only; bool tensors use the logical ops.
    return lambda ox, *xs: ox.op(logical if ox.out_dtype.kind == "b" else bitwise, *xs)


bitwise_and = defop("bitwise_and", grad_fn="BitwiseAndBackward0", n_inputs=2,
                    dtype=_bitwise_dtype("bitwise_and_cpu"), shape=_bcast_shape,
                    onnx=_bitwise_onnx("And", "BitwiseAnd"),
                    forward=lambda x, y: np.bitwise_and(x, y), check=broadcast_check)  # fmt: skip
bitwise_or = defop("bitwise_or", grad_fn="BitwiseOrBackward0", n_inputs=2,
                   dtype=_bitwise_dtype("bitwise_or_cpu"), shape=_bcast_shape,
                   onnx=_bitwise_onnx("Or", "BitwiseOr"),
                   forward=lambda x, y: np.bitwise_or(x, y), check=broadcast_check)  # fmt: skip
bitwise_xor = defop("bitwise_xor", grad_fn="BitwiseXorBackward0", n_inputs=2,
                    dtype=_bitwise_dtype("bitwise_xor_cpu"), shape=_bcast_shape,
                    onnx=_bitwise_onnx("Xor", "BitwiseXor"),
                    forward=lambda x, y: np.bitwise_xor(x, y), check=broadcast_check)  # fmt: skip
bitwise_not = defop("bitwise_not", grad_fn="BitwiseNotBackward0", n_inputs=1,
                    dtype=_bitwise_dtype("bitwise_not_cpu"), shape=_same_shape,
                    onnx=_bitwise_onnx("Not", "BitwiseNot"),
                    forward=lambda x: np.invert(x))  # fmt: skip
isnan = defop("isnan", grad_fn="IsNan", n_inputs=1, forward=lambda x: np.isnan(x),
              onnx=lambda ox, x: ox.op("IsNaN", x),
              shape=_bool_shape)  # fmt: skip
isinf = defop("isinf", grad_fn="IsInf", n_inputs=1, forward=lambda x: np.isinf(x),
              onnx=lambda ox, x: ox.op("IsInf", x),
              shape=_bool_shape)  # fmt: skip
isfinite = defop("isfinite", grad_fn="IsFinite", n_inputs=1, forward=lambda x: np.isfinite(x),
                 onnx=lambda ox, x: ox.op("Not", ox.op("Or", ox.op("IsNaN", x), ox.op("IsInf", x))),
                 shape=_bool_shape)  # fmt: skip
