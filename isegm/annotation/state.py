"""The data of an annotation session: the image, the finished objects, the object being edited, its undo history.

:class:`SessionState` holds what a session *is* (no predictor, no files): the image and its hash, the class
labels and categories, the finished :class:`AnnotatedObject` list with their final masks after the overlap
rule (:mod:`~isegm.annotation.overlap`), the current object (:class:`~isegm.annotation.history.ObjectState`)
and its typed undo history (:mod:`~isegm.annotation.history`), and the read-only views a GUI draws
(:class:`ViewState`). Running the predictor is :mod:`~isegm.annotation.predict`; files are
:mod:`~isegm.annotation.persist`. Coordinates are (y, x) pixels of the full image; masks are (H, W) bool.
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

from isegm.annotation import codec, overlap
from isegm.annotation.history import History, ObjectState, UndoStep
from isegm.geometry import Box

__all__ = ["DEFAULT_LABEL", "AnnotatedObject", "ViewState", "SessionState"]

DEFAULT_LABEL = "object"


@dataclass
class AnnotatedObject:
    """A finished object.

    Attributes:
        label: class label.
        clicks: tuple of :class:`isegm.geometry.Click` that made it, in order (a stroke's clicks among them).
        strokes: tuple of :class:`~isegm.annotation.history.StrokeStep` (empty without strokes).
        box: restricting :class:`isegm.geometry.Box` or None.
        init_mask: (H, W) bool external start mask, or None; init_rle: its COCO RLE or None.
        threshold: probability threshold used for ``raw_mask``.
        raw_mask: (H, W) bool ``prob > threshold`` (before the overlap rule).
        prob: (H, W) float32 last probability map (kept for display; not saved).
        refined: True when the refiner predicted it (it has an external mask and the refiner was on); a replay
            routes it to the refiner again (json key ``"refiner"``).
    """
    label: str
    clicks: tuple
    box: Optional[Box]
    init_mask: Optional[np.ndarray]
    threshold: float
    raw_mask: np.ndarray
    prob: Optional[np.ndarray] = None
    init_rle: Optional[dict] = None
    strokes: tuple = ()
    refined: bool = False


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
        strokes: list of :class:`~isegm.annotation.history.StrokeStep` of the current object (their clicks are
            among ``clicks``, from ``stroke.index`` on).
        prob: (H, W) float32 probabilities of the current object (a copy), or None (for the suggestion overlay,
            :func:`isegm.annotation.render.draw_suggestion_overlay`).
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
    strokes: list = dataclasses.field(default_factory=list)
    prob: Optional[np.ndarray] = None


class SessionState:
    """The session's data: image, labels, finished objects (with final masks), current object, undo history.

    Args:
        overlap_rule: one of :data:`isegm.annotation.overlap.OVERLAP_RULES`.
        class_names: labels whose category ids are fixed as 1..K in this order; the first is the initial label.
        stuff_labels: labels whose category is "stuff" in the panoptic output.
    Raises:
        ValueError: unknown overlap rule.

    Attributes (read and written by :class:`isegm.annotation.session.AnnotationSession`):
        image: (H, W, 3) uint8 RGB or None; image_name, image_sha: its file name and
            :func:`isegm.annotation.codec.image_sha256`.
        threshold: probability threshold in (0, 1) of the current object; label: its class label.
        objects: list of :class:`AnnotatedObject`; finals: their (H, W) bool masks after the overlap rule;
            claimed: the union of ``finals``.
        cur: the current object (:class:`~isegm.annotation.history.ObjectState`); history: its undo steps.
        dirty: changed since the last save / image / restore.
    """

    def __init__(self, overlap_rule="keep_earlier", class_names=None, stuff_labels=None):
        self.overlap_rule = overlap.check_rule(overlap_rule)
        self.class_names = [str(c) for c in (class_names or [])]
        self.stuff_labels = set(stuff_labels or ())
        self.image = None
        self.image_name = None
        self.image_sha = None
        self.threshold = 0.5
        self.label = self.class_names[0] if self.class_names else DEFAULT_LABEL
        self.objects: List[AnnotatedObject] = []
        self.dirty = False
        self.cur = ObjectState()
        self.history = History()
        self.finals: List[np.ndarray] = []
        self.claimed = None
        self.saved_record = []

    @property
    def shape(self) -> Optional[Tuple[int, int]]:
        """(H, W) of the image, or None."""
        return None if self.image is None else self.image.shape[:2]

    def require_image(self) -> None:
        """Raises RuntimeError when no image is loaded."""
        if self.image is None:
            raise RuntimeError("no image loaded: call set_image first")

    # ------------------------------------------------------------------ changing the data
    def load_image(self, image: np.ndarray, name: str) -> None:
        """Start afresh on ``image`` ((H, W, 3) uint8, already checked): no objects, no current object, clean."""
        self.image = np.ascontiguousarray(image)
        self.image_name = str(name)
        self.image_sha = codec.image_sha256(self.image)
        self.objects = []
        self.cur = ObjectState()
        self.history.clear()
        self.dirty = False
        self.saved_record = []
        self.recompose()

    def clear_objects(self) -> None:
        """Drop every object and the current one (the image stays)."""
        self.objects = []
        self.cur = ObjectState()
        self.history.clear()
        self.recompose()

    def set_label(self, label, isthing=None) -> None:
        """Current class label (surrounding spaces stripped); ``isthing`` True/False marks it thing/stuff.

        Raises:
            ValueError: empty label.
        """
        label = str(label).strip()
        if not label:
            raise ValueError("class label must not be empty")
        self.label = label
        if isthing is not None:
            if isthing:
                self.stuff_labels.discard(label)
            else:
                self.stuff_labels.add(label)

    def push_undo(self, action: str, predictor_states: Any, crop) -> None:
        """Record the current object (and the predictor's ``predictor_states`` and input ``crop``) before
        ``action`` (one of :data:`isegm.annotation.history.ACTIONS`)."""
        self.history.push(UndoStep(action=action, before=self.cur, predictor_states=predictor_states, crop=crop))

    def finish_current(self, refined: bool = False) -> int:
        """Append the current object as an :class:`AnnotatedObject` with the current label and threshold;
        ``refined``: the refiner predicted it (recorded for the replay).

        Returns:
            the new object's 1-based id.
        Raises:
            ValueError: no prediction yet, no pixel above the threshold, or the overlap rule refuses it
            (see :func:`isegm.annotation.overlap.check_finish`).
        """
        if self.cur.prob is None:
            raise ValueError("nothing to finish: the current object has no clicks and no external mask")
        raw = self.cur.prob > self.threshold
        if not raw.any():
            raise ValueError(f"refused: the current object has no pixel above the threshold {self.threshold}")
        overlap.check_finish(raw, self.finals, self.claimed, self.overlap_rule)
        cur = self.cur
        self.objects.append(AnnotatedObject(
            label=self.label, clicks=cur.clicks, box=cur.box, init_mask=cur.init_mask,
            threshold=self.threshold, raw_mask=raw, prob=cur.prob, init_rle=cur.init_rle, strokes=cur.strokes,
            refined=bool(refined)))
        self.recompose()
        self.cur = ObjectState()
        self.history.clear()
        return len(self.objects)

    def pop_last_object(self) -> AnnotatedObject:
        """Remove the last finished object and make its label and threshold current again (its clicks are
        replayed by the caller). Raises IndexError when there is none."""
        obj = self.objects.pop()
        self.recompose()
        self.label = obj.label
        self.threshold = obj.threshold
        self.cur = ObjectState()
        return obj

    def recompose(self) -> None:
        """Recompute the final masks of the finished objects under the overlap rule."""
        if self.image is None:
            self.finals, self.claimed = [], None
            return
        self.finals, self.claimed = overlap.compose([o.raw_mask for o in self.objects], self.overlap_rule,
                                                    self.shape)

    def mark_saved(self) -> None:
        """The finished objects as they are now are the saved ones."""
        self.dirty = False
        self.saved_record = self.objects_record()

    # ------------------------------------------------------------------ read-only views
    def categories(self) -> List[dict]:
        """Categories: fixed ``class_names`` first, then other labels in order of first use.

        Returns:
            list of {'id': 1.., 'name': str, 'isthing': bool}.
        """
        names = list(self.class_names)
        for obj in self.objects:
            if obj.label not in names:
                names.append(obj.label)
        return [{"id": i + 1, "name": n, "isthing": n not in self.stuff_labels} for i, n in enumerate(names)]

    def final_masks(self) -> List[np.ndarray]:
        """Copies of the (H, W) bool final masks of the finished objects (object order)."""
        return [m.copy() for m in self.finals]

    def instance_map(self) -> np.ndarray:
        """(H, W) uint16 instance ids of finished objects, 0 = background. Raises RuntimeError without image."""
        self.require_image()
        inst = np.zeros(self.shape, np.uint16)
        for i, m in enumerate(self.finals):
            inst[m] = i + 1
        return inst

    def current_mask(self) -> Optional[np.ndarray]:
        """(H, W) bool mask the current object would get if finished now (overlap rule applied), or None."""
        if self.cur.prob is None:
            return None
        return overlap.visible_current(self.cur.prob > self.threshold, self.claimed, self.overlap_rule)

    def can_undo(self) -> bool:
        """True when an undo would change something (an action, or reopening the last finished object)."""
        return bool(self.history) or (self.cur.is_empty() and bool(self.objects))

    def objects_record(self) -> list:
        """What of the finished objects is written to the outputs, as a comparable value."""
        return [(o.label, o.clicks, o.strokes, o.box, o.threshold,
                 None if o.init_rle is None else o.init_rle["counts"], o.label in self.stuff_labels)
                for o in self.objects]

    def has_unsaved_changes(self) -> bool:
        """True when :meth:`objects_record` differs from the one at the last :meth:`mark_saved`."""
        return self.objects_record() != self.saved_record

    def view_state(self, last_prediction_time: Optional[float]) -> ViewState:
        """:class:`ViewState` snapshot (copies of the masks). Raises RuntimeError without image."""
        self.require_image()
        objects = [(i + 1, o.label, int(f.sum())) for i, (o, f) in enumerate(zip(self.objects, self.finals))]
        return ViewState(
            image=self.image, instances=self.instance_map(), current_mask=self.current_mask(),
            clicks=list(self.cur.clicks), box=self.cur.box, next_id=len(self.objects) + 1, label=self.label,
            isthing=self.label not in self.stuff_labels, objects=objects, threshold=self.threshold,
            last_prediction_time=last_prediction_time, can_undo=self.can_undo(), dirty=self.dirty,
            strokes=list(self.cur.strokes), prob=None if self.cur.prob is None else self.cur.prob.copy())
