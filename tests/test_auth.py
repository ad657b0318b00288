"""Users file, argon2id password hashes (and the upgrade of old ones), roles and the add-user command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from recommender import auth
from tests.conftest import ROOT


def test_add_user_then_authenticate(tmp_path):
    path = tmp_path / "users.toml"
    auth.add_user(path, "ann", "merchandiser", "s3cret", "Ann Li")
    auth.add_user(path, "sam", "staff", "pw2")
    users = auth.load_users(path)
    assert set(users) == {"ann", "sam"}
    assert auth.authenticate(users, "ann", "s3cret").label == "Ann Li"
    assert auth.authenticate(users, "ann", "wrong") is None
    assert auth.authenticate(users, "nobody", "s3cret") is None
    text = path.read_text()
    assert "s3cret" not in text and "pw2" not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_roles():
    assert auth.can("merchandiser", "approve") and auth.can("merchandiser", "price")
    assert not auth.can("staff", "approve") and not auth.can("staff", "price") and auth.can("staff", "export")
    assert auth.can("analyst", "mine") and not auth.can("analyst", "approve")
    assert not auth.can("merchandiser", "mine")
    assert auth.can("local", "approve") and auth.can("local", "mine")


def test_bad_entries_refused(tmp_path):
    with pytest.raises(ValueError):
        auth.add_user(tmp_path / "u.toml", "ann", "admin", "pw")
    with pytest.raises(ValueError):
        auth.add_user(tmp_path / "u.toml", "a b", "staff", "pw")
    p = tmp_path / "plain.toml"
    p.write_text('[users.ann]\nrole = "staff"\npassword = "plaintext"\n')
    with pytest.raises(ValueError, match="argon2id"):
        auth.load_users(p)
    assert auth.load_users(tmp_path / "absent.toml") == {}


@settings(max_examples=15, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_hash_verifies_only_its_password(a, b):
    h = auth.hash_password(a)
    assert auth.verify_password(a, h)
    assert auth.verify_password(b, h) == (a == b)


def test_cli_add_user(tmp_path):
    path = tmp_path / "users.toml"
    out = subprocess.run([sys.executable, "-m", "recommender.auth", "add-user", "ann", "--role", "analyst",
                          "--password", "pw", "--file", str(path)], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert auth.authenticate(auth.load_users(path), "ann", "pw").role == "analyst"
    env = {**os.environ, "RECOMMENDER_USERS": str(tmp_path / "env.toml")}
    out = subprocess.run([sys.executable, "-m", "recommender.auth", "add-user", "sam", "--role", "staff",
                          "--password", "pw"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert auth.load_users(tmp_path / "env.toml")["sam"].role == "staff"


# ------------------------------------------------------------------ hashing at current guidance

def _old_scrypt_hash(password: str) -> str:
    """A hash as earlier versions wrote it (scrypt n=2**14), made here independently of the module."""
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_stored_hash_meets_the_documented_parameters(tmp_path):
    from argon2 import Type, extract_parameters
    from argon2.low_level import ARGON2_VERSION

    path = tmp_path / "users.toml"
    auth.add_user(path, "ann", "merchandiser", "pw")
    stored = auth.load_users(path)["ann"].password_hash
    params = extract_parameters(stored)
    assert params.type is Type.ID and params.version == ARGON2_VERSION
    # OWASP Password Storage Cheat Sheet, argon2id: at least 19 MiB, 2 iterations, 1 lane.
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism >= 1
    assert (params.memory_cost, params.time_cost, params.parallelism) == (
        auth.ARGON2["memory_cost"], auth.ARGON2["time_cost"], auth.ARGON2["parallelism"])
    assert params.salt_len >= 16 and params.hash_len >= 32
    assert not auth.needs_rehash(stored)


@pytest.mark.parametrize("old", ["scrypt", "weak-argon2"])
def test_old_hash_signs_in_and_is_upgraded_on_that_sign_in(tmp_path, old):
    from argon2 import PasswordHasher

    stored = (_old_scrypt_hash("pw") if old == "scrypt"
              else PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw"))
    path = tmp_path / "users.toml"
    auth.save_users(path, {"ann": auth.User("ann", "merchandiser", "Ann", stored)})
    assert auth.needs_rehash(stored)
    assert auth.sign_in_user(path, "ann", "wrong") is None
    assert auth.load_users(path)["ann"].password_hash == stored  # a failure changes nothing
    user = auth.sign_in_user(path, "ann", "pw")
    assert user is not None and user.role == "merchandiser"
    new = auth.load_users(path)["ann"].password_hash
    assert new != stored and new.startswith("$argon2id$") and not auth.needs_rehash(new)
    assert auth.load_users(path)["ann"].display_name == "Ann"
    assert auth.sign_in_user(path, "ann", "pw") is not None  # and the new hash works


def test_unknown_and_known_names_cost_the_same_hash_computations(tmp_path, monkeypatch):
    path = tmp_path / "users.toml"
    auth.add_user(path, "ann", "merchandiser", "pw")
    users = auth.load_users(path)
    users["old"] = auth.User("old", "staff", "", _old_scrypt_hash("pw"))
    calls = {"verify": 0, "hash": 0}
    real_verify, real_hash = auth._verify_hash, auth.hash_password

    def counting_verify(*a):
        calls["verify"] += 1
        return real_verify(*a)

    def counting_hash(*a):
        calls["hash"] += 1
        return real_hash(*a)

    monkeypatch.setattr(auth, "_verify_hash", counting_verify)
    monkeypatch.setattr(auth, "hash_password", counting_hash)
    auth._dummy_hash.cache_clear()

    def cost(name, password):
        before = dict(calls)
        auth.authenticate(users, name, password)
        return calls["verify"] - before["verify"], calls["hash"] - before["hash"]

    first_unknown = cost("nobody", "pw")
    assert first_unknown == (1, 1)  # one check, against the dummy hash made on first need
    unknown = cost("nobody-else", "pw")
    known_wrong = cost("ann", "wrong")
    old_wrong = cost("old", "wrong")
    assert unknown == known_wrong == old_wrong == (1, 0)
    assert cost("nobody", "pw") == (1, 0)  # the dummy hash is made once, never again
    assert calls["hash"] == 1


HOSTILE_NAMES = ['Ann "the boss" Li', "two\nlines", "back\\slash", "李安", "🙂 emoji", "tab\tand\rcr",
                 ']] [users.eve]\nrole = "merchandiser"', "'''", '"""', "\\u0000 not an escape"]


def test_users_file_round_trips_hostile_display_names(tmp_path):
    path = tmp_path / "users.toml"
    for i, name in enumerate(HOSTILE_NAMES):
        auth.add_user(path, f"u{i}", "staff", "pw", name)
    users = auth.load_users(path)
    assert set(users) == {f"u{i}" for i in range(len(HOSTILE_NAMES))}  # no user was injected
    assert [users[f"u{i}"].display_name for i in range(len(HOSTILE_NAMES))] == HOSTILE_NAMES
    assert {u.role for u in users.values()} == {"staff"}
    assert not list(tmp_path.glob(".users.toml.*"))  # the atomic write left no temporary file


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=40))
def test_any_display_name_round_trips(display):
    import tomllib

    users = {"ann": auth.User("ann", "staff", display, "$argon2id$v=19$m=19456,t=2,p=1$x$y")}
    back = tomllib.loads(auth.dumps_users(users))["users"]["ann"]
    assert back.get("name", "") == display


# ------------------------------------------------------------------ one source of truth for roles

def test_pages_cli_and_decision_log_refuse_the_same_roles(tmp_path):
    from recommender import decisions
    from recommender.dashboard import PAGES

    page_perm = {url: perm for _, _, _, url, perm in PAGES}
    for role in auth.PERMISSIONS:
        may_approve = auth.can(role, "approve")
        try:
            decisions.record(tmp_path / "d.sqlite", "b1", items=["a", "b"], action="approve", user="u", role=role)
            logged = True
        except decisions.NotAllowed:
            logged = False
        assert logged == may_approve, role
        assert (role in decisions.WRITE_ROLES) == may_approve
        offered = {url for url, perm in page_perm.items() if auth.can(role, perm)}
        assert ("mining" in offered) == auth.can(role, "mine")
    # the CLI refuses a role the table does not give a users file, and lists the table's roles
    out = subprocess.run([sys.executable, "-m", "recommender.auth", "add-user", "x", "--role", "local",
                          "--password", "pw", "--file", str(tmp_path / "u.toml")], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 2 and all(r in out.stderr for r in auth.ROLES)
    assert set(auth.ROLES) == set(auth.PERMISSIONS) - {"local"}


def test_read_only_users_file_still_signs_in_with_an_old_hash(tmp_path, monkeypatch):
    path = tmp_path / "users.toml"
    auth.save_users(path, {"ann": auth.User("ann", "staff", "", _old_scrypt_hash("pw"))})

    def read_only(*a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(auth, "save_users", read_only)
    assert auth.sign_in_user(path, "ann", "pw").name == "ann"  # the upgrade waits; the sign-in does not fail
    assert auth.load_users(path)["ann"].password_hash.startswith("scrypt$")
