"""`gradcheck` / `gradgradcheck`: they pass on correct ops, fail on wrong backwards with
PyTorch's errors and messages, and leave their inputs as they found them."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
from dygrad.autograd import Function, GradcheckError, gradcheck, gradgradcheck

D = dygrad.float64


def rand(*shape: int, seed: int = 0, lib: Any = dygrad) -> Any:
    # Values away from 0 so that abs/relu-like kinks and log/sqrt stay well inside their domains.
    rng = np.random.default_rng(seed + 17 * len(shape))
    a = rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return lib.tensor(a, dtype=lib.float64, requires_grad=True)


def pos(*shape: int, seed: int = 0) -> Any:
    t = rand(*shape, seed=seed).detach().abs()
    return t.requires_grad_()


# name -> (function, inputs): each is checked to first and second order, in slow and fast mode.
CASES: dict[str, tuple[Callable[..., Any], Callable[[], tuple[Any, ...]]]] = {
    "add_broadcast": (lambda a, b: a + b, lambda: (rand(2, 3), rand(3))),
    "mul_broadcast": (lambda a, b: a * b, lambda: (rand(2, 1, 3), rand(4, 1))),
    "div_broadcast": (lambda a, b: a / b, lambda: (rand(2, 3), rand(1, 3, seed=5))),
    "sub_scalar": (lambda a: 2.0 - a * 3, lambda: (rand(4),)),
    "pow": (lambda a: a**3, lambda: (rand(3),)),
    "pow_tensor": (lambda a, b: a**b, lambda: (pos(3), rand(3, seed=2))),
    "exp_log": (lambda a: a.exp() + a.abs().log(), lambda: (rand(2, 2),)),
    "sqrt": (lambda a: a.sqrt(), lambda: (pos(3),)),
    "tanh_sigmoid": (lambda a: a.tanh() * a.sigmoid(), lambda: (rand(5),)),
    "sin_cos": (lambda a: a.sin() * a.cos(), lambda: (rand(2, 3),)),
    "matmul_2d": (lambda a, b: a @ b, lambda: (rand(2, 3), rand(3, 4, seed=1))),
    "matmul_batched_broadcast": (lambda a, b: a @ b, lambda: (rand(2, 2, 3), rand(3, 2, seed=1))),
    "matmul_vec": (lambda a, b: a @ b, lambda: (rand(3, 4), rand(4, seed=3))),
    "softmax": (lambda a: a.softmax(-1), lambda: (rand(2, 4),)),
    "log_softmax": (lambda a: a.log_softmax(0), lambda: (rand(3, 2),)),
    "sum_mean": (lambda a: a.sum(0) * a.mean(1, keepdim=True), lambda: (rand(3, 3),)),
    "reshape_permute": (lambda a: a.reshape(3, 2, 2).permute(2, 0, 1) * 2, lambda: (rand(12),)),
    "indexing": (lambda a: a[1:, ::2] * a[0, 1:3], lambda: (rand(3, 4),)),
    "cat_stack": (lambda a, b: dygrad.cat([a, b * b]).sum(0), lambda: (rand(2, 2), rand(1, 2))),
    "two_outputs": (lambda a, b: (a * b, (a - b).exp()), lambda: (rand(3), rand(3, seed=9))),
    "non_tensor_arg": (lambda a, k: a * k, lambda: (rand(3), 2.5)),
    "zero_dim": (lambda a: a * a.exp(), lambda: (rand(),)),
}


@pytest.mark.parametrize("fast_mode", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_passes_on_correct_ops(name: str, fast_mode: bool) -> None:
    fn, make = CASES[name]
    assert gradcheck(fn, make(), fast_mode=fast_mode) is True


@pytest.mark.parametrize("fast_mode", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck_passes_on_correct_ops(name: str, fast_mode: bool) -> None:
    fn, make = CASES[name]
    assert gradgradcheck(fn, make(), fast_mode=fast_mode) is True


def test_gradgradcheck_chains() -> None:
    x, w1, w2 = rand(3, 4), rand(4, 5, seed=1), rand(5, 2, seed=2)
    assert gradgradcheck(lambda a, b, c: ((a @ b).tanh() @ c).tanh(), (x, w1, w2))
    assert gradgradcheck(lambda a, b: (a * b).tanh() * a, (rand(4), rand(4, seed=3)))
    assert gradgradcheck(lambda a: (a @ a.T).tanh().sum(), (rand(3, 3),))


def test_single_tensor_and_list_inputs() -> None:
    x = rand(3)
    assert gradcheck(lambda a: a.sin(), x)
    assert gradcheck(lambda a, b: a * b, [x, rand(3, seed=1)])
    assert gradgradcheck(lambda a: a.sin(), x)


# --- deliberately wrong Functions -----------------------------------------------------------------


def make_bad_square(lib: Any) -> type:
    class BadSquare(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # wrong: the derivative is 2a

    return BadSquare


def make_bad_second(lib: Any) -> type:
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * g * a.detach() ** 2  # right first derivative, no second one

    return Cube


def test_wrong_backward_raises_or_returns_false() -> None:
    BadSquare = make_bad_square(dygrad)
    x = rand(3)
    with pytest.raises(GradcheckError) as info:
        gradcheck(BadSquare.apply, (x,))
    msg = str(info.value)
    assert msg.startswith(
        "Jacobian mismatch for output 0 with respect to input 0,\nnumerical:tensor("
    )
    assert "\nanalytical:tensor(" in msg and msg.endswith(")\n")
    assert isinstance(info.value, RuntimeError)
    assert gradcheck(BadSquare.apply, (x,), raise_exception=False) is False
    assert gradcheck(BadSquare.apply, (x,), fast_mode=True, raise_exception=False) is False


def test_wrong_backward_fast_mode_message() -> None:
    with pytest.raises(GradcheckError) as info:
        gradcheck(make_bad_square(dygrad).apply, (rand(3),), fast_mode=True)
    msg = str(info.value)
    assert msg.startswith("Jacobian mismatch for output 0 with respect to input 0,\nnumerical:")
    assert "computed \nin fast mode" in msg
    assert "Numerical:\n tensor([[" in msg and "The max per-element difference (slow mode)" in msg


def test_wrong_second_derivative() -> None:
    Cube = make_bad_second(dygrad)
    x = rand(3)
    assert gradcheck(Cube.apply, (x,))
    with pytest.raises(
        GradcheckError, match="Jacobian mismatch for output 0 with respect to input"
    ):
        gradgradcheck(Cube.apply, (x,))
    assert gradgradcheck(Cube.apply, (x,), raise_exception=False) is False
    assert gradgradcheck(Cube.apply, (x,), fast_mode=True, raise_exception=False) is False


def test_messages_match_torch() -> None:
    torch = pytest.importorskip("torch")

    def scenario(lib: Any) -> list[str]:
        class Pair(lib.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return a * b, a + b

            @staticmethod
            def backward(ctx, g1, g2):
                a, b = ctx.saved_tensors
                return g1 * b + g2, g1 * a  # misses g2 for b: output 1, input 1 is wrong

        a = rand(2, 2, lib=lib)
        b = rand(2, 2, seed=4, lib=lib)
        msgs = []
        for fn, args, n_out in [
            (Pair.apply, (a, b), 2),
            (make_bad_square(lib).apply, (a,), 1),
            (make_bad_second(lib).apply, (a,), 1),
        ]:
            # Fixed grad_outputs: the random ones would come from different generators.
            gos = tuple(rand(2, 2, seed=10 + k, lib=lib) for k in range(n_out))
            for check in (lib.autograd.gradcheck, lib.autograd.gradgradcheck):
                try:
                    check(fn, args) if check is lib.autograd.gradcheck else check(fn, args, gos)
                    msgs.append("passed")
                except Exception as e:  # noqa: BLE001
                    msgs.append(f"{type(e).__name__}: {e}")
        return msgs

    ours, theirs = scenario(dygrad), scenario(torch)
    assert ours == theirs
    assert ours[0].startswith(
        "GradcheckError: Jacobian mismatch for output 1 with respect to input 1"
    )


def test_backward_not_multiplied_by_grad_output() -> None:
    class Const(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            # Right for the one-hot vectors that build the Jacobian, wrong for g = 0.
            return g * 2 + (0.0 if bool((g != 0).any()) else 1.0)

    x = rand(3)
    with pytest.raises(GradcheckError, match="^backward not multiplied by grad_output$"):
        gradcheck(Const.apply, (x,))


def test_nondeterministic_backward() -> None:
    calls = [0]

    class Jitter(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            calls[0] += 1
            return g * (2 + calls[0] * 1e-12)

    with pytest.raises(GradcheckError, match="Backward is not reentrant"):
        gradcheck(Jitter.apply, (rand(3),))
    assert gradcheck(Jitter.apply, (rand(3),), nondet_tol=1e-6)


def make_strict(lib: Any) -> type:
    class Strict(lib.autograd.Function):
        # Handles one missing output gradient beside a nonzero one, not beside a zero one.
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            defined = [g for g in (g1, g2) if g is not None]
            if len(defined) < 2 and not any(bool((g != 0).any()) for g in defined):
                raise RuntimeError("cannot handle an undefined gradient")
            return (0 if g1 is None else g1 * 2) + (0 if g2 is None else g2 * 3)

    return Strict


def test_undefined_output_grads() -> None:
    Strict = make_strict(dygrad)
    x = rand(3)
    with pytest.warns(UserWarning, match="Backwards compatibility"):
        with pytest.raises(GradcheckError, match="handle undefined output grads") as info:
            gradcheck(Strict.apply, (x,))
    assert "cannot handle an undefined gradient" in str(info.value.__cause__)
    assert gradcheck(Strict.apply, (x,), check_undefined_grad=False)


def test_undefined_output_grads_like_torch() -> None:
    torch = pytest.importorskip("torch")

    def scenario(lib: Any) -> Any:
        Strict = make_strict(lib)
        x = rand(3, lib=lib)
        with pytest.warns(UserWarning, match="Backwards compatibility"):
            ok = lib.autograd.gradcheck(Strict.apply, (x,), raise_exception=False)
        return ok, lib.autograd.gradcheck(Strict.apply, (x,), check_undefined_grad=False)

    assert scenario(dygrad) == scenario(torch) == (False, True)


def test_functions_without_differentiable_outputs() -> None:
    x = rand(3)
    assert gradcheck(lambda a: a.argmax(), (x,))
    assert gradcheck(lambda a: a > 0, (x,))
    with pytest.raises(GradcheckError, match="Numerical gradient for function expected to be zero"):
        gradcheck(lambda a: a.detach() * 2, (x,))
    with pytest.raises(GradcheckError, match="Numerical gradient for function expected to be zero"):
        gradcheck(lambda a: a.detach() * 2, (x,), fast_mode=True)


# --- input checks ---------------------------------------------------------------------------------


def test_non_double_input_warns() -> None:
    x = dygrad.tensor([0.5, 1.0], requires_grad=True)
    with pytest.warns(UserWarning) as rec:
        gradcheck(lambda a: a * 2, (x,), eps=1e-3, atol=1e-3)
    msg = str(rec[0].message)
    assert msg.startswith("Input #0 requires gradient and is not a double precision floating point")
    assert rec[0].filename == __file__
    with pytest.warns(UserWarning, match="Input #0 requires gradient"):
        assert gradcheck(lambda a: a.exp(), (x,), raise_exception=False) is False


def test_double_input_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda a: a * 2, (rand(2),))


def test_no_input_requires_grad() -> None:
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        gradcheck(lambda a: a * 2, (rand(2).detach(),))


def test_overlapping_input_rejected() -> None:
    x = dygrad.ones(3, dtype=D).expand(2, 3).requires_grad_()
    with pytest.raises(RuntimeError, match="The 0th input has a dimension with stride 0"):
        gradcheck(lambda a: a * 2, (x,))


def test_unsupported_options() -> None:
    x = rand(2)
    with pytest.raises(NotImplementedError):
        gradcheck(lambda a: a * 2, (x,), check_batched_grad=True)
    with pytest.raises(NotImplementedError):
        gradcheck(lambda a: a * 2, (x,), check_forward_ad=True)
    with pytest.raises(AssertionError, match="at least one of check_forward_ad"):
        gradcheck(lambda a: a * 2, (x,), check_backward_ad=False)
    with pytest.raises(AssertionError, match="at least one of check_fwd_over_rev"):
        gradgradcheck(lambda a: a * 2, (x,), check_rev_over_rev=False)


# --- side effects ---------------------------------------------------------------------------------


def test_inputs_left_untouched() -> None:
    x, y = rand(2, 3), rand(3, seed=1)
    before = (x.detach().numpy().copy(), y.detach().numpy().copy(), x._version, y._version)
    gradcheck(lambda a, b: (a * b).tanh(), (x, y))
    gradgradcheck(lambda a, b: (a * b).tanh(), (x, y))
    gradcheck(lambda a, b: (a * b).tanh(), (x, y), fast_mode=True)
    np.testing.assert_array_equal(x.detach().numpy(), before[0])
    np.testing.assert_array_equal(y.detach().numpy(), before[1])
    assert (x._version, y._version) == before[2:]
    assert x.grad is None and y.grad is None


def test_output_aliasing_input() -> None:
    x = rand(2, 2)
    assert gradcheck(lambda a: a, (x,))
    assert gradcheck(lambda a: a.reshape(4), (x,))
    assert gradgradcheck(lambda a: a.transpose(0, 1), (x,))


def test_gradgradcheck_grad_outputs() -> None:
    x = rand(2, 3)
    go = rand(2, 3, seed=7)
    assert gradgradcheck(lambda a: a.tanh() * a, (x,), (go,))
    assert gradgradcheck(lambda a: a.tanh() * a, (x,), go.detach())  # fixed, not checked
    assert gradgradcheck(lambda a: a.tanh() * a, (x,), gen_non_contig_grad_outputs=True)


def test_public_names() -> None:
    import dygrad.autograd.gradcheck  # noqa: F401 - the submodule shares the function's name

    assert dygrad.autograd.gradcheck(lambda a: a * 3, (rand(2),))
    assert dygrad.autograd.gradgradcheck is gradgradcheck
    assert dygrad.autograd.GradcheckError is GradcheckError
    assert issubclass(GradcheckError, RuntimeError)


def test_agrees_with_torch_on_correct_ops() -> None:
    torch = pytest.importorskip("torch")
    for lib in (dygrad, torch):
        a, b = rand(2, 3, lib=lib), rand(3, 2, seed=1, lib=lib)
        assert lib.autograd.gradcheck(lambda p, q: (p @ q).softmax(-1), (a, b))
        assert lib.autograd.gradgradcheck(lambda p, q: (p @ q).tanh(), (a, b))
