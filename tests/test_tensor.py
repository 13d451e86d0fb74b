"""Tensor creation, dtypes and promotion, attributes, conversions and printing through real
tensors, compared with PyTorch where it is installed."""

import numpy as np
import pytest

import dygrad

try:
    import torch
except ImportError:  # pragma: no cover - the oracle is optional
    torch = None

oracle = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def test_creation_functions_shapes_and_dtypes():
    assert dygrad.zeros(2, 3).shape == (2, 3) and dygrad.zeros(2, 3).dtype is dygrad.float32
    assert dygrad.ones((2,), dtype=dygrad.float64).dtype is dygrad.float64
    assert dygrad.full((2, 2), 7).dtype is dygrad.int64
    assert dygrad.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert dygrad.empty(3).shape == (3,)
    assert dygrad.arange(5).tolist() == [0, 1, 2, 3, 4] and dygrad.arange(5).dtype is dygrad.int64
    assert dygrad.arange(1, 2, 0.5).tolist() == [1.0, 1.5]
    assert dygrad.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert dygrad.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    r = dygrad.randint(0, 3, (100,))
    assert r.dtype is dygrad.int64 and 0 <= r.min().item() and r.max().item() < 3
    x = dygrad.randn(2, 3)
    for like in (dygrad.zeros_like, dygrad.ones_like, dygrad.rand_like, dygrad.randn_like):
        assert like(x).shape == (2, 3) and like(x).dtype is dygrad.float32
    assert dygrad.full_like(x, 2).tolist() == [[2.0] * 3] * 2
    assert dygrad.ones(2, requires_grad=True).requires_grad


def test_manual_seed_reproduces_draws():
    dygrad.manual_seed(3)
    a = dygrad.randn(4).tolist()
    dygrad.manual_seed(3)
    assert dygrad.randn(4).tolist() == a


def test_from_numpy_shares_and_tensor_copies():
    a = np.zeros(3, dtype=np.float64)
    t = dygrad.from_numpy(a)
    c = dygrad.tensor(a)
    at = dygrad.as_tensor(a)
    a[0] = 9
    assert t[0].item() == 9 and at[0].item() == 9 and c[0].item() == 0
    assert t.dtype is dygrad.float64


def test_tensor_infers_pytorch_dtypes():
    assert dygrad.tensor([1, 2]).dtype is dygrad.int64
    assert dygrad.tensor([1.0, 2]).dtype is dygrad.float32
    assert dygrad.tensor(True).dtype is dygrad.bool
    assert dygrad.tensor([]).dtype is dygrad.float32
    assert dygrad.tensor(np.float64(1.0)).dtype is dygrad.float64
    with pytest.raises(TypeError):
        dygrad.tensor(["a"])


def test_python_floats_are_rounded_once_to_the_dtype_asked_for():
    # PyTorch builds float64 tensors from Python floats directly (0.3 stays 0.3: through the
    # default float32 it was 0.30000001192092896), integers too (2**24 + 1 exact), and float16
    # through float32: 1 + 2**-11 + 2**-40 rounds to 1 + 2**-11 in float32, a tie that float16
    # breaks to 1.0 (directly it would be 1 + 2**-10).
    assert dygrad.tensor([0.3], dtype=dygrad.float64).tolist() == [0.3]
    assert dygrad.tensor(0.1, dtype=dygrad.float64).item() == 0.1
    assert dygrad.tensor([[1, 2.5e-300]], dtype=dygrad.float64).tolist() == [[1.0, 2.5e-300]]
    assert dygrad.tensor([16777217.0], dtype=dygrad.int64).item() == 16777217
    assert dygrad.tensor([1 + 2**-11 + 2**-40], dtype=dygrad.float16).item() == 1.0
    assert dygrad.tensor([0.3]).tolist() == [float(np.float32(0.3))]  # the default: float32
    assert dygrad.tensor([0.3], dtype=dygrad.float32).tolist() == [float(np.float32(0.3))]


def test_attributes_and_conversions():
    x = dygrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.size() == (2, 2) and x.size(1) == 2 and x.dim() == 2 and x.numel() == 4
    assert str(x.device) == "cpu" and repr(x.shape) == "torch.Size([2, 2])"
    assert x.sum().item() == 10.0 and x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(x).tolist() == x.tolist()
    assert len(x) == 2 and [r.tolist() for r in x] == [[1.0, 2.0], [3.0, 4.0]]
    assert float(x[0, 0]) == 1.0 and int(x[1, 1]) == 4 and bool(x[0, 0])
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        x.item()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(dygrad.tensor(1.0))
    assert (x > 2).tolist() == [[False, False], [True, True]]
    assert (x == x).all().item() and (x != 1).sum().item() == 3
    assert x.double().dtype is dygrad.float64 and x.long().dtype is dygrad.int64


PROMOTION = [
    (lambda m: m.tensor([1, 2], dtype=m.int32) + 2.5, "int32 + float scalar"),
    (lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor(1.5), "int32 + 0-d float32"),
    (lambda m: m.tensor([1.0], dtype=m.float32) + m.tensor(1.0, dtype=m.float64), "f32 + 0-d f64"),
    (lambda m: m.tensor([1.0], dtype=m.float16) + m.tensor([1.0], dtype=m.float64), "f16 + f64"),
    (lambda m: m.tensor([1], dtype=m.int32) + m.tensor([1], dtype=m.int64), "int32 + int64"),
    (lambda m: m.tensor([True]) + 1, "bool + int"),
    (lambda m: m.tensor([1, 2]) / m.tensor([2, 2]), "int / int"),
    (lambda m: m.tensor([1], dtype=m.int32) * m.tensor(2.0, dtype=m.float64), "int32 * 0-d f64"),
    (lambda m: m.tensor([1], dtype=m.uint8) + m.tensor([1], dtype=m.int8), "uint8 + int8"),
    (lambda m: m.tensor([1], dtype=m.int32) + m.tensor([1.0], dtype=m.float16), "int32 + f16"),
    (lambda m: m.tensor([3]) ** 2, "int ** int"),
    (lambda m: m.tensor([1.0]) > 0, "comparison"),
    (lambda m: m.tensor([1, 2]).sum(), "int sum"),
    (lambda m: m.tensor([True, False]).sum(), "bool sum"),
    (lambda m: m.tensor([1, 2]).exp(), "exp of int"),
]


@oracle
@pytest.mark.parametrize("fn", [p[0] for p in PROMOTION], ids=[p[1] for p in PROMOTION])
def test_type_promotion_matches_pytorch(fn):
    ours, theirs = fn(dygrad), fn(torch)
    assert str(ours.dtype) == str(theirs.dtype)
    np.testing.assert_allclose(ours.numpy().astype(float), theirs.numpy().astype(float))


def _pair(make):
    return make(dygrad), make(torch)


def _arr(m, data, dtype="float32", rg=False):
    return m.tensor(np.asarray(data), dtype=getattr(m, dtype), requires_grad=rg)


# Tensors printed by both libraries; the dygrad and torch objects are built the same way.
REPRS = {
    "0d": lambda m: _arr(m, 3.0),
    "0d int": lambda m: _arr(m, 3, "int64"),
    "0d bool": lambda m: _arr(m, True, "bool"),
    "1d": lambda m: _arr(m, [1.0, 2.5, -3.0]),
    "1d ints as float": lambda m: _arr(m, [1.0, 2.0]),
    "1d int32": lambda m: _arr(m, [1, 2], "int32"),
    "1d bool": lambda m: _arr(m, [True, False], "bool"),
    "2d": lambda m: _arr(m, [[1.0, 2.0], [3.0, 4.0]]),
    "3d": lambda m: _arr(m, np.arange(24.0).reshape(2, 3, 4)),
    "4d": lambda m: _arr(m, np.arange(16.0).reshape(2, 2, 2, 2) / 7),
    "float64": lambda m: _arr(m, [1.0, 2.0], "float64"),
    "float16": lambda m: _arr(m, [1.0, 2.0], "float16"),
    "requires grad": lambda m: _arr(m, [1.0, 2.0], rg=True),
    "float64 requires grad": lambda m: _arr(m, [1.0, 2.0], "float64", rg=True),
    "grad_fn mul": lambda m: _arr(m, [1.0, 2.0], rg=True) * 2,
    "grad_fn sum": lambda m: _arr(m, [1.0, 2.0], rg=True).sum(),
    "grad_fn float64": lambda m: _arr(m, [[1.0, 2.0]], "float64", rg=True).exp(),
    "grad_fn multiline": lambda m: _arr(m, np.arange(12.0).reshape(3, 4), rg=True) + 1,
    "summarized 1d": lambda m: _arr(m, np.arange(2000.0)),
    "summarized 2d": lambda m: _arr(m, np.arange(40000.0).reshape(200, 200)),
    "summarized 3d": lambda m: _arr(m, np.arange(3000.0).reshape(10, 15, 20)),
    "sci small": lambda m: _arr(m, [1e-5, 1.0]),
    "sci large": lambda m: _arr(m, [1e9, 1.0]),
    "nan inf": lambda m: _arr(m, [np.nan, np.inf, -np.inf, 1.5]),
    "all nan": lambda m: _arr(m, [np.nan, np.nan]),
    "negative zero": lambda m: _arr(m, [-0.0, 1.0]),
    "empty": lambda m: _arr(m, []),
    "empty 2d": lambda m: _arr(m, np.zeros((0, 3))),
    "empty int": lambda m: _arr(m, np.zeros((2, 0)), "int64"),
    "long row wraps": lambda m: _arr(m, np.linspace(-1, 1, 30)),
    "big ints": lambda m: _arr(m, [123456789, -5], "int64"),
    "mixed magnitudes": lambda m: _arr(m, [[0.001, 1000.0], [5.5, -2.25]]),
    "uint8": lambda m: _arr(m, [0, 255], "uint8"),
    "int8": lambda m: _arr(m, [-128, 127], "int8"),
    "column": lambda m: _arr(m, np.arange(5.0).reshape(5, 1)),
    "randomish": lambda m: _arr(m, np.sin(np.arange(20.0)).reshape(4, 5)),
    "float64 grad_fn 0d": lambda m: (_arr(m, [1.0, 2.0], "float64", rg=True) ** 2).mean(),
    "view grad_fn": lambda m: _arr(m, np.arange(6.0), rg=True).view(2, 3),
    "int matrix": lambda m: _arr(m, np.arange(12).reshape(3, 4), "int64"),
    "bool matrix": lambda m: _arr(m, np.eye(3), "bool"),
    "tiny values": lambda m: _arr(m, [1e-12, 2e-12]),
    "float16 nan": lambda m: _arr(m, [np.nan, 1.0], "float16"),
}


@oracle
@pytest.mark.parametrize("name", list(REPRS))
def test_repr_and_str_identical_to_pytorch(name):
    ours, theirs = _pair(REPRS[name])
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)


def test_repr_without_oracle_examples():
    x = dygrad.ones(2, requires_grad=True)
    assert repr(x) == "tensor([1., 1.], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 2.], grad_fn=<MulBackward0>)"
    assert repr(dygrad.tensor([1.0], dtype=dygrad.float64)) == "tensor([1.], dtype=torch.float64)"


def test_dtype_objects():
    assert repr(dygrad.float32) == "torch.float32" and dygrad.float is dygrad.float32
    assert dygrad.long is dygrad.int64 and dygrad.double is dygrad.float64
    assert dygrad.float32.is_floating_point and not dygrad.int64.is_floating_point
    assert dygrad.promote_types(dygrad.int32, dygrad.float16) is dygrad.float16


@pytest.mark.parametrize("method", ["add_", "sub_"])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_inplace_alpha_under_no_grad(method, dt):
    # The optimizers' update (`p.add_(g, alpha=-lr)` under no_grad) takes a path without a
    # dispatched mul: same values, dtype, version bump, and the operand itself is not changed.
    rng = np.random.default_rng(0)
    pa, ga = rng.standard_normal((3, 4)).astype(dt), rng.standard_normal((3, 4)).astype(dt)
    p = dygrad.tensor(pa.copy(), requires_grad=True)
    g = dygrad.tensor(ga.copy())
    v0 = p._version
    with dygrad.no_grad():
        out = getattr(p, method)(g, alpha=-0.25)
    assert out is p and p.dtype == dygrad.from_numpy(pa).dtype and p._version == v0 + 1
    want = pa + (-0.25 if method == "add_" else 0.25) * ga
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-6)
    np.testing.assert_array_equal(g.numpy(), ga)
    # With grad mode on, the update of a non-leaf is recorded and differentiable in alpha * g.
    w = dygrad.tensor(ga.copy(), requires_grad=True)
    q = p.detach().clone().requires_grad_() * 1
    getattr(q, method)(w, alpha=2.0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((3, 4), 2.0 if method == "add_" else -2.0))


def test_foreach_add_matches_add_():
    rng = np.random.default_rng(1)
    a32 = [rng.standard_normal(s).astype(np.float32) for s in [(3,), (2, 2)]]
    b32 = [rng.standard_normal(s).astype(np.float32) for s in [(3,), (2, 2)]]
    p = [dygrad.nn.Parameter(dygrad.tensor(a.copy())) for a in a32]  # parameters: the fast path
    q = [dygrad.tensor(a.copy()) for a in a32]
    others = [dygrad.tensor(b) for b in b32]
    v0 = [t._version for t in p]
    with dygrad.no_grad():
        dygrad._foreach_add_(p, others, alpha=-0.1)
        for t, o in zip(q, others):
            t.add_(o, alpha=-0.1)
    for t, u, v in zip(p, q, v0):
        np.testing.assert_array_equal(t.detach().numpy(), u.numpy())
        assert t._version == v + 1
    # Other pairs go through add_: broadcasting, another dtype, a number for all.
    x = [dygrad.zeros(2, 3), dygrad.zeros(2, dtype=dygrad.float64)]
    dygrad._foreach_add_(x, [dygrad.ones(3), dygrad.ones(2, dtype=dygrad.float32)], alpha=2)
    assert x[0].tolist() == [[2.0] * 3] * 2 and x[1].tolist() == [2.0, 2.0]
    dygrad._foreach_add_(x, 1.5)
    assert x[1].tolist() == [3.5, 3.5] and x[1].dtype == dygrad.float64
    with pytest.raises(RuntimeError, match="same number of tensors, got 2 and 1"):
        dygrad._foreach_add_(x, [dygrad.ones(1)])
    # An expanded target: add_'s error (PyTorch's), not NumPy's.
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        dygrad._foreach_add_([dygrad.ones(1).expand(3)], [dygrad.ones(3)], alpha=1.0)


def test_inplace_on_expanded_or_readonly_memory_is_refused_before_writing():
    base = dygrad.ones(1)
    for f in (lambda t: t.add_(dygrad.ones(3)), lambda t: t.mul_(2), lambda t: t.sub_(1)):
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            f(base.expand(3))
    assert base.tolist() == [1.0] and base._version == 0
    a = np.ones(3)
    a.flags.writeable = False
    t = dygrad.from_numpy(a)
    with pytest.raises(RuntimeError, match=r"add_\(\): the tensor's memory is read-only"):
        t.add_(1)
    assert t.tolist() == [1.0, 1.0, 1.0]
    # With grad mode on, a leaf that requires grad refuses, as add_ does.
    w = dygrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        dygrad._foreach_add_([w], [dygrad.ones(2)], alpha=-1.0)
    assert w.tolist() == [1.0, 1.0]


def test_foreach_add_notes_the_users_line_for_stale_saved_values():
    import inspect

    x = dygrad.ones(3, requires_grad=True)
    h = x * 2
    z = h.sin()  # saves h
    with dygrad.no_grad():
        line = inspect.currentframe().f_lineno + 1
        dygrad._foreach_add_([h], [dygrad.ones(3)], alpha=0.5)
    where = rf"modified in place by add_ at .*test_tensor.py:{line}\b"
    with pytest.raises(RuntimeError, match=where):
        z.sum().backward()
