"""Train a multilayer perceptron on scikit-learn's bundled digits (8x8 images, a held-out test
split): a tqdm progress bar with loss and accuracy, a PNG of the training curves, and the weights
saved with dygrad.save (safetensors). Needs: pip install 'dygrad[examples]'.

Run: python examples/digits_mlp.py [--epochs N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os

import dygrad as torch
from dygrad.demo import mlp, plot_history, train


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="dygrad-examples", help="folder for the plot and weights")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    model = mlp()
    print(model)
    history = train(model, epochs=args.epochs, lr=3e-3, progress=not args.no_progress)
    acc = history["test_acc"][-1]
    print(f"test accuracy: {100 * acc:.2f}%")
    plot = os.path.join(args.out, "digits_mlp.png")
    weights = os.path.join(args.out, "digits_mlp.safetensors")
    plot_history(history, plot, "MLP on scikit-learn digits")
    torch.save(model.state_dict(), weights)
    print(f"wrote {plot} and {weights}")
    return acc


if __name__ == "__main__":
    main()
