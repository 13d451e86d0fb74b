"""`functional_call` (`torch.func.functional_call`): run a module with some of its parameters and
buffers replaced by given tensors, restoring the originals afterwards, even on error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..nn.modules.module import Module
from ..tensor import Tensor

__all__ = ["functional_call"]

_MISSING = object()


def _merge(dicts: Any) -> dict[str, Any]:
    if isinstance(dicts, dict):
        return dicts
    if isinstance(dicts, Sequence) and not isinstance(dicts, str):
        if not all(isinstance(d, dict) for d in dicts):
            raise ValueError(
                "Expected all elements of parameter_and_buffer_dicts to be dictionaries"
            )
        counts: dict[str, int] = {}
        for d in dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(
                f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                "ambiguous"
            )
        return {k: v for d in dicts for k, v in d.items()}
    raise ValueError(
        "Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
        f"{type(dicts)}"
    )


def _named_tensors(module: Module) -> dict[str, Tensor]:
    named: dict[str, Tensor] = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    return named


def _untie(module: Module, given: dict[str, Any]) -> dict[str, Any]:
    # A value given for one name of a tied tensor (one Parameter under several names) goes to
    # all of its names; different values for names of one tensor are an error.
    names_of: dict[int, set[str]] = {}
    for name, t in _named_tensors(module).items():
        names_of.setdefault(id(t), set()).add(name)
    tied = {n: names for names in names_of.values() if len(names) > 1 for n in names}
    out = dict(given)
    for name in given:
        if name not in tied:
            continue
        group = tied[name]
        vals = {id(given[n]) for n in group if n in given}
        if len(vals) > 1:
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(group)}, which are tied. "
                "Consider using tie_weights=False"
            )
        for n in group:
            out[n] = given[name]
    return out


def _swap(mod: Module, attr: str, value: Any) -> Any:
    """Put `value` at `mod.attr` (a parameter, buffer or plain attribute; `_MISSING` deletes
    it) and return what was there."""
    for store in (mod._parameters, mod._buffers):
        if attr in store:
            old = store[attr]
            if value is _MISSING:
                del store[attr]
            else:
                store[attr] = value
            return old
    # A name the module does not keep as a tensor becomes a plain attribute, as in PyTorch;
    # set in the instance dict so that restoring puts back exactly what was there.
    d = mod.__dict__
    old = d.get(attr, _MISSING)
    if value is _MISSING:
        d.pop(attr, None)
    else:
        d[attr] = value
    return old


def functional_call(
    module: Module,
    parameter_and_buffer_dicts: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Call `module(*args, **kwargs)` with the parameters and buffers named in
    `parameter_and_buffer_dicts` (a dict, or a tuple/list of dicts with distinct keys, of dotted
    names as `named_parameters()` gives them) replaced by the given tensors
    (`torch.func.functional_call`). The module's own tensors are put back afterwards, even if
    the call raises. With `tie_weights`, a value given for one name of a tensor the module uses
    under several names replaces all of them; with `strict`, the names must be exactly the
    module's. Combined with `grad` and `vmap`, this gives gradients with respect to a
    dictionary of parameters, and per-example gradients.

    >>> import dygrad as torch
    >>> from dygrad.func import functional_call
    >>> lin = torch.nn.Linear(2, 1)
    >>> params = {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}
    >>> functional_call(lin, params, (torch.tensor([1., 2.]),))
    tensor([3.])
    >>> lin.weight is dict(lin.named_parameters())["weight"]
    True
    """
    given = _merge(parameter_and_buffer_dicts)
    values = _untie(module, given) if tie_weights else dict(given)
    if strict:
        valid = set(_named_tensors(module))
        unexpected = sorted(set(values) - valid)
        missing = sorted(valid - set(values))
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError(
                f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs)
            )
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    # Every name is resolved and every value checked before the module is touched.
    mods: dict[str, Module] = {}
    targets = []
    for name, value in values.items():
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"{value} is not an instance of torch.Tensor")
        prefix, _, attr = name.rpartition(".")
        mod = mods.get(prefix)
        if mod is None:
            mod = mods[prefix] = module.get_submodule(prefix)
        targets.append((name, mod, attr, value))
    swapped: list[tuple[str, Module, str, Any]] = []
    try:
        for name, mod, attr, value in targets:
            swapped.append((name, mod, attr, _swap(mod, attr, value)))
        return module(*args, **kwargs)
    finally:
        # A module may rebind a buffer during the call (a counter incremented out of place):
        # the caller's dict sees the new value, as in PyTorch.
        if isinstance(parameter_and_buffer_dicts, dict):
            for name, mod, attr, _ in swapped:
                if name in parameter_and_buffer_dicts:
                    now = getattr(mod, attr, _MISSING)
                    if now is not _MISSING:
                        parameter_and_buffer_dicts[name] = now
        for _, mod, attr, old in reversed(swapped):
            _swap(mod, attr, old)
