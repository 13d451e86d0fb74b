"""`dygrad.optim`: optimizers and learning-rate schedulers (PyTorch's `torch.optim`)."""

from __future__ import annotations

__all__: list[str] = []
