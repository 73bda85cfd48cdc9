"""Session records: the plain-data (json) form of an annotation session, for autosave, resume and replay.

Format ``isegm-annotation-session``, version 1 (the files written since the first release read unchanged)::

    {"format": "isegm-annotation-session", "version": 1,
     "image": {"file_name", "height", "width", "sha256"},
     "threshold", "overlap_rule", "categories": [{"id", "name", "isthing"}], "box_margin", "settings",
     "objects": [{"id", "label", "clicks", "restrict_box", "init_mask", "threshold"}],
     "current": null or an object record without "id"}

An object record may also hold ``"strokes"`` (see :func:`strokes_to_json`) and ``"refiner": true`` when the
refiner (``settings.refiner``, "Fusing Forces" mask refinement) predicted it from its ``init_mask``; without the
key the click model did (older files, and every object without an external mask).

A click is ``{"y", "x", "positive", "order"}`` with ``order`` 1-based in files (``Click.index`` is 0-based
in memory); ``restrict_box`` is ``[y0, x0, y1, x1]`` end exclusive or null; ``init_mask`` is a COCO RLE
(counts as str) or null. A saved COCO ``<name>.json`` holds the same data: the header under its ``isegm``
key and the object records in its annotations; :func:`load_session` reads both forms.
"""
import hashlib
import json
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from isegm.geometry import Box, BoxMode, Click

__all__ = ["SESSION_FORMAT", "SESSION_VERSION", "image_sha256", "clicks_to_json", "clicks_from_json",
           "strokes_to_json", "strokes_from_json",
           "box_to_json", "box_from_json", "object_record", "refined_from_json", "load_session"]

SESSION_FORMAT = "isegm-annotation-session"
SESSION_VERSION = 1


def image_sha256(image: np.ndarray) -> str:
    """sha256 hex digest of an image's shape and pixel bytes (identifies the image a session belongs to)."""
    h = hashlib.sha256(str(tuple(image.shape)).encode("ascii"))
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def clicks_to_json(clicks: Sequence[Click]) -> List[dict]:
    """Clicks as ``[{"y", "x", "positive", "order"}]`` with order 1, 2, ... (file form)."""
    return [dict(c.to_dict(), order=k + 1) for k, c in enumerate(clicks)]


def clicks_from_json(records, where: str) -> Tuple[Click, ...]:
    """Inverse of :func:`clicks_to_json`: Clicks with integer (y, x) and index 0, 1, ... in list order.

    Raises:
        ValueError: not a list, a record missing ``y``/``x``/``positive``, or a non-integer coordinate;
            the message names ``where`` and the click's position.
    """
    if records is None:
        return ()
    if not isinstance(records, list):
        raise ValueError(f"{where}: 'clicks' must be a list, got {type(records).__name__}")
    clicks = []
    for k, rec in enumerate(records):
        here = f"{where} click {k + 1}"
        if not isinstance(rec, dict):
            raise ValueError(f"{here}: expected {{'y', 'x', 'positive'}}, got {rec!r:.60}")
        missing = [key for key in ("y", "x", "positive") if key not in rec]
        if missing:
            raise ValueError(f"{here}: missing key {', '.join(repr(m) for m in missing)}")
        click = Click.from_dict(rec, where=here)
        if float(click.y) != int(click.y) or float(click.x) != int(click.x):
            raise ValueError(f"{here}: coordinates must be whole pixels, got (y={click.y}, x={click.x})")
        clicks.append(Click(int(click.y), int(click.x), click.is_positive, k))
    return tuple(clicks)


def box_to_json(box: Optional[Box]) -> Optional[list]:
    """``[y0, x0, y1, x1]`` end exclusive, or None."""
    return None if box is None else [int(v) for v in box.to(BoxMode.YXYX_END_EXCLUSIVE)]


def box_from_json(value, where: str) -> Optional[Box]:
    """Inverse of :func:`box_to_json`.

    Raises:
        ValueError: not four integers forming a non-empty box (names ``where``).
    """
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{where}: restrict_box must be [y0, x0, y1, x1] integers, got {value!r:.60}")
    try:
        return Box(value, BoxMode.YXYX_END_EXCLUSIVE)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def strokes_to_json(strokes) -> List[dict]:
    """:class:`~isegm.annotation.history.StrokeStep` records as ``[{"points": [[y, x], ...], "width", "positive",
    "spacing", "first_click", "n_clicks"}]``; ``first_click`` is the 1-based order of its first click in
    ``clicks``, where its ``n_clicks`` clicks (:meth:`isegm.geometry.Stroke.to_clicks` at ``spacing``) stand."""
    out = []
    for step in strokes:
        rec = step.stroke.to_dict()
        del rec["order"]
        rec.update(spacing=step.spacing, first_click=int(step.stroke.index) + 1, n_clicks=int(step.n_clicks))
        out.append(rec)
    return out


def strokes_from_json(records, clicks: Sequence[Click], where: str) -> tuple:
    """Inverse of :func:`strokes_to_json`, checked against the object's ``clicks``: each stroke's clicks must be
    exactly those its points, width and spacing give (so that a replay feeds the model what it was fed).

    Raises:
        ValueError: not a list, a malformed stroke (fewer than 2 points, width <= 0 ...), a bad spacing or
            position, or clicks that differ from the stroke's (the message names ``where`` and the stroke).
    """
    from isegm.annotation.history import StrokeStep, prediction_steps
    from isegm.geometry import Stroke

    if records is None:
        return ()
    if not isinstance(records, list):
        raise ValueError(f"{where}: 'strokes' must be a list, got {type(records).__name__}")
    steps = []
    for k, rec in enumerate(records):
        here = f"{where} stroke {k + 1}"
        if not isinstance(rec, dict):
            raise ValueError(f"{here}: expected a stroke record, got {rec!r:.60}")
        first, spacing = rec.get("first_click"), rec.get("spacing")
        if isinstance(first, bool) or not isinstance(first, int) or first < 1:
            raise ValueError(f"{here}: 'first_click' must be an integer >= 1, got {first!r}")
        if isinstance(spacing, bool) or not isinstance(spacing, (int, float)) or not spacing > 0:
            raise ValueError(f"{here}: 'spacing' must be a number > 0 (px), got {spacing!r}")
        stroke = Stroke.from_dict(dict(rec, order=first - 1), where=here)
        expected = stroke.to_clicks(float(spacing))
        got = tuple(clicks[first - 1:first - 1 + len(expected)])
        if rec.get("n_clicks") != len(expected) or [(c.y, c.x, c.is_positive) for c in got] != \
                [(c.y, c.x, c.is_positive) for c in expected]:
            raise ValueError(f"{here}: its clicks from click {first} are not the {len(expected)} clicks its points, "
                             f"width and spacing give")
        steps.append(StrokeStep(stroke, float(spacing), len(expected)))
    try:
        prediction_steps(len(clicks), steps)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return tuple(steps)


def object_record(label: str, clicks: Sequence[Click], box: Optional[Box], init_rle: Optional[dict],
                  threshold: float, strokes=(), refined: bool = False) -> dict:
    """One object's plain-data record (without its id); ``strokes`` (StrokeSteps) only when there are any,
    ``"refiner": true`` only when ``refined`` (the refiner predicted the object)."""
    rec = {"label": label, "clicks": clicks_to_json(clicks), "restrict_box": box_to_json(box),
           "init_mask": init_rle, "threshold": threshold}
    if strokes:
        rec["strokes"] = strokes_to_json(strokes)
    if refined:
        rec["refiner"] = True
    return rec


def refined_from_json(rec: dict, where: str) -> bool:
    """The ``"refiner"`` flag of an object record: True when the refiner predicted the object (False when absent).

    Raises:
        ValueError: the flag is not a boolean, or it is true on an object without an ``init_mask`` (the refiner
            only corrects external masks); the message names ``where``.
    """
    value = rec.get("refiner", False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f"{where}: 'refiner' must be true or false, got {value!r:.60}")
    if value and rec.get("init_mask") is None:
        raise ValueError(f"{where}: 'refiner' is true but the object has no init_mask (the refiner only corrects "
                         f"an external mask)")
    return value


def load_session(source) -> dict:
    """Normalise a session: a session dict, a saved COCO-style ``<name>.json`` dict, or a path to either.

    Returns:
        session dict (format ``isegm-annotation-session``) with 'image', 'objects', 'current', 'categories',
        'threshold', 'overlap_rule', 'settings'.
    Raises:
        FileNotFoundError: missing file; ValueError: not valid JSON, not an isegm annotation/session, or a
        version newer than :data:`SESSION_VERSION` (the message names the file).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"clicks/session file not found: {path}")
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None
        where = str(path)
    else:
        where = "session dict"
    if not isinstance(source, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(source).__name__}")
    if source.get("format") == SESSION_FORMAT and "objects" in source:
        session = dict(source)
    elif "annotations" in source and isinstance(source.get("isegm"), dict):
        session = dict(source["isegm"])
        try:
            cats = {int(c["id"]): c["name"] for c in source.get("categories", [])}
            objects = []
            for ann in sorted(source["annotations"], key=lambda a: int(a["id"])):
                objects.append({"id": int(ann["id"]),
                                "label": ann.get("label") or cats.get(int(ann["category_id"])),
                                "clicks": ann.get("clicks") or [], "restrict_box": ann.get("restrict_box"),
                                "init_mask": ann.get("init_mask"), "threshold": ann.get("threshold", 0.5),
                                "strokes": ann.get("strokes"), "refiner": ann.get("refiner", False)})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed annotation or category ({type(exc).__name__}: {exc})") from None
        session["objects"] = objects
        session["current"] = None
    else:
        raise ValueError(f"{where}: not an isegm annotation json (expected 'format': '{SESSION_FORMAT}' or COCO "
                         "'annotations' with an 'isegm' section)")
    session["where"] = where
    version = session.get("version", SESSION_VERSION)
    if not isinstance(version, int) or version > SESSION_VERSION:
        raise ValueError(f"{where}: session version {version!r} is newer than supported ({SESSION_VERSION})")
    if not isinstance(session.get("image"), dict):
        raise ValueError(f"{where}: session has no 'image' entry")
    return session
