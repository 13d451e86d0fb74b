"""The seed's convolution example, verbatim with `import dygrad as torch`: a Sequential of two
Conv2d layers, its named parameters, and which parameters receive gradients."""

from __future__ import annotations

import dygrad as torch
import dygrad.nn as nn


def _model() -> nn.Sequential:
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
    model.add_module("conv2", nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
    return model


def test_seed_example_named_parameters_and_gradients() -> None:
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
    model.add_module("conv2", nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
    x = torch.randn(4, 1, 28, 28)
    y = model(x)
    assert tuple(y.shape) == (4, 12, 7, 7)
    y = y.mean()
    params = dict(model.named_parameters())
    assert list(params) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"]
    assert [tuple(p.shape) for p in params.values()] == [(3, 1, 3, 3), (3,), (12, 3, 3, 3), (12,)]
    assert all(p.grad is None for p in params.values())
    y.backward()
    for name, p in params.items():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        assert float(p.grad.abs().sum()) > 0, name


def test_seed_example_frozen_conv2() -> None:
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
    model.add_module("conv2", nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
    for param in model.conv2.parameters():
        param.requires_grad = False
    x = torch.randn(4, 1, 28, 28)
    y = model(x)
    y = y.mean()
    y.backward()
    assert model.conv1.weight.grad is not None and model.conv1.bias.grad is not None
    assert model.conv2.weight.grad is None and model.conv2.bias.grad is None
    assert y.grad_fn is not None and model.conv1.weight.grad.abs().sum().item() > 0


def test_seed_example_matches_pytorch() -> None:
    # The same model and input in PyTorch: output and every gradient agree.
    import numpy as np
    import pytest

    pt = pytest.importorskip("torch")
    model = _model()
    ref = pt.nn.Sequential()
    ref.add_module("conv1", pt.nn.Conv2d(1, 3, kernel_size=3, stride=2, padding=1))
    ref.add_module("conv2", pt.nn.Conv2d(3, 12, kernel_size=3, stride=2, padding=1))
    with pt.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(pt.from_numpy(dict(model.named_parameters())[name].detach().numpy()))
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    y, yr = model(torch.tensor(x)).mean(), ref(pt.tensor(x)).mean()
    np.testing.assert_allclose(y.item(), yr.item(), rtol=1e-5, atol=1e-6)
    y.backward()
    yr.backward()
    for name, p in ref.named_parameters():
        got = dict(model.named_parameters())[name].grad.numpy()
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
