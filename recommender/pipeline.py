"""Receipts -> a mining run: baskets at a level, frequent itemsets, rules, substitutes.

In: clean receipt lines (from :func:`recommender.receipts.load_receipts`), an
optional catalog and :class:`MiningParams`. Out: :class:`MiningResult` with the
tables of a run folder and its manifest; :func:`mine_to_folder` also writes it
(atomically, through :mod:`recommender.runs`). The CLI, the dashboard and the
notebooks all call these two functions.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from recommender.baskets import Baskets, build_baskets


@dataclass(frozen=True)
class MiningParams:
    """What to mine and how strictly.

    Attributes
    ----------
    level : str
        Catalog level of the items (sku, subcategory, category, department, brand).
    min_support : float, optional
        An itemset is frequent when its count >= ceil(min_support x n_receipts - 1e-9).
    min_count : int, optional
        The count threshold directly (wins over ``min_support``).
    min_confidence : float
        Rules below this confidence are not written (default 0.1).
    min_lift : float, optional
    max_len : int, optional
        Longest itemset; no cap by default.
    fdr : float
        False discovery rate for ``significant`` (default 0.05).
    stratify : bool
        ``significant`` from the basket-size-stratified CMH test (default) or plain Fisher.
    engine : str
        ``auto`` (the fast embedded engine), ``fast``, ``mlxtend`` or ``spark``.
    prune : bool
        Drop redundant rules (otherwise they are only flagged).
    top_k, by : int, str
        Keep only the best ``top_k`` rules by measure ``by``.
    lhs, rhs : tuple of str
        Keep only rules whose antecedent / consequent contains one of these items.
    """

    level: str = "sku"
    min_support: float | None = 0.01
    min_count: int | None = None
    min_confidence: float = 0.1
    min_lift: float | None = None
    max_len: int | None = None
    fdr: float = 0.05
    stratify: bool = True
    engine: str = "auto"
    prune: bool = False
    top_k: int | None = None
    by: str = "lift"
    lhs: tuple = ()
    rhs: tuple = ()
    substitute_max_lift: float = 0.5
    max_rules: int = 5_000_000

    def __post_init__(self):
        if self.min_count is None and self.min_support is None:
            raise ValueError("give min_support or min_count")
        if self.min_support is not None and not 0 < self.min_support <= 1:
            raise ValueError(f"min_support must be in (0, 1], not {self.min_support}")
        if self.min_count is not None and self.min_count < 1:
            raise ValueError(f"min_count must be >= 1, not {self.min_count}")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        if not 0 < self.fdr <= 1:
            raise ValueError(f"fdr must be in (0, 1], not {self.fdr}")


@dataclass
class MiningResult:
    """The tables of a run, in memory (labels as tuples of strings)."""

    baskets: Baskets
    itemsets: pd.DataFrame
    rules: pd.DataFrame
    substitutes: pd.DataFrame
    manifest: dict = field(default_factory=dict)


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("recommender", "numpy", "pandas", "scipy", "numba", "mlxtend", "pyarrow", "pyspark"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def mine(lines: pd.DataFrame, catalog: pd.DataFrame | None = None, params: MiningParams | None = None,
         progress=None) -> MiningResult:
    """Mine rules from clean receipt lines.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines (``receipt_id``, ``sku``).
    catalog : DataFrame, optional
        Needed for levels above SKU and for substitutes.
    params : MiningParams
    progress : callable, optional
        ``progress(done, total, message)``.

    Returns
    -------
    MiningResult

    Examples
    --------
    >>> import pandas as pd
    >>> lines = pd.DataFrame({"receipt_id": list("11223344"), "sku": list("abababcd")})
    >>> res = mine(lines, params=MiningParams(min_count=2))
    >>> res.rules[["antecedents", "consequents", "count"]].values.tolist()
    [[('a',), ('b',), 3], [('b',), ('a',), 3]]
    """
    from recommender.mining import frequent_itemsets, min_count_for

    params = params or MiningParams()
    say = progress or (lambda done, total, message: None)
    timings = {}
    t0 = time.perf_counter()
    say(0, 5, f"building baskets at {params.level} level")
    baskets = build_baskets(lines, catalog, params.level)
    timings["baskets"] = time.perf_counter() - t0
    n = baskets.n_receipts
    min_count = params.min_count if params.min_count is not None else min_count_for(params.min_support, n)

    t = time.perf_counter()
    say(1, 5, f"mining itemsets in {n:,} receipts (min count {min_count:,})")
    if params.engine == "spark":
        import recommender.mining.spark  # noqa: F401  (registers the "spark" engine; starts no JVM yet)
    raw = frequent_itemsets(baskets.matrix, min_count, max_len=params.max_len, engine=params.engine,
                            progress=_sub(say, 1, 5))
    timings["itemsets"] = time.perf_counter() - t

    engine = {"engine": "fast" if params.engine == "auto" else params.engine}
    return result_from_itemsets(raw, baskets, catalog, params, min_count, timings, say, engine)


def result_from_itemsets(raw, baskets, catalog, params: MiningParams, min_count: int, timings: dict, say,
                         engine_fields: dict, substitutes_note: str = "") -> MiningResult:
    """Rules, substitutes and the manifest from mined itemsets: the part every engine shares.

    ``baskets`` is whatever the engine counts with (a local matrix or Spark's baskets); ``engine_fields``
    go into the manifest as they are (e.g. ``{"engine": "spark", "loaded_by": "spark"}``).
    """
    from recommender.rules import association_rules, empty_substitutes, filter_rules, substitutes
    from recommender.runs import itemsets_with_labels

    n = int(baskets.n_receipts)
    check_rule_count(raw, n, params.max_rules)

    t = time.perf_counter()
    say(2, 5, f"{len(raw):,} itemsets; deriving rules")
    rules = association_rules(raw, baskets, min_confidence=params.min_confidence, min_lift=params.min_lift,
                              fdr=params.fdr, stratify=params.stratify, catalog=catalog, progress=_sub(say, 2, 5))
    rules = filter_rules(rules, prune=params.prune, top_k=params.top_k, by=params.by,
                         lhs=list(params.lhs) or None, rhs=list(params.rhs) or None)
    timings["rules"] = time.perf_counter() - t

    t = time.perf_counter()
    say(3, 5, "looking for substitutes" + substitutes_note)
    if catalog is not None:
        subs = substitutes(baskets, catalog, min_count=min_count, fdr=params.fdr, max_lift=params.substitute_max_lift)
    else:
        subs = empty_substitutes()
    timings["substitutes"] = time.perf_counter() - t
    itemsets = itemsets_with_labels(raw, baskets)
    say(5, 5, f"{len(itemsets):,} itemsets, {len(rules):,} rules, {len(subs):,} substitute pairs")
    manifest = {
        "parameters": {**asdict(params), "min_count_used": int(min_count)},
        "n_receipts": n, "n_items": int(baskets.n_items), "level": params.level,
        "n_unmapped_lines": int(baskets.n_unmapped_lines),
        "n_itemsets": int(len(itemsets)), "n_rules": int(len(rules)), "n_substitutes": int(len(subs)),
        "n_significant": int(rules["significant"].sum()) if len(rules) else 0,
        **engine_fields,
        "versions": _versions(), "timings_seconds": {k: round(v, 4) for k, v in timings.items()},
    }
    return MiningResult(baskets=baskets, itemsets=itemsets, rules=rules, substitutes=subs, manifest=manifest)


def check_rule_count(itemsets: pd.DataFrame, n_receipts: int, max_rules: int) -> int:
    """Refuse, with a suggested threshold, when the itemsets would generate too many rules.

    An itemset of k items yields 2**k - 2 rules, so a few long itemsets at a low
    threshold can ask for more rules than memory holds even when mining itself
    was cheap.

    >>> import pandas as pd
    >>> sets = pd.DataFrame({"items": [(0,), (1,), (0, 1)], "count": [5, 4, 3]})
    >>> check_rule_count(sets, 10, max_rules=100)
    2
    """
    sizes = np.fromiter((len(t) for t in itemsets["items"]), np.int64, len(itemsets))
    return check_rule_budget(sizes, itemsets["count"].to_numpy(), n_receipts, max_rules)


def check_rule_budget(sizes, counts, n_receipts: int, max_rules: int) -> int:
    """:func:`check_rule_count` from the itemsets' sizes and counts (arrays)."""
    from recommender.mining import ThresholdTooLow

    sizes, counts = np.asarray(sizes), np.asarray(counts)
    per_set = np.where(sizes >= 2, np.exp2(np.minimum(sizes, 60)) - 2, 0)
    total = float(per_set.sum())
    if total <= max_rules:
        return int(total)
    # The smallest count threshold whose itemsets stay under the cap.
    order = np.argsort(-counts, kind="stable")
    cum = np.cumsum(per_set[order])
    fits = counts[order][cum <= max_rules]
    suggested = int(fits[-1]) + 1 if len(fits) else int(counts.max()) + 1
    raise ThresholdTooLow(
        f"these {len(sizes):,} itemsets (up to {int(sizes.max())} items) would generate about {total:,.0f} rules, "
        f"more than the limit of {max_rules:,}; raise --min-count to about {suggested} "
        f"(--min-support {suggested / n_receipts:.6f}) or cap the length with --max-len",
        suggested_min_count=suggested)


def _sub(say, step, total):
    """Map a stage's own progress onto its slot of the overall progress."""
    def inner(done, of, message):
        frac = done / of if of else 0
        say(step + frac, total, message)
    return inner


def mine_to_folder(receipts, out_dir, catalog=None, params: MiningParams | None = None, progress=None,
                   source: dict | None = None):
    """Mine ``receipts`` (a :class:`recommender.receipts.Receipts`) and write the run folder atomically.

    The manifest records the parameters, the input's sha256 and accounting, the
    engine, library versions and timings, and the suspected non-products
    (which are mined like any line, and marked in the run's items table).
    """
    from recommender.items import item_table
    from recommender.nonproducts import detect_non_products

    t = time.perf_counter()
    result = mine(receipts.lines, catalog, params, progress)
    suspects = detect_non_products(receipts.lines)
    return write_mined(result, receipts.accounting, item_table(receipts.lines, suspects), suspects, out_dir, t,
                       source)


def write_mined(result: MiningResult, accounting, items, suspects, out_dir, started: float, source: dict | None = None):
    """Write a mining result as a run folder (atomically), whichever engine mined it: ``(result, path)``.

    The manifest gains the input (path, sha256, ``source``), the reading's
    accounting, the suspected non-products and the whole job's time since
    ``started`` (a ``time.perf_counter()`` value); ``items`` is the run's items table.
    """
    from recommender.runs import write_run

    result.manifest.update({
        "input": {"path": accounting.path, "sha256": accounting.sha256, **(source or {})},
        "accounting": accounting.to_dict(),
        "suspected_non_products": suspects["sku"].astype(str).tolist(),
    })
    result.manifest["timings_seconds"]["mine_total"] = round(time.perf_counter() - started, 4)
    path = write_run(out_dir, itemsets_df=result.itemsets, rules_df=result.rules, substitutes_df=result.substitutes,
                     manifest=result.manifest, extra_tables={"items": items})
    return result, path


def run_baskets(run, receipts=None, catalog=None, report=None):
    """The baskets a run was mined from: its receipts read again as it recorded, at its level.

    In: a :class:`recommender.runs.Run`; optionally other receipts/catalog paths.
    Out: :class:`Baskets`, or None when the run names no receipts file or the
    file is gone (the caller says what that costs). ``report(accounting)`` is
    called with the row accounting of the read.
    """
    from pathlib import Path

    from recommender.bundles import _load_options
    from recommender.catalog import load_catalog
    from recommender.receipts import load_receipts

    source = run.manifest.get("input", {})
    path = receipts or source.get("path")
    catalog = catalog if catalog is not None else source.get("catalog")
    level = run.manifest.get("level", "sku")
    if not path or not Path(path).is_file() or (level != "sku" and not catalog):
        return None
    if isinstance(catalog, (str, Path)):
        if not Path(catalog).is_file():
            return None
        catalog = load_catalog(catalog)
    loaded = load_receipts(path, _load_options(run.manifest))
    if report is not None:
        report(loaded.accounting)
    return build_baskets(loaded.lines, catalog, level)
