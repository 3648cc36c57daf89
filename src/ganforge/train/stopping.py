"""How a run stops early on its own terms: a stop request (Ctrl-C, SIGTERM), and the time budget
(`train.max_minutes`, `--minutes`), which ends training cleanly at the first log step past it, with a
checkpoint, as the same run continues when a resume gives it more minutes."""

from __future__ import annotations

import signal
import time

from ..errors import UserError


def now() -> float:
    """The clock of the time budget and of stop requests (tests set it)."""
    return time.monotonic()


class TimeBudget:
    """The seconds of training a run has spent, summed over its resumes (saved in its checkpoints), against
    its budget: setting up (reading data, building networks) does not count, training steps, checkpoints,
    sample grids and evaluations do."""

    def __init__(self, minutes: float):
        self.minutes = minutes
        self.spent = 0.0  # seconds before this session
        self._since: float | None = None

    def start(self) -> None:
        self._since = now()

    def seconds(self) -> float:
        return self.spent + (now() - self._since if self._since is not None else 0.0)

    def exhausted(self) -> bool:
        return self.minutes > 0 and self.seconds() >= self.minutes * 60

    def check_left(self, run_dir: object) -> None:
        """Refuse to go on with a run whose budget is spent (a resume must give it more minutes)."""
        if self.exhausted():
            spent = self.spent / 60
            raise UserError(
                f"the run has spent its time budget ({spent:.2f} of train.max_minutes={self.minutes:g}); go on with "
                f"ganforge train --resume {run_dir} --minutes M, M more than {spent:.2f}"
            )

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.spent = float(state["seconds"])


class StepAbandoned(Exception):
    """A stop request ended a step between its phases (the step is not finished, so nothing is saved)."""


class InterruptFlag:
    """Turns Ctrl-C / SIGTERM into a stop request. The first stops the run after the current step, which
    saves a checkpoint; a step still running STOP_GRACE seconds after it, or a second request, ends at the
    next phase boundary without saving (`abandon`, one process only: several must finish their
    collectives); a third interrupts at once."""

    STOP_GRACE = 10.0

    def __init__(self, abandon: bool = True) -> None:
        self.raised = False
        self.count = 0
        self.since = 0.0
        self.abandon = abandon
        self._old: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        self.count += 1
        if self.count >= 3 or (self.count == 2 and not self.abandon):
            raise KeyboardInterrupt
        if not self.raised:
            self.raised, self.since = True, now()

    def check_abandon(self) -> None:
        """Raise StepAbandoned where a stop request has waited long enough for the step to end."""
        if self.raised and self.abandon and (self.count > 1 or now() - self.since > self.STOP_GRACE):
            raise StepAbandoned

    def __enter__(self) -> InterruptFlag:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        except ValueError:  # not the main thread: leave the handlers alone
            self._old = {}
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
