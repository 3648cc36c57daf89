"""Fine-tuning: a new run that starts from the weights of a trained one (`--init-from RUN_DIR`), and keeps
the first layers of its discriminator as they were trained (`train.freeze_d`: FreezeD, Mo et al. 2020).

Only the networks' weights are taken, from the source run's latest checkpoint: the optimisers, the
schedules, the step and the random streams start anew, and the data may be another set. The networks
must have the same shapes: the family, its model keys, the image size and the channels; where they do
not, one line names the keys that differ. A source that trained no discriminator (`loss.gan_weight=0`, an
SRResNet before its SRGAN), or one whose discriminator keys differ, gives the generator alone: D starts
fresh, as ESRGAN's second stage does.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..config import Config
from ..errors import UserError
from ..models import family_of
from ..runs.checkpoint import SHAPING_KEYS, config_changes, find_checkpoint, load_checkpoint, mismatch
from ..runs.run import open_run

FREE_KEYS = ("model.inputs", "model.degrade_")  # model keys that make the data, not the networks
D_KEYS = ("model.d_",)  # keys that shape D alone


def initialise(cfg: Config, nets: dict[str, nn.Module]) -> str:
    """Load `cfg.train.init_from`'s latest weights into `nets` (g, d); the line that says so for the log."""
    source, source_cfg = open_run(Path(cfg.train.init_from).expanduser())
    if source_cfg.model.family != cfg.model.family:
        raise UserError(
            f"--init-from {source} trained a {source_cfg.model.family}, and this run is a {cfg.model.family}: "
            f"start from a {cfg.model.family} run, or train this one with {source_cfg.model.family}'s preset"
        )
    changes = config_changes(source_cfg.to_dict(), cfg.to_dict())
    changed = [c for c in changes if c.startswith(SHAPING_KEYS) and not c.startswith(FREE_KEYS)]
    d_keys = (*D_KEYS, "data.image_size") if family_of(cfg).g_any_size else D_KEYS
    g_only = source_cfg.loss.gan_weight == 0 or any(c.startswith(d_keys) for c in changed)
    if g_only:
        changed = [c for c in changed if not c.startswith(d_keys)]
    if changed:
        raise UserError(
            f"--init-from {source} does not fit this run's networks ({'; '.join(changed[:4])}): give this run "
            "those values, or start from a run trained with this run's"
        )
    path = find_checkpoint(source, None)
    state = load_checkpoint(path)
    for name, net in nets.items():
        if g_only and name != "g":
            continue
        try:
            net.load_state_dict(state[name])
        except (RuntimeError, KeyError, ValueError) as e:
            raise mismatch(path, name, e, state.get("config"), cfg.to_dict()) from None
    which = "G (D starts fresh)" if g_only else "G and D"
    return f"initialised from {source} (its step {state['step']}): the weights of {which}; new optimisers"


def freeze_first_layers(d: nn.Module, layers: int) -> list[nn.Parameter]:
    """Freeze D's first `layers` layers that hold weights (FreezeD); the parameters left to train."""
    holders = [m for m in d.modules() if any(True for _ in m.parameters(recurse=False))]
    if layers > len(holders) - 1:
        raise UserError(
            f"train.freeze_d={layers}, but this discriminator has {len(holders)} layers with weights; freeze at "
            f"most {len(holders) - 1} (its last layer must train)"
        )
    for m in holders[:layers]:
        m.requires_grad_(False)
    return [p for p in d.parameters() if p.requires_grad]
