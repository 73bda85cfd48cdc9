"""Evaluation metrics (IoU, NoC / NoF), checkpoint lookup and dataset construction.

The metrics follow RITM's evaluation code (Sofiiuk et al., 2021): NoC@t is the mean number of
clicks needed to reach IoU >= t (a sample that never reaches it counts as ``max_clicks``), NoF@t
("NoF", printed by RITM as ">=20@t") is the number of samples whose NoC@t equals ``max_clicks``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

EPS = 1e-8

# Evaluation dataset name -> (config key of its folder, name in isegm.data.datasets' registry,
# keyword arguments for the dataset). Mirrors RITM's evaluate_model names; the registry's defaults
# give single-object evaluation samples (SBD: val instances; SBD_Train: RITM's SBD train instances).
EVAL_DATASETS = {
    "GrabCut": ("GRABCUT_PATH", "GrabCut", {}),
    "Berkeley": ("BERKELEY_PATH", "Berkeley", {}),
    "DAVIS": ("DAVIS_PATH", "DAVIS", {}),
    "COCO_MVal": ("COCO_MVAL_PATH", "COCO_MVal", {}),
    "SBD": ("SBD_PATH", "SBD", {}),
    "SBD_Train": ("SBD_PATH", "SBD", {"split": "train"}),
    "PascalVOC": ("PASCALVOC_PATH", "PascalVOC", {}),
}


def get_iou(gt_mask, pred_mask, ignore_label: int = -1) -> float:
    """IoU of a binary prediction with a ground truth that may hold ignored pixels.

    Args:
        gt_mask: (H, W) int, 1 = object, ``ignore_label`` = ignored, anything else background.
        pred_mask: (H, W) bool (non-zero = predicted object).
        ignore_label: value of ignored ground-truth pixels (excluded from both terms).

    Returns:
        |pred & gt| / |pred | gt| over non-ignored pixels, as a float; NaN when the union is
        empty (as RITM, which divides 0 by 0).

    Raises:
        ValueError: the shapes differ.
    """
    gt_mask = np.asarray(gt_mask)
    pred_mask = np.asarray(pred_mask).astype(bool)
    if gt_mask.shape != pred_mask.shape:
        raise ValueError(f"gt_mask shape {gt_mask.shape} != pred_mask shape {pred_mask.shape}")
    valid = gt_mask != ignore_label
    obj = gt_mask == 1
    intersection = np.count_nonzero(pred_mask & obj & valid)
    union = np.count_nonzero((pred_mask | obj) & valid)
    if union == 0:
        return float("nan")
    return intersection / union


def get_noc(ious, iou_thr: float, max_clicks: int = 20) -> int:
    """Clicks needed for one sample: 1 + first index with ``ious >= iou_thr``, else ``max_clicks``."""
    reached = np.asarray(ious) >= iou_thr
    return int(np.argmax(reached)) + 1 if reached.any() else int(max_clicks)


def compute_noc_metric(all_ious: Sequence, iou_thrs: Sequence[float], max_clicks: int = 20):
    """NoC and NoF for several IoU thresholds.

    Args:
        all_ious: per sample, the IoU after each click (1-D arrays, possibly of different length;
            RITM stores them as float32 and compares them with the thresholds in that dtype).
        iou_thrs: thresholds, e.g. ``[0.8, 0.85, 0.9]``.
        max_clicks: clicks counted for a sample that never reaches a threshold.

    Returns:
        ``(noc_list, over_max_list)``: per threshold the mean clicks (float; NaN for no samples)
        and the number of samples whose click count equals ``max_clicks`` (int; RITM's NoF, which
        includes samples reaching the threshold exactly at the last click).
    """
    noc_list, over_max_list = [], []
    for thr in iou_thrs:
        scores = np.array([get_noc(ious, thr, max_clicks) for ious in all_ious], dtype=np.int64)
        noc_list.append(float(scores.mean()) if len(scores) else float("nan"))
        over_max_list.append(int((scores == max_clicks).sum()))
    return noc_list, over_max_list


def get_noc_thresholds(target_iou: float) -> list:
    """RITM's reported thresholds: 0.80, 0.85, ... up to min(0.95, target_iou) (np.arange floats)."""
    return np.arange(0.8, min(0.95, target_iou) + 0.001, 0.05).tolist()


def get_time_metrics(all_ious: Sequence, elapsed_time: float):
    """(seconds per click, seconds per image) as RITM: total time / total clicks and / images."""
    n_images = len(all_ious)
    n_clicks = sum(len(x) for x in all_ious)
    return elapsed_time / (n_clicks + EPS), elapsed_time / (n_images + EPS)


def find_checkpoint(weights_dir, name: str) -> Path:
    """Locate a checkpoint file as RITM's ``find_checkpoint``.

    ``name`` may be an existing path; a ``*.pth`` name relative to ``weights_dir``; a prefix
    matched recursively as ``<name>*.pth`` under ``weights_dir``; or ``MODEL:CHECKPOINT`` to search
    only in the single sub-folder of ``weights_dir`` starting with ``MODEL``.

    Raises:
        FileNotFoundError: nothing matches (the message names the searched folder).
        ValueError: several files or model folders match.
    """
    direct = Path(name).expanduser()
    if direct.is_file():
        return direct
    if weights_dir is None:
        raise FileNotFoundError(f"checkpoint {name!r} not found (no weights folder configured)")
    weights_dir = Path(weights_dir)

    model_dir = weights_dir
    if ":" in name:
        model_name, name = name.split(":", 1)
        candidates = sorted(x for x in weights_dir.glob(f"{model_name}*") if x.is_dir())
        if len(candidates) != 1:
            raise ValueError(f"expected exactly one model folder {weights_dir}/{model_name}*, "
                             f"found {[str(c) for c in candidates]}")
        model_dir = candidates[0]

    if name.endswith(".pth"):
        path = model_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {name} (also looked for {path})")
        return path

    matches = sorted(model_dir.rglob(f"{name}*.pth"))
    if not matches:
        raise FileNotFoundError(f"no checkpoint matching {name}*.pth under {model_dir}")
    if len(matches) > 1:
        raise ValueError(f"several checkpoints match {name}*.pth under {model_dir}: "
                         f"{[str(m) for m in matches[:5]]}")
    return matches[0]


def get_dataset(dataset_name: str, paths: Mapping, **kwargs):
    """Build an evaluation dataset by RITM name from a config-like mapping of folders.

    Args:
        dataset_name: one of :data:`EVAL_DATASETS` (GrabCut, Berkeley, DAVIS, COCO_MVal, SBD,
            SBD_Train, PascalVOC).
        paths: mapping holding the folder under the dataset's config key (``GRABCUT_PATH`` ...);
            e.g. the loaded config.yml.
        **kwargs: passed on to the dataset constructor (override the defaults).

    Returns:
        The dataset from ``isegm.data.datasets.get_dataset``.

    Raises:
        ValueError: unknown name (the message lists the known ones) or no folder configured.
    """
    if dataset_name not in EVAL_DATASETS:
        raise ValueError(f"unknown dataset {dataset_name!r}; known datasets: {', '.join(EVAL_DATASETS)}")
    key, registry_name, defaults = EVAL_DATASETS[dataset_name]
    path = paths.get(key) if paths is not None else None
    if path is None or path == "":
        raise ValueError(f"no folder for dataset {dataset_name}: set {key} in config.yml or pass a path override")
    from isegm.data.datasets import get_dataset as registry_get_dataset

    params = dict(defaults)
    params.update(kwargs)
    return registry_get_dataset(registry_name, Path(path), **params)


def mean_iou_curve(all_ious: Sequence, n_clicks: int) -> np.ndarray:
    """mIoU after clicks 1..n_clicks; a sample that stopped early keeps its last IoU.

    Returns:
        (n_clicks,) float64 (NaN where there are no samples).
    """
    if not all_ious:
        return np.full(n_clicks, np.nan)
    table = np.empty((len(all_ious), n_clicks), dtype=np.float64)
    for i, ious in enumerate(all_ious):
        ious = np.asarray(ious, dtype=np.float64)[:n_clicks]
        if len(ious) == 0:
            table[i] = np.nan
            continue
        table[i, :len(ious)] = ious
        table[i, len(ious):] = ious[-1]
    return table.mean(axis=0)


def pad_ious(all_ious: Sequence, n_clicks: int, fill: float = np.nan) -> np.ndarray:
    """Stack per-sample IoU arrays into (N, n_clicks) float32, filling missing clicks with ``fill``."""
    out = np.full((len(all_ious), n_clicks), fill, dtype=np.float32)
    for i, ious in enumerate(all_ious):
        ious = np.asarray(ious, dtype=np.float32)[:n_clicks]
        out[i, :len(ious)] = ious
    return out


def get_eval_zoom_in_params(eval_mode: str, dataset_name: str) -> dict:
    """ZoomIn parameters of RITM's ``evaluate_model.py --eval-mode``.

    * ``cvpr``: ZoomIn defaults (zoom from the 2nd click) with ``target_size`` 600 on DAVIS and
      400 on every other dataset (RITM chooses by dataset, not by model).
    * ``fixed<N>`` (e.g. ``fixed400``): zoom from the 1st click (``skip_clicks=-1``, the whole
      image while there is no prediction yet), crop resized to exactly (N, N).

    Raises:
        ValueError: any other mode.
    """
    if eval_mode == "cvpr":
        return {"target_size": 600 if dataset_name == "DAVIS" else 400}
    if eval_mode.startswith("fixed") and eval_mode[5:].isdigit() and int(eval_mode[5:]) > 0:
        size = int(eval_mode[5:])
        return {"skip_clicks": -1, "target_size": (size, size)}
    raise ValueError(f"unknown eval mode {eval_mode!r}; expected 'cvpr' or 'fixed<N>' such as 'fixed400'")
