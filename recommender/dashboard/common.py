"""Shared, cached access to the demo data and loaded receipts for the pages."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from recommender.receipts import load_receipts


def data_dir() -> Path:
    """The project's data folder; ``RECOMMENDER_DATA_DIR`` moves it (tests, deployments)."""
    env = os.environ.get("RECOMMENDER_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


def ensure_demo_data() -> Path:
    """Create the demo shop on first use (a fresh clone has none), with a progress bar."""
    from recommender.demo import demo_paths, ensure_demo

    demo_dir = data_dir() / "demo"
    paths = demo_paths(demo_dir)
    if all(Path(p).exists() for p in paths.values()):
        return demo_dir
    bar = st.progress(0.0, text="Creating the demo shop (first start only)...")

    def progress(done, total, message):
        bar.progress(min(1.0, done / total) if total else 0.0, text=message)

    ensure_demo(demo_dir, progress=progress)
    bar.empty()
    return demo_dir


@st.cache_data(show_spinner="Reading receipts...", max_entries=8)
def cached_receipts(path: str, mtime: float):
    """Load receipts once per file version (``mtime`` is part of the cache key)."""
    return load_receipts(path)
