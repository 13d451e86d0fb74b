"""Checks dygrad._printing against PyTorch's own repr, character for character."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from dygrad._printing import format_tensor, get_printoptions, set_printoptions

torch = pytest.importorskip("torch")
torch_str = pytest.importorskip("torch._tensor_str")

NAN = float("nan")
INF = float("inf")

TORCH_DTYPES: dict[str, Any] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
NUMPY_DTYPES: dict[str, Any] = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}

_rng = np.random.default_rng(1234)


def _randn(*shape: int) -> np.ndarray:
    return _rng.standard_normal(shape)


# Ops that make a non-leaf while leaving the data untouched, with the grad_fn torch reports.
GRAD_OPS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "mul": (lambda t: t * 1, "MulBackward0"),
    "add": (lambda t: t + 0, "AddBackward0"),
}

# (id, data, dtype_name, grad): grad is None, "leaf", or a key of GRAD_OPS.
CASES: list[tuple[str, Any, str, str | None]] = [
    # 0-d
    ("0d-float32", 3.5, "float32", None),
    ("0d-float32-int-valued", 2.0, "float32", None),
    ("0d-float64-tiny", 1e-7, "float64", None),
    ("0d-int64", 7, "int64", None),
    ("0d-int8-negative", -5, "int8", None),
    ("0d-bool", True, "bool", None),
    ("0d-nan", NAN, "float32", None),
    ("0d-neg-zero", -0.0, "float32", None),
    ("0d-requires-grad", 1.25, "float32", "leaf"),
    ("0d-float64-grad-fn", 4.0, "float64", "mul"),
    # 1-d: notation and width choice
    ("1d-int-valued", [1.0, 2.0, 3.0], "float32", None),
    ("1d-fraction", [1.5, 2.25, -3.125], "float32", None),
    ("1d-rounding", [0.1, 0.123456789, 12.5], "float32", None),
    ("1d-float64", [1.0, 2.5, -3.75], "float64", None),
    ("1d-float16", [0.1, 1.0, 65504.0], "float16", None),
    ("1d-float16-int-valued", [1.0, -2.0], "float16", None),
    ("1d-sci-mixed-magnitudes", [1e-5, 1e5], "float32", None),
    ("1d-sci-small", [1e-5, 2e-5, 3.5e-5], "float32", None),
    ("1d-sci-huge-fraction", [1.5, 2.5e9], "float64", None),
    ("1d-sci-int-valued-ratio", [1.0, 2000.0], "float32", None),
    ("1d-sci-int-valued-huge", [1.0, 1e9], "float64", None),
    ("1d-int-valued-wide", [1.0, 999.0, -50.0], "float32", None),
    ("1d-nan-inf-int-valued", [1.0, NAN, INF, -INF], "float32", None),
    ("1d-nan-inf-fraction", [1.5, NAN, -INF, 100.25], "float32", None),
    ("1d-nan-inf-sci", [1e-6, NAN, INF], "float64", None),
    ("1d-all-nan", [NAN, NAN], "float32", None),
    ("1d-all-inf", [INF, -INF], "float32", None),
    ("1d-zeros-and-nan", [0.0, NAN, -0.0], "float32", None),
    ("1d-neg-zero", [-0.0, 0.0, 1.0], "float32", None),
    ("1d-neg-zero-fraction", [-0.0, 0.5], "float32", None),
    ("1d-zeros", [0.0, 0.0, 0.0], "float32", None),
    # 1-d: integer and bool dtypes
    ("1d-int64-widths", [1, -200, 30000], "int64", None),
    ("1d-int32", [1, 2, -3], "int32", None),
    ("1d-int16", [-32768, 0, 32767], "int16", None),
    ("1d-int8", [-128, 5, 127], "int8", None),
    ("1d-uint8", [0, 17, 255], "uint8", None),
    ("1d-bool", [True, False, True], "bool", None),
    ("1d-bool-all-true", [True, True], "bool", None),
    # 1-d: wrapping and summarization
    ("1d-wrap-float", np.arange(40) * 1.5, "float32", None),
    ("1d-wrap-int", np.arange(100), "int64", None),
    ("1d-wrap-float64-grad-fn", np.arange(30) / 7.0, "float64", "mul"),
    ("1d-summarized-float", np.arange(2000) * 0.5, "float32", None),
    ("1d-summarized-int", np.arange(1001), "int64", None),
    ("1d-summarized-sci-from-edges", np.r_[1e-6, np.ones(1500), 1e6], "float64", None),
    (
        "1d-long-line-suffix-wraps",
        [1.2345, 2.3456, 3.4567, 4.5678, 5.6789, 6.7891, 7.8912, 8.9123],
        "float64",
        "leaf",
    ),
    # 2-d
    ("2d-float", [[1.5, -2.0, 3.25], [4.0, 5.5, -6.75]], "float32", None),
    ("2d-int-valued", [[1.0, 2.0], [3.0, 40.0]], "float32", None),
    ("2d-int32", [[1, 2, 3], [40, 50, -60]], "int32", None),
    ("2d-bool", [[True, False], [False, True]], "bool", None),
    ("2d-randn", _randn(4, 5), "float32", None),
    ("2d-sci", _randn(3, 3) * 1e6, "float32", None),
    ("2d-wrapped-rows", _randn(3, 30), "float32", None),
    ("2d-summarized", _randn(100, 100), "float32", None),
    ("2d-summarized-rows-only", _randn(500, 3), "float32", None),
    ("2d-summarized-cols-only", np.arange(1200).reshape(2, 600), "int64", None),
    ("2d-requires-grad", [[1.0, 2.0], [3.0, 4.0]], "float32", "leaf"),
    ("2d-float64-requires-grad", [[1.0, 2.5], [3.0, 4.0]], "float64", "leaf"),
    ("2d-grad-fn-mul", _randn(3, 4), "float32", "mul"),
    ("2d-float64-grad-fn-add", _randn(2, 3), "float64", "add"),
    ("2d-float16-summarized-grad-fn", _randn(40, 40), "float16", "mul"),
    # 3-d and up
    ("3d-float", _randn(2, 2, 3), "float32", None),
    ("3d-int", np.arange(24).reshape(2, 3, 4), "int64", None),
    ("3d-summarized", _randn(20, 20, 20), "float32", None),
    ("3d-summarized-int8", np.arange(1100).reshape(11, 10, 10) % 100, "int8", None),
    ("3d-requires-grad", _randn(2, 3, 2), "float32", "leaf"),
    ("4d-float", _randn(2, 2, 2, 2), "float32", None),
    ("4d-uint8-dtype", np.arange(16).reshape(2, 2, 2, 2), "uint8", None),
    ("4d-grad-fn-float64", _randn(2, 1, 2, 3), "float64", "mul"),
    ("5d-float", _randn(2, 1, 2, 1, 2), "float32", None),
    ("5d-summarized", _randn(4, 4, 4, 4, 4), "float32", None),
    # empty
    ("empty-float32", np.zeros((0,)), "float32", None),
    ("empty-float64", np.zeros((0,)), "float64", None),
    ("empty-int64", np.zeros((0,)), "int64", None),
    ("empty-bool", np.zeros((0,)), "bool", None),
    ("empty-0x3", np.zeros((0, 3)), "float32", None),
    ("empty-0x3-float64", np.zeros((0, 3)), "float64", None),
    ("empty-2x0x4-int32", np.zeros((2, 0, 4)), "int32", None),
    ("empty-requires-grad", np.zeros((0,)), "float32", "leaf"),
    ("empty-0x3-float16-grad-fn", np.zeros((0, 3)), "float16", "mul"),
]


def _torch_repr(arr: np.ndarray, dtype_name: str, grad: str | None) -> str:
    t = torch.tensor(arr, dtype=TORCH_DTYPES[dtype_name], requires_grad=grad is not None)
    if grad in GRAD_OPS:
        op, name = GRAD_OPS[grad]
        t = op(t)
        assert type(t.grad_fn).__name__ == name
    return repr(t)


def _dygrad_repr(arr: np.ndarray, dtype_name: str, grad: str | None, **kw: Any) -> str:
    grad_fn_name = GRAD_OPS[grad][1] if grad in GRAD_OPS else None
    return format_tensor(
        arr, dtype_name, requires_grad=grad == "leaf", grad_fn_name=grad_fn_name, **kw
    )


def _as_array(data: Any, dtype_name: str) -> np.ndarray:
    return np.asarray(data).astype(NUMPY_DTYPES[dtype_name])


@pytest.fixture(autouse=True)
def _restore_print_options() -> Iterator[None]:
    yield
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize(
    ("data", "dtype_name", "grad"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matches_torch(data: Any, dtype_name: str, grad: str | None) -> None:
    arr = _as_array(data, dtype_name)
    expected = _torch_repr(arr, dtype_name, grad)
    assert _dygrad_repr(arr, dtype_name, grad) == expected


def test_str_equals_repr_in_torch() -> None:
    # format_tensor serves both str() and repr(); that is only right while torch agrees.
    t = torch.tensor(_as_array(_randn(3, 3), "float64"), requires_grad=True) * 1
    assert str(t) == repr(t)


def test_default_dtype_float64() -> None:
    torch.set_default_dtype(torch.float64)
    for data, dtype_name in [([1.5, 2.0], "float64"), ([1.5, 2.0], "float32"), ([], "float64")]:
        arr = _as_array(data, dtype_name)
        expected = repr(torch.tensor(arr, dtype=TORCH_DTYPES[dtype_name]))
        got = format_tensor(arr, dtype_name, default_dtype_name="float64")
        assert got == expected


OPTION_CASES: list[tuple[str, dict[str, Any], Any, str, str | None]] = [
    ("precision-2", {"precision": 2}, [1.23456, -7.891, 100.5], "float32", None),
    ("precision-2-sci", {"precision": 2}, [1e-6, 3.0], "float64", None),
    ("precision-0", {"precision": 0}, [1.5, 2.25], "float32", None),
    ("precision-8", {"precision": 8}, [0.1, 1 / 3], "float64", None),
    ("sci-off", {"sci_mode": False}, [1e-5, 1e5], "float32", None),
    ("sci-off-int-valued", {"sci_mode": False}, [1.0, 1e9], "float64", None),
    ("sci-on", {"sci_mode": True}, [1.5, 2.5], "float32", None),
    ("sci-on-int-valued", {"sci_mode": True}, [[1.0, 2.0], [3.0, 4.0]], "float32", "leaf"),
    ("sci-on-all-zero", {"sci_mode": True}, [0.0, -0.0], "float32", None),
    ("profile-full-1d", {"profile": "full"}, np.arange(2000) * 0.25, "float32", None),
    ("profile-full-2d", {"profile": "full"}, np.arange(1200).reshape(40, 30), "int64", None),
    ("profile-short", {"profile": "short"}, _randn(30, 40), "float32", None),
    (
        "profile-full-with-precision",
        {"profile": "full", "precision": 2},
        _randn(1100),
        "float64",
        "mul",
    ),
    ("linewidth-40", {"linewidth": 40}, _randn(3, 12), "float64", "leaf"),
    ("linewidth-tiny", {"linewidth": 5}, [1.5, 2.5, 3.5], "float32", None),
    ("threshold-5-edgeitems-1", {"threshold": 5, "edgeitems": 1}, _randn(4, 4, 4), "float32", None),
    ("edgeitems-0-summarized", {"threshold": 5, "edgeitems": 0}, _randn(4, 4), "float32", None),
    ("edgeitems-0-summarized-1d", {"threshold": 5, "edgeitems": 0}, _randn(10), "float32", None),
    ("edgeitems-0-small", {"edgeitems": 0}, [1, 2, 3], "int32", None),
]


@pytest.mark.parametrize(
    ("options", "data", "dtype_name", "grad"),
    [c[1:] for c in OPTION_CASES],
    ids=[c[0] for c in OPTION_CASES],
)
def test_printoptions_match_torch(
    options: dict[str, Any], data: Any, dtype_name: str, grad: str | None
) -> None:
    set_printoptions(**options)
    torch.set_printoptions(**options)
    assert get_printoptions() == torch_str.get_printoptions()
    arr = _as_array(data, dtype_name)
    expected = _torch_repr(arr, dtype_name, grad)
    assert _dygrad_repr(arr, dtype_name, grad) == expected


def test_printoptions_roundtrip_and_reset() -> None:
    assert get_printoptions() == torch_str.get_printoptions()
    set_printoptions(precision=3, threshold=10, edgeitems=1, linewidth=60, sci_mode=True)
    opts = get_printoptions()
    assert opts == {
        "precision": 3,
        "threshold": 10,
        "edgeitems": 1,
        "linewidth": 60,
        "sci_mode": True,
    }
    # Omitting sci_mode resets it, as in torch.
    set_printoptions(precision=5)
    assert get_printoptions()["sci_mode"] is None
    set_printoptions(**opts)
    assert get_printoptions() == opts
    set_printoptions(profile="default")
    assert get_printoptions() == {
        "precision": 4,
        "threshold": 1000,
        "edgeitems": 3,
        "linewidth": 80,
        "sci_mode": None,
    }


def _fuzz_array(rng: np.random.Generator, dtype_name: str) -> np.ndarray:
    shape = tuple(int(s) for s in rng.integers(0, 7, size=int(rng.integers(0, 4))))
    size = int(np.prod(shape))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        a = rng.standard_normal(size) * 10.0 ** float(rng.integers(-3, 4))
    elif kind == 1:
        a = rng.integers(-1000, 1000, size).astype(float)
    elif kind == 2:
        a = rng.standard_normal(size) * 10.0 ** rng.integers(-8, 10, size)
    else:
        a = rng.choice([0.0, -0.0, NAN, INF, -INF, 1.0, 2.5, 1e-5, 1e9], size)
    if dtype_name not in ("float32", "float64", "float16"):
        a = np.clip(np.round(np.nan_to_num(a, nan=0.0, posinf=9.0, neginf=-9.0)), -100, 100)
        if dtype_name == "uint8":
            a = np.abs(a)
    with np.errstate(all="ignore"):
        return a.reshape(shape).astype(NUMPY_DTYPES[dtype_name])


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_matches_torch(seed: int) -> None:
    # Random shapes, magnitudes, specials and options, to catch what the hand-picked cases miss.
    rng = np.random.default_rng(seed)
    for _ in range(100):
        dtype_name = str(rng.choice(list(TORCH_DTYPES)))
        arr = _fuzz_array(rng, dtype_name)
        grad = None
        if dtype_name.startswith("float"):
            grad = [None, "leaf", "mul"][int(rng.integers(0, 3))]
        options: dict[str, Any] = {"profile": "default"}
        if rng.random() < 0.4:
            options = {
                "precision": int(rng.integers(0, 8)),
                "threshold": int(rng.integers(1, 100)),
                "edgeitems": int(rng.integers(0, 4)),
                "linewidth": int(rng.integers(10, 120)),
                "sci_mode": [None, True, False][int(rng.integers(0, 3))],
            }
        set_printoptions(**options)
        torch.set_printoptions(**options)
        assert _dygrad_repr(arr, dtype_name, grad) == _torch_repr(arr, dtype_name, grad), (
            options,
            arr,
        )


def test_unknown_dtype_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported dtype"):
        format_tensor(np.zeros(2), "complex64")
