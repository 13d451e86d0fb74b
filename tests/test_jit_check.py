"""dygrad.jit.check: shapes and dtypes checked without data. Eager mode is the oracle: for every
case of the op table, every op's shape rule gives eager mode's shapes and dtypes (and its error
messages), and the checker's outputs are eager mode's; models check with a symbolic batch size;
mismatches name the module path, the op, the shapes and the line; memory stays flat."""

from __future__ import annotations

import inspect
import os
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pytest
from op_cases import BY_ID, CASES, inputs, outputs

import dygrad as torch
import dygrad.nn as nn
from dygrad.autograd.grad_mode import hook_open, state
from dygrad.dtypes import can_cast
from dygrad.jit.check import CheckError, Dim, ShapeError, TensorSpec, check, spec
from dygrad.ops.registry import REGISTRY, Op, Spec, apply, apply_inplace, infer

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def line_of(obj: Any, text: str) -> int:
    """The line number of the first line of `obj`'s source containing `text`."""
    lines, start = inspect.getsourcelines(obj)
    return start + next(i for i, ln in enumerate(lines) if text in ln)


# --- models ------------------------------------------------------------------------------------
def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Dropout(0.2), nn.Linear(100, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 12 * 12, 10),
    )  # fmt: skip


class Encoder(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 100)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: Any) -> Any:
        h = torch.relu(self.fc1(x))
        return self.fc2(h)


class Classifier(nn.Module):
    def __init__(self, hidden: int = 50) -> None:
        super().__init__()
        self.encoder = Encoder(hidden)

    def forward(self, x: Any) -> Any:
        return self.encoder(x).log_softmax(-1)


def test_mlp_checks_with_a_symbolic_batch() -> None:
    r = check(mlp(), spec("B", 784))
    assert r.outputs == [TensorSpec(("B", 10))]
    assert r.outputs[0].shape == ("B", 10) and r.outputs[0].dtype == torch.float32
    assert repr(r.outputs[0]) == "float32[B, 10]"
    assert [op.op for op in r.ops if not op.view] == ["addmm", "relu", "dropout_mask", "mul",
                                                      "addmm"]  # fmt: skip
    report = str(r)
    assert "addmm(float32[100], float32[B, 784], float32[784, 100]) -> float32[B, 100]" in report
    assert "(3)" in report  # the module path of the last Linear


def test_cnn_checks_with_a_symbolic_batch() -> None:
    model = cnn()
    r = check(model, spec("B", 1, 28, 28))
    assert r.outputs == [TensorSpec(("B", 10))]
    by_op = {op.op: op for op in r.ops}
    # 28x28 padded conv, 2x2 pool -> 14x14, 3x3 conv -> 12x12 (by hand).
    assert by_op["max_pool2d"].outputs == [TensorSpec(("B", 8, 14, 14)),
                                           TensorSpec(("B", 8, 14, 14), "int64")]  # fmt: skip
    assert by_op["addmm"].inputs[1] == TensorSpec(("B", 16 * 12 * 12))
    assert by_op["native_batch_norm"].scope == "1"
    y = model(torch.randn(3, 1, 28, 28))  # eager agrees at a concrete size
    assert r.outputs[0].sizes(B=3) == tuple(y.shape)


def test_concrete_sizes_and_tensors_as_specs() -> None:
    r = check(cnn(), torch.zeros(2, 1, 28, 28))
    assert r.outputs == [TensorSpec((2, 10))] and r.symbols == ()
    r = check(lambda x, *, y: x * y, spec("B", 3), y=spec(3, dtype=torch.float64))
    assert r.outputs == [TensorSpec(("B", 3), torch.float64)]


# --- mismatches ----------------------------------------------------------------------------------
def test_wrong_in_features_names_module_path_op_shapes_and_line() -> None:
    with pytest.raises(ShapeError) as info:
        check(Classifier(hidden=50), spec("B", 784))
    e = info.value
    assert (e.scope, e.module) == ("encoder.fc2", "Linear")
    assert e.file == __file__ and e.line == line_of(Encoder.forward, "self.fc2(h)")
    msg = str(e)
    assert f"{os.path.basename(__file__)}:{e.line}, module 'encoder.fc2' (Linear)" in msg
    assert "[B, 100]" in msg and "(Bx100 and 50x10)" in msg  # both shapes, the batch as B
    assert "return self.fc2(h)" in msg  # the source line itself
    assert "1009" not in msg  # no stand-in size leaks into the message


def matmul_of(x: Any, w: Any) -> Any:
    return torch.relu(x @ w)


def test_mismatch_in_an_op_names_the_op_and_both_shapes() -> None:
    with pytest.raises(ShapeError) as info:
        check(matmul_of, spec("B", 100), spec(50, 10))
    e = info.value
    assert e.op == "mm"
    assert e.inputs == {"x": TensorSpec(("B", 100)), "y": TensorSpec((50, 10))}
    assert e.line == line_of(matmul_of, "x @ w")
    assert "mm(x=float32[B, 100], y=float32[50, 10]): mat1 and mat2 shapes cannot be multiplied " \
           "(Bx100 and 50x10)" in str(e)  # fmt: skip


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda x, y: x + y, [(2, 3), (4, 3)]),
        (lambda x, y: x @ y, [(2, 3), (4, 3)]),
        (lambda x, y: torch.bmm(x, y), [(2, 3, 4), (2, 5, 4)]),
        (lambda x, y: torch.cat([x, y], 1), [(2, 3), (4, 3)]),
        (lambda x, y: torch.stack([x, y]), [(2, 3), (4, 3)]),
        (lambda x: x.view(4, 4), [(2, 3)]),
        (lambda x: x.expand(4, 2), [(2, 3)]),
        (lambda x, y: torch.where(x > 0, x, y), [(2, 3), (4, 3)]),
        (lambda x, y: torch.addmm(x, y, y.t()), [(3, 3), (2, 4)]),
        (lambda x, y: x.add_(y), [(1, 3), (2, 3)]),
        (lambda x, y: torch.nn.functional.mse_loss(x, y), [(2, 3), (4, 3)]),
    ],
)
def test_mismatch_message_is_eager_modes(fn: Any, shapes: list[tuple[int, ...]]) -> None:
    xs = [torch.ones(*s) for s in shapes]
    with pytest.raises(Exception) as eager:  # the oracle: the same call on data
        fn(*xs)
    with pytest.raises(ShapeError) as info:
        check(fn, *[spec(*s) for s in shapes])
    assert isinstance(info.value.__cause__, type(eager.value))
    assert info.value.reason == str(eager.value).split("(): ", 1)[-1]


def test_dtype_mismatches() -> None:
    with pytest.raises(ShapeError, match="must have the same dtype, but got Double and Float"):
        check(nn.Linear(3, 4), spec("B", 3, dtype=torch.float64))

    def accumulate(x: Any) -> Any:
        total = torch.zeros(x.shape, dtype=torch.int64)
        total.add_(x)
        return total

    with pytest.raises(ShapeError) as info:
        check(accumulate, spec("B", 3))
    e = info.value
    assert e.op == "add_" and e.line == line_of(accumulate, "total.add_(x)")
    assert "result type Float can't be cast to the desired output type Long" in str(e)
    with pytest.raises(ShapeError, match="where expected condition to be a boolean tensor"):
        check(lambda c, x: torch.where(c, x, 0.0), spec(3, dtype="int64"), spec(3))


def test_a_size_in_a_message_is_written_with_the_symbols() -> None:
    with pytest.raises(ShapeError) as info:
        check(lambda x: x.view(-1, 2, 784), spec("B", 784))
    assert info.value.reason == "shape '[-1, 2, 784]' is invalid for input of size 784*B"


# --- what cannot be checked on shapes alone ------------------------------------------------------
def branch_on_data(x: Any) -> Any:
    if x.sum() > 0:
        return x
    return -x


def read_item(x: Any) -> Any:
    return x * x.mean().item()


def mask_rows(x: Any) -> Any:
    return x[x[:, 0] > 0]


@pytest.mark.parametrize(
    "fn, text, what",
    [
        (branch_on_data, "if x.sum() > 0:", "bool() of a tensor"),
        (read_item, "x.mean().item()", ".item() of a tensor"),
        (mask_rows, "x[x[:, 0] > 0]", "index() with a boolean mask"),
    ],
)
def test_data_dependent_code_names_its_line(fn: Any, text: str, what: str) -> None:
    with pytest.raises(CheckError) as info:
        check(fn, spec("B", 3))
    assert f"{os.path.basename(__file__)}:{line_of(fn, text)}: {what}" in str(info.value)


def test_values_known_without_the_inputs_stay_readable() -> None:
    # A constant made inside the code, and a parameter, are data check() has.
    def scale(x: Any) -> Any:
        k = torch.tensor([2.0, 3.0])
        return x * k.max().item()

    assert check(scale, spec("B", 2)).outputs == [TensorSpec(("B", 2))]
    lin = nn.Linear(2, 2)
    assert check(lambda x: x * float(lin.weight.sum()), spec(2)).outputs == [TensorSpec((2,))]


def test_control_flow_on_a_symbolic_size_is_refused() -> None:
    def big_batches(x: Any) -> Any:
        return x.exp() if x.shape[0] > 1010 else x.relu()

    with pytest.raises(CheckError, match="runs other ops for other values of B"):
        check(big_batches, spec("B", 3))
    assert check(big_batches, spec(2000, 3)).outputs == [TensorSpec((2000, 3))]


def test_backward_inside_checked_code_is_refused() -> None:
    lin = nn.Linear(3, 1)
    with pytest.raises(CheckError, match="backward"):
        check(lambda x: lin(x).sum().backward(), spec("B", 3))


# --- symbolic sizes ------------------------------------------------------------------------------
def test_sizes_that_follow_the_symbols() -> None:
    assert check(lambda x: torch.cat([x, x[:1]]), spec("B", 4)).outputs == [
        TensorSpec((Dim("B") + 1, 4))
    ]
    r = check(lambda x: x.reshape(-1, 10), spec("B", "T", 10))
    assert repr(r.outputs[0]) == "float32[B*T, 10]" and r.symbols == ("B", "T")
    assert check(lambda x: torch.cat([x, x]).shape[0], spec("B", 4)).output == 2 * Dim("B")
    odd = check(lambda x: x[::2], spec("B", 4)).outputs[0].shape[0]  # ceil(B / 2): not linear
    assert isinstance(odd, Dim) and not odd.known and repr(odd) == "?"


def test_python_values_read_from_shapes_follow_the_symbols() -> None:
    r = check(lambda x: (x.shape, x.size(0), x.numel(), 1 / x.shape[0], "kept"), spec("B", 3))
    b = Dim("B")
    assert r.output[:3] == (("B", 3), "B", 3 * b) and r.output[4] == "kept"
    assert repr(r.output[3]) == "?"  # a float that varies with B: no size to print
    assert r.outputs == []


def test_dim_arithmetic() -> None:
    b, t = Dim("B"), Dim("T")
    assert repr(2 * b + 1) == "2*B+1" and repr(b * t - t) == "B*T-T" and repr(1 - b) == "-B+1"
    assert (b + 1) - b == 1 and (b * 3).value(B=5) == 15 and b == "B" and b != "T"
    with pytest.raises(ValueError):
        Dim("not a name")
    with pytest.raises(TypeError):
        spec(2.5)
    with pytest.raises(ValueError):
        spec(-1, 3)


# --- nothing changes -----------------------------------------------------------------------------
def test_buffers_parameters_and_random_state_are_left_alone() -> None:
    model = cnn()
    bn = model[1]
    before = {n: (t.detach().numpy().copy(), t._vc[0]) for n, t in
              [*model.named_parameters(), *model.named_buffers()]}  # fmt: skip
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)

    def noisy(x: Any) -> Any:
        return model(x + torch.randn(1, 1, 28, 28))

    check(noisy, spec("B", 1, 28, 28))
    assert torch.equal(torch.rand(3), expected)  # the generator was restored
    for n, t in [*model.named_parameters(), *model.named_buffers()]:
        np.testing.assert_array_equal(t.detach().numpy(), before[n][0], err_msg=n)
        assert t._vc[0] == before[n][1], n
    assert int(bn.num_batches_tracked) == 0
    assert state.dispatch_hook is None and hook_open[0] == 0


# --- eager mode as the oracle, over the op table -------------------------------------------------
# Cases check() refuses, and why: they read data, or differentiate inside the code.
REFUSED = {
    "index-mask": "boolean mask", "index-mask-rows": "boolean mask",
    "conv2d-dx": "backward", "conv2d-dw": "backward", "max-pool2d-dx": "backward",
    "avg-pool2d-dx": "backward", "adaptive-avg-pool2d-dx": "backward",
}  # fmt: skip


def _as_spec(a: Any) -> Any:
    if isinstance(a, torch.Tensor):
        return Spec(a._data.shape, a._data.dtype)
    return Spec(a.shape, a.dtype) if isinstance(a, np.ndarray) else a


class RuleVsEager:
    """A dispatch hook that runs each op eagerly and through its shape rule (`infer`) and keeps
    every difference in shapes, dtypes or error messages."""

    def __init__(self) -> None:
        self.diffs: list[str] = []
        self.ops: set[str] = set()

    def op(self, op: Op, args: tuple[Any, ...]) -> Any:
        state.dispatch_hook = None
        err: Exception | None = None
        try:
            res = apply(op, *args)
        except Exception as e:  # noqa: BLE001 - compared below
            err = e
        finally:
            state.dispatch_hook = self
        if op.variadic:
            sargs: list[Any] = [[_as_spec(torch.as_tensor(t)) for t in args[0]], *args[1:]]
        else:
            sargs = [_as_spec(a) if i < op.n_in else a for i, a in enumerate(args)]
        try:
            got = infer(op, *sargs)
        except Exception as e:  # noqa: BLE001
            if err is None or (type(e), str(e)) != (type(err), str(err)):
                self.diffs.append(f"{op.name}: infer raised {e!r}, eager {err!r}")
            if err is not None:
                raise err from None
            raise
        if err is not None:
            self.diffs.append(f"{op.name}: eager raised {err!r}, infer did not")
            raise err
        self.ops.add(op.name)
        outs = res if isinstance(res, tuple) else (res,)
        gots = got if isinstance(got, tuple) else (got,)
        want = [(tuple(o._data.shape), o._data.dtype) for o in outs]
        have = [(s.shape, s.dtype) for s in gots]
        if want != have:
            self.diffs.append(f"{op.name}: eager {want}, rule {have}")
        return res

    def inplace(self, op: Op, target: Any, rest: tuple[Any, ...]) -> Any:
        # The rule's result must fit the target where eager mode writes it.
        shape, dtype = target._data.shape, target._data.dtype
        state.dispatch_hook = None
        try:
            res = apply_inplace(op, target, *rest)
        finally:
            state.dispatch_hook = self
        sargs = [_as_spec(a) if i < op.n_in else a for i, a in enumerate((target, *rest))]
        sargs[0] = Spec(shape, dtype)
        got = infer(op, *sargs)
        self.ops.add(op.name)
        if got.shape != shape or not can_cast(got.dtype, dtype):
            self.diffs.append(f"{op.name}_: target {shape} {dtype}, rule {got}")
        return res

    def concrete(self, t: Any, kind: str, value: Any) -> Any:
        return value

    def made(self, t: Any, src: Any) -> None:
        pass

    def created(self, t: Any, regen: Any) -> None:
        pass

    def refuse(self, what: str) -> None:
        pass


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_ops_rule_gives_eager_shapes_dtypes_and_errors(dtype: str) -> None:
    hook = RuleVsEager()
    for case in CASES:
        xs = inputs(torch, case, dtype)
        state.dispatch_hook = hook
        hook_open[0] += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                case.fn(torch, *xs)
        except Exception:  # noqa: BLE001, S110 - a case that raises is compared op by op
            pass
        finally:
            state.dispatch_hook = None
            hook_open[0] -= 1
    assert not hook.diffs, "\n".join(hook.diffs[:20])
    assert len(hook.ops) > 145  # the table reached every op but the backward rules' helpers


def test_the_op_rules_raise_eager_modes_errors() -> None:
    # Shape errors raised inside ops (the table's cases are all valid): the rule raises first,
    # with the message eager mode's check gives.
    hook = RuleVsEager()
    bad = [
        (lambda: torch.ones(2, 3) + torch.ones(4, 3)),
        (lambda: torch.ones(2, 3) @ torch.ones(4, 3)),
        (lambda: torch.ones(2, 3).view(4, 2)),
        (lambda: torch.ones(2, 3).expand(4, 2)),
        (lambda: torch.cat([torch.ones(2, 3), torch.ones(2, 4)])),
        (lambda: torch.stack([torch.ones(2, 3), torch.ones(2, 4)])),
        (lambda: torch.ones(2, 3, 4).bmm(torch.ones(2, 5, 4))),
        (lambda: torch.ones(3).dot(torch.ones(4))),
        (lambda: torch.ones(2, 3).mv(torch.ones(4))),
    ]
    for fn in bad:
        state.dispatch_hook = hook
        hook_open[0] += 1
        try:
            with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
                fn()
        finally:
            state.dispatch_hook = None
            hook_open[0] -= 1
    assert not hook.diffs, "\n".join(hook.diffs)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_checker_outputs_match_eager_on_the_op_table(case: Any) -> None:
    xs = inputs(torch, case, "float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ys = [y for y in outputs(case.fn(torch, *xs)) if isinstance(y, torch.Tensor)]
        if case.id in REFUSED:
            with pytest.raises(CheckError, match=REFUSED[case.id]):
                check(lambda *a: case.fn(torch, *a), *xs)
            return
        r = check(lambda *a: case.fn(torch, *a), *xs)
    assert [(s.shape, s.dtype) for s in r.outputs] == [(tuple(y.shape), y.dtype) for y in ys]


def test_refused_cases_exist() -> None:
    assert set(REFUSED) <= set(BY_ID)


# Ops a typical model runs: each has a shape rule, so checking never runs its forward.
TYPICAL = """add sub mul div neg pow exp log sqrt rsqrt tanh sigmoid relu gelu silu softplus
    maximum minimum clamp where eq ne lt le gt ge logical_not isnan isfinite
    mm matmul bmm addmm mv dot outer t transpose permute squeeze squeeze_dim squeeze_dims
    unsqueeze reshape view expand cat stack split split_with_sizes unbind flip clone contiguous
    to_dtype copy sum_all sum_dim mean_all mean_dim var std amax amin max_dim min_dim argmax
    argmin logsumexp softmax log_softmax convolution max_pool2d avg_pool2d adaptive_avg_pool2d
    native_batch_norm native_layer_norm native_group_norm embedding dropout_mask nll_loss
    nll_loss2d mse_loss binary_cross_entropy binary_cross_entropy_with_logits constant_pad_nd
    reflection_pad2d replication_pad2d circular_pad select slice index index_put copy_slices
    index_select gather masked_fill""".split()


def test_typical_ops_have_shape_rules() -> None:
    missing = [n for n in TYPICAL if REGISTRY[n].shape is None]
    assert not missing


# --- more modules, eager as the oracle ----------------------------------------------------------
@pytest.mark.parametrize(
    "make, specs",
    [
        (lambda: nn.LSTM(8, 16, num_layers=2, batch_first=True), [("B", 5, 8)]),
        (lambda: nn.GRU(8, 16), [(5, "B", 8)]),
        (lambda: nn.MultiheadAttention(16, 4, batch_first=True), [("B", 7, 16)] * 3),
        (lambda: nn.Sequential(nn.Embedding(100, 8), nn.LayerNorm(8)), [("B", 12, "int64")]),
        (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1), [("B", 3, 9, 9)]),
        (lambda: nn.Conv1d(3, 4, 3, padding="same"), [("B", 3, 10)]),
        (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), [("B", 3, 10, 10)]),
        (lambda: nn.AdaptiveAvgPool2d((3, None)), [("B", 3, 10, 10)]),
        (lambda: nn.CrossEntropyLoss(label_smoothing=0.1), [("B", 10), ("B", "int64")]),
        (lambda: nn.BCEWithLogitsLoss(reduction="none"), [("B", 3), ("B", 3)]),
        (lambda: nn.GroupNorm(2, 8), [("B", 8, 4, 4)]),
    ],
)
def test_modules_check_as_they_run(make: Any, specs: list[tuple[Any, ...]]) -> None:
    def as_spec(s: tuple[Any, ...]) -> TensorSpec:
        if s[-1] == "int64":
            return spec(*s[:-1], dtype="int64")
        return spec(*s)

    model = make()
    r = check(model, *[as_spec(s) for s in specs])
    n = 6  # a concrete batch for eager mode
    xs = []
    for s in specs:
        shape = tuple(n if d == "B" else d for d in (s[:-1] if s[-1] == "int64" else s))
        xs.append(torch.randint(0, 3, shape) if s[-1] == "int64" else torch.rand(*shape))
    ys = [y for y in outputs(model(*xs)) if isinstance(y, torch.Tensor)]
    assert [(o.sizes(B=n), o.dtype) for o in r.outputs] == [(tuple(y.shape), y.dtype) for y in ys]


# --- a model too large to run ------------------------------------------------------------------
def test_a_billion_element_model_checks_in_a_few_mb() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(32, 10),
    )  # fmt: skip
    tracemalloc.start()
    try:
        r = check(model, spec(8192, 3, 224, 224))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.outputs == [TensorSpec((8192, 10))]
    first = 8192 * 16 * 224 * 224  # the first convolution's output, elements (by hand)
    assert first > 6e9 and r.activation_bytes() > 4 * first
    assert peak < 50e6, f"check() peaked at {peak / 1e6:.1f} MB"
