#!/usr/bin/env python3
"""NoC evaluation of interactive segmentation models (RITM's protocol and command line).

Example:
    python scripts/evaluate_model.py NoBRS --checkpoint weights/hrnet18s_cocomval_itermask.pth \\
        --datasets GrabCut,Berkeley --cpu

Prints per dataset NoC@80/85/90, NoF@85/90, SPC, time, evaluated and skipped samples (each skipped
or converted input is named below the row) and writes under the logs folder the table (``*.txt``,
appended) and a results json; ``--save-ious`` adds the per-click IoU arrays (``ious/*.npy``),
``--iou-analysis`` the mIoU plot, ``--vis-preds`` per-click images, ``--vis-triplets`` one
input | ground truth | prediction image per sample; ``--metrics dice,biou`` adds Dice@5 / bIoU@5
columns, ``--clicker stochastic`` NoC under RClicks-style random clicks, ``--resize W H`` shrinks
large images first. The work is
:func:`isegm.inference.runner.evaluate`; this script parses flags and the config.
Modes: NoBRS, RGB-BRS, DistMap-BRS, f-BRS-A, f-BRS-B, f-BRS-C (RITM's; BRS runs L-BFGS after every click
from the 2nd, so it is several times slower per click than NoBRS, f-BRS least so).
Families (``--predictor``): ritm / unet (from --checkpoint, checked against the checkpoint's model class;
default: whatever the checkpoint holds), sam (``--sam-checkpoint PATH --sam-variant vit_b``), grabcut (no
checkpoint), e.g. ``python scripts/evaluate_model.py --predictor grabcut --datasets GrabCut --cpu``.
Under ``torchrun`` (e.g. ``torchrun --nproc_per_node 2 scripts/evaluate_model.py ...``) the samples are
sharded over the ranks (GPU ``LOCAL_RANK`` with NCCL, or CPU processes with gloo under ``--cpu``) and rank 0
prints and writes the one table and json (:mod:`isegm.inference.sharding`).
Bad input: ``error: ...`` on one line, exit status 2 (``--debug`` for the traceback); a BRS mode the
model cannot run (e.g. f-BRS on a model without a feature insertion point) is one such line.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.data.registry import REGISTRY, dataset_path, dataset_path_overrides, resolve  # noqa: E402
from isegm.errors import OneLineArgumentParser, UserError, float_range, int_range, run_cli  # noqa: E402
from isegm.inference.evaluation import (FIRST_INTERACTIONS, INTERACTIONS, STROKE_SPACING,  # noqa: E402
                                        add_stochastic_click_arguments)
from isegm.inference.predictors import PREDICTOR_MODES, check_brs_mode  # noqa: E402
from isegm.inference.predictors.families import PREDICTOR_FAMILIES  # noqa: E402

logger = logging.getLogger("isegm.evaluate_model")

DATASET_PATH_FLAGS = {"grabcut_path": "GRABCUT_PATH", "berkeley_path": "BERKELEY_PATH", "davis_path": "DAVIS_PATH",
                      "coco_mval_path": "COCO_MVAL_PATH", "sbd_path": "SBD_PATH", "pascalvoc_path": "PASCALVOC_PATH"}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(description="NoC evaluation of an interactive segmentation model (RITM protocol).")
    parser.add_argument("mode", nargs="?", default="NoBRS", choices=PREDICTOR_MODES,
                        help="Predictor mode: NoBRS (plain network), RGB-BRS / DistMap-BRS (input BRS: L-BFGS on "
                             "a bias of the image / click maps, full network per step), f-BRS-A / f-BRS-B / "
                             "f-BRS-C (feature BRS: per-channel scale and bias at an inner layer, only the head "
                             "re-runs; on HRNet A and B are the same). BRS modes optimise from the 2nd click.")
    parser.add_argument("--predictor", choices=tuple(PREDICTOR_FAMILIES), default=None,
                        help="Model family: " + "; ".join(f"{k}: {v}" for k, v in PREDICTOR_FAMILIES.items())
                             + ". Default: what --checkpoint holds (ritm or unet).")
    parser.add_argument("--sam-checkpoint", type=str, default="", help="Official SAM checkpoint (--predictor sam).")
    parser.add_argument("--sam-variant", type=str, default="", help="vit_b, vit_l or vit_h (--predictor sam).")
    ckpt = parser.add_mutually_exclusive_group()
    ckpt.add_argument("--checkpoint", type=str, default="",
                      help="Checkpoint path, or a name/prefix under INTERACTIVE_MODELS_PATH (MODEL:NAME allowed).")
    ckpt.add_argument("--exp-path", type=str, default="",
                      help="Experiment folder under EXPS_PATH (prefix allowed), EXP:P for its checkpoints P*.pth.")
    parser.add_argument("--datasets", type=str, default="GrabCut,Berkeley",
                        help="Comma-separated, case-insensitive: " + ", ".join(REGISTRY) + ".")
    device = parser.add_mutually_exclusive_group()
    device.add_argument("--gpus", type=str, default="0", help="ID of the GPU to use (an integer).")
    device.add_argument("--cpu", action="store_true", help="Run on the CPU.")
    iou = parser.add_mutually_exclusive_group()
    iou.add_argument("--target-iou", type=float_range(0.0, 1.0, lo_open=True), default=0.90,
                     help="Stop a sample at this IoU, in (0, 1] (values under 0.8 are raised to 0.8, as RITM).")
    iou.add_argument("--iou-analysis", action="store_true", help="Run all clicks and save the mIoU plot.")
    parser.add_argument("--n-clicks", type=int_range(1), default=20, help="Maximum clicks per sample (>= 1).")
    parser.add_argument("--min-n-clicks", type=int_range(0), default=1, help="Minimum clicks per sample (>= 0).")
    parser.add_argument("--thresh", type=float_range(0.0, 1.0, lo_open=True, hi_open=True), default=0.49,
                        help="Probability threshold of the mask, in (0, 1).")
    parser.add_argument("--clicks-limit", type=int, default=None,
                        help="Give the network only the first N clicks (-1 = --n-clicks); default: all for "
                             "NoBRS, 5 for RGB-/DistMap-BRS, 8 for f-BRS (RITM). The BRS loss always uses "
                             "every click.")
    parser.add_argument("--eval-mode", type=str, default="cvpr", help="cvpr or fixed<N> (e.g. fixed400).")
    parser.add_argument("--max-size", type=int_range(1), default=None, help="Longest side of the network input.")
    parser.add_argument("--max-samples", type=int_range(1), default=None,
                        help="Evaluate only the first N samples of each dataset (quick checks).")
    parser.add_argument("--cf-n", type=int_range(0), default=0, metavar="N",
                        help="Cascade-forward refinement (CFR-ICL): feed each click's output back N more times (>= 0).")
    parser.add_argument("--acf", action="store_true",
                        help="Adaptive CFR: stop once a run changes <= 20 mask pixels (needs --cf-n N >= 1).")
    parser.add_argument("--cf-clicks", type=int_range(1), default=None, metavar="K",
                        help="CFR only on the first K clicks (CFR-ICL's --cf-click, its default 1); default: every click.")
    parser.add_argument("--focus-refine", action="store_true",
                        help="Focus refinement (FocalClick-style): re-predict a crop around the click's change, merge it.")
    parser.add_argument("--interaction", choices=INTERACTIONS, default="click",
                        help="What the simulated user does after the first interaction: RITM's click, or a stroke along "
                             "the skeleton of the error region (given to the model as clicks every --stroke-spacing px); "
                             "NoC counts interactions, the notes add the clicks behind them (NoP).")
    parser.add_argument("--first-interaction", choices=FIRST_INTERACTIONS, default="click",
                        help="'box': interaction 1 is the ground truth's box (crop = box + 20%% context, box as the "
                             "previous mask, prediction zeroed outside the box).")
    parser.add_argument("--stroke-spacing", type=float_range(0.0, None, lo_open=True), default=STROKE_SPACING,
                        metavar="PX", help=f"Pixels between the clicks of a stroke (> 0; default {STROKE_SPACING:g}).")
    parser.add_argument("--save-ious", action="store_true", help="Save per-click IoU arrays (ious/*.npy).")
    parser.add_argument("--print-ious", action="store_true", help="Run all clicks; add mIoU@1,2,3,5,10,20.")
    parser.add_argument("--vis-preds", action="store_true", help="Save a visualisation of every click.")
    parser.add_argument("--model-name", type=str, default=None, help="Model name of the table and plots.")
    parser.add_argument("--config-path", type=str, default="config.yml", help="Path to config.yml.")
    parser.add_argument("--logs-path", type=str, default="", help="Output root (default EXPS_PATH/evaluation_logs).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a config.yml key (repeatable); unknown keys are refused.")
    parser.add_argument("--dataset-path", action="append", default=[], metavar="NAME=PATH",
                        help="Folder of one dataset by name (repeatable), e.g. DAVIS=/data/DAVIS.")
    for flag, key in DATASET_PATH_FLAGS.items():
        parser.add_argument("--" + flag.replace("_", "-"), type=str, default=None, help=f"Overrides {key}.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    parser.add_argument("--resume", action="store_true",
                        help="Resumable run: keep every finished sample under the logs folder's runs/ and, when an "
                             "earlier --resume run of the same settings stopped, continue from its samples (the "
                             "table and json then equal an uninterrupted run's). One process (not with torchrun).")
    # --- metrics, stochastic clicks, resizing, triplets (issue 11) ---
    parser.add_argument("--metrics", type=str, default="", metavar="LIST",
                        help="Extra table columns: comma-separated iou, dice, biou, precision, recall, accuracy, each "
                             "at the clicks of --metric-clicks or as name@k, e.g. 'dice,biou' -> Dice@5, bIoU@5 "
                             "(mean after click k; a sample that stopped keeps its last value). Default: RITM's "
                             "table. Dice/precision/recall/accuracy/confusion matrix are always in the json; "
                             "Boundary IoU (Cheng et al. 2021, band 0.02 of the diagonal) is computed only when a "
                             "biou column or --boundary-iou asks for it.")
    parser.add_argument("--metric-clicks", type=str, default="5", metavar="K[,K]",
                        help="Clicks of the --metrics columns given without @k (default 5).")
    parser.add_argument("--boundary-iou", action="store_true",
                        help="Compute Boundary IoU per click (json, npy) even without a biou column.")
    add_stochastic_click_arguments(parser)
    parser.add_argument("--resize", type=int, nargs=2, default=None, metavar=("W", "H"),
                        help="Shrink images larger than W x H to fit (aspect kept; INTER_AREA, masks nearest); "
                             "the summary counts them, the json lists them.")
    parser.add_argument("--vis-triplets", nargs="?", const="", default=None, metavar="DIR",
                        help="One PNG per sample: input | ground truth | prediction at the last click (in DIR, "
                             "default <logs>/triplets/<dataset>).")
    # export backends and inference precision (issue 13)
    parser.add_argument("--backend", choices=("torch", "onnx", "torchscript"), default="torch",
                        help="torch: the --checkpoint .pth; onnx (onnxruntime, CPU) / torchscript: a file from "
                             "scripts/export_model.py given as --checkpoint (NoBRS only).")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="Network precision of the torch backend (bf16: autocast; slow on AVX2-only CPUs).")
    parser.add_argument("--fold-bn", action="store_true",
                        help="Fold BatchNorm into the convolutions (torch backend; outputs within ~1e-6).")
    parser.add_argument("--channels-last", action="store_true",
                        help="Store convolution weights NHWC (torch backend; faster oneDNN kernels on the CPU, "
                             "outputs within ~1e-6, so not RITM-exact).")
    parser.add_argument("--compile", nargs="?", const="default", default="none",
                        choices=("none", "default", "reduce-overhead", "max-autotune"),
                        help="torch.compile the network (torch backend, NoBRS, fp32 or --precision bf16; on the CPU "
                             "with inductor's weight freezing; 'reduce-overhead' = CUDA graphs on a GPU). The first "
                             "clicks pay the compilation (minutes on 2 CPU cores).")
    return parser


def parse_args(argv=None):
    """Parse and validate the command line; returns ``(args, settings, cfg)``.

    Raises:
        UserError: any bad flag or config value (one line naming it).
    """
    from isegm.config import load_config, parse_overrides
    from isegm.inference.runner import EvalSettings
    from isegm.inference.utils import get_eval_zoom_in_params

    args = build_parser().parse_args(argv)
    try:
        check_brs_mode(args.mode)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    args.model_spec = _model_spec(args)
    args.dataset_names = [resolve(n).name for n in args.datasets.split(",") if n.strip()]
    if not args.dataset_names:
        raise UserError(f"--datasets {args.datasets!r}: no dataset given")
    get_eval_zoom_in_params(args.eval_mode, "")
    if not args.cpu and not all(p.strip().isdigit() for p in args.gpus.split(",")):
        raise UserError(f"--gpus {args.gpus!r}: expected a GPU id such as 0 (or --cpu)")
    if args.clicks_limit == -1:
        args.clicks_limit = args.n_clicks
    if args.clicks_limit is not None and args.clicks_limit < 1:
        raise UserError(f"--clicks-limit {args.clicks_limit}: must be >= 1 or -1")

    overrides = parse_overrides(args.overrides)
    overrides.update(dataset_path_overrides(args.dataset_path))
    for attr, key in DATASET_PATH_FLAGS.items():
        if getattr(args, attr) is not None:
            overrides[key] = getattr(args, attr)
    cfg = load_config(args.config_path, overrides)
    from isegm.inference.reporting import parse_metric_columns

    metric_clicks = [k.strip() for k in args.metric_clicks.split(",") if k.strip()]
    if not metric_clicks or not all(k.isdigit() and int(k) >= 1 for k in metric_clicks):
        raise UserError(f"--metric-clicks {args.metric_clicks!r}: expected click numbers >= 1, e.g. 1,5")
    extra = dict(metrics=parse_metric_columns(args.metrics, [int(k) for k in metric_clicks]),
                 boundary_iou=args.boundary_iou, clicker=args.clicker, click_sigma=args.click_sigma,
                 repeats=args.repeats, seed=args.seed, resize=tuple(args.resize) if args.resize else None,
                 vis_triplets=args.vis_triplets)
    settings = EvalSettings(mode=args.mode, eval_mode=args.eval_mode, n_clicks=args.n_clicks,
                            min_n_clicks=args.min_n_clicks, target_iou=args.target_iou, thresh=args.thresh,
                            max_size=args.max_size, clicks_limit=args.clicks_limit, print_ious=args.print_ious,
                            iou_analysis=args.iou_analysis, save_ious=args.save_ious, vis_preds=args.vis_preds,
                            max_samples=args.max_samples, progress=not args.no_progress, cf_n=args.cf_n,
                            acf=args.acf, cf_clicks=args.cf_clicks, focus_refine=args.focus_refine,
                            interaction=args.interaction, first_interaction=args.first_interaction,
                            stroke_spacing=args.stroke_spacing, backend=args.backend, precision=args.precision,
                            fold_bn=args.fold_bn, channels_last=args.channels_last, compile=args.compile,
                            **extra)
    return args, settings, cfg


def _model_spec(args):
    """The SAM / GrabCut :class:`ModelSpec` (None for ritm / unet); refuses flags of the other families."""
    from isegm.inference.predictors.families import MODEL_FAMILIES, ModelSpec, check_family_options

    family = args.predictor
    if family is None or family in MODEL_FAMILIES:
        if args.sam_checkpoint or args.sam_variant:
            raise UserError("--sam-checkpoint / --sam-variant need --predictor sam")
        if not (args.checkpoint or args.exp_path):
            raise UserError("give --checkpoint or --exp-path (or --predictor sam / grabcut)")
        return None
    if args.checkpoint or args.exp_path:
        raise UserError(f"--predictor {family} takes no --checkpoint / --exp-path"
                        + (" (use --sam-checkpoint)" if family == "sam" else ""))
    if family == "sam" and not (args.sam_checkpoint and args.sam_variant):
        raise UserError("--predictor sam needs --sam-checkpoint PATH and --sam-variant vit_b|vit_l|vit_h")
    check_family_options(family, args.mode, args.cf_n, args.focus_refine, args.clicks_limit, args.max_size)
    return ModelSpec(family, args.sam_checkpoint, args.sam_variant) if family == "sam" else ModelSpec(family)


def _init_distributed(args):
    """Under torchrun (WORLD_SIZE > 1): join the process group (gloo on the CPU, NCCL on GPUs); returns the
    rank's device, or None when not launched by torchrun."""
    import os

    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_gpu = not args.cpu and torch.cuda.is_available()
    if not dist.is_available() or not (on_gpu or dist.is_gloo_available()):
        raise UserError("torchrun evaluation needs torch.distributed with gloo (CPU) or NCCL (GPU)")
    if on_gpu:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    return torch.device(f"cuda:{local_rank}") if on_gpu else torch.device("cpu")


def _device(args):
    import torch

    if args.cpu:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        logger.warning("CUDA is not available: evaluating on the CPU (pass --cpu to silence this)")
        return torch.device("cpu")
    return torch.device(f"cuda:{int(args.gpus.split(',')[0])}")


def main(argv=None) -> int:
    """Run the evaluation (results: the printed table and the json it names); returns 0."""
    args, settings, cfg = parse_args(argv)
    distributed_device = _init_distributed(args)
    try:
        return _run(args, settings, cfg, distributed_device or _device(args))
    finally:
        if distributed_device is not None:
            import torch.distributed as dist

            dist.destroy_process_group()


def _run(args, settings, cfg, device) -> int:
    from isegm.inference.runner import evaluate
    from isegm.inference.sharding import current_shard

    family = {"checkpoint": args.checkpoint, "predictor": None, "load_model": None}
    if args.model_spec is not None:  # sam / grabcut: built here, handed to the evaluation as it is
        from dataclasses import replace

        from isegm.inference.predictors.families import get_family_predictor

        settings = replace(settings, mode=args.model_spec.family)
        family.update(checkpoint=args.model_spec.checkpoint or args.model_spec.family,
                      predictor=get_family_predictor(args.model_spec, device))
    elif args.predictor is not None:  # ritm / unet asked for: the checkpoint must hold that family
        from isegm.inference.predictors.families import load_family_model

        family["load_model"] = lambda path, dev: load_family_model(args.predictor, path, dev)
    results = evaluate(settings, {name: dataset_path(cfg, name) for name in args.dataset_names}, device,
                       exp_path=args.exp_path,
                       models_dir=cfg.get("INTERACTIVE_MODELS_PATH"), exps_dir=cfg.get("EXPS_PATH"),
                       logs_root=args.logs_path or None, model_name=args.model_name,
                       echo=lambda text: print(text, flush=True), resume=args.resume, **family)
    if current_shard().is_main:
        print(f"results written to {results['results_path']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
