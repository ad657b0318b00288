"""A launch: which bundles ran where, when, at what price, and what was expected of them.

In: bundles (from a run's ``bundles`` table, or given as dicts), the test
stores, the control stores, the dates and the receipts before the launch.
Out: a launch record -- a plain dict, stored in the decisions database beside
the approvals (table ``launches``) and exportable as a JSON file that
:mod:`recommender.measure` and :mod:`recommender.calibrate` read.

A record::

    {"launch_id", "name", "promotion_id", "created_at", "created_by", "run",
     "stores": [...], "control_stores": [...], "from": "YYYY-MM-DD", "to": "YYYY-MM-DD" or null,
     "policy": {...where the take-rate curves came from...},
     "minimum_detectable_effect": {...ATV, stated at launch time...},
     "bundles": [{"bundle_id", "name", "department", "level", "anchor": [...], "addons": [...],
                  "items": [...], "components": [{"sku", "role", "quantity", "unit_price",
                  "promotion_price"}], "discount_type", "regular_price", "bundle_price", "saving",
                  "saving_pct", "discount_cost", "added_margin",
                  "projection": {"take_rate", "weeks", "anchor_tickets_per_store_week",
                                 "gap_tickets_per_store_week", "set_tickets_per_store_week",
                                 "takers_per_store_week", "incremental_margin_per_store_week",
                                 "attach_rate_before", "expected_attach_uplift"}}]}

``level`` says at which catalog level the till applies the promotion and the
measurement counts a bundle: ``"sku"`` for offers priced on SKUs (a run's
bundles), or a coarser level when any SKU of the subcategory earns it (the
demo's launch).

The projection counts the test stores' last ``weeks`` weeks before the launch:
gap tickets (anchor bought, an add-on missing) and set tickets (the whole set
already bought) per store-week. A taker adds the missing add-ons, earning
their margin minus the discount; a set ticket gets the discount for nothing::

    takers = q(saving_pct) * gap
    incremental margin = takers * (added_margin - discount_cost) - set * discount_cost

Promoted store-periods of other known launches are left out of the counts
(:func:`exclude_launches`), so one promotion does not inflate the next one's
base.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import InputError
from recommender.mix_match import MIX_MATCH
from recommender.policy import Policy
from recommender.tickets import bundle_flags, family_flags, receipt_table

PROJECTION_WEEKS = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS launches (
    launch_id TEXT PRIMARY KEY,
    name TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT,
    start TEXT NOT NULL,
    "end" TEXT,
    record TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS launches_no_update BEFORE UPDATE ON launches
    BEGIN SELECT RAISE(ABORT, 'launches are records: add a new launch instead of changing one'); END;
"""


# ---------------------------------------------------------------- windows

def _day(value, name) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return str(pd.Timestamp(value).date())
    except (ValueError, TypeError):
        raise InputError(f"{name} {value!r} is not a date", hint="use YYYY-MM-DD") from None


def promoted_mask(lines: pd.DataFrame, launches) -> np.ndarray:
    """True for lines sold in a test store of a known launch while it ran.

    >>> lines = pd.DataFrame({"store_id": ["A", "A", "B"],
    ...     "timestamp": pd.to_datetime(["2025-01-01", "2025-02-02", "2025-02-02"])})
    >>> promoted_mask(lines, [{"stores": ["A"], "from": "2025-02-01", "to": None}]).tolist()
    [False, True, False]
    """
    out = np.zeros(len(lines), dtype=bool)
    if not launches or "store_id" not in lines or "timestamp" not in lines:
        return out
    store = lines["store_id"].astype("string").to_numpy(dtype=object, na_value=None)
    ts = pd.to_datetime(lines["timestamp"])
    for rec in launches:
        sel = np.isin(store, [str(s) for s in rec.get("stores", [])]) & (ts >= pd.Timestamp(rec["from"])).to_numpy()
        if rec.get("to"):
            sel &= (ts < pd.Timestamp(rec["to"]) + pd.Timedelta(days=1)).to_numpy()
        out |= sel
    return out


def exclude_launches(lines: pd.DataFrame, launches) -> pd.DataFrame:
    """``lines`` without the promoted store-periods of ``launches`` (see :func:`promoted_mask`)."""
    mask = promoted_mask(lines, launches)
    out = lines[~mask]
    out.attrs["excluded_lines"] = int(mask.sum())
    return out


# ---------------------------------------------------------------- projection

def project_bundle(lines: pd.DataFrame, bundle: dict, stores, start, *, policy: Policy | None = None,
                   catalog: pd.DataFrame | None = None, weeks: int = PROJECTION_WEEKS, known_launches=()) -> dict:
    """Projection at launch for one bundle in ``stores``: take rate, takers and margin per store-week.

    Parameters
    ----------
    lines : DataFrame
        Clean receipt lines (receipt_id, sku, store_id, timestamp).
    bundle : dict
        At least ``department``, ``level``, ``anchor``, ``addons``, ``saving_pct``,
        ``discount_cost`` and ``added_margin``.
    stores : list of str
        The test stores.
    start : date-like
        Launch day; the ``weeks`` weeks before it are counted.
    known_launches : iterable of launch records
        Their promoted store-periods are left out of the counts.

    Examples
    --------
    >>> lines = pd.DataFrame({"receipt_id": ["1", "1", "2", "3"], "sku": ["shirt", "tie", "shirt", "shirt"],
    ...     "store_id": "A", "timestamp": pd.Timestamp("2025-01-18")})
    >>> b = {"department": "apparel", "level": "sku", "anchor": ["shirt"], "addons": ["tie"],
    ...      "saving_pct": 0.1, "discount_cost": 10.0, "added_margin": 50.0}
    >>> p = project_bundle(lines, b, ["A"], "2025-02-01", weeks=2)
    >>> p["store_weeks"], p["gap_tickets_per_store_week"], p["set_tickets_per_store_week"], round(p["take_rate"], 4)
    (2.0, 1.0, 0.5, 0.1467)
    """
    policy = policy or Policy()
    start = pd.Timestamp(start)
    stores = [str(s) for s in stores]
    lines = exclude_launches(lines, known_launches)
    ts = pd.to_datetime(lines["timestamp"])
    sel = (ts < start) & (ts >= start - pd.Timedelta(weeks=weeks))
    sel &= lines["store_id"].astype("string").isin(stores).fillna(False)
    part = lines[sel.to_numpy(dtype=bool)]
    anchor, addons = list(bundle["anchor"]), list(bundle["addons"])
    catalog_arg = catalog if bundle.get("level", "sku") != "sku" else None
    if len(part):
        if bundle.get("discount_type") == MIX_MATCH:  # taken by 2+ units of the family, as measure counts it
            flags = family_flags(part, anchor + addons, level=bundle.get("level", "sku"), catalog=catalog_arg)
        else:
            flags = bundle_flags(part, anchor, anchor + addons, level=bundle.get("level", "sku"),
                                 catalog=catalog_arg)
        n_anchor, n_set = int(flags["has_anchor"].sum()), int(flags["has_bundle"].sum())
    else:
        n_anchor = n_set = 0
    # weeks of the window the data covers (an export may start inside it)
    first = ts.min().normalize() if len(ts) else start
    span = (start - max(first, start - pd.Timedelta(weeks=weeks))).days / 7.0
    store_weeks = max(len(stores), 1) * max(span, 1 / 7.0)
    curve = policy.curve_for(bundle.get("department"))
    q = float(curve.take_rate(float(bundle["saving_pct"])))
    gap = (n_anchor - n_set) / store_weeks
    full = n_set / store_weeks
    takers = q * gap
    cost, margin = float(bundle["discount_cost"]), float(bundle["added_margin"])
    return {"take_rate": q, "weeks": weeks, "store_weeks": store_weeks,
            "anchor_tickets_per_store_week": n_anchor / store_weeks, "gap_tickets_per_store_week": gap,
            "set_tickets_per_store_week": full, "takers_per_store_week": takers,
            "incremental_margin_per_store_week": takers * (margin - cost) - full * cost,
            "attach_rate_before": n_set / n_anchor if n_anchor else None,
            "expected_attach_uplift": q * (n_anchor - n_set) / n_anchor if n_anchor else None,
            "curve": {"q0": curve.q0, "q_max": curve.q_max, "k": curve.k}}


# ---------------------------------------------------------------- building a launch

def launch_id(name: str, start, stores, bundle_ids) -> str:
    """Stable id from what the launch is: ``L-`` and 10 hex digits.

    >>> launch_id("x", "2025-08-01", ["A"], ["b1"]) == launch_id("x", "2025-08-01", ["A"], ["b1"])
    True
    """
    key = json.dumps([name, str(start), sorted(map(str, stores)), sorted(map(str, bundle_ids))])
    return "L-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


def make_launch(bundles: list[dict], stores, control_stores, start, end=None, *, name: str | None = None,
                promotion_id: str | None = None, lines: pd.DataFrame | None = None, catalog=None,
                policy: Policy | None = None, policy_source: str | None = None, run: str | None = None,
                created_by: str | None = None, created_at: str | None = None, known_launches=(),
                weeks: int = PROJECTION_WEEKS) -> dict:
    """Return a launch record (see the module docstring), with the projection made now.

    ``bundles`` are dicts with at least name, department, level, anchor,
    addons, components, regular_price, bundle_price, saving, discount_cost
    and added_margin; ``lines`` (receipts before the launch) make the
    projection and the minimum detectable effect.
    """
    stores = [str(s) for s in stores]
    control = [str(s) for s in control_stores or []]
    if not stores:
        raise InputError("a launch needs at least one test store", hint="--stores A,B")
    overlap = sorted(set(stores) & set(control))
    if overlap:
        raise InputError(f"store(s) {overlap} are both test and control")
    if not bundles:
        raise InputError("a launch needs at least one bundle", hint="--bundles IDS or --approved")
    start_s, end_s = _day(start, "--from"), _day(end, "--to")
    if start_s is None:
        raise InputError("a launch needs a start date", hint="--from YYYY-MM-DD")
    if end_s is not None and end_s < start_s:
        raise InputError(f"--to {end_s} is before --from {start_s}")
    name = name or f"launch {start_s}"
    out_bundles = []
    for b in bundles:
        b = dict(b)
        b["items"] = list(b.get("items") or [*b["anchor"], *b["addons"]])
        if not b.get("saving_pct"):
            b["saving_pct"] = float(b["saving"]) / float(b["regular_price"]) if b.get("regular_price") else 0.0
        if lines is not None:
            b["projection"] = project_bundle(lines, b, stores, start_s, policy=policy, catalog=catalog, weeks=weeks,
                                             known_launches=known_launches)
        out_bundles.append(b)
    lid = launch_id(name, start_s, stores, [b.get("bundle_id") or b["name"] for b in out_bundles])
    record = {"launch_id": lid, "name": name, "promotion_id": promotion_id or f"PROMO-{lid[2:]}",
              "created_at": created_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "created_by": created_by, "run": run, "stores": stores, "control_stores": control,
              "from": start_s, "to": end_s,
              "policy": {"source": policy_source or "default curves (recommender.policy.DEFAULT_CURVES)",
                         "calibrated_from": list(getattr(policy, "sources", ()) or ())},
              "bundles": out_bundles}
    if lines is not None and len(control) >= 2 and len(stores) >= 2:
        record["minimum_detectable_effect"] = _mde(lines, stores, control, start_s, end_s)
    return _plain(record)


def _mde(lines, stores, control, start, end) -> dict | None:
    from recommender.uplift import NotEnoughData, minimum_detectable_effect

    weeks = 13 if end is None else max(1, min(13, round((pd.Timestamp(end) - pd.Timestamp(start)).days / 7)))
    for w in range(weeks, 0, -1):
        try:
            with warnings.catch_warnings():  # thin history: empty windows are skipped, not reported
                warnings.simplefilter("ignore", RuntimeWarning)
                out = minimum_detectable_effect(lines, stores, control, w, metric="atv", launch=start)
            if not math.isfinite(out["mde"]):
                continue
            out["note"] = f"ATV over {w} week(s) against {w} week(s) of history, 80% power, 5% two-sided"
            return out
        except NotEnoughData:
            continue
    return None


def bundles_from_run(run, ids=None, *, approved_state: pd.DataFrame | None = None, catalog=None) -> list[dict]:
    """Launchable bundles from a run's ``bundles`` table: rows by ``bundle_id`` or the approved ones.

    One launched bundle per distinct set of items; its price is that of the
    selected row with the most gap tickets (a chain runs one price).
    """
    table = run.tables.get("bundles")
    if table is None or table.empty:
        raise InputError("this run has no bundles yet", path=getattr(run, "path", None),
                         hint="run `recommender bundles RUN_DIR` first")
    if approved_state is not None:
        from recommender.decisions import apply_decisions

        table = apply_decisions(table, approved_state)
        rows = table[table["status"] == "approved"]
        if rows.empty:
            raise InputError("no approved bundles in this run", hint="approve bundles first, or use --bundles IDS")
    else:
        ids = [str(i) for i in ids or []]
        missing = [i for i in ids if i not in set(table["bundle_id"].astype(str))]
        if missing:
            raise InputError(f"bundle id(s) not in this run: {missing[:5]}", path=getattr(run, "path", None),
                             hint="ids are in the bundle_id column of bundles.csv")
        rows = table[table["bundle_id"].astype(str).isin(ids)]
    from recommender.offer import discount_cost

    dept, unit_costs = {}, None
    if catalog is not None and "department" in catalog:
        dept = dict(zip(catalog["sku"].astype(str), catalog["department"]))
    if catalog is not None and "unit_cost" in catalog:
        unit_costs = dict(zip(catalog["sku"].astype(str), catalog["unit_cost"]))
    out = {}
    for row in rows.sort_values("gap_tickets", ascending=False, kind="stable").to_dict("records"):
        key = tuple(row["items"])
        if key in out:
            out[key]["source_bundle_ids"].append(str(row["bundle_id"]))
            continue
        comps = row["components"]
        comps = json.loads(comps) if isinstance(comps, str) else list(comps)
        addon_skus = set(row["addons"])
        margin = 0.0
        for c in comps:
            if c.get("sku") in addon_skus and c.get("role") != "gift":
                cost = c.get("unit_cost")
                if cost is not None:
                    margin += (float(c["unit_price"]) - float(cost)) * float(c.get("quantity", 1))
        added = float(row.get("added_margin") or margin)
        # what one taker costs the shop: the saving, or a gift's unit cost (components carry no costs)
        cost_each = discount_cost(row, unit_costs)
        out[key] = {"bundle_id": str(row["bundle_id"]), "source_bundle_ids": [str(row["bundle_id"])],
                    "name": " + ".join(str(n) for n in row.get("names") or row["items"]),
                    "department": dept.get(str(row["anchor"])), "level": "sku",
                    "anchor": [str(row["anchor"])], "addons": [str(a) for a in row["addons"]],
                    "items": [str(i) for i in row["items"]], "components": comps,
                    "discount_type": row["discount_type"], "regular_price": float(row["regular_price"]),
                    "bundle_price": float(row["bundle_price"]), "saving": float(row["saving"]),
                    "saving_pct": float(row["saving"]) / float(row["regular_price"]) if row["regular_price"] else 0.0,
                    "discount_cost": cost_each, "added_margin": added,
                    "recommended": bool(row.get("recommended", True)),
                    "expected_profit": _plain(float(row.get("expected_profit") or 0.0)),
                    "gift_sku": row.get("gift_sku")}
    return list(out.values())


# ---------------------------------------------------------------- storage

def _connect(db):
    from recommender.decisions import _connect as connect_decisions

    return connect_decisions(db)


def store_launch(db, record: dict) -> str:
    """Keep ``record`` in the decisions database (table ``launches``); return its id.

    A launch is a record of what ran: storing the same id twice with other
    content is refused rather than silently overwritten.
    """
    body = json.dumps(_plain(record), ensure_ascii=False, sort_keys=True)
    with _connect(db) as con:
        con.executescript(_SCHEMA)
        con.execute("BEGIN IMMEDIATE")
        try:
            old = con.execute("SELECT record FROM launches WHERE launch_id = ?", (record["launch_id"],)).fetchone()
            if old is None:
                con.execute('INSERT INTO launches (launch_id, name, created_at, created_by, start, "end", record) '
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (record["launch_id"], record.get("name"), record.get("created_at") or "",
                             record.get("created_by"), record["from"], record.get("to"), body))
            elif _strip(json.loads(old[0])) != _strip(json.loads(body)):
                raise InputError(f"launch {record['launch_id']} already exists with other content",
                                 hint="give the launch another --name")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return record["launch_id"]


def _strip(rec):
    return {k: v for k, v in rec.items() if k not in ("created_at", "created_by")}


def list_launches(db) -> list[dict]:
    """Every stored launch record, oldest first (empty when the database does not exist)."""
    if not Path(db).exists():
        return []
    with _connect(db) as con:
        con.executescript(_SCHEMA)
        rows = con.execute("SELECT record FROM launches ORDER BY start, launch_id").fetchall()
    return [json.loads(r[0]) for r in rows]


def get_launch(db, launch_id: str) -> dict:
    """One stored launch by id; :class:`InputError` when there is none."""
    for rec in list_launches(db):
        if rec["launch_id"] == launch_id:
            return rec
    raise InputError(f"no launch {launch_id!r} in the decisions database", path=db,
                     hint="`recommender launch ...` stores one; or pass the launch JSON file")


def write_launch_json(record: dict, path) -> Path:
    """Write the record as UTF-8 JSON, atomically."""
    from recommender.atomic import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(_plain(record), ensure_ascii=False, indent=2) + "\n")
    return path


def read_launch(ref, db=None) -> dict:
    """A launch from a JSON file path, or by id from the decisions database."""
    p = Path(str(ref))
    if p.suffix.lower() == ".json" or p.is_file():
        if not p.is_file():
            raise InputError("launch file not found", path=p)
        try:
            record = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not a launch JSON file: {exc}", path=p) from None
        _check_record(record, p)
        return record
    if db is None:
        raise InputError(f"{ref!r} is neither a launch JSON file nor a stored launch id",
                         hint="pass the launch JSON file or --db")
    return get_launch(db, str(ref))


def _check_record(record, path=None) -> None:
    need = ("launch_id", "stores", "from", "bundles")
    missing = [k for k in need if not isinstance(record, dict) or k not in record]
    if missing:
        raise InputError(f"launch record lacks {missing}", path=path)
    for i, b in enumerate(record["bundles"]):
        lack = [k for k in ("anchor", "addons") if k not in b]
        if lack:
            raise InputError(f"bundle {i + 1} of the launch lacks {lack}", path=path)


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    return x


# ---------------------------------------------------------------- till file

def till_table(record: dict) -> pd.DataFrame:
    """The launch's till lines: :data:`recommender.export.POS_COLUMNS` plus ``bundle_id``, one row per
    component per test store, every row carrying the launch's ``promotion_id`` (one mix-and-match group per
    bundle), valid over the launch's dates.

    >>> rec = {"promotion_id": "P1", "stores": ["A"], "from": "2025-01-01", "to": "2025-01-31", "bundles": [
    ...     {"bundle_id": "b1", "anchor": ["1"], "addons": ["2"], "regular_price": 30.0, "bundle_price": 25.0,
    ...      "saving": 5.0, "components": [{"sku": "1", "quantity": 1, "promotion_price": 20.0},
    ...                                    {"sku": "2", "quantity": 1, "promotion_price": 5.0}]}]}
    >>> till_table(rec)[["promotion_id", "bundle_id", "sku", "promotion_price", "store"]].values.tolist()
    [['P1', 'b1', '1', 20.0, 'A'], ['P1', 'b1', '2', 5.0, 'A']]
    """
    from recommender.export import POS_COLUMNS, pos_table

    frames = []
    for store in record["stores"]:
        rows = pd.DataFrame([{"bundle_id": b.get("bundle_id") or b.get("name"), "store": store,
                              "items": list(b.get("items") or [*b["anchor"], *b["addons"]]),
                              "components": json.dumps(b.get("components") or []),
                              "regular_price": b["regular_price"], "bundle_price": b["bundle_price"],
                              "saving": b["saving"], "recommended": True} for b in record["bundles"]])
        till = pos_table(rows, selection="all", valid_from=record["from"], valid_to=record.get("to"))
        till.insert(1, "bundle_id", till["promotion_id"])
        till["promotion_id"] = record["promotion_id"]
        frames.append(till)
    return pd.concat(frames, ignore_index=True)[["promotion_id", "bundle_id", *POS_COLUMNS[1:]]]


def write_till(record: dict, path) -> Path:
    """Write :func:`till_table` as a spreadsheet-safe CSV (UTF-8 with BOM), atomically."""
    from recommender.atomic import atomic_write_bytes
    from recommender.spreadsheet import csv_bytes

    return atomic_write_bytes(Path(path), csv_bytes(till_table(record)))
