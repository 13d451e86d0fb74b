"""ONNX export (`dygrad.onnx.export`): models and single ops exported, checked by onnx.checker and
run by onnxruntime, whose outputs must match dygrad's eager outputs to 1e-5; dynamic axes (export
at batch 2, run at batch 5), names, and the errors for what cannot be exported."""

import inspect
import io
import os

import numpy as np
import pytest

import dygrad
import dygrad.nn as nn
import dygrad.nn.functional as F
import dygrad.onnx as dox
from dygrad.jit.tracer import trace_graph
from dygrad.ops.registry import REGISTRY

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5


def flat(out):
    """The tensors of a (nested) result, in order."""
    if isinstance(out, dygrad.Tensor):
        return [out]
    if isinstance(out, list | tuple):
        return [t for o in out for t in flat(o)]
    return []


def rand(*shape, seed=0, dtype=np.float32):
    return dygrad.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def session(path_or_proto):
    src = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    return ort.InferenceSession(src, providers=["CPUExecutionProvider"])


def roundtrip(tmp_path, model, inputs, run=None, tol=TOL, **kw):
    """Export `model` at `inputs`, check the file, run it on `run` (default: the same inputs) and
    compare with the model's own outputs on them. Returns the ModelProto."""
    path = str(tmp_path / "model.onnx")
    proto = dox.export(model, tuple(inputs), path, **kw)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = session(path)
    run = inputs if run is None else run
    names = [i.name for i in sess.get_inputs()]
    got = sess.run(None, {n: t.numpy() for n, t in zip(names, run)})
    with dygrad.no_grad():
        want = flat(model(*run))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = w.numpy()
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    return proto


# --- the models --------------------------------------------------------------------------------


def mlp():
    dygrad.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 16),
                         nn.Tanh(), nn.Linear(16, 3), nn.LogSoftmax(dim=1)).eval()  # fmt: skip


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, stride=1), nn.ReLU(), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8, 3), nn.Softmax(dim=1))

    def forward(self, x):
        return self.head(self.features(x))


def cnn():
    dygrad.manual_seed(0)
    m = CNN()
    with dygrad.no_grad():  # running statistics away from 0 and 1, so eval mode uses them
        for k in range(3):
            m(rand(6, 1, 12, 12, seed=10 + k) * 2 + 1)
    return m.eval()


class Block(nn.Module):
    """A pre-norm transformer block: attention and a GELU MLP, each with a residual."""

    def __init__(self, d=8, heads=2):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        x = x + a
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    """Embedding, a causal attention block (scaled_dot_product_attention) and a head."""

    def __init__(self, vocab=11, d=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab)

    def forward(self, idx):
        x = self.emb(idx)
        q, k, v = self.qkv(self.ln(x)).split(8, dim=-1)
        b, t, _ = q.shape
        q, k, v = (z.view(b, t, 2, 4).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(x + y.transpose(1, 2).reshape(b, t, 8))


def block():
    dygrad.manual_seed(0)
    return Block().eval()


def lstm():
    dygrad.manual_seed(0)
    return nn.LSTM(4, 6, num_layers=2, batch_first=True).eval()


def tiny_lm():
    dygrad.manual_seed(0)
    return TinyLM().eval()


def tokens(b, t, seed=0):
    return dygrad.tensor(np.random.default_rng(seed).integers(0, 11, (b, t)))


MODELS = {
    "mlp": (mlp, lambda b: [rand(b, 4)]),
    "cnn": (cnn, lambda b: [rand(b, 1, 12, 12)]),
    "lstm": (lstm, lambda b: [rand(b, 5, 4)]),
    "attention": (block, lambda b: [rand(b, 3, 8)]),
    "tiny_lm": (tiny_lm, lambda b: [tokens(b, 6)]),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_matches_onnxruntime(tmp_path, name):
    make, inputs = MODELS[name]
    roundtrip(tmp_path, make(), inputs(2))


@pytest.mark.parametrize("name", MODELS)
def test_dynamic_batch(tmp_path, name):
    # Exported at batch 2, run at batch 5: every size that follows the batch is computed.
    make, inputs = MODELS[name]
    proto = roundtrip(tmp_path, make(), inputs(2), run=inputs(5), input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})  # fmt: skip
    dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "batch"


def test_dynamic_axes_as_a_list(tmp_path):
    proto = roundtrip(tmp_path, cnn(), [rand(2, 1, 12, 12)], run=[rand(5, 1, 12, 12, seed=7)],
                      input_names=["x"], dynamic_axes={"x": [0]})  # fmt: skip
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dynamic_axes_1"


def test_dynamic_sequence_length(tmp_path):
    # Two dynamic axes: batch and time through the LSTM (its zero initial states follow the
    # batch; its time steps are unrolled, so the time axis must refuse) and the attention block.
    roundtrip(tmp_path, block(), [rand(2, 3, 8)], run=[rand(4, 6, 8, seed=1)],
              input_names=["x"], dynamic_axes={"x": {0: "batch", 1: "time"}})  # fmt: skip
    with pytest.raises(dox.ExportError, match="dynamic axis 'time'"):
        dox.export(lstm(), (rand(2, 5, 4),), str(tmp_path / "l.onnx"), input_names=["x"],
                   dynamic_axes={"x": {1: "time"}})  # fmt: skip
    assert "l.onnx" not in os.listdir(tmp_path)


class Sizes(nn.Module):
    """Python ints computed from the input's sizes, each of which the graph must recompute."""

    def forward(self, x):
        b, t, c = x.shape
        flat = x.reshape(b * t, c) * t  # a product of two dynamic sizes; a size as a number
        back = flat.reshape(b, t, c)  # two dynamic sizes: one -1, one from the input's shape
        steps = back[:, 1:] - back[:, : t - 1]  # a slice bound that follows the time axis
        last = back[b - 1]  # an index that follows the batch
        return steps, last + dygrad.zeros(t, c), dygrad.ones(b, 1, c) * x.mean()


def test_sizes_computed_from_dynamic_axes(tmp_path):
    roundtrip(tmp_path, Sizes(), [rand(2, 3, 4)], run=[rand(5, 7, 4, seed=1)],
              input_names=["x"], dynamic_axes={"x": {0: "b", 1: "t"}})  # fmt: skip


def test_dynamic_sequence_through_a_causal_mask(tmp_path):
    # scaled_dot_product_attention(is_causal=True) builds its mask from torch.arange(t).
    roundtrip(tmp_path, tiny_lm(), [tokens(2, 6)], run=[tokens(3, 9, seed=2)],
              input_names=["idx"], dynamic_axes={"idx": {0: "batch", 1: "time"}})  # fmt: skip


def test_lstm_with_initial_states(tmp_path):
    m = lstm()
    x, h0, c0 = rand(2, 5, 4), rand(2, 2, 6, seed=1), rand(2, 2, 6, seed=2)
    roundtrip(
        tmp_path,
        lambda x, h, c: m(x, (h, c)),
        [x, h0, c0],
        run=[rand(3, 5, 4, seed=4), rand(2, 3, 6, seed=5), rand(2, 3, 6, seed=6)],
        input_names=["x", "h0", "c0"],
        dynamic_axes={"x": {0: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}},
    )


# --- one op at a time ---------------------------------------------------------------------------

x34 = rand(3, 4)
x234 = rand(2, 3, 4, seed=1)
pos = rand(3, 4, seed=2).abs() + 0.5
img = rand(2, 3, 6, 6, seed=3)
ints = dygrad.tensor(np.arange(12).reshape(3, 4) - 5)

# fmt: off
OPS = [
    ("add", lambda x, y: x + y, [x34, rand(4, seed=5)]),
    ("add_scalar_int", lambda x: x + 3, [ints]),
    ("sub", lambda x, y: x - y, [x34, rand(3, 1, seed=5)]),
    ("rsub", lambda x: 2 - x, [x34]),
    ("mul", lambda x: x * 2, [x34]),
    ("mul_int_float", lambda x: x * 2.5, [ints]),
    ("div", lambda x, y: x / y, [x34, pos]),
    ("div_int", lambda x: x / 4, [ints]),
    ("neg", lambda x: -x, [x34]),
    ("pow", lambda x: x**2, [x34]),
    ("pow_tensor", lambda x, y: x**y, [pos, x34]),
    ("rpow", lambda x: 2**x, [x34]),
    ("remainder", lambda x, y: x % y, [x34, pos]),
    ("remainder_int", lambda x: x % 3, [ints]),
    ("exp", lambda x: x.exp(), [x34]),
    ("log", lambda x: x.log(), [pos]),
    ("log1p", lambda x: x.log1p(), [pos]),
    ("expm1", lambda x: x.expm1(), [x34]),
    ("sqrt", lambda x: x.sqrt(), [pos]),
    ("rsqrt", lambda x: x.rsqrt(), [pos]),
    ("reciprocal", lambda x: x.reciprocal(), [pos]),
    ("sin_cos_tan", lambda x: (x.sin(), x.cos(), x.tan()), [x34]),
    ("tanh_sigmoid_relu", lambda x: (x.tanh(), x.sigmoid(), x.relu()), [x34]),
    ("abs_sign", lambda x: (x.abs(), x.sign()), [x34]),
    ("clamp", lambda x: (x.clamp(-0.5, 0.5), x.clamp(min=0), x.clamp(max=0.1)), [x34]),
    ("clamp_int", lambda x: x.clamp(-2, 3), [ints]),
    ("maximum_minimum", lambda x, y: (dygrad.maximum(x, y), dygrad.minimum(x, y)), [x34, pos]),
    ("where", lambda x: dygrad.where(x > 0, x, 0.0), [x34]),
    ("comparisons", lambda x, y: (x == y, x != y, x < y, x <= y, x > 0, x >= y),
     [ints, ints.t().reshape(3, 4)]),
    ("logical_not_isnan", lambda x: ((x > 0).logical_not(), x.isnan(), x.isinf(), x.isfinite()),
     [dygrad.tensor([1.0, float("nan"), float("inf"), -2.0])]),
    ("erf_erfc", lambda x: (dygrad.erf(x), dygrad.erfc(x)), [x34]),
    ("floor_ceil_round_trunc", lambda x: (x.floor(), x.ceil(), x.round(), x.trunc()),
     [dygrad.tensor([[-2.5, -1.5, -0.5, -0.3], [0.0, 0.5, 1.5, 2.5], [2.7, -2.7, 3.2, -0.0]])]),
    ("floor_ceil_round_trunc_int", lambda x: (x.floor(), x.ceil(), x.round(), x.trunc()), [ints]),
    ("fmod", lambda x, y: (dygrad.fmod(x, y), x.fmod(y[0])), [x34 * 3, pos]),
    ("fmod_scalar", lambda x: (x.fmod(0.7), x.fmod(-1.5)), [x34 * 3]),
    ("fmod_int", lambda x, y: (x.fmod(y), x.fmod(3)), [ints, ints.abs() + 1]),
    ("div_trunc", lambda x, y: (x.div(y, rounding_mode="trunc"),
                                x.div(0.3, rounding_mode="trunc")), [x34 * 3, pos]),
    ("div_trunc_int", lambda x, y: (x.div(y, rounding_mode="trunc"),
                                    x.div(-4, rounding_mode="trunc")), [ints, ints.abs() + 1]),
    ("bitwise_int", lambda x, y: (x & y, x | 6, x ^ y, ~x, 3 & x), [ints, ints.t().reshape(3, 4)]),
    ("bitwise_bool", lambda x, y: ((x > 0) & (y > 0) | ~(x > 1) ^ (y < 0),
                                   (x > 0).bitwise_not()), [x34, pos - 1]),
    ("gelu", lambda x: (F.gelu(x), F.gelu(x, approximate="tanh")), [x34 * 3]),
    ("elu_selu", lambda x: (F.elu(x), F.elu(x, 2.0), F.selu(x)), [x34]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), [x34]),
    ("silu_softplus", lambda x: (F.silu(x), F.softplus(x), F.softplus(x, 2.0, 1.0)), [x34 * 5]),
    ("hardtanh_logsigmoid", lambda x: (F.hardtanh(x, -0.5, 0.5), F.logsigmoid(x)), [x34 * 5]),
    ("reshape_view", lambda x: (x.reshape(4, 6), x.view(-1), x.flatten(1)), [x234]),
    ("unsafe_view", lambda x: x.transpose(0, 1).reshape(6, 4), [x234]),
    ("expand", lambda x: x.expand(2, 3, 4), [rand(3, 1, seed=4)]),
    ("squeeze_unsqueeze", lambda x: (x.squeeze(), x.squeeze(0), x.squeeze((0, 2)),
                                     x.unsqueeze(-1)), [rand(1, 3, 1, seed=4)]),
    ("transpose_permute_t", lambda x, y: (x.transpose(0, 2), x.permute(2, 0, 1), y.t(),
                                          x.mT), [x234, x34]),
    ("clone_contiguous", lambda x: (x.clone(), x.transpose(0, 1).contiguous()), [x34]),
    ("repeat", lambda x: (x.repeat(2, 1), x.repeat(2, 1, 3)), [x34]),
    ("cat_stack", lambda x, y: (dygrad.cat([x, y], 1), dygrad.stack([x, y]),
                                dygrad.stack([x, y], -1)), [x34, pos]),
    ("split_chunk_unbind", lambda x: (*x.split([1, 3], 1), *x.chunk(2, 0), *x.unbind(1)), [x34]),
    ("flip", lambda x: x.flip((0, 2)), [x234]),
    ("to_dtype", lambda x: (x.double(), x.long(), (x > 0).float()), [x34 * 3]),
    ("select_slice", lambda x: (x[0], x[:, 1], x[-1, :, 1:3], x[..., ::2], x[:, None, 2],
                                x[1, 2, 3], x[:, 1:]), [x234]),
    ("index_tensor", lambda x, i: (x[i], x[:, i]), [x34, dygrad.tensor([2, 0, 2])]),
    ("index_select_gather", lambda x, i: (x.index_select(1, i), x.gather(1, i.expand(3, 3))),
     [x34, dygrad.tensor([3, 0, 1])]),
    ("masked_fill", lambda x: x.masked_fill(x > 0, -1.0), [x34]),
    ("sum_mean", lambda x: (x.sum(), x.sum(1), x.sum((0, 2), keepdim=True), x.mean(),
                            x.mean(-1), x.mean((0, 1), keepdim=True)), [x234]),
    ("sum_int", lambda x: (x.sum(), x.sum(0)), [ints]),
    ("max_min", lambda x: (x.max(), x.min(), x.amax(1), x.amin((0, 1)), *x.max(1),
                           *x.min(0, keepdim=True)), [x234]),
    ("argmax_argmin", lambda x: (x.argmax(), x.argmax(1), x.argmin(0, keepdim=True)), [x234]),
    ("var_std", lambda x: (x.var(), x.var(1), x.std(0, keepdim=True)), [x234]),
    ("logsumexp", lambda x: x.logsumexp(1), [x234 * 10]),
    ("softmax", lambda x: (x.softmax(1), x.log_softmax(-1)), [x234]),
    ("matmul", lambda x, y, z: (x @ y, x.mm(y), z.bmm(z.transpose(1, 2)), z @ y, y.mv(x[0]),
                                x[0].dot(x[1]), dygrad.outer(x[0], x[1])),
     [x34, rand(4, 4, seed=4), x234]),
    ("addmm", lambda b, x, y: dygrad.addmm(b, x, y), [rand(5, seed=6), x34, rand(4, 5, seed=7)]),
    ("linear_nobias", nn.Linear(4, 2, bias=False), [x34]),
    ("embedding", nn.Embedding(7, 3, padding_idx=0), [dygrad.tensor([[0, 6], [3, 3]])]),
    ("conv1d", nn.Conv1d(3, 4, 3, padding=1, stride=2), [rand(2, 3, 7, seed=8)]),
    ("conv2d_groups_dilation", nn.Conv2d(3, 6, 3, groups=3, dilation=2, bias=False), [img]),
    ("conv_transpose2d", nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
     [img]),
    ("max_pool", lambda x: (F.max_pool2d(x, 3, 2, 1), F.max_pool2d(x, 2, ceil_mode=True),
                            F.max_pool1d(x[:, 0], 2)), [rand(2, 3, 7, 7, seed=9)]),
    ("avg_pool", lambda x: (F.avg_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1, False, False),
                            F.avg_pool2d(x, 2, divisor_override=3)), [img]),
    ("adaptive_avg_pool", lambda x: (F.adaptive_avg_pool2d(x, (3, 2)),
                                     F.adaptive_avg_pool2d(x, 1)), [img]),
    ("pad", lambda x: (F.pad(x, (1, 2)), F.pad(x, (1, 1, 2, 0), value=3.0),
                       F.pad(x[0], (2, 1), mode="reflect"), F.pad(x, (1, 1, 2, 1), mode="reflect"),
                       F.pad(x, (1, 2, 1, 0), mode="replicate")), [img]),
    ("batch_norm_eval", lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b, False, eps=1e-3),
     [img, rand(3, seed=1), pos[0, :3], rand(3, seed=2), rand(3, seed=3)]),
    ("batch_norm_batch_stats", nn.BatchNorm2d(3, affine=False, track_running_stats=False), [img]),
    ("layer_norm", lambda x, w: (F.layer_norm(x, (3, 4), w), F.layer_norm(x, (4,))),
     [x234, rand(3, 4, seed=5)]),
    ("group_norm", nn.GroupNorm(3, 6), [rand(2, 6, 5, seed=6)]),
    ("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), [x34]),
    ("detach", lambda x: x.detach() * 2, [x34]),
    ("index_lists", lambda x: x[:, [0, 1]][[1, 0]], [x34]),
    ("in_place", lambda x: (x * 1).mul_(2).add_(1).relu_(), [x34]),
]
# fmt: on


@pytest.mark.parametrize("fn,inputs", [(f, i) for _, f, i in OPS], ids=[n for n, _, _ in OPS])
def test_op_matches_onnxruntime(tmp_path, fn, inputs):
    if isinstance(fn, nn.Module):
        dygrad.manual_seed(0)
        fn.eval()
    roundtrip(tmp_path, fn, inputs)


def ops_of(fn, inputs):
    if isinstance(fn, nn.Module):
        fn.eval()
    with dygrad.no_grad():
        g, _ = trace_graph(fn, tuple(inputs), {})
    return {n.op.name for n in g.nodes}


def test_every_op_of_the_models_has_a_mapping():
    seen = set()
    for make, inputs in MODELS.values():
        seen |= ops_of(make(), inputs(2))
    assert {"convolution", "native_batch_norm", "max_pool2d", "addmm", "softmax", "split",
            "native_layer_norm", "embedding", "gelu"} <= seen  # fmt: skip
    missing = sorted(n for n in seen if n != "detach" and REGISTRY[n].onnx is None)
    assert not missing, f"ops without an onnx= mapping: {missing}"


def test_every_mapped_op_is_exercised_here():
    seen = set()
    for make, inputs in MODELS.values():
        seen |= ops_of(make(), inputs(2))
    for _, fn, inputs in OPS:
        seen |= ops_of(fn, inputs)
    mapped = {n for n, op in REGISTRY.items() if op.onnx is not None}
    # In-place forms (fill_, zero_, copy_ and the in-place activations are not recorded by
    # the tracer without autograd), and ops the public API reaches only in other layouts.
    untested = (
        mapped
        - seen
        - {
            "elu_",
            "leaky_relu_",
            "copy",
            "fill",
            "zero",
            "reshape_alias",
            "alias",
            "div_scalar",
            "squeeze_dims",
            "split_with_sizes",
            "reflection_pad1d",
            "reflection_pad3d",
            "replication_pad1d",
            "replication_pad3d",
        }
    )
    assert not untested, f"mapped ops without a case in OPS: {sorted(untested)}"


def test_python_numbers_take_the_tensors_dtype(tmp_path):
    # mul(%x, 2): the 2 becomes an initializer of x's dtype (float64 here, int64 below).
    f64 = rand(3, 4, dtype=np.float64)
    proto = roundtrip(tmp_path, lambda x: x * 2 + 0.5, [f64])
    types = {i.data_type for i in proto.graph.initializer}
    assert types == {onnx.TensorProto.DOUBLE}
    proto = roundtrip(tmp_path, lambda x: x * 3 - 1, [ints])
    assert {i.data_type for i in proto.graph.initializer} == {onnx.TensorProto.INT64}


# --- names --------------------------------------------------------------------------------------


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x, y):
        return self.net(x), self.net(y).exp()


def test_names_are_honoured(tmp_path):
    proto = roundtrip(tmp_path, Two(), [rand(2, 4), rand(3, 4, seed=1)],
                      input_names=["left", "right"], output_names=["logp", "p"])  # fmt: skip
    sess = session(proto)
    assert [i.name for i in sess.get_inputs()] == ["left", "right"]
    assert [o.name for o in sess.get_outputs()] == ["logp", "p"]
    inits = {i.name for i in proto.graph.initializer}
    assert {"net.0.weight", "net.0.bias", "net.3.weight", "net.5.bias"} <= inits
    defaults = roundtrip(tmp_path, mlp(), [rand(2, 4)])
    assert [i.name for i in defaults.graph.input] == ["input0"]
    assert [o.name for o in defaults.graph.output] == ["output0"]


def test_output_dynamic_axis_named(tmp_path):
    proto = roundtrip(tmp_path, mlp(), [rand(2, 4)], input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})  # fmt: skip
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "n"
    assert proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 3


def test_same_output_twice_and_an_input_returned(tmp_path):
    roundtrip(tmp_path, lambda x: (x.exp(), x, x.exp()[0]), [x34])
    y = dygrad.tensor([1.0])
    roundtrip(tmp_path, lambda x: (x + y, x + y), [x34])


def test_file_object_destination():
    buf = io.BytesIO()
    dox.export(mlp(), rand(2, 4), buf)
    sess = session(onnx.load_from_string(buf.getvalue()))
    assert sess.run(None, {"input0": rand(2, 4).numpy()})[0].shape == (2, 3)


def test_training_module_is_exported_in_eval_mode_and_left_as_it_was(tmp_path):
    m = mlp().train()
    m[0].eval()  # a mixed state comes back as it was too
    proto = dox.export(m, rand(2, 4), str(tmp_path / "m.onnx"))
    assert m.training and not m[0].training and m[2].training
    ops = {n.op_type for n in proto.graph.node}
    assert "Dropout" not in ops and "RandomUniformLike" not in ops


# --- what cannot be exported ----------------------------------------------------------------------


class Prod(nn.Module):
    def forward(self, x):
        return x.prod()  # no ONNX mapping for prod_all


def test_unsupported_op_names_the_op_line_and_module(tmp_path):
    m = nn.Sequential(nn.Linear(4, 4), Prod())
    line = inspect.getsourcelines(Prod.forward)[1] + 1
    with pytest.raises(dox.UnsupportedOperatorError) as e:
        dox.export(m, rand(2, 4), str(tmp_path / "m.onnx"))
    msg = str(e.value)
    assert "prod_all" in msg and f"test_onnx.py:{line}" in msg and "module '1'" in msg
    assert not os.listdir(tmp_path)


def test_refuses_data_dependent_control_flow(tmp_path):
    def f(x):
        return x * 2 if x.sum() > 0 else x

    with pytest.raises(dox.ExportError, match=r"looked at tensor data \(bool"):
        dox.export(f, x34, str(tmp_path / "m.onnx"))
    assert not os.listdir(tmp_path)


def test_refuses_random_ops(tmp_path):
    with pytest.raises(dox.ExportError, match="draws random numbers"):
        dox.export(lambda x: F.dropout(x, 0.5, training=True), x34, str(tmp_path / "m.onnx"))
    with pytest.raises(dox.ExportError, match="draws random numbers"):
        dox.export(lambda x: x + dygrad.randn(3, 4), x34, str(tmp_path / "m.onnx"))
    assert not os.listdir(tmp_path)


def test_refuses_in_place_changes_to_inputs(tmp_path):
    with pytest.raises(dox.ExportError, match="in place"):
        dox.export(lambda x: x.add_(1), x34.clone(), str(tmp_path / "m.onnx"))


def test_max_pool_indices_have_no_onnx_counterpart(tmp_path):
    with pytest.raises(dox.ExportError, match="no ONNX counterpart"):
        dox.export(lambda x: F.max_pool2d(x, 2, return_indices=True)[1].float(), img,
                   str(tmp_path / "m.onnx"))  # fmt: skip


def test_dynamic_axis_that_the_graph_cannot_follow(tmp_path):
    # A Python number computed from the batch size, and a tensor made with it.
    with pytest.raises(dox.ExportError, match="changes with dynamic axis 'b'"):
        dox.export(lambda x: x / float(x.shape[0] ** 0.5), x34, str(tmp_path / "m.onnx"),
                   input_names=["x"], dynamic_axes={"x": {0: "b"}})  # fmt: skip
    with pytest.raises(dox.ExportError, match="created in the model"):
        dox.export(
            lambda x: x + dygrad.arange(0, 2 * x.shape[0], 2).float()[:, None],
            x34,
            str(tmp_path / "m.onnx"),
            input_names=["x"],
            dynamic_axes={"x": {0: "b"}},
        )
    assert not os.listdir(tmp_path)


def test_bad_paths_raise_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dox.export(mlp(), rand(2, 4), str(tmp_path / "no" / "such" / "m.onnx"))
    with pytest.raises(IsADirectoryError):
        dox.export(mlp(), rand(2, 4), str(tmp_path))
    with pytest.raises(TypeError, match="path"):
        dox.export(mlp(), rand(2, 4), 42)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("kw,err,match", [
    ({"input_names": ["a", "a"]}, ValueError, "twice"),
    ({"input_names": ["a", "b"]}, ValueError, "2 input_names given"),
    ({"input_names": "x"}, TypeError, "list of strings"),
    ({"input_names": [3]}, TypeError, "non-empty strings"),
    ({"output_names": ["y", "z"]}, ValueError, "returns 1 tensor"),
    ({"input_names": ["0.weight"]}, ValueError, "name of a parameter"),
    ({"input_names": ["x"], "output_names": ["x"]}, ValueError, "output name 'x'"),
    ({"dynamic_axes": {"nope": [0]}}, ValueError, "neither an input"),
    ({"input_names": ["x"], "dynamic_axes": {"x": {2: "b"}}}, ValueError, "out of range"),
    ({"input_names": ["x"], "dynamic_axes": {"x": {0: 7}}}, TypeError, "axis names"),
    ({"dynamic_axes": [0]}, TypeError, "dynamic_axes must be a dict"),
])  # fmt: skip
def test_bad_names_raise_before_writing(tmp_path, kw, err, match):
    with pytest.raises(err, match=match):
        dox.export(mlp(), rand(2, 4), str(tmp_path / "m.onnx"), **kw)
    assert not os.listdir(tmp_path)
