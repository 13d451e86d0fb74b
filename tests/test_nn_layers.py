"""nn layers of dygrad.ops.nnops against PyTorch: activations, BatchNorm (running statistics,
momentum, eval mode, state dicts), LayerNorm, GroupNorm, Dropout (statistics, masks, seeding) and
Embedding (padding, max_norm, from_pretrained): values, input and parameter gradients, reprs and
error messages."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
import dygrad.nn as dnn
import dygrad.nn.functional as DF

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

TOL = {"float32": (2e-5, 2e-6), "float64": (1e-10, 1e-12)}
DTYPES = ("float32", "float64")


def np_(t: Any) -> np.ndarray:
    return np.array(t.detach().numpy())


def close(a: Any, b: Any, dtype: str = "float64", k: float = 1.0, what: str = "") -> None:
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(np_(a), np_(b), rtol=rtol * k, atol=atol * k, err_msg=what)


def both(fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    return fn(dygrad), fn(torch)


def copy_state(dmod: Any, tmod: Any) -> None:
    """Load a PyTorch module's state into the dygrad module (through load_state_dict)."""
    sd = {k: dygrad.tensor(v.numpy().copy()) for k, v in tmod.state_dict().items()}
    dmod.load_state_dict(sd)


def run_module(dmod: Any, tmod: Any, x: np.ndarray, dtype: str, k: float = 1.0,
               seed: int = 0) -> None:  # fmt: skip
    """Same input through both modules: outputs, input gradients, parameter gradients."""
    xd = dygrad.tensor(x.astype(dtype), requires_grad=True)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    yd, yt = dmod(xd), tmod(xt)
    close(yd, yt, dtype, k, "output")
    w = np.random.default_rng(seed).standard_normal(tuple(yt.shape)).astype(dtype)
    (yd * dygrad.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    close(xd.grad, xt.grad, dtype, k, "input grad")
    dp, tp = dict(dmod.named_parameters()), dict(tmod.named_parameters())
    assert list(dp) == list(tp)
    for name in tp:
        close(dp[name].grad, tp[name].grad, dtype, k, f"grad of {name}")


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# --- activations ------------------------------------------------------------------------------
ACTIVATIONS: list[tuple[str, dict[str, Any]]] = [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("ELU", {}), ("ELU", {"alpha": 0.5}), ("SELU", {}), ("GELU", {}),
    ("GELU", {"approximate": "tanh"}), ("SiLU", {}), ("Tanh", {}), ("Sigmoid", {}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 1.5}), ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("LogSigmoid", {}), ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": -1}), ("Softmin", {"dim": 0}),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=[f"{n}{kw}" for n, kw in ACTIVATIONS])
def test_activation_modules(name: str, kw: dict[str, Any], dtype: str) -> None:
    dmod, tmod = getattr(dnn, name)(**kw), getattr(tnn, name)(**kw)
    assert repr(dmod) == repr(tmod)
    run_module(dmod, tmod, rand(4, 5) * 3, dtype)


@pytest.mark.parametrize("name,kw", [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.1}), ("ELU", {}),
    ("SELU", {}), ("SiLU", {}), ("Hardtanh", {}),
])  # fmt: skip
def test_inplace_activation_modules(name: str, kw: dict[str, Any]) -> None:
    dmod, tmod = getattr(dnn, name)(inplace=True, **kw), getattr(tnn, name)(inplace=True, **kw)
    assert repr(dmod) == repr(tmod)
    res = []
    for m, mod in ((dygrad, dmod), (torch, tmod)):
        x = m.tensor(rand(3, 4) * 2, requires_grad=True)
        h = x * 1
        y = mod(h)
        assert y is h  # written in place
        (y * y).sum().backward()
        res.append((y, x.grad, type(y.grad_fn).__name__))
    close(res[0][0], res[1][0])
    close(res[0][1], res[1][1])
    assert res[0][2] == res[1][2]


def test_activation_reprs_with_options() -> None:
    for build in (
        lambda n: n.ReLU(inplace=True),
        lambda n: n.LeakyReLU(0.3, inplace=True),
        lambda n: n.ELU(alpha=2.0, inplace=True),
        lambda n: n.SiLU(True),
        lambda n: n.Hardtanh(-2.0, 2.0, True),
        lambda n: n.Softmax(),
        lambda n: n.Softplus(beta=3, threshold=4),
        lambda n: n.GELU("tanh"),
    ):
        assert repr(build(dnn)) == repr(build(tnn))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_implicit_dim_warns_and_matches(fn: str, shape: tuple[int, ...]) -> None:
    x = rand(*shape)
    outs = []
    for m in (DF, TF):
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            outs.append(getattr(m, fn)((dygrad if m is DF else torch).tensor(x)))
    close(*outs)


def test_functional_activation_errors_match_torch() -> None:
    for call in (lambda F, m: F.gelu(m.ones(2), approximate="bad"),
                 lambda F, m: F.hardtanh(m.ones(2), 2.0, 1.0)):  # fmt: skip
        msgs = []
        for F, m in ((DF, dygrad), (TF, torch)):
            with pytest.raises((RuntimeError, ValueError)) as e:
                call(F, m)
            msgs.append((type(e.value), str(e.value)))
        assert msgs[0] == msgs[1]


def test_gelu_erf_accuracy() -> None:
    x = np.concatenate([np.linspace(-40, 40, 4001), [0.0, -0.0, 1e-300, 5.9, 6.1]])
    close(DF.gelu(dygrad.tensor(x)), TF.gelu(torch.tensor(x)))
    close(dygrad.erf(dygrad.tensor(x)), torch.erf(torch.tensor(x)))
    close(dygrad.erfc(dygrad.tensor(x)), torch.erfc(torch.tensor(x)))


# --- batch norm -------------------------------------------------------------------------------
def _bn_pair(cls: str, dtype: str, **kw: Any) -> tuple[Any, Any]:
    dmod, tmod = getattr(dnn, cls)(**kw), getattr(tnn, cls)(**kw)
    if dtype == "float64":
        dmod, tmod = dmod.double(), tmod.double()
    if tmod.affine:
        with torch.no_grad():  # non-trivial affine parameters
            tmod.weight.copy_(torch.tensor(rand(kw["num_features"], seed=1) + 1.0))
            if tmod.bias is not None:
                tmod.bias.copy_(torch.tensor(rand(kw["num_features"], seed=2)))
    copy_state(dmod, tmod)
    return dmod, tmod


def _compare_state(dmod: Any, tmod: Any, dtype: str) -> None:
    ds, ts = dmod.state_dict(), tmod.state_dict()
    assert list(ds) == list(ts)
    for k in ts:
        assert str(ds[k].dtype) == str(ts[k].dtype), k
        close(ds[k], ts[k], dtype, 5, k)


BN_CASES = [
    ("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 5, 2)),
    ("BatchNorm3d", (2, 3, 2, 2, 2)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("cls,shape", BN_CASES)
def test_batch_norm_training_steps_and_eval(
    cls: str, shape: tuple[int, ...], momentum: float | None, dtype: str
) -> None:
    dmod, tmod = _bn_pair(cls, dtype, num_features=shape[1], momentum=momentum)
    for step in range(3):  # running statistics accumulate over steps
        x = rand(*shape, seed=10 + step) * 2 + 1
        run_module(dmod, tmod, x, dtype, k=10, seed=step)
        _compare_state(dmod, tmod, dtype)
        dmod.zero_grad()
        tmod.zero_grad()
    assert int(dmod.num_batches_tracked) == 3
    dmod.eval()
    tmod.eval()
    run_module(dmod, tmod, rand(*shape, seed=99), dtype, k=10)
    _compare_state(dmod, tmod, dtype)  # eval leaves the running statistics alone


@pytest.mark.parametrize("kw", [{"affine": False}, {"track_running_stats": False},
                                {"affine": False, "track_running_stats": False},
                                {"eps": 1e-2, "momentum": 0.9}, {"bias": False}])  # fmt: skip
def test_batch_norm_options(kw: dict[str, Any]) -> None:
    dmod, tmod = _bn_pair("BatchNorm2d", "float64", num_features=2, **kw)
    assert repr(dmod) == repr(tmod)
    assert list(dmod.state_dict()) == list(tmod.state_dict())
    for train in (True, False):
        dmod.train(train)
        tmod.train(train)
        run_module(dmod, tmod, rand(3, 2, 2, 2, seed=int(train)), "float64", k=10)
        _compare_state(dmod, tmod, "float64")


def test_batch_norm_reprs_and_buffers() -> None:
    for build in (
        lambda n: n.BatchNorm2d(3),
        lambda n: n.BatchNorm1d(4, eps=1e-3, momentum=None),
        lambda n: n.BatchNorm1d(2, affine=False, track_running_stats=False),
    ):
        d, t = build(dnn), build(tnn)
        assert repr(d) == repr(t)
        assert [n for n, _ in d.named_buffers()] == [n for n, _ in t.named_buffers()]
        assert [n for n, _ in d.named_parameters()] == [n for n, _ in t.named_parameters()]
    bn = dnn.BatchNorm2d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]  # fmt: skip
    assert bn.num_batches_tracked.dtype == dygrad.int64 and bn.num_batches_tracked.ndim == 0


def test_batch_norm_loads_old_state_dict_without_count() -> None:
    bn = dnn.BatchNorm1d(2)
    sd = dnn.BatchNorm1d(2).state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""] = {"version": 1}
    bn.load_state_dict(sd)  # PyTorch fills in the missing count for version-1 state dicts
    assert int(bn.num_batches_tracked) == 0


def test_batch_norm_in_place_relu_after_it() -> None:
    # The backward does not need the output, so an in-place op on it is fine (as in PyTorch).
    for m, n in ((dygrad, dnn), (torch, tnn)):
        net = n.Sequential(n.BatchNorm1d(3), n.ReLU(inplace=True))
        x = m.tensor(rand(5, 3).astype("float32"), requires_grad=True)
        net(x).sum().backward()
        assert x.grad is not None


def test_functional_batch_norm_updates_running_stats() -> None:
    x = rand(6, 3, 2)
    stats = []
    for m, F in ((dygrad, DF), (torch, TF)):
        rm, rv = m.zeros(3, dtype=m.float64), m.ones(3, dtype=m.float64)
        v0 = rm._version
        y = F.batch_norm(m.tensor(x), rm, rv, training=True, momentum=0.25)
        if m is dygrad:  # an in-place change: nodes that saved the old value will refuse it
            assert rm._version > v0
        stats.append((y, rm, rv))
    for a, b in zip(*stats):
        close(a, b)


BN_ERRORS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("one-value", lambda F, m: F.batch_norm(m.ones(1, 3), None, None, training=True)),
    ("one-value-3d", lambda F, m: F.batch_norm(m.ones(1, 2, 1), None, None, training=True)),
    ("eval-no-stats", lambda F, m: F.batch_norm(m.ones(4, 3), None, None, training=False)),
    ("stats-size", lambda F, m: F.batch_norm(m.ones(4, 3), m.zeros(2), m.ones(2), training=True)),
    ("weight-size",
     lambda F, m: F.batch_norm(m.ones(4, 3), m.zeros(3), m.ones(3), m.ones(2), training=True)),
    ("mixed-dtype", lambda F, m: F.batch_norm(m.ones(4, 3).double(), m.zeros(3), m.ones(3),
                                              training=True)),
    ("ln-shape", lambda F, m: F.layer_norm(m.ones(4, 3), (4,))),
    ("ln-weight", lambda F, m: F.layer_norm(m.ones(4, 3), (3,), m.ones(4))),
    ("gn-groups", lambda F, m: F.group_norm(m.ones(4, 3), 2)),
    ("gn-weight", lambda F, m: F.group_norm(m.ones(4, 4), 2, m.ones(3))),
]  # fmt: skip


@pytest.mark.parametrize("call", [pytest.param(c, id=i) for i, c in BN_ERRORS])
def test_normalization_errors_match_torch(call: Callable[[Any, Any], Any]) -> None:
    errs = []
    for F, m in ((DF, dygrad), (TF, torch)):
        with pytest.raises((RuntimeError, ValueError)) as e:
            call(F, m)
        errs.append((type(e.value), str(e.value)))
    assert errs[0] == errs[1]


def test_batch_norm_module_input_dim_errors() -> None:
    for cls, x in (("BatchNorm1d", (2, 3, 4, 5)), ("BatchNorm2d", (2, 3)), ("BatchNorm3d", (2, 3))):
        msgs = []
        for m, n in ((dygrad, dnn), (torch, tnn)):
            with pytest.raises(ValueError) as e:
                getattr(n, cls)(3)(m.ones(*x))
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1]


def test_batch_norm_error_leaves_stats_unchanged() -> None:
    bn = dnn.BatchNorm1d(3)
    with pytest.raises(ValueError):
        bn(dygrad.ones(1, 3))
    assert bn.running_mean.tolist() == [0.0, 0.0, 0.0]
    assert bn.running_var.tolist() == [1.0, 1.0, 1.0]
    assert int(bn.num_batches_tracked) == 0


# --- layer norm and group norm ------------------------------------------------------------------
LN_CASES: list[tuple[Any, dict[str, Any], tuple[int, ...]]] = [
    (4, {}, (3, 4)), ((3, 4), {}, (2, 3, 4)), ([4], {"elementwise_affine": False}, (2, 5, 4)),
    ((4,), {"bias": False}, (3, 4)), ((2, 3), {"eps": 1e-2}, (5, 2, 3)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape_arg,kw,xshape", LN_CASES)
def test_layer_norm_module(shape_arg: Any, kw: dict[str, Any], xshape: tuple[int, ...],
                           dtype: str) -> None:  # fmt: skip
    dmod, tmod = dnn.LayerNorm(shape_arg, **kw), tnn.LayerNorm(shape_arg, **kw)
    assert repr(dmod) == repr(tmod)
    if dtype == "float64":
        dmod, tmod = dmod.double(), tmod.double()
    with torch.no_grad():
        for i, p in enumerate(tmod.parameters()):
            p.copy_(torch.tensor(rand(*p.shape, seed=i) + (1.0 if i == 0 else 0.0)))
    copy_state(dmod, tmod)
    run_module(dmod, tmod, rand(*xshape) * 3 + 1, dtype, k=10)


GN_CASES: list[tuple[int, int, dict[str, Any], tuple[int, ...]]] = [
    (2, 4, {}, (3, 4, 5)), (3, 6, {"eps": 1e-3}, (2, 6, 2, 2)), (1, 3, {}, (2, 3, 4)),
    (3, 3, {"affine": False}, (2, 3, 4)), (2, 4, {}, (5, 4)), (2, 2, {"bias": False}, (3, 2, 2)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("groups,channels,kw,xshape", GN_CASES)
def test_group_norm_module(groups: int, channels: int, kw: dict[str, Any],
                           xshape: tuple[int, ...], dtype: str) -> None:  # fmt: skip
    dmod, tmod = dnn.GroupNorm(groups, channels, **kw), tnn.GroupNorm(groups, channels, **kw)
    assert repr(dmod) == repr(tmod)
    if dtype == "float64":
        dmod, tmod = dmod.double(), tmod.double()
    with torch.no_grad():
        for i, p in enumerate(tmod.parameters()):
            p.copy_(torch.tensor(rand(*p.shape, seed=i) + (1.0 if i == 0 else 0.0)))
    copy_state(dmod, tmod)
    run_module(dmod, tmod, rand(*xshape) * 2 - 1, dtype, k=10)


def test_group_norm_bad_channels() -> None:
    msgs = []
    for n in (dnn, tnn):
        with pytest.raises(ValueError) as e:
            n.GroupNorm(2, 3)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


# --- dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p: float) -> None:
    dygrad.manual_seed(1)
    n = 200_000
    y = DF.dropout(dygrad.ones(n), p)
    a = y.numpy()
    kept = a != 0
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(a[kept], np.float32(1 / (1 - p)), rtol=1e-6)
    assert abs(a.mean() - 1.0) < 0.02  # the expectation is preserved


def test_dropout_backward_uses_the_forward_mask() -> None:
    dygrad.manual_seed(3)
    x = dygrad.tensor(rand(50, 40), requires_grad=True)
    y = DF.dropout(x, 0.3)
    assert type(y.grad_fn).__name__ == "MulBackward0"  # PyTorch's CPU dropout records a Mul
    w = dygrad.tensor(rand(50, 40, seed=1))
    (y * w).sum().backward()
    mask = y.detach().numpy() / x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask * w.numpy(), rtol=1e-5, atol=1e-6)
    assert set(np.unique(np.round(mask, 5))) == {0.0, round(1 / 0.7, 5)}


def test_dropout_seeding_and_modes() -> None:
    x = dygrad.ones(100)
    dygrad.manual_seed(7)
    a = DF.dropout(x, 0.5)
    dygrad.manual_seed(7)
    b = DF.dropout(x, 0.5)
    c = DF.dropout(x, 0.5)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert DF.dropout(x, 0.5, training=False) is x
    assert DF.dropout(x, 0.0) is x
    assert DF.dropout(x, 1.0).tolist() == [0.0] * 100
    m = dnn.Dropout(0.5)
    assert repr(m) == repr(tnn.Dropout(0.5)) == "Dropout(p=0.5, inplace=False)"
    assert repr(dnn.Dropout(0.1, True)) == repr(tnn.Dropout(0.1, True))
    assert m.eval()(x) is x
    assert (m.train()(x) == 0).any().item()


def test_dropout_inplace() -> None:
    dygrad.manual_seed(0)
    x = dygrad.ones(20, requires_grad=True)
    h = x * 1
    y = dnn.Dropout(0.5, inplace=True)(h)
    assert y is h and (y == 0).any().item()
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy())


def test_dropout_errors_match_torch() -> None:
    for call in (lambda F, n, m: F.dropout(m.ones(2), 1.5), lambda F, n, m: n.Dropout(-0.1)):
        msgs = []
        for F, n, m in ((DF, dnn, dygrad), (TF, tnn, torch)):
            with pytest.raises(ValueError) as e:
                call(F, n, m)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1]


# --- embedding -----------------------------------------------------------------------------------
def _emb_pair(dtype: str, *args: Any, **kw: Any) -> tuple[Any, Any]:
    dmod, tmod = dnn.Embedding(*args, **kw), tnn.Embedding(*args, **kw)
    if dtype == "float64":
        dmod, tmod = dmod.double(), tmod.double()
    copy_state(dmod, tmod)
    return dmod, tmod


IDX = [[1, 0, 4], [4, 4, 2]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 4}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True}, {"max_norm": 1.0},
                                {"max_norm": 0.5, "norm_type": 1.0},
                                {"padding_idx": 0, "scale_grad_by_freq": True}])  # fmt: skip
def test_embedding_module(kw: dict[str, Any], dtype: str) -> None:
    dmod, tmod = _emb_pair(dtype, 5, 3, **kw)
    assert repr(dmod) == repr(tmod)
    yd, yt = dmod(dygrad.tensor(IDX)), tmod(torch.tensor(IDX))
    close(yd, yt, dtype)
    w = rand(*yt.shape).astype(dtype)
    (yd * dygrad.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    close(dmod.weight.grad, tmod.weight.grad, dtype)
    close(dmod.weight, tmod.weight, dtype)  # max_norm renormalized the same rows in place


def test_embedding_init_and_padding_row() -> None:
    dygrad.manual_seed(0)
    e = dnn.Embedding(1000, 8, padding_idx=3)
    w = e.weight.detach().numpy()
    assert (w[3] == 0).all()
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1.0) < 0.05  # N(0, 1)
    assert e.weight.dtype == dygrad.float32 and e.weight.requires_grad
    e(dygrad.tensor([3, 3, 1])).sum().backward()
    assert e.weight.grad[3].tolist() == [0.0] * 8 and e.weight.grad[1].tolist() == [1.0] * 8


def test_embedding_from_pretrained() -> None:
    w = rand(4, 2)
    for freeze in (True, False):
        d = dnn.Embedding.from_pretrained(dygrad.tensor(w), freeze=freeze, padding_idx=1)
        t = tnn.Embedding.from_pretrained(torch.tensor(w), freeze=freeze, padding_idx=1)
        assert repr(d) == repr(t)
        assert d.weight.requires_grad == t.weight.requires_grad == (not freeze)
        close(d(dygrad.tensor([1, 2])), t(torch.tensor([1, 2])))  # the padding row is kept


def test_embedding_reprs() -> None:
    for args, kw in (
        ((10, 3), {"padding_idx": 0}),
        ((4, 2), {}),
        ((4, 2), {"max_norm": 1.5, "norm_type": 1.0, "scale_grad_by_freq": True}),
    ):
        assert repr(dnn.Embedding(*args, **kw)) == repr(tnn.Embedding(*args, **kw))
    assert repr(dnn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"


EMB_ERRORS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("out-of-range", lambda F, m: F.embedding(m.tensor([10]), m.ones(10, 3))),
    ("negative", lambda F, m: F.embedding(m.tensor([-1]), m.ones(10, 3))),
    ("float-indices", lambda F, m: F.embedding(m.tensor([1.0]), m.ones(10, 3))),
    ("padding", lambda F, m: F.embedding(m.tensor([1]), m.ones(10, 3), padding_idx=10)),
]  # fmt: skip


@pytest.mark.parametrize("call", [pytest.param(c, id=i) for i, c in EMB_ERRORS])
def test_embedding_errors_match_torch(call: Callable[[Any, Any], Any]) -> None:
    errs = []
    for F, m in ((DF, dygrad), (TF, torch)):
        with pytest.raises((RuntimeError, IndexError, AssertionError)) as e:
            call(F, m)
        errs.append((type(e.value), str(e.value)))
    assert errs[0] == errs[1]


def test_embedding_int32_indices_and_module_errors() -> None:
    e = dnn.Embedding(5, 2)
    assert e(dygrad.tensor([1, 2], dtype=dygrad.int32)).shape == (2, 2)
    for kw in ({"padding_idx": 5}, {"padding_idx": -6}):
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            dnn.Embedding(5, 2, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dnn.Embedding(5, 2, padding_idx=-5)
