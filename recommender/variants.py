"""Same product, another colour or design: variants told apart from names and prices alone.

In: item names (any language) and regular prices. Out: whether two items are
variants of one product (:func:`are_variants`), and the words a set's names
share (:func:`shared_theme`), for copy that says what the set is.

A till export has no product master, yet "ALARM CLOCK BAKELIKE GREEN" and
"ALARM CLOCK BAKELIKE ORANGE" are plainly one product in two colours: they sell
together because customers pick an assortment, not because one completes the
other. Two items are **variants** when they have the same regular price (to
the cent) and their names share at least two tokens, and either at least half
of the tokens of the longer name or their first two or last two tokens (the
stem: "JUMBO BAG <design>", "<design> CAKE CASES"). Tokens are the lower-cased words of the name; a run
of CJK characters counts one token per character ("红色保温杯" and "蓝色保温杯"
share 色, 保, 温, 杯). No word list is needed, so the rule works for any
language; an equal price keeps "LUNCH BAG RED RETROSPOT" (1.65) and "JUMBO BAG
RED RETROSPOT" (2.08), a matching pair of different products, apart.
"""

from __future__ import annotations

import math
import re

__all__ = ["name_tokens", "are_variants", "shared_theme"]

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")


def _is_cjk(token: str) -> bool:
    return bool(_CJK.fullmatch(token))


def name_tokens(name) -> list[str]:
    """Lower-cased word tokens of a name; CJK characters one token each.

    >>> name_tokens("JUMBO  BAG Red-Retrospot"), name_tokens("红色保温杯 500ml")
    (['jumbo', 'bag', 'red', 'retrospot'], ['红', '色', '保', '温', '杯', '500ml'])
    """
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return []
    out = []
    for word in _WORD.findall(str(name).lower()):
        buf = ""
        for ch in word:
            if _is_cjk(ch):
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


def are_variants(name_a, name_b, price_a, price_b) -> bool:
    """Are two items one product in another colour or design (see the module docstring)?

    >>> are_variants("ALARM CLOCK BAKELIKE GREEN", "ALARM CLOCK BAKELIKE ORANGE", 3.75, 3.75)
    True
    >>> are_variants("LUNCH BAG RED RETROSPOT", "JUMBO BAG RED RETROSPOT", 1.65, 2.08)  # another product
    False
    >>> are_variants("红色保温杯", "蓝色保温杯", 39.0, 39.0), are_variants("大米", "食用油", 9.0, 9.0)
    (True, False)
    >>> are_variants("JUMBO BAG BAROQUE BLACK WHITE", "JUMBO BAG TOYS", 2.08, 2.08)
    True
    """
    try:
        pa, pb = round(float(price_a), 2), round(float(price_b), 2)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(pa) and pa > 0 and pa == pb):
        return False
    ta, tb = name_tokens(name_a), name_tokens(name_b)
    a, b = set(ta), set(tb)
    common = len(a & b)
    if common < 2:
        return False
    # the same stem: most of the words, or the same first (or last) two words -- "JUMBO BAG <design>",
    # "<design> CAKE CASES"
    return 2 * common >= max(len(a), len(b)) or ta[:2] == tb[:2] or ta[-2:] == tb[-2:]


def _ngrams(tokens, n):
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def _meaningful(gram) -> bool:
    # A theme names something: 2+ CJK characters, two words one of which has 4+ letters ("METAL SIGN", not
    # "SET OF"), or one word of 6+ letters ("REGENCY", not "BAG", "SMALL" or "SET").
    cjk = [t for t in gram if _is_cjk(t)]
    if len(cjk) >= 2:
        return True
    letters = [len(t) for t in gram if t.isalpha() and not _is_cjk(t)]
    return (len(gram) >= 2 and max(letters, default=0) >= 4) or (len(gram) == 1 and max(letters, default=0) >= 6)


def shared_theme(names) -> str | None:
    """The longest run of words that every name holds in the same order (from the first name), else None.

    Runs of CJK characters are joined without spaces; a theme needs 2+ CJK
    characters, two words one of 4+ letters, or one word of 6+ letters (a
    generic "SET" or "BAG" is no theme). Case follows the first name.

    >>> shared_theme(["LUNCH BAG RED RETROSPOT", "RED RETROSPOT PICNIC BAG"])
    'RED RETROSPOT'
    >>> shared_theme(["不锈钢保温杯", "保温杯杯套"]), shared_theme(["green tea", "paper cups"])
    ('保温杯', None)
    >>> shared_theme(["SET OF 3 CAKE TINS", "JAM MAKING SET WITH JARS"]) is None  # "SET" names nothing
    True
    """
    names = [str(n) for n in names if n is not None]
    if len(names) < 2:
        return None
    first = name_tokens(names[0])
    others = [name_tokens(n) for n in names[1:]]
    for n in range(len(first), 0, -1):
        grams = [g for i in range(len(first) - n + 1) if _meaningful(g := tuple(first[i:i + n]))]
        for g in grams:
            if all(g in _ngrams(o, n) for o in others):
                return _original(names[0], g)
    return None


def _original(name: str, gram) -> str:
    """The words of ``gram`` as written in ``name`` (case kept)."""
    words = []
    for word in _WORD.findall(name):
        toks = name_tokens(word)
        for tok in toks:
            words.append((tok, word if len(toks) == 1 else tok))
    toks = [t for t, _ in words]
    for i in range(len(toks) - len(gram) + 1):
        if tuple(toks[i:i + len(gram)]) == tuple(gram):
            parts = [w for _, w in words[i:i + len(gram)]]
            out = ""
            for j, p in enumerate(parts):
                sep = "" if j == 0 or (_is_cjk(p) and _is_cjk(parts[j - 1])) else " "
                out += sep + p
            return out
    return " ".join(gram)
