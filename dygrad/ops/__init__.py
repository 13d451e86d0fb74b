"""Every differentiable operation, each declared once in one of these modules, and the registry
that dispatches them."""

from . import activation, conv, indexing, linalg, nnops, pointwise, reduction, shape
from .registry import REGISTRY, apply, apply_inplace, defop

__all__ = [
    "REGISTRY", "apply", "apply_inplace", "defop",
    "activation", "conv", "indexing", "linalg", "nnops", "pointwise", "reduction", "shape",
]  # fmt: skip
