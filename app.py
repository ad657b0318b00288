"""The merchandiser's dashboard: ``streamlit run app.py``.

Thin: it sets up the frame (language, sign-in, run choice) and navigation;
every page lives in ``recommender/dashboard`` and calls library functions.
"""

import streamlit as st

from recommender.dashboard import pages
from recommender.dashboard import common as c

st.set_page_config(page_title="Bundle recommender", page_icon=":material/shopping_cart:", layout="wide")

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
    st.markdown(c.T("signed_in_as", user=user.label, role=c.role_label(user.role)))
    if user.role != "local" and st.button(c.T("sign_out")):
        st.session_state.pop("user_name", None)
        st.rerun()
    runs = c.list_runs()
    if "next_run" in st.session_state:  # a page chose a run (e.g. a new one): select it before the widget exists
        st.session_state["run_name"] = st.session_state.pop("next_run")
    if runs:
        st.selectbox(c.T("run"), runs, key="run_name")

st.navigation(pages(user.role, c.lang())).run()
