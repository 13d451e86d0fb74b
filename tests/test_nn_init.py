"""nn.init: in-place, unrecorded initializers. The random streams differ from PyTorch's, so the
random ones are checked by their statistics (bounds, mean, std over large tensors, orthogonality)
against the formulas and against PyTorch's own draws; the deterministic ones exactly."""

import math
import warnings

import numpy as np
import pytest

import dygrad
import dygrad.nn as dnn
from dygrad.nn import init

try:
    import torch
except ImportError:  # pragma: no cover - the oracle is optional
    torch = None

oracle = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

N = 200_000  # large enough that sample mean/std are within ~1% of the truth


def arr(t):
    return t.detach().numpy().astype(np.float64)


@pytest.fixture(autouse=True)
def _seed():
    dygrad.manual_seed(1234)
    if torch is not None:
        torch.manual_seed(1234)


# --- the contract shared by every initializer -----------------------------------------------------
INITS = [
    ("uniform_", lambda t: init.uniform_(t, -1.0, 2.0)),
    ("normal_", lambda t: init.normal_(t, 0.5, 2.0)),
    ("trunc_normal_", lambda t: init.trunc_normal_(t)),
    ("constant_", lambda t: init.constant_(t, 0.25)),
    ("ones_", init.ones_),
    ("zeros_", init.zeros_),
    ("eye_", init.eye_),
    ("xavier_uniform_", init.xavier_uniform_),
    ("xavier_normal_", init.xavier_normal_),
    ("kaiming_uniform_", init.kaiming_uniform_),
    ("kaiming_normal_", init.kaiming_normal_),
    ("orthogonal_", init.orthogonal_),
    ("sparse_", lambda t: init.sparse_(t, 0.5)),
]


@pytest.mark.parametrize("name,fn", INITS, ids=[n for n, _ in INITS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_in_place_unrecorded_returns_the_tensor(name, fn, dtype):
    p = dnn.Parameter(dygrad.full((6, 5), 7.0, dtype=getattr(dygrad, dtype)))
    v = p._version
    out = fn(p)
    assert out is p and p.is_leaf and p.grad_fn is None and p.requires_grad
    assert p.dtype is getattr(dygrad, dtype) and p.shape == (6, 5)
    assert p._version > v
    assert not np.all(arr(p) == 7.0)
    # still trains normally afterwards
    (p * 2).sum().backward()
    assert p.grad is not None


def test_reproducible_with_manual_seed():
    for fn in (init.uniform_, init.normal_, init.kaiming_uniform_, init.orthogonal_,
               init.trunc_normal_, init.xavier_normal_):  # fmt: skip
        dygrad.manual_seed(7)
        a = arr(fn(dygrad.empty(4, 3)))
        dygrad.manual_seed(7)
        assert np.array_equal(a, arr(fn(dygrad.empty(4, 3))))
        assert not np.array_equal(a, arr(fn(dygrad.empty(4, 3))))


# --- statistics -----------------------------------------------------------------------------------
def test_uniform_and_normal_statistics():
    u = arr(init.uniform_(dygrad.empty(N), -1.0, 3.0))
    assert u.min() >= -1.0 and u.max() < 3.0 and u.min() < -0.99 and u.max() > 2.99
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.std() - 4 / math.sqrt(12)) < 0.01
    n = arr(init.normal_(dygrad.empty(N), -2.0, 0.5))
    assert abs(n.mean() + 2.0) < 0.01 and abs(n.std() - 0.5) < 0.005
    d = arr(init.uniform_(dygrad.empty(N, dtype=dygrad.float64)))
    assert d.min() >= 0.0 and d.max() < 1.0


@oracle
@pytest.mark.parametrize(
    "mean,std,a,b",
    [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, 0.0, 3.0), (0.0, 0.02, -0.04, 0.04), (0.0, 1.0, 1.0, 3.0)],
)
def test_trunc_normal_statistics_match_pytorch(mean, std, a, b):
    d = arr(init.trunc_normal_(dygrad.empty(N), mean, std, a, b))
    t = torch.nn.init.trunc_normal_(torch.empty(N), mean, std, a, b).numpy().astype(np.float64)
    assert d.min() >= a and d.max() <= b
    assert abs(d.mean() - t.mean()) < 0.02 * std + 1e-9
    assert abs(d.std() - t.std()) < 0.02 * std
    # the truncated normal's exact mean, from its density
    alpha, beta = (a - mean) / std, (b - mean) / std

    def phi(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x):
        return (1 + math.erf(x / math.sqrt(2))) / 2

    z = cdf(beta) - cdf(alpha)
    exact_mean = mean + std * (phi(alpha) - phi(beta)) / z
    assert abs(d.mean() - exact_mean) < 0.02 * std


def test_trunc_normal_far_tail_warns_and_stays_in_bounds():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        d = arr(init.trunc_normal_(dygrad.empty(1000), mean=0.0, std=1.0, a=5.0, b=6.0))
    assert d.min() >= 5.0 and d.max() <= 6.0


@oracle
@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 3, 3), (500, 20, 5)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier_statistics(shape, gain):
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    u = arr(init.xavier_uniform_(dygrad.empty(*shape), gain=gain))
    assert np.abs(u).max() <= bound and np.abs(u).max() > 0.99 * bound
    assert abs(u.std() - std) < 0.02 * std and abs(u.mean()) < 0.02 * std
    n = arr(init.xavier_normal_(dygrad.empty(*shape), gain=gain))
    tn = torch.nn.init.xavier_normal_(torch.empty(shape), gain=gain).numpy()
    assert abs(n.std() - std) < 0.02 * std and abs(n.std() - tn.std()) < 0.03 * std


@oracle
@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 3, 3)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "FAN_OUT"])
@pytest.mark.parametrize("nonlinearity,a", [("leaky_relu", 0), ("leaky_relu", math.sqrt(5)),
                                            ("relu", 0), ("tanh", 0), ("linear", 0)])  # fmt: skip
def test_kaiming_statistics_match_pytorch(shape, mode, nonlinearity, a):
    tu = torch.nn.init.kaiming_uniform_(torch.empty(shape), a=a, mode=mode,
                                        nonlinearity=nonlinearity).numpy()  # fmt: skip
    du = arr(init.kaiming_uniform_(dygrad.empty(*shape), a=a, mode=mode,
                                   nonlinearity=nonlinearity))  # fmt: skip
    bound = np.abs(tu).max()
    assert np.abs(du).max() <= bound * 1.001 and np.abs(du).max() > 0.99 * bound
    assert abs(du.std() - tu.std()) < 0.02 * tu.std()
    tn = torch.nn.init.kaiming_normal_(torch.empty(shape), a=a, mode=mode,
                                       nonlinearity=nonlinearity).numpy()  # fmt: skip
    dn = arr(init.kaiming_normal_(dygrad.empty(*shape), a=a, mode=mode,
                                  nonlinearity=nonlinearity))  # fmt: skip
    assert abs(dn.std() - tn.std()) < 0.02 * tn.std() and abs(dn.mean()) < 0.02 * tn.std()


def test_kaiming_on_zero_element_tensor_warns():
    t = dygrad.empty(0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(t) is t
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert init.kaiming_normal_(t) is t


@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3), (4, 2, 3, 3), (1, 10), (10, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal(shape, dtype):
    gain = 1.5
    w = init.orthogonal_(dygrad.empty(*shape, dtype=getattr(dygrad, dtype)), gain=gain)
    m = arr(w).reshape(shape[0], -1) / gain
    rows, cols = m.shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    if rows <= cols:
        np.testing.assert_allclose(m @ m.T, np.eye(rows), atol=tol)
    else:
        np.testing.assert_allclose(m.T @ m, np.eye(cols), atol=tol)
    assert init.orthogonal_(dygrad.empty(0, 3)).shape == (0, 3)


def test_orthogonal_is_uniform_over_signs():
    # the sign fix of the QR factor makes columns unbiased: no systematic positive diagonal
    diag = np.array([np.diag(arr(init.orthogonal_(dygrad.empty(4, 4)))) for _ in range(400)])
    assert abs(diag.mean()) < 0.1


def test_sparse_zeroes_a_fraction_of_each_column():
    w = arr(init.sparse_(dygrad.empty(20, 50), sparsity=0.3, std=0.5))
    assert ((w == 0).sum(0) == 6).all()
    nz = w[w != 0]
    assert abs(nz.std() - 0.5) < 0.1


# --- deterministic initializers and helpers, exactly as PyTorch -----------------------------------
@oracle
def test_deterministic_initializers_match_pytorch():
    for shape in [(3, 3), (2, 5), (5, 2)]:
        assert np.array_equal(arr(init.eye_(dygrad.empty(*shape))),
                              torch.nn.init.eye_(torch.empty(shape)).numpy())  # fmt: skip
    assert np.array_equal(arr(init.constant_(dygrad.empty(2, 3), -1.5)),
                          torch.nn.init.constant_(torch.empty(2, 3), -1.5).numpy())  # fmt: skip
    assert arr(init.ones_(dygrad.empty(4))).tolist() == [1.0] * 4
    assert arr(init.zeros_(dygrad.ones(4))).tolist() == [0.0] * 4
    for shape, groups in [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((2, 5, 3, 3, 3), 1), ((3, 2, 4), 1)]:
        d = arr(init.dirac_(dygrad.empty(*shape), groups))
        t = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
        assert np.array_equal(d, t), shape


@oracle
def test_calculate_gain_and_fans_match_pytorch():
    for nl in ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"]:  # fmt: skip
        assert init.calculate_gain(nl) == torch.nn.init.calculate_gain(nl)
    for slope in (0.2, 1, math.sqrt(5)):
        g = init.calculate_gain("leaky_relu", slope)
        assert g == torch.nn.init.calculate_gain("leaky_relu", slope)
    for shape in [(3, 4), (8, 3, 5, 5), (2, 7, 3), (4, 1, 2, 2, 2)]:
        assert init._calculate_fan_in_and_fan_out(dygrad.empty(*shape)) == (
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        )


def error_of(fn, *args, **kw):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(*args, **kw)
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    return None


@oracle
@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.nn.init.calculate_gain("softmax"),
        lambda lib: lib.nn.init.calculate_gain("leaky_relu", "x"),
        lambda lib: lib.nn.init.calculate_gain("leaky_relu", True),
        lambda lib: lib.nn.init._calculate_fan_in_and_fan_out(lib.empty(3)),
        lambda lib: lib.nn.init.xavier_uniform_(lib.empty(3)),
        lambda lib: lib.nn.init.kaiming_uniform_(lib.empty(3, 2), mode="fan_avg"),
        lambda lib: lib.nn.init.kaiming_normal_(lib.empty(3)),
        lambda lib: lib.nn.init.eye_(lib.empty(2, 2, 2)),
        lambda lib: lib.nn.init.orthogonal_(lib.empty(3)),
        lambda lib: lib.nn.init.dirac_(lib.empty(3, 3)),
        lambda lib: lib.nn.init.dirac_(lib.empty(3, 3, 3), 2),
        lambda lib: lib.nn.init.sparse_(lib.empty(3, 3, 3), 0.1),
    ],
)
def test_errors_match_pytorch(call):
    te, de = error_of(call, torch), error_of(call, dygrad)
    assert te is not None and de == te


def test_module_reinitialization_through_apply():
    net = dnn.Sequential(dnn.Linear(10, 20), dnn.Linear(20, 5))

    def reinit(m):
        if isinstance(m, dnn.Linear):
            init.xavier_uniform_(m.weight, gain=init.calculate_gain("relu"))
            init.zeros_(m.bias)

    net.apply(reinit)
    for m in net:
        bound = math.sqrt(2) * math.sqrt(6 / (m.in_features + m.out_features))
        assert np.abs(arr(m.weight)).max() <= bound and not arr(m.bias).any()
