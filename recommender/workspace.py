"""A user's working data: safe uploads and the active dataset, stored beside the decisions.

In: a user name, uploaded bytes (a file-like object), the column mapping
chosen on the Data page, the run mined from it. Out: upload files under
``DATA_DIR/uploads/<user>/<sha256>/<name>`` and two SQLite tables in the
decisions database, so every page, every reload and every sign-in reads the
same choice from one place::

    uploads(user, sha256, name, kind, path, bytes, created_at, used_at)
    workspace(user PRIMARY KEY, label, receipts, catalog, mapping (JSON), run, updated_at)

Safe uploads: a file is stored under its content hash in a folder of its
user's own, written to a temporary name and renamed into place, so two users
(or two tabs) sending ``receipts.csv`` at once never overwrite each other and a
file being read is never replaced. A per-user quota (``RECOMMENDER_UPLOAD_QUOTA_MB``,
default 2048) bounds the disk; :func:`cleanup` removes uploads that are neither
any user's active data nor the input of a run folder and were last used more
than ``RECOMMENDER_UPLOAD_KEEP_DAYS`` (default 30) days ago, oldest first, and
makes room for a new upload the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from recommender.errors import InputError

__all__ = ["Active", "UploadTooLarge", "store_upload", "list_uploads", "get_active", "set_active", "cleanup",
           "run_name_for", "safe_name", "DEFAULT_QUOTA_MB", "DEFAULT_KEEP_DAYS"]

DEFAULT_QUOTA_MB = 2048
DEFAULT_KEEP_DAYS = 30
_CHUNK = 8 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    user TEXT NOT NULL, sha256 TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL,
    bytes INTEGER NOT NULL, created_at TEXT NOT NULL, used_at TEXT NOT NULL,
    PRIMARY KEY (user, sha256, name)
);
CREATE TABLE IF NOT EXISTS workspace (
    user TEXT PRIMARY KEY, label TEXT, receipts TEXT, catalog TEXT, mapping TEXT NOT NULL DEFAULT '{}',
    run TEXT, updated_at TEXT NOT NULL
);
"""


class UploadTooLarge(InputError):
    """An upload that does not fit in the user's quota even after the cleanup."""


@dataclass(frozen=True)
class Active:
    """The active dataset of one user: what every page works on."""

    label: str
    receipts: str | None = None
    catalog: str | None = None
    mapping: dict = field(default_factory=dict)
    run: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@contextmanager
def _connect(db):
    db = Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout = 10000")
        con.execute("PRAGMA journal_mode = WAL")
        con.executescript(_SCHEMA)
        yield con
    finally:
        con.close()


def safe_name(text: str, fallback: str = "data") -> str:
    """A file or folder name from any text: letters of every script kept, the rest folded to ``-``.

    >>> safe_name("销售 2024年.csv")
    '销售-2024年.csv'
    >>> safe_name("../../etc/passwd")
    'passwd'
    >>> safe_name("???")
    'data'
    """
    base = Path(str(text).replace("\\", "/")).name
    out = re.sub(r"[^\w.\-]+", "-", base, flags=re.UNICODE).strip("-.")
    return out[:80] or fallback


def run_name_for(data_name: str, level: str = "sku") -> str:
    """The default run name for a dataset: its file name without extensions, then the level.

    >>> run_name_for("online_retail.csv.gz", "sku")
    'online_retail-sku'
    >>> run_name_for("门店小票.csv", "sku")
    '门店小票-sku'
    """
    stem = Path(str(data_name)).name
    for ext in (".gz", ".zip", ".bz2", ".xz", ".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    return safe_name(f"{safe_name(stem)}-{level}")


def _user_dir(root, user: str) -> Path:
    # the user's name may hold anything; a short hash keeps folders apart and unguessable from outside
    tag = hashlib.sha256(str(user).encode("utf-8")).hexdigest()[:12]
    return Path(root) / "uploads" / f"{safe_name(user, 'user')[:32]}-{tag}"


def _quota_bytes(quota_mb) -> int:
    mb = quota_mb if quota_mb is not None else float(os.environ.get("RECOMMENDER_UPLOAD_QUOTA_MB", DEFAULT_QUOTA_MB))
    return int(float(mb) * (1 << 20))


def store_upload(root, db, user: str, name: str, fileobj, *, kind: str = "receipts", quota_mb=None) -> Path:
    """Store an uploaded file for ``user`` under its content hash; return its path.

    The bytes are streamed to a temporary file in the user's folder while being
    hashed, then renamed to ``<sha256>/<name>``. The same content uploaded again
    is the same file (nothing rewritten). When the user's uploads would pass the
    quota, :func:`cleanup` first frees unused ones; if that is not enough the
    upload is refused with :class:`UploadTooLarge` and nothing is kept.

    >>> import io, tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> p = store_upload(root, root / "db.sqlite", "ann", "r.csv", io.BytesIO(b"a,b\\n1,2\\n"))
    >>> p.read_bytes(), p.name, p.parent.name[:8]
    (b'a,b\\n1,2\\n', 'r.csv', '492d5ea4')
    """
    folder = _user_dir(root, user)
    folder.mkdir(parents=True, exist_ok=True)
    quota = _quota_bytes(quota_mb)
    digest, size = hashlib.sha256(), 0
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: fileobj.read(_CHUNK), b""):
                size += len(chunk)
                if size > quota:
                    raise UploadTooLarge(f"the file is larger than the upload quota of {quota >> 20:,} MB",
                                         path=name, hint="upload a smaller extract or ask for a larger quota")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        target = folder / sha / safe_name(name, "upload")
        if not target.exists():
            used = sum(u["bytes"] for u in list_uploads(db, user))
            if used + size > quota:
                cleanup(root, db, user=user, need_bytes=used + size - quota)
                used = sum(u["bytes"] for u in list_uploads(db, user))
                if used + size > quota:
                    raise UploadTooLarge(
                        f"{size >> 20:,} MB more would pass the upload quota of {quota >> 20:,} MB "
                        f"({used >> 20:,} MB in use)", path=name,
                        hint="choose an older upload on the Data page or remove runs you no longer need")
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)  # a new content hash: nothing reads this path yet
        else:
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    now = _now()
    with _connect(db) as con:
        con.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user, sha256, name) "
                    "DO UPDATE SET used_at = excluded.used_at, kind = excluded.kind",
                    (user, sha, target.name, kind, str(target), size, now, now))
    return target


def list_uploads(db, user: str, kind: str | None = None) -> list[dict]:
    """The user's stored uploads that still exist, newest use first."""
    with _connect(db) as con:
        rows = con.execute("SELECT sha256, name, kind, path, bytes, created_at, used_at FROM uploads "
                           "WHERE user = ? ORDER BY used_at DESC", (user,)).fetchall()
    keys = ("sha256", "name", "kind", "path", "bytes", "created_at", "used_at")
    out = [dict(zip(keys, r)) for r in rows if Path(r[3]).exists()]
    return [u for u in out if kind is None or u["kind"] == kind]


def get_active(db, user: str) -> Active | None:
    """The user's active dataset, or None when they never chose one."""
    with _connect(db) as con:
        row = con.execute("SELECT label, receipts, catalog, mapping, run FROM workspace WHERE user = ?",
                          (user,)).fetchone()
    if row is None:
        return None
    return Active(label=row[0], receipts=row[1], catalog=row[2], mapping=json.loads(row[3] or "{}"), run=row[4])


def set_active(db, user: str, **changes) -> Active:
    """Change fields of the user's active dataset (``label``, ``receipts``, ``catalog``, ``mapping``, ``run``).

    >>> import tempfile
    >>> db = Path(tempfile.mkdtemp()) / "db.sqlite"
    >>> set_active(db, "ann", label="shop.csv", receipts="/x/shop.csv", mapping={"sku": "Code"}).mapping
    {'sku': 'Code'}
    >>> get_active(db, "ann").label, set_active(db, "ann", run="shop-sku").run
    ('shop.csv', 'shop-sku')
    """
    unknown = set(changes) - {"label", "receipts", "catalog", "mapping", "run"}
    if unknown:
        raise TypeError(f"unknown workspace fields: {sorted(unknown)}")
    with _connect(db) as con:
        con.execute("BEGIN IMMEDIATE")
        row = con.execute("SELECT label, receipts, catalog, mapping, run FROM workspace WHERE user = ?",
                          (user,)).fetchone()
        cur = dict(zip(("label", "receipts", "catalog", "mapping", "run"), row)) if row else {"mapping": "{}"}
        if "mapping" in changes:
            changes["mapping"] = json.dumps(changes["mapping"] or {}, ensure_ascii=False, sort_keys=True)
        cur.update(changes)
        con.execute("INSERT OR REPLACE INTO workspace VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (user, cur.get("label"), cur.get("receipts"), cur.get("catalog"), cur.get("mapping") or "{}",
                     cur.get("run"), _now()))
        for path in (cur.get("receipts"), cur.get("catalog")):
            if path:
                con.execute("UPDATE uploads SET used_at = ? WHERE path = ?", (_now(), path))
        con.execute("COMMIT")
    return get_active(db, user)


def _in_use(root, con) -> set[str]:
    """Paths no cleanup may remove: any user's active data and the input of any run folder."""
    used = {p for row in con.execute("SELECT receipts, catalog FROM workspace") for p in row if p}
    runs = Path(root) / "runs"
    if runs.is_dir():
        for manifest in runs.glob("*/manifest.json"):
            try:
                inp = json.loads(manifest.read_text(encoding="utf-8")).get("input", {})
            except (OSError, ValueError):
                continue
            used |= {str(inp[k]) for k in ("path", "catalog") if inp.get(k)}
    return used


def cleanup(root, db, *, user: str | None = None, keep_days: float | None = None, need_bytes: int = 0,
            now: dt.datetime | None = None) -> list[str]:
    """Remove unused uploads; return the removed paths.

    An upload is removed when it is not in use (see above) and either was last
    used more than ``keep_days`` ago, or space is needed (``need_bytes`` for
    ``user``): then the least recently used go first until enough is freed.
    """
    keep = float(os.environ.get("RECOMMENDER_UPLOAD_KEEP_DAYS", DEFAULT_KEEP_DAYS)) if keep_days is None else keep_days
    now = now or dt.datetime.now(dt.timezone.utc)
    removed = []
    with _connect(db) as con:
        con.execute("BEGIN IMMEDIATE")
        in_use = _in_use(root, con)
        sql = "SELECT user, sha256, name, path, bytes, used_at FROM uploads"
        rows = con.execute(sql + (" WHERE user = ?" if user else "") + " ORDER BY used_at",
                           (user,) if user else ()).fetchall()
        freed = 0
        for u, sha, name, path, size, used_at in rows:
            old = now - dt.datetime.fromisoformat(used_at) > dt.timedelta(days=keep)
            if path in in_use or not (old or freed < need_bytes):
                continue
            Path(path).unlink(missing_ok=True)
            try:
                Path(path).parent.rmdir()
            except OSError:
                pass
            con.execute("DELETE FROM uploads WHERE user = ? AND sha256 = ? AND name = ?", (u, sha, name))
            removed.append(path)
            freed += size
        con.execute("COMMIT")
    return removed
