"""Convolution and pooling against PyTorch: the functional forms over many configurations
(values and every gradient), the layers with copied weights, their reprs and default
initialization, and the errors for bad arguments."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
import dygrad.nn as nn

pt = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def _rng(tag: str) -> np.random.Generator:
    return np.random.default_rng(abs(hash(tag)) % 2**32)


def _pair(shape: tuple[int, ...], rng: np.random.Generator, dtype: str, distinct: bool = False):
    if distinct:  # no ties: max pooling's gradient is then well defined
        n = int(np.prod(shape))
        v = (rng.permutation(n) - n / 2).reshape(shape) * 0.1
    else:
        v = rng.standard_normal(shape)
    v = v.astype(dtype)
    return (dygrad.tensor(v.copy(), requires_grad=True), pt.tensor(v.copy(), requires_grad=True))


def _check(fn: Callable[..., Any], shapes: list[tuple[int, ...]], dtype: str = "float64",
           distinct: bool = False, tol: float | None = None, tag: str = "") -> None:  # fmt: skip
    """fn(F, *inputs) through dygrad and PyTorch: outputs, then gradients of a random weighted
    sum of the outputs with respect to every input."""
    rng = _rng(tag + dtype)
    pairs = [_pair(s, rng, dtype, distinct and i == 0) for i, s in enumerate(shapes)]
    ys = fn(dygrad.nn.functional, *[d for d, _ in pairs])
    ts = fn(pt.nn.functional, *[t for _, t in pairs])
    ys = list(ys) if isinstance(ys, tuple) else [ys]
    ts = list(ts) if isinstance(ts, tuple) else [ts]
    rtol = tol if tol is not None else (1e-10 if dtype == "float64" else 2e-4)
    atol = rtol * 0.1
    for y, t in zip(ys, ts, strict=True):
        assert tuple(y.shape) == tuple(t.shape)
        assert str(y.dtype) == str(t.dtype)
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), rtol, atol)
    y, t = ys[0], ts[0]
    w = rng.standard_normal(tuple(t.shape)).astype(dtype)
    gd = dygrad.autograd.grad(y, [d for d, _ in pairs], dygrad.tensor(w), allow_unused=True)
    gt = pt.autograd.grad(t, [t_ for _, t_ in pairs], pt.tensor(w), allow_unused=True)
    for i, (a, b) in enumerate(zip(gd, gt)):
        # Float32 sums of many terms: compare against the gradient's scale, not each entry.
        scale = float(np.abs(b.numpy()).max(initial=1.0))
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol, atol * scale, err_msg=f"grad {i}")


# --- functional forms over many configurations ----------------------------------------------------
CONV: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("lenet1", lambda F, x, w, b: F.conv2d(x, w, b), [(4, 1, 28, 28), (16, 1, 5, 5), (16,)]),
    ("lenet2", lambda F, x, w, b: F.conv2d(x, w, b), [(2, 16, 12, 12), (32, 16, 5, 5), (32,)]),
    ("seed", lambda F, x, w, b: F.conv2d(x, w, b, 2, 1), [(4, 1, 28, 28), (3, 1, 3, 3), (3,)]),
    ("stride-tuple", lambda F, x, w: F.conv2d(x, w, None, (3, 2), (2, 1)),
     [(2, 3, 11, 9), (4, 3, 3, 4)]),
    ("dilation", lambda F, x, w, b: F.conv2d(x, w, b, 1, 2, 2), [(2, 2, 9, 9), (3, 2, 3, 3), (3,)]),
    ("dilation-stride", lambda F, x, w: F.conv2d(x, w, stride=2, dilation=(3, 2), padding=(1, 3)),
     [(1, 2, 13, 12), (2, 2, 3, 2)]),
    ("groups", lambda F, x, w, b: F.conv2d(x, w, b, groups=3, padding=1),
     [(2, 6, 7, 7), (9, 2, 3, 3), (9,)]),
    ("depthwise", lambda F, x, w: F.conv2d(x, w, groups=4, stride=2), [(2, 4, 9, 9), (8, 1, 3, 3)]),
    ("same-odd", lambda F, x, w: F.conv2d(x, w, padding="same"), [(2, 3, 8, 7), (4, 3, 5, 3)]),
    ("same-even", lambda F, x, w, b: F.conv2d(x, w, b, padding="same", dilation=(1, 2)),
     [(1, 2, 6, 7), (3, 2, 4, 2), (3,)]),
    ("valid", lambda F, x, w: F.conv2d(x, w, padding="valid"), [(1, 2, 6, 7), (3, 2, 4, 2)]),
    ("unbatched", lambda F, x, w, b: F.conv2d(x, w, b, padding=(0, 1)),
     [(3, 6, 5), (2, 3, 3, 3), (2,)]),
    ("1x1", lambda F, x, w: F.conv2d(x, w), [(2, 5, 4, 4), (7, 5, 1, 1)]),
    ("kernel-is-input", lambda F, x, w: F.conv2d(x, w), [(3, 2, 4, 5), (6, 2, 4, 5)]),
    ("conv1d", lambda F, x, w, b: F.conv1d(x, w, b, 2, 1, 2), [(3, 4, 20), (5, 4, 3), (5,)]),
    ("conv1d-groups-same", lambda F, x, w: F.conv1d(x, w, padding="same", groups=2),
     [(2, 4, 9), (6, 2, 4)]),
    ("conv1d-unbatched", lambda F, x, w: F.conv1d(x, w, stride=3), [(2, 10), (4, 2, 2)]),
    ("conv3d", lambda F, x, w, b: F.conv3d(x, w, b, (1, 2, 2), 1),
     [(2, 2, 4, 6, 5), (3, 2, 3, 3, 2), (3,)]),
    ("transpose", lambda F, x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1),
     [(2, 3, 7, 7), (3, 4, 3, 3), (4,)]),
    ("transpose-groups", lambda F, x, w: F.conv_transpose2d(x, w, None, (2, 3), 0, (1, 2), 2),
     [(2, 4, 5, 4), (4, 3, 2, 3)]),
    ("transpose-dilation", lambda F, x, w: F.conv_transpose2d(x, w, dilation=2, padding=1),
     [(1, 2, 5, 6), (2, 3, 3, 3)]),
    ("transpose-outpad-dilation", lambda F, x, w: F.conv_transpose2d(
        x, w, stride=1, dilation=3, output_padding=2), [(1, 2, 4, 4), (2, 2, 2, 2)]),
    ("transpose-unbatched", lambda F, x, w: F.conv_transpose2d(x, w, stride=2),
     [(3, 4, 4), (3, 2, 2, 2)]),
    ("transpose1d", lambda F, x, w, b: F.conv_transpose1d(x, w, b, 3, 2, 1),
     [(2, 3, 6), (3, 2, 5), (2,)]),
    ("transpose3d", lambda F, x, w: F.conv_transpose3d(x, w, stride=2), [(1, 2, 2, 3, 2),
                                                                         (2, 1, 2, 2, 2)]),
]  # fmt: skip


@pytest.mark.parametrize("name,fn,shapes", CONV, ids=[c[0] for c in CONV])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_functional_matches_pytorch(name: str, fn: Any, shapes: Any, dtype: str) -> None:
    _check(fn, shapes, dtype, tag=name)


POOL: list[tuple[str, Callable[..., Any], tuple[int, ...]]] = [
    ("max2", lambda F, x: F.max_pool2d(x, 2), (4, 16, 24, 24)),
    ("max-odd", lambda F, x: F.max_pool2d(x, 2), (2, 3, 7, 9)),
    ("max-overlap", lambda F, x: F.max_pool2d(x, 3, 2, 1), (2, 3, 9, 8)),
    ("max-stride1", lambda F, x: F.max_pool2d(x, (2, 3), 1), (1, 2, 6, 6)),
    ("max-dilation", lambda F, x: F.max_pool2d(x, 3, 1, 1, dilation=2), (2, 2, 9, 7)),
    ("max-ceil", lambda F, x: F.max_pool2d(x, 3, 2, ceil_mode=True), (2, 2, 8, 10)),
    ("max-ceil-pad", lambda F, x: F.max_pool2d(x, (3, 2), (2, 2), (1, 1), ceil_mode=True),
     (1, 3, 6, 7)),
    ("max-indices", lambda F, x: F.max_pool2d(x, 3, 2, 1, return_indices=True), (2, 3, 7, 6)),
    ("max-indices-dilation-ceil", lambda F, x: F.max_pool2d(x, 2, 2, 1, 2, True, True),
     (1, 2, 9, 8)),
    ("max-unbatched", lambda F, x: F.max_pool2d(x, 2, return_indices=True), (3, 6, 5)),
    ("max1d", lambda F, x: F.max_pool1d(x, 3, 2, 1), (2, 3, 11)),
    ("max1d-indices", lambda F, x: F.max_pool1d(x, 2, ceil_mode=True, return_indices=True),
     (2, 3, 7)),
    ("max1d-unbatched", lambda F, x: F.max_pool1d(x, 2, dilation=2), (3, 9)),
    ("avg2", lambda F, x: F.avg_pool2d(x, 2), (4, 16, 24, 24)),
    ("avg-pad", lambda F, x: F.avg_pool2d(x, 3, 2, 1), (2, 3, 9, 8)),
    ("avg-exclude", lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (2, 3, 9, 8)),
    ("avg-ceil", lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (2, 3, 8, 8)),
    ("avg-ceil-exclude", lambda F, x: F.avg_pool2d(x, (2, 3), (3, 2), (1, 1), True, False),
     (1, 2, 8, 9)),
    ("avg-divisor", lambda F, x: F.avg_pool2d(x, 3, 1, 1, divisor_override=2), (1, 2, 5, 5)),
    ("avg-unbatched", lambda F, x: F.avg_pool2d(x, (2, 1)), (3, 6, 5)),
    ("avg1d", lambda F, x: F.avg_pool1d(x, 3, 2, 1, count_include_pad=False), (2, 3, 10)),
    ("avg1d-ceil", lambda F, x: F.avg_pool1d(x, 2, ceil_mode=True), (3, 7)),
    ("adaptive", lambda F, x: F.adaptive_avg_pool2d(x, (3, 4)), (2, 3, 10, 9)),
    ("adaptive-same", lambda F, x: F.adaptive_avg_pool2d(x, 4), (2, 3, 8, 8)),
    ("adaptive-up", lambda F, x: F.adaptive_avg_pool2d(x, (5, 7)), (1, 2, 3, 4)),
    ("adaptive-none", lambda F, x: F.adaptive_avg_pool2d(x, (None, 3)), (1, 2, 3, 7)),
    ("adaptive-1", lambda F, x: F.adaptive_avg_pool2d(x, 1), (2, 8, 7, 7)),
    ("adaptive-unbatched", lambda F, x: F.adaptive_avg_pool2d(x, (2, 5)), (3, 5, 5)),
    ("adaptive1d", lambda F, x: F.adaptive_avg_pool1d(x, 4), (2, 3, 10)),
    ("pad", lambda F, x: F.pad(x, (1, 2, 0, 3), value=0.5), (2, 3, 4, 5)),
    ("pad-crop", lambda F, x: F.pad(x, (-1, 1, 2, -2)), (2, 3, 4, 5)),
    ("pad-reflect", lambda F, x: F.pad(x, (3, 2, 1, 3), mode="reflect"), (2, 3, 4, 5)),
    ("pad-reflect1d", lambda F, x: F.pad(x, (4, 4), mode="reflect"), (3, 5)),
    ("pad-replicate", lambda F, x: F.pad(x, (0, 3, 7, 1), mode="replicate"), (3, 4, 5)),
    ("pad-replicate3d", lambda F, x: F.pad(x, (1, 2, 0, 1, 3, 0), "replicate"), (1, 2, 2, 3, 2)),
    ("pad-circular", lambda F, x: F.pad(x, (5, 1, -1, 2), mode="circular"), (2, 3, 4, 5)),
]  # fmt: skip


@pytest.mark.parametrize("name,fn,shape", POOL, ids=[c[0] for c in POOL])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pool_functional_matches_pytorch(name: str, fn: Any, shape: Any, dtype: str) -> None:
    _check(fn, [shape], dtype, distinct=True, tag=name)


def test_grad_fn_names_match_pytorch() -> None:
    x = np.ones((1, 2, 6, 6), np.float32)
    w = np.ones((2, 2, 3, 3), np.float32)
    calls: list[Callable[..., Any]] = [
        lambda m, x, w: m.nn.functional.conv2d(x, w),
        lambda m, x, w: m.nn.functional.conv2d(x[0], w),
        lambda m, x, w: m.nn.functional.conv1d(x[0, :, 0], w[:, :, 0]),
        lambda m, x, w: m.nn.functional.conv1d(x[:, :, 0], w[:, :, 0]),
        lambda m, x, w: m.nn.functional.conv_transpose2d(x, w),
        lambda m, x, w: m.nn.functional.conv_transpose2d(x[0], w),
        lambda m, x, w: m.nn.functional.max_pool2d(x, 2),
        lambda m, x, w: m.nn.functional.max_pool2d(x[0], 2),
        lambda m, x, w: m.nn.functional.max_pool1d(x[0], 2),
        lambda m, x, w: m.nn.functional.avg_pool2d(x, 2),
        lambda m, x, w: m.nn.functional.avg_pool1d(x[0], 2),
        lambda m, x, w: m.nn.functional.adaptive_avg_pool2d(x, 3),
        lambda m, x, w: m.nn.functional.adaptive_avg_pool2d(x, 1),
        lambda m, x, w: m.nn.functional.adaptive_avg_pool1d(x[0], 2),
        lambda m, x, w: m.nn.functional.pad(x, (1, 1)),
        lambda m, x, w: m.nn.functional.pad(x[0, 0], (1, 1), mode="reflect"),
        lambda m, x, w: m.nn.functional.pad(x, (1, 1, 2, 0), mode="reflect"),
        lambda m, x, w: m.nn.functional.pad(x[0], (1, 1), mode="replicate"),
        lambda m, x, w: m.nn.functional.pad(x[None], (1, 1, 0, 1, 1, 0), mode="replicate"),
        lambda m, x, w: m.nn.functional.pad(x, (1, 1, 2, 2), mode="circular"),
        lambda m, x, w: m.nn.functional.conv2d(x, w, padding="same"),
    ]
    for i, fn in enumerate(calls):
        ys = fn(dygrad, dygrad.tensor(x, requires_grad=True), dygrad.tensor(w, requires_grad=True))
        ts = fn(pt, pt.tensor(x, requires_grad=True), pt.tensor(w, requires_grad=True))
        assert type(ys.grad_fn).__name__ == type(ts.grad_fn).__name__, i


def test_second_order_matches_pytorch() -> None:
    # A gradient penalty: d/dw of |d(loss)/dx|^2 runs the backward rules' own rules.
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 3, 8, 8))
    ws = rng.standard_normal((4, 3, 3, 3))
    out = []
    for m in (dygrad, pt):
        x = m.tensor(xs, requires_grad=True)
        w = m.tensor(ws, requires_grad=True)
        F = m.nn.functional
        y = F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, stride=2, padding=1).tanh(), 2, 1), 2, 1)
        y = F.adaptive_avg_pool2d(F.conv_transpose2d(y, w, stride=2), (3, 2))
        (gx,) = m.autograd.grad(y.pow(2).sum(), x, create_graph=True)
        (gw,) = m.autograd.grad(gx.pow(2).sum(), w)
        out.append(gw.numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-9, atol=1e-11)


def test_max_pool_indices_and_ties_match_pytorch() -> None:
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 1.0, 3.0], [0.0, 0.0, 5.0, 5.0]]]])
    for args in [(2,), (2, 1), (3, 1, 1), (2, 2, 1, 1, True)]:
        d = dygrad.nn.functional.max_pool2d(dygrad.tensor(x), *args, return_indices=True)
        t = pt.nn.functional.max_pool2d(pt.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(d[1].numpy(), t[1].numpy())
        assert str(d[1].dtype) == "torch.int64"


def test_max_pool_nan_matches_pytorch() -> None:
    nan = float("nan")
    x = np.array([[[[nan, 1.0, 2.0, 0.0], [nan, 2.0, 0.0, nan]]]])
    d = dygrad.nn.functional.max_pool2d(dygrad.tensor(x), 2, return_indices=True)
    t = pt.nn.functional.max_pool2d(pt.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(d[0].numpy(), t[0].numpy())
    np.testing.assert_array_equal(d[1].numpy(), t[1].numpy())


def test_integer_inputs_match_pytorch() -> None:
    xi = np.arange(-12, 13).reshape(1, 1, 5, 5)
    wi = np.array([[[[1, -2], [3, 1]]]])
    for fn in (
        lambda m, x, w: m.nn.functional.conv2d(x, w, stride=2, padding=1),
        lambda m, x, w: m.nn.functional.max_pool2d(x, 2, ceil_mode=True),
        lambda m, x, w: m.nn.functional.avg_pool2d(x, 3, 2, 1),
    ):
        d, t = fn(dygrad, dygrad.tensor(xi), dygrad.tensor(wi)), fn(pt, pt.tensor(xi),
                                                                     pt.tensor(wi))  # fmt: skip
        assert str(d.dtype) == str(t.dtype)
        np.testing.assert_array_equal(d.numpy(), t.numpy())


def test_empty_batch_and_channels() -> None:
    F = dygrad.nn.functional
    x = dygrad.zeros(0, 2, 5, 5, requires_grad=True)
    y = F.conv2d(x, dygrad.ones(3, 2, 3, 3), dygrad.ones(3))
    assert tuple(y.shape) == (0, 3, 3, 3)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 5, 5)
    y = F.conv2d(dygrad.ones(1, 0, 4, 4), dygrad.ones(3, 0, 3, 3), dygrad.tensor([1.0, 2, 3]))
    np.testing.assert_array_equal(y.numpy()[0, :, 0, 0], [1.0, 2.0, 3.0])
    assert tuple(F.max_pool2d(dygrad.ones(0, 2, 4, 4), 2).shape) == (0, 2, 2, 2)


# --- errors: PyTorch's exception types and messages ----------------------------------------------
def _x(*s: int) -> Callable[[Any], Any]:
    return lambda m: m.ones(*s)


ERRORS: list[tuple[str, Callable[[Any], Any]]] = [
    ("channels", lambda m: m.nn.functional.conv2d(m.ones(4, 2, 28, 28), m.ones(3, 1, 3, 3))),
    ("input-5d", lambda m: m.nn.functional.conv2d(m.ones(2, 1, 28, 28, 1), m.ones(3, 1, 3, 3))),
    ("input-2d", lambda m: m.nn.functional.conv2d(m.ones(28, 28), m.ones(3, 1, 3, 3))),
    ("conv1d-input", lambda m: m.nn.functional.conv1d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3))),
    ("weight-3d", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3))),
    ("weight-1d", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3))),
    ("kernel-too-big", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 2, 2), m.ones(3, 1, 3, 3))),
    ("kernel-too-big-dilated", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5),
                                                                m.ones(3, 1, 3, 3), dilation=3)),
    ("unbatched-channels", lambda m: m.nn.functional.conv2d(m.ones(2, 5, 5), m.ones(3, 1, 3, 3))),
    ("groups-weight", lambda m: m.nn.functional.conv2d(m.ones(1, 4, 5, 5), m.ones(3, 2, 3, 3),
                                                       groups=2)),
    ("groups-channels", lambda m: m.nn.functional.conv2d(m.ones(1, 3, 5, 5), m.ones(4, 1, 3, 3),
                                                         groups=2)),
    ("groups-zero", lambda m: m.nn.functional.conv2d(m.ones(1, 3, 5, 5), m.ones(4, 1, 3, 3),
                                                     groups=0)),
    ("bias-size", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                   m.ones(4))),
    ("bias-2d", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                 m.ones(3, 1))),
    ("stride-zero", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                     stride=0)),
    ("stride-length", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                       stride=(1, 1, 1))),
    ("padding-negative", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                          padding=-1)),
    ("dilation-zero", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                       dilation=0)),
    ("same-strided", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                      stride=2, padding="same")),
    ("padding-string", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                        padding="full")),
    ("dtype-weight", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5),
                                                      m.ones(3, 1, 3, 3, dtype=m.float64))),
    ("dtype-input", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5, dtype=m.float64),
                                                     m.ones(3, 1, 3, 3))),
    ("dtype-bias", lambda m: m.nn.functional.conv2d(m.ones(1, 1, 5, 5), m.ones(3, 1, 3, 3),
                                                    m.ones(3, dtype=m.float64))),
    ("transpose-channels", lambda m: m.nn.functional.conv_transpose2d(m.ones(1, 2, 5, 5),
                                                                      m.ones(3, 1, 3, 3))),
    ("transpose-output-padding", lambda m: m.nn.functional.conv_transpose2d(
        m.ones(1, 3, 5, 5), m.ones(3, 1, 3, 3), stride=2, output_padding=2)),
    ("transpose1d-output-padding", lambda m: m.nn.functional.conv_transpose1d(
        m.ones(1, 3, 5), m.ones(3, 1, 3), stride=2, output_padding=2)),
    ("transpose-input", lambda m: m.nn.functional.conv_transpose2d(m.ones(5, 5),
                                                                   m.ones(3, 1, 3, 3))),
    ("transpose-too-small", lambda m: m.nn.functional.conv_transpose2d(m.ones(1, 3, 1, 1),
                                                                       m.ones(3, 1, 1, 1),
                                                                       padding=1)),
    ("transpose-bias", lambda m: m.nn.functional.conv_transpose2d(m.ones(1, 3, 5, 5),
                                                                  m.ones(3, 1, 3, 3), m.ones(3))),
    ("maxpool-2d-input", lambda m: m.nn.functional.max_pool2d(m.ones(5, 5), 2)),
    ("maxpool-too-small", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 2, 2), 3)),
    ("maxpool-pad", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 5, 5), 2, padding=2)),
    ("maxpool-pad-dilated", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 5, 5), 3,
                                                                 padding=2, dilation=2)),
    ("maxpool-stride-zero", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 5, 5), 2, 0)),
    ("maxpool-kernel-zero", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 5, 5), 0, 1)),
    ("maxpool-dilation-zero", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 5, 5), 2,
                                                                   dilation=0)),
    ("maxpool-kernel-3", lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 5, 5), (2, 2, 2))),
    ("maxpool-empty-channels", lambda m: m.nn.functional.max_pool2d(m.ones(1, 0, 5, 5), 2)),
    ("maxpool1d-input", lambda m: m.nn.functional.max_pool1d(m.ones(5), 2)),
    ("maxpool1d-too-small", lambda m: m.nn.functional.max_pool1d(m.ones(1, 1, 2), 3)),
    ("maxpool1d-pad", lambda m: m.nn.functional.max_pool1d(m.ones(1, 1, 5), 2, padding=2)),
    ("maxpool1d-kernel-zero", lambda m: m.nn.functional.max_pool1d(m.ones(1, 1, 5), 0, 1)),
    ("maxpool1d-stride-zero", lambda m: m.nn.functional.max_pool1d(m.ones(1, 1, 5), 2, 0)),
    ("maxpool1d-dilation-zero", lambda m: m.nn.functional.max_pool1d(m.ones(1, 1, 5), 2,
                                                                     dilation=0)),
    ("avgpool-too-small", lambda m: m.nn.functional.avg_pool2d(m.ones(1, 1, 2, 2), 3)),
    ("avgpool-pad", lambda m: m.nn.functional.avg_pool2d(m.ones(1, 1, 5, 5), 2, padding=2)),
    ("avgpool-divisor", lambda m: m.nn.functional.avg_pool2d(m.ones(1, 1, 5, 5), 2,
                                                             divisor_override=0)),
    ("avgpool-kernel-3", lambda m: m.nn.functional.avg_pool2d(m.ones(1, 1, 5, 5), (2, 2, 2))),
    ("avgpool1d-input", lambda m: m.nn.functional.avg_pool1d(m.ones(5), 2)),
    ("avgpool1d-too-small", lambda m: m.nn.functional.avg_pool1d(m.ones(1, 1, 2), 3)),
    ("adaptive-input", lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(5), 2)),
    ("adaptive-negative", lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(1, 1, 5, 5), -1)),
    ("adaptive-size-3", lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(1, 1, 5, 5),
                                                                      (1, 2, 3))),
    ("adaptive-empty", lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(1, 1, 0, 5), 2)),
    ("adaptive-int", lambda m: m.nn.functional.adaptive_avg_pool2d(
        m.ones(1, 1, 5, 5, dtype=m.int64), 2)),
    ("pad-odd", lambda m: m.nn.functional.pad(m.ones(1, 1, 5, 5), (1, 2, 3))),
    ("pad-too-long", lambda m: m.nn.functional.pad(m.ones(5, 5), (1, 1, 1, 1, 1, 1))),
    ("pad-mode", lambda m: m.nn.functional.pad(m.ones(1, 2, 5), (1, 1), mode="mirror")),
    ("pad-mode-value", lambda m: m.nn.functional.pad(m.ones(1, 2, 5), (1, 1), "reflect", 1.0)),
    ("pad-mode-dims", lambda m: m.nn.functional.pad(m.ones(1, 2, 5, 5), (1, 1), "replicate")),
    ("pad-reflect-size", lambda m: m.nn.functional.pad(m.ones(2, 3, 5), (5, 1), "reflect")),
    ("pad-circular-wrap", lambda m: m.nn.functional.pad(m.ones(2, 3, 5), (6, 1), "circular")),
]  # fmt: skip


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_pytorch(name: str, fn: Callable[[Any], Any]) -> None:
    with pytest.raises(Exception) as want:
        fn(pt)
    with pytest.raises(type(want.value)) as got:
        fn(dygrad)
    assert str(got.value) == str(want.value).splitlines()[0]


def test_errors_raise_before_recording() -> None:
    x = dygrad.ones(1, 2, 5, 5, requires_grad=True)
    w = dygrad.ones(3, 1, 3, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="expected input"):
        dygrad.conv2d(x, w)
    with pytest.raises(TypeError, match="must be Tensor"):
        dygrad.conv2d(np.ones((1, 1, 5, 5)), w)
    assert x.grad is None and w.grad is None and x._version == 0


# --- layers with copied weights ------------------------------------------------------------------
def _copy_params(dst: Any, src: Any) -> None:
    with dygrad.no_grad():
        for (n1, p), (n2, q) in zip(dst.named_parameters(), src.named_parameters(), strict=True):
            assert n1 == n2
            p.copy_(dygrad.tensor(q.detach().numpy()))


LAYERS: list[tuple[str, Callable[[Any], Any], tuple[int, ...]]] = [
    ("seed-conv1", lambda nn: nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1), (4, 1, 28, 28)),
    ("conv2d-groups", lambda nn: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                           dilation=(1, 2), groups=2), (2, 4, 9, 8)),
    ("conv2d-same-nobias", lambda nn: nn.Conv2d(3, 2, 4, padding="same", bias=False),
     (2, 3, 7, 6)),
    ("conv2d-valid", lambda nn: nn.Conv2d(3, 2, 2, padding="valid"), (2, 3, 5, 5)),
    ("conv2d-unbatched", lambda nn: nn.Conv2d(2, 3, 3, padding=1), (2, 6, 6)),
    ("conv1d", lambda nn: nn.Conv1d(3, 5, 3, stride=2, padding=1), (4, 3, 15)),
    ("conv3d", lambda nn: nn.Conv3d(2, 3, (2, 3, 3), padding=(0, 1, 1)), (1, 2, 3, 5, 5)),
    ("conv2d-reflect", lambda nn: nn.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"),
     (2, 2, 5, 6)),
    ("conv2d-circular-same", lambda nn: nn.Conv2d(2, 3, (3, 4), padding="same",
                                                  padding_mode="circular"), (1, 2, 5, 6)),
    ("conv1d-replicate", lambda nn: nn.Conv1d(2, 2, 3, 2, 1, padding_mode="replicate"), (3, 2, 7)),
    ("convT2d", lambda nn: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
     (2, 3, 5, 5)),
    ("convT2d-groups", lambda nn: nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2, dilation=2,
                                                     bias=False), (1, 4, 4, 3)),
    ("convT1d", lambda nn: nn.ConvTranspose1d(2, 3, 4, stride=2, padding=1), (3, 2, 6)),
    ("maxpool2d", lambda nn: nn.MaxPool2d(2), (2, 3, 8, 8)),
    ("maxpool2d-args", lambda nn: nn.MaxPool2d((3, 2), stride=(2, 1), padding=1, dilation=1,
                                               ceil_mode=True), (2, 3, 8, 7)),
    ("maxpool1d", lambda nn: nn.MaxPool1d(3, 2, 1), (2, 3, 10)),
    ("avgpool2d", lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     (2, 3, 8, 8)),
    ("avgpool2d-divisor", lambda nn: nn.AvgPool2d(2, divisor_override=3), (2, 3, 6, 6)),
    ("avgpool1d", lambda nn: nn.AvgPool1d(2, 1, 1), (2, 3, 6)),
    ("adaptive2d", lambda nn: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5)),
    ("adaptive1d", lambda nn: nn.AdaptiveAvgPool1d(3), (2, 3, 8)),
]  # fmt: skip


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layers_match_pytorch(name: str, make: Any, shape: tuple[int, ...]) -> None:
    ref = make(pt.nn).double()
    mine = make(nn)
    for p in mine.parameters():  # float64 copies, so the comparison is tight
        with dygrad.no_grad():
            p.data = p.data.double()
    _copy_params(mine, ref)
    assert repr(mine) == repr(ref)
    x = np.random.default_rng(len(name)).permutation(int(np.prod(shape))).reshape(shape) * 0.01
    xd, xt = dygrad.tensor(x, requires_grad=True), pt.tensor(x, requires_grad=True)
    y, t = mine(xd), ref(xt)
    np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), 1e-10, 1e-12)
    w = np.random.default_rng(1).standard_normal(tuple(t.shape))
    y.backward(dygrad.tensor(w))
    t.backward(pt.tensor(w))
    np.testing.assert_allclose(xd.grad.numpy(), xt.grad.numpy(), 1e-10, 1e-12)
    for (n, p), (_, q) in zip(mine.named_parameters(), ref.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), 1e-10, 1e-12, err_msg=n)


REPRS: list[Callable[[Any], Any]] = [
    lambda nn: nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1),
    lambda nn: nn.Conv2d(3, 12, 3),
    lambda nn: nn.Conv2d(
        4, 8, (3, 5), stride=(1, 2), padding=(2, 0), dilation=2, groups=4, bias=False
    ),
    lambda nn: nn.Conv2d(2, 2, 3, padding="same"),
    lambda nn: nn.Conv2d(2, 2, 3, padding="valid"),
    lambda nn: nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
    lambda nn: nn.Conv1d(2, 4, 3, groups=2, dilation=2),
    lambda nn: nn.Conv3d(1, 1, (1, 2, 3), stride=2),
    lambda nn: nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=1),
    lambda nn: nn.ConvTranspose2d(2, 4, 3, padding=1, groups=2, dilation=2, bias=False),
    lambda nn: nn.ConvTranspose1d(1, 1, 2),
    lambda nn: nn.MaxPool2d(2),
    lambda nn: nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True),
    lambda nn: nn.MaxPool1d(3, 2, 1, return_indices=True),
    lambda nn: nn.AvgPool2d(2),
    lambda nn: nn.AvgPool2d((3, 2), (2, 1), 1, True, False, 4),
    lambda nn: nn.AvgPool1d(3, 2, 1),
    lambda nn: nn.AdaptiveAvgPool2d(3),
    lambda nn: nn.AdaptiveAvgPool2d((2, None)),
    lambda nn: nn.AdaptiveAvgPool1d(4),
    lambda nn: nn.Sequential(nn.Conv2d(1, 6, 5), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5)),
]


@pytest.mark.parametrize("make", REPRS, ids=range(len(REPRS)))
def test_reprs_match_pytorch(make: Callable[[Any], Any]) -> None:
    assert repr(make(nn)) == repr(make(pt.nn))


def test_parameters_and_state_dict_match_pytorch() -> None:
    for make in (lambda nn: nn.Conv2d(3, 4, 3, groups=1), lambda nn: nn.ConvTranspose2d(4, 6, 3,
                 groups=2, bias=False), lambda nn: nn.Conv1d(2, 2, 3)):  # fmt: skip
        mine, ref = make(nn), make(pt.nn)
        assert [(n, tuple(p.shape)) for n, p in mine.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in ref.named_parameters()
        ]
        assert list(mine.state_dict()) == list(ref.state_dict())
        assert all(str(p.dtype) == "torch.float32" for p in mine.parameters())


def test_default_initialization_bounds() -> None:
    # kaiming_uniform_(a=sqrt(5)) and the bias both draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    dygrad.manual_seed(0)
    for conv, fan_in in ((nn.Conv2d(16, 32, 5), 400), (nn.ConvTranspose2d(8, 6, 3, groups=2), 27)):
        bound = 1 / np.sqrt(fan_in)
        w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
        assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
        assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound
        assert np.abs(w).max() > 0.9 * bound  # the whole range is used
    a, b = nn.Conv2d(1, 3, 3), nn.Conv2d(1, 3, 3)
    assert not np.array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    c = nn.Conv2d(2, 3, 3, dtype=dygrad.float64)
    assert str(c.weight.dtype) == "torch.float64" and str(c.bias.dtype) == "torch.float64"


def test_conv_transpose_output_size_matches_pytorch() -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 7, 7)).astype(np.float32)
    mine, ref = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), pt.nn.ConvTranspose2d(
        3, 2, 3, stride=2, padding=1)  # fmt: skip
    _copy_params(mine, ref)
    for size in ([13, 13], [14, 13], [1, 2, 14, 14]):
        y, t = mine(dygrad.tensor(x), output_size=size), ref(pt.tensor(x), output_size=size)
        assert tuple(y.shape) == tuple(t.shape)
        np.testing.assert_allclose(y.detach().numpy(), t.detach().numpy(), 1e-5, 1e-6)
    for size in ([12, 13], [15, 13], [1, 13]):
        with pytest.raises(ValueError) as want:
            ref(pt.tensor(x), output_size=size)
        with pytest.raises(ValueError) as got:
            mine(dygrad.tensor(x), output_size=size)
        assert str(got.value).split(" (for")[0] == str(want.value).split(" (for")[0]


LAYER_ERRORS: list[Callable[[Any], Any]] = [
    lambda nn: nn.Conv2d(3, 4, 3, groups=2),
    lambda nn: nn.Conv2d(4, 3, 3, groups=2),
    lambda nn: nn.Conv2d(4, 4, 3, groups=0),
    lambda nn: nn.Conv2d(4, 4, 3, stride=2, padding="same"),
    lambda nn: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"),
    lambda nn: nn.Conv2d(4, 4, 3, padding="full"),
]


@pytest.mark.parametrize("make", LAYER_ERRORS, ids=range(len(LAYER_ERRORS)))
def test_layer_argument_errors_match_pytorch(make: Callable[[Any], Any]) -> None:
    with pytest.raises(ValueError) as want:
        make(pt.nn)
    with pytest.raises(ValueError) as got:
        make(nn)
    assert _sets_sorted(str(got.value)) == _sets_sorted(str(want.value))


def _sets_sorted(msg: str) -> str:
    # PyTorch prints a Python set of options, whose order depends on the hash seed.
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m[1].split(", "))) + "}", msg)


LAYER_INPUT_ERRORS: list[tuple[Callable[[Any], Any], tuple[int, ...]]] = [
    (lambda nn: nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1), (4, 2, 28, 28)),
    (lambda nn: nn.Conv2d(1, 3, kernel_size=3), (28, 28)),
    (lambda nn: nn.Conv2d(1, 3, kernel_size=5), (1, 1, 4, 9)),
    (lambda nn: nn.Conv1d(2, 3, 3), (2, 3, 7)),
    (lambda nn: nn.ConvTranspose2d(4, 2, 3), (1, 3, 5, 5)),
    (lambda nn: nn.MaxPool2d(3), (1, 2, 2)),
    (lambda nn: nn.AvgPool1d(3), (4,)),
    (lambda nn: nn.AdaptiveAvgPool2d(2), (5,)),
]


@pytest.mark.parametrize("make,shape", LAYER_INPUT_ERRORS, ids=range(len(LAYER_INPUT_ERRORS)))
def test_layer_input_errors_name_the_layer_and_shapes(make: Any, shape: tuple[int, ...]) -> None:
    mine, ref = make(nn), make(pt.nn)
    with pytest.raises(RuntimeError) as want:
        ref(pt.ones(*shape))
    with pytest.raises(RuntimeError) as got:
        mine(dygrad.ones(*shape))
    msg = str(got.value)
    assert msg.startswith(repr(mine) + " got an input of shape " + str(list(shape)))
    if hasattr(mine, "weight"):
        assert f"(weight of shape {list(mine.weight.shape)})" in msg
    assert msg.endswith(str(want.value).splitlines()[0])


def test_lenet_trains_like_pytorch() -> None:
    # A LeNet-style stack, one SGD step computed by hand on both sides: same loss, same update.
    def build(m: Any) -> Any:
        return m.nn.Sequential(
            m.nn.Conv2d(1, 4, 5), m.nn.ReLU(), m.nn.MaxPool2d(2), m.nn.Conv2d(4, 8, 5),
            m.nn.ReLU(), m.nn.AvgPool2d(2), m.nn.Flatten(), m.nn.Linear(8 * 2 * 2, 3),
        )  # fmt: skip

    ref = build(pt).double()
    mine = build(dygrad)
    for p in mine.parameters():
        with dygrad.no_grad():
            p.data = p.data.double()
    _copy_params(mine, ref)
    x = np.random.default_rng(3).standard_normal((5, 1, 20, 20))
    for model, m in ((mine, dygrad), (ref, pt)):
        loss = model(m.tensor(x)).pow(2).mean()
        loss.backward()
        with m.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    for (n, p), (_, q) in zip(mine.named_parameters(), ref.named_parameters(), strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), 1e-10, 1e-12,
                                   err_msg=n)  # fmt: skip

