"""Neural-network ops: normalization, embedding, dropout, activations and fused losses, each
declared once with PyTorch's grad_fn name, and their entry points (torch.* and the functional
forms that nn.functional re-exports), which validate every argument before anything runs."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..backend import branchless_where, generator, sum_last
from ..backend import mean as _mean
from .activation import log_softmax as _log_softmax
from .indexing import index_select, open_mesh
from .pointwise import abs as _abs
from .pointwise import (
    add,
    broadcast_check,
    clamp,
    exp,
    log,
    mask_like,
    mul,
    rsqrt,
    sigmoid,
    sign,
    sub,
    tanh,
    where,
)
from .reduction import mean_all, mean_dim, sum_all, sum_dim
from .registry import Spec, apply, apply_inplace, defop, promote_float, shape_of
from .shape import reshape, to_dtype

# Public functions (PyTorch's torch.* names) that dygrad's namespace re-exports.
PUBLIC: list[str] = [
    "batch_norm", "layer_norm", "group_norm", "embedding", "embedding_renorm_", "dropout",
    "dropout_", "erf", "erfc", "selu",
]  # fmt: skip

__all__ = [
    *PUBLIC, "gelu", "elu", "leaky_relu", "silu", "softplus", "hardtanh", "relu6", "logsigmoid",
    "nll_loss", "cross_entropy", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]  # fmt: skip

_SQRT1_2 = math.sqrt(0.5)
_2_SQRTPI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _raw(v: Any) -> Any:
    # The array behind a tensor (rules see tensors when create_graph=True, arrays otherwise).
    return getattr(v, "_data", v)


def _same(x: tuple[int, ...], *rest: Any) -> tuple[int, ...]:
    return x


# PyTorch's scalar type names, as its error messages spell them.
_PT_NAMES = {
    "float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
    "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
}  # fmt: skip


def _dtype_name(v: Any) -> str:
    name = _raw(v).dtype.name
    return _PT_NAMES.get(name, name)


def _size(t: Any) -> str:
    return f"torch.Size({list(t.shape)})"


# =============================================================================================
# erf / erfc (GELU's normal CDF). float64: a series below 2 and a continued fraction above, both
# accurate to a few ulps. float32 and float16: Numerical Recipes' erfc fit (relative error below
# 1.2e-7, about one float32 ulp), ten times cheaper; a short series for erf near 0.


def _erf_small(a: np.ndarray) -> np.ndarray:
    # erf(a) = 2/sqrt(pi) a exp(-a^2) sum_n (2a^2)^n / (2n+1)!!, all terms positive (0 <= a < 2).
    t2 = 2.0 * a * a
    acc = np.ones_like(a)
    for n in range(32, 0, -1):
        acc *= t2
        acc /= 2 * n + 1
        acc += 1.0
    return _2_SQRTPI * a * np.exp(-a * a) * acc


def _erfc_large(a: np.ndarray) -> np.ndarray:
    # erfc(a) = exp(-a^2) / sqrt(pi) / (a + 1/2 / (a + 1 / (a + 3/2 / (a + ...)))), a >= 2.
    t = a.copy()
    for k in range(48, 0, -1):
        t = a + (0.5 * k) / t
    return np.exp(-a * a) / (math.sqrt(math.pi) * t)


_NR_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
            -1.13520398, 1.48851587, -0.82215223, 0.17087277)  # fmt: skip
# 2/sqrt(pi) * (1, -1/3, 1/10, -1/42, 1/216, -1/1320, 1/9360): erf's Taylor series to a^13.
_ERF_TAYLOR = tuple(_2_SQRTPI * c for c in (1, -1 / 3, 1 / 10, -1 / 42, 1 / 216, -1 / 1320,
                                            1 / 9360))  # fmt: skip


def _erfc_abs(a: np.ndarray) -> np.ndarray:
    # erfc(a) for a = |x| >= 0 (float32 or float64 array, as the branch needs).
    if a.dtype != np.float64:
        t = 1.0 / (1.0 + 0.5 * a)
        p = np.full_like(a, _NR_ERFC[-1])
        for c in _NR_ERFC[-2::-1]:
            p *= t
            p += c
        p -= a * a
        with np.errstate(under="ignore"):
            return t * np.exp(p, out=p)
    out = np.empty_like(a)
    small = a < 2.0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        out[small] = 1.0 - _erf_small(a[small])
        out[~small] = _erfc_large(a[~small])
    return out


def _erf_abs(a: np.ndarray) -> np.ndarray:
    # erf(a) for a = |x| >= 0.
    if a.dtype != np.float64:
        a2 = a * a
        s = np.full_like(a, _ERF_TAYLOR[-1])
        for c in _ERF_TAYLOR[-2::-1]:
            s *= a2
            s += c
        return branchless_where(a < 0.5, s * a, 1.0 - _erfc_abs(a))
    out = np.empty_like(a)
    small = a < 2.0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        out[small] = _erf_small(a[small])
        out[~small] = 1.0 - _erfc_large(a[~small])
    return out


def _abs_for_erf(x: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(x, np.float64 if x.dtype == np.float64 else np.float32))


def _erf_fwd(x: np.ndarray) -> np.ndarray:
    return (np.sign(x) * _erf_abs(_abs_for_erf(x))).astype(x.dtype, copy=False)


def _erfc_fwd(x: np.ndarray) -> np.ndarray:
    a = _abs_for_erf(x)
    c = _erfc_abs(a)
    return branchless_where(x >= 0, c, 2.0 - c).astype(x.dtype, copy=False)


# Elementwise ops have diagonal Jacobians: one rule, given g or a tangent t, serves both modes.
def _erf_d(g: Any, x: Any) -> Any:
    return g * exp(x * x * -1.0) * _2_SQRTPI


def _erfc_d(g: Any, x: Any) -> Any:
    return g * exp(x * x * -1.0) * -_2_SQRTPI


_erf = defop("erf", grad_fn="ErfBackward0", dtype=promote_float, shape=_same, forward=_erf_fwd,
             onnx=lambda ox, x: ox.op("Erf", x),
             vjp=(_erf_d,), jvp=(_erf_d,))  # fmt: skip
_erfc = defop("erfc", grad_fn="ErfcBackward0", dtype=promote_float, shape=_same,
              onnx=lambda ox, x: ox.op("Sub", ox.const(1, ox.dtype(x)), ox.op("Erf", x)),
              forward=_erfc_fwd, vjp=(_erfc_d,), jvp=(_erfc_d,))  # fmt: skip


def erf(input: Any) -> Any:  # noqa: A002
    """The error function, elementwise (`torch.erf`).

    >>> import dygrad as torch
    >>> torch.erf(torch.tensor([0.0, 1.0, -2.0]))
    tensor([ 0.0000,  0.8427, -0.9953])
    """
    return apply(_erf, input)


def erfc(input: Any) -> Any:  # noqa: A002
    """The complementary error function 1 - erf(x), accurate in the tails (`torch.erfc`).

    >>> import dygrad as torch
    >>> torch.erfc(torch.tensor([0.0, 5.0]))
    tensor([1.0000e+00, 1.5375e-12])
    """
    return apply(_erfc, input)


# =============================================================================================
# Activations. Each rule is written with dygrad ops, so it is differentiable in turn.


def _gelu_fwd(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return (0.5 * x * (1.0 + np.tanh(inner))).astype(x.dtype, copy=False)
    # x * Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation for negative x.
    half = 0.5 * _erfc_abs(_abs_for_erf(x) * _SQRT1_2)
    return (x * branchless_where(x >= 0, 1.0 - half, half)).astype(x.dtype, copy=False)


def _gelu_vjp(g: Any, x: Any, approximate: str) -> Any:
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        x2 = x * x
        t = tanh((x + x2 * x * 0.044715) * k)
        return g * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * (x2 * (3 * 0.044715) + 1.0) * k)
    cdf = erfc(x * -_SQRT1_2) * 0.5
    pdf = exp(x * x * -0.5) * _INV_SQRT_2PI
    return g * (cdf + x * pdf)


def _gelu_onnx(ox: Any, x: str, approximate: str) -> str:
    def c(v: float) -> str:
        return ox.const(v, ox.dtype(x))

    if approximate == "tanh":
        cube = ox.op("Mul", ox.op("Mul", ox.op("Mul", x, x), x), c(0.044715))
        phi = ox.op("Tanh", ox.op("Mul", ox.op("Add", x, cube), c(math.sqrt(2.0 / math.pi))))
    else:
        phi = ox.op("Erf", ox.op("Mul", x, c(_SQRT1_2)))
    return ox.op("Mul", ox.op("Mul", x, c(0.5)), ox.op("Add", phi, c(1.0)))


_gelu = defop("gelu", grad_fn="GeluBackward0", dtype=promote_float, shape=_same,
              onnx=_gelu_onnx,
              forward=_gelu_fwd, vjp=(_gelu_vjp,), jvp=(_gelu_vjp,))  # fmt: skip


def _elu_fwd(x: np.ndarray, alpha: float, scale: float, input_scale: float) -> np.ndarray:
    z = np.zeros(x.shape, x.dtype) if x.dtype.kind == "f" else 0
    neg = np.expm1(np.minimum(x, z, out=z if x.ndim else None) * input_scale)  # (arrays: NumPy's
    neg *= alpha * scale  # fast maximum/minimum loop)
    if x.dtype.kind == "f" and scale == 1 and input_scale == 1 and 0 < alpha <= 1:
        # alpha * (exp(x) - 1) >= x for x <= 0 when alpha <= 1, and 0 < x above: the larger of
        # the two is elu(x), in one pass instead of a select's six (-0.0 gives -0.0, as PyTorch).
        return np.asarray(np.maximum(neg, x, out=neg if x.ndim else None))
    return branchless_where(x > 0, x * scale, neg).astype(x.dtype, copy=False)


# PyTorch's elu_backward takes the exp branch where x <= 0 and the linear one elsewhere, NaN
# included: a NaN input passes g * scale on.
def _elu_vjp(g: Any, x: Any, alpha: float, scale: float, input_scale: float) -> Any:
    if alpha == 1 and scale == 1 and input_scale == 1 and type(x) is np.ndarray and x.ndim:
        # exp(fmin(x, 0)) is exp(x) where x <= 0 and 1 elsewhere (fmin takes 0 over NaN): the
        # select is not needed.
        z = np.zeros(x.shape, x.dtype)
        return g * np.exp(np.fmin(x, z, out=z), out=z)
    # The exp branch sees min(x, 0): no overflow where it is not selected, even in its gradient.
    e = exp(clamp(x, None, 0.0) * input_scale) * (alpha * scale * input_scale)
    return where(x <= 0, g * e, g * scale)


def _elu_result_vjp(g: Any, alpha: float, scale: float, input_scale: float, out: Any) -> Any:
    # From the result (in-place elu_ overwrote x): out + alpha * scale = alpha * scale * exp(x).
    return where(out <= 0, g * (out + alpha * scale) * input_scale, g * scale)


def _leaky_fwd(x: np.ndarray, slope: float) -> np.ndarray:
    # x where x > 0, else slope * x. For a positive slope that is the larger of the two (slope
    # <= 1) or the smaller (slope > 1), signed zeros, infinities and NaN included: two passes
    # instead of four. Zero or negative slopes (0 * inf, the sign of zero) take the select.
    sx = np.asarray(x * slope)  # (an array for 0-d x too: it is written into)
    if x.dtype.kind == "f" and x.dtype.type(slope) > 0:  # (the slope as x's dtype holds it)
        pick = np.maximum if slope <= 1 else np.minimum
        return pick(x, sx, out=sx).astype(x.dtype, copy=False)
    return branchless_where(x > 0, x, sx).astype(x.dtype, copy=False)


def _slope_select(g: Any, pos: Any, slope: float) -> Any:
    """`where(pos, g, g * slope)`. On float arrays of one shape: the 0/1 mask mapped to {slope, 1}
    and multiplied in, four passes where the select takes six (128x512 float32: 45 -> 19 us),
    the same numbers whenever 1 - slope and slope add up to exactly 1 in g's dtype (checked)."""
    if type(g) is np.ndarray and type(pos) is np.ndarray and g.shape == pos.shape:
        t = g.dtype.type
        # (A slope of -0.0 in the dtype would lose its sign: 0 * (1 - slope) + -0.0 is +0.0.)
        if (
            g.dtype.kind == "f"
            and t(1 - slope) + t(slope) == 1
            and not (t(slope) == 0 and np.signbit(t(slope)))
        ):
            m = pos.astype(g.dtype)
            m *= t(1 - slope)
            m += t(slope)
            m *= g
            return m
    return where(pos, g, g * slope)


def _leaky_d(g: Any, x: Any, slope: float) -> Any:
    return _slope_select(g, x > 0, slope)


def _leaky_result_d(g: Any, slope: float, out: Any) -> Any:
    return _slope_select(g, out > 0, slope)


def _elu_onnx(ox: Any, x: str, alpha: float, scale: float, input_scale: float) -> str:
    if input_scale != 1:
        ox.fail("ONNX's Selu has no input scale")
    return ox.op("Selu", x, alpha=float(alpha), gamma=float(scale))  # ELU: SELU with gamma 1


_elu = defop("elu", grad_fn="EluBackward0", shape=_same, forward=_elu_fwd, vjp=(_elu_vjp,),
             onnx=_elu_onnx,
             jvp=(_elu_vjp,))  # fmt: skip
_leaky_relu = defop("leaky_relu", grad_fn="LeakyReluBackward0", shape=_same, forward=_leaky_fwd,
                    onnx=lambda ox, x, slope: ox.op("LeakyRelu", x, alpha=float(slope)),
                    vjp=(_leaky_d,), jvp=(_leaky_d,))  # fmt: skip
# The in-place forms differentiate from their result, as PyTorch's (EluBackward1, ...) do.
_elu_ = defop("elu_", grad_fn="EluBackward1", shape=_same, forward=_elu_fwd,
              onnx=_elu_onnx,
              vjp=(_elu_result_vjp,), jvp=(_elu_result_vjp,))  # fmt: skip
_leaky_relu_ = defop("leaky_relu_", grad_fn="LeakyReluBackward1", shape=_same,
                     onnx=lambda ox, x, slope: ox.op("LeakyRelu", x, alpha=float(slope)),
                     forward=_leaky_fwd, vjp=(_leaky_result_d,),
                     jvp=(_leaky_result_d,))  # fmt: skip


def _silu_vjp(g: Any, x: Any) -> Any:
    s = sigmoid(x)
    if type(s) is np.ndarray and s.ndim and type(g) is np.ndarray:
        # The same products as below, in the same order, on two temporaries instead of five.
        t = np.subtract(1.0, s)
        t *= x
        t += 1.0
        s *= g
        s *= t
        return s
    return g * s * (x * (1.0 - s) + 1.0)


_silu = defop("silu", grad_fn="SiluBackward0", shape=_same,
              onnx=lambda ox, x: ox.op("Mul", x, ox.op("Sigmoid", x)),
              forward=lambda x: x * sigmoid(x), vjp=(_silu_vjp,), jvp=(_silu_vjp,))  # fmt: skip


def _softplus_fwd(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    # PyTorch's own formula, log1p(exp(beta x)) / beta below the threshold: vectorized, where
    # np.logaddexp's loop is not (128x512 float32: 1116 -> 62 us). Clipped at the threshold
    # first, so that exp does not overflow where x itself is taken; float16 computed in
    # float32, as PyTorch does (its exp overflows from 11.1 on).
    xc = _in_float32(x)
    bx = xc * beta
    soft = np.log1p(np.exp(np.clip(bx, -np.inf, threshold))) / beta
    if beta == 1 and _linear_above(xc.dtype, threshold):
        # log1p(exp(x)) >= x below the threshold, and is no more than x above it (checked for
        # this dtype and threshold): the larger of the two, one pass instead of a select's six.
        return np.asarray(np.maximum(soft, xc, out=soft if soft.ndim else None)).astype(
            x.dtype, copy=False
        )
    return branchless_where(bx > threshold, xc, soft).astype(x.dtype, copy=False)


@functools.lru_cache(maxsize=32)
def _linear_above(dt: np.dtype, threshold: float) -> bool:
    """Whether softplus (beta 1) computed in `dt` at `threshold` is at most the next number
    above it, and its slope (sigmoid) there is 1: then selecting x above the threshold changes
    nothing that a maximum (forward) or the product itself (backward) would not give."""
    t = dt.type
    with np.errstate(over="ignore"):  # (a threshold beyond the dtype's range: not taken)
        th = t(threshold)
        at = np.log1p(np.exp(np.asarray(th)))
    return bool(
        np.isfinite(th) and at <= np.nextafter(th, t(np.inf)) and sigmoid(np.asarray(th)) == 1
    )


def _in_float32(x: np.ndarray) -> np.ndarray:
    # Half-precision inputs computed in float32 and rounded once at the end, as PyTorch's
    # kernels do.
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _softplus_d(g: Any, x: Any, beta: float, threshold: float) -> Any:
    if (
        beta == 1
        and type(x) is np.ndarray
        and x.dtype.kind == "f"
        and _linear_above(x.dtype, threshold)
    ):
        return g * sigmoid(x)  # sigmoid is 1 above the threshold (checked): no select
    return where(x * beta > threshold, g, g * sigmoid(x * beta))


def _hardtanh_d(g: Any, x: Any, lo: float, hi: float) -> Any:
    # PyTorch passes no gradient (and no tangent) at the bounds themselves or beyond them, and
    # passes it at NaN: its test is x <= lo or x >= hi. On arrays, g times the negated test.
    if type(x) is np.ndarray and type(g) is np.ndarray and x.ndim:
        out = x <= lo
        np.logical_or(out, x >= hi, out=out)
        return g * np.logical_not(out, out=out)
    return g * mask_like(~((x <= lo) | (x >= hi)), g)


def _logsigmoid_d(g: Any, x: Any) -> Any:
    return g * sigmoid(-x)


def _softplus_onnx(ox: Any, x: str, beta: float, threshold: float) -> str:
    d = ox.dtype(x)
    bx = ox.op("Mul", x, ox.const(beta, d))
    soft = ox.op("Div", ox.op("Softplus", bx), ox.const(beta, d))
    return ox.op("Where", ox.op("Greater", bx, ox.const(threshold, d)), x, soft)


_softplus = defop("softplus", grad_fn="SoftplusBackward0", shape=_same, forward=_softplus_fwd,
                  onnx=_softplus_onnx,
                  vjp=(_softplus_d,), jvp=(_softplus_d,))  # fmt: skip
_hardtanh = defop(
    "hardtanh", grad_fn="HardtanhBackward0", shape=_same,
    onnx=lambda ox, x, lo, hi: ox.op("Clip", x, *(ox.const(v, ox.dtype(x)) for v in (lo, hi))),
    forward=lambda x, lo, hi: np.clip(x, lo, hi).astype(x.dtype, copy=False),
    vjp=(_hardtanh_d,), jvp=(_hardtanh_d,),
)  # fmt: skip


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    # PyTorch's formula, min(x, 0) - log1p(exp(-|x|)): vectorized, where np.logaddexp(0, -x)
    # takes a slow loop (128x512 float32 about 18x slower); min as clip with two bounds (the
    # vectorized clip); float16 in float32.
    x = _in_float32(x)
    return np.clip(x, -np.inf, 0) - np.log1p(np.exp(-np.abs(x)))


_logsigmoid = defop(
    "logsigmoid", grad_fn="LogSigmoidBackward0", shape=_same,
    onnx=lambda ox, x: ox.op("Neg", ox.op("Softplus", ox.op("Neg", x))),
    forward=lambda x: _log_sigmoid(x).astype(x.dtype, copy=False),
    vjp=(_logsigmoid_d,), jvp=(_logsigmoid_d,),
)  # fmt: skip


def _float_check(x: Any, fn: str) -> None:
    if not hasattr(x, "shape"):
        raise TypeError(f"{fn}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")  # fmt: skip
    if _raw(x).dtype.kind != "f":
        raise RuntimeError(f"\"{fn}\" not implemented for '{_dtype_name(x)}'")


def _act(op: Any, fn: str, x: Any, inplace: bool, *attrs: Any) -> Any:
    _float_check(x, fn)
    if inplace:
        # The result-based in-place rules need a non-negative slope; otherwise keep x's copy.
        return apply_inplace(op if attrs and attrs[0] < 0 else _INPLACE.get(op, op), x, *attrs)
    return apply(op, x, *attrs)


_INPLACE = {_elu: _elu_, _leaky_relu: _leaky_relu_}


def gelu(input: Any, approximate: str = "none") -> Any:  # noqa: A002
    """x * Phi(x), with Phi the standard normal CDF, or its tanh approximation
    (`torch.nn.functional.gelu`).

    >>> import dygrad as torch
    >>> torch.nn.functional.gelu(torch.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.1587,  0.0000,  0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _act(_gelu, "gelu", input, False, approximate)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Any:  # noqa: A002
    """x for x > 0, alpha * (exp(x) - 1) otherwise (`torch.nn.functional.elu`).

    >>> import dygrad as torch
    >>> torch.nn.functional.elu(torch.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    return _act(_elu, "elu", input, inplace, float(alpha), 1.0, 1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """Scaled ELU with the self-normalizing constants (`torch.selu`,
    `torch.nn.functional.selu`).

    >>> import dygrad as torch
    >>> torch.selu(torch.tensor([-1.0, 1.0]))
    tensor([-1.1113,  1.0507])
    """
    return _act(_elu, "elu", input, inplace, _SELU_ALPHA, _SELU_SCALE, 1.0)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Any:  # noqa: A002
    """x for x > 0, negative_slope * x otherwise (`torch.nn.functional.leaky_relu`).

    >>> import dygrad as torch
    >>> torch.nn.functional.leaky_relu(torch.tensor([-2.0, 3.0]), 0.1)
    tensor([-0.2000,  3.0000])
    """
    return _act(_leaky_relu, "leaky_relu", input, inplace, float(negative_slope))


def silu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """x * sigmoid(x) (`torch.nn.functional.silu`).

    >>> import dygrad as torch
    >>> torch.nn.functional.silu(torch.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7311])
    """
    return _act(_silu, "silu", input, inplace)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:  # noqa: A002
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold
    (`torch.nn.functional.softplus`).

    >>> import dygrad as torch
    >>> torch.nn.functional.softplus(torch.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.0000])
    """
    return _act(_softplus, "softplus", input, False, float(beta), float(threshold))


def hardtanh(
    input: Any,  # noqa: A002
    min_val: float = -1.0,
    max_val: float = 1.0,
    inplace: bool = False,
) -> Any:
    """x clamped to [min_val, max_val] (`torch.nn.functional.hardtanh`).

    >>> import dygrad as torch
    >>> torch.nn.functional.hardtanh(torch.tensor([-3.0, 0.5, 2.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _act(_hardtanh, "hardtanh", input, inplace, float(min_val), float(max_val))


def relu6(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """min(max(x, 0), 6) (`torch.nn.functional.relu6`).

    >>> import dygrad as torch
    >>> torch.nn.functional.relu6(torch.tensor([-1.0, 7.0]))
    tensor([0., 6.])
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def logsigmoid(input: Any) -> Any:  # noqa: A002
    """log(sigmoid(x)), computed without overflow (`torch.nn.functional.logsigmoid`).

    >>> import dygrad as torch
    >>> torch.nn.functional.logsigmoid(torch.tensor([0.0, -100.0]))
    tensor([  -0.6931, -100.0000])
    """
    return _act(_logsigmoid, "log_sigmoid_forward", input, False)


# =============================================================================================
# Normalization. The backward rules recompute the statistics from x (a few cheap passes) instead
# of saving them, so an in-place op on the output (BatchNorm then ReLU(inplace=True)) stays legal,
# and so that, taken on tensors, they differentiate through the statistics (double backward).


def _xhat(x: Any, dims: tuple[int, ...], eps: float) -> tuple[Any, Any]:
    mu = mean_dim(x, dims, True, x.shape)
    xc = x - mu
    rstd = rsqrt(mean_dim(xc * xc, dims, True, x.shape) + eps)
    return xc * rstd, rstd


def _norm_grad(gh: Any, x: Any, dims: tuple[int, ...], eps: float) -> Any:
    # The gradient through (x - mean) / sqrt(var + eps), given the gradient gh of the result.
    # That Jacobian is symmetric, so given a tangent of x this is also the result's tangent.
    xhat, rstd = _xhat(x, dims, eps)
    s = gh.shape
    return (gh - mean_dim(gh, dims, True, s) - xhat * mean_dim(gh * xhat, dims, True, s)) * rstd


def _bn_geom(x: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    # Statistics dims (all but channels) and the broadcast shape of per-channel values.
    nd = len(x.shape)
    return (0, *range(2, nd)), (1, x.shape[1]) + (1,) * (nd - 2)


def _bn_fwd(
    x: np.ndarray, weight: Any, bias: Any, running_mean: Any, running_var: Any,
    training: bool, eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    dims, pshape = _bn_geom(x)
    if training:
        mean = _mean(x, dims)
        xc = x - mean.reshape(pshape)
        var = _mean(np.square(xc), dims)
    else:
        mean, var = running_mean, running_var
        xc = x - mean.reshape(pshape)
    scale = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    y = xc * scale.reshape(pshape).astype(x.dtype, copy=False)
    if bias is not None:
        y += bias.reshape(pshape)
    if not training:
        mean = var = np.zeros(0, x.dtype)
    return y, mean, var


def _bn_x(g: Any, x: Any, weight: Any, running_var: Any, training: bool, eps: float) -> Any:
    dims, pshape = _bn_geom(x)
    gy = g[0] if weight is None else g[0] * reshape(weight, pshape, weight.shape)
    if not training:
        return gy * reshape(rsqrt(running_var + eps), pshape, running_var.shape)
    return _norm_grad(gy, x, dims, eps)


def _bn_xhat(x: Any, running_mean: Any, running_var: Any, training: bool, eps: float) -> Any:
    # The normalized input (batch statistics in training, running ones in eval), with the
    # reduced dims and the per-channel broadcast shape.
    dims, pshape = _bn_geom(x)
    if training:
        return _xhat(x, dims, eps)[0], dims, pshape
    c = running_var.shape
    xhat = (x - reshape(running_mean, pshape, c)) * reshape(rsqrt(running_var + eps), pshape, c)
    return xhat, dims, pshape


def _bn_w(g: Any, x: Any, running_mean: Any, running_var: Any, training: bool, eps: float) -> Any:
    xhat, dims, _ = _bn_xhat(x, running_mean, running_var, training, eps)
    return sum_dim(g[0] * xhat, dims, False, x.shape)


def _bn_x_jvp(t: Any, x: Any, weight: Any, running_var: Any, training: bool, eps: float) -> Any:
    dims, pshape = _bn_geom(x)
    if training:
        ty = _norm_grad(t, x, dims, eps)
    else:
        ty = t * reshape(rsqrt(running_var + eps), pshape, running_var.shape)
    if weight is not None:
        ty = ty * reshape(weight, pshape, weight.shape)
    return ty, None, None


def _bn_w_jvp(t: Any, x: Any, running_mean: Any, running_var: Any, training: bool,
              eps: float) -> Any:  # fmt: skip
    xhat, _, pshape = _bn_xhat(x, running_mean, running_var, training, eps)
    return xhat * reshape(t, pshape, t.shape), None, None


def _bn_shape(x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
              training: bool, eps: float) -> tuple[Spec, Spec, Spec]:  # fmt: skip
    # (y, batch mean, batch var); out of training the statistics are empty.
    if len(x) < 2:
        raise ValueError("batch_norm needs at least 2 dims")
    stat = (x[1],) if training else (0,)
    return Spec(x, x.dtype), Spec(stat, x.dtype), Spec(stat, x.dtype)


def _bn_onnx(ox: Any, x: str, weight: str | None, bias: str | None, running_mean: str | None,
             running_var: str | None, training: bool, eps: float) -> tuple[str, None, None]:
    d, c = ox.dtype(x), ox.shape(x)[1]
    weight = weight or ox.const(np.ones(c, d))
    bias = bias or ox.const(np.zeros(c, d))
    if not training:
        y = ox.op("BatchNormalization", x, weight, bias, running_mean, running_var,
                  epsilon=float(eps))
        return y, None, None  # the saved statistics (empty out of training) are not exported
    # Batch statistics (a norm without running statistics): over all dims but the channels.
    axes = ox.ints([0, *range(2, ox.rank(x))])
    xc = ox.op("Sub", x, ox.op("ReduceMean", x, axes))
    var = ox.op("ReduceMean", ox.op("Mul", xc, xc), axes)
    y = ox.op("Div", xc, ox.op("Sqrt", ox.op("Add", var, ox.const(eps, d))))
    pshape = ox.ints([1, -1] + [1] * (ox.rank(x) - 2))
    y = ox.op("Mul", y, ox.op("Reshape", weight, pshape))
    return ox.op("Add", y, ox.op("Reshape", bias, pshape)), None, None


_batch_norm = defop(
    "native_batch_norm", grad_fn="NativeBatchNormBackward0", forward=_bn_fwd, n_outputs=3,
    onnx=_bn_onnx,
    shape=_bn_shape,
    differentiable_outputs=(True, False, False), n_inputs=5,
    vjp=(_bn_x, _bn_w,
         lambda g, x: sum_dim(g[0], _bn_geom(x)[0], False, x.shape)),
    # The batch statistics are outputs without gradients, so they get no tangents either.
    jvp=(_bn_x_jvp, _bn_w_jvp,
         lambda t, x: (reshape(t, _bn_geom(x)[1], t.shape), None, None)),
)  # fmt: skip


def _param_check(name: str, p: Any, n: int, x: Any) -> None:
    if p is None:
        return
    if p.shape != (n,) and int(math.prod(p.shape)) != n:
        raise RuntimeError(f"{name} should contain {n} elements not {int(math.prod(p.shape))}")
    if _raw(p).dtype != _raw(x).dtype:
        raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")


def batch_norm(
    input: Any,  # noqa: A002
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool = True,
) -> Any:
    """Batch normalization over every dim but the channel dim 1 (`torch.batch_norm`). In training
    mode it normalizes with the batch statistics and, when given, updates `running_mean` and
    `running_var` (unbiased) in place: r = (1 - momentum) * r + momentum * stat. Otherwise it
    normalizes with the running statistics.

    >>> import dygrad as torch
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    >>> rm, rv = torch.zeros(2), torch.ones(2)
    >>> torch.batch_norm(x, None, None, rm, rv, True, 0.1, 1e-5, False)
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]])
    >>> rm, rv
    (tensor([0.2000, 0.4000]), tensor([1.1000, 1.7000]))
    """
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise ValueError(f"batch_norm(): expected at least 2D input (got {len(shape)}D input)")
    _float_check(input, "batch_norm")
    c = shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        _param_check(name, p, c, input)
    if not training and (running_mean is None or running_var is None):
        which = "running_mean" if running_mean is None else "running_var"
        raise RuntimeError(f"{which} must be defined in evaluation mode")
    if training and int(math.prod(shape)) // c == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {_size(input)}"
        )
    flat = [None if p is None else (p if p.shape == (c,) else p.reshape(c)) for p in
            (weight, bias, running_mean, running_var)]  # fmt: skip
    stats = (None, None) if training else (flat[2], flat[3])
    y, mean, var = apply(_batch_norm, input, flat[0], flat[1], *stats, bool(training), eps)
    if training and running_mean is not None:
        n = int(math.prod(shape)) // c
        # Through ops, so that a trace (dygrad.jit) replays the update.
        with no_grad():
            for r, st, f in ((running_mean, mean, 1.0), (running_var, var, n / max(n - 1, 1))):
                upd = apply(mul, st, momentum * f)
                if upd.shape != r.shape:
                    upd = apply(reshape, upd, tuple(r.shape), tuple(upd.shape))
                if upd.dtype != r.dtype:
                    upd = apply(to_dtype, upd, _raw(r).dtype, _raw(upd).dtype)
                apply_inplace(mul, r, 1.0 - momentum)
                apply_inplace(add, r, upd)
    return y


def _ln_dims(x: Any, k: int) -> tuple[int, ...]:
    nd = len(x.shape)
    return tuple(range(nd - k, nd))


def _ln_fwd(
    x: np.ndarray, weight: Any, bias: Any, k: int, eps: float
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    # Also returns (mean, 1 / std) over the normalized dims, as PyTorch's kernel keeps them: the
    # backward rebuilds the normalized input from them instead of reducing x twice again.
    mean = _mean_last(x, k)
    y = x - mean
    var = _mean_last(np.square(y), k)
    rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    y *= rstd
    if weight is not None:
        y *= weight
    if bias is not None:
        y += bias
    return y, (mean, rstd)


def _mean_last(a: np.ndarray, k: int) -> np.ndarray:
    # The mean over the last k axes, kept; float32/float64 through one matrix-vector product
    # (backend.sum_last: 128x512 12.9 -> 3.2 us), other dtypes as np.mean in their own dtype.
    if a.dtype == np.float32 or a.dtype == np.float64:
        return sum_last(a, k) / max(math.prod(a.shape[a.ndim - k :]), 1)
    return _mean(a, tuple(range(a.ndim - k, a.ndim)), True)


def _ln_xhat(g: Any, x: Any, aux: Any) -> Any:
    # The forward's normalized input from its kept statistics; None on tensors (double backward)
    # or where the node kept nothing.
    if aux is None or type(g) is not np.ndarray:
        return None
    mean, rstd = aux
    xhat = x - mean
    xhat *= rstd
    return xhat


def _ln_x(g: Any, x: Any, weight: Any, k: int, eps: float, aux: Any) -> Any:
    gh = g if weight is None else g * weight
    dims = _ln_dims(x, k)
    xhat = _ln_xhat(g, x, aux)
    if xhat is None:
        return _norm_grad(gh, x, dims, eps)
    # _norm_grad's formula, step by step in place: (gh - mean(gh) - xhat * mean(gh * xhat)) * rstd
    m2 = _mean_last(gh * xhat, k)
    r = gh - _mean_last(gh, k)
    xhat *= m2
    r -= xhat
    r *= aux[1]
    return r


def _ln_w(g: Any, x: Any, k: int, eps: float, aux: Any) -> Any:
    lead = tuple(range(len(x.shape) - k))
    xhat = _ln_xhat(g, x, aux)
    if xhat is None:
        xhat = _xhat(x, _ln_dims(x, k), eps)[0]
    return sum_dim(g * xhat, lead, False, x.shape)


def _ln_x_jvp(t: Any, x: Any, weight: Any, k: int, eps: float) -> Any:
    ty = _norm_grad(t, x, _ln_dims(x, k), eps)
    return ty if weight is None else ty * weight


def _ln_onnx(ox: Any, x: str, weight: str | None, bias: str | None, k: int, eps: float) -> str:
    if weight is None:
        weight = ox.const(np.ones(ox.shape(x)[len(ox.shape(x)) - k :], ox.dtype(x)))
    return ox.op("LayerNormalization", x, weight, bias, axis=-k, epsilon=float(eps))


_layer_norm = defop(
    "native_layer_norm", grad_fn="NativeLayerNormBackward0", forward=_ln_fwd, n_inputs=3,
    onnx=_ln_onnx, aux=True,
    shape=lambda x, w, b, k, eps: x,
    vjp=(_ln_x, _ln_w,
         lambda g, k: sum_dim(g, tuple(range(len(g.shape) - k)), False, g.shape)),
    # Weight and bias span the trailing dims, so their tangents broadcast as they are.
    jvp=(_ln_x_jvp,
         lambda t, x, k, eps: _xhat(x, _ln_dims(x, k), eps)[0] * t,
         lambda t: t),
)  # fmt: skip


def layer_norm(
    input: Any,  # noqa: A002
    normalized_shape: Sequence[int] | int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    cudnn_enable: bool = True,
) -> Any:
    """Normalize over the last `len(normalized_shape)` dims, then scale and shift elementwise
    (`torch.layer_norm`, `torch.nn.functional.layer_norm`).

    >>> import dygrad as torch
    >>> torch.layer_norm(torch.tensor([[1.0, 3.0], [2.0, 2.0]]), (2,))
    tensor([[-1.0000,  1.0000],
            [ 0.0000,  0.0000]])
    """
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    _float_check(input, "layer_norm")
    shape = tuple(input.shape)
    k = len(ns)
    if k == 0 or k > len(shape) or shape[len(shape) - k :] != ns:
        raise RuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape [*, "
            f"{', '.join(map(str, ns))}], but got input of size{list(shape)}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != ns:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                f"shape {list(p.shape)} and normalized_shape = {list(ns)}"
            )
        if p is not None and _raw(p).dtype != _raw(input).dtype:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
    return apply(_layer_norm, input, weight, bias, k, eps)


def _gn_geom(x: Any, groups: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    # The grouped shape (N, G, rest) and the broadcast shape of per-channel values.
    s = tuple(x.shape)
    n = int(math.prod(s)) // max(s[0] * groups, 1) if s[0] * groups else 0
    return (s[0], groups, n), (1, s[1]) + (1,) * (len(s) - 2)


def _gn_fwd(x: np.ndarray, weight: Any, bias: Any, groups: int, eps: float) -> np.ndarray:
    gshape, pshape = _gn_geom(x, groups)
    xr = x.reshape(gshape)
    mean = _mean(xr, 2, True)
    xc = xr - mean
    var = _mean(np.square(xc), 2, True)
    y = (xc * (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)).reshape(x.shape)
    if weight is not None:
        y *= weight.reshape(pshape)
    if bias is not None:
        y += bias.reshape(pshape)
    return y


def _gn_xhat(x: Any, groups: int, eps: float) -> Any:
    gshape, _ = _gn_geom(x, groups)
    xhat = _xhat(reshape(x, gshape, x.shape), (2,), eps)[0]
    return reshape(xhat, tuple(x.shape), gshape)


def _gn_x(g: Any, x: Any, weight: Any, groups: int, eps: float) -> Any:
    gshape, pshape = _gn_geom(x, groups)
    gh = g if weight is None else g * reshape(weight, pshape, weight.shape)
    gx = _norm_grad(reshape(gh, gshape, gh.shape), reshape(x, gshape, x.shape), (2,), eps)
    return reshape(gx, tuple(x.shape), gshape)


def _gn_w(g: Any, x: Any, groups: int, eps: float) -> Any:
    return sum_dim(g * _gn_xhat(x, groups, eps), _bn_geom(x)[0], False, x.shape)


def _gn_x_jvp(t: Any, x: Any, weight: Any, groups: int, eps: float) -> Any:
    gshape, pshape = _gn_geom(x, groups)
    ty = _norm_grad(reshape(t, gshape, t.shape), reshape(x, gshape, x.shape), (2,), eps)
    ty = reshape(ty, tuple(x.shape), gshape)
    return ty if weight is None else ty * reshape(weight, pshape, weight.shape)


def _gn_onnx(ox: Any, x: str, weight: str | None, bias: str | None, groups: int,
             eps: float) -> str:  # fmt: skip
    # Normalize each (sample, group) row of x seen as (N, groups, -1); then the affine map.
    rows = ox.op("Reshape", x, ox.ints([0, groups, -1]))  # 0: N as it is
    axes = ox.ints([2])
    xc = ox.op("Sub", rows, ox.op("ReduceMean", rows, axes))
    var = ox.op("ReduceMean", ox.op("Mul", xc, xc), axes)
    y = ox.op("Div", xc, ox.op("Sqrt", ox.op("Add", var, ox.const(eps, ox.dtype(x)))))
    y = ox.op("Reshape", y, ox.op("Shape", x))
    pshape = ox.ints([1, -1] + [1] * (ox.rank(x) - 2))
    if weight is not None:
        y = ox.op("Mul", y, ox.op("Reshape", weight, pshape))
    return y if bias is None else ox.op("Add", y, ox.op("Reshape", bias, pshape))


_group_norm = defop(
    "native_group_norm", grad_fn="NativeGroupNormBackward0", forward=_gn_fwd, n_inputs=3,
    onnx=_gn_onnx,
    shape=lambda x, w, b, groups, eps: x,
    vjp=(_gn_x, _gn_w,
         lambda g: sum_dim(g, _bn_geom(g)[0], False, g.shape)),
    jvp=(_gn_x_jvp,
         lambda t, x, groups, eps: _gn_xhat(x, groups, eps) * reshape(t, _bn_geom(x)[1], t.shape),
         lambda t, x: reshape(t, _bn_geom(x)[1], t.shape)),
)  # fmt: skip


def group_norm(
    input: Any,  # noqa: A002
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    cudnn_enabled: bool = True,
) -> Any:
    """Normalize each group of channels of each sample, then scale and shift per channel
    (`torch.group_norm`, `torch.nn.functional.group_norm`).

    >>> import dygrad as torch
    >>> torch.group_norm(torch.tensor([[1.0, 3.0, 5.0, 5.0]]), 2)
    tensor([[-1.0000,  1.0000,  0.0000,  0.0000]])
    """
    _float_check(input, "group_norm")
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {len(shape)}"
        )
    c = shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(shape)} and num_groups={num_groups}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and (len(p.shape) != 1 or p.shape[0] != c):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(p.shape)} and input of shape {list(shape)}"
            )
        if p is not None and _raw(p).dtype != _raw(input).dtype:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
    return apply(_group_norm, input, weight, bias, int(num_groups), eps)


# =============================================================================================
# Embedding and dropout


def _emb_backward_fwd(g: np.ndarray, idx: np.ndarray, scale: Any, rows: int) -> np.ndarray:
    # Sum the rows of g into the rows idx of a (rows, d) zero table: a stable sort and one
    # np.add.reduceat, several times faster than np.add.at.
    if scale is not None:
        g = g * scale
    out = np.zeros((rows, g.shape[1]), g.dtype)
    if idx.size:
        order = np.argsort(idx, kind="stable")
        si = idx[order]
        starts = np.flatnonzero(np.concatenate(([True], si[1:] != si[:-1])))
        out[si[starts]] = np.add.reduceat(g[order], starts, axis=0)
    return out


def _emb_backward_vjp(g: Any, idx: np.ndarray, scale: Any, rows: int) -> Any:
    gi = index_select(g, 0, idx)
    return gi if scale is None else mul(gi, scale)


# The transpose of the lookup (PyTorch's embedding_dense_backward), so that it is differentiable.
_embedding_backward = defop(
    "embedding_backward", grad_fn="EmbeddingDenseBackwardBackward0", forward=_emb_backward_fwd,
    vjp=(_emb_backward_vjp,),
    # Linear in g: the tangent goes through the op itself.
    jvp=(lambda t, idx, scale, rows: _embedding_backward(t, idx, scale, rows),),
)  # fmt: skip


def _emb_vjp(g: Any, indices: Any, padding_idx: int, scale_grad_by_freq: bool, rows: int) -> Any:
    idx = np.asarray(_raw(indices)).reshape(-1).astype(np.int64, copy=False)
    d = g.shape[-1]
    scale = None
    if padding_idx >= 0 or scale_grad_by_freq:
        scale = np.ones((idx.size, 1), _raw(g).dtype)
        if scale_grad_by_freq:
            scale /= np.bincount(idx, minlength=rows)[idx, None]
        if padding_idx >= 0:
            scale[idx == padding_idx] = 0
    return _embedding_backward(reshape(g, (idx.size, d), g.shape), idx, scale, rows)


def _emb_jvp(t: Any, indices: Any, padding_idx: int, scale_grad_by_freq: bool, rows: int) -> Any:
    # The lookup is linear in the table: look the tangent's rows up. padding_idx and
    # scale_grad_by_freq shape only the gradient (as in PyTorch, whose jvp is the lookup too), so
    # the padding row does carry a tangent.
    return _embedding(t, indices, padding_idx, scale_grad_by_freq, rows)


_embedding = defop(
    "embedding", grad_fn="EmbeddingBackward0", n_inputs=2,
    onnx=lambda ox, weight, indices, *attrs: ox.op("Gather", weight, indices, axis=0),
    forward=lambda weight, indices, padding_idx, scale_grad_by_freq, rows: np.take(
        weight, indices, axis=0),
    vjp=(_emb_vjp, None), jvp=(_emb_jvp, None),
    shape=lambda w, i, p, s, r: (*i, w[-1]),
)  # fmt: skip


def _indices_check(indices: Any, fn: str) -> np.ndarray:
    if not hasattr(indices, "shape"):
        raise TypeError(f"{fn}(): argument 'indices' must be Tensor, not {type(indices).__name__}")
    idx = _raw(indices)
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got torch.{_dtype_name(indices)}Tensor instead (while checking "
            f"arguments for {fn})"
        )
    return idx


def embedding(
    weight: Any,
    indices: Any,
    padding_idx: int = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Any:
    """Rows of `weight` picked by integer `indices` (`torch.embedding`); the row `padding_idx`
    (if >= 0) gets no gradient, and `scale_grad_by_freq` divides each row's gradient by how often
    it occurs in `indices`.

    >>> import dygrad as torch
    >>> torch.embedding(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), torch.tensor([1, 1, 0]))
    tensor([[2., 3.],
            [2., 3.],
            [0., 1.]])
    """
    idx = _indices_check(indices, "embedding")
    if len(weight.shape) != 2:
        raise RuntimeError("'weight' must be 2-D")
    rows = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        raise IndexError("index out of range in self")
    if sparse:
        raise NotImplementedError("embedding(): dygrad has no sparse gradients; use sparse=False")
    return apply(_embedding, weight, indices, int(padding_idx), bool(scale_grad_by_freq), rows)


def embedding_renorm_(weight: Any, input: Any, max_norm: float, norm_type: float) -> Any:  # noqa: A002
    """Rescale in place, without recording, each row of `weight` that `input` indexes and whose
    `norm_type`-norm exceeds `max_norm` to norm `max_norm` (`torch.embedding_renorm_`).

    >>> import dygrad as torch
    >>> w = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    >>> torch.embedding_renorm_(w, torch.tensor([0, 1]), 1.0, 2.0)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    idx = np.unique(_indices_check(input, "embedding_renorm_"))
    w = _raw(weight)
    if idx.size and (idx.min() < 0 or idx.max() >= w.shape[0]):
        raise IndexError("index out of range in self")
    norms = np.linalg.norm(w[idx].astype(np.float64), ord=norm_type, axis=1)
    scale = np.ones((w.shape[0], 1), w.dtype)
    scale[idx, 0] = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    with no_grad():
        # Through a detached alias, as PyTorch's F.embedding does: the rescale is invisible to
        # gradients and to forward-mode tangents alike (the version counter is shared).
        apply_inplace(mul, weight.detach(), scale)
    return weight


def dropout(input: Any, p: float, train: bool) -> Any:  # noqa: A002
    """Zero each element with probability `p` and scale the rest by 1 / (1 - p), in training
    (`torch.dropout`). The mask comes from dygrad's generator (`manual_seed`); the backward
    multiplies by the same mask. Out of training, or with p = 0, returns `input` itself.

    >>> import dygrad as torch
    >>> _ = torch.manual_seed(0)
    >>> y = torch.dropout(torch.ones(1000), 0.25, True)
    >>> sorted(set(y.tolist())), abs((y == 0).float().mean().item() - 0.25) < 0.05
    ([0.0, 1.3333333730697632], True)
    """
    return _dropout(input, p, train, False)


def dropout_(input: Any, p: float, train: bool) -> Any:  # noqa: A002
    """In-place `dropout`: multiplies `input` by the mask (`torch.dropout_`).

    >>> import dygrad as torch
    >>> torch.dropout_(torch.ones(2), 1.0, True)
    tensor([0., 0.])
    """
    return _dropout(input, p, train, True)


def _dropout_mask(x: np.ndarray, p: float) -> np.ndarray:
    if p == 1:
        return np.zeros((), x.dtype)
    keep = generator().random(x.shape, dtype=np.float32 if x.dtype == np.float32 else None)
    return (keep >= p).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p))


# Not differentiable (the gradient flows through the product with the mask).
dropout_mask = defop("dropout_mask", grad_fn="NotDifferentiable", forward=_dropout_mask,
                     n_inputs=1, random=True,
                     shape=lambda x, p: () if p == 1 else x)  # fmt: skip


def _dropout(x: Any, p: float, train: bool, inplace: bool) -> Any:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    _float_check(x, "dropout")
    if not train or p == 0:
        return x
    # The mask is an op of its own, so that a trace (dygrad.jit) draws a new one on each replay.
    mask = apply(dropout_mask, x, p)
    # PyTorch's CPU dropout is input * mask, recorded as MulBackward0; so is ours.
    if inplace:
        return apply_inplace(mul, x, mask)
    return apply(mul, x, mask)


# =============================================================================================
# Losses


_REDUCTIONS = ("none", "mean", "sum")


def _reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
            "instead.",
            stacklevel=3,
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(loss.sum(dtype=loss.dtype))
    if loss.size == 0:
        return np.asarray(np.nan, loss.dtype)
    return _mean(loss)


def _gscale(g: Any, reduction: str, shape: tuple[int, ...]) -> Any:
    # The incoming gradient of a reduced loss, per element of the unreduced one.
    if reduction == "mean":
        return g / max(int(math.prod(shape)), 1)
    return g


def _target_size_warning(input: Any, target: Any) -> None:  # noqa: A002
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({_size(target)}) that is different to the input size "
            f"({_size(input)}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )
    broadcast_check(input, target)


def _pointwise_loss_check(input: Any, target: Any, fn: str) -> None:  # noqa: A002
    for name, v in (("input", input), ("target", target)):
        if not hasattr(v, "shape"):
            raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(v).__name__}")
    _target_size_warning(input, target)


def _loss_shape(x: Any, y: Any, reduction: str, *rest: Any) -> tuple[int, ...]:
    # Pointwise losses: the broadcast shape unreduced, a scalar otherwise.
    s = tuple(np.broadcast_shapes(shape_of(x), shape_of(y)))
    return s if reduction == "none" else ()


def _mse_fwd(x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
    d = x - y
    return _reduce(d * d, reduction)


def _mse_x(g: Any, x: Any, y: Any, reduction: str) -> Any:
    d = x - y
    return _gscale(g, reduction, d.shape) * d * 2.0


_mse = defop(
    "mse_loss", grad_fn="MseLossBackward0", broadcasting=True, dtype=promote_float,
    shape=_loss_shape,
    forward=_mse_fwd,
    vjp=(_mse_x,
         lambda g, x, y, reduction: -_mse_x(g, x, y, reduction)),
    # A pointwise loss's vjp rule with reduction 'none' is its elementwise derivative times the
    # first argument: given a tangent, reducing that gives the loss's tangent.
    jvp=(lambda t, x, y, reduction: _reduced(_mse_x(t, x, y, "none"), reduction),
         lambda t, x, y, reduction: _reduced(-_mse_x(t, x, y, "none"), reduction)),
)  # fmt: skip


def mse_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Any:
    """The squared error (x - y)^2, reduced by `reduction` ('mean', 'sum' or 'none')
    (`torch.nn.functional.mse_loss`).

    >>> import dygrad as torch
    >>> torch.nn.functional.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]))
    tensor(2.5000)
    """
    _pointwise_loss_check(input, target, "mse_loss")
    reduction = _reduction(size_average, reduce, reduction)
    if weight is not None:
        d = sub(input, target)
        return _weighted(d * d, weight, input, reduction, True)
    return apply(_mse, input, target, reduction)


def _weighted(loss: Any, weight: Any, input: Any, reduction: str, by_weight: bool) -> Any:  # noqa: A002
    # PyTorch's weighted pointwise losses, composed: loss * weight, then the reduction ('mean'
    # divides by the summed weights for MSE and L1, by the element count for Huber).
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "none":
        return loss
    shape = tuple(loss.shape)
    if reduction == "sum":
        return sum_all(loss, shape)
    if by_weight:
        return sum_all(loss, shape) / sum_all(weight, tuple(weight.shape))
    return mean_all(loss, shape)


def l1_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Any:
    """The absolute error |x - y|, reduced by `reduction` (`torch.nn.functional.l1_loss`); built
    from sub, abs and mean/sum, as PyTorch builds it.

    >>> import dygrad as torch
    >>> torch.nn.functional.l1_loss(torch.tensor([1.0, -2.0]), torch.tensor([0.0, 0.0]))
    tensor(1.5000)
    """
    _pointwise_loss_check(input, target, "l1_loss")
    reduction = _reduction(size_average, reduce, reduction)
    loss = _abs(sub(input, target))
    if weight is not None:
        return _weighted(loss, weight, input, reduction, True)
    return _reduced(loss, reduction)


def _l1(x: Any, y: Any, reduction: str) -> Any:
    return _reduced(_abs(sub(x, y)), reduction)


def _reduced(loss: Any, reduction: str) -> Any:
    if reduction == "none":
        return loss
    shape = tuple(loss.shape)
    return sum_all(loss, shape) if reduction == "sum" else mean_all(loss, shape)


def _smooth_l1_fwd(x: np.ndarray, y: np.ndarray, reduction: str, beta: float) -> np.ndarray:
    a = np.abs(x - y)
    loss = branchless_where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta).astype(a.dtype)
    return _reduce(loss, reduction)


def _smooth_l1_x(g: Any, x: Any, y: Any, reduction: str, beta: float) -> Any:
    d = x - y
    if type(d) is np.ndarray and d.dtype.type(beta) > 0:
        # On arrays the slope in two passes: d / beta within beta, its sign beyond, which is
        # d / beta clipped to [-1, 1]; a NaN difference passes NaN on, as in PyTorch. (A beta
        # that rounds to 0 in d's dtype would divide 0 by 0: the select below, as PyTorch.)
        d /= beta
        return _gscale(g, reduction, d.shape) * np.clip(d, -1.0, 1.0, out=d)
    return _gscale(g, reduction, d.shape) * where(_abs(d) < beta, d / beta, sign(d))


_smooth_l1 = defop(
    "smooth_l1_loss", grad_fn="SmoothL1LossBackward0", broadcasting=True, dtype=promote_float,
    shape=_loss_shape,
    forward=_smooth_l1_fwd,
    vjp=(_smooth_l1_x,
         lambda g, x, y, reduction, beta: -_smooth_l1_x(g, x, y, reduction, beta)),
    jvp=(lambda t, x, y, reduction, beta: _reduced(_smooth_l1_x(t, x, y, "none", beta), reduction),
         lambda t, x, y, reduction, beta: _reduced(-_smooth_l1_x(t, x, y, "none", beta),
                                                   reduction)),
)  # fmt: skip


def smooth_l1_loss(
    input: Any,  # noqa: A002
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Any:
    """0.5 d^2 / beta where |d| < beta, |d| - beta / 2 elsewhere, with d = x - y
    (`torch.nn.functional.smooth_l1_loss`); beta = 0 is the L1 loss.

    >>> import dygrad as torch
    >>> torch.nn.functional.smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.zeros(2))
    tensor(1.3125)
    """
    _pointwise_loss_check(input, target, "smooth_l1_loss")
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0.0:
        return _l1(input, target, reduction)
    return apply(_smooth_l1, input, target, reduction, float(beta))


def _huber_fwd(x: np.ndarray, y: np.ndarray, reduction: str, delta: float) -> np.ndarray:
    a = np.abs(x - y)
    loss = branchless_where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
    return _reduce(loss.astype(a.dtype), reduction)


def _huber_x(g: Any, x: Any, y: Any, reduction: str, delta: float) -> Any:
    d = x - y
    if type(d) is np.ndarray and d.dtype.type(delta) > 0:  # as smooth_l1's: d within +-delta
        return _gscale(g, reduction, d.shape) * np.clip(d, -delta, delta, out=d)
    return _gscale(g, reduction, d.shape) * where(_abs(d) < delta, d, sign(d) * delta)


_huber = defop(
    "huber_loss", grad_fn="HuberLossBackward0", broadcasting=True, dtype=promote_float,
    shape=_loss_shape,
    forward=_huber_fwd,
    vjp=(_huber_x,
         lambda g, x, y, reduction, delta: -_huber_x(g, x, y, reduction, delta)),
    jvp=(lambda t, x, y, reduction, delta: _reduced(_huber_x(t, x, y, "none", delta), reduction),
         lambda t, x, y, reduction, delta: _reduced(-_huber_x(t, x, y, "none", delta),
                                                    reduction)),
)  # fmt: skip


def huber_loss(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Any = None,
) -> Any:
    """0.5 d^2 where |d| < delta, delta * (|d| - delta / 2) elsewhere, with d = x - y
    (`torch.nn.functional.huber_loss`).

    >>> import dygrad as torch
    >>> torch.nn.functional.huber_loss(torch.tensor([0.5, 3.0]), torch.zeros(2), delta=2.0)
    tensor(2.0625)
    """
    reduction = _reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _pointwise_loss_check(input, target, "huber_loss")
    if weight is not None:
        loss = apply(_huber, input, target, "none", float(delta))
        return _weighted(loss, weight, input, reduction, False)
    return apply(_huber, input, target, reduction, float(delta))


def _bce_fwd(x: np.ndarray, y: np.ndarray, weight: Any, reduction: str) -> np.ndarray:
    # PyTorch clamps each log at -100 so that x = 0 or 1 gives a finite loss.
    with np.errstate(divide="ignore"):
        lx = np.maximum(np.log(x), -100)
        l1x = np.maximum(np.log1p(-x), -100)
    loss = -(y * lx + (1 - y) * l1x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.astype(x.dtype, copy=False), reduction)


def _bce_x(g: Any, x: Any, y: Any, weight: Any, reduction: str) -> Any:
    gx = _gscale(g, reduction, x.shape) * (x - y) / clamp((1.0 - x) * x, 1e-12, None)
    return gx if weight is None else gx * weight


def _bce_y(g: Any, x: Any, weight: Any, reduction: str) -> Any:
    gy = _gscale(g, reduction, x.shape) * (log(1.0 - x) - log(x))
    return gy if weight is None else gy * weight


def _bce_shape(x: Any, y: Any, weight: Any, reduction: str, pos_weight: Any = None) -> Spec:
    # In x's dtype; the weights broadcast in.
    ws = [shape_of(w) for w in (weight, pos_weight) if w is not None]
    s = tuple(np.broadcast_shapes(shape_of(x), shape_of(y), *ws))
    return Spec(s if reduction == "none" else (), x.dtype)


_bce = defop(
    "binary_cross_entropy", grad_fn="BinaryCrossEntropyBackward0", broadcasting=True,
    shape=_bce_shape,
    n_inputs=3, forward=_bce_fwd, vjp=(_bce_x, _bce_y, None),
    jvp=(lambda t, x, y, weight, reduction: _reduced(_bce_x(t, x, y, weight, "none"), reduction),
         lambda t, x, weight, reduction: _reduced(_bce_y(t, x, weight, "none"), reduction),
         None),
)  # fmt: skip


def _weight_bcast(weight: Any, input: Any) -> None:  # noqa: A002
    if weight is not None:
        broadcast_check(input, weight)
        if np.broadcast_shapes(tuple(input.shape), tuple(weight.shape)) != tuple(input.shape):
            raise RuntimeError(
                f"weight of shape {list(weight.shape)} does not broadcast to the input's shape "
                f"{list(input.shape)}"
            )


def binary_cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Any:
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x, each log clamped at -100
    (`torch.nn.functional.binary_cross_entropy`).

    >>> import dygrad as torch
    >>> torch.nn.functional.binary_cross_entropy(torch.tensor([0.8, 0.4]), torch.tensor([1.0, 0.0]))
    tensor(0.3670)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({_size(target)}) that is different to the input size "
            f"({_size(input)}) is deprecated. Please ensure they have the same size."
        )
    _float_check(input, "binary_cross_entropy")
    x = _raw(input)
    if x.size and not (np.all(x >= 0) and np.all(x <= 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    y = _raw(target)
    if y.size and not (np.all(y >= 0) and np.all(y <= 1)):
        raise RuntimeError("all elements of target should be between 0 and 1")
    _weight_bcast(weight, input)
    return apply(_bce, input, target, weight, reduction)


def _bcel_fwd(x: np.ndarray, y: np.ndarray, weight: Any, pos_weight: Any, reduction: str) -> Any:
    ls = _log_sigmoid(x)
    lw = 1.0 if pos_weight is None else (pos_weight - 1) * y + 1
    loss = (1 - y) * x - lw * ls
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.astype(x.dtype, copy=False), reduction)


def _bcel_x(g: Any, x: Any, y: Any, weight: Any, pos_weight: Any, reduction: str) -> Any:
    s = sigmoid(x)
    if pos_weight is None:
        d = s - y
    else:
        lw = (pos_weight - 1.0) * y + 1.0
        d = lw * s - (lw - 1.0 + y)
    gx = _gscale(g, reduction, x.shape) * d
    return gx if weight is None else gx * weight


def _bcel_y(g: Any, x: Any, weight: Any, pos_weight: Any, reduction: str) -> Any:
    d = -x if pos_weight is None else -x - (pos_weight - 1.0) * logsigmoid(x)
    gy = _gscale(g, reduction, x.shape) * d
    return gy if weight is None else gy * weight


_bcel = defop(
    "binary_cross_entropy_with_logits", grad_fn="BinaryCrossEntropyWithLogitsBackward0",
    shape=lambda x, y, weight, pos_weight, reduction: _bce_shape(x, y, weight, reduction,
                                                                 pos_weight),
    broadcasting=True, n_inputs=4, forward=_bcel_fwd, vjp=(_bcel_x, _bcel_y, None, None),
    jvp=(lambda t, x, y, weight, pos_weight, reduction: _reduced(
             _bcel_x(t, x, y, weight, pos_weight, "none"), reduction),
         lambda t, x, weight, pos_weight, reduction: _reduced(
             _bcel_y(t, x, weight, pos_weight, "none"), reduction),
         None, None),
)  # fmt: skip


def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Any:
    """Binary cross entropy of sigmoid(x), fused and stable for any logit:
    (1 - y) x - (1 + (pos_weight - 1) y) log sigmoid(x), times `weight`
    (`torch.nn.functional.binary_cross_entropy_with_logits`).

    >>> import dygrad as torch
    >>> F = torch.nn.functional
    >>> F.binary_cross_entropy_with_logits(torch.tensor([100.0, -2.0]), torch.tensor([1.0, 0.0]))
    tensor(0.0635)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({_size(target)}) must be the same as input size ({_size(input)})"
        )
    _float_check(input, "binary_cross_entropy_with_logits")
    _weight_bcast(weight, input)
    _weight_bcast(pos_weight, input)
    return apply(_bcel, input, target, weight, pos_weight, reduction)


def _xlogx(t: Any) -> Any:
    # t * log(t), 0 at t = 0 (torch.xlogy(t, t)).
    zero = t == 0
    return t * log(where(zero, t + 1.0, t))


def kl_div(
    input: Any,  # noqa: A002
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Any:
    """Pointwise KL divergence target * (log target - input) for log-probabilities `input`
    (`torch.nn.functional.kl_div`); `reduction='batchmean'` divides the sum by the batch size.

    >>> import dygrad as torch
    >>> p = torch.tensor([[0.5, 0.5]])
    >>> torch.nn.functional.kl_div(torch.tensor([[0.25, 0.75]]).log(), p, reduction="batchmean")
    tensor(0.1438)
    """
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    if reduction not in (*_REDUCTIONS, "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    broadcast_check(input, target)
    if log_target:
        loss = exp(target) * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "none":
        return loss
    shape = tuple(loss.shape)
    if reduction == "mean":
        return mean_all(loss, shape)
    total = sum_all(loss, shape)
    if reduction == "batchmean" and len(input.shape):
        return total / input.shape[0]
    return total


# --- negative log likelihood and cross entropy --------------------------------------------------


def _nll_parts(x: np.ndarray, target: np.ndarray, weight: Any, ignore_index: int) -> Any:
    # The class axis, the clamped targets and each target's weight (0 where ignored); weight
    # None when every target counts once (no class weights, none ignored: the common case).
    cax = 1 if x.ndim > 1 else 0
    valid = target != ignore_index
    if weight is None and target.size and valid.all():
        return cax, valid, target.astype(np.int64, copy=False), None
    t = np.where(valid, target, 0).astype(np.int64, copy=False)
    w = valid.astype(x.dtype) if weight is None else np.where(valid, weight[t], 0).astype(x.dtype)
    return cax, valid, t, w


def _class_index(t: np.ndarray, cax: int) -> tuple[np.ndarray, ...]:
    # Each target's element of the input: t along the class axis, the open mesh of t's own
    # shape along the others (np.take_along_axis's index without its Python-level setup:
    # 12 -> 1.5 us on (64, 10)).
    mesh = open_mesh(t.shape)
    return (*mesh[:cax], t, *mesh[cax:])


def _nll_fwd(x: np.ndarray, target: np.ndarray, weight: Any, reduction: str,
             ignore_index: int) -> np.ndarray:  # fmt: skip
    cax, valid, t, w = _nll_parts(x, target, weight, ignore_index)
    picked = x[_class_index(t, cax)]
    if w is None:
        loss = np.asarray(-picked)  # (a NumPy scalar for an unbatched input)
        if reduction == "none":
            return loss
        total = np.asarray(loss.sum(dtype=x.dtype))
        return total if reduction == "sum" else np.asarray(total / x.dtype.type(t.size))
    loss = np.where(valid, -picked * w, 0).astype(x.dtype, copy=False)
    if reduction == "none":
        return loss
    total = np.asarray(loss.sum(dtype=x.dtype))
    if reduction == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(total / w.sum(dtype=x.dtype))


def _nll_x(g: Any, x: Any, target: Any, weight: Any, reduction: str, ignore_index: int) -> Any:
    xa = _raw(x)
    cax, valid, t, w = _nll_parts(xa, _raw(target), _raw(weight), ignore_index)
    if w is None:
        one = xa.dtype.type(1)
        coef: Any = -one / xa.dtype.type(t.size) if reduction == "mean" else -one
    else:
        coef = -w
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                coef = np.where(valid, coef / w.sum(dtype=xa.dtype), 0).astype(xa.dtype)
    dense = np.zeros(xa.shape, xa.dtype)
    dense[_class_index(t, cax)] = coef
    if reduction == "none" and len(g.shape):
        g = reshape(g, np.expand_dims(t, cax).shape, g.shape)
    return mul(g, dense)


# The loss is linear in x (the 'mean' divides by weights that x does not change): the tangent is
# the loss of the tangent.
def _nll_shape(x: Any, target: Any, weight: Any, reduction: str, ignore_index: int) -> Spec:
    cax = 1 if len(x) > 1 else 0
    rest = (*x[:cax], *x[cax + 1 :])
    if tuple(target) != rest:
        raise ValueError(f"target of shape {list(target)} for input of shape {list(x)}")
    return Spec(rest if reduction == "none" else (), x.dtype)


_nll = defop("nll_loss", grad_fn="NllLossBackward0", n_inputs=3, forward=_nll_fwd, shape=_nll_shape,
             vjp=(_nll_x, None, None),
             jvp=(lambda t, target, weight, reduction, ignore_index: _nll(
                 t, target, weight, reduction, ignore_index), None, None))  # fmt: skip
_nll2d = defop("nll_loss2d", grad_fn="NllLoss2DBackward0", n_inputs=3, forward=_nll_fwd,
               shape=_nll_shape,
               vjp=(_nll_x, None, None),
               jvp=(lambda t, target, weight, reduction, ignore_index: _nll2d(
                   t, target, weight, reduction, ignore_index), None, None))  # fmt: skip


def _nll_check(x: Any, target: Any, weight: Any, ignore_index: int) -> None:
    for name, v in (("input", x), ("target", target)):
        if not hasattr(v, "shape"):
            raise TypeError(f"nll_loss(): argument '{name}' must be Tensor, not "
                            f"{type(v).__name__}")  # fmt: skip
    xs, ts = tuple(x.shape), tuple(target.shape)
    if len(xs) < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {len(xs)})")
    if len(xs) != 1 and (not ts or xs[0] != ts[0]):
        raise ValueError(
            f"Expected input batch_size ({xs[0]}) to match target batch_size "
            f"({ts[0] if ts else 0})."
        )
    c = xs[1] if len(xs) > 1 else xs[0]
    if len(xs) <= 2:
        if len(ts) > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if len(xs) == 1 and len(ts) == 1:
            raise RuntimeError(f"size mismatch (got input: {list(xs)}, target: {list(ts)})")
    elif ts[1:] != xs[2:]:
        raise RuntimeError(f"Expected target size {[xs[0], *xs[2:]]}, got {list(ts)}")
    if _raw(target).dtype not in (np.int64, np.uint8):
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {_dtype_name(target)}"
        )
    _float_check(x, "nll_loss")
    if weight is not None and (len(weight.shape) != 1 or weight.shape[0] != c):
        raise RuntimeError(
            f"weight tensor should be defined either for all {c} classes or no classes but got "
            f"weight tensor of shape: {list(weight.shape)}"
        )
    t = _raw(target)
    if t.size and (t.min() < 0 or t.max() >= c):  # then look closer: ignore_index may be it
        bad = (t != ignore_index) & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"Target {int(t[bad].reshape(-1)[0])} is out of bounds.")


def _nll_nd(x: Any, target: Any, weight: Any, reduction: str, ignore_index: int) -> Any:
    # PyTorch's nll_loss_nd: NllLoss for 1-2 dims, NllLoss2d for 4, and for 3 or 5+ a 4-d view.
    xs = tuple(x.shape)
    if len(xs) <= 2:
        return apply(_nll, x, target, weight, reduction, ignore_index)
    if len(xs) == 4:
        return apply(_nll2d, x, target, weight, reduction, ignore_index)
    m = int(math.prod(xs[2:]))
    out = apply(_nll2d, x.reshape(xs[0], xs[1], 1, m), target.reshape(xs[0], 1, m), weight,
                reduction, ignore_index)  # fmt: skip
    return out.reshape((xs[0], *xs[2:])) if reduction == "none" else out


def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Any:
    """The negative log likelihood -w[t] * input[t] of class indices `target` for
    log-probabilities `input` of shape (C), (N, C) or (N, C, d1, ...); the 'mean' divides by the
    summed weights of the targets that are not `ignore_index` (`torch.nn.functional.nll_loss`).

    >>> import dygrad as torch
    >>> lp = torch.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    >>> torch.nn.functional.nll_loss(lp, torch.tensor([0, 1]))
    tensor(0.3000)
    """
    reduction = _reduction(size_average, reduce, reduction)
    _nll_check(input, target, weight, ignore_index)
    return _nll_nd(input, target, weight, reduction, int(ignore_index))


_div_scalar = defop(
    # at::div(Tensor, Scalar): the node PyTorch records for composite losses' final division.
    "div_scalar", grad_fn="DivBackward1", forward=lambda x, y: np.asarray(x / y),
    onnx=lambda ox, x, y: ox.op("Div", x, ox.const(y, ox.dtype(x))),
    vjp=(lambda g, y: g / y,), jvp=(lambda t, y: t / y,), shape=_same,
)  # fmt: skip


def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Any = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    """Cross entropy between the logits `input` (classes along dim 1, or dim 0 unbatched) and
    class indices or class probabilities `target` (`torch.nn.functional.cross_entropy`): a stable
    log_softmax then the negative log likelihood, with PyTorch's `weight`, `ignore_index` and
    `label_smoothing` semantics.

    >>> import dygrad as torch
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1]))
    tensor(0.2201)
    >>> torch.nn.functional.cross_entropy(logits, torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    tensor(0.4701)
    """
    reduction = _reduction(size_average, reduce, reduction)
    for name, v in (("input", input), ("target", target)):
        if not hasattr(v, "shape"):
            raise TypeError(f"cross_entropy(): argument '{name}' (position "
                            f"{1 if name == 'input' else 2}) must be Tensor, not "
                            f"{type(v).__name__}")  # fmt: skip
    xs = tuple(input.shape)
    if not xs:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    cdim = 0 if len(xs) == 1 else 1
    c = xs[cdim]
    if label_smoothing < 0.0 or label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if tuple(target.shape) == xs:
        if _raw(target).dtype.kind != "f":
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, got "
                f"{_dtype_name(target)}"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if weight is not None and (len(weight.shape) != 1 or weight.shape[0] != c):
            raise RuntimeError(
                f"cross_entropy: weight tensor should be defined either for all {c} classes or "
                f"no classes but got weight tensor of shape: {list(weight.shape)}"
            )
        _float_check(input, "cross_entropy")
        return _ce_probs(input, target, weight, reduction, label_smoothing, cdim, c)
    _nll_check(input, target, weight, ignore_index)
    lp = apply(_log_softmax, input, cdim)
    nll = _nll_nd(lp, target, weight, reduction, int(ignore_index))
    if label_smoothing <= 0.0:
        return nll
    return _ce_smoothed(lp, nll, target, weight, reduction, ignore_index, label_smoothing, cdim, c)


def _class_view(weight: Any, nd: int, cdim: int) -> Any:
    shape = [1] * nd
    shape[cdim] = weight.shape[0]
    return weight.reshape(shape)


def _ce_probs(x: Any, target: Any, weight: Any, reduction: str, ls: float, cdim: int,
              c: int) -> Any:  # fmt: skip
    lp = apply(_log_softmax, x, cdim)
    if ls > 0.0:
        target = target * (1 - ls) + ls / c
    prod = lp * target
    if weight is not None:
        prod = prod * _class_view(weight, len(x.shape), cdim)
    if reduction == "none":
        return -prod.sum(cdim)
    total = -prod.sum()
    if reduction == "sum":
        return total
    n = int(math.prod(tuple(x.shape)))
    return apply(_div_scalar, total, n // c if n else float("nan"))


def _ce_smoothed(lp: Any, nll: Any, target: Any, weight: Any, reduction: str, ignore_index: int,
                 ls: float, cdim: int, c: int) -> Any:  # fmt: skip
    # PyTorch's cross_entropy_loss_label_smoothing, step by step.
    if weight is not None:
        smooth = -(lp * _class_view(weight, len(lp.shape), cdim)).sum(cdim)
    else:
        smooth = -lp.sum(cdim)
    ignore = target == ignore_index
    smooth = smooth.masked_fill(ignore, 0.0)
    if reduction == "mean":
        valid = ~_raw(ignore)
        if weight is not None:
            den = float(_raw(weight)[_raw(target)[valid]].sum())
        else:
            den = int(valid.sum())
        # Nothing left to average: NaN, with zero gradients, as PyTorch's 0/0 gives.
        ret = smooth.sum() / den if den else smooth.sum() * 0.0 + float("nan")
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth
    return nll * (1 - ls) + ret * (ls / c)
