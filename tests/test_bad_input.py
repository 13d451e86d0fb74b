"""Misuse catalog (ops, autograd and autograd.functional, nn, optim, lr_scheduler, data,
save/load, viz, dygrad.func, dygrad.jit and dygrad.compile): each case raises a clear error (its
type, and a message naming the problem in the user's terms: shapes, dtypes, which argument) and
changes nothing: tensors' values, versions, grads and graphs, the modules' parameters and
buffers, the optimizers' and schedulers' state, the files on disk, the grad mode, the open dual
levels, the random generator and the tracing hook."""

import io
import json

import numpy as np
import pytest

try:
    import safetensors.numpy
except ImportError:  # dygrad.save/load need it: their cases are skipped without it
    safetensors = None

import dygrad as torch
import dygrad.autograd.forward_ad as fwAD
from dygrad import backend, nn, optim, viz
from dygrad.autograd.grad_mode import hook_open
from dygrad.autograd.grad_mode import state as grad_state
from dygrad.optim import lr_scheduler as sched
from dygrad.utils import data

Tensor = torch.Tensor


def make(tmp_path):
    """A fresh world for one case: tensors, modules, optimizers with state, a scheduler, a
    dataset and a loader, a checkpoint and broken files on disk."""
    a = torch.arange(6.0).reshape(2, 3).requires_grad_()
    w = {
        "a": a,  # leaf (2, 3) requiring grad
        "h": a * 1,  # non-leaf (2, 3)
        "b": torch.ones(3, 2),
        "v": torch.ones(4),
        "i": torch.arange(6).reshape(2, 3),
        "m": torch.tensor([[True, False, True], [False, True, False]]),
        "s": torch.tensor(2.0, requires_grad=True),
    }
    # A graph already walked once (its saved values are freed) and the leaf it accumulated into.
    x2 = torch.tensor([1.0, 2.0], requires_grad=True)
    w["done"] = (x2.exp() * x2).sum()
    w["done"].backward()
    w["x2"] = x2
    w["lin"] = nn.Linear(3, 2)
    w["conv"] = nn.Conv2d(3, 4, 3)
    w["bn"] = nn.BatchNorm1d(3)
    w["lstm"] = nn.LSTM(3, 4)
    w["emb"] = nn.Embedding(10, 3)
    w["mha"] = nn.MultiheadAttention(8, 2)
    w["bilinear"] = nn.Bilinear(3, 4, 2)
    w["conv1d"] = nn.Conv1d(3, 4, 3)
    w["convT"] = nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)
    w["gru"] = nn.GRU(3, 4)
    w["rnncell"] = nn.RNNCell(3, 4)
    w["lstmcell"] = nn.LSTMCell(3, 4)
    w["inf"] = nn.Parameter(torch.ones(2))
    w["inf"].grad = torch.tensor([1.0, float("inf")])
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    w["net"] = net
    # One training step, so that the optimizers have state and the parameters have grads.
    w["opt"] = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    w["adam"] = optim.Adam(w["lin"].parameters(), lr=1e-3)
    for m, opt in ((net, w["opt"]), (w["lin"], w["adam"])):
        m(torch.randn(5, 3)).pow(2).sum().backward()
        opt.step()
    w["sched"] = sched.StepLR(w["opt"], step_size=2)
    w["ds"] = data.TensorDataset(torch.arange(12.0).reshape(6, 2), torch.arange(6))
    w["loader"] = data.DataLoader(w["ds"], batch_size=2)
    w["dir"] = tmp_path
    if safetensors is None:
        return w
    torch.save(net.state_dict(), tmp_path / "net.safetensors")
    good = (tmp_path / "net.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04" + bytes(60))  # a torch.save zip
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    future = json.dumps({"version": 99, "root": None})  # a file from a newer dygrad
    (tmp_path / "future.safetensors").write_bytes(safetensors.numpy.save({}, {"dygrad": future}))
    return w


def state_dict_like(module, drop=(), extra=(), reshape=None, value=7.0):
    """`module.state_dict()` with every float entry set to `value` (so that a partial load
    would show), keys in `drop` removed, keys in `extra` added and `reshape` {key: shape}."""
    sd = {k: torch.full_like(v, value) if v.is_floating_point() else v.clone()
          for k, v in module.state_dict().items()}  # fmt: skip
    for k in drop:
        del sd[k]
    for k in extra:
        sd[k] = torch.zeros(1)
    for k, shape in (reshape or {}).items():
        sd[k] = torch.full(shape, value)
    return sd


def opt_state_dict(opt, edit):
    sd = opt.state_dict()
    sd = {"state": {k: dict(v) for k, v in sd["state"].items()},
          "param_groups": [dict(g) for g in sd["param_groups"]]}  # fmt: skip
    edit(sd)
    return sd


class _Iterable(data.IterableDataset):
    def __iter__(self):
        return iter(range(4))


def _load_text_mode(path):
    with open(path) as f:  # text mode: a common slip
        return torch.load(f)


def _fn(backward):
    """A custom Function doubling its input, with the given backward."""

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    if backward is not None:
        Double.backward = staticmethod(backward)
    return Double


OPS = [
    ("add shapes", lambda t: t["a"] + t["v"], RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"),
    ("mul shapes", lambda t: t["h"] * torch.ones(5, 1, 2), RuntimeError, "must match the size"),
    ("add str", lambda t: t["a"] + "x", TypeError, "got str"),
    ("mul None", lambda t: t["a"] * None, TypeError, "got NoneType"),
    ("mm shapes", lambda t: t["a"] @ t["a"], RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"),
    ("mm 0d", lambda t: t["s"] @ t["a"], RuntimeError, "both arguments to matmul need to be at "
     "least 1D"),
    ("bmm rank", lambda t: t["a"].bmm(t["b"]), RuntimeError, "must be 3D"),
    ("dot sizes", lambda t: t["v"].dot(torch.ones(3)), RuntimeError, "inconsistent tensor size"),
    ("view size", lambda t: t["a"].view(4), RuntimeError, "shape '[4]' is invalid for input of "
     "size 6"),
    ("reshape two -1", lambda t: t["a"].reshape(-1, -1), RuntimeError, "only one dimension can "
     "be inferred"),
    ("view non-contiguous", lambda t: t["a"].t().view(6), RuntimeError, "view size is not "
     "compatible"),
    ("sum dim range", lambda t: t["a"].sum(dim=2), IndexError, "Dimension out of range (expected "
     "to be in range of [-2, 1], but got 2)"),
    ("mean int", lambda t: t["i"].mean(), RuntimeError, "mean(): could not infer output dtype"),
    ("mean dim repeated", lambda t: t["a"].mean((0, 0)), RuntimeError, "appears multiple times"),
    ("max empty", lambda t: torch.ones(0).max(), RuntimeError, "numel() == 0"),
    ("softmax dim", lambda t: t["a"].softmax(5), IndexError, "Dimension out of range"),
    ("transpose dim", lambda t: t["a"].transpose(0, 3), IndexError, "Dimension out of range"),
    ("permute len", lambda t: t["a"].permute(0), RuntimeError, "does not match the length"),
    ("expand", lambda t: t["a"].expand(4, 3, 2), RuntimeError, "The expanded size of the tensor"),
    ("expand fewer", lambda t: t["a"].expand(3), RuntimeError, "must be greater or equal"),
    ("repeat short", lambda t: t["a"].repeat(2), RuntimeError, "can not be smaller"),
    ("cat sizes", lambda t: torch.cat([t["a"], t["b"]]), RuntimeError,
     "Sizes of tensors must match except in dimension 0"),
    ("cat rank", lambda t: torch.cat([t["a"], t["v"]]), RuntimeError, "same number of dimensions"),
    ("cat empty list", lambda t: torch.cat([]), RuntimeError, "non-empty list"),
    ("cat not list", lambda t: torch.cat(t["a"]), TypeError, "must be a tuple or list"),
    ("stack sizes", lambda t: torch.stack([t["a"], t["b"]]), RuntimeError,
     "stack expects each tensor to be equal size"),
    ("split sizes", lambda t: t["a"].split([1, 1], 1), RuntimeError, "sum exactly to 3"),
    ("chunk 0", lambda t: t["a"].chunk(0), RuntimeError, "greater than 0"),
    ("index range", lambda t: t["a"][5], IndexError, "index 5 is out of bounds for dimension 0 "
     "with size 2"),
    ("index too many", lambda t: t["a"][0, 0, 0], IndexError, "too many indices"),
    ("index float", lambda t: t["a"][1.5], IndexError, "only integers, slices"),
    ("index tensor float", lambda t: t["a"][torch.tensor([0.5])], IndexError, "must be long"),
    ("index mask shape", lambda t: t["a"][torch.tensor([True, False, True])], IndexError,
     "The shape of the mask"),
    ("index negative step", lambda t: t["a"][::-1], ValueError, "step must be greater than zero"),
    ("gather index dtype", lambda t: t["a"].gather(1, torch.tensor([[0.0]])), RuntimeError,
     "index must be an integer tensor"),
    ("gather rank", lambda t: t["a"].gather(1, torch.tensor([0])), RuntimeError,
     "same number of dimensions"),
    ("gather range", lambda t: t["a"].gather(1, torch.tensor([[7]])), RuntimeError,
     "out of bounds for dimension 1 with size 3"),
    ("gather negative", lambda t: t["a"].gather(1, torch.tensor([[-1]])), RuntimeError,
     "index -1 is out of bounds for dimension 1 with size 3"),  # PyTorch: no counting from the end
    ("scatter negative", lambda t: t["a"].scatter(1, torch.tensor([[-1]]), torch.ones(1, 1)),
     RuntimeError, "index -1 is out of bounds for dimension 1 with size 3"),
    ("scatter_add negative",
     lambda t: t["a"].scatter_add(1, torch.tensor([[-1]]), torch.ones(1, 1)), RuntimeError,
     "index -1 is out of bounds for dimension 1 with size 3"),
    ("index_select negative", lambda t: t["a"].index_select(0, torch.tensor([-1])), IndexError,
     "index -1 for dimension 0"),
    ("index_select range", lambda t: t["a"].index_select(0, torch.tensor([9])), IndexError,
     "index out of range"),
    ("where cond dtype", lambda t: torch.where(t["i"], t["a"], t["a"]), RuntimeError,
     "where expected condition to be a boolean tensor"),
    ("masked_fill mask dtype", lambda t: t["a"].masked_fill(t["i"], 0.0), RuntimeError,
     "only supports boolean masks"),
    ("clamp no bounds", lambda t: t["a"].clamp(), RuntimeError, "At least one of 'min' or 'max'"),
    ("pow str", lambda t: t["a"] ** "2", TypeError, "exponent must be a Tensor or a number"),
    ("requires_grad int", lambda t: t["i"].requires_grad_(), RuntimeError,
     "only Tensors of floating point dtype can require gradients"),
    ("requires_grad non-leaf", lambda t: t["h"].requires_grad_(False), RuntimeError,
     "you can only change requires_grad flags of leaf variables"),
    ("inplace on leaf", lambda t: t["a"].add_(1), RuntimeError,
     "a leaf Variable that requires grad is being used in an in-place operation"),
    ("inplace leaf setitem", lambda t: t["a"].__setitem__(0, 1.0), RuntimeError,
     "a leaf Variable that requires grad"),
    ("inplace float into int", lambda t: t["i"].add_(1.5), RuntimeError,
     "result type Float can't be cast to the desired output type Long"),
    ("inplace broadcast grows", lambda t: t["v"].add_(torch.ones(2, 4)), RuntimeError,
     "output with shape [4] doesn't match the broadcast shape [2, 4]"),
    ("inplace nonleaf broadcast grows", lambda t: t["h"].mul_(torch.ones(2, 2, 3)), RuntimeError,
     "doesn't match the broadcast shape"),
    ("inplace int into bool", lambda t: t["m"].add_(2), RuntimeError, "can't be cast"),
    ("setitem shape", lambda t: t["b"].__setitem__(0, torch.ones(3)), RuntimeError,
     "must match the existing size"),
    ("copy_ shape", lambda t: t["v"].copy_(torch.ones(3)), RuntimeError, "must match the size"),
    ("backward non-scalar", lambda t: t["h"].backward(), RuntimeError,
     "grad can be implicitly created only for scalar outputs"),
    ("backward no grad", lambda t: t["b"].sum().backward(), RuntimeError,
     "element 0 of tensors does not require grad and does not have a grad_fn"),
    ("backward gradient shape", lambda t: t["h"].backward(torch.ones(3)), RuntimeError,
     "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and output[0] has a "
     "shape of torch.Size([2, 3])"),
    ("grad of int output", lambda t: torch.autograd.grad(t["i"].sum(), t["a"]), RuntimeError,
     "does not require grad"),
    ("grad input no grad", lambda t: torch.autograd.grad(t["h"].sum(), t["b"]), RuntimeError,
     "One of the differentiated Tensors does not require grad"),
    ("grad unused", lambda t: torch.autograd.grad((t["a"] * 2).sum(), t["s"]), RuntimeError,
     "appears to not have been used in the graph"),
    ("grad empty inputs", lambda t: torch.autograd.grad(t["h"].sum(), []), RuntimeError,
     "non-empty inputs"),
    ("numpy of requires grad", lambda t: t["a"].numpy(), RuntimeError,
     "Can't call numpy() on Tensor that requires grad"),
    ("item of many", lambda t: t["a"].item(), RuntimeError, "a Tensor with 6 elements cannot be "
     "converted to Scalar"),
    ("bool of many", lambda t: bool(t["a"]), RuntimeError, "ambiguous"),
    ("assign grad shape", lambda t: setattr(t["a"], "grad", torch.ones(3)), RuntimeError,
     "assigned grad has data of a different size"),
    ("assign grad dtype", lambda t: setattr(t["a"], "grad", torch.ones(2, 3, dtype=torch.float64)),
     RuntimeError, "assigned grad has data of a different type"),
    ("register hook no grad", lambda t: t["b"].register_hook(lambda g: g), RuntimeError,
     "doesn't require gradient"),
    ("retain_grad no grad", lambda t: t["b"].retain_grad(), RuntimeError,
     "can't retain_grad on Tensor that has requires_grad=False"),
    ("device cuda", lambda t: torch.ones(2, device="cuda"), RuntimeError, "CPU only"),
    ("tensor ragged", lambda t: torch.tensor([[1, 2], [3]]), ValueError, "could not build"),
    ("dtype unknown", lambda t: torch.ones(2, dtype="complex64"), TypeError, "unknown dtype"),
    ("randint empty range", lambda t: torch.randint(3, 3, (2,)), RuntimeError, "less than"),
    ("arange zero step", lambda t: torch.arange(0, 1, 0), RuntimeError, "step must be nonzero"),
    ("div rounding mode", lambda t: t["a"].div(2, rounding_mode="up"), ValueError,
     "rounding_mode"),
]  # fmt: skip


def _lsd(w, **k):
    return w["net"].load_state_dict(state_dict_like(w["net"], **k))


NN = [
    ("linear in_features", lambda w: w["lin"](torch.ones(4, 5)), RuntimeError,
     "Linear(in_features=3, out_features=2, bias=True) expects an input whose last dimension is "
     "3, got input of shape [4, 5]"),
    ("linear 0-d input", lambda w: w["lin"](torch.tensor(1.0)), RuntimeError,
     "both arguments to linear need to be at least 1D, but they are 0D and 2D"),
    ("linear int input", lambda w: w["lin"](torch.ones(4, 3, dtype=torch.int64)), RuntimeError,
     "mat1 and mat2 must have the same dtype, but got Long and Float"),
    ("linear float64 input", lambda w: w["lin"](torch.ones(4, 3, dtype=torch.float64)),
     RuntimeError, "must have the same dtype, but got Double and Float"),
    ("linear negative features", lambda w: nn.Linear(3, -2), ValueError,
     "out_features must be a non-negative integer, got -2"),
    ("linear float features", lambda w: nn.Linear(3.5, 2), TypeError,
     "in_features must be a non-negative integer, got 3.5"),
    ("bilinear input2", lambda w: w["bilinear"](torch.ones(2, 3), torch.ones(2, 3)),
     RuntimeError, "bilinear(): input2 size does not match weight size: got 3 but expected 4"),
    ("conv2d rank", lambda w: w["conv"](torch.ones(3, 5)), RuntimeError,
     "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [3, 5]"),
    ("conv2d channels", lambda w: w["conv"](torch.ones(1, 2, 5, 5)), RuntimeError,
     "weight of size [4, 3, 3, 3], expected input[1, 2, 5, 5] to have 3 channels, but got 2 "
     "channels instead"),
    ("conv2d kernel larger than input", lambda w: w["conv"](torch.ones(1, 3, 2, 2)), RuntimeError,
     "Kernel size: (3 x 3). Kernel size can't be greater than actual input size"),
    ("conv2d groups", lambda w: nn.Conv2d(3, 4, 3, groups=2), ValueError,
     "in_channels must be divisible by groups"),
    ("conv2d padding string", lambda w: nn.Conv2d(3, 4, 3, padding="full"), ValueError,
     "Invalid padding string 'full', should be one of {'same', 'valid'}"),
    ("conv2d same with stride", lambda w: nn.Conv2d(3, 4, 3, padding="same", stride=2),
     ValueError, "padding='same' is not supported for strided convolutions"),
    ("conv2d padding_mode", lambda w: nn.Conv2d(3, 4, 3, padding_mode="wrap"), ValueError,
     "padding_mode must be one of {'circular', 'reflect', 'replicate', 'zeros'}, but got "
     "padding_mode='wrap'"),
    ("conv1d channels", lambda w: w["conv1d"](torch.ones(2, 4, 8)), RuntimeError,
     "expected input[2, 4, 8] to have 3 channels, but got 4 channels instead"),
    ("conv_transpose output_padding",
     lambda w: w["convT"](torch.ones(1, 3, 5, 5)),
     RuntimeError, "output padding must be smaller than either stride or dilation"),
    ("batchnorm features", lambda w: w["bn"](torch.ones(4, 5)), RuntimeError,
     "running_mean should contain 5 elements not 3"),
    ("batchnorm rank", lambda w: w["bn"](torch.ones(4, 3, 2, 2)), ValueError,
     "expected 2D or 3D input (got 4D input)"),
    ("batchnorm one value per channel", lambda w: w["bn"](torch.ones(1, 3)), ValueError,
     "Expected more than 1 value per channel when training, got input size torch.Size([1, 3])"),
    ("batchnorm in net", lambda w: w["net"](torch.ones(5, 4)), RuntimeError,
     "expects an input whose last dimension is 3, got input of shape [5, 4]"),
    ("layernorm shape", lambda w: nn.LayerNorm([2, 3])(torch.ones(3, 2)), RuntimeError,
     "Given normalized_shape=[2, 3], expected input with shape [*, 2, 3], but got input of "
     "size[3, 2]"),
    ("groupnorm groups", lambda w: nn.GroupNorm(4, 6), ValueError,
     "num_channels (6) must be divisible by num_groups (4)"),
    ("lstm input_size", lambda w: w["lstm"](torch.ones(5, 2, 6)), RuntimeError,
     "input.size(-1) must be equal to input_size. Expected 3, got 6"),
    ("lstm rank", lambda w: w["lstm"](torch.ones(5, 2, 3, 1)), ValueError,
     "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    ("lstm h0 shape", lambda w: w["lstm"](torch.ones(5, 2, 3),
                                          (torch.zeros(1, 2, 5), torch.zeros(1, 2, 4))),
     RuntimeError, "Expected hidden[0] size (1, 2, 4), got [1, 2, 5]"),
    ("lstm c0 shape", lambda w: w["lstm"](torch.ones(5, 2, 3),
                                          (torch.zeros(1, 2, 4), torch.zeros(1, 3, 4))),
     RuntimeError, "Expected hidden[1] size (1, 2, 4), got [1, 3, 4]"),
    ("lstm hx not a pair", lambda w: w["lstm"](torch.ones(5, 2, 3), torch.zeros(1, 2, 4)),
     TypeError, "LSTM: expected hx to be a tuple (h_0, c_0) of two Tensors, got Tensor"),
    ("gru hidden layers", lambda w: w["gru"](torch.ones(5, 2, 3), torch.zeros(2, 2, 4)),
     RuntimeError, "Expected hidden size (1, 2, 4), got [2, 2, 4]"),
    ("rnn nonlinearity", lambda w: nn.RNN(3, 4, nonlinearity="gelu"), ValueError,
     "Unknown nonlinearity 'gelu'. Select from 'tanh' or 'relu'."),
    ("lstm dropout", lambda w: nn.LSTM(3, 4, dropout=1.5), ValueError,
     "dropout should be a number in range [0, 1]"),
    ("lstm proj_size", lambda w: nn.LSTM(3, 4, proj_size=4), ValueError,
     "proj_size has to be smaller than hidden_size"),
    ("rnncell input_size", lambda w: w["rnncell"](torch.ones(2, 5)), RuntimeError,
     "input has inconsistent input_size: got 5 expected 3"),
    ("lstmcell batch", lambda w: w["lstmcell"](torch.ones(2, 3),
                                               (torch.zeros(3, 4), torch.zeros(3, 4))),
     RuntimeError, "Input batch size 2 doesn't match hidden0 batch size 3"),
    ("embedding float indices", lambda w: w["emb"](torch.tensor([1.0, 2.0])), RuntimeError,
     "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
     "Long, Int; but got torch.FloatTensor"),
    ("embedding index range", lambda w: w["emb"](torch.tensor([1, 10])), IndexError,
     "index out of range in self"),
    ("embedding padding_idx", lambda w: nn.Embedding(10, 3, padding_idx=10), AssertionError,
     "Padding_idx must be within num_embeddings"),
    ("embedding _weight shape", lambda w: nn.Embedding(10, 3, _weight=torch.ones(4, 3)),
     AssertionError, "Shape of weight does not match num_embeddings and embedding_dim"),
    ("mha heads", lambda w: nn.MultiheadAttention(10, 3), AssertionError,
     "embed_dim must be divisible by num_heads"),
    ("mha embed dim", lambda w: w["mha"](*[torch.ones(3, 2, 6)] * 3), AssertionError,
     "was expecting embedding dimension of 8, but got 6"),
    ("mha key value", lambda w: w["mha"](torch.ones(3, 2, 8), torch.ones(4, 2, 8),
                                         torch.ones(5, 2, 8)), AssertionError,
     "key shape torch.Size([4, 2, 8]) does not match value shape torch.Size([5, 2, 8])"),
    ("mha batch", lambda w: w["mha"](torch.ones(3, 2, 8), *[torch.ones(4, 3, 8)] * 2),
     AssertionError, "key's batch size (3) does not match query's batch size (2)"),
    ("mha rank", lambda w: w["mha"](*[torch.ones(2, 3, 2, 8)] * 3), AssertionError,
     "query should be unbatched 2D or batched 3D tensor but received 4-D query tensor"),
    ("mha attn_mask shape", lambda w: w["mha"](torch.ones(3, 2, 8), *[torch.ones(4, 2, 8)] * 2,
                                               attn_mask=torch.zeros(3, 3)), RuntimeError,
     "The shape of the 2D attn_mask is torch.Size([3, 3]), but should be (3, 4)."),
    ("mha key_padding_mask shape",
     lambda w: w["mha"](torch.ones(3, 2, 8), *[torch.ones(4, 2, 8)] * 2,
                        key_padding_mask=torch.zeros(2, 3, dtype=torch.bool)),
     AssertionError, "Expected key_padded_mask.shape[1] to be 4, but got 3"),
    ("mha attn_mask dtype", lambda w: w["mha"](torch.ones(3, 2, 8), *[torch.ones(4, 2, 8)] * 2,
                                               attn_mask=torch.zeros(3, 4, dtype=torch.int64)),
     AssertionError, "only bool and floating types of attn_mask are supported"),
    ("maxpool too small", lambda w: nn.MaxPool2d(4)(torch.ones(1, 1, 3, 3)), RuntimeError,
     "Given input size: (1x3x3). Calculated output size: (1x0x0). Output size is too small"),
    ("dropout p", lambda w: nn.Dropout(1.5), ValueError,
     "dropout probability has to be between 0 and 1, but got 1.5"),
    ("unflatten sizes", lambda w: nn.Unflatten(1, (2, 2))(torch.ones(2, 3)), RuntimeError,
     "Provided sizes [2, 2] don't multiply up to the size of dim 1 (3)"),
    ("loss reduction", lambda w: nn.MSELoss(reduction="avg")(torch.ones(3), torch.ones(3)),
     ValueError, "avg is not a valid value for reduction"),
    ("cross_entropy float target", lambda w: nn.CrossEntropyLoss()(w["h"], torch.tensor([0., 1.])),
     RuntimeError, "expected target dtype to be Long or Byte, but got Float"),
    ("cross_entropy target range", lambda w: nn.CrossEntropyLoss()(w["h"], torch.tensor([0, 3])),
     IndexError, "Target 3 is out of bounds."),
    ("cross_entropy batch", lambda w: nn.CrossEntropyLoss()(w["h"], torch.tensor([0, 1, 2])),
     ValueError, "Expected input batch_size (2) to match target batch_size (3)."),
    ("cross_entropy weight", lambda w: nn.CrossEntropyLoss(weight=torch.ones(4))(
        w["h"], torch.tensor([0, 1])), RuntimeError,
     "weight tensor should be defined either for all 3 classes or no classes but got weight "
     "tensor of shape: [4]"),
    ("bce input range", lambda w: nn.BCELoss()(torch.tensor([0.5, 2.0]), torch.tensor([0., 1.])),
     RuntimeError, "all elements of input should be between 0 and 1"),
    ("bce_with_logits shapes", lambda w: nn.BCEWithLogitsLoss()(w["h"], torch.ones(3, 2)),
     ValueError, "Target size (torch.Size([3, 2])) must be the same as input size "
     "(torch.Size([2, 3]))"),
    ("sequential non-module", lambda w: nn.Sequential(nn.ReLU(), 3), TypeError,
     "int is not a Module subclass"),
    ("sequential index", lambda w: w["net"][7], IndexError, "index 7 is out of range"),
    ("modulelist append non-module", lambda w: nn.ModuleList().append(3), TypeError,
     "int is not a Module subclass"),
    ("module without forward", lambda w: nn.Module()(torch.ones(2)), NotImplementedError,
     'Module [Module] is missing the required "forward" function'),
    ("register_parameter plain tensor",
     lambda w: w["lin"].register_parameter("p", torch.ones(2)), TypeError,
     "cannot assign 'torch.FloatTensor' object to parameter 'p' (torch.nn.Parameter or None "
     "required)"),
    ("register_parameter dotted name",
     lambda w: w["lin"].register_parameter("a.b", nn.Parameter(torch.ones(2))), KeyError,
     'parameter name can\'t contain "."'),
    ("register_parameter empty name",
     lambda w: w["lin"].register_parameter("", nn.Parameter(torch.ones(2))), KeyError,
     "parameter name can't be empty string"),
    ("register_parameter existing attribute",
     lambda w: w["lin"].register_parameter("in_features", nn.Parameter(torch.ones(2))),
     KeyError, "attribute 'in_features' already exists"),
    ("register_parameter int name",
     lambda w: w["lin"].register_parameter(1, nn.Parameter(torch.ones(2))), TypeError,
     "parameter name should be a string. Got int"),
    ("register_buffer list", lambda w: w["lin"].register_buffer("b", [1, 2]), TypeError,
     "cannot assign 'list' object to buffer 'b' (torch Tensor or None required)"),
    ("register_buffer existing", lambda w: w["lin"].register_buffer("weight", torch.ones(2)),
     KeyError, "attribute 'weight' already exists"),
    ("add_module non-module", lambda w: w["net"].add_module("x", 3), TypeError,
     "int is not a Module subclass"),
    ("add_module dotted name", lambda w: w["net"].add_module("a.b", nn.ReLU()), KeyError,
     'module name can\'t contain ".", got: a.b'),
    ("add_module existing", lambda w: w["lin"].add_module("weight", nn.ReLU()), KeyError,
     "attribute 'weight' already exists"),
    ("assign tensor to parameter", lambda w: setattr(w["lin"], "weight", torch.ones(2, 3)),
     TypeError, "cannot assign 'torch.FloatTensor' as parameter 'weight' (torch.nn.Parameter or "
     "None expected)"),
    ("assign int to child module", lambda w: setattr(w["net"], "0", 3), TypeError,
     "cannot assign 'int' as child module '0' (torch.nn.Module or None expected)"),
    ("get_submodule", lambda w: w["net"].get_submodule("0.inner"), AttributeError,
     "Linear has no attribute `inner`"),
    ("get_parameter", lambda w: w["net"].get_parameter("3.wieght"), AttributeError,
     "Linear has no attribute `wieght`"),
    ("train non-bool", lambda w: w["net"].train("yes"), ValueError,
     "training mode is expected to be boolean"),
    ("to int dtype", lambda w: w["net"].to(torch.int64), TypeError,
     "nn.Module.to only accepts floating point or complex dtypes, but got desired "
     "dtype=torch.int64"),
    ("load_state_dict missing key", lambda w: _lsd(w, drop=["3.bias"]), RuntimeError,
     'Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in state_dict: "3.bias".'),
    ("load_state_dict unexpected key", lambda w: _lsd(w, extra=["4.weight"]), RuntimeError,
     'Unexpected key(s) in state_dict: "4.weight".'),
    ("load_state_dict shape", lambda w: _lsd(w, reshape={"3.weight": (3, 4)}), RuntimeError,
     "size mismatch for 3.weight: copying a param with shape torch.Size([3, 4]) from checkpoint, "
     "the shape in current model is torch.Size([2, 4])."),
    ("load_state_dict buffer shape", lambda w: _lsd(w, reshape={"1.running_mean": (3,)}),
     RuntimeError, "size mismatch for 1.running_mean"),
    ("load_state_dict non-strict shape",
     lambda w: w["net"].load_state_dict(state_dict_like(w["net"], drop=["0.bias"],
                                                        reshape={"3.bias": (5,)}), strict=False),
     RuntimeError, "size mismatch for 3.bias"),
    ("load_state_dict all errors", lambda w: _lsd(w, drop=["0.weight"], extra=["9.w"],
                                                  reshape={"3.bias": (5,)}), RuntimeError,
     'Missing key(s) in state_dict: "0.weight". \n\tUnexpected key(s) in state_dict: "9.w". '),
    ("load_state_dict list", lambda w: w["net"].load_state_dict([1, 2]), TypeError,
     "Expected state_dict to be dict-like, got <class 'list'>."),
    ("load_state_dict non-tensor value",
     lambda w: w["lin"].load_state_dict({"weight": [[0.0] * 3] * 2, "bias": torch.zeros(2)}),
     RuntimeError, 'While copying the parameter named "weight", expected torch.Tensor or '
     "Tensor-like object from checkpoint but received <class 'list'>"),
    ("load_state_dict from file into wrong model",
     lambda w: w["lin"].load_state_dict(torch.load(w["dir"] / "net.safetensors")), RuntimeError,
     'Missing key(s) in state_dict: "weight", "bias".'),
    ("clip_grad_norm_ non-finite", lambda w: nn.utils.clip_grad_norm_(
        [w["x2"], w["inf"]], 1.0, error_if_nonfinite=True),
     RuntimeError, "The total norm of order 2.0 for gradients from `parameters` is non-finite"),
    ("clip_grad_norm_ norm_type", lambda w: nn.utils.clip_grad_norm_(w["net"].parameters(), 1.0,
                                                                     norm_type="fro"),
     ValueError, "could not convert string to float: 'fro'"),
    ("vector_to_parameters length",
     lambda w: nn.utils.vector_to_parameters(torch.zeros(20), w["net"].parameters()), ValueError,
     "vector_to_parameters: vec has 20 elements but the parameters have 34 in all"),
    ("parameter of ints", lambda w: nn.Parameter(torch.ones(2, dtype=torch.int64)), RuntimeError,
     "only Tensors of floating point dtype can require gradients"),
    ("init xavier 1-d", lambda w: nn.init.xavier_uniform_(w["v"]), ValueError,
     "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"),
    ("init orthogonal 1-d", lambda w: nn.init.orthogonal_(w["v"]), ValueError,
     "Only tensors with 2 or more dimensions are supported"),
    ("init calculate_gain", lambda w: nn.init.calculate_gain("swish"), ValueError,
     "Unsupported nonlinearity swish"),
    ("init kaiming mode", lambda w: nn.init.kaiming_normal_(w["b"], mode="fan"), ValueError,
     "Mode fan not supported, please use one of ['fan_in', 'fan_out']"),
    ("F.pad odd length", lambda w: nn.functional.pad(w["h"], (1,)), RuntimeError,
     "Padding length must be divisible by 2"),
    ("F.scaled_dot_product_attention",
     lambda w: nn.functional.scaled_dot_product_attention(torch.ones(2, 3, 4), torch.ones(2, 5, 6),
                                                          torch.ones(2, 5, 6)), RuntimeError,
     "query and key must have the same embedding size, got query (2, 3, 4) and key (2, 5, 6)"),
]  # fmt: skip


OPTIM = [
    ("sgd negative lr", lambda w: optim.SGD(w["net"].parameters(), lr=-0.1), ValueError,
     "Invalid learning rate: -0.1"),
    ("sgd lr string", lambda w: optim.SGD(w["net"].parameters(), lr="0.1"), TypeError,
     "lr must be a number or a 1-element Tensor, got str"),
    ("sgd lr tensor", lambda w: optim.SGD(w["net"].parameters(), lr=torch.tensor([0.1, 0.2])),
     ValueError, "Tensor lr must be 1-element"),
    ("sgd momentum", lambda w: optim.SGD(w["net"].parameters(), lr=0.1, momentum=-0.5),
     ValueError, "Invalid momentum value: -0.5"),
    ("sgd weight_decay", lambda w: optim.SGD(w["net"].parameters(), lr=0.1, weight_decay=-1),
     ValueError, "Invalid weight_decay value: -1"),
    ("sgd nesterov", lambda w: optim.SGD(w["net"].parameters(), lr=0.1, nesterov=True),
     ValueError, "Nesterov momentum requires a momentum and zero dampening"),
    ("adam beta1", lambda w: optim.Adam(w["net"].parameters(), betas=(1.0, 0.9)), ValueError,
     "Invalid beta parameter at index 0: 1.0"),
    ("adam beta2", lambda w: optim.Adam(w["net"].parameters(), betas=(0.9, -0.1)), ValueError,
     "Invalid beta parameter at index 1: -0.1"),
    ("adam betas length", lambda w: optim.Adam(w["net"].parameters(), betas=(0.9,)), ValueError,
     "betas must be a pair (beta1, beta2), got (0.9,)"),
    ("adam eps", lambda w: optim.Adam(w["net"].parameters(), eps=-1e-8), ValueError,
     "Invalid epsilon value: -1e-08"),
    ("adamw weight_decay", lambda w: optim.AdamW(w["net"].parameters(), weight_decay=-0.1),
     ValueError, "Invalid weight_decay value: -0.1"),
    ("rmsprop alpha", lambda w: optim.RMSprop(w["net"].parameters(), alpha=-0.1), ValueError,
     "Invalid alpha value: -0.1"),
    ("adagrad initial_accumulator_value",
     lambda w: optim.Adagrad(w["net"].parameters(), initial_accumulator_value=-1), ValueError,
     "Invalid initial_accumulator_value value: -1"),
    ("params a tensor", lambda w: optim.SGD(w["a"], lr=0.1), TypeError,
     "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
     "torch.FloatTensor"),
    ("params empty", lambda w: optim.SGD([], lr=0.1), ValueError,
     "optimizer got an empty parameter list"),
    ("params ints", lambda w: optim.SGD([1, 2], lr=0.1), TypeError,
     "optimizer can only optimize Tensors, but one of the params is int"),
    ("params non-leaf", lambda w: optim.SGD([w["h"]], lr=0.1), ValueError,
     "can't optimize a non-leaf Tensor"),
    ("params set", lambda w: optim.SGD(set(w["net"].parameters()), lr=0.1), TypeError,
     "ordering of tensors in sets will change between runs. Please use a list instead."),
    ("param in two groups", lambda w: optim.SGD([{"params": [w["a"]]}, {"params": [w["a"]]}],
                                                lr=0.1), ValueError,
     "some parameters appear in more than one parameter group"),
    ("group without params", lambda w: optim.SGD([{"lr": 0.1}], lr=0.1), KeyError,
     "parameter group must have a 'params' entry"),
    ("load_state_dict groups", lambda w: w["opt"].load_state_dict(opt_state_dict(
        w["opt"], lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0], params=[9])))),
     ValueError, "loaded state dict has a different number of parameter groups"),
    ("load_state_dict group size", lambda w: w["opt"].load_state_dict(opt_state_dict(
        w["opt"], lambda sd: sd["param_groups"][0].update(params=[0]))), ValueError,
     "loaded state dict contains a parameter group that doesn't match the size of optimizer's "
     "group"),
    ("load_state_dict state shape", lambda w: w["opt"].load_state_dict(opt_state_dict(
        w["opt"], lambda sd: sd["state"][1].update(momentum_buffer=torch.ones(5)))), ValueError,
     "loaded state dict has 'momentum_buffer' of shape [5] for parameter 1, whose shape is [4]"),
    ("load_state_dict missing entry", lambda w: w["opt"].load_state_dict({"state": {}}), KeyError,
     "optimizer state_dict has no 'param_groups' entry"),
    ("load_state_dict list", lambda w: w["opt"].load_state_dict([1]), TypeError,
     "Expected state_dict to be dict-like, got list"),
    ("load_state_dict of a module", lambda w: w["opt"].load_state_dict(w["net"].state_dict()),
     KeyError, "optimizer state_dict has no 'state' entry"),
    ("add_param_group existing", lambda w: w["opt"].add_param_group(
        {"params": list(w["net"].parameters())[:1]}), ValueError,
     "some parameters appear in more than one parameter group"),
    ("add_param_group not a dict", lambda w: w["opt"].add_param_group([w["a"]]), TypeError,
     "param_group must be a dict, but got <class 'list'>"),
    ("add_param_group negative lr", lambda w: w["opt"].add_param_group(
        {"params": [w["a"]], "lr": -1.0}), ValueError, "Invalid learning rate: -1.0"),
    ("step closure", lambda w: w["opt"].step(closure=3), TypeError,
     "'int' object is not callable"),
]  # fmt: skip


SCHED = [
    ("not an optimizer", lambda w: sched.StepLR(w["net"], 2), TypeError,
     "Sequential is not an Optimizer"),
    ("step_size 0", lambda w: sched.StepLR(w["adam"], 0), ValueError,
     "step_size must be a positive integer, got 0"),
    ("T_max 0", lambda w: sched.CosineAnnealingLR(w["adam"], 0), ValueError,
     "T_max must be positive, got 0"),
    ("lr_lambda count", lambda w: sched.LambdaLR(w["adam"], [lambda e: 1.0] * 3), ValueError,
     "Expected 1 lr_lambdas, but got 3"),
    ("lr_lambda not callable", lambda w: sched.MultiplicativeLR(w["adam"], 0.5), TypeError,
     "lr_lambda should be a function, but got float"),
    ("ConstantLR factor", lambda w: sched.ConstantLR(w["adam"], factor=1.5), ValueError,
     "Constant multiplicative factor expected to be between 0 and 1."),
    ("LinearLR start_factor", lambda w: sched.LinearLR(w["adam"], start_factor=0), ValueError,
     "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."),
    ("resume without initial_lr", lambda w: sched.StepLR(w["adam"], 2, last_epoch=3), KeyError,
     "param 'initial_lr' is not specified in param_groups[0] when resuming scheduler with "
     "last_epoch >= 0"),
    ("plateau factor", lambda w: sched.ReduceLROnPlateau(w["adam"], factor=1.0), ValueError,
     "Factor should be < 1.0."),
    ("plateau mode", lambda w: sched.ReduceLROnPlateau(w["adam"], mode="up"), ValueError,
     "mode up is unknown!"),
    ("plateau min_lr", lambda w: sched.ReduceLROnPlateau(w["adam"], min_lr=[0.1, 0.2]),
     ValueError, "expected 1 min_lrs, got 2"),
    ("OneCycleLR no length", lambda w: sched.OneCycleLR(w["adam"], 0.1), ValueError,
     "You must define either total_steps OR (epochs AND steps_per_epoch)"),
    ("OneCycleLR pct_start", lambda w: sched.OneCycleLR(w["adam"], 0.1, total_steps=10,
                                                        pct_start=1.5), ValueError,
     "Expected float between 0 and 1 pct_start, but got 1.5"),
    ("OneCycleLR max_lr", lambda w: sched.OneCycleLR(w["adam"], [0.1, 0.2], total_steps=10),
     ValueError, "max_lr must have the same length as optimizer.param_groups. max_lr has 2 "
     "values, param_groups has 1."),
    ("load_state_dict int", lambda w: w["sched"].load_state_dict(3), TypeError,
     "Expected state_dict to be dict-like, got int"),
    ("load_state_dict of an optimizer",
     lambda w: w["sched"].load_state_dict(w["opt"].state_dict()), ValueError,
     "optimizer's state_dict"),
]  # fmt: skip


DATA = [
    ("batch_size 0", lambda w: data.DataLoader(w["ds"], batch_size=0), ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
    ("batch_size string", lambda w: data.DataLoader(w["ds"], batch_size="2"), ValueError,
     "batch_size should be a positive integer value, but got batch_size='2'"),
    ("sampler and shuffle", lambda w: data.DataLoader(w["ds"], sampler=range(6), shuffle=True),
     ValueError, "sampler option is mutually exclusive with shuffle"),
    ("batch_sampler and batch_size",
     lambda w: data.DataLoader(w["ds"], batch_sampler=[[0, 1]], batch_size=3), ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
     "drop_last"),
    ("batch_sampler and drop_last",
     lambda w: data.DataLoader(w["ds"], batch_sampler=[[0, 1]], drop_last=True), ValueError,
     "batch_sampler option is mutually exclusive"),
    ("batch_size None and drop_last",
     lambda w: data.DataLoader(w["ds"], batch_size=None, drop_last=True), ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    ("num_workers negative", lambda w: data.DataLoader(w["ds"], num_workers=-1), ValueError,
     "num_workers option should be non-negative"),
    ("persistent_workers", lambda w: data.DataLoader(w["ds"], persistent_workers=True),
     ValueError, "persistent_workers option needs num_workers > 0"),
    ("iterable with shuffle", lambda w: data.DataLoader(_Iterable(), shuffle=True), ValueError,
     "DataLoader with IterableDataset: expected unspecified shuffle option, but got "
     "shuffle=True"),
    ("iterable with sampler", lambda w: data.DataLoader(_Iterable(), sampler=range(4)),
     ValueError, "expected unspecified sampler option"),
    ("set batch_size", lambda w: setattr(w["loader"], "batch_size", 3), ValueError,
     "batch_size attribute should not be set after DataLoader is initialized"),
    ("collate ragged tensors",
     lambda w: next(iter(data.DataLoader([torch.ones(2), torch.ones(3)], batch_size=2))),
     RuntimeError, "stack expects each tensor to be equal size, but got [2] at entry 0 and [3] at "
     "entry 1"),
    ("collate objects", lambda w: next(iter(data.DataLoader([object()] * 2, batch_size=2))),
     TypeError, "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
     "lists; found <class 'object'>"),
    ("collate ragged lists", lambda w: next(iter(data.DataLoader([[1, 2], [1]], batch_size=2))),
     RuntimeError, "each element in list of batch should be of equal size"),
    ("TensorDataset sizes", lambda w: data.TensorDataset(torch.ones(3), torch.ones(4)),
     AssertionError, "Size mismatch between tensors"),
    ("TensorDataset list", lambda w: data.TensorDataset([1, 2, 3]), TypeError,
     "TensorDataset: argument 0 must be a Tensor, got list"),
    ("TensorDataset index", lambda w: w["ds"][6], IndexError,
     "index 6 is out of bounds for dimension 0 with size 6"),
    ("random_split sum", lambda w: data.random_split(w["ds"], [3, 2]), ValueError,
     "Sum of input lengths does not equal the length of the input dataset!"),
    ("random_split negative", lambda w: data.random_split(w["ds"], [8, -2]), ValueError,
     "got -2 at index 1"),
    ("random_split fractions", lambda w: data.random_split(w["ds"], [1.5, -0.5]), ValueError,
     "Fraction at index 0 is not between 0 and 1"),
    ("random_split string", lambda w: data.random_split(w["ds"], "ab"), TypeError,
     "random_split: lengths must be a sequence of ints or of fractions, got 'a' at index 0"),
    ("ConcatDataset empty", lambda w: data.ConcatDataset([]), AssertionError,
     "datasets should not be an empty iterable"),
    ("ConcatDataset iterable", lambda w: data.ConcatDataset([_Iterable()]), AssertionError,
     "ConcatDataset does not support IterableDataset"),
    ("ConcatDataset index", lambda w: data.ConcatDataset([w["ds"]])[6], IndexError,
     "index 6 is out of range for a dataset of length 6"),
    ("StackDataset sizes", lambda w: data.StackDataset(w["ds"], range(4)), ValueError,
     "Size mismatch between datasets"),
    ("RandomSampler num_samples", lambda w: data.RandomSampler(w["ds"], num_samples=0),
     ValueError, "num_samples should be a positive integer value, but got num_samples=0"),
    ("RandomSampler replacement", lambda w: data.RandomSampler(w["ds"], replacement=1), TypeError,
     "replacement should be a boolean value, but got replacement=1"),
    ("WeightedRandomSampler negative",
     lambda w: data.WeightedRandomSampler([-1.0, 0.5], 2), RuntimeError,
     "invalid multinomial distribution (encountering probability entry < 0)"),
    ("WeightedRandomSampler zeros", lambda w: data.WeightedRandomSampler([0.0, 0.0], 2),
     RuntimeError, "invalid multinomial distribution (sum of probabilities <= 0)"),
    ("WeightedRandomSampler 2-d", lambda w: data.WeightedRandomSampler([[0.5, 0.5]], 2),
     ValueError, "weights should be a 1d sequence but given weights have shape (1, 2)"),
    ("WeightedRandomSampler too many",
     lambda w: data.WeightedRandomSampler([0.5, 0.5], 3, replacement=False), RuntimeError,
     "cannot sample n_sample > prob_dist.size(-1) samples without replacement"),
    ("BatchSampler batch_size", lambda w: data.BatchSampler(range(3), 0, False), ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
    ("RandomSampler generator", lambda w: data.RandomSampler(w["ds"], generator="seed"), TypeError,
     "generator must be None (dygrad's random generator, seeded by dygrad.manual_seed), an int "
     "seed or a numpy.random.Generator, got str"),
]  # fmt: skip


SAVE = [
    ("save a module", lambda w: torch.save(w["net"], w["dir"] / "net.safetensors"), TypeError,
     "cannot save obj of type Sequential: only tensors, dicts, lists, tuples, str, int, float, "
     "bool and None can be saved (no pickle); save its state_dict() instead"),
    ("save an optimizer", lambda w: torch.save({"opt": w["opt"]}, w["dir"] / "net.safetensors"),
     TypeError, "cannot save obj['opt'] of type SGD"),
    ("save ndarray", lambda w: torch.save([np.ones(2)], io.BytesIO()), TypeError,
     "cannot save obj[0] of type ndarray"),
    ("save set deep", lambda w: torch.save({"a": [1, {"b": {3}}]}, io.BytesIO()), TypeError,
     "cannot save obj['a'][1]['b'] of type set"),
    ("save tuple key", lambda w: torch.save({(1, 2): w["v"]}, io.BytesIO()), TypeError,
     "dict keys must be str, int, bool or None; obj has a key of type tuple"),
    ("save to int", lambda w: torch.save(w["net"].state_dict(), 3), TypeError,
     "dygrad.save: f must be a path or a writable binary file, got int"),
    ("save to missing directory",
     lambda w: torch.save(w["net"].state_dict(), w["dir"] / "no" / "x.safetensors"),
     FileNotFoundError, "No such file or directory"),
    ("load missing file", lambda w: torch.load(w["dir"] / "missing.safetensors"),
     FileNotFoundError, "missing.safetensors"),
    ("load text mode", lambda w: _load_text_mode(w["dir"] / "notes.txt"), TypeError,
     "dygrad.load: f must be opened in binary mode ('rb')"),
    ("load truncated", lambda w: torch.load(w["dir"] / "truncated.safetensors"), RuntimeError,
     "truncated.safetensors is not a valid safetensors file"),
    ("load empty", lambda w: torch.load(w["dir"] / "empty.safetensors"), RuntimeError,
     "empty.safetensors is not a valid safetensors file"),
    ("load torch.save file", lambda w: torch.load(w["dir"] / "model.pt"), RuntimeError,
     "it looks like a pickle or torch.save file, which dygrad never loads"),
    ("load text file", lambda w: torch.load(w["dir"] / "notes.txt"), RuntimeError,
     "notes.txt is not a valid safetensors file"),
    ("load newer format", lambda w: torch.load(w["dir"] / "future.safetensors"), RuntimeError,
     "was written in dygrad's save format version 99; this dygrad reads versions up to 1"),
    ("load int", lambda w: torch.load(3), TypeError,
     "dygrad.load: f must be a path or a readable binary file, got int"),
    ("load map_location cuda",
     lambda w: torch.load(w["dir"] / "net.safetensors", map_location="cuda"), RuntimeError,
     "CPU only"),
]  # fmt: skip


VIZ = [
    ("make_dot int", lambda w: viz.make_dot(3), TypeError,
     "expected a Tensor or a tuple of Tensors, got int"),
    ("make_dot tuple with str", lambda w: viz.make_dot((w["h"], "x")), TypeError,
     "expected a Tensor or a tuple of Tensors, got str"),
    ("make_dot params list", lambda w: viz.make_dot(w["h"], params=[w["a"]]), TypeError,
     "params must be a dict of name -> Tensor (e.g. dict(model.named_parameters())), got list"),
    ("make_dot params values", lambda w: viz.make_dot(w["h"], params={"a": 3}), TypeError,
     "params['a'] must be a Tensor, got int"),
    ("make_dot module", lambda w: viz.make_dot(w["h"], module=w["opt"]), TypeError,
     "module must be an nn.Module, got SGD"),
    ("make_dot collapse_depth without module",
     lambda w: viz.make_dot(w["h"], collapse_depth=1), ValueError,
     "collapse_depth needs module="),
    ("make_dot collapse_depth negative",
     lambda w: viz.make_dot(w["h"], module=w["net"], collapse_depth=-1), ValueError,
     "collapse_depth must be a non-negative integer or None, got -1"),
    ("print_graph None", lambda w: viz.print_graph(None, file=io.StringIO()), TypeError,
     "expected a Tensor or a tuple of Tensors, got NoneType"),
    ("print_graph file", lambda w: viz.print_graph(w["h"], file=3), TypeError,
     "file must be a writable text stream (with a write method), got int"),
    ("print_graph max_depth", lambda w: viz.print_graph(w["h"], max_depth=-1), ValueError,
     "max_depth must be a non-negative integer or None, got -1"),
    ("print_graph params", lambda w: viz.print_graph(w["h"], params=[1], file=io.StringIO()),
     TypeError, "params must be a dict of name -> Tensor"),
    ("explain non-tensor", lambda w: viz.explain(w["h"].sum(), [1.0]), TypeError,
     "explain(output, input) expects two tensors"),
    ("explain no grad_fn", lambda w: viz.explain(w["b"].sum(), w["a"]), RuntimeError,
     "output has no grad_fn: it was not computed from tensors that require grad"),
    ("explain input without grad", lambda w: viz.explain(w["h"].sum(), w["b"]), RuntimeError,
     "input does not require grad, so no gradient flows to it"),
    ("explain unrelated input", lambda w: viz.explain(w["h"].sum(), w["s"]), RuntimeError,
     "output does not depend on input through the recorded graph"),
    ("explain names list", lambda w: viz.explain(w["h"].sum(), w["a"], names=[w["a"]]),
     TypeError, "names must be a dict of name -> Tensor, got list"),
    ("explain names values", lambda w: viz.explain(w["h"].sum(), w["a"], names={"k": 3}),
     TypeError, "names['k'] must be a Tensor, got int"),
    ("explain unknown step", lambda w: viz.explain(w["h"].sum(), w["a"], names={"a": w["a"]},
                                                   file=io.StringIO()).step("z", "a"),
     KeyError, "no step dz/da"),
    ("trace_backward non-tensor", lambda w: viz.trace_backward(3), TypeError,
     "trace_backward expects a tensor, got int"),
    ("trace_backward no grad_fn", lambda w: viz.trace_backward(w["b"]), RuntimeError,
     "output has no grad_fn"),
    ("trace_backward gradient shape", lambda w: viz.trace_backward(w["h"], torch.ones(3)),
     RuntimeError, "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and "
     "output[0] has a shape of torch.Size([2, 3])."),
    ("trace_backward non-scalar", lambda w: viz.trace_backward(w["h"]), RuntimeError,
     "grad can be implicitly created only for scalar outputs"),
    ("trace_backward html path", lambda w: viz.trace_backward(
        w["h"].sum(), html=str(w["dir"] / "no" / "t.html")), FileNotFoundError,
     "No such file or directory"),
    ("trace_backward names", lambda w: viz.trace_backward(w["h"].sum(), names=[w["a"]]),
     TypeError, "names must be a dict of name -> Tensor, got list"),
    ("render_dot non-graph", lambda w: viz.render_dot(w["h"], str(w["dir"] / "g.png")),
     TypeError, "render_dot expects a graphviz graph from make_dot, got Tensor"),
    ("viz unknown name", lambda w: viz.draw, AttributeError,
     "module 'dygrad.viz' has no attribute 'draw'"),
]  # fmt: skip


def _hooked(w, hook, leaf=False):
    y = w["a"] * 2
    (w["a"] if leaf else y).register_hook(hook)
    return y.sum().backward()


def _in_level(fn):
    with fwAD.dual_level():
        return fn()


AUTOGRAD = [
    ("backward twice", lambda w: w["done"].backward(), RuntimeError,
     "Trying to backward through the graph a second time"),
    ("grad twice", lambda w: torch.autograd.grad(w["done"], w["x2"]), RuntimeError,
     "Specify retain_graph=True if you need to backward through the graph a second time"),
    ("grad non-scalar", lambda w: torch.autograd.grad(w["h"], w["a"]), RuntimeError,
     "grad can be implicitly created only for scalar outputs"),
    ("grad_outputs shape", lambda w: torch.autograd.grad(w["h"], w["a"], torch.ones(3)),
     RuntimeError, "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and "
     "output[0] has a shape of torch.Size([2, 3])."),
    ("grad_outputs count", lambda w: torch.autograd.grad([w["h"], w["h"]], w["a"],
                                                         [torch.ones(2, 3)]), RuntimeError,
     "got 1 gradients for 2 outputs"),
    ("grad_outputs int dtype", lambda w: torch.autograd.grad(
        w["h"], w["a"], torch.ones(2, 3, dtype=torch.int64)), RuntimeError,
     "grad_output[0] must be a floating point tensor, got torch.int64 (output[0] is "
     "torch.float32)"),
    ("grad inputs non-tensor", lambda w: torch.autograd.grad(w["h"].sum(), [w["a"], 3]),
     TypeError, "inputs must be Tensors, got int"),
    ("backward inputs empty", lambda w: w["h"].sum().backward(inputs=[]), RuntimeError,
     "'inputs' argument to backward() cannot be empty."),
    ("hook changes shape", lambda w: _hooked(w, lambda g: torch.ones(4)), RuntimeError,
     "hook '<lambda>' has changed the size of value"),
    ("leaf hook changes shape", lambda w: _hooked(w, lambda g: g.sum(), leaf=True), RuntimeError,
     "hook '<lambda>' has changed the size of value"),
    ("hook returns float", lambda w: _hooked(w, lambda g: 3.0), TypeError,
     "expected Tensor or None, but hook '<lambda>' returned float"),
    ("Function gradient count", lambda w: _fn(lambda ctx, g: (g, g)).apply(w["a"]).sum()
     .backward(), RuntimeError,
     "function DoubleBackward returned an incorrect number of gradients (expected 1, got 2)"),
    ("Function gradient shape", lambda w: _fn(lambda ctx, g: torch.ones(5)).apply(w["a"]).sum()
     .backward(), RuntimeError,
     "Function DoubleBackward returned an invalid gradient at index 0 - got [5] but expected "
     "shape compatible with [2, 3]"),
    ("Function without backward", lambda w: _fn(None).apply(w["a"]).sum().backward(),
     NotImplementedError, "You must implement either the backward or vjp method"),
    ("Function instance call", lambda w: _fn(lambda ctx, g: g)()(w["a"]), RuntimeError,
     "Legacy autograd function with non-static forward method is deprecated"),
    ("make_dual outside a level", lambda w: fwAD.make_dual(w["b"], w["b"]), RuntimeError,
     "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
     "enter_dual_level() first."),
    ("make_dual shapes", lambda w: _in_level(lambda: fwAD.make_dual(w["b"], w["v"])),
     RuntimeError, "Tensor is of size [3, 2] while the given forward gradient is of size [4]."),
    ("make_dual int primal", lambda w: _in_level(lambda: fwAD.make_dual(w["i"], w["i"])),
     ValueError, "expected primal to be floating point or complex, but got: torch.int64"),
    ("make_dual int tangent", lambda w: _in_level(lambda: fwAD.make_dual(w["h"], w["i"])),
     ValueError, "expected tangent to be floating point or complex, but got: torch.int64"),
    ("make_dual dtypes", lambda w: _in_level(lambda: fwAD.make_dual(
        w["b"], torch.ones(3, 2, dtype=torch.float64))), RuntimeError,
     "the tangent's dtype (torch.float64) must match the primal's (torch.float32)"),
    ("make_dual list", lambda w: _in_level(lambda: fwAD.make_dual([1.0], w["v"])), TypeError,
     "make_dual(): primal must be a Tensor, got list"),
    ("exit_dual_level without level", lambda w: fwAD.exit_dual_level(), RuntimeError,
     "exit_dual_level(): no dual level is open"),
    ("unpack_dual int", lambda w: _in_level(lambda: fwAD.unpack_dual(3)), TypeError,
     "unpack_dual(): expected a Tensor, got int"),
    ("set_grad_enabled str", lambda w: torch.set_grad_enabled("yes"), TypeError,
     "set_grad_enabled() expected a bool, got str"),
    ("gradcheck without requires_grad", lambda w: torch.autograd.gradcheck(
        lambda x: x * 2, (torch.ones(2, dtype=torch.float64),)), ValueError,
     "gradcheck expects at least one input tensor to require gradient"),
]  # fmt: skip


AF = torch.autograd.functional
AUTOGRAD += [
    ("functional.jacobian list", lambda w: AF.jacobian(lambda x: x * 2, [1.0, 2.0]), TypeError,
     "The inputs given to jacobian must be either a Tensor or a tuple of Tensors but the given "
     "inputs has type <class 'list'>."),
    ("functional.jacobian float output", lambda w: AF.jacobian(lambda x: 3.0, w["a"]), TypeError,
     "The outputs of the user-provided function given to jacobian must be either a Tensor or a "
     "tuple of Tensors but the given outputs of the user-provided function has type "
     "<class 'float'>."),
    ("functional.jacobian strategy", lambda w: AF.jacobian(lambda x: x * 2, w["a"],
                                                           strategy="sideways"), AssertionError,
     'Expected strategy to be either "forward-mode" or "reverse-mode".'),
    ("functional.hessian non-scalar", lambda w: AF.hessian(lambda x: x * 2, w["a"]),
     RuntimeError, "The Tensor returned by the function given to hessian should contain a single "
     "element"),
    ("functional.hessian tuple output", lambda w: AF.hessian(lambda x: (x.sum(), x.sum()),
                                                             w["a"]), RuntimeError,
     "The function given to hessian should return a single Tensor"),
    ("functional.vjp v shape", lambda w: AF.vjp(lambda x: x * 2, w["a"], w["v"]), RuntimeError,
     "v has invalid size: should be torch.Size([2, 3]) but got torch.Size([4])."),
    ("functional.vjp v missing", lambda w: AF.vjp(lambda x: x * 2, w["a"]), RuntimeError,
     "The vector v can only be None if the user-provided function returns a single Tensor with a "
     "single element."),
    ("functional.jvp v shape", lambda w: AF.jvp(lambda x: x * 2, w["a"], w["v"]), RuntimeError,
     "v has invalid size: should be torch.Size([2, 3]) but got torch.Size([4])."),
    ("functional.hvp v shape", lambda w: AF.hvp(lambda x: (x * x).sum(), w["a"], w["v"]),
     RuntimeError, "v has invalid size: should be torch.Size([2, 3]) but got torch.Size([4])."),
]  # fmt: skip


def _func():
    import dygrad.func

    return dygrad.func


FUNC = [
    ("grad non-scalar", lambda w: _func().grad(lambda x: x * 2)(w["a"]), RuntimeError,
     "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with 2 "
     "dims. Maybe you wanted to use the vjp or jacrev APIs instead?"),
    ("grad float output", lambda w: _func().grad(lambda x: 3.0)(w["a"]), RuntimeError,
     "Expected f(*args) to return a Tensor, got <class 'float'>"),
    ("grad argnums range", lambda w: _func().grad(lambda x: x.sum(), argnums=2)(w["a"]),
     RuntimeError, "Got argnum=2, but only 1 positional inputs"),
    ("grad argnums str", lambda w: _func().grad(lambda x: x.sum(), argnums="0")(w["a"]),
     RuntimeError, "argnums must be int or Tuple[int, ...], got: <class 'str'>"),
    ("grad int input", lambda w: _func().grad(lambda x: x.sum())(w["i"]), RuntimeError,
     "only Tensors of floating point dtype can require gradients"),
    ("grad float input", lambda w: _func().grad(lambda x: x.sum())(1.0), ValueError,
     "Thing passed to transform API must be Tensor, got <class 'float'>"),
    ("grad has_aux", lambda w: _func().grad(lambda x: x.sum(), has_aux=True)(w["a"]),
     RuntimeError, "output of function f should be a tuple: (output, aux) if has_aux is True"),
    ("vmap in_dims structure", lambda w: _func().vmap(lambda x, y: x + y, in_dims=(0,))(
        w["v"], w["v"]), ValueError,
     "in_dims is not compatible with the structure of `inputs`"),
    ("vmap sizes", lambda w: _func().vmap(lambda x, y: x + y)(w["v"], w["a"]), ValueError,
     "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes [4, 2] "
     "for the mapped dimension"),
    ("vmap in_dims range", lambda w: _func().vmap(lambda x: x, in_dims=2)(w["v"]), ValueError,
     "Got in_dim=2 for some input, but that input is a Tensor of dimensionality 1 so expected "
     "in_dim to satisfy -1 <= in_dim < 1."),
    ("vmap float input", lambda w: _func().vmap(lambda x: x)(3.0), ValueError,
     "Got in_dim=0 for an input but the input is of type <class 'float'>. We cannot vmap over "
     "non-Tensor arguments"),
    ("vmap float output", lambda w: _func().vmap(lambda x: 3.0)(w["v"]), ValueError,
     "must only return Tensors, got type <class 'float'>. Did you mean to set out_dims= to None"),
    ("vmap in_dims str", lambda w: _func().vmap(lambda x: x, in_dims="0")(w["v"]), ValueError,
     "expected `in_dims` to be int or a (potentially nested) tuple matching the structure of "
     "inputs, got: <class 'str'>."),
    ("jacrev float input", lambda w: _func().jacrev(lambda x: x)(3.0), ValueError,
     "Thing passed to transform API must be Tensor, got <class 'float'>"),
    ("jacfwd int input", lambda w: _func().jacfwd(lambda x: x)(w["i"]), ValueError,
     "expected primal to be floating point or complex, but got: torch.int64"),
    ("jvp tangent shape", lambda w: _func().jvp(lambda x: x * 2, (w["a"],), (w["v"],)),
     RuntimeError, "Tensor is of size [2, 3] while the given forward gradient is of size [4]."),
    ("jvp primals not a tuple", lambda w: _func().jvp(lambda x: x * 2, w["a"], w["a"]),
     RuntimeError, "jvp(f, primals, tangents): Expected primals to be a tuple."),
    ("jvp structures", lambda w: _func().jvp(lambda x: x * 2, (w["a"],), (w["a"], w["a"])),
     RuntimeError, "Expected primals and tangents to have the same python structure."),
    ("vjp cotangent shape", lambda w: _func().vjp(lambda x: x * 2, w["a"])[1](w["v"]),
     RuntimeError, "Mismatch in shape: grad_output[0] has a shape of torch.Size([4]) and "
     "output[0] has a shape of torch.Size([2, 3])."),
    ("functional_call keys", lambda w: _func().functional_call(
        w["lin"], {"wieght": torch.ones(2, 3)}, (w["h"],), strict=True), RuntimeError,
     "Error(s) in reparametrizing for Linear:\n\tUnexpected key(s): 'wieght'.\n\tMissing key(s): "
     "'bias', 'weight'."),
    ("functional_call shape", lambda w: _func().functional_call(
        w["lin"], {"weight": torch.ones(2, 4)}, (w["h"],)), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x2)"),
]  # fmt: skip


def _jit():
    import dygrad.jit

    return dygrad.jit


def _onnx():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import dygrad.onnx

    return dygrad.onnx


class _Straight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(0, 1)

    @staticmethod
    def backward(ctx, g):
        return g


def _compiled_twice(fn, *args):
    cf = torch.compile(fn)
    cf(*args)  # traces (eagerly)
    return cf, cf(*args)  # replays


def _view_add(x):
    y = x * 1
    y[0].add_(1)
    return y


def _branch(x):
    return x * 2 if x.sum() > 0 else x


JIT = [
    ("trace numpy()", lambda w: _jit().trace(lambda x: torch.tensor(x.numpy()) * x, w["b"]),
     _jit().TraceError, "inside traced code: the data would leave the graph"),
    ("trace where(cond)", lambda w: _jit().trace(lambda x: torch.where(x > 0)[0] + x.sum(), w["b"]),
     _jit().TraceError, "uses a tensor that was computed outside dygrad's ops"),
    ("trace in-place view", lambda w: _jit().trace(_view_add, w["b"]), _jit().TraceError,
     "changes a tensor in place that shares memory with another"),
    ("trace custom Function", lambda w: _jit().trace(lambda x: _Straight.apply(x), w["a"]),
     _jit().TraceError, "_Straight.apply() (a custom autograd.Function"),
    ("trace hook", lambda w: _jit().trace(lambda x: (x * 2).register_hook(print), w["a"]),
     _jit().TraceError, "register_hook() on an intermediate tensor"),
    ("trace not callable", lambda w: _jit().trace(3, w["b"]), TypeError,
     "dygrad.jit.trace() expects a function or module, got int"),
    ("trace nested", lambda w: _jit().trace(lambda x: _jit().trace(lambda y: y * 2, x)(x),
                                            w["b"]),
     RuntimeError, "tracing inside traced or checked code is not supported"),
    ("traced other shape", lambda w: _jit().trace(lambda x: x * 2, w["b"])(w["v"]),
     _jit().GuardError, "argument 0 has shape [4], traced with [3, 2]"),
    ("traced other branch", lambda w: _jit().trace(_branch, w["b"])(-w["b"]), _jit().GuardError,
     "was True when traced, now False"),
    ("traced in-place leaf", lambda w: _jit().trace(lambda x: x.add_(1), w["a"]), RuntimeError,
     "a leaf Variable that requires grad is being used in an in-place operation."),
    ("compile unknown option", lambda w: torch.compile(lambda x: x, fullgrap=True), TypeError,
     "compile() got an unexpected keyword argument 'fullgrap'"),
    ("compile not callable", lambda w: torch.compile("net"), TypeError,
     "dygrad.compile() expects a function or module, got str"),
    ("compiled net shape", lambda w: torch.compile(w["net"])(torch.ones(5, 7)), RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (5x7 and 3x4)"),
    ("check wrong in_features", lambda w: _jit().check(w["net"], _jit().spec("B", 4)),
     _jit().ShapeError, "module '0' (Linear)"),
    ("check dtype", lambda w: _jit().check(w["net"], _jit().spec("B", 3, dtype=torch.int64)),
     _jit().ShapeError, "mat1 and mat2 must have the same dtype"),
    ("check data-dependent", lambda w: _jit().check(_branch, _jit().spec("B", 3)),
     _jit().CheckError, "test_bad_input.py:"),
    ("onnx unsupported op", lambda w: _onnx().export(lambda x: x.prod(), (w["b"],),
                                                     w["dir"] / "m.onnx"),
     _onnx().UnsupportedOperatorError, "no ONNX mapping for 1 op(s) the model calls: prod_all()"),
    ("onnx missing directory", lambda w: _onnx().export(w["lin"], (w["b"].t(),),
                                                        w["dir"] / "no" / "m.onnx"),
     FileNotFoundError, "the directory"),
    ("onnx input_names", lambda w: _onnx().export(w["lin"], (w["b"].t(),), w["dir"] / "m.onnx",
                                                  input_names=["a", "b"]),
     ValueError, "2 input_names given, but the example inputs hold 1 tensor(s)"),
    ("onnx dynamic_axes name", lambda w: _onnx().export(w["lin"], (w["b"].t(),),
                                                        w["dir"] / "m.onnx",
                                                        dynamic_axes={"inp": {0: "n"}}),
     ValueError, "dynamic_axes names 'inp', which is neither an input name"),
    ("compiled double backward", lambda w: torch.autograd.grad(
        _compiled_twice(lambda x: (x * x).sum(), w["a"])[1], w["a"], create_graph=True),
     RuntimeError, "double backward (create_graph=True) through a compiled function"),
]  # fmt: skip


AREAS = {
    "ops": OPS,
    "nn": NN,
    "optim": OPTIM,
    "lr_scheduler": SCHED,
    "data": DATA,
    "save/load": SAVE,
    "viz": VIZ,
    "autograd": AUTOGRAD,
    "func": FUNC,
    "jit": JIT,
}
CASES = [(f"{area}: {name}", *rest) for area, cases in AREAS.items() for name, *rest in cases]


# --- the "nothing changed" check ----------------------------------------------------------------


def _tensor_state(t):
    g = t.grad
    return ("tensor", id(t), t._data.copy(), t._version, t.grad_fn, t.requires_grad,
            None if g is None else (id(g), g._data.copy(), g._version))  # fmt: skip


def _plain(x):
    """A comparable copy of a nested state: tensors by value, version and identity."""
    if isinstance(x, Tensor):
        return _tensor_state(x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_plain(v) for v in x)
    return x


def _state(obj):
    if isinstance(obj, Tensor):
        return _tensor_state(obj)
    if isinstance(obj, nn.Module):
        return {
            "tree": [(name, type(m), m.training, sorted(vars(m)), list(m._parameters),
                      list(m._buffers), list(m._modules)) for name, m in obj.named_modules()],
            "parameters": {n: _tensor_state(p) for n, p in obj.named_parameters()},
            "buffers": {n: _tensor_state(b) for n, b in obj.named_buffers()},
        }  # fmt: skip
    if isinstance(obj, optim.Optimizer):
        return {
            "state_dict": _plain(obj.state_dict()),
            "groups": [([id(p) for p in g["params"]], sorted(g)) for g in obj.param_groups],
            "per_param": [(id(p), _plain(s)) for p, s in obj.state.items()],
        }
    if isinstance(obj, sched.LRScheduler | sched.ReduceLROnPlateau):
        return _plain(obj.state_dict())
    if isinstance(obj, data.TensorDataset):
        return [_tensor_state(t) for t in obj.tensors]
    if isinstance(obj, data.DataLoader):
        return (obj.dataset, obj.batch_size, obj.sampler, obj.batch_sampler)
    if hasattr(obj, "iterdir"):  # the tmp directory
        return {p.name: p.read_bytes() for p in sorted(obj.iterdir())}
    raise AssertionError(f"no snapshot for {type(obj).__name__}")


def snapshot(world):
    out = {k: _state(v) for k, v in world.items()}
    out["<global>"] = (torch.is_grad_enabled(), grad_state.fw_levels,
                       backend.generator().bit_generator.state, grad_state.dispatch_hook,
                       hook_open[0], grad_state.track_source)  # fmt: skip
    return out


def assert_same(x, y, where):
    assert type(x) is type(y), f"{where}: {type(x).__name__} became {type(y).__name__}"
    if isinstance(x, np.ndarray):
        assert x.dtype == y.dtype and x.shape == y.shape, f"{where}: dtype or shape changed"
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{where}: values changed"
    elif isinstance(x, dict):
        assert list(x) == list(y), f"{where}: keys {list(x)} became {list(y)}"
        for k in x:
            assert_same(x[k], y[k], f"{where}[{k!r}]")
    elif isinstance(x, list | tuple):
        assert len(x) == len(y), f"{where}: length {len(x)} became {len(y)}"
        for i, (a, b) in enumerate(zip(x, y)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert x is y or x == y, f"{where}: {x!r} became {y!r}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fn,exc,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_clearly_and_changes_nothing(fn, exc, fragment, tmp_path, request):
    name = request.node.name
    if safetensors is None and ("save/load" in name or "from file" in name):
        pytest.skip("dygrad.save and dygrad.load need safetensors")
    world = make(tmp_path)
    before = snapshot(world)
    with pytest.raises(exc) as info:
        fn(world)
    assert type(info.value) is exc, f"{type(info.value).__name__}: {info.value}"
    # A KeyError's str() is the repr of its message: compare the message itself.
    message = info.value.args[0] if isinstance(info.value, KeyError) else str(info.value)
    assert fragment in message, message
    assert_same(before, snapshot(world), "world")


def test_case_count():
    assert len(CASES) >= 150
    assert len({c[0] for c in CASES}) == len(CASES), "case ids must be unique"
    assert all(len(cases) >= 10 for cases in AREAS.values()), {a: len(c) for a, c in AREAS.items()}


def test_snapshot_sees_changes(tmp_path):
    """The harness itself: each kind of change it must catch, it does."""
    changes = [
        lambda w: w["a"].grad,  # reading changes nothing (control)
        lambda w: w["net"][0].weight.data.add_(1),
        lambda w: w["net"][1].running_mean.data.add_(1),
        lambda w: w["net"].register_buffer("extra", None),
        lambda w: w["net"].train(False),
        lambda w: w["opt"].state[w["net"][0].weight]["momentum_buffer"].data.add_(1),
        lambda w: w["opt"].param_groups[0].update(lr=1.0),
        lambda w: w["sched"].step(),
        lambda w: w["x2"].grad.data.add_(1),
        lambda w: setattr(w["s"], "grad", torch.tensor(1.0)),
        lambda w: (w["dir"] / "new").write_bytes(b""),
        lambda w: torch.randn(1),
        lambda w: fwAD.enter_dual_level(),
    ]
    for i, change in enumerate(changes):
        (tmp_path / str(i)).mkdir()
        world = make(tmp_path / str(i))
        before = snapshot(world)
        change(world)
        if i == 0:
            assert_same(before, snapshot(world), "world")
        else:
            with pytest.raises(AssertionError):
                assert_same(before, snapshot(world), "world")
    fwAD.exit_dual_level()


def test_inplace_without_grad_errors_too():
    x = torch.arange(3)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output"):
        x.div_(2)
    assert x.tolist() == [0, 1, 2] and x._version == 0
