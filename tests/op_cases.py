"""The op table: every op in `dygrad.ops.REGISTRY` with sample inputs, one line per case, and the
harness that runs a case through dygrad or PyTorch. test_ops.py checks the table against PyTorch;
test_ops_numeric.py checks it against finite differences and without PyTorch."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NAN, INF = float("nan"), float("inf")
DTYPES = ("float32", "float64")
# (rtol, atol) per float dtype; a case's `tol` multiplies both.
TOL = {"float32": (2e-5, 2e-6), "float64": (1e-9, 1e-12), "float16": (1e-3, 1e-3)}


# --- value generators: each draws float64 values of a shape, within the op's domain ------------
def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # Well separated values: no ties, so max/min/sort are differentiable everywhere nearby.
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2) * 0.37 + rng.uniform(-0.05, 0.05, n)).reshape(shape)


def _with_zeros(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    a = rng.standard_normal(shape)
    a.reshape(-1)[::3] = 0.0
    return a


def _one_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # One zero per row of the last axis, then a second zero in the first row (prod's edge cases).
    a = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    if a.ndim:
        a[..., 0] = 0.0
        if a.ndim > 1 and a.shape[-1] > 1:
            a[(0,) * (a.ndim - 1) + (1,)] = 0.0
    return a


def _special(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    vals = np.array([NAN, INF, -INF, 0.0, -1.5, 2.0, -0.0])
    return np.resize(vals, int(np.prod(shape))).reshape(shape)


GENS: dict[str, Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]] = {
    "randn": lambda r, s: r.standard_normal(s),
    "pos": lambda r, s: r.uniform(0.5, 2.0, s),
    "nonzero": lambda r, s: r.uniform(0.3, 2.0, s) * r.choice([-1.0, 1.0], s),
    "unit": lambda r, s: r.uniform(-0.9, 0.9, s),
    "gt-1": lambda r, s: r.uniform(-0.5, 2.0, s),
    "ties": lambda r, s: r.choice([-1.0, 0.0, 1.0], s),
    "zeros": _with_zeros,
    "zeropos": lambda r, s: r.choice([0.0, 0.5, 1.5], s),
    "onezero": _one_zero,
    "distinct": _distinct,
    "large": lambda r, s: r.standard_normal(s) * 60.0,
    "special": _special,
    "int": lambda r, s: r.integers(-3, 4, s).astype(np.float64),
    "posint": lambda r, s: r.integers(1, 4, s).astype(np.float64),
    "bool": lambda r, s: r.random(s) < 0.5,
    "const": lambda r, s: np.ones(s),
}


@dataclass(frozen=True)
class Arg:
    """One input: its shape, value generator, and dtype (None: the case's float dtype)."""

    shape: tuple[int, ...]
    gen: str = "randn"
    dtype: str | None = None
    grad: bool = True

    @property
    def differentiable(self) -> bool:
        return self.dtype is None and self.grad


def F(*shape: int, g: str = "randn") -> Arg:
    """A float input (the case's dtype) that requires grad."""
    return Arg(shape, g)


def K(*shape: int, g: str = "randn") -> Arg:
    """A float input (the case's dtype) that does not require grad."""
    return Arg(shape, g, grad=False)


def I(*shape: int, g: str = "int", dtype: str = "int64") -> Arg:  # noqa: E743
    """An integer input."""
    return Arg(shape, g, dtype=dtype, grad=False)


def B(*shape: int) -> Arg:
    """A boolean input."""
    return Arg(shape, "bool", dtype="bool", grad=False)


@dataclass(frozen=True)
class Case:
    id: str
    ops: tuple[str, ...]  # the registry ops this case is the table entry for
    fn: Callable[..., Any]  # fn(module, *inputs), module being dygrad or torch
    args: tuple[Arg, ...]
    tol: float = 1.0
    fd: bool = True  # finite differences apply (no kink near the sample inputs)
    gg: bool = True  # second derivatives exist and are checked
    grad: bool = True  # first derivatives are checked
    xfail: dict[str, str] = field(default_factory=dict)  # check name -> reason

    def tols(self, dtype: str) -> tuple[float, float]:
        r, a = TOL.get(dtype.removeprefix("torch."), TOL["float64"])
        return r * self.tol, a * self.tol

    @property
    def has_grad_inputs(self) -> bool:
        return any(a.differentiable for a in self.args)


def C(id: str, ops: str | Sequence[str], fn: Callable[..., Any], *args: Arg, **kw: Any) -> Case:
    """One table row."""
    return Case(id, (ops,) if isinstance(ops, str) else tuple(ops), fn, args, **kw)


# --- functions too long for a lambda ------------------------------------------------------------
def iadd(m: Any, x: Any, y: Any) -> Any:
    z = x * 1
    z += y
    return z


def isub(m: Any, x: Any, y: Any) -> Any:
    z = x * 1
    z -= y
    return z


def imul(m: Any, x: Any, y: Any) -> Any:
    z = x * 1
    z *= y
    return z


def itruediv(m: Any, x: Any, y: Any) -> Any:
    z = x * 1
    z /= y
    return z


def setitem_slice(m: Any, x: Any, v: Any) -> Any:
    z = x * 1
    z[1:3] = v
    return z


def setitem_all(m: Any, x: Any, v: Any) -> Any:
    z = x * 1
    z[...] = v
    return z


def setitem_scalar(m: Any, x: Any) -> Any:
    z = x * 1
    z[0, 1] = 2.5
    return z


def setitem_index(m: Any, x: Any, v: Any) -> Any:
    z = x * 1
    z[m.tensor([0, 2])] = v
    return z


def setitem_mask(m: Any, x: Any, mask: Any) -> Any:
    z = x * 1
    z[mask] = 0.0
    return z


def setitem_leaf_value(m: Any, x: Any, v: Any) -> Any:
    # A tensor that does not require grad receives a value that does.
    z = m.zeros(3, 4, dtype=x.dtype)
    z[:, 1] = v
    return z * x


def inplace_then_use(m: Any, x: Any) -> Any:
    z = x * 2
    z.add_(1)
    return z * z


def inplace_chain(m: Any, x: Any, y: Any) -> Any:
    z = x.clone()
    z.mul_(y).add_(y).div_(2).sub_(x)
    return z


def idx(v: list[Any]) -> Callable[[Any], Any]:
    """An int64 index tensor built with the module at hand."""
    return lambda m: m.tensor(v, dtype=m.int64)


G = idx([[0, 1], [2, 2], [1, 0]])  # gather/scatter_add index for a (3, 4) input along dim 1
S = idx([[0, 3], [2, 1], [1, 0]])  # scatter index with no duplicates within a row

# PyTorch decomposes matmul into mm/bmm/mv between views (_unsafe_view, squeeze_, expand,
# transpose + clone); dygrad records one node, so its top grad_fn name differs (values agree).
MM = {"grad_fn": "PyTorch's matmul decomposition names its last internal step"}
# A down-cast rounds the tangent to the output's dtype, so <u, J v> and <J^T u, v> differ by that
# rounding, far beyond the float64 tolerance of the reverse-mode check (PyTorch rounds the same).
CAST = {"jvp_reverse": "the tangent is rounded to the lower-precision output dtype"}
NAN_DUAL = "both sides of <u, Jv> = <J^T u, v> are NaN"
EMPTY_NAN = "a tangent reduced over nothing is 0/0, NaN, as PyTorch's; the gradient is empty"

# Unary ops, each with the value generator that keeps it inside its domain.
UNARY = (
    ("exp", "randn"), ("log", "pos"), ("log1p", "gt-1"), ("expm1", "randn"), ("sqrt", "pos"),
    ("rsqrt", "pos"), ("reciprocal", "nonzero"), ("sin", "randn"), ("cos", "randn"),
    ("tan", "unit"), ("tanh", "randn"), ("sigmoid", "randn"), ("relu", "nonzero"),
    ("abs", "nonzero"), ("sign", "nonzero"), ("neg", "randn"), ("floor", "randn"),
    ("ceil", "randn"), ("round", "randn"), ("trunc", "randn"),
)  # fmt: skip
# Binary ops as module functions: (function, op, x generator, y generator, input kind).
BINARY = (
    ("add", "add", "randn", "randn", F), ("sub", "sub", "randn", "randn", F),
    ("mul", "mul", "randn", "randn", F), ("div", "div", "randn", "nonzero", F),
    ("pow", "pow_tensor", "pos", "randn", F), ("remainder", "remainder", "randn", "nonzero", F),
    ("maximum", "maximum", "randn", "randn", F), ("minimum", "minimum", "randn", "randn", F),
    ("floor_divide", "floor_divide", "randn", "nonzero", K),
    ("fmod", "fmod", "randn", "nonzero", F),
    ("eq", "eq", "ties", "ties", F), ("ne", "ne", "ties", "ties", F),
    ("lt", "lt", "ties", "ties", F), ("le", "le", "ties", "ties", F),
    ("gt", "gt", "ties", "ties", F), ("ge", "ge", "ties", "ties", F),
)  # fmt: skip

# --- the table ----------------------------------------------------------------------------------
# fmt: off
CASES: list[Case] = [
    # binary pointwise ops with a 0-d and with an empty operand, broadcast against a vector
    *[C(f"{op.replace('_', '-')}-0d", op, lambda m, x, y, f=f: getattr(m, f)(x, y), A(g=gx),
        A(3, g=gy)) for f, op, gx, gy, A in BINARY],
    *[C(f"{op.replace('_', '-')}-empty", op, lambda m, x, y, f=f: getattr(m, f)(x, y),
        A(0, 3, g=gx), A(3, g=gy)) for f, op, gx, gy, A in BINARY],
    # arithmetic, broadcasting, edge values
    C("add", "add", lambda m, x, y: x + y, F(3, 4), F(3, 4)),
    C("add-bcast", "add", lambda m, x, y: x + y, F(3, 1), F(1, 4)),
    C("add-bcast-3d", "add", lambda m, x, y: m.add(x, y), F(2, 3, 4), F(4)),
    C("add-0d-0d", "add", lambda m, x, y: x + y, F(), F()),
    C("add-scalar", "add", lambda m, x: x + 2.5, F(3)),
    C("radd-scalar", "add", lambda m, x: 2 + x, F(3)),
    C("add-alpha", "add", lambda m, x, y: x.add(y, alpha=2), F(2, 3), F(3)),
    C("add-int-const", "add", lambda m, x, y: x + y, F(2, 3), I(3)),
    C("sub", "sub", lambda m, x, y: x - y, F(3, 4), F(4)),
    C("sub-alpha", "sub", lambda m, x, y: m.sub(x, y, alpha=3), F(4), F(4)),
    C("rsub-scalar", "rsub", lambda m, x: 2.5 - x, F(3, 2)),
    C("rsub-0d", "rsub", lambda m, x: 1 - x, F()),
    C("rsub-empty", "rsub", lambda m, x: 1 - x, F(0, 2)),
    C("mul", "mul", lambda m, x, y: x * y, F(3, 4), F(3, 4)),
    C("mul-bcast", "mul", lambda m, x, y: x * y, F(2, 1, 4), F(3, 1)),
    C("mul-scalar", "mul", lambda m, x: 3 * x, F(3)),
    C("mul-self", "mul", lambda m, x: x * x, F(3)),
    C("div", "div", lambda m, x, y: x / y, F(3, 4), F(3, 4, g="nonzero")),
    C("div-bcast", "div", lambda m, x, y: m.div(x, y), F(3, 1), F(4, g="nonzero")),
    C("div-scalar", "div", lambda m, x: x / 4, F(3)),
    C("rdiv-scalar", ("reciprocal", "mul"), lambda m, x: 2 / x, F(3, g="nonzero")),
    C("pow-2", "pow", lambda m, x: x**2, F(3, 4)),
    C("pow-3-zeros", "pow", lambda m, x: x**3, F(6, g="zeros")),
    C("pow-2-zeros", "pow", lambda m, x: x.pow(2), F(6, g="zeros")),
    C("pow-half", "pow", lambda m, x: x**0.5, F(3, g="pos")),
    C("pow-0", "pow", lambda m, x: x**0, F(3)),
    C("pow-neg", "pow", lambda m, x: x**-1.5, F(2, 2, g="pos")),
    C("pow-0d", "pow", lambda m, x: x.pow(3), F()),
    C("pow-empty", "pow", lambda m, x: x**2, F(0, 3)),
    C("square", "pow", lambda m, x: x.square(), F(2, 3)),
    C("pow-tensor", "pow_tensor", lambda m, x, y: x**y, F(3, 4, g="pos"), F(3, 4)),
    C("pow-tensor-bcast", "pow_tensor", lambda m, x, y: m.pow(x, y), F(3, 1, g="pos"), F(4)),
    # No second order here: PyTorch's double backward leaks NaN (0 * log 0) where x == 0, dygrad
    # gives the finite limit.
    C("pow-tensor-zero-base", "pow_tensor", lambda m, x, y: x**y, F(6, g="zeropos"), F(6, g="pos"),
      fd=False, gg=False),
    C("rpow", "rpow", lambda m, x: 2**x, F(3, 4)),
    C("rpow-frac", "rpow", lambda m, x: 0.5**x, F(3)),
    C("rpow-0d", "rpow", lambda m, x: 3.0**x, F()),
    C("rpow-empty", "rpow", lambda m, x: 2**x, F(0)),
    C("remainder", "remainder", lambda m, x, y: x % y, F(3, 4), F(3, 4, g="nonzero")),
    C("remainder-bcast", "remainder", lambda m, x, y: x.remainder(y), F(2, 3), F(3, g="pos")),
    C("remainder-scalar", "remainder_scalar", lambda m, x: x % 0.7, F(5)),
    C("remainder-scalar-0d", "remainder_scalar", lambda m, x: x.remainder(2), F()),
    C("remainder-scalar-empty", "remainder_scalar", lambda m, x: x % 2, F(2, 0)),
    C("floor-divide", "floor_divide", lambda m, x, y: x // y, F(3, 4), F(4, g="nonzero"),
      grad=False, gg=False, fd=False),
    C("floor-divide-int", "floor_divide", lambda m, x, y: m.floor_divide(x, y), I(5),
      I(5, g="posint")),
    C("fmod", "fmod", lambda m, x, y: m.fmod(x, y), F(3, 4), F(3, 4, g="nonzero")),
    C("fmod-bcast", "fmod", lambda m, x, y: x.fmod(y), F(2, 3), F(3, g="pos")),
    C("fmod-int", "fmod", lambda m, x, y: m.fmod(x, y), I(5), I(5, g="posint")),
    C("fmod-scalar", "fmod_scalar", lambda m, x: x.fmod(0.7), F(5)),
    C("fmod-scalar-0d", "fmod_scalar", lambda m, x: m.fmod(x, -2), F()),
    C("fmod-scalar-empty", "fmod_scalar", lambda m, x: x.fmod(2), F(2, 0)),
    C("fmod-scalar-int", "fmod_scalar", lambda m, x: x.fmod(2), I(6)),
    C("div-trunc", "div_trunc", lambda m, x, y: x.div(y, rounding_mode="trunc"), F(3, 4),
      F(3, 4, g="nonzero")),
    C("div-trunc-bcast", "div_trunc", lambda m, x, y: m.div(x, y, rounding_mode="trunc"),
      F(3, 1), F(4, g="nonzero")),
    C("div-trunc-scalar", "div_trunc", lambda m, x: x.div(0.3, rounding_mode="trunc"), F(5)),
    C("div-trunc-0d", "div_trunc", lambda m, x, y: x.div(y, rounding_mode="trunc"), F(),
      F(3, g="nonzero")),
    C("div-trunc-empty", "div_trunc", lambda m, x: x.div(2, rounding_mode="trunc"), F(0, 2)),
    C("div-trunc-int", "div_trunc", lambda m, x, y: x.div(y, rounding_mode="trunc"), I(6),
      I(6, g="posint")),
    # unary math: every op on a matrix, a 0-d and an empty tensor, and on special values
    *[C(n, n, lambda m, x, n=n: getattr(x, n)(), F(3, 4, g=g)) for n, g in UNARY],
    *[C(f"{n}-0d", n, lambda m, x, n=n: getattr(m, n)(x), F(g=g)) for n, g in UNARY],
    *[C(f"{n}-empty", n, lambda m, x, n=n: getattr(x, n)(), F(0, 2, g=g)) for n, g in UNARY],
    *[C(f"{n}-special", n, lambda m, x, n=n: getattr(x, n)(), K(7, g="special"), grad=False)
      for n, _ in UNARY],
    C("exp-int", "exp", lambda m, x: x.exp(), I(4)),
    C("sqrt-zero", "sqrt", lambda m, x: x.sqrt(), F(6, g="zeropos"), fd=False, gg=False,
      xfail={"jvp_reverse": "infinite derivative at 0: " + NAN_DUAL}),
    C("tanh-large", "tanh", lambda m, x: x.tanh(), F(6, g="large"), fd=False),
    C("sigmoid-large", "sigmoid", lambda m, x: m.sigmoid(x), F(6, g="large"), fd=False),
    C("relu-zeros", "relu", lambda m, x: m.relu(x), F(6, g="ties"), fd=False),
    C("abs-zeros", "abs", lambda m, x: abs(x), F(6, g="ties"), fd=False),
    C("sign-zeros", "sign", lambda m, x: x.sign(), F(3, 4, g="ties"), fd=False),
    # rounding: half-way values (round to even), integers kept as they are
    C("round-halves", "round", lambda m, x: x.round(), F(3, 4, g="ties"), fd=False),
    C("floor-whole", "floor", lambda m, x: m.floor(x), F(3, 4, g="int"), fd=False),
    C("ceil-whole", "ceil", lambda m, x: x.ceil(), F(3, 4, g="int"), fd=False),
    C("trunc-fix", "trunc", lambda m, x: m.fix(x), F(3, 4, g="ties"), fd=False),
    C("floor-int", "floor", lambda m, x: x.floor(), I(5)),
    C("ceil-int", "ceil", lambda m, x: m.ceil(x), I(5, dtype="int32")),
    C("round-int", "round", lambda m, x: x.round(), I(5)),
    C("trunc-int", "trunc", lambda m, x: x.trunc(), I(5)),
    C("clamp", "clamp", lambda m, x: x.clamp(-0.5, 0.5), F(3, 4)),
    C("clamp-min", "clamp", lambda m, x: x.clamp(min=0.1), F(3, 4)),
    C("clamp-max", "clamp", lambda m, x: m.clamp(x, max=-0.1), F(3, 4)),
    C("clamp-bounds", "clamp", lambda m, x: x.clamp(0.0, 1.0), F(8, g="ties"), fd=False),
    C("clamp-0d", "clamp", lambda m, x: x.clip(-0.2, 0.2), F()),
    C("clamp-empty", "clamp", lambda m, x: x.clamp(0, 1), F(0)),
    C("maximum", "maximum", lambda m, x, y: m.maximum(x, y), F(3, 4), F(3, 4)),
    C("maximum-bcast", "maximum", lambda m, x, y: m.maximum(x, y), F(3, 1), F(4)),
    C("maximum-ties", "maximum", lambda m, x, y: x.maximum(y), F(3, 4, g="ties"),
      F(3, 4, g="ties"), fd=False),
    C("maximum-ties-bcast", "maximum", lambda m, x, y: m.maximum(x, y), F(3, 4, g="ties"),
      F(4, g="ties"), fd=False),
    C("minimum", "minimum", lambda m, x, y: m.minimum(x, y), F(3, 4), F(1, 4)),
    C("minimum-ties", "minimum", lambda m, x, y: x.minimum(y), F(3, 4, g="ties"),
      F(3, 4, g="ties"), fd=False),
    C("where", "where", lambda m, c, x, y: m.where(c, x, y), B(3, 4), F(3, 4), F(3, 4)),
    C("where-bcast", "where", lambda m, c, x, y: m.where(c, x, y), B(3, 1), F(4), F(3, 4)),
    C("where-scalar", "where", lambda m, c, x: m.where(c, x, 0.0), B(3, 4), F(3, 4)),
    C("where-method", "where", lambda m, c, x, y: x.where(c, y), B(4), F(3, 4), F(3, 1)),
    C("where-0d", "where", lambda m, c, x, y: m.where(c, x, y), B(), F(), F(2)),
    C("where-empty", "where", lambda m, c, x, y: m.where(c, x, y), B(0, 3), F(3), F(1, 3)),
    # special values (nan, inf, -inf, 0, -0)
    C("clamp-special", "clamp", lambda m, x: x.clamp(-1, 1), K(7, g="special"), grad=False),
    C("maximum-special", "maximum", lambda m, x, y: m.maximum(x, y), K(7, g="special"),
      K(7, g="ties"), grad=False),
    C("minimum-special", "minimum", lambda m, x, y: m.minimum(y, x), K(7, g="special"),
      K(7, g="ties"), grad=False),
    C("pow-special", "pow", lambda m, x: x**2, K(7, g="special"), grad=False),
    C("pow-tensor-special", "pow_tensor", lambda m, x, y: x**y, K(7, g="special"),
      K(7, g="ties"), grad=False),
    C("rpow-special", "rpow", lambda m, x: 2**x, K(7, g="special"), grad=False),
    C("div-special", "div", lambda m, x, y: x / y, K(7, g="special"), K(7, g="ties"),
      grad=False),
    C("remainder-special", "remainder", lambda m, x, y: x % y, K(7, g="special"),
      K(7, g="nonzero"), grad=False),
    C("floor-divide-special", "floor_divide", lambda m, x, y: x // y, K(7, g="special"),
      K(7, g="ties"), grad=False),
    C("max-special", "max_all", lambda m, x: x.max(), K(7, g="special"), grad=False),
    C("amin-special", "amin", lambda m, x: x.amin(0), K(7, g="special"), grad=False),
    C("max-dim-special", "max_dim", lambda m, x: x.max(0), K(7, g="special"), grad=False),
    C("argmax-special", "argmax", lambda m, x: x.argmax(), K(7, g="special"), grad=False),
    C("sum-special", "sum_all", lambda m, x: x.sum(), K(7, g="special"), grad=False),
    C("prod-special", "prod_all", lambda m, x: x.prod(), K(7, g="special"), grad=False),
    C("logsumexp-special", "logsumexp", lambda m, x: x.logsumexp(0), K(7, g="special"),
      grad=False),
    C("logsumexp-neginf", "logsumexp", lambda m, x: (x - INF).logsumexp(1), K(2, 3), grad=False),
    C("softmax-special", "softmax", lambda m, x: x.softmax(0), K(7, g="special"), grad=False),
    C("softmax-neginf", "softmax", lambda m, x, y: m.where(y, x, -INF).softmax(1), K(3, 4),
      B(3, 4), grad=False),
    C("log-softmax-neginf", "log_softmax", lambda m, x, y: m.where(y, x, -INF).log_softmax(1),
      K(3, 4), B(3, 4), grad=False),
    C("norm-special", "norm", lambda m, x: x.norm(), K(7, g="special"), grad=False),
    C("var-special", "var", lambda m, x: x.var(), K(7, g="special"), grad=False),
    # comparisons and predicates
    C("eq", "eq", lambda m, x, y: x == y, F(3, 4, g="ties"), F(4, g="ties")),
    C("ne", "ne", lambda m, x, y: x != y, F(3, 4, g="ties"), F(3, 4, g="ties")),
    C("lt", "lt", lambda m, x, y: x < y, F(3, 4, g="ties"), F(3, 1, g="ties")),
    C("le", "le", lambda m, x: x <= 0, F(3, 4, g="ties")),
    C("gt", "gt", lambda m, x, y: m.gt(x, y), I(3, 4), I(4)),
    C("ge", "ge", lambda m, x, y: x.ge(y), F(3, 4, g="ties"), F(g="ties")),
    C("logical-not-0d", "logical_not", lambda m, x: x.logical_not(), B()),
    C("logical-not-empty", "logical_not", lambda m, x: m.logical_not(x), B(0, 2)),
    C("logical-not", "logical_not", lambda m, x: x.logical_not(), B(3, 4)),
    C("logical-not-invert", "logical_not", lambda m, x: ~x, B(5)),
    C("isnan", "isnan", lambda m, x: x.isnan(), F(7, g="special")),
    C("isinf", "isinf", lambda m, x: m.isinf(x), F(7, g="special")),
    C("isfinite", "isfinite", lambda m, x: x.isfinite(), F(7, g="special")),
    C("isnan-0d", "isnan", lambda m, x: x.isnan(), F()),
    C("isinf-empty", "isinf", lambda m, x: x.isinf(), F(0)),
    C("isfinite-0d", "isfinite", lambda m, x: m.isfinite(x), F()),
    # bitwise ops: integer and bool tensors
    C("bitwise-and", "bitwise_and", lambda m, x, y: x & y, I(3, 4), I(4)),
    C("bitwise-and-bool", "bitwise_and", lambda m, x, y: m.bitwise_and(x, y), B(3, 4), B(3, 1)),
    C("bitwise-and-scalar", "bitwise_and", lambda m, x: 5 & x, I(4)),
    C("bitwise-and-0d", "bitwise_and", lambda m, x, y: x & y, I(), I(3)),
    C("bitwise-or", "bitwise_or", lambda m, x, y: x | y, I(3, 4), B(3, 4)),
    C("bitwise-or-bool", "bitwise_or", lambda m, x, y: x.bitwise_or(y), B(4), B(2, 1)),
    C("bitwise-or-empty", "bitwise_or", lambda m, x: x | 2, I(0, 3)),
    C("bitwise-xor", "bitwise_xor", lambda m, x, y: m.bitwise_xor(x, y), I(3, 4),
      I(3, 4, dtype="int32")),
    C("bitwise-xor-bool", "bitwise_xor", lambda m, x: True ^ x, B(5)),
    C("bitwise-not", "bitwise_not", lambda m, x: ~x, I(3, 4)),
    C("bitwise-not-bool", "bitwise_not", lambda m, x: x.bitwise_not(), B(4)),
    C("bitwise-not-0d", "bitwise_not", lambda m, x: m.bitwise_not(x), I(dtype="int32")),
    C("bitwise-not-empty", "bitwise_not", lambda m, x: ~x, I(0)),
    # shapes and views
    C("reshape", "reshape", lambda m, x: x.reshape(2, 6), F(3, 4)),
    C("reshape-infer", "reshape", lambda m, x: x.reshape(-1), F(2, 3, 2)),
    C("reshape-0d", "reshape", lambda m, x: x.reshape(1, 1), F()),
    C("reshape-empty", "reshape", lambda m, x: x.reshape(3, 0), F(0, 3)),
    C("reshape-copy", ("clone", "unsafe_view"), lambda m, x: x.t().reshape(-1), F(3, 4)),
    C("reshape-alias", "reshape_alias", lambda m, x: x[:, :2].reshape(3, 2, 1), F(3, 4)),
    C("flatten-copy", "unsafe_view", lambda m, x: x.t().flatten(), F(3, 4)),
    C("flatten", "reshape", lambda m, x: x.flatten(1), F(2, 3, 2)),
    C("view", "view", lambda m, x: x.view(4, 3), F(3, 4)),
    C("view-infer", "view", lambda m, x: x.view(-1, 2), F(2, 3, 2)),
    C("unflatten", "view", lambda m, x: x.unflatten(1, (2, 2)), F(3, 4)),
    C("view-0d", "view", lambda m, x: x.view(1), F()),
    C("view-empty", "view", lambda m, x: x.view(3, 0, 1), F(0, 3)),
    C("expand", ("expand", "sum_to_size"), lambda m, x: x.expand(3, 4), F(3, 1)),
    C("expand-new-dims", "expand", lambda m, x: x.expand(2, 3, 4), F(4)),
    C("expand-infer", "expand", lambda m, x: x.expand(2, -1, 4), F(3, 1)),
    C("expand-0d", "expand", lambda m, x: x.expand(2, 2), F()),
    C("expand-as", "expand", lambda m, x, y: x.expand_as(y), F(1, 4), K(3, 4)),
    C("expand-empty", "expand", lambda m, x: x.expand(0, 3), F(1, 3)),
    C("squeeze", "squeeze", lambda m, x: x.squeeze(), F(1, 3, 1, 4)),
    C("squeeze-0d", "squeeze", lambda m, x: x.squeeze(), F()),
    C("squeeze-empty", "squeeze", lambda m, x: x.squeeze(), F(0, 1, 2)),
    C("squeeze-dim", "squeeze_dim", lambda m, x: x.squeeze(2), F(3, 4, 1)),
    C("squeeze-dim-noop", "squeeze_dim", lambda m, x: x.squeeze(0), F(3, 4)),
    C("squeeze-dim-0d", "squeeze_dim", lambda m, x: x.squeeze(0), F()),
    C("squeeze-dim-empty", "squeeze_dim", lambda m, x: x.squeeze(1), F(0, 1)),
    C("squeeze-dims", "squeeze_dims", lambda m, x: x.squeeze((0, 2)), F(1, 3, 1, 4)),
    C("squeeze-dims-0d", "squeeze_dims", lambda m, x: x.squeeze((0,)), F()),
    C("squeeze-dims-empty", "squeeze_dims", lambda m, x: x.squeeze((0, 2)), F(1, 0, 1)),
    C("unsqueeze", "unsqueeze", lambda m, x: x.unsqueeze(1), F(3, 4)),
    C("unsqueeze-neg", "unsqueeze", lambda m, x: m.unsqueeze(x, -1), F(3)),
    C("unsqueeze-0d", "unsqueeze", lambda m, x: x.unsqueeze(0), F()),
    C("unsqueeze-empty", "unsqueeze", lambda m, x: x.unsqueeze(0), F(0, 2)),
    C("transpose", "transpose", lambda m, x: x.transpose(0, 2), F(2, 3, 4)),
    C("t", "t", lambda m, x: x.t(), F(3, 4)),
    C("t-1d", "t", lambda m, x: m.t(x), F(3)),
    C("t-0d", "t", lambda m, x: x.t(), F()),
    C("t-empty", "t", lambda m, x: x.t(), F(0, 3)),
    C("transpose-0d", "transpose", lambda m, x: x.transpose(0, -1), F()),
    C("transpose-empty", "transpose", lambda m, x: x.transpose(0, 1), F(0, 3)),
    C("mT", "transpose", lambda m, x: x.mT, F(2, 3, 4)),
    C("permute", "permute", lambda m, x: x.permute(2, 0, 1), F(2, 3, 4)),
    C("T", "permute", lambda m, x: x.T, F(3, 4)),
    C("permute-0d", "permute", lambda m, x: x.permute(()), F()),
    C("permute-empty", "permute", lambda m, x: x.permute(1, 0), F(0, 3)),
    C("alias", "alias", lambda m, x: x[...], F(3, 4)),
    C("alias-0d", "alias", lambda m, x: x[...], F()),
    C("alias-empty", "alias", lambda m, x: x[...], F(0)),
    C("repeat", "repeat", lambda m, x: x.repeat(2, 1), F(2, 3)),
    C("repeat-new-dims", "repeat", lambda m, x: x.repeat(2, 2), F(3)),
    C("repeat-0d", "repeat", lambda m, x: x.repeat(3), F()),
    C("repeat-empty", "repeat", lambda m, x: x.repeat(2, 1), F(0, 2)),
    C("cat", "cat", lambda m, x, y: m.cat([x, y], 1), F(3, 2), F(3, 4)),
    C("cat-three", "cat", lambda m, x, y, z: m.cat([x, y, z]), F(1, 3), F(2, 3), F(1, 3)),
    C("cat-legacy-empty", "cat", lambda m, x, y: m.cat([x, y]), F(2, 3), F(0)),
    C("cat-empty", "cat", lambda m, x, y: m.cat([x, y], -1), F(2, 0), F(2, 3)),
    C("cat-const", "cat", lambda m, x, y: m.cat([x, y]), F(2), K(3)),
    C("stack", "stack", lambda m, x, y: m.stack([x, y]), F(3, 4), F(3, 4)),
    C("stack-last", "stack", lambda m, x, y: m.stack([x, y], -1), F(3), F(3)),
    C("stack-0d", "stack", lambda m, x, y, z: m.stack([x, y, z]), F(), F(), F()),
    C("stack-empty", "stack", lambda m, x, y: m.stack([x, y], 1), F(0, 2), F(0, 2)),
    C("split", "split", lambda m, x: x.split(2, 1), F(3, 5)),
    C("split-fn", "split", lambda m, x: m.split(x, 2), F(4, 2)),
    C("chunk", "split", lambda m, x: x.chunk(2, 1), F(3, 4)),
    C("split-empty", "split", lambda m, x: x.split(1, 1), F(0, 3)),
    C("split-sizes", "split_with_sizes", lambda m, x: x.split([1, 3], 1), F(3, 4)),
    C("split-sizes-empty", "split_with_sizes", lambda m, x: x.split([0, 3]), F(3, 2)),
    C("split-sizes-empty-input", "split_with_sizes", lambda m, x: x.split([1, 2], 1), F(0, 3)),
    C("unbind", "unbind", lambda m, x: x.unbind(1), F(3, 4)),
    C("unbind-fn", "unbind", lambda m, x: m.unbind(x), F(2, 3)),
    C("unbind-1d", "unbind", lambda m, x: x.unbind(0), F(3)),
    C("unbind-empty", "unbind", lambda m, x: x.unbind(1), F(0, 3)),
    C("unbind-size1", "unbind", lambda m, x: x.unbind(0), F(1, 3)),
    C("split-one-chunk", "split", lambda m, x: x.split(5), F(3, 4)),
    C("flip", "flip", lambda m, x: x.flip(0), F(3, 4)),
    C("flip-dims", "flip", lambda m, x: m.flip(x, (0, 2)), F(2, 3, 2)),
    C("flip-neg", "flip", lambda m, x: x.flip(-1), F(3, 4)),
    C("flip-0d", "flip", lambda m, x: x.flip(0), F()),
    C("flip-empty", "flip", lambda m, x: x.flip(1), F(0, 3)),
    C("roll", "roll", lambda m, x: x.roll(1, 0), F(3, 4)),
    C("roll-dims", "roll", lambda m, x: x.roll((1, -2), (0, 1)), F(3, 4)),
    C("roll-flat", "roll", lambda m, x: x.roll(5), F(3, 4)),
    C("roll-neg", "roll", lambda m, x: x.roll(-1, -1), F(3, 4)),
    C("roll-empty", "roll", lambda m, x: x.roll(1, 0), F(0, 3)),
    C("clone", "clone", lambda m, x: x.clone(), F(3, 4)),
    C("clone-0d", "clone", lambda m, x: m.clone(x), F()),
    C("clone-empty", "clone", lambda m, x: x.clone(), F(0, 3)),
    C("contiguous", "contiguous", lambda m, x: x.t().contiguous(), F(3, 4)),
    C("to-float64", "to_dtype", lambda m, x: x.double(), F(3, 4)),
    C("to-float32", "to_dtype", lambda m, x: x.to(m.float32), F(3, 4), fd=False, xfail=CAST),
    C("to-float16", "to_dtype", lambda m, x: x.half(), F(3, 4), tol=20.0, gg=False, fd=False,
      xfail=CAST),
    C("to-int64", "to_dtype", lambda m, x: x.long(), F(3, 4)),
    C("to-bool", "to_dtype", lambda m, x: x.to(m.bool), F(5, g="ties")),
    C("to-float-from-int", "to_dtype", lambda m, x: x.float(), I(3)),
    C("to-0d", "to_dtype", lambda m, x: x.double(), F()),
    C("to-empty", "to_dtype", lambda m, x: x.float(), F(0, 2), fd=False),
    C("copy_", "copy", lambda m, x, y: (x * 1).copy_(y), F(3, 4), F(4)),
    C("copy_-0d", "copy", lambda m, x, y: (x * 1).copy_(y), F(3), F()),
    C("copy_-const", "copy", lambda m, x, y: (x * 1).copy_(y), F(3), K(3)),
    C("copy_-empty", "copy", lambda m, x, y: (x * 1).copy_(y), F(0, 3), F(3)),
    C("zero_", "zero", lambda m, x: (x * 1).zero_(), F(3, 4)),
    C("fill_", "fill", lambda m, x: (x * 1).fill_(2.5), F(3, 4)),
    C("fill_-0d", "fill", lambda m, x: (x * 1).fill_(-1), F()),
    C("fill_-empty", "fill", lambda m, x: (x * 1).fill_(1.5), F(0)),
    C("zero_-0d", "zero", lambda m, x: (x * 1).zero_(), F()),
    C("zero_-empty", "zero", lambda m, x: (x * 1).zero_(), F(2, 0)),
    # in-place arithmetic on non-leaf tensors
    C("add_", "add", lambda m, x, y: (x * 1).add_(y), F(3, 4), F(4)),
    C("add_-alpha", "add", lambda m, x, y: (x * 1).add_(y, alpha=-2), F(3, 4), F(3, 4)),
    C("sub_", "sub", lambda m, x, y: (x * 1).sub_(y), F(3, 4), F(3, 1)),
    C("mul_", "mul", lambda m, x, y: (x * 1).mul_(y), F(3, 4), F(4)),
    C("mul_-scalar", "mul", lambda m, x: (x * 1).mul_(2.5), F(3)),
    C("div_", "div", lambda m, x, y: (x * 1).div_(y), F(3, 4), F(4, g="nonzero")),
    C("clamp_", "clamp", lambda m, x: (x * 1).clamp_(-0.5, 0.5), F(3, 4)),
    C("iadd", "add", iadd, F(3, 4), F(4)),
    C("isub", "sub", isub, F(3, 4), F()),
    C("imul", "mul", imul, F(3, 4), F(3, 4)),
    C("itruediv", "div", itruediv, F(3, 4), F(1, 4, g="nonzero")),
    C("inplace-then-use", "add", inplace_then_use, F(3, 4)),
    C("inplace-chain", ("mul", "add", "div", "sub"), inplace_chain, F(3, 4), F(4, g="nonzero")),
    C("setitem-slice", "copy_slices", setitem_slice, F(4, 3), F(3)),
    C("setitem-scalar", "copy_slices", setitem_scalar, F(3, 4)),
    C("setitem-index", "index_put", setitem_index, F(3, 4), F(2, 4)),
    C("setitem-mask", "index_put", setitem_mask, F(3, 4), B(3, 4)),
    C("setitem-grad-value", "copy_slices", setitem_leaf_value, F(3, 4), F(3)),
    C("setitem-ellipsis", "copy", setitem_all, F(), F()),
    C("setitem-empty", "copy_slices", setitem_slice, F(0, 3), F(3)),
    C("setitem-index-empty", "index_put", setitem_index, F(3, 0), F(2, 0)),
    # reductions
    C("sum", "sum_all", lambda m, x: x.sum(), F(3, 4)),
    C("sum-0d", "sum_all", lambda m, x: x.sum(), F()),
    C("sum-empty", "sum_all", lambda m, x: m.sum(x), F(0, 3)),
    C("sum-int", "sum_all", lambda m, x: x.sum(), I(3, 4)),
    C("sum-bool", "sum_all", lambda m, x: x.sum(), B(5)),
    C("sum-dim", "sum_dim", lambda m, x: x.sum(1), F(3, 4)),
    C("sum-dims-keepdim", "sum_dim", lambda m, x: x.sum((0, 2), keepdim=True), F(2, 3, 4)),
    C("sum-dim-neg", "sum_dim", lambda m, x: m.sum(x, -1), F(2, 3)),
    C("sum-dim-empty", "sum_dim", lambda m, x: x.sum(0), F(0, 3)),
    C("sum-dim-int", "sum_dim", lambda m, x: x.sum(0), I(3, 2, dtype="int32")),
    C("sum-dtype", ("sum_all", "to_dtype"), lambda m, x: x.sum(dtype=m.float64), F(3)),
    C("sum-dim-0d", "sum_dim", lambda m, x: x.sum(0, keepdim=True), F()),
    C("mean", "mean_all", lambda m, x: x.mean(), F(3, 4)),
    C("mean-0d", "mean_all", lambda m, x: m.mean(x), F()),
    C("mean-empty", "mean_all", lambda m, x: x.mean(), F(0), gg=False, fd=False,
      xfail={"jvp_reverse": EMPTY_NAN}),
    C("mean-dim", "mean_dim", lambda m, x: x.mean(1), F(3, 4)),
    C("mean-dim-0d", "mean_dim", lambda m, x: x.mean(-1), F()),
    C("mean-dims-keepdim", "mean_dim", lambda m, x: x.mean((0, 1), keepdim=True), F(2, 3, 4)),
    C("mean-dim-empty", "mean_dim", lambda m, x: x.mean(1), F(0, 3)),
    C("mean-dim-empty-nan", "mean_dim", lambda m, x: x.mean(0), F(0, 3), gg=False, fd=False,
      xfail={"jvp_reverse": EMPTY_NAN}),
    C("mean-dtype", ("mean_all", "to_dtype"), lambda m, x: x.mean(dtype=m.float64), F(3)),
    C("sum-to-size", "sum_to_size", lambda m, x: x.sum_to_size(1, 4), F(3, 4)),
    C("sum-to-size-lead", "sum_to_size", lambda m, x: x.sum_to_size(3, 1), F(2, 3, 4)),
    C("prod", ("prod_all", "prod_others"), lambda m, x: x.prod(), F(3, 4, g="nonzero")),
    C("prod-zero", "prod_all", lambda m, x: x.prod(), F(2, 3, g="onezero"), fd=False),
    C("prod-0d", "prod_all", lambda m, x: m.prod(x), F(g="nonzero")),
    C("prod-empty", "prod_all", lambda m, x: x.prod(), F(0)),
    C("prod-int", "prod_all", lambda m, x: x.prod(), I(4)),
    C("prod-dim", ("prod_dim", "prod_others"), lambda m, x: x.prod(1), F(3, 4, g="nonzero")),
    C("prod-dim-keepdim", "prod_dim", lambda m, x: x.prod(0, keepdim=True), F(3, 2, g="nonzero")),
    C("prod-dim-0d", "prod_dim", lambda m, x: x.prod(0), F()),
    C("prod-dim-empty", "prod_dim", lambda m, x: x.prod(0), F(0, 3)),
    C("prod-dim-empty-out", "prod_dim", lambda m, x: x.prod(1), F(0, 3)),
    C("prod-dim-zero", "prod_dim", lambda m, x: x.prod(1), F(3, 4, g="onezero"), fd=False),
    C("max", "max_all", lambda m, x: x.max(), F(3, 4, g="distinct")),
    C("max-ties", "max_all", lambda m, x: x.max(), F(3, 4, g="ties"), fd=False),
    C("max-0d", "max_all", lambda m, x: m.max(x), F()),
    C("min", "min_all", lambda m, x: x.min(), F(3, 4, g="distinct")),
    C("min-ties", "min_all", lambda m, x: m.min(x), F(3, 4, g="ties"), fd=False),
    C("min-0d", "min_all", lambda m, x: x.min(), F()),
    C("amax", "amax", lambda m, x: x.amax(1), F(3, 4, g="distinct")),
    C("amax-all", "amax", lambda m, x: x.amax(), F(3, 4, g="distinct")),
    C("amax-ties", "amax", lambda m, x: x.amax((0, 1), keepdim=True), F(2, 3, 2, g="ties"),
      fd=False),
    C("amax-0d", "amax", lambda m, x: x.amax(0), F()),
    C("amax-empty", "amax", lambda m, x: x.amax(1), F(0, 3)),
    C("amin", "amin", lambda m, x: m.amin(x, 0, keepdim=True), F(3, 4, g="distinct")),
    C("amin-ties", "amin", lambda m, x: x.amin(1), F(3, 4, g="ties"), fd=False),
    C("amin-0d", "amin", lambda m, x: x.amin(), F()),
    C("amin-empty", "amin", lambda m, x: x.amin(-1, keepdim=True), F(0, 3)),
    C("max-dim", "max_dim", lambda m, x: x.max(1), F(3, 4, g="distinct")),
    C("max-dim-keepdim", "max_dim", lambda m, x: m.max(x, 0, keepdim=True), F(3, 4, g="distinct")),
    C("max-dim-0d", "max_dim", lambda m, x: x.max(0), F()),
    C("max-dim-empty", "max_dim", lambda m, x: x.max(1), F(0, 3)),
    C("min-dim-0d", "min_dim", lambda m, x: x.min(0, keepdim=True), F()),
    C("min-dim", "min_dim", lambda m, x: x.min(-1), F(2, 3, 4, g="distinct")),
    C("min-dim-keepdim", "min_dim", lambda m, x: x.min(1, keepdim=True), F(3, 4, g="distinct")),
    C("min-dim-empty", "min_dim", lambda m, x: x.min(1, keepdim=True), F(0, 3)),
    C("max-binary", "maximum", lambda m, x, y: x.max(y), F(3, 4), F(4)),
    C("argmax", "argmax", lambda m, x: x.argmax(), F(3, 4, g="distinct")),
    C("argmax-dim", "argmax", lambda m, x: x.argmax(1, keepdim=True), F(3, 4, g="distinct")),
    C("argmax-ties", "argmax", lambda m, x: m.argmax(x, 0), F(3, 4, g="ties")),
    C("argmax-0d", "argmax", lambda m, x: x.argmax(0), F()),
    C("argmax-empty", "argmax", lambda m, x: x.argmax(1), F(0, 3)),
    C("argmin", "argmin", lambda m, x: x.argmin(0), F(3, 4, g="distinct")),
    C("argmin-ties", "argmin", lambda m, x: x.argmin(), F(3, 4, g="ties")),
    C("argmin-0d", "argmin", lambda m, x: x.argmin(), F()),
    C("argmin-empty", "argmin", lambda m, x: x.argmin(1, keepdim=True), F(0, 3)),
    C("all", "all", lambda m, x: x.all(), B(3, 4)),
    C("all-dim", "all", lambda m, x: x.all(1), B(3, 4)),
    C("all-float", "all", lambda m, x: m.all(x), F(5, g="ties")),
    C("all-empty", "all", lambda m, x: x.all(), B(0)),
    C("all-dim-0d", "all", lambda m, x: x.all(0), B()),
    C("any", "any", lambda m, x: x.any(), B(3, 4)),
    C("any-dim", "any", lambda m, x: x.any(0, keepdim=True), B(3, 4)),
    C("any-0d", "any", lambda m, x: x.any(), B()),
    C("any-empty", "any", lambda m, x: x.any(1), B(0, 2)),
    C("var", "var", lambda m, x: x.var(), F(3, 4)),
    C("var-dim", "var", lambda m, x: x.var(1), F(3, 4)),
    C("var-dims-keepdim", "var", lambda m, x: x.var((0, 2), keepdim=True), F(2, 3, 4)),
    C("var-biased", "var", lambda m, x: x.var(0, correction=0), F(3, 4)),
    C("var-one", "var", lambda m, x: x.var(), F(1), gg=False, fd=False,
      xfail={"jvp_reverse": "no degrees of freedom: " + NAN_DUAL}),
    C("std-one", "std", lambda m, x: x.std(0), F(1), gg=False, fd=False,
      xfail={"jvp_reverse": "no degrees of freedom: " + NAN_DUAL}),
    C("var-0d", "var", lambda m, x: x.var(0, correction=0), F()),
    C("var-empty", "var", lambda m, x: x.var(1), F(0, 3)),
    C("var-empty-nan", "var", lambda m, x: x.var(0), F(0, 3), gg=False, fd=False),
    C("std", "std", lambda m, x: x.std(), F(3, 4)),
    C("std-dim", "std", lambda m, x: m.std(x, 0), F(3, 4)),
    C("std-keepdim", "std", lambda m, x: x.std(1, keepdim=True, correction=0), F(3, 4)),
    C("std-const", "std", lambda m, x: x.std(1), F(2, 3, g="const"), fd=False, gg=False),
    C("std-0d", "std", lambda m, x: x.std(correction=0), F(), gg=False, fd=False),
    C("std-empty", "std", lambda m, x: x.std(1), F(0, 3)),
    C("logsumexp", "logsumexp", lambda m, x: x.logsumexp(1), F(3, 4)),
    C("logsumexp-dims", "logsumexp", lambda m, x: m.logsumexp(x, (0, 1), keepdim=True), F(2, 3, 2)),
    C("logsumexp-large", "logsumexp", lambda m, x: x.logsumexp(0), F(4, 3, g="large"), fd=False),
    C("logsumexp-0d", "logsumexp", lambda m, x: x.logsumexp(0), F()),
    C("logsumexp-empty", "logsumexp", lambda m, x: x.logsumexp(1), F(0, 3)),
    C("logsumexp-empty-reduced", "logsumexp", lambda m, x: x.logsumexp(0), F(0, 3),
      xfail={"jvp_reverse": EMPTY_NAN}),
    C("norm", "norm", lambda m, x: x.norm(), F(3, 4)),
    C("norm-fro", "norm", lambda m, x: x.norm(p="fro"), F(2, 3)),
    C("norm-dim", "norm", lambda m, x: x.norm(dim=1), F(3, 4)),
    C("norm-keepdim", "norm", lambda m, x: m.norm(x, 2, 0, True), F(3, 4)),
    C("norm-1", "norm", lambda m, x: x.norm(p=1), F(3, 4, g="nonzero")),
    C("norm-inf", "norm", lambda m, x: x.norm(p=INF, dim=1), F(3, 4, g="distinct")),
    C("norm-3", "norm", lambda m, x: x.norm(p=3), F(3, 4, g="nonzero")),
    C("norm-0", "norm", lambda m, x: x.norm(p=0), F(3, 4, g="zeros"), fd=False),
    C("norm-zero-row", "norm", lambda m, x: x.norm(dim=1), F(3, 2, g="ties"), fd=False),
    C("norm-dim-0d", "norm", lambda m, x: x.norm(dim=0), F(g="nonzero")),
    C("norm-empty", "norm", lambda m, x: x.norm(), F(0)),
    C("softmax", "softmax", lambda m, x: x.softmax(1), F(3, 4)),
    C("softmax-dim0", "softmax", lambda m, x: m.softmax(x, 0), F(3, 4)),
    C("softmax-large", "softmax", lambda m, x: x.softmax(-1), F(2, 5, g="large"), fd=False),
    C("softmax-0d", "softmax", lambda m, x: x.softmax(0), F()),
    C("softmax-empty", "softmax", lambda m, x: x.softmax(1), F(0, 3)),
    C("softmax-dtype", ("softmax", "to_dtype"), lambda m, x: m.softmax(x, 1, dtype=m.float64),
      F(3, 4)),
    C("log-softmax", "log_softmax", lambda m, x: x.log_softmax(1), F(3, 4)),
    C("log-softmax-dim0", "log_softmax", lambda m, x: m.log_softmax(x, 0), F(2, 3, 2)),
    C("log-softmax-0d", "log_softmax", lambda m, x: x.log_softmax(0), F()),
    C("log-softmax-empty", "log_softmax", lambda m, x: x.log_softmax(0), F(0, 3)),
    C("log-softmax-large", "log_softmax", lambda m, x: x.log_softmax(-1), F(2, 5, g="large"),
      fd=False),
    # indexing
    C("select", "select", lambda m, x: x[1], F(3, 4)),
    C("select-neg", "select", lambda m, x: x[:, -1], F(3, 4)),
    C("select-3d", "select", lambda m, x: x[1, :, 0], F(2, 3, 4)),
    C("select-empty", "select", lambda m, x: x[:, 1], F(0, 3)),
    C("slice", "slice", lambda m, x: x[1:3], F(4, 3)),
    C("slice-step", "slice", lambda m, x: x[:, ::2], F(3, 5)),
    C("slice-ellipsis", "slice", lambda m, x: x[..., 1:], F(2, 3, 4)),
    C("slice-empty", "slice", lambda m, x: x[2:2], F(3, 4)),
    C("slice-empty-input", "slice", lambda m, x: x[:, 1:], F(0, 3)),
    C("index-none", "unsqueeze", lambda m, x: x[:, None], F(3, 4)),
    C("index", "index", lambda m, x: x[[0, 2]], F(3, 4)),
    C("index-repeat", "index", lambda m, x: x[idx([2, 0, 2])(m)], F(3, 4)),
    C("index-2d", "index", lambda m, x: x[[0, 1, 1], [1, 2, 2]], F(3, 4)),
    C("index-mixed", "index", lambda m, x: x[1:, [0, 0, 3]], F(3, 4)),
    C("index-mask", "index", lambda m, x, mask: x[mask], F(3, 4), B(3, 4)),
    C("index-mask-rows", "index", lambda m, x, mask: x[mask], F(3, 4), B(3)),
    C("index-empty", "index", lambda m, x: x[:, [0, 2]], F(0, 3)),
    C("index-select", "index_select", lambda m, x: x.index_select(0, idx([2, 0, 2])(m)), F(3, 4)),
    C("index-select-dim1", "index_select", lambda m, x: m.index_select(x, 1, idx([3, 1])(m)),
      F(3, 4)),
    C("index-select-empty", "index_select", lambda m, x: x.index_select(0, idx([])(m)), F(3, 4)),
    C("index-select-0d", "index_select", lambda m, x: x.index_select(0, idx([0])(m)), F()),
    C("index-select-empty-input", "index_select", lambda m, x: x.index_select(1, idx([2, 0])(m)),
      F(0, 3)),
    C("gather", "gather", lambda m, x: x.gather(1, G(m)), F(3, 4)),
    C("gather-dim0", "gather", lambda m, x: m.gather(x, 0, idx([[2, 0, 1, 2]])(m)), F(3, 4)),
    C("gather-0d", "gather", lambda m, x: x.gather(0, idx(0)(m)), F()),
    # one index per row (the NLL loss's gather; its backward scatters by assignment), also
    # over fewer rows than the input has
    C("gather-one-per-row", "gather", lambda m, x: x.gather(1, idx([[1], [3], [1]])(m)), F(3, 4)),
    C("gather-one-per-row-short", "gather", lambda m, x: x.gather(1, idx([[2], [0]])(m)),
      F(3, 4)),
    C("gather-empty", "gather", lambda m, x: x.gather(1, idx([[]])(m)), F(1, 3)),
    C("scatter", "scatter", lambda m, x, y: x.scatter(1, S(m), y), F(3, 4), F(3, 2)),
    C("scatter-bigger-src", "scatter", lambda m, x, y: x.scatter(1, S(m), y), F(3, 4), K(3, 3)),
    C("scatter-value", "scatter_value", lambda m, x: x.scatter(1, S(m), 2.5), F(3, 4)),
    C("scatter-0d", "scatter", lambda m, x, y: x.scatter(0, idx(0)(m), y), F(), F()),
    C("scatter-value-empty", "scatter_value", lambda m, x: x.scatter(1, idx([[]])(m), 1.0),
      F(1, 3)),
    C("scatter-add", "scatter_add", lambda m, x, y: x.scatter_add(1, G(m), y), F(3, 4), F(3, 2)),
    C("scatter-add-dim0", "scatter_add", lambda m, x,
      y: m.scatter_add(x, 0, idx([[0, 0, 2, 1]])(m), y), F(3, 4), F(1, 4)),
    C("scatter-add-0d", "scatter_add", lambda m, x, y: x.scatter_add(0, idx(0)(m), y), F(), F()),
    C("scatter-add-empty", "scatter_add", lambda m, x, y: x.scatter_add(1, idx([[]])(m), y),
      F(1, 3), K(1, 2)),
    C("masked-fill", "masked_fill", lambda m, x, mask: x.masked_fill(mask, 0.5), F(3, 4), B(3, 4)),
    C("masked-fill-bcast", "masked_fill", lambda m, x, mask: m.masked_fill(x, mask, -1.0), F(3, 4),
      B(4)),
    C("masked-fill-0d", "masked_fill", lambda m, x, mask: x.masked_fill(mask, 2.0), F(), B()),
    C("masked-fill-empty", "masked_fill", lambda m, x, mask: x.masked_fill(mask, 1.0), F(0, 3),
      B(3)),
    C("masked-fill_", "masked_fill", lambda m, x, mask: (x * 1).masked_fill_(mask, 0.0), F(3, 4),
      B(3, 4)),
    # matrix products
    C("mm", "mm", lambda m, x, y: x.mm(y), F(3, 4), F(4, 2)),
    C("addmm", "addmm", lambda m, b, x, y: m.addmm(b, x, y), F(2), F(3, 4), F(4, 2)),
    C("addmm-full-bias", "addmm", lambda m, b, x, y: m.addmm(b, x, y), F(3, 2), F(3, 4), F(4, 2)),
    C("addmm-col-bias", "addmm", lambda m, b, x, y: m.addmm(b, x, y), F(3, 1), F(3, 4), F(4, 2)),
    C("matmul-2d", "mm", lambda m, x, y: x @ y, F(3, 4), F(4, 2)),
    C("mm-empty", "mm", lambda m, x, y: m.mm(x, y), F(3, 0), F(0, 2)),
    C("matmul-1d-2d", ("mm", "unsqueeze", "squeeze_dim"), lambda m, x, y: x @ y, F(4), F(4, 2),
      xfail=MM),
    C("bmm", "bmm", lambda m, x, y: x.bmm(y), F(2, 3, 4), F(2, 4, 5)),
    C("matmul-3d", "bmm", lambda m, x, y: m.matmul(x, y), F(2, 3, 4), F(2, 4, 5), xfail=MM),
    C("bmm-empty", "bmm", lambda m, x, y: x.bmm(y), F(0, 3, 4), F(0, 4, 2)),
    C("matmul-bcast", "matmul", lambda m, x, y: x @ y, F(2, 3, 4), F(4, 5), xfail=MM),
    C("matmul-bcast-batch", "matmul", lambda m, x, y: x @ y, F(1, 3, 4), F(2, 4, 5), xfail=MM),
    C("matmul-bcast-lhs", "matmul", lambda m, x, y: x @ y, F(3, 4), F(2, 4, 5), xfail=MM),
    C("matmul-3d-1d", "matmul", lambda m, x, y: x @ y, F(2, 3, 4), F(4), xfail=MM),
    C("matmul-1d-3d", "matmul", lambda m, x, y: x @ y, F(4), F(2, 4, 5), xfail=MM),
    C("matmul-empty", "matmul", lambda m, x, y: m.matmul(x, y), F(2, 0, 4), F(4, 5), xfail=MM),
    C("mv", "mv", lambda m, x, y: x.mv(y), F(3, 4), F(4)),
    C("matmul-2d-1d", "mv", lambda m, x, y: x @ y, F(3, 4), F(4)),
    C("mv-empty", "mv", lambda m, x, y: x.mv(y), F(0, 3), F(3)),
    C("dot", "dot", lambda m, x, y: x.dot(y), F(4), F(4)),
    C("matmul-1d", "dot", lambda m, x, y: m.matmul(x, y), F(4), F(4)),
    C("dot-empty", "dot", lambda m, x, y: m.dot(x, y), F(0), F(0)),
    C("outer", "outer", lambda m, x, y: m.outer(x, y), F(3), F(4)),
    C("outer-method", "outer", lambda m, x, y: x.outer(y), F(2), F(1)),
    C("outer-empty", "outer", lambda m, x, y: m.outer(x, y), F(0), F(3)),
]
# fmt: on

# Ops used only inside backward rules: each maps to table cases whose checks run it. The
# meta-tests verify that each listed case calls the helper and, for a differentiable helper, that
# the listed cases' second-order gradients run its own backward rule.
HELPERS: dict[str, tuple[str, ...]] = {
    "mask_like": ("norm-inf",),
    "zeros_like": ("sign",),
    "tie_mask": ("maximum", "maximum-ties", "minimum-ties"),
    "even_mask": ("max", "max-ties", "amax-ties", "norm-inf"),
    "prod_others": ("prod", "prod-zero", "prod-dim-zero"),
    "index_backward": ("select", "slice", "index", "index-repeat", "index-mask"),
    "index_select_backward": ("index-select", "index-select-dim1"),
    "scatter_zeros": ("gather", "max-dim", "min-dim"),
    "zero_at": ("setitem-slice", "setitem-index", "setitem-mask"),
    "sum_to_size": ("expand", "expand-new-dims"),
}


# Rows for the neural-network ops live beside this file, one module per ops module; each defines
# CASES (a list of Case) and HELPERS (same meaning as above).
def _extend() -> None:
    import importlib

    for name in ("op_cases_conv", "op_cases_nnops"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        CASES.extend(mod.CASES)
        HELPERS.update(mod.HELPERS)


_extend()

BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "duplicate case ids"


# --- the harness ----------------------------------------------------------------------------------
def seed_of(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def arrays(case: Case, dtype: str) -> list[np.ndarray]:
    """The case's input values as NumPy arrays, the same on every run."""
    rng = np.random.default_rng(seed_of(case.id))
    out = []
    for a in case.args:
        v = GENS[a.gen](rng, a.shape)
        v = np.asarray(v, dtype=a.dtype if a.dtype is not None else dtype)
        out.append(v)
    return out


def inputs(m: Any, case: Case, dtype: str) -> list[Any]:
    """The case's inputs as tensors of module `m` (dygrad or torch)."""
    ts = []
    for a, v in zip(case.args, arrays(case, dtype)):
        t = m.tensor(v.copy())
        if a.differentiable:
            t.requires_grad_(True)
        ts.append(t)
    return ts


def outputs(y: Any) -> list[Any]:
    """A result (tensor, tuple, named tuple) as a flat list of tensors."""
    if isinstance(y, list | tuple):
        return [t for v in y for t in outputs(v)]
    return [y]


def cotangents(ys: Sequence[Any], tag: str) -> list[np.ndarray]:
    """Random weights, one per output, for the weighted sum that backward differentiates."""
    rng = np.random.default_rng(seed_of(tag))
    return [rng.standard_normal(tuple(y.shape)).astype(str(y.dtype).split(".")[-1]) for y in ys]


def to_numpy(t: Any) -> np.ndarray | None:
    return None if t is None else np.array(t.detach().numpy(force=True))


def grads(m: Any, case: Case, dtype: str, create_graph: bool = False) -> dict[str, Any]:
    """Run the case: inputs, outputs, and gradients of a weighted sum of the differentiable
    outputs with respect to the differentiable inputs (None when no output needs grad)."""
    xs = inputs(m, case, dtype)
    ys = outputs(case.fn(m, *xs))
    res: dict[str, Any] = {"xs": xs, "ys": ys, "gs": None}
    wrt = [x for a, x in zip(case.args, xs) if a.differentiable]
    dys = [y for y in ys if y.requires_grad]
    if not wrt or not dys:
        return res
    ws = [m.tensor(w) for w in cotangents(dys, case.id + dtype)]
    if create_graph:
        for w in ws:
            w.requires_grad_(True)
    gs = m.autograd.grad(dys, wrt, ws, create_graph=create_graph, allow_unused=True)
    res.update(wrt=wrt, dys=dys, ws=ws, gs=list(gs))
    return res


def second_grads(m: Any, case: Case, dtype: str = "float64") -> list[np.ndarray] | None:
    """Gradients of a weighted sum of the first gradients (taken with create_graph=True) with
    respect to the inputs and the first-order weights, as gradgradcheck differentiates."""
    r = grads(m, case, dtype, create_graph=True)
    if r["gs"] is None:
        return None
    wrt = r["wrt"] + r["ws"]
    rng = np.random.default_rng(seed_of(case.id, "gg"))
    pairs = [
        (g, m.tensor(rng.standard_normal(tuple(x.shape)).astype(dtype)))
        for g, x in zip(r["gs"], r["wrt"])
    ]
    live = [(g, v) for g, v in pairs if g is not None and g.requires_grad]
    if not live:
        return [np.zeros(tuple(x.shape), dtype) for x in wrt]
    got = m.autograd.grad([g for g, _ in live], wrt, [v for _, v in live], allow_unused=True)
    return [np.zeros(tuple(x.shape), dtype) if g is None else to_numpy(g) for g, x in zip(got, wrt)]


def dense(gs: Sequence[Any], like: Sequence[Any]) -> list[np.ndarray]:
    """Gradients as arrays, None (unused input) as zeros."""
    return [
        np.zeros(tuple(x.shape), str(x.dtype).split(".")[-1]) if g is None else to_numpy(g)
        for g, x in zip(gs, like)
    ]


def assert_close(got: Any, want: Any, rtol: float, atol: float, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.dtype == np.bool_ or want.dtype == np.bool_ or got.dtype.kind in "iu":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@contextmanager
def op_calls() -> Iterator[tuple[set[str], set[str]]]:
    """Record which registered ops run forward (every call goes through the op's `forward`) and
    which run a backward rule (through `vjps`, or `vjp_all` for a variadic op)."""
    from dygrad.ops.registry import REGISTRY

    fwd_seen: set[str] = set()
    vjp_seen: set[str] = set()
    saved = {}

    def spy(f: Any, name: str, seen: set[str]) -> Any:
        def run(*args: Any) -> Any:
            seen.add(name)
            return f(*args)

        return run

    for name, op in REGISTRY.items():
        saved[name] = (op.forward, op.vjps, op.vjp_all)
        op.forward = spy(op.forward, name, fwd_seen)
        op.vjps = tuple(None if r is None else spy(r, name, vjp_seen) for r in op.vjps)
        if op.vjp_all is not None:
            op.vjp_all = spy(op.vjp_all, name, vjp_seen)
    try:
        yield fwd_seen, vjp_seen
    finally:
        for name, (fwd, vjps, vjp_all) in saved.items():
            op = REGISTRY[name]
            op.forward, op.vjps, op.vjp_all = fwd, vjps, vjp_all
