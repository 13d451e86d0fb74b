"""Automatic differentiation: grad modes, graph nodes and the engine (the graph layer), and the
tools built on tensors: `backward`, `grad`, `Function`, `gradcheck`, `gradgradcheck`."""

from __future__ import annotations

from typing import Any

from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .graph import AccumulateGrad, Node

__all__ = [
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "is_inference_mode_enabled", "Node", "AccumulateGrad", "backward", "grad", "Function",
    "gradcheck", "gradgradcheck",
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
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    if name in ("graph", "grad_mode", "engine", "function", "api", "forward_ad", "functional"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dygrad.autograd' has no attribute '{name}'")
