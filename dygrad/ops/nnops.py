"""Neural-network ops: normalization, embedding, dropout, activations and fused losses."""

from __future__ import annotations

# Public functions (PyTorch's torch.* names) that dygrad's namespace re-exports.
PUBLIC: list[str] = []
