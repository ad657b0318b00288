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
bundle id, SKU codes, names, regular price, bundle price, saving, reason line,
valid from/to, store. Headers and names follow ``lang`` ("en" or "zh").

* CSV: UTF-8 with a byte-order mark, so Excel shows Chinese correctly.
* XLSX: bold header row, fitted column widths, money as numbers with format 0.00.
* HTML: printable; one page per store (CSS page break), one shelf card per bundle.

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

from recommender.errors import InputError
from recommender.reasons import saving_text
from recommender.spreadsheet import LINE_END, neutralise, safe_frame

FORMATS = ("csv", "xlsx", "html", "pos")
SELECTIONS = ("recommended", "all", "approved")
STAFF_COLUMNS = ("bundle_id", "store", "skus", "names", "regular_price", "bundle_price", "saving", "reason",
                 "valid_from", "valid_to")
POS_COLUMNS = ("promotion_id", "sku", "quantity", "promotion_price", "mix_match_group", "valid_from", "valid_to",
               "store")
MONEY_COLUMNS = ("regular_price", "bundle_price", "saving", "promotion_price")
HEADERS_ZH = {"bundle_id": "套餐编号", "store": "门店", "skus": "商品编码", "names": "商品名称",
              "regular_price": "原价", "bundle_price": "套餐价", "saving": "立省", "reason": "推荐理由",
              "valid_from": "开始日期", "valid_to": "结束日期"}
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
        out = out[out["store"].astype("string") == str(store)]
    if selection != "all":
        if selection not in out.columns:
            raise InputError(f"the bundles table has no {selection!r} column",
                             hint="approve bundles in the dashboard first, or use --selection all"
                             if selection == "approved" else "use --selection all")
        out = out[out[selection].map(_truthy).astype(bool)]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- tables


def staff_table(bundles: pd.DataFrame, *, store=None, lang="en", selection="recommended", valid_from=None,
                valid_to=None) -> pd.DataFrame:
    """One row per bundle with :data:`STAFF_COLUMNS` (names and reason in ``lang``).

    Text is returned as it is (neutralised only when written to a file).

    >>> df = pd.DataFrame({"bundle_id": ["b1"], "items": [("1", "2")], "names": [("shirt", "tie")],
    ...     "names_zh": [("衬衫", "领带")], "regular_price": [80.0], "bundle_price": [68.0], "saving": [12.0],
    ...     "reason_en": ["Complete the look"], "reason_zh": ["一套搭齐"], "recommended": [True]})
    >>> staff_table(df, lang="zh").loc[0, ["skus", "names", "reason"]].tolist()
    ['1, 2', '衬衫 + 领带', '一套搭齐']
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', not {lang!r}")
    _require(bundles)
    rows = select_bundles(bundles, store=store, selection=selection)
    out = []
    for r in rows.to_dict("records"):
        names = _as_list(r.get("names_zh")) if lang == "zh" else []
        names = names or _as_list(r.get("names")) or _as_list(r.get("items"))
        reason = r.get(f"reason_{lang}")
        out.append({
            "bundle_id": str(r["bundle_id"]),
            "store": "" if _missing(r.get("store")) else str(r["store"]),
            "skus": ", ".join(_as_list(r["items"])),
            "names": " + ".join(names),
            "regular_price": round(float(r["regular_price"]), 2),
            "bundle_price": round(float(r["bundle_price"]), 2),
            "saving": round(float(r["saving"]), 2),
            "reason": "" if _missing(reason) else str(reason),
            "valid_from": _date(valid_from if valid_from is not None else r.get("valid_from")),
            "valid_to": _date(valid_to if valid_to is not None else r.get("valid_to")),
        })
    return pd.DataFrame(out, columns=list(STAFF_COLUMNS))


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
            })
    return pd.DataFrame(out, columns=list(POS_COLUMNS))


# --------------------------------------------------------------------------- writers


def _atomic_write(out: Path, write) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return safe_frame(frame)  # the one neutralisation every spreadsheet writer uses


def _headers(columns, lang):
    return [HEADERS_ZH.get(c, c) if lang == "zh" else c for c in columns]


def _write_csv(frame, path, bom=True):
    frame.to_csv(path, index=False, encoding="utf-8-sig" if bom else "utf-8", float_format="%.2f",
                 lineterminator=LINE_END)  # CRLF: a CR inside a cell is quoted, not a row break


def _display_width(value) -> int:
    s = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)  # CJK takes two columns


def _write_xlsx(frame: pd.DataFrame, path: Path, lang: str) -> None:
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
    for i, rec in enumerate(frame.itertuples(index=False), start=2):
        for j, v in enumerate(rec, start=1):
            if _missing(v):
                continue
            if isinstance(v, str):
                cell = ws.cell(row=i, column=j, value=neutralise(v))
                cell.data_type = "s"  # never a formula, whatever the text
            else:
                cell = ws.cell(row=i, column=j, value=v.item() if hasattr(v, "item") else v)
                if j in money:
                    cell.number_format = "0.00"
    for j, col in enumerate(frame.columns, start=1):
        widest = max([_display_width(headers[j - 1])] + [_display_width(v) for v in frame[col].tolist()])
        ws.column_dimensions[get_column_letter(j)].width = min(60, widest + 2)
    ws.freeze_panes = "A2"
    wb.save(path)


_CSS = """
body { font-family: "Noto Sans", "PingFang SC", "Microsoft YaHei", sans-serif; margin: 1cm; }
section.store { break-after: page; page-break-after: always; }
section.store:last-of-type { break-after: auto; page-break-after: auto; }
.cards { display: flex; flex-wrap: wrap; gap: 0.5cm; }
.card { border: 1px dashed #666; width: 8.5cm; padding: 0.4cm; break-inside: avoid; page-break-inside: avoid; }
.names { font-weight: bold; font-size: 14pt; }
.price .regular { text-decoration: line-through; color: #666; }
.price .bundle { font-size: 22pt; font-weight: bold; }
.saving { color: #b00; font-weight: bold; }
.meta { font-size: 8pt; color: #555; }
"""


def _html(frame: pd.DataFrame, lang: str, currency: str) -> str:
    e = lambda v: html.escape("" if v is None else str(v), quote=True)  # noqa: E731
    t = {"en": {"title": "Bundle shelf cards", "store": "Store", "all": "All stores", "was": "was",
                "valid": "valid", "sku": "SKU"},
         "zh": {"title": "套餐货架卡", "store": "门店", "all": "所有门店", "was": "原价", "valid": "有效期",
                "sku": "商品编码"}}[lang]
    parts = [f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
             f"<title>{e(t['title'])}</title><style>{_CSS}</style></head><body>"]
    for store, group in frame.groupby("store", sort=True):
        label = f"{t['store']} {store}" if store else t["all"]
        parts.append(f'<section class="store" data-store="{e(store)}"><h1>{e(label)}</h1><div class="cards">')
        for r in group.to_dict("records"):
            saving = (saving_text(r["saving"], r["regular_price"], lang, currency)
                      if r["saving"] > 0 else "")
            valid = " – ".join(v for v in (r["valid_from"], r["valid_to"]) if v)
            parts.append(
                f'<div class="card" data-bundle="{e(r["bundle_id"])}">'
                f'<div class="names">{e(r["names"])}</div>'
                f'<div class="price"><span class="bundle">{e(currency)}{r["bundle_price"]:.2f}</span> '
                f'<span class="regular">{e(t["was"])} {e(currency)}{r["regular_price"]:.2f}</span></div>'
                f'<div class="saving">{e(saving)}</div><p class="reason">{e(r["reason"])}</p>'
                f'<div class="meta">{e(r["bundle_id"])} · {e(t["sku"])} {e(r["skus"])}'
                + (f" · {e(t['valid'])} {e(valid)}" if valid else "") + "</div></div>")
        parts.append("</div></section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def export_bundles(bundles: pd.DataFrame, fmt: str, out, *, store=None, lang="en", selection="recommended",
                   valid_from=None, valid_to=None, currency="¥") -> Path:
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
    currency : str
        Symbol on shelf cards.

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
    b1,,"1, 2",'=cmd + tie,80.00,68.00,12.00,Save,,
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = Path(out)
    if fmt == "pos":
        table = pos_table(bundles, store=store, selection=selection, valid_from=valid_from, valid_to=valid_to)
    else:
        table = staff_table(bundles, store=store, lang=lang, selection=selection, valid_from=valid_from,
                            valid_to=valid_to)
    assert not any("customer" in str(c).lower() for c in table.columns)  # built from named columns only
    if fmt == "csv":
        safe = _safe_frame(table)
        safe.columns = _headers(table.columns, lang)
        return _atomic_write(out, lambda p: _write_csv(safe, p))
    if fmt == "pos":
        return _atomic_write(out, lambda p: _write_csv(_safe_frame(table), p, bom=False))
    if fmt == "xlsx":
        return _atomic_write(out, lambda p: _write_xlsx(table, p, lang))
    text = _html(table, lang, currency)
    return _atomic_write(out, lambda p: p.write_text(text, encoding="utf-8"))
