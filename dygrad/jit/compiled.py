"""`dygrad.compile`: replay a traced graph as generated straight-line code on raw arrays.

From a Graph this module writes two Python functions: a forward that calls each op's forward on
NumPy arrays and keeps exactly what the backward rules name, and a backward that runs the vjp
rules in reverse and sums gradients. No Tensor and no graph node is made per op: a call returns
tensors whose `grad_fn` is one `CompiledFunctionBackward` node with edges to the parameters and
inputs, so `loss.backward()` fills `.grad` as eager mode does. Values are freed after their last
use, and elementwise results are written into dead buffers of the same shape (buffer reuse).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.graph import Node as GraphNode
from ..backend import sum_to_shape
from ..ops.registry import stale_message
from ..tensor import Tensor
from .interp import GuardFailure
from .ir import DataRef, Graph, Guard, Node, Value, _values_in, pseudo

__all__ = ["Program", "build_program", "CompiledFunctionBackward"]


class _Fail(Exception):  # noqa: N818 - a guard index, caught at once
    pass


def _asarray(x: Any) -> np.ndarray:
    return x if type(x) is np.ndarray else np.asarray(x)


def _reduce(g: Any, shape: tuple[int, ...], dt: np.dtype) -> Any:
    """Reduce a broadcast gradient to its input's `shape` and cast it to `dt`, as the registry's
    `_fit` does in eager mode (the same sum_to_shape: equal gradients, bit for bit)."""
    if g is None:
        return None
    if type(g) is not np.ndarray:
        g = np.asarray(g)
    if g.shape != shape:
        g = sum_to_shape(g, shape)
    if g.dtype != dt:
        g = g.astype(dt)
    return g


def _acc(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class Program:
    """Generated forward (and backward) for one Graph under one call signature."""

    def __init__(self) -> None:
        self.forward: Callable[..., Any] = lambda *a: None
        self.backward: Callable[..., Any] | None = None
        self.source = ""
        self.grad_leaves: list[Value] = []  # inputs/externals that receive gradients, in order
        self.diff_outputs: list[bool] = []  # per graph output: has a gradient
        self.out_meta: list[tuple[tuple[int, ...], np.dtype]] = []
        self.saved_leaves: list[Value] = []  # inputs/externals whose versions backward checks
        # Positions in [*inputs, *externals], worked out once for run_program:
        self.externals: list[Any] = []  # the outside tensors, in order
        self.grad_pos: list[int] = []  # of grad_leaves
        self.saved_pos: list[int] = []  # of saved_leaves
        self.mutation_pos: list[int] = []  # of each mutation's target
        self.out_leaf: list[int] = []  # per output: the leaf it is, or -1
        self.out_first: list[int] = []  # per output: the first output with the same value
        self.n_diff = 0
        self.diff_pos: list[int] = []  # the graph outputs that are the node's outputs
        self.guards: list[Guard] = []


def _needs_grad(g: Graph) -> set[int]:
    """Values that depend differentiably on an input or parameter that requires grad."""
    need = {v.id for v in [*g.inputs, *g.externals] if v.requires_grad}
    for n in _flat_nodes(g):
        if pseudo(n) is not None:  # detach, random draws
            continue
        op: Any = n.op
        if not op.differentiable or not n.grad_enabled:  # recorded under no_grad: a cut
            continue
        if any(v.id in need for v in n.tensor_args()):
            dif = op.differentiable_outputs or (True,) * len(n.outputs)
            for j, v in enumerate(n.outputs):
                if v.dtype.kind == "f" and dif[j]:
                    need.add(v.id)
    return need


def _flat_nodes(g: Graph) -> list[Node]:
    out: list[Node] = []
    for n in g.nodes:
        out.extend(n.fused if n.fused is not None else (n,))
    return out


class _Writer:
    def __init__(self) -> None:
        self.consts: dict[str, Any] = {}
        self.lines: list[str] = []
        self._ids: dict[int, str] = {}

    def const(self, obj: Any, prefix: str = "K") -> str:
        name = self._ids.get(id(obj))
        if name is None:
            name = f"{prefix}{len(self.consts)}"
            self._ids[id(obj)] = name
            self.consts[name] = obj
        return name

    def literal(self, a: Any) -> str:
        if a is None or isinstance(a, bool | int | str):
            return repr(a)
        if isinstance(a, float):
            return repr(a) if np.isfinite(a) else self.const(a)
        if type(a) is tuple and all(
            x is None or isinstance(x, bool | int | str) for x in a
        ):  # fmt: skip
            return repr(a)
        return self.const(a)


def build_program(g: Graph, with_grad: bool) -> Program:
    """Write and compile the forward (and, `with_grad`, the backward) of `g`."""
    p = Program()
    w = _Writer()
    nodes = _flat_nodes(g)
    need = _needs_grad(g) if with_grad else set()
    name: dict[int, str] = {}
    leaves = [*g.inputs, *g.externals]
    for k, v in enumerate(leaves):
        name[v.id] = f"a{k}"
    for v in g.const_values:
        name[v.id] = w.const(g.consts[v.id], "C")
    for n in nodes:
        for v in n.outputs:
            name[v.id] = f"v{v.id}"

    # Which values reach an output with a gradient: the backward walks only those.
    reach = {v.id for v in g.outputs if v.id in need}
    grad_nodes: list[Node] = []
    for n in reversed(nodes):
        if any(v.id in reach for v in n.outputs) and pseudo(n) is None:
            ins = [v for v in n.tensor_args() if v.id in need]
            if ins:
                grad_nodes.append(n)
                reach.update(v.id for v in ins)
    grad_ids = {id(n) for n in grad_nodes}
    p.grad_leaves = [v for v in leaves if v.id in reach and v.requires_grad]
    p.out_meta = [(v.shape, v.dtype) for v in g.outputs]

    # What backward needs from forward: per grad node, the arrays its rules name.
    saved: list[str] = []
    saved_set: set[str] = set()
    rule_env: dict[int, list[str]] = {}  # id(node) -> expressions of [out, *args]

    def expr(a: Any) -> str:
        if isinstance(a, Value):
            return name[a.id]
        if isinstance(a, DataRef):
            return name[a.value.id]
        if isinstance(a, list):
            return "[" + ", ".join(expr(x) for x in a) + "]"
        if type(a) is tuple and any(isinstance(x, Value | DataRef | list) for x in a):
            return "(" + "".join(expr(x) + ", " for x in a) + ")"
        return w.literal(a)

    # Buffer reuse: an elementwise op whose first operand dies here (a fresh array this program
    # made, not kept for backward, not returned) writes its result into that operand's memory
    # through the op's declared in-place form.
    kept: set[int] = {v.id for v in g.roots()}
    for n in grad_nodes:
        for pos in _needed_positions(n, need):
            if pos == 0:
                kept.update(v.id for v in n.outputs)
            elif pos - 1 < len(n.args):
                kept.update(v.id for v in _vals(n.args[pos - 1]))
    last_use: dict[int, int] = {}
    for k, n in enumerate(nodes):
        for v in n.tensor_args():
            last_use[v.id] = k
    fresh: set[int] = set()
    reuse: dict[int, Value] = {}  # id(node) -> the operand whose buffer takes the result
    for k, n in enumerate(nodes):
        op0: Any = n.op
        if getattr(op0, "inplace", None) is None or n.inplace or len(n.outputs) != 1:
            continue
        fresh.add(n.outputs[0].id)
        a = n.args[0]
        o = n.outputs[0]
        if not (isinstance(a, Value) and a.id in fresh and a.id not in kept):
            continue
        cast = _rule_dtype(n) not in (None, a.dtype)
        if last_use.get(a.id) == k and a.shape == o.shape and a.dtype == o.dtype and not cast:
            reuse[id(n)] = a

    # --- forward ------------------------------------------------------------------------------
    guards: dict[int, list[int]] = {}
    for k, gd in enumerate(g.guards):
        guards.setdefault(gd.value.id, []).append(k)
    p.guards = list(g.guards)
    fw: list[str] = []
    for v in leaves:
        for k in guards.get(v.id, ()):
            fw.append(f"    if G{k}.observe({name[v.id]}) != G{k}.expected: raise _Fail({k})")
    for k, n in enumerate(nodes):
        op: Any = n.op
        outs = [name[v.id] for v in n.outputs]
        multi = op.n_outputs != 1  # the forward returns a tuple
        kind = pseudo(n)
        if kind == "detach":
            fw.append(f"    {outs[0]} = {expr(n.args[0])}")
        elif kind == "random":
            fw.append(f"    {outs[0]} = {w.const(op.forward, 'R')}()")
        else:
            args = _casts(n, [expr(a) for a in n.args], w, expr)
            call = f"{w.const(op.forward, 'F')}({', '.join(args)})"
            if id(n) in reuse:
                fw.append(f"    {w.const(op.inplace, 'I')}({', '.join(args)})")
                call = args[0]
            aux = ""
            if getattr(op, "aux", False):
                # The forward also returns work its backward rules may reuse: kept (as
                # x<id>) only when this node's rules run.
                aux = f"x{n.outputs[0].id}" if id(n) in grad_ids else "_"
                fw.append(f"    {outs[0]}, {aux} = {call}")
                call = outs[0]
            if not multi:
                out_v = n.outputs[0]
                if n.inplace:
                    call = f"_asarray({call}).astype({w.const(out_v.dtype)}, copy=False)"
                elif out_v.shape == ():
                    call = f"_asarray({call})"
                if call != outs[0]:
                    fw.append(f"    {outs[0]} = {call}")
            else:
                fw.append(f"    {', '.join(outs)}, = {call}")
                for v in n.outputs:
                    if v.shape == ():
                        fw.append(f"    {name[v.id]} = _asarray({name[v.id]})")
            if id(n) in grad_ids:
                env = [f"({', '.join(outs)},)" if multi else outs[0]]
                env.extend(expr(a) for a in n.args)
                if aux:
                    env.append(aux)
                rule_env[id(n)] = env
                for pos in sorted(_needed_positions(n, need)):
                    # Every array the rule's arguments mention is kept for backward, which
                    # unpacks them under the same names and evaluates the same expressions.
                    for nm in _VAR.findall(env[pos]):
                        if nm not in saved_set:
                            saved_set.add(nm)
                            saved.append(nm)
        for v in n.outputs:
            for j in guards.get(v.id, ()):
                fw.append(f"    if G{j}.observe({name[v.id]}) != G{j}.expected: raise _Fail({j})")
        # Values that die here (not returned, guarded or kept for backward) go now: their
        # memory comes back at once.
        dead = {name[v.id] for v in n.tensor_args()
                if v.kind == "node" and last_use[v.id] == k and v.id not in kept}  # fmt: skip
        if dead:
            fw.append(f"    del {', '.join(sorted(dead))}")
    # A returned constant is copied: each call's result is its own.
    outs_expr = ", ".join(
        f"{name[v.id]}.copy()" if v.kind == "const" else name[v.id] for v in g.outputs
    )
    muts = ", ".join(name[m[1].id] for m in g.mutations)
    saved_tuple = ", ".join(saved)
    src = [f"def forward({', '.join(name[v.id] for v in leaves)}):", *fw]
    src.append(f"    return ({outs_expr}{',' if outs_expr else ''}), ({muts}{',' if muts else ''}),"
               f" ({saved_tuple}{',' if saved_tuple else ''})")  # fmt: skip
    p.saved_leaves = [v for v in leaves if name[v.id] in saved_set]
    at = {v.id: k for k, v in enumerate(leaves)}
    p.externals = [g.external_tensors[v.id] for v in g.externals]
    p.grad_pos = [at[v.id] for v in p.grad_leaves]
    p.saved_pos = [at[v.id] for v in p.saved_leaves]
    p.mutation_pos = [at[t.id] for t, _ in g.mutations]
    # An output that is an input or parameter, or the final value of one changed in place, goes
    # back as that tensor (eager mode returns it); a value returned twice, as one tensor twice.
    final_of = {val.id: at[tgt.id] for tgt, val in g.mutations}
    p.out_leaf = [
        at[v.id] if v.kind in ("input", "external") else final_of.get(v.id, -1) for v in g.outputs
    ]
    first: dict[int, int] = {}
    p.out_first = [first.setdefault(v.id, j) for j, v in enumerate(g.outputs)]
    # Only outputs computed here, each once, are outputs of the compiled node.
    p.diff_outputs = [
        v.id in need and v.kind == "node" and p.out_leaf[j] < 0 and p.out_first[j] == j
        for j, v in enumerate(g.outputs)
    ]
    p.n_diff = sum(p.diff_outputs) if with_grad else 0
    p.diff_pos = [j for j, d in enumerate(p.diff_outputs) if d]

    # --- backward -----------------------------------------------------------------------------
    if with_grad and p.grad_leaves:
        bw = _backward_lines(g, grad_nodes, need, name, rule_env, w, saved, reach)
        src.append("")
        src.append(f"def backward(saved, gouts):")  # noqa: F541
        if saved:
            src.append(f"    ({saved_tuple},) = saved")
        src.extend(bw)
    glb: dict[str, Any] = dict(w.consts)
    glb.update(_asarray=_asarray, _reduce=_reduce, _acc=_acc, _Fail=_Fail, np=np, _nd=np.ndarray)
    for k, gd in enumerate(g.guards):
        glb[f"G{k}"] = gd
    p.source = "\n".join(src) + "\n"
    code = compile(p.source, f"<dygrad.compile {id(p):x}>", "exec")
    exec(code, glb)  # noqa: S102 - our own generated code
    p.forward = glb["forward"]
    p.backward = glb.get("backward")
    return p


_VAR = re.compile(r"\b[avx][0-9]+\b")  # inputs, values, ops' kept extras (aux)


def _stand_in(a: Any) -> Any:
    # An array of a value's dtype (0-d where the value is: promotion ranks those lower).
    if isinstance(a, Value):
        return np.empty((), a.dtype) if a.shape == () else np.empty((1,), a.dtype)
    return a


def _rule_dtype(n: Node) -> Any:
    """The dtype n's op casts its tensor inputs to (None: none), worked out once from their
    dtypes, as dispatch does on every call."""
    op: Any = n.op
    rule = getattr(op, "dtype_rule", None)
    if rule is None:
        return None
    ins = n.args[0] if op.variadic else n.args[: op.n_in]
    return rule([_stand_in(a) for a in ins])


def _casts(n: Node, args: list[str], w: _Writer, expr: Callable[[Any], str]) -> list[str]:
    """`args` (the expressions of n's arguments) with the dtype rule's casts written in."""
    d = _rule_dtype(n)
    if d is None:
        return args
    dn = w.const(np.dtype(d))
    if n.op.variadic:
        vals = n.args[0]
        if any(v.dtype != d for v in vals):
            parts = [f"{expr(v)}.astype({dn})" if v.dtype != d else expr(v) for v in vals]
            args[0] = "[" + ", ".join(parts) + "]"
        return args
    for i, a in enumerate(n.args[: n.op.n_in]):
        if isinstance(a, Value) and a.dtype != d:
            args[i] = f"{args[i]}.astype({dn})"
    return args


def _vals(a: Any) -> list[Value]:
    out: list[Value] = []
    _values_in(a, out)
    return out


def _needed_positions(n: Node, need: set[int]) -> set[int]:
    op: Any = n.op
    pos: set[int] = set()
    if op.variadic:
        return set(op.vjp_args[0])
    for i in range(op.n_in):
        a = n.args[i] if i < len(n.args) else None
        if isinstance(a, Value) and a.id in need:
            pos.update(op.vjp_args[i])
    return pos


def _backward_lines(g: Graph, grad_nodes: list[Node], need: set[int], name: dict[int, str],
                    rule_env: dict[int, list[str]], w: _Writer, saved: list[str],
                    reach: set[int]) -> list[str]:  # fmt: skip
    lines: list[str] = []
    gname: dict[int, str] = {}
    assigned: set[int] = set()

    def gvar(v: Value) -> str:
        return gname.setdefault(v.id, f"g{v.id}")

    def add(v: Value, e: str) -> None:
        gv = gvar(v)
        if v.id in assigned:
            lines.append(f"    {gv} = _acc({gv}, {e})")
        else:
            assigned.add(v.id)
            lines.append(f"    {gv} = {e}")

    for j, v in enumerate(g.outputs):
        if v.id in need:
            add(v, f"gouts[{j}]")
    for n in grad_nodes:
        op: Any = n.op
        env = rule_env[id(n)]
        outs = n.outputs
        if op.n_outputs == 1 and len(outs) == 1:
            o = outs[0]
            if o.id not in assigned:
                continue  # no gradient reaches it
            gin = gvar(o)
        else:
            parts = []
            for v in outs:
                if v.id in assigned:
                    parts.append(f"({gvar(v)} if {gvar(v)} is not None else "
                                 f"np.zeros({v.shape!r}, {w.const(v.dtype)}))")  # fmt: skip
                else:
                    parts.append(f"np.zeros({v.shape!r}, {w.const(v.dtype)})")
            gin = "(" + ", ".join(parts) + ",)"
        if op.variadic:
            rule = w.const(op.vjp_all, "V")
            args = ", ".join(env[j] for j in op.vjp_args[0])
            lines.append(f"    _r = {rule}({gin}{', ' if args else ''}{args})")
            for k, v in enumerate(n.args[0]):
                if isinstance(v, Value) and v.id in need:
                    add(v, f"_r[{k}]")
            continue
        out0 = outs[0]
        for i in range(op.n_in):
            a = n.args[i]
            if not (isinstance(a, Value) and a.id in need):
                continue
            rule = op.vjps[i]
            if rule is None:
                raise RuntimeError(
                    f"The function '{op.name}' is not differentiable with respect to argument "
                    f"'{op.params[i]}'. This input cannot have requires_grad True."
                )
            rn = w.const(rule, "V")
            args = ", ".join(env[j] for j in op.vjp_args[i])
            e = f"{rn}({gin}{', ' if args else ''}{args})"
            if len(outs) == 1 and (
                a.dtype != out0.dtype or (a.shape != out0.shape and op.broadcasting)
            ):
                # Reduce a broadcast gradient and cast it to its input's dtype.
                e = f"_reduce({e}, {a.shape!r}, {w.const(a.dtype)})"
            add(a, e)
    leaves = [*g.inputs, *g.externals]
    res = []
    for v in leaves:
        if v.id in reach and v.requires_grad:
            # An array each (a rule on 0-d arrays may give a NumPy scalar), or None (nothing
            # reached it: a returned input whose output got no gradient).
            gv = gvar(v)
            res.append(f"({gv} if {gv} is None or type({gv}) is _nd else _asarray({gv}))"
                       if v.id in assigned else "None")  # fmt: skip
    lines.append(f"    return [{', '.join(res)}]")
    return lines


class CompiledFunctionBackward(GraphNode):
    """The one graph node a compiled call records: runs the generated backward."""

    def __init__(self, program: Program, saved: tuple[Any, ...], versions: list[tuple[Any, int]],
                 n_outputs: int) -> None:  # fmt: skip
        super().__init__()
        self._program = program
        self._saved: tuple[Any, ...] | None = saved
        self._versions = versions
        self.n_outputs = n_outputs

    def name(self) -> str:
        return "CompiledFunctionBackward"

    def _apply(self, grads: Any, create_graph: bool) -> list[Any]:
        if create_graph:
            raise RuntimeError(
                "dygrad.compile: double backward (create_graph=True) through a compiled "
                "function is not supported, as in torch.compile; call the function eagerly."
            )
        saved = self._saved
        if saved is None:
            from ..autograd.graph import FREED_MSG

            raise RuntimeError(FREED_MSG)
        for t, ver in self._versions:
            if t._vc[0] != ver:
                raise RuntimeError(stale_message(
                    f"one of the variables needed for gradient computation (a tensor of shape "
                    f"{list(t._data.shape)} read by a compiled function)", None, 0,
                    t._vc[0], ver))  # fmt: skip
        p = self._program
        full: list[Any] = [None] * len(p.diff_outputs)  # the generated backward's gouts
        if self.n_outputs == 1:
            gs = [grads]
            full[p.diff_pos[0]] = grads
        else:
            gs = list(grads)
            for k, j in enumerate(p.diff_pos):
                gj = gs[k] if k < len(gs) else None
                if gj is None:
                    shape, dt = p.out_meta[j]
                    gj = np.zeros(shape, dt)
                full[j] = gj
        assert p.backward is not None
        res = p.backward(saved, full)
        # The engine may let a leaf keep a gradient as its .grad without a copy when nothing
        # else sees it: not when it is an incoming gradient or a saved array passed through.
        ids = set(map(id, res))
        ids.discard(id(None))
        self._fresh_grads = ids.isdisjoint(map(id, gs)) and ids.isdisjoint(map(id, saved))
        return res

    def _release(self) -> None:
        self._saved = None
        self._freed = True


def run_program(p: Program, g: Graph, inputs: list[Any], with_grad: bool) -> list[Any]:
    """Call the generated forward on `inputs` (tensors), write back mutations, and wrap the
    outputs (with one CompiledFunctionBackward node when there are gradients to compute)."""
    tensors = inputs + p.externals if p.externals else inputs
    try:
        outs, muts, saved = p.forward(*[t._data for t in tensors])
    except _Fail as f:
        raise GuardFailure(p.guards[f.args[0]], "otherwise") from None
    for k, arr in zip(p.mutation_pos, muts, strict=True):
        t = tensors[k]
        np.copyto(t._data, arr, casting="unsafe")
        t._vc[0] += 1
    node = None
    if with_grad and p.backward is not None and p.n_diff:
        versions = [(tensors[k], tensors[k]._vc[0]) for k in p.saved_pos]
        node = CompiledFunctionBackward(p, saved, versions, p.n_diff)
        # (every grad leaf requires grad: its flag is part of the signature)
        seq = node._seq
        node.next_functions = tuple([tensors[k]._edge(seq) for k in p.grad_pos])
    res = []
    k = 0
    for j, arr in enumerate(outs):
        src = p.out_leaf[j]
        if src >= 0:  # the function returned one of its inputs (or a parameter)
            res.append(tensors[src])
        elif p.out_first[j] != j:
            res.append(res[p.out_first[j]])
        elif node is not None and p.diff_outputs[j]:
            res.append(Tensor._wrap(arr, True, node, k))
            k += 1
        else:
            res.append(Tensor._wrap(arr, False, None, 0))
    return res
