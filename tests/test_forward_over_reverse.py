"""Forward-over-reverse: the tangent of a gradient taken with create_graph=True, against finite
differences. Backward rules call helper ops (index_backward, scatter_zeros, ...) that forward mode
reaches only this way, so every differentiable helper of the op table is run here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from op_cases import BY_ID, HELPERS, arrays, assert_close, cotangents, outputs, seed_of

import dygrad
import dygrad.autograd.forward_ad as fwAD
from dygrad.ops.registry import REGISTRY

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
EPS = 1e-6


def _params() -> list[Any]:
    return [
        pytest.param(helper, case_id, id=f"{helper}-{case_id}")
        for helper, ids in HELPERS.items()
        if REGISTRY[helper].differentiable
        for case_id in ids
        if BY_ID[case_id].fd and not BY_ID[case_id].xfail.get("gg")
    ]


def _gradients(case: Any, xs: list[np.ndarray], ws: list[np.ndarray], tangents: Any) -> Any:
    """Gradients of <ws, f(xs)> for the case's differentiable inputs; with `tangents` (for xs and
    ws), their tangents instead, computed by forward mode over create_graph backward."""
    with fwAD.dual_level():
        ts = _leaves(case, xs)
        ins = ts
        if tangents is not None:
            ins = [
                fwAD.make_dual(t, dygrad.tensor(v)) if a.differentiable else t
                for a, t, v in zip(case.args, ts, tangents[0])
            ]
        ys = [y for y in outputs(case.fn(dygrad, *ins)) if y.requires_grad]
        wt = [dygrad.tensor(w) for w in ws]
        if tangents is not None:
            wt = [fwAD.make_dual(w, dygrad.tensor(v)) for w, v in zip(wt, tangents[1])]
        wrt = [t for a, t in zip(case.args, ts) if a.differentiable]
        gs = dygrad.autograd.grad(ys, wrt, wt, create_graph=True, allow_unused=True)
        if tangents is None:
            return [None if g is None else g.detach().numpy().copy() for g in gs]
        return [None if g is None else fwAD.unpack_dual(g).tangent for g in gs]


@pytest.mark.parametrize(("helper", "case_id"), _params())
def test_tangent_of_gradient_matches_finite_differences(helper: str, case_id: str) -> None:
    case = BY_ID[case_id]
    xs = arrays(case, "float64")
    ws = cotangents([dygrad.tensor(y) for y in _ys(case, xs)], case.id + "for")
    rng = np.random.default_rng(seed_of(case.id, "for"))
    vx = [rng.standard_normal(x.shape) if a.differentiable else None for a, x in zip(case.args, xs)]
    vw = [rng.standard_normal(w.shape) for w in ws]
    got = _gradients(case, xs, ws, (vx, vw))

    def shifted(sign: float) -> list[np.ndarray | None]:
        xs2 = [x if v is None else x + sign * EPS * v for x, v in zip(xs, vx)]
        return _gradients(case, xs2, [w + sign * EPS * v for w, v in zip(ws, vw)], None)

    hi, lo = shifted(1.0), shifted(-1.0)
    for i, (t, h, lw) in enumerate(zip(got, hi, lo)):
        if h is None:
            continue
        num = (h - lw) / (2 * EPS)
        have = np.zeros_like(num) if t is None else t.detach().numpy()
        assert_close(have, num, 1e-5, 1e-6, f"tangent of gradient {i} vs finite differences")


def _leaves(case: Any, xs: list[np.ndarray]) -> list[Any]:
    return [dygrad.tensor(v.copy(), requires_grad=a.differentiable) for a, v in zip(case.args, xs)]


def _ys(case: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [
        y.detach().numpy() for y in outputs(case.fn(dygrad, *_leaves(case, xs))) if y.requires_grad
    ]


def test_random_fill_leaves_no_stale_tangent() -> None:
    # uniform_/normal_ write arrays directly, not through an op: the old tangent must not survive.
    with fwAD.dual_level():
        y = fwAD.make_dual(dygrad.zeros(3), dygrad.ones(3)) * 2
        y.uniform_()
        assert fwAD.unpack_dual(y).tangent is None
        assert fwAD.unpack_dual(y * 3).tangent is None
