"""Dashboard users, hashed passwords and roles: the one table of who may do what.

In: a TOML users file (``RECOMMENDER_USERS``, else ``DATA_DIR/users.toml``; see
``data/users.example.toml``)::

    [users.ann]
    role = "merchandiser"          # merchandiser | analyst | staff
    name = "Ann Li"                # optional display name, any text
    password = "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"

Out: :class:`User` objects, :func:`authenticate` and :func:`can` (what a role
may do; the pages, the CLI and the decision log all ask :func:`can`).

Passwords are hashed with argon2id (``argon2-cffi``) at the OWASP Password
Storage Cheat Sheet's parameters: 19 MiB of memory, 2 iterations, 1 lane,
16-byte random salt, 32-byte hash (:data:`ARGON2`). The stored string carries
its parameters, so a hash made with weaker ones (or with the scrypt scheme of
earlier versions, ``scrypt$n$r$p$salt$hash``) still verifies and is replaced by
a current one at the user's next successful sign-in (:func:`needs_rehash`,
:func:`sign_in_user`). A sign-in costs exactly one hash computation whether
or not the name exists: unknown names are checked against a dummy hash made
once per process, so neither time nor work reveals which names exist.

The file is written with ``tomli-w`` (any display name round-trips: quotes,
newlines, Chinese, emoji) atomically and with mode 0600; it never holds a
password. With no users file the dashboard runs in demo mode: one local user
(role ``local``) who may do everything, on the machine itself only (see
:mod:`recommender.access`).

Command line::

    python -m recommender.auth add-user NAME --role ROLE [--password PW] [--file PATH]
"""

from __future__ import annotations

import argparse
import base64
import functools
import getpass
import hashlib
import hmac
import os
import re
import secrets
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import tomli_w
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from recommender.atomic import atomic_write_bytes

#: What each role may do: the only role table. ``local`` is the single user of demo mode (no users file).
#: explore: see runs and bundles; price: change a bundle's offer; approve: approve/reject/reset bundles;
#: export: staff lists and till files; mine: re-run mining.
PERMISSIONS = {
    "merchandiser": frozenset({"explore", "price", "approve", "export"}),
    "analyst": frozenset({"explore", "mine", "export"}),
    "staff": frozenset({"export"}),
    "local": frozenset({"explore", "price", "approve", "export", "mine"}),
}
#: Roles a users file may give (``local`` is never in a file).
ROLES = tuple(r for r in PERMISSIONS if r != "local")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

#: argon2id parameters (OWASP Password Storage Cheat Sheet, second listed option): memory in KiB.
ARGON2 = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1, "hash_len": 32, "salt_len": 16}
_HASHER = PasswordHasher(type=Type.ID, **ARGON2)
#: scrypt hashes of earlier versions are still verified (then upgraded); parameters above this are refused.
_SCRYPT_MAXMEM = 256 * 1024 * 1024
_SCHEMES = ("$argon2id$", "scrypt$")


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


def roles_with(permission: str) -> tuple:
    """Every role (``local`` included) that may do ``permission``.

    >>> roles_with("approve")
    ('merchandiser', 'local')
    """
    return tuple(r for r in PERMISSIONS if can(r, permission))


def users_path(data_dir) -> Path:
    """``RECOMMENDER_USERS`` if set, else ``data_dir/users.toml``."""
    env = os.environ.get("RECOMMENDER_USERS")
    return Path(env) if env else Path(data_dir) / "users.toml"


def hash_password(password: str) -> str:
    """Return an argon2id hash string of ``password`` (random salt, :data:`ARGON2` parameters, carried inside).

    >>> h = hash_password("secret")
    >>> h.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), verify_password("secret", h), verify_password("Secret", h)
    (True, True, False)
    """
    if not password:
        raise ValueError("the password is empty")
    return _HASHER.hash(password)


def _scrypt_verify(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    want = base64.b64decode(digest)
    got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), dklen=len(want),
                         n=int(n), r=int(r), p=int(p), maxmem=_SCRYPT_MAXMEM)
    return hmac.compare_digest(got, want)


def _verify_hash(password: str, stored: str) -> bool:
    """The one place a password is hashed to be checked: exactly one hash computation per call."""
    try:
        if stored.startswith("scrypt$"):
            return _scrypt_verify(password, stored)
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError, TypeError):
        return False


def verify_password(password: str, stored: str) -> bool:
    """Check ``password`` against a stored hash (argon2id, or scrypt of earlier versions), in constant time."""
    return _verify_hash(password or "", str(stored or ""))


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash is weaker than (or different from) the current :data:`ARGON2` parameters.

    >>> needs_rehash(hash_password("pw")), needs_rehash("scrypt$16384$8$1$c2FsdA==$aGFzaA==")
    (False, True)
    """
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random password, made once per process, that unknown names are checked against."""
    return hash_password(secrets.token_urlsafe(16))


def load_users(path) -> dict:
    """Read the users file into ``{name: User}``; an absent file gives ``{}`` (demo mode).

    Raises ValueError on an unknown role, a bad name, a missing password hash or invalid TOML.
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    out = {}
    for name, entry in (data.get("users") or {}).items():
        if not _NAME.match(name):
            raise ValueError(f"{path}: bad user name {name!r} (letters, digits, _ . - only)")
        role = entry.get("role")
        if role not in ROLES:
            raise ValueError(f"{path}: user {name!r} has role {role!r}; roles: {', '.join(ROLES)}")
        if not str(entry.get("password", "")).startswith(_SCHEMES):
            raise ValueError(f"{path}: user {name!r} has no argon2id (or scrypt) password hash; "
                             "set it with python -m recommender.auth add-user")
        out[name] = User(name=name, role=role, display_name=str(entry.get("name", "")),
                         password_hash=entry["password"])
    return out


def authenticate(users: dict, name: str, password: str) -> User | None:
    """The user when the password matches, else None; always exactly one hash computation.

    An unknown name is checked against :func:`_dummy_hash`, so it costs what a
    known name with a wrong password costs.
    """
    user = users.get(name)
    stored = user.password_hash if user is not None else _dummy_hash()
    ok = verify_password(password or "", stored)
    return user if ok and user is not None else None


def dumps_users(users: dict) -> str:
    """The TOML text of ``{name: User}`` (what :func:`load_users` reads), written by ``tomli-w``.

    >>> text = dumps_users({"ann": User("ann", "staff", 'A "q"\\n李', "$argon2id$x")})
    >>> tomllib.loads(text)["users"]["ann"]["name"]
    'A "q"\\n李'
    """
    table = {}
    for name in sorted(users):
        u = users[name]
        entry = {"role": u.role}
        if u.display_name:
            entry["name"] = u.display_name
        entry["password"] = u.password_hash
        table[name] = entry
    header = "# Dashboard users: python -m recommender.auth add-user NAME --role ROLE\n\n"
    return header + tomli_w.dumps({"users": table})


def save_users(path, users: dict) -> Path:
    """Write ``{name: User}`` to ``path`` atomically with mode 0600; return the path."""
    out = atomic_write_bytes(path, dumps_users(users).encode("utf-8"))
    os.chmod(out, 0o600)
    return out


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
    save_users(path, users)
    return user


def sign_in_user(path, name: str, password: str) -> User | None:
    """Check a sign-in against the users file at ``path``; upgrade an old hash on success.

    One hash computation for a failure (known or unknown name). On success with a
    hash made by weaker parameters (or scrypt) the password is hashed again with
    :data:`ARGON2` and the file rewritten atomically, so old hashes fade out.
    """
    users = load_users(path)
    user = authenticate(users, name, password)
    if user is not None and needs_rehash(user.password_hash):
        user = replace(user, password_hash=hash_password(password))
        try:
            fresh = load_users(path)  # re-read: another session may have changed the file meanwhile
            if name in fresh:
                fresh[name] = replace(fresh[name], password_hash=user.password_hash)
                save_users(path, fresh)
        except (OSError, ValueError):
            pass  # a read-only users file keeps the old hash, which still signs in; the upgrade waits
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
