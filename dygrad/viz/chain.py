"""`explain`: the chain rule along the recorded graph from a leaf (or any tensor) to an output, each
step's local derivative computed by running the ops' own backward rules (never hard-coded)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from fractions import Fraction
from typing import IO, Any

import numpy as np

from ..autograd.api import grad as autograd_grad
from ..autograd.engine import _needed
from ..autograd.graph import AccumulateGrad, Node
from ..ops.registry import OpNode
from ..tensor import Tensor
from ._check import check_file, named_tensors

__all__ = ["explain", "Explanation", "Step", "Chain"]

Edge = tuple[Node, int]
_MAX_CHAINS = 64


# ---------------------------------------------------------------------------------------------
# Tiny polynomials: the ops' rules run on them to read a derivative symbolically where the rules
# use only + - * / and integer powers (mul, add, sub, pow, ...); anything else gives up.


class _GiveUpError(Exception):
    pass


class _Poly:
    __array_ufunc__ = None  # numpy scalars defer to our reflected operators

    def __init__(self, terms: dict[tuple[str, ...], float]) -> None:
        self.t = {k: v for k, v in terms.items() if v != 0}

    @staticmethod
    def of(v: Any) -> _Poly:
        if isinstance(v, _Poly):
            return v
        if isinstance(v, (int, float, np.number)) or (isinstance(v, np.ndarray) and v.ndim == 0):
            return _Poly({(): float(v)})
        raise _GiveUpError

    def __add__(self, o: Any) -> _Poly:
        o = _Poly.of(o)
        t = dict(self.t)
        for k, v in o.t.items():
            t[k] = t.get(k, 0.0) + v
        return _Poly(t)

    __radd__ = __add__

    def __neg__(self) -> _Poly:
        return _Poly({k: -v for k, v in self.t.items()})

    def __sub__(self, o: Any) -> _Poly:
        return self + (-_Poly.of(o))

    def __rsub__(self, o: Any) -> _Poly:
        return _Poly.of(o) - self

    def __mul__(self, o: Any) -> _Poly:
        o = _Poly.of(o)
        t: dict[tuple[str, ...], float] = {}
        for k1, v1 in self.t.items():
            for k2, v2 in o.t.items():
                k = tuple(sorted(k1 + k2))
                t[k] = t.get(k, 0.0) + v1 * v2
        return _Poly(t)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> _Poly:
        o = _Poly.of(o)
        if set(o.t) != {()}:
            raise _GiveUpError
        return self * (1.0 / o.t[()])

    def __pow__(self, n: Any) -> _Poly:
        n = _Poly.of(n).t.get((), 0.0)
        if n != int(n) or not 0 <= n <= 8:
            raise _GiveUpError
        r = _Poly({(): 1.0})
        for _ in range(int(n)):
            r = r * self
        return r

    def __getattr__(self, name: str) -> Any:
        raise _GiveUpError

    def __str__(self) -> str:
        if not self.t:
            return "0"
        parts = []
        for k in sorted(self.t, key=lambda k: (-len(k), k)):
            c = self.t[k]
            mono = "·".join(_power(k))
            cs = _num(abs(c))
            body = mono if mono and cs == "1" else (f"{cs}·{mono}" if mono else cs)
            parts.append(("- " if c < 0 else "+ ") + body)
        s = " ".join(parts)
        return s[2:] if s.startswith("+ ") else "-" + s[2:]


def _power(k: tuple[str, ...]) -> list[str]:
    out = []
    for name in dict.fromkeys(k):
        n = k.count(name)
        out.append(name if n == 1 else f"{name}^{n}")
    return out


class _Opaque:
    """A value the symbolic pass cannot name: any use gives up."""

    __array_ufunc__ = None

    def __getattr__(self, name: str) -> Any:
        raise _GiveUpError

    def _fail(self, *a: Any) -> Any:
        raise _GiveUpError

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __neg__ = _fail


def _sym_apply(node: Node, g: Any, namer: Any) -> list[Any]:
    # The node's rules on polynomials: tensors become their names, numbers stay numbers.
    if not isinstance(node, OpNode) or node.op.variadic or node.op.n_outputs != 1:
        raise _GiveUpError
    op = node.op
    saved = node._saved if op.saves_anything or op.has_attrs else None
    env: list[Any] = [None]
    if saved is not None:
        env += [namer(v) if isinstance(v, Tensor) else v for v in saved]
    env[0] = namer((node, 0)) if op.saves_out else None
    out = []
    for i, (nxt, _) in enumerate(node.next_functions):
        if nxt is None:
            out.append(None)
            continue
        args = [env[j] for j in op.vjp_args[i]]
        try:
            out.append(_Poly.of(op.vjps[i](g, *args)))
        except _GiveUpError:
            raise
        except Exception as e:  # a dygrad op or NumPy call met a polynomial
            raise _GiveUpError from e
    return out


# ---------------------------------------------------------------------------------------------
# Restricted backward: from one edge to another, along paths that cross no other station.


def _discover(
    start: Edge, target: Edge, stops: set[Edge], reach: set[Node]
) -> tuple[dict[Node, int], set[Edge]]:
    """Nodes below `start` (not crossing `stops`) that lead to `target`, with their in-degree in
    that sub-graph, and the station edges hit."""
    deps: dict[Node, int] = {start[0]: 0}
    hits: set[Edge] = set()
    stack = [start[0]]
    while stack:
        for e in stack.pop().next_functions:
            nxt = e[0]
            if nxt is None:
                continue
            if e in stops or e == target:
                hits.add(e)
                continue
            if nxt not in reach:
                continue
            if nxt in deps:
                deps[nxt] += 1
            else:
                deps[nxt] = 1
                stack.append(nxt)
    return deps, hits


def _propagate(
    start: Edge, seed: Any, target: Edge, stops: set[Edge], reach: set[Node], apply: Any
) -> tuple[Any, list[Node], int]:
    """The gradient `seed` at `start` sends to `target` along the allowed paths; also the nodes
    it ran (in order) and how many edges reached the target (uses summed there)."""
    deps, _ = _discover(start, target, stops, reach)
    node0, nr0 = start
    buffers: dict[Node, Any] = {}
    _put(buffers, node0, nr0, seed)
    ready = [node0]
    ran: list[Node] = []
    got: Any = None
    uses = 0
    while ready:
        node = ready.pop()
        g = buffers.pop(node, None)
        out: Any = None
        if g is not None and type(node) is not AccumulateGrad:
            out = apply(node, g)
            ran.append(node)
        for j, e in enumerate(node.next_functions):
            nxt = e[0]
            if nxt is None:
                continue
            gj = None if out is None else out[j]
            if e == target:
                if gj is not None:
                    got = gj if got is None else got + gj
                    uses += 1
                continue
            if e in stops or nxt not in deps:
                continue
            if gj is not None:
                _put(buffers, nxt, e[1], gj)
            deps[nxt] -= 1
            if deps[nxt] == 0:
                ready.append(nxt)
    return got, ran, uses


def _put(buffers: dict[Node, Any], node: Node, nr: int, g: Any) -> None:
    if node.n_outputs == 1:
        prev = buffers.get(node)
        buffers[node] = g if prev is None else prev + g
    else:
        slots = buffers.setdefault(node, [None] * node.n_outputs)
        slots[nr] = g if slots[nr] is None else slots[nr] + g


def _num_apply(node: Node, g: Any) -> Any:
    return node._apply(g, False)


# ---------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One link of the chain: d(upper)/d(lower) through the nodes between two named values."""

    upper: str
    lower: str
    local: np.ndarray  # a gradient of ones at `upper`, as it arrives at `lower`
    elementwise: bool  # True: `local` is the diagonal of the Jacobian (per element)
    symbolic: str | None  # e.g. "6·y", read off the ops' rules where they allow it
    nodes: list[str]  # grad_fn names of the nodes this step runs through, in order
    uses: int  # edges into `lower` summed within this step (a value used twice: 2)
    upper_size: int = 1  # number of elements of `upper`

    def __str__(self) -> str:
        d = f"d{self.upper}/d{self.lower}"
        val = _fmt(self.local, each=False)
        sym = f"{self.symbolic} = " if self.symbolic and self.symbolic != val else ""
        if self.elementwise:
            how = "per element"
        else:
            how = (f"not per element: a gradient of ones on {self.upper} reaches "
                   f"{self.lower} {list(self.local.shape)} as this")  # fmt: skip
        extra = f"; {self.lower} is used {self.uses} times here, summed" if self.uses > 1 else ""
        return f"{d} = {sym}{val}    ({how}; via {', '.join(self.nodes)}{extra})"


@dataclass
class Chain:
    """One path of named values from the output down to the input, and what it contributes."""

    steps: list[Step]
    contribution: np.ndarray


@dataclass
class Explanation:
    """What `explain` found: the chains (paths), the total gradient and autograd's own."""

    output: str
    input: str
    chains: list[Chain]
    total: np.ndarray
    autograd: np.ndarray
    legend: dict[str, str] = field(default_factory=dict)
    truncated: bool = False

    @property
    def steps(self) -> list[Step]:
        """The steps of every chain, each once, in order of first appearance."""
        seen: dict[tuple[str, str], Step] = {}
        for c in self.chains:
            for s in c.steps:
                seen.setdefault((s.upper, s.lower), s)
        return list(seen.values())

    def step(self, upper: str, lower: str) -> Step:
        """The step d(upper)/d(lower), by names."""
        for s in self.steps:
            if (s.upper, s.lower) == (upper, lower):
                return s
        raise KeyError(
            f"no step d{upper}/d{lower}; steps: {[(s.upper, s.lower) for s in self.steps]}"
        )

    @property
    def matches(self) -> bool:
        return bool(np.allclose(self.total, self.autograd, rtol=1e-5, atol=1e-6))

    def __str__(self) -> str:
        o, x = self.output, self.input
        lines = [f"Chain rule from {x} to {o}:"]
        for name, what in self.legend.items():
            lines.append(f"  {name} = {what}")
        n = len(self.chains)
        for i, c in enumerate(self.chains):
            names = [c.steps[0].upper] + [s.lower for s in c.steps] if c.steps else [o, x]
            lines.append(f"path {i + 1} of {n}: " + " <- ".join(names))
            for s in c.steps:
                lines.append(f"  {s}")
            # A product of local derivatives is the chain rule only per element (or through a
            # scalar); otherwise each step passes the whole gradient on (vector-Jacobian).
            if all(s.elementwise or (s.upper_size == 1 and _uniform(s.local)) for s in c.steps):
                factors = " × ".join(_fmt(s.local, each=False) for s in c.steps)
                each = "" if c.contribution.size == 1 else " (per element)"
                lines.append(f"  product{each}: {factors} = {_fmt(c.contribution, each=False)}")
            else:
                lines.append(f"  this path contributes {_fmt(c.contribution)} "
                             "(the gradient passed step by step)")  # fmt: skip
        if self.truncated:
            lines.append(f"  (only the first {_MAX_CHAINS} paths are listed)")
        how = f"the sum over {n} paths" if n > 1 else "one path"
        ok = "matches" if self.matches else "DOES NOT MATCH"
        lines.append(f"total d{o}/d{x} = {_fmt(self.total)}  ({how}); autograd.grad gives "
                     f"{_fmt(self.autograd)}: {ok}")  # fmt: skip
        return "\n".join(lines)

    __repr__ = __str__


def _uniform(a: np.ndarray) -> bool:
    return a.size > 0 and bool(np.all(a == a.flat[0]))


def _num(v: float) -> str:
    fr = Fraction(float(v)).limit_denominator(64)
    if abs(v) < 1 and fr.denominator != 1 and abs(float(fr) - v) <= 1e-6:
        return f"{fr.numerator}/{fr.denominator}"
    return f"{float(v):.6g}"


def _fmt(a: Any, each: bool = True) -> str:
    a = np.asarray(a)
    if a.size == 1 or _uniform(a):
        s = _num(float(a.flat[0]))
        return s if a.size == 1 or not each else f"{s} (each element)"
    return np.array2string(a, precision=4, suppress_small=True, separator=", ").replace("\n", "")


def explain(
    output: Tensor,
    input: Tensor,  # noqa: A002 (PyTorch-style name)
    names: dict[str, Tensor] | None = None,
    file: IO[str] | None = None,
) -> Explanation:
    """Print the chain rule from `input` to `output` along the recorded graph: every step's local
    derivative, computed by running the ops' own backward rules, the product along each path and
    the total, checked against `autograd.grad`. No PyTorch counterpart (a learner's tool, like
    torchviz's drawings). `names` maps names to tensors: named values become the chain's links
    (without names, every node is a link). Leaves' `.grad` and the graph are left as they were.

    >>> import dygrad as torch
    >>> x = torch.ones(2, 2, requires_grad=True)
    >>> y = x + 2; z = y * y * 3; o = z.mean()
    >>> import io
    >>> e = explain(o, x, names=dict(x=x, y=y, z=z, o=o), file=io.StringIO())
    >>> print(e.step("z", "y"))  # doctest: +ELLIPSIS
    dz/dy = 6·y = 18    (per element; via MulBackward0, MulBackward0; y is used 2 times ...)
    >>> float(e.step("o", "z").local[0, 0]), float(e.total[0, 0])
    (0.25, 4.5)
    """
    if not isinstance(output, Tensor) or not isinstance(input, Tensor):
        raise TypeError("explain(output, input) expects two tensors")
    names = named_tensors("names", names) or None
    check_file(file)
    if output.grad_fn is None:
        raise RuntimeError("output has no grad_fn: it was not computed from tensors that require "
                           "grad (nothing to explain)")  # fmt: skip
    if not input.requires_grad:
        raise RuntimeError("input does not require grad, so no gradient flows to it")
    top: Edge = output._edge()
    target: Edge = input._edge()
    reach = _needed([top[0]], {target[0]})
    if top[0] not in reach:
        raise RuntimeError("output does not depend on input through the recorded graph")

    # Names of values: the user's, then output/input, then v1, v2, ... for the rest.
    label: dict[Edge, str] = {}
    by_id: dict[int, str] = {}
    for nm, t in (names or {}).items():
        if isinstance(t, Tensor):
            by_id[id(t)] = nm
            if t.requires_grad:
                label.setdefault(t._edge(), nm)
    label.setdefault(top, "out" if "out" not in label.values() else "output")
    label.setdefault(target, "x" if "x" not in label.values() else "input")

    # Stations: the links of the chain. Without names, every value on a path is one.
    if names:
        stations = {e for e in label if e[0] in reach}
    else:
        stations = {top, target}
        stack, seen = [top[0]], {top[0]}
        while stack:
            for e in stack.pop().next_functions:
                if e[0] is not None and e[0] in reach:
                    stations.add(e)
                    if e[0] not in seen:
                        seen.add(e[0])
                        stack.append(e[0])
    legend: dict[str, str] = {}
    k = 0
    for e in _order(top, stations, reach):
        if e not in label:
            k += 1
            label[e] = f"v{k}"
            legend[label[e]] = f"the output of {type(e[0]).__name__}"

    def namer(v: Any) -> Any:
        if isinstance(v, Tensor):
            if id(v) in by_id:
                return _Poly({(by_id[id(v)],): 1.0})
            return namer(v._edge()) if v.requires_grad else _Opaque()
        if v in label:
            return _Poly({(label[v],): 1.0})
        return _Opaque()

    # The station graph and its chains (paths), iteratively.
    succ: dict[Edge, list[Edge]] = {}
    for s in stations:
        if s != target:
            _, hits = _discover(s, target, stations - {s}, reach)
            succ[s] = [h for h in _order(s, hits, reach) if h == target or h[0] in reach]
    chains_e: list[list[Edge]] = []
    truncated = False
    stack2: list[list[Edge]] = [[top]]
    while stack2:
        path = stack2.pop()
        if path[-1] == target:
            if len(chains_e) >= _MAX_CHAINS:
                truncated = True
                break
            chains_e.append(path)
            continue
        for h in reversed(succ.get(path[-1], [])):
            stack2.append(path + [h])

    rng = np.random.default_rng(0)
    steps: dict[tuple[Edge, Edge], Step] = {}
    seed = np.ones(output.shape, output._data.dtype)

    def step(a: Edge, b: Edge, g_a: np.ndarray) -> Step:
        if (a, b) in steps:
            return steps[(a, b)]
        stops = stations - {a, b}
        shape_a = g_a.shape
        ones = np.ones(shape_a, g_a.dtype)
        local, ran, uses = _propagate(a, ones, b, stops, reach, _num_apply)
        local = np.zeros(_shape(b, input)) if local is None else np.asarray(local)
        elementwise = False
        if local.shape == shape_a:
            r = rng.standard_normal(shape_a).astype(ones.dtype) + 2
            got, _, _ = _propagate(a, r, b, stops, reach, _num_apply)
            elementwise = got is not None and np.allclose(got, local * r, rtol=1e-4, atol=1e-6)
        sym = None
        if elementwise or local.size == 1:
            try:
                p, _, _ = _propagate(a, _Poly({(): 1.0}), b, stops, reach,
                                     lambda n, g: _sym_apply(n, g, namer))  # fmt: skip
                sym = None if p is None else str(p)
            except _GiveUpError:
                sym = None
        names_ran = [type(n).__name__ for n in ran]
        s = Step(label[a], label[b], local, elementwise, sym, names_ran, uses, g_a.size)
        steps[(a, b)] = s
        return s

    chains = []
    total: Any = None
    for path in chains_e:
        g: Any = seed
        links = []
        for a, b in zip(path, path[1:]):
            links.append(step(a, b, np.asarray(g)))
            g, _, _ = _propagate(a, g, b, stations - {a, b}, reach, _num_apply)
            if g is None:
                g = np.zeros(_shape(b, input), seed.dtype)
        contribution = np.asarray(g)
        chains.append(Chain(links, contribution))
        total = contribution if total is None else total + contribution
    if total is None:
        total = np.zeros(input.shape, input._data.dtype)
    (ag,) = autograd_grad(output, input, grad_outputs=Tensor._wrap(seed.copy(), False, None, 0),
                          retain_graph=True, allow_unused=True)  # fmt: skip
    ag_arr = np.zeros(input.shape, input._data.dtype) if ag is None else ag.numpy().copy()
    res = Explanation(label[top], label[target], chains, np.asarray(total), ag_arr, legend,
                      truncated)  # fmt: skip
    print(res, file=file if file is not None else sys.stdout)
    return res


def _order(top: Edge, wanted: set[Edge], reach: set[Node]) -> list[Edge]:
    # The wanted edges in breadth-first order from `top`: a stable, top-down numbering.
    out: list[Edge] = [top] if top in wanted else []
    seen_e = set(out)
    seen = {top[0]}
    queue = [top[0]]
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        for e in node.next_functions:
            if e[0] is None or e[0] not in reach:
                continue
            if e in wanted and e not in seen_e:
                seen_e.add(e)
                out.append(e)
            if e[0] not in seen:
                seen.add(e[0])
                queue.append(e[0])
    return out


def _shape(e: Edge, inp: Tensor) -> tuple[int, ...]:
    node, nr = e
    if isinstance(node, AccumulateGrad):
        return tuple(node.variable.shape)
    return tuple(inp.shape)
