#!/usr/bin/env python3
"""NoC evaluation of interactive segmentation models (RITM's protocol and command line).

Example:
    python scripts/evaluate_model.py NoBRS --checkpoint weights/coco_lvis_h18_itermask.pth \\
        --datasets GrabCut,Berkeley

For each dataset it prints NoC@80/85/90 (mean clicks to reach the IoU), NoF@85/90 (samples that
needed all ``--n-clicks`` clicks), SPC (seconds per click = evaluation time / clicks, as RITM),
the total time and the number of evaluated / skipped (empty-mask) samples, and writes under the logs
folder: the table (``*.txt``, appended), a results JSON and per-sample IoU arrays (``ious/*.npy``,
(N, n_clicks) float32, NaN after a sample's last click), plus with ``--iou-analysis`` the mIoU
curve (``plots/*.png``) and with ``--vis-preds`` per-click images (``predictions_vis/``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.inference import utils  # noqa: E402
from isegm.inference.evaluation import evaluate_dataset  # noqa: E402
from isegm.inference.predictors import PREDICTOR_MODES, check_brs_mode, get_predictor  # noqa: E402

logger = logging.getLogger("isegm.evaluate_model")

DATASET_PATH_FLAGS = {
    "grabcut_path": "GRABCUT_PATH",
    "berkeley_path": "BERKELEY_PATH",
    "davis_path": "DAVIS_PATH",
    "coco_mval_path": "COCO_MVAL_PATH",
    "sbd_path": "SBD_PATH",
    "pascalvoc_path": "PASCALVOC_PATH",
}


# ---------------------------------------------------------------------- arguments
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="NoC evaluation of an interactive segmentation model "
                                                 "(RITM protocol).")
    parser.add_argument("mode", choices=PREDICTOR_MODES,
                        help="Predictor mode. Only NoBRS is implemented; the BRS modes are refused.")
    group_ckpt = parser.add_mutually_exclusive_group(required=True)
    group_ckpt.add_argument("--checkpoint", type=str, default="",
                            help="Checkpoint path, or a name/prefix relative to INTERACTIVE_MODELS_PATH "
                                 "(extension optional; MODEL:NAME searches the MODEL* sub-folder).")
    group_ckpt.add_argument("--exp-path", type=str, default="",
                            help="Experiment folder relative to EXPS_PATH (prefix allowed); evaluates "
                                 "its checkpoints/*.pth, or those starting with P given as EXP:P.")
    parser.add_argument("--datasets", type=str, default="GrabCut,Berkeley",
                        help="Comma-separated datasets: " + ", ".join(utils.EVAL_DATASETS) + ".")

    group_device = parser.add_mutually_exclusive_group()
    group_device.add_argument("--gpus", type=str, default="0", help="ID of the GPU to use.")
    group_device.add_argument("--cpu", action="store_true", help="Run on the CPU.")

    group_iou = parser.add_mutually_exclusive_group()
    group_iou.add_argument("--target-iou", type=float, default=0.90,
                           help="Stop a sample at this IoU (NoC target; at least 0.8).")
    group_iou.add_argument("--iou-analysis", action="store_true",
                           help="Run all clicks (target IoU 1.01) and save the mIoU-per-click curve and plot.")

    parser.add_argument("--n-clicks", type=int, default=20, help="Maximum number of clicks per sample.")
    parser.add_argument("--min-n-clicks", type=int, default=1, help="Minimum number of clicks per sample.")
    parser.add_argument("--thresh", type=float, default=0.49, help="Probability threshold of the mask.")
    parser.add_argument("--clicks-limit", type=int, default=None,
                        help="Give the network only the first N clicks (-1 = --n-clicks).")
    parser.add_argument("--eval-mode", type=str, default="cvpr",
                        help="cvpr (zoom-in from the 2nd click, crop side 400; 600 on DAVIS) or fixed<N> "
                             "(zoom-in from the 1st click, crop resized to NxN), e.g. fixed400.")
    parser.add_argument("--max-size", type=int, default=None,
                        help="Limit the longest side of the network input (LimitLongestSide); default none.")

    parser.add_argument("--save-ious", action="store_true",
                        help="Kept for RITM compatibility: per-sample IoU arrays are always saved.")
    parser.add_argument("--print-ious", action="store_true",
                        help="Run all clicks and append mIoU@1,2,3,5,10,20 to the table row.")
    parser.add_argument("--vis-preds", action="store_true", help="Save a visualisation of every click.")
    parser.add_argument("--model-name", type=str, default=None, help="Model name used in plots.")
    parser.add_argument("--config-path", type=str, default="config.yml", help="Path to config.yml.")
    parser.add_argument("--logs-path", type=str, default="",
                        help="Output folder (default: EXPS_PATH/evaluation_logs).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a config.yml entry (repeatable), e.g. --set GRABCUT_PATH=/data/GrabCut.")
    parser.add_argument("--dataset-path", action="append", default=[], metavar="NAME=PATH",
                        help="Folder of one dataset by name (repeatable), e.g. --dataset-path DAVIS=/data/DAVIS.")
    for flag, key in DATASET_PATH_FLAGS.items():
        parser.add_argument("--" + flag.replace("_", "-"), type=str, default=None,
                            help=f"Dataset folder (overrides {key}).")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    return parser


def parse_args(argv=None):
    """Parse and validate the command line; returns (args, cfg)."""
    parser = build_parser()
    args = parser.parse_args(argv)

    try:
        check_brs_mode(args.mode)
    except NotImplementedError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")

    args.dataset_names = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in args.dataset_names if name not in utils.EVAL_DATASETS]
    if unknown or not args.dataset_names:
        parser.error(f"unknown dataset(s) {', '.join(unknown) or '(none given)'}; "
                     f"known datasets: {', '.join(utils.EVAL_DATASETS)}")
    try:
        utils.get_eval_zoom_in_params(args.eval_mode, "")
    except ValueError as exc:
        parser.error(str(exc))
    if args.n_clicks < 1 or args.min_n_clicks < 0:
        parser.error("--n-clicks must be >= 1 and --min-n-clicks >= 0")
    if args.max_size is not None and args.max_size < 1:
        parser.error("--max-size must be >= 1")
    if args.clicks_limit is not None and args.clicks_limit == -1:
        args.clicks_limit = args.n_clicks
    if args.clicks_limit is not None and args.clicks_limit < 1:
        parser.error("--clicks-limit must be >= 1 or -1")

    # RITM: IoU analysis / printing runs every click unless a minimum number of clicks is forced.
    if (args.iou_analysis or args.print_ious) and args.min_n_clicks <= 1:
        args.target_iou = 1.01
    else:
        args.target_iou = max(0.8, args.target_iou)

    try:
        cfg = _load_config(args)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))

    args.device = _select_device(args)
    return args, cfg


def _load_config(args) -> dict:
    from isegm.utils.config import load_config, parse_overrides

    overrides = parse_overrides(args.overrides)
    for item in args.dataset_path:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or name not in utils.EVAL_DATASETS:
            raise ValueError(f"--dataset-path {item!r}: expected NAME=PATH with NAME one of "
                             f"{', '.join(utils.EVAL_DATASETS)}")
        overrides[utils.EVAL_DATASETS[name][0]] = path.strip()
    for attr, key in DATASET_PATH_FLAGS.items():
        value = getattr(args, attr)
        if value is not None:
            overrides[key] = value
    return load_config(args.config_path, overrides)


def _select_device(args):
    import torch

    if args.cpu:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        logger.warning("CUDA is not available: evaluating on the CPU (pass --cpu to silence this)")
        return torch.device("cpu")
    return torch.device(f"cuda:{args.gpus.split(',')[0]}")


# ---------------------------------------------------------------------- checkpoints
def get_checkpoints_list_and_logs_path(args, cfg):
    """Checkpoints to evaluate, the output folder and a file-name prefix (RITM's layout).

    Raises:
        FileNotFoundError / ValueError: no or ambiguous checkpoints / experiment folders.
    """
    logs_root = Path(args.logs_path) if args.logs_path else None
    if logs_root is None:
        if not cfg.get("EXPS_PATH"):
            raise ValueError("no --logs-path given and EXPS_PATH is not set in the config")
        logs_root = Path(cfg["EXPS_PATH"]) / "evaluation_logs"
    args.logs_root = logs_root

    logs_prefix = ""
    if args.exp_path:
        if not cfg.get("EXPS_PATH"):
            raise ValueError("--exp-path needs EXPS_PATH in the config")
        exps_path = Path(cfg["EXPS_PATH"])
        rel_exp_path, _, checkpoint_prefix = args.exp_path.partition(":")
        exp_prefix = exps_path / rel_exp_path
        candidates = sorted(exp_prefix.parent.glob(exp_prefix.name + "*"))
        if len(candidates) != 1:
            raise ValueError(f"expected exactly one experiment folder {exp_prefix}*, found "
                             f"{[str(c) for c in candidates]}")
        exp_path = candidates[0]
        checkpoints = sorted((exp_path / "checkpoints").glob(checkpoint_prefix + "*.pth"), reverse=True)
        if not checkpoints:
            raise FileNotFoundError(f"no checkpoints {checkpoint_prefix}*.pth in {exp_path / 'checkpoints'}")
        if checkpoint_prefix:
            logs_prefix = checkpoints[0].stem if len(checkpoints) == 1 else f"all_{checkpoint_prefix}"
        else:
            logs_prefix = "all_checkpoints"
        logs_path = logs_root / exp_path.relative_to(exps_path)
    else:
        checkpoint = utils.find_checkpoint(cfg.get("INTERACTIVE_MODELS_PATH"), args.checkpoint)
        checkpoints = [Path(checkpoint)]
        logs_path = logs_root / "others" / checkpoints[0].stem
    return checkpoints, logs_path, logs_prefix


def load_model(checkpoint_path, device):
    """Load an ISModel checkpoint (isegm.model.load_is_model) in eval mode on ``device``."""
    from isegm.model import load_is_model

    return load_is_model(str(checkpoint_path), device=device, eval_mode=True)


def get_dataset(dataset_name, cfg):
    """The evaluation dataset by name (isegm.inference.utils.get_dataset)."""
    return utils.get_dataset(dataset_name, cfg)


# ---------------------------------------------------------------------- output
def _atomic_write_bytes(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: Path, data) -> None:
    """Write strict JSON (NaN -> null) atomically (temp file + os.replace)."""
    text = json.dumps(_json_safe(data), indent=2, allow_nan=False)
    _atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def write_npy(path: Path, array: np.ndarray) -> None:
    """Write a .npy (no pickle) atomically."""
    _atomic_write_bytes(path, lambda f: np.save(f, array, allow_pickle=False))


def append_text(path: Path, text: str) -> None:
    """Append to a text log by rewriting it atomically."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    _atomic_write_bytes(path, lambda f: f.write((old + text).encode("utf-8")))


def compute_metrics(all_ious, elapsed_time, records, n_clicks, target_iou):
    """NoC / NoF / timing summary of one dataset run (RITM's definitions)."""
    iou_thrs = utils.get_noc_thresholds(target_iou)
    noc_list, over_max_list = utils.compute_noc_metric(all_ious, iou_thrs=iou_thrs, max_clicks=n_clicks)
    mean_spc, mean_spi = utils.get_time_metrics(all_ious, elapsed_time)
    model_times = [t for r in records for t in r["times"]]
    metrics = {
        "iou_thrs": iou_thrs,
        "noc": noc_list,
        "nof": over_max_list,
        "spc": mean_spc,
        "spi": mean_spi,
        "spc_model": float(np.mean(model_times)) if model_times else float("nan"),
        "elapsed_time": elapsed_time,
        "n_samples": len(all_ious),
        "n_skipped": sum(1 for r in records if r["skipped"]),
        "n_total_clicks": int(sum(len(x) for x in all_ious)),
    }
    for pct, index in ((80, 0), (85, 1), (90, 2)):
        metrics[f"NoC@{pct}"] = noc_list[index] if len(noc_list) > index else None
        metrics[f"NoF@{pct}"] = over_max_list[index] if len(over_max_list) > index else None
    if int(round(target_iou * 100)) not in (80, 85, 90) and target_iou <= 1.0:
        noc, nof = utils.compute_noc_metric(all_ious, [target_iou], max_clicks=n_clicks)
        metrics["noc_target"] = {"iou": target_iou, "noc": noc[0], "nof": nof[0]}
    return metrics


TABLE_COLUMNS = (("BRS Type", 13), ("Dataset", 11), ("NoC@80%", 9), ("NoC@85%", 9), ("NoC@90%", 9),
                 ("NoF@85%", 9), ("NoF@90%", 9), ("SPC,s", 7), ("Time", 9), ("Samples", 9), ("Skipped", 9))


def format_table_header(model_name=None) -> str:
    header = "|" + "|".join(f"{name:^{width}}" for name, width in TABLE_COLUMNS) + "|"
    line = "-" * len(header)
    title = f"Eval results for model: {model_name}\n" if model_name else ""
    return f"{title}{line}\n{header}\n{line}"


def format_table_row(row_name, dataset_name, metrics, n_clicks) -> str:
    def num(value, width, fmt=".2f"):
        return f"{value:^{width}{fmt}}" if value is not None else f"{'?':^{width}}"

    cells = [f"{row_name:^13}", f"{dataset_name:^11}",
             num(metrics["NoC@80"], 9), num(metrics["NoC@85"], 9), num(metrics["NoC@90"], 9),
             num(metrics["NoF@85"], 9, "d"), num(metrics["NoF@90"], 9, "d"),
             f"{metrics['spc']:^7.3f}", f"{str(timedelta(seconds=int(metrics['elapsed_time']))):^9}",
             f"{metrics['n_samples']:^9d}", f"{metrics['n_skipped']:^9d}"]
    row = "|" + "|".join(cells) + "|"
    if "noc_target" in metrics:
        t = metrics["noc_target"]
        row += f" NoC@{t['iou']:.1%} = {t['noc']:.2f}; >={n_clicks}@{t['iou']:.1%} = {t['nof']}"
    return row


def miou_string(all_ious) -> str:
    """RITM's --print-ious suffix: mIoU@1,2,3,5,10,20 over the clicks all samples have."""
    if not all_ious:
        return ""
    min_num_clicks = min(len(x) for x in all_ious)
    mean_ious = np.array([x[:min_num_clicks] for x in all_ious]).mean(axis=0)
    return " ".join(f"mIoU@{k}={mean_ious[k - 1]:.2%};" for k in (1, 2, 3, 5, 10, 20) if k <= min_num_clicks)


def save_iou_plot(path: Path, curve: np.ndarray, dataset_name: str, model_name: str) -> None:
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
    _atomic_write_bytes(path, lambda f: fig.savefig(f, format="png", dpi=100))


def get_prediction_vis_callback(logs_path: Path, dataset_name: str, prob_thresh: float):
    """Callback for evaluate_sample that saves gt | prediction+clicks | probability map per click."""
    import cv2

    from isegm.utils.vis import draw_probmap, draw_with_blend_and_clicks

    save_path = logs_path / "predictions_vis" / dataset_name
    save_path.mkdir(parents=True, exist_ok=True)

    def callback(image, gt_mask, pred_probs, sample_id, click_indx, clicks_list):
        prob_map = draw_probmap(pred_probs)
        with_gt = draw_with_blend_and_clicks(image, gt_mask)
        with_pred = draw_with_blend_and_clicks(image, pred_probs > prob_thresh, clicks_list=clicks_list)
        canvas = np.concatenate((with_gt, with_pred, prob_map), axis=1)[:, :, ::-1]
        ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(canvas))
        if not ok:
            raise RuntimeError(f"could not encode the visualisation of sample {sample_id}")
        _atomic_write_bytes(save_path / f"{sample_id}_{click_indx}.jpg", lambda f: f.write(buffer.tobytes()))

    return callback


# ---------------------------------------------------------------------- main
def main(argv=None) -> dict:
    """Run the evaluation; returns ``{checkpoint stem: {dataset: metrics}}``."""
    args, cfg = parse_args(argv)
    try:
        checkpoints, logs_path, logs_prefix = get_checkpoints_list_and_logs_path(args, cfg)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    single_model_eval = len(checkpoints) == 1
    if args.iou_analysis and not single_model_eval:
        raise SystemExit("error: --iou-analysis needs a single checkpoint")
    logs_path.mkdir(parents=True, exist_ok=True)

    run_name = f"{args.eval_mode}_{args.mode}_{args.n_clicks}"
    name_prefix = f"{logs_prefix}_" if logs_prefix else ""
    model_name = args.model_name or (f"{logs_path.relative_to(args.logs_root)}:{logs_prefix}"
                                     if logs_prefix else logs_path.stem)
    table_path = logs_path / f"{name_prefix}{run_name}.txt"
    results_path = logs_path / f"{name_prefix}{run_name}_results.json"
    results = {
        "model_name": model_name,
        "mode": args.mode,
        "eval_mode": args.eval_mode,
        "n_clicks": args.n_clicks,
        "min_n_clicks": args.min_n_clicks,
        "target_iou": args.target_iou,
        "thresh": args.thresh,
        "max_size": args.max_size,
        "checkpoints": [str(c) for c in checkpoints],
        "datasets": {},
    }
    summary = {}
    header_printed = False

    for dataset_name in args.dataset_names:
        try:
            dataset = get_dataset(dataset_name, cfg)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"error: dataset {dataset_name}: {exc}") from None

        for checkpoint_path in checkpoints:
            model = load_model(checkpoint_path, args.device)
            predictor_params = {}
            if args.clicks_limit is not None:
                predictor_params["net_clicks_limit"] = args.clicks_limit
            predictor = get_predictor(model, args.mode, args.device, prob_thresh=args.thresh,
                                      zoom_in_params=utils.get_eval_zoom_in_params(args.eval_mode, dataset_name),
                                      max_size=args.max_size, predictor_params=predictor_params)
            callback = (get_prediction_vis_callback(logs_path, dataset_name, args.thresh)
                        if args.vis_preds else None)
            all_ious, elapsed_time, records = evaluate_dataset(
                dataset, predictor, progress=not args.no_progress, pred_thr=args.thresh,
                max_iou_thr=args.target_iou, min_clicks=args.min_n_clicks, max_clicks=args.n_clicks,
                callback=callback)

            row_name = args.mode if single_model_eval else checkpoint_path.stem
            metrics = compute_metrics(all_ious, elapsed_time, records, args.n_clicks, args.target_iou)
            row = format_table_row(row_name, dataset_name, metrics, args.n_clicks)
            if args.print_ious:
                row += "; " + miou_string(all_ious)
            text = ""
            if not header_printed:
                text = format_table_header(model_name) + "\n"
                header_printed = True
            print(text + row, flush=True)
            append_text(table_path, text + row + "\n")

            file_stem = f"{dataset_name}_{run_name}" + ("" if single_model_eval else f"_{checkpoint_path.stem}")
            ious_path = logs_path / "ious" / (logs_prefix or "") / f"{file_stem}.npy"
            write_npy(ious_path, utils.pad_ious(all_ious, args.n_clicks))
            entry = dict(metrics)
            entry["checkpoint"] = str(checkpoint_path)
            entry["ious_file"] = str(ious_path)
            entry["table_row"] = row
            if args.iou_analysis or args.print_ious:
                curve = utils.mean_iou_curve(all_ious, args.n_clicks)
                entry["miou_curve"] = curve.tolist()
                if args.iou_analysis:
                    plot_path = logs_path / "plots" / f"{name_prefix}{file_stem}.png"
                    save_iou_plot(plot_path, curve, dataset_name, f"{model_name}_{args.mode}")
                    entry["plot_file"] = str(plot_path)
            entry["samples"] = records
            results["datasets"].setdefault(dataset_name, {})[checkpoint_path.stem] = entry
            write_json(results_path, results)
            summary.setdefault(checkpoint_path.stem, {})[dataset_name] = {
                k: v for k, v in entry.items() if k != "samples"}

    print(f"results written to {results_path}", flush=True)
    return summary


if __name__ == "__main__":
    main()
