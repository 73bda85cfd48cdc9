"""Reporting of NoC evaluation results: metrics summary, RITM-style table, results json, npy, plots.

Files are written atomically through :mod:`isegm.io` (temp file + fsync + rename).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Sequence

import numpy as np

from isegm import metrics as M
from isegm.io import atomic_write, atomic_write_json, atomic_write_text

__all__ = ["summarize", "format_table_header", "format_table_row", "miou_string", "write_results_json",
           "write_ious_npy", "append_text", "save_iou_plot", "prediction_vis_callback", "TABLE_COLUMNS"]

TABLE_COLUMNS = (("BRS Type", 13), ("Dataset", 11), ("NoC@80%", 9), ("NoC@85%", 9), ("NoC@90%", 9),
                 ("NoF@85%", 9), ("NoF@90%", 9), ("SPC,s", 7), ("Time", 9), ("Samples", 9), ("Skipped", 9))


def summarize(all_ious: Sequence, elapsed_time: float, records: Sequence[dict], n_clicks: int,
              target_iou: float) -> dict:
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
        target outside 80/85/90. With strokes or a first box (records with ``interactions``), NoC/NoF
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


def format_table_header(model_name=None) -> str:
    """RITM's table header (with a title line when ``model_name`` is given)."""
    header = "|" + "|".join(f"{name:^{width}}" for name, width in TABLE_COLUMNS) + "|"
    line = "-" * len(header)
    title = f"Eval results for model: {model_name}\n" if model_name else ""
    return f"{title}{line}\n{header}\n{line}"


def format_table_row(row_name: str, dataset_name: str, summary: dict, n_clicks: int) -> str:
    """One table row from :func:`summarize`; skipped / converted inputs are named after the row."""
    def num(value, width, fmt=".2f"):
        return f"{value:^{width}{fmt}}" if value is not None else f"{'?':^{width}}"

    cells = [f"{row_name:^13}", f"{dataset_name:^11}",
             num(summary["NoC@80"], 9), num(summary["NoC@85"], 9), num(summary["NoC@90"], 9),
             num(summary["NoF@85"], 9, "d"), num(summary["NoF@90"], 9, "d"),
             f"{summary['spc']:^7.3f}", f"{str(timedelta(seconds=int(summary['elapsed_time']))):^9}",
             f"{summary['n_samples']:^9d}", f"{summary['n_skipped']:^9d}"]
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
