"""What the discriminator sees: its inputs, reals and fakes alike, changed before it judges them.

- DiffAugment (Zhao et al. 2020, "Differentiable augmentation for data-efficient GAN training"):
  `data.diffaugment=color,translation,cutout`. Random, differentiable changes on the device, in both
  phases, so that G's gradient passes through them and D cannot memorise a small data set:
  `color` shifts brightness by U(-0.5, 0.5), scales saturation by U(0, 2) and contrast by U(0.5, 1.5);
  `translation` shifts by up to 1/8 of the image each way, filling with zeros; `cutout` zeroes a square
  half the image's side at a random place. `data.augment_p` is the chance that an operation changes a
  given image (1, always, is DiffAugment's), and `data.augment_p_end` ramps that chance along a half cosine
  to its value at the run's last step (R3GAN's ramps: a strong augmentation early, a light one late).
  Two geometric operations join them: `flip` mirrors left to right, `rotate90` turns by 0, 90, 180 or 270
  degrees (square images).
- Adaptive augmentation (ADA, train/ada.py): `data.ada_target` steers the chance p from D's overfitting,
  over the operations of `data.diffaugment` (by default translation,color: flip and rotate90 leak into G on
  data they change, such as digits), from p = 0.
- Instance noise (Sonderby et al. 2016; Arjovsky and Bottou 2017): `loss.instance_noise` is the standard
  deviation of Gaussian noise added to D's inputs, falling linearly to 0 over `loss.instance_noise_steps`
  (the whole run when 0), so that the real and fake distributions overlap early on.

For a conditional D the change applies to the (input, image) pair as one, so the pair stays aligned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import Config
from ..errors import UserError
from ..registry import TEXT_PARSERS
from .ada import AdaptiveAugment
from .ramps import cosine, run_progress


def _color(x: torch.Tensor, groups: list[int]) -> torch.Tensor:
    """Brightness, saturation and contrast, the same draws for each image of a conditional pair (the
    channel `groups`), each image's means taken over its own channels."""
    shape = (x.shape[0], 1, 1, 1)
    brightness = torch.rand(shape, device=x.device, dtype=x.dtype) - 0.5
    saturation = torch.rand(shape, device=x.device, dtype=x.dtype) * 2
    contrast = torch.rand(shape, device=x.device, dtype=x.dtype) + 0.5
    out = []
    for part in x.split(groups, dim=1):
        part = part + brightness
        mean = part.mean(dim=1, keepdim=True)
        part = (part - mean) * saturation + mean
        mean = part.mean(dim=(1, 2, 3), keepdim=True)
        out.append((part - mean) * contrast + mean)
    return torch.cat(out, dim=1)


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) - dy).expand(n, h, w)  # where each pixel comes from
    cols = (torch.arange(w, device=x.device).view(1, 1, w) - dx).expand(n, h, w)
    padded = F.pad(x, (1, 1, 1, 1))  # a border of zeros to point at
    rows, cols = (rows + 1).clamp(0, h + 1), (cols + 1).clamp(0, w + 1)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows - cy + ch // 2 >= 0) & (rows - cy + ch // 2 < ch) & (cols - cx + cw // 2 >= 0)
    inside &= cols - cx + cw // 2 < cw
    return x * (~inside).unsqueeze(1).to(x.dtype)


def _flip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(3)


def _rotate90(x: torch.Tensor) -> torch.Tensor:
    """Each image turned by its own multiple of 90 degrees (one draw per image, four turns computed)."""
    k = torch.randint(0, 4, (x.shape[0], 1, 1, 1), device=x.device)
    out = x
    for turns in (1, 2, 3):
        out = torch.where(k == turns, torch.rot90(x, turns, dims=(2, 3)), out)
    return out


AUGMENTATIONS = {"color": _color, "translation": _translation, "cutout": _cutout, "flip": _flip, "rotate90": _rotate90}
ADA_DEFAULT = "translation,color"  # the operations that keep a digit a digit; flip and rotate90 are opt-in
PER_IMAGE = {"color"}  # needs to know where one image of a conditional pair ends


def parse_diffaugment(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        if name not in AUGMENTATIONS:
            raise UserError(
                f"data.diffaugment: unknown {name!r}; use any of {', '.join(AUGMENTATIONS)}, comma-separated"
            )
    return names


TEXT_PARSERS.register("data.diffaugment", parse_diffaugment)  # the check of the config key


class DInputs:
    """D's inputs, augmented and noised as the config says; the identity when both are off.

    What changes from step to step (a ramped chance, the falling noise) lives in tensors on the run's
    device, set by `set_step` before the step and only read by the call, and the call's draws do not depend
    on them: a step replayed as a CUDA graph (train/graphs.py) reads the step's values, not those captured."""

    def __init__(self, cfg: Config, device: torch.device | str = "cpu", midpoint: float = 0.0):
        adaptive = cfg.data.ada_target > 0
        self.names = parse_diffaugment(cfg.data.diffaugment or (ADA_DEFAULT if adaptive else ""))
        paired = cfg.task == "paired" and getattr(cfg.model, "d_conditional", False)
        self.groups = [cfg.data.in_channels, cfg.data.channels] if paired else [cfg.data.channels]
        self.p, self.p_end = cfg.data.augment_p, cfg.data.augment_p_end
        self.noise = cfg.loss.instance_noise
        self.noise_steps = cfg.loss.instance_noise_steps
        if self.noise < 0:
            raise UserError(f"loss.instance_noise={self.noise} must not be negative; 0.1 is a usual start")
        self.step, self.total_steps = 0, 1
        self.p_now = torch.tensor(0.0 if adaptive else self.augment_p, device=device)  # the current step's
        self.std_now = torch.tensor(self.noise_std, device=device)
        self.ada = AdaptiveAugment(cfg, self.p_now, midpoint) if adaptive else None

    def set_step(self, step: int, total_steps: int) -> None:
        """The step about to run, of a run of `total_steps`."""
        self.step, self.total_steps = step, total_steps
        if self.ada is not None:
            self.ada.before_step(step)
        elif self.p_end >= 0:  # only what changes is written (each write is a kernel on a GPU)
            self.p_now.fill_(self.augment_p)
        if self.noise > 0:
            self.std_now.fill_(self.noise_std)

    @property
    def noise_std(self) -> float:
        """The instance noise's standard deviation at the current step."""
        span = self.noise_steps or self.total_steps
        return self.noise * max(0.0, 1.0 - self.step / max(span, 1))

    @property
    def augment_p(self) -> float:
        """The chance that each augmentation changes an image, at the current step."""
        if self.p_end < 0:
            return self.p
        return cosine(self.p, self.p_end, run_progress(self.step, self.total_steps))

    def observe(self, real_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """D's outputs on a batch of reals, for adaptive augmentation; its metrics (p, the last r_t)."""
        if self.ada is None:
            return {}
        self.ada.observe(real_out)
        return {"augment_p": self.p_now.clone(), "ada_rt": self.ada.rt.clone()}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        groups = self.groups if sum(self.groups) == x.shape[1] else [x.shape[1]]
        ramped = self.p_end >= 0 or self.ada is not None
        for name in self.names if ramped or self.p > 0 else ():
            changed = AUGMENTATIONS[name](x, groups) if name in PER_IMAGE else AUGMENTATIONS[name](x)
            if not ramped and self.p >= 1:  # every image: no draw, so that such runs keep their random stream
                x = changed
            else:
                chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < self.p_now
                x = torch.where(chosen, changed, x)
        # while it lasts and after: the same draw each step, only its scale falls (to 0)
        return x + torch.randn_like(x) * self.std_now if self.noise > 0 else x
