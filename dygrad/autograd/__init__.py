"""Automatic differentiation: grad modes, graph nodes and the engine (the graph layer), and the
tools built on tensors: `backward`, `grad`, `Function`, `gradcheck`, `gradgradcheck`."""

from __future__ import annotations

from typing import Any

from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_source_tracking_enabled,
    no_grad,
    set_grad_enabled,
    set_source_tracking,
)
from .graph import AccumulateGrad, Node

__all__ = [
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "is_inference_mode_enabled", "Node", "AccumulateGrad", "backward", "grad", "Function",
    "gradcheck", "gradgradcheck", "set_source_tracking", "is_source_tracking_enabled",
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
    "detect_nonfinite", "set_detect_nonfinite", "is_nonfinite_check_enabled", "why_no_grad",
]  # fmt: skip

# The tools import dygrad.tensor, which imports the graph layer above: load them on first use.
_LAZY = {
    "backward": ("api", "backward"),
    "grad": ("api", "grad"),
    "Function": ("function", "Function"),
    "FunctionCtx": ("function", "FunctionCtx"),
    "once_differentiable": ("function", "once_differentiable"),
    "gradcheck": ("gradcheck", "gradcheck"),
    "gradgradcheck": ("gradcheck", "gradgradcheck"),
    "GradcheckError": ("gradcheck", "GradcheckError"),
    "why_no_grad": ("why", "why_no_grad"),
    **{
        name: ("anomaly", name)
        for name in (
            "detect_anomaly",
            "set_detect_anomaly",
            "is_anomaly_enabled",
            "is_anomaly_check_nan_enabled",
            "detect_nonfinite",
            "set_detect_nonfinite",
            "is_nonfinite_check_enabled",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    if name in (
        "graph",
        "grad_mode",
        "engine",
        "function",
        "api",
        "forward_ad",
        "functional",
        "anomaly",
        "why",
    ):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dygrad.autograd' has no attribute '{name}'")
