"""Overlapping patches around any predictor, for images larger than the model's input ("Fusing Forces",
Sterzinger et al., ICPR 2024, which refines large document images patch by patch).

What :class:`PatchPredictor` computes for an image larger than ``patch_size``:

* **Tiling.** Along each axis the patches start every ``patch - overlap`` px from 0; the last one is moved
  back to end exactly at the border (so it may overlap its neighbour by more than ``overlap``). Every pixel
  lies in at least one patch; all patches have the patch size (an axis no longer than the patch has one
  patch, the whole axis). See :func:`patch_starts` and :func:`patch_boxes`.
* **Which patches run.** A patch is predicted by the wrapped predictor when (a) a click of the clicker (a
  stroke's clicks included) lies inside it, or (b) its crop of the previous mask holds both object
  (p > ``prob_thresh``) and background pixels, i.e. it holds a piece of the object's boundary that a
  neighbour's correction may have moved. Every other patch keeps the previous mask's probabilities: it is
  all object or all background and nobody clicked there.
* **One patch.** The wrapped predictor is set on the image crop (``set_input_image``) and asked once with
  the clicks inside the patch, in patch coordinates (y - y0, x - x0), in their order and with their
  indices, and with the previous mask's crop as ``prev_mask``. The wrapped predictor's own per-image state
  (its previous prediction, a zoom-in box) does not carry over from one call to the next: this wrapper
  keeps the full-image previous mask and always passes it.
* **Blend.** The probabilities of all patches (predicted or kept) are averaged with weights
  w(y, x) = w_y(y) * w_x(x); along an axis a patch's weight is 1 except over its overlap of length o with
  the previous / next patch, where it ramps linearly up, (k + 1) / (o + 1), or down, (o - k) / (o + 1),
  k = 0..o-1. Two overlapping ramps sum to 1, the weights are > 0 everywhere and the average is
  normalised by their sum, so patches that agree on a pixel give exactly that value (no seam) and a
  prediction that changes across a patch border changes gradually over the overlap.

The blended map becomes this wrapper's previous mask (:attr:`prev_prediction`) for the next call.
An image no larger than the patch on both axes goes straight through: every call is the wrapped
predictor's own, bit for bit.
"""
from __future__ import annotations

import numbers
from typing import List, Tuple

import numpy as np
import torch

from isegm.inference.predictors.base import ClickList, PredictorWrapper, check_rgb_image, image_to_tensor

__all__ = ["PatchPredictor", "patch_starts", "patch_boxes", "ramp_weights"]

PatchBox = Tuple[int, int, int, int]  # (y0, x0, y1, x1), end exclusive, pixels


def _check_int(value, what: str, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


def patch_starts(length: int, patch: int, overlap: int) -> np.ndarray:
    """First pixels of the patches along one axis of ``length`` px.

    Starts are 0, s, 2s, ... (s = ``patch - overlap``) while a patch fits, then ``length - patch`` (the last
    patch ends at the border). ``length <= patch``: one start, 0.

    Returns:
        (n,) int64, increasing.

    Raises:
        ValueError: ``length`` or ``patch`` < 1, ``overlap`` < 0 or ``overlap >= patch`` (values named).
    """
    length = _check_int(length, "length", 1)
    patch = _check_int(patch, "patch size", 1)
    overlap = _check_int(overlap, "patch overlap", 0)
    if overlap >= patch:
        raise ValueError(f"patch overlap must be smaller than the patch size {patch}, got {overlap}")
    if length <= patch:
        return np.zeros(1, np.int64)
    starts = np.arange(0, length - patch, patch - overlap, dtype=np.int64)
    return np.append(starts, length - patch)


def ramp_weights(length: int, starts: np.ndarray, patch: int) -> List[np.ndarray]:
    """Blend weights of the patches along one axis (see the module docstring).

    Args:
        length: axis length in px; starts: from :func:`patch_starts`; patch: patch size (clipped to ``length``).

    Returns:
        one (min(patch, length),) float64 array per start, values in (0, 1].
    """
    size = min(int(patch), int(length))
    out = []
    for i, start in enumerate(starts):
        w = np.ones(size, np.float64)
        if i > 0:  # overlap with the previous patch at this patch's start
            o = int(starts[i - 1] + size - start)
            if o > 0:
                w[:o] = np.minimum(w[:o], np.arange(1, o + 1) / (o + 1))
        if i + 1 < len(starts):  # overlap with the next patch at this patch's end
            o = int(start + size - starts[i + 1])
            if o > 0:
                w[size - o:] = np.minimum(w[size - o:], np.arange(o, 0, -1) / (o + 1))
        out.append(w)
    return out


def patch_boxes(shape, patch_size, overlap: int) -> List[PatchBox]:
    """Overlapping patches covering an (H, W) image, row by row.

    Returns:
        list of (y0, x0, y1, x1) end-exclusive boxes of size min(patch, side) on each axis.

    Raises:
        ValueError: as :func:`patch_starts`.
    """
    (height, width), (ph, pw) = shape[:2], patch_size
    ys, xs = patch_starts(height, ph, overlap), patch_starts(width, pw, overlap)
    hh, ww = min(ph, height), min(pw, width)
    return [(int(y), int(x), int(y) + hh, int(x) + ww) for y in ys for x in xs]


class PatchPredictor(PredictorWrapper):
    """Wraps a predictor: on an image larger than ``patch_size``, predicts overlapping patches and blends them
    (see the module docstring for the tiling, the rule that selects patches and the blend weights).

    Composes with any predictor honouring :class:`~isegm.inference.predictors.base.BasePredictor`'s interface
    (``set_input_image``, ``get_prediction(clicker, prev_mask=None)``, ``get_states`` / ``set_states``,
    ``net``, ``zoom_in``, ``with_flip``, ``device``, ``prev_prediction``), another wrapper included. Zoom-in in
    the wrapped predictor starts afresh on every patch and call; the refiner's set-up has it off.

    Args:
        predictor: the wrapped predictor.
        patch_size: (H, W) patch size in px (an int: a square), each >= 1.
        overlap: px two neighbouring patches share, 0 <= overlap < min(patch_size).
        prob_thresh: the mask threshold of the "previous mask has object and background" test (0.49).

    Attributes:
        boxes: the (y0, x0, y1, x1) patches of the current image ([] when it goes straight through).
        last_boxes: the patches the wrapped predictor ran on for the last call.

    Raises:
        ValueError: ``patch_size`` not one or two integers >= 1, ``overlap`` not an integer >= 0, or
            ``overlap`` >= a side of the patch (the values named).
    """

    STATE_KEY = "patch_prev"

    def __init__(self, predictor, patch_size, overlap: int = 32, prob_thresh: float = 0.49):
        if isinstance(patch_size, numbers.Integral) and not isinstance(patch_size, (bool, np.bool_)):
            patch_size = (patch_size, patch_size)
        try:
            ph, pw = patch_size
        except (TypeError, ValueError):
            raise ValueError(f"patch_size must be (H, W) integers >= 1, got {patch_size!r}") from None
        if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 1 for v in (ph, pw)):
            raise ValueError(f"patch_size must be (H, W) integers >= 1, got {patch_size!r}")
        overlap = _check_int(overlap, "patch overlap", 0)
        if overlap >= min(ph, pw):
            raise ValueError(f"patch overlap must be smaller than the patch size {(int(ph), int(pw))}, got {overlap}")
        super().__init__(predictor)
        self.patch_size = (int(ph), int(pw))
        self.overlap = overlap
        self.prob_thresh = float(prob_thresh)
        self.boxes: List[PatchBox] = []
        self.last_boxes: List[PatchBox] = []
        self._image = None
        self._prev = None  # (H, W) float32, the blended previous mask; None when going straight through
        self._weights = None

    # ------------------------------------------------------------------ straight through or tiled
    @property
    def tiled(self) -> bool:
        """True when the current image is larger than the patch (so it is predicted in patches)."""
        return self._prev is not None

    @property
    def prev_prediction(self):
        """(1, 1, H, W) float32 tensor of the last blended prediction (the wrapped predictor's when not tiled)."""
        if not self.tiled:
            return self.predictor.prev_prediction
        return torch.from_numpy(self._prev)[None, None].to(self.device)

    @prev_prediction.setter
    def prev_prediction(self, value):
        if not self.tiled:
            self.predictor.prev_prediction = value
            return
        self._prev = self._as_map(value)

    def _as_map(self, mask) -> np.ndarray:
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask, dtype=np.float32)
        if mask.ndim == 4:
            mask = mask[0, 0]
        if mask.shape != self._prev.shape:
            raise ValueError(f"previous mask must be (H, W) = {self._prev.shape} or (1, 1, H, W), got {mask.shape}")
        return np.array(mask, dtype=np.float32, copy=True)

    # ------------------------------------------------------------------ the predictor interface
    def set_input_image(self, image) -> None:
        """Set the image: on the wrapped predictor when it fits in one patch, else keep it for the patches.

        Args:
            image: (H, W, 3) uint8 RGB, or a (3, H, W) float tensor in [0, 1] (a larger one is converted to
                uint8 for the patches).

        Raises:
            ValueError: a larger image that is not (H, W, 3) uint8.
        """
        shape = tuple(image.shape[-2:]) if isinstance(image, torch.Tensor) else tuple(np.asarray(image).shape[:2])
        height, width = shape
        self.last_boxes = []
        if height <= self.patch_size[0] and width <= self.patch_size[1]:
            self._image, self._prev, self.boxes = None, None, []
            self.predictor.set_input_image(image)
            return
        if isinstance(image, torch.Tensor):  # (3, H, W) or (1, 3, H, W) float in [0, 1]
            image = image_to_tensor(image)[0].permute(1, 2, 0).mul(255).round().to(torch.uint8).cpu().numpy()
        self._image = check_rgb_image(image)
        self._prev = np.zeros((height, width), np.float32)
        self.boxes = patch_boxes((height, width), self.patch_size, self.overlap)
        ys = patch_starts(height, self.patch_size[0], self.overlap)
        xs = patch_starts(width, self.patch_size[1], self.overlap)
        wy = dict(zip(ys.tolist(), ramp_weights(height, ys, self.patch_size[0])))
        wx = dict(zip(xs.tolist(), ramp_weights(width, xs, self.patch_size[1])))
        self._weights = [np.outer(wy[y0], wx[x0]) for y0, x0, _, _ in self.boxes]

    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """Probabilities for the clicker's clicks, patch by patch on a large image.

        Args:
            clicker: the clicks (``get_clicks()``), (y, x) pixels of the whole image.
            prev_mask: previous probabilities, (H, W) or (1, 1, H, W); None: this predictor's last output
                (zeros after :meth:`set_input_image`).

        Returns:
            (H, W) float32 probabilities in [0, 1].

        Raises:
            RuntimeError: no image was set (raised by the wrapped predictor); ValueError: ``prev_mask`` of
                another size; RuntimeError: the wrapped predictor returned a map of another size than its patch.
        """
        if not self.tiled:
            return self.predictor.get_prediction(clicker, prev_mask)
        prev = self._prev if prev_mask is None else self._as_map(prev_mask)
        clicks = list(clicker.get_clicks())
        coords = np.array([c.coords for c in clicks], np.float64).reshape(-1, 2)
        num = np.zeros(prev.shape, np.float64)
        den = np.zeros(prev.shape, np.float64)
        self.last_boxes = []
        for (y0, x0, y1, x1), weight in zip(self.boxes, self._weights):
            crop_prev = prev[y0:y1, x0:x1]
            inside = ((coords[:, 0] >= y0) & (coords[:, 0] < y1) & (coords[:, 1] >= x0) & (coords[:, 1] < x1))
            crop_mask = crop_prev > self.prob_thresh
            if inside.any() or (crop_mask.any() and not crop_mask.all()):
                patch_clicks = [c.copy(coords=(c.coords[0] - y0, c.coords[1] - x0))
                                for c, keep in zip(clicks, inside) if keep]
                self.predictor.set_input_image(np.ascontiguousarray(self._image[y0:y1, x0:x1]))
                probs = self.predictor.get_prediction(ClickList(patch_clicks),
                                                      prev_mask=np.ascontiguousarray(crop_prev))
                probs = np.asarray(probs, dtype=np.float32)
                if probs.shape != (y1 - y0, x1 - x0):
                    raise RuntimeError(f"wrapped predictor returned {probs.shape} for a {(y1 - y0, x1 - x0)} patch")
                self.last_boxes.append((y0, x0, y1, x1))
            else:
                probs = crop_prev
            num[y0:y1, x0:x1] += weight * probs
            den[y0:y1, x0:x1] += weight
        blended = (num / den).astype(np.float32)
        self._prev = blended
        return blended.copy()

    # ------------------------------------------------------------------ undo
    def _own_state(self):
        return None if self._prev is None else self._prev.copy()

    def _set_own_state(self, value) -> None:
        if value is None or self._prev is None:
            return
        self._prev = np.array(value, dtype=np.float32, copy=True)

    def __repr__(self):
        return (f"PatchPredictor(patch_size={self.patch_size}, overlap={self.overlap}, "
                f"predictor={type(self.predictor).__name__})")
