"""`dygrad.utils`: data loading (`utils.data`) and activation checkpointing (`utils.checkpoint`,
a tool built on autograd, loaded on first use)."""

from typing import Any

from . import data

__all__ = ["data"]


def __getattr__(name: str) -> Any:
    # utils.checkpoint sits in the tools layer, above this package: never imported eagerly.
    if name == "checkpoint":
        import importlib

        return importlib.import_module(f"{__name__}.checkpoint")
    raise AttributeError(f"module 'dygrad.utils' has no attribute '{name}'")
