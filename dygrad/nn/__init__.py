"""`dygrad.nn`: modules, layers, losses, `functional`, `init` and `utils`, with PyTorch's API,
built only from dygrad's public tensor API."""

from . import functional, init, utils
from .modules import *  # noqa: F403
from .modules import __all__ as _modules_all
from .parameter import *  # noqa: F403
from .parameter import __all__ as _parameter_all

__all__ = ["functional", "init", "utils", *_modules_all, *_parameter_all]
