"""`gradcheck` and `gradgradcheck`: analytical gradients (vector-Jacobian products from
`dygrad.autograd.grad`) against central finite differences, with PyTorch's semantics and
messages. Built on dygrad's public API only."""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..creation import from_numpy, rand, zeros_like
from ..dtypes import float64
from ..tensor import Tensor
from .api import grad as _grad
from .function import Function

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]

FAILED_NONDET_MSG = """\n
NOTE: If your op relies on non-deterministic operations i.e., it is listed here:
https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html
this failure might be expected.

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `nondet_tol=<tol>` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_nondet_tol=<tol>`.
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_nondet_tol=<tol>`
"""

FAST_FAIL_SLOW_OK_MSG = """
Fast gradcheck failed but element-wise differences are small. This means that the
test might've passed in slow_mode!

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck:

If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `fast_mode=False` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_fast_mode=False`
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_fast_mode=False`
""".strip()


class GradcheckError(RuntimeError):
    """Raised by `gradcheck` and `gradgradcheck` when a check fails
    (`torch.autograd.GradcheckError`).

    >>> issubclass(GradcheckError, RuntimeError)
    True
    """


# --- helpers --------------------------------------------------------------------------------------


def _as_tuple(x: Any) -> tuple[Any, ...]:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _is_float_tensor(x: Any) -> bool:
    return isinstance(x, Tensor) and x.is_floating_point()


def _differentiable_outputs(x: Any) -> tuple[Tensor, ...]:
    return tuple(o for o in _as_tuple(x) if o.requires_grad)


def _diff_inputs(inputs: tuple[Any, ...]) -> tuple[list[int], list[Tensor]]:
    pairs = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    return [i for i, _ in pairs], [t for _, t in pairs]


def _array(t: Tensor) -> np.ndarray:
    """The tensor's values as an array sharing its memory (writes bump no version counter)."""
    return t.detach().numpy()


def _show(a: Any) -> Tensor:
    return from_numpy(np.array(a))


def _stacklevel() -> int:
    # Warnings point at the first caller outside this module (gradcheck may be reached through
    # gradgradcheck or the callable module).
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def _check_inputs(inputs: tuple[Any, ...]) -> None:
    any_requires_grad = False
    for idx, inp in enumerate(inputs):
        if isinstance(inp, Tensor) and inp.requires_grad:
            if inp.dtype != float64:
                warnings.warn(
                    f"Input #{idx} requires gradient and is not a double precision floating point "
                    "or complex. This check will likely fail if all the inputs are not of double "
                    "precision floating point or complex. ",
                    stacklevel=_stacklevel(),
                )
            if not all(st > 0 or sz <= 1 for st, sz in zip(inp.stride(), inp.size())):
                raise RuntimeError(
                    f"The {idx}th input has a dimension with stride 0. gradcheck only supports "
                    "inputs that are non-overlapping to be able to compute the numerical "
                    "gradients correctly. You should call .contiguous on the input before "
                    "passing it to gradcheck."
                )
            any_requires_grad = True
    if not any_requires_grad:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them "
            "have requires_grad=True."
        )


def _check_same_dtype_and_shape(a: Tensor, b: Tensor, eps: float, idx: Any = None) -> None:
    on_index = f"on index {idx} " if idx is not None else ""
    if a.shape != b.shape:
        raise AssertionError(
            "Expected `func` to return outputs with the same shape when inputs are perturbed "
            f"{on_index}by {eps}, but got: shapes {a.shape} and {b.shape}."
        )
    if a.dtype != b.dtype:
        raise AssertionError(
            "Expected `func` to return outputs with the same dtype when inputs are perturbed "
            f"{on_index}by {eps}, but got: dtypes {a.dtype} and {b.dtype}."
        )


def _run(func: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    # Outputs may alias the perturbed input: keep detached copies.
    return tuple(
        o.detach().clone() if isinstance(o, Tensor) else o for o in _as_tuple(func(*inputs))
    )


def _central_difference(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    arr: np.ndarray,
    idx: Any,
    delta: Any,
    eps: float,
    keep: Sequence[int],
) -> list[np.ndarray]:
    """(f(x + delta) - f(x - delta)) / (2 eps) for the outputs at positions `keep`, flattened,
    perturbing `arr[idx]` (the memory of one input) in place and restoring it exactly."""
    orig = arr[idx].copy()
    arr[idx] = orig - delta
    outa = _run(func, inputs)
    arr[idx] = orig + delta
    outb = _run(func, inputs)
    arr[idx] = orig
    res = []
    for k in keep:
        a, b = outa[k], outb[k]
        _check_same_dtype_and_shape(a, b, eps, None if idx is Ellipsis else idx)
        res.append(((b.numpy() - a.numpy()) / (2 * eps)).reshape(-1))
    return res


def _numerical_jacobian(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    func_out: tuple[Any, ...],
    eps: float,
    keep: Sequence[int],
) -> list[list[np.ndarray]]:
    """[input][output] Jacobians of shape (input numel, output numel), one column of the
    transposed Jacobian per perturbed input element, in the output's dtype."""
    res = []
    for inp in _diff_inputs(inputs)[1]:
        arr = _array(inp)
        jacs = [np.zeros((arr.size, func_out[k].numel()), _array(func_out[k]).dtype) for k in keep]
        for d_idx, idx in enumerate(np.ndindex(arr.shape)):
            cols = _central_difference(func, inputs, arr, idx, eps, eps, keep)
            for jac, col in zip(jacs, cols):
                jac[d_idx] = col
        res.append(jacs)
    return res


def _vjps(output: Tensor, diff_inputs: list[Tensor], v: np.ndarray) -> list[np.ndarray | None]:
    gs = _grad(output, diff_inputs, from_numpy(v), retain_graph=True, allow_unused=True)
    return [None if g is None else _array(g).copy() for g in gs]


def _analytical_jacobian(
    inputs: tuple[Any, ...],
    output: Tensor,
    nondet_tol: float,
    check_grad_dtypes: bool,
    v: np.ndarray | None = None,
) -> list[np.ndarray]:
    """[input] Jacobians of `output` (input numel, output numel), built row by row from
    vector-Jacobian products with one-hot vectors; with `v`, the single product v^T J. Computed
    twice to check that backward is deterministic."""
    diff = _diff_inputs(inputs)[1]
    dt = _array(output).dtype
    shape = tuple(output.shape)
    if v is None:
        n = output.numel()
        vectors = []
        for j in range(n):
            e = np.zeros(n, dt)
            e[j] = 1
            vectors.append(e.reshape(shape))
    else:
        n = 1
        vectors = [v.astype(dt).reshape(shape)]
    jacs = []
    sizes_ok = types_ok = True
    for _ in range(2):
        rows = [_vjps(output, diff, vec) for vec in vectors]
        cur = []
        for i, inp in enumerate(diff):
            in_dt = _array(inp).dtype
            jac = np.zeros((inp.numel(), n), in_dt)
            for j, row in enumerate(rows):
                g = row[i]
                if g is None:
                    continue
                if g.shape != tuple(inp.shape):
                    sizes_ok = False
                    continue
                if g.dtype != in_dt:
                    types_ok = False
                jac[:, j] = g.reshape(-1)
            cur.append(jac)
        jacs.append(cur)
    if not types_ok and check_grad_dtypes:
        raise GradcheckError("Gradient has dtype mismatch")
    if not sizes_ok:
        raise GradcheckError("Analytical gradient has incorrect size")
    for j1, j2 in zip(*jacs):
        if j1.size and np.abs(j1 - j2).max() > nondet_tol:
            raise GradcheckError(
                "Backward is not reentrant, i.e., running backward with same input and "
                "grad_output multiple times gives different values, although analytical "
                f"gradient matches numerical gradient.The tolerance for nondeterminism was "
                f"{nondet_tol}." + FAILED_NONDET_MSG
            )
    return jacs[0]


def _allclose(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _notallclose_msg(a: Any, n: Any, output_idx: int, input_idx: int) -> str:
    return (
        f"Jacobian mismatch for output {output_idx:d} with respect to input {input_idx:d},\n"
        f"numerical:{_show(n)}\nanalytical:{_show(a)}\n"
    )


def _check_no_differentiable_outputs(
    func: Callable[..., Any], inputs: tuple[Any, ...], func_out: tuple[Any, ...], eps: float
) -> None:
    keep = [k for k, o in enumerate(func_out) if _is_float_tensor(o)]
    for jacs in _numerical_jacobian(func, inputs, func_out, eps, keep):
        for jac in jacs:
            if np.count_nonzero(jac):
                raise GradcheckError("Numerical gradient for function expected to be zero")


# --- slow and fast modes --------------------------------------------------------------------------


def _slow_gradcheck(
    func: Callable[..., Any],
    func_out: tuple[Any, ...],
    inputs: tuple[Any, ...],
    outputs: tuple[Tensor, ...],
    eps: float,
    rtol: float,
    atol: float,
    check_grad_dtypes: bool,
    nondet_tol: float,
) -> None:
    if not outputs:
        _check_no_differentiable_outputs(func, inputs, func_out, eps)
        return
    keep = [k for k, o in enumerate(func_out) if isinstance(o, Tensor) and o.requires_grad]
    numerical = _numerical_jacobian(func, inputs, func_out, eps, keep)
    for i, o in enumerate(outputs):
        analytical = _analytical_jacobian(inputs, o, nondet_tol, check_grad_dtypes)
        for j, a in enumerate(analytical):
            n = numerical[j][i]
            if not _allclose(a, n, rtol, atol):
                raise GradcheckError(_notallclose_msg(a, n, i, j))


def _unit_vector(n: int, dtype: Any, rng: np.random.Generator) -> np.ndarray:
    v = rng.random(n).astype(dtype)
    return v / np.linalg.norm(v)


def _fast_gradcheck(
    func: Callable[..., Any],
    func_out: tuple[Any, ...],
    inputs: tuple[Any, ...],
    outputs: tuple[Tensor, ...],
    eps: float,
    rtol: float,
    atol: float,
    check_grad_dtypes: bool,
    nondet_tol: float,
) -> None:
    # Compares v^T J u computed both ways for random unit vectors u (per input) and v (per
    # output), instead of whole Jacobians (https://github.com/pytorch/pytorch/issues/53876).
    rng = np.random.default_rng(67280421310721)  # PyTorch's default generator seed
    inp_idx, diff = _diff_inputs(inputs)
    all_u = [_unit_vector(t.numel(), _array(t).dtype, rng) for t in diff]
    all_v = [_unit_vector(o.numel(), _array(o).dtype, rng) for o in outputs]
    keep = [k for k, o in enumerate(func_out) if isinstance(o, Tensor) and o.requires_grad]
    if not outputs:
        keep_f = [k for k, o in enumerate(func_out) if _is_float_tensor(o)]
        for t, u in zip(diff, all_u):
            arr = _array(t)
            for jvp in _central_difference(func, inputs, arr, ..., (u * eps).reshape(arr.shape),
                                           eps, keep_f):  # fmt: skip
                if jvp.size and np.abs(jvp).max() > nondet_tol:
                    raise GradcheckError("Numerical gradient for function expected to be zero")
    numerical = []  # [input][output] v^T (J u)
    for t, u in zip(diff, all_u):
        arr = _array(t)
        ju = _central_difference(func, inputs, arr, ..., (u * eps).reshape(arr.shape), eps, keep)
        numerical.append([(v * j).sum() for v, j in zip(all_v, ju)])
    analytical = []  # [output][input] (v^T J) u
    for o, v in zip(outputs, all_v):
        vjs = _analytical_jacobian(inputs, o, nondet_tol, check_grad_dtypes, v=v)
        analytical.append([vj[:, 0].dot(u) for vj, u in zip(vjs, all_u)])
    for i, per_input in enumerate(numerical):
        for j, n in enumerate(per_input):
            a = analytical[j][i]
            tol = atol * float(all_u[i].sum()) * float(all_v[j].sum())
            if not _allclose(np.asarray(a), np.asarray(n), rtol, tol):
                slow = _slow_mode_report(func, inputs, func_out, outputs, i, j, rtol, atol, eps)
                raise GradcheckError(_notallclose_msg(a, n, j, i) + slow)


def _slow_mode_report(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    func_out: tuple[Any, ...],
    outputs: tuple[Tensor, ...],
    input_idx: int,
    output_idx: int,
    rtol: float,
    atol: float,
    eps: float,
) -> str:
    keep = [k for k, o in enumerate(func_out) if isinstance(o, Tensor) and o.requires_grad]
    n = _numerical_jacobian(func, inputs, func_out, eps, keep)[input_idx][output_idx]
    a = _analytical_jacobian(inputs, outputs[output_idx], float("inf"), False)[input_idx]
    max_diff = np.abs(n - a).max() if n.size else np.zeros((), n.dtype)
    msg = (
        "\nThe above quantities relating the numerical and analytical jacobians are computed \n"
        "in fast mode. See: https://github.com/pytorch/pytorch/issues/53876 for more background \n"
        "about fast mode. Below, we recompute numerical and analytical jacobians in slow mode:\n\n"
        f"Numerical:\n {_show(n)}\n"
        f"Analytical:\n{_show(a)}\n\n"
        f"The max per-element difference (slow mode) is: {_show(max_diff)}.\n"
    )
    if _allclose(a, n, rtol, atol):
        msg += FAST_FAIL_SLOW_OK_MSG
    return msg


# --- checks on the backward itself ----------------------------------------------------------------


def _test_backward_mul_by_grad_output(outputs: tuple[Tensor, ...], inputs: tuple[Any, ...]) -> None:
    diff = _diff_inputs(inputs)[1]
    if not diff:
        raise GradcheckError("no Tensors requiring grad found in input")
    if not outputs:
        return
    zeros = [zeros_like(o) for o in outputs]
    for gi, di in zip(_grad(list(outputs), diff, zeros, allow_unused=True), diff):
        if gi is None:
            continue
        if not bool((gi == 0).all()):
            raise GradcheckError("backward not multiplied by grad_output")
        if gi.dtype != di.dtype:
            raise GradcheckError("grad is incorrect type")
        if gi.shape != di.shape:
            raise GradcheckError("grad is incorrect size")


class _UndefinedGrad(Function):
    # Passes its input through and sends back no gradient: the producer sees an undefined one.
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> None:
        return None


def _warn_bc_breaking() -> None:
    warnings.warn(
        "Backwards compatibility: New undefined gradient support checking feature is enabled by "
        "default, but it may break existing callers of this function. If this is true for you, "
        'you can call this function with "check_undefined_grad=False" to disable the feature',
        stacklevel=_stacklevel(),
    )


def _test_undefined_backward_mode(
    func: Callable[..., Any], outputs: tuple[Tensor, ...], inputs: tuple[Any, ...]
) -> None:
    diff = _diff_inputs(inputs)[1]
    if not diff:
        raise GradcheckError("no Tensors requiring grad found in input")

    def check(outs: Sequence[Tensor]) -> None:
        if not outs:
            return
        try:
            gis = _grad(outs, diff, [zeros_like(o) for o in outs], allow_unused=True)
        except RuntimeError as e:
            _warn_bc_breaking()
            raise GradcheckError(
                "Expected backward function to handle undefined output grads. Please look at "
                '"Notes about undefined output gradients" in "tools/autograd/derivatives.yaml"'
            ) from e
        for gi in gis:
            if gi is not None and not bool((gi == 0).all()):
                _warn_bc_breaking()
                raise GradcheckError(
                    "Expected all input grads to be undefined or zero when all output grads are "
                    'undefined or zero. Please look at "Notes about undefined output gradients" '
                    'in "tools/autograd/derivatives.yaml"'
                )

    to_check: list[list[Tensor]] = [
        [_UndefinedGrad.apply(o) for o in _differentiable_outputs(func(*inputs))]
    ]
    # With several outputs, leaving any one of them without a gradient must work too.
    if len(to_check[0]) > 1:
        for undef in range(len(outputs)):
            fresh = _differentiable_outputs(func(*inputs))
            to_check.append([_UndefinedGrad.apply(o) if k == undef else o
                             for k, o in enumerate(fresh)])  # fmt: skip
    for outs in to_check:
        check(outs)


# --- public API -----------------------------------------------------------------------------------


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check the gradients `func` computes against finite differences (`torch.autograd.gradcheck`).

    For every input tensor that requires grad and every differentiable output, the Jacobian
    from central differences (step `eps`, in the inputs' precision: use float64) must match the
    one built row by row from vector-Jacobian products, within `atol + rtol * |numerical|`
    elementwise. Also checks that backward is deterministic (to `nondet_tol`), scales with the
    incoming gradient, and copes with outputs that receive no gradient. `fast_mode` compares
    one random projection `v^T J u` instead of whole Jacobians. Returns True; on failure raises
    `GradcheckError`, or returns False when `raise_exception=False`. dygrad has no vmap nor
    forward-mode AD (`check_batched_grad`, `check_forward_ad` raise NotImplementedError) and
    no sparse tensors (`masked` is accepted and has no effect).

    >>> import dygrad as torch
    >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
    True
    >>> class BadSquare(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, t):
    ...         return t * t
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g  # wrong: d(t*t)/dt is 2t
    >>> torch.autograd.gradcheck(BadSquare.apply, (x,), raise_exception=False)
    False
    """
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    if check_batched_grad and not check_backward_ad:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_backward_ad to be True"
        )
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError(
            "Setting check_batched_forward_grad=True requires check_forward_ad to be True"
        )
    if check_forward_ad or check_batched_forward_grad:
        raise NotImplementedError("gradcheck: dygrad has no forward-mode AD (check_forward_ad)")
    if check_batched_grad:
        raise NotImplementedError("gradcheck: dygrad has no vmap, so check_batched_grad=True is "
                                  "not supported")  # fmt: skip
    try:
        return _gradcheck_helper(func, inputs, eps, atol, rtol, nondet_tol, check_undefined_grad,
                                 check_grad_dtypes, fast_mode)  # fmt: skip
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck_helper(
    func: Callable[..., Any],
    inputs: Any,
    eps: float,
    atol: float,
    rtol: float,
    nondet_tol: float,
    check_undefined_grad: bool,
    check_grad_dtypes: bool,
    fast_mode: bool,
) -> bool:
    tupled_inputs = _as_tuple(inputs)
    _check_inputs(tupled_inputs)
    func_out = _as_tuple(func(*tupled_inputs))
    outputs = _differentiable_outputs(func_out)
    check = _fast_gradcheck if fast_mode else _slow_gradcheck
    check(func, func_out, tupled_inputs, outputs, eps, rtol, atol, check_grad_dtypes, nondet_tol)
    _test_backward_mul_by_grad_output(outputs, tupled_inputs)
    if check_undefined_grad:
        _test_undefined_backward_mode(func, outputs, tupled_inputs)
    return True


def _make_grad_output(t: Tensor, noncontiguous: bool) -> Tensor:
    # Uniform in [-1, 1), like torch.testing.make_tensor(low=-1, high=1).
    dt = t.dtype if t.is_floating_point() else float64
    values = _array(rand(tuple(t.shape), dtype=dt) * 2 - 1)
    if noncontiguous and values.size > 1:
        shape = values.shape
        buf = np.zeros((*shape[:-1], shape[-1] * 2), values.dtype)
        values_view = buf[..., ::2]
        values_view[...] = values
        values = values_view
    return from_numpy(values).requires_grad_()


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second derivatives: `gradcheck` applied to the map from (inputs, grad_outputs) to
    the gradients `autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)`
    (`torch.autograd.gradgradcheck`). Without `grad_outputs`, random ones in [-1, 1) are drawn
    from dygrad's generator (non-contiguous with `gen_non_contig_grad_outputs`).

    >>> import dygrad as torch
    >>> x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    >>> w = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradgradcheck(lambda a, b: (a @ b).tanh(), (x, w))
    True
    """
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    if check_undefined_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_undefined_grad=True requires check_rev_over_rev to be True"
        )
    if check_batched_grad and not check_rev_over_rev:
        raise AssertionError(
            "Setting check_batched_grad=True requires check_rev_over_rev to be True"
        )
    tupled_inputs = _as_tuple(inputs)
    if grad_outputs is None:
        outs = _differentiable_outputs(func(*tupled_inputs))
        tupled_grad_outputs = tuple(_make_grad_output(o, gen_non_contig_grad_outputs)
                                    for o in outs)  # fmt: skip
    else:
        tupled_grad_outputs = _as_tuple(grad_outputs)
    num_outputs = len(tupled_grad_outputs)
    diff_input_idx = {i for i, x in enumerate(tupled_inputs)
                      if isinstance(x, Tensor) and x.requires_grad}  # fmt: skip
    diff_grad_output_idx = {i for i, x in enumerate(tupled_grad_outputs) if x.requires_grad}

    def new_func(*args: Any) -> tuple[Tensor, ...]:
        input_args = tuple(x.requires_grad_() if i in diff_input_idx else x
                           for i, x in enumerate(args[:-num_outputs]))  # fmt: skip
        outputs = _differentiable_outputs(func(*input_args))
        gos = tuple(x.requires_grad_() if i in diff_grad_output_idx else x
                    for i, x in enumerate(args[-num_outputs:]))  # fmt: skip
        diff_input_args = tuple(x for i, x in enumerate(input_args) if i in diff_input_idx)
        grads = _grad(outputs, diff_input_args, gos, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(
        new_func,
        tupled_inputs + tupled_grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        check_batched_grad=check_batched_grad,
        fast_mode=fast_mode,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        masked=masked,
    )
