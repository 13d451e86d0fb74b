"""`nn.Parameter`: a leaf tensor that modules register as a parameter."""

from __future__ import annotations

__all__: list[str] = []
