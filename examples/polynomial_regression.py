"""Fit sin(x) on [-pi, pi] with a cubic a + b x + c x^2 + d x^3 by gradient descent, as the seed
text's introduction describes: first with gradients derived by hand, then with dygrad's autograd,
and show that the two runs agree step for step.

Run: python examples/polynomial_regression.py
"""

from __future__ import annotations

import math

import numpy as np

import dygrad as torch

STEPS = 2000
LR = 1e-6


def data() -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-math.pi, math.pi, 2000)
    return x, np.sin(x)


def fit_by_hand(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Gradient descent with the gradient of the squared error written out by hand."""
    w = np.array([0.1, -0.2, 0.05, 0.01])  # a, b, c, d
    powers = np.stack([x**0, x, x**2, x**3])  # (4, N)
    losses = []
    for _ in range(STEPS):
        pred = w @ powers
        err = pred - y
        losses.append(float((err**2).sum()))
        grad = 2 * powers @ err  # d/dw sum (w . p - y)^2 = 2 sum (w . p - y) p
        w = w - LR * grad
    return w, losses


def fit_with_autograd(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """The same descent, with dygrad computing the gradient."""
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    w = torch.tensor([0.1, -0.2, 0.05, 0.01], dtype=torch.float64, requires_grad=True)
    losses = []
    for _ in range(STEPS):
        pred = w[0] + w[1] * xt + w[2] * xt**2 + w[3] * xt**3
        loss = ((pred - yt) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w -= LR * w.grad
        w.grad = None
    return w.detach().numpy(), losses


def main() -> dict[str, float]:
    x, y = data()
    w_hand, l_hand = fit_by_hand(x, y)
    w_auto, l_auto = fit_with_autograd(x, y)
    gap = float(np.max(np.abs(w_hand - w_auto)))
    a, b, c, d = w_auto
    print(f"by hand : y = {w_hand[0]:+.5f} {w_hand[1]:+.5f} x {w_hand[2]:+.5f} x^2 "
          f"{w_hand[3]:+.5f} x^3   loss {l_hand[-1]:.4f}")  # fmt: skip
    print(f"autograd: y = {a:+.5f} {b:+.5f} x {c:+.5f} x^2 {d:+.5f} x^3   loss {l_auto[-1]:.4f}")
    print(f"largest coefficient difference: {gap:.2e}; loss {l_auto[0]:.1f} -> {l_auto[-1]:.2f}")
    return {"gap": gap, "first_loss": l_auto[0], "last_loss": l_auto[-1]}


if __name__ == "__main__":
    main()
