"""Convolution and pooling ops (conv1d/2d/3d and their transposes, max/avg pooling, adaptive average
pooling, constant padding) through strided im2col views and one matrix product."""

# ruff: noqa: A002 - PyTorch names the first argument `input`
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .registry import Spec, defop

__all__ = [
    "convolution_op", "convolution_weight_op", "max_pool2d_op", "max_pool2d_scatter_op",
    "max_pool2d_gather_op", "avg_pool2d_op", "avg_pool2d_backward_op", "adaptive_avg_pool2d_op",
    "adaptive_avg_pool2d_backward_op", "constant_pad_nd_op",
    "convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "max_pool1d", "max_pool2d", "max_pool1d_with_indices",
    "max_pool2d_with_indices", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "constant_pad_nd", "pad", "index_pad_backward_op",
]  # fmt: skip

# Public functions (PyTorch's torch.* names) that dygrad's namespace re-exports.
PUBLIC: list[str] = [
    "convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "max_pool1d", "max_pool2d", "max_pool1d_with_indices", "avg_pool1d",
    "adaptive_avg_pool1d", "constant_pad_nd",
]  # fmt: skip

Ints = tuple[int, ...]


# --- array helpers ------------------------------------------------------------------------------
def _padded(x: np.ndarray, lo: Ints, hi: Ints, value: Any = 0) -> np.ndarray:
    """x with its last len(lo) dims padded by lo before and hi after (a new array)."""
    if not any(lo) and not any(hi):
        return x
    nd = len(lo)
    inner = x.shape[-nd:]
    shape = x.shape[:-nd] + tuple(n + a + b for n, a, b in zip(inner, lo, hi))
    out = np.zeros(shape, x.dtype) if value == 0 else np.full(shape, value, x.dtype)
    out[(..., *[slice(a, a + n) for a, n in zip(lo, inner)])] = x
    return out


def _windows(xp: np.ndarray, k: Ints, s: Ints, d: Ints, o: Ints | None = None) -> np.ndarray:
    """Read-only view (..., *O, *K) of the windows over xp's last len(k) dims: O window positions
    `s` apart, K taps `d` apart (the first `o` positions only, when given)."""
    nd = len(k)
    sizes = xp.shape[-nd:]
    if o is None:
        o = tuple((n - di * (ki - 1) - 1) // si + 1 for n, ki, si, di in zip(sizes, k, s, d))
    st = xp.strides[-nd:]
    shape = xp.shape[:-nd] + tuple(o) + tuple(k)
    strides = (
        xp.strides[:-nd]
        + tuple([a * b for a, b in zip(st, s)])
        + tuple([a * b for a, b in zip(st, d)])
    )
    if not xp.flags.c_contiguous:
        return as_strided(xp, shape, strides, writeable=False)
    # A contiguous array is its own buffer: the ndarray constructor builds the view in a
    # fraction of as_strided's time (which goes through __array_interface__).
    win = np.ndarray(shape, xp.dtype, xp, 0, strides)
    win.flags.writeable = False
    return win


# Columns of up to this many elements in all are gathered from x through a cached flat index
# (one copy of x with a zero appended for the padding, one np.take); larger ones are copied from
# a padded copy's window view. Measured at one thread (numpy 2.4): the seed net's two im2cols
# (7,056 and 5,292 elements) 8.8 -> 5.4 and 9.2 -> 4.5 us, where the pad, the view and the
# transposing copy cost about 2.5 us each in fixed overhead; from about 20,000 elements on the
# strided copy was as fast or faster (LeNet's first convolution, 921,600: 187 vs 384 us).
_GATHER_MAX = 1 << 14


def _im2col(x: np.ndarray, k: Ints, s: Ints, p: Ints, d: Ints, groups: int,
            o: Ints | None = None) -> tuple[np.ndarray, Ints]:  # fmt: skip
    """Columns (N, G, C/G * prod(K), prod(O)) of x (N, C, *S) for a convolution, and O."""
    nd = len(k)
    n, c = x.shape[:2]
    sizes = x.shape[2:]
    if o is None:
        o = tuple((m + 2 * pi - di * (ki - 1) - 1) // si + 1
                  for m, ki, si, pi, di in zip(sizes, k, s, p, d))  # fmt: skip
    rows = c // groups * math.prod(k)
    if 0 < n * c * math.prod(k) * math.prod(o) <= _GATHER_MAX:  # (an empty batch: no index)
        idx = _gather_index(c, tuple(sizes), tuple(k), tuple(s), tuple(p), tuple(d), tuple(o))
        flat = x.reshape(n, c * math.prod(sizes))
        if any(p):  # padding reads the zero appended after the image
            src = np.empty((n, flat.shape[1] + 1), x.dtype)
            src[:, :-1] = flat
            src[:, -1] = 0
            flat = src
        cols = flat.take(idx, axis=1)
    else:
        win = _windows(_padded(x, p, p), k, s, d, o)  # (N, C, *O, *K)
        perm = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
        cols = np.ascontiguousarray(win.transpose(perm))  # (N, C, *K, *O): the one copy
    return cols.reshape(n, groups, rows, math.prod(o)), o


@functools.lru_cache(maxsize=32)
def _gather_index(c: int, sizes: Ints, k: Ints, s: Ints, p: Ints, d: Ints, o: Ints) -> np.ndarray:
    """For each element of one image's columns (C, *K, *O), its flat position in the image
    (C, *sizes), or C * prod(sizes) (one past the image) where the window reads padding."""
    nd = len(k)
    plane = math.prod(sizes)
    idx = (np.arange(c) * plane).reshape((c,) + (1,) * (2 * nd))
    inside = np.ones((1,) * (2 * nd + 1), bool)
    step = 1
    for q in reversed(range(nd)):
        # Tap t at output position m reads input position m * s + t * d - p along dim q.
        pos = (np.arange(k[q]) * d[q])[:, None] + (np.arange(o[q]) * s[q] - p[q])[None, :]
        shape = [1] * (2 * nd + 1)
        shape[1 + q], shape[1 + nd + q] = k[q], o[q]
        pos = pos.reshape(shape)
        inside = inside & (pos >= 0) & (pos < sizes[q])
        idx = idx + pos * step
        step *= sizes[q]
    full = (c, *k, *o)
    out = np.where(inside, idx, c * plane)
    out = np.ascontiguousarray(np.broadcast_to(out, full)).reshape(-1)
    out.flags.writeable = False
    return out


def _col2im_gather(cols: np.ndarray, c: int, sizes: Ints, k: Ints, s: Ints, p: Ints, d: Ints,
                   o: Ints) -> np.ndarray:  # fmt: skip
    """The adjoint of the gathered `_im2col`: columns (N, ..., prod(O)) in the index's order
    (C, *K, *O) per image, summed into images (N, C, *sizes); padding taps fall into one slot
    past the last image."""
    n = cols.shape[0]
    idx = _stacked_index(c, tuple(sizes), tuple(k), tuple(s), tuple(p), tuple(d), tuple(o), n)
    out = np.zeros(n * c * math.prod(sizes) + 1, cols.dtype)
    np.add.at(out, idx, cols.reshape(-1))
    return out[:-1].reshape((n, c, *sizes))


@functools.lru_cache(maxsize=32)
def _stacked_index(c: int, sizes: Ints, k: Ints, s: Ints, p: Ints, d: Ints, o: Ints,
                   n: int) -> np.ndarray:  # fmt: skip
    """`_gather_index` for n images laid end to end, padding at n * C * prod(sizes)."""
    one = _gather_index(c, sizes, k, s, p, d, o)
    plane = c * math.prod(sizes)
    idx = one[None, :] + (np.arange(n) * plane)[:, None]
    idx[:, one == plane] = n * plane
    out = idx.reshape(-1)
    out.flags.writeable = False
    return out


# Per-image column blocks up to this many elements are summed into the image by np.add.at with
# a cached flat index; larger ones by one strided add per kernel tap. Measured at one thread
# (numpy 2.4): add.at costs about 0.7 ns an element whatever the layout, a tap's strided add
# 1.5-2 us of call overhead plus a per-element cost that grows as its inner runs shorten. The
# seed net's input gradient (4 images of 1,323 elements) 29 -> 8 us; LeNet's second convolution
# (25,600) 2.3 -> 1.1 ms; at 73,728 and more per image the strided adds were 4-8% faster.
_SCATTER_MAX = 1 << 16


@functools.lru_cache(maxsize=32)
def _scatter_index(inner: Ints, full: Ints, k: Ints, s: Ints, d: Ints, b: int) -> np.ndarray:
    """Where each element of `b` stacked column blocks (*K, C, *I) lands in `b` stacked images
    (C, *full), as flat positions (read-only; at most _SCATTER_MAX * b entries)."""
    nd = len(k)
    c, sizes = inner[nd], inner[nd + 1 :]
    plane = math.prod(full)

    def axis(v: np.ndarray, pos: int) -> np.ndarray:
        shape = [1] * len(inner)
        shape[pos] = -1
        return v.reshape(shape)

    idx = axis(np.arange(c) * plane, nd)
    step = 1
    for q in reversed(range(nd)):
        idx = (
            idx
            + axis(np.arange(k[q]) * (d[q] * step), q)
            + axis(np.arange(sizes[q]) * (s[q] * step), nd + 1 + q)
        )
        step *= full[q]
    one = np.broadcast_to(idx, inner).ravel()
    out = (one[None, :] + (np.arange(b) * (c * plane))[:, None]).ravel()
    out.flags.writeable = False
    return out


def _col2im(cols: np.ndarray, full: Ints, k: Ints, s: Ints, d: Ints) -> np.ndarray:
    """Transpose of the window view: cols (N, G, *K, C, *I) summed into (N, G, C, *full)."""
    nd = len(k)
    n, g = cols.shape[:2]
    c = cols.shape[2 + nd]
    per = math.prod(cols.shape[2:])
    if per <= _SCATTER_MAX and cols.flags.c_contiguous:
        # A few images at a time, so that each scatter's target stays in cache.
        ng, plane = n * g, c * math.prod(full)
        b = max(1, min(ng, _SCATTER_MAX // max(per, 1)))
        idx = _scatter_index(cols.shape[2:], tuple(full), tuple(k), tuple(s), tuple(d), b)
        out = np.zeros(ng * plane, cols.dtype)
        flat = cols.reshape(-1)  # both 1-D views: slices of them are views too
        for i in range(0, ng, b):
            m = min(b, ng - i)
            np.add.at(out[i * plane : (i + m) * plane], idx[: m * per],
                      flat[i * per : (i + m) * per])  # fmt: skip
        return out.reshape((n, g, c, *full))
    # One strided add per kernel tap (taps outermost, so each tap's block is contiguous per
    # image): per dim, each tap's slice of the output and its index in the columns.
    n_i = cols.shape[3 + nd :]
    out = np.zeros((n, g, c, *full), cols.dtype)
    per_dim = [
        [(slice(t * di, t * di + si * (m - 1) + 1, si), t) for t in range(ki)]
        for ki, di, si, m in zip(k, d, s, n_i)
    ]
    lead = (slice(None),) * 3
    full_cols = (slice(None), slice(None))
    for taps in itertools.product(*per_dim):
        out[lead + tuple([sl for sl, _ in taps])] += cols[full_cols + tuple([t for _, t in taps])]
    return out


def _col2im_rows(x: np.ndarray, wt: np.ndarray, groups: int, coutg: int, k: Ints, d: Ints,
                 full: Ints) -> np.ndarray:  # fmt: skip
    """The stride-1 2-D transposed convolution of x (N, C, H, W) with taps-outermost weights wt,
    as (N, G, C_out/G, *full). With x's rows widened to the output width by zeros, every kernel
    tap's contribution is one contiguous run of the flattened output: long strided adds."""
    n, c, h, w = x.shape
    fw = full[1]
    xe = np.zeros((n, c, h, fw), x.dtype)
    xe[..., :w] = x
    run = h * fw
    cols = np.matmul(wt, xe.reshape(n, groups, c // groups, run))  # (N, G, K * C_out/G, H*fw)
    cols = cols.reshape(n, groups, k[0] * k[1], coutg, run)
    out = np.zeros((n, groups, coutg, full[0] * fw + (k[1] - 1) * d[1]), x.dtype)
    for t, (i, j) in enumerate(np.ndindex(*k)):
        off = i * d[0] * fw + j * d[1]
        out[..., off : off + run] += cols[:, :, t]
    return out[..., : full[0] * fw]


def _crop(x: Any, lo: Ints, sizes: Ints) -> Any:
    """x[..., lo:lo+size per trailing dim] (arrays and tensors alike)."""
    return x[(..., *[slice(a, a + n) for a, n in zip(lo, sizes)])]


# --- convolution --------------------------------------------------------------------------------
# Columns up to this size are kept from a convolution's forward for its weight gradient, which
# would otherwise build them again through its own op (the seed net's two, 28 and 21 KB: eager
# step 200 -> 177 us). Larger ones are rebuilt: held from forward to backward, multi-megabyte
# blocks made glibc's allocator return and refetch memory every step (LeNet's 3.7 and 6.6 MB
# columns: 4,300 page faults and 6.9 ms of system time per 10 ms step), and they would hold
# prod(kernel) times the input until backward. Kept columns are x as the forward saw it: a write
# into x's memory that bypasses its version counter (through numpy()) after the forward is not
# seen by the weight gradient, where PyTorch, reading x again, would use the new values.
_KEEP_COLS_BYTES = 64 << 10


def _conv_cols_fwd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Ints,
                   padding: Ints, dilation: Ints, transposed: bool, output_padding: Ints,
                   groups: int) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """The convolution and, for a direct one, its im2col columns (N, G, C/G * prod(K), L)
    when they are small enough to keep for the weight gradient (else None)."""
    nd = w.ndim - 2
    k = w.shape[2:]
    n = x.shape[0]
    kept = None
    if not transposed:
        cols, o = _im2col(x, k, stride, padding, dilation, groups)
        wm = w.reshape(groups, w.shape[0] // groups, cols.shape[2])
        out = np.matmul(wm, cols).reshape((n, w.shape[0], *o))  # (N, G, Cout/G, L): no copy
        if cols.nbytes <= _KEEP_COLS_BYTES:
            kept = cols
    else:
        # The transpose of a convolution: columns from one product, summed into the image.
        cin, coutg = w.shape[:2]
        cg = cin // groups
        i_sizes = x.shape[2:]
        nk = math.prod(k)
        full = tuple(
            (m - 1) * si + di * (ki - 1) + 1 + op
            for m, si, di, ki, op in zip(i_sizes, stride, dilation, k, output_padding)
        )
        per_image = nk * coutg * math.prod(i_sizes)
        if 0 < n * groups * per_image <= _GATHER_MAX:
            # The adjoint of the gathered im2col: the columns (N, G, Cout/G * prod(K), L) from
            # one product, summed through the same index into the image (no crop, no copy).
            wm = w.reshape(groups, cg, coutg * nk).transpose(0, 2, 1)
            cols = np.matmul(wm, x.reshape(n, groups, cg, math.prod(i_sizes)))
            sizes = tuple(f - 2 * p for f, p in zip(full, padding))
            out = _col2im_gather(cols, groups * coutg, sizes, k, stride, padding, dilation,
                                 i_sizes)  # fmt: skip
        else:
            # weight (G*Cin/G, Cout/G, *K) -> (G, K*Cout/G, Cin/G): taps outermost in the columns
            wt = w.reshape(groups, cg, coutg, nk).transpose(0, 3, 2, 1)
            wt = wt.reshape(groups, nk * coutg, cg)
            if nd == 2 and stride == (1, 1) and i_sizes[1] < full[1] and per_image > _SCATTER_MAX:
                out = _col2im_rows(x, wt, groups, coutg, k, dilation, full)
            else:
                xm = x.reshape(n, groups, cg, math.prod(i_sizes))
                cols = np.matmul(wt, xm).reshape((n, groups, *k, coutg, *i_sizes))
                out = _col2im(cols, full, k, stride, dilation)
            out = out.reshape((n, groups * coutg, *full))
            if any(padding):
                out = _crop(out, padding, tuple(f - 2 * p for f, p in zip(full, padding)))
            out = np.ascontiguousarray(out)
    if b is not None:
        out += b.reshape((-1,) + (1,) * nd)
    return out, kept


def _conv_weight_fwd(x: np.ndarray, gy: np.ndarray, k: Ints, stride: Ints, padding: Ints,
                     dilation: Ints, groups: int) -> np.ndarray:  # fmt: skip
    # d(conv(x, w))/dw contracted with gy: one batched product of gy with x's columns.
    cols, _ = _im2col(x, k, stride, padding, dilation, groups, gy.shape[2:])
    return _weight_grad(cols, gy, k, x.shape[1], groups)


def _weight_grad(cols: np.ndarray, gy: np.ndarray, k: Ints, c: int, groups: int) -> np.ndarray:
    # One batched product of the output gradient with the input's columns, summed over the batch.
    n = gy.shape[0]
    gm = gy.reshape(n, groups, gy.shape[1] // groups, math.prod(gy.shape[2:]))
    prod = np.matmul(gm, cols.transpose(0, 1, 3, 2))  # (N, G, Cout/G, C/G * prod(K))
    # Summed straight into the weight's shape: an array of its own (not a view), which a leaf
    # can keep as its .grad without a copy.
    dw = np.empty((gy.shape[1], c // groups, *k), prod.dtype)
    np.sum(prod, axis=0, out=dw.reshape(prod.shape[1:]))
    return dw


def _transpose_padding(x_sizes: Ints, g_sizes: Ints, k: Ints, stride: Ints, padding: Ints,
                       dilation: Ints) -> Ints:  # fmt: skip
    # The output_padding that makes the transposed convolution of g come back at x's size.
    return tuple(
        n + 2 * p - ((m - 1) * s + d * (kk - 1) + 1)
        for n, m, kk, s, p, d in zip(x_sizes, g_sizes, k, stride, padding, dilation)
    )


def _fit(r: Any, sizes: Ints) -> Any:
    # A transposed convolution whose output_padding reaches past its stride (allowed when the
    # dilation is larger) gives its adjoint a longer result: keep the part that exists.
    if tuple(r.shape[2:]) == tuple(sizes):
        return r
    return _crop(r, (0,) * len(sizes), sizes)


def _conv_x(g: Any, x: Any, w: Any, stride: Ints, padding: Ints, dilation: Ints, transposed: bool,
            output_padding: Ints, groups: int) -> Any:  # fmt: skip
    nd = len(stride)
    zeros = (0,) * nd
    if transposed:
        r = convolution_op(g, w, None, stride, padding, dilation, False, zeros, groups)
        return _fit(r, tuple(x.shape[2:]))
    op = _transpose_padding(
        tuple(x.shape[2:]), tuple(g.shape[2:]), tuple(w.shape[2:]), stride, padding, dilation
    )
    return convolution_op(g, w, None, stride, padding, dilation, True, op, groups)


def _conv_w(g: Any, x: Any, w: Any, stride: Ints, padding: Ints, dilation: Ints, transposed: bool,
            groups: int, aux: Any) -> Any:  # fmt: skip
    k = tuple(w.shape[2:])
    if aux is not None and type(g) is np.ndarray:
        # The forward's columns of x (gradients on arrays: no graph to record through them).
        return _weight_grad(aux, g, k, x.shape[1], groups)
    if transposed:
        return convolution_weight_op(g, x, k, stride, padding, dilation, groups)
    return convolution_weight_op(x, g, k, stride, padding, dilation, groups)


def _conv_b(g: Any) -> Any:
    return g.sum((0, *range(2, g.ndim)))


def _conv_jx(t: Any, w: Any, stride: Ints, padding: Ints, dilation: Ints, transposed: bool,
             output_padding: Ints, groups: int) -> Any:  # fmt: skip
    # Bilinear in (input, weight): each tangent goes through the convolution with the other
    # operand's value; the bias enters once, through its own rule.
    return convolution_op(t, w, None, stride, padding, dilation, transposed, output_padding,
                          groups)  # fmt: skip


def _conv_jw(t: Any, x: Any, stride: Ints, padding: Ints, dilation: Ints, transposed: bool,
             output_padding: Ints, groups: int) -> Any:  # fmt: skip
    return convolution_op(x, t, None, stride, padding, dilation, transposed, output_padding,
                          groups)  # fmt: skip


def _conv_jb(t: Any, stride: Ints) -> Any:
    # (C,) -> (C, 1, ..., 1): broadcasts over the batch and spatial dims of the output.
    return t.reshape((-1,) + (1,) * len(stride))


def _conv_shape(x: Any, w: Any, b: Any, stride: Ints, padding: Ints, dilation: Ints,
                transposed: bool, output_padding: Ints, groups: int) -> Spec:  # fmt: skip
    # The forward's output size per spatial dim (the public functions check the arguments).
    nd = len(w) - 2
    if len(x) != nd + 2 or len(stride) != nd:
        raise ValueError(f"expected a {nd + 2}-D input for a {nd + 2}-D weight")
    sizes, k = x[2:], w[2:]
    if not transposed:
        if x[1] != w[1] * groups:
            raise ValueError(f"expected input with {w[1] * groups} channels, got {x[1]}")
        c = w[0]
        o = [(n + 2 * p - d * (kk - 1) - 1) // s + 1
             for n, kk, s, p, d in zip(sizes, k, stride, padding, dilation)]  # fmt: skip
    else:
        if x[1] != w[0]:
            raise ValueError(f"expected input with {w[0]} channels, got {x[1]}")
        c = w[1] * groups
        o = [(n - 1) * s - 2 * p + d * (kk - 1) + 1 + q
             for n, kk, s, p, d, q in zip(sizes, k, stride, padding, dilation, output_padding)]
    if any(m < 1 for m in o):
        raise ValueError(f"output size {o} is too small")
    return Spec((x[0], c, *o), np.result_type(x.dtype, w.dtype))


def _conv_onnx(ox: Any, x: str, w: str, b: str | None, stride: Ints, padding: Ints,
               dilation: Ints, transposed: bool, output_padding: Ints, groups: int) -> str:
    extra = {"output_padding": list(output_padding)} if transposed else {}
    return ox.op("ConvTranspose" if transposed else "Conv", x, w, b, strides=list(stride),
                 pads=[*padding, *padding], dilations=list(dilation), group=groups, **extra)


convolution_op = defop(
    "convolution",
    onnx=_conv_onnx,
    grad_fn="ConvolutionBackward0",
    forward=_conv_cols_fwd,
    aux=True,
    shape=_conv_shape,
    vjp=(_conv_x, _conv_w, _conv_b),
    jvp=(_conv_jx, _conv_jw, _conv_jb),
)


def _convw_x(g: Any, x: Any, gy: Any, stride: Ints, padding: Ints, dilation: Ints,
             groups: int) -> Any:  # fmt: skip
    # The weight gradient is bilinear in (x, gy): its adjoint in x is a transposed convolution.
    op = _transpose_padding(
        tuple(x.shape[2:]), tuple(gy.shape[2:]), tuple(g.shape[2:]), stride, padding, dilation
    )
    return convolution_op(gy, g, None, stride, padding, dilation, True, op, groups)


def _convw_gy(g: Any, x: Any, gy: Any, stride: Ints, padding: Ints, dilation: Ints,
              groups: int) -> Any:  # fmt: skip
    zeros = (0,) * len(stride)
    r = convolution_op(x, g, None, stride, padding, dilation, False, zeros, groups)
    return _fit(r, tuple(gy.shape[2:]))


convolution_weight_op = defop(
    "convolution_weight",
    grad_fn="ConvolutionBackwardBackward0",
    forward=_conv_weight_fwd,
    vjp=(_convw_x, _convw_gy),
    # Bilinear in (x, gy).
    jvp=(
        lambda t, gy, k, stride, padding, dilation, groups: convolution_weight_op(
            t, gy, k, stride, padding, dilation, groups
        ),
        lambda t, x, k, stride, padding, dilation, groups: convolution_weight_op(
            x, t, k, stride, padding, dilation, groups
        ),
    ),
)


# --- max pooling (over the last two dims; any leading dims) -------------------------------------
def pool_out_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length for an input of length n."""
    m = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (m - 1) * s >= n + p:
        m -= 1
    return m


def _pool_view(x: np.ndarray, k: Ints, s: Ints, p: Ints, d: Ints, ceil_mode: bool,
               fill: Any) -> np.ndarray:  # fmt: skip
    # The windows (..., Ho, Wo, kh, kw) over x padded with `fill` (on the far side as far as
    # ceil_mode's last windows reach).
    o = tuple(pool_out_size(n, *a, ceil_mode) for n, a in zip(x.shape[-2:], zip(k, s, p, d)))
    hi = tuple(
        max(pi, (m - 1) * si + di * (ki - 1) + 1 - n - pi)
        for n, m, ki, si, pi, di in zip(x.shape[-2:], o, k, s, p, d)
    )
    return _windows(_padded(x, p, hi, fill), k, s, d, o)


def _lowest(dt: np.dtype) -> Any:
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min if dt.kind in "iu" else False


def _max_pool_fwd(x: np.ndarray, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                  ceil_mode: bool, x_shape: Ints) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    win = _pool_view(x, kernel, stride, padding, dilation, ceil_mode, _lowest(x.dtype))
    o = win.shape[-4:-2]
    kh, kw = kernel
    taps = [win[..., i, j] for i in range(kh) for j in range(kw)]
    # One whole-array pass per kernel tap: the running maximum, then (last tap to first) which
    # tap holds it, so that ties go to the first, as in PyTorch.
    out = taps[0].copy() if len(taps) == 1 else np.maximum(taps[0], taps[1])
    for v in taps[2:]:
        np.maximum(out, v, out=out)
    if len(taps) == 1:
        arg = np.zeros(out.shape, np.uint8)
    elif len(taps) < 256:
        # The first tap equal to the maximum, by arithmetic on "not equal" masks (whole-array
        # uint8 passes, several times faster than masked copies): with f_t = taps[t] != out,
        # arg = f_0 (1 + f_1 (1 + ... (1 + f_{K-2}))).
        arg = np.not_equal(taps[-2], out).view(np.uint8)
        for t in range(len(taps) - 3, -1, -1):
            arg += 1
            arg *= np.not_equal(taps[t], out)
    else:
        arg = np.full(out.shape, len(taps) - 1, np.intp)
        for t in range(len(taps) - 2, -1, -1):
            np.copyto(arg, t, where=taps[t] == out)
    if out.dtype.kind == "f" and np.isnan(out).any():  # PyTorch points at the last NaN
        for t, v in enumerate(taps):
            np.copyto(arg, t, where=np.isnan(v))
    # The flat index (row * W + col) in the unpadded input, as PyTorch returns it: the window's
    # corner plus the winning tap's offset.
    h, w = x.shape[-2:]
    offsets = np.array([i * dilation[0] * w + j * dilation[1] for i in range(kh)
                        for j in range(kw)], np.int64)  # fmt: skip
    corner = (np.arange(o[0]) * stride[0] - padding[0])[:, None] * w + (
        np.arange(o[1]) * stride[1] - padding[1])  # fmt: skip
    idx = np.take(offsets, arg)
    idx += corner
    if any(padding):
        # A padding tap wins only when every input tap is the lowest value (or there is none):
        # PyTorch then reports its starting point, the first tap inside the input in each dim.
        (sh, fh, _), (sw, fw, _) = (
            _taps(*a) for a in zip(o, kernel, stride, padding, dilation, (h, w)))  # fmt: skip
        ti, tj = np.divmod(arg.astype(np.intp), kw)
        row = sh[:, None] + ti * dilation[0]
        col = sw + tj * dilation[1]
        off = (row < 0) | (row >= h) | (col < 0) | (col >= w)
        if off.any():
            idx = np.where(off, fh[:, None] * w + fw, idx)
    return out, idx


def _taps(m: int, k: int, s: int, p: int, d: int, n: int) -> tuple[np.ndarray, ...]:
    # Along one dim, per output position: where its window starts, its first tap inside the
    # input (PyTorch's starting point), and whether any tap is inside (with dilation, a window
    # can hold padding only).
    start = np.arange(m) * s - p
    first = np.where(start < 0, start + (-start + d - 1) // d * d, start)
    return start, first, (first < n) & (first <= start + d * (k - 1))


def _live_index(idx: Any, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                x_shape: Ints) -> np.ndarray:  # fmt: skip
    # The indices with -1 at windows of padding only: their -inf output is a constant, so they
    # take no gradient and pass no tangent (PyTorch's index there points outside the input).
    idx = getattr(idx, "_data", idx)
    if not any(padding):
        return idx
    _, _, in_h = _taps(idx.shape[-2], kernel[0], stride[0], padding[0], dilation[0], x_shape[-2])
    _, _, in_w = _taps(idx.shape[-1], kernel[1], stride[1], padding[1], dilation[1], x_shape[-1])
    dead = ~(in_h[:, None] & in_w)
    return np.where(dead, -1, idx) if dead.any() else idx


def _overlap(kernel: Ints, stride: Ints, dilation: Ints) -> bool:
    return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation))


def _max_pool_vjp(g: Any, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                  x_shape: Ints, out: Any) -> Any:  # fmt: skip
    # The indices are an attribute of the scatter, not an input.
    idx = _live_index(out[1], kernel, stride, padding, dilation, x_shape)
    return max_pool2d_scatter_op(g[0], idx, x_shape, _overlap(kernel, stride, dilation))


def _max_pool_jvp(t: Any, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                  x_shape: Ints, out: Any) -> tuple[Any, None]:  # fmt: skip
    # Each maximum moves with the tangent of the element it came from: gather it at the indices.
    idx = _live_index(out[1], kernel, stride, padding, dilation, x_shape)
    return max_pool2d_gather_op(t, idx, x_shape, False), None


def _pool_shape(x: tuple[int, ...], kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                ceil_mode: bool) -> tuple[int, ...]:  # fmt: skip
    if len(x) < 2:
        raise ValueError("pooling needs at least 2 dims")
    o = tuple(pool_out_size(n, *a, ceil_mode) for n, a in zip(x[-2:], zip(kernel, stride, padding,
                                                                      dilation)))  # fmt: skip
    if any(m < 1 for m in o):
        raise ValueError(f"output size {list(o)} is too small")
    return (*x[:-2], *o)


def _max_pool_shape(x: Any, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                    ceil_mode: bool, x_shape: Ints) -> tuple[Spec, Spec]:  # fmt: skip
    o = _pool_shape(x, kernel, stride, padding, dilation, ceil_mode)
    return Spec(o, x.dtype), Spec(o, np.int64)


def _max_pool_onnx(ox: Any, x: str, kernel: Ints, stride: Ints, padding: Ints, dilation: Ints,
                   ceil_mode: bool, x_shape: Ints) -> tuple[str, None]:
    y = ox.op("MaxPool", x, kernel_shape=list(kernel), strides=list(stride),
              pads=[*padding, *padding], dilations=list(dilation), ceil_mode=int(ceil_mode))
    return y, None  # ONNX's indices count over the whole tensor, PyTorch's within each plane


max_pool2d_op = defop(
    "max_pool2d",
    onnx=_max_pool_onnx,
    grad_fn="MaxPool2DWithIndicesBackward0",
    n_outputs=2,
    shape=_max_pool_shape,
    differentiable_outputs=(True, False),
    forward=_max_pool_fwd,
    vjp=(_max_pool_vjp,),
    jvp=(_max_pool_jvp,),
)


def _flat_index(idx: np.ndarray, x_shape: Ints) -> np.ndarray:
    # Indices within each (H, W) plane -> indices into the flattened input.
    planes = math.prod(x_shape[:-2])
    hw = x_shape[-2] * x_shape[-1]
    return idx.reshape(planes, idx.size // max(planes, 1)) + (np.arange(planes) * hw)[:, None]


def _scatter_fwd(g: np.ndarray, idx: np.ndarray, x_shape: Ints, overlap: bool) -> np.ndarray:
    flat = _flat_index(idx, x_shape).ravel()
    gv = g.ravel()
    if idx.size and idx.min() < 0:  # windows of padding only (-1) send nothing
        live = idx.ravel() >= 0
        flat, gv = flat[live], gv[live]
    n = math.prod(x_shape)
    if overlap:  # windows share elements: sum the repeats
        out = np.bincount(flat, weights=gv, minlength=n).astype(g.dtype, copy=False)
        return out.reshape(x_shape)
    out = np.zeros(n, g.dtype)
    out[flat] = gv
    return out.reshape(x_shape)


def _gather_fwd(g: np.ndarray, idx: np.ndarray, x_shape: Ints, overlap: bool) -> np.ndarray:
    if idx.size and idx.min() < 0:  # windows of padding only (-1) take nothing
        live = idx >= 0
        r = g.reshape(-1)[_flat_index(np.where(live, idx, 0), x_shape)].reshape(idx.shape)
        return np.where(live, r, 0).astype(g.dtype, copy=False)
    return g.reshape(-1)[_flat_index(idx, x_shape)].reshape(idx.shape)


# Max pooling's backward puts each output's gradient where its maximum came from; the adjoint of
# that scatter is a gather of the same places, and the other way round.
max_pool2d_scatter_op = defop(
    "max_pool2d_scatter",
    grad_fn="MaxPool2DWithIndicesBackwardBackward0",
    forward=_scatter_fwd,
    vjp=(lambda g, idx, x_shape, overlap: max_pool2d_gather_op(g, idx, x_shape, overlap),),
    jvp=(lambda t, idx, x_shape, overlap: max_pool2d_scatter_op(t, idx, x_shape, overlap),),
)
max_pool2d_gather_op = defop(
    "max_pool2d_gather",
    grad_fn="GatherBackward0",
    forward=_gather_fwd,
    vjp=(lambda g, idx, x_shape, overlap: max_pool2d_scatter_op(g, idx, x_shape, overlap),),
    jvp=(lambda t, idx, x_shape, overlap: max_pool2d_gather_op(t, idx, x_shape, overlap),),
)


# --- average pooling ----------------------------------------------------------------------------
def _divisor(x_shape: Ints, o: Ints, kernel: Ints, stride: Ints, padding: Ints,
             count_include_pad: bool, divisor_override: int | None) -> Any:  # fmt: skip
    # PyTorch's per-window divisor, a product of one factor per spatial dim.
    if divisor_override is not None:
        return divisor_override
    div = 1.0
    for ax, (n, m, k, s, p) in enumerate(zip(x_shape[-2:], o, kernel, stride, padding)):
        start = np.arange(m) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        size = np.maximum(end - start, 1)  # a window wholly in the padding sums to zero anyway
        div = div * (size[:, None] if ax == 0 else size)
    return div


def _avg_out(x_shape: Ints, kernel: Ints, stride: Ints, padding: Ints, ceil_mode: bool) -> Ints:
    return tuple(
        pool_out_size(n, k, s, p, 1, ceil_mode)
        for n, k, s, p in zip(x_shape[-2:], kernel, stride, padding)
    )


def _avg_pool_fwd(x: np.ndarray, kernel: Ints, stride: Ints, padding: Ints, ceil_mode: bool,
                  include_pad: bool, divisor: int | None, x_shape: Ints) -> np.ndarray:  # fmt: skip
    win = _pool_view(x, kernel, stride, padding, (1, 1), ceil_mode, 0)
    o = win.shape[-4:-2]
    acc = np.zeros(win.shape[:-2], np.float64 if x.dtype.kind in "iub" else x.dtype)
    for i, j in np.ndindex(*kernel):  # one strided add per kernel tap
        acc += win[..., i, j]
    div = _divisor(x.shape, o, kernel, stride, padding, include_pad, divisor)
    if x.dtype.kind in "iub":  # integer pooling truncates, as PyTorch's does
        return np.trunc(acc / div).astype(x.dtype)
    acc /= np.asarray(div, x.dtype)
    return acc


def _avg_pool_bwd(g: np.ndarray, kernel: Ints, stride: Ints, padding: Ints, ceil_mode: bool,
                  include_pad: bool, divisor: int | None, x_shape: Ints) -> np.ndarray:  # fmt: skip
    # The transpose of the average: each output's share added back over its window.
    o = g.shape[-2:]
    div = _divisor(x_shape, o, kernel, stride, padding, include_pad, divisor)
    share = (g / np.asarray(div, g.dtype)).reshape((math.prod(g.shape[:-2]), 1, 1, 1, 1, *o))
    cols = np.broadcast_to(share, (share.shape[0], 1, *kernel, 1, *o))  # (N, G, *K, C, *I)
    full = tuple(
        max(n + 2 * p, (m - 1) * s + k)
        for n, m, k, s, p in zip(x_shape[-2:], o, kernel, stride, padding)
    )
    out = _col2im(cols, full, kernel, stride, (1, 1))
    return np.ascontiguousarray(_crop(out, padding, x_shape[-2:])).reshape(x_shape)


def _avg_vjp(g: Any, kernel: Ints, stride: Ints, padding: Ints, ceil_mode: bool,
             include_pad: bool, divisor: int | None, x_shape: Ints) -> Any:  # fmt: skip
    return avg_pool2d_backward_op(g, kernel, stride, padding, ceil_mode, include_pad, divisor,
                                  x_shape)  # fmt: skip


def _avg_bwd_vjp(g: Any, kernel: Ints, stride: Ints, padding: Ints, ceil_mode: bool,
                 include_pad: bool, divisor: int | None, x_shape: Ints) -> Any:  # fmt: skip
    # Average pooling is linear: the transpose of its transpose is itself.
    return avg_pool2d_op(g, kernel, stride, padding, ceil_mode, include_pad, divisor, x_shape)


def _avg_pool_onnx(ox: Any, x: str, kernel: Ints, stride: Ints, padding: Ints, ceil_mode: bool,
                   include_pad: bool, divisor: int | None, x_shape: Ints) -> str:
    y = ox.op("AveragePool", x, kernel_shape=list(kernel), strides=list(stride),
              pads=[*padding, *padding], ceil_mode=int(ceil_mode),
              count_include_pad=int(include_pad or divisor is not None))
    if divisor is not None:  # divisor_override: the window's sum over that number
        y = ox.op("Mul", y, ox.const(math.prod(kernel) / divisor, ox.dtype(x)))
    return y


avg_pool2d_op = defop(
    "avg_pool2d",
    onnx=_avg_pool_onnx,
    grad_fn="AvgPool2DBackward0",
    forward=_avg_pool_fwd,
    shape=lambda x, kernel, stride, padding, ceil_mode, include_pad, divisor, x_shape: _pool_shape(
        x, kernel, stride, padding, (1, 1), ceil_mode),
    vjp=(_avg_vjp,),
    jvp=(_avg_bwd_vjp,),  # linear: the op itself, on the tangent
)
avg_pool2d_backward_op = defop(
    "avg_pool2d_backward",
    grad_fn="AvgPool2DBackwardBackward0",
    forward=_avg_pool_bwd,
    vjp=(_avg_bwd_vjp,),
    jvp=(_avg_vjp,),
)


# --- adaptive average pooling: separable, one averaging matrix per spatial dim ------------------
def _adaptive_matrix(n: int, m: int, dt: np.dtype) -> np.ndarray:
    o = np.arange(m)
    start = o * n // m
    end = -(-(o + 1) * n // m)
    i = np.arange(n)
    inside = (i >= start[:, None]) & (i < end[:, None])
    return (inside / (end - start)[:, None]).astype(dt)


def _adaptive_fwd(x: np.ndarray, output_size: Ints, x_shape: Ints) -> np.ndarray:
    ph = _adaptive_matrix(x.shape[-2], output_size[0], x.dtype)
    pw = _adaptive_matrix(x.shape[-1], output_size[1], x.dtype)
    return np.matmul(np.matmul(ph, x), pw.T)


def _adaptive_bwd(g: np.ndarray, output_size: Ints, x_shape: Ints) -> np.ndarray:
    ph = _adaptive_matrix(x_shape[-2], output_size[0], g.dtype)
    pw = _adaptive_matrix(x_shape[-1], output_size[1], g.dtype)
    return np.matmul(np.matmul(ph.T, g), pw)


def _adaptive_onnx(ox: Any, x: str, output_size: Ints, x_shape: Ints) -> str:
    if tuple(output_size) == (1, 1):
        return ox.op("ReduceMean", x, ox.ints([-2, -1]))
    (h, w), (oh, ow) = x_shape[-2:], output_size
    if h % oh or w % ow or len(x_shape) != 4:
        ox.fail(f"adaptive average pooling from {h}x{w} to {oh}x{ow}: ONNX's AveragePool "
                "needs sizes that divide evenly, on a batched (N, C, H, W) input")
    k = [h // oh, w // ow]
    return ox.op("AveragePool", x, kernel_shape=k, strides=k)


adaptive_avg_pool2d_op = defop(
    "adaptive_avg_pool2d",
    onnx=_adaptive_onnx,
    grad_fn="AdaptiveAvgPool2DBackward0",
    forward=_adaptive_fwd,
    shape=lambda x, output_size, x_shape: (*x[:-2], *output_size),
    vjp=(lambda g, output_size, x_shape: adaptive_avg_pool2d_backward_op(g, output_size, x_shape),),
    jvp=(lambda t, output_size, x_shape: adaptive_avg_pool2d_op(t, output_size, x_shape),),
)
adaptive_avg_pool2d_backward_op = defop(
    "adaptive_avg_pool2d_backward",
    grad_fn="AdaptiveAvgPool2DBackwardBackward0",
    forward=_adaptive_bwd,
    vjp=(lambda g, output_size, x_shape: adaptive_avg_pool2d_op(g, output_size, x_shape),),
    jvp=(lambda t, output_size, x_shape: adaptive_avg_pool2d_backward_op(t, output_size, x_shape),),
)


# --- constant padding ---------------------------------------------------------------------------
def _pad_fwd(x: np.ndarray, pad: Ints, value: Any) -> np.ndarray:
    # pad = (last dim before, last dim after, previous dim before, ...); negative pads crop.
    nd = len(pad) // 2
    lo = tuple(pad[2 * i] for i in reversed(range(nd)))
    hi = tuple(pad[2 * i + 1] for i in reversed(range(nd)))
    inner = x.shape[x.ndim - nd :]
    src = x[(..., *[slice(max(-a, 0), n - max(-b, 0)) for a, b, n in zip(lo, hi, inner)])]
    shape = x.shape[: x.ndim - nd] + tuple(n + a + b for n, a, b in zip(inner, lo, hi))
    out = np.full(shape, value, x.dtype)
    out[(..., *[slice(max(a, 0), max(a, 0) + m) for a, m in zip(lo, src.shape[x.ndim - nd :])])] = (
        src
    )
    return out


def _pad_shape(x: tuple[int, ...], pad: Ints, *rest: Any) -> tuple[int, ...]:
    # pad = (last dim before, last dim after, previous dim before, ...); negative pads crop.
    nd = len(pad) // 2
    if nd > len(x):
        raise ValueError(f"padding of {nd} dims for a {len(x)}-D input")
    lo = [pad[2 * i] for i in reversed(range(nd))]
    hi = [pad[2 * i + 1] for i in reversed(range(nd))]
    inner = [n + a + b for n, a, b in zip(x[len(x) - nd :], lo, hi)]
    if any(n < 0 for n in inner):
        raise ValueError("negative dimensions are not allowed")
    return (*x[: len(x) - nd], *inner)


def _pad_onnx(ox: Any, x: str, pad: Ints, value: Any, mode: str = "constant") -> str:
    # PyTorch's pad runs (before, after) from the last dim back; ONNX's lists all befores, then
    # all afters, from the first dim.
    r, nd = ox.rank(x), len(pad) // 2
    before, after = [0] * r, [0] * r
    for i in range(nd):
        before[r - 1 - i], after[r - 1 - i] = pad[2 * i], pad[2 * i + 1]
    fill = None if value is None else ox.const(value, ox.dtype(x))
    return ox.op("Pad", x, ox.ints(before + after), fill, mode=mode)


constant_pad_nd_op = defop(
    "constant_pad_nd",
    onnx=_pad_onnx,
    grad_fn="ConstantPadNdBackward0",
    forward=_pad_fwd,
    shape=_pad_shape,
    vjp=(lambda g, pad: constant_pad_nd_op(g, tuple(-p for p in pad), 0),),
    jvp=(lambda t, pad: constant_pad_nd_op(t, pad, 0),),  # the fill value is a constant
)


# --- reflect, replicate and circular padding: an index map per padded dim ---------------------
def _pad_maps(shape: Ints, pad: Ints, mode: str) -> list[np.ndarray]:
    # For each padded dim (outermost first), the input position each output position reads.
    nd = len(pad) // 2
    maps = []
    for i in reversed(range(nd)):
        n = shape[len(shape) - 1 - i]
        j = np.arange(-pad[2 * i], n + pad[2 * i + 1])
        if mode == "reflect":
            j = (n - 1) - np.abs((n - 1) - np.abs(j))
        elif mode == "replicate":
            j = np.clip(j, 0, n - 1)
        else:  # circular: negative pads crop first, then the cropped part wraps
            lo, hi = pad[2 * i], pad[2 * i + 1]
            c0 = max(-lo, 0)
            m = n - c0 - max(-hi, 0)
            j = np.arange(-max(lo, 0), m + max(hi, 0)) % max(m, 1) + c0
        maps.append(j)
    return maps


def _index_pad_fwd(x: np.ndarray, pad: Ints, mode: str) -> np.ndarray:
    return x[(..., *np.ix_(*_pad_maps(x.shape, pad, mode)))]


def _index_pad_bwd(g: np.ndarray, pad: Ints, mode: str, x_shape: Ints) -> np.ndarray:
    # The transpose: every output position's gradient added back where it was read from.
    maps = _pad_maps(x_shape, pad, mode)
    nd = len(maps)
    for k, j in enumerate(maps):
        ax = g.ndim - nd + k
        n = x_shape[ax]
        moved = np.moveaxis(g, ax, -1)
        rows = math.prod(moved.shape[:-1])
        flat = (np.arange(rows)[:, None] * n + j).ravel()
        summed = np.bincount(flat, weights=moved.reshape(-1), minlength=rows * n)
        g = np.moveaxis(summed.astype(g.dtype).reshape(moved.shape[:-1] + (n,)), -1, ax)
    return np.ascontiguousarray(g)


def _index_pad_vjp(g: Any, pad: Ints, mode: str, x_shape: Ints) -> Any:
    return index_pad_backward_op(g, pad, mode, x_shape)


def _index_pad_jvp(t: Any, pad: Ints, mode: str, x_shape: Ints) -> Any:
    # Index padding is linear: pad the tangent the same way.
    return _PAD_OPS[mode, len(pad) // 2](t, pad, mode, x_shape)


index_pad_backward_op = defop(
    "index_pad_backward", grad_fn="PadBackwardBackward0", forward=_index_pad_bwd,
    vjp=(lambda g, pad, mode: _PAD_OPS[mode, len(pad) // 2](g, pad, mode, tuple(g.shape)),),
    jvp=(lambda t, pad, mode, x_shape: index_pad_backward_op(t, pad, mode, x_shape),),
)  # fmt: skip
# PyTorch names the node after the mode and the number of padded dims; circular padding is
# built from slice copies there, hence CopySlices.
_PAD_OPS: dict[tuple[str, int], Any] = {}
_ONNX_PAD = {"reflect": "reflect", "replicate": "edge"}  # circular is "wrap" from opset 19 on
for _nd in (1, 2, 3):
    for _mode, _name in (("reflect", "reflection"), ("replicate", "replication")):
        _PAD_OPS[_mode, _nd] = defop(
            f"{_name}_pad{_nd}d", grad_fn=f"{_name.capitalize()}Pad{_nd}DBackward0",
            forward=lambda x, pad, mode, x_shape: _index_pad_fwd(x, pad, mode),
            vjp=(_index_pad_vjp,), jvp=(_index_pad_jvp,), shape=_pad_shape,
            onnx=lambda ox, x, pad, mode, x_shape: _pad_onnx(ox, x, pad, None, _ONNX_PAD[mode]),
        )  # fmt: skip
    _PAD_OPS["circular", _nd] = _PAD_OPS["circular", 1] if _nd > 1 else defop(
        "circular_pad", grad_fn="CopySlices",
        forward=lambda x, pad, mode, x_shape: _index_pad_fwd(x, pad, mode),
        vjp=(_index_pad_vjp,), jvp=(_index_pad_jvp,), shape=_pad_shape,
    )  # fmt: skip


# --- the public functions: arguments as PyTorch takes them, validated before anything runs -------
# dtype names as PyTorch's messages spell them: scalar type names and C++ type names.
_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                 "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                 "bool": "Bool"}  # fmt: skip
_CPP_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
              "int32": "int", "int16": "short int", "int8": "signed char",
              "uint8": "unsigned char", "bool": "bool"}  # fmt: skip


def _arr(t: Any) -> np.ndarray:
    return t._data


def _shape(t: Any) -> list[int]:
    return list(t.shape)


def _conv_tuple(v: Any, n: int, name: str) -> Ints:
    if type(v) is tuple and len(v) == n:  # the layers' own attributes: n Python ints already
        for a in v:
            if type(a) is not int:
                break
        else:
            return v
    vals = (int(v),) if isinstance(v, int | np.integer) else tuple(int(a) for a in v)
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {n} values to match the "
            f"convolution dimensions, but got {name}={list(vals)}"
        )
    return vals


def _check_tensor(fn: str, name: str, t: Any) -> None:
    if not hasattr(t, "_data"):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(t).__name__}")


def _conv_check(x: Any, w: Any, b: Any, stride: Ints, padding: Ints, dilation: Ints,
                transposed: bool, output_padding: Ints, groups: int) -> None:  # fmt: skip
    """PyTorch's checks of a convolution's arguments, in its order and with its messages."""
    nd = w.ndim - 2
    if min(stride) <= 0:
        raise RuntimeError("non-positive stride is not supported")
    if min(padding) < 0:
        raise RuntimeError("negative padding is not supported")
    if min(output_padding) < 0:
        raise RuntimeError("negative output_padding is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if x.ndim != w.ndim:
        raise RuntimeError(
            f"Expected {w.ndim}-dimensional input for {w.ndim}-dimensional weight {_shape(w)}, "
            f"but got {x.ndim}-dimensional input of size {_shape(x)} instead"
        )
    if w.shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_shape(w)}] instead"
        )
    xd, wd = _arr(x).dtype, _arr(w).dtype
    if xd != wd:
        raise RuntimeError(
            f"expected scalar type {_SCALAR_NAMES[xd.name]} but found {_SCALAR_NAMES[wd.name]}"
        )
    if b is not None and _arr(b).dtype != xd:
        raise RuntimeError(
            f"Input type ({_CPP_NAMES[xd.name]}) and bias type ({_CPP_NAMES[_arr(b).dtype.name]})"
            " should be the same"
        )
    if xd.kind == "b":
        raise NotImplementedError(f"\"slow_conv{nd}d_cpu\" not implemented for 'Bool'")
    sizes = tuple(x.shape[2:])
    k = tuple(w.shape[2:])
    if not transposed:
        if x.shape[1] != w.shape[1] * groups:
            raise RuntimeError(
                f"Given groups={groups}, weight of size {_shape(w)}, expected input{_shape(x)} to "
                f"have {w.shape[1] * groups} channels, but got {x.shape[1]} channels instead"
            )
        padded = [n + 2 * p for n, p in zip(sizes, padding)]
        eff = [d * (kk - 1) + 1 for kk, d in zip(k, dilation)]
        if not all(map(int.__ge__, padded, eff)):
            raise RuntimeError(
                f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
                f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
                "actual input size"
            )
        n_bias = w.shape[0]
        prefix = ""
    else:
        if x.shape[1] != w.shape[0]:
            raise RuntimeError(
                f"Given transposed=1, weight of size {_shape(w)}, expected input{_shape(x)} to "
                f"have {w.shape[0]} channels, but got {x.shape[1]} channels instead"
            )
        if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
            names = ("depth", "height", "width")[3 - max(nd, 2) :]
            vals = (
                (0,) * (2 - nd) + output_padding,
                (1,) * (2 - nd) + stride,
                (1,) * (2 - nd) + dilation,
            )
            parts = [
                f"{what}_{nm}: {v}"
                for what, vs in zip(("output_padding", "stride", "dilation"), vals)
                for nm, v in zip(names, vs)
            ]
            raise RuntimeError(
                "output padding must be smaller than either stride or dilation, but got "
                + " ".join(parts)
            )
        out = tuple(
            (n - 1) * s - 2 * p + d * (kk - 1) + 1 + op
            for n, s, p, d, kk, op in zip(sizes, stride, padding, dilation, k, output_padding)
        )
        if any(m < 1 for m in out):
            raise RuntimeError(
                f"Given input size per channel: ({' x '.join(map(str, sizes))}). Calculated "
                f"output size per channel: ({' x '.join(map(str, out))}). Output size is too small"
            )
        n_bias = w.shape[1] * groups
        prefix = "Given transposed=1, "
    if b is not None and (b.ndim != 1 or b.shape[0] != n_bias):
        raise RuntimeError(
            f"{prefix}{'Given w' if not prefix else 'w'}eight of size {_shape(w)}, expected bias "
            f"to be 1-dimensional with {n_bias} elements, but got bias of size {_shape(b)} "
            "instead"
        )


def convolution(input: Any, weight: Any, bias: Any, stride: Sequence[int], padding: Sequence[int],
                dilation: Sequence[int], transposed: bool, output_padding: Sequence[int],
                groups: int) -> Any:  # fmt: skip
    """N-d convolution or transposed convolution of a batch (`torch.convolution`).

    >>> import dygrad as torch
    >>> x, w = torch.ones(1, 1, 3, 3), torch.ones(2, 1, 2, 2)
    >>> torch.convolution(x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1).shape
    torch.Size([1, 2, 2, 2])
    """
    _check_tensor("convolution", "input", input)
    _check_tensor("convolution", "weight", weight)
    if bias is not None:
        _check_tensor("convolution", "bias", bias)
    if weight.ndim < 3:
        raise RuntimeError("weight should have at least three dimensions")
    nd = weight.ndim - 2
    s = _conv_tuple(stride, nd, "stride")
    p = _conv_tuple(padding, nd, "padding")
    d = _conv_tuple(dilation, nd, "dilation")
    op = _conv_tuple(output_padding, nd, "output_padding")
    groups = int(groups)
    transposed = bool(transposed)
    x, w = input._data, weight._data
    # The checks depend on shapes, dtypes and arguments only: a layer called again with the
    # same ones (every training step) passed them already.
    key = (x.shape, x.dtype, w.shape, w.dtype, None if bias is None else (bias.shape, bias.dtype),
           s, p, d, transposed, op, groups)  # fmt: skip
    if key not in _checked:
        _conv_check(input, weight, bias, s, p, d, transposed, op, groups)
        if len(_checked) >= 1024:
            _checked.clear()
        _checked.add(key)
    return convolution_op(input, weight, bias, s, p, d, transposed, op, groups)


_checked: set[tuple[Any, ...]] = set()  # argument signatures that passed _conv_check


def _ints(v: Any, n: int) -> Any:
    # A number means the same value in each of the function's n spatial dims (as F.conv2d's
    # _pair): a weight of another rank is then reported against n values.
    return (int(v),) * n if isinstance(v, int | np.integer) else v


def _unbatched(fn: str, x: Any, nd: int) -> bool:
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {fn}, but got input "
            f"of size: {_shape(x)}"
        )
    return x.ndim == nd + 1


def _conv_nd(fn: str, nd: int, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any,
             groups: int) -> Any:  # fmt: skip
    _check_tensor(fn, "input", x)
    _check_tensor(fn, "weight", w)
    unbatched = _unbatched(fn, x, nd)
    if unbatched:  # as PyTorch: a batch of one, then the batch dim squeezed away
        x = x.unsqueeze(0)
    stride, dilation = _ints(stride, nd), _ints(dilation, nd)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            x, padding = _same_padding(x, w, stride, dilation, nd)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    out = convolution(x, w, b, stride, _ints(padding, nd), dilation, False, (0,) * nd, groups)
    return out.squeeze(0) if unbatched else out


def _same_padding(x: Any, w: Any, stride: Any, dilation: Any, nd: int) -> tuple[Any, Ints]:
    # PyTorch's 'same': symmetric padding of half the dilated kernel; when that total is odd,
    # the extra element is padded explicitly on the far side first.
    if w.ndim < 3:
        raise RuntimeError("weight should have at least three dimensions")
    if any(s != 1 for s in _conv_tuple(stride, w.ndim - 2, "stride")):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    d = _conv_tuple(dilation, w.ndim - 2, "dilation")
    total = tuple(di * (k - 1) for di, k in zip(d, w.shape[2:]))
    lo = tuple(t // 2 for t in total)
    if any(t % 2 for t in total):
        pad: list[int] = []
        for t in reversed(total):
            pad += [0, t % 2]
        x = constant_pad_nd(x, pad, 0)
    return x, lo


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:  # fmt: skip
    """1-D convolution over (N, C, L) or unbatched (C, L) input (`torch.conv1d`).

    >>> import dygrad as torch
    >>> torch.conv1d(torch.ones(1, 2, 5), torch.ones(3, 2, 3), padding=1).shape
    torch.Size([1, 3, 5])
    """
    return _conv_nd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:  # fmt: skip
    """2-D convolution over (N, C, H, W) or unbatched (C, H, W) input (`torch.conv2d`).

    `padding` is an int, a pair, 'valid' or 'same'.

    >>> import dygrad as torch
    >>> x = torch.ones(4, 1, 28, 28)
    >>> w = torch.ones(3, 1, 3, 3, requires_grad=True)
    >>> y = torch.conv2d(x, w, stride=2, padding=1)
    >>> y.shape, y.grad_fn.name()
    (torch.Size([4, 3, 14, 14]), 'ConvolutionBackward0')
    >>> y[0, 0, :2, :2]
    tensor([[4., 6.],
            [6., 9.]], grad_fn=<SliceBackward0>)
    """
    return _conv_nd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:  # fmt: skip
    """3-D convolution over (N, C, D, H, W) or unbatched (C, D, H, W) input (`torch.conv3d`).

    >>> import dygrad as torch
    >>> torch.conv3d(torch.ones(1, 1, 4, 4, 4), torch.ones(2, 1, 3, 3, 3)).shape
    torch.Size([1, 2, 2, 2, 2])
    """
    return _conv_nd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose_nd(fn: str, nd: int, x: Any, w: Any, b: Any, stride: Any, padding: Any,
                       output_padding: Any, groups: int, dilation: Any) -> Any:  # fmt: skip
    _check_tensor(fn, "input", x)
    _check_tensor(fn, "weight", w)
    unbatched = _unbatched(fn, x, nd)
    if unbatched:
        x = x.unsqueeze(0)
    stride, padding, dilation = _ints(stride, nd), _ints(padding, nd), _ints(dilation, nd)
    output_padding = _ints(output_padding, nd)
    out = convolution(x, w, b, stride, padding, dilation, True, output_padding, groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:  # fmt: skip
    """1-D transposed convolution, the adjoint of conv1d (`torch.conv_transpose1d`).

    >>> import dygrad as torch
    >>> torch.conv_transpose1d(torch.ones(1, 2, 4), torch.ones(2, 3, 3), stride=2).shape
    torch.Size([1, 3, 9])
    """
    return _conv_transpose_nd(
        "conv_transpose1d",
        1,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:  # fmt: skip
    """2-D transposed convolution, the adjoint of conv2d (`torch.conv_transpose2d`); the weight
    is (in_channels, out_channels / groups, kH, kW).

    >>> import dygrad as torch
    >>> x = torch.ones(1, 2, 3, 3)
    >>> torch.conv_transpose2d(x, torch.ones(2, 4, 3, 3), stride=2, output_padding=1).shape
    torch.Size([1, 4, 8, 8])
    """
    return _conv_transpose_nd(
        "conv_transpose2d",
        2,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:  # fmt: skip
    """3-D transposed convolution, the adjoint of conv3d (`torch.conv_transpose3d`).

    >>> import dygrad as torch
    >>> torch.conv_transpose3d(torch.ones(1, 1, 2, 2, 2), torch.ones(1, 2, 2, 2, 2)).shape
    torch.Size([1, 2, 3, 3, 3])
    """
    return _conv_transpose_nd(
        "conv_transpose3d",
        3,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


# --- pooling ------------------------------------------------------------------------------------
def _pool_tuple(v: Any, fn: str, what: str, omitted: bool = False) -> Ints:
    vals = (int(v),) if isinstance(v, int | np.integer) else tuple(int(a) for a in v)
    if len(vals) == 1:
        return vals * 2
    if len(vals) != 2:
        verb = "be" if what == "dilation" else "either be"
        opt = "omitted, " if omitted else ""
        raise RuntimeError(f"{fn}: {what} must {verb} {opt}a single int, or a tuple of two ints")
    return vals


def _pool_check(fn: str, x: Any, k: Ints, s: Ints, p: Ints, d: Ints, ceil_mode: bool) -> None:
    """PyTorch's checks of a 2-D pooling's arguments, in its order and with its messages."""
    _check_tensor(fn, "input", x)
    if x.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    for kk, ss, pp, dd in zip(k, s, p, d):
        if ss == 0:
            raise RuntimeError("stride should not be zero")
        if pp < 0:
            raise RuntimeError(f"pad must be non-negative, but got pad: {pp}")
        if pp > ((kk - 1) * dd + 1) // 2:
            raise RuntimeError(
                f"pad should be at most half of effective kernel size, but got pad={pp}, "
                f"kernel_size={kk} and dilation={dd}"
            )
    if any(kk <= 0 for kk in k):
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}"
        )
    if any(ss <= 0 for ss in s):
        raise RuntimeError(f"stride should be greater than zero, but got dH: {s[0]} dW: {s[1]}")
    if any(dd <= 0 for dd in d):
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilationH: {d[0]} dilationW: {d[1]}"
        )
    shape = tuple(x.shape)
    if 0 in shape[-3:] or (x.ndim == 3 and shape[0] == 0):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
            f"got:{list(shape)}"
        )
    if any(pp > kk // 2 for pp, kk in zip(p, k)):
        raise RuntimeError(
            f"pad should be smaller than or equal to half of kernel size, but got padW = {p[1]}, "
            f"padH = {p[0]}, kW = {k[1]}, kH = {k[0]}"
        )
    o = tuple(pool_out_size(n, *a, ceil_mode) for n, a in zip(shape[-2:], zip(k, s, p, d)))
    if any(m < 1 for m in o):
        c, h, w = shape[-3:]
        raise RuntimeError(
            f"Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{o[0]}x{o[1]}). "
            "Output size is too small"
        )


def _max_pool2d_args(fn: str, input: Any, kernel_size: Any, stride: Any, padding: Any,
                     dilation: Any, ceil_mode: bool) -> tuple[Any, ...]:  # fmt: skip
    k = _pool_tuple(kernel_size, fn, "kernel_size")
    no_stride = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    s = k if no_stride else _pool_tuple(stride, fn, "stride", omitted=True)
    p = _pool_tuple(padding, fn, "padding")
    d = _pool_tuple(dilation, fn, "dilation")
    _pool_check(fn, input, k, s, p, d, ceil_mode)
    return k, s, p, d


def max_pool2d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = True) -> tuple[Any, Any]:  # fmt: skip
    """2-D max pooling and the flat (H * W) index of each maximum
    (`torch.nn.functional.max_pool2d_with_indices`).

    >>> import dygrad as torch
    >>> x = torch.arange(16.0).reshape(1, 4, 4)
    >>> torch.ops.conv.max_pool2d_with_indices(x, 2)
    (tensor([[[ 5.,  7.],
             [13., 15.]]]), tensor([[[ 5,  7],
             [13, 15]]]))
    """
    k, s, p, d = _max_pool2d_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    return max_pool2d_op(input, k, s, p, d, bool(ceil_mode), tuple(input.shape))


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # fmt: skip
    """2-D max pooling over (N, C, H, W) or (C, H, W) input (`torch.max_pool2d`); with
    `return_indices`, also the flat index of each maximum, as `F.max_pool2d` gives it.

    >>> import dygrad as torch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4).requires_grad_()
    >>> torch.max_pool2d(x, 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]], grad_fn=<MaxPool2DWithIndicesBackward0>)
    """
    out, idx = max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def _pool1d_args(fn: str, x: Any, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any) -> tuple[int, int, int, int]:  # fmt: skip
    _check_tensor(fn, "input", x)

    def one(v: Any, what: str) -> int:
        vals = (v,) if isinstance(v, int | np.integer) else tuple(v)
        if len(vals) != 1:
            raise RuntimeError(
                f"{fn}() {what} must be either be omitted, a single int, or a tuple of one int"
            )
        return int(vals[0])

    k = one(kernel_size, "kernel_size")
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else one(stride, "stride")
    )
    return k, s, one(padding, "padding"), one(dilation, "dilation")


def max_pool1d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = True) -> tuple[Any, Any]:  # fmt: skip
    """1-D max pooling and the index of each maximum (`torch.max_pool1d_with_indices`).

    >>> import dygrad as torch
    >>> torch.max_pool1d_with_indices(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    (tensor([[3., 2.]]), tensor([[1, 2]]))
    """
    k, s, p, d = _pool1d_args("max_pool1d", input, kernel_size, stride, padding, dilation)
    if input.ndim not in (2, 3) or 0 in tuple(input.shape)[-2:]:
        raise RuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_shape(input)}"
        )
    if k <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k}")
    if s <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(
            f"max_pool1d() padding should be at most half of kernel size, but got "
            f"padding={p} and kernel_size={k}"
        )
    if d <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    m = pool_out_size(input.shape[-1], k, s, p, d, bool(ceil_mode))
    if m <= 0:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {m}")
    x = input.unsqueeze(-2)  # as PyTorch: a 2-D pooling of height one, then squeezed
    out, idx = max_pool2d_op(x, (1, k), (1, s), (0, p), (1, d), bool(ceil_mode), tuple(x.shape))
    return out.squeeze(-2), idx.squeeze(-2)


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # fmt: skip
    """1-D max pooling over (N, C, L) or (C, L) input (`torch.max_pool1d`); with
    `return_indices`, also the index of each maximum.

    >>> import dygrad as torch
    >>> torch.max_pool1d(torch.tensor([[1.0, 3.0, 2.0, 0.0, 5.0]]), 2, ceil_mode=True)
    tensor([[3., 2., 5.]])
    """
    out, idx = max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Any:  # fmt: skip
    """2-D average pooling over (N, C, H, W) or (C, H, W) input
    (`torch.nn.functional.avg_pool2d`).

    >>> import dygrad as torch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> torch.ops.conv.avg_pool2d(x, 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    fn = "avg_pool2d"
    k = _pool_tuple(kernel_size, fn, "kernel_size")
    no_stride = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    s = k if no_stride else _pool_tuple(stride, fn, "stride", omitted=True)
    p = _pool_tuple(padding, fn, "padding")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    _pool_check(fn, input, k, s, p, (1, 1), ceil_mode)
    div = None if divisor_override is None else int(divisor_override)
    return avg_pool2d_op(
        input, k, s, p, bool(ceil_mode), bool(count_include_pad), div, tuple(input.shape)
    )


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Any:  # fmt: skip
    """1-D average pooling over (N, C, L) or (C, L) input (`torch.avg_pool1d`).

    >>> import dygrad as torch
    >>> torch.avg_pool1d(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    tensor([[2., 1.]])
    """
    k, s, p, _ = _pool1d_args("avg_pool1d", input, kernel_size, stride, padding, 1)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument #1 "
            "'self' (while checking arguments for avg_pool1d)"
        )
    out = avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad)
    return out.squeeze(-2)


def _adaptive_size(fn: str, x: Any, output_size: Any, n: int) -> Ints:
    _check_tensor(fn, "input", x)
    vals = (
        (output_size,) * n
        if output_size is None or isinstance(output_size, int | np.integer)
        else tuple(output_size)
    )
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n:
        raise RuntimeError(f"{fn}: output_size must be {n}")
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{fn}(): Expected {n + 1}D or {n + 2}D tensor, but got {_shape(x)}")
    for i in range(x.ndim - n, x.ndim):
        if x.shape[i] == 0:
            raise RuntimeError(
                f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {_shape(x)} with dimension {i} being empty"
            )
    sizes = tuple(int(x.shape[x.ndim - n + i]) if v is None else int(v) for i, v in enumerate(vals))
    if any(v < 0 for v in sizes):
        inner = ", ".join(map(str, sizes))
        raise RuntimeError(
            f"{fn}: elements of output_size must be greater than or equal to 0 "
            f"but received {{{inner}}}"
        )
    if _arr(x).dtype.kind != "f":
        raise NotImplementedError(
            f"\"{fn}\" not implemented for '{_SCALAR_NAMES[_arr(x).dtype.name]}'"
        )
    return sizes


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Any:
    """2-D average pooling to a given output size (`torch.nn.functional.adaptive_avg_pool2d`);
    None in `output_size` keeps that input size.

    >>> import dygrad as torch
    >>> x = torch.arange(9.0).reshape(1, 3, 3)
    >>> torch.ops.conv.adaptive_avg_pool2d(x, 2)
    tensor([[[2., 3.],
             [5., 6.]]])
    """
    o = _adaptive_size("adaptive_avg_pool2d", input, output_size, 2)
    if o == (1, 1):  # as PyTorch: a mean over the spatial dims
        return input.mean((-2, -1), keepdim=True)
    return adaptive_avg_pool2d_op(input, o, tuple(input.shape))


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Any:
    """1-D average pooling to a given output length (`torch.adaptive_avg_pool1d`).

    >>> import dygrad as torch
    >>> torch.adaptive_avg_pool1d(torch.tensor([[1.0, 3.0, 2.0, 0.0, 4.0]]), 2)
    tensor([[2., 2.]])
    """
    (o,) = _adaptive_size("adaptive_avg_pool1d", input, output_size, 1)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, o)).squeeze(-2)


# --- padding --------------------------------------------------------------------------------------
def constant_pad_nd(input: Any, pad: Sequence[int], value: float = 0) -> Any:
    """Pad the last len(pad) / 2 dims with a constant, last dim first; negative pads crop
    (`torch.constant_pad_nd`, `F.pad`'s constant mode).

    >>> import dygrad as torch
    >>> torch.constant_pad_nd(torch.ones(2, 2), [1, 0, 0, 1], 0.5)
    tensor([[0.5000, 1.0000, 1.0000],
            [0.5000, 1.0000, 1.0000],
            [0.5000, 0.5000, 0.5000]])
    """
    _check_tensor("constant_pad_nd", "input", input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}"
        )
    for i in range(len(pad) // 2):
        n = input.shape[input.ndim - 1 - i]
        if n + pad[2 * i] + pad[2 * i + 1] < 0 or n + min(pad[2 * i], 0) < 0:
            raise RuntimeError(
                f"The input size {n}, plus negative padding {pad[2 * i]} and {pad[2 * i + 1]} "
                f"resulted in a negative output size, which is invalid. Check dimension "
                f"{input.ndim - 1 - i} of your input."
            )
        if n + min(pad[2 * i], 0) + min(pad[2 * i + 1], 0) < 0:  # PyTorch crops before it pads
            raise RuntimeError("narrow(): length must be non-negative.")
    return constant_pad_nd_op(input, pad, value)


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Any:
    """Pad the last len(pad) / 2 dims, last dim first, with a constant or by reflecting,
    replicating or wrapping the border (`torch.nn.functional.pad`).

    >>> import dygrad as torch
    >>> x = torch.tensor([[[1.0, 2.0, 3.0]]])
    >>> torch.ops.conv.pad(x, (2, 1), mode="reflect"), torch.ops.conv.pad(x, (1, 1), "circular")
    (tensor([[[3., 2., 1., 2., 3., 2.]]]), tensor([[[3., 1., 2., 3., 1.]]]))
    """
    if mode == "constant":
        return constant_pad_nd(input, pad, 0 if value is None else value)
    _check_tensor("pad", "input", input)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    nd = len(pad) // 2
    if nd not in (1, 2, 3) or input.ndim not in (nd + 1, nd + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor."
        )
    shape = tuple(input.shape)
    for i in range(nd):
        dim = input.ndim - 1 - i
        lo, hi, n = pad[2 * i], pad[2 * i + 1], shape[dim]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding "
                f"input dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input "
                f"{list(shape)}"
            )
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if n + lo + hi < 0 or (mode != "reflect" and n == 0 and lo + hi > 0):
            raise RuntimeError(f"input tensor of size {list(shape)} cannot be padded by "
                               f"({lo}, {hi}) at dimension {dim}")  # fmt: skip
    return _PAD_OPS[mode, nd](input, pad, mode, shape)
