"""The simulated user's strokes: RITM's click rule generalised to a scribble.

RITM's evaluation user clicks the pixel farthest from the boundary of the larger error region
(:func:`isegm.inference.clicker.get_next_click`). The stroke user of issue 9 (strokes as in "Fusing
Forces", Sterzinger et al., ICPR 2024) draws instead along that region: the same error type and the
same region are chosen, and the stroke follows the longest path through the region's skeleton.

The stochastic click user (:class:`StochasticClickUser`) models real users as the RClicks study
found them (Antonov et al., "RClicks: Realistic Click Simulation for Benchmarking Interactive
Segmentation", NeurIPS 2024): they click near, not at, the point farthest from the error's
boundary. It draws each click inside the same error region, with a probability that rises with the
distance from the region's boundary; the standard rule is its limit for sigma -> 0.
"""
from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from isegm.geometry import Stroke
from isegm.inference.clicker import DIST_MASK_PRECISE, _distance_map, error_masks

__all__ = ["next_stroke", "skeleton_longest_path", "stochastic_next_click", "StochasticClickUser",
           "click_seed_sequence"]

_NEIGHBOURS = ((0, 1), (1, -1), (1, 0), (1, 1))  # half of the 8-neighbourhood; edges are undirected


def skeleton_longest_path(region: np.ndarray, start: tuple) -> np.ndarray:
    """The longest shortest path through the skeleton of ``region`` (its geodesic diameter).

    The skeleton is scikit-image's ``skeletonize`` (Zhang's thinning), seen as a graph of 8-connected
    pixels with edge lengths 1 and √2. From the skeleton pixel nearest ``start``, the farthest pixel A is
    found, then the farthest pixel B from A; the path A → B is returned (the classic two-sweep
    diameter, exact on a tree-shaped skeleton).

    Args:
        region: (H, W) bool, one connected region (non-empty).
        start: (y, x) a pixel of the region (the click rule's point).

    Returns:
        (K, 2) int64 (y, x) path pixels, K >= 1 (1 when the skeleton is a single pixel).

    Raises:
        ValueError: ``region`` is empty or not 2-D.
    """
    from skimage.morphology import skeletonize

    region = np.asarray(region, dtype=bool)
    if region.ndim != 2 or not region.any():
        raise ValueError(f"region must be a non-empty (H, W) mask, got shape {region.shape}")
    skeleton = skeletonize(region)
    if not skeleton.any():
        skeleton = np.zeros_like(region)
        skeleton[start] = True
    ys, xs = np.nonzero(skeleton)
    node = -np.ones(region.shape, dtype=np.int64)
    node[ys, xs] = np.arange(len(ys))
    rows, cols, weights = [], [], []
    h, w = region.shape
    for dy, dx in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        ok[ok] = node[ny[ok], nx[ok]] >= 0
        rows.append(node[ys[ok], xs[ok]])
        cols.append(node[ny[ok], nx[ok]])
        weights.append(np.full(int(ok.sum()), np.hypot(dy, dx)))
    n = len(ys)
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    first = int(np.argmin((ys - start[0]) ** 2 + (xs - start[1]) ** 2))
    dist = dijkstra(graph, directed=False, indices=first)
    a = int(np.argmax(np.where(np.isfinite(dist), dist, -1)))
    dist, pred = dijkstra(graph, directed=False, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(dist), dist, -1)))
    path = [b]
    while path[-1] != a:  # walks the path's K pixels, not the image
        path.append(int(pred[path[-1]]))
    path = np.asarray(path[::-1])
    return np.stack([ys[path], xs[path]], axis=1).astype(np.int64)


def next_stroke(gt_mask, pred_mask, ignore_mask=None, *, max_width: float = 10.0, padding: bool = True,
                simplify_tol: float = 1.0, index: Optional[int] = None) -> Optional[Stroke]:
    """The simulated user's next stroke: along the error region RITM's click rule would click in.

    1. fn / fp error masks and the error type as :func:`~isegm.inference.clicker.get_next_click` with
       ``rng=None`` (exact L2 distance transform, ``padding``): positive iff max dt(fn) > max dt(fp).
    2. The region is the 8-connected component of that error mask holding the click rule's pixel.
    3. The stroke follows :func:`skeleton_longest_path` of the region, simplified with
       ``cv2.approxPolyDP`` (tolerance ``simplify_tol`` px), after the path's ends shallower than half
       its deepest pixel are trimmed (skeleton spurs into corners). Its width is 2 r with
       r = (smallest boundary distance along the kept path) - 0.5 - ``simplify_tol``, clipped to
       [0.5, ``max_width`` / 2], so the painted pixels stay inside the region (except where the
       clip at 0.5 px applies). A region whose skeleton is one pixel gives a dot (two equal vertices).

    Args:
        gt_mask: (H, W) bool, or int with 1 = object and -1 = ignored.
        pred_mask: (H, W) bool current prediction.
        ignore_mask: optional (H, W) bool, True = ignored.
        max_width: widest stroke in pixels (> 0); 10 px is the diameter of RITM's click disks.
        padding: the image border counts as region boundary (RITM's clicker default).
        simplify_tol: polyline simplification tolerance in pixels (0 keeps every skeleton pixel).
        index: the stroke's order, or None.

    Returns:
        A :class:`~isegm.geometry.Stroke` ((y, x) vertices), or None when no error pixel is left.

    Raises:
        ValueError: masks not 2-D or of different shapes; ``max_width`` <= 0; ``simplify_tol`` < 0.
    """
    if not max_width > 0:
        raise ValueError(f"max_width must be > 0 px, got {max_width!r}")
    if not simplify_tol >= 0:
        raise ValueError(f"simplify_tol must be >= 0 px, got {simplify_tol!r}")
    choice = _rule_region(gt_mask, pred_mask, ignore_mask, None, padding)
    if choice is None:
        return None
    is_positive, (y, x), dt, error = choice
    _, labels = cv2.connectedComponents(error.astype(np.uint8), connectivity=8)
    region = labels == labels[y, x]
    path = skeleton_longest_path(region, (int(y), int(x)))
    depth = dt[path[:, 0], path[:, 1]]
    # drop the skeleton's spurs into thin ends and corners: keep the stretch between the first and last
    # path pixel at least half as deep as the deepest one
    deep = np.flatnonzero(depth >= 0.5 * depth.max())
    path, depth = path[deep[0]:deep[-1] + 1], depth[deep[0]:deep[-1] + 1]
    # a painted pixel lies within radius + simplify_tol of a path pixel whose boundary is depth away
    radius = float(np.clip(depth.min() - 0.5 - simplify_tol, 0.5, max_width / 2.0))
    width = 2.0 * radius
    if len(path) == 1:
        vertices = [tuple(path[0]), tuple(path[0])]
    elif simplify_tol > 0:
        xy = np.ascontiguousarray(path[:, ::-1], dtype=np.int32).reshape(-1, 1, 2)  # OpenCV takes (x, y)
        simplified = cv2.approxPolyDP(xy, simplify_tol, False).reshape(-1, 2)[:, ::-1]
        vertices = [tuple(p) for p in simplified]
        if len(vertices) < 2:
            vertices = [tuple(path[0]), tuple(path[-1])]
    else:
        vertices = [tuple(p) for p in path]
    return Stroke([(int(py), int(px)) for py, px in vertices], width, is_positive, index)


# ---------------------------------------------------------------------- stochastic clicks (RClicks)
def _rule_region(gt_mask, pred_mask, ignore_mask, not_clicked_mask, padding):
    """The click rule's choice: (is_positive, (y, x), dt of the chosen error mask, its error mask), or None."""
    fn_mask, fp_mask = error_masks(gt_mask, pred_mask, ignore_mask)
    fn_dt = _distance_map(fn_mask, padding, DIST_MASK_PRECISE)
    fp_dt = _distance_map(fp_mask, padding, DIST_MASK_PRECISE)
    if not_clicked_mask is not None:
        not_clicked_mask = np.asarray(not_clicked_mask, dtype=bool)
        fn_dt = fn_dt * not_clicked_mask
        fp_dt = fp_dt * not_clicked_mask
    fn_max, fp_max = fn_dt.max(), fp_dt.max()
    if fn_max <= 0 and fp_max <= 0:
        return None
    is_positive = bool(fn_max > fp_max)
    error, dt = (fn_mask, fn_dt) if is_positive else (fp_mask, fp_dt)
    y, x = np.unravel_index(int(np.argmax(dt)), dt.shape)
    return is_positive, (int(y), int(x)), dt, error


def stochastic_next_click(gt_mask, pred_mask, rng: np.random.Generator, sigma: float, ignore_mask=None,
                          not_clicked_mask=None, padding: bool = True):
    """A realistic simulated click: random, near the deepest point of the error region RITM's rule picks.

    1. The error type and the pixel c* are those of :func:`~isegm.inference.clicker.get_next_click`
       (``rng=None``: exact L2 distance transform d of the fn / fp masks, ``padding``, already clicked
       pixels excluded; positive iff max d(fn) > max d(fp)).
    2. The region R is the 8-connected component of that error mask holding c*; candidates are its
       pixels with d > 0 that were not clicked yet.
    3. A candidate p is drawn with probability ∝ exp(-(d_max - d(p))² / (2 sigma²)), d_max = d(c*):
       pixels as deep as c* are the likeliest, and a pixel ``sigma`` pixels shallower is e^-0.5 as
       likely (RClicks, Antonov et al., NeurIPS 2024, found real clicks spread around the farthest
       point in this way; this Gaussian-in-depth form is ours, not a model fitted in that paper).
       ``sigma == 0`` returns c* itself (the standard rule, its deterministic limit; for a small
       sigma > 0 ties at d_max are drawn uniformly instead of in raster order).

    Args:
        gt_mask: (H, W) bool, or int with 1 = object and -1 = ignored.
        pred_mask: (H, W) bool current prediction.
        rng: the ``numpy.random.Generator`` the draw uses (one ``rng.choice`` call per click).
        sigma: spread in pixels of distance-to-boundary, >= 0 and finite.
        ignore_mask: optional (H, W) bool, True = ignored.
        not_clicked_mask: optional (H, W) bool, False at pixels clicked already.
        padding: the image border counts as region boundary (RITM's clicker default).

    Returns:
        ``(is_positive, (y, x))`` with int coordinates, or None when no (unclicked) error pixel is left.

    Raises:
        ValueError: ``sigma`` negative or not finite; masks not 2-D or of different shapes.
        TypeError: ``rng`` is not a ``numpy.random.Generator``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(sigma, bool) or not (isinstance(sigma, (int, float, np.floating, np.integer))
                                       and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number of pixels >= 0, got {sigma!r}")
    rule = _rule_region(gt_mask, pred_mask, ignore_mask, not_clicked_mask, padding)
    if rule is None:
        return None
    is_positive, (y, x), dt, error = rule
    if sigma == 0:
        return is_positive, (y, x)
    _, labels = cv2.connectedComponents(error.astype(np.uint8), connectivity=8)
    candidates = np.flatnonzero((labels.ravel() == labels[y, x]) & (dt.ravel() > 0))
    depth = dt.ravel()[candidates].astype(np.float64)
    weights = np.exp(-((float(dt[y, x]) - depth) ** 2) / (2.0 * float(sigma) ** 2))
    pick = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
    py, px = np.unravel_index(int(pick), dt.shape)
    return is_positive, (int(py), int(px))


class StochasticClickUser:
    """A :class:`~isegm.inference.clicker.Clicker` ``click_rule`` drawing clicks with :func:`stochastic_next_click`.

    Args:
        sigma: spread in pixels (>= 0; 0 = the standard rule).
        rng: the ``numpy.random.Generator`` all its clicks are drawn from (same seed, same clicks).
        padding: image border as region boundary.

    Raises:
        ValueError / TypeError: as :func:`stochastic_next_click` for ``sigma`` and ``rng``.
    """

    def __init__(self, sigma: float, rng: np.random.Generator, padding: bool = True):
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if isinstance(sigma, bool) or not (isinstance(sigma, (int, float, np.floating, np.integer))
                                           and math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a finite number of pixels >= 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.rng = rng
        self.padding = padding

    def __call__(self, gt_mask, pred_mask, ignore_mask=None, not_clicked_mask=None):
        return stochastic_next_click(gt_mask, pred_mask, self.rng, self.sigma, ignore_mask=ignore_mask,
                                     not_clicked_mask=not_clicked_mask, padding=self.padding)


def click_seed_sequence(seed: int, repeat: int, index: int) -> np.random.SeedSequence:
    """The seed of one (repeat, sample) of a stochastic evaluation: ``SeedSequence(seed, spawn_key=(repeat, index))``.

    It depends only on the three integers (not on the order samples are visited or on other
    samples), so a sample's clicks in a repeat are the same in any run with the same ``seed``.

    Raises:
        ValueError: a negative value.
    """
    if min(int(seed), int(repeat), int(index)) < 0:
        raise ValueError(f"seed, repeat and index must be >= 0, got {seed}, {repeat}, {index}")
    return np.random.SeedSequence(int(seed), spawn_key=(int(repeat), int(index)))
