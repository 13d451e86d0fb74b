"""`why_no_grad`: after a backward pass, which parameters (or given tensors) got no gradient, and
why, in the user's terms: frozen, not a leaf, cut by no_grad / detach / a non-differentiable op
(with the line), not used by the output, or a tensor that got a gradient but is not registered in
the model, so an optimizer over `model.parameters()` never sees it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..tensor import Tensor
from .graph import leaf_tensors

__all__ = ["why_no_grad", "NoGradReport", "NoGradEntry"]

_CUT = {
    # no_grad and non-differentiable uses carry a line only when the op was called directly from
    # user code (recording them must stay cheap in inference loops); detach always has one.
    "no_grad": "it was last used under no_grad (or inference_mode) by {op}(){at}, which records "
    "no graph",
    "detach": "its value was detached from the graph{at} (.detach() / .data)",
    "nondiff": "it was last used by {op}(){at}, which is not differentiable",
}


@dataclass
class NoGradEntry:
    """One tensor without a gradient (or one unregistered tensor that has one) and the reason."""

    name: str
    tensor: Tensor
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


class NoGradReport(list[NoGradEntry]):
    """The entries of `why_no_grad`; prints one line per tensor, and is empty when all is well."""

    def __str__(self) -> str:
        if not self:
            return "every tensor checked received a gradient"
        return "\n".join(str(e) for e in self)

    def __repr__(self) -> str:
        return str(self)


def _at(src: Any) -> str:
    return f" at {src}" if src is not None else ""


def _named(model_or_tensors: Any) -> tuple[list[tuple[str, Tensor]], Any]:
    if hasattr(model_or_tensors, "named_parameters"):
        model = model_or_tensors
        return list(model.named_parameters()), model
    if isinstance(model_or_tensors, Tensor):
        return [("tensor", model_or_tensors)], None
    if isinstance(model_or_tensors, dict):
        items = list(model_or_tensors.items())
    elif isinstance(model_or_tensors, Iterable):
        items = [(f"tensor {i}", t) for i, t in enumerate(model_or_tensors)]
    else:
        raise TypeError(
            "why_no_grad() expects a Module, a tensor, or a list or dict of tensors, got "
            f"{type(model_or_tensors).__name__}"
        )
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"why_no_grad(): {name} is a {type(t).__name__}, not a Tensor")
    return items, None


def _reached(outputs: list[Tensor]) -> tuple[set[int], list[Tensor]]:
    """ids of the leaves the outputs' graphs reach, and those leaves in order."""
    leaves = [o for o in outputs if o.grad_fn is None and o._requires_grad]
    leaves += leaf_tensors([o.grad_fn for o in outputs])
    return {id(t) for t in leaves}, leaves


def why_no_grad(model_or_tensors: Any, output: Any = None) -> NoGradReport:
    """Explain, after a backward pass, each parameter of a model (or each given tensor) whose
    `.grad` is None. With `output` (the tensor(s) backward ran from, e.g. the loss), it also tells
    "not used by the output" apart from a cut graph, and lists tensors that did receive a
    gradient but are not registered parameters of the model. dygrad's own tool: PyTorch has none.

    >>> import dygrad as torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    >>> _ = net[0].bias.requires_grad_(False)
    >>> with torch.no_grad():
    ...     h = net[0](torch.ones(1, 2))
    >>> loss = net[1](h).sum()
    >>> loss.backward()
    >>> print(torch.autograd.why_no_grad(net, loss))  # doctest: +ELLIPSIS
    0.weight: not used to compute the output; it was last used under no_grad ...
    0.bias: requires_grad is False (frozen)
    """
    items, model = _named(model_or_tensors)
    outs: list[Tensor] = []
    if output is not None:
        outs = [output] if isinstance(output, Tensor) else list(output)
    reached, leaves = _reached(outs) if outs else (set(), [])
    report = NoGradReport()
    for name, t in items:
        if t.grad is not None:
            continue
        report.append(NoGradEntry(name, t, _reason(t, reached if outs else None)))
    if model is not None and outs:
        known = {id(p) for _, p in items}
        for leaf in leaves:
            where = _attr_name(leaf, model) if id(leaf) not in known else None
            if where is not None and leaf.grad is not None:
                report.append(NoGradEntry(where, leaf, _UNREGISTERED))
    return report


_UNREGISTERED = (
    "received a gradient but is not a registered parameter of the model, so an optimizer built "
    "from model.parameters() never updates it: make it an nn.Parameter attribute (and keep "
    "submodules in nn.ModuleList / nn.ModuleDict rather than plain lists or dicts)"
)


def _reason(t: Tensor, reached: set[int] | None) -> str:
    if not t._requires_grad:
        return "requires_grad is False (frozen)"
    if t.grad_fn is not None:
        return (
            "it is not a leaf: .grad is kept only for leaves; call .retain_grad() on it before "
            "backward()"
        )
    cut = t._cut
    why = _CUT[cut[0]].format(op=cut[1], at=_at(cut[2])) if cut is not None else None
    if reached is not None and id(t) in reached:
        return (
            "the output's graph reaches it, but .grad is None: backward() was not called on that "
            "output yet, or the gradient was cleared after it (zero_grad())"
        )
    if reached is not None:
        base = "not used to compute the output"
        return f"{base}; {why}" if why else base
    if why:
        return why
    return "no backward pass reached it: it was not used to compute the output (or backward() " \
        "was not called)"  # fmt: skip


def _is_model_state(t: Tensor, model: Any) -> bool:
    return _attr_name(t, model) is not None


def _attr_name(t: Tensor, model: Any) -> str | None:
    """Where a tensor hangs off the model outside its registered parameters: a plain tensor
    attribute, or inside a plain list / dict (of tensors, or of modules)."""
    for mname, m in model.named_modules():
        prefix = f"{mname}." if mname else ""
        for k, v in vars(m).items():
            if k.startswith("_"):
                continue
            found = _find(t, v, f"{prefix}{k}")
            if found is not None:
                return found
    return None


def _find(t: Tensor, v: Any, path: str) -> str | None:
    if v is t:
        return path
    if isinstance(v, list | tuple):
        pairs: Iterable[tuple[Any, Any]] = enumerate(v)
    elif isinstance(v, dict):
        pairs = v.items()
    else:
        return None
    for k, x in pairs:
        if x is t:
            return f"{path}[{k!r}]"
        if hasattr(x, "named_parameters"):
            for pname, p in x.named_parameters():
                if p is t:
                    return f"{path}[{k!r}].{pname}"
    return None
