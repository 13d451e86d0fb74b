"""Composable function transforms (`torch.func`): `grad`, `grad_and_value`, `vjp`, `jvp`,
`jacrev`, `jacfwd`, `hessian`, `vmap` and `functional_call`, built on dygrad's reverse mode
(`autograd.grad`), nested forward-mode dual levels, and a per-example loop for `vmap`.

>>> import dygrad as torch
>>> from dygrad.func import grad, jacrev, jacfwd
>>> f = lambda x: (x ** 3).sum()
>>> x = torch.tensor([1., 2.])
>>> grad(f)(x)
tensor([ 3., 12.])
>>> jacrev(grad(f))(x)
tensor([[ 6.,  0.],
        [ 0., 12.]])
"""

from __future__ import annotations

from ._functional_call import functional_call
from ._transforms import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, vjp
from ._vmap import VmapFallbackWarning, vmap

__all__ = [
    "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap",
    "functional_call", "VmapFallbackWarning",
]  # fmt: skip
