"""Run folders: the results of one mining run, on disk.

In: itemsets, rules and substitutes DataFrames (labels as tuples of strings)
and a manifest dict. Out: a folder ::

    RUN/manifest.json          what was run, on what, and the files written
    RUN/itemsets.csv|.parquet  items, size, count, support
    RUN/rules.csv|.parquet     antecedents, consequents, counts, measures, flags
    RUN/substitutes.csv|.parquet
    RUN/items.csv|.parquet     one row per SKU: name, regular price, suspected non-product
                               (see :mod:`recommender.items`; absent in runs written before it)
    RUN/<extra>.csv|.parquet   e.g. bundles

Tuple columns (``items``, ``antecedents``, ``consequents``, ...) are stored as
JSON arrays of strings in both formats; :func:`read_run` turns them back into
tuples. CSV files carry a UTF-8 byte-order mark so that Excel shows Chinese
names correctly; Parquet is what :func:`read_run` reads (exact round trip).

The folder is written next to its destination under a hidden temporary name
and only then moved into place, replacing a previous run in one step (an
atomic exchange on Linux): a failed or interrupted run leaves the previous
results untouched and never a half-written folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import glob
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recommender.atomic import atomic_write_bytes, atomic_write_text
from recommender.errors import InputError

__all__ = ["Run", "write_run", "read_run", "read_manifest", "itemsets_with_labels", "atomic_write_bytes",
           "atomic_write_text", "atomic_directory", "item_names", "ArrowTable", "arrow_csv_bytes"]

MANIFEST = "manifest.json"
CSV_ENCODING = "utf-8-sig"


@dataclass(frozen=True)
class Run:
    """A run folder read back into memory."""

    itemsets: pd.DataFrame
    rules: pd.DataFrame
    substitutes: pd.DataFrame
    manifest: dict
    path: Path
    tables: dict = field(default_factory=dict)  # any extra tables (e.g. "items", "bundles")

    @property
    def items(self) -> pd.DataFrame:
        """The run's items table (:data:`recommender.items.ITEM_COLUMNS`); empty for runs written before it."""
        from recommender.items import empty_items

        table = self.tables.get("items")
        return empty_items() if table is None else table


def item_names(run: Run) -> dict:
    """SKU -> name from the run's items table (only SKUs that have a name).

    >>> import pandas as pd
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> items = pd.DataFrame({"sku": ["1", "2"], "name": ["MUG", None]})
    >>> _ = write_run(out, itemsets_df=_empty_itemsets(), rules_df=pd.DataFrame({"count": []}),
    ...               extra_tables={"items": items})
    >>> item_names(read_run(out))
    {'1': 'MUG'}
    """
    items = run.items
    named = items[items["name"].notna()] if "name" in items.columns else items.iloc[0:0]
    return dict(zip(named["sku"].astype(str), named["name"].astype(str)))


def itemsets_with_labels(itemsets: pd.DataFrame, baskets) -> pd.DataFrame:
    """Turn mined itemsets (column-index tuples) into label tuples with size and support.

    Examples
    --------
    >>> import pandas as pd
    >>> from recommender.baskets import build_baskets
    >>> b = build_baskets(pd.DataFrame({"receipt_id": list("1122"), "sku": list("abab")}))
    >>> itemsets_with_labels(pd.DataFrame({"items": [(0,), (0, 1)], "count": [2, 2]}), b).values.tolist()
    [[('a',), 1, 2, 1.0], [('a', 'b'), 2, 2, 1.0]]
    """
    import pandas as pd

    names = np.asarray(baskets.items, dtype=object)
    items = np.empty(len(itemsets), dtype=object)
    items[:] = [tuple(sorted(str(x) for x in names[list(t)])) for t in itemsets["items"]]
    counts = itemsets["count"].to_numpy(dtype=np.int64)
    return pd.DataFrame({"items": items, "size": np.fromiter((len(t) for t in items), np.int64, len(items)),
                         "count": counts, "support": counts / baskets.n_receipts})


def _empty_itemsets() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"items": pd.Series(dtype=object), "size": pd.Series(dtype=np.int64),
                         "count": pd.Series(dtype=np.int64), "support": pd.Series(dtype=float)})


def _empty_substitutes() -> pd.DataFrame:
    from recommender.rules import empty_substitutes  # lazily: reading a run needs no statistics

    return empty_substitutes()


def _tuple_columns(frame: pd.DataFrame) -> list[str]:
    out = []
    for col in frame.columns:
        if frame[col].dtype == object:
            values = frame[col].dropna()
            if len(values) and all(isinstance(v, tuple) for v in values):
                out.append(col)
    return out


def _encode(frame: pd.DataFrame, tuple_columns: list[str]) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    quoted: dict = {}

    def q(x) -> str:  # each label is JSON-quoted once: 10^5 rules repeat a few thousand labels
        s = quoted.get(x)
        if s is None:
            s = quoted[x] = json.dumps(str(x), ensure_ascii=False)
        return s

    for col in tuple_columns:
        # the text json.dumps(list) gives: "[" + ", ".join(each quoted) + "]"
        out[col] = [None if v is None else "[" + ", ".join(map(q, v)) + "]" for v in out[col]]
    return out


def _decode(frame: pd.DataFrame, tuple_columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    out = frame.copy()
    for col in tuple_columns:
        values = np.empty(len(out), dtype=object)
        values[:] = [tuple(json.loads(v)) if isinstance(v, str) else None for v in out[col]]
        out[col] = pd.Series(values, index=out.index, dtype=object)
    return out


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, (Path, dt.date, dt.datetime)):  # pandas.Timestamp is a datetime
        return str(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in the manifest")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _replace_directory(source: Path, target: Path) -> None:
    if not target.exists():
        os.replace(source, target)
        return
    if _exchange(source, target):
        shutil.rmtree(source, ignore_errors=True)  # now holds the previous run
        return
    # No atomic exchange: move the old one aside first, put it back if the second rename fails.
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    try:
        os.replace(source, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(target: Path) -> None:
    """Remove the temporary folders that a killed writer of ``target`` left (hidden; never a run folder)."""
    for old in target.parent.glob(f".{glob.escape(target.name)}.tmp-*"):
        pid = old.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(target):
    """Yield an empty temporary directory that replaces ``target`` when the block succeeds.

    If the block raises, ``target`` is untouched and the temporary directory is
    removed. An existing ``target`` must be empty or a run folder (holding a
    manifest.json): a mistyped ``--out ~/Documents`` must not wipe anything.

    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("1")
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    """
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise InputError("the output path exists and is not a folder", path=target,
                             hint="choose a new folder name")
        if any(target.iterdir()) and not (target / MANIFEST).exists():
            raise InputError("the output folder is not empty and is not a previous run", path=target,
                             hint="choose a new or empty folder; only run folders are replaced")
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(target)
    # The writer's pid is in the name, so that a later writer can tell a dead one's leftovers from a live one's.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        # mkdtemp/mkstemp make private folders and files; a run folder is an ordinary one.
        os.chmod(tmp, 0o777 & ~mask)
        for item in tmp.rglob("*"):
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)
        _replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass(frozen=True)
class ArrowTable:
    """A table already in Arrow form, its tuple columns already JSON text (see :func:`write_run`).

    Written by Arrow's own CSV and Parquet writers, so a run can be written
    without pandas (:mod:`recommender.basket_mine`). The CSV differs from
    pandas' in form only, never in value: strings and the header are quoted,
    booleans are ``true``/``false``, a float with no fraction has no ``.0``
    (``4`` for 4.0) and big or tiny floats are written with an exponent; NaN
    is an empty cell as with pandas. pandas and Excel read both the same.
    """

    table: object  # pyarrow.Table
    tuple_columns: tuple = ()

    def __len__(self) -> int:
        return self.table.num_rows


def arrow_csv_bytes(table) -> bytes:
    """``table`` (a pyarrow.Table) as UTF-8 CSV with a BOM; NaN becomes an empty cell, as pandas writes it.

    >>> import pyarrow as pa
    >>> arrow_csv_bytes(pa.table({"a": [1.5, float("nan")], "b": [True, False]})).decode("utf-8-sig")
    '"a","b"\\n1.5,true\\n,false\\n'
    """
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    columns = []
    for col in table.columns:
        if pa.types.is_floating(col.type):
            col = pc.if_else(pc.is_nan(col), pa.nulls(len(col), col.type), col.combine_chunks())
        columns.append(col)
    buf = io.BytesIO()
    buf.write(b"\xef\xbb\xbf")
    pacsv.write_csv(pa.table(columns, names=table.column_names), buf)
    return buf.getvalue()


def _write_table(folder: Path, name: str, frame) -> tuple[list[str], list[str]]:
    csv_name, parquet_name = f"{name}.csv", f"{name}.parquet"
    if isinstance(frame, ArrowTable):
        import pyarrow.parquet as pq

        atomic_write_bytes(folder / csv_name, arrow_csv_bytes(frame.table))
        pq.write_table(frame.table, folder / parquet_name)
        # an empty table lists no tuple column, as _tuple_columns finds none in an empty frame
        return [csv_name, parquet_name], list(frame.tuple_columns) if len(frame) else []
    tuple_columns = _tuple_columns(frame)
    encoded = _encode(frame, tuple_columns)
    atomic_write_bytes(folder / csv_name, encoded.to_csv(index=False).encode(CSV_ENCODING))
    encoded.to_parquet(folder / parquet_name, index=False)
    return [csv_name, parquet_name], tuple_columns


def write_run(out_dir, *, itemsets_df: pd.DataFrame, rules_df: pd.DataFrame,
              substitutes_df: pd.DataFrame | None = None, manifest: dict | None = None,
              extra_tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write a run folder atomically and return its path.

    Parameters
    ----------
    out_dir : path
        The run folder; replaced if it holds a previous run.
    itemsets_df : DataFrame
        ``items`` (tuples of labels; see :func:`itemsets_with_labels`), ``size``,
        ``count``, ``support``.
    rules_df : DataFrame
        Output of :func:`recommender.rules.association_rules` (or filtered).
    substitutes_df : DataFrame, optional
        Output of :func:`recommender.rules.substitutes`; an empty table when None.
    manifest : dict, optional
        Anything JSON-able describing the run (input files, level, thresholds...);
        ``files``, ``tables`` (rows and tuple columns of each table) and
        ``created_at`` (UTC, ISO 8601) are added.
    extra_tables : dict, optional
        More tables to store, e.g. ``{"bundles": frame}``.

    Any table may instead be an :class:`ArrowTable` (written by Arrow, no pandas needed).

    Examples
    --------
    >>> import pandas as pd
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> items = pd.DataFrame({"items": [("a",)], "size": [1], "count": [2], "support": [1.0]})
    >>> rules = pd.DataFrame({"antecedents": [("a",)], "consequents": [("b",)], "count": [1]})
    >>> _ = write_run(out, itemsets_df=items, rules_df=rules, manifest={"level": "sku"})
    >>> read_run(out).itemsets["items"].tolist(), read_run(out).manifest["level"]
    ([('a',)], 'sku')
    """
    tables = {"itemsets": itemsets_df, "rules": rules_df,
              "substitutes": _empty_substitutes() if substitutes_df is None else substitutes_df,
              **(extra_tables or {})}
    if set(extra_tables or {}) & {"itemsets", "rules", "substitutes", "manifest"}:
        raise ValueError("extra table names must differ from itemsets, rules, substitutes and manifest")
    out = Path(out_dir)
    info = dict(manifest or {})
    with atomic_directory(out) as tmp:
        files, described = [], {}
        for name, frame in tables.items():
            written, tuple_columns = _write_table(tmp, name, frame)
            files += written
            described[name] = {"rows": int(len(frame)), "tuple_columns": tuple_columns}
        info.update(files=sorted(files + [MANIFEST]), tables=described,
                    created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        atomic_write_text(tmp / MANIFEST, json.dumps(info, ensure_ascii=False, indent=2, default=_json_default))
    return out


def _read_table(folder: Path, name: str, tuple_columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        frame = pd.read_parquet(parquet)
    elif csv.exists():
        # pandas 3 parses floats exactly by default and deprecates asking for it.
        exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
        frame = pd.read_csv(csv, encoding=CSV_ENCODING, keep_default_na=False, na_values=[""], **exact)
    else:
        raise InputError(f"the run folder has no {name} table", path=folder, hint="run `recommender mine` again")
    return _decode(frame, tuple_columns)


def read_manifest(path) -> dict:
    """The manifest of a run folder alone (cheap: no table is read).

    Raises
    ------
    InputError
        When the folder or its manifest is missing or unreadable.
    """
    folder = Path(path)
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("not a run folder (no manifest.json)", path=folder,
                         hint="point to the folder written by `recommender mine`") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"the run manifest cannot be read: {exc}", path=folder / MANIFEST) from None


def read_run(path, tables=None) -> Run:
    """Read a run folder written by :func:`write_run` (tuples restored).

    ``tables`` names the tables to read (all when None): the dashboard leaves out
    ``rules`` and ``itemsets``, which may hold millions of rows, and queries them
    with :mod:`recommender.rules_query` instead (the Run then holds empty ones).

    Raises
    ------
    InputError
        When the folder or its manifest is missing or unreadable.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    described = manifest.get("tables", {})
    frames = {name: _read_table(folder, name, spec.get("tuple_columns", [])) for name, spec in described.items()
              if tables is None or name in tables}
    itemsets = frames.pop("itemsets", _empty_itemsets())
    if "rules" in frames:
        rules = frames.pop("rules")
    else:
        from recommender.rules import empty_rules

        rules = empty_rules()
    subs = frames.pop("substitutes", _empty_substitutes())
    return Run(itemsets=itemsets, rules=rules, substitutes=subs, manifest=manifest, path=folder, tables=frames)
