"""Predictor factory (RITM's ``get_predictor``): NoBRS, input BRS (RGB-BRS, DistMap-BRS) and f-BRS-A/B/C."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, Optional

from isegm.errors import UserError
from isegm.inference.predictors.base import BasePredictor
from isegm.inference.predictors.brs import (BRSPredictor, FeatureBRSPredictor, InputBRSPredictor,
                                            default_lbfgs_params)
from isegm.inference.predictors.brs_functors import InputBiasObjective, ScaleBiasObjective
from isegm.inference.transforms import ZoomIn

BRS_MODES = ("RGB-BRS", "DistMap-BRS", "f-BRS-A", "f-BRS-B", "f-BRS-C")
PREDICTOR_MODES = ("NoBRS",) + BRS_MODES
#: RITM's default ``net_clicks_limit`` of each BRS family (``predictor_params`` / ``--clicks-limit`` override it).
BRS_NET_CLICKS_LIMIT = {"RGB-BRS": 5, "DistMap-BRS": 5, "f-BRS-A": 8, "f-BRS-B": 8, "f-BRS-C": 8}

_EMPTY = MappingProxyType({})
_INPUT_BRS_NEEDS = ("prepare_input", "get_coord_features", "fuse_inputs", "backbone_forward", "coord_feature_ch")

__all__ = ["BasePredictor", "BRSPredictor", "InputBRSPredictor", "FeatureBRSPredictor", "get_predictor",
           "cvpr_predictor_params", "BRS_MODES", "PREDICTOR_MODES", "BRS_NET_CLICKS_LIMIT", "check_brs_mode",
           "BRSModelError"]


class BRSModelError(UserError, ValueError):
    """A BRS mode asked of a model that lacks what it needs (one line naming the mode and the model class)."""


def check_brs_mode(brs_mode: str) -> None:
    """Raise unless ``brs_mode`` is one of :data:`PREDICTOR_MODES`.

    Raises:
        ValueError: an unknown mode (the message lists the known ones).
    """
    if brs_mode not in PREDICTOR_MODES:
        raise ValueError(f"unknown predictor mode {brs_mode!r}; known modes: {', '.join(PREDICTOR_MODES)}")


def _check_model(net, brs_mode: str):
    """The f-BRS insertion point for ``brs_mode`` (None for input BRS); BRSModelError when ``net`` cannot do it."""
    name = type(net).__name__
    missing = [attr for attr in _INPUT_BRS_NEEDS if not hasattr(net, attr)]
    if missing:
        raise BRSModelError(f"{brs_mode} needs an ISModel-like model ({', '.join(missing)} missing); "
                            f"{name} cannot run it, use NoBRS")
    if not brs_mode.startswith("f-BRS"):
        return None
    if not hasattr(net, "feature_brs_point"):
        raise BRSModelError(f"{brs_mode} needs a feature insertion point that {name} does not have; use NoBRS, "
                            f"RGB-BRS or DistMap-BRS")
    try:
        return net.feature_brs_point(brs_mode)
    except ValueError as err:
        raise BRSModelError(str(err).splitlines()[0]) from None


def get_predictor(net, brs_mode: str, device, with_flip: bool = True,
                  zoom_in_params: Optional[Mapping] = _EMPTY, max_size: Optional[int] = None,
                  predictor_params: Optional[Mapping] = None, *, prob_thresh: float = 0.49,
                  brs_opt_func_params: Optional[Mapping] = None,
                  lbfgs_params: Optional[Mapping] = None) -> BasePredictor:
    """Build a predictor as RITM's ``get_predictor`` (f-BRS paper's modes, RITM's defaults).

    Args:
        net: the interactive segmentation model (already on ``device``, in eval mode).
        brs_mode: 'NoBRS' (:class:`BasePredictor`), 'RGB-BRS' / 'DistMap-BRS'
            (:class:`InputBRSPredictor`, RITM's ``net_clicks_limit`` 5), 'f-BRS-A' / 'f-BRS-B' /
            'f-BRS-C' (:class:`FeatureBRSPredictor`, ``net_clicks_limit`` 8; on HRNet A and B both
            optimise the HRNet features before OCR, C the OCR output). Every BRS mode optimises from
            the 2nd click (``optimize_after_n_clicks`` 1).
        device: torch device for the inputs.
        with_flip: average with the horizontally flipped input (RITM default True).
        zoom_in_params: keyword arguments of :class:`~isegm.inference.transforms.ZoomIn`; the
            default (empty mapping) gives RITM's ZoomIn(target_size=400, skip_clicks=1,
            expansion_ratio=1.4, min_crop_size=200, recompute_thresh_iou=0.5); None disables zoom-in.
        max_size: longest side of the network input (LimitLongestSide), None = no limit.
        predictor_params: predictor keywords overriding the mode's defaults: ``net_clicks_limit``,
            ``max_size``; for BRS modes also ``optimize_after_n_clicks``.
        prob_thresh: BRS early-stop probability (the evaluation's mask threshold, 0.49); unused by NoBRS.
        brs_opt_func_params: BRS objective keywords (``reg_weight`` 1e-3, ``min_iou_diff`` 0.01,
            ``brs_loss``, ``flip_average`` False; f-BRS also ``scale_act`` None, ``reg_bias_weight`` 10),
            see :mod:`isegm.inference.predictors.brs_functors`. BRS modes only.
        lbfgs_params: ``fmin_l_bfgs_b`` keywords over RITM's m=20, factr=0, pgtol=1e-8, maxfun=20;
            maxiter is always 2 * maxfun. BRS modes only.

    Raises:
        ValueError: unknown mode.
        BRSModelError (a UserError and ValueError): the model lacks what the BRS mode needs (e.g.
            f-BRS on a model without a feature insertion point); the message names mode and class.
        TypeError: an unknown keyword, an unknown key in ``predictor_params``,
            ``brs_opt_func_params`` or ``lbfgs_params`` (named), or BRS options with NoBRS.
    """
    check_brs_mode(brs_mode)
    zoom_in = ZoomIn(**dict(zoom_in_params)) if zoom_in_params is not None else None
    if brs_mode == "NoBRS":
        for name, value in (("brs_opt_func_params", brs_opt_func_params), ("lbfgs_params", lbfgs_params)):
            if value is not None:
                raise TypeError(f"{name} only applies to the BRS modes ({', '.join(BRS_MODES)}), not NoBRS")
        params = {"max_size": max_size}
        if predictor_params is not None:
            params.update(predictor_params)
        return BasePredictor(net, device, zoom_in=zoom_in, with_flip=with_flip, **params)

    point = _check_model(net, brs_mode)
    optimizer_params = default_lbfgs_params(dict(lbfgs_params) if lbfgs_params is not None else None)
    func_params = dict(brs_opt_func_params) if brs_opt_func_params is not None else {}
    params = {"optimize_after_n_clicks": 1, "net_clicks_limit": BRS_NET_CLICKS_LIMIT[brs_mode], "max_size": max_size}
    if predictor_params is not None:
        params.update(predictor_params)
    if point is not None:
        functor = ScaleBiasObjective(optimizer_params, prob_thresh=prob_thresh, with_flip=with_flip, **func_params)
        return FeatureBRSPredictor(net, device, functor, point=point, zoom_in=zoom_in, with_flip=with_flip, **params)
    functor = InputBiasObjective(optimizer_params, prob_thresh=prob_thresh, with_flip=with_flip, **func_params)
    return InputBRSPredictor(net, device, functor, optimize_target="dmaps" if brs_mode == "DistMap-BRS" else "rgb",
                             zoom_in=zoom_in, with_flip=with_flip, **params)


def cvpr_predictor_params(arch: Optional[str] = None, dataset_name: str = "GrabCut", eval_mode: str = "cvpr") -> dict:
    """Keyword arguments of :func:`get_predictor` for RITM's ``evaluate_model.py --eval-mode``.

    RITM's ``cvpr`` mode zooms in from the 2nd click with a crop side of 600 px on DAVIS and 400 px on
    every other dataset, whatever the model (``arch`` is accepted for convenience and not used);
    ``fixed<N>`` zooms from the 1st click into an N x N crop. Flip averaging is on in both.

    Returns:
        ``{'with_flip': True, 'zoom_in_params': {...}}``.

    Raises:
        ValueError: unknown ``eval_mode``.
    """
    from isegm.inference.utils import get_eval_zoom_in_params

    return {"with_flip": True, "zoom_in_params": get_eval_zoom_in_params(eval_mode, dataset_name)}
