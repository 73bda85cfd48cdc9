"""Running the predictor for the current object of a session, the same way live and in a replay.

How an object's probability map is computed (which is what makes ``scripts/annotate.py`` reproduce saved
masks bit for bit):

1. the predictor is reset on the crop of the image used for this object (:meth:`ObjectPredictor.crop_for`):
   the whole image, or, when the object has a restricting box (as in the avalanche fork of RITM's demo), the
   box grown by ``box_margin`` of its longer side (at least 16 px) for context;
2. the clicks are fed one at a time in order; before the first click the previous mask is the external mask if
   the object has one (given as ``prev_mask``), otherwise the predictor's own zero map; after that it is the
   predictor's own previous prediction (iterative mask guidance, RITM Sec. 3.2);
3. the prediction is pasted into a zero map of the image size and zeroed outside the box;
4. the object's raw mask is ``prob > threshold`` (strict, as in RITM; see :mod:`~isegm.annotation.state`).

The predictor is predictor-like (RITM lineage, see ``isegm.inference.predictors``):
``set_input_image((h, w, 3) uint8 RGB)`` (also resets its per-object state),
``get_prediction(clicker, prev_mask=None)`` -> (h, w) float32 probabilities in [0, 1], and optionally
``get_states()`` / ``set_states(states)`` for undo. Coordinates are (y, x) pixels of the full image.

An optional second predictor, the *refiner* ("Fusing Forces", Sterzinger et al., ICPR 2024: a click model
trained to correct an initial mask from strokes, ``models/cocomval/hrnet18s_cocomval_refiner.py``), answers
instead of the click model while :attr:`ObjectPredictor.use_refiner` is on and the current object has an
external start mask; every other object goes to the click model. Each of the two predictors keeps the crop
it was last set on, so an undo that crosses the external mask puts the right one back.
"""
import contextlib
import dataclasses
import time
from typing import Optional, Sequence, Tuple

import numpy as np

from isegm.annotation.history import prediction_steps
from isegm.geometry import Box, Click

__all__ = ["MIN_BOX_SIDE", "check_click", "clip_box", "check_box_exact", "inference_mode", "ObjectPredictor"]

MIN_BOX_SIDE = 4


def check_click(click: Click, box: Optional[Box], shape: Tuple[int, int]) -> None:
    """Refuse a click outside the (H, W) image ``shape`` or outside the restricting ``box``.

    Raises:
        ValueError: naming the click's (y, x) and the image size or the box.
    """
    h, w = shape
    if not (0 <= click.y < h and 0 <= click.x < w):
        raise ValueError(f"click (y={click.y}, x={click.x}) is outside the {w}x{h} image")
    if box is not None and not box.contains(click.y, click.x):
        raise ValueError(f"refused: click (y={click.y}, x={click.x}) is outside the box "
                         f"(y0={box.y0}, x0={box.x0}, y1={box.y1}, x1={box.x1})")


def clip_box(box, shape: Tuple[int, int]) -> Box:
    """``box`` (a :class:`~isegm.geometry.Box` or (y0, x0, y1, x1) pixels, end exclusive, corners in any order,
    rounded to whole pixels) clipped to the (H, W) image.

    Raises:
        ValueError: the clipped box is smaller than :data:`MIN_BOX_SIDE` px on a side.
    """
    h, w = shape
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


def check_box_exact(box: Box, shape: Tuple[int, int], where: str) -> None:
    """Refuse a recorded box that :func:`clip_box` would change (outside the image, inverted or too small).

    Raises:
        ValueError: naming ``where`` and the box.
    """
    if box != clip_box(box, shape):
        raise ValueError(f"{where}: box {list(box.to())} is not a valid [y0, x0, y1, x1] box inside the image")


@contextlib.contextmanager
def inference_mode():
    """``torch.inference_mode()``, or nothing where torch is not installed (a predictor without torch)."""
    try:
        import torch
    except ImportError:  # a predictor without torch (tests' fakes)
        yield
        return
    with torch.inference_mode():
        yield


def _default_clicker_classes():
    from isegm.inference.clicker import Clicker
    return Clicker, Click


class ObjectPredictor:
    """Feeds the current object of a :class:`~isegm.annotation.state.SessionState` to the predictor.

    Args:
        predictor: predictor-like object (see the module docstring).
        state: the session's :class:`~isegm.annotation.state.SessionState` (its ``image`` and ``cur`` are read;
            :meth:`replay` also writes ``cur``).
        clicker_factory, click_factory: ``Clicker`` / ``Click`` classes (default: ``isegm.inference.clicker``).
        box_margin: context around a restricting box, as a fraction of its longer side.
        refiner: optional predictor-like refiner (see the module docstring); :attr:`use_refiner` starts on when
            one is given.

    Attributes:
        click_model: the click model (the ``predictor`` argument); refiner: the refiner or None.
        use_refiner: route objects with an external mask to the refiner (ignored without one).
        last_prediction_time: seconds the last ``get_prediction`` took, or None.
    """

    def __init__(self, predictor, state, clicker_factory=None, click_factory=None, box_margin=0.2, refiner=None):
        if clicker_factory is None or click_factory is None:
            default_clicker, default_click = _default_clicker_classes()
            clicker_factory = clicker_factory or default_clicker
            click_factory = click_factory or default_click
        self.click_model = predictor
        self.refiner = refiner
        self.use_refiner = refiner is not None
        self.state = state
        self.box_margin = float(box_margin)
        self._crops = {}  # "click" / "refiner" -> the crop that predictor holds
        self.last_prediction_time = None
        self._clicker_factory = clicker_factory
        self._click_factory = click_factory

    @property
    def refining(self) -> bool:
        """True when the current object goes to the refiner (one is loaded, it is on, the object has an external
        mask)."""
        return self.use_refiner and self.refiner is not None and self.state.cur.init_mask is not None

    @property
    def predictor(self):
        """The predictor of the current object: the refiner when :attr:`refining`, else the click model."""
        return self.refiner if self.refining else self.click_model

    @predictor.setter
    def predictor(self, value):
        self.click_model = value
        self._crops.pop("click", None)

    @property
    def crop(self):
        """(y0, x0, y1, x1) end-exclusive crop of the image the current object's predictor holds, or None."""
        return self._crops.get("refiner" if self.refining else "click")

    def forget_inputs(self) -> None:
        """Forget which crops the predictors hold (a new image: each is set again before it predicts)."""
        self._crops.clear()

    def crop_for(self, box: Optional[Box]) -> Tuple[int, int, int, int]:
        """(y0, x0, y1, x1) end exclusive: the whole image, or ``box`` grown by ``box_margin`` of its longer side
        (at least 16 px), clipped to the image."""
        h, w = self.state.shape
        if box is None:
            return (0, 0, h, w)
        return box.with_context(self.box_margin).clip(h, w).to()

    def _set_input(self, crop) -> None:
        y0, x0, y1, x1 = crop
        self.predictor.set_input_image(np.ascontiguousarray(self.state.image[y0:y1, x0:x1]))
        self._crops["refiner" if self.refining else "click"] = crop

    def reset(self, box: Optional[Box] = None) -> None:
        """Reset the predictor on the crop for ``box`` (forgets its previous prediction)."""
        self._set_input(self.crop_for(box))

    def snapshot(self):
        """(predictor states or None, crop): what an undo step needs to put the predictor back."""
        states = self.predictor.get_states() if hasattr(self.predictor, "get_states") else None
        return states, self.crop

    def restore(self, step) -> None:
        """Put the predictor back as it was before the :class:`~isegm.annotation.history.UndoStep` ``step``."""
        if step.crop != self.crop:
            self._set_input(step.crop)
        if step.predictor_states is not None:
            self.predictor.set_states(step.predictor_states)

    def predict(self, clicks: Sequence[Click], init_mask: Optional[np.ndarray], n_new: int = 1) -> np.ndarray:
        """(H, W) float32 probability map after ``clicks`` (full-image (y, x)), of which the last ``n_new`` are new
        (a stroke's clicks are predicted in one step); the predictor must already hold the state after
        ``clicks[:-n_new]``. ``init_mask`` (H, W) bool is the external start mask or None (the previous mask of
        the first step).

        Raises:
            RuntimeError: the predictor returned a map of another shape than its input crop.
        """
        y0, x0, y1, x1 = self.crop
        clicker = self._clicker_factory(click_indx_offset=1 if init_mask is not None else 0)
        for c in clicks:
            clicker.add_click(self._click_factory(is_positive=c.is_positive, coords=(c.y - y0, c.x - x0)))
        prev = None
        if init_mask is not None and len(clicks) == n_new:
            prev = np.ascontiguousarray(init_mask[y0:y1, x0:x1], dtype=np.float32)
        start = time.perf_counter()
        with inference_mode():
            prob = self.predictor.get_prediction(clicker, prev_mask=prev)
        self.last_prediction_time = time.perf_counter() - start
        prob = np.asarray(prob, dtype=np.float32)
        if prob.shape != (y1 - y0, x1 - x0):
            raise RuntimeError(f"predictor returned shape {prob.shape}, expected {(y1 - y0, x1 - x0)}")
        return self.paste(prob)

    def paste(self, crop_prob: np.ndarray) -> np.ndarray:
        """(H, W) float32: ``crop_prob`` (the crop's size) in a zero map of the image, zeroed outside the current
        object's box."""
        y0, x0, y1, x1 = self.crop
        full = np.zeros(self.state.shape, np.float32)
        full[y0:y1, x0:x1] = crop_prob
        box = self.state.cur.box
        if box is not None:
            by0, bx0, by1, bx1 = box.to()
            restricted = np.zeros_like(full)
            restricted[by0:by1, bx0:bx1] = full[by0:by1, bx0:bx1]
            full = restricted
        return full

    def replay(self, clicks=None, before_click=None, strokes=None) -> None:
        """Reset the predictor for the current object's box and feed ``clicks`` (default: its own) in order, the
        clicks of each of ``strokes`` (default: its own; :class:`~isegm.annotation.history.StrokeStep`) in one step.

        Leaves ``state.cur`` with those clicks (re-indexed 0, 1, ...) and strokes and the last probability map (the
        external mask's when there are no clicks). ``before_click()``, when given, is called before each step (the
        session records an undo step there).

        Raises:
            ValueError: the strokes do not match the clicks (see :func:`~isegm.annotation.history.prediction_steps`).
        """
        state = self.state
        if clicks is None:
            clicks, strokes = state.cur.clicks, state.cur.strokes
        clicks, strokes = tuple(clicks), tuple(strokes or ())
        ends = prediction_steps(len(clicks), strokes)
        starts = {step.stroke.index: step for step in strokes}
        state.cur = dataclasses.replace(state.cur, clicks=(), strokes=(), prob=None)
        self.reset(state.cur.box)
        if state.cur.init_mask is not None:
            y0, x0, y1, x1 = self.crop
            state.cur = dataclasses.replace(
                state.cur, prob=self.paste(state.cur.init_mask[y0:y1, x0:x1].astype(np.float32)))
        begin = 0
        for end in ends:
            if before_click is not None:
                before_click()
            done = state.cur.clicks + tuple(c.copy(index=k) for k, c in enumerate(clicks[begin:end], begin))
            done_strokes = state.cur.strokes + ((starts[begin],) if begin in starts else ())
            state.cur = dataclasses.replace(state.cur, clicks=done, strokes=done_strokes,
                                            prob=self.predict(done, state.cur.init_mask, n_new=end - begin))
            begin = end
