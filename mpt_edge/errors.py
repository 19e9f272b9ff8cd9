"""User-facing errors: the CLI prints them as one line and exits 2, never a traceback."""


class MptEdgeError(Exception):
    """A problem the user can fix (bad input, missing file); the message names the fix."""


class InputError(MptEdgeError, ValueError):
    """Input data of the wrong shape, dtype or value; a ValueError so library callers can catch it."""
