"""Write a file atomically: a temporary file in the same folder, then a rename.

A reader (or a crash) never sees half a file, and the file named is only ever
replaced by a complete one. Used for baselines, fixed specs and pictures.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(
    path: str | os.PathLike[str], data: str | bytes, *, mode: int | None = None
) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8 with ``\\n`` kept as is).

    ``mode``: the permission bits of the new file; by default those of the file it
    replaces, or of an ordinary new file (``0o666`` less the umask). A symlink is
    written through (the link stays); a device, FIFO, socket or folder, or a symlink
    to nothing, is never replaced by a plain file: :class:`OSError`. On failure the
    temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
        if os.path.islink(target):
            raise OSError(errno.ENOENT, "is a symlink to a file that does not exist") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        from nnlint.files import file_kind

        kind = file_kind(info.st_mode)
        raise OSError(errno.EINVAL, f"is {kind}, not a regular file; nnlint replaces only files")
    if os.path.islink(target):
        target = Path(os.path.realpath(target))
    if mode is None and info is not None:
        mode = info.st_mode
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temp, stat.S_IMODE(mode))
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
