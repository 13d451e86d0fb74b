"""dygrad: a define-by-run automatic differentiation library over NumPy with PyTorch's API.

>>> import dygrad as torch
>>> x = torch.ones(2, 2, requires_grad=True)
>>> o = ((x + 2) * (x + 2) * 3).mean()
>>> o
tensor(27., grad_fn=<MeanBackward0>)
>>> o.backward(); x.grad
tensor([[4.5000, 4.5000],
        [4.5000, 4.5000]])
"""

from __future__ import annotations

from . import autograd, dtypes, ops, return_types
from . import indexing as _indexing  # noqa: F401 - installs Tensor.__getitem__'s helpers
from ._printing import get_printoptions, set_printoptions

# Load autograd's tools now: importing the submodule `gradcheck` would otherwise rebind
# `dygrad.autograd.gradcheck` from the function to the module.
from .autograd import api as _api  # noqa: E402, I001
from .autograd import function as _function
from .autograd import gradcheck as _gradcheck
from .autograd.anomaly import is_anomaly_check_nan_enabled, is_anomaly_enabled
from .autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backend import manual_seed
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from .dtypes import (
    bool_ as bool,  # noqa: A004 - PyTorch's name
)
from .dtypes import (
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)
from .functions import (
    METHOD_FUNCTIONS,
    addmm,
    broadcast_tensors,
    cat,
    chunk,
    concat,
    concatenate,
    is_tensor,
    method_function,
    split,
    stack,
    unbind,
)
from .tensor import Size, Tensor, _foreach_add_, device, matmul, maximum, minimum, tensor, where

autograd.gradcheck = _gradcheck.gradcheck
autograd.gradgradcheck = _gradcheck.gradgradcheck
autograd.GradcheckError = _gradcheck.GradcheckError
autograd.grad = _api.grad
autograd.backward = _api.backward
autograd.Function = _function.Function
autograd.FunctionCtx = _function.FunctionCtx
autograd.once_differentiable = _function.once_differentiable

half = float16
float = float32  # noqa: A001
double = float64
short = int16
int = int32  # noqa: A001
long = int64

__version__ = "0.1.0"

for _name in METHOD_FUNCTIONS:
    globals()[_name] = method_function(_name)
# The neural-network ops' public functions (torch.conv2d, torch.batch_norm, ...).
for _mod in (ops.conv, ops.nnops):
    for _name in _mod.PUBLIC:
        globals()[_name] = getattr(_mod, _name)
del _name, _mod


def is_floating_point(t: Tensor) -> object:
    """True for float16/32/64 tensors (`torch.is_floating_point`)."""
    return t.is_floating_point()


# The library layer (nn, optim, utils, serialization: the public API above only) and the tools
# (viz, func, the static-graph mode: tracing, shape checking, compiled replay, ONNX export).
from . import (  # noqa: E402
    func,
    jit,
    nn,
    onnx,
    optim,
    utils,
    viz,
)
from .jit.compiler import compile  # noqa: E402, A004 - PyTorch's name
from .serialization import load, save  # noqa: E402
