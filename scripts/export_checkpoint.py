#!/usr/bin/env python3
"""Turn a training checkpoint into a release file: model config + weights (optionally fp16) + provenance.

    python scripts/export_checkpoint.py experiments/cocomval/hrnet18s_cocomval_itermask/000_shipped/checkpoints/best_checkpoint.pth \
        weights/hrnet18s_cocomval_itermask.pth --half

The optimizer state is dropped; ``meta`` keeps the training command, recipe, epoch and validation figures,
and records the source file. Written atomically; refuses to overwrite unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from isegm.model import load_is_model, save_is_model  # noqa: E402


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="training checkpoint (RITM format)")
    p.add_argument("dest", help="release file to write")
    p.add_argument("--half", action="store_true", help="store weights as float16 (loads back as float32)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    dest = Path(args.dest)
    if dest.exists() and not args.overwrite:
        raise SystemExit(f"{dest} exists; pass --overwrite to replace it")
    raw = torch.load(args.source, map_location="cpu", weights_only=True)
    model = load_is_model(raw, eval_mode=False)
    meta = dict(raw.get("meta") or {}, exported_from=str(args.source), exported_half=bool(args.half))
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_is_model(model, dest, meta=meta, half=args.half)
    size = dest.stat().st_size / 2 ** 20
    print(f"wrote {dest} ({size:.1f} MiB, epoch {meta.get('epoch')}, stats {meta.get('stats')})")
    return dest


if __name__ == "__main__":
    main()
