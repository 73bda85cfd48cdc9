"""The HTTP server of the browser annotation view: JSON endpoints over :class:`isegm.annotation.AnnotationSession`
and the static page in ``isegm/web/static/`` (plain HTML/JS, no build step).

Endpoints (``name`` is a bare image file name inside ``--images``; every change carries ``rev``, the revision
the page shows, and answers with the new state, see :func:`isegm.web.sessions.state_of`)::

    GET  /                         the page            GET  /static/...       its script and style
    GET  /api/info                 model, classes, limits
    GET  /api/images               [{name, status: not started | in progress | saved, open}]
    GET  /api/image?name=          the image (the decoded pixels the model sees; PNG, JPEG past 4 MP)
    POST /api/open      {name, resume: true | false | null}   null: answers {ask_resume} when an autosave exists
    GET  /api/state?name=          the state            GET /api/layer.png?name=   the masks as RGBA PNG
    POST /api/click     {name, rev, y, x, positive}     POST /api/box    {name, rev, box: [y0, x0, y1, x1] | null}
    POST /api/stroke    {name, rev, points: [[y, x], ...], width, positive}   (add / erase stroke, one prediction;
                        refused with 400: fewer than 2 points, width <= 0, a point outside the image or the box)
    POST /api/refiner   {name, rev, enabled}   refiner switch (--refiner-checkpoint): objects started from an
                        external mask go to the refiner while on; answers {repredicted, state}
    GET  /api/view.png?name=&suggest=0|1&alpha=   the Tk view's picture rendered here (objects, current object,
                        with suggest=1 the uncertainty map and next-click marker); header X-Isegm-Suggestion
                        ``y,x,positive|negative`` or ``none``
    POST /api/label     {name, rev, label, isthing?}    POST /api/threshold {name, rev, threshold}
    POST /api/finish    {name, rev, label?, isthing?}   POST /api/undo   {name, rev}   POST /api/reset {name, rev}
    POST /api/save      {name, rev, overwrite}          POST /api/close  {name}
    POST /api/mask?name=&rev=      body: a PNG mask (Content-Type image/png) to start the current object from

Errors answer ``{"detail": "<one line>", "code": ...}``: 400 bad input or a refused action (the session's own
message, e.g. a click outside the box), 401 missing/wrong token, 403 a path out of the folders, 404 no such
image, 409 ``busy`` / ``stale`` / ``not_open`` / ``exists`` / ``stem`` (see :class:`isegm.web.sessions.Conflict`),
413 a body over the limit, 415 a POST that is not JSON (or PNG for ``/api/mask``).

Security defaults (see :func:`create_app`): the CLI binds 127.0.0.1; then the Host header must name a loopback
address (no DNS rebinding); POST bodies must be ``application/json`` (or ``image/png``), which a cross-site
form cannot send without a CORS preflight that this server never grants. On any other host a token is
required on every request (query ``token=``, header ``X-Isegm-Token`` or the cookie the page gets).
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Optional

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from isegm.errors import UserError
from isegm.web.paths import ImageFolder, PathRefused
from isegm.web.sessions import (Conflict, SessionRegistry, check_save_targets, decode_mask_png,
                                encode_display_image, layer_png, state_of, view_png)

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
JSON_LIMIT = 64 * 1024
DEFAULT_MAX_UPLOAD = 32 * 1024 * 1024
TOKEN_COOKIE = "isegm_token"
TOKEN_HEADER = "x-isegm-token"
MAX_LABEL = 200

__all__ = ["create_app", "WebError", "JSON_LIMIT", "DEFAULT_MAX_UPLOAD"]


class WebError(Exception):
    """An HTTP error with a one-line message (``detail``) and an optional ``code``."""

    def __init__(self, status: int, message: str, code: Optional[str] = None, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra


def _error_response(status, message, code=None, **extra):
    body = {"detail": message}
    if code:
        body["code"] = code
    body.update(extra)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------- request checks
def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (by Content-Length or while streaming)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise WebError(400, f"bad Content-Length {length!r}") from None
        if declared > limit:
            raise WebError(413, f"request body of {declared} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _json_body(request: Request) -> dict:
    if _content_type(request) != "application/json":
        raise WebError(415, f"{request.url.path} takes a JSON body (Content-Type: application/json), got "
                            f"{_content_type(request) or 'none'!r}")
    data = await _read_body(request, JSON_LIMIT)
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebError(400, f"{request.url.path}: body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise WebError(400, f"{request.url.path}: body must be a JSON object, got {type(body).__name__}")
    return body


def _field(body, key, kind, required=True, default=None):
    """``body[key]`` checked to be an int / float / bool / str (bool is never an int here)."""
    if key not in body or body[key] is None:
        if required:
            raise WebError(400, f"missing {key!r} in the request body")
        return default
    value = body[key]
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        what = {"int": "an integer", "float": "a finite number", "bool": "true or false", "str": "a string"}[kind]
        raise WebError(400, f"{key!r} must be {what}, got {value!r:.60}")
    return value


def _query_int(request, key):
    text = request.query_params.get(key)
    if text is None:
        raise WebError(400, f"missing query parameter {key!r}")
    try:
        return int(text)
    except ValueError:
        raise WebError(400, f"query parameter {key!r} must be an integer, got {text!r:.40}") from None


def _query_flag(request, key, default=False):
    text = request.query_params.get(key)
    if text is None:
        return default
    if text.lower() in ("1", "true", "on", "yes"):
        return True
    if text.lower() in ("0", "false", "off", "no"):
        return False
    raise WebError(400, f"query parameter {key!r} must be 1 or 0 (true / false), got {text!r:.40}")


def _query_alpha(request, default=0.5):
    text = request.query_params.get("alpha")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise WebError(400, f"query parameter 'alpha' must be a number in [0, 1], got {text!r:.40}")
    return value


def _label(body, required):
    label = _field(body, "label", "str", required=required)
    if label is None:
        return None
    label = label.strip()
    if not label:
        raise WebError(400, "class label must not be empty")
    if len(label) > MAX_LABEL:
        raise WebError(400, f"class label is {len(label)} characters long, at most {MAX_LABEL} allowed")
    return label


# ---------------------------------------------------------------------- the app
def create_app(images_dir, out_dir, make_session: Callable[[], object], *, class_names: Optional[list] = None,
               overwrite: bool = False, token: Optional[str] = None, allowed_hosts: Optional[Iterable[str]] = None,
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD, max_sessions: int = 8,
               model_info: Optional[dict] = None) -> FastAPI:
    """The FastAPI app of the browser annotation view.

    Args:
        images_dir: ``--images``: the only folder images are read from (bare names, see :mod:`isegm.web.paths`).
        out_dir: ``--out``: the only folder written (outputs and autosaves, the Tk demo's names and code).
        make_session: () -> a new :class:`isegm.annotation.AnnotationSession` with its own predictor over the one
            loaded model (called on the worker thread when an image is opened).
        class_names: the ``--classes`` list offered by the label field (the sessions fix their category ids).
        overwrite: Save replaces existing outputs without asking (``--overwrite``).
        token: when set, every request must carry it (query ``token``, header ``X-Isegm-Token`` or cookie);
            compared in constant time.
        allowed_hosts: when set, the Host header's name must be one of them (the CLI passes the loopback names
            when it binds a loopback address, which stops DNS-rebinding pages).
        max_upload_bytes: largest accepted upload (an external mask PNG); JSON bodies are limited to
            :data:`JSON_LIMIT`.
        max_sessions: open images kept in memory (least recently used idle ones are closed; autosaves keep them).
        model_info: shown by the page (checkpoint name, device, ``with_prev_mask``).
    Raises:
        NotADirectoryError: ``images_dir`` is not a folder.
    """
    folder = ImageFolder(images_dir)
    out_dir = Path(out_dir)
    registry = SessionRegistry(folder, out_dir, make_session, max_sessions=max_sessions)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isegm-predict")
    hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
    info = {"model": dict(model_info or {}), "classes": list(class_names or []), "overwrite": bool(overwrite),
            "max_upload_bytes": int(max_upload_bytes), "images": str(folder.folder), "out": str(out_dir),
            "token_required": token is not None}

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        worker.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="isegm annotation", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.registry = registry
    app.state.worker = worker

    # ------------------------------------------------------------------ every request
    @app.middleware("http")
    async def _guard(request: Request, call_next):
        if hosts is not None:
            host = _host_name(request.headers.get("host", ""))
            if host not in hosts:
                return _error_response(400, f"refused Host {request.headers.get('host', '')!r}: this server "
                                            f"answers only {', '.join(sorted(hosts))} (bound to loopback)")
        from_query = False
        if token is not None:
            # any of the three may carry it: a cookie left by an earlier server (another token) must not
            # hide the right token in the URL just opened
            expected = token.encode("utf-8")
            query = request.query_params.get("token")
            from_query = bool(query) and hmac.compare_digest(query.encode("utf-8", "replace"), expected)
            given = [request.headers.get(TOKEN_HEADER), request.cookies.get(TOKEN_COOKIE)]
            if not from_query and not any(g and hmac.compare_digest(g.encode("utf-8", "replace"), expected)
                                          for g in given):
                return _error_response(401, "missing or wrong token: open the URL the server printed at start "
                                            "(http://HOST:PORT/?token=...)", code="token")
        try:
            response = await call_next(request)
        except WebError as exc:  # raised while reading a body
            return _error_response(exc.status, str(exc), exc.code, **exc.extra)
        if from_query and request.url.path == "/":
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.exception_handler(WebError)
    async def _web_error(_request, exc: WebError):
        return _error_response(exc.status, str(exc), exc.code, **exc.extra)

    @app.exception_handler(PathRefused)
    async def _path_refused(_request, exc: PathRefused):
        return _error_response(exc.status, str(exc), "path")

    @app.exception_handler(Conflict)
    async def _conflict(_request, exc: Conflict):
        return _error_response(409, str(exc), exc.code, **exc.extra)

    @app.exception_handler(Exception)
    async def _internal(_request, exc: Exception):  # a bug or a device failure: logged, answered in one line
        logger.error("request failed", exc_info=exc)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return _error_response(500, f"internal error: {type(exc).__name__}{': ' + text[:200] if text else ''} "
                                    "(see the server log)", "internal")

    async def on_worker(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(worker, fn, *args)

    def snapshot(entry):
        return state_of(entry, out_dir, registry.status(entry.name))

    async def change(name, rev, op, *, bump=True):
        """Run ``op(session)`` on the worker thread for image ``name`` at revision ``rev``; returns
        (value, state). Refused with 409 while another change of the image runs or when ``rev`` is stale."""
        entry = registry.get(name)
        if not entry.busy.acquire(blocking=False):
            raise Conflict("busy", f"{name} is busy with another request (a prediction from another tab or a "
                                   "repeated click); wait for it to finish")

        def job():
            with entry.session.lock:
                if rev != entry.revision:
                    raise Conflict("stale", f"{name} was changed in another tab or window (revision {entry.revision},"
                                            f" this page showed {rev}); the page now shows the current state",
                                   state=snapshot(entry))
                try:
                    value = op(entry.session)
                except (ValueError, UserError, FileExistsError, NotADirectoryError) as exc:
                    if isinstance(exc, PathRefused):
                        raise
                    raise WebError(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                                   code="refused", state=snapshot(entry)) from None
                if bump:
                    entry.revision += 1
                return value, snapshot(entry)

        try:
            return await on_worker(job)
        finally:
            entry.busy.release()

    async def change_request(request, op_from_body, *, bump=True):
        body = await _json_body(request)
        name = _field(body, "name", "str")
        rev = _field(body, "rev", "int")
        op = op_from_body(body)
        value, state = await change(name, rev, op, bump=bump)
        return value, state

    # ------------------------------------------------------------------ page
    @app.get("/")
    async def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/info")
    async def api_info():
        return info

    @app.get("/api/images")
    async def api_images():
        def listing():
            return [{"name": n, "status": registry.status(n), "open": registry.is_open(n)} for n in folder.names()]
        return {"images": await run_in_threadpool(listing)}

    @app.get("/api/image")
    async def api_image(request: Request):
        name = request.query_params.get("name")
        folder.check_name(name)

        def load():
            if registry.is_open(name):
                image = registry.get(name).session.image
            else:
                from isegm.io import read_image
                path = folder.resolve(name)
                try:
                    image = read_image(path)
                except ValueError as exc:
                    raise WebError(400, str(exc)) from None
            return encode_display_image(image)
        data, media = await run_in_threadpool(load)
        return Response(data, media_type=media)

    # ------------------------------------------------------------------ sessions
    @app.post("/api/open")
    async def api_open(request: Request):
        body = await _json_body(request)
        name = _field(body, "name", "str")
        resume = _field(body, "resume", "bool", required=False)
        folder.check_name(name)
        try:
            result = await on_worker(registry.open, name, resume)
        except ValueError as exc:
            if isinstance(exc, PathRefused):
                raise
            raise WebError(400, str(exc)) from None
        if result["outcome"] == "ask":
            return {"ask_resume": True, "autosave": result["autosave"], "name": name}
        state = await run_in_threadpool(snapshot, result["entry"])
        return {"outcome": result["outcome"], "warning": result["warning"], "state": state}

    @app.post("/api/close")
    async def api_close(request: Request):
        body = await _json_body(request)
        name = _field(body, "name", "str")
        folder.check_name(name)
        return {"closed": registry.close(name)}

    @app.get("/api/state")
    async def api_state(request: Request):
        entry = registry.get(request.query_params.get("name"))
        return await run_in_threadpool(snapshot, entry)

    @app.get("/api/layer.png")
    async def api_layer(request: Request):
        entry = registry.get(request.query_params.get("name"))
        return Response(await run_in_threadpool(layer_png, entry), media_type="image/png")

    @app.get("/api/view.png")
    async def api_view(request: Request):
        entry = registry.get(request.query_params.get("name"))
        suggest = _query_flag(request, "suggest")
        alpha = _query_alpha(request)
        data, media, click = await run_in_threadpool(view_png, entry, alpha, suggest)
        hint = "none" if click is None else \
            f"{int(click.y)},{int(click.x)},{'positive' if click.is_positive else 'negative'}"
        return Response(data, media_type=media, headers={"X-Isegm-Suggestion": hint})

    @app.post("/api/click")
    async def api_click(request: Request):
        def op_from(body):
            y, x = _field(body, "y", "int"), _field(body, "x", "int")
            positive = _field(body, "positive", "bool")
            return lambda s: s.add_click(y, x, positive) is not None
        _, state = await change_request(request, op_from)
        return {"state": state}

    @app.post("/api/stroke")
    async def api_stroke(request: Request):
        def op_from(body):
            points = body.get("points")
            if not isinstance(points, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                               for v in p) for p in points):
                raise WebError(400, f"'points' must be a list of [y, x] numbers, got {points!r:.60}")
            width = _field(body, "width", "float")
            positive = _field(body, "positive", "bool")
            return lambda s: s.add_stroke([tuple(p) for p in points], width, positive) is not None
        _, state = await change_request(request, op_from)
        return {"state": state}

    @app.post("/api/refiner")
    async def api_refiner(request: Request):
        def op_from(body):
            enabled = _field(body, "enabled", "bool")
            return lambda s: s.set_refiner_enabled(enabled)
        repredicted, state = await change_request(request, op_from)
        return {"repredicted": bool(repredicted), "state": state}

    @app.post("/api/box")
    async def api_box(request: Request):
        def op_from(body):
            box = body.get("box")
            if box is not None and (not isinstance(box, list) or len(box) != 4 or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in box)):
                raise WebError(400, f"'box' must be [y0, x0, y1, x1] integers (end exclusive) or null, got {box!r:.60}")
            return lambda s: s.set_box(None if box is None else tuple(box))
        _, state = await change_request(request, op_from)
        return {"state": state}

    @app.post("/api/label")
    async def api_label(request: Request):
        def op_from(body):
            label = _label(body, required=True)
            isthing = _field(body, "isthing", "bool", required=False)
            return lambda s: s.set_label(label, isthing=isthing)
        _, state = await change_request(request, op_from)
        return {"state": state}

    @app.post("/api/threshold")
    async def api_threshold(request: Request):
        def op_from(body):
            value = _field(body, "threshold", "float")
            return lambda s: s.set_threshold(value)
        _, state = await change_request(request, op_from)
        return {"state": state}

    @app.post("/api/finish")
    async def api_finish(request: Request):
        def op_from(body):
            label = _label(body, required=False)
            isthing = _field(body, "isthing", "bool", required=False)

            def op(s):
                if label is not None:
                    s.set_label(label, isthing=isthing)
                return s.finish_object()
            return op
        obj_id, state = await change_request(request, op_from)
        return {"finished": obj_id, "state": state}

    @app.post("/api/undo")
    async def api_undo(request: Request):
        what, state = await change_request(request, lambda body: (lambda s: s.undo()))
        return {"undone": what, "state": state}

    @app.post("/api/reset")
    async def api_reset(request: Request):
        _, state = await change_request(request, lambda body: (lambda s: s.reset_object()))
        return {"state": state}

    @app.post("/api/save")
    async def api_save(request: Request):
        def op_from(body):
            replace = _field(body, "overwrite", "bool", required=False, default=False) or overwrite

            def op(s):
                entry = registry.get(body["name"])
                if not s.objects:
                    raise ValueError("nothing to save: finish at least one object (Space) first")
                existing = check_save_targets(entry, out_dir)
                if existing and not replace:
                    raise Conflict("exists", f"outputs exist in {out_dir}: {', '.join(existing)}; save again with "
                                             "overwrite to replace them", existing=existing)
                paths = s.save(out_dir, overwrite=replace, name=entry.stem)
                return [p.name for p in paths.values()]
            return op
        saved, state = await change_request(request, op_from)
        note = " (the unfinished object is not included)" if state["has_current"] else ""
        return {"saved": saved, "message": f"saved {len(state['objects'])} objects to {out_dir}{note}",
                "state": state}

    @app.post("/api/mask")
    async def api_mask(request: Request):
        name = request.query_params.get("name")
        rev = _query_int(request, "rev")
        if _content_type(request) != "image/png":
            raise WebError(415, f"/api/mask takes a PNG body (Content-Type: image/png), got "
                                f"{_content_type(request) or 'none'!r}")
        registry.get(name)
        data = await _read_body(request, max_upload_bytes)

        def op(s):
            s.set_external_mask(decode_mask_png(data, s.shape))
        _, state = await change(name, rev, op)
        return {"state": state, "with_prev_mask": info["model"].get("with_prev_mask")}

    return app
