"""Engine and autograd semantics: accumulation, retain_graph, create_graph, autograd.grad, hooks,
grad modes, in-place versions, freeing, deep graphs and reference cycles."""

import gc
import threading
import weakref

import numpy as np
import pytest

import dygrad as torch
from dygrad.autograd.graph import AccumulateGrad


def f64(*a, **k):
    return torch.tensor(*a, dtype=torch.float64, **k)


def test_grad_accumulates_across_backward_calls():
    x = torch.ones(3, requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0, 5.0]


def test_gradients_meeting_at_a_value_are_summed():
    x = f64([1.0, 2.0], requires_grad=True)
    y = x * x  # used twice below
    (y + y * 3).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0]  # 4 * 2x


def test_leaf_gradients_summed_from_every_edge():
    # Gradients from several edges and several nodes are summed before a leaf accumulates, a
    # gradient sent to two leaves is not shared between their .grad, hooks run once.
    a = f64([1.0, 2.0], requires_grad=True)
    b = f64([3.0, 4.0], requires_grad=True)
    (a * a).sum().backward()  # two edges of one node to one leaf
    assert a.grad.tolist() == [2.0, 4.0]
    a.grad = None
    (a * b + a).sum().backward()  # edges from two nodes
    assert a.grad.tolist() == [4.0, 5.0] and b.grad.tolist() == [1.0, 2.0]
    a.grad = b.grad = None
    (a + b).sum().backward()  # add sends one array along both edges
    a.grad.add_(1.0)
    assert b.grad.tolist() == [1.0, 1.0] and a.grad.tolist() == [2.0, 2.0]
    seen = []
    a.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    a.grad = None
    (a * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and a.grad.tolist() == [30.0, 30.0]
    # autograd.grad captures instead of accumulating: .grad stays untouched.
    b.grad = None
    (gb,) = torch.autograd.grad((a * b).sum(), [b])
    assert gb.tolist() == [1.0, 2.0] and b.grad is None


def _hook_order(mod, seed):
    # A random program over three leaves; every tensor's hook notes its name when it runs.
    import random

    rng = random.Random(seed)
    order = []

    def tag(t, name):
        t.register_hook(lambda g: order.append(name))
        return t

    leaves = [mod.tensor([0.3 + i, 0.7], requires_grad=True) for i in range(3)]
    pool = list(leaves)
    for k in range(rng.randint(2, 9)):
        kind = rng.choice(["mul", "add", "sin", "exp", "add_sum"])
        a, b = rng.choice(pool), rng.choice(pool)
        if kind == "mul":
            t = a * b
        elif kind == "add":
            t = a + b
        elif kind == "sin":
            t = a.sin()
        elif kind == "exp":
            t = (a * 0.1).exp()
        else:
            t = a + b.sum()
        pool.append(tag(t, f"t{k}"))
    for i, leaf in enumerate(leaves):
        tag(leaf, f"x{i}")
    sum(p.sum() for p in pool[3:]).backward()
    return order, [leaf.grad.tolist() if leaf.grad is not None else None for leaf in leaves]


def test_backward_runs_nodes_in_pytorchs_order():
    # Newest node first, each after all of its consumers, and a leaf as soon as the last op that
    # used it has run (its oldest user, when that is on the backward's path): the hooks of 200
    # random programs run in the order PyTorch runs them (the engine before ran 90 of them in
    # another order), with PyTorch's gradients.
    real = pytest.importorskip("torch")
    for seed in range(200):
        want, want_grads = _hook_order(real, seed)
        got, got_grads = _hook_order(torch, seed)
        assert got == want, seed
        for g, w in zip(got_grads, want_grads, strict=True):
            assert (g is None) == (w is None), seed
            if g is not None:
                np.testing.assert_allclose(g, w, rtol=1e-6)


def test_a_leaf_accumulates_once_its_last_user_has_run():
    # PyTorch's order (z's node, x's, then y's chain, w last): x is ready as soon as z's node
    # ran; its hook sees the whole gradient once. A leaf used by a later op and again by an op
    # made long after it, a leaf whose node was made by register_hook before any op used it,
    # and leaves of a custom Function keep one summed gradient each.
    order = []

    def tag(t, name):
        t.register_hook(lambda g: order.append((name, g.tolist())))
        return t

    x = f64([1.0, 2.0], requires_grad=True)
    w = f64([3.0, 4.0], requires_grad=True)
    tag(x, "x")
    tag(w, "w")
    y = tag(tag(w * 2, "w2").exp(), "y")
    z = tag(y * x, "z")
    (z.sum() + (x * x).sum()).backward()
    assert [n for n, _ in order] == ["z", "x", "y", "w2", "w"]
    assert order[1][1] == (np.exp(f64([6.0, 8.0]).numpy()) + 2 * x.detach().numpy()).tolist()
    assert x.grad.tolist() == order[1][1]

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 2 * a * g

    p = f64([1.0, -1.0], requires_grad=True)
    seen = []
    p.register_hook(lambda g: seen.append(g.tolist()))
    q = p * 3
    r = Square.apply(p) + q.sin() + Square.apply(q) + p
    r.sum().backward()
    want = 2 * p.detach().numpy() + 3 * np.cos(3 * p.detach().numpy()) + 18 * p.detach().numpy()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], want + 1)
    np.testing.assert_allclose(p.grad.numpy(), want + 1)


def test_a_leafs_gradients_are_summed_before_they_meet_its_grad():
    # PyTorch adds the sum of a backward's gradients for a leaf to its .grad: G + (g1 + g2),
    # never (G + g1) + g2. With G = 1 and g1 = g2 = 2**-24 in float32 the two differ (1 + 2**-24
    # rounds to 1): two edges of one node (a * a), and two nodes, the first user last.
    a = torch.tensor([2.0**-24], requires_grad=True)
    a.grad = torch.tensor([1.0])
    (a * a).sum().backward()
    assert a.grad.tolist() == [1 + 2**-23]
    b = torch.tensor([1.0], requires_grad=True)
    b.grad = torch.tensor([1.0])
    ((b * 2.0**-24) + (b * 2.0**-24)).sum().backward()
    assert b.grad.tolist() == [1 + 2**-23]


def test_a_leaf_runs_after_every_node_that_recorded_an_edge_to_it():
    # A leaf's node is numbered below every node that uses it, whatever order they were made
    # and their edges recorded in: a custom Function's node is made before its forward, which
    # here builds (and keeps) a graph on the leaf; another thread makes the leaf's node for a
    # newer op while a Function's forward waits; a Function whose forward changes its input
    # in place under enable_grad sends to the input's history from before the call, as
    # PyTorch. Each gradient against its value by hand (PyTorch's).
    import threading

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with torch.enable_grad():
                y = x * x  # a graph on x, made after this Function's node, kept alive below
            ctx.save_for_backward(x, y)
            return y.detach() * 1.0

        @staticmethod
        def backward(ctx, g):
            x, _ = ctx.saved_tensors
            return 2 * x * g

    x = f64([1.0, 2.0, 3.0], requires_grad=True)
    loss = Square.apply(x).sum() + (x * 10).sum()
    assert torch.autograd.grad(loss, x)[0].tolist() == [12.0, 14.0, 16.0]
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    (Square.apply(x).sum() + (x * 10).sum()).backward(inputs=[x])
    assert seen == [[12.0, 14.0, 16.0]] and x.grad.tolist() == [12.0, 14.0, 16.0]

    started, made = threading.Event(), threading.Event()

    class Slow(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            started.set()
            made.wait()  # the other thread records x * 3 meanwhile
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = f64([1.0, 2.0], requires_grad=True)
    keep = []

    def other():
        started.wait()
        keep.append(x * 3)
        made.set()

    t = threading.Thread(target=other)
    t.start()
    a = Slow.apply(x)
    t.join()
    assert torch.autograd.grad(a.sum() + (x * 10).sum(), x)[0].tolist() == [12.0, 12.0]

    class InPlace(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            with torch.enable_grad():
                x.mul_(2)
            return x * 3

        @staticmethod
        def backward(ctx, g):
            return g * 3

    w = f64([1.0, 2.0], requires_grad=True)
    x = w * 1.0
    (InPlace.apply(x).sum() + (x * 10).sum()).backward()
    assert w.grad.tolist() == [23.0, 23.0]  # 3 through the Function, 10 * 2 through x * 10


def test_a_leaf_packed_by_a_checkpoint_under_saved_tensor_hooks_runs_when_ready():
    # The checkpoint packs the leaf's edge before any op uses it (its node gets no number
    # then); the ops after it number it below themselves: PyTorch's order, x first.
    from dygrad.utils.checkpoint import checkpoint

    order = []
    x = f64([1.0, 2.0], requires_grad=True)
    y = f64([3.0, 4.0], requires_grad=True)
    c = y.exp()
    c.register_hook(lambda g: order.append("c"))
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
        b = checkpoint(lambda t: t.sin() * 2, x, use_reentrant=False)
    x.register_hook(lambda g: order.append("x"))
    y.register_hook(lambda g: order.append("y"))
    (c + b).sum().backward()
    assert order == ["x", "c", "y"]
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos([1.0, 2.0]))


def test_second_backward_through_freed_graph_raises_pytorch_error():
    x = torch.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = torch.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.clone()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first.numpy(), rtol=1e-6)


def test_node_without_saved_tensors_can_run_twice():
    x = torch.ones(2, requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_backward_on_non_scalar_needs_gradient():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        torch.ones(2).sum().backward()


def test_gradient_shape_mismatch_raises():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(torch.ones(3))


def test_higher_derivatives_of_a_cubic():
    x = f64(2.0, requires_grad=True)
    y = x**3
    (d1,) = torch.autograd.grad(y, x, create_graph=True)
    (d2,) = torch.autograd.grad(d1, x, create_graph=True)
    (d3,) = torch.autograd.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == (12.0, 12.0, 6.0)
    assert d1.grad_fn is not None and d3.grad_fn is None


def test_hessian_vector_product():
    a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])
    A = f64(a)
    x = f64([1.0, -2.0, 0.5], requires_grad=True)
    f = (x * torch.matmul(A, x)).sum() / 2 + (x**3).sum()  # Hessian = A + diag(6x)
    (g,) = torch.autograd.grad(f, x, create_graph=True)
    v = f64([0.1, 0.2, -0.3])
    (hv,) = torch.autograd.grad(g, x, grad_outputs=v)
    H = a + np.diag(6 * x.detach().numpy())
    np.testing.assert_allclose(hv.numpy(), H @ v.numpy(), rtol=1e-12)


def test_backward_create_graph_builds_graph_on_grad():
    x = f64([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    g = x.grad
    x.grad = None
    g.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_autograd_grad_does_not_touch_dot_grad():
    x = torch.ones(2, requires_grad=True)
    (g,) = torch.autograd.grad((x * 3).sum(), x)
    assert g.tolist() == [3.0, 3.0] and x.grad is None


def test_autograd_grad_unused_input():
    x = torch.ones(2, requires_grad=True)
    z = torch.ones(2, requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        torch.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = torch.autograd.grad(y, [x, z], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0] and gz is None
    x2 = torch.ones(2, requires_grad=True)
    (g0,) = torch.autograd.grad((x2 * 2).sum(), [z], allow_unused=True, materialize_grads=True)
    assert g0.tolist() == [0.0, 0.0]


def test_autograd_grad_input_not_requiring_grad():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.autograd.grad((x * 2).sum(), torch.ones(2))


def test_autograd_grad_wrt_intermediate():
    x = f64([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = (y * y).sum()
    gy, gx = torch.autograd.grad(z, [y, x])
    assert gy.tolist() == [6.0, 12.0] and gx.tolist() == [18.0, 36.0]


def test_backward_inputs_restricts_accumulation():
    x = torch.ones(2, requires_grad=True)
    w = torch.ones(2, requires_grad=True)
    (x * w * 2).sum().backward(inputs=[w])
    assert x.grad is None and w.grad.tolist() == [2.0, 2.0]


def test_hooks_on_leaf_and_nonleaf_and_removal():
    x = torch.ones(2, requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 2
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    assert seen == [[20.0, 20.0]] and x.grad.tolist() == [20.0, 20.0]
    h.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert seen == [[20.0, 20.0]]


def test_retain_grad_sees_hooked_gradient_like_pytorch():
    x = torch.ones(3, requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 3)
    (y * y).sum().backward()
    assert y.grad.tolist() == [12.0] * 3 and x.grad.tolist() == [24.0] * 3


def test_retained_gradient_of_an_input_of_backward_is_accumulated_once():
    # backward(inputs=[t]) on a non-leaf that retains its gradient: its retain hook and the
    # accumulation into the inputs' .grad are one gradient, not two (PyTorch: 6, not 12).
    x = torch.ones(2, requires_grad=True)
    t = x * 3
    t.retain_grad()
    (t * t).sum().backward(inputs=[t])
    assert t.grad.tolist() == [6.0, 6.0] and x.grad is None
    t = x * 3
    t.retain_grad()
    t.register_hook(lambda g: g * 10)
    s = (t * t).sum()
    s.backward(inputs=[t], retain_graph=True)
    s.backward(inputs=[t, x])
    assert t.grad.tolist() == [120.0, 120.0] and x.grad.tolist() == [180.0, 180.0]


def test_a_leaf_nodes_post_hook_runs_after_it_accumulates():
    # AccumulateGrad.register_hook: called with no gradient inputs and the gradient that
    # reached the leaf, once .grad holds it, in each backward while the node lives (PyTorch).
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    acc = y.grad_fn.next_functions[0][0]
    log = []
    acc.register_hook(lambda gi, go: log.append((gi, go[0].tolist(), x.grad.tolist())))
    y.sum().backward()
    (x * 3).sum().backward()
    assert log == [((), [2.0, 2.0], [2.0, 2.0]), ((), [3.0, 3.0], [5.0, 5.0])]
    torch.autograd.grad((x * 4).sum(), [x])  # nothing accumulated: no call
    assert len(log) == 2


def test_hook_requires_grad():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        torch.ones(2).register_hook(lambda g: g)


def test_requires_grad_rules():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        (x * 2).requires_grad = False
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        torch.ones(2, dtype=torch.int64).requires_grad_()
    assert x.is_leaf and not (x * 2).is_leaf
    assert torch.ones(2).requires_grad_().requires_grad


def test_next_functions_structure():
    x = torch.ones(2, requires_grad=True)
    y = x + 1
    (edge, other) = y.grad_fn.next_functions
    assert isinstance(edge[0], AccumulateGrad) and edge[0].variable is x
    assert other == (None, 0)
    z = y * x
    names = [type(n).__name__ for n, _ in z.grad_fn.next_functions]
    assert names == ["AddBackward0", "AccumulateGrad"]
    assert z.grad_fn.next_functions[1][0] is edge[0]  # one AccumulateGrad per leaf


def test_numpy_refused_for_requires_grad():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires grad"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_detach_inplace():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    y.detach_()
    assert y.grad_fn is None and not y.requires_grad


def test_grad_modes_and_decorators():
    x = torch.ones(1, requires_grad=True)

    @torch.no_grad()
    def f():
        return x * 2

    @torch.enable_grad()
    def g():
        return x * 2

    assert not f().requires_grad
    with torch.no_grad():
        assert g().requires_grad
    with torch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    torch.set_grad_enabled(True)
    with torch.inference_mode():
        assert not (x * 2).requires_grad and torch.is_inference_mode_enabled()
    assert (x * 2).requires_grad


def test_grad_mode_is_thread_local():
    x = torch.ones(1, requires_grad=True)
    seen = []

    def worker():
        seen.append((x * 2).requires_grad)

    with torch.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not (x * 2).requires_grad
    assert seen == [True]


def test_inplace_on_saved_tensor_raises_version_error():
    a = torch.ones(3, requires_grad=True)
    b = a * 2
    c = b * b  # saves b at version 0
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1; expected "
                       "version 0"):  # fmt: skip
        c.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    a = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        a.mul_(2)
    with torch.no_grad():
        a.mul_(2)
    assert a.tolist() == [2.0, 2.0, 2.0] and a._version == 1


def test_inplace_op_on_nonleaf_has_correct_gradient():
    x = f64([1.0, 2.0, 3.0], requires_grad=True)
    w = f64([2.0, 2.0, 2.0], requires_grad=True)
    y = x * 1
    y.mul_(w)  # y = x * w, recorded as MulBackward0
    y += 1
    assert type(y.grad_fn).__name__ == "AddBackward0"
    (y * y).sum().backward()
    yv = x.detach().numpy() * 2 + 1
    np.testing.assert_allclose(x.grad.numpy(), 2 * yv * 2)
    np.testing.assert_allclose(w.grad.numpy(), 2 * yv * x.detach().numpy())


def test_views_share_version_counter():
    x = torch.ones(2, 3)
    v = x[0]
    v.add_(1)
    assert x._version == 1 and x[0].tolist() == [2.0, 2.0, 2.0]


def test_saved_arrays_are_released_after_backward():
    x = torch.ones(1000, requires_grad=True)
    y = x.exp()  # ExpBackward0 saves its output
    node = y.grad_fn
    ref = weakref.ref(y._data)
    z = y.sum()
    del y
    gc.disable()
    try:
        assert ref() is not None
        z.backward()
        assert node._saved is None and node._out is None
        assert ref() is None
    finally:
        gc.enable()


def test_graph_is_freed_by_reference_counting_alone():
    gc.disable()
    try:
        x = torch.ones(3, requires_grad=True)
        y = (x * 2).exp().sum()
        y.retain_grad()
        y.register_hook(lambda g: g)
        node = weakref.ref(y.grad_fn)
        deep = weakref.ref(y.grad_fn.next_functions[0][0])
        del y
        assert node() is None and deep() is None
    finally:
        gc.enable()


def test_leaf_grads_never_alias_each_other_or_user_arrays():
    x = torch.ones(3, requires_grad=True)
    y = torch.ones(3, requires_grad=True)
    (x + y).sum().backward()  # AddBackward0 sends one array to both leaves
    x.grad.zero_()
    assert y.grad.tolist() == [1.0, 1.0, 1.0]
    a = torch.ones(2, 3, requires_grad=True)
    b = torch.ones(6, requires_grad=True)
    (a.view(6) + b).sum().backward()  # a's gradient is a view of b's
    b.grad.mul_(5)
    assert a.grad.tolist() == [[1.0] * 3] * 2
    v = torch.tensor([1.0, 2.0])
    w = torch.ones(2, requires_grad=True)
    (w * 1).backward(v)
    w.grad.zero_()
    assert v.tolist() == [1.0, 2.0]


def test_owned_gradient_is_kept_without_copy_and_accumulates_in_place():
    w = torch.ones(3, 2, requires_grad=True)
    x = torch.ones(4, 3)
    (x @ w).sum().backward()
    first = w.grad
    (x @ w).sum().backward()
    assert w.grad is first and w.grad.tolist() == [[8.0, 8.0]] * 3


def test_autograd_grad_runs_only_nodes_leading_to_inputs():
    a, b, c = (torch.ones(2, requires_grad=True) for _ in range(3))
    side = c * 3
    ran = []
    side.grad_fn.register_prehook(lambda gs: ran.append("side"))
    z = (a * b + side).sum()
    (ga,) = torch.autograd.grad(z, a)
    assert ga.tolist() == [1.0, 1.0] and ran == []
    z2 = (a * b + c * 3).sum()
    z2.backward()
    assert c.grad.tolist() == [3.0, 3.0]


def test_node_hooks_receive_tuples_of_tensors_and_can_replace_gradients():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    seen = []
    y.grad_fn.register_hook(lambda gi, go: seen.append((type(gi[0]), type(go[0]))))
    y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
    y.sum().backward()
    assert seen == [(torch.Tensor, torch.Tensor)] and x.grad.tolist() == [20.0, 20.0]
    x.grad = None
    z = x * 3
    z.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, None))
    z.sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_zero_gradients_stay_zero_when_upstream_gradient_is_inf():
    inf = float("inf")
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 1).masked_fill(torch.tensor([True, False, True]), 0.0).mul(inf).sum().backward()
    assert x.grad.tolist() == [0.0, inf, 0.0]
    x.grad = None
    x.clamp(0, 2.5).mul(inf).sum().backward()
    assert x.grad.tolist() == [inf, inf, 0.0]
    x.grad = None
    torch.where(x > 1.5, x, 0.0).mul(inf).sum().backward()
    assert x.grad.tolist() == [0.0, inf, inf]


def test_gradient_of_a_promoted_input_has_the_input_dtype():
    x = torch.ones(3, dtype=torch.float16, requires_grad=True)
    (x * torch.ones(3)).sum().backward()  # computed in float32
    assert x.grad.dtype is torch.float16
    w = torch.ones(3, requires_grad=True)
    (w + torch.ones(3, dtype=torch.float64)).sum().backward()
    assert w.grad.dtype is torch.float32


def test_prehook_on_a_leafs_accumulate_grad_node_matches_pytorch():
    x = torch.ones(3, requires_grad=True)
    y = x * 2
    acc = y.grad_fn.next_functions[0][0]
    handle = acc.register_prehook(lambda g: (g[0] * 10,))
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 20.0, 20.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_grad_through_an_input_an_op_cannot_differentiate_raises_pytorchs_error():
    x, target = torch.rand(3), torch.rand(3)
    w = torch.ones(3, requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy(x, target, weight=w)
    with pytest.raises(RuntimeError, match="'binary_cross_entropy' is not differentiable with "
                       "respect to argument 'weight'"):  # fmt: skip
        loss.backward()


def test_only_operands_a_running_rule_needs_are_saved():
    # As PyTorch: x * b keeps b (for x's gradient) but not x when b needs no gradient, so
    # changing x in place afterwards is fine; when b needs one too, x is kept and checked.
    a = torch.ones(3, requires_grad=True)
    b = torch.full((3,), 2.0)
    h = a * 1
    c = h * b
    assert c.grad_fn._saved_x is None and c.grad_fn._saved_y is b
    h.add_(1)
    c.sum().backward()
    assert a.grad.tolist() == [2.0, 2.0, 2.0]
    bw = torch.full((3,), 2.0, requires_grad=True)
    h = a * 1
    c = h * bw
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()
    # A matrix product by a constant matrix keeps the constant only.
    w = torch.ones(2, 2, requires_grad=True)
    y = torch.ones(4, 2) @ w
    saved = [v for v in y.grad_fn._saved if isinstance(v, torch.Tensor)]
    assert len(saved) == 1 and saved[0].shape == (4, 2)


def test_broadcast_gradients_reach_leaves_as_fresh_arrays():
    # sum_to_shape returns fresh arrays (not views of a keepdims sum), so the engine can hand a
    # bias's gradient to .grad without copying it; values as summed by hand.
    from dygrad.backend import sum_to_shape

    g = np.arange(24.0).reshape(2, 3, 4)
    for shape in [(4,), (3, 1), (1, 4), (), (2, 1, 4)]:
        r = sum_to_shape(g, shape)
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1)
        np.testing.assert_array_equal(r, g.sum(axis=axes, keepdims=True).reshape(shape))
        assert type(r) is np.ndarray and r.base is None and r.shape == shape
    w = torch.ones(3, 4, requires_grad=True)
    b = torch.ones(4, requires_grad=True)
    (torch.ones(5, 3) @ w + b).sum().backward()
    assert b.grad.tolist() == [5.0] * 4 and b.grad.numpy().base is None


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("rows", [0, 1, 100, 2048, 3000])
def test_bias_gradient_sums_match_numpy(dt, rows):
    # (rows, n) -> (n,) takes a product with ones up to 2048 rows of float32/64: the same sums
    # as NumPy's to rounding, NaN and inf carried, a fresh array of the right dtype.
    from dygrad.backend import sum_to_shape

    rng = np.random.default_rng(rows)
    g = rng.standard_normal((rows, 7)).astype(dt)
    for arr in (g, np.asfortranarray(g)):
        r = sum_to_shape(arr, (7,))
        assert r.dtype == dt and r.shape == (7,) and r.base is None
        want = arr.astype(np.float64).sum(axis=0)
        tol = 1e-2 if dt == np.float16 else 1e-5 if dt == np.float32 else 1e-12
        np.testing.assert_allclose(r, want, rtol=tol, atol=tol * max(rows, 1) ** 0.5)
    if rows:
        g = g.copy()
        g[0, 0], g[-1, 1] = np.nan, np.inf
        r = sum_to_shape(g, (7,))
        assert np.isnan(r[0]) and np.isinf(r[1])


def test_saved_attributes_of_ops_with_a_value_parameter():
    # masked_fill, constant padding and fill take a parameter named `value`: its _saved_value
    # and the node's other _saved_ names read the saved values (the reading helper must not
    # share their prefix), and a name no parameter has is an AttributeError.
    x = torch.randn(3, requires_grad=True)
    mask = torch.tensor([True, False, True])
    n = x.masked_fill(mask, 0.5).grad_fn
    assert n._saved_mask is mask and n._saved_value == 0.5
    p = torch.nn.functional.pad(x, (1, 1), value=2.0).grad_fn
    assert tuple(p._saved_pad) == (1, 1) and p._saved_value == 2.0
    with pytest.raises(AttributeError):
        n._saved_nothing  # noqa: B018


def test_leaf_does_not_keep_a_gradient_a_multi_output_node_passed_through():
    # max over the one dim of a 0-d leaf hands its incoming gradient on unchanged; when a hook
    # supplied that gradient, the leaf's .grad must be a copy, not the hook's tensor (PyTorch).
    t = torch.tensor(7.0)
    x = torch.tensor(2.0, requires_grad=True)
    v, _ = x.max(0)
    v.register_hook(lambda g: t)
    v.backward()
    x.grad.add_(1)
    assert t.item() == 7.0 and x.grad.item() == 8.0


def test_create_graph_backward_gives_a_leaf_a_copy_of_its_gradient():
    # As PyTorch: under create_graph the first gradient a leaf receives is copied (CopyBackwards
    # when it has a graph), so .grad is never the user's own gradient passed through.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    g = torch.tensor([1.0, 1.0])
    x.clone().backward(g, create_graph=True)
    g.mul_(5)
    assert x.grad.tolist() == [1.0, 1.0] and x.grad.grad_fn is None
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    g = torch.tensor([1.0, 1.0], requires_grad=True)
    x.clone().backward(g, create_graph=True)
    assert x.grad is not g and type(x.grad.grad_fn).__name__ == "CopyBackwards"
    x.grad.sum().backward()  # the copy's graph leads back to g
    assert g.grad.tolist() == [1.0, 1.0]
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward(create_graph=True)
    assert type(x.grad.grad_fn).__name__ == "CopyBackwards" and x.grad.tolist() == [2.0, 4.0]
    x.grad.sum().backward()  # d/dx sum(2x) = 2, added to the gradient already there
    assert x.grad.tolist() == [4.0, 6.0]
