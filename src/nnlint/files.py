"""Reading the files a user points nnlint at: specs, configs and target files.

One helper, :func:`read_regular`, for all of them. It never blocks and never reads
without bound: the file is opened with ``O_NONBLOCK`` (a FIFO with no writer
opens at once instead of waiting), checked with ``fstat`` to be a regular file
before a byte is read (``/dev/zero``, ``/dev/urandom``, a FIFO or a socket are
refused by name), and read up to the size it had when it was opened, which must
be under a cap. A refusal is a :class:`Refused` whose text says what the file is
and what nnlint reads; the caller puts the file name in front.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

__all__ = [
    "CONFIG_LIMIT",
    "SPEC_LIMIT",
    "Refused",
    "file_kind",
    "read_limited",
    "read_regular",
]

MiB = 1 << 20
#: The largest spec nnlint reads. The expanded-graph limit (250,000 op instances)
#: is reached by a one-statement-per-layer chain of about 8 MiB, so a spec above
#: this cap could not be checked anyway.
SPEC_LIMIT = 16 * MiB
#: The largest config or target file nnlint reads (the shipped ones are under 4 KiB).
CONFIG_LIMIT = 1 * MiB

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
)


class Refused(Exception):
    """A file nnlint will not read; ``str()`` is the reason, without the file name."""


def file_kind(mode: int) -> str:
    """``"a regular file"``, ``"a FIFO (named pipe)"``, ``"a character device"`` …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _size(size: int) -> str:
    return f"{size / MiB:.1f} MiB" if size >= MiB // 10 else f"{size:,} bytes"


def read_regular(path: str | os.PathLike[str], *, limit: int, what: str) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them.

    ``what`` names the kind of file in the size message ("specs", "configs").
    Raises :class:`Refused` for anything but a regular file and above the cap, and
    ``OSError`` (``FileNotFoundError``, ``IsADirectoryError`` …) when it cannot be
    opened. Never blocks: a FIFO opens without a writer, and ``fstat`` refuses it
    before the first read.
    """
    fd = os.open(path, _FLAGS)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise Refused(
                f"is {file_kind(info.st_mode)}, not a regular file; nnlint reads only regular files"
            )
        if info.st_size > limit:
            raise Refused(
                f"file is {_size(info.st_size)}; nnlint reads {what} up to {_size(limit)}"
            )
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return _read_exactly(stream, info.st_size)
    except BlockingIOError:  # a /proc or /sys file that behaves like a device
        raise Refused(
            "would block (not an ordinary file); nnlint reads only regular files"
        ) from None
    finally:
        os.close(fd)


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    """At most ``size`` bytes: what ``fstat`` said the file holds.

    Pseudo-files that report size 0 (``/proc/kmsg``, which would hand over the
    kernel log record by record) read as empty; a file that grows meanwhile is read
    as it was when it was opened.
    """
    chunks: list[bytes] = []
    while size > 0 and (chunk := stream.read(size)):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_limited(stream: BinaryIO, *, limit: int, what: str) -> bytes:
    """Read ``stream`` to its end, refusing it once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(limit + 1 - total, MiB) or 1)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise Refused(f"is over {_size(limit)}; nnlint reads {what} up to {_size(limit)}")


def display_path(path: str | os.PathLike[str]) -> str:
    """Relative to the working folder when below it, else absolute; ``/`` separators."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        relative = absolute
    shown = absolute if relative.startswith("..") else relative
    return shown.replace(os.sep, "/")
