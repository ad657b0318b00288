"""Who may come in, how often they may try, how long a session lasts, and the record of it.

In: a client address (what ``st.context.ip_address`` gives), a user name and a
password, a clock. Out: decisions the dashboard applies, and an audit log.

- :func:`is_local_client`: demo mode (no users file) is served only to the
  machine itself. Streamlit reports a loopback client as ``None``; anything else
  that is not a loopback address is refused, whatever address the server binds.
- :class:`Throttle`: after :data:`MAX_FAILURES` failed sign-ins for a user name
  *or* from a client address, further tries for that name or from that client
  wait 30 s, doubling up to 15 min; failures older than 15 min are forgotten.
  A throttled try computes no hash and is refused.
- :func:`session_expired`: a signed-in session ends after :data:`IDLE_MINUTES`
  without a page run (``RECOMMENDER_IDLE_MINUTES`` changes it).
- :class:`AuditLog`: one JSON object per line (``DATA_DIR/audit.log``, or
  ``RECOMMENDER_AUDIT_LOG``) for sign-ins, failures, throttled tries, expired
  sessions, demo refusals and role denials. It refuses any field named like a
  password, so a password can never reach it.
- :func:`sign_in`: the above around :func:`recommender.auth.sign_in_user`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import threading
import time
from pathlib import Path

from recommender import auth

#: Failed sign-ins (per user name, and per client address) before tries are slowed down.
MAX_FAILURES = 5
#: First wait after MAX_FAILURES failures, in seconds; doubles with each further failure.
BASE_DELAY = 30.0
#: Longest wait, and how long a failure is remembered, in seconds.
MAX_DELAY = 15 * 60.0
#: Idle minutes after which a signed-in session must sign in again (``RECOMMENDER_IDLE_MINUTES``).
IDLE_MINUTES = 30.0


def is_local_client(address: str | None) -> bool:
    """Whether a client address is the machine itself (``None`` is how Streamlit reports loopback).

    >>> [is_local_client(a) for a in (None, "127.0.0.1", "::1", "127.0.0.2", "192.168.1.20", "::ffff:10.0.0.1", "x")]
    [True, True, True, True, False, False, False]
    """
    if address is None:
        return True
    try:
        ip = ipaddress.ip_address(str(address).split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def demo_allowed(address: str | None) -> bool:
    """Demo mode (no users file, everyone may do everything) is for a local client only."""
    return is_local_client(address)


def idle_seconds() -> float:
    """The idle limit in seconds: ``RECOMMENDER_IDLE_MINUTES`` (default :data:`IDLE_MINUTES`)."""
    try:
        minutes = float(os.environ.get("RECOMMENDER_IDLE_MINUTES", IDLE_MINUTES))
    except ValueError:
        minutes = IDLE_MINUTES
    return max(minutes, 0.0) * 60.0


def session_expired(last_seen: float | None, now: float, limit: float | None = None) -> bool:
    """Whether a session last seen at ``last_seen`` (seconds) has been idle longer than ``limit``.

    >>> session_expired(0.0, 1799.0, 1800.0), session_expired(0.0, 1801.0, 1800.0), session_expired(None, 5.0, 1.0)
    (False, True, False)
    """
    if last_seen is None:
        return False
    return now - last_seen > (idle_seconds() if limit is None else limit)


class Throttle:
    """Failed sign-ins per key (``("user", name)``, ``("client", address)``) and the wait they impose.

    >>> clock = [0.0]
    >>> th = Throttle(max_failures=2, base_delay=10, clock=lambda: clock[0])
    >>> for _ in range(2): th.failed(("user", "ann"))
    >>> th.retry_after(("user", "ann")), th.retry_after(("user", "bob"))
    (10.0, 0.0)
    >>> clock[0] = 10.5; th.retry_after(("user", "ann"))
    0.0
    """

    def __init__(self, max_failures: int = MAX_FAILURES, base_delay: float = BASE_DELAY,
                 max_delay: float = MAX_DELAY, clock=time.monotonic):
        self.max_failures = max_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self._failures: dict = {}
        self._lock = threading.Lock()

    def _recent(self, key, now: float) -> list:
        times = [t for t in self._failures.get(key, []) if now - t < self.max_delay]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, *keys) -> float:
        """Seconds to wait before another try for any of ``keys`` (0: go ahead)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                extra = len(times) - self.max_failures
                if extra >= 0:
                    delay = min(self.base_delay * 2 ** extra, self.max_delay)
                    wait = max(wait, times[-1] + delay - now)
        return max(wait, 0.0)

    def failed(self, *keys) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now)
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, *keys) -> None:
        """Forget the failures of ``keys`` (the user's name; never the client, which may be guessing others)."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def audit_path(data_dir) -> Path:
    """``RECOMMENDER_AUDIT_LOG`` if set, else ``data_dir/audit.log``."""
    env = os.environ.get("RECOMMENDER_AUDIT_LOG")
    return Path(env) if env else Path(data_dir) / "audit.log"


class AuditLog:
    """Append-only JSON lines: ``{"at": UTC ISO time, "event": ..., fields...}``; never a password.

    >>> import tempfile, os
    >>> log = AuditLog(os.path.join(tempfile.mkdtemp(), "audit.log"))
    >>> log.write("sign_in", user="ann", client="127.0.0.1")
    >>> [(e["event"], e["user"]) for e in log.read()]
    [('sign_in', 'ann')]
    """

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, event: str, **fields) -> None:
        if any("pass" in k.lower() or "secret" in k.lower() for k in fields):
            raise ValueError("the audit log never holds a password")
        entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "event": event, **fields}
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            # One write on an O_APPEND descriptor: lines from several processes never interleave.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def read(self) -> list:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()]


def sign_in(users_file, name: str, password: str, *, client: str | None, throttle: Throttle,
            audit: AuditLog) -> tuple:
    """One sign-in try: ``(user or None, wait_seconds)``; throttled, audited, old hashes upgraded.

    ``wait_seconds`` > 0 means the try was refused unchecked because of earlier failures.
    """
    name = (name or "").strip()
    client = client or "local"
    keys = (("user", name), ("client", client))
    wait = throttle.retry_after(*keys)
    if wait > 0:
        audit.write("sign_in_throttled", user=name, client=client, wait_s=round(wait, 1))
        return None, wait
    user = auth.sign_in_user(users_file, name, password)
    if user is None:
        throttle.failed(*keys)
        audit.write("sign_in_failed", user=name, client=client)
        return None, 0.0
    throttle.succeeded(("user", name))
    audit.write("sign_in", user=user.name, role=user.role, client=client)
    return user, 0.0
