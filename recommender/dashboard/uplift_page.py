"""Uplift page: ticket counts by level (and why they do not add up), test vs control over time, the measured DiD."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from recommender.dashboard import common as c
from recommender.tickets import overlap_report, store_totals, ticket_metrics
from recommender.uplift import NotEnoughData, before_after, expected_vs_actual, measure_uplift

T = c.T
c.page("explore", "uplift_title")  # every route into this page (menu, URL, switch_page) passes here

run_path, run = c.selected_run()
lines, catalog = c.run_inputs(run) if run is not None else (None, None)
if lines is None:  # no run of the active data yet (or its input is gone): measure the active data itself
    act = c.active()
    lines, catalog = c.receipts_of(act.receipts, act.mapping).lines, c.catalog_of(act.catalog)


@st.cache_data(show_spinner=False, max_entries=16)
def metrics_for(key: str, level: str, _lines, _catalog):
    return ticket_metrics(_lines, _catalog, level), overlap_report(_lines, _catalog, level)


@st.cache_data(show_spinner=False, max_entries=16)
def weekly(key: str, stores: tuple, _lines):
    part = _lines[_lines["store_id"].astype("string").isin(list(stores)).fillna(False).to_numpy(dtype=bool)]
    return store_totals(part, by="week")


@st.cache_data(show_spinner=False, max_entries=16)
def measured(key: str, launch: str, test: tuple, control: tuple, metric: str, _lines, _catalog, bundle=None):
    return measure_uplift(_lines, launch, list(test), list(control), metric=metric, bundle=bundle, catalog=_catalog)


data_key = str(run_path) + str(c.folder_version(run_path)) if run_path else "demo"

# ------------------------------------------------------------------ ticket metrics
# only the levels the catalog has (any subset of its documented columns)
levels = ["store"] + [lv for lv in ("department", "category", "subcategory", "brand")
                      if catalog is not None and lv in catalog.columns] + ["sku"]
level = st.selectbox(T("level"), levels, index=1 if len(levels) > 2 else 0, key="u_level")
st.subheader(T("ticket_metrics", level=level))
st.info(T("ticket_definition"), icon=":material/receipt_long:")
per_value, overlap = metrics_for(data_key, level, lines, catalog)
st.dataframe(per_value, hide_index=True, width="stretch", column_config={
    "sales": st.column_config.NumberColumn(format="%.0f"), "atv": st.column_config.NumberColumn(format="%.2f"),
    "upt": st.column_config.NumberColumn(format="%.2f"),
    "penetration": st.column_config.NumberColumn(format="%.3f")})
if level != "store":
    st.markdown(f"**{T('overlap')}**")
    st.dataframe(overlap, hide_index=True, width="stretch", column_config={
        "excess_pct": st.column_config.NumberColumn(format="%.1f%%"),
        "values_per_ticket": st.column_config.NumberColumn(format="%.2f")})

# ------------------------------------------------------------------ test vs control
st.divider()
truth = c.ground_truth() if c.is_demo() else {}
all_stores = sorted(lines["store_id"].dropna().astype(str).unique())
ts = lines["timestamp"].dropna()
if ts.empty:
    st.info(T("no_dates"))
    st.stop()
lo, hi = ts.min().date(), ts.max().date()
default_launch = dt.date.fromisoformat(truth["launch_date"]) if truth.get("launch_date") else lo + (hi - lo) * 3 // 4
designs = ["did", "before_after"] if len(all_stores) >= 2 else ["before_after"]
if len(all_stores) < 2:  # say why, instead of empty store pickers
    st.info(T("no_test_control", n=len(all_stores)))
design = st.radio(T("design"), designs, key="u_design", horizontal=True, format_func=lambda d: T(f"design_{d}"))

if design == "before_after":
    st.subheader(T("design_before_after"))
    b1, b2 = st.columns([1.4, 1])
    launch = b1.date_input(T("launch_date"), value=min(max(default_launch, lo), hi), min_value=lo, max_value=hi,
                           key="u_launch")
    metric = b2.radio(T("metric"), ["atv", "upt"], key="u_metric", format_func=str.upper)
    w = store_totals(lines, by="week")
    series = pd.DataFrame({"week": pd.to_datetime(w["period"]), metric: w[metric]})
    chart = alt.Chart(series).mark_line(point=True).encode(
        x=alt.X("week:T", title=None), y=alt.Y(f"{metric}:Q", scale=alt.Scale(zero=False), title=metric.upper()),
        tooltip=["week:T", alt.Tooltip(f"{metric}:Q", format=".2f")])
    rule = alt.Chart(pd.DataFrame({"launch": [pd.Timestamp(launch)]})).mark_rule(
        color="black", strokeDash=[6, 4]).encode(x="launch:T")
    st.altair_chart(chart + rule, width="stretch")
    try:
        res = before_after(lines, launch, metric)
    except NotEnoughData as exc:
        st.info(T("not_enough", msg=c.plain(exc)))
        st.stop()
    m1, m2 = st.columns([1, 3])
    m1.metric(T("estimate"), f"{res['estimate']:+.2f}", delta=f"{res['estimate_pct']:+.1f}%")
    m2.markdown(T("interval", conf=res["confidence"], lo=res["ci_low"], hi=res["ci_high"], lop=res["ci_low_pct"],
                  hip=res["ci_high_pct"], p=res["p_value"]))
    m2.caption(T("weaker_design", pre=res["n_weeks_pre"], post=res["n_weeks_post"], n=res["n_tickets"]))
    st.stop()

s1, s2, s3, s4 = st.columns([3, 3, 1.4, 1])
default_test = [s for s in truth.get("test_stores", []) if s in all_stores] or all_stores[: len(all_stores) // 2]
default_control = [s for s in truth.get("control_stores", []) if s in all_stores] or [
    s for s in all_stores if s not in default_test]
test = s1.multiselect(T("test_stores"), all_stores, default=default_test, key="u_test")
control = s2.multiselect(T("control_stores"), [s for s in all_stores if s not in test],
                         default=[s for s in default_control if s not in test], key="u_control")
launch = s3.date_input(T("launch_date"), value=min(max(default_launch, lo), hi), min_value=lo, max_value=hi,
                       key="u_launch")
metric = s4.radio(T("metric"), ["atv", "upt"], key="u_metric", format_func=str.upper)

if not (test and control):  # nothing vanishes without a word
    st.info(T("pick_test_control"))
if test and control:
    frames = []
    for group, stores in (("test", tuple(test)), ("control", tuple(control))):
        w = weekly(data_key, stores, lines)
        frames.append(pd.DataFrame({"week": pd.to_datetime(w["period"]), "group": group, metric: w[metric]}))
    series = pd.concat(frames, ignore_index=True)
    st.markdown(f"**{T('over_time', metric=metric.upper())}**")
    lines_chart = alt.Chart(series).mark_line(point=True).encode(
        x=alt.X("week:T", title=None), y=alt.Y(f"{metric}:Q", scale=alt.Scale(zero=False), title=metric.upper()),
        color=alt.Color("group:N", scale=alt.Scale(domain=["test", "control"], range=["#d62728", "#1f77b4"])),
        tooltip=["week:T", "group:N", alt.Tooltip(f"{metric}:Q", format=".2f")])
    rule = alt.Chart(pd.DataFrame({"launch": [pd.Timestamp(launch)]})).mark_rule(
        color="black", strokeDash=[6, 4]).encode(x="launch:T")
    label = alt.Chart(pd.DataFrame({"launch": [pd.Timestamp(launch)], "text": [T("launch_date")]})).mark_text(
        align="left", dx=4, dy=-120, fontSize=11).encode(x="launch:T", text="text:N")
    st.altair_chart(lines_chart + rule + label, width="stretch")

    st.subheader(T("estimate"))
    try:
        res = measured(data_key, str(launch), tuple(test), tuple(control), metric, lines, catalog)
    except NotEnoughData as exc:
        st.info(T("not_enough", msg=exc))
        res = None
    if res is not None:
        m1, m2 = st.columns([1, 3])
        m1.metric(T("estimate"), f"{res['estimate']:+.2f}", delta=f"{res['estimate_pct']:+.1f}%")
        m2.markdown(T("interval", conf=res["confidence"], lo=res["ci_low"], hi=res["ci_high"],
                      lop=res["ci_low_pct"], hip=res["ci_high_pct"], p=res["p_value"]))
        m2.caption(T("design_note", nt=res["n_test_stores"], nc=res["n_control_stores"], n=res["n_tickets"]))
        for note in res["warnings"]:
            m2.caption(":material/info: " + note)

    # ------------------------------------------------------------------ expected vs actual
    st.subheader(T("expected_vs_actual"))
    table = c.bundles_with_decisions(run) if run is not None else None
    launched = table[table["approved"] & table["store"].astype(str).isin(test)] if table is not None else None
    if launched is None or launched.empty or res is None:
        st.caption(T("no_launched"))
    else:
        # expected ATV change per test store: the mid-range of its approved bundles, summed; then the mean store
        mid = (launched["expected_atv_uplift_low"] + launched["expected_atv_uplift_high"]) / 2
        per_store = mid.groupby(launched["store"].astype(str)).sum().reindex(test, fill_value=0.0)
        expected = {f"{metric}_uplift": float(per_store.mean())} if metric == "atv" else {}
        if metric == "upt":
            mid_u = (launched["expected_upt_uplift_low"] + launched["expected_upt_uplift_high"]) / 2
            expected = {"upt_uplift": float(mid_u.groupby(launched["store"].astype(str)).sum()
                                            .reindex(test, fill_value=0.0).mean())}
        rows = [expected_vs_actual(expected, res)["table"]]
        # each launched bundle: expected change of its attach rate (takers / anchor tickets) vs measured
        for (lvl, li, anchor), grp in launched.groupby(["level", "level_items", "anchor_label"], sort=False):
            exp_attach = float((grp["expected_take_rate"] * grp["gap_tickets"] / grp["anchor_tickets"]).mean())
            try:
                att = measured(data_key, str(launch), tuple(test), tuple(control), "attach", lines, catalog,
                               bundle={"anchor": [anchor], "items": list(li), "level": lvl})
            except NotEnoughData:
                continue
            out = expected_vs_actual({"attach_uplift": exp_attach}, att)["table"]
            out["quantity"] = T("attach_for", name=" + ".join(li))
            rows.append(out)
        st.dataframe(pd.concat(rows, ignore_index=True), hide_index=True, width="stretch")
