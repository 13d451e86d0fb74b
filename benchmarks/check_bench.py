"""`dygrad.jit.check` on models whose activations would hold billions of elements: wall time and
peak memory (tracemalloc) of the check, beside the memory eager mode would need (computed from
the check's own report, never run).

    python benchmarks/check_bench.py [--repeat N] [--mlp-batch B] [--mlp-width W] [--conv-batch B]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread, as every benchmark here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dygrad as torch  # noqa: E402
from dygrad import nn  # noqa: E402
from dygrad.jit.check import check, spec  # noqa: E402


def mlp(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(width, width), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, 10),
    )  # fmt: skip


def convnet() -> nn.Module:
    # A VGG-style stem and head on 224x224 images.
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 1000),
    )  # fmt: skip


def measure(model: nn.Module, x: Any, repeat: int) -> tuple[float, float, Any]:
    """Median wall time (s) and tracemalloc peak (bytes) of check(model, x), and its result."""
    times = []
    peaks = []
    r = None
    for _ in range(repeat):
        tracemalloc.start()
        t0 = time.perf_counter()
        r = check(model, x)
        times.append(time.perf_counter() - t0)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), max(peaks), r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mlp-batch", type=int, default=100_000)
    ap.add_argument("--mlp-width", type=int, default=10_000)
    ap.add_argument("--conv-batch", type=int, default=1024)
    a = ap.parse_args()
    nb, w, cb = a.mlp_batch, a.mlp_width, a.conv_batch
    print(f"building the models (MLP width {w}: {2 * w * w * 4 / 1e9:.1f} GB of weights) ...")
    models = [
        (f"MLP {w}-{w}-{w}-10, batch {nb}", mlp(w), spec(nb, w), {}),
        (f"MLP {w}-{w}-{w}-10, batch B", None, spec("B", w), {"B": nb}),
        (f"VGG-style stem 224x224, batch {cb}", convnet(), spec(cb, 3, 224, 224), {}),
        ("VGG-style stem 224x224, batch B", None, spec("B", 3, 224, 224), {"B": cb}),
    ]
    print()
    print("| model | check: wall time | check: peak memory | eager: largest activation | "
          "eager: all activations kept | ratio |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    last: nn.Module | None = None
    for name, model, x, sizes in models:
        model = model if model is not None else last
        assert model is not None
        last = model
        dt, peak, r = measure(model, x, a.repeat)
        largest = max(o.numel(**sizes) for op in r.ops for o in op.outputs)
        total = r.activation_bytes(**sizes)
        print(f"| {name} | {dt * 1e3:.1f} ms | {peak / 2**20:.2f} MiB | {largest:.3g} elements | "
              f"{total / 2**30:.1f} GiB | {total / peak:,.0f}x |")  # fmt: skip
    print()
    print(
        f"wall time: median of {a.repeat}; peak memory: tracemalloc, the largest of the runs "
        "(the symbolic rows run the model 3 times: two sizes of B and one to verify)."
    )
    print(
        "eager: computed from the check's report, the outputs of every non-view op held at "
        "once, as autograd holds them for backward."
    )


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
