"""The one exception type the CLI turns into a one-line message and exit status 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, an unknown key, a corrupt image.

    The message is a single line that names the file or key and says how to fix it.
    """
