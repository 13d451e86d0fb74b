"""The seed text's snippets, run verbatim with `import dygrad as torch`, print what it shows."""

import contextlib
import io
import textwrap

import dygrad as torch

SEED_SESSION = textwrap.dedent(
    """\
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
            [4.5000, 4.5000]])
    """
)


def _replay(session: str) -> str:
    """Run each `>>> ` line like the REPL does and return the transcript it would print."""
    env = {"torch": torch}
    out = []
    for line in session.splitlines():
        if not line.startswith(">>> "):
            continue
        src = line[4:]
        out.append(line)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                value = eval(compile(src, "<seed>", "eval"), env)
            except SyntaxError:
                exec(compile(src, "<seed>", "exec"), env)
                value = None
            if value is not None:
                print(repr(value))
        text = buf.getvalue()
        if text:
            out.extend(text.rstrip("\n").split("\n"))
    return "\n".join(out) + "\n"


def test_seed_session_prints_exactly_what_the_text_shows():
    assert _replay(SEED_SESSION) == SEED_SESSION


def test_detach_shares_data_and_records_nothing():
    x = torch.ones(2, 2, requires_grad=True)
    d = x.detach()
    assert d.requires_grad is False and d.grad_fn is None
    d[0, 0] = 5.0  # shares memory with x
    assert x[0, 0].item() == 5.0
    y = d * 2
    assert y.grad_fn is None and not y.requires_grad


def test_no_grad_results_do_not_require_grad_but_inputs_keep_it():
    x = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        y = x * 2 + 1
    assert y.requires_grad is False and y.grad_fn is None
    assert x.requires_grad is True


def test_vector_backward_leaves_jacobian_transpose_times_v():
    import numpy as np

    xs = np.array([0.5, -1.0, 2.0])
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]], dtype=torch.float64)
    y = torch.matmul(w, x * x)  # y = W (x ** 2): a vector function R^3 -> R^2
    v = torch.tensor([0.3, -0.7], dtype=torch.float64)
    y.backward(v)
    jac = w.numpy() * (2 * xs)[None, :]  # J[i, j] = W[i, j] * 2 x_j
    np.testing.assert_allclose(x.grad.numpy(), jac.T @ v.numpy(), rtol=1e-12)
