"""explain(): chain-rule steps and totals, checked against autograd.grad."""

import io

import numpy as np
import pytest

import dygrad as torch
from dygrad.viz import explain


def run(o, x, **kw):
    buf = io.StringIO()
    e = explain(o, x, file=buf, **kw)
    return e, buf.getvalue()


def test_text_example_named():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    o = z.mean()
    e, text = run(o, x, names=dict(x=x, y=y, z=z, o=o))
    np.testing.assert_allclose(e.step("o", "z").local, 0.25)
    np.testing.assert_allclose(e.step("z", "y").local, 18)
    np.testing.assert_allclose(e.step("y", "x").local, 1)
    assert e.step("z", "y").symbolic == "6·y" and e.step("z", "y").uses == 2
    np.testing.assert_allclose(e.total, 4.5)
    assert e.matches and len(e.chains) == 1
    for s in ("do/dz = 1/4", "dz/dy = 6·y = 18", "dy/dx = 1", "total do/dx = 4.5", "matches"):
        assert s in text
    assert x.grad is None  # graph kept, nothing accumulated
    o.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4.5)


def test_unnamed_every_node_is_a_step():
    x = torch.ones(2, 2, requires_grad=True)
    o = ((x + 2) * (x + 2) * 3).mean()
    e, _ = run(o, x)
    assert len(e.steps) >= 4
    np.testing.assert_allclose(e.total, 4.5)
    prod = np.prod([s.local for s in e.chains[0].steps[1:]], axis=0) * 0.25
    np.testing.assert_allclose(prod, e.chains[0].contribution)


@pytest.mark.parametrize("case", ["broadcast", "twice", "matmul", "tanh"])
def test_total_matches_autograd(case):
    rng = np.random.default_rng(1)
    a = torch.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = torch.tensor(rng.standard_normal(2), requires_grad=True)
    w = torch.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    if case == "broadcast":
        o, x = ((a * b + b) ** 2).sum(), b
    elif case == "twice":
        h = a.exp()
        o, x = (h * a + h.sin()).sum(), a
    elif case == "matmul":
        o, x = (a @ w).tanh().sum(), w
    else:
        o, x = (a.tanh() * a).mean(), a
    e, text = run(o, x)
    (g,) = torch.autograd.grad(o, x, retain_graph=True)
    np.testing.assert_allclose(e.total, g.numpy(), rtol=1e-6)
    np.testing.assert_allclose(e.autograd, g.numpy(), rtol=1e-6)
    assert "matches" in text and e.matches


def test_two_paths_sum():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    s = a * 3
    u = (s * a).sum()
    e, text = run(u, a, names=dict(a=a, s=s, u=u))
    assert len(e.chains) == 2 and "path 2 of 2" in text
    np.testing.assert_allclose(sum(c.contribution for c in e.chains), [6.0, 12.0])
    np.testing.assert_allclose(e.total, [6.0, 12.0])


def test_errors():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad_fn"):
        explain(x, x)
    y = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not depend"):
        explain((x * 2).sum(), y)
