"""`Optimizer`, the base of every optimizer (PyTorch's `torch.optim.Optimizer`): parameter groups,
per-parameter state, `zero_grad`, `state_dict` and `load_state_dict`."""

from __future__ import annotations

import numbers
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from itertools import chain
from typing import Any

from .. import dtypes
from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor, tensor

__all__ = ["Optimizer", "required"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
StateDict = dict[str, Any]

# State entries shaped like their parameter: a loaded state dict is checked against these shapes,
# so a mismatch fails at load time, with the optimizer untouched, rather than at the next step.
_PARAM_SHAPED = frozenset(
    {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum"}
)


_SET_ERROR = (
    "optimizer parameters need to be organized in ordered collections, but the ordering of "
    "tensors in sets will change between runs. Please use a list instead."
)


class _RequiredParameter:
    """Marks a hyperparameter without default that every param group must set."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj: Any) -> str:
    if isinstance(obj, Tensor):
        return obj.type()
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def _scalar_dtype() -> dtypes.dtype:
    # PyTorch keeps `step` as a 0-d tensor of float64 when that is the default, else float32.
    return dtypes.float64 if dtypes.get_default_dtype() == dtypes.float64 else dtypes.float32


def _step_tensor(value: float = 0.0) -> Tensor:
    return tensor(float(value), dtype=_scalar_dtype())


def _value(x: Any) -> Any:
    """A hyperparameter as a Python number (a 1-element tensor `lr` is allowed, as in PyTorch)."""
    return x.item() if isinstance(x, Tensor) else x


def _closure_loss(closure: Callable[[], Any] | None) -> Any:
    if closure is None:
        return None
    with enable_grad():
        return closure()


class Optimizer:
    """Base class for all optimizers (`torch.optim.Optimizer`).

    `params` is an iterable of tensors, of `(name, tensor)` pairs, or of dicts (parameter groups,
    each with a `"params"` entry and its own options overriding `defaults`). `state` maps each
    parameter to its per-parameter state. A subclass implements `step`.

    >>> import dygrad as torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> opt = torch.optim.SGD([{"params": [w]}], lr=0.5)
    >>> (w - torch.tensor([1.0, 2.0])).pow(2).sum().backward()
    >>> opt.step(); w
    tensor([1., 2.], requires_grad=True)
    >>> opt.zero_grad(); w.grad is None
    True
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        if isinstance(params, set | frozenset):
            raise TypeError(_SET_ERROR)
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        # Older or foreign state dicts may lack options added since, or keep `step` as a number.
        for group in self.param_groups:
            for name, default in self.defaults.items():
                group.setdefault(name, default)
        for s in self.state.values():
            if isinstance(s, dict) and "step" in s and not isinstance(s["step"], Tensor):
                s["step"] = _step_tensor(float(s["step"]))

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    def state_dict(self) -> StateDict:
        """The optimizer's state as `{'state': {index: {...}}, 'param_groups': [...]}`
        (`torch.optim.Optimizer.state_dict`).

        Parameters are replaced by their index in the order of the groups; the state tensors are
        the optimizer's own (not copies), as in PyTorch.

        >>> import dygrad as torch
        >>> w = torch.ones(2, requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.sum().backward(); opt.step()
        >>> sd = opt.state_dict()
        >>> sd["state"]
        {0: {'momentum_buffer': tensor([1., 1.])}}
        >>> sd["param_groups"][0]["params"], sd["param_groups"][0]["lr"]
        ([0], 0.1)
        """
        mapping: dict[int, int] = {}
        start = 0

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack(g) for g in self.param_groups]
        packed_state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()
        }
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Load a state from `state_dict()` (`torch.optim.Optimizer.load_state_dict`).

        The groups must match in number and sizes (PyTorch's errors); the state is deep-copied,
        floating tensors are cast to their parameter's dtype, and on any error the optimizer is
        left unchanged.

        >>> import dygrad as torch
        >>> w = torch.ones(2, requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.1)
        >>> sd = opt.state_dict(); sd["param_groups"][0]["lr"] = 0.5
        >>> opt.load_state_dict(sd); opt.param_groups[0]["lr"]
        0.5
        >>> opt.load_state_dict({"state": {}, "param_groups": []})
        Traceback (most recent call last):
        ...
        ValueError: loaded state dict has a different number of parameter groups
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise KeyError(
                    f"optimizer state_dict has no '{key}' entry (it has {sorted(state_dict)[:5]})"
                )
        state_dict = dict(state_dict)
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v, k)
            else:
                state[k] = deepcopy(v)

        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors (`torch.optim.Optimizer.zero_grad`):
        to `None` by default, else to zeros.

        >>> import dygrad as torch
        >>> w = torch.ones(2, requires_grad=True); w.sum().backward()
        >>> opt = torch.optim.SGD([w]); opt.zero_grad(set_to_none=False); w.grad
        tensor([0., 0.])
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step (`torch.optim.Optimizer.step`); subclasses implement it.
        `closure`, when given, re-evaluates the model and returns the loss, which `step` returns.

        >>> import dygrad as torch
        >>> torch.optim.Optimizer([torch.ones(1)], {}).step()
        Traceback (most recent call last):
        ...
        NotImplementedError
        """
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group with its own options (`torch.optim.Optimizer.add_param_group`).

        >>> import dygrad as torch
        >>> a, b = torch.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
        >>> opt = torch.optim.SGD([a], lr=0.1)
        >>> opt.add_param_group({"params": [b], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        >>> opt.add_param_group({"params": [a]})
        Traceback (most recent call last):
        ...
        ValueError: some parameters appear in more than one parameter group
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        if "params" not in param_group:
            raise KeyError(
                "parameter group must have a 'params' entry (the tensors to optimize), got keys "
                f"{sorted(param_group)}"
            )
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set | frozenset):
            raise TypeError(_SET_ERROR)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is " + _typename(p)
                )
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        if "lr" in param_group:
            check_lr(param_group["lr"])
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization parameter "
                    + name
                )
        if len(tensors) != len({id(p) for p in tensors}):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this "
                "will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                stacklevel=3,
            )
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in group) != bool(names):
                which = "with names" if names else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(id(p) for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")

        # Every check has passed: only now is the caller's dict completed and registered.
        param_group["params"] = tensors
        if names:
            param_group["param_names"] = names
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        self.param_groups.append(param_group)

    # --- helpers for subclasses -----------------------------------------------------------------
    @staticmethod
    def _params_with_grad(group: dict[str, Any]) -> list[Tensor]:
        """The group's parameters a step updates: those that require grad and have a gradient.
        A frozen parameter, or one whose gradient is None, is never touched and gets no state."""
        return [p for p in group["params"] if p.grad is not None and p.requires_grad]


def _cast(param: Tensor, value: Any, param_id: Any, key: Any = None) -> Any:
    """A deep copy of one parameter's saved state, floating tensors cast to the parameter's dtype
    (`step` kept as saved), checked against the parameter's shape."""
    if isinstance(value, Tensor):
        v = value.detach()
        if key != "step" and param.is_floating_point() and v.is_floating_point():
            v = v.to(dtype=param.dtype)
        if key in _PARAM_SHAPED and tuple(v.shape) != tuple(param.shape):
            raise ValueError(
                f"loaded state dict has '{key}' of shape {list(v.shape)} for parameter "
                f"{param_id}, whose shape is {list(param.shape)}"
            )
        return v.clone()
    if isinstance(value, dict):
        return {k: _cast(param, v, param_id, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cast(param, v, param_id) for v in value)
    return deepcopy(value)


# In-place fused updates PyTorch has as Tensor methods, written with dygrad's public in-place ops.
def _addcmul_(t: Tensor, a: Tensor, b: Tensor, value: float = 1.0) -> Tensor:
    """`t.addcmul_(a, b, value=value)`: t += value * a * b."""
    return t.add_(a * b, alpha=value)


def _addcdiv_(t: Tensor, a: Tensor, b: Tensor, value: float = 1.0) -> Tensor:
    """`t.addcdiv_(a, b, value=value)`: t += value * a / b."""
    return t.add_(a / b, alpha=value)


def _lerp_(t: Tensor, end: Tensor, weight: float) -> Tensor:
    """`t.lerp_(end, weight)`: t += weight * (end - t)."""
    return t.add_(end - t, alpha=weight)


def check_lr(lr: Any) -> None:
    """PyTorch's checks on a learning rate, shared by every optimizer's constructor."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
    elif not isinstance(lr, numbers.Real):  # NumPy scalars included
        raise TypeError(f"lr must be a number or a 1-element Tensor, got {type(lr).__name__}")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
