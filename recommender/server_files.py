"""Receipts files on the server: one allowed folder (the data root), never a path outside it.

In: the data root (``RECOMMENDER_DATA_ROOT``, else the project's data folder)
and a name typed or picked by a user. Out: the file's real path, only when it
lies inside the root after every ``..`` and every symbolic link is resolved;
anything else is refused with an :class:`~recommender.errors.InputError` that
does not reveal what lies outside.

The dashboard's Data page lists the root's receipts files with
:func:`list_server_files` and checks the pick with :func:`resolve_in_root`
again when it is made and each time it is read back from the database, so a
link swapped after the choice is refused too.
"""

from __future__ import annotations

import os
from pathlib import Path

from recommender import data_dir
from recommender.errors import InputError

__all__ = ["data_root", "resolve_in_root", "inside_root", "list_server_files", "EXTENSIONS", "SKIPPED"]

#: File endings a receipts (or catalog) file may have, as on the upload field.
EXTENSIONS = (".csv", ".tsv", ".txt", ".gz", ".xlsx", ".parquet")
#: Folders of the data root that hold the application's own files (uploads, run folders, the demo shop).
SKIPPED = ("uploads", "runs", "demo")
_MAX_DEPTH = 4
_MAX_FILES = 2000


def data_root() -> Path:
    """The allowed server folder: ``RECOMMENDER_DATA_ROOT``, else the data folder (``recommender.data_dir()``)."""
    env = os.environ.get("RECOMMENDER_DATA_ROOT")
    return Path(env) if env else data_dir()


def _refuse(name) -> InputError:
    return InputError("this file is not in the folder of receipts on the server", path=Path(str(name)).name or name,
                      hint="choose a file from the list")


def resolve_in_root(root, name) -> Path:
    """The real path of ``name`` (relative to ``root``), refused unless it is a file inside ``root``.

    Relative names only; ``..``, absolute paths, NUL bytes and links that lead
    out of the root (or nowhere) are refused.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "shop").mkdir(), (root / "shop" / "r.csv").write_text("a,b\\n")
    >>> resolve_in_root(root, "shop/r.csv") == (root / "shop" / "r.csv").resolve()
    True
    >>> resolve_in_root(root, "../etc/passwd")
    Traceback (most recent call last):
    ...
    recommender.errors.InputError: passwd: this file is not in the folder of receipts on the server (choose a file from the list)
    """
    text = str(name)
    if not text or "\x00" in text or Path(text).is_absolute() or text.startswith(("/", "\\", "~")):
        raise _refuse(text)
    try:
        base = Path(root).resolve(strict=True)
        real = (base / text).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a name the system refuses
        raise _refuse(text) from None
    if not real.is_relative_to(base) or real == base or not real.is_file():
        raise _refuse(text)
    return real


def inside_root(root, path) -> bool:
    """Whether ``path`` (a stored absolute path) is, once resolved, a file inside ``root``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); _ = (root / "r.csv").write_text("x")
    >>> inside_root(root, root / "r.csv"), inside_root(root, "/etc/hostname")
    (True, False)
    """
    try:
        base = Path(root).resolve(strict=True)
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return False
    return real.is_relative_to(base) and real != base and real.is_file()


def list_server_files(root) -> list[str]:
    """Receipts-like files under ``root`` (relative POSIX names, sorted), links out of the root left out.

    Hidden files and folders, and the application's own folders (:data:`SKIPPED`)
    at the top, are not listed; folders are not followed through links.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "b").mkdir(), (root / "b" / "s.csv.gz").write_bytes(b""), (root / "a.xlsx").write_bytes(b"")
    >>> _ = (root / "notes.md").write_text(""), (root / "runs").mkdir(), (root / "runs" / "x.csv").write_text("")
    >>> list_server_files(root)
    ['a.xlsx', 'b/s.csv.gz']
    """
    try:
        base = Path(root).resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    out = []
    for folder, dirs, files in os.walk(base, followlinks=False):
        rel = Path(folder).relative_to(base)
        depth = len(rel.parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (depth == 0 and d in SKIPPED)
                         and depth < _MAX_DEPTH)
        for f in sorted(files):
            if f.startswith(".") or not f.lower().endswith(EXTENSIONS):
                continue
            if inside_root(base, Path(folder) / f):
                out.append((rel / f).as_posix())
            if len(out) >= _MAX_FILES:
                return sorted(out)
    return sorted(out)
