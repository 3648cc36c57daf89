"""ganforge: train, watch, evaluate and use GANs for images. Each command of the CLI is a function here."""

from .api import (
    Generator,
    evaluate,
    export,
    health,
    info,
    load,
    prepare,
    presets,
    report,
    resolve_config,
    sample,
    train,
    translate,
)
from .config import Config
from .errors import UserError

__version__ = "0.1.0"
__all__ = ["Config", "Generator", "UserError", "evaluate", "export", "health", "info", "load", "presets", "report"]
__all__ += ["prepare", "resolve_config", "sample", "train", "translate", "__version__"]
