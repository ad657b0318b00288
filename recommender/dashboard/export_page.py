"""Export page: the approved (or recommended) bundles per store as CSV, Excel, a printable page and a till file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from recommender.dashboard import common as c
from recommender.export import export_bundles, select_bundles, staff_table

T = c.T
c.page("export", "export_title")  # every route into this page (menu, URL, switch_page) passes here

run_path, run = c.selected_run()
table = c.bundles_with_decisions(run) if run is not None else None
if table is None:
    st.info(T("no_bundle_table"))
    st.stop()

e1, e2, e3 = st.columns(3)
selection = e1.radio(T("selection"), ["approved", "recommended", "all"], key="x_selection", horizontal=True,
                     format_func=lambda s: T(f"sel_{s}"))
stores = sorted(table["store"].dropna().astype(str).unique())
store = e2.selectbox(T("store"), [T("all")] + stores, key="x_store")
lang = e3.radio(T("export_lang"), ["en", "zh"], key="x_lang", horizontal=True,
                format_func={"en": "English", "zh": "中文"}.get)
d1, d2 = st.columns(2)
valid_from = d1.date_input(T("valid_from"), value=None, key="x_from")
valid_to = d2.date_input(T("valid_to"), value=None, key="x_to")
store_arg = None if store == T("all") else store

chosen = select_bundles(table, store=store_arg, selection=selection)
if chosen.empty:
    st.info(T("nothing_to_export"))
    st.stop()
st.caption(T("n_export", n=len(chosen), s=chosen["store"].nunique()))
st.dataframe(staff_table(table, store=store_arg, lang=lang, selection=selection, valid_from=valid_from,
                         valid_to=valid_to), hide_index=True, width="stretch")


@st.cache_data(show_spinner=False, max_entries=32)
def export_bytes(_table, key: str, fmt: str, store, lang: str, selection: str, valid_from, valid_to) -> bytes:
    """The file :func:`export_bundles` writes, as bytes (written to a temporary folder, then read)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = export_bundles(_table, fmt, Path(tmp) / f"bundles.{fmt}", store=store, lang=lang, selection=selection,
                             valid_from=valid_from, valid_to=valid_to)
        return out.read_bytes()


# the cache key: the run version plus every decision (so a new approval gives a new file)
key = f"{run_path}:{c.folder_version(run_path)}:{table[['bundle_id', 'status']].to_json()}:" \
      f"{table['bundle_price'].sum():.2f}:{''.join(table['reason_en'].astype(str))}"
suffix = f"{store_arg or 'all-stores'}-{selection}-{lang}"
args = (store_arg, lang, selection, valid_from, valid_to)
b1, b2, b3, b4 = st.columns(4)
b1.download_button(T("download_csv"), export_bytes(table, key, "csv", *args), file_name=f"bundles-{suffix}.csv",
                   mime="text/csv", key="dl_csv")
b2.download_button(T("download_xlsx"), export_bytes(table, key, "xlsx", *args), file_name=f"bundles-{suffix}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="dl_xlsx")
b3.download_button(T("download_html"), export_bytes(table, key, "html", *args), file_name=f"bundles-{suffix}.html",
                   mime="text/html", key="dl_html")
b4.download_button(T("download_pos"), export_bytes(table, key, "pos", *args), file_name=f"pos-{suffix}.csv",
                   mime="text/csv", key="dl_pos")
