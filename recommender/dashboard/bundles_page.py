"""Bundles explorer: ranked bundles and rules of a run, filters, charts, one bundle's detail and decision."""

from __future__ import annotations

import dataclasses
import json

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from recommender import decisions
from recommender.dashboard import common as c
from recommender.errors import InputError
from recommender.policy import DISCOUNT_TYPES, Policy, policy_from_fields, policy_from_flags
from recommender.pricing import TILL_TYPE, expected_profit, named_label, price_bundle
from recommender.offer import discount_cost as offer_cost
from recommender.mix_match import FAMILY_TYPES, MIX_MATCH
from recommender.offer import offer_edits
from recommender.rules_query import SORTABLE, query_rules

T = c.T
c.page("explore", "bundles_title")  # every route into this page (menu, URL, switch_page) passes here
RULES_SHOWN = 2000  # rows in the rules table and points in the chart: the top ones by the chosen measure
POINTS_SHOWN = 2000
#: The rule columns the table, chart and network show (only these are read from the run's Parquet).
RULE_COLUMNS = ("count", "support", "confidence", "lift", "p_value", "q_value", "significant", "redundant")
flash = st.session_state.pop("flash", None)
if flash:
    st.success(flash)

run_path = c.selected_run_path()
if run_path is None:
    st.info(T("no_runs") if not c.list_runs() else T("no_run_yet", name=c.plain(c.active_label())))
    st.stop()
run = c.load_run(run_path)  # manifest, bundles, substitutes: the rules stay on disk (see rules_query)
lines, catalog = c.run_inputs(run)
n_receipts = int(run.manifest.get("n_receipts") or 0) or 1
table = c.bundles_with_decisions(run)
names_of = c.item_names(run)  # item -> its name from the lines or the catalog; ids stay the ids
offer_catalog = c.offer_catalog(run, catalog)  # the catalog completed from the receipts (prices, assumed costs)


def joined(items) -> str:
    return " + ".join(str(i) for i in items)


def named(items) -> str:
    """Items by name (the id where no name is known)."""
    return " + ".join(str(names_of.get(str(i), i)) for i in items)


@st.cache_data(show_spinner=False, max_entries=4)
def label_tags(run_key: str, level: str, _catalog: pd.DataFrame | None) -> pd.DataFrame:
    """Department and seasons of each label at the run's level (from the catalog)."""
    # a catalog may hold any subset of the documented columns: a missing department or season means "all"
    if _catalog is None or (level not in _catalog.columns and "sku" not in _catalog.columns):
        return pd.DataFrame({"department": pd.Series(dtype=object), "season": pd.Series(dtype=object)},
                            index=pd.Index([], name="label"))
    col = level if level in _catalog.columns else "sku"
    tags = pd.DataFrame({"label": _catalog[col].astype(str)})
    for what in ("department", "season"):
        tags[what] = _catalog[what].astype(str) if what in _catalog.columns else "all"
    return tags.groupby("label").agg(department=("department", lambda s: set(s)), season=("season", lambda s: set(s)))


level = run.manifest.get("level", "sku")
tags = label_tags(str(run_path) + str(c.folder_version(run_path)), level, catalog)


def label_set(items, what: str) -> set:
    out = set()
    for it in items:
        if it in tags.index:
            out |= tags.at[it, what]
    return out


# ------------------------------------------------------------------ what the offers assume (no product master)
CURRENCIES = ("", "GBP", "EUR", "USD", "CNY", "HKD", "TWD", "JPY", "SGD", "AUD", "CAD", "CHF")
binfo = run.manifest.get("bundles", {})
filled = binfo.get("catalog", {}) or {}
assumed = catalog is None or "unit_cost" not in catalog.columns or bool(filled.get("filled"))
if assumed and run.manifest.get("level", "sku") == "sku":
    with st.expander(T("assumptions"), expanded=table is None or not binfo.get("currency")):
        for note in binfo.get("notices", []):
            st.caption(c.plain(note))
        a1, a2 = st.columns(2)
        margin_now = float(filled.get("assume_margin") or 0.35)
        a_margin = a1.slider(T("assumed_margin"), 5, 90, int(round(100 * margin_now)), key="a_margin")
        cur_now = binfo.get("currency") or ""
        a_currency = a2.selectbox(T("currency"), CURRENCIES, index=CURRENCIES.index(cur_now) if cur_now in CURRENCIES
                                  else 0, format_func=lambda x: x or T("no_currency"), key="a_currency")
        suspects = [str(x) for x in run.manifest.get("suspected_non_products", [])]
        kept = set(map(str, filled.get("non_products_kept", [])))
        a_exclude = st.multiselect(T("exclude_codes"), suspects, default=[x for x in suspects if x not in kept],
                                   format_func=lambda x: f"{x} · {names_of.get(x, '')}", key="a_exclude")
        if st.button(T("rebuild_offers"), type="primary", key="btn_rebuild", disabled=not c.can("price")):
            import dataclasses

            from recommender.policy import Policy

            policy = dataclasses.replace(Policy(), assume_margin=a_margin / 100, currency=a_currency or None,
                                         keep_non_products=tuple(x for x in suspects if x not in a_exclude))
            progress, bar = c.progress_bar(T("rebuild_offers"))
            try:
                n = c.write_bundles(run_path, lines, catalog, progress=progress, policy=policy,
                                    currency=a_currency or None)
            except InputError as exc:
                bar.empty()
                st.info(T("no_offers_why", msg=c.plain(exc)))
            else:
                bar.empty()
                st.session_state["flash"] = T("offers_rebuilt", n=n)
                st.rerun()

# ------------------------------------------------------------------ filters
with st.expander(T("filters"), expanded=True):
    f1, f2, f3, f4 = st.columns(4)
    levels = sorted(set(table["level"].astype(str))) if table is not None and len(table) else [level]
    pick_level = f1.selectbox(T("level"), levels, key="f_level")
    departments = sorted(set().union(*tags["department"]) - {"all", "nan"}) if len(tags) else []
    dept = f2.selectbox(T("department"), [T("all")] + departments, key="f_dept")
    stores = sorted(table["store"].dropna().astype(str).unique()) if table is not None else []
    store = f3.selectbox(T("store"), [T("all")] + stores, key="f_store")
    seasons = sorted({s for v in tags["season"] for s in v} - {"nan", "all"}) if len(tags) else []
    season = f4.selectbox(T("season"), [T("all")] + seasons, key="f_season")
    g1, g2, g3, g4 = st.columns(4)
    min_support = g1.number_input(T("min_support"), 0.0, 1.0, 0.0, step=0.001, format="%.4f", key="f_support")
    min_conf = g2.slider(T("min_confidence"), 0.0, 1.0, 0.0, 0.01, key="f_conf")
    min_lift = g3.number_input(T("min_lift"), 0.0, 1000.0, 1.0, step=0.5, key="f_lift")
    sig_only = g4.toggle(T("significant_only"), value=True, key="f_sig")
    search = st.text_input(T("search"), key="f_search").strip().lower()


def keep_labels(items, names=()) -> bool:
    """Department and season filters on the labels; the search also looks at the item names."""
    if dept != T("all") and dept not in label_set(items, "department"):
        return False
    if season != T("all") and season not in label_set(items, "season"):
        return False
    return not search or search in joined(items).lower() or search in joined(names).lower()


def allowed_labels():
    """Labels that pass the department and season filters (None: no such filter)."""
    if dept == T("all") and season == T("all"):
        return None
    keep = tags
    if dept != T("all"):
        keep = keep[keep["department"].map(lambda v: dept in v or "all" in v)]
    if season != T("all"):
        keep = keep[keep["season"].map(lambda v: season in v or "all" in v)]
    return list(keep.index)


@st.cache_data(show_spinner=False, max_entries=64)
def rules_view(path: str, version: float, filters: str, sort_by: str, top: int, pairs_only: bool = False,
               _search_labels=(), _any_labels=None):
    """One query over the run's rules (DuckDB over Parquet): the top rows and the total count."""
    f = json.loads(filters)
    return query_rules(path, min_support=f["support"], min_confidence=f["conf"], min_lift=f["lift"],
                       significant_only=f["sig"], search=f["search"], search_labels=_search_labels,
                       any_labels=_any_labels, pairs_only=pairs_only, sort_by=sort_by, top=top,
                       columns=RULE_COLUMNS)


name_hits = tuple(sorted(i for i, n in names_of.items() if search and search in str(n).lower()))
any_labels = allowed_labels()
filters = json.dumps({"support": min_support, "conf": min_conf, "lift": min_lift, "sig": sig_only, "search": search,
                      "names": name_hits, "labels": any_labels}, sort_keys=True, ensure_ascii=False)
version = c.folder_version(run_path)
sort_by = st.session_state.get("r_sort", "lift")
r, n_rules = rules_view(str(run_path), version, filters, sort_by, RULES_SHOWN, False, name_hits, any_labels)

b = table
if b is not None and len(b):
    support = b["count"] / n_receipts
    # a mix & match rests on no rule (it has no lift or q-value): the rule filters do not hide it
    mixed = b["discount_type"].astype(str).eq(MIX_MATCH)
    bmask = (support >= min_support) & (b["confidence"] >= min_conf) & ((b["lift"] >= min_lift) | mixed)
    bmask &= b["level"].astype(str) == pick_level
    if sig_only:
        bmask &= (b["q_value"] < float(run.manifest.get("parameters", {}).get("fdr", 0.05))) | mixed
    if store != T("all"):
        bmask &= b["store"].astype(str) == store
    b = b[bmask]
    b = b[[keep_labels(li, n) for li, n in zip(b["level_items"], b["names"])]]
st.caption(T("n_bundles", n=0 if b is None else len(b), r=n_rules))

tab_b, tab_r, tab_s, tab_n, tab_o = st.tabs([T("tab_bundles"), T("tab_rules"), T("tab_scatter"), T("tab_network"),
                                            T("tab_offer")])

with tab_b:
    if b is None:
        # say what is missing and the way forward (the assumptions above build them)
        why = binfo.get("error") or (T("no_prices") if lines is None else T("not_built_yet"))
        st.info(T("no_offers_why", msg=c.plain(why)))
    elif b.empty:
        st.info(T("no_bundles"))
    else:
        # the run's ranking (bundles.csv): per store, recommended first, then by incremental value, the expected
        # profit scaled by the share of the pairing that basket size does not explain; a run priced before that
        # evidence existed has no such columns and shows them empty
        beyond = b["size_adjusted_lift"] if "size_adjusted_lift" in b.columns else pd.Series(np.nan, index=b.index)
        value = b["incremental_value"] if "incremental_value" in b.columns else pd.Series(np.nan, index=b.index)
        first = {s: i for i, s in enumerate(pd.unique(b["store"].astype(str)))}
        order = np.lexsort((b["rank"].to_numpy(), b["store"].astype(str).map(first).to_numpy()))
        b, beyond, value = b.iloc[order], beyond.iloc[order], value.iloc[order]
        view = pd.DataFrame({
            "store": b["store"].astype(object).where(b["store"].notna(), ""), "rank": b["rank"], "bundle": b["level_items"].map(joined),
            "names": b["names_zh" if c.lang() == "zh" else "names"].map(joined),
            "regular_price": b["regular_price"], "bundle_price": b["bundle_price"], "offer": b["discount_label"],
            "incremental_value": value.astype(float).round(0), "expected_profit": b["expected_profit"].round(0),
            "size_adjusted_lift": beyond.astype(float).round(2), "lift": b["lift"].round(2),
            "confidence": b["confidence"], "q_value": b["q_value"],
            "status": b["status"].map(lambda s: T(f"status_{s}")),
            "decided_by": b["decided_by"], "bundle_id": b["bundle_id"],
        })
        st.dataframe(view, hide_index=True, width="stretch", height=min(320, 35 * (len(view) + 1) + 3),
                     column_config={
            "size_adjusted_lift": st.column_config.NumberColumn(T("beyond_size"), help=T("beyond_size_help"),
                                                                format="%.2f"),
            "incremental_value": st.column_config.NumberColumn(T("incremental_value"),
                                                               help=T("incremental_value_help"), format="%.0f"),
            "confidence": st.column_config.NumberColumn(format="%.3f"),
            "q_value": st.column_config.NumberColumn(format="%.2e"),
            "regular_price": st.column_config.NumberColumn(format="%.2f"),
            "bundle_price": st.column_config.NumberColumn(format="%.2f")})

with tab_r:
    st.selectbox(T("sort_by"), list(SORTABLE), key="r_sort")
    st.caption(T("rules_shown", n=min(len(r), RULES_SHOWN), total=n_rules))
    st.dataframe(pd.DataFrame({
        "antecedents": r["antecedents"].map(joined), "consequents": r["consequents"].map(joined),
        "antecedent_names": r["antecedents"].map(named), "consequent_names": r["consequents"].map(named),
        "count": r["count"], "support": r["support"], "confidence": r["confidence"], "lift": r["lift"],
        "p_value": r["p_value"], "q_value": r["q_value"], "significant": r["significant"],
        "redundant": r["redundant"]}), hide_index=True, width="stretch", height=360, column_config={
        "support": st.column_config.NumberColumn(format="%.4f"),
        "confidence": st.column_config.NumberColumn(format="%.3f"),
        "lift": st.column_config.NumberColumn(format="%.2f"),
        "p_value": st.column_config.NumberColumn(format="%.2e"),
        "q_value": st.column_config.NumberColumn(format="%.2e")})

with tab_s:
    pts = r.head(POINTS_SHOWN)
    pts = pd.DataFrame({"rule": pts["antecedents"].map(named) + " → " + pts["consequents"].map(named),
                        "support": pts["support"], "confidence": pts["confidence"], "lift": pts["lift"],
                        "count": pts["count"]})
    if len(pts):
        chart = alt.Chart(pts).mark_circle(size=45, opacity=0.7).encode(
            x=alt.X("support:Q", scale=alt.Scale(type="log"), title=T("min_support").replace("Min ", "")),
            y=alt.Y("confidence:Q"), color=alt.Color("lift:Q", scale=alt.Scale(type="log", scheme="viridis")),
            tooltip=["rule", "count", alt.Tooltip("support:Q", format=".4f"),
                     alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("lift:Q", format=".2f")])
        st.altair_chart(chart.interactive(), width="stretch")

with tab_n:
    # item-to-item rules draw a readable map of the items; longer rules only when there are none
    # from the rows already asked for (one query per filter change): their item-to-item rules, by lift
    one = (r["antecedents"].map(len) == 1) & (r["consequents"].map(len) == 1)
    top = (r[one] if one.any() else r).sort_values("lift", ascending=False).head(40)
    st.caption(T("network_caption", n=len(top)))
    if len(top):
        cmax = float(top["count"].max())
        dot = ["digraph rules {", "rankdir=LR;", 'node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
               'fontname="Helvetica", fontsize=10];', 'edge [color="#4a6fa5"];']
        for a, cq, n, lift in zip(top["antecedents"], top["consequents"], top["count"], top["lift"]):
            width = 0.6 + 3.0 * float(n) / cmax
            # a node is an item set (its ids); its label is the names, as plain DOT text
            src, dst = json.dumps(joined(a), ensure_ascii=False), json.dumps(joined(cq), ensure_ascii=False)
            for node, items in ((src, a), (dst, cq)):
                dot.append(f"{node} [label={json.dumps(named(items), ensure_ascii=False)}];")
            dot.append(f'{src} -> {dst} [penwidth={width:.2f}, tooltip="lift {lift:.1f}, {int(n)} receipts"];')
        dot.append("}")
        st.graphviz_chart("\n".join(dot), width="stretch")


@st.cache_resource(show_spinner=False, max_entries=2)
def recommender_for(path: str, version: float):
    from recommender.suggest import Recommender

    from recommender.runs import read_run

    run_ = read_run(path)  # the suggestions need every rule: only loaded when a basket is asked for
    lines_, catalog_ = c.run_inputs(run_)
    return Recommender.from_run(run_, catalog_, lines_)


with tab_o:
    if run.manifest.get("level", "sku") != "sku" and catalog is None:
        st.info(T("offer_needs_catalog"))
    else:
        names = names_of or {i: i for i in c.catalog_column(offer_catalog, "price")}
        o1, o2, o3 = st.columns([3, 1, 1])
        basket = o1.multiselect(T("basket"), list(names), format_func=lambda s: f"{names[s]} ({s})", key="o_basket")
        o_store = o2.selectbox(T("suggest_store"), [T("all")] + stores, key="o_store")
        k = o3.number_input("k", 1, 20, 5, key="o_k")
        if not basket:
            st.caption(T("pick_items"))
        else:
            rec = recommender_for(str(run_path), c.folder_version(run_path))
            sugg = rec.suggest(basket, k=int(k), store=None if o_store == T("all") else o_store)
            st.dataframe(pd.DataFrame([{"item": s["item"], "name": s["name"], "score": round(s["score"], 4),
                                        "source": s["source"], "reason": s["reason"],
                                        "bundle": (s.get("bundle") or {}).get("bundle_id")
                                        if isinstance(s.get("bundle"), dict) else s.get("bundle")}
                                       for s in sugg]), hide_index=True, width="stretch")

# ------------------------------------------------------------------ one bundle
if b is None or b.empty:
    st.stop()
st.divider()
st.header(T("detail"))
ids = b["bundle_id"].tolist()
label_of = {bid: f"{'' if pd.isna(s) else str(s) + ' · '}{named(li)} · {bp:.2f}" for bid, s, li, bp in
            zip(b["bundle_id"], b["store"], b["level_items"], b["bundle_price"])}
bid = st.selectbox(T("pick_bundle"), ids, format_func=label_of.get, key="pick_bundle")
row = b.set_index("bundle_id").loc[bid]
original = run.tables["bundles"].set_index("bundle_id").loc[bid]
zh = c.lang() == "zh"
st.subheader(c.plain(" + ".join(row["names_zh"] if zh else row["names"])))

status = row["status"]
if status == "approved":
    st.success(T("approved_by", user=row["decided_by"], at=row["decided_at"]))
elif status == "rejected":
    st.info(T("rejected_by", user=row["decided_by"], at=row["decided_at"]))
else:
    st.caption(f"{T('status')}: {T('status_pending')}")

left, right = st.columns(2)
with left:
    st.markdown(f"**{T('evidence')}**")
    e1, e2, e3 = st.columns(3)
    e1.metric(T("count"), f"{int(row['count']):,}")
    e2.metric(T("gap_tickets"), f"{int(row['gap_tickets']):,}")
    e3.metric(T("set_tickets"), f"{int(row['set_tickets']):,}")
    e1.metric(T("confidence"), f"{row['confidence']:.1%}")
    e2.metric(T("lift"), f"{row['lift']:.2f}")
    e3.metric(T("q_value"), f"{row['q_value']:.2e}")
    sal = row.get("size_adjusted_lift")
    if sal is not None and pd.notna(sal):  # a mix & match rests on no pairing: nothing to show
        e1.metric(T("beyond_size"), f"{float(sal):.2f}×", help=T("beyond_size_help"))
    st.caption(f"{T('p_value')}: {row['p_value']:.2e} · " + c.plain(row["evidence_zh"] if zh else row["evidence_en"]))
    if isinstance(row.get("substitute_warning"), str) and row["substitute_warning"]:
        st.markdown(":material/warning: " + T("substitute_warning", text=c.plain(row["substitute_warning"])))

    st.markdown(f"**{T('price_editor')}**")
    # re-price with the policy the run priced with (its curves, floors, departments), not the defaults
    base = policy_from_fields(run.manifest.get("bundles", {}).get("parameters", {}).get("policy"))
    types = [t_ for t_ in DISCOUNT_TYPES if t_ != "gift" or isinstance(row.get("gift_sku"), str)]
    if row["discount_type"] == TILL_TYPE:  # the till fallback stays editable as itself
        types.append(TILL_TYPE)
    if row["discount_type"] == MIX_MATCH:  # any 2 of a family: re-priced as itself, no other type fits it
        types = [MIX_MATCH]
    cur_type = row["discount_type"] if row["discount_type"] in types else types[0]
    p1, p2, p3 = st.columns(3)
    dtype = p1.selectbox(T("discount_type"), types, index=types.index(cur_type), key=f"dtype_{bid}")
    regular = float(row["regular_price"])
    default_cap = int(round(base.max_discount_pct * 100))
    if dtype in ("amount_off", "set_price"):  # money types: the cap in money, passed on as a share
        default_amount = round(base.max_discount_pct * regular, 2)
        amount = p2.number_input(T("max_amount"), 0.01, regular, default_amount, step=1.0, key=f"capamt_{bid}")
        cap = 100 * amount / regular
        cap_edited = abs(amount - default_amount) > 0.005
    else:
        cap = p2.slider(T("max_discount"), 1, 60, default_cap, key=f"cap_{bid}")
        cap_edited = cap != default_cap
    margin = p3.slider(T("min_margin"), 0, 60, int(round(base.min_margin * 100)), key=f"margin_{bid}")
    edited_price = dtype != row["discount_type"] or cap_edited or margin != round(base.min_margin * 100)
    cost, dept, price_of = (c.catalog_column(offer_catalog, col) for col in ("unit_cost", "department", "price"))
    comps = json.loads(original["components"])
    items = [{"sku": x["sku"], "price": x["unit_price"], "unit_cost": cost.get(x["sku"]), "role": x["role"],
              "department": dept.get(x["sku"]), "quantity": x["quantity"]} for x in comps if x["role"] != "gift"]
    gift = None
    if dtype == "gift":
        g = next((x for x in comps if x["role"] == "gift"), None) or {"sku": row["gift_sku"]}
        gsku = str(g["sku"])
        gift = {"sku": gsku, "price": price_of.get(gsku), "unit_cost": cost.get(gsku)}
    gift_name = (row.get("gift_name") if isinstance(row.get("gift_name"), str) else None) or (
        names_of.get(gift["sku"]) if gift else None)
    policy = policy_from_flags(base, max_discount=cap / 100, min_margin=margin / 100)
    decision = price_bundle(items, int(row["gap_tickets"]), int(row["set_tickets"]), policy,
                            float(row["substitute_margin_loss"] or 0.0), gift,
                            discount_type=FAMILY_TYPES[0] if dtype == MIX_MATCH else dtype,
                            added_margin=float(row["added_margin"]))
    if dtype == MIX_MATCH:  # two units at one price: "any 2 for X" (recommender.mix_match)
        decision = dataclasses.replace(decision, discount_type=MIX_MATCH,
                                       label=f"any 2 for {decision.bundle_price:.2f}")
    shown = decision if edited_price else None
    q1, q2, q3 = st.columns(3)
    cur = row.get("currency") if isinstance(row.get("currency"), str) else None
    q1.metric(T("regular_price"), c.money(row["regular_price"], cur))
    q2.metric(T("bundle_price"), c.money(shown.bundle_price if shown else row["bundle_price"], cur),
              delta=f"{(shown.bundle_price - row['bundle_price']):+.2f}" if shown else None, delta_color="off")
    q3.metric(T("saving"), c.money(shown.saving if shown else row["saving"], cur))
    shown_label = named_label(shown, (gift_name or names_of.get(shown.discounted_sku))
                              if shown.discount_type == "gift" else names_of.get(shown.discounted_sku)) if shown else None
    st.caption(c.plain(shown_label or row["discount_label"]))  # the label names the gift: text
    guards = shown.guardrails if shown else json.loads(row["guardrails"])
    st.dataframe(pd.DataFrame([{T("guardrail"): name, T("limit"): g["limit"], T("value"): g["value"],
                                T("holds"): bool(g["holds"]), "": g.get("text", "")}
                               for name, g in guards.items()]), hide_index=True, width="stretch")
    binding = shown.binding_constraint if shown else row["binding_constraint"]
    st.markdown(T("binding", name=binding))
    if shown is not None and not shown.recommended:
        st.markdown(":material/warning: " + T("not_recommended", why=c.plain(shown.reason_not_recommended)))

with right:
    st.markdown(f"**{T('projection')}**")
    take = decision.expected_take_rate if shown else float(row["expected_take_rate"])
    # what one redeeming ticket costs the shop: the saving, or for a gift its unit cost (not its shelf price)
    cost_each = decision.discount_cost if shown else offer_cost(row, cost)
    q = st.slider(T("take_rate"), 0.0, 1.0, float(round(take, 3)), 0.005, key=f"take_{bid}")
    gap, sets = int(row["gap_tickets"]), int(row["set_tickets"])
    profit = float(expected_profit(q, gap, float(row["added_margin"]), cost_each, sets,
                                   float(row["substitute_margin_loss"] or 0.0)))
    m1, m2, m3 = st.columns(3)
    m1.metric(T("projected_takers"), f"{q * gap:,.0f}")
    m2.metric(T("projected_profit"), f"{profit:,.0f}")
    be = decision.break_even_take_rate if shown else float(row["break_even_take_rate"])
    m3.metric(T("break_even"), c.take_rate_text(be))
    st.caption(f"ATV +{row['expected_atv_uplift_low']:.2f} … +{row['expected_atv_uplift_high']:.2f} · "
               f"UPT +{row['expected_upt_uplift_low']:.3f} … +{row['expected_upt_uplift_high']:.3f} "
               f"({row['period_start'][:10]} – {row['period_end'][:10]})")

    # one offer, one story: a new type, cap or margin writes the copy again from the new offer, unless the
    # merchandiser wrote their own (kept, and marked as edited)
    own_before = str(row.get("copy_edited")).lower() in ("true", "1")
    gift_row = None
    if shown is not None and shown.discount_type == "gift" and gift is not None:
        gift_row = {"name": names_of.get(gift["sku"], gift["sku"])}
        if catalog is not None and "sku" in catalog.columns:
            match = catalog[catalog["sku"].astype(str) == gift["sku"]]
            if len(match):
                gift_row = {k: v for k, v in match.iloc[0].to_dict().items() if v == v and v is not None}
    fresh = (offer_edits(row.to_dict(), shown, catalog=catalog, gift=gift_row, vocabulary=c.vocabulary(run, catalog))
             if shown is not None else None)
    keep_own = own_before and fresh is not None
    base_en = str(row["reason_en"]) if fresh is None or keep_own else fresh["reason_en"]
    base_zh = str(row["reason_zh"]) if fresh is None or keep_own else fresh["reason_zh"]
    sig = "" if shown is None else f"_{shown.discount_type}_{shown.bundle_price:.2f}"  # new offer, new text box
    reason_en = st.text_area(T("reason_en"), base_en, key=f"reason_en_{bid}{sig}", height=80)
    reason_zh = st.text_area(T("reason_zh"), base_zh, key=f"reason_zh_{bid}{sig}", height=80)
    typed = reason_en != base_en or reason_zh != base_zh
    if own_before or typed:
        st.caption(T("copy_edited"))
    elif fresh is not None:
        st.caption(T("copy_regenerated"))

    edits = {}
    if fresh is not None:
        edits.update(fresh)
        if keep_own:
            edits.update(reason_en=base_en, reason_zh=base_zh, copy_edited=True)
    if typed:
        edits.update(reason_en=reason_en, reason_zh=reason_zh, copy_edited=True)

    who = c.user()
    if not c.can("approve"):
        st.info(T("read_only", role=c.role_label(who.role)))
    else:
        # the offer as it would be approved (edits included): one that is not recommended, or that is expected
        # to lose money, is approved only with a reason, kept with the decision and shown in the exports
        as_approved = {"recommended": shown.recommended if shown else row["recommended"],
                       "expected_profit": shown.expected_profit if shown else row["expected_profit"]}
        needs = decisions.reason_needed(as_approved)
        why = ""
        if needs:
            st.markdown(":material/warning: " + T("reason_needed", why=c.plain(needs)))
            why = st.text_input(T("approval_reason"), key=f"approval_reason_{bid}")

        def decide(action: str) -> bool:
            orig = {k: original[k] for k in decisions.EDITABLE if k in original.index}
            orig = {k: (json.loads(v) if k in ("components", "guardrails") and isinstance(v, str) else v)
                    for k, v in orig.items()}
            try:
                decisions.record(c.db_path(), bid, items=row["items"], store=row["store"], action=action,
                                 user=who.name, role=who.role, edits=edits if action != "reset" else None,
                                 original=orig, run=run_path.name, reason=why or None, needs_reason=needs)
            except decisions.ReasonRequired:
                st.session_state["reason_missing"] = bid
                return False
            st.session_state["flash"] = T("saved", action=action, user=who.label)
            return True

        if st.session_state.get("reason_missing") == bid and not why:
            st.error(T("reason_missing"))
        a1, a2, a3, a4 = st.columns(4)
        if a1.button(T("approve"), type="primary", key="btn_approve"):
            if decide("approve"):
                st.session_state.pop("reason_missing", None)
            st.rerun()
        if a2.button(T("reject"), key="btn_reject"):
            decide("reject")
            st.rerun()
        if a3.button(T("save_edits"), key="btn_edit", disabled=not edits):
            decide("edit")
            st.rerun()
        if a4.button(T("reset"), key="btn_reset", disabled=status == "pending"):
            decide("reset")
            st.rerun()

with st.expander(T("history")):
    hist = decisions.history(c.db_path(), bid)
    if len(hist):
        st.dataframe(pd.DataFrame({"at": hist["at"], "user": hist["user"], "action": hist["action"],
                                   "status": hist["status"], T("approval_reason"): hist["reason"].fillna(""),
                                   "changes": hist["changes"].map(lambda d: json.dumps(
                                       {k: v for k, v in d.items() if k not in ("components", "guardrails")},
                                       ensure_ascii=False))}), hide_index=True, width="stretch")
