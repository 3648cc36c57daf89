"""The one exception type the CLI turns into a one-line message and exit status 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, an unknown key, a corrupt image.

    The message is a single line that names the file or key and says how to fix it.
    """


class TrainingStopped(Exception):
    """A run stopped early by an event (training health) or by weights that are no longer finite; the
    CLI prints its one-line message and exits with status 1."""


def one_line(message: object) -> str:
    """A message as one line: a UserError re-raised from a data-loader worker carries the worker's
    traceback in its text, so only its last line is kept; runs of white space fold to one space."""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    last = lines[-1].split("UserError: ", 1)[-1] if len(lines) > 1 else (lines[0] if lines else "")
    return " ".join(last.split())
