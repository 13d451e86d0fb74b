"""Training on real data for the demo and the examples: scikit-learn's bundled 8x8 digits, an MLP
and a small CNN, a tqdm progress bar, a matplotlib plot of the curves, weights saved with
`dygrad.save`. Needs the `examples` extra (scikit-learn, tqdm, matplotlib, safetensors)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

import dygrad as torch
from dygrad import nn

__all__ = ["load_digits", "mlp", "cnn", "train", "evaluate", "plot_history"]


def _need(module: str, extra: str = "examples") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]  # sklearn.datasets comes with scikit-learn
        raise ImportError(
            f"this needs the '{top}' package: pip install 'dygrad[{extra}]' "
            f"(or pip install {top if top != 'sklearn' else 'scikit-learn'})"
        ) from None


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> tuple[Any, ...]:
    """scikit-learn's digits (1,797 8x8 images, no download), scaled to [0, 1] as float32
    tensors of shape (N, 1, 8, 8), split into train and held-out test sets.

    Returns (x_train, y_train, x_test, y_test).
    """
    datasets = _need("sklearn.datasets")
    d = datasets.load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None, :, :]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train_ = order[:n_test], order[n_test:]
    return (torch.tensor(x[train_]), torch.tensor(y[train_]),
            torch.tensor(x[test]), torch.tensor(y[test]))  # fmt: skip


def mlp() -> nn.Module:
    """A 64-128-64-10 multilayer perceptron on the flattened image."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def cnn() -> nn.Module:
    """A small CNN: two 3x3 convolutions with ReLU, max pooling, and a linear classifier."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )


def evaluate(model: nn.Module, x: Any, y: Any) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy) of `model` on (x, y), without recording a graph."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
    model.train()
    return loss, acc


def train(
    model: nn.Module,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
    compile: bool = False,  # noqa: A002 - as in torch.compile
) -> dict[str, list[float]]:
    """Train `model` on the digits with Adam and cross-entropy; returns the per-epoch history
    (train loss, test loss, test accuracy). The bar shows the running loss and accuracy.
    `compile=True` runs the training forward and backward through `dygrad.compile(model)`."""
    from .utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = load_digits(seed=seed)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    tqdm = _need("tqdm").tqdm if progress else None
    forward = torch.compile(model) if compile else model
    history: dict[str, list[float]] = {"train_loss": [], "test_loss": [], "test_acc": []}
    for epoch in range(1, epochs + 1):
        batches = tqdm(loader, desc=f"epoch {epoch:2d}/{epochs}", leave=False) if tqdm else loader
        total = correct = seen = 0.0
        for xb, yb in batches:
            logits = forward(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n = len(yb)
            total += loss.item() * n
            correct += (logits.argmax(1) == yb).sum().item()
            seen += n
            if tqdm:
                # Shown at the bar's own next refresh: a forced one would draw the batch count
                # tqdm has not written back yet (it updates it only when it redraws).
                batches.set_postfix(loss=f"{total / seen:.3f}", acc=f"{correct / seen:.3f}",
                                    refresh=False)  # fmt: skip
        test_loss, test_acc = evaluate(model, x_test, y_test)
        history["train_loss"].append(total / seen)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        log(f"epoch {epoch:2d}: train loss {total / seen:.4f}, test loss {test_loss:.4f}, "
            f"test accuracy {test_acc:.4f}")  # fmt: skip
    return history


def plot_history(history: dict[str, list[float]], path: str | os.PathLike[str], title: str) -> None:
    """Write a PNG of the loss curves and the test accuracy."""
    matplotlib = _need("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history["train_loss"], label="train")
    ax1.plot(epochs, history["test_loss"], label="test")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax1.set_title("loss")
    ax1.legend()
    ax2.plot(epochs, [100 * a for a in history["test_acc"]], color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy (%)")
    ax2.set_title("held-out accuracy")
    ax2.grid(alpha=0.3)
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
