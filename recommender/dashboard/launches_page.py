"""Launches page: schedule approved bundles as a launch, see expected vs actual per bundle, calibrate from it.

A thin shell over :mod:`recommender.launch` (records in the decisions
database), :mod:`recommender.measure` and :mod:`recommender.calibrate`.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import streamlit as st

from recommender import decisions
from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender.launch import (bundles_from_run, list_launches, make_launch, read_launch, store_launch)
from recommender.measure import measure_launch

T = c.T
c.page("explore", "launches_title")  # every route into this page (menu, URL, switch_page) passes here
db = c.db_path()

run_path, run = c.selected_run()
lines, catalog = c.run_inputs(run) if run is not None else (None, None)

if c.is_demo():  # the demo shop's own launch is a stored launch like any other
    demo_launch = c.data_dir() / "demo" / "launch.json"
    if demo_launch.exists():
        try:
            store_launch(db, read_launch(demo_launch))
        except InputError:
            pass  # an older demo launch with the same id: keep what is stored

# ------------------------------------------------------------------ schedule
st.subheader(T("schedule_launch"))
table = c.bundles_with_decisions(run) if run is not None else None
approved = table[table["status"] == "approved"] if table is not None and "status" in table else None
if approved is None or approved.empty:
    st.caption(T("no_approved_to_launch"))
elif not c.can("approve"):
    st.caption(T("launch_needs_approve"))
elif lines is None or "store_id" not in lines:
    st.caption(T("launch_needs_stores"))
else:
    st.dataframe(approved[["store", "names", "bundle_price", "regular_price", "expected_take_rate"]],
                 hide_index=True, width="stretch")
    stores = sorted(lines["store_id"].dropna().astype(str).unique())
    default_test = sorted(set(approved["store"].astype(str)) & set(stores))
    with st.form("schedule"):
        name = st.text_input(T("launch_name"), value=f"launch {dt.date.today().isoformat()}", key="l_name")
        test = st.multiselect(T("test_stores"), stores, default=default_test, key="l_test")
        control = st.multiselect(T("control_stores_or_match"), stores, default=[], key="l_control")
        last = pd.to_datetime(lines["timestamp"]).max().date()
        start = st.date_input(T("launch_from"), value=last + dt.timedelta(days=1), key="l_from")
        end = st.date_input(T("launch_to"), value=last + dt.timedelta(days=56), key="l_to")
        go = st.form_submit_button(T("schedule_button"))
    if go:
        try:
            bundles = bundles_from_run(run, approved_state=decisions.current(db), catalog=catalog)
            if not control:
                from recommender.uplift import match_control_stores

                control = sorted(set(match_control_stores(lines, test, start)["control_store"]))
            record = make_launch(bundles, test, control, start, end, name=name, lines=lines, catalog=catalog,
                                 run=str(run_path), created_by=c.user().name, known_launches=list_launches(db))
            store_launch(db, record)
            st.session_state["l_show"] = record["launch_id"]
            st.success(T("launch_scheduled", id=record["launch_id"], n=len(record["bundles"])))
        except InputError as exc:
            st.info(str(exc))

# ------------------------------------------------------------------ expected vs actual
st.subheader(T("launch_expected_vs_actual"))
launches = list_launches(db)
if not launches:
    st.caption(T("no_launches"))
    st.stop()
by_id = {r["launch_id"]: r for r in launches}
ids = list(by_id)
shown = st.session_state.get("l_show")
choice = st.selectbox(T("launch"), ids, index=ids.index(shown) if shown in ids else len(ids) - 1, key="l_pick",
                      format_func=lambda i: f"{by_id[i].get('name')} ({by_id[i]['from']} .. {by_id[i].get('to') or '-'})")
launch = by_id[choice]
st.caption(T("launch_stores", test=", ".join(launch["stores"]), control=", ".join(launch.get("control_stores") or [])))


@st.cache_data(show_spinner=False, max_entries=8)
def measured(key: str, launch_json: str, _lines, _catalog):
    return measure_launch(_lines, json.loads(launch_json), catalog=_catalog)


if lines is None or pd.to_datetime(lines["timestamp"]).max() < pd.Timestamp(launch["from"]):
    st.caption(T("launch_not_started"))
    st.stop()
data_key = str(run_path) + str(c.folder_version(run_path))
try:
    res = measured(data_key, json.dumps(launch, sort_keys=True), lines, catalog)
except InputError as exc:
    st.info(str(exc))
    st.stop()


def _num(v, fmt="{:+.3f}"):
    return "-" if v is None else fmt.format(v)


rows = [{T("col_bundle"): b["name"],
         T("col_attach_expected"): _num(b.get("expected_attach_uplift")),
         T("col_attach_measured"): _num(b.get("attach_uplift")),
         T("col_interval"): "-" if b.get("ci_low") is None else f"[{b['ci_low']:+.3f}, {b['ci_high']:+.3f}]",
         T("col_take_expected"): _num(b.get("expected_take_rate"), "{:.2f}"),
         T("col_take_measured"): _num(b.get("take_rate"), "{:.2f}"),
         T("col_takers_expected"): _num(b.get("expected_takers"), "{:,.0f}"),
         T("col_takers_measured"): _num(b.get("takers"), "{:,.0f}"),
         T("col_margin_expected"): _num(b.get("expected_incremental_margin"), "{:+,.1f}"),
         T("col_margin_measured"): _num(b.get("incremental_margin"), "{:+,.1f}")} for b in res["bundles"]]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
port = res["portfolio"]
atv = port.get("atv") or {}
m1, m2, m3 = st.columns(3)
m1.metric(T("col_takers_measured"), _num(port.get("takers"), "{:,.0f}"),
          delta=T("expected_short", v=_num(port.get("expected_takers"), "{:,.0f}")), delta_color="off")
m2.metric(T("margin_per_store_week"), _num(port.get("incremental_margin"), "{:+,.1f}"),
          delta=T("expected_short", v=_num(port.get("expected_incremental_margin"), "{:+,.1f}")), delta_color="off")
if atv.get("estimate") is not None:
    m3.metric("ATV", f"{atv['estimate']:+.2f}", delta=f"{atv['estimate_pct']:+.1f}%")
mde = port.get("minimum_detectable_effect")
if mde:
    st.caption(T("mde_at_launch", mde=mde["mde"], pct=mde["mde_pct"]))

# ------------------------------------------------------------------ calibrate
if c.can("price") or c.can("mine"):
    st.subheader(T("calibrate_title"))
    st.caption(T("calibrate_help"))
    if st.button(T("calibrate_button"), key="l_calibrate"):
        from recommender.calibrate import calibrate, write_policy

        try:
            policy = calibrate([res])
            out = c.data_dir() / "policies" / f"calibrated-{launch['launch_id']}.toml"
            write_policy(policy, out)
            st.success(T("calibrated_written", path=str(out)))
            fits = policy.sources[-1]["departments"]
            st.dataframe(pd.DataFrame([{T("col_department"): d, "factor": f["factor"], **f["curve"]}
                                       for d, f in fits.items()]), hide_index=True, width="stretch")
        except InputError as exc:
            st.info(str(exc))
