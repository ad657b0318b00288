"""Mining page (analysts): re-run mining on the demo shop or an uploaded export, with a progress bar."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from recommender.catalog import LEVELS
from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender.pipeline import MiningParams

T = c.T
c.require("mine")  # every route into this page (menu, URL, switch_page) passes here
st.title(T("mining_title"))
c.demo_banner()
flash = st.session_state.pop("mine_flash", None)
if flash:
    st.success(flash)

demo = c.ensure_demo_data()
sources = {"demo": {"receipts": str(demo / "receipts.csv"), "catalog": str(demo / "catalog.csv"), "mapping": {}}}
if st.session_state.get("dataset"):
    sources["upload"] = st.session_state["dataset"]
src = st.radio(T("dataset"), list(sources), horizontal=True, key="m_source",
               format_func=lambda s: T("source_demo") if s == "demo" else Path(sources[s]["receipts"]).name)
ds = sources[src]

with st.form("mine"):
    m1, m2, m3, m4 = st.columns(4)
    has_catalog = bool(ds.get("catalog"))
    levels = list(LEVELS) if has_catalog else ["sku"]
    level = m1.selectbox(T("level"), levels, index=levels.index("subcategory") if has_catalog else 0, key="m_level")
    support = m2.number_input(T("min_support"), 0.0001, 1.0, 0.002, step=0.001, format="%.4f", key="m_support")
    confidence = m3.number_input(T("min_confidence"), 0.0, 1.0, 0.1, step=0.05, key="m_conf")
    fdr = m4.number_input(T("fdr"), 0.001, 1.0, 0.05, step=0.01, key="m_fdr")
    n1, n2 = st.columns(2)
    max_len = n1.number_input(T("max_len"), 2, 8, 4, key="m_maxlen")
    default_name = f"{src}-{level}"
    name = n2.text_input(T("run_name"), default_name, key="m_name")
    go = st.form_submit_button(T("start_mining"), type="primary")

if go:
    safe = re.sub(r"[^A-Za-z0-9_.\-]+", "-", name).strip("-.") or default_name
    progress, bar = c.progress_bar(T("start_mining"))
    try:
        params = MiningParams(level=level, min_support=float(support), min_confidence=float(confidence),
                              fdr=float(fdr), max_len=int(max_len))
        summary = c.mine_run(ds["receipts"], c.runs_dir() / safe, ds.get("catalog"), ds.get("mapping"), params,
                             progress=progress)
    except (InputError, ValueError) as exc:
        bar.empty()
        st.error(T("input_problem", msg=exc))
        st.stop()
    bar.empty()
    st.session_state["next_run"] = safe
    st.session_state["mine_flash"] = T("mining_done", **{k: summary[k] for k in ("itemsets", "rules", "bundles",
                                                                                  "secs")})
    st.rerun()

st.subheader(T("runs_table"))
rows = []
for run_name in c.list_runs():
    man = c.load_run(c.runs_dir() / run_name).manifest
    rows.append({"run": run_name, "level": man.get("level"), "receipts": man.get("n_receipts"),
                 "min support": man.get("parameters", {}).get("min_support"), "rules": man.get("n_rules"),
                 "significant": man.get("n_significant"), "bundles": man.get("bundles", {}).get("rows"),
                 "created": man.get("created_at"), "input": Path(man.get("input", {}).get("path", "")).name})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
