"""The open images of the web server: one :class:`isegm.annotation.AnnotationSession` per image, a revision
counter and a busy lock per image, and the plain-data / PNG forms the page draws.

Concurrency model (the same guarantees as the Tk view's single worker thread):

- every call into a session that predicts or changes it runs on the server's one worker thread (see
  :mod:`isegm.web.server`), so the one model is used by one thread at a time and the request loop never waits
  on it;
- each open image has a busy lock, taken without waiting by the request that changes it: a second change
  while one is running is refused (:class:`Conflict` ``busy``, HTTP 409) instead of queued behind it;
- each open image has a revision, bumped by every change; a change names the revision its page shows and is
  refused (``stale``, HTTP 409, with the current state) when another tab changed the session in between, so
  two tabs never interleave edits unknowingly.

Files: the outputs are written by :meth:`AnnotationSession.save` into ``--out`` (the Tk demo's code and
names) and the session autosaves itself after every change to ``<out>/<stem>.autosave.json``, which
:meth:`SessionRegistry.open` resumes exactly as the Tk demo does (a file that cannot be resumed is moved to
``<stem>.autosave.json.bak``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
from scipy import ndimage

from isegm.annotation import load_session, output_paths
from isegm.annotation import render
from isegm.io import atomic_write_bytes, decode_binary_mask, read_image
from isegm.web.paths import ImageFolder, check_output_paths

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

__all__ = ["Conflict", "OpenImage", "SessionRegistry", "autosave_path", "state_of", "layer_png",
           "decode_mask_png", "encode_display_image", "check_save_targets", "view_png"]


class Conflict(Exception):
    """A request that collides with the state of the server (HTTP 409).

    Attributes:
        code: ``busy`` (another change of this image is running), ``stale`` (the page shows an older revision),
            ``not_open`` (the image is not open on this server), ``exists`` (outputs exist), ``stem`` (two
            images would write the same outputs).
        extra: plain data added to the JSON answer (e.g. the current state).
    """

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


def autosave_path(out_dir, stem) -> Path:
    """``<out_dir>/<stem>.autosave.json``: where the Tk demo and this server autosave a session."""
    return Path(out_dir) / f"{stem}.autosave.json"


@dataclass(eq=False)
class OpenImage:
    """One open image.

    Attributes:
        name: file name inside ``--images``; path: its path; stem: output file stem.
        session: the :class:`isegm.annotation.AnnotationSession` (its ``lock`` guards every read).
        revision: bumped by every change (under ``session.lock``).
        busy: taken (non-blocking) by the request that changes the session.
    """
    name: str
    path: Path
    stem: str
    session: object
    autosave: Path
    revision: int = 0
    busy: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    _layer: tuple = (None, b"")
    _view: tuple = (None, None)


class SessionRegistry:
    """The open images of one server.

    Args:
        folder: the :class:`~isegm.web.paths.ImageFolder` of ``--images``.
        out_dir: ``--out``.
        make_session: () -> a new :class:`isegm.annotation.AnnotationSession` (own predictor, shared model).
        max_sessions: open images kept in memory; the least recently used idle one is closed past it (its
            autosave keeps every change).
    """

    def __init__(self, folder: ImageFolder, out_dir, make_session: Callable[[], object], max_sessions: int = 8):
        self.folder = folder
        self.out_dir = Path(out_dir)
        self.make_session = make_session
        self.max_sessions = max(1, int(max_sessions))
        self._open: "OrderedDict[str, OpenImage]" = OrderedDict()
        self._opening = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lookup
    def get(self, name) -> OpenImage:
        """The open image ``name``.

        Raises:
            PathRefused: a malformed name; Conflict ``not_open``: not open on this server.
        """
        self.folder.check_name(name)
        with self._lock:
            entry = self._open.get(name)
            if entry is None:
                raise Conflict("not_open", f"{name} is not open on this server (it was closed to free memory or "
                                           "the server restarted): open it again; its autosave resumes it")
            entry.last_used = time.monotonic()
            self._open.move_to_end(name)
            return entry

    def is_open(self, name) -> bool:
        with self._lock:
            return name in self._open

    def close(self, name) -> bool:
        """Drop ``name`` from memory (its autosave stays). Returns False when it was not open.

        Raises:
            Conflict ``busy``: a change of it is running.
        """
        with self._lock:
            entry = self._open.get(name)
            if entry is None:
                return False
            if not entry.busy.acquire(blocking=False):
                raise Conflict("busy", f"{name} is busy with another request; close it when that one is done")
            try:
                del self._open[name]
            finally:
                entry.busy.release()
            return True

    # ------------------------------------------------------------------ files and status
    def stem_of(self, name) -> str:
        """Output stem of ``name``.

        Raises:
            Conflict ``stem``: another listed image has the same stem (both would write the same files).
        """
        stem = Path(name).stem
        twins = [n for n in self.folder.names() if n != name and Path(n).stem == stem]
        if twins:
            raise Conflict("stem", f"{name} and {twins[0]} would write the same outputs {stem}_*.png in --out "
                                   f"{self.out_dir}; rename one of them")
        return stem

    def status(self, name) -> str:
        """'in progress', 'saved' or 'not started': 'in progress' while the open session has changes since its
        last save or an unfinished object; otherwise from the files in ``--out`` (an autosave newer than the saved
        json means unsaved work)."""
        stem = Path(name).stem
        with self._lock:
            entry = self._open.get(name)
        if entry is not None and (entry.session.dirty or entry.session.has_current()):
            return "in progress"
        saved = output_paths(self.out_dir, stem)["json"]
        auto = autosave_path(self.out_dir, stem)
        saved_t = saved.stat().st_mtime_ns if saved.is_file() else None
        auto_t = auto.stat().st_mtime_ns if auto.is_file() else None
        if saved_t is not None and (auto_t is None or auto_t <= saved_t):
            return "saved"
        if auto_t is not None:
            return "in progress"
        return "not started"

    # ------------------------------------------------------------------ opening (worker thread)
    def open(self, name, resume: Optional[bool]) -> dict:
        """Open image ``name`` (runs on the worker thread: it loads the image and may replay an autosave).

        Args:
            resume: True resumes ``<stem>.autosave.json``, False starts afresh (the autosave is replaced at the
                first change), None asks: when an autosave exists and the image is not open, nothing is opened
                and ``{"ask_resume": True}`` is returned.
        Returns:
            {"entry": OpenImage or None, "outcome": 'loaded' | 'resumed' | 'joined' | 'ask', "warning": str|None}.
        Raises:
            PathRefused: bad name, not listed, a link out of the folder, an autosave that is a link.
            Conflict ``stem`` / ``busy`` (being opened by another request). ValueError: unreadable image.
        """
        path = self.folder.resolve(name)
        stem = self.stem_of(name)
        auto = autosave_path(self.out_dir, stem)
        check_output_paths({"autosave": auto})
        with self._lock:
            if name in self._open:
                entry = self._open[name]
                self._open.move_to_end(name)
                return {"entry": entry, "outcome": "joined", "warning": None}
            if name in self._opening:
                raise Conflict("busy", f"{name} is being opened by another request; try again in a moment")
            if resume is None and auto.is_file():
                return {"entry": None, "outcome": "ask", "warning": None, "autosave": auto.name}
            self._opening.add(name)
        try:
            image = read_image(path)
            session = self.make_session()
            session.autosave_path = None
            session.set_image(image, name)
            outcome, warning = "loaded", None
            if resume and auto.is_file():
                try:
                    notes = session.restore(load_session(auto))
                    outcome = "resumed"
                    warning = "; ".join(notes) or None
                except (ValueError, KeyError, TypeError) as exc:
                    session.set_image(image, name)
                    backup = auto.with_suffix(".json.bak")
                    atomic_write_bytes(backup, auto.read_bytes(), overwrite=True)
                    auto.unlink()
                    warning = f"could not resume {auto.name} ({exc}); it was moved to {backup.name}"
                    logger.warning("%s", warning)
            session.autosave_path = auto
            entry = OpenImage(name=name, path=path, stem=stem, session=session, autosave=auto)
            with self._lock:
                self._open[name] = entry
                self._evict()
            return {"entry": entry, "outcome": outcome, "warning": warning}
        finally:
            with self._lock:
                self._opening.discard(name)

    def _evict(self):
        while len(self._open) > self.max_sessions:
            for name, entry in self._open.items():
                if entry.busy.acquire(blocking=False):
                    del self._open[name]
                    entry.busy.release()
                    logger.info("closed %s to free memory (its autosave keeps it)", name)
                    break
            else:
                return


# ---------------------------------------------------------------------- what the page draws
def state_of(entry: OpenImage, out_dir, status: str = "") -> dict:
    """Plain-data state of an open image (under its session lock, so revision and content agree).

    Returns:
        dict with ``name``, ``width``, ``height``, ``revision``, ``objects`` [{id, label, area, color [r, g, b],
        bbox [x, y, w, h]}], ``clicks`` [{y, x, positive}], ``box`` [y0, x0, y1, x1] end exclusive or None,
        ``next_id``, ``next_color``, ``label``, ``isthing``, ``threshold``, ``last_prediction_ms`` (None before
        the first prediction), ``can_undo``, ``dirty``, ``unsaved`` (finished objects changed since the last save),
        ``has_current``, ``categories``, ``autosave_error``, ``status``, ``outputs_exist``, ``strokes``
        [{points [[y, x], ...], width, positive, first_click, n_clicks}] of the current object (the clicks
        ``first_click`` .. ``first_click + n_clicks - 1`` came from that stroke), ``has_refiner`` (a refiner is
        loaded), ``refiner_enabled`` (its switch is on) and ``refining`` (the current object goes to it: switch on
        and an external mask).
    """
    session = entry.session
    with session.lock:
        view = session.view_state()
        boxes = ndimage.find_objects(view.instances)
        objects = []
        for obj_id, label, area in view.objects:
            sl = boxes[obj_id - 1] if obj_id - 1 < len(boxes) else None
            bbox = None if sl is None else [int(sl[1].start), int(sl[0].start), int(sl[1].stop - sl[1].start),
                                            int(sl[0].stop - sl[0].start)]
            objects.append({"id": int(obj_id), "label": label, "area": int(area),
                            "color": list(render.instance_color(obj_id)), "bbox": bbox})
        t = view.last_prediction_time
        existing = [p.name for p in output_paths(out_dir, entry.stem).values() if p.exists()]
        return {
            "name": entry.name, "width": int(view.image.shape[1]), "height": int(view.image.shape[0]),
            "revision": entry.revision, "objects": objects,
            "clicks": [{"y": int(c.y), "x": int(c.x), "positive": bool(c.is_positive)} for c in view.clicks],
            "box": None if view.box is None else [int(v) for v in view.box.to()],
            "next_id": int(view.next_id), "next_color": list(render.instance_color(view.next_id)),
            "label": view.label, "isthing": bool(view.isthing), "threshold": float(view.threshold),
            "last_prediction_ms": None if t is None else round(t * 1000.0, 1),
            "can_undo": bool(view.can_undo), "dirty": bool(view.dirty),
            "unsaved": bool(session.has_unsaved_changes()), "has_current": bool(session.has_current()),
            "categories": session.categories(), "autosave_error": session.autosave_error, "status": status,
            "outputs_exist": existing,
            "strokes": [{"points": [[float(y), float(x)] for y, x in step.stroke.points],
                         "width": float(step.stroke.width), "positive": bool(step.stroke.is_positive),
                         "first_click": None if step.stroke.index is None else int(step.stroke.index),
                         "n_clicks": int(step.n_clicks)}
                        for step in view.strokes],
            "has_refiner": getattr(session, "refiner", None) is not None,
            "refiner_enabled": bool(getattr(session, "refiner_enabled", False)),
            "refining": bool(getattr(session, "refining", False)),
        }


def layer_png(entry: OpenImage) -> bytes:
    """The masks of an open image as one RGBA PNG of the image's size (cached per revision).

    RGB is the instance colour of :func:`isegm.annotation.render.instance_color` (finished objects by id, the
    current object in the colour of the id it will get, drawn on top as in the Tk view); alpha is 0 on the
    background, 254 inside a mask and 255 on its outline (a pixel whose 4-neighbour has another id), so the
    page blends interiors with its opacity slider and draws outlines opaque.
    """
    session = entry.session
    with session.lock:
        rev, data = entry._layer
        if rev == entry.revision:
            return data
        view = session.view_state()
        labels = view.instances.astype(np.int32)
        if view.current_mask is not None:
            labels[view.current_mask] = view.next_id
        lut = render.palette(max(int(labels.max()), int(view.next_id)))
        rgb = lut[labels]
        edge = np.zeros(labels.shape, bool)
        dy = labels[1:, :] != labels[:-1, :]
        edge[1:, :] |= dy
        edge[:-1, :] |= dy
        dx = labels[:, 1:] != labels[:, :-1]
        edge[:, 1:] |= dx
        edge[:, :-1] |= dx
        fg = labels > 0
        alpha = np.where(fg & edge, 255, np.where(fg, 254, 0)).astype(np.uint8)
        bgra = np.dstack([rgb[..., 2], rgb[..., 1], rgb[..., 0], alpha])
        ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise RuntimeError(f"could not encode the mask layer of {entry.name} as PNG")
        entry._layer = (entry.revision, buf.tobytes())
        return entry._layer[1]


def view_png(entry: OpenImage, alpha: float = 0.5, suggest: bool = False) -> tuple:
    """The server-rendered view of an open image, the Tk view's picture (:func:`isegm.annotation.render.draw_view`:
    objects blended with ``alpha`` and outlined, the current object highlighted, and with ``suggest`` the
    uncertainty map and the suggested next click). Cached for the last (revision, alpha, suggest).

    Returns:
        (bytes, media type, click): the image as by :func:`encode_display_image` (PNG up to 4 MP, else JPEG)
        and the suggested :class:`isegm.geometry.Click`, or None (suggestion off or nothing uncertain).
    """
    session = entry.session
    with session.lock:
        key = (entry.revision, float(alpha), bool(suggest))
        if entry._view[0] == key:
            return entry._view[1]
        image, click = render.draw_view(session.view_state(), alpha=alpha, suggest=suggest)
        data, media = encode_display_image(image)
        entry._view = (key, (data, media, click))
        return entry._view[1]


def encode_display_image(image: np.ndarray, lossless_max_pixels: int = 4_000_000) -> tuple:
    """The image for display: the pixels the model sees (EXIF orientation already applied by
    :func:`isegm.io.read_image`), so the page and the session agree on every coordinate.

    Args:
        image: (H, W, 3) uint8 RGB.
        lossless_max_pixels: up to this many pixels the image is sent as PNG (exact); larger ones as JPEG
            (quality 92, no chroma subsampling) to keep a remote page quick.
    Returns:
        (bytes, media type).
    """
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if image.shape[0] * image.shape[1] <= lossless_max_pixels:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        media = "image/png"
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                             cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
        media = "image/jpeg"
    if not ok:
        raise RuntimeError(f"could not encode the {image.shape[1]}x{image.shape[0]} image for display")
    return buf.tobytes(), media


def decode_mask_png(data: bytes, shape) -> np.ndarray:
    """An uploaded external mask as (H, W) bool, with the mask rules of :func:`isegm.io.binarise_mask`
    (decoded by :func:`isegm.io.decode_binary_mask`, as :func:`isegm.io.read_binary_mask` reads a file).

    The PNG header's size is checked against the image before anything is decoded (no decompression bombs).

    Args:
        data: PNG file bytes. shape: (H, W) of the image.
    Raises:
        ValueError: not a PNG, or another size (both named as WxH). UserError: undecodable PNG data.
    """
    if not data.startswith(PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("external mask upload must be a PNG file")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    if (height, width) != tuple(shape):
        raise ValueError(f"external mask is {width}x{height} (WxH) but the image is {shape[1]}x{shape[0]}")
    return decode_binary_mask(data, "the uploaded external mask PNG")


def check_save_targets(entry: OpenImage, out_dir) -> list:
    """Names of the outputs of ``entry`` that exist in ``out_dir``.

    Raises:
        PathRefused (403): one of the targets is a symbolic link.
    """
    paths = output_paths(out_dir, entry.stem)
    check_output_paths(paths)
    return [p.name for p in paths.values() if p.exists()]

