"""NumPy applied to tensors never cuts the graph silently: ufuncs and common functions dispatch onto
the graph (values equal NumPy's, gradients equal the dygrad expression's), everything else raises
when a tensor requires grad and runs in NumPy when none does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
from dygrad._numpy_dispatch import UFUNCS

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

RNG = np.random.default_rng(0)
A = RNG.uniform(0.5, 1.5, (3, 4))
B = RNG.uniform(0.5, 1.5, (3, 4))
NONDIFF = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "isnan",
           "isinf", "isfinite", "logical_not", "floor_divide", "sign"}  # fmt: skip


def _leaf(a: np.ndarray) -> Any:
    return dygrad.tensor(a.copy(), requires_grad=True)


@pytest.mark.parametrize("name", sorted(UFUNCS))
def test_ufunc_runs_on_the_graph(name: str) -> None:
    uf = getattr(np, name)
    arrs = [A, B.T.copy() if name == "matmul" else B][: uf.nin]
    xs = [_leaf(a) for a in arrs]
    want = uf(*[a.astype(np.float64) for a in arrs])
    if name == "logical_not":
        xs = [x > 1 for x in xs]
    got = uf(*xs)
    assert isinstance(got, dygrad.Tensor)
    if name != "logical_not":
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    if name in NONDIFF:
        return
    assert got.grad_fn is not None, f"numpy.{name} lost the graph"
    got.sum().backward()
    # The same computation written with dygrad operators gives the same gradient.
    ys = [_leaf(a) for a in arrs]
    UFUNCS[name](*ys).sum().backward()
    for x, y in zip(xs, ys):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12)


FUNCS: list[tuple[str, Callable[[Any], Any]]] = [
    ("sum", lambda x: np.sum(x)),
    ("sum-axis-keepdims", lambda x: np.sum(x, axis=1, keepdims=True)),
    ("sum-axes", lambda x: np.sum(x, axis=(0, 1))),
    ("mean-axis", lambda x: np.mean(x, axis=0)),
    ("prod", lambda x: np.prod(x, axis=1)),
    ("var", lambda x: np.var(x)),
    ("var-ddof", lambda x: np.var(x, axis=0, ddof=1)),
    ("std", lambda x: np.std(x, axis=1)),
    ("max", lambda x: np.max(x)),
    ("amax-axis", lambda x: np.amax(x, axis=0)),
    ("min-keepdims", lambda x: np.min(x, keepdims=True)),
    ("amin-axis", lambda x: np.amin(x, axis=1, keepdims=True)),
    ("concatenate", lambda x: np.concatenate([x, x * 2], axis=1)),
    ("concatenate-none", lambda x: np.concatenate([x, x], axis=None)),
    ("stack", lambda x: np.stack([x, x * 3], axis=1)),
    ("where", lambda x: np.where(x > 1.0, x, 0.0)),
    ("transpose", lambda x: np.transpose(x)),
    ("transpose-axes", lambda x: np.transpose(x[None], (2, 0, 1))),
    ("reshape", lambda x: np.reshape(x, (4, 3))),
    ("squeeze", lambda x: np.squeeze(x[None])),
    ("expand_dims", lambda x: np.expand_dims(x, 1)),
    ("swapaxes", lambda x: np.swapaxes(x, 0, 1)),
    ("dot", lambda x: np.dot(x, x.T)),
    ("dot-scalar", lambda x: np.dot(x, 2.0)),
    ("clip", lambda x: np.clip(x, 0.8, 1.2)),
    ("ravel", lambda x: np.ravel(x)),
    ("flip", lambda x: np.flip(x, 0)),
]


@pytest.mark.parametrize("fn", [f for _, f in FUNCS], ids=[n for n, _ in FUNCS])
def test_function_runs_on_the_graph(fn: Callable[[Any], Any]) -> None:
    x = _leaf(A)
    got = fn(x)
    want = fn(A.copy())
    assert isinstance(got, dygrad.Tensor)
    assert got.grad_fn is not None
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    # Gradient against central differences of the NumPy function itself.
    w = RNG.standard_normal(np.shape(want))
    (got * dygrad.tensor(w)).sum().backward()
    num = np.zeros_like(A)
    for i in np.ndindex(A.shape):
        hi, lo = A.copy(), A.copy()
        hi[i] += 1e-6
        lo[i] -= 1e-6
        num[i] = (np.sum(w * fn(hi)) - np.sum(w * fn(lo))) / 2e-6
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-5, atol=1e-7)


def test_shape_queries() -> None:
    x = _leaf(A)
    assert np.shape(x) == (3, 4) and np.ndim(x) == 2 and np.size(x) == 12 and np.size(x, 1) == 4


@pytest.mark.parametrize(
    "call",
    [lambda x: np.cumsum(x), lambda x: np.floor(x), lambda x: np.sort(x),
     lambda x: np.add.reduce(x), lambda x: np.exp(x, out=np.empty((3, 4))),
     lambda x: np.linalg.norm(x)],
    ids=["cumsum", "floor-ufunc", "sort", "ufunc-method", "ufunc-out", "linalg-norm"],
)  # fmt: skip
def test_unsupported_numpy_raises_when_grad_is_required(call: Callable[[Any], Any]) -> None:
    x = _leaf(A)
    with pytest.raises((TypeError, RuntimeError), match="grad"):
        call(x)
    assert x.grad is None and x._vc[0] == 0


def test_unsupported_numpy_runs_without_grad() -> None:
    x = dygrad.tensor(A)
    got = np.cumsum(x, axis=1)
    assert isinstance(got, dygrad.Tensor)
    np.testing.assert_allclose(got.numpy(), np.cumsum(A, axis=1))
    np.testing.assert_allclose(np.floor(x).numpy(), np.floor(A))


def test_conversion_to_an_array_raises_pytorchs_error() -> None:
    x = _leaf(A)
    for convert in (np.asarray, np.array, lambda t: np.array([t, t])):
        with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires"):
            convert(x)
    assert np.asarray(x.detach()).shape == (3, 4)


def test_array_operand_on_the_left_stays_on_the_graph() -> None:
    x = _leaf(A)
    for y in (np.ones((3, 4)) * x, np.float64(2.0) - x, np.ones(4) @ x.T):
        assert isinstance(y, dygrad.Tensor) and y.grad_fn is not None
    assert (np.ones((3, 4)) * x).dtype == dygrad.float64
    assert (np.float64(2.0) * dygrad.ones(2)).dtype == dygrad.float32  # a NumPy scalar is a number
