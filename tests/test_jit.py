"""dygrad.jit.trace and dygrad.compile: the recorded graph, replay with guards, compiled
forward+backward equal to eager mode, retracing and its explanations."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest

import dygrad as torch
import dygrad.jit as jit
from dygrad import nn
from dygrad.tensor import Tensor

HERE = "test_jit.py"


def _line(pattern: str) -> int:
    """The line number of the first line of this file containing `pattern`."""
    with open(__file__) as f:
        for k, line in enumerate(f, 1):
            if pattern in line and "_line(" not in line:
                return k
    raise AssertionError(pattern)


def _grads(params: list[Tensor]) -> list[np.ndarray]:
    return [p.grad.numpy().copy() for p in params]


def _zero(params: list[Tensor]) -> None:
    for p in params:
        p.grad = None


def chain(x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    y = (x @ w).tanh()  # chain-line-1
    z = y * 2 + 1  # chain-line-2
    return z.mean(), y


# --- trace: the graph --------------------------------------------------------------------------
def test_trace_graph_prints_ssa_lines_with_source_lines() -> None:
    x, w = torch.randn(4, 3), torch.randn(3, 5, requires_grad=True)
    g = jit.trace(chain, x, w).graph
    text = str(g)
    assert text.startswith("graph(%input0 : float32[4, 3],")
    lines = text.splitlines()
    mm = next(ln for ln in lines if "= mm(" in ln)
    assert re.search(r"%\d+ : float32\[4, 5\] = mm\(%input0, %input1\)", mm)
    assert mm.endswith(f"# {HERE}:{_line('# chain-line-1')}")
    assert any("= mul(" in ln and ln.endswith(f"{HERE}:{_line('# chain-line-2')}") for ln in lines)
    assert [n.name for n in g.nodes] == ["mm", "tanh", "mul", "add", "mean_all"]
    assert lines[-1].strip().startswith("return (%")
    # every value is defined once (SSA)
    defined = re.findall(r"^\s+(%\d+) :", text, flags=re.M)
    assert len(defined) == len(set(defined)) == len(g.nodes)


def test_trace_module_names_parameters_and_module_paths() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 4)

        def forward(self, x: Tensor) -> Tensor:
            return self.fc(x).relu()

    model = nn.Sequential(Block(), nn.Linear(4, 2))
    g = jit.trace(model, torch.randn(5, 3)).graph
    text = str(g)
    assert '%"0.fc.weight" : float32[4, 3]' in text and '%"1.bias" : float32[2]' in text
    scopes = {n.name: n.scope for n in g.nodes}
    assert scopes["relu"] == "0"  # relu is called by Block itself
    assert any(n.scope == "0.fc" for n in g.nodes) and any(n.scope == "1" for n in g.nodes)
    assert "(0.fc)" in text


def test_traced_function_matches_eager_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 5))  # fmt: skip
    model.eval()
    x = torch.randn(2, 1, 8, 8)
    traced = jit.trace(model, x)
    x2 = torch.randn(2, 1, 8, 8, requires_grad=True)
    params = list(model.parameters())
    out = traced(x2)
    out.square().sum().backward()
    got = _grads(params) + [x2.grad.numpy().copy()]
    _zero(params)
    x2.grad = None
    ref = model(x2)
    ref.square().sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    for a, b in zip(got, _grads(params) + [x2.grad.numpy()], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_trace_accepts_a_tuple_of_inputs_and_structured_outputs() -> None:
    def f(x: Tensor, y: Tensor) -> dict[str, Any]:
        return {"s": x + y, "pair": (x * y, 3)}

    x, y = torch.randn(2), torch.randn(2)
    t = jit.trace(f, (x, y))
    out = t(y, x)
    assert set(out) == {"s", "pair"} and out["pair"][1] == 3
    np.testing.assert_allclose(out["pair"][0].numpy(), (x * y).numpy())


# --- guards --------------------------------------------------------------------------------------
def branchy(x: Tensor) -> Tensor:
    if x.sum() > 0:  # branch-line
        return x * 2
    return x - 1


def test_trace_records_a_guard_and_refuses_the_other_branch() -> None:
    t = jit.trace(branchy, torch.ones(3))
    assert len(t.graph.guards) == 1
    assert "guard bool(%" in str(t.graph) and f"{HERE}:{_line('# branch-line')}" in str(t.graph)
    np.testing.assert_allclose(t(torch.full((3,), 2.0)).numpy(), [4, 4, 4])
    with pytest.raises(jit.GuardError, match=rf"bool\(%\d+\) at {HERE}:{_line('# branch-line')}"):
        t(-torch.ones(3))


@pytest.mark.parametrize("kind", ["item", "int", "float", "tolist", "index"])
def test_every_conversion_to_python_is_guarded(kind: str) -> None:
    def f(x: Tensor, i: Tensor) -> Tensor:
        if kind == "item":
            return x * x.sum().item()
        if kind == "int":
            return x * int(i)
        if kind == "float":
            return x * float(i)
        if kind == "tolist":
            return x * i.tolist()
        return x[i]

    x = torch.arange(4.0)
    i = torch.tensor(2)
    cf = torch.compile(f)
    for k in (2, 2, 3, 1, 1):
        ik = torch.tensor(k)
        xk = x * (1 if kind != "item" else k)
        np.testing.assert_allclose(cf(xk, ik).numpy(), f(xk, ik).numpy())
    assert cf.traces == 3
    t = jit.trace(f, x, i)
    assert [g.kind for g in t.graph.guards] == ["int" if kind == "index" else kind]


def test_boolean_mask_shape_is_a_guard() -> None:
    def f(x: Tensor) -> Tensor:
        sel = x[x > 0]
        return sel * len(sel)

    cf = torch.compile(f)
    for data in ([1.0, -1.0, 2.0], [3.0, -2.0, 1.0], [1.0, 1.0, 1.0]):
        x = torch.tensor(data)
        np.testing.assert_allclose(cf(x).numpy(), f(x).numpy())
    assert cf.traces == 2  # two positives twice, then three


def test_python_arguments_are_part_of_the_signature() -> None:
    cf = torch.compile(lambda x, k: x * k)
    x = torch.ones(2)
    assert (
        cf(x, 2).tolist() == [2, 2] and cf(x, 3).tolist() == [3, 3] and cf(x, 2).tolist() == [2, 2]
    )
    assert cf.traces == 2


def test_a_compiled_calls_one_pass_signature_is_the_flattened_calls() -> None:
    # dygrad.compile reads the common call shapes in one pass; what it builds must be the general
    # path's (tree_flatten, then signature) wherever it answers, and it must decline the rest.
    from dygrad.func._pytree import tree_flatten
    from dygrad.jit.traced import flat_signature, signature

    a = torch.ones(2, 3, requires_grad=True)
    b = torch.zeros(4, dtype=torch.float64)
    calls = [(a,), (a, b, a), ([a, b], b, 2), ((b, a), 1.5, "mean", True), (a, [b, a]), ()]
    for args in calls:
        leaves, sig = flat_signature(args)
        flat, spec = tree_flatten((args, {}))
        assert leaves == flat and sig == signature(flat, spec), args
    for args in [([a, 2],), ({"x": a},), (a, None), ([[a]],)]:
        assert flat_signature(args) == (None, None), args


def test_how_the_arguments_nest_is_part_of_the_signature() -> None:
    # f([a], b) and f(a, [b]) flatten to the same tensors: a replay of one for the other would
    # compute the other branch's result (21 for eager's 12).
    def f(p: Any, q: Any) -> Tensor:
        return p[0] + q * 10 if isinstance(p, list) else p * 10 + q[0]

    a, b = torch.tensor(1.0), torch.tensor(2.0)
    cf = torch.compile(f, explain=False)
    assert [cf([a], b).item(), cf(a, [b]).item(), cf([a], b).item()] == [21.0, 12.0, 21.0]
    assert cf.traces == 2 and "nest as (*, [*]), traced as ([*], *)" in cf.explanations[1]
    t = jit.trace(f, ([a], b))
    assert t([a], b).item() == 21.0
    with pytest.raises(jit.GuardError, match=r"nest as \(\*, \[\*\]\)"):
        t(a, [b])


# --- refusing what cannot be traced ---------------------------------------------------------------
def test_numpy_inside_traced_code_is_an_error_naming_the_line() -> None:
    def f(x: Tensor) -> Tensor:
        return torch.tensor(x.numpy() * 2)  # numpy-line

    with pytest.raises(jit.TraceError, match=rf"numpy\(\).*{HERE}:{_line('# numpy-line')}"):
        jit.trace(f, torch.ones(2))


def test_tensor_computed_outside_the_ops_is_an_error_naming_the_line() -> None:
    def f(x: Tensor) -> Tensor:
        return torch.where(x > 0)[0] + x.sum()  # where-line

    with pytest.raises(
        jit.TraceError, match=rf"outside dygrad's ops.*{HERE}:{_line('# where-line')}"
    ):
        jit.trace(f, torch.ones(2))


def test_in_place_on_a_view_is_refused() -> None:
    def f(x: Tensor) -> Tensor:
        y = x * 1
        v = y[0]
        v.add_(1)
        return y

    with pytest.raises(jit.TraceError, match="shares memory"):
        jit.trace(f, torch.ones(2, 2))


def test_in_place_on_a_fresh_tensor_is_traced_functionally() -> None:
    def f(x: Tensor) -> Tensor:
        y = x * 2
        y.add_(1)
        y.mul_(x)
        return y

    x = torch.randn(3)
    t = jit.trace(f, x)
    x2 = torch.randn(3)
    np.testing.assert_allclose(t(x2).numpy(), f(x2).numpy(), rtol=1e-6)
    cf = torch.compile(f)
    cf(x2)
    np.testing.assert_allclose(cf(x2).numpy(), f(x2).numpy(), rtol=1e-6)


# --- compile -------------------------------------------------------------------------------------
def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 3))  # fmt: skip


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(8, 5), nn.LogSoftmax(dim=1))  # fmt: skip


class _Attn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm = nn.LayerNorm(8)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x + self.attn(x, x, x)[0])


class _LSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


MODELS = {
    "mlp": (_mlp, (5, 6)),
    "cnn": (_cnn, (3, 1, 8, 8)),
    "attention": (_Attn, (2, 5, 8)),
    "lstm": (_LSTM, (2, 5, 4)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_compiled_model_equals_eager_outputs_and_gradients(name: str) -> None:
    build, shape = MODELS[name]
    torch.manual_seed(0)
    model = build()
    twin = build()
    twin.load_state_dict(model.state_dict())
    cm = torch.compile(model)
    for step in range(3):
        x = torch.randn(*shape, requires_grad=True)
        x2 = x.detach().clone().requires_grad_(True)
        out = cm(x)
        ref = twin(x2)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip
        if step > 0:
            assert out.grad_fn.name() == "CompiledFunctionBackward"
        (out * torch.arange(float(out.numel())).reshape(out.shape)).sum().backward()
        (ref * torch.arange(float(ref.numel())).reshape(ref.shape)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-4, atol=1e-6)
        for (n, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=n)  # fmt: skip
    for a, b in zip(model.buffers(), twin.buffers(), strict=True):  # running statistics
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert cm._compiled.traces == 1


def test_compiled_training_loop_matches_eager() -> None:
    torch.manual_seed(1)
    model, twin = _mlp(), _mlp()
    twin.load_state_dict(model.state_dict())
    cm = torch.compile(model)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, twin)]
    x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(5):
        for fwd, opt in ((cm, opts[0]), (twin, opts[1])):
            opt.zero_grad()
            loss = loss_fn(fwd(x), y)
            loss.backward()
            opt.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_compiled_call_makes_no_tensor_per_op(monkeypatch: pytest.MonkeyPatch) -> None:
    f = torch.compile(lambda x: ((x + 1) * 2).tanh().exp().sum())
    x = torch.randn(4, requires_grad=True)
    f(x).backward()  # traces
    made = []
    orig = Tensor._wrap.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, *a: Any) -> Any:
        made.append(1)
        return orig(cls, *a)

    monkeypatch.setattr(Tensor, "_wrap", classmethod(counting))
    # Recorded op results are made by the registry's _new_node, not _wrap: count those too.
    from dygrad.ops import registry

    new_node = registry._new_node
    nodes_made = []

    def counting_nodes(*a: Any) -> Any:
        nodes_made.append(1)
        return new_node(*a)

    monkeypatch.setattr(registry, "_new_node", counting_nodes)
    out = f(x)
    assert len(made) == 1 and nodes_made == []  # the output only
    nodes = []
    fn = out.grad_fn
    assert fn.name() == "CompiledFunctionBackward"
    for nxt, _ in fn.next_functions:
        nodes.append(type(nxt).__name__)
    assert nodes == ["AccumulateGrad"]


def test_retrace_on_shape_dtype_grad_mode_and_training_with_explanations(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    cm = torch.compile(model, explain=True)
    cm(torch.ones(2, 3))  # first call
    cm(torch.ones(2, 3))  # replay
    cm(torch.ones(4, 3))  # new shape
    cm(torch.ones(4, 3, dtype=torch.float64).float())  # same signature again
    model.eval()
    cm(torch.ones(4, 3))  # training flag
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    assert "first call" in err[0]
    assert "argument 0 has shape [4, 3], traced with [2, 3]" in err[1]
    assert "training is False, traced with True" in err[2]
    assert all(re.search(rf"called at {HERE}:\d+", e) for e in err)
    assert cm.explanations == err


def test_guard_explanation_names_the_source_line(capsys: pytest.CaptureFixture[str]) -> None:
    cf = torch.compile(branchy, explain=True)
    cf(torch.ones(2))
    cf(-torch.ones(2))
    err = capsys.readouterr().err
    assert "bool(%" in err and f"{HERE}:{_line('# branch-line')}" in err


def test_compiled_dropout_draws_a_new_mask_each_call() -> None:
    cm = torch.compile(nn.Dropout(0.5))
    x = torch.ones(200)
    _a, b, c = cm(x), cm(x), cm(x)
    assert not np.array_equal(b.numpy(), c.numpy())
    assert set(np.unique(c.numpy())) <= {0.0, 2.0}


def test_compiled_under_no_grad_records_nothing() -> None:
    model = _mlp()
    cm = torch.compile(model)
    x = torch.randn(2, 6)
    with torch.no_grad():
        out = cm(x)
        out2 = cm(x)
    assert out2.grad_fn is None and not out2.requires_grad
    np.testing.assert_allclose(out.numpy(), out2.numpy())
    # traced under no_grad, replayed with gradients: the no_grad was around the call, not in it
    cm(x).sum().backward()
    got = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for a, p in zip(got, model.parameters(), strict=True):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-6)


def test_compiled_backward_errors_like_eager() -> None:
    w = torch.randn(3, requires_grad=True)
    f = torch.compile(lambda x: (x * w).tanh().sum())
    x = torch.randn(3, requires_grad=True)  # its gradient needs w's value: w is saved
    f(x)
    out = f(x)
    out.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        out.backward()
    out = f(x)
    with torch.no_grad():
        w.mul_(2)  # an optimizer step before backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
    out = f(x)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(out, w, create_graph=True)


def test_replaced_parameter_retraces() -> None:
    model = nn.Linear(2, 1)
    cm = torch.compile(model)
    x = torch.ones(1, 2)
    cm(x)
    model.weight = nn.Parameter(torch.zeros(1, 2))
    out = cm(x)
    np.testing.assert_allclose(out.detach().numpy(), model.bias.detach().numpy()[None])
    assert cm._compiled.traces == 2


def test_too_many_retraces_fall_back_to_eager() -> None:
    cf = torch.compile(lambda x: x * x.sum().item(), max_traces=2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        vals = [cf(torch.full((2,), float(k))).tolist() for k in range(1, 5)]
    assert vals == [[k * 2.0 * k] * 2 for k in range(1, 5)]
    assert cf.traces == 2 and cf.fallback
    assert any("running it eagerly" in str(r.message) for r in rec)


def test_compiled_digits_cnn_reaches_the_eager_accuracy() -> None:
    pytest.importorskip("sklearn")
    from dygrad import demo

    hist = {}
    for comp in (False, True):
        torch.manual_seed(0)
        model = demo.cnn()
        hist[comp] = demo.train(model, epochs=2, lr=5e-3, progress=False, log=lambda s: None,
                                compile=comp)  # fmt: skip
    np.testing.assert_allclose(hist[True]["train_loss"], hist[False]["train_loss"], rtol=1e-4)
    assert hist[True]["test_acc"] == pytest.approx(hist[False]["test_acc"], abs=0.005)
    assert hist[True]["test_acc"][-1] > 0.85


def test_custom_function_and_hooks_are_refused_naming_the_line() -> None:
    class Straight(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Tensor) -> Tensor:
            return x.clamp(0, 1)

        @staticmethod
        def backward(ctx: Any, g: Tensor) -> Tensor:
            return g

    x = torch.randn(3, requires_grad=True)
    with pytest.raises(jit.TraceError, match=rf"Straight.apply\(\).*{HERE}:{_line('# fn-line')}"):
        jit.trace(lambda x: Straight.apply(x) * 2, x)  # fn-line
    with pytest.raises(jit.TraceError, match="register_hook"):
        jit.trace(lambda x: (x * 2).register_hook(print), x)
    with pytest.raises(jit.TraceError, match="retain_grad"):
        jit.trace(lambda x: (x * 2).retain_grad(), x)
    # without gradients the custom function is just its forward's ops: traced
    t = jit.trace(lambda x: Straight.apply(x) * 2, x.detach())
    assert [n.name for n in t.graph.nodes] == ["clamp", "mul"]


def _peak_bytes(fn: Any) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    del out
    return peak


def test_buffer_reuse_writes_elementwise_results_into_dead_operands() -> None:
    def f(x: Tensor) -> Tensor:
        return ((((x + 1) * 2) - 3) / 4) * x

    x = torch.randn(1_000_000)  # 4 MB
    cf = torch.compile(f)
    with torch.no_grad():
        cf(x)  # traces
        cf(x)  # generates the code
        src = cf.code()
        assert src.count("    I") == 4, src  # four of the five ops write in place
        compiled = _peak_bytes(lambda: cf(x))
        eager = _peak_bytes(lambda: f(x))
        np.testing.assert_allclose(cf(x).numpy(), f(x).numpy(), rtol=1e-6)
    mb = 4_000_000
    assert compiled < 1.2 * mb < 1.9 * mb < eager  # one buffer for the whole chain
    # with gradients, values kept for backward are never overwritten
    xg = x[:10].clone().requires_grad_(True)
    cf2 = torch.compile(lambda x: (((x + 1) * x - 3) * x).sum())
    cf2(xg)
    cf2(xg).backward()
    g = xg.grad.numpy().copy()
    xg.grad = None
    (((xg + 1) * xg - 3) * xg).sum().backward()
    np.testing.assert_allclose(g, xg.grad.numpy(), rtol=1e-6)


def test_closure_over_a_module_retraces_on_eval_and_replaced_parameters() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    f = torch.compile(lambda x: model(x).sum())
    x = torch.ones(2, 4)
    f(x)
    f(x)
    model.eval()
    assert f(x).item() == pytest.approx(model(x).sum().item())
    lin = nn.Linear(3, 1)
    g = torch.compile(lambda x: lin(x).sum())
    x3 = torch.ones(1, 3)
    g(x3)
    g(x3)
    lin.weight = nn.Parameter(torch.zeros(1, 3))
    assert g(x3).item() == pytest.approx(lin(x3).sum().item())
    assert "Sequential.training is False" in f.explanations[-1]
    assert "Linear.weight was replaced" in g.explanations[-1]


def test_global_module_hooks_run_around_every_forward() -> None:
    from dygrad.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    calls = []
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    h1 = register_module_forward_pre_hook(lambda m, a: calls.append(("pre", type(m).__name__)))
    h2 = register_module_forward_hook(lambda m, a, o: calls.append(("post", type(m).__name__)))
    net(torch.ones(1, 2))
    h1.remove()
    h2.remove()
    net(torch.ones(1, 2))
    assert calls == [("pre", "Sequential"), ("pre", "Linear"), ("post", "Linear"),
                     ("pre", "ReLU"), ("post", "ReLU"), ("post", "Sequential")]  # fmt: skip


def test_writes_that_bypass_autograd_are_traced() -> None:
    def f(x: Tensor) -> Tensor:
        y = x * 1
        y.fill_(3.0)
        z = x.clone()
        z[0] = 7.0
        z[1] = x[2]
        w = torch.zeros(3)
        w.zero_()
        return y + z + w

    t = jit.trace(f, torch.randn(3))
    for _ in range(2):
        x2 = torch.randn(3)
        np.testing.assert_allclose(t(x2).numpy(), f(x2).numpy())
    assert [n.name for n in t.graph.nodes].count("copy_slices") == 2
    with pytest.raises(jit.TraceError, match="random fill"):
        jit.trace(lambda x: (x * 1).uniform_() + x, torch.ones(2))


def _inplace_input(x: Tensor) -> Tensor:
    y = x.clone()
    y.add_(1)
    y[0] = 0
    return y * x


def _cases() -> dict[str, tuple[Any, tuple[Any, ...], list[Tensor]]]:
    torch.manual_seed(0)
    emb = nn.Embedding(10, 4)
    lin = nn.Linear(4, 3)
    lstm = nn.LSTM(4, 3, batch_first=True)
    x = torch.randn(5, 4, requires_grad=True)
    xs = torch.randn(2, 5, 4)
    idx = torch.tensor([[1, 2, 3], [4, 5, 9]])
    tgt = torch.tensor([0, 2, 1, 1, 0])
    ce = nn.functional.cross_entropy
    return {
        "embedding": (lambda i: emb(i).tanh(), (idx,), list(emb.parameters())),
        "cross_entropy": (lambda x, t: ce(lin(x), t), (x, tgt), [x, *lin.parameters()]),
        "max and argmax": (lambda x: (x.max(dim=1)[0], x.argmax(dim=1)), (x,), [x]),
        "lstm (out, (h, c))": (lambda x: lstm(x), (xs,), list(lstm.parameters())),
        "reshape by x.shape": (lambda x: x.reshape(x.shape[0], -1).softmax(-1), (xs,), []),
        "in-place on a clone": (_inplace_input, (x,), [x]),
        "split and cat": (lambda x: torch.cat(x.split(2, dim=0)[::-1], 0).sum(1), (x,), [x]),
        "where": (lambda x: torch.where(x > 0, x, x * 0.1), (x,), [x]),
        "float64": (lambda x: (x.double() * 3).exp(), (x,), [x]),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_compiled_equals_eager_across_ops_and_outputs(name: str) -> None:
    f, args, params = _cases()[name]
    cf = torch.compile(f)

    def run(fn: Any) -> tuple[np.ndarray, list[Any]]:
        for p in params:
            p.grad = None
        out = fn(*args)
        first = out[0] if isinstance(out, tuple) else out
        if first.requires_grad:
            (first.float() * torch.linspace(0.5, 1.5, first.numel()).reshape(first.shape)
             ).sum().backward()  # fmt: skip
        return first.detach().numpy().copy(), [
            None if p.grad is None else p.grad.numpy().copy() for p in params
        ]

    for _ in range(3):  # trace, then replays
        got, gg = run(cf)
        ref, rg = run(f)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
        for a, b in zip(gg, rg, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert cf.traces == 1


def test_a_value_returned_twice_is_one_tensor_with_both_gradients() -> None:
    cf = torch.compile(lambda x: ((x * 3).tanh(),) * 2)
    for _ in range(3):
        x = torch.randn(3, requires_grad=True)
        a, b = cf(x)
        assert a is b
        (a.sum() + 2 * b.sum()).backward()
        g = x.grad.numpy().copy()
        x.grad = None
        y = (x * 3).tanh()
        (y.sum() + 2 * y.sum()).backward()
        np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-6)


def test_a_returned_input_that_gets_no_gradient_keeps_none() -> None:
    # The generated backward hands on a returned input's gradient as it arrived: None when its
    # output was not used, as eager mode and PyTorch leave .grad (not a NaN 0-d array).
    cf = torch.compile(lambda x, w: (x, (w * 2).sum()))
    for _ in range(3):
        x = torch.ones(3, requires_grad=True)
        w = torch.ones(3, requires_grad=True)
        cf(x, w)[1].backward()
        assert x.grad is None and w.grad.tolist() == [2.0, 2.0, 2.0]
    assert cf.traces == 1 and not cf.fallback


@pytest.mark.parametrize("n", [2, 3])
def test_compiled_gradient_sent_to_two_leaves_is_not_shared(n) -> None:
    # The generated backward hands one array (the add's gradient, passed through) to both a
    # and b: each leaf's .grad must be its own, over the engine's two-edge and many-edge checks.
    def f(a, b, c=None):
        y = (a + b) * 2
        return (y if c is None else y + c * 3).sum()

    cf = torch.compile(f)
    for _ in range(3):
        ts = [torch.ones(3, requires_grad=True) for _ in range(n)]
        cf(*ts).backward()
    assert cf.traces == 1 and not cf.fallback
    ts[0].grad.zero_()
    assert ts[1].grad.tolist() == [2.0, 2.0, 2.0]
    assert [t.grad.tolist() for t in ts[2:]] == [[3.0, 3.0, 3.0]] * (n - 2)
