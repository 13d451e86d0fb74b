"""Property-based tests (hypothesis) for every registered op and the user-facing calls over it:
random shapes (broadcasting, 0-d, empty, rank up to 5), dtypes, attributes and values. Forward
values, dtypes, shapes and gradients must equal PyTorch's; float64 gradients must equal central
finite differences (that check runs without PyTorch). `COVERAGE` maps every op in
`dygrad.ops.REGISTRY` to the property that exercises it, and a meta-test holds it to that.
`BUGS` keeps the minimal failing examples hypothesis found, as strict expected failures."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from op_cases import op_calls
from prop_strategies import (
    FLOATS,
    B,
    Ex,
    I,
    In,
    K,
    X,
    bools,
    broadcast_shapes,
    broadcast_to,
    check_against_torch,
    check_finite_differences,
    dim_list,
    dims_of,
    ex,
    index_values,
    int_values,
    outputs,
    run,
    shapes,
    values,
)

import dygrad
from dygrad.ops import REGISTRY

N_TORCH = 12  # examples per property against PyTorch (dtype drawn too)
N_FD = 8  # examples per property against finite differences (float64)
N_META = 8  # examples per property when checking that it runs its ops

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

Draw = Callable[[st.SearchStrategy[Any]], Any]
Builder = Callable[[bool], st.SearchStrategy[Ex]]


def F(m: Any) -> Any:
    return m.nn.functional


def grad_of(m: Any, y: Any, xs: Any, g: Any) -> Any:
    """The first gradient, recorded, so that its own gradient is the op's second-order rule."""
    return m.autograd.grad(y, xs, g, create_graph=True)


def out_shape(fn: Callable[..., Any], *arrays: np.ndarray) -> tuple[int, ...]:
    """The shape of fn's result on dygrad tensors of these values."""
    xs = [dygrad.tensor(a).requires_grad_(a.dtype.kind == "f") for a in arrays]
    return tuple(outputs(fn(dygrad, *xs))[0].shape)


def far(a: np.ndarray, points: Any, gap: float = 1e-3) -> bool:
    """No element of `a` within `gap` of any of `points` (kinks for finite differences)."""
    a = np.asarray(a, dtype=np.float64)
    return all(bool(np.all(np.abs(a - p) > gap)) for p in np.atleast_1d(points))


# --- the properties -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prop:
    name: str
    family: str
    build: Builder
    fd: bool = True  # gradients are checked against finite differences
    n: int = N_TORCH


PROPS: dict[str, Prop] = {}
FAMILIES = (
    "elementwise",  # unary math, activations, conversions, predicates
    "broadcasting",  # binary and ternary ops, comparisons, in-place arithmetic
    "reduction",
    "shape",
    "indexing",
    "linalg",
    "conv",  # convolution, pooling, padding
    "nn",  # softmax, normalization, losses, embedding
    "second-order",  # ops that only backward rules call: gradients of gradients
)


def prop(name: str, family: str, fd: bool = True, n: int = N_TORCH) -> Callable[[Any], Any]:
    def deco(f: Any) -> Any:
        assert name not in PROPS and family in FAMILIES
        PROPS[name] = Prop(name, family, f, fd, n)
        return f

    return deco


def pick(draw: Draw, forms: list[tuple[str, Callable[..., Any]]]) -> tuple[str, Any]:
    return draw(st.sampled_from(forms))


# --- elementwise ----------------------------------------------------------------------------------
# op: (domain for finite differences, extra domain against PyTorch (kinks, zeros), domain of
# integer inputs or None)
SIMPLE: dict[str, tuple[str, str | None, str | None]] = {
    "exp": ("real", "special", "real"),
    "log": ("pos", "zeropos", "pos"),
    "log1p": ("gt-1", None, "gt-1"),
    "expm1": ("real", "special", "real"),
    "sqrt": ("pos", "zeropos", "pos"),
    "rsqrt": ("pos", None, "pos"),
    "reciprocal": ("nonzero", None, "nonzero"),
    "sin": ("real", None, "real"),
    "cos": ("real", None, "real"),
    "tan": ("unit", None, "real"),
    "tanh": ("real", "special", "real"),
    "sigmoid": ("real", "special", "real"),
    "relu": ("nonzero", "ties", "real"),
    "abs": ("nonzero", "ties", "real"),
    "sign": ("nonzero", "ties", "real"),
    "neg": ("real", "special", "real"),
    "erf": ("real", "special", "real"),
    "erfc": ("real", "special", "real"),
}
OPERATOR_FORMS: dict[str, list[tuple[str, Any]]] = {
    "abs": [("abs(x)", lambda m, x: abs(x))],
    "neg": [("-x", lambda m, x: -x)],
    "relu": [("F.relu(x)", lambda m, x: F(m).relu(x))],
}


def _simple(op: str) -> Builder:
    dom, extra, ints = SIMPLE[op]
    forms = [(f"torch.{op}(x)", lambda m, x: getattr(m, op)(x))]
    if op not in ("erf", "erfc"):  # not Tensor methods in dygrad
        forms.append((f"x.{op}()", lambda m, x: getattr(x, op)()))
    forms += OPERATOR_FORMS.get(op, [])

    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        text, fn = pick(draw, forms)
        shape = draw(shapes())
        if not fd and ints and draw(st.integers(0, 4)) == 0:
            dt = draw(st.sampled_from(["int64", "int32"]))
            return ex(text, fn, I(draw(int_values(shape, ints)), dt))
        d = dom if fd or extra is None else draw(st.sampled_from([dom, dom, extra]))
        return ex(text, fn, X(draw(values(shape, d))))

    return build


for _op in SIMPLE:
    prop(_op, "elementwise")(_simple(_op))


@prop("gelu", "elementwise")
@st.composite
def _gelu(draw: Draw, fd: bool) -> Ex:
    a = draw(st.sampled_from(["none", "tanh"]))
    x = draw(values(draw(shapes())))
    return ex(f"F.gelu(x, approximate={a!r})", lambda m, x: F(m).gelu(x, approximate=a), X(x))


def _kinked(draw: Draw, fd: bool, points: Any = 0.0) -> np.ndarray:
    # Values for an op with kinks at `points`: away from them for finite differences, on them
    # (ties domain) half the time against PyTorch.
    shape = draw(shapes())
    if fd:
        x = draw(values(shape, "real"))
        assume(far(x, points, 1e-2))
        return x
    return draw(values(shape, draw(st.sampled_from(["real", "ties"]))))


@prop("elu", "elementwise")
@st.composite
def _elu(draw: Draw, fd: bool) -> Ex:
    a = draw(st.floats(0.1, 2.0))
    text, fn = pick(draw, [
        (f"F.elu(x, alpha={a})", lambda m, x: F(m).elu(x, alpha=a)),
        ("F.selu(x)", lambda m, x: F(m).selu(x)),
        ("torch.selu(x)", lambda m, x: m.selu(x)),
    ])  # fmt: skip
    return ex(text, fn, X(_kinked(draw, fd)))


@prop("elu_", "elementwise")
@st.composite
def _elu_(draw: Draw, fd: bool) -> Ex:
    a = draw(st.floats(0.1, 2.0))
    text, fn = pick(draw, [
        (f"F.elu(x * 1, alpha={a}, inplace=True)",
         lambda m, x: F(m).elu(x * 1, alpha=a, inplace=True)),
        ("F.selu(x * 1, inplace=True)", lambda m, x: F(m).selu(x * 1, inplace=True)),
    ])  # fmt: skip
    return ex(text, fn, X(_kinked(draw, fd)))


@prop("leaky_relu", "elementwise")
@st.composite
def _leaky(draw: Draw, fd: bool) -> Ex:
    s = draw(st.floats(-0.5, 0.5))
    fn = lambda m, x: F(m).leaky_relu(x, s)
    return ex(f"F.leaky_relu(x, {s})", fn, X(_kinked(draw, fd)))


@prop("leaky_relu_", "elementwise")
@st.composite
def _leaky_(draw: Draw, fd: bool) -> Ex:
    s = draw(st.floats(0.0, 0.5))
    fn = lambda m, x: F(m).leaky_relu(x * 1, s, inplace=True)
    return ex(f"F.leaky_relu(x * 1, {s}, inplace=True)", fn, X(_kinked(draw, fd)))


@prop("silu", "elementwise")
@st.composite
def _silu(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("F.silu(x)", lambda m, x: F(m).silu(x)),
        ("F.silu(x * 1, inplace=True)", lambda m, x: F(m).silu(x * 1, inplace=True)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(draw(shapes())))))


@prop("softplus", "elementwise")
@st.composite
def _softplus(draw: Draw, fd: bool) -> Ex:
    beta = draw(st.floats(0.5, 3.0))
    th = draw(st.floats(0.5, 20.0))
    x = draw(values(draw(shapes())))
    if fd:  # the switch to the identity above the threshold is a (small) kink
        assume(far(x * beta, th, 1e-2))
    fn = lambda m, x: F(m).softplus(x, beta=beta, threshold=th)
    return ex(f"F.softplus(x, beta={beta}, threshold={th})", fn, X(x))


@prop("hardtanh", "elementwise")
@st.composite
def _hardtanh(draw: Draw, fd: bool) -> Ex:
    lo = draw(st.sampled_from([-1.0, -0.5, 0.0]))
    hi = draw(st.sampled_from([0.5, 1.0]))
    text, fn = pick(draw, [
        (f"F.hardtanh(x, {lo}, {hi})", lambda m, x: F(m).hardtanh(x, lo, hi)),
        ("F.relu6(x * 4)", lambda m, x: F(m).relu6(x * 4)),
        (f"F.hardtanh_(x * 1, {lo}, {hi})", lambda m, x: F(m).hardtanh_(x * 1, lo, hi)),
    ])  # fmt: skip
    kinks = (lo, hi, 0.0, 1.5)  # 0 and 6/4 are relu6's
    return ex(text, fn, X(_kinked(draw, fd, kinks)))


@prop("logsigmoid", "elementwise")
@st.composite
def _logsigmoid(draw: Draw, fd: bool) -> Ex:
    d = "real" if fd else draw(st.sampled_from(["real", "special"]))
    x = draw(values(draw(shapes()), d))
    return ex("F.logsigmoid(x)", lambda m, x: F(m).logsigmoid(x), X(x))


@prop("clamp", "elementwise")
@st.composite
def _clamp(draw: Draw, fd: bool) -> Ex:
    ints = not fd and draw(st.integers(0, 4)) == 0
    lo = draw(st.sampled_from([-1.0, -0.5, 0.0, None]))
    hi = draw(st.sampled_from([0.5, 1.0, None] if lo is not None else [0.5, 1.0]))
    if ints and draw(st.booleans()):  # integer bounds, or float ones (the result is float)
        lo, hi = (None if b is None else int(b * 2) for b in (lo, hi))
    text, fn = pick(draw, [
        (f"x.clamp({lo}, {hi})", lambda m, x: x.clamp(lo, hi)),
        (f"torch.clamp(x, min={lo}, max={hi})", lambda m, x: m.clamp(x, min=lo, max=hi)),
        (f"x.clip({lo}, {hi})", lambda m, x: x.clip(lo, hi)),
        (f"(x * 1).clamp_({lo}, {hi})", lambda m, x: (x * 1).clamp_(lo, hi)),
    ])  # fmt: skip
    if ints:
        return ex(text, fn, I(draw(int_values(draw(shapes()), "ties"))))
    return ex(text, fn, X(_kinked(draw, fd, [b for b in (lo, hi) if b is not None])))


@prop("pow", "elementwise")
@st.composite
def _pow(draw: Draw, fd: bool) -> Ex:
    p = draw(st.sampled_from([2, 3, 0, 1, -1, -2, 0.5, 1.5, -1.5, 2.5, 2.0]))
    text, fn = pick(draw, [
        (f"x ** {p}", lambda m, x: x**p),
        (f"x.pow({p})", lambda m, x: x.pow(p)),
        (f"torch.pow(x, {p})", lambda m, x: m.pow(x, p)),
    ] + ([("x.square()", lambda m, x: x.square())] if p == 2 else []))  # fmt: skip
    shape = draw(shapes())
    whole = float(p).is_integer()
    dom = "real" if whole and p >= 0 else "nonzero" if whole else "pos"
    if not fd and isinstance(p, int) and p >= 0 and draw(st.integers(0, 4)) == 0:
        return ex(text, fn, I(draw(int_values(shape, "real"))))
    if not fd and whole and p >= 0:
        dom = draw(st.sampled_from([dom, "ties"]))
    return ex(text, fn, X(draw(values(shape, dom))))


@prop("rpow", "elementwise")
@st.composite
def _rpow(draw: Draw, fd: bool) -> Ex:
    c = draw(st.sampled_from([2, 3, 0.5, 1.5, 1.0, 2.5]))
    text, fn = pick(draw, [
        (f"{c} ** x", lambda m, x: c**x),
        (f"torch.pow({c}, x)", lambda m, x: m.pow(c, x)),
    ])  # fmt: skip
    shape = draw(shapes())
    if not fd and draw(st.integers(0, 3)) == 0:  # an int base keeps int64; a float one: float32
        return ex(text, fn, I(draw(int_values(shape, "gt-1"))))
    return ex(text, fn, X(draw(values(shape))))


@prop("rsub", "elementwise")
@st.composite
def _rsub(draw: Draw, fd: bool) -> Ex:
    c = draw(st.sampled_from([1, 2.5, -0.5, 0]))
    shape = draw(shapes())
    fn = lambda m, x: c - x
    if not fd and draw(st.integers(0, 4)) == 0:
        return ex(f"{c} - x", fn, I(draw(int_values(shape))))
    return ex(f"{c} - x", fn, X(draw(values(shape))))


_MOD_DIVISORS = [0.7, 2, -1.5, 1, 0.25]


def _mod_scalar(draw: Draw, fd: bool, c: Any, forms: list[tuple[str, Any]]) -> Ex:
    # x mod the number c (remainder or fmod): integer inputs sometimes for an integer c; for
    # finite differences, away from the jumps where x / c is a whole number.
    text, fn = pick(draw, forms)
    shape = draw(shapes())
    if not fd and isinstance(c, int) and draw(st.integers(0, 4)) == 0:
        return ex(text, fn, I(draw(int_values(shape))))
    x = draw(values(shape))
    if fd:
        q = x / c
        assume(far(q - np.round(q), 0.0, 1e-3))
    return ex(text, fn, X(x))


@prop("remainder_scalar", "elementwise")
@st.composite
def _remainder_scalar(draw: Draw, fd: bool) -> Ex:
    c = draw(st.sampled_from(_MOD_DIVISORS))
    return _mod_scalar(draw, fd, c, [
        (f"x % {c}", lambda m, x: x % c),
        (f"x.remainder({c})", lambda m, x: x.remainder(c)),
        (f"torch.remainder(x, {c})", lambda m, x: m.remainder(x, c)),
    ])  # fmt: skip


@prop("fmod_scalar", "elementwise")
@st.composite
def _fmod_scalar(draw: Draw, fd: bool) -> Ex:
    c = draw(st.sampled_from(_MOD_DIVISORS))
    return _mod_scalar(draw, fd, c, [
        (f"x.fmod({c})", lambda m, x: x.fmod(c)),
        (f"torch.fmod(x, {c})", lambda m, x: m.fmod(x, c)),
    ])  # fmt: skip


def _rounding(op: str) -> Builder:
    forms = [(f"x.{op}()", lambda m, x: getattr(x, op)()),
             (f"torch.{op}(x)", lambda m, x: getattr(m, op)(x))]  # fmt: skip
    if op == "trunc":
        forms.append(("torch.fix(x)", lambda m, x: m.fix(x)))

    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        text, fn = pick(draw, forms)
        shape = draw(shapes())
        if fd:  # whole numbers plus 0.3: away from the jumps (whole and half-way values)
            return ex(text, fn, X(np.round(draw(values(shape))) + 0.3))
        if draw(st.integers(0, 4)) == 0:
            dt = draw(st.sampled_from(["int64", "int32"]))
            return ex(text, fn, I(draw(int_values(shape)), dt))
        # ties holds the half-way values (round half to even) and whole numbers.
        return ex(
            text, fn, X(draw(values(shape, draw(st.sampled_from(["real", "ties", "special"])))))
        )

    return build


for _op in ("floor", "ceil", "round", "trunc"):
    prop(_op, "elementwise")(_rounding(_op))


@prop("to_dtype", "elementwise")
@st.composite
def _to_dtype(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    if fd:  # a float64 copy: the only conversion that finite differences can see exactly
        fn = lambda m, x: x.to(m.float64, copy=True)
        return ex("x.to(torch.float64, copy=True)", fn, X(draw(values(shape))))
    text, fn = pick(draw, [
        ("x.double()", lambda m, x: x.double()),
        ("x.float()", lambda m, x: x.float()),
        ("x.half()", lambda m, x: x.half()),
        ("x.long()", lambda m, x: x.long()),
        ("x.int()", lambda m, x: x.int()),
        ("x.to(torch.bool)", lambda m, x: x.to(m.bool)),
        ("x.to(dtype=torch.float64)", lambda m, x: x.to(dtype=m.float64)),
        ("x.to(torch.float32, copy=True)", lambda m, x: x.to(m.float32, copy=True)),
    ])  # fmt: skip
    if draw(st.integers(0, 4)) == 0:
        return ex(text, fn, I(draw(int_values(shape))))
    return ex(text, fn, X(draw(values(shape, draw(st.sampled_from(["real", "ties"]))))), tol=5)


@st.composite
def _predicate(draw: Draw, fd: bool, name: str) -> Ex:
    text, fn = pick(draw, [
        (f"x.{name}()", lambda m, x: getattr(x, name)()),
        (f"torch.{name}(x)", lambda m, x: getattr(m, name)(x)),
    ])  # fmt: skip
    shape = draw(shapes())
    if draw(st.integers(0, 4)) == 0:
        return ex(text, fn, I(draw(int_values(shape))))
    return ex(text, fn, X(draw(values(shape, "special"))))


for _op in ("isnan", "isinf", "isfinite"):
    prop(_op, "elementwise", fd=False)(lambda fd, _op=_op: _predicate(fd, _op))


@prop("logical_not", "elementwise", fd=False)
@st.composite
def _logical_not(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("x.logical_not()", lambda m, x: x.logical_not()),
        ("torch.logical_not(x)", lambda m, x: m.logical_not(x)),
        ("~x", lambda m, x: ~x),
    ])  # fmt: skip
    shape = draw(shapes())
    if text == "~x" or draw(st.booleans()):
        return ex(text, fn, B(draw(bools(shape))))
    return ex(text, fn, X(draw(values(shape, "ties"))))


def _int_or_bool(draw: Draw, shape: tuple[int, ...]) -> Any:
    kind = draw(st.sampled_from(["int64", "int32", "bool"]))
    return B(draw(bools(shape))) if kind == "bool" else I(draw(int_values(shape)), kind)


def _bitwise(op: str, sym: str) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        form = draw(st.integers(0, 7))
        if form == 0:  # a Python number operand, on either side
            c = draw(st.sampled_from([3, -2, True, False]))
            x = _int_or_bool(draw, draw(shapes()))
            if draw(st.booleans()):
                return ex(f"x {sym} {c!r}", lambda m, x: getattr(x, f"__{op}__")(c), x)
            return ex(f"{c!r} {sym} x", lambda m, x: getattr(x, f"__r{op}__")(c), x)
        sx, sy = draw(broadcast_shapes(2))
        if form == 7:  # now and then a float operand: PyTorch's kernel refuses it
            x, y = _int_or_bool(draw, sx), X(draw(values(sy)), grad=False)
        else:
            x, y = _int_or_bool(draw, sx), _int_or_bool(draw, sy)
        text, fn = pick(draw, [
            (f"x {sym} y", lambda m, x, y: getattr(x, f"__{op}__")(y)),
            (f"torch.bitwise_{op}(x, y)", lambda m, x, y: getattr(m, f"bitwise_{op}")(x, y)),
            (f"x.bitwise_{op}(y)", lambda m, x, y: getattr(x, f"bitwise_{op}")(y)),
        ])  # fmt: skip
        return ex(text, fn, x, y)

    return build


for _op, _sym in (("and", "&"), ("or", "|"), ("xor", "^")):
    prop(f"bitwise_{_op}", "elementwise", fd=False)(_bitwise(_op, _sym))


@prop("bitwise_not", "elementwise", fd=False)
@st.composite
def _bitwise_not(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("~x", lambda m, x: ~x),
        ("x.bitwise_not()", lambda m, x: x.bitwise_not()),
        ("torch.bitwise_not(x)", lambda m, x: m.bitwise_not(x)),
    ])  # fmt: skip
    shape = draw(shapes())
    if text != "~x" and draw(st.integers(0, 7)) == 7:  # a float: PyTorch's kernel refuses it
        return ex(text, fn, X(draw(values(shape)), grad=False))
    return ex(text, fn, _int_or_bool(draw, shape))


# --- broadcasting: binary and ternary ops -----------------------------------------------------
@dataclass(frozen=True)
class Bin:
    forms: tuple[tuple[str, Any], ...]  # (text, fn(m, x, y)); "{c}" marks a number operand
    dx: str = "real"
    dy: str = "real"
    kinks: str | None = None  # against PyTorch, half the time use this domain (ties)
    ints: bool = True  # integer and bool operands are accepted (PyTorch decides the dtype)
    inplace: str | None = None  # the in-place method, x.<inplace>(y)
    scalar: Callable[[Any, Any], Any] | None = None  # fn(x, c) with a Python number c
    grad: bool = True  # inputs require grad


BINARY: dict[str, Bin] = {
    "add": Bin(
        (
            ("x + y", lambda m, x, y: x + y),
            ("torch.add(x, y)", lambda m, x, y: m.add(x, y)),
            ("x.add(y, alpha=2)", lambda m, x, y: x.add(y, alpha=2)),
            ("torch.add(x, y, alpha=-0.5)", lambda m, x, y: m.add(x, y, alpha=-0.5)),
        ),
        inplace="add_",
        scalar=lambda x, c: x + c,
    ),
    "sub": Bin(
        (
            ("x - y", lambda m, x, y: x - y),
            ("torch.sub(x, y)", lambda m, x, y: m.sub(x, y)),
            ("x.sub(y, alpha=3)", lambda m, x, y: x.sub(y, alpha=3)),
        ),
        inplace="sub_",
        scalar=lambda x, c: x - c,
    ),
    "mul": Bin(
        (
            ("x * y", lambda m, x, y: x * y),
            ("torch.mul(x, y)", lambda m, x, y: m.mul(x, y)),
            ("x.mul(y)", lambda m, x, y: x.mul(y)),
        ),
        inplace="mul_",
        scalar=lambda x, c: c * x,
    ),
    "div": Bin(
        (
            ("x / y", lambda m, x, y: x / y),
            ("torch.div(x, y)", lambda m, x, y: m.div(x, y)),
            ("torch.true_divide(x, y)", lambda m, x, y: m.true_divide(x, y)),
        ),
        dy="nonzero",
        inplace="div_",
        scalar=lambda x, c: x / c,
    ),
    "pow_tensor": Bin(
        (
            ("x ** y", lambda m, x, y: x**y),
            ("torch.pow(x, y)", lambda m, x, y: m.pow(x, y)),
            ("x.pow(y)", lambda m, x, y: x.pow(y)),
        ),
        dx="pos",
        ints=False,
    ),
    "remainder": Bin(
        (
            ("x % y", lambda m, x, y: x % y),
            ("torch.remainder(x, y)", lambda m, x, y: m.remainder(x, y)),
        ),
        dy="nonzero",
    ),
    "fmod": Bin(
        (
            ("torch.fmod(x, y)", lambda m, x, y: m.fmod(x, y)),
            ("x.fmod(y)", lambda m, x, y: x.fmod(y)),
        ),
        dy="nonzero",
    ),
    "div_trunc": Bin(
        (
            ("x.div(y, rounding_mode='trunc')", lambda m, x, y: x.div(y, rounding_mode="trunc")),
            (
                "torch.div(x, y, rounding_mode='trunc')",
                lambda m, x, y: m.div(x, y, rounding_mode="trunc"),
            ),
        ),
        dy="nonzero",
        scalar=lambda x, c: x.div(c, rounding_mode="trunc"),
    ),
    "maximum": Bin(
        (
            ("torch.maximum(x, y)", lambda m, x, y: m.maximum(x, y)),
            ("x.max(y)", lambda m, x, y: x.max(y)),
            ("x.maximum(y)", lambda m, x, y: x.maximum(y)),
        ),
        kinks="ties",
    ),
    "minimum": Bin(
        (
            ("torch.minimum(x, y)", lambda m, x, y: m.minimum(x, y)),
            ("x.min(y)", lambda m, x, y: x.min(y)),
        ),
        kinks="ties",
    ),
    "floor_divide": Bin(
        (
            ("x // y", lambda m, x, y: x // y),
            ("torch.floor_divide(x, y)", lambda m, x, y: m.floor_divide(x, y)),
        ),
        dy="nonzero",
        grad=False,
    ),
}
for _op, _sym in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
    BINARY[_op] = Bin(
        ((f"x {_sym} y", lambda m, x, y, o=_op: getattr(x, f"__{o}__")(y)),
         (f"torch.{_op}(x, y)", lambda m, x, y, o=_op: getattr(m, o)(x, y)),
         (f"x.{_op}(y)", lambda m, x, y, o=_op: getattr(x, o)(y))),
        dx="ties", dy="ties", scalar=lambda x, c, o=_op: getattr(x, f"__{o}__")(c),
    )  # fmt: skip


def _operand(draw: Draw, shape: tuple[int, ...], dom: str, mixed: bool, ints: bool) -> Any:
    if mixed:
        kinds = ["same", "float32", "float64"] + (["int64", "int32", "bool"] if ints else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "bool":
            return B(draw(bools(shape)))
        if kind.startswith("int"):
            return I(draw(int_values(shape, dom if dom in ("real", "pos", "nonzero") else "real")),
                     kind)  # fmt: skip
        if kind != "same":
            return X(draw(values(shape, dom)), dtype=kind)
    return X(draw(values(shape, dom)))


def _binary(op: str) -> Builder:
    spec = BINARY[op]
    wrap = (lambda a: a) if spec.grad else (lambda a: K(a.value, a.dtype) if a.grad else a)

    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        mixed = not fd and draw(st.integers(0, 3)) == 0
        dx, dy = spec.dx, spec.dy
        if not fd and spec.kinks and draw(st.booleans()):
            dx = dy = spec.kinks
        form = draw(st.integers(0, 5))
        if form == 0 and spec.scalar is not None:  # a Python number operand
            c = draw(st.sampled_from([2, 0.5, -1.5, True] if spec.ints else [2, 0.5, -1.5]))
            x = wrap(_operand(draw, draw(shapes()), dx, mixed, spec.ints))
            return ex(f"{op}(x, {c!r}) with a Python number", lambda m, x: spec.scalar(x, c), x)
        if form == 1 and spec.inplace is not None:  # y broadcasts into x, x stays float
            sx = draw(shapes())
            sy = draw(broadcast_to(sx))
            x = X(draw(values(sx, dx)))
            y = wrap(_operand(draw, sy, dy, mixed, spec.ints))
            name = spec.inplace
            text, fn = f"(x * 1).{name}(y)", lambda m, x, y: getattr(x * 1, name)(y)
        else:
            sx, sy = draw(broadcast_shapes(2))
            x = wrap(_operand(draw, sx, dx, mixed, spec.ints))
            y = wrap(_operand(draw, sy, dy, mixed, spec.ints))
            text, fn = pick(draw, list(spec.forms))
        xv, yv = np.broadcast_arrays(x.value, y.value)
        if fd and op in ("maximum", "minimum"):
            assume(far(xv - yv, 0.0, 1e-2))
        if op in ("remainder", "fmod", "div_trunc") and fd:  # jumps where x / y is whole
            q = xv / yv
            assume(far(q - np.round(q), 0.0, 1e-3))
        return ex(text, fn, x, y)

    return build


for _op in BINARY:
    prop(
        _op, "broadcasting", fd=BINARY[_op].grad and _op not in ("eq", "ne", "lt", "le", "gt", "ge")
    )(_binary(_op))


@prop("where", "broadcasting")
@st.composite
def _where(draw: Draw, fd: bool) -> Ex:
    sc, sx, sy = draw(broadcast_shapes(3))
    c = B(draw(bools(sc)))
    mixed = not fd and draw(st.integers(0, 3)) == 0
    x = _operand(draw, sx, "real", mixed, True)
    if draw(st.integers(0, 4)) == 0:
        return ex("torch.where(x, y, 0.5)", lambda m, c, x: m.where(c, x, 0.5), c, x)
    y = _operand(draw, sy, "real", mixed, True)
    text, fn = pick(draw, [
        ("torch.where(x, y, z)", lambda m, c, x, y: m.where(c, x, y)),
        ("y.where(x, z)", lambda m, c, x, y: x.where(c, y)),
    ])  # fmt: skip
    return ex(text, fn, c, x, y)


@prop("masked_fill", "broadcasting")
@st.composite
def _masked_fill(draw: Draw, fd: bool) -> Ex:
    sx = draw(shapes())
    mask = B(draw(bools(draw(broadcast_to(sx)))))
    v = draw(st.sampled_from([0.0, -1.5, 2]))
    text, fn = pick(draw, [
        (f"x.masked_fill(y, {v})", lambda m, x, k: x.masked_fill(k, v)),
        (f"torch.masked_fill(x, y, {v})", lambda m, x, k: m.masked_fill(x, k, v)),
        (f"(x * 1).masked_fill_(y, {v})", lambda m, x, k: (x * 1).masked_fill_(k, v)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(sx))), mask)


@prop("copy", "broadcasting")
@st.composite
def _copy(draw: Draw, fd: bool) -> Ex:
    sx = draw(shapes())
    y = _operand(draw, draw(broadcast_to(sx)), "real", not fd and draw(st.booleans()), True)

    def setall(m: Any, x: Any, y: Any) -> Any:
        z = x * 1
        z[...] = y
        return z

    text, fn = pick(draw, [
        ("(x * 1).copy_(y)", lambda m, x, y: (x * 1).copy_(y)),
        ("z = x * 1; z[...] = y", setall),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(sx))), y)


@prop("fill", "broadcasting")
@st.composite
def _fill(draw: Draw, fd: bool) -> Ex:
    v = draw(st.sampled_from([2.5, -1, 0]))
    return ex(f"(x * 1).fill_({v})", lambda m, x: (x * 1).fill_(v), X(draw(values(draw(shapes())))))


@prop("zero", "broadcasting")
@st.composite
def _zero(draw: Draw, fd: bool) -> Ex:
    return ex("(x * 1).zero_()", lambda m, x: (x * 1).zero_(), X(draw(values(draw(shapes())))))


# --- reductions -----------------------------------------------------------------------------------
def _reduce_input(draw: Draw, fd: bool, dom: str = "real", kink: str | None = None,
                  ints: bool = False, **kw: Any) -> tuple[tuple[int, ...], Any]:  # fmt: skip
    shape = draw(shapes(**kw))
    if not fd and ints and draw(st.integers(0, 4)) == 0:
        kind = draw(st.sampled_from(["int64", "int32", "bool"]))
        if kind == "bool":
            return shape, B(draw(bools(shape)))
        return shape, I(draw(int_values(shape)), kind)
    if not fd and kink is not None and draw(st.booleans()):
        dom = kink
    return shape, X(draw(values(shape, dom)))


def _nonempty_dims(shape: tuple[int, ...], d: Any) -> bool:
    return all(shape[k] > 0 for k in dim_list(d, len(shape))) if shape else True


@prop("sum_all", "reduction")
@st.composite
def _sum_all(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("x.sum()", lambda m, x: x.sum()), ("torch.sum(x)", lambda m, x: m.sum(x)),
    ])  # fmt: skip
    return ex(text, fn, _reduce_input(draw, fd, ints=True)[1])


@prop("sum_dim", "reduction")
@st.composite
def _sum_dim(draw: Draw, fd: bool) -> Ex:
    shape, x = _reduce_input(draw, fd, ints=True)
    d, kd = draw(dims_of(len(shape))), draw(st.booleans())
    text, fn = pick(draw, [
        (f"x.sum({d}, keepdim={kd})", lambda m, x: x.sum(d, keepdim=kd)),
        (f"torch.sum(x, {d}, {kd})", lambda m, x: m.sum(x, d, kd)),
    ])  # fmt: skip
    return ex(text, fn, x)


@prop("mean_all", "reduction")
@st.composite
def _mean_all(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("x.mean()", lambda m, x: x.mean()), ("torch.mean(x)", lambda m, x: m.mean(x)),
    ])  # fmt: skip
    return ex(text, fn, _reduce_input(draw, fd)[1])


@prop("mean_dim", "reduction")
@st.composite
def _mean_dim(draw: Draw, fd: bool) -> Ex:
    shape, x = _reduce_input(draw, fd)
    d, kd = draw(dims_of(len(shape))), draw(st.booleans())
    text, fn = pick(draw, [
        (f"x.mean({d}, keepdim={kd})", lambda m, x: x.mean(d, keepdim=kd)),
        (f"torch.mean(x, {d}, {kd})", lambda m, x: m.mean(x, d, kd)),
    ])  # fmt: skip
    return ex(text, fn, x)


@prop("sum_to_size", "reduction")
@st.composite
def _sum_to_size(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    target = draw(broadcast_to(shape))
    fn = lambda m, x: x.sum_to_size(*target) if target else x.sum_to_size(())
    return ex(f"x.sum_to_size({target})", fn, X(draw(values(shape))))


@prop("prod_all", "reduction")
@st.composite
def _prod_all(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("x.prod()", lambda m, x: x.prod()), ("torch.prod(x)", lambda m, x: m.prod(x)),
    ])  # fmt: skip
    return ex(text, fn, _reduce_input(draw, fd, "nonzero", "ties", ints=True, max_elems=24)[1])


@prop("prod_dim", "reduction")
@st.composite
def _prod_dim(draw: Draw, fd: bool) -> Ex:
    shape, x = _reduce_input(draw, fd, "nonzero", "ties", ints=True)
    d, kd = draw(dims_of(len(shape), multi=False)), draw(st.booleans())
    return ex(f"x.prod({d}, keepdim={kd})", lambda m, x: x.prod(d, keepdim=kd), x)


def _extremum(name: str, all_: bool) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape, x = _reduce_input(draw, fd, "distinct", "ties", ints=True, empty=False)
        if all_:
            text, fn = pick(draw, [
                (f"x.{name}()", lambda m, x: getattr(x, name)()),
                (f"torch.{name}(x)", lambda m, x: getattr(m, name)(x)),
            ])  # fmt: skip
            return ex(text, fn, x)
        d, kd = draw(dims_of(len(shape), multi=False)), draw(st.booleans())
        text, fn = pick(draw, [
            (f"x.{name}({d}, keepdim={kd})", lambda m, x: getattr(x, name)(d, keepdim=kd)),
            (f"torch.{name}(x, {d}, {kd})", lambda m, x: getattr(m, name)(x, d, kd)),
        ])  # fmt: skip
        return ex(text, fn, x)

    return build


prop("max_all", "reduction")(_extremum("max", True))
prop("min_all", "reduction")(_extremum("min", True))
prop("max_dim", "reduction")(_extremum("max", False))
prop("min_dim", "reduction")(_extremum("min", False))


def _amax(name: str) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape, x = _reduce_input(draw, fd, "distinct", "ties", ints=True)
        kd = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            assume(0 not in shape)
            return ex(f"x.{name}()", lambda m, x: getattr(x, name)(), x)
        d = draw(dims_of(len(shape)))
        assume(_nonempty_dims(shape, d))
        text, fn = pick(draw, [
            (f"x.{name}({d}, keepdim={kd})", lambda m, x: getattr(x, name)(d, keepdim=kd)),
            (f"torch.{name}(x, {d}, {kd})", lambda m, x: getattr(m, name)(x, d, kd)),
        ])  # fmt: skip
        return ex(text, fn, x)

    return build


prop("amax", "reduction")(_amax("amax"))
prop("amin", "reduction")(_amax("amin"))


def _arg(name: str) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape, x = _reduce_input(draw, fd, "distinct", "ties", ints=True)
        if draw(st.integers(0, 2)) == 0:
            assume(0 not in shape)
            return ex(f"x.{name}()", lambda m, x: getattr(x, name)(), x)
        d, kd = draw(dims_of(len(shape), multi=False)), draw(st.booleans())
        assume(_nonempty_dims(shape, d))
        fn = lambda m, x: getattr(m, name)(x, d, keepdim=kd)
        return ex(f"torch.{name}(x, {d}, keepdim={kd})", fn, x)

    return build


prop("argmax", "reduction", fd=False)(_arg("argmax"))
prop("argmin", "reduction", fd=False)(_arg("argmin"))


def _logical(name: str) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape = draw(shapes())
        x = B(draw(bools(shape))) if draw(st.booleans()) else X(draw(values(shape, "ties")))
        if draw(st.booleans()):
            return ex(f"x.{name}()", lambda m, x: getattr(x, name)(), x)
        d, kd = draw(dims_of(len(shape), multi=False)), draw(st.booleans())
        return ex(f"x.{name}({d}, keepdim={kd})", lambda m, x: getattr(x, name)(d, keepdim=kd), x)

    return build


prop("all", "reduction", fd=False)(_logical("all"))
prop("any", "reduction", fd=False)(_logical("any"))


def _moment(name: str) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape, x = _reduce_input(draw, fd)
        d = draw(st.none() | dims_of(len(shape)))
        c, kd = draw(st.sampled_from([1, 0, 2])), draw(st.booleans())
        axes = None if d is None or not shape else tuple(dim_list(d, len(shape)))
        n = int(np.prod([shape[k] for k in axes] if axes is not None else shape))
        if fd:  # more elements than the correction, spread out (std has a kink at 0)
            assume(n > c and 0 not in shape)
            assume(bool(np.all(np.var(x.value, axis=axes) > 1e-2)))
        text, fn = pick(draw, [
            (f"x.{name}({d}, correction={c}, keepdim={kd})",
             lambda m, x: getattr(x, name)(d, correction=c, keepdim=kd)),
            (f"torch.{name}(x, {d}, correction={c}, keepdim={kd})",
             lambda m, x: getattr(m, name)(x, d, correction=c, keepdim=kd)),
        ])  # fmt: skip
        return ex(text, fn, x, tol=10)

    return build


prop("var", "reduction")(_moment("var"))
prop("std", "reduction")(_moment("std"))


@prop("logsumexp", "reduction")
@st.composite
def _logsumexp(draw: Draw, fd: bool) -> Ex:
    shape, x = _reduce_input(draw, fd)
    d, kd = draw(dims_of(len(shape))), draw(st.booleans())
    text, fn = pick(draw, [
        (f"x.logsumexp({d}, keepdim={kd})", lambda m, x: x.logsumexp(d, keepdim=kd)),
        (f"torch.logsumexp(x, {d}, {kd})", lambda m, x: m.logsumexp(x, d, kd)),
    ])  # fmt: skip
    return ex(text, fn, x)


@prop("norm", "reduction")
@st.composite
def _norm(draw: Draw, fd: bool) -> Ex:
    p = draw(st.sampled_from([2, "fro", 1, 3, float("inf"), float("-inf"), 0, 1.5]))
    dom = {1: "nonzero", 3: "nonzero", 1.5: "nonzero", 0: "real"}.get(p, "distinct")
    if p in (2, "fro"):
        dom = "nonzero"
    shape = draw(shapes())
    x = X(draw(values(shape, dom if fd or draw(st.booleans()) else "ties")))
    d = draw(st.none() | dims_of(len(shape)))
    if p in (float("inf"), float("-inf")):
        assume(0 not in shape if d is None else _nonempty_dims(shape, d))
    kd = draw(st.booleans())
    text, fn = pick(draw, [
        (f"x.norm({p!r}, {d}, {kd})", lambda m, x: x.norm(p, d, kd)),
        (f"torch.norm(x, {p!r}, {d}, {kd})", lambda m, x: m.norm(x, p, d, kd)),
    ])  # fmt: skip
    return ex(text, fn, x, tol=10)


# --- shape ops ------------------------------------------------------------------------------------
@st.composite
def _factor(draw: Draw, n: int, max_rank: int = 5) -> tuple[int, ...]:
    """A random shape with n elements (rank up to max_rank; n == 0 puts a 0 somewhere)."""
    if n == 0:
        s = list(draw(shapes(max_rank=max_rank - 1, empty=False)))
        s.insert(draw(st.integers(0, len(s))), 0)
        return tuple(s)
    primes, k = [], n
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59):
        while k % p == 0:
            primes.append(p)
            k //= p
    if k > 1:
        primes.append(k)
    rank = draw(st.integers(1 if primes else 0, max_rank))
    if rank == 0:
        return ()
    dims = [1] * rank
    for p in primes:
        dims[draw(st.integers(0, rank - 1))] *= p
    return tuple(dims)


def _infer(draw: Draw, s: tuple[int, ...]) -> tuple[int, ...]:
    # Replace one dim by -1 sometimes (not when the others multiply to 0: ambiguous).
    if s and draw(st.integers(0, 2)) == 0:
        k = draw(st.integers(0, len(s) - 1))
        if int(np.prod(s[:k] + s[k + 1 :])) != 0:
            return s[:k] + (-1,) + s[k + 1 :]
    return s


@prop("reshape", "shape")
@st.composite
def _reshape(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    new = _infer(draw, draw(_factor(int(np.prod(shape)))))
    a = draw(st.integers(-len(shape), max(len(shape) - 1, 0)))
    text, fn = pick(draw, [
        (f"x.reshape({new})", lambda m, x: x.reshape(new)),
        (f"torch.reshape(x, {new})", lambda m, x: m.reshape(x, new)),
        (f"x.flatten({a})", lambda m, x: x.flatten(a)),
    ] + ([(f"x.reshape(*{new})", lambda m, x: x.reshape(*new))] if new else []))  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("reshape_alias", "shape")
@st.composite
def _reshape_alias(draw: Draw, fd: bool) -> Ex:
    # A strided input (every other row) reshaped within its contiguous trailing block: a view.
    shape = draw(shapes(min_rank=1, max_elems=30))
    inner = draw(_factor(int(np.prod(shape[1:])), max_rank=3))
    new = (-(-shape[0] // 2),) + inner
    fn = lambda m, x: x[::2].reshape(new)
    return ex(f"x[::2].reshape({new})", fn, X(draw(values(shape))))


@prop("unsafe_view", "shape")
@st.composite
def _unsafe_view(draw: Draw, fd: bool) -> Ex:
    # A transposed input reshaped: no view can have the new shape, so clone then reshape.
    shape = draw(shapes(min_rank=2))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    new = _infer(draw, draw(_factor(int(np.prod(shape)))))
    text, fn = pick(draw, [
        (f"x.permute({perm}).reshape({new})", lambda m, x: x.permute(perm).reshape(new)),
        (f"x.permute({perm}).flatten()", lambda m, x: x.permute(perm).flatten()),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("view", "shape")
@st.composite
def _view(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    new = _infer(draw, draw(_factor(int(np.prod(shape)))))
    forms = [(f"x.view({new})", lambda m, x: x.view(new)),
             (f"x.view(*{new})", lambda m, x: x.view(*new) if new else x.view(()))]  # fmt: skip
    if shape and shape[-1] > 0:
        parts = draw(_factor(shape[-1], max_rank=2))
        assume(parts or not fd)  # unflatten(-1, ()) is refused, by PyTorch as by dygrad
        forms.append((f"x.unflatten(-1, {parts})", lambda m, x: x.unflatten(-1, parts)))
    text, fn = pick(draw, forms)
    return ex(text, fn, X(draw(values(shape))))


@prop("expand", "shape")
@st.composite
def _expand(draw: Draw, fd: bool) -> Ex:
    target = draw(shapes())
    src = draw(broadcast_to(target))
    lead = len(target) - len(src)
    spec = tuple(-1 if i >= lead and draw(st.booleans()) else n for i, n in enumerate(target))
    text, fn = pick(draw, [
        (f"x.expand({spec})", lambda m, x: x.expand(spec)),
        (f"x.expand_as(torch.empty({target}))", lambda m, x: x.expand_as(m.zeros(target))),
        (f"torch.broadcast_tensors(x, torch.empty({target}))[0]",
         lambda m, x: m.broadcast_tensors(x, m.zeros(target))[0]),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(src))))


@st.composite
def _with_ones(draw: Draw, **kw: Any) -> tuple[int, ...]:
    # A shape with some size-1 dims to squeeze.
    s = list(draw(shapes(**kw)))
    for i in range(len(s)):
        if draw(st.booleans()):
            s[i] = 1
    return tuple(s)


@prop("squeeze", "shape")
@st.composite
def _squeeze(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("x.squeeze()", lambda m, x: x.squeeze()), ("torch.squeeze(x)", lambda m, x: m.squeeze(x)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(draw(_with_ones())))))


@prop("squeeze_dim", "shape")
@st.composite
def _squeeze_dim(draw: Draw, fd: bool) -> Ex:
    shape = draw(_with_ones())
    d = draw(dims_of(len(shape), multi=False))
    d = d[0] if isinstance(d, tuple) else d
    text, fn = pick(draw, [
        (f"x.squeeze({d})", lambda m, x: x.squeeze(d)),
        (f"torch.squeeze(x, {d})", lambda m, x: m.squeeze(x, d)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("squeeze_dims", "shape")
@st.composite
def _squeeze_dims(draw: Draw, fd: bool) -> Ex:
    shape = draw(_with_ones())
    d = draw(dims_of(len(shape)))
    d = d if isinstance(d, tuple) else (d,)
    return ex(f"x.squeeze({d})", lambda m, x: x.squeeze(d), X(draw(values(shape))))


@prop("unsqueeze", "shape")
@st.composite
def _unsqueeze(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(max_rank=4))
    d = draw(st.integers(-len(shape) - 1, len(shape)))
    text, fn = pick(draw, [
        (f"x.unsqueeze({d})", lambda m, x: x.unsqueeze(d)),
        (f"torch.unsqueeze(x, {d})", lambda m, x: m.unsqueeze(x, d)),
        ("x[None]", lambda m, x: x[None]),
        ("x[..., None]", lambda m, x: x[..., None]),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("transpose", "shape")
@st.composite
def _transpose(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    n = max(len(shape), 1)
    a, b = draw(st.integers(-n, n - 1)), draw(st.integers(-n, n - 1))
    forms = [(f"x.transpose({a}, {b})", lambda m, x: x.transpose(a, b)),
             (f"torch.transpose(x, {a}, {b})", lambda m, x: m.transpose(x, a, b)),
             (f"x.swapaxes({a}, {b})", lambda m, x: x.swapaxes(a, b))]  # fmt: skip
    if len(shape) >= 2:
        forms.append(("x.mT", lambda m, x: x.mT))
    text, fn = pick(draw, forms)
    return ex(text, fn, X(draw(values(shape))))


@prop("t", "shape")
@st.composite
def _t(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [("x.t()", lambda m, x: x.t()), ("torch.t(x)", lambda m, x: m.t(x))])
    return ex(text, fn, X(draw(values(draw(shapes(max_rank=2))))))


@prop("permute", "shape")
@st.composite
def _permute(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    perm = tuple(draw(st.permutations(range(len(shape)))))
    perm = tuple(p - len(shape) if draw(st.booleans()) else p for p in perm)
    forms = [(f"x.permute({perm})", lambda m, x: x.permute(perm)),
             (f"torch.permute(x, {perm})", lambda m, x: m.permute(x, perm))]  # fmt: skip
    if len(shape) == 2:
        forms.append(("x.T", lambda m, x: x.T))
    text, fn = pick(draw, forms)
    return ex(text, fn, X(draw(values(shape))))


@prop("repeat", "shape")
@st.composite
def _repeat(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(max_rank=4, max_elems=12))
    reps = tuple(draw(st.integers(0, 3)) for _ in range(len(shape) + draw(st.integers(0, 1))))
    assume(int(np.prod(reps)) * int(np.prod(shape)) <= 60)
    return ex(f"x.repeat({reps})", lambda m, x: x.repeat(*reps) if reps else x.repeat(()),
              X(draw(values(shape))))  # fmt: skip


@prop("cat", "shape")
@st.composite
def _cat(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1, max_elems=20))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    k = draw(st.integers(1, 3))
    parts = []
    for _ in range(k):
        s = list(shape)
        s[d] = draw(st.integers(0, 3))
        parts.append(X(draw(values(tuple(s)))))
    if draw(st.integers(0, 5)) == 0:  # a legacy 1-d empty tensor, skipped by cat
        parts.insert(draw(st.integers(0, k)), X(np.zeros((0,))))
    if not fd and draw(st.integers(0, 3)) == 0:  # one input without grad
        j = draw(st.integers(0, len(parts) - 1))
        parts[j] = K(parts[j].value)
    names = ", ".join("xyzuvw"[: len(parts)])
    text, fn = pick(draw, [
        (f"torch.cat([{names}], {d})", lambda m, *xs: m.cat(list(xs), d)),
        (f"torch.concat([{names}], dim={d})", lambda m, *xs: m.cat(xs, dim=d)),
    ])  # fmt: skip
    return ex(text, fn, *parts)


@prop("stack", "shape")
@st.composite
def _stack(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(max_rank=4, max_elems=20))
    d = draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [X(draw(values(shape))) for _ in range(draw(st.integers(1, 3)))]
    names = ", ".join("xyzuvw"[: len(parts)])
    return ex(f"torch.stack([{names}], {d})", lambda m, *xs: m.stack(list(xs), d), *parts)


@prop("split", "shape")
@st.composite
def _split(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    size = draw(st.integers(1, 4))
    text, fn = pick(draw, [
        (f"x.split({size}, {d})", lambda m, x: x.split(size, d)),
        (f"torch.split(x, {size}, {d})", lambda m, x: m.split(x, size, d)),
        (f"x.chunk({size}, {d})", lambda m, x: x.chunk(size, d)),
        (f"torch.chunk(x, {size}, {d})", lambda m, x: m.chunk(x, size, d)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("split_with_sizes", "shape")
@st.composite
def _split_sizes(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    n, sizes = shape[d], []
    while n > 0 or not sizes:
        k = draw(st.integers(0, n))
        sizes.append(k)
        n -= k
        if len(sizes) > 4:
            sizes.append(n)
            break
    return ex(f"x.split({sizes}, {d})", lambda m, x: x.split(sizes, d), X(draw(values(shape))))


@prop("unbind", "shape")
@st.composite
def _unbind(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    text, fn = pick(draw, [
        (f"x.unbind({d})", lambda m, x: x.unbind(d)),
        (f"torch.unbind(x, {d})", lambda m, x: m.unbind(x, d)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("flip", "shape")
@st.composite
def _flip(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    d = draw(dims_of(len(shape)))
    d = d if isinstance(d, tuple) else (d,)
    text, fn = pick(draw, [
        (f"x.flip({d})", lambda m, x: x.flip(d)),
        (f"torch.flip(x, {d})", lambda m, x: m.flip(x, d)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


@prop("roll", "shape")
@st.composite
def _roll(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    x = X(draw(values(shape)))
    if not shape or draw(st.integers(0, 3)) == 0:
        s = draw(st.integers(-7, 7))
        return ex(f"x.roll({s})", lambda m, x: x.roll(s), x)
    d = draw(dims_of(len(shape)))
    ds = d if isinstance(d, tuple) else (d,)
    shifts = tuple(draw(st.integers(-7, 7)) for _ in ds)
    sh = shifts if isinstance(d, tuple) else shifts[0]
    text, fn = pick(draw, [
        (f"x.roll({sh}, {d})", lambda m, x: x.roll(sh, d)),
        (f"torch.roll(x, {sh}, {d})", lambda m, x: m.roll(x, sh, d)),
    ])  # fmt: skip
    return ex(text, fn, x)


@prop("clone", "shape")
@st.composite
def _clone(draw: Draw, fd: bool) -> Ex:
    text, fn = pick(draw, [
        ("x.clone()", lambda m, x: x.clone()), ("torch.clone(x)", lambda m, x: m.clone(x)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(draw(shapes())))))


@prop("contiguous", "shape")
@st.composite
def _contiguous(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=2))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    fn = lambda m, x: x.permute(perm).contiguous()
    return ex(f"x.permute({perm}).contiguous()", fn, X(draw(values(shape))))


@prop("alias", "shape")
@st.composite
def _alias(draw: Draw, fd: bool) -> Ex:
    return ex("x[...]", lambda m, x: x[...], X(draw(values(draw(shapes())))))


# --- indexing -------------------------------------------------------------------------------------
# A key is a tuple of parts: int, slice, None, Ellipsis, or ("list", [...]) / ("long", array) /
# ("mask", array): index lists, int64 tensors and boolean tensors built with the module at hand.
def build_key(m: Any, parts: tuple[Any, ...]) -> tuple[Any, ...]:
    out = []
    for p in parts:
        if isinstance(p, tuple) and p and p[0] in ("list", "long", "mask"):
            out.append(list(p[1]) if p[0] == "list" else m.tensor(np.asarray(p[1])))
        else:
            out.append(p)
    return tuple(out)


def numpy_key(parts: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(np.asarray(p[1]) if isinstance(p, tuple) and p and p[0] in ("list", "long",
                 "mask") else p for p in parts)  # fmt: skip


def key_text(parts: tuple[Any, ...]) -> str:
    def one(p: Any) -> str:
        if p is Ellipsis:
            return "..."
        if isinstance(p, slice):
            return ":".join("" if v is None else str(v) for v in (p.start, p.stop, p.step))
        if isinstance(p, tuple) and p and p[0] in ("list", "long", "mask"):
            v = np.asarray(p[1]).tolist()
            return str(v) if p[0] == "list" else f"tensor({v})"
        return repr(p)

    return ", ".join(one(p) for p in parts)


def key_shape(shape: tuple[int, ...], parts: tuple[Any, ...]) -> tuple[int, ...]:
    return np.empty(shape)[numpy_key(parts)].shape


@st.composite
def basic_key(draw: Draw, shape: tuple[int, ...], ints: bool = True) -> tuple[Any, ...]:
    """ints, slices (any start, stop, step > 0), None and Ellipsis: parts for the leading dims,
    or for the trailing dims after an Ellipsis."""
    k = draw(st.integers(0, len(shape)))
    trailing = k < len(shape) and draw(st.integers(0, 3)) == 0
    parts: list[Any] = []
    for n in shape[len(shape) - k :] if trailing else shape[:k]:
        kind = draw(st.sampled_from(["int", "slice", "slice"] if ints and n else ["slice"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            b = st.none() | st.integers(-n - 2, n + 2)
            parts.append(slice(draw(b), draw(b), draw(st.none() | st.integers(1, 3))))
    if draw(st.integers(0, 3)) == 0:
        parts.insert(draw(st.integers(0, len(parts))), None)
    return (Ellipsis, *parts) if trailing else tuple(parts)


@st.composite
def advanced_key(draw: Draw, shape: tuple[int, ...], unique: bool = False) -> tuple[Any, ...]:
    """Index lists/tensors on one or two dims (with slices around them) or a boolean mask over
    the leading dims; `unique`: no element is selected twice (for assignment)."""
    kind = draw(st.sampled_from(["one", "one", "two", "mask"]))
    if kind == "mask" or not shape:
        k = draw(st.integers(0, len(shape)))
        mask = draw(bools(shape[:k]))
        lead: list[Any] = [slice(None)] * 0
        return (*lead, ("mask", mask))
    nd = len(shape)
    dims = sorted(draw(st.permutations(range(nd)))[: 1 if kind == "one" or nd < 2 else 2])
    length = draw(st.integers(0, 4)) if all(shape[d] for d in dims) else 0
    parts: list[Any] = [slice(None)] * (dims[-1] + 1)
    for d in dims:
        n = shape[d]
        if unique:
            length = min(length, n) if len(dims) == 1 else min(length, min(shape[e] for e in dims))
            idx = np.asarray(draw(st.permutations(range(n)))[:length], dtype=np.int64)
        else:
            idx = draw(index_values((length,), n))
        if n and draw(st.booleans()):
            idx = idx - n  # negative indices
        parts[d] = ("list" if draw(st.booleans()) else "long", idx)
    return tuple(parts)


@prop("select", "indexing")
@st.composite
def _select(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1))
    assume(any(shape))
    key = draw(basic_key(shape))
    assume(any(isinstance(p, int) for p in key))
    return ex(f"x[{key_text(key)}]", lambda m, x: x[build_key(m, key)], X(draw(values(shape))))


@prop("slice", "indexing")
@st.composite
def _slice(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1))
    key = draw(basic_key(shape, ints=False))
    assume(any(isinstance(p, slice) for p in key))
    return ex(f"x[{key_text(key)}]", lambda m, x: x[build_key(m, key)], X(draw(values(shape))))


@prop("index", "indexing")
@st.composite
def _index(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    key = draw(advanced_key(shape))
    return ex(f"x[{key_text(key)}]", lambda m, x: x[build_key(m, key)], X(draw(values(shape))))


def _setter(key: tuple[Any, ...], scalar: float | None) -> Callable[..., Any]:
    def fn(m: Any, x: Any, *v: Any) -> Any:
        z = x * 1
        z[build_key(m, key)] = v[0] if v else scalar
        return z

    return fn


@st.composite
def _setitem(draw: Draw, fd: bool, advanced: bool) -> Ex:
    shape = draw(shapes())
    key = draw(advanced_key(shape, unique=True) if advanced else basic_key(shape))
    x = X(draw(values(shape)))
    if draw(st.integers(0, 4)) == 0:
        c = draw(st.sampled_from([2.5, 0, -1]))
        return ex(f"z = x * 1; z[{key_text(key)}] = {c}", _setter(key, c), x)
    target = key_shape(shape, key)
    v = draw(broadcast_to(target))
    # Another dtype for the value (not for an advanced key: PyTorch's index_put requires the
    # same dtype, where dygrad casts).
    mixed = not fd and not advanced and draw(st.integers(0, 4)) == 0
    y = _operand(draw, v, "real", mixed, True) if mixed else X(draw(values(v)))
    return ex(f"z = x * 1; z[{key_text(key)}] = y", _setter(key, None), x, y)


prop("index_put", "indexing")(lambda fd: _setitem(fd, True))
prop("copy_slices", "indexing")(lambda fd: _setitem(fd, False))


@prop("index_select", "indexing")
@st.composite
def _index_select(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes())
    d = draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    n = shape[d] if shape else 1
    idx = draw(index_values((draw(st.integers(0, 4)) if n else 0,), n))
    if not shape:  # a 0-d input takes exactly one index
        idx = np.zeros(1, np.int64)
    text, fn = pick(draw, [
        (f"x.index_select({d}, y)", lambda m, x, i: x.index_select(d, i)),
        (f"torch.index_select(x, {d}, y)", lambda m, x, i: m.index_select(x, d, i)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))), I(idx))


@st.composite
def _dim_index(draw: Draw, unique: bool) -> tuple[tuple[int, ...], int, np.ndarray]:
    # (input shape, dim, index) for gather/scatter: index no larger than the input off `dim`;
    # `unique`: no two index entries of one line along dim point at the same element.
    shape = draw(shapes(max_rank=4))
    nd = len(shape)
    if nd == 0:
        return shape, draw(st.sampled_from([0, -1])), np.zeros((), np.int64)
    d = draw(st.integers(-nd, nd - 1))
    ishape = [draw(st.integers(0, n)) for n in shape]
    n = shape[d]
    ishape[d] = draw(st.integers(0, n if unique else 4)) if n else 0
    ishape_t = tuple(ishape)
    if unique:
        lines = int(np.prod(ishape_t)) // max(ishape[d], 1)
        rows = [draw(st.permutations(range(n)))[: ishape[d]] for _ in range(lines)]
        idx = np.moveaxis(np.asarray(rows, np.int64).reshape(
            tuple(np.delete(ishape_t, d % nd)) + (ishape[d],)), -1, d % nd)  # fmt: skip
    else:
        idx = draw(index_values(ishape_t, n))
    return shape, d, idx


@prop("gather", "indexing")
@st.composite
def _gather(draw: Draw, fd: bool) -> Ex:
    shape, d, idx = draw(_dim_index(False))
    text, fn = pick(draw, [
        (f"x.gather({d}, y)", lambda m, x, i: x.gather(d, i)),
        (f"torch.gather(x, {d}, y)", lambda m, x, i: m.gather(x, d, i)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))), I(idx))


def _scatter_src(draw: Draw, fd: bool, src: tuple[int, ...], index: tuple[int, ...]) -> In:
    # The src gradient is g gathered at the index, summed to src's shape when src broadcasts to
    # the index's (an empty index: zeros). A larger src fails in backward, in PyTorch as in
    # dygrad: only now and then against PyTorch, never for finite differences.
    z = draw(values(src))
    fits = all(a in (b, 1) for a, b in zip(src, index))
    return X(z) if fits or (not fd and draw(st.integers(0, 5)) == 0) else K(z)


@prop("scatter", "indexing")
@st.composite
def _scatter(draw: Draw, fd: bool) -> Ex:
    shape, d, idx = draw(_dim_index(True))
    src = tuple(k + draw(st.integers(0, 1)) for k in idx.shape)
    assume(int(np.prod(src)) <= 60)
    fn = lambda m, x, i, s: x.scatter(d, i, s)
    z = _scatter_src(draw, fd, src, idx.shape)
    return ex(f"x.scatter({d}, y, z)", fn, X(draw(values(shape))), I(idx), z)


@prop("scatter_value", "indexing")
@st.composite
def _scatter_value(draw: Draw, fd: bool) -> Ex:
    shape, d, idx = draw(_dim_index(True))
    v = draw(st.sampled_from([2.5, 0.0, -1]))
    text, fn = pick(draw, [
        (f"x.scatter({d}, y, {v})", lambda m, x, i: x.scatter(d, i, v)),
        (f"x.scatter({d}, y, value={v})", lambda m, x, i: x.scatter(d, i, value=v)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))), I(idx))


@prop("scatter_add", "indexing")
@st.composite
def _scatter_add(draw: Draw, fd: bool) -> Ex:
    shape, d, idx = draw(_dim_index(False))
    src = tuple(k + draw(st.integers(0, 1)) for k in idx.shape)
    assume(int(np.prod(src)) <= 60)
    text, fn = pick(draw, [
        (f"x.scatter_add({d}, y, z)", lambda m, x, i, s: x.scatter_add(d, i, s)),
        (f"torch.scatter_add(x, {d}, y, z)", lambda m, x, i, s: m.scatter_add(x, d, i, s)),
    ])  # fmt: skip
    z = _scatter_src(draw, fd, src, idx.shape)
    return ex(text, fn, X(draw(values(shape))), I(idx), z)


# --- matrix products ------------------------------------------------------------------------------
def _mat_dims(draw: Draw, k: int) -> list[int]:
    return [draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 1, 4)) for _ in range(k)]


@prop("mm", "linalg")
@st.composite
def _mm(draw: Draw, fd: bool) -> Ex:
    n, k, p = _mat_dims(draw, 3)
    text, fn = pick(draw, [
        ("x.mm(y)", lambda m, x, y: x.mm(y)), ("torch.mm(x, y)", lambda m, x, y: m.mm(x, y)),
        ("x @ y", lambda m, x, y: x @ y), ("torch.matmul(x, y)", lambda m, x, y: m.matmul(x, y)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values((n, k)))), X(draw(values((k, p)))), tol=10)


@prop("bmm", "linalg")
@st.composite
def _bmm(draw: Draw, fd: bool) -> Ex:
    b, n, k, p = _mat_dims(draw, 4)
    text, fn = pick(draw, [
        ("x.bmm(y)", lambda m, x, y: x.bmm(y)), ("torch.bmm(x, y)", lambda m, x, y: m.bmm(x, y)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values((b, n, k)))), X(draw(values((b, k, p)))), tol=10)


@prop("mv", "linalg")
@st.composite
def _mv(draw: Draw, fd: bool) -> Ex:
    n, k = _mat_dims(draw, 2)
    text, fn = pick(draw, [
        ("x.mv(y)", lambda m, x, y: x.mv(y)), ("torch.mv(x, y)", lambda m, x, y: m.mv(x, y)),
        ("x @ y", lambda m, x, y: x @ y),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values((n, k)))), X(draw(values((k,)))), tol=10)


@prop("dot", "linalg")
@st.composite
def _dot(draw: Draw, fd: bool) -> Ex:
    (k,) = _mat_dims(draw, 1)
    text, fn = pick(draw, [
        ("x.dot(y)", lambda m, x, y: x.dot(y)), ("torch.dot(x, y)", lambda m, x, y: m.dot(x, y)),
        ("x @ y", lambda m, x, y: x @ y),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values((k,)))), X(draw(values((k,)))), tol=10)


@prop("outer", "linalg")
@st.composite
def _outer(draw: Draw, fd: bool) -> Ex:
    n, p = _mat_dims(draw, 2)
    text, fn = pick(draw, [
        ("x.outer(y)", lambda m, x, y: x.outer(y)),
        ("torch.outer(x, y)", lambda m, x, y: m.outer(x, y)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values((n,)))), X(draw(values((p,)))))


@prop("matmul", "linalg")
@st.composite
def _matmul(draw: Draw, fd: bool) -> Ex:
    # Any ranks 1..4 with broadcast batch dims: matmul picks dot, mv, mm, bmm or its own node.
    n, k, p = _mat_dims(draw, 3)
    batch = draw(shapes(max_rank=2, max_side=3, max_elems=6))
    bx, by = draw(broadcast_to(batch)), draw(broadcast_to(batch))
    rx, ry = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sx = (k,) if rx == 1 else (*bx, n, k)
    sy = (k,) if ry == 1 else (*by, k, p)
    assume(int(np.prod(sx)) <= 60 and int(np.prod(sy)) <= 60)
    text, fn = pick(draw, [
        ("x @ y", lambda m, x, y: x @ y), ("torch.matmul(x, y)", lambda m, x, y: m.matmul(x, y)),
        ("x.matmul(y)", lambda m, x, y: x.matmul(y)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(sx))), X(draw(values(sy))), tol=10)


@prop("addmm", "linalg")
@st.composite
def _addmm(draw: Draw, fd: bool) -> Ex:
    n, k, p = _mat_dims(draw, 3)
    sb = draw(broadcast_to((n, p)))
    beta, alpha = draw(st.sampled_from([1, 0.5, 0])), draw(st.sampled_from([1, -2.0]))
    fn = lambda m, b, x, y: m.addmm(b, x, y, beta=beta, alpha=alpha)
    return ex(f"torch.addmm(x, y, z, beta={beta}, alpha={alpha})", fn, X(draw(values(sb))),
              X(draw(values((n, k)))), X(draw(values((k, p)))), tol=10)  # fmt: skip


# --- convolution, pooling, padding ----------------------------------------------------------------
@prop("convolution", "conv", n=15)
@st.composite
def _conv(draw: Draw, fd: bool) -> Ex:
    nd = draw(st.sampled_from([1, 2, 2, 3]))
    tr = draw(st.booleans())
    g = draw(st.sampled_from([1, 1, 2]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3 if nd < 3 else 2)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    pad: Any = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    if not tr and draw(st.integers(0, 3)) == 0:
        pad = draw(st.sampled_from(["same", "valid"]))
        if pad == "same":
            s = (1,) * nd
    batch = draw(st.sampled_from([None, 0, 1, 2]))
    reach = tuple(d * (kk - 1) + 1 for d, kk in zip(dil, k))
    if tr:
        opad = tuple(draw(st.integers(0, max(a, b) - 1)) for a, b in zip(s, dil))
        pad = tuple(min(p, 1) for p in pad)
        size = tuple(draw(st.integers(1, 3)) for _ in range(nd))
        outs = [(n - 1) * a - 2 * p + r + o for n, a, p, r, o in zip(size, s, pad, reach, opad)]
        assume(min(outs) >= 1)
    else:
        opad = (0,) * nd
        lo = [
            max(1, r - 2 * (p if isinstance(p, int) else 0))
            for r, p in zip(reach, pad if isinstance(pad, tuple) else (0,) * nd)
        ]
        size = tuple(draw(st.integers(a, a + 3 - nd // 2)) for a in lo)
    xs = ((batch,) if batch is not None else ()) + (cin,) + size
    ws = (cin, cout // g) + k if tr else (cout, cin // g) + k
    assume(int(np.prod(xs)) <= 72 and int(np.prod(ws)) <= 48)
    bias = draw(st.booleans())
    args = [X(draw(values(xs))), X(draw(values(ws)))] + ([X(draw(values((cout,))))] if bias else [])
    kw = dict(stride=s, padding=pad, dilation=dil, groups=g)
    if tr:
        kw["output_padding"] = opad
    name = f"conv_transpose{nd}d" if tr else f"conv{nd}d"
    via_torch = draw(st.booleans()) and name != "conv_transpose3d"

    def fn(m: Any, x: Any, w: Any, b: Any = None) -> Any:
        f = getattr(m if via_torch else F(m), name)
        if tr:  # torch.conv_transpose*d takes these positionally
            return f(x, w, b, kw["stride"], kw["padding"], kw["output_padding"], g, dil)
        return f(x, w, b, s, pad, dil, g)

    prefix = "torch" if via_torch else "F"
    return ex(f"{prefix}.{name}(x, w, {'b' if bias else None}, **{kw})", fn, *args, tol=20)


def _windows_reach_input(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> bool:
    # Every pooling window holds at least one element of the input (not only padding).
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return all(any(0 <= o * s - p + j * d < size for j in range(k)) for o in range(out))


def _pool_input(draw: Draw, fd: bool, nd: int, reach: tuple[int, ...], pad: tuple[int, ...],
                dom: str = "real", lone: bool = False) -> Any:  # fmt: skip
    # lone: a single plane, (1, *size)
    batch = None if lone else draw(st.sampled_from([None, 0, 1, 2]))
    lo = [max(1, r - 2 * p) for r, p in zip(reach, pad)]
    size = tuple(draw(st.integers(a, a + 4)) for a in lo)
    channels = draw(st.integers(1, 1 if lone else 3))
    shape = ((batch,) if batch is not None else ()) + (channels,) + size
    assume(int(np.prod(shape)) <= 60)
    if not fd and dom == "distinct" and draw(st.integers(0, 3)) == 0:
        dom = "ties"
    return X(draw(values(shape, dom)))


@prop("max_pool2d", "conv", n=15)
@st.composite
def _max_pool(draw: Draw, fd: bool) -> Ex:
    nd = draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    ceil, ind = draw(st.booleans()), draw(st.booleans())
    reach = tuple(d * (kk - 1) + 1 for d, kk in zip(dil, k))
    lone = not fd and nd == 1 and draw(st.integers(0, 2)) == 0
    x = _pool_input(draw, fd, nd, reach, p, "distinct", lone)
    sizes = x.value.shape[-nd:]
    args = zip(sizes, k, s, p, dil)
    # A window of padding only (possible with dilation) outputs -inf and takes no gradient. Not
    # for finite differences (-inf), and against PyTorch only on a single 1-d plane: there its
    # index points past the input, elsewhere into the next row or plane, which its backward
    # then wrongly credits.
    if fd or nd == 2 or int(np.prod(x.value.shape[:-1])) > 1:
        assume(all(_windows_reach_input(*a, ceil) for a in args))
    kw = dict(kernel_size=k, stride=s, padding=p, dilation=dil, ceil_mode=ceil,
              return_indices=ind)  # fmt: skip
    fn = lambda m, x: getattr(F(m), f"max_pool{nd}d")(x, **kw)
    return ex(f"F.max_pool{nd}d(x, **{kw})", fn, x)


@prop("avg_pool2d", "conv", n=15)
@st.composite
def _avg_pool(draw: Draw, fd: bool) -> Ex:
    nd = draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    kw: dict[str, Any] = dict(kernel_size=k, stride=s, padding=p, ceil_mode=draw(st.booleans()),
                              count_include_pad=draw(st.booleans()))  # fmt: skip
    if nd == 2 and draw(st.integers(0, 3)) == 0:
        kw["divisor_override"] = draw(st.integers(1, 4))
    x = _pool_input(draw, fd, nd, k, p)
    fn = lambda m, x: getattr(F(m), f"avg_pool{nd}d")(x, **kw)
    return ex(f"F.avg_pool{nd}d(x, **{kw})", fn, x)


@prop("adaptive_avg_pool2d", "conv")
@st.composite
def _adaptive(draw: Draw, fd: bool) -> Ex:
    nd = draw(st.integers(1, 2))
    x = _pool_input(draw, fd, nd, (1,) * nd, (0,) * nd)
    if nd == 1:
        o: Any = draw(st.integers(1, 5))
    else:
        o = tuple(draw(st.none() | st.integers(1, 5)) for _ in range(2))
    fn = lambda m, x: getattr(F(m), f"adaptive_avg_pool{nd}d")(x, o)
    return ex(f"F.adaptive_avg_pool{nd}d(x, {o})", fn, x)


@st.composite
def _pads(draw: Draw, mode: str, k: int | None = None,
          crop_past: bool = False) -> tuple[tuple[int, ...], tuple[int, ...]]:  # fmt: skip
    """(input shape, pad) for F.pad in `mode`, padding the last k dims; `crop_past`: constant
    pads may crop more than a dim holds (refused, by PyTorch as by dygrad)."""
    if k is None:
        k = draw(st.integers(1, 3))
    lead = draw(st.integers(0 if mode == "constant" else 1, 2))
    shape = draw(shapes(min_rank=k + lead, max_rank=k + lead, max_elems=30,
                        empty=mode == "constant"))  # fmt: skip
    pads: list[int] = []
    for n in reversed(shape[len(shape) - k :]):
        hi = {"reflect": n - 1, "replicate": 3, "circular": n, "constant": 2}[mode]
        lo = -1 if n > 1 or mode == "constant" else 0
        a, b = draw(st.integers(lo, hi)), draw(st.integers(lo, hi))
        if mode == "circular":  # wrapping more than the cropped size: PyTorch overlaps copies
            assume(max(a, b) <= n + min(a, 0) + min(b, 0))
        if mode == "constant" and not crop_past:
            assume(n + min(a, 0) + min(b, 0) >= 0)
        if mode != "constant":
            assume(n + a + b >= 1)
        else:
            assume(n + a + b >= 0)
        pads += [a, b]
    return shape, tuple(pads)


@prop("constant_pad_nd", "conv")
@st.composite
def _constant_pad(draw: Draw, fd: bool) -> Ex:
    shape, pads = draw(_pads("constant", crop_past=not fd))
    v = draw(st.sampled_from([0.0, 1.5]))
    text, fn = pick(draw, [
        (f"F.pad(x, {pads}, value={v})", lambda m, x: F(m).pad(x, pads, value=v)),
        (f"torch.constant_pad_nd(x, {pads}, {v})", lambda m, x: m.constant_pad_nd(x, pads, v)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values(shape))))


def _mode_pad(mode: str, k: int | None) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape, pads = draw(_pads(mode, k))
        return ex(f"F.pad(x, {pads}, {mode!r})", lambda m, x: F(m).pad(x, pads, mode),
                  X(draw(values(shape))))  # fmt: skip

    return build


for _k in (1, 2, 3):
    prop(f"reflection_pad{_k}d", "conv")(_mode_pad("reflect", _k))
    prop(f"replication_pad{_k}d", "conv")(_mode_pad("replicate", _k))
prop("circular_pad", "conv")(_mode_pad("circular", None))


# --- nn: softmax, normalization, losses, embedding ------------------------------------------------
def _softmax(name: str) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        shape = draw(shapes())
        d = draw(dims_of(len(shape), multi=False))
        d = d[0] if isinstance(d, tuple) else d
        text, fn = pick(draw, [
            (f"x.{name}({d})", lambda m, x: getattr(x, name)(d)),
            (f"torch.{name}(x, {d})", lambda m, x: getattr(m, name)(x, d)),
            (f"F.{name}(x, dim={d})", lambda m, x: getattr(F(m), name)(x, dim=d)),
            (f"F.{name}(x, {d}, dtype=torch.float64)",
             lambda m, x: getattr(F(m), name)(x, d, dtype=m.float64)),
        ])  # fmt: skip
        dom = "real" if fd else draw(st.sampled_from(["real", "real", "special"]))
        return ex(text, fn, X(draw(values(shape, dom))))

    return build


prop("softmax", "nn")(_softmax("softmax"))
prop("log_softmax", "nn")(_softmax("log_softmax"))


@prop("native_batch_norm", "nn")
@st.composite
def _batch_norm(draw: Draw, fd: bool) -> Ex:
    spatial = draw(shapes(max_rank=2, max_side=3, empty=False))
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    shape = (n, c) + spatial
    assume(int(np.prod(shape)) <= 48)
    training = draw(st.booleans())
    if training:
        assume(n * int(np.prod(spatial)) >= 2)
    stats = not training or draw(st.booleans())
    affine = draw(st.sampled_from(["none", "weight", "both"]))
    eps, mom = draw(st.sampled_from([1e-5, 1e-3])), draw(st.sampled_from([0.1, 0.5]))
    args = [X(draw(values(shape)))]
    if stats:
        args += [K(draw(values((c,)))), K(draw(values((c,), "pos")))]
    if affine != "none":
        args.append(X(draw(values((c,)))))
    if affine == "both":
        args.append(X(draw(values((c,)))))

    def fn(m: Any, x: Any, *rest: Any) -> Any:
        rm, rv = (rest[0], rest[1]) if stats else (None, None)
        wb = list(rest[2:] if stats else rest) + [None, None]
        y = F(m).batch_norm(x, rm, rv, wb[0], wb[1], training, mom, eps)
        return (y, rm, rv) if stats and training else y

    return ex(f"F.batch_norm(x, ..., training={training}, running stats={stats}, "
              f"affine={affine}, momentum={mom}, eps={eps})", fn, *args, tol=10)  # fmt: skip


@prop("native_layer_norm", "nn")
@st.composite
def _layer_norm(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=1, empty=False))
    k = draw(st.integers(1, len(shape)))
    ns = shape[len(shape) - k :]
    affine = draw(st.sampled_from(["none", "weight", "both"]))
    eps = draw(st.sampled_from([1e-5, 1e-3]))
    args = [X(draw(values(shape)))]
    if affine != "none":
        args.append(X(draw(values(ns))))
    if affine == "both":
        args.append(X(draw(values(ns))))
    assume(int(np.prod(ns)) > 1)  # one element: a zero gradient PyTorch gets up to roundoff
    fn = lambda m, x, *wb: F(m).layer_norm(x, ns, *wb, eps=eps)
    return ex(f"F.layer_norm(x, {ns}, affine={affine}, eps={eps})", fn, *args, tol=10)


@prop("native_group_norm", "nn")
@st.composite
def _group_norm(draw: Draw, fd: bool) -> Ex:
    g = draw(st.integers(1, 3))
    c = g * draw(st.integers(1, 2))
    spatial = draw(shapes(max_rank=2, max_side=3, empty=False))
    shape = (draw(st.integers(1, 3)), c) + spatial
    assume(int(np.prod(shape)) <= 48)
    # Groups of one element, where PyTorch's gradient is roundoff times 1/sqrt(eps) and dygrad's
    # exactly 0; unless that is one value per channel in all, which both refuse (not for finite
    # differences).
    per = c // g * int(np.prod(spatial))
    assume(per > 1 or (not fd and shape[0] == 1))
    affine = draw(st.sampled_from(["none", "weight", "both"]))
    args = [X(draw(values(shape)))]
    if affine != "none":
        args.append(X(draw(values((c,)))))
    if affine == "both":
        args.append(X(draw(values((c,)))))
    fn = lambda m, x, *wb: F(m).group_norm(x, g, *wb)
    return ex(f"F.group_norm(x, {g}, affine={affine})", fn, *args, tol=10)


REDUCTIONS = ("none", "mean", "sum")


@st.composite
def _pair(draw: Draw, **kw: Any) -> tuple[In, In, str]:
    shape = draw(shapes(**kw))
    r = draw(st.sampled_from(REDUCTIONS))
    if r == "mean":
        assume(0 not in shape)
    return X(draw(values(shape))), X(draw(values(shape))), r


@prop("dropout_mask", "nn")
@st.composite
def _dropout(draw: Draw, fd: bool) -> Ex:
    # p=1 is the one deterministic mask (all zeros): the op runs and its product has a gradient.
    shape = draw(shapes())
    x = X(draw(values(shape, "real")))
    return ex("F.dropout(x, 1.0)", lambda m, x: F(m).dropout(x, 1.0), x)


@prop("mse_loss", "nn")
@st.composite
def _mse(draw: Draw, fd: bool) -> Ex:
    x, y, r = draw(_pair())
    return ex(f"F.mse_loss(x, y, reduction={r!r})",
              lambda m, x, y: F(m).mse_loss(x, y, reduction=r), x, y)  # fmt: skip


@prop("smooth_l1_loss", "nn")
@st.composite
def _smooth_l1(draw: Draw, fd: bool) -> Ex:
    x, y, r = draw(_pair())
    beta = draw(st.sampled_from([1.0, 0.5, 2.0]))
    fn = lambda m, x, y: F(m).smooth_l1_loss(x, y, reduction=r, beta=beta)
    return ex(f"F.smooth_l1_loss(x, y, reduction={r!r}, beta={beta})", fn, x, y)


@prop("huber_loss", "nn")
@st.composite
def _huber(draw: Draw, fd: bool) -> Ex:
    x, y, r = draw(_pair())
    delta = draw(st.sampled_from([1.0, 0.7, 2.0]))
    fn = lambda m, x, y: F(m).huber_loss(x, y, reduction=r, delta=delta)
    return ex(f"F.huber_loss(x, y, reduction={r!r}, delta={delta})", fn, x, y)


@prop("binary_cross_entropy", "nn")
@st.composite
def _bce(draw: Draw, fd: bool) -> Ex:
    x, y, r = draw(_pair())
    args = [x, y]
    if draw(st.booleans()):
        args.append(K(draw(values(draw(broadcast_to(x.value.shape)), "pos"))))
    fn = lambda m, x, y, *w: F(m).binary_cross_entropy(x.sigmoid(), y.sigmoid(), *w, reduction=r)
    text = f"F.binary_cross_entropy(x.sigmoid(), y.sigmoid(), weight, reduction={r!r})"
    return ex(text, fn, *args)


@prop("binary_cross_entropy_with_logits", "nn")
@st.composite
def _bce_logits(draw: Draw, fd: bool) -> Ex:
    x, y, r = draw(_pair(min_rank=1))
    shape = x.value.shape
    w = K(draw(values(draw(broadcast_to(shape)), "pos"))) if draw(st.booleans()) else None
    pw = K(draw(values(shape[-1:], "pos"))) if draw(st.booleans()) else None
    args = [a for a in (x, y, w, pw) if a is not None]

    def fn(m: Any, x: Any, y: Any, *rest: Any) -> Any:
        it = iter(rest)
        wt = next(it) if w is not None else None
        pt = next(it) if pw is not None else None
        f = F(m).binary_cross_entropy_with_logits
        return f(x, y.sigmoid(), wt, reduction=r, pos_weight=pt)

    text = (f"F.binary_cross_entropy_with_logits(x, y.sigmoid(), weight={w is not None}, "
            f"reduction={r!r}, pos_weight={pw is not None})")  # fmt: skip
    return ex(text, fn, *args)


@st.composite
def _classes(draw: Draw, spatial_rank: tuple[int, int]) -> tuple[In, In, int]:
    # (logits (C) / (N, C) / (N, C, d...), class-index targets, C)
    c = draw(st.integers(1, 4))
    r = draw(st.integers(*spatial_rank))
    if r < 0:
        shape: tuple[int, ...] = (c,)
    else:
        n = draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 1, 4))
        shape = (n, c) + draw(shapes(min_rank=r, max_rank=r, max_side=3, empty=False))
    assume(int(np.prod(shape)) <= 48)
    tshape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    return X(draw(values(shape))), I(draw(index_values(tshape, c))), c


def _nll(two_d: bool) -> Builder:
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        x, t, c = draw(_classes((1, 3) if two_d else (-1, 0)))
        r = draw(st.sampled_from(REDUCTIONS))
        ign = draw(st.sampled_from([-100, 0, c - 1]))
        if r == "mean" and fd:  # all targets ignored: 0/0
            assume(bool(np.any(t.value != ign)))
        args = [x, t]
        if draw(st.booleans()):
            args.append(K(draw(values((c,), "pos"))))
        ce = draw(st.booleans())
        ls = draw(st.sampled_from([0.0, 0.0, 0.2])) if ce else 0.0
        if ce:
            f = lambda m, x, t, *w: F(m).cross_entropy(x, t, *w, ignore_index=ign, reduction=r,
                                                       label_smoothing=ls)  # fmt: skip
            text = f"F.cross_entropy(x, y, w, ignore_index={ign}, reduction={r!r}, " \
                   f"label_smoothing={ls})"  # fmt: skip
        else:
            f = lambda m, x, t, *w: F(m).nll_loss(x, t, *w, ignore_index=ign, reduction=r)
            text = f"F.nll_loss(x, y, w, ignore_index={ign}, reduction={r!r})"
        return ex(text, f, *args)

    return build


prop("nll_loss", "nn")(_nll(False))
prop("nll_loss2d", "nn")(_nll(True))


@prop("div_scalar", "nn")
@st.composite
def _ce_probs(draw: Draw, fd: bool) -> Ex:
    # Cross entropy with class probabilities: 'mean' divides by a number (DivBackward1).
    x, _, c = draw(_classes((-1, 2)))
    y = X(draw(values(x.value.shape)))
    cdim = 0 if x.value.ndim == 1 else 1
    r = draw(st.sampled_from(["mean", "mean", "sum", "none"]))
    ls = draw(st.sampled_from([0.0, 0.3]))
    args = [x, y] + ([K(draw(values((c,), "pos")))] if draw(st.booleans()) else [])
    fn = lambda m, x, y, *w: F(m).cross_entropy(x, y.softmax(cdim), *w, reduction=r,
                                                label_smoothing=ls)  # fmt: skip
    text = f"F.cross_entropy(x, y.softmax({cdim}), w, reduction={r!r}, label_smoothing={ls})"
    return ex(text, fn, *args)


@prop("embedding", "nn")
@st.composite
def _embedding(draw: Draw, fd: bool) -> Ex:
    n, d = draw(st.integers(1, 5)), draw(st.integers(0 if draw(st.integers(0, 5)) == 0 else 1, 3))
    idx = draw(index_values(draw(shapes(max_rank=3, max_side=3)), n))
    pad = None if fd or draw(st.booleans()) else draw(st.integers(-n, n - 1))
    freq = not fd and draw(st.integers(0, 3)) == 0
    kw = dict(padding_idx=pad, scale_grad_by_freq=freq)
    text, fn = pick(draw, [
        (f"F.embedding(y, x, **{kw})", lambda m, w, i: F(m).embedding(i, w, **kw)),
        (f"torch.embedding(x, y, {-1 if pad is None else pad % n}, {freq})",
         lambda m, w, i: m.embedding(w, i, -1 if pad is None else pad % n, freq)),
    ])  # fmt: skip
    return ex(text, fn, X(draw(values((n, d)))), I(idx))


# --- user-facing compositions (no op of their own) -----------------------------------------------
@prop("kl_div", "nn")
@st.composite
def _kl_div(draw: Draw, fd: bool) -> Ex:
    shape = draw(shapes(min_rank=2, max_rank=3, empty=False))
    r = draw(st.sampled_from(["none", "sum", "batchmean", "mean"]))
    lt = draw(st.booleans())

    def fn(m: Any, x: Any, y: Any) -> Any:
        t = y.log_softmax(1) if lt else y.softmax(1)
        return F(m).kl_div(x.log_softmax(1), t, reduction=r, log_target=lt)

    text = f"F.kl_div(x.log_softmax(1), y.(log_)softmax(1), reduction={r!r}, log_target={lt})"
    return ex(text, fn, X(draw(values(shape))), X(draw(values(shape))))


@prop("l1_loss", "nn")
@st.composite
def _l1(draw: Draw, fd: bool) -> Ex:
    x, y, r = draw(_pair())
    if fd:
        assume(far(x.value - y.value, 0.0, 1e-2))
    return ex(f"F.l1_loss(x, y, reduction={r!r})",
              lambda m, x, y: F(m).l1_loss(x, y, reduction=r), x, y)  # fmt: skip


# --- second order: ops that backward rules call ---------------------------------------------------
def _second(
    first: Callable[[Draw, bool], tuple[str, Callable[..., Any], list[In]]], last: bool = False
) -> Builder:
    # The gradient of first's call (w.r.t. its float inputs, recorded) as the output; the
    # cotangent g of the first call is an input too, so checks cover d/dx and d/dg. `last`:
    # differentiate with respect to first's last input only.
    @st.composite
    def build(draw: Draw, fd: bool) -> Ex:
        text, f, args = first(draw, fd)
        vals = [a.value.astype(a.dtype or "float64") for a in args]
        shape = out_shape(f, *vals)
        g = X(draw(values(shape)))

        def fn(m: Any, *xs: Any) -> Any:
            *ins, gt = xs
            wrt = ins[-1:] if last else [x for x in ins if x.requires_grad]
            return grad_of(m, outputs(f(m, *ins))[0], wrt, gt)

        what = "its last input" if last else "its inputs"
        return ex(f"grad({text}) w.r.t. {what}, with cotangent g", fn, *args, g, tol=10)

    return build


def _first_index(draw: Draw, fd: bool) -> Any:
    shape = draw(shapes())
    key = draw(advanced_key(shape) if draw(st.booleans()) else basic_key(shape))
    return f"x[{key_text(key)}]", lambda m, x: x[build_key(m, key)], [X(draw(values(shape)))]


def _first_setitem(draw: Draw, fd: bool) -> Any:
    shape = draw(shapes())
    key = draw(advanced_key(shape, unique=True))
    v = draw(broadcast_to(key_shape(shape, key)))
    return (f"z = x * 1; z[{key_text(key)}] = y", _setter(key, None),
            [X(draw(values(shape))), X(draw(values(v)))])  # fmt: skip


def _first_index_select(draw: Draw, fd: bool) -> Any:
    shape = draw(shapes(min_rank=1))
    d = draw(st.integers(-len(shape), len(shape) - 1))
    idx = draw(index_values((draw(st.integers(0, 4)) if shape[d] else 0,), shape[d]))
    return (f"x.index_select({d}, {idx.tolist()})",
            lambda m, x: x.index_select(d, m.tensor(idx)), [X(draw(values(shape)))])  # fmt: skip


def _first_gather(draw: Draw, fd: bool) -> Any:
    shape, d, idx = draw(_dim_index(False))
    return (f"x.gather({d}, {idx.tolist()})", lambda m, x: x.gather(d, m.tensor(idx)),
            [X(draw(values(shape)))])  # fmt: skip


def _first_prod(draw: Draw, fd: bool) -> Any:
    shape = draw(shapes(max_elems=24))
    x = X(draw(values(shape, "nonzero" if fd else draw(st.sampled_from(["nonzero", "ties"])))))
    if draw(st.booleans()) or not shape:
        return "x.prod()", lambda m, x: x.prod(), [x]
    d = draw(st.integers(-len(shape), len(shape) - 1))
    return f"x.prod({d})", lambda m, x: x.prod(d), [x]


def _nonempty(build: Builder) -> Builder:
    return lambda fd: build(fd).filter(lambda e: all(a.value.size for a in e.args))


def _first_of(build: Builder) -> Callable[[Draw, bool], Any]:
    def first(draw: Draw, fd: bool) -> Any:
        e = draw(build(fd))
        return e.call, e.fn, list(e.args)

    return first


@st.composite
def _conv2d_plain(draw: Draw, fd: bool) -> Ex:
    g = draw(st.sampled_from([1, 2]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s, dil = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    size = tuple(draw(st.integers(dil * (kk - 1) + 1, dil * (kk - 1) + 3)) for kk in k)
    xs, ws = (draw(st.integers(1, 2)), cin) + size, (cout, cin // g) + k
    assume(int(np.prod(xs)) <= 60 and int(np.prod(ws)) <= 40)
    fn = lambda m, x, w: F(m).conv2d(x, w, None, s, 1, dil, g)
    return ex(f"F.conv2d(x, w, None, {s}, 1, {dil}, {g})", fn, X(draw(values(xs))),
              X(draw(values(ws))), tol=20)  # fmt: skip


def _first_embedding(draw: Draw, fd: bool) -> Any:
    n, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    # PyTorch's double backward cannot reshape an empty gradient: a nonempty index.
    idx = draw(index_values(draw(shapes(max_rank=2, max_side=3, empty=False)), n))
    return (f"F.embedding({idx.tolist()}, w)", lambda m, w: F(m).embedding(m.tensor(idx), w),
            [X(draw(values((n, d))))])  # fmt: skip


def _first_pad(draw: Draw, fd: bool) -> Any:
    mode = draw(st.sampled_from(["reflect", "replicate", "circular"]))
    shape, pads = draw(_pads(mode, draw(st.integers(1, 2))))
    return (f"F.pad(x, {pads}, {mode!r})", lambda m, x: F(m).pad(x, pads, mode),
            [X(draw(values(shape)))])  # fmt: skip


for _name, _first in (
    ("index_backward", _first_index),
    ("zero_at", _first_setitem),
    ("index_select_backward", _first_index_select),
    ("scatter_zeros", _first_gather),
    ("prod_others", _first_prod),
    ("max_pool2d_scatter", _first_of(_max_pool)),
    ("avg_pool2d_backward", _first_of(_avg_pool)),
    ("adaptive_avg_pool2d_backward", _first_of(_adaptive)),
    ("convolution_weight", _first_of(_conv2d_plain)),
    ("embedding_backward", _first_embedding),
    ("index_pad_backward", _first_pad),
):
    prop(_name, "second-order")(_second(_first))
# Third order: the rule of max_pool2d_scatter (its gradient of gradients) is max_pool2d_gather,
# whose own rule only the next order runs.
# (PyTorch records no graph for the third order of an empty input: nonempty ones only.)
prop("max_pool2d_gather", "second-order", n=6)(
    _second(_first_of(_nonempty(PROPS["max_pool2d_scatter"].build)), last=True)
)

# Every registered op -> the property that runs it (forward, and its backward rule if it has
# one). Ops that only backward rules call are covered by the gradients of the ops that call them.
COVERAGE: dict[str, str] = {
    **{op: op for op in PROPS if op in REGISTRY},
    "mask_like": "norm",  # in the rule of norm (p = +-inf)
    "tie_mask": "maximum",  # in the rules of maximum and minimum
    "even_mask": "max_all",  # in the rules of max/min/amax/amin over ties
    "zeros_like": "sign",  # the rule of sign
}


# --- bugs found -----------------------------------------------------------------------------
# Minimal examples hypothesis found where dygrad disagrees with PyTorch. The strategies above keep
# out of these inputs (search for the key) and the examples run here, expected to fail (strict:
# a fix shows up as XPASS; then delete the entry and the strategy's exclusion).
BUGS: dict[str, tuple[str, Ex, str]] = {}


def test_bug_exclusions_name_known_bugs() -> None:
    # Each strategy that steers clear of a bug names it; a fixed bug loses both.
    refs = set(re.findall(r'BUGS\["([a-z0-9-]+)"\]', Path(__file__).read_text()))
    assert refs == set(BUGS), f"unknown: {refs - set(BUGS)}, unreferenced: {set(BUGS) - refs}"


@pytest.mark.parametrize(
    "bug",
    [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=v[0])) for k, v in BUGS.items()],
)
def test_known_bug(bug: str) -> None:
    torch = pytest.importorskip("torch")
    _, e, dtype = BUGS[bug]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_against_torch(torch, e, dtype)


# --- the checks -----------------------------------------------------------------------------------
@cache
def strategy(name: str, fd: bool) -> st.SearchStrategy[Ex]:
    return PROPS[name].build(fd)


SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],  # fmt: skip
)

# Properties known to fail, with the minimal example hypothesis found: name -> reason.
KNOWN: dict[str, dict[str, str]] = {"torch": {}, "fd": {}}


def _params(check: str, keep: Callable[[Prop], bool] = lambda p: True) -> list[Any]:
    out = []
    for name, p in PROPS.items():
        if not keep(p):
            continue
        reason = KNOWN[check].get(name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(name, id=name, marks=marks))
    return out


@pytest.mark.parametrize("name", _params("torch"))
def test_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    compared = []

    @settings(max_examples=PROPS[name].n, **SETTINGS)
    @given(e=strategy(name, False), dtype=st.sampled_from(FLOATS))
    def check(e: Ex, dtype: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compared.append(check_against_torch(torch, e, dtype))

    check()
    # Most examples must be valid calls: examples PyTorch rejects only check that dygrad raises.
    assert sum(compared) >= len(compared) * 0.7, (
        f"{compared.count(False)} of {len(compared)} rejected"
    )


@pytest.mark.parametrize("name", _params("fd", lambda p: p.fd))
def test_grad_matches_finite_differences(name: str) -> None:
    checked = []

    @settings(max_examples=N_FD, **SETTINGS)
    @given(e=strategy(name, True))
    def check(e: Ex) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checked.append(check_finite_differences(e))

    check()
    assert any(checked), "no example had a gradient to check"


# --- coverage -------------------------------------------------------------------------------------
def test_every_registered_op_has_a_property() -> None:
    missing = sorted(set(REGISTRY) - set(COVERAGE))
    assert not missing, f"ops with no property in tests/test_properties.py: {missing}"
    unknown = sorted(op for op in COVERAGE if op not in REGISTRY)
    assert not unknown, f"COVERAGE names ops that are not registered: {unknown}"
    assert set(COVERAGE.values()) <= set(PROPS)
    undifferentiated = sorted(
        op for op in REGISTRY if REGISTRY[op].differentiable and not PROPS[COVERAGE[op]].fd
    )
    assert not undifferentiated, f"differentiable ops without a gradient check: {undifferentiated}"


@pytest.mark.parametrize("op", sorted(COVERAGE))
def test_property_runs_its_op(op: str) -> None:
    name = COVERAGE[op]
    with op_calls() as (fwd, bwd):

        @settings(max_examples=N_META, **SETTINGS)
        @given(e=strategy(name, False))
        def check(e: Ex) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    run(dygrad, e, "float64")
                except Exception:  # noqa: BLE001 - an example PyTorch rejects too
                    pass

        check()
    assert op in fwd, f"property {name!r} never runs {op!r}"
    if REGISTRY[op].differentiable:
        assert op in bwd, f"property {name!r} never runs the backward rule of {op!r}"
