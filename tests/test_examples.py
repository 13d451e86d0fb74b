"""The examples run and show what they claim."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_polynomial_regression_hand_and_autograd_agree(capsys):
    res = load("polynomial_regression").main()
    assert res["gap"] < 1e-8
    assert res["last_loss"] < res["first_loss"] / 100
    out = capsys.readouterr().out
    assert "by hand" in out and "autograd" in out


@pytest.mark.parametrize("model,epochs", [("mlp", 30), ("cnn", 15)])
def test_digits_examples_reach_97_percent(model, epochs, tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("safetensors")
    import dygrad

    name = f"digits_{model}"
    args = ["--model", model, "--epochs", str(epochs), "--out", str(tmp_path), "--no-progress"]
    acc = load("digits").main(args)
    assert acc >= 0.97
    png = tmp_path / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = dygrad.load(tmp_path / f"{name}.safetensors")
    assert state and all(isinstance(v, dygrad.Tensor) for v in state.values())


def test_demo_trains_the_cnn_with_a_progress_bar_and_writes_its_outputs(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    pytest.importorskip("safetensors")
    out = tmp_path / "demo"
    # tqdm redraws at most every 0.1 s, and an epoch takes less here: redraw on every batch.
    env = {**os.environ, "TQDM_MININTERVAL": "0"}
    p = subprocess.run(
        [sys.executable, "-m", "dygrad", "demo", "--epochs", "4", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "# test accuracy:" in p.stdout
    acc = float(p.stdout.split("# test accuracy:")[1].split("%")[0])
    assert acc > 90.0
    assert "epoch" in p.stderr  # tqdm draws its bar on stderr
    # Every frame that shows the running loss shows the batches done so far, not a stale 0.
    done = [int(n) for n in re.findall(r"(\d+)/\d+ \[[^\]]*loss=", p.stderr)]
    assert done and all(n > 0 for n in done), sorted(set(done))
    assert (out / "digits_cnn.png").stat().st_size > 1000
    assert (out / "digits_cnn.safetensors").stat().st_size > 1000


@pytest.fixture(scope="module")
def static_graph_run(tmp_path_factory):
    import contextlib
    import io

    out_dir = tmp_path_factory.mktemp("static_graph")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = load("static_graph").main(["--out", str(out_dir), "--steps", "30"])
    return res, buf.getvalue(), out_dir


def test_static_graph_checks_shapes_with_a_symbolic_batch(static_graph_run):
    res, out, _ = static_graph_run
    # 8x8 -> two 2x2 poolings -> 2x2 maps -> Linear(.., 10): batch stays symbolic
    assert res["output_spec"] == "float32[B, 10]"
    err = res["shape_error"]
    assert err is not None and "classifier.1" in err and "static_graph.py:" in err
    assert "[B, 128]" in err  # 32 channels x 2 x 2 reach a Linear built for 16 x 2 x 2
    for k in range(1, 5):
        assert f"=== {k}." in out


def test_static_graph_guards_a_branch_and_compile_retraces(static_graph_run):
    res, out, _ = static_graph_run
    assert res["guard_error"] is not None and "static_graph.py:" in res["guard_error"]
    assert "GuardError" in out
    assert res["retraces"] == 2  # one trace per branch taken
    assert res["branch_gap"] < 1e-6  # compiled vs the eager function


def test_static_graph_optimizes_and_compiles_to_the_eager_answer(static_graph_run):
    res, _, _ = static_graph_run
    assert res["nodes_after"] < res["nodes_before"]
    assert res["optimize_gap"] < 1e-5
    assert abs(res["acc_eager"] - res["acc_compiled"]) <= 0.02
    assert res["speedup"] > 0


def test_static_graph_onnx_matches_dygrad_at_another_batch_size(static_graph_run):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    res, _, out_dir = static_graph_run
    assert (out_dir / "digits_cnn.onnx").stat().st_size > 1000
    assert res["onnx_max_diff"] < 1e-5
