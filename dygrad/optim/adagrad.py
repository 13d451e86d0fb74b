"""`Adagrad`: steps scaled by the root of the accumulated squared gradients (PyTorch's
`torch.optim.Adagrad`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.grad_mode import no_grad
from ..creation import full_like
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    _addcdiv_,
    _addcmul_,
    _closure_loss,
    _step_tensor,
    _value,
    check_lr,
)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """The Adagrad algorithm (`torch.optim.Adagrad`).

    Per parameter with a gradient g, at step t: g += weight_decay * p;
    clr = lr / (1 + (t - 1) lr_decay); s += g^2; p -= clr g / (sqrt(s) + eps). As in PyTorch,
    the state (`step`, `sum` = `initial_accumulator_value`) of every parameter is created with the
    optimizer; a parameter without a gradient keeps it unchanged.

    >>> import dygrad as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); w
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if differentiable:
            raise NotImplementedError("dygrad's optimizers do not support differentiable=True")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        # As in PyTorch, the constructor's groups get their state at once; a group added later
        # gets it at its parameters' first step.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> None:
        # PyTorch fills `sum` with the constructor's initial_accumulator_value, ignoring a
        # group's own; dygrad honours the group's value (the same unless a group sets one).
        state = self.state[p]
        state["step"] = _step_tensor()
        state["sum"] = full_like(p, group["initial_accumulator_value"])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one Adagrad step (`torch.optim.Adagrad.step`); returns `closure()`'s loss if
        given.

        >>> import dygrad as torch
        >>> w = torch.tensor([1.0], requires_grad=True)
        >>> opt = torch.optim.Adagrad([w], lr=0.1, initial_accumulator_value=3.0)
        >>> (w * w).sum().backward(); opt.step(); opt.state[w]["sum"]
        tensor([7.])
        """
        loss = _closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                lr, eps, wd = _value(group["lr"]), group["eps"], group["weight_decay"]
                lr_decay = group["lr_decay"]
                for p in self._params_with_grad(group):
                    g = p.grad if not group["maximize"] else -p.grad
                    state = self.state[p]
                    if len(state) == 0:
                        self._init_state(p, group)
                    step_t = state["step"]
                    step_t.add_(1)
                    step = step_t.item()
                    if wd != 0:
                        g = g.add(p, alpha=wd)
                    clr = lr / (1 + (step - 1) * lr_decay)
                    s = _addcmul_(state["sum"], g, g, 1)
                    _addcdiv_(p, g, s.sqrt().add_(eps), -clr)
        return loss
