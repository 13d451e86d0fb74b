"""The array namespace every op computes with (NumPy), the random generator, and array helpers
where NumPy's own call is slow: the reduction of a broadcast gradient back to an input's shape,
an elementwise select (np.where) that does not branch per element, the maximum or minimum and
the sum over a short last axis, and the optimizers' fused update (BLAS axpy)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

xp = np

_rng = [np.random.default_rng()]


def _settle_heap() -> None:
    """Allocate and free one untouched 2 MiB block, once at import.

    glibc's malloc serves blocks above its mmap threshold (128 KiB at start) with fresh pages from
    the kernel, and gives free memory at the top of its heap back beyond a trim threshold. Both
    rise when a block it mapped is freed: the mmap threshold to that block's size (up to 32 MiB),
    the trim threshold to twice that (mallopt(3), "dynamic mmap threshold"). Until then a
    training step on 128x512 float32 activations (256 KiB each) takes every temporary's pages
    from the kernel again: four elementwise ops took 224 page faults and 410 us here, none and
    51 us after this. Importing PyTorch leaves the threshold near 1 MiB (blocks of 512 KiB come
    from the heap, of 1 MiB from mmap); dygrad's ops make more temporaries than PyTorch's fused
    kernels (gelu forward+backward on 128x512: 1231 us with a 1 MiB block, 483 with 2 MiB), and
    a higher threshold keeps more freed memory resident: ten blocks with nine freed hold 20 MiB
    for 2 MiB blocks (2 MiB with PyTorch's threshold) and would hold 160 MiB for 16 MiB blocks
    with a 31 MiB one (16 now). Larger blocks keep glibc's own rule: the first one freed raises
    the thresholds further. Nothing changes where glibc is not the
    allocator, or where MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ fix the thresholds.
    """
    block = np.empty((2 << 20) // 8, np.float64)  # the pages are never touched
    del block


_settle_heap()


# y += alpha * x, the optimizers' update (`p.add_(g, alpha=-lr)`), in one pass through the BLAS
# that NumPy's wheel bundles: NumPy has no fused multiply-add, and `y += x * alpha` writes and
# reads back a temporary the size of the parameter. OpenBLAS's axpy rounds once (a fused
# multiply-add), as PyTorch's add_ with alpha does, except in the last n mod 32 elements of each
# BLAS thread's share, which it rounds twice as NumPy does: with one BLAS thread all but those
# few elements are PyTorch's bit for bit (NumPy's two roundings differ in ~2%), and the last
# bits of those few depend on the BLAS thread count (as PyTorch's CPU sums depend on its own).
# Reached through ctypes (the standard library); where the wheel has no OpenBLAS (a NumPy
# built against another BLAS), nothing is found and the callers keep NumPy's way.
_AXPY_MIN = 1 << 15  # elements: below, the ctypes call (~2.3 us) costs more than the temporary
_AXPY_SYMBOLS = ("scipy_cblas_{}axpy64_", "scipy_cblas_{}axpy", "cblas_{}axpy")


@functools.cache
def _axpy_kernels() -> dict[np.dtype, Any]:
    import ctypes
    import glob
    import os

    here = os.path.dirname(np.__file__)
    found = glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas*"))
    found += glob.glob(os.path.join(here, ".dylibs", "*openblas*"))
    for path in found:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pattern in _AXPY_SYMBOLS:
            try:
                fns = {
                    np.dtype(np.float32): getattr(lib, pattern.format("s")),
                    np.dtype(np.float64): getattr(lib, pattern.format("d")),
                }
            except AttributeError:
                continue
            for dt, fn in fns.items():
                real = ctypes.c_float if dt == np.float32 else ctypes.c_double
                # Sizes and strides as 64-bit integers: right for the ILP64 interface (the "64_"
                # names), and for LP64 too, whose callee reads the low 32 bits of the register
                # (axpy() passes no size of 2**31 or more).
                i64 = ctypes.c_int64
                fn.argtypes = [i64, real, ctypes.c_void_p, i64, ctypes.c_void_p, i64]
                fn.restype = None
            return fns
    return {}


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> bool:
    """`y += alpha * x` in place, in one pass, through BLAS: True when done. False, with nothing
    written, where it does not apply: no BLAS found, fewer than 2**15 elements, shapes or
    dtypes (float32, float64) that differ, either array not C-contiguous, `y` read-only, memory
    shared other than `x` being `y` itself, or an alpha that is 0 in the dtype (BLAS then skips
    the pass, where y + 0 * x must still turn y into NaN where x is NaN or infinite)."""
    n = x.size
    if n < _AXPY_MIN or n >= 1 << 31 or x.dtype is not y.dtype or x.shape != y.shape:
        return False
    if alpha == 0 or (abs(alpha) < 1e-44 and y.dtype == np.float32 and np.float32(alpha) == 0):
        return False
    fn = _axpy_kernels().get(y.dtype)
    if fn is None or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable):
        return False
    px = x.ctypes.data
    py = y.ctypes.data
    if px != py and np.may_share_memory(x, y):
        return False
    fn(n, alpha, px, 1, py, 1)
    return True


def generator() -> np.random.Generator:
    """The process-wide random generator behind `rand`, `randn`, dropout and init."""
    return _rng[0]


def manual_seed(seed: int) -> None:
    """Reseed dygrad's random generator (`torch.manual_seed`); the same seed gives the same draws.

    >>> manual_seed(0); a = generator().random(); manual_seed(0); a == generator().random()
    True
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
    _rng[0] = np.random.default_rng(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def sum_to_shape(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `g` over the axes along which an input of `shape` was broadcast.

    >>> sum_to_shape(np.ones((2, 3)), (3,)).tolist()
    [2.0, 2.0, 2.0]
    >>> sum_to_shape(np.ones((2, 3)), (2, 1)).tolist()
    [[3.0], [3.0]]
    """
    if g.shape == shape:
        return g
    # Leading axes summed away, then size-1 axes kept: the result is a fresh array, not a view
    # (a leaf may then keep it as its .grad without a copy).
    lead = g.ndim - len(shape)
    if (lead == 1 and g.ndim == 2 and shape[0] == g.shape[1] and g.shape[0] <= _GEMV_ROWS
            and g.dtype in _GEMV_DTYPES):  # fmt: skip
        # A bias's gradient, (rows, n) -> (n,): a vector-matrix product by ones is one BLAS
        # call, 3x NumPy's strided column sums at (100, 16) and 2x at (128, 512).
        return _ones(g.shape[0], g.dtype).dot(g)  # dot: matmul's bits, without its dispatch
    if lead:
        g = g.sum(axis=tuple(range(lead)))
        if type(g) is not np.ndarray:
            g = np.asarray(g)  # all axes summed: a NumPy scalar
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


# Column sums by a product with ones up to this many rows: BLAS accumulates each column in
# order, while NumPy's sum is pairwise; over a few thousand terms the two agree to float32's
# rounding, beyond that the pairwise sum is kept.
_GEMV_ROWS = 2048
_GEMV_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=64)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    v = np.ones(n, dtype)
    v.flags.writeable = False
    return v


def branchless_where(cond: Any, x: Any, y: Any) -> np.ndarray:
    """`np.where(cond, x, y)`, bit for bit, without NumPy's branch per element on large arrays.

    NumPy's where loop branches on each condition value: with a condition like `x > 0` over
    activations (no pattern to predict) it costs about 3.5 ns an element here, 230 us on
    128x512 float32, where selecting through integer bit masks takes 27 us. Arrays under
    `_SELECT_MIN` elements, and dtypes other than real numbers of 2, 4 or 8 bytes, go to
    np.where.

    >>> branchless_where(np.array([True, False]), np.array([1.0, 2.0]), 0.0).tolist()
    [1.0, 0.0]
    """
    dt = np.result_type(x, y)
    shape = np.broadcast_shapes(np.shape(cond), np.shape(x), np.shape(y))
    it = _UINT.get(dt.itemsize)
    if it is None or dt.kind not in "fiu" or math.prod(shape) < _SELECT_MIN:
        return np.where(cond, x, y)
    c = np.asarray(cond)
    if c.dtype != np.bool_:
        c = c != 0  # np.where's truth: nonzero (NaN included)
    try:
        xa, ya = np.asarray(x, dt), np.asarray(y, dt)
    except OverflowError:  # a Python int outside dt: np.where's own conversion (it wraps)
        return np.where(cond, x, y)
    m = np.empty(shape, it)  # C order, as np.where's result
    np.copyto(m, c, casting="unsafe")  # 0 or 1
    np.negative(m, out=m)  # 0 or all ones
    r = np.bitwise_and(np.broadcast_to(xa, shape).view(it), m, order="C")
    np.invert(m, out=m)
    np.bitwise_and(np.broadcast_to(ya, shape).view(it), m, out=m)
    np.bitwise_or(r, m, out=r)
    return r.view(dt)


_SELECT_MIN = 4096
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def extreme(x: np.ndarray, axis: Any, keepdims: bool, which: np.ufunc) -> np.ndarray:
    """`which.reduce(x, axis, keepdims=keepdims)` for `which` np.maximum or np.minimum.

    NumPy reduces along a C-contiguous array's last axis one row at a time, about 30 ns a row
    whatever its length: the maximum over 10 classes of 1024 rows takes 39 us, where the same
    numbers as columns (a transposed copy) reduce elementwise in 3.7. A short last axis of many
    rows goes that way. The values are NumPy's (a maximum does not depend on the order), NaN
    included; where -0.0 and +0.0 tie, the zero's sign can differ, as it does between NumPy's
    reductions and PyTorch's.

    >>> extreme(np.array([[1.0, 3.0], [4.0, 2.0]] * 40), -1, False, np.maximum)[:2].tolist()
    [3.0, 4.0]
    """
    shape = x.shape
    nd = len(shape)
    if nd >= 2 and (axis == -1 or axis == nd - 1 or axis == (nd - 1,) or axis == (-1,)):
        n = shape[-1]
        rows = x.size // n if n else 0
        if 2 <= n <= _SHORT_AXIS and rows >= _MANY_ROWS and x.flags.c_contiguous:
            r = which.reduce(x.reshape(rows, n).T.copy(), axis=0)
            return r.reshape(shape[:-1] + (1,) if keepdims else shape[:-1])
    return which.reduce(x, axis=axis, keepdims=keepdims)


# Measured (float32): the transposed copy wins from 64 rows for last axes up to 64 long.
_SHORT_AXIS = 64
_MANY_ROWS = 64


def sum_last(x: np.ndarray, k: int = 1) -> np.ndarray:
    """The sum over `x`'s last `k` axes, kept as size-1 axes: `x.sum(axis=(-k, ..., -1),
    keepdims=True)`, to float rounding.

    NumPy reduces a last axis row by row, BLAS a matrix-vector product in one call. float32 and
    float64 rows (C-contiguous) of up to 128 elements are one product with ones; longer rows
    that are whole blocks of 128 are summed by blocks that way and the blocks then by NumPy's
    pairwise sum, which keeps NumPy's accuracy (the mean error over random rows with offsets:
    0.93-1.01x NumPy's; one product over a whole 512-2,048-element row was 2-3x less accurate,
    BLAS keeping fewer running sums). 128x512 float32: 10.7 -> 5.9 us, (128, 2048) 37.9 -> 16.1,
    (1024, 10) 15.9 -> 2.5. Other rows take NumPy's sum. Softmax, log_softmax and layer_norm
    use it for their intermediate sums; user-facing sums keep NumPy's.

    >>> sum_last(np.ones((2, 3, 4), np.float32), 2).reshape(-1).tolist()
    [12.0, 12.0]
    """
    shape = x.shape
    nd = len(shape)
    if 1 <= k <= nd and x.dtype in _GEMV_DTYPES and x.flags.c_contiguous:
        n = math.prod(shape[nd - k :])
        kept = shape[: nd - k] + (1,) * k
        if 0 < n <= _BLOCK:
            return x.reshape(-1, n).dot(_ones(n, x.dtype)).reshape(kept)
        if n % _BLOCK == 0 and x.size:
            blocks = x.reshape(-1, _BLOCK).dot(_ones(_BLOCK, x.dtype)).reshape(-1, n // _BLOCK)
            return blocks.sum(axis=-1).reshape(kept)
    return np.asarray(x.sum(axis=tuple(range(nd - k, nd)), keepdims=True))


def mean(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """`x.mean(axis, keepdims=keepdims, dtype=x.dtype)` as an array, the same bits: NumPy's
    sum in x's dtype, divided by the count as NumPy divides it (an intp: the quotient is worked
    out in float64 and rounded back to x's dtype, which a float16 quotient would not match).

    `ndarray.mean` runs a dozen Python-level calls of NumPy's own around that sum and division;
    after a large matrix product has evicted them from the caches they cost more than the work:
    the mean of a (128, 1) float32 array inside W3's step 18.5 -> 4.2 us (4.9 -> 2.0 warm).
    Empty reductions take NumPy's way (its warning and NaN).

    >>> mean(np.array([[1.0, 2.0], [3.0, 5.0]]), 0).tolist()
    [2.0, 3.5]
    """
    if axis is None:
        count = x.size
    else:
        count = 1
        for a in axis if type(axis) is tuple else (axis,):
            count *= x.shape[a]
    if count:
        s = np.add.reduce(x, axis, x.dtype, None, keepdims)
        if type(s) is np.ndarray:
            return np.true_divide(s, np.intp(count), out=s, casting="unsafe")
        return np.asarray(s / np.intp(count), x.dtype)  # (a NumPy scalar: all axes reduced)
    return np.asarray(x.mean(axis=axis, keepdims=keepdims, dtype=x.dtype))


# sum_last's BLAS block: as long as NumPy's own unrolled block of its pairwise sum.
_BLOCK = 128
