"""The data of an interactive multi-object annotation session, and the calls to the predictor (no GUI code).

An :class:`AnnotationSession` holds one image, the finished objects (each with a class label, the clicks that
made it, an optional restricting box and an optional external start mask) and the object being edited. It
calls a predictor-like object (RITM lineage, see ``isegm.inference.predictors``) for every click:

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

The parts: :mod:`~isegm.annotation.overlap` (who owns overlapping pixels), :mod:`~isegm.annotation.history`
(typed undo steps: an undo restores the state before the last action exactly, predictor states included),
:mod:`~isegm.annotation.codec` (session json for autosave/resume/replay), :mod:`~isegm.annotation.export`
(output files). Coordinates are (y, x) pixels of the full image.
"""
import contextlib
import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from isegm.annotation import codec, export, overlap
from isegm.annotation.history import History, ObjectState, UndoStep
from isegm.geometry import Box, Click
from isegm.io import atomic_write_json

logger = logging.getLogger(__name__)

DEFAULT_LABEL = "object"
MIN_BOX_SIDE = 4


@dataclass
class AnnotatedObject:
    """A finished object.

    Attributes:
        label: class label.
        clicks: tuple of :class:`isegm.geometry.Click` that made it, in order.
        box: restricting :class:`isegm.geometry.Box` or None.
        init_mask: (H, W) bool external start mask, or None; init_rle: its COCO RLE or None.
        threshold: probability threshold used for ``raw_mask``.
        raw_mask: (H, W) bool ``prob > threshold`` (before the overlap rule).
        prob: (H, W) float32 last probability map (kept for display; not saved).
    """
    label: str
    clicks: tuple
    box: Optional[Box]
    init_mask: Optional[np.ndarray]
    threshold: float
    raw_mask: np.ndarray
    prob: Optional[np.ndarray] = None
    init_rle: Optional[dict] = None


@dataclass
class ViewState:
    """Snapshot for a view: everything needed to draw the session (arrays are not modified afterwards).

    Attributes:
        image: (H, W, 3) uint8 RGB image (shared, never modified in place).
        instances: (H, W) uint16 ids of finished objects (after the overlap rule).
        current_mask: (H, W) bool mask of the object being edited as it would be finished, or None.
        clicks: list of :class:`isegm.geometry.Click` of the current object.
        box: current restricting :class:`isegm.geometry.Box` or None.
        next_id: id the current object will get.
        label: current class label; objects: list of (id, label, area).
    """
    image: np.ndarray
    instances: np.ndarray
    current_mask: Optional[np.ndarray]
    clicks: list
    box: Optional[Box]
    next_id: int
    label: str
    isthing: bool
    objects: list
    threshold: float
    last_prediction_time: Optional[float]
    can_undo: bool
    dirty: bool


def _default_clicker_classes():
    from isegm.inference.clicker import Clicker
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


class AnnotationSession:
    """Session model: image, objects with class labels, clicks, undo, predictions, box, external mask.

    Args:
        predictor: predictor-like object (see module docstring).
        threshold: probability threshold in (0, 1) for new objects.
        overlap_rule: one of :data:`isegm.annotation.overlap.OVERLAP_RULES`.
        settings: plain-data dict recorded in outputs (checkpoint, predictor params, runtime); not interpreted.
        class_names: optional list of class labels whose category ids are fixed as 1..K in this order; the
            first one is the initial label.
        stuff_labels: labels whose category is "stuff" in the panoptic output (default: all are things).
        clicker_factory, click_factory: ``Clicker`` / ``Click`` classes (default: ``isegm.inference.clicker``
            and :class:`isegm.geometry.Click`).
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
        self.overlap_rule = overlap.check_rule(overlap_rule)
        self.predictor = predictor
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
        self.label = self.class_names[0] if self.class_names else DEFAULT_LABEL
        self.image_name = None
        self.image_sha = None
        self.objects = []
        self.last_prediction_time = None
        self.dirty = False
        self._cur = ObjectState()
        self._history = History()
        self._crop = None
        self._finals = []
        self._claimed = None
        self._saved_record = []

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
            self.image_sha = codec.image_sha256(self.image)
            self.objects = []
            self._cur = ObjectState()
            self._history.clear()
            self._crop = None
            self.dirty = False
            self._saved_record = []
            self._recompose()
            self._reset_predictor()

    def set_threshold(self, threshold):
        """Probability threshold in (0, 1) for the current and later objects (finished ones keep theirs).

        Raises:
            ValueError: outside (0, 1).
        """
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
            click = Click(int(y), int(x), bool(positive), len(self._cur.clicks))
            self._check_click(click, self._cur.box)
            self._push_history("click")
            try:
                clicks = self._cur.clicks + (click,)
                self._cur = dataclasses.replace(self._cur, clicks=clicks,
                                                prob=self._predict(clicks, self._cur.init_mask))
            except BaseException:
                self._restore(self._history.pop())
                raise
            self._changed()
            return self._cur.prob

    def set_box(self, box):
        """Restrict the current object to a box (or lift the restriction with None) and re-predict.

        Args:
            box: :class:`isegm.geometry.Box` or (y0, x0, y1, x1) in pixels, end exclusive; clipped to the image;
                at least 4 x 4 px.
        Raises:
            ValueError: box too small / inverted, or an existing click of the object lies outside it.
        """
        with self.lock:
            self._require_image()
            if box is not None:
                box = self._clip_box(box)
                for c in self._cur.clicks:
                    self._check_click(c, box)
            self._push_history("box")
            try:
                self._cur = dataclasses.replace(self._cur, box=box)
                self._replay_current(record_history=False)
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
            self._push_history("external_mask")
            self._cur = dataclasses.replace(self._cur, clicks=(), init_mask=mask, init_rle=export.mask_to_rle(mask))
            self._replay_current(record_history=False)
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
                self._cur = ObjectState()
                if obj.box is not None or obj.init_mask is not None:
                    # one more undo step back to an empty object
                    self._reset_predictor(None)
                    self._push_history("replay")
                self._cur = ObjectState(box=obj.box, init_mask=obj.init_mask, init_rle=obj.init_rle)
                self._replay_current(record_history=True, clicks=obj.clicks)
                self._changed()
                return "reopen"
            return None

    def reset_object(self):
        """Clear the current object's clicks, box and external mask (undoable)."""
        with self.lock:
            if self.image is None or self._cur.is_empty():
                return
            self._push_history("reset")
            self._cur = ObjectState()
            self._reset_predictor()
            self._changed()

    def finish_object(self):
        """Turn the current object into a finished one, with the current label.

        Returns:
            the new object's instance id (1-based).
        Raises:
            ValueError: the current object has no pixels above the threshold, or the overlap rule refuses it
            (see :func:`isegm.annotation.overlap.check_finish`).
        """
        with self.lock:
            self._require_image()
            if self._cur.prob is None:
                raise ValueError("nothing to finish: the current object has no clicks and no external mask")
            raw = self._cur.prob > self.threshold
            if not raw.any():
                raise ValueError(f"refused: the current object has no pixel above the threshold {self.threshold}")
            overlap.check_finish(raw, self._finals, self._claimed, self.overlap_rule)
            cur = self._cur
            self.objects.append(AnnotatedObject(
                label=self.label, clicks=cur.clicks, box=cur.box, init_mask=cur.init_mask,
                threshold=self.threshold, raw_mask=raw, prob=cur.prob, init_rle=cur.init_rle))
            self._recompose()
            self._cur = ObjectState()
            self._history.clear()
            self._reset_predictor()
            self._changed()
            return len(self.objects)

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
            return overlap.visible_current(self._cur.prob > self.threshold, self._claimed, self.overlap_rule)

    @property
    def current_prob(self):
        """(H, W) float32 probability map of the current object, or None."""
        return self._cur.prob

    @property
    def current_clicks(self):
        """Clicks of the current object (list of :class:`isegm.geometry.Click`, index 0 = first)."""
        return list(self._cur.clicks)

    @property
    def current_box(self):
        """Restricting :class:`isegm.geometry.Box` of the current object, or None."""
        return self._cur.box

    def has_unsaved_changes(self):
        """True when the finished objects (labels, clicks, boxes, masks, thresholds) differ from those of the
        last :meth:`save`, :meth:`set_image` or :meth:`restore`; the unfinished object does not count (it is
        never written to the outputs; the autosave keeps it)."""
        with self.lock:
            return self._objects_record() != self._saved_record

    def _objects_record(self):
        return [(o.label, o.clicks, o.box, o.threshold, None if o.init_rle is None else o.init_rle["counts"],
                 o.label in self.stuff_labels) for o in self.objects]

    def has_current(self):
        """True while the current object has clicks, a box or an external mask."""
        return not self._cur.is_empty()

    @property
    def undo_actions(self):
        """Names of the undoable actions on the current object, oldest first (see :mod:`history`)."""
        return self._history.actions()

    def view_state(self):
        """:class:`ViewState` snapshot (copies), safe to hand to another thread."""
        with self.lock:
            self._require_image()
            objects = [(i + 1, o.label, int(f.sum())) for i, (o, f) in enumerate(zip(self.objects, self._finals))]
            return ViewState(
                image=self.image, instances=self.instance_map(), current_mask=self.current_mask(),
                clicks=list(self._cur.clicks), box=self._cur.box, next_id=len(self.objects) + 1, label=self.label,
                isthing=self.label not in self.stuff_labels, objects=objects, threshold=self.threshold,
                last_prediction_time=self.last_prediction_time,
                can_undo=bool(self._history) or (self._cur.is_empty() and bool(self.objects)), dirty=self.dirty)

    def export_objects(self):
        """Finished objects as :class:`isegm.annotation.export.ExportObject` (with replay fields)."""
        with self.lock:
            cat_ids = {c["name"]: c["id"] for c in self.categories()}
            out = []
            for i, (obj, final) in enumerate(zip(self.objects, self._finals)):
                extra = codec.object_record(obj.label, obj.clicks, obj.box, obj.init_rle, obj.threshold)
                del extra["label"]
                extra["isthing"] = obj.label not in self.stuff_labels
                out.append(export.ExportObject(id=i + 1, label=obj.label, category_id=cat_ids[obj.label],
                                               mask=final.copy(), extra=extra))
            return out

    def output_paths(self, out_dir, name=None):
        """{kind: Path} that :meth:`save` writes into ``out_dir`` (see :func:`export.output_paths`)."""
        return export.output_paths(out_dir, name or Path(self.image_name).stem)

    def save(self, out_dir, overwrite=False, name=None, alpha=0.5):
        """Write all output forms (see :mod:`isegm.annotation.export`) for the finished objects.

        Args:
            out_dir: output folder; name: file stem (default: the image file's stem).
            overwrite: replace existing files.
        Returns:
            dict kind -> Path.
        Raises:
            RuntimeError: no image; FileExistsError: outputs exist and overwrite is False;
            NotADirectoryError: ``out_dir`` is a file.
        """
        with self.lock:
            self._require_image()
            if Path(out_dir).exists() and not Path(out_dir).is_dir():
                raise NotADirectoryError(f"output folder {out_dir} is a file, expected a folder")
            stem = name or Path(self.image_name).stem
            paths = export.export_annotations(
                out_dir, stem, self.image, self.export_objects(), self.categories(),
                isegm_info=self._session_header(), image_file_name=Path(self.image_name).name,
                checkpoint_name=(self.settings.get("checkpoint") or {}).get("path"), overwrite=overwrite,
                alpha=alpha)
            self.dirty = False
            self._saved_record = self._objects_record()
            return paths

    # ------------------------------------------------------------------ session records (autosave / replay)
    def to_session(self, include_current=True):
        """Plain-data session dict (see :mod:`isegm.annotation.codec`): everything needed to replay it."""
        with self.lock:
            self._require_image()
            session = self._session_header()
            session["objects"] = [dict(codec.object_record(o.label, o.clicks, o.box, o.init_rle, o.threshold),
                                       id=i + 1) for i, o in enumerate(self.objects)]
            cur = None
            if include_current and not self._cur.is_empty():
                cur = codec.object_record(self.label, self._cur.clicks, self._cur.box, self._cur.init_rle,
                                          self.threshold)
            session["current"] = cur
            return session

    def _session_header(self):
        return {
            "format": codec.SESSION_FORMAT,
            "version": codec.SESSION_VERSION,
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
            session: dict or path; see :func:`isegm.annotation.codec.load_session` for accepted forms.
            check_image: compare the image's size and pixel hash with the recorded ones.
        Raises:
            ValueError: the session belongs to another image, or holds invalid clicks / boxes / masks (the
                message names the file and the object).
        """
        session = codec.load_session(session)
        where = session.get("where", "session")
        with self.lock:
            self._require_image()
            info = session["image"]
            try:
                size = (int(info["height"]), int(info["width"]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{where}: 'image' needs integer 'height' and 'width'") from None
            if size != self.shape:
                raise ValueError(f"{where}: session is for a {size[1]}x{size[0]} image "
                                 f"({info.get('file_name')}), the loaded image is {self.shape[1]}x{self.shape[0]}")
            if check_image and info.get("sha256") and info["sha256"] != self.image_sha:
                raise ValueError(f"{where}: session was recorded on different pixels than the loaded image "
                                 f"(sha256 {info['sha256'][:12]}... vs {self.image_sha[:12]}...)")
            rule = session.get("overlap_rule", overlap.DEFAULT_RULE)
            if rule not in overlap.OVERLAP_RULES:
                raise ValueError(f"{where}: unknown overlap_rule {rule!r} in session")
            saved_autosave, self.autosave_path = self.autosave_path, None
            try:
                self.overlap_rule = rule
                self.box_margin = float(session.get("box_margin", self.box_margin))
                cats = session.get("categories") or []
                self.class_names = [c["name"] for c in cats]
                self.stuff_labels = {c["name"] for c in cats if not c.get("isthing", True)}
                self.objects = []
                self._cur = ObjectState()
                self._history.clear()
                self._recompose()
                self._reset_predictor()
                for rec in session.get("objects") or []:
                    here = f"{where}: object {rec.get('id')} ({rec.get('label')})"
                    try:
                        self._load_object_record(rec, here)
                        self.finish_object()
                    except ValueError as exc:
                        raise ValueError(str(exc) if str(exc).startswith(where) else f"{here}: {exc}") from None
                if session.get("current"):
                    self._load_object_record(session["current"], f"{where}: unfinished object")
                self.set_threshold(session.get("threshold", self.threshold))
            finally:
                self.autosave_path = saved_autosave
            self.dirty = False
            self._saved_record = self._objects_record()

    def _load_object_record(self, rec, where):
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: expected an object record, got {rec!r:.60}")
        self.set_label(rec.get("label") or DEFAULT_LABEL)
        self.set_threshold(rec.get("threshold", self.threshold))
        box = codec.box_from_json(rec.get("restrict_box"), where)
        init = rec.get("init_mask")
        self._cur = ObjectState()
        self._history.clear()
        if box is not None:
            self._check_box_exact(box, where)
        init_mask = None
        if init is not None:
            init_mask = export.rle_to_mask(init)
            if init_mask.shape != self.shape:
                raise ValueError(f"{where}: init_mask has shape {init_mask.shape}, image is {self.shape}")
        clicks = codec.clicks_from_json(rec.get("clicks"), where)
        for click in clicks:
            try:
                self._check_click(click, box)
            except ValueError as exc:
                raise ValueError(f"{where} click {click.index + 1}: {exc}") from None
        self._cur = ObjectState(box=box, init_mask=init_mask, init_rle=init)
        self._replay_current(record_history=True, clicks=clicks)

    # ------------------------------------------------------------------ internals
    def _require_image(self):
        if self.image is None:
            raise RuntimeError("no image loaded: call set_image first")

    def _check_click(self, click, box):
        h, w = self.shape
        if not (0 <= click.y < h and 0 <= click.x < w):
            raise ValueError(f"click (y={click.y}, x={click.x}) is outside the {w}x{h} image")
        if box is not None and not box.contains(click.y, click.x):
            raise ValueError(f"refused: click (y={click.y}, x={click.x}) is outside the box "
                             f"(y0={box.y0}, x0={box.x0}, y1={box.y1}, x1={box.x1})")

    def _clip_box(self, box):
        h, w = self.shape
        y0, x0, y1, x1 = (int(round(v)) for v in (box.to() if isinstance(box, Box) else box))
        y0, y1 = sorted((y0, y1))
        x0, x1 = sorted((x0, x1))
        y0, x0 = max(0, y0), max(0, x0)
        y1, x1 = min(h, y1), min(w, x1)
        if y1 - y0 < MIN_BOX_SIDE or x1 - x0 < MIN_BOX_SIDE:
            shown = box.to() if isinstance(box, Box) else tuple(box)
            raise ValueError(f"refused: box {shown} is smaller than {MIN_BOX_SIDE}x{MIN_BOX_SIDE} px "
                             f"inside the {w}x{h} image")
        return Box((y0, x0, y1, x1))

    def _check_box_exact(self, box, where):
        if box != self._clip_box(box):
            raise ValueError(f"{where}: box {list(box.to())} is not a valid [y0, x0, y1, x1] box inside the image")

    def _crop_for(self, box):
        h, w = self.shape
        if box is None:
            return (0, 0, h, w)
        y0, x0, y1, x1 = box.to()
        margin = max(16, int(round(self.box_margin * max(y1 - y0, x1 - x0))))
        return (max(0, y0 - margin), max(0, x0 - margin), min(h, y1 + margin), min(w, x1 + margin))

    def _reset_predictor(self, box=None):
        crop = self._crop_for(box)
        y0, x0, y1, x1 = crop
        self.predictor.set_input_image(np.ascontiguousarray(self.image[y0:y1, x0:x1]))
        self._crop = crop

    def _predict(self, clicks, init_mask):
        """Probability map after ``clicks`` (the predictor already holds the state after clicks[:-1])."""
        y0, x0, y1, x1 = self._crop
        clicker = self._clicker_factory(click_indx_offset=1 if init_mask is not None else 0)
        for c in clicks:
            clicker.add_click(self._click_factory(is_positive=c.is_positive, coords=(c.y - y0, c.x - x0)))
        prev = None
        if init_mask is not None and len(clicks) == 1:
            prev = np.ascontiguousarray(init_mask[y0:y1, x0:x1], dtype=np.float32)
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
            by0, bx0, by1, bx1 = self._cur.box.to()
            restricted = np.zeros_like(full)
            restricted[by0:by1, bx0:bx1] = full[by0:by1, bx0:bx1]
            full = restricted
        return full

    def _replay_current(self, record_history, clicks=None):
        """Reset the predictor for the current box and feed the clicks in order (undo steps when
        ``record_history``); leaves the current object with those clicks and the last probability map."""
        clicks = tuple(self._cur.clicks if clicks is None else clicks)
        self._cur = dataclasses.replace(self._cur, clicks=(), prob=None)
        self._reset_predictor(self._cur.box)
        if self._cur.init_mask is not None:
            y0, x0, y1, x1 = self._crop
            self._cur = dataclasses.replace(
                self._cur, prob=self._paste(self._cur.init_mask[y0:y1, x0:x1].astype(np.float32)))
        for k, click in enumerate(clicks):
            if record_history:
                self._push_history("replay")
            done = self._cur.clicks + (click.copy(index=k),)
            self._cur = dataclasses.replace(self._cur, clicks=done, prob=self._predict(done, self._cur.init_mask))

    def _push_history(self, action):
        states = self.predictor.get_states() if hasattr(self.predictor, "get_states") else None
        self._history.push(UndoStep(action=action, before=self._cur, predictor_states=states, crop=self._crop))

    def _restore(self, step):
        self._cur = step.before
        if step.crop != self._crop:
            y0, x0, y1, x1 = step.crop
            self.predictor.set_input_image(np.ascontiguousarray(self.image[y0:y1, x0:x1]))
            self._crop = step.crop
        if step.predictor_states is not None:
            self.predictor.set_states(step.predictor_states)

    def _recompose(self):
        if self.image is None:
            self._finals, self._claimed = [], None
            return
        self._finals, self._claimed = overlap.compose([o.raw_mask for o in self.objects], self.overlap_rule,
                                                      self.shape)

    def _changed(self):
        self.dirty = True
        self._autosave()

    def _autosave(self):
        if self.autosave_path is None or self.image is None:
            return
        try:
            atomic_write_json(self.autosave_path, self.to_session(), overwrite=True, make_parents=True)
            self.autosave_error = None
        except OSError as exc:  # never lose the session over a failed autosave; report it instead
            self.autosave_error = f"autosave to {self.autosave_path} failed: {exc}"
            logger.warning(self.autosave_error)


AnnotationController = AnnotationSession  # the name the demo and older code use
