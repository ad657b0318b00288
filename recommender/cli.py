"""Command line: one command per stage, each a thin shell over library functions.

``recommender validate|mine|compare|bundles|export|tickets|uplift|suggest|blend|evaluate|serve|demo``.
Bad input ends with one message on stderr naming the file (and line/column
where known) and exit status 2; never a traceback (set RECOMMENDER_DEBUG=1 to
see one for an internal error). Heavy modules are imported inside the command
that needs them, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time

from recommender.errors import InputError

EXIT_INPUT = 2


# ------------------------------------------------------------------ helpers

class Progress:
    """Progress lines on stderr, only for a person watching a terminal."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()

    def __call__(self, done, total, message):
        if not self.enabled:
            return
        pct = f"{100 * done / total:5.1f}%" if total else "      "
        print(f"\r[{time.perf_counter() - self.start:6.1f}s] {pct} {message:<60}", end="", file=sys.stderr,
              flush=True)
        if total and done >= total:
            print(file=sys.stderr)


# where the decisions, launches and working data live unless --db says otherwise
DB_HELP = "decisions database (default: RECOMMENDER_DB or data/decisions.sqlite)"


def _sep(value: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    return named.get(value.lower(), value)


def _mapping(pairs) -> dict:
    out = {}
    for pair in pairs or []:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise InputError(f"--map {pair!r} must look like FIELD=COLUMN (e.g. receipt_id=InvoiceNo)")
        out[field.strip()] = column.strip()
    return out


def _csv_list(values) -> tuple:
    out = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return tuple(out)


def _months(text: str) -> tuple:
    """'6,7,8' or '1-5,9-12' -> (1, 2, ...)."""
    out = []
    for part in _csv_list([text]):
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise InputError(f"--months {text!r}: use numbers 1-12 like 6,7,8 or 1-5,9-12") from None
    return tuple(out)


def add_loader_flags(p: argparse.ArgumentParser, slices: bool = False) -> None:
    """The receipt-reading flags every command that reads receipts shares."""
    g = p.add_argument_group("reading receipts")
    g.add_argument("--catalog", metavar="PATH", help="product catalog (CSV/XLSX/Parquet)")
    g.add_argument("--format", default="auto", choices=["auto", "lines", "baskets"],
                   help="lines: one row per receipt line; baskets: one receipt per line (default: auto)")
    g.add_argument("--sep", type=_sep, help="field separator (default: sniffed among , ; tab |; spaces in a basket-per-line file)")
    g.add_argument("--encoding", help="text encoding (default: detected; e.g. gb18030, utf-16, latin-1)")
    g.add_argument("--map", action="append", metavar="FIELD=COLUMN",
                   help="map a canonical field to a column; A+B makes a composite key (repeatable)")
    g.add_argument("--dayfirst", action="store_true", default=None, help="read 01/02/2025 as 1 February")
    g.add_argument("--date-format", help="explicit strftime format of the timestamp column")
    g.add_argument("--decimal", default="auto", choices=["auto", ".", ","], help="decimal mark (default: auto)")
    g.add_argument("--cancel-prefix", default="C", help="receipt ids of cancellations start with this (default: C)")
    g.add_argument("--cancellations", default="keep-sale", choices=["keep-sale", "net"],
                   help="keep-sale: reject cancelling lines only (default); net: also reject the cancelled sale")
    g.add_argument("--duplicates", default="keep", choices=["keep", "reject"],
                   help="exact duplicate lines: keep with a warning (default) or reject")
    g.add_argument("--zero-price", default="keep", choices=["keep", "reject"],
                   help="lines with a zero price: keep with a warning (default) or reject")
    g.add_argument("--non-products", action="append", metavar="CODES",
                   help="comma-separated SKUs that are not products (postage, fees); repeatable")
    g.add_argument("--non-product-pattern", metavar="REGEX", help="SKUs matching this in full are non-products")
    g.add_argument("--max-basket-items", type=int, metavar="N", help="reject receipts with more distinct SKUs")
    g.add_argument("--rejects", metavar="PATH", help="write rejected rows with line numbers and reasons (CSV)")
    g.add_argument("--max-rejected-share", type=float, metavar="SHARE",
                   help="stop (exit 2) when more than this share of rows is rejected as unreadable (a number, a "
                        "date or a malformed line); default 0.05, 1 accepts any loss")
    g.add_argument("--max-memory", type=float, metavar="MB", default=None,
                   help="memory budget for reading the input in MB (default $RECOMMENDER_MAX_MEMORY_MB or 2048); "
                        "a bigger file is streamed, or refused with a clear message before the budget is exceeded")
    if slices:
        g.add_argument("--since", metavar="DATE", help="first day to keep (inclusive)")
        g.add_argument("--until", metavar="DATE", help="last day to keep (inclusive)")
        g.add_argument("--months", metavar="LIST", help="keep only these months, e.g. 6,7,8 or 1-5,9-12")
        g.add_argument("--stores", metavar="A,B", help="keep only these stores")


def load_options(args):
    from recommender.reading import LoadOptions

    try:
        return LoadOptions(
            format=args.format, sep=args.sep, encoding=args.encoding, mapping=_mapping(args.map),
            dayfirst=args.dayfirst, date_format=args.date_format, decimal=args.decimal,
            cancel_prefix=args.cancel_prefix, cancellations=args.cancellations, duplicates=args.duplicates,
            zero_price=args.zero_price, non_products=_csv_list(args.non_products),
            non_product_pattern=args.non_product_pattern, max_basket_items=args.max_basket_items,
            since=getattr(args, "since", None), until=getattr(args, "until", None),
            months=_months(args.months) if getattr(args, "months", None) else None,
            stores=_csv_list([args.stores]) if getattr(args, "stores", None) else None,
            **({} if args.max_rejected_share is None else {"max_rejected_share": args.max_rejected_share}),
            max_memory_mb=getattr(args, "max_memory", None),
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None


def read_receipts(args, progress=None, loud=True):
    """Load receipts (and the catalog) as the shared loader flags say; write rejects if asked.

    ``loud``: print the row accounting on stderr (every command but ``validate``, whose output it is).
    """
    from recommender.receipts import load_receipts, write_rejects

    # The loader measures what the file expands to and streams it in chunks when it would not fit whole
    # in --max-memory (recommender.limits): bounded memory, the same accounting.
    receipts = load_receipts(args.path, load_options(args), progress=progress)
    for note in receipts.accounting.warnings:
        # a misread must not pass silently, whatever the command prints (loud runs print every warning below)
        if note.startswith("implausible read") and not loud:
            print(f"warning: {note}", file=sys.stderr)
    if args.rejects:
        write_rejects(receipts, args.rejects)
    if loud:
        print_accounting_summary(receipts.accounting, rejects_path=args.rejects)
    catalog = None
    if args.catalog:
        from recommender.catalog import load_catalog

        catalog = load_catalog(args.catalog, encoding=None)
    return receipts, catalog


def print_accounting_summary(acc, rejects_path=None, file=None) -> None:
    """Read, used, rejected by reason and warnings, in a few lines on stderr: no row goes missing unsaid."""
    file = file or sys.stderr
    rejected = sum(acc.rows_rejected.values())
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in acc.rows_rejected.items())
    print(f"{acc.path}: read {acc.rows_read:,} rows, used {acc.rows_used:,}, rejected {rejected:,}"
          + (f" ({reasons})" if reasons else ""), file=file)
    for note, n in acc.warnings.items():
        print(f"warning: {note}: {n:,}", file=file)
    if rejected and not rejects_path:
        print("(--rejects FILE writes every rejected row with its line number and reason)", file=file)


def print_accounting(acc) -> None:
    print(f"file          {acc.path}")
    print(f"read as       {acc.format}, encoding {acc.encoding or '-'}, separator {acc.sep!r}, decimal {acc.decimal!r}")
    print("columns       " + ", ".join(f"{k}={v}" for k, v in acc.columns.items()))
    print(f"rows read     {acc.rows_read:>12,}")
    print(f"rows used     {acc.rows_used:>12,}")
    total = sum(acc.rows_rejected.values())
    print(f"rows rejected {total:>12,}")
    for reason, n in acc.rows_rejected.items():
        print(f"  {reason:<28}{n:>10,}")
    for note, n in acc.warnings.items():
        print(f"warning: {note}: {n:,}")
    print(f"receipts      {acc.n_receipts:>12,}")
    print(f"items         {acc.n_items:>12,}")
    print(f"customers     {acc.n_customers:>12,}")
    print(f"stores        {len(acc.stores):>12,}" + (f"  ({', '.join(acc.stores[:12])}{' ...' if len(acc.stores) > 12 else ''})" if acc.stores else ""))
    print(f"dates         {acc.date_min or '-'} .. {acc.date_max or '-'}")
    print("balanced      " + ("yes: read = used + rejected" if acc.balanced else "NO"))


# ------------------------------------------------------------------ commands

def cmd_validate(args) -> int:
    from recommender.nonproducts import detect_non_products, non_products_flag

    receipts, _ = read_receipts(args, Progress(), loud=False)
    acc = receipts.accounting
    suspects = detect_non_products(receipts.lines)
    flag = non_products_flag(suspects)
    if args.json:
        listed = [{k: (None if pd_isna(v) else v) for k, v in row.items()} for row in suspects.to_dict("records")]
        print(json.dumps(acc.to_dict() | {"suspected_non_products": listed, "non_products_flag": flag},
                         ensure_ascii=False, default=str))
    else:
        print_accounting(acc)
        if args.rejects:
            print(f"rejected rows written to {args.rejects}")
        print_suspects(suspects, flag)
    return 0


def print_suspects(suspects, flag, limit: int = 25) -> None:
    """The suspected non-products (fees, postage, adjustments) and the flag that leaves them out."""
    if suspects.empty:
        print("non-products  none suspected")
        return
    print(f"non-products  {len(suspects):,} suspected (fees, postage, services, adjustments; kept in mining, "
          "never offered in bundles):")
    for row in suspects.head(limit).itertuples(index=False):
        name = "" if pd_isna(row.name) else str(row.name)
        print(f"  {row.sku:<14.14} {name:<30.30} {row.lines:>8,} lines  {row.reasons}")
    if len(suspects) > limit:
        print(f"  ... {len(suspects) - limit:,} more (--json lists them all)")
    print(f"to drop them from the lines: {flag}")


def cmd_mine(args) -> int:
    from recommender.pipeline import MiningParams, mine_to_folder

    try:
        params = MiningParams(
            level=args.level, min_count=args.min_count,
            min_support=args.min_support if args.min_support is not None or args.min_count is not None else 0.01,
            min_confidence=args.min_confidence, min_lift=args.min_lift, max_len=args.max_len, fdr=args.fdr,
            stratify=not args.no_stratify, engine=args.engine, prune=args.prune, top_k=args.top_k, by=args.by,
            lhs=_csv_list(args.lhs), rhs=_csv_list(args.rhs))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    progress = Progress()
    if args.engine == "spark":
        return _mine_on_spark(args, params, progress)
    from dataclasses import asdict
    from pathlib import Path

    from recommender import basket_mine

    options = load_options(args)
    if basket_mine.applies(args.path, options, params, catalog=args.catalog, rejects=args.rejects):
        # a basket-per-line file: read, mine and write with numpy and Arrow, no pandas (same run folder)
        basket_mine.use_system_memory_pool()
        source = {"load_options": asdict(options), "catalog": None}
        result, path = basket_mine.mine_basket_file(args.path, options, params, args.out, progress, source=source,
                                                    report=print_accounting_summary)
        _print_mined(args, result, path)
        return 0
    receipts, catalog = read_receipts(args, progress)
    if receipts.accounting.rows_used == 0:
        raise InputError("no rows left to mine after cleaning", path=args.path,
                         hint="run `recommender validate` with the same reading flags to see why rows were rejected")
    source = {"load_options": asdict(load_options(args)),
              "catalog": str(Path(args.catalog).resolve()) if args.catalog else None}
    result, path = mine_to_folder(receipts, args.out, catalog, params, progress, source=source)
    _print_mined(args, result, path)
    return 0


def _spark_conf(pairs) -> dict:
    """``--spark-conf KEY=VALUE`` (repeatable) as a dict; a pair without "=" is an error naming it."""
    conf = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise InputError(f"--spark-conf {pair!r} is not KEY=VALUE", hint="e.g. --spark-conf spark.executor.memory=4g")
        conf[key.strip()] = value
    return conf


def _mine_on_spark(args, params, progress) -> int:
    """The whole pipeline on Spark: read, clean, count and mine in the cluster (issue #15)."""
    from dataclasses import asdict
    from pathlib import Path

    from recommender.mining import spark as spark_engine
    from recommender.spark.load import load_receipts_spark, write_rejects_parquet
    from recommender.spark.pipeline import mine_to_folder_spark

    spark_engine.configure(**_spark_conf(args.spark_conf))
    session = spark_engine.get_session()
    receipts = load_receipts_spark(args.path, load_options(args), spark=session, progress=progress)
    if args.rejects:
        write_rejects_parquet(receipts, args.rejects)
    print_accounting_summary(receipts.accounting, rejects_path=args.rejects)
    if args.rejects:
        print(f"rejected rows written by Spark as a Parquet dataset to {args.rejects}", file=sys.stderr)
    if receipts.accounting.rows_used == 0:
        raise InputError("no rows left to mine after cleaning", path=args.path,
                         hint="run `recommender validate` with the same reading flags to see why rows were rejected")
    catalog = None
    if args.catalog:
        from recommender.catalog import load_catalog

        catalog = load_catalog(args.catalog, encoding=None)
    source = {"load_options": asdict(load_options(args)),
              "catalog": str(Path(args.catalog).resolve()) if args.catalog else None}
    result, path = mine_to_folder_spark(receipts, args.out, catalog, params, progress, source=source)
    _print_mined(args, result, path)
    return 0


def _print_mined(args, result, path) -> None:
    m = result.manifest
    if args.json:
        print(json.dumps({k: m[k] for k in ("n_receipts", "n_items", "n_itemsets", "n_rules", "n_significant",
                                            "n_substitutes", "engine", "level", "timings_seconds")}
                         | {"out": str(path), "min_count": m["parameters"]["min_count_used"]}, default=str))
    else:
        print(f"receipts      {m['n_receipts']:>10,}   items {m['n_items']:,} at {m['level']} level")
        print(f"min count     {m['parameters']['min_count_used']:>10,}")
        print(f"itemsets      {m['n_itemsets']:>10,}")
        print(f"rules         {m['n_rules']:>10,}   significant {m['n_significant']:,}")
        print(f"substitutes   {m['n_substitutes']:>10,}")
        print(f"written to    {path}")


def cmd_compare(args) -> int:
    from recommender.pipeline import run_baskets
    from recommender.rules import compare_rules
    from recommender.runs import read_run

    a, b = read_run(args.run_a), read_run(args.run_b)
    baskets = {}
    for name, run in (("a", a), ("b", b)):
        baskets[name] = run_baskets(run, report=print_accounting_summary)
        if baskets[name] is None:
            print(f"note: the receipts of {run.path} cannot be read again, so rules it did not report are "
                  "'untested'", file=sys.stderr)
    table = compare_rules(a.rules, b.rules, fdr=args.fdr, baskets_a=baskets["a"], baskets_b=baskets["b"])
    counts = table["status"].value_counts()
    if args.status:
        wanted = set(_csv_list([args.status]))
        if "changed" in wanted:  # the earlier name of strengthened + weakened
            wanted |= {"strengthened", "weakened"}
        table = table[table["status"].isin(wanted)]
    listed = table.copy()
    for col in ("antecedents", "consequents"):  # JSON arrays, as in rules.csv
        listed[col] = listed[col].map(lambda items: json.dumps(list(items), ensure_ascii=False))
    if args.out:
        from recommender.atomic import atomic_write_bytes
        from recommender.spreadsheet import csv_bytes

        atomic_write_bytes(args.out, csv_bytes(listed))  # a report for Excel: no live formulas
    if args.json:
        out = table.copy()
        for col in ("antecedents", "consequents"):
            out[col] = out[col].map(list)
        print(out.to_json(orient="records", force_ascii=False))
        return 0
    print(f"rules tested for a change at FDR {args.fdr:g} (Fisher exact test per rule, Benjamini-Hochberg)")
    print("  ".join(f"{s}: {int(counts.get(s, 0)):,}" for s in
                    ("appeared", "vanished", "strengthened", "weakened", "stable", "below chance", "untested")))
    shown = table[table["status"].isin(["appeared", "vanished", "strengthened", "weakened"])].head(args.limit)
    for row in shown.itertuples(index=False):
        print(f"{row.status:<12} {' + '.join(row.antecedents)} -> {' + '.join(row.consequents)}"
              f"   confidence {row.confidence_a:.2f} -> {row.confidence_b:.2f} "
              f"({row.delta_confidence:+.2f}, 95% {row.delta_confidence_low:+.2f}..{row.delta_confidence_high:+.2f})"
              f"   lift {row.lift_a:.2f} -> {row.lift_b:.2f}   q {row.q_value:.2g}")
    return 0


def pd_isna(x) -> bool:
    return x is None or x != x


def _engine_lines(args, progress=None):
    """Clean lines for a counting command (``tickets``, ``uplift``) and the catalog.

    ``PATH`` may be a run folder: then the receipts it was mined from are read with its recorded reading
    options, on the engine that read them (``loaded_by``). With ``--engine spark`` (or a run made there) the
    lines stay in Spark and every count is a Spark aggregation (:mod:`recommender.spark.counts`).
    """
    from pathlib import Path

    run_dir = Path(args.path)
    engine = getattr(args, "engine", None) or "auto"
    if (run_dir / "manifest.json").is_file():
        from recommender.bundles import _load_options
        from recommender.runs import read_run

        run = read_run(run_dir)
        source = run.manifest.get("input", {})
        if not source.get("path"):
            raise InputError("the run manifest names no receipts file", path=run.path,
                             hint="pass the receipts file instead of the run folder")
        args.path = source["path"]
        if not args.catalog and source.get("catalog"):
            args.catalog = source["catalog"]
        if engine == "auto" and run.manifest.get("loaded_by") == "spark":
            engine = "spark"
        opts = _load_options(run.manifest)
    else:
        opts = None
    if engine != "spark":
        if opts is None:
            return read_receipts(args, progress)
        from recommender.receipts import load_receipts

        receipts = load_receipts(args.path, opts, progress=progress)
        print_accounting_summary(receipts.accounting)
        catalog = None
        if args.catalog:
            from recommender.catalog import load_catalog

            catalog = load_catalog(args.catalog, encoding=None)
        return receipts, catalog
    receipts = _spark_receipts(args.path, opts or load_options(args), args.spark_conf, progress,
                               rejects=getattr(args, "rejects", None))
    catalog = None
    if args.catalog:
        from recommender.catalog import load_catalog

        catalog = load_catalog(args.catalog, encoding=None)
    return receipts, catalog


def _spark_receipts(path, opts, spark_conf, progress=None, rejects=None):
    """Receipts read and cleaned by Spark (lines kept in the cluster, persisted for the counts to come)."""
    from recommender.mining import spark as spark_engine
    from recommender.spark.load import load_receipts_spark, write_rejects_parquet

    spark_engine.configure(**_spark_conf(spark_conf))
    receipts = load_receipts_spark(str(path), opts, spark=spark_engine.get_session(), progress=progress)
    if rejects:
        write_rejects_parquet(receipts, rejects)
    print_accounting_summary(receipts.accounting, rejects_path=rejects)
    receipts.lines = receipts.lines.persist()
    return receipts


def cmd_tickets(args) -> int:
    from recommender.tickets import overlap_report, store_totals, ticket_metrics

    receipts, catalog = _engine_lines(args, Progress())
    lines = receipts.lines
    table = ticket_metrics(lines, catalog, args.level, by=args.by)
    totals = store_totals(lines, by=args.by)
    overlap = overlap_report(lines, catalog, args.level, by=args.by) if args.level not in ("store",) else None
    if args.out:
        from recommender.atomic import atomic_write_bytes
        from recommender.spreadsheet import csv_bytes

        atomic_write_bytes(args.out, csv_bytes(table))  # a report for Excel: no live formulas
    if args.json:
        print(json.dumps({"metrics": table.to_dict("records"), "store_totals": totals.to_dict("records"),
                          "overlap": None if overlap is None else overlap.to_dict("records")},
                         default=str, ensure_ascii=False))
        return 0
    print(f"Ticket count (客单量): a receipt counts once for the store and once for each {args.level} value it "
          "contains, however many units; counts of different values are never added up.")
    print()
    print(totals.to_string(index=False, float_format=lambda x: f"{x:,.2f}"))
    print()
    print(table.head(args.limit).to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    if len(table) > args.limit:
        print(f"... {len(table) - args.limit:,} more rows" + (f" in {args.out}" if args.out else " (use --out)"))
    if overlap is not None:
        print()
        for row in overlap.to_dict("records"):
            group = " ".join(str(row[c]) for c in ("store_id", "period") if c in row)
            print(f"{group + ': ' if group else ''}sum over {args.level} values = {row['sum_of_value_tickets']:,} "
                  f"tickets vs {row['store_tickets']:,} store tickets: exceeds it by {row['excess']:,} "
                  f"({row['excess_pct']:.1f}%), {row['values_per_ticket']:.2f} {args.level} values per ticket")
    if args.out:
        print(f"\nwritten to {args.out}")
    return 0


def cmd_uplift(args) -> int:
    from recommender.uplift import match_control_stores, measure_uplift, minimum_detectable_effect

    receipts, catalog = _engine_lines(args, Progress())
    lines = receipts.lines
    test = list(_csv_list([args.test_stores]))
    control = list(_csv_list([args.control_stores])) if args.control_stores else None
    bundle = None
    if args.bundle:
        items = list(_csv_list([args.bundle]))
        anchor = list(_csv_list([args.anchor])) if args.anchor else items[:1]
        bundle = {"anchor": anchor, "items": items, "level": args.level}
    if args.metric == "attach" and bundle is None:
        raise InputError("--metric attach needs --bundle ANCHOR,ADDON,... (the first item is the anchor)")
    extra = {}
    if args.match:
        matched = match_control_stores(lines, test, args.launch, n=args.match, metric="atv" if args.metric == "attach"
                                       else args.metric, catalog=catalog)
        extra["matched_controls"] = matched.to_dict("records")
        if control is None:
            control = sorted(set(matched["control_store"]))
    result = measure_uplift(lines, args.launch, test, control, metric=args.metric, pre_days=args.pre_days,
                            post_days=args.post_days, bundle=bundle, winsorize=args.winsorize, cuped=args.cuped,
                            method=args.method, catalog=catalog)
    if args.mde_weeks:
        extra["minimum_detectable_effect"] = minimum_detectable_effect(
            lines, test, control or [], args.mde_weeks, metric="atv" if args.metric == "attach" else args.metric,
            launch=args.launch)
    result.update(extra)
    if args.json:
        print(json.dumps(result, default=str, ensure_ascii=False))
        return 0
    design = "difference-in-differences, test vs control stores" if result["design"] == "did" else \
        "pre/post in the test stores only (weaker design: trends and seasons are credited to the launch)"
    pct = result.get("estimate_pct")
    print(f"metric        {result['metric']}")
    print(f"design        {design}")
    print(f"method        {result['method']}{' + CUPED' if result.get('cuped') else ''}"
          f"{f', winsorised at {args.winsorize:g}' if args.winsorize else ''}")
    print(f"estimate      {result['estimate']:+,.3f}" + (f" ({pct:+.2f}%)" if pct is not None else ""))
    print(f"95% interval  [{result['ci_low']:+,.3f}, {result['ci_high']:+,.3f}]   p = {result['p_value']:.4f}")
    print(f"stores        {result['n_test_stores']} test, {result['n_control_stores']} control; "
          f"{result['n_tickets']:,} tickets")
    for w in result.get("warnings", []):
        print(f"warning: {w}")
    if "minimum_detectable_effect" in extra:
        m = extra["minimum_detectable_effect"]
        print(f"MDE           {m['mde']:,.3f} ({m['mde_pct']:.2f}%) over {args.mde_weeks} weeks at 80% power")
    return 0


def _run_lines(run_dir, receipts, engine="auto", spark_conf=None):
    """Clean lines of the receipts a run was mined from (its recorded reading options), accounting on stderr.

    A run made in Spark (``"loaded_by": "spark"``), or ``engine="spark"``, keeps them in Spark: the bundles'
    counts are then Spark aggregations (:mod:`recommender.spark.bundle_counts`).
    """
    from recommender.bundles import _load_options
    from recommender.receipts import LoadOptions, load_receipts
    from recommender.runs import read_run

    run = read_run(run_dir)
    path = receipts or run.manifest.get("input", {}).get("path")
    if not path:
        return None  # bundles_for_run says what is missing
    if engine == "spark" or (engine == "auto" and run.manifest.get("loaded_by") == "spark"):
        return _spark_receipts(path, _load_options(run.manifest) or LoadOptions(), spark_conf).lines
    loaded = load_receipts(path, _load_options(run.manifest))
    print_accounting_summary(loaded.accounting)
    return loaded.lines


def _known_launches(args) -> list:
    """Launches whose promoted store-periods the counts leave out: --exclude-launch, plus every stored one."""
    from recommender.launch import list_launches, read_launch

    db = _db(args)
    known = {r["launch_id"]: r for r in list_launches(db)}
    for ref in args.exclude_launch or []:
        rec = read_launch(ref, db)
        known[rec["launch_id"]] = rec
    return list(known.values())


def cmd_bundles(args) -> int:
    from recommender.bundles import bundles_for_run
    from recommender.policy import Policy, load_policy, policy_from_flags

    policy = load_policy(args.policy) if args.policy else Policy()
    policy = policy_from_flags(policy, min_margin=args.min_margin, max_discount=args.max_discount,
                               min_saving=args.min_saving, price_ending=args.price_ending,
                               discount_types=list(_csv_list([args.discount_types])) if args.discount_types else None,
                               assume_margin=args.assume_margin, currency=args.currency,
                               keep_non_products=_csv_list(args.keep_non_products) or None)
    extra = {} if args.min_lift is None else {"min_lift": args.min_lift}
    if args.min_size_lift is not None:
        extra["min_size_lift"] = args.min_size_lift
    receipts = _run_lines(args.run_dir, args.receipts, args.engine, args.spark_conf)
    known = _known_launches(args)
    bundles, path = bundles_for_run(args.run_dir, receipts, args.catalog, policy=policy, top=args.top,
                                    max_per_anchor=args.max_per_anchor, season=args.season, gift_sku=args.gift_sku,
                                    as_of=args.as_of, known_launches=known, progress=Progress(), **extra)
    if args.json:
        out = bundles.copy()
        for col in out.columns:
            if out[col].map(lambda v: isinstance(v, tuple)).any():
                out[col] = out[col].map(lambda v: list(v) if isinstance(v, tuple) else v)
        print(out.to_json(orient="records", force_ascii=False, default_handler=str))
        return 0
    summary = bundles.attrs.get("summary", {})
    for notice in summary.get("notices", []):
        print(f"notice: {notice}")
    rec = bundles[bundles["recommended"].astype(bool)]
    stores = max(summary.get("stores", 0), bundles["store"].nunique(dropna=False)) if len(bundles) else \
        summary.get("stores", 0)
    print(f"{len(bundles):,} bundle offers ({len(rec):,} recommended) in {stores:,} store(s); "
          f"written to {path / 'bundles.csv'}")
    gates = summary.get("gates", {})
    if gates:
        print(f"from {summary.get('candidates', 0):,} candidates; removed by gate: "
              + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in gates.items()))
    mix = summary.get("mix_match") or {}
    if mix.get("families"):
        mixed = bundles["discount_type"].astype(str).eq("mix_match") if len(bundles) else bundles["recommended"]
        print(f"mix & match: {mix['families']:,} variant families, {int(mixed.sum()):,} 'any 2' offers "
              f"({int((mixed & bundles['recommended'].astype(bool)).sum()):,} recommended)")
    reason = "reason_zh" if args.lang == "zh" else "reason_en"
    # in rank order: expected profit times the share of the pairing that basket size does not explain
    best = rec.sort_values(["incremental_value", "expected_profit"], ascending=False, kind="stable")
    best = best.drop_duplicates("level_items").head(args.limit)
    from recommender.money import format_money

    for row in best.itertuples(index=False):
        names = row.names_zh if args.lang == "zh" else row.names
        label = " + ".join(str(n) for n in (names or row.level_items))
        now = format_money(row.bundle_price, row.currency, args.lang)
        # a gift offer is sold at its regular price: "84.80 + gift", never "84.80 -> 84.80"
        price = (f"{now:>10} + gift     " if row.discount_type == "gift" else
                 f"{format_money(row.regular_price, row.currency, args.lang):>10} -> {now:>10}")
        print(f"  {label:<60.60} {row.discount_type:<15} {price}  [{row.cost_source} cost]  {getattr(row, reason)}")
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from recommender.export import export_bundles
    from recommender.runs import read_run

    if getattr(args, "launch", None):
        if args.format != "pos":
            raise InputError("--launch goes with --format pos (the launch's till file)")
        from recommender.launch import read_launch, write_till

        path = write_till(read_launch(args.launch, _db(args)), args.out)
        print(f"written to {path}")
        return 0
    run = read_run(args.run_dir)
    bundles = run.tables.get("bundles")
    if bundles is None:
        raise InputError("this run has no bundles yet", path=args.run_dir,
                         hint=f"run `recommender bundles {args.run_dir}` first")
    selection = "all" if args.all else "approved" if args.approved_only else "recommended"
    if selection == "approved":
        from recommender import data_dir
        from recommender.decisions import apply_decisions, current, default_db_path

        db = Path(args.db) if args.db else default_db_path(data_dir())
        state = current(db) if db.exists() else None
        if state is None or state.empty:
            raise InputError("no approved bundles: nothing has been approved in the dashboard yet", path=db,
                             hint="approve bundles on the dashboard's Bundles page, or export --all")
        bundles = apply_decisions(bundles, state)
    currency = args.currency or run.manifest.get("bundles", {}).get("currency")
    path = export_bundles(bundles, args.format, args.out, store=args.store, lang=args.lang, selection=selection,
                          valid_from=args.valid_from, valid_to=args.valid_to, currency=currency)
    if "cost_source" in bundles.columns and (bundles["cost_source"] == "assumed").any():
        from recommender.export import ASSUMED_COST_NOTICE

        print(f"notice: {ASSUMED_COST_NOTICE['en']}")
    print(f"written to {path}")
    return 0


def cmd_approve(args) -> int:
    """Approve (or reject) bundles of a run in the decisions database, as the dashboard does.

    An offer that is not recommended, or whose expected profit is negative, is approved only with
    ``--reason``; the reason is kept with the decision and shown in the exports.
    """
    from recommender import decisions
    from recommender.runs import read_run

    run = read_run(args.run_dir)
    table = run.tables.get("bundles")
    if table is None or table.empty:
        raise InputError("this run has no bundles yet", path=args.run_dir,
                         hint=f"run `recommender bundles {args.run_dir}` first")
    db = _db(args)
    ids = list(_csv_list([args.bundles]))
    known = set(table["bundle_id"].astype(str))
    missing = [i for i in ids if i not in known]
    if missing:
        raise InputError(f"bundle id(s) not in this run: {missing[:5]}", path=run.path,
                         hint="ids are in the bundle_id column of bundles.csv")
    state = decisions.current(db)
    rows = decisions.apply_decisions(table, state) if len(state) else table
    rows = rows.set_index(rows["bundle_id"].astype(str))
    action = "reject" if args.reject else "approve"
    needs = {i: decisions.reason_needed(rows.loc[i]) for i in ids} if action == "approve" else {}
    lacking = [f"{i} ({why})" for i, why in needs.items() if why]
    reason = (args.reason or "").strip() or None
    if lacking and reason is None:
        raise InputError(f"approving {len(lacking)} offer(s) needs a reason: {'; '.join(lacking[:5])}",
                         hint='say why with --reason "TEXT" (it is kept with the decision and shown in exports)')
    user = args.user or os.environ.get("USER") or "cli"
    written = []
    for i in ids:
        r = rows.loc[i]
        out = decisions.record(db, i, items=list(r["items"]), store=r.get("store"), action=action, user=user,
                               role="merchandiser", run=run.path.name,
                               reason=reason if needs.get(i) else None, needs_reason=needs.get(i))
        written.append({"bundle_id": i, "status": out["status"], "reason": out["reason"]})
    if args.json:
        print(json.dumps({"db": str(db), "decisions": written}, ensure_ascii=False))
    else:
        for w in written:
            why = f" -- reason: {w['reason']}" if w["reason"] else ""
            print(f"{w['bundle_id']}: {w['status']} by {user}{why}")
    return 0


def _run_inputs(run_dir, receipts, catalog):
    """Receipt lines and catalog for a run: given paths, else what the run's manifest recorded."""
    from recommender.bundles import _load_options
    from recommender.catalog import load_catalog
    from recommender.receipts import load_receipts
    from recommender.runs import read_run

    run = read_run(run_dir)
    source = run.manifest.get("input", {})
    catalog = catalog or source.get("catalog")
    receipts = receipts or source.get("path")
    lines = None
    if receipts:
        loaded = load_receipts(receipts, _load_options(run.manifest))
        print_accounting_summary(loaded.accounting)
        lines = loaded.lines
    return run, lines, load_catalog(catalog) if catalog else None


def cmd_suggest(args) -> int:
    from recommender.suggest import suggest

    run, lines, catalog = _run_inputs(args.run_dir, args.receipts, args.catalog)
    result = suggest(run, list(_csv_list([args.basket])) if args.basket else [], k=args.k, customer=args.customer,
                     store=args.store, catalog=catalog, lines=lines, rank_by=args.rank_by)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str))
        return 0
    print("basket: " + (", ".join(result["basket"]) or "(empty)"))
    for s in result["suggestions"]:
        offer = ""
        if s.get("bundle"):
            b = s["bundle"]
            same = b.get("bundle_price") == b.get("regular_price")  # a gift offer: the price plus a free item
            offer = (f"   [bundle {b.get('bundle_price')} with a free gift]" if same else
                     f"   [bundle {b.get('bundle_price')} instead of {b.get('regular_price')}]")
        print(f"{s['rank']:>2}. {s['item']:<16} {str(s.get('name') or ''):<40.40} {s['source']:<10} {s['reason']}{offer}")
    return 0


def cmd_evaluate(args) -> int:
    from recommender.evaluate import evaluate

    receipts, catalog = read_receipts(args, Progress())
    if receipts.lines["timestamp"].isna().all():
        raise InputError("evaluate splits receipts by time (train on the past, test on the last days), and no "
                         "receipt has a timestamp", path=args.path,
                         hint="map the date column with --map timestamp=COLUMN")
    test_days = int(args.test_days) if str(args.test_days).isdigit() else args.test_days
    try:
        table = evaluate(receipts.lines, catalog, test_days=test_days, k=args.k, min_support=args.min_support,
                         min_count=args.min_count, level=args.level, seed=args.seed, progress=Progress())
    except ValueError as exc:
        raise InputError(str(exc), path=args.path) from None
    if args.json:
        print(table.to_json(orient="records"))
    else:
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        a = table.attrs
        weights = ", ".join(f"{s} {w:g}" for s, w in a["weights"].items() if w > 0)
        print(f"blend learned on {a['validation'].get('n_cases', 0):,} validation baskets before {a['cutoff']}: "
              f"{weights}; EASE^R lambda {a['ease_lambda']}; margin = {a['margin_basis']}")
    return 0


def cmd_blend(args) -> int:
    from recommender.blend import attach, learn_blend, save_blend
    from recommender.pipeline import MiningParams
    from recommender.suggest import Recommender

    run, lines, catalog = _run_inputs(args.run_dir, args.receipts, args.catalog)
    if lines is None:
        raise InputError("learning the blend needs the receipts the run was mined from", path=args.run_dir,
                         hint="pass --receipts PATH")
    known = {f for f in MiningParams.__dataclass_fields__}
    params = {k: v for k, v in run.manifest.get("parameters", {}).items() if k in known}
    # The run's threshold as a share of its receipts, so it scales to the (smaller) fitting part.
    used, n = run.manifest.get("parameters", {}).get("min_count_used"), run.manifest.get("n_receipts")
    if params.pop("min_count", None) is not None and used and n:
        params["min_support"] = min(1.0, used / n)  # a threshold above every count stays one
    val_days = int(args.val_days) if str(args.val_days).isdigit() else args.val_days
    blend = learn_blend(lines, catalog, MiningParams(**params) if params else None, val_days=val_days, k=args.k,
                        progress=Progress())
    rec = attach(Recommender.from_run(run, catalog=catalog, lines=lines), lines, blend)
    save_blend(args.run_dir, rec, blend)
    hit = blend.validation.get("hit_rate", {})
    print("validation hit rate@{}: {}".format(args.k, ", ".join(f"{s} {v:.3f}" for s, v in hit.items())))
    print("blend weights: " + ", ".join(f"{s} {w:g}" for s, w in blend.weights.items() if w > 0)
          + f"; EASE^R lambda {blend.ease_lambda}")
    print(f"written to {args.run_dir}/blend.json and similarity.npz")
    return 0


def cmd_serve(args) -> int:
    from recommender.serve import serve

    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, not {args.workers}")
    print(f"serving {args.run_dir} on http://{args.host}:{args.port} (GET/POST /suggest, GET /health, "
          f"GET /bundles?store=S); Ctrl+C stops", file=sys.stderr)
    from recommender.runs import read_run

    read_run(args.run_dir)  # a clear error before the server starts
    serve(args.run_dir, host=args.host, port=args.port, workers=args.workers, receipts=args.receipts,
          catalog=args.catalog, db=args.db)
    return 0


def _db(args):
    from pathlib import Path

    from recommender import data_dir
    from recommender.decisions import default_db_path

    return Path(args.db) if getattr(args, "db", None) else default_db_path(data_dir())


def cmd_launch(args) -> int:
    from recommender.launch import bundles_from_run, list_launches, make_launch, store_launch, write_launch_json
    from recommender.policy import Policy, load_policy
    from recommender.uplift import match_control_stores

    run, lines, catalog = _run_inputs(args.run_dir, args.receipts, args.catalog)
    db = _db(args)
    state = None
    if args.approved:
        from recommender.decisions import current

        state = current(db) if db.exists() else None
        if state is None or state.empty:
            raise InputError("no approved bundles: nothing has been approved yet", path=db,
                             hint="approve bundles on the dashboard, or pass --bundles IDS")
    bundles = bundles_from_run(run, list(_csv_list([args.bundles])) if args.bundles else None,
                               approved_state=state, catalog=catalog)
    reason = (args.reason or "").strip() or None
    if args.bundles:
        # launching by id skips the approval: an offer that is not recommended needs the reason it would need there
        from recommender.decisions import reason_needed

        lacking = [f"{b['bundle_id']} ({why})" for b in bundles for why in [reason_needed(b)] if why]
        if lacking and reason is None:
            raise InputError(f"launching {len(lacking)} offer(s) needs a reason: {'; '.join(lacking[:5])}",
                             hint='say why with --reason "TEXT" (kept in the launch record)')
    if lines is None:
        raise InputError("a launch's projection needs the receipts", hint="pass --receipts PATH")
    stores = list(_csv_list([args.stores]))
    control = list(_csv_list([args.control_stores])) if args.control_stores else None
    proposed = None
    if control is None:
        proposed = match_control_stores(lines, stores, args.start)
        control = sorted(set(proposed["control_store"]))
    policy = load_policy(args.policy) if args.policy else Policy()
    known = list_launches(db)
    record = make_launch(bundles, stores, control, args.start, args.end, name=args.name,
                         promotion_id=args.promotion_id, lines=lines, catalog=catalog, policy=policy,
                         policy_source=args.policy, run=str(run.path), known_launches=known,
                         created_by=os.environ.get("USER"))
    if proposed is not None:
        record["control_matching"] = proposed.to_dict("records")
    if reason is not None:
        record["reason"] = reason
    store_launch(db, record)
    if args.out:
        write_launch_json(record, args.out)
    if args.json:
        print(json.dumps(record, ensure_ascii=False, default=str))
        return 0
    print(f"launch        {record['launch_id']}  {record['name']}  (promotion {record['promotion_id']})")
    print(f"dates         {record['from']} .. {record['to'] or 'open'}")
    print(f"test stores   {', '.join(record['stores'])}")
    print(f"control       {', '.join(record['control_stores'])}" + ("  (proposed by matching)" if proposed is not None
                                                                     else ""))
    for b in record["bundles"]:
        p = b.get("projection", {})
        print(f"  {b['name'][:50]:<50} take rate {p.get('take_rate', 0):.3f}  takers/store-week "
              f"{p.get('takers_per_store_week', 0):.2f}  margin/store-week {p.get('incremental_margin_per_store_week', 0):+.2f}")
    mde = record.get("minimum_detectable_effect")
    if mde:
        print(f"ATV MDE       {mde['mde']:,.2f} ({mde['mde_pct']:.1f}%) -- {mde.get('note', '')}")
    print(f"stored in     {db}" + (f"; written to {args.out}" if args.out else ""))
    return 0


def _launches(args):
    from recommender.launch import read_launch

    return [read_launch(ref, _db(args)) for ref in args.launch]


def cmd_measure(args) -> int:
    from recommender.measure import measure_launch

    launches = _launches(args)
    receipts, catalog = read_receipts(args, Progress())
    results = [measure_launch(receipts.lines, launch, catalog=catalog) for launch in launches]
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, ensure_ascii=False, default=str))
        return 0
    fmt = (lambda v, f="{:+.3f}": "-" if v is None else f.format(v))
    for res in results:
        head = res["launch"]
        print(f"launch {head['launch_id']}  {head.get('name') or ''}  {head['from']} .. {head.get('to') or 'open'}")
        print(f"  {'bundle':<28}{'attach uplift':>14}{'95% interval':>22}{'expected':>10}"
              f"{'takers':>9}{'expected':>10}{'margin/sw':>11}{'expected':>10}")
        for b in res["bundles"]:
            ci = "-" if b.get("ci_low") is None else f"[{b['ci_low']:+.3f}, {b['ci_high']:+.3f}]"
            print(f"  {str(b['name'])[:27]:<28}{fmt(b.get('attach_uplift')):>14}{ci:>22}"
                  f"{fmt(b.get('expected_attach_uplift')):>10}{fmt(b.get('takers'), '{:,.0f}'):>9}"
                  f"{fmt(b.get('expected_takers'), '{:,.0f}'):>10}{fmt(b.get('incremental_margin'), '{:+,.1f}'):>11}"
                  f"{fmt(b.get('expected_incremental_margin'), '{:+,.1f}'):>10}")
            for w in b.get("warnings", []):
                print(f"    warning: {w}")
        port = res["portfolio"]
        for metric in ("atv", "upt"):
            m = port.get(metric) or {}
            if m.get("estimate") is not None:
                print(f"  {metric.upper():<5} {m['estimate']:+,.3f} ({m['estimate_pct']:+.2f}%)  95% interval "
                      f"[{m['ci_low']:+,.3f}, {m['ci_high']:+,.3f}]")
        mde = port.get("minimum_detectable_effect")
        if mde:
            print(f"  MDE stated at launch: ATV {mde['mde']:,.2f} ({mde['mde_pct']:.1f}%)")
    return 0


def cmd_calibrate(args) -> int:
    from recommender.calibrate import PRIOR_SD, calibrate, write_policy
    from recommender.measure import measure_launch
    from recommender.policy import Policy, load_policy

    launches = _launches(args)
    receipts, catalog = read_receipts(args, Progress())
    prior = load_policy(args.policy) if args.policy else Policy()
    measured = [measure_launch(receipts.lines, launch, catalog=catalog) for launch in launches]
    policy = calibrate(measured, prior, prior_sd=args.prior_sd or PRIOR_SD)
    path = write_policy(policy, args.out)
    if args.json:
        print(json.dumps(policy.sources[-1], ensure_ascii=False, default=str))
        return 0
    for dept, fit in policy.sources[-1]["departments"].items():
        c = fit["curve"]
        print(f"{dept:<12} factor {fit['factor']:6.2f}  curve q0={c['q0']:.3f} q_max={c['q_max']:.3f} k={c['k']:g}  "
              f"(shrinkage to prior {fit['shrinkage_to_prior']:.1%})")
        for b in fit["bundles"]:
            print(f"   {str(b['name'])[:40]:<40} saving {b['saving_pct']:.1%}: measured {b['measured_take_rate']:.3f}, "
                  f"prior {b['prior_take_rate']:.3f}, calibrated {b['calibrated_take_rate']:.3f}")
    print(f"written to {path}  (use: recommender bundles RUN_DIR --policy {path})")
    return 0


def cmd_demo(args) -> int:
    from recommender.demo import generate_demo

    paths = generate_demo(args.out, seed=args.seed, n_receipts=args.receipts, progress=Progress())
    for name, path in paths.items():
        print(f"{name:<14}{path}")
    return 0


def _engine_flags(p) -> None:
    g = p.add_argument_group("engine")
    g.add_argument("--engine", default="auto", choices=["auto", "spark"],
                   help="auto: count on this machine, or in Spark for a run folder made there; spark: read the "
                        "receipts and count in Spark (RECOMMENDER_SPARK_MASTER names the master)")
    g.add_argument("--spark-conf", action="append", metavar="KEY=VALUE",
                   help="a Spark setting for --engine spark (repeatable), e.g. spark.executor.memory=4g")


def build_parser() -> argparse.ArgumentParser:
    from recommender import __version__

    parser = argparse.ArgumentParser(
        prog="recommender",
        description="Bundle and basket recommender: mine receipts for items sold together, price bundles with a "
                    "reason to buy, measure ticket uplift, suggest add-ons. Each command has --help.")
    parser.add_argument("--version", action="version", version=f"recommender {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="read receipts and print the row accounting")
    p.add_argument("path", help="receipts file (CSV/TSV/TXT, .gz, XLSX, Parquet)")
    add_loader_flags(p, slices=True)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("mine", help="mine frequent itemsets and rules into a run folder")
    p.add_argument("path", help="receipts file")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write (replaced atomically)")
    add_loader_flags(p, slices=True)
    g = p.add_argument_group("mining")
    g.add_argument("--level", default="sku", choices=["sku", "subcategory", "category", "department", "brand"])
    t = g.add_mutually_exclusive_group()
    t.add_argument("--min-support", type=float, help="share of receipts (default 0.01)")
    t.add_argument("--min-count", type=int, help="number of receipts")
    g.add_argument("--min-confidence", type=float, default=0.1, help="default 0.1")
    g.add_argument("--min-lift", type=float)
    g.add_argument("--max-len", type=int, help="longest itemset (default: no cap)")
    g.add_argument("--fdr", type=float, default=0.05, help="false discovery rate for 'significant' (default 0.05)")
    g.add_argument("--no-stratify", action="store_true",
                   help="'significant' from plain Fisher instead of the basket-size-stratified CMH test")
    g.add_argument("--engine", default="auto",
                   help="auto (fast embedded engine), fast, mlxtend, spark (read, clean and mine in Spark: "
                        "RECOMMENDER_SPARK_MASTER names the master; --rejects then writes a Parquet dataset)")
    g.add_argument("--spark-conf", action="append", metavar="KEY=VALUE",
                   help="a Spark setting for --engine spark (repeatable), e.g. spark.executor.memory=4g")
    g.add_argument("--prune", action="store_true", help="drop redundant rules (default: only flag them)")
    g.add_argument("--top-k", type=int, metavar="N", help="keep the best N rules by --by")
    g.add_argument("--by", default="lift", help="measure for --top-k (default lift)")
    g.add_argument("--lhs", action="append", metavar="ITEMS", help="keep rules whose antecedent has one of these")
    g.add_argument("--rhs", action="append", metavar="ITEMS", help="keep rules whose consequent has one of these")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_mine)

    p = sub.add_parser("compare", help="rules that appear, vanish or change between two runs (slices)")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--fdr", type=float, default=0.05)
    p.add_argument("--status", help="only these statuses (appeared,vanished,strengthened,weakened,stable,"
                                    "below chance,untested; changed = strengthened,weakened)")
    p.add_argument("--limit", type=int, default=30, help="rows to print (default 30)")
    p.add_argument("--out", metavar="FILE", help="write the whole comparison as CSV")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("tickets", help="ticket counts, sales, ATV, UPT and penetration per level value")
    p.add_argument("path", help="receipts file, or a run folder (its receipts, reading options and engine)")
    add_loader_flags(p)
    p.add_argument("--level", default="department",
                   choices=["store", "sku", "subcategory", "category", "department", "brand"])
    p.add_argument("--by", choices=["store", "day", "week", "month"], help="group by store or period")
    p.add_argument("--out", metavar="FILE.csv", help="write the table (level_value, groups, tickets, sales, units, "
                                                   "atv, upt, penetration)")
    p.add_argument("--limit", type=int, default=25, help="rows to print (default 25)")
    _engine_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tickets)

    p = sub.add_parser("uplift", help="measure a launch: test vs control stores, before vs after, with an interval")
    p.add_argument("path", help="receipts file, or a run folder (its receipts, reading options and engine)")
    add_loader_flags(p)
    p.add_argument("--launch", required=True, metavar="DATE")
    p.add_argument("--test-stores", required=True, metavar="A,B")
    p.add_argument("--control-stores", metavar="C,D", help="without them: pre/post in the test stores (weaker)")
    p.add_argument("--match", type=int, metavar="N", help="propose N best-matched control stores (used when "
                                                         "--control-stores is absent)")
    p.add_argument("--pre-days", type=int, help="days before the launch (default: all)")
    p.add_argument("--post-days", type=int, help="days from the launch (default: all)")
    p.add_argument("--metric", default="atv", choices=["atv", "upt", "attach"])
    p.add_argument("--bundle", metavar="SKU,SKU", help="the bundle's items, anchor first (for --metric attach)")
    p.add_argument("--anchor", metavar="SKU", help="anchor item(s), if not the first of --bundle")
    p.add_argument("--level", default="sku", help="level of the --bundle items (default sku)")
    p.add_argument("--winsorize", type=float, metavar="P", help="cap tickets at the 1-P quantile of the pre period")
    p.add_argument("--cuped", action="store_true", help="adjust with each store's pre-period value")
    p.add_argument("--method", default="welch", choices=["welch", "permutation"],
                   help="welch: t on store-level changes (default); permutation: randomisation inference")
    p.add_argument("--mde-weeks", type=int, metavar="W", help="also report the minimum detectable effect for W weeks")
    _engine_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_uplift)

    p = sub.add_parser("bundles", help="price bundles with a reason to buy from a run; writes bundles.csv into it")
    p.add_argument("run_dir")
    p.add_argument("--receipts", metavar="PATH", help="receipts the run was mined from (default: the run's input)")
    p.add_argument("--catalog", metavar="PATH", help="catalog (default: the run's catalog)")
    p.add_argument("--policy", metavar="PATH", help="pricing policy TOML (see data/policy.example.toml)")
    p.add_argument("--min-margin", type=float, help="minimum gross margin of a bundle price (default 0.25)")
    p.add_argument("--max-discount", type=float, help="deepest discount as a share of the regular price")
    p.add_argument("--min-saving", type=float,
                   help="smallest noticeable saving, as a share of the regular price (default 0.05): no offer "
                        "gives less (a gift at its shelf value) and no takers are assumed below it")
    p.add_argument("--discount-types", metavar="LIST",
                   help="percent_off,set_price,amount_off,addon_discount,cheapest_free,gift")
    p.add_argument("--price-ending", choices=["none", ".9", ".99", "whole", "9"])
    p.add_argument("--top", type=int, metavar="N", help="best N bundles per store")
    p.add_argument("--max-per-anchor", type=int, default=1, help="offers per anchor per store (default 1)")
    p.add_argument("--season", help="campaign season, e.g. summer: leaves out items tagged for another season")
    p.add_argument("--as-of", metavar="DATE", help="judge offers as of this day (default: the last date in the "
                                                  "data): counts end here, and an offer is recommended only when its "
                                                  "items sell together in the weeks before it")
    p.add_argument("--exclude-launch", action="append", metavar="ID|FILE",
                   help="leave this launch's promoted store-periods out of the counts (stored launches always are)")
    p.add_argument("--db", metavar="PATH", help="decisions database with stored launches (default: RECOMMENDER_DB "
                                                "or data/decisions.sqlite)")
    p.add_argument("--gift-sku", metavar="SKU", help="gift with purchase for kits (default: a bag/pouch)")
    p.add_argument("--assume-margin", type=float, metavar="F",
                   help="gross margin assumed where the catalog has no unit cost, or there is no catalog "
                        "(default 0.35; policy key assume_margin)")
    p.add_argument("--currency", metavar="CODE",
                   help="ISO 4217 currency of the prices, e.g. GBP (default: catalog, policy or run; none: no symbol)")
    p.add_argument("--keep-non-products", action="append", metavar="CODES",
                   help="suspected non-products (see validate) that may still be offered; comma-separated")
    p.add_argument("--min-lift", type=float,
                   help="lift every supporting rule needs, on top of significance (default 1.0)")
    p.add_argument("--min-size-lift", type=float, metavar="X",
                   help="how many times more often than basket size alone predicts a set must be bought "
                        "(default 1.5; 1 keeps every significant set)")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    p.add_argument("--limit", type=int, default=15, help="bundles to print (default 15)")
    _engine_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bundles)

    p = sub.add_parser("export", help="bundle lists for store staff: CSV, XLSX, printable HTML, or a till file")
    p.add_argument("run_dir")
    p.add_argument("--format", required=True, choices=["csv", "xlsx", "html", "pos"])
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--store", metavar="S")
    p.add_argument("--lang", default="en", choices=["en", "zh"])
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--approved-only", action="store_true", help="only bundles approved in the dashboard")
    sel.add_argument("--all", action="store_true", help="every candidate, flagged")
    p.add_argument("--valid-from", metavar="DATE")
    p.add_argument("--valid-to", metavar="DATE")
    p.add_argument("--currency", metavar="CODE", help="ISO 4217 currency of the amounts (default: the bundles')")
    p.add_argument("--db", metavar="PATH", help=DB_HELP)
    p.add_argument("--launch", metavar="ID|FILE", help="with --format pos: the launch's till file, every line "
                                                      "carrying the launch's promotion id")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("suggest", help="what else to offer for a basket in progress, and why")
    p.add_argument("run_dir")
    p.add_argument("--basket", default="", metavar="SKU,SKU")
    p.add_argument("--customer", metavar="ID", help="use the customer's history (never printed)")
    p.add_argument("--store", metavar="S")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--receipts", metavar="PATH", help="receipts for best sellers and history (default: the run's)")
    p.add_argument("--catalog", metavar="PATH", help="catalog (default: the run's)")
    p.add_argument("--rank-by", default="score", choices=["score", "margin"],
                   help="score (chance of being added, default) or margin (chance x unit margin)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_suggest)

    p = sub.add_parser("blend", help="learn the suggestion blend (weights, EASE^R, item-kNN) into a run folder")
    p.add_argument("run_dir")
    p.add_argument("--receipts", metavar="PATH", help="receipts the run was mined from (default: the run's)")
    p.add_argument("--catalog", metavar="PATH", help="catalog (default: the run's)")
    p.add_argument("--val-days", default="30", help="validation period at the end of the receipts (default 30)")
    p.add_argument("--k", type=int, default=5, help="hit rate@k is what the weights maximise (default 5)")
    p.set_defaults(func=cmd_blend)

    p = sub.add_parser("evaluate", help="hit rate@k of the blend vs EASE^R, item-kNN, rules, best sellers on a time split")
    p.add_argument("path", help="receipts file")
    add_loader_flags(p)
    p.add_argument("--test-days", default="30", help="test on the last N days (default 30) or 'last month'")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--min-support", type=float)
    p.add_argument("--min-count", type=int)
    p.add_argument("--level", default="sku")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("launch", help="record a launch: bundles, test and control stores, dates, the projection")
    p.add_argument("run_dir")
    sel = p.add_mutually_exclusive_group(required=True)
    sel.add_argument("--bundles", metavar="IDS", help="bundle_id values from the run's bundles, comma-separated")
    sel.add_argument("--approved", action="store_true", help="every bundle approved in the decisions database")
    p.add_argument("--stores", required=True, metavar="A,B", help="test stores")
    p.add_argument("--control-stores", metavar="C,D", help="default: proposed by matching on pre-launch ATV")
    p.add_argument("--from", dest="start", required=True, metavar="DATE", help="first day of the launch")
    p.add_argument("--to", dest="end", metavar="DATE", help="last day (default: open)")
    p.add_argument("--name", help="a name people recognise (default: 'launch DATE')")
    p.add_argument("--promotion-id", metavar="ID", help="id the tills carry (default: derived from the launch id)")
    p.add_argument("--policy", metavar="PATH", help="policy whose curves make the projection (default: built-in)")
    p.add_argument("--receipts", metavar="PATH", help="receipts for the projection (default: the run's input)")
    p.add_argument("--catalog", metavar="PATH", help="catalog (default: the run's)")
    p.add_argument("--out", metavar="FILE.json", help="also write the launch record as JSON")
    p.add_argument("--reason", metavar="TEXT", help="why: required with --bundles when an offer is not recommended "
                                                    "or expected to lose money; kept in the launch record")
    p.add_argument("--db", metavar="PATH", help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_launch)

    p = sub.add_parser("approve", help="approve or reject bundles of a run (a reason is required for an offer "
                                       "that is not recommended)")
    p.add_argument("run_dir")
    p.add_argument("--bundles", required=True, metavar="IDS", help="bundle_id values, comma-separated")
    p.add_argument("--reason", metavar="TEXT", help="why: required to approve an offer that is not recommended or is "
                                                    "expected to lose money; kept with the decision, shown in exports")
    p.add_argument("--reject", action="store_true", help="reject instead of approve")
    p.add_argument("--user", help="who decides (default: $USER)")
    p.add_argument("--db", metavar="PATH", help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("measure", help="per-bundle attach uplift, takers and margin of a launch vs its projection")
    p.add_argument("path", help="receipts file covering the launch")
    p.add_argument("--launch", required=True, action="append", metavar="ID|FILE",
                   help="launch id in the decisions database or a launch JSON file (repeatable)")
    add_loader_flags(p)
    p.add_argument("--db", metavar="PATH", help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("calibrate", help="fit take-rate curves per department from measured launches; write a policy")
    p.add_argument("path", help="receipts file covering the launch(es)")
    p.add_argument("--launch", required=True, action="append", metavar="ID|FILE",
                   help="launch id or launch JSON file (repeatable: several launches are pooled)")
    add_loader_flags(p)
    p.add_argument("--out", required=True, metavar="POLICY.toml", help="the calibrated policy to write")
    p.add_argument("--policy", metavar="PATH", help="prior policy (default: built-in curves)")
    p.add_argument("--prior-sd", type=float, help="prior sd of a department's log take-rate factor (default log 3)")
    p.add_argument("--db", metavar="PATH", help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("serve", help="answer suggestion requests over HTTP (GET/POST /suggest, /health, /bundles)")
    p.add_argument("run_dir")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes (each loads the run once; on Linux each listens on its own socket and "
                        "the kernel spreads connections over them)")
    p.add_argument("--receipts", metavar="PATH", help="receipts for best sellers and history (default: the run's)")
    p.add_argument("--catalog", metavar="PATH", help="catalog (default: the run's)")
    p.add_argument("--db", metavar="PATH", help=DB_HELP)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="write the seeded demo shop into data/demo")
    from pathlib import Path

    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "data" / "demo"))
    p.add_argument("--seed", type=int, default=20250101)
    p.add_argument("--receipts", type=int, default=50_000, help="number of receipts (default 50,000)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except InputError as exc:
        print(f"recommender: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("recommender: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            where = f" while writing {exc.filename}" if exc.filename else ""
            print(f"recommender: error: the disk is full (or the file size limit is reached){where}; nothing was "
                  "replaced: the previous output is kept (free some space and run again)", file=sys.stderr)
            return EXIT_INPUT
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            print(f"recommender: error: cannot write {exc.filename or 'the output'}: {exc.strerror} "
                  "(choose a folder you may write to)", file=sys.stderr)
            return EXIT_INPUT
        if os.environ.get("RECOMMENDER_DEBUG"):
            raise
        print(f"recommender: internal error: {type(exc).__name__}: {exc} "
              "(please report it; set RECOMMENDER_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1
    except MemoryError:
        print("recommender: error: out of memory; nothing was written (lower the input's size, e.g. --since/--stores, "
              "or give the machine more memory; --max-memory sets the budget for reading)", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last line of defence: users never see a traceback
        if os.environ.get("RECOMMENDER_DEBUG"):
            raise
        print(f"recommender: internal error: {type(exc).__name__}: {exc} "
              "(please report it; set RECOMMENDER_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
