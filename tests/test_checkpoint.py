"""Activation checkpointing (`dygrad.utils.checkpoint`): gradients equal to the model run without
it (dropout included), against `torch.utils.checkpoint`, both variants, the warnings and errors
PyTorch gives, double backward, and fewer saved values held by the graph."""

import gc
import subprocess
import sys
import tracemalloc
import warnings
import weakref

import numpy as np
import pytest

import dygrad
from dygrad import nn
from dygrad.autograd import graph
from dygrad.utils.checkpoint import CheckpointError, checkpoint, checkpoint_sequential

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 6)).astype(np.float32)
BOTH = pytest.mark.parametrize("reentrant", [False, True], ids=["nonreentrant", "reentrant"])


def mlp(mod, seed=0, p=0.3):
    mod.manual_seed(seed)
    return mod.nn.Sequential(
        mod.nn.Linear(6, 16), mod.nn.ReLU(), mod.nn.Dropout(p),
        mod.nn.Linear(16, 16), mod.nn.Tanh(), mod.nn.Dropout(p),
        mod.nn.Linear(16, 16), mod.nn.ReLU(),
        mod.nn.Linear(16, 3),
    )  # fmt: skip


def grads_of(model, x):
    return [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy().copy()]


def assert_same(a, b, rtol=1e-6, atol=1e-7):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


@BOTH
def test_mlp_with_dropout_same_gradients_and_rng_stream(reentrant):
    model = mlp(dygrad)
    x = dygrad.tensor(X, requires_grad=True)
    dygrad.manual_seed(7)
    plain = model(x)
    plain.pow(2).sum().backward()
    want = grads_of(model, x)
    after_plain = dygrad.rand(3).numpy()

    model.zero_grad()
    x.grad = None
    dygrad.manual_seed(7)
    out = checkpoint(model, x, use_reentrant=reentrant)
    np.testing.assert_array_equal(out.detach().numpy(), plain.detach().numpy())
    out.pow(2).sum().backward()
    assert_same(grads_of(model, x), want)
    # The recomputation replays the forward's draws without consuming the generator.
    np.testing.assert_array_equal(dygrad.rand(3).numpy(), after_plain)


@BOTH
def test_without_preserving_rng_the_masks_differ(reentrant):
    model = mlp(dygrad, p=0.5)
    x = dygrad.tensor(X, requires_grad=True)
    dygrad.manual_seed(3)
    model(x).sum().backward()
    want = grads_of(model, x)
    model.zero_grad()
    x.grad = None
    dygrad.manual_seed(3)
    checkpoint(model, x, use_reentrant=reentrant, preserve_rng_state=False).sum().backward()
    got = grads_of(model, x)
    assert any(not np.allclose(u, v) for u, v in zip(got, want))


@BOTH
def test_in_place_modules_inside_the_region(reentrant):
    dygrad.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(8, 8), nn.Dropout(0.3, inplace=True), nn.Tanh(), nn.Linear(8, 2),
    )  # fmt: skip
    x = dygrad.tensor(X, requires_grad=True)
    dygrad.manual_seed(5)
    model(x).sum().backward()
    want = grads_of(model, x)
    for segments in (1, 3):
        model.zero_grad()
        x.grad = None
        dygrad.manual_seed(5)
        checkpoint_sequential(model, segments, x, use_reentrant=reentrant).sum().backward()
        assert_same(grads_of(model, x), want)


def multi(a, b, scale, c, *, shift=0.0):
    h = (a @ b).tanh() * scale
    return h.exp().sum(1) + c.sin().sum() + shift, (h * c[: h.shape[1]]).relu()


@BOTH
def test_multi_input_multi_output_non_tensor_args(reentrant):
    a0 = RNG.standard_normal((4, 3)).astype(np.float32)
    b0 = RNG.standard_normal((3, 5)).astype(np.float32)
    c0 = RNG.standard_normal(5).astype(np.float32)

    def run(ckpt):
        a = dygrad.tensor(a0, requires_grad=True)
        b = dygrad.tensor(b0, requires_grad=True)
        c = dygrad.tensor(c0)  # an input that does not require grad
        kw = {} if reentrant else {"shift": 0.5}
        if ckpt:
            u, v = checkpoint(multi, a, b, 0.7, c, use_reentrant=reentrant, **kw)
        else:
            u, v = multi(a, b, 0.7, c, **kw)
        (u.sum() * 2 + (v * v).sum()).backward()
        assert c.grad is None
        return [u.detach().numpy(), v.detach().numpy(), a.grad.numpy(), b.grad.numpy()]

    assert_same(run(True), run(False))


@pytest.mark.parametrize("segments", [1, 2, 3, 4])
@BOTH
def test_checkpoint_sequential_of_modules(segments, reentrant):
    model = mlp(dygrad)
    x = dygrad.tensor(X, requires_grad=True)
    dygrad.manual_seed(11)
    model(x).square().mean().backward()
    want = grads_of(model, x)
    model.zero_grad()
    x.grad = None
    dygrad.manual_seed(11)
    out = checkpoint_sequential(model, segments, x, use_reentrant=reentrant)
    out.square().mean().backward()
    assert_same(grads_of(model, x), want)
    # A list of functions works too.
    model.zero_grad()
    x.grad = None
    dygrad.manual_seed(11)
    fns = list(model.children())
    checkpoint_sequential(fns, segments, x, use_reentrant=reentrant).square().mean().backward()
    assert_same(grads_of(model, x), want)


def _copy_to_torch(model, torch):
    tm = mlp(torch, p=0.0)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return tm


@BOTH
def test_against_torch_utils_checkpoint(reentrant):
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp

    model = mlp(dygrad, p=0.0)
    tmodel = _copy_to_torch(model, torch)
    x = dygrad.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    out = checkpoint_sequential(model, 3, x, use_reentrant=reentrant)
    tout = tcp.checkpoint_sequential(tmodel, 3, tx, use_reentrant=reentrant)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.pow(2).sum().backward()
    tout.pow(2).sum().backward()
    want = [p.grad.numpy() for p in tmodel.parameters()] + [tx.grad.numpy()]
    assert_same(grads_of(model, x), want, rtol=1e-4, atol=1e-5)


def test_double_backward_through_checkpoint_matches_torch():
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp

    w0 = RNG.standard_normal((6, 4)).astype(np.float32)

    def run(mod, ckpt_fn):
        x = mod.tensor(X, requires_grad=True)
        w = mod.tensor(w0, requires_grad=True)
        f = lambda a: ((a @ w).tanh() * a.sum(1, keepdim=True)).sin().sum()  # noqa: E731
        y = ckpt_fn(f, x) if ckpt_fn else f(x)
        gx, gw = mod.autograd.grad(y, (x, w), create_graph=True)
        (gx.pow(2).sum() + gw.sum()).backward()
        return [gx.detach().numpy(), gw.detach().numpy(), x.grad.numpy(), w.grad.numpy()]

    got = run(dygrad, lambda f, x: checkpoint(f, x, use_reentrant=False))
    plain = run(dygrad, None)
    want = run(torch, lambda f, x: tcp.checkpoint(f, x, use_reentrant=False))
    assert_same(got, plain, rtol=1e-5, atol=1e-6)
    assert_same(got, want, rtol=1e-4, atol=1e-5)


def test_create_graph_backward_and_grad_wrt_parameters_inside():
    model = mlp(dygrad, p=0.0)
    x = dygrad.tensor(X, requires_grad=True)
    y = checkpoint(model, x, use_reentrant=False).sum()
    ps = list(model.parameters())
    gs = dygrad.autograd.grad(y, ps)  # parameters used inside the region are reachable
    model.zero_grad()
    model(x).sum().backward()
    assert_same([g.numpy() for g in gs], [p.grad.numpy() for p in ps])
    # backward(inputs=...) reaches only the requested leaf
    model.zero_grad()
    checkpoint(model, x, use_reentrant=False).sum().backward(inputs=[ps[0]])
    assert ps[0].grad is not None and ps[2].grad is None


def test_retain_graph_recomputes_each_backward():
    calls = []
    w = dygrad.tensor(RNG.standard_normal((6, 6)).astype(np.float32), requires_grad=True)

    def f(a):
        calls.append(1)
        return (a @ w).exp().sum()

    x = dygrad.tensor(X * 0.1, requires_grad=True)
    y = checkpoint(f, x, use_reentrant=False)
    y.backward(retain_graph=True)
    g1 = w.grad.numpy().copy()
    y.backward()
    assert len(calls) == 3  # the forward, and one recomputation per backward
    np.testing.assert_allclose(w.grad.numpy(), 2 * g1, rtol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_early_stop_skips_work_after_the_last_saved_value():
    for early, expected in ((True, 1), (False, 2)):
        tail = []

        def f(a):
            y = a.exp()
            tail.append(1)  # after the last op that saves anything
            return y.sum()

        x = dygrad.tensor(X, requires_grad=True)
        checkpoint(f, x, use_reentrant=False, early_stop=early).backward()
        assert len(tail) == expected
        np.testing.assert_allclose(x.grad.numpy(), np.exp(X), rtol=1e-6)


def test_determinism_checks():
    flag = {"n": 3}

    def f(a):
        return a[:, : flag["n"]].exp().sum()

    x = dygrad.tensor(X, requires_grad=True)
    y = checkpoint(f, x, use_reentrant=False)
    flag["n"] = 4
    with pytest.raises(CheckpointError, match="different metadata than during the forward pass"):
        y.backward()
    flag["n"] = 3
    y = checkpoint(f, x, use_reentrant=False, determinism_check="none")
    flag["n"] = 4
    with pytest.raises(RuntimeError, match="unpack_hook returned a tensor of shape"):
        y.backward()

    def g(a):
        return a.exp().sin().sum() if flag["n"] == 3 else a.exp().sum()

    flag["n"] = 3
    y = checkpoint(g, x, use_reentrant=False)
    flag["n"] = 4
    with pytest.raises(CheckpointError, match="A different number of tensors was saved"):
        y.backward()
    with pytest.raises(ValueError, match="determinism_check should be one of"):
        checkpoint(g, x, use_reentrant=False, determinism_check="strict")


@BOTH
def test_input_modified_in_place_after_forward_is_refused(reentrant):
    x = dygrad.tensor(X, requires_grad=True)
    h = x * 2
    y = checkpoint(lambda a: a.exp().sum(), h, use_reentrant=reentrant)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_context_fn_wraps_forward_and_recomputation():
    log = []

    class Ctx:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            log.append(self.name)

        def __exit__(self, *exc):
            log.append("/" + self.name)

    x = dygrad.tensor(X, requires_grad=True)
    y = checkpoint(lambda a: a.exp().sum(), x, use_reentrant=False,
                   context_fn=lambda: (Ctx("fwd"), Ctx("rec")))  # fmt: skip
    assert log == ["fwd", "/fwd"]
    y.backward()
    assert log == ["fwd", "/fwd", "rec", "/rec"]


def test_nested_checkpoints_and_outer_hooks():
    model = mlp(dygrad, p=0.0)
    layers = list(model.children())
    x = dygrad.tensor(X, requires_grad=True)
    model(x).sum().backward()
    want = grads_of(model, x)

    def inner(h):
        return checkpoint(nn.Sequential(*layers[3:6]), h, use_reentrant=False)

    def outer(h):
        h = nn.Sequential(*layers[:3])(h)
        return nn.Sequential(*layers[6:])(inner(h))

    model.zero_grad()
    x.grad = None
    checkpoint(outer, x, use_reentrant=False).sum().backward()
    assert_same(grads_of(model, x), want)
    # Inside save_on_cpu: the checkpoint keeps its inputs through those hooks.
    model.zero_grad()
    x.grad = None
    with graph.save_on_cpu():
        y = checkpoint_sequential(model, 2, x, use_reentrant=False).sum()
    y.backward()
    assert_same(grads_of(model, x), want)


def test_use_reentrant_warnings_match_torch():
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp

    def messages(ckpt, seq, mod):
        x = mod.tensor(X, requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ckpt(lambda a: a.exp(), x)
            seq([lambda a: a.exp(), lambda a: a.sin()], 2, x)
            ckpt(lambda a: a.exp(), x, use_reentrant=False)
            ckpt(lambda a: a.exp(), x, use_reentrant=True)
        return [(str(m.message), m.category, m.filename) for m in w]

    got = messages(checkpoint, checkpoint_sequential, dygrad)
    want = messages(tcp.checkpoint, tcp.checkpoint_sequential, torch)
    assert [m[:2] for m in got] == [m[:2] for m in want] and len(got) == 2
    assert all(m[2] == __file__ for m in got)  # pointing at the caller


def test_reentrant_errors_and_warnings_match_torch():
    torch = pytest.importorskip("torch")
    import torch.utils.checkpoint as tcp

    def errors(ckpt, mod):
        x = mod.tensor(X, requires_grad=True)
        out = []
        for kw in ({"shift": 1.0}, {"context_fn": lambda: (None, None)}, {"debug": True}):
            with pytest.raises(ValueError) as e:
                ckpt(lambda a, shift=0.0: a + shift, x, use_reentrant=True, **kw)
            out.append(str(e.value))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            y = ckpt(lambda a: a.exp(), mod.tensor(X), use_reentrant=True)
        out.append([str(m.message) for m in w])
        out.append(y.requires_grad)
        return out

    assert errors(checkpoint, dygrad) == errors(tcp.checkpoint, torch)


def test_under_no_grad_just_runs():
    x = dygrad.tensor(X, requires_grad=True)
    with dygrad.no_grad():
        y = checkpoint(lambda a: a.exp(), x, use_reentrant=False)
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), np.exp(X), rtol=1e-6)


def test_checkpointed_graph_is_freed_without_the_cycle_collector():
    model = mlp(dygrad, p=0.0)
    gc.disable()
    try:
        x = dygrad.tensor(X, requires_grad=True)
        y = checkpoint_sequential(model, 2, x, use_reentrant=False)
        ref = weakref.ref(y.grad_fn)
        del y
        assert ref() is None
    finally:
        gc.enable()


def _saved_arrays(root, exclude):
    """The distinct arrays the graph behind `root` keeps for backward: what its nodes saved
    (through hooks or not) and the inputs kept by checkpoint frames reachable from them; not
    counting the arrays in `exclude` (the parameters)."""
    from dygrad.ops.registry import OpNode

    skip = {id(a) for a in exclude}
    arrays = {}
    seen = set()
    stack = [root.grad_fn]

    def add(v):
        if isinstance(v, dygrad.Tensor):
            v = v._data
        if isinstance(v, np.ndarray) and v.size > 1:
            while v.base is not None:
                v = v.base
            if id(v) not in skip:
                arrays[id(v)] = v
        elif isinstance(v, graph.SavedRecord):
            add(v.packed)
            frame = getattr(v.unpack_hook, "__self__", None)
            for a in getattr(frame, "args", ()):
                add(getattr(a, "tensor", None))
        elif isinstance(v, list | tuple):
            for u in v:
                add(u)

    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, OpNode) and n._saved is not None:
            add(list(n._saved))
            add(getattr(n._saved, "out", None))
            if n._out is not None:
                add(n._out[0])
        stack.extend(nxt for nxt, _ in n.next_functions)
    return arrays


def test_checkpointing_keeps_fewer_saved_values():
    dygrad.manual_seed(0)
    layers = []
    for _ in range(16):
        layers += [nn.Linear(64, 64), nn.ReLU()]
    model = nn.Sequential(*layers)
    x = dygrad.randn(128, 64)  # an input that does not require grad, as a batch of data

    def held(fn):
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            out = fn()
            kept = tracemalloc.get_traced_memory()[0] - base
            arrays = _saved_arrays(out, [p._data for p in model.parameters()])
            out.sum().backward()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        model.zero_grad()
        return len(arrays), sum(a.nbytes for a in arrays.values()), kept, peak

    n_plain, b_plain, kept_plain, peak_plain = held(lambda: model(x))
    n_ckpt, b_ckpt, kept_ckpt, peak_ckpt = held(
        lambda: checkpoint_sequential(model, 4, x, use_reentrant=False)
    )
    act = 128 * 64 * 4  # one activation, bytes
    # Plain: x and every ReLU's output (each ReLU keeps its output, each Linear its input, the
    # previous ReLU's output). Checkpointed in 4 segments of 8 modules: the segments' inputs (x
    # and 3 activations) plus the 4 ReLU outputs of the last segment, which runs plainly.
    assert n_plain == 17 and b_plain == 17 * act
    assert n_ckpt == 8 and b_ckpt == 8 * act
    # Memory allocated by the forward and still held (the graph's saved values and the
    # output), and the peak over forward and backward, both fall.
    assert kept_ckpt < 0.6 * kept_plain
    assert peak_ckpt < peak_plain


def test_utils_does_not_import_checkpoint_eagerly():
    code = (
        "import sys, dygrad, dygrad.utils; assert 'dygrad.utils.checkpoint' not in sys.modules; "
        "import dygrad as torch; f = torch.utils.checkpoint.checkpoint; "
        "assert 'dygrad.utils.checkpoint' in sys.modules; print('ok')"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "ok", p.stderr
