"""Bounded memory on any input: measure a file as it will be read, decide how to read it, or say no in time.

In: a path and a memory budget (``--max-memory`` MB; the dashboard's setting;
``RECOMMENDER_MAX_MEMORY_MB``; default :data:`DEFAULT_MAX_MEMORY_MB`). Out: a
:class:`ReadPlan` -- what the file expands to, its physical lines, the memory
the whole-file reading would need, and whether to read it whole or stream it
in chunks of ``chunk_rows`` records -- or an :class:`InputError` (exit 2)
naming the file, what is wrong and what to do, raised before any large
allocation.

How a file is measured, without holding it:

- text (plain or gzip): streamed in 1 MiB blocks; the gzip stream is
  decompressed block by block, so a small ``.gz`` that expands to gigabytes is
  counted, never held. Each physical line's length is checked on the way: a
  line longer than :data:`MAX_LINE_BYTES` (1 MiB) is a ``malformed line`` and
  stops the read at once with its number (no receipt line is a megabyte long;
  such a line is a missing line break, a binary blob or a decompression bomb);
  a header of more than :data:`MAX_COLUMNS` (2,000) columns is refused too;
- XLSX: the sizes its zip directory declares for the sheets (an XLSX bomb is
  refused before it is opened);
- Parquet: the uncompressed size in its footer.

The estimate is deliberately generous (:func:`estimate_whole_mb`, calibrated on
the Online Retail file: 45 MB, 541,909 lines, 8 columns -> 533 MB peak, estimated
777 MB). A file that does not fit whole is streamed (UTF-8 CSV/TSV and
Parquet in long format) with chunks sized to the budget; if even the cleaned
lines would not fit, or the file cannot be streamed, the error says so and
what to do (raise ``--max-memory``, keep fewer rows with ``--since`` /
``--stores``, convert to UTF-8 CSV or Parquet).
"""

from __future__ import annotations

import csv
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommender.errors import InputError

#: Longest physical line accepted in a text file, in bytes (1 MiB).
MAX_LINE_BYTES = 1 << 20
#: Most columns a receipts file may have (an export with more is not a receipts export; checking for duplicate
#: lines and keeping every rejected row's fields cost time and memory per column).
MAX_COLUMNS = 2000
#: Default memory budget for reading one input, in MB (``--max-memory``, ``RECOMMENDER_MAX_MEMORY_MB``).
DEFAULT_MAX_MEMORY_MB = 2048
#: What the interpreter and the libraries take before a byte is read, in MB.
BASE_MB = 250
#: Memory per cell (one field of one line) while a text table is parsed and cleaned whole, in bytes.
CELL_BYTES = 80
#: Memory per cleaned line kept in the result (lines table and its indexes), in bytes.
LINE_BYTES = 200
_BLOCK = 1 << 20

# The standard csv module refuses fields over 128 KiB with an error of its own; lines up to the limit are ours
# to judge.
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES + 1))


def max_memory_mb(value=None) -> float:
    """The budget in MB: ``value`` if given, else ``RECOMMENDER_MAX_MEMORY_MB``, else the default.

    >>> max_memory_mb(512), max_memory_mb(None) > 0
    (512.0, True)
    """
    if value is None:
        value = os.environ.get("RECOMMENDER_MAX_MEMORY_MB") or DEFAULT_MAX_MEMORY_MB
    try:
        mb = float(value)
    except (TypeError, ValueError):
        raise InputError(f"--max-memory must be a number of MB, not {value!r}") from None
    if mb < BASE_MB:
        raise InputError(f"--max-memory {mb:g} MB is below the {BASE_MB} MB the program itself needs",
                         hint=f"give at least {BASE_MB}")
    return mb


@dataclass(frozen=True)
class ReadPlan:
    """How one input will be read.

    Attributes
    ----------
    kind : str
        ``text``, ``gzip``, ``xlsx``, ``parquet`` or ``other``.
    bytes_expanded : int
        Bytes the content expands to (decompressed), as measured or declared.
    lines : int
        Physical lines (text) or rows (Parquet); 0 when unknown.
    columns : int
        Fields in the first line (text) or schema columns (Parquet); 0 when unknown.
    whole_mb : float
        Estimated peak memory of reading the file whole.
    budget_mb : float
    stream : bool
        Read in chunks of ``chunk_rows`` records instead of whole.
    chunk_rows : int
    """

    kind: str
    bytes_expanded: int
    lines: int
    columns: int
    whole_mb: float
    budget_mb: float
    stream: bool = False
    chunk_rows: int = 0


def _too_long(path, line: int, length: int) -> InputError:
    return InputError(f"malformed line: line {line:,} is longer than {MAX_LINE_BYTES // (1 << 20)} MiB "
                      f"({length:,} bytes so far), the limit for one line", path=path, line=line,
                      hint="no receipt line is this long: the export is missing line breaks or is not text; "
                           "export the receipts again")


def scan_text(path, compressed: bool = False) -> tuple:
    """Stream a text file (gzip-decompressed on the fly): ``(bytes, lines, columns, longest_line)``.

    Raises :class:`InputError` (``malformed line``) at the first physical line longer
    than :data:`MAX_LINE_BYTES`, having held at most one block of it.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "w").write("a,b,c\\n1,2,3\\n4,5,6")
    >>> scan_text(p)
    (17, 3, 3, 5)
    """
    path = Path(path)
    opener = gzip.open if compressed else open
    total = lines = longest = 0
    current = 0  # length of the line in progress
    first = b""
    try:
        with opener(path, "rb") as f:
            while True:
                block = f.read(_BLOCK)
                if not block:
                    break
                if lines == 0 and len(first) <= MAX_LINE_BYTES:
                    first += block[: MAX_LINE_BYTES + 1 - len(first)]
                arr = np.frombuffer(block, dtype=np.uint8)
                ends = np.flatnonzero(arr == 10)
                if len(ends):
                    lengths = np.diff(ends, prepend=-1)
                    lengths[0] += current
                    worst = int(np.argmax(lengths))
                    if lengths[worst] - 1 > MAX_LINE_BYTES:
                        raise _too_long(path, lines + worst + 1, int(lengths[worst]) - 1)
                    longest = max(longest, int(lengths.max()) - 1)
                    lines += len(ends)
                    current = len(block) - 1 - int(ends[-1])
                else:
                    current += len(block)
                if current > MAX_LINE_BYTES:
                    raise _too_long(path, lines + 1, current)
                total += len(block)
    except (OSError, EOFError, zlib.error):
        return total, lines, 0, longest  # a corrupt or truncated stream: the reader names it precisely
    if current:
        lines += 1
        longest = max(longest, current)
    head = first.split(b"\n", 1)[0]
    columns = max(head.count(sep) for sep in (b",", b";", b"\t", b"|")) + 1 if head else 0
    return total, lines, columns, longest


def _xlsx_expanded(path) -> int:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError):
        return 0  # the reader names it


def _parquet_shape(path) -> tuple:
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return int(size), int(meta.num_rows), int(meta.num_columns)
    except Exception:  # noqa: BLE001 - pyarrow raises several types; the reader names the problem
        return 0, 0, 0


def estimate_whole_mb(bytes_expanded: int, lines: int, columns: int) -> float:
    """Peak MB of reading and cleaning a file whole (generous; see the module docstring).

    >>> round(estimate_whole_mb(45_000_000, 541_909, 8))
    777
    """
    return BASE_MB + (4 * bytes_expanded + CELL_BYTES * lines * max(columns, 1)) / 1e6


def plan_read(path, max_memory=None) -> ReadPlan:
    """Measure ``path`` and decide how to read it within ``max_memory`` MB; raise InputError if it cannot be.

    Parameters
    ----------
    path : str or Path
    max_memory : float, optional
        The budget in MB (see :func:`max_memory_mb`).

    Returns
    -------
    ReadPlan
        ``stream`` is True when the file must be streamed; a caller that cannot
        stream it raises :func:`cannot_stream`.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "w").write("receipt,sku\\n1,A\\n")
    >>> plan = plan_read(p, 1024)
    >>> plan.kind, plan.lines, plan.columns, plan.stream
    ('text', 2, 2, False)
    """
    from recommender.readers import sniff_kind

    path = Path(path)
    budget = max_memory_mb(max_memory)
    with open(path, "rb") as f:
        head = f.read(8)
    kind = {"gzip": "gzip", "zip": "xlsx", "parquet": "parquet", "text": "text"}.get(sniff_kind(head), "other")
    lines = columns = 0
    if kind in ("text", "gzip"):
        size, lines, columns, _ = scan_text(path, compressed=kind == "gzip")
    elif kind == "xlsx":
        size = _xlsx_expanded(path)
        columns = 8
        lines = size // 40  # a sheet's XML spends ~40 bytes per cell at the least
    elif kind == "parquet":
        size, lines, columns = _parquet_shape(path)
    else:
        size = path.stat().st_size
    if columns > MAX_COLUMNS:
        raise InputError(f"the file has {columns:,} columns; a receipts file may have at most {MAX_COLUMNS:,}",
                         path=path, line=1, hint="export only the receipt columns (receipt, item, quantity, price, "
                                                 "date, store, customer ...)")
    whole = estimate_whole_mb(size, lines, columns)
    if whole <= budget:
        return ReadPlan(kind, size, lines, columns, whole, budget)
    if kind == "xlsx":  # openpyxl holds the whole workbook: nothing to stream
        raise cannot_stream(ReadPlan(kind, size, lines, columns, whole, budget), path)
    result_mb = BASE_MB + LINE_BYTES * lines / 1e6
    # Half of what is left after the result is for the chunk being cleaned.
    room = budget - result_mb
    chunk_rows = int(room / 2 * 1e6 / (CELL_BYTES * max(columns, 1) * 4)) if room > 0 else 0
    if chunk_rows < 1000:
        raise InputError(f"too big to read within --max-memory {budget:,.0f} MB{_SETTING}: {_what(size, lines)}; even "
                         f"streamed, the cleaned lines need about {result_mb:,.0f} MB", path=path,
                         hint=f"raise --max-memory to {max(result_mb * 1.5, budget * 2):,.0f}, or keep fewer rows "
                              "(--since/--until, --stores), or split the file")
    return ReadPlan(kind, size, lines, columns, whole, budget, stream=True, chunk_rows=min(chunk_rows, 2_000_000))


#: Where the budget is set, for the message (the dashboard has no flags).
_SETTING = " (the dashboard's setting: RECOMMENDER_MAX_MEMORY_MB)"


def _what(size: int, lines: int) -> str:
    return f"it expands to {size / 1e6:,.0f} MB" + (f" in {lines:,} lines" if lines else "")


def cannot_stream(plan: ReadPlan, path) -> InputError:
    """The error for a file too big to read whole that this reader cannot stream."""
    return InputError(f"too big to read within --max-memory {plan.budget_mb:,.0f} MB{_SETTING}: "
                      f"{_what(plan.bytes_expanded, plan.lines)}, which needs about {plan.whole_mb:,.0f} MB read "
                      "whole, and this kind of file is only read whole", path=path,
                      hint="convert it to UTF-8 CSV or Parquet in long format (one row per receipt line), "
                           f"or raise --max-memory to {plan.whole_mb * 1.1:,.0f}")
