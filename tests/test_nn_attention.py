"""F.scaled_dot_product_attention and nn.MultiheadAttention against PyTorch: outputs, attention
weights and the gradients of inputs, masks and parameters; reprs, state dicts and errors."""

import warnings

import numpy as np
import pytest

import dygrad
import dygrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [("float32", 2e-5), ("float64", 1e-11)]


def pair(a, grad=True):
    """The same array as a torch tensor and a dygrad tensor."""
    return torch.tensor(a, requires_grad=grad), dygrad.tensor(a, requires_grad=grad)


def close(d, t, tol, what=""):
    assert d is not None and t is not None, what
    dn, tn = d.detach().numpy(), t.detach().numpy()
    assert dn.shape == tn.shape, (what, dn.shape, tn.shape)
    assert dn.dtype == tn.dtype, (what, dn.dtype, tn.dtype)
    np.testing.assert_allclose(dn, tn, rtol=tol, atol=tol, err_msg=what)


def backward_both(t_outs, d_outs, seed=0):
    """Backpropagate the same random cotangents through both libraries' outputs."""
    rng = np.random.default_rng(seed)
    tl, dl = 0, 0
    for t, d in zip(t_outs, d_outs):
        if t is None:
            continue
        g = rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
        tl = tl + (t * torch.tensor(g)).sum()
        dl = dl + (d * dygrad.tensor(g)).sum()
    tl.backward()
    dl.backward()


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention

SDPA_CASES = {
    "plain": {},
    "causal_square": {"is_causal": True, "S": 4},
    "causal_wide": {"is_causal": True, "S": 6},
    "causal_tall": {"is_causal": True, "S": 2},
    "bool_LS": {"mask": "bool", "mshape": (4, 5)},
    "bool_broadcast": {"mask": "bool", "mshape": (2, 1, 4, 5)},
    "bool_dead_rows": {"mask": "dead", "mshape": (3, 4, 5)},
    "float_LS": {"mask": "float", "mshape": (4, 5)},
    "float_col": {"mask": "float", "mshape": (3, 1, 5)},
    "float_neginf_rows": {"mask": "neginf", "mshape": (4, 5)},
    "scale": {"scale": 0.37},
    "gqa": {"gqa": True},
    "value_dim": {"Ev": 3},
    "3d": {"shape": (3,)},
    "2d": {"shape": ()},
}


@pytest.mark.parametrize("dt,tol", DTYPES)
@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_torch(case, dt, tol):
    c = SDPA_CASES[case]
    rng = np.random.default_rng(hash(case) % 2**32)
    lead = c.get("shape", (2, 3))
    L, S, E, Ev = 4, c.get("S", 5), 8, c.get("Ev", 6)
    kv_heads = (1,) if c.get("gqa") else ()
    kv_lead = lead[:-1] + kv_heads if kv_heads else lead
    q = rng.standard_normal((*lead, L, E)).astype(dt)
    k = rng.standard_normal((*kv_lead, S, E)).astype(dt)
    v = rng.standard_normal((*kv_lead, S, Ev)).astype(dt)
    (tq, dq), (tk, dk), (tv, dv) = pair(q), pair(k), pair(v)
    kw = {}
    for name in ("is_causal", "scale"):
        if name in c:
            kw[name] = c[name]
    if c.get("gqa"):
        kw["enable_gqa"] = True
    tm = dm = None
    kind = c.get("mask")
    if kind in ("bool", "dead"):
        m = rng.random(c["mshape"]) > 0.4
        if kind == "dead":
            m[1, 2] = False
            m[0, 0] = False
        tm, dm = torch.tensor(m), dygrad.tensor(m)
    elif kind in ("float", "neginf"):
        m = rng.standard_normal(c["mshape"]).astype(dt)
        if kind == "neginf":
            m[1] = -np.inf
            m[2, :3] = -np.inf
        tm, dm = pair(m)
    t_out = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kw)
    d_out = F.scaled_dot_product_attention(dq, dk, dv, attn_mask=dm, **kw)
    close(d_out, t_out, tol, "output")
    assert np.isfinite(d_out.detach().numpy()).all()
    backward_both([t_out], [d_out])
    for name, t, d in (("q", tq, dq), ("k", tk, dk), ("v", tv, dv)):
        close(d.grad, t.grad, tol, f"grad {name}")
    if kind in ("float", "neginf"):
        close(dm.grad, tm.grad, tol, "grad attn_mask")


def test_sdpa_bool_mask_equals_float_mask():
    rng = np.random.default_rng(1)
    q, k, v = (dygrad.tensor(rng.standard_normal((2, 3, 4))) for _ in range(3))
    m = rng.random((3, 3)) > 0.5
    m[:, 0] = True
    f = np.where(m, 0.0, -np.inf)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=dygrad.tensor(m))
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=dygrad.tensor(f))
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)


def test_sdpa_errors_match_torch():
    q = dygrad.randn(2, 3, 4)
    tq = torch.randn(2, 3, 4)
    mask = np.ones((3, 3), bool)
    with pytest.raises(RuntimeError) as t_err:
        TF.scaled_dot_product_attention(tq, tq, tq, attn_mask=torch.tensor(mask), is_causal=True)
    with pytest.raises(RuntimeError) as d_err:
        F.scaled_dot_product_attention(q, q, q, attn_mask=dygrad.tensor(mask), is_causal=True)
    assert str(d_err.value) == str(t_err.value)
    with pytest.raises(RuntimeError, match="attn_mask dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=dygrad.ones(3, 3, dtype=dygrad.int64))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(RuntimeError, match="embedding size"):
        F.scaled_dot_product_attention(q, dygrad.randn(2, 3, 5), q)
    with pytest.raises(TypeError, match="query"):
        F.scaled_dot_product_attention(np.ones((2, 3)), q, q)


def test_sdpa_dropout():
    dygrad.manual_seed(0)
    q, k = dygrad.randn(2, 4, 8), dygrad.randn(2, 6, 8)
    v = dygrad.ones(2, 6, 3)
    a = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(a.numpy(), 1.0, rtol=1e-6)  # rows of the weights sum to one
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not np.allclose(b.numpy(), a.numpy())
    assert np.allclose(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy(), 0.0)
    # Dropout keeps the expectation: the mean over many draws approaches the weights' row sum.
    big = F.scaled_dot_product_attention(dygrad.zeros(1, 2000, 8), k[:1], v[:1], dropout_p=0.3)
    assert abs(big.numpy().mean() - 1.0) < 0.05


# ---------------------------------------------------------------------------------------------
# MultiheadAttention


def make_mha(seed=0, dtype="float64", **kw):
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(**kw)
    tm = tm.double() if dtype == "float64" else tm
    dm = dygrad.nn.MultiheadAttention(**kw)
    dm = dm.double() if dtype == "float64" else dm
    # bias_k and the in-projection biases start at zero; give every parameter random values.
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    dm.load_state_dict({k: dygrad.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return tm, dm


MHA_CASES = {
    "self": dict(module=dict(), self_attn=True),
    "self_batch_first": dict(module=dict(batch_first=True), self_attn=True),
    "cross": dict(module=dict()),
    "kv_same": dict(module=dict(batch_first=True), kv_same=True),
    "kdim_vdim": dict(module=dict(kdim=3, vdim=5)),
    "kdim_vdim_bf": dict(module=dict(kdim=3, vdim=5, batch_first=True), kpm="bool"),
    "no_bias": dict(module=dict(bias=False)),
    "bias_kv": dict(module=dict(add_bias_kv=True), kpm="bool", am="bool2"),
    "zero_attn": dict(module=dict(add_zero_attn=True), kpm="float", am="float3"),
    "bias_kv_zero_attn": dict(module=dict(add_bias_kv=True, add_zero_attn=True), am="float2"),
    "kpm_bool": dict(module=dict(), kpm="bool"),
    "kpm_float": dict(module=dict(batch_first=True), kpm="float"),
    "am_bool2": dict(module=dict(), am="bool2"),
    "am_bool3": dict(module=dict(), am="bool3"),
    "am_float2": dict(module=dict(batch_first=True), am="float2"),
    "both_masks": dict(module=dict(), am="bool2", kpm="bool"),
    "causal": dict(module=dict(), am="causal", is_causal=True, self_attn=True),
    "causal_kpm": dict(module=dict(), am="causal", is_causal=True, kpm="bool", self_attn=True),
    "per_head": dict(module=dict(), average=False, kpm="bool"),
    "unbatched": dict(module=dict(), unbatched=True, kpm="bool", am="bool3"),
    "unbatched_self": dict(module=dict(batch_first=True), unbatched=True, self_attn=True),
}


def mha_inputs(c, rng, dt, E, heads):
    L, S, N = 4, 5, 3
    kd, vd = c["module"].get("kdim", E), c["module"].get("vdim", E)
    bf, unb = c["module"].get("batch_first", False), c.get("unbatched", False)

    def shape(n, e):
        return (n, e) if unb else ((N, n, e) if bf else (n, N, e))

    if c.get("self_attn"):
        q = rng.standard_normal(shape(L, E)).astype(dt)
        tq, dq = pair(q)
        return L, L, N, (tq, tq, tq), (dq, dq, dq), [(tq, dq)]
    q = rng.standard_normal(shape(L, E)).astype(dt)
    k = rng.standard_normal(shape(S, kd)).astype(dt)
    (tq, dq), (tk, dk) = pair(q), pair(k)
    if c.get("kv_same"):
        return L, S, N, (tq, tk, tk), (dq, dk, dk), [(tq, dq), (tk, dk)]
    v = rng.standard_normal(shape(S, vd)).astype(dt)
    tv, dv = pair(v)
    return L, S, N, (tq, tk, tv), (dq, dk, dv), [(tq, dq), (tk, dk), (tv, dv)]


def mha_masks(c, rng, dt, L, S, N, heads):
    unb = c.get("unbatched", False)
    out_t, out_d, grads = {}, {}, []
    kpm = c.get("kpm")
    if kpm:
        m = rng.random((S,) if unb else (N, S)) > 0.7
        m[..., 0] = False
        if kpm == "bool":
            out_t["key_padding_mask"], out_d["key_padding_mask"] = torch.tensor(m), dygrad.tensor(m)
        else:
            f = np.where(m, -1e4, 0.0).astype(dt) + rng.standard_normal(m.shape).astype(dt)
            t, d = pair(f)
            out_t["key_padding_mask"], out_d["key_padding_mask"] = t, d
            grads.append(("key_padding_mask", t, d))
    am = c.get("am")
    if am:
        nb = 1 if unb else N
        if am == "causal":
            m = np.triu(np.ones((L, S), bool), 1)
        elif am.startswith("bool"):
            m = rng.random((L, S) if am == "bool2" else (nb * heads, L, S)) > 0.7
            m[..., 0] = False
        else:
            m = rng.standard_normal((L, S) if am == "float2" else (nb * heads, L, S)).astype(dt)
        if m.dtype == bool:
            out_t["attn_mask"], out_d["attn_mask"] = torch.tensor(m), dygrad.tensor(m)
        else:
            t, d = pair(m)
            out_t["attn_mask"], out_d["attn_mask"] = t, d
            grads.append(("attn_mask", t, d))
    return out_t, out_d, grads


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("dt,tol", DTYPES)
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_mha_matches_torch(case, dt, tol, need_weights):
    c = MHA_CASES[case]
    E, heads = 8, 2
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    tm, dm = make_mha(embed_dim=E, num_heads=heads, dtype=dt, **c["module"])
    L, S, N, targs, dargs, inputs = mha_inputs(c, rng, dt, E, heads)
    tkw, dkw, mask_grads = mha_masks(c, rng, dt, L, S, N, heads)
    for kw in (tkw, dkw):
        kw.update(need_weights=need_weights, average_attn_weights=c.get("average", True),
                  is_causal=c.get("is_causal", False))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "mismatched masks" / "is_causal" hints
        t_out, t_w = tm(*targs, **tkw)
        d_out, d_w = dm(*dargs, **dkw)
    close(d_out, t_out, tol, "attn_output")
    if need_weights:
        close(d_w, t_w, tol, "attn_weights")
    else:
        assert d_w is None and t_w is None
    backward_both([t_out, t_w], [d_out, d_w])
    dparams = dict(dm.named_parameters())
    for name, p in tm.named_parameters():
        close(dparams[name].grad, p.grad, tol * 10, f"grad {name}")
    for i, (t, d) in enumerate(inputs):
        close(d.grad, t.grad, tol * 10, f"grad input {i}")
    for name, t, d in mask_grads:
        close(d.grad, t.grad, tol * 10, f"grad {name}")


def test_mha_eval_fast_path_agrees():
    # torch takes its fused inference path here; the numbers must still agree.
    tm, dm = make_mha(embed_dim=8, num_heads=2, batch_first=True, dtype="float32")
    tm.eval(), dm.eval()
    x = np.random.default_rng(3).standard_normal((2, 5, 8)).astype("float32")
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    with torch.no_grad():
        t_out, t_w = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm))
    with dygrad.no_grad():
        d_out, d_w = dm(*(dygrad.tensor(x),) * 3, key_padding_mask=dygrad.tensor(kpm))
    close(d_out, t_out, 1e-5)
    close(d_w, t_w, 1e-5)


def test_mha_dropout_only_in_training():
    _, dm = make_mha(embed_dim=8, num_heads=2, dropout=0.5)
    x = dygrad.randn(6, 2, 8, dtype=dygrad.float64)
    dygrad.manual_seed(0)
    _, w1 = dm(x, x, x)
    _, w2 = dm(x, x, x)
    assert not np.allclose(w1.detach().numpy(), w2.detach().numpy())
    dm.eval()
    _, w3 = dm(x, x, x)
    _, w4 = dm(x, x, x)
    np.testing.assert_allclose(w3.detach().numpy(), w4.detach().numpy())
    np.testing.assert_allclose(w3.detach().numpy().sum(-1), 1.0)


MHA_CONFIGS = [
    dict(embed_dim=8, num_heads=2),
    dict(embed_dim=8, num_heads=4, bias=False),
    dict(embed_dim=8, num_heads=2, kdim=3, vdim=5),
    dict(embed_dim=8, num_heads=2, add_bias_kv=True, add_zero_attn=True, batch_first=True),
    dict(embed_dim=6, num_heads=3, kdim=6, vdim=2, bias=False, add_bias_kv=True),
]


@pytest.mark.parametrize("kw", MHA_CONFIGS, ids=str)
def test_mha_repr_state_dict_and_init(kw):
    tm, dm = torch.nn.MultiheadAttention(**kw), dygrad.nn.MultiheadAttention(**kw)
    assert repr(dm) == repr(tm)
    t_sd, d_sd = tm.state_dict(), dm.state_dict()
    assert list(d_sd) == list(t_sd)
    for k in t_sd:
        assert tuple(d_sd[k].shape) == tuple(t_sd[k].shape), k
    assert [n for n, _ in dm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    for attr in ("embed_dim", "kdim", "vdim", "num_heads", "head_dim", "batch_first",
                 "_qkv_same_embed_dim", "add_zero_attn", "dropout"):  # fmt: skip
        assert getattr(dm, attr) == getattr(tm, attr), attr
    assert (dm.bias_k is None) == (tm.bias_k is None)
    # PyTorch's initialization: xavier-uniform projections, zero in/out biases.
    E = kw["embed_dim"]
    if dm.in_proj_weight is not None:
        bound = np.sqrt(6.0 / (E + 3 * E))
        w = dm.in_proj_weight.detach().numpy()
        assert np.abs(w).max() <= bound and w.std() > bound / 4
    if dm.in_proj_bias is not None:
        assert not dm.in_proj_bias.detach().numpy().any()
        assert not dm.out_proj.bias.detach().numpy().any()


def test_mha_trains():
    dygrad.manual_seed(0)
    mha = dygrad.nn.MultiheadAttention(8, 2, batch_first=True)
    x = dygrad.randn(4, 5, 8)
    target = dygrad.randn(4, 5, 8)
    params = list(mha.parameters())
    losses = []
    for _ in range(30):
        out, _ = mha(x, x, x, need_weights=False)
        loss = ((out - target) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with dygrad.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_mha_errors_match_torch():
    tm, dm = make_mha(embed_dim=8, num_heads=2)
    t3, d3 = torch.randn(4, 3, 8).double(), dygrad.randn(4, 3, 8, dtype=dygrad.float64)
    t4, d4 = torch.randn(4, 3, 2, 8).double(), dygrad.randn(4, 3, 2, 8, dtype=dygrad.float64)
    bad = [
        ((t4, t4, t4), {}, (d4, d4, d4), {}),
        ((t3, t3[0], t3[0]), {}, (d3, d3[0], d3[0]), {}),
        ((t3, t3, t3), {"attn_mask": torch.zeros(3, 3)},
         (d3, d3, d3), {"attn_mask": dygrad.zeros(3, 3, dtype=dygrad.float64)}),
        ((t3, t3, t3), {"key_padding_mask": torch.zeros(3, 5, dtype=torch.bool)},
         (d3, d3, d3), {"key_padding_mask": dygrad.zeros(3, 5, dtype=dygrad.bool)}),
        ((t3, t3, t3), {"attn_mask": torch.zeros(4, 4, dtype=torch.int64)},
         (d3, d3, d3), {"attn_mask": dygrad.zeros(4, 4, dtype=dygrad.int64)}),
        ((t3, t3, t3), {"is_causal": True}, (d3, d3, d3), {"is_causal": True}),
    ]  # fmt: skip
    for targs, tkw, dargs, dkw in bad:
        with pytest.raises(Exception) as t_err:
            tm(*targs, **tkw)
        with pytest.raises(Exception) as d_err:
            dm(*dargs, **dkw)
        assert type(d_err.value) is type(t_err.value)
        assert str(d_err.value) == str(t_err.value)
    with pytest.raises(AssertionError, match="divisible"):
        dygrad.nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="greater than 0"):
        dygrad.nn.MultiheadAttention(0, 3)


def test_mha_mismatched_mask_types_warn():
    _, dm = make_mha(embed_dim=8, num_heads=2)
    x = dygrad.randn(4, 3, 8, dtype=dygrad.float64)
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        dm(x, x, x, key_padding_mask=dygrad.zeros(3, 4, dtype=dygrad.bool),
           attn_mask=dygrad.zeros(4, 4, dtype=dygrad.float64))  # fmt: skip
