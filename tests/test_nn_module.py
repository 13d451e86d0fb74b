"""nn.Module, nn.Parameter, the containers and the linear layers, compared with PyTorch: the same
model built with both libraries must register, traverse, print, save, load and hook alike."""

import copy
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import dygrad
import dygrad.nn as dnn
import dygrad.nn.functional as DF

try:
    import torch
except ImportError:  # pragma: no cover - the oracle is optional
    torch = None

oracle = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


# --- helpers --------------------------------------------------------------------------------------
def to_torch(t, requires_grad=False):
    return torch.tensor(t.detach().numpy(), requires_grad=requires_grad)


def to_dy(t, requires_grad=False):
    return dygrad.tensor(t.detach().numpy(), requires_grad=requires_grad)


def copy_weights(tmod, dmod):
    """Copy the torch module's state into the dygrad module (same keys required)."""
    sd = OrderedDict((k, to_dy(v)) for k, v in tmod.state_dict().items())
    assert dmod.load_state_dict(sd) is not None


def error_of(fn, *args):
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - we compare any error with PyTorch's
        return type(e), str(e)
    return None


def same_error(fn):
    """Run fn(lib) for both libraries; both must raise the same exception type and message."""
    te, de = error_of(fn, torch), error_of(fn, dygrad)
    assert te is not None, "PyTorch raised nothing"
    assert de == te, f"\ndygrad:  {de}\nPyTorch: {te}"


def close(d, t, tol=1e-6):
    np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)


def build_net(lib):
    """A model that exercises nesting, containers, buffers, shared parameters and None slots."""
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.register_buffer("running", lib.zeros(4))
            self.register_buffer("scratch", lib.ones(2), persistent=False)
            self.register_parameter("unused", None)
            self.scale = nn.Parameter(lib.ones(1))

        def forward(self, x):
            return self.fc(x) * self.scale + self.running

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Linear(3, 4), nn.Identity())
            self.blocks = nn.ModuleList([Block(), Block()])
            self.heads = nn.ModuleDict({"b": nn.Linear(4, 2), "a": nn.Linear(4, 1, bias=False)})
            self.extra = nn.ParameterList([nn.Parameter(lib.zeros(2)), lib.ones(3)])
            self.tied = self.stem[0]  # the same module reachable twice
            self.empty = nn.Sequential()
            self.nothing = None

        def forward(self, x):
            x = self.stem(x)
            for b in self.blocks:
                x = b(x)
            return self.heads["b"](x).sum() + self.heads["a"](x).sum()

    return Net()


# --- Parameter ------------------------------------------------------------------------------------
@oracle
def test_parameter_repr_matches_pytorch():
    for data in ([1.0, 2.5], [[1.0, 2.0], [3.0, 4.0]], 3.0):
        for rg in (True, False):
            d = dnn.Parameter(dygrad.tensor(data), requires_grad=rg)
            t = torch.nn.Parameter(torch.tensor(data), requires_grad=rg)
            assert repr(d) == repr(t) and str(d) == str(t)
    d64 = dnn.Parameter(dygrad.tensor([1.0], dtype=dygrad.float64))
    assert repr(d64) == repr(torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64)))
    assert repr(dnn.Parameter()) == repr(torch.nn.Parameter())


def test_parameter_is_a_leaf_sharing_memory_and_ops_return_plain_tensors():
    base = dygrad.zeros(3)
    p = dnn.Parameter(base)
    assert isinstance(p, dygrad.Tensor) and p.is_leaf and p.requires_grad and p.grad_fn is None
    base[0] = 5.0
    assert p[0].item() == 5.0  # shares memory, as PyTorch's Parameter(data) does
    for r in (p * 2, p + p, p.sum(), p.detach(), p[1:], p.clone()):
        assert type(r) is dygrad.Tensor
    assert type(p * 2).__name__ == "Tensor"
    (p * 2).sum().backward()
    assert p.grad.tolist() == [2.0, 2.0, 2.0] and type(p.grad) is dygrad.Tensor
    assert not dnn.Parameter(dygrad.ones(1), requires_grad=False).requires_grad
    with pytest.raises(TypeError):
        dnn.Parameter([1.0, 2.0])


def test_parameter_deepcopy_and_pickle():
    p = dnn.Parameter(dygrad.tensor([1.0, 2.0]))
    p.grad = dygrad.ones(2)
    q = copy.deepcopy(p)
    assert type(q) is dnn.Parameter and q.requires_grad and q.tolist() == [1.0, 2.0]
    q.data.mul_(3)
    assert p.tolist() == [1.0, 2.0]  # a real copy
    memo = {}
    assert copy.deepcopy([p, p], memo)[0] is memo[id(p)]
    r = pickle.loads(pickle.dumps(dnn.Parameter(dygrad.ones(2), requires_grad=False)))
    assert type(r) is dnn.Parameter and not r.requires_grad and r.tolist() == [1.0, 1.0]


# --- registration ---------------------------------------------------------------------------------
def test_attribute_assignment_registers_and_reassignment_moves():
    m = dnn.Module()
    m.w = dnn.Parameter(dygrad.ones(2))
    m.sub = dnn.Linear(2, 2)
    m.register_buffer("buf", dygrad.zeros(1))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["buf"] and m.__dict__["plain"] == 3
    m.buf = dygrad.ones(1)  # assigning a tensor to a buffer name replaces the buffer
    assert m._buffers["buf"].tolist() == [1.0]
    m.w = None  # allowed: the slot stays, parameters() skips it
    assert "w" in m._parameters and [n for n, _ in m.named_parameters()] == [
        "sub.weight",
        "sub.bias",
    ]
    m.sub = None
    assert m._modules["sub"] is None and list(m.children()) == []
    m.buf = None
    assert m.buf is None and list(m.buffers()) == []
    # a Parameter assigned over a plain attribute moves it into _parameters
    m.plain = dnn.Parameter(dygrad.ones(1))
    assert "plain" not in m.__dict__ and "plain" in m._parameters
    del m.plain
    assert "plain" not in m._parameters
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'plain'"):
        m.plain  # noqa: B018
    del m.buf
    m.plain2 = 1
    del m.plain2
    assert not hasattr(m, "plain2")
    m.nb = dnn.Buffer(dygrad.zeros(2), persistent=False)
    assert type(m.nb) is dygrad.Tensor and "nb" in m._buffers and "nb" not in m.state_dict()


@oracle
def test_buffer_marker_matches_pytorch():
    def run(lib):
        m = lib.nn.Module()
        m.a = lib.nn.Buffer(lib.zeros(2), persistent=False)
        m.b = lib.nn.Buffer(lib.zeros(2, requires_grad=True))
        m.register_buffer("c", lib.nn.Buffer(lib.ones(1), persistent=False))
        m.register_buffer("d", lib.ones(1), persistent=False)
        m.d = lib.ones(3)  # keeps its non-persistence
        b = lib.nn.Buffer(lib.ones(2))
        return (
            list(m.state_dict()),
            [n for n, _ in m.named_buffers()],
            type(m.a).__name__,
            m.b.requires_grad,
            repr(b),
            isinstance(b, lib.nn.Buffer),
            isinstance(lib.ones(1), lib.nn.Buffer),
        )

    assert run(dygrad) == run(torch)


@oracle
@pytest.mark.parametrize(
    "case",
    [
        lambda lib: setattr(lib.nn.Linear(2, 2), "weight", 3),
        lambda lib: setattr(lib.nn.Linear(2, 2), "weight", lib.ones(2, 2)),
        lambda lib: setattr(lib.nn.Sequential(lib.nn.Identity()), "0", 5),
        lambda lib: lib.nn.Module().register_parameter("a.b", None),
        lambda lib: lib.nn.Module().register_parameter("", None),
        lambda lib: lib.nn.Module().register_parameter(1, None),
        lambda lib: lib.nn.Module().register_parameter("x", lib.ones(1)),
        lambda lib: lib.nn.Module().register_parameter("training", None),
        lambda lib: lib.nn.Module().register_buffer("a.b", None),
        lambda lib: lib.nn.Module().register_buffer("", None),
        lambda lib: lib.nn.Module().register_buffer("x", 3),
        lambda lib: lib.nn.Module().register_buffer("forward", lib.ones(1)),
        lambda lib: lib.nn.Module().add_module("x", 3),
        lambda lib: lib.nn.Module().add_module("a.b", lib.nn.Identity()),
        lambda lib: lib.nn.Module().add_module("", lib.nn.Identity()),
        lambda lib: lib.nn.Module().add_module(1, lib.nn.Identity()),
        lambda lib: lib.nn.Module().add_module("training", lib.nn.Identity()),
        lambda lib: lib.nn.Module().nope,
        lambda lib: lib.nn.Linear(2, 2).forward_missing,
        lambda lib: lib.nn.Module()(1),
        lambda lib: lib.nn.Module().train("yes"),
        lambda lib: lib.nn.Linear(2, 2).to(lib.int64),
        lambda lib: lib.nn.Sequential(lib.nn.Linear(1, 1)).get_submodule("0.weight"),
        lambda lib: lib.nn.Sequential(lib.nn.Linear(1, 1)).get_submodule("1"),
        lambda lib: lib.nn.Sequential(lib.nn.Linear(1, 1)).get_parameter("0.nope"),
        lambda lib: lib.nn.Sequential(lib.nn.Linear(1, 1)).get_parameter("0.in_features"),
        lambda lib: lib.nn.Module().register_parameter("w", lib.ones(1, requires_grad=True) * 2),
    ],
)
def test_registration_errors_match_pytorch(case):
    same_error(case)


def test_non_leaf_parameter_refused():
    p = dnn.Parameter(dygrad.ones(1))
    p.grad_fn = (dygrad.ones(1, requires_grad=True) * 2).grad_fn  # simulate a non-leaf Parameter
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor to parameter 'w'"):
        dnn.Module().register_parameter("w", p)


def test_assignment_before_init_is_refused():
    class Bad(dnn.Module):
        def __init__(self):
            self.w = dnn.Parameter(dygrad.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()

    class Bad2(dnn.Module):
        def __init__(self):
            self.m = dnn.Identity()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad2()


# --- traversal ------------------------------------------------------------------------------------
@oracle
def test_named_members_follow_pytorch_order():
    t, d = build_net(torch), build_net(dygrad)

    def names(m):
        return {
            "params": [n for n, _ in m.named_parameters()],
            "params_dup": [n for n, _ in m.named_parameters(remove_duplicate=False)],
            "params_prefix": [n for n, _ in m.named_parameters(prefix="model")],
            "params_local": [n for n, _ in m.blocks[0].named_parameters(recurse=False)],
            "buffers": [n for n, _ in m.named_buffers()],
            "buffers_dup": [n for n, _ in m.named_buffers(remove_duplicate=False)],
            "children": [n for n, _ in m.named_children()],
            "modules": [n for n, _ in m.named_modules()],
            "modules_dup": [n for n, _ in m.named_modules(remove_duplicate=False)],
            "modules_prefix": [n for n, _ in m.named_modules(prefix="x")],
            "n_params": len(list(m.parameters())),
            "n_buffers": len(list(m.buffers())),
            "n_children": len(list(m.children())),
            "n_modules": len(list(m.modules())),
            "module_types": [type(x).__name__ for x in m.modules()],
            "state_dict": list(m.state_dict()),
            "state_dict_prefix": list(m.state_dict(prefix="p.")),
            "shapes": [tuple(p.shape) for p in m.parameters()],
            "dir": sorted(set(dir(m)) - set(dir(type(m)))),
        }

    assert names(d) == names(t)


def test_shared_parameters_counted_once():
    fc = dnn.Linear(2, 2)
    net = dnn.Sequential(fc, dnn.ReLU() if hasattr(dnn, "ReLU") else dnn.Identity(), fc)
    assert len(list(net.parameters())) == 2
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(net.named_parameters(remove_duplicate=False))) == 4
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    m = dnn.Module()
    m.a = dnn.Parameter(dygrad.ones(1))
    m.b = m.a
    assert [n for n, _ in m.named_parameters()] == ["a"]


def test_get_submodule_parameter_buffer():
    net = build_net(dygrad)
    assert net.get_submodule("") is net
    assert net.get_submodule("blocks.1.fc") is net.blocks[1].fc
    assert net.get_parameter("blocks.1.fc.weight") is net.blocks[1].fc.weight
    assert net.get_parameter("extra.1") is net.extra[1]
    assert net.get_buffer("blocks.0.running") is net.blocks[0].running
    with pytest.raises(AttributeError, match="is not a buffer"):
        net.get_buffer("blocks.0.scale")


# --- state dicts ----------------------------------------------------------------------------------
@oracle
def test_state_dict_values_round_trip_from_pytorch():
    torch.manual_seed(0)
    t, d = build_net(torch), build_net(dygrad)
    for b in t.blocks:
        b.running.normal_()
    copy_weights(t, d)
    tsd, dsd = t.state_dict(), d.state_dict()
    assert isinstance(dsd, OrderedDict) and list(dsd) == list(tsd)
    for k in tsd:
        close(dsd[k], tsd[k], 0)
        assert not dsd[k].requires_grad and dsd[k].grad_fn is None
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    close(d(dygrad.tensor(x)), t(torch.tensor(x)), 1e-5)
    # the state dict shares memory with the model, and keep_vars returns the parameters
    dsd["stem.0.bias"][0] = 7.0
    assert d.stem[0].bias[0].item() == 7.0
    assert d.state_dict(keep_vars=True)["stem.0.weight"] is d.stem[0].weight
    assert d.state_dict()._metadata[""] == {"version": 1}


def test_load_state_dict_copies_in_place_and_keeps_identity():
    a, b = build_net(dygrad), build_net(dygrad)
    w = b.stem[0].weight
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    assert b.stem[0].weight is w and w.requires_grad and w.is_leaf
    for (k, v), (_, u) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.array_equal(v.numpy(), u.numpy()), k
    # values are copied, not shared
    a.stem[0].weight.data.mul_(0)
    assert not np.array_equal(a.stem[0].weight.detach().numpy(), w.detach().numpy())
    # a float64 state dict is cast into the float32 model
    sd = OrderedDict((k, v.double()) for k, v in a.state_dict().items())
    b.load_state_dict(sd)
    assert b.stem[0].weight.dtype is dygrad.float32
    # assign=True takes the given tensors, as Parameters for parameters
    c = dnn.Linear(2, 2)
    new_w = dygrad.zeros(2, 2)
    c.load_state_dict({"weight": new_w, "bias": dygrad.zeros(2)}, assign=True)
    assert isinstance(c.weight, dnn.Parameter) and c.weight.requires_grad
    assert c.weight.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def _bad_state_dicts(lib):
    net = lib.nn.Sequential(
        lib.nn.Linear(3, 2), lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 1))
    )
    good = {k: v.clone() for k, v in net.state_dict().items()}
    missing = dict(good)
    del missing["1.0.bias"], missing["0.weight"]
    unexpected = dict(
        good, **{"1.0.extra": lib.ones(1), "2.weight": lib.ones(1), "zz": lib.ones(1)}
    )
    mismatch = dict(good, **{"0.weight": lib.ones(2, 4), "1.1.bias": lib.ones(3)})
    everything = dict(mismatch, **{"junk": lib.ones(1)})
    del everything["1.0.weight"]
    not_tensor = dict(good, **{"0.bias": [1.0, 2.0]})
    return net, {"missing": missing, "unexpected": unexpected, "mismatch": mismatch,
                 "everything": everything, "not_tensor": not_tensor}  # fmt: skip


@oracle
@pytest.mark.parametrize("kind", ["missing", "unexpected", "mismatch", "everything", "not_tensor"])
@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_errors_match_pytorch_and_leave_model_unchanged(kind, strict):
    tnet, tsds = _bad_state_dicts(torch)
    dnet, dsds = _bad_state_dicts(dygrad)
    # give both the same values, different from the bad state dicts' "good" part
    copy_weights(tnet, dnet)
    for p in (*tnet.parameters(), *dnet.parameters()):
        p.data.add_(1.0)
    dsd_bad = {k: (to_dy(v) if isinstance(v, torch.Tensor) else v) for k, v in tsds[kind].items()}
    before = {k: v.clone() for k, v in dnet.state_dict().items()}
    te = error_of(tnet.load_state_dict, tsds[kind], strict)
    de = error_of(dnet.load_state_dict, dsd_bad, strict)
    if te is None:
        assert de is None
        tres = tnet.load_state_dict(tsds[kind], strict=strict)
        dres = dnet.load_state_dict(dsd_bad, strict=strict)
        assert tuple(dres) == tuple(tres) and repr(dres) == repr(tres)
        for k, v in tnet.state_dict().items():
            close(dnet.state_dict()[k], v, 0)
        return
    assert de is not None and de[0] is te[0]
    assert de[1] == te[1]
    assert de[1].startswith("Error(s) in loading state_dict for Sequential:\n\t")
    for k, v in dnet.state_dict().items():  # nothing was copied
        assert np.array_equal(v.numpy(), before[k].numpy()), k


def test_load_state_dict_message_lists_every_offending_key():
    net = dnn.Sequential(dnn.Linear(3, 2), dnn.Linear(2, 1))
    sd = net.state_dict()
    bad = {"0.weight": dygrad.ones(5, 5), "1.bias": sd["1.bias"], "x.y": dygrad.ones(1)}
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:\n\t")
    assert 'Missing key(s) in state_dict: "0.bias", "1.weight".' in msg
    assert 'Unexpected key(s) in state_dict: "x.y".' in msg
    assert "size mismatch for 0.weight: copying a param with shape torch.Size([5, 5])" in msg
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])


def test_load_state_dict_respects_overridden_load_from_state_dict():
    class Old(dnn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", dygrad.tensor(0))
            self.w = dnn.Parameter(dygrad.zeros(2))

        def _load_from_state_dict(self, state_dict, prefix, *args):
            state_dict.setdefault(prefix + "count", dygrad.tensor(5))  # an old-format fix-up
            super()._load_from_state_dict(state_dict, prefix, *args)

    m = dnn.Sequential(Old())
    m.load_state_dict({"0.w": dygrad.ones(2)})
    assert m[0].count.item() == 5 and m[0].w.tolist() == [1.0, 1.0]


def test_extra_state_round_trip():
    class WithExtra(dnn.Module):
        def __init__(self):
            super().__init__()
            self.note = "a"

        def get_extra_state(self):
            return {"note": self.note}

        def set_extra_state(self, state):
            self.note = state["note"]

    a, b = WithExtra(), WithExtra()
    a.note = "b"
    sd = dnn.Sequential(a).state_dict()
    assert list(sd) == ["0._extra_state"]
    dnn.Sequential(b).load_state_dict(sd)
    assert b.note == "b"


# --- reprs ----------------------------------------------------------------------------------------
def _repr_models(lib):
    nn = lib.nn

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(OrderedDict(conv1=nn.Linear(2, 3), act=nn.Identity()))
            self.none = None

        def extra_repr(self):
            return "custom=1\nsecond line"

    class OneLine(nn.Module):
        def extra_repr(self):
            return "k=2"

    return [
        nn.Linear(3, 2),
        nn.Linear(3, 2, bias=False),
        nn.Bilinear(2, 3, 4),
        nn.Bilinear(2, 3, 4, bias=False),
        nn.Identity(),
        nn.Flatten(),
        nn.Flatten(0, 2),
        nn.Unflatten(1, (2, 5)),
        nn.Unflatten(-1, [3, 3]),
        nn.Sequential(),
        nn.Sequential(nn.Linear(1, 2), nn.Sequential(nn.Linear(2, 2), nn.Sequential())),
        nn.Sequential(OrderedDict(a=nn.Identity(), b=nn.Flatten())),
        nn.ModuleList(),
        nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Identity(), nn.Linear(2, 2)]),
        nn.ModuleList([nn.Sequential(nn.Linear(1, 1)) for _ in range(3)]),
        nn.ModuleDict({"x": nn.Linear(1, 1), "y": nn.Identity()}),
        nn.ModuleDict(),
        nn.ParameterList(),
        nn.ParameterList([lib.ones(2, 3)]),
        nn.ParameterList([nn.Parameter(lib.ones(2, dtype=lib.float64)), lib.zeros(1), "s"]),
        nn.ParameterDict({"b": lib.ones(1), "a": nn.Parameter(lib.ones(2, 2))}),
        nn.ParameterDict(),
        nn.Module(),
        Custom(),
        OneLine(),
        nn.Sequential(OneLine(), Custom()),
        build_net(lib),
    ]


@oracle
def test_reprs_identical_to_pytorch():
    for d, t in zip(_repr_models(dygrad), _repr_models(torch)):
        assert repr(d) == repr(t)
        assert str(d) == str(t)


# --- modes, gradients, conversion -----------------------------------------------------------------
def test_train_eval_flags_propagate():
    net = build_net(dygrad)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.blocks.train()
    assert net.blocks[1].fc.training and not net.training and not net.stem.training
    net.train()
    assert all(m.training for m in net.modules())


def test_requires_grad_and_zero_grad():
    net = dnn.Sequential(dnn.Linear(3, 2), dnn.Linear(2, 1))
    net(dygrad.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net[0].requires_grad_(False)
    net(dygrad.ones(4, 3)).sum().backward()
    assert net[0].weight.grad is None and net[1].weight.grad is not None


def test_apply_visits_children_first():
    net = build_net(dygrad)
    seen = []
    assert net.apply(lambda m: seen.append(m)) is net
    assert seen[-1] is net and {id(m) for m in seen} == {id(m) for m in net.modules()}
    # the tied Linear is reached through two parents and visited twice, as in PyTorch's apply
    assert len(seen) == len(list(net.modules())) + 1

    def init_linear(m):
        if isinstance(m, dnn.Linear):
            dnn.init.constant_(m.weight, 0.5)

    net.apply(init_linear)
    assert net.heads["a"].weight.tolist() == [[0.5] * 4]


def test_dtype_conversion_keeps_parameter_identity():
    net = build_net(dygrad)
    net.blocks[0].register_buffer("steps", dygrad.tensor(3))
    w = net.stem[0].weight
    net(dygrad.ones(2, 3)).backward()
    assert net.double() is net
    assert net.stem[0].weight is w and w.dtype is dygrad.float64 and isinstance(w, dnn.Parameter)
    assert w.requires_grad and w.is_leaf and w.grad.dtype is dygrad.float64
    assert net.blocks[0].running.dtype is dygrad.float64
    assert net.blocks[0].steps.dtype is dygrad.int64  # integer buffers are left alone
    out = net(dygrad.ones(2, 3, dtype=dygrad.float64))
    assert out.dtype is dygrad.float64
    net.zero_grad()
    out.backward()
    assert w.grad.dtype is dygrad.float64
    net.float()
    assert w.dtype is dygrad.float32 and net.to(dygrad.float64) is net and w.dtype is dygrad.float64
    net.to(dtype=dygrad.float32)
    assert w.dtype is dygrad.float32
    net.to(dygrad.zeros(1, dtype=dygrad.float16))
    assert w.dtype is dygrad.float16
    net.half().float()
    assert net.cpu() is net and net.to("cpu") is net and w.dtype is dygrad.float32
    assert net.type(dygrad.float64) is net and w.dtype is dygrad.float64


def test_deepcopy_of_a_module_is_independent():
    net = build_net(dygrad)
    c = copy.deepcopy(net)
    assert c.tied is c.stem[0]  # shared structure preserved
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in net.named_parameters()]
    c.stem[0].weight.data.zero_()
    assert net.stem[0].weight.abs().sum().item() > 0


# --- hooks ----------------------------------------------------------------------------------------
def test_forward_pre_hook_and_forward_hook():
    m = dnn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append(("pre", mod, len(args)))
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append(("post", args[0].sum().item()))
        return out + 1

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    out = m(dygrad.ones(3, 2))
    assert calls == [("pre", m, 1), ("post", 0.0)]
    np.testing.assert_allclose(
        out.detach().numpy(), (m.bias + 1).detach().numpy()[None].repeat(3, 0)
    )
    h1.remove()
    h2.remove()
    h2.remove()
    assert m(dygrad.zeros(1, 2)).tolist() == m.bias.detach().unsqueeze(0).tolist()
    # with_kwargs, prepend, single return value wrapped into a tuple
    order = []
    m.register_forward_pre_hook(lambda mod, a: order.append("b"))
    m.register_forward_pre_hook(lambda mod, a: order.append("a"), prepend=True)

    def kw_pre(mod, args, kwargs):
        order.append(("kw", dict(kwargs)))
        return (args, kwargs)

    m.register_forward_pre_hook(kw_pre, with_kwargs=True)
    m.register_forward_hook(lambda mod, a, kw, o: order.append(("post_kw", tuple(o.shape))),
                            with_kwargs=True)  # fmt: skip
    m(dygrad.ones(1, 2))
    assert order == ["a", "b", ("kw", {}), ("post_kw", (1, 2))]
    m2 = dnn.Identity()
    m2.register_forward_pre_hook(lambda mod, a: a[0] * 3)
    assert m2(dygrad.ones(1)).tolist() == [3.0]
    m3 = dnn.Identity()
    m3.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        m3(dygrad.ones(1))


@oracle
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_backward_hook_matches_pytorch_on_linear(dtype):
    torch.manual_seed(1)
    tl = torch.nn.Linear(3, 2).to(getattr(torch, dtype))
    dl = dnn.Linear(3, 2).to(getattr(dygrad, dtype))
    copy_weights(tl, dl)
    rec = {"torch": [], "dygrad": []}

    def hook_for(key):
        def hook(mod, grad_input, grad_output):
            rec[key].append((grad_input, grad_output))

        return hook

    pre_rec = {"torch": [], "dygrad": []}
    tl.register_full_backward_hook(hook_for("torch"))
    dl.register_full_backward_hook(hook_for("dygrad"))
    tl.register_full_backward_pre_hook(lambda m, go: pre_rec["torch"].append(go))
    dl.register_full_backward_pre_hook(lambda m, go: pre_rec["dygrad"].append(go))
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(dtype)
    tx, dx = torch.tensor(x, requires_grad=True), dygrad.tensor(x, requires_grad=True)
    ty, dy = tl(tx), dl(dx)
    assert dy.grad_fn.name() == ty.grad_fn.name() == "BackwardHookFunctionBackward"
    (ty * ty).sum().backward()
    (dy * dy).sum().backward()
    assert len(rec["dygrad"]) == len(rec["torch"]) == 1
    (tgi, tgo), (dgi, dgo) = rec["torch"][0], rec["dygrad"][0]
    assert len(dgi) == len(tgi) == 1 and len(dgo) == len(tgo) == 1
    close(dgi[0], tgi[0], 1e-5)
    close(dgo[0], tgo[0], 1e-5)
    close(pre_rec["dygrad"][0][0], pre_rec["torch"][0][0], 1e-5)
    close(dx.grad, tx.grad, 1e-5)
    close(dl.weight.grad, tl.weight.grad, 1e-5)


@oracle
def test_full_backward_hook_replaces_grad_input_and_handles_non_tensor_args():
    class Scale(torch.nn.Module):
        def forward(self, x, k, y):
            return x * k + y, y * 2

    class DScale(dnn.Module):
        def forward(self, x, k, y):
            return x * k + y, y * 2

    results = {}
    for name, lib, mod in (("t", torch, Scale()), ("d", dygrad, DScale())):
        seen = []

        def hook(m, gi, go, seen=seen):
            seen.append((tuple(g is None for g in gi), tuple(g is None for g in go)))
            return tuple(None if g is None else g * 10 for g in gi)

        mod.register_full_backward_hook(hook)
        x = lib.ones(2, requires_grad=True)
        y = lib.ones(2)  # needs no grad
        a, b = mod(x, 3.0, y)
        a.sum().backward()
        results[name] = (seen, x.grad.tolist())
    assert results["d"] == results["t"]
    assert results["d"][1] == [30.0, 30.0]


@oracle
def test_full_backward_hook_when_no_input_requires_grad():
    res = {}
    for name, lib in (("t", torch), ("d", dygrad)):
        lin = lib.nn.Linear(2, 1)
        seen = []
        lin.register_full_backward_hook(lambda m, gi, go, seen=seen: seen.append((gi, go)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lin(lib.ones(3, 2)).sum().backward()
        res[name] = [(gi, tuple(g.shape for g in go)) for gi, go in seen]
    assert res["d"] == [((None,), (dygrad.Size([3, 1]),))]
    assert [(gi, tuple(tuple(s) for s in shapes)) for gi, shapes in res["t"]] == [
        (gi, tuple(tuple(s) for s in shapes)) for gi, shapes in res["d"]
    ]


def test_hooks_in_nested_modules_and_removal():
    net = dnn.Sequential(dnn.Linear(2, 3), dnn.Linear(3, 1))
    order = []
    hs = [
        net[0].register_full_backward_hook(lambda m, gi, go: order.append("first")),
        net[1].register_full_backward_hook(lambda m, gi, go: order.append("second")),
        net.register_full_backward_hook(lambda m, gi, go: order.append("net")),
    ]
    net(dygrad.ones(4, 2, requires_grad=True)).sum().backward()
    assert order == ["second", "first", "net"]  # PyTorch's order
    for h in hs:
        h.remove()
    order.clear()
    out = net(dygrad.ones(4, 2, requires_grad=True))
    assert out.grad_fn.name() == "AddmmBackward0"
    out.sum().backward()
    assert order == []


# --- containers -----------------------------------------------------------------------------------
def test_sequential_behaviour():
    a, b, c = dnn.Linear(1, 2), dnn.Identity(), dnn.Linear(2, 3)
    s = dnn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and s[-3] is a and list(s) == [a, b, c]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        s[3]  # noqa: B018
    with pytest.raises(IndexError, match="index -4 is out of range"):
        s[-4]  # noqa: B018
    sl = s[1:]
    assert type(sl) is dnn.Sequential and list(sl) == [b, c] and list(sl._modules) == ["1", "2"]
    assert list(s[::2]) == [a, c]
    od = dnn.Sequential(OrderedDict(first=a, second=c))
    assert list(od._modules) == ["first", "second"] and od.first is a
    assert od(dygrad.ones(5, 1)).shape == (5, 3)
    s.append(dnn.Flatten())
    assert len(s) == 4 and list(s._modules) == ["0", "1", "2", "3"]
    d = dnn.Identity()
    s.insert(1, d)
    assert list(s) == [a, d, b, c, s[4]]
    s.insert(-1, dnn.Identity())
    assert len(s) == 6
    with pytest.raises(IndexError, match="Index out of range: 9"):
        s.insert(9, dnn.Identity())
    assert s.pop(1) is d and len(s) == 5 and list(s._modules) == ["0", "1", "2", "3", "4"]
    del s[-2:]
    assert list(s) == [a, b, c]
    del s[0]
    assert list(s) == [b, c] and list(s._modules) == ["0", "1"]
    s[0] = a
    assert s[0] is a
    s.extend([dnn.Identity(), dnn.Identity()])
    assert len(s) == 4
    assert len(s + s) == 8 and len(s * 2) == 8 and len(2 * s) == 8
    s += dnn.Sequential(dnn.Identity())
    assert len(s) == 5
    with pytest.raises(ValueError, match="add operator supports only objects of Sequential"):
        s + [1]  # noqa: B018
    assert dnn.Sequential()(dygrad.ones(1)).tolist() == [1.0]
    assert "0" not in dir(s)


def test_module_list_and_dict_behaviour():
    layers = [dnn.Linear(2, 2) for _ in range(4)]
    ml = dnn.ModuleList(layers[:2])
    ml.append(layers[2])
    ml.extend([layers[3]])
    assert list(ml) == layers and ml[-1] is layers[3] and len(ml) == 4
    assert type(ml[1:3]) is dnn.ModuleList and list(ml[1:3]) == layers[1:3]
    ml.insert(0, dnn.Identity())
    assert len(ml) == 5 and isinstance(ml[0], dnn.Identity)
    assert ml.pop(0).__class__ is dnn.Identity and list(ml) == layers
    del ml[1]
    assert list(ml) == [layers[0], layers[2], layers[3]] and list(ml._modules) == ["0", "1", "2"]
    ml[0] = layers[1]
    assert ml[0] is layers[1]
    assert len(ml + ml) == 6
    ml += [dnn.Identity()]
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    with pytest.raises(IndexError):
        ml[10]  # noqa: B018
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        ml.extend(5)
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        ml(dygrad.ones(1))

    md = dnn.ModuleDict({"b": dnn.Identity(), "a": dnn.Linear(1, 1)})
    assert list(md) == ["b", "a"] and "a" in md and len(md) == 2
    md["c"] = dnn.Flatten()
    md.update([("d", dnn.Identity())])
    md.update(OrderedDict(e=dnn.Identity()))
    assert list(md.keys()) == ["b", "a", "c", "d", "e"]
    assert isinstance(md.pop("c"), dnn.Flatten) and "c" not in md
    del md["d"]
    assert [k for k, _ in md.items()] == ["b", "a", "e"] and len(list(md.values())) == 3
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        md.update([("x", dnn.Identity(), 1)])
    md.clear()
    assert len(md) == 0


def test_parameter_list_and_dict_behaviour():
    pl = dnn.ParameterList([dygrad.ones(2), dnn.Parameter(dygrad.zeros(1))])
    assert all(isinstance(p, dnn.Parameter) for p in pl) and len(pl) == 2
    pl.append(dygrad.ones(3))
    pl.extend([dygrad.ones(4)])
    assert [tuple(p.shape) for p in pl.parameters()] == [(2,), (1,), (3,), (4,)]
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2", "3"]
    assert len(pl[1:3]) == 2 and pl[-1].shape == (4,)
    pl[0] = dygrad.zeros(5)
    assert isinstance(pl[0], dnn.Parameter) and pl[0].shape == (5,)
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable"):
        pl.extend(dygrad.ones(2))
    with pytest.raises(RuntimeError, match="ParameterList should not be called"):
        pl()

    pd = dnn.ParameterDict({"b": dygrad.ones(1), "a": dygrad.zeros(2)})
    assert list(pd) == ["a", "b"]  # a plain dict is added in sorted order, as PyTorch does
    assert all(isinstance(v, dnn.Parameter) for v in pd.values())
    pd["c"] = dygrad.ones(3)
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c"]
    assert pd.get("zz") is None and pd.get("a") is pd["a"] and "c" in pd
    assert pd.setdefault("d", dygrad.ones(1)).shape == (1,)
    assert pd.pop("d").shape == (1,) and "d" not in pd
    k, v = pd.popitem()
    assert k == "c" and list(pd) == ["a", "b"]
    c = pd.copy()
    assert list(c) == ["a", "b"] and c["a"] is pd["a"]
    merged = pd | dnn.ParameterDict(OrderedDict(z=dygrad.ones(1)))
    assert list(merged) == ["a", "b", "z"]
    assert list(reversed(pd)) == ["b", "a"]
    pd.clear()
    assert len(pd) == 0 and list(pd.parameters()) == []
    with pytest.raises(TypeError, match="not a string"):
        pd[1] = dygrad.ones(1)


# --- layers ---------------------------------------------------------------------------------------
@oracle
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear_matches_pytorch(dtype, bias, shape):
    tol = 1e-5 if dtype == "float32" else 1e-12
    torch.manual_seed(0)
    tl = torch.nn.Linear(3, 4, bias=bias, dtype=getattr(torch, dtype))
    dl = dnn.Linear(3, 4, bias=bias, dtype=getattr(dygrad, dtype))
    assert dl.weight.dtype is getattr(dygrad, dtype)
    copy_weights(tl, dl)
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    tx, dx = torch.tensor(x, requires_grad=True), dygrad.tensor(x, requires_grad=True)
    ty, dy = tl(tx), dl(dx)
    close(dy, ty, tol)
    g = np.random.default_rng(2).standard_normal(ty.shape).astype(dtype)
    ty.backward(torch.tensor(g))
    dy.backward(dygrad.tensor(g))
    close(dx.grad, tx.grad, tol)
    close(dl.weight.grad, tl.weight.grad, tol)
    if bias:
        close(dl.bias.grad, tl.bias.grad, tol)
    # the functional form agrees and records a sensible graph
    fy = DF.linear(dx, dl.weight, dl.bias)
    close(fy, ty, tol)
    if bias:  # AddmmBackward0, or ViewBackward0 over it, as PyTorch records Linear
        assert fy.grad_fn.name() == type(ty.grad_fn).__name__


def test_linear_grad_fn_names_and_second_order():
    x = dygrad.randn(4, 3, requires_grad=True)
    w = dygrad.randn(2, 3, requires_grad=True)
    b = dygrad.randn(2, requires_grad=True)
    y = DF.linear(x, w, b)
    assert y.grad_fn.name() == "AddmmBackward0"  # PyTorch's fused node
    names = [n.name() for n, _ in y.grad_fn.next_functions]
    assert names == ["AccumulateGrad", "AccumulateGrad", "TBackward0"]
    assert DF.linear(x, w).grad_fn.name() == "MmBackward0"
    xd = dygrad.randn(4, 3, dtype=dygrad.float64, requires_grad=True)
    wd = dygrad.randn(2, 3, dtype=dygrad.float64, requires_grad=True)
    bd = dygrad.randn(2, dtype=dygrad.float64, requires_grad=True)
    assert dygrad.autograd.gradcheck(DF.linear, (xd, wd, bd))
    assert dygrad.autograd.gradgradcheck(DF.linear, (xd, wd, bd))
    x1 = dygrad.randn(3, 2, dtype=dygrad.float64, requires_grad=True)
    x2 = dygrad.randn(3, 4, dtype=dygrad.float64, requires_grad=True)
    wb = dygrad.randn(5, 2, 4, dtype=dygrad.float64, requires_grad=True)
    assert dygrad.autograd.gradcheck(DF.bilinear, (x1, x2, wb, bd.detach()[:1].expand(5)))


@oracle
def test_linear_errors_name_the_layer_and_shapes():
    lin = dnn.Linear(3, 2)
    with pytest.raises(RuntimeError) as info:
        lin(dygrad.ones(4, 5))
    msg = str(info.value)
    assert "Linear(in_features=3, out_features=2, bias=True)" in msg
    assert "[4, 5]" in msg and "[2, 3]" in msg
    terr = error_of(torch.nn.Linear(3, 2), torch.ones(4, 5))
    assert terr[1] in msg  # PyTorch's own text is part of ours
    same_error(lambda lib: lib.nn.functional.linear(lib.ones(4, 5), lib.ones(2, 3)))
    same_error(lambda lib: lib.nn.functional.linear(lib.ones(4, 3, dtype=lib.float64),
                                                    lib.ones(2, 3), lib.ones(2)))  # fmt: skip
    same_error(lambda lib: lib.nn.functional.linear(lib.ones(4, 3), lib.ones(2, 3),
                                                    lib.ones(2, dtype=lib.float64)))  # fmt: skip
    same_error(lambda lib: lib.nn.functional.bilinear(lib.ones(4, 3), lib.ones(5, 2),
                                                      lib.ones(6, 3, 2)))  # fmt: skip
    same_error(lambda lib: lib.nn.functional.bilinear(lib.ones(4, 3), lib.ones(4, 2),
                                                      lib.ones(6, 3, 3)))  # fmt: skip
    same_error(lambda lib: lib.nn.functional.bilinear(lib.ones(4, 2), lib.ones(4, 2),
                                                      lib.ones(6, 3, 2)))  # fmt: skip


@oracle
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((5, 2), (5, 3)), ((2, 4, 2), (2, 4, 3)), ((2,), (3,))])
def test_bilinear_matches_pytorch(dtype, shapes):
    tol = 1e-5 if dtype == "float32" else 1e-12
    torch.manual_seed(0)
    tm = torch.nn.Bilinear(2, 3, 4, dtype=getattr(torch, dtype))
    dm = dnn.Bilinear(2, 3, 4, dtype=getattr(dygrad, dtype))
    copy_weights(tm, dm)
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    da, db = dygrad.tensor(a, requires_grad=True), dygrad.tensor(b, requires_grad=True)
    ty, dy = tm(ta, tb), dm(da, db)
    close(dy, ty, tol)
    (ty * ty).sum().backward()
    (dy * dy).sum().backward()
    for d, t in ((da, ta), (db, tb), (dm.weight, tm.weight), (dm.bias, tm.bias)):
        close(d.grad, t.grad, tol * 10)


@oracle
@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda nn: nn.Flatten(), (2, 3, 4)),
        (lambda nn: nn.Flatten(0, -1), (2, 3, 4)),
        (lambda nn: nn.Flatten(1, 2), (2, 3, 4, 5)),
        (lambda nn: nn.Unflatten(1, (2, 6)), (3, 12)),
        (lambda nn: nn.Unflatten(-1, (2, -1)), (3, 12)),
        (lambda nn: nn.Identity(3, a=1), (2, 2)),
    ],
)
def test_shape_layers_match_pytorch(make, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    tx, dx = torch.tensor(x, requires_grad=True), dygrad.tensor(x, requires_grad=True)
    tm, dm = make(torch.nn), make(dnn)
    assert repr(dm) == repr(tm)
    ty, dy = tm(tx), dm(dx)
    assert tuple(dy.shape) == tuple(ty.shape)
    close(dy, ty, 0)
    g = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    dy.backward(dygrad.tensor(g))
    close(dx.grad, tx.grad, 0)


@oracle
def test_unflatten_argument_errors_match_pytorch():
    same_error(lambda lib: lib.nn.Unflatten(1, (2, "a")))
    same_error(lambda lib: lib.nn.Unflatten(1, 5))


def test_default_initialization_bounds():
    dygrad.manual_seed(0)
    lin = dnn.Linear(400, 300)
    bound = 1 / 400**0.5
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound and abs(w.std() - bound / 3**0.5) < 0.01 * bound
    bl = dnn.Bilinear(50, 30, 20)
    assert np.abs(bl.weight.detach().numpy()).max() <= 1 / 50**0.5
    assert np.abs(bl.bias.detach().numpy()).max() <= 1 / 50**0.5
    dygrad.manual_seed(5)
    a = dnn.Linear(3, 2).weight.tolist()
    dygrad.manual_seed(5)
    assert dnn.Linear(3, 2).weight.tolist() == a
    assert dnn.Linear(3, 2, dtype=dygrad.float64).bias.dtype is dygrad.float64


def test_training_a_small_model_reduces_the_loss():
    dygrad.manual_seed(0)
    net = dnn.Sequential(dnn.Linear(2, 8), dnn.Linear(8, 1))
    x = dygrad.randn(64, 2)
    y = x[:, :1] * 2 - x[:, 1:] + 0.5
    losses = []
    for _ in range(50):
        net.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        with dygrad.no_grad():
            for p in net.parameters():
                p -= 0.05 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


# --- nn.utils -------------------------------------------------------------------------------------
def _grads_pair(dtype, scale):
    rng = np.random.default_rng(4)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    vals = [rng.standard_normal(s).astype(dtype) * scale for s in shapes]
    tps = [torch.nn.Parameter(torch.zeros(s, dtype=getattr(torch, dtype))) for s in shapes]
    dps = [dnn.Parameter(dygrad.zeros(*s, dtype=getattr(dygrad, dtype))) for s in shapes]
    for tp, dp, v in zip(tps, dps, vals):
        tp.grad, dp.grad = torch.tensor(v), dygrad.tensor(v)
    extra_t, extra_d = torch.nn.Parameter(torch.zeros(2)), dnn.Parameter(dygrad.zeros(2))
    return [*tps, extra_t], [*dps, extra_d]  # the last has no gradient


@oracle
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2.0, 1, float("inf"), 3.5, "inf"])
@pytest.mark.parametrize("max_norm,scale", [(1.0, 1.0), (100.0, 1.0), (0.5, 1e-3)])
def test_clip_grad_norm_matches_pytorch(dtype, norm_type, max_norm, scale):
    tps, dps = _grads_pair(dtype, scale)
    nt = float(norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=nt)
    dn = dygrad.nn.utils.clip_grad_norm_(iter(dps), max_norm, norm_type=norm_type)
    tol = 1e-6 if dtype == "float32" else 1e-12
    assert dn.dtype is getattr(dygrad, dtype) and dn.shape == ()
    close(dn, tn, tol)
    for tp, dp in zip(tps, dps):
        if tp.grad is None:
            assert dp.grad is None
        else:
            close(dp.grad, tp.grad, tol)


@oracle
def test_clip_grad_norm_edge_cases():
    assert dygrad.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    p = dnn.Parameter(dygrad.ones(2))
    p.grad = dygrad.tensor([3.0, 4.0])
    assert dygrad.nn.utils.clip_grad_norm_(p, 10.0).item() == pytest.approx(5.0)
    assert p.grad.tolist() == [3.0, 4.0]  # under the limit: untouched
    p.grad = dygrad.tensor([float("nan"), 1.0])
    tp = torch.nn.Parameter(torch.ones(2))
    tp.grad = torch.tensor([float("nan"), 1.0])
    te = error_of(torch.nn.utils.clip_grad_norm_, [tp], 1.0, 2.0, True)
    de = error_of(dygrad.nn.utils.clip_grad_norm_, [p], 1.0, 2.0, True)
    assert de == te and de[0] is RuntimeError
    assert np.isnan(dygrad.nn.utils.clip_grad_norm_([p], 1.0).item())


@oracle
def test_clip_grad_value_matches_pytorch():
    tps, dps = _grads_pair("float32", 1.0)
    assert torch.nn.utils.clip_grad_value_(tps, 0.5) is None
    assert dygrad.nn.utils.clip_grad_value_(dps, 0.5) is None
    for tp, dp in zip(tps[:-1], dps[:-1]):
        close(dp.grad, tp.grad, 0)
        assert np.abs(dp.grad.numpy()).max() <= 0.5


@oracle
def test_parameters_vector_round_trip_matches_pytorch():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Bilinear(4, 2, 2))
    dm = dnn.Sequential(dnn.Linear(3, 4), dnn.Bilinear(4, 2, 2))
    copy_weights(tm, dm)
    tv = torch.nn.utils.parameters_to_vector(tm.parameters())
    dv = dygrad.nn.utils.parameters_to_vector(dm.parameters())
    close(dv, tv, 0)
    assert dv.requires_grad and dv.grad_fn.name() == tv.grad_fn.name() == "CatBackward0"
    (dv * dv).sum().backward()
    close(dm[0].weight.grad, 2 * dm[0].weight, 1e-6)
    new = np.arange(dv.numel(), dtype=np.float32)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), tm.parameters())
    vec = dygrad.tensor(new)
    w = dm[1].weight
    dygrad.nn.utils.vector_to_parameters(vec, dm.parameters())
    assert dm[1].weight is w  # identity kept; the data now views `vec`, as in PyTorch
    for (k, t), (_, d) in zip(tm.state_dict().items(), dm.state_dict().items()):
        close(d, t, 0)
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        dygrad.nn.utils.vector_to_parameters([1.0], dm.parameters())
