"""Dashboard pages (Streamlit). Each page is a thin shell over library functions."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from recommender.auth import can
from recommender.i18n import t

HERE = Path(__file__).resolve().parent

#: page file, label key, icon, url path, permission needed to see it
PAGES = (
    ("data_page.py", "page_data", ":material/receipt_long:", "data", "explore"),
    ("bundles_page.py", "page_bundles", ":material/redeem:", "bundles", "explore"),
    ("uplift_page.py", "page_uplift", ":material/trending_up:", "uplift", "explore"),
    ("launches_page.py", "page_launches", ":material/rocket_launch:", "launches", "explore"),
    ("export_page.py", "page_export", ":material/download:", "export", "export"),
    ("mining_page.py", "page_mining", ":material/construction:", "mining", "mine"),
)


def pages(role: str = "local", lang: str = "en") -> list:
    """The pages ``role`` may open, in menu order, for ``st.navigation`` (the first is the default)."""
    allowed = [p for p in PAGES if can(role, p[4])]
    return [st.Page(str(HERE / f), title=t(key, lang), icon=icon, url_path=url, default=i == 0)
            for i, (f, key, icon, url, _) in enumerate(allowed)]
