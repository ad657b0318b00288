"""Files meant for a spreadsheet: every text cell made safe to open, one function for every writer.

In: a DataFrame (or one value). Out: the same data with every text cell, and
every column name, that a spreadsheet would read as a formula prefixed with an
apostrophe (``'``), and the UTF-8-with-BOM CSV bytes Excel opens with Chinese
text intact. A cell is dangerous when it starts with ``= + - @``, a tab, a
carriage return or a line feed (OWASP "CSV injection"). Numbers are left as
numbers.

Used by: the rejects file (``validate --rejects`` and the dashboard download),
``tickets --out``, ``compare --out`` and every bundle export (CSV, XLSX, till
file, dashboard downloads). Files meant for programs (a run folder's
``rules.csv``, ``itemsets.csv``, ``bundles.csv`` ...) keep their values exactly
and do not pass through here.
"""

from __future__ import annotations

import pandas as pd

#: First characters that make a spreadsheet evaluate a cell.
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(value):
    """Make one cell safe to open in a spreadsheet (numbers and safe text pass unchanged).

    >>> neutralise('=HYPERLINK("http://x","y")'), neutralise("-5"), neutralise(-5.0), neutralise("tea")
    ('\\'=HYPERLINK("http://x","y")', "'-5", -5.0, 'tea')
    >>> neutralise("@SUM(1+1)"), neutralise("\\tx"), neutralise("\\rx")
    ("'@SUM(1+1)", "'\\tx", "'\\rx")
    """
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name passed through :func:`neutralise`.

    >>> safe_frame(pd.DataFrame({"=a": ["+1", "ok"], "n": [-1, 2]})).to_dict("list")
    {"'=a": ["'+1", 'ok'], 'n': [-1, 2]}
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out


#: Rows end with CRLF (RFC 4180, what Excel writes), so that a CR inside a cell is quoted like a LF.
LINE_END = "\r\n"


def csv_bytes(frame: pd.DataFrame, **to_csv) -> bytes:
    """The spreadsheet-safe CSV of ``frame`` as UTF-8 with a BOM (what Excel needs for Chinese text).

    >>> csv_bytes(pd.DataFrame({"name": ["=1+1", "a\\rb"]})).decode("utf-8-sig")
    'name\\r\\n\\'=1+1\\r\\n"a\\rb"\\r\\n'
    """
    return safe_frame(frame).to_csv(index=False, lineterminator=LINE_END, **to_csv).encode("utf-8-sig")
