"""Basket suggestions over HTTP, for tills and web shops.

In: a run folder (and the receipts / catalog its manifest names). Out: a
Starlette ASGI app, served by uvicorn with ``recommender serve RUN_DIR``:

``GET /suggest?basket=A,B&k=5[&store=S][&customer=C][&rank_by=margin]``
``POST /suggest`` with ``{"basket": [...], "k": 5, "store": ..., "customer": ..., "rank_by": ...}``
    The JSON of ``recommender suggest --json``: ``{"basket": [...], "suggestions": [...]}``.
``GET /health``
    ``{"status": "ok", "run": ..., "loaded_at": ..., ...}``.
``GET /bundles?store=S``
    The live offers: bundles of the run approved in the decisions database, for
    store ``S`` and chain-wide.

Bad requests get a 4xx with ``{"error": "..."}`` (400 unreadable JSON, 404,
405, 413 too large, 422 a value that cannot be used), never a 500.

The run is loaded once. Every :data:`CHECK_SECONDS` a request looks at the
run folder's files (size and modification time); when they changed, the run
is loaded again in a background thread and swapped in with one assignment, so
every request sees the old run or the new one, never half of one; a run that
fails to load is logged and the old one stays.

One log line per request (after the time, the worker's process id; then
method, path, status, basket size, k, store, milliseconds); never the query
string or a customer id.

With several workers on Linux, each worker process loads the run, then
listens on its own socket bound with ``SO_REUSEPORT``, and the kernel spreads
connections over them (:func:`serve`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from recommender.errors import InputError

__all__ = ["create_app", "RunHolder", "MAX_BASKET", "MAX_K", "CHECK_SECONDS"]

#: Largest basket accepted (a till receipt beyond this is not a basket in progress).
MAX_BASKET = 500
#: Largest number of suggestions per request.
MAX_K = 100
#: Largest request body in bytes.
MAX_BODY = 64 * 1024
#: How often (seconds) a request may look for a changed run folder.
CHECK_SECONDS = 1.0

log = logging.getLogger("recommender.serve")


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def _signature(folder: Path) -> tuple:
    """Names, sizes and modification times of the run folder's files: changes when a run is rewritten."""
    out = []
    try:
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                st = p.stat()
                out.append((p.name, st.st_size, st.st_mtime_ns))
    except FileNotFoundError:
        return ()
    return tuple(out)


class RunHolder:
    """The loaded run: a :class:`recommender.suggest.Recommender` and its bundles, replaced atomically on change."""

    def __init__(self, run_dir, receipts=None, catalog=None, db=None, check_seconds: float = CHECK_SECONDS):
        self.run_dir = Path(run_dir)
        self.receipts, self.catalog, self.db = receipts, catalog, db
        self.check_seconds = check_seconds
        self.reloads = 0
        self.reload_error: str | None = None
        self._lock = threading.Lock()
        self._loading = False
        self._checked = time.monotonic()
        self.state = self._load()

    def _load(self) -> dict:
        from recommender.cli import _run_inputs
        from recommender.suggest import Recommender

        signature = _signature(self.run_dir)
        run, lines, catalog = _run_inputs(self.run_dir, self.receipts, self.catalog)
        rec = Recommender.from_run(run, catalog=catalog, lines=lines)
        return {"rec": rec, "run": run, "signature": signature,
                "loaded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}

    def _reload(self):
        try:
            state = self._load()
            self.state = state  # one assignment: requests see the old run or the new one
            self.reloads += 1
            self.reload_error = None
            log.info("reloaded %s", self.run_dir)
        except Exception as exc:  # keep serving the old run
            self.reload_error = f"{type(exc).__name__}: {exc}"
            log.warning("reload of %s failed, still serving the previous run: %s", self.run_dir, self.reload_error)
        finally:
            self._loading = False

    def current(self) -> dict:
        """The state to answer with; starts a background reload when the folder changed."""
        now = time.monotonic()
        if now - self._checked >= self.check_seconds and not self._loading:
            with self._lock:
                if now - self._checked >= self.check_seconds and not self._loading:
                    self._checked = now
                    sig = _signature(self.run_dir)
                    if sig and sig != self.state["signature"] and (self.run_dir / "manifest.json").exists():
                        self._loading = True
                        threading.Thread(target=self._reload, daemon=True).start()
        return self.state

    def wait_reloaded(self, timeout: float = 60.0) -> bool:
        """For tests: poll until a started reload has finished."""
        end = time.monotonic() + timeout
        while self._loading and time.monotonic() < end:
            time.sleep(0.05)
        return not self._loading


# ---------------------------------------------------------------------- request parsing
def _parse_k(value) -> int:
    if value is None or value == "":
        return 5
    if isinstance(value, bool):
        raise BadRequest(f"k must be a whole number from 1 to {MAX_K}, not {value!r}")
    try:
        k = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        k = None
    if k is None or not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be a whole number from 1 to {MAX_K}, not {value!r}")
    return k


def _parse_basket(value) -> list[str]:
    if value is None:
        raise BadRequest("basket is missing: give the SKUs in the basket, e.g. basket=A,B")
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",")]
    elif isinstance(value, list) and all(isinstance(s, (str, int)) and not isinstance(s, bool) for s in value):
        items = [str(s).strip() for s in value]
    else:
        raise BadRequest("basket must be a list of SKU strings (POST) or comma-separated SKUs (GET)")
    items = list(dict.fromkeys(s for s in items if s))
    if not items:
        raise BadRequest("basket is empty: give at least one SKU")
    if len(items) > MAX_BASKET:
        raise BadRequest(f"basket has {len(items):,} items; at most {MAX_BASKET} are accepted", status=413)
    return items


def _parse_text(value, name: str):
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadRequest(f"{name} must be a string")
    return str(value)


def _parse_rank_by(value) -> str:
    if value in (None, ""):
        return "score"
    if value not in ("score", "margin"):
        raise BadRequest(f"rank_by must be 'score' or 'margin', not {value!r}")
    return value


# ---------------------------------------------------------------------- the app
def create_app(run_dir, receipts=None, catalog=None, db=None, check_seconds: float = CHECK_SECONDS):
    """The ASGI app serving ``run_dir`` (loaded now, once)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    import orjson
    from starlette.responses import JSONResponse as StarletteJSONResponse
    from starlette.routing import Route

    from recommender.suggest import suggest

    holder = RunHolder(run_dir, receipts, catalog, db, check_seconds)

    class JSONResponse(StarletteJSONResponse):
        """The same JSON value, encoded by orjson: 2 µs instead of 36 µs for a five-suggestion answer.

        Whatever orjson refuses (a numpy scalar, a key that is not a string) is
        encoded by the standard library as before.
        """

        def render(self, content) -> bytes:
            try:
                return orjson.dumps(content)
            except TypeError:
                return super().render(content)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def answer(params: dict, state: dict) -> dict:
        basket = _parse_basket(params.get("basket"))
        k = _parse_k(params.get("k"))
        store = _parse_text(params.get("store"), "store")
        customer = _parse_text(params.get("customer"), "customer")
        rank_by = _parse_rank_by(params.get("rank_by"))
        unknown = set(params) - {"basket", "k", "store", "customer", "rank_by"}
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(sorted(map(str, unknown)))}; "
                             "expected basket, k, store, customer, rank_by")
        params["_log"] = f"items={len(basket)} k={k} store={store or '-'}"
        return suggest(None, basket, k=k, customer=customer, store=store, rank_by=rank_by, recommender=state["rec"])

    async def suggest_endpoint(request: Request):
        state = holder.current()
        if request.method == "POST":
            body = await request.body()
            if len(body) > MAX_BODY:
                raise BadRequest(f"request body over {MAX_BODY:,} bytes", status=413)
            try:
                params = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadRequest(f"the body is not valid JSON: {exc}", status=400) from None
            if not isinstance(params, dict):
                raise BadRequest('the body must be a JSON object like {"basket": ["A", "B"], "k": 5}')
        else:
            params = {}
            for key, value in request.query_params.multi_items():
                if key in params:
                    raise BadRequest(f"{key} is given more than once")
                params[key] = value
        out = answer(params, state)
        request.state.log = params.get("_log", "")
        return JSONResponse(out)

    async def health(request: Request):
        state = holder.current()
        rec, run = state["rec"], state["run"]
        return JSONResponse({"status": "ok", "run": str(holder.run_dir), "created_at": run.manifest.get("created_at"),
                             "loaded_at": state["loaded_at"], "reloads": holder.reloads,
                             "reload_error": holder.reload_error, "level": rec.level, "n_items": len(rec.skus),
                             "n_rules": int(len(run.rules)),
                             "blend": None if rec.weights is None else
                             sorted(s for s, w in rec.weights.items() if w > 1e-4)})

    async def bundles(request: Request):
        from recommender import data_dir
        from recommender.decisions import apply_decisions, current, default_db_path

        state = holder.current()
        unknown = set(request.query_params) - {"store"}
        if unknown:
            raise BadRequest(f"unknown parameter(s): {', '.join(sorted(unknown))}; expected store")
        store = request.query_params.get("store") or None
        table = state["run"].tables.get("bundles")
        db = Path(holder.db) if holder.db else default_db_path(data_dir())
        offers = []
        if table is not None and len(table):
            state_db = current(db)
            if len(state_db):
                live = apply_decisions(table, state_db)
                live = live[live["approved"]]
                where = live["store"].astype("string").fillna("") if "store" in live.columns else None
                if store is not None and where is not None:
                    live = live[where.isin([store, "", "all", "*"])]
                offers = json.loads(live.to_json(orient="records", force_ascii=False))
        request.state.log = f"store={store or '-'} offers={len(offers)}"
        return JSONResponse({"store": store, "n_bundles": len(offers), "bundles": offers})

    async def bad_request(request, exc: BadRequest):
        return error(exc.status, str(exc))

    async def http_error(request, exc: HTTPException):
        return error(exc.status_code, exc.detail or "error")

    async def server_error(request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error(500, f"internal error: {type(exc).__name__}")

    class LogRequests:
        """One line per request: method, path (no query string: it may hold a customer id), status, details, ms."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            t = time.perf_counter()
            status = {}

            async def send_status(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            scope.setdefault("state", {})
            try:
                await self.app(scope, receive, send_status)
            finally:
                extra = scope["state"].get("log", "")
                log.info("%s %s %s %s %.1fms", scope["method"], scope["path"], status.get("code", 500), extra,
                         (time.perf_counter() - t) * 1000)

    app = Starlette(routes=[Route("/suggest", suggest_endpoint, methods=["GET", "POST"]),
                            Route("/health", health, methods=["GET"]),
                            Route("/bundles", bundles, methods=["GET"])],
                    exception_handlers={BadRequest: bad_request, HTTPException: http_error, 500: server_error})
    app.state.holder = holder
    app.add_middleware(LogRequests)
    return app


def _configure_logging(log_level: str):
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO),
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")


def app_from_environment():
    """App factory for ``uvicorn --factory`` with several workers: the run comes from ``RECOMMENDER_SERVE_RUN``."""
    env = os.environ
    _configure_logging(env.get("RECOMMENDER_SERVE_LOG_LEVEL", "info"))  # a spawned worker starts unconfigured
    return create_app(env["RECOMMENDER_SERVE_RUN"], env.get("RECOMMENDER_SERVE_RECEIPTS") or None,
                      env.get("RECOMMENDER_SERVE_CATALOG") or None, env.get("RECOMMENDER_SERVE_DB") or None)


def reuse_port_supported() -> bool:
    """Whether each worker can listen on its own socket and let the kernel spread connections among them.

    Linux balances connections over sockets bound with ``SO_REUSEPORT`` to the
    same address by a hash of the connection's addresses and ports; elsewhere
    (macOS, BSD, Windows) the option is missing or does not balance.

    >>> isinstance(reuse_port_supported(), bool)
    True
    """
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        return False
    try:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        return False
    return True


def _listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(run_dir, host, port, receipts, catalog, db, log_level, ready) -> None:  # pragma: no cover (a child)
    """One worker process: load the run, then listen on its own ``SO_REUSEPORT`` socket and serve."""
    import uvicorn

    _configure_logging(log_level)
    parent = os.getppid()

    def orphaned():  # the supervisor was killed without stopping us: stop, do not keep the port
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=orphaned, daemon=True).start()
    app = create_app(run_dir, receipts, catalog, db)
    # Bound only once the run is loaded, so the kernel never hands a connection to a worker still loading.
    sock = _listening_socket(host, port, reuse_port=True)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level=log_level))
    ready.set()
    server.run(sockets=[sock])


def _serve_reuse_port(run_dir, host, port, workers, receipts, catalog, db, log_level) -> None:
    """Supervise ``workers`` processes, each with its own listening socket on ``host:port`` (``SO_REUSEPORT``).

    uvicorn's own ``--workers`` mode shares one listening socket, and the kernel
    gives its keep-alive connections to whichever worker wakes first: one worker
    can carry two thirds of the load. With one socket per worker the kernel
    spreads connections by hash. A worker that dies after it started serving is
    started again; one that fails while starting stops the service.
    """
    import multiprocessing

    try:  # a clear error now if the port is taken (SO_REUSEPORT alone would share it with the other program)
        _listening_socket(host, port, reuse_port=False).close()
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)") from None
    ctx = multiprocessing.get_context("spawn")  # like uvicorn: a clean interpreter per worker
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: list = [None] * workers

    def start(i: int):
        ready = ctx.Event()
        proc = ctx.Process(target=_worker, name=f"recommender-serve-{i}", daemon=False,
                           args=(str(run_dir), host, port, receipts, catalog, db, log_level, ready))
        proc.start()
        procs[i] = (proc, ready)

    log.info("%d workers on http://%s:%d, each with its own listening socket (SO_REUSEPORT: the kernel spreads "
             "connections over them)", workers, host, port)
    failed = None
    try:
        for i in range(workers):
            start(i)
        while not stop.wait(0.5):
            for i, (proc, ready) in enumerate(procs):
                if proc.is_alive() or stop.is_set():
                    continue
                if not ready.is_set():
                    failed = f"worker {proc.pid} stopped while starting (exit code {proc.exitcode})"
                    stop.set()
                    break
                log.warning("worker %d stopped (exit code %s); starting another", proc.pid, proc.exitcode)
                start(i)
    finally:
        for proc, _ready in filter(None, procs):
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for proc, _ready in filter(None, procs):
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failed:
        raise InputError(failed + "; see the log above")


def serve(run_dir, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, receipts=None, catalog=None,
          db=None, log_level: str = "info"):
    """Run the service with uvicorn until interrupted (access log off: our own line per request).

    With ``workers > 1`` on Linux each worker listens on its own socket
    (``SO_REUSEPORT``), see :func:`_serve_reuse_port`; elsewhere uvicorn's
    workers share one socket.
    """
    import uvicorn

    _configure_logging(log_level)
    if workers > 1 and reuse_port_supported():
        _serve_reuse_port(run_dir, host, port, workers, receipts, catalog, db, log_level)
    elif workers > 1:
        os.environ.update({"RECOMMENDER_SERVE_LOG_LEVEL": log_level, "RECOMMENDER_SERVE_RUN": str(run_dir),
                           "RECOMMENDER_SERVE_RECEIPTS": str(receipts or ""),
                           "RECOMMENDER_SERVE_CATALOG": str(catalog or ""), "RECOMMENDER_SERVE_DB": str(db or "")})
        uvicorn.run("recommender.serve:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    access_log=False, log_level=log_level)
    else:
        uvicorn.run(create_app(run_dir, receipts, catalog, db), host=host, port=port, access_log=False,
                    log_level=log_level)
