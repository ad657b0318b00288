"""Ask a run folder for the rules to show: filter, sort, top N and the total count, without loading them all.

In: a run folder (its ``rules.parquet``) and filters on the stored counts and
measures. Out: ``(top, total)``: at most ``top`` rules in the run's rule
columns (antecedents and consequents as tuples, as :func:`recommender.runs.read_run`
gives them) sorted by the chosen measure, and how many rules pass the filters.

The query runs in DuckDB straight over the Parquet file, so a run with millions
of rules costs the caller the rows it shows, not the run: the dashboard's rules
table, scatter chart and network all come from here.

Filters on items (a search, a department's labels, item-to-item rules only)
never scan the rules' text: a per-run item index beside ``rules.parquet``
(``rules_index.json``: each label and where its rules start;
``rules_index.npy``: the row numbers of the rules holding each label, one
after the other) is built once (after mining, or on first use) and memory-mapped;
the labels a filter wants become a set of row numbers that DuckDB joins on. The DuckDB
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

__all__ = ["query_rules", "rule_index", "SORTABLE", "INDEX_FILES"]

#: The per-run item index, written beside rules.parquet (derived from it; rebuilt when the rules change):
#: labels and offsets (JSON, written last, naming the rules file's time and size), and the row numbers (NumPy).
INDEX_FILES = ("rules_index.json", "rules_index.npy")

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
        cur = _connection().cursor()
    cur.execute("SET enable_progress_bar = false")  # a long query must not draw on the server's terminal
    return cur


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
    """(label, list of rule row numbers) for every label of a rules.parquet, as an Arrow table (DuckDB).

    Its own connection, with a memory limit: DuckDB then spills the grouping to disk instead of holding it
    (on 2.9 M rules the process peaks near 300 MB instead of 630 MB, and is no slower).
    """
    import duckdb

    spill = Path(tempfile.gettempdir()) / "recommender-duckdb"
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": True,
                                 "threads": 2, "memory_limit": "256MB", "preserve_insertion_order": False,
                                 "temp_directory": str(spill)})
    con.execute("SET enable_progress_bar = false")
    try:
        return con.sql(
            "SELECT label, list(rule ORDER BY rule) AS rules FROM ("
            "SELECT file_row_number::UINTEGER AS rule, unnest(list_concat("
            "from_json(antecedents, '[\"VARCHAR\"]'), from_json(consequents, '[\"VARCHAR\"]'))) AS label "
            f"FROM read_parquet('{_quote(path)}', file_row_number = true)) GROUP BY label ORDER BY label"
        ).to_arrow_table()
    finally:
        con.close()


def _write_atomic(target: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, file_mode())  # mkstemp's private mode: the run folder's files are ordinary ones
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_index(folder: Path, meta: dict, rules: np.ndarray) -> bool:
    """Write the index beside the rules (row numbers first, then the JSON that vouches for them)."""
    head, data = (folder / name for name in INDEX_FILES)
    try:
        def save(tmp):
            with open(tmp, "wb") as out:  # a file object: np.save would add ".npy" to a bare name
                np.save(out, rules, allow_pickle=False)

        _write_atomic(data, save)
        _write_atomic(head, lambda tmp: Path(tmp).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8"))
    except OSError:  # a folder we may not write to: the index lives in memory only
        return False
    return True


def _read_index(folder: Path, stamp: dict):
    """(meta, memory-mapped row numbers) when a stored index matches the rules file ``stamp``, else None."""
    head, data = (folder / name for name in INDEX_FILES)
    try:
        meta = json.loads(head.read_text(encoding="utf-8"))
        if meta.get("rules_file") != stamp:
            return None
        rules = np.load(data, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):  # missing, half-written or broken: rebuilt, never trusted
        return None
    if rules.dtype != np.uint32 or rules.shape != (meta["offsets"][-1],):
        return None
    return meta, rules


@functools.lru_cache(maxsize=4)
def _load_index(path: str, mtime_ns: int, size: int) -> RuleIndex:
    import pyarrow.parquet as pq

    rules_file = Path(path)
    stamp = {"mtime_ns": mtime_ns, "bytes": size}
    found = _read_index(rules_file.parent, stamp)
    if found is None:
        table = _build_index(rules_file)
        lists = table.column("rules").combine_chunks() if table.num_rows else None
        offsets = [0] if lists is None else (np.asarray(lists.offsets) - lists.offsets[0].as_py()).tolist()
        rules = (np.zeros(0, dtype=np.uint32) if lists is None
                 else np.ascontiguousarray(lists.values.to_numpy(zero_copy_only=False), dtype=np.uint32))
        schema = pq.ParquetFile(rules_file).metadata
        meta = {"rules_file": stamp, "n_rules": int(schema.num_rows),
                "columns": list(schema.schema.to_arrow_schema().names),
                "labels": table.column("label").to_pylist(), "offsets": offsets}
        del table, lists
        if _write_index(rules_file.parent, meta, rules):
            found = _read_index(rules_file.parent, stamp)  # mapped from the file, not held in memory
        if found is None:
            found = meta, rules
    meta, rules = found
    return RuleIndex(labels=np.asarray(meta["labels"], dtype=object), offsets=np.asarray(meta["offsets"]),
                     rules=rules, n_rules=int(meta["n_rules"]), columns=tuple(meta["columns"]))


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
