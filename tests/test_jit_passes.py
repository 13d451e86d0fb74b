"""Graph passes (dygrad.jit.passes): each optimized graph replays to the same outputs, gradients,
written-back buffers and guard decisions as the graph it came from, and shrinks as it should."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dygrad as torch
import dygrad.nn as nn
import dygrad.nn.functional as F
from dygrad.jit.interp import GuardFailure, run_graph
from dygrad.jit.ir import Graph
from dygrad.jit.passes import (
    cse,
    dce,
    fold_constants,
    fuse_elementwise,
    is_elementwise,
    optimize,
)
from dygrad.jit.tracer import trace_graph

ALL = ("fold", "cse", "dce", "fuse")


def _trace(fn: Callable[..., Any], arrays: Sequence[np.ndarray]) -> Graph:
    g, _ = trace_graph(fn, tuple(torch.tensor(a) for a in arrays), {})
    return g


def _replay(g: Graph, arrays: Sequence[np.ndarray], module: Any, state: Any, seed: int) -> dict:
    """Run `g` on fresh inputs, backward through a weighted sum of its floating outputs; return
    outputs, input and parameter gradients and the module's buffers afterwards."""
    ins = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    if module is not None:
        module.load_state_dict(state)
        module.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    outs = run_graph(g, ins)
    rng = np.random.default_rng(1)
    loss = None
    for o in outs:
        if o.requires_grad:
            w = torch.tensor(rng.standard_normal(o.shape).astype(o.detach().numpy().dtype))
            term = (o * w).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    res: dict[str, Any] = {
        "outs": [o.detach().numpy().copy() for o in outs],
        "grads": [None if t.grad is None else t.grad.numpy().copy() for t in ins],
    }
    if module is not None:
        res["params"] = {
            k: None if p.grad is None else p.grad.numpy().copy()
            for k, p in module.named_parameters()
        }
        res["buffers"] = {k: b.numpy().copy() for k, b in module.named_buffers()}
    return res


def _same(a: dict, b: dict, rtol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            x, y = list(x.values()), list(y.values())
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            assert (u is None) == (v is None), k
            if u is not None:
                assert u.dtype == v.dtype and u.shape == v.shape, k
                np.testing.assert_allclose(u, v, rtol=rtol, atol=1e-6, err_msg=k)


def check(fn: Callable[..., Any], arrays: Sequence[np.ndarray], passes: Sequence[str] = ALL,
          module: Any = None, seed: int = 0) -> tuple[Graph, Graph, Any]:  # fmt: skip
    """Trace `fn` twice, optimize one trace with `passes`, and compare replays of both."""
    state = None if module is None else {k: v.clone() for k, v in module.state_dict().items()}
    ref = _trace(fn, arrays)
    opt = _trace(fn, arrays)
    stats = optimize(opt, passes)
    _same(_replay(ref, arrays, module, state, seed), _replay(opt, arrays, module, state, seed))
    if module is not None:
        module.load_state_dict(state)
    return ref, opt, stats


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- common subexpressions ---------------------------------------------------------------------


def test_cse_merges_duplicate_expressions():
    ref, opt, stats = check(lambda x: (x * 2 + x * 2).tanh() * (x * 2).exp(), [_rand(5)], ["cse"])
    assert ref.op_counts()["mul"] == 4
    assert opt.op_counts() == {"mul": 2, "add": 1, "tanh": 1, "exp": 1}
    assert stats["cse"]["nodes_merged"] == 2


def test_cse_chains_of_duplicates_and_multi_output_ops():
    def f(x):
        a = x.sin().cos()
        b = x.sin().cos()
        m1, i1 = x.max(dim=1)
        m2, i2 = x.max(dim=1)
        return (a * b).sum() + m1.sum() * m2.sum(), i1 + i2

    ref, opt, _ = check(f, [_rand(3, 4)], ["cse"])
    counts = opt.op_counts()
    assert counts["sin"] == counts["cos"] == counts["max_dim"] == 1
    assert len(opt) < len(ref)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 1 / 0
def test_cse_keeps_attributes_apart():
    def f(x, xi):
        # 2 and 2.0 promote an integer tensor differently; 0.0 and -0.0 differ under 1/x.
        ints = (xi * 2).sum() + (xi * 2.0).sum()
        return ints, 1 / (x * 0.0), 1 / (x * -0.0), x.sum(dim=(0,)) + x.sum(dim=(0,))[0], (
            x[1:3] * x[0:2] + x[1:3])  # fmt: skip

    x = np.array([[1.0, -2.0], [3.0, 4.0], [-5.0, 6.0]], np.float32)
    xi = np.arange(6).reshape(3, 2)
    ref, opt, _ = check(f, [x, xi], ["cse"])
    counts = opt.op_counts()
    # xi*2, xi*2.0, x*0.0, x*-0.0, two (1/t = reciprocal(t) * 1), the slices' product
    assert counts["mul"] == 7
    assert counts["sum_dim"] == 1 and counts["slice"] == 2
    outs = run_graph(opt, [torch.tensor(x), torch.tensor(xi)])
    assert outs[0].dtype == torch.float32  # int64 sum + float32 sum
    assert outs[0].item() == 30 + 30
    inf = np.where(x > 0, np.inf, -np.inf)
    np.testing.assert_array_equal(outs[1].numpy(), inf)
    np.testing.assert_array_equal(outs[2].numpy(), -inf)


def test_cse_merges_array_keys_by_identity_and_rewrites_guards():
    mask = np.array([True, False, True, True])
    other = mask.copy()  # equal, but not the same array: not merged

    def f(x):
        return x[mask].sum() + x[mask].sum() + x[other].sum()

    ref, opt, _ = check(f, [_rand(4)], ["cse", "dce"])
    assert ref.op_counts()["index"] == 3 and opt.op_counts()["index"] == 2
    live = {v.id for n in opt.nodes for v in n.outputs}
    assert len(opt.guards) == 3 and all(gd.value.id in live for gd in opt.guards)


def test_cse_guard_on_merged_value_still_decides():
    def f(x):
        if x.sum() > 0:
            y = x * 2
        else:
            y = x * 3
        if x.sum() > 0:  # the same test again: both guards end on one value
            y = y + 1
        return y

    ref, opt, stats = check(f, [np.ones(3, np.float32)], ALL)
    assert stats["cse"]["nodes_merged"] == 2  # the second sum_all and gt
    assert {gd.value.id for gd in opt.guards} == {opt.guards[0].value.id}
    with pytest.raises(GuardFailure):
        run_graph(opt, [torch.tensor(-np.ones(3, np.float32))])
    np.testing.assert_allclose(run_graph(opt, [torch.ones(3)])[0].numpy(), 3.0)


def test_cse_does_not_alias_separate_outputs():
    ref, opt, stats = check(lambda x: (x * 2, x * 2, torch.ones(2), torch.ones(2)), [_rand(2)])
    assert opt.op_counts()["mul"] == 2 and len(opt.const_values) == 2
    a, b, c, d = run_graph(opt, [torch.ones(2)])
    a.add_(1)
    c.add_(1)
    np.testing.assert_allclose(b.numpy(), 2.0)
    np.testing.assert_allclose(d.numpy(), 1.0)


def test_cse_of_in_place_ops():
    def f(x, d):
        a = x.clone()
        a.add_(1)
        b = x.clone()
        b.add_(1)
        c = x.clone()
        c.add_(d)  # float32 in place: stays float32
        e = x.clone() + d  # out of place: float64; never merged with the in-place add
        return (a * b).sum(), c, e

    arrays = [_rand(3), np.arange(3.0)]
    ref, opt, _ = check(f, arrays, ["cse", "dce"])
    counts = opt.op_counts()
    assert counts["clone"] == 1 and counts["add"] == 3  # a's add_ (b's merged), c's, e's
    outs = run_graph(opt, [torch.tensor(a) for a in arrays])
    eager = f(*[torch.tensor(a) for a in arrays])
    assert [o.dtype for o in outs] == [o.dtype for o in eager] == [
        torch.float32, torch.float32, torch.float64]  # fmt: skip


def test_cse_never_merges_random_draws():
    def f(x):
        return F.dropout(x, 0.5, True) + F.dropout(x, 0.5, True) + torch.rand(4) + torch.rand(4)

    ref, opt, _ = check(f, [np.ones(4, np.float32)], ALL, seed=3)
    assert opt.op_counts()["dropout_mask"] == 2 and opt.op_counts()["random"] == 2
    torch.manual_seed(3)
    eager = f(torch.ones(4))
    torch.manual_seed(3)
    np.testing.assert_array_equal(run_graph(opt, [torch.ones(4)])[0].numpy(), eager.numpy())


# --- dead code ---------------------------------------------------------------------------------


def test_dce_removes_unused_branch_and_constants():
    def f(x):
        unused = (x.exp() * torch.ones(3)).sin().sum()  # noqa: F841
        return x * 2

    ref, opt, stats = check(f, [_rand(3)], ["dce"])
    assert opt.op_counts() == {"mul": 1}
    assert stats["dce"] == {"nodes_removed": 4, "consts_removed": 1}
    assert not opt.const_values and not opt.consts


def test_dce_keeps_random_draws_that_nothing_uses():
    def f(x):
        F.dropout(x, 0.5, True)  # result unused: its mask draw still moves the generator
        torch.randn(3)
        return x + torch.randn(3)

    ref, opt, _ = check(f, [_rand(3)], ALL, seed=7)
    assert opt.op_counts()["dropout_mask"] == 1 and opt.op_counts()["random"] == 2
    assert "mul" not in opt.op_counts()  # x * mask went
    torch.manual_seed(7)
    eager = f(torch.tensor(_rand(3)))
    torch.manual_seed(7)
    np.testing.assert_array_equal(
        run_graph(opt, [torch.tensor(_rand(3))])[0].numpy(), eager.numpy()
    )


def test_dce_keeps_guarded_values():
    def f(x):
        if (x.max() > 10).item():  # a guard on a value nothing else reads
            return x * 2
        return x * 3

    ref, opt, _ = check(f, [_rand(3)], ALL)
    assert "max_all" in opt.op_counts()
    with pytest.raises(GuardFailure):
        run_graph(opt, [torch.full((3,), 11.0)])


# --- constant folding --------------------------------------------------------------------------


def test_fold_constant_subgraphs():
    def f(x):
        return x + (torch.ones(3) * 2 + 1)

    ref, opt, stats = check(f, [_rand(3)])
    assert opt.op_counts() == {"add": 1}
    assert len(opt.const_values) == 1
    np.testing.assert_array_equal(opt.consts[opt.const_values[0].id], [3.0, 3.0, 3.0])
    assert opt.consts[opt.const_values[0].id].dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.arange(6).reshape(2, 3) / 2,  # int64 / int: the default float
        lambda: torch.arange(6).reshape(2, 3) * 2,  # stays int64
        lambda: (torch.arange(6.0).reshape(3, 2).t() > 2).float(),
        lambda: torch.ones(2, 3, dtype=torch.float64).exp().sum(dim=0, keepdim=True),
        lambda: torch.stack([torch.arange(3), torch.arange(3) + 1]).to(torch.float16),
    ],
)
def test_fold_matches_eager_values_and_dtypes(make):
    eager = make()
    # clone() makes the result the caller's own (never folded); what feeds it folds to one array.
    g, _ = trace_graph(lambda x: make().clone(), (torch.ones(1),), {})
    fold_constants(g)
    dce(g)
    assert [n.name for n in g.nodes] == ["clone"] and len(g.const_values) == 1
    folded = g.consts[g.nodes[0].args[0].id]
    assert folded.dtype == eager.numpy().dtype and folded.flags.owndata
    np.testing.assert_array_equal(folded, eager.numpy())


def test_fold_leaves_parameters_inputs_and_outputs():
    lin = nn.Linear(3, 2)

    def f(x):
        return lin(torch.ones(4, 3)) + x, torch.ones(2) * 5

    ref, opt, _ = check(f, [_rand(4, 2)], ALL, module=lin)
    assert opt.op_counts()["addmm"] == 1 and opt.op_counts()["mul"] == 1
    with torch.no_grad():
        lin.weight.mul_(2)  # parameters are read afresh on every run
    x = torch.tensor(_rand(4, 2))
    got, five = run_graph(opt, [x])
    np.testing.assert_allclose(got.detach().numpy(), f(x)[0].detach().numpy(), rtol=1e-6)
    five.add_(1)  # the returned constant is a fresh result each run, not shared
    np.testing.assert_array_equal(run_graph(opt, [x])[1].numpy(), [5.0, 5.0])


def test_fold_rewrites_guards_on_constants():
    def f(x):
        if torch.ones(2).sum() > 1:
            return x * 2
        return x

    ref, opt, _ = check(f, [_rand(2)], ALL)
    assert opt.op_counts() == {"mul": 1}
    assert opt.guards[0].value.kind == "const"
    np.testing.assert_allclose(run_graph(opt, [torch.ones(2)])[0].numpy(), 2.0)


def test_fold_respects_size_limit():
    g = _trace(lambda x: x + torch.ones(100) * 2, [_rand(100)])
    assert fold_constants(g, max_bytes=100)["nodes_folded"] == 0
    assert fold_constants(g)["nodes_folded"] == 1


# --- fusion ------------------------------------------------------------------------------------


def test_fuse_elementwise_chain():
    ref, opt, stats = check(lambda x, y: ((x * 2 + y).tanh().sigmoid() - 1).sum(),
                            [_rand(3, 4), _rand(4, seed=1)], ["fuse"])  # fmt: skip
    assert [n.name for n in opt.nodes] == ["fused", "sum_all"]
    assert [m.name for m in opt.nodes[0].fused] == ["mul", "add", "tanh", "sigmoid", "sub"]
    assert [v.ref for v in opt.nodes[0].tensor_args()] == ["%input0", "%input1"]
    assert "fused(" in opt.format() and opt.op_counts() == ref.op_counts()
    assert stats["fuse"] == {"groups": 1, "nodes_fused": 5}


def test_fuse_stops_at_values_used_elsewhere():
    def f(x):
        a = x.exp()
        b = a.sin() * 3  # a is read by sin and by sum: exp ends its own group
        c = x * 2
        return b * a.sum(), c, c.tanh()  # c is returned: it ends a group

    ref, opt, _ = check(f, [_rand(4)], ["fuse"])
    groups = [[m.name for m in n.fused] for n in opt.nodes if n.fused]
    assert groups == [["sin", "mul", "mul"]]
    # The group stands where its last node stood: after the sum it reads.
    assert [n.name for n in opt.nodes] == ["exp", "mul", "sum_all", "fused", "tanh"]


def test_fuse_diamond_and_broadcast():
    def f(x, y):
        a = x.exp()
        return (F.relu(a * y) + a.sin()).mean()

    ref, opt, _ = check(f, [_rand(2, 3), _rand(3, seed=2)], ["fuse"])
    (fused,) = [n for n in opt.nodes if n.fused]
    assert [m.name for m in fused.fused] == ["exp", "mul", "relu", "sin", "add"]


def test_fused_batch_norm_updates_are_written_back():
    bn = nn.BatchNorm1d(3)
    bn.train()
    ref, opt, _ = check(lambda x: bn(x).tanh(), [_rand(5, 3)], ALL, module=bn)
    # running_mean * 0.9 + mean * 0.1: one group ending in the written-back value
    written = {v.id for _, v in opt.mutations}
    assert any(n.fused and n.outputs[0].id in written for n in opt.nodes)


def test_is_elementwise():
    from dygrad.ops.registry import REGISTRY

    yes = ["add", "mul", "div", "exp", "tanh", "relu", "gelu", "where", "clamp", "gt"]
    no = ["sum_all", "matmul", "reshape", "softmax", "dropout_mask", "cat", "index"]
    assert all(is_elementwise(REGISTRY[n]) for n in yes)
    assert not any(is_elementwise(REGISTRY[n]) for n in no)


# --- whole models and optimize ------------------------------------------------------------------


def test_optimize_mlp():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    ref, opt, stats = check(mlp, [_rand(5, 4)], ALL, module=mlp)
    assert stats.nodes_after <= stats.nodes_before


def test_optimize_cnn_in_training_mode():
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.3), nn.Flatten(), nn.Linear(16, 3),
    )  # fmt: skip
    cnn.train()
    before = cnn[1].running_mean.numpy().copy()
    ref, opt, stats = check(cnn, [_rand(2, 2, 4, 4)], ALL, module=cnn, seed=5)
    assert opt.op_counts()["dropout_mask"] == 1 and len(opt.mutations) == 3
    assert stats["fuse"]["groups"] >= 2  # both running-statistics updates
    # The write-back happened in the replays (check restores the state after comparing them).
    cnn.load_state_dict({k: v.clone() for k, v in cnn.state_dict().items()})
    run_graph(opt, [torch.tensor(_rand(2, 2, 4, 4))])
    assert not np.allclose(cnn[1].running_mean.numpy(), before)


def test_optimize_reports_and_validates():
    g = _trace(lambda x: (x * 2 + x * 2).tanh(), [_rand(2)])
    stats = optimize(g)
    assert str(stats).startswith("4 -> 1 nodes:") and "cse(nodes_merged=1)" in str(stats)
    with pytest.raises(ValueError, match="unknown pass 'cfe'"):
        optimize(g, ["cfe"])
    assert optimize(g).nodes_after == 1  # idempotent


def test_passes_on_eval_cnn_and_gradients_of_parameters():
    torch.manual_seed(1)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8, 2))  # fmt: skip
    cnn.eval()
    for p in [("dce",), ("cse",), ("fold",), ("fuse",), ALL]:
        check(cnn, [_rand(3, 1, 4, 4)], p, module=cnn)


# --- property: random elementwise programs -----------------------------------------------------

_UNARY = [torch.tanh, torch.sin, torch.exp, torch.sigmoid, F.relu, lambda t: t * 2.0,
          lambda t: t + 1, lambda t: -t]  # fmt: skip
_BINARY = [torch.add, torch.mul, torch.sub, torch.maximum, lambda a, b: a * 0.5 + b]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.booleans(), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
        min_size=1,
        max_size=12,
    ),  # fmt: skip
    n_out=st.integers(1, 3),
    passes=st.sampled_from([ALL, ("fuse",), ("cse",), ("dce", "fuse"), ("fuse", "cse", "dce")]),
)
def test_random_elementwise_programs(steps, n_out, passes):
    def f(x, y):
        vals = [x, y, torch.ones(3) * 0.5]
        for unary, i, j, k in steps:
            a, b = vals[i % len(vals)], vals[j % len(vals)]
            if unary:
                vals.append(_UNARY[k % len(_UNARY)](a).clamp(-3, 3))
            else:
                vals.append(_BINARY[k % len(_BINARY)](a, b))
        return tuple(vals[-n_out:]) if n_out > 1 else vals[-1].sum()

    ref, opt, stats = check(f, [_rand(2, 3), _rand(3, seed=1)], passes)
    assert len(opt) <= len(ref)
    assert opt.op_counts().keys() <= ref.op_counts().keys()


def test_each_pass_reports_and_a_second_run_finds_nothing():
    def f(x):
        unused = x.cos()  # noqa: F841
        c = torch.arange(3.0) * 2
        return ((x * c).exp() + (x * c).exp()).sum()

    g = _trace(f, [_rand(3)])
    assert fold_constants(g) == {"nodes_folded": 1, "consts_added": 1}
    assert cse(g) == {"nodes_merged": 2, "consts_merged": 0}
    assert dce(g) == {"nodes_removed": 1, "consts_removed": 1}
    assert fuse_elementwise(g) == {"groups": 1, "nodes_fused": 3}
    assert [n.name for n in g.nodes] == ["fused", "sum_all"]
    assert fold_constants(g)["nodes_folded"] == cse(g)["nodes_merged"] == 0
    assert dce(g)["nodes_removed"] == fuse_elementwise(g)["groups"] == 0
    x = _rand(3)
    want = 2 * np.exp(x * np.arange(3.0, dtype=np.float32) * 2).sum()
    np.testing.assert_allclose(run_graph(g, [torch.tensor(x)])[0].item(), want, rtol=1e-6)
