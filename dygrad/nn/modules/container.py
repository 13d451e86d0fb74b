"""Containers: `Sequential`, `ModuleList`, `ModuleDict`, `ParameterList`, `ParameterDict`, with
PyTorch's behaviour and reprs."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain, islice
from typing import Any

from ...tensor import Tensor
from ..parameter import Parameter
from .module import Module, _addindent

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _abs_index(idx: Any, size: int) -> int:
    idx = operator.index(idx)
    if not -size <= idx < size:
        raise IndexError(f"index {idx} is out of range")
    return idx + size if idx < 0 else idx


class Sequential(Module):
    """Modules run in order, each on the previous one's output (`torch.nn.Sequential`); built
    from modules or from an OrderedDict of named modules.

    >>> import dygrad as torch
    >>> from collections import OrderedDict
    >>> net = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(4, 2), flat=torch.nn.Flatten(0)))
    >>> net
    Sequential(
      (fc): Linear(in_features=4, out_features=2, bias=True)
      (flat): Flatten(start_dim=0, end_dim=-1)
    )
    >>> net(torch.ones(3, 4)).shape, len(net), net[-1]
    (torch.Size([6]), 2, Flatten(start_dim=0, end_dim=-1))
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _get_item_by_idx(self, iterator: Iterable[Any], idx: Any) -> Any:
        i = _abs_index(idx, len(self))
        return next(islice(iterator, i, None))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx: int, module: Module) -> None:
        key = self._get_item_by_idx(self._modules.keys(), idx)
        setattr(self, key, module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, self._get_item_by_idx(self._modules.keys(), idx))
        # Renumber, as PyTorch does (names become "0", "1", ...).
        self._modules = OrderedDict(zip((str(i) for i in range(len(self._modules))),
                                        self._modules.values()))  # fmt: skip

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())  # type: ignore[arg-type]

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")  # fmt: skip
        ret = Sequential()
        for layer in chain(self, other):
            ret.append(layer)
        return ret

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")  # fmt: skip
        offset = len(self)
        for i, module in enumerate(other):
            self.add_module(str(i + offset), module)
        return self

    def __mul__(self, other: int) -> Sequential:
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        combined = Sequential()
        offset = 0
        for _ in range(other):
            for module in self:
                combined.add_module(str(offset), module)
                offset += 1
        return combined

    __rmul__ = __mul__

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def pop(self, key: int | slice) -> Any:
        """Remove and return the module at `key` (`Sequential.pop`).

        >>> import dygrad as torch
        >>> net = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Flatten())
        >>> net.pop(0), len(net)
        (Identity(), 1)
        """
        v = self[key]
        del self[key]
        return v

    def forward(self, input: Any) -> Any:  # noqa: A002 - PyTorch's name
        for module in self:
            input = module(input)  # noqa: A001
        return input

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end (`Sequential.append`).

        >>> import dygrad as torch
        >>> torch.nn.Sequential().append(torch.nn.Identity())
        Sequential(
          (0): Identity()
        )
        """
        self.add_module(str(len(self)), module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert `module` before position `index` (`Sequential.insert`).

        >>> import dygrad as torch
        >>> net = torch.nn.Sequential(torch.nn.Identity()).insert(0, torch.nn.Flatten())
        >>> net[0]
        Flatten(start_dim=1, end_dim=-1)
        """
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not (-n <= index <= n):
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        """Append every module of `sequential` (`Sequential.extend`).

        >>> import dygrad as torch
        >>> len(torch.nn.Sequential().extend([torch.nn.Identity(), torch.nn.Identity()]))
        2
        """
        for layer in sequential:
            self.append(layer)
        return self


class ModuleList(Module):
    """A list of modules, registered as submodules (`torch.nn.ModuleList`).

    >>> import dygrad as torch
    >>> layers = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)])
    >>> layers
    ModuleList(
      (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
    )
    >>> len(list(layers.parameters()))
    6
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self += modules

    def _get_abs_string_index(self, idx: Any) -> str:
        return str(_abs_index(idx, len(self)))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._get_abs_string_index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        self._modules = OrderedDict(zip((str(i) for i in range(len(self._modules))),
                                        self._modules.values()))  # fmt: skip

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())  # type: ignore[arg-type]

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        combined = ModuleList()
        for i, module in enumerate(chain(self, other)):
            combined.add_module(str(i), module)
        return combined

    def __repr__(self) -> str:
        # PyTorch compresses runs of identical reprs: "(0-2): 3 x Linear(...)".
        reprs = [repr(item) for item in self]
        if not reprs:
            return self._get_name() + "()"
        spans = [[0, 0]]
        blocks = [reprs[0]]
        for i, r in enumerate(reprs[1:], 1):
            if r == blocks[-1]:
                spans[-1][1] += 1
                continue
            spans.append([i, i])
            blocks.append(r)
        lines = []
        for (start, end), b in zip(spans, blocks):
            local = f"({start}): {b}"
            if start != end:
                local = f"({start}-{end}): {end - start + 1} x {b}"
            lines.append(_addindent(local, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def insert(self, index: int, module: Module) -> None:
        """Insert `module` before position `index` (`ModuleList.insert`).

        >>> import dygrad as torch
        >>> ml = torch.nn.ModuleList([torch.nn.Identity()]); ml.insert(0, torch.nn.Flatten())
        >>> ml[0]
        Flatten(start_dim=1, end_dim=-1)
        """
        for i in range(len(self._modules), index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end (`ModuleList.append`).

        >>> import dygrad as torch
        >>> len(torch.nn.ModuleList().append(torch.nn.Identity()))
        1
        """
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove and return the module at `key` (`ModuleList.pop`).

        >>> import dygrad as torch
        >>> torch.nn.ModuleList([torch.nn.Identity()]).pop(0)
        Identity()
        """
        v = self[key]
        del self[key]
        return v

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of an iterable (`ModuleList.extend`).

        >>> import dygrad as torch
        >>> len(torch.nn.ModuleList().extend([torch.nn.Identity()] * 2))
        2
        """
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)  # fmt: skip
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self


class ModuleDict(Module):
    """An ordered dict of modules, registered as submodules (`torch.nn.ModuleDict`).

    >>> import dygrad as torch
    >>> d = torch.nn.ModuleDict({"act": torch.nn.Identity(), "fc": torch.nn.Linear(1, 1)})
    >>> list(d.keys()), "fc" in d
    (['act', 'fc'], True)
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]  # type: ignore[return-value]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every module (`ModuleDict.clear`).

        >>> import dygrad as torch
        >>> d = torch.nn.ModuleDict({"a": torch.nn.Identity()}); d.clear(); len(d)
        0
        """
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove `key` and return its module (`ModuleDict.pop`).

        >>> import dygrad as torch
        >>> torch.nn.ModuleDict({"a": torch.nn.Identity()}).pop("a")
        Identity()
        """
        v = self[key]
        del self[key]
        return v

    def keys(self) -> Any:
        """The names (`ModuleDict.keys`).

        >>> import dygrad as torch
        >>> list(torch.nn.ModuleDict({"a": torch.nn.Identity()}).keys())
        ['a']
        """
        return self._modules.keys()

    def items(self) -> Any:
        """The (name, module) pairs (`ModuleDict.items`).

        >>> import dygrad as torch
        >>> list(torch.nn.ModuleDict({"a": torch.nn.Identity()}).items())
        [('a', Identity())]
        """
        return self._modules.items()

    def values(self) -> Any:
        """The modules (`ModuleDict.values`).

        >>> import dygrad as torch
        >>> list(torch.nn.ModuleDict({"a": torch.nn.Identity()}).values())
        [Identity()]
        """
        return self._modules.values()

    def update(self, modules: Any) -> None:
        """Add or overwrite entries from a mapping or an iterable of (name, module) pairs
        (`ModuleDict.update`).

        >>> import dygrad as torch
        >>> d = torch.nn.ModuleDict(); d.update([("a", torch.nn.Identity())]); list(d)
        ['a']
        """
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleDict.update should be called with an iterable of key/value "
                            "pairs, but got " + type(modules).__name__)  # fmt: skip
        if isinstance(modules, OrderedDict | ModuleDict | Mapping):
            for key, module in modules.items():
                self[key] = module
            return
        for j, m in enumerate(modules):
            if not isinstance(m, Iterable):
                raise TypeError("ModuleDict update sequence element #" + str(j)
                                + " should be Iterable; is" + type(m).__name__)  # fmt: skip
            if not len(m) == 2:  # type: ignore[arg-type]
                raise ValueError("ModuleDict update sequence element #" + str(j) + " has length "
                                 + str(len(m)) + "; 2 is required")  # type: ignore[arg-type]  # fmt: skip
            self[m[0]] = m[1]  # type: ignore[index]


def _tensor_line(k: Any, p: Any, type_str: str) -> str:
    if isinstance(p, Tensor):
        size = "x".join(str(s) for s in p.size())
        kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
        return f"  ({k}): {kind} containing: [{type_str} of size {size}]"
    return f"  ({k}): Object of type: {type(p).__name__}"


class ParameterList(Module):
    """A list of parameters, registered with the module; tensors added become `Parameter`s
    (`torch.nn.ParameterList`).

    >>> import dygrad as torch
    >>> ps = torch.nn.ParameterList([torch.ones(2), torch.zeros(3, 1)])
    >>> ps
    ParameterList(
        (0): Parameter containing: [torch.float32 of size 2]
        (1): Parameter containing: [torch.float32 of size 3x1]
    )
    >>> [n for n, _ in ps.named_parameters()]
    ['0', '1']
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _get_abs_string_index(self, idx: Any) -> str:
        return str(_abs_index(idx, len(self)))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            out = self.__class__()
            for i in range(start, stop, step):
                out.append(self[i])
            return out
        return getattr(self, self._get_abs_string_index(idx))

    def __setitem__(self, idx: int, param: Any) -> None:
        key = self._get_abs_string_index(idx)
        if isinstance(param, Tensor) and not isinstance(param, Parameter):
            param = Parameter(param)
        setattr(self, key, param)

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter(self[i] for i in range(len(self)))

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value: Any) -> ParameterList:
        """Add `value` at the end, as a Parameter if it is a tensor (`ParameterList.append`).

        >>> import dygrad as torch
        >>> len(torch.nn.ParameterList().append(torch.ones(1)))
        1
        """
        new_idx = len(self)
        self._size += 1
        self[new_idx] = value
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append every value of an iterable (`ParameterList.extend`).

        >>> import dygrad as torch
        >>> len(torch.nn.ParameterList().extend([torch.ones(1), torch.ones(2)]))
        2
        """
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)  # fmt: skip
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            _tensor_line(k, p, str(p.dtype) if isinstance(p, Tensor) else "")
            for k, p in enumerate(self)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters, registered with the module; tensors added become
    `Parameter`s (`torch.nn.ParameterDict`). A plain dict is added in sorted key order.

    >>> import dygrad as torch
    >>> pd = torch.nn.ParameterDict({"b": torch.ones(2), "a": torch.zeros(1)})
    >>> pd
    ParameterDict(
        (a): Parameter containing: [torch.FloatTensor of size 1]
        (b): Parameter containing: [torch.FloatTensor of size 2]
    )
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    def _key_to_attr(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(
                "Index given to ParameterDict cannot be used as a key as it is not a string "
                f"(type is '{type(key).__name__}'). Open an issue on github if you need non-string "
                "keys."
            )
        return key

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._key_to_attr(key))

    def __setitem__(self, key: str, value: Any) -> None:
        self._keys[key] = None
        attr = self._key_to_attr(key)
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, attr, value)

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same parameters (`ParameterDict.copy`).

        >>> import dygrad as torch
        >>> pd = torch.nn.ParameterDict({"w": torch.ones(1)}); pd.copy()["w"] is pd["w"]
        True
        """
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The value of `key`, inserting `default` first if absent (`ParameterDict.setdefault`).

        >>> import dygrad as torch
        >>> torch.nn.ParameterDict().setdefault("w", torch.zeros(2)).shape
        torch.Size([2])
        """
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        """Remove every entry (`ParameterDict.clear`).

        >>> import dygrad as torch
        >>> pd = torch.nn.ParameterDict({"w": torch.ones(1)}); pd.clear(); len(pd)
        0
        """
        for k in self._keys.copy():
            del self[k]

    def pop(self, key: str) -> Any:
        """Remove `key` and return its value (`ParameterDict.pop`).

        >>> import dygrad as torch
        >>> torch.nn.ParameterDict({"a": torch.ones(1)}).pop("a").shape
        torch.Size([1])
        """
        v = self[key]
        del self[key]
        return v

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last inserted (key, value) pair (`ParameterDict.popitem`).

        >>> import dygrad as torch
        >>> torch.nn.ParameterDict({"a": torch.ones(1), "b": torch.ones(2)}).popitem()[0]
        'b'
        """
        k, _ = self._keys.popitem()
        self._keys[k] = None
        val = self[k]
        del self[k]
        return k, val

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, or `default` (`ParameterDict.get`).

        >>> import dygrad as torch
        >>> torch.nn.ParameterDict().get("missing", 0)
        0
        """
        return self[key] if key in self else default

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        """A new ParameterDict with `keys`, each set to `default` (`ParameterDict.fromkeys`).

        >>> import dygrad as torch
        >>> list(torch.nn.ParameterDict().fromkeys(["a", "b"], torch.ones(1)))
        ['a', 'b']
        """
        return ParameterDict((k, default) for k in keys)

    def keys(self) -> Any:
        """The keys (`ParameterDict.keys`).

        >>> import dygrad as torch
        >>> list(torch.nn.ParameterDict({"w": torch.ones(1)}).keys())
        ['w']
        """
        return self._keys.keys()

    def items(self) -> Iterable[tuple[str, Any]]:
        """The (key, value) pairs (`ParameterDict.items`).

        >>> import dygrad as torch
        >>> [k for k, v in torch.nn.ParameterDict({"w": torch.ones(1)}).items()]
        ['w']
        """
        return ((k, self[k]) for k in self._keys)

    def values(self) -> Iterable[Any]:
        """The values (`ParameterDict.values`).

        >>> import dygrad as torch
        >>> [v.shape for v in torch.nn.ParameterDict({"w": torch.ones(1)}).values()]
        [torch.Size([1])]
        """
        return (self[k] for k in self._keys)

    def update(self, parameters: Any) -> None:
        """Add or overwrite entries from a mapping (a plain dict in sorted key order) or an
        iterable of (key, value) pairs (`ParameterDict.update`).

        >>> import dygrad as torch
        >>> pd = torch.nn.ParameterDict(); pd.update([("w", torch.ones(1))]); list(pd)
        ['w']
        """
        if not isinstance(parameters, Iterable):
            raise TypeError("ParametersDict.update should be called with an iterable of "
                            "key/value pairs, but got " + type(parameters).__name__)  # fmt: skip
        if isinstance(parameters, OrderedDict | ParameterDict):
            for key, parameter in parameters.items():
                self[key] = parameter
        elif isinstance(parameters, Mapping):
            for key, parameter in sorted(parameters.items()):
                self[key] = parameter
        else:
            for j, p in enumerate(parameters):
                if not isinstance(p, Iterable):
                    raise TypeError("ParameterDict update sequence element #" + str(j)
                                    + " should be Iterable; is" + type(p).__name__)  # fmt: skip
                if not len(p) == 2:  # type: ignore[arg-type]
                    raise ValueError("ParameterDict update sequence element #" + str(j)
                                     + " has length " + str(len(p))  # type: ignore[arg-type]
                                     + "; 2 is required")  # fmt: skip
                self[p[0]] = p[1]  # type: ignore[index]

    def extra_repr(self) -> str:
        return "\n".join(
            _tensor_line(k, p, p.type() if isinstance(p, Tensor) else "") for k, p in self.items()
        )

    def __call__(self, input: Any) -> Any:  # noqa: A002
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other: ParameterDict) -> ParameterDict:
        copy = self.copy()
        copy.update(other)
        return copy

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        copy = other.copy()
        copy.update(self)
        return copy

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self
