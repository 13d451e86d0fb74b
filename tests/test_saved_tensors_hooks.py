"""Saved-tensor hooks (`dygrad.autograd.graph.saved_tensors_hooks`, `disable_saved_tensors_hooks`,
`save_on_cpu`): pack and unpack counts and gradients against PyTorch, and behaviour tests
(compression, offloading, nesting, threads, retain_graph, create_graph, versions, custom
Functions)."""

import gc
import threading
import weakref

import numpy as np
import pytest

import dygrad
from dygrad.autograd import graph

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal((4, 2)).astype(np.float32)
P = (np.abs(A) + 0.5).astype(np.float32)


def counting_hooks(log):
    def pack(t):
        log.append("pack")
        return t

    def unpack(t):
        log.append("unpack")
        return t

    return pack, unpack


# Graphs on which dygrad saves what PyTorch saves: (name, fn(mod, a, b, c)); `a` and `b` require
# grad, `c` does not.
GRAPHS = [
    ("mul_both", lambda m, a, b, c: a * a),
    ("mul_one_requires_grad", lambda m, a, b, c: a * c),
    ("exp", lambda m, a, b, c: a.exp()),
    ("sin", lambda m, a, b, c: a.sin()),
    ("tanh", lambda m, a, b, c: a.tanh()),
    ("sigmoid", lambda m, a, b, c: a.sigmoid()),
    ("relu", lambda m, a, b, c: a.relu()),
    ("pow", lambda m, a, b, c: a**2),
    ("div_by_const_tensor", lambda m, a, b, c: a / c),
    ("log", lambda m, a, b, c: (a * a + 1).log()),
    ("sum_saves_nothing", lambda m, a, b, c: a.sum()),
    ("matmul", lambda m, a, b, c: a @ b),
    ("mlp", lambda m, a, b, c: ((a @ b).tanh() @ b.t()).relu() * c),
    ("softmax", lambda m, a, b, c: a.softmax(1)),
    ("log_softmax", lambda m, a, b, c: a.log_softmax(1)),
    ("cat_then_exp", lambda m, a, b, c: m.cat([a, a * 2]).exp()),
    ("view_then_exp", lambda m, a, b, c: a.view(4, 3).t().exp()),
    ("index_then_sin", lambda m, a, b, c: a[:, 1].sin()),
    ("linear", lambda m, a, b, c: m.nn.functional.linear(a, b.t(), None)),
    ("mse_loss", lambda m, a, b, c: m.nn.functional.mse_loss(a, c)),
]


def _run_graph(mod, fn, retain=False):
    log = []
    a = mod.tensor(A, requires_grad=True)
    b = mod.tensor(B, requires_grad=True)
    c = mod.tensor(P)
    with mod.autograd.graph.saved_tensors_hooks(*counting_hooks(log)):
        y = fn(mod, a, b, c)
    packs = log.count("pack")
    log.clear()
    y.sum().backward(retain_graph=retain)
    unpacks = [log.count("unpack")]
    if retain:
        log.clear()
        y.sum().backward()
        unpacks.append(log.count("unpack"))
    return packs, unpacks, a.grad.numpy(), b.grad.numpy() if b.grad is not None else None


@pytest.mark.parametrize("name,fn", GRAPHS, ids=[g[0] for g in GRAPHS])
def test_pack_unpack_counts_and_grads_match_torch(name, fn):
    torch = pytest.importorskip("torch")
    got = _run_graph(dygrad, fn)
    want = _run_graph(torch, fn)
    assert got[0] == want[0], f"pack calls: dygrad {got[0]}, torch {want[0]}"
    assert got[1] == want[1], f"unpack calls: dygrad {got[1]}, torch {want[1]}"
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6)
    if want[3] is not None:
        np.testing.assert_allclose(got[3], want[3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,fn", GRAPHS[:4] + GRAPHS[11:13], ids=lambda v: str(v)[:20])
def test_retain_graph_unpacks_again_like_torch(name, fn):
    torch = pytest.importorskip("torch")
    got = _run_graph(dygrad, fn, retain=True)
    want = _run_graph(torch, fn, retain=True)
    assert got[:2] == want[:2]
    assert got[1][0] == got[1][1] > 0 or got[0] == 0
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5, atol=1e-6)


def test_hooks_apply_only_to_tensors_saved_while_active():
    log = []
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(*counting_hooks(log)):
        y = x.exp()
    z = y.sin()  # saved after the context closed: kept as usual
    assert log == ["pack"]
    assert type(z.grad_fn._saved) is tuple  # untouched by hooks: the ordinary fast path
    z.sum().backward()
    # The node recorded inside still unpacks through its hooks after the context closed.
    assert log == ["pack", "unpack"]
    np.testing.assert_allclose(x.grad.numpy(), np.cos(np.exp(A)) * np.exp(A), rtol=1e-5)


def test_identity_hooks_leave_gradients_unchanged_on_an_mlp():
    torch = pytest.importorskip("torch")
    w1 = RNG.standard_normal((4, 8)).astype(np.float32)
    w2 = RNG.standard_normal((8, 3)).astype(np.float32)

    def grads(mod, hooks):
        ps = [mod.tensor(w, requires_grad=True) for w in (w1, w2)]
        x = mod.tensor(A)
        ctx = mod.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t) if hooks else None
        if ctx:
            ctx.__enter__()
        loss = ((x @ ps[0]).tanh() @ ps[1]).log_softmax(1).mean()
        if ctx:
            ctx.__exit__(None, None, None)
        loss.backward()
        return [p.grad.numpy() for p in ps]

    for g, h, t in zip(grads(dygrad, False), grads(dygrad, True), grads(torch, True)):
        np.testing.assert_array_equal(g, h)
        np.testing.assert_allclose(h, t, rtol=1e-5, atol=1e-6)


def test_float16_compression_hook():
    torch = pytest.importorskip("torch")
    kinds = []

    def run(mod):
        def pack(t):
            kinds.append(str(t.dtype))
            return t.to(mod.float16)

        def unpack(t):
            return t.to(mod.float32)

        x = mod.tensor(A, requires_grad=True)
        w = mod.tensor(B, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = ((x @ w).tanh() * x.sum(1, keepdim=True)).sum()
        y.backward()
        return x.grad.numpy(), w.grad.numpy()

    got = run(dygrad)
    want = run(torch)
    assert kinds and set(kinds) == {"torch.float32"}
    for g, t in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, t, rtol=1e-3, atol=1e-3)
    # The compressed copy is what the node holds: float16 arrays.
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t.half(), lambda t: t.float()):
        y = x.exp()
    (rec,) = y.grad_fn._saved.out
    assert rec.packed.dtype == dygrad.float16 and rec.packed._data.nbytes == A.size * 2


def test_unpack_returning_another_dtype_is_cast_back():
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t.double()):
        y = (x * x).sum()
    y.backward()
    assert x.grad.dtype == dygrad.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * A, rtol=1e-6)


def test_disk_offload_style_hook():
    """Pack writes the array into a store (standing in for a file) and returns a key; the graph
    then holds no saved array, and backward reads them back."""
    store = {}
    reads = []

    def pack(t):
        key = f"t{len(store)}"
        store[key] = t.detach().numpy().copy()
        return key

    def unpack(key):
        reads.append(key)
        return dygrad.tensor(store.pop(key))

    x = dygrad.tensor(A, requires_grad=True)
    w = dygrad.tensor(B, requires_grad=True)
    with graph.saved_tensors_hooks(pack, unpack):
        h = (x @ w).relu()
        loss = (h * h).mean()
    assert len(store) == 5  # x and w for the matmul, relu's output, h twice for h * h
    node = h.grad_fn
    assert all(isinstance(r.packed, str) for r in node._saved.out)
    assert node._out is None  # the node holds no array itself
    loss.backward()
    assert store == {} and sorted(reads) == ["t0", "t1", "t2", "t3", "t4"]
    xr, wr = A.astype(np.float64), B.astype(np.float64)
    hr = np.maximum(xr @ wr, 0)
    gh = 2 * hr / hr.size * (hr > 0)
    np.testing.assert_allclose(x.grad.numpy(), gh @ wr.T, rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), xr.T @ gh, rtol=1e-5)


def test_nesting_uses_innermost_like_torch():
    torch = pytest.importorskip("torch")

    def run(mod):
        log = []
        G = mod.autograd.graph
        x = mod.tensor(A, requires_grad=True)
        with G.saved_tensors_hooks(lambda t: (log.append("outer"), t)[1], lambda t: t):
            with G.saved_tensors_hooks(lambda t: (log.append("inner"), t)[1], lambda t: t):
                y = x.exp()
            z = y.sin()
        (y.sum() + z.sum()).backward()
        return log, x.grad.numpy()

    got, want = run(dygrad), run(torch)
    assert got[0] == want[0] == ["inner", "outer"]
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
    assert graph.hooks_open[0] == 0 and graph.current_saved_hooks() is None


def test_context_closes_on_error():
    with pytest.raises(ValueError):
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            raise ValueError
    assert graph.current_saved_hooks() is None and graph.hooks_open[0] == 0


def test_hooks_are_thread_local():
    log = []
    x = dygrad.tensor(A, requires_grad=True)
    other = []

    def work():
        other.append(x.exp())  # another thread: no hooks there

    with graph.saved_tensors_hooks(*counting_hooks(log)):
        t = threading.Thread(target=work)
        t.start()
        t.join()
        assert log == []
        mine = x.exp()
    assert log == ["pack"]
    assert type(other[0].grad_fn._saved) is tuple and type(mine.grad_fn._saved) is not tuple

    # And hooks opened in a thread stay there.
    def work2():
        with graph.saved_tensors_hooks(*counting_hooks(log)):
            barrier.wait()
            barrier.wait()

    barrier = threading.Barrier(2)
    log.clear()
    t = threading.Thread(target=work2)
    t.start()
    barrier.wait()
    y = x.sin()  # while the other thread's context is open
    barrier.wait()
    t.join()
    assert log == [] and type(y.grad_fn._saved) is tuple


def test_create_graph_double_backward_matches_torch():
    torch = pytest.importorskip("torch")

    def run(mod):
        log = []
        x = mod.tensor(A, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(*counting_hooks(log)):
            y = (x.sin() * x * x).sum()
        (g,) = mod.autograd.grad(y, x, create_graph=True)
        n_unpacks = log.count("unpack")
        (g2,) = mod.autograd.grad(g.sum(), x)
        return g.detach().numpy(), g2.numpy(), log.count("pack"), n_unpacks

    got, want = run(dygrad), run(torch)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-5)
    assert got[2:] == want[2:]


def test_create_graph_through_hooked_output_and_leaf():
    # exp saves its output; with create_graph the unpacked output is put back in the graph, so
    # the second derivative of exp is exp.
    x = dygrad.tensor([0.5, 1.0], requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
        y = x.exp().sum()
    (g,) = dygrad.autograd.grad(y, x, create_graph=True)
    (g2,) = dygrad.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), np.exp([0.5, 1.0]), rtol=1e-6)
    # A leaf saved through hooks is put back as that leaf: its second-order gradient lands there.
    x.grad = None
    with graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
        y = (x * x * x).sum()
    y.backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([0.5, 1.0]), rtol=1e-6)


def test_unpack_errors():
    torch = pytest.importorskip("torch")
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: 3.0):
        y = (x * x).sum()
    tx = torch.tensor(A, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: 3.0):
        ty = (tx * tx).sum()
    with pytest.raises(TypeError) as want:
        ty.backward()
    with pytest.raises(TypeError) as got:
        y.backward()
    assert str(got.value) == str(want.value)

    with graph.saved_tensors_hooks(lambda t: t, lambda t: t.reshape(-1)[:2]):
        y = (x * x).sum()
    with pytest.raises(RuntimeError, match=r"unpack_hook returned a tensor of shape \[2\], but the "
                       r"tensor saved for backward had shape \[3, 4\]"):  # fmt: skip
        y.backward()


def test_version_checks_still_work_with_hooks():
    x = dygrad.tensor(A, requires_grad=True)
    h = x * 1
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = h.sin().sum()  # saves h
        z = h.exp()  # saves its output
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    z.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    # The message is the one without hooks.
    h2 = x * 1
    y2 = h2.sin().sum()
    h2.add_(1)
    with pytest.raises(RuntimeError) as plain:
        y2.backward()
    h3 = x * 1
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y3 = h3.sin().sum()
    h3.add_(1)
    with pytest.raises(RuntimeError) as hooked:
        y3.backward()
    # The same message (its first line: later lines point at the user's source lines).
    assert str(hooked.value).split("\n")[0] == str(plain.value).split("\n")[0]


def test_inplace_op_under_hooks():
    torch = pytest.importorskip("torch")

    def run(mod):
        log = []
        x = mod.tensor(A, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(*counting_hooks(log)):
            y = x * 1
            y.exp_()  # saves its output: the target after the write
            z = y * y
        z.sum().backward()
        return x.grad.numpy(), log

    got, want = run(dygrad), run(torch)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert got[1] == want[1]
    # The target changed again after the in-place op saved it: refused.
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = (x * 1).exp_()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_second_backward_after_free_still_raises():
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_saved_attribute_access_unpacks_like_torch():
    torch = pytest.importorskip("torch")
    # dygrad names saved values after its rules' parameters (`x`), PyTorch after its own (`self`).
    for mod, attr in ((dygrad, "_saved_x"), (torch, "_saved_self")):
        log = []
        x = mod.tensor(A, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(*counting_hooks(log)):
            y = x.sin()
        s1 = getattr(y.grad_fn, attr)
        getattr(y.grad_fn, attr)
        assert log == ["pack", "unpack", "unpack"], mod
        np.testing.assert_array_equal(s1.detach().numpy(), A)
        assert s1.requires_grad


class Exp(dygrad.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        r = a.exp()
        ctx.save_for_backward(a, r)
        return r

    @staticmethod
    def backward(ctx, g):
        a, r = ctx.saved_tensors
        ctx.saved_tensors  # noqa: B018 - a second access unpacks again
        return g * r


def test_custom_function_save_for_backward_honours_hooks():
    torch = pytest.importorskip("torch")

    class TExp(torch.autograd.Function):
        forward = Exp.forward
        backward = Exp.backward

    def run(mod, fn):
        log = []
        x = mod.tensor(A, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(*counting_hooks(log)):
            y = fn.apply(x)
        packs = list(log)
        y.sum().backward()
        return packs, log[len(packs) :], x.grad.numpy()

    got, want = run(dygrad, Exp), run(torch, TExp)
    assert got[:2] == want[:2] == (["pack", "pack"], ["unpack"] * 4)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-5)


def test_custom_function_offloaded_and_stale():
    store = {}

    def pack(t):
        store[id(t)] = t.detach().clone()
        return id(t)

    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(pack, lambda k: store[k]):
        y = Exp.apply(x)
    assert all(type(e) is graph.SavedRecord for e in y.grad_fn._saved)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(A), rtol=1e-6)
    # A saved output changed in place: refused as without hooks.
    with graph.saved_tensors_hooks(pack, lambda k: store[k]):
        y = Exp.apply(x)
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_grad_modes_inside_hooks_like_torch():
    torch = pytest.importorskip("torch")
    for mod in (dygrad, torch):
        seen = []

        def pack(t):
            seen.append(("pack", mod.is_grad_enabled()))
            return t * 1  # under no_grad: records nothing, so no recursion

        def unpack(t):
            seen.append(("unpack", mod.is_grad_enabled()))
            return t

        x = mod.tensor(A, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = x.exp().sum()
        mod.autograd.grad(y, x)
        with mod.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = x.exp().sum()
        mod.autograd.grad(y, x, create_graph=True)
        assert seen == [("pack", False), ("unpack", False), ("pack", False), ("unpack", True)]


def test_disable_saved_tensors_hooks():
    with graph.disable_saved_tensors_hooks("no hooks here"):
        with pytest.raises(RuntimeError, match="^no hooks here$"):
            with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):  # allowed again after
        with pytest.raises(RuntimeError, match="^not while hooks are set$"):
            with graph.disable_saved_tensors_hooks("not while hooks are set"):
                pass

    @graph.disable_saved_tensors_hooks("decorated")
    def f():
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            pass

    with pytest.raises(RuntimeError, match="decorated"):
        f()
    with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        pass


def test_save_on_cpu_copies():
    torch = pytest.importorskip("torch")

    def run(mod):
        x = mod.tensor(A, requires_grad=True)
        w = mod.tensor(B, requires_grad=True)
        with mod.autograd.graph.save_on_cpu(pin_memory=False):
            y = (x @ w).sigmoid().sum()
        y.backward()
        return x.grad.numpy(), w.grad.numpy()

    for g, t in zip(run(dygrad), run(torch)):
        np.testing.assert_allclose(g, t, rtol=1e-5, atol=1e-6)
    x = dygrad.tensor(A, requires_grad=True)
    with graph.save_on_cpu():
        y = x.sin()
    (rec,) = y.grad_fn._saved[:1]
    assert not np.shares_memory(rec.packed._data, x._data)
    np.testing.assert_array_equal(rec.packed.numpy(), A)


def test_dropout_mask_goes_through_hooks():
    # The mask is a plain array operand of dropout's multiply: hooks see it as a tensor.
    seen = []
    x = dygrad.tensor(A, requires_grad=True)
    with graph.saved_tensors_hooks(lambda t: (seen.append(t.shape), t)[1], lambda t: t):
        y = dygrad.nn.functional.dropout(x, 0.5, True)
    assert seen == [(3, 4)]
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (y.detach().numpy() != 0) * 2.0)


def test_multi_output_and_variadic_ops_under_hooks():
    torch = pytest.importorskip("torch")

    def run(mod):
        x = mod.tensor(A, requires_grad=True)
        w = mod.tensor(B, requires_grad=True)
        with mod.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
            v, _ = (x * 2).max(1)
            s = mod.stack([x @ w, (x @ w).exp()]).sin()
            p = mod.nn.functional.max_pool2d(x.reshape(1, 1, 3, 4), 2)
        (v.sum() + s.sum() + p.sum()).backward()
        return x.grad.numpy(), w.grad.numpy()

    for g, t in zip(run(dygrad), run(torch)):
        np.testing.assert_allclose(g, t, rtol=1e-5, atol=1e-5)


def test_graph_with_hooks_is_freed_without_the_cycle_collector():
    gc.disable()
    try:
        x = dygrad.tensor(A, requires_grad=True)
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            y = x.exp().tanh()
        ref = weakref.ref(y.grad_fn)
        ref_out = weakref.ref(y.grad_fn.next_functions[0][0])
        del y
        assert ref() is None and ref_out() is None
    finally:
        gc.enable()
