"""The model of an interactive multi-object annotation session (no GUI code here).

An :class:`AnnotationController` holds one image, the finished objects (each with a class label, the clicks that
made it, an optional restricting box and an optional external start mask) and the object being edited. It calls
a predictor-like object (RITM lineage, see ``isegm.inference.predictors``) for every click:

- ``predictor.set_input_image(image)``: (h, w, 3) uint8 RGB; also resets the predictor's per-object state;
- ``predictor.get_prediction(clicker, prev_mask=None)`` -> (h, w) float32 probabilities in [0, 1];
- ``predictor.get_states()`` / ``predictor.set_states(states)`` for undo.

How an object's probability map is computed (the same in a live session and in a replay, which is what makes
``scripts/annotate.py`` reproduce saved masks bit for bit):

1. the predictor is reset on the crop of the image used for this object: the whole image, or, when the object
   has a restricting box (as in the avalanche fork of RITM's demo), the box grown by ``box_margin`` of its longer
   side (at least 16 px) for context;
2. the clicks are fed one at a time in order; before the first click the previous mask is the external mask if
   the object has one (given as ``prev_mask``), otherwise the predictor's own zero map; after that it is the
   predictor's own previous prediction (iterative mask guidance, RITM Sec. 3.2);
3. the prediction is pasted into a zero map of the image size and zeroed outside the box;
4. the object's raw mask is ``prob > threshold`` (strict, as in RITM).

An undo restores the state before the last action exactly (clicks, box, external mask, probability map and the
predictor's states), so a session with undos equals one in which the undone actions never happened. Undo with
no action left on the current object reopens the last finished object by replaying its clicks.

Overlap rule (``overlap_rule``):

- ``"keep_earlier"`` (default): a later object only claims pixels that no earlier object has; pixels it
  predicted inside an earlier object stay with the earlier one. The current object is drawn accordingly.
- ``"later_wins"``: the user's explicit choice that a later object takes the overlapping pixels from earlier
  ones; finishing is refused if that would leave an earlier object empty.

Either way every pixel belongs to at most one object and the choice is recorded in the outputs.
"""
import contextlib
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isegm.annotation import export
from isegm.io import atomic_write_json

logger = logging.getLogger(__name__)

SESSION_FORMAT = "isegm-annotation-session"
SESSION_VERSION = 1
OVERLAP_RULES = ("keep_earlier", "later_wins")
DEFAULT_LABEL = "object"


@dataclass(frozen=True)
class ClickRecord:
    """A user click in full-image pixel coordinates: (y, x), positive (foreground) or negative."""
    y: int
    x: int
    positive: bool


@dataclass
class AnnotatedObject:
    """A finished object.

    Attributes:
        label: class label.
        clicks: the clicks that made it, in order.
        box: restricting box (y0, x0, y1, x1), end exclusive, or None.
        init_mask: (H, W) bool external start mask, or None.
        threshold: probability threshold used for ``raw_mask``.
        raw_mask: (H, W) bool ``prob > threshold`` (before the overlap rule).
        prob: (H, W) float32 last probability map (kept for display; not saved).
    """
    label: str
    clicks: tuple
    box: tuple | None
    init_mask: np.ndarray | None
    threshold: float
    raw_mask: np.ndarray
    prob: np.ndarray | None = None
    init_rle: dict | None = None


@dataclass
class _Current:
    clicks: list = field(default_factory=list)
    box: tuple | None = None
    init_mask: np.ndarray | None = None
    init_rle: dict | None = None
    prob: np.ndarray | None = None

    def is_empty(self):
        return not self.clicks and self.box is None and self.init_mask is None


@dataclass
class ViewState:
    """Immutable-by-convention snapshot for a view: everything needed to draw the session.

    Attributes:
        image: (H, W, 3) uint8 RGB image (shared, never modified in place).
        instances: (H, W) uint16 ids of finished objects (after the overlap rule).
        current_mask: (H, W) bool mask of the object being edited as it would be finished, or None.
        clicks: list of ClickRecord of the current object.
        box: current restricting box or None.
        next_id: id the current object will get.
        label: current class label; objects: list of (id, label, area).
    """
    image: np.ndarray
    instances: np.ndarray
    current_mask: np.ndarray | None
    clicks: list
    box: tuple | None
    next_id: int
    label: str
    isthing: bool
    objects: list
    threshold: float
    last_prediction_time: float | None
    can_undo: bool
    dirty: bool


def image_sha256(image):
    """sha256 hex digest of an image's pixel bytes and shape (identifies the image a session belongs to)."""
    h = hashlib.sha256(str(tuple(image.shape)).encode("ascii"))
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def _default_clicker_classes():
    from isegm.inference.clicker import Click, Clicker
    return Clicker, Click


@contextlib.contextmanager
def _inference_mode():
    try:
        import torch
    except ImportError:  # a predictor without torch (tests' fakes)
        yield
        return
    with torch.inference_mode():
        yield


class AnnotationController:
    """Session model: image, objects with class labels, clicks, undo, predictions, box, external mask.

    Args:
        predictor: predictor-like object (see module docstring).
        threshold: probability threshold in (0, 1) for new objects.
        overlap_rule: one of :data:`OVERLAP_RULES`.
        settings: plain-data dict recorded in outputs (checkpoint, predictor params, runtime); not interpreted.
        class_names: optional list of class labels whose category ids are fixed as 1..K in this order.
        stuff_labels: labels whose category is "stuff" in the panoptic output (default: all are things).
        clicker_factory, click_factory: ``Clicker`` / ``Click`` classes (default: ``isegm.inference.clicker``).
        autosave_path: when set, the session is written there (atomically) after every change.
        box_margin: context around a restricting box, as a fraction of its longer side.
    Raises:
        ValueError: bad threshold or overlap rule.
    """

    def __init__(self, predictor, threshold=0.5, overlap_rule="keep_earlier", settings=None, class_names=None,
                 stuff_labels=None, clicker_factory=None, click_factory=None, autosave_path=None,
                 box_margin=0.2):
        if clicker_factory is None or click_factory is None:
            default_clicker, default_click = _default_clicker_classes()
            clicker_factory = clicker_factory or default_clicker
            click_factory = click_factory or default_click
        if overlap_rule not in OVERLAP_RULES:
            raise ValueError(f"overlap_rule must be one of {OVERLAP_RULES}, got {overlap_rule!r}")
        self.predictor = predictor
        self.overlap_rule = overlap_rule
        self.settings = dict(settings or {})
        self.class_names = [str(c) for c in (class_names or [])]
        self.stuff_labels = set(stuff_labels or ())
        self.autosave_path = Path(autosave_path) if autosave_path else None
        self.autosave_error = None
        self.box_margin = float(box_margin)
        self.lock = threading.RLock()
        self._clicker_factory = clicker_factory
        self._click_factory = click_factory
        self.image = None
        self.threshold = 0.5
        self.set_threshold(threshold)
        self.label = DEFAULT_LABEL
        self.image_name = None
        self.image_sha = None
        self.objects = []
        self.last_prediction_time = None
        self.dirty = False
        self._cur = _Current()
        self._history = []
        self._crop = None
        self._finals = []
        self._claimed = None

    # ------------------------------------------------------------------ image and settings
    @property
    def shape(self):
        """(H, W) of the image, or None."""
        return None if self.image is None else self.image.shape[:2]

    def set_image(self, image, name="image"):
        """Start a session on a new image; drops all objects.

        Args:
            image: (H, W, 3) uint8 RGB.
            name: file name of the image (recorded in the outputs; its stem names the output files).
        Raises:
            ValueError: if image is not (H, W, 3) uint8.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        with self.lock:
            self.image = np.ascontiguousarray(image)
            self.image_name = str(name)
            self.image_sha = image_sha256(self.image)
            self.objects = []
            self._cur = _Current()
            self._history = []
            self._crop = None
            self.dirty = False
            self._recompose()
            self._reset_predictor()

    def set_threshold(self, threshold):
        """Probability threshold in (0, 1) for the current and later objects (finished ones keep theirs)."""
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        with self.lock:
            self.threshold = threshold
            self._autosave()

    def set_label(self, label, isthing=None):
        """Class label of the current object (and of later ones until changed).

        Args:
            label: non-empty string (surrounding spaces are stripped).
            isthing: when given, marks this label as a thing (True) or stuff (False) class for panoptic output.
        Raises:
            ValueError: empty label.
        """
        label = str(label).strip()
        if not label:
            raise ValueError("class label must not be empty")
        with self.lock:
            self.label = label
            if isthing is not None:
                if isthing:
                    self.stuff_labels.discard(label)
                else:
                    self.stuff_labels.add(label)
            self._autosave()

    def categories(self):
        """Categories: fixed ``class_names`` first, then other labels in order of first use.

        Returns:
            list of {'id': 1.., 'name': str, 'isthing': bool}.
        """
        names = list(self.class_names)
        for obj in self.objects:
            if obj.label not in names:
                names.append(obj.label)
        return [{"id": i + 1, "name": n, "isthing": n not in self.stuff_labels} for i, n in enumerate(names)]

    # ------------------------------------------------------------------ editing the current object
    def add_click(self, y, x, positive):
        """Add a click to the current object and predict.

        Args:
            y, x: pixel coordinates in the image (ints).
            positive: True for a foreground click, False for background.
        Returns:
            (H, W) float32 probability map of the current object.
        Raises:
            RuntimeError: no image; ValueError: click outside the image or outside the restricting box.
        """
        with self.lock:
            self._require_image()
            click = ClickRecord(int(y), int(x), bool(positive))
            self._check_click(click, self._cur.box)
            self._push_history()
            try:
                self._cur.clicks.append(click)
                self._cur.prob = self._predict(self._cur.clicks, self._cur.init_mask)
            except BaseException:
                self._restore(self._history.pop())
                raise
            self._changed()
            return self._cur.prob

    def set_box(self, box):
        """Restrict the current object to a box (or lift the restriction with None) and re-predict.

        Args:
            box: (y0, x0, y1, x1) in pixels, end exclusive; clipped to the image; at least 4 x 4 px.
        Raises:
            ValueError: box too small / inverted, or an existing click of the object lies outside it.
        """
        with self.lock:
            self._require_image()
            if box is not None:
                box = self._clip_box(box)
                for c in self._cur.clicks:
                    self._check_click(c, box)
            self._push_history()
            try:
                self._cur.box = box
                self._cur.prob = self._replay_current(record_history=False)
            except BaseException:
                self._restore(self._history.pop())
                raise
            self._changed()

    def set_external_mask(self, mask):
        """Start the current object from an external mask, to be corrected with clicks (RITM "load mask").

        Clicks of the current object are dropped (undo brings them back); the box is kept.

        Args:
            mask: (H, W) array; nonzero = object.
        Raises:
            ValueError: mask size differs from the image (both sizes named) or mask is empty.
        """
        with self.lock:
            self._require_image()
            mask = np.asarray(mask)
            if mask.ndim != 2 or mask.shape != self.shape:
                got = f"{mask.shape[1]}x{mask.shape[0]}" if mask.ndim >= 2 else str(mask.shape)
                raise ValueError(f"external mask is {got} (WxH) but the image is {self.shape[1]}x{self.shape[0]}")
            mask = mask != 0
            if not mask.any():
                raise ValueError("external mask has no foreground pixels")
            self._push_history()
            self._cur.clicks = []
            self._cur.init_mask = mask
            self._cur.init_rle = export.mask_to_rle(mask)
            self._cur.prob = self._replay_current(record_history=False)
            self._changed()

    def undo(self):
        """Undo the last action on the current object, or reopen the last finished object.

        Returns:
            'action' when an action was undone, 'reopen' when the last finished object became current again,
            None when there was nothing to undo.
        """
        with self.lock:
            if self.image is None:
                return None
            if self._history:
                self._restore(self._history.pop())
                self._changed()
                return "action"
            if self._cur.is_empty() and self.objects:
                obj = self.objects.pop()
                self._recompose()
                self.label = obj.label
                self.threshold = obj.threshold
                self._cur = _Current()
                if obj.box is not None or obj.init_mask is not None:
                    # one more undo step back to an empty object
                    self._reset_predictor(None)
                    self._push_history()
                self._cur = _Current(clicks=[], box=obj.box, init_mask=obj.init_mask, init_rle=obj.init_rle)
                self._cur.prob = self._replay_current(record_history=True, clicks=list(obj.clicks))
                self._changed()
                return "reopen"
            return None

    def reset_object(self):
        """Clear the current object's clicks, box and external mask (undoable)."""
        with self.lock:
            if self.image is None or self._cur.is_empty():
                return
            self._push_history()
            self._cur = _Current()
            self._reset_predictor()
            self._changed()

    def finish_object(self):
        """Turn the current object into a finished one, with the current label.

        Returns:
            the new object's instance id (1-based).
        Raises:
            ValueError: the current object has no pixels above the threshold, or none left after the
            overlap rule, or (later_wins) it would leave an earlier object empty.
        """
        with self.lock:
            self._require_image()
            if self._cur.prob is None:
                raise ValueError("nothing to finish: the current object has no clicks and no external mask")
            raw = self._cur.prob > self.threshold
            if not raw.any():
                raise ValueError(f"the current object has no pixel above the threshold {self.threshold}")
            new_index = len(self.objects)
            if self.overlap_rule == "keep_earlier":
                if not (raw & ~self._claimed).any():
                    raise ValueError("every pixel of the current object already belongs to earlier objects "
                                     "(overlap rule keep_earlier)")
            else:
                emptied = [i + 1 for i, f in enumerate(self._finals) if f.any() and not (f & ~raw).any()]
                if emptied:
                    raise ValueError(f"the current object would cover earlier object(s) {emptied} completely "
                                     "(overlap rule later_wins)")
            self.objects.append(AnnotatedObject(
                label=self.label, clicks=tuple(self._cur.clicks), box=self._cur.box, init_mask=self._cur.init_mask,
                threshold=self.threshold, raw_mask=raw, prob=self._cur.prob, init_rle=self._cur.init_rle))
            self._recompose()
            self._cur = _Current()
            self._history = []
            self._reset_predictor()
            self._changed()
            return new_index + 1

    # ------------------------------------------------------------------ results
    def final_masks(self):
        """List of (H, W) bool masks of the finished objects after the overlap rule (object order)."""
        with self.lock:
            return [m.copy() for m in self._finals]

    def instance_map(self):
        """(H, W) uint16 instance ids of finished objects, 0 = background."""
        with self.lock:
            self._require_image()
            inst = np.zeros(self.shape, np.uint16)
            for i, m in enumerate(self._finals):
                inst[m] = i + 1
            return inst

    def current_mask(self):
        """(H, W) bool mask the current object would get if finished now (overlap rule applied), or None."""
        with self.lock:
            if self._cur.prob is None:
                return None
            raw = self._cur.prob > self.threshold
            if self.overlap_rule == "keep_earlier":
                raw &= ~self._claimed
            return raw

    @property
    def current_prob(self):
        """(H, W) float32 probability map of the current object, or None."""
        return self._cur.prob

    @property
    def current_clicks(self):
        """Clicks of the current object (list of ClickRecord)."""
        return list(self._cur.clicks)

    @property
    def current_box(self):
        """Restricting box of the current object, or None."""
        return self._cur.box

    def has_current(self):
        """True while the current object has clicks, a box or an external mask."""
        return not self._cur.is_empty()

    def view_state(self):
        """:class:`ViewState` snapshot (copies), safe to hand to another thread."""
        with self.lock:
            self._require_image()
            objects = [(i + 1, o.label, int(f.sum())) for i, (o, f) in enumerate(zip(self.objects, self._finals))]
            return ViewState(
                image=self.image, instances=self.instance_map(), current_mask=self.current_mask(), clicks=list(self._cur.clicks),
                box=self._cur.box, next_id=len(self.objects) + 1, label=self.label,
                isthing=self.label not in self.stuff_labels, objects=objects, threshold=self.threshold,
                last_prediction_time=self.last_prediction_time,
                can_undo=bool(self._history) or (self._cur.is_empty() and bool(self.objects)), dirty=self.dirty)

    def export_objects(self):
        """Finished objects as :class:`isegm.annotation.export.ExportObject` (with replay fields)."""
        with self.lock:
            cat_ids = {c["name"]: c["id"] for c in self.categories()}
            out = []
            for i, (obj, final) in enumerate(zip(self.objects, self._finals)):
                rec = _object_record(obj)
                extra = {k: rec[k] for k in ("clicks", "restrict_box", "init_mask", "threshold")}
                extra["isthing"] = obj.label not in self.stuff_labels
                out.append(export.ExportObject(id=i + 1, label=obj.label, category_id=cat_ids[obj.label],
                                                  mask=final.copy(), extra=extra))
            return out

    def save(self, out_dir, overwrite=False, name=None, alpha=0.5):
        """Write all output forms (see :mod:`isegm.annotation.export`) for the finished objects.

        Args:
            out_dir: output folder; name: file stem (default: the image file's stem).
            overwrite: replace existing files.
        Returns:
            dict kind -> Path.
        Raises:
            RuntimeError: no image; FileExistsError: outputs exist and overwrite is False.
        """
        with self.lock:
            self._require_image()
            stem = name or Path(self.image_name).stem
            paths = export.export_annotations(
                out_dir, stem, self.image, self.export_objects(), self.categories(),
                isegm_info=self._session_header(), image_file_name=Path(self.image_name).name,
                checkpoint_name=(self.settings.get("checkpoint") or {}).get("path"), overwrite=overwrite,
                alpha=alpha)
            self.dirty = False
            return paths

    # ------------------------------------------------------------------ session records (autosave / replay)
    def to_session(self, include_current=True):
        """Plain-data session dict (format ``isegm-annotation-session``): everything needed to replay it."""
        with self.lock:
            self._require_image()
            session = self._session_header()
            session["objects"] = [dict(_object_record(o), id=i + 1) for i, o in enumerate(self.objects)]
            cur = None
            if include_current and not self._cur.is_empty():
                cur = {"label": self.label,
                       "clicks": [_click_dict(c, k + 1) for k, c in enumerate(self._cur.clicks)],
                       "restrict_box": list(self._cur.box) if self._cur.box is not None else None,
                       "init_mask": self._cur.init_rle, "threshold": self.threshold}
            session["current"] = cur
            return session

    def _session_header(self):
        return {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "image": {"file_name": Path(self.image_name).name, "height": int(self.shape[0]),
                      "width": int(self.shape[1]), "sha256": self.image_sha},
            "threshold": self.threshold,
            "overlap_rule": self.overlap_rule,
            "categories": self.categories(),
            "box_margin": self.box_margin,
            "settings": self.settings,
        }

    def restore(self, session, check_image=True):
        """Replay a session (from :meth:`to_session`, an autosave or a saved ``<name>.json``) on the current image.

        Objects are rebuilt by feeding their clicks to the predictor exactly as in a live session, so with the
        same checkpoint, predictor settings and device the masks equal the saved ones bit for bit.

        Args:
            session: dict; see :func:`load_session` for accepted forms.
            check_image: compare the image's size and pixel hash with the recorded ones.
        Raises:
            ValueError: the session belongs to another image, or holds invalid clicks / boxes / masks.
        """
        session = load_session(session)
        with self.lock:
            self._require_image()
            info = session["image"]
            if (int(info["height"]), int(info["width"])) != self.shape:
                raise ValueError(f"session is for a {info['width']}x{info['height']} image "
                                 f"({info.get('file_name')}), the loaded image is {self.shape[1]}x{self.shape[0]}")
            if check_image and info.get("sha256") and info["sha256"] != self.image_sha:
                raise ValueError(f"session was recorded on different pixels than the loaded image "
                                 f"(sha256 {info['sha256'][:12]}... vs {self.image_sha[:12]}...)")
            if session.get("overlap_rule", "keep_earlier") not in OVERLAP_RULES:
                raise ValueError(f"unknown overlap_rule {session.get('overlap_rule')!r} in session")
            saved_autosave, self.autosave_path = self.autosave_path, None
            try:
                self.overlap_rule = session.get("overlap_rule", "keep_earlier")
                self.box_margin = float(session.get("box_margin", self.box_margin))
                cats = session.get("categories") or []
                self.class_names = [c["name"] for c in cats]
                self.stuff_labels = {c["name"] for c in cats if not c.get("isthing", True)}
                self.objects = []
                self._cur = _Current()
                self._history = []
                self._recompose()
                self._reset_predictor()
                for rec in session.get("objects") or []:
                    try:
                        self._load_object_record(rec)
                        self.finish_object()
                    except ValueError as exc:
                        raise ValueError(f"object {rec.get('id')} ({rec.get('label')}): {exc}") from exc
                if session.get("current"):
                    try:
                        self._load_object_record(session["current"])
                    except ValueError as exc:
                        raise ValueError(f"unfinished object: {exc}") from exc
                self.set_threshold(session.get("threshold", self.threshold))
            finally:
                self.autosave_path = saved_autosave
            self.dirty = False

    def _load_object_record(self, rec):
        self.set_label(rec.get("label") or DEFAULT_LABEL)
        self.set_threshold(rec.get("threshold", self.threshold))
        box = rec.get("restrict_box")
        init = rec.get("init_mask")
        self._cur = _Current()
        self._history = []
        if box is not None:
            box = tuple(int(v) for v in box)
            self._check_box_exact(box)
        init_mask = None
        if init is not None:
            init_mask = export.rle_to_mask(init)
            if init_mask.shape != self.shape:
                raise ValueError(f"init_mask of object {rec.get('id')} has shape {init_mask.shape}, "
                                 f"image is {self.shape}")
        clicks = []
        for c in rec.get("clicks") or []:
            click = ClickRecord(int(c["y"]), int(c["x"]), bool(c["positive"]))
            self._check_click(click, box)
            clicks.append(click)
        self._cur.box = box
        self._cur.init_mask = init_mask
        self._cur.init_rle = init
        self._cur.prob = self._replay_current(record_history=True, clicks=clicks)

    # ------------------------------------------------------------------ internals
    def _require_image(self):
        if self.image is None:
            raise RuntimeError("no image loaded: call set_image first")

    def _check_click(self, click, box):
        h, w = self.shape
        if not (0 <= click.y < h and 0 <= click.x < w):
            raise ValueError(f"click (y={click.y}, x={click.x}) is outside the {w}x{h} image")
        if box is not None:
            y0, x0, y1, x1 = box
            if not (y0 <= click.y < y1 and x0 <= click.x < x1):
                raise ValueError(f"click (y={click.y}, x={click.x}) is outside the box "
                                 f"(y0={y0}, x0={x0}, y1={y1}, x1={x1})")

    def _clip_box(self, box):
        h, w = self.shape
        y0, x0, y1, x1 = (int(round(v)) for v in box)
        y0, y1 = sorted((y0, y1))
        x0, x1 = sorted((x0, x1))
        y0, x0 = max(0, y0), max(0, x0)
        y1, x1 = min(h, y1), min(w, x1)
        if y1 - y0 < 4 or x1 - x0 < 4:
            raise ValueError(f"box {tuple(box)} is smaller than 4x4 pixels inside the {w}x{h} image")
        return (y0, x0, y1, x1)

    def _check_box_exact(self, box):
        if box != self._clip_box(box):
            raise ValueError(f"box {box} is not a valid (y0, x0, y1, x1) box inside the image")

    def _crop_for(self, box):
        h, w = self.shape
        if box is None:
            return (0, 0, h, w)
        y0, x0, y1, x1 = box
        margin = max(16, int(round(self.box_margin * max(y1 - y0, x1 - x0))))
        return (max(0, y0 - margin), max(0, x0 - margin), min(h, y1 + margin), min(w, x1 + margin))

    def _reset_predictor(self, box=None):
        crop = self._crop_for(box)
        y0, x0, y1, x1 = crop
        self.predictor.set_input_image(np.ascontiguousarray(self.image[y0:y1, x0:x1]))
        self._crop = crop

    @staticmethod
    def _prev_mask_input(mask):
        return np.ascontiguousarray(mask, dtype=np.float32)

    def _predict(self, clicks, init_mask):
        """Probability map after ``clicks`` (the predictor already holds the state after clicks[:-1])."""
        y0, x0, y1, x1 = self._crop
        clicker = self._clicker_factory(click_indx_offset=1 if init_mask is not None else 0)
        for c in clicks:
            clicker.add_click(self._click_factory(is_positive=c.positive, coords=(c.y - y0, c.x - x0)))
        prev = None
        if init_mask is not None and len(clicks) == 1:
            prev = self._prev_mask_input(init_mask[y0:y1, x0:x1])
        start = time.perf_counter()
        with _inference_mode():
            prob = self.predictor.get_prediction(clicker, prev_mask=prev)
        self.last_prediction_time = time.perf_counter() - start
        prob = np.asarray(prob, dtype=np.float32)
        if prob.shape != (y1 - y0, x1 - x0):
            raise RuntimeError(f"predictor returned shape {prob.shape}, expected {(y1 - y0, x1 - x0)}")
        return self._paste(prob)

    def _paste(self, crop_prob):
        y0, x0, y1, x1 = self._crop
        full = np.zeros(self.shape, np.float32)
        full[y0:y1, x0:x1] = crop_prob
        if self._cur.box is not None:
            by0, bx0, by1, bx1 = self._cur.box
            restricted = np.zeros_like(full)
            restricted[by0:by1, bx0:bx1] = full[by0:by1, bx0:bx1]
            full = restricted
        return full

    def _replay_current(self, record_history, clicks=None):
        """Reset the predictor for the current box and feed the clicks in order; returns the last prob map."""
        clicks = list(self._cur.clicks if clicks is None else clicks)
        self._cur.clicks = []
        self._reset_predictor(self._cur.box)
        prob = None
        if self._cur.init_mask is not None:
            prob = self._paste(self._cur.init_mask[slice(self._crop[0], self._crop[2]),
                                                   slice(self._crop[1], self._crop[3])].astype(np.float32))
        for click in clicks:
            if record_history:
                self._cur.prob = prob
                self._push_history()
            self._cur.clicks.append(click)
            prob = self._predict(self._cur.clicks, self._cur.init_mask)
        return prob

    def _push_history(self):
        states = self.predictor.get_states() if hasattr(self.predictor, "get_states") else None
        self._history.append({
            "clicks": list(self._cur.clicks), "box": self._cur.box, "init_mask": self._cur.init_mask,
            "init_rle": self._cur.init_rle, "prob": self._cur.prob, "states": states, "crop": self._crop,
        })

    def _restore(self, snap):
        self._cur = _Current(clicks=list(snap["clicks"]), box=snap["box"], init_mask=snap["init_mask"],
                             init_rle=snap["init_rle"], prob=snap["prob"])
        if snap["crop"] != self._crop:
            y0, x0, y1, x1 = snap["crop"]
            self.predictor.set_input_image(np.ascontiguousarray(self.image[y0:y1, x0:x1]))
            self._crop = snap["crop"]
        if snap["states"] is not None:
            self.predictor.set_states(snap["states"])

    def _recompose(self):
        if self.image is None:
            self._finals, self._claimed = [], None
            return
        raws = [o.raw_mask for o in self.objects]
        finals = []
        claimed = np.zeros(self.shape, bool)
        if self.overlap_rule == "keep_earlier":
            for raw in raws:
                final = raw & ~claimed
                claimed |= final
                finals.append(final)
        else:
            for raw in reversed(raws):
                finals.append(raw & ~claimed)
                claimed |= raw
            finals.reverse()
        self._finals = finals
        self._claimed = claimed

    def _changed(self):
        self.dirty = True
        self._autosave()

    def _autosave(self):
        if self.autosave_path is None or self.image is None:
            return
        try:
            self.autosave_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.autosave_path, self.to_session(), overwrite=True)
            self.autosave_error = None
        except OSError as exc:  # never lose the session over a failed autosave; report it instead
            self.autosave_error = f"autosave to {self.autosave_path} failed: {exc}"
            logger.warning(self.autosave_error)


def _click_dict(click, order):
    return {"y": click.y, "x": click.x, "positive": click.positive, "order": order}


def _object_record(obj):
    return {
        "label": obj.label,
        "clicks": [_click_dict(c, k + 1) for k, c in enumerate(obj.clicks)],
        "restrict_box": list(obj.box) if obj.box is not None else None,
        "init_mask": obj.init_rle,
        "threshold": obj.threshold,
    }


def load_session(source):
    """Normalise a session: a session dict, a saved COCO-style ``<name>.json`` dict, or a path to either.

    Returns:
        session dict (format ``isegm-annotation-session``) with 'image', 'objects', 'current', 'categories',
        'threshold', 'overlap_rule', 'settings'.
    Raises:
        FileNotFoundError: missing file; ValueError: not valid JSON or not an isegm annotation/session.
    """
    import json

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"clicks/session file not found: {path}")
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
        where = str(path)
    else:
        where = "session dict"
    if not isinstance(source, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(source).__name__}")
    if source.get("format") == SESSION_FORMAT and "objects" in source:
        session = dict(source)
    elif "annotations" in source and isinstance(source.get("isegm"), dict):
        session = dict(source["isegm"])
        cats = {int(c["id"]): c["name"] for c in source.get("categories", [])}
        objects = []
        for ann in sorted(source["annotations"], key=lambda a: int(a["id"])):
            objects.append({"id": int(ann["id"]), "label": ann.get("label") or cats.get(int(ann["category_id"])),
                            "clicks": ann.get("clicks") or [], "restrict_box": ann.get("restrict_box"),
                            "init_mask": ann.get("init_mask"), "threshold": ann.get("threshold", 0.5)})
        session["objects"] = objects
        session["current"] = None
    else:
        raise ValueError(f"{where}: not an isegm annotation json (expected 'format': '{SESSION_FORMAT}' or COCO "
                         "'annotations' with an 'isegm' section)")
    if session.get("version", SESSION_VERSION) > SESSION_VERSION:
        raise ValueError(f"{where}: session version {session['version']} is newer than supported "
                         f"({SESSION_VERSION})")
    if "image" not in session:
        raise ValueError(f"{where}: session has no 'image' entry")
    return session
