"""The convolution helpers' alternative paths give the same results: col2im by np.add.at with a
cached flat index (small per-image blocks) and by one strided add per kernel tap (large ones),
the stride-1 2-D row path, window views of contiguous and non-contiguous arrays, and the columns a
convolution's forward keeps for its weight gradient (the registry's `aux`)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import dygrad
from dygrad.autograd import gradcheck
from dygrad.ops import conv as C

CASES = [  # (N, G, K, C, I, stride, dilation)
    (2, 1, (3,), 2, (5,), (2,), (1,)),
    (3, 2, (3, 3), 2, (4, 5), (2, 1), (1, 2)),
    (1, 1, (2, 3), 3, (3, 3), (1, 1), (1, 1)),
    (2, 1, (2, 2, 2), 2, (2, 3, 2), (2, 1, 1), (1, 1, 2)),
    (5, 1, (5, 5), 4, (6, 6), (1, 1), (1, 1)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_col2im_scatter_matches_strided_adds(case, monkeypatch):
    n, g, k, c, sizes, s, d = case
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((n, g, *k, c, *sizes))
    full = tuple((m - 1) * si + di * (ki - 1) + 1 for m, si, di, ki in zip(sizes, s, d, k))
    scatter = C._col2im(cols, full, k, s, d)
    monkeypatch.setattr(C, "_SCATTER_MAX", 0)
    adds = C._col2im(cols, full, k, s, d)
    # The reference by definition: each tap's block added at its offset.
    want = np.zeros((n, g, c, *full))
    for tap in np.ndindex(*k):
        sl = tuple(
            slice(t * di, t * di + si * (m - 1) + 1, si) for t, di, si, m in zip(tap, d, s, sizes)
        )
        want[(slice(None),) * 3 + sl] += cols[(slice(None), slice(None), *tap)]
    np.testing.assert_allclose(scatter, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(adds, want, rtol=1e-12, atol=1e-12)


def test_col2im_scatter_in_chunks(monkeypatch):
    # More images than one scatter takes: several chunks, the last one shorter.
    monkeypatch.setattr(C, "_SCATTER_MAX", 2 * 3 * 3 * 2 * 4 * 4 + 5)
    rng = np.random.default_rng(1)
    cols = rng.standard_normal((7, 1, 3, 3, 2, 4, 4)).astype(np.float32)
    got = C._col2im(cols, (9, 9), (3, 3), (2, 2), (1, 1))
    monkeypatch.setattr(C, "_SCATTER_MAX", 0)
    np.testing.assert_allclose(got, C._col2im(cols, (9, 9), (3, 3), (2, 2), (1, 1)), rtol=1e-6)


@pytest.mark.parametrize(
    "limit", [0, 1 << 16, 1 << 30, None], ids=["adds", "default", "scatter", "gather"]
)
@pytest.mark.parametrize(
    "cfg",
    [
        dict(stride=2, padding=1),  # the seed net's second convolution
        dict(stride=1, padding=0),  # the stride-1 row path when the blocks are large
        dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=2),
    ],
    ids=str,
)
def test_conv2d_gradients_on_every_path(limit, cfg, monkeypatch):
    # These shapes are small enough to gather: the other paths need the gather turned off.
    if limit is None:
        monkeypatch.setattr(C, "_GATHER_MAX", 1 << 30)
    else:
        monkeypatch.setattr(C, "_GATHER_MAX", 0)
        monkeypatch.setattr(C, "_SCATTER_MAX", limit)
    rng = np.random.default_rng(2)
    g = cfg.get("groups", 1)
    x = dygrad.tensor(rng.standard_normal((2, 2 * g, 7, 8)), requires_grad=True)
    w = dygrad.tensor(rng.standard_normal((2 * g, 2, 3, 3)), requires_grad=True)
    b = dygrad.tensor(rng.standard_normal(2 * g), requires_grad=True)
    assert gradcheck(lambda x, w, b: dygrad.nn.functional.conv2d(x, w, b, **cfg), (x, w, b))
    assert gradcheck(
        lambda x, w: dygrad.nn.functional.conv_transpose2d(x, w, stride=cfg["stride"]), (x, w)
    )


IM2COL_CASES = [  # (x shape, kernel, stride, padding, dilation, groups, first O positions)
    ((4, 1, 28, 28), (3, 3), (2, 2), (1, 1), (1, 1), 1, None),  # the seed net's convolutions
    ((4, 3, 14, 14), (3, 3), (2, 2), (1, 1), (1, 1), 1, None),
    ((2, 4, 7, 8), (3, 2), (2, 1), (0, 2), (1, 2), 2, None),
    ((3, 2, 9), (4,), (3,), (2,), (2,), 1, None),
    ((2, 2, 4, 5, 3), (2, 3, 2), (1, 2, 1), (1, 0, 1), (2, 1, 1), 1, None),
    ((2, 3, 5, 5), (5, 5), (1, 1), (3, 3), (1, 1), 3, None),  # windows of padding only
    ((2, 2, 9, 9), (3, 3), (2, 2), (1, 1), (1, 1), 1, (3, 4)),  # the weight gradient's O
    ((0, 2, 5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 1, None),  # empty: both take the copy
]


@pytest.mark.parametrize("case", IM2COL_CASES, ids=str)
@pytest.mark.parametrize("contiguous", [True, False])
def test_im2col_gather_matches_window_copy(case, contiguous, monkeypatch):
    shape, k, s, p, d, groups, o = case
    rng = np.random.default_rng(4)
    x = rng.standard_normal((*shape, 2)).astype(np.float32)[..., 0]  # every other element
    if contiguous:
        x = x.copy()
    assert x.flags.c_contiguous == contiguous or not x.size
    monkeypatch.setattr(C, "_GATHER_MAX", 1 << 30)
    gathered, o1 = C._im2col(x, k, s, p, d, groups, o)
    monkeypatch.setattr(C, "_GATHER_MAX", 0)
    copied, o2 = C._im2col(x, k, s, p, d, groups, o)
    assert o1 == o2
    assert gathered.shape == copied.shape and gathered.dtype == x.dtype
    np.testing.assert_array_equal(gathered, copied)
    # And by definition: column (c, taps) at output position m reads x at m * s + t * d - p.
    n, c = shape[:2]
    nd = len(k)
    full = gathered.reshape(n, c, *k, *o1)
    for tap in [(0,) * nd, tuple(kk - 1 for kk in k)]:
        for pos in [(0,) * nd, tuple(m - 1 for m in o1)]:
            src = tuple(m * si + t * di - pi for m, t, si, di, pi in zip(pos, tap, s, d, p))
            inside = all(0 <= v < size for v, size in zip(src, shape[2:]))
            want = x[(slice(None), slice(None), *src)] if inside else np.zeros((n, c))
            np.testing.assert_array_equal(full[(slice(None), slice(None), *tap, *pos)], want)


TRANSPOSED_CASES = [  # (x shape, weight shape, stride, padding, output_padding, dilation, groups)
    ((4, 12, 7, 7), (12, 3, 3, 3), 2, 1, 1, 1, 1),  # the seed net's conv2 input gradient
    ((2, 4, 3, 5), (4, 3, 3, 2), (2, 1), (1, 0), (1, 0), (1, 2), 2),
    ((2, 3, 6), (3, 2, 4), 3, 2, 2, 1, 1),
    ((1, 2, 2, 3, 2), (2, 2, 2, 3, 2), (2, 1, 2), (0, 1, 1), (1, 0, 0), (1, 1, 2), 1),
    ((2, 2, 4, 4), (2, 3, 3, 3), 1, 2, 0, 1, 1),  # the padding crops whole taps
]


@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=str)
def test_transposed_convolution_gather_matches_other_paths(case, monkeypatch):
    xs, ws, stride, padding, output_padding, dilation, groups = case
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    nd = len(xs) - 2

    def run(gather: int, scatter: int) -> np.ndarray:
        monkeypatch.setattr(C, "_GATHER_MAX", gather)
        monkeypatch.setattr(C, "_SCATTER_MAX", scatter)
        t = [C._conv_tuple(v, nd, "") for v in (stride, padding, dilation, output_padding)]
        out, _ = C._conv_cols_fwd(x, w, None, t[0], t[1], t[2], True, t[3], groups)
        return out

    before = C._stacked_index.cache_info()
    gathered = run(1 << 30, 1 << 16)
    after = C._stacked_index.cache_info()
    assert after.hits + after.misses == before.hits + before.misses + 1  # the gather ran
    np.testing.assert_allclose(gathered, run(0, 1 << 16), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gathered, run(0, 0), rtol=1e-12, atol=1e-12)
    # The adjoint property: <conv_transpose(x), y> == <x, conv(y)> for the direct convolution.
    y = rng.standard_normal(gathered.shape)
    t = [C._conv_tuple(v, nd, "") for v in (stride, padding, dilation)]
    direct, _ = C._conv_cols_fwd(y, w, None, t[0], t[1], t[2], False, (0,) * nd, groups)
    np.testing.assert_allclose((gathered * y).sum(), (x * direct).sum(), rtol=1e-10)


def test_gather_index_is_cached_and_read_only():
    a = C._gather_index(1, (5, 5), (3, 3), (1, 1), (1, 1), (1, 1), (5, 5))
    assert C._gather_index(1, (5, 5), (3, 3), (1, 1), (1, 1), (1, 1), (5, 5)) is a
    assert not a.flags.writeable
    assert a.max() == 25  # the padding slot, one past the image


@pytest.mark.parametrize("gather", [0, 1 << 30], ids=["copy", "gather"])
@pytest.mark.parametrize(
    "fn,xs,ws,cfg",
    [
        ("conv2d", (2, 4, 7, 6), (6, 2, 3, 2),
         dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
        ("conv_transpose2d", (2, 4, 3, 4), (4, 2, 3, 2),
         dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2))),
    ],
    ids=["conv2d", "conv_transpose2d"],
)  # fmt: skip
def test_gradients_through_gathered_columns(fn, xs, ws, cfg, gather, monkeypatch):
    monkeypatch.setattr(C, "_GATHER_MAX", gather)
    rng = np.random.default_rng(5)
    x = dygrad.tensor(rng.standard_normal(xs), requires_grad=True)
    w = dygrad.tensor(rng.standard_normal(ws), requires_grad=True)
    n_out = ws[0] if fn == "conv2d" else ws[1] * 2
    b = dygrad.tensor(rng.standard_normal(n_out), requires_grad=True)
    f = getattr(dygrad.nn.functional, fn)
    assert gradcheck(lambda x, w, b: f(x, w, b, groups=2, **cfg), (x, w, b))


def test_windows_of_noncontiguous_array():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 6, 7, 3))
    nc = base.transpose(0, 3, 1, 2)  # no padding: the window view is taken of this array itself
    got = C._windows(nc, (3, 2), (2, 1), (1, 2))
    want = C._windows(np.ascontiguousarray(nc), (3, 2), (2, 1), (1, 2))
    np.testing.assert_array_equal(got, want)
    assert not got.flags.writeable


@pytest.mark.parametrize("padding", [0, 1])
def test_conv2d_noncontiguous_input_matches_contiguous(padding):
    # Window views are built from the array's own buffer when it is contiguous and through
    # as_strided otherwise: both give the same result and gradients.
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 7, 9, 3)).astype(np.float32)
    w = dygrad.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    x_nc = dygrad.tensor(base).permute(0, 3, 1, 2)  # (2, 3, 7, 9), not contiguous
    x_c = dygrad.tensor(np.ascontiguousarray(base.transpose(0, 3, 1, 2)))
    assert not x_nc.is_contiguous()
    out_nc = dygrad.nn.functional.conv2d(x_nc, w, stride=2, padding=padding)
    (g_nc,) = dygrad.autograd.grad(out_nc.sum(), [w])
    out_c = dygrad.nn.functional.conv2d(x_c, w, stride=2, padding=padding)
    (g_c,) = dygrad.autograd.grad(out_c.sum(), [w])
    np.testing.assert_array_equal(out_nc.detach().numpy(), out_c.detach().numpy())
    np.testing.assert_allclose(g_nc.numpy(), g_c.numpy(), rtol=1e-6)


# --- work a forward keeps for its backward (defop(aux=True)) ------------------------------------


@pytest.fixture
def aux_op():
    """A toy op y = 3x whose forward also returns 3 (as an array) for its rule, which records
    what it was given."""
    from dygrad.ops.registry import REGISTRY, defop

    seen: list = []

    def rule(g, x, aux):
        seen.append(aux)
        return g * 3.0

    op = defop("_test_aux", grad_fn="TestAuxBackward0",
               forward=lambda x: (x * 3.0, np.array(3.0)), aux=True,
               vjp=(rule,), jvp=(lambda t: t * 3.0,))  # fmt: skip
    yield op, seen
    del REGISTRY["_test_aux"]


def test_aux_reaches_the_rule_and_only_the_rule(aux_op):
    op, seen = aux_op
    x = dygrad.ones(2, requires_grad=True)
    y = op(x)
    assert type(y) is dygrad.Tensor and y.tolist() == [3.0, 3.0]  # the result alone
    assert op(np.ones(2)).tolist() == [3.0, 3.0]  # raw arrays: the result alone too
    y.sum().backward()
    assert len(seen) == 1 and float(seen[0]) == 3.0
    assert x.grad.tolist() == [3.0, 3.0]
    assert y.grad_fn._saved is None  # freed with the node's saved values
    with dygrad.no_grad():
        assert op(x).grad_fn is None


def test_aux_is_not_kept_where_its_rule_cannot_run_or_hooks_store(aux_op):
    op, seen = aux_op
    # No input needs a gradient through the rule that names it: nothing kept.
    w = dygrad.ones(2, requires_grad=True)
    y = op(dygrad.ones(2)) * w
    assert y.grad_fn.next_functions[0][0] is None
    # Saved-tensor hooks decide what is stored: the rule computes without it.
    x = dygrad.ones(2, requires_grad=True)
    with dygrad.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        z = op(x)
    z.sum().backward()
    assert seen == [None] and x.grad.tolist() == [3.0, 3.0]


def test_aux_needs_one_output():
    from dygrad.ops.registry import defop

    with pytest.raises(TypeError, match="aux needs a single-output"):
        defop("_test_aux_bad", grad_fn="X", forward=lambda x: (x, x, x), n_outputs=2, aux=True)


@pytest.mark.parametrize("keep", [0, 1 << 30], ids=["rebuilt", "kept"])
def test_conv_weight_gradient_with_and_without_kept_columns(keep, monkeypatch):
    monkeypatch.setattr(C, "_KEEP_COLS_BYTES", keep)
    rng = np.random.default_rng(5)
    x = dygrad.tensor(rng.standard_normal((2, 4, 6, 5)), requires_grad=True)
    w = dygrad.tensor(rng.standard_normal((6, 2, 3, 2)), requires_grad=True)
    b = dygrad.tensor(rng.standard_normal(6), requires_grad=True)

    def f(x, w, b):
        return dygrad.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2)

    assert gradcheck(f, (x, w, b))
    # Double backward: the rules run on tensors there and rebuild the columns through the op.
    assert dygrad.autograd.gradgradcheck(f, (x, w, b))
    node = f(x, w, b).grad_fn
    assert len(node._saved) == len(node.op.params) + 1  # the aux slot, filled or None
    assert (node._saved[-1] is None) == (not keep)


def test_conv_keeps_columns_only_when_small():
    x = dygrad.ones(1, 1, 8, 8)
    w = dygrad.ones(2, 1, 3, 3, requires_grad=True)
    node = dygrad.nn.functional.conv2d(x, w).grad_fn
    cols = node._saved[-1]
    assert cols.shape == (1, 1, 9, 36) and cols.nbytes <= C._KEEP_COLS_BYTES
    big = dygrad.ones(64, 16, 12, 12)  # LeNet's second convolution: 6.6 MB of columns
    w2 = dygrad.ones(32, 16, 5, 5, requires_grad=True)
    node = dygrad.nn.functional.conv2d(big, w2).grad_fn
    assert node._saved[-1] is None


def test_explain_through_a_convolution_that_kept_no_columns():
    # The symbolic replay of dygrad.viz.explain reads the node's saved values with their aux
    # slot (None here: 320 KB of columns are not kept).
    import io

    from dygrad.viz.chain import explain

    x = dygrad.tensor(np.random.default_rng(0).standard_normal((1, 1, 200, 200)))
    w = dygrad.ones(1, 1, 1, 1, dtype=dygrad.float64, requires_grad=True)
    out = dygrad.nn.functional.conv2d(x, w).sum()
    e = explain(out, w, file=io.StringIO())
    np.testing.assert_allclose(e.total.ravel(), e.autograd.ravel())
    np.testing.assert_allclose(e.total.ravel(), [x.numpy().sum()])


def test_kept_columns_are_the_forward_inputs():
    # The weight gradient of a small convolution comes from the columns of x as the forward saw
    # it: a write into x's memory that bypasses the version counter (through numpy()) after the
    # forward does not change it. (PyTorch's convolution reads x again in backward and would
    # use the new values; neither library tracks such writes.)
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((2, 3, 6, 6))
    w = dygrad.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    x = dygrad.tensor(x0.copy())
    y = dygrad.nn.functional.conv2d(x, w)
    x.numpy()[...] *= 2.0
    y.sum().backward()
    x_ref = dygrad.tensor(x0)
    w_ref = w.detach().clone().requires_grad_()
    dygrad.nn.functional.conv2d(x_ref, w_ref).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w_ref.grad.numpy())


def test_compiled_conv_reuses_kept_columns():
    # dygrad.compile keeps the forward's columns for the generated backward (as x<id>) and gets
    # eager mode's gradients.
    rng = np.random.default_rng(6)
    xa = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    wa = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)

    def f(x, w):
        return dygrad.nn.functional.conv2d(x, w, stride=2, padding=1).tanh().sum()

    grads = []
    for fn in (f, dygrad.compile(f)):
        x = dygrad.tensor(xa, requires_grad=True)
        w = dygrad.tensor(wa, requires_grad=True)
        for _ in range(2):  # the compiled one: traced, then replayed
            x.grad = w.grad = None
            fn(x, w).backward()
        grads.append((x.grad.numpy().copy(), w.grad.numpy().copy()))
        last = fn
    src = last.code()
    assert re.search(r"\bv\d+, x\d+ = ", src), src
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_conv_argument_checks_remembered_per_signature():
    # A signature that passed the checks skips them next time; any other one is checked anew.
    x, w, b = dygrad.ones(1, 2, 5, 5), dygrad.ones(3, 2, 3, 3), dygrad.ones(3)
    for _ in range(2):
        assert dygrad.nn.functional.conv2d(x, w, b).shape == (1, 3, 3, 3)
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 3 elements"):
        dygrad.nn.functional.conv2d(x, w, dygrad.ones(1))  # would broadcast silently
    with pytest.raises(RuntimeError, match="expected input.* to have 2 channels, but got 1"):
        dygrad.nn.functional.conv2d(dygrad.ones(1, 1, 5, 5), w, b)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        dygrad.nn.functional.conv2d(x, w.double(), None)
