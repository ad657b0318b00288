"""Data page: the demo shop, an uploaded receipts export or a file from the server's data root, with every
row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender import server_files, workspace
from recommender.receipts import FIELDS, OPTIONAL_FIELDS, LoadOptions, load_receipts, resolve_columns
from recommender.spreadsheet import csv_bytes

T = c.T
c.page("explore", "data_title")  # every route into this page (menu, URL, switch_page) passes here
c.show_steps()  # the first page shows the way: receipts -> mine -> bundles -> approve, export -> measure


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
        st.download_button(T("download_rejects"), csv_bytes(receipts.rejects),
                           file_name="rejects.csv", mime="text/csv")
    if acc.warnings:
        st.subheader(T("kept_notes"))
        st.table(pd.DataFrame({"note": list(acc.warnings), "rows": list(acc.warnings.values())}))


def save_upload(upload, kind: str) -> Path | None:
    """Store an uploaded file for this user under its content hash (once per upload: later reruns reuse
    the path, so caches keyed by its modification time stay warm while the columns are mapped)."""
    done = st.session_state.setdefault("saved_uploads", {})
    if upload.file_id in done and Path(done[upload.file_id]).exists():
        return Path(done[upload.file_id])
    try:
        out = workspace.store_upload(c.data_dir(), c.db_path(), c.user().name, upload.name, upload, kind=kind)
    except InputError as exc:
        st.error(T("upload_refused", msg=c.plain(exc)))
        return None
    done[upload.file_id] = str(out)
    return out


def pick_server_file(act) -> tuple[Path | None, Path | None]:
    """A receipts file (and optional catalog) chosen from the data root on the server; checked inside the root."""
    root = server_files.data_root()
    files = server_files.list_server_files(root)
    if not files:
        st.info(T("server_none"))
        st.stop()
    base = root.resolve()
    current = None
    if c.source_of(act) == "server" and server_files.inside_root(root, act.receipts):
        current = Path(act.receipts).resolve().relative_to(base).as_posix()
    if st.session_state.get("server_file") not in files:  # the page opens on the active file
        st.session_state["server_file"] = current if current in files else None
    pick = st.selectbox(T("server_file"), files, key="server_file", index=None, placeholder=T("server_pick"))
    cat_now = None
    if current and act.catalog and server_files.inside_root(root, act.catalog):
        cat_now = Path(act.catalog).resolve().relative_to(base).as_posix()
    cat_pick = st.selectbox(T("server_catalog"), [""] + files, index=([""] + files).index(cat_now)
                            if cat_now in files else 0, format_func=lambda f: f or T("not_mapped"),
                            key="server_catalog")
    if not pick:
        st.stop()
    try:  # the list holds only allowed files; the guard stands anyway (a link can change after listing)
        path = server_files.resolve_in_root(root, pick)
        cat = server_files.resolve_in_root(root, cat_pick) if cat_pick else None
    except InputError as exc:
        c.audit_log().write("server_file_refused", user=c.user().name, path=str(pick), client=c.client_address())
        st.error(T("upload_refused", msg=c.plain(exc)))
        st.stop()
    if str(path) == act.receipts:
        st.markdown(T("server_active", name=c.plain(pick)))
    return path, cat


act = c.active()
options = ["demo", "upload", "server"]
if "data_source" not in st.session_state:  # the page opens on what is active, never back on the demo
    st.session_state["data_source"] = c.source_of(act)
source = st.radio(T("source"), options, horizontal=True, key="data_source",
                  format_func={"demo": T("source_demo"), "upload": T("source_upload"),
                               "server": T("source_server")}.get)

if source == "demo":
    demo_dir = c.ensure_demo_data()
    if not c.is_demo(act):  # choosing the demo is a choice of data like any other
        demo = c.demo_active()
        c.set_active(label=demo.label, receipts=demo.receipts, catalog=demo.catalog, mapping={},
                     run=demo.run if demo.run in c.list_runs() else None)
        st.session_state["reset_run"] = True  # app.py selects the run of the new data before drawing the sidebar
        st.rerun()
    path = Path(demo_dir) / "receipts.csv"
    receipts = c.receipts_of(path)
    acc = receipts.accounting
    st.caption(T("demo_caption", name=c.plain(path.name), fmt=acc.format, enc=acc.encoding, sep=repr(acc.sep)))
    show_accounting(receipts)
else:
    path = cat_path = None
    if source == "server":
        path, cat_path = pick_server_file(act)
    else:
        types = ["csv", "tsv", "txt", "gz", "xlsx", "parquet"]
        up = st.file_uploader(T("upload_receipts"), type=types, key="upload_receipts")
        cat = st.file_uploader(T("upload_catalog"), type=["csv", "xlsx", "parquet"], key="upload_catalog")
        earlier = [u for u in workspace.list_uploads(c.db_path(), c.user().name, kind="receipts")]
        if up is not None:
            path = save_upload(up, "receipts")
            cat_path = save_upload(cat, "catalog") if cat is not None else None
        elif c.source_of(act) == "upload":
            path = Path(act.receipts)
            cat_path = Path(act.catalog) if act.catalog else None
            st.markdown(T("upload_active", name=c.plain(act.label),
                          at=next((u["created_at"][:16].replace("T", " ") for u in earlier
                                   if u["path"] == act.receipts), "")))
        if len(earlier) > 1 or (earlier and path is None):
            by_path = {u["path"]: u for u in earlier}
            pick = st.selectbox(T("earlier_uploads"), list(by_path), key="earlier_upload", index=None,
                                format_func=lambda q: f"{by_path[q]['name']} · {by_path[q]['created_at'][:16]} · "
                                                      f"{by_path[q]['bytes'] / 1e6:,.1f} MB")
            if pick and up is None:
                path, cat_path = Path(pick), None
        if path is None:
            st.info(T("upload_first"))
            st.stop()
    try:
        cols = columns_of(str(path), path.stat().st_mtime)
    except InputError as exc:
        st.error(T("input_problem", msg=c.plain(exc)))
        st.stop()
    guess = resolve_columns(cols)
    if str(path) == act.receipts:  # the mapping chosen before, kept in the database
        guess = {k: [v] for k, v in act.mapping.items()} or guess
    st.subheader(T("map_columns"))
    st.caption(T("map_help"))
    none = T("not_mapped")
    mapping = {}
    grid = st.columns(4)
    for i, fld in enumerate(FIELDS + OPTIONAL_FIELDS):
        default = "+".join(guess[fld]) if fld in guess else none
        options = [none] + cols + ([default] if default not in cols and default != none else [])
        pick = grid[i % 4].selectbox(fld, options, index=options.index(default), key=f"map_{fld}")
        if pick != none:
            mapping[fld] = pick
    label = Path(path).name
    if st.button(T("load"), type="primary"):
        progress, bar = c.progress_bar(T("loading"))
        try:
            receipts = load_receipts(path, LoadOptions(mapping=mapping), progress=progress)
        except (InputError, ValueError) as exc:
            bar.empty()
            st.error(T("input_problem", msg=c.plain(exc)))
            st.stop()
        bar.empty()
        c.set_active(label=label, receipts=str(path), catalog=str(cat_path) if cat_path else None,
                     mapping=mapping, run=None)
        st.session_state["reset_run"] = True
        st.session_state["data_flash"] = T("dataset_ready")
        st.rerun()
    elif act.receipts == str(path):
        flash = st.session_state.pop("data_flash", None)
        if flash:
            st.success(flash)
        show_accounting(c.receipts_of(path, act.mapping))
    st.caption(c.plain(json.dumps(mapping, ensure_ascii=False)))
