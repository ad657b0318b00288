"""Large receipt exports -> the same :class:`~recommender.receipts.Receipts`, in bounded memory.

In: a long-format receipts file (CSV/TSV, optionally gzip-compressed, in UTF-8;
or Parquet) and :class:`~recommender.receipts.LoadOptions`. Out: exactly what
:func:`recommender.receipts.load_receipts` returns for that file -- the same
clean lines, rejects and accounting -- but the raw text is never held whole:
it is streamed (``pyarrow.csv.open_csv`` / ``ParquetFile.iter_batches``) and
cleaned ``chunk_rows`` records at a time by the very same cleaning code
(``receipts._clean``). Only the compact clean lines (Arrow-backed strings,
floats) and the rejected rows accumulate.

The few policies that need the whole file are made exact afterwards:

* settings the loader infers from the data (decimal mark, day-first dates) are
  decided first over the whole file, by a light pass over just those columns;
* matching cancellations to earlier sales, exact duplicate lines and oversized
  baskets are applied in a final pass over the clean lines plus the rejected
  rows (re-parsed from their raw cells), in the order and with the precedence
  of :data:`recommender.receipts.REASONS`. Duplicate rows are recognised by
  two independent 64-bit hashes of their raw cells (a false match has odds of
  about 1e-19 per pair).

Inputs this module does not stream (XLSX, basket-per-line files, encodings
other than UTF-8, unusual headers) are handed to ``load_receipts`` unchanged:
the result is the same either way.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from recommender.errors import InputError, as_path
from recommender.readers import _check_extension, _empty_malformed, file_sha256, sniff_kind, sniff_separator
from recommender.receipts import (LoadOptions, Receipts, _account, _clean, _column, _guess_format, _SLASHED, _text,
                                  check_rejected_share,
                                  detect_decimal, load_receipts, parse_numbers, parse_timestamps, resolve_columns)

__all__ = ["load_receipts_chunked"]

_HEAD = 1 << 20
_DECIMAL_SAMPLE = 5000  # what receipts.detect_decimal looks at
_LATE = ("non-positive quantity", "negative price", "zero price", "non-product code", "outside date range",
         "outside stores")  # reasons checked after "cancelled sale": a matched sale takes that reason instead


class _Fallback(Exception):
    """The file is not one this module streams; load it whole."""


def load_receipts_chunked(path, options: LoadOptions | None = None, chunk_rows: int = 2_000_000,
                          progress=None) -> Receipts:
    """Read and clean a large receipts file in chunks; same result as ``load_receipts``.

    Parameters
    ----------
    path : str or Path
        CSV/TSV (plain or .gz, UTF-8) or Parquet; other inputs are loaded whole.
    options : LoadOptions, optional
    chunk_rows : int
        Records cleaned at a time (memory grows with it, about 1 KB per record).
    progress : callable, optional
        ``progress(done, total, message)``; ``done`` and ``total`` are bytes or rows read.

    Returns
    -------
    Receipts

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "w").write("InvoiceNo,StockCode,Quantity\\n1,A,2\\n1,B,-1\\nC2,A,-2\\n2,A,2\\n1,A,2\\n")
    >>> r = load_receipts_chunked(p, chunk_rows=2)
    >>> r.lines["sku"].tolist(), r.accounting.rows_rejected
    (['A', 'A', 'A'], {'cancellation': 1, 'non-positive quantity': 1})
    >>> sorted(r.accounting.warnings.values())  # one cancelled sale kept, one exact duplicate kept
    [1, 1]
    """
    opts = options or LoadOptions()
    if int(chunk_rows) < 1:
        raise ValueError(f"chunk_rows must be >= 1, not {chunk_rows}")
    p = as_path(path)
    try:
        source = _open_source(p, opts)
    except (_Fallback, InputError):
        return load_receipts(p, opts, progress=progress, _whole=True)  # never back here
    say = progress or (lambda done, total, message: None)
    try:
        return _load(source, opts, int(chunk_rows), say)
    except _Fallback:
        return load_receipts(p, opts, progress=progress, _whole=True)  # never back here


# ------------------------------------------------------------------ sources

@dataclasses.dataclass
class _Source:
    path: Path
    kind: str            # "csv" or "parquet"
    names: list
    cols: dict
    compression: str | None = None
    encoding: str | None = None
    sep: str | None = None
    size: int = 0
    bom: bool = False

    def batches(self, chunk_rows: int, malformed: list | None = None, columns: list | None = None):
        """Yield raw frames of at most ``chunk_rows`` records, with ``_line`` as load_receipts numbers them.

        With ``columns``, only those columns are read and there is no ``_line``.
        """
        if self.kind == "parquet":
            yield from self._parquet(chunk_rows, columns)
        elif columns is not None:
            yield from self._csv_columns(chunk_rows, columns)
        else:
            yield from self._csv(chunk_rows, malformed)

    def _parquet(self, chunk_rows, columns=None):
        import pyarrow.parquet as pq

        start = 1
        try:
            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=chunk_rows, columns=columns):
                frame = batch.to_pandas()
                frame.index = pd.RangeIndex(len(frame))
                frame["_line"] = np.arange(start, start + len(frame), dtype="int64")
                start += len(frame)
                yield frame
        except Exception as exc:  # corrupt files: load_receipts gives the proper error
            raise _Fallback(str(exc)) from None

    def _reader(self, on_invalid, columns=None):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        stream = pa.input_stream(str(self.path), compression=self.compression)
        if self.bom:
            stream.read(3)
        convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in self.names}, strings_can_be_null=False,
                                       quoted_strings_can_be_null=False, include_columns=columns)
        return pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=self.names, skip_rows=1, use_threads=False,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=self.sep, newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=convert)

    def _csv_columns(self, chunk_rows, columns):
        import pyarrow as pa

        try:
            for batch in self._reader(lambda row: "skip", columns):
                for start in range(0, batch.num_rows, chunk_rows):
                    frame = batch.slice(start, chunk_rows).to_pandas()
                    for col in frame.columns:
                        frame[col] = frame[col].astype("str")
                    yield frame
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _Fallback(str(exc)) from None

    def _csv(self, chunk_rows, malformed):
        import pyarrow as pa

        bad: list = []

        def on_invalid(row):
            bad.append((row.number, row.text, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
            return "skip"

        reader = self._reader(on_invalid)
        starts = _RecordStarts(self.path, self.compression, skip=3 if self.bom else 0)
        record = 1  # the header is record 1, as pyarrow numbers them
        used_bad = 0
        pending: list = []
        n_pending = 0
        try:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                pending.append(pa.Table.from_batches([batch]))
                n_pending += batch.num_rows
                while n_pending >= chunk_rows:
                    table = pa.concat_tables(pending)
                    head, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
                    pending, n_pending = ([rest] if rest.num_rows else []), rest.num_rows
                    frame, record, used_bad = self._frame(head, starts, record, bad, used_bad)
                    yield frame
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _Fallback(str(exc)) from None
        if n_pending:
            frame, record, used_bad = self._frame(pa.concat_tables(pending), starts, record, bad, used_bad)
            yield frame
        if any(b[0] is None for b in bad):
            raise _Fallback("unnumbered invalid rows")
        total = starts.finish()
        if total != record + (len(bad) - used_bad):
            raise _Fallback("quotes that do not pair up the simple way")
        if malformed is not None:
            numbers = np.array([b[0] for b in bad], dtype="int64")
            malformed.append(pd.DataFrame({"_line": starts.lines_of(numbers) if len(bad) else np.zeros(0, "int64"),
                                           "text": [b[1] for b in bad], "reason": [b[2] for b in bad]}))

    def _frame(self, table, starts, record, bad, used_bad):
        import pyarrow as pa

        frame = table.to_pandas() if isinstance(table, pa.Table) else table
        for col in frame.columns:
            frame[col] = frame[col].astype("str")
        n = len(frame)
        # Record numbers of these rows: the next n that are not invalid rows.
        bad_numbers = np.sort(np.array([b[0] for b in bad[used_bad:]], dtype="int64")) if len(bad) > used_bad else ()
        numbers = np.empty(n, dtype="int64")
        filled, nxt, k = 0, record + 1, 0
        while filled < n:
            while k < len(bad_numbers) and bad_numbers[k] < nxt:
                k += 1
            stop = bad_numbers[k] if k < len(bad_numbers) else nxt + (n - filled)
            take = min(n - filled, stop - nxt)
            numbers[filled:filled + take] = np.arange(nxt, nxt + take)
            filled += take
            nxt += take
            if filled < n:
                nxt += 1  # skip the invalid record
                k += 1
        skipped = int(np.sum(np.asarray(bad_numbers) < nxt)) if len(bad_numbers) else 0
        frame["_line"] = starts.lines_of(numbers)
        return frame, int(numbers[-1]), used_bad + skipped


class _RecordStarts:
    """Physical start line of every CSV record, found by streaming the bytes.

    The streaming twin of :func:`recommender.readers.record_start_lines`: a
    newline ends a record when an even number of quotes precedes it; empty
    records (and lone ``\\r``) are not records. Records are numbered 1.. as
    pyarrow numbers them.
    """

    def __init__(self, path, compression, skip=0):
        self.f = gzip.open(path, "rb") if compression == "gzip" else open(path, "rb")
        self.f.read(skip)
        self.lines = np.zeros(0, dtype="int64")  # start lines of records [base+1, base+len]
        self.base = 0
        self.parity = 0
        self.newlines = 0        # newlines before the current block
        self.pending_start = 0   # global offset where the open record starts
        self.pending_line = 1
        self.offset = 0
        self.last_byte = -1
        self.done = False

    def _more(self) -> bool:
        block = self.f.read(1 << 24)
        if not block:
            if not self.done:
                self.done = True
                length = self.offset - self.pending_start
                if length > 0 and not (length == 1 and self.last_byte == 13):
                    self.lines = np.append(self.lines, self.pending_line)
            return False
        arr = np.frombuffer(block, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        quotes = np.flatnonzero(arr == 34)
        even = ((np.searchsorted(quotes, nl) + self.parity) % 2) == 0
        ends = nl[even]
        ends_global = ends + self.offset
        starts = np.concatenate(([self.pending_start], ends_global[:-1] + 1))[:len(ends)]
        lengths = ends_global - starts
        first = np.where(starts >= self.offset, arr[np.clip(starts - self.offset, 0, len(arr) - 1)], self.last_byte)
        # length-1 records are the byte just before the newline
        keep = (lengths > 0) & ~((lengths == 1) & (first == 13))
        lines_before = self.newlines + np.searchsorted(nl, np.clip(starts - self.offset, 0, None))
        start_lines = np.concatenate(([self.pending_line], lines_before[1:] + 1))[:len(ends)]
        self.lines = np.concatenate((self.lines, start_lines[keep]))
        if len(ends):
            self.pending_start = int(ends_global[-1]) + 1
            self.pending_line = self.newlines + int(np.searchsorted(nl, ends[-1])) + 2
        self.parity = (self.parity + len(quotes)) % 2
        self.newlines += len(nl)
        self.offset += len(arr)
        self.last_byte = int(arr[-1])
        return True

    def lines_of(self, numbers: np.ndarray) -> np.ndarray:
        numbers = np.asarray(numbers, dtype="int64")
        while self.base + len(self.lines) < numbers.max() and self._more():
            pass
        if self.base + len(self.lines) < numbers.max():
            raise _Fallback("record count mismatch")
        return self.lines[numbers - 1 - self.base]

    def finish(self) -> int:
        while self._more():
            pass
        self.f.close()
        return self.base + len(self.lines)


def _open_source(p: Path, opts: LoadOptions) -> _Source:
    with open(p, "rb") as f:
        head = f.read(8)
    if not head:
        raise _Fallback("empty")
    kind = sniff_kind(head)
    _check_extension(p, kind)
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            names = [str(n) for n in pq.ParquetFile(p).schema_arrow.names]
        except Exception:
            raise _Fallback("unreadable parquet") from None
        return _Source(p, "parquet", names, _columns(names, opts, p), size=p.stat().st_size)
    if kind not in ("text", "gzip"):
        raise _Fallback(kind)
    fmt = opts.format if opts.format != "auto" else _guess_format(p, opts)
    if fmt != "lines":
        raise _Fallback("baskets")
    opener = gzip.open if kind == "gzip" else open
    try:
        with opener(p, "rb") as f:
            raw = f.read(_HEAD + 1)
            whole = len(raw) <= _HEAD
            raw = raw[:_HEAD]
    except (OSError, EOFError):
        raise _Fallback("bad gzip") from None
    enc = _utf8(raw, opts)
    text = raw.decode("utf-8", errors="ignore").lstrip("\ufeff")
    if not text.strip() or sum(1 for ch in text[:65536] if ch < " " and ch not in "\t\r\n") > 0.01 * min(len(text), 65536) + 2:
        raise _Fallback("not plain text")
    lines = text.splitlines()
    if not whole:
        lines = lines[:-1]  # maybe cut
    sample = [ln for ln in lines[:200] if ln.strip()]
    if not sample or (not whole and len(sample) < 200 and len(lines) < 201):
        raise _Fallback("long lines")
    sep = opts.sep or sniff_separator(sample)
    import csv

    first = next(csv.reader([sample[0]], delimiter=sep))
    names = [c.strip() for c in first]
    names = [n if n else f"column_{i + 1}" for i, n in enumerate(names)]
    if len(set(names)) != len(names):
        raise _Fallback("header")
    return _Source(p, "csv", names, _columns(names, opts, p), compression="gzip" if kind == "gzip" else None,
                   encoding=enc, sep=sep, size=p.stat().st_size, bom=raw.startswith(b"\xef\xbb\xbf"))


def _utf8(raw: bytes, opts: LoadOptions) -> str:
    if opts.encoding and opts.encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-8-sig"):
        raise _Fallback("encoding")
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:65536]:
        raise _Fallback("utf-16 or binary")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(raw) - 4:
            raise _Fallback("not utf-8") from None
    return opts.encoding or "utf-8"


def _columns(names: list, opts: LoadOptions, p: Path) -> dict:
    cols = resolve_columns(names, opts.mapping, path=p)
    if "receipt_id" not in cols or "sku" not in cols:
        raise _Fallback("no receipt or sku column")  # load_receipts raises the helpful error
    if "timestamp" not in cols and len(cols["receipt_id"]) > 1:
        raise _Fallback("timestamp maybe in the key")  # load_receipts looks at the values (timestamp_from_key)
    return cols


# ------------------------------------------------------------------ loading

def _decide(source: _Source, opts: LoadOptions, chunk_rows: int) -> LoadOptions:
    """Fix the whole-file inferences (decimal mark, day-first dates) before cleaning any chunk."""
    cols = source.cols
    number_cols = [f for f in ("quantity", "unit_price", "line_amount") if f in cols]
    need_decimal = opts.decimal == "auto" and source.kind == "csv"
    need_dayfirst = "timestamp" in cols and opts.dayfirst is None and not opts.date_format
    if not need_decimal and not need_dayfirst:
        return dataclasses.replace(opts, decimal="." if opts.decimal == "auto" else opts.decimal)
    samples = {f: [] for f in number_cols}
    have = {f: 0 for f in number_cols}
    flags = np.zeros(3, dtype=bool)  # any a/b/yyyy date, any first part > 12, any second part > 12
    wanted = sorted({c for f in number_cols for c in cols[f][:1]} | set(cols.get("timestamp", [])))
    for frame in source.batches(chunk_rows, columns=wanted):
        if need_decimal:
            for f in number_cols:
                if have[f] >= _DECIMAL_SAMPLE:
                    continue
                s = frame[cols[f][0]].dropna().astype("str")
                s = s[s.str.contains(r"[.,]", regex=True)].head(_DECIMAL_SAMPLE - have[f])
                samples[f].append(s)
                have[f] += len(s)
        if need_dayfirst:
            values = _column(frame, cols, "timestamp")
            if not pd.api.types.is_datetime64_any_dtype(values.dtype):
                u = pd.Series(pd.unique(values.astype("str").where(values.notna(), None).dropna()), dtype="str").str.strip()
                m = u.str.extract(_SLASHED)
                if len(m) and m.notna().all(axis=1).any():
                    flags[0] = True
                    flags[1] |= bool((m[0].astype("float") > 12).any())
                    flags[2] |= bool((m[1].astype("float") > 12).any())
        if not need_dayfirst and all(have[f] >= _DECIMAL_SAMPLE for f in number_cols):
            break
    changes = {}
    if need_decimal:
        parts = [s for f in number_cols for s in samples[f]]
        sample = pd.concat(parts) if parts else pd.Series([], dtype="str")
        changes["decimal"] = detect_decimal(sample, source.sep)
    elif opts.decimal == "auto":
        changes["decimal"] = "."
    if need_dayfirst and flags[0]:
        if flags[1] and not flags[2]:
            changes["dayfirst"] = True
        elif flags[2]:
            changes["dayfirst"] = False
        # else ambiguous everywhere: each chunk says so itself (and parses month first)
    return dataclasses.replace(opts, **changes)


def _hashes(frame: pd.DataFrame, original: list) -> np.ndarray:
    raw = frame[original]
    a = pd.util.hash_pandas_object(raw, index=False, hash_key="recommender:dup1").to_numpy()
    b = pd.util.hash_pandas_object(raw, index=False, hash_key="recommender:dup2").to_numpy()
    return np.stack([a, b], axis=1)


def _load(source: _Source, opts: LoadOptions, chunk_rows: int, say) -> Receipts:
    say(0, 4, f"reading {source.path.name}")
    fixed = _decide(source, opts, chunk_rows)
    decimal = fixed.decimal
    # Per chunk, no cancel prefix: the chunk's own cancellation matching would be thrown away (it is
    # redone over the whole file) and costs a merge; cancelling lines then fall to the next reason that
    # applies to them, "non-positive quantity", and are relabelled below.
    chunk_opts = dataclasses.replace(fixed, cancel_prefix="", cancellations="keep-sale", duplicates="keep",
                                     max_basket_items=None)
    table = SimpleNamespace(kind=source.kind, sep=source.sep, malformed=_empty_malformed(), encoding=source.encoding)
    lines_parts, reject_parts, hashes, hash_lines = [], [], [], []
    warnings: dict = {}
    malformed: list = []
    n_rows = 0
    original = None
    for frame in source.batches(chunk_rows, malformed):
        original = [c for c in frame.columns if c not in ("_line", "_raw")]
        lines, rej, warn, _ = _clean(frame, table, source.cols, chunk_opts, source.path)
        if opts.cancel_prefix:
            rej = _relabel_cancellations(rej, source.cols, fixed)
        for key, value in warn.items():
            if key.startswith(("cancelled sales kept", "exact duplicate lines kept")):
                continue  # whole-file policies, counted again below
            warnings[key] = warnings.get(key, 0) + value
        hashes.append(_hashes(frame, original))
        hash_lines.append(frame["_line"].to_numpy())
        lines_parts.append(lines)
        reject_parts.append(rej)
        n_rows += len(frame)
        say(1, 4, f"cleaned {n_rows:,} rows")
    if original is None:
        raise _Fallback("no rows")  # load_receipts explains
    lines = pd.concat(lines_parts, ignore_index=True) if len(lines_parts) > 1 else lines_parts[0]
    rejects = pd.concat(reject_parts, ignore_index=True) if len(reject_parts) > 1 else reject_parts[0]
    del lines_parts, reject_parts
    say(2, 4, "whole-file checks")
    lines, rejects, warnings = _whole_file(source, opts, fixed, original, lines, rejects, warnings,
                                           np.concatenate(hashes), np.concatenate(hash_lines), chunk_rows)
    mal = pd.concat(malformed, ignore_index=True) if malformed else _empty_malformed()
    if len(mal):
        mal = mal.rename(columns={"_line": "line_no"}).assign(column=pd.NA, reason="malformed line",
                                                               detail=mal["reason"])
        rejects = pd.concat([mal[["reason", "column", "line_no", "text", "detail"]], rejects], ignore_index=True)
    rejects = rejects.sort_values("line_no", kind="stable").reset_index(drop=True)
    front = ["line_no", "reason", "column"]
    rejects = rejects[front + [c for c in rejects.columns if c not in front]]
    say(3, 4, "accounting")
    acc_table = SimpleNamespace(kind=source.kind, n_records=n_rows + len(mal), encoding=source.encoding,
                                sep=source.sep, sha256=file_sha256(source.path), frame=None)
    acc = _account(source.path, acc_table, lines, rejects, warnings, "lines", decimal, source.cols)
    say(4, 4, "done")
    receipts = Receipts(lines=lines, rejects=rejects, accounting=acc)
    check_rejected_share(receipts, opts)
    return receipts


def _relabel_cancellations(rej: pd.DataFrame, cols: dict, opts: LoadOptions) -> pd.DataFrame:
    """Rows rejected as "non-positive quantity" that are cancellations become "cancellation".

    Exact: a cancelling line (id with the prefix, quantity < 0) that no earlier
    reason caught is rejected as "cancellation" by ``_clean``; without the
    prefix, the first reason left for it is "non-positive quantity" (same column).
    """
    maybe = (rej["reason"] == "non-positive quantity").to_numpy()
    if not maybe.any():
        return rej
    rows = rej[maybe]
    receipt = _text(_column(rows, cols, "receipt_id"))
    qty = parse_numbers(rows[cols["quantity"][0]], opts.decimal)[0] if "quantity" in cols else None
    if qty is None:
        return rej
    cancelling = (receipt.str.startswith(opts.cancel_prefix).fillna(False) & (qty.fillna(1.0) < 0)).to_numpy()
    if cancelling.any():
        rej = rej.copy()
        rej.loc[rows.index[cancelling], "reason"] = "cancellation"
    return rej


def _reparse(rows: pd.DataFrame, cols: dict, opts: LoadOptions) -> pd.DataFrame:
    """Parsed keys of raw rejected rows, exactly as ``_clean`` parsed them."""
    out = pd.DataFrame(index=rows.index)
    out["receipt"] = _text(_column(rows, cols, "receipt_id"))
    out["sku"] = _text(_column(rows, cols, "sku"))
    parsed = {f: parse_numbers(rows[cols[f][0]], opts.decimal)[0] for f in ("quantity", "unit_price", "line_amount")
              if f in cols}
    qty = parsed.get("quantity", pd.Series(1.0, index=rows.index)).fillna(1.0)
    out["qty"] = qty
    price = parsed.get("unit_price", pd.Series(np.nan, index=rows.index))
    amount = parsed.get("line_amount")
    if amount is None:
        amount = qty * price
    else:
        price = price.where(price.notna(), amount / qty)
    out["zero"] = ((price == 0) | (amount == 0)).to_numpy()
    if "timestamp" in cols:
        out["ts"] = parse_timestamps(_column(rows, cols, "timestamp"), opts.dayfirst, opts.date_format)[0]
    else:
        out["ts"] = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    if "customer_id" in cols:
        out["customer"] = _text(_column(rows, cols, "customer_id"))
    else:
        out["customer"] = pd.Series(pd.NA, index=rows.index, dtype="string")
    return out


def _whole_file(source, opts, fixed, original, lines, rejects, warnings, hashes, hash_lines, chunk_rows):
    """Cancellation matching, duplicates and oversized baskets over the whole file."""
    cols = source.cols
    move = pd.Series("", index=lines.index, dtype="object")  # reason a clean line becomes a reject
    # -- cancelled sales: the same pairing as receipts._match_cancelled_sales, on all rows in file order
    if opts.cancel_prefix and len(rejects):  # cancelling lines are always among the rejects
        rej = rejects
        keys = _reparse(rej, cols, fixed)
        cancelling = (keys["receipt"].str.startswith(opts.cancel_prefix).fillna(False) & (keys["qty"] < 0)).to_numpy()
        if cancelling.any():
            before = rej["reason"].isin(["missing receipt id", "missing sku", "unparsable quantity",
                                         "unparsable unit_price", "unparsable line_amount", "unparsable timestamp",
                                         "cancellation"]).to_numpy()
            canc = pd.DataFrame({"c": keys["customer"].fillna(""), "s": keys["sku"], "q": keys["qty"].abs(),
                                 "t": keys["ts"], "line": rej["line_no"].to_numpy()})[cancelling & keys["sku"].notna().to_numpy()]
            # candidate sales: clean lines and rows rejected only for reasons checked after the matching
            late = ~before & (keys["qty"] > 0).to_numpy() & ~cancelling
            sales = pd.concat([
                pd.DataFrame({"c": lines["customer_id"].fillna(""), "s": lines["sku"], "q": lines["quantity"],
                              "t": lines["timestamp"], "line": lines["line_no"].to_numpy(),
                              "where": np.zeros(len(lines), "int8"), "pos": np.arange(len(lines))}),
                pd.DataFrame({"c": keys["customer"].fillna(""), "s": keys["sku"], "q": keys["qty"], "t": keys["ts"],
                              "line": rej["line_no"].to_numpy(), "where": np.ones(len(rej), "int8"),
                              "pos": np.arange(len(rej))})[late],
            ], ignore_index=True)
            matched_lines, matched_rej = _match(canc, sales)
            if opts.cancellations == "net":
                move.iloc[matched_lines] = "cancelled sale"
                idx = rej.index[matched_rej]
                if "zero price lines kept" in warnings:
                    zero_lines = ((lines["unit_price"] == 0) | (lines["line_amount"] == 0)).to_numpy()[matched_lines]
                    zero_rej = keys["zero"].to_numpy()[matched_rej] & rej["reason"].isin(_LATE[3:]).to_numpy()[matched_rej]
                    warnings["zero price lines kept"] -= int(zero_lines.sum() + zero_rej.sum())
                    if warnings["zero price lines kept"] == 0:
                        del warnings["zero price lines kept"]
                rejects = rejects.copy()
                rejects.loc[idx, "reason"] = "cancelled sale"
                rejects.loc[idx, "column"] = pd.NA
            elif len(matched_lines) + len(matched_rej):
                warnings["cancelled sales kept (their cancelling lines were rejected)"] = \
                    int(len(matched_lines) + len(matched_rej))
    # -- exact duplicates: identical raw cells to an earlier row (rejected or not), among rows still alive
    order = np.argsort(hash_lines, kind="stable")
    h = hashes[order]
    dup_rows = pd.DataFrame({"a": h[:, 0], "b": h[:, 1]}).duplicated(keep="first").to_numpy()
    dup_line_set = hash_lines[order][dup_rows]
    alive = (move == "").to_numpy()
    dup = np.isin(lines["line_no"].to_numpy(), dup_line_set) & alive
    if opts.duplicates == "reject":
        move[dup] = "duplicate line"
    elif dup.any():
        warnings["exact duplicate lines kept"] = int(dup.sum())
    # -- oversized baskets, on the lines still alive
    if opts.max_basket_items:
        alive = (move == "").to_numpy()
        live = lines[alive]
        sizes = live[["receipt_id", "sku"]].drop_duplicates().groupby("receipt_id")["sku"].size()
        big = live["receipt_id"].map(sizes).fillna(0).to_numpy() > opts.max_basket_items
        move.iloc[np.flatnonzero(alive)[big]] = "oversized basket"
    moving = (move != "").to_numpy()
    if moving.any():
        wanted = lines.loc[moving, "line_no"].to_numpy()
        raw = _raw_rows(source, wanted, chunk_rows)
        why = pd.Series(move[moving].to_numpy(), index=wanted)
        raw = raw.rename(columns={"_line": "line_no"})
        raw.insert(0, "reason", why.loc[raw["line_no"].to_numpy()].to_numpy())
        raw.insert(1, "column", pd.Series(pd.NA, index=raw.index, dtype="object"))
        raw = raw[list(rejects.columns)] if set(raw.columns) == set(rejects.columns) else raw
        rejects = pd.concat([rejects, raw], ignore_index=True)
        lines = lines[~moving].reset_index(drop=True)
    return lines, rejects, warnings


def _match(canc: pd.DataFrame, sales: pd.DataFrame):
    """Indices (into lines, into rejects) of the sales paired with a cancelling line."""
    if canc.empty or sales.empty:
        return np.zeros(0, "int64"), np.zeros(0, "int64")
    canc = canc.sort_values("line", kind="stable")
    canc = canc.assign(k=canc.groupby(["c", "s", "q"]).cumcount())
    sales = sales.sort_values("line", kind="stable").sort_values("t", kind="stable")
    sales = sales.assign(k=sales.groupby(["c", "s", "q"]).cumcount())
    hit = canc.merge(sales, on=["c", "s", "q", "k"], how="inner", suffixes=("_c", "_s"))
    hit = hit[~(hit["t_s"] > hit["t_c"])]
    return (hit.loc[hit["where"] == 0, "pos"].to_numpy(dtype="int64"),
            hit.loc[hit["where"] == 1, "pos"].to_numpy(dtype="int64"))


def _raw_rows(source: _Source, line_nos: np.ndarray, chunk_rows: int) -> pd.DataFrame:
    """The raw cells of the records starting on ``line_nos`` (a second streaming pass)."""
    want = np.sort(np.asarray(line_nos, dtype="int64"))
    parts = []
    for frame in source.batches(chunk_rows):
        hit = np.isin(frame["_line"].to_numpy(), want)
        if hit.any():
            parts.append(frame[hit])
    return pd.concat(parts, ignore_index=True)
