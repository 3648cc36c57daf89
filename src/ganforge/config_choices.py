"""The choices of config fields that registries hold, read when a config is checked (so that a name
registered later, from ganforge or from user code, is a valid value at once), and the checks of the free
text keys whose parsers live with what reads them."""

from __future__ import annotations

from collections.abc import Callable


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


def _error_of(parse: Callable[[str], object], text: str) -> str | None:
    from .errors import UserError

    if not text:
        return None
    try:
        parse(text)
    except UserError as e:
        return str(e)
    return None


def degradation_error(text: str) -> str | None:
    from .data.degrade import parse_degradations

    return _error_of(parse_degradations, text)


def diffaugment_error(text: str) -> str | None:
    from .train.d_inputs import parse_diffaugment

    return _error_of(parse_diffaugment, text)


def stop_on_error(text: str) -> str | None:
    from .train.health import EVENT_KINDS

    unknown = [name for name in (x.strip() for x in text.split(",")) if name and name not in EVENT_KINDS]
    if unknown:
        return f"names {unknown[0]!r}, which is not a health event; events: {', '.join(EVENT_KINDS)}"
    return None


def bad_image_policies() -> tuple[str, ...]:
    from .data.screening import BAD_IMAGE_POLICIES

    return BAD_IMAGE_POLICIES
