"""`nn.init`: in-place parameter initialization (PyTorch's `torch.nn.init`)."""

from __future__ import annotations

__all__: list[str] = []
