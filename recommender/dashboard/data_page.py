"""Data page: the demo shop or an uploaded receipts export, with every row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender.receipts import FIELDS, LoadOptions, load_receipts, resolve_columns

T = c.T
c.require("explore")  # every route into this page (menu, URL, switch_page) passes here
st.title(T("data_title"))
c.demo_banner()


@st.cache_data(show_spinner=False, max_entries=4)
def columns_of(path: str, mtime: float) -> list[str]:
    from recommender.readers import read_table

    return [str(col) for col in read_table(path).frame.columns if col != "_line"]


def show_accounting(receipts) -> None:
    acc = receipts.accounting
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(T("rows_read"), f"{acc.rows_read:,}")
    c2.metric(T("rows_used"), f"{acc.rows_used:,}")
    c3.metric(T("rows_rejected"), f"{sum(acc.rows_rejected.values()):,}")
    c4.metric(T("receipts"), f"{acc.n_receipts:,}")
    c1.metric(T("items_skus"), f"{acc.n_items:,}")
    c2.metric(T("stores"), f"{len(acc.stores):,}")
    c3.metric(T("customers"), f"{acc.n_customers:,}")
    c4.metric(T("balanced"), T("yes") if acc.balanced else T("no"))
    st.write(T("dates", a=acc.date_min, b=acc.date_max))
    if acc.rows_rejected:
        st.subheader(T("rejected_by_reason"))
        reasons = pd.DataFrame({"reason": list(acc.rows_rejected), "rows": list(acc.rows_rejected.values())})
        st.bar_chart(reasons, x="reason", y="rows", horizontal=True)
        st.dataframe(receipts.rejects, hide_index=True, width="stretch", height=260)
        st.download_button(T("download_rejects"), receipts.rejects.to_csv(index=False).encode("utf-8-sig"),
                           file_name="rejects.csv", mime="text/csv")
    if acc.warnings:
        st.subheader(T("kept_notes"))
        st.table(pd.DataFrame({"note": list(acc.warnings), "rows": list(acc.warnings.values())}))


def save_upload(upload, folder: Path) -> Path:
    """Write an uploaded file to the data folder once (8 MB chunks); later reruns reuse it, so caches keyed
    by its modification time stay warm while the columns are mapped."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / Path(upload.name).name
    done = st.session_state.setdefault("saved_uploads", {})
    if done.get(upload.file_id) == str(out) and out.exists():
        return out
    upload.seek(0)
    with out.open("wb") as f:
        for chunk in iter(lambda: upload.read(8 << 20), b""):
            f.write(chunk)
    done[upload.file_id] = str(out)
    return out


source = st.radio(T("source"), ["demo", "upload"], horizontal=True, key="data_source",
                  format_func={"demo": T("source_demo"), "upload": T("source_upload")}.get)

if source == "demo":
    demo_dir = c.ensure_demo_data()
    path = Path(demo_dir) / "receipts.csv"
    receipts = c.receipts_of(path)
    acc = receipts.accounting
    st.caption(T("demo_caption", name=path.name, fmt=acc.format, enc=acc.encoding, sep=repr(acc.sep)))
    show_accounting(receipts)
else:
    types = ["csv", "tsv", "txt", "gz", "xlsx", "parquet"]
    up = st.file_uploader(T("upload_receipts"), type=types, key="upload_receipts")
    cat = st.file_uploader(T("upload_catalog"), type=["csv", "xlsx", "parquet"], key="upload_catalog")
    if up is None:
        st.info(T("upload_first"))
        st.stop()
    uploads = c.data_dir() / "uploads"
    path = save_upload(up, uploads)
    cat_path = save_upload(cat, uploads) if cat is not None else None
    try:
        cols = columns_of(str(path), path.stat().st_mtime)
    except InputError as exc:
        st.error(T("input_problem", msg=exc))
        st.stop()
    guess = resolve_columns(cols)
    st.subheader(T("map_columns"))
    st.caption(T("map_help"))
    none = T("not_mapped")
    mapping = {}
    grid = st.columns(4)
    for i, fld in enumerate(FIELDS):
        default = "+".join(guess[fld]) if fld in guess else none
        options = [none] + cols + ([default] if default not in cols and default != none else [])
        pick = grid[i % 4].selectbox(fld, options, index=options.index(default), key=f"map_{fld}")
        if pick != none:
            mapping[fld] = pick
    if st.button(T("load"), type="primary"):
        progress, bar = c.progress_bar(T("loading"))
        try:
            receipts = load_receipts(path, LoadOptions(mapping=mapping), progress=progress)
        except (InputError, ValueError) as exc:
            bar.empty()
            st.error(T("input_problem", msg=exc))
            st.stop()
        bar.empty()
        st.session_state["dataset"] = {"receipts": str(path), "catalog": str(cat_path) if cat_path else None,
                                       "mapping": mapping}
        st.success(T("dataset_ready"))
        show_accounting(receipts)
    elif st.session_state.get("dataset", {}).get("receipts") == str(path):
        ds = st.session_state["dataset"]
        show_accounting(c.receipts_of(path, ds["mapping"]))
    st.caption(f"`{json.dumps(mapping, ensure_ascii=False)}`")
