"""Predictor factory (RITM's ``get_predictor``). Only 'NoBRS' is implemented."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, Optional

from isegm.inference.predictors.base import BasePredictor
from isegm.inference.transforms import ZoomIn

BRS_MODES = ("RGB-BRS", "DistMap-BRS", "f-BRS-A", "f-BRS-B", "f-BRS-C")
PREDICTOR_MODES = ("NoBRS",) + BRS_MODES

_EMPTY = MappingProxyType({})

__all__ = ["BasePredictor", "get_predictor", "cvpr_predictor_params", "BRS_MODES", "PREDICTOR_MODES",
           "check_brs_mode"]


def check_brs_mode(brs_mode: str) -> None:
    """Raise unless ``brs_mode`` is 'NoBRS'.

    Raises:
        NotImplementedError: a BRS mode (RGB-BRS, DistMap-BRS, f-BRS-A/B/C).
        ValueError: an unknown mode (the message lists the known ones).
    """
    if brs_mode == "NoBRS":
        return
    if brs_mode in BRS_MODES:
        raise NotImplementedError(f"BRS mode {brs_mode!r} is not implemented yet; use 'NoBRS' "
                                  f"(backpropagating refinement is not part of this release)")
    raise ValueError(f"unknown predictor mode {brs_mode!r}; known modes: {', '.join(PREDICTOR_MODES)}")


def get_predictor(net, brs_mode: str, device, with_flip: bool = True,
                  zoom_in_params: Optional[Mapping] = _EMPTY, max_size: Optional[int] = None,
                  predictor_params: Optional[Mapping] = None) -> BasePredictor:
    """Build a predictor as RITM's ``get_predictor``.

    Args:
        net: the interactive segmentation model (already on ``device``, in eval mode).
        brs_mode: 'NoBRS'. The BRS modes raise NotImplementedError.
        device: torch device for the inputs.
        with_flip: average with the horizontally flipped input (RITM default True).
        zoom_in_params: keyword arguments of :class:`~isegm.inference.transforms.ZoomIn`; the
            default (empty mapping) gives RITM's ZoomIn(target_size=400, skip_clicks=1,
            expansion_ratio=1.4, min_crop_size=200, recompute_thresh_iou=0.5); None disables zoom-in.
        max_size: longest side of the network input (LimitLongestSide), None = no limit.
        predictor_params: extra BasePredictor parameters (``net_clicks_limit``, ``max_size``).

    RITM's ``prob_thresh``, ``brs_opt_func_params`` and ``lbfgs_params`` only matter for the BRS
    modes, which are not implemented: passing them raises TypeError.

    Raises:
        NotImplementedError: a BRS mode.
        ValueError: unknown mode.
        TypeError: an unknown keyword, or an unknown key in ``predictor_params`` (named).
    """
    check_brs_mode(brs_mode)
    zoom_in = ZoomIn(**dict(zoom_in_params)) if zoom_in_params is not None else None
    params = {"max_size": max_size}
    if predictor_params is not None:
        params.update(predictor_params)
    return BasePredictor(net, device, zoom_in=zoom_in, with_flip=with_flip, **params)


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
