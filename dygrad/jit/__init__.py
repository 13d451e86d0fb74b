"""Static-graph mode: trace a function or module once into a graph IR, check shapes before
running, optimize the graph, replay it compiled, export it to ONNX.

- `trace(fn, *example_inputs)`: the recorded graph (`.graph` prints one SSA line per node with
  the source line that made it); calling the result replays it, refusing inputs or data for
  which the trace does not hold.
- `check(fn_or_module, *specs)`: shapes and dtypes checked without data (`spec("B", 784)`); the
  first mismatch raises `ShapeError` with the module path, op, shapes and line.
- `optimize(graph)` (the passes `dce`, `cse`, `fold_constants`, `fuse_elementwise`): dead code,
  common subexpressions, constants and elementwise chains, in place; returns what each pass did.
- `compile(fn_or_module)` (also `dygrad.compile`): traces on the first call and replays
  generated code on raw arrays afterwards, retracing where a guard fails.
"""

from .check import CheckedOp, CheckError, CheckResult, Dim, ShapeError, TensorSpec, check, spec
from .compiler import CompiledFunction, CompiledModule, compile  # noqa: A004
from .interp import GuardFailure
from .ir import Graph, Node, Value
from .passes import OptimizeStats, cse, dce, fold_constants, fuse_elementwise, optimize
from .traced import GuardError, TracedFunction, trace
from .tracer import TraceError

__all__ = ["trace", "TracedFunction", "Graph", "Node", "Value", "TraceError", "GuardError",
           "GuardFailure", "compile", "CompiledFunction", "CompiledModule", "optimize",
           "OptimizeStats", "dce", "cse", "fold_constants", "fuse_elementwise", "check", "spec",
           "Dim", "TensorSpec", "CheckResult", "CheckedOp", "ShapeError", "CheckError"]  # fmt: skip
