"""Test collection: modules whose doctests need an optional package are skipped without it."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("graphviz") is None:
    collect_ignore.append("dygrad/viz/dot.py")  # its examples draw with the graphviz package
