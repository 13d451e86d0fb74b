"""Seeing the graph: `make_dot` (graphviz drawing, torchviz conventions and more), `print_graph`
(the same as text), `explain` (the chain rule along a path) and `trace_backward` (a step-through
of the backward pass, as text and as a self-contained HTML page)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["make_dot", "print_graph", "render_dot", "explain", "trace_backward"]

_WHERE = {
    "make_dot": "dot",
    "print_graph": "dot",
    "render_dot": "dot",
    "explain": "chain",
    "trace_backward": "trace",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: drawing needs nothing at `import dygrad` time.
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'dygrad.viz' has no attribute '{name}'")
