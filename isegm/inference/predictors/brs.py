"""BRS predictors: input BRS (RGB-BRS, DistMap-BRS) and feature BRS (f-BRS-A/B/C).

After each click (from the 2nd, ``optimize_after_n_clicks`` = 1) auxiliary variables are fitted with
L-BFGS (``scipy.optimize.fmin_l_bfgs_b``) so that the prediction respects the clicks; see
:mod:`.brs_functors` for the objective. Papers: Jang & Kim, CVPR 2019 (BRS, optimising the input);
Sofiiuk et al., CVPR 2020, "f-BRS" (optimising a per-channel scale and bias of inner features, so
only the network's head is re-run). The numbers follow RITM's
``isegm/inference/predictors/brs.py`` (SamsungLabs/ritm_interactive_segmentation, commit b9b4460):

* **Input BRS** (:class:`InputBRSPredictor`): an additive bias, shape (1, C, h, w) at the network
  input size, on the normalised RGB image (``target='rgb'``, C = 3) or on the click maps
  (``target='dmaps'``, C = click channels; the previous-mask channel is left alone). The full
  network runs at each evaluation. The bias is warm-started from the previous click and reset to
  zeros on a new image and whenever the zoom-in crop changes. RITM's ``net_clicks_limit`` is 5.
* **Feature BRS** (:class:`FeatureBRSPredictor`): ``f * (1 + s) + b`` per channel at the model's
  insertion point (:meth:`isegm.model.is_model.ISModel.feature_brs_point`: HRNet 'A' = HRNet features
  before OCR for f-BRS-A and f-BRS-B, 'C' = after OCR for f-BRS-C; DeepLab after_c4 / after_aspp /
  after_deeplab). The features before the insertion point are computed once and cached: recomputed
  while there are at most ``net_clicks_limit`` (RITM: 8) clicks, when the zoom-in crop changes, or on
  a new image. ``(s, b)`` is warm-started across clicks and reset only on a new image.

Both keep the logits of the lowest loss seen; when no optimisation runs (the first click), the
prediction uses the current variables. ``evaluations_per_click`` records how many times the
objective was evaluated for each ``get_prediction`` since the last image (1 when the clicks were
already respected: the early exit).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import fmin_l_bfgs_b

from isegm.inference.predictors.base import BasePredictor
from isegm.inference.predictors.brs_functors import BRSObjective

__all__ = ["BRSPredictor", "InputBRSPredictor", "FeatureBRSPredictor", "click_square_maps"]


def click_square_maps(clicks_lists: Sequence[Sequence], shape, device, radius: int = 1):
    """Positive and negative click maps for the BRS loss: a (2r+1) x (2r+1) square of ones at each click.

    Coordinates are rounded with Python's ``round`` (half to even) and the square is cut with numpy
    slicing exactly as RITM does (so a square whose top/left would start at a negative index is
    empty along that axis, a quirk kept for exactness). Every click counts, whatever the network's
    click limit.

    Args:
        clicks_lists: B lists of clicks ((y, x) in network-input pixels, ``is_positive``).
        shape: (h, w) of the maps.
        device: torch device of the result.
        radius: r (1 in RITM: 3 x 3 squares).

    Returns:
        ``(pos, neg)``, each a (B, 1, h, w) float32 tensor of 0 / 1.
    """
    pos = np.zeros((len(clicks_lists), 1) + tuple(shape), dtype=np.float32)
    neg = np.zeros_like(pos)
    for index, clicks in enumerate(clicks_lists):
        for click in clicks:
            y, x = int(round(click.coords[0])), int(round(click.coords[1]))
            target = pos if click.is_positive else neg
            target[index, 0, y - radius:y + radius + 1, x - radius:x + radius + 1] = 1.0
    return torch.from_numpy(pos).to(device), torch.from_numpy(neg).to(device)


class BRSPredictor(BasePredictor):
    """Shared part of the BRS predictors: the objective, the L-BFGS call and the optimisation state.

    Args:
        model: an :class:`~isegm.model.is_model.ISModel` (``prepare_input``, ``get_coord_features``,
            ``fuse_inputs``, ``backbone_forward``).
        device: torch device.
        opt_functor: a :class:`~isegm.inference.predictors.brs_functors.BRSObjective`; its
            ``optimizer_params`` go to ``fmin_l_bfgs_b``.
        optimize_after_n_clicks: optimise only when there are more clicks than this (1).
        **kwargs: :class:`BasePredictor` arguments (``net_clicks_limit``, ``with_flip``, ``zoom_in``,
            ``max_size``).

    Raises:
        TypeError: an unknown keyword, or ``opt_functor`` is not a BRSObjective.
    """

    def __init__(self, model, device, opt_functor: BRSObjective, optimize_after_n_clicks: int = 1, **kwargs):
        super().__init__(model, device, **kwargs)
        if not isinstance(opt_functor, BRSObjective):
            raise TypeError(f"opt_functor must be a BRSObjective, got {type(opt_functor).__name__}")
        self.opt_functor = opt_functor
        self.optimize_after_n_clicks = optimize_after_n_clicks
        self.opt_data = None
        self.input_data = None
        self.evaluations_per_click: list[int] = []
        self._evaluations = 0

    def set_input_image(self, image) -> None:
        """As :meth:`BasePredictor.set_input_image`; also resets the BRS variables and caches."""
        super().set_input_image(image)
        self.opt_data = None
        self.input_data = None
        self.evaluations_per_click = []

    def get_prediction(self, clicker, prev_mask=None) -> np.ndarray:
        """As :meth:`BasePredictor.get_prediction` (gradients enabled inside the optimisation only);
        appends this call's number of objective evaluations to ``evaluations_per_click``."""
        self._evaluations = 0
        prediction = super().get_prediction(clicker, prev_mask)
        self.evaluations_per_click.append(self._evaluations)
        return prediction

    def _inference_context(self):
        return torch.no_grad()   # not inference_mode: its tensors cannot enter the backward pass

    def _optimize(self, logits_fn, clicks_lists, image_shape, num_clicks: int, x0: np.ndarray, shape=None):
        """Run one click's optimisation; returns the new variables (float64, or ``x0`` unchanged)."""
        pos_mask, neg_mask = click_square_maps(clicks_lists, image_shape, self.device)
        self.opt_functor.start_click(logits_fn, pos_mask, neg_mask, self.device, shape=shape)
        if num_clicks > self.optimize_after_n_clicks:
            x0 = fmin_l_bfgs_b(func=self.opt_functor, x0=x0, **self.opt_functor.optimizer_params)[0]
            self._evaluations += self.opt_functor.num_evaluations
        return x0

    def _final_logits(self, logits_fn):
        if self.opt_functor.best_logits is not None:
            return self.opt_functor.best_logits
        params = torch.from_numpy(np.asarray(self.opt_data, dtype=np.float32).ravel()).to(self.device)
        variables, _ = self.opt_functor.unpack(params)
        return logits_fn(*variables)

    def get_states(self) -> dict:
        """Transform states, previous prediction and the BRS variables / cached features (undo)."""
        states = super().get_states()
        states["opt_data"] = None if self.opt_data is None else np.array(self.opt_data, copy=True)
        states["input_data"] = self.input_data
        return states

    def set_states(self, states: dict) -> None:
        super().set_states(states)
        opt_data = states.get("opt_data")
        self.opt_data = None if opt_data is None else np.array(opt_data, copy=True)
        self.input_data = states.get("input_data")


class InputBRSPredictor(BRSPredictor):
    """Input BRS (RGB-BRS with ``optimize_target='rgb'``, DistMap-BRS with ``'dmaps'``); see the module.

    Raises:
        ValueError: unknown ``optimize_target``.
    """

    def __init__(self, model, device, opt_functor: BRSObjective, optimize_target: str = "rgb", **kwargs):
        if optimize_target not in ("rgb", "dmaps"):
            raise ValueError(f"optimize_target must be 'rgb' or 'dmaps', got {optimize_target!r}")
        super().__init__(model, device, opt_functor, **kwargs)
        self.optimize_target = optimize_target

    def _opt_shape(self, image_nd):
        if self.optimize_target == "dmaps":
            channels = self.net.coord_feature_ch - (1 if self.net.with_prev_mask else 0)
        else:
            channels = 3
        batch = image_nd.shape[0] // 2 if self.with_flip else image_nd.shape[0]
        return (batch, channels) + tuple(image_nd.shape[2:])

    def _get_prediction(self, image_nd, clicks_lists, is_image_changed):
        net = self.net
        points_nd = self.get_points_nd(clicks_lists)
        shape = self._opt_shape(image_nd)
        # RITM resets on a new image / a new crop; a shape change without one (ZoomIn falling back to the
        # whole image) would make RITM fail, here it resets too.
        if self.opt_data is None or is_image_changed or tuple(self.opt_data.shape) != shape:
            self.opt_data = np.zeros(shape, dtype=np.float32)

        def logits_fn(bias):
            image, prev_mask = net.prepare_input(image_nd)
            maps = net.get_coord_features(image, prev_mask, points_nd)
            if self.optimize_target == "rgb":
                image = image + bias
            elif net.with_prev_mask:
                maps = torch.cat((maps[:, :1], maps[:, 1:] + bias), dim=1)
            else:
                maps = maps + bias
            logits = net.backbone_forward(*net.fuse_inputs(image, maps))["instances"]
            return F.interpolate(logits, size=image_nd.shape[2:], mode="bilinear", align_corners=True)

        x = self._optimize(logits_fn, clicks_lists, image_nd.shape[2:], len(clicks_lists[0]),
                           self.opt_data.ravel(), shape=shape)
        self.opt_data = np.asarray(x).reshape(shape)
        return self._final_logits(logits_fn)


class FeatureBRSPredictor(BRSPredictor):
    """Feature BRS at the model's insertion ``point`` (see the module and ``ISModel.feature_brs_point``).

    Args:
        point: insertion point name of the model ('A' | 'C' for HRNet; 'after_c4' | 'after_aspp' |
            'after_deeplab' for DeepLab).
        other arguments: see :class:`BRSPredictor`.

    Raises:
        ValueError: the model has no such insertion point.
    """

    def __init__(self, model, device, opt_functor: BRSObjective, point: str, **kwargs):
        super().__init__(model, device, opt_functor, **kwargs)
        self.point = point
        self.num_channels = model.brs_feature_channels(point)

    def _head_input(self, image_nd, points_nd):
        net = self.net
        image, prev_mask = net.prepare_input(image_nd)
        maps = net.get_coord_features(image, prev_mask, points_nd)
        return net.brs_head_input(*net.fuse_inputs(image, maps), self.point)

    def _get_prediction(self, image_nd, clicks_lists, is_image_changed):
        num_clicks = len(clicks_lists[0])
        batch = image_nd.shape[0] // 2 if self.with_flip else image_nd.shape[0]
        size = 2 * self.num_channels * batch
        if self.opt_data is None or self.opt_data.shape[0] != size:
            self.opt_data = np.zeros(size, dtype=np.float32)
        limit = self.net_clicks_limit
        if limit is None or num_clicks <= limit or is_image_changed or self.input_data is None:
            self.input_data = self._head_input(image_nd, self.get_points_nd(clicks_lists))
        features, extra = self.input_data
        repeats = 2 if self.with_flip else 1

        def logits_fn(scale, bias):
            scale = scale.view(batch, -1, 1, 1).repeat(repeats, 1, 1, 1)
            bias = bias.view(batch, -1, 1, 1).repeat(repeats, 1, 1, 1)
            logits = self.net.brs_head(features * scale + bias, extra, self.point)
            return F.interpolate(logits, size=image_nd.shape[2:], mode="bilinear", align_corners=True)

        self.opt_data = np.asarray(self._optimize(logits_fn, clicks_lists, image_nd.shape[2:], num_clicks,
                                                  self.opt_data))
        return self._final_logits(logits_fn)


def default_lbfgs_params(overrides: Optional[dict] = None) -> dict:
    """RITM's L-BFGS settings: m=20, factr=0, pgtol=1e-8, maxfun=20 (``overrides`` applied), maxiter = 2 * maxfun.

    Raises:
        TypeError: a key ``fmin_l_bfgs_b`` does not take here (``maxiter`` included: it always follows
            ``maxfun``, as in RITM).
    """
    params = {"m": 20, "factr": 0, "pgtol": 1e-8, "maxfun": 20}
    allowed = {"m", "factr", "pgtol", "maxfun", "maxls", "bounds", "callback"}
    unknown = sorted(set(overrides or {}) - allowed)
    if unknown:
        raise TypeError(f"lbfgs_params: unknown or fixed key(s) {unknown}; allowed {sorted(allowed)} "
                        f"(maxiter is always 2 * maxfun)")
    params.update(overrides or {})
    params["maxiter"] = 2 * params["maxfun"]
    return params
