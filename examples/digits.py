"""Train an MLP or a small CNN on scikit-learn's bundled digits (8x8 images, a held-out test split):
a tqdm progress bar with loss and accuracy, a PNG of the training curves, and the weights saved
with dygrad.save (safetensors). The models are in dygrad/demo.py. Needs:
pip install 'dygrad[examples]'.

Run: python examples/digits.py --model mlp|cnn [--epochs N] [--out DIR] [--compile]
"""

from __future__ import annotations

import argparse
import os

import dygrad as torch
from dygrad.demo import cnn, mlp, plot_history, train

# model name -> (builder, default epochs, learning rate, plot title)
MODELS = {
    "mlp": (mlp, 30, 3e-3, "MLP on scikit-learn digits"),
    "cnn": (cnn, 20, 5e-3, "CNN on scikit-learn digits"),
}


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn")
    parser.add_argument("--epochs", type=int, default=None, help="default: 30 (mlp), 20 (cnn)")
    parser.add_argument("--out", default="dygrad-examples", help="folder for the plot and weights")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the batches")
    parser.add_argument("--compile", action="store_true",
                        help="train through dygrad.compile (traced once, replayed)")
    args = parser.parse_args(argv)
    build, epochs, lr, title = MODELS[args.model]
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(args.seed)  # the weights: the same run on every machine and test order
    model = build()
    print(model)
    history = train(model, epochs=args.epochs or epochs, lr=lr, progress=not args.no_progress,
                    seed=args.seed, compile=args.compile)
    acc = history["test_acc"][-1]
    print(f"test accuracy: {100 * acc:.2f}%")
    plot = os.path.join(args.out, f"digits_{args.model}.png")
    weights = os.path.join(args.out, f"digits_{args.model}.safetensors")
    plot_history(history, plot, title)
    torch.save(model.state_dict(), weights)
    print(f"wrote {plot} and {weights}")
    return acc


if __name__ == "__main__":
    main()
