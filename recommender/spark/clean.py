"""The row-local cleaning of receipt lines as Spark SQL expressions: no Python worker sees the common rows.

In: the raw cells of a Spark DataFrame (``_f0``.. named after the file's
columns), the column mapping and :class:`recommender.receipts.LoadOptions`.
Out: :func:`native_clean` returns a condition and the cleaned columns of
:func:`recommender.spark.load._local_stage`, as JVM expressions, for every row
the condition holds for; ``None`` when the whole file must take the Python path.

Why a condition. The embedded loader's parsing (pandas ``to_numeric``,
``to_datetime(format="ISO8601"/"mixed")``, currency clean-up, Python regular
expressions) has no exact SQL twin for every input. It has one for the forms
nearly every export writes, and only those rows are cleaned here:

- text ids: Python's ``str.strip()`` is ``btrim`` with the characters
  ``str.isspace`` accepts (:data:`recommender.basket_text._WHITESPACE`); integer
  columns print as Spark prints them;
- numbers: typed columns, or text of at most 15 digits with an optional sign
  and decimal mark (a double holds every such value, so Java's correctly
  rounded parse equals pandas'; pandas' own parse of these was checked against
  Python's ``float``). ``-0`` is left to pandas: it reads it as 0 or -0.0
  depending on the other values of the batch;
- timestamps: typed ones, and ISO ``yyyy-mm-dd[ hh:mm[:ss]]`` text (also with
  ``T``) with a year in 1700-2259 (pandas' nanosecond range) that Spark's strict
  parser accepts; ISO text does not depend on ``dayfirst``;
- non-product codes given as a list, for ASCII SKUs (upper-casing agrees).

Every other row (a currency sign, thousands separators, ``01/02/2025``, an
unparsable cell, ...) goes to the embedded functions in a Python worker, as
before, so the result is the same whatever the mix. A regular expression for
non-products, an explicit ``--date-format``, composite keys and column types
other than text, integers, floats, dates and timestamps send the whole file
there.
"""

from __future__ import annotations

import pandas as pd

from recommender.basket_text import _WHITESPACE
from recommender.receipts import _label

__all__ = ["native_clean", "LOCAL_TYPES"]

#: The columns (and Spark types) the row-local stage adds to the raw cells.
LOCAL_TYPES = (("_c_receipt_id", "string"), ("_c_sku", "string"), ("_c_quantity", "double"),
               ("_c_unit_price", "double"), ("_c_line_amount", "double"), ("_c_timestamp", "timestamp_ntz"),
               ("_c_store_id", "string"), ("_c_customer_id", "string"), ("_c_name", "string"), ("_r1", "string"),
               ("_d1", "string"), ("_r2", "string"), ("_d2", "string"), ("_canc", "boolean"), ("_sale", "boolean"),
               ("_qkey", "double"), ("_qmiss", "boolean"), ("_qmiss_any", "boolean"), ("_zero", "boolean"),
               ("_ts_ok", "boolean"))

#: Plain decimal numbers of at most 15 digits (length <= 16 with sign and mark is checked as well).
_NUMBER = {".": r"^[+-]?[0-9]+(\.[0-9]+)?$", ",": r"^[+-]?[0-9]+(,[0-9]+)?$"}
_NEGATIVE_ZERO = r"^-[0.,]*$"
_ISO = r"^(1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9])-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?$"


class _Fallback(Exception):
    """The whole file takes the Python path."""


def _kind(dtype) -> str:
    from pyspark.sql import types as T

    if isinstance(dtype, T.StringType):
        return "text"
    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return "integer"
    if isinstance(dtype, (T.FloatType, T.DoubleType)):
        return "float"
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        return "time"
    return "other"


def native_clean(frame, cols: dict, names: list, safe: list, opts, decimal: str):
    """``(prepare, simple, columns)`` for the rows Spark cleans itself; None when no row can be.

    ``prepare`` are Columns over the raw cells (the parsed fields, each
    computed once, named ``_n_*``); ``simple`` a boolean Column over those
    (never null); ``columns`` the :data:`LOCAL_TYPES` columns over those,
    equal, on the rows where ``simple`` holds, to what
    :func:`recommender.spark.load._local_stage` computes. Use them as
    ``frame.select("*", *prepare).where(simple).select(..., *columns)``.
    """
    try:
        return _plan(frame, cols, names, safe, opts, decimal)
    except _Fallback:
        return None


def _plan(frame, cols, names, safe, opts, decimal):
    from pyspark.sql import functions as F

    if opts.non_product_pattern or opts.date_format:
        raise _Fallback
    ws = F.lit(_WHITESPACE)
    prepare, checks = [], []

    def source(fld):
        names_ = cols.get(fld)
        if not names_:
            return None, None
        if len(names_) > 1:
            raise _Fallback  # composite keys: the Python path
        c = safe[names.index(names_[0])]
        return F.col(c), _kind(frame.schema[c].dataType)

    def text(fld):
        col, kind = source(fld)
        if col is None:
            return F.lit(None).cast("string")
        if kind == "text":
            v = F.btrim(col, ws)
            prepare.append(F.when(v != F.lit(""), v).alias(f"_n_{fld}"))
        elif kind == "integer":
            prepare.append(col.cast("string").alias(f"_n_{fld}"))
        else:
            raise _Fallback
        return F.col(f"_n_{fld}")

    def blank(raw):
        return F.coalesce(raw == F.lit(""), F.lit(True))

    def number(fld):
        col, kind = source(fld)
        if kind in ("integer", "float"):
            v = col.cast("double")
            prepare.append((F.when(~F.isnan(v), v) if kind == "float" else v).alias(f"_n_{fld}"))
        elif kind == "text":
            raw = F.btrim(col, ws)
            ok = raw.rlike(_NUMBER[decimal]) & (F.length(raw) <= 16) & ~raw.rlike(_NEGATIVE_ZERO)
            digits = raw if decimal == "." else F.regexp_replace(raw, ",", ".")
            prepare.extend([F.when(ok, digits.try_cast("double")).alias(f"_n_{fld}"), blank(raw).alias(f"_b_{fld}")])
            checks.append(F.col(f"_n_{fld}").isNotNull() | F.col(f"_b_{fld}"))
        else:
            raise _Fallback
        return F.col(f"_n_{fld}")

    def timestamp():
        col, kind = source("timestamp")
        if col is None:
            return F.lit(None).cast("timestamp_ntz")
        if kind == "time":
            prepare.append(col.cast("timestamp_ntz").alias("_n_timestamp"))  # the session time zone is UTC
        elif kind == "text":
            # Spark's cast reads exactly these ISO forms, and strictly (no 30 February), without a formatter.
            raw = F.btrim(col, ws)
            prepare.extend([F.when(raw.rlike(_ISO), raw.try_cast("timestamp_ntz")).alias("_n_timestamp"),
                            blank(raw).alias("_b_timestamp")])
            checks.append(F.col("_n_timestamp").isNotNull() | F.col("_b_timestamp"))
        else:
            raise _Fallback
        return F.col("_n_timestamp")

    def first(rules):
        """CASE WHEN: the first rule that holds gives the reason and its column (as ``reject`` does)."""
        reason = detail = None
        for cond, why, column in rules:
            c = F.coalesce(cond, F.lit(False))
            reason = F.when(c, F.lit(why)) if reason is None else reason.when(c, F.lit(why))
            detail = (F.when(c, F.lit(column)) if detail is None else detail.when(c, F.lit(column)))
        if reason is None:
            return F.lit(None).cast("string"), F.lit(None).cast("string")
        return reason, detail.cast("string")

    receipt, sku = text("receipt_id"), text("sku")
    parsed = {fld: number(fld) for fld in ("quantity", "unit_price", "line_amount") if fld in cols}
    ts = timestamp()
    store, customer = text("store_id"), text("customer_id")
    name = text("name") if "name" in cols else F.lit(None).cast("string")
    qty = parsed.get("quantity")
    qty_missing = qty.isNull() if qty is not None else F.lit(False)
    qty = F.coalesce(qty, F.lit(1.0)) if qty is not None else F.lit(1.0)
    rules1 = [(receipt.isNull(), "missing receipt id", _label(cols, "receipt_id")),
              (sku.isNull(), "missing sku", _label(cols, "sku"))]
    r0, _ = first(rules1)
    qmiss = qty_missing & r0.isNull()
    if opts.cancel_prefix:
        cancelling = F.coalesce(receipt.startswith(opts.cancel_prefix), F.lit(False)) & (qty < 0)
        rules1.append((cancelling, "cancellation", _label(cols, "quantity")))
    else:
        cancelling = F.lit(False)
    r1, d1 = first(rules1)
    sale = r1.isNull() & (qty > 0)

    rules2 = [(qty <= 0, "non-positive quantity", _label(cols, "quantity"))]
    price = parsed.get("unit_price", F.lit(None).cast("double"))
    rules2.append((price < 0, "negative price", _label(cols, "unit_price")))
    amount = parsed.get("line_amount")
    if amount is None:
        amount = qty * price
    else:
        rules2.append((amount < 0, "negative price", _label(cols, "line_amount")))
        price = F.coalesce(price, F.try_divide(amount, qty))
    zero = F.coalesce(price == 0, F.lit(False)) | F.coalesce(amount == 0, F.lit(False))
    before_zero, _ = first(rules2)
    zero_kept = zero & before_zero.isNull()
    if opts.zero_price == "reject":
        rules2.append((zero, "zero price", _label(cols, "unit_price")))
    if opts.non_products:
        checks.append(sku.isNull() | sku.rlike(r"^[\x00-\x7f]*$"))
        rules2.append((F.upper(sku).isin([s.upper() for s in opts.non_products]), "non-product code",
                       _label(cols, "sku")))
    if opts.sliced:
        outside = ts.isNull()
        day = F.to_date(ts).cast("timestamp_ntz")
        if opts.months:
            outside = outside | ~F.coalesce(F.month(ts).isin([int(m) for m in opts.months]), F.lit(False))
        for bound, before in ((opts.since, True), (opts.until, False)):
            if bound:
                stamp = pd.Timestamp(bound)
                if stamp.tz is not None:
                    raise _Fallback
                lit = F.lit(stamp.strftime("%Y-%m-%d %H:%M:%S.%f")).cast("timestamp_ntz")
                outside = outside | F.coalesce(day < lit if before else day > lit, F.lit(False))
        rules2.append((outside, "outside date range", _label(cols, "timestamp")))
    if opts.stores is not None:
        rules2.append((~F.coalesce(store.isin(list(opts.stores)), F.lit(False)), "outside stores",
                       _label(cols, "store_id")))
    r2, d2 = first(rules2)
    values = {
        "_c_receipt_id": receipt, "_c_sku": sku, "_c_quantity": qty, "_c_unit_price": price,
        "_c_line_amount": amount, "_c_timestamp": ts, "_c_store_id": store, "_c_customer_id": customer,
        "_c_name": name, "_r1": r1, "_d1": d1, "_r2": r2, "_d2": d2, "_canc": cancelling, "_sale": sale,
        "_qkey": F.abs(qty), "_qmiss": qmiss, "_qmiss_any": qty_missing, "_zero": zero_kept,
        "_ts_ok": ts.isNotNull(),
    }
    columns = [values[c].cast(t).alias(c) for c, t in LOCAL_TYPES]
    simple = F.lit(True)
    for check in checks:
        simple = simple & check
    return prepare, F.coalesce(simple, F.lit(False)), columns
