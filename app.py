"""The merchandiser's dashboard: ``streamlit run app.py``.

Thin: it sets up the frame (language, sign-in, run choice) and navigation;
every page lives in ``recommender/dashboard`` and calls library functions.
"""

import streamlit as st

from recommender.dashboard import pages
from recommender.dashboard import common as c

# an emoji icon: a material one makes the browser fetch the favicon from a public font server (offline shops)
st.set_page_config(page_title="Bundle recommender", page_icon="🛒", layout="wide")

with st.sidebar:
    st.segmented_control(c.T("language"), ["en", "zh"], key="lang", default="en",
                         format_func={"en": "English", "zh": "中文"}.get)
    if st.session_state.get("lang") is None:  # a click on the selected option clears it
        st.session_state["lang"] = "en"

user = c.current_user()
if user is None:
    c.sign_in_form()
    st.stop()

c.ensure_demo_run()
with st.sidebar:
    st.markdown(c.T("signed_in_as", user=c.plain(user.label), role=c.role_label(user.role)))
    if user.role != "local" and st.button(c.T("sign_out")):
        st.session_state.pop("user_name", None)
        st.rerun()
    # the active data and run live in the database (per user), so reloads and sign-ins keep them
    active = c.active()
    st.caption(c.T("active_data", name=c.plain(c.active_label(active))))
    runs = c.list_runs()
    if st.session_state.pop("reset_run", False):  # the Data page chose other data: its run, not the last one
        st.session_state.pop("run_name", None)
    if "next_run" in st.session_state:  # a page chose a run (e.g. a new one): select it before the widget exists
        st.session_state["run_name"] = st.session_state.pop("next_run")
        c.set_active(run=st.session_state["run_name"])
    elif st.session_state.get("run_name") not in runs:
        current = c.selected_run_path()
        st.session_state["run_name"] = current.name if current else None
    if runs:
        st.selectbox(c.T("run"), runs, key="run_name", index=None, placeholder=c.T("no_run_for_data"),
                     on_change=lambda: c.set_active(run=st.session_state["run_name"]))

st.navigation(pages(user.role, c.lang())).run()
