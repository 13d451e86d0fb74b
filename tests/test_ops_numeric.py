"""The op table (tests/op_cases.py) without PyTorch: every registered op has an entry, every
entry runs the ops it names, gradients match central finite differences (first and second order,
float64), and backward rules give the same gradients on raw arrays (create_graph=False) as on
tensors (create_graph=True)."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from op_cases import (
    BY_ID,
    CASES,
    DTYPES,
    HELPERS,
    Case,
    arrays,
    assert_close,
    cotangents,
    dense,
    grads,
    op_calls,
    outputs,
    second_grads,
    seed_of,
)

import dygrad
from dygrad.ops import REGISTRY

EPS = 1e-6
FD_TOL = (1e-3, 1e-5)  # rtol, atol: PyTorch's gradcheck defaults
# Edge values (log 0, 0/0, the variance of one element) warn in NumPy and PyTorch alike.
pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning"),
]


def params(check: str, keep: Callable[[Case], bool] = lambda c: True) -> list[Any]:
    out = []
    for c in CASES:
        if not keep(c):
            continue
        reason = c.xfail.get(check)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


def _differentiated(c: Case) -> bool:
    return c.grad and c.has_grad_inputs


# --- coverage ------------------------------------------------------------------------------------
def test_every_registered_op_has_a_table_entry() -> None:
    named = {op for c in CASES for op in c.ops}
    missing = sorted(set(REGISTRY) - named - set(HELPERS))
    assert not missing, f"ops with no entry in tests/op_cases.py: {missing}"
    unknown = sorted((named | set(HELPERS)) - set(REGISTRY))
    assert not unknown, f"table names ops that are not registered: {unknown}"
    ids = {c.id for c in CASES}
    for helper, cases in HELPERS.items():
        assert cases and set(cases) <= ids, f"{helper}: unknown cases {set(cases) - ids}"


def _run_all(case: Case) -> bool:
    """Run every check's computation; True when the case has gradients to check."""
    has_grads = False
    for dtype in DTYPES:
        has_grads = grads(dygrad, case, dtype)["gs"] is not None or has_grads
    if _differentiated(case):
        grads(dygrad, case, "float64", create_graph=True)
        if case.gg:
            second_grads(dygrad, case)
    return has_grads and _differentiated(case)


@pytest.mark.parametrize("case", params("ops"))
def test_case_runs_the_ops_it_names(case: Case) -> None:
    with op_calls() as (fwd, vjp):
        has_grads = _run_all(case)
    assert set(case.ops) <= fwd, f"not run: {set(case.ops) - fwd}"
    if has_grads:
        rules = {n for n in case.ops if REGISTRY[n].differentiable}
        assert rules <= vjp, f"backward rules not run: {rules - vjp}"
    helpers = {h for h, ids in HELPERS.items() if case.id in ids}
    assert helpers <= fwd, f"HELPERS says this case runs {helpers - fwd}; it does not"


@pytest.mark.parametrize("helper", [h for h in HELPERS if REGISTRY[h].differentiable])
def test_helper_rules_run_in_second_order(helper: str) -> None:
    # A differentiable helper's own backward rule is what second-order gradients exercise.
    with op_calls() as (_, vjp):
        for cid in HELPERS[helper]:
            _run_all(BY_ID[cid])
    assert helper in vjp, f"no case listed for {helper} runs its backward rule"


# --- both rule modes ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", params("modes", _differentiated))
def test_rule_modes_agree(case: Case, dtype: str) -> None:
    raw = grads(dygrad, case, dtype, create_graph=False)
    rec = grads(dygrad, case, dtype, create_graph=True)
    if raw["gs"] is None:
        assert rec["gs"] is None
        return
    rtol, atol = case.tols(dtype)
    for i, (a, b) in enumerate(zip(raw["gs"], rec["gs"])):
        assert (a is None) == (b is None), f"grad {i}: None in one mode only"
        if a is not None:
            assert a.dtype == b.dtype == raw["wrt"][i].dtype, f"grad {i} dtype"
            assert not a.requires_grad, f"grad {i}: create_graph=False recorded a graph"
    for i, (a, b) in enumerate(zip(dense(raw["gs"], raw["wrt"]), dense(rec["gs"], rec["wrt"]))):
        assert_close(a, b, rtol, atol, f"grad {i}")


# --- finite differences ---------------------------------------------------------------------------
def _library_gradcheck() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    # dygrad.autograd.gradcheck mirrors PyTorch's; until it exists the checker below stands in.
    if importlib.util.find_spec("dygrad.autograd.gradcheck") is None:
        return None
    from dygrad.autograd import gradcheck, gradgradcheck

    return gradcheck, gradgradcheck


def _tensors(case: Case, values: list[np.ndarray], grad: bool) -> list[Any]:
    ts = []
    for a, v in zip(case.args, values):
        t = dygrad.tensor(v)
        if grad and a.differentiable:
            t.requires_grad_(True)
        ts.append(t)
    return ts


def _numeric_grad(f: Callable[[list[np.ndarray]], float], xs: list[np.ndarray]) -> list[np.ndarray]:
    """Central differences of the scalar function f with respect to each array in xs."""
    out = []
    for x in xs:
        g = np.zeros_like(x)
        flat, gflat = x.reshape(-1), g.reshape(-1)
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + EPS
            hi = f(xs)
            flat[k] = orig - EPS
            lo = f(xs)
            flat[k] = orig
            gflat[k] = (hi - lo) / (2 * EPS)
        out.append(g)
    return out


def _fd_first(case: Case) -> None:
    vals = arrays(case, "float64")
    ref = grads(dygrad, case, "float64")
    if ref["gs"] is None:
        return
    live = [i for i, y in enumerate(ref["ys"]) if y.requires_grad]
    ws = cotangents([ref["ys"][i] for i in live], case.id + "float64")
    diff = [i for i, a in enumerate(case.args) if a.differentiable]

    def phi(xs: list[np.ndarray]) -> float:
        v = list(vals)
        for i, x in zip(diff, xs):
            v[i] = x
        ys = outputs(case.fn(dygrad, *_tensors(case, v, grad=False)))
        return float(sum(np.sum(w * ys[i].numpy()) for i, w in zip(live, ws)))

    num = _numeric_grad(phi, [vals[i].copy() for i in diff])
    for i, (a, n) in enumerate(zip(dense(ref["gs"], ref["wrt"]), num)):
        assert_close(a, n, *FD_TOL, f"d/d(input {diff[i]}) vs finite differences")


def _fd_second(case: Case) -> None:
    vals = arrays(case, "float64")
    ref = grads(dygrad, case, "float64")
    if ref["gs"] is None:
        return
    analytic = second_grads(dygrad, case)
    diff = [i for i, a in enumerate(case.args) if a.differentiable]
    live = [i for i, y in enumerate(ref["ys"]) if y.requires_grad]
    ws = cotangents([ref["ys"][i] for i in live], case.id + "float64")
    rng = np.random.default_rng(seed_of(case.id, "gg"))
    vs = [rng.standard_normal(tuple(x.shape)) for x in ref["wrt"]]
    nx = len(diff)

    def psi(zs: list[np.ndarray]) -> float:
        # v . (first-order gradient at inputs zs[:nx] and output weights zs[nx:])
        v = list(vals)
        for i, x in zip(diff, zs[:nx]):
            v[i] = x
        xs = _tensors(case, v, grad=True)
        ys = outputs(case.fn(dygrad, *xs))
        wrt = [xs[i] for i in diff]
        gs = dygrad.autograd.grad(
            [ys[i] for i in live], wrt, [dygrad.tensor(w) for w in zs[nx:]], allow_unused=True
        )
        return float(sum(np.sum(vv * g) for vv, g in zip(vs, dense(gs, wrt))))

    num = _numeric_grad(psi, [vals[i].copy() for i in diff] + [w.copy() for w in ws])
    for i, (a, n) in enumerate(zip(analytic, num)):
        what = f"input {diff[i]}" if i < nx else f"output weight {i - nx}"
        assert_close(a, n, *FD_TOL, f"second order, d/d({what}) vs finite differences")


@pytest.mark.parametrize("case", params("fd", lambda c: c.fd and _differentiated(c)))
def test_gradcheck(case: Case) -> None:
    lib = _library_gradcheck()
    if lib is None:
        _fd_first(case)
    else:
        xs = tuple(_tensors(case, arrays(case, "float64"), grad=True))
        assert lib[0](lambda *a: case.fn(dygrad, *a), xs, eps=EPS, atol=FD_TOL[1], rtol=FD_TOL[0])


@pytest.mark.parametrize("case", params("fd2", lambda c: c.fd and c.gg and _differentiated(c)))
def test_gradgradcheck(case: Case) -> None:
    lib = _library_gradcheck()
    if lib is None:
        _fd_second(case)
    elif grads(dygrad, case, "float64")["gs"] is not None:  # PyTorch's needs an output to check
        xs = tuple(_tensors(case, arrays(case, "float64"), grad=True))
        assert lib[1](lambda *a: case.fn(dygrad, *a), xs, eps=EPS, atol=FD_TOL[1], rtol=FD_TOL[0])


def test_relu_gradient_at_nan_and_zero_follows_pytorch() -> None:
    # PyTorch's rule is threshold_backward(g, relu(x), 0): zero where the output is <= 0 (x <= 0,
    # -0.0 included), the gradient elsewhere: a NaN output passes its gradient on.
    vals = [float("nan"), -1.0, 0.0, -0.0, 2.0]
    want = [1.0, 0.0, 0.0, 0.0, 1.0]
    x = dygrad.tensor(vals, requires_grad=True)
    (g,) = dygrad.autograd.grad(dygrad.relu(x).sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), want)
    x.grad = None
    dygrad.relu(x).backward(dygrad.ones(5))  # the rule on arrays (no graph of the gradient)
    np.testing.assert_array_equal(x.grad.numpy(), want)
    import dygrad.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        dual = fwAD.make_dual(dygrad.tensor(vals), dygrad.ones(5))
        tangent = fwAD.unpack_dual(dygrad.relu(dual)).tangent
    np.testing.assert_array_equal(tangent.numpy(), want)


def test_relu_refuses_bool_like_pytorch() -> None:
    with pytest.raises(RuntimeError, match="Boolean inputs not supported for relu"):
        dygrad.relu(dygrad.tensor([True, False]))
    np.testing.assert_array_equal(dygrad.relu(dygrad.tensor([-2, 3])).numpy(), [0, 3])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "xshape,tshape", [((3,), ()), ((5, 3), (5,)), ((2, 3, 2, 4), (2, 2, 4)), ((2, 3, 4), (2, 4))]
)
def test_nll_without_weights_matches_the_weighted_path(xshape, tshape, dtype, reduction) -> None:
    # Without class weights and with no target ignored, nll_loss takes a shortcut (no masks,
    # no weights); with all-one weights it takes the general path: the same numbers.
    rng = np.random.default_rng(8)
    xa = rng.standard_normal(xshape).astype(dtype)
    target = dygrad.tensor(rng.integers(0, 3, tshape))
    got = []
    for weight in (None, dygrad.ones(3, dtype=getattr(dygrad, dtype))):
        x = dygrad.tensor(xa, requires_grad=True)
        loss = dygrad.nn.functional.cross_entropy(x, target, weight, reduction=reduction)
        loss.sum().backward()
        got.append((loss.detach().numpy(), x.grad.numpy()))
    for a, b in zip(*got):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)
        assert a.dtype == b.dtype == np.dtype(dtype)
    # And against the definition: minus the log-probability of each target.
    lp = xa - np.log(np.exp(xa).sum(axis=0 if len(xshape) == 1 else 1, keepdims=True))
    cax = 0 if len(xshape) == 1 else 1
    picked = -np.take_along_axis(lp, np.expand_dims(target.numpy(), cax), cax).squeeze(cax)
    want = {"none": picked, "sum": picked.sum(), "mean": picked.mean()}[reduction]
    np.testing.assert_allclose(got[0][0], want, rtol=1e-5 if dtype == "float32" else 1e-12)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


@pytest.mark.parametrize(
    "dtype", ["float16", "float32", "float64", "int8", "int32", "int64", "uint16", "uint64"]
)
def test_branchless_where_is_np_where_bit_for_bit(dtype) -> None:
    from dygrad.backend import branchless_where

    rng = np.random.default_rng(9)
    shape = (70, 90)  # above the size where the bitwise path takes over
    x = (rng.standard_normal(shape) * 50).astype(dtype)
    y = (rng.standard_normal(shape) * 50).astype(dtype)
    if x.dtype.kind == "f":
        x.ravel()[::7] = np.nan
        x.ravel()[::11] = -0.0
        y.ravel()[::5] = -np.inf
    conds = [x > 0, rng.random(shape) > 0.5, rng.random(90) > 0.5,
             (rng.random(shape) > 0.5) * np.float32(np.nan), rng.integers(0, 3, shape)]  # fmt: skip
    pairs = [(x, y), (x, 0), (1.5, y), (x, y[:, :1]), (x[:1], y), (np.float32(2), y), (x, 3)]
    n = 0
    for c in conds:
        for a, b in pairs:
            try:
                want = np.where(c, a, b)
            except TypeError:
                continue
            got = branchless_where(c, a, b)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(_bits(got), _bits(want))
            assert got.flags.c_contiguous and got.flags.writeable
            n += 1
    assert n >= 30


def test_large_activations_match_their_definitions() -> None:
    # Arrays large enough for the bitwise select: the same values as the piecewise definitions.
    rng = np.random.default_rng(10)
    xa = rng.standard_normal((80, 70)).astype(np.float32)
    x = dygrad.tensor(xa)
    F = dygrad.nn.functional
    np.testing.assert_array_equal(F.leaky_relu(x, 0.1).numpy(), np.where(xa > 0, xa, xa * 0.1))
    np.testing.assert_array_equal(
        F.elu(x).numpy(), np.where(xa > 0, xa, np.expm1(np.minimum(xa, 0))).astype(np.float32)
    )
    np.testing.assert_array_equal(dygrad.where(x > 0, x, -x).numpy(), np.abs(xa))
    np.testing.assert_array_equal(x.masked_fill(x < 0, 0.0).numpy(), np.maximum(xa, 0))
    # softplus: PyTorch's formula below the threshold, x above it, no overflow warning.
    xs = xa * 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = F.softplus(dygrad.tensor(xs), 2.0, 20.0).numpy()
    with np.errstate(over="ignore"):
        want = np.where(xs * 2 > 20, xs, np.log1p(np.exp(xs * 2)) / 2).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    # logsigmoid and BCE with logits through min(x, 0) - log1p(exp(-|x|)), PyTorch's formula.
    ref = -np.logaddexp(0, -xs.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = F.logsigmoid(dygrad.tensor(xs)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-30)
    tgt = (xa > 0.3).astype(np.float32)
    bce = F.binary_cross_entropy_with_logits(dygrad.tensor(xs), dygrad.tensor(tgt)).item()
    np.testing.assert_allclose(bce, np.mean((1 - tgt) * xs - ref), rtol=1e-5)
    # clamp with one bound (an infinite other bound inside): NaN stays NaN, as in PyTorch.
    xn = xa.copy()
    xn[::7, ::3] = np.nan
    t = dygrad.tensor(xn)
    np.testing.assert_array_equal(t.clamp(min=0.5).numpy(), np.maximum(xn, np.float32(0.5)))
    np.testing.assert_array_equal(t.clamp(max=-0.5).numpy(), np.minimum(xn, np.float32(-0.5)))
    xg = dygrad.tensor(xa, requires_grad=True)
    F.leaky_relu(xg, 0.1).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), np.where(xa > 0, 1.0, 0.1).astype(np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pow_special_exponents_are_pytorchs_products(dtype) -> None:
    # PyTorch computes these scalar powers as products and roots (bit for bit what follows);
    # so does dygrad, and the rules use the same forms.
    rng = np.random.default_rng(11)
    xa = rng.standard_normal((60, 70)).astype(dtype)
    pa = np.abs(xa) + 0.5
    x, p = dygrad.tensor(xa), dygrad.tensor(pa)
    for e, want in [(2, xa * xa), (3, xa * xa * xa), (-1, 1 / xa), (-2, 1 / (xa * xa))]:
        np.testing.assert_array_equal((x**e).numpy(), want)
    np.testing.assert_array_equal((p**0.5).numpy(), np.sqrt(pa))
    np.testing.assert_array_equal((p**-0.5).numpy(), 1 / np.sqrt(pa))
    for e in (3, 4, -1, -2, 0.5, -0.5, 2.5):
        pg = dygrad.tensor(pa, requires_grad=True)
        (pg**e).sum().backward()
        rtol = 1e-6 if dtype == "float32" else 1e-14
        np.testing.assert_allclose(pg.grad.numpy(), e * pa ** (e - 1), rtol=rtol)
        small = dygrad.tensor(pa[:3, :4].astype(np.float64), requires_grad=True)
        assert dygrad.autograd.gradcheck(lambda t, e=e: t**e, (small,))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_leaky_relu_is_its_select_bit_for_bit(dtype) -> None:
    # The forward takes max/min of x and slope * x for positive slopes: the same bits as
    # where(x > 0, x, slope * x), signed zeros, infinities, NaN and overflow included.
    rng = np.random.default_rng(12)
    xa = rng.standard_normal(5000).astype(dtype)
    big = {"float16": 6e4, "float32": 3e38, "float64": 1e300}[dtype]
    for step, v in ((7, np.nan), (11, -0.0), (13, 0.0), (17, np.inf), (19, -np.inf), (23, big)):
        xa[::step] = v
    for slope in (0.01, 0.2, 1.0, 1.5, 3.0, -0.5, 0.0, -2.0, 1e-30):
        with np.errstate(over="ignore", invalid="ignore"):
            want = np.where(xa > 0, xa, xa * slope).astype(dtype)
            got = dygrad.nn.functional.leaky_relu(dygrad.tensor(xa), slope).numpy()
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


def test_half_precision_softplus_logsigmoid_pow() -> None:
    # float16 is computed in float32 and rounded once (PyTorch's way): softplus below its
    # threshold does not overflow where float16's exp would (from 11.1 on), and results are the
    # exact value rounded to float16 (within one float16 ulp).
    x16 = np.array([-20, -11.2, -1, 0, 0.377, 11.0, 11.2, 12, 15, 19.9, 25], np.float16)
    x64 = x16.astype(np.float64)
    F = dygrad.nn.functional
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sp = F.softplus(dygrad.tensor(x16)).numpy()
        ls = F.logsigmoid(dygrad.tensor(x16)).numpy()
    want_sp = np.where(x64 > 20, x64, np.log1p(np.exp(np.minimum(x64, 20))))
    want_ls = -np.logaddexp(0, -x64)
    for got, want in ((sp, want_sp), (ls, want_ls)):
        assert got.dtype == np.float16 and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=2 ** -10, atol=1e-7)
    # Half-precision powers go through NumPy's power, as PyTorch's go through pow.
    p16 = np.abs(x16) + np.float16(0.5)
    for e in (3, -2, 0.5, -0.5):
        np.testing.assert_array_equal((dygrad.tensor(p16) ** e).numpy(), p16**e)


def test_branchless_where_keeps_np_where_for_out_of_range_python_ints() -> None:
    from dygrad.backend import branchless_where

    c = np.arange(5000) % 3 == 0
    a = np.zeros(5000, np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = np.where(c, a, 70000)
        except OverflowError:
            pytest.skip("this NumPy refuses the value itself")
        got = branchless_where(c, a, 70000)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int8])
@pytest.mark.parametrize("shape", [(128, 10), (64, 2), (4, 80, 7), (8, 10), (128, 100), (300,)])
@pytest.mark.parametrize("axis", [-1, 1, (1,), (-1,), 0, None, (0, 1)])
def test_extreme_is_numpy_max_and_min_bit_for_bit(dtype, shape, axis) -> None:
    # Short last axes of many rows go through a transposed copy; everything else is NumPy's.
    from dygrad.backend import extreme

    nd = len(shape)
    if axis is not None and any(not -nd <= a < nd for a in np.atleast_1d(axis)):
        pytest.skip("no such axis")
    rng = np.random.default_rng(hash((shape, str(axis))) % 2**32)
    x = (rng.standard_normal(shape) * 50).astype(dtype)
    if np.dtype(dtype).kind == "f":
        flat = x.reshape(-1)
        flat[::17] = np.nan
        flat[5::23] = -np.inf
        flat[7::29] = -0.0
    for keepdims in (False, True):
        for which, ref in ((np.maximum, np.max), (np.minimum, np.min)):
            got = extreme(x, axis, keepdims, which)
            want = ref(x, axis=axis, keepdims=keepdims)
            assert got.shape == want.shape and got.dtype == want.dtype
            # (Values and NaN; where -0.0 and +0.0 tie the zero's sign may differ, as between
            # NumPy's row and column reductions themselves.)
            np.testing.assert_array_equal(got, want)


def test_extreme_of_strided_and_empty_arrays() -> None:
    from dygrad.backend import extreme

    x = np.arange(256 * 10, dtype=np.float32).reshape(256, 10)[:, ::2]  # not contiguous
    np.testing.assert_array_equal(extreme(x, -1, True, np.maximum), x.max(-1, keepdims=True))
    e = np.zeros((0, 5), np.float32)
    np.testing.assert_array_equal(extreme(e, -1, False, np.maximum), e.max(-1))
    with pytest.raises(ValueError):
        extreme(e, None, False, np.maximum)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8])
def test_sign_as_pytorch_gives_it(dtype) -> None:
    # NaN has sign 0 and -0.0 sign +0.0 (PyTorch's (0 < x) - (x < 0)), in the input's dtype.
    vals = [-3, 0, 5, 7] if np.dtype(dtype).kind != "u" else [0, 5, 7]
    x = np.array(vals, dtype)
    got = dygrad.sign(dygrad.tensor(x)).numpy()
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, (x > 0).astype(int) - (x < 0).astype(int))
    if np.dtype(dtype).kind == "f":
        special = dygrad.sign(dygrad.tensor(np.array([np.nan, -0.0, -np.inf, np.inf], dtype)))
        np.testing.assert_array_equal(special.numpy(), [0, 0, -1, 1])
        assert not np.signbit(special.numpy()[:2]).any()
        assert dygrad.sign(dygrad.tensor(np.array(-2.5, dtype))).item() == -1


def test_sign_of_bool_is_itself() -> None:
    got = dygrad.sign(dygrad.tensor([True, False]))
    assert got.dtype == dygrad.bool and got.tolist() == [True, False]


@pytest.mark.parametrize("loss", ["smooth_l1_loss", "huber_loss"])
def test_smooth_l1_and_huber_slopes_on_arrays_and_tensors(loss) -> None:
    # The array rule (a clip) and the tensor rule (create_graph: a select) give the same slope:
    # x - y within the threshold, its sign times the threshold beyond; NaN passes NaN on, as in
    # PyTorch; beta = 0 is L1 (sign, NaN giving 0).
    from dygrad.nn import functional as F

    fn = getattr(F, loss)
    key = "beta" if loss == "smooth_l1_loss" else "delta"
    d = np.array([np.nan, 0.25, 0.5, -0.5, 0.75, 2.0, -3.0, 0.0], np.float32)
    for thr in (0.5, 2.0) + ((0.0,) if key == "beta" else ()):
        slope = np.clip(d / thr, -1, 1) if thr else np.nan_to_num(np.sign(d))
        if key == "delta":
            slope = slope * thr
        for create_graph in (False, True):
            x = dygrad.tensor(d, requires_grad=True)
            (g,) = dygrad.autograd.grad(fn(x, dygrad.zeros(8), reduction="sum", **{key: thr}), x,
                                        create_graph=create_graph)  # fmt: skip
            got = g.detach().numpy()
            if create_graph:  # the select's NaN: the sign of NaN, 0 (PyTorch's double
                got, want = got[1:], slope[1:]  # backward rule is also a select)
            else:
                want = slope
            np.testing.assert_array_equal(got, want.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_leaky_relu_gradient_is_the_select_bit_for_bit(dtype) -> None:
    # The array rule maps the sign mask to {slope, 1} and multiplies: the select's numbers,
    # signed zeros, infinities and NaN included, for any slope.
    from dygrad.ops.nnops import _slope_select

    rng = np.random.default_rng(7)
    x = rng.standard_normal(6000).astype(dtype)
    x[::7], x[::11], x[::13] = 0.0, -0.0, np.nan
    g = rng.standard_normal(6000).astype(dtype)
    g[::17], g[::19], g[::23] = np.inf, np.nan, -0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf * 0 in both
        for slope in (0.01, 0.1, 0.2, 1 / 3, 0.5, 0.99, 1.0, 2.0, 5.5, 0.0, -0.3, 1e-8):
            got = _slope_select(g, x > 0, slope)
            want = np.where(x > 0, g, g * slope)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_review_edge_cases_of_the_array_rules() -> None:
    # Cases where the faster array rules first differed from the old ones and from PyTorch.
    from dygrad.nn import functional as F

    # smooth_l1 with a beta that rounds to 0 in the dtype: the select (0 where x == y), no 0/0.
    x = dygrad.tensor(np.array([0.0, 1.0, -1.0, 1e-3], np.float16), requires_grad=True)
    y = dygrad.tensor(np.array([0.0, 1.0, 0.0, 0.0], np.float16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (g,) = dygrad.autograd.grad(F.smooth_l1_loss(x, y, reduction="sum", beta=1e-8), x)
    np.testing.assert_array_equal(g.numpy(), [0, 0, -1, 1])
    # leaky_relu with slope -0.0: g * -0.0 flips the sign of each zero.
    x = dygrad.tensor([-1.0, -2.0, 3.0], requires_grad=True)
    F.leaky_relu(x, -0.0).backward(dygrad.tensor([1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(np.signbit(x.grad.numpy()), [True, False, False])
    # A 2-norm that underflows to 0: the gradient is x * 0 (PyTorch: 0), not x.
    x = dygrad.tensor([[3e-25, -4e-25], [3.0, 4.0]], requires_grad=True)
    x.norm(2, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.array([[0.0, -0.0], [0.6, 0.8]], np.float32))
    assert list(np.signbit(x.grad.numpy()[0])) == [False, True]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
@pytest.mark.parametrize("shape,k", [((128, 512), 1), ((3, 4, 100), 2), ((7,), 1), ((5, 0), 1),
                                     ((0, 5), 1), ((2, 3, 4), 3), ((64, 3000), 1)])  # fmt: skip
def test_sum_last_is_the_kept_sum_over_the_last_axes(dtype, shape, k) -> None:
    # BLAS rows for float32/float64 (to float rounding), NumPy's own sum otherwise (exactly);
    # strided input takes NumPy's sum too.
    from dygrad.backend import sum_last

    rng = np.random.default_rng(len(shape) * 10 + k)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    axes = tuple(range(len(shape) - k, len(shape)))
    want = x.sum(axis=axes, keepdims=True)
    for a, w in ((x, want), (x[..., ::-1], x[..., ::-1].sum(axis=axes, keepdims=True))):
        got = sum_last(a, k)
        assert got.shape == w.shape and got.dtype == w.dtype
        if np.dtype(dtype) in (np.float32, np.float64) and a.flags.c_contiguous:
            scale = np.abs(a).sum(axis=axes, keepdims=True) + 1
            assert np.all(np.abs(got - w) <= 8 * np.finfo(dtype).eps * scale)
        else:
            np.testing.assert_array_equal(got, w)


@pytest.mark.parametrize("idx", [[[1], [2]], [[1, 1], [2, 0]]])
def test_gather_gradient_lands_as_an_add_into_zeros(idx) -> None:
    # PyTorch's gather backward is a scatter_add into zeros: a -0.0 gradient lands as +0.0 and
    # repeated indices add up, whether one index per row (assigned) or several (np.add.at).
    import dygrad

    x = dygrad.zeros(2, 3, requires_grad=True)
    g = np.full((2, len(idx[0])), -0.0, np.float32)
    x.gather(1, dygrad.tensor(idx)).backward(dygrad.tensor(g))
    grad = x.grad.numpy()
    assert not np.signbit(grad).any() and not grad.any()
    x.grad = None
    x.gather(1, dygrad.tensor(idx)).backward(dygrad.ones(2, len(idx[0])))
    want = np.zeros((2, 3), np.float32)
    np.add.at(want, (np.arange(2)[:, None], np.array(idx)), 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), want)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_backend_mean_has_the_bits_of_ndarray_mean(dtype) -> None:
    # Every axis choice, kept or not, over shapes with size-1 and empty axes: the same array
    # (dtype, shape, values, NaN included) as x.mean(axis, keepdims=, dtype=x.dtype), which
    # divides a float32 sum in float64; the rounding of a float32 division would differ.
    from dygrad.backend import mean

    rng = np.random.default_rng(4)
    shapes = [(), (1,), (7,), (3, 1), (2, 0), (4, 5, 3), (1, 6, 2), (300,)]
    for shape in shapes:
        x = (rng.standard_normal(shape) * 300 + 7).astype(dtype)
        nd = len(shape)
        axes: list = [None, *range(nd), *range(-nd, 0)]
        if nd > 1:
            axes += [(0, nd - 1), tuple(range(nd))]
        for axis in axes:
            for keep in (False, True):
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    got = mean(x, axis, keep)
                    want = np.asarray(x.mean(axis=axis, keepdims=keep, dtype=x.dtype))
                assert type(got) is np.ndarray
                assert got.dtype == want.dtype and got.shape == want.shape, (shape, axis, keep)
                np.testing.assert_array_equal(got, want)
    # where the division's rounding shows: 16,777 is no float16, so a float16 quotient differs
    x = np.full((16777, 2), 0.01, dtype)
    for axis in (None, 0):
        np.testing.assert_array_equal(mean(x, axis), x.mean(axis=axis, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_against_its_definition(dtype, alpha) -> None:
    # elu(x) = x for x > 0, alpha * expm1(x) otherwise (-0.0 stays -0.0, as PyTorch's kernel);
    # its gradient alpha * exp(x) where x <= 0 and 1 elsewhere (a NaN input passes g on, as in
    # PyTorch); infinities included.
    from dygrad.nn import functional as F

    rng = np.random.default_rng(11)
    x = (rng.standard_normal(3000) * 4).astype(dtype)
    x[::7], x[::11], x[::13], x[::17], x[::19] = 0.0, -0.0, np.nan, np.inf, -np.inf
    g = rng.standard_normal(3000).astype(dtype)
    with np.errstate(all="ignore"):
        neg = (np.expm1(np.minimum(x, 0)) * dtype(alpha)).astype(dtype)
        want = np.where(x > 0, x, neg)
        want[x == 0] = x[x == 0] * (1 if alpha > 0 else -1)  # the sign of zero kept
        # (PyTorch's elu_backward: the exp branch where x <= 0, g elsewhere, NaN included)
        want_g = np.where(x <= 0, g * (np.exp(np.minimum(x, 0)) * dtype(alpha)).astype(dtype), g)
    t = dygrad.tensor(x, requires_grad=True)
    y = F.elu(t, alpha)
    y.backward(dygrad.tensor(g))
    np.testing.assert_array_equal(y.detach().numpy(), want)
    if alpha <= 1:
        np.testing.assert_array_equal(np.signbit(y.detach().numpy()), np.signbit(want))
    np.testing.assert_allclose(t.grad.numpy(), want_g, rtol=2e-3 if dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("beta,threshold", [(1, 20), (1, 50), (1, 5), (2, 20), (1, -3)])
def test_softplus_against_its_definition(dtype, beta, threshold) -> None:
    # log1p(exp(beta x)) / beta, x itself where beta x > threshold (float16 computed in float32);
    # the gradient sigmoid(beta x), 1 above the threshold. The forward's maximum and the
    # backward's unselected product (beta 1, where they give the same numbers) included.
    from dygrad.nn import functional as F

    rng = np.random.default_rng(5)
    x = (rng.standard_normal(4000) * 12).astype(dtype)
    x[::7], x[::11], x[::13], x[::17], x[::19] = 0.0, -0.0, np.nan, np.inf, -np.inf
    x[::23] = threshold / beta
    x[1::23] = np.nextafter(dtype(threshold / beta), dtype(np.inf))
    g = rng.standard_normal(4000).astype(dtype)
    c = np.float32 if dtype == np.float16 else dtype
    with np.errstate(all="ignore"):
        xc = x.astype(c)
        bx = xc * c(beta)
        soft = np.log1p(np.exp(np.minimum(bx, c(threshold)))) / c(beta)
        want = np.where(bx > threshold, xc, soft).astype(dtype)
        xb = x * dtype(beta)
        sig = (0.5 + 0.5 * np.tanh(xb * dtype(0.5))).astype(dtype)
        want_g = np.where(xb > threshold, g, g * sig)
    t = dygrad.tensor(x, requires_grad=True)
    y = F.softplus(t, beta, threshold)
    y.backward(dygrad.tensor(g))
    np.testing.assert_array_equal(y.detach().numpy(), want)
    np.testing.assert_allclose(t.grad.numpy(), want_g, rtol=2e-3 if dtype == np.float16 else 1e-6)


def test_sum_last_is_as_accurate_as_numpy() -> None:
    # Mean absolute error against float64 over rows with large offsets (where the order of the
    # additions shows): no worse than NumPy's pairwise sum, short rows and 128-blocks alike.
    from dygrad.backend import sum_last

    rng = np.random.default_rng(3)
    for n in (10, 128, 512, 2048):
        ours = numpys = 0.0
        for offset in (0.0, 100.0, 1000.0, 1e4):
            x = (rng.standard_normal((64, n)) + offset).astype(np.float32)
            exact = x.astype(np.float64).sum(-1)
            ours += float(np.abs(sum_last(x)[:, 0] - exact).mean())
            numpys += float(np.abs(x.sum(-1) - exact).mean())
        assert ours <= 1.3 * numpys, (n, ours, numpys)


@pytest.mark.parametrize("create_graph", [False, True])
def test_hardtanh_gradient_passes_at_nan_and_stops_at_the_bounds(create_graph) -> None:
    # PyTorch's hardtanh_backward: 0 where x <= min_val or x >= max_val, else the gradient, so a
    # NaN input passes its gradient on (relu6 too).
    from dygrad.nn import functional as F

    x = np.array([np.nan, -2.0, -1.0, 0.5, 1.0, 3.0, -np.inf], np.float32)
    g = np.array([2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], np.float32)
    for fn, lo, hi in ((F.hardtanh, -1.0, 1.0), (F.relu6, 0.0, 6.0)):
        t = dygrad.tensor(x, requires_grad=True)
        (got,) = dygrad.autograd.grad(fn(t), t, dygrad.tensor(g), create_graph=create_graph)
        want = np.where((x <= lo) | (x >= hi), 0.0, g).astype(np.float32)
        np.testing.assert_array_equal(got.detach().numpy(), want)


def test_elu_family_gradient_at_nan_is_the_linear_branch() -> None:
    # PyTorch's elu_backward (and its is_result form, for elu_): x <= 0 takes the exp branch,
    # everything else, NaN included, g * scale.
    from dygrad.nn import functional as F

    x = np.array([np.nan, -1.0, 2.0], np.float32)
    for fn, scale in ((F.elu, 1.0), (F.selu, 1.0507009873554805), (lambda t: F.elu(t, 0.5), 1.0)):
        t = dygrad.tensor(x, requires_grad=True)
        fn(t).backward(dygrad.ones(3))
        assert t.grad.numpy()[0] == np.float32(scale) and t.grad.numpy()[2] == np.float32(scale)
    t = dygrad.tensor(x, requires_grad=True)
    y = t * 1
    F.elu(y, inplace=True)
    y.backward(dygrad.ones(3))
    np.testing.assert_allclose(t.grad.numpy(), [1.0, np.exp(-1.0), 1.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sigmoid_and_silu_gradients_bit_for_bit(dtype) -> None:
    # sigmoid: PyTorch's sigmoid_backward order, g * (1 - out) * out; silu: (g * s) * (x(1-s) + 1).
    from dygrad.nn import functional as F

    rng = np.random.default_rng(9)
    x = (rng.standard_normal(3000) * 5).astype(dtype)
    x[::7], x[::11], x[::13] = 0.0, np.nan, -np.inf
    g = rng.standard_normal(3000).astype(dtype)
    for create_graph in (False, True):
        t = dygrad.tensor(x, requires_grad=True)
        out = dygrad.sigmoid(t)
        (got,) = dygrad.autograd.grad(out, t, dygrad.tensor(g), create_graph=create_graph)
        o = out.detach().numpy()
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(got.detach().numpy(), g * (1 - o) * o)
        (got,) = dygrad.autograd.grad(F.silu(t), t, dygrad.tensor(g), create_graph=create_graph)
        with np.errstate(all="ignore"):
            s = dygrad.sigmoid(dygrad.tensor(x)).numpy()
            want = g * s * (x * (dtype(1) - s) + dtype(1))
        np.testing.assert_array_equal(got.detach().numpy(), want)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_mm_and_its_gradients_have_the_bits_of_matmul(dtype) -> None:
    # mm's forward and rules take ndarray.dot for speed: the result must be `@`'s (dtype, shape,
    # C order, every bit) over shapes with empty and size-1 dimensions and transposed operands.
    import dygrad

    rng = np.random.default_rng(5)
    for m, k, n in [(100, 16, 16), (3, 1, 4), (1, 300, 1), (0, 3, 2), (3, 0, 2), (64, 257, 3)]:
        x = (rng.standard_normal((m, k)) * 3).astype(dtype)
        y = (rng.standard_normal((n, k)) * 3).astype(dtype).T  # a transposed view
        for a, b in [(x, y), (np.asfortranarray(x), np.ascontiguousarray(y))]:
            got = dygrad.mm(dygrad.from_numpy(a), dygrad.from_numpy(b)).numpy()
            want = a @ b
            assert got.dtype == want.dtype and got.shape == want.shape
            assert got.flags.c_contiguous == want.flags.c_contiguous
            np.testing.assert_array_equal(got, want)
        if dtype in (np.float16, np.float32, np.float64):
            xt = dygrad.tensor(x, requires_grad=True)
            yt = dygrad.tensor(y, requires_grad=True)
            g = (rng.standard_normal((m, n)) * 3).astype(dtype)
            dygrad.mm(xt, yt).backward(dygrad.tensor(g))
            np.testing.assert_array_equal(xt.grad.numpy(), g @ y.T)
            np.testing.assert_array_equal(yt.grad.numpy(), x.T @ g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradient_by_ones_product_has_the_bits_of_matmul(dtype) -> None:
    # sum_to_shape's (rows, n) -> (n,) path and sum_last take ndarray.dot with ones: the bits of
    # the same product written with `@`.
    from dygrad.backend import _BLOCK, sum_last, sum_to_shape

    rng = np.random.default_rng(6)
    for rows, n in [(100, 16), (128, 512), (4, 1024), (1, 3), (2048, 10), (5, 1)]:
        g = rng.standard_normal((rows, n)).astype(dtype)
        np.testing.assert_array_equal(sum_to_shape(g, (n,)), np.ones(rows, dtype) @ g)
        if n <= _BLOCK:
            want = (g @ np.ones(n, dtype)).reshape(rows, 1)
        else:  # sums of blocks of _BLOCK, then NumPy's sum of those
            want = (g.reshape(-1, _BLOCK) @ np.ones(_BLOCK, dtype)).reshape(rows, -1)
            want = want.sum(axis=-1).reshape(rows, 1)
        np.testing.assert_array_equal(sum_last(g, 1), want)
