"""Evaluation helpers: checkpoint lookup (weights folder, experiment folder) and RITM's eval modes.

Metric functions (IoU, NoC, NoF, mIoU) live in :mod:`isegm.metrics`; datasets in
:mod:`isegm.data.registry`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from isegm.errors import UserError

logger = logging.getLogger(__name__)


def find_checkpoint(weights_dir, name: str, *, allow_path: bool = True) -> Path:
    """Locate a checkpoint file as RITM's ``find_checkpoint``.

    ``name`` may be an existing path; a ``*.pth`` name relative to ``weights_dir``; a prefix
    matched recursively as ``<name>*.pth`` under ``weights_dir``; or ``MODEL:CHECKPOINT`` to search
    only in the single sub-folder of ``weights_dir`` starting with ``MODEL``.

    This is the one weights-folder lookup; a trainer-side lookup of ``<prefix>*.pth`` in an
    experiment's checkpoints folder is ``find_checkpoint(checkpoints_dir, prefix, allow_path=False)``
    (``allow_path=False``: ``name`` is never taken as a path of its own).

    Raises:
        FileNotFoundError: nothing matches (the message names the searched folder).
        IsADirectoryError: ``name`` is a folder.
        UserError: several files or model folders match.
    """
    direct = Path(name).expanduser()
    if allow_path and direct.is_file():
        return direct
    if allow_path and direct.is_dir():
        raise IsADirectoryError(f"checkpoint {name} is a folder; expected a .pth file "
                                f"(use --exp-path to evaluate an experiment's checkpoints)")
    if weights_dir is None:
        raise FileNotFoundError(f"checkpoint {name!r} not found (no weights folder configured)")
    weights_dir = Path(weights_dir)

    model_dir = weights_dir
    if ":" in name:
        model_name, name = name.split(":", 1)
        candidates = sorted(x for x in weights_dir.glob(f"{model_name}*") if x.is_dir())
        if len(candidates) != 1:
            raise UserError(f"expected exactly one model folder {weights_dir}/{model_name}*, "
                             f"found {[str(c) for c in candidates]}")
        model_dir = candidates[0]

    if name.endswith(".pth"):
        path = model_dir / name
        if not path.is_file():
            where = (f"neither {name} nor {path} exists" if allow_path and Path(name) != path
                     else f"{path} does not exist")
            raise FileNotFoundError(f"checkpoint not found: {where}{_listing(model_dir)}")
        return path

    matches = sorted(model_dir.rglob(f"{name}*.pth"))
    if not matches:
        raise FileNotFoundError(f"no checkpoint matching {name}*.pth under {model_dir}{_listing(model_dir)}")
    if len(matches) > 1:
        raise UserError(f"several checkpoints match {name}*.pth under {model_dir}: "
                         f"{[str(m) for m in matches[:5]]}")
    return matches[0]


def _listing(folder: Path, limit: int = 8) -> str:
    names = sorted(p.name for p in folder.glob("*.pth")) if folder.is_dir() else []
    if not names:
        return f" (no .pth files in {folder})" if folder.is_dir() else f" ({folder} does not exist)"
    more = f", ... {len(names) - limit} more" if len(names) > limit else ""
    return f" (there: {', '.join(names[:limit])}{more})"


def find_experiment_checkpoints(exps_dir, exp_spec: str):
    """Checkpoints of an experiment (RITM's ``--exp-path EXP[:PREFIX]``), newest name first.

    Args:
        exps_dir: the experiments root (EXPS_PATH).
        exp_spec: ``EXP`` (a prefix of one folder under ``exps_dir``, e.g. ``hrnet18/000``) optionally
            followed by ``:PREFIX`` to keep only ``checkpoints/PREFIX*.pth``.

    Returns:
        ``(checkpoints, exp_path, logs_prefix)``: list of Paths, the experiment folder, and RITM's
        file-name prefix (``all_checkpoints``, ``all_<PREFIX>`` or the single checkpoint's stem).

    Raises:
        UserError: no experiments root, or not exactly one matching experiment folder.
        FileNotFoundError: no matching checkpoint.
    """
    if not exps_dir:
        raise UserError("--exp-path needs EXPS_PATH in the config")
    exps_path = Path(exps_dir)
    rel_exp_path, _, checkpoint_prefix = exp_spec.partition(":")
    exp_prefix = exps_path / rel_exp_path
    candidates = sorted(exp_prefix.parent.glob(exp_prefix.name + "*"))
    if len(candidates) != 1:
        raise UserError(f"expected exactly one experiment folder {exp_prefix}*, found "
                        f"{[str(c) for c in candidates] or 'none'}")
    exp_path = candidates[0]
    checkpoints = sorted((exp_path / "checkpoints").glob(checkpoint_prefix + "*.pth"), reverse=True)
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoints {checkpoint_prefix}*.pth in {exp_path / 'checkpoints'}")
    if checkpoint_prefix:
        logs_prefix = checkpoints[0].stem if len(checkpoints) == 1 else f"all_{checkpoint_prefix}"
    else:
        logs_prefix = "all_checkpoints"
    return checkpoints, exp_path, logs_prefix


def get_eval_zoom_in_params(eval_mode: str, dataset_name: str) -> dict:
    """ZoomIn parameters of RITM's ``evaluate_model.py --eval-mode``.

    * ``cvpr``: ZoomIn defaults (zoom from the 2nd click) with ``target_size`` 600 on DAVIS and
      400 on every other dataset (RITM chooses by dataset, not by model).
    * ``fixed<N>`` (e.g. ``fixed400``): zoom from the 1st click (``skip_clicks=-1``, the whole
      image while there is no prediction yet), crop resized to exactly (N, N).

    Raises:
        UserError: any other mode.
    """
    if eval_mode == "cvpr":
        return {"target_size": 600 if str(dataset_name).upper() == "DAVIS" else 400}
    if eval_mode.startswith("fixed") and eval_mode[5:].isdigit() and int(eval_mode[5:]) > 0:
        size = int(eval_mode[5:])
        return {"skip_clicks": -1, "target_size": (size, size)}
    raise UserError(f"unknown eval mode {eval_mode!r}; expected 'cvpr' or 'fixed<N>' such as 'fixed400'")
