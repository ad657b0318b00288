"""Any tabular file -> a frame of raw text cells with the line each row came from.

In: a path to CSV/TSV/TXT (optionally gzip-compressed), XLSX or Parquet, in any
of the encodings real exports use (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16
with a BOM, or what charset-normalizer recognises). Out: :class:`Table` -- the
cells as strings (typed columns are kept as they are for Parquet/XLSX), a
``_line`` column with the 1-based physical line (or sheet row) each record
starts on, and the records that could not be parsed (wrong number of fields).

The file's *content* decides its format (magic bytes); an extension that
claims a different format is an error, because it usually means a broken
export. Nothing here decides what a row means: that is :mod:`recommender.receipts`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommender.errors import InputError, as_path

_TEXT_EXTS = {".csv", ".tsv", ".txt", ".dat", ".tab", ".basket", ".baskets", ".psv"}
_SEPARATORS = (",", ";", "\t", "|")


@dataclass
class Table:
    """Raw cells of a file and where each came from.

    Attributes
    ----------
    frame : DataFrame
        One row per parsed record; columns as in the file plus ``_line``.
    malformed : DataFrame
        Records that could not be parsed: ``_line``, ``text``, ``reason``.
    path : str
        The file.
    kind : str
        ``"csv"``, ``"xlsx"`` or ``"parquet"``.
    encoding, sep : str or None
        What was detected (text files only).
    sha256 : str
        Hash of the file's bytes as stored (for run manifests).
    """

    frame: pd.DataFrame
    malformed: pd.DataFrame
    path: str
    kind: str
    encoding: str | None = None
    sep: str | None = None
    sha256: str = ""
    notes: list = field(default_factory=list)

    @property
    def n_records(self) -> int:
        return len(self.frame) + len(self.malformed)


def _empty_malformed() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"_line": pd.Series([], dtype="int64"), "text": pd.Series([], dtype="str"),
                         "reason": pd.Series([], dtype="str")})


def sniff_kind(head: bytes) -> str:
    """Name the container format from the first bytes of a file.

    >>> sniff_kind(b"\\x1f\\x8b\\x08..."), sniff_kind(b"PK\\x03\\x04"), sniff_kind(b"PAR1"), sniff_kind(b"a,b")
    ('gzip', 'zip', 'parquet', 'text')
    """
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "ole"
    return "text"


def _check_extension(path: Path, kind: str) -> None:
    suffixes = [s.lower() for s in path.suffixes]
    ext = suffixes[-1] if suffixes else ""
    said = {".gz": "gzip", ".gzip": "gzip", ".xlsx": "zip", ".xlsm": "zip", ".parquet": "parquet", ".pq": "parquet",
            ".xls": "ole"}.get(ext, "text" if ext in _TEXT_EXTS else None)
    if said is None or said == kind:
        return
    names = {"gzip": "gzip-compressed", "zip": "an XLSX workbook (zip)", "parquet": "Parquet", "text": "plain text",
             "ole": "an old binary Excel (.xls) file"}
    raise InputError(f"the file is named '{path.name}' but its content is {names[kind]}", path=path,
                     hint="the extension does not match the content: re-export the file or rename it to match")


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_table(path, *, encoding: str | None = None, sep: str | None = None, header: bool = True,
               sheet=0) -> Table:
    """Read a tabular file into raw cells.

    Parameters
    ----------
    path : str or Path
    encoding : str, optional
        Text encoding; detected when None.
    sep : str, optional
        Field separator; sniffed among ``, ; TAB |`` when None.
    header : bool
        Whether the first record names the columns (text files).
    sheet : int or str
        Worksheet of an XLSX file.

    Returns
    -------
    Table

    Raises
    ------
    InputError
        When the file cannot be read as a table at all.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "r.csv")
    >>> _ = open(p, "w", encoding="utf-8").write("id;sku\\n1;007\\n2;A\\n")
    >>> t = read_table(p)
    >>> t.sep, t.frame["sku"].tolist(), t.frame["_line"].tolist()
    (';', ['007', 'A'], [2, 3])
    """
    p = as_path(path)
    with open(p, "rb") as f:
        head = f.read(8)
    if not head:
        raise InputError("the file is empty", path=p, hint="export the receipts again; the file has no bytes")
    kind = sniff_kind(head)
    _check_extension(p, kind)
    if kind == "ole":
        raise InputError("old binary Excel (.xls) files are not supported", path=p, hint="save it as .xlsx or CSV")
    if kind == "parquet":
        table, digest = _read_parquet(p), file_sha256(p)
    elif kind == "zip":
        table, digest = _read_xlsx(p, sheet), file_sha256(p)
    else:
        raw = p.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()  # the file's bytes as stored, read once
        if kind == "gzip":
            raw = _gunzip(raw, p)
            inner = sniff_kind(raw[:8])
            if inner != "text":
                raise InputError(f"the gzip file holds {inner} data, not CSV text", path=p,
                                 hint="only CSV/TXT can be gzip-compressed; give Parquet/XLSX files uncompressed")
        table = read_text_table(raw, p, encoding=encoding, sep=sep, header=header)
    table.sha256 = digest
    return table


def _gunzip(raw: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise InputError("the gzip file is truncated (it ends before the end of the compressed stream)", path=path,
                         hint="copy or download the file again") from None
    except (OSError, zlib.error) as exc:
        raise InputError(f"the gzip file is corrupt ({exc})", path=path, hint="copy or download the file again") from None


def _read_parquet(path: Path) -> Table:
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"cannot read the Parquet file ({exc})", path=path, hint="write the file again") from None
    frame = frame.reset_index(drop=True)
    frame["_line"] = np.arange(1, len(frame) + 1, dtype="int64")
    return Table(frame=frame, malformed=_empty_malformed(), path=str(path), kind="parquet",
                 notes=["_line is the row number in the Parquet file"])


def _read_xlsx(path: Path, sheet) -> Table:
    import pandas as pd

    try:
        frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises zip/xml errors of several types
        raise InputError(f"cannot read the XLSX workbook ({type(exc).__name__}: {exc})", path=path,
                         hint="open it in Excel and save it again as .xlsx, or export CSV") from None
    dupes = [c for c in frame.columns if isinstance(c, str) and "." in c and c.rsplit(".", 1)[0] in frame.columns
             and c.rsplit(".", 1)[1].isdigit()]
    if dupes:
        raise InputError(f"duplicate column name {dupes[0].rsplit('.', 1)[0]!r} in the header", path=path, line=1,
                         hint="give every column a distinct name")
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in frame.columns:
        frame[col] = _cells_as_text(frame[col])
    # Sheet row numbers: the header is row 1, blank rows were dropped by pandas? No: kept as all-NA rows.
    frame["_line"] = np.arange(2, len(frame) + 2, dtype="int64")
    empty = frame.drop(columns="_line").isna().all(axis=1)
    frame = frame[~empty].reset_index(drop=True)
    return Table(frame=frame, malformed=_empty_malformed(), path=str(path), kind="xlsx",
                 notes=["_line is the worksheet row number"])


def _cells_as_text(s: pd.Series) -> pd.Series:
    import pandas as pd

    """Excel cells -> text, keeping real datetimes and integral numbers readable (17850, not 17850.0)."""
    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, pd.Timestamp) or hasattr(v, "isoformat"):
            return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S")
        return str(v)
    return pd.Series([one(v) for v in s], index=s.index, dtype="str")


# ---------------------------------------------------------------- text files

def detect_encoding(raw: bytes, path=None) -> str:
    """Guess the text encoding of ``raw``.

    BOMs win; then strict UTF-8; then charset-normalizer's best guess (GBK and
    GB2312 are widened to GB18030, their superset). Binary data is an error.

    >>> detect_encoding("小票号,商品编码,数量\\n1,牛奶,2\\n2,面包,1\\n".encode("gbk"))
    'gb18030'
    >>> detect_encoding(b"\\xef\\xbb\\xbfa,b")
    'utf-8-sig'
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = raw[:65536]
    if b"\x00" in head:
        # UTF-16 without a BOM shows NULs in every other byte of ASCII text.
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > 0.4 * len(head) / 2 and even < 0.05 * len(head) / 2:
            return "utf-16-le"
        if even > 0.4 * len(head) / 2 and odd < 0.05 * len(head) / 2:
            return "utf-16-be"
        raise InputError("the file is binary, not text (it contains NUL bytes)", path=path,
                         hint="give a CSV, XLSX or Parquet export of the receipts")
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:1_000_000]).best()
    if best is None:
        raise InputError("cannot tell the text encoding (the file may be binary or damaged)", path=path,
                         hint="pass --encoding, e.g. --encoding gb18030 or --encoding latin-1")
    enc = best.encoding.lower().replace("_", "-")
    if enc in {"gb2312", "gbk", "gb18030", "hz"}:
        return "gb18030"
    return enc


def _decode(raw: bytes, encoding: str, path) -> str:
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", path=path, hint="use e.g. utf-8, gb18030, utf-16, latin-1") from None
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"cannot decode byte {raw[exc.start:exc.start + 1]!r} as {encoding}", path=path, line=line,
                         hint="pass the right --encoding (e.g. gb18030 for Chinese Windows exports)") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = sum(1 for ch in text[:65536] if ch < " " and ch not in "\t\r\n")
    if bad > 0.01 * min(len(text), 65536) + 2:
        raise InputError("the file looks binary, not text (many control characters)", path=path,
                         hint="give a CSV, XLSX or Parquet export of the receipts")
    return text


def sniff_separator(sample_lines: list[str], ragged_ok: bool = False) -> str:
    """Pick the field separator that splits the sample most consistently.

    >>> sniff_separator(["a;b;c", "1;2,5;3"])
    ';'
    >>> sniff_separator(["a\\tb", "1\\t2"])
    '\\t'
    """
    best, best_score = ",", (-1.0, 0.0)
    for sep in _SEPARATORS:
        counts = [len(row) for row in csv.reader(sample_lines, delimiter=sep)]
        counts = [c for c in counts if c > 0]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2 and not ragged_ok:
            continue
        share = sum(c > 1 for c in counts) / len(counts) if ragged_ok else counts.count(mode) / len(counts)
        score = (share, float(mode))
        if score > best_score:
            best, best_score = sep, score
    return best


def read_text_table(raw: bytes, path, *, encoding=None, sep=None, header=True) -> Table:
    """Parse delimited text (already decompressed) into raw string cells; see :func:`read_table`."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    enc = encoding or detect_encoding(raw, path)
    text = _decode(raw, enc, path)
    if not text.strip():
        raise InputError("the file is empty (no text)", path=path, hint="export the receipts again")
    # Sniff on the head only: splitting a whole large file into lines costs more than parsing it.
    head = text[:65536].splitlines()
    sample = [ln for ln in (head[:-1] if len(head) > 1 and len(text) > 65536 else head)[:200] if ln.strip()]
    sep = sep or sniff_separator(sample)
    data = raw if enc in ("utf-8", "utf-8-sig") else text.encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]

    # The header from the text itself, not from the head sample: a wide header can be longer than the sample.
    first = next(csv.reader([_first_line(text)], delimiter=sep))
    if header:
        names = [c.strip() for c in first]
        names = [n if n else f"column_{i + 1}" for i, n in enumerate(names)]
        seen = {}
        for i, n in enumerate(names):
            if n in seen:
                raise InputError(f"duplicate column name {n!r} (columns {seen[n] + 1} and {i + 1})", path=path, line=1,
                                 hint="give every column a distinct name")
            seen[n] = i
    else:
        names = [f"column_{i + 1}" for i in range(len(first))]

    bad: list[tuple] = []

    def on_invalid(row):
        bad.append((row.number, row.text, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    try:
        tab = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0, use_threads=False,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"cannot parse the file as delimited text ({exc})", path=path,
                         hint="check the separator (--sep) and quoting") from None
    frame = tab.to_pandas()
    for col in frame.columns:
        frame[col] = frame[col].astype("str")
    starts = record_start_lines(data)
    offset = 1 if header else 0
    # pyarrow numbers records 1.. over non-empty records, counting the skipped header as record 1 when present.
    expected = len(frame) + len(bad) + offset
    if len(starts) == expected and all(b[0] is not None for b in bad):
        bad_numbers = np.array([b[0] for b in bad], dtype="int64")
        is_good = np.ones(expected + 1, dtype=bool)
        is_good[: offset + 1] = False
        is_good[bad_numbers] = False
        good = np.flatnonzero(is_good)
        frame["_line"] = starts[good - 1]
        bad_lines = starts[bad_numbers - 1] if len(bad) else np.array([], dtype="int64")
    else:  # quotes that do not pair up the simple way: count lines with the csv module instead
        frame["_line"], bad_lines = _lines_by_csv_module(text, sep, header, len(frame), bad)
    malformed = pd.DataFrame({"_line": np.asarray(bad_lines, dtype="int64"), "text": [b[1] for b in bad],
                              "reason": [b[2] for b in bad]})
    return Table(frame=frame, malformed=malformed, path=str(path), kind="csv", encoding=enc, sep=sep)


def _first_line(text: str) -> str:
    """The first non-blank line of ``text`` (whole, however long).

    >>> _first_line("\\n  \\r\\na,b\\r\\n1,2")
    'a,b'
    """
    start = 0
    while True:
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        if line.strip() or end < 0:
            return line.rstrip("\r")
        start = end + 1


def record_start_lines(data: bytes) -> np.ndarray:
    """1-based physical line where each non-empty CSV record starts.

    A newline ends a record only outside quotes, i.e. when an even number of
    quote characters precedes it (doubled quotes inside a field keep the
    parity). Empty lines are not records, as in the parser.

    >>> record_start_lines(b'a,b\\n1,"x\\ny"\\n\\n2,3\\n').tolist()
    [1, 2, 5]
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    if 34 in arr:
        quotes = np.flatnonzero(arr == 34)
        ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    else:
        ends = newlines
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(arr)]))
    length = stops - starts
    # A record holding only "\r" (CRLF blank line) is empty too.
    cr_only = (length == 1) & (arr[np.minimum(starts, len(arr) - 1)] == 13) if len(arr) else np.zeros(0, bool)
    keep = (length > 0) & ~cr_only
    return (np.searchsorted(newlines, starts[keep]) + 1).astype("int64")


def _lines_by_csv_module(text: str, sep: str, header: bool, n_good: int, bad: list):
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    starts, prev = [], 0
    for row in reader:
        if row:
            starts.append(prev + 1)
        prev = reader.line_num
    starts = np.asarray(starts[1:] if header else starts, dtype="int64")
    bad_set = {b[0] for b in bad}
    # pyarrow record numbers include the header when there is one.
    offset = 1 if header else 0
    good_idx = [i for i in range(len(starts)) if (i + 1 + offset) not in bad_set][:n_good]
    bad_idx = [n - 1 - offset for n in sorted(bad_set) if n is not None]
    good = starts[good_idx] if len(good_idx) == n_good else np.arange(2, n_good + 2)
    bad_lines = starts[bad_idx] if bad_idx else np.array([], dtype="int64")
    return good, bad_lines
