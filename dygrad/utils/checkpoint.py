"""Activation checkpointing (`torch.utils.checkpoint`): run part of a model without keeping what its
backward needs, and recompute that part, with the same random draws, when backward gets there."""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad, state
from ..autograd.graph import (
    SavedRecord,
    current_saved_hooks,
    pack_saved,
    saved_grad_fn,
    saved_tensors_hooks,
    unpack_saved,
)
from ..backend import generator
from ..backward import backward
from ..dtypes import from_numpy_dtype, pt_name
from ..nn.modules.container import Sequential
from ..ops.registry import stale_message
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError", "noop_context_fn"]


class CheckpointError(RuntimeError):
    """Raised when the recomputation saved other tensors than the original forward did."""


def noop_context_fn() -> tuple[Any, Any]:
    """The default `context_fn` of `checkpoint`: no context around the forward or the
    recomputation (`torch.utils.checkpoint.noop_context_fn`).

    >>> fwd, rec = noop_context_fn()
    >>> with fwd, rec:
    ...     pass
    """
    return contextlib.nullcontext(), contextlib.nullcontext()


_WARN_CHECKPOINT = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting in "
    "PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants."
)
_WARN_SEQUENTIAL = (
    "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed "
    "explicitly. In version 2.9 we will raise an exception if use_reentrant is not passed. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants."
)


def checkpoint(
    function: Callable[..., Any],
    *args: Any,
    use_reentrant: bool | None = None,
    preserve_rng_state: bool = True,
    context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    **kwargs: Any,
) -> Any:
    """Run `function(*args, **kwargs)` keeping none of the values its backward needs, and run it
    again during backward to get them (`torch.utils.checkpoint.checkpoint`): memory for compute.

    `use_reentrant` picks the variant, as in PyTorch; leaving it out warns, as PyTorch 2.13
    does, and means True. `use_reentrant=False` (recommended) records the forward's graph with
    its saved tensors replaced by placeholders (saved-tensor hooks), recomputes the whole
    function the first time backward needs one of them, and hands each value over once: it
    works with `autograd.grad`, `inputs=`, keyword arguments, and `create_graph=True` (double
    backward through the region). `early_stop` ends a recomputation once it has every value;
    `determinism_check="default"` compares their shapes and dtypes with the forward's
    (`"none"`: no check); `context_fn()` gives two context managers, one entered around the
    forward and one around each recomputation. `debug` is accepted and adds nothing.
    `use_reentrant=True` is a custom Function that runs the forward under `no_grad` and, in
    backward, reruns it on detached inputs and calls `backward` on it: gradients reach
    parameters through that inner backward, so it needs an input that requires grad, takes no
    keyword arguments and gives no second derivatives. (PyTorch raises when it runs inside
    `autograd.grad` or `backward(inputs=...)`; dygrad cannot detect that, and there the
    parameters used in `function` receive `.grad` as a side effect.)

    With `preserve_rng_state` (default) the random generator is put back to its state at the
    forward for the recomputation, so dropout draws the same mask, and restored afterwards.
    Tensor inputs are kept (through any saved-tensor hooks open at the call) and checked for
    in-place changes when the recomputation uses them.

    >>> import dygrad as torch
    >>> from dygrad.utils.checkpoint import checkpoint
    >>> w = torch.tensor([[1.0, -1.0], [2.0, 0.5]], requires_grad=True)
    >>> x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    >>> y = checkpoint(lambda a: (a @ w).relu().sum(), x, use_reentrant=False)
    >>> y.backward(); x.grad, w.grad
    (tensor([[1., 2.]]), tensor([[1., 0.],
            [2., 0.]]))
    """
    if use_reentrant is None:
        warnings.warn(_WARN_CHECKPOINT, UserWarning, stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError(
                "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
            )
        return _CheckpointFunction.apply(function, preserve_rng_state, *args)
    if determinism_check not in ("default", "none"):
        raise ValueError(
            f"determinism_check should be one of ['default', 'none'], but got {determinism_check}"
        )
    forward_ctx, recompute_ctx = context_fn()
    if not state.enabled:
        with forward_ctx:  # nothing is saved without grad mode: nothing to recompute
            return function(*args, **kwargs)
    frame = _Frame(function, args, kwargs, preserve_rng_state, recompute_ctx,
                   determinism_check == "default", early_stop)  # fmt: skip
    with forward_ctx, saved_tensors_hooks(frame.pack, frame.unpack):
        return function(*args, **kwargs)


def checkpoint_sequential(
    functions: Any,
    segments: int,
    input: Any,  # noqa: A002 - PyTorch's name
    use_reentrant: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Run `functions` (an `nn.Sequential` or a list of modules or functions) one after another
    on `input`, in `segments` chunks, all but the last checkpointed
    (`torch.utils.checkpoint.checkpoint_sequential`): only the chunks' inputs stay in memory.
    `preserve_rng_state` is the only keyword argument; leaving out `use_reentrant` warns and
    means True, as in PyTorch 2.13.

    >>> import dygrad as torch
    >>> from dygrad.utils.checkpoint import checkpoint_sequential
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    >>> x = torch.randn(3, 4, requires_grad=True)
    >>> out = checkpoint_sequential(model, 2, x, use_reentrant=False)
    >>> torch.allclose(out, model(x))
    True
    """
    if use_reentrant is None:
        warnings.warn(_WARN_SEQUENTIAL, UserWarning, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if isinstance(functions, Sequential):
        functions = list(functions.children())

    def run_function(start: int, end: int, functions: Any) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    x = input
    segment_size = len(functions) // segments
    # The last chunk runs plainly: backward reaches it first, its values are needed at once.
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        x = checkpoint(run_function(start, end, functions), x,
                       use_reentrant=use_reentrant, preserve_rng_state=preserve)  # fmt: skip
    return run_function(end + 1, len(functions) - 1, functions)(x)


# ---------------------------------------------------------------------------------------------
# use_reentrant=False: saved tensors become placeholders; the first unpack recomputes them all


class _StopRecomputationError(Exception):
    pass


class _Holder:
    # What the forward's pack hook returns in place of a tensor: its position in the order of
    # saving. The frame holds it weakly, so values of nodes already freed are not recomputed.
    __slots__ = ("idx", "__weakref__")

    def __init__(self, idx: int) -> None:
        self.idx = idx


def _meta(t: Tensor) -> dict[str, Any]:
    return {"shape": tuple(t._data.shape), "dtype": from_numpy_dtype(t._data.dtype)}


class _Input:
    """A tensor input of a checkpointed function, kept for the recomputation: through the
    saved-tensor hooks open when `checkpoint` was called (a checkpoint inside another, or
    `save_on_cpu`), else as the tensor and its version."""

    __slots__ = ("tensor", "version", "rec", "req")

    def __init__(self, t: Tensor, hooks: Any) -> None:
        self.req = t._requires_grad
        self.tensor: Tensor | None = None
        self.rec: SavedRecord | None = None
        if hooks is not None:
            edge = t._edge() if t._requires_grad else (None, 0)
            self.rec = pack_saved(hooks, t, t._vc, *edge)
        else:
            self.tensor = t
            self.version = t._vc[0]

    def load(self) -> Tensor:
        # A leaf over the input's data that requires grad as the input did, so that the
        # recomputation records (and saves) exactly what the forward did.
        t = self.tensor
        if t is None:
            rec = self.rec
            assert rec is not None
            if rec.box is not None and rec.box[0] != rec.version:
                _stale(rec.shape, rec.dtype, saved_grad_fn(rec), rec.nr, rec.box[0], rec.version)
            x = Tensor._wrap(unpack_saved(rec, Tensor, False), False, None, 0)
        else:
            if t._vc[0] != self.version:
                _stale(t._data.shape, t._data.dtype, t.grad_fn, t._out_nr, t._vc[0], self.version)
            x = t.detach()
        if self.req:
            x.requires_grad_(True)
        return x


def _stale(shape: Any, dtype: Any, fn: Any, nr: int, now: int, expected: int) -> None:
    desc = f"[torch.{pt_name(from_numpy_dtype(dtype))}Tensor {list(shape)}]"
    raise RuntimeError(stale_message(desc, fn, nr, now, expected))


class _Frame:
    """One call of `checkpoint(use_reentrant=False)`: what it takes to run the function again,
    and the values that recomputation produced, each handed over once."""

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        preserve: bool,
        recompute_ctx: Any,
        check: bool,
        early_stop: bool,
    ) -> None:
        hooks = current_saved_hooks()
        self.fn = fn
        self.args = [_Input(a, hooks) if isinstance(a, Tensor) else a for a in args]
        self.kwargs = kwargs
        self.rng = generator().bit_generator.state if preserve else None
        self.recompute_ctx = recompute_ctx
        self.check = check
        self.early_stop = early_stop
        self.holders: list[weakref.ReferenceType[_Holder]] = []
        self.metas: list[dict[str, Any]] = []
        self.recomputed: dict[int, Tensor] = {}

    def pack(self, t: Tensor) -> _Holder:
        h = _Holder(len(self.holders))
        self.holders.append(weakref.ref(h))
        self.metas.append(_meta(t))
        return h

    def unpack(self, h: _Holder) -> Tensor:
        got = self.recomputed.pop(h.idx, None)
        if got is None:
            # First use in this backward (or a later backward, with retain_graph=True).
            self.recompute()
            got = self.recomputed.pop(h.idx, None)
            if got is None:
                raise CheckpointError(
                    "torch.utils.checkpoint: the recomputation did not produce the tensor saved "
                    f"at position {h.idx} during the original forward pass."
                )
        return got

    def recompute(self) -> None:
        args = [a.load() if type(a) is _Input else a for a in self.args]
        n = len(self.holders)
        alive = [w() is not None for w in self.holders]
        got: dict[int, Tensor] = {}
        mismatched: list[str] = []
        count = 0

        def pack(t: Tensor) -> None:
            nonlocal count
            i = count
            count += 1
            if i >= n:
                raise CheckpointError(
                    "torch.utils.checkpoint: trying to save more tensors during recomputation "
                    "than during the original forward pass."
                )
            if alive[i]:
                if self.check and _meta(t) != self.metas[i]:
                    mismatched.append(
                        f"tensor at position {i}:\nsaved metadata: {self.metas[i]}\n"
                        f"recomputed metadata: {_meta(t)}\n"
                    )
                got[i] = t.detach()
            if self.early_stop and count == n:
                raise _StopRecomputationError

        def unpack(_: None) -> Any:
            raise RuntimeError("torch.utils.checkpoint: the recomputed graph is not for backward")

        gen = generator()
        outer = gen.bit_generator.state if self.rng is not None else None
        if self.rng is not None:
            gen.bit_generator.state = self.rng
        try:
            with saved_tensors_hooks(pack, unpack), enable_grad(), self.recompute_ctx:
                self.fn(*args, **self.kwargs)
        except _StopRecomputationError:
            pass
        finally:
            if outer is not None:
                gen.bit_generator.state = outer
        if count != n:
            raise CheckpointError(
                "torch.utils.checkpoint: A different number of tensors was saved during the "
                f"original forward and recomputation.\nNumber of tensors saved during forward: "
                f"{n}\nNumber of tensors saved during recomputation: {count}."
            )
        if mismatched:
            raise CheckpointError(
                "torch.utils.checkpoint: Recomputed values for the following tensors have "
                "different metadata than during the forward pass.\n" + "".join(mismatched)
            )
        self.recomputed = got


# ---------------------------------------------------------------------------------------------
# use_reentrant=True: a custom Function whose backward reruns the forward and calls backward


def _check_backward_validity(inputs: Iterable[Any]) -> None:
    if not any(isinstance(a, Tensor) and a.requires_grad for a in inputs):
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None",
            UserWarning,
            stacklevel=4,
        )


def _detach(a: Any) -> Any:
    if not isinstance(a, Tensor):
        return a
    x = a.detach()
    x.requires_grad_(a.requires_grad)
    return x


class _CheckpointFunction(Function):
    @staticmethod
    def forward(ctx: Any, run_function: Callable[..., Any], preserve: bool, *args: Any) -> Any:
        _check_backward_validity(args)
        ctx.run_function = run_function
        ctx.rng = generator().bit_generator.state if preserve else None
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        return run_function(*args)  # Function.apply runs this with grad mode off

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        gen = generator()
        outer = gen.bit_generator.state if ctx.rng is not None else None
        if ctx.rng is not None:
            gen.bit_generator.state = ctx.rng
        try:
            detached = [_detach(a) for a in inputs]
            with enable_grad():
                outputs = ctx.run_function(*detached)
        finally:
            if outer is not None:
                gen.bit_generator.state = outer
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        outs, gs = [], []
        for o, g in zip(outputs, grads):
            if isinstance(o, Tensor) and o.requires_grad:
                outs.append(o)
                gs.append(g)
        if not outs:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        backward(outs, gs)
        return (None, None, *[a.grad if isinstance(a, Tensor) else None for a in detached])
