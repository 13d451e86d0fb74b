"""Forward-mode AD: every op's jvp rule, through the op table (tests/op_cases.py), against finite
differences, against reverse mode (<u, J v> == <J^T u, v>) and against PyTorch's forward AD; then
the dual-level API (nesting, in-place ops, errors) by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from op_cases import CASES, DTYPES, Case, arrays, assert_close, cotangents, grads, outputs, seed_of

import dygrad
import dygrad.autograd.forward_ad as fwAD
from dygrad.ops.registry import REGISTRY

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0:UserWarning"),
]
EPS = 1e-6
FD_TOL = (1e-5, 1e-6)


def params(check: str, keep: Callable[[Case], bool] = lambda c: True) -> list[Any]:
    out = []
    for c in CASES:
        if not (keep(c) and c.grad and c.has_grad_inputs):
            continue
        reason = c.xfail.get(check) or c.xfail.get("grad")
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


def _tangents(case: Case, dtype: str) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed_of(case.id, "jvp"))
    return [
        rng.standard_normal(a.shape).astype(dtype) if a.differentiable else None for a in case.args
    ]


def _jvp(m: Any, fwad: Any, case: Case, dtype: str) -> tuple[list[Any], list[Any]]:
    """Outputs and their tangents (None where an output has none) for the case's tangents."""
    vals = arrays(case, dtype)
    with fwad.dual_level():
        xs = []
        for a, v, t in zip(case.args, vals, _tangents(case, dtype)):
            x = m.tensor(v.copy())
            xs.append(x if t is None else fwad.make_dual(x, m.tensor(t)))
        ys = outputs(case.fn(m, *xs))
        unpacked = [fwad.unpack_dual(y) for y in ys]
        return [u.primal for u in unpacked], [u.tangent for u in unpacked]


def _np(t: Any) -> np.ndarray:
    return np.array(t.detach().numpy())


def test_every_differentiable_input_has_a_jvp_rule() -> None:
    missing = [
        f"{name} (input {i})"
        for name, op in REGISTRY.items()
        for i, (v, j) in enumerate(zip(op.vjps, op.jvps))
        if v is not None and j is None
    ]
    assert not missing, "ops without a forward-mode rule: " + ", ".join(missing)


@pytest.mark.parametrize("case", params("jvp_fd", lambda c: c.fd))
def test_jvp_matches_finite_differences(case: Case) -> None:
    _, tans = _jvp(dygrad, fwAD, case, "float64")
    vals = arrays(case, "float64")
    vs = _tangents(case, "float64")

    def run(sign: float) -> list[np.ndarray]:
        xs = [dygrad.tensor(v if t is None else v + sign * EPS * t) for v, t in zip(vals, vs)]
        return [_np(y) for y in outputs(case.fn(dygrad, *xs))]

    hi, lo = run(1.0), run(-1.0)
    for i, t in enumerate(tans):
        if t is None:
            continue
        num = (hi[i] - lo[i]) / (2 * EPS)
        assert_close(_np(t), num, *FD_TOL, f"tangent of output {i} vs finite differences")


@pytest.mark.parametrize("case", params("jvp_reverse"))
def test_jvp_agrees_with_reverse_mode(case: Case) -> None:
    """<u, J v> computed forward equals <J^T u, v> computed backward."""
    ys, tans = _jvp(dygrad, fwAD, case, "float64")
    rev = grads(dygrad, case, "float64")
    live = [i for i, y in enumerate(rev["ys"]) if y.requires_grad]
    assert [i for i, t in enumerate(tans) if t is not None] == live, "outputs with tangents"
    if rev["gs"] is None:
        return
    ws = cotangents([rev["ys"][i] for i in live], case.id + "float64")
    forward = sum(float(np.sum(w * _np(tans[i]))) for i, w in zip(live, ws))
    vs = [v for v, a in zip(_tangents(case, "float64"), case.args) if a.differentiable]
    backward = sum(float(np.sum(_np(g) * v)) for g, v in zip(rev["gs"], vs) if g is not None)
    assert forward == pytest.approx(backward, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", params("jvp_torch"))
def test_jvp_matches_torch(case: Case, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    import torch.autograd.forward_ad as tfw

    try:
        _, want = _jvp(torch, tfw, case, dtype)
    except (NotImplementedError, RuntimeError) as err:
        if "forward" not in str(err).lower():
            raise
        pytest.skip(f"PyTorch has no forward AD here: {str(err).splitlines()[0]}")
    _, got = _jvp(dygrad, fwAD, case, dtype)
    rtol, atol = case.tols(dtype)
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            continue
        assert g is not None, f"output {i} has no tangent"
        assert str(g.dtype) == str(w.dtype), f"tangent {i} dtype"
        assert_close(_np(g), w.detach().numpy(), rtol * 10, atol * 10, f"tangent of output {i}")


# --- the dual-level API, by hand ----------------------------------------------------------------
def test_nested_levels_give_second_derivatives() -> None:
    x = dygrad.tensor([0.5, 2.0], dtype=dygrad.float64)
    one = dygrad.ones(2, dtype=dygrad.float64)
    with fwAD.dual_level() as outer:
        xo = fwAD.make_dual(x, one)
        with fwAD.dual_level() as inner:
            assert (outer, inner) == (0, 1)
            xi = fwAD.make_dual(xo, one)
            y = xi.sin() * xi**3
            d1 = fwAD.unpack_dual(y).tangent  # inner level: f'(x)
            d2 = fwAD.unpack_dual(d1, level=0).tangent  # outer tangent of f': f''(x)
            assert fwAD.unpack_dual(d1).tangent is None  # no tangent of its own level
    v = x.numpy()
    np.testing.assert_allclose(d1.detach().numpy(), np.cos(v) * v**3 + 3 * np.sin(v) * v**2)
    f2 = -np.sin(v) * v**3 + 6 * np.cos(v) * v**2 + 6 * np.sin(v) * v
    np.testing.assert_allclose(d2.numpy(), f2)


def test_inplace_ops_update_the_tangent_and_views_are_refused() -> None:
    with fwAD.dual_level():
        z = fwAD.make_dual(dygrad.tensor([1.0, 2.0, 3.0]), dygrad.tensor([1.0, 0.0, 2.0]))
        z.mul_(z)  # tangent 2 z t
        np.testing.assert_allclose(fwAD.unpack_dual(z).tangent.numpy(), [2.0, 0.0, 12.0])
        z[0] = 5.0  # a constant written in: its tangent is 0
        np.testing.assert_allclose(fwAD.unpack_dual(z).tangent.numpy(), [0.0, 0.0, 12.0])
        with pytest.raises(RuntimeError, match="view of a dual tensor"):
            z[1:].add_(1)
        np.testing.assert_allclose(z.detach().numpy(), [5.0, 4.0, 9.0])  # nothing changed


def test_reverse_over_forward_and_forward_over_reverse() -> None:
    x = dygrad.tensor([1.0, 2.0], dtype=dygrad.float64, requires_grad=True)
    v = dygrad.tensor([1.0, -1.0], dtype=dygrad.float64)
    with fwAD.dual_level():
        y = (fwAD.make_dual(x, v).exp() * 3).sum()
        jv = fwAD.unpack_dual(y).tangent  # sum(3 e^x v)
        (g,) = dygrad.autograd.grad(jv, x)  # reverse over forward: 3 e^x v
        xd = fwAD.make_dual(x, v)
        (gx,) = dygrad.autograd.grad((xd.exp() * 3).sum(), xd, create_graph=True)
        hv = fwAD.unpack_dual(gx).tangent  # forward over reverse: 3 e^x v
    want = 3 * np.exp([1.0, 2.0]) * np.array([1.0, -1.0])
    np.testing.assert_allclose(g.numpy(), want)
    np.testing.assert_allclose(hv.detach().numpy(), want)


def test_dual_api_errors() -> None:
    x = dygrad.ones(3)
    with pytest.raises(RuntimeError, match="no level exists"):
        fwAD.make_dual(x, x)
    assert fwAD.unpack_dual(x) == (x, None)
    with pytest.raises(RuntimeError, match="no dual level is open"):
        fwAD.exit_dual_level()
    with fwAD.dual_level():
        with pytest.raises(RuntimeError, match="different size"):
            fwAD.make_dual(x, dygrad.ones(2))
        with pytest.raises(ValueError, match="floating point"):
            fwAD.make_dual(dygrad.ones(3, dtype=dygrad.int64), dygrad.ones(3))
        with pytest.raises(RuntimeError, match="dtype"):
            fwAD.make_dual(x, dygrad.ones(3, dtype=dygrad.float64))
        with pytest.raises(RuntimeError, match="level 3 is not open"):
            fwAD.make_dual(x, x, level=3)
        with pytest.raises(RuntimeError, match="innermost first"):
            with fwAD.dual_level():
                fwAD.exit_dual_level(level=0)
    assert dygrad.autograd.grad_mode.state.fw_levels == ()


def test_an_op_without_a_jvp_rule_names_itself() -> None:
    from dygrad.ops.registry import defop

    op = defop("_test_no_jvp", grad_fn="TestNoJvpBackward0", forward=lambda x: x * 2,
               vjp=(lambda g: g * 2,))  # fmt: skip
    try:
        with fwAD.dual_level():
            d = fwAD.make_dual(dygrad.ones(2), dygrad.ones(2))
            with pytest.raises(NotImplementedError, match="_test_no_jvp .TestNoJvpBackward0."):
                op(d)
    finally:
        del REGISTRY["_test_no_jvp"]


def test_dual_levels_are_per_thread() -> None:
    import threading

    seen = []
    with fwAD.dual_level():
        t = threading.Thread(target=lambda: seen.append(dygrad.autograd.grad_mode.state.fw_levels))
        t.start()
        t.join()
    assert seen == [()]
