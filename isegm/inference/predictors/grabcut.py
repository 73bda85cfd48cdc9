"""Classic GrabCut from clicks (Rother, Kolmogorov and Blake, "GrabCut: interactive foreground extraction
using iterated graph cuts", SIGGRAPH 2004), through OpenCV's ``cv2.grabCut``: the no-training baseline.

How the clicks seed GrabCut's trimap (``cv2.GC_*`` labels), recomputed from scratch after every click so
the mask depends on the clicks only:

1. every pixel starts as probable background (``GC_PR_BGD``);
2. the box spanned by the positive clicks, grown by ``margin`` x the image's longer side on each side
   (clipped to the image), becomes probable foreground (``GC_PR_FGD``);
3. a disk of ``radius`` px around each negative click is definite background (``GC_BGD``), then a disk
   around each positive click definite foreground (``GC_FGD``, drawn over the negative disks);
4. ``cv2.grabCut(..., GC_INIT_WITH_MASK)`` runs ``iterations`` iterations, after ``cv2.setRNGSeed(seed)``
   (OpenCV seeds its GMM k-means from its global RNG), so the same input gives the same mask.

The result is foreground = ``GC_FGD`` or ``GC_PR_FGD``, returned as a 0/1 float32 "probability" map.
Without a positive click the map is all zeros (GrabCut has no foreground model to start from).
"""
from __future__ import annotations

import cv2
import numpy as np

from isegm.errors import UserError
from isegm.inference.predictors.base import check_rgb_image

__all__ = ["GrabCutPredictor"]


class GrabCutPredictor:
    """Click-seeded GrabCut with the predictor interface (``set_input_image``, ``get_prediction``,
    ``get_states`` / ``set_states``); no model, CPU only.

    Args:
        radius: radius in pixels of the definite fore/background disk around each click (>= 1; 5).
        margin: growth of the positive clicks' box on each side, as a fraction of the image's longer side
            (>= 0; 0.1).
        iterations: GrabCut iterations per click (>= 1; 5).
        seed: OpenCV RNG seed set before every call.

    Attributes:
        net: None (there is no network; wrappers that need one refuse this predictor).

    Raises:
        UserError: a parameter out of range.
    """

    net = None
    zoom_in = None
    with_flip = False

    def __init__(self, radius: int = 5, margin: float = 0.1, iterations: int = 5, seed: int = 0):
        if isinstance(radius, bool) or int(radius) != radius or radius < 1:
            raise UserError(f"GrabCut radius {radius!r}: expected an integer >= 1 (pixels)")
        if not margin >= 0:
            raise UserError(f"GrabCut margin {margin!r}: expected a fraction >= 0 of the longer image side")
        if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
            raise UserError(f"GrabCut iterations {iterations!r}: expected an integer >= 1")
        self.radius = int(radius)
        self.margin = float(margin)
        self.iterations = int(iterations)
        self.seed = int(seed)
        self.device = "cpu"
        self.image = None
        self.prev_prediction = None

    def set_input_image(self, image) -> None:
        """Set the (H, W, 3) uint8 RGB image (kept as BGR for OpenCV).

        Raises:
            ValueError: another shape or dtype.
        """
        image = check_rgb_image(image)
        self.image = np.ascontiguousarray(image[..., ::-1])
        self.prev_prediction = None

    set_image = set_input_image

    def trimap(self, clicks) -> np.ndarray:
        """(H, W) uint8 ``cv2.GC_*`` labels seeded from ``clicks`` (rule in the module docstring)."""
        h, w = self.image.shape[:2]
        labels = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        positives = [c for c in clicks if c.is_positive]
        if positives:
            pad = int(round(self.margin * max(h, w)))
            ys = [int(round(c.y)) for c in positives]
            xs = [int(round(c.x)) for c in positives]
            y0, y1 = max(0, min(ys) - pad), min(h, max(ys) + pad + 1)
            x0, x1 = max(0, min(xs) - pad), min(w, max(xs) + pad + 1)
            labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
        for click in sorted(clicks, key=lambda c: c.is_positive):  # negatives first, positives on top
            centre = (int(round(click.x)), int(round(click.y)))    # OpenCV takes (x, y)
            cv2.circle(labels, centre, self.radius, int(cv2.GC_FGD if click.is_positive else cv2.GC_BGD), -1)
        return labels

    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """0/1 foreground map of GrabCut seeded from the clicker's clicks.

        Args:
            clicker: a :class:`~isegm.inference.clicker.Clicker`.
            prev_mask: ignored (each click restarts GrabCut from the clicks).

        Returns:
            (H, W) float32, 1.0 foreground, 0.0 background.

        Raises:
            RuntimeError: no image was set.
        """
        if self.image is None:
            raise RuntimeError("get_prediction called before set_input_image(image)")
        clicks = clicker.get_clicks()
        h, w = self.image.shape[:2]
        if not any(c.is_positive for c in clicks):
            result = np.zeros((h, w), np.float32)
        else:
            labels = self.trimap(clicks)
            if not np.any((labels == cv2.GC_BGD) | (labels == cv2.GC_PR_BGD)):
                labels[[0, -1], :] = cv2.GC_PR_BGD  # GrabCut needs background samples for its colour model
                labels[:, [0, -1]] = cv2.GC_PR_BGD
            bgd_model = np.zeros((1, 65), np.float64)
            fgd_model = np.zeros((1, 65), np.float64)
            cv2.setRNGSeed(self.seed)
            cv2.grabCut(self.image, labels, None, bgd_model, fgd_model, self.iterations, cv2.GC_INIT_WITH_MASK)
            result = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
        self.prev_prediction = result
        return result

    def get_states(self) -> dict:
        """The last prediction (GrabCut keeps nothing else between clicks), for :meth:`set_states`."""
        return {"prev_prediction": None if self.prev_prediction is None else self.prev_prediction.copy()}

    def set_states(self, states: dict) -> None:
        """Restore a state from :meth:`get_states`."""
        self.prev_prediction = states["prev_prediction"]
