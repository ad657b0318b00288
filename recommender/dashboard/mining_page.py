"""Mining page (analysts): re-run mining on the demo shop or an uploaded export, with a progress bar."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from recommender.catalog import LEVELS
from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender.pipeline import MiningParams
from recommender.runs import read_manifest
from recommender.workspace import run_name_for, safe_name

T = c.T
c.require("mine")  # every route into this page (menu, URL, switch_page) passes here
st.title(T("mining_title"))
c.demo_banner()
flash = st.session_state.pop("mine_flash", None)
if flash:
    st.success(flash)

c.ensure_demo_data()
ds = c.active()  # the user's working data, chosen on the Data page
st.markdown(T("mine_on", name=c.plain(c.active_label(ds))))
catalog = c.catalog_of(ds.catalog)
# only the levels the catalog really has (a sku,name,price catalog has none above the SKU)
levels = [lv for lv in LEVELS if catalog is not None and lv in catalog.columns] or ["sku"]

with st.form("mine"):
    m1, m2, m3, m4 = st.columns(4)
    level = m1.selectbox(T("level"), levels, index=levels.index("subcategory") if "subcategory" in levels else 0,
                         key="m_level")
    support = m2.number_input(T("min_support"), 0.0001, 1.0, 0.002, step=0.001, format="%.4f", key="m_support")
    confidence = m3.number_input(T("min_confidence"), 0.0, 1.0, 0.1, step=0.05, key="m_conf")
    fdr = m4.number_input(T("fdr"), 0.001, 1.0, 0.05, step=0.01, key="m_fdr")
    n1, n2 = st.columns(2)
    max_len = n1.number_input(T("max_len"), 2, 8, 4, key="m_maxlen")
    default_name = f"demo-{level}" if c.is_demo(ds) else run_name_for(ds.label, level)
    name = n2.text_input(T("run_name"), "", placeholder=default_name, key="m_name")
    go = st.form_submit_button(T("start_mining"), type="primary")

if go:
    safe = safe_name(name.strip(), default_name) if name.strip() else default_name  # any script, Chinese too
    progress, bar = c.progress_bar(T("start_mining"))
    try:
        params = MiningParams(level=level, min_support=float(support), min_confidence=float(confidence),
                              fdr=float(fdr), max_len=int(max_len))
        summary = c.mine_run(ds.receipts, c.runs_dir() / safe, ds.catalog, ds.mapping, params, progress=progress)
    except (InputError, ValueError) as exc:
        bar.empty()
        st.error(T("input_problem", msg=c.plain(exc)))
        st.stop()
    bar.empty()
    st.session_state["next_run"] = safe  # app.py makes it the active run (kept in the database)
    st.session_state["mine_flash"] = T("mining_done", **{k: summary[k] for k in ("itemsets", "rules", "bundles",
                                                                                  "secs")})
    st.rerun()

st.subheader(T("runs_table"))
rows = []
for run_name in c.list_runs():
    man = read_manifest(c.runs_dir() / run_name)
    rows.append({"run": run_name, "level": man.get("level"), "receipts": man.get("n_receipts"),
                 "min support": man.get("parameters", {}).get("min_support"), "rules": man.get("n_rules"),
                 "significant": man.get("n_significant"), "bundles": man.get("bundles", {}).get("rows"),
                 "created": man.get("created_at"), "input": Path(man.get("input", {}).get("path", "")).name})
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
