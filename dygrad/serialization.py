"""`dygrad.save` and `dygrad.load`: state dicts in the safetensors format, never pickle. Tensors go
into the file's tensor table; the structure around them (nesting, numbers, strings) goes into its
text metadata as JSON."""

from __future__ import annotations

import io
import json
import math
import os
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from .creation import from_numpy
from .tensor import Tensor, device

__all__ = ["save", "load"]

# The one metadata key, holding {"version": FORMAT_VERSION, "root": <structure>} as JSON (one key,
# so that the same object always gives the same bytes). A file without it (one written by
# `safetensors.torch.save_file`, say) loads as a flat dict of its tensors.
STRUCTURE_KEY = "dygrad"
FORMAT_VERSION = 1

_SAFETENSORS_DTYPES = {
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as e:
        raise ImportError(
            "dygrad.save and dygrad.load store tensors in the safetensors format and need the "
            "safetensors package: pip install safetensors (or pip install dygrad[safetensors])"
        ) from e
    return safetensors


def _where(path: tuple[Any, ...]) -> str:
    return "obj" + "".join(f"[{p!r}]" for p in path)


class _Encoder:
    """Walks a saved object: tensors into a flat table under dotted keys, the rest into JSON."""

    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def key_for(self, path: tuple[Any, ...]) -> str:
        base = ".".join(str(p) for p in path) if path else "tensor"
        key, n = base, 1
        while key in self.tensors:  # {"a.b": t, "a": {"b": u}} both flatten to "a.b"
            n += 1
            key = f"{base}#{n}"
        return key

    def encode(self, obj: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(obj, Tensor):
            key = self.key_for(path)
            arr = obj.detach().numpy()
            # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
            self.tensors[key] = arr if arr.flags.c_contiguous else arr.copy(order="C")
            return {"tensor": key}
        if obj is None or isinstance(obj, bool | int | str):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, np.generic) and not isinstance(obj, np.str_ | np.bytes_ | np.void):
            return self.encode(obj.item(), path)
        if isinstance(obj, Mapping):
            items = []
            for k, v in obj.items():
                if not (k is None or isinstance(k, bool | int | str)):
                    raise TypeError(
                        f"dygrad.save: dict keys must be str, int, bool or None; {_where(path)} "
                        f"has a key of type {type(k).__name__}"
                    )
                items.append([k, self.encode(v, (*path, k))])

            return {"odict" if isinstance(obj, OrderedDict) else "dict": items}
        if isinstance(obj, list | tuple):
            kind = "tuple" if isinstance(obj, tuple) else "list"
            return {kind: [self.encode(v, (*path, i)) for i, v in enumerate(obj)]}
        hint = ""
        if callable(getattr(obj, "state_dict", None)):
            hint = "; save its state_dict() instead, and load it with load_state_dict()"
        elif isinstance(obj, np.ndarray):
            hint = "; convert NumPy arrays with dygrad.from_numpy"
        raise TypeError(
            f"dygrad.save: cannot save {_where(path)} of type {type(obj).__name__}: only tensors, "
            f"dicts, lists, tuples, str, int, float, bool and None can be saved (no pickle){hint}"
        )


def save(obj: Any, f: str | os.PathLike[str] | io.BufferedIOBase | Any) -> None:
    """Save a state dict, or any nesting of dicts, lists and tuples of tensors, numbers and
    strings, to `f` (a path or a writable binary file) in the safetensors format (`torch.save`).

    Never pickles: tensors are stored in the safetensors tensor table (a module's
    `state_dict()` under its own keys, so `safetensors.torch.load_file` reads it as is; nested
    tensors under dotted keys such as `state.0.momentum_buffer`), and the structure around them,
    with every non-tensor value, as JSON in the file's metadata. Saving to a path writes a
    temporary file and renames it, so a crash never leaves a half-written file behind.

    >>> import io, dygrad as torch
    >>> buf = io.BytesIO()
    >>> torch.save({"w": torch.ones(2, 2), "step": 3}, buf); _ = buf.seek(0)
    >>> torch.load(buf)
    {'w': tensor([[1., 1.],
            [1., 1.]]), 'step': 3}
    """
    st = _safetensors()
    enc = _Encoder()
    structure = {"version": FORMAT_VERSION, "root": enc.encode(obj, ())}
    metadata = {STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"), allow_nan=False)}
    data = st.numpy.save(enc.tensors, metadata=metadata)
    if isinstance(f, str | os.PathLike):
        path = os.fspath(f)
        # A sibling temporary file (opened with the usual permissions, unlike mkstemp's 0600).
        tmp = f"{path}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "xb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    elif callable(getattr(f, "write", None)):
        f.write(data)
    else:
        raise TypeError(
            f"dygrad.save: f must be a path or a writable binary file, got {type(f).__name__}"
        )


class _Decoder:
    def __init__(self, tensors: dict[str, Tensor], name: str) -> None:
        self.tensors = tensors
        self.used: set[str] = set()
        self.name = name

    def bad(self, why: str) -> RuntimeError:
        return RuntimeError(f"dygrad.load: {self.name} has corrupted dygrad metadata: {why}")

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise self.bad(f"unexpected entry {str(node)[:80]}")
        ((kind, body),) = node.items()
        if kind == "tensor":
            if body not in self.tensors:
                raise self.bad(f"it refers to a tensor {body!r} the file does not hold")
            self.used.add(body)
            return self.tensors[body]
        if kind == "float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if not isinstance(body, list):
            raise self.bad(f"unexpected entry {str(node)[:80]}")
        if kind in ("dict", "odict"):
            if not all(isinstance(kv, list) and len(kv) == 2 for kv in body):
                raise self.bad("a dict entry is not a [key, value] pair")
            if not all(k is None or isinstance(k, bool | int | str) for k, _ in body):
                raise self.bad("a dict key is not a str, int, bool or None")
            pairs = [(k, self.decode(v)) for k, v in body]
            return OrderedDict(pairs) if kind == "odict" else dict(pairs)
        if kind == "list":
            return [self.decode(v) for v in body]
        if kind == "tuple":
            return tuple(self.decode(v) for v in body)
        raise self.bad(f"unknown entry kind {kind!r}")


def _read(f: Any) -> tuple[bytes, str]:
    if isinstance(f, str | os.PathLike):
        with open(f, "rb") as fh:
            return fh.read(), os.fspath(f)
    if callable(getattr(f, "read", None)):
        data = f.read()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("dygrad.load: f must be opened in binary mode ('rb')")
        return bytes(data), str(getattr(f, "name", type(f).__name__))
    raise TypeError(
        f"dygrad.load: f must be a path or a readable binary file, got {type(f).__name__}"
    )


def _not_safetensors(name: str, data: bytes, why: str) -> RuntimeError:
    hint = ""
    if data[:2] == b"PK" or data[:1] == b"\x80":
        hint = (
            " (it looks like a pickle or torch.save file, which dygrad never loads: re-save it "
            "in PyTorch with safetensors.torch.save_file(model.state_dict(), path))"
        )
    return RuntimeError(f"dygrad.load: {name} is not a valid safetensors file: {why}{hint}")


def load(
    f: str | os.PathLike[str] | io.BufferedIOBase | Any,
    map_location: Any = None,
    *,
    weights_only: bool = True,
    mmap: bool | None = None,
) -> Any:
    """Load what `dygrad.save` saved, or any safetensors file, from a path or a readable binary
    file (`torch.load`).

    Returns the saved structure with fresh dygrad tensors (dtype and shape as saved); a file
    written by another program (`safetensors.torch.save_file`) loads as a dict of its tensors.
    Nothing is unpickled, ever, so `weights_only` is always effectively True; `map_location` may
    only name the CPU. A truncated, corrupted or non-safetensors file raises a RuntimeError that
    names it; since loading builds a new object, no model changes until `load_state_dict`.

    >>> import io, dygrad as torch
    >>> buf = io.BytesIO(); torch.save({"state": {0: {"step": torch.tensor(2.)}}}, buf)
    >>> _ = buf.seek(0); torch.load(buf, map_location="cpu")
    {'state': {0: {'step': tensor(2.)}}}
    """
    st = _safetensors()
    if isinstance(map_location, str | device):
        device(map_location)
    data, name = _read(f)
    try:
        entries = st.deserialize(data)
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
    except Exception as e:  # SafetensorError, or a header that is not JSON
        raise _not_safetensors(name, data, str(e)) from None
    tensors: dict[str, Tensor] = {}
    for key, info in entries:
        np_dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if np_dtype is None:
            supported = ", ".join(_SAFETENSORS_DTYPES)
            raise TypeError(
                f"dygrad.load: tensor {key!r} in {name} has dtype {info['dtype']}, which dygrad "
                f"does not support (supported: {supported})"
            )
        arr = np.frombuffer(info["data"], dtype=np.dtype(np_dtype).newbyteorder("<"))
        arr = arr.astype(np_dtype, copy=False).reshape(info["shape"])
        tensors[key] = from_numpy(arr)
    metadata = header.get("__metadata__") or {}
    if STRUCTURE_KEY not in metadata:
        # A plain safetensors file: its tensors, in the order of its header.
        return {k: tensors[k] for k in header if k != "__metadata__"}
    dec = _Decoder(tensors, name)
    try:
        structure = json.loads(metadata[STRUCTURE_KEY])
    except (ValueError, RecursionError) as e:
        raise dec.bad(f"the structure is not JSON ({e})") from None
    if not isinstance(structure, dict) or "root" not in structure:
        raise dec.bad("no root entry")
    if not isinstance(structure.get("version"), int) or structure["version"] > FORMAT_VERSION:
        raise RuntimeError(
            f"dygrad.load: {name} was written in dygrad's save format version "
            f"{structure.get('version')!r}; this dygrad reads versions up to {FORMAT_VERSION}"
        )
    out = dec.decode(structure["root"])
    if len(dec.used) != len(tensors):
        extra = sorted(set(tensors) - dec.used)[:5]
        raise dec.bad(f"tensors {extra} are in the file but not in its structure")
    return out
