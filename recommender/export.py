"""Staff lists of bundles: CSV, Excel, printable shelf cards (HTML), and a till promotion file.

In: a bundles DataFrame, one row per bundle (and store), with at least
``bundle_id``, ``items`` (SKUs: tuple/list or JSON array), ``names`` and
``names_zh`` (tuple/list, JSON array or text), ``regular_price``,
``bundle_price``, ``saving``, ``reason_en``, ``reason_zh``, ``recommended``;
optionally ``store``, ``anchor``, ``discount_type``, ``approved``,
``valid_from``, ``valid_to`` and ``components`` (the split of the bundle price
from :attr:`recommender.pricing.PriceDecision.components`: list of dicts or a
JSON array). Out: one file, written atomically (a temporary file in the same
folder, then :func:`os.replace`), so a reader never sees half a list.

Staff formats (``csv``, ``xlsx``, ``html``), one row / card per bundle:
bundle id, store, SKU codes, names, regular price, bundle price, saving, free
gift and what it is worth, the offer in one line, reason line, valid from/to.
Headers (readable words, :data:`HEADERS_EN` / :data:`HEADERS_ZH`) and names
follow ``lang`` ("en" or "zh"). A gift offer is sold at its regular price plus
a free item: it has no regular price or saving beside its price, and reads
"free GIFT NAME (worth X)"; a discount offer shows was, now and the saving.

* CSV: UTF-8 with a byte-order mark, so Excel shows Chinese correctly.
* XLSX: bold header row, fitted column widths, money as numbers in a currency
  format (``"£"#,##0.00`` for GBP; no symbol when the currency is unknown), validity as real dates (``yyyy-mm-dd``).
* HTML: printable shelf cards, eight to an A4 page (two columns, print CSS),
  grouped by store with one store per page. Till offers (``discount_type =
  till_addon``) get no shelf card: each store's page lists them under "Till
  prompts" (what the till says, its price and SKUs).

The staff formats carry an ``offer_type`` column (the bundles'
``discount_type``: ``percent_off``, ``gift``, ``till_addon``, ``mix_match``
...) when the bundles have one.

An unknown ``store`` or a validity period that ends before it starts is an
:class:`InputError`. Files get the user's usual permissions (umask), not 0600.

Amounts follow the bundles' ``currency`` (an ISO 4217 code; see
:mod:`recommender.money`), with no symbol when none is known. When any
bundle's costs were assumed (``cost_source == "assumed"``, a till export
without a product master) the staff formats carry a ``cost_source`` column and
the printable page opens with a notice.

``pos`` (a CSV in UTF-8 without BOM, for till import), one row per component:

================ ======= ================================================================
promotion_id     text    the bundle id (unique per store)
sku              text    component SKU
quantity         int     units of the SKU the deal needs
promotion_price  decimal amount the till charges for those ``quantity`` units inside the
                         deal (a line amount, 2 decimals); a gift's is 0.00. The
                         components of one promotion sum to the bundle price exactly, to
                         the cent.
mix_match_group  text    ``MM-<bundle_id>``: the deal applies when every component of
                         the group is on the ticket
valid_from       date    ISO date (YYYY-MM-DD), empty when open-ended
valid_to         date    ISO date, empty when open-ended
store            text    store id, empty for every store
trigger          text    ``ticket``: the deal applies to every ticket holding the group;
                         ``till_prompt``: a till offer (``discount_type = till_addon``),
                         applied only when the till offered the add-on to a basket holding
                         the anchor without it (a ticket that already held the set is
                         not given it: that is what its projection assumes);
                         ``any_2``: a mix & match (``discount_type = mix_match``): any
                         ``quantity`` (2) units of the group's SKUs, mixed as the
                         customer likes, cost ``promotion_price`` together (the same on
                         every row of the group; these rows do not sum to it)
================ ======= ================================================================

Formula injection: any text cell starting with ``=``, ``+``, ``-``, ``@``, a tab,
CR or LF is prefixed with a single quote ``'`` (in CSV, XLSX and the pos file),
so a spreadsheet shows it as text instead of running it; XLSX cells are
written as plain strings. No customer identifier is ever written: tables are
built from the named columns only.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from recommender.atomic import file_mode
from recommender.errors import InputError
from recommender.money import check_currency, currency_symbol, format_money
from recommender.reasons import saving_text
from recommender.spreadsheet import LINE_END, neutralise, safe_frame

FORMATS = ("csv", "xlsx", "html", "pos")
SELECTIONS = ("recommended", "all", "approved")
STAFF_COLUMNS = ("bundle_id", "store", "skus", "names", "regular_price", "bundle_price", "saving", "gift",
                 "gift_value", "offer", "reason", "valid_from", "valid_to")
POS_COLUMNS = ("promotion_id", "sku", "quantity", "promotion_price", "mix_match_group", "valid_from", "valid_to",
               "store", "trigger")
MONEY_COLUMNS = ("regular_price", "bundle_price", "saving", "gift_value", "promotion_price")
DATE_COLUMNS = ("valid_from", "valid_to")
#: Staff headers, as a person reads them (the till file keeps its machine names).
HEADERS_EN = {"bundle_id": "Bundle", "store": "Store", "skus": "SKUs", "names": "Products",
              "regular_price": "Regular price", "bundle_price": "Bundle price", "saving": "Saving",
              "gift": "Free gift", "gift_value": "Gift worth", "offer": "Offer", "reason": "Reason to buy",
              "valid_from": "Valid from", "valid_to": "Valid to", "cost_source": "Cost", "offer_type": "Offer type",
              "approval_reason": "Approved although not recommended, because"}
HEADERS_ZH = {"bundle_id": "套餐编号", "store": "门店", "skus": "商品编码", "names": "商品名称",
              "regular_price": "原价", "bundle_price": "套餐价", "saving": "立省", "reason": "推荐理由",
              "valid_from": "开始日期", "valid_to": "结束日期", "cost_source": "成本来源", "offer_type": "优惠类型",
              "approval_reason": "未推荐仍批准的理由"}
#: The notice a staff list opens with when costs were assumed.
ASSUMED_COST_NOTICE = {"en": "Costs are assumed (no unit cost in a catalog): check these offers against real costs "
                             "before launch.",
                       "zh": "成本为估算值（商品资料中没有进价）：上线前请按实际成本核对这些套餐。"}
_REQUIRED = ("bundle_id", "items", "regular_price", "bundle_price", "saving")


# --------------------------------------------------------------------------- parsing


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_list(v) -> list:
    if _missing(v):
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            try:
                return [str(x) for x in json.loads(s)]
            except json.JSONDecodeError:
                pass
        return [s] if s else []
    return [str(x) for x in v]


def _components(v, bundle_id) -> list:
    if isinstance(v, (list, tuple)):
        return [dict(c) for c in v]
    if _missing(v):
        return []
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            raise InputError(f"bundle {bundle_id}: components is not a JSON array") from None
    return [dict(c) for c in v]


def _date(v) -> str:
    if _missing(v) or v == "":
        return ""
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return pd.Timestamp(v).date().isoformat()
    try:
        return pd.Timestamp(str(v)).date().isoformat()
    except (ValueError, TypeError):
        raise InputError(f"not a date: {v!r}", hint="use YYYY-MM-DD") from None


def _cents(x) -> int:
    return int(math.floor(float(x) * 100 + 0.5 + 1e-7))


def _truthy(v) -> bool:
    if _missing(v):
        return False
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "y", "t", "是")
    return bool(v)


def _require(bundles: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED if c not in bundles.columns]
    if missing:
        raise InputError(f"the bundles table has no {', '.join(missing)} column(s)",
                         hint="export the output of `recommender bundles`")


def select_bundles(bundles: pd.DataFrame, *, store=None, selection="recommended") -> pd.DataFrame:
    """The rows to export: one store (or all) and the recommended / approved / all bundles.

    >>> df = pd.DataFrame({"bundle_id": ["a", "b"], "store": ["s1", "s2"], "recommended": [True, False]})
    >>> list(select_bundles(df)["bundle_id"]), list(select_bundles(df, selection="all", store="s2")["bundle_id"])
    (['a'], ['b'])
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, not {selection!r}")
    out = bundles
    if store is not None:
        if "store" not in out.columns:
            raise InputError("the bundles table has no store column", hint="leave out --store")
        known = sorted(out["store"].dropna().astype(str).unique().tolist())
        if str(store) not in known:
            raise InputError(f"no bundles for store {str(store)!r}",
                             hint=f"the stores in this list are: {', '.join(known[:20]) or '(none)'}"
                                  + (" ..." if len(known) > 20 else ""))
        out = out[out["store"].astype("string") == str(store)]
    if selection != "all":
        if selection not in out.columns:
            raise InputError(f"the bundles table has no {selection!r} column",
                             hint="approve bundles in the dashboard first, or use --selection all"
                             if selection == "approved" else "use --selection all")
        out = out[out[selection].map(_truthy).astype(bool)]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- tables


def _is_gift(r) -> bool:
    return str(r.get("discount_type") or "") == "gift"


def _gift(r, lang) -> tuple[str, float]:
    """(name, worth) of a gift offer's free item: the bundle's gift columns, else its gift component."""
    comps = [c for c in _components(r.get("components"), r["bundle_id"]) if c.get("role") == "gift"]
    name = None if lang != "zh" else r.get("gift_name_zh")
    name = name if not _missing(name) else r.get("gift_name")
    if _missing(name):
        name = comps[0]["sku"] if comps else r.get("gift_sku")
    value = r.get("gift_value")
    if _missing(value):
        if comps:
            c = comps[0]
            value = c.get("regular_amount", float(c.get("unit_price", 0)) * float(c.get("quantity", 1)))
        else:
            value = r["saving"]
    return ("" if _missing(name) else str(name)), round(float(value), 2)


def money(value, currency=None, lang="en") -> str:
    """A price as printed for staff: the currency's symbol (an ISO 4217 code; none: no symbol) and two decimals.

    >>> money(84.8, "CNY", "zh"), money(1234.5, "GBP"), money(3)
    ('¥84.80', '£1,234.50', '3.00')
    """
    return format_money(value, currency, lang)


def offer_text(row: dict, lang="en", currency=None) -> str:
    """What the offer is, in one line: "free GIFT (worth X)" for a gift, else was / now / saving.

    >>> offer_text({"bundle_price": 84.8, "gift": "first-aid pouch", "gift_value": 6.0}, currency="GBP")
    'free first-aid pouch (worth £6.00)'
    >>> offer_text({"bundle_price": 68.0, "regular_price": 80.0, "saving": 12.0, "gift": ""})
    'was 80.00, now 68.00, save 12.00 (15%)'
    >>> offer_text({"bundle_price": 68.0, "regular_price": 80.0, "saving": 12.0, "gift": ""}, "zh", "CNY")
    '原价¥80.00，现价¥68.00，立省¥12.00（15%）'
    >>> offer_text({"bundle_price": 3.0, "regular_price": 3.3, "saving": 0.3, "gift": "", "offer_type": "mix_match"},
    ...            currency="GBP")
    'any 2 for £3.00 (2 at £3.30, save £0.30)'
    """
    if row.get("offer_type") == "mix_match":
        was, now, save = (money(row[k], currency, lang) for k in ("regular_price", "bundle_price", "saving"))
        if lang == "en":
            return f"any 2 for {now} (2 at {was}, save {save})"
        return f"任选2件{now}（2件原价{was}，立省{save}）"
    if row.get("gift"):
        worth = money(row["gift_value"], currency, lang)
        return f"free {row['gift']} (worth {worth})" if lang == "en" else f"送{row['gift']}（价值{worth}）"
    was, now, save = (money(row[k], currency, lang) for k in ("regular_price", "bundle_price", "saving"))
    pct = int(_cents(row["saving"]) * 100 // max(_cents(row["regular_price"]), 1))
    if lang == "en":
        return f"was {was}, now {now}, save {save}" + (f" ({pct}%)" if pct >= 1 else "")
    return f"原价{was}，现价{now}，立省{save}" + (f"（{pct}%）" if pct >= 1 else "")


def staff_table(bundles: pd.DataFrame, *, store=None, lang="en", selection="recommended", valid_from=None,
                valid_to=None, currency=None) -> pd.DataFrame:
    """One row per bundle with :data:`STAFF_COLUMNS` (names, offer and reason in ``lang``).

    A gift offer has no regular price or saving (its price is the items'
    regular price): ``gift`` names the free item and ``gift_value`` what it is
    worth. A discount offer has the regular price, the bundle price and the
    saving. ``offer`` says it in one line (:func:`offer_text`). Text is
    returned as it is (neutralised only when written to a file).

    >>> df = pd.DataFrame({"bundle_id": ["b1"], "items": [("1", "2")], "names": [("shirt", "tie")],
    ...     "names_zh": [("衬衫", "领带")], "regular_price": [80.0], "bundle_price": [68.0], "saving": [12.0],
    ...     "reason_en": ["Complete the look"], "reason_zh": ["一套搭齐"], "recommended": [True]})
    >>> staff_table(df, lang="zh").loc[0, ["skus", "names", "reason"]].tolist()
    ['1, 2', '衬衫 + 领带', '一套搭齐']
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', not {lang!r}")
    _require(bundles)
    _check_validity(valid_from, valid_to)
    currency = check_currency(currency) or _table_currency(bundles)
    rows = select_bundles(bundles, store=store, selection=selection)
    out = []
    for r in rows.to_dict("records"):
        names = _as_list(r.get("names_zh")) if lang == "zh" else []
        names = names or _as_list(r.get("names")) or _as_list(r.get("items"))
        reason = r.get(f"reason_{lang}")
        gift, worth = _gift(r, lang) if _is_gift(r) else ("", math.nan)
        row = {
            "bundle_id": str(r["bundle_id"]),
            "store": "" if _missing(r.get("store")) else str(r["store"]),
            "skus": ", ".join(_as_list(r["items"])),
            # a mix & match is any 2 of these, not all of them
            "names": (" / " if str(r.get("discount_type")) == "mix_match" else " + ").join(names),
            # a gift offer is sold at the regular price: no "was" beside it, no saving off the price
            "regular_price": math.nan if gift else round(float(r["regular_price"]), 2),
            "bundle_price": round(float(r["bundle_price"]), 2),
            "saving": math.nan if gift else round(float(r["saving"]), 2),
            "gift": gift, "gift_value": worth,
            "reason": "" if _missing(reason) else str(reason),
            "valid_from": _date(valid_from if valid_from is not None else r.get("valid_from")),
            "valid_to": _date(valid_to if valid_to is not None else r.get("valid_to")),
            "cost_source": "" if _missing(r.get("cost_source")) else str(r["cost_source"]),
            "approval_reason": "" if _missing(r.get("approval_reason")) else str(r["approval_reason"]),
            "offer_type": "" if _missing(r.get("discount_type")) else str(r["discount_type"]),
        }
        _check_validity(row["valid_from"], row["valid_to"], row["bundle_id"])
        row["offer"] = offer_text(row, lang, currency)
        out.append(row)
    columns = list(STAFF_COLUMNS)
    if "discount_type" in rows.columns:
        columns.append("offer_type")  # a till prompt or a mix & match is handled unlike a shelf offer
    if any(o["cost_source"] == "assumed" for o in out):
        columns.append("cost_source")  # say it on every row where it matters
    if any(o["approval_reason"] for o in out):
        columns.append("approval_reason")  # an offer approved against the recommendation says why
    # each column is listed once even when it is shown (a duplicate column cannot be displayed or written)
    return pd.DataFrame(out, columns=list(dict.fromkeys(columns + ["cost_source", "approval_reason", "offer_type"])))[
        columns]


def _check_validity(valid_from, valid_to, bundle_id=None) -> None:
    """An inverted validity period is an input error (it would print a card nobody can use)."""
    start, end = _date(valid_from), _date(valid_to)
    if start and end and start > end:
        what = f"bundle {bundle_id}: " if bundle_id else ""
        raise InputError(f"{what}valid from {start} is after valid to {end}",
                         hint="swap --valid-from and --valid-to, or fix the dates")


def pos_table(bundles: pd.DataFrame, *, store=None, selection="recommended", valid_from=None,
              valid_to=None) -> pd.DataFrame:
    """One row per bundle component, :data:`POS_COLUMNS` (schema in the module docstring).

    Components come from the ``components`` column; without it the bundle price
    is split across ``items`` in proportion to ``item_prices`` (regular line
    amounts). Raises :class:`InputError` if a bundle's components do not sum to
    its bundle price to the cent.

    >>> df = pd.DataFrame({"bundle_id": ["b1"], "items": [["1", "2"]], "regular_price": [30.0],
    ...     "bundle_price": [25.0], "saving": [5.0], "recommended": [True], "item_prices": [[20.0, 10.0]]})
    >>> pos_table(df)[["sku", "promotion_price"]].values.tolist()
    [['1', 16.67], ['2', 8.33]]
    """
    from recommender.pricing import split_amount

    _require(bundles)
    rows = select_bundles(bundles, store=store, selection=selection)
    out = []
    seen = set()
    for r in rows.to_dict("records"):
        bid = str(r["bundle_id"])
        st = "" if _missing(r.get("store")) else str(r["store"])
        if (st, bid) in seen:
            raise InputError(f"bundle id {bid!r} appears twice for store {st or '(all)'!r}",
                             hint="a till promotion id must be unique per store")
        seen.add((st, bid))
        if str(r.get("discount_type")) == "mix_match":
            # any 2 units of the family: one row per SKU of the group, each with the price of the 2 units
            for sku in _as_list(r["items"]):
                out.append({
                    "promotion_id": bid, "sku": sku, "quantity": 2, "promotion_price": _cents(r["bundle_price"]) / 100,
                    "mix_match_group": f"MM-{bid}",
                    "valid_from": _date(valid_from if valid_from is not None else r.get("valid_from")),
                    "valid_to": _date(valid_to if valid_to is not None else r.get("valid_to")), "store": st,
                    "trigger": "any_2"})
            continue
        comps = _components(r.get("components"), bid)
        if not comps:
            skus = _as_list(r["items"])
            prices = r.get("item_prices")
            if not isinstance(prices, (list, tuple)) and _missing(prices):
                raise InputError(f"bundle {bid}: no components and no item_prices to split the bundle price",
                                 hint="export the output of `recommender bundles`")
            prices = json.loads(prices) if isinstance(prices, str) else list(prices)
            split = split_amount(float(r["bundle_price"]), prices)
            comps = [{"sku": s, "quantity": 1, "promotion_price": p} for s, p in zip(skus, split)]
        total = sum(_cents(c["promotion_price"]) for c in comps)
        if total != _cents(r["bundle_price"]):
            raise InputError(f"bundle {bid}: components sum to {total / 100:.2f}, not the bundle price "
                             f"{float(r['bundle_price']):.2f}", hint="price the bundle again")
        for c in comps:
            out.append({
                "promotion_id": bid, "sku": str(c["sku"]), "quantity": int(c.get("quantity", 1)),
                "promotion_price": _cents(c["promotion_price"]) / 100, "mix_match_group": f"MM-{bid}",
                "valid_from": _date(valid_from if valid_from is not None else r.get("valid_from")),
                "valid_to": _date(valid_to if valid_to is not None else r.get("valid_to")), "store": st,
                "trigger": "till_prompt" if str(r.get("discount_type")) == "till_addon" else "ticket",
            })
    return pd.DataFrame(out, columns=list(POS_COLUMNS))


# --------------------------------------------------------------------------- writers


def _atomic_write(out: Path, write) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, file_mode())  # the user's usual permissions, not mkstemp's private 0600
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return safe_frame(frame)  # the one neutralisation every spreadsheet writer uses


def _headers(columns, lang):
    names = HEADERS_ZH if lang == "zh" else HEADERS_EN
    return [names.get(c, c) for c in columns]


def _write_csv(frame, path, bom=True):
    frame.to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8", float_format="%.2f",
                 lineterminator=LINE_END)  # CRLF: a CR inside a cell is quoted, not a row break


def _display_width(value) -> int:
    s = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)  # CJK takes two columns


def currency_format(currency=None, lang="en") -> str:
    """Excel number format showing the currency's symbol (ISO 4217 code) before a two-decimal amount.

    >>> currency_format("CNY", "zh"), currency_format(None), currency_format("GBP")
    ('"¥"#,##0.00', '#,##0.00', '"£"#,##0.00')
    """
    symbol = currency_symbol(currency, lang)
    if not symbol:
        return "#,##0.00"
    return '"' + symbol.replace('"', '""') + '"#,##0.00'


def _write_xlsx(frame: pd.DataFrame, path: Path, lang: str, currency=None) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "bundles"
    headers = _headers(frame.columns, lang)
    for j, h in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=j, value=str(h))
        cell.data_type = "s"
        cell.font = Font(bold=True)
    money = {j for j, c in enumerate(frame.columns, start=1) if c in MONEY_COLUMNS}
    dates = {j for j, c in enumerate(frame.columns, start=1) if c in DATE_COLUMNS}
    money_format = currency_format(currency, lang)
    for i, rec in enumerate(frame.itertuples(index=False), start=2):
        for j, v in enumerate(rec, start=1):
            if _missing(v) or (j in dates and v == ""):
                continue
            if j in dates:  # a real date cell, not text: it sorts and filters as a date
                cell = ws.cell(row=i, column=j, value=dt.date.fromisoformat(str(v)))
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(v, str):
                cell = ws.cell(row=i, column=j, value=neutralise(v))
                cell.data_type = "s"  # never a formula, whatever the text
            else:
                cell = ws.cell(row=i, column=j, value=v.item() if hasattr(v, "item") else v)
                if j in money:
                    cell.number_format = money_format
    for j, col in enumerate(frame.columns, start=1):
        widest = max([_display_width(headers[j - 1])] + [_display_width(v) for v in frame[col].tolist()])
        ws.column_dimensions[get_column_letter(j)].width = min(60, widest + 2)
    ws.freeze_panes = "A2"
    wb.save(path)


_CSS = """
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; }
section.store { break-after: page; page-break-after: always; }
section.store:last-of-type { break-after: auto; page-break-after: auto; }
h1 { font-size: 13pt; margin: 0 0 3mm 0; }
.cards { display: grid; grid-template-columns: repeat(2, 1fr); gap: 4mm; }
.card { border: 0.6mm solid #1f5fbf; border-radius: 2mm; height: 62mm; padding: 3mm 4mm; overflow: hidden;
        break-inside: avoid; page-break-inside: avoid; display: flex; flex-direction: column; gap: 1mm; }
.names { font-weight: bold; font-size: 12pt; line-height: 1.2; max-height: 3.6em; overflow: hidden; }
.price { display: flex; align-items: baseline; gap: 3mm; flex-wrap: wrap; }
.price .bundle { font-size: 22pt; font-weight: bold; }
.price .regular { text-decoration: line-through; color: #555; font-size: 11pt; }
.saving, .gift { color: #b00000; font-weight: bold; font-size: 11pt; }
.reason { font-size: 8.5pt; line-height: 1.25; margin: 0; flex: 1; overflow: hidden; }
.meta { font-size: 7pt; color: #555; }
@media screen { body { margin: 10mm; } .cards { max-width: 190mm; } }
.notice { border: 0.6mm solid #b00000; padding: 3mm; font-weight: bold; }
.till { margin-top: 5mm; break-inside: avoid; }
h2 { font-size: 11pt; margin: 0 0 1mm 0; }
.till-prompts { font-size: 9pt; line-height: 1.35; margin: 1mm 0 0 0; padding-left: 6mm; }
"""


def _html(frame: pd.DataFrame, lang: str, currency=None, notice=None) -> str:
    e = lambda v: html.escape("" if v is None else str(v), quote=True)  # noqa: E731
    t = {"en": {"title": "Bundle shelf cards", "store": "Store", "all": "All stores", "was": "was",
                "valid": "valid", "sku": "SKU", "free": "free", "worth": "worth", "till": "Till prompts",
                "till_note": "Not shelf cards: the till offers these to a basket holding the first item without "
                             "the add-on."},
         "zh": {"title": "套餐货架卡", "store": "门店", "all": "所有门店", "was": "原价", "valid": "有效期",
                "sku": "商品编码", "free": "送", "worth": "价值", "till": "收银加购提示",
                "till_note": "不做货架卡：收银时对含首件商品但没有加购商品的购物篮提示。"}}[lang]
    parts = [f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
             f"<title>{e(t['title'])}</title><style>{_CSS}</style></head><body>"]
    if notice:
        parts.append(f'<p class="notice" role="note">{e(notice)}</p>')
    for store, group in frame.groupby("store", sort=True):
        label = f"{t['store']} {store}" if store else t["all"]
        parts.append(f'<section class="store" data-store="{e(store)}"><h1>{e(label)}</h1><div class="cards">')
        records = group.to_dict("records")
        # a till offer is said by the till to a basket holding the anchor, never put on a shelf
        till = [r for r in records if r.get("offer_type") == "till_addon"]
        for r in (r for r in records if r.get("offer_type") != "till_addon"):
            price = money(r["bundle_price"], currency, lang)
            valid = " – ".join(v for v in (r["valid_from"], r["valid_to"]) if v)
            if r["gift"]:  # sold at its regular price, plus a free item: nothing to strike through
                worth = money(r["gift_value"], currency, lang)
                kind, extra = "gift", (f'<div class="gift">{e(t["free"])} {e(r["gift"])} '
                                       f'({e(t["worth"])} {e(worth)})</div>' if lang == "en" else
                                       f'<div class="gift">{e(t["free"])}{e(r["gift"])}（{e(t["worth"])}{e(worth)}）</div>')
                was = ""
            else:
                kind = "mix_match" if r.get("offer_type") == "mix_match" else "discount"
                saving = saving_text(r["saving"], r["regular_price"], lang, currency) if r["saving"] > 0 else ""
                was = f' <span class="regular">{e(t["was"])} {e(money(r["regular_price"], currency, lang))}</span>'
                extra = f'<div class="saving">{e(saving)}</div>'
            parts.append(
                f'<div class="card" data-bundle="{e(r["bundle_id"])}" data-kind="{kind}">'
                f'<div class="names">{e(r["names"])}</div>'
                f'<div class="price"><span class="bundle">{e(price)}</span>{was}</div>'
                f'{extra}<p class="reason">{e(r["reason"])}</p>'
                f'<div class="meta">{e(r["bundle_id"])} · {e(t["sku"])} {e(r["skus"])}'
                + (f" · {e(t['valid'])} {e(valid)}" if valid else "") + "</div></div>")
        parts.append("</div>")
        if till:
            parts.append(f'<div class="till"><h2>{e(t["till"])}</h2><p class="meta">{e(t["till_note"])}</p>'
                         '<ol class="till-prompts">')
            for r in till:
                valid = " – ".join(v for v in (r["valid_from"], r["valid_to"]) if v)
                parts.append(f'<li class="till-prompt" data-bundle="{e(r["bundle_id"])}">{e(r["reason"])} '
                             f'<span class="meta">({e(money(r["bundle_price"], currency, lang))} · '
                             f'{e(r["bundle_id"])} · {e(t["sku"])} {e(r["skus"])}'
                             + (f" · {e(t['valid'])} {e(valid)}" if valid else "") + ")</span></li>")
            parts.append("</ol></div>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _table_currency(bundles: pd.DataFrame):
    if "currency" not in bundles.columns:
        return None
    codes = {check_currency(c) for c in bundles["currency"] if not _missing(c)} - {None}
    return codes.pop() if len(codes) == 1 else None


def export_bundles(bundles: pd.DataFrame, fmt: str, out, *, store=None, lang="en", selection="recommended",
                   valid_from=None, valid_to=None, currency=None) -> Path:
    """Write the staff list (or till file) of bundles and return its path.

    Parameters
    ----------
    bundles : DataFrame
        See the module docstring.
    fmt : {"csv", "xlsx", "html", "pos"}
    out : str or Path
        File to write (replaced atomically; folders are created).
    store : str, optional
        Only this store's bundles.
    lang : {"en", "zh"}
        Language of headers, names and reason lines (not used by ``pos``).
    selection : {"recommended", "all", "approved"}
    valid_from, valid_to : date or str, optional
        Validity for every bundle (else the table's own columns, else empty).
    currency : str, optional
        ISO 4217 code of the amounts on shelf cards, in the offer line and in
        the XLSX money format; default the bundles' ``currency`` column; none
        known: no symbol.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> df = pd.DataFrame({"bundle_id": ["b1"], "items": [["1", "2"]], "names": [["=cmd", "tie"]],
    ...     "regular_price": [80.0], "bundle_price": [68.0], "saving": [12.0], "reason_en": ["Save"],
    ...     "reason_zh": ["省"], "recommended": [True]})
    >>> p = export_bundles(df, "csv", pathlib.Path(tempfile.mkdtemp()) / "b.csv")
    >>> print(p.read_text(encoding="utf-8-sig").splitlines()[1])
    b1,,"1, 2",'=cmd + tie,80.00,68.00,12.00,,,"was 80.00, now 68.00, save 12.00 (15%)",Save,,
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = Path(out)
    _check_validity(valid_from, valid_to)
    currency = check_currency(currency) or _table_currency(bundles)
    if fmt == "pos":
        table = pos_table(bundles, store=store, selection=selection, valid_from=valid_from, valid_to=valid_to)
    else:
        table = staff_table(bundles, store=store, lang=lang, selection=selection, valid_from=valid_from,
                            valid_to=valid_to, currency=currency)
    assert not any("customer" in str(c).lower() for c in table.columns)  # built from named columns only
    if fmt == "csv":
        safe = _safe_frame(table)
        safe.columns = _headers(table.columns, lang)
        return _atomic_write(out, lambda p: _write_csv(safe, p))
    if fmt == "pos":
        return _atomic_write(out, lambda p: _write_csv(_safe_frame(table), p, bom=False))
    if fmt == "xlsx":
        return _atomic_write(out, lambda p: _write_xlsx(table, p, lang, currency))
    assumed = "cost_source" in table.columns
    text = _html(table, lang, currency, ASSUMED_COST_NOTICE[lang] if assumed else None)
    return _atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
