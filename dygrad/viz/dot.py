"""`make_dot` draws the backward graph with graphviz (torchviz's conventions, plus module clusters,
edge shapes, gradient norms and saved-tensor memory); `print_graph` prints the same as text.
Every walk is a loop, so graphs of hundreds of thousands of nodes work."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import IO, Any

from ..autograd.function import BackwardCFunction
from ..autograd.graph import AccumulateGrad, Node
from ..ops.registry import OpNode
from ..tensor import Tensor
from ._check import check_depth, check_file, named_tensors

__all__ = ["make_dot", "print_graph", "render_dot"]

NODE_ATTR = dict(
    style="filled",
    shape="box",
    align="left",
    fontsize="10",
    ranksep="0.1",
    height="0.2",
    fontname="monospace",
)
OUTPUT_COLOR = "darkolivegreen1"
LEAF_COLOR = "lightblue"
SAVED_COLOR = "orange"
MODULE_COLOR = "khaki1"
FROZEN_COLOR = "gray85"

Meta = tuple[tuple[int, ...], Any]  # (shape, NumPy dtype)


# ---------------------------------------------------------------------------------------------
# Walking the graph (loops only)


class _Graph:
    """The nodes reachable from some roots, in an order where every node comes after all of its
    consumers, with each node's consumers, its output shapes and each edge's shape/dtype."""

    def __init__(self, roots: list[tuple[Tensor, Node | None]]) -> None:
        starts: list[Node] = []
        for _, fn in roots:
            if fn is not None and all(fn is not s for s in starts):
                starts.append(fn)
        indeg: dict[int, int] = {id(s): 0 for s in starts}
        nodes: dict[int, Node] = {id(s): s for s in starts}
        stack = list(starts)
        while stack:
            n = stack.pop()
            for c, _ in n.next_functions:
                if c is None:
                    continue
                k = id(c)
                if k in nodes:
                    indeg[k] += 1
                else:
                    nodes[k] = c
                    indeg[k] = 1
                    stack.append(c)
        order: list[Node] = []
        ready = [s for s in starts if indeg[id(s)] == 0]
        consumers: dict[int, list[Node]] = {}
        while ready:
            n = ready.pop()
            order.append(n)
            for c, _ in n.next_functions:
                if c is None:
                    continue
                k = id(c)
                consumers.setdefault(k, []).append(n)
                indeg[k] -= 1
                if indeg[k] == 0:
                    ready.append(c)
        self.order = order
        self.consumers = consumers
        # Output metadata per node and output number, then each edge's, consumers first.
        outs: dict[int, dict[int, Meta]] = {}
        for t, fn in roots:
            if fn is not None:
                outs.setdefault(id(fn), {})[t.output_nr] = _meta_of(t)
        self.outs = outs
        self.edges: dict[tuple[int, int], Meta | None] = {}
        for n in order:
            ins = _input_metas(n, outs.get(id(n), {}))
            for i, (c, nr) in enumerate(n.next_functions):
                if c is None:
                    continue
                m = ins[i] if i < len(ins) else None
                self.edges[(id(n), i)] = m
                if m is not None:
                    outs.setdefault(id(c), {}).setdefault(nr, m)

    def out_meta(self, n: Node) -> Meta | None:
        d = self.outs.get(id(n))
        return d.get(0) if d else None


def _meta_of(t: Any) -> Meta:
    a = t._data if isinstance(t, Tensor) else t
    return tuple(a.shape), a.dtype


def _input_metas(n: Node, outs: dict[int, Meta]) -> list[Meta | None]:
    """The shape and dtype of each input of `n` (the gradient that flows on each edge)."""
    if isinstance(n, AccumulateGrad):
        return []
    if isinstance(n, BackwardCFunction):
        return [(tuple(s), d) for s, d in n._in_meta]
    if not isinstance(n, OpNode):
        return [None] * len(n.next_functions)
    op = n.op
    meta = n._meta
    saved = n._saved
    out = outs.get(0)
    if out is None and op.n_outputs == 1 and n._out is not None:
        out = _meta_of(n._out[0])
    res: list[Meta | None] = []
    for i in range(len(n.next_functions)):
        m = meta[i] if meta is not None and i < len(meta) else None
        if m is not None:
            res.append((tuple(m[0]), m[1]))
            continue
        if not op.variadic and saved and i < len(saved) and isinstance(saved[i], Tensor):
            res.append(_meta_of(saved[i]))
        elif op.n_outputs == 1:
            res.append(out)  # same shape and dtype as the output (recorded only when not)
        else:
            res.append(None)
    return res


def _saved_items(n: Node) -> list[tuple[str, Any]]:
    """(name, array) for each tensor `n` keeps for backward (empty once freed)."""
    items: list[tuple[str, Any]] = []
    if isinstance(n, OpNode):
        saved = n._saved
        if saved:
            for name, v in zip(n.op.params, saved):
                if isinstance(v, Tensor):
                    items.append((name, v))
                elif type(v) is list:
                    items.extend((f"{name}[{j}]", t) for j, t in enumerate(v))
        if n._out is not None:
            o = n._out[0]
            if isinstance(o, (tuple, list)):
                items.extend((f"result{j}", a) for j, a in enumerate(o))
            else:
                items.append(("result", o))
    elif isinstance(n, BackwardCFunction) and n._saved:
        for j, entry in enumerate(n._saved):
            if entry is None:
                continue
            items.append((f"saved{j}", entry[0] if len(entry) == 2 else entry[1]))
    return items


def _array(v: Any) -> Any:
    return v._data if isinstance(v, Tensor) else v


def _attrs(n: Node) -> list[tuple[str, Any]]:
    """An op's non-tensor arguments (stride, padding, dim, ...), as recorded by the registry."""
    if not isinstance(n, OpNode) or not n._saved:
        return []
    op = n.op
    return [(k, v) for k, v in zip(op.params[op.n_in :], n._saved[op.n_in :])]


def _fmt_shape(shape: Iterable[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _fmt_meta(m: Meta | None) -> str:
    return "" if m is None else f"{_fmt_shape(m[0])} {m[1]}"


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _roots(var: Any) -> list[tuple[Tensor, Node | None]]:
    vs = var if isinstance(var, (tuple, list)) else (var,)
    for v in vs:
        if not isinstance(v, Tensor):
            raise TypeError(f"expected a Tensor or a tuple of Tensors, got {type(v).__name__}")
    return [(v, v.grad_fn) for v in vs]


def _param_names(params: Any) -> dict[int, str]:
    named = named_tensors("params", params, " (e.g. dict(model.named_parameters()))")
    return {id(p): name for name, p in named.items()}


def _leaf_label(t: Tensor, names: dict[int, str]) -> str:
    name = names.get(id(t), "")
    shape = _fmt_shape(t.shape)
    return f"{name}\n {shape}" if name else shape


# ---------------------------------------------------------------------------------------------
# Modules: which module made which node


def _lca(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    pa, pb = a.split("."), b.split(".")
    k = 0
    while k < len(pa) and k < len(pb) and pa[k] == pb[k]:
        k += 1
    return ".".join(pa[:k])


def _assign_modules(g: _Graph, module: Any) -> dict[int, str]:
    """Module path of each node, inferred from the graph alone (nothing is re-run).

    A parameter's `AccumulateGrad` belongs to the module that owns the parameter; an op with
    parameters among its inputs belongs to their (deepest common) module; any other op belongs to
    the deepest module containing both the nearest assigned nodes it reads from and the nearest
    assigned nodes that read it (so a ReLU between `encoder.0` and `encoder.2` lands in
    `encoder`), or to no module when one side has none (ops on the model's output, e.g. a loss).
    """
    owner = {}
    for name, p in module.named_parameters():
        owner[id(p)] = name.rpartition(".")[0]
    direct: dict[int, str] = {}
    for n in g.order:
        if isinstance(n, AccumulateGrad):
            p = owner.get(id(n.variable))
            if p is not None:
                direct[id(n)] = p
    for n in g.order:
        if isinstance(n, AccumulateGrad):
            continue
        path = None
        for c, _ in n.next_functions:
            if isinstance(c, AccumulateGrad) and id(c) in direct:
                path = _lca(path, direct[id(c)])
        if path is not None:
            direct[id(n)] = path
    up: dict[int, str | None] = {}
    for n in reversed(g.order):
        if id(n) in direct:
            continue
        path = None
        for c, _ in n.next_functions:
            if c is not None:
                k = id(c)
                path = _lca(path, direct[k] if k in direct else up.get(k))
        up[id(n)] = path
    down: dict[int, str | None] = {}
    res: dict[int, str] = {}
    for n in g.order:
        k = id(n)
        if k in direct:
            res[k] = direct[k]
            continue
        path = None
        for p in g.consumers.get(k, ()):
            pk = id(p)
            path = _lca(path, direct[pk] if pk in direct else down.get(pk))
        down[k] = path
        if path is not None and up[k] is not None:
            res[k] = _lca(path, up[k]) or ""
    return {k: v for k, v in res.items() if v}


# ---------------------------------------------------------------------------------------------
# Drawing


def _grad_color(frac: float) -> str:
    # Light blue (small) through yellow to red (large), as graphviz "H S V".
    hue = 0.58 * (1.0 - frac)
    return f"{hue:.3f} {0.35 + 0.4 * frac:.3f} 1.000"


def make_dot(
    var: Any,
    params: dict[str, Any] | None = None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
    *,
    module: Any = None,
    collapse_depth: int | None = None,
    show_shapes: bool = True,
    show_grad_norms: bool = False,
    show_memory: bool = False,
) -> Any:
    """Draw the backward graph of `var` (a tensor or a tuple of tensors) as a `graphviz.Digraph`,
    with torchviz's conventions (`torchviz.make_dot`).

    Outputs are green, leaves that require grad light blue (labelled with their name from
    `params`, a dict name -> tensor such as `dict(model.named_parameters())`, and their shape),
    operation nodes grey with their `grad_fn` name; `show_saved` adds the saved tensors in orange
    and `show_attrs` the op's arguments (stride, padding, dim, ...), cut to `max_attr_chars`.

    Beyond torchviz: `show_shapes` labels each edge with the shape and dtype of the gradient that
    flows on it (the shape of the input it reaches). `module=model` groups nodes into nested
    clusters by module path (inferred from which parameters each op reads, see
    `_assign_modules`), and `collapse_depth=k` draws each module deeper than `k` levels as one
    node. `show_grad_norms` (after a backward pass) writes each leaf's gradient norm and colours
    it from light blue (smallest) to red (largest); leaves with no gradient get a dashed border,
    and parameters in `params` with `requires_grad=False` (never part of the graph) are listed in
    a "frozen" cluster. `show_memory` writes the bytes each node's saved tensors hold, and the
    graph's total (each array counted once) in the graph label.

    Render with `dot.render(...)`, `dot.pipe(format="png")` or `render_dot`; Jupyter shows the
    returned object inline. Needs the `graphviz` Python package (`pip install graphviz`), and the
    `dot` program to render (`apt-get install graphviz`).

    >>> import dygrad as torch
    >>> x = torch.zeros(1, requires_grad=True)
    >>> dot = make_dot(x + 1, params={"x": x})
    >>> [line.strip().split(" [")[0] for line in dot.body if "label" in line and "->" not in line]
    ... # doctest: +ELLIPSIS
    ['...', '...', '...', '...']
    >>> src = dot.source
    >>> "AddBackward0" in src and "darkolivegreen1" in src and "x\\n (1)" in src
    True
    """
    roots = _roots(var)
    names = _param_names(params)
    if module is not None and not (
        callable(getattr(module, "named_parameters", None))
        and callable(getattr(module, "named_modules", None))
    ):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    check_depth("collapse_depth", collapse_depth)
    if collapse_depth is not None and module is None:
        raise ValueError("collapse_depth needs module=: it collapses the modules of that model")
    if isinstance(max_attr_chars, bool) or not isinstance(max_attr_chars, int):
        raise TypeError(f"max_attr_chars must be an int, got {type(max_attr_chars).__name__}")
    try:
        import graphviz
    except ImportError as e:
        raise ImportError(
            "make_dot needs the graphviz Python package: pip install graphviz (and, to render, "
            "the dot program: apt-get install graphviz). print_graph(var) needs neither."
        ) from e

    g = _Graph(roots)
    max_attr_chars = max(max_attr_chars, 3)

    paths: dict[int, str] = _assign_modules(g, module) if module is not None else {}
    classes: dict[str, str] = {}
    if module is not None:
        classes = {p: type(m).__name__ for p, m in module.named_modules() if p}

    def unit_of(path: str | None) -> str | None:
        # The collapsed module a path falls into, if any.
        if path is None or collapse_depth is None:
            return None
        parts = path.split(".")
        if len(parts) <= collapse_depth:
            return None
        return ".".join(parts[: collapse_depth + 1])

    # Statements per cluster path ("" = top level).
    body: dict[str, list[str]] = {"": []}
    scratch = graphviz.Digraph()

    def emit(path: str | None, kind: str, *args: Any, **kw: Any) -> None:
        scratch.body.clear()
        getattr(scratch, kind)(*args, **kw)
        body.setdefault(path or "", []).extend(scratch.body)

    collapsed: dict[str, str] = {}  # unit path -> node id
    drawn_edges: set[tuple[str, str]] = set()

    def place(k: int) -> tuple[str, str | None]:
        """(graphviz id, cluster path) of node id k, folding collapsed modules."""
        path = paths.get(k)
        u = unit_of(path)
        if u is None:
            return str(k), path
        if u not in collapsed:
            collapsed[u] = f"module:{u}"
            parent = u.rpartition(".")[0]
            label = f"{u}\n({classes.get(u, 'Module')})"
            emit(parent, "node", collapsed[u], label, fillcolor=MODULE_COLOR, shape="box3d")
        return collapsed[u], None

    def edge(a: str, b: str, label: str = "", **kw: Any) -> None:
        if a == b or (a, b) in drawn_edges:
            return
        drawn_edges.add((a, b))
        if label:
            kw["label"] = " " + label
            kw["fontsize"] = "8"
            kw["fontname"] = "monospace"
        emit(None, "edge", a, b, **kw)

    # Gradient norms of the leaves, for the colour scale.
    norms: dict[int, float] = {}
    if show_grad_norms:
        for n in g.order:
            if isinstance(n, AccumulateGrad) and n.variable.grad is not None:
                a = n.variable.grad._data
                norms[id(n)] = float(math.sqrt(float((a.astype("float64") ** 2).sum())))
    positive = [math.log10(v) for v in norms.values() if v > 0]
    lo, hi = (min(positive), max(positive)) if positive else (0.0, 0.0)

    total_seen: dict[int, tuple[int, bool]] = {}
    for t, fn in roots:
        emit(None, "node", str(id(t)), _fmt_shape(t.shape), fillcolor=OUTPUT_COLOR)
        if fn is not None:
            label = _fmt_meta(g.outs.get(id(fn), {}).get(t.output_nr)) if show_shapes else ""
            edge(place(id(fn))[0], str(id(t)), label)

    for n in g.order:
        k = id(n)
        nid, path = place(k)
        folded = nid != str(k)
        if isinstance(n, AccumulateGrad):
            leaf = n.variable
            lid = nid if folded else str(id(leaf))
            if not folded:
                label = _leaf_label(leaf, names)
                attrs: dict[str, str] = {"fillcolor": LEAF_COLOR}
                if show_grad_norms:
                    if k in norms:
                        v = norms[k]
                        label += f"\ngrad norm {v:.3g}"
                        frac = 0.0 if v <= 0 or hi == lo else (math.log10(v) - lo) / (hi - lo)
                        attrs["fillcolor"] = _grad_color(frac)
                    else:
                        label += "\nno grad"
                        attrs.update(fillcolor="white", style="filled,dashed", penwidth="2")
                emit(path, "node", lid, label, **attrs)
                emit(path, "node", nid, "AccumulateGrad")
            edge(lid, nid)
        elif not folded:
            label = type(n).__name__
            if show_attrs:
                label = _attr_label(label, _attrs(n), max_attr_chars)
            if show_memory:
                held = sum(_array(a).nbytes for _, a in _saved_items(n))
                if held:
                    label += f"\nsaved {_fmt_bytes(held)}"
            emit(path, "node", nid, label)
        for name, v in _saved_items(n):
            a = _array(v)
            total_seen.setdefault(id(a), (a.nbytes, isinstance(v, Tensor) and v.is_leaf))
            if show_saved and not folded:
                sid = f"saved:{id(a)}"
                emit(path, "node", sid, f"{name}\n {_fmt_shape(a.shape)}", fillcolor=SAVED_COLOR)
                edge(nid, sid, dir="none")
        for i, (c, _) in enumerate(n.next_functions):
            if c is not None:
                m = g.edges.get((k, i))
                edge(place(id(c))[0], nid, _fmt_meta(m) if show_shapes else "")

    graph_label: list[str] = []
    if show_grad_norms:
        frozen = [
            (name, p)
            for name, p in (params or {}).items()
            if isinstance(p, Tensor) and not p.requires_grad
        ]
        if frozen:
            for name, p in frozen:
                label = f"{name}\n {_fmt_shape(p.shape)}\nfrozen"
                emit(
                    "frozen", "node", f"frozen:{id(p)}", label,
                    fillcolor=FROZEN_COLOR, style="filled,dashed",
                )  # fmt: skip
        if positive:
            graph_label.append(
                f"grad norm colour: light blue {10**lo:.3g} .. red {10**hi:.3g} (log scale); "
                "dashed: no gradient"
            )
    if show_memory:
        total = sum(b for b, _ in total_seen.values())
        leaves = sum(b for b, is_leaf in total_seen.values() if is_leaf)
        graph_label.append(
            f"saved tensors: {_fmt_bytes(total)} in all ({_fmt_bytes(total - leaves)} "
            f"intermediates, {_fmt_bytes(leaves)} leaves; each array counted once)"
        )

    dot = _digraph_class()(node_attr=NODE_ATTR, graph_attr=dict(size="12,12"))
    if graph_label:
        dot.attr(label="\n".join(graph_label), labelloc="b", fontname="monospace", fontsize="10")
    _nest(dot, body, classes, graphviz)
    return dot


def _nest(dot: Any, body: dict[str, list[str]], classes: dict[str, str], graphviz: Any) -> None:
    """Put each path's statements in nested `cluster_<path>` subgraphs, deepest first."""
    every: set[str] = set()
    for p in body:
        parts = p.split(".") if p else []
        for j in range(1, len(parts) + 1):
            every.add(".".join(parts[:j]))
    subs: dict[str, Any] = {}
    for p in sorted(every, key=lambda s: -s.count(".")):
        if p == "frozen":
            label = "frozen (requires_grad=False)"
        else:
            label = f"{p} ({classes.get(p, 'Module')})"
        sub = graphviz.Digraph(name=f"cluster_{p}")
        sub.attr(label=label, style="rounded,dashed", fontname="monospace", fontsize="10")
        sub.body.extend(body.get(p, ()))
        subs[p] = sub
    for p in sorted(every, key=lambda s: -s.count(".")):
        parent = p.rpartition(".")[0]
        if parent:
            subs[parent].subgraph(subs[p])
    dot.body.extend(body[""])
    for p in sorted(every):
        if "." not in p:
            dot.subgraph(subs[p])


def _attr_label(name: str, attrs: list[tuple[str, Any]], max_chars: int) -> str:
    # torchviz's layout: the name, a rule, then "key: value" lines with values cut to max_chars.
    if not attrs:
        return name
    w1 = max(len(k) for k, _ in attrs)
    w2 = min(max(len(str(v)) for _, v in attrs), max_chars)

    def cut(s: str) -> str:
        return s[: w2 - 3] + "..." if len(s) > w2 else s

    sep = "-" * max(w1 + w2 + 2, len(name))
    lines = [f"{k:<{w1}}: {cut(str(v)):>{w2}}" for k, v in attrs]
    return name + "\n" + sep + "\n" + "\n".join(lines)


NO_DOT = (
    "rendering needs graphviz's `dot` program, which was not found on PATH: install it "
    "with `apt-get install graphviz` (or `brew install graphviz`, `conda install "
    "graphviz`); print_graph(var) draws the graph as text without it"
)


def _digraph_class() -> Any:
    """graphviz.Digraph whose pipe/render name the missing `dot` program and how to install it."""
    import graphviz

    class Digraph(graphviz.Digraph):  # type: ignore[misc]
        def pipe(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().pipe(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise RuntimeError(NO_DOT) from e

        def render(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().render(*args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                raise RuntimeError(NO_DOT) from e

    return Digraph


def render_dot(dot: Any, path: str, format: str = "png") -> str:  # noqa: A002 (graphviz name)
    """Write `dot` (from `make_dot`) to `path` as `format` ("png", "svg", "pdf", ...) through
    graphviz's `dot` program, with an install hint when the program is missing (like
    `graphviz.Digraph.render`, which torchviz users call). Returns `path`.

    >>> import dygrad as torch
    >>> render_dot  # doctest: +ELLIPSIS
    <function render_dot at ...>
    """
    if not callable(getattr(dot, "pipe", None)):
        raise TypeError(
            f"render_dot expects a graphviz graph from make_dot, got {type(dot).__name__}"
        )
    import graphviz

    try:
        data = dot.pipe(format=format)
    except graphviz.ExecutableNotFound as e:
        raise RuntimeError(NO_DOT) from e
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------------------------------------
# Text


def print_graph(
    var: Any,
    params: dict[str, Any] | None = None,
    file: IO[str] | None = None,
    show_shapes: bool = True,
    max_depth: int | None = None,
) -> None:
    """Print the backward graph of `var` as indented text: what `make_dot` draws, without
    graphviz (dygrad's own; PyTorch has no such function).

    One line per node, numbered: outputs, then each `grad_fn` with the shape and dtype it
    produces. A node's inputs follow it: the input with the longest path below it continues at the
    same indentation (so a long chain stays flat), the others are indented beneath it with `└─`.
    A node reached a second time is printed as `-> (see #k)`. `max_depth` stops after that many
    edges from the outputs.

    >>> import dygrad as torch
    >>> w = torch.ones(3, requires_grad=True)
    >>> print_graph((w * 2).sum(), params={"w": w})
    output (): float32
    #1 SumBackward0 -> () float32
    #2 MulBackward0 -> (3) float32
    └─ #3 AccumulateGrad <- w (3) float32
    """
    check_file(file)
    check_depth("max_depth", max_depth)
    out = sys.stdout if file is None else file
    roots = _roots(var)
    names = _param_names(params)
    g = _Graph(roots)
    height: dict[int, int] = {}
    for n in reversed(g.order):
        h = 0
        for c, _ in n.next_functions:
            if c is not None:
                h = max(h, height[id(c)] + 1)
        height[id(n)] = h
    number: dict[int, int] = {}
    lines: list[str] = []
    # (node, indent, depth, is_side)
    stack: list[tuple[Node, int, int, bool]] = []
    for _, fn in reversed(roots):
        if fn is not None:
            stack.append((fn, 0, 1, False))
    head = [f"output {_fmt_shape(t.shape)}: {t._data.dtype}" for t, _ in roots]
    for t, fn in roots:
        if fn is None:
            kind = "leaf, requires grad" if t.requires_grad else "no grad_fn"
            head[[r[0] for r in roots].index(t)] += f" ({kind})"
    lines.extend(head)
    while stack:
        n, indent, depth, side = stack.pop()
        pad = "   " * (indent - 1) + "└─ " if side else "   " * indent
        k = id(n)
        if k in number:
            lines.append(f"{pad}-> (see #{number[k]}) {type(n).__name__}")
            continue
        number[k] = len(number) + 1
        text = f"{pad}#{number[k]} {type(n).__name__}"
        if isinstance(n, AccumulateGrad):
            leaf = n.variable
            name = names.get(id(leaf))
            text += " <- " + (f"{name} " if name else "leaf ")
            text += _fmt_meta(_meta_of(leaf)) if show_shapes else ""
        elif show_shapes:
            m = g.out_meta(n)
            if m is not None:
                text += " -> " + _fmt_meta(m)
            held = sum(_array(a).nbytes for _, a in _saved_items(n))
            if held:
                text += f"  [saved {_fmt_bytes(held)}]"
        kids = [c for c, _ in n.next_functions if c is not None]
        if kids and max_depth is not None and depth >= max_depth:
            lines.append(text + "  ...")
            continue
        lines.append(text)
        if not kids:
            continue
        spine = max(range(len(kids)), key=lambda j: height[id(kids[j])])
        if height[id(kids[spine])] == 0:
            spine = -1  # only leaves below: indent them all
        else:
            stack.append((kids[spine], indent, depth + 1, False))
        for j in range(len(kids) - 1, -1, -1):
            if j != spine:
                stack.append((kids[j], indent + 1, depth + 1, True))
    out.write("\n".join(lines) + "\n")
