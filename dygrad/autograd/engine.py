"""The backward engine: every node runs once, after all of its consumers (newest node first, by the
sequence numbers nodes get when made), summing gradients that meet. Iterative throughout; knows
no specific op."""

from __future__ import annotations

from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

from .grad_mode import state
from .graph import AccumulateGrad, Node

_nd = np.ndarray

__all__ = ["run_backward"]


def _needed(roots: Sequence[Node], targets: set[Node]) -> set[Node]:
    """The nodes from which some target can be reached (targets included): only these need to
    run when gradients are captured rather than accumulated (`autograd.grad`, `inputs=`)."""
    needed: set[Node] = set()
    seen: set[Node] = set()
    # Iterative post-order: a node is decided after all of its next_functions.
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            if node in targets or any(
                nxt in needed for nxt, _ in node.next_functions if nxt is not None
            ):
                needed.add(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                stack.append((nxt, False))
    return needed


def _add(buffers: dict[Node, Any], node: Node, nr: int, g: Any) -> None:
    # Gradients meeting at one output are summed out of place: the arriving arrays may be shared
    # with other consumers (an add sends the same gradient to both inputs).
    if node.n_outputs == 1:
        prev = buffers.get(node)
        buffers[node] = g if prev is None else prev + g
    else:
        slots = buffers.get(node)
        if slots is None:
            slots = buffers[node] = [None] * node.n_outputs
        prev = slots[nr]
        slots[nr] = g if prev is None else prev + g


def _shared(out: Sequence[Any]) -> Any:
    # The ids of the arrays a node sends along more than one edge (by identity: arrays compare
    # elementwise): one pass per node, not one per edge (a compiled node has an edge per leaf).
    # (A node of two edges is checked where it is used, without this call.)
    if len(out) < 2:
        return ()
    ids = [id(o) for o in out if o is not None]
    if len(set(ids)) == len(ids):
        return ()
    return {i for i in ids if ids.count(i) > 1}


def run_backward(
    roots: Sequence[tuple[Node, int]],
    grads: Sequence[Any],
    *,
    retain_graph: bool,
    create_graph: bool,
    capture: Sequence[tuple[Node, int]] = (),
    accumulate: bool = True,
    observe: Any = None,
) -> list[Any]:
    """Propagate `grads` (one per root edge) back through the graph.

    `observe(node, grad_in, grads_out)`, when given, is called after each node runs
    (AccumulateGrad included, with grads_out None): the gradient that reached the node and the
    one it sent along each edge. Tools (the step-through viewer) build on it.

    Gradients reaching the edges in `capture` are returned in that order (None where nothing
    arrived). With `accumulate=False` leaves' `.grad` is left untouched (`autograd.grad`).
    Backward rules run with grad mode equal to `create_graph`, so that with `create_graph=True`
    the gradients carry graphs of their own.
    """
    buffers: dict[Node, Any] = {}
    # The nodes holding a gradient, run in the order of their sequence numbers, newest first
    # (PyTorch's order): a node is made after the nodes of its inputs, so when it is the newest
    # left, no node still to run can send it more; it runs once, after all of its consumers.
    # No count of dependencies, no traversal before the walk. A leaf's node is numbered half a
    # step below the oldest node that used it (AccumulateGrad).
    pending: list[Any] = []  # a heap of (-_seq, _made, node)
    for (node, nr), g in zip(roots, grads):
        if node not in buffers:
            heappush(pending, (-node._seq, node._made, node))
        _add(buffers, node, nr, g)
        if not retain_graph and accumulate:
            node._consumed = True
    want: dict[Node, list[tuple[int, int]]] = {}
    for i, key in enumerate(capture):
        want.setdefault(key[0], []).append((i, key[1]))
    captured: list[Any] = [None] * len(capture)
    needed = _needed(list(buffers), set(want)) if not accumulate else None
    owned_grads: set[Node] = set()
    # Leaves accumulate as soon as their oldest user has sent its gradients (see below), unless
    # something else looks at that gradient.
    direct = accumulate and needed is None and not want and observe is None

    check = state.backward_check
    prev_mode = state.enabled
    state.enabled = create_graph
    try:
        while pending:
            node = heappop(pending)[2]
            g = buffers.pop(node)
            if needed is not None and node not in needed:
                continue  # leads to no requested input: skip it, hooks included
            pre = node._pre_hooks  # once: a leaf's node reads them from its tensor
            if pre:
                for hook in tuple(pre.values()):
                    new = hook(g, create_graph)
                    if new is not None:
                        g = new
            if node._retain is not None:
                node._retain(g, create_graph)
            if want and node in want:
                for i, nr in want[node]:
                    captured[i] = g if node.n_outputs == 1 else g[nr]
            if type(node) is AccumulateGrad:
                if accumulate:
                    owned = node in owned_grads and not pre
                    node.variable._accumulate_grad(g, create_graph, owned)
                    if node._post_hooks:  # after the accumulation, as PyTorch: ((), (g,))
                        for hook in tuple(node._post_hooks.values()):
                            hook((), g)
                if observe is not None:
                    observe(node, g, None)
                continue
            out = node._apply(g, create_graph) if check is None else check(node, g, create_graph)
            fresh = node._fresh_grads
            if node._post_hooks:
                fresh = False
                for hook in tuple(node._post_hooks.values()):
                    new = hook(out, g)
                    if new is not None:
                        out = tuple(new)
            if not retain_graph:
                node._release()
            shared = None  # _shared(out), worked out when a leaf first needs it
            done: list[Any] | None = None  # leaves whose whole gradient this node completes
            i = -1
            for nxt, nr in node.next_functions:
                i += 1
                if nxt is None:
                    continue
                gi = out[i]
                if gi is None:
                    continue
                if nxt.n_outputs != 1:
                    if nxt not in buffers:
                        heappush(pending, (-nxt._seq, 0, nxt))
                    _add(buffers, nxt, nr, gi)
                    continue
                prev = buffers.get(nxt)
                if prev is not None:  # meets a gradient from another use
                    buffers[nxt] = prev + gi
                    if type(nxt) is AccumulateGrad:
                        owned_grads.add(nxt)  # the sum is a new array
                    continue
                if type(nxt) is not AccumulateGrad:
                    buffers[nxt] = gi
                    heappush(pending, (-nxt._seq, 0, nxt))
                    continue
                # The leaf may keep this array as its .grad without a copy only if nothing else
                # can see it: a fresh array from an op's rule, not passed through (g, or one of g
                # for a node of several outputs), not a view, not sent to two inputs.
                own = fresh and gi is not g and type(gi) is _nd and gi.base is None
                if own and type(g) is not _nd and node.n_outputs != 1:
                    own = all(gi is not gj for gj in g)
                if own:
                    if len(out) == 2:
                        own = out[0] is not out[1]
                    else:
                        if shared is None:
                            shared = _shared(out)
                        own = id(gi) not in shared
                buffers[nxt] = gi
                if own:
                    owned_grads.add(nxt)
                if (
                    direct
                    and nxt._seq + 0.5 == node._seq
                    and nxt.variable._hooks is None
                    and nxt._post_hooks is None
                ):
                    # This node is the oldest that used the leaf (its number is half a step
                    # above the leaf's): every other user is newer and has run, so once this
                    # node's edges are done the leaf has its whole gradient. No hook looks at
                    # it: accumulate then, without queueing it. (When the oldest user is not
                    # on this backward's path, the leaf waits in the queue until the nodes
                    # newer than that user have run: later than PyTorch would, same values.)
                    if done is None:
                        done = []
                    done.append(nxt)
                else:
                    heappush(pending, (-nxt._seq, nxt._made, nxt))
            if done is not None:
                for leaf in done:
                    leaf.variable._accumulate_grad(buffers.pop(leaf), create_graph,
                                                   leaf in owned_grads)  # fmt: skip
            if observe is not None:
                observe(node, g, out)
    finally:
        state.enabled = prev_mode
    return captured
