"""Suspected non-products: postage, fees, services and manual adjustments on receipt lines.

In: clean receipt lines (``sku``, optional ``name``, ``unit_price``,
``receipt_id``). Out: a DataFrame, one row per suspected SKU, with the plain
reasons that flagged it, and a ready-to-paste ``--non-products`` flag.

Till exports mix products with lines that are not products: "POSTAGE",
"Bank Charges", "Manual" adjustments, "运费" (delivery), "包装费" (packing).
They are real lines, so mining keeps them (marked in the run's items table),
but no bundle or suggestion should ever offer one. Four signals, each of which
holds across exports rather than for one file:

1. **Name.** The head of the name (its last word, ignoring amounts such as
   "£20.00"; for Chinese, its ending) is a fee, service or adjustment word
   (:data:`FEE_WORDS_EN`, :data:`FEE_WORDS_ZH`): "DOTCOM POSTAGE", "AMAZON
   FEE", "包装费". The head, not any word, so that "CARRIAGE CLOCK" stays a
   product.
2. **Code shape.** When product codes are codes (at least
   :data:`CODE_LIKE_SHARE` of them hold a digit and no space or Chinese
   character), a code without any digit ("POST", "BANK CHARGES") or less than
   half the usual length ("C2") is unlike the others. Skipped when the items
   are names.
3. **Price spread.** A product's unit price varies within a band (quantity
   tiers, promotions: up to about 20x between its 10th and 90th percentile in
   real exports); a manual line's price is whatever was keyed, so a spread
   above :data:`MAX_PRICE_SPREAD` flags it.
4. **Price level.** A median price above :data:`MAX_PRICE_RATIO` times the
   median of all items' median prices ("AMAZON FEE" at thousands in a shop
   of two-pound items).
"""

from __future__ import annotations

import re
import shlex

import numpy as np

__all__ = ["FEE_WORDS_EN", "FEE_WORDS_ZH", "NON_PRODUCT_COLUMNS", "detect_non_products", "non_products_flag",
           "fee_word", "suspect_reasons"]

#: Heads of English names that make a line a fee, a service or an adjustment.
FEE_WORDS_EN = ("POSTAGE", "CARRIAGE", "SHIPPING", "FREIGHT", "DELIVERY", "HANDLING", "FEE", "FEES", "CHARGE",
                "CHARGES", "SURCHARGE", "COMMISSION", "MANUAL", "ADJUSTMENT", "ADJUSTMENTS", "DISCOUNT",
                "DISCOUNTS", "VOUCHER", "VOUCHERS", "COUPON", "COUPONS", "SAMPLE", "SAMPLES", "DEBT", "REFUND",
                "REFUNDS", "DEPOSIT", "ROUNDING", "TIP", "TIPS", "GRATUITY", "TAX", "VAT")
#: Endings of Chinese names that make a line a fee, a service or an adjustment.
FEE_WORDS_ZH = ("运费", "邮费", "快递费", "配送费", "包装费", "打包费", "餐盒费", "手续费", "服务费", "佣金", "折扣",
                "优惠", "抹零", "调整", "押金", "代金券", "优惠券", "赠品", "样品")
#: Share of digit codes (a digit, no space, no CJK) above which item codes count as codes (the shape test applies).
CODE_LIKE_SHARE = 0.9
#: 90th / 10th percentile of a SKU's unit prices above which its price is keyed by hand.
MAX_PRICE_SPREAD = 50.0
#: Median price above this multiple of the typical item's median price: not a product of this shop.
MAX_PRICE_RATIO = 100.0
#: Fewest distinct codes for the shape test (a handful of codes has no "usual" shape).
MIN_CODES_FOR_SHAPE = 20
NON_PRODUCT_COLUMNS = ("sku", "name", "reasons", "lines", "receipts", "median_price")

_AMOUNT = re.compile(r"[£$€¥￥]?\s*\d[\d.,]*\s*(%|元|[a-z]{0,3})?", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")
_LETTER = re.compile(r"[^\W\d_]")


def fee_word(name) -> str | None:
    """The fee word that heads ``name``, or None.

    >>> fee_word("DOTCOM POSTAGE"), fee_word("Dotcomgiftshop Gift Voucher £20.00"), fee_word("CARRIAGE CLOCK")
    ('POSTAGE', 'VOUCHER', None)
    >>> fee_word("快递包装费"), fee_word("运费(顺丰)"), fee_word("coffee")
    ('包装费', '运费', None)
    """
    if name is None or (isinstance(name, float) and name != name) or not _LETTER.search(str(name)):
        return None  # every fee word is made of letters: codes such as "85123" are never fees
    text = re.sub(r"[(\[（【].*?[)\]）】]", " ", str(name)).strip()
    text = _AMOUNT.sub(" ", text).strip(" -_.,:;/·")
    for word in FEE_WORDS_ZH:
        if text.endswith(word):
            return word
    words = _WORD.findall(text)
    if words and words[-1].upper() in FEE_WORDS_EN:
        return words[-1].upper()
    return None


_ASCII_DIGIT = re.compile(r"[0-9]")
_ASCII_SPACE = re.compile(r"[\t\n\x0b\x0c\r\x1c-\x1f ]")  # what str.isspace accepts among ASCII characters


def _code_like(code: str) -> bool:
    """A product code rather than a name: holds a digit, no space, no CJK character.

    >>> _code_like("85123A"), _code_like("POST"), _code_like("12 34"), _code_like("牛奶1"), _code_like("١٢")
    (True, False, False, False, True)
    """
    if code.isascii():  # most codes: two regex scans instead of three loops over the characters
        return _ASCII_DIGIT.search(code) is not None and _ASCII_SPACE.search(code) is None
    return (any(ch.isdigit() for ch in code) and not any(ch.isspace() for ch in code)
            and not any(ord(ch) > 0x2E7F for ch in code))


def _names(lines: pd.DataFrame) -> pd.Series:
    """Most common name of each SKU (the SKU itself when the lines carry no name)."""
    import pandas as pd

    skus = lines["sku"].astype(str)
    if "name" not in lines.columns:
        distinct = skus.unique()
        return pd.Series(distinct, index=distinct)
    named = pd.DataFrame({"sku": skus, "name": lines["name"].astype("string")}).dropna()
    best = named.groupby(["sku", "name"]).size().rename("n").reset_index()
    best = best.sort_values(["sku", "n", "name"], ascending=[True, False, True]).drop_duplicates("sku")
    out = best.set_index("sku")["name"].astype(object)
    return out.reindex(skus.unique()).where(lambda s: s.notna(), None)


def detect_non_products(lines: pd.DataFrame) -> pd.DataFrame:
    """SKUs that look like fees, postage, services or manual adjustments, with the reasons why.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines: ``sku``; optional ``name``, ``unit_price``, ``receipt_id``.

    Returns
    -------
    DataFrame
        :data:`NON_PRODUCT_COLUMNS`, one row per suspected SKU, most lines
        first; ``reasons`` is one "; "-separated line.

    Examples
    --------
    >>> import pandas as pd
    >>> skus = [f"{10000 + i}" for i in range(30)] + ["POST", "C2"]
    >>> lines = pd.DataFrame({"sku": skus, "receipt_id": [str(i) for i in range(32)],
    ...                       "name": ["MUG"] * 30 + ["POSTAGE", "CARRIAGE"], "unit_price": [2.0] * 30 + [18, 50]})
    >>> detect_non_products(lines)[["sku", "reasons"]].values.tolist()
    [['C2', 'name says CARRIAGE; code much shorter than the usual 5 characters'], ['POST', 'name says POSTAGE; code has no digit (96% of codes are digit codes)']]
    """
    if lines is None or len(lines) == 0:
        return _empty_suspects()
    return suspects_from_summary(sku_summary(lines), has_name="name" in lines.columns)


def _empty_suspects() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=object if c in ("sku", "name", "reasons") else float)
                         for c in NON_PRODUCT_COLUMNS})


#: Columns of :func:`sku_summary`.
SUMMARY_COLUMNS = ("sku", "name", "lines", "receipts", "n_priced", "p10", "p50", "p90")


def sku_summary(lines: pd.DataFrame) -> pd.DataFrame:
    """What :func:`detect_non_products` needs of each SKU: name, lines, receipts, positive-price quantiles.

    Per SKU only, so that the summaries of disjoint sets of SKUs (e.g. computed
    by Spark per SKU) concatenate to the summary of all lines. Rows follow the
    SKUs' first appearance.

    >>> import pandas as pd
    >>> sku_summary(pd.DataFrame({"sku": ["a", "a"], "receipt_id": ["1", "2"], "unit_price": [1.0, 3.0]})
    ...             )[["sku", "lines", "receipts", "n_priced", "p50"]].values.tolist()
    [['a', 2, 2, 2, 2.0]]
    """
    import pandas as pd

    skus = lines["sku"].astype(str)
    names = _names(lines)
    codes = [str(x) for x in names.index.tolist()]  # a list: iterating an Arrow-backed Index is slow
    n_lines = skus.value_counts()
    n_receipts = (lines.assign(_s=skus).groupby("_s")["receipt_id"].nunique()
                  if "receipt_id" in lines.columns else n_lines)
    out = pd.DataFrame({"sku": pd.Series(codes, dtype=object), "name": pd.Series(names.tolist(), dtype=object),
                        # reindex, not a Series.get per SKU: tens of thousands of SKUs took a quarter second
                        "lines": n_lines.reindex(codes, fill_value=0).astype(np.int64).tolist(),
                        "receipts": n_receipts.reindex(codes, fill_value=0).astype(np.int64).tolist()})
    price = pd.to_numeric(lines["unit_price"], errors="coerce") if "unit_price" in lines.columns else None
    q = pd.DataFrame(columns=[0.1, 0.5, 0.9], dtype=float)
    n = pd.Series(dtype=np.int64)
    if price is not None and price.notna().any():
        frame = pd.DataFrame({"sku": skus, "p": price})
        frame = frame[frame["p"] > 0]
        if len(frame):
            q = frame.groupby("sku")["p"].quantile([0.1, 0.5, 0.9]).unstack()
            n = frame.groupby("sku").size()
    out["n_priced"] = n.reindex(codes, fill_value=0).astype(np.int64).tolist()
    for col, level in (("p10", 0.1), ("p50", 0.5), ("p90", 0.9)):
        out[col] = q[level].reindex(codes).astype(float).tolist() if len(q) else [np.nan] * len(codes)
    return out


def suspects_from_summary(summary: pd.DataFrame, has_name: bool) -> pd.DataFrame:
    """The suspected non-products (see :func:`detect_non_products`) from per-SKU summaries.

    ``has_name``: whether the lines carry a name column (a code with no digit
    then reads as a name).
    """
    import pandas as pd

    if summary is None or len(summary) == 0:
        return _empty_suspects()
    codes = [str(x) for x in summary["sku"].tolist()]
    names = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in summary["name"].tolist()]
    priced = summary[summary["n_priced"] > 0].assign(sku=lambda f: f["sku"].astype(str)).sort_values("sku")
    reasons, medians = suspect_reasons(codes, names, has_name,
                                       priced=(priced["sku"].tolist(), priced["n_priced"].tolist(),
                                               priced["p10"].tolist(), priced["p50"].astype(float).tolist(),
                                               priced["p90"].tolist()))
    flagged = [c for c in codes if reasons[c]]
    if not flagged:
        return _empty_suspects()
    names = dict(zip(codes, names))
    counts = dict(zip(codes, zip(summary["lines"].tolist(), summary["receipts"].tolist())))
    out = pd.DataFrame({"sku": flagged, "name": [names.get(c) for c in flagged],
                        "reasons": ["; ".join(reasons[c]) for c in flagged],
                        "lines": [int(counts[c][0]) for c in flagged],
                        "receipts": [int(counts[c][1]) for c in flagged],
                        "median_price": [float(medians.get(c, np.nan)) for c in flagged]})
    return out.sort_values(["lines", "sku"], ascending=[False, True], kind="stable").reset_index(drop=True)


def suspect_reasons(codes: list, names: list, has_name: bool, priced=None) -> tuple[dict, dict]:
    """The reasons (code -> list of text, empty when none) and median prices of :func:`detect_non_products`.

    Plain lists in, no pandas: ``codes`` (distinct SKUs as text), ``names`` (the
    name of each, or None), ``has_name`` (whether the lines carry names) and
    ``priced``: the priced SKUs sorted by code, as lists ``(codes, n_priced,
    p10, p50, p90)``, or None when nothing has a price (a basket-per-line file).

    >>> reasons, _ = suspect_reasons(["10001", "POSTAGE"], ["10001", "POSTAGE"], has_name=False)
    >>> reasons
    {'10001': [], 'POSTAGE': ['name says POSTAGE']}
    """
    names = dict(zip(codes, names))
    reasons: dict = {c: [] for c in codes}
    for sku in codes:
        name = names[sku]
        word = fee_word(name) if name is not None else None
        if word is None and has_name:
            word = fee_word(sku) if not any(ch.isdigit() for ch in str(sku)) else None
        if word is not None:
            reasons[sku].append(f"name says {word}")

    code_like = np.array([_code_like(c) for c in codes])
    if len(codes) >= MIN_CODES_FOR_SHAPE and code_like.mean() >= CODE_LIKE_SHARE:
        usual = int(np.median([len(c) for c in codes]))
        share = int(100 * code_like.mean())
        for c, like in zip(codes, code_like):
            if not like:
                what = "has no digit" if not any(ch.isdigit() for ch in c) else "looks like a name"
                reasons[c].append(f"code {what} ({share}% of codes are digit codes)")
            elif usual >= 4 and len(c) * 2 <= usual:
                reasons[c].append(f"code much shorter than the usual {usual} characters")

    skus, n_priced, p10s, p50s, p90s = priced if priced is not None else ([], [], [], [], [])
    medians = dict(zip(skus, p50s))
    typical = float(np.median(p50s)) if len(p50s) else float("nan")
    for s, n, p10, p50, p90 in zip(skus, n_priced, p10s, p50s, p90s):
        if n >= 5 and p10 > 0 and p90 / p10 > MAX_PRICE_SPREAD:
            reasons[s].append(f"price varies {p90 / p10:,.0f}x across its lines")
        if typical > 0 and p50 > MAX_PRICE_RATIO * typical and len(skus) >= MIN_CODES_FOR_SHAPE:
            reasons[s].append(f"median price {p50:,.2f} is over {MAX_PRICE_RATIO:g}x the typical {typical:,.2f}")
    return reasons, medians


def non_products_flag(suspects) -> str:
    """A ``--non-products`` flag naming the suspects, quoted for a POSIX shell.

    Codes holding a comma cannot travel in the comma-separated flag and are left out.

    >>> import pandas as pd
    >>> non_products_flag(pd.DataFrame({"sku": ["POST", "BANK CHARGES"]}))
    "--non-products 'POST,BANK CHARGES'"
    >>> non_products_flag(pd.DataFrame({"sku": []}))
    ''
    """
    codes = [str(s) for s in (suspects["sku"] if hasattr(suspects, "columns") else suspects) if "," not in str(s)]
    return f"--non-products {shlex.quote(','.join(codes))}" if codes else ""
