"""Shared, cached access for the pages: data folder, runs, receipts, users, language, decisions database.

Everything here either locates things (paths from the environment) or caches a
library call (``st.cache_data`` keyed by the file and its modification time),
so that every page stays a thin shell over the library.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import streamlit as st

from recommender import access, auth, data_dir, decisions, server_files, workspace  # data_dir: the pages call common.data_dir()
from recommender.i18n import t
from recommender.receipts import LoadOptions, load_receipts
from recommender.rules_query import INDEX_FILES

DEMO_RUN = "demo"
#: The workspace label of the demo shop (shown translated).
DEMO_LABEL = "demo"
#: The first run on the demo shop: subcategory level, as in the README.
DEMO_PARAMS = {"level": "subcategory", "min_support": 0.002}


# ------------------------------------------------------------------ places



def runs_dir() -> Path:
    return data_dir() / "runs"


def db_path() -> Path:
    """The decisions database: ``RECOMMENDER_DB``, else ``DATA_DIR/decisions.sqlite``."""
    return decisions.default_db_path(data_dir())


def list_runs() -> list[str]:
    """Names of the run folders, the demo first, then newest first."""
    root = runs_dir()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists()]
    runs.sort(key=lambda p: (p.name != DEMO_RUN, -p.stat().st_mtime))
    return [p.name for p in runs]


def folder_version(path) -> float:
    """Latest modification time of a folder's files: part of every cache key, so a re-run is seen."""
    path = Path(path)
    # the item index is derived from rules.parquet (whose time is here): writing it is no new version
    return max([path.stat().st_mtime] + [f.stat().st_mtime for f in path.iterdir()
                                         if f.name not in INDEX_FILES and not f.name.startswith(".")])


# ------------------------------------------------------------------ language and users

def lang() -> str:
    return st.session_state.get("lang", "en")


def T(key: str, **fields) -> str:  # noqa: N802 - reads like a gettext call
    return t(key, lang(), **fields)


def users() -> dict:
    return auth.load_users(auth.users_path(data_dir()))


@st.cache_resource
def throttle() -> access.Throttle:
    """One sign-in throttle for the whole server process (every session shares it)."""
    return access.Throttle()


def audit_log() -> access.AuditLog:
    return access.AuditLog(access.audit_path(data_dir()))


def client_address() -> str | None:
    """The client's address as Streamlit reports it (None for a loopback client).

    Outside a served session (``streamlit.testing``, bare mode) there is no
    network client: Streamlit then hands back a placeholder, read as local.
    """
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def current_user() -> auth.User | None:
    """The signed-in user; the local user in demo mode (no users file); None when sign-in is needed.

    Demo mode is refused to a client that is not on this machine; a signed-in
    session idle for longer than :func:`recommender.access.idle_seconds` ends.
    """
    try:
        known = users()
    except (ValueError, OSError) as exc:  # a broken users file must not open the dashboard to everyone
        st.error(f"{auth.users_path(data_dir())}: {exc}")
        st.stop()
    if not known:
        if not access.demo_allowed(client_address()):
            audit_log().write("demo_refused", client=client_address())
            st.error(T("demo_remote_refused"))
            st.stop()
        return auth.LOCAL_USER
    name = st.session_state.get("user_name")
    if not name:
        return None
    now = time.time()
    if access.session_expired(st.session_state.get("last_seen"), now):
        audit_log().write("session_expired", user=name, client=client_address())
        st.session_state.pop("user_name", None)
        st.session_state.pop("last_seen", None)
        st.session_state["expired"] = True
        return None
    st.session_state["last_seen"] = now
    return known.get(name)


def sign_in_form() -> None:
    """A sign-in form; on success the user name goes to the session and the app reruns."""
    st.title(T("app_title"))
    if st.session_state.pop("expired", False):
        st.info(T("session_expired", minutes=round(access.idle_seconds() / 60)))
    with st.form("sign_in"):
        name = st.text_input(T("user_name"), key="login_name")
        password = st.text_input(T("password"), type="password", key="login_password")
        if st.form_submit_button(T("sign_in"), type="primary"):
            user, wait = access.sign_in(auth.users_path(data_dir()), name, password, client=client_address(),
                                        throttle=throttle(), audit=audit_log())
            if wait:
                st.error(T("sign_in_throttled", seconds=int(wait) + 1))
            elif user is None:
                st.error(T("bad_login"))
            else:
                st.session_state["user_name"] = user.name
                st.session_state["last_seen"] = time.time()
                st.rerun()


def user() -> auth.User:
    """The user of this session (pages run only after sign-in, so never None there)."""
    return current_user() or auth.LOCAL_USER


def can(permission: str) -> bool:
    return auth.can(user().role, permission)


def require(permission: str) -> auth.User:
    """Stop the page unless the session's role may ``permission``; a refusal goes to the audit log.

    Every page calls this first, so a page reached by URL, by ``switch_page`` or
    by a stale link is refused just as the menu hides it.
    """
    who = current_user()
    if who is None or not auth.can(who.role, permission):
        audit_log().write("role_denied", user=who.name if who else None, role=who.role if who else None,
                          permission=permission, client=client_address())
        st.error(T("role_denied"))
        st.stop()
    return who


def role_label(role: str) -> str:
    return T(f"role_{role}")


def demo_banner() -> None:
    if user() is auth.LOCAL_USER:
        st.info(T("demo_mode"), icon=":material/info:")


def page(permission: str, title_key: str) -> auth.User:
    """Open a page: the role guard first (:func:`require`), then its title and the demo banner."""
    who = require(permission)
    st.title(T(title_key))
    demo_banner()
    return who


# ------------------------------------------------------------------ data

# receipts, catalogs and runs are shared, not copied on every rerun (cache_resource): pages and the library
# never change the frames they are given (stages return new ones), and a copy of 540,000 lines per rerun is
# seconds and hundreds of MB
@st.cache_resource(show_spinner=False, max_entries=8)
def cached_receipts(path: str, mtime: float, mapping_json: str = "{}"):
    """Load receipts once per file version and column mapping (both are part of the cache key)."""
    return load_receipts(path, LoadOptions(mapping=json.loads(mapping_json)))


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_catalog(path: str, mtime: float):
    from recommender.catalog import load_catalog

    return load_catalog(path)


#: Tables the pages never hold whole: they ask :func:`recommender.rules_query.query_rules` instead.
BIG_TABLES = ("rules", "itemsets")


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_run(path: str, version: float):
    """A run folder read back without its rules and itemsets (keyed by folder + latest file time)."""
    from recommender.runs import read_manifest, read_run

    small = [name for name in read_manifest(path).get("tables", {}) if name not in BIG_TABLES]
    return read_run(path, tables=small)


def receipts_of(path, mapping: dict | None = None):
    path = Path(path)
    return cached_receipts(str(path), path.stat().st_mtime, json.dumps(mapping or {}, sort_keys=True))


def catalog_of(path):
    if not path:
        return None
    path = Path(path)
    return cached_catalog(str(path), path.stat().st_mtime) if path.exists() else None


def progress_bar(text: str):
    """A ``progress(done, total, message)`` callable drawing an ``st.progress`` bar, and the bar."""
    bar = st.progress(0.0, text=text)

    def progress(done, total, message):
        bar.progress(min(1.0, max(0.0, done / total)) if total else 0.0, text=str(message))

    return progress, bar


def ensure_demo_data() -> Path:
    """Create the demo shop on first use (a fresh clone has none), with a progress bar."""
    from recommender.demo import demo_paths, ensure_demo

    demo_dir = data_dir() / "demo"
    if all(Path(p).exists() for p in demo_paths(demo_dir).values()):
        return demo_dir
    progress, bar = progress_bar(T("first_start"))
    ensure_demo(demo_dir, progress=progress)
    bar.empty()
    return demo_dir


def mine_run(receipts_path, out_dir, catalog_path=None, mapping=None, params=None, progress=None) -> dict:
    """Mine a receipts file into a run folder (rules, then bundles), as the ``mine`` command does.

    Returns a summary: itemsets, rules, bundles, seconds.
    """
    from recommender.pipeline import MiningParams, mine_to_folder

    t0 = time.perf_counter()
    say = progress or (lambda done, total, message: None)
    receipts = receipts_of(receipts_path, mapping)
    catalog = catalog_of(catalog_path)
    params = params or MiningParams(**DEMO_PARAMS)
    source = {"catalog": str(catalog_path) if catalog_path else None, "mapping": mapping or {}}
    result, path = mine_to_folder(receipts, out_dir, catalog, params,
                                  progress=lambda d, n, m: say(d * 0.8 / n if n else 0, 1, m), source=source)
    from recommender.errors import InputError

    try:  # no prices on the lines, say: the rules stand, and the Bundles page says what is missing
        n_bundles = write_bundles(path, receipts.lines, catalog,
                                  progress=lambda d, n, m: say(0.8 + 0.2 * d / n if n else 0.8, 1, m))
    except InputError:
        n_bundles = 0
    from recommender.rules_query import rule_index

    say(1, 1, "indexing the rules by item")
    rule_index(path)  # built now, under the progress bar, not on the Bundles page's first open
    say(1, 1, "done")
    return {"itemsets": len(result.itemsets), "rules": len(result.rules), "bundles": n_bundles,
            "secs": time.perf_counter() - t0, "path": str(path)}


def write_bundles(run_path, lines, catalog, progress=None, policy=None, currency=None) -> int:
    """Price the run's bundles and add ``bundles.csv|parquet`` to the run folder; return how many.

    Without a catalog (or with one lacking costs) the receipts-only path of
    :func:`recommender.bundles.build_bundles` fills names, prices and assumed
    costs from the run's items table and leaves suspected non-products out.
    """
    from recommender.bundles import bundles_for_run

    kwargs = {"progress": progress}
    if policy is not None:
        kwargs["policy"] = policy
    if currency is not None:
        kwargs["currency"] = currency
    table, _ = bundles_for_run(run_path, lines, catalog, **kwargs)
    return int(len(table))


def ensure_demo_run() -> Path:
    """The demo shop and its first mining run, created on first start (within a minute on 2 cores)."""
    demo_dir = ensure_demo_data()
    out = runs_dir() / DEMO_RUN
    if not (out / "manifest.json").exists():
        progress, bar = progress_bar(T("first_start"))
        mine_run(demo_dir / "receipts.csv", out, demo_dir / "catalog.csv", progress=progress)
        bar.empty()
    elif not (out / "bundles.parquet").exists() and not (out / "bundles.csv").exists():
        demo = Path(demo_dir)
        write_bundles(out, receipts_of(demo / "receipts.csv").lines, catalog_of(demo / "catalog.csv"))
    return out


# ------------------------------------------------------------------ the user's working data

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=@&^%])")


def plain(text) -> str:
    """``text`` made safe to pass through markdown: every punctuation mark escaped, so a name such as
    ``[Click](http://x)`` or ``:material/x:`` shows as typed (never a link, an icon or a colour).

    (``[Click](http://x)`` -> ``\\[Click\\]\\(http\\:\\/\\/x\\)``)
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("/", "\\/").replace("\n", " ")


def demo_active() -> workspace.Active:
    demo = data_dir() / "demo"
    return workspace.Active(label=DEMO_LABEL, receipts=str(demo / "receipts.csv"), catalog=str(demo / "catalog.csv"),
                            mapping={}, run=DEMO_RUN)


def uploads_dir() -> Path:
    return data_dir() / "uploads"


def source_of(act: workspace.Active) -> str:
    """Where the active data came from: ``demo``, ``upload`` (stored under the uploads folder) or ``server``."""
    if act.label == DEMO_LABEL:
        return "demo"
    if act.receipts and server_files.inside_root(uploads_dir(), act.receipts):
        return "upload"
    return "server"


def active() -> workspace.Active:
    """The signed-in user's active dataset, read from the database: the demo shop until they choose another.

    A file chosen on the server is checked against the data root again on every
    read: moved out, or a link changed to lead out, it is no longer used.
    """
    act = workspace.get_active(db_path(), user().name)
    usable = act is not None and act.receipts and Path(act.receipts).exists()
    if usable and source_of(act) == "server" and not server_files.inside_root(server_files.data_root(), act.receipts):
        if st.session_state.get("refused_logged") != act.receipts:  # once per session, not on every rerun
            audit_log().write("server_file_refused", user=user().name, path=act.receipts, client=client_address())
            st.session_state["refused_logged"] = act.receipts
        usable = False
    if not usable:
        return demo_active() if act is None else dataclasses.replace(demo_active(), run=act.run or DEMO_RUN)
    return act


def set_active(**changes) -> workspace.Active:
    return workspace.set_active(db_path(), user().name, **changes)


def active_label(act: workspace.Active | None = None) -> str:
    act = act or active()
    return T("source_demo") if act.label == DEMO_LABEL else act.label


def is_demo(act: workspace.Active | None = None) -> bool:
    return (act or active()).label == DEMO_LABEL


def runs_of(act: workspace.Active) -> list[str]:
    """Run folders mined from the active data (newest first)."""
    out = []
    for name in list_runs():
        try:
            inp = json.loads((runs_dir() / name / "manifest.json").read_text(encoding="utf-8")).get("input", {})
        except (OSError, ValueError):
            continue
        if inp.get("path") and act.receipts and Path(inp["path"]).resolve() == Path(act.receipts).resolve():
            out.append(name)
    return out


def selected_run_path() -> Path | None:
    """The active run: the sidebar's choice (kept in the database), else the newest run of the active data."""
    runs = list_runs()
    if not runs:
        return None
    name = st.session_state.get("run_name")
    if name not in runs:
        act = active()
        name = act.run if act.run in runs else next(iter(runs_of(act)), None)
    return runs_dir() / name if name in runs else None


def selected_run():
    """``(path, run)`` of the active run, or ``(None, None)`` when the active data has no run yet."""
    path = selected_run_path()
    return path, (load_run(path) if path else None)


def load_run(path=None):
    path = Path(path or selected_run_path())
    return cached_run(str(path), folder_version(path))


def run_inputs(run):
    """The clean lines and catalog a run was mined from (read again, cached), or (None, None)."""
    inp = run.manifest.get("input", {})
    path = inp.get("path")
    if not path or not Path(path).exists():
        return None, None
    receipts = receipts_of(path, inp.get("mapping") or {})
    return receipts.lines, catalog_of(inp.get("catalog"))


@st.cache_data(show_spinner=False, max_entries=8)
def _item_names(key: str, _run, _lines, _catalog, lang: str) -> dict:
    from recommender.runs import item_names

    level = _run.manifest.get("level", "sku")
    found = item_names(_run) if level == "sku" else {}  # the run's own items table (names found on the lines)
    if found and not (lang == "zh" and _catalog is not None and "name_zh" in _catalog.columns):
        return found
    if _catalog is not None and level == "sku" and "sku" in _catalog.columns:
        col = "name_zh" if lang == "zh" and "name_zh" in _catalog.columns else "name"
        if col in _catalog.columns:
            return {str(k): str(v) for k, v in zip(_catalog["sku"], _catalog[col]) if isinstance(v, str) and v}
    if _lines is not None and level == "sku" and "name" in _lines.columns:
        named = _lines[["sku", "name"]].dropna()
        # the name an item carries most often (exports repeat it on every line, sometimes spelled twice)
        top = named.groupby(["sku", "name"], observed=True).size().reset_index(name="n")
        top = top.sort_values("n", ascending=False).drop_duplicates("sku")
        return {str(k): str(v) for k, v in zip(top["sku"], top["name"]) if str(v).strip()}
    return {}


def money(amount, currency=None) -> str:
    """An amount with its currency's symbol ('12.50' when none is known)."""
    try:
        from recommender.money import format_money
    except ImportError:
        return f"{float(amount):,.2f}"
    return format_money(float(amount), currency, lang())


def catalog_column(catalog, column: str) -> dict:
    """sku -> value of one catalog column; empty when there is no catalog or no such column (any subset works)."""
    if catalog is None or "sku" not in catalog.columns or column not in catalog.columns:
        return {}
    return dict(zip(catalog["sku"].astype(str), catalog[column]))


@st.cache_data(show_spinner=False, max_entries=8)
def _offer_catalog(key: str, _run, _catalog, assume_margin):
    try:
        from recommender.catalog import complete_catalog
    except ImportError:  # a library without the receipts-only path: the catalog as given
        return _catalog
    from recommender.policy import Policy

    policy = Policy() if assume_margin is None else dataclasses.replace(Policy(), assume_margin=assume_margin)
    return complete_catalog(_catalog, _run.items, policy)[0]


def offer_catalog(run, catalog):
    """The catalog the run's offers were priced with: the given one completed from the run's items table
    (names, recent median prices, costs at the assumed margin), so pricing works without a product master."""
    margin = run.manifest.get("bundles", {}).get("catalog", {}).get("assume_margin")
    return _offer_catalog(f"{run.path}:{folder_version(run.path)}", run, catalog, margin)


@st.cache_resource(show_spinner=False, max_entries=8)
def _vocabulary(key: str, _catalog):
    from recommender.variants import Vocabulary

    if _catalog is None or not {"name", "price"} <= set(_catalog.columns):
        return None
    return Vocabulary(_catalog["name"].tolist(), _catalog["price"].tolist())


def vocabulary(run, catalog):
    """The names and prices the run's offers were priced with, for copy that tells a theme from a product noun
    (:class:`recommender.variants.Vocabulary`), or None."""
    return _vocabulary(f"{run.path}:{folder_version(run.path)}", offer_catalog(run, catalog))


def item_names(run) -> dict:
    """item id -> display name for a run: its items table, else the catalog, else the lines' name column."""
    lines, catalog = run_inputs(run)
    return _item_names(f"{run.path}:{folder_version(run.path)}", run, lines, catalog, lang())


def ground_truth() -> dict:
    p = data_dir() / "demo" / "ground_truth.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def bundles_with_decisions(run):
    """The run's bundles table with the current decisions joined on bundle_id, or None."""
    table = run.tables.get("bundles")
    if table is None:
        return None
    return decisions.apply_decisions(table, decisions.current(db_path()))


# ------------------------------------------------------------------ where the user stands

#: The way through the product, in order: (label key, page url path).
STEPS = (("step_receipts", "data"), ("step_mine", "mining"), ("step_bundles", "bundles"),
         ("step_approve", "export"), ("step_measure", "uplift"))


def journey() -> list[bool]:
    """Which steps are done for the active data: receipts chosen, a run mined, bundles priced, one approved,
    measured (the last is never "done": it is where an approved offer goes next)."""
    act = active()
    run = selected_run_path()
    has_run = run is not None and (is_demo(act) or run.name in runs_of(act))
    has_bundles = has_run and any((run / f"bundles.{ext}").exists() for ext in ("parquet", "csv"))
    approved = False
    if has_bundles:
        state = decisions.current(db_path())
        table = load_run(run).tables.get("bundles")
        approved = bool(len(state) and table is not None and
                        state[state["status"] == "approved"]["bundle_id"].isin(table["bundle_id"]).any())
    return [bool(act.receipts), has_run, has_bundles, approved, False]


def show_steps() -> None:
    """The steps (bring receipts -> mine -> bundles -> approve, export -> measure) and where the user stands."""
    done = journey()
    current = next((i for i, d in enumerate(done) if not d), len(done) - 1)
    cols = st.columns(len(STEPS))
    for i, ((key, url), col) in enumerate(zip(STEPS, cols)):
        mark = "✅" if done[i] else ("👉" if i == current else "⬜")
        col.markdown(f"{mark} **{i + 1}. {T(key)}**")
        if i == current:
            col.caption(T(key + "_help"))


def take_rate_text(rate) -> str:
    """A take rate as people read it: a percent up to 100%, "not reachable" above (no share of tickets can
    exceed all of them), "∞" when nothing breaks even.

    >>> take_rate_text(0.123), take_rate_text(2.97)[:13], take_rate_text(float("inf"))
    ('12.3%', 'not reachable', '∞')
    """
    import math

    if rate is None or not math.isfinite(float(rate)):
        return "∞"
    if float(rate) > 1.0:
        return T("not_reachable", pct=float(rate))
    return f"{float(rate):.1%}"
