"""dygrad's benchmark runner: dygrad against PyTorch and the hand-written NumPy floor.

    python benchmarks/run.py [--quick] [--threads N] [--json FILE] ...
    python -m dygrad bench [same options]

Every (workload, system) pair runs in its own child process, started with one BLAS thread by
default (OMP/OPENBLAS/MKL_NUM_THREADS set in the child's environment before anything is imported,
threadpoolctl when it is installed, `torch.set_num_threads`), so that no library's idle thread pool
slows another. Warm-up steps are excluded; the table shows medians and interquartile ranges of the
repeated samples and the ratios dygrad/torch and dygrad/numpy, all from this one invocation.
PyTorch is optional: without it the torch column reads "n/a" and ratios to it are skipped.
The system `dygrad-compiled` (W1-W4) runs dygrad with each step's forward + loss under
`dygrad.compile`; when it ran, the table gains its column and the ratios compiled/torch and
compiled/eager (over eager dygrad).

The workloads themselves are in `workloads.py` beside this file. This module imports nothing
outside the standard library at the top, so `python -m dygrad bench` can load it by path.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

COMPILED = "dygrad-compiled"
SYSTEMS = ("dygrad", COMPILED, "torch", "numpy")
EAGER = ("dygrad", "torch", "numpy")
WORKLOADS = ("W1", "W2", "W3", "W4-seed", "W4-lenet", "W5-100k", "W5-1M", "W6", "W6-ckpt", "W7")
# Names that select several workloads at once in --workloads.
WORKLOAD_GROUPS = {"W4": ("W4-seed", "W4-lenet"), "W5": ("W5-100k", "W5-1M")}
# Systems a workload runs on, where not all: W5 has no NumPy floor (a chain of scalar adds has
# nothing to hand-write), nor has W6-ckpt (checkpointing is a feature of autograd libraries);
# their column reads n/a. dygrad-compiled runs the training-step workloads W1-W4 only: compiling
# W5's 100,000-op chain would time the tracer, W6 measures memory and W7 one matmul.
WORKLOAD_SYSTEMS = {
    "W5-100k": ("dygrad", "torch"),
    "W5-1M": ("dygrad", "torch"),
    "W6": EAGER,
    "W6-ckpt": ("dygrad", "torch"),
    "W7": EAGER,
}
# The main row's metric of the workloads that report several (the others follow as rows of their
# own: `Result.metrics`).
MAIN_METRIC = {
    "W5-100k": "time per node (build + backward)",
    "W5-1M": "time per node (build + backward)",
    "W6": "time per step",
    "W6-ckpt": "time per step, checkpoint_sequential",
    "W7": "float32",
}
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
# glibc's malloc (Linux): `--malloc steady` (the default) sets these in the children of the
# workloads that measure time only, for every system alike. A step that allocates and frees
# megabytes otherwise depends on glibc's dynamic thresholds: when the free space at the top of the
# heap outgrows the trim threshold it goes back to the kernel, and the next step takes it again
# page by page (measured here: about 2 us a page fault; PyTorch's LeNet step 6.39 ms steady,
# 9.29 with 1,524 faults a step). Which step trims depends on the order and sizes of earlier
# allocations, not on the work. The memory workloads (W5, W6) keep glibc's defaults (unless the
# caller's environment sets them): they measure what a process holds.
STEADY_MALLOC = {
    # Blocks up to this size come from the heap and are reused; 32 MiB is the largest value
    # glibc accepts on 64-bit systems (mallopt refuses more in some versions).
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),  # free heap kept for the next step, not returned
}
MEMORY_WORKLOADS = ("W5-100k", "W5-1M", "W6", "W6-ckpt")

# Tolerances of the cross-system checks (reference: torch, else the NumPy floor).
W1_GRAD_RTOL = 1e-3  # float32 after a thousand ops, relative to the largest gradient entry
W3_LOSS_RTOL = 1e-4  # first-step loss, relative
W4_LOSS_RTOL = 1e-4  # first-step loss, relative
W4_GRAD_RTOL = 1e-3  # first-step gradients: norms and random projections, relative to the norm
W2_LOSS_RTOL = 1e-4  # first-step loss, relative
W2_GRAD_RTOL = 1e-3  # first-step gradient norm (all parameters), relative
W5_GRAD_RTOL = 0.0  # d(x0 + 1 + ... + 1)/dx0 is exactly 1
W6_LOSS_RTOL = 1e-4  # first-step loss, relative (float32 through 20 layers)
W6_GRAD_RTOL = 1e-3  # first-step gradient norm (all parameters), relative
W7_RTOL = 1e-4  # norm of the product's first rows, relative

EXIT_CHECK_FAILED = 1


@dataclass
class Outcome:
    """One (workload, system) child's report, or why there is none."""

    workload: str
    system: str
    status: str  # "ok", "unavailable" (the system cannot be imported), "error"
    unit: str = ""
    samples: list[float] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    # Further rows of the workload: name -> {"unit": ..., "samples": [...]}.
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stats(self) -> tuple[float, float, float]:
        """Median, first and third quartiles of the samples."""
        return quartiles(self.samples)


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    """(median, q1, q3); with fewer than two samples all three are the one value."""
    if not xs:
        return (math.nan, math.nan, math.nan)
    if len(xs) < 2:
        return (xs[0], xs[0], xs[0])
    q1, med, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return (med, q1, q3)


def describe(workload: str, cfg: dict[str, Any], metric: str | None = None) -> str:
    """The table's row label for a workload (and one of its metrics) under this configuration."""
    if metric is None and workload in MAIN_METRIC:
        metric = MAIN_METRIC[workload]
    base = _describe(workload, cfg)
    return f"{base}: {metric}" if metric else base


def _describe(workload: str, cfg: dict[str, Any]) -> str:
    if workload == "W2":
        return (
            f"W2 micrograd MLP 2-16-16-1 (ReLU), {cfg['w2_points']} moons points, "
            "summed hinge loss, fwd+bwd"
        )
    if workload in ("W5-100k", "W5-1M"):
        n = cfg["w5_nodes"][0 if workload == "W5-100k" else 1]
        return f"W5 chain of {n:,} scalar adds (x = x + 1.0, 0-d f32)"
    if workload == "W6":
        return (
            f"W6 MLP {cfg['w6_layers']} x Linear({cfg['w6_width']},{cfg['w6_width']})+ReLU, "
            f"batch {cfg['w6_batch']}, mean, fwd+bwd"
        )
    if workload == "W6-ckpt":
        segments = min(cfg["w6_segments"], cfg["w6_layers"])
        return (
            f"W6-ckpt MLP {cfg['w6_layers']} x Linear({cfg['w6_width']},{cfg['w6_width']})+ReLU, "
            f"batch {cfg['w6_batch']}, checkpoint_sequential in {segments} segments vs none, "
            "mean, fwd+bwd"
        )
    if workload == "W7":
        n = cfg["w7_n"]
        return f"W7 matmul {n}x{n} @ {n}x{n}"
    if workload == "W1":
        return f"W1 per-op overhead: {cfg['w1_ops']}-op chain on (4,) f32, fwd+bwd"
    if workload == "W4-seed":
        return (
            "W4 seed net: Conv2d(1,3,3,s2,p1), Conv2d(3,12,3,s2,p1), "
            f"batch {cfg['w4_seed_batch']} of 1x28x28, mean, fwd+bwd+SGD"
        )
    if workload == "W4-lenet":
        return (
            "W4 LeNet: Conv2d(1,16,5), ReLU, MaxPool2d(2), Conv2d(16,32,5), ReLU, MaxPool2d(2), "
            f"Linear(512,10), batch {cfg['w4_batch']} of 1x28x28, CE, fwd+bwd+SGD"
        )
    h = cfg["w3_hidden"]
    return f"W3 MLP 784-{h}-{h}-10, batch {cfg['w3_batch']}, fwd+bwd+SGD"


# ----------------------------------------------------------------------------------------------
# child side
# ----------------------------------------------------------------------------------------------


def child_main(spec_json: str, out_path: str) -> int:
    """Run one workload on one system and write an Outcome as JSON to `out_path`."""
    spec = json.loads(spec_json)
    workload, system, cfg = spec["workload"], spec["system"], spec["cfg"]
    threads = int(cfg["threads"])
    # The checkout's dygrad, not an installed one; workloads.py sits beside this file.
    sys.path[:0] = [str(HERE), str(REPO)]
    res: dict[str, Any] = {"workload": workload, "system": system}
    pinned = pin_cpu(cfg.get("cpu"))
    try:
        import numpy as np

        info: dict[str, Any] = {"numpy": np.__version__, "cpus": pinned}
        info["malloc"] = {k: os.environ[k] for k in STEADY_MALLOC if k in os.environ}
        if system == "torch":
            try:
                import torch
            except ImportError as e:
                res.update(status="unavailable", error=f"{type(e).__name__}: {e}")
                Path(out_path).write_text(json.dumps(res))
                return 0
            torch.set_num_threads(threads)
            info["torch"] = torch.__version__
            info["torch_threads"] = torch.get_num_threads()
        elif system in ("dygrad", COMPILED):
            import dygrad

            info["dygrad"] = dygrad.__version__
            info["dygrad_path"] = str(Path(dygrad.__file__).parent)
        try:
            from threadpoolctl import threadpool_info, threadpool_limits
        except ImportError:
            info["threadpoolctl"] = None
        else:
            # After the imports: threadpoolctl sees only the libraries already loaded. The limit
            # stays in force (nothing restores it).
            threadpool_limits(limits=threads)
            info["threadpoolctl"] = [
                {k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                for p in threadpool_info()
            ]
        import workloads

        r = workloads.run(workload, system, cfg)
        metrics = {k: {"unit": u, "samples": v} for k, (u, v) in r.metrics.items()}
        res.update(
            status="ok", unit=r.unit, samples=r.samples, checks=r.checks, info=info, metrics=metrics
        )
    except Exception as e:  # reported to the parent, which fails the run
        import traceback

        res.update(status="error", error=f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    Path(out_path).write_text(json.dumps(res))
    return 0


def pin_cpu(cpu: int | None) -> list[int] | None:
    """Pin this process to one CPU (before any thread pool starts), where the OS allows it;
    the CPUs it may run on afterwards, or None where the OS cannot tell."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass  # a CPU outside this process's set: run where the OS puts us, and say so
    return sorted(os.sched_getaffinity(0))


def default_cpu() -> int | None:
    """The last CPU this process may use (CPU 0 takes most interrupts), or None."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


# ----------------------------------------------------------------------------------------------
# parent side
# ----------------------------------------------------------------------------------------------


def child_env(threads: int, steady_malloc: bool = False) -> dict[str, str]:
    """The environment of a child: ours, with every BLAS/OpenMP thread count pinned, and with
    `steady_malloc` glibc's heap kept from one step to the next (`STEADY_MALLOC`; a value already
    set in our environment wins).

    OPENBLAS_CORETYPE and the like are left as they are.
    """
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    if steady_malloc:
        for var, value in STEADY_MALLOC.items():
            env.setdefault(var, value)
    return env


def steady_malloc_here() -> bool:
    """Give this running process `STEADY_MALLOC`'s settings through glibc's `mallopt` (for tools
    that time kernels in their own process, like breakdown.py); False where that is not glibc."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
        return bool(
            libc.mallopt(m_mmap_threshold, int(STEADY_MALLOC["MALLOC_MMAP_THRESHOLD_"]))
            and libc.mallopt(m_trim_threshold, int(STEADY_MALLOC["MALLOC_TRIM_THRESHOLD_"]))
        )
    except (OSError, AttributeError):
        return False


def steady_malloc(workload: str, cfg: dict[str, Any]) -> bool:
    """Whether `workload`'s children run with `STEADY_MALLOC` under this configuration."""
    return cfg.get("malloc", "steady") == "steady" and workload not in MEMORY_WORKLOADS


def workload_rounds(workload: str, cfg: dict[str, Any]) -> int:
    """How many child processes (rounds) `workload` runs per system: `cfg["rounds"]` for the
    time-only workloads, one for the memory workloads (their samples take seconds and their
    peaks do not drift with the machine's load)."""
    return 1 if workload in MEMORY_WORKLOADS else int(cfg.get("rounds", 1))


def pool_rounds(rounds: list[Outcome]) -> Outcome:
    """One Outcome from a system's rounds: the first that did not succeed, if any; else every
    round's samples (and metrics' samples) in order, the first round's checks and info, and each
    round's median in `info["round_medians"]`."""
    for o in rounds:
        if o.status != "ok":
            return o
    first = rounds[0]
    if len(rounds) == 1:
        return first
    metrics = {
        name: {
            "unit": m["unit"],
            "samples": [v for o in rounds for v in o.metrics[name]["samples"]],
        }
        for name, m in first.metrics.items()
    }
    info = dict(first.info, round_medians=[o.stats()[0] for o in rounds])
    return Outcome(
        workload=first.workload,
        system=first.system,
        status="ok",
        unit=first.unit,
        samples=[s for o in rounds for s in o.samples],
        checks=first.checks,
        info=info,
        metrics=metrics,
    )


def run_child(workload: str, system: str, cfg: dict[str, Any], timeout: float) -> Outcome:
    """Start one child process for (workload, system) and collect its report."""
    spec = json.dumps({"workload": workload, "system": system, "cfg": cfg})
    with tempfile.TemporaryDirectory(prefix="dygrad-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            spec,
            "--child-out",
            str(out),
        ]
        try:
            proc = subprocess.run(
                cmd,
                env=child_env(int(cfg["threads"]), steady_malloc(workload, cfg)),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Outcome(workload, system, "error", error=f"timed out after {timeout:g} s")
        if not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            return Outcome(
                workload,
                system,
                "error",
                error=f"child exited {proc.returncode} without a result:\n{tail}",
            )
        res = json.loads(out.read_text())
    return Outcome(
        workload=workload,
        system=system,
        status=res["status"],
        unit=res.get("unit", ""),
        samples=[float(s) for s in res.get("samples", [])],
        checks=res.get("checks", {}),
        info=res.get("info", {}),
        error=res.get("error", ""),
        metrics=res.get("metrics", {}),
    )


def check(workload: str, outs: dict[str, Outcome]) -> list[dict[str, Any]]:
    """Compare each system's computed values with the reference (torch, else NumPy)."""
    ok = {s: o for s, o in outs.items() if o.status == "ok"}
    ref_name = "torch" if "torch" in ok else ("numpy" if "numpy" in ok else None)
    rows: list[dict[str, Any]] = []
    if ref_name is None:
        return rows
    ref = ok[ref_name].checks
    for name, o in ok.items():
        if name == ref_name:
            continue
        if workload in SCALAR_CHECKS:
            for key, what, rtol in SCALAR_CHECKS[workload]:
                rows.append(
                    scalar_check(workload, name, ref_name, what, o.checks[key], ref[key], rtol)
                )
            continue
        if workload == "W1":
            g, r = o.checks["grad"], ref["grad"]
            scale = max(abs(v) for v in r) or 1.0
            diff = max(abs(a - b) for a, b in zip(g, r))
            rel = diff / scale
            rows.append(
                {
                    "workload": workload,
                    "system": name,
                    "reference": ref_name,
                    "what": "x.grad, max abs diff",
                    "value": diff,
                    "rel": rel,
                    "rtol": W1_GRAD_RTOL,
                    "ok": len(g) == len(r) and rel <= W1_GRAD_RTOL,
                }
            )
        else:
            rtol = W4_LOSS_RTOL if workload.startswith("W4") else W3_LOSS_RTOL
            a, b = o.checks["first_loss"], ref["first_loss"]
            diff = abs(a - b)
            rel = diff / abs(b) if b else diff
            rows.append(
                {
                    "workload": workload,
                    "system": name,
                    "reference": ref_name,
                    "what": f"first-step loss {a:.6f}, abs diff",
                    "value": diff,
                    "rel": rel,
                    "rtol": rtol,
                    "ok": rel <= rtol,
                }
            )
        if workload.startswith("W4"):
            rows.append(grad_check(workload, name, o.checks, ref_name, ref))
    return rows


# Workloads checked by scalars: (check key, description, relative tolerance).
SCALAR_CHECKS: dict[str, list[tuple[str, str, float]]] = {
    "W2": [
        ("first_loss", "first-step loss", W2_LOSS_RTOL),
        ("grad_norm", "first-step grad norm", W2_GRAD_RTOL),
    ],
    "W5-100k": [("grad", "x0.grad", W5_GRAD_RTOL)],
    "W5-1M": [("grad", "x0.grad", W5_GRAD_RTOL)],
    "W6": [
        ("first_loss", "first-step loss", W6_LOSS_RTOL),
        ("grad_norm", "first-step grad norm", W6_GRAD_RTOL),
    ],
    "W6-ckpt": [
        ("first_loss", "first-step loss", W6_LOSS_RTOL),
        ("grad_norm", "first-step grad norm", W6_GRAD_RTOL),
    ],
    "W7": [
        ("float32_norm", "float32 product norm (4 rows)", W7_RTOL),
        ("float64_norm", "float64 product norm (4 rows)", W7_RTOL),
    ],
}


def scalar_check(
    workload: str, name: str, ref_name: str, what: str, a: float, b: float, rtol: float
) -> dict[str, Any]:
    """One value against the reference's, relative to the reference."""
    diff = abs(a - b)
    rel = diff / abs(b) if b else diff
    return {
        "workload": workload,
        "system": name,
        "reference": ref_name,
        "what": f"{what} {a:.6g}, abs diff",
        "value": diff,
        "rel": rel,
        "rtol": rtol,
        "ok": math.isfinite(a) and rel <= rtol,
    }


def grad_check(
    workload: str, name: str, got: dict[str, Any], ref_name: str, ref: dict[str, Any]
) -> dict[str, Any]:
    """W4's first-step gradients: per parameter, the norm and a fixed random projection (see
    `workloads.w4_grad_summary`), each difference relative to the reference gradient's norm."""
    norms, probes = got["grad_norms"], got["grad_probes"]
    r_norms, r_probes = ref["grad_norms"], ref["grad_probes"]
    diffs = [
        max(abs(n - rn), abs(p - rp)) for n, p, rn, rp in zip(norms, probes, r_norms, r_probes)
    ]
    rels = [d / rn if rn else d for d, rn in zip(diffs, r_norms)]
    rel = max(rels, default=math.inf)
    return {
        "workload": workload,
        "system": name,
        "reference": ref_name,
        "what": f"first-step grads of {len(norms)} params (norm, projection), max abs diff",
        "value": max(diffs, default=math.inf),
        "rel": rel,
        "rtol": W4_GRAD_RTOL,
        "ok": len(norms) == len(r_norms) == len(probes) == len(r_probes) and rel <= W4_GRAD_RTOL,
    }


def fmt_num(x: float) -> str:
    """A timing with three or four significant digits."""
    if not math.isfinite(x):
        return "n/a"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def _samples(o: Outcome, metric: str | None) -> list[float] | None:
    """The samples of the main row (metric None) or of a metric; None where missing."""
    if o.status != "ok":
        return None
    if metric is None:
        return o.samples
    m = o.metrics.get(metric)
    return None if m is None else [float(v) for v in m["samples"]]


def cell(o: Outcome | None, metric: str | None = None) -> str:
    """'median (IQR q1-q3)' for a system's samples, or why there are none."""
    if o is None or o.status == "unavailable":
        return "n/a"
    if o.status != "ok":
        return "error"
    xs = _samples(o, metric)
    if xs is None:
        return "n/a"
    med, q1, q3 = quartiles(xs)
    return f"{fmt_num(med)} (IQR {fmt_num(q1)}-{fmt_num(q3)})"


def ratio(a: Outcome | None, b: Outcome | None, metric: str | None = None) -> str:
    """Median of a over median of b, or 'n/a'."""
    if a is None or b is None or a.status != "ok" or b.status != "ok":
        return "n/a"
    xa, xb = _samples(a, metric), _samples(b, metric)
    if not xa or not xb:
        return "n/a"
    num, den = quartiles(xa)[0], quartiles(xb)[0]
    return f"{num / den:.2f}x" if den > 0 and math.isfinite(num) else "n/a"


def render(
    results: dict[str, dict[str, Outcome]], checks: list[dict[str, Any]], cfg: dict[str, Any]
) -> str:
    """The Markdown report: the timing table, then the correctness checks. The compiled columns
    (dygrad-compiled, its ratios to torch and to eager dygrad) appear when that system ran."""
    compiled = any(COMPILED in outs for outs in results.values())
    head = "| workload | unit | dygrad | torch | numpy | dygrad/torch | dygrad/numpy |"
    if compiled:
        head += " compiled | compiled/torch | compiled/eager |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for wl, outs in results.items():
        d, t, n = outs.get("dygrad"), outs.get("torch"), outs.get("numpy")
        c = outs.get(COMPILED)
        metrics: list[str | None] = [None]
        for o in outs.values():
            metrics += [m for m in o.metrics if m not in metrics]
        for m in metrics:
            if m is None:
                units = {o.unit for o in outs.values() if o.unit}
            else:
                units = {o.metrics[m]["unit"] for o in outs.values() if m in o.metrics}
            unit = units.pop() if len(units) == 1 else "?"
            row = (
                f"| {describe(wl, cfg, m)} | {unit} | {cell(d, m)} | {cell(t, m)} | "
                f"{cell(n, m)} | {ratio(d, t, m)} | {ratio(d, n, m)} |"
            )
            if compiled:
                row += f" {cell(c, m)} | {ratio(c, t, m)} | {ratio(c, d, m)} |"
            lines.append(row)
    if checks:
        lines += [
            "",
            "| check | system | vs | value | relative | tolerance | ok |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in checks:
            lines.append(
                f"| {c['workload']} {c['what']} | {c['system']} | {c['reference']} | "
                f"{c['value']:.3g} | {c['rel']:.3g} | {c['rtol']:g} | "
                f"{'yes' if c['ok'] else 'NO'} |"
            )
    return "\n".join(lines)


def header(results: dict[str, dict[str, Outcome]], cfg: dict[str, Any]) -> str:
    """One line saying how the numbers were taken."""
    blas = "unknown"
    versions: dict[str, str] = {}
    for outs in results.values():
        for o in outs.values():
            if "threadpoolctl" in o.info and o.system == "numpy":
                tp = o.info["threadpoolctl"]
                blas = (
                    ", ".join(f"{p['internal_api']} {p['version']} {p['architecture']}" for p in tp)
                    if tp is not None
                    else "not reported (threadpoolctl not installed)"
                )
            for k in ("numpy", "torch", "dygrad"):
                if k in o.info:
                    versions[k] = o.info[k]
    vs = "".join(f", {k} {v}" for k, v in sorted(versions.items()))
    opts = {o.checks.get("compile_optimize") for outs in results.values() for o in outs.values()
            if o.system == COMPILED and o.status == "ok"}  # fmt: skip
    if opts:
        how = {True: "dygrad.compile(fn)", False: "dygrad.compile(fn, optimize=False)"}
        vs += "; compiled: forward + loss through " + " and ".join(how[o] for o in sorted(opts))
    cpus = {tuple(o.info["cpus"]) for outs in results.values() for o in outs.values()
            if o.info.get("cpus") is not None}  # fmt: skip
    pin = (
        f"pinned to CPU {next(iter(cpus))[0]}"
        if len(cpus) == 1 and len(next(iter(cpus))) == 1
        else "not pinned"
    )
    malloc = (
        "glibc malloc: heap kept between steps (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) "
        "except in W5/W6"
        if cfg.get("malloc", "steady") == "steady"
        else "glibc malloc: defaults"
    )
    inherited = [f"{k}={os.environ[k]}" for k in STEADY_MALLOC if k in os.environ]
    if inherited:  # the children inherit them, W5/W6 included, and they win over ours
        malloc += f" (set by the caller for every child: {', '.join(inherited)})"
    rounds = int(cfg.get("rounds", 1))
    procs = (
        f"{rounds} processes per (workload, system) taking turns with the other systems', "
        f"{math.ceil(cfg['samples'] / rounds)} samples each after {cfg['warmup']} warm-up, "
        "pooled (W5/W6: one process)"
        if rounds > 1
        else f"one process per (workload, system), {cfg['samples']} samples after "
        f"{cfg['warmup']} warm-up"
    )
    return (
        f"{cfg['threads']} thread(s) per process, {pin}; {procs}; {malloc}; median (IQR q1-q3); "
        f"python {platform.python_version()}{vs}; BLAS: {blas}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line of `benchmarks/run.py` and `python -m dygrad bench`."""
    p = argparse.ArgumentParser(
        prog="python -m dygrad bench",
        description="Benchmark dygrad against PyTorch and hand-written NumPy.",
    )
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads per process")
    p.add_argument("--quick", action="store_true", help="few samples: a fast smoke run")
    p.add_argument(
        "--malloc",
        choices=("steady", "default"),
        default="steady",
        help="glibc's heap in the time-only workloads' children: kept between steps for every "
        "system (steady, the default) or glibc's own dynamic thresholds (default)",
    )
    p.add_argument("--json", metavar="FILE", help="write every sample and the checks to FILE")
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated subset; W4 and W5 select both of their variants",
    )
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated subset ({COMPILED}: W1-W4 with dygrad.compile)",
    )
    p.add_argument("--samples", type=int, help="timed samples per (workload, system)")
    p.add_argument(
        "--rounds",
        type=int,
        help="child processes per (workload, system) of the time-only workloads, run in turn "
        "with the other systems' and their samples pooled (default 3; 1 with --quick)",
    )
    p.add_argument("--warmup", type=int, help="untimed warm-up steps")
    p.add_argument("--w1-ops", type=int, default=1000, help="W1 chain length")
    p.add_argument("--w3-batch", type=int, default=128, help="W3 batch size")
    p.add_argument("--w3-hidden", type=int, default=512, help="W3 hidden width")
    p.add_argument("--w4-batch", type=int, default=64, help="W4 LeNet batch size")
    p.add_argument("--w4-seed-batch", type=int, default=4, help="W4 seed net batch size")
    p.add_argument("--w2-points", type=int, default=100, help="W2 number of data points")
    p.add_argument("--w5-100k-nodes", type=int, default=100_000, help="W5-100k chain length")
    p.add_argument("--w5-1m-nodes", type=int, default=1_000_000, help="W5-1M chain length")
    p.add_argument("--w6-layers", type=int, default=20, help="W6 number of Linear+ReLU layers")
    p.add_argument("--w6-width", type=int, default=1024, help="W6 layer width")
    p.add_argument("--w6-batch", type=int, default=256, help="W6 batch size")
    p.add_argument(
        "--w6-segments", type=int, default=4, help="W6-ckpt checkpoint_sequential segments"
    )
    p.add_argument("--w7-n", type=int, default=1024, help="W7 matrix size n (n x n @ n x n)")
    p.add_argument(
        "--cpu",
        type=int,
        default=default_cpu(),
        help="CPU each child process is pinned to (default: the last one; -1: no pinning)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per child")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name, allowed, groups in (
        ("workloads", WORKLOADS, WORKLOAD_GROUPS),
        ("systems", SYSTEMS, {}),
    ):
        chosen = [s.strip() for s in getattr(args, name).split(",") if s.strip()]
        chosen = [m for s in chosen for m in groups.get(s, (s,))]
        bad = [s for s in chosen if s not in allowed]
        if bad or not chosen:
            names = ", ".join((*allowed, *groups))
            p.error(f"--{name}: choose from {names} (got {getattr(args, name)!r})")
        setattr(args, name, [s for s in allowed if s in chosen])
    for name in (
        "threads",
        "w1_ops",
        "w2_points",
        "w3_batch",
        "w3_hidden",
        "w4_batch",
        "w4_seed_batch",
        "w5_100k_nodes",
        "w5_1m_nodes",
        "w6_layers",
        "w6_width",
        "w6_batch",
        "w6_segments",
        "w7_n",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.samples is not None and args.samples < 1 or args.warmup is not None and args.warmup < 0:
        p.error("--samples must be at least 1 and --warmup at least 0")
    if args.rounds is not None and args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the Markdown table; nonzero exit if a system errs or disagrees."""
    args = parse_args(argv)
    if args.child is not None:
        return child_main(args.child, args.child_out)
    warmup = args.warmup if args.warmup is not None else (2 if args.quick else 10)
    samples = args.samples if args.samples is not None else (5 if args.quick else 100)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    cfg = {
        "threads": args.threads,
        "malloc": args.malloc,
        "rounds": rounds,
        "warmup": warmup,
        "samples": samples,
        "w1_ops": args.w1_ops,
        "w3_batch": args.w3_batch,
        "w3_hidden": args.w3_hidden,
        "w4_batch": args.w4_batch,
        "w4_seed_batch": args.w4_seed_batch,
        "w2_points": args.w2_points,
        "w5_nodes": [args.w5_100k_nodes, args.w5_1m_nodes],
        "w6_layers": args.w6_layers,
        "w6_width": args.w6_width,
        "w6_batch": args.w6_batch,
        "w6_segments": args.w6_segments,
        "w7_n": args.w7_n,
        "cpu": None if args.cpu is None or args.cpu < 0 else args.cpu,
    }
    t0 = time.perf_counter()
    results: dict[str, dict[str, Outcome]] = {}
    checks: list[dict[str, Any]] = []
    failures: list[str] = []
    for wl in args.workloads:
        systems = [s for s in args.systems if s in WORKLOAD_SYSTEMS.get(wl, SYSTEMS)]
        runs: dict[str, list[Outcome]] = {s: [] for s in systems}
        n_rounds = workload_rounds(wl, cfg)
        child_cfg = dict(cfg, samples=math.ceil(cfg["samples"] / n_rounds))
        for r in range(n_rounds):
            # The systems take turns, in alternating order: a slow spell of this shared machine
            # falls on all of them rather than on one.
            for system in systems if r % 2 == 0 else systems[::-1]:
                if runs[system] and runs[system][-1].status != "ok":
                    continue  # unavailable or failed: not again
                rnd = f" (round {r + 1} of {n_rounds})" if n_rounds > 1 else ""
                print(f"running {wl} on {system}{rnd} ...", file=sys.stderr, flush=True)
                runs[system].append(run_child(wl, system, child_cfg, args.timeout))
        results[wl] = {}
        for system in systems:
            o = results[wl][system] = pool_rounds(runs[system])
            if o.status == "error":
                failures.append(f"{wl} on {system} failed: {o.error}")
            elif o.status == "unavailable":
                print(f"  {system} unavailable ({o.error}): shown as n/a", file=sys.stderr)
        checks += check(wl, results[wl])
    failures += [
        f"{c['workload']} {c['system']}: {c['what']} {c['value']:.3g} vs {c['reference']} "
        f"is {c['rel']:.3g} relative, over the tolerance {c['rtol']:g}"
        for c in checks
        if not c["ok"]
    ]
    print(header(results, cfg))
    print()
    print(render(results, checks, cfg))
    if args.json:
        doc = {
            "config": cfg,
            "command": sys.argv,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wall_s": time.perf_counter() - t0,
            "results": [
                {
                    "workload": o.workload,
                    "system": o.system,
                    "status": o.status,
                    "unit": o.unit,
                    "median": o.stats()[0] if o.samples else None,
                    "q1": o.stats()[1] if o.samples else None,
                    "q3": o.stats()[2] if o.samples else None,
                    "samples": o.samples,
                    "metrics": o.metrics,
                    "checks": o.checks,
                    "info": o.info,
                    "error": o.error,
                }
                for outs in results.values()
                for o in outs.values()
            ],
            "cross_checks": checks,
        }
        Path(args.json).write_text(json.dumps(doc, indent=1))
    if failures:
        print("\nFAILED:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
