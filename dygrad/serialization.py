"""`dygrad.save` and `dygrad.load`: state dicts in the safetensors format, never pickle."""

from __future__ import annotations

from typing import Any

__all__ = ["save", "load"]


def save(obj: Any, f: Any) -> None:
    """Save a state dict (`torch.save`); being written (issue 3)."""
    raise NotImplementedError("dygrad.save is not implemented yet")


def load(f: Any, *args: Any, **kwargs: Any) -> Any:
    """Load a state dict saved by `dygrad.save` (`torch.load`); being written (issue 3)."""
    raise NotImplementedError("dygrad.load is not implemented yet")
