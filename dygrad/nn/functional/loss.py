"""nn.functional losses (PyTorch's `torch.nn.functional` names), declared as ops in
`dygrad.ops.nnops`: regression, binary and multi-class classification, KL divergence."""

from __future__ import annotations

from ...ops.nnops import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]  # fmt: skip
