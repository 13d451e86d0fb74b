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
