"""Data page: where every receipt row went (used, or rejected with a reason)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from recommender.dashboard.common import cached_receipts, ensure_demo_data

st.title("Receipts")
demo_dir = ensure_demo_data()
path = Path(demo_dir) / "receipts.csv"
receipts = cached_receipts(str(path), path.stat().st_mtime)
acc = receipts.accounting

st.caption(f"Demo shop data: `{path.name}` ({acc.format}, {acc.encoding}, separator {acc.sep!r}). "
           "Every input row is either used or rejected with a reason.")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Rows read", f"{acc.rows_read:,}")
c2.metric("Rows used", f"{acc.rows_used:,}")
c3.metric("Rows rejected", f"{sum(acc.rows_rejected.values()):,}")
c4.metric("Receipts", f"{acc.n_receipts:,}")
c1.metric("Items (SKUs)", f"{acc.n_items:,}")
c2.metric("Stores", f"{len(acc.stores):,}")
c3.metric("Customers", f"{acc.n_customers:,}")
c4.metric("Balanced", "yes" if acc.balanced else "NO")
st.write(f"Dates: **{acc.date_min}** to **{acc.date_max}**")

if acc.rows_rejected:
    st.subheader("Rejected rows by reason")
    reasons = pd.DataFrame({"reason": list(acc.rows_rejected), "rows": list(acc.rows_rejected.values())})
    st.bar_chart(reasons, x="reason", y="rows", horizontal=True)
    st.dataframe(receipts.rejects, hide_index=True, width="stretch")
    st.download_button("Download rejected rows (CSV)", receipts.rejects.to_csv(index=False).encode("utf-8-sig"),
                       file_name="rejects.csv", mime="text/csv")
if acc.warnings:
    st.subheader("Kept, but worth knowing")
    st.table(pd.DataFrame({"note": list(acc.warnings), "rows": list(acc.warnings.values())}))
