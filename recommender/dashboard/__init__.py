"""Dashboard pages (Streamlit). Each page is a thin shell over library functions."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent


def pages() -> list:
    """The pages, in menu order, for ``st.navigation``."""
    return [
        st.Page(str(HERE / "data_page.py"), title="Data", icon="🧾", url_path="data", default=True),
    ]
