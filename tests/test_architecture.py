"""The layer table of ARCHITECTURE.md, enforced: a module imports only from its own layer or the
layers before it; dygrad never imports torch; the engine and graph know no op."""

import ast
import pathlib
import re

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "dygrad"

# (layer index, module-name prefixes), in the order of ARCHITECTURE.md's table.
LAYERS = [
    (0, ["dygrad.backend", "dygrad.dtypes"]),
    (1, ["dygrad.autograd.grad_mode", "dygrad.autograd.graph", "dygrad.autograd.engine"]),
    (2, ["dygrad.ops"]),
    (3, ["dygrad.tensor", "dygrad._printing", "dygrad.creation", "dygrad.indexing",
         "dygrad.functions", "dygrad.return_types", "dygrad.backward", "dygrad._numpy_dispatch"]),
    (4, ["dygrad.nn", "dygrad.optim", "dygrad.utils", "dygrad.serialization"]),
    (5, ["dygrad.autograd", "dygrad.viz", "dygrad.jit", "dygrad.onnx", "dygrad.func",
         "dygrad.utils.checkpoint"]),
    (6, ["dygrad.__init__", "dygrad.__main__", "dygrad"]),
]  # fmt: skip


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for idx, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = idx, len(p)
    assert best is not None, f"module {module} is in no layer of ARCHITECTURE.md"
    return best


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1] + (["__init__"] if len(parts) == 2 else [])
    return ".".join(parts)


def imports(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text())
    pkg = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else ".".join(
        path.relative_to(PKG.parent).parent.parts)  # fmt: skip
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    out += [f"{mod}.{a.name}" for a in node.names]
                    continue
            else:
                mod = node.module or ""
            out.append(mod)
    return out


FILES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG.parent)))
def test_imports_follow_the_layer_table(path):
    me = module_name(path)
    mine = layer_of(me if not me.endswith("__init__") else "dygrad.__init__")
    for mod in imports(path):
        assert not mod.split(".")[0] == "torch", f"{me} imports torch"
        if mod.startswith("dygrad"):
            # dygrad.autograd (the package) re-exports the graph layer lazily; resolve submodules.
            other = layer_of(mod)
            if mod == "dygrad.autograd" and mine >= 1:
                continue
            assert other <= mine, f"{me} (layer {mine}) imports {mod} (layer {other})"


def test_engine_and_graph_name_no_op():
    from dygrad.ops import REGISTRY

    for f in ("autograd/engine.py", "autograd/graph.py"):
        text = (PKG / f).read_text()
        for name, op in REGISTRY.items():
            assert not re.search(rf"\b{op.grad_fn}\b(?!Error)", text), f"{f} names {op.grad_fn}"
