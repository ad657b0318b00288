"""Dashboard users, hashed passwords and roles.

In: a TOML users file (``RECOMMENDER_USERS``, else ``DATA_DIR/users.toml``; see
``data/users.example.toml``)::

    [users.ann]
    role = "merchandiser"          # merchandiser | analyst | staff
    name = "Ann Li"                # optional display name
    password = "scrypt$16384$8$1$<salt b64>$<hash b64>"

Out: :class:`User` objects, :func:`authenticate` and :func:`can` (what a role
may do). Passwords are hashed with the standard library's ``hashlib.scrypt``
(random 16-byte salt, n=2**14, r=8, p=1) and compared in constant time; the
file never holds a password. With no users file the dashboard runs in demo
mode: one local user (role ``local``) who may do everything.

Command line::

    python -m recommender.auth add-user NAME --role ROLE [--password PW] [--file PATH]
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from recommender.atomic import atomic_write_text

#: What each role may do. ``local`` is the single user of demo mode (no users file).
PERMISSIONS = {
    "merchandiser": frozenset({"explore", "price", "approve", "export"}),
    "analyst": frozenset({"explore", "mine", "export"}),
    "staff": frozenset({"export"}),
    "local": frozenset({"explore", "price", "approve", "export", "mine"}),
}
ROLES = ("merchandiser", "analyst", "staff")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


@dataclass(frozen=True)
class User:
    """A signed-in (or local demo) user."""

    name: str
    role: str
    display_name: str = ""
    password_hash: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.name


LOCAL_USER = User(name="local", role="local", display_name="local user (demo mode)")


def can(role: str, permission: str) -> bool:
    """Whether ``role`` may do ``permission`` (explore, price, approve, export, mine).

    >>> can("staff", "approve"), can("staff", "export"), can("merchandiser", "approve"), can("analyst", "mine")
    (False, True, True, True)
    """
    return permission in PERMISSIONS.get(role, frozenset())


def users_path(data_dir) -> Path:
    """``RECOMMENDER_USERS`` if set, else ``data_dir/users.toml``."""
    env = os.environ.get("RECOMMENDER_USERS")
    return Path(env) if env else Path(data_dir) / "users.toml"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Return ``scrypt$n$r$p$salt$hash`` for ``password`` (random salt unless given).

    >>> h = hash_password("secret", salt=b"0" * 16)
    >>> h.split("$")[:4], verify_password("secret", h), verify_password("Secret", h)
    (['scrypt', '16384', '8', '1'], True, False)
    """
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a :func:`hash_password` string, in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), dklen=len(want),
                             n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def load_users(path) -> dict:
    """Read the users file into ``{name: User}``; an absent file gives ``{}`` (demo mode).

    Raises ValueError on an unknown role, a bad name or a missing password hash.
    """
    path = Path(path)
    if not path.exists():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    out = {}
    for name, entry in (data.get("users") or {}).items():
        if not _NAME.match(name):
            raise ValueError(f"{path}: bad user name {name!r} (letters, digits, _ . - only)")
        role = entry.get("role")
        if role not in ROLES:
            raise ValueError(f"{path}: user {name!r} has role {role!r}; roles: {', '.join(ROLES)}")
        if not str(entry.get("password", "")).startswith("scrypt$"):
            raise ValueError(f"{path}: user {name!r} has no scrypt password hash; "
                             "set it with python -m recommender.auth add-user")
        out[name] = User(name=name, role=role, display_name=str(entry.get("name", "")),
                         password_hash=entry["password"])
    return out


def authenticate(users: dict, name: str, password: str) -> User | None:
    """The user when the password matches, else None (also for unknown names, after the same work)."""
    user = users.get(name)
    if user is None:
        # Spend the same time as for a real user so that timing does not reveal names.
        verify_password(password or "x", hash_password("x", salt=b"\0" * 16))
        return None
    return user if verify_password(password or "", user.password_hash) else None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dumps_users(users: dict) -> str:
    """The TOML text of ``{name: User}`` (what :func:`load_users` reads)."""
    parts = ["# Dashboard users: python -m recommender.auth add-user NAME --role ROLE\n"]
    for name in sorted(users):
        u = users[name]
        parts.append(f"\n[users.{_quote(name)}]\nrole = {_quote(u.role)}\n")
        if u.display_name:
            parts.append(f"name = {_quote(u.display_name)}\n")
        parts.append(f"password = {_quote(u.password_hash)}\n")
    return "".join(parts)


def add_user(path, name: str, role: str, password: str, display_name: str = "") -> User:
    """Add (or replace) a user in the users file, creating it; the file is written atomically, mode 0600.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "users.toml")
    >>> _ = add_user(p, "ann", "merchandiser", "pw")
    >>> authenticate(load_users(p), "ann", "pw").role
    'merchandiser'
    """
    if not _NAME.match(name or ""):
        raise ValueError(f"bad user name {name!r} (letters, digits, _ . - only)")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    users = load_users(path)
    user = User(name=name, role=role, display_name=display_name, password_hash=hash_password(password))
    users[name] = user
    out = atomic_write_text(path, dumps_users(users))
    os.chmod(out, 0o600)
    return user


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recommender.auth", description="Manage dashboard users.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="add or replace a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password", help="for scripts; otherwise you are asked (not echoed)")
    add.add_argument("--display-name", default="")
    add.add_argument("--file", help="users file (default: $RECOMMENDER_USERS or DATA_DIR/users.toml)")
    args = parser.parse_args(argv)
    if args.file:
        path = Path(args.file)
    else:
        data = os.environ.get("RECOMMENDER_DATA_DIR") or Path(__file__).resolve().parents[1] / "data"
        path = users_path(data)
    password = args.password
    if password is None:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("the passwords differ; nothing written", file=sys.stderr)
            return 2
    try:
        add_user(path, args.name, args.role, password, args.display_name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name} ({args.role}) written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
