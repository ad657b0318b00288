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
import pandas as pd

__all__ = ["FEE_WORDS_EN", "FEE_WORDS_ZH", "NON_PRODUCT_COLUMNS", "detect_non_products", "non_products_flag",
           "fee_word"]

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


def _code_like(code: str) -> bool:
    """A product code rather than a name: holds a digit, no space, no CJK character."""
    return (any(ch.isdigit() for ch in code) and not any(ch.isspace() for ch in code)
            and not any(ord(ch) > 0x2E7F for ch in code))


def _names(lines: pd.DataFrame) -> pd.Series:
    """Most common name of each SKU (the SKU itself when the lines carry no name)."""
    skus = lines["sku"].astype(str)
    if "name" not in lines.columns:
        return pd.Series(skus.unique(), index=skus.unique())
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
    >>> skus = [f"{10000 + i}" for i in range(30)] + ["POST", "C2"]
    >>> lines = pd.DataFrame({"sku": skus, "receipt_id": [str(i) for i in range(32)],
    ...                       "name": ["MUG"] * 30 + ["POSTAGE", "CARRIAGE"], "unit_price": [2.0] * 30 + [18, 50]})
    >>> detect_non_products(lines)[["sku", "reasons"]].values.tolist()
    [['C2', 'name says CARRIAGE; code much shorter than the usual 5 characters'], ['POST', 'name says POSTAGE; code has no digit (96% of codes are digit codes)']]
    """
    empty = pd.DataFrame({c: pd.Series(dtype=object if c in ("sku", "name", "reasons") else float)
                          for c in NON_PRODUCT_COLUMNS})
    if lines is None or len(lines) == 0:
        return empty
    skus = lines["sku"].astype(str)
    names = _names(lines)
    codes = [str(s) for s in names.index.tolist()]  # a list: iterating an Arrow-backed Index is slow
    reasons: dict = {s: [] for s in codes}

    for sku, name in zip(codes, names.tolist()):
        word = fee_word(name) if name is not None else None
        if word is None and "name" in lines.columns:
            word = fee_word(sku) if not any(ch.isdigit() for ch in str(sku)) else None
        if word is not None:
            reasons[sku].append(f"name says {word}")

    code_like = np.array([_code_like(s) for s in codes])
    if len(codes) >= MIN_CODES_FOR_SHAPE and code_like.mean() >= CODE_LIKE_SHARE:
        usual = int(np.median([len(s) for s in codes]))
        share = int(100 * code_like.mean())
        for s, like in zip(codes, code_like):
            if not like:
                what = "has no digit" if not any(ch.isdigit() for ch in s) else "looks like a name"
                reasons[s].append(f"code {what} ({share}% of codes are digit codes)")
            elif usual >= 4 and len(s) * 2 <= usual:
                reasons[s].append(f"code much shorter than the usual {usual} characters")

    price = pd.to_numeric(lines["unit_price"], errors="coerce") if "unit_price" in lines.columns else None
    if price is not None and price.notna().any():
        frame = pd.DataFrame({"sku": skus, "p": price})
        frame = frame[frame["p"] > 0]
        q = frame.groupby("sku")["p"].quantile([0.1, 0.5, 0.9]).unstack()
        n = frame.groupby("sku").size()
        typical = float(q[0.5].median()) if len(q) else float("nan")
        for s, row in q.iterrows():
            if n[s] >= 5 and row[0.1] > 0 and row[0.9] / row[0.1] > MAX_PRICE_SPREAD:
                reasons[s].append(f"price varies {row[0.9] / row[0.1]:,.0f}x across its lines")
            if typical > 0 and row[0.5] > MAX_PRICE_RATIO * typical and len(q) >= MIN_CODES_FOR_SHAPE:
                reasons[s].append(f"median price {row[0.5]:,.2f} is over {MAX_PRICE_RATIO:g}x the typical "
                                  f"{typical:,.2f}")
        medians = q[0.5]
    else:
        medians = pd.Series(dtype=float)

    flagged = [s for s in codes if reasons[s]]
    if not flagged:
        return empty
    mine = skus.isin(flagged).to_numpy()  # count the suspects' lines only
    n_lines = skus[mine].value_counts()
    n_receipts = (lines[mine].assign(_s=skus[mine]).groupby("_s")["receipt_id"].nunique()
                  if "receipt_id" in lines.columns else n_lines)
    out = pd.DataFrame({"sku": flagged, "name": [names.get(s) for s in flagged],
                        "reasons": ["; ".join(reasons[s]) for s in flagged],
                        "lines": [int(n_lines.get(s, 0)) for s in flagged],
                        "receipts": [int(n_receipts.get(s, 0)) for s in flagged],
                        "median_price": [float(medians.get(s, np.nan)) for s in flagged]})
    return out.sort_values(["lines", "sku"], ascending=[False, True], kind="stable").reset_index(drop=True)


def non_products_flag(suspects) -> str:
    """A ``--non-products`` flag naming the suspects, quoted for a POSIX shell.

    Codes holding a comma cannot travel in the comma-separated flag and are left out.

    >>> non_products_flag(pd.DataFrame({"sku": ["POST", "BANK CHARGES"]}))
    "--non-products 'POST,BANK CHARGES'"
    >>> non_products_flag(pd.DataFrame({"sku": []}))
    ''
    """
    codes = [str(s) for s in (suspects["sku"] if hasattr(suspects, "columns") else suspects) if "," not in str(s)]
    return f"--non-products {shlex.quote(','.join(codes))}" if codes else ""
