"""Test collection: modules whose doctests need an optional package are skipped without it."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("graphviz") is None:
    collect_ignore.append("dygrad/viz/dot.py")  # its examples draw with the graphviz package
if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
    collect_ignore.append("dygrad/onnx")  # its examples export and run models
