#!/usr/bin/env python3
"""How often the next-click suggestion lands where the simulated user clicks next (issue 9).

The suggester sees only the model's probabilities; the simulated user (RITM's clicker) sees the
ground truth. Default data: the COCO_MVal split that training held out (seed 0, 10 %).

    python scripts/suggestion_hit_rate.py --checkpoint weights/hrnet18s_cocomval_itermask.pth --cpu
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.errors import float_range, int_range, run_cli  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", default="COCO_MVal")
    p.add_argument("--held-out", type=float_range(0.0, 1.0, lo_open=True, hi_open=True), default=0.1,
                   help="the held-out fraction of the dataset, split as train.py does (same --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-clicks", type=int_range(1), default=5)
    p.add_argument("--min-uncertainty", type=float_range(0.0, 1.0, lo_open=True), default=0.5)
    p.add_argument("--max-samples", type=int_range(1), default=None)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--config-path", default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)

    import torch

    from isegm.config import load_config, parse_overrides
    from isegm.data.registry import dataset_path, get_dataset
    from isegm.inference.predictors import cvpr_predictor_params, get_predictor
    from isegm.inference.suggest import score_suggestions
    from isegm.inference.utils import find_checkpoint
    from isegm.model import load_is_model

    cfg = load_config(args.config_path, parse_overrides(args.overrides))
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda")
    data = get_dataset(args.dataset, dataset_path(cfg, args.dataset))
    _, data = data.split(args.held_out, seed=args.seed)
    model = load_is_model(find_checkpoint(cfg.INTERACTIVE_MODELS_PATH, args.checkpoint), device=device)
    predictor = get_predictor(model, "NoBRS", device, **cvpr_predictor_params(dataset_name=args.dataset))
    rates = score_suggestions(data, predictor, n_clicks=args.n_clicks, min_uncertainty=args.min_uncertainty,
                              max_samples=args.max_samples, progress=True)
    print(f"{args.dataset} (held-out {args.held_out:g}, {rates['samples']} samples, {args.n_clicks} clicks, "
          f"{rates['n']} suggestions): region hit {rates['region_hit_rate']:.3f}, with sign "
          f"{rates['sign_hit_rate']:.3f}, on any error pixel {rates['error_hit_rate']:.3f}, "
          f"no suggestion {rates['no_suggestion_rate']:.3f}; mIoU@{args.n_clicks} {rates['miou']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
