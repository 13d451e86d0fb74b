"""Graph passes over a traced Graph: dead-code elimination, common-subexpression elimination,
constant folding and fusion of elementwise chains. Each pass changes the graph in place, keeps
what a run must produce (`Graph.roots()`) and every random draw, and returns what it did."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..ops.indexing import _masked_fill_shape
from ..ops.nnops import _same as _nn_same_shape
from ..ops.pointwise import _bcast_shape, _bool_shape, _clamp_shape, _same_shape, _where_shape
from ..ops.registry import Op
from ..tensor import Tensor
from .interp import run_node
from .ir import DataRef, Graph, Node, PseudoOp, Value

__all__ = [
    "dce", "cse", "fold_constants", "fuse_elementwise", "optimize", "OptimizeStats",
    "is_elementwise", "FUSED", "PASSES",
]  # fmt: skip


def _no_forward() -> Any:
    raise RuntimeError("a fused node runs its sub-nodes one by one (dygrad.jit.interp.run_node)")


# What a fused node applies: a marker; `fused` holds the sub-nodes that compute its outputs.
FUSED = PseudoOp("fused", _no_forward)

# Shape rules that only elementwise ops declare: the output element at an index depends only on
# the inputs' elements at that index (after broadcasting). The op declarations say it; no list of
# op names is kept here.
_ELEMENTWISE_SHAPES: tuple[Callable[..., Any], ...] = (
    _same_shape, _bcast_shape, _nn_same_shape, _bool_shape, _clamp_shape, _where_shape,
    _masked_fill_shape,
)  # fmt: skip


def _is_random(n: Node) -> bool:
    return bool(getattr(n.op, "random", False))


def is_elementwise(op: Op | PseudoOp) -> bool:
    """Whether `op` computes each output element from the inputs' elements at the same index
    (after broadcasting) alone: what `fuse_elementwise` merges into chains.

    >>> from dygrad.ops.registry import REGISTRY
    >>> is_elementwise(REGISTRY["mul"]), is_elementwise(REGISTRY["sum_all"])
    (True, False)
    """
    if isinstance(op, PseudoOp) or op.random or op.variadic or op.n_outputs != 1:
        return False
    return any(op.shape is s for s in _ELEMENTWISE_SHAPES)


# --- rewriting values --------------------------------------------------------------------------


def _remap(a: Any, rep: dict[int, Value]) -> Any:
    """`a` with each value in `rep` replaced (containers rebuilt only where something changed)."""
    t = type(a)
    if t is Value:
        return rep.get(a.id, a)
    if t is DataRef:
        r = rep.get(a.value.id)
        return a if r is None else DataRef(r)
    if t is list or t is tuple:
        new = [_remap(x, rep) for x in a]
        if all(x is y for x, y in zip(new, a, strict=True)):
            return a
        return new if t is list else tuple(new)
    if t is slice:
        return slice(_remap(a.start, rep), _remap(a.stop, rep), _remap(a.step, rep))
    return a


def _remap_node(n: Node, rep: dict[int, Value]) -> None:
    n.args = _remap(n.args, rep)
    for m in n.fused or ():
        m.args = _remap(m.args, rep)


def _remap_roots(g: Graph, rep: dict[int, Value]) -> None:
    """Point outputs, guards and written-back values at the values that replace them."""
    if not rep:
        return

    def f(v: Value) -> Value:
        return rep.get(v.id, v)

    g.outputs = [f(v) for v in g.outputs]
    g.out_leaves = [f(v) if isinstance(v, Value) else v for v in g.out_leaves]
    for gd in g.guards:
        gd.value = f(gd.value)
    g.mutations = [(tgt, f(v)) for tgt, v in g.mutations]


def _resolve(rep: dict[int, Value]) -> None:
    # A value replaced by one that is itself replaced: point straight at the last one.
    for k, v in rep.items():
        while v.id in rep and rep[v.id] is not v:
            v = rep[v.id]
        rep[k] = v


def _all_values(n: Node) -> list[Value]:
    if n.fused is None:
        return n.tensor_args()
    return [v for m in n.fused for v in m.tensor_args()]


# --- dead-code elimination ---------------------------------------------------------------------


def dce(graph: Graph) -> dict[str, int]:
    """Remove the nodes and constants that nothing a run must produce depends on.

    Outputs, guarded values and written-back values are kept with everything they need; so is
    every random draw (dropping one would shift the random stream that later draws see).

    >>> import dygrad as torch
    >>> from dygrad.jit.tracer import trace_graph
    >>> def f(x):
    ...     unused = x.exp()
    ...     return x * 2
    >>> g, _ = trace_graph(f, (torch.ones(2),), {})
    >>> dce(g)
    {'nodes_removed': 1, 'consts_removed': 0}
    >>> g.op_counts()
    {'mul': 1}
    """
    needed = {v.id for v in graph.roots()}
    keep: list[Node] = []
    for n in reversed(graph.nodes):
        if _is_random(n) or any(v.id in needed for v in n.outputs):
            keep.append(n)
            needed.update(v.id for v in _all_values(n))
    keep.reverse()
    removed = len(graph.nodes) - len(keep)
    graph.nodes = keep
    consts = [v for v in graph.const_values if v.id in needed]
    for v in graph.const_values:
        if v.id not in needed:
            del graph.consts[v.id]
    n_consts = len(graph.const_values) - len(consts)
    graph.const_values = consts
    return {"nodes_removed": removed, "consts_removed": n_consts}


# --- common-subexpression elimination ----------------------------------------------------------


def _key(a: Any) -> Any:
    """A hashable key equal for attributes that make an op compute the same thing: types count
    (2 and 2.0 promote differently, and so do True and 1), floats by their bits (0.0 and -0.0
    differ), arrays and unknown objects by identity."""
    t = type(a)
    if t is Value:
        return ("v", a.id)
    if t is DataRef:
        return ("d", a.value.id)
    if a is None or a is Ellipsis or t is bool or t is int or t is str:
        return (t.__name__, a)
    if t is float:
        return ("f", a.hex())
    if t is complex:
        return ("c", a.real.hex(), a.imag.hex())
    if t is tuple or t is list:
        return (t.__name__, *[_key(x) for x in a])
    if t is slice:
        return ("s", _key(a.start), _key(a.stop), _key(a.step))
    if isinstance(a, np.dtype):
        return ("dtype", a.str)
    if isinstance(a, np.generic):
        return ("np", a.dtype.str, a.tobytes())
    return ("id", id(a))


def cse(graph: Graph, max_const_bytes: int = 1 << 16) -> dict[str, int]:
    """Merge nodes that apply the same op to the same values with equal attributes, and equal
    constants (up to `max_const_bytes` each); users, outputs and guards move to the survivor.

    Random draws are never merged. Two values the caller receives as separate outputs are never
    merged into one, so that changing one in place cannot change the other.

    >>> import dygrad as torch
    >>> from dygrad.jit.tracer import trace_graph
    >>> g, _ = trace_graph(lambda x: x * 2 + x * 2, (torch.ones(2),), {})
    >>> cse(g)
    {'nodes_merged': 1, 'consts_merged': 0}
    >>> g.op_counts()
    {'mul': 1, 'add': 1}
    """
    rep: dict[int, Value] = {}
    outs = {v.id for v in graph.outputs}  # grows as outputs move to survivors

    def may_merge(a: Value, b: Value) -> bool:
        return not (a.id in outs and b.id in outs) or a is b

    def merge(a: Value, b: Value) -> None:
        rep[a.id] = b
        if a.id in outs:
            outs.add(b.id)

    seen: dict[Any, Value] = {}
    kept_consts: list[Value] = []
    for v in graph.const_values:
        arr = graph.consts[v.id]
        if arr.nbytes <= max_const_bytes:
            ck = (arr.dtype.str, arr.shape, arr.tobytes())
            first = seen.get(ck)
            if first is not None and may_merge(v, first):
                merge(v, first)
                del graph.consts[v.id]
                continue
            seen.setdefault(ck, v)
        kept_consts.append(v)
    n_consts = len(graph.const_values) - len(kept_consts)
    graph.const_values = kept_consts

    table: dict[Any, Node] = {}
    keep: list[Node] = []
    for n in graph.nodes:
        _remap_node(n, rep)
        if n.fused is not None or _is_random(n):
            keep.append(n)
            continue
        out_types = tuple((v.shape, v.dtype.str) for v in n.outputs)
        k = (id(n.op), n.inplace, n.grad_enabled, out_types, _key(n.args))
        other = table.get(k)
        if other is not None and all(
            may_merge(a, b) for a, b in zip(n.outputs, other.outputs, strict=True)
        ):
            for a, b in zip(n.outputs, other.outputs, strict=True):
                merge(a, b)
            continue
        table.setdefault(k, n)
        keep.append(n)
    merged = len(graph.nodes) - len(keep)
    graph.nodes = keep
    _remap_roots(graph, rep)
    return {"nodes_merged": merged, "consts_merged": n_consts}


# --- constant folding --------------------------------------------------------------------------


def fold_constants(graph: Graph, max_bytes: int = 1 << 24) -> dict[str, int]:
    """Compute once, while optimizing, the nodes that read only constants, and make their results
    constants (at most `max_bytes` each); the constants they read are left for `dce`.

    The results are what a run would compute, op by op through the registry, dtypes included.
    Never folded: random draws, nodes reading inputs or outside tensors (parameters change between
    runs), and nodes whose result the caller receives (a returned constant would be one array
    shared by every run, and changing it in place would change later runs).

    >>> import dygrad as torch
    >>> from dygrad.jit.tracer import trace_graph
    >>> g, _ = trace_graph(lambda x: x + (torch.ones(2) * 2 + 1), (torch.ones(2),), {})
    >>> fold_constants(g), dce(g)["consts_removed"]
    ({'nodes_folded': 2, 'consts_added': 2}, 2)
    >>> g.consts[g.const_values[0].id]
    array([3., 3.], dtype=float32)
    """
    consts = {v.id for v in graph.const_values}
    returned = {v.id for v in graph.outputs}
    env: dict[int, Any] = {}
    rep: dict[int, Value] = {}
    keep: list[Node] = []
    added = 0
    for n in graph.nodes:
        _remap_node(n, rep)
        vals = n.tensor_args()
        if (
            n.fused is not None
            or _is_random(n)
            or any(v.id not in consts for v in vals)
            or any(v.id in returned for v in n.outputs)
        ):
            keep.append(n)
            continue
        for v in vals:
            if v.id not in env:
                env[v.id] = Tensor._wrap(graph.consts[v.id], False, None, 0)
        arrs = _evaluate(n, env)
        if arrs is None or any(
            a.shape != v.shape or a.dtype != v.dtype or a.nbytes > max_bytes
            for a, v in zip(arrs, n.outputs, strict=True)
        ):
            keep.append(n)
            continue
        for a, v in zip(arrs, n.outputs, strict=True):
            c = graph.add_const(a)
            added += 1
            consts.add(c.id)
            rep[v.id] = c
    folded = len(graph.nodes) - len(keep)
    graph.nodes = keep
    _resolve(rep)
    _remap_roots(graph, rep)
    return {"nodes_folded": folded, "consts_added": added}


def _evaluate(n: Node, env: dict[int, Any]) -> list[np.ndarray] | None:
    # The node as a run computes it (`run_node`: same dispatch, same in-place dtype rule); None
    # when it fails here, so that the run reports the error where the user's code made it.
    try:
        with no_grad():
            outs = run_node(n, env)
    except Exception:  # noqa: BLE001 - left to the run, which raises it in the user's terms
        return None
    if len(outs) != len(n.outputs):
        return None
    arrs = [o._data if isinstance(o, Tensor) else np.asarray(o) for o in outs]
    # A view (reshape, expand) would share memory with the constant it was taken from: every
    # constant owns its array, so that no run can reach one through another.
    return [a if a.flags.owndata else a.copy() for a in arrs]


# --- fusion of elementwise chains --------------------------------------------------------------


def fuse_elementwise(graph: Graph) -> dict[str, int]:
    """Merge each maximal group of elementwise nodes (`is_elementwise`) in which every value but
    the last node's is read only inside the group, and is neither returned, guarded nor written
    back, into one node: its `fused` list holds the sub-nodes in order, its outputs are the last
    node's, its arguments the values the group reads from outside.

    The sub-nodes are kept as they were: running the fused node runs them one by one, and a
    compiled replay can keep the group's intermediate values in one buffer.

    >>> import dygrad as torch
    >>> from dygrad.jit.tracer import trace_graph
    >>> g, _ = trace_graph(lambda x: (x * 2 + 1).tanh().sum(), (torch.ones(2),), {})
    >>> fuse_elementwise(g)
    {'groups': 1, 'nodes_fused': 3}
    >>> [n.name for n in g.nodes], [m.name for m in g.nodes[0].fused]
    (['fused', 'sum_all'], ['mul', 'add', 'tanh'])
    """
    nodes = graph.nodes
    users = graph.users()
    roots = {v.id for v in graph.roots()}
    group_of: dict[int, int] = {}  # id(node) -> its group (the index of its last node)
    members: dict[int, list[int]] = {}
    # Backwards, so that all of a node's users have their groups when it is placed.
    for i in range(len(nodes) - 1, -1, -1):
        n = nodes[i]
        if n.fused is not None or not is_elementwise(n.op):
            continue
        target = _single_group(n, users, roots, group_of)
        gid = i if target is None else target
        group_of[id(n)] = gid
        members.setdefault(gid, []).append(i)
    fused_at: dict[int, Node] = {}
    drop: set[int] = set()
    n_fused = 0
    for gid, idx in members.items():
        if len(idx) < 2:
            continue
        idx.sort()
        subs = [nodes[i] for i in idx]
        made = {v.id for m in subs for v in m.outputs}
        ins: list[Value] = []
        seen: set[int] = set()
        for m in subs:
            for v in m.tensor_args():
                if v.id not in made and v.id not in seen:
                    seen.add(v.id)
                    ins.append(v)
        last = nodes[gid]
        f = Node(FUSED, list(ins), last.site, last.scope)
        f.outputs = list(last.outputs)
        f.fused = subs
        fused_at[gid] = f
        drop.update(idx)
        n_fused += len(idx)
    if fused_at:
        graph.nodes = [fused_at.get(i, n) for i, n in enumerate(nodes)
                       if i in fused_at or i not in drop]  # fmt: skip
    return {"groups": len(fused_at), "nodes_fused": n_fused}


def _single_group(n: Node, users: dict[int, list[Node]], roots: set[int],
                  group_of: dict[int, int]) -> int | None:  # fmt: skip
    """The group all of `n`'s users belong to, if its values are read only there (and are not
    roots); None: `n` ends a group of its own."""
    target: int | None = None
    for v in n.outputs:
        if v.id in roots:
            return None
        us = users.get(v.id)
        if not us:
            return None
        for u in us:
            gid = group_of.get(id(u))
            if gid is None or (target is not None and gid != target):
                return None
            target = gid
    return target


# --- all of them -------------------------------------------------------------------------------

PASSES: dict[str, Callable[[Graph], dict[str, int]]] = {
    "fold": fold_constants,
    "cse": cse,
    "dce": dce,
    "fuse": fuse_elementwise,
}


class OptimizeStats:
    """What `optimize` did: node counts before and after, and each pass's own counts."""

    def __init__(self, nodes_before: int) -> None:
        self.nodes_before = nodes_before
        self.nodes_after = nodes_before
        self.passes: list[tuple[str, dict[str, int]]] = []

    def __getitem__(self, name: str) -> dict[str, int]:
        """The counts of the last run of pass `name`."""
        for p, s in reversed(self.passes):
            if p == name:
                return s
        raise KeyError(name)

    def __str__(self) -> str:
        parts = []
        for p, s in self.passes:
            what = ", ".join(f"{k}={v}" for k, v in s.items() if v)
            parts.append(f"{p}({what})")
        return f"{self.nodes_before} -> {self.nodes_after} nodes: {', '.join(parts)}"

    def __repr__(self) -> str:
        return f"<OptimizeStats {self}>"


def optimize(graph: Graph, passes: Iterable[str] = ("fold", "cse", "dce", "fuse"),
             ) -> OptimizeStats:  # fmt: skip
    """Run the named passes in order on `graph` (in place): "fold" (`fold_constants`), "cse",
    "dce", "fuse" (`fuse_elementwise`). A run of the optimized graph computes the same outputs,
    gradients, guards and written-back values as before.

    >>> import dygrad as torch
    >>> from dygrad.jit.tracer import trace_graph
    >>> def f(x):
    ...     c = torch.ones(2) * 2
    ...     return (x * c + x * c).tanh().sum()
    >>> g, _ = trace_graph(f, (torch.ones(2),), {})
    >>> print(optimize(g))
    6 -> 2 nodes: fold(nodes_folded=1, consts_added=1), cse(nodes_merged=1),
    dce(consts_removed=1), fuse(groups=1, nodes_fused=3)
    """
    names = list(passes)
    for p in names:
        if p not in PASSES:
            raise ValueError(f"optimize(): unknown pass {p!r}; the passes are {', '.join(PASSES)}")
    stats = OptimizeStats(len(graph.nodes))
    for p in names:
        stats.passes.append((p, PASSES[p](graph)))
    stats.nodes_after = len(graph.nodes)
    return stats
