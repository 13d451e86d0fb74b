"""`Adam`: adaptive moment estimation, with AMSGrad, L2 or decoupled weight decay and maximize
(PyTorch's `torch.optim.Adam`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.grad_mode import no_grad
from ..creation import zeros_like
from ..tensor import Tensor, maximum
from .optimizer import (
    Optimizer,
    ParamsT,
    _addcmul_,
    _closure_loss,
    _lerp_,
    _step_tensor,
    _value,
    check_lr,
)

__all__ = ["Adam"]


class Adam(Optimizer):
    """The Adam algorithm (`torch.optim.Adam`).

    Per parameter with a gradient g, at step t: g += weight_decay * p (or, with
    `decoupled_weight_decay`, p *= 1 - lr * weight_decay); m = beta1 m + (1 - beta1) g;
    v = beta2 v + (1 - beta2) g^2 (with `amsgrad`, v_max = max(v_max, v) is used in place of v);
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
    State: `step`, `exp_avg`, `exp_avg_sq` and, with `amsgrad`, `max_exp_avg_sq`.

    >>> import dygrad as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    >>> sorted(opt.state[w])
    ['exp_avg', 'exp_avg_sq', 'step']
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("dygrad's optimizers do not support differentiable=True")
        defaults = {
            "lr": lr,
            "betas": tuple(_value(b) for b in betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one Adam step (`torch.optim.Adam.step`); returns `closure()`'s loss if given.

        >>> import dygrad as torch
        >>> w = torch.tensor([2.0], requires_grad=True)
        >>> opt = torch.optim.Adam([w], lr=0.5)
        >>> def closure():
        ...     opt.zero_grad(); loss = (w * w).sum(); loss.backward(); return loss
        >>> opt.step(closure), w
        (tensor(4., grad_fn=<SumBackward0>), tensor([1.5000], requires_grad=True))
        """
        loss = _closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                self._update(group)
        return loss

    def _update(self, group: dict[str, Any]) -> None:
        lr, eps, wd = _value(group["lr"]), group["eps"], group["weight_decay"]
        beta1, beta2 = (_value(b) for b in group["betas"])
        amsgrad = group["amsgrad"]
        for p in self._params_with_grad(group):
            g = p.grad if not group["maximize"] else -p.grad
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_like(p)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            step_t = state["step"]
            step_t.add_(1)
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)
                else:
                    g = g.add(p, alpha=wd)
            _lerp_(exp_avg, g, 1 - beta1)
            _addcmul_(exp_avg_sq.mul_(beta2), g, g, 1 - beta2)

            step = step_t.item()
            bias_correction1 = 1 - beta1**step
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            step_size = lr / bias_correction1
            if amsgrad:
                max_sq = state["max_exp_avg_sq"]
                max_sq.copy_(maximum(max_sq, exp_avg_sq))
                denom = (max_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            else:
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            p.add_(exp_avg / denom, alpha=-step_size)
