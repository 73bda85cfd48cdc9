"""The annotation session the Tk GUI, the web view and the scripts call: one image, its objects, one predictor.

An :class:`AnnotationSession` holds one image, the finished objects (each with a class label, the clicks that
made it, an optional restricting box and an optional external start mask) and the object being edited, and
calls a predictor-like object (RITM lineage, see ``isegm.inference.predictors``) for every click. It is the
public surface and the lock; the work is done by its parts:

- :mod:`~isegm.annotation.state`: the session data (objects, current object, undo history, read-only views);
- :mod:`~isegm.annotation.predict`: running the predictor for the current object (the crop for a box, the
  order clicks are fed in, pasting into the full image: what makes a replay give the saved masks bit for bit);
- :mod:`~isegm.annotation.persist`: the session json (autosave, resume, replay) and the output files;
- below them :mod:`~isegm.annotation.overlap` (who owns overlapping pixels), :mod:`~isegm.annotation.history`
  (typed undo steps: an undo restores the state before the last action exactly, predictor states included),
  :mod:`~isegm.annotation.codec` (json records) and :mod:`~isegm.annotation.export` (output formats).

Coordinates are (y, x) pixels of the full image.
"""
import dataclasses
import threading
from pathlib import Path

import numpy as np

from isegm.annotation import codec, export, persist
from isegm.annotation.history import ObjectState, StrokeStep
from isegm.annotation.predict import MIN_BOX_SIDE, ObjectPredictor, check_click, clip_box
from isegm.annotation.state import DEFAULT_LABEL, AnnotatedObject, SessionState, ViewState
from isegm.geometry import STROKE_SPACING, Click, Stroke

__all__ = ["AnnotationSession", "AnnotationController", "AnnotatedObject", "ViewState", "DEFAULT_LABEL",
           "MIN_BOX_SIDE"]


class _Part:
    """A session attribute that lives in one of its parts (``part``), read and written through."""

    def __init__(self, part, doc):
        self.part = part
        self.__doc__ = doc

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return getattr(getattr(obj, self.part), self.name)

    def __set__(self, obj, value):
        setattr(getattr(obj, self.part), self.name, value)


class AnnotationSession:
    """Session model: image, objects with class labels, clicks, undo, predictions, box, external mask.

    Every public method takes ``lock`` (a re-entrant lock), so a GUI thread may read while a worker predicts.

    Args:
        predictor: predictor-like object (see :mod:`isegm.annotation.predict`).
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
        refiner: optional second predictor-like object, the refiner ("Fusing Forces", Sterzinger et al., ICPR
            2024): while :attr:`refiner_enabled` (on when one is given; :meth:`set_refiner_enabled`) an object
            started from an external mask gets its clicks and strokes predicted by it instead of ``predictor``.
    Raises:
        ValueError: bad threshold or overlap rule.
    """

    image = _Part("_state", "(H, W, 3) uint8 RGB image, or None.")
    image_name = _Part("_state", "File name of the image (its stem names the outputs).")
    image_sha = _Part("_state", "sha256 of the image (:func:`isegm.annotation.codec.image_sha256`).")
    threshold = _Part("_state", "Probability threshold of the current object.")
    label = _Part("_state", "Class label of the current object.")
    objects = _Part("_state", "Finished objects: list of :class:`AnnotatedObject`.")
    dirty = _Part("_state", "True after a change, until the next save / image / restore.")
    overlap_rule = _Part("_state", "One of :data:`isegm.annotation.overlap.OVERLAP_RULES`.")
    class_names = _Part("_state", "Labels with fixed category ids 1..K.")
    stuff_labels = _Part("_state", "Labels whose category is stuff.")
    predictor = _Part("_predictor", "The predictor of the current object (the refiner while :attr:`refining`, else the "
                                    "click model); assigning sets the click model.")
    refiner = _Part("_predictor", "The refiner predictor, or None.")
    box_margin = _Part("_predictor", "Context around a restricting box, as a fraction of its longer side.")
    last_prediction_time = _Part("_predictor", "Seconds the last prediction took, or None.")

    def __init__(self, predictor, threshold=0.5, overlap_rule="keep_earlier", settings=None, class_names=None,
                 stuff_labels=None, clicker_factory=None, click_factory=None, autosave_path=None,
                 box_margin=0.2, refiner=None):
        self._state = SessionState(overlap_rule, class_names, stuff_labels)
        self._predictor = ObjectPredictor(predictor, self._state, clicker_factory, click_factory, box_margin,
                                          refiner=refiner)
        self.settings = dict(settings or {})
        self.autosave_path = Path(autosave_path) if autosave_path else None
        self.autosave_error = None
        self.lock = threading.RLock()
        self.set_threshold(threshold)

    # ------------------------------------------------------------------ image and settings
    @property
    def shape(self):
        """(H, W) of the image, or None."""
        return self._state.shape

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
            self._state.load_image(image, name)
            self._predictor.forget_inputs()
            self._predictor.reset()

    def set_threshold(self, threshold):
        """Probability threshold in (0, 1) for the current and later objects (finished ones keep theirs).

        Raises:
            ValueError: outside (0, 1).
        """
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        with self.lock:
            self._state.threshold = threshold
            self._autosave()

    @property
    def refiner_enabled(self):
        """True when a refiner is loaded and switched on (objects with an external mask go to it)."""
        return self._predictor.refiner is not None and self._predictor.use_refiner

    @property
    def refining(self):
        """True when the current object's clicks and strokes go to the refiner (on, and it has an external mask)."""
        return self._predictor.refining

    def set_refiner_enabled(self, enabled):
        """Switch the refiner on or off (for objects started from an external mask; others always use the click
        model).

        When the switch changes which model answers the current object (it has an external mask), the object's
        clicks and strokes are predicted again from its external mask by the newly chosen model; its undo steps
        since the external mask was loaded are replaced by one step per replayed prediction (an undo still goes
        back click by click, then to the external mask alone, then to before it).

        Args:
            enabled: True: refiner; False: click model.
        Returns:
            True when the current object was predicted again, False otherwise.
        Raises:
            ValueError: ``enabled`` is True but the session has no refiner.
        """
        enabled = bool(enabled)
        with self.lock:
            if enabled and self._predictor.refiner is None:
                raise ValueError("refiner switch: no refiner loaded (start with --refiner-checkpoint PATH)")
            if enabled == self._predictor.use_refiner:
                return False
            st = self._state
            self._predictor.use_refiner = enabled
            if st.image is None or st.cur.init_mask is None:
                return False
            steps = st.history.steps()
            first = next((i for i, step in enumerate(steps) if step.before.init_mask is not None), len(steps))
            st.history.truncate(first)
            try:
                self._replay_recorded(st.cur.clicks, st.cur.strokes)
            except BaseException:
                self._predictor.use_refiner = not enabled
                raise
            self._changed()
            return True

    def set_label(self, label, isthing=None):
        """Class label of the current object (and of later ones until changed).

        Args:
            label: non-empty string (surrounding spaces are stripped).
            isthing: when given, marks this label as a thing (True) or stuff (False) class for panoptic output.
        Raises:
            ValueError: empty label.
        """
        with self.lock:
            self._state.set_label(label, isthing)
            self._autosave()

    def categories(self):
        """Categories: fixed ``class_names`` first, then other labels in order of first use.

        Returns:
            list of {'id': 1.., 'name': str, 'isthing': bool}.
        """
        return self._state.categories()

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
            st = self._state
            st.require_image()
            click = Click(int(y), int(x), bool(positive), len(st.cur.clicks))
            check_click(click, st.cur.box, st.shape)
            self._push_history("click")
            try:
                clicks = st.cur.clicks + (click,)
                prob = self._predictor.predict(clicks, st.cur.init_mask)
                st.cur = dataclasses.replace(st.cur, clicks=clicks, prob=prob)
            except BaseException:
                self._restore(st.history.pop())
                raise
            self._changed()
            return st.cur.prob

    def add_stroke(self, points, width, positive, spacing=STROKE_SPACING):
        """Add an add (positive) or erase (negative) stroke to the current object and predict once.

        The model gets the stroke as clicks of its sign every ``spacing`` px along the line
        (:meth:`isegm.geometry.Stroke.to_clicks`), all in one prediction step; they join the object's clicks and
        the stroke is recorded (json, undo, replay).

        Args:
            points: sequence of at least 2 (y, x) vertices in image pixels (two equal vertices: a dot).
            width: line width in px (> 0; kept in the record, the model sees the clicks).
            positive: True to add to the object, False to erase.
            spacing: px between the clicks (> 0).
        Returns:
            (H, W) float32 probability map of the current object.
        Raises:
            RuntimeError: no image; ValueError: fewer than 2 points, width or spacing <= 0, a vertex outside the
            image, or a stroke click outside the restricting box.
        """
        with self.lock:
            st = self._state
            st.require_image()
            if not spacing > 0:
                raise ValueError(f"stroke spacing must be > 0 px, got {spacing!r}")
            first = len(st.cur.clicks)
            stroke = Stroke(points, width, bool(positive), first)
            stroke.check_inside(*st.shape)
            new = tuple(c.copy(index=first + k) for k, c in enumerate(stroke.to_clicks(spacing)))
            for click in new:
                check_click(click, st.cur.box, st.shape)
            self._push_history("stroke")
            try:
                clicks = st.cur.clicks + new
                prob = self._predictor.predict(clicks, st.cur.init_mask, n_new=len(new))
                st.cur = dataclasses.replace(st.cur, clicks=clicks, prob=prob,
                                             strokes=st.cur.strokes + (StrokeStep(stroke, float(spacing), len(new)),))
            except BaseException:
                self._restore(st.history.pop())
                raise
            self._changed()
            return st.cur.prob

    def set_box(self, box):
        """Restrict the current object to a box (or lift the restriction with None) and re-predict.

        Args:
            box: :class:`isegm.geometry.Box` or (y0, x0, y1, x1) in pixels, end exclusive; clipped to the image;
                at least 4 x 4 px.
        Raises:
            ValueError: box too small / inverted, or an existing click of the object lies outside it.
        """
        with self.lock:
            st = self._state
            st.require_image()
            if box is not None:
                box = clip_box(box, st.shape)
                for c in st.cur.clicks:
                    check_click(c, box, st.shape)
            self._push_history("box")
            try:
                st.cur = dataclasses.replace(st.cur, box=box)
                self._predictor.replay()
            except BaseException:
                self._restore(st.history.pop())
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
            st = self._state
            st.require_image()
            mask = np.asarray(mask)
            if mask.ndim != 2 or mask.shape != st.shape:
                got = f"{mask.shape[1]}x{mask.shape[0]}" if mask.ndim >= 2 else str(mask.shape)
                raise ValueError(f"external mask is {got} (WxH) but the image is {st.shape[1]}x{st.shape[0]}")
            mask = mask != 0
            if not mask.any():
                raise ValueError("external mask has no foreground pixels")
            self._push_history("external_mask")
            st.cur = dataclasses.replace(st.cur, clicks=(), init_mask=mask, init_rle=export.mask_to_rle(mask))
            self._predictor.replay()
            self._changed()

    def undo(self):
        """Undo the last action on the current object, or reopen the last finished object.

        Returns:
            'action' when an action was undone, 'reopen' when the last finished object became current again,
            None when there was nothing to undo.
        """
        with self.lock:
            st = self._state
            if st.image is None:
                return None
            if st.history:
                self._restore(st.history.pop())
                self._changed()
                return "action"
            if st.cur.is_empty() and st.objects:
                obj = st.pop_last_object()
                if obj.box is not None or obj.init_mask is not None:
                    # one more undo step back to an empty object
                    self._predictor.reset(None)
                    self._push_history("replay")
                st.cur = ObjectState(box=obj.box, init_mask=obj.init_mask, init_rle=obj.init_rle)
                if obj.init_mask is not None and self._predictor.refiner is not None:
                    self._predictor.use_refiner = obj.refined  # the model that made it predicts it again
                self._replay_recorded(obj.clicks, obj.strokes)
                self._changed()
                return "reopen"
            return None

    def reset_object(self):
        """Clear the current object's clicks, box and external mask (undoable)."""
        with self.lock:
            if self.image is None or self._state.cur.is_empty():
                return
            self._push_history("reset")
            self._state.cur = ObjectState()
            self._predictor.reset()
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
            self._state.require_image()
            new_id = self._state.finish_current(refined=self._predictor.refining)
            self._predictor.reset()
            self._changed()
            return new_id

    # ------------------------------------------------------------------ results
    def final_masks(self):
        """List of (H, W) bool masks of the finished objects after the overlap rule (object order)."""
        with self.lock:
            return self._state.final_masks()

    def instance_map(self):
        """(H, W) uint16 instance ids of finished objects, 0 = background."""
        with self.lock:
            return self._state.instance_map()

    def current_mask(self):
        """(H, W) bool mask the current object would get if finished now (overlap rule applied), or None."""
        with self.lock:
            return self._state.current_mask()

    @property
    def current_prob(self):
        """(H, W) float32 probability map of the current object, or None."""
        return self._state.cur.prob

    @property
    def current_clicks(self):
        """Clicks of the current object (list of :class:`isegm.geometry.Click`, index 0 = first)."""
        return list(self._state.cur.clicks)

    @property
    def current_box(self):
        """Restricting :class:`isegm.geometry.Box` of the current object, or None."""
        return self._state.cur.box

    def has_unsaved_changes(self):
        """True when the finished objects (labels, clicks, boxes, masks, thresholds) differ from those of the
        last :meth:`save`, :meth:`set_image` or :meth:`restore`; the unfinished object does not count (it is
        never written to the outputs; the autosave keeps it)."""
        with self.lock:
            return self._state.has_unsaved_changes()

    def has_current(self):
        """True while the current object has clicks, a box or an external mask."""
        return not self._state.cur.is_empty()

    @property
    def undo_actions(self):
        """Names of the undoable actions on the current object, oldest first (see :mod:`history`)."""
        return self._state.history.actions()

    def view_state(self):
        """:class:`ViewState` snapshot (copies), safe to hand to another thread."""
        with self.lock:
            return self._state.view_state(self.last_prediction_time)

    def export_objects(self):
        """Finished objects as :class:`isegm.annotation.export.ExportObject` (with replay fields)."""
        with self.lock:
            return persist.export_objects(self._state)

    def output_paths(self, out_dir, name=None):
        """{kind: Path} that :meth:`save` writes into ``out_dir`` (see :func:`export.output_paths`)."""
        return persist.output_paths(out_dir, self.image_name, name)

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
            self._state.require_image()
            paths = persist.save(self._state, self.box_margin, self.settings, out_dir, overwrite=overwrite,
                                 name=name, alpha=alpha)
            self._state.mark_saved()
            return paths

    # ------------------------------------------------------------------ session records (autosave / replay)
    def to_session(self, include_current=True):
        """Plain-data session dict (see :mod:`isegm.annotation.codec`): everything needed to replay it."""
        with self.lock:
            self._state.require_image()
            return persist.to_session(self._state, self.box_margin, self.settings, include_current,
                                      current_refined=self._predictor.refining)

    def restore(self, session, check_image=True):
        """Replay a session (from :meth:`to_session`, an autosave or a saved ``<name>.json``) on the current image.

        Objects are rebuilt by feeding their clicks to the predictor exactly as in a live session, so with the
        same checkpoint, predictor settings and device the masks equal the saved ones bit for bit. An object the
        refiner predicted (record key ``"refiner"``) is replayed by the refiner; without one loaded it is replayed
        by the click model and a note says so. The refiner switch ends as the unfinished object was recorded (when
        it has an external mask and a refiner is loaded), else as it was.

        Args:
            session: dict or path; see :func:`isegm.annotation.codec.load_session` for accepted forms.
            check_image: compare the image's size and pixel hash with the recorded ones.
        Returns:
            list of one-line notes (:func:`isegm.annotation.persist.model_mismatches`): the session was recorded
            with another checkpoint, refiner or inference path, or refined objects had no refiner to replay them,
            so their masks were re-predicted and may differ.
        Raises:
            ValueError: the session belongs to another image, or holds invalid clicks / boxes / masks (the
                message names the file and the object).
        """
        session = codec.load_session(session)
        with self.lock:
            st = self._state
            st.require_image()
            header = persist.read_header(session, st.shape, st.image_sha, self.box_margin, check_image)
            where = header.where
            notes = persist.model_mismatches(session.get("settings"), self.settings, where)
            saved_autosave, self.autosave_path = self.autosave_path, None
            saved_switch = self._predictor.use_refiner
            unrefined = []
            try:
                st.overlap_rule = header.overlap_rule
                self.box_margin = header.box_margin
                st.class_names = header.class_names
                st.stuff_labels = header.stuff_labels
                st.clear_objects()
                self._predictor.reset()
                for rec in session.get("objects") or []:
                    here = f"{where}: object {rec.get('id')} ({rec.get('label')})"
                    try:
                        if not self._load_object_record(rec, here):
                            unrefined.append(str(rec.get("id")))
                        self.finish_object()
                    except ValueError as exc:
                        raise ValueError(str(exc) if str(exc).startswith(where) else f"{here}: {exc}") from None
                current = session.get("current")
                if current:
                    if not self._load_object_record(current, f"{where}: unfinished object"):
                        unrefined.append("unfinished")
                    if self._predictor.refiner is None or self._state.cur.init_mask is None:
                        self._predictor.use_refiner = saved_switch
                else:
                    self._predictor.use_refiner = saved_switch
                self.set_threshold(session.get("threshold", self.threshold))
            except BaseException:
                self._predictor.use_refiner = saved_switch
                raise
            finally:
                self.autosave_path = saved_autosave
            st.mark_saved()
        if unrefined:
            name = ((session.get("settings") or {}).get("refiner") or {}).get("name") or "a refiner"
            notes.append(f"{where}: object(s) {', '.join(unrefined)} were refined by {name}, but no refiner is loaded "
                         f"(--refiner-checkpoint): re-predicted with the click model, their masks may differ")
        return notes

    def _load_object_record(self, rec, where):
        """Make ``rec`` the current object and replay it, by the refiner when the record says the refiner made it.

        Returns:
            False when the record asks for the refiner and none is loaded (the click model replayed it), else True.
        """
        persist.require_record(rec, where)
        refined = codec.refined_from_json(rec, where)
        self.set_label(rec.get("label") or DEFAULT_LABEL)
        self.set_threshold(rec.get("threshold", self.threshold))
        self._state.cur = ObjectState()
        self._state.history.clear()
        box, init_mask, init_rle, clicks, strokes = persist.object_from_record(rec, where, self.shape)
        self._state.cur = ObjectState(box=box, init_mask=init_mask, init_rle=init_rle)
        self._predictor.use_refiner = refined and self._predictor.refiner is not None
        self._replay_recorded(clicks, strokes)
        return not refined or self._predictor.refiner is not None

    # ------------------------------------------------------------------ internals
    def _replay_recorded(self, clicks, strokes=()):
        """Feed ``clicks`` (``strokes``' clicks in one step each) to the current object from scratch, one undo step
        per step."""
        self._predictor.replay(clicks, before_click=lambda: self._push_history("replay"), strokes=strokes)

    def _push_history(self, action):
        self._state.push_undo(action, *self._predictor.snapshot())

    def _restore(self, step):
        self._state.cur = step.before
        self._predictor.restore(step)

    def _changed(self):
        self._state.dirty = True
        self._autosave()

    def _autosave(self):
        if self.autosave_path is None or self.image is None:
            return
        self.autosave_error = persist.write_autosave(self.autosave_path, self.to_session())


AnnotationController = AnnotationSession  # the name the demo and older code use
