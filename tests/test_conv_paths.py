"""The convolution helpers' alternative paths give the same results: col2im by np.add.at with a
cached flat index (small per-image blocks) and by one strided add per kernel tap (large ones),
the stride-1 2-D row path, and window views of contiguous and non-contiguous arrays."""

from __future__ import annotations

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


@pytest.mark.parametrize("limit", [0, 1 << 16, 1 << 30], ids=["adds", "default", "scatter"])
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
