#!/usr/bin/env python3
"""Train an interactive segmentation model from an experiment script.

    python train.py models/iter_mask/hrnet18s_cocolvis_itermask_3p.py --exp-name first-try --gpus 0
    python train.py models/cocomval/hrnet18s_cocomval_itermask.py --cpu --workers 2
    torchrun --nproc_per_node 4 train.py models/iter_mask/hrnet32_cocolvis_itermask_3p.py --gpus 0,1,2,3

The script defines ``RECIPE`` (see models/base.py). A numbered run folder is created under
``EXPS_PATH/<group>/<script>/`` with checkpoints, TensorBoard logs, a text log and a copy of the script.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_path", type=str, help="experiment script defining RECIPE, e.g. models/iter_mask/...py")
    p.add_argument("--exp-name", type=str, default="", help="suffix of the run folder name")
    p.add_argument("--workers", type=int, default=4, help="data-loading worker processes")
    p.add_argument("--ngpus", type=int, default=1, help="number of GPUs (with torchrun, one process each)")
    p.add_argument("--gpus", type=str, default="", help="GPU ids, e.g. 0 or 0,1 (multi-GPU: launch with torchrun)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU")
    p.add_argument("--batch-size", type=int, default=-1, help="total batch size (-1: the recipe's)")
    p.add_argument("--epochs", type=int, default=-1, help="number of epochs (-1: the recipe's)")
    p.add_argument("--resume-exp", type=str, default=None, help="run folder prefix to resume, e.g. 003")
    p.add_argument("--resume-prefix", type=str, default="last", help="checkpoint to resume from: last, best, 050 ...")
    p.add_argument("--start-epoch", type=int, default=None, help="epoch to start at (default: after the checkpoint's)")
    p.add_argument("--weights", type=str, default=None, help="checkpoint to initialise from (fine-tuning)")
    p.add_argument("--seed", type=int, default=0, help="seed for torch, NumPy and click simulation")
    p.add_argument("--config-path", type=str, default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config.yml entry, e.g. --set COCO_MVAL_PATH=/data/COCO_MVal (repeatable)")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none",
                   help="mixed-precision training: bf16 (CPU or GPU; ~2x faster on recent x86 CPUs) or fp16 (CUDA)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout (faster convolutions)")
    p.add_argument("--max-batches", type=int, default=None, help="cap batches per epoch (smoke tests)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=int(os.environ.get("LOCAL_RANK", 0)))
    return p.parse_args(argv)


def load_recipe(path: Path):
    """Import an experiment script and return its ``RECIPE``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment script not found: {path}")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    spec = importlib.util.spec_from_file_location(f"isegm_exp_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "RECIPE"):
        raise AttributeError(f"{path} defines no RECIPE; experiment scripts set RECIPE = replace(BASE, ...) "
                             f"(see models/base.py)")
    return module.RECIPE


def select_device(args):
    import torch
    world = int(os.environ.get("WORLD_SIZE", 1))
    gpu_ids = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else []
    if args.cpu or not torch.cuda.is_available():
        if not args.cpu and gpu_ids:
            raise RuntimeError(f"--gpus {args.gpus} given but CUDA is not available; pass --cpu to train on the CPU")
        return torch.device("cpu"), world > 1
    if world == 1 and len(gpu_ids) > 1:
        raise RuntimeError(f"--gpus {args.gpus}: launch multi-GPU training with "
                           f"`torchrun --nproc_per_node {len(gpu_ids)} train.py ...` (one process per GPU)")
    if world > 1:
        index = gpu_ids[args.local_rank] if gpu_ids else args.local_rank
    else:
        index = gpu_ids[0] if gpu_ids else 0
    torch.cuda.set_device(index)
    return torch.device("cuda", index), world > 1


def main(argv=None):
    args = parse_args(argv)
    import torch
    import torch.distributed as dist

    from isegm.engine.recipe import run_recipe
    from isegm.utils.config import load_config, parse_overrides
    from isegm.utils.exp import find_checkpoint, init_experiment
    from isegm.utils.log import setup_logging

    cfg = load_config(args.config_path, parse_overrides(args.overrides))
    recipe = load_recipe(Path(args.model_path))
    device, distributed = select_device(args)
    if distributed:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0

    exp = init_experiment(Path(cfg.EXPS_PATH), Path(args.model_path), args.exp_name, args.resume_exp,
                          copy_script=rank == 0)
    logger = setup_logging(exp.logs / "train_log.txt" if rank == 0 else None,
                           level=logging.INFO if rank == 0 else logging.WARNING)
    logger.info("command: %s", " ".join(sys.argv))
    logger.info("run folder: %s, device: %s, torch %s", exp.root, device, torch.__version__)
    if device.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))

    resume = find_checkpoint(exp.checkpoints, args.resume_prefix) if args.resume_exp else None
    try:
        run_recipe(recipe, cfg, exp, device=device, batch_size=args.batch_size, workers=args.workers,
                   epochs=args.epochs, seed=args.seed, weights=args.weights, resume_checkpoint=resume,
                   start_epoch=args.start_epoch, distributed=distributed, max_batches_per_epoch=args.max_batches,
                   meta={"script": str(args.model_path), "exp": str(exp.root)}, amp=args.amp,
                   channels_last=args.channels_last)
    finally:
        if distributed:
            dist.destroy_process_group()
    return exp


if __name__ == "__main__":
    main()
