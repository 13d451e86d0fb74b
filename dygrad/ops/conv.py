"""Convolution and pooling ops (conv1d/2d, conv_transpose2d, max/avg pooling, adaptive average
pooling) through strided im2col views and one matrix product."""

from __future__ import annotations

# Public functions (PyTorch's torch.* names) that dygrad's namespace re-exports.
PUBLIC: list[str] = []
