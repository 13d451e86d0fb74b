"""The examples run and show what they claim."""

import importlib.util
import pathlib

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
