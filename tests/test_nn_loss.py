"""Loss functions and loss modules against PyTorch: every reduction and option (class weights,
ignore_index, label smoothing, probability targets, pos_weight, log targets), values and
gradients for input and target in float32 and float64, reprs, buffers, warnings and errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
import dygrad.nn as dnn

torch = pytest.importorskip("torch")
tnn, TF = torch.nn, torch.nn.functional

TOL = {"float32": (3e-5, 3e-6), "float64": (1e-10, 1e-12)}
DTYPES = ("float32", "float64")
REDUCTIONS = ("none", "mean", "sum")


def np_(t: Any) -> np.ndarray:
    return np.array(t.detach().numpy())


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def probs(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape)


def compare(loss: Callable[..., Any], args: list[tuple[np.ndarray, bool]], dtype: str,
            k: float = 1.0) -> None:  # fmt: skip
    """Run `loss(m, *tensors)` in both libraries: values, then gradients of a weighted sum of the
    result with respect to every argument flagged True. Integer arrays stay integer."""
    res = []
    for m in (dygrad, torch):
        ts = []
        for a, g in args:
            t = m.tensor(a.astype(dtype) if a.dtype.kind == "f" else a)
            if g:
                t.requires_grad_(True)
            ts.append(t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            y = loss(m, *ts)
        w = rand(*y.shape, seed=5).astype(dtype)
        (y * m.tensor(w)).sum().backward()
        res.append((y, [t.grad for t, (_, g) in zip(ts, args) if g]))
    (yd, gd), (yt, gt) = res
    rtol, atol = TOL[dtype]
    assert str(yd.dtype) == str(yt.dtype) and tuple(yd.shape) == tuple(yt.shape)
    np.testing.assert_allclose(np_(yd), np_(yt), rtol * k, atol * k, err_msg="value")
    for i, (a, b) in enumerate(zip(gd, gt)):
        assert str(a.dtype) == str(b.dtype)
        np.testing.assert_allclose(np_(a), np_(b), rtol * k, atol * k, err_msg=f"grad {i}")


def module_pair(name: str, **kw: Any) -> tuple[Any, Any]:
    def conv(m: Any, v: Any) -> Any:
        return m.tensor(v) if isinstance(v, np.ndarray) else v

    d = getattr(dnn, name)(**{k: conv(dygrad, v) for k, v in kw.items()})
    t = getattr(tnn, name)(**{k: conv(torch, v) for k, v in kw.items()})
    return d, t


# --- regression losses ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", [("MSELoss", {}), ("L1Loss", {}), ("SmoothL1Loss", {}),
                                     ("SmoothL1Loss", {"beta": 0.3}),
                                     ("SmoothL1Loss", {"beta": 0.0}), ("HuberLoss", {}),
                                     ("HuberLoss", {"delta": 0.4})])  # fmt: skip
def test_regression_modules(name: str, kw: dict[str, Any], reduction: str, dtype: str) -> None:
    d, t = module_pair(name, reduction=reduction, **kw)
    assert repr(d) == repr(t) == f"{name}()"
    assert d.reduction == t.reduction == reduction
    x, y = rand(4, 5), rand(4, 5, seed=1)
    compare(lambda m, a, b: (d if m is dygrad else t)(a, b), [(x, True), (y, True)], dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(fn: str, reduction: str) -> None:
    x, y, w = rand(3, 4), rand(3, 4, seed=1), probs(3, 4, seed=2)
    compare(
        lambda m, a, b, c: getattr(m.nn.functional, fn)(a, b, reduction=reduction, weight=c),
        [(x, True), (y, True), (w, False)],
        "float64",
    )


def test_regression_broadcast_warns_like_torch() -> None:
    msgs = []
    for m in (dygrad, torch):
        x = m.ones(3, requires_grad=True)
        with pytest.warns(UserWarning) as rec:
            y = m.nn.functional.mse_loss(x, m.zeros(2, 3))
        y.backward()
        msgs.append((str(rec[0].message), y.item(), x.grad.tolist()))
    assert msgs[0] == msgs[1]
    assert (
        "Using a target size (torch.Size([2, 3])) that is different to the input size"
        in (msgs[0][0])
    )


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_shape_errors_match_torch(fn: str) -> None:
    errs = []
    for m in (dygrad, torch):
        with warnings.catch_warnings(), pytest.raises(RuntimeError) as e:
            warnings.simplefilter("ignore", UserWarning)
            getattr(m.nn.functional, fn)(m.ones(3), m.ones(2))
        errs.append(str(e.value))
    assert errs[0] == errs[1]


# --- NLL and cross entropy -----------------------------------------------------------------------
TARGET = np.array([0, 2, 1, 1, 2])
TARGET_IGN = np.array([0, -100, 1, 1, 2])
TARGET_IGN1 = np.array([0, 2, 1, 1, 2])  # ignore_index=1 drops two of five


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"weight": True},
        {"ignore_index": 1},
        {"weight": True, "ignore_index": 1},
        {"weight": True, "ignore_index": -100, "ign": True},
    ],
    ids=["plain", "weight", "ignore", "weight-ignore", "weight-default-ign"],
)
def test_nll_loss_module(opts: dict[str, Any], reduction: str, dtype: str) -> None:
    kw: dict[str, Any] = {"reduction": reduction}
    if opts.get("weight"):
        kw["weight"] = probs(3, seed=3).astype(dtype)
    if "ignore_index" in opts:
        kw["ignore_index"] = opts["ignore_index"]
    d, t = module_pair("NLLLoss", **kw)
    assert repr(d) == repr(t)
    target = TARGET_IGN if opts.get("ign") else TARGET
    x = np.log(probs(5, 3))
    compare(lambda m, a, b: (d if m is dygrad else t)(a, b), [(x, True), (target, False)], dtype)


CE_OPTS: list[tuple[str, dict[str, Any]]] = [
    ("plain", {}), ("weight", {"weight": True}), ("ignore", {"ignore_index": 1}),
    ("smooth", {"label_smoothing": 0.2}),
    ("smooth-weight", {"label_smoothing": 0.3, "weight": True}),
    ("smooth-ignore", {"label_smoothing": 0.1, "ignore_index": 1}),
    ("smooth-weight-ignore", {"label_smoothing": 0.25, "weight": True, "ignore_index": 2}),
    ("smooth-full", {"label_smoothing": 1.0}),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", [o for _, o in CE_OPTS], ids=[i for i, _ in CE_OPTS])
def test_cross_entropy_module_indices(opts: dict[str, Any], reduction: str, dtype: str) -> None:
    kw = dict(opts, reduction=reduction)
    if kw.pop("weight", False):
        kw["weight"] = probs(3, seed=3).astype(dtype)
    d, t = module_pair("CrossEntropyLoss", **kw)
    assert repr(d) == repr(t) == "CrossEntropyLoss()"
    compare(lambda m, a, b: (d if m is dygrad else t)(a, b), [(rand(5, 3) * 2, True),
                                                              (TARGET, False)], dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "opts",
    [{}, {"weight": True}, {"label_smoothing": 0.2}, {"weight": True, "label_smoothing": 0.4}],
    ids=["plain", "weight", "smooth", "weight-smooth"],
)
def test_cross_entropy_module_probabilities(opts: dict[str, Any], reduction: str,
                                            dtype: str) -> None:  # fmt: skip
    kw = dict(opts, reduction=reduction)
    if kw.pop("weight", False):
        kw["weight"] = probs(3, seed=3).astype(dtype)
    d, t = module_pair("CrossEntropyLoss", **kw)
    p = probs(5, 3, seed=4)
    p /= p.sum(1, keepdims=True)
    compare(lambda m, a, b: (d if m is dygrad else t)(a, b), [(rand(5, 3), True), (p, True)], dtype)


SPATIAL: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
    ((3,), ()), ((2, 3, 4), (2, 4)), ((2, 3, 2, 2), (2, 2, 2)), ((1, 3, 2, 2, 2), (1, 2, 2, 2)),
]  # fmt: skip


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("xshape,tshape", SPATIAL)
def test_cross_entropy_shapes(xshape: tuple[int, ...], tshape: tuple[int, ...], smoothing: float,
                              reduction: str) -> None:  # fmt: skip
    target = np.random.default_rng(7).integers(0, 3, tshape)
    w = probs(3, seed=1)
    compare(lambda m, a, b, c: m.nn.functional.cross_entropy(
        a, b, c, reduction=reduction, label_smoothing=smoothing),
        [(rand(*xshape), True), (target, False), (w, False)], "float64")  # fmt: skip
    # grad_fn names of the result, as PyTorch records them
    names = []
    for m in (dygrad, torch):
        x = m.tensor(rand(*xshape), requires_grad=True)
        y = m.nn.functional.cross_entropy(x, m.tensor(target), reduction=reduction,
                                          label_smoothing=smoothing)  # fmt: skip
        names.append(type(y.grad_fn).__name__)
    assert names[0] == names[1]


def test_cross_entropy_probabilities_spatial() -> None:
    p = probs(2, 3, 2, 2)
    p /= p.sum(1, keepdims=True)
    for r in REDUCTIONS:
        compare(
            lambda m, a, b: m.nn.functional.cross_entropy(a, b, reduction=r),
            [(rand(2, 3, 2, 2), True), (p, True)],
            "float64",
        )


def test_all_targets_ignored_gives_nan_like_torch() -> None:
    for smoothing in (0.0, 0.1):
        res = []
        for m in (dygrad, torch):
            x = m.tensor(rand(2, 3), requires_grad=True)
            y = m.nn.functional.cross_entropy(x, m.tensor([-100, -100]), label_smoothing=smoothing)
            y.backward()
            res.append((np.isnan(y.item()), np_(x.grad)))
        assert res[0][0] and res[1][0]
        np.testing.assert_array_equal(np.isnan(res[0][1]), np.isnan(res[1][1]))


def test_cross_entropy_large_logits_are_stable() -> None:
    x = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]])
    compare(lambda m, a, b: m.nn.functional.cross_entropy(a, b), [(x, True),
                                                                  (np.array([1, 2]), False)],
            "float32")  # fmt: skip


def test_nll_loss_legacy_arguments_warn_and_match() -> None:
    x, t = np.log(probs(4, 3)), np.array([0, 1, 2, 0])
    for kw in ({"size_average": False}, {"reduce": False}, {"size_average": True, "reduce": True}):
        outs = []
        for m in (dygrad, torch):
            with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
                outs.append(np_(m.nn.functional.nll_loss(m.tensor(x), m.tensor(t), **kw)))
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)
        with pytest.warns(UserWarning):
            d, tm = dnn.MSELoss(**kw), tnn.MSELoss(**kw)
        assert d.reduction == tm.reduction


# --- binary cross entropy and KL divergence ------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_module(weighted: bool, reduction: str, dtype: str) -> None:
    kw: dict[str, Any] = {"reduction": reduction}
    if weighted:
        kw["weight"] = probs(4, seed=2).astype(dtype)
    d, t = module_pair("BCELoss", **kw)
    assert repr(d) == repr(t)
    compare(
        lambda m, a, b: (d if m is dygrad else t)(a, b),
        [(probs(3, 4), True), (probs(3, 4, seed=1), True)],
        dtype,
    )


def test_bce_clamps_log_at_minus_100() -> None:
    x, y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    for r in REDUCTIONS:
        vals = [np_(m.nn.functional.binary_cross_entropy(m.tensor(x), m.tensor(y), reduction=r))
                for m in (dygrad, torch)]  # fmt: skip
        np.testing.assert_allclose(vals[0], vals[1], rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "opts",
    [{}, {"weight": (4,)}, {"pos_weight": (4,)}, {"weight": (3, 1), "pos_weight": (4,)}],
    ids=["plain", "weight", "pos-weight", "both"],
)
def test_bce_with_logits_module(opts: dict[str, Any], reduction: str, dtype: str) -> None:
    kw: dict[str, Any] = {"reduction": reduction}
    for i, (k, shape) in enumerate(opts.items()):
        kw[k] = probs(*shape, seed=10 + i).astype(dtype) * 3
    d, t = module_pair("BCEWithLogitsLoss", **kw)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())
    compare(
        lambda m, a, b: (d if m is dygrad else t)(a, b),
        [(rand(3, 4) * 4, True), (probs(3, 4, seed=1), True)],
        dtype,
    )


def test_bce_with_logits_extreme_logits() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    compare(lambda m, a, b, p: m.nn.functional.binary_cross_entropy_with_logits(
        a, b, pos_weight=p, reduction="none"),
        [(x, True), (y, True), (np.array([2.0]), False)], "float32")  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_module(log_target: bool, reduction: str, dtype: str) -> None:
    d, t = module_pair("KLDivLoss", reduction=reduction, log_target=log_target)
    assert repr(d) == repr(t)
    p = probs(3, 4, seed=1)
    p /= p.sum(1, keepdims=True)
    target = np.log(p) if log_target else p
    compare(
        lambda m, a, b: (d if m is dygrad else t)(a.log_softmax(1), b),
        [(rand(3, 4), True), (target, True)],
        dtype,
    )


def test_kl_div_zero_target_and_mean_warning() -> None:
    target = np.array([[0.0, 0.5, 0.5]])
    compare(
        lambda m, a, b: m.nn.functional.kl_div(a, b, reduction="sum"),
        [(np.log(probs(1, 3)), True), (target, False)],
        "float64",
    )
    msgs = []
    for m in (dygrad, torch):
        with pytest.warns(UserWarning) as rec:
            m.nn.functional.kl_div(m.zeros(2), m.ones(2))
        msgs.append(str(rec[0].message))
    assert msgs[0] == msgs[1]


# --- modules: buffers and state dicts ---------------------------------------------------------
def test_loss_weights_are_buffers() -> None:
    w = np.array([0.2, 0.3, 0.5])
    for name in ("CrossEntropyLoss", "NLLLoss", "BCELoss"):
        d, t = module_pair(name, weight=w)
        assert list(d.state_dict()) == list(t.state_dict()) == ["weight"]
        assert [n for n, _ in d.named_buffers()] == ["weight"]
        assert list(d.parameters()) == []
    d, t = module_pair("BCEWithLogitsLoss", pos_weight=w)
    assert list(d.state_dict()) == list(t.state_dict()) == ["pos_weight"]
    d, t = module_pair("CrossEntropyLoss")
    assert list(d.state_dict()) == list(t.state_dict()) == []


def test_loss_module_attributes_match_torch() -> None:
    for name, kw in (
        ("CrossEntropyLoss", {"ignore_index": 3, "label_smoothing": 0.1}),
        ("NLLLoss", {"ignore_index": -1}),
        ("SmoothL1Loss", {"beta": 0.5}),
        ("HuberLoss", {"delta": 2.0}),
        ("KLDivLoss", {"log_target": True}),
    ):
        d, t = module_pair(name, **kw)
        for k, v in kw.items():
            assert getattr(d, k) == getattr(t, k) == v
        assert d.reduction == t.reduction == "mean"


# --- errors ------------------------------------------------------------------------------------
def _ix(m: Any, v: Any) -> Any:
    return m.tensor(v)


LOSS_ERRORS: list[tuple[str, Callable[[Any], Any]]] = [
    ("target-oob", lambda m: m.nn.functional.nll_loss(m.zeros(4, 3), _ix(m, [0, 1, 3, 1]))),
    ("target-neg", lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), _ix(m, [0, -1, 2, 1]))),
    ("target-oob-2d", lambda m: m.nn.functional.nll_loss(m.zeros(1, 3, 2, 1),
                                                         _ix(m, [[[0], [5]]]))),
    ("batch-size", lambda m: m.nn.functional.nll_loss(m.zeros(4, 3), _ix(m, [0, 1, 1]))),
    ("ce-batch-size", lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), _ix(m, [0, 1]))),
    ("multi-target", lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), m.zeros(4, 2))),
    ("float-target", lambda m: m.nn.functional.nll_loss(m.zeros(4, 3), m.zeros(4))),
    ("nll-weight", lambda m: m.nn.functional.nll_loss(m.zeros(4, 3), _ix(m, [0, 1, 1, 1]),
                                                      m.ones(2))),
    ("ce-prob-weight", lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), m.zeros(4, 3),
                                                               m.ones(2))),
    ("ce-prob-int", lambda m: m.nn.functional.cross_entropy(m.zeros(2, 3, dtype=m.int64),
                                                            m.zeros(2, 3, dtype=m.int64))),
    ("ce-prob-ignore", lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), m.zeros(4, 3),
                                                               ignore_index=1)),
    ("smoothing", lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), _ix(m, [0, 1, 1, 1]),
                                                          label_smoothing=1.5)),
    ("spatial-target", lambda m: m.nn.functional.nll_loss(m.zeros(2, 3, 4),
                                                          _ix(m, [[0, 1, 2], [0, 1, 2]]))),
    ("0d-input", lambda m: m.nn.functional.nll_loss(m.zeros(()), _ix(m, 0))),
    ("reduction", lambda m: m.nn.functional.mse_loss(m.zeros(3), m.zeros(3), reduction="avg")),
    ("kl-reduction", lambda m: m.nn.functional.kl_div(m.zeros(3), m.zeros(3), reduction="avg")),
    ("ce-reduction", lambda m: m.nn.functional.cross_entropy(m.zeros(2, 3), _ix(m, [0, 1]),
                                                             reduction="x")),
    ("bce-size", lambda m: m.nn.functional.binary_cross_entropy(m.ones(3) / 2, m.ones(2))),
    ("bce-range", lambda m: m.nn.functional.binary_cross_entropy(m.ones(3) * 2, m.ones(3))),
    ("bce-target-range", lambda m: m.nn.functional.binary_cross_entropy(m.ones(3) / 2,
                                                                        m.ones(3) * 2)),
    ("bcel-size", lambda m: m.nn.functional.binary_cross_entropy_with_logits(m.ones(3),
                                                                             m.ones(2))),
    ("mse-weight-size", lambda m: m.nn.functional.mse_loss(m.ones(3), m.ones(3),
                                                           weight=m.ones(2))),
    ("smooth-l1-beta", lambda m: m.nn.functional.smooth_l1_loss(m.ones(3), m.ones(3), beta=-1.0)),
    ("huber-delta", lambda m: m.nn.functional.huber_loss(m.ones(3), m.ones(3), delta=0.0)),
]  # fmt: skip


@pytest.mark.parametrize("call", [pytest.param(c, id=i) for i, c in LOSS_ERRORS])
def test_loss_errors_match_torch(call: Callable[[Any], Any]) -> None:
    errs = []
    for m in (dygrad, torch):
        with pytest.raises((RuntimeError, ValueError, IndexError)) as e:
            call(m)
        errs.append((type(e.value), str(e.value)))
    assert errs[0] == errs[1]
