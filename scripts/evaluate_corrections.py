#!/usr/bin/env python3
"""Correction curves ("Fusing Forces", Sterzinger et al., ICPR 2024): strokes applied by hand vs by models.

Every sample starts from a degraded ground truth (isegm.inference.correction.degrade_mask, seeded per
sample); each method then gets K simulated corrective strokes on its own current mask. Prints, after each
correction k, the mean IoU, Dice and pFM of the hand-applied strokes (Y^Δ) and of every model's Y', and
writes the table, a json and one plot per metric under --out.

    python3 scripts/evaluate_corrections.py --model click=weights/hrnet18s_cocomval_itermask.pth \\
        --model refiner=<run>/checkpoints/last_checkpoint.pth --dataset COCO_MVal --cpu --out corrections

Default data: the COCO_MVal split that training held out (seed 0, 10 %); --dataset Berkeley evaluates the
test set (evaluation only). --patch-size H W runs every model in overlapping H x W patches
(isegm.inference.predictors.patches.PatchPredictor, --patch-overlap px shared) on images larger than that.
--initial-model CHECKPOINT [--initial-clicks K] starts every sample from that click model's mask after K simulated
clicks (isegm.inference.correction.ClickModelMasks) instead: the "external mask from a model" case.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.errors import OneLineArgumentParser, UserError, float_range, int_range, run_cli  # noqa: E402


def _model_spec(text: str):
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=CHECKPOINT")
    return name, path


def main(argv=None):
    p = OneLineArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=_model_spec, action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="a model to refine with (repeatable); the hand-applied strokes are always a row")
    p.add_argument("--dataset", default="COCO_MVal", help="registry name (COCO_MVal: its held-out split)")
    p.add_argument("--held-out", type=float_range(0.0, 1.0, lo_open=True, hi_open=True), default=0.1,
                   help="COCO_MVal: the held-out fraction, split as train.py does (same --split-seed)")
    p.add_argument("--split-seed", type=int_range(0), default=0)
    p.add_argument("--seed", type=int_range(0), default=0, help="seed of the initial masks")
    p.add_argument("--initial-model", default=None, metavar="CHECKPOINT",
                   help="start every sample from this click model's mask after --initial-clicks clicks of the "
                        "simulated user (NoBRS, RITM's click rule) instead of a degraded ground truth")
    p.add_argument("--initial-clicks", type=int_range(1), default=None, metavar="K",
                   help="clicks behind the --initial-model mask (default 3)")
    p.add_argument("--corrections", type=int_range(1), default=5, help="K, corrections per sample")
    p.add_argument("--max-samples", type=int_range(1), default=None)
    p.add_argument("--thresh", type=float_range(0.0, 1.0, lo_open=True, hi_open=True), default=0.49)
    p.add_argument("--patch-size", type=int_range(1), nargs=2, default=None, metavar=("H", "W"),
                   help="predict images larger than H x W px in overlapping patches (default: whole image)")
    p.add_argument("--patch-overlap", type=int_range(0), default=None,
                   help="px neighbouring patches share (with --patch-size; default 32, less than H and W)")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--out", default="corrections", help="output folder (table, json, plots)")
    p.add_argument("--config-path", default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    if args.patch_size is None and args.patch_overlap is not None:
        raise UserError(f"--patch-overlap {args.patch_overlap} needs --patch-size H W")
    if args.initial_model is None and args.initial_clicks is not None:
        raise UserError(f"--initial-clicks {args.initial_clicks} needs --initial-model CHECKPOINT")
    initial_clicks = 3 if args.initial_clicks is None else args.initial_clicks
    overlap = 32 if args.patch_overlap is None else args.patch_overlap
    if args.patch_size is not None and overlap >= min(args.patch_size):
        raise UserError(f"--patch-overlap {overlap} must be smaller than the patch size "
                        f"{args.patch_size[0]} x {args.patch_size[1]}")

    import torch

    from isegm.config import load_config, parse_overrides
    from isegm.data.registry import dataset_path, get_dataset
    from isegm.inference.correction import (ClickModelMasks, evaluate_corrections, format_corrections_table,
                                            refiner_predictors, write_corrections_report)
    from isegm.inference.predictors import get_predictor
    from isegm.inference.utils import find_checkpoint
    from isegm.model import load_is_model

    cfg = load_config(args.config_path, parse_overrides(args.overrides))
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda")
    predictors = refiner_predictors(args.model, device, cfg.INTERACTIVE_MODELS_PATH, args.patch_size, overlap)
    initial_masks, initial_text = None, "degraded ground truth"
    if args.initial_model is not None:
        click_model = load_is_model(find_checkpoint(cfg.INTERACTIVE_MODELS_PATH, args.initial_model), device=device,
                                    eval_mode=True)
        initial_masks = ClickModelMasks(get_predictor(click_model, "NoBRS", device, zoom_in_params=None),
                                        clicks=(initial_clicks, initial_clicks), thresh=args.thresh)
        initial_text = f"{Path(args.initial_model).name} after {initial_clicks} click(s)"
    data = get_dataset(args.dataset, dataset_path(cfg, args.dataset))
    label = args.dataset
    if args.dataset == "COCO_MVal":
        _, data = data.split(args.held_out, seed=args.split_seed)
        label = f"COCO_MVal held-out ({args.held_out:g}, seed {args.split_seed})"
    with torch.inference_mode():
        result = evaluate_corrections(data, predictors, n_corrections=args.corrections, seed=args.seed,
                                      max_samples=args.max_samples, thresh=args.thresh, progress=True,
                                      initial_masks=initial_masks)
    table = format_corrections_table(result, label, initial_text, args.seed)
    print(table)
    out = write_corrections_report(args.out, result, table, label, dict(
        seed=args.seed, models=dict(args.model), initial_model=args.initial_model,
        initial_clicks=initial_clicks if args.initial_model else None, patch_size=args.patch_size,
        patch_overlap=overlap if args.patch_size else None))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
