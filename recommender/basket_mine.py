"""A basket-per-line file -> a run folder, with numpy and Arrow alone (no pandas).

In: the path of a basket-per-line file (the FIMI layout: one receipt a line,
items split by a separator), :class:`recommender.reading.LoadOptions`,
:class:`recommender.pipeline.MiningParams` and the run folder. Out: the same
run folder as :func:`recommender.pipeline.mine_to_folder` writes from the
same file -- the same files, manifest keys, accounting, itemsets, counts and
rules -- its tables written by Arrow (see :class:`recommender.runs.ArrowTable`
for how its CSV text differs from pandas', in form only).

Why: importing pandas costs about 0.45 CPU seconds and 100 MB, about what the
whole job costs otherwise; the lines of such a file are nothing but
(receipt, item) pairs, so the clean-up that needs pandas has nothing to do.
The reader is :func:`recommender.basket_text.split_baskets` (the one
:func:`recommender.receipts.load_receipts` uses), the miner
:func:`recommender.mining.frequent_itemset_lists`, the rules
:func:`recommender.rule_generation.rule_arrays` (the ones
:func:`recommender.rules.association_rules` uses).

:func:`applies` says when this path is taken: a text file read as one basket
per line, at SKU level, with no catalog, no --rejects file and none of the
reading options that reject rows (non-product codes, basket size, stores,
dates), with the fast engine and no --lhs/--rhs filter. Otherwise the
``recommender mine`` command uses the general path, which gives the same
results with pandas.
"""

from __future__ import annotations

import codecs
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from recommender import limits
from recommender.basket_text import guess_format, split_baskets
from recommender.errors import InputError, as_path
from recommender.reading import Accounting, LoadOptions, implausible_read
from recommender.rule_generation import NUMERIC_COLUMNS, RuleArrays, rule_arrays

__all__ = ["applies", "mine_basket_file", "MinedRun", "use_system_memory_pool"]

#: Measures ``--top-k`` ranks smallest first (as :data:`recommender.rules.ASCENDING_MEASURES`).
_ASCENDING = ("p_value", "q_value", "p_value_cmh", "q_value_cmh")


@dataclass
class MinedRun:
    """What :func:`mine_basket_file` returns: the manifest written (the CLI prints from it)."""

    manifest: dict


def applies(path, options: LoadOptions, params, catalog=None, rejects=None) -> bool:
    """True when ``recommender mine`` can take the pandas-free path for this file and these options."""
    if catalog or rejects or params.level != "sku" or params.engine not in ("auto", "fast"):
        return False
    if params.lhs or params.rhs or (params.top_k is not None and params.by not in NUMERIC_COLUMNS):
        return False
    opts = options
    if (opts.non_products or opts.non_product_pattern or opts.max_basket_items or opts.sliced
            or opts.stores is not None or opts.format == "lines"):
        return False
    p = Path(path)
    if not p.is_file():
        return False
    if opts.encoding:
        try:
            codecs.lookup(opts.encoding)
        except LookupError:
            return False  # the general path says so
    try:
        if limits.plan_read(p, opts.max_memory_mb).stream:
            return False
        return opts.format == "baskets" or guess_format(p, opts) == "baskets"
    except InputError:
        return False  # the general path reports it


def use_system_memory_pool() -> None:
    """Let Arrow allocate with malloc, unless ``ARROW_DEFAULT_MEMORY_POOL`` chooses otherwise (for this process).

    Arrow's default pool (mimalloc) keeps the memory of the reader's temporary
    arrays: on the 88k-basket FIMI-shaped file the job peaked at 265 MB with it
    and 195-208 MB with malloc, for the same or less CPU time. The command
    calls this; a library caller decides for its own process.
    """
    import os

    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        pa.set_memory_pool(pa.system_memory_pool())


def _itemset_text(items: list, labels: list) -> np.ndarray:
    """Each itemset as the JSON array of its labels that :func:`recommender.runs.write_run` writes.

    Each label is JSON-quoted once, and only those in an itemset (a tenth of the items of the FIMI-shaped file).

    >>> _itemset_text([(0,), (0, 2)], ["a", "b", "中"]).tolist()
    ['["a"]', '["a", "中"]']
    """
    quoted = {i: json.dumps(str(labels[i]), ensure_ascii=False) for i in {i for t in items for i in t}}
    out = np.empty(len(items), dtype=object)
    out[:] = ["[" + ", ".join(quoted[i] for i in t) + "]" for t in items]
    return out


def _filter(rules: RuleArrays, params) -> RuleArrays:
    """``--prune`` and ``--top-k`` as :func:`recommender.rules.filter_rules` applies them."""
    if params.prune:
        rules = rules.take(np.flatnonzero(~rules.columns["redundant"]))
    if params.top_k is not None:
        values = rules.columns[params.by].astype(float)
        # stable, NaN last, ties in order: as pandas' sort_values(kind="stable")
        order = np.argsort(values if params.by in _ASCENDING else -values, kind="stable")
        rules = rules.take(order[:params.top_k])
    return rules


def mine_basket_file(path, options: LoadOptions, params, out_dir, progress=None, source: dict | None = None,
                     report=None) -> tuple[MinedRun, Path]:
    """Read, mine and write a basket-per-line file (see the module docstring); no pandas.

    ``report(accounting)`` is called once the file is read (the CLI prints the
    accounting there). Raises :class:`InputError` like the general path.

    Examples
    --------
    >>> import tempfile
    >>> from recommender.pipeline import MiningParams
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "b.dat").write_text("1 2 3\\n1 2\\n2 3\\n1 2 \\n")
    >>> run, out = mine_basket_file(d / "b.dat", LoadOptions(), MiningParams(min_count=2), d / "run")
    >>> run.manifest["n_itemsets"], run.manifest["n_rules"], run.manifest["accounting"]["rows_used"]
    (5, 4, 4)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from recommender.arrow_arrays import from_numpy, string_lengths, strings, to_numpy
    from recommender.baskets import from_codes
    from recommender.mining import frequent_itemset_lists, min_count_for
    from recommender.nonproducts import suspect_reasons
    from recommender.pipeline import _sub, _versions, check_rule_budget
    from recommender.runs import ArrowTable, write_run

    # (arrays go to and from Arrow through arrow_arrays: pyarrow's own conversions would import pandas)
    say = progress or (lambda done, total, message: None)
    p = as_path(path)
    say(0, 4, f"reading {p.name}")
    split = split_baskets(p, options)
    used = string_lengths(split.items) > 0  # an empty item only stands for a line of separators
    n_read = len(split.lines)
    owner = split.owner[used]
    used_lines = np.flatnonzero(np.bincount(owner, minlength=n_read))
    n_rejected = n_read - len(used_lines)
    say(1, 4, "coding items")
    all_used = bool(used.all())  # (a copy of every item saved when no line is rejected)
    encoded = pc.dictionary_encode(split.items if all_used else split.items.filter(from_numpy(used)))
    labels = encoded.dictionary
    order = to_numpy(pc.sort_indices(labels)).astype(np.int64)  # by code point, as Python (and pandas) sort text
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    item_codes = rank[to_numpy(encoded.indices)]
    lines_per_item = np.bincount(item_codes, minlength=len(order)).astype(np.int64)
    skus = labels.take(from_numpy(order)).cast(pa.string())
    sku_list = skus.to_pylist()
    row_of_line = np.zeros(n_read, dtype=np.int32)
    row_of_line[used_lines] = np.arange(len(used_lines), dtype=np.int32)
    receipt_codes = row_of_line[owner]  # receipts in file order (the order of rows changes no result)
    del encoded, used, owner, row_of_line
    acc = Accounting(
        path=str(p), rows_read=n_read, rows_used=len(used_lines),
        rows_rejected={"missing sku": n_rejected} if n_rejected else {}, warnings={},
        n_receipts=len(used_lines), n_items=len(sku_list), n_lines=len(item_codes), n_customers=0, stores=[],
        date_min=None, date_max=None, format="baskets", encoding=split.encoding, sep=split.sep,
        decimal="." if options.decimal == "auto" else options.decimal,
        columns={"receipt_id": "receipt_id", "sku": "sku"})
    acc.warnings.update(implausible_read(acc, True, lambda: pc.unique(split.lines).slice(0, 200).to_pylist()))
    say(4, 4, "done")
    if report is not None:
        report(acc)
    if acc.rows_used == 0:
        raise InputError("no rows left to mine after cleaning", path=p,
                         hint="run `recommender validate` with the same reading flags to see why rows were rejected")

    t_all = time.perf_counter()
    timings = {}
    say(0, 5, f"building baskets at {params.level} level")
    baskets = from_codes(receipt_codes, item_codes, split.line_numbers[used_lines], np.asarray(sku_list, dtype=object),
                         scipy=False)
    del split, receipt_codes, item_codes
    timings["baskets"] = time.perf_counter() - t_all
    n = baskets.n_receipts
    min_count = params.min_count if params.min_count is not None else min_count_for(params.min_support, n)

    t = time.perf_counter()
    say(1, 5, f"mining itemsets in {n:,} receipts (min count {min_count:,})")
    items, counts = frequent_itemset_lists(baskets.matrix, min_count, max_len=params.max_len, engine=params.engine,
                                           progress=_sub(say, 1, 5))
    counts = np.asarray(counts, dtype=np.int64)
    timings["itemsets"] = time.perf_counter() - t
    sizes = np.fromiter((len(s) for s in items), np.int64, len(items))
    check_rule_budget(sizes, counts, n, params.max_rules)

    t = time.perf_counter()
    say(2, 5, f"{len(items):,} itemsets; deriving rules")
    rules = rule_arrays(items, counts, baskets, min_confidence=params.min_confidence, min_lift=params.min_lift,
                        fdr=params.fdr, stratify=params.stratify, progress=_sub(say, 2, 5))
    rules = _filter(rules, params)
    timings["rules"] = time.perf_counter() - t
    t = time.perf_counter()
    say(3, 5, "looking for substitutes")  # they need a catalog: none here
    timings["substitutes"] = time.perf_counter() - t
    say(5, 5, f"{len(items):,} itemsets, {len(rules):,} rules, 0 substitute pairs")

    itemset_text = _itemset_text(items, sku_list)
    itemsets = pa.table({"items": strings(itemset_text), "size": from_numpy(sizes), "count": from_numpy(counts),
                         "support": from_numpy(counts / n)})
    rule_table = pa.table({"antecedents": strings(itemset_text[rules.antecedent]),
                           "consequents": strings(itemset_text[rules.consequent]),
                           **{k: from_numpy(v) for k, v in rules.columns.items()}})
    subs = pa.table({"item_a": pa.nulls(0), "item_b": pa.nulls(0), **{c: pa.nulls(0, pa.int64()) for c in (
        "count", "count_a", "count_b", "n_receipts")}, **{c: pa.nulls(0, pa.float64()) for c in (
            "lift", "p_value", "q_value")}, "relation": pa.nulls(0)})
    items_table, suspects = _items(baskets, lines_per_item, sku_list, skus, suspect_reasons)
    manifest = {
        "parameters": {**asdict(params), "min_count_used": int(min_count)},
        "n_receipts": int(n), "n_items": int(baskets.n_items), "level": params.level, "n_unmapped_lines": 0,
        "n_itemsets": len(items), "n_rules": len(rules), "n_substitutes": 0,
        "n_significant": int(rules.columns["significant"].sum()),
        "engine": "fast" if params.engine == "auto" else params.engine,
        "versions": _versions(), "timings_seconds": {k: round(v, 4) for k, v in timings.items()},
        "input": {"path": acc.path, "sha256": acc.sha256, **(source or {})},
        "accounting": acc.to_dict(),
        "suspected_non_products": suspects,
    }
    manifest["timings_seconds"]["mine_total"] = round(time.perf_counter() - t_all, 4)
    out = write_run(out_dir, itemsets_df=ArrowTable(itemsets, ("items",)),
                    rules_df=ArrowTable(rule_table, ("antecedents", "consequents")),
                    substitutes_df=ArrowTable(subs), manifest=manifest, extra_tables={"items": ArrowTable(items_table)})
    return MinedRun(manifest=manifest), out


def _items(baskets, lines, sku_list, skus, suspect_reasons):
    """The items table (as :func:`recommender.items.item_table` makes it for such a file) and the suspects."""
    import pyarrow as pa

    from recommender.arrow_arrays import from_numpy, strings

    n_items = len(sku_list)
    receipts = np.bincount(baskets.matrix.indices, minlength=n_items).astype(np.int64)
    # no name column: each SKU is its own name; no prices
    reasons, _ = suspect_reasons(sku_list, sku_list, has_name=False)
    why = [("; ".join(reasons[s]) if reasons[s] else None) for s in sku_list]
    flagged = [i for i, w in enumerate(why) if w is not None]
    suspects = [sku_list[i] for i in sorted(flagged, key=lambda i: (-lines[i], sku_list[i]))]
    table = pa.table({"sku": skus, "name": pa.nulls(n_items), "regular_price": from_numpy(np.full(n_items, np.nan)),
                      "lines": from_numpy(lines), "receipts": from_numpy(receipts),
                      "units": from_numpy(lines.astype(float)),
                      "first_sold": pa.nulls(n_items), "last_sold": pa.nulls(n_items),
                      "suspected_non_product": from_numpy(np.array([w is not None for w in why], dtype=bool)),
                      # all empty: the null column pandas writes for a column of None
                      "non_product_reasons": strings(why) if flagged else pa.nulls(n_items)})
    return table, suspects
