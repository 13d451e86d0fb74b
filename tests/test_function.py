"""Custom autograd Functions (`dygrad.autograd.Function`): forward/backward, ctx features, node
names, error messages and graph lifetime, compared with PyTorch where it is installed."""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
from dygrad.autograd import Function, FunctionCtx, once_differentiable
from dygrad.autograd.function import BackwardCFunction

# --- helpers --------------------------------------------------------------------------------------


def _error(f: Callable[[], Any]) -> tuple[str, str] | None:
    try:
        f()
    except Exception as e:  # noqa: BLE001 - the type and text are what is compared
        return type(e).__name__, str(e)
    return None


def _both(scenario: Callable[[Any], Any]) -> tuple[Any, Any]:
    """Run `scenario(lib)` with dygrad and with PyTorch (skipping when torch is missing)."""
    torch = pytest.importorskip("torch")
    return scenario(dygrad), scenario(torch)


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def make_exp(lib: Any) -> type:
    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    return Exp


def make_two(lib: Any, materialize: bool = True) -> type:
    class Two(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(materialize)
            ctx.shape = x.shape
            return x * 2, x.sum()

        @staticmethod
        def backward(ctx, g_double, g_sum):
            ctx.seen = (g_double, g_sum)
            res = None
            if g_double is not None:
                res = g_double * 2
            if g_sum is not None:
                res = g_sum.expand(ctx.shape) + (0 if res is None else res)
            return res

    return Two


def make_scale(lib: Any) -> type:
    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.needs = ctx.needs_input_grad
            ctx.save_for_backward(x, w)
            ctx.k = k
            return x * w * k

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            gx = g * w * ctx.k if ctx.needs_input_grad[0] else None
            gw = g * x * ctx.k if ctx.needs_input_grad[1] else None
            return gx, gw, None

    return Scale


# --- basics ---------------------------------------------------------------------------------------


def test_exp_forward_backward_and_saved_output() -> None:
    Exp = make_exp(dygrad)
    x = dygrad.tensor([0.0, 1.0, -2.0], requires_grad=True)
    y = Exp.apply(x)
    np.testing.assert_allclose(_np(y), np.exp([0.0, 1.0, -2.0]), rtol=1e-6)
    assert y.requires_grad and not y.is_leaf
    assert type(y.grad_fn).__name__ == "ExpBackward"
    assert y.grad_fn.name() == "ExpBackward"
    assert isinstance(y.grad_fn, BackwardCFunction)
    assert isinstance(y.grad_fn, FunctionCtx)
    assert isinstance(y.grad_fn, dygrad.autograd.Node)
    assert y.grad_fn.next_functions == ((x._accumulator(), 0),)
    (saved,) = y.grad_fn.saved_tensors
    np.testing.assert_array_equal(_np(saved), _np(y))
    assert saved.grad_fn is y.grad_fn  # a saved output unpacks with this node as grad_fn
    y.backward(dygrad.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(_np(x.grad), np.exp([0.0, 1.0, -2.0]) * [1, 2, 3], rtol=1e-6)


def test_repr_of_output_and_node_match_torch() -> None:
    def scenario(lib: Any) -> tuple[str, str, str]:
        y = make_exp(lib).apply(lib.tensor([0.0, 1.0], requires_grad=True))
        node = re.sub(r"0x[0-9a-f]+", "ADDR", repr(y.grad_fn))
        return repr(y), node.replace(lib.__name__ + ".", "LIB."), y.grad_fn.name()

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours[0] == "tensor([1.0000, 2.7183], grad_fn=<ExpBackward>)"


def test_node_class_per_function_subclass() -> None:
    A = make_exp(dygrad)
    B = make_exp(dygrad)
    assert A._backward_cls is not B._backward_cls
    assert A._backward_cls.__name__ == "ExpBackward"
    assert A._backward_cls._forward_cls is A


def test_forward_runs_in_no_grad_mode() -> None:
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(dygrad.is_grad_enabled())
            y = x * 2
            seen.append(y.requires_grad)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Probe.apply(dygrad.ones(2, requires_grad=True))
    assert seen == [False, False]
    assert dygrad.is_grad_enabled()
    assert y.requires_grad


def test_no_node_without_grad() -> None:
    Exp = make_exp(dygrad)
    y = Exp.apply(dygrad.ones(2))
    assert not y.requires_grad and y.grad_fn is None
    x = dygrad.ones(2, requires_grad=True)
    with dygrad.no_grad():
        z = Exp.apply(x)
    assert not z.requires_grad and z.grad_fn is None


def test_needs_input_grad_and_non_tensor_args() -> None:
    def scenario(lib: Any) -> Any:
        Scale = make_scale(lib)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0])
        y = Scale.apply(x, w, 3.0)
        needs = y.grad_fn.needs
        y.sum().backward()
        with lib.no_grad():
            z = Scale.apply(x, w, 3.0)
        return needs, x.grad.tolist(), len(y.grad_fn.next_functions), z.requires_grad

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours == ((True, False, False), [9.0, 12.0], 2, False)


def test_needs_input_grad_without_torch() -> None:
    Scale = make_scale(dygrad)
    x = dygrad.tensor([1.0, 2.0])
    w = dygrad.tensor([3.0, 4.0], requires_grad=True)
    y = Scale.apply(x, w, 2.0)
    assert y.grad_fn.needs == (False, True, False)
    assert y.grad_fn.next_functions[0] == (None, 0)
    y.sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]


def test_ctx_attributes_reach_backward() -> None:
    class Pow(Function):
        @staticmethod
        def forward(ctx, x, p):
            ctx.p = p
            ctx.save_for_backward(x)
            return x**p

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.p * x ** (ctx.p - 1), None

    x = dygrad.tensor([2.0, 3.0], requires_grad=True)
    Pow.apply(x, 3).sum().backward()
    assert x.grad.tolist() == [12.0, 27.0]


def test_keyword_arguments_bind_to_forward_parameters() -> None:
    def scenario(lib: Any) -> Any:
        class K(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, k=2.0):
                ctx.k = k
                return x * k

            @staticmethod
            def backward(ctx, g):
                return (g * ctx.k,) + (None,) * (len(ctx.needs_input_grad) - 1)

        x = lib.ones(2, requires_grad=True)
        y = K.apply(x, k=5.0)
        needs = y.grad_fn.needs_input_grad
        y.sum().backward()
        return needs, x.grad.tolist(), K.apply(x).grad_fn.needs_input_grad

    ours, theirs = _both(scenario)
    assert ours == theirs == ((True, False), [5.0, 5.0], (True,))


def test_input_used_twice_accumulates() -> None:
    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

    x = dygrad.tensor([3.0], requires_grad=True)
    Mul.apply(x, x).backward(dygrad.ones(1))
    assert x.grad.tolist() == [6.0]


def test_function_inside_a_larger_graph() -> None:
    def scenario(lib: Any) -> Any:
        Exp = make_exp(lib)
        x = lib.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=lib.float64, requires_grad=True)
        y = (Exp.apply(x * 2) + x).tanh().sum(0)
        y.backward(lib.tensor([1.0, -2.0], dtype=lib.float64))
        return x.grad.numpy().copy()

    ours, theirs = _both(scenario)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_nested_function_in_forward_is_not_recorded() -> None:
    Exp = make_exp(dygrad)

    class Outer(Function):
        @staticmethod
        def forward(ctx, x):
            inner = Exp.apply(x)
            ctx.inner_fn = inner.grad_fn
            return inner * 1

        @staticmethod
        def backward(ctx, g):
            return g

    y = Outer.apply(dygrad.ones(2, requires_grad=True))
    assert y.grad_fn.inner_fn is None


# --- several outputs, non-differentiable outputs, materialize -------------------------------------


def test_two_outputs() -> None:
    Two = make_two(dygrad)
    x = dygrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d, s = Two.apply(x)
    assert d.grad_fn is s.grad_fn and d.grad_fn.n_outputs == 2
    assert (d.output_nr, s.output_nr) == (0, 1)
    (d.sum() * 3 + s * 10).backward()
    assert x.grad.tolist() == [16.0, 16.0, 16.0]


def test_unused_output_gets_zeros_or_none() -> None:
    def scenario(lib: Any) -> Any:
        res = []
        for materialize in (True, False):
            x = lib.tensor([1.0, 2.0], requires_grad=True)
            d, s = make_two(lib, materialize).apply(x)
            node = d.grad_fn
            d.sum().backward()
            g_d, g_s = node.seen
            res.append((g_d.tolist(), None if g_s is None else g_s.tolist(), x.grad.tolist()))
        return res

    ours, theirs = _both(scenario)
    assert ours == theirs == [([1.0, 1.0], 0.0, [2.0, 2.0]), ([1.0, 1.0], None, [2.0, 2.0])]


def test_materialize_false_without_torch() -> None:
    x = dygrad.tensor([1.0, 2.0], requires_grad=True)
    d, s = make_two(dygrad, False).apply(x)
    node = s.grad_fn
    s.backward()
    assert node.seen[0] is None
    assert x.grad.tolist() == [1.0, 1.0]


def make_abs_sign(lib: Any) -> type:
    class AbsSign(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            sign = x.sign()
            ctx.mark_non_differentiable(sign)
            ctx.save_for_backward(sign)
            return x.abs(), sign, x.argmax(), 7

        @staticmethod
        def backward(ctx, g, g_sign, g_idx, g_int):
            (sign,) = ctx.saved_tensors
            ctx.seen = (g_sign.tolist(), g_idx.tolist(), g_int, sign.requires_grad)
            return g * sign

    return AbsSign


def test_mark_non_differentiable_and_integer_outputs() -> None:
    def scenario(lib: Any) -> Any:
        x = lib.tensor([-1.5, 2.0], requires_grad=True)
        a, sign, idx, seven = make_abs_sign(lib).apply(x)
        node = a.grad_fn
        flags = [(t.requires_grad, t.grad_fn is None) for t in (a, sign, idx)]
        a.sum().backward()
        return flags, seven, node.seen, x.grad.tolist()

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours[0] == [(True, False), (False, True), (False, True)]
    assert ours[2] == ([0.0, 0.0], 0, None, False)


# --- inputs returned, modified in place -----------------------------------------------------------


def make_identity(lib: Any) -> type:
    class Identity(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    return Identity


def test_input_returned_unchanged_is_a_new_alias() -> None:
    def scenario(lib: Any) -> Any:
        Identity = make_identity(lib)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = Identity.apply(x)
        alias = (y is x, y.requires_grad, type(y.grad_fn).__name__)
        y.sum().backward()
        z = lib.tensor([1.0])
        w = Identity.apply(z)
        with lib.no_grad():
            v = Identity.apply(x)
        return alias, x.grad.tolist(), (w is z, w.requires_grad), (v is x, v.requires_grad)

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours[0] == (False, True, "IdentityBackward")


def test_identity_output_shares_memory() -> None:
    x = dygrad.tensor([1.0, 2.0], requires_grad=True)
    y = make_identity(dygrad).apply(x)
    assert np.shares_memory(y.detach().numpy(), x.detach().numpy())
    assert y._version == x._version


def make_double_inplace(lib: Any) -> type:
    class DoubleInplace(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    return DoubleInplace


def test_mark_dirty() -> None:
    def scenario(lib: Any) -> Any:
        DoubleInplace = make_double_inplace(lib)
        leaf = lib.tensor([1.0, 2.0], requires_grad=True)
        a = leaf.clone()
        out = DoubleInplace.apply(a)
        res = (out is a, type(a.grad_fn).__name__, a.tolist())
        a.sum().backward()
        err = _error(lambda: DoubleInplace.apply(leaf))
        return res, leaf.grad.tolist(), err

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours[0] == (True, "DoubleInplaceBackward", [2.0, 4.0])
    assert ours[2] == (
        "RuntimeError",
        "a leaf Variable that requires grad has been used in an in-place operation.",
    )


def test_mark_dirty_under_no_grad_returns_detached_alias() -> None:
    def scenario(lib: Any) -> Any:
        a = lib.tensor([1.0, 2.0], requires_grad=True).clone()
        before = type(a.grad_fn).__name__
        with lib.no_grad():
            out = make_double_inplace(lib).apply(a)
        return out is a, out.requires_grad, type(a.grad_fn).__name__ == before, a.tolist()

    ours, theirs = _both(scenario)
    assert ours == theirs == (False, False, True, [2.0, 4.0])


def test_dirty_tensor_must_be_returned() -> None:
    def scenario(lib: Any) -> Any:
        class Bad(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x * 2

        return _error(lambda: Bad.apply(lib.ones(2, requires_grad=True).clone()))

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours is not None and "marked as dirty" in ours[1]


# --- gradients returned by backward ---------------------------------------------------------------


def _backward_returning(lib: Any, result: Callable[[Any, Any], Any], n_inputs: int = 1) -> Any:
    class Ret(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, *rest):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return result(lib, g)

    x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    rest = (lib.ones(3, requires_grad=True), 5)[: n_inputs - 1]
    err = _error(lambda: Ret.apply(x, *rest).sum().backward())
    return err, None if x.grad is None else (x.grad.tolist(), str(x.grad.dtype))


BACKWARD_RESULTS: dict[str, tuple[Callable[[Any, Any], Any], int]] = {
    "too_few": (lambda lib, g: g, 2),
    "too_many": (lambda lib, g: (g, g, g), 2),
    "extra_none_ok": (lambda lib, g: (g, None, None), 1),
    "tuple_of_one": (lambda lib, g: (g,), 1),
    "non_tensor_arg_grad": (lambda lib, g: (g, g, g), 3),
    "float_grad": (lambda lib, g: 2.0, 1),
    "list_grad": (lambda lib, g: [g], 1),
    "wrong_shape": (lambda lib, g: lib.ones(4), 1),
    "broadcast_shape": (lambda lib, g: lib.ones(2, 3, dtype=lib.float64), 1),
    "float32_grad_for_double": (lambda lib, g: g.float() * 2, 1),
    "int_grad": (lambda lib, g: lib.ones(3, dtype=lib.int64), 1),
    "none_grad": (lambda lib, g: None, 1),
}


@pytest.mark.parametrize("case", sorted(BACKWARD_RESULTS))
def test_backward_results_checked_like_torch(case: str) -> None:
    fn, n = BACKWARD_RESULTS[case]
    ours, theirs = _both(lambda lib: _backward_returning(lib, fn, n))
    assert ours == theirs


def test_backward_result_errors_without_torch() -> None:
    err, _ = _backward_returning(dygrad, lambda lib, g: g, 2)
    assert err == (
        "RuntimeError",
        "function RetBackward returned an incorrect number of gradients (expected 2, got 1)",
    )
    err, _ = _backward_returning(dygrad, lambda lib, g: lib.ones(4), 1)
    assert err == (
        "RuntimeError",
        "Function RetBackward returned an invalid gradient at index 0 - got [4] but expected "
        "shape compatible with [3]",
    )
    err, _ = _backward_returning(dygrad, lambda lib, g: (g, g, g), 3)
    assert err is not None and "at position 3" in err[1]
    err, got = _backward_returning(dygrad, lambda lib, g: lib.ones(2, 3, dtype=lib.float64), 1)
    assert err is None and got == ([2.0, 2.0, 2.0], "torch.float64")


def test_grad_for_input_not_requiring_grad_is_dropped_unchecked() -> None:
    class Loose(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, dygrad.ones(7)  # b needs no grad: its (wrong-shaped) gradient is ignored

    a = dygrad.ones(3, requires_grad=True)
    Loose.apply(a, dygrad.ones(3)).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0]


def test_missing_forward_or_backward_and_legacy_call() -> None:
    def scenario(lib: Any) -> Any:
        class NoBackward(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        class NoForward(lib.autograd.Function):
            pass

        x = lib.ones(2, requires_grad=True)
        with pytest.warns(DeprecationWarning, match="should not be instantiated"):
            instance = NoBackward()
        return (
            _error(lambda: NoBackward.apply(x).sum().backward()),
            _error(lambda: NoForward.apply(x)),
            _error(lambda: instance(x)),
        )

    ours, theirs = _both(scenario)
    assert ours == theirs


def test_save_for_backward_rejects_non_tensors() -> None:
    def scenario(lib: Any) -> Any:
        class S(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        return _error(lambda: S.apply(lib.ones(2, requires_grad=True)))

    ours, theirs = _both(scenario)
    assert (
        ours
        == theirs
        == (
            "TypeError",
            "save_for_backward can only save variables, but argument 1 is of type int",
        )
    )


def test_save_none_and_intermediate() -> None:
    class Mid(Function):
        @staticmethod
        def forward(ctx, x):
            mid = x * 3
            ctx.save_for_backward(None, mid)
            return mid.sin()

        @staticmethod
        def backward(ctx, g):
            none, mid = ctx.saved_tensors
            assert none is None
            return g * mid.cos() * 3

    x = dygrad.tensor([0.1, 0.2], dtype=dygrad.float64, requires_grad=True)
    Mid.apply(x).sum().backward()
    np.testing.assert_allclose(_np(x.grad), 3 * np.cos(3 * np.array([0.1, 0.2])))


# --- saved tensors: freeing and versions ----------------------------------------------------------


def test_saved_tensors_freed_after_backward() -> None:
    def scenario(lib: Any) -> Any:
        Exp = make_exp(lib)
        x = lib.tensor([0.5], requires_grad=True)
        y = Exp.apply(x)
        y.backward(retain_graph=True)
        y.backward()
        after = _error(lambda: y.grad_fn.saved_tensors)
        again = _error(lambda: y.backward())
        z = make_identity(lib).apply(x)
        z.backward()
        return after, again, _error(lambda: z.backward()), _error(lambda: z.grad_fn.saved_tensors)

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert ours[0] is not None and ours[0][1].startswith("Trying to backward through the graph")
    assert ours[2] is None  # nothing saved: a second backward is allowed, as in PyTorch


def test_saved_tensors_freed_without_torch() -> None:
    Exp = make_exp(dygrad)
    y = Exp.apply(dygrad.tensor([0.5], requires_grad=True))
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.grad_fn.saved_tensors


def make_save_input(lib: Any) -> type:
    class SaveInput(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 + x * 0

    return SaveInput


def test_modified_in_place_errors_match_torch() -> None:
    def scenario(lib: Any) -> Any:
        leaf = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = make_exp(lib).apply(leaf)
        y.add_(1)
        saved_output = _error(lambda: y.sum().backward())
        a = leaf * 1
        z = make_save_input(lib).apply(a)
        a.mul_(2)
        saved_nonleaf = _error(lambda: z.sum().backward())
        w = make_save_input(lib).apply(leaf)
        with lib.no_grad():
            leaf.mul_(1)
        saved_leaf = _error(lambda: w.sum().backward())
        return saved_output, saved_nonleaf, saved_leaf

    ours, theirs = _both(scenario)
    assert ours == theirs
    assert "[torch.FloatTensor [3]], which is output 0 of Exp, is at version 1" in ours[0][1]


def test_modified_in_place_without_torch() -> None:
    y = make_exp(dygrad).apply(dygrad.tensor([1.0, 2.0], requires_grad=True))
    y.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --- higher derivatives ---------------------------------------------------------------------------


def test_double_backward_through_tensor_op_backward() -> None:
    Exp = make_exp(dygrad)
    x = dygrad.tensor([0.5, -1.0], dtype=dygrad.float64, requires_grad=True)
    (gx,) = dygrad.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
    assert gx.requires_grad
    np.testing.assert_allclose(_np(gx), np.exp([0.5, -1.0]))
    (ggx,) = dygrad.autograd.grad(gx.sum(), x)
    np.testing.assert_allclose(_np(ggx), np.exp([0.5, -1.0]))
    assert dygrad.autograd.gradgradcheck(Exp.apply, (x,))


def test_double_backward_matches_torch() -> None:
    def scenario(lib: Any) -> Any:
        Scale = make_scale(lib)
        x = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([2.0, 3.0], dtype=lib.float64, requires_grad=True)
        y = (Scale.apply(x, w, 1.5) ** 2).sum()
        gx, gw = lib.autograd.grad(y, (x, w), create_graph=True)
        hx, hw = lib.autograd.grad((gx * gw).sum(), (x, w))
        return [t.detach().numpy().copy() for t in (gx, gw, hx, hw)]

    ours, theirs = _both(scenario)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_backward_receives_raw_or_recording_tensors() -> None:
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen.append((type(g).__name__, dygrad.is_grad_enabled()))
            return g * 2

    x = dygrad.ones(2, requires_grad=True)
    dygrad.autograd.grad(Probe.apply(x).sum(), x)
    dygrad.autograd.grad(Probe.apply(x).sum(), x, create_graph=True)
    assert seen == [("Tensor", False), ("Tensor", True)]


def make_once(lib: Any) -> type:
    class ExpOnce(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        @once_differentiable if lib is dygrad else lib.autograd.function.once_differentiable
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            ctx.grad_mode = lib.is_grad_enabled()
            return g * y

    return ExpOnce


def test_once_differentiable() -> None:
    ExpOnce = make_once(dygrad)
    x = dygrad.tensor([0.5, 1.0], dtype=dygrad.float64, requires_grad=True)
    y = ExpOnce.apply(x)
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), np.exp([0.5, 1.0]))
    go = dygrad.ones(2, dtype=dygrad.float64, requires_grad=True)
    y = ExpOnce.apply(x)
    node = y.grad_fn
    (gx,) = dygrad.autograd.grad(y, x, go, create_graph=True)
    assert node.grad_mode is False  # the backward itself ran without recording
    assert gx.requires_grad and type(gx.grad_fn).__name__ == "Error"
    with pytest.raises(RuntimeError, match="trying to differentiate twice a function that was "
                       "marked with @once_differentiable"):  # fmt: skip
        gx.sum().backward()


def test_once_differentiable_first_order_matches_torch() -> None:
    def scenario(lib: Any) -> Any:
        x = lib.tensor([0.5, 1.0], dtype=lib.float64, requires_grad=True)
        go = lib.ones(2, dtype=lib.float64, requires_grad=True)
        (gx,) = lib.autograd.grad(make_once(lib).apply(x), x, go, create_graph=True)
        (plain,) = lib.autograd.grad(make_once(lib).apply(x).sum(), x, create_graph=True)
        return gx.tolist(), gx.requires_grad, plain.requires_grad

    ours, theirs = _both(scenario)
    assert ours == theirs


# --- PyTorch 2 style, vjp ------------------------------------------------------------------------


def test_setup_context_style() -> None:
    def scenario(lib: Any) -> Any:
        class Mul(lib.autograd.Function):
            @staticmethod
            def forward(x, y, scale=2.0):
                return x * y * scale

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, y, scale = inputs
                ctx.save_for_backward(x, y)
                ctx.scale = scale

            @staticmethod
            def backward(ctx, g):
                x, y = ctx.saved_tensors
                return g * y * ctx.scale, g * x * ctx.scale, None

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0, 4.0], requires_grad=True)
        Mul.apply(x, y).sum().backward()
        Mul.apply(x, y, scale=1.0).sum().backward()
        return x.grad.tolist(), y.grad.tolist()

    ours, theirs = _both(scenario)
    assert ours == theirs == ([9.0, 12.0], [3.0, 6.0])


def test_vjp_alias_and_both_defined() -> None:
    class ViaVjp(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 4

        @staticmethod
        def vjp(ctx, g):
            return g * 4

    x = dygrad.ones(2, requires_grad=True)
    ViaVjp.apply(x).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]

    class Both(ViaVjp):
        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="Implementing both 'backward' and 'vjp'"):
        Both.apply(x).sum().backward()


# --- graph lifetime -------------------------------------------------------------------------------


@pytest.mark.parametrize("maker", [make_exp, make_double_inplace, make_identity, make_save_input])
def test_graph_freed_without_cycle_collector(maker: Callable[[Any], type]) -> None:
    fn = maker(dygrad)
    gc.collect()
    gc.disable()
    try:
        x = dygrad.tensor([1.0, 2.0], requires_grad=True)
        y = fn.apply(x.clone() if maker is make_double_inplace else x)
        node_ref = weakref.ref(y.grad_fn)
        out_ref = weakref.ref(y)
        del y
        assert node_ref() is None and out_ref() is None
        y = fn.apply(x.clone() if maker is make_double_inplace else x)
        node_ref = weakref.ref(y.grad_fn)
        y.sum().backward(retain_graph=True)
        del y
        assert node_ref() is None
    finally:
        gc.enable()


def test_two_output_graph_freed_without_cycle_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        d, s = make_two(dygrad).apply(dygrad.ones(3, requires_grad=True))
        node_ref = weakref.ref(d.grad_fn)
        del d
        assert node_ref() is not None  # s still holds the node
        del s
        assert node_ref() is None
    finally:
        gc.enable()


def test_long_chain_of_functions() -> None:
    class AddOne(Function):
        @staticmethod
        def forward(ctx, x):
            return x + 1

        @staticmethod
        def backward(ctx, g):
            return g

    x = dygrad.zeros(1, requires_grad=True)
    y = x
    for _ in range(20000):
        y = AddOne.apply(y)
    y.backward(dygrad.ones(1))
    assert x.grad.tolist() == [1.0] and y.tolist() == [20000.0]


def test_tensor_hook_and_retain_grad_on_function_output() -> None:
    Two = make_two(dygrad)
    x = dygrad.tensor([1.0, 2.0], requires_grad=True)
    d, s = Two.apply(x)
    d.retain_grad()
    d.register_hook(lambda g: g * 10)
    (d.sum() + s).backward()
    assert d.grad.tolist() == [10.0, 10.0]  # as in PyTorch, .grad is retained after hooks
    assert x.grad.tolist() == [21.0, 21.0]
