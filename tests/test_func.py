"""dygrad.func (torch.func's transforms): grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian,
vmap and functional_call, checked by hand math and finite differences, against torch.func on the
same functions, in compositions (no perturbation confusion), and for PyTorch's errors."""

import contextlib
import warnings

import numpy as np
import pytest

import dygrad
from dygrad.func import (
    VmapFallbackWarning,
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    vjp,
    vmap,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::dygrad.func.VmapFallbackWarning"),
    # torch.func's own import warns about torch.jit.script on this torch version
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]


@contextlib.contextmanager
def jvp_rules():
    """Forward-mode tests run under this block; every op has a jvp rule (test_forward_ad.py
    enforces it), so a NotImplementedError here is a real failure."""
    yield


def T(x, dtype=np.float64):
    return dygrad.tensor(np.asarray(x, dtype=dtype))


def close(a, b, tol=1e-6):
    a = a.detach().numpy() if isinstance(a, dygrad.Tensor) else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def fd_jac(f, x, eps=1e-6):
    """Central-difference Jacobian of f at the float64 array x: shape f(x).shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        e = e.reshape(x.shape)
        hi = f(dygrad.tensor(x + e)).detach().numpy()
        lo = f(dygrad.tensor(x - e)).detach().numpy()
        cols.append((hi - lo) / (2 * eps))
    out_shape = cols[0].shape
    return np.stack(cols, -1).reshape(out_shape + x.shape)


X3 = np.array([0.3, -0.7, 1.1])


# ---------------------------------------------------------------------------------------------
# grad / grad_and_value, by hand


def test_grad_of_a_cubic_is_three_x_squared():
    x = T(X3)
    close(grad(lambda x: (x**3).sum())(x), 3 * X3**2)
    assert not x.requires_grad and x.grad is None  # the input is untouched


def test_grad_and_value_returns_both_and_results_carry_no_graph():
    g, v = grad_and_value(lambda x: (x * x).sum())(T(X3))
    close(g, 2 * X3)
    close(v, (X3**2).sum())
    assert not g.requires_grad and not v.requires_grad and g.grad_fn is None


def test_grad_argnums_tuple_negative_and_unused_inputs():
    f = lambda x, y, z: (x * y).sum()  # noqa: E731
    x, y, z = T([1.0, 2.0]), T([3.0, 4.0]), T([5.0])
    gx, gz = grad(f, argnums=(0, 2))(x, y, z)
    close(gx, [3.0, 4.0])
    close(gz, [0.0])  # unused: zeros, as in torch.func
    close(grad(f, argnums=-2)(x, y, z), [1.0, 2.0])


def test_grad_over_a_dict_and_has_aux():
    def f(p, x):
        y = p["w"] * x + p["b"]
        return (y * y).sum(), {"y": y}

    p = {"w": T([2.0]), "b": T([1.0])}
    g, aux = grad(f, has_aux=True)(p, T([3.0]))
    assert list(g) == ["w", "b"]
    close(g["w"], [2 * 7 * 3.0])
    close(g["b"], [2 * 7.0])
    close(aux["y"], [7.0])
    assert not aux["y"].requires_grad


def test_grad_ignores_an_outer_no_grad_and_respects_an_inner_one():
    with dygrad.no_grad():
        close(grad(lambda x: (x * x).sum())(T(X3)), 2 * X3)

    def f(x):
        with dygrad.no_grad():
            c = x * x
        return (c * x).sum()

    close(grad(f)(T(X3)), X3**2)


def test_higher_order_grads_of_sin():
    x = T(0.4)
    close(grad(dygrad.sin)(x), np.cos(0.4))
    close(grad(grad(dygrad.sin))(x), -np.sin(0.4))
    close(grad(grad(grad(dygrad.sin)))(x), -np.cos(0.4))
    close(grad(grad(grad(grad(dygrad.sin))))(x), np.sin(0.4))


def test_grad_of_a_tensor_that_requires_grad_stays_differentiable():
    # torch.func.grad of an input that requires grad: the gradient is itself differentiable.
    x = T(X3).requires_grad_()
    g = grad(lambda x: (x**3).sum())(x)
    assert g.requires_grad
    g.sum().backward()
    close(x.grad, 6 * X3)


def test_grad_of_a_non_leaf_input():
    w = T(X3).requires_grad_()
    h = w * 2  # a non-leaf
    g = grad(lambda h: (h * h).sum())(h)
    close(g, 4 * X3)
    (g * T([1.0, 0.0, 0.0])).sum().backward()
    close(w.grad, [4.0, 0.0, 0.0])


def test_grad_of_a_closure_over_a_tensor_that_requires_grad():
    w = T(2.0).requires_grad_()
    g = grad(lambda x: (w * x * x).sum())(T(X3))
    close(g, 4 * X3)
    g.sum().backward()  # d/dw sum(2 w x) = 2 sum(x)
    close(w.grad, 2 * X3.sum())


# ---------------------------------------------------------------------------------------------
# Perturbation confusion (Siskind & Pearlmutter): nested derivatives keep their own inputs


def test_no_perturbation_confusion_reverse():
    x0, c = T(1.5), T(3.0)
    # d/dx [x * d/dy (x*y)] = d/dx x^2 = 2x
    close(grad(lambda x: x * grad(lambda y: x * y)(c))(x0), 3.0)
    # d/dx [x * d/dy (x + y)] = d/dx x = 1, not 2
    close(grad(lambda x: x * grad(lambda y: x + y)(c))(x0), 1.0)
    # the inner input *is* the outer one: d/dx [d/dy (x*y) at y=x] = d/dx x = 1
    close(grad(lambda x: grad(lambda y: x * y)(x))(x0), 1.0)


def test_no_perturbation_confusion_forward_and_mixed():
    x0, c, one = T(1.5), T(3.0), T(1.0)
    inner_fwd = lambda x: jvp(lambda y: x + y, (c,), (one,))[1]  # noqa: E731
    close(jvp(lambda x: x * inner_fwd(x), (x0,), (one,))[1], 1.0)
    inner_fwd2 = lambda x: jvp(lambda y: x * y, (c,), (one,))[1]  # noqa: E731
    close(jvp(lambda x: x * inner_fwd2(x), (x0,), (one,))[1], 3.0)
    close(grad(lambda x: x * inner_fwd(x))(x0), 1.0)
    close(jvp(lambda x: x * grad(lambda y: x + y)(c), (x0,), (one,))[1], 1.0)
    close(jvp(lambda x: grad(lambda y: x * y)(x), (x0,), (one,))[1], 1.0)


# ---------------------------------------------------------------------------------------------
# vjp / jvp, by hand


def test_vjp_pytree_outputs_and_repeated_calls():
    out, fn = vjp(lambda x, y: {"p": x * y, "s": (x.sin(),)}, T(X3), T([2.0, 3.0, 4.0]))
    close(out["p"], X3 * [2.0, 3.0, 4.0])
    ct = {"p": T([1.0, 1.0, 1.0]), "s": (T([1.0, 0.0, 2.0]),)}
    for _ in range(2):
        gx, gy = fn(ct)
        close(gx, [2.0, 3.0, 4.0] + np.cos(X3) * [1.0, 0.0, 2.0])
        close(gy, X3)


def test_vjp_has_aux_and_an_independent_primal():
    out, fn, aux = vjp(lambda x, y: (x * 2, x + 1), T(X3), T(1.0), has_aux=True)
    close(aux, X3 + 1)
    gx, gy = fn(T([1.0, 2.0, 3.0]))
    close(gx, [2.0, 4.0, 6.0])
    close(gy, 0.0)


def test_vjp_fn_is_differentiable_in_the_cotangent():
    _, fn = vjp(lambda x: x * x, T(X3))
    v = T([1.0, 2.0, 3.0]).requires_grad_()
    (g,) = fn(v)
    g.sum().backward()
    close(v.grad, 2 * X3)


def test_jvp_by_hand():
    x, v = T(X3), T([1.0, 2.0, 3.0])
    out, t = jvp(lambda x: x.sin() * x, (x,), (v,))
    close(out, np.sin(X3) * X3)
    vv = np.array([1.0, 2.0, 3.0])
    close(t, (np.cos(X3) * X3 + np.sin(X3)) * vv)
    (o1, o2), (t1, t2) = jvp(lambda a, b: (a * b, a.exp()), (x, T(2.0)), (v, T(1.0)))
    close(t1, vv * 2.0 + X3)
    close(t2, np.exp(X3) * vv)


def test_jvp_independent_output_has_aux_and_nested_second_derivative():
    out, t, aux = jvp(lambda x: (T([5.0]), x * 3), (T(1.0),), (T(1.0),), has_aux=True)
    close(t, [0.0])
    close(aux, 3.0)
    with pytest.raises(RuntimeError, match="independent of the inputs"):
        jvp(lambda x: T([5.0]), (T(1.0),), (T(1.0),), strict=True)
    # second derivative of exp(x^2) by forward over forward: (2 + 4x^2) exp(x^2)
    x0, one = T(0.6), T(1.0)
    d2 = jvp(lambda x: jvp(lambda y: (y * y).exp(), (x,), (one,))[1], (x0,), (one,))[1]
    close(d2, (2 + 4 * 0.36) * np.exp(0.36))


def test_forward_over_reverse_and_reverse_over_forward():
    f = lambda x: (x * x).sin()  # noqa: E731 - f'' = 2cos(x^2) - 4x^2 sin(x^2)
    x0, one = T(0.8), T(1.0)
    want = 2 * np.cos(0.64) - 4 * 0.64 * np.sin(0.64)
    close(jvp(grad(f), (x0,), (one,))[1], want)
    close(grad(lambda x: jvp(f, (x,), (one,))[1])(x0), want)


# ---------------------------------------------------------------------------------------------
# Jacobians and Hessians against finite differences


def elementwise(x):
    return (x.sin() * x).exp() + x**3


def mixing(x):
    return dygrad.stack([(x * x).sum(), x[0] * x[2], x.tanh().sum()])


def test_jacrev_matches_finite_differences():
    for f in (elementwise, mixing):
        close(jacrev(f)(T(X3)), fd_jac(f, X3), tol=1e-5)


def test_jacfwd_matches_finite_differences():
    close(jacfwd(elementwise)(T(X3)), fd_jac(elementwise, X3), tol=1e-5)
    with jvp_rules():
        close(jacfwd(mixing)(T(X3)), fd_jac(mixing, X3), tol=1e-5)


def test_jacobian_shapes_and_structure():
    f = lambda x, y: {"a": x * y.sum(), "b": (x.sum(),)}  # noqa: E731
    x, y = T(np.ones((2, 3))), T(np.ones(4))
    j = jacrev(f, argnums=(0, 1))(x, y)
    assert set(j) == {"a", "b"}
    assert [tuple(t.shape) for t in j["a"]] == [(2, 3, 2, 3), (2, 3, 4)]
    assert [tuple(t.shape) for t in j["b"][0]] == [(2, 3), (4,)]
    close(j["b"][0][0], np.ones((2, 3)))
    with jvp_rules():
        jf = jacfwd(f, argnums=(0, 1))(x, y)
    for a, b in zip((j["a"][0], j["a"][1], j["b"][0][0]), (jf["a"][0], jf["a"][1], jf["b"][0][0])):
        close(a, b)


def test_jacobians_of_a_scalar_and_with_aux():
    close(jacrev(dygrad.sin)(T(0.5)), np.cos(0.5))
    close(jacfwd(dygrad.sin)(T(0.5)), np.cos(0.5))
    j, aux = jacrev(lambda x: (x * 2, x + 1), has_aux=True)(T(X3))
    close(j, 2 * np.eye(3))
    close(aux, X3 + 1)
    j, aux = jacfwd(lambda x: (x * 2, x + 1), has_aux=True)(T(X3))
    close(j, 2 * np.eye(3))
    close(aux, X3 + 1)
    assert not aux.requires_grad


@pytest.mark.parametrize("outer", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("inner", ["jacrev", "jacfwd"])
def test_second_order_jacobians_compose(outer, inner):
    t = {"jacrev": jacrev, "jacfwd": jacfwd}
    f = elementwise
    x = T(X3)
    with jvp_rules():
        h = t[outer](t[inner](f))(x)
    assert tuple(h.shape) == (3, 3, 3)
    want = fd_jac(lambda x: jacrev(f)(x), X3)
    close(h, want, tol=1e-5)
    assert not h.requires_grad


def test_hessian_by_hand():
    # f = sum(x^3) + x0 x1: H = diag(6x) + [[0,1,0],[1,0,0],[0,0,0]]
    f = lambda x: (x**3).sum() + x[0] * x[1]  # noqa: E731
    want = np.diag(6 * X3)
    want[0, 1] = want[1, 0] = 1.0
    close(jacrev(jacrev(f))(T(X3)), want)
    with jvp_rules():
        close(hessian(f)(T(X3)), want)


def test_hessian_argnums_tuple():
    f = lambda x, y: (x * x * y).sum()  # noqa: E731
    with jvp_rules():
        h = hessian(f, argnums=(0, 1))(T([1.0, 2.0]), T(3.0))
    close(h[0][0], np.diag([6.0, 6.0]))
    close(h[0][1], [2.0, 4.0])
    close(h[1][0], [2.0, 4.0])
    close(h[1][1], 0.0)


# ---------------------------------------------------------------------------------------------
# vmap


def test_vmap_in_dims_out_dims_and_kwargs():
    x = T(np.arange(6.0).reshape(2, 3))
    close(vmap(lambda r: r * 2)(x), x.numpy() * 2)
    close(vmap(lambda c: c.sum(), in_dims=1)(x), x.numpy().sum(0))
    close(vmap(lambda c: c.sum(), in_dims=-1)(x), x.numpy().sum(0))
    close(vmap(lambda r: r * 2, out_dims=1)(x), (x.numpy() * 2).T)
    close(vmap(lambda r: r * 2, out_dims=-1)(x), (x.numpy() * 2).T)
    close(vmap(lambda r, s, k=1.0: r * s * k, in_dims=(0, None))(x, T(2.0), k=3.0), x.numpy() * 6)


def test_vmap_pytrees_in_and_out_and_nested():
    d = {"a": T(np.ones((4, 2))), "b": [T(np.arange(4.0))]}
    out = vmap(lambda d: (d["a"] * d["b"][0], {"s": d["a"].sum()}))(d)
    close(out[0], np.ones((4, 2)) * np.arange(4.0)[:, None])
    close(out[1]["s"], [2.0] * 4)
    out = vmap(lambda d: d["a"].sum(), in_dims=({"a": 1, "b": [None]},))(d)
    close(out, [4.0, 4.0])
    x = T(np.arange(24.0).reshape(2, 3, 4))
    close(vmap(vmap(lambda v: v.sum()))(x), x.numpy().sum(-1))
    close(vmap(vmap(lambda v: v.sum()), in_dims=2)(x), x.numpy().sum(1).T)


def test_vmap_out_dims_none_and_structure():
    x = T(np.ones((3, 2)))
    a, c = vmap(lambda r: (r * 2, T([7.0])), out_dims=(0, None))(x)
    close(a, 2 * np.ones((3, 2)))
    close(c, [7.0])
    with pytest.raises(ValueError, match="can not return a BatchedTensor when out_dim is None"):
        vmap(lambda r: (r, r), out_dims=(0, None))(T(np.arange(6.0).reshape(3, 2)))
    with pytest.raises(ValueError, match="out_dims is not compatible"):
        vmap(lambda r: (r, r), out_dims=(0, 0, 0))(x)
    assert vmap(lambda r: (r, 5), out_dims=(0, None))(x)[1] == 5


def test_vmap_of_grad_gives_per_example_gradients():
    xs = T(np.random.default_rng(0).standard_normal((5, 3)))
    g = vmap(grad(lambda x: (x**3).sum()))(xs)
    close(g, 3 * xs.numpy() ** 2)
    w = T(X3)
    g = vmap(grad(lambda w, x: ((w * x).sum()) ** 2), in_dims=(None, 0))(w, xs)
    want = 2 * (xs.numpy() @ X3)[:, None] * xs.numpy()
    close(g, want)


def test_grad_of_vmap_and_jacrev_of_vmap():
    xs = T(np.arange(6.0).reshape(2, 3) / 5)
    g = grad(lambda xs: vmap(lambda x: (x * x).sum())(xs).sum())(xs)
    close(g, 2 * xs.numpy())
    j = jacrev(vmap(dygrad.sin))(T(X3))
    close(j, np.diag(np.cos(X3)))


def test_vmap_randomness():
    x = T(np.zeros((4, 3)))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda r: r + dygrad.rand(3))(x)
    dygrad.rand(1)  # the generator is restored afterwards
    same = vmap(lambda r: r + dygrad.rand(3), randomness="same")(x).numpy()
    assert np.all(same == same[0])
    diff = vmap(lambda r: r + dygrad.rand(3), randomness="different")(x).numpy()
    assert len({tuple(r) for r in diff}) == 4
    dygrad.manual_seed(1)
    a = vmap(lambda r: r + dygrad.rand(3), randomness="same")(x).numpy()
    dygrad.manual_seed(1)
    assert np.array_equal(a[0], dygrad.rand(3).numpy())


def test_vmap_empty_batch():
    out = vmap(lambda r: (r * 2).sum(-1, keepdim=True), out_dims=1)(T(np.zeros((0, 3))))
    assert tuple(out.shape) == (1, 0)


def test_vmap_warns_once_per_vmapped_function():
    f = vmap(lambda r: r * 2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        f(T(np.ones((2, 2))))
        f(T(np.ones((2, 2))))
    ours = [w for w in rec if issubclass(w.category, VmapFallbackWarning)]
    assert len(ours) == 1
    assert "once per batch element" in str(ours[0].message)
    assert ours[0].filename == __file__  # points at the caller
    with pytest.warns(VmapFallbackWarning) as rec:
        jacrev(vmap(dygrad.sin))(T(X3))  # inside another transform: still the caller's line
    assert rec[0].filename == __file__


# ---------------------------------------------------------------------------------------------
# functional_call


def _mlp():
    dygrad.manual_seed(0)
    return dygrad.nn.Sequential(
        dygrad.nn.Linear(3, 4), dygrad.nn.Tanh(), dygrad.nn.Linear(4, 2)
    ).double()


def test_functional_call_substitutes_and_restores():
    m = _mlp()
    orig = dict(m.named_parameters())
    new = {k: v.detach() * 0 for k, v in orig.items()}
    x = T(np.ones((1, 3)))
    close(functional_call(m, new, (x,)), np.zeros((1, 2)))
    close(functional_call(m, new, x), np.zeros((1, 2)))  # a single argument needs no tuple
    for k, v in m.named_parameters():
        assert v is orig[k] and isinstance(v, dygrad.nn.Parameter)
    half = {"2.bias": T([10.0, 20.0])}  # only some names: the others stay the module's
    want = m(x).detach().numpy() - m[2].bias.detach().numpy() + [10.0, 20.0]
    close(functional_call(m, half, (x,)), want)
    two = ({"0.weight": new["0.weight"]}, {"0.bias": new["0.bias"]})
    close(functional_call(m, two, (x,)), m[2].bias.detach().numpy()[None])


def test_functional_call_restores_on_error_and_kwargs():
    class Boom(dygrad.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = dygrad.nn.Parameter(dygrad.ones(1))
            self.register_buffer("b", dygrad.zeros(1))

        def forward(self, x, *, scale=1.0, fail=False):
            if fail:
                raise KeyError("boom")
            return x * self.w * scale + self.b

    m = Boom()
    w, b = m.w, m.b
    with pytest.raises(KeyError):
        functional_call(m, {"w": T([5.0]), "b": T([1.0])}, (T([1.0]),), {"fail": True})
    assert m.w is w and m.b is b
    close(functional_call(m, {"w": T([5.0]), "b": T([1.0])}, (T([2.0]),), {"scale": 3.0}), [31.0])


def test_functional_call_strict_and_tied_weights():
    m = _mlp()
    x = T(np.ones((1, 3)))
    params = {k: v.detach() for k, v in m.named_parameters()}
    with pytest.raises(RuntimeError, match=r"Missing key\(s\): '2.bias'"):
        functional_call(m, {k: v for k, v in params.items() if k != "2.bias"}, (x,), strict=True)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'nope'"):
        functional_call(m, {**params, "nope": T(1.0)}, (x,), strict=True)
    close(functional_call(m, params, (x,), strict=True), m(x).detach())

    class Tied(dygrad.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = dygrad.nn.Linear(2, 2, bias=False)
            self.b = dygrad.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    t = Tied().double()
    w = T(np.eye(2) * 2)
    x2 = T([[1.0, 1.0]])
    close(functional_call(t, {"a.weight": w}, (x2,)), [[4.0, 4.0]])  # b follows a
    got = functional_call(t, {"a.weight": w}, (x2,), tie_weights=False)
    close(got, (x2.numpy() @ (2 * np.eye(2))) @ t.b.weight.detach().numpy().T)
    with pytest.raises(ValueError, match="which are tied"):
        functional_call(t, {"a.weight": w, "b.weight": T(np.eye(2))}, (x2,))
    assert t.a.weight is t.b.weight


def test_functional_call_buffers_and_parameters_vs_plain_calls():
    bn = dygrad.nn.BatchNorm1d(2).double().eval()
    x = T([[1.0, 2.0], [3.0, 5.0]])
    state = {"running_mean": T([1.0, 1.0]), "running_var": T([4.0, 4.0])}
    close(functional_call(bn, state, (x,)), (x.numpy() - 1.0) / np.sqrt(4.0 + 1e-5))
    assert np.array_equal(bn.running_mean.numpy(), [0.0, 0.0])


def test_grad_through_functional_call_matches_backward():
    m = _mlp()
    x = T(np.random.default_rng(1).standard_normal((4, 3)))
    params = {k: v.detach() for k, v in m.named_parameters()}
    g = grad(lambda p: functional_call(m, p, (x,)).pow(2).sum())(params)
    m(x).pow(2).sum().backward()
    for k, p in m.named_parameters():
        close(g[k], p.grad)


def test_per_sample_gradients_match_a_loop():
    m = _mlp()
    rng = np.random.default_rng(2)
    xs, ys = T(rng.standard_normal((5, 3))), T(rng.standard_normal((5, 2)))
    params = {k: v.detach() for k, v in m.named_parameters()}

    def loss(p, x, y):
        out = functional_call(m, p, (x.unsqueeze(0),))
        return dygrad.nn.functional.mse_loss(out, y.unsqueeze(0))

    per = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
    for i in range(5):
        m.zero_grad()
        dygrad.nn.functional.mse_loss(m(xs[i : i + 1]), ys[i : i + 1]).backward()
        for k, p in m.named_parameters():
            assert tuple(per[k].shape) == (5, *p.shape)
            close(per[k][i], p.grad)


# ---------------------------------------------------------------------------------------------
# Errors, in PyTorch's words, before any work


def test_errors_grad():
    with pytest.raises(RuntimeError, match="to return a scalar Tensor, got tensor with 1 dims"):
        grad(lambda x: x)(T(X3))
    with pytest.raises(RuntimeError, match="to return a Tensor, got <class 'float'>"):
        grad(lambda x: 1.0)(T(1.0))
    with pytest.raises(RuntimeError, match=r"Got argnum=2, but only 1 positional inputs"):
        grad(lambda x: x, argnums=2)(T(1.0))
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        grad(lambda x: x, argnums=[0])
    with pytest.raises(RuntimeError, match="argnums elements must be unique"):
        grad(lambda x, y: x, argnums=(0, -2))(T(1.0), T(1.0))
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        grad(lambda x: x, argnums=())(T(1.0))
    with pytest.raises(RuntimeError, match=r"should be a tuple: \(output, aux\)"):
        grad(lambda x: x, has_aux=True)(T(1.0))
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        grad(lambda x: x.sum())(dygrad.tensor([1, 2]))
    with pytest.raises(ValueError, match="must be Tensor, got <class 'float'>"):
        grad(lambda x: x)(1.0)


def test_errors_vjp_jvp_jac():
    _, fn = vjp(lambda x: (x, x * 2), T(X3))
    with pytest.raises(RuntimeError, match="pytree structure of cotangents"):
        fn(T(X3))
    with pytest.raises(RuntimeError, match="Mismatch in shape: grad_output\\[1\\]"):
        fn((T(X3), T([1.0])))
    with pytest.raises(RuntimeError, match="only tensors, got unsupported type <class 'int'>"):
        vjp(lambda x: 3, T(1.0))
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        jvp(dygrad.sin, T(1.0), (T(1.0),))
    with pytest.raises(RuntimeError, match="same python structure"):
        jvp(dygrad.sin, (T(1.0),), (T(1.0), T(1.0)))
    with pytest.raises(RuntimeError, match="Expected tangents to only contain Tensors"):
        jvp(dygrad.sin, (T(1.0),), (1.0,))
    with pytest.raises(RuntimeError, match="different size"):
        jvp(dygrad.sin, (T(X3),), (T([1.0]),))
    with pytest.raises(ValueError, match="chunk_size"):
        jacrev(dygrad.sin, chunk_size=0)
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        jacfwd(dygrad.sin, randomness="nope")
    with pytest.raises(RuntimeError, match="randomness error mode"):
        jacfwd(lambda x: x * dygrad.rand(3))(T(X3))
    dygrad.manual_seed(3)
    j = jacfwd(lambda x: x * dygrad.rand(3, dtype=dygrad.float64), randomness="same")(T(X3))
    dygrad.manual_seed(3)
    close(j, np.diag(dygrad.rand(3, dtype=dygrad.float64).numpy()))  # every column, one draw


def test_errors_vmap():
    calls = []

    def f(*a):
        calls.append(1)
        return a[0]

    x2, x3 = T(np.ones((2, 3))), T(np.ones((3, 3)))
    cases = [
        (lambda: vmap(f)(x2, x3), "same size in the mapped dimension, got sizes \\[2, 3\\]"),
        (lambda: vmap(f, in_dims=(0, 0))(x2), "in_dims is not compatible with the structure"),
        (lambda: vmap(f, in_dims=2)(x2), "expected in_dim to satisfy -2 <= in_dim < 2"),
        (lambda: vmap(f, in_dims=(0, 0))(x2, 1.0), "We cannot vmap over non-Tensor arguments"),
        (lambda: vmap(f, in_dims=None)(x2), "expected `in_dims` to be int or a"),
        (lambda: vmap(f, in_dims=(None,))(x2), "Expected at least one Tensor to vmap over"),
        (lambda: vmap(f)(), "got no inputs"),
        (lambda: vmap(f, in_dims=(0.5,))(x2), "in_dim must be either an integer dimension"),
        (lambda: vmap(lambda x: 1)(x2), "must only return Tensors, got type <class 'int'>"),
        (lambda: vmap(f, out_dims="a"), "`out_dims` must be an int, None or a python collection"),
    ]
    for call, msg in cases:
        with pytest.raises(ValueError, match=msg):
            call()
    assert len(calls) == 0  # argument errors come before the function runs
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        vmap(f, randomness="nope")
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        vmap(f, chunk_size=0)


def test_errors_functional_call():
    m = dygrad.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        functional_call(m, ({"bias": T([1.0])}, {"bias": T([2.0])}), (T([1.0]),))
    with pytest.raises(ValueError, match="to be a dict, or a list/tuple of dicts"):
        functional_call(m, 3, (T([1.0]),))
    with pytest.raises(TypeError, match="is not an instance of torch.Tensor"):
        functional_call(m, {"bias": 3.0}, (T([1.0]),))
    assert isinstance(m.bias, dygrad.nn.Parameter)


# ---------------------------------------------------------------------------------------------
# Against torch.func on the same functions


def to_torch(tree):
    torch = pytest.importorskip("torch")
    if isinstance(tree, dygrad.Tensor):
        return torch.tensor(tree.detach().numpy())
    if isinstance(tree, tuple | list):
        return type(tree)(to_torch(t) for t in tree)
    if isinstance(tree, dict):
        return {k: to_torch(v) for k, v in tree.items()}
    return tree


def same_tree(ours, theirs, tol=1e-5):
    """Same structure, shapes and values."""
    if isinstance(theirs, tuple | list):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            same_tree(a, b, tol)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for k in theirs:
            same_tree(ours[k], theirs[k], tol)
    else:
        assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
        close(ours, theirs.detach().numpy(), tol)


def both(make):
    """`make(lib)` run with lib = dygrad and lib = torch."""
    torch = pytest.importorskip("torch")
    return make(dygrad), make(torch)


R = np.random.default_rng(7)
A = R.standard_normal((3, 4))
B = R.standard_normal(4)


def _fns(lib):
    a, b = lib.tensor(A), lib.tensor(B)
    return {
        "mlp": lambda x: ((a @ x).tanh() * 2).sum(),
        "poly": lambda x: (x**3 * b).sum() + (x * x).exp().sum(),
        "mixed": lambda x: ((a @ x.sin()) ** 2).mean() + x.prod() / 5,
    }


@pytest.mark.parametrize("name", ["mlp", "poly", "mixed"])
def test_vs_torch_grad_and_higher_order(name):
    def make(lib):
        f = _fns(lib)[name]
        x = lib.tensor(B / 2)
        fn = lib.func
        out = {
            "grad": fn.grad(f)(x),
            "gv": fn.grad_and_value(f)(x),
            "jacrev_grad": fn.jacrev(fn.grad(f))(x),
            "vmap_grad": fn.vmap(fn.grad(f))(lib.tensor(R2)),
        }
        return out

    R2 = np.random.default_rng(3).standard_normal((3, 4))
    ours, theirs = both(make)
    same_tree(ours, theirs)


@pytest.mark.parametrize("name", ["mlp", "poly", "mixed"])
def test_vs_torch_forward_mode(name):
    def make(lib):
        f = _fns(lib)[name]
        x, v = lib.tensor(B / 2), lib.tensor(B[::-1].copy())
        fn = lib.func
        return {
            "jvp": fn.jvp(f, (x,), (v,)),
            "jacfwd_grad": fn.jacfwd(fn.grad(f))(x),
            "hessian": fn.hessian(f)(x),
        }

    with jvp_rules():
        ours, theirs = both(make)
    same_tree(ours, theirs)


def test_vs_torch_vjp_jacrev_pytrees():
    def make(lib):
        a = lib.tensor(A)
        f = lambda p, x: {"y": (a @ (p["w"] * x)).sin(), "z": [p["b"] * x.sum()]}  # noqa: E731
        p = {"w": lib.tensor(B), "b": lib.tensor(1.5)}
        x = lib.tensor(B[::-1].copy())
        out, fn = lib.func.vjp(f, p, x)
        ct = {"y": lib.tensor(np.arange(3.0)), "z": [lib.tensor(2.0)]}
        return {
            "out": out,
            "vjp": fn(ct),
            "jacrev": lib.func.jacrev(f, argnums=(0, 1))(p, x),
            "jacrev0": lib.func.jacrev(f)(p, x),
        }

    ours, theirs = both(make)
    same_tree(ours, theirs)


def test_vs_torch_jacfwd_pytrees():
    def make(lib):
        f = lambda p, x: {"y": (p["w"] * x).sin(), "z": [p["b"] * x * x]}  # noqa: E731
        p = {"w": lib.tensor(B), "b": lib.tensor(1.5)}
        return lib.func.jacfwd(f, argnums=(0, 1))(p, lib.tensor(B[::-1].copy()))

    with jvp_rules():
        ours, theirs = both(make)
    same_tree(ours, theirs)


def test_vs_torch_vmap_variants():
    def make(lib):
        x = lib.tensor(np.arange(24.0).reshape(2, 3, 4) / 10)
        y = lib.tensor(B)
        vm = lib.func.vmap
        return [
            vm(lambda r: r.sum(0))(x),
            vm(lambda r, y: r @ y, in_dims=(1, None))(x, y),
            vm(lambda r: (r * 2, r.sum()), in_dims=-1, out_dims=(1, 0))(x),
            vm(vm(lambda v, y: (v * y).sum(), in_dims=(0, None)), in_dims=(1, None))(x, y),
            vm(lambda d: d["a"] * d["b"], in_dims=({"a": 0, "b": None},))({"a": x, "b": y}),
        ]

    ours, theirs = both(make)
    same_tree(ours, theirs)


def test_vs_torch_per_sample_gradients_through_functional_call():
    torch = pytest.importorskip("torch")
    m = _mlp()
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for (_, p), (_, q) in zip(m.named_parameters(), tm.named_parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    rng = np.random.default_rng(4)
    xs, ys = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))

    def per_sample(lib, model):
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p, x, y):
            out = lib.func.functional_call(model, p, (x.unsqueeze(0),))
            return lib.nn.functional.mse_loss(out, y.unsqueeze(0))

        return lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))(
            params, lib.tensor(xs), lib.tensor(ys)
        )

    same_tree(per_sample(dygrad, m), per_sample(torch, tm))
