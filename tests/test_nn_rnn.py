"""RNN, LSTM, GRU and their cells against PyTorch with the same weights: outputs, h_n/c_n and the
gradients of every parameter, input and initial state; reprs, state dicts, init and errors."""

import numpy as np
import pytest

import dygrad

torch = pytest.importorskip("torch")

TOL = {"float32": 2e-5, "float64": 1e-11}


def copy_weights(tm, dm):
    """Load torch's initialized parameters into the dygrad module through its state dict."""
    dm.load_state_dict({k: dygrad.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def make(cls, dtype, *args, **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(*args, **kw)
    dm = getattr(dygrad.nn, cls)(*args, **kw)
    if dtype == "float64":
        tm, dm = tm.double(), dm.double()
    copy_weights(tm, dm)
    return tm, dm


def pair(a):
    return torch.tensor(a, requires_grad=True), dygrad.tensor(a, requires_grad=True)


def close(d, t, tol, what):
    assert d is not None and t is not None, what
    dn, tn = d.detach().numpy(), t.detach().numpy()
    assert dn.shape == tn.shape, (what, dn.shape, tn.shape)
    assert dn.dtype == tn.dtype, (what, dn.dtype, tn.dtype)
    np.testing.assert_allclose(dn, tn, rtol=tol, atol=tol, err_msg=what)


def flat(out):
    """output, h_n (, c_n) as a flat list."""
    o, h = out
    return [o, *h] if isinstance(h, tuple) else [o, h]


def backward_both(touts, douts, rng):
    tl = dl = 0
    for t, d in zip(touts, douts):
        g = rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
        tl = tl + (t * torch.tensor(g)).sum()
        dl = dl + (d * dygrad.tensor(g)).sum()
    tl.backward()
    dl.backward()


def check_module(tm, dm, targs, dargs, inputs, tol, rng):
    touts, douts = flat(tm(*targs)), flat(dm(*dargs))
    for i, (t, d) in enumerate(zip(touts, douts)):
        close(d, t, tol, ["output", "h_n", "c_n"][i])
    backward_both(touts, douts, rng)
    dparams = dict(dm.named_parameters())
    assert list(dparams) == [n for n, _ in tm.named_parameters()]
    for name, p in tm.named_parameters():
        close(dparams[name].grad, p.grad, tol * 10, f"grad {name}")
    for i, (t, d) in enumerate(inputs):
        close(d.grad, t.grad, tol * 10, f"grad input {i}")


CONFIGS = [
    {},
    {"num_layers": 2},
    {"num_layers": 3, "batch_first": True},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"num_layers": 3, "bidirectional": True},
    {"bias": False, "num_layers": 2},
    {"extra": True},  # relu for RNN, proj_size for LSTM, bias-free bidirectional for GRU
]
EXTRA = {
    "RNN": {"nonlinearity": "relu", "num_layers": 2},
    "LSTM": {"proj_size": 3, "num_layers": 2, "bidirectional": True},
    "GRU": {"bias": False, "bidirectional": True},
}


def cases():
    for cls in ("RNN", "LSTM", "GRU"):
        for i, cfg in enumerate(CONFIGS):
            cfg = EXTRA[cls] if cfg.get("extra") else cfg
            for T in (1, 7):
                for batched in (True, False):
                    for h0 in (False, True):
                        # float32 on a subset keeps the file fast; float64 on every case.
                        dts = ["float64"] + (["float32"] if (i + T + h0) % 3 == 0 else [])
                        for dt in dts:
                            b, h = "batched" if batched else "unbatched", "h0" if h0 else "noh0"
                            yield pytest.param(cls, cfg, T, batched, h0, dt,
                                               id=f"{cls}-{i}-T{T}-{b}-{h}-{dt}")  # fmt: skip


@pytest.mark.filterwarnings("ignore:LSTM with projections")
@pytest.mark.parametrize("cls,cfg,T,batched,h0,dt", list(cases()))
def test_matches_torch(cls, cfg, T, batched, h0, dt):
    rng = np.random.default_rng(T * 7 + h0)
    I, H, B = 5, 4, 3
    tm, dm = make(cls, dt, I, H, **cfg)
    bf = cfg.get("batch_first", False)
    shape = ((B, T, I) if bf else (T, B, I)) if batched else (T, I)
    tx, dx = pair(rng.standard_normal(shape).astype(dt))
    targs, dargs, inputs = [tx], [dx], [(tx, dx)]
    if h0:
        D = (2 if cfg.get("bidirectional") else 1) * cfg.get("num_layers", 1)
        hs = cfg.get("proj_size", 0) or H
        lead = (D, B) if batched else (D,)
        th, dh = pair(rng.standard_normal((*lead, hs)).astype(dt))
        inputs.append((th, dh))
        if cls == "LSTM":
            tc, dc = pair(rng.standard_normal((*lead, H)).astype(dt))
            inputs.append((tc, dc))
            targs.append((th, tc))
            dargs.append((dh, dc))
        else:
            targs.append(th)
            dargs.append(dh)
    check_module(tm, dm, targs, dargs, inputs, TOL[dt], rng)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("given", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cells_match_torch(cls, dt, batched, given, bias):
    rng = np.random.default_rng(1)
    kw = {"bias": bias}
    if cls == "RNNCell" and not bias:
        kw["nonlinearity"] = "relu"
    tm, dm = make(cls, dt, 5, 4, **kw)
    lead = (3,) if batched else ()
    tx, dx = pair(rng.standard_normal((*lead, 5)).astype(dt))
    inputs = [(tx, dx)]
    targs, dargs = [tx], [dx]
    if given:
        states = [pair(rng.standard_normal((*lead, 4)).astype(dt))
                  for _ in range(2 if cls == "LSTMCell" else 1)]  # fmt: skip
        inputs += states
        if cls == "LSTMCell":
            targs.append(tuple(s[0] for s in states))
            dargs.append(tuple(s[1] for s in states))
        else:
            targs.append(states[0][0])
            dargs.append(states[0][1])
    # Two steps, feeding the state back, as a user's loop would.
    touts, douts = tm(*targs), dm(*dargs)
    if cls == "LSTMCell":
        touts, douts = tm(tx, touts), dm(dx, douts)
    else:
        touts, douts = tm(tx, touts), dm(dx, douts)
    touts = list(touts) if isinstance(touts, tuple) else [touts]
    douts = list(douts) if isinstance(douts, tuple) else [douts]
    for t, d in zip(touts, douts):
        close(d, t, TOL[dt], "output")
    backward_both(touts, douts, rng)
    dparams = dict(dm.named_parameters())
    for name, p in tm.named_parameters():
        close(dparams[name].grad, p.grad, TOL[dt] * 10, f"grad {name}")
    for i, (t, d) in enumerate(inputs):
        close(d.grad, t.grad, TOL[dt] * 10, f"grad input {i}")


REPRS = [
    ("RNN", (10, 20), {}),
    ("RNN", (10, 20), {"nonlinearity": "relu", "num_layers": 2, "dropout": 0.5}),
    ("RNN", (10, 20, 2, "relu", False, True, 0.25, True), {}),
    ("LSTM", (10, 20), {"num_layers": 2, "batch_first": True}),
    ("LSTM", (10, 20), {"proj_size": 5, "bias": False, "bidirectional": True}),
    ("GRU", (3, 4), {"num_layers": 3, "dropout": 0.1, "bidirectional": True}),
    ("GRU", (3, 4, 1, False), {}),
    ("RNNCell", (3, 4), {}),
    ("RNNCell", (3, 4), {"bias": False, "nonlinearity": "relu"}),
    ("LSTMCell", (3, 4), {"bias": False}),
    ("GRUCell", (3, 4), {}),
]


@pytest.mark.parametrize("cls,args,kw", REPRS, ids=lambda x: str(x))
def test_repr_state_dict_and_init_match_torch(cls, args, kw):
    tm, dm = getattr(torch.nn, cls)(*args, **kw), getattr(dygrad.nn, cls)(*args, **kw)
    assert repr(dm) == repr(tm)
    t_sd, d_sd = tm.state_dict(), dm.state_dict()
    assert list(d_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(d_sd[k].shape) == tuple(t_sd[k].shape), k
        assert d_sd[k].dtype == dygrad.float32
    for attr in ("input_size", "hidden_size", "bias", "num_layers", "batch_first", "dropout",
                 "bidirectional", "proj_size", "mode", "nonlinearity"):  # fmt: skip
        if hasattr(tm, attr):
            assert getattr(dm, attr) == getattr(tm, attr), attr
    if hasattr(tm, "all_weights"):
        assert [[tuple(p.shape) for p in ws] for ws in dm.all_weights] == [
            [tuple(p.shape) for p in ws] for ws in tm.all_weights
        ]
    bound = 1 / np.sqrt(tm.hidden_size)
    for name, p in dm.named_parameters():
        a = p.detach().numpy()
        assert np.abs(a).max() <= bound, name
        if a.size >= 40:  # uniform on [-b, b]: std b/sqrt(3)
            assert abs(a.std() - bound / np.sqrt(3)) < 0.3 * bound, name


def test_state_dict_round_trip_and_double():
    _, dm = make("LSTM", "float32", 4, 6, num_layers=2, bidirectional=True)
    other = dygrad.nn.LSTM(4, 6, num_layers=2, bidirectional=True)
    other.load_state_dict(dm.state_dict())
    x = dygrad.randn(5, 2, 4)
    np.testing.assert_array_equal(other(x)[0].detach().numpy(), dm(x)[0].detach().numpy())
    dm.double()
    out, (h, c) = dm(x.double())
    assert out.dtype == h.dtype == c.dtype == dygrad.float64
    with pytest.raises(ValueError, match="does not match weight dtype"):
        dm(x)


def test_long_sequence_backpropagates():
    # 200 steps of a 2-layer LSTM: a deep graph, built and walked without recursion.
    dygrad.manual_seed(0)
    lstm = dygrad.nn.LSTM(3, 8, num_layers=2, batch_first=True)
    x = dygrad.randn(2, 200, 3, requires_grad=True)
    out, (h, c) = lstm(x)
    assert out.shape == (2, 200, 8)
    (out[:, -1].sum() + c.sum()).backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all() for p in lstm.parameters())
    g = x.grad.numpy()
    assert np.isfinite(g).all() and np.abs(g[:, 0]).sum() > 0  # reaches the first step


def test_successive_calls_with_different_lengths():
    tm, dm = make("GRU", "float64", 3, 5, num_layers=2)
    rng = np.random.default_rng(2)
    for T in (4, 1, 9, 2):
        tx, dx = pair(rng.standard_normal((T, 2, 3)))
        to, th = tm(tx)
        do, dh = dm(dx)
        assert do.shape == (T, 2, 5)
        close(do, to, 1e-11, f"output T={T}")
        close(dh, th, 1e-11, f"h_n T={T}")
        (to.sum() + th.sum()).backward()
        (do.sum() + dh.sum()).backward()
        close(dx.grad, tx.grad, 1e-10, f"grad T={T}")
    # Parameter gradients accumulated over the four calls, as in PyTorch.
    dparams = dict(dm.named_parameters())
    for name, p in tm.named_parameters():
        close(dparams[name].grad, p.grad, 1e-10, name)


def test_dropout_between_layers():
    tm, dm = make("LSTM", "float64", 3, 6, num_layers=3, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    dygrad.manual_seed(0)
    a, b = dm(dygrad.tensor(x))[0], dm(dygrad.tensor(x))[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    # The first layer has no dropout before it: its final state is deterministic.
    # ... and the last layer's output has none after it: its last step is h_n of that layer.
    out, (h_n, _) = dm(dygrad.tensor(x))
    np.testing.assert_array_equal(out[-1].detach().numpy(), h_n[-1].detach().numpy())
    h1 = dm(dygrad.tensor(x))[1][0][0].detach().numpy()
    h2 = dm(dygrad.tensor(x))[1][0][0].detach().numpy()
    np.testing.assert_array_equal(h1, h2)
    tm.eval(), dm.eval()
    close(dm(dygrad.tensor(x))[0], tm(torch.tensor(x))[0], 1e-11, "eval output")
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        dygrad.nn.GRU(3, 4, dropout=0.2)


def test_grad_fn_and_no_grad():
    rnn = dygrad.nn.RNN(3, 4)
    out, h = rnn(dygrad.randn(2, 1, 3))
    assert out.grad_fn is not None and h.grad_fn is not None
    with dygrad.no_grad():
        out, h = rnn(dygrad.randn(2, 1, 3))
    assert out.grad_fn is None and not out.requires_grad


def error_pairs():
    x3, x4 = np.zeros((4, 2, 5), np.float32), np.zeros((4, 2, 5, 1), np.float32)
    yield "RNN", (5, 4), (x4,)
    yield "LSTM", (5, 4), (x4,)
    yield "GRU", (5, 4), (x4,)
    yield "RNN", (6, 4), (x3,)
    yield "RNN", (5, 4), (x3, np.zeros((2, 2, 4), np.float32))
    yield "GRU", (5, 4), (x3, np.zeros((2, 4), np.float32))
    yield "LSTM", (5, 4), (x3, (np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 4), np.float32)))
    yield "LSTM", (5, 4), (x3, (np.zeros((1, 2, 4), np.float32), np.zeros((1, 3, 4), np.float32)))
    yield "LSTM", (5, 4), (x3[:, 0], (np.zeros((1, 2, 4), np.float32),) * 2)
    yield "LSTM", (5, 4), (x3.astype(np.float64),)
    yield "LSTM", (5, 4), (x3[:0],)
    yield "GRU", (5, 4), (x3, np.zeros((1, 2, 4)))
    yield "RNNCell", (5, 4), (x3,)
    yield "RNNCell", (5, 4), (x3[0, :, :3],)
    yield "LSTMCell", (5, 4), (x3[0, :, :4],)
    yield "GRUCell", (5, 4), (x3[0], np.zeros((3, 4), np.float32))
    yield "GRUCell", (5, 4), (x3[0], np.zeros((2, 3), np.float32))
    yield "LSTMCell", (5, 4), (x3[0], (np.zeros((2, 4), np.float32), np.zeros((2, 1, 1, 4))))
    yield "GRUCell", (5, 4), (x3[0], np.zeros((2, 4)))


def convert(lib, a):
    if isinstance(a, tuple):
        return tuple(convert(lib, b) for b in a)
    return lib.tensor(a)


@pytest.mark.parametrize(
    "cls,args,inputs", [pytest.param(*e, id=f"{e[0]}-{i}") for i, e in enumerate(error_pairs())]
)
def test_errors_match_torch(cls, args, inputs):
    tm, dm = getattr(torch.nn, cls)(*args), getattr(dygrad.nn, cls)(*args)
    with pytest.raises(Exception) as t_err:
        tm(*convert(torch, inputs))
    with pytest.raises(Exception) as d_err:
        dm(*convert(dygrad, inputs))
    assert type(d_err.value) is type(t_err.value)
    assert str(d_err.value) == str(t_err.value)


@pytest.mark.parametrize(
    "make_bad",
    [
        lambda nn: nn.RNN(3, 4, nonlinearity="sigmoid"),
        lambda nn: nn.GRU(3, 4, proj_size=2),
        lambda nn: nn.LSTM(3, 4, proj_size=4),
        lambda nn: nn.LSTM(3, 4, dropout=1.5),
        lambda nn: nn.LSTM(0, 4),
        lambda nn: nn.LSTM(3, 4, num_layers=0),
        lambda nn: nn.LSTM(3.0, 4),
        lambda nn: nn.LSTM(3, 4, bias=1),
    ],
)
def test_constructor_errors_match_torch(make_bad):
    with pytest.raises(Exception) as t_err:
        make_bad(torch.nn)
    with pytest.raises(Exception) as d_err:
        make_bad(dygrad.nn)
    assert type(d_err.value) is type(t_err.value)
    assert str(d_err.value) == str(t_err.value)
