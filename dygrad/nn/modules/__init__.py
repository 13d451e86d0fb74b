"""The layers of `dygrad.nn`, one module per family, each listing its public names in __all__."""

from . import (
    activation,
    attention,
    container,
    conv,
    dropout,
    linear,
    loss,
    module,
    normalization,
    pooling,
    rnn,
    sparse,
)

__all__: list[str] = []
for _m in (module, container, linear, conv, pooling, normalization, activation, loss, dropout,
           sparse, rnn, attention):  # fmt: skip
    for _n in _m.__all__:
        globals()[_n] = getattr(_m, _n)
    __all__ += _m.__all__
