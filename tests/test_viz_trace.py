"""trace_backward(): step order, sums, text, and the HTML page in headless Chromium."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import dygrad as torch
from dygrad.viz import trace_backward


def example():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    o = z.mean()
    return x, y, z, o


def test_order_sums_and_text():
    x, y, z, o = example()
    t = trace_backward(o, names=dict(x=x, y=y, z=z, o=o))
    assert t.order == ["MeanBackward0 → o", "MulBackward0 → z", "MulBackward0",
                       "AddBackward0 → y", "x (leaf)"]  # fmt: skip
    mul_yy = t.steps[2]
    assert mul_yy.summed == [1]  # y * y: the second use is summed onto the first
    np.testing.assert_allclose(mul_yy.grad_in, 0.75)
    np.testing.assert_allclose(t.steps[-1].grad_in, 4.5)
    np.testing.assert_allclose(t.leaf_grads()["x (leaf)"], 4.5)
    text = str(t)
    assert "summed" in text and "step 5: x (leaf) received" in text
    assert x.grad is None
    o.backward()  # the graph was retained
    np.testing.assert_allclose(x.grad.numpy(), 4.5)


def test_sum_across_nodes_and_gradient_argument():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    h = a * 2
    out = h.exp() + h.sin()
    t = trace_backward(out, gradient=torch.ones(2))
    summed = [(s.name, j) for s in t.steps for j in s.summed]
    assert len(summed) == 1  # h's two consumers meet at h's node
    (g,) = torch.autograd.grad(out, a, torch.ones(2))
    leaf = [s for s in t.steps if not s.sent][0]
    np.testing.assert_allclose(leaf.grad_in, g.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="only for scalar"):
        trace_backward(out)


def test_html_is_self_contained(tmp_path):
    x, y, z, o = example()
    p = tmp_path / "t.html"
    trace_backward(o, html=str(p), names=dict(x=x, y=y, z=z, o=o))
    s = p.read_text()
    assert "http://" not in s.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in s and "<svg" in s and 'id="slider"' in s


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump(url, tmp_path):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={tmp_path / 'ud'}", "--dump-dom", url]  # fmt: skip
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return r.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_html_in_chromium(tmp_path):
    x, y, z, o = example()
    p = tmp_path / "t.html"
    t = trace_backward(o, html=str(p), names=dict(x=x, y=y, z=z, o=o))
    last = t.steps[-1].node
    dom = dump(f"file://{p}#step=last", tmp_path)
    assert f'data-node="n{last}"' in dom and 'data-step="4"' in dom
    assert f'id="n{last}" class="node leaf current"' in dom
    assert '<div id="errors"></div>' in dom
    dom = dump(f"file://{p}#step=3", tmp_path)
    assert "Step 3 of 5" in dom and "summed there" in dom
    assert '<div id="errors"></div>' in dom
    if os.path.isdir("/tmp/viz_trace"):
        pass
