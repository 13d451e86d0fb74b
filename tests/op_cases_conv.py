"""Op-table rows for convolution, pooling and padding (dygrad/ops/conv.py); op_cases.py adds them
to its table, so they are checked against PyTorch and finite differences like every other op."""

from __future__ import annotations

import warnings
from typing import Any

# Placeholders first: op_cases reads them if this module is imported before it (see the end).
CASES: list[Case] = []
HELPERS: dict[str, tuple[str, ...]] = {}

import op_cases as _table  # noqa: E402
from op_cases import C, Case, F, K  # noqa: E402


def _F(m: Any) -> Any:
    return m.nn.functional


def _grad_of(m: Any, y: Any, x: Any, g: Any) -> Any:
    # The first gradient, recorded: its own gradients are the op's second-order rules.
    return m.autograd.grad(y, x, g, create_graph=True)[0]


def _wrt(x: Any) -> Any:
    # The forward-mode checks pass inputs that don't require grad: the gradient needs it.
    return x if x.requires_grad else x.requires_grad_(True)


def conv_dx(m: Any, x: Any, w: Any, g: Any) -> Any:
    return _grad_of(m, _F(m).conv2d(_wrt(x), w, stride=2, padding=1), x, g)


def conv_dw(m: Any, x: Any, w: Any, g: Any) -> Any:
    return _grad_of(m, _F(m).conv2d(x, _wrt(w), stride=(1, 2), dilation=(2, 1)), w, g)


def max_pool_dx(m: Any, x: Any, g: Any) -> Any:
    return _grad_of(m, _F(m).max_pool2d(_wrt(x), 3, stride=2, padding=1), x, g)


def avg_pool_dx(m: Any, x: Any, g: Any) -> Any:
    return _grad_of(m, _F(m).avg_pool2d(_wrt(x), 3, stride=2, padding=1, ceil_mode=True), x, g)


def adaptive_dx(m: Any, x: Any, g: Any) -> Any:
    return _grad_of(m, _F(m).adaptive_avg_pool2d(_wrt(x), (2, 3)), x, g)


def same_even(m: Any, x: Any, w: Any) -> Any:
    with warnings.catch_warnings():  # PyTorch warns that it pads a copy of the input
        warnings.simplefilter("ignore")
        return _F(m).conv2d(x, w, padding="same", dilation=(1, 3))


CV = ("convolution",)
MP = ("max_pool2d",)
AP = ("avg_pool2d",)
AA = ("adaptive_avg_pool2d",)
PAD = ("constant_pad_nd",)
# PyTorch records one node (ConvolutionBackwardBackward0) for both first-order gradients of a
# convolution; dygrad's input gradient is itself a transposed convolution.
DX = {"grad_fn": "dygrad names the input gradient's node ConvolutionBackward0"}
T = 20.0  # float32 sums of many products: PyTorch's summation order differs

# fmt: off
CASES = [
    # conv2d: bias, stride, padding, dilation, groups, 'same'/'valid', unbatched, empty batch
    C("conv2d", CV, lambda m, x, w, b: _F(m).conv2d(x, w, b), F(2, 3, 5, 5), F(4, 3, 3, 3), F(4),
      tol=T),
    C("conv2d-stride-pad", CV, lambda m, x, w: _F(m).conv2d(x, w, stride=2, padding=1),
      F(1, 2, 6, 7), F(3, 2, 3, 2), tol=T),
    C("conv2d-uncovered", CV, lambda m, x, w, b: m.conv2d(x, w, b, 3), F(1, 1, 7, 8),
      F(2, 1, 2, 2), F(2), tol=T),
    C("conv2d-dilation", CV, lambda m, x, w: _F(m).conv2d(x, w, None, (2, 1), (0, 2), (2, 1)),
      F(2, 2, 7, 5), F(2, 2, 2, 3), tol=T),
    C("conv2d-groups", CV, lambda m, x, w, b: _F(m).conv2d(x, w, b, groups=2, padding=(1, 0)),
      F(2, 4, 4, 5), F(6, 2, 3, 3), F(6), tol=T),
    C("conv2d-depthwise", CV, lambda m, x, w: _F(m).conv2d(x, w, groups=3, stride=2),
      F(1, 3, 6, 6), F(3, 1, 3, 3), tol=T),
    C("conv2d-same", CV, lambda m, x, w: _F(m).conv2d(x, w, padding="same"), F(1, 2, 5, 5),
      F(2, 2, 3, 3), tol=T),
    C("conv2d-same-even", CV + PAD, same_even, F(1, 2, 4, 7), F(2, 2, 2, 2), tol=T),
    C("conv2d-valid", CV, lambda m, x, w: _F(m).conv2d(x, w, padding="valid"), F(1, 1, 4, 5),
      F(2, 1, 2, 3), tol=T),
    C("conv2d-unbatched", CV, lambda m, x, w, b: _F(m).conv2d(x, w, b, padding=1),
      F(2, 4, 4), F(3, 2, 3, 3), F(3), tol=T),
    C("conv2d-empty-batch", CV, lambda m, x, w, b: _F(m).conv2d(x, w, b), F(0, 2, 4, 4),
      F(3, 2, 3, 3), F(3)),
    C("conv2d-const-weight", CV, lambda m, x, w: _F(m).conv2d(x, w), F(1, 2, 4, 4),
      K(3, 2, 2, 2), tol=T),
    C("conv2d-const-input", CV, lambda m, x, w: _F(m).conv2d(x, w, padding=1), K(2, 2, 4, 4),
      F(3, 2, 2, 2), tol=T),
    # conv1d, conv3d
    C("conv1d", CV, lambda m, x, w, b: _F(m).conv1d(x, w, b, stride=2, padding=1), F(2, 3, 7),
      F(4, 3, 3), F(4), tol=T),
    C("conv1d-groups-dilation", CV, lambda m, x, w: m.conv1d(x, w, None, 1, 2, 2, 2), F(1, 4, 6),
      F(4, 2, 3), tol=T),
    C("conv1d-same", CV + PAD, lambda m, x, w: _F(m).conv1d(x, w, padding="same"), F(1, 2, 6),
      F(3, 2, 4), tol=T),
    C("conv1d-unbatched", CV, lambda m, x, w: m.conv1d(x, w), F(2, 6), F(3, 2, 3), tol=T),
    C("conv3d", CV, lambda m, x, w, b: _F(m).conv3d(x, w, b, stride=(1, 2, 1), padding=(0, 1, 1)),
      F(1, 2, 3, 4, 3), F(2, 2, 2, 2, 2), F(2), tol=T),
    # transposed convolutions
    C("conv-transpose2d", CV, lambda m, x, w, b: _F(m).conv_transpose2d(x, w, b, 2, 1, 1),
      F(1, 2, 3, 3), F(2, 3, 3, 3), F(3), tol=T),
    C("conv-transpose2d-groups", CV, lambda m, x, w: _F(m).conv_transpose2d(x, w, groups=2,
      dilation=2, stride=(1, 2)), F(2, 4, 3, 2), F(4, 1, 2, 2), tol=T),
    C("conv-transpose2d-outpad-dilation", CV, lambda m, x, w: m.conv_transpose2d(
      x, w, None, 1, 0, (1, 0), 1, (2, 1)), F(1, 2, 3, 3), F(2, 2, 2, 2), tol=T),
    C("conv-transpose2d-unbatched", CV, lambda m, x, w: m.conv_transpose2d(x, w, padding=1),
      F(2, 3, 4), F(2, 2, 3, 3), tol=T),
    C("conv-transpose1d", CV, lambda m, x, w, b: m.conv_transpose1d(x, w, b, 3, 1, 2),
      F(2, 2, 4), F(2, 3, 3), F(3), tol=T),
    # first gradients as outputs: the rules of the gradients' own gradients (third order)
    C("conv2d-dx", CV, conv_dx, F(1, 2, 5, 5), F(3, 2, 3, 3), F(1, 3, 3, 3), tol=T, xfail=DX),
    C("conv2d-dw", CV, conv_dw, F(1, 2, 6, 5), F(3, 2, 2, 2), F(1, 3, 4, 2), tol=T),
    # max pooling
    C("max-pool2d", MP, lambda m, x: _F(m).max_pool2d(x, 2), F(2, 3, 4, 6, g="distinct")),
    C("max-pool2d-overlap", MP, lambda m, x: _F(m).max_pool2d(x, 3, stride=2, padding=1),
      F(1, 2, 5, 6, g="distinct")),
    C("max-pool2d-dilation-ceil", MP, lambda m, x: _F(m).max_pool2d(x, (2, 3), (2, 1), (1, 1),
      (2, 1), ceil_mode=True), F(1, 2, 6, 5, g="distinct")),
    C("max-pool2d-indices", MP, lambda m, x: _F(m).max_pool2d(x, 3, 2, 1, return_indices=True),
      F(2, 1, 6, 5, g="distinct")),
    C("max-pool2d-unbatched", MP, lambda m, x: m.max_pool2d(x, (2, 3), ceil_mode=True),
      F(2, 5, 7, g="distinct")),
    C("max-pool2d-with-indices", MP, lambda m, x: _F(m).max_pool2d_with_indices(x, 2, 1),
      F(1, 1, 3, 4, g="distinct")),
    C("max-pool2d-empty-batch", MP, lambda m, x: _F(m).max_pool2d(x, 2), F(0, 2, 4, 4)),
    C("max-pool2d-ties", MP, lambda m, x: _F(m).max_pool2d(x, 2, 1), F(1, 2, 4, 4, g="ties"),
      fd=False),
    C("max-pool2d-dx", MP, max_pool_dx, F(1, 2, 5, 4, g="distinct"), F(1, 2, 3, 2)),
    C("max-pool1d", MP, lambda m, x: _F(m).max_pool1d(x, 3, 2, 1), F(2, 3, 8, g="distinct")),
    C("max-pool1d-indices-ceil", MP, lambda m, x: m.max_pool1d_with_indices(x, 2, ceil_mode=True),
      F(2, 7, g="distinct")),
    C("max-pool1d-dilation", MP, lambda m, x: m.max_pool1d(x, 2, 1, 1, 3),
      F(1, 2, 7, g="distinct")),
    # average pooling
    C("avg-pool2d", AP, lambda m, x: _F(m).avg_pool2d(x, 2), F(2, 3, 4, 6)),
    C("avg-pool2d-pad", AP, lambda m, x: _F(m).avg_pool2d(x, 3, 2, 1), F(1, 2, 5, 6)),
    C("avg-pool2d-exclude-pad", AP, lambda m, x: _F(m).avg_pool2d(x, (3, 2), (2, 1), (1, 1),
      count_include_pad=False), F(1, 2, 5, 4)),
    C("avg-pool2d-ceil", AP, lambda m, x: _F(m).avg_pool2d(x, 3, 2, 1, ceil_mode=True),
      F(1, 2, 6, 6)),
    C("avg-pool2d-ceil-exclude", AP, lambda m, x: _F(m).avg_pool2d(x, 2, 3, 1, True, False),
      F(1, 1, 7, 6)),
    C("avg-pool2d-divisor", AP, lambda m, x: _F(m).avg_pool2d(x, 2, 1, divisor_override=3),
      F(1, 2, 3, 4)),
    C("avg-pool2d-unbatched", AP, lambda m, x: _F(m).avg_pool2d(x, (1, 3), 1, (0, 1)),
      F(2, 3, 5)),
    C("avg-pool2d-dx", AP, avg_pool_dx, F(1, 1, 6, 6), F(1, 1, 4, 4)),
    C("avg-pool1d", AP, lambda m, x: _F(m).avg_pool1d(x, 3, 2, 1, True, False), F(2, 3, 8)),
    C("avg-pool1d-unbatched", AP, lambda m, x: m.avg_pool1d(x, 2), F(3, 5)),
    # adaptive average pooling
    C("adaptive-avg-pool2d", AA, lambda m, x: _F(m).adaptive_avg_pool2d(x, (3, 4)), F(2, 2, 5, 7)),
    C("adaptive-avg-pool2d-up", AA, lambda m, x: _F(m).adaptive_avg_pool2d(x, (4, 5)),
      F(1, 2, 3, 3)),
    C("adaptive-avg-pool2d-none", AA, lambda m, x: _F(m).adaptive_avg_pool2d(x, (None, 2)),
      F(1, 2, 3, 5)),
    C("adaptive-avg-pool2d-unbatched", AA, lambda m, x: _F(m).adaptive_avg_pool2d(x, 2),
      F(3, 4, 4)),
    C("adaptive-avg-pool2d-1", "mean_dim", lambda m, x: _F(m).adaptive_avg_pool2d(x, 1),
      F(2, 3, 4, 4)),
    C("adaptive-avg-pool2d-dx", AA, adaptive_dx, F(1, 2, 4, 5), F(1, 2, 2, 3)),
    C("adaptive-avg-pool1d", AA, lambda m, x: m.adaptive_avg_pool1d(x, 3), F(2, 3, 7)),
    # constant padding
    C("pad", PAD, lambda m, x: _F(m).pad(x, (1, 2)), F(2, 3)),
    C("pad-2d-value", PAD, lambda m, x: _F(m).pad(x, (1, 0, 2, 1), value=1.5), F(2, 3, 4)),
    C("pad-crop", PAD, lambda m, x: _F(m).pad(x, (-1, 2, 0, -2)), F(3, 4, 5)),
    C("pad-3d", PAD, lambda m, x: m.constant_pad_nd(x, (1, 1, 0, 1, 2, 0)), F(2, 2, 3)),
    C("pad-empty", PAD, lambda m, x: _F(m).pad(x, (1, 1)), F(0, 3)),
    # reflect, replicate, circular padding
    C("pad-reflect1d", "reflection_pad1d", lambda m, x: _F(m).pad(x, (2, 1), "reflect"),
      F(2, 3, 4)),
    C("pad-reflect2d", "reflection_pad2d", lambda m, x: _F(m).pad(x, (1, 2, 2, 0), "reflect"),
      F(3, 3, 4)),
    C("pad-reflect3d", "reflection_pad3d", lambda m, x: _F(m).pad(x, (1, 0, 0, 1, 1, 1),
      "reflect"), F(1, 1, 2, 3, 2)),
    C("pad-reflect-crop", "reflection_pad1d", lambda m, x: _F(m).pad(x, (-1, 2), "reflect"),
      F(2, 5)),
    C("pad-replicate1d", "replication_pad1d", lambda m, x: _F(m).pad(x, (3, 1), "replicate"),
      F(2, 3, 2)),
    C("pad-replicate2d", "replication_pad2d", lambda m, x: _F(m).pad(x, (1, 2, 3, 0),
      "replicate"), F(1, 2, 3, 3)),
    C("pad-replicate3d", "replication_pad3d", lambda m, x: _F(m).pad(x, (0, 2, 1, 0, 2, 1),
      "replicate"), F(1, 2, 2, 2)),
    C("pad-circular1d", "circular_pad", lambda m, x: _F(m).pad(x, (2, 3), "circular"), F(2, 3)),
    C("pad-circular-crop", "circular_pad", lambda m, x: _F(m).pad(x, (-1, 2, 2, -1), "circular"),
      F(1, 3, 4)),
    C("pad-circular2d", "circular_pad", lambda m, x: _F(m).pad(x, (1, 1, 2, 0), "circular"),
      F(1, 2, 3, 4)),
    C("pad-circular3d", "circular_pad", lambda m, x: _F(m).pad(x, (1, 0, 0, 2, 1, 1),
      "circular"), F(1, 2, 2, 3, 2)),
]
# fmt: on

# Ops used only inside backward rules, and cases whose checks run them (see op_cases.HELPERS).
HELPERS = {
    "convolution_weight": ("conv2d", "conv2d-groups", "conv-transpose2d", "conv2d-dw"),
    "max_pool2d_scatter": ("max-pool2d", "max-pool2d-overlap", "max-pool1d"),
    "max_pool2d_gather": ("max-pool2d-dx",),
    "avg_pool2d_backward": ("avg-pool2d", "avg-pool2d-ceil", "avg-pool2d-dx"),
    "adaptive_avg_pool2d_backward": ("adaptive-avg-pool2d", "adaptive-avg-pool2d-dx"),
    "index_pad_backward": ("pad-reflect2d", "pad-replicate1d", "pad-circular2d"),
}

# Imported on its own (pytest collecting this file first), this module runs before op_cases has
# read its rows: add them to the table now.
if hasattr(_table, "BY_ID") and CASES[0].id not in _table.BY_ID:
    _table.CASES.extend(CASES)
    _table.HELPERS.update(HELPERS)
    _table.BY_ID.update({c.id: c for c in CASES})
