"""Where the state file lives, and the environment variables a command reads as input.

--state (or LINCTL_STATE) names the file, checked before anything is read;
the old default `.linctl/net.pt` is read while only it exists. Variables
such as LINCTL_LOCK_TIMEOUT are read when a command needs them, and bad
values are one line, like any option's.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from linctl.errors import LinctlError, UsageError
from linctl.store.check_basics import _show

DEFAULT_PATH = os.path.join(".linctl", "net.safetensors")
OLD_DEFAULT_PATH = os.path.join(".linctl", "net.pt")  # formats 1 and 2
DEFAULT_LOCK_TIMEOUT_S = 60.0
_NUMBER = re.compile(r"[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)

# --------------------------------------------------------------------------
# environment variables: input like any option


def env_number(name: str, default: float, *, whole: bool, least: float, expects: str) -> float:
    """The number in environment variable `name`, read when a command needs it.

    Unset or empty means `default` (as click treats LINCTL_STATE and
    LINCTL_DEVICE). Anything else must be a number >= `least` in plain ASCII
    notation (2, 2.5, 1e9; no sign but '+', no nan or inf), a whole one where
    `whole` (then it comes back as an int); otherwise one UsageError line
    names the variable and what it expects.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    # ASCII digits only: float() would also take '1_000', '１' and 'nan'
    value = float(text) if _NUMBER.fullmatch(text) else math.nan
    if not math.isfinite(value) or value < least or (whole and value != int(value)):
        raise UsageError(f"{name}={_show(text)}: expected {expects}; set it to one, or unset it")
    return int(value) if whole else value


def lock_timeout() -> float:
    """LINCTL_LOCK_TIMEOUT: seconds to wait for another linctl's lock, >= 0 (0: try once), default 60.

    Negative values (filelock's "wait forever"), nan and inf are refused: a
    script that hangs forever on a stale lock is worse than one clear error.
    """
    return env_number(
        "LINCTL_LOCK_TIMEOUT",
        DEFAULT_LOCK_TIMEOUT_S,
        whole=False,
        least=0,
        expects=f"the seconds to wait for another linctl's lock, a number 0 or more (default {DEFAULT_LOCK_TIMEOUT_S:g})",
    )


# --------------------------------------------------------------------------
# where the state lives


def resolve(path: str | os.PathLike | None) -> Path:
    """--state (or LINCTL_STATE, which click leaves None when empty), else the default."""
    if path is None:
        return Path(DEFAULT_PATH)
    if not str(path):
        raise UsageError(f"--state: the path is empty; give a file path like --state {DEFAULT_PATH}, or leave it out")
    resolved = Path(path)
    # the lock, the temp file and the history folder add to the name, and file systems stop at 255 bytes
    longest = max((len(os.fsencode(part)) for part in resolved.parts), default=0)
    if longest > MAX_NAME_BYTES:
        raise UsageError(
            f"--state: a part of the path is {longest} bytes long; file names here must stay within "
            f"{MAX_NAME_BYTES} bytes (linctl adds '.lock' and '.history' beside it); use a shorter name"
        )
    return resolved


MAX_NAME_BYTES = 200


def check_not_dir(path: Path) -> None:
    try:
        is_dir = path.is_dir()
    except OSError as exc:
        raise LinctlError(f"cannot look at {path}: {exc.strerror or exc}; pass another --state") from None
    if is_dir:
        raise LinctlError(
            f"state path {path} is a directory; pass a file path such as --state {path / 'net.safetensors'} "
            "(or set LINCTL_STATE to one)"
        )


def source(path: Path) -> Path:
    """The file to read for `path`: the old default .linctl/net.pt while only it exists, else `path`."""
    if path == Path(DEFAULT_PATH) and not path.exists() and Path(OLD_DEFAULT_PATH).is_file():
        return Path(OLD_DEFAULT_PATH)
    return path


def exists(path: Path) -> bool:
    check_not_dir(path)
    try:
        return source(path).exists()
    except OSError as exc:
        raise LinctlError(f"cannot look at {path}: {exc.strerror or exc}; pass another --state") from None
