"""`dygrad.autograd.grad` and `dygrad.autograd.backward`: gradients returned rather than
accumulated, with PyTorch's argument checks and error messages."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backward import as_list, backward, root_grads
from ..tensor import Tensor
from .engine import run_backward

__all__ = ["backward", "grad"]


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned rather than accumulated
    (`torch.autograd.grad`).

    >>> import dygrad as torch
    >>> x = torch.tensor(3., requires_grad=True)
    >>> (dx,) = torch.autograd.grad(x ** 3, x, create_graph=True); dx
    tensor(27., grad_fn=<MulBackward0>)
    >>> torch.autograd.grad(dx, x)
    (tensor(18.),)
    """
    if is_grads_batched:
        raise NotImplementedError("is_grads_batched=True is not supported by dygrad")
    outs = as_list(outputs)
    ins = as_list(inputs)
    if not ins:
        raise RuntimeError("grad requires non-empty inputs.")
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in ins:
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(t).__name__}")
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = root_grads(outs, as_list(grad_outputs) if grad_outputs is not None else [],
                        create_graph)  # fmt: skip
    if retain_graph is None:
        retain_graph = create_graph
    got = run_backward([o._edge() for o in outs], grads, retain_graph=retain_graph,
                       create_graph=create_graph, capture=[t._edge() for t in ins],
                       accumulate=False)  # fmt: skip
    res: list[Tensor | None] = []
    for t, g in zip(ins, got):
        if g is None:
            if materialize_grads:
                res.append(Tensor._wrap(np.zeros_like(t._data), False, None, 0))
                continue
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")  # fmt: skip
            res.append(None)
        elif isinstance(g, Tensor):
            res.append(g)
        else:
            res.append(Tensor._wrap(np.array(g, dtype=t._data.dtype), False, None, 0))
    return tuple(res)
