"""The choices of config fields that registries hold, read when a config is checked (so that a name
registered later, from ganforge or from user code, is a valid value at once)."""

from __future__ import annotations


def family_names() -> list[str]:
    from .models import FAMILIES

    return FAMILIES.names()


def gan_loss_names() -> list[str]:
    from .losses import ADVERSARIAL_LOSSES

    return ADVERSARIAL_LOSSES.names()


def optimizer_names() -> list[str]:
    from .train.optim import OPTIMIZERS

    return OPTIMIZERS.names()


def extractor_names() -> list[str]:
    from .metrics.features import EXTRACTORS

    return EXTRACTORS.names()


def metric_names() -> tuple[str, ...]:
    from .metrics.generated import METRICS

    return METRICS


def directions() -> tuple[str, ...]:
    from .data.paired import DIRECTIONS

    return ("auto", *DIRECTIONS)


def bad_image_policies() -> tuple[str, ...]:
    from .data.screening import BAD_IMAGE_POLICIES

    return BAD_IMAGE_POLICIES
