#!/usr/bin/env python3
"""Short from-scratch training probe: does the model learn to follow clicks at a given click-feature gain?

Trains a recipe's model from its initialiser for ``--steps`` Adam steps on its training split (never a test
set), with ``coord_feature_scale`` set to ``--gain`` (RITM's default 0.05 when omitted), and prints every 25
steps the running mean of the loss, the predicted probability on positive-click disks, on the object and on
the background, and the IoU at 0.5 of the training predictions (train mode, first-pass clicks, no IT-M).
A model that ignores clicks shows the same probability on disks and background. ``--blank-image`` replaces
the image by mid-grey so that only the clicks carry information. This is how the README's gain figures
were measured:

    python scripts/click_gain_probe.py --gain 5 --steps 100 --crop 160
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

import train  # noqa: E402
from isegm.engine.recipe import build_datasets, build_losses, build_model  # noqa: E402
from isegm.config import load_config, parse_overrides  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default=str(REPO_ROOT / "models/cocomval/hrnet18s_cocomval_itermask.py"))
    p.add_argument("--gain", type=float, default=None, help="initial click-feature gain (default: RITM's 0.05)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--crop", type=int, default=160, help="square crop side (pixels)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--amp", choices=["none", "bf16"], default="bf16")
    p.add_argument("--blank-image", action="store_true", help="feed a mid-grey image: clicks only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config-path", default=str(REPO_ROOT / "config.yml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    recipe = replace(train.load_recipe(args.recipe), crop_size=(args.crop, args.crop), coord_feature_scale=args.gain)
    cfg = load_config(args.config_path, parse_overrides(args.overrides))
    trainset, _ = build_datasets(recipe, cfg, seed=args.seed)
    model = build_model(recipe, cfg).to(memory_format=torch.channels_last).train()
    losses = build_losses(recipe)
    optim = torch.optim.Adam(model.parameters(), lr=args.lr)
    loader = torch.utils.data.DataLoader(trainset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                         num_workers=1, persistent_workers=True)
    coord = {}
    model.maps_transform.register_forward_hook(lambda mod, inp, out: coord.__setitem__("maps", inp[0]))
    rows, step, start = [], 0, time.perf_counter()
    while step < args.steps:
        for batch in loader:
            image = torch.full_like(batch["images"], 0.5) if args.blank_image else batch["images"]
            x = torch.cat([image, torch.zeros_like(image[:, :1])], 1).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.amp == "bf16"):
                out = model(x, batch["points"])
            out = {k: v.float() for k, v in out.items()}
            gt = batch["instances"]
            loss = sum(s.weight * s.loss(out[s.output], gt).mean() for s in losses if s.output in out)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            step += 1
            with torch.no_grad():
                prob = torch.sigmoid(out["instances"])
                disks = coord["maps"][:, -2:-1] > 0  # positive-click channel (after the prev mask)
                valid, obj = gt >= 0, gt > 0.5
                pred = prob > 0.5
                iou = ((pred & obj).sum((1, 2, 3)).float() / ((pred | obj) & valid).sum((1, 2, 3)).clamp(min=1)).mean()
                rows.append([loss.item(), prob[disks].mean().item(), prob[obj].mean().item(),
                             prob[valid & ~obj].mean().item(), iou.item()])
            if step % 25 == 0 or step == args.steps:
                r = np.nanmean(rows[-25:], axis=0)
                print(f"step {step:4d} {time.perf_counter() - start:5.0f}s loss {r[0]:.3f} p(click disks) {r[1]:.3f} "
                      f"p(object) {r[2]:.3f} p(background) {r[3]:.3f} IoU@0.5 {r[4]:.3f} "
                      f"gain {float(model.maps_transform[-1].scale.detach().abs()):.3f}", flush=True)
            if step >= args.steps:
                break
    return rows


if __name__ == "__main__":
    main()
