"""Mask refinement from add / erase strokes ("Fusing Forces", Sterzinger et al., ICPR 2024): the simulated
corrections it is trained and evaluated with.

The refinement model of this framework is a click model with a previous-mask input (IT-M, e.g.
``hrnet18s_itermask``) trained to take an *initial mask* Y as its previous mask and corrective strokes as
its clicks (each stroke as clicks of its sign along the line, :meth:`isegm.geometry.Stroke.to_clicks`, so
the Δ+ / Δ− stroke maps are the model's disk maps of those clicks), and to return the corrected mask Y'.

:class:`CorrectionSimulator` makes one training pair from a ground-truth object mask:

1. **Y, a degraded ground truth** (:func:`degrade_mask`), with the kinds of error the paper's initial
   masks have: the boundary moved in or out (erosion / dilation), a missing part (the object minus a
   random ellipse at its boundary), a spurious blob (a random ellipse next to the object), a ragged
   boundary (the mask blurred with noise and thresholded). One or two of them, drawn per item.
   Or, with probability ``initial_model_prob``, **Y from a click model** (:class:`ClickModelMasks`): the
   mask a click model predicts on the item's crop after 1..k clicks of RITM's simulated user, the kind of
   initial mask a user of the refiner brings (the paper refines real model outputs).
2. **Corrective strokes**: 1..``max_strokes`` simulated strokes (:func:`isegm.inference.user.next_stroke`,
   RITM's click rule generalised to a stroke along the error region's skeleton), each drawn on the mask
   after the previous strokes were applied by hand (:func:`isegm.geometry.apply_strokes`, the paper's Y^Δ).

Every random choice comes from the NumPy generator passed in (the dataset's per-item generator), in a
fixed order, so an item is a function of (seed, epoch, index).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from isegm.geometry import STROKE_SPACING, apply_strokes, pack_points
from isegm.inference.user import next_stroke

__all__ = ["CorrectionSimulator", "ClickModelMasks", "degrade_mask", "DEGRADATIONS", "CORRECTION_METRICS", "refine_prediction",
           "correction_curves", "evaluate_corrections", "refiner_predictors", "format_corrections_table",
           "write_corrections_report"]

#: the kinds of initial-mask error :func:`degrade_mask` draws from
DEGRADATIONS = ("boundary", "missing_part", "spurious_blob", "ragged")


def _ellipse(shape, center_yx, axes_yx, angle, rng=None) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cy, cx = (int(round(v)) for v in center_yx)
    ay, ax = (max(1, int(round(v))) for v in axes_yx)
    cv2.ellipse(out, (cx, cy), (ax, ay), float(angle), 0, 360, 1, -1)  # OpenCV takes (x, y)
    return out.astype(bool)


def degrade_mask(gt: np.ndarray, rng: np.random.Generator, kinds=None) -> np.ndarray:
    """A plausible wrong initial mask for the object ``gt``: one or two of :data:`DEGRADATIONS`.

    Sizes scale with the object: s = sqrt(object area) px. ``boundary``: erosion or dilation by
    r in [0.03 s, 0.12 s] (at least 1 px) with an elliptical kernel; ``missing_part``: the object minus an ellipse
    of semi-axes in [0.15 s, 0.4 s] centred on a random boundary pixel; ``spurious_blob``: plus an ellipse of
    semi-axes in [0.1 s, 0.3 s] centred a random [0.2 s, 0.6 s] outside a random boundary pixel;
    ``ragged``: the mask blurred (sigma 0.05 s), noise of sd 0.25 added, thresholded at 0.5.

    Args:
        gt: (H, W) bool object mask (not empty).
        rng: the generator every draw comes from.
        kinds: the degradations to choose from (default all).

    Returns:
        (H, W) bool; may be empty (a small object eroded away), never the same object array.

    Raises:
        ValueError: ``gt`` not 2-D or empty, or an unknown kind.
    """
    gt = np.asarray(gt, dtype=bool)
    if gt.ndim != 2 or not gt.any():
        raise ValueError(f"degrade_mask needs a non-empty (H, W) mask, got shape {gt.shape}")
    kinds = DEGRADATIONS if kinds is None else tuple(kinds)
    unknown = [k for k in kinds if k not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"unknown degradation(s) {unknown}; known: {', '.join(DEGRADATIONS)}")
    size = float(np.sqrt(gt.sum()))
    n = 1 + int(rng.random() < 0.5)
    chosen = [kinds[i] for i in rng.choice(len(kinds), size=min(n, len(kinds)), replace=False)]
    mask = gt.copy()
    # the object's boundary pixels, the image border counting as outside (an object filling the crop has one)
    inner = cv2.erode(gt.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = np.argwhere(gt & ~inner.astype(bool))
    for kind in chosen:
        if kind == "boundary":
            r = max(1, int(round(rng.uniform(0.03, 0.12) * size)))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            op = cv2.erode if rng.random() < 0.5 else cv2.dilate
            mask = op(mask.astype(np.uint8), kernel).astype(bool)
        elif kind == "missing_part":
            cy, cx = boundary[rng.integers(len(boundary))]
            axes = rng.uniform(0.15, 0.4, size=2) * size
            mask &= ~_ellipse(gt.shape, (cy, cx), axes, rng.uniform(0, 180))
        elif kind == "spurious_blob":
            cy, cx = boundary[rng.integers(len(boundary))]
            theta, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.6) * size
            axes = rng.uniform(0.1, 0.3, size=2) * size
            mask |= _ellipse(gt.shape, (cy + dist * np.sin(theta), cx + dist * np.cos(theta)), axes,
                             rng.uniform(0, 180))
        else:  # ragged
            sigma = max(0.5, 0.05 * size)
            blurred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
            mask = blurred + rng.normal(0.0, 0.25, size=mask.shape).astype(np.float32) > 0.5
    return mask


class ClickModelMasks:
    """Initial masks from a click model: its mask after ``k`` clicks of RITM's simulated user on the object.

    Args:
        predictor: a predictor (:mod:`isegm.inference.predictors`, e.g. NoBRS over the shipped checkpoint).
        clicks: ``(lo, hi)``: k is drawn uniformly in lo..hi (>= 1) from the item's generator.
        thresh: probability threshold of the mask (0.49, RITM's).

    Calling it: ``masks(image (H, W, 3) uint8, gt (H, W) bool, ignore (H, W) bool, rng) -> (H, W) bool``;
    the clicks follow :class:`isegm.inference.clicker.Clicker`'s rule on the model's own masks (ignored pixels
    excluded), so k is the only random draw.

    Raises:
        ValueError: ``clicks`` not 1 <= lo <= hi, ``thresh`` outside (0, 1).
    """

    def __init__(self, predictor, clicks=(1, 3), thresh: float = 0.49):
        lo, hi = (int(v) for v in clicks)
        if not 1 <= lo <= hi or not 0.0 < float(thresh) < 1.0:
            raise ValueError(f"ClickModelMasks needs clicks (lo, hi) with 1 <= lo <= hi and 0 < thresh < 1, got "
                             f"clicks={tuple(clicks)!r}, thresh={thresh!r}")
        self.predictor, self.clicks, self.thresh = predictor, (lo, hi), float(thresh)

    def __call__(self, image: np.ndarray, gt: np.ndarray, ignore: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from isegm.inference.clicker import Clicker

        gt_mask = np.where(ignore, -1, gt.astype(np.int32))
        clicker = Clicker(gt_mask=gt_mask)
        self.predictor.set_input_image(np.ascontiguousarray(image))
        pred = np.zeros(gt.shape, bool)
        for _ in range(int(rng.integers(self.clicks[0], self.clicks[1] + 1))):
            clicker.make_next_click(pred)
            pred = self.predictor.get_prediction(clicker) > self.thresh
        return pred


@dataclass
class CorrectionSimulator:
    """Initial mask + corrective strokes for one training object (see the module docstring).

    Attributes:
        max_strokes: most strokes per item (>= 1); the number is drawn uniformly in 1..max_strokes.
        max_points: rows per sign of the points array (the model's N); a stroke set with more clicks of a sign
            keeps an evenly spaced subset of them.
        spacing: px between a stroke's clicks.
        max_width: widest simulated stroke in px.
        initial_model: optional :class:`ClickModelMasks` (or any callable of its signature).
        initial_model_prob: probability that Y comes from ``initial_model`` instead of :func:`degrade_mask`
            (the coin is drawn only when a model is given, so items without one are unchanged).
    """
    max_strokes: int = 3
    max_points: int = 24
    spacing: float = STROKE_SPACING
    max_width: float = 10.0
    initial_model: object = None
    initial_model_prob: float = 0.0

    def __post_init__(self):
        if int(self.max_strokes) < 1 or int(self.max_points) < 1 or not self.spacing > 0 or not self.max_width > 0:
            raise ValueError(f"CorrectionSimulator needs max_strokes >= 1, max_points >= 1, spacing > 0, "
                             f"max_width > 0; got {self}")
        if not 0.0 <= float(self.initial_model_prob) <= 1.0:
            raise ValueError(f"CorrectionSimulator initial_model_prob must be in [0, 1], got {self.initial_model_prob!r}")

    def __call__(self, mask: np.ndarray, rng: np.random.Generator, image: np.ndarray | None = None):
        """One training pair for the object ``mask``.

        Args:
            mask: (H, W) float or int target: 1 object, 0 background, -1 (or < 0) ignored.
            rng: the item's generator.
            image: (H, W, 3) uint8 crop the mask belongs to (needed by ``initial_model``).

        Raises:
            ValueError: ``initial_model`` is drawn but no ``image`` was given.

        Returns:
            ``(prev_mask, points, strokes)``: (1, H, W) float32 initial mask Y; (2 * max_points, 3) float32
            points (positive rows, then negative rows, padded with -1); the list of
            :class:`~isegm.geometry.Stroke` drawn.
        """
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask[0]
        gt = mask > 0.5
        ignore = mask < 0
        use_model = (self.initial_model is not None and self.initial_model_prob > 0
                     and rng.random() < self.initial_model_prob)
        if use_model and gt.any():
            if image is None:
                raise ValueError("CorrectionSimulator with an initial_model needs the item's image")
            initial = np.asarray(self.initial_model(image, gt, ignore, rng), dtype=bool)
        else:
            initial = degrade_mask(gt, rng) if gt.any() else np.zeros_like(gt)
        current, strokes, clicks = initial, [], []
        for k in range(int(rng.integers(1, self.max_strokes + 1))):
            stroke = next_stroke(gt, current, ignore_mask=ignore, max_width=self.max_width, index=k)
            if stroke is None:
                break
            strokes.append(stroke)
            clicks.extend(stroke.to_clicks(self.spacing, index=len(clicks)))
            current = apply_strokes(current, [stroke])
        kept = []
        for sign in (True, False):
            same = [c for c in clicks if c.is_positive == sign]
            if len(same) > self.max_points:
                same = [same[i] for i in np.linspace(0, len(same) - 1, self.max_points).round().astype(int)]
            kept.extend(same)
        kept.sort(key=lambda c: c.index)
        kept = [c.copy(index=i) for i, c in enumerate(kept)]
        points = pack_points([kept], num_pos=self.max_points, num_neg=self.max_points)[0]
        return initial.astype(np.float32)[None], points.astype(np.float32), strokes


# ---------------------------------------------------------------------- evaluation: hand vs model
#: the scores of a correction curve (:mod:`isegm.metrics`)
CORRECTION_METRICS = ("iou", "dice", "pfm")


def _scores(gt, mask) -> dict:
    from isegm import metrics as M

    return {"iou": M.iou(gt, mask), "dice": M.dice(gt, mask), "pfm": M.pseudo_f_measure(gt, mask)}


def refine_prediction(predictor, image, initial, strokes, spacing: float = STROKE_SPACING) -> np.ndarray:
    """The model's corrected mask Y' for an initial mask and strokes: (H, W) float32 probabilities.

    The predictor is set on ``image`` and given the initial mask as its previous mask and every stroke's clicks
    (:meth:`isegm.geometry.Stroke.to_clicks` at ``spacing``, in order) in one step, as the refinement recipe
    trains it (``models/cocomval/hrnet18s_cocomval_refiner.py``).
    """
    from isegm.inference.clicker import Clicker

    clicker = Clicker(image_shape=np.asarray(initial).shape)
    for stroke in strokes:
        for click in stroke.to_clicks(spacing):
            clicker.add_click(click)
    predictor.set_input_image(image)
    return np.asarray(predictor.get_prediction(clicker, prev_mask=np.asarray(initial, np.float32)), np.float32)


def correction_curves(image, gt_mask, initial, predictors: dict, n_corrections: int = 5, thresh: float = 0.49,
                      spacing: float = STROKE_SPACING, max_width: float = 10.0) -> dict:
    """Scores of one sample after k = 0..K simulated corrections, strokes applied by hand and by each model.

    "Fusing Forces"' protocol in this framework: every method starts from the same initial mask Y and
    gets its own corrections (the simulated stroke of :func:`isegm.inference.user.next_stroke` on its current
    mask, RITM's click rule generalised). ``hand``: the strokes painted into the mask (Y^Δ,
    :func:`isegm.geometry.apply_strokes`); a model: Y' = :func:`refine_prediction` of Y and all its strokes so
    far, thresholded at ``thresh``.

    Args:
        image: (H, W, 3) uint8 RGB; gt_mask: (H, W) int (1 object, -1 ignored); initial: (H, W) bool Y.
        predictors: ``{name: predictor}`` (predictor interface with a previous-mask input).
        n_corrections: K >= 1.

    Returns:
        ``{method: {metric: [value at k = 0, 1, ..., K]}}`` for ``"hand"`` and every predictor (a method with
        nothing left to correct keeps its last mask), metrics :data:`CORRECTION_METRICS`.

    Raises:
        ValueError: shapes differ or ``n_corrections`` < 1.
    """
    gt_mask = np.asarray(gt_mask)
    initial = np.asarray(initial, dtype=bool)
    if initial.shape != gt_mask.shape or np.asarray(image).shape[:2] != gt_mask.shape:
        raise ValueError(f"image {np.asarray(image).shape}, gt {gt_mask.shape} and initial mask {initial.shape} "
                         f"sizes differ")
    if n_corrections < 1:
        raise ValueError(f"n_corrections must be >= 1, got {n_corrections}")
    gt, ignore = gt_mask == 1, gt_mask == -1
    curves = {}
    for method in ("hand", *predictors):
        current, strokes = initial, []
        values = {m: [v] for m, v in _scores(gt_mask, initial).items()}
        for k in range(n_corrections):
            stroke = next_stroke(gt, current, ignore_mask=ignore, max_width=max_width, index=k)
            if stroke is not None:
                strokes.append(stroke)
                if method == "hand":
                    current = apply_strokes(current, [stroke])
                else:
                    current = refine_prediction(predictors[method], image, initial, strokes, spacing) > thresh
            for m, v in _scores(gt_mask, current).items():
                values[m].append(v)
        curves[method] = values
    return curves


def evaluate_corrections(dataset, predictors: dict, n_corrections: int = 5, seed: int = 0,
                         max_samples=None, thresh: float = 0.49, progress: bool = False,
                         initial_masks=None) -> dict:
    """:func:`correction_curves` over a dataset, from degraded ground truths (or a click model's masks) as initial
    masks.

    Sample i starts from :func:`degrade_mask` of its object with ``np.random.default_rng([seed, i])``, the same
    for every method and every run; with ``initial_masks`` (a callable as :class:`ClickModelMasks`:
    ``(image, gt, ignore, rng) -> (H, W) bool``) from what it returns for that sample and generator instead.

    Returns:
        ``{"n_samples", "n_corrections", "samples": [{"index", "sample_id", "curves"}],
        "mean": {method: {metric: [mean at k = 0..K]}}}`` (NaN-aware means).
    """
    from tqdm import tqdm

    n = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
    samples = []
    for index in tqdm(range(n), disable=not progress, leave=False):
        sample = dataset.get_sample(index)
        gt_mask = np.asarray(sample.gt_mask)
        if not (gt_mask == 1).any():
            continue
        rng = np.random.default_rng([seed, index])
        if initial_masks is None:
            initial = degrade_mask(gt_mask == 1, rng)
        else:
            initial = np.asarray(initial_masks(sample.image, gt_mask == 1, gt_mask == -1, rng), dtype=bool)
        curves = correction_curves(sample.image, gt_mask, initial, predictors, n_corrections, thresh)
        samples.append({"index": index, "sample_id": getattr(sample, "sample_id", index), "curves": curves})
    methods = ("hand", *predictors)
    mean = {m: {k: np.nanmean([s["curves"][m][k] for s in samples], axis=0).tolist() if samples else []
                for k in CORRECTION_METRICS} for m in methods}
    return {"n_samples": len(samples), "n_corrections": n_corrections, "samples": samples, "mean": mean}


def refiner_predictors(models, device, models_dir=None, patch_size=None, overlap: int = 32) -> dict:
    """NoBRS predictors (no zoom-in) of the refiners to compare, optionally run in overlapping patches.

    Args:
        models: ``[(name, checkpoint), ...]``: a name per row and a checkpoint path (or a name under
            ``models_dir``, :func:`isegm.inference.utils.find_checkpoint`).
        device: torch device.
        models_dir: INTERACTIVE_MODELS_PATH, where bare checkpoint names are looked up.
        patch_size: ``(H, W)``: wrap each predictor in
            :class:`~isegm.inference.predictors.patches.PatchPredictor` with ``overlap`` px shared; None: whole image.

    Returns:
        ``{name: predictor}`` in the given order.

    Raises:
        UserError: the name ``hand`` (it names the hand-applied strokes), a model without a previous-mask input
            (a refiner takes the initial mask there), or a checkpoint the loader refuses.
        FileNotFoundError: a missing checkpoint.
    """
    from isegm.errors import UserError
    from isegm.inference.predictors import get_predictor
    from isegm.inference.predictors.patches import PatchPredictor
    from isegm.inference.utils import find_checkpoint
    from isegm.model import load_is_model

    predictors = {}
    for name, path in models:
        if name == "hand":
            raise UserError("--model hand=...: 'hand' names the hand-applied strokes; pick another name")
        model = load_is_model(find_checkpoint(models_dir, path), device=device, eval_mode=True)
        if not getattr(model, "with_prev_mask", False):
            raise UserError(f"--model {name}={path}: {type(model).__name__} has no previous-mask input; a refiner "
                            f"takes the initial mask there (use an *_itermask model)")
        predictor = get_predictor(model, "NoBRS", device, zoom_in_params=None)
        predictors[name] = predictor if patch_size is None else PatchPredictor(predictor, tuple(patch_size),
                                                                                overlap=overlap)
    return predictors


def format_corrections_table(result: dict, label: str, initial_text: str, seed: int) -> str:
    """Markdown table of :func:`evaluate_corrections`' means: a row per (method, metric), a column per k."""
    ks = range(result["n_corrections"] + 1)
    lines = [f"{label}: {result['n_samples']} samples, initial masks: {initial_text} (seed {seed}); mean after k "
             f"corrections",
             "", "| method | metric | " + " | ".join(f"k={k}" for k in ks) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in ks) + " |"]
    for method, scores in result["mean"].items():
        for metric in CORRECTION_METRICS:
            lines.append(f"| {method} | {metric} | " + " | ".join(f"{v:.3f}" for v in scores[metric]) + " |")
    return "\n".join(lines)


def write_corrections_report(out_dir, result: dict, table: str, label: str, meta: dict):
    """Write ``corrections.md`` (``table``), ``corrections.json`` (``result`` plus ``dataset=label`` and ``meta``)
    and one plot per metric (``corrections_<metric>.png``, a line per method) under ``out_dir``, atomically.

    Returns:
        the output folder as a ``Path``.
    """
    from pathlib import Path

    from isegm.inference.reporting import save_curves_plot
    from isegm.io import atomic_write_json, atomic_write_text

    out = Path(out_dir)
    atomic_write_text(out / "corrections.md", table + "\n", make_parents=True)
    atomic_write_json(out / "corrections.json", dict(result, dataset=label, **meta), make_parents=True)
    for metric in CORRECTION_METRICS:
        save_curves_plot(out / f"corrections_{metric}.png", {m: s[metric] for m, s in result["mean"].items()},
                         "corrections k", f"mean {metric}", f"{metric} after k corrections, {label}")
    return out
