"""Diagnostics that explain failures in the user's terms: in-place errors naming the line that saved
a value and the line that changed it, anomaly mode (PyTorch's) and the cheaper non-finite check
with its where()/mask diagnosis, and the graph-retention warning for `total += loss`."""

from __future__ import annotations

import inspect
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import dygrad
from dygrad import nn
from dygrad.ops import registry

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
HERE = __file__


def _line(offset: int) -> str:
    """`file:line` of the caller's line plus `offset`."""
    frame = inspect.currentframe().f_back  # type: ignore[union-attr]
    return f"{HERE}:{frame.f_lineno + offset}"  # type: ignore[union-attr]


# --- in-place errors name both culprits ------------------------------------------------------
def test_inplace_error_names_saving_op_and_inplace_op_with_lines() -> None:
    a = dygrad.ones(3, requires_grad=True)
    b = a * 2
    saved = _line(1)
    c = b * b
    changed = _line(1)
    b.add_(1)
    with pytest.raises(RuntimeError) as err:
        c.sum().backward()
    msg = str(err.value)
    assert msg.startswith("one of the variables needed for gradient computation has been")
    assert f"saved for backward by mul (MulBackward0) at {saved}" in msg
    assert f"modified in place by add_ at {changed}" in msg


def test_inplace_error_names_a_no_grad_inplace_call() -> None:
    # Nothing is recorded under no_grad: the in-place write still notes the user's line.
    a = dygrad.ones(3, requires_grad=True)
    b = a * 2
    c = b * b
    with dygrad.no_grad():
        changed = _line(1)
        b.mul_(3)
    with pytest.raises(RuntimeError) as err:
        c.sum().backward()
    assert f"modified in place by mul_ at {changed}" in str(err.value)


def _scale_in_place(b: Any) -> str:
    from dygrad.ops import REGISTRY, apply_inplace

    line = _line(1)
    apply_inplace(REGISTRY["mul"], b, 3.0)  # the registry's in-place entry, called directly
    return line


def test_inplace_note_of_a_direct_apply_inplace_call() -> None:
    # The note walks out from apply_inplace's caller: here a function of this file.
    a = dygrad.ones(3, requires_grad=True)
    b = a * 2
    c = b * b
    with dygrad.no_grad():
        changed = _scale_in_place(b)
    with pytest.raises(RuntimeError) as err:
        c.sum().backward()
    assert f"modified in place by mul_ at {changed}" in str(err.value)


def test_inplace_note_names_an_inplace_activation_once() -> None:
    # leaky_relu's in-place op is registered as leaky_relu_: its note says so, not leaky_relu__.
    a = dygrad.ones(3, requires_grad=True)
    b = a * 2
    c = b * b
    with dygrad.no_grad():
        nn.functional.leaky_relu(b, 0.1, inplace=True)
    with pytest.raises(RuntimeError, match=r"modified in place by leaky_relu_ at "):
        c.sum().backward()


def test_inplace_error_names_the_optimizer_step() -> None:
    dygrad.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = dygrad.optim.SGD(model.parameters(), lr=0.1)
    x = dygrad.ones(4, 3, requires_grad=True)
    saved = _line(1)
    loss = model(x).pow(2).sum()  # the weight is saved for x's gradient
    loss.backward(retain_graph=True)
    stepped = _line(1)
    opt.step()
    with pytest.raises(RuntimeError) as err:
        loss.backward()
    msg = str(err.value)
    assert f"at {saved}" in msg and f"modified in place by add_ at {stepped}" in msg


@pytest.mark.parametrize("how", ["setitem", "fill_", "exp_out"])
def test_inplace_error_other_writers(how: str) -> None:
    x = dygrad.ones(3, requires_grad=True)
    y = x * 1
    if how == "exp_out":
        z = y.exp()  # saves its output
        changed = _line(1)
        z.mul_(2)
        target = z
    else:
        z = y * y
        with dygrad.no_grad():
            if how == "setitem":
                changed = _line(1)
                y[0] = 5.0
            else:
                changed = _line(1)
                y.fill_(2.0)
        target = z
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as err:
        target.sum().backward()
    assert f"at {changed}" in str(err.value)


def test_source_tracking_can_be_switched_off() -> None:
    with dygrad.autograd.set_source_tracking(False):
        assert not dygrad.autograd.is_source_tracking_enabled()
        a = dygrad.ones(3, requires_grad=True)
        b = a * 2
        c = b * b
        b.add_(1)
        assert c.grad_fn._src is None
    assert dygrad.autograd.is_source_tracking_enabled()
    with pytest.raises(RuntimeError) as err:
        c.sum().backward()
    assert "\n" not in str(err.value)  # PyTorch's message alone
    with pytest.raises(TypeError, match="expected a bool"):
        dygrad.autograd.set_source_tracking(1)  # type: ignore[arg-type]


def test_first_line_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    msgs = []
    for m in (torch, dygrad):
        a = m.ones(3, requires_grad=True)
        b = a * 2
        c = b * b
        b.add_(1)
        with pytest.raises(RuntimeError) as err:
            c.sum().backward()
        msgs.append(str(err.value).split("\n")[0])
    assert msgs[0] == msgs[1]


# --- anomaly mode and the non-finite check ---------------------------------------------------
def test_detect_anomaly_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    msgs = []
    for m in (torch, dygrad):
        x = m.tensor([0.0, 1.0], requires_grad=True)
        with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
            with m.autograd.detect_anomaly():
                assert m.is_anomaly_enabled()
                with pytest.raises(RuntimeError) as err:
                    (x / x).sum().backward()
        msgs.append(str(err.value))
        assert not m.is_anomaly_enabled()
    assert msgs[0] == msgs[1]


def test_anomaly_mode_prints_the_forward_traceback_of_the_failing_node() -> None:
    a = dygrad.ones(3, requires_grad=True)
    with dygrad.autograd.set_detect_anomaly(True, check_nan=False):
        assert dygrad.is_anomaly_enabled() and not dygrad.is_anomaly_check_nan_enabled()
        b = a * 2
        c = b * b  # this line must appear in the warning
        b.add_(1)
        with pytest.warns(UserWarning, match="Error detected in MulBackward0") as rec:
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                c.sum().backward()
    text = "\n".join(str(w.message) for w in rec)
    assert "c = b * b" in text and HERE in text
    assert not dygrad.is_anomaly_enabled()


def test_detect_anomaly_as_decorator() -> None:
    @dygrad.autograd.detect_anomaly()
    def run() -> bool:
        return dygrad.is_anomaly_enabled()

    with pytest.warns(UserWarning):
        assert run()
    assert not dygrad.is_anomaly_enabled()


def test_nonfinite_check_names_the_where_trap() -> None:
    x = dygrad.tensor([-1.0, 4.0], requires_grad=True)
    line = _line(1)
    y = dygrad.where(x > 0, x.sqrt(), 0.0).sum()
    with dygrad.autograd.set_detect_nonfinite(True):
        with pytest.raises(FloatingPointError) as err:
            y.backward()
    msg = str(err.value)
    assert "SqrtBackward0" in msg and f"sqrt() at {line}" in msg and "where()" in msg
    assert x.grad is None
    # The fix the message suggests gives a finite gradient.
    x2 = dygrad.tensor([-1.0, 4.0], requires_grad=True)
    safe = dygrad.where(x2 > 0, x2, 1.0).sqrt()
    with dygrad.autograd.detect_nonfinite():
        dygrad.where(x2 > 0, safe, 0.0).sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), [0.0, 0.25])


def test_nonfinite_check_names_the_first_origin_not_its_consumers() -> None:
    x = dygrad.tensor([0.0, 1.0], requires_grad=True)
    line = _line(1)
    y = x.sqrt()
    z = ((y * 3).exp() * 2).sum()  # the gradient is finite until sqrt's rule divides by 0
    with dygrad.autograd.detect_nonfinite(), pytest.raises(FloatingPointError) as err:
        z.backward()
    assert "SqrtBackward0" in str(err.value) and f"sqrt() at {line}" in str(err.value)
    assert "outside the domain" in str(err.value)
    assert not dygrad.autograd.is_nonfinite_check_enabled()


def test_nonfinite_check_passes_finite_graphs_unchanged() -> None:
    x = dygrad.tensor([1.0, 2.0], requires_grad=True)
    with dygrad.autograd.detect_nonfinite():
        (x.exp() * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))


def test_lines_are_kept_where_a_message_can_name_them() -> None:
    # By default a node records the user's line when its rules read saved values (the in-place
    # error names it); a node whose rules read only the gradient (add, neg) records none. With
    # the non-finite check (or anomaly mode) on while the forward runs, every node does, so
    # that a broadcast add whose gradient overflows when summed is named with its line.
    x = dygrad.tensor([[1.0, 1.0]], requires_grad=True)
    b = dygrad.tensor([1.0], requires_grad=True)
    y = x * 1.0
    s = y + b
    assert y.grad_fn._src is not None and s.grad_fn._src is None
    assert (-y).grad_fn._src is None
    with dygrad.autograd.detect_nonfinite():
        line = _line(1)
        s = x.expand(2, 2) + b
        assert s.grad_fn._src is not None
        with pytest.raises(FloatingPointError) as err:
            (s * 1e38).sum().backward()  # b's gradient: four times 1e38, past float32's range
    assert "AddBackward0" in str(err.value) and f"add() at {line}" in str(err.value)
    # The check turned on around backward only: the message says how to get the line.
    s = x.expand(2, 2) + b
    loss = (s * 1e38).sum()
    with dygrad.autograd.detect_nonfinite(), pytest.raises(FloatingPointError) as err:
        loss.backward()
    assert "add() (to see its line, turn this check on before the forward pass)" in str(err.value)
    with dygrad.autograd.set_detect_anomaly(True):
        assert (y + b).grad_fn._src is not None
    assert (y + b).grad_fn._src is None


def test_each_dispatch_path_records_the_users_line(monkeypatch: Any) -> None:
    # Nodes are made by one function from five places (the one- and two-input fast paths, the
    # general path for one and for several outputs, in-place ops): each looks for the user's
    # frame at its own depth first, and walks out only for a site it has not seen. The line
    # must be the user's, and found there without a walk the second time round.
    x = dygrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    d = dygrad.tensor([2.0, 3.0], dtype=dygrad.float64)
    walks: list[str] = []
    walk = registry.user_line

    def counted(depth: int = 1) -> Any:
        walks.append(sys._getframe(1).f_code.co_name)  # only _new_node's count here
        return walk(depth)

    monkeypatch.setattr(registry, "user_line", counted)
    for _ in range(2):
        walks.clear()
        lines, nodes = [], []
        lines.append(_line(1))
        nodes.append(x.exp().grad_fn)  # one input
        lines.append(_line(1))
        nodes.append((x * x).grad_fn)  # two inputs
        lines.append(_line(1))
        nodes.append((x * d).grad_fn)  # two dtypes: the general path
        lines.append(_line(1))
        nodes.append(x.unbind(0)[1].grad_fn)  # several outputs
        y = x * 1.0
        lines.append(_line(1))
        y.mul_(y)  # in place
        nodes.append(y.grad_fn)
        names = [n.name() for n in nodes]
        assert names == ["ExpBackward0", "MulBackward0", "MulBackward0", "UnbindBackward0",
                         "MulBackward0"]  # fmt: skip
        assert [str(n._src) for n in nodes] == lines
    assert "_new_node" not in walks


# --- graph retention ---------------------------------------------------------------------------
def test_accumulating_a_loss_with_history_warns_once(monkeypatch: Any) -> None:
    monkeypatch.setattr(registry, "_retention_warned", False)
    w = dygrad.ones(3, requires_grad=True)
    total: Any = 0
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for i in range(5):
            loss = (w * i).sum()
            loss.backward()
            line = _line(1)
            total += loss
    hits = [r for r in rec if "keeps every iteration's graph alive" in str(r.message)]
    assert len(hits) == 1
    assert f"{hits[0].filename}:{hits[0].lineno}" == line
    assert "loss.item()" in str(hits[0].message)


def test_no_retention_warning_for_correct_loops(monkeypatch: Any) -> None:
    monkeypatch.setattr(registry, "_retention_warned", False)
    w = dygrad.ones(3, requires_grad=True)
    total = 0.0
    summed: Any = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(3):
            loss = (w * i).sum()
            summed = summed + loss  # one backward over several losses: legitimate
        summed.backward()
        for i in range(3):
            loss = (w * i).sum()
            loss.backward()
            total += loss.item()
            _ = loss.detach() + 1
        y = (w * 2).sum()
        y.backward(retain_graph=True)
        _ = y * 2  # the graph was retained on purpose


# --- why did this get no gradient? -------------------------------------------------------------
class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = nn.Linear(3, 3)
        self.frozen = nn.Linear(3, 3)
        self.frozen.requires_grad_(False)
        self.detached = nn.Linear(3, 3)
        self.nograd = nn.Linear(3, 3)
        self.unused = nn.Linear(3, 3)
        self.index_source = nn.Parameter(dygrad.randn(3))
        self.plain = [nn.Linear(3, 1)]  # not registered: a plain list
        self.scale = dygrad.ones(1, requires_grad=True)  # not registered: a plain tensor

    def forward(self, x: Any) -> Any:
        h = self.used(x) + self.frozen(x)
        h = h + self.detached(x).detach()
        with dygrad.no_grad():
            k = self.nograd(x)
        i = int(self.index_source.argmax())  # only an index: no gradient can flow
        return (self.plain[0](h + k) * self.scale).sum() + h[:, i].sum()


def test_why_no_grad_names_every_cause() -> None:
    dygrad.manual_seed(0)
    net = _Net()
    loss = net(dygrad.randn(4, 3))
    loss.backward()
    report = dygrad.autograd.why_no_grad(net, loss)
    reasons = {e.name: e.reason for e in report}
    assert set(reasons) == {
        "frozen.weight", "frozen.bias", "detached.weight", "detached.bias", "nograd.weight",
        "nograd.bias", "unused.weight", "unused.bias", "index_source", "plain[0].weight",
        "plain[0].bias", "scale",
    }  # fmt: skip
    assert reasons["frozen.weight"] == "requires_grad is False (frozen)"
    assert "detached from the graph at" in reasons["detached.weight"] and HERE in reasons[
        "detached.weight"]  # fmt: skip
    assert "under no_grad" in reasons["nograd.bias"]
    assert reasons["unused.weight"] == "not used to compute the output"
    assert "argmax()" in reasons["index_source"] and "not differentiable" in reasons[
        "index_source"]  # fmt: skip
    for name in ("plain[0].weight", "scale"):
        assert "not a registered parameter" in reasons[name]
    assert "used.weight" not in reasons
    text = str(report)
    assert text.count("\n") == len(report) - 1


def test_why_no_grad_on_tensors_and_non_leaves() -> None:
    x = dygrad.ones(2, requires_grad=True)
    h = x * 2
    y = dygrad.ones(2, requires_grad=True)
    out = (h * 3).sum()
    out.backward()
    report = dygrad.autograd.why_no_grad({"x": x, "h": h, "y": y}, out)
    reasons = {e.name: e.reason for e in report}
    assert set(reasons) == {"h", "y"}
    assert "retain_grad()" in reasons["h"]
    assert reasons["y"] == "not used to compute the output"
    # Without the output, a leaf with no recorded cut is explained conservatively.
    z = dygrad.ones(2, requires_grad=True)
    assert "no backward pass reached it" in dygrad.autograd.why_no_grad([z])[0].reason
    assert str(dygrad.autograd.why_no_grad([x])) == "every tensor checked received a gradient"
    with pytest.raises(TypeError, match="not a Tensor"):
        dygrad.autograd.why_no_grad([x, 3])
    with pytest.raises(TypeError, match="expects a Module"):
        dygrad.autograd.why_no_grad(3)
