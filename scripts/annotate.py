#!/usr/bin/env python3
"""Replay recorded clicks headlessly and write the annotation outputs.

    python scripts/annotate.py --image IMG --clicks CLICKS.json --checkpoint PATH --out DIR [--overwrite]
                               [--refiner-checkpoint PATH] [--cpu | --gpu N]

CLICKS.json is a ``<name>.json`` written by the demo (or this script), or an autosave session
(``<name>.autosave.json``). Objects are rebuilt by feeding their clicks to the model exactly as the demo did,
with the predictor settings recorded in the json, so with the same checkpoint, device type and torch build
the masks equal the recorded ones bit for bit. Objects the refiner corrected (record key ``"refiner"``) are
replayed by ``--refiner-checkpoint``; without it they are replayed by ``--checkpoint`` and a warning says so. Outputs: see docs/annotation.md. Bad input: one line
``error: ...`` on stderr, exit status 2, nothing written.
"""
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isegm.annotation.cli import replay  # noqa: E402
from isegm.errors import run_cli  # noqa: E402


def _main(argv):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for kind, path in replay(argv).items():
        print(f"{kind}: {path}")
    return 0


def main(argv=None):
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
