#!/usr/bin/env python3
"""Compare several predictors / checkpoints in one run: one markdown table and one mIoU-vs-clicks plot.

Example:
    python scripts/compare_models.py --model hrnet=ritm:weights/hrnet18s_cocomval_itermask.pth \\
        --model grabcut=grabcut --model sam=sam:vit_b:/data/sam_vit_b_01ec64.pth \\
        --datasets GrabCut,Berkeley --out-dir experiments/compare --cpu

Model specs: ``ritm:PATH``, ``unet:PATH``, ``sam:VARIANT:PATH``, ``grabcut``. Every sample runs all
``--n-clicks`` clicks; ``--clicker stochastic`` adds ``--repeats`` runs per sample with RClicks-style clicks
(stopping at IoU 0.90) and their NoC@85/90 as mean ± std. Writes ``compare.md``, ``compare_miou.png`` and ``compare_results.json`` in
``--out-dir``, and every finished sample in its ``runs/`` folder: ``--resume`` continues a stopped run from
there. The work is :func:`isegm.inference.compare.compare_models`. Bad input: one ``error:`` line,
exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.data.registry import REGISTRY, dataset_path, dataset_path_overrides, resolve  # noqa: E402
from isegm.errors import OneLineArgumentParser, UserError, float_range, int_range, run_cli  # noqa: E402
from isegm.inference.evaluation import StochasticSpec, add_stochastic_click_arguments  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description="Evaluate several interactive segmentation predictors; one table and one plot.")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=SPEC", required=True,
                        help="A model to compare (repeatable): NAME=ritm:PATH, unet:PATH, sam:VARIANT:PATH or grabcut.")
    parser.add_argument("--datasets", type=str, default="GrabCut,Berkeley",
                        help="Comma-separated, case-insensitive: " + ", ".join(REGISTRY) + ".")
    parser.add_argument("--out-dir", type=str, required=True, help="Folder of the table, plot and json.")
    parser.add_argument("--n-clicks", type=int_range(1), default=20, help="Clicks per sample (>= 1), all run.")
    parser.add_argument("--thresh", type=float_range(0.0, 1.0, lo_open=True, hi_open=True), default=0.49,
                        help="Probability threshold of the mask, in (0, 1).")
    parser.add_argument("--eval-mode", type=str, default="cvpr", help="Zoom-in of ritm/unet: cvpr or fixed<N>.")
    parser.add_argument("--max-samples", type=int_range(1), default=None, help="Only the first N samples per dataset.")
    parser.add_argument("--cpu", action="store_true", help="Run on the CPU (default: cuda:0 when available).")
    parser.add_argument("--config-path", type=str, default="config.yml", help="Path to config.yml.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a config.yml key (repeatable).")
    parser.add_argument("--dataset-path", action="append", default=[], metavar="NAME=PATH",
                        help="Folder of one dataset by name (repeatable), e.g. ImagesDir=/data/avalanches.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars.")
    parser.add_argument("--resume", action="store_true",
                        help="Continue a stopped comparison in --out-dir: samples kept in its runs/ folder by an "
                             "earlier run with the same settings are read back, only the rest run (also: add a "
                             "model to a finished comparison).")
    add_stochastic_click_arguments(parser)
    return parser


def main(argv=None) -> int:
    """Run the comparison; prints the rows as they finish, then the table; returns 0."""
    import torch

    from isegm.config import load_config, parse_overrides
    from isegm.data.registry import get_eval_dataset
    from isegm.inference.compare import compare_models, parse_model_args

    args = build_parser().parse_args(argv)
    models = parse_model_args(args.model)
    names = [resolve(n).name for n in args.datasets.split(",") if n.strip()]
    if not names:
        raise UserError(f"--datasets {args.datasets!r}: no dataset given")
    overrides = parse_overrides(args.overrides)
    overrides.update(dataset_path_overrides(args.dataset_path))
    cfg = load_config(args.config_path, overrides)
    datasets = {name: get_eval_dataset(name, dataset_path(cfg, name)) for name in names}
    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda:0")
    result = compare_models(models, datasets, device, args.out_dir, n_clicks=args.n_clicks, eval_mode=args.eval_mode,
                            pred_thr=args.thresh, max_samples=args.max_samples, progress=not args.no_progress,
                            stochastic=StochasticSpec.from_args(args), echo=lambda row: print(row, flush=True),
                            resume=args.resume)
    print(result["table"])
    print(f"table: {result['table_path']}\nplot: {result['plot_path']}\nresults: {result['results_path']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
