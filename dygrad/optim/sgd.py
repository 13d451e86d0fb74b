"""`SGD`: stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay and
maximize (PyTorch's `torch.optim.SGD`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, _foreach_add_
from .optimizer import Optimizer, ParamsT, _closure_loss, _value, check_lr

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (`torch.optim.SGD`).

    Per parameter with a gradient g: g += weight_decay * p; with momentum, the buffer
    b = momentum * b + (1 - dampening) * g (b = g on the first step) and g = b, or
    g + momentum * b with `nesterov`; then p -= lr * g (p += lr * g with `maximize`).

    >>> import dygrad as torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> w
    tensor([ 0.4600, -0.9200], requires_grad=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("dygrad's optimizers do not support differentiable=True")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one SGD step (`torch.optim.SGD.step`); returns `closure()`'s loss if given.

        >>> import dygrad as torch
        >>> w = torch.tensor([3.0], requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.25)
        >>> opt.step(lambda: (w * w).sum().backward() or 7.0)
        7.0
        >>> w
        tensor([1.5000], requires_grad=True)
        """
        loss = _closure_loss(closure)
        with no_grad():
            for group in self.param_groups:
                lr, wd = _value(group["lr"]), group["weight_decay"]
                momentum, dampening = group["momentum"], group["dampening"]
                params, updates = [], []
                for p in self._params_with_grad(group):
                    g = p.grad if not group["maximize"] else -p.grad
                    if wd != 0:
                        g = g.add(p, alpha=wd)
                    if momentum != 0:
                        state = self.state[p]
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = state["momentum_buffer"] = g.detach().clone()
                        else:
                            buf.mul_(momentum).add_(g, alpha=1 - dampening)
                        g = g.add(buf, alpha=momentum) if group["nesterov"] else buf
                    params.append(p)
                    updates.append(g)
                # p -= lr * g for all of them (PyTorch's foreach form of the same update)
                _foreach_add_(params, updates, alpha=-lr)
        return loss
