"""Console entry points (``isegm-train``, ``isegm-evaluate``, ``isegm-annotate``, ``isegm-demo``, ``isegm-web``).

Each runs the checkout's own script with the same arguments, exactly as ``python3 train.py ...``
would: the recipes (``models/``), ``config.yml`` and the GUI live in the source checkout, which
the README's set-up installs in editable mode (``pip install -e .``). From an installation
without the checkout, the entry points stop with a one-line error saying so. ``isegm-web`` lives in
the package itself (:mod:`isegm.web.cli`, the same as ``python -m isegm.web``).
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
_SCRIPTS = {
    "isegm-train": "train.py",
    "isegm-evaluate": "scripts/evaluate_model.py",
    "isegm-annotate": "scripts/annotate.py",
    "isegm-demo": "demo.py",
}


def _run(command: str) -> None:
    script = _CHECKOUT / _SCRIPTS[command]
    if not script.is_file():
        print(f"error: {command} needs the isegm source checkout ({script} not found); "
              f"install it with `pip install -e <checkout>`", file=sys.stderr)
        sys.exit(2)
    sys.argv = [str(script), *sys.argv[1:]]
    if str(_CHECKOUT) not in sys.path:
        sys.path.insert(0, str(_CHECKOUT))
    runpy.run_path(str(script), run_name="__main__")


def train() -> None:
    """``isegm-train``: ``python3 train.py``."""
    _run("isegm-train")


def evaluate() -> None:
    """``isegm-evaluate``: ``python3 scripts/evaluate_model.py``."""
    _run("isegm-evaluate")


def annotate() -> None:
    """``isegm-annotate``: ``python3 scripts/annotate.py``."""
    _run("isegm-annotate")


def demo() -> None:
    """``isegm-demo``: ``python3 demo.py``."""
    _run("isegm-demo")


def web() -> None:
    """``isegm-web``: ``python -m isegm.web`` (the browser annotation server)."""
    from isegm.web.cli import main

    sys.exit(main())
