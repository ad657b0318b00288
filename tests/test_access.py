"""Demo mode for local clients only, sign-in throttling, idle expiry, the audit log, and every route a staff
user might take to pricing or approval (menu, URL query, switch_page, direct calls)."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from recommender import access, auth, decisions
from recommender.i18n import t
from tests.conftest import ROOT

APP = str(ROOT / "app.py")


# ------------------------------------------------------------------ decisions, on simulated addresses

@pytest.mark.parametrize("address,local", [
    (None, True), ("127.0.0.1", True), ("::1", True), ("127.1.2.3", True), ("::ffff:127.0.0.1", True),
    ("192.168.0.7", False), ("10.0.0.1", False), ("::ffff:10.0.0.1", False), ("fe80::1%eth0", False),
    ("2001:db8::1", False), ("0.0.0.0", False), ("", False), ("localhost.evil.com", False),
])
def test_demo_mode_only_for_a_local_client(address, local):
    assert access.demo_allowed(address) is local


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _sign_in(tmp_path, name, password, client, throttle):
    return access.sign_in(tmp_path / "users.toml", name, password, client=client, throttle=throttle,
                          audit=access.AuditLog(tmp_path / "audit.log"))


@pytest.fixture
def users_file(tmp_path):
    auth.add_user(tmp_path / "users.toml", "ann", "merchandiser", "ann-pw")
    auth.add_user(tmp_path / "users.toml", "bob", "staff", "bob-pw")
    return tmp_path / "users.toml"


def test_failed_sign_ins_are_throttled_per_user(tmp_path, users_file, monkeypatch):
    clock = Clock()
    th = access.Throttle(max_failures=3, base_delay=30, clock=clock)
    checked = []
    real = auth._verify_hash
    monkeypatch.setattr(auth, "_verify_hash", lambda *a: checked.append(1) or real(*a))
    for i in range(3):  # from three different clients: the user's own counter trips
        assert _sign_in(tmp_path, "ann", "bad", f"10.0.0.{i}", th) == (None, 0.0)
    user, wait = _sign_in(tmp_path, "ann", "ann-pw", "10.0.0.9", th)
    assert user is None and wait == pytest.approx(30.0)  # even the right password waits
    assert len(checked) == 3  # a throttled try computes no hash
    assert _sign_in(tmp_path, "bob", "bob-pw", "10.0.0.9", th)[0].name == "bob"  # others are not locked out
    clock.now += 31
    assert _sign_in(tmp_path, "ann", "ann-pw", "10.0.0.9", th)[0].name == "ann"


def test_failed_sign_ins_are_throttled_per_client_and_back_off(tmp_path, users_file):
    clock = Clock()
    th = access.Throttle(max_failures=3, base_delay=30, max_delay=900, clock=clock)
    for i in range(3):  # one client guessing several names
        _sign_in(tmp_path, f"guess{i}", "x", "10.0.0.66", th)
    assert _sign_in(tmp_path, "ann", "ann-pw", "10.0.0.66", th) == (None, pytest.approx(30.0))
    assert _sign_in(tmp_path, "ann", "ann-pw", "10.0.0.5", th)[0].name == "ann"  # another client is fine
    clock.now += 31
    _sign_in(tmp_path, "guess9", "x", "10.0.0.66", th)  # a fourth failure doubles the wait
    assert th.retry_after(("client", "10.0.0.66")) == pytest.approx(60.0)
    clock.now += 900  # failures are forgotten after the longest wait
    assert th.retry_after(("client", "10.0.0.66")) == 0.0


def test_unknown_names_are_throttled_too(tmp_path, users_file):
    th = access.Throttle(max_failures=2, clock=Clock())
    for _ in range(2):
        _sign_in(tmp_path, "nobody", "x", "10.0.0.1", th)
    assert _sign_in(tmp_path, "nobody", "x", "10.0.0.2", th)[1] > 0  # same answer as for a real name


def test_session_expires_after_the_idle_time(monkeypatch):
    monkeypatch.delenv("RECOMMENDER_IDLE_MINUTES", raising=False)
    assert access.idle_seconds() == access.IDLE_MINUTES * 60 == 1800
    assert not access.session_expired(0.0, 1800.0) and access.session_expired(0.0, 1800.5)
    monkeypatch.setenv("RECOMMENDER_IDLE_MINUTES", "5")
    assert access.session_expired(0.0, 301.0) and not access.session_expired(0.0, 299.0)


def test_audit_log_records_sign_ins_and_failures_without_passwords(tmp_path, users_file):
    th = access.Throttle(max_failures=1, clock=Clock())
    _sign_in(tmp_path, "ann", "ann-pw", "10.0.0.1", th)
    _sign_in(tmp_path, "ann", "hunter2-wrong", "10.0.0.1", th)
    _sign_in(tmp_path, "ann", "hunter2-again", "10.0.0.1", th)
    text = (tmp_path / "audit.log").read_text()
    assert "ann-pw" not in text and "hunter2" not in text
    events = [json.loads(x) for x in text.splitlines()]
    assert [e["event"] for e in events] == ["sign_in", "sign_in_failed", "sign_in_throttled"]
    assert all(e["user"] == "ann" and e["client"] == "10.0.0.1" and e["at"] for e in events)
    with pytest.raises(ValueError):
        access.AuditLog(tmp_path / "a.log").write("x", password="pw")


# ------------------------------------------------------------------ the app's own decisions (AppTest)

@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RECOMMENDER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECOMMENDER_USERS", str(tmp_path / "users.toml"))
    monkeypatch.setenv("RECOMMENDER_AUDIT_LOG", str(tmp_path / "audit.log"))
    monkeypatch.delenv("RECOMMENDER_DB", raising=False)
    return tmp_path


def _events(path):
    return access.AuditLog(path / "audit.log").read()


def test_app_refuses_demo_mode_to_a_remote_client(app_env, monkeypatch):
    from recommender.dashboard import common

    monkeypatch.setattr(common, "client_address", lambda: "192.168.1.50")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert [e.value for e in at.error] == [t("demo_remote_refused")]
    assert not at.title and not (app_env / "data" / "demo").exists()  # nothing ran for the stranger
    assert [e["event"] for e in _events(app_env)] == ["demo_refused"]


def _staff_session(app_env, **query):
    auth.add_user(app_env / "users.toml", "sam", "staff", "sam-pw")
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.session_state["user_name"] = "sam"
    return at


def test_staff_menu_offers_no_pricing_or_approval(app_env):
    from recommender.dashboard import PAGES, pages

    assert len(pages("staff")) == 1 and [f for f, *_, perm in PAGES if auth.can("staff", perm)] == ["export_page.py"]
    forbidden = {url for _, _, _, url, perm in PAGES if not auth.can("staff", perm)}
    assert {"bundles", "mining", "data", "uplift"} <= forbidden


def test_staff_query_parameters_do_not_open_pricing(app_env):
    at = _staff_session(app_env, page="bundles", bundle="any", action="approve", role="merchandiser").run()
    assert [x.value for x in at.title] == [t("export_title")]
    assert not {"btn_approve", "btn_edit", "btn_reject"} & {b.key for b in at.button}
    assert not decisions.history(app_env / "data" / "decisions.sqlite").shape[0]


@pytest.mark.parametrize("page", ["bundles_page", "mining_page", "data_page", "uplift_page"])
def test_staff_switch_page_to_a_forbidden_page_is_refused(app_env, page):
    at = _staff_session(app_env).run()
    # navigation holds only the pages the role may open, so the URL/switch to any other does not exist
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(f"recommender/dashboard/{page}.py").run()


def test_staff_direct_calls_are_refused(app_env):
    db = app_env / "data" / "decisions.sqlite"
    for action in ("approve", "reject", "reset"):
        with pytest.raises(decisions.NotAllowed):
            decisions.record(db, "b1", items=["a"], action=action, user="sam", role="staff")
    with pytest.raises(decisions.NotAllowed):  # pricing edits
        decisions.record(db, "b1", items=["a"], action="edit", user="sam", role="staff",
                         edits={"bundle_price": 1.0})
    with pytest.raises(decisions.NotAllowed):  # an analyst may look, not price
        decisions.record(db, "b1", items=["a"], action="edit", user="ava", role="analyst",
                         edits={"bundle_price": 1.0})
    assert decisions.history(db).empty


def test_the_page_guard_refuses_a_role_and_logs_it(app_env):
    """Run a page script directly (no navigation at all) as staff: its own guard stops it."""
    auth.add_user(app_env / "users.toml", "sam", "staff", "sam-pw")
    for page in ("bundles_page", "mining_page"):
        at = AppTest.from_file(str(ROOT / "recommender" / "dashboard" / f"{page}.py"), default_timeout=60)
        at.session_state["user_name"] = "sam"
        at.run()
        assert [e.value for e in at.error] == [t("role_denied")], page
        assert not at.title and not at.button
    denied = [e for e in _events(app_env) if e["event"] == "role_denied"]
    assert [e["permission"] for e in denied] == ["explore", "mine"]


def test_idle_session_is_signed_out(app_env, monkeypatch):
    auth.add_user(app_env / "users.toml", "sam", "staff", "sam-pw")
    monkeypatch.setenv("RECOMMENDER_IDLE_MINUTES", "1")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["user_name"] = "sam"
    at.session_state["last_seen"] = 0.0  # long ago
    at.run()
    assert any(i.value == t("session_expired", minutes=1) for i in at.info)
    assert at.button[0].label == t("sign_in") and "user_name" not in at.session_state
    assert [e["event"] for e in _events(app_env)] == ["session_expired"]


def test_sign_in_through_the_form_is_throttled(app_env):
    auth.add_user(app_env / "users.toml", "ann", "merchandiser", "ann-pw")
    for _ in range(access.MAX_FAILURES):
        at = AppTest.from_file(APP, default_timeout=60).run()
        at.text_input(key="login_name").input("ann")
        at.text_input(key="login_password").input("wrong")
        at.button[0].click().run()
        assert [e.value for e in at.error] == [t("bad_login")]
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("ann")
    at.text_input(key="login_password").input("ann-pw")
    at.button[0].click().run()
    assert at.error and "Too many failed sign-ins" in at.error[0].value
    assert "user_name" not in at.session_state


# ------------------------------------------------------------------ the real server's sockets

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_streamlit_run_without_users_file_listens_on_loopback_only(tmp_path):
    """``streamlit run app.py`` as the README starts it (the project's config, no address flag): read the
    server's listening sockets; no traffic is sent anywhere."""
    import ipaddress
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "RECOMMENDER_DATA_DIR": str(tmp_path / "data"),
           "RECOMMENDER_USERS": str(tmp_path / "absent-users.toml")}
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listening = []
        deadline = time.monotonic() + 90
        while not listening and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            listening = [c for c in psutil.Process(proc.pid).net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN]
        assert listening, "the server never listened"
        assert {c.laddr.port for c in listening} == {port}
        for c in listening:
            assert ipaddress.ip_address(c.laddr.ip).is_loopback, f"listening on {c.laddr.ip}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
