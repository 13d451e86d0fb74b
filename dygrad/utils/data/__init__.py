"""`dygrad.utils.data`: datasets, samplers and the DataLoader (PyTorch's `torch.utils.data`)."""

from __future__ import annotations

__all__: list[str] = []
