"""ONNX export (`torch.onnx.export`): a traced model written as an ONNX graph, each op through the
`onnx=` rule of its declaration in `dygrad/ops`. Needs the `onnx` package (not imported before
`export` runs)."""

from .builder import Dim, ExportError, UnsupportedOperatorError
from .exporter import OPSET, export

__all__ = ["export", "ExportError", "UnsupportedOperatorError", "Dim", "OPSET"]
