"""Approve, reject or edit bundles: an append-only decision log in SQLite.

In: a bundle's stable ``bundle_id`` (a hash of its items and store, so a new
mining run finds the approvals made on an earlier one), who decided, and what
changed. Out: rows in ``decision_history`` (never updated or deleted: triggers
refuse it) and the latest state of every bundle in the view
``decision_current``; :func:`apply_decisions` joins that state onto a bundles
table (``status``, ``approved``, ``decided_by``, ``decided_at`` and the edited
fields) for the dashboard and :func:`recommender.export.export_bundles`.

Schema::

    decision_history(id INTEGER PRIMARY KEY AUTOINCREMENT, bundle_id TEXT, items TEXT (JSON array),
                     store TEXT, action TEXT (approve|reject|edit|reset), status TEXT (approved|rejected|pending),
                     user TEXT, role TEXT, at TEXT (UTC ISO 8601), run TEXT, note TEXT,
                     changes TEXT (JSON {field: [old, new]}), fields TEXT (JSON: every edited field, after),
                     reason TEXT (why an offer that is not recommended was approved))
    decision_current = the row with the highest id per bundle_id

Approving an offer that is not recommended, or whose expected profit is
negative, needs a reason (:func:`reason_needed` says when; :func:`record`
refuses the approval without one, :class:`ReasonRequired`). The reason is kept
in the row, shown in the decision log and carried into the exports
(``approval_reason``). A database made before the column existed gains it on
first use.

Concurrency: the database is in WAL mode with a busy timeout, and every write
reads the previous state and appends the new row inside one ``BEGIN
IMMEDIATE`` transaction, so two sessions editing at once queue instead of
overwriting each other, and each "old" value is the one really replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from recommender import auth

ACTIONS = ("approve", "reject", "edit", "reset")
STATUS_AFTER = {"approve": "approved", "reject": "rejected", "reset": "pending"}
#: Fields of a bundle a decision may change (the rest come from the mining run).
EDITABLE = ("bundle_price", "saving", "discount_type", "discount_pct", "discount_label", "reason_en", "reason_zh",
            "components", "expected_profit", "expected_take_rate", "break_even_take_rate", "binding_constraint",
            "guardrails", "valid_from", "valid_to", "recommended", "reason_not_recommended", "reason_type",
            "copy_edited")
#: Roles allowed to write decisions: derived from the one role table, :data:`recommender.auth.PERMISSIONS`.
WRITE_ROLES = auth.roles_with("approve")
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decision_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bundle_id TEXT NOT NULL,
    items TEXT NOT NULL,
    store TEXT,
    action TEXT NOT NULL CHECK (action IN ('approve', 'reject', 'edit', 'reset')),
    status TEXT NOT NULL CHECK (status IN ('approved', 'rejected', 'pending')),
    user TEXT NOT NULL,
    role TEXT,
    at TEXT NOT NULL,
    run TEXT,
    note TEXT,
    changes TEXT NOT NULL,
    fields TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS decision_history_bundle ON decision_history (bundle_id, id);
CREATE VIEW IF NOT EXISTS decision_current AS
    SELECT h.* FROM decision_history h
    WHERE h.id = (SELECT MAX(id) FROM decision_history WHERE bundle_id = h.bundle_id);
CREATE TRIGGER IF NOT EXISTS decision_history_no_update BEFORE UPDATE ON decision_history
    BEGIN SELECT RAISE(ABORT, 'decision_history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS decision_history_no_delete BEFORE DELETE ON decision_history
    BEGIN SELECT RAISE(ABORT, 'decision_history is append-only'); END;
"""

_COLUMNS = ["id", "bundle_id", "items", "store", "action", "status", "user", "role", "at", "run", "note",
            "changes", "fields", "reason"]


class NotAllowed(PermissionError):
    """The signed-in role may not write decisions."""


class ReasonRequired(ValueError):
    """Approving this offer needs a reason (it is not recommended, or it is expected to lose money)."""


def reason_needed(offer) -> str | None:
    """Why approving ``offer`` needs a reason, or None when it does not.

    ``offer`` is a bundles-table row or a dict with ``recommended`` and
    ``expected_profit`` (the offer as it would be approved, edits included).

    >>> reason_needed({"recommended": True, "expected_profit": 120.0}) is None
    True
    >>> reason_needed({"recommended": False, "expected_profit": -1079.0})
    'the offer is not recommended and its expected profit is negative (-1,079.00)'
    """
    get = offer.get if hasattr(offer, "get") else (lambda k, d=None: getattr(offer, k, d))
    rec = get("recommended", True)
    rec = str(rec).lower() in ("true", "1") if isinstance(rec, str) else bool(rec) if rec is not None else True
    try:
        profit = float(get("expected_profit", 0.0))
    except (TypeError, ValueError):
        profit = 0.0
    loses = math.isfinite(profit) and profit < 0
    if rec and not loses:
        return None
    if not rec and loses:
        return f"the offer is not recommended and its expected profit is negative ({profit:,.2f})"
    if not rec:
        return "the offer is not recommended"
    return f"its expected profit is negative ({profit:,.2f})"


def default_db_path(data_dir) -> Path:
    """``RECOMMENDER_DB`` if set, else ``data_dir/decisions.sqlite``.

    >>> default_db_path("/srv/data").name
    'decisions.sqlite'
    """
    env = os.environ.get("RECOMMENDER_DB")
    return Path(env) if env else Path(data_dir) / "decisions.sqlite"


def _setup(con) -> None:
    """WAL mode and schema, retried while another connection holds the lock.

    SQLite answers "database is locked" at once, without waiting for the busy
    timeout, when waiting could deadlock: two sessions opening a database that
    is still new (not yet in WAL mode) at the same moment. Retrying the idempotent
    setup within the busy timeout is the documented way out.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            con.executescript(_SCHEMA)
            if "reason" not in {r[1] for r in con.execute("PRAGMA table_info(decision_history)")}:
                con.execute("ALTER TABLE decision_history ADD COLUMN reason TEXT")  # a database from before reasons
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if con.in_transaction:
                con.execute("ROLLBACK")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _connect(path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        _setup(con)
        yield con
    finally:
        con.close()


def init_db(path) -> Path:
    """Create the database (WAL mode, schema) if it does not exist; return its path."""
    with _connect(path):
        pass
    return Path(path)


def _plain(value):
    """JSON-safe version of a bundle field (tuples, numpy scalars, NaN)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def record(path, bundle_id: str, *, items, store=None, action: str, user: str, role: str = "merchandiser",
           edits: dict | None = None, original: dict | None = None, run: str | None = None,
           note: str | None = None, reason: str | None = None, needs_reason: str | None = None) -> dict:
    """Append one decision and return the new current state of the bundle.

    Parameters
    ----------
    path : str or Path
        The SQLite file (created on first use).
    bundle_id : str
        The bundle's stable id (items + store).
    items : sequence of str
        The bundle's items (kept for people reading the log).
    store : str, optional
    action : {"approve", "reject", "edit", "reset"}
        ``edit`` keeps the status; the others set approved / rejected / pending.
    user, role : str
        Who decides. Only :data:`WRITE_ROLES` may write (:class:`NotAllowed`).
    edits : dict, optional
        Field -> new value, fields from :data:`EDITABLE`.
    original : dict, optional
        The run's values of the edited fields, used as "old" the first time a
        field is changed.
    run, note : str, optional
    reason : str, optional
        Why the offer is approved although it is not recommended (kept with the decision).
    needs_reason : str, optional
        :func:`reason_needed` of the offer as approved; when set, an approval
        without a ``reason`` raises :class:`ReasonRequired`.

    Returns
    -------
    dict
        The row written: action, status, user, at, changes ({field: [old, new]}),
        fields (all edited fields so far).

    Examples
    --------
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "d.sqlite")
    >>> r = record(db, "b1", items=["shirt", "tie"], action="approve", user="ann",
    ...            edits={"bundle_price": 68.0}, original={"bundle_price": 70.0})
    >>> r["status"], r["user"], r["changes"]
    ('approved', 'ann', {'status': ['pending', 'approved'], 'bundle_price': [70.0, 68.0]})
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not auth.can(role, "approve") or (edits and not auth.can(role, "price")):
        raise NotAllowed(f"role {role!r} may not approve, reject or edit bundles")
    if not user:
        raise ValueError("a decision needs the user who made it")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    if action == "approve" and needs_reason and reason is None:
        raise ReasonRequired(f"approving this offer needs a reason: {needs_reason}")
    edits = {k: _plain(v) for k, v in (edits or {}).items()}
    bad = sorted(set(edits) - set(EDITABLE))
    if bad:
        raise ValueError(f"fields {bad} cannot be edited; editable: {', '.join(EDITABLE)}")
    original = {k: _plain(v) for k, v in (original or {}).items()}
    with _connect(path) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            prev = con.execute("SELECT status, fields FROM decision_current WHERE bundle_id = ?",
                               (str(bundle_id),)).fetchone()
            old_status, old_fields = (prev[0], json.loads(prev[1])) if prev else ("pending", {})
            status = STATUS_AFTER.get(action, old_status)
            fields = {} if action == "reset" else dict(old_fields)
            changes = {}
            if status != old_status:
                changes["status"] = [old_status, status]
            if action == "reset":
                changes.update({k: [v, original.get(k)] for k, v in old_fields.items()})
            for key, new in edits.items():
                old = old_fields.get(key, original.get(key))
                if old != new:
                    changes[key] = [old, new]
                fields[key] = new
            row = (str(bundle_id), json.dumps([str(i) for i in items], ensure_ascii=False),
                   None if store is None or (isinstance(store, float) and math.isnan(store)) else str(store),
                   action, status, str(user), str(role), _now(), run, note,
                   json.dumps(changes, ensure_ascii=False), json.dumps(fields, ensure_ascii=False), reason)
            cur = con.execute("INSERT INTO decision_history (bundle_id, items, store, action, status, user, role, "
                              "at, run, note, changes, fields, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return _row_dict((cur.lastrowid, *row))


def _row_dict(row) -> dict:
    out = dict(zip(_COLUMNS, row))
    out["items"] = tuple(json.loads(out["items"]))
    out["changes"] = json.loads(out["changes"])
    out["fields"] = json.loads(out["fields"])
    return out


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame([_row_dict(r) for r in rows], columns=_COLUMNS)


def history(path, bundle_id: str | None = None) -> pd.DataFrame:
    """Every decision (oldest first), or those of one bundle; empty when there is no database yet."""
    if not Path(path).exists():
        return pd.DataFrame(columns=_COLUMNS)
    with _connect(path) as con:
        if bundle_id is None:
            rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM decision_history ORDER BY id").fetchall()
        else:
            rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM decision_history WHERE bundle_id = ? "
                               "ORDER BY id", (str(bundle_id),)).fetchall()
    return _frame(rows)


def current(path) -> pd.DataFrame:
    """The latest decision per bundle (view ``decision_current``), one row per bundle_id."""
    if not Path(path).exists():
        return pd.DataFrame(columns=_COLUMNS)
    with _connect(path) as con:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM decision_current ORDER BY id").fetchall()
    return _frame(rows)


def apply_decisions(bundles: pd.DataFrame, state: pd.DataFrame) -> pd.DataFrame:
    """Join the current decisions onto a bundles table (a new frame).

    Adds ``status`` (approved / rejected / pending), ``approved`` (bool),
    ``decided_by``, ``decided_at``, and replaces edited fields by their edited
    values. Bundles are matched on ``bundle_id``, never on row position.

    Examples
    --------
    >>> b = pd.DataFrame({"bundle_id": ["x", "y"], "bundle_price": [10.0, 20.0]})
    >>> s = pd.DataFrame({"bundle_id": ["y"], "status": ["approved"], "user": ["ann"], "at": ["t"],
    ...                   "fields": [{"bundle_price": 18.0}]})
    >>> apply_decisions(b, s)[["bundle_id", "status", "approved", "decided_by", "bundle_price"]].values.tolist()
    [['x', 'pending', False, None, 10.0], ['y', 'approved', True, 'ann', 18.0]]
    """
    out = bundles.copy()
    by_id = {str(r["bundle_id"]): r for r in state.to_dict("records")} if len(state) else {}
    ids = out["bundle_id"].astype(str).tolist()
    out["status"] = [by_id[i]["status"] if i in by_id else "pending" for i in ids]
    out["approved"] = out["status"].eq("approved").astype(bool)
    # object columns keep None for "nobody yet" (a string column would turn it into NaN)
    out["decided_by"] = pd.Series([by_id[i]["user"] if i in by_id else None for i in ids], index=out.index,
                                  dtype=object)
    out["decided_at"] = pd.Series([by_id[i]["at"] if i in by_id else None for i in ids], index=out.index,
                                  dtype=object)
    # why an offer that is not recommended was approved (None for the rest), carried into the exports
    out["approval_reason"] = pd.Series([by_id[i].get("reason") if i in by_id and by_id[i]["status"] == "approved"
                                        else None for i in ids], index=out.index, dtype=object)
    for pos, i in enumerate(ids):
        for key, value in (by_id[i]["fields"] if i in by_id else {}).items():
            if key not in out.columns:
                out[key] = None
            if out[key].dtype != object and not isinstance(value, (int, float)):
                out[key] = out[key].astype(object)
            if key in ("components", "guardrails") and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)
            out.iloc[pos, out.columns.get_loc(key)] = value
    return out
