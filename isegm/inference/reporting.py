"""Reporting of NoC evaluation results: metrics summary, RITM-style table, results json, npy, plots.

Files are written atomically through :mod:`isegm.io` (temp file + fsync + rename).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Sequence

import numpy as np

from isegm import metrics as M
from isegm.errors import UserError
from isegm.io import atomic_write, atomic_write_json, atomic_write_text

__all__ = ["summarize", "format_table_header", "format_table_row", "miou_string", "write_results_json",
           "write_ious_npy", "append_text", "save_iou_plot", "prediction_vis_callback", "TABLE_COLUMNS",
           "METRIC_LABELS", "parse_metric_columns", "metric_column_label", "stochastic_summary", "write_metric_npys",
           "triplet_callback"]

TABLE_COLUMNS = (("BRS Type", 13), ("Dataset", 11), ("NoC@80%", 9), ("NoC@85%", 9), ("NoC@90%", 9),
                 ("NoF@85%", 9), ("NoF@90%", 9), ("SPC,s", 7), ("Time", 9), ("Samples", 9), ("Skipped", 9))


# --metrics names -> table label; "iou" is the IoU the NoC uses, the others come from ClickScorer
METRIC_LABELS = {"iou": "IoU", "dice": "Dice", "biou": "bIoU", "precision": "Prec", "recall": "Rec",
                 "accuracy": "Acc"}


def parse_metric_columns(text: str, default_clicks: Sequence[int] = (5,)) -> tuple:
    """``--metrics`` text -> table columns ``((name, k), ...)``.

    Each comma-separated item is a name of :data:`METRIC_LABELS` (case-insensitive), alone (one
    column per click of ``default_clicks``) or as ``name@k`` (k >= 1). '' -> no extra column.

    Raises:
        UserError: an unknown name or a bad click number (one line naming it).
    """
    columns = []
    for item in (x.strip() for x in str(text or "").split(",")):
        if not item:
            continue
        name, sep, k = item.partition("@")
        name = name.strip().lower()
        if name not in METRIC_LABELS:
            raise UserError(f"--metrics {item!r}: unknown metric; expected one of {', '.join(METRIC_LABELS)}"
                            f" (optionally @k, e.g. dice@5)")
        if sep:
            if not k.strip().isdigit() or int(k) < 1:
                raise UserError(f"--metrics {item!r}: expected name@k with a click number k >= 1")
            clicks = [int(k)]
        else:
            clicks = list(default_clicks)
        for click in clicks:
            if (name, click) not in columns:
                columns.append((name, int(click)))
    return tuple(columns)


def metric_column_label(name: str, k: int) -> str:
    """Table label of a metric column, e.g. ``Dice@5``."""
    return f"{METRIC_LABELS[name]}@{k}"


def _metric_values(records: Sequence[dict], all_ious: Sequence, name: str) -> list:
    if name == "iou":
        return list(all_ious)
    return [r["metrics"][name] for r in records if not r["skipped"] and name in r.get("metrics", {})]


def stochastic_summary(records: Sequence[dict], n_clicks: int, target_iou: float, sigma: float, repeats: int,
                       seed: int) -> dict:
    """NoC@85/90 (and NoF) under stochastic clicks: mean, std, 5-95 % range over the repeats.

    Per dataset: for each repeat the NoC of every evaluated sample is averaged (as the standard
    NoC); the figures are the mean, the standard deviation (ddof=0) and the 5th / 95th percentiles
    (``np.percentile``, linear) of those R values. Per sample (written into each record as
    ``record["stochastic"]``): the same statistics of its R click counts. A threshold above the run's
    stopping IoU is left out (None).

    Args:
        records: :func:`~isegm.inference.evaluation.evaluate_dataset` records with ``stochastic_runs``.
        n_clicks: max clicks. target_iou: the stopping IoU. sigma, repeats, seed: echoed in the result.

    Returns:
        ``{"sigma", "repeats", "seed", "NoC@85", "NoC@90", "NoF@85", "NoF@90"}``; each NoC is
        ``{"mean", "std", "p5", "p95", "per_repeat"}`` (or None), each NoF the mean of the per-repeat
        counts.
    """
    def stats(values):
        values = np.asarray(values, dtype=np.float64)
        if not len(values):
            return {"mean": None, "std": None, "p5": None, "p95": None, "per_repeat": []}
        p5, p95 = np.percentile(values, [5, 95])
        return {"mean": float(values.mean()), "std": float(values.std()), "p5": float(p5), "p95": float(p95),
                "per_repeat": values.tolist()}

    evaluated = [r for r in records if not r["skipped"] and r.get("stochastic_runs")]
    out = {"sigma": float(sigma), "repeats": int(repeats), "seed": int(seed)}
    per_sample = {r["index"]: {} for r in evaluated}
    for pct in (85, 90):
        key = f"NoC@{pct}"
        if pct / 100 > target_iou + 1e-9:
            out[key] = None
            out[f"NoF@{pct}"] = None
            continue
        thr = pct / 100
        table = np.array([[M.noc(np.asarray(run["ious"], np.float32), thr, n_clicks) for run in r["stochastic_runs"]]
                          for r in evaluated], dtype=np.float64).reshape(len(evaluated), -1)
        out[key] = stats(table.mean(axis=0) if len(evaluated) else [])
        out[f"NoF@{pct}"] = float((table == n_clicks).sum(axis=0).mean()) if len(evaluated) else None
        for r, row in zip(evaluated, table):
            per_sample[r["index"]][key] = stats(row)
    for r in evaluated:
        r["stochastic"] = per_sample[r["index"]]
    return out


def summarize(all_ious: Sequence, elapsed_time: float, records: Sequence[dict], n_clicks: int,
              target_iou: float, metric_columns: Sequence = (), stochastic: dict | None = None) -> dict:
    """NoC / NoF / timing summary of one dataset run (RITM's definitions, :mod:`isegm.metrics`).

    Args:
        all_ious: per evaluated sample the (n_i,) float32 IoU after each click.
        elapsed_time: seconds of the whole loop.
        records: :func:`isegm.inference.evaluation.evaluate_dataset` records (one per dataset index).
        n_clicks: the maximum clicks (NoC of a sample that never reaches a threshold).
        target_iou: the stopping IoU; thresholds 0.80.. up to min(0.95, target_iou) are reported.

    Returns:
        dict with ``NoC@80/85/90``, ``NoF@80/85/90`` (None when not computed), ``iou_thrs``, ``noc``,
        ``nof`` lists, ``spc`` (seconds per click), ``elapsed_time``, ``n_samples``, ``n_skipped``,
        ``skipped`` (list of {index, sample_id, reason}), ``n_converted`` / ``converted`` (inputs read
        with a conversion, e.g. alpha dropped) and ``n_total_clicks``; plus ``noc_target`` for a
        target outside 80/85/90; ``n_resized`` / ``resized`` (samples shrunk by ``--resize``:
        index, sample_id, from, to); ``metric_curves`` (per score, the mean after clicks
        1..n_clicks, :func:`isegm.metrics.metric_curve`), ``metrics_at`` (``{label: value}`` of
        ``metric_columns``, pairs (name, k)), and ``stochastic`` when given (see
        :func:`stochastic_summary`). With strokes or a first box (records with ``interactions``), NoC/NoF
        count interactions, and ``nop`` (per threshold: mean clicks the model was given by the interaction
        that reached it, all of a sample's when none did), ``n_total_points`` and ``interaction_types`` are added.
    """
    iou_thrs = M.noc_thresholds(target_iou)
    noc_list, nof_list = M.noc_nof(all_ious, iou_thrs=iou_thrs, max_clicks=n_clicks)
    spc, _ = M.time_per_click(all_ious, elapsed_time)
    skipped = [{"index": r["index"], "sample_id": r["sample_id"], "reason": r.get("reason", "")}
               for r in records if r["skipped"]]
    converted = [{"index": r["index"], "sample_id": r["sample_id"], "notes": r["notes"]}
                 for r in records if r.get("notes")]
    out = {
        "iou_thrs": iou_thrs, "noc": noc_list, "nof": nof_list, "spc": spc,
        "elapsed_time": elapsed_time, "n_samples": len(all_ious),
        "n_skipped": len(skipped), "skipped": skipped,
        "n_converted": len(converted), "converted": converted,
        "n_total_clicks": int(sum(len(x) for x in all_ious)),
    }
    resized = [{"index": r["index"], "sample_id": r["sample_id"], **r["resized"]} for r in records if r.get("resized")]
    out["n_resized"], out["resized"] = len(resized), resized
    names = ["iou"] + [n for n in METRIC_LABELS if n != "iou"]
    curves = {}
    for name in names:
        values = _metric_values(records, all_ious, name)
        if values and len(values) == len(all_ious):
            curves[name] = M.metric_curve(values, n_clicks).tolist()
    out["metric_curves"] = curves
    out["metrics_at"] = {metric_column_label(name, k): (curves[name][k - 1] if name in curves and k <= n_clicks
                                                        else None) for name, k in metric_columns}
    if stochastic is not None:
        out["stochastic"] = stochastic
    for pct, index in ((80, 0), (85, 1), (90, 2)):
        out[f"NoC@{pct}"] = noc_list[index] if len(noc_list) > index else None
        out[f"NoF@{pct}"] = nof_list[index] if len(nof_list) > index else None
    if int(round(target_iou * 100)) not in (80, 85, 90) and target_iou <= 1.0:
        noc, nof = M.noc_nof(all_ious, [target_iou], max_clicks=n_clicks)
        out["noc_target"] = {"iou": target_iou, "noc": noc[0], "nof": nof[0]}
    logged = [r["interactions"] for r in records if not r["skipped"] and "interactions" in r]
    if logged and len(logged) == len(all_ious):
        # strokes / a first box: NoC counts interactions; NoP counts the clicks the model was given by then
        points = [np.array([step["n_points"] for step in log]) for log in logged]
        out["nop"] = [float(np.mean([p[:M.noc(ious, thr, n_clicks)].sum() for p, ious in zip(points, all_ious)]))
                      for thr in iou_thrs]
        out["n_total_points"] = int(sum(p.sum() for p in points))
        out["interaction_types"] = sorted({step["type"] for log in logged for step in log})
    return out


def _extra_columns(metric_columns=(), stochastic: bool = False) -> list:
    columns = [(metric_column_label(name, k), 9) for name, k in metric_columns]
    if stochastic:
        columns += [("sNoC@85", 11), ("sNoC@90", 11)]
    return columns


def format_table_header(model_name=None, metric_columns: Sequence = (), stochastic: bool = False) -> str:
    """RITM's table header (with a title line when ``model_name`` is given).

    ``metric_columns`` ((name, k) pairs, :func:`parse_metric_columns`) and ``stochastic`` (the
    sNoC@85 / sNoC@90 columns, mean±std over the repeats) append columns after RITM's; without
    them the header is RITM's exactly.
    """
    columns = list(TABLE_COLUMNS) + _extra_columns(metric_columns, stochastic)
    header = "|" + "|".join(f"{name:^{width}}" for name, width in columns) + "|"
    line = "-" * len(header)
    title = f"Eval results for model: {model_name}\n" if model_name else ""
    return f"{title}{line}\n{header}\n{line}"


def format_table_row(row_name: str, dataset_name: str, summary: dict, n_clicks: int,
                     metric_columns: Sequence = (), stochastic: bool = False) -> str:
    """One table row from :func:`summarize` (extra columns as :func:`format_table_header`)."""
    def num(value, width, fmt=".2f"):
        return f"{value:^{width}{fmt}}" if value is not None else f"{'?':^{width}}"

    cells = [f"{row_name:^13}", f"{dataset_name:^11}",
             num(summary["NoC@80"], 9), num(summary["NoC@85"], 9), num(summary["NoC@90"], 9),
             num(summary["NoF@85"], 9, "d"), num(summary["NoF@90"], 9, "d"),
             f"{summary['spc']:^7.3f}", f"{str(timedelta(seconds=int(summary['elapsed_time']))):^9}",
             f"{summary['n_samples']:^9d}", f"{summary['n_skipped']:^9d}"]
    for name, k in metric_columns:
        cells.append(num(summary.get("metrics_at", {}).get(metric_column_label(name, k)), 9, ".4f"))
    if stochastic:
        for key in ("NoC@85", "NoC@90"):
            stat = (summary.get("stochastic") or {}).get(key)
            text = f"{stat['mean']:.2f}±{stat['std']:.2f}" if stat and stat["mean"] is not None else "?"
            cells.append(f"{text:^11}")
    row = "|" + "|".join(cells) + "|"
    if "noc_target" in summary:
        t = summary["noc_target"]
        row += f" NoC@{t['iou']:.1%} = {t['noc']:.2f}; >={n_clicks}@{t['iou']:.1%} = {t['nof']}"
    return row


def input_notes(summary: dict) -> str:
    """Lines naming every skipped and converted input of a run, and the click counts behind the NoC of
    stroke / box-first runs ('' when none)."""
    lines = []
    if summary.get("nop"):
        pcts = ", ".join(f"NoP@{int(round(t * 100))} {v:.2f}" for t, v in zip(summary["iou_thrs"], summary["nop"]))
        lines.append(f"  interactions ({' + '.join(summary['interaction_types'])}) counted as NoC; clicks given "
                     f"to the model: {pcts} ({summary['n_total_points']} in all)")
    lines += [f"  skipped {s['sample_id'] if s['sample_id'] is not None else s['index']}: {s['reason']}"
             for s in summary.get("skipped", [])]
    lines += [f"  converted {c['sample_id'] if c['sample_id'] is not None else c['index']}: {'; '.join(c['notes'])}"
              for c in summary.get("converted", [])]
    if summary.get("n_resized"):
        lines.append(f"  resized {summary['n_resized']} of {summary['n_samples']} samples to fit --resize "
                     f"(listed under 'resized' in the results json)")
    stoch = summary.get("stochastic")
    if stoch:
        parts = [f"{key} {st['mean']:.2f} ± {st['std']:.2f} [5-95 %: {st['p5']:.2f}, {st['p95']:.2f}]"
                 for key in ("NoC@85", "NoC@90") if (st := stoch.get(key)) and st["mean"] is not None]
        lines.append(f"  stochastic clicks (sigma {stoch['sigma']:g} px, {stoch['repeats']} repeats, seed "
                     f"{stoch['seed']}): " + "; ".join(parts))
    return "\n".join(lines)


def miou_string(all_ious: Sequence) -> str:
    """RITM's --print-ious suffix: mIoU@1,2,3,5,10,20 over the clicks all samples have."""
    return " ".join(f"mIoU@{k}={v:.2%};" for k, v in M.miou_at(all_ious).items())


def write_results_json(path: Path, results: dict) -> Path:
    """Strict json (NaN -> null) written atomically (isegm.io.atomic_write_json)."""
    return atomic_write_json(path, results, make_parents=True)


def write_ious_npy(path: Path, all_ious: Sequence, n_clicks: int) -> Path:
    """(N, n_clicks) float32 per-click IoUs, NaN after a sample's last click (.npy, no pickle)."""
    array = M.pad_ious(all_ious, n_clicks)
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False), make_parents=True)


def write_metric_npys(stem_path: Path, records: Sequence[dict], n_clicks: int) -> dict:
    """Per-click score arrays next to the IoU npy: ``<stem>_<metric>.npy`` (N, n_clicks) float32 (NaN
    after a sample's last click) for each score in the records, and ``<stem>_confusion.npy`` (N,
    n_clicks, 4) int64 (tp, fp, fn, tn; -1 after the last click). Rows are the evaluated samples in
    order, as the IoU array's.

    Returns:
        ``{name: path}`` of the files written.
    """
    stem_path = Path(stem_path)
    evaluated = [r for r in records if not r["skipped"] and "metrics" in r]
    written = {}
    names = list(evaluated[0]["metrics"]) if evaluated else []
    for name in names:
        array = M.pad_ious([r["metrics"][name] for r in evaluated], n_clicks)
        path = stem_path.with_name(f"{stem_path.name}_{name}.npy")
        written[name] = str(atomic_write(path, lambda f, a=array: np.save(f, a, allow_pickle=False), make_parents=True))
    cm = np.full((len(evaluated), n_clicks, 4), -1, dtype=np.int64)
    for i, r in enumerate(evaluated):
        rows = np.asarray(r["confusion"], dtype=np.int64).reshape(-1, 4)[:n_clicks]
        cm[i, :len(rows)] = rows
    path = stem_path.with_name(f"{stem_path.name}_confusion.npy")
    written["confusion"] = str(atomic_write(path, lambda f: np.save(f, cm, allow_pickle=False), make_parents=True))
    return written


def append_text(path: Path, text: str) -> Path:
    """Append to a text log by rewriting it atomically."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    return atomic_write_text(path, old + text, make_parents=True)


def save_iou_plot(path: Path, curve: np.ndarray, dataset_name: str, model_name: str) -> Path:
    """mIoU(clicks) line plot as PNG (matplotlib Agg canvas, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    clicks = np.arange(1, len(curve) + 1)
    ax.plot(clicks, curve, marker="o", linewidth=2, label=model_name)
    ax.set_xlabel("Number of clicks")
    ax.set_ylabel("mIoU")
    ax.set_title(f"mIoU vs. clicks on {dataset_name}")
    ax.set_xticks(clicks if len(clicks) <= 20 else clicks[::max(1, len(clicks) // 20)])
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), make_parents=True)


def save_curves_plot(path: Path, curves: dict, xlabel: str, ylabel: str, title: str, x0: int = 0) -> Path:
    """One line per ``{label: values}`` entry (x = x0, x0 + 1, ...) as PNG (matplotlib Agg, atomic write)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, values in curves.items():
        ax.plot(np.arange(x0, x0 + len(values)), values, marker="o", linewidth=2, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100), make_parents=True)


def prediction_vis_callback(save_path: Path, prob_thresh: float):
    """Callback for evaluate_sample saving gt | prediction+clicks | probability map per click (JPEG)."""
    import cv2

    from isegm.utils.vis import draw_probmap, draw_with_blend_and_clicks

    save_path = Path(save_path)

    def callback(image, gt_mask, pred_probs, sample_id, click_indx, clicks_list):
        prob_map = draw_probmap(pred_probs)
        with_gt = draw_with_blend_and_clicks(image, gt_mask)
        with_pred = draw_with_blend_and_clicks(image, pred_probs > prob_thresh, clicks_list=clicks_list)
        canvas = np.concatenate((with_gt, with_pred, prob_map), axis=1)[:, :, ::-1]
        ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(canvas))
        if not ok:
            raise RuntimeError(f"could not encode the visualisation of sample {sample_id}")
        atomic_write(save_path / f"{sample_id}_{click_indx}.jpg", lambda f: f.write(buffer.tobytes()),
                     make_parents=True)

    return callback


def triplet_callback(save_path: Path, prob_thresh: float):
    """``sample_callback`` for :func:`~isegm.inference.evaluation.evaluate_dataset` writing one PNG per sample:
    input | ground truth | prediction after the last click, side by side (the MFP U-Net design's triplets).

    The ground truth is white on black with ignored pixels grey (128), the prediction is
    ``probs > prob_thresh`` white on black; the file is ``<save_path>/<sample id>.png`` (characters
    other than letters, digits, ``-_.`` replaced by ``_``), written with :func:`isegm.io.atomic_write`.
    """
    import re

    import cv2

    save_path = Path(save_path)

    def callback(image, gt_mask, pred_probs, record):
        gt = np.where(gt_mask == 1, 255, np.where(gt_mask == -1, 128, 0)).astype(np.uint8)
        pred = np.where(pred_probs > prob_thresh, 255, 0).astype(np.uint8)
        rgb = np.asarray(image, dtype=np.uint8)
        canvas = np.concatenate((rgb, np.repeat(gt[..., None], 3, 2), np.repeat(pred[..., None], 3, 2)), axis=1)
        ok, buffer = cv2.imencode(".png", np.ascontiguousarray(canvas[:, :, ::-1]))
        if not ok:
            raise RuntimeError(f"could not encode the triplet of sample {record['sample_id']}")
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(record["sample_id"] if record["sample_id"] is not None
                                                    else record["index"]))
        path = atomic_write(save_path / f"{name}.png", lambda f: f.write(buffer.tobytes()), make_parents=True)
        record["triplet_file"] = str(path)

    return callback
