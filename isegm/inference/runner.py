"""A whole NoC evaluation run: settings -> predictors -> the per-sample loop -> table, json, plots.

:class:`EvalSettings` holds RITM's ``evaluate_model.py`` options (and ours), :func:`run_evaluation` evaluates
checkpoints (or a predictor built outside) on datasets with :func:`isegm.inference.evaluation.evaluate_dataset`
and writes the reports through :mod:`isegm.inference.reporting`, :func:`evaluate` resolves checkpoint / experiment
paths and output folders as RITM's script does. ``scripts/evaluate_model.py`` parses flags and calls
:func:`evaluate`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from isegm.geometry import STROKE_SPACING
from isegm.inference.evaluation import FIRST_INTERACTIONS, INTERACTIONS, StochasticSpec
from isegm.inference.sample_store import evaluate_with_store

logger = logging.getLogger(__name__)

__all__ = ["EvalSettings", "run_evaluation", "checkpoint_logs_path", "evaluate"]


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
        interaction: 'click' (RITM's clicker) or 'stroke' (simulated strokes; see :func:`~isegm.inference.evaluation.evaluate_sample`);
            ``n_clicks`` / NoC then count interactions.
        first_interaction: 'click' or 'box' (interaction 1 is the ground truth's box).
        stroke_spacing: px between the clicks a stroke is given to the model as (> 0).
        metrics: extra table columns, ``(name, k)`` pairs (``--metrics``, see
            :func:`isegm.inference.reporting.parse_metric_columns`); () = RITM's table. Dice,
            precision, recall, accuracy and the confusion matrix are computed per click in any case
            (json and npy); Boundary IoU only when a ``biou`` column is asked or ``boundary_iou``.
        boundary_iou: compute Boundary IoU per click even without a ``biou`` column.
        clicker: 'standard' (RITM's rule) or 'stochastic': after the standard run, ``repeats``
            more runs per sample with :class:`isegm.inference.user.StochasticClickUser`
            (``click_sigma`` px, seeds from ``seed``); sNoC@85/90 columns (mean±std) and a line
            with the 5-95 % range are added, per-sample statistics go to the json.
        click_sigma: spread of the stochastic clicks in pixels (>= 0; 0 = the standard rule).
        repeats: stochastic runs per sample (>= 1).
        seed: base seed of the stochastic runs (>= 0).
        resize: ``(W, H)``: shrink larger samples to fit before evaluation
            (:func:`~isegm.inference.evaluation.resize_to_fit`); None = as read.
        vis_triplets: folder for one input | ground truth | prediction PNG per sample ('' = the
            run's ``triplets/<dataset>`` under the logs folder); None = off.

        backend: 'torch' (the checkpoint), 'onnx' or 'torchscript' (a file from ``scripts/export_model.py``,
            see :mod:`isegm.inference.predictors.onnx`); recorded in the json and, when not torch, in the label.
        precision: 'fp32' or 'bf16' (torch backend only: autocast around the network call).
        fold_bn: torch backend: BatchNorm folded into the convolutions before evaluation
            (:func:`isegm.model.fusion.optimize_for_inference`); label tag ``bnfold``.
        channels_last: torch backend: convolution weights NHWC (faster oneDNN CPU kernels, sums differ ~1e-6);
            label tag ``cl``.
        compile: torch backend, NoBRS (fp32 or bf16): ``torch.compile`` mode of the network
            (:data:`isegm.inference.predictors.onnx.COMPILE_MODES`, 'none' = eager); label tag ``compile``.
            All five are recorded in the results json.

    Raises:
        UserError: ``cf_n`` < 0, ``cf_clicks`` < 1, or ``acf`` / ``cf_clicks`` without ``cf_n`` >= 1;
            an unknown clicker, ``click_sigma`` < 0, ``repeats`` < 1, ``seed`` < 0, a ``resize`` side < 1;
            an unknown backend / precision or bf16 with an exported backend; ``fold_bn``, ``channels_last`` or
            ``compile`` with
            an exported backend, ``compile`` with a BRS mode, an unknown compile mode.
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
    interaction: str = "click"
    first_interaction: str = "click"
    stroke_spacing: float = STROKE_SPACING
    metrics: tuple = ()
    boundary_iou: bool = False
    clicker: str = "standard"
    click_sigma: float = 5.0
    repeats: int = 5
    seed: int = 0
    resize: Optional[tuple] = None
    vis_triplets: Optional[str] = None
    backend: str = "torch"
    precision: str = "fp32"
    fold_bn: bool = False
    channels_last: bool = False
    compile: str = "none"

    def __post_init__(self):
        import math

        from isegm.errors import UserError
        from isegm.inference.predictors.onnx import BACKENDS, COMPILE_MODES, PRECISIONS

        if self.backend not in BACKENDS or self.precision not in PRECISIONS or (
                self.precision != "fp32" and self.backend != "torch"):
            raise UserError(f"--backend {self.backend} --precision {self.precision}: expected a backend in "
                            f"{', '.join(BACKENDS)}, a precision in {', '.join(PRECISIONS)}, bf16 only with torch")
        if self.compile not in COMPILE_MODES:
            raise UserError(f"--compile {self.compile!r}: expected one of {', '.join(COMPILE_MODES)}")
        if (self.fold_bn or self.channels_last or self.compile != "none") and self.backend != "torch":
            raise UserError(f"--fold-bn / --channels-last / --compile need --backend torch, got --backend "
                            f"{self.backend}")
        if self.compile != "none" and self.mode != "NoBRS":
            raise UserError(f"--compile {self.compile} runs the NoBRS predictor only (got {self.mode}): BRS needs "
                            f"the model's inner methods")

        if self.interaction not in INTERACTIONS:
            raise UserError(f"--interaction {self.interaction!r}: expected one of {', '.join(INTERACTIONS)}")
        if self.first_interaction not in FIRST_INTERACTIONS:
            raise UserError(f"--first-interaction {self.first_interaction!r}: expected one of "
                            f"{', '.join(FIRST_INTERACTIONS)}")
        if not self.stroke_spacing > 0:
            raise UserError(f"--stroke-spacing {self.stroke_spacing!r}: expected a distance > 0 px")
        if self.clicker not in ("standard", "stochastic"):
            raise UserError(f"--clicker {self.clicker!r}: expected 'standard' or 'stochastic'")
        if not (isinstance(self.click_sigma, (int, float)) and math.isfinite(self.click_sigma)
                and self.click_sigma >= 0):
            raise UserError(f"--click-sigma {self.click_sigma!r}: expected a number of pixels >= 0")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise UserError(f"--repeats {self.repeats!r}: expected an integer >= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"--seed {self.seed!r}: expected an integer >= 0")
        if self.resize is not None:
            size = tuple(self.resize)
            if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
                raise UserError(f"--resize {' '.join(str(v) for v in size)}: expected W H, two integers >= 1 "
                                f"(the box larger images are shrunk to fit)")
            self.resize = size
        from isegm.inference.reporting import METRIC_LABELS

        columns = []
        for column in self.metrics:
            name, k = (column if isinstance(column, (tuple, list)) and len(column) == 2 else (column, None))
            if name not in METRIC_LABELS or isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise UserError(f"metrics column {column!r}: expected (name, k) with name one of "
                                f"{', '.join(METRIC_LABELS)} and k >= 1")
            columns.append((name, k))
        self.metrics = tuple(columns)

        if isinstance(self.cf_n, bool) or not isinstance(self.cf_n, int) or self.cf_n < 0:
            raise UserError(f"--cf-n {self.cf_n!r}: expected an integer >= 0 (extra cascade-forward runs per click)")
        if self.cf_clicks is not None and (isinstance(self.cf_clicks, bool) or not isinstance(self.cf_clicks, int)
                                           or self.cf_clicks < 1):
            raise UserError(f"--cf-clicks {self.cf_clicks!r}: expected an integer >= 1")
        if (self.acf or self.cf_clicks is not None) and self.cf_n < 1:
            raise UserError(f"{'--acf' if self.acf else '--cf-clicks'} needs --cf-n N with N >= 1 "
                            f"(the most extra runs per click; CFR-ICL used 4)")

    @property
    def stochastic(self) -> Optional[StochasticSpec]:
        """The stochastic-click repeats to run, or None for the standard clicker only."""
        if self.clicker != "stochastic":
            return None
        return StochasticSpec(float(self.click_sigma), int(self.repeats), int(self.seed))

    def wants_boundary_iou(self) -> bool:
        """Boundary IoU is scored per click: asked as a column or by ``boundary_iou``."""
        return self.boundary_iou or any(name == "biou" for name, _ in self.metrics)

    def variant(self) -> str:
        """The refinements and interaction types in force as a name suffix: '' (none), 'cf4', 'acf4', 'cf4c1'
        (CFR on the first click only), 'focus', 'acf4_focus', 'box' (box first), 'stroke', 'box_stroke' ..."""
        name = ""
        if self.cf_n > 0:
            name = f"{'acf' if self.acf else 'cf'}{self.cf_n}" + (f"c{self.cf_clicks}" if self.cf_clicks else "")
        if self.focus_refine:
            name += "_focus" if name else "focus"
        for extra in (("box" if self.first_interaction == "box" else ""),
                      ("stroke" if self.interaction == "stroke" else "")):
            if extra:
                name += f"_{extra}" if name else extra
        for tag in ((self.backend,) if self.backend != "torch" else ()) + (
                (self.precision,) if self.precision != "fp32" else ()) + (("bnfold",) if self.fold_bn else ()) + (
                ("cl",) if self.channels_last else ()) + (("compile",) if self.compile != "none" else ()):
            name += f"_{tag}" if name else tag
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
                   predictor=None, shard=None, resume: bool = False) -> dict:
    """Evaluate checkpoints on datasets with RITM's NoC protocol and write the reports.

    Order as RITM: for each dataset, for each checkpoint: load the model, build the predictor, run
    :func:`~isegm.inference.evaluation.evaluate_dataset`, summarise (:func:`isegm.inference.reporting.summarize`), append the row
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
        load_model: ``load_model(path, device) -> model`` (default
            :func:`isegm.inference.predictors.onnx.load_backend_net` with ``settings.backend`` and
            ``settings.precision``: the ISModel in eval mode for torch fp32).
        echo: called with each printed block (header + row, input notes), e.g. ``print``.
        predictor: a predictor built outside (SAM, GrabCut ..., see
            :mod:`isegm.inference.predictors.families`), used for every dataset as given (wrapped as
            ``settings`` asks); ``checkpoints`` then holds only its one label (file names, json) and
            nothing is loaded.
        shard: :class:`isegm.inference.sharding.Shard` of this process (default: from the initialised
            ``torch.distributed`` group, e.g. under ``torchrun``; one shard without one). Each rank evaluates
            its share of every dataset, the per-sample results are gathered into dataset order, and only rank
            0 echoes and writes; every rank returns the merged results (``metric_files`` only on rank 0). Table and json are the one-process
            ones but for timing: ``elapsed_time`` (the time column) and SPC are summed over the ranks' loops,
            ``wall_time`` is the longest rank's loop, ``shards`` the number of ranks.
        resume: keep every finished sample in ``logs_path/runs/<prefix><dataset>_<run>[_<checkpoint>].jsonl``
            (:class:`~isegm.inference.sample_store.SampleStore`) and take the samples an earlier ``resume`` run
            with the same settings kept there instead of evaluating them again: a stopped run continues where
            it stopped and ends with the uninterrupted run's table and json (SPC: the seconds each sample took
            when it ran). Stored samples do not run ``vis_preds`` / ``vis_triplets`` again. One process only.

    Returns:
        The results dict written to the json: settings, ``checkpoints``, ``table_path``,
        ``results_path``, and ``datasets[name][checkpoint stem]`` = summary + ``miou`` / ``miou_curve``,
        ``ious_file``, ``plot_file``, ``table_row`` and per-sample ``samples`` records.

    Raises:
        UserError: from the checkpoint loader (not a checkpoint, truncated ...), the eval mode, or a
            BRS mode the model cannot run (``BRSModelError``, naming mode and model class); ``resume`` with several
            ranks, or with kept samples of other settings (the file and the settings are named).
        FileNotFoundError: a checkpoint is missing.
    """
    from isegm.errors import UserError
    from isegm.inference import reporting
    from isegm.inference.predictors import get_predictor
    from isegm.inference.sharding import current_shard, gather_dataset_results
    from isegm.inference.utils import get_eval_zoom_in_params
    from isegm.metrics import miou_at, miou_curve

    shard = current_shard() if shard is None else shard
    main = shard.is_main
    if resume and shard.world_size > 1:
        raise UserError(f"--resume runs in one process; this run has {shard.world_size} ranks (drop torchrun or "
                        f"--resume)")

    if load_model is None:
        from isegm.inference.predictors.onnx import load_backend_net

        def load_model(path, dev):
            return load_backend_net(path, dev, settings.backend, settings.precision, fold_bn=settings.fold_bn,
                                    compile_mode=settings.compile, channels_last=settings.channels_last)

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
        "focus_refine": settings.focus_refine, "interaction": settings.interaction,
        "first_interaction": settings.first_interaction, "stroke_spacing": settings.stroke_spacing,
        "backend": settings.backend, "precision": settings.precision, "fold_bn": settings.fold_bn,
        "channels_last": settings.channels_last, "compile": settings.compile,
        "eval_mode": settings.eval_mode,
        "n_clicks": settings.n_clicks, "min_n_clicks": settings.min_n_clicks, "target_iou": target_iou,
        "thresh": settings.thresh, "max_size": settings.max_size, "max_samples": settings.max_samples,
        "checkpoints": [str(c) for c in checkpoints], "table_path": str(table_path),
        "results_path": str(results_path),
        "metrics_columns": [list(c) for c in settings.metrics], "boundary_iou": settings.wants_boundary_iou(),
        "clicker": settings.clicker, "resize": list(settings.resize) if settings.resize else None,
        "shards": shard.world_size, "datasets": {},
    }
    stochastic = settings.stochastic
    if stochastic is not None:
        results.update({"click_sigma": stochastic.sigma, "repeats": stochastic.repeats, "seed": stochastic.seed})
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
            triplets = None
            if settings.vis_triplets is not None:
                folder = Path(settings.vis_triplets) if settings.vis_triplets else logs_path / "triplets"
                folder = folder / dataset_name / ("" if single else checkpoint_path.stem)
                triplets = reporting.triplet_callback(folder, settings.thresh)
            file_stem = f"{dataset_name}_{run_name}" + ("" if single else f"_{checkpoint_path.stem}")
            store = (_sample_store(logs_path / "runs" / f"{name_prefix}{file_stem}.jsonl", results, dataset_name,
                                   dataset, checkpoint_path, device) if resume else None)
            all_ious, elapsed_time, records = evaluate_with_store(
                dataset, run_predictor, store, progress=settings.progress and main, max_samples=settings.max_samples,
                **({} if store is not None else {"shard": shard}),
                pred_thr=settings.thresh, max_iou_thr=target_iou, min_clicks=settings.min_n_clicks,
                max_clicks=settings.n_clicks, callback=callback, boundary_iou=settings.wants_boundary_iou(),
                stochastic=stochastic, resize=settings.resize, sample_callback=triplets,
                interaction=settings.interaction, first_interaction=settings.first_interaction,
                stroke_spacing=settings.stroke_spacing)
            all_ious, elapsed_time, records, wall_time = gather_dataset_results(all_ious, elapsed_time, records,
                                                                                shard)

            stoch_summary = None
            if stochastic is not None:
                stoch_summary = reporting.stochastic_summary(records, settings.n_clicks, target_iou, stochastic.sigma,
                                                             stochastic.repeats, stochastic.seed)
            summary = reporting.summarize(all_ious, elapsed_time, records, settings.n_clicks, target_iou,
                                          metric_columns=settings.metrics, stochastic=stoch_summary)
            row_name = settings.mode_label() if single else checkpoint_path.stem
            columns = {"metric_columns": settings.metrics, "stochastic": stochastic is not None}
            row = reporting.format_table_row(row_name, dataset_name, summary, settings.n_clicks, **columns)
            entry = dict(summary)
            if settings.print_ious:
                row += "; " + reporting.miou_string(all_ious)
                entry["miou"] = miou_at(all_ious)
            text = "" if header_done else reporting.format_table_header(model_name, **columns) + "\n"
            header_done = True
            notes = reporting.input_notes(summary)
            if shard.world_size > 1:
                notes = "\n".join(filter(None, [notes, f"  sharded over {shard.world_size} ranks: wall time "
                                                        f"{wall_time:.1f} s; time and SPC summed over the ranks"]))
            block = text + row + ("\n" + notes if notes else "")
            if main:
                if echo is not None:
                    echo(block)
                reporting.append_text(table_path, block + "\n")

            entry["checkpoint"] = str(checkpoint_path)
            if getattr(model if predictor is None else None, "warmup_seconds", None) is not None:
                entry["compile_seconds"] = model.warmup_seconds   # before the timed loop: not in SPC
            entry["table_row"] = row
            entry["wall_time"] = wall_time
            if settings.save_ious:
                ious_path = logs_path / "ious" / (logs_prefix or "") / f"{file_stem}.npy"
                entry["ious_file"] = str(ious_path)
                if main:
                    reporting.write_ious_npy(ious_path, all_ious, settings.n_clicks)
                    entry["metric_files"] = reporting.write_metric_npys(ious_path.with_suffix(""), records,
                                                                        settings.n_clicks)
            if settings.iou_analysis or settings.print_ious:
                curve = miou_curve(all_ious, settings.n_clicks)
                entry["miou_curve"] = curve.tolist()
                if settings.iou_analysis:
                    plot_path = logs_path / "plots" / f"{name_prefix}{file_stem}.png"
                    if main:
                        reporting.save_iou_plot(plot_path, curve, dataset_name,
                                                f"{model_name}_{settings.mode_label()}")
                    entry["plot_file"] = str(plot_path)
            entry["samples"] = records
            results["datasets"].setdefault(dataset_name, {})[checkpoint_path.stem] = entry
            if main:
                reporting.write_results_json(results_path, results)
    return results


def _sample_store(path, results: dict, dataset_name: str, dataset, checkpoint_path: Path, device):
    """The :class:`~isegm.inference.sample_store.SampleStore` of one (dataset, checkpoint) run with ``resume``:
    its settings are the run's (``results`` minus paths, names and the sample count) plus
    :func:`~isegm.inference.sample_store.run_settings`' dataset, checkpoint and device."""
    from isegm.inference.sample_store import SampleStore, run_settings

    skip = ("model_name", "checkpoints", "table_path", "results_path", "shards", "datasets", "max_samples")
    settings = {k: v for k, v in results.items() if k not in skip}
    return SampleStore(path, run_settings(dataset_name, dataset, checkpoint_path, device, **settings), resume=True)


def checkpoint_logs_path(checkpoint, logs_root, exps_dir=None):
    """Where the results of one ``--checkpoint`` go, so that two runs' ``last_checkpoint.pth`` never share a folder.

    RITM writes every ``--checkpoint`` run to ``logs_root/others/<checkpoint stem>``; that layout is kept for
    checkpoints that are not in an experiment's ``checkpoints/`` folder (released weights, ``weights/*.pth``).
    A checkpoint ``EXP/checkpoints/NAME.pth`` is written where ``--exp-path EXP:NAME`` writes: under
    ``logs_root/<EXP relative to exps_dir>`` when ``EXP`` is inside ``exps_dir``, else under
    ``logs_root/others/<EXP folder name>``, with file names prefixed ``NAME_``.

    Args:
        checkpoint: the resolved checkpoint path.
        logs_root: the evaluation logs root.
        exps_dir: EXPS_PATH, or None.

    Returns:
        ``(logs_path, logs_prefix)``: the folder and the file-name prefix ("" for RITM's layout).
    """
    checkpoint = Path(checkpoint)
    logs_root = Path(logs_root)
    if checkpoint.parent.name != "checkpoints":
        return logs_root / "others" / checkpoint.stem, ""
    exp_folder = checkpoint.parent.parent.resolve()
    if exps_dir:
        try:
            return logs_root / exp_folder.relative_to(Path(exps_dir).resolve()), checkpoint.stem
        except ValueError:
            pass
    return logs_root / "others" / exp_folder.name, checkpoint.stem


def evaluate(settings: EvalSettings, dataset_paths: Mapping, device, *, checkpoint: str = "", exp_path: str = "",
             models_dir=None, exps_dir=None, logs_root=None, model_name: Optional[str] = None,
             load_model: Optional[Callable] = None, echo: Optional[Callable[[str], None]] = None,
             predictor=None, resume: bool = False) -> dict:
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
            ``logs_root/others/<checkpoint stem>`` or ``logs_root/<experiment>`` (see
            :func:`checkpoint_logs_path`).
        model_name, load_model, echo: see :func:`run_evaluation`.
        predictor: a predictor built outside (see :func:`run_evaluation`); ``checkpoint`` is then only its
            label (not resolved), results go to ``logs_root/others/<label stem>``.
        resume: keep finished samples and continue a stopped run (see :func:`run_evaluation`).

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
        logs_path, logs_prefix = checkpoint_logs_path(checkpoints[0], logs_root, exps_dir)
    if settings.iou_analysis and len(checkpoints) != 1:
        raise UserError(f"--iou-analysis needs a single checkpoint, got {len(checkpoints)}")
    datasets = {name: get_eval_dataset(name, path) for name, path in specs.items()}
    return run_evaluation(checkpoints, datasets, settings, device, logs_path, logs_prefix=logs_prefix,
                          model_name=model_name, load_model=load_model, echo=echo, predictor=predictor,
                          resume=resume)
