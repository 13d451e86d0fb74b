"""`backward` for tensors: checks the roots and their incoming gradients with PyTorch's errors and
runs the engine (the tensor layer's entry to autograd; `Tensor.backward` calls it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd.engine import run_backward
from .tensor import Tensor

__all__ = ["backward", "root_grads", "as_list"]


def as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def root_grads(outputs: list[Tensor], grad_outputs: list[Any], create_graph: bool) -> list[Any]:
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
            raise RuntimeError(f"grad_output[{i}] must be a floating point tensor, got {g.dtype} "
                               f"(output[{i}] is {out.dtype})")  # fmt: skip
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
    if grad_tensors is None and inputs is None and not create_graph and type(tensors) is Tensor:
        # `loss.backward()`: a scalar root with a node; anything else takes the checks below.
        node = tensors.grad_fn
        data = tensors._data
        if node is not None and data.size == 1 and data.dtype.kind == "f":
            run_backward([(node, tensors._out_nr)], [np.ones(data.shape, data.dtype)],
                         retain_graph=bool(retain_graph), create_graph=False)  # fmt: skip
            return
    outs = as_list(tensors)
    grads = root_grads(outs, as_list(grad_tensors) if grad_tensors is not None else [],
                        create_graph)  # fmt: skip
    if retain_graph is None:
        retain_graph = create_graph
    roots = [o._edge() for o in outs]
    if inputs is None:
        run_backward(roots, grads, retain_graph=retain_graph, create_graph=create_graph)
        return
    ins = as_list(inputs)
    if not ins:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    for t in ins:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    got = run_backward(roots, grads, retain_graph=retain_graph, create_graph=create_graph,
                       capture=[t._edge() for t in ins], accumulate=False)  # fmt: skip
    for t, g in zip(ins, got):
        # (a non-leaf that retains its gradient already received it from its retain hook)
        if g is not None and not (t.grad_fn is not None and t._retains_grad):
            t._accumulate_grad(g, create_graph)
