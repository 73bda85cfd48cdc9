"""The BRS objective: the click-consistency loss and the function L-BFGS minimises.

Backpropagating refinement (Jang & Kim, CVPR 2019, "Interactive Image Segmentation via
Backpropagating Refinement Scheme") and its feature variant f-BRS (Sofiiuk et al., CVPR 2020,
"f-BRS: Rethinking Backpropagating Refinement for Interactive Segmentation", sec. 3): after each
click, some auxiliary variables of the network (a bias on its input, or a per-channel scale and
bias on intermediate features) are optimised so that the prediction agrees with the clicks. The
numbers follow RITM's ``isegm/inference/predictors/brs_functors.py`` / ``brs_losses.py``
(SamsungLabs/ritm_interactive_segmentation, commit b9b4460):

* loss = mean over the positive click pixels of ``(1 - p)^2`` + mean over the negative click pixels
  of ``p^2`` (each mean divides by ``count + eps``), plus a quadratic regulariser on the variables;
* the objective returns a zero gradient, which makes L-BFGS stop, when every positive click pixel
  already has ``p > prob_thresh`` and every negative one ``p < prob_thresh`` (strictly: the largest
  ``1 - p`` on positives is ``< 1 - prob_thresh`` and the largest ``p`` on negatives ``< prob_thresh``),
  or when the thresholded mask moved by less than ``min_iou_diff`` IoU since the last evaluation
  that did not stop;
* the logits of the lowest loss seen are kept (``best_logits``) and are what the predictor returns.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from isegm.metrics import batch_iou

__all__ = ["BRSMaskLoss", "BRSObjective", "InputBiasObjective", "ScaleBiasObjective"]


class BRSMaskLoss(torch.nn.Module):
    """Click-consistency loss of BRS (RITM's ``BRSMaskLoss``).

    forward(prob (B, 1, H, W) float probabilities, pos_mask, neg_mask (B, 1, H, W) float {0, 1})
    returns ``(loss, max_pos_err, max_neg_err)``: the 0-d loss tensor
    ``sum(((1 - p) * pos)^2) / (sum(pos) + eps) + sum((p * neg)^2) / (sum(neg) + eps)`` and, as
    Python floats, ``max |(1 - p) * pos|`` and ``max |p * neg|``.

    Args:
        eps: added to the click-pixel counts (1e-5 as RITM), so no click of a kind gives 0, not NaN.
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, prob: torch.Tensor, pos_mask: torch.Tensor, neg_mask: torch.Tensor):
        pos_err = (1 - prob) * pos_mask
        neg_err = prob * neg_mask
        loss = (torch.sum(pos_err ** 2) / (torch.sum(pos_mask) + self.eps)
                + torch.sum(neg_err ** 2) / (torch.sum(neg_mask) + self.eps))
        with torch.no_grad():
            max_pos = torch.max(torch.abs(pos_err)).item()
            max_neg = torch.max(torch.abs(neg_err)).item()
        return loss, max_pos, max_neg

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class BRSObjective:
    """``f(x) -> (value, gradient)`` for ``scipy.optimize.fmin_l_bfgs_b`` over BRS variables.

    A predictor calls :meth:`start_click` with a function mapping the unpacked variables to the
    network's logits, then hands this object to ``fmin_l_bfgs_b``. Subclasses define
    :meth:`unpack` (flat float32 tensor -> variables and regulariser).

    Args:
        lbfgs_params: keyword arguments of ``fmin_l_bfgs_b`` (``m``, ``factr``, ``pgtol``, ``maxfun``,
            ``maxiter``, ...), stored as ``optimizer_params``.
        prob_thresh: probability a click pixel has to pass for the early stop (0.49 in RITM).
        reg_weight: weight of the quadratic regulariser (1e-3).
        min_iou_diff: stop when the thresholded mask's IoU with the previous evaluation's exceeds
            ``1 - min_iou_diff`` (0.01); 0 disables this rule.
        brs_loss: the click loss (default :class:`BRSMaskLoss`).
        with_flip: the batch holds the image and its mirror (the predictor's flip augmentation).
        flip_average: with ``with_flip``, take the loss on the average of both halves (RITM default off:
            the loss sums over both halves).

    Attributes:
        best_logits: (B, 1, h, w) logits of the lowest loss of the current click, or None.
        num_evaluations: objective evaluations since the last :meth:`start_click`.

    Raises:
        TypeError: an unknown keyword (Python names it).
    """

    def __init__(self, lbfgs_params: dict, prob_thresh: float = 0.49, reg_weight: float = 1e-3,
                 min_iou_diff: float = 0.01, brs_loss: Optional[torch.nn.Module] = None, with_flip: bool = False,
                 flip_average: bool = False):
        self.optimizer_params = dict(lbfgs_params)
        self.prob_thresh = prob_thresh
        self.reg_weight = reg_weight
        self.min_iou_diff = min_iou_diff
        self.brs_loss = brs_loss if brs_loss is not None else BRSMaskLoss()
        self.with_flip = with_flip
        self.flip_average = flip_average

        self.best_logits = None
        self.num_evaluations = 0
        self.device = None
        self._logits_fn = None
        self._click_masks = None
        self._shape = None
        self._best_loss = None
        self._last_mask = None

    def start_click(self, logits_fn: Callable[..., torch.Tensor], pos_mask: torch.Tensor, neg_mask: torch.Tensor,
                    device, shape=None) -> None:
        """Prepare for one click's optimisation.

        Args:
            logits_fn: ``logits_fn(*variables) -> (B, 1, h, w)`` logits (differentiable).
            pos_mask, neg_mask: (B, 1, h, w) float click maps (see :func:`click_square_maps`).
            device: where the variables go.
            shape: the variables' shape (input BRS), None for a flat vector.
        """
        self.best_logits = None
        self.num_evaluations = 0
        self._best_loss = None
        self._last_mask = None
        self._logits_fn = logits_fn
        self._click_masks = (pos_mask, neg_mask)
        self._shape = shape
        self.device = device

    def __call__(self, x: np.ndarray):
        """Loss and float64 gradient at ``x`` (flat float64 array from L-BFGS, used as float32)."""
        self.num_evaluations += 1
        params = torch.from_numpy(x).float().to(self.device)
        params.requires_grad_(True)
        with torch.enable_grad():
            variables, reg_loss = self.unpack(params)
            logits = self._logits_fn(*variables)
            prob = torch.sigmoid(logits)
            pos_mask, neg_mask = self._click_masks
            if self.with_flip and self.flip_average:
                prob, prob_flipped = torch.chunk(prob, 2, dim=0)
                prob = 0.5 * (prob + torch.flip(prob_flipped, dims=[3]))
                pos_mask, neg_mask = pos_mask[:prob.shape[0]], neg_mask[:prob.shape[0]]
            loss, max_pos, max_neg = self.brs_loss(prob, pos_mask, neg_mask)
            loss = loss + reg_loss

        value = loss.detach().cpu().numpy()
        if self.best_logits is None or value < self._best_loss:
            self.best_logits = logits.detach()
            self._best_loss = value

        zero = np.zeros_like(x)
        if max_pos < 1 - self.prob_thresh and max_neg < self.prob_thresh:
            return float(value), zero        # every click is respected
        mask = prob > self.prob_thresh
        if self._last_mask is not None and self.min_iou_diff > 0:
            ious = batch_iou(mask, self._last_mask)
            if len(ious) > 0 and ious.mean() > 1 - self.min_iou_diff:
                return float(value), zero    # the mask stopped moving
        self._last_mask = mask

        loss.backward()
        return float(value), params.grad.cpu().numpy().ravel().astype(np.float64)

    def unpack(self, params: torch.Tensor):
        """Flat float32 variables -> (tuple of ``logits_fn`` arguments, 0-d regulariser)."""
        raise NotImplementedError


class InputBiasObjective(BRSObjective):
    """Input BRS: one additive bias of shape ``shape`` (B, C, H, W) on the network input (RGB or
    click maps); with flip the mirrored bias is appended for the mirrored half and the regulariser
    ``reg_weight * sum(bias^2)`` counts both halves (RITM's ``InputOptimizer``)."""

    def unpack(self, params):
        bias = params.view(self._shape)
        if self.with_flip:
            bias = torch.cat([bias, torch.flip(bias, dims=[3])], dim=0)
        return (bias,), self.reg_weight * torch.sum(bias ** 2)


class ScaleBiasObjective(BRSObjective):
    """f-BRS: per-channel scale and bias, the flat vector being ``[s (B*C), b (B*C)]``; the features
    become ``f * (1 + act(s)) + b``; regulariser ``reg_weight * (sum(s^2) + reg_bias_weight * sum(b^2))``
    (RITM's ``ScaleBiasOptimizer``).

    Args:
        scale_act: None (RITM default), 'tanh' or 'sin' applied to ``s``.
        reg_bias_weight: relative weight of the bias term (10).
        other arguments: see :class:`BRSObjective`.

    Raises:
        ValueError: unknown ``scale_act``.
    """

    def __init__(self, *args, scale_act: Optional[str] = None, reg_bias_weight: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        if scale_act not in (None, "tanh", "sin"):
            raise ValueError(f"scale_act must be None, 'tanh' or 'sin', got {scale_act!r}")
        self.scale_act = scale_act
        self.reg_bias_weight = reg_bias_weight

    def unpack(self, params):
        scale, bias = torch.chunk(params, 2, dim=0)
        reg_loss = self.reg_weight * (torch.sum(scale ** 2) + self.reg_bias_weight * torch.sum(bias ** 2))
        if self.scale_act == "tanh":
            scale = torch.tanh(scale)
        elif self.scale_act == "sin":
            scale = torch.sin(scale)
        return (1 + scale, bias), reg_loss
