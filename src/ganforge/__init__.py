"""ganforge: train, watch, evaluate and use GANs for images."""

from .api import Generator, load, resolve_config, train
from .config import Config
from .errors import UserError

__version__ = "0.1.0"
__all__ = ["Config", "Generator", "UserError", "load", "resolve_config", "train", "__version__"]
