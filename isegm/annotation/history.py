"""A typed undo history for the object being edited.

Each undoable action pushes one :class:`UndoStep`: the action's name and the state of the current object
before it (:class:`ObjectState`, whose fields are immutable values or arrays that are never modified in
place, so nothing is deep-copied), plus the predictor's states and input crop, so that an undo restores the
predictor exactly.
"""
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

from isegm.geometry import Box, Click, Stroke

__all__ = ["ACTIONS", "StrokeStep", "ObjectState", "UndoStep", "History", "prediction_steps"]

ACTIONS = ("click", "stroke", "box", "external_mask", "reset", "replay")


@dataclass(frozen=True)
class StrokeStep:
    """A stroke of the current object and the clicks it was given to the model as.

    Attributes:
        stroke: the :class:`isegm.geometry.Stroke`; its ``index`` is the position of its first click in the
            object's clicks (0-based).
        spacing: px between its clicks (:meth:`isegm.geometry.Stroke.to_clicks`).
        n_clicks: how many clicks it gave (``len(stroke.to_clicks(spacing))``); they were predicted in one step.
    """
    stroke: Stroke
    spacing: float
    n_clicks: int


def prediction_steps(n_clicks: int, strokes) -> List[int]:
    """End positions (exclusive) of the prediction steps over an object's ``n_clicks`` clicks: one step per
    click, except that the clicks of each :class:`StrokeStep` in ``strokes`` form one step.

    Raises:
        ValueError: a stroke's clicks overlap another step or run past ``n_clicks``.
    """
    starts = {step.stroke.index: step.n_clicks for step in strokes}
    ends, pos = [], 0
    while pos < n_clicks:
        end = pos + starts.pop(pos, 1)
        if end > n_clicks:
            raise ValueError(f"a stroke's {end - pos} clicks from click {pos + 1} run past the object's {n_clicks}")
        ends.append(end)
        pos = end
    if starts:
        raise ValueError(f"stroke(s) starting at click {', '.join(str(k + 1) for k in sorted(starts))} do not start "
                         f"a prediction step")
    return ends


@dataclass(frozen=True)
class ObjectState:
    """The current object: its clicks (in order), strokes, restricting box, external start mask and last prediction.

    Attributes:
        clicks: tuple of :class:`isegm.geometry.Click` (index 0 = first click), full-image (y, x); a stroke's
            clicks are among them.
        strokes: tuple of :class:`StrokeStep` in order.
        box: :class:`isegm.geometry.Box` (end exclusive) or None.
        init_mask: (H, W) bool external start mask or None; init_rle: its COCO RLE (plain data) or None.
        prob: (H, W) float32 last probability map or None.
    """
    clicks: Tuple[Click, ...] = ()
    strokes: Tuple[StrokeStep, ...] = ()
    box: Optional[Box] = None
    init_mask: Optional[np.ndarray] = None
    init_rle: Optional[dict] = None
    prob: Optional[np.ndarray] = None

    def is_empty(self) -> bool:
        """True when the object has no clicks, no box and no external mask."""
        return not self.clicks and self.box is None and self.init_mask is None


@dataclass(frozen=True)
class UndoStep:
    """One undoable action: ``action`` (one of :data:`ACTIONS`) and everything needed to go back before it.

    Attributes:
        before: the :class:`ObjectState` before the action.
        predictor_states: ``predictor.get_states()`` before the action (None for a predictor without it).
        crop: (y0, x0, y1, x1) end-exclusive crop the predictor had as input before the action.
    """
    action: str
    before: ObjectState
    predictor_states: Any
    crop: Tuple[int, int, int, int]

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"unknown undo action {self.action!r}, expected one of {ACTIONS}")


class History:
    """Stack of :class:`UndoStep` for the current object (cleared when an object is finished)."""

    def __init__(self):
        self._steps: List[UndoStep] = []

    def push(self, step: UndoStep) -> None:
        """Record ``step`` (the newest)."""
        self._steps.append(step)

    def pop(self) -> UndoStep:
        """Remove and return the newest step. Raises IndexError when empty."""
        return self._steps.pop()

    def clear(self) -> None:
        """Forget every step."""
        self._steps.clear()

    def steps(self) -> List[UndoStep]:
        """The recorded steps, oldest first (a copy of the list)."""
        return list(self._steps)

    def truncate(self, n: int) -> None:
        """Keep the ``n`` oldest steps, forget the newer ones."""
        del self._steps[max(0, int(n)):]

    def actions(self) -> List[str]:
        """The recorded action names, oldest first."""
        return [s.action for s in self._steps]

    def __len__(self) -> int:
        return len(self._steps)

    def __bool__(self) -> bool:
        return bool(self._steps)
