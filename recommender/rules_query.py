"""Ask a run folder for the rules to show: filter, sort, top N and the total count, without loading them all.

In: a run folder (its ``rules.parquet``) and filters on the stored counts and
measures. Out: ``(top, total)``: at most ``top`` rules in the run's rule
columns (antecedents and consequents as tuples, as :func:`recommender.runs.read_run`
gives them) sorted by the chosen measure, and how many rules pass the filters.

The query runs in DuckDB straight over the Parquet file, so a run with millions
of rules costs the caller the rows it shows, not the run: the dashboard's rules
table, scatter chart and network all come from here.

Filters on items (a search, a department's labels, item-to-item rules only)
never scan the rules' text: a per-run item index, ``rules_index.parquet``
beside ``rules.parquet`` (each label and the row numbers of the rules holding
it), is built once on first use and kept in memory per process; the labels a
filter wants become a set of row numbers that DuckDB joins on. The DuckDB
connection is made once per process (each query runs on its own cursor).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.atomic import file_mode
from recommender.errors import InputError

__all__ = ["query_rules", "rule_index", "SORTABLE", "INDEX_FILE"]

#: The per-run item index, written beside rules.parquet (derived from it; rebuilt when it is older).
INDEX_FILE = "rules_index.parquet"

#: Measures the rules can be sorted by (descending, except p- and q-values).
SORTABLE = ("lift", "confidence", "support", "count", "leverage", "conviction", "p_value", "q_value")
_ASCENDING = ("p_value", "q_value")


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _connection():
    import duckdb

    # no extension is fetched from the network: the JSON and Parquet readers are built in
    return duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": True,
                                  "threads": 2})


def _connect():
    """A cursor on the process's one DuckDB connection (a cursor per query: pages run in several threads)."""
    with _LOCK:
        return _connection().cursor()


@dataclass(frozen=True)
class RuleIndex:
    """Which rules hold each label: ``rules[offsets[i]:offsets[i + 1]]`` are the row numbers (in
    rules.parquet) of the rules holding ``labels[i]``; ``labels`` sorted."""

    labels: np.ndarray
    offsets: np.ndarray
    rules: np.ndarray
    n_rules: int
    columns: tuple

    @functools.cached_property
    def sizes(self) -> np.ndarray:
        """Items in each rule (antecedents and consequents together)."""
        return np.bincount(self.rules, minlength=self.n_rules)

    @functools.cached_property
    def position(self) -> dict:
        return {lab: i for i, lab in enumerate(self.labels)}

    def rows_with(self, wanted) -> np.ndarray:
        """A boolean mask over the rules: those holding at least one of the labels ``wanted``."""
        mask = np.zeros(self.n_rules, dtype=bool)
        for label in {str(x) for x in wanted}:
            i = self.position.get(label)
            if i is not None:
                mask[self.rules[self.offsets[i]:self.offsets[i + 1]]] = True
        return mask

    def rows_matching(self, text: str, also=()) -> np.ndarray:
        """Rules holding a label that contains ``text`` (case-insensitive) or is one of ``also``."""
        text = text.lower()
        hit = [lab for lab in self.labels if text in lab.lower()]
        return self.rows_with(set(hit) | {str(x) for x in also})


def _build_index(path: Path):
    """(label, list of rule row numbers) for every label of a rules.parquet, as an Arrow table (DuckDB)."""
    con = _connect()
    try:
        return con.sql(
            "SELECT label, list(rule ORDER BY rule) AS rules FROM ("
            "SELECT file_row_number::UINTEGER AS rule, unnest(list_concat("
            "from_json(antecedents, '[\"VARCHAR\"]'), from_json(consequents, '[\"VARCHAR\"]'))) AS label "
            f"FROM read_parquet('{_quote(path)}', file_row_number = true)) GROUP BY label ORDER BY label"
        ).to_arrow_table()
    finally:
        con.close()


def _write_index(table, target: Path) -> None:
    """Write the index beside the rules atomically; a folder we may not write to keeps it in memory only."""
    import pyarrow.parquet as pq

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.chmod(tmp, file_mode())  # mkstemp's private mode: the run folder's files are ordinary ones
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


@functools.lru_cache(maxsize=2)  # the index of a run with 2.9 M rules holds about 45 MB
def _load_index(path: str, mtime_ns: int, size: int) -> RuleIndex:
    import pyarrow.parquet as pq

    rules_file = Path(path)
    target = rules_file.with_name(INDEX_FILE)
    table = None
    if target.exists() and target.stat().st_mtime_ns >= mtime_ns:
        try:
            table = pq.read_table(target)
        except (OSError, ValueError):  # a broken index is rebuilt, never trusted
            table = None
    if table is None:
        table = _build_index(rules_file)
        _write_index(table, target)
    meta = pq.ParquetFile(rules_file).metadata
    lists = table.column("rules").combine_chunks()
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    values = np.asarray(lists.values.to_numpy(zero_copy_only=False), dtype=np.uint32)  # 4 bytes a reference
    labels = np.asarray(table.column("label").to_pylist(), dtype=object)
    return RuleIndex(labels=labels, offsets=offsets - offsets[0] if len(offsets) else np.zeros(1, np.int64),
                     rules=values, n_rules=int(meta.num_rows), columns=tuple(meta.schema.to_arrow_schema().names))


def rule_index(run_dir) -> RuleIndex:
    """The item index of a run's rules (built and written beside them on first use; cached per process).

    >>> import tempfile
    >>> from recommender.runs import write_run
    >>> rules = pd.DataFrame({"antecedents": [("tea",), ("cake",), ("tea", "cake")],
    ...                       "consequents": [("cup",), ("jam",), ("cup",)], "count": [40, 30, 5]})
    >>> items = pd.DataFrame({"items": [("tea",)], "size": [1], "count": [50], "support": [0.5]})
    >>> ix = rule_index(write_run(Path(tempfile.mkdtemp()) / "run", itemsets_df=items, rules_df=rules))
    >>> ix.labels.tolist(), ix.rows_with(["cup"]).tolist(), ix.sizes.tolist()
    (['cake', 'cup', 'jam', 'tea'], [True, False, True], [2, 2, 3])
    """
    path = Path(run_dir) / "rules.parquet"
    if not path.exists():
        raise InputError("the run folder has no rules.parquet", path=run_dir, hint="run `recommender mine` again")
    st = path.stat()
    return _load_index(str(path.resolve()), st.st_mtime_ns, st.st_size)


def query_rules(run_dir, *, min_support: float = 0.0, min_confidence: float = 0.0, min_lift: float = 0.0,
                significant_only: bool = False, search: str = "", search_labels=(), any_labels=None,
                pairs_only: bool = False, sort_by: str = "lift", top: int = 2000,
                columns=None) -> tuple[pd.DataFrame, int]:
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
        Case-insensitive text looked for in the rule's labels (a rule passes when one of its labels holds it).
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
    columns : iterable of str, optional
        Only these columns (antecedents and consequents always); every column when None.

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
    if sort_by not in SORTABLE:
        raise ValueError(f"sort_by must be one of {', '.join(SORTABLE)}, not {sort_by!r}")
    index = rule_index(run_dir)  # raises the InputError of a folder without rules.parquet
    cols = index.columns
    if sort_by not in cols:
        sort_by = "lift"
    where, args = [], []
    for col, bound in (("support", min_support), ("confidence", min_confidence), ("lift", min_lift)):
        if bound and col in cols:
            where.append(f"{col} >= ?")
            args.append(float(bound))
    if significant_only and "significant" in cols:
        where.append("significant")
    # filters on items go through the item index (a mask of rule rows), never through the rules' text
    keep = None
    if search:
        keep = index.rows_matching(search, search_labels)
    if any_labels is not None:
        wanted = index.rows_with(any_labels)
        keep = wanted if keep is None else keep & wanted
    if pairs_only:
        pairs = index.sizes == 2
        keep = pairs if keep is None else keep & pairs
    if columns is None:
        shown = list(cols)
    else:
        shown = [col for col in dict.fromkeys(["antecedents", "consequents", *columns]) if col in cols]
    order = "ASC" if sort_by in _ASCENDING else "DESC"
    tie = ", count DESC" if "count" in cols and sort_by != "count" else ""
    select = ", ".join(f'"{col}"' for col in shown)
    con = _connect()
    try:
        source = f"read_parquet('{_quote(path)}', file_row_number = true)"
        if keep is not None:
            rows = np.flatnonzero(keep)
            if not len(rows):
                return _empty(con, path, shown), 0
            import pyarrow as pa

            con.register("wanted_rows", pa.table({"rule": pa.array(rows, type=pa.int64())}))
            where.append("file_row_number IN (SELECT rule FROM wanted_rows)")
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        total = con.execute(f"SELECT count(*) FROM {source}{sql_where}", args).fetchone()[0]
        # ties last by the order the run was written: a text tie-break would read every passing rule's text
        frame = con.execute(f"SELECT {select} FROM {source}{sql_where} ORDER BY {sort_by} {order} NULLS LAST{tie}, "
                            f"file_row_number LIMIT {int(top)}", args).df()
    finally:
        con.close()
    from recommender.runs import _decode

    return _decode(frame, ["antecedents", "consequents"]), int(total)


def _empty(con, path: Path, shown) -> pd.DataFrame:
    """No rule passes: an empty frame with the run's column types."""
    select = ", ".join(f'"{col}"' for col in shown)
    return con.execute(f"SELECT {select} FROM read_parquet('{_quote(path)}') LIMIT 0").df()


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
