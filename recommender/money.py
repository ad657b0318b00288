"""Amounts in the shop's currency: an ISO 4217 code in, the symbol or unit for English and Chinese copy out.

In: a currency code ("GBP", "CNY"; None when unknown) and an amount. Out:
text for copy, shelf cards, exports and the dashboard. Symbols and Chinese
names come from the CLDR data in :mod:`babel`, so no symbol is written by hand
anywhere else. With no currency known, amounts carry no symbol at all (better
than a wrong one).

Where the currency comes from (first that is known, see :func:`resolve_currency`):
the ``--currency`` flag, the catalog's ``currency`` column, the policy's
``currency`` key, the run manifest's ``currency``.
"""

from __future__ import annotations

from functools import lru_cache

from recommender.errors import InputError

__all__ = ["check_currency", "currency_symbol", "currency_unit_zh", "format_money", "resolve_currency"]


@lru_cache(maxsize=1)
def _codes() -> frozenset:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def check_currency(code) -> str | None:
    """The ISO 4217 code in upper case, None for none; an :class:`InputError` for an unknown code.

    >>> check_currency("gbp"), check_currency(None), check_currency("")
    ('GBP', None, None)
    """
    if code is None:
        return None
    try:
        if code != code:  # NaN from a table
            return None
    except TypeError:
        return None
    text = str(code).strip().upper()
    if not text:
        return None
    if text not in _codes():
        raise InputError(f"unknown currency {code!r}", hint="use an ISO 4217 code such as GBP, EUR, USD, CNY")
    return text


def currency_symbol(code, lang: str = "en") -> str:
    """The symbol shown before an amount ('' when the currency is unknown).

    >>> currency_symbol("GBP"), currency_symbol("CNY", "zh"), currency_symbol("CNY"), currency_symbol(None)
    ('£', '¥', 'CN¥', '')
    """
    code = check_currency(code)
    if code is None:
        return ""
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(code, locale="zh_Hans_CN" if lang == "zh" else "en")


def currency_unit_zh(code) -> str:
    """The unit written after an amount in Chinese copy ('立省30元', '立省30英镑'; '' when unknown).

    >>> currency_unit_zh("CNY"), currency_unit_zh("GBP"), currency_unit_zh(None)
    ('元', '英镑', '')
    """
    code = check_currency(code)
    if code is None:
        return ""
    if code == "CNY":
        return "元"  # spoken unit of the renminbi (its CLDR name, 人民币, names the currency, not the unit)
    from babel.numbers import get_currency_name

    return get_currency_name(code, locale="zh_Hans_CN")


def format_money(amount, code, lang: str = "en", decimals: int = 2) -> str:
    """An amount with the currency's symbol in front ('12.50' when the currency is unknown).

    >>> format_money(12.5, "GBP"), format_money(12.5, "CNY", "zh"), format_money(3, None, decimals=0)
    ('£12.50', '¥12.50', '3')
    """
    return f"{currency_symbol(code, lang)}{float(amount):,.{int(decimals)}f}"


def resolve_currency(flag=None, catalog=None, policy=None, manifest=None) -> str | None:
    """The currency of a run's offers: the flag, else the catalog, the policy, the manifest; None if none.

    A catalog ``currency`` column counts when it holds one code.

    >>> import pandas as pd
    >>> resolve_currency(None, pd.DataFrame({"currency": ["CNY", "CNY"]})), resolve_currency("gbp", None)
    ('CNY', 'GBP')
    >>> resolve_currency(None, None, None, {"currency": "EUR"}), resolve_currency()
    ('EUR', None)
    """
    if check_currency(flag):
        return check_currency(flag)
    if catalog is not None and "currency" in getattr(catalog, "columns", ()):
        codes = {check_currency(c) for c in catalog["currency"].dropna().unique()} - {None}
        if len(codes) > 1:
            raise InputError(f"the catalog mixes currencies {sorted(codes)}", hint="pass --currency CODE")
        if codes:
            return codes.pop()
    if policy is not None and check_currency(getattr(policy, "currency", None)):
        return check_currency(policy.currency)
    if manifest:
        for value in (manifest.get("currency"), manifest.get("input", {}).get("currency")):
            if check_currency(value):
                return check_currency(value)
    return None
