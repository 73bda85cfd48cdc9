"""Click-by-click evaluation with a simulated user (RITM's NoC protocol, Sofiiuk et al., 2021).

For each sample: start from an empty mask; repeat up to ``max_clicks`` times: the clicker adds the
next click (see :func:`isegm.inference.clicker.get_next_click`), the predictor returns
probabilities, the mask is ``probs > pred_thr`` and its IoU with the ground truth (ignored pixels
excluded) is recorded; stop once IoU >= ``max_iou_thr`` and at least ``min_clicks`` clicks were made.

This module is the loop (one sample, one dataset); a whole run with its settings, predictors and reports is
:mod:`isegm.inference.runner`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from time import perf_counter
from typing import Callable, Optional

import numpy as np
from tqdm import tqdm

from isegm.io import to_plain
from isegm.geometry import STROKE_SPACING, Box
from isegm.inference.clicker import Clicker
from isegm.inference.user import next_stroke
from isegm.metrics import iou as get_iou

logger = logging.getLogger(__name__)


#: interaction types of the evaluator: every interaction after the first ("click": RITM's click rule;
#: "stroke": :func:`isegm.inference.user.next_stroke`), and the first one ("box": the ground truth's box)
INTERACTIONS = ("click", "stroke")
FIRST_INTERACTIONS = ("click", "box")
#: context around a box-first crop, as a fraction of the box's longer side (at least 16 px; the annotation
#: session's default ``box_margin``)
BOX_CONTEXT = 0.2


class _CropClicker:
    """The clicks of a full-image clicker shifted into a crop's coordinates (what a predictor set on the crop reads)."""

    def __init__(self, clicker, y0: int, x0: int):
        self.clicker, self.y0, self.x0 = clicker, y0, x0

    def get_clicks(self, clicks_limit=None):
        return [c.copy(coords=(c.y - self.y0, c.x - self.x0)) for c in self.clicker.get_clicks(clicks_limit)]


def evaluate_sample(image, gt_mask, predictor, max_iou_thr: float, pred_thr: float = 0.49,
                    min_clicks: int = 1, max_clicks: int = 20, sample_id=None,
                    callback: Optional[Callable] = None, click_rule: Optional[Callable] = None,
                    interaction: str = "click",
                    first_interaction: str = "click", stroke_spacing: float = STROKE_SPACING,
                    box_context: float = BOX_CONTEXT, log: Optional[list] = None):
    """Simulate interactions on one sample (RITM's NoC protocol; clicks by default).

    Each interaction is followed by one prediction and its IoU; NoC counts interactions.

    * ``interaction="click"``: RITM's clicker (:meth:`~isegm.inference.clicker.Clicker.make_next_click`).
    * ``interaction="stroke"``: the simulated user's stroke along the skeleton of the error region the
      click rule picks (:func:`isegm.inference.user.next_stroke`), given to the model as clicks of its
      sign every ``stroke_spacing`` px along the line (:meth:`isegm.geometry.Stroke.to_clicks`), all at once.
    * ``first_interaction="box"``: interaction 1 is the tight box of the ground truth. How a click
      model sees it: the predictor is set on the crop of the box grown by ``box_context`` of its longer
      side (at least 16 px), with the box's filled rectangle as the previous mask and no click; every
      prediction of the sample (this one and those after the clicks that follow, which the predictor gets
      in crop coordinates) is pasted into a zero map of the image and zeroed outside the box. The box is
      counted as one interaction.

    Args:
        image: (H, W, 3) uint8 RGB.
        gt_mask: (H, W) int32, 1 object, 0 background, -1 ignored.
        predictor: object with ``set_input_image(image)`` and ``get_prediction(clicker, prev_mask=None)``
            returning (h, w) float probabilities of the image it was set on.
        max_iou_thr: stop when the IoU reaches this (compared in float64, as RITM).
        pred_thr: probability threshold for the mask.
        min_clicks: never stop before this many interactions.
        max_clicks: at most this many interactions.
        sample_id: passed to ``callback``.
        callback: optional ``callback(image, gt_mask, pred_probs, sample_id, click_indx, clicks_list)``
            called after every interaction (e.g. to save visualisations).
        interaction, first_interaction: see above (:data:`INTERACTIONS`, :data:`FIRST_INTERACTIONS`).
        stroke_spacing: px between the clicks of a stroke (> 0).
        box_context: context of the box-first crop (>= 0).
        log: optional list; one dict per interaction is appended: ``{"type": "click"|"stroke"|"box",
            "n_points": clicks it added}`` plus ``"stroke"`` (:meth:`~isegm.geometry.Stroke.to_dict`) or
            ``"box"`` ([y0, x0, y1, x1]).
        click_rule: the simulated user of the clicks (see :class:`~isegm.inference.clicker.Clicker`); None =
            RITM's rule.

    Returns:
        ``(clicks_list, ious, pred_probs, timings)``: every click the predictor was given; (n,) float32
        IoU after each interaction; the last (H, W) float32 probabilities; (n,) float64 seconds spent in
        ``get_prediction`` for each interaction.

    Raises:
        ValueError: image / mask shapes disagree, ``max_clicks`` < 1, an unknown interaction type, or a
            box-first sample whose object box is under 1 px.
    """
    gt_mask = np.asarray(gt_mask)
    if gt_mask.ndim != 2 or np.asarray(image).shape[:2] != gt_mask.shape:
        raise ValueError(f"image {np.asarray(image).shape} and gt_mask {gt_mask.shape} sizes differ")
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be >= 1, got {max_clicks}")
    if interaction not in INTERACTIONS:
        raise ValueError(f"unknown interaction {interaction!r}; known: {', '.join(INTERACTIONS)}")
    if first_interaction not in FIRST_INTERACTIONS:
        raise ValueError(f"unknown first interaction {first_interaction!r}; known: {', '.join(FIRST_INTERACTIONS)}")
    if not stroke_spacing > 0:
        raise ValueError(f"stroke_spacing must be > 0 px, got {stroke_spacing!r}")

    clicker = Clicker(gt_mask=gt_mask, click_rule=click_rule)
    pred_mask = np.zeros(gt_mask.shape, dtype=bool)
    pred_probs = np.zeros(gt_mask.shape, dtype=np.float32)
    ious, timings = [], []
    box = crop = None
    view = clicker

    if first_interaction == "box":
        box = Box.from_mask(gt_mask == 1)
        crop = box.with_context(box_context).clip(*gt_mask.shape)
        y0, x0, y1, x1 = crop.to()
        predictor.set_input_image(np.ascontiguousarray(image[y0:y1, x0:x1]))
        view = _CropClicker(clicker, y0, x0)
    else:
        predictor.set_input_image(image)

    def predict(prev_mask=None):
        start = perf_counter()
        probs = predictor.get_prediction(view, prev_mask) if prev_mask is not None else predictor.get_prediction(view)
        timings.append(perf_counter() - start)
        if crop is None:
            return probs
        full = np.zeros(gt_mask.shape, np.float32)
        by0, bx0, by1, bx1 = box.to()
        cy0, cx0 = crop.y0, crop.x0
        full[by0:by1, bx0:bx1] = np.asarray(probs)[by0 - cy0:by1 - cy0, bx0 - cx0:bx1 - cx0]
        return full

    for click_indx in range(max_clicks):
        if click_indx == 0 and box is not None:
            rect = np.zeros((crop.height, crop.width), np.float32)
            rect[box.y0 - crop.y0:box.y1 - crop.y0, box.x0 - crop.x0:box.x1 - crop.x0] = 1.0
            pred_probs = predict(rect)
            step = {"type": "box", "n_points": 0, "box": [int(v) for v in box.to()]}
        elif interaction == "stroke":
            stroke = next_stroke(gt_mask, pred_mask, index=click_indx)
            if stroke is None:  # nothing left to correct: RITM's clicker adds its (0, 0) negative click
                clicker.make_next_click(pred_mask)
                step = {"type": "click", "n_points": 1}
            else:
                points = stroke.to_clicks(stroke_spacing)
                for point in points:
                    clicker.add_click(point)
                step = {"type": "stroke", "n_points": len(points), "stroke": stroke.to_dict()}
            pred_probs = predict()
        else:
            clicker.make_next_click(pred_mask)
            step = {"type": "click", "n_points": 1}
            pred_probs = predict()
        if log is not None:
            log.append(step)
        pred_mask = pred_probs > pred_thr

        if callback is not None:
            callback(image, gt_mask, pred_probs, sample_id, click_indx, clicker.get_clicks())

        iou = get_iou(gt_mask, pred_mask)
        ious.append(iou)
        if iou >= max_iou_thr and click_indx + 1 >= min_clicks:
            break

    return (clicker.get_clicks(), np.array(ious, dtype=np.float32), pred_probs,
            np.array(timings, dtype=np.float64))


@dataclass(frozen=True)
class StochasticSpec:
    """Stochastic-click repeats of a run (RClicks protocol, see :class:`isegm.inference.user.StochasticClickUser`).

    Attributes:
        sigma: click spread in pixels of distance-to-boundary (>= 0).
        repeats: runs per sample (>= 1).
        seed: base seed; repeat r of dataset index i draws from
            :func:`isegm.inference.user.click_seed_sequence` ``(seed, r, i)``.
        stop_iou: the repeats stop once IoU reaches it (None: at the standard run's ``max_iou_thr``). The
            stochastic NoC at any threshold <= ``stop_iou`` is the same as without stopping; a comparison
            that runs every click for its mIoU curve stops the repeats at its highest NoC threshold this way.
    """

    sigma: float = 5.0
    repeats: int = 5
    seed: int = 0
    stop_iou: Optional[float] = None

    @classmethod
    def from_args(cls, args) -> Optional["StochasticSpec"]:
        """The spec of parsed :func:`add_stochastic_click_arguments` options; None with ``--clicker standard``."""
        if args.clicker != "stochastic":
            return None
        return cls(float(args.click_sigma), int(args.repeats), int(args.seed))


def add_stochastic_click_arguments(parser) -> None:
    """``--clicker``, ``--click-sigma``, ``--repeats``, ``--seed`` on an argparse parser (the evaluator's and the
    comparison's command lines); :meth:`StochasticSpec.from_args` reads them back."""
    from isegm.errors import float_range, int_range

    parser.add_argument("--clicker", choices=("standard", "stochastic"), default="standard",
                        help="stochastic: after the standard run, --repeats runs per sample with clicks drawn in "
                             "the click rule's error region, p ~ exp(-(dmax-d)^2/(2 S^2)) with d the distance to the "
                             "region's boundary (RClicks, Antonov et al. 2024); adds sNoC@85/90 (mean±std) and the "
                             "5-95 %% range over the repeats.")
    parser.add_argument("--click-sigma", type=float_range(0.0), default=5.0, metavar="S",
                        help="Spread S of the stochastic clicks in pixels (>= 0, default 5; 0 = the standard rule).")
    parser.add_argument("--repeats", type=int_range(1), default=5, metavar="R", help="Stochastic runs per sample.")
    parser.add_argument("--seed", type=int_range(0), default=0, metavar="K",
                        help="Base seed of the stochastic clicks (repeat r of sample i: SeedSequence(K, (r, i))).")


class ClickScorer:
    """Per-click scores of one sample besides IoU: confusion matrix, Dice, precision, recall, accuracy, bIoU.

    Args:
        gt_mask: (H, W) int ground truth (1 object, -1 ignored).
        boundary: also compute Boundary IoU (one erosion per click; the object's band once).

    The scores come from :mod:`isegm.metrics` (:func:`~isegm.metrics.confusion`,
    :func:`~isegm.metrics.scores_from_confusion`, :func:`~isegm.metrics.boundary_iou`).
    """

    NAMES = ("dice", "precision", "recall", "accuracy")

    def __init__(self, gt_mask, boundary: bool = False):
        from isegm import metrics as M

        self._m = M
        self.gt_mask = np.asarray(gt_mask)
        self.boundary = boundary
        self.values = {name: [] for name in self.NAMES + (("biou",) if boundary else ())}
        self.confusion = []
        self._gt_band = (M.mask_boundary(self.gt_mask == 1, M.boundary_dilation(self.gt_mask.shape))
                         if boundary else None)

    def add(self, pred_mask) -> None:
        """Score one (H, W) bool prediction."""
        cm = self._m.confusion(self.gt_mask, pred_mask)
        self.confusion.append(list(cm))
        scores = self._m.scores_from_confusion(*cm)
        for name in self.NAMES:
            self.values[name].append(scores[name])
        if self.boundary:
            self.values["biou"].append(self._m.boundary_iou(self.gt_mask, pred_mask, gt_boundary=self._gt_band))

    def record(self) -> dict:
        """``{"metrics": {name: [float per click]}, "confusion": [[tp, fp, fn, tn] per click]}``."""
        return {"metrics": {k: [float(x) for x in v] for k, v in self.values.items()},
                "confusion": [list(c) for c in self.confusion]}


def resize_to_fit(image, gt_mask, max_width: int, max_height: int):
    """Shrink a sample that is larger than ``max_width`` x ``max_height`` to fit inside it (aspect kept).

    As the avalanche fork's ``--resize``: scale = min(W / w, H / h) when w > W or h > H; new size
    (max(1, round(w * scale)), max(1, round(h * scale))); the image with ``cv2.INTER_AREA``, the
    mask with nearest neighbour (labels such as -1 = ignored survive). Smaller samples are returned
    unchanged.

    Args:
        image: (h, w, 3) uint8. gt_mask: (h, w) int.
        max_width, max_height: the box in pixels (>= 1).

    Returns:
        ``(image, gt_mask, resized)``: the (possibly) new arrays and whether they were resized.

    Raises:
        ValueError: a box side < 1.
    """
    import cv2

    if max_width < 1 or max_height < 1:
        raise ValueError(f"resize box must be at least 1x1, got {max_width}x{max_height}")
    h, w = gt_mask.shape[:2]
    if w <= max_width and h <= max_height:
        return image, gt_mask, False
    scale = min(max_width / w, max_height / h)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    image = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    gt_mask = cv2.resize(np.ascontiguousarray(gt_mask, dtype=np.int32), size, interpolation=cv2.INTER_NEAREST)
    return image, gt_mask, True


def _stochastic_runs(image, gt_mask, predictor, spec: StochasticSpec, index: int, kwargs) -> list:
    from isegm.inference.user import StochasticClickUser, click_seed_sequence

    kwargs = {k: v for k, v in kwargs.items() if k != "callback"}
    if spec.stop_iou is not None:
        kwargs["max_iou_thr"] = float(spec.stop_iou)
    runs = []
    for repeat in range(spec.repeats):
        user = StochasticClickUser(spec.sigma, np.random.default_rng(click_seed_sequence(spec.seed, repeat, index)))
        clicks, ious, _, _ = evaluate_sample(image, gt_mask, predictor, sample_id=index, click_rule=user, **kwargs)
        runs.append({"repeat": repeat, "seed": [int(spec.seed), repeat, int(index)],
                     "ious": [float(x) for x in ious],
                     "clicks": [(bool(c.is_positive), int(c.coords[0]), int(c.coords[1])) for c in clicks]})
    return runs


def evaluate_dataset(dataset, predictor, progress: bool = True, max_samples: Optional[int] = None, *,
                     boundary_iou: bool = False, stochastic: Optional[StochasticSpec] = None,
                     resize: Optional[tuple] = None, sample_callback: Optional[Callable] = None,
                     shard=None, **kwargs):
    """Run :func:`evaluate_sample` on every sample of a dataset (or on one shard's share of them).

    Samples whose ground truth has no object pixel are skipped (their IoU is undefined), and so are
    samples the loader cannot read consistently (image and mask sizes differ: ``ValueError``); each
    skip is recorded with its reason. Conversions the loader noted on the sample (``sample.notes``,
    e.g. alpha dropped, 16-bit mask binarised) are recorded too.

    Args:
        dataset: object with ``__len__`` and ``get_sample(i)`` returning a sample with ``.image``
            (H, W, 3) uint8 and ``.gt_mask`` (H, W) int32.
        predictor: see :func:`evaluate_sample`.
        progress: show a tqdm progress bar.
        max_samples: evaluate only the first N dataset indices (None = all).
        boundary_iou: also score Boundary IoU per click (:class:`ClickScorer`; the other scores
            are always computed, they cost a few mask counts per click).
        stochastic: also run the stochastic-click repeats (:class:`StochasticSpec`) on each sample,
            after the standard run; their time is left out of ``elapsed_time``, and ``callback`` /
            ``sample_callback`` see the standard run only.
        resize: ``(W, H)``: shrink larger samples to fit first (:func:`resize_to_fit`).
        sample_callback: optional ``sample_callback(image, gt_mask, pred_probs, record)`` after each
            evaluated sample with the last click's probabilities (e.g. triplet images).
        shard: optional :class:`isegm.inference.sharding.Shard`: evaluate only its indices of the first N
            (records and IoUs then cover those; :func:`isegm.inference.sharding.merge_shard_results` puts
            the ranks' parts back together). None: every index.
        **kwargs: :func:`evaluate_sample` arguments (``max_iou_thr`` is required).

    Returns:
        ``(all_ious, elapsed_time, records)``: list of per-sample float32 IoU arrays (evaluated
        samples only); wall-clock seconds of the whole loop (data loading included, as RITM's SPC);
        one dict per dataset index: ``index``, ``sample_id``, ``skipped``, ``reason`` (why skipped, or
        ""), ``notes`` (conversions), ``n_clicks``, ``ious`` (list of float), ``times`` (seconds per
        click), ``clicks`` (list of (is_positive, y, x)); evaluated samples add ``metrics``
        (``{dice, precision, recall, accuracy[, biou]: [float per click]}``) and ``confusion``
        (``[[tp, fp, fn, tn] per click]``); with ``resize`` a resized sample has
        ``resized = {"from": [h, w], "to": [h, w]}``; with ``stochastic`` ``stochastic_runs`` (per
        repeat: ``repeat``, ``seed`` [seed, repeat, index], ``ious``, ``clicks``); with strokes or a first box
        ``interactions`` (see the ``log`` of :func:`evaluate_sample`).
    """
    all_ious, records = [], []
    interactions_logged = (kwargs.get("interaction", "click") != "click"
                           or kwargs.get("first_interaction", "click") != "click")
    n = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
    user_callback = kwargs.pop("callback", None)
    pred_thr = kwargs.get("pred_thr", 0.49)
    excluded = 0.0
    start = perf_counter()
    indices = range(n) if shard is None else shard.indices(n)
    for index in tqdm(indices, leave=False, disable=not progress):
        try:
            sample = dataset.get_sample(index)
        except ValueError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logger.warning("sample %d skipped: %s", index, reason)
            records.append(_skip_record(index, _sample_name(dataset, index), reason))
            continue
        sample_id = _sample_name(dataset, index, getattr(sample, "sample_id", None))
        notes = [str(x) for x in (getattr(sample, "notes", None) or [])]
        image, gt_mask = sample.image, np.asarray(sample.gt_mask)
        resized = None
        if resize is not None and gt_mask.ndim == 2 and np.asarray(image).shape[:2] == gt_mask.shape:
            old_shape = list(gt_mask.shape)
            image, gt_mask, was_resized = resize_to_fit(image, gt_mask, *resize)
            if was_resized:
                resized = {"from": old_shape, "to": list(gt_mask.shape)}
        if not np.any(gt_mask == 1):
            logger.warning("sample %d (%s) has an empty object mask: skipped", index, sample_id)
            records.append(_skip_record(index, sample_id, "no object in the mask", notes))
            continue
        log = [] if interactions_logged else None
        scorer = ClickScorer(gt_mask, boundary=boundary_iou)

        def callback(img, gt, probs, sid, click_indx, clicks_list, _scorer=scorer):
            _scorer.add(probs > pred_thr)
            if user_callback is not None:
                user_callback(img, gt, probs, sid, click_indx, clicks_list)

        try:
            clicks, ious, last_probs, times = evaluate_sample(image, gt_mask, predictor, sample_id=index,
                                                              callback=callback, log=log,
                                                              **kwargs)
        except ValueError as exc:
            if "sizes differ" not in str(exc):
                raise
            records.append(_skip_record(index, sample_id, str(exc), notes))
            continue
        all_ious.append(ious)
        record = {
            "index": index,
            "sample_id": sample_id,
            "skipped": False,
            "reason": "",
            "notes": notes,
            "n_clicks": int(len(ious)),
            "ious": [float(x) for x in ious],
            "times": [float(x) for x in times],
            "clicks": [(bool(c.is_positive), int(c.coords[0]), int(c.coords[1])) for c in clicks],
        }
        record.update(scorer.record())
        if resized is not None:
            record["resized"] = resized
        if sample_callback is not None:
            sample_callback(image, gt_mask, last_probs, record)
        if stochastic is not None:
            t0 = perf_counter()
            record["stochastic_runs"] = _stochastic_runs(image, gt_mask, predictor, stochastic, index, kwargs)
            excluded += perf_counter() - t0
        if log is not None:
            record["interactions"] = log
        records.append(record)
    elapsed_time = perf_counter() - start - excluded
    return all_ious, elapsed_time, records


def _sample_name(dataset, index, fallback=None):
    getter = getattr(dataset, "get_sample_name", None)
    if getter is not None:
        try:
            return _plain(getter(index))
        except Exception:  # noqa: BLE001 - a name is only a label
            pass
    return _plain(fallback if fallback is not None else index)


def _skip_record(index, sample_id, reason, notes=()):
    return {"index": index, "sample_id": sample_id, "skipped": True, "reason": reason, "notes": list(notes),
            "n_clicks": 0, "ious": [], "times": [], "clicks": []}


def _plain(value):
    """A sample id as json data (:func:`isegm.io.to_plain`), or its text when it has no json form."""
    try:
        return to_plain(value)
    except TypeError:
        return str(value)
