"""Focus refinement around any predictor: iterative mask refinement inspired by FocalClick
(Chen et al., "FocalClick: Towards Practical Interactive Image Segmentation", CVPR 2022).

Taken from FocalClick (github:XavierCHEN34/ClickSEG, ``FocalPredictor`` and ``get_focus_cropv1`` in
``isegm/utils/crop_local.py``, ``Progressive_Merge`` in ``isegm/inference/evaluation.py``):

* The focus crop. Binarise (> 0.49) the new prediction and the previous mask. Without a previous
  mask, the box is the new mask's box. Otherwise the box is that of the connected component of
  (new XOR previous) containing the last click; when that box is small against the new mask's box
  (height < 1/3 of its height or width < 1/3 of its width), a square of half-side 0.2 x the longer side
  of the new mask's box centred on the click is used instead. The box is expanded 1.4 times about
  its centre and clamped to the image.
* The crop is predicted again at the network's input size, with all the clicks mapped into it, and
  the result is pasted back into the new prediction inside the crop only.
* Progressive merge: only the connected region of (refined XOR previous) that contains the click is
  taken from the refinement; everything else keeps its value.

What differs, and why:

* FocalClick's models have a refiner head (``net.refine``) fed with the global pass's features and
  coarse logits on a fixed 256 x 256 square. Our models are RITM-style (one network, no refiner),
  so the focus pass is a second ordinary forward pass of the same network on the crop: the image
  crop, the *previous* mask cropped as the previous-mask channel (for ``with_prev_mask`` models), and
  the clicks in crop coordinates, with the wrapped predictor's flip averaging and click limit. The
  crop keeps its aspect ratio and is resized so that its longer side is ``target_size`` (default 256,
  FocalClick's ``infer_size`` and the shipped model's training crop); a crop larger than that is not
  shrunk (the refinement never looks at the object more coarsely than the image itself).
* FocalClick clamps the crop to the Zoom-In box (its refiner reads the global pass's features); ours
  needs no features and is clamped to the image only. ``min_crop_size`` (sides in pixels before the
  resize) keeps tiny changes from being blown up into a crop of a few pixels.
* When the click's pixel did not change, FocalClick's connected-component label there is the
  background of the XOR image (its code then takes a box of the unchanged pixels); here the
  click-centred square is used, as for a small change.
* FocalClick's predictor pastes the whole refined crop and, from the 11th click, pastes it into the
  previous mask instead of the new prediction; its progressive merge (used in its evaluator only with
  an initial mask) keeps the previous mask outside the changed region. Here, always: outside the crop
  the output is exactly the wrapped predictor's prediction; inside it, the click's changed region
  comes from the refinement and the rest from the wrapped prediction.

The merged probabilities become the wrapped predictor's ``prev_prediction`` (the next click's previous
mask input, as FocalClick). Zoom-In keeps the wrapped prediction for its next box.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from isegm.errors import UserError
from isegm.inference.predictors.base import BasePredictor, ClickList, PredictorWrapper, image_to_tensor
from isegm.inference.transforms import clamp_bbox, expand_bbox, get_bbox_from_mask, get_roi_image_nd

__all__ = ["FocusRefinePredictor", "focus_box", "progressive_merge"]

Box = Tuple[int, int, int, int]  # (rmin, rmax, cmin, cmax), inclusive, pixels


def _component_at(mask: np.ndarray, y: int, x: int) -> Optional[np.ndarray]:
    """The 8-connected component of the (H, W) bool ``mask`` holding pixel (y, x), or None if unset."""
    if not mask[y, x]:
        return None
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return labels == labels[y, x]


def focus_box(pred_mask: np.ndarray, prev_mask: np.ndarray, click_yx, expansion_ratio: float = 1.4,
              min_crop_size: float = 0, small_ratio: float = 1 / 3, click_box_ratio: float = 0.2) -> Box:
    """FocalClick's focus crop (``get_focus_cropv1``) for the last click.

    Args:
        pred_mask: (H, W) bool, the new prediction's mask.
        prev_mask: (H, W) bool, the mask before the click.
        click_yx: (y, x) integer pixel of the last click.
        expansion_ratio: box scale about its centre (FocalClick: 1.4).
        min_crop_size: each side at least this many pixels after the expansion.
        small_ratio: a changed region whose box is under this fraction of the mask's box height or
            width gets the click-centred square (FocalClick: 1/3).
        click_box_ratio: half-side of that square as a fraction of the mask box's longer side (0.2).

    Returns:
        Inclusive (rmin, rmax, cmin, cmax) box inside the image.

    Raises:
        ValueError: masks of different shapes, or the click outside the image.
    """
    pred_mask = np.asarray(pred_mask, dtype=bool)
    prev_mask = np.asarray(prev_mask, dtype=bool)
    if pred_mask.shape != prev_mask.shape or pred_mask.ndim != 2:
        raise ValueError(f"focus_box: masks must be (H, W) of one shape, got {pred_mask.shape} and {prev_mask.shape}")
    height, width = pred_mask.shape
    y, x = int(click_yx[0]), int(click_yx[1])
    if not (0 <= y < height and 0 <= x < width):
        raise ValueError(f"focus_box: click {(y, x)} is outside the {height}x{width} image")
    pred_box = get_bbox_from_mask(pred_mask) if pred_mask.any() else (0, height - 1, 0, width - 1)
    pred_h, pred_w = pred_box[1] - pred_box[0] + 1, pred_box[3] - pred_box[2] + 1
    if not prev_mask.any() and pred_mask.any():
        box = pred_box
    else:
        changed = _component_at(pred_mask ^ prev_mask, y, x)
        box = None
        if changed is not None:
            box = get_bbox_from_mask(changed)
            if (box[1] - box[0] + 1) < small_ratio * pred_h or (box[3] - box[2] + 1) < small_ratio * pred_w:
                box = None
        if box is None:
            half = click_box_ratio * max(pred_h, pred_w)
            box = (y - half, y + half, x - half, x + half)
    box = expand_bbox(box, expansion_ratio, min_crop_size)
    return clamp_bbox(box, 0, height - 1, 0, width - 1)


def progressive_merge(pred: np.ndarray, refined: np.ndarray, prev_mask: np.ndarray, box: Box, click_yx,
                      prob_thresh: float = 0.49) -> np.ndarray:
    """Merge the refined crop into the prediction: only the click's changed region (FocalClick's
    progressive merge restricted to the focus crop).

    Args:
        pred: (H, W) float32 probabilities of the wrapped predictor.
        refined: (h, w) float32 probabilities of the crop ``box`` (h, w its inclusive sizes).
        prev_mask: (H, W) bool mask before the click.
        box: inclusive (rmin, rmax, cmin, cmax).
        click_yx: (y, x) pixel of the last click (inside ``box``).
        prob_thresh: mask threshold.

    Returns:
        (H, W) float32: ``pred`` with ``refined`` written on the 8-connected component of
        (refined mask XOR previous mask) inside the box that holds the click; ``pred`` unchanged
        elsewhere (and everywhere when the click's pixel is the same in both).
    """
    rmin, rmax, cmin, cmax = box
    out = np.array(pred, dtype=np.float32, copy=True)
    prev_crop = np.asarray(prev_mask, dtype=bool)[rmin:rmax + 1, cmin:cmax + 1]
    if refined.shape != prev_crop.shape:
        raise ValueError(f"progressive_merge: refined crop {refined.shape} does not fit box {box}")
    region = _component_at((refined > prob_thresh) ^ prev_crop, int(click_yx[0]) - rmin, int(click_yx[1]) - cmin)
    if region is not None:
        out[rmin:rmax + 1, cmin:cmax + 1][region] = refined[region]
    return out


class FocusRefinePredictor(PredictorWrapper):
    """Wraps a predictor: after each click, predicts again on a focus crop around the region the
    click changed and merges only that region (see the module docstring for FocalClick's recipe).

    Composes with any predictor honouring :class:`~isegm.inference.predictors.base.BasePredictor`'s
    interface (``set_input_image``, ``get_prediction(clicker, prev_mask=None)``,
    ``get_states``/``set_states``, ``net``, ``zoom_in``, ``with_flip``, ``device``, ``prev_prediction``).
    The focus pass is a plain forward pass of ``predictor.net`` (no BRS optimisation, no zoom-in).

    Args:
        predictor: the wrapped predictor.
        target_size: longer side, in pixels, of the resized focus crop (a larger crop is kept as is).
        expansion_ratio, min_crop_size: of :func:`focus_box`.
        prob_thresh: mask threshold for the changed regions (FocalClick: 0.49).

    Attributes:
        focus_roi: the last click's inclusive crop box (rmin, rmax, cmin, cmax), None before a click.

    Raises:
        UserError: ``target_size`` < 1, ``expansion_ratio`` < 1 or ``min_crop_size`` < 0.
    """

    def __init__(self, predictor, target_size: int = 256, expansion_ratio: float = 1.4, min_crop_size: float = 64,
                 prob_thresh: float = 0.49):
        if isinstance(target_size, bool) or int(target_size) != target_size or target_size < 1:
            raise UserError(f"focus refinement: target_size must be an integer >= 1, got {target_size!r}")
        if not expansion_ratio >= 1:
            raise UserError(f"focus refinement: expansion_ratio must be >= 1, got {expansion_ratio!r}")
        if not min_crop_size >= 0:
            raise UserError(f"focus refinement: min_crop_size must be >= 0, got {min_crop_size!r}")
        super().__init__(predictor)
        self.target_size = int(target_size)
        self.expansion_ratio = float(expansion_ratio)
        self.min_crop_size = float(min_crop_size)
        self.prob_thresh = float(prob_thresh)
        self.crop_predictor = BasePredictor(predictor.net, predictor.device, with_flip=predictor.with_flip,
                                            net_clicks_limit=getattr(predictor, "net_clicks_limit", None))
        self.focus_roi: Optional[Box] = None
        self._image = None

    # ------------------------------------------------------------------ the predictor interface
    def set_input_image(self, image) -> None:
        """Set the image on the wrapped predictor and keep a (1, 3, H, W) copy for the focus crops."""
        super().set_input_image(image)
        self._image = image_to_tensor(image).to(self.device)
        self.focus_roi = None

    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """The wrapped prediction, refined on the focus crop of the last click.

        Args:
            clicker: the clicks (``get_clicks()``); the last one is the click being answered.
            prev_mask: the previous probabilities ((H, W) or (1, 1, H, W)); None: the wrapped
                predictor's last output (``prev_prediction``).

        Returns:
            (H, W) float32 probabilities, equal to the wrapped prediction outside :attr:`focus_roi`.

        Raises:
            RuntimeError: no image was set.
        """
        if self._image is None:
            raise RuntimeError("get_prediction called before set_input_image(image)")
        previous = self.predictor.prev_prediction if prev_mask is None else prev_mask
        previous = torch.as_tensor(np.asarray(previous, dtype=np.float32)) if not isinstance(previous, torch.Tensor) \
            else previous
        if previous.dim() == 2:
            previous = previous[None, None]
        previous = previous.to(device=self.device, dtype=torch.float32)

        prediction = self.predictor.get_prediction(clicker, prev_mask)
        clicks = clicker.get_clicks()
        if not clicks:
            self.focus_roi = None
            return prediction
        last = clicks[-1]
        click_yx = (int(round(last.coords[0])), int(round(last.coords[1])))
        prev_np = previous[0, 0].cpu().numpy() > self.prob_thresh
        box = focus_box(prediction > self.prob_thresh, prev_np, click_yx, self.expansion_ratio, self.min_crop_size)
        refined = self._predict_crop(clicks, previous, box)
        merged = progressive_merge(prediction, refined, prev_np, box, click_yx, self.prob_thresh)
        self.focus_roi = box
        self.predictor.prev_prediction = torch.from_numpy(merged)[None, None].to(self.device)
        return merged

    def _predict_crop(self, clicks, previous: torch.Tensor, box: Box) -> np.ndarray:
        """(h, w) float32 probabilities of the inclusive ``box``, predicted at ``target_size``."""
        rmin, rmax, cmin, cmax = box
        height, width = rmax - rmin + 1, cmax - cmin + 1
        side = max(self.target_size, height, width)
        crop = get_roi_image_nd(torch.cat((self._image, previous), dim=1), box, side)
        crop_h, crop_w = crop.shape[2:]
        crop_clicks = [c.copy(coords=(crop_h * (c.coords[0] - rmin) / height, crop_w * (c.coords[1] - cmin) / width))
                       for c in clicks]
        self.crop_predictor.set_input_image(crop[:, :3])
        probs = self.crop_predictor.get_prediction(ClickList(crop_clicks), prev_mask=crop[:, 3:])
        probs = torch.from_numpy(probs)[None, None]
        if (crop_h, crop_w) != (height, width):
            probs = F.interpolate(probs, size=(height, width), mode="bilinear", align_corners=True)
        return probs[0, 0].numpy()

    STATE_KEY = "focus_roi"

    def _own_state(self):
        return self.focus_roi

    def _set_own_state(self, value) -> None:
        self.focus_roi = value

    def __repr__(self):
        return (f"FocusRefinePredictor(target_size={self.target_size}, expansion_ratio={self.expansion_ratio}, "
                f"min_crop_size={self.min_crop_size}, predictor={type(self.predictor).__name__})")
