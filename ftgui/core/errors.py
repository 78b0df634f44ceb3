"""One exception family for mistakes a person can fix.

Each error carries a message that says what is wrong and what to do. Anything that is
not an ``FtguiError`` is a bug: the CLI exits 1 with a traceback in a log file.
"""

import errno
import re

_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class FtguiError(Exception):
    """A user error: bad input, a missing file, a wrong setting."""

    def __init__(self, message: str, *, field: str | None = None):
        # one line, always: a line break from the input (a column named "a\nb") is shown
        # escaped rather than breaking the message in a terminal or a banner
        message = _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], message)
        super().__init__(message)
        self.message = message
        self.field = field  # "section.key" of the config field at fault, when there is one

    def __str__(self) -> str:
        return self.message


class ConfigError(FtguiError):
    """A config key is unknown, has the wrong type or an invalid value."""


class ModelError(FtguiError):
    """The model cannot be found or loaded."""


class DataError(FtguiError):
    """The dataset cannot be found, read or prepared."""


class RunDirError(FtguiError):
    """The run directory is missing, incomplete or would be overwritten."""


class DiskFullError(FtguiError):
    """A write failed because the disk (or the quota, or the file size limit) is full."""


class OutOfMemoryError(FtguiError):
    """The run needed more memory than the device or the host has."""


# a write failed for want of space: the disk, the quota or the file size limit
DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)}
DISK_TEXT = ("no space left", "file too large", "disk quota", "os error 28", "os error 27",
             "os error 122", "pytorchstreamwriter failed writing", "file write failed",
             "unexpected pos")


def disk_full_cause(exc: BaseException | None) -> BaseException | None:
    """The exception in ``exc``'s chain that says the disk was full, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS or \
                any(t in str(exc).lower() for t in DISK_TEXT):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
