"""The one exception users see: bad input, described so that they can fix it.

Everything that reads a user's file raises :class:`InputError` when the file
as a whole cannot be used (missing, empty, unreadable, wrong format). Rows
that are merely dirty are never errors: they are rejected with a reason and
counted (see :mod:`recommender.receipts`).
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A user's input cannot be used as it is.

    Parameters
    ----------
    message : str
        What is wrong, in the user's words.
    path : str or Path, optional
        The file concerned.
    line : int, optional
        1-based physical line in the file.
    column : str, optional
        Column name (or 1-based position) concerned.
    hint : str, optional
        What to do about it.

    Examples
    --------
    >>> str(InputError("no rows", path="x.csv", line=1, hint="export again"))
    'x.csv:1: no rows (export again)'
    """

    def __init__(self, message, path=None, line=None, column=None, hint=None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            if self.column is not None:
                where += f": column {self.column!r}"
            where += ": "
        text = where + self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


def as_path(path) -> Path:
    """Return ``path`` as a :class:`Path` that exists and is a regular file.

    >>> as_path("/nonexistent/file.csv")
    Traceback (most recent call last):
    ...
    recommender.errors.InputError: /nonexistent/file.csv: file not found (check the path and spelling)
    """
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", path=p, hint="check the path and spelling")
    if p.is_dir():
        raise InputError("is a directory, not a file", path=p, hint="give the path of a receipts file inside it")
    if not p.is_file():
        raise InputError("is not a regular file", path=p)
    return p
