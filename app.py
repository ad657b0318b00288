"""The merchandiser's dashboard: ``streamlit run app.py``.

Thin: it only sets up navigation; every page lives in ``recommender/dashboard``
and calls the same library functions as the command line.
"""

import streamlit as st

from recommender.dashboard import pages

st.set_page_config(page_title="Bundle recommender", page_icon="🛒", layout="wide")
st.navigation(pages()).run()
