"""`dygrad.nn.functional` (PyTorch's `torch.nn.functional`): the stateless forms of the layers,
built on dygrad's public functions and ops."""

from . import activation, attention, conv, loss, misc, norm

__all__: list[str] = []
for _m in (conv, norm, activation, loss, attention, misc):
    for _n in _m.__all__:
        globals()[_n] = getattr(_m, _n)
    __all__ += _m.__all__
