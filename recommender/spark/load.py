"""Receipts read and cleaned by Spark, with the embedded loader's accounting.

In: a CSV (also .gz) or Parquet path or URI Spark understands (``file:``,
``hdfs:``, ``s3a:`` ...) and :class:`recommender.receipts.LoadOptions`. Out:
:class:`SparkReceipts` -- ``lines`` and ``rejects`` as Spark DataFrames (never
collected) and the :class:`recommender.receipts.Accounting` of the embedded
loader: the same rows_read, rows_used, rejected by reason and warnings.

How the definitions are shared. Every *row-local* rule (ids as text, numbers,
dates, missing fields, cancellations, non-positive quantities, prices,
non-products, date and store slices) runs the embedded loader's own functions
(:func:`recommender.receipts.parse_numbers`, ``parse_timestamps``, ``_text``,
``_column``) on Arrow batches inside the executors. The *whole-file* rules are
Spark window functions with the embedded definitions:

- cancelled sale: the k-th cancelling line of (customer, SKU, |quantity|) in
  file order matches the k-th sale of that key in time order (ties in file
  order), unless the sale is later than the cancellation;
- duplicate line: a row whose raw cells all equal an earlier row's;
- oversized basket: a receipt with more distinct SKUs among the lines still
  alive than ``max_basket_items``.

The decimal mark (``--decimal auto``) and the day-first reading of dates are
decided from the same values the embedded loader looks at (the first 5,000
number cells with a mark, in column then file order; every distinct date).

What is not done, and says so (:class:`recommender.errors.InputError`) rather
than differing silently: XLSX and basket-per-line files; UTF-16 text; a quoted
field spanning several lines (Spark reads text one line at a time; write
Parquet instead); text that does not decode in the detected encoding after the
first 64 KiB (the embedded loader looks at the whole file; pass
``--encoding``). The encoding and separator are sniffed on the first 64 KiB,
as the embedded loader sniffs the separator. A file over 128 MB is not
streamed-and-planned as :mod:`recommender.limits` does: Spark spills instead.
Line numbers are physical lines for text and row numbers for Parquet; for a
directory of several files they follow Spark's read order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.basket_text import _WHITESPACE
from recommender.errors import InputError
from recommender.receipts import (PARSE_REASONS, REASONS, Accounting, LoadOptions, Receipts, _column,
                                  _label, _text, check_rejected_share, implausible_read, outside_window, parse_numbers,
                                  parse_timestamps, resolve_columns, timestamp_from_key)
from recommender.spark.clean import LOCAL_TYPES, native_clean

__all__ = ["SparkReceipts", "load_receipts_spark", "write_rejects_parquet"]

_CANON = ("receipt_id", "sku", "quantity", "unit_price", "line_amount", "timestamp", "store_id", "customer_id",
          "name")


@dataclass
class SparkReceipts:
    """Clean lines and rejected rows as Spark DataFrames, and the accounting that ties them together.

    ``lines`` has the embedded loader's canonical columns (``receipt_id``,
    ``sku``, ``quantity``, ``unit_price``, ``line_amount``, ``timestamp``,
    ``store_id``, ``customer_id``, ``name`` when mapped, ``line_no``);
    ``rejects`` has ``line_no``, ``reason``, ``column`` and the original
    fields (``text`` and ``detail`` for malformed lines).
    """

    lines: object
    rejects: object
    accounting: Accounting
    has_name: bool = False


def _is_local(path: str) -> bool:
    return "://" not in path and not path.startswith(("file:", "hdfs:", "s3a:", "s3:", "gs:", "abfs:"))


def _local_path(path: str) -> Path | None:
    if path.startswith("file://"):
        return Path(path[len("file://"):])
    if path.startswith("file:"):
        return Path(path[len("file:"):])
    return Path(path) if _is_local(path) else None


def _kind_of(path: str, local: Path | None) -> str:
    """``parquet`` or ``text``; other formats are refused with the reason."""
    from recommender.readers import sniff_kind

    if local is not None:
        if not local.exists():
            raise InputError("no such file", path=local, hint="check the path")
        if local.is_dir():
            return "parquet" if any(local.glob("*.parquet")) or any(local.glob("*/*.parquet")) else "text"
        with open(local, "rb") as f:
            head = f.read(8)
        if not head:
            raise InputError("the file is empty", path=local, hint="export the receipts again; the file has no bytes")
        kind = sniff_kind(head)
        if kind in ("zip", "ole"):
            raise InputError("the Spark loader reads CSV (also .gz) and Parquet, not Excel workbooks", path=local,
                             hint="export CSV or Parquet, or mine with the embedded engine (--engine auto)")
        return "parquet" if kind == "parquet" else "text"
    return "parquet" if path.rstrip("/").lower().endswith((".parquet", ".pq")) or "parquet" in path.lower() \
        else "text"


def _number_rows(df, start: int):
    """Add ``_line``: start + the row's position in Spark's read order (exact, no driver collect of rows)."""
    from pyspark.sql import functions as F

    spark = df.sparkSession
    df = df.withColumn("_pid", F.spark_partition_id()).withColumn("_mid", F.monotonically_increasing_id())
    counts = sorted((r["_pid"], r["count"]) for r in df.groupBy("_pid").count().collect())
    offsets, acc = [], start
    for pid, n in counts:
        offsets.append((int(pid), int(acc)))
        acc += n
    if not offsets:
        offsets = [(0, start)]
    off = spark.createDataFrame(offsets, "_pid int, _off long")
    line = F.col("_off") + F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33)
    numbered = df.join(F.broadcast(off), "_pid").withColumn("_line", line).drop("_pid", "_mid", "_off")
    return numbered, acc - start


# ---------------------------------------------------------------------------------------------- reading

def _read_text(spark, path: str, opts: LoadOptions, display):
    """Physical lines -> raw string cells (``_f0``..), malformed records, and what was sniffed."""
    import pyarrow as pa
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from recommender.readers import _first_line, detect_encoding, sniff_separator

    text = spark.read.text(path).select(F.col("value").cast("binary").alias("value"))
    text, n_physical = _number_rows(text, 1)
    head_rows = text.where(F.col("_line") <= 400).orderBy("_line").collect()
    head_bytes = b"\n".join(bytes(r["value"]) for r in head_rows)
    if not head_bytes.strip():
        raise InputError("the file is empty (no text)", path=display, hint="export the receipts again")
    enc = opts.encoding or detect_encoding(head_bytes[:65536], display)
    if enc.lower().replace("_", "-").startswith("utf-16"):
        raise InputError("the Spark loader cannot split UTF-16 text into lines", path=display,
                         hint="convert it to UTF-8 (iconv -f UTF-16 -t UTF-8) or write Parquet")
    try:
        head_text = head_bytes.decode(enc, errors="replace").lstrip("\ufeff")
    except LookupError:
        raise InputError(f"unknown encoding {enc!r}", path=display,
                         hint="use e.g. utf-8, gb18030, latin-1") from None
    head = head_text[:65536].splitlines()
    sample = [ln for ln in (head[:-1] if len(head) > 1 and len(head_text) > 65536 else head)[:200] if ln.strip()]
    sep = opts.sep or sniff_separator(sample)
    import csv

    first = next(csv.reader([_first_line(head_text)], delimiter=sep))
    names = [c.strip() for c in first]
    names = [n if n else f"column_{i + 1}" for i, n in enumerate(names)]
    seen: dict = {}
    for i, n in enumerate(names):
        if n in seen:
            raise InputError(f"duplicate column name {n!r} (columns {seen[n] + 1} and {i + 1})", path=display,
                             line=1, hint="give every column a distinct name")
        seen[n] = i
    header_line = next(int(r["_line"]) for r in head_rows
                       if bytes(r["value"]).decode(enc, errors="replace").lstrip("\ufeff").strip())
    safe = [f"_f{i}" for i in range(len(names))]
    schema = T.StructType([T.StructField(s, T.StringType()) for s in safe] + [
        T.StructField("_line", T.LongType()), T.StructField("_bad", T.StringType()),
        T.StructField("_text", T.StringType()), T.StructField("_problem", T.StringType())])

    def parse(batches):
        import pyarrow.csv as pacsv

        for pdf in batches:
            numbers, texts, problems = [], [], []
            for ln, raw in zip(pdf["_line"].tolist(), pdf["value"].tolist()):
                if ln <= header_line:
                    continue
                try:
                    s = bytes(raw).decode(enc)
                except UnicodeDecodeError:
                    problems.append((ln, "undecodable"))
                    continue
                if not s:
                    continue  # a blank line is no record (as in the embedded parser)
                if s.count('"') % 2:
                    problems.append((ln, "quote"))
                    continue
                numbers.append(ln)
                texts.append(s)
            cols = {s: [] for s in safe}
            out_line, out_bad, out_text, out_problem = [], [], [], []
            if texts:
                bad: dict = {}

                def on_invalid(row, bad=bad):
                    bad[row.number] = (row.text, f"expected {row.expected_columns} fields, found {row.actual_columns}")
                    return "skip"

                data = ("\n".join(texts) + "\n").encode("utf-8")
                tab = pacsv.read_csv(
                    pa.BufferReader(data),
                    read_options=pacsv.ReadOptions(column_names=safe, use_threads=False, block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=False,
                                                     invalid_row_handler=on_invalid),
                    convert_options=pacsv.ConvertOptions(column_types={s: pa.string() for s in safe},
                                                         strings_can_be_null=False,
                                                         quoted_strings_can_be_null=False))
                good = [i for i in range(len(texts)) if (i + 1) not in bad]
                for s in safe:
                    cols[s] = tab.column(s).to_pylist()
                out_line = [numbers[i] for i in good]
                out_bad = [None] * len(good)
                out_text = [None] * len(good)
                out_problem = [None] * len(good)
                for number, (txt, why) in sorted(bad.items()):
                    for s in safe:
                        cols[s].append(None)
                    out_line.append(numbers[number - 1])
                    out_bad.append(why)
                    out_text.append(txt)
                    out_problem.append(None)
            for ln, why in problems:
                for s in safe:
                    cols[s].append(None)
                out_line.append(ln)
                out_bad.append(None)
                out_text.append(None)
                out_problem.append(why)
            yield pd.DataFrame({**cols, "_line": pd.Series(out_line, dtype="int64"),
                                "_bad": pd.Series(out_bad, dtype=object), "_text": pd.Series(out_text, dtype=object),
                                "_problem": pd.Series(out_problem, dtype=object)})

    parsed = text.mapInPandas(parse, schema)
    return parsed, names, safe, enc, sep, n_physical


def _read_parquet(spark, path: str):
    df = spark.read.parquet(path)
    names = list(df.columns)
    safe = [f"_f{i}" for i in range(len(names))]
    df, n_rows = _number_rows(df.toDF(*safe), 1)
    return df, names, safe, n_rows


# ---------------------------------------------------------------------------------------------- cleaning

def _local_stage(frame: pd.DataFrame, cols: dict, opts: LoadOptions, decimal: str, dayfirst, slicing: bool):
    """The row-local part of :func:`recommender.receipts._clean`, on one Arrow batch.

    ``_r1``: the first reason up to "cancellation"; ``_r2``: the first of the
    reasons after "cancelled sale" (non-positive quantity .. outside stores).
    The whole-file reasons are decided by Spark afterwards.
    """
    idx = frame.index

    def stage():
        return pd.Series(pd.NA, index=idx, dtype="object"), pd.Series(pd.NA, index=idx, dtype="object")

    reason, detail = stage()

    def reject(mask, why, column=None, reason=reason, detail=detail):
        mask = pd.Series(mask, index=idx).fillna(False).astype(bool) & reason.isna()
        reason[mask] = why
        if column is not None:
            detail[mask] = column

    receipt = _text(_column(frame, cols, "receipt_id"))
    sku = _text(_column(frame, cols, "sku"))
    reject(receipt.isna(), "missing receipt id", _label(cols, "receipt_id"))
    reject(sku.isna(), "missing sku", _label(cols, "sku"))
    parsed = {}
    for fld in ("quantity", "unit_price", "line_amount"):
        if fld in cols:
            nums, bad = parse_numbers(frame[cols[fld][0]], decimal)
            reject(bad, f"unparsable {fld}", cols[fld][0])
            parsed[fld] = nums
    if "timestamp" in cols:
        ts, bad, _ = parse_timestamps(_column(frame, cols, "timestamp"), dayfirst, opts.date_format)
        reject(bad, "unparsable timestamp", _label(cols, "timestamp"))
    else:
        ts = pd.Series(pd.NaT, index=idx, dtype="datetime64[ns]")
    qty = parsed.get("quantity")
    qty_given = qty is not None
    if qty is None:
        qty = pd.Series(1.0, index=idx)
    qty_missing = qty.isna() if qty_given else pd.Series(False, index=idx)
    qmiss = qty_missing & reason.isna()
    qty = qty.fillna(1.0)
    if opts.cancel_prefix:
        cancelling = receipt.str.startswith(opts.cancel_prefix).fillna(False).astype(bool) & (qty < 0)
        reject(cancelling, "cancellation", _label(cols, "quantity"))
    else:
        cancelling = pd.Series(False, index=idx)
    store = _text(_column(frame, cols, "store_id")) if "store_id" in cols else \
        pd.Series(pd.NA, index=idx, dtype="string")
    customer = _text(_column(frame, cols, "customer_id")) if "customer_id" in cols else \
        pd.Series(pd.NA, index=idx, dtype="string")
    sale = reason.isna() & (qty > 0) & ~cancelling

    r2, d2 = stage()

    def reject2(mask, why, column=None):
        reject(mask, why, column, reason=r2, detail=d2)

    reject2(qty <= 0, "non-positive quantity", _label(cols, "quantity"))
    price = parsed.get("unit_price", pd.Series(np.nan, index=idx))
    reject2(price < 0, "negative price", _label(cols, "unit_price"))
    amount = parsed.get("line_amount")
    if amount is None:
        amount = qty * price
    else:
        reject2(amount < 0, "negative price", _label(cols, "line_amount"))
        price = price.where(price.notna(), amount / qty)
    zero = ((price == 0) | (amount == 0)).fillna(False).astype(bool)
    zero_kept = zero & r2.isna()
    if opts.zero_price == "reject":
        reject2(zero, "zero price", _label(cols, "unit_price"))
    if opts.non_products or opts.non_product_pattern:
        upper = sku.str.upper()
        nonprod = upper.isin([s.upper() for s in opts.non_products]).fillna(False)
        if opts.non_product_pattern:
            nonprod |= sku.str.fullmatch(opts.non_product_pattern).fillna(False)
        reject2(nonprod, "non-product code", _label(cols, "sku"))
    if slicing:
        reject2(outside_window(ts, opts), "outside date range", _label(cols, "timestamp"))
    if opts.stores is not None:
        reject2(~store.isin(list(opts.stores)).fillna(False), "outside stores", _label(cols, "store_id"))

    def text(s):
        s = s.astype(object)
        return s.where(s.notna(), None)

    out = pd.DataFrame({
        "_c_receipt_id": text(receipt), "_c_sku": text(sku),
        "_c_quantity": qty.astype("float64"), "_c_unit_price": price.astype("float64"),
        "_c_line_amount": amount.astype("float64"), "_c_timestamp": ts.astype("datetime64[us]"),
        "_c_store_id": text(store), "_c_customer_id": text(customer),
        "_c_name": text(_text(_column(frame, cols, "name")) if "name" in cols
                        else pd.Series(pd.NA, index=idx, dtype="string")),
        "_r1": text(reason), "_d1": text(detail), "_r2": text(r2), "_d2": text(d2), "_canc": cancelling.astype(bool), "_sale": sale.astype(bool),
        "_qkey": qty.abs().astype("float64"), "_qmiss": qmiss.astype(bool), "_qmiss_any": qty_missing.astype(bool),
        "_zero": zero_kept.astype(bool), "_ts_ok": ts.notna().astype(bool),
    })
    return out


_LOCAL_TYPES = LOCAL_TYPES
#: Lines per partition of the cleaned lines (at least ``spark.sql.shuffle.partitions`` partitions).
LINES_PER_PARTITION = 1_000_000
#: Matched cancelled sales up to this many are broadcast to the lines rather than joined by a shuffle.
BROADCAST_MATCHES = 2_000_000


def _decide_decimal(frame, cols: dict, names: list, safe: list, sep: str) -> str:
    """The embedded ``detect_decimal`` on the same values: the first 5,000 number cells with a mark."""
    from pyspark.sql import functions as F

    from recommender.receipts import detect_decimal

    taken: list = []
    for fld in ("quantity", "unit_price", "line_amount"):
        if fld not in cols or len(taken) >= 5000:
            continue
        c = safe[names.index(cols[fld][0])]
        rows = (frame.where(F.col(c).isNotNull() & F.col(c).rlike("[.,]")).orderBy("_line")
                .limit(5000 - len(taken)).select(c).collect())
        taken += [r[0] for r in rows]
    return detect_decimal(pd.Series(taken, dtype=object), sep)


def _decide_dayfirst(frame, cols: dict, names: list, safe: list):
    """The embedded day-first decision over every distinct date text; returns (dayfirst, note or None)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from recommender.receipts import _SLASHED

    parts = [safe[names.index(c)] for c in cols["timestamp"]]
    if len(parts) > 1:  # a composite: the parts stripped and joined by "|", missing if any part is
        key = F.concat_ws("|", *[F.btrim(F.col(p).cast("string"), F.lit(_WHITESPACE)) for p in parts])
        anymiss = F.lit(False)
        for p in parts:
            anymiss = anymiss | F.col(p).isNull() | (F.btrim(F.col(p).cast("string"), F.lit(_WHITESPACE)) == "")
        key = F.when(~anymiss, key)
    else:
        if not isinstance(frame.schema[parts[0]].dataType, T.StringType):
            return None, None  # typed dates (Parquet) need no decision
        key = F.col(parts[0])
    values = frame.select(key.alias("v")).where(F.col("v").isNotNull())
    # ASCII text is matched by the JVM (Java's \d and \s agree with Python's there, and the cells are stripped
    # first); any other text by the embedded regular expression in a Python worker.
    ascii_ = F.col("v").rlike(r"^[\x00-\x7f]*$")
    u = F.btrim(F.col("v"), F.lit(_WHITESPACE))
    slashed = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})"
    full = u.rlike(slashed)
    native = values.where(ascii_).select(
        full.cast("int").alias("a"),
        (full & (F.regexp_extract(u, slashed, 1).try_cast("int") > 12)).cast("int").alias("f"),
        (full & (F.regexp_extract(u, slashed, 2).try_cast("int") > 12)).cast("int").alias("s"))

    def flags(batches):
        for pdf in batches:
            u = pdf["v"].astype("str").str.strip()
            m = u.str.extract(_SLASHED)
            full = m.notna().all(axis=1)
            first, second = m[0].astype("float"), m[1].astype("float")
            yield pd.DataFrame({"a": [int(full.any())], "f": [int((first[full] > 12).any())],
                                "s": [int((second[full] > 12).any())]})

    other = values.where(~ascii_).mapInPandas(flags, "a int, f int, s int")
    got = native.unionByName(other).agg(F.max("a").alias("a"), F.max("f").alias("f"),
                                         F.max("s").alias("s")).collect()[0]
    if not got["a"]:
        return False, None
    if got["f"] and not got["s"]:
        return True, None
    if got["s"]:
        return False, None
    return False, ("dates like 01/02/2025 are ambiguous and were read month first; "
                   "pass --dayfirst if they are day first")


def load_receipts_spark(path, options: LoadOptions | None = None, spark=None, progress=None,
                        **kwargs) -> SparkReceipts:
    """Read and clean receipts with Spark; the same accounting as :func:`recommender.receipts.load_receipts`.

    Parameters
    ----------
    path : str or Path
        A CSV (optionally .gz) or Parquet file, or a URI Spark reads.
    options : LoadOptions, optional
    spark : SparkSession, optional
        Default: :func:`recommender.mining.spark.get_session`.
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    SparkReceipts
        Its ``lines`` and ``rejects`` are persisted (memory and disk) on the executors.

    Raises
    ------
    InputError
        As the embedded loader does, and for what the Spark loader does not read (see the module docstring).
    """
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    opts = options or LoadOptions(**kwargs)
    say = progress or (lambda done, total, message: None)
    if spark is None:
        from recommender.mining.spark import get_session

        spark = get_session()
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # typed timestamps as the embedded reader sees them
    # Larger Arrow batches: the cleaning functions cost a fixed overhead per call (factorize, regexes).
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
    path = str(path)
    local = _local_path(path)
    display = local if local is not None else path
    kind = _kind_of(path, local)
    read_path = str(local.resolve()) if local is not None else path
    fmt = opts.format
    if fmt == "auto" and kind == "text" and local is not None and local.is_file():
        from recommender.receipts import _guess_format

        fmt = _guess_format(local, opts)
    if fmt == "baskets":
        raise InputError("the Spark loader reads tables (one receipt line per row), not one basket per line",
                         path=display, hint="mine a basket-per-line file with the embedded engine (--engine auto)")
    say(0, 4, f"reading {display} with Spark")
    if kind == "parquet":
        frame, names, safe, n_rows = _read_parquet(spark, read_path)
        malformed = None
        enc = sep = None
    else:
        parsed, names, safe, enc, sep, n_rows = _read_text(spark, read_path, opts, display)
        parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
        problems = parsed.where(F.col("_problem").isNotNull()).groupBy("_problem").agg(
            F.min("_line").alias("line")).collect()
        for row in sorted(problems, key=lambda r: r["line"]):
            if row["_problem"] == "quote":
                raise InputError("a quoted field spans several lines; the Spark loader reads one record per line",
                                 path=display, line=int(row["line"]),
                                 hint="write the receipts as Parquet, or mine with the embedded engine")
            raise InputError(f"the text is not {enc}", path=display, line=int(row["line"]),
                             hint="pass --encoding (e.g. --encoding gb18030 or latin-1)")
        frame = parsed.where(F.col("_bad").isNull()).select(*safe, "_line")
        malformed = parsed.where(F.col("_bad").isNotNull()).select(
            F.col("_line").alias("line_no"), F.lit("malformed line").alias("reason"),
            F.lit(None).cast("string").alias("column"), F.col("_text").alias("text"), F.col("_bad").alias("detail"))

    cols = resolve_columns(names, opts.mapping, path=display)
    for required in ("receipt_id", "sku"):
        if required not in cols:
            raise InputError(f"no {required} column found", path=display, line=1,
                             hint=f"map it with --map {required}=COLUMN; the columns are: {', '.join(names)}")
    if "timestamp" not in cols and len(cols.get("receipt_id", [])) >= 2:
        head = frame.orderBy("_line").limit(500).toPandas()
        head = head.drop(columns="_line").set_axis(names, axis=1)
        parts = cols["receipt_id"]
        sample = pd.concat([head[p].dropna().head(500).rename(p) for p in parts], axis=1)
        cols = timestamp_from_key(sample, cols, opts)
    if opts.sliced and "timestamp" not in cols:
        slice_flags = " / ".join(f"--{f}" for f in ("since", "until", "months") if getattr(opts, f))
        raise InputError(f"{slice_flags} keeps receipts by date, but no timestamp column was found", path=display,
                         hint="map the date column with --map timestamp=COLUMN")

    say(1, 4, "parsing fields in Spark")
    decimal = opts.decimal
    if decimal == "auto":
        decimal = _decide_decimal(frame, cols, names, safe, sep) if kind == "text" else "."
    dayfirst, note = opts.dayfirst, None
    if "timestamp" in cols and not opts.date_format and dayfirst is None:
        dayfirst, note = _decide_dayfirst(frame, cols, names, safe)

    local_schema = ", ".join(f"`{c}` {t}" for c, t in _LOCAL_TYPES)
    out_schema = ", ".join([f"`{s}` {frame.schema[s].dataType.simpleString()}" for s in safe]
                           + ["`_line` bigint", local_schema])
    slicing = opts.sliced

    def clean(batches):
        for pdf in batches:
            raw = pdf[safe].set_axis(names, axis=1)
            got = _local_stage(raw, cols, opts, decimal, dayfirst, slicing)
            yield pd.concat([pdf[safe + ["_line"]].reset_index(drop=True), got.reset_index(drop=True)], axis=1)

    # The common rows are cleaned by JVM expressions; the rest (and every row of a file the expressions
    # cannot read exactly) by the embedded functions in Python workers (see recommender.spark.clean).
    plan = native_clean(frame, cols, names, safe, opts, decimal)
    if plan is None:
        local_df = frame.mapInPandas(clean, out_schema)
    else:
        prepare, simple, columns = plan
        marked = frame.select("*", *prepare)
        native = marked.where(simple).select(*safe, "_line", *columns)
        rest = marked.where(~simple).select(*safe, "_line").mapInPandas(clean, out_schema)
        local_df = native.unionByName(rest)
    # One shuffle by receipt: duplicates (equal raw cells, so equal receipt ids), oversized baskets, the
    # receipt count and the baskets built from these lines then need no other shuffle of all the lines.
    # Persisted: the whole-file rules below read it several times.
    n_parts = max(int(spark.conf.get("spark.sql.shuffle.partitions")), spark.sparkContext.defaultParallelism,
                  -(-int(n_rows) // LINES_PER_PARTITION))
    local_df = local_df.repartition(n_parts, "_c_receipt_id").persist(StorageLevel.MEMORY_AND_DISK)

    # Whole-file rules, with the embedded definitions.
    if opts.cancel_prefix:
        keys = ["_ckey", "_c_sku", "_qkey"]
        base = local_df.withColumn("_ckey", F.coalesce(F.col("_c_customer_id"), F.lit("")))
        canc = base.where(F.col("_canc") & F.col("_c_sku").isNotNull()).select(
            *keys, F.col("_c_timestamp").alias("_tc"), "_line")
        canc = canc.withColumn("_k", F.row_number().over(Window.partitionBy(*keys).orderBy("_line"))).drop("_line")
        # Only sales of a (customer, SKU, quantity) that some cancellation has are numbered: the numbering
        # within a key is the same, and the other sales are not shuffled.
        sales = base.where(F.col("_sale")).select(*keys, F.col("_c_timestamp").alias("_ts"), "_line").join(
            canc.select(*keys).distinct(), keys, "left_semi")
        sales = sales.withColumn("_k", F.row_number().over(
            Window.partitionBy(*keys).orderBy(F.col("_ts").asc_nulls_last(), "_line")))
        hit = canc.join(sales, on=keys + ["_k"]).where(~F.coalesce(F.col("_ts") > F.col("_tc"), F.lit(False)))
        matched = hit.select("_line", F.lit(True).alias("_matched")).persist(StorageLevel.MEMORY_AND_DISK)
        # A broadcast keeps the lines where they are (partitioned by receipt); past a few million matches
        # the driver would hold too much of it, and Spark joins by shuffling instead.
        small = matched.count() <= BROADCAST_MATCHES
        local_df = local_df.join(F.broadcast(matched) if small else matched, on="_line", how="left").withColumn(
            "_matched", F.coalesce(F.col("_matched"), F.lit(False)))
    else:
        matched = None
        local_df = local_df.withColumn("_matched", F.lit(False))
    net = opts.cancellations == "net"
    cancelled = F.col("_matched") & F.lit(net)
    reason = F.coalesce(F.col("_r1"), F.when(cancelled, F.lit("cancelled sale")), F.col("_r2"))
    detail = F.when(F.col("_r1").isNotNull(), F.col("_d1")).when(cancelled, F.lit(None)).otherwise(F.col("_d2"))
    df = local_df.withColumn("_reason", reason).withColumn("_detail", detail.cast("string"))
    df = df.withColumn("_zero_kept", F.col("_zero") & F.col("_r1").isNull() & ~cancelled)
    # Equal raw cells have equal receipt ids: adding the id to the window keys changes no group, and the
    # window then runs where the lines already are.
    dup = (F.row_number().over(Window.partitionBy("_c_receipt_id", *safe).orderBy("_line")) > 1) \
        & F.col("_reason").isNull()
    df = df.withColumn("_dup", dup)
    if opts.duplicates == "reject":
        df = df.withColumn("_reason", F.when(F.col("_dup"), F.lit("duplicate line")).otherwise(F.col("_reason")))
    if opts.max_basket_items:
        alive = df.where(F.col("_reason").isNull()).select("_c_receipt_id", "_c_sku").distinct()
        big = alive.groupBy("_c_receipt_id").count().where(F.col("count") > int(opts.max_basket_items)).select(
            "_c_receipt_id", F.lit(True).alias("_big"))
        df = df.join(big, on="_c_receipt_id", how="left").withColumn(
            "_reason", F.when(F.col("_reason").isNull() & F.coalesce(F.col("_big"), F.lit(False)),
                              F.lit("oversized basket")).otherwise(F.col("_reason")))
    df = df.persist(StorageLevel.MEMORY_AND_DISK)

    say(2, 4, "accounting in Spark")
    used = F.col("_reason").isNull()
    # One pass for every count and the rejects by reason; the distinct counts are separate jobs, because
    # several DISTINCT aggregates in one query copy every row once per aggregate.
    agg = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(used.cast("long")).alias("used"),
        F.sum(F.col("_qmiss").cast("long")).alias("qmiss"), F.max(F.col("_qmiss_any").cast("int")).alias("qany"),
        F.sum(F.col("_matched").cast("long")).alias("matched"),
        F.sum(F.col("_zero_kept").cast("long")).alias("zero"), F.sum(F.col("_dup").cast("long")).alias("dup"),
        F.sum(F.col("_ts_ok").cast("long")).alias("ts_ok"),
        F.min(F.when(used, F.col("_c_timestamp"))).alias("tmin"),
        F.max(F.when(used, F.col("_c_timestamp"))).alias("tmax"),
        *[F.sum((F.col("_reason") == F.lit(r)).cast("long")).alias(f"_why{i}") for i, r in enumerate(REASONS)],
    ).collect()[0]
    local_df.unpersist()
    if matched is not None:
        matched.unpersist()
    alive = df.where(used)
    agg = {**agg.asDict(),
           "receipts": alive.select("_c_receipt_id").distinct().count(),
           "items": alive.where(F.col("_c_sku").isNotNull()).select("_c_sku").distinct().count(),
           "customers": alive.where(F.col("_c_customer_id").isNotNull()).select("_c_customer_id").distinct().count(),
           "stores": sorted(r[0] for r in alive.where(F.col("_c_store_id").isNotNull()).select(
               "_c_store_id").distinct().collect())}
    by_reason = {r: int(agg[f"_why{i}"] or 0) for i, r in enumerate(REASONS) if agg[f"_why{i}"]}
    n_malformed = 0
    if malformed is not None:
        n_malformed = malformed.count()
        if n_malformed:
            by_reason["malformed line"] = n_malformed
    n = int(agg["n"] or 0)
    if n == 0 and n_malformed == 0:
        raise InputError("the file has a header but no rows", path=display, line=1,
                         hint="export the receipts again with data rows")
    if opts.sliced and n and not agg["ts_ok"] and not by_reason.get("unparsable timestamp"):
        slice_flags = " / ".join(f"--{f}" for f in ("since", "until", "months") if getattr(opts, f))
        raise InputError(f"{slice_flags} keeps receipts by date, but column "
                         f"{_label(cols, 'timestamp')!r} holds no date", path=display,
                         hint="give the format with --date-format, or map another column with --map timestamp=COLUMN")
    warnings: dict = {}
    if note:
        warnings[note] = int(agg["ts_ok"] or 0)
    if "quantity" in cols and agg["qany"]:
        warnings["missing quantity read as 1"] = int(agg["qmiss"] or 0)
    if not net and agg["matched"]:
        warnings["cancelled sales kept (their cancelling lines were rejected)"] = int(agg["matched"])
    if opts.zero_price != "reject" and agg["zero"]:
        warnings["zero price lines kept"] = int(agg["zero"])
    if opts.duplicates != "reject" and agg["dup"]:
        warnings["exact duplicate lines kept"] = int(agg["dup"])
    tmin, tmax = agg["tmin"], agg["tmax"]
    sha = ""
    if local is not None and local.is_file():
        from recommender.readers import file_sha256

        sha = file_sha256(local)
    acc = Accounting(
        path=str(display), rows_read=n + n_malformed, rows_used=int(agg["used"] or 0),
        rows_rejected={r: by_reason[r] for r in REASONS if by_reason.get(r)}, warnings=warnings,
        n_receipts=int(agg["receipts"]), n_items=int(agg["items"]), n_lines=int(agg["used"] or 0),
        n_customers=int(agg["customers"]), stores=[str(s) for s in agg["stores"]],
        date_min=None if tmin is None else str(pd.Timestamp(tmin)),
        date_max=None if tmax is None else str(pd.Timestamp(tmax)),
        format="lines", encoding=enc, sep=sep, decimal=decimal,
        columns={k: "+".join(v) for k, v in cols.items()}, sha256=sha)

    from types import SimpleNamespace

    acc.warnings.update(implausible_read(acc, SimpleNamespace(kind="csv")))  # it asks the kind only

    lines = df.where(used).select(
        *[F.col(f"_c_{c}").alias(c) for c in _CANON if c != "name" or "name" in cols],
        F.col("_line").alias("line_no"))
    rejects = df.where(~used).select(F.col("_line").alias("line_no"), F.col("_reason").alias("reason"),
                                     F.col("_detail").alias("column"),
                                     *[F.col(s).alias(n) for s, n in zip(safe, names)])
    if malformed is not None and n_malformed:
        rejects = malformed.unionByName(rejects, allowMissingColumns=True)
        front = ["line_no", "reason", "column"]
        rejects = rejects.select(*front, "text", "detail", *[F.col(f"`{n}`") for n in names])
    _check_share(acc, rejects, opts, names)
    say(4, 4, "done")
    return SparkReceipts(lines=lines, rejects=rejects, accounting=acc, has_name="name" in cols)


def _check_share(acc: Accounting, rejects, opts: LoadOptions, names: list) -> None:
    """:func:`recommender.receipts.check_rejected_share` with the first 50 rejects of the top parse reason."""
    from pyspark.sql import functions as F

    limit = opts.max_rejected_share
    if limit is None or not acc.rows_read:
        return
    parse = {r: n for r, n in acc.rows_rejected.items() if r in PARSE_REASONS}
    if sum(parse.values()) / acc.rows_read <= limit:
        return
    reason = max(parse, key=parse.get)
    sample = rejects.where(F.col("reason") == reason).orderBy("line_no").limit(50).toPandas()
    check_rejected_share(Receipts(lines=None, rejects=sample, accounting=acc), opts)


def write_rejects_parquet(receipts: SparkReceipts, out) -> str:
    """Write every rejected row (line number, reason, column, original fields) as a Parquet dataset, by Spark.

    The dataset is a directory of part files ordered by line number; it
    replaces what was there.
    """
    out = str(out)
    receipts.rejects.orderBy("line_no").write.mode("overwrite").parquet(out)
    return out
