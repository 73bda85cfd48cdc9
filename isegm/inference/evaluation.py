"""Click-by-click evaluation with a simulated user (RITM's NoC protocol, Sofiiuk et al., 2021).

For each sample: start from an empty mask; repeat up to ``max_clicks`` times: the clicker adds the
next click (see :func:`isegm.inference.clicker.get_next_click`), the predictor returns
probabilities, the mask is ``probs > pred_thr`` and its IoU with the ground truth (ignored pixels
excluded) is recorded; stop once IoU >= ``max_iou_thr`` and at least ``min_clicks`` clicks were made.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
from tqdm import tqdm

from isegm.io import to_plain
from isegm.inference.clicker import Clicker
from isegm.metrics import iou as get_iou

logger = logging.getLogger(__name__)


def evaluate_sample(image, gt_mask, predictor, max_iou_thr: float, pred_thr: float = 0.49,
                    min_clicks: int = 1, max_clicks: int = 20, sample_id=None,
                    callback: Optional[Callable] = None):
    """Simulate clicks on one sample.

    Args:
        image: (H, W, 3) uint8 RGB.
        gt_mask: (H, W) int32, 1 object, 0 background, -1 ignored.
        predictor: object with ``set_input_image(image)`` and ``get_prediction(clicker)`` returning
            (H, W) float probabilities.
        max_iou_thr: stop when the IoU reaches this (compared in float64, as RITM).
        pred_thr: probability threshold for the mask.
        min_clicks: never stop before this many clicks.
        max_clicks: at most this many clicks.
        sample_id: passed to ``callback``.
        callback: optional ``callback(image, gt_mask, pred_probs, sample_id, click_indx, clicks_list)``
            called after every click (e.g. to save visualisations).

    Returns:
        ``(clicks_list, ious, pred_probs, timings)``: the clicks; (n,) float32 IoU after each click;
        the last (H, W) float32 probabilities; (n,) float64 seconds spent in ``get_prediction``
        for each click.

    Raises:
        ValueError: image / mask shapes disagree or ``max_clicks`` < 1.
    """
    gt_mask = np.asarray(gt_mask)
    if gt_mask.ndim != 2 or np.asarray(image).shape[:2] != gt_mask.shape:
        raise ValueError(f"image {np.asarray(image).shape} and gt_mask {gt_mask.shape} sizes differ")
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be >= 1, got {max_clicks}")

    clicker = Clicker(gt_mask=gt_mask)
    pred_mask = np.zeros(gt_mask.shape, dtype=bool)
    pred_probs = np.zeros(gt_mask.shape, dtype=np.float32)
    ious, timings = [], []

    predictor.set_input_image(image)
    for click_indx in range(max_clicks):
        clicker.make_next_click(pred_mask)
        start = perf_counter()
        pred_probs = predictor.get_prediction(clicker)
        timings.append(perf_counter() - start)
        pred_mask = pred_probs > pred_thr

        if callback is not None:
            callback(image, gt_mask, pred_probs, sample_id, click_indx, clicker.get_clicks())

        iou = get_iou(gt_mask, pred_mask)
        ious.append(iou)
        if iou >= max_iou_thr and click_indx + 1 >= min_clicks:
            break

    return (clicker.get_clicks(), np.array(ious, dtype=np.float32), pred_probs,
            np.array(timings, dtype=np.float64))


def evaluate_dataset(dataset, predictor, progress: bool = True, max_samples: Optional[int] = None, **kwargs):
    """Run :func:`evaluate_sample` on every sample of a dataset.

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
        **kwargs: :func:`evaluate_sample` arguments (``max_iou_thr`` is required).

    Returns:
        ``(all_ious, elapsed_time, records)``: list of per-sample float32 IoU arrays (evaluated
        samples only); wall-clock seconds of the whole loop (data loading included, as RITM's SPC);
        one dict per dataset index: ``index``, ``sample_id``, ``skipped``, ``reason`` (why skipped, or
        ""), ``notes`` (conversions), ``n_clicks``, ``ious`` (list of float), ``times`` (seconds per
        click), ``clicks`` (list of (is_positive, y, x)).
    """
    all_ious, records = [], []
    n = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
    start = perf_counter()
    for index in tqdm(range(n), leave=False, disable=not progress):
        try:
            sample = dataset.get_sample(index)
        except ValueError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logger.warning("sample %d skipped: %s", index, reason)
            records.append(_skip_record(index, _sample_name(dataset, index), reason))
            continue
        sample_id = _sample_name(dataset, index, getattr(sample, "sample_id", None))
        notes = [str(x) for x in (getattr(sample, "notes", None) or [])]
        gt_mask = np.asarray(sample.gt_mask)
        if not np.any(gt_mask == 1):
            logger.warning("sample %d (%s) has an empty object mask: skipped", index, sample_id)
            records.append(_skip_record(index, sample_id, "no object in the mask", notes))
            continue
        try:
            clicks, ious, _, times = evaluate_sample(sample.image, gt_mask, predictor, sample_id=index, **kwargs)
        except ValueError as exc:
            if "sizes differ" not in str(exc):
                raise
            records.append(_skip_record(index, sample_id, str(exc), notes))
            continue
        all_ious.append(ious)
        records.append({
            "index": index,
            "sample_id": sample_id,
            "skipped": False,
            "reason": "",
            "notes": notes,
            "n_clicks": int(len(ious)),
            "ious": [float(x) for x in ious],
            "times": [float(x) for x in times],
            "clicks": [(bool(c.is_positive), int(c.coords[0]), int(c.coords[1])) for c in clicks],
        })
    elapsed_time = perf_counter() - start
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


# ---------------------------------------------------------------------- the whole protocol
@dataclass
class EvalSettings:
    """Options of a NoC evaluation run (RITM's ``evaluate_model.py`` flags).

    Attributes:
        mode: predictor mode: 'NoBRS', 'RGB-BRS', 'DistMap-BRS', 'f-BRS-A', 'f-BRS-B', 'f-BRS-C'
            (see :func:`isegm.inference.predictors.get_predictor`; the BRS modes use ``thresh`` as
            their early-stop probability, as RITM); or the family name ('sam', 'grabcut') of a predictor
            built outside, used for row and file names only.
        eval_mode: 'cvpr' or 'fixed<N>' (see :func:`isegm.inference.utils.get_eval_zoom_in_params`).
        n_clicks: maximum clicks per sample (>= 1).
        min_n_clicks: never stop before this many clicks (>= 0).
        target_iou: stop a sample at this IoU; raised to 0.8 at least, as RITM; 1.01 (all clicks) when
            ``print_ious`` / ``iou_analysis`` and ``min_n_clicks`` <= 1.
        thresh: probability threshold of the mask, in (0, 1).
        max_size: longest side of the network input (None = no limit).
        clicks_limit: give the network only the first N clicks (None = the mode's default: all for
            NoBRS, 5 for RGB-/DistMap-BRS, 8 for f-BRS, whose cached features are also recomputed
            only up to this many clicks).
        print_ious: add mIoU@1,2,3,5,10,20 to the row and the json.
        iou_analysis: save the mIoU curve plot (``plots/*.png``).
        save_ious: save the (N, n_clicks) float32 per-click IoU arrays (``ious/*.npy``, NaN after a
            sample's last click).
        vis_preds: save per-click visualisations (``predictions_vis/``).
        max_samples: evaluate only the first N samples of each dataset (None = all).
        progress: show a progress bar.
        cf_n: cascade-forward refinement, extra runs per click (0 = off; see
            :class:`~isegm.inference.predictors.cfr.CascadeForwardPredictor`).
        acf: adaptive CFR (stop once the mask is stable; needs ``cf_n`` >= 1).
        cf_clicks: CFR only while there are at most this many clicks (CFR-ICL's ``--cf-click``; None = every click).
        focus_refine: focus refinement after each click
            (:class:`~isegm.inference.predictors.focus.FocusRefinePredictor`), applied after CFR.

    Raises:
        UserError: ``cf_n`` < 0, ``cf_clicks`` < 1, or ``acf`` / ``cf_clicks`` without ``cf_n`` >= 1.
    """

    mode: str = "NoBRS"
    eval_mode: str = "cvpr"
    n_clicks: int = 20
    min_n_clicks: int = 1
    target_iou: float = 0.90
    thresh: float = 0.49
    max_size: Optional[int] = None
    clicks_limit: Optional[int] = None
    print_ious: bool = False
    iou_analysis: bool = False
    save_ious: bool = False
    vis_preds: bool = False
    max_samples: Optional[int] = None
    progress: bool = True
    cf_n: int = 0
    acf: bool = False
    cf_clicks: Optional[int] = None
    focus_refine: bool = False

    def __post_init__(self):
        from isegm.errors import UserError

        if isinstance(self.cf_n, bool) or not isinstance(self.cf_n, int) or self.cf_n < 0:
            raise UserError(f"--cf-n {self.cf_n!r}: expected an integer >= 0 (extra cascade-forward runs per click)")
        if self.cf_clicks is not None and (isinstance(self.cf_clicks, bool) or not isinstance(self.cf_clicks, int)
                                           or self.cf_clicks < 1):
            raise UserError(f"--cf-clicks {self.cf_clicks!r}: expected an integer >= 1")
        if (self.acf or self.cf_clicks is not None) and self.cf_n < 1:
            raise UserError(f"{'--acf' if self.acf else '--cf-clicks'} needs --cf-n N with N >= 1 "
                            f"(the most extra runs per click; CFR-ICL used 4)")

    def variant(self) -> str:
        """The refinements in force as a name suffix: '' (none), 'cf4', 'acf4', 'cf4c1' (CFR on the first
        click only), 'focus', 'acf4_focus' ..."""
        name = ""
        if self.cf_n > 0:
            name = f"{'acf' if self.acf else 'cf'}{self.cf_n}" + (f"c{self.cf_clicks}" if self.cf_clicks else "")
        if self.focus_refine:
            name += "_focus" if name else "focus"
        return name

    def mode_label(self) -> str:
        """``mode`` with the refinements, e.g. 'NoBRS', 'NoBRS_cf4', 'NoBRS_focus' (table rows and file names)."""
        variant = self.variant()
        return f"{self.mode}_{variant}" if variant else self.mode

    def wrap_predictor(self, predictor):
        """``predictor`` wrapped in the refinements asked for: CFR, then focus refinement around it.

        Raises:
            UserError: CFR on a model without a previous-mask input.
        """
        if self.cf_n > 0:
            from isegm.inference.predictors.cfr import CascadeForwardPredictor

            predictor = CascadeForwardPredictor(predictor, self.cf_n, adaptive=self.acf, cf_clicks=self.cf_clicks)
        if self.focus_refine:
            from isegm.inference.predictors.focus import FocusRefinePredictor

            predictor = FocusRefinePredictor(predictor)
        return predictor

    def effective_target_iou(self) -> float:
        """The stopping IoU actually used (RITM: 1.01 for IoU analysis, else at least 0.8)."""
        if (self.iou_analysis or self.print_ious) and self.min_n_clicks <= 1:
            return 1.01
        return max(0.8, self.target_iou)


def run_evaluation(checkpoints: Sequence, datasets: Mapping, settings: EvalSettings, device, logs_path,
                   logs_prefix: str = "", model_name: Optional[str] = None,
                   load_model: Optional[Callable] = None, echo: Optional[Callable[[str], None]] = None,
                   predictor=None) -> dict:
    """Evaluate checkpoints on datasets with RITM's NoC protocol and write the reports.

    Order as RITM: for each dataset, for each checkpoint: load the model, build the predictor, run
    :func:`evaluate_dataset`, summarise (:func:`isegm.inference.reporting.summarize`), append the row
    to the table ``<prefix><eval_mode>_<mode>_<n_clicks>.txt`` and rewrite ``..._results.json``.
    Nothing is written before the first row is ready.

    Args:
        checkpoints: checkpoint paths (one or several from an experiment).
        datasets: ``{name: dataset}`` (already built, e.g. by :func:`isegm.data.registry.get_eval_dataset`).
        settings: :class:`EvalSettings`.
        device: torch device.
        logs_path: output folder.
        logs_prefix: file-name prefix (RITM's ``all_checkpoints`` ...), '' for none.
        model_name: title of the table (default: the folder name).
        load_model: ``load_model(path, device) -> model`` (default :func:`isegm.model.load_is_model`
            in eval mode).
        echo: called with each printed block (header + row, input notes), e.g. ``print``.
        predictor: a predictor built outside (SAM, GrabCut ..., see
            :mod:`isegm.inference.predictors.families`), used for every dataset as given (wrapped as
            ``settings`` asks); ``checkpoints`` then holds only its one label (file names, json) and
            nothing is loaded.

    Returns:
        The results dict written to the json: settings, ``checkpoints``, ``table_path``,
        ``results_path``, and ``datasets[name][checkpoint stem]`` = summary + ``miou`` / ``miou_curve``,
        ``ious_file``, ``plot_file``, ``table_row`` and per-sample ``samples`` records.

    Raises:
        UserError: from the checkpoint loader (not a checkpoint, truncated ...), the eval mode, or a
            BRS mode the model cannot run (``BRSModelError``, naming mode and model class).
        FileNotFoundError: a checkpoint is missing.
    """
    from isegm.inference import reporting
    from isegm.inference.predictors import get_predictor
    from isegm.inference.utils import get_eval_zoom_in_params
    from isegm.metrics import miou_at, miou_curve

    if load_model is None:
        from isegm.model import load_is_model

        def load_model(path, dev):
            return load_is_model(str(path), device=dev, eval_mode=True)

    checkpoints = [Path(c) for c in checkpoints]
    logs_path = Path(logs_path)
    target_iou = settings.effective_target_iou()
    single = len(checkpoints) == 1
    run_name = f"{settings.eval_mode}_{settings.mode_label()}_{settings.n_clicks}"
    name_prefix = f"{logs_prefix}_" if logs_prefix else ""
    model_name = model_name or logs_path.name
    table_path = logs_path / f"{name_prefix}{run_name}.txt"
    results_path = logs_path / f"{name_prefix}{run_name}_results.json"
    results = {
        "model_name": model_name, "mode": settings.mode, "variant": settings.variant(),
        "cf_n": settings.cf_n, "acf": settings.acf, "cf_clicks": settings.cf_clicks,
        "focus_refine": settings.focus_refine, "eval_mode": settings.eval_mode,
        "n_clicks": settings.n_clicks, "min_n_clicks": settings.min_n_clicks, "target_iou": target_iou,
        "thresh": settings.thresh, "max_size": settings.max_size, "max_samples": settings.max_samples,
        "checkpoints": [str(c) for c in checkpoints], "table_path": str(table_path),
        "results_path": str(results_path), "datasets": {},
    }
    models = {}
    if single and predictor is None:  # fail on a bad checkpoint before anything is written
        models[checkpoints[0]] = load_model(checkpoints[0], device)
    header_done = False
    for dataset_name, dataset in datasets.items():
        zoom_in_params = get_eval_zoom_in_params(settings.eval_mode, dataset_name)
        for checkpoint_path in checkpoints:
            if predictor is not None:
                run_predictor = predictor
            else:
                model = models[checkpoint_path] if checkpoint_path in models else load_model(checkpoint_path, device)
                predictor_params = {}
                if settings.clicks_limit is not None:
                    predictor_params["net_clicks_limit"] = settings.clicks_limit
                run_predictor = get_predictor(model, settings.mode, device, zoom_in_params=zoom_in_params,
                                              max_size=settings.max_size, predictor_params=predictor_params,
                                              prob_thresh=settings.thresh)
            run_predictor = settings.wrap_predictor(run_predictor)
            callback = (reporting.prediction_vis_callback(logs_path / "predictions_vis" / dataset_name,
                                                          settings.thresh) if settings.vis_preds else None)
            all_ious, elapsed_time, records = evaluate_dataset(
                dataset, run_predictor, progress=settings.progress, max_samples=settings.max_samples,
                pred_thr=settings.thresh, max_iou_thr=target_iou, min_clicks=settings.min_n_clicks,
                max_clicks=settings.n_clicks, callback=callback)

            summary = reporting.summarize(all_ious, elapsed_time, records, settings.n_clicks, target_iou)
            row_name = settings.mode_label() if single else checkpoint_path.stem
            row = reporting.format_table_row(row_name, dataset_name, summary, settings.n_clicks)
            entry = dict(summary)
            if settings.print_ious:
                row += "; " + reporting.miou_string(all_ious)
                entry["miou"] = miou_at(all_ious)
            text = "" if header_done else reporting.format_table_header(model_name) + "\n"
            header_done = True
            notes = reporting.input_notes(summary)
            block = text + row + ("\n" + notes if notes else "")
            if echo is not None:
                echo(block)
            reporting.append_text(table_path, block + "\n")

            file_stem = f"{dataset_name}_{run_name}" + ("" if single else f"_{checkpoint_path.stem}")
            entry["checkpoint"] = str(checkpoint_path)
            entry["table_row"] = row
            if settings.save_ious:
                ious_path = logs_path / "ious" / (logs_prefix or "") / f"{file_stem}.npy"
                reporting.write_ious_npy(ious_path, all_ious, settings.n_clicks)
                entry["ious_file"] = str(ious_path)
            if settings.iou_analysis or settings.print_ious:
                curve = miou_curve(all_ious, settings.n_clicks)
                entry["miou_curve"] = curve.tolist()
                if settings.iou_analysis:
                    plot_path = logs_path / "plots" / f"{name_prefix}{file_stem}.png"
                    reporting.save_iou_plot(plot_path, curve, dataset_name, f"{model_name}_{settings.mode_label()}")
                    entry["plot_file"] = str(plot_path)
            entry["samples"] = records
            results["datasets"].setdefault(dataset_name, {})[checkpoint_path.stem] = entry
            reporting.write_results_json(results_path, results)
    return results


def evaluate(settings: EvalSettings, dataset_paths: Mapping, device, *, checkpoint: str = "", exp_path: str = "",
             models_dir=None, exps_dir=None, logs_root=None, model_name: Optional[str] = None,
             load_model: Optional[Callable] = None, echo: Optional[Callable[[str], None]] = None,
             predictor=None) -> dict:
    """Resolve checkpoints and datasets, then :func:`run_evaluation` (what ``scripts/evaluate_model.py`` runs).

    Args:
        settings: :class:`EvalSettings`.
        dataset_paths: ``{registry name or alias: folder}``; loaders come from
            :func:`isegm.data.registry.get_eval_dataset` (all are built, checking their folders,
            before anything is evaluated or written).
        device: torch device.
        checkpoint: a checkpoint path or name under ``models_dir`` (see
            :func:`isegm.inference.utils.find_checkpoint`); exclusive with ``exp_path``.
        exp_path: ``EXP[:PREFIX]`` under ``exps_dir`` (see :func:`find_experiment_checkpoints`).
        models_dir, exps_dir: INTERACTIVE_MODELS_PATH and EXPS_PATH values.
        logs_root: output root (default ``exps_dir/evaluation_logs``); results go to
            ``logs_root/others/<checkpoint stem>`` or ``logs_root/<experiment>``.
        model_name, load_model, echo: see :func:`run_evaluation`.
        predictor: a predictor built outside (see :func:`run_evaluation`); ``checkpoint`` is then only its
            label (not resolved), results go to ``logs_root/others/<label stem>``.

    Returns:
        :func:`run_evaluation`'s results dict.

    Raises:
        UserError: bad names, checkpoints, eval mode, missing EXPS_PATH for the logs or the
            experiment, ``iou_analysis`` with several checkpoints.
        FileNotFoundError: a missing checkpoint or dataset folder (the message names it).
    """
    from isegm.data.registry import get_eval_dataset, resolve
    from isegm.errors import UserError
    from isegm.inference.utils import find_checkpoint, find_experiment_checkpoints, get_eval_zoom_in_params

    if bool(checkpoint) == bool(exp_path):
        raise UserError("give exactly one of a checkpoint and an experiment path")
    if not dataset_paths:
        raise UserError("no dataset to evaluate")
    if logs_root is None:
        if not exps_dir:
            raise UserError("no logs folder given and EXPS_PATH is not set in the config")
        logs_root = Path(exps_dir) / "evaluation_logs"
    logs_root = Path(logs_root)
    specs = {resolve(name).name: path for name, path in dataset_paths.items()}
    for name in specs:
        get_eval_zoom_in_params(settings.eval_mode, name)

    logs_prefix = ""
    if predictor is not None:
        checkpoints = [Path(checkpoint)]
        logs_path = logs_root / "others" / checkpoints[0].stem
    elif exp_path:
        checkpoints, exp_folder, logs_prefix = find_experiment_checkpoints(exps_dir, exp_path)
        logs_path = logs_root / exp_folder.relative_to(Path(exps_dir))
        model_name = model_name or f"{logs_path.relative_to(logs_root)}:{logs_prefix}"
    else:
        checkpoints = [find_checkpoint(models_dir, checkpoint)]
        logs_path = logs_root / "others" / checkpoints[0].stem
    if settings.iou_analysis and len(checkpoints) != 1:
        raise UserError(f"--iou-analysis needs a single checkpoint, got {len(checkpoints)}")
    datasets = {name: get_eval_dataset(name, path) for name, path in specs.items()}
    return run_evaluation(checkpoints, datasets, settings, device, logs_path, logs_prefix=logs_prefix,
                          model_name=model_name, load_model=load_model, echo=echo, predictor=predictor)
