"""What reading a receipts file is told and what it reports, without pandas.

:class:`LoadOptions` (how to read and clean one file), :class:`Accounting`
(where every input row went) and :func:`resolve_columns` (which column holds
which canonical field). They live apart from :mod:`recommender.receipts`, which
re-exports them, so that a command can take its options and report its
accounting without importing pandas (the basket-per-line mine path,
:mod:`recommender.basket_mine`, never loads it).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from recommender.errors import InputError

FIELDS = ("receipt_id", "sku", "quantity", "unit_price", "line_amount", "timestamp", "store_id", "customer_id")
OPTIONAL_FIELDS = ("name",)

#: A load stops (InputError, exit 2) when more than this share of the rows read is rejected
#: for one of :data:`recommender.receipts.PARSE_REASONS`; ``LoadOptions(max_rejected_share=...)`` /
#: ``--max-rejected-share`` accepts a larger loss.
MAX_REJECTED_SHARE = 0.05

_ALIASES = {
    "receipt_id": ("receipt_id", "receipt", "receiptno", "receipt_no", "invoiceno", "invoice_no", "invoice", "invoiceid",
                   "order_id", "orderid", "order", "orderno", "transaction_id", "transactionid", "transaction",
                   "trans_id", "basket_id", "basket", "ticket_id", "ticket", "bill_no", "billno", "bill_id",
                   "小票号", "小票编号", "小票", "单号", "单据号", "订单号", "交易号", "流水号", "收银单号"),
    "sku": ("sku", "stockcode", "stock_code", "item_id", "itemid", "item", "product_id", "productid", "product_code",
            "article", "article_id", "barcode", "ean", "upc", "商品编码", "商品代码", "商品编号", "货号", "条码", "商品",
            "itemdescription", "item_description", "product_name"),
    "quantity": ("quantity", "qty", "units", "unit", "count", "数量", "销量", "销售数量"),
    "unit_price": ("unit_price", "unitprice", "price", "unit_cost_price", "单价", "售价", "销售单价", "零售价"),
    "line_amount": ("line_amount", "amount", "line_total", "linetotal", "total", "sales", "net_amount", "value",
                    "金额", "销售额", "销售金额", "实收金额", "小计"),
    "timestamp": ("timestamp", "invoicedate", "invoice_date", "datetime", "date_time", "date", "time", "order_date",
                  "orderdate", "transaction_date", "sale_date", "created_at", "日期", "时间", "销售日期", "交易时间",
                  "销售时间", "交易日期"),
    "store_id": ("store_id", "storeid", "store", "store_code", "shop_id", "shop", "branch", "branch_id", "outlet",
                 "门店", "门店编号", "门店编码", "门店代码", "店号", "店铺", "分店"),
    "customer_id": ("customer_id", "customerid", "customer", "client_id", "member_id", "memberid", "member_number",
                    "member", "card_no", "loyalty_id", "会员号", "会员卡号", "会员编号", "会员", "顾客编号", "客户编号"),
    "name": ("name", "description", "product_description", "item_name", "itemname", "product_name", "productname",
             "itemdescription", "item_description", "desc", "商品名称", "商品名", "品名", "名称"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-./]+", "_", str(name).strip().lower()).strip("_")


@dataclass(frozen=True)
class LoadOptions:
    """How to read and clean one receipts file. Defaults are listed in the README.

    Attributes
    ----------
    format : {"auto", "lines", "baskets"}
        ``lines``: one row per receipt line with a header; ``baskets``: one
        receipt per line, items split by ``sep``; ``auto`` decides.
    sep, encoding : str, optional
        Detected when None.
    mapping : dict
        FIELD -> column name; ``"A+B"`` makes a composite key of columns A and B.
    dayfirst : bool or None
        Read 01/02/2025 as 1 February. None: decided from the data where it can
        be (a first part above 12), else month first with a warning.
    date_format : str, optional
        An explicit ``strftime`` format for the timestamp column.
    decimal : {"auto", ".", ","}
        Decimal mark of numbers; ``auto`` picks "," for non-comma separated
        files whose numbers are written that way.
    cancel_prefix : str
        Receipt ids starting with this (and with a negative quantity) are
        cancellations. Empty string: none.
    cancellations : {"keep-sale", "net"}
        ``keep-sale`` rejects the cancelling lines and keeps the original sale
        (reporting how many sales were cancelled); ``net`` also rejects the
        matched original sale lines.
    duplicates : {"keep", "reject"}
        Exact duplicate lines are kept and counted as a warning, or rejected.
    zero_price : {"keep", "reject"}
        Lines with a zero unit price (free items) are kept with a warning, or rejected.
    non_products : tuple of str
        SKUs that are not products (postage, fees), matched exactly, ignoring case.
    non_product_pattern : str, optional
        A regular expression; SKUs matching it in full are non-products.
    max_basket_items : int, optional
        Receipts with more distinct SKUs than this are rejected ("oversized basket").
    since, until : str, optional
        Keep receipts dated in [since, until] (inclusive days); others are
        rejected as "outside date range".
    months : tuple of int, optional
        Keep receipts dated in these calendar months (1-12), e.g. (6, 7, 8)
        for a summer slice; others are rejected as "outside date range".
    stores : tuple of str, optional
        Keep only these stores; others are rejected as "outside stores".
    max_rejected_share : float or None
        Stop with an :class:`InputError` when more than this share of the rows
        is rejected for a parse reason (:data:`PARSE_REASONS`); default
        :data:`MAX_REJECTED_SHARE`. ``1`` (or None) accepts any loss.
    max_memory_mb : float, optional
        Memory budget for reading the file (``--max-memory``); None: ``RECOMMENDER_MAX_MEMORY_MB`` or
        :data:`recommender.limits.DEFAULT_MAX_MEMORY_MB`. See :mod:`recommender.limits`.
    """

    format: str = "auto"
    sep: str | None = None
    encoding: str | None = None
    mapping: dict = field(default_factory=dict)
    dayfirst: bool | None = None
    date_format: str | None = None
    decimal: str = "auto"
    cancel_prefix: str = "C"
    cancellations: str = "keep-sale"
    duplicates: str = "keep"
    zero_price: str = "keep"
    non_products: tuple = ()
    non_product_pattern: str | None = None
    max_basket_items: int | None = None
    since: str | None = None
    until: str | None = None
    months: tuple | None = None
    stores: tuple | None = None
    max_rejected_share: float | None = MAX_REJECTED_SHARE
    max_memory_mb: float | None = None

    def __post_init__(self):
        for name, allowed in (("format", ("auto", "lines", "baskets")), ("decimal", ("auto", ".", ",")),
                              ("cancellations", ("keep-sale", "net")), ("duplicates", ("keep", "reject")),
                              ("zero_price", ("keep", "reject"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.months is not None and not all(1 <= int(m) <= 12 for m in self.months):
            raise ValueError(f"months must be between 1 and 12, not {self.months}")
        bad = sorted(set(self.mapping) - set(FIELDS) - set(OPTIONAL_FIELDS))
        if bad:
            raise ValueError(f"--map field {bad[0]!r} is not one of {', '.join(FIELDS)}")
        if self.format == "baskets" and self.mapping:
            raise ValueError("--format baskets reads one receipt per line, with no columns to --map: "
                             "use --format lines with --map, or leave out --map")
        if self.max_rejected_share is not None and not 0 <= float(self.max_rejected_share) <= 1:
            raise ValueError(f"max_rejected_share must be between 0 and 1, not {self.max_rejected_share}")
        if self.since or self.until:
            self._check_dates()

    def _check_dates(self) -> None:
        import pandas as pd  # only for a date slice: options without one need no pandas

        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                try:
                    pd.Timestamp(value)
                except (ValueError, TypeError):
                    raise ValueError(f"--{name} {value!r} is not a date; use YYYY-MM-DD") from None
        if self.since and self.until and pd.Timestamp(self.since) > pd.Timestamp(self.until):
            raise ValueError(f"--since {self.since} is after --until {self.until}: the slice would be empty")

    @property
    def sliced(self) -> bool:
        """True when receipts are kept by date (``since``, ``until`` or ``months``)."""
        return bool(self.since or self.until or self.months)


@dataclass
class Accounting:
    """Where every input row went, and what the clean data holds."""

    path: str
    rows_read: int
    rows_used: int
    rows_rejected: dict
    warnings: dict
    n_receipts: int
    n_items: int
    n_lines: int
    n_customers: int
    stores: list
    date_min: str | None
    date_max: str | None
    format: str
    encoding: str | None
    sep: str | None
    decimal: str | None
    columns: dict
    sha256: str = ""

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_used + sum(self.rows_rejected.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_stores"] = len(self.stores)
        d["balanced"] = self.balanced
        return d



# ------------------------------------------------------------------ columns

def resolve_columns(columns, mapping: dict | None = None, path=None) -> dict:
    """Map canonical fields to the file's columns.

    Explicit ``mapping`` entries win; the rest are recognised by common names
    (case, spaces and underscores ignored). A value ``"A+B"`` names a composite
    key made of columns A and B.

    Returns
    -------
    dict
        field -> list of column names (one, or several for a composite key).

    Examples
    --------
    >>> resolve_columns(["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"])
    {'receipt_id': ['InvoiceNo'], 'sku': ['StockCode'], 'quantity': ['Quantity'], 'unit_price': ['UnitPrice'], 'timestamp': ['InvoiceDate'], 'customer_id': ['CustomerID']}
    >>> resolve_columns(["Member_number", "Date", "itemDescription"], {"receipt_id": "Member_number+Date"})["receipt_id"]
    ['Member_number', 'Date']

    With names and no product code, the name column is the item:

    >>> cols = resolve_columns(["小票号", "商品名称", "单价"])
    >>> cols["sku"], cols["name"]
    (['商品名称'], ['商品名称'])
    """
    columns = [str(c) for c in columns]
    out: dict = {}
    used: set = set()
    for fld, spec in (mapping or {}).items():
        spec = str(spec)
        parts = [spec] if spec in columns else [p.strip() for p in spec.split("+")]
        for part in parts:
            if part not in columns:
                raise InputError(f"--map {fld}={spec}: there is no column {part!r}", path=path, line=1,
                                 hint=f"the columns are: {', '.join(columns)}")
        out[fld] = parts
        used.update(parts)
    by_norm = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    for fld in FIELDS + OPTIONAL_FIELDS:
        if fld in out:
            continue
        for alias in _ALIASES[fld]:
            col = by_norm.get(_norm(alias))
            if col is not None and col not in used:
                out[fld] = [col]
                used.add(col)
                break
    if "sku" not in out and "name" in out:
        out["sku"] = out["name"]  # names only (no product code): the name is the item
    elif "name" not in out and "sku" in out and len(out["sku"]) == 1 and \
            _norm(out["sku"][0]) in {_norm(a) for a in _ALIASES["name"]}:
        out["name"] = out["sku"]  # the item column holds names (itemDescription, product_name)
    return {f: out[f] for f in FIELDS + OPTIONAL_FIELDS if f in out}


_SEP_FLAGS = {" ": "--sep ' '", "\t": "--sep tab", ",": "--sep ','", ";": "--sep ';'", "|": "--sep '|'"}


def implausible_read(acc: Accounting, baskets: bool, sample_lines, min_receipts: int = 20) -> dict:
    """Warnings (message -> count) for a read that looks wrong, each naming the likely fix.

    Two signs: every receipt holds exactly one line (a wrong separator makes
    each basket line one "item"; a line id mapped as the receipt id does the
    same to a table), and about as many distinct items as rows. Below
    ``min_receipts`` receipts nothing is judged. ``baskets``: the file holds one
    basket per line; ``sample_lines()`` then gives its first 200 distinct lines.
    """
    out: dict = {}
    if acc.n_receipts < min_receipts:
        return out
    if acc.n_lines == acc.n_receipts:
        if baskets:
            sample = sample_lines()
            share = {s: sum(len([x for x in ln.split(s) if x.strip()]) > 1 for ln in sample) / max(len(sample), 1)
                     for s in _SEP_FLAGS if s != acc.sep}
            best = max(share, key=share.get) if share else None
            fix = (f"the lines split by {best!r}: try {_SEP_FLAGS[best]}" if best and share[best] >= 1 / 3
                   else "check the separator with --sep")
            out[f"implausible read: every receipt has one item (items split by {acc.sep!r}); {fix}"] = acc.n_receipts
        else:
            col = acc.columns.get("receipt_id", "?")
            out[f"implausible read: every receipt has one item (receipt id from column {col!r}); if a receipt "
                f"spans several rows, map its column with --map receipt_id=COLUMN; if each line holds a whole "
                f"basket, use --format baskets"] = acc.n_receipts
    elif acc.n_items >= 0.9 * acc.rows_used:
        out[f"implausible read: {acc.n_items:,} items for {acc.rows_used:,} rows (almost every row a different "
            f"item); check the item column (--map sku=COLUMN, read from {acc.columns.get('sku', '?')!r}) and the "
            f"separator (--sep, read as {acc.sep!r})"] = acc.n_items
    return out
