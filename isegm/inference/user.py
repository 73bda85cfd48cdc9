"""The simulated user's strokes: RITM's click rule generalised to a scribble.

RITM's evaluation user clicks the pixel farthest from the boundary of the larger error region
(:func:`isegm.inference.clicker.get_next_click`). The stroke user of issue 9 (strokes as in "Fusing
Forces", Sterzinger et al., ICPR 2024) draws instead along that region: the same error type and the
same region are chosen, and the stroke follows the longest path through the region's skeleton.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from isegm.geometry import Stroke
from isegm.inference.clicker import DIST_MASK_PRECISE, _distance_map, error_masks

__all__ = ["next_stroke", "skeleton_longest_path"]

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
    fn_mask, fp_mask = error_masks(gt_mask, pred_mask, ignore_mask)
    fn_dt = _distance_map(fn_mask, padding, DIST_MASK_PRECISE)
    fp_dt = _distance_map(fp_mask, padding, DIST_MASK_PRECISE)
    fn_max, fp_max = fn_dt.max(), fp_dt.max()
    if fn_max <= 0 and fp_max <= 0:
        return None
    is_positive = bool(fn_max > fp_max)
    error, dt = (fn_mask, fn_dt) if is_positive else (fp_mask, fp_dt)
    y, x = np.unravel_index(int(np.argmax(dt)), dt.shape)
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
