"""dygrad.optim.lr_scheduler against torch.optim.lr_scheduler: the learning-rate (and momentum)
sequences over 30-100 steps, state dicts and their round trips, warnings and errors."""

import copy
import math
import warnings

import pytest

import dygrad
from dygrad.optim import lr_scheduler as dsched

try:
    import torch
except ImportError:  # pragma: no cover - the oracle is optional
    torch = None

oracle = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def make_opt(lib, opt_name="SGD", **kw):
    """An optimizer with two param groups of different lrs."""
    a = lib.zeros(2, requires_grad=True)
    b = lib.zeros(3, requires_grad=True)
    opt_kw = {"momentum": 0.9} if opt_name == "SGD" else {}
    opt_kw.update(kw)
    return getattr(lib.optim, opt_name)([{"params": [a]}, {"params": [b], "lr": 0.03}], lr=0.1,
                                        **opt_kw)  # fmt: skip


class Scale:
    """A callable object: its state (`__dict__`) is saved in a LambdaLR state dict."""

    def __init__(self, base):
        self.base = base

    def __call__(self, epoch):
        return self.base**epoch


SCHEDULERS = [
    ("StepLR", lambda: {"step_size": 7, "gamma": 0.5}, 40, "SGD"),
    ("StepLR", lambda: {"step_size": 1}, 30, "SGD"),
    ("MultiStepLR", lambda: {"milestones": [5, 12, 12, 30], "gamma": 0.3}, 40, "SGD"),
    ("ExponentialLR", lambda: {"gamma": 0.93}, 60, "SGD"),
    ("CosineAnnealingLR", lambda: {"T_max": 10, "eta_min": 0.01}, 65, "SGD"),
    ("CosineAnnealingLR", lambda: {"T_max": 25}, 100, "Adam"),
    ("LambdaLR", lambda: {"lr_lambda": lambda e: 0.95**e}, 50, "SGD"),
    ("LambdaLR", lambda: {"lr_lambda": [lambda e: 1 / (e + 1), Scale(0.9)]}, 50, "SGD"),
    ("MultiplicativeLR", lambda: {"lr_lambda": lambda e: 0.97}, 40, "SGD"),
    ("ConstantLR", lambda: {"factor": 0.5, "total_iters": 4}, 30, "SGD"),
    ("LinearLR", lambda: {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 12}, 30, "SGD"),
    ("PolynomialLR", lambda: {"total_iters": 20, "power": 2.0}, 30, "SGD"),
    ("OneCycleLR", lambda: {"max_lr": 1.0, "total_steps": 50}, 49, "SGD"),
    ("OneCycleLR", lambda: {"max_lr": [0.5, 0.2], "total_steps": 60, "anneal_strategy": "linear",
                            "three_phase": True, "pct_start": 0.25}, 59, "SGD"),
    ("OneCycleLR", lambda: {"max_lr": 0.01, "epochs": 5, "steps_per_epoch": 10,
                            "base_momentum": 0.8, "max_momentum": 0.9}, 49, "Adam"),
    ("OneCycleLR", lambda: {"max_lr": 0.3, "total_steps": 40, "cycle_momentum": False}, 39,
     "Adagrad"),
]  # fmt: skip
SCHED_IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(SCHEDULERS)]


def groups_view(opt):
    """What a scheduler writes into the groups: lr and momentum / beta1."""
    out = []
    for g in opt.param_groups:
        out.append((g["lr"], g.get("momentum"), g.get("betas")))
    return out


def run_sched(lib, name, kwargs, steps, opt_name):
    opt = make_opt(lib, opt_name)
    sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    seq = [(sched.get_last_lr(), groups_view(opt))]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append((sched.get_last_lr(), groups_view(opt)))
    return opt, sched, seq


@oracle
@pytest.mark.parametrize("name,kwargs,steps,opt_name", SCHEDULERS, ids=SCHED_IDS)
def test_lr_sequence_equals_torch(name, kwargs, steps, opt_name):
    _, d_sched, d_seq = run_sched(dygrad, name, kwargs(), steps, opt_name)
    _, t_sched, t_seq = run_sched(torch, name, kwargs(), steps, opt_name)
    assert len(d_seq) == steps + 1
    # Same formulas in the same order: the sequences are equal, not just close.
    assert d_seq == t_seq
    assert d_sched.state_dict() == t_sched.state_dict()


@oracle
@pytest.mark.parametrize("name,kwargs,steps,opt_name", SCHEDULERS, ids=SCHED_IDS)
def test_state_dict_round_trip_continues_identically(name, kwargs, steps, opt_name):
    _, _, full = run_sched(dygrad, name, kwargs(), steps, opt_name)
    half = steps // 2
    opt, sched, first = run_sched(dygrad, name, kwargs(), half, opt_name)
    opt_sd, sched_sd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    # Resume as PyTorch documents: build the scheduler, then load both states.
    opt2 = make_opt(dygrad, opt_name)
    sched2 = getattr(dsched, name)(opt2, **kwargs())
    sched2.load_state_dict(sched_sd)
    opt2.load_state_dict(opt_sd)
    rest = []
    for _ in range(steps - half):
        opt2.step()
        sched2.step()
        rest.append((sched2.get_last_lr(), groups_view(opt2)))
    assert first + rest == full


@oracle
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 2},
        {"factor": 0.5, "patience": 1, "cooldown": 3, "min_lr": [0.02, 0.001]},
        {"factor": 0.5, "patience": 0, "min_lr": 0.01, "eps": 1e-3},
        {"mode": "max", "patience": 3, "threshold": 0.1},
    ],
)
def test_reduce_lr_on_plateau_equals_torch(kwargs):
    metrics = [1.0 / (1 + i) if i < 15 else 0.07 + 0.01 * math.sin(i) for i in range(80)]

    def run(lib, ms):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        seq = []
        for m in ms:
            opt.step()
            sched.step(lib.tensor(m) if len(seq) % 2 else m)
            seq.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter))
        return sched, seq

    d_sched, d_seq = run(dygrad, metrics)
    t_sched, t_seq = run(torch, metrics)
    assert d_seq == t_seq
    assert len({lr[0][0] for lr in d_seq}) > 1 or kwargs.get("mode") == "max"
    assert d_sched.state_dict() == t_sched.state_dict()
    # Round trip: a fresh scheduler loading the state continues the same sequence.
    d_sched2, first = run(dygrad, metrics[:40])
    opt3 = make_opt(dygrad)
    for g, lr in zip(opt3.param_groups, first[-1][0]):
        g["lr"] = lr
    sched3 = dsched.ReduceLROnPlateau(opt3)
    sched3.load_state_dict(copy.deepcopy(d_sched2.state_dict()))
    rest = []
    for m in metrics[40:]:
        sched3.step(m)
        rest.append((sched3.get_last_lr(), sched3.num_bad_epochs, sched3.cooldown_counter))
    assert first + rest == d_seq


@oracle
@pytest.mark.parametrize("name,kwargs", [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 6, "eta_min": 0.001}),
    ("LinearLR", {"total_iters": 4}),
    ("PolynomialLR", {"total_iters": 6}),
    ("ConstantLR", {"total_iters": 3}),
    ("LambdaLR", {"lr_lambda": lambda e: 1 / (1 + e)}),
])  # fmt: skip
def test_deprecated_epoch_argument_uses_closed_form_like_torch(name, kwargs):
    def run(lib):
        opt = make_opt(lib)
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in [3, 1, 7, 7, 2, 10]:
                opt.step()
                sched.step(epoch)
                out.append(sched.get_last_lr())
        return out

    assert run(dygrad) == run(torch)
    opt = make_opt(dygrad)
    sched = getattr(dsched, name)(opt, **kwargs)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
        sched.step(2)


@oracle
def test_resuming_with_last_epoch_equals_torch():
    def run(lib):
        opt = make_opt(lib)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, last_epoch=5)
        out = [sched.get_last_lr()]
        for _ in range(10):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        return out

    assert run(dygrad) == run(torch)


@oracle
def test_errors_match_torch():
    def errors(lib):
        L = lib.optim.lr_scheduler
        attempts = [
            lambda: L.StepLR(make_opt(lib), step_size=2, last_epoch=3),
            lambda: L.StepLR(object(), step_size=2),
            lambda: L.LambdaLR(make_opt(lib), [lambda e: 1.0]),
            lambda: L.ReduceLROnPlateau(make_opt(lib), factor=1.5),
            lambda: L.ReduceLROnPlateau(make_opt(lib), mode="up"),
            lambda: L.ReduceLROnPlateau(make_opt(lib), threshold_mode="x"),
            lambda: L.ReduceLROnPlateau(make_opt(lib), min_lr=[0.1]),
            lambda: L.OneCycleLR(make_opt(lib), max_lr=1.0),
            lambda: L.OneCycleLR(make_opt(lib), max_lr=1.0, total_steps=0),
            lambda: L.OneCycleLR(make_opt(lib), max_lr=1.0, epochs=2, steps_per_epoch=-1),
            lambda: L.OneCycleLR(make_opt(lib), max_lr=1.0, total_steps=5, pct_start=1),
            lambda: L.OneCycleLR(make_opt(lib), max_lr=1.0, total_steps=5, anneal_strategy="x"),
            lambda: L.OneCycleLR(make_opt(lib), max_lr=[1.0], total_steps=5),
            lambda: L.OneCycleLR(make_opt(lib, "Adagrad"), max_lr=1.0, total_steps=5),
            lambda: L.ConstantLR(make_opt(lib), factor=2.0),
            lambda: L.LinearLR(make_opt(lib), start_factor=0.0),
        ]
        out = []
        for f in attempts:
            with pytest.raises((TypeError, ValueError, KeyError)) as e:
                f()
            out.append((type(e.value), str(e.value)))
        opt = make_opt(lib)
        sched = L.OneCycleLR(opt, max_lr=1.0, total_steps=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(3):
                opt.step()
                sched.step()
            with pytest.raises(ValueError) as e:
                sched.step()
        out.append(str(e.value))
        return out

    assert errors(dygrad) == errors(torch)


def test_warns_when_scheduler_steps_before_optimizer():
    opt = make_opt(dygrad)
    sched = dsched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt2 = make_opt(dygrad)
    sched2 = dsched.StepLR(opt2, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt2.step()
        sched2.step()
    # Only the optimizer's step method is wrapped, once, and the wrapper does not keep it alive.
    assert opt2.step._wrapped_by_lr_sched
    dsched.ExponentialLR(opt2, gamma=0.5)
    assert opt2.step.__wrapped__ is type(opt2).step


def test_get_lr_outside_step_warns():
    sched = dsched.StepLR(make_opt(dygrad), step_size=2)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def test_lambda_state_dict_saves_callable_objects_only():
    opt = make_opt(dygrad)
    scale = Scale(0.9)
    sched = dsched.LambdaLR(opt, [lambda e: 1.0, scale])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"base": 0.9}]
    scale2 = Scale(0.5)
    sched2 = dsched.LambdaLR(make_opt(dygrad), [lambda e: 1.0, scale2])
    sched2.load_state_dict(sd)
    assert scale2.base == 0.9 and sd["lr_lambdas"] == [None, {"base": 0.9}]


def test_tensor_lr_is_updated_in_place():
    w = dygrad.zeros(1, requires_grad=True)
    lr = dygrad.tensor(1.0)
    opt = dygrad.optim.SGD([w], lr=lr)
    sched = dsched.ExponentialLR(opt, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == 0.5
    last = sched.get_last_lr()[0]
    assert isinstance(last, dygrad.Tensor) and last is not lr


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        dsched.ExponentialLR([], gamma=0.5)


def test_multistep_milestones_survive_a_plain_dict_state():
    # A serialized state (dygrad.save) brings the Counter back as a dict.
    opt = make_opt(dygrad)
    sched = dsched.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.5)
    sd = sched.state_dict()
    sd["milestones"] = dict(sd["milestones"])
    sched2 = dsched.MultiStepLR(make_opt(dygrad), milestones=[9])
    sched2.load_state_dict(sd)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched2.step(5)  # the closed form needs Counter.elements()
    assert sched2.get_last_lr() == [0.1 * 0.125, 0.03 * 0.125]
