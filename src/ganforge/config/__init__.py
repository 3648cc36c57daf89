"""The typed config of a run, the bottom of the house: it imports nothing of ganforge above the registry.

schema.py: the sections and their rules; rules.py: `option()` and the check of each rule; vocab.py: the
fixed vocabularies; load.py: presets, files (seed 002's too) and configs of ganforge 0.1 (upgrade.py);
overrides.py: `--set key=value`; flags.py: the train command's flags; seed002.py: seed 002's two files.
"""

from ..presets import preset_dict, preset_names, preset_summary
from .load import load_config, load_seed002
from .overrides import apply_overrides, get_key, parse_override
from .rules import SEED_LIMIT, VERSION, check_field, check_seed, option
from .schema import (
    DEFAULT_FAMILY,
    MAX_EVAL_IMAGES,
    Config,
    DataConfig,
    EvalConfig,
    HealthConfig,
    LossConfig,
    ModelConfig,
    NoiseOptions,
    OptimConfig,
    TrainConfig,
    model_options,
    set_family,
    unused_settings,
    validate,
)

__all__ = [
    "DEFAULT_FAMILY", "MAX_EVAL_IMAGES", "SEED_LIMIT", "VERSION", "Config", "DataConfig", "EvalConfig",
    "HealthConfig", "LossConfig", "ModelConfig", "NoiseOptions", "OptimConfig", "TrainConfig", "apply_overrides",
    "check_field", "check_seed", "get_key", "load_config", "load_seed002", "model_options", "option", "parse_override",
    "preset_dict", "preset_names", "preset_summary", "set_family", "unused_settings", "validate",
]  # fmt: skip
