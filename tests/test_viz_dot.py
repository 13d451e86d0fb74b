"""make_dot / print_graph: DOT structure of the text's graphs, modules, options, deep graphs,
rendering through `dot` and the missing-graphviz error."""

from __future__ import annotations

import io
import os
import re
import shutil
import sys

import pytest

import dygrad as torch
from dygrad import nn
from dygrad.viz import make_dot, print_graph
from dygrad.viz.dot import render_dot

pytest.importorskip("graphviz")


def _nodes(dot) -> dict[str, tuple[str, str]]:
    """node id -> (label, fillcolor) parsed from the DOT source (nested clusters included)."""
    src = dot.source
    res = {}
    for m in re.finditer(
        r'^\s*("?[\w:]+"?) \[label=("(?:[^"\\]|\\.)*"|[^\s\]]+)(.*?)\]$', src, re.M | re.S
    ):
        nid = m.group(1).strip('"')
        label = m.group(2).strip('"')
        color = re.search(r"fillcolor=(\S+)", m.group(3))
        res[nid] = (label, color.group(1).strip('"') if color else "")
    return res


def _edges(dot) -> set[tuple[str, str]]:
    return {
        (a.strip('"'), b.strip('"'))
        for a, b in re.findall(r'^\s*("?[\w:]+"?) -> ("?[\w:]+"?)', dot.source, re.M)
    }


def _by_label(nodes, text):
    return [k for k, (label, _) in nodes.items() if label.split("\n")[0] == text]


def two_conv(freeze: bool = False):
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
    model.add_module("conv2", nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
    if freeze:
        model.conv2.weight.requires_grad = False
        model.conv2.bias.requires_grad = False
    x = torch.randn(1, 1, 8, 8)
    return model, model(x).mean()


def test_y_equals_x_plus_one():
    x = torch.zeros(1, requires_grad=True)
    y = x + 1
    dot = make_dot(y)
    nodes, edges = _nodes(dot), _edges(dot)
    assert len(nodes) == 4
    out = str(id(y))
    add = str(id(y.grad_fn))
    acc = str(id(y.grad_fn.next_functions[0][0]))
    leaf = str(id(x))
    assert nodes[out] == ("(1)", "darkolivegreen1")
    assert nodes[add] == ("AddBackward0", "")  # graphviz's default fill: light grey
    assert nodes[acc] == ("AccumulateGrad", "")
    assert nodes[leaf] == ("(1)", "lightblue")
    assert edges == {(leaf, acc), (acc, add), (add, out)}
    assert "style=filled" in dot.source and "fontname=monospace" in dot.source
    assert 'label=" (1) float32"' in dot.source  # the gradient's shape on the edges


def test_two_conv_model_leaves_and_ops():
    model, y = two_conv()
    dot = make_dot(y, params=dict(model.named_parameters()))
    nodes = _nodes(dot)
    leaves = {label for label, color in nodes.values() if color == "lightblue"}
    assert leaves == {
        "conv1.weight\\n (3, 1, 3, 3)",
        "conv1.bias\\n (3)",
        "conv2.weight\\n (12, 3, 3, 3)",
        "conv2.bias\\n (12)",
    } or leaves == {
        "conv1.weight\n (3, 1, 3, 3)",
        "conv1.bias\n (3)",
        "conv2.weight\n (12, 3, 3, 3)",
        "conv2.bias\n (12)",
    }
    assert len(_by_label(nodes, "ConvolutionBackward0")) == 2
    assert len(_by_label(nodes, "MeanBackward0")) == 1
    assert len(_by_label(nodes, "AccumulateGrad")) == 4
    assert '" (1, 3, 4, 4) float32"' in dot.source  # conv1's output flowing into conv2


def test_frozen_conv2_leaves_absent():
    model, y = two_conv(freeze=True)
    dot = make_dot(y, params=dict(model.named_parameters()))
    labels = [label for label, color in _nodes(dot).values() if color == "lightblue"]
    assert sorted(s.split("\n")[0] for s in labels) == ["conv1.bias", "conv1.weight"]
    assert "conv2" not in dot.source
    assert len(_by_label(_nodes(dot), "ConvolutionBackward0")) == 2


def test_tuple_of_outputs_and_shared_nodes():
    x = torch.ones(2, requires_grad=True)
    h = x * 3
    a, b = h.sum(), (h * h).sum()
    dot = make_dot((a, b), params={"x": x})
    nodes = _nodes(dot)
    assert sum(c == "darkolivegreen1" for _, c in nodes.values()) == 2
    assert len(_by_label(nodes, "MulBackward0")) == 2  # x*3 once, h*h once
    buf = io.StringIO()
    print_graph((a, b), params={"x": x}, file=buf)
    assert "(see #" in buf.getvalue()


def test_show_attrs_and_saved():
    model, y = two_conv()
    dot = make_dot(y, show_attrs=True, show_saved=True, max_attr_chars=6)
    src = dot.source
    assert re.search(r"stride\s*: \(2, 2\)", src)
    assert re.search(r"padding\s*: \(1, 1\)", src)
    assert "groups" in src
    assert re.search(r"shape\s*: \(1,\.\.\.", src)  # (1, 12, 2, 2) cut to 6 characters
    orange = [label for label, c in _nodes(dot).values() if c == "orange"]
    assert any("(12, 3, 3, 3)" in s for s in orange)  # conv2's saved weight
    assert any("(1, 1, 8, 8)" in s for s in orange)  # conv1's saved input
    plain = make_dot(y).source
    assert "orange" not in plain and "stride" not in plain


def _nested():
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
    dec = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    model = nn.Sequential()
    model.add_module("encoder", enc)
    model.add_module("decoder", dec)
    loss = model(torch.randn(3, 4)).pow(2).mean()
    return model, loss


def _clusters(src: str) -> dict[str, str]:
    """cluster name -> its full text (nested clusters included)."""
    res = {}
    for m in re.finditer(r'subgraph "?cluster_([\w.]+)"? \{', src):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        res[m.group(1)] = src[m.end() : i]
    return res


def test_module_clusters():
    model, loss = _nested()
    dot = make_dot(loss, params=dict(model.named_parameters()), module=model)
    cl = _clusters(dot.source)
    assert {"encoder", "encoder.0", "encoder.2", "decoder", "decoder.0", "decoder.2"} <= set(cl)
    assert "encoder.0 (Linear)" in cl["encoder.0"] and "encoder (Sequential)" in cl["encoder"]
    assert "encoder.0.weight" in cl["encoder.0"] and "encoder.0.weight" not in cl["decoder"]
    assert "cluster_encoder.0" in cl["encoder"]  # nested
    # The ReLU between encoder.0 and encoder.2 is inside encoder; the loss ops are outside.
    assert "ReluBackward0" in cl["encoder"] and "ReluBackward0" not in cl["encoder.0"]
    assert "TanhBackward0" in cl["decoder"]
    assert all("MeanBackward0" not in body for body in cl.values())
    assert "MeanBackward0" in dot.source


def test_collapse_depth():
    model, loss = _nested()
    full = make_dot(loss, module=model)
    dot = make_dot(loss, module=model, collapse_depth=1)
    cl = _clusters(dot.source)
    assert set(cl) == {"encoder", "decoder"}
    assert "encoder.0\\n(Linear)" in dot.source or "encoder.0\n(Linear)" in dot.source
    assert "AccumulateGrad" not in dot.source and "AddmmBackward0" not in dot.source
    assert "ReluBackward0" in cl["encoder"]
    top = make_dot(loss, module=model, collapse_depth=0)
    nodes = _nodes(top)
    assert {label.split("\n")[0] for label, _ in nodes.values()} >= {"encoder", "decoder"}
    assert len(nodes) < len(_nodes(full)) // 2
    assert ("module:encoder", "module:decoder") in _edges(top)


def test_grad_norms_frozen_and_no_grad():
    model, y = two_conv(freeze=True)
    stray = nn.Parameter(torch.ones(2))
    z = y + (stray * 0).sum().detach()  # stray takes no part: only its params entry
    params = dict(model.named_parameters())
    params["stray"] = stray
    z.backward(retain_graph=True)
    dot = make_dot(z, params=params, show_grad_norms=True)
    src = dot.source
    n = float(model.conv1.weight.grad.norm())
    assert f"grad norm {n:.3g}" in src
    assert (
        "cluster_frozen" in src and "conv2.weight" in src and "frozen (requires_grad=False)" in src
    )
    assert src.count("filled,dashed") == 2  # the two frozen parameters
    # A leaf in the graph that got no gradient: backward only reached the other branch.
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    out = (a * 2).sum() + (b * 3).sum()
    torch.autograd.backward((a * 2).sum())
    d2 = make_dot(out, params={"a": a, "b": b}, show_grad_norms=True).source
    assert "no grad" in d2 and "dashed" in d2 and "grad norm 2.83" in d2


def test_memory_label():
    x = torch.ones(100, requires_grad=True)  # 400 bytes
    y = (x.exp() * x).sum()  # exp saves its result; mul saves that same array again, and x
    src = make_dot(y, show_memory=True).source
    assert "saved tensors: 800 B in all (400 B intermediates, 400 B leaves" in src
    assert "saved 400 B" in src  # ExpBackward0
    assert "saved 800 B" in src  # MulBackward0: exp's output and x
    y.backward()
    src = make_dot(y, show_memory=True).source
    assert "saved tensors: 0 B in all" in src  # freed by backward


def test_custom_function_graph():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    x = torch.ones(2, 3, requires_grad=True)
    y = Square.apply(x).sum()
    dot = make_dot(y, show_saved=True, show_memory=True)
    assert "SquareBackward" in dot.source and '" (2, 3) float32"' in dot.source
    assert "saved 24 B" in dot.source


def _chain(n: int):
    x = torch.ones(1, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0
    return x, y


def test_deep_chain_200k():
    # Walking and drawing are loops: a 200,000-node chain is drawn without hitting the recursion
    # limit.
    # (Speed is the benchmarks' business: no timing is asserted here.)
    x, y = _chain(200_000)
    buf = io.StringIO()
    print_graph(y, params={"x": x}, file=buf)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 200_002
    assert max(len(s) for s in lines) < 80  # a chain stays flat
    assert lines[-1].strip().endswith("x (1) float32")
    dot = make_dot(y, params={"x": x})
    assert len(dot.body) > 400_000


def test_print_graph_two_conv_and_max_depth():
    model, y = two_conv()
    buf = io.StringIO()
    print_graph(y, params=dict(model.named_parameters()), file=buf)
    text = buf.getvalue()
    assert text.splitlines()[0] == "output (): float32"
    assert "MeanBackward0 -> () float32" in text
    assert "ConvolutionBackward0 -> (1, 12, 2, 2) float32" in text
    assert "└─ #3 AccumulateGrad <- conv2.weight (12, 3, 3, 3) float32" in text
    assert text.count("AccumulateGrad") == 4
    buf = io.StringIO()
    print_graph(y, file=buf, max_depth=2, show_shapes=False)
    lines = buf.getvalue().splitlines()
    assert lines[-1].endswith("ConvolutionBackward0  ...") and len(lines) == 3


def test_missing_graphviz_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match="pip install graphviz"):
        make_dot(torch.ones(1, requires_grad=True) * 2)


def test_missing_dot_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    dot = make_dot(torch.ones(1, requires_grad=True) * 2)
    with pytest.raises(RuntimeError, match="apt-get install graphviz") as e:
        render_dot(dot, str(tmp_path / "g.png"))
    assert "`dot`" in str(e.value)
    # The Digraph itself says the same when rendered or piped directly.
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        dot.pipe(format="svg")
    with pytest.raises(RuntimeError, match="`dot` program"):
        dot.render(str(tmp_path / "g"), format="png")
    assert isinstance(dot, __import__("graphviz").Digraph)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot program is not installed")
def test_render_png_svg(tmp_path):
    x = torch.zeros(1, requires_grad=True)
    model, y = two_conv()
    frozen, yf = two_conv(freeze=True)
    pictures = {
        "y_equals_x_plus_1": make_dot(x + 1, params={"x": x}),
        "two_conv": make_dot(y, params=dict(model.named_parameters())),
        "two_conv_frozen": make_dot(yf, params=dict(frozen.named_parameters())),
        "two_conv_modules": make_dot(
            y, params=dict(model.named_parameters()), module=model, show_attrs=True
        ),
    }
    keep = "/tmp/viz_pngs"
    os.makedirs(keep, exist_ok=True)
    for name, dot in pictures.items():
        for folder in (str(tmp_path), keep):
            p = render_dot(dot, os.path.join(folder, name + ".png"), "png")
            with open(p, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    svg = pictures["two_conv"].pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "conv2.weight" in svg
    assert pictures["two_conv"].pipe(format="pdf")[:4] == b"%PDF"
