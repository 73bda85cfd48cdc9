"""Interaction geometry as types: clicks, boxes, strokes, and the network's points tensor.

Conventions (one place for all of them):

* Coordinates are (y, x) in pixels, row first, unless a name says otherwise. Integer coordinates
  address pixel centres of the full image; test-time transforms (zoom-in, flip, resize) produce
  float coordinates in their own frame.
* A :class:`Click` is ``(y, x, is_positive, index)``; ``index`` is its order in the interaction
  (0 for the first click), set by the clicker.
* A :class:`Box` carries an explicit :class:`BoxMode`, like detectron2's ``BoxMode``:
  ``YXYX_END_EXCLUSIVE`` (y0, x0, y1, x1) with y1/x1 one past the last row/column (numpy slicing:
  ``mask[y0:y1, x0:x1]``), or ``XYWH`` (COCO's ``[x, y, width, height]``).
* A :class:`Stroke` is a polyline of (y, x) vertices with a width in pixels, positive (add) or
  negative (erase), the scribble of "Fusing Forces" (Sterzinger et al., ICPR 2024). A click model
  sees it as clicks of its sign placed along the line (:meth:`Stroke.to_clicks`): the model's disks
  (or distance maps) of those clicks are the stroke rasterised into the click maps.
* The points tensor (RITM's ``get_points_nd`` layout) is ``(B, 2N, 3)`` float32: per sample N
  rows for positive clicks then N rows for negative ones, each row ``(y, x, index)``; unused rows
  are ``(-1, -1, -1)``. :func:`pack_points` builds it, :func:`valid_rows` says which rows are
  clicks, :func:`unpack_points` reads it back.
"""
from __future__ import annotations

import enum
import math
import numbers
from typing import Iterable, List, Optional, Sequence

import numpy as np

__all__ = ["Click", "BoxMode", "Box", "Stroke", "STROKE_SPACING", "apply_strokes", "PAD", "pack_points", "valid_rows", "unpack_points"]

PAD = -1.0  # value of every field of an unused row of the points tensor


def _real(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"click {what} must be a finite number of pixels, got {value!r}")
    return value


class Click:
    """One user click: (y, x) in pixels, positive (object) or negative (background), and its order.

    ``Click(y, x, is_positive, index=None)``; RITM's spellings ``Click(is_positive=..., coords=(y, x),
    indx=...)`` and ``Click(is_positive, (y, x), indx)`` (a bool first, a pair second) are accepted
    too, so code written against RITM keeps working. Clicks are immutable:
    :meth:`copy` returns a changed copy.

    Attributes:
        y, x: pixel coordinates (int on an image; float in a transformed frame).
        is_positive: True for a foreground click.
        index: the click's order (0 = first) or None before a clicker assigned it.

    Raises:
        ValueError: a coordinate that is not a finite number, a non-bool ``is_positive``, a negative
            or non-integer ``index``, or both ``y, x`` and ``coords`` given.
    """

    __slots__ = ("y", "x", "is_positive", "index")

    def __init__(self, y=None, x=None, is_positive=None, index=None, *, coords=None, indx=None):
        if isinstance(y, (bool, np.bool_)) and isinstance(x, (tuple, list)):
            # RITM's positional form Click(is_positive, (y, x)[, indx])
            y, x, is_positive, index, coords = None, None, y, is_positive if index is None else index, x
        if coords is not None:
            if y is not None or x is not None:
                raise ValueError("give either y, x or coords=(y, x), not both")
            if len(coords) != 2:
                raise ValueError(f"coords must be (y, x), got {coords!r}")
            y, x = coords
        if indx is not None:
            if index is not None:
                raise ValueError("give either index or indx, not both")
            index = indx
        if y is None or x is None:
            raise ValueError("a click needs its y and x coordinates")
        if not isinstance(is_positive, (bool, np.bool_)):
            raise ValueError(f"click is_positive must be True or False, got {is_positive!r}")
        if index is not None:
            if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral) or index < 0:
                raise ValueError(f"click index must be an integer >= 0 or None, got {index!r}")
            index = int(index)
        object.__setattr__(self, "y", _real(y, "y"))
        object.__setattr__(self, "x", _real(x, "x"))
        object.__setattr__(self, "is_positive", bool(is_positive))
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError(f"Click is immutable; use click.copy({name}=...)")

    def __eq__(self, other):
        if not isinstance(other, Click):
            return NotImplemented
        return (self.y, self.x, self.is_positive, self.index) == (other.y, other.x, other.is_positive, other.index)

    def __hash__(self):
        return hash((self.y, self.x, self.is_positive, self.index))

    def __repr__(self):
        return f"Click(y={self.y!r}, x={self.x!r}, is_positive={self.is_positive}, index={self.index!r})"

    def __reduce__(self):
        return (_make_click, (self.y, self.x, self.is_positive, self.index))

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    @property
    def coords(self) -> tuple:
        """(y, x)."""
        return (self.y, self.x)

    @property
    def indx(self) -> Optional[int]:
        """RITM's name for :attr:`index`."""
        return self.index

    @property
    def coords_and_indx(self) -> tuple:
        """(y, x, index): one row of the points tensor."""
        return (self.y, self.x, self.index)

    def copy(self, **changes) -> "Click":
        """A copy with fields replaced: ``y``, ``x``, ``coords=(y, x)``, ``is_positive``, ``index`` (or ``indx``)."""
        fields = {"y": self.y, "x": self.x, "is_positive": self.is_positive, "index": self.index}
        if "coords" in changes:
            fields["y"], fields["x"] = changes.pop("coords")
        if "indx" in changes:
            changes["index"] = changes.pop("indx")
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Click has no field(s) {sorted(unknown)}")
        fields.update(changes)
        return Click(**fields)

    def to_dict(self) -> dict:
        """Plain data for json: ``{"y", "x", "positive", "order"}`` (the annotation files' form)."""
        return {"y": _plain_number(self.y), "x": _plain_number(self.x), "positive": self.is_positive,
                "order": self.index}

    @classmethod
    def from_dict(cls, data, where: str = "click") -> "Click":
        """Inverse of :meth:`to_dict`; ``order`` may be absent.

        Raises:
            ValueError: a missing key or a bad value, the message naming ``where``.
        """
        try:
            return cls(data["y"], data["x"], data["positive"], data.get("order"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{where}: expected {{'y': int, 'x': int, 'positive': bool}}, got {data!r}") from exc
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


def _make_click(y, x, is_positive, index):
    return Click(y, x, is_positive, index)


def _plain_number(value):
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    return int(value) if value.is_integer() else value


# ---------------------------------------------------------------------- boxes
class BoxMode(enum.Enum):
    """How a box's four numbers are to be read."""

    YXYX_END_EXCLUSIVE = "yxyx"  # (y0, x0, y1, x1), rows y0..y1-1 and columns x0..x1-1
    XYWH = "xywh"                # COCO bbox: [x, y, width, height]


class Box:
    """An axis-aligned box in pixels, stored as (y0, x0, y1, x1) end exclusive.

    Build from either mode; read back in either mode with :meth:`to`.

    Raises:
        ValueError: not four finite numbers, or an empty box (y1 <= y0 or x1 <= x0).
    """

    __slots__ = ("y0", "x0", "y1", "x1")

    def __init__(self, coords: Sequence[float], mode: BoxMode = BoxMode.YXYX_END_EXCLUSIVE):
        if not isinstance(mode, BoxMode):
            raise ValueError(f"mode must be a BoxMode, got {mode!r}")
        values = list(coords)
        if len(values) != 4 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                       and math.isfinite(v) for v in values):
            raise ValueError(f"a box needs four finite numbers, got {coords!r}")
        if mode is BoxMode.XYWH:
            x, y, w, h = values
            values = [y, x, y + h, x + w]
        y0, x0, y1, x1 = values
        if y1 <= y0 or x1 <= x0:
            raise ValueError(f"empty box (y0, x0, y1, x1) = {tuple(values)}: need y1 > y0 and x1 > x0")
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("Box is immutable")

    def __eq__(self, other):
        return isinstance(other, Box) and self.to() == other.to()

    def __hash__(self):
        return hash(self.to())

    def __repr__(self):
        return f"Box(y0={self.y0}, x0={self.x0}, y1={self.y1}, x1={self.x1})"

    def to(self, mode: BoxMode = BoxMode.YXYX_END_EXCLUSIVE) -> tuple:
        """The four numbers in ``mode``."""
        if mode is BoxMode.XYWH:
            return (self.x0, self.y0, self.x1 - self.x0, self.y1 - self.y0)
        if mode is BoxMode.YXYX_END_EXCLUSIVE:
            return (self.y0, self.x0, self.y1, self.x1)
        raise ValueError(f"unknown box mode {mode!r}")

    @property
    def height(self):
        return self.y1 - self.y0

    @property
    def width(self):
        return self.x1 - self.x0

    def clip(self, height: int, width: int) -> "Box":
        """The part inside an image of (height, width) pixels.

        Raises:
            ValueError: the box lies entirely outside the image.
        """
        y0, x0 = max(0, self.y0), max(0, self.x0)
        y1, x1 = min(height, self.y1), min(width, self.x1)
        if y1 <= y0 or x1 <= x0:
            raise ValueError(f"{self!r} lies outside the {height}x{width} (HxW) image")
        return Box((y0, x0, y1, x1))

    def with_context(self, ratio: float, min_margin: int = 16) -> "Box":
        """The box grown on every side by ``max(min_margin, round(ratio * longer side))`` pixels (not clipped).

        The context crop around a box that the annotation session and the evaluator's box-first
        interaction run the predictor on (the avalanche fork of RITM's demo crops to the box plus context).

        Raises:
            ValueError: ``ratio`` or ``min_margin`` negative.
        """
        if not ratio >= 0 or min_margin < 0:
            raise ValueError(f"context ratio and margin must be >= 0, got {ratio!r}, {min_margin!r}")
        margin = max(int(min_margin), int(round(ratio * max(self.height, self.width))))
        return Box((self.y0 - margin, self.x0 - margin, self.y1 + margin, self.x1 + margin))

    def contains(self, y, x) -> bool:
        """Whether pixel (y, x) lies inside."""
        return self.y0 <= y < self.y1 and self.x0 <= x < self.x1

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> "Box":
        """The tight end-exclusive box of the non-zero pixels of an (H, W) mask.

        Raises:
            ValueError: the mask is empty or not 2-D.
        """
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if len(rows) == 0:
            raise ValueError("cannot take the box of an empty mask")
        return cls((int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1))


# ---------------------------------------------------------------------- the points tensor
#: the default largest distance in pixels between the clicks a stroke is given to a click model as
#: (:meth:`Stroke.to_clicks`; RITM's click disks have radius 5: no gap along the line)
STROKE_SPACING = 5.0


class Stroke:
    """A positive (add) or negative (erase) scribble: a polyline of (y, x) vertices drawn ``width`` px wide.

    ``Stroke(points, width, is_positive, index=None)``. Vertices are (y, x) pixel coordinates (floats
    allowed); two equal vertices make a dot. Strokes are immutable. The interaction type of "Fusing
    Forces" (Sterzinger et al., ICPR 2024: add / erase strokes Δ+ / Δ−).

    Attributes:
        points: tuple of (y, x) float pairs, at least 2.
        width: line width in pixels (> 0); the pixels within ``width / 2`` of the polyline are painted.
        is_positive: True for an add stroke (object), False for an erase stroke (background).
        index: order among the interactions of an object, or None.

    Raises:
        ValueError: fewer than 2 vertices, a vertex that is not two finite numbers, a width that is
            not a finite number > 0, a non-bool ``is_positive``, a bad ``index``.
    """

    __slots__ = ("points", "width", "is_positive", "index")

    def __init__(self, points, width, is_positive, index=None):
        try:
            vertices = [tuple(p) for p in points]
        except TypeError:
            raise ValueError(f"stroke points must be a sequence of (y, x) pairs, got {points!r}") from None
        if len(vertices) < 2:
            raise ValueError(f"a stroke needs at least 2 points (y, x), got {len(vertices)}")
        for i, vertex in enumerate(vertices):
            if len(vertex) != 2:
                raise ValueError(f"stroke point {i} must be (y, x), got {vertex!r}")
        vertices = tuple((_real(y, f"stroke point {i} y"), _real(x, f"stroke point {i} x"))
                         for i, (y, x) in enumerate(vertices))
        if (isinstance(width, (bool, np.bool_)) or not isinstance(width, numbers.Real)
                or not math.isfinite(width) or width <= 0):
            raise ValueError(f"stroke width must be a number of pixels > 0, got {width!r}")
        if not isinstance(is_positive, (bool, np.bool_)):
            raise ValueError(f"stroke is_positive must be True or False, got {is_positive!r}")
        if index is not None and (isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral)
                                  or index < 0):
            raise ValueError(f"stroke index must be an integer >= 0 or None, got {index!r}")
        object.__setattr__(self, "points", vertices)
        object.__setattr__(self, "width", float(width))
        object.__setattr__(self, "is_positive", bool(is_positive))
        object.__setattr__(self, "index", None if index is None else int(index))

    def __setattr__(self, name, value):
        raise AttributeError("Stroke is immutable; use stroke.copy(...)")

    def __eq__(self, other):
        if not isinstance(other, Stroke):
            return NotImplemented
        return ((self.points, self.width, self.is_positive, self.index)
                == (other.points, other.width, other.is_positive, other.index))

    def __hash__(self):
        return hash((self.points, self.width, self.is_positive, self.index))

    def __repr__(self):
        return (f"Stroke(points={len(self.points)} vertices from {self.points[0]} to {self.points[-1]}, "
                f"width={self.width}, is_positive={self.is_positive}, index={self.index!r})")

    def copy(self, **changes) -> "Stroke":
        """A copy with ``points``, ``width``, ``is_positive`` or ``index`` replaced."""
        fields = {"points": self.points, "width": self.width, "is_positive": self.is_positive, "index": self.index}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Stroke has no field(s) {sorted(unknown)}")
        fields.update(changes)
        return Stroke(**fields)

    @property
    def length(self) -> float:
        """Length of the polyline in pixels (0 for a dot)."""
        pts = np.asarray(self.points, dtype=np.float64)
        return float(np.hypot(*np.diff(pts, axis=0).T).sum())

    def check_inside(self, height: int, width: int, where: str = "stroke") -> None:
        """Raise unless every vertex lies on an image of (height, width) pixels.

        Raises:
            ValueError: a vertex outside ``0 <= y < height``, ``0 <= x < width`` (named, with ``where``).
        """
        for i, (y, x) in enumerate(self.points):
            if not (0 <= y < height and 0 <= x < width):
                raise ValueError(f"{where}: point {i} (y={y:g}, x={x:g}) lies outside the "
                                 f"{height}x{width} (HxW) image")

    def rasterize(self, height: int, width: int) -> np.ndarray:
        """The painted pixels: (height, width) bool, True within ``width / 2`` of the polyline.

        A pixel (y, x) is painted when its centre's Euclidean distance to the polyline is at most
        ``width / 2`` (vertices outside the image are allowed; only the part inside is painted).
        Vectorised over pixels (one distance map per segment, restricted to the segment's box).
        """
        out = np.zeros((height, width), dtype=bool)
        r = self.width / 2.0
        pts = np.asarray(self.points, dtype=np.float64)
        for (ya, xa), (yb, xb) in zip(pts[:-1], pts[1:]):
            y0, y1 = max(0, int(math.floor(min(ya, yb) - r))), min(height, int(math.ceil(max(ya, yb) + r)) + 1)
            x0, x1 = max(0, int(math.floor(min(xa, xb) - r))), min(width, int(math.ceil(max(xa, xb) + r)) + 1)
            if y1 <= y0 or x1 <= x0:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
            dy, dx = yb - ya, xb - xa
            seg2 = dy * dy + dx * dx
            t = np.zeros_like(yy) if seg2 == 0 else np.clip(((yy - ya) * dy + (xx - xa) * dx) / seg2, 0.0, 1.0)
            dist2 = (yy - (ya + t * dy)) ** 2 + (xx - (xa + t * dx)) ** 2
            out[y0:y1, x0:x1] |= dist2 <= r * r
        return out

    def sample(self, spacing: float) -> np.ndarray:
        """(K, 2) float64 (y, x) points along the polyline, ``spacing`` px apart at most, both ends included.

        Raises:
            ValueError: ``spacing`` not a finite number > 0.
        """
        if not (isinstance(spacing, numbers.Real) and math.isfinite(spacing) and spacing > 0):
            raise ValueError(f"stroke sampling spacing must be > 0 px, got {spacing!r}")
        pts = np.asarray(self.points, dtype=np.float64)
        out = [pts[:1]]
        for a, b in zip(pts[:-1], pts[1:]):
            n = max(1, int(math.ceil(float(np.hypot(*(b - a))) / spacing)))
            t = np.arange(1, n + 1, dtype=np.float64)[:, None] / n
            out.append(a + t * (b - a))
        samples = np.concatenate(out)
        keep = np.ones(len(samples), dtype=bool)
        keep[1:] = np.any(np.diff(samples, axis=0) != 0, axis=1)  # a dot gives one point, not many equal ones
        return samples[keep]

    def to_clicks(self, spacing: float, index: Optional[int] = None) -> List[Click]:
        """Clicks of the stroke's sign along the polyline (see :meth:`sample`), rounded to integer pixels.

        This is how a click model receives a stroke: its disk (or distance) maps of these clicks are
        the stroke rasterised into the click maps. With disks of radius r, ``spacing <= r`` leaves no
        gap along the line. Consecutive duplicates after rounding are dropped.

        Args:
            spacing: the largest distance between consecutive clicks, in pixels (> 0).
            index: click index given to every click (default: the stroke's ``index``).
        """
        index = self.index if index is None else index
        rounded = np.rint(self.sample(spacing)).astype(np.int64)
        keep = np.ones(len(rounded), dtype=bool)
        keep[1:] = np.any(np.diff(rounded, axis=0) != 0, axis=1)
        return [Click(int(y), int(x), self.is_positive, index) for y, x in rounded[keep]]

    def to_dict(self) -> dict:
        """Plain data for json: ``{"points": [[y, x], ...], "width", "positive", "order"}``."""
        return {"points": [[_plain_number(y), _plain_number(x)] for y, x in self.points],
                "width": _plain_number(self.width), "positive": self.is_positive, "order": self.index}

    @classmethod
    def from_dict(cls, data, where: str = "stroke") -> "Stroke":
        """Inverse of :meth:`to_dict`; ``order`` may be absent.

        Raises:
            ValueError: a missing key or a bad value, the message naming ``where``.
        """
        try:
            return cls(data["points"], data["width"], data["positive"], data.get("order"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: expected {{'points': [[y, x], ...], 'width': px, 'positive': bool}}, "
                             f"got {data!r}") from exc
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


def apply_strokes(mask: np.ndarray, strokes: Iterable[Stroke]) -> np.ndarray:
    """Strokes applied by hand (Fusing Forces' Y^Δ): add strokes paint 1, erase strokes paint 0, in order.

    Args:
        mask: (H, W) bool or {0, 1} current mask (not modified).
        strokes: the strokes, applied in the order given.

    Returns:
        (H, W) bool.

    Raises:
        ValueError: ``mask`` not 2-D.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    out = mask.astype(bool).copy()
    for stroke in strokes:
        out[stroke.rasterize(*out.shape)] = stroke.is_positive
    return out


def pack_points(clicks_lists: Sequence[Iterable[Click]], num_pos: Optional[int] = None,
                num_neg: Optional[int] = None, clicks_limit: Optional[int] = None) -> np.ndarray:
    """Lay clicks out as the network's points array (RITM's ``get_points_nd``).

    Every sample gets N positive rows then N negative rows, each row (y, x, index), padded with
    (-1, -1, -1). N = max over samples of max(#positive, #negative) (counted on the full lists),
    capped at ``clicks_limit``, at least 1; ``num_pos`` / ``num_neg`` raise N to at least that many
    rows (both halves always have the same N: the model splits the rows in half). With
    ``clicks_limit`` only the first ``clicks_limit`` clicks of each list are used.

    Args:
        clicks_lists: B sequences of :class:`Click` (a click without index gets -1 in its row).

    Returns:
        (B, 2N, 3) float32.

    Raises:
        ValueError: ``clicks_limit`` < 1 or a negative ``num_pos`` / ``num_neg``.
    """
    if clicks_limit is not None and clicks_limit < 1:
        raise ValueError(f"clicks_limit must be >= 1 or None, got {clicks_limit}")
    clicks_lists = [list(clicks) for clicks in clicks_lists]
    counts = []
    for clicks in clicks_lists:
        n_pos = sum(1 for c in clicks if c.is_positive)
        counts.extend((n_pos, len(clicks) - n_pos))
    n_rows = max(counts) if counts else 0
    if clicks_limit is not None:
        n_rows = min(clicks_limit, n_rows)
    for extra, name in ((num_pos, "num_pos"), (num_neg, "num_neg")):
        if extra is not None:
            if extra < 0:
                raise ValueError(f"{name} must be >= 0, got {extra}")
            n_rows = max(n_rows, int(extra))
    n_rows = max(1, n_rows)

    points = np.full((len(clicks_lists), 2 * n_rows, 3), PAD, dtype=np.float32)
    for b, clicks in enumerate(clicks_lists):
        clicks = clicks[:clicks_limit]
        pos = [_row(c) for c in clicks if c.is_positive]
        neg = [_row(c) for c in clicks if not c.is_positive]
        if pos:
            points[b, :len(pos)] = pos
        if neg:
            points[b, n_rows:n_rows + len(neg)] = neg
    return points


def _row(click: Click) -> tuple:
    return (click.y, click.x, PAD if click.index is None else click.index)


def valid_rows(points):
    """Which rows of a (..., 2N, 3) points array/tensor are clicks: ``max(y, x) >= 0`` (RITM's rule).

    Works on numpy arrays and torch tensors; returns a bool array/tensor of shape (..., 2N).
    """
    yx = points[..., :2]
    if isinstance(points, np.ndarray):
        return yx.max(axis=-1) >= 0
    return yx.amax(dim=-1) >= 0


def unpack_points(points) -> List[List[Click]]:
    """Inverse of :func:`pack_points`: a (B, 2N, 3) array/tensor -> B lists of clicks, sorted by index.

    Rows in the first half are positive, in the second negative; padding rows are dropped; a row
    with a negative index becomes a click with ``index=None``.

    Raises:
        ValueError: not a (B, 2N, 3) array with an even number of rows.
    """
    if hasattr(points, "detach"):
        points = points.detach().cpu().numpy()
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[2] != 3 or points.shape[1] % 2:
        raise ValueError(f"points must be (B, 2N, 3), got shape {points.shape}")
    n_rows = points.shape[1] // 2
    valid = valid_rows(points)
    result = []
    for b in range(points.shape[0]):
        clicks = []
        for r in np.flatnonzero(valid[b]):
            y, x, order = points[b, r].tolist()
            y, x = _plain_number(y), _plain_number(x)
            clicks.append(Click(y, x, bool(r < n_rows), int(order) if order >= 0 else None))
        clicks.sort(key=lambda c: (c.index is None, c.index if c.index is not None else 0))
        result.append(clicks)
    return result
