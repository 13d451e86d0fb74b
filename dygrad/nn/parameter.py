"""`nn.Parameter` and `nn.Buffer`: the tensors a module registers as parameters and buffers."""

from __future__ import annotations

from typing import Any

from ..creation import empty
from ..tensor import Tensor

__all__ = ["Parameter", "Buffer"]


def _share(dst: Tensor, src: Tensor) -> None:
    # The new tensor shares the data and version counter of `src`, as PyTorch's detach() does.
    dst._data = src._data
    dst._requires_grad = False
    dst.grad_fn = None
    dst._out_nr = 0
    dst._grad = None
    dst._vc = src._vc
    dst._base = None
    dst._accum = None
    dst._hooks = None
    dst._retains_grad = False


class Parameter(Tensor):
    """A leaf tensor that a `Module` registers as a parameter when assigned as an attribute
    (`torch.nn.Parameter`). It shares memory with `data`; ops on it return plain tensors.

    >>> import dygrad as torch
    >>> p = torch.nn.Parameter(torch.ones(2))
    >>> p
    Parameter containing:
    tensor([1., 1.], requires_grad=True)
    >>> type(p * 2).__name__, p.is_leaf
    ('Tensor', True)
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}"
            )
        t = object.__new__(cls)
        _share(t, data)
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto: Any) -> Any:
        return (_rebuild_parameter, (self.detach().clone(), self.requires_grad))


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


class _BufferMeta(type):
    # As in PyTorch, Buffer(...) returns a plain tensor flagged as a buffer; isinstance sees it.
    def __instancecheck__(cls, instance: Any) -> bool:
        if cls is Buffer:
            return isinstance(instance, Tensor) and bool(instance.__dict__.get("_is_buffer"))
        return super().__instancecheck__(instance)


class Buffer(Tensor, metaclass=_BufferMeta):
    """Marks a tensor to be registered as a buffer when assigned to a `Module` attribute
    (`torch.nn.Buffer`); `persistent=False` keeps it out of the state dict. Like PyTorch's, it
    returns a plain tensor (detached) that `isinstance(t, Buffer)` recognizes.

    >>> import dygrad as torch
    >>> m = torch.nn.Module(); m.steps = torch.nn.Buffer(torch.zeros(1))
    >>> list(m.state_dict()), type(m.steps).__name__
    (['steps'], 'Tensor')
    """

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Any:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer(): argument 'data' must be Tensor, not {type(data).__name__}")
        t = data.detach()
        if data.requires_grad:
            t.requires_grad_(True)
        t.persistent = persistent
        t._is_buffer = True
        return t
