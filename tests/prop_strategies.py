"""Hypothesis strategies and the check harness behind tests/test_properties.py: random shapes (0-d,
empty, broadcasting, rank up to 5), values inside an op's domain, and examples (`Ex`) that run one
user-facing call through dygrad or PyTorch, compared to each other and to finite differences."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_ELEMS = 60  # elements per drawn tensor: finite differences run the op twice per element
FLOATS = ("float32", "float64")
# (rtol, atol) per dtype for dygrad against PyTorch; an example's `tol` multiplies both.
TOL = {"float16": (2e-3, 2e-3), "float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10)}
EPS = 1e-6
FD_TOL = (1e-3, 1e-5)  # PyTorch's gradcheck defaults
NAN, INF = float("nan"), float("inf")


# --- examples -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class In:
    """One input: float64 values (cast to the example's dtype unless `dtype` names one) and
    whether it requires grad (only floating inputs do)."""

    value: np.ndarray
    dtype: str | None = None
    grad: bool = True

    def dtype_in(self, dtype: str) -> str:
        return self.dtype or dtype

    def requires_grad(self, dtype: str) -> bool:
        return self.grad and np.dtype(self.dtype_in(dtype)).kind == "f"


def X(v: np.ndarray, grad: bool = True, dtype: str | None = None) -> In:
    """A floating input (the example's dtype unless `dtype`)."""
    return In(np.asarray(v), dtype, grad)


def K(v: np.ndarray, dtype: str | None = None) -> In:
    """A floating input that does not require grad."""
    return In(np.asarray(v), dtype, False)


def I(v: np.ndarray, dtype: str = "int64") -> In:  # noqa: E743
    """An integer input."""
    return In(np.asarray(v), dtype, False)


def B(v: np.ndarray) -> In:
    """A boolean input."""
    return In(np.asarray(v, dtype=bool), "bool", False)


@dataclass(frozen=True)
class Ex:
    """One drawn example: `fn(m, *inputs)` runs the call with module m (dygrad or torch)."""

    call: str  # the call as source text (inputs are named x, y, z, ...), for failure reports
    fn: Callable[..., Any] = field(repr=False)
    args: tuple[In, ...]
    tol: float = 1.0

    @property
    def seed(self) -> int:
        return zlib.crc32(repr(self).encode())

    def __repr__(self) -> str:
        parts = []
        for name, a in zip("xyzuvw", self.args):
            kind = a.dtype or "float"
            flag = ", grad" if a.grad and kind != "bool" and "int" not in kind else ""
            parts.append(f"{name}: {kind}{list(a.value.shape)}{flag} = {a.value.tolist()!r}")
        return f"Ex[{self.call}; " + "; ".join(parts) + "]"


def ex(call: str, fn: Callable[..., Any], *args: In, tol: float = 1.0) -> Ex:
    return Ex(call, fn, tuple(args), tol)


# --- shapes ---------------------------------------------------------------------------------------
def _fit(dims: list[int], max_elems: int) -> tuple[int, ...]:
    # Shrink the largest dims until the (nonzero-sized) tensor fits the element budget.
    while dims and int(np.prod([d for d in dims if d] or [1])) > max_elems:
        k = int(np.argmax(dims))
        dims[k] -= 1
    return tuple(dims)


@st.composite
def shapes(
    draw: Any,
    min_rank: int = 0,
    max_rank: int = 5,
    min_side: int = 1,
    max_side: int = 4,
    max_elems: int = MAX_ELEMS,
    empty: bool = True,
) -> tuple[int, ...]:
    """A shape of rank min_rank..max_rank; about one in eight has a zero-sized dim."""
    rank = draw(st.integers(min_rank, max_rank))
    dims = [draw(st.integers(min_side, max_side)) for _ in range(rank)]
    if empty and rank and draw(st.integers(0, 7)) == 0:
        dims[draw(st.integers(0, rank - 1))] = 0
    return _fit(dims, max_elems)


@st.composite
def broadcast_to(draw: Any, out: tuple[int, ...], drop: bool = True) -> tuple[int, ...]:
    """A shape that broadcasts to `out`: leading dims dropped, some dims set to 1."""
    k = draw(st.integers(0, len(out))) if drop else 0
    s = list(out[k:])
    for i in range(len(s)):
        if draw(st.integers(0, 3)) == 0:
            s[i] = 1
    return tuple(s)


@st.composite
def broadcast_shapes(draw: Any, n: int, **kw: Any) -> tuple[tuple[int, ...], ...]:
    """n mutually broadcastable shapes (0-d, empty and size-1 dims included)."""
    out = draw(shapes(**kw))
    return tuple(draw(broadcast_to(out)) for _ in range(n))


@st.composite
def dims_of(draw: Any, ndim: int, multi: bool = True) -> Any:
    """A dim argument for a reduction: an int, or (`multi`) sometimes a tuple of distinct dims,
    negative or not."""
    if ndim == 0:
        d = draw(st.sampled_from([0, -1]))
        return (d,) if multi and draw(st.booleans()) else d
    k = draw(st.integers(1, ndim)) if multi else 1
    chosen = draw(st.permutations(range(ndim)))[:k]
    chosen = [d - ndim if draw(st.booleans()) else d for d in chosen]
    if not multi or (k == 1 and draw(st.booleans())):
        return chosen[0]
    return tuple(chosen)


def dim_list(d: Any, ndim: int) -> list[int]:
    """A dim argument as a list of non-negative dims."""
    ds = [d] if isinstance(d, int) else list(d)
    return [x % max(ndim, 1) for x in ds]


# --- values ---------------------------------------------------------------------------------------
def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    # Magnitudes below 1e-6 become 0: near float32's smallest normal numbers both libraries
    # only show how they underflow.
    return st.floats(lo, hi, allow_subnormal=False).map(lambda v: 0.0 if abs(v) < 1e-6 else v)


ELEMENTS: dict[str, st.SearchStrategy[float]] = {
    "real": _floats(-2.0, 2.0),
    "pos": _floats(0.5, 2.0),
    "nonzero": _floats(0.3, 2.0) | _floats(-2.0, -0.3),
    "unit": _floats(-0.9, 0.9),
    "gt-1": _floats(-0.5, 2.0),
    "prob": _floats(0.05, 0.95),
    "small": _floats(-1.0, 1.0),
    # Kinks and ties: for comparing conventions with PyTorch, never for finite differences.
    "ties": st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]),
    "zeropos": st.sampled_from([0.0, 0.5, 1.5]),
    "special": st.sampled_from([NAN, INF, -INF, 0.0, -0.0, 1.5, -2.0]),
}
INT_RANGES = {"real": (-3, 3), "pos": (1, 3), "nonzero": (1, 3), "gt-1": (0, 3), "ties": (-2, 2)}


def values(shape: tuple[int, ...], dom: str = "real") -> st.SearchStrategy[np.ndarray]:
    """float64 values of `shape` inside domain `dom`; "distinct" gives values at least 0.02 apart
    in value and in absolute value (no ties for max/sort-like ops, no zeros)."""
    if dom == "distinct":
        return hnp.arrays(np.int64, shape, elements=st.integers(-250, 250), unique=True).map(
            lambda a: a * 0.04 + 0.01
        )
    return hnp.arrays(np.float64, shape, elements=ELEMENTS[dom], fill=st.nothing())


def int_values(shape: tuple[int, ...], dom: str = "real") -> st.SearchStrategy[np.ndarray]:
    """Integer values in the integer version of domain `dom`."""
    lo, hi = INT_RANGES[dom]
    a = hnp.arrays(np.int64, shape, elements=st.integers(lo, hi), fill=st.nothing())
    if dom == "nonzero":
        return st.tuples(a, hnp.arrays(np.bool_, shape, fill=st.nothing())).map(
            lambda p: np.where(p[1], p[0], -p[0])
        )
    return a


def bools(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.bool_, shape, fill=st.nothing())


def index_values(shape: tuple[int, ...], n: int) -> st.SearchStrategy[np.ndarray]:
    """int64 indices in [0, n) (repeats allowed)."""
    if n == 0:
        assert int(np.prod(shape)) == 0
        return st.just(np.zeros(shape, np.int64))
    return hnp.arrays(np.int64, shape, elements=st.integers(0, n - 1), fill=st.nothing())


# --- running an example ------------------------------------------------------------------------
def outputs(y: Any) -> list[Any]:
    """A result (tensor, tuple, named tuple, list) as a flat list of tensors."""
    if isinstance(y, list | tuple):
        return [t for v in y for t in outputs(v)]
    return [y]


def to_numpy(t: Any) -> np.ndarray:
    return np.array(t.detach().numpy(force=True))


def dtype_name(t: Any) -> str:
    return str(t.dtype).split(".")[-1]


def tensors(m: Any, e: Ex, dtype: str, vals: Sequence[np.ndarray] | None = None) -> list[Any]:
    """The example's inputs as tensors of module m; `vals` replaces the values."""
    out = []
    for i, a in enumerate(e.args):
        v = a.value if vals is None else vals[i]
        t = m.tensor(np.asarray(v).astype(a.dtype_in(dtype)))
        if a.requires_grad(dtype):
            t.requires_grad_(True)
        out.append(t)
    return out


def weights(ys: Sequence[Any], e: Ex) -> list[np.ndarray]:
    """Random cotangents, one per differentiable output, the same for both libraries."""
    rng = np.random.default_rng(e.seed)
    return [rng.standard_normal(tuple(y.shape)).astype(dtype_name(y)) for y in ys]


@dataclass
class Run:
    xs: list[Any]
    ys: list[Any]
    wrt: list[int]  # indices of inputs that require grad
    live: list[int]  # indices of outputs that require grad
    gs: list[Any] | None  # gradients of the weighted sum of live outputs, per wrt input


def run(m: Any, e: Ex, dtype: str) -> Run:
    """Forward, then gradients of sum(w * y) over the outputs that require grad."""
    xs = tensors(m, e, dtype)
    ys = outputs(e.fn(m, *xs))
    wrt = [i for i, x in enumerate(xs) if x.requires_grad]
    live = [i for i, y in enumerate(ys) if y.requires_grad]
    gs = None
    if wrt and live:
        ws = [m.tensor(w) for w in weights([ys[i] for i in live], e)]
        gs = list(
            m.autograd.grad([ys[i] for i in live], [xs[i] for i in wrt], ws, allow_unused=True)
        )
    return Run(xs, ys, wrt, live, gs)


def dense(r: Run) -> list[np.ndarray]:
    """Gradients as arrays; an unused input's None as zeros."""
    assert r.gs is not None
    return [
        np.zeros(tuple(r.xs[i].shape), dtype_name(r.xs[i])) if g is None else to_numpy(g)
        for i, g in zip(r.wrt, r.gs)
    ]


def assert_close(got: Any, want: Any, rtol: float, atol: float, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.dtype.kind in "biu" or want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def check_against_torch(torch: Any, e: Ex, dtype: str) -> bool:
    """dygrad's outputs (values, dtypes, shapes, requires_grad) and gradients equal PyTorch's; an
    example PyTorch rejects must raise in dygrad too (and returns False)."""
    import dygrad

    try:
        t = run(torch, e, dtype)
    except Exception as err:  # noqa: BLE001 - any rejection by PyTorch
        try:
            run(dygrad, e, dtype)
        except Exception:  # noqa: BLE001
            return False
        raise AssertionError(f"PyTorch raises {err!r}; dygrad does not") from None
    d = run(dygrad, e, dtype)
    assert len(d.ys) == len(t.ys), f"{len(d.ys)} outputs, PyTorch has {len(t.ys)}"
    # Mixed precision (a float64 gradient through float32 math): the loosest dtype's tolerance.
    names = [dtype_name(v) for v in (*t.ys, *t.xs)]
    rtol, atol = max((TOL[n] for n in names if n in TOL), default=TOL["float64"])
    rtol, atol = rtol * e.tol, atol * e.tol
    for i, (y, ty) in enumerate(zip(d.ys, t.ys)):
        dt = dtype_name(ty)
        assert dtype_name(y) == dt, f"output {i}: dtype {y.dtype} != {ty.dtype}"
        assert tuple(y.shape) == tuple(ty.shape), f"output {i}: shape {y.shape} != {ty.shape}"
        assert_close(to_numpy(y), to_numpy(ty), rtol, atol, f"output {i}")
        assert y.requires_grad == ty.requires_grad, f"output {i}: requires_grad"
    assert (d.gs is None) == (t.gs is None)
    if t.gs is None:
        return True
    for k, (gd, gt) in enumerate(zip(d.gs, t.gs)):
        if gd is not None and gt is not None:
            assert dtype_name(gd) == dtype_name(gt), f"grad {k}: dtype {gd.dtype} != {gt.dtype}"
    for k, (gd, gt) in enumerate(zip(dense(d), dense(t))):
        assert_close(gd, gt, rtol, atol, f"grad of input {d.wrt[k]}")
    return True


def check_finite_differences(e: Ex) -> bool:
    """float64 gradients of sum(w * y) equal central differences; False when nothing is
    differentiable."""
    import dygrad

    r = run(dygrad, e, "float64")
    if r.gs is None:
        return False
    base = [np.asarray(a.value).astype(a.dtype_in("float64")) for a in e.args]
    ws = weights([r.ys[i] for i in r.live], e)

    def phi(vals: list[np.ndarray]) -> float:
        ys = outputs(e.fn(dygrad, *tensors(dygrad, e, "float64", vals)))
        return float(sum(np.sum(w * to_numpy(ys[i])) for i, w in zip(r.live, ws)))

    for k, (i, g) in enumerate(zip(r.wrt, dense(r))):
        assert g.dtype == np.float64 and g.shape == base[i].shape, f"grad {k}: {g.dtype}{g.shape}"
        num = np.zeros_like(base[i])
        for j in range(base[i].size):
            vals = [v.copy() for v in base]
            vals[i].reshape(-1)[j] += EPS
            hi = phi(vals)
            vals[i].reshape(-1)[j] -= 2 * EPS
            lo = phi(vals)
            num.reshape(-1)[j] = (hi - lo) / (2 * EPS)
        assert_close(g, num, FD_TOL[0] * e.tol, FD_TOL[1] * e.tol, f"d/d(input {i}) vs FD")
    return True
