"""`vmap` (`torch.func.vmap`) as a per-example loop: dygrad has no batching rules, so the function
runs once per batch element and the results are stacked; `VmapFallbackWarning` says so."""

from __future__ import annotations

import functools
import os
import sys
import threading
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, cast

import numpy as np

from .. import backend
from ..functions import stack
from ..tensor import Tensor
from ._pytree import broadcast_prefix, tree_flatten, tree_unflatten

__all__ = ["vmap", "VmapFallbackWarning"]


class VmapFallbackWarning(UserWarning):
    """Warned once per function made by `vmap`: dygrad runs it once per batch element in a
    Python loop and stacks the results (PyTorch's `vmap` runs it once on batched tensors), so
    it is correct but no faster than writing the loop. Silence it with
    `warnings.simplefilter("ignore", dygrad.func.VmapFallbackWarning)`."""


_RANDOM_MSG = (
    "vmap: called random operation while in randomness error mode. Please either use the "
    "'same' or 'different' randomness flags on vmap or perform the randomness operation out of "
    "vmap"
)


# randomness='error' is a property of the calling thread (as PyTorch's vmap levels are): the
# generator is shared by all threads, so while any thread is in that mode a guard stands in for
# it that raises in those threads only and hands every other thread the real generator.
_local = threading.local()
_guard_lock = threading.Lock()
_guard_users = 0


class _NoRandom:
    # The stand-in: draws raise in a thread in randomness='error' mode, reach `real` elsewhere.
    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        if getattr(_local, "no_random", 0):
            raise RuntimeError(_RANDOM_MSG)
        return getattr(self.real, name)


def _check_randomness(randomness: Any) -> None:
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. Got "
            f"{randomness}"
        )


class _Randomness:
    """What random operations do while a function runs once per batch element: 'error' makes
    them raise, 'same' replays the same draws for every element (`each()` before each one),
    'different' lets each element draw anew."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.state: Any = None

    def __enter__(self) -> _Randomness:
        global _guard_users
        if self.mode == "error":
            with _guard_lock:
                if not isinstance(backend._rng[0], _NoRandom):
                    backend._rng[0] = cast(np.random.Generator, _NoRandom(backend._rng[0]))
                _guard_users += 1
            _local.no_random = getattr(_local, "no_random", 0) + 1
        elif self.mode == "same" and not getattr(_local, "no_random", 0):
            self.state = backend._rng[0].bit_generator.state
        return self

    def each(self) -> None:
        if self.state is not None:
            backend._rng[0].bit_generator.state = self.state

    def __exit__(self, *exc: object) -> None:
        global _guard_users
        if self.mode == "error":
            _local.no_random -= 1
            with _guard_lock:
                _guard_users -= 1
                gen = backend._rng[0]
                # manual_seed meanwhile replaced the guard: keep the new generator.
                if _guard_users == 0 and isinstance(gen, _NoRandom):
                    backend._rng[0] = gen.real


def _name(func: Any) -> str:
    if hasattr(func, "__name__"):
        return str(func.__name__)
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


def _check_out_dims(out_dims: Any, name: str) -> None:
    leaves, _ = tree_flatten(out_dims)
    for d in leaves:
        if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
            raise ValueError(
                f"vmap({name}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a "
                "python collection of ints representing where in the outputs the vmapped "
                "dimension should appear."
            )


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """Vectorize `func` over a batch dimension of its inputs (`torch.func.vmap`).

    `in_dims` gives, per positional argument (int, None, or a tuple/list/dict nest matching the
    arguments' structure), the dimension to map over, or None to pass the argument unchanged;
    `out_dims` likewise places the batch dimension in each output (None: an output that does not
    depend on the batch, returned once). Keyword arguments are passed unchanged. `randomness`
    ('error', 'different' or 'same') says whether random operations in `func` raise, draw anew
    for each batch element, or draw the same values for all of them. Nested `vmap`s and
    transforms inside (`vmap(grad(f))`, per-example gradients) work.

    dygrad has no batching rules: the returned function calls `func` once per batch element and
    stacks the results, which is correct but as slow as that loop. It says so with a
    `VmapFallbackWarning`, once per function `vmap` returns. `chunk_size` is accepted and checked
    only. A batch of size 0 is answered by running `func` once on zeros, for the output shapes.

    >>> import warnings
    >>> import dygrad as torch
    >>> from dygrad.func import vmap
    >>> with warnings.catch_warnings(action="ignore", category=torch.func.VmapFallbackWarning):
    ...     vmap(torch.dot)(torch.ones(3, 2), torch.arange(6.).reshape(3, 2))
    tensor([1., 5., 9.])
    >>> with warnings.catch_warnings(action="ignore", category=torch.func.VmapFallbackWarning):
    ...     vmap(lambda x, y: x * y, in_dims=(1, None))(torch.ones(2, 3), torch.tensor(2.))
    tensor([[2., 2.],
            [2., 2.],
            [2., 2.]])
    """
    name = _name(func)
    _check_randomness(randomness)
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    _check_out_dims(out_dims, name)
    warned = False

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal warned
        size, flat_dims, flat_args, spec = _batched_inputs(in_dims, args, name)
        if not warned:
            warned = True
            warnings.warn(
                f"vmap({name}): dygrad has no batching rules, so {name} runs once per batch "
                "element in a Python loop and the results are stacked (correct, but not "
                "vectorized)",
                VmapFallbackWarning,
                stacklevel=_user_stacklevel(),
            )
        per_arg = [
            None if d is None else a.unbind(d) if size else None
            for a, d in zip(flat_args, flat_dims)
        ]
        results: list[list[Any]] = []
        out_spec = None
        with _Randomness(randomness) as rng:
            for b in range(max(size, 1)):
                if size:
                    ins = [a if s is None else s[b] for a, s in zip(flat_args, per_arg)]
                else:  # empty batch: one run on a zero example, for the shapes
                    ins = [a if d is None else _zero_example(a, d)
                           for a, d in zip(flat_args, flat_dims)]  # fmt: skip
                rng.each()
                out = func(*tree_unflatten(ins, spec), **kwargs)
                leaves, s = tree_flatten(out)
                if out_spec is None:
                    out_spec = s
                elif s != out_spec:
                    raise ValueError(
                        f"vmap({name}, ...): `{name}` returned outputs of different structure "
                        f"for different batch elements: {out_spec} and {s}"
                    )
                results.append(leaves)
        assert out_spec is not None
        if isinstance(out_dims, int | type(None)) or (
            out_spec.is_leaf() and isinstance(out_dims, tuple) and len(out_dims) == 1
        ):
            flat_out = [out_dims if not isinstance(out_dims, tuple) else out_dims[0]]
            flat_out = flat_out * out_spec.num_leaves
        else:
            prefix = broadcast_prefix(out_dims, out_spec)
            if prefix is None:
                raise ValueError(
                    f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not "
                    "compatible with the structure of `outputs`. out_dims has structure "
                    f"{tree_flatten(out_dims)[1]} but outputs has structure {out_spec}."
                )
            flat_out = prefix
        outs = [_combine([r[j] for r in results], d, size, name) for j, d in enumerate(flat_out)]
        return tree_unflatten(outs, out_spec)

    return wrapper


def _user_stacklevel() -> int:
    # The warning points at the first caller outside dygrad.func (vmap may run inside jacrev).
    here = os.path.dirname(__file__)
    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        level += 1
        frame = frame.f_back
    return level


def _batched_inputs(in_dims: Any, args: tuple[Any, ...], name: str) -> Any:
    if not isinstance(in_dims, int | tuple) or isinstance(in_dims, bool):
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a "
            f"(potentially nested) tuple matching the structure of inputs, got: {type(in_dims)}."
        )
    if not args:
        raise ValueError(
            f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are "
            "trying to vmap over a function with no inputs. The latter is unsupported."
        )
    flat_args, spec = tree_flatten(args)
    flat_dims = broadcast_prefix(in_dims, spec)
    if flat_dims is None:
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with "
            f"the structure of `inputs`. in_dims has structure {tree_flatten(in_dims)[1]} but "
            f"inputs has structure {spec}."
        )
    for i, (a, d) in enumerate(zip(flat_args, flat_dims)):
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input "
                "but in_dim must be either an integer dimension or None."
            )
        if not isinstance(a, Tensor):
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input "
                f"but the input is of type {type(a)}. We cannot vmap over non-Tensor arguments, "
                "please use None as the respective in_dim"
            )
        n = a.dim()
        if not -n <= d < n:
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some "
                f"input, but that input is a Tensor of dimensionality {n} so expected in_dim to "
                f"satisfy -{n} <= in_dim < {n}."
            )
        flat_dims[i] = d % n
    sizes = [a.shape[d] for a, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got "
            f"sizes {sizes} for the mapped dimension"
        )
    return sizes[0], flat_dims, flat_args, spec


def _zero_example(a: Tensor, d: int) -> Tensor:
    shape = tuple(a.shape[:d]) + tuple(a.shape[d + 1 :])
    return Tensor._wrap(np.zeros(shape, a._data.dtype), False, None, 0)


def _combine(vals: list[Any], d: Any, size: int, name: str) -> Any:
    # One output's per-example values, joined along out_dim d.
    first = vals[0]
    if d is None:
        for v in vals[1:]:
            same = v is first or (
                isinstance(v, Tensor)
                and isinstance(first, Tensor)
                and v.shape == first.shape
                and bool(np.array_equal(v._data, first._data))
            )
            if isinstance(first, Tensor) and not same:
                raise ValueError(
                    f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim "
                    "is None"
                )
        return first
    if not isinstance(first, Tensor):
        raise ValueError(
            f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(first)}. "
            "Did you mean to set out_dims= to None for output?"
        )
    if size == 0:
        n = first.dim() + 1
        if not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        shape = list(first.shape)
        shape.insert(d % n, 0)
        return Tensor._wrap(np.zeros(shape, first._data.dtype), False, None, 0)
    return stack(vals, d)
