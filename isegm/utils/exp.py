"""Experiment folders: numbered runs under EXPS_PATH, as RITM lays them out.

``EXPS_PATH/<group>/<script>/<NNN>_<exp-name>/`` holds ``checkpoints/``, ``logs/`` (text log and
TensorBoard events), ``vis/`` (training visualisations) and a copy of the experiment script.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

RUN_RE = re.compile(r"^(\d{3})(?:_(.*))?$")


@dataclass(frozen=True)
class ExpPaths:
    """Folders of one run."""
    root: Path
    checkpoints: Path
    logs: Path
    vis: Path

    @classmethod
    def at(cls, root: Path) -> "ExpPaths":
        root = Path(root)
        return cls(root, root / "checkpoints", root / "logs", root / "vis")

    def make(self) -> "ExpPaths":
        for p in (self.checkpoints, self.logs, self.vis):
            p.mkdir(parents=True, exist_ok=True)
        return self


def script_family(script: Path) -> Path:
    """Relative folder for an experiment script: the part after ``models/`` without ``.py``.

    ``models/iter_mask/hrnet18s_cocolvis_itermask_3p.py`` -> ``iter_mask/hrnet18s_cocolvis_itermask_3p``;
    a script outside a ``models`` folder maps to its own stem.
    """
    parts = Path(script).resolve().with_suffix("").parts
    if "models" in parts:
        idx = len(parts) - 1 - parts[::-1].index("models")
        rel = parts[idx + 1:]
        if rel:
            return Path(*rel)
    return Path(Path(script).stem)


def find_run(parent: Path, prefix: str) -> Path:
    """The single run folder in ``parent`` whose name starts with ``prefix`` (e.g. ``003`` or ``003_try``).

    Raises:
        FileNotFoundError: no such run, or several match.
    """
    matches = sorted(p for p in Path(parent).glob(f"{prefix}*") if p.is_dir() and RUN_RE.match(p.name))
    if len(matches) != 1:
        found = ", ".join(p.name for p in sorted(Path(parent).glob("*")) if p.is_dir()) or "none"
        raise FileNotFoundError(
            f"--resume-exp {prefix!r} must match exactly one run folder in {parent}, matched {len(matches)} "
            f"(runs there: {found})")
    return matches[0]


def new_run(parent: Path, exp_name: str = "") -> Path:
    """Create the next numbered run folder ``NNN[_exp_name]`` in ``parent`` and return it."""
    parent.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in parent.iterdir() if p.is_dir() and (m := RUN_RE.match(p.name))]
    name = f"{max(numbers, default=-1) + 1:03d}" + (f"_{exp_name}" if exp_name else "")
    run = parent / name
    run.mkdir()
    return run


def init_experiment(exps_path: Path, script: Path, exp_name: str = "", resume_exp: str | None = None,
                    copy_script: bool = True) -> ExpPaths:
    """Create (or, with ``resume_exp``, find) the run folder for ``script`` and return its paths."""
    parent = Path(exps_path) / script_family(script)
    run = find_run(parent, resume_exp) if resume_exp else new_run(parent, exp_name)
    paths = ExpPaths.at(run).make()
    if copy_script:
        dst = run / Path(script).name
        if not dst.exists():
            shutil.copy2(script, dst)
    return paths
