"""dygrad.optim against torch.optim: parameter trajectories of a small float64 MLP over 20 steps
for every optimizer and a range of options (param groups, a frozen parameter and one without a
gradient that must stay untouched), state dicts and their round trips, and the errors."""

import copy
import os
import warnings

import numpy as np
import pytest

import dygrad
from dygrad import optim

try:
    import torch
except ImportError:  # pragma: no cover - the oracle is optional
    torch = None

oracle = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

STEPS = 20
RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 3))
Y = RNG.standard_normal((16, 2))
# Parameter order: w1, b1, frozen (requires_grad False), w2, b2, unused (requires grad, gets none).
INIT = {
    "w1": RNG.standard_normal((3, 5)) * 0.5,
    "b1": RNG.standard_normal(5) * 0.1,
    "frozen": RNG.standard_normal((3, 2)) * 0.3,
    "w2": RNG.standard_normal((5, 2)) * 0.5,
    "b2": RNG.standard_normal(2) * 0.1,
    "unused": RNG.standard_normal(4),
}
NAMES = list(INIT)


def make_params(lib):
    """The model's parameters as `lib` tensors (dygrad or torch), float64."""
    ps = {}
    for k, v in INIT.items():
        ps[k] = lib.tensor(v.copy(), dtype=lib.float64, requires_grad=(k != "frozen"))
    return ps


def loss_fn(lib, ps):
    x, y = lib.tensor(X, dtype=lib.float64), lib.tensor(Y, dtype=lib.float64)
    h = lib.tanh(x @ ps["w1"] + ps["b1"])
    out = h @ ps["w2"] + ps["b2"] + x @ ps["frozen"]
    return ((out - y) ** 2).mean()


def groups(ps, group_opts):
    """Two param groups: the first with the optimizer's defaults, the second with `group_opts`
    (a different lr and possibly other options)."""
    return [
        {"params": [ps["w1"], ps["b1"], ps["frozen"]]},
        {"params": [ps["w2"], ps["b2"], ps["unused"]], **group_opts},
    ]


def run(lib, cls_name, kwargs, group_opts, steps=STEPS, opt=None, ps=None):
    ps = make_params(lib) if ps is None else ps
    opt = getattr(lib.optim, cls_name)(groups(ps, group_opts), **kwargs) if opt is None else opt
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(lib, ps).backward()
        opt.step()
        traj.append({k: p.detach().numpy().copy() for k, p in ps.items()})
    return ps, opt, traj


CASES = [
    ("SGD", {"lr": 0.1}, {"lr": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"lr": 0.03}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}, {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}, {"lr": 0.02}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}, {"lr": 0.02, "momentum": 0.0}),
    ("Adam", {"lr": 0.01}, {"lr": 0.03}),
    ("Adam", {"lr": 0.02, "amsgrad": True}, {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}, {"lr": 0.02}),
    ("Adam", {"lr": 0.01, "maximize": True, "amsgrad": True}, {"lr": 0.005}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {"lr": 0.02}),
    ("AdamW", {"lr": 0.01}, {"lr": 0.02, "weight_decay": 0.5}),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.1, "amsgrad": True}, {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "maximize": True}, {"lr": 0.02, "betas": (0.5, 0.9)}),
    ("RMSprop", {"lr": 0.01}, {"lr": 0.005}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}, {"lr": 0.02}),
    ("RMSprop", {"lr": 0.01, "centered": True}, {"lr": 0.02, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1}, {}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "maximize": True}, {"lr": 0.001}),
    ("Adagrad", {"lr": 0.1}, {"lr": 0.05}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}, {"lr": 0.2}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-8}, {"lr": 0.05}),
    ("Adagrad", {"lr": 0.01, "maximize": True}, {"lr": 0.02}),
]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw, _ in CASES]


def to_np(v):
    if isinstance(v, dygrad.Tensor):
        return v.numpy()
    return v.detach().numpy()


def assert_state_matches(d_state, t_state):
    assert sorted(d_state) == sorted(t_state)
    for idx in t_state:
        assert list(d_state[idx]) == list(t_state[idx]), f"state keys of parameter {idx}"
        for key, tv in t_state[idx].items():
            dv = d_state[idx][key]
            assert isinstance(dv, dygrad.Tensor)
            assert str(dv.dtype) == str(tv.dtype), key
            np.testing.assert_allclose(to_np(dv), to_np(tv), rtol=1e-6, atol=1e-9, err_msg=key)


@oracle
@pytest.mark.parametrize("cls_name,kwargs,group_opts", CASES, ids=IDS)
def test_trajectory_matches_torch(cls_name, kwargs, group_opts):
    d_ps, d_opt, d_traj = run(dygrad, cls_name, kwargs, group_opts)
    t_ps, t_opt, t_traj = run(torch, cls_name, kwargs, group_opts)
    for step, (d, t) in enumerate(zip(d_traj, t_traj)):
        for k in NAMES:
            np.testing.assert_allclose(d[k], t[k], rtol=1e-6, atol=1e-6, err_msg=f"{k} @ {step}")
    # The frozen parameter and the one without a gradient are bit-identical to their start.
    for k in ("frozen", "unused"):
        assert np.array_equal(d_traj[-1][k], INIT[k]) and d_ps[k].grad is None
    # Parameters stay leaves after in-place updates under no_grad.
    assert all(p.grad_fn is None and p.is_leaf for p in d_ps.values())
    assert d_ps["frozen"].requires_grad is False and d_ps["unused"].requires_grad
    d_sd, t_sd = d_opt.state_dict(), t_opt.state_dict()
    assert d_sd["param_groups"] == t_sd["param_groups"]
    assert_state_matches(d_sd["state"], t_sd["state"])
    assert repr(d_opt) == repr(t_opt)


@pytest.mark.parametrize("cls_name,kwargs,group_opts", CASES, ids=IDS)
def test_untouched_parameters_get_no_state(cls_name, kwargs, group_opts):
    ps, opt, _ = run(dygrad, cls_name, kwargs, group_opts, steps=3)
    for k in ("frozen", "unused"):
        if cls_name == "Adagrad":
            # PyTorch's Adagrad creates every parameter's state with the optimizer; it never
            # changes for a parameter that gets no gradient.
            s = opt.state[ps[k]]
            assert s["step"].item() == 0 and (s["sum"] == s["sum"].flatten()[0]).all()
        else:
            assert ps[k] not in opt.state
    trained = [ps["w1"], ps["b1"], ps["w2"], ps["b2"]]
    if cls_name != "SGD" or kwargs.get("momentum"):
        assert all(p in opt.state for p in trained[:2])


def test_frozen_parameter_with_stale_grad_is_not_touched():
    # requires_grad was switched off after a backward: the gradient is stale, the parameter frozen.
    w = dygrad.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    w.requires_grad_(False)
    before = w.numpy().copy()
    opt = optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    assert np.array_equal(w.numpy(), before) and w not in opt.state


@oracle
@pytest.mark.parametrize("cls_name,kwargs,group_opts", CASES[1::3], ids=IDS[1::3])
def test_state_dict_round_trip_continues_identically(cls_name, kwargs, group_opts):
    _, _, full = run(dygrad, cls_name, kwargs, group_opts)
    ps, opt, first = run(dygrad, cls_name, kwargs, group_opts, steps=STEPS // 2)
    saved = copy.deepcopy(opt.state_dict())
    # A fresh model at the same point, a fresh optimizer with other hyperparameters: loading
    # restores both the state and the groups' options.
    ps2 = make_params(dygrad)
    with dygrad.no_grad():
        for k in NAMES:
            ps2[k].copy_(ps[k])
    opt2 = getattr(optim, cls_name)(groups(ps2, {"lr": 123.0}), lr=99.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    assert opt2.param_groups[0]["params"][0] is ps2["w1"]
    # The loaded state is a copy: the saved dict does not change when training continues.
    snapshot = copy.deepcopy(saved)
    _, _, rest = run(dygrad, cls_name, kwargs, group_opts, steps=STEPS // 2, opt=opt2, ps=ps2)
    for a, b in zip(saved["state"].values(), snapshot["state"].values()):
        for key in a:
            assert np.array_equal(a[key].numpy(), b[key].numpy())
    for d, f in zip(first + rest, full):
        for k in NAMES:
            assert np.array_equal(d[k], f[k])


@oracle
@pytest.mark.parametrize("cls_name,kwargs,group_opts", CASES[::4], ids=IDS[::4])
def test_loading_torch_state_continues_torch_trajectory(cls_name, kwargs, group_opts):
    t_ps, t_opt, _ = run(torch, cls_name, kwargs, group_opts, steps=STEPS // 2)
    t_sd = t_opt.state_dict()
    conv = {
        "state": {
            i: {k: dygrad.tensor(v.numpy()) for k, v in s.items()} for i, s in t_sd["state"].items()
        },
        "param_groups": copy.deepcopy(t_sd["param_groups"]),
    }
    d_ps = {k: dygrad.tensor(p.detach().numpy(), requires_grad=p.requires_grad) for k, p in
            t_ps.items()}  # fmt: skip
    d_opt = getattr(optim, cls_name)(groups(d_ps, group_opts), **kwargs)
    d_opt.load_state_dict(conv)
    _, _, d_rest = run(dygrad, cls_name, kwargs, group_opts, steps=5, opt=d_opt, ps=d_ps)
    _, _, t_rest = run(torch, cls_name, kwargs, group_opts, steps=5, opt=t_opt, ps=t_ps)
    for d, t in zip(d_rest, t_rest):
        for k in NAMES:
            np.testing.assert_allclose(d[k], t[k], rtol=1e-6, atol=1e-6)


def test_state_dict_format():
    ps = make_params(dygrad)
    opt = optim.Adam(groups(ps, {"lr": 0.5}), lr=0.1)
    loss_fn(dygrad, ps).backward()
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1, 2], [3, 4, 5]]
    assert sorted(sd["state"]) == [0, 1, 3, 4]
    assert list(sd["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]
    assert sd["state"][0]["step"].item() == 1.0 and sd["state"][0]["step"].dtype is dygrad.float32
    # As in PyTorch, the returned state tensors are the optimizer's own.
    assert sd["state"][0]["exp_avg"] is opt.state[ps["w1"]]["exp_avg"]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["lr"] == 0.1


def test_step_is_a_float64_tensor_under_float64_default():
    prev = dygrad.get_default_dtype()
    dygrad.set_default_dtype(dygrad.float64)
    try:
        w = dygrad.ones(2, requires_grad=True)
        opt = optim.RMSprop([w])
        w.sum().backward()
        opt.step()
        assert opt.state[w]["step"].dtype is dygrad.float64
    finally:
        dygrad.set_default_dtype(prev)


def _snapshot(opt):
    return repr(opt), copy.deepcopy(opt.state_dict())


def _same(a, b):
    assert a[0] == b[0]
    sa, sb = a[1], b[1]
    assert sa["param_groups"] == sb["param_groups"]
    assert sorted(sa["state"]) == sorted(sb["state"])
    for i in sa["state"]:
        for k in sa["state"][i]:
            assert np.array_equal(sa["state"][i][k].numpy(), sb["state"][i][k].numpy())


def _trained_adam():
    ps = make_params(dygrad)
    opt = optim.Adam(groups(ps, {"lr": 0.5}), lr=0.1)
    loss_fn(dygrad, ps).backward()
    opt.step()
    return ps, opt


@oracle
def test_load_state_dict_errors_match_torch_and_leave_optimizer_unchanged():
    t_ps = make_params(torch)
    t_opt = torch.optim.Adam(groups(t_ps, {"lr": 0.5}), lr=0.1)
    _, opt = _trained_adam()
    good = copy.deepcopy(opt.state_dict())
    t_good = t_opt.state_dict()

    def bad_variants(sd):
        fewer = copy.deepcopy(sd)
        fewer["param_groups"] = fewer["param_groups"][:1]
        smaller = copy.deepcopy(sd)
        smaller["param_groups"][1]["params"] = [3, 4]
        return [fewer, smaller]

    before = _snapshot(opt)
    for bad, t_bad in zip(bad_variants(good), bad_variants(t_good)):
        with pytest.raises(ValueError) as t_err:
            t_opt.load_state_dict(t_bad)
        with pytest.raises(ValueError) as d_err:
            opt.load_state_dict(bad)
        assert str(d_err.value) == str(t_err.value)
        _same(before, _snapshot(opt))
    with pytest.raises(KeyError):
        opt.load_state_dict({"state": {}})
    _same(before, _snapshot(opt))


def test_load_state_dict_rejects_wrong_state_shapes_before_changing_anything():
    _, opt = _trained_adam()
    bad = copy.deepcopy(opt.state_dict())
    bad["param_groups"][0]["lr"] = 7.0
    bad["state"][1]["exp_avg"] = dygrad.zeros(3, dtype=dygrad.float64)
    before = _snapshot(opt)
    with pytest.raises(ValueError, match=r"'exp_avg' of shape \[3\] for parameter 1.*\[5\]"):
        opt.load_state_dict(bad)
    _same(before, _snapshot(opt))


def test_load_state_dict_casts_and_converts_numeric_step():
    _, opt = _trained_adam()
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"].float()
    sd["state"][0]["step"] = 1  # older PyTorch saved a number
    opt.load_state_dict(sd)
    s = list(opt.state.values())[0]
    assert s["exp_avg"].dtype is dygrad.float64
    assert isinstance(s["step"], dygrad.Tensor) and s["step"].item() == 1.0


@oracle
def test_add_param_group_and_constructor_errors_match_torch():
    def errors(lib):
        a = lib.ones(2, requires_grad=True)
        b = lib.ones(2, requires_grad=True)
        out = []
        attempts = [
            lambda: lib.optim.SGD([a], lr=0.1).add_param_group({"params": [a]}),
            lambda: lib.optim.SGD([a], lr=0.1).add_param_group({"params": {b}}),
            lambda: lib.optim.SGD([a], lr=0.1).add_param_group([b]),
            lambda: lib.optim.SGD([a, 3], lr=0.1),
            lambda: lib.optim.SGD([a * 2], lr=0.1),
            lambda: lib.optim.SGD([], lr=0.1),
            lambda: lib.optim.SGD(a, lr=0.1),
            lambda: lib.optim.SGD([("a", a), b], lr=0.1),
            lambda: lib.optim.SGD([("a", a)], lr=0.1).add_param_group({"params": [b]}),
        ]
        for f in attempts:
            with pytest.raises((TypeError, ValueError)) as e:
                f()
            out.append((type(e.value), str(e.value)))
        return out

    assert errors(dygrad) == errors(torch)


BAD_HYPERPARAMS = [
    ("SGD", {"lr": -1.0}),
    ("SGD", {"momentum": -0.1}),
    ("SGD", {"weight_decay": -1}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adam", {"lr": -0.1}),
    ("Adam", {"eps": -1.0}),
    ("Adam", {"betas": (1.0, 0.9)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("AdamW", {"weight_decay": -0.1}),
    ("RMSprop", {"alpha": -1.0}),
    ("RMSprop", {"momentum": -1.0}),
    ("Adagrad", {"lr_decay": -1.0}),
    ("Adagrad", {"initial_accumulator_value": -1.0}),
    ("Adagrad", {"eps": -1.0}),
]


@oracle
@pytest.mark.parametrize("cls_name,kwargs", BAD_HYPERPARAMS)
def test_invalid_hyperparameters_raise_torchs_errors(cls_name, kwargs):
    with pytest.raises(ValueError) as t_err:
        getattr(torch.optim, cls_name)([torch.ones(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as d_err:
        getattr(optim, cls_name)([dygrad.ones(1, requires_grad=True)], **kwargs)
    assert str(d_err.value) == str(t_err.value)


def test_duplicate_parameter_in_a_group_warns():
    a = dygrad.ones(1, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([a, a], lr=0.1)


@oracle
def test_named_parameters_are_kept_as_param_names():
    d = make_params(dygrad)
    t = make_params(torch)
    d_opt = optim.SGD(list(d.items()), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(list(t.items()), lr=0.1, momentum=0.9)
    assert d_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    assert d_opt.param_groups[0]["param_names"] == NAMES
    assert d_opt.param_groups[0]["params"][0] is d["w1"]


def test_zero_grad_to_none_or_in_place_zeros():
    w = dygrad.ones(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * 2).sum().backward()
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and w.grad.tolist() == [0.0, 0.0, 0.0]
    (w * 2).sum().backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]
    opt.zero_grad()
    assert w.grad is None


def test_zero_grad_detaches_a_grad_with_history():
    w = dygrad.ones(2, requires_grad=True)
    (w * w).sum().backward(create_graph=True)
    assert w.grad.grad_fn is not None
    optim.SGD([w]).zero_grad(set_to_none=False)
    assert w.grad.grad_fn is None and w.grad.tolist() == [0.0, 0.0]


@oracle
@pytest.mark.parametrize("cls_name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_closure_loss_is_returned_and_step_matches(cls_name):
    def make(lib):
        ps = make_params(lib)
        opt = getattr(lib.optim, cls_name)(groups(ps, {}), lr=0.01)

        def closure():
            opt.zero_grad()
            loss = loss_fn(lib, ps)
            loss.backward()
            return loss

        return ps, opt, closure

    d_ps, d_opt, d_closure = make(dygrad)
    t_ps, t_opt, t_closure = make(torch)
    for _ in range(3):
        with dygrad.no_grad():  # the closure runs with grad enabled regardless
            d_loss = d_opt.step(d_closure)
        t_loss = t_opt.step(t_closure)
        assert abs(d_loss.item() - t_loss.item()) < 1e-10
    for k in NAMES:
        np.testing.assert_allclose(d_ps[k].detach().numpy(), t_ps[k].detach().numpy(), rtol=1e-6)
    assert d_opt.step() is None


def test_tensor_lr_is_accepted():
    w = dygrad.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=dygrad.tensor(0.5))
    (w * w).sum().backward()
    opt.step()
    assert w.tolist() == [0.0]
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.Adam([w], lr=dygrad.tensor([0.1, 0.2]))


def test_differentiable_is_refused():
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.Adam([dygrad.ones(1, requires_grad=True)], differentiable=True)


def test_custom_optimizer_on_the_base_class():
    class SignSGD(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            with dygrad.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.sub_(p.grad.sign(), alpha=group["lr"])

    w = dygrad.tensor([1.0, -1.0], requires_grad=True)
    opt = SignSGD([w], lr=0.25)
    (w * w).sum().backward()
    opt.step()
    assert w.tolist() == [0.75, -0.75]
    assert "SignSGD (" in repr(opt) and "lr: 0.25" in repr(opt)


def test_nn_parameter_when_available():
    Parameter = getattr(dygrad.nn, "Parameter", None)
    if Parameter is None:
        pytest.skip("dygrad.nn.Parameter not written yet")
    w = Parameter(dygrad.tensor([2.0]))
    opt = optim.SGD([w], lr=0.25)
    (w * w).sum().backward()
    opt.step()
    assert w.tolist() == [1.0] and isinstance(w, Parameter) and w.requires_grad


def test_optimizer_step_creates_no_graph_and_no_warnings():
    ps = make_params(dygrad)
    opt = optim.Adam(groups(ps, {}), amsgrad=True)
    loss_fn(dygrad, ps).backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    for s in opt.state.values():
        assert all(not v.requires_grad and v.grad_fn is None for v in s.values())


# --- the fused update: backend.axpy under Tensor.add_(other, alpha=) ----------------------------

from dygrad import backend  # noqa: E402

BIG = backend._AXPY_MIN * 2 + 3  # above the size where add_ takes BLAS's axpy


def _axpy_case(dt, n=BIG, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dt), rng.standard_normal(n).astype(dt)


@pytest.mark.skipif(not backend._axpy_kernels(), reason="NumPy's wheel bundles no OpenBLAS here")
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_axpy_adds_alpha_times_x_in_place(dt):
    x, y = _axpy_case(dt)
    y0 = y.copy()
    assert backend.axpy(-0.01, x, y)
    prod = x * dt(-0.01)
    ref = y0 + prod  # NumPy rounds the product and the sum, axpy only the sum:
    assert np.all(np.abs(y - ref) <= np.spacing(np.abs(prod)) / 2 + np.spacing(np.abs(ref)))
    assert np.mean(y == ref) > 0.9  # the same number nearly everywhere
    # x given as y itself: y + alpha * y, elementwise.
    y1 = y0.copy()
    assert backend.axpy(0.5, y1, y1)
    np.testing.assert_allclose(y1, y0 * 1.5, rtol=np.finfo(dt).eps)


def test_axpy_declines_and_writes_nothing_where_it_does_not_apply():
    x, y = _axpy_case(np.float32)
    y0 = y.copy()
    big2 = np.zeros((2, BIG), np.float32)
    ro = y.copy()
    ro.flags.writeable = False
    cases = [
        (x[:100], y[:100]),  # small
        (x.astype(np.float64), y),  # dtypes differ
        (x.astype(np.float16), y.astype(np.float16)),  # no half-precision axpy
        (x[::2], y[: (BIG + 1) // 2]),  # not contiguous
        (big2[0, 1:], big2[0, :-1]),  # overlapping views
        (x, ro),  # read-only
        (x.reshape(1, -1), y),  # shapes differ
    ]
    for a, b in cases:
        before = b.copy()
        assert not backend.axpy(2.0, a, b)
        assert np.array_equal(b, before)
    assert np.array_equal(y, y0)
    # An alpha that is 0 in the dtype: BLAS would skip the pass altogether.
    for alpha in (0.0, -0.0, 0, 1e-46):
        assert not backend.axpy(alpha, x, y)
    assert backend.axpy(1e-46, x.astype(np.float64), y.astype(np.float64))


@pytest.mark.parametrize("alpha", [0.0, -0.0, 1e-46])
def test_add_with_zero_alpha_still_propagates_nan_and_inf(alpha):
    # y + 0 * x: NaN where x is NaN or infinite, and the sign of -0.0 + alpha * 1.0 (PyTorch's).
    n = BIG
    p = dygrad.zeros(n)
    p[0] = -0.0
    g = dygrad.zeros(n)
    g[0], g[1], g[2] = 1.0, float("nan"), float("inf")
    with dygrad.no_grad():
        p.add_(g, alpha=alpha)
    got = p[:3].tolist()
    assert np.isnan(got[1]) and np.isnan(got[2])
    zero = np.float32(-0.0) + np.float32(alpha) * np.float32(1.0)  # -0.0 only for alpha -0.0
    assert got[0] == 0.0 and np.copysign(1.0, got[0]) == np.copysign(1.0, zero)
    w = dygrad.nn.Parameter(dygrad.ones(n))
    w.grad = dygrad.full((n,), float("nan"))
    optim.SGD([w], lr=0.0).step()
    assert np.isnan(w.detach().numpy()).all()


def test_fused_add_matches_the_unfused_update_and_bumps_the_version():
    x, g = _axpy_case(np.float32)
    p = dygrad.tensor(x, requires_grad=True)
    grad = dygrad.tensor(g)
    v = p._version
    with dygrad.no_grad():
        out = p.add_(grad, alpha=-0.1)
    assert out is p and p._version == v + 1
    prod = g * np.float32(-0.1)
    ref = x + prod
    err = np.abs(p.detach().numpy() - ref)
    assert np.all(err <= np.spacing(np.abs(prod)) / 2 + np.spacing(np.abs(ref)))
    # Where no BLAS is found the same call takes NumPy's way, with the same values up to a unit.
    backend._axpy_kernels.cache_clear()
    real = backend._axpy_kernels
    backend._axpy_kernels = lambda: {}
    try:
        q = dygrad.tensor(x, requires_grad=True)
        with dygrad.no_grad():
            q.add_(grad, alpha=-0.1)
    finally:
        backend._axpy_kernels = real
    assert np.array_equal(q.detach().numpy(), ref)
    # An update that saved values depend on is still caught by the version check.
    w = dygrad.tensor(x.copy(), requires_grad=True)
    h = w * 2
    loss = (h * h).sum()
    with dygrad.no_grad():
        h.add_(grad, alpha=0.5)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@oracle
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_sgd_update_is_pytorchs_bit_for_bit(dt):
    # PyTorch's add_ with alpha rounds once (a fused multiply-add); so does BLAS's axpy, but for
    # a tail of each thread's share.
    x, g = _axpy_case(dt)
    p = dygrad.tensor(x.copy(), requires_grad=True)
    p.grad = dygrad.tensor(g)
    optim.SGD([p], lr=0.01).step()
    tp = torch.tensor(x.copy(), requires_grad=True)
    tp.grad = torch.tensor(g)
    torch.optim.SGD([tp], lr=0.01).step()
    got, want = p.detach().numpy(), tp.detach().numpy()
    np.testing.assert_allclose(got, want, rtol=np.finfo(dt).eps)
    if backend._axpy_kernels():
        # All but the last n mod 32 elements of each BLAS thread's share (rounded twice there).
        assert np.count_nonzero(got != want) <= 32 * (os.cpu_count() or 1)
