"""Derivatives of whole functions (`torch.autograd.functional`): `vjp`, `jvp`, `jacobian`,
`hessian`, `hvp`, `vhp`, built on `dygrad.autograd.grad` and forward-mode dual tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..creation import from_numpy, zeros, zeros_like
from ..functions import stack
from ..ops.shape import alias
from ..tensor import Tensor
from . import forward_ad as fwAD
from .api import grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

Tensors = tuple[Tensor, ...]
_STRATEGIES = ("forward-mode", "reverse-mode")


# --- argument handling ------------------------------------------------------------------------
def _tupled(x: Any, what: str, fn: str) -> tuple[bool, Tensors]:
    """(whether `x` was a tuple, `x` as a tuple of tensors), or PyTorch's TypeError."""
    was_tuple = isinstance(x, tuple)
    xs = x if was_tuple else (x,)
    for i, el in enumerate(xs):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if was_tuple else f"the given {what}"
            raise TypeError(
                f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but "
                f"{where} has type {type(el)}."
            )
    return was_tuple, xs


def _untupled(res: Any, was_tuple: bool | tuple[bool, bool]) -> Any:
    """Undo `_tupled` on a result: one flag for a flat tuple, (outer, inner) for a nested one."""
    if isinstance(was_tuple, tuple):
        outer, inner = was_tuple
        if not inner:
            res = tuple(r[0] for r in res)
        return res if outer else res[0]
    return res if was_tuple else res[0]


def _own(xs: Tensors, create_graph: bool, need_graph: bool) -> Tensors:
    # Fresh tensor objects, so that differentiating with respect to them counts only the paths
    # through func's arguments, not the same tensors captured by func's closure. They keep
    # their history only when the caller wants results differentiable back to them.
    return tuple(
        alias(x) if create_graph and x._requires_grad else x.detach().requires_grad_(need_graph)
        for x in xs
    )


def _check_v(v: Tensors, ref: Tensors, ref_is_tuple: bool) -> None:
    if len(v) != len(ref):
        if ref_is_tuple:
            raise RuntimeError(
                f"v is a tuple of invalid length: should be {len(ref)} but got {len(v)}."
            )
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, ref)):
        if a.shape != b.shape:
            entry = f"Entry {i} in " if ref_is_tuple else ""
            raise RuntimeError(f"{entry}v has invalid size: should be {b.shape} but got {a.shape}.")


def _v_or_check(v: Any, fn: str) -> Tensors | None:
    # Type-check v before any work is done; its sizes are checked once they are known.
    return None if v is None else _tupled(v, "v", fn)[1]


def _needs_single_input(inputs: Tensors) -> None:
    if len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError(
            "The vector v can only be None if the input to the user-provided function is a "
            "single Tensor with a single element."
        )


def _check_scalar_output(out: Any, out_tuple: bool, fn: str) -> None:
    if out_tuple:
        raise RuntimeError(f"The function given to {fn} should return a single Tensor")
    if out.numel() != 1:
        raise RuntimeError(
            f"The Tensor returned by the function given to {fn} should contain a single element"
        )


# --- strict-mode checks -----------------------------------------------------------------------
def _strict_requires_grad(xs: tuple[Tensor | None, ...], kind: str, strict: bool) -> None:
    """In strict mode, raise PyTorch's error when one of `xs` is not differentiable."""
    if not strict:
        return
    for i, x in enumerate(xs):
        if x is None:
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}. This is "
                "not allowed in strict mode."
            )
        if x._requires_grad:
            continue
        if kind == "outputs":
            raise RuntimeError(
                f"Output {i} of the user-provided function does not require gradients. The "
                "outputs must be computed in a differentiable manner from the input when running "
                "in strict mode."
            )
        if kind == "grad_inputs":
            raise RuntimeError(
                f"The gradient with respect to input {i} is independent of the inputs of the "
                "user-provided function. This is not allowed in strict mode."
            )
        raise RuntimeError(  # kind == "jacobian", while computing a Hessian
            "While computing the hessian, found that the jacobian of the user-provided function "
            f"with respect to input {i} is independent of the input. This is not allowed in "
            "strict mode. You should ensure that your function is twice differentiable and that "
            "the jacobian depends on the inputs (this would be violated by a linear function for "
            "example)."
        )


_INDEPENDENT = {
    "back": "The output of the user-provided function is independent of input {i}. This is not "
    "allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
    "grad_outputs when using the double backward trick to compute forward mode gradients. This "
    "is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
    "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} "
    "in the grad_jacobian. This is not allowed in strict mode as it prevents from using the "
    "double backward trick to replace forward mode AD.",
}


def _zeros_for_none(
    gs: tuple[Tensor | None, ...], refs: Tensors, strict: bool, create_graph: bool, stage: str
) -> Tensors:
    """Missing gradients become zeros shaped like `refs`, or PyTorch's error in strict mode."""
    res = []
    for i, (g, ref) in enumerate(zip(gs, refs)):
        if g is None:
            if strict:
                raise RuntimeError(_INDEPENDENT[stage].format(i=i))
            g = zeros_like(ref)
        elif strict and create_graph and not g._requires_grad:
            what = "hessian" if stage.startswith("double") else "jacobian"
            raise RuntimeError(
                f"The {what} of the user-provided function is independent of input {i}. This is "
                "not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    return tuple(res)


# --- gradients --------------------------------------------------------------------------------
def _grads(
    outputs: tuple[Tensor | None, ...],
    inputs: Tensors,
    grad_outputs: tuple[Tensor | None, ...] | None = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> tuple[Tensor | None, ...]:
    """`grad` that skips outputs which are None or not differentiable (all of them: all None)."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    keep = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o._requires_grad]
    if not keep:
        return (None,) * len(inputs)
    outs, gos = zip(*keep)
    return grad(outs, inputs, gos, retain_graph=retain_graph, create_graph=create_graph,
                allow_unused=True)  # fmt: skip


def _finish(xs: Any, create_graph: bool) -> Any:
    """Results leave without history unless the caller asked for a differentiable result."""
    if create_graph:
        return xs
    if isinstance(xs, Tensor):
        return xs.detach()
    return tuple(_finish(x, create_graph) for x in xs)


def _one_hot(ref: Tensor, k: int) -> Tensor:
    # The k-th basis vector of ref's (flattened) space, shaped and typed like ref.
    e = np.zeros(ref._data.size, ref._data.dtype)
    e[k] = 1
    return from_numpy(e.reshape(ref._data.shape))


def _rows_to_jacobian(rows: list[Tensor], out: Tensor, inp: Tensor, dtype: Any) -> Tensor:
    """Stack the gradients of out's elements (each shaped like inp) into out.shape + inp.shape."""
    shape = (*out.shape, *inp.shape)
    if not rows:
        return zeros(shape, dtype=dtype)
    if len(rows) == 1:
        # One row (a scalar output, as in every Hessian): no stack, so a forward-over-reverse
        # Hessian needs no forward rule for it.
        r = rows[0]
        return r if tuple(r.shape) == shape else r.reshape(shape)
    return stack(rows).reshape(shape)


# --- public API -------------------------------------------------------------------------------
def vjp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """The output of `func(*inputs)` and the product of `v` with its Jacobian, shaped like
    `inputs` (`torch.autograd.functional.vjp`). `v` may be omitted for a one-element output.

    >>> import dygrad as torch
    >>> from dygrad.autograd.functional import vjp
    >>> x = torch.tensor([[0., 1.], [2., 3.]])
    >>> vjp(lambda x: (x ** 2).sum(dim=1), x, torch.tensor([1., -1.]))
    (tensor([ 1., 13.]), tensor([[ 0.,  2.],
            [-4., -6.]]))
    >>> vjp(lambda x, y: 2 * x + 3 * y, (x[0], x[1]), torch.ones(2))[1]
    (tensor([2., 2.]), tensor([3., 3.]))
    """
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", "vjp")
        vs = _v_or_check(v, "vjp")
        inputs = _own(inputs, create_graph, need_graph=True)
        out_tuple, outputs = _tupled(func(*inputs), "outputs of the user-provided function", "vjp")
        _strict_requires_grad(outputs, "outputs", strict)
        if vs is not None:
            vs = _own(vs, create_graph, need_graph=False)
            _check_v(vs, outputs, out_tuple)
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the user-provided function returns a single "
                "Tensor with a single element."
            )
    with set_grad_enabled(create_graph or is_grad_enabled()):
        res = _grads(outputs, inputs, vs, create_graph=create_graph)
        res = _zeros_for_none(res, inputs, strict, create_graph, "back")
    return (_untupled(_finish(outputs, create_graph), out_tuple),
            _untupled(_finish(res, create_graph), in_tuple))  # fmt: skip


def jvp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """The output of `func(*inputs)` and the product of its Jacobian with `v`, shaped like the
    output (`torch.autograd.functional.jvp`). `v` may be omitted for a one-element input.
    Computed, like PyTorch, by differentiating a vector-Jacobian product with respect to its
    vector (the "double backward trick"), so every op with a backward rule works.

    >>> import dygrad as torch
    >>> from dygrad.autograd.functional import jvp
    >>> x = torch.tensor([[0., 1.], [2., 3.]])
    >>> jvp(lambda x: (x ** 2).sum(dim=1), x, torch.ones(2, 2))
    (tensor([ 1., 13.]), tensor([ 2., 10.]))
    >>> jvp(lambda x, y: (x * y, x + y), (x[0], x[1]), (torch.ones(2), torch.zeros(2)))[1]
    (tensor([2., 3.]), tensor([1., 1.]))
    """
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", "jvp")
        vs = _v_or_check(v, "jvp")
        inputs = _own(inputs, create_graph, need_graph=True)
        if vs is not None:
            vs = _own(vs, create_graph, need_graph=False)
            _check_v(vs, inputs, in_tuple)
        else:
            _needs_single_input(inputs)
        out_tuple, outputs = _tupled(func(*inputs), "outputs of the user-provided function", "jvp")
        _strict_requires_grad(outputs, "outputs", strict)
        # u -> J^T u is linear in u, so its derivative in u (J, transposed back) does not depend
        # on the value of u: zeros will do. Only differentiable outputs get one.
        us = tuple(zeros_like(o, requires_grad=True) if o._requires_grad else None for o in outputs)
        grad_inputs = _grads(outputs, inputs, us, create_graph=True)
        _strict_requires_grad(grad_inputs, "grad_inputs", strict)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        live = tuple(u for u in us if u is not None)
        got = iter(_grads(grad_inputs, live, vs, create_graph=create_graph) if live else ())
        res = tuple(None if u is None else next(got) for u in us)
        res = _zeros_for_none(res, outputs, strict, create_graph, "back_trick")
    return (_untupled(_finish(outputs, create_graph), out_tuple),
            _untupled(_finish(res, create_graph), out_tuple))  # fmt: skip


def _jacfwd(func: Callable[..., Any], inputs: Any, strict: bool, vectorize: bool) -> Any:
    """The Jacobian by forward mode: one dual pass per basis vector of the inputs' space."""
    if strict:
        raise RuntimeError(
            'torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` '
            "are not supported together (yet). Please either set `strict=False` or "
            '`strategy="reverse-mode"`.'
        )
    in_tuple, inputs = _tupled(inputs, "inputs", "jacobian")
    if not vectorize:
        # dygrad has no vmap and loops either way, but keeps PyTorch's contract.
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is only "
            "implemented for `vectorize=True`."
        )
    what = "outputs of the user-provided function"
    # cols[i][j][k]: d(output i)/d(element k of input j), shaped like output i.
    cols: list[list[list[Tensor]]] | None = None
    outputs: Tensors = ()
    out_tuple = False
    for j, inp in enumerate(inputs):
        for k in range(inp.numel()):
            with fwAD.dual_level():
                duals = tuple(
                    fwAD.make_dual(x, _one_hot(x, k) if jj == j else zeros_like(x))
                    for jj, x in enumerate(inputs)
                )
                out_tuple, outs = _tupled(func(*duals), what, "jacobian")
                unpacked = [fwAD.unpack_dual(o) for o in outs]
            outputs = tuple(p for p, _ in unpacked)
            if cols is None:
                cols = [[[] for _ in inputs] for _ in outs]
            for i, (p, t) in enumerate(unpacked):
                cols[i][j].append(zeros_like(p) if t is None else t.detach())
    if cols is None:  # no input has any element: func runs once, for the outputs' shapes
        out_tuple, outputs = _tupled(func(*inputs), what, "jacobian")
        cols = [[[] for _ in inputs] for _ in outputs]
    jac = tuple(
        tuple(
            # The columns stack on a new last axis, laid out as the input's shape.
            zeros((*o.shape, *x.shape), dtype=o.dtype)
            if not c
            else stack(c, dim=-1).reshape((*o.shape, *x.shape))
            for c, x in zip(cols_i, inputs)
        )
        for cols_i, o in zip(cols, outputs)
    )
    return _untupled(jac, (out_tuple, in_tuple))


def jacobian(
    func: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of `func` at `inputs` (`torch.autograd.functional.jacobian`): a tensor shaped
    `output.shape + input.shape`, a tuple of them when either the inputs or the outputs are a
    tuple, and a tuple of tuples (`[i][j]`: output i, input j) when both are.

    `strategy="forward-mode"` pushes one tangent per input element through `func` (cheaper when
    outputs outnumber inputs); like PyTorch it needs `vectorize=True`. dygrad has no vmap and
    loops over rows (or columns) either way: `vectorize` changes no value, only, as in PyTorch,
    which options go with it and that a reverse-mode row covers all outputs in one pass.

    >>> import dygrad as torch
    >>> from dygrad.autograd.functional import jacobian
    >>> x = torch.tensor([1., 2.])
    >>> jacobian(lambda x: x ** 2, x)
    tensor([[2., 0.],
            [0., 4.]])
    >>> jacobian(lambda x, y: x * y, (x, torch.tensor([3., 4.])))
    (tensor([[3., 0.],
            [0., 4.]]), tensor([[1., 0.],
            [0., 2.]]))
    >>> jacobian(lambda x: x.exp(), torch.zeros(2), vectorize=True, strategy="forward-mode")
    tensor([[1., 0.],
            [0., 1.]])
    """
    if strategy not in _STRATEGIES:
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either set '
                '`create_graph=False` or `strategy="reverse-mode"`.'
            )
        return _jacfwd(func, inputs, strict, vectorize)
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", "jacobian")
        if vectorize and strict:  # PyTorch raises this after running func; dygrad before
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                "supported together. Please either set `strict=False` or `vectorize=False`."
            )
        inputs = _own(inputs, create_graph, need_graph=True)
        what = "outputs of the user-provided function"
        out_tuple, outputs = _tupled(func(*inputs), what, "jacobian")
        _strict_requires_grad(outputs, "outputs", strict)
        jac = []
        for i, out in enumerate(outputs):
            rows: list[list[Tensor]] = [[] for _ in inputs]
            for k in range(out.numel()):
                # Row k: the gradient of out's k-th element, as a vjp with the k-th basis vector.
                # Vectorized, PyTorch takes each row of all outputs at once, with zeros for the
                # other outputs; a zero block it returns then still has a graph, and so does ours.
                if vectorize:
                    gs = _grads(outputs, inputs, tuple(
                        _one_hot(o, k) if ii == i else zeros_like(o) for ii, o in enumerate(outputs)
                    ), create_graph, retain_graph=True)  # fmt: skip
                else:
                    gs = _grads((out,), inputs, (_one_hot(out, k),), create_graph, True)
                for j, (g, x) in enumerate(zip(gs, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(
                                f"Output {i} of the user-provided function is independent of "
                                f"input {j}. This is not allowed in strict mode."
                            )
                        g = zeros_like(x)
                    elif strict and create_graph and not g._requires_grad:
                        raise RuntimeError(
                            "The jacobian of the user-provided function is independent of input "
                            f"{j}. This is not allowed in strict mode when create_graph=True."
                        )
                    rows[j].append(g)
            jac.append(tuple(_rows_to_jacobian(r, out, x, x.dtype) for r, x in zip(rows, inputs)))
        return _untupled(_finish(tuple(jac), create_graph), (out_tuple, in_tuple))


def hessian(
    func: Callable[..., Any],
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of a scalar function (`torch.autograd.functional.hessian`): a tensor shaped
    `input.shape + input.shape`, or for a tuple of inputs a tuple of tuples, `[i][j]` shaped
    `inputs[i].shape + inputs[j].shape`. It is the Jacobian of the gradient; the gradient is
    always taken in reverse mode, the outer Jacobian by `outer_jacobian_strategy`
    ("forward-mode" needs `vectorize=True`, as in PyTorch).

    >>> import dygrad as torch
    >>> from dygrad.autograd.functional import hessian
    >>> hessian(lambda x: (x ** 3).sum(), torch.tensor([1., 2.]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    >>> h = hessian(lambda x, y: (x * y).sum(), (torch.ones(1), torch.ones(1)))
    >>> h[0][1], h[1][1]
    (tensor([[1.]]), tensor([[0.]]))
    """
    in_tuple, inputs = _tupled(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _STRATEGIES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*xs: Tensor) -> Tensor:
        out = func(*xs)
        out_tuple, outs = _tupled(out, "outputs of the user-provided function", "hessian")
        _strict_requires_grad(outs, "outputs", strict)
        _check_scalar_output(out, out_tuple, "hessian")
        return out if out.ndim == 0 else out.reshape(())

    def grad_func(*xs: Tensor) -> Tensors:
        if outer_jacobian_strategy == "forward-mode":
            # The dual inputs must be differentiated in reverse mode inside: keep their tangents
            # (which detaching would drop) by marking them as requiring grad.
            xs = tuple(x if x._requires_grad else x.requires_grad_(True) for x in xs)
        g = jacobian(scalar_func, xs, create_graph=True)
        _strict_requires_grad(g, "jacobian", strict)
        return g

    res = jacobian(grad_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)  # fmt: skip
    return _untupled(res, (in_tuple, in_tuple))


def vhp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """The output of a scalar `func(*inputs)` and the product of `v` with its Hessian, shaped like
    `inputs` (`torch.autograd.functional.vhp`): a gradient of the gradient, two backward passes.

    >>> import dygrad as torch
    >>> from dygrad.autograd.functional import vhp
    >>> vhp(lambda x: (x ** 3).sum(), torch.tensor([1., 2.]), torch.tensor([1., -1.]))
    (tensor(9.), tensor([  6., -12.]))
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(
    func: Callable[..., Any],
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """The output of a scalar `func(*inputs)` and the product of its Hessian with `v`, shaped like
    `inputs` (`torch.autograd.functional.hvp`). Equal to `vhp` for twice continuously
    differentiable functions, whose Hessian is symmetric; computed, like PyTorch, by the double
    backward trick (three backward passes), so `vhp` is cheaper when the two agree.

    >>> import dygrad as torch
    >>> from dygrad.autograd.functional import hvp
    >>> hvp(lambda x, y: (x * x * y).sum(), (torch.tensor([1.]), torch.tensor([2.])),
    ...     (torch.tensor([1.]), torch.tensor([0.])))
    (tensor(2.), (tensor([4.]), tensor([2.])))
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(
    func: Callable[..., Any], inputs: Any, v: Any, create_graph: bool, strict: bool, fn: str
) -> tuple[Any, Any]:
    with enable_grad():
        in_tuple, inputs = _tupled(inputs, "inputs", fn)
        vs = _v_or_check(v, fn)
        inputs = _own(inputs, create_graph, need_graph=True)
        if vs is not None:
            vs = _own(vs, create_graph, need_graph=False)
            _check_v(vs, inputs, in_tuple)
        else:
            _needs_single_input(inputs)
        out = func(*inputs)
        out_tuple, outputs = _tupled(out, "outputs of the user-provided function", fn)
        _strict_requires_grad(outputs, "outputs", strict)
        _check_scalar_output(out, out_tuple, fn)
        g = _grads(outputs, inputs, create_graph=True)
        _strict_requires_grad(g, "jacobian", strict)
        if fn == "hvp":
            # H v = d/du <J^T u, v> with J^T u = H^T u linear in u: zeros will do for u.
            us = tuple(zeros_like(x, requires_grad=True) for x in inputs)
            hu = _grads(g, inputs, us, create_graph=True)
    with set_grad_enabled(create_graph or is_grad_enabled()):
        if fn == "hvp":
            res = _grads(hu, us, vs, create_graph=create_graph)
            res = _zeros_for_none(res, inputs, strict, create_graph, "double_back_trick")
        else:
            res = _grads(g, inputs, vs, create_graph=create_graph)
            res = _zeros_for_none(res, inputs, strict, create_graph, "double_back")
    return (_untupled(_finish(outputs, create_graph), out_tuple),
            _untupled(_finish(res, create_graph), in_tuple))  # fmt: skip
