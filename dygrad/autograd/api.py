"""`dygrad.autograd.backward` and `dygrad.autograd.grad`: the user-facing entry points to the
engine, with PyTorch's argument checks and error messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from .engine import run_backward

__all__ = ["backward", "grad"]


def _seq(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _root_grads(outputs: list[Tensor], grad_outputs: list[Any], create_graph: bool) -> list[Any]:
    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one gradient per output: got {len(grad_outputs)} "
                           f"gradients for {len(outputs)} outputs")  # fmt: skip
    grads = []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__} at index {i}")
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")  # fmt: skip
        g = grad_outputs[i] if grad_outputs else None
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._data.dtype.kind != "f":
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got {out.dtype}")  # fmt: skip
            arr = np.ones(out._data.shape, out._data.dtype)
            grads.append(Tensor._wrap(arr, False, None, 0) if create_graph else arr)
            continue
        if not isinstance(g, Tensor):
            g = Tensor._wrap(np.asarray(g, dtype=out._data.dtype), False, None, 0)
        if g.shape != out.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} "
                               f"and output[{i}] has a shape of {out.shape}.")  # fmt: skip
        if g._data.dtype.kind != "f":
            raise RuntimeError(f"For complex Tensors, both grad_output and output are required to "
                               f"have the same dtype. Mismatch in dtype: grad_output[{i}] has a "
                               f"dtype of {g.dtype} and output[{i}] has a dtype of "
                               f"{out.dtype}.")  # fmt: skip
        if g._data.dtype != out._data.dtype:
            g = g.to(out.dtype)
        # A private copy: the engine may hand the root gradient on to a leaf's .grad.
        grads.append(g if create_graph else g._data.copy())
    return grads


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate gradients of `tensors` into the leaves' `.grad` (`torch.autograd.backward`)."""
    outs = _seq(tensors)
    grads = _root_grads(outs, _seq(grad_tensors) if grad_tensors is not None else [],
                        create_graph)  # fmt: skip
    if retain_graph is None:
        retain_graph = create_graph
    roots = [o._edge() for o in outs]
    if inputs is None:
        run_backward(roots, grads, retain_graph=retain_graph, create_graph=create_graph)
        return
    ins = _seq(inputs)
    if not ins:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    for t in ins:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    got = run_backward(roots, grads, retain_graph=retain_graph, create_graph=create_graph,
                       capture=[t._edge() for t in ins], accumulate=False)  # fmt: skip
    for t, g in zip(ins, got):
        if g is not None:
            t._accumulate_grad(g, create_graph)


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
    outs = _seq(outputs)
    ins = _seq(inputs)
    if not ins:
        raise RuntimeError("grad requires non-empty inputs.")
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in ins:
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(t).__name__}")
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _root_grads(outs, _seq(grad_outputs) if grad_outputs is not None else [],
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


