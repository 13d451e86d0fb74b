"""Recurrent layers (`RNN`, `LSTM`, `GRU` and their cells) with PyTorch's parameters, gate order
and shapes. A plain Python loop over time steps: each call records the graph of its own length."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

from ...creation import empty, zeros
from ...functions import cat, stack
from ...ops import nnops
from ...tensor import Tensor
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---------------------------------------------------------------------------------------------
# One time step of each cell. `gx` is the input's share of the gates, x @ W_ih^T + b_ih (with
# b_hh folded in where the formula allows), computed for the whole sequence before the loop.


def _rnn_step(act: Callable[[Tensor], Tensor]) -> Callable[..., tuple[Tensor, None]]:
    def step(gx: Tensor, h: Tensor, c: None, w_hh_t: Tensor, b_hh: None, w_hr_t: None) -> Any:
        return act(gx + h.matmul(w_hh_t)), None

    return step


def _lstm_step(
    gx: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor, b_hh: None, w_hr_t: Tensor | None
) -> tuple[Tensor, Tensor]:
    i, f, g, o = (gx + h.matmul(w_hh_t)).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return (h if w_hr_t is None else h.matmul(w_hr_t)), c


def _gru_step(
    gx: tuple[Tensor, Tensor], h: Tensor, c: None, w_hh_t: Tensor, b_hh: Tensor | None, w_hr_t: None
) -> tuple[Tensor, None]:
    # r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
    # n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h
    gx_rz, gx_n = gx
    gh = h.matmul(w_hh_t)
    if b_hh is not None:
        gh = gh + b_hh
    H = h.shape[-1]
    gh_rz, gh_n = gh.split([2 * H, H], -1)
    r, z = (gx_rz + gh_rz).sigmoid().chunk(2, -1)
    n = (gx_n + r * gh_n).tanh()
    return n + z * (h - n), None


_STEPS: dict[str, Callable[..., Any]] = {
    "RNN_TANH": _rnn_step(Tensor.tanh),
    "RNN_RELU": _rnn_step(Tensor.relu),
    "LSTM": _lstm_step,
    "GRU": _gru_step,
}


def _input_gates(
    mode: str, x: Tensor, w_ih: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
) -> Any:
    # x: (..., I) -> the input's share of the gates, one matrix product for all time steps.
    shape = tuple(x.shape)
    gx = x.reshape(-1, shape[-1]).matmul(w_ih.t())
    if mode == "GRU":
        if b_ih is not None:
            gx = gx + b_ih
        gx = gx.reshape(*shape[:-1], -1)
        H = gx.shape[-1] // 3
        return gx.split([2 * H, H], -1)
    if b_ih is not None:
        gx = gx + (b_ih + b_hh)
    return gx.reshape(*shape[:-1], -1)


def _check_dtype(x: Tensor, h: Tensor | None, w: Tensor) -> None:
    # PyTorch's cells multiply without promotion, so mixed dtypes fail in their matmul.
    for t in (x, h):
        if t is not None and t.dtype != w.dtype:
            a, b = (_C_NAMES.get(str(d), str(d)) for d in (t.dtype, w.dtype))
            raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {a} and {b}")


_C_NAMES = {"torch.float64": "Double", "torch.float32": "Float", "torch.float16": "Half"}


# ---------------------------------------------------------------------------------------------


class RNNBase(Module):
    """The shared machinery of `RNN`, `LSTM` and `GRU` (`torch.nn.RNNBase`): parameters
    `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` (and `weight_hr_l{k}`
    for an LSTM with `proj_size`), with `_reverse` for the backward direction, each initialized
    uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    >>> import dygrad as torch
    >>> rnn = torch.nn.RNNBase("GRU", 4, 8)
    >>> [n for n, _ in rnn.named_parameters()]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1  # type: ignore[operator]
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:  # type: ignore[operator]
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=2,
            )
        typed = (("bias", bias, bool), ("batch_first", batch_first, bool),
                 ("input_size", input_size, int), ("hidden_size", hidden_size, int))  # fmt: skip
        for name, v, kind in typed:
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise TypeError(
                    f"{name} should be of type {kind.__name__}, got: {type(v).__name__}"
                )
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)  # type: ignore[arg-type]
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                shapes = [(gate_size, layer_input), (gate_size, real_hidden)]
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    shapes += [(gate_size,), (gate_size,)]
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    shapes += [(proj_size, hidden_size)]
                    names += ["weight_hr_l{}{}"]
                suffix = "_reverse" if direction == 1 else ""
                names = [n.format(layer, suffix) for n in names]
                for n, shape in zip(names, shapes):
                    setattr(self, n, Parameter(empty(shape, dtype=dtype, device=device)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))
        (`RNNBase.reset_parameters`)."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility (it packs cuDNN weights there)."""

    @property
    def _flat_weights(self) -> list[Parameter | None]:
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters, one list per layer and direction (`RNNBase.all_weights`)."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # -- checks, with PyTorch's messages -------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        w: Tensor = getattr(self, self._flat_weights_names[0])
        if x.dtype != w.dtype:
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({x.dtype})"
            )
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                "input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]}"
            )
        if x.shape[0 if not self.batch_first else 1] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")

    def _expected_hidden(self, x: Tensor, size: int) -> tuple[int, int, int]:
        batch = x.shape[0] if self.batch_first else x.shape[1]
        return (self.num_layers * (2 if self.bidirectional else 1), batch, size)

    @staticmethod
    def _check_hidden(h: Tensor, expected: tuple[int, int, int], msg: str) -> None:
        if tuple(h.shape) != expected:
            raise RuntimeError(msg.format(expected, list(h.shape)))

    def _unbatched(self, x: Tensor, kind: str) -> tuple[Tensor, bool]:
        if not isinstance(x, Tensor):
            raise TypeError(f"{kind}: expected input to be a Tensor, got {type(x).__name__}")
        if x.ndim not in (2, 3):
            tail = "D tensor instead" if kind == "RNN" else "D instead"
            raise ValueError(f"{kind}: Expected input to be 2D or 3D, got {x.ndim}{tail}")
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(0 if self.batch_first else 1)
        return x, batched

    # -- the recurrence ------------------------------------------------------------------------

    def _run(
        self, x: Tensor, h0: list[Tensor], c0: list[Tensor] | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        # x: (T, B, I); h0/c0: one (B, H) tensor per layer and direction.
        step = _STEPS[self.mode]
        T = x.shape[0]
        num_directions = 2 if self.bidirectional else 1
        train_dropout = self.training and self.dropout > 0
        weights = self.all_weights
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                ws = weights[idx]
                w_ih, w_hh = ws[0], ws[1]
                b_ih, b_hh = (ws[2], ws[3]) if self.bias else (None, None)
                w_hr_t = ws[-1].t() if self.proj_size > 0 else None
                gx = _input_gates(self.mode, x, w_ih, b_ih, b_hh)
                gru = self.mode == "GRU"
                steps = list(zip(*(g.unbind(0) for g in gx))) if gru else gx.unbind(0)
                w_hh_t = w_hh.t()
                b = b_hh if gru else None
                h, c = h0[idx], (c0[idx] if c0 is not None else None)
                ys: list[Any] = [None] * T
                for t in range(T - 1, -1, -1) if direction == 1 else range(T):
                    h, c = step(steps[t], h, c, w_hh_t, b, w_hr_t)
                    ys[t] = h
                outs.append(stack(ys))
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            x = outs[0] if num_directions == 1 else cat(outs, -1)
            if train_dropout and layer < self.num_layers - 1:
                x = nnops.dropout(x, self.dropout, True)
        return x, stack(h_n), (stack(c_n) if c_n else None)

    def _forward(self, input: Tensor, hx: Any, kind: str) -> tuple[Tensor, Any]:  # noqa: A002
        x, batched = self._unbatched(input, kind)
        lstm = self.mode == "LSTM"
        h_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        if hx is not None:
            if lstm and not (isinstance(hx, tuple | list) and len(hx) == 2):
                got = f"{len(hx)} items" if isinstance(hx, tuple | list) else type(hx).__name__
                raise TypeError(
                    f"LSTM: expected hx to be a tuple (h_0, c_0) of two Tensors, got {got}"
                )
            hs = tuple(hx) if lstm else (hx,)
            if any(not isinstance(h, Tensor) for h in hs):
                raise TypeError(f"{kind}: expected hx to be a Tensor or a tuple of Tensors")
            want = 3 if batched else 2
            if any(h.ndim != want for h in hs):
                which = "batched 3-D" if batched else "unbatched 2-D"
                if lstm:
                    raise RuntimeError(
                        f"For {which} input, hx and cx should also be {want}-D but got "
                        f"({hs[0].ndim}-D, {hs[1].ndim}-D) tensors"
                    )
                raise RuntimeError(
                    f"For {which} input, hx should also be {want}-D but got {hs[0].ndim}-D tensor"
                )
            if not batched:
                hs = tuple(h.unsqueeze(1) for h in hs)
        self._check_input(x)
        expected_h = self._expected_hidden(x, h_size)
        if self.batch_first:
            x = x.transpose(0, 1)
        if hx is None:
            n, B, _ = expected_h
            h0 = [zeros(B, h_size, dtype=x.dtype)] * n
            c0 = [zeros(B, self.hidden_size, dtype=x.dtype)] * n if lstm else None
        else:
            if lstm:
                self._check_hidden(hs[0], expected_h, "Expected hidden[0] size {}, got {}")
                expected_c = (*expected_h[:2], self.hidden_size)
                self._check_hidden(hs[1], expected_c, "Expected hidden[1] size {}, got {}")
            else:
                self._check_hidden(hs[0], expected_h, "Expected hidden size {}, got {}")
            for h in hs:
                _check_dtype(h, None, x)
            h0 = list(hs[0].unbind(0))
            c0 = list(hs[1].unbind(0)) if lstm else None
        out, h_n, c_n = self._run(x, h0, c0)
        if self.batch_first:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return out, ((h_n, c_n) if lstm else h_n)


class RNN(RNNBase):
    """An Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked
    `num_layers` deep, optionally bidirectional (`torch.nn.RNN`). Returns `(output, h_n)`.

    >>> import dygrad as torch
    >>> rnn = torch.nn.RNN(10, 20, num_layers=2, nonlinearity="relu")
    >>> out, h_n = rnn(torch.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        return self._forward(input, hx, "RNN")


class LSTM(RNNBase):
    """A long short-term memory layer with PyTorch's gate order (input, forget, cell, output)
    and optional projection `proj_size` (`torch.nn.LSTM`). Returns `(output, (h_n, c_n))`.

    >>> import dygrad as torch
    >>> lstm = torch.nn.LSTM(10, 20, num_layers=2, batch_first=True)
    >>> lstm
    LSTM(10, 20, num_layers=2, batch_first=True)
    >>> out, (h_n, c_n) = lstm(torch.randn(3, 5, 10))
    >>> out.shape, h_n.shape, c_n.shape
    (torch.Size([3, 5, 20]), torch.Size([2, 3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", *args, **kwargs)

    def forward(
        self,
        input: Tensor,  # noqa: A002
        hx: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        return self._forward(input, hx, "LSTM")


class GRU(RNNBase):
    """A gated recurrent unit layer with PyTorch's gate order (reset, update, new) and
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (`torch.nn.GRU`). Returns `(output, h_n)`.

    >>> import dygrad as torch
    >>> gru = torch.nn.GRU(10, 20, bidirectional=True)
    >>> out, h_n = gru(torch.randn(5, 10))  # unbatched
    >>> out.shape, h_n.shape
    (torch.Size([5, 40]), torch.Size([2, 20]))
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        return self._forward(input, hx, "GRU")


# ---------------------------------------------------------------------------------------------
# Cells: one time step, the caller writes the loop.


class RNNCellBase(Module):
    """The shared parameters of the cells (`torch.nn.RNNCellBase`): `weight_ih`, `weight_hh`,
    `bias_ih`, `bias_hh`, uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

    >>> import dygrad as torch
    >>> torch.nn.RNNCellBase(3, 4, bias=False, num_chunks=2).weight_ih.shape
    torch.Size([8, 3])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = num_chunks * hidden_size
        self.weight_ih = Parameter(empty((g, input_size), dtype=dtype, device=device))
        self.weight_hh = Parameter(empty((g, hidden_size), dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(g, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(g, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        """Draw every weight and bias from uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, kind: str, input: Tensor, hx: tuple[Tensor | None, ...]) -> Any:  # noqa: A002
        if not isinstance(input, Tensor):
            raise TypeError(f"{kind}: expected input to be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{kind}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        for i, h in enumerate(hx):
            if h is not None and h.ndim not in (1, 2):
                what = f"hx[{i}]" if len(hx) > 1 else "hidden"
                raise ValueError(f"{kind}: Expected {what} to be 1D or 2D, got {h.ndim}D instead")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        if x.shape[1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {x.shape[1]} expected {self.input_size}"
            )
        hs = []
        for i, h in enumerate(hx):
            if h is None:
                h = zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
            elif not batched:
                h = h.unsqueeze(0)
            if h.shape[0] != x.shape[0]:
                raise RuntimeError(
                    f"Input batch size {x.shape[0]} doesn't match hidden{i} batch size {h.shape[0]}"
                )
            if h.shape[1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.shape[1]}, expected "
                    f"{self.hidden_size}"
                )
            _check_dtype(x, h, self.weight_ih)
            hs.append(h)
        return x, hs, batched

    def _step(self, mode: str, x: Tensor, h: Tensor, c: Tensor | None) -> tuple[Tensor, Any]:
        gx = _input_gates(mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        b = self.bias_hh if mode == "GRU" else None
        return _STEPS[mode](gx, h, c, self.weight_hh.t(), b, None)


class RNNCell(RNNCellBase):
    """One step of an Elman RNN, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)
    (`torch.nn.RNNCell`).

    >>> import dygrad as torch
    >>> cell = torch.nn.RNNCell(10, 20, nonlinearity="relu")
    >>> cell
    RNNCell(10, 20, nonlinearity=relu)
    >>> cell(torch.randn(3, 10)).shape
    torch.Size([3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        x, (h,), batched = self._prepare("RNNCell", input, (hx,))
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        h, _ = self._step(mode, x, h, None)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; returns `(h', c')` (`torch.nn.LSTMCell`).

    >>> import dygrad as torch
    >>> cell = torch.nn.LSTMCell(10, 20)
    >>> h, c = cell(torch.randn(10))  # unbatched
    >>> h.shape, c.shape
    (torch.Size([20]), torch.Size([20]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(
        self,
        input: Tensor,  # noqa: A002
        hx: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        x, (h, c), batched = self._prepare("LSTMCell", input, (None, None) if hx is None else hx)
        h, c = self._step("LSTM", x, h, c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (`torch.nn.GRUCell`).

    >>> import dygrad as torch
    >>> cell = torch.nn.GRUCell(10, 20)
    >>> cell(torch.randn(3, 10), torch.zeros(3, 20)).shape
    torch.Size([3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, (h,), batched = self._prepare("GRUCell", input, (hx,))
        h, _ = self._step("GRU", x, h, None)
        return h if batched else h.squeeze(0)
