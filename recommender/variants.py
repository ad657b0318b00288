"""Same product, another colour or design: variants told apart from names and prices alone.

In: item names (any language) and regular prices. Out: whether two items are
variants of one product (:func:`are_variants`), and the words a set's names
share (:func:`shared_theme`), for copy that says what the set is -- a
design or collection, never the product noun itself.

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

Variants at different prices
----------------------------
"HOT WATER BOTTLE KEEP CALM" (4.95) and "LOVE HOT WATER BOTTLE" (5.95) are one
product in two designs at two prices. Telling them from "REGENCY CAKESTAND"
and "REGENCY TEAPOT" (one design, two products) needs to know which shared words
name the product. The file's own names say it (:class:`Vocabulary`): a
**product phrase** is a run of 2+ tokens that recurs in at least
:data:`MIN_PHRASE_ITEMS` different names whose prices agree -- the middle half
of those items' prices (a quarter dropped at each end) within
:data:`MAX_PRICE_RATIO`. A product costs about the same in any design ("HOT
WATER BOTTLE": 24 names, middle half 4.25-4.95); a design spans products at any
price ("RED RETROSPOT": 50 names, 0.85-2.95 in the middle half alone). With a
vocabulary, two items whose regular prices are within :data:`MAX_PRICE_RATIO`
of each other are also variants when their names share a product phrase (same
order) and neither name makes it a more specific product: a pair of adjacent
words that is a product phrase in one name only and holds a word both names
share ("LUNCH BAG" / "JUMBO BAG" around a shared "BAG ... VINTAGE DOILY")
keeps them apart. Size words count as design words ("HEART OF WICKER SMALL" /
"LARGE": an assortment of one product). Without a
vocabulary (or beyond the price bound) only the equal-price rule applies.
"""

from __future__ import annotations

import math
import re

__all__ = ["MAX_PRICE_RATIO", "MIN_PHRASE_ITEMS", "Vocabulary", "name_tokens", "are_variants", "shared_theme",
           "family_name"]

#: Variants at different prices: regular prices within this factor of each other, and a product phrase's
#: middle half of prices within it too (a product costs about the same in any design).
MAX_PRICE_RATIO = 2.0
#: A product phrase recurs in at least this many different names (two names sharing words prove nothing).
MIN_PHRASE_ITEMS = 3

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


class Vocabulary:
    """The names (and regular prices) of one file's items, to tell a product phrase from a design.

    Parameters
    ----------
    names, prices : sequences of equal length
        Every item's name and regular price; items without a name or a
        positive price are left out; a name held by several items counts
        once, at the median of their prices.

    Examples
    --------
    >>> v = Vocabulary(["HOT WATER BOTTLE LOVE", "SCOTTIE HOT WATER BOTTLE", "HOT WATER BOTTLE OWL",
    ...                 "RED RETROSPOT MUG", "RED RETROSPOT DOORMAT", "RED RETROSPOT NAPKINS"],
    ...                [4.95, 4.25, 4.95, 1.25, 7.95, 0.85])
    >>> v.items(("hot", "water", "bottle")), v.is_product_phrase(("hot", "water", "bottle"))
    (3, True)
    >>> v.is_product_phrase(("red", "retrospot"))  # a design: 0.85 to 7.95
    False
    """

    def __init__(self, names, prices):
        by_name: dict = {}
        for n, p in zip(names, prices):
            try:
                p = float(p)
            except (TypeError, ValueError):
                continue
            toks = tuple(name_tokens(n))
            if toks and math.isfinite(p) and p > 0:
                by_name.setdefault(toks, []).append(p)
        self._names = list(by_name)
        self._prices = [sorted(v)[(len(v) - 1) // 2] for v in by_name.values()]
        self._postings: dict = {}
        for i, toks in enumerate(self._names):
            for t in set(toks):
                self._postings.setdefault(t, []).append(i)
        self._cache: dict = {}

    def _holding(self, phrase) -> list[int]:
        phrase = tuple(phrase)
        if phrase not in self._cache:
            lists = sorted((self._postings.get(t, []) for t in set(phrase)), key=len)
            ids = set(lists[0]) if lists else set()
            for other in lists[1:]:
                ids &= set(other)
            k = len(phrase)
            self._cache[phrase] = sorted(i for i in ids if phrase in _ngrams(self._names[i], k))
        return self._cache[phrase]

    def items(self, phrase) -> int:
        """How many different names hold ``phrase`` (a tuple of tokens) as a run, in order."""
        return len(self._holding(phrase))

    def is_product_phrase(self, phrase) -> bool:
        """A run of 2+ tokens in :data:`MIN_PHRASE_ITEMS`+ names whose middle half of prices is within x :data:`MAX_PRICE_RATIO`."""
        phrase = tuple(phrase)
        return len(phrase) >= 2 and self.one_price(phrase)

    def one_price(self, phrase) -> bool:
        """Does ``phrase`` (any length) recur in :data:`MIN_PHRASE_ITEMS`+ names at about one price?

        A single word that does ("BUNTING") names a product, never a theme.
        """
        ids = self._holding(tuple(phrase))
        if len(ids) < MIN_PHRASE_ITEMS:
            return False
        prices = sorted(self._prices[i] for i in ids)
        cut = len(prices) // 4
        middle = prices[cut:len(prices) - cut]
        return middle[-1] <= MAX_PRICE_RATIO * middle[0]


def are_variants(name_a, name_b, price_a, price_b, vocabulary: Vocabulary | None = None) -> bool:
    """Are two items one product in another colour or design (see the module docstring)?

    >>> are_variants("ALARM CLOCK BAKELIKE GREEN", "ALARM CLOCK BAKELIKE ORANGE", 3.75, 3.75)
    True
    >>> are_variants("LUNCH BAG RED RETROSPOT", "JUMBO BAG RED RETROSPOT", 1.65, 2.08)  # another product
    False
    >>> are_variants("红色保温杯", "蓝色保温杯", 39.0, 39.0), are_variants("大米", "食用油", 9.0, 9.0)
    (True, False)
    >>> are_variants("JUMBO BAG BAROQUE BLACK WHITE", "JUMBO BAG TOYS", 2.08, 2.08)
    True

    At different prices the file's vocabulary decides (:class:`Vocabulary`):

    >>> v = Vocabulary(["HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE", "HOT WATER BOTTLE OWL",
    ...                 "REGENCY CAKESTAND 3 TIER", "REGENCY TEAPOT ROSES", "REGENCY MUG"],
    ...                [4.95, 5.95, 4.25, 12.75, 4.95, 1.25])
    >>> are_variants("HOT WATER BOTTLE KEEP CALM", "LOVE HOT WATER BOTTLE", 4.95, 5.95, v)
    True
    >>> are_variants("REGENCY CAKESTAND 3 TIER", "REGENCY TEAPOT ROSES", 12.75, 4.95, v)
    False
    """
    try:
        pa, pb = round(float(price_a), 2), round(float(price_b), 2)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(pa) and pa > 0 and math.isfinite(pb) and pb > 0):
        return False
    ta, tb = name_tokens(name_a), name_tokens(name_b)
    if pa == pb:
        a, b = set(ta), set(tb)
        common = len(a & b)
        # the same stem: most of the words, or the same first (or last) two words -- "JUMBO BAG <design>",
        # "<design> CAKE CASES"
        if common >= 2 and (2 * common >= max(len(a), len(b)) or ta[:2] == tb[:2] or ta[-2:] == tb[-2:]):
            return True
    if vocabulary is None or max(pa, pb) > MAX_PRICE_RATIO * min(pa, pb):
        return False
    return (any(vocabulary.is_product_phrase(run) for run in _common_runs(ta, tb))
            and not _more_specific(ta, tb, vocabulary))


def _common_runs(ta, tb):
    """Runs of 2+ tokens both names hold in the same order, longest first."""
    out = []
    for n in range(min(len(ta), len(tb)), 1, -1):
        out.extend(sorted(_ngrams(ta, n) & _ngrams(tb, n)))
    return out


def _more_specific(ta, tb, vocabulary) -> bool:
    """Does a product phrase built on a shared word sit in one name only ("LUNCH BAG" vs "JUMBO BAG")?

    Only pairs of words one of which both names hold count: "SCOTTIE DOG" (a
    motif that recurs at one price) does not make a hot water bottle another
    product, "JUMBO BAG" around a shared "BAG" does.
    """
    shared = set(ta) & set(tb)
    ga, gb = _ngrams(ta, 2), _ngrams(tb, 2)
    return any(vocabulary.is_product_phrase(g) for g in ga ^ gb if shared & set(g))


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


def shared_theme(names, vocabulary: Vocabulary | None = None) -> str | None:
    """The longest run of words that every name holds in the same order (from the first name), else None.

    Runs of CJK characters are joined without spaces; a theme needs 2+ CJK
    characters, two words one of 4+ letters, or one word of 6+ letters (a
    generic "SET" or "BAG" is no theme). Case follows the first name. With the
    file's ``vocabulary`` a run that is, or lies within, a shared run
    recurring at about one price (:meth:`Vocabulary.one_price`: a product
    phrase, or a one-word product such as "BUNTING") names the product, not a
    theme: "RABBIT NIGHT LIGHT" and "RED TOADSTOOL LED NIGHT LIGHT" are two
    night lights, not a "Night Light collection".

    >>> shared_theme(["LUNCH BAG RED RETROSPOT", "RED RETROSPOT PICNIC BAG"])
    'RED RETROSPOT'
    >>> shared_theme(["不锈钢保温杯", "保温杯杯套"]), shared_theme(["green tea", "paper cups"])
    ('保温杯', None)
    >>> shared_theme(["SET OF 3 CAKE TINS", "JAM MAKING SET WITH JARS"]) is None  # "SET" names nothing
    True
    >>> v = Vocabulary(["RABBIT NIGHT LIGHT", "RED TOADSTOOL LED NIGHT LIGHT", "OWL NIGHT LIGHT"], [2.08, 1.65, 1.95])
    >>> shared_theme(["RABBIT NIGHT LIGHT", "RED TOADSTOOL LED NIGHT LIGHT"], v) is None
    True
    """
    names = [str(n) for n in names if n is not None]
    if len(names) < 2:
        return None
    first = name_tokens(names[0])
    others = [name_tokens(n) for n in names[1:]]
    product = []
    if vocabulary is not None:
        for n in range(len(first), 0, -1):
            product += [g for g in _ngrams(first, n)
                        if all(g in _ngrams(o, n) for o in others) and vocabulary.one_price(g)]
    for n in range(len(first), 0, -1):
        grams = [g for i in range(len(first) - n + 1) if _meaningful(g := tuple(first[i:i + n]))]
        for g in grams:
            if any(_within(g, p) for p in product):
                continue
            if all(g in _ngrams(o, n) for o in others):
                if vocabulary is not None and _glued(g, [first, *others], vocabulary):
                    continue
                return _original(names[0], g)
    return None


def _glued(gram, token_lists, vocabulary) -> bool:
    """Is an end word of ``gram`` the head of each name's own product ("JUMBO BAG" / "LUNCH BAG" around
    "BAG VINTAGE LEAF")?

    It is when, in every name, that word forms a pair recurring at about one
    price with a neighbour outside the gram, and the neighbours differ: the
    word ends a different product noun in each name.
    """
    n = len(gram)
    for side in (0, n - 1):
        outside = []
        for toks in token_lists:
            found = None
            for i in range(len(toks) - n + 1):
                if tuple(toks[i:i + n]) != tuple(gram):
                    continue
                j = i - 1 if side == 0 else i + n
                if 0 <= j < len(toks):
                    pair = (toks[j], toks[i]) if side == 0 else (toks[i + n - 1], toks[j])
                    if vocabulary.one_price(pair):
                        found = toks[j]
            outside.append(found)
        if all(o is not None for o in outside) and len(set(outside)) > 1:
            return True
    return False


def family_name(names, vocabulary: Vocabulary | None = None) -> str:
    """What a family of variants is called: the longest run of words all its names share.

    With no shared word, the first name. CJK runs lose a leading character
    while the rest is a product phrase held by more of the file's names
    (``vocabulary``): "保温杯", not "色保温杯".

    >>> family_name(["LUNCH BAG RED RETROSPOT", "LUNCH BAG SUKI", "LUNCH BAG PINK POLKADOT"])
    'LUNCH BAG'
    >>> family_name(["PLASTERS IN TIN SKULLS", "PLASTERS IN TIN SPACEBOY"])
    'PLASTERS IN TIN'
    >>> v = Vocabulary(["红色保温杯", "蓝色保温杯", "绿色保温杯", "保温杯杯套"], [39, 45, 42, 40])
    >>> family_name(["红色保温杯", "蓝色保温杯"]), family_name(["红色保温杯", "蓝色保温杯"], v)
    ('色保温杯', '保温杯')
    """
    names = [str(n) for n in names if n is not None]
    if not names:
        return ""
    first = name_tokens(names[0])
    others = [name_tokens(n) for n in names[1:]]
    shared = [g for n in range(len(first), 0, -1) for g in sorted(_ngrams(first, n))
              if all(g in _ngrams(o, n) for o in others)]
    if not shared:
        return names[0]
    best = shared[0]
    # CJK names have no spaces: the longest shared run may start inside a word ("色保温杯" of 红色/蓝色保温杯);
    # drop such a leading character while the rest is a product phrase in more of the file's names
    while (vocabulary is not None and len(best) > 2 and _is_cjk(best[0]) and vocabulary.is_product_phrase(best[1:])
           and vocabulary.items(best[1:]) > vocabulary.items(best)):
        best = best[1:]
    return _original(names[0], best)


def _within(gram, phrase) -> bool:
    n = len(gram)
    return any(tuple(phrase[i:i + n]) == tuple(gram) for i in range(len(phrase) - n + 1))


def _original(name: str, gram) -> str:
    """The run ``gram`` as written in ``name``: case, hyphens and apostrophes kept.

    >>> _original("WHITE HANGING HEART T-LIGHT HOLDER", ("heart", "t", "light", "holder"))
    'HEART T-LIGHT HOLDER'
    >>> _original("POPPY'S PLAYHOUSE KITCHEN", ("poppy", "s", "playhouse")), _original("红色保温杯", ("保", "温", "杯"))
    ("POPPY'S PLAYHOUSE", '保温杯')
    """
    spans = []  # (token, start, end) in the order name_tokens gives them
    for m in _WORD.finditer(name):
        word, at, buf = m.group(), m.start(), None
        for k, ch in enumerate(word):
            if _is_cjk(ch):
                if buf is not None:
                    spans.append((word[buf:k].lower(), at + buf, at + k))
                    buf = None
                spans.append((ch.lower(), at + k, at + k + 1))
            elif buf is None:
                buf = k
        if buf is not None:
            spans.append((word[buf:].lower(), at + buf, at + len(word)))
    toks = [t for t, _, _ in spans]
    n = len(gram)
    for i in range(len(toks) - n + 1):
        if tuple(toks[i:i + n]) == tuple(gram):
            return name[spans[i][1]:spans[i + n - 1][2]]
    return " ".join(gram)
