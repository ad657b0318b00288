"""Atomic file writes: a reader sees the old file or the new one, never half of one.

In: a path and the bytes/text to put there. Out: the path. The data goes to a
temporary file in the same folder (same file system) and is then renamed over
the target with :func:`os.replace`, which is atomic on POSIX and Windows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def file_mode() -> int:
    """Permissions of an ordinary new file under the user's umask (0o644 for the usual 022).

    :func:`tempfile.mkstemp` creates private (0600) files; a file written
    atomically must end up like any file the user creates, so that a colleague
    or the shop's file share can read an export.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> atomic_write_bytes(p, b"hi").read_bytes()
    b'hi'
    >>> oct(os.stat(p).st_mode & 0o777) == oct(file_mode())
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode(encoding))
