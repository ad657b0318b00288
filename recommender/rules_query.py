"""Ask a run folder for the rules to show: filter, sort, top N and the total count, without loading them all.

In: a run folder (its ``rules.parquet``) and filters on the stored counts and
measures. Out: ``(top, total)``: at most ``top`` rules in the run's rule
columns (antecedents and consequents as tuples, as :func:`recommender.runs.read_run`
gives them) sorted by the chosen measure, and how many rules pass the filters.

The query runs in DuckDB straight over the Parquet file, so a run with millions
of rules costs the caller the rows it shows, not the run: the dashboard's rules
table, scatter chart and network all come from here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from recommender.errors import InputError

__all__ = ["query_rules", "SORTABLE"]

#: Measures the rules can be sorted by (descending, except p- and q-values).
SORTABLE = ("lift", "confidence", "support", "count", "leverage", "conviction", "p_value", "q_value")
_ASCENDING = ("p_value", "q_value")
#: A stored list of exactly one label: ["..."] with JSON escapes inside.
_ONE_LABEL = r'\["(?:[^"\\]|\\.)*"\]'


def _connect():
    import duckdb

    # no extension is fetched from the network: the JSON and Parquet readers are built in
    return duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": True,
                                  "threads": 2})


def query_rules(run_dir, *, min_support: float = 0.0, min_confidence: float = 0.0, min_lift: float = 0.0,
                significant_only: bool = False, search: str = "", search_labels=(), any_labels=None,
                pairs_only: bool = False, sort_by: str = "lift", top: int = 2000) -> tuple[pd.DataFrame, int]:
    """The rules of a run that pass the filters: the first ``top`` by ``sort_by``, and their total count.

    Parameters
    ----------
    run_dir : path
        A run folder written by :func:`recommender.runs.write_run`.
    min_support, min_confidence, min_lift : float
        Lower bounds on the stored measures.
    significant_only : bool
        Keep rules flagged significant (FDR-controlled) only.
    search : str
        Case-insensitive text looked for in the rule's labels.
    search_labels : iterable of str
        Labels that also match the search (e.g. items whose *name* contains it).
    any_labels : iterable of str, optional
        Keep rules with at least one of these labels (a department or season filter).
    pairs_only : bool
        Keep one-item-to-one-item rules only (the rule network).
    sort_by : str
        One of :data:`SORTABLE`; p- and q-values sort ascending, the rest descending.
    top : int
        Most rows returned.

    Examples
    --------
    >>> import tempfile
    >>> from recommender.runs import write_run
    >>> rules = pd.DataFrame({"antecedents": [("tea",), ("cake",), ("tea", "cake")],
    ...                       "consequents": [("cup",), ("jam",), ("cup",)], "count": [40, 30, 5],
    ...                       "support": [0.4, 0.3, 0.05], "confidence": [0.8, 0.6, 0.5],
    ...                       "lift": [2.0, 3.0, 1.2], "significant": [True, True, False]})
    >>> items = pd.DataFrame({"items": [("tea",)], "size": [1], "count": [50], "support": [0.5]})
    >>> out = write_run(Path(tempfile.mkdtemp()) / "run", itemsets_df=items, rules_df=rules)
    >>> top, total = query_rules(out, min_lift=1.5, top=1)
    >>> top["antecedents"].tolist(), total
    ([('cake',)], 2)
    >>> query_rules(out, search="TEA", significant_only=True)[1]
    1
    """
    path = Path(run_dir) / "rules.parquet"
    if not path.exists():
        raise InputError("the run folder has no rules.parquet", path=run_dir, hint="run `recommender mine` again")
    if sort_by not in SORTABLE:
        raise ValueError(f"sort_by must be one of {', '.join(SORTABLE)}, not {sort_by!r}")
    con = _connect()
    try:
        cols = [r[0] for r in con.execute("SELECT name FROM parquet_schema(?)", [str(path)]).fetchall()]
        if sort_by not in cols:
            sort_by = "lift"
        where, args = [], []
        for col, bound in (("support", min_support), ("confidence", min_confidence), ("lift", min_lift)):
            if bound and col in cols:
                where.append(f"{col} >= ?")
                args.append(float(bound))
        if significant_only and "significant" in cols:
            where.append("significant")
        # a label is in a rule when its JSON-quoted text is in the stored list: one regular expression over the
        # text, much cheaper than parsing millions of JSON lists
        labels = "antecedents || consequents"
        if search:
            text = f"%{search.lower()}%"
            cond = "(lower(antecedents) LIKE ? OR lower(consequents) LIKE ?"
            args += [text, text]
            extra = sorted({str(x) for x in search_labels})
            if extra:
                cond += f" OR regexp_matches({labels}, ?)"
                args.append(_any_of(extra))
            where.append(cond + ")")
        if any_labels is not None:
            wanted = sorted({str(x) for x in any_labels})
            if not wanted:
                where.append("false")
            else:
                where.append(f"regexp_matches({labels}, ?)")
                args.append(_any_of(wanted))
        if pairs_only:
            where.append("regexp_full_match(antecedents, ?) AND regexp_full_match(consequents, ?)")
            args += [_ONE_LABEL, _ONE_LABEL]
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        source = f"read_parquet('{_quote(path)}')"
        total = con.execute(f"SELECT count(*) FROM {source}{sql_where}", args).fetchone()[0]
        order = "ASC" if sort_by in _ASCENDING else "DESC"
        tie = ", count DESC" if "count" in cols and sort_by != "count" else ""
        frame = con.execute(f"SELECT * FROM {source}{sql_where} ORDER BY {sort_by} {order} NULLS LAST{tie}, "
                            f"antecedents, consequents LIMIT {int(top)}", args).df()
    finally:
        con.close()
    from recommender.runs import _decode

    return _decode(frame, ["antecedents", "consequents"]), int(total)


def _any_of(labels) -> str:
    """A regular expression matching any of ``labels`` as stored (JSON-quoted, as runs.write_run writes them)."""
    return "|".join(re.escape(json.dumps(str(x), ensure_ascii=False)) for x in labels)


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
