"""The examples run and show what they claim."""

import importlib.util
import pathlib
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
    p = subprocess.run(
        [sys.executable, "-m", "dygrad", "demo", "--epochs", "4", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "# test accuracy:" in p.stdout
    acc = float(p.stdout.split("# test accuracy:")[1].split("%")[0])
    assert acc > 90.0
    assert "epoch" in p.stderr  # tqdm draws its bar on stderr
    assert (out / "digits_cnn.png").stat().st_size > 1000
    assert (out / "digits_cnn.safetensors").stat().st_size > 1000
