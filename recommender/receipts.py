"""Any receipt export -> clean receipt lines, with every input row accounted for.

In: a file (long CSV/TSV, .gz, XLSX, Parquet, or one basket per line) and
:class:`LoadOptions`. Out: :class:`Receipts` -- ``lines`` (one row per used
input row, canonical columns), ``rejects`` (every other row, with its line
number and reason) and :class:`Accounting`, where always::

    rows_read == rows_used + sum(rows_rejected.values())

Canonical line columns: ``receipt_id``, ``sku`` (both text, required),
``quantity``, ``unit_price``, ``line_amount``, ``timestamp``, ``store_id``,
``customer_id``, optional ``name``, and ``line_no`` (where the row is in the
source). Each rejected row gets the *first* reason that applies, in the order
of :data:`REASONS`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender import limits
from recommender.errors import InputError, as_path
from recommender.basket_text import guess_format, sniff_basket_separator, split_baskets  # noqa: F401
from recommender.readers import Table, read_table
from recommender import reading
from recommender.reading import (FIELDS, MAX_REJECTED_SHARE, OPTIONAL_FIELDS, Accounting,  # noqa: F401
                                 LoadOptions, _norm, resolve_columns)

#: Reasons a row is rejected, in the order they are checked.
REASONS = (
    "malformed line",
    "missing receipt id",
    "missing sku",
    "unparsable quantity",
    "unparsable unit_price",
    "unparsable line_amount",
    "unparsable timestamp",
    "cancellation",
    "cancelled sale",
    "non-positive quantity",
    "negative price",
    "zero price",
    "non-product code",
    "outside date range",
    "outside stores",
    "duplicate line",
    "oversized basket",
)

#: Reasons that say the file was read the wrong way (a wrong date format, decimal mark or
#: separator) rather than that a row is dirty.
PARSE_REASONS = ("malformed line", "unparsable quantity", "unparsable unit_price", "unparsable line_amount",
                 "unparsable timestamp")


@dataclass
class Receipts:
    """Clean lines, rejected rows and the accounting that ties them together."""

    lines: pd.DataFrame
    rejects: pd.DataFrame
    accounting: Accounting


# ------------------------------------------------------------------ parsing

_CURRENCY = re.compile(r"[\s£$€¥￥\u00a0]|元|RMB|CNY|GBP|EUR|USD", re.IGNORECASE)


def detect_decimal(values: pd.Series, sep: str | None) -> str:
    """Return "," when numbers are written with a decimal comma, else ".".

    Only files not separated by commas can carry unquoted decimal commas; the
    majority of the number-like values with a comma or dot decides.

    >>> detect_decimal(pd.Series(["2,5", "3", "1.234,50"]), ";")
    ','
    >>> detect_decimal(pd.Series(["2.5", "3"]), ";")
    '.'
    """
    s = values.dropna().astype("str")
    s = s[s.str.contains(r"[.,]", regex=True)].head(5000)
    if s.empty:
        return "."
    comma = s.str.fullmatch(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+").sum()
    dot = s.str.fullmatch(r"[+-]?(\d{1,3}(,\d{3})+|\d+)\.\d+").sum()
    if sep == "," and comma <= dot:
        return "."
    return "," if comma > dot else "."


def parse_numbers(values: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """Parse text numbers; return (numbers, unparsable mask).

    Currency signs, spaces and thousands separators are ignored; empty cells
    are missing, not unparsable.

    >>> nums, bad = parse_numbers(pd.Series(["1,234.5", "£2", "", "x"]))
    >>> nums.tolist()[:2], bad.tolist()
    ([1234.5, 2.0], [False, False, False, True])
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        nums = values.astype("float64")
        return nums, pd.Series(False, index=values.index)
    raw = values.astype("str").where(values.notna(), "").str.strip()
    empty = raw == ""
    # Fast path: most cells are plain numbers; only the rest go through the slow clean-up.
    if decimal == ".":
        nums = pd.to_numeric(raw.mask(empty), errors="coerce").astype("float64")
    else:
        nums = pd.Series(np.nan, index=values.index)
    todo = nums.isna() & ~empty
    if todo.any():
        s = raw[todo].str.replace(_CURRENCY, "", regex=True)
        if decimal == ",":
            s = s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        else:
            s = s.str.replace(",", "", regex=False)
        nums[todo] = pd.to_numeric(s.mask(s == ""), errors="coerce").astype("float64")
    bad = nums.isna() & ~empty
    return nums, bad


_SLASHED = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})")


def parse_timestamps(values: pd.Series, dayfirst: bool | None = None, date_format: str | None = None):
    """Parse dates in the common forms; return (timestamps, unparsable mask, notes).

    Distinct values are parsed once (exports repeat the same timestamp on every
    line of a receipt). With ``dayfirst=None``, a first part above 12 in any
    ``a/b/yyyy`` date means day first; otherwise month first, with a note.
    """
    notes: list[str] = []
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        ts = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return ts.astype("datetime64[ns]"), pd.Series(False, index=values.index), notes
    codes, uniques = pd.factorize(values.astype("str").where(values.notna(), None))
    u = pd.Series(uniques, dtype="str").str.strip()
    if date_format:
        parsed = pd.to_datetime(u, format=date_format, errors="coerce")
    else:
        if dayfirst is None:
            m = u.str.extract(_SLASHED)
            if len(m) and m.notna().all(axis=1).any():
                first, second = m[0].astype("float"), m[1].astype("float")
                if (first > 12).any() and not (second > 12).any():
                    dayfirst = True
                elif (second > 12).any():
                    dayfirst = False
                else:
                    dayfirst = False
                    notes.append("dates like 01/02/2025 are ambiguous and were read month first; "
                                 "pass --dayfirst if they are day first")
        parsed = pd.to_datetime(u, format="ISO8601", errors="coerce")
        rest = parsed.isna() & (u != "")
        if rest.any():
            parsed[rest] = pd.to_datetime(u[rest], format="mixed", dayfirst=bool(dayfirst), errors="coerce")
    parsed = pd.Series(pd.DatetimeIndex(parsed).tz_localize(None) if getattr(parsed.dt, "tz", None) else parsed)
    arr = parsed.to_numpy(dtype="datetime64[ns]")
    nat = np.datetime64("NaT", "ns")
    full = np.where(codes >= 0, arr[np.maximum(codes, 0)] if len(arr) else nat, nat)
    ts = pd.Series(full, index=values.index, dtype="datetime64[ns]")
    empty = pd.Series(codes < 0, index=values.index) | (values.astype("str").str.strip() == "").fillna(True).to_numpy()
    bad = ts.isna() & ~empty
    return ts, bad, notes


def _text(values: pd.Series) -> pd.Series:
    """Ids as text: stripped, empty -> missing. Typed numbers lose a spurious ".0"."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values % 1 == 0)
        s = values.astype("str").where(~whole, values.where(whole).astype("Int64").astype("str"))
    else:
        s = values.astype("str")
    s = s.where(values.notna()).str.strip()
    return s.mask(s == "").astype("string")


# ------------------------------------------------------------------ loading

def load_receipts(path, options: LoadOptions | None = None, progress=None, _whole: bool = False,
                  **kwargs) -> Receipts:
    """Read a receipts file and clean it, accounting for every row.

    Parameters
    ----------
    path : str or Path
    options : LoadOptions, optional
        Keyword arguments build one when it is not given.
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    Receipts

    Raises
    ------
    InputError
        The file cannot be used at all (missing, empty, binary, no receipt/sku column ...).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "w").write("InvoiceNo,StockCode,Quantity\\n1,A,2\\n1,B,-1\\nC2,A,-2\\n")
    >>> r = load_receipts(p)
    >>> r.accounting.rows_read, r.accounting.rows_used, r.accounting.rows_rejected
    (3, 1, {'cancellation': 1, 'non-positive quantity': 1})
    """
    opts = options or LoadOptions(**kwargs)
    say = progress or (lambda done, total, message: None)
    p = as_path(path)
    if opts.encoding:
        import codecs

        try:
            codecs.lookup(opts.encoding)
        except LookupError:
            raise InputError(f"unknown encoding {opts.encoding!r}", path=p,
                             hint="use e.g. utf-8, gb18030, utf-16, latin-1") from None
    say(0, 4, f"reading {p.name}")
    # Measure what the file expands to before holding any of it: too big to read whole means stream it
    # (or say no, naming the file and what to do), and an absurdly long line stops the read here.
    plan = limits.plan_read(p, opts.max_memory_mb)
    fmt = opts.format
    if fmt == "auto":
        fmt = guess_format(p, opts)
    if plan.stream:
        if _whole or fmt == "baskets" or plan.kind not in ("text", "gzip", "parquet"):
            raise limits.cannot_stream(plan, p)
        from recommender.ingest import load_receipts_chunked

        return load_receipts_chunked(p, opts, chunk_rows=plan.chunk_rows, progress=progress)
    if fmt == "baskets":
        table = _read_baskets(p, opts)
        frame = table.frame
        cols = {"receipt_id": ["receipt_id"], "sku": ["sku"]}
    else:
        table = read_table(p, encoding=opts.encoding, sep=opts.sep)
        frame = table.frame
        if frame.empty and table.malformed.empty:
            raise InputError("the file has a header but no rows", path=p, line=1,
                             hint="export the receipts again with data rows")
        cols = resolve_columns([c for c in frame.columns if c != "_line"], opts.mapping, path=p)
        for required in ("receipt_id", "sku"):
            if required not in cols:
                found = ", ".join(str(c) for c in frame.columns if c != "_line")
                raise InputError(f"no {required} column found", path=p, line=1,
                                 hint=f"map it with --map {required}=COLUMN; the columns are: {found}")
        cols = timestamp_from_key(frame, cols, opts)
    say(1, 4, "parsing fields")
    lines, rejects, warnings, decimal = _clean(frame, table, cols, opts, p)
    say(3, 4, "accounting")
    acc = _account(p, table, lines, rejects, warnings, fmt, decimal, cols)
    acc.warnings.update(implausible_read(acc, table))
    say(4, 4, "done")
    receipts = Receipts(lines=lines, rejects=rejects, accounting=acc)
    check_rejected_share(receipts, opts)
    return receipts


def timestamp_from_key(frame: pd.DataFrame, cols: dict, opts: LoadOptions) -> dict:
    """Use the date column of a composite receipt key as the timestamp when none is mapped.

    A grocery export keyed by member and day (``--map receipt_id=Member_number+Date``)
    has its date inside the key; the slices and the time split need it as the
    timestamp too. A part qualifies when nine in ten of its first values parse
    as dates and they are not plain numbers (member numbers would read as years).

    >>> f = pd.DataFrame({"Member_number": ["1808", "2552"], "Date": ["21-07-2015", "05-01-2015"], "item": ["a", "b"]})
    >>> timestamp_from_key(f, {"receipt_id": ["Member_number", "Date"], "sku": ["item"]}, LoadOptions())["timestamp"]
    ['Date']
    """
    parts = cols.get("receipt_id", [])
    if "timestamp" in cols or len(parts) < 2:
        return cols
    for part in parts:
        sample = frame[part].dropna().head(500)
        if sample.empty:
            continue
        if not pd.api.types.is_datetime64_any_dtype(sample.dtype):
            text = sample.astype("str").str.strip()
            if text.str.fullmatch(r"[\d.,]+").mean() > 0.5:
                continue
        # Recognised without --date-format, so that a wrong one is reported (check_rejected_share), not ignored.
        _, bad, _ = parse_timestamps(sample)
        if 1 - bad.mean() >= 0.9:
            return {**cols, "timestamp": [part]}
    return cols


_DATE_FORMATS = ("%d-%m-%Y", "%m-%d-%Y", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d", "%d-%m-%y",
                 "%m-%d-%y", "%d/%m/%y", "%m/%d/%y", "%Y%m%d")


def _date_format_for(values) -> str | None:
    """The first common date format that reads every example (time of day ignored), if any."""
    days = [str(v).strip().split(" ")[0].split("T")[0] for v in values if str(v).strip()]
    for fmt in _DATE_FORMATS:
        if days and pd.to_datetime(pd.Series(days), format=fmt, errors="coerce").notna().all():
            return fmt
    return None


def check_rejected_share(receipts: Receipts, options: LoadOptions | None = None) -> None:
    """Stop when too many rows were rejected because the file was read the wrong way.

    Rows rejected for a reason in :data:`PARSE_REASONS` usually mean a wrong
    ``--date-format``, decimal mark or separator, not dirty data; mining the
    rest would silently lose them. Raises :class:`InputError` naming the
    column, an example value and what to try when their share of the rows
    read exceeds ``options.max_rejected_share``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.csv")
    >>> _ = open(p, "w").write("receipt,sku,date\\n1,A,13-02-2025\\n2,B,14-02-2025\\n")
    >>> load_receipts(p, LoadOptions(date_format="%m-%d-%Y"))
    Traceback (most recent call last):
    ...
    recommender.errors.InputError: ...: column 'date': 100% of the rows read (2 of 2) were rejected as unparsable timestamp, e.g. '13-02-2025' (try --date-format %d-%m-%Y; or pass --max-rejected-share 1 to accept the loss)
    >>> load_receipts(p, LoadOptions(date_format="%m-%d-%Y", max_rejected_share=1)).accounting.rows_used
    0
    """
    opts = options or LoadOptions()
    acc = receipts.accounting
    limit = opts.max_rejected_share
    if limit is None or not acc.rows_read:
        return
    parse = {r: n for r, n in acc.rows_rejected.items() if r in PARSE_REASONS}
    share = sum(parse.values()) / acc.rows_read
    if share <= limit:
        return
    reason = max(parse, key=parse.get)
    rej = receipts.rejects[receipts.rejects["reason"] == reason]
    column = None if rej.empty or pd.isna(rej["column"].iloc[0]) else str(rej["column"].iloc[0])
    examples = []
    if column is not None:
        names = [c for c in column.split("+") if c in rej.columns]
        if names:
            examples = rej[names].astype("str").agg(" ".join, axis=1).head(50).tolist()
    elif "text" in rej.columns:
        examples = rej["text"].astype("str").head(50).tolist()
    example = f", e.g. {examples[0][:80]!r}" if examples else ""
    if reason == "unparsable timestamp":
        fmt = _date_format_for(examples)
        if fmt and fmt != opts.date_format:
            fix = f"try --date-format {fmt}"
        elif opts.date_format:
            fix = f"--date-format {opts.date_format} does not read these dates; change it or leave it out"
        else:
            fix = "give the format with --date-format (e.g. %d-%m-%Y) or pass --dayfirst"
    elif reason.startswith("unparsable"):
        first = examples[0] if examples else ""
        if "," in first and acc.decimal == ".":
            fix = "try --decimal ,"
        elif "." in first and acc.decimal == ",":
            fix = "try --decimal ."
        else:
            field_name = reason.split(" ", 1)[1]
            fix = f"check that this is the {field_name} column, or map another with --map {field_name}=COLUMN"
    else:
        fix = f"the file was split with {acc.sep!r}: try --sep (e.g. --sep tab), --encoding, or --format baskets"
    accept = min(1.0, math.ceil(share * 100) / 100)
    raise InputError(f"{share:.0%} of the rows read ({sum(parse.values()):,} of {acc.rows_read:,}) were rejected as "
                     f"{reason}{example}", path=acc.path, column=column,
                     hint=f"{fix}; or pass --max-rejected-share {accept:g} to accept the loss")


def _read_baskets(path: Path, opts: LoadOptions) -> Table:
    """One receipt a line: receipt id = line number; items split as :func:`recommender.basket_text.split_baskets` does.

    A line of separators only becomes one empty item, rejected later as "missing sku".
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from recommender.readers import _empty_malformed

    split = split_baskets(path, opts)
    line_no = split.item_line_numbers
    # Each item keeps its whole line (shown for rejected items) as a category: one copy per line, not per item.
    lines_dict = pc.dictionary_encode(split.lines)
    raw_text = pd.Categorical.from_codes(lines_dict.indices.to_numpy(zero_copy_only=False)[split.owner],
                                         categories=pd.Index(lines_dict.dictionary.to_pandas(), dtype="str"))
    frame = pd.DataFrame({"receipt_id": pa.array(line_no).cast(pa.string()).to_pandas(),
                          "sku": split.items.cast(pa.string()).to_pandas(), "_line": line_no, "_raw": raw_text})
    return Table(frame=frame, malformed=_empty_malformed(), path=str(path), kind="baskets", encoding=split.encoding,
                 sep=split.sep, notes=["one receipt per line; receipt_id is the line number"])


#: The name it had here (ingest and the Spark loader use it).
_guess_format = guess_format

def implausible_read(acc: Accounting, table: Table, min_receipts: int = 20) -> dict:
    """Warnings (message -> count) for a read that looks wrong; see :func:`recommender.reading.implausible_read`."""
    def sample() -> list[str]:
        return pd.Series(table.frame["_raw"]).drop_duplicates().head(200).astype("str").tolist()

    return reading.implausible_read(acc, table.kind == "baskets", sample, min_receipts)


def _column(frame: pd.DataFrame, cols: dict, fld: str):
    names = cols.get(fld)
    if not names:
        return None
    if len(names) == 1:
        return frame[names[0]]
    parts = [frame[n].astype("str").str.strip() for n in names]
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    anymissing = pd.concat([frame[n].isna() | (frame[n].astype("str").str.strip() == "") for n in names], axis=1).any(axis=1)
    return key.mask(anymissing)


def outside_window(ts: pd.Series, opts: LoadOptions) -> pd.Series:
    """Lines outside the slice of ``opts`` (``months``, ``since``, ``until``; days inclusive) or without a date.

    >>> ts = pd.Series(pd.to_datetime(["2025-01-31 18:00", "2025-02-28 20:00", "2025-03-01 09:00", None]))
    >>> outside_window(ts, LoadOptions(since="2025-01-31", until="2025-02-28")).tolist()
    [False, False, True, True]
    >>> outside_window(ts, LoadOptions(months=(1, 3))).tolist()
    [False, True, False, True]
    """
    day = ts.dt.normalize()
    outside = ts.isna()
    if opts.months:
        outside |= ~ts.dt.month.isin([int(m) for m in opts.months])
    if opts.since:
        outside |= day < pd.Timestamp(opts.since)
    if opts.until:
        outside |= day > pd.Timestamp(opts.until)
    return outside


def _clean(frame: pd.DataFrame, table: Table, cols: dict, opts: LoadOptions, path: Path):
    n = len(frame)
    reason = pd.Series(pd.NA, index=frame.index, dtype="object")
    detail = pd.Series(pd.NA, index=frame.index, dtype="object")
    warnings: dict = {}

    def reject(mask, why, column=None):
        mask = pd.Series(mask, index=frame.index).fillna(False).astype(bool) & reason.isna()
        reason[mask] = why
        if column is not None:
            detail[mask] = column

    receipt = _text(_column(frame, cols, "receipt_id"))
    sku = _text(_column(frame, cols, "sku"))
    reject(receipt.isna(), "missing receipt id", _label(cols, "receipt_id"))
    reject(sku.isna(), "missing sku", _label(cols, "sku"))

    number_cols = [f for f in ("quantity", "unit_price", "line_amount") if f in cols]
    decimal = opts.decimal
    if decimal == "auto":
        sample = pd.concat([frame[cols[f][0]] for f in number_cols]) if number_cols else pd.Series([], dtype="str")
        decimal = detect_decimal(sample, table.sep) if table.kind in ("csv", "baskets") else "."
    parsed = {}
    for fld in number_cols:
        nums, bad = parse_numbers(frame[cols[fld][0]], decimal)
        reject(bad, f"unparsable {fld}", cols[fld][0])
        parsed[fld] = nums
    if "timestamp" in cols:
        ts, bad, notes = parse_timestamps(_column(frame, cols, "timestamp"), opts.dayfirst, opts.date_format)
        reject(bad, "unparsable timestamp", _label(cols, "timestamp"))
        for note in notes:
            warnings[note] = int((~ts.isna()).sum())
    else:
        ts = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")

    qty = parsed.get("quantity")
    qty_given = qty is not None
    if qty is None:
        qty = pd.Series(1.0, index=frame.index)
    qty_missing = qty.isna()
    qty = qty.fillna(1.0)
    if qty_given and qty_missing.any():
        warnings["missing quantity read as 1"] = int((qty_missing & reason.isna()).sum())

    if opts.cancel_prefix:
        cancelling = receipt.str.startswith(opts.cancel_prefix).fillna(False) & (qty < 0)
        reject(cancelling, "cancellation", _label(cols, "quantity"))
    else:
        cancelling = pd.Series(False, index=frame.index)

    store = _text(_column(frame, cols, "store_id")) if "store_id" in cols else pd.Series(pd.NA, index=frame.index, dtype="string")
    customer = _text(_column(frame, cols, "customer_id")) if "customer_id" in cols else pd.Series(pd.NA, index=frame.index, dtype="string")
    matched = _match_cancelled_sales(reason, cancelling, receipt, sku, qty, ts, customer)
    if opts.cancellations == "net":
        reject(matched, "cancelled sale")
    elif matched.any():
        warnings["cancelled sales kept (their cancelling lines were rejected)"] = int(matched.sum())

    reject(qty <= 0, "non-positive quantity", _label(cols, "quantity"))
    price = parsed.get("unit_price", pd.Series(np.nan, index=frame.index))
    reject(price < 0, "negative price", _label(cols, "unit_price"))
    amount = parsed.get("line_amount")
    if amount is None:
        amount = qty * price
    else:
        reject(amount < 0, "negative price", _label(cols, "line_amount"))
        price = price.where(price.notna(), amount / qty)
    zero = (price == 0) | (amount == 0)
    if opts.zero_price == "reject":
        reject(zero, "zero price", _label(cols, "unit_price"))
    elif (zero & reason.isna()).any():
        warnings["zero price lines kept"] = int((zero & reason.isna()).sum())

    if opts.non_products or opts.non_product_pattern:
        upper = sku.str.upper()
        nonprod = upper.isin([s.upper() for s in opts.non_products]).fillna(False)
        if opts.non_product_pattern:
            nonprod |= sku.str.fullmatch(opts.non_product_pattern).fillna(False)
        reject(nonprod, "non-product code", _label(cols, "sku"))

    if opts.sliced:
        slice_flags = " / ".join(f"--{f}" for f in ("since", "until", "months") if getattr(opts, f))
        if "timestamp" not in cols:
            raise InputError(f"{slice_flags} keeps receipts by date, but no timestamp column was found", path=path,
                             hint=f"a basket-per-line file has no dates: leave out {slice_flags}"
                             if table.kind == "baskets" else "map the date column with --map timestamp=COLUMN")
        if n and ts.isna().all() and not (reason == "unparsable timestamp").any():
            # (unreadable dates are parse rejects: check_rejected_share names them with an example)
            raise InputError(f"{slice_flags} keeps receipts by date, but column "
                             f"{_label(cols, 'timestamp')!r} holds no date", path=path,
                             hint="give the format with --date-format, or map another column with "
                                  "--map timestamp=COLUMN")
        reject(outside_window(ts, opts), "outside date range", _label(cols, "timestamp"))
    if opts.stores is not None:
        reject(~store.isin(list(opts.stores)).fillna(False), "outside stores", _label(cols, "store_id"))

    original = [c for c in frame.columns if c not in ("_line", "_raw")]
    if table.kind == "baskets":  # the same item twice on a basket line is one basket item, not a duplicate export row
        dup = pd.Series(False, index=frame.index)
    else:
        dup = frame.duplicated(subset=original, keep="first") & reason.isna()
    if opts.duplicates == "reject":
        reject(dup, "duplicate line")
    elif dup.any():
        warnings["exact duplicate lines kept"] = int(dup.sum())

    if opts.max_basket_items:
        alive = reason.isna()
        sizes = pd.DataFrame({"r": receipt[alive], "s": sku[alive]}).drop_duplicates().groupby("r")["s"].size()
        big = receipt.map(sizes).fillna(0) > opts.max_basket_items
        reject(big & alive, "oversized basket")

    used = reason.isna()
    lines = pd.DataFrame({
        "receipt_id": receipt[used], "sku": sku[used], "quantity": qty[used].astype("float64"),
        "unit_price": price[used].astype("float64"), "line_amount": amount[used].astype("float64"),
        "timestamp": ts[used], "store_id": store[used], "customer_id": customer[used],
    })
    if "name" in cols:
        lines["name"] = _text(_column(frame, cols, "name"))[used]
    lines["line_no"] = frame["_line"][used].astype("int64")
    lines = lines.reset_index(drop=True)

    rej = frame[~used].copy()
    if "_raw" in rej.columns:
        rej = rej.rename(columns={"_raw": "text"})[["_line", "text"]]
        rej["text"] = rej["text"].astype("str")  # basket lines arrive as categories
    rej.insert(0, "reason", reason[~used].astype("str"))
    rej.insert(1, "column", detail[~used].astype("object"))
    rej = rej.rename(columns={"_line": "line_no"})
    if not table.malformed.empty:
        mal = table.malformed.rename(columns={"_line": "line_no"}).assign(column=pd.NA, reason="malformed line",
                                                                           detail=table.malformed["reason"])
        rej = pd.concat([mal[["reason", "column", "line_no", "text", "detail"]], rej], ignore_index=True)
    rej = rej.sort_values("line_no", kind="stable").reset_index(drop=True)
    front = ["line_no", "reason", "column"]
    rej = rej[front + [c for c in rej.columns if c not in front]]
    assert len(lines) + len(rej) == n + len(table.malformed)
    return lines, rej, warnings, decimal


def _label(cols: dict, fld: str):
    names = cols.get(fld)
    return "+".join(names) if names else None


def _match_cancelled_sales(reason, cancelling, receipt, sku, qty, ts, customer) -> pd.Series:
    """Pair each cancelling line with one earlier sale of the same customer, SKU and quantity.

    Exports rarely link a cancellation to the invoice it cancels, so the match
    is by content; each sale line is matched at most once.
    """
    out = pd.Series(False, index=reason.index)
    if not cancelling.any():
        return out
    keys = pd.DataFrame({"c": customer.fillna(""), "s": sku, "q": qty.abs(), "t": ts})
    canc = keys[cancelling & sku.notna()]
    sales = keys[reason.isna() & (qty > 0) & ~cancelling]
    if canc.empty or sales.empty:
        return out
    canc = canc.assign(k=canc.groupby(["c", "s", "q"]).cumcount())
    sales = sales.sort_values("t", kind="stable")
    sales = sales.assign(k=sales.groupby(["c", "s", "q"]).cumcount(), idx=sales.index)
    hit = canc.merge(sales, on=["c", "s", "q", "k"], how="inner", suffixes=("_c", "_s"))
    hit = hit[~(hit["t_s"] > hit["t_c"])]
    out[hit["idx"].to_numpy()] = True
    return out


def _account(path, table, lines, rejects, warnings, fmt, decimal, cols) -> Accounting:
    counts = rejects["reason"].value_counts()
    rejected = {r: int(counts[r]) for r in REASONS if r in counts.index}
    ts = lines["timestamp"]
    if table.kind == "baskets":
        rows_read = int(pd.Series(table.frame["_line"]).nunique())
        rows_used = int(lines["line_no"].nunique())
        rejected = {k: int(rejects.loc[rejects["reason"] == k, "line_no"].nunique()) for k in rejected}
        # A basket line counts once: used when any of its items is used.
        partly = np.intersect1d(rejects["line_no"].to_numpy(), lines["line_no"].to_numpy()) if len(rejects) else []
        if len(partly):
            for k in list(rejected):
                rejected[k] = int(rejects.loc[(rejects["reason"] == k) & ~rejects["line_no"].isin(partly), "line_no"].nunique())
            rejected = {k: v for k, v in rejected.items() if v}
            warnings["basket lines with some items rejected"] = len(partly)
    else:
        rows_read = table.n_records
        rows_used = len(lines)
    return Accounting(
        path=str(path), rows_read=rows_read, rows_used=rows_used, rows_rejected=rejected, warnings=warnings,
        n_receipts=int(lines["receipt_id"].nunique()), n_items=int(lines["sku"].nunique()), n_lines=len(lines),
        n_customers=int(lines["customer_id"].nunique()),
        stores=sorted(lines["store_id"].dropna().unique().tolist()),
        date_min=None if ts.isna().all() else str(ts.min()), date_max=None if ts.isna().all() else str(ts.max()),
        format=fmt if table.kind != "csv" or fmt != "auto" else "lines", encoding=table.encoding, sep=table.sep,
        decimal=decimal, columns={k: "+".join(v) for k, v in cols.items()}, sha256=table.sha256,
    )


def write_rejects(receipts: Receipts, out) -> Path:
    """Write the rejected rows (line number, reason, column, original fields) as CSV, atomically.

    Meant for Excel: UTF-8 with a BOM so that Chinese text shows, and every
    cell neutralised (:func:`recommender.spreadsheet.csv_bytes`) so that an input
    cell such as ``=HYPERLINK(...)`` is shown as text, never run as a formula.
    """
    from recommender.atomic import atomic_write_bytes
    from recommender.spreadsheet import csv_bytes

    return atomic_write_bytes(Path(out), csv_bytes(receipts.rejects))
