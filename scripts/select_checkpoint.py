#!/usr/bin/env python3
"""Pick a training checkpoint by interactive accuracy on the held-out validation split.

Runs RITM's NoC protocol (NoBRS predictor, cvpr zoom-in, flip averaging, clicker on the error)
for ``--n-clicks`` clicks on every sample of the validation split that training held out (the same
seeded split: ``--val-fraction`` and ``--seed`` as in the recipe and train.py) and prints, per checkpoint,
mIoU after clicks 1..n and their mean (the selection score), and NoC@85 within n clicks.
Only the validation split is read: test sets (GrabCut, Berkeley) play no part in selection.

    python scripts/select_checkpoint.py experiments/cocomval/hrnet18s_cocomval_itermask/000_shipped/checkpoints/01*.pth \
        --dataset COCO_MVal --val-fraction 0.1 --seed 0 --n-clicks 5 --cpu
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from isegm.io import atomic_write_json  # noqa: E402
from isegm.data.datasets import get_dataset  # noqa: E402
from isegm.inference.evaluation import evaluate_dataset  # noqa: E402
from isegm.inference.predictors import cvpr_predictor_params, get_predictor  # noqa: E402
from isegm.metrics import noc_nof as compute_noc_metric  # noqa: E402
from isegm.model import load_is_model  # noqa: E402
from isegm.config import dataset_path, load_config, parse_overrides  # noqa: E402


def score_checkpoint(path: Path, valset, n_clicks: int, device: str) -> dict:
    """mIoU@1..n, their mean and NoC@85 (within n clicks) of one checkpoint on ``valset``."""
    model = load_is_model(path, device=device)
    predictor = get_predictor(model, "NoBRS", device, **cvpr_predictor_params(dataset_name="COCO_MVal"))
    all_ious, elapsed, _ = evaluate_dataset(valset, predictor, progress=False, max_iou_thr=1.01,
                                            max_clicks=n_clicks)
    curves = np.stack([np.pad(i, (0, n_clicks - len(i)), mode="edge") for i in all_ious])
    miou = curves.mean(axis=0)
    noc85 = compute_noc_metric(all_ious, iou_thrs=[0.85], max_clicks=n_clicks)[0][0]
    return {"checkpoint": str(path), "mIoU@k": [round(float(v), 4) for v in miou],
            "score": float(miou.mean()), "NoC@85": float(noc85), "samples": len(all_ious), "seconds": elapsed}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--dataset", default="COCO_MVal", help="training dataset whose held-out split is used")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-clicks", type=int, default=5)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--config-path", default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", default=None, help="also write the scores to this file (atomically)")
    args = p.parse_args(argv)

    cfg = load_config(args.config_path, parse_overrides(args.overrides))
    device = "cpu" if args.cpu or not torch.cuda.is_available() else "cuda"
    full = get_dataset(args.dataset, dataset_path(cfg, args.dataset))
    _, valset = full.split(args.val_fraction, seed=args.seed)
    rows = [score_checkpoint(Path(c), valset, args.n_clicks, device) for c in args.checkpoints]
    print(f"{'checkpoint':<60}{'mean mIoU@1..' + str(args.n_clicks):>18}{'NoC@85':>8}  mIoU@k")
    for r in rows:
        print(f"{Path(r['checkpoint']).name:<60}{r['score']:>18.4f}{r['NoC@85']:>8.2f}  {r['mIoU@k']}")
    best = max(rows, key=lambda r: r["score"])
    print(f"best: {best['checkpoint']} (score {best['score']:.4f}, {best['samples']} validation samples)")
    if args.json:
        atomic_write_json(args.json, rows, overwrite=True)
    return rows


if __name__ == "__main__":
    main()
