"""dygrad.autograd.functional (vjp, jvp, jacobian, hessian, hvp, vhp) against
torch.autograd.functional on the same functions: values, shapes, return structure, create_graph,
strict errors, vectorize/strategy variants; and against central differences without torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import dygrad
from dygrad.autograd import functional as F

# Each function uses only tensor methods and operators, so the same lambda runs on both libraries.
# name: (func, input shapes)
CASES: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]]]] = {
    "elementwise": (lambda x: x.exp() * x.sin(), [(3,)]),
    "zero-d": (lambda x: x.cos() * x, [()]),
    "matmul": (lambda x, w: (x @ w).tanh(), [(2, 3), (3, 4)]),
    "reduction": (lambda x: (x**2).sum(dim=1), [(3, 2)]),
    "scalar": (lambda x: (x.sin() * x).mean(), [(2, 3)]),
    "multi": (lambda x, y: (x * y, (x + y).exp().sum()), [(2,), (2,)]),
    "unused-input": (lambda x, y: x * 2, [(2,), (3,)]),
    "linear": (lambda x: 3 * x, [(2, 2)]),
    "identity": (lambda x: x, [(3,)]),
    "swap": (lambda x, y: (y, x), [(2,), (3,)]),
}
# Functions with a one-element output, for hessian, hvp and vhp.
SCALAR_CASES: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]]]] = {
    "scalar": CASES["scalar"],
    "zero-d": (lambda x: x.exp() * x.sin(), [()]),
    "one-element": (lambda x: (x**3).sum().reshape(1, 1), [(2,)]),
    "quadratic-form": (lambda x, w: ((x @ w) ** 2).sum(), [(3,), (3, 2)]),
    "dot-sin": (lambda x, y: (x * y).sum().sin(), [(3,), (3,)]),
    "unused-input": (lambda x, y: (x**3).sum(), [(2,), (2,)]),
    "quadratic": (lambda x: (x * x).sum(), [(3,)]),
    "linear": (lambda x: (2 * x).sum(), [(3,)]),
}
# Functions built only from ops that have forward-mode rules already.
FW_CASES: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]]]] = {
    "elementwise": CASES["elementwise"],
    "zero-d": CASES["zero-d"],
    "pow-mix": (lambda x: x**3 + x.cos() * 2, [(2, 2)]),
    "multi": (lambda x, y: (x * y, (x + y).sin(), x.exp()), [(2,), (2,)]),
    "unused-input": CASES["unused-input"],
}
FW_SCALAR_CASES: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]]]] = {
    "zero-d": SCALAR_CASES["zero-d"],
    "two-inputs": (lambda x, y: x.exp() * y.sin() + x**3 * y, [(), ()]),
    "three-inputs": (lambda x, y, z: (x * y).cos() + z**2 * x, [(), (), ()]),
}


def _torch() -> Any:
    return pytest.importorskip("torch")


def _arrays(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, s) for s in shapes]


def _pack(lib: Any, arrs: list[np.ndarray], as_tuple: bool, requires_grad: bool = False) -> Any:
    ts = tuple(lib.tensor(a, requires_grad=requires_grad) for a in arrs)
    return ts if as_tuple or len(ts) > 1 else ts[0]


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def assert_same(got: Any, want: Any, flags: bool = True, path: str = "result") -> None:
    """Same nesting (tuple vs tensor), shapes, dtypes and values; with `flags`, the same
    requires_grad and presence of grad_fn."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple), f"{path}: got {type(got).__name__}, want a tuple"
        assert len(got) == len(want), f"{path}: length {len(got)}, want {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, flags, f"{path}[{i}]")
        return
    assert isinstance(got, dygrad.Tensor), f"{path}: got {type(got).__name__}, want a Tensor"
    assert tuple(got.shape) == tuple(want.shape), f"{path}: shape {got.shape} vs {want.shape}"
    assert str(got.dtype) == str(want.dtype), f"{path}: dtype {got.dtype} vs {want.dtype}"
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-7, atol=1e-9, err_msg=path)
    if flags:
        assert got.requires_grad == want.requires_grad, f"{path}: requires_grad"
        assert (got.grad_fn is None) == (want.grad_fn is None), f"{path}: grad_fn {got.grad_fn}"


def _flat(x: Any) -> list[Any]:
    if isinstance(x, tuple):
        return [t for el in x for t in _flat(el)]
    return [x]


def _both(
    name: str,
    call: Callable[..., Any],
    cases: dict,
    as_tuple: bool,
    seed: int = 0,
    requires_grad: bool = False,
    extra: Callable[..., Any] | None = None,
) -> tuple:
    """Run call(lib, functional, func, inputs, *extra(lib)) in dygrad and in torch."""
    torch = _torch()
    from torch.autograd import functional as TF

    func, shapes = cases[name]
    arrs = _arrays(shapes, seed)
    res = []
    for lib, mod in ((dygrad, F), (torch, TF)):
        inputs = _pack(lib, arrs, as_tuple, requires_grad)
        more = extra(lib, func, arrs) if extra else ()
        res.append((call(mod, func, inputs, *more), inputs))
    return res[0], res[1]


def _v_like_outputs(lib: Any, func: Callable[..., Any], arrs: list[np.ndarray]) -> tuple:
    # A random v shaped like func's output(s), a tensor or tuple as func returns.
    outs = func(*(dygrad.tensor(a) for a in arrs))
    single = not isinstance(outs, tuple)
    rng = np.random.default_rng(1)
    vs = tuple(lib.tensor(rng.standard_normal(tuple(o.shape))) for o in (outs,) * single or outs)
    return (vs[0] if single else vs,)


def _v_like_inputs(lib: Any, func: Callable[..., Any], arrs: list[np.ndarray]) -> tuple:
    rng = np.random.default_rng(2)
    vs = tuple(lib.tensor(rng.standard_normal(a.shape)) for a in arrs)
    return (vs[0] if len(vs) == 1 else vs,)


def _tuples(x: Any) -> Any:
    # PyTorch's forward-mode jacobian returns lists where it documents (and dygrad returns)
    # tuples; compare the structure with lists read as tuples.
    return tuple(_tuples(el) for el in x) if isinstance(x, (list, tuple)) else x


def _second_derivatives(got: Any, want: Any, d_in: Any, t_in: Any) -> None:
    """Differentiate a weighted sum of the results with respect to the inputs, in both."""
    torch = _torch()
    d_res, t_res = _flat(got), _flat(want)
    d_ins, t_ins = _flat(d_in), _flat(t_in)
    live = [i for i, t in enumerate(t_res) if t.requires_grad]
    assert live == [i for i, d in enumerate(d_res) if d.requires_grad]
    if not live:
        return
    rng = np.random.default_rng(3)
    ws = [rng.standard_normal(tuple(t_res[i].shape)) for i in live]
    d_s = sum((d_res[i] * dygrad.tensor(w)).sum() for i, w in zip(live, ws))
    t_s = sum((t_res[i] * torch.tensor(w)).sum() for i, w in zip(live, ws))
    dg = dygrad.autograd.grad(d_s, d_ins, allow_unused=True)
    tg = torch.autograd.grad(t_s, t_ins, allow_unused=True)
    for i, (a, b) in enumerate(zip(dg, tg)):
        assert (a is None) == (b is None), f"second derivative {i}: {a} vs {b}"
        if a is not None:
            assert_same(a, b, flags=False, path=f"second derivative {i}")


def _tuple_variants(cases: dict) -> list[Any]:
    # Single-input functions run with a bare tensor and with a 1-tuple (the result's structure
    # differs); multi-input ones with their tuple.
    out = []
    for name, (_, shapes) in cases.items():
        out.append(pytest.param(name, False, id=name))
        if len(shapes) == 1:
            out.append(pytest.param(name, True, id=f"{name}-tuple"))
    return out


# --- values, shapes, structure and create_graph flags against PyTorch -------------------------
CG = pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])


@CG
@pytest.mark.parametrize("name,as_tuple", _tuple_variants(CASES))
def test_vjp_matches_torch(name, as_tuple, create_graph):
    call = lambda mod, f, x, v: mod.vjp(f, x, v, create_graph=create_graph)
    (got, _), (want, _) = _both(name, call, CASES, as_tuple, extra=_v_like_outputs)
    assert_same(got, want)


@CG
@pytest.mark.parametrize("name,as_tuple", _tuple_variants(CASES))
def test_jvp_matches_torch(name, as_tuple, create_graph):
    call = lambda mod, f, x, v: mod.jvp(f, x, v, create_graph=create_graph)
    (got, _), (want, _) = _both(name, call, CASES, as_tuple, extra=_v_like_inputs)
    assert_same(got, want)


@CG
@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vectorize"])
@pytest.mark.parametrize("name,as_tuple", _tuple_variants(CASES))
def test_jacobian_matches_torch(name, as_tuple, vectorize, create_graph):
    call = lambda mod, f, x: mod.jacobian(f, x, create_graph=create_graph, vectorize=vectorize)
    (got, _), (want, _) = _both(name, call, CASES, as_tuple)
    assert_same(got, want)


@CG
@pytest.mark.parametrize("vectorize", [False, True], ids=["loop", "vectorize"])
@pytest.mark.parametrize("name,as_tuple", _tuple_variants(SCALAR_CASES))
def test_hessian_matches_torch(name, as_tuple, vectorize, create_graph):
    call = lambda mod, f, x: mod.hessian(f, x, create_graph=create_graph, vectorize=vectorize)
    (got, _), (want, _) = _both(name, call, SCALAR_CASES, as_tuple)
    assert_same(got, want)


@CG
@pytest.mark.parametrize("fn", ["hvp", "vhp"])
@pytest.mark.parametrize("name,as_tuple", _tuple_variants(SCALAR_CASES))
def test_hvp_vhp_match_torch(name, as_tuple, fn, create_graph):
    call = lambda mod, f, x, v: getattr(mod, fn)(f, x, v, create_graph=create_graph)
    (got, _), (want, _) = _both(name, call, SCALAR_CASES, as_tuple, extra=_v_like_inputs)
    assert_same(got, want)


@pytest.mark.parametrize("fn", ["vjp", "jvp", "hvp", "vhp"])
def test_v_may_be_omitted_for_one_element(fn):
    # vjp: one-element output; the others: one-element input.
    func = (lambda x: (x**3).sum()) if fn != "jvp" else (lambda x: x * x.exp())
    for cg in (False, True):
        call = lambda mod, f, x: getattr(mod, fn)(f, x, create_graph=cg)
        (got, _), (want, _) = _both("v", call, {"v": (func, [(1,)])}, as_tuple=False)
        assert_same(got, want)


# --- differentiating through create_graph results ---------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_jacobian_second_derivatives_match_torch(name):
    call = lambda mod, f, x: mod.jacobian(f, x, create_graph=True)
    (got, d_in), (want, t_in) = _both(name, call, CASES, True, requires_grad=True)
    assert_same(got, want)
    _second_derivatives(got, want, d_in, t_in)


@pytest.mark.parametrize("fn", ["vjp", "jvp"])
@pytest.mark.parametrize("name", list(CASES))
def test_vjp_jvp_second_derivatives_match_torch(name, fn):
    call = lambda mod, f, x, v: getattr(mod, fn)(f, x, v, create_graph=True)
    extra = _v_like_outputs if fn == "vjp" else _v_like_inputs
    (got, d_in), (want, t_in) = _both(name, call, CASES, True, requires_grad=True, extra=extra)
    assert_same(got, want)
    _second_derivatives(got, want, d_in, t_in)


@pytest.mark.parametrize("fn", ["hessian", "hvp", "vhp"])
@pytest.mark.parametrize("name", list(SCALAR_CASES))
def test_hessian_third_derivatives_match_torch(name, fn):
    if fn == "hessian":
        call = lambda mod, f, x: mod.hessian(f, x, create_graph=True)
        extra = None
    else:
        call = lambda mod, f, x, v: getattr(mod, fn)(f, x, v, create_graph=True)
        extra = _v_like_inputs
    (got, d_in), (want, t_in) = _both(name, call, SCALAR_CASES, True, requires_grad=True,
                                      extra=extra)  # fmt: skip
    assert_same(got, want)
    _second_derivatives(got, want, d_in, t_in)


@pytest.mark.parametrize("fn", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
def test_results_are_detached_without_create_graph(fn):
    # Inputs that require grad, create_graph=False: no history on any result, as in PyTorch.
    scalar = fn in ("hessian", "hvp", "vhp")
    name = "dot-sin" if scalar else "multi"
    extra = None
    if fn in ("vjp", "jvp", "hvp", "vhp"):
        extra = _v_like_outputs if fn == "vjp" else _v_like_inputs
    call = lambda mod, f, x, *v: getattr(mod, fn)(f, x, *v)
    (got, _), (want, _) = _both(name, call, SCALAR_CASES if scalar else CASES, True,
                                requires_grad=True, extra=extra)  # fmt: skip
    assert_same(got, want)
    assert not any(t.requires_grad for t in _flat(got))


def test_create_graph_keeps_graph_to_inputs_and_v():
    x = dygrad.tensor([0.5, -1.0], dtype=dygrad.float64, requires_grad=True)
    v = dygrad.tensor([1.0, 2.0], dtype=dygrad.float64, requires_grad=True)
    out, r = F.vjp(lambda x: x**3, x, v, create_graph=True)
    assert out.grad_fn is not None and r.grad_fn is not None
    # r = 3 x^2 v: d(sum r)/dx = 6 x v, d(sum r)/dv = 3 x^2
    gx, gv = dygrad.autograd.grad(r.sum(), (x, v))
    np.testing.assert_allclose(gx.numpy(), 6 * x.detach().numpy() * v.detach().numpy())
    np.testing.assert_allclose(gv.numpy(), 3 * x.detach().numpy() ** 2)
    out, r = F.vjp(lambda x: x**3, x, v)
    assert not out.requires_grad and not r.requires_grad and r.grad_fn is None


def test_inputs_captured_by_the_closure_are_constants():
    # Only the path through func's argument counts, as in PyTorch: d(a * x)/da = diag(x).
    torch = _torch()
    from torch.autograd import functional as TF

    for lib, mod in ((dygrad, F), (torch, TF)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        j = mod.jacobian(lambda a, x=x: a * x, x)
        np.testing.assert_allclose(_np(j), np.diag([1.0, 2.0]))


@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_mode_of_results_under_no_grad_matches_torch(create_graph):
    torch = _torch()
    from torch.autograd import functional as TF

    res = []
    for lib, mod in ((dygrad, F), (torch, TF)):
        x = lib.tensor([0.3, 0.4], dtype=lib.float64)
        with lib.no_grad():
            res.append(
                (
                    mod.vjp(lambda x: x.sin(), x, x, create_graph=create_graph),
                    mod.jvp(lambda x: x.sin(), x, x, create_graph=create_graph),
                    mod.jacobian(lambda x: x.sin(), x, create_graph=create_graph),
                    mod.hessian(lambda x: x.sin().sum(), x, create_graph=create_graph),
                    mod.hvp(lambda x: x.sin().sum(), x, x, create_graph=create_graph),
                )
            )
            assert not lib.is_grad_enabled()
    assert_same(res[0], res[1])


def test_float32_results_keep_the_input_dtype():
    torch = _torch()
    from torch.autograd import functional as TF

    res = []
    for lib, mod in ((dygrad, F), (torch, TF)):
        x = lib.tensor([0.3, 0.4], dtype=lib.float32)
        res.append((mod.jacobian(lambda x: x.exp(), x), mod.hessian(lambda x: x.exp().sum(), x)))
    assert str(res[0][0].dtype) == "torch.float32"
    for g, w in zip(_flat(res[0]), _flat(res[1])):
        assert str(g.dtype) == str(w.dtype)
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-6)


# --- forward mode and vectorize ---------------------------------------------------------------
def _call(fn: Callable[[], Any]) -> Any:
    return fn()


@pytest.mark.parametrize("name,as_tuple", _tuple_variants(FW_CASES))
def test_forward_mode_jacobian_matches_torch_and_reverse_mode(name, as_tuple):
    call = lambda mod, f, x: mod.jacobian(f, x, vectorize=True, strategy="forward-mode")
    (got, _), (want, _) = _both(name, call, FW_CASES, as_tuple)
    assert_same(got, _tuples(want), flags=False)
    func, shapes = FW_CASES[name]
    rev = F.jacobian(func, _pack(dygrad, _arrays(shapes, 0), as_tuple))
    assert_same(got, rev)


@pytest.mark.parametrize("name,as_tuple", _tuple_variants(CASES))
def test_forward_mode_jacobian_on_every_case(name, as_tuple):
    func, shapes = CASES[name]
    inputs = _pack(dygrad, _arrays(shapes, 0), as_tuple)
    got = _call(lambda: F.jacobian(func, inputs, vectorize=True, strategy="forward-mode"))
    assert_same(got, F.jacobian(func, inputs))


@pytest.mark.parametrize("name,as_tuple", _tuple_variants(FW_SCALAR_CASES))
def test_forward_over_reverse_hessian_matches_torch(name, as_tuple):
    call = lambda mod, f, x: mod.hessian(
        f, x, vectorize=True, outer_jacobian_strategy="forward-mode"
    )
    (got, _), (want, _) = _both(name, call, FW_SCALAR_CASES, as_tuple)
    assert_same(got, _tuples(want), flags=False)
    func, shapes = FW_SCALAR_CASES[name]
    assert_same(got, F.hessian(func, _pack(dygrad, _arrays(shapes, 0), as_tuple)))


@pytest.mark.parametrize("name,as_tuple", _tuple_variants(SCALAR_CASES))
def test_forward_over_reverse_hessian_on_every_case(name, as_tuple):
    func, shapes = SCALAR_CASES[name]
    inputs = _pack(dygrad, _arrays(shapes, 0), as_tuple)
    got = _call(
        lambda: F.hessian(func, inputs, vectorize=True, outer_jacobian_strategy="forward-mode")
    )
    assert_same(got, F.hessian(func, inputs))


def test_forward_mode_leaves_inputs_alone():
    # The hessian marks its dual copies as requiring grad, never the caller's tensors.
    y = dygrad.tensor(0.5, dtype=dygrad.float64)
    F.hessian(lambda y: y.exp() * y, y, vectorize=True, outer_jacobian_strategy="forward-mode")
    assert not y.requires_grad and y.grad_fn is None and y.grad is None
    yr = dygrad.tensor(0.5, dtype=dygrad.float64, requires_grad=True)
    j = F.jacobian(lambda y: y.exp() * y, yr, vectorize=True, strategy="forward-mode")
    assert yr.grad is None and not j.requires_grad
    np.testing.assert_allclose(j.item(), 1.5 * np.exp(0.5))


# --- PyTorch's errors, in PyTorch's words -----------------------------------------------------
def _x(lib: Any) -> Any:
    return lib.tensor([1.0, 2.0], requires_grad=True)


ERRORS: dict[str, Callable[[Any, Any], Any]] = {
    "inputs-list": lambda lib, m: m.vjp(lambda x: x, [_x(lib)], _x(lib)),
    "inputs-non-tensor": lambda lib, m: m.jacobian(lambda x, y: x, (_x(lib), 1)),
    "inputs-int": lambda lib, m: m.hessian(lambda x: x, 3),
    "v-list": lambda lib, m: m.vjp(lambda x: x * 2, _x(lib), [_x(lib)]),
    "v-non-tensor-in-tuple": lambda lib, m: m.jvp(lambda x: x * 2, (_x(lib),), (2.0,)),
    "v-tuple-length": lambda lib, m: m.vjp(lambda x: (x, x), _x(lib), _x(lib)),
    "v-single-length": lambda lib, m: m.vjp(lambda x: x * 2, _x(lib), (_x(lib), _x(lib))),
    "v-size": lambda lib, m: m.jvp(lambda x: x * 2, _x(lib), lib.ones(3)),
    "v-size-entry": lambda lib, m: m.vhp(
        lambda x, y: (x * y).sum(), (_x(lib), _x(lib)), (lib.ones(2), lib.ones(2, 1))
    ),
    "v-size-vjp-entry": lambda lib, m: m.vjp(
        lambda x: (x * 2, x.sum()), _x(lib), (lib.ones(2), lib.ones(1))
    ),
    "vjp-v-none": lambda lib, m: m.vjp(lambda x: x * 2, _x(lib)),
    "jvp-v-none": lambda lib, m: m.jvp(lambda x: x * 2, _x(lib)),
    "hvp-v-none": lambda lib, m: m.hvp(lambda x: x.sum(), _x(lib)),
    "vhp-v-none": lambda lib, m: m.vhp(lambda x, y: x.sum(), (lib.ones(1), lib.ones(1))),
    "output-list": lambda lib, m: m.vjp(lambda x: [x], _x(lib), _x(lib)),
    "output-non-tensor": lambda lib, m: m.jacobian(lambda x: (x, 2), _x(lib)),
    "hessian-vector-output": lambda lib, m: m.hessian(lambda x: x * 2, _x(lib)),
    "hessian-tuple-output": lambda lib, m: m.hessian(lambda x: (x.sum(),), _x(lib)),
    "hvp-vector-output": lambda lib, m: m.hvp(lambda x: x * 2, _x(lib), _x(lib)),
    "vhp-tuple-output": lambda lib, m: m.vhp(lambda x: (x.sum(),), _x(lib), _x(lib)),
    "jacobian-strategy": lambda lib, m: m.jacobian(lambda x: x, _x(lib), strategy="fwd"),
    "hessian-strategy": lambda lib, m: m.hessian(
        lambda x: x.sum(), _x(lib), outer_jacobian_strategy="rev"
    ),
    "forward-needs-vectorize": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), strategy="forward-mode"
    ),
    "forward-hessian-needs-vectorize": lambda lib, m: m.hessian(
        lambda x: x.sum(), _x(lib), outer_jacobian_strategy="forward-mode"
    ),
    "forward-create-graph": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), create_graph=True, strategy="forward-mode", vectorize=True
    ),
    "forward-strict": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), strict=True, strategy="forward-mode", vectorize=True
    ),
    "vectorize-strict": lambda lib, m: m.jacobian(
        lambda x: x, _x(lib), strict=True, vectorize=True
    ),  # fmt: skip
    # strict mode
    "strict-output-detached": lambda lib, m: m.jacobian(lambda x: x.detach(), _x(lib), strict=True),
    "strict-vjp-output-detached": lambda lib, m: m.vjp(
        lambda x: x.detach() * 2, _x(lib), _x(lib), strict=True
    ),
    "strict-jacobian-unused": lambda lib, m: m.jacobian(
        lambda x, y: x * 2, (_x(lib), _x(lib)), strict=True
    ),
    "strict-jacobian-constant": lambda lib, m: m.jacobian(
        lambda x: x * 2, _x(lib), strict=True, create_graph=True
    ),
    "strict-vjp-unused": lambda lib, m: m.vjp(
        lambda x, y: x * 2, (_x(lib), _x(lib)), _x(lib), strict=True
    ),
    "strict-vjp-constant": lambda lib, m: m.vjp(
        lambda x: x * 2, _x(lib).detach(), lib.ones(2), strict=True, create_graph=True
    ),
    "strict-jvp-unused": lambda lib, m: m.jvp(
        lambda x, y: x * 2, (_x(lib), _x(lib)), (lib.ones(2), lib.ones(2)), strict=True
    ),
    "strict-jvp-constant": lambda lib, m: m.jvp(
        lambda x: x * 2, _x(lib).detach(), lib.ones(2), strict=True, create_graph=True
    ),
    "strict-hessian-linear": lambda lib, m: m.hessian(
        lambda x: (x * 2).sum(), _x(lib), strict=True
    ),  # fmt: skip
    "strict-hessian-unused": lambda lib, m: m.hessian(
        lambda x, y: (x**2).sum(), (_x(lib), _x(lib)), strict=True
    ),
    "strict-hessian-constant": lambda lib, m: m.hessian(
        lambda x: (x * x).sum(), _x(lib), strict=True, create_graph=True
    ),
    "strict-vhp-linear": lambda lib, m: m.vhp(
        lambda x: (x * 2).sum(), _x(lib), _x(lib), strict=True
    ),  # fmt: skip
    "strict-vhp-unused": lambda lib, m: m.vhp(
        lambda x, y: (x**2).sum(), (_x(lib), _x(lib)), (_x(lib), _x(lib)), strict=True
    ),
    "strict-vhp-constant": lambda lib, m: m.vhp(
        lambda x: (x * x).sum(), _x(lib).detach(), lib.ones(2), strict=True, create_graph=True
    ),
    "strict-hvp-linear": lambda lib, m: m.hvp(
        lambda x: (x * 2).sum(), _x(lib), _x(lib), strict=True
    ),  # fmt: skip
    "strict-hvp-constant": lambda lib, m: m.hvp(
        lambda x: (x * x).sum(), _x(lib).detach(), lib.ones(2), strict=True, create_graph=True
    ),
    "strict-hvp-output-detached": lambda lib, m: m.hvp(
        lambda x: x.sum().detach(), _x(lib), _x(lib), strict=True
    ),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(case):
    torch = _torch()
    from torch.autograd import functional as TF

    with pytest.raises(Exception) as want:
        ERRORS[case](torch, TF)
    with pytest.raises(type(want.value)) as got:
        ERRORS[case](dygrad, F)
    # PyTorch's text has a typo dygrad does not copy.
    assert str(got.value) == str(want.value).replace("isonly", "is only")


@pytest.mark.parametrize(
    "call",
    [
        lambda f: F.vjp(f, [dygrad.ones(2)], dygrad.ones(2)),
        lambda f: F.vjp(f, dygrad.ones(2), [dygrad.ones(2)]),
        lambda f: F.jvp(f, dygrad.ones(2), dygrad.ones(3)),
        lambda f: F.jvp(f, dygrad.ones(2)),
        lambda f: F.hvp(f, (dygrad.ones(2), dygrad.ones(1)), (dygrad.ones(2),)),
        lambda f: F.vhp(f, dygrad.ones(2), (dygrad.ones(2), 1)),
        lambda f: F.jacobian(f, (dygrad.ones(2), "x")),
        lambda f: F.jacobian(f, dygrad.ones(2), strategy="forward"),
        lambda f: F.jacobian(f, dygrad.ones(2), strategy="forward-mode"),
        lambda f: F.hessian(f, dygrad.ones(2), outer_jacobian_strategy="x"),
        lambda f: F.jacobian(f, dygrad.ones(2), strict=True, vectorize=True),
        lambda f: F.hessian(f, dygrad.ones(2), strict=True, vectorize=True),
    ],
)
def test_bad_arguments_raise_before_func_runs(call):
    calls = []
    with pytest.raises((TypeError, RuntimeError, AssertionError, NotImplementedError)):
        call(lambda *xs: calls.append(1) or xs[0].sum())
    assert calls == []


# --- behaviour where PyTorch has no answer (it fails) -----------------------------------------
def test_empty_inputs_and_outputs_give_empty_jacobians():
    x = dygrad.tensor([1.0, 2.0])
    assert F.jacobian(lambda x: x[:0], x).shape == (0, 2)
    assert F.jacobian(lambda x: x.exp(), x[:0]).shape == (0, 0)
    fw = F.jacobian(lambda x: x.exp(), x[:0], vectorize=True, strategy="forward-mode")
    assert fw.shape == (0, 0)


def test_jvp_gives_zeros_for_an_integer_output():
    x = dygrad.tensor([1.0, 3.0, 2.0])
    out, (jv_float, jv_int) = F.jvp(lambda x: (x * 2, x.argmax()), x, dygrad.ones(3))
    np.testing.assert_allclose(jv_float.numpy(), [2.0, 2.0, 2.0])
    assert jv_int.shape == () and jv_int.item() == 0


# --- finite differences (no torch) ------------------------------------------------------------
def _fd_jacobian(f: Callable[..., np.ndarray], arrs: list[np.ndarray], j: int) -> np.ndarray:
    """d f / d arrs[j] by central differences, shaped f.shape + arrs[j].shape."""
    eps = 1e-6
    base = f(*arrs)
    cols = []
    for k in range(arrs[j].size):
        plus = [a.copy() for a in arrs]
        minus = [a.copy() for a in arrs]
        plus[j].reshape(-1)[k] += eps
        minus[j].reshape(-1)[k] -= eps
        cols.append((f(*plus) - f(*minus)) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(base.shape + arrs[j].shape)


def _on_arrays(func: Callable[..., Any], i: int | None = None) -> Callable[..., np.ndarray]:
    def f(*arrs: np.ndarray) -> np.ndarray:
        out = func(*(dygrad.tensor(a) for a in arrs))
        return (out if i is None else out[i]).numpy()

    return f


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_matches_finite_differences(strategy):
    func = lambda x, y: ((x * y).sin(), (x + y).exp() * x)
    arrs = _arrays([(2, 2), (2, 2)], 7)
    jac = _call(
        lambda: F.jacobian(
            func, tuple(dygrad.tensor(a) for a in arrs), vectorize=True, strategy=strategy
        )  # fmt: skip
    )
    for i in range(2):
        for j in range(2):
            want = _fd_jacobian(_on_arrays(func, i), arrs, j)
            np.testing.assert_allclose(jac[i][j].numpy(), want, rtol=1e-6, atol=1e-8)


def test_matmul_jacobian_matches_finite_differences():
    func = CASES["matmul"][0]
    arrs = _arrays(CASES["matmul"][1], 8)
    jac = F.jacobian(func, tuple(dygrad.tensor(a) for a in arrs))
    for j in range(2):
        np.testing.assert_allclose(
            jac[j].numpy(), _fd_jacobian(_on_arrays(func), arrs, j), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_hessian_matches_finite_differences(strategy):
    func, shapes = FW_SCALAR_CASES["three-inputs"]
    if strategy == "reverse-mode":
        func, shapes = SCALAR_CASES["quadratic-form"][0], [(2,), (2, 3)]
    arrs = _arrays(shapes, 9)
    h = F.hessian(func, tuple(dygrad.tensor(a) for a in arrs), vectorize=True,
                  outer_jacobian_strategy=strategy)  # fmt: skip
    for i in range(len(arrs)):
        # Row i of the Hessian is the Jacobian of the gradient with respect to input i.
        grad_i = lambda *a, i=i: F.jacobian(func, tuple(dygrad.tensor(x) for x in a))[i].numpy()
        for j in range(len(arrs)):
            want = _fd_jacobian(grad_i, arrs, j)
            np.testing.assert_allclose(h[i][j].numpy(), want, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(h[i][j].numpy(), np.moveaxis(
                h[j][i].numpy().reshape(arrs[j].shape + arrs[i].shape),
                list(range(arrs[j].ndim)), list(range(arrs[i].ndim, arrs[i].ndim + arrs[j].ndim)),
            ), rtol=1e-10, atol=1e-12)  # fmt: skip


def test_products_agree_with_the_full_matrices():
    # vjp = v^T J, jvp = J v, hvp = H v, vhp = v^T H, on one function, without torch.
    rng = np.random.default_rng(11)
    x = dygrad.tensor(rng.standard_normal(4))
    w = dygrad.tensor(rng.standard_normal((4, 3)))
    f = lambda x: (x @ w).tanh()
    s = lambda x: ((x @ w).tanh() ** 2).sum() + (x**3).sum()
    J = F.jacobian(f, x).numpy()
    H = F.hessian(s, x).numpy()
    u = dygrad.tensor(rng.standard_normal(3))
    v = dygrad.tensor(rng.standard_normal(4))
    np.testing.assert_allclose(F.vjp(f, x, u)[1].numpy(), u.numpy() @ J, rtol=1e-10)
    np.testing.assert_allclose(F.jvp(f, x, v)[1].numpy(), J @ v.numpy(), rtol=1e-10)
    np.testing.assert_allclose(F.hvp(s, x, v)[1].numpy(), H @ v.numpy(), rtol=1e-10)
    np.testing.assert_allclose(F.vhp(s, x, v)[1].numpy(), v.numpy() @ H, rtol=1e-10)
    np.testing.assert_allclose(H, H.T, rtol=1e-10)
