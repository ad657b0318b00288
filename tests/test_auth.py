"""Users file, scrypt password hashes, roles and the add-user command."""

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
    with pytest.raises(ValueError, match="scrypt"):
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
