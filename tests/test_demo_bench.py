"""`python -m dygrad demo` and `python -m dygrad bench`: the entry points run end to end.

The demo must print the seed walkthrough exactly (explanation lines aside) and a vector-Jacobian
product whose x.grad equals J^T v. The benchmark runs on a tiny configuration and must produce
its table with finite positive numbers; timings are never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

SEED = """\
>>> x = torch.zeros(1, requires_grad=True)
>>> y = x + 1
>>> y
tensor([1.], grad_fn=<AddBackward0>)
>>> x = torch.ones(2, 2, requires_grad=True)
>>> y = x + 2
>>> z = y * y * 3
>>> o = z.mean()
>>> print(o)
tensor(27., grad_fn=<MeanBackward0>)
>>> o.backward()
>>> print(x.grad)
tensor([[4.5000, 4.5000],
        [4.5000, 4.5000]])""".splitlines()

HAVE_TORCH = importlib.util.find_spec("torch") is not None
TINY = ["--quick", "--w1-ops", "30", "--w3-batch", "8", "--w3-hidden", "16", "--w4-batch", "8"]
TINY += ["--w2-points", "20", "--w5-100k-nodes", "300", "--w5-1m-nodes", "600"]
TINY += ["--w6-layers", "3", "--w6-width", "32", "--w6-batch", "4", "--w7-n", "32"]
WORKLOADS = ("W1", "W2", "W3", "W4-seed", "W4-lenet", "W5-100k", "W5-1M", "W6", "W6-ckpt", "W7")
# Workloads without a NumPy floor.
NO_NUMPY = ("W5-100k", "W5-1M", "W6-ckpt")
# Workloads with a dygrad-compiled column (dygrad.compile of the step's forward + loss).
COMPILED = ("W1", "W2", "W3", "W4-seed", "W4-lenet")
HEADER = (
    "| workload | unit | dygrad | torch | numpy | dygrad/torch | dygrad/numpy "
    "| compiled | compiled/torch | compiled/eager |"
)
# The start of each workload's row label in the table.
ROW_PREFIX = {
    "W1": "| W1 per-op",
    "W2": "| W2 micrograd MLP",
    "W3": "| W3 MLP",
    "W4-seed": "| W4 seed net",
    "W4-lenet": "| W4 LeNet",
    "W5-100k": "| W5 chain of 300 ",
    "W5-1M": "| W5 chain of 600 ",
    "W6": "| W6 MLP",
    "W6-ckpt": "| W6-ckpt MLP",
    "W7": "| W7 matmul",
}
# The further rows of the workloads that report several metrics: (label suffix, unit).
METRIC_ROWS = {
    "W5-100k": [
        ("time per node (build + backward)", "us/node"),
        ("build", "ms"),
        ("backward", "ms"),
        ("peak memory", "MiB"),
    ],
    "W6": [("time per step", "ms/step"), ("peak memory", "MiB"), ("held", "MiB")],
    "W6-ckpt": [
        ("time per step, checkpoint_sequential", "ms/step"),
        ("time per step, no checkpoint", "ms/step"),
        ("peak memory, checkpoint_sequential", "MiB"),
        ("peak memory, no checkpoint", "MiB"),
        ("held after forward, checkpoint_sequential", "MiB"),
        ("held after forward, no checkpoint", "MiB"),
    ],
    "W7": [("float32", "GFLOP/s"), ("float64", "GFLOP/s")],
}
METRIC_ROWS["W5-1M"] = METRIC_ROWS["W5-100k"]


def _env(extra_path: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [p for p in (extra_path, str(REPO), env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _run(
    args: list[str], extra_path: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=_env(extra_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def demo_out(demo_dir: Path) -> list[str]:
    p = _run(["-m", "dygrad", "demo", "--no-train", "--out", str(demo_dir)])
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_demo_draws_the_texts_pictures_explains_and_writes_the_step_page(
    demo_out: list[str], demo_dir: Path
) -> None:
    text = "\n".join(demo_out)
    assert "dz/dy = 6·y = 18" in text and "do/dz = 1/4" in text and "dy/dx = 1" in text
    assert "= 4.5" in text and "matches" in text
    page = (demo_dir / "backward_steps.html").read_text()
    assert "<script" in page
    assert not re.search(r'(src|href)\s*=\s*["\']?https?:', page)  # self-contained: no fetches
    if shutil.which("dot") is None or importlib.util.find_spec("graphviz") is None:
        pytest.skip("graphviz is not installed: the demo prints the graphs as text")
    for name in ("graph_1", "graph_2", "graph_3"):
        assert (demo_dir / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (demo_dir / f"{name}.svg").read_text()
    frozen = (demo_dir / "graph_3.svg").read_text()
    assert "conv1.weight" in frozen and "conv2.weight" not in frozen
    assert "conv2.weight" in (demo_dir / "graph_2.svg").read_text()


def test_demo_prints_seed_exactly_in_order(demo_out: list[str]) -> None:
    start = demo_out.index(SEED[0])
    # From the first seed line on, the transcript is the seed text with explanation lines
    # ('# ...') interleaved, and nothing else.
    body = [line for line in demo_out[start:] if not line.startswith("# ")]
    assert body[: len(SEED)] == SEED
    # Each explanation line precedes a statement, never splits a statement from its output.
    for prev, line in zip(demo_out[start:], demo_out[start + 1 :]):
        if prev.startswith("# "):
            assert line.startswith(("# ", ">>> ")), (prev, line)


def _floats(text: str) -> np.ndarray:
    return np.array([float(t) for t in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", text)])


def _after(lines: list[str], stmt: str) -> str:
    """The output line printed after the last `>>> stmt`."""
    i = len(lines) - 1 - lines[::-1].index(">>> " + stmt)
    return lines[i + 1]


def test_demo_vjp_agrees_in_printed_output(demo_out: list[str]) -> None:
    grad_line = _after(demo_out, "x.grad")
    jtv_line = _after(demo_out, "J.numpy().T @ v.numpy()")
    assert grad_line.startswith("tensor(") and jtv_line.startswith("array(")
    g = _floats(grad_line[len("tensor(") :])
    jtv = _floats(jtv_line[len("array(") :].split("dtype")[0])
    assert g.shape == (3,) and np.allclose(g, jtv, atol=1e-4)
    assert _after(demo_out, "np.allclose(x.grad.numpy(), J.numpy().T @ v.numpy())") == "True"
    # Something is computed: the Jacobian is printed as a 3x3 tensor.
    j_start = demo_out.index(">>> J")
    assert demo_out[j_start + 1].startswith("tensor([[")


def test_demo_vjp_values() -> None:
    from dygrad.__main__ import vjp_values

    v = vjp_values()
    x = np.array([1.0, 2.0, 3.0])
    w = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [2.0, 0.0, 1.0]])
    np.testing.assert_allclose(v["J"], 2 * w * x, rtol=1e-6)  # J[i, j] = 2 W[i, j] x[j]
    np.testing.assert_allclose(v["x_grad"], v["jtv"], rtol=1e-6)
    np.testing.assert_allclose(v["x_grad"], v["J"].T @ v["v"], rtol=1e-6)


@pytest.mark.parametrize("args", [[], ["nonsense"], ["demo", "extra"]])
def test_usage_exits_2(args: list[str]) -> None:
    p = _run(["-m", "dygrad", *args])
    assert p.returncode == 2
    assert "usage: python -m dygrad" in p.stderr
    assert "demo" in p.stderr and "bench" in p.stderr


def _table_rows(stdout: str) -> dict[str, list[str]]:
    """Each workload's first (main) row, split into cells."""
    rows = {}
    for wl, cells in _all_rows(stdout):
        rows.setdefault(wl, cells)
    return rows


def _all_rows(stdout: str) -> list[tuple[str, list[str]]]:
    """(workload, cells) of every table row, in order."""
    out = []
    for line in stdout.splitlines():
        for wl, prefix in ROW_PREFIX.items():
            if line.startswith(prefix):
                out.append((wl, [c.strip() for c in line.strip().strip("|").split("|")]))
    return out


def _median(cell: str) -> float:
    return float(cell.split()[0])


def test_bench_quick_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    p = _run(["-m", "dygrad", "bench", *TINY, "--json", str(out)], timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert HEADER in p.stdout.splitlines()
    rows = _table_rows(p.stdout)
    assert set(rows) == set(WORKLOADS)
    assert "30-op chain" in rows["W1"][0] and "784-16-16-10, batch 8" in rows["W3"][0]
    assert "Conv2d(3,12,3,s2,p1), batch 4 of 1x28x28" in rows["W4-seed"][0]
    assert "Linear(512,10), batch 8 of 1x28x28" in rows["W4-lenet"][0]
    assert rows["W1"][1] == "us/op"
    assert rows["W3"][1] == rows["W4-seed"][1] == rows["W4-lenet"][1] == "ms/step"
    assert "W2 micrograd MLP 2-16-16-1 (ReLU), 20 moons points" in rows["W2"][0]
    assert rows["W2"][1] == "us/step"
    assert "W6 MLP 3 x Linear(32,32)+ReLU, batch 4" in rows["W6"][0]
    assert "W7 matmul 32x32 @ 32x32" in rows["W7"][0]
    # The multi-metric workloads: one row per metric, in order, with its unit.
    all_rows = _all_rows(p.stdout)
    for wl, metrics in METRIC_ROWS.items():
        got = [(cells[0].split(": ")[-1], cells[1]) for w, cells in all_rows if w == wl]
        assert got == metrics, (wl, got)
    col = {"dygrad": 2, "torch": 3, "numpy": 4, "dygrad-compiled": 7}
    for wl, row in all_rows:
        assert len(row) == 10, row
        systems = ["dygrad"] + (["torch"] if HAVE_TORCH else [])
        if wl in NO_NUMPY:
            assert row[4] == "n/a" and row[6] == "n/a", row
        else:
            systems.append("numpy")
        if wl in COMPILED:
            systems.append("dygrad-compiled")
            ratios = [row[9]] + ([row[8]] if HAVE_TORCH else [])
            assert all(r.endswith("x") and float(r[:-1]) > 0 for r in ratios), row
        else:
            assert row[7] == row[8] == row[9] == "n/a", row
        for s in systems:
            m = _median(row[col[s]])
            # Memory deltas of tiny configurations may round to zero pages.
            assert math.isfinite(m) and (m >= 0 if row[1] == "MiB" else m > 0), row
        if row[1] == "MiB":
            continue
        ratios = ([] if wl in NO_NUMPY else [row[6]]) + ([row[5]] if HAVE_TORCH else [])
        for r in ratios:
            assert r.endswith("x") and math.isfinite(float(r[:-1])) and float(r[:-1]) > 0
    # The cross-system checks all pass, and the JSON has every sample.
    assert "| NO |" not in p.stdout
    doc = json.loads(out.read_text())
    assert {(r["workload"], r["system"]) for r in doc["results"]} == {
        (w, s)
        for w in WORKLOADS
        for s in ("dygrad", "dygrad-compiled", "torch", "numpy")
        if not (w in NO_NUMPY and s == "numpy" or w not in COMPILED and s == "dygrad-compiled")
    }
    for r in doc["results"]:
        if r["system"] == "torch" and not HAVE_TORCH:
            assert r["status"] == "unavailable"
            continue
        assert r["status"] == "ok"
        n = doc["config"]["samples"]
        if r["workload"] == "W5-1M":
            n = min(n, 3)  # the long chain takes fewer samples
        assert len(r["samples"]) == n >= 2
        assert all(math.isfinite(s) and s > 0 for s in r["samples"])
        expected = [m for m, _ in METRIC_ROWS.get(r["workload"], [])[1:]]
        assert list(r["metrics"]) == expected
        for m in r["metrics"].values():
            assert m["samples"] and all(math.isfinite(s) and s >= 0 for s in m["samples"])
        if not any(k.startswith("MALLOC_") for k in os.environ):
            # Every system's child of a time-only workload ran with glibc's heap kept between
            # steps; the memory workloads' children with glibc's defaults.
            memory = r["workload"].startswith(("W5", "W6"))
            assert r["info"]["malloc"] == ({} if memory else STEADY), r
        if r["system"] == "dygrad-compiled":
            # Traced once, then every step replayed the generated code (the warm-up and the
            # checked first step included).
            assert r["checks"]["compile_traces"] == 1, r["checks"]
            assert r["checks"]["compile_calls"] >= n + doc["config"]["warmup"] + 2
    assert all(c["ok"] for c in doc["cross_checks"])
    # W2, W6 check loss and gradient norm; W5 the gradient; W7 the products.
    for wl, whats in {
        "W2": ("first-step loss", "first-step grad norm"),
        "W5-1M": ("x0.grad",),
        "W6": ("first-step loss", "first-step grad norm"),
        "W7": ("float32 product", "float64 product"),
    }.items():
        for what in whats:
            got = {
                c["system"]
                for c in doc["cross_checks"]
                if c["workload"] == wl and what in c["what"]
            }
            want = {"dygrad"} | ({"dygrad-compiled"} if wl in COMPILED else set())
            if wl in NO_NUMPY:
                assert got == (want if HAVE_TORCH else set()), (wl, what, got)
            else:
                assert got == (want | {"numpy"} if HAVE_TORCH else want), (wl, what, got)
    # W1 (gradient) and W3 (first-step loss) check every other system against the reference.
    for wl in ("W1", "W3"):
        got = {c["system"] for c in doc["cross_checks"] if c["workload"] == wl}
        assert got == ({"dygrad", "dygrad-compiled", "numpy"} if HAVE_TORCH else
                       {"dygrad", "dygrad-compiled"}), (wl, got)  # fmt: skip
    # W4 checks each other system's first-step loss and gradients against the reference.
    others = {"dygrad", "dygrad-compiled"} | ({"numpy"} if HAVE_TORCH else set())
    for wl in ("W4-seed", "W4-lenet"):
        for what in ("first-step loss", "first-step grads"):
            got = {
                c["system"]
                for c in doc["cross_checks"]
                if c["workload"] == wl and what in c["what"]
            }
            assert got == others, (wl, what, got)
            assert f"| {wl} {what}" in p.stdout
    for r in doc["results"]:
        if r["workload"].startswith("W4") and r["status"] == "ok":
            n_params = 4 if r["workload"] == "W4-seed" else 6
            assert len(r["checks"]["grad_norms"]) == len(r["checks"]["grad_probes"]) == n_params
            assert all(v > 0 for v in r["checks"]["grad_norms"])
            assert math.isfinite(r["checks"]["first_loss"])


def test_bench_without_torch(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch hidden by the test')\n")
    p = _run(
        [str(REPO / "benchmarks" / "run.py"), *TINY, "--workloads", "W1,W4-lenet"],
        extra_path=str(fake.parent),
        timeout=60,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    rows = _table_rows(p.stdout)
    assert set(rows) == {"W1", "W4-lenet"}
    for row in rows.values():
        assert row[3] == "n/a" and row[5] == "n/a"
        assert _median(row[2]) > 0 and _median(row[4]) > 0 and float(row[6][:-1]) > 0
    # The NumPy floor is the reference: dygrad's W4 loss and gradients are checked against it.
    grads_row = "| W4-lenet first-step grads of 6 params (norm, projection), max abs diff |"
    assert f"{grads_row} dygrad | numpy |" in p.stdout
    assert f"{grads_row} dygrad-compiled | numpy |" in p.stdout
    assert "| W1 x.grad, max abs diff | dygrad-compiled | numpy |" in p.stdout


def _bench_runner():
    from dygrad.__main__ import _load_bench_runner

    run = _load_bench_runner()
    assert run is not None
    return run


STEADY = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def test_bench_malloc_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    run = _bench_runner()
    for var in STEADY:
        monkeypatch.delenv(var, raising=False)
    assert run.parse_args([]).malloc == "steady"
    assert run.parse_args(["--malloc", "default"]).malloc == "default"
    with pytest.raises(SystemExit):
        run.parse_args(["--malloc", "jemalloc"])
    steady = {"malloc": "steady"}
    for wl in ("W1", "W2", "W3", "W4-seed", "W4-lenet", "W7"):
        assert run.steady_malloc(wl, steady)
        assert not run.steady_malloc(wl, {"malloc": "default"})
    for wl in ("W5-100k", "W5-1M", "W6", "W6-ckpt"):  # they measure memory: glibc's defaults
        assert not run.steady_malloc(wl, steady)
    env = run.child_env(1, True)
    assert {k: env[k] for k in STEADY} == STEADY and env["OPENBLAS_NUM_THREADS"] == "1"
    assert not set(STEADY) & set(run.child_env(2, False))
    # A setting of the caller's own wins.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    assert run.child_env(1, True)["MALLOC_TRIM_THRESHOLD_"] == "12345"
    # The same settings applied to a running process (breakdown.py's), in a process of its own.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import run; "
            "print(run.steady_malloc_here())")  # fmt: skip
    p = subprocess.run([sys.executable, "-c", code, str(REPO / "benchmarks")],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 0, p.stderr
    glibc = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert p.stdout.strip() == str(glibc)


def test_bench_rounds_pool_interleaved_processes(tmp_path: Path) -> None:
    run = _bench_runner()
    assert run.parse_args([]).rounds is None  # 3, or 1 with --quick (main decides)
    assert run.parse_args(["--rounds", "2"]).rounds == 2
    with pytest.raises(SystemExit):
        run.parse_args(["--rounds", "0"])
    assert run.workload_rounds("W2", {"rounds": 3}) == 3
    for memory in ("W5-100k", "W5-1M", "W6", "W6-ckpt"):
        assert run.workload_rounds(memory, {"rounds": 3}) == 1
    # Pooling: every round's samples in order, the first round's checks, each round's median; a
    # round that failed makes the whole system fail.
    rounds = [
        run.Outcome("W2", "dygrad", "ok", "us/step", [3.0, 1.0, 2.0], {"first_loss": 1.5},
                    {"cpus": [1]}, metrics={"m": {"unit": "MiB", "samples": [7.0]}}),
        run.Outcome("W2", "dygrad", "ok", "us/step", [5.0, 4.0], {"first_loss": 1.5},
                    {"cpus": [1]}, metrics={"m": {"unit": "MiB", "samples": [8.0]}}),
    ]  # fmt: skip
    pooled = run.pool_rounds(rounds)
    assert pooled.samples == [3.0, 1.0, 2.0, 5.0, 4.0] and pooled.stats()[0] == 3.0
    assert pooled.info == {"cpus": [1], "round_medians": [2.0, 4.5]}
    assert pooled.checks == {"first_loss": 1.5}
    assert pooled.metrics == {"m": {"unit": "MiB", "samples": [7.0, 8.0]}}
    bad = run.Outcome("W2", "dygrad", "error", error="boom")
    assert run.pool_rounds([rounds[0], bad]) is bad
    assert run.pool_rounds(rounds[:1]) is rounds[0]
    # End to end: two rounds of W1 and W4-seed, the systems in turn.
    out = tmp_path / "bench.json"
    p = _run([str(REPO / "benchmarks" / "run.py"), *TINY, "--rounds", "2", "--samples", "3",
              "--workloads", "W1,W4-seed", "--systems", "dygrad,numpy", "--json", str(out)],
             timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 processes per (workload, system) taking turns" in p.stdout
    order = [ln.split("running ")[1] for ln in p.stderr.splitlines() if ln.startswith("running")]
    assert order == [
        "W1 on dygrad (round 1 of 2) ...", "W1 on numpy (round 1 of 2) ...",
        "W1 on numpy (round 2 of 2) ...", "W1 on dygrad (round 2 of 2) ...",
        "W4-seed on dygrad (round 1 of 2) ...", "W4-seed on numpy (round 1 of 2) ...",
        "W4-seed on numpy (round 2 of 2) ...", "W4-seed on dygrad (round 2 of 2) ...",
    ]  # fmt: skip
    doc = json.loads(out.read_text())
    assert doc["config"]["rounds"] == 2
    for r in doc["results"]:
        assert r["status"] == "ok" and len(r["samples"]) == 4  # ceil(3 / 2) a round
        assert len(r["info"]["round_medians"]) == 2
    assert all(c["ok"] for c in doc["cross_checks"]) and doc["cross_checks"]


def test_bench_workload_selection() -> None:
    run = _bench_runner()
    assert run.parse_args([]).workloads == list(WORKLOADS)
    assert run.parse_args(["--workloads", "W4,W1"]).workloads == ["W1", "W4-seed", "W4-lenet"]
    assert run.parse_args(["--workloads", "W4-lenet"]).workloads == ["W4-lenet"]
    assert run.parse_args(["--workloads", "W5,W2"]).workloads == ["W2", "W5-100k", "W5-1M"]
    assert run.parse_args(["--workloads", "W7,W6"]).workloads == ["W6", "W7"]
    with pytest.raises(SystemExit):
        run.parse_args(["--workloads", "W8"])
    with pytest.raises(SystemExit):
        run.parse_args(["--w6-width", "0"])
    with pytest.raises(SystemExit):
        run.parse_args(["--w4-batch", "0"])


def test_bench_w4_checks_catch_wrong_values() -> None:
    """The W4 cross-checks pass on agreeing numbers and fail on a wrong loss or gradient."""
    run = _bench_runner()
    ref = {"first_loss": 2.3, "grad_norms": [0.5, 2.0], "grad_probes": [0.1, -0.7]}

    def outcome(system: str, checks: dict) -> object:
        return run.Outcome("W4-lenet", system, "ok", "ms/step", [1.0], checks)

    def verdicts(checks: dict) -> list[bool]:
        outs = {"dygrad": outcome("dygrad", checks), "torch": outcome("torch", ref)}
        rows = run.check("W4-lenet", outs)
        assert [r["system"] for r in rows] == ["dygrad", "dygrad"]
        return [r["ok"] for r in rows]

    assert verdicts(dict(ref)) == [True, True]
    close = {**ref, "first_loss": 2.3 * (1 + 1e-5), "grad_probes": [0.1 + 1e-4, -0.7]}
    assert verdicts(close) == [True, True]
    assert verdicts({**ref, "first_loss": 2.31}) == [False, True]
    # A gradient off by 1% of its norm, seen in the projection or in the norm.
    assert verdicts({**ref, "grad_probes": [0.1, -0.7 + 0.02]}) == [True, False]
    assert verdicts({**ref, "grad_norms": [0.505, 2.0]}) == [True, False]
    # A missing NumPy column is n/a in the table, never an error.
    outs = {"dygrad": outcome("dygrad", ref), "torch": outcome("torch", ref)}
    table = run.render(
        {"W4-lenet": outs},
        run.check("W4-lenet", outs),
        vars(run.parse_args([])),
    )
    row = _table_rows(table)["W4-lenet"]
    assert row[4] == "n/a" and row[6] == "n/a" and row[5] == "1.00x"


def test_bench_scalar_checks_catch_wrong_values() -> None:
    """W2/W5/W6/W7 cross-checks pass on agreeing numbers and fail on a wrong one."""
    run = _bench_runner()

    def verdicts(wl: str, got: dict, ref: dict) -> list[bool]:
        outs = {
            "dygrad": run.Outcome(wl, "dygrad", "ok", "x", [1.0], got),
            "torch": run.Outcome(wl, "torch", "ok", "x", [1.0], ref),
        }
        return [r["ok"] for r in run.check(wl, outs)]

    ref = {"first_loss": 60.5, "grad_norm": 216.0}
    assert verdicts("W2", ref, ref) == [True, True]
    assert verdicts("W2", {**ref, "first_loss": 60.6}, ref) == [False, True]
    assert verdicts("W6", {**ref, "grad_norm": 217.0}, ref) == [True, False]
    assert verdicts("W5-1M", {"grad": 1.0}, {"grad": 1.0}) == [True]
    assert verdicts("W5-1M", {"grad": 0.0}, {"grad": 1.0}) == [False]
    w7 = {"float32_norm": 130.0, "float64_norm": 128.0}
    assert verdicts("W7", {**w7, "float64_norm": 128.1}, w7) == [True, False]
    # A metric row: its own cells and ratios; a system without that metric reads n/a.
    outs = {
        "dygrad": run.Outcome(
            "W6",
            "dygrad",
            "ok",
            "ms/step",
            [2.0],
            ref,
            {},
            "",
            {"peak memory": {"unit": "MiB", "samples": [10.0, 30.0]}},
        ),
        "torch": run.Outcome(
            "W6",
            "torch",
            "ok",
            "ms/step",
            [1.0],
            ref,
            {},
            "",
            {"peak memory": {"unit": "MiB", "samples": [40.0]}},
        ),
    }
    rows = _all_rows(run.render({"W6": outs}, [], vars(run.parse_args([]))))
    assert [cells[0].split(": ")[-1] for _, cells in rows] == ["time per step", "peak memory"]
    main, peak = rows[0][1], rows[1][1]
    assert main[5] == "2.00x" and main[4] == "n/a"
    assert peak[1] == "MiB" and peak[2].startswith("20.0 ") and peak[5] == "0.50x"


def _workloads():
    """benchmarks/workloads.py, imported by path (a benchmark child puts its folder on sys.path)."""
    path = REPO / "benchmarks" / "workloads.py"
    spec = importlib.util.spec_from_file_location("dygrad_benchmarks_workloads", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


TINY_CFG = {"warmup": 1, "samples": 2, "w1_ops": 30, "w2_points": 20, "w3_batch": 8,
            "w3_hidden": 16, "w4_batch": 4, "w4_seed_batch": 2}  # fmt: skip


@pytest.mark.parametrize("wl", COMPILED)
def test_bench_compiled_first_step_matches(wl: str) -> None:
    """dygrad-compiled, in process: its first step (run by the generated code, the tracing call
    being dropped) gives the hand-written NumPy floor's loss and gradients, and PyTorch's when
    installed; it traced once and replayed every later step."""
    w = _workloads()
    got = w.run(wl, "dygrad-compiled", TINY_CFG)
    refs = [w.run(wl, "numpy", TINY_CFG).checks]
    if HAVE_TORCH:
        refs.append(w.run(wl, "torch", TINY_CFG).checks)
    c = got.checks
    assert c["compile_traces"] == 1
    # the tracing call, the checked first step, the warm-up and the samples (W3, W4: and the
    # final loss) all went through the compiled function
    assert c["compile_calls"] >= 1 + 1 + TINY_CFG["warmup"] + TINY_CFG["samples"]
    assert len(got.samples) == TINY_CFG["samples"] and all(t > 0 for t in got.samples)
    for ref in refs:
        if wl == "W1":
            np.testing.assert_allclose(c["grad"], ref["grad"], rtol=1e-4, atol=1e-6)
            continue
        assert c["first_loss"] == pytest.approx(ref["first_loss"], rel=1e-5)
        if wl == "W2":
            assert c["grad_norm"] == pytest.approx(ref["grad_norm"], rel=1e-5)
        if wl.startswith("W4"):
            np.testing.assert_allclose(c["grad_norms"], ref["grad_norms"], rtol=1e-4)
            np.testing.assert_allclose(c["grad_probes"], ref["grad_probes"], rtol=1e-3, atol=1e-6)
        if wl != "W2":  # trained: the update after each step went to the same parameters
            assert c["final_loss"] < c["first_loss"]


def test_bench_compiled_refuses_a_retrace() -> None:
    """A compiled benchmark function that traced again (or fell back to eager) would time
    tracing, not generated code: its report raises instead of returning timings."""
    import dygrad

    w = _workloads()
    cf = w._Compiled(dygrad, lambda x: (x * 2).sum(), dygrad.ones(3, requires_grad=True))
    cf(dygrad.ones(3, requires_grad=True)).backward()
    assert cf.report()["compile_traces"] == 1
    cf(dygrad.ones(4, requires_grad=True))  # another shape: a second trace
    with pytest.raises(RuntimeError, match="traced 2 times"):
        cf.report()


def test_bench_compiled_columns() -> None:
    """With dygrad-compiled outcomes the table gains its column and the ratios compiled/torch
    and compiled/eager; a workload without it reads n/a there."""
    run = _bench_runner()
    ref = {"first_loss": 1.0, "grad_norm": 2.0}

    def o(wl: str, system: str, t: float) -> object:
        return run.Outcome(wl, system, "ok", "us/step", [t], dict(ref))

    results = {
        "W2": {s: o("W2", s, t) for s, t in
               (("dygrad", 8.0), ("dygrad-compiled", 2.0), ("torch", 4.0), ("numpy", 1.0))},
        "W7": {s: o("W7", s, 1.0) for s in ("dygrad", "torch", "numpy")},
    }  # fmt: skip
    table = run.render(results, run.check("W2", results["W2"]), vars(run.parse_args([])))
    assert HEADER in table.splitlines()
    rows = _table_rows(table)
    assert rows["W2"][7].startswith("2.00 ") and rows["W2"][8:] == ["0.50x", "0.25x"]
    assert rows["W7"][7:] == ["n/a", "n/a", "n/a"]
    assert "| W2 first-step loss 1, abs diff | dygrad-compiled | torch |" in table
    # Without compiled outcomes the table keeps its seven columns.
    del results["W2"]["dygrad-compiled"]
    plain = run.render(results, [], vars(run.parse_args([])))
    assert plain.splitlines()[0].endswith("| dygrad/numpy |")


def _md_rows(text: str, first_cell: str, nth: int = 0) -> dict[str, list[str]]:
    # The rows of the (nth) Markdown table whose header starts with `first_cell`, by first cell.
    lines = text.splitlines()
    heads = [i for i, ln in enumerate(lines) if ln.startswith(f"| {first_cell} |")]
    start = heads[nth]
    rows = {}
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("with_torch", [False, True] if HAVE_TORCH else [False])
def test_breakdown_parts_add_up(with_torch: bool) -> None:
    """benchmarks/breakdown.py: W2's parts sum to its step, NumPy's shares to the floor's step,
    the graph is W2's (12 ops, 6 leaves); W3's table and ratios agree; LeNet's five kernels sum
    to their total."""
    args = [str(REPO / "benchmarks" / "breakdown.py"), "--steps", "20", "--repeats", "1"]
    p = _run(args + (["--torch"] if with_torch else []), timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    w2 = _md_rows(p.stdout, "part")
    labels = list(w2)
    assert labels[0] == "forward: 12 ops" and labels[1] == "backward rules: 12 nodes"
    assert labels[2] == "engine: 18 nodes scheduled, 6 leaves accumulated"
    parts = [float(w2[k][0]) for k in labels[:4]]
    assert all(v > 0 for v in parts)
    step = w2["step"]
    assert math.isclose(sum(parts), float(step[0]), abs_tol=0.25)
    floor = float(w2[labels[0]][1]) + float(w2[labels[1]][1])
    assert math.isclose(floor, float(step[1]), abs_tol=0.15)
    assert math.isclose(float(step[0]) - floor, float(step[2]), abs_tol=0.25)
    # W3 in one process: three parts and the step for eager and the floor, each difference the
    # two columns' (rounded to 1 us), and the ratios line.
    w3 = _md_rows(p.stdout, "part", nth=1)
    assert list(w3) == ["forward and loss", "backward",
                        "SGD update, gradients reset, graph freed",
                        "step (median of whole steps)"]  # fmt: skip
    for cells in w3.values():
        eager, floor, diff = float(cells[0]), float(cells[1]), float(cells[2])
        assert eager > 0 and floor > 0 and abs((eager - floor) * 1e3 - diff) <= 1.5
    m = re.search(r"eager ([0-9.]+)x the floor, compiled ([0-9.]+) ms, ([0-9.]+)x the floor",
                  p.stdout)  # fmt: skip
    assert m is not None
    step = w3["step (median of whole steps)"]
    assert math.isclose(float(m[1]), float(step[0]) / float(step[1]), abs_tol=0.002)
    lenet = _md_rows(p.stdout, "kernel")
    five = ("conv1 forward", "conv2 forward", "conv1 weight gradient", "conv2 weight gradient",
            "conv2 input gradient")  # fmt: skip
    total = float(lenet["the five kernels together"][0])
    assert abs(sum(float(lenet[k][0]) for k in five) - total) <= 3  # rounded to 1 us each
    assert float(lenet["dygrad step"][0]) > 0 and float(lenet["NumPy floor step"][0]) > 0
    assert ("PyTorch's step" in p.stdout) == with_torch
    # One op at a time: W2's six kinds of op, NumPy's time below each system's, recording above
    # not recording, and the totals row their sums.
    ops = _md_rows(p.stdout, "op (forward)")
    kinds = [k for k in ops if k != "all six"]
    assert [k.split(":")[0] for k in kinds] == ["mm", "add", "relu", "mul", "rsub", "sum"]
    width = 5 if with_torch else 3
    for k in kinds:
        v = [float(c) for c in ops[k]]
        assert len(v) == width and all(c > 0 for c in v)
        assert v[0] < v[2] and v[1] < v[2]  # NumPy alone, and no graph, cost less than recording
    for col in range(width):
        total = sum(float(ops[k][col]) for k in kinds)
        assert abs(total - float(ops["all six"][col])) <= 0.04  # rounded to 0.01 each
    assert ("dispatching and recording the six ops costs dygrad" in p.stdout) == with_torch


@pytest.mark.parametrize("with_torch", [False, True] if HAVE_TORCH else [False])
def test_op_survey_table_and_gradient_check(with_torch: bool, tmp_path: Path) -> None:
    """benchmarks/ops.py: one row per op asked for, positive times, and (with PyTorch) the ratio
    and a gradient check that the two systems computed the same thing."""
    out = tmp_path / "ops.json"
    ops = "exp,leaky_relu,norm,cross_entropy,dropout"
    args = [str(REPO / "benchmarks" / "ops.py"), "--shape", "16x8", "--repeats", "1", "--ops",
            ops, "--json", str(out), "--systems", "dygrad,torch" if with_torch else "dygrad"]
    p = _run(args, timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = _md_rows(p.stdout, "op")
    assert list(rows) == ops.split(",")
    for name, cells in rows.items():
        assert float(cells[0]) > 0
        if with_torch:
            assert float(cells[1]) > 0 and cells[2].endswith("x")
            if name == "dropout":
                assert cells[3] == "n/a (random)"
            else:
                assert float(cells[3]) < 1e-5, (name, cells)
    data = json.loads(out.read_text())
    assert data["shape"] == [16, 8] and set(data["results"]) >= {"dygrad"}
    bad = _run([str(REPO / "benchmarks" / "ops.py"), "--ops", "nope"], timeout=60)
    assert bad.returncode == 2 and "unknown ops: nope" in bad.stderr
