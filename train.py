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

from isegm.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent


def _gpu_list(text: str) -> str:
    parts = [g.strip() for g in text.split(",")]
    if not text.strip() or not all(g.isdigit() for g in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a GPU list, expected ids like 0 or 0,1")
    return ",".join(parts)


def parse_args(argv=None):
    from isegm.errors import int_range
    p = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_path", type=str, help="experiment script defining RECIPE, e.g. models/iter_mask/...py")
    p.add_argument("--exp-name", type=str, default="", help="suffix of the run folder name")
    p.add_argument("--workers", type=int_range(0), default=4, help="data-loading worker processes (0: in-process)")
    p.add_argument("--gpus", type=_gpu_list, default=None, help="GPU ids, e.g. 0 or 0,1 (multi-GPU: launch with torchrun)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU")
    p.add_argument("--batch-size", type=int_range(1), default=None, help="total (global) batch size (default: the recipe's)")
    p.add_argument("--epochs", type=int_range(1), default=None, help="number of epochs (default: the recipe's)")
    p.add_argument("--resume-exp", type=str, default=None, help="run folder prefix to resume, e.g. 003")
    p.add_argument("--resume-prefix", type=str, default="last", help="checkpoint to resume from: last, best, 050 ...")
    p.add_argument("--start-epoch", type=int_range(0), default=None,
                   help="epoch to start at (default: after the checkpoint's)")
    p.add_argument("--weights", type=str, default=None, help="checkpoint to initialise from (fine-tuning)")
    p.add_argument("--seed", type=int_range(0), default=0,
                   help="seed of data order, augmentation, click simulation and initialisation")
    p.add_argument("--config-path", type=str, default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config.yml entry, e.g. --set COCO_MVAL_PATH=/data/COCO_MVal (repeatable)")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none",
                   help="mixed-precision training: bf16 (GPU, or an AVX-512 CPU, ~2x faster with AVX-512 BF16; on "
                        "AVX2-only CPUs it is emulated, was ~8x slower, and train.py warns) "
                        "or fp16 (CUDA)")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout (faster convolutions)")
    p.add_argument("--no-sync-bn", dest="sync_bn", action="store_false",
                   help="under torchrun: BatchNorm statistics per process (RITM's behaviour; less communication) "
                        "instead of over the global batch")
    p.add_argument("--max-batches", type=int_range(1), default=None, help="cap batches per epoch (smoke tests)")
    p.add_argument("--local_rank", "--local-rank", type=int, default=int(os.environ.get("LOCAL_RANK", 0)),
                   help=argparse.SUPPRESS)
    try:
        return p.parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        # argparse printed "usage ... error: ..." (two lines); re-raise as one line through run_cli
        raise UserError(_LAST_ARGPARSE_ERROR[0] if _LAST_ARGPARSE_ERROR else "bad command line") from None


_LAST_ARGPARSE_ERROR: list = []


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        _LAST_ARGPARSE_ERROR[:] = [message]
        raise SystemExit(2)


def load_recipe(path: Path):
    """Import an experiment script and return its ``RECIPE``.

    Raises:
        UserError: no such file, the script fails to import (syntax error, exception), or it defines no RECIPE.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment script not found: {path}, expected a .py file defining RECIPE")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    spec = importlib.util.spec_from_file_location(f"isegm_exp_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise UserError(f"experiment script {path} has a syntax error at line {err.lineno}: {err.msg}") from err
    except Exception as err:
        raise UserError(f"experiment script {path} failed to import: {type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}") from err
    if not hasattr(module, "RECIPE"):
        raise UserError(f"{path} defines no RECIPE; experiment scripts set RECIPE = replace(BASE, ...) "
                        f"(see models/base.py)")
    from isegm.engine.recipe import Recipe
    if not isinstance(module.RECIPE, Recipe):
        raise UserError(f"{path}: RECIPE is a {type(module.RECIPE).__name__}, expected an isegm.engine.recipe.Recipe")
    return module.RECIPE


def check_weights_file(path) -> None:
    """Refuse a ``--weights`` file that is not a loadable isegm/RITM checkpoint (one-line UserError)."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--weights {path}: no such file, expected a RITM/isegm checkpoint written by torch.save")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"--weights {path}: cannot be read ({type(err).__name__}), expected a RITM/isegm "
                        f"checkpoint written by torch.save") from err
    if not isinstance(data, dict) or "state_dict" not in data or "config" not in data:
        raise UserError(f"--weights {path}: holds no 'config' + 'state_dict', expected a RITM/isegm checkpoint "
                        f"written by torch.save")


def select_device(args):
    """(device, distributed) for the command line; raises UserError for a GPU request that cannot be met."""
    import torch
    world = int(os.environ.get("WORLD_SIZE", 1))
    gpu_ids = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus else []
    if args.cpu or not torch.cuda.is_available():
        if not args.cpu and gpu_ids:
            raise UserError(f"--gpus {args.gpus} given but CUDA is not available, expected --cpu to train on the CPU")
        return torch.device("cpu"), world > 1
    if any(g >= torch.cuda.device_count() for g in gpu_ids):
        raise UserError(f"--gpus {args.gpus}: this machine has {torch.cuda.device_count()} GPUs, expected ids "
                        f"below that")
    if world == 1 and len(gpu_ids) > 1:
        raise UserError(f"--gpus {args.gpus}: launch multi-GPU training with "
                        f"`torchrun --nproc_per_node {len(gpu_ids)} train.py ...` (one process per GPU)")
    if world > 1:
        index = gpu_ids[args.local_rank] if gpu_ids else args.local_rank
    else:
        index = gpu_ids[0] if gpu_ids else 0
    torch.cuda.set_device(index)
    return torch.device("cuda", index), world > 1


def _remove_empty_parents(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents below ``top`` (kept) while they are empty."""
    top = top.resolve()
    folder = folder.resolve()
    while top in folder.parents:
        try:
            folder.rmdir()  # only succeeds on an empty folder
        except OSError:
            return
        folder = folder.parent


def main(argv=None):
    """Train; returns the run's :class:`~isegm.utils.exp.ExpPaths`. Bad input raises UserError (see run_cli)."""
    args = parse_args(argv)
    import shutil

    import torch
    import torch.distributed as dist

    from isegm.engine.recipe import run_recipe
    from isegm.config import load_config, parse_overrides
    from isegm.inference.utils import find_checkpoint
    from isegm.utils.exp import ExpPaths, find_run, init_experiment, script_family
    from isegm.utils.log import setup_logging

    cfg = load_config(args.config_path, parse_overrides(args.overrides))
    recipe = load_recipe(Path(args.model_path))
    if args.weights:
        check_weights_file(args.weights)
    resume = None
    if args.resume_exp:
        run = find_run(Path(cfg.EXPS_PATH) / script_family(Path(args.model_path)), args.resume_exp)
        resume = find_checkpoint(run / "checkpoints", args.resume_prefix, allow_path=False)
    device, distributed = select_device(args)
    if distributed:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0

    created = None
    try:
        # Only rank 0 touches the run folder; the others receive its path.
        box = [None]
        if rank == 0:
            exp = init_experiment(Path(cfg.EXPS_PATH), Path(args.model_path), args.exp_name, args.resume_exp)
            created = None if args.resume_exp else exp.root
            box = [str(exp.root)]
        if distributed:
            dist.broadcast_object_list(box, src=0)
            exp = ExpPaths.at(Path(box[0]))
        logger = setup_logging(exp.logs / "train_log.txt" if rank == 0 else None,
                               level=logging.INFO if rank == 0 else logging.WARNING)
        logger.info("command: %s", " ".join(sys.argv))
        logger.info("run folder: %s, device: %s, torch %s", exp.root, device, torch.__version__)
        from isegm.inference.paths import cpu_has_native_bf16

        if args.amp == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
            logger.warning("--amp bf16: this CPU has no AVX-512 (capability %s), "
                           "so bf16 is emulated and training is several times slower than fp32 "
                           "(~8x measured on an AVX2 CPU); drop --amp for fp32",
                           torch.backends.cpu.get_cpu_capability())
        run_recipe(recipe, cfg, exp, device=device, batch_size=args.batch_size, workers=args.workers,
                   epochs=args.epochs, seed=args.seed, weights=args.weights, resume_checkpoint=resume,
                   start_epoch=args.start_epoch, distributed=distributed, max_batches_per_epoch=args.max_batches,
                   meta={"script": str(args.model_path), "exp": str(exp.root)}, amp=args.amp,
                   channels_last=args.channels_last, sync_bn=args.sync_bn)
        if distributed:
            # leave together: a rank that tears gloo down while rank 0 still writes checkpoints can abort
            # ("terminate called without an active exception"), and torchrun then kills rank 0
            dist.barrier()
    except BaseException:
        # a failed start removes the run folder it created (not one that holds a checkpoint)
        if created is not None and not any((created / "checkpoints").glob("*.pth")):
            shutil.rmtree(created, ignore_errors=True)
            _remove_empty_parents(created.parent, Path(cfg.EXPS_PATH))
        raise
    finally:
        if distributed:
            dist.destroy_process_group()
    return exp


if __name__ == "__main__":
    from isegm.errors import run_cli
    sys.exit(run_cli(lambda argv: main(argv) and 0))
