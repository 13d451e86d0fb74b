"""`RMSprop`: gradient steps scaled by a running root mean square, optionally centered and with
momentum (PyTorch's `torch.optim.RMSprop`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.grad_mode import no_grad
from ..creation import zeros_like
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    _addcdiv_,
    _addcmul_,
    _closure_loss,
    _lerp_,
    _step_tensor,
    _value,
    check_lr,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """The RMSprop algorithm (`torch.optim.RMSprop`).

    Per parameter with a gradient g: g += weight_decay * p; v = alpha v + (1 - alpha) g^2;
    with `centered`, m = alpha m + (1 - alpha) g and the denominator is sqrt(v - m^2) + eps, else
    sqrt(v) + eps; with `momentum`, b = momentum b + g / denom and p -= lr b, else
    p -= lr g / denom. State: `step`, `square_avg`, and `momentum_buffer`, `grad_avg` when used.

    >>> import dygrad as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward(); opt.step(); w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if differentiable:
            raise NotImplementedError("dygrad's optimizers do not support differentiable=True")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one RMSprop step (`torch.optim.RMSprop.step`); returns `closure()`'s loss if
        given.

        >>> import dygrad as torch
        >>> w = torch.tensor([1.0], requires_grad=True)
        >>> opt = torch.optim.RMSprop([w], lr=0.01, momentum=0.5, centered=True)
        >>> (w * w).sum().backward(); opt.step(); sorted(opt.state[w])
        ['grad_avg', 'momentum_buffer', 'square_avg', 'step']
        """
        loss = _closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                self._update(group)
        return loss

    def _update(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = _value(group["lr"]), group["alpha"], group["eps"]
        wd, momentum, centered = group["weight_decay"], group["momentum"], group["centered"]
        for p in self._params_with_grad(group):
            g = p.grad if not group["maximize"] else -p.grad
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["square_avg"] = zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = zeros_like(p)
                if centered:
                    state["grad_avg"] = zeros_like(p)
            state["step"].add_(1)
            if wd != 0:
                g = g.add(p, alpha=wd)
            square_avg = _addcmul_(state["square_avg"].mul_(alpha), g, g, 1 - alpha)
            if centered:
                grad_avg = _lerp_(state["grad_avg"], g, 1 - alpha)
                avg = _addcmul_(square_avg.clone(), grad_avg, grad_avg, -1).sqrt_()
            else:
                avg = square_avg.sqrt()
            avg = avg.add_(eps)
            if momentum > 0:
                buf = _addcdiv_(state["momentum_buffer"].mul_(momentum), g, avg)
                p.add_(buf, alpha=-lr)
            else:
                _addcdiv_(p, g, avg, -lr)
