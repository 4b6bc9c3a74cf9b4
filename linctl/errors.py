"""The few exception types that become clean one-line messages."""


class LinctlError(Exception):
    """A failure the user can fix; becomes one line on stderr and exit 1."""

    exit_code = 1


class UsageError(LinctlError):
    """Bad usage or bad input; becomes one line on stderr and exit 2."""

    exit_code = 2
