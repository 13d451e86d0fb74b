"""The differentiation transforms of `torch.func`: `grad`, `grad_and_value`, `vjp`, `jacrev` on
reverse mode (`autograd.grad`), `jvp`, `jacfwd` on forward mode (nested dual levels), `hessian`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd import forward_ad as fwAD
from ..autograd.api import grad as _autograd_grad
from ..autograd.grad_mode import enable_grad, is_grad_enabled, state
from ..autograd.graph import AccumulateGrad, Node
from ..functions import stack
from ..ops.shape import alias
from ..tensor import Tensor
from ._pytree import TreeSpec, tree_flatten, tree_map, tree_unflatten
from ._vmap import _check_randomness, _Randomness

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian"]

Argnums = int | tuple[int, ...]


# ---------------------------------------------------------------------------------------------
# argnums


def _check_argnums_type(argnums: Any) -> None:
    if not isinstance(argnums, int | tuple) or isinstance(argnums, bool):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")


def _wrap_argnum(argnum: Any, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _wrap_argnums(argnums: Argnums, num_args: int) -> Argnums:
    _check_argnums_type(argnums)
    if isinstance(argnums, int):
        return _wrap_argnum(argnums, num_args)
    wrapped = tuple(_wrap_argnum(a, num_args) for a in argnums)
    if not wrapped:
        raise RuntimeError("argnums must be non-empty")
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return wrapped


def _slice(args: Sequence[Any], nums: Argnums) -> Any:
    return args[nums] if isinstance(nums, int) else tuple(args[i] for i in nums)


def _replace(args: Sequence[Any], nums: Argnums, new: Any) -> tuple[Any, ...]:
    out = list(args)
    if isinstance(nums, int):
        out[nums] = new
    else:
        for i, v in zip(nums, new):
            out[i] = v
    return tuple(out)


def _split_aux(out: Any, api: str) -> tuple[Any, Any]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out[0], out[1]


def _check_outputs(leaves: list[Any], api: str) -> None:
    if not leaves or (len(leaves) == 1 and leaves[0] is None):
        raise RuntimeError(
            f"{api}: Expected f to be a function that has non-empty output (got output = {leaves})"
        )
    for o in leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                f"{api}: expected f(*primals) to return only tensors, got unsupported type "
                f"{type(o)}"
            )


def _plain(t: Tensor) -> Tensor:
    # The value of t, cut from the reverse-mode graph; forward-mode tangents stay.
    d = t.detach()
    if t._fw:
        d._fw = dict(t._fw)
    return d


def _zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    return Tensor._wrap(np.zeros(shape, like._data.dtype), False, None, 0)


def _assemble(blocks: list[Tensor], dim: int, shape: tuple[int, ...], like: Tensor) -> Tensor:
    # Rows (jacrev, dim 0) or columns (jacfwd, dim -1) of a Jacobian block, in `shape`.
    if not blocks:
        return _zeros(shape, like)
    j = blocks[0] if len(blocks) == 1 else stack(blocks, dim)
    return j if tuple(j.shape) == shape else j.reshape(shape)


# ---------------------------------------------------------------------------------------------
# Reverse mode: one level per transform call


class _Level:
    """One reverse-mode transform call: fresh differentiable aliases of the differentiated inputs.

    An input that does not require grad (or any input, when grad mode is off outside) becomes a
    new leaf that shares its data; one that does becomes an alias *view*, so gradients of the
    result still reach the outer graph. A result that reaches no tensor from outside this call
    is returned cut from the graph, as PyTorch's levels unwrap it."""

    def __init__(self) -> None:
        self.outer = is_grad_enabled()
        self.inputs: list[Tensor] = []
        self.fresh: set[int] = set()
        self.aliases: set[Node] = set()

    def track(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
        if self.outer and x._requires_grad:
            y = alias(x)
            self.aliases.add(y.grad_fn)
        else:
            y = _plain(x)
            y.requires_grad_()
            self.fresh.add(id(y))
        self.inputs.append(y)
        return y

    def reaches_outside(self, t: Tensor) -> bool:
        """Whether `t`'s graph reaches a tensor that requires grad from outside this call."""
        if not t._requires_grad:
            return False
        root = t.grad_fn
        if root is None:
            return id(t) not in self.fresh
        seen = {root}
        todo = [root]
        while todo:
            node = todo.pop()
            if node in self.aliases:
                return True
            if type(node) is AccumulateGrad:
                if id(node.variable) not in self.fresh:
                    return True
                continue
            for nxt, _ in node.next_functions:
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    def needs_graph(self, outs: list[Tensor], cots: list[Any], outer: bool) -> bool:
        # Gradients need a graph of their own when an outer transform will differentiate them:
        # an enclosing forward level (their tangents), or outer reverse mode reaching them.
        if state.fw_levels:
            return True
        if not outer:
            return False
        return any(c is not None and c._requires_grad for c in cots) or any(
            self.reaches_outside(o) for o in outs
        )

    def unwrap(self, t: Any, outer: bool) -> Any:
        """`t` cut from this call's graph unless outer reverse mode reaches it; its tangents
        (computed on that graph when a dual level is open) likewise."""
        if not isinstance(t, Tensor):
            return t
        fw = t._fw
        if not t._requires_grad and not fw:
            return t
        if t._requires_grad and outer and self.reaches_outside(t):
            return t
        d = t.detach()
        if fw:
            d._fw = {lvl: self.unwrap(tan, outer) for lvl, tan in fw.items()}
        return d

    def backward(
        self, outs: list[Tensor], cots: list[Any], graph: bool, retain_graph: bool = True
    ) -> list[Tensor]:
        """Gradients of `outs` (weighted by `cots`) for every tracked input, zeros where unused."""
        live = [(o, c) for o, c in zip(outs, cots) if o._requires_grad]
        got: Sequence[Tensor | None] = [None] * len(self.inputs)
        if live:
            got = _autograd_grad(
                [o for o, _ in live],
                self.inputs,
                grad_outputs=[c for _, c in live],
                retain_graph=retain_graph,
                create_graph=graph,
                allow_unused=True,
            )
        return [_zeros(tuple(x.shape), x) if g is None else g for x, g in zip(self.inputs, got)]


def _run_tracked(
    level: Any,
    func: Any,
    args: tuple[Any, ...],
    nums: Any,
    kwargs: dict[str, Any],
    has_aux: bool,
    api: str,
) -> tuple[list[Any], Any, Any, Any]:
    """Call func with the differentiated arguments (those at `nums`) replaced by tensors the
    level tracks: (tracked inputs, their tree spec, output, aux)."""
    leaves, spec = tree_flatten(_slice(args, nums))
    inputs = [level.track(x) for x in leaves]
    out = func(*_replace(args, nums, tree_unflatten(inputs, spec)), **kwargs)
    aux = None
    if has_aux:
        out, aux = _split_aux(out, api)
    return inputs, spec, out, aux


def grad_and_value(
    func: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning `(gradient, value)` of `func` (`torch.func.grad_and_value`).

    `func` must return a 0-d tensor (or `(tensor, aux)` with `has_aux=True`, giving
    `(gradient, (value, aux))`); the gradient is taken with respect to the positional arguments
    `argnums` (an int, or a tuple giving a tuple of gradients), each of which may be a tensor or
    a tuple/list/dict of tensors (the gradient has the same structure).

    >>> import dygrad as torch
    >>> from dygrad.func import grad_and_value
    >>> grad_and_value(lambda x: (x ** 2).sum())(torch.tensor([1., 2.]))
    (tensor([2., 4.]), tensor(5.))
    """
    _check_argnums_type(argnums)
    api = "grad_and_value(f)(*args)"

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _wrap_argnums(argnums, len(args))
        level = _Level()
        with enable_grad():
            inputs, spec, out, aux = _run_tracked(level, func, args, nums, kwargs, has_aux, api)
            if not isinstance(out, Tensor):
                raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
            if out.dim() != 0:
                raise RuntimeError(
                    f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with "
                    f"{out.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
                )
            graph = level.needs_graph([out], [], level.outer)
            grads = level.backward([out], [None], graph)
        if graph:
            grads = [level.unwrap(g, level.outer) for g in grads]
        g = tree_unflatten(grads, spec)
        value = level.unwrap(out, level.outer)
        if has_aux:
            return g, (value, tree_map(lambda a: level.unwrap(a, level.outer), aux))
        return g, value

    return wrapper


def grad(
    func: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function computing the gradient of `func` with respect to the arguments `argnums`
    (`torch.func.grad`). `func` must return a 0-d tensor (or `(tensor, aux)` with `has_aux=True`,
    giving `(gradient, aux)`). Transforms compose: `grad(grad(f))` is the second derivative.

    >>> import dygrad as torch
    >>> from dygrad.func import grad
    >>> x = torch.tensor(0.5)
    >>> grad(torch.sin)(x), torch.cos(x)
    (tensor(0.8776), tensor(0.8776))
    >>> grad(grad(torch.sin))(x)
    tensor(-0.4794)
    """
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """`func(*primals)` and a function computing vector-Jacobian products at `primals`
    (`torch.func.vjp`): returns `(output, vjp_fn)`, or `(output, vjp_fn, aux)` with
    `has_aux=True`. `vjp_fn(cotangents)` takes tensors shaped like the output (same structure)
    and returns a tuple with one gradient per primal; it may be called repeatedly.

    >>> import dygrad as torch
    >>> from dygrad.func import vjp
    >>> out, vjp_fn = vjp(lambda x, y: x * y, torch.tensor([1., 2.]), torch.tensor([3., 4.]))
    >>> out
    tensor([3., 8.])
    >>> vjp_fn(torch.ones(2))
    (tensor([3., 4.]), tensor([1., 2.]))
    """
    api = "vjp(f, *primals)"
    level = _Level()
    with enable_grad():
        inputs, spec, out, aux = _run_tracked(
            level, func, primals, tuple(range(len(primals))), {}, has_aux, api
        )
        outs, out_spec = tree_flatten(out)
        _check_outputs(outs, api)
        for o in outs:
            if o._data.dtype.kind not in "fc":
                raise RuntimeError(
                    "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, "
                    f"got Tensor with dtype {o.dtype}"
                )

    def vjp_fn(cotangents: Any, retain_graph: bool = True, create_graph: bool | None = None) -> Any:
        cots, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure of "
                f"outputs to the function. cotangents: {cot_spec}, primal output: {out_spec}"
            )
        for i, (c, o) in enumerate(zip(cots, outs)):
            if not isinstance(c, Tensor):
                raise RuntimeError(f"vjp_fn: expected cotangents to be Tensors, got {type(c)}")
            if c.shape != o.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {c.shape} and "
                    f"output[{i}] has a shape of {o.shape}."
                )
        outer = is_grad_enabled() if create_graph is None else bool(create_graph)
        graph = level.needs_graph(outs, cots, outer)
        grads = level.backward(outs, cots, graph, retain_graph)
        if graph:
            grads = [level.unwrap(g, outer) for g in grads]
        return tree_unflatten(grads, spec)

    value = tree_unflatten([level.unwrap(o, level.outer) for o in outs], out_spec)
    if has_aux:
        return value, vjp_fn, tree_map(lambda a: level.unwrap(a, level.outer), aux)
    return value, vjp_fn


def _check_chunk_size(chunk_size: Any, api: str) -> None:
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"{api}: `chunk_size` should be greater than 0.")


def jacrev(
    func: Callable[..., Any],
    argnums: Argnums = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """A function computing the Jacobian of `func` with respect to the arguments `argnums` by
    reverse mode (`torch.func.jacrev`): one forward pass, then one backward pass per output
    element (dygrad has no batched backward; `chunk_size` is accepted and checked only). Each
    block has shape `output.shape + input.shape`; for outputs and inputs given as
    tuples/lists/dicts, the result nests the inputs' structure inside the outputs'.

    >>> import dygrad as torch
    >>> from dygrad.func import jacrev
    >>> jacrev(lambda x: x ** 2)(torch.tensor([1., 2.]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    _check_argnums_type(argnums)
    _check_chunk_size(chunk_size, "jacrev")
    api = "vjp(f, *primals)"

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _wrap_argnums(argnums, len(args))
        level = _Level()
        with enable_grad():
            inputs, spec, out, aux = _run_tracked(level, func, args, nums, kwargs, has_aux, api)
            outs, out_spec = tree_flatten(out)
            _check_outputs(outs, api)
        outer = level.outer
        graph = level.needs_graph(outs, [], outer)
        jac_leaves = []
        for o in outs:
            rows: list[list[Tensor]] = []
            flat = np.zeros(o._data.size, o._data.dtype)
            for k in range(o._data.size):
                flat[k] = 1
                ct = Tensor._wrap(flat.reshape(o._data.shape).copy(), False, None, 0)
                flat[k] = 0
                rows.append(level.backward([o], [ct], graph))
            blocks = []
            for i, x in enumerate(inputs):
                j = _assemble([r[i] for r in rows], 0, tuple(o.shape) + tuple(x.shape), x)
                blocks.append(level.unwrap(j, outer) if graph else j)
            jac_leaves.append(tree_unflatten(blocks, spec))
        jac = tree_unflatten(jac_leaves, out_spec)
        if has_aux:
            return jac, tree_map(lambda a: level.unwrap(a, outer), aux)
        return jac

    return wrapper


# ---------------------------------------------------------------------------------------------
# Forward mode: one dual level per evaluation

_JVP = "jvp(f, primals, tangents)"


def _strip(t: Any, lvl: int) -> Any:
    # `t` without its tangent at dual level `lvl` (the level is closing).
    if isinstance(t, Tensor) and t._fw is not None and lvl in t._fw:
        return fwAD.unpack_dual(t).primal
    return t


def _jvp_once(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    nums: Argnums | None,
    tangents: list[Tensor | None],
    strict: bool,
    has_aux: bool,
) -> tuple[list[Tensor], list[Tensor], TreeSpec, Any]:
    """Evaluate `func` once in a new dual level, the differentiated leaves carrying `tangents`
    (None: no tangent); returns the flat primal outputs, their tangents, the output spec, aux."""
    with fwAD.dual_level():
        diff = args if nums is None else _slice(args, nums)
        leaves, spec = tree_flatten(diff)
        duals = [p if t is None else fwAD.make_dual(p, t) for p, t in zip(leaves, tangents)]
        new = tree_unflatten(duals, spec)
        out = func(*(new if nums is None else _replace(args, nums, new)), **kwargs)
        aux = None
        if has_aux:
            out, aux = _split_aux(out, _JVP)
        outs, out_spec = tree_flatten(out)
        _check_outputs(outs, _JVP)
        prims, tans = [], []
        for o in outs:
            p, t = fwAD.unpack_dual(o)
            if t is None:
                if strict:
                    raise RuntimeError(
                        "jvp(f, primals, tangents, strict=True): The output of f is independent "
                        "of the inputs. This is not allowed with strict=True."
                    )
                t = _zeros(tuple(p.shape), p)
            prims.append(p)
            tans.append(t)
        if has_aux:
            lvl = state.fw_levels[-1]
            aux = tree_map(lambda a: _strip(a, lvl), aux)
    return prims, tans, out_spec, aux


def jvp(
    func: Callable[..., Any],
    primals: Any,
    tangents: Any,
    *,
    strict: bool = False,
    has_aux: bool = False,
) -> tuple[Any, ...]:
    """`func(*primals)` and its Jacobian-vector product with `tangents` by forward mode
    (`torch.func.jvp`): returns `(output, jvp_out)`, or `(output, jvp_out, aux)` with
    `has_aux=True`. `primals` is a tuple of tensors (or tuples/lists/dicts of them) and
    `tangents` has the same structure and shapes. Each call opens its own dual level, so nested
    `jvp`s do not confuse their perturbations.

    >>> import dygrad as torch
    >>> from dygrad.func import jvp
    >>> jvp(torch.sin, (torch.tensor(0.),), (torch.tensor(2.),))
    (tensor(0.), tensor(2.))
    """
    if not isinstance(primals, tuple):
        raise RuntimeError(
            f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals)."
        )
    flat_p, spec_p = tree_flatten(primals)
    flat_t, spec_t = tree_flatten(tangents)
    if spec_p != spec_t:
        raise RuntimeError(
            f"{_JVP}: Expected primals and tangents to have the same python structure. For "
            "example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {spec_p} and tangents with structure {spec_t}"
        )
    for name, flat in (("primals", flat_p), ("tangents", flat_t)):
        if not flat:
            raise RuntimeError(f"{_JVP}: Expected {name} to contain at least one Tensor.")
        for x in flat:
            if not isinstance(x, Tensor):
                raise RuntimeError(
                    f"{_JVP}: Expected {name} to only contain Tensors, got {type(x)}"
                )
    prims, tans, out_spec, aux = _jvp_once(func, primals, {}, None, flat_t, strict, has_aux)
    res = (tree_unflatten(prims, out_spec), tree_unflatten(tans, out_spec))
    return (*res, aux) if has_aux else res


def jacfwd(
    func: Callable[..., Any],
    argnums: Argnums = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """A function computing the Jacobian of `func` with respect to the arguments `argnums` by
    forward mode (`torch.func.jacfwd`): one evaluation of `func` per input element, each in its
    own dual level (dygrad has no batched forward mode; `chunk_size` is accepted and checked
    only). The result has `jacrev`'s shapes and structure. Since `func` runs once per column,
    `randomness` says what random operations in it do: 'error' raises, 'same' gives every
    column the same draws, 'different' lets them differ.

    >>> import dygrad as torch
    >>> from dygrad.func import jacfwd
    >>> jacfwd(lambda x: x.sin())(torch.tensor([0., 0.]))
    tensor([[1., 0.],
            [0., 1.]])
    """
    _check_argnums_type(argnums)
    _check_randomness(randomness)
    _check_chunk_size(chunk_size, "jacfwd")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _wrap_argnums(argnums, len(args))
        leaves, spec = tree_flatten(_slice(args, nums))
        for x in leaves:
            if not isinstance(x, Tensor):
                raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
        cols: list[list[list[Tensor]]] = [[] for _ in leaves]  # input -> column -> outputs
        prims: list[Tensor] | None = None
        out_spec = aux = None
        with _Randomness(randomness) as rng:
            for i, x in enumerate(leaves):
                flat = np.zeros(x._data.size, x._data.dtype)
                for k in range(x._data.size):
                    flat[k] = 1
                    t = Tensor._wrap(flat.reshape(x._data.shape).copy(), False, None, 0)
                    flat[k] = 0
                    tangents: list[Tensor | None] = [None] * len(leaves)
                    tangents[i] = t
                    rng.each()
                    p, tans, out_spec, a = _jvp_once(
                        func, args, kwargs, nums, tangents, False, has_aux
                    )
                    if prims is None:
                        prims, aux = p, a
                    cols[i].append(tans)
            if prims is None:  # no input element at all: one plain evaluation for the shapes
                rng.each()
                prims, _, out_spec, aux = _jvp_once(
                    func, args, kwargs, nums, [None] * len(leaves), False, has_aux
                )
        assert out_spec is not None
        jac_leaves = []
        for j, o in enumerate(prims):
            blocks = [
                _assemble([c[j] for c in cols[i]], -1, tuple(o.shape) + tuple(x.shape), o)
                for i, x in enumerate(leaves)
            ]
            jac_leaves.append(tree_unflatten(blocks, spec))
        jac = tree_unflatten(jac_leaves, out_spec)
        return (jac, aux) if has_aux else jac

    return wrapper


def hessian(func: Callable[..., Any], argnums: Argnums = 0) -> Callable[..., Any]:
    """A function computing the Hessian of `func` with respect to the arguments `argnums`:
    forward over reverse, `jacfwd(jacrev(func, argnums), argnums)` (`torch.func.hessian`).

    >>> import dygrad as torch
    >>> from dygrad.func import hessian
    >>> hessian(lambda x: x ** 3)(torch.tensor(2.))
    tensor(12.)
    """
    return jacfwd(jacrev(func, argnums), argnums)
