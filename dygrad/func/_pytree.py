"""The nested containers the transforms accept (PyTorch's pytrees): tuples, lists, dicts and
namedtuples are nodes, None is an empty node, anything else is a leaf."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["TreeSpec", "LEAF", "tree_flatten", "tree_unflatten", "broadcast_prefix", "tree_map"]


class TreeSpec:
    """The shape of a tree without its leaves: a node kind, its context (dict keys or the
    namedtuple class) and the specs of its children; `LEAF` for a leaf."""

    __slots__ = ("kind", "context", "children", "num_leaves")

    def __init__(self, kind: Any, context: Any, children: list[TreeSpec]) -> None:
        self.kind = kind
        self.context = context
        self.children = children
        self.num_leaves: int = 1 if kind is None else sum(c.num_leaves for c in children)

    def is_leaf(self) -> bool:
        return self.kind is None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TreeSpec)
            and self.kind == other.kind
            and self.context == other.context
            and self.children == other.children
        )

    def __hash__(self) -> int:
        return hash((self.kind, len(self.children)))

    def __repr__(self) -> str:
        # PyTorch's spelling, so error messages read the same: TreeSpec(tuple, None, [*, *]).
        if self.kind is None:
            return "*"
        name = self.kind.__name__ if isinstance(self.kind, type) else str(self.kind)
        ctx = self.context
        if isinstance(ctx, type):
            ctx = ctx.__name__
        inner = ", ".join(repr(c) for c in self.children)
        return f"TreeSpec({name}, {ctx}, [{inner}])"


LEAF = TreeSpec(None, None, [])


def _children(tree: Any) -> tuple[Any, Any, list[Any]] | None:
    # (kind, context, children) for a node; None for a leaf.
    t = type(tree)
    if tree is None:
        return (type(None), None, [])
    if t is tuple or t is list:
        return (t, None, list(tree))
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return ("namedtuple", t, list(tree))
    if t is dict or t is OrderedDict:
        return (t, list(tree.keys()), list(tree.values()))
    return None


def tree_flatten(tree: Any) -> tuple[list[Any], TreeSpec]:
    """The leaves of `tree` in order, and its spec (`torch.utils._pytree.tree_flatten`).

    >>> tree_flatten((1, [2, 3]))
    ([1, 2, 3], TreeSpec(tuple, None, [*, TreeSpec(list, None, [*, *])]))
    >>> tree_flatten({"a": 4, "b": None})
    ([4], TreeSpec(dict, ['a', 'b'], [*, TreeSpec(NoneType, None, [])]))
    """
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


# The recursions are module-level functions, not closures: a nested function that calls itself
# is a reference cycle, which would keep the leaves (tensors, and their graphs) alive until the
# cyclic collector runs.
def _flatten(node: Any, leaves: list[Any]) -> TreeSpec:
    parts = _children(node)
    if parts is None:
        leaves.append(node)
        return LEAF
    kind, ctx, kids = parts
    return TreeSpec(kind, ctx, [_flatten(k, leaves) for k in kids])


def tree_unflatten(leaves: list[Any], spec: TreeSpec) -> Any:
    """Rebuild a tree of `spec`'s shape from `leaves` (`torch.utils._pytree.tree_unflatten`).

    >>> leaves, spec = tree_flatten({"a": (1, 2)})
    >>> tree_unflatten([x * 10 for x in leaves], spec)
    {'a': (10, 20)}
    """
    return _unflatten(spec, iter(leaves))


def _unflatten(s: TreeSpec, it: Iterator[Any]) -> Any:
    if s.kind is None:
        return next(it)
    kids = [_unflatten(c, it) for c in s.children]
    if s.kind is type(None):
        return None
    if s.kind == "namedtuple":
        return s.context(*kids)
    if s.kind is tuple or s.kind is list:
        return s.kind(kids)
    return s.kind(zip(s.context, kids))


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """`tree` with `fn` applied to every leaf (`torch.utils._pytree.tree_map`).

    >>> tree_map(lambda x: x + 1, [1, (2,)])
    [2, (3,)]
    """
    leaves, spec = tree_flatten(tree)
    return tree_unflatten([fn(x) for x in leaves], spec)


def broadcast_prefix(prefix: Any, spec: TreeSpec) -> list[Any] | None:
    """One value per leaf of `spec`, where `prefix` is a tree whose leaves (ints or None) stand
    for whole subtrees of `spec`; None when `prefix` does not match `spec`'s structure.

    >>> _, spec = tree_flatten((1, (2, 3)))
    >>> broadcast_prefix((None, 0), spec)
    [None, 0, 0]
    """
    out: list[Any] = []

    def go(p: Any, s: TreeSpec) -> bool:
        parts = None if p is None else _children(p)
        if parts is None:
            out.extend([p] * s.num_leaves)
            return True
        kind, ctx, kids = parts
        if s.kind is None or kind != s.kind or ctx != s.context or len(kids) != len(s.children):
            return False
        return all(go(k, c) for k, c in zip(kids, s.children))

    return out if go(prefix, spec) else None
