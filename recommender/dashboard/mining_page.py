"""Mining page (analysts): re-run mining on the demo shop or an uploaded export, with a progress bar."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import streamlit as st

from recommender.catalog import LEVELS
from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender.mining import ThresholdTooLow, min_count_for
from recommender.mining.budget import DEFAULT_RULE_BUDGET, default_min_count, estimate_rules
from recommender.pipeline import MiningParams
from recommender.runs import read_manifest
from recommender.workspace import run_name_for, safe_name

T = c.T
c.page("mine", "mining_title")  # every route into this page (menu, URL, switch_page) passes here
flash = st.session_state.pop("mine_flash", None)
if flash:
    st.success(flash)

c.ensure_demo_data()
ds = c.active()  # the user's working data, chosen on the Data page
st.markdown(T("mine_on", name=c.plain(c.active_label(ds))))
catalog = c.catalog_of(ds.catalog)
# only the levels the catalog really has (a sku,name,price catalog has none above the SKU)
levels = [lv for lv in LEVELS if catalog is not None and lv in catalog.columns] or ["sku"]



@st.cache_data(show_spinner=False, max_entries=16)
def baskets_for(path: str, mtime: float, mapping_json: str, level: str, _catalog):
    from recommender.baskets import build_baskets

    return build_baskets(c.receipts_of(path, json.loads(mapping_json)).lines, _catalog, level).matrix


@st.cache_data(show_spinner=False, max_entries=32)
def default_support(path: str, mtime: float, mapping_json: str, level: str, max_len: int, budget: int, _catalog):
    """The smallest support whose estimated rule count stays within ``budget`` (see mining.budget)."""
    matrix = baskets_for(path, mtime, mapping_json, level, _catalog)
    est = default_min_count(matrix, budget=budget, max_len=max_len)
    n = max(1, matrix.shape[0])
    # rounded up to 4 decimals (the field's precision), so the shown value gives at most the estimated rules
    return math.ceil(est.min_count / n * 10_000) / 10_000, est


def support_message(key, support, est, limit, suggested) -> str:
    return T(key, s=support, rules=est.rules, limit=limit, suggested=suggested)


DEFAULT_LEVEL = "subcategory" if "subcategory" in levels else levels[0]
DEFAULT_MAX_LEN = 4
mapping_json = json.dumps(ds.mapping or {}, sort_keys=True, ensure_ascii=False)
mtime = Path(ds.receipts).stat().st_mtime
with st.spinner(T("choosing_support")):
    auto_support, auto_est = default_support(ds.receipts, mtime, mapping_json, DEFAULT_LEVEL, DEFAULT_MAX_LEN,
                                             DEFAULT_RULE_BUDGET, catalog)
st.caption(T("auto_support", s=auto_support, level=DEFAULT_LEVEL, rules=auto_est.rules, budget=DEFAULT_RULE_BUDGET,
             items=auto_est.items))

with st.form("mine"):
    m1, m2, m3, m4 = st.columns(4)
    level = m1.selectbox(T("level"), levels, index=levels.index(DEFAULT_LEVEL), key="m_level")
    support = m2.number_input(T("min_support"), 0.0001, 1.0, auto_support, step=0.001, format="%.4f",
                              key="m_support")
    confidence = m3.number_input(T("min_confidence"), 0.0, 1.0, 0.1, step=0.05, key="m_conf")
    fdr = m4.number_input(T("fdr"), 0.001, 1.0, 0.05, step=0.01, key="m_fdr")
    n1, n2 = st.columns(2)
    max_len = n1.number_input(T("max_len"), 2, 8, DEFAULT_MAX_LEN, key="m_maxlen")
    default_name = f"demo-{level}" if c.is_demo(ds) else run_name_for(ds.label, level)
    name = n2.text_input(T("run_name"), "", placeholder=default_name, key="m_name")
    go = st.form_submit_button(T("start_mining"), type="primary")

if go:
    safe = safe_name(name.strip(), default_name) if name.strip() else default_name  # any script, Chinese too
    params = MiningParams(level=level, min_support=float(support), min_confidence=float(confidence),
                          fdr=float(fdr), max_len=int(max_len))
    # refuse an exploding threshold in seconds, before the expensive work, in this page's own words
    matrix = baskets_for(ds.receipts, mtime, mapping_json, level, catalog)
    n = max(1, matrix.shape[0])
    est = estimate_rules(matrix, min_count_for(float(support), n), int(max_len))
    if est.rules > params.max_rules:
        fit, _ = default_support(ds.receipts, mtime, mapping_json, level, int(max_len), params.max_rules, catalog)
        st.error(support_message("support_too_low", support, est, params.max_rules, fit))
        st.stop()
    progress, bar = c.progress_bar(T("start_mining"))
    try:
        summary = c.mine_run(ds.receipts, c.runs_dir() / safe, ds.catalog, ds.mapping, params, progress=progress)
    except ThresholdTooLow as exc:  # the exact check after mining (long itemsets the estimate leaves out)
        bar.empty()
        st.error(T("support_too_low_exact", suggested=math.ceil(exc.suggested_min_count / n * 10_000) / 10_000))
        st.stop()
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
