"""Association rules, substitutes and slice comparisons, from counts.

In: frequent itemsets as mined by :func:`recommender.mining.frequent_itemsets`
(``items`` = ascending tuples of column indices, ``count``) and the
:class:`recommender.baskets.Baskets` they were mined from. Out: DataFrames
whose ``antecedents`` / ``consequents`` / ``item_a`` ... hold item labels.

Counts are the truth: every rule carries ``count`` (receipts with X and Y),
``antecedent_count``, ``consequent_count`` and ``n_receipts``, and every
measure is derived from those four numbers. Significance (see
:mod:`recommender.significance`) is computed over the family of *all* rules
the frequent itemsets generate, before any confidence or lift filter, so a
rule's q-value does not depend on the filters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.catalog import HIERARCHY, LEVELS, ancestors
from recommender.rule_generation import check_itemsets, rule_arrays
from recommender.significance import bh_qvalues, fisher_greater, fisher_less

RULE_COLUMNS = ["antecedents", "consequents", "count", "antecedent_count", "consequent_count", "n_receipts",
                "support", "confidence", "lift", "leverage", "conviction", "kulczynski", "p_value", "q_value",
                "p_value_cmh", "q_value_cmh", "significant", "redundant"]
SUBSTITUTE_COLUMNS = ["item_a", "item_b", "count", "count_a", "count_b", "n_receipts", "lift", "p_value",
                      "q_value", "relation"]
COMPARE_COLUMNS = ["antecedents", "consequents", "status", "lift_a", "lift_b", "confidence_a", "confidence_b",
                   "count_a", "count_b", "p_value", "q_value"]
#: Measures where smaller is better (``filter_rules(top_k=..., by=...)`` keeps the smallest).
ASCENDING_MEASURES = ("p_value", "q_value", "p_value_cmh", "q_value_cmh")

Progress = Callable[[int, int, str], None] | None


def _ancestor_lookup(catalog: pd.DataFrame, level: str) -> dict:
    """Every label at ``level`` or coarser -> the set of its ancestors."""
    out: dict = {}
    if level not in HIERARCHY:
        return out
    for lv in HIERARCHY[HIERARCHY.index(level):]:
        if lv == "sku" or lv in catalog.columns:
            for label, parents in ancestors(catalog, lv).items():
                out.setdefault(label, set()).update(parents)
    return out


def _relates_to_ancestor(labels: Iterable, lookup: dict) -> bool:
    labels = set(labels)
    return any((lookup.get(label, set()) - {label}) & labels for label in labels)


def _label_tuples(items: list[tuple], labels: pd.Index) -> np.ndarray:
    names = np.asarray(labels, dtype=object)
    out = np.empty(len(items), dtype=object)
    out[:] = [tuple(sorted(str(x) for x in names[list(t)])) for t in items]
    return out


def empty_rules() -> pd.DataFrame:
    """A rules DataFrame with no rows and the right columns."""
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("antecedents", "consequents") else
                                      bool if c in ("significant", "redundant") else
                                      np.int64 if c.endswith("count") or c == "n_receipts" else float)
                         for c in RULE_COLUMNS})


def empty_substitutes() -> pd.DataFrame:
    """A substitutes DataFrame with no rows and the right columns."""
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("item_a", "item_b", "relation") else
                                      np.int64 if c.startswith("count") or c == "n_receipts" else float)
                         for c in SUBSTITUTE_COLUMNS})


def association_rules(itemsets: pd.DataFrame, baskets, *, min_confidence: float = 0.1,
                      min_lift: float | None = None, fdr: float = 0.05, stratify: bool = True,
                      catalog: pd.DataFrame | None = None, progress: Progress = None) -> pd.DataFrame:
    """Rules X -> Y from frequent itemsets, with measures and significance.

    Every rule with X, Y non-empty and disjoint and X | Y frequent is generated
    (multi-item consequents included), tested, and only then filtered.

    Parameters
    ----------
    itemsets : DataFrame
        ``items`` (ascending tuples of column indices of ``baskets.matrix``) and
        ``count``; closed under subsets, single items included (the output of
        :func:`recommender.mining.frequent_itemsets`).
    baskets : Baskets
        The baskets the itemsets were mined from.
    min_confidence : float
        Keep rules with confidence >= this.
    min_lift : float, optional
        Keep rules with lift >= this.
    fdr : float
        False discovery rate for ``significant``.
    stratify : bool
        ``significant`` from the Cochran-Mantel-Haenszel test stratified by
        basket size (default) or, when False, from the plain Fisher test (the
        CMH columns are then NaN and not computed).
    catalog : DataFrame, optional
        When given, rules whose items include an item together with one of its
        own ancestors are left out (before testing): only possible when labels
        of several levels are mined together.
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    DataFrame
        Columns :data:`RULE_COLUMNS`, sorted by lift (descending). ``p_value``:
        one-sided Fisher exact test of positive association; ``q_value`` its
        Benjamini-Hochberg adjustment over all generated rules;
        ``p_value_cmh`` / ``q_value_cmh`` the same for the CMH test;
        ``redundant``: a rule with a proper (non-empty) subset of the
        antecedent and the same consequent is at least as confident.

    Examples
    --------
    >>> from recommender.baskets import build_baskets
    >>> lines = pd.DataFrame({"receipt_id": list("1122334"), "sku": list("abababc")})
    >>> b = build_baskets(lines)
    >>> sets = pd.DataFrame({"items": [(0,), (1,), (0, 1)], "count": [3, 3, 3]})
    >>> r = association_rules(sets, b)
    >>> r[["antecedents", "consequents", "count", "confidence", "lift"]].round(3).values.tolist()
    [[('a',), ('b',), 3, 1.0, 1.333], [('b',), ('a',), 3, 1.0, 1.333]]
    """
    if not {"items", "count"} <= set(itemsets.columns):
        raise ValueError("itemsets need the columns 'items' and 'count' (the output of frequent_itemsets)")
    items = check_itemsets(itemsets["items"], baskets.n_items)
    labels = _label_tuples(items, baskets.items)
    excluded = None
    if catalog is not None:
        lookup = _ancestor_lookup(catalog, baskets.level)
        if lookup:
            excluded = np.array([_relates_to_ancestor(labels[i], lookup) for i in range(len(items))], dtype=bool)
    rules = rule_arrays(items, itemsets["count"].to_numpy(dtype=np.int64), baskets, min_confidence=min_confidence,
                        min_lift=min_lift, fdr=fdr, stratify=stratify, excluded=excluded, progress=progress)
    if len(rules) == 0:
        return empty_rules()
    return pd.DataFrame({"antecedents": labels[rules.antecedent], "consequents": labels[rules.consequent],
                         **rules.columns})


def _as_set(items) -> set:
    return {items} if isinstance(items, str) else set(items)


def filter_rules(rules: pd.DataFrame, *, prune: bool = False, top_k: int | None = None, by: str = "lift",
                 lhs=None, rhs=None) -> pd.DataFrame:
    """Keep a subset of rules; every filter applies only when asked.

    Parameters
    ----------
    rules : DataFrame
        Output of :func:`association_rules`.
    prune : bool
        Drop redundant rules.
    top_k : int, optional
        Keep the ``top_k`` best rules by ``by`` (largest first; smallest first
        for p- and q-values), after the other filters.
    by : str
        Measure for ``top_k``.
    lhs, rhs : str or iterable of str, optional
        Keep rules whose antecedent (consequent) contains all of these items.

    Examples
    --------
    >>> r = pd.DataFrame({"antecedents": [("a",), ("a", "b")], "consequents": [("c",), ("c",)],
    ...                   "lift": [2.0, 3.0], "redundant": [False, True]})
    >>> filter_rules(r, prune=True)["antecedents"].tolist()
    [('a',)]
    >>> filter_rules(r, top_k=1, lhs="b")["lift"].tolist()
    [3.0]
    """
    out = rules
    if prune:
        out = out[~out["redundant"].to_numpy(dtype=bool)]
    if lhs is not None:
        want = _as_set(lhs)
        out = out[[want <= set(a) for a in out["antecedents"]]]
    if rhs is not None:
        want = _as_set(rhs)
        out = out[[want <= set(c) for c in out["consequents"]]]
    if top_k is not None:
        if by not in out.columns:
            raise ValueError(f"cannot rank rules by {by!r}: no such column")
        out = out.sort_values(by, ascending=by in ASCENDING_MEASURES, kind="stable").head(top_k)
    return out.reset_index(drop=True)


def drop_ancestor_rules(rules: pd.DataFrame, catalog: pd.DataFrame, level: str) -> pd.DataFrame:
    """Drop rules that relate an item to one of its own ancestors.

    When items of several levels are mined together ("sku 123" and its own
    subcategory "tea"), {sku, its subcategory} is as frequent as the SKU
    itself and the rule is true by construction. ``level`` is the finest level
    of the labels; labels of that level and every coarser hierarchy level are
    looked up in the catalog. At a single level this drops nothing.

    Examples
    --------
    >>> cat = pd.DataFrame({"sku": ["1", "2"], "subcategory": ["tea", "tea"], "category": ["drinks"] * 2})
    >>> r = pd.DataFrame({"antecedents": [("1",), ("1",)], "consequents": [("tea",), ("2",)]})
    >>> drop_ancestor_rules(r, cat, "sku")["consequents"].tolist()
    [('2',)]
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    lookup = _ancestor_lookup(catalog, level)
    if not lookup or rules.empty:
        return rules.reset_index(drop=True)
    bad = [_relates_to_ancestor((*a, *c), lookup) for a, c in zip(rules["antecedents"], rules["consequents"])]
    return rules[~np.asarray(bad, dtype=bool)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- substitutes

def _parent_level(level: str, catalog: pd.DataFrame) -> str | None:
    if level not in HIERARCHY:
        return None
    for lv in HIERARCHY[HIERARCHY.index(level) + 1:]:
        if lv in catalog.columns:
            return lv
    return None


def _split_tags(value) -> list[str]:
    if not isinstance(value, str):
        return []
    return [t.strip() for t in value.replace("|", ";").split(";") if t.strip()]


def _item_attributes(catalog: pd.DataFrame, level: str, items: pd.Index) -> tuple[pd.Series, pd.Series, str | None]:
    """Per item label: its parent (most common among its SKUs) and its set of need tags."""
    col = "sku" if level == "sku" else level
    parent_level = _parent_level(level, catalog)
    cat = catalog[catalog[col].notna()] if col in catalog.columns else catalog.iloc[:0]
    key = cat[col].astype(str)
    parent = pd.Series(pd.NA, index=items, dtype=object)
    if parent_level is not None:
        pairs = pd.DataFrame({"item": key, "parent": cat[parent_level]}).dropna()
        if len(pairs):
            top = pairs.groupby(["item", "parent"]).size().reset_index(name="n")
            top = top.sort_values(["item", "n"], ascending=[True, False], kind="stable").drop_duplicates("item")
            parent = top.set_index("item")["parent"].reindex(items.astype(str))
            parent.index = items
    needs = pd.Series([frozenset()] * len(items), index=items, dtype=object)
    if "need" in cat.columns:
        tags: dict = {}
        for item, value in zip(key, cat["need"]):
            tags.setdefault(item, set()).update(_split_tags(value))
        needs = pd.Series([frozenset(tags.get(str(i), ())) for i in items], index=items, dtype=object)
    return parent, needs, parent_level


def substitutes(baskets, catalog: pd.DataFrame, *, min_count: int, fdr: float = 0.05,
                max_lift: float = 0.5) -> pd.DataFrame:
    """Pairs of related items bought together far less often than chance.

    Candidates are pairs of items with ``count >= min_count`` that share their
    parent (the next hierarchy level up in the catalog: the subcategory of a
    SKU, the category of a subcategory, ...) or a ``need`` tag; items with
    unrelated parents and no common need are never candidates. Their
    co-occurrence is counted exactly (also below any support threshold:
    substitutes rarely co-occur) and tested with the one-sided Fisher test for
    negative association, Benjamini-Hochberg over the candidate family.

    Parameters
    ----------
    baskets : Baskets
    catalog : DataFrame
        With the level of ``baskets`` and the levels above (and/or ``need``).
    min_count : int
        Minimum number of receipts for each item of a pair.
    fdr : float
        Keep pairs with ``q_value <= fdr``.
    max_lift : float
        Keep pairs with ``lift <= max_lift``.

    Returns
    -------
    DataFrame
        Columns :data:`SUBSTITUTE_COLUMNS`, by p-value. ``relation`` says why the
        pair is a candidate ("same subcategory: tea", "same need: cold relief").

    Examples
    --------
    >>> from recommender.baskets import build_baskets
    >>> lines = pd.DataFrame({"receipt_id": [str(i) for i in range(40)], "sku": ["a", "b"] * 20})
    >>> cat = pd.DataFrame({"sku": ["a", "b"], "subcategory": ["tea", "tea"]})
    >>> substitutes(build_baskets(lines), cat, min_count=5)[["item_a", "item_b", "count", "relation"]].values.tolist()
    [['a', 'b', 0, 'same subcategory: tea']]
    """
    n = int(baskets.n_receipts)
    item_counts = baskets.item_counts().to_numpy(dtype=np.int64)
    frequent = np.flatnonzero(item_counts >= min_count)
    parent, needs, parent_level = _item_attributes(catalog, baskets.level, baskets.items)
    groups: dict[str, list[int]] = {}
    for i in frequent.tolist():
        p = parent.iloc[i]
        if isinstance(p, str):
            groups.setdefault(f"same {parent_level}: {p}", []).append(i)
        for tag in sorted(needs.iloc[i]):
            groups.setdefault(f"same need: {tag}", []).append(i)
    found = []
    for why, members in groups.items():
        if len(members) > 1:
            a, b = np.triu_indices(len(members), k=1)
            m = np.asarray(members, dtype=np.int64)
            found.append(pd.DataFrame({"a": m[a], "b": m[b], "why": why}))
    if not found:
        return empty_substitutes()
    # A pair related in several ways (same subcategory and same need) is one candidate.
    candidates = (pd.concat(found, ignore_index=True).groupby(["a", "b"], sort=True)["why"]
                  .agg(lambda w: "; ".join(w)).reset_index())
    pairs = candidates[["a", "b"]].to_numpy(dtype=np.int64)
    if hasattr(baskets, "pair_counts"):  # baskets in a cluster count the pairs there (recommender.spark)
        n_ab = np.asarray(baskets.pair_counts(pairs), dtype=np.int64)
    else:
        cols = np.unique(pairs)
        slot = np.full(baskets.n_items, -1, dtype=np.int64)
        slot[cols] = np.arange(len(cols))
        x = sp.csc_array(baskets.matrix[:, cols], dtype=np.int64)
        co = sp.csr_array(x.T @ x)
        n_ab = np.asarray(co[slot[pairs[:, 0]], slot[pairs[:, 1]]]).ravel().astype(np.int64)
    n_a, n_b = item_counts[pairs[:, 0]], item_counts[pairs[:, 1]]
    lift = n_ab * n / (n_a * n_b)
    p = fisher_less(n_ab, n_a, n_b, n)
    q = bh_qvalues(p)
    labels = np.asarray(baskets.items, dtype=object)
    out = pd.DataFrame({"item_a": labels[pairs[:, 0]], "item_b": labels[pairs[:, 1]], "count": n_ab,
                        "count_a": n_a, "count_b": n_b, "n_receipts": np.full(len(pairs), n, dtype=np.int64),
                        "lift": lift, "p_value": p, "q_value": q,
                        "relation": candidates["why"].to_numpy(dtype=object)})
    out = out[(out["lift"] <= max_lift) & (out["q_value"] <= fdr)]
    return out.sort_values(["p_value", "lift"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- slices

def itemset_counts(baskets, itemsets) -> np.ndarray:
    """Number of receipts of ``baskets`` that hold every item of each itemset (labels at its level).

    An item the baskets never saw gives 0; the empty itemset counts every receipt.

    >>> from recommender.baskets import build_baskets
    >>> b = build_baskets(pd.DataFrame({"receipt_id": ["1", "1", "2", "3"], "sku": ["x", "y", "x", "y"]}))
    >>> itemset_counts(b, [("x",), ("x", "y"), ("z",), ()]).tolist()
    [2, 1, 0, 3]
    """
    csc = sp.csc_array(baskets.matrix)
    position = {str(label): j for j, label in enumerate(baskets.items)}
    cache: dict = {}
    out = np.zeros(len(itemsets), dtype=np.int64)
    for i, items in enumerate(itemsets):
        key = frozenset(str(x) for x in items)
        if key not in cache:
            cols = [position.get(x) for x in key]
            if not cols:
                cache[key] = baskets.n_receipts
            elif any(c is None for c in cols):
                cache[key] = 0
            else:
                rows = None
                for c in sorted(cols, key=lambda c: csc.indptr[c + 1] - csc.indptr[c]):  # rarest first
                    here = csc.indices[csc.indptr[c]:csc.indptr[c + 1]]
                    rows = here if rows is None else np.intersect1d(rows, here, assume_unique=True)
                    if not len(rows):
                        break
                cache[key] = len(rows)
        out[i] = cache[key]
    return out


def _wilson(k, n, z):
    """Wilson score interval of k/n (vectorised; n > 0)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


#: Statuses of :func:`compare_rules`, in the order the table lists them.
COMPARE_STATUSES = ("appeared", "vanished", "strengthened", "weakened", "stable", "below chance", "untested")


def compare_rules(rules_a: pd.DataFrame, rules_b: pd.DataFrame, *, fdr: float = 0.05, baskets_a=None,
                  baskets_b=None, level: float = 0.95) -> pd.DataFrame:
    """Compare the rules of two periods (slices), with a test behind every change.

    For each rule X -> Y found in either run, its counts in both periods are
    the 2x2 table of antecedent tickets with and without the consequent:
    [[n_xy_a, n_x_a - n_xy_a], [n_xy_b, n_x_b - n_xy_b]]. A rule that one run
    did not report (below that run's thresholds) is counted again in that
    run's ``baskets``; without them its counts are unknown and it is
    "untested". The change in confidence P(Y | X) is tested with a two-sided
    Fisher exact test (twice the smaller one-sided p-value, capped at 1), with
    Benjamini-Hochberg control of the false discovery rate ``fdr`` across the
    rules tested. Only a significant change (``q_value <= fdr``) gets a name:

    * ``appeared``: reported by run b only, and its confidence rose;
    * ``vanished``: reported by run a only, and its confidence fell;
    * ``strengthened`` / ``weakened``: any other significant rise / fall;
    * ``stable``: no significant change (whichever run reported it);
    * ``below chance``: lift below 1 in both periods (not tested: not a bundle
      in either period);
    * ``untested``: counts unknown in one period, or X never bought there.

    ``delta_confidence`` (b - a) has a Newcombe hybrid-score interval,
    ``delta_lift`` (b - a) a delta-method interval on the log of each lift,
    both at ``level``. ``count_a``/``count_b`` are the receipts with X and Y.

    Examples
    --------
    >>> a = pd.DataFrame({"antecedents": [("x",)], "consequents": [("y",)], "count": [10],
    ...                   "antecedent_count": [100], "consequent_count": [50], "n_receipts": [1000],
    ...                   "lift": [2.0], "confidence": [0.1]})
    >>> b = a.assign(count=[60], confidence=[0.6], lift=[12.0])
    >>> out = compare_rules(a, b)
    >>> out["status"].tolist(), out["delta_confidence"].round(2).tolist()
    (['strengthened'], [0.5])
    >>> bool(out.loc[0, "delta_confidence_low"] > 0.35)
    True
    """
    from statistics import NormalDist  # not scipy.stats: its import costs every `compare` a second

    key = ["antecedents", "consequents"]
    counts = ["count", "antecedent_count", "consequent_count", "n_receipts"]
    keep = key + [c for c in counts + ["lift", "confidence"] if c in rules_a.columns or c in rules_b.columns]
    left = rules_a.reindex(columns=keep).assign(_in=True)
    right = rules_b.reindex(columns=keep).assign(_in=True)
    merged = left.merge(right, on=key, how="outer", suffixes=("_a", "_b"))
    for side, baskets in (("a", baskets_a), ("b", baskets_b)):
        present = merged[f"_in_{side}"].eq(True).to_numpy()
        merged[f"_in_{side}"] = present
        if baskets is None or present.all():
            continue
        todo = ~present
        ant = merged.loc[todo, "antecedents"].tolist()
        con = merged.loc[todo, "consequents"].tolist()
        merged.loc[todo, f"count_{side}"] = itemset_counts(baskets, [tuple(x) + tuple(y) for x, y in zip(ant, con)])
        merged.loc[todo, f"antecedent_count_{side}"] = itemset_counts(baskets, ant)
        merged.loc[todo, f"consequent_count_{side}"] = itemset_counts(baskets, con)
        merged.loc[todo, f"n_receipts_{side}"] = baskets.n_receipts
    num = {c: merged[c].astype("float64").to_numpy() for c in merged.columns
           if c.rsplit("_", 1)[0] in counts + ["lift", "confidence"]}
    k_a, n_a, y_a, t_a = (num.get(f"{c}_a", np.full(len(merged), np.nan)) for c in counts)
    k_b, n_b, y_b, t_b = (num.get(f"{c}_b", np.full(len(merged), np.nan)) for c in counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        conf_a, conf_b = k_a / n_a, k_b / n_b
        lift_a = np.where(np.isnan(y_a) | np.isnan(t_a), num.get("lift_a", np.nan), conf_a / (y_a / t_a))
        lift_b = np.where(np.isnan(y_b) | np.isnan(t_b), num.get("lift_b", np.nan), conf_b / (y_b / t_b))
    known = ~(np.isnan(k_a) | np.isnan(n_a) | np.isnan(k_b) | np.isnan(n_b)) & (n_a > 0) & (n_b > 0)
    below = known & (np.nan_to_num(lift_a, nan=0.0) < 1) & (np.nan_to_num(lift_b, nan=0.0) < 1)
    tested = known & ~below
    p = np.full(len(merged), np.nan)
    if tested.any():
        ka, na, kb, nb = (x[tested].astype(np.int64) for x in (k_a, n_a, k_b, n_b))
        # k_a is hypergeometric given the margins of [[k_a, n_a - k_a], [k_b, n_b - k_b]].
        lower = fisher_less(ka, na, ka + kb, na + nb)
        upper = fisher_greater(ka, na, ka + kb, na + nb)
        p[tested] = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    q = bh_qvalues(p)
    significant = q <= fdr
    up = np.nan_to_num(conf_b - conf_a) > 0
    in_a, in_b = merged["_in_a"].to_numpy(), merged["_in_b"].to_numpy()
    status = np.select(
        [~known, below, ~significant, up & in_b & ~in_a, ~up & in_a & ~in_b, up],
        ["untested", "below chance", "stable", "appeared", "vanished", "strengthened"], "weakened")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        la, ua = _wilson(k_a, n_a, z)
        lb, ub = _wilson(k_b, n_b, z)
        delta = conf_b - conf_a
        d_low = delta - np.sqrt((conf_b - lb) ** 2 + (ua - conf_a) ** 2)
        d_high = delta + np.sqrt((ub - conf_b) ** 2 + (conf_a - la) ** 2)
        # Var(log lift) ~ 1/n_xy - 1/n_x + 1/n_y - 1/n (delta method, counts treated as independent).
        var_a = 1 / k_a - 1 / n_a + 1 / y_a - 1 / t_a
        var_b = 1 / k_b - 1 / n_b + 1 / y_b - 1 / t_b
        se = np.sqrt(lift_a ** 2 * var_a + lift_b ** 2 * var_b)
    delta_lift = lift_b - lift_a
    out = pd.DataFrame({
        "antecedents": merged["antecedents"], "consequents": merged["consequents"], "status": status,
        "lift_a": lift_a, "lift_b": lift_b, "confidence_a": conf_a, "confidence_b": conf_b,
        "count_a": pd.array(np.where(np.isnan(k_a), None, k_a), dtype="Int64"),
        "count_b": pd.array(np.where(np.isnan(k_b), None, k_b), dtype="Int64"),
        "p_value": p, "q_value": q,
        "antecedent_count_a": pd.array(np.where(np.isnan(n_a), None, n_a), dtype="Int64"),
        "antecedent_count_b": pd.array(np.where(np.isnan(n_b), None, n_b), dtype="Int64"),
        "in_a": in_a, "in_b": in_b,
        "delta_confidence": delta, "delta_confidence_low": d_low, "delta_confidence_high": d_high,
        "delta_lift": delta_lift, "delta_lift_low": delta_lift - z * se, "delta_lift_high": delta_lift + z * se,
    })
    order = pd.Categorical(out["status"], list(COMPARE_STATUSES), ordered=True)
    return (out.assign(_o=order).sort_values(["_o", "p_value"], kind="stable").drop(columns="_o")
            .reset_index(drop=True))
