"""`trace_backward`: the backward pass node by node (what reached each node, what it sent on, where
gradients of a value used twice were summed), as text and as one self-contained HTML page."""

from __future__ import annotations

import html as _html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.engine import run_backward
from ..autograd.graph import AccumulateGrad, Node
from ..backward import root_grads
from ..tensor import Tensor
from ._check import named_tensors

__all__ = ["trace_backward", "Trace", "TraceStep"]


def _fmt(a: Any) -> str:
    if a is None:
        return "None"
    if isinstance(a, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in a) + ")"
    a = np.asarray(a)
    s = np.array2string(a, precision=4, suppress_small=True, separator=", ", threshold=64)
    return s if a.ndim < 2 else s.replace("\n", "")


def _copy(g: Any) -> Any:
    if g is None:
        return None
    if isinstance(g, (list, tuple)):
        return [_copy(v) for v in g]
    return np.array(g, copy=True)


@dataclass
class TraceStep:
    """One node run by the backward pass, in execution order."""

    index: int
    node: int  # id of the node in `Trace.labels`
    name: str  # its label, e.g. "MulBackward0" or "x (leaf)"
    grad_in: Any  # the gradient that reached it (an array; a list for multi-output nodes)
    # One entry per edge: (target node id or None, gradient sent or None).
    sent: list[tuple[int | None, Any]] = field(default_factory=list)
    summed: list[int] = field(default_factory=list)  # edges whose gradient met an earlier one


@dataclass
class Trace:
    """A recorded backward pass: the graph (labels, edges) and the steps in execution order."""

    labels: list[str]
    edges: list[tuple[int, int, int]]  # (from node, to node, edge index): gradient flows along
    steps: list[TraceStep]
    output: str = "output"

    @property
    def order(self) -> list[str]:
        """Node labels in the order the engine ran them."""
        return [s.name for s in self.steps]

    def leaf_grads(self) -> dict[str, np.ndarray]:
        """The gradient each leaf received (what `.backward()` would add to its `.grad`)."""
        return {s.name: s.grad_in for s in self.steps if not s.sent}

    def __str__(self) -> str:
        lines = [f"Backward pass from {self.output}: {len(self.steps)} nodes run, in this order"]
        for s in self.steps:
            lines.append(f"step {s.index + 1}: {s.name} received {_fmt(s.grad_in)}")
            if not s.sent:
                lines.append("    (a leaf: this is the gradient .backward() accumulates in .grad)")
            for j, (to, g) in enumerate(s.sent):
                if to is None:
                    continue
                note = ""
                if j in s.summed:
                    note = "  <- summed with a gradient that had already arrived there"
                lines.append(f"    input {j} -> {self.labels[to]}: {_fmt(g)}{note}")
        return "\n".join(lines)

    __repr__ = __str__

    def to_html(self) -> str:
        """One self-contained page (inline SVG, CSS and JS; no network) stepping through the
        pass with previous/next buttons, a slider, the arrow keys and `#step=N|last` in the URL."""
        return _page(self)


def trace_backward(
    output: Tensor,
    gradient: Any = None,
    html: str | None = None,
    names: dict[str, Tensor] | None = None,
) -> Trace:
    """Run the backward pass of `output` node by node and record, for each node in execution
    order, the gradient that reached it, what it sent to each input, and where the gradients of a
    value used twice were summed (`output.backward(gradient)`, observed). The graph is retained
    and leaves' `.grad` are left untouched (tensor hooks still run). `html=path` writes a
    self-contained page that steps through the pass; `names` labels leaves.

    >>> import dygrad as torch
    >>> x = torch.tensor([3.0], requires_grad=True)
    >>> t = trace_backward(x * x, gradient=torch.ones(1), names={"x": x})
    >>> print(t)
    Backward pass from output: 2 nodes run, in this order
    step 1: MulBackward0 received [1.]
        input 0 -> x (leaf): [3.]
        input 1 -> x (leaf): [3.]  <- summed with a gradient that had already arrived there
    step 2: x (leaf) received [6.]
        (a leaf: this is the gradient .backward() accumulates in .grad)
    >>> x.grad is None
    True
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"trace_backward expects a tensor, got {type(output).__name__}")
    names = named_tensors("names", names) or None
    if output.grad_fn is None:
        raise RuntimeError("output has no grad_fn: it was not computed from tensors that require "
                           "grad (there is no backward pass to trace)")  # fmt: skip
    (g0,) = root_grads([output], [gradient] if gradient is not None else [], False)
    by_id = {id(t): nm for nm, t in (names or {}).items() if isinstance(t, Tensor)}

    # The graph, walked with a loop: ids in breadth-first order from the output.
    root = output.grad_fn
    ids: dict[Node, int] = {root: 0}
    nodes: list[Node] = [root]
    edges: list[tuple[int, int, int]] = []
    i = 0
    while i < len(nodes):
        node = nodes[i]
        for j, (nxt, _) in enumerate(node.next_functions):
            if nxt is None:
                continue
            if nxt not in ids:
                ids[nxt] = len(nodes)
                nodes.append(nxt)
            edges.append((ids[node], ids[nxt], j))
        i += 1
    labels = _labels(nodes, {nm: t for nm, t in (names or {}).items() if isinstance(t, Tensor)})
    out_name = by_id.get(id(output), "output")

    steps: list[TraceStep] = []
    arrived: set[tuple[Node, int]] = set()

    def observe(node: Node, grad_in: Any, grads_out: Any) -> None:
        # Where gradients meet: an edge into an input that has already received one.
        k = ids[node]
        st = TraceStep(len(steps), k, labels[k], _copy(grad_in))
        if grads_out is not None:
            for j, (nxt, nr) in enumerate(node.next_functions):
                gj = grads_out[j] if j < len(grads_out) else None
                st.sent.append((None if nxt is None else ids[nxt], _copy(gj)))
                if nxt is not None and gj is not None:
                    if (nxt, nr) in arrived:
                        st.summed.append(j)
                    arrived.add((nxt, nr))
        steps.append(st)

    leaves = [(n, 0) for n in nodes if type(n) is AccumulateGrad]
    run_backward([output._edge()], [g0], retain_graph=True, create_graph=False,
                 capture=leaves, accumulate=False, observe=observe)  # fmt: skip
    trace = Trace(labels, edges, steps, out_name)
    if html is not None:
        with open(html, "w", encoding="utf-8") as f:
            f.write(trace.to_html())
    return trace


def _labels(nodes: list[Node], named: dict[str, Tensor]) -> list[str]:
    by_id = {id(t): nm for nm, t in named.items()}
    made = {(t.grad_fn, t._out_nr): nm for nm, t in named.items() if t.grad_fn is not None}
    raw = []
    for n in nodes:
        if type(n) is AccumulateGrad:
            v = n.variable
            raw.append(f"{by_id[id(v)]} (leaf)" if id(v) in by_id else f"leaf {list(v.shape)}")
        elif (n, 0) in made:
            raw.append(f"{type(n).__name__} → {made[(n, 0)]}")
        else:
            raw.append(type(n).__name__)
    # Repeated names get a number, so each node is named once in the text.
    count: dict[str, int] = {}
    for r in raw:
        count[r] = count.get(r, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for r in raw:
        if count[r] > 1:
            seen[r] = seen.get(r, 0) + 1
            out.append(f"{r} #{seen[r]}")
        else:
            out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# The page: a layered drawing (output on top, gradients flowing down to the leaves).

_W, _H, _GX, _GY = 170, 40, 24, 70


def _layout(n: int, edges: list[tuple[int, int, int]]) -> list[tuple[float, float]]:
    # Layer = longest distance from the output (Kahn's order), then order within a layer by
    # the mean position of the parents, so edges mostly go straight down.
    indeg = [0] * n
    kids: list[list[int]] = [[] for _ in range(n)]
    parents: list[list[int]] = [[] for _ in range(n)]
    for a, b, _ in edges:
        if b not in kids[a]:
            kids[a].append(b)
            parents[b].append(a)
            indeg[b] += 1
    depth = [0] * n
    ready = [k for k in range(n) if indeg[k] == 0]
    while ready:
        a = ready.pop()
        for b in kids[a]:
            depth[b] = max(depth[b], depth[a] + 1)
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    layers: dict[int, list[int]] = {}
    for k in range(n):
        layers.setdefault(depth[k], []).append(k)
    xpos = [0.0] * n
    width = max(len(v) for v in layers.values())
    pos = [(0.0, 0.0)] * n
    for d in sorted(layers):
        row = layers[d]
        if d:
            row.sort(key=lambda k: sum(xpos[p] for p in parents[k]) / max(len(parents[k]), 1))
        off = (width - len(row)) / 2
        for i, k in enumerate(row):
            xpos[k] = off + i
            pos[k] = (_GX + (off + i) * (_W + _GX), _GY / 2 + d * (_H + _GY))
    return pos


def _svg(trace: Trace) -> str:
    n = len(trace.labels)
    pos = _layout(n, trace.edges)
    w = max(x for x, _ in pos) + _W + _GX
    h = max(y for _, y in pos) + _H + _GY / 2
    parts = [f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" '
             f'width="{w:.0f}" height="{h:.0f}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="context-stroke"/></marker></defs>']  # fmt: skip
    mult: dict[tuple[int, int], list[int]] = {}
    for k, (a, b, _) in enumerate(trace.edges):
        mult.setdefault((a, b), []).append(k)
    for k, (a, b, j) in enumerate(trace.edges):
        (x1, y1), (x2, y2) = pos[a], pos[b]
        # Two edges between the same nodes (x * x) are drawn side by side.
        same = mult[(a, b)]
        dx = (same.index(k) - (len(same) - 1) / 2) * 22
        parts.append(f'<line id="e{k}" class="edge" x1="{x1 + _W / 2 + dx:.1f}" '
                     f'y1="{y1 + _H:.1f}" x2="{x2 + _W / 2 + dx:.1f}" y2="{y2:.1f}" '
                     'marker-end="url(#arrow)">'
                     f"<title>input {j}</title></line>")  # fmt: skip
    for k, label in enumerate(trace.labels):
        x, y = pos[k]
        kind = "leaf" if label.endswith("(leaf)") or label.startswith("leaf ") else "op"
        if k == 0:
            kind += " root"
        parts.append(f'<g id="n{k}" class="node {kind}"><rect x="{x:.1f}" y="{y:.1f}" '
                     f'width="{_W}" height="{_H}" rx="6"/><text x="{x + _W / 2:.1f}" '
                     f'y="{y + _H / 2 + 5:.1f}">{_html.escape(label)}</text></g>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _page(trace: Trace) -> str:
    edge_of = {(a, j): k for k, (a, _, j) in enumerate(trace.edges)}
    data = []
    for s in trace.steps:
        sent = []
        for j, (to, g) in enumerate(s.sent):
            if to is not None:
                edge = edge_of.get((s.node, j))
                sent.append({"to": trace.labels[to], "input": j, "grad": _fmt(g),
                             "summed": j in s.summed, "edge": edge})  # fmt: skip
        data.append({"node": s.node, "name": s.name, "grad_in": _fmt(s.grad_in), "sent": sent})
    payload = json.dumps(data).replace("</", "<\\/")
    title = _html.escape(f"Backward pass from {trace.output}")
    return (
        _TEMPLATE.replace("%TITLE%", title).replace("%SVG%", _svg(trace)).replace("%DATA%", payload)
    )


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 8px; }
#controls { display: flex; align-items: center; gap: 12px; margin: 8px 0 12px; }
#controls button { font-size: 15px; padding: 4px 14px; }
#slider { width: 320px; }
#main { display: flex; gap: 24px; align-items: flex-start; }
#graphbox { overflow: auto; border: 1px solid #ddd; border-radius: 6px; padding: 6px; }
#panel { min-width: 340px; max-width: 520px; }
#panel pre { background: #f6f6f6; padding: 6px 8px; border-radius: 4px; margin: 4px 0 10px;
  white-space: pre-wrap; font-size: 13px; }
.node rect { fill: #d3d3d3; stroke: #888; stroke-width: 1.2; }
.node.leaf rect { fill: #add8e6; }
.node.root rect { stroke: #2a9d3a; stroke-width: 2.5; }
.node text { text-anchor: middle; font: 13px system-ui, sans-serif; }
.node.done rect { fill: #cfe9cf; }
.node.leaf.done rect { fill: #9ccfe0; }
.node.current rect { fill: #ffb347; stroke: #c05800; stroke-width: 3; }
.node.target rect { stroke: #c05800; stroke-dasharray: 4 3; stroke-width: 2; }
.edge { stroke: #999; stroke-width: 1.4; }
.edge.done { stroke: #5a9a5a; }
.edge.active { stroke: #e07000; stroke-width: 3; }
.sum { color: #b00; font-weight: 600; }
#errors { color: #b00; white-space: pre-wrap; }
</style></head><body>
<h1>%TITLE%</h1>
<div id="controls">
<button id="prev">&#9664; previous</button>
<input id="slider" type="range" min="0" max="0" value="0">
<button id="next">next &#9654;</button>
<span id="where"></span>
</div>
<div id="main"><div id="graphbox">%SVG%</div><div id="panel"></div></div>
<p>Orange: the node running now; green: nodes already run. Gradients flow down, from the
output to the leaves (arrow keys step too).</p>
<div id="errors"></div>
<script>
window.onerror = function (msg, src, line) {
  document.getElementById("errors").textContent += "JS error: " + msg + " (line " + line + ")\\n";
};
const STEPS = %DATA%;
const N = STEPS.length;
let cur = 0;
function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
function show(i) {
  cur = Math.max(0, Math.min(N - 1, i));
  document.querySelectorAll(".node, .edge").forEach(function (el) {
    el.classList.remove("current", "done", "active", "target");
  });
  for (let k = 0; k <= cur; k++) {
    const s = STEPS[k];
    const el = document.getElementById("n" + s.node);
    el.classList.add(k === cur ? "current" : "done");
    s.sent.forEach(function (t) {
      if (t.edge === null) return;
      const e = document.getElementById("e" + t.edge);
      e.classList.add(k === cur ? "active" : "done");
    });
  }
  const s = STEPS[cur];
  let h = "<h2 style='font-size:17px;margin:0 0 6px'>Step " + (cur + 1) + " of " + N + ": "
    + esc(s.name) + "</h2><div>gradient that reached it:</div><pre>" + esc(s.grad_in) + "</pre>";
  if (s.sent.length === 0) {
    h += "<div>A leaf: this gradient is what <code>.backward()</code> adds to its "
      + "<code>.grad</code>.</div>";
  }
  s.sent.forEach(function (t) {
    h += "<div>sent to input " + t.input + " &rarr; <b>" + esc(t.to) + "</b>:</div><pre>"
      + esc(t.grad) + "</pre>";
    if (t.summed) {
      h += "<div class='sum'>summed there with a gradient that had already arrived "
        + "(the value is used more than once)</div>";
    }
  });
  document.getElementById("panel").innerHTML = h;
  document.getElementById("slider").value = cur;
  document.getElementById("where").textContent = "step " + (cur + 1) + " / " + N;
  document.body.dataset.step = String(cur);
  document.body.dataset.node = "n" + s.node;
}
document.getElementById("slider").max = N - 1;
document.getElementById("prev").onclick = function () { show(cur - 1); };
document.getElementById("next").onclick = function () { show(cur + 1); };
document.getElementById("slider").oninput = function (ev) { show(Number(ev.target.value)); };
document.addEventListener("keydown", function (ev) {
  if (ev.key === "ArrowRight") show(cur + 1);
  if (ev.key === "ArrowLeft") show(cur - 1);
});
const m = /step=(\\w+)/.exec(location.hash);
if (m && m[1] === "last") {
  for (let k = 0; k < N - 1; k++) document.getElementById("next").click();
} else {
  show(m ? Number(m[1]) - 1 : 0);
}
if (m && m[1] === "last") show(cur);
</script></body></html>
"""
