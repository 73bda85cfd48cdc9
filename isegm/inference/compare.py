"""Several predictors (any family: ritm, unet, sam, grabcut) on the same datasets in one run: one markdown
table and one mIoU-vs-clicks plot with a line per model (what ``scripts/compare_models.py`` runs).

Every model runs RITM's NoC protocol (:func:`isegm.inference.evaluation.evaluate_dataset`) with all
``n_clicks`` clicks on every sample (no early stop, as RITM's ``--iou-analysis``), so the mIoU curve is defined
at every click; NoC / NoF are then read from the per-click IoUs exactly as with early stopping (the first
click reaching the threshold). RITM / U-Net models get the NoBRS predictor with the evaluation's zoom-in
for each dataset (``eval_mode``), as ``scripts/evaluate_model.py`` builds it.

The table's columns are :data:`COLUMNS`, each computed from one :class:`ModelRun` (the per-sample results);
a new metric is one more entry there. Dice and Boundary IoU (Cheng et al., CVPR 2021) come from the per-click
scores of :class:`~isegm.inference.evaluation.ClickScorer`. With stochastic clicks (RClicks protocol,
:class:`~isegm.inference.evaluation.StochasticSpec`) each sample is also run ``repeats`` times with clicks
scattered around the standard one, stopping at IoU 0.90 (the table's highest NoC threshold, so their NoC is
exact), and :data:`STOCHASTIC_COLUMNS` give NoC@85/90 as mean ± std over the repeats.

Every finished sample of every (model, dataset) run is kept in ``out_dir/runs/<model>@<dataset>.jsonl``
(:class:`~isegm.inference.sample_store.SampleStore`): a comparison stopped part way (hours of classic GrabCut)
continues with ``resume=True`` from the sample it stopped at, and a model added to a finished comparison runs
alone while the others' samples are read back; the result equals one uninterrupted run.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence

import numpy as np

from isegm import metrics as M
from isegm.errors import UserError
from isegm.inference.predictors.families import MODEL_FAMILIES, ModelSpec, parse_model_spec

logger = logging.getLogger(__name__)

__all__ = ["ModelRun", "Column", "COLUMNS", "STOCHASTIC_COLUMNS", "parse_model_args", "compare_models", "format_markdown_table",
           "save_miou_plot"]


@dataclass
class ModelRun:
    """One model on one dataset.

    Attributes:
        model: the model's name (table row, plot legend).
        spec: its :class:`~isegm.inference.predictors.families.ModelSpec`.
        dataset: the dataset's registry name.
        n_clicks: clicks per sample.
        all_ious: per evaluated sample the (n_clicks,) float32 IoU after each click.
        elapsed_time: seconds of the whole dataset loop (data loading included, as RITM's SPC).
        records: :func:`~isegm.inference.evaluation.evaluate_dataset` records (one per dataset index).
        stochastic: :func:`~isegm.inference.reporting.stochastic_summary` of the stochastic-click repeats, or
            None when they were not run.
    """

    model: str
    spec: ModelSpec
    dataset: str
    n_clicks: int
    all_ious: List[np.ndarray]
    elapsed_time: float
    records: List[dict] = field(default_factory=list)
    stochastic: Optional[dict] = None


@dataclass(frozen=True)
class Column:
    """A table column: ``header``, ``value(run)`` -> number or text (None: '?'), ``fmt`` for it."""

    header: str
    value: Callable[[ModelRun], Optional[float]]
    fmt: str = ".2f"


def _noc(thr: float, nof: bool = False):
    def value(run: ModelRun):
        if not run.all_ious:
            return None
        noc, nof_count = M.noc_nof(run.all_ious, [thr], max_clicks=run.n_clicks)
        return nof_count[0] if nof else noc[0]
    return value


def _miou(k: int):
    def value(run: ModelRun):
        if not run.all_ious or k > run.n_clicks:
            return None
        return float(M.miou_curve(run.all_ious, run.n_clicks)[k - 1])
    return value


def _score_at(name: str, k: int):
    """Mean over the evaluated samples of a per-click score (``dice``, ``biou``, ...) after click k."""
    def value(run: ModelRun):
        values = [r["metrics"][name][k - 1] for r in run.records
                  if not r.get("skipped") and len(r.get("metrics", {}).get(name, ())) >= k]
        if k > run.n_clicks or not values or len(values) != len(run.all_ious):
            return None
        return float(np.mean(values))
    return value


def _stochastic_noc(pct: int):
    """'mean ± std' of the stochastic NoC over the repeats (None when they did not run)."""
    def value(run: ModelRun):
        stats = (run.stochastic or {}).get(f"NoC@{pct}")
        if not stats or stats.get("mean") is None:
            return None
        return f"{stats['mean']:.2f} ± {stats['std']:.2f}"
    return value


def _spc(run: ModelRun):
    return M.time_per_click(run.all_ious, run.elapsed_time)[0] if run.all_ious else None


#: The comparison table's metric columns, in order (after Model and Dataset).
COLUMNS = (
    Column("NoC@85", _noc(0.85)),
    Column("NoC@90", _noc(0.90)),
    Column("NoF@85", _noc(0.85, nof=True), "d"),
    Column("NoF@90", _noc(0.90, nof=True), "d"),
    Column("mIoU@1", _miou(1), ".4f"),
    Column("mIoU@5", _miou(5), ".4f"),
    Column("Dice@5", _score_at("dice", 5), ".4f"),
    Column("bIoU@5", _score_at("biou", 5), ".4f"),
    Column("SPC,s", _spc, ".3f"),
    Column("Samples", lambda run: len(run.all_ious), "d"),
)

#: Appended to :data:`COLUMNS` when stochastic clicks run: NoC under RClicks-style clicks, mean ± std.
STOCHASTIC_COLUMNS = (
    Column("sNoC@85", _stochastic_noc(85), "s"),
    Column("sNoC@90", _stochastic_noc(90), "s"),
)

#: the stochastic repeats stop here: the highest NoC threshold of the table
STOCHASTIC_STOP_IOU = 0.90


def parse_model_args(items: Sequence[str]) -> dict:
    """``['NAME=SPEC', ...]`` -> ``{name: ModelSpec}`` in the given order (specs: see
    :func:`~isegm.inference.predictors.families.parse_model_spec`).

    Raises:
        UserError: no model, an item without ``=`` or with an empty name, a repeated name, a bad spec.
    """
    models = {}
    for item in items:
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--model {item!r}: expected NAME=SPEC, e.g. hrnet=ritm:weights/model.pth or gc=grabcut")
        if name in models:
            raise UserError(f"--model {item!r}: the name {name!r} is given twice")
        models[name] = parse_model_spec(spec)
    if not models:
        raise UserError("no model to compare (give --model NAME=SPEC, repeatable)")
    return models


def compare_models(models: Mapping[str, ModelSpec], datasets: Mapping, device, out_dir, *, n_clicks: int = 20,
                   eval_mode: str = "cvpr", pred_thr: float = 0.49, max_samples: Optional[int] = None,
                   progress: bool = True, columns: Optional[Sequence[Column]] = None,
                   stochastic=None, echo: Optional[Callable[[str], None]] = None, resume: bool = False) -> dict:
    """Evaluate every model on every dataset; write ``compare.md`` (table), ``compare_miou.png`` (plot) and
    ``compare_results.json`` (per-sample records) under ``out_dir``, each atomically.

    Args:
        models: ``{name: ModelSpec}`` (e.g. from :func:`parse_model_args`).
        datasets: ``{registry name: dataset}`` (built, e.g. with :func:`isegm.data.registry.get_eval_dataset`).
        device: torch device.
        out_dir: output folder (created).
        n_clicks: clicks per sample (>= 1), all of them run.
        eval_mode: zoom-in of the ritm / unet predictors ('cvpr' or 'fixed<N>').
        pred_thr: probability threshold of the masks.
        max_samples: only the first N samples of each dataset.
        progress: tqdm bars.
        columns: the table's metric columns (default :data:`COLUMNS`, plus :data:`STOCHASTIC_COLUMNS` with
            ``stochastic``).
        stochastic: a :class:`~isegm.inference.evaluation.StochasticSpec`: after each sample's standard run,
            its repeats with stochastic clicks, each stopping at IoU :data:`STOCHASTIC_STOP_IOU`. None: none.
        echo: called with each finished table row (e.g. ``print``).
        resume: continue from the samples kept in ``out_dir/runs/`` by an earlier call with the same settings
            (see the module docstring); False refuses an ``out_dir`` that holds such samples.

    Returns:
        ``{'runs': [ModelRun, ...], 'table_path', 'plot_path', 'results_path', 'table'}``.

    Raises:
        UserError: bad eval mode, ``n_clicks`` < 1, loader errors (named file), no model or dataset; kept samples
            in ``out_dir/runs/`` without ``resume``, or written with other settings (the file and the settings
            are named).
    """
    from isegm.inference.reporting import stochastic_summary
    from isegm.inference.sample_store import SampleStore, evaluate_with_store
    from isegm.inference.predictors.families import get_family_predictor, load_family_model
    from isegm.inference.utils import get_eval_zoom_in_params
    from isegm.io import atomic_write_json, atomic_write_text, to_plain

    if isinstance(n_clicks, bool) or int(n_clicks) != n_clicks or n_clicks < 1:
        raise UserError(f"n_clicks {n_clicks!r}: expected an integer >= 1")
    if not models or not datasets:
        raise UserError("nothing to compare: give at least one model and one dataset")
    for name in datasets:
        get_eval_zoom_in_params(eval_mode, name)
    if stochastic is not None:
        stochastic = replace(stochastic, stop_iou=STOCHASTIC_STOP_IOU)
    if columns is None:
        columns = COLUMNS + (STOCHASTIC_COLUMNS if stochastic is not None else ())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    loaded = {}
    for name, spec in models.items():  # every checkpoint is checked before anything runs
        if spec.family in MODEL_FAMILIES:
            loaded[name] = load_family_model(spec.family, spec.checkpoint, device)
        else:
            loaded[name] = get_family_predictor(spec, device)
    runs = []
    for dataset_name, dataset in datasets.items():
        for name, spec in models.items():
            if spec.family in MODEL_FAMILIES:
                predictor = get_family_predictor(spec, device, model=loaded[name], prob_thresh=pred_thr,
                                                 zoom_in_params=get_eval_zoom_in_params(eval_mode, dataset_name))
            else:
                predictor = loaded[name]
            store = SampleStore(out_dir / "runs" / f"{_file_part(name)}@{_file_part(dataset_name)}.jsonl",
                                _run_settings(name, spec, dataset_name, dataset, device, n_clicks, eval_mode,
                                              pred_thr, stochastic), resume=resume)
            all_ious, elapsed, records = evaluate_with_store(dataset, predictor, store, progress=progress,
                                                             max_samples=max_samples, pred_thr=pred_thr,
                                                             max_iou_thr=1.01, min_clicks=1, max_clicks=n_clicks,
                                                             boundary_iou=True, stochastic=stochastic)
            summary = (stochastic_summary(records, int(n_clicks), STOCHASTIC_STOP_IOU, stochastic.sigma,
                                          stochastic.repeats, stochastic.seed) if stochastic is not None else None)
            run = ModelRun(name, spec, dataset_name, int(n_clicks), all_ious, elapsed, records, summary)
            runs.append(run)
            if echo is not None:
                echo(format_markdown_table([run], columns, header=False))

    table = format_markdown_table(runs, columns)
    table_path = atomic_write_text(out_dir / "compare.md", table + "\n")
    plot_path = save_miou_plot(out_dir / "compare_miou.png", runs)
    results = {
        "n_clicks": int(n_clicks), "eval_mode": eval_mode, "pred_thr": pred_thr, "max_samples": max_samples,
        "stochastic": (None if stochastic is None else
                       {"sigma": stochastic.sigma, "repeats": stochastic.repeats, "seed": stochastic.seed,
                        "stop_iou": stochastic.stop_iou}),
        "models": {name: {"family": s.family, "checkpoint": s.checkpoint, "variant": s.variant}
                   for name, s in models.items()},
        "runs": [{"model": r.model, "dataset": r.dataset, "elapsed_time": r.elapsed_time,
                  "metrics": {c.header: c.value(r) for c in columns},
                  "stochastic": r.stochastic,
                  "miou_curve": M.miou_curve(r.all_ious, r.n_clicks).tolist() if r.all_ious else [],
                  "samples": r.records} for r in runs],
    }
    results_path = atomic_write_json(out_dir / "compare_results.json", to_plain(results))
    return {"runs": runs, "table": table, "table_path": table_path, "plot_path": plot_path,
            "results_path": results_path}


def _file_part(name: str) -> str:
    """``name`` with every character but letters, digits, '.', '_' and '-' replaced by '_' (a file-name part)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)) or "_"


def _run_settings(name, spec: ModelSpec, dataset_name, dataset, device, n_clicks, eval_mode, pred_thr,
                  stochastic) -> dict:
    """What a kept sample of one (model, dataset) run depends on: a resumed run must match all of it."""
    from isegm.inference.sample_store import run_settings

    return run_settings(dataset_name, dataset, spec.checkpoint, device, model=name, family=spec.family,
                        variant=spec.variant, n_clicks=int(n_clicks), eval_mode=eval_mode, pred_thr=float(pred_thr),
                        boundary_iou=True,
                        stochastic=(None if stochastic is None else
                                    {"sigma": stochastic.sigma, "repeats": stochastic.repeats,
                                     "seed": stochastic.seed, "stop_iou": stochastic.stop_iou}))


def format_markdown_table(runs: Sequence[ModelRun], columns: Sequence[Column] = COLUMNS,
                          header: bool = True) -> str:
    """A markdown table, one row per run: Model | Dataset | one cell per column ('?' where undefined)."""
    def cell(column, run):
        value = column.value(run)
        return "?" if value is None else format(value, column.fmt)

    lines = []
    if header:
        heads = ["Model", "Dataset"] + [c.header for c in columns]
        lines += ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
    for run in runs:
        lines.append("| " + " | ".join([run.model, run.dataset] + [cell(c, run) for c in columns]) + " |")
    return "\n".join(lines)


def save_miou_plot(path, runs: Sequence[ModelRun]) -> Path:
    """mIoU vs. clicks, one panel per dataset and one line per model, as PNG (Agg canvas, atomic)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from isegm.io import atomic_write

    dataset_names = list(dict.fromkeys(r.dataset for r in runs))
    fig = Figure(figsize=(6 * len(dataset_names), 4.5))
    FigureCanvasAgg(fig)
    for i, dataset_name in enumerate(dataset_names):
        ax = fig.add_subplot(1, len(dataset_names), i + 1)
        for run in runs:
            if run.dataset != dataset_name or not run.all_ious:
                continue
            curve = M.miou_curve(run.all_ious, run.n_clicks)
            ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", markersize=3, linewidth=2, label=run.model)
        ax.set_xlabel("Number of clicks")
        ax.set_ylabel("mIoU")
        ax.set_title(f"mIoU vs. clicks on {dataset_name}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), make_parents=True)
